"""Tests for deepreplay.plot.confusion_matrix (ConfusionMatrix)."""

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from conftest import keras_at
from deepreplay import compute
from deepreplay.plot import compose_animations
from deepreplay.plot.confusion_matrix import ConfusionMatrix, ConfusionMatrixData, cell_text
from deepreplay.replay import Replay


@pytest.fixture
def digits(digits_cnn_recording):
    filename, group, _, _ = digits_cnn_recording
    with Replay(filename, group) as rp:
        yield rp


def test_counts_are_those_of_the_model_at_each_epoch(digits, digits_cnn_recording):
    _, _, X, y = digits_cnn_recording
    _, ax = plt.subplots()
    cm = digits.build_confusion_matrix(ax)
    d = cm.data
    assert d.counts.shape == (len(digits.epochs), 10, 10) and not d.normalize
    for i, epoch in enumerate(d.epochs):
        predicted = keras.ops.convert_to_numpy(keras_at(digits, int(epoch))(X)).argmax(axis=1)
        np.testing.assert_array_equal(d.counts[i], confusion_matrix(y, predicted, labels=range(10)))
        assert d.accuracy(i) == pytest.approx(np.mean(predicted == y))
    assert d.vmax == np.bincount(y).max()  # counts: the scale tops at the largest class, for every frame


def test_row_normalised_rows_are_shares_of_each_class(digits):
    _, ax = plt.subplots()
    cm = digits.build_confusion_matrix(ax, normalize=True)
    values = cm.data.values
    np.testing.assert_allclose(values.sum(axis=2), 1.0)
    np.testing.assert_allclose(values[-1], cm.data.counts[-1] / cm.data.counts[-1].sum(axis=1, keepdims=True))
    assert cm.data.vmax == 1.0
    cm.set_epoch(int(cm.data.epochs[-1]))
    assert ax.get_title().startswith("Confusion Matrix (row-normalised)\naccuracy ")
    assert cm.image.get_clim() == (0.0, 1.0)
    texts = [t.get_text() for t in cm.texts]
    assert all(t == "" or t.endswith("%") for t in texts)
    np.testing.assert_allclose(cm.image.get_array(), values[-1])


def test_frames_update_in_place_and_return_every_changed_artist(digits):
    _, ax = plt.subplots()
    cm = digits.build_confusion_matrix(ax)
    first = int(cm.data.epochs[0])
    cm.set_epoch(first)
    n_artists = len(ax.get_children())
    before = [t.get_text() for t in cm.texts]
    changed = cm.set_epoch(int(cm.data.epochs[-1]))
    assert len(ax.get_children()) == n_artists
    assert cm.image in changed and cm.title_artist in changed
    after = [t.get_text() for t in cm.texts]
    moved = [t for t, a, b in zip(cm.texts, before, after) if a != b]
    assert moved and all(t in changed for t in moved)
    assert cm.image.get_clim() == (0.0, cm.data.vmax)
    k = cm.data.n_classes
    for t in range(k):
        for p in range(k):
            assert cm.texts[t * k + p].get_text() == cell_text(cm.data.counts[-1, t, p], False)


def test_binary_model_gets_a_two_by_two_matrix(replay, tiny_recording):
    _, _, _, y = tiny_recording
    _, ax = plt.subplots()
    cm = replay.build_confusion_matrix(ax, class_names=["neg", "pos"])
    p = replay.predictions_at(int(replay.epochs[-1]))[:, 0]
    np.testing.assert_array_equal(cm.data.counts[-1], confusion_matrix(y.ravel(), (p > 0.5).astype(int)))
    cm.set_epoch(0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["neg", "pos"]


def test_animation_saves_one_frame_per_epoch(digits, tmp_path):
    fig, ax = plt.subplots()
    cm = digits.build_confusion_matrix(ax, normalize=True)
    path = tmp_path / "cm.gif"
    compose_animations([cm]).save(path, fps=4, dpi=40)
    assert Image.open(path).n_frames == len(digits.epochs)


def test_regression_and_bad_options_are_refused(replay, tmp_path):
    _, ax = plt.subplots()
    with pytest.raises(TypeError, match="normalize"):
        replay.build_confusion_matrix(ax, normalize="true")
    with pytest.raises(TypeError, match="class_names"):
        replay.build_confusion_matrix(ax, class_names="ab")
    with pytest.raises(ValueError, match="class_names"):
        replay.build_confusion_matrix(ax, class_names=["a", "b", "c"])
    with pytest.raises(TypeError, match="Axes"):
        replay.build_confusion_matrix("ax")
    from deepreplay.callbacks import ReplayData

    X = np.linspace(-1, 1, 20, dtype=np.float32).reshape(-1, 1)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, name="out")])
    model.compile(optimizer="sgd", loss="mse")
    filename = str(tmp_path / "reg.h5")
    ReplayData(X, 0.3 * X[:, 0] + 0.25, filename, "reg", model=model)
    with Replay(filename, "reg") as rp, pytest.raises(ValueError, match="regression"):
        rp.build_confusion_matrix(ax)


def test_data_checks_its_shape_and_is_frozen():
    with pytest.raises(ValueError, match="counts has shape"):
        ConfusionMatrixData(epochs=np.arange(2), counts=np.zeros((2, 3, 3), int), class_names=("a", "b"))
    d = ConfusionMatrixData(epochs=np.arange(1), counts=np.ones((1, 2, 2), int), class_names=("a", "b"))
    with pytest.raises(ValueError):
        d.counts[0, 0, 0] = 5
    with pytest.raises(TypeError, match="ConfusionMatrixData"):
        ConfusionMatrix(plt.subplots()[1], {"counts": 1})


def test_confusion_counts_match_scikit_learn():
    rng = np.random.default_rng(0)
    labels, predicted = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    np.testing.assert_array_equal(compute.confusion_counts(labels, predicted, 5),
                                  confusion_matrix(labels, predicted, labels=range(5)))
    predicted[:3] = -1  # non-finite outputs: in no cell
    assert compute.confusion_counts(labels, predicted, 5).sum() == 197
    np.testing.assert_array_equal(compute.row_normalized(np.array([[0, 0], [1, 3]])), [[0, 0], [0.25, 0.75]])


def test_over_12_classes_the_names_are_thinned_and_the_shares_written_without_their_percent_sign():
    """15 classes: a cell is about as wide as '10%'; the title says '%' once, every second class is named."""
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, size=(2, 15, 15))
    data = ConfusionMatrixData(epochs=np.array([0, 1]), counts=counts,
                               class_names=tuple(f"class {c}" for c in range(15)), normalize=True)
    _, ax = plt.subplots()
    cm = ConfusionMatrix(ax, data)
    cm.set_epoch(1)
    assert ax.get_title().startswith("Confusion Matrix (row-normalised, %)\naccuracy ")
    texts = [t.get_text() for t in cm.texts]
    assert any(texts) and not any(t.endswith("%") for t in texts)
    assert texts[1] == cell_text(data.values[1, 0, 1], True).rstrip("%")
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"class {c}" for c in range(0, 15, 2)]
    assert cm.image.get_array().shape == (15, 15)


@pytest.mark.parametrize("group", ["squared_hinge01", "categorical_hinge"])
def test_hinge_classifiers_count_as_keras(hinge_recordings, group):
    """Raw scores of a hinge loss: positive above 0 (one output) or the highest score, as Keras' accuracies."""
    with hinge_recordings.open(group) as (rp, X, y):
        cm = rp.build_confusion_matrix(plt.subplots()[1])
        for i, epoch in enumerate(cm.data.epochs):
            outputs = keras.ops.convert_to_numpy(keras_at(rp, int(epoch))(X))
            if y.shape[1] == 1:
                labels, predicted = y.ravel().astype(int), (outputs.ravel() > 0).astype(int)
                accuracy = keras.metrics.BinaryAccuracy(threshold=0.0)
            else:
                labels, predicted = y.argmax(axis=1), outputs.argmax(axis=1)
                accuracy = keras.metrics.CategoricalAccuracy()
            accuracy.update_state(y, outputs)
            k = cm.data.counts.shape[1]
            np.testing.assert_array_equal(cm.data.counts[i], confusion_matrix(labels, predicted, labels=range(k)))
            assert np.trace(cm.data.counts[i]) == round(float(accuracy.result()) * len(X))
