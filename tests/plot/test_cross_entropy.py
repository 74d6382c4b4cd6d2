"""CrossEntropy: sorted probabilities of the true class, their -log, the mean equal to the loss."""

import dataclasses

import keras
import numpy as np
import pytest
from matplotlib import pyplot as plt
from matplotlib.colors import to_rgba_array
from PIL import Image

from deepreplay import compute
from deepreplay.callbacks import ReplayData
from deepreplay.plot.common import class_colors
from deepreplay.plot.cross_entropy import CrossEntropy, CrossEntropyData, _term_scale
from deepreplay.replay import Replay


@pytest.fixture
def ax():
    return plt.subplots(figsize=(4, 3))[1]


def test_binary_data_sorted_with_mean_equal_to_the_loss(replay, ax, tiny_recording):
    _, _, _, y = tiny_recording
    ce = replay.build_cross_entropy(ax)
    d = ce.data
    assert isinstance(d, CrossEntropyData) and isinstance(ce, CrossEntropy)
    np.testing.assert_array_equal(d.epochs, replay.epochs)
    labels = y.ravel().astype(int)
    for i, epoch in enumerate(replay.epochs):
        p = np.asarray(replay.predictions_at(int(epoch)), dtype=np.float64)[:, 0]
        p_true = np.where(labels == 1, p, 1 - p)
        np.testing.assert_allclose(d.p_true[i], np.sort(p_true))
        assert np.all(np.diff(d.p_true[i]) >= 0)
        np.testing.assert_allclose(d.p_true[i], p_true[d.order[i]])
        np.testing.assert_array_equal(d.classes[i], labels[d.order[i]])
        np.testing.assert_allclose(d.terms[i], -np.log(np.clip(d.p_true[i], 1e-7, 1 - 1e-7)))
        # The mean of the -log(p) bars is the binary cross-entropy Keras computed for these samples.
        np.testing.assert_allclose(d.mean[i], np.mean(replay.losses_at(int(epoch))), rtol=1e-5)
        np.testing.assert_allclose(d.mean[i], replay.training_loss[i], rtol=1e-5)  # no regularisation here
        assert d.loss[i] == pytest.approx(d.mean[i], rel=1e-5)
    assert d.is_cross_entropy and d.loss_name == "binary_crossentropy"
    assert d.class_names == ("negative", "positive") and d.n_classes == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.mean = None
    with pytest.raises(ValueError, match="read-only"):
        d.terms[0, 0] = 0.0


@pytest.fixture(scope="module")
def softmax_recordings(tmp_path_factory):
    """Initial states: a 3-class softmax model, a 2-unit softmax (binary) model, a sigmoid model on MSE."""
    filename = str(tmp_path_factory.mktemp("ce") / "ce.h5")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2)).astype(np.float32)
    three = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
        3, activation="softmax", name="output", kernel_initializer=keras.initializers.RandomNormal(stddev=2, seed=1))])
    three.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ReplayData(X, np.arange(40) % 3, filename, "three", model=three)
    two = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax", name="output")])
    two.compile(optimizer="sgd", loss="categorical_crossentropy")
    ReplayData(X, np.eye(2, dtype=np.float32)[np.arange(40) % 2], filename, "two", model=two)
    mse = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid", name="output")])
    mse.compile(optimizer="sgd", loss="mse")
    ReplayData(X, (np.arange(40) % 2).astype(np.float32), filename, "mse", model=mse)
    regression = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="output")])
    regression.compile(optimizer="sgd", loss="mae")
    ReplayData(X, X[:, :1] * 3, filename, "regression", model=regression)
    ReplayData(X, np.arange(40) % 3, filename, "no_predictions", model=three, record=("losses",))
    return filename


@pytest.mark.parametrize("group, n_classes", [("three", 3), ("two", 2)])
def test_softmax_models(softmax_recordings, ax, group, n_classes):
    with Replay(softmax_recordings, group) as replay:
        ce = replay.build_cross_entropy(ax)
        d = ce.data
        labels = compute.class_labels(replay.targets)
        p = np.asarray(replay.predictions_at(0), dtype=np.float64)
        p_true = p[np.arange(len(labels)), labels]
        np.testing.assert_allclose(d.p_true[0], np.sort(p_true), rtol=1e-6)
        assert d.n_classes == n_classes
        assert d.mean[0] == pytest.approx(np.mean(replay.losses_at(0)), rel=1e-5)
        assert d.mean[0] == pytest.approx(replay.training_loss[0], rel=1e-5)


def test_a_loss_that_is_not_a_cross_entropy_is_said_so(softmax_recordings, ax):
    with Replay(softmax_recordings, "mse") as replay:
        ce = replay.build_cross_entropy(ax)
        ce.set_epoch(0)
    assert not ce.data.is_cross_entropy
    assert "loss (mse) =" in ce.note.get_text() and "(not a cross-entropy)" in ce.note.get_text()
    assert ce.data.loss[0] != pytest.approx(ce.data.mean[0])


def test_drawing_updates_in_place(replay, ax):
    fig = ax.figure
    ce = replay.build_cross_entropy(ax)
    d = ce.data
    epochs = [int(e) for e in replay.epochs]
    ce.set_epoch(epochs[0])
    children = ax.get_children()
    limits = (ax.get_xlim(), ax.get_ylim())
    rgba = to_rgba_array(class_colors(2))
    for epoch in epochs[::-1] + epochs:
        changed = ce.set_epoch(epoch)
        i = d.index(epoch)
        assert changed == [ce.p_bars, ce.term_bars, ce.mean_line, ce.note]
        assert ax.get_children() == children and fig.axes == [ax]
        assert (ax.get_xlim(), ax.get_ylim()) == limits
        tops = np.array([path.vertices[1, 1] for path in ce.p_bars.get_paths()])
        np.testing.assert_allclose(tops, d.p_true[i], rtol=1e-6)
        bottoms = np.array([path.vertices[1, 1] for path in ce.term_bars.get_paths()])
        np.testing.assert_allclose(bottoms, -d.terms[i] / d.term_max, rtol=1e-6)
        np.testing.assert_allclose(ce.p_bars.get_facecolor(), rgba[d.classes[i]])
        assert ce.mean_line.get_ydata()[0] == pytest.approx(-d.mean[i] / d.term_max)
        assert ce.note.get_text().startswith(f"mean -log(p) = {d.mean[i]:.4f}\nloss (binary_crossentropy) = ")
    assert limits == ((0.0, d.n_samples), (-1.1, 1.1))
    assert ax.get_title() == "Cross-Entropy, sample by sample"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["negative", "positive", "mean -log(p)"]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-4:] == ["0.25", "0.5", "0.75", "1"] and "0" in labels


def test_a_few_extreme_bars_are_cut_and_counted():
    # The largest per-epoch 98th percentile: two extreme bars of 100 do not set the scale.
    terms = np.array([[0.1] * 98 + [9.0, 12.0], [0.9] * 90 + [2.0] * 10])
    assert _term_scale(terms) == pytest.approx(2.0)
    assert _term_scale(terms[:1]) == pytest.approx(np.log(2))  # at least log 2
    assert _term_scale(np.full((2, 5), 0.1)) == pytest.approx(np.log(2))
    assert _term_scale(np.array([[0.1, 3.0]])) == pytest.approx(np.percentile([0.1, 3.0], 98))


def test_cut_bars_end_at_the_bottom_and_are_counted_in_the_note(ax):
    p = np.array([[1e-6] + [0.9] * 99])
    terms = compute.cross_entropy_terms(p)
    scale = _term_scale(terms)
    clipped = np.count_nonzero(terms > scale, axis=1)
    data = CrossEntropyData(epochs=np.array([0]), p_true=p, terms=terms, classes=np.zeros((1, 100), dtype=int),
                            order=np.arange(100)[None], mean=terms.mean(axis=1), loss=terms.mean(axis=1),
                            loss_name="binary_crossentropy", is_cross_entropy=True, n_classes=2,
                            class_names=("negative", "positive"), term_max=scale, clipped=clipped)
    ce = CrossEntropy(ax, data)
    ce.set_epoch(0)
    assert list(data.clipped) == [1]
    assert "1 bar(s) cut at -log(p) =" in ce.note.get_text()
    deepest = ce.term_bars.get_paths()[0].vertices[1, 1]
    assert deepest == pytest.approx(ax.get_ylim()[0])


def test_animation_one_frame_per_epoch(replay, tmp_path):
    _fig, ax = plt.subplots(figsize=(3, 2.5))
    ce = replay.build_cross_entropy(ax, epoch_start=1, epoch_end=3)
    path = tmp_path / "ce.gif"
    ce.animate().save(path, fps=5, dpi=30)
    with Image.open(path) as gif:
        assert gif.n_frames == 3


def test_regression_and_missing_predictions_are_refused(softmax_recordings, ax):
    with (Replay(softmax_recordings, "regression") as replay,
          pytest.raises(ValueError, match=r"the cross-entropy view shows the predicted probabilities.*regression.*"
                                          r"build_loss_histogram")):
        replay.build_cross_entropy(ax)
    with (Replay(softmax_recordings, "no_predictions") as replay,
          pytest.raises(ValueError, match=r"predictions were not recorded.*record=")):
        replay.build_cross_entropy(ax)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"title": 3}, TypeError, "title=3 must be a string"),
    ({"class_names": ["a"]}, ValueError, r"class_names=\['a'\] has 1 names for 2 classes"),
    ({"epoch_start": 3, "epoch_end": 1}, ValueError, "epoch_start=3 is after epoch_end=1"),
])
def test_bad_options(replay, ax, kwargs, error, match):
    with pytest.raises(error, match=match):
        replay.build_cross_entropy(ax, **kwargs)


def test_not_an_axes(replay):
    with pytest.raises(TypeError, match="Matplotlib Axes"):
        replay.build_cross_entropy("ax")


def test_hinge_scores_are_refused_with_the_visuals_that_show_them(hinge_recordings, ax):
    with (hinge_recordings.open("hinge") as (replay, _, _),
          pytest.raises(ValueError, match=r"needs class probabilities.*hinge loss \('hinge'\).*raw scores.*"
                                          r"build_probability_histogram.*build_loss_histogram")):
        replay.build_cross_entropy(ax)
