"""ProbabilityHistogram: counts against NumPy, the correct/misclassified split, drawing rules, errors."""

import keras
import numpy as np
import pytest
from matplotlib import pyplot as plt
from matplotlib.colors import to_rgba_array
from matplotlib.lines import Line2D

from deepreplay.callbacks import ReplayData
from deepreplay.plot.common import CLASS_COLORS, MISCLASSIFIED_COLOR, class_colors
from deepreplay.plot.probability_histogram import (
    MulticlassProbabilityHistogram,
    ProbabilityHistogram,
    binary_labels,
)
from deepreplay.replay import Replay


@pytest.fixture
def axes():
    _fig, (ax_neg, ax_pos) = plt.subplots(1, 2, figsize=(6, 2.5))
    return ax_neg, ax_pos


def expected_counts(p, labels, c, threshold, bins):
    """(correct, misclassified) counts of class ``c``, straight from np.histogram."""
    member = labels == c
    wrong = (p > threshold) != bool(c)
    correct = np.histogram(p[member & ~wrong], bins=bins, range=(0, 1))[0]
    misclassified = np.histogram(p[member & wrong], bins=bins, range=(0, 1))[0]
    return correct, misclassified


def bar_heights(container):
    return np.array([rect.get_height() for rect in container])


def bar_bottoms(container):
    return np.array([rect.get_y() for rect in container])


@pytest.mark.parametrize("threshold", [0.5, 0.47])
def test_counts_match_numpy_histogram_at_every_epoch(replay, axes, threshold):
    ph = replay.build_probability_histogram(*axes, threshold=threshold)
    labels = np.asarray(replay.targets).ravel().astype(int)
    for i, epoch in enumerate(replay.epochs):
        p = np.asarray(replay.predictions_at(int(epoch)), dtype=np.float64)[:, 0]
        for c in (0, 1):
            correct, misclassified = expected_counts(p, labels, c, threshold, 20)
            np.testing.assert_array_equal(ph.data.correct[i, c], correct)
            np.testing.assert_array_equal(ph.data.misclassified[i, c], misclassified)
            np.testing.assert_array_equal(
                ph.data.totals[i, c], np.histogram(p[labels == c], bins=20, range=(0, 1))[0])


def test_bars_show_the_split_and_sum_to_the_class_sizes(replay, axes):
    ph = replay.build_probability_histogram(*axes)
    labels = np.asarray(replay.targets).ravel().astype(int)
    sizes = [int(np.sum(labels == 0)), int(np.sum(labels == 1))]
    assert list(ph.data.class_sizes) == sizes
    for epoch in replay.epochs:
        ph.set_epoch(int(epoch))
        p = np.asarray(replay.predictions_at(int(epoch)), dtype=np.float64)[:, 0]
        for c in (0, 1):
            correct, misclassified = expected_counts(p, labels, c, 0.5, 20)
            np.testing.assert_array_equal(bar_heights(ph.correct_bars[c]), correct)
            np.testing.assert_array_equal(bar_heights(ph.misclassified_bars[c]), misclassified)
            # Misclassified bars are stacked on the correct ones.
            np.testing.assert_array_equal(bar_bottoms(ph.misclassified_bars[c]), correct)
            total = bar_heights(ph.correct_bars[c]).sum() + bar_heights(ph.misclassified_bars[c]).sum()
            assert total == sizes[c]
            # Every sample counted once, misclassified ones as Keras' binary accuracy counts them.
            assert ph.notes[c].get_text() == f"misclassified: {misclassified.sum()} of {sizes[c]}"
    accuracy = replay.get_training_metric("accuracy")
    wrong = ph.data.misclassified.sum(axis=(1, 2))
    np.testing.assert_allclose(1 - wrong / len(labels), accuracy, atol=1e-6)


def test_colours_titles_labels_limits_and_threshold_line(replay, axes):
    ph = replay.build_probability_histogram(*axes, bins=10, threshold=0.4)
    ph.set_epoch(0)
    ax_neg, ax_pos = axes
    assert ax_neg.get_title() == "Negative Cases" and ax_pos.get_title() == "Positive Cases"
    for c, ax in enumerate(axes):
        assert ax.get_xlabel() == "Probability"
        assert ax.get_xlim() == (0.0, 1.0)
        assert len(ph.correct_bars[c]) == len(ph.misclassified_bars[c]) == 10
        assert ph.correct_bars[c][0].get_facecolor() == pytest.approx(
            plt.matplotlib.colors.to_rgba(CLASS_COLORS[c]))
        assert ph.misclassified_bars[c][0].get_facecolor() == pytest.approx(
            plt.matplotlib.colors.to_rgba(MISCLASSIFIED_COLOR))
        dashed = [line for line in ax.get_lines()
                  if isinstance(line, Line2D) and line.get_linestyle() == "--"]
        assert len(dashed) == 1 and list(dashed[0].get_xdata()) == [0.4, 0.4]
    # One fixed count scale, above the tallest bar of any epoch, set before animating.
    tallest = ph.data.totals.max()
    ylims = [ax.get_ylim() for ax in axes]
    assert ylims[0] == ylims[1] and ylims[0][0] == 0 and ylims[0][1] >= tallest
    for epoch in replay.epochs:
        ph.set_epoch(int(epoch))
        assert [ax.get_ylim() for ax in axes] == ylims


def test_title_prefix_or_pair(replay, axes):
    ph = replay.build_probability_histogram(*axes, title="Sigmoid")
    ph.set_epoch(0)
    assert axes[0].get_title() == "Sigmoid - Negative Cases"
    plt.close("all")
    _fig, pair = plt.subplots(1, 2)
    ph = replay.build_probability_histogram(*pair, title=("y = 0", "y = 1"))
    ph.set_epoch(0)
    assert [ax.get_title() for ax in pair] == ["y = 0", "y = 1"]
    with pytest.raises(TypeError, match="title"):
        replay.build_probability_histogram(*pair, title=3)


def test_updates_never_add_artists_and_return_every_changed_one(replay, axes):
    ph = replay.build_probability_histogram(*axes, bins=7)
    changed = ph.set_epoch(0)
    counts = [len(ax.get_children()) for ax in axes]
    for epoch in list(replay.epochs) + [0]:
        changed = ph.set_epoch(int(epoch))
        assert [len(ax.get_children()) for ax in axes] == counts
    bars = [rect for c in (0, 1) for rect in (*ph.correct_bars[c], *ph.misclassified_bars[c])]
    assert len(changed) == len(bars) + 2
    assert {id(a) for a in bars + ph.notes} == {id(a) for a in changed}
    children = {id(child) for ax in axes for child in ax.get_children()}
    assert all(id(a) in children for a in changed)


def test_epoch_range(replay, axes):
    ph = replay.build_probability_histogram(*axes, epoch_start=1, epoch_end=3)
    assert list(ph.epochs) == [1, 2, 3]
    assert ph.data.correct.shape[0] == 3
    with pytest.raises(ValueError, match="epoch=0 is not available"):
        ph.set_epoch(0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"bins": 0}, ValueError, "bins=0 must be at least 1"),
    ({"bins": 2.5}, TypeError, "bins=2.5 must be an integer"),
    ({"threshold": 1.0}, ValueError, "threshold=1.0 must be strictly between 0 and 1"),
    ({"threshold": "0.5"}, TypeError, "threshold"),
    ({"epoch_start": 100}, ValueError, r"epoch_start=100.*recorded epochs: 0\.\.4"),
    ({"epoch_start": 5, "epoch_end": 9}, ValueError, "no recorded epoch between epoch_start=5 and epoch_end=9"),
    ({"epoch_start": 3, "epoch_end": 1}, ValueError, "epoch_start=3 is after epoch_end=1"),
])
def test_bad_options(replay, axes, kwargs, error, match):
    with pytest.raises(error, match=match):
        replay.build_probability_histogram(*axes, **kwargs)


def test_axes_must_be_two_axes_of_one_figure(replay, axes):
    with pytest.raises(ValueError, match="same axes"):
        replay.build_probability_histogram(axes[0], axes[0])
    _, other = plt.subplots()
    with pytest.raises(ValueError, match="different figures"):
        replay.build_probability_histogram(axes[0], other)
    with pytest.raises(TypeError, match="Axes"):
        replay.build_probability_histogram(axes[0], "not axes")


# -- recordings that are not binary classifications --------------------------------------------

def _record_initial_state(filename, group_name, model, X, y):
    """Record a compiled model's initial state (epoch 0) without training."""
    ReplayData(X, y, filename, group_name, model=model, record=("predictions", "losses"))


@pytest.fixture(scope="module")
def other_recordings(tmp_path_factory):
    """A 3-class softmax model, a regression model, a model whose outputs are partly NaN, logit outputs."""
    filename = str(tmp_path_factory.mktemp("other") / "other.h5")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2)).astype(np.float32)

    softmax = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax", name="output")])
    softmax.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    softmax.get_layer("output").set_weights([rng.normal(size=(2, 3)).astype(np.float32) * 3,
                                             np.zeros(3, np.float32)])
    _record_initial_state(filename, "softmax3", softmax, X, np.arange(30) % 3)

    regression = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="output")])
    regression.compile(optimizer="sgd", loss="mse")
    _record_initial_state(filename, "regression", regression, X, (X[:, :1] * 2.5).astype(np.float32))

    nan_model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
        1, activation="sigmoid", kernel_initializer="ones", name="output")])
    nan_model.compile(optimizer="sgd", loss="binary_crossentropy")
    X_nan = X.copy()
    X_nan[:3] = [np.inf, -np.inf]  # inf - inf: NaN outputs for 3 samples
    y_nan = (np.arange(30) % 2).astype(np.float32).reshape(-1, 1)  # samples 0, 2 negative; 1 positive
    _record_initial_state(filename, "nan_outputs", nan_model, X_nan, y_nan)

    logits = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="ones", name="output")])
    logits.compile(optimizer="sgd", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    _record_initial_state(filename, "logits", logits, X * 10, y_nan)
    ReplayData(X, y_nan, filename, "losses_only", model=nan_model, record=("losses",))

    # Linear outputs, 0/1 targets, a loss without from_logits: the outputs are not probabilities.
    linear = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="ones", name="output")])
    linear.compile(optimizer="sgd", loss="mse")
    _record_initial_state(filename, "linear_mse", linear, X * 10, y_nan)
    return filename


def test_multiclass_recording_gets_own_class_and_other_classes(other_recordings):
    _fig, axes = plt.subplots(1, 2)
    with Replay(other_recordings, "softmax3") as replay:
        ph = replay.build_probability_histogram(axes[0], axes[1], bins=10)
        assert isinstance(ph, MulticlassProbabilityHistogram)
        labels = np.arange(30) % 3
        p = np.asarray(replay.predictions_at(0), dtype=np.float64)
        predicted = p.argmax(axis=1)
        edges = np.linspace(0, 1, 11)
        d = ph.data
        for c in range(3):
            member, called = labels == c, predicted == c
            np.testing.assert_array_equal(d.own[0, c], np.histogram(p[member & called, c], bins=edges)[0])
            np.testing.assert_array_equal(d.own_misclassified[0, c],
                                          np.histogram(p[member & ~called, c], bins=edges)[0])
            np.testing.assert_array_equal(d.other[0, c], np.histogram(p[~member & ~called, c], bins=edges)[0])
            np.testing.assert_array_equal(d.other_misclassified[0, c],
                                          np.histogram(p[~member & called, c], bins=edges)[0])
        # Misclassified = 1 - accuracy, as Keras counts it.
        accuracy = replay.get_training_metric("accuracy")[0]
        assert d.misclassified[0] == round((1 - accuracy) * 30) == np.sum(predicted != labels)
        changed = ph.set_epoch(0)
    # Drawn: classes stacked in their colours, misclassified red on top, one fixed scale per axes.
    assert [ax.get_title() for ax in axes] == ["Own class", "Other classes"]
    colours = to_rgba_array(class_colors(3))
    for j, side in enumerate(("own", "other")):
        per_class, wrong = d.stacks(side)
        bottom = np.zeros(10)
        for c in range(3):
            bars = ph.class_bars[j][c]
            assert bars[0].get_facecolor() == pytest.approx(tuple(colours[c]))
            np.testing.assert_array_equal(bar_heights(bars), per_class[0, c])
            np.testing.assert_array_equal(bar_bottoms(bars), bottom)
            bottom = bottom + per_class[0, c]
        np.testing.assert_array_equal(bar_heights(ph.misclassified_bars[j]), wrong[0])
        np.testing.assert_array_equal(bar_bottoms(ph.misclassified_bars[j]), bottom)
        assert ph.misclassified_bars[j][0].get_facecolor() == pytest.approx(
            plt.matplotlib.colors.to_rgba(MISCLASSIFIED_COLOR))
        assert axes[j].get_ylim()[1] >= d.max_count(side)
    assert ph.note.get_text() == f"misclassified: {d.misclassified[0]} of 30"
    children = {id(child) for ax in axes for child in ax.get_children()}
    assert all(id(a) in children for a in changed)
    assert len(changed) == 2 * (3 + 1) * 10 + 1
    legend = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert legend == ["class 0", "class 1", "class 2", "misclassified"]


def test_multiclass_takes_no_threshold_and_names_classes(other_recordings):
    _fig, axes = plt.subplots(1, 2)
    with Replay(other_recordings, "softmax3") as replay:
        with pytest.raises(ValueError, match=r"threshold=0.3 applies to binary models; this one has 3 classes"):
            replay.build_probability_histogram(*axes, threshold=0.3)
        ph = replay.build_probability_histogram(*axes, class_names=("a", "b", "c"))
        assert ph.data.class_names == ("a", "b", "c")


def test_regression_is_refused_with_the_alternatives(other_recordings):
    _fig, axes = plt.subplots(1, 2)
    with (Replay(other_recordings, "regression") as replay,
          pytest.raises(ValueError, match=r"predicted probabilities of a classifier's classes, but this model is a "
                                          r"regression \(1 output\).*not class labels.*build_loss_histogram.*"
                                          r"build_loss_and_metric.*build_feature_space")):
        replay.build_probability_histogram(*axes)


@pytest.mark.parametrize("targets, match", [
    (np.eye(3)[[0, 1, 2, 1]], "one-hot targets of 3 classes"),
    (np.array([0.0, 1.0, 2.0]), r"other values \(2\)"),
    (np.array([[1, 1], [0, 1]]), "not one-hot"),
])
def test_binary_labels_errors(targets, match):
    with pytest.raises(ValueError, match=match):
        binary_labels(targets)


def test_binary_labels_accepts_one_column_and_two_column_one_hot():
    np.testing.assert_array_equal(binary_labels(np.array([[0.0], [1.0], [1.0]])), [0, 1, 1])
    np.testing.assert_array_equal(binary_labels(np.array([[1, 0], [0, 1]])), [0, 1])


def test_non_finite_probabilities_are_left_out_and_counted(other_recordings):
    _fig, axes = plt.subplots(1, 2)
    with Replay(other_recordings, "nan_outputs") as replay:
        p = np.asarray(replay.predictions_at(0))[:, 0]
        assert np.isnan(p[:3]).all() and np.isfinite(p[3:]).all()
        ph = ProbabilityHistogram.from_replay(replay, *axes)
        ph.set_epoch(0)
    assert list(ph.data.left_out[0]) == [2, 1]
    assert list(ph.data.totals[0].sum(axis=1)) == [15 - 2, 15 - 1]
    assert "2 not finite (left out)" in ph.notes[0].get_text()
    assert "1 not finite (left out)" in ph.notes[1].get_text()


def test_logits_are_turned_into_probabilities(other_recordings):
    """A loss compiled with from_logits=True: the outputs are logits, the histogram shows sigmoid(logit)."""
    _fig, axes = plt.subplots(1, 2)
    with Replay(other_recordings, "logits") as replay:
        logits = np.asarray(replay.predictions_at(0), dtype=np.float64)[:, 0]
        assert logits.min() < 0 or logits.max() > 1
        ph = replay.build_probability_histogram(*axes, bins=10)
        p = 1 / (1 + np.exp(-logits))
        labels = np.arange(30) % 2
        for c in (0, 1):
            np.testing.assert_array_equal(ph.data.totals[0, c],
                                          np.histogram(p[labels == c], bins=10, range=(0, 1))[0])


def test_outputs_that_are_not_probabilities_are_refused(other_recordings):
    _fig, axes = plt.subplots(1, 2)
    with (Replay(other_recordings, "linear_mse") as replay,
          pytest.raises(ValueError, match=r"not probabilities \(they range from -\d.*sigmoid or softmax.*"
                                          r"from_logits=True")):
        replay.build_probability_histogram(*axes)


def test_recording_without_predictions_is_refused(other_recordings):
    _fig, axes = plt.subplots(1, 2)
    with (Replay(other_recordings, "losses_only") as replay,
          pytest.raises(ValueError, match=r"predictions were not recorded.*record=")):
        replay.build_probability_histogram(*axes)


# -- hinge losses: raw scores, threshold 0 -------------------------------------------------------

@pytest.mark.parametrize("group", ["hinge", "squared_hinge01"])
def test_hinge_binary_shows_raw_scores_with_threshold_0_and_counts_as_keras(hinge_recordings, group):
    """Targets -1/1 (or 0/1) with a hinge loss: class = target > 0, positive above 0, as BinaryAccuracy(0)."""
    _fig, axes = plt.subplots(1, 2)
    with hinge_recordings.open(group) as (replay, X, y):
        positive = (y.ravel() > 0)
        ph = replay.build_probability_histogram(*axes, bins=10)
        d = ph.data
        assert d.threshold == 0.0 and d.edges[0] == -d.edges[-1] and d.edges[-1] >= 1.0
        for i, epoch in enumerate(replay.epochs):
            outputs = keras.ops.convert_to_numpy(replay.model_at(int(epoch))(X))
            accuracy = keras.metrics.BinaryAccuracy(threshold=0.0)
            accuracy.update_state(positive.astype(np.float32)[:, None], outputs)
            assert d.misclassified[i].sum() == round((1 - float(accuracy.result())) * len(X))
            s = np.asarray(replay.predictions_at(int(epoch)), dtype=np.float64)[:, 0]
            for c, member in enumerate((~positive, positive)):
                np.testing.assert_array_equal(d.totals[i, c], np.histogram(s[member], bins=d.edges)[0])
                wrong = member & ((s > 0) != bool(c))
                np.testing.assert_array_equal(d.misclassified[i, c], np.histogram(s[wrong], bins=d.edges)[0])
        ph.set_epoch(int(replay.epochs[-1]))
        custom = replay.build_probability_histogram(*plt.subplots(1, 2)[1], threshold=-0.25)
        assert custom.data.threshold == -0.25
    assert [ax.get_xlabel() for ax in axes] == ["Output (raw score of a hinge loss; threshold 0)"] * 2
    assert axes[0].get_xlim() == (d.edges[0], d.edges[-1])
    lines = [line for line in axes[0].get_lines() if line.get_linestyle() == "--"]
    assert [line.get_xdata()[0] for line in lines] == [0.0]


def test_categorical_hinge_is_multiclass_on_raw_scores(hinge_recordings):
    _fig, axes = plt.subplots(1, 2)
    with hinge_recordings.open("categorical_hinge") as (replay, X, Y):
        ph = replay.build_probability_histogram(*axes, bins=10)
        assert isinstance(ph, MulticlassProbabilityHistogram)
        d = ph.data
        for i, epoch in enumerate(replay.epochs):
            outputs = keras.ops.convert_to_numpy(replay.model_at(int(epoch))(X))
            accuracy = keras.metrics.CategoricalAccuracy()
            accuracy.update_state(Y, outputs)
            assert d.misclassified[i] == round((1 - float(accuracy.result())) * len(X))
            s = np.asarray(replay.predictions_at(int(epoch)), dtype=np.float64)
            assert d.edges[0] <= min(s.min(), -1) and d.edges[-1] >= max(s.max(), 1)
            own = s[np.arange(len(X)), Y.argmax(axis=1)]
            np.testing.assert_array_equal(d.own[i].sum(axis=0) + d.own_misclassified[i].sum(axis=0),
                                          np.histogram(own, bins=d.edges)[0])
        ph.set_epoch(0)
    assert [ax.get_xlabel() for ax in axes] == ["Score of the sample's class (raw output)",
                                                "Score of a class it is not in (raw output)"]
