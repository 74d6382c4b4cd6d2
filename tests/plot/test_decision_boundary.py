"""Tests for deepreplay.plot.decision_boundary (DecisionBoundary)."""

import dataclasses

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba, to_rgba_array
from PIL import Image

from conftest import cell_centres, keras_at
from deepreplay import compute
from deepreplay.callbacks import ReplayData
from deepreplay.plot.common import CLASS_COLORS, class_colors
from deepreplay.plot.decision_boundary import DecisionBoundary, DecisionBoundaryData
from deepreplay.replay import Replay

FAST = dict(contour_points=40)


# -- helpers ----------------------------------------------------------------------------------------
# -- data --------------------------------------------------------------------------------------------------
def test_probabilities_match_keras(replay):
    _, ax = plt.subplots()
    db = replay.build_decision_boundary(ax, xlim=(-1.2, 1.2), ylim=(-0.7, 1.1), **FAST)
    d = db.data
    assert isinstance(d, DecisionBoundaryData)
    np.testing.assert_array_equal(d.epochs, replay.epochs)
    assert d.probabilities.shape == (len(d.epochs), 40, 40)
    grid = cell_centres((-1.2, 1.2), (-0.7, 1.1), 40)
    for i, epoch in enumerate(d.epochs):
        model = keras_at(replay, int(epoch))
        expected = keras.ops.convert_to_numpy(model(grid)).reshape(40, 40)
        np.testing.assert_allclose(d.probabilities[i], expected, atol=1e-5)
    # the recorded predictions agree with the regions' model on the recorded points
    last = keras_at(replay, int(d.epochs[-1]))
    np.testing.assert_allclose(replay.predictions_at(int(d.epochs[-1])),
                               keras.ops.convert_to_numpy(last(replay.inputs)), atol=1e-5)


def test_points_limits_and_grid(replay, tiny_recording):
    _, _, X, y = tiny_recording
    _, ax = plt.subplots()
    db = replay.build_decision_boundary(ax, n_grid_lines=6, **FAST)
    d = db.data
    np.testing.assert_array_equal(d.points, X)
    np.testing.assert_array_equal(d.classes, y.ravel().astype(int))
    (x0, x1), (y0, y1) = compute.padded_limits([X], pad=0.1)
    np.testing.assert_allclose(d.xlim, (x0, x1))
    np.testing.assert_allclose(d.ylim, (y0, y1))
    assert np.all((X[:, 0] > x0) & (X[:, 0] < x1) & (X[:, 1] > y0) & (X[:, 1] < y1))
    np.testing.assert_allclose(d.grid_lines, compute.grid_lines((x0, x1), (y0, y1), n_lines=6))
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.xlim = (0, 1)
    with pytest.raises(ValueError, match="read-only"):
        d.probabilities[0, 0, 0] = 0.0


def test_given_limits_and_no_grid(replay):
    _, ax = plt.subplots()
    db = replay.build_decision_boundary(ax, xlim=(-2, 2), ylim=None, display_grid=False, **FAST)
    assert db.data.grid_lines is None
    assert tuple(db.data.xlim) == (-2.0, 2.0)
    db.plot(0)
    assert ax.get_xlim() == (-2.0, 2.0)
    assert db.grid is None and len(ax.collections) == 1


# -- drawing ------------------------------------------------------------------------------------------------
def test_updates_change_only_the_regions(replay):
    fig, ax = plt.subplots()
    db = replay.build_decision_boundary(ax, **FAST)
    epochs = [int(e) for e in replay.epochs]
    db.set_epoch(epochs[0])
    children = ax.get_children()
    limits = (ax.get_xlim(), ax.get_ylim())
    offsets = db.points.get_offsets().copy()
    expected_colours = np.array([to_rgba(CLASS_COLORS[c]) for c in db.data.classes])
    for epoch in epochs[::-1] + epochs:
        changed = db.set_epoch(epoch)
        assert changed == [db.regions]
        assert ax.get_children() == children
        assert fig.axes == [ax]
        assert (ax.get_xlim(), ax.get_ylim()) == limits
        np.testing.assert_array_equal(db.regions.get_array(), db.data.probabilities[db.data.index(epoch)])
    np.testing.assert_array_equal(db.points.get_offsets(), offsets)
    np.testing.assert_allclose(db.points.get_facecolors(), expected_colours)
    assert len(ax.images) == 1 and len(ax.collections) == 2
    assert db.regions.get_extent() == [*ax.get_xlim(), *ax.get_ylim()]


def test_plot_labels_title_legend(replay):
    fig, ax = plt.subplots()
    db = replay.build_decision_boundary(ax, **FAST)
    assert db.plot(2) is fig
    assert ax.get_title() == "Decision Boundary"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["negative", "positive"]
    assert db.regions.get_clim() == (0.0, 1.0)


def test_animate_one_frame_per_epoch(replay, tmp_path):
    fig, ax = plt.subplots(figsize=(2.5, 2.5))
    db = replay.build_decision_boundary(ax, epoch_end=2, **FAST)
    path = tmp_path / "db.gif"
    db.animate().save(path, fps=5, dpi=30)
    with Image.open(path) as gif:
        assert gif.n_frames == 3


def test_default_resolution(replay):
    _, ax = plt.subplots()
    db = replay.build_decision_boundary(ax, epoch_start=4)
    assert db.data.probabilities.shape == (1, 200, 200)
    assert db.data.grid_lines.shape == (22, 101, 2)


# -- errors -----------------------------------------------------------------------------------------------------
def record_initial(tmp_path, layers, X, y, *, loss="binary_crossentropy", name="run"):
    """Record a model's initial state (no training): a fast recording with one record."""
    model = keras.Sequential([keras.Input(X.shape[1:]), *layers])
    model.compile(optimizer="sgd", loss=loss)
    filename = str(tmp_path / f"{name}.h5")
    ReplayData(X, y, filename, name, model=model)
    return filename, name


def test_multiclass_predicted_classes_are_the_model_argmax(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(45, 2)).astype(np.float32)
    labels = np.arange(45) % 3
    filename, group = record_initial(tmp_path, [
        keras.layers.Dense(8, activation="tanh", name="hidden",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=3)),
        keras.layers.Dense(3, activation="softmax", name="output",
                           kernel_initializer=keras.initializers.RandomNormal(stddev=2.0, seed=4))],
        X, np.eye(3, dtype=np.float32)[labels], loss="categorical_crossentropy")
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        db = rp.build_decision_boundary(ax, xlim=(-2, 2), ylim=(-1.5, 1.5), **FAST)
        d = db.data
        assert (d.task, d.n_classes, d.is_slice) == ("multiclass", 3, False)
        expected = keras.ops.convert_to_numpy(keras_at(rp, 0)(cell_centres((-2, 2), (-1.5, 1.5), 40)))
        np.testing.assert_allclose(d.probabilities[0].reshape(-1, 3), expected, atol=1e-5)
        np.testing.assert_array_equal(d.predicted[0].ravel(), expected.argmax(axis=1))
        assert len(np.unique(d.predicted[0])) == 3  # every class has a region here
        np.testing.assert_array_equal(d.classes, labels)
        db.plot(0)
        np.testing.assert_array_equal(db.regions.get_array(), d.region_rgba[0])
        np.testing.assert_allclose(db.points.get_facecolors(), to_rgba_array(class_colors(3))[labels])
        # Where the model is sure, the region has its class colour (alpha aside).
        sure = d.probabilities[0].max(axis=-1) > 0.999
        if sure.any():
            cells = d.region_rgba[0][sure][:, :3] / 255
            np.testing.assert_allclose(cells, to_rgba_array(class_colors(3))[d.predicted[0][sure]][:, :3],
                                       atol=0.01)


def test_more_than_two_inputs_give_a_labelled_pca_slice(tmp_path):
    from sklearn.decomposition import PCA

    from deepreplay.datasets import parabola

    X, y = parabola.load_data(n_points=20)
    X = np.column_stack([X, X[:, 0] * X[:, 1], X[:, 0] ** 2]).astype(np.float32)
    filename, group = record_initial(tmp_path, [keras.layers.Dense(5, activation="tanh", name="hidden"),
                                                keras.layers.Dense(1, activation="sigmoid", name="output")], X, y)
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        db = rp.build_decision_boundary(ax, **FAST)
        d = db.data
        assert d.is_slice and not d.projection.exact
        reference = PCA(n_components=2).fit(X.astype(np.float64))
        signs = np.sign(np.sum(d.projection.components * reference.components_, axis=1))
        np.testing.assert_allclose(d.points, reference.transform(X) * signs, atol=1e-5)
        # The regions are the model's outputs on the grid of the plane, mapped back to the 4 inputs.
        grid = cell_centres(d.xlim, d.ylim, 40).astype(np.float64)
        back = (reference.mean_ + (grid * signs) @ reference.components_).astype(np.float32)
        expected = keras.ops.convert_to_numpy(keras_at(rp, 0)(back))
        np.testing.assert_allclose(d.probabilities[0].ravel(), expected.ravel(), atol=1e-5)
        db.plot(0)
        labels = [f"PC{j + 1} ({100 * r:.0f}% var.)" for j, r in enumerate(reference.explained_variance_ratio_)]
        assert (ax.get_xlabel(), ax.get_ylabel()) == tuple(labels)
        assert "slice" in ax.get_title() and "4 inputs" in ax.get_title()
        with pytest.raises(ValueError, match=r"projection='exact' needs 2 values per sample, got 4 for the inputs"):
            rp.build_decision_boundary(ax, projection="exact")


def test_inputs_with_one_value_are_refused(tmp_path):
    X = np.linspace(-1, 1, 12, dtype=np.float32).reshape(-1, 1)
    y = (X > 0).astype(np.float32)
    filename, group = record_initial(tmp_path, [keras.layers.Dense(2, activation="tanh", name="hidden"),
                                                keras.layers.Dense(1, activation="sigmoid", name="output")], X, y)
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        with pytest.raises(ValueError, match=r"at least 2 input values.*\(1,\).*build_feature_space.*\['hidden'\]"):
            rp.build_decision_boundary(ax)
        assert not ax.images and not ax.collections  # nothing drawn on error


def test_regression_is_refused_with_the_alternatives(tmp_path):
    X = np.random.default_rng(0).normal(size=(12, 2)).astype(np.float32)
    filename, group = record_initial(tmp_path, [keras.layers.Dense(1, name="output")], X, X[:, :1] * 2.5,
                                     loss="mse")
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        with pytest.raises(ValueError, match=r"classes a classifier predicts.*a regression \(1 output\).*"
                                             r"build_feature_space.*build_loss_histogram"):
            rp.build_decision_boundary(ax)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(contour_points=0), ValueError, "contour_points=0"),
    (dict(n_grid_lines=True), TypeError, "n_grid_lines"),
    (dict(xlim=(0, 0)), ValueError, "xlim"),
    (dict(ylim=(1, 2, 3)), (TypeError, ValueError), "ylim"),
    (dict(display_grid="no"), TypeError, "display_grid='no' must be True or False"),
    (dict(projection=None), ValueError, "projection=None must be one of"),
    (dict(class_names=[1, 2]), TypeError, "class_names"),
    (dict(title=["t"]), TypeError, "title"),
    (dict(epoch_start=2, epoch_end=1), ValueError, "epoch_start=2 is after epoch_end=1"),
])
def test_bad_options(replay, kwargs, error, match):
    _, ax = plt.subplots()
    with pytest.raises(error, match=match):
        replay.build_decision_boundary(ax, **kwargs)


def test_not_an_axes(replay):
    with pytest.raises(TypeError, match="Matplotlib Axes"):
        DecisionBoundary.from_replay(replay, None)


@pytest.mark.parametrize("group", ["hinge", "squared_hinge01"])
def test_hinge_regions_split_at_score_0(hinge_recordings, group):
    """A hinge classifier's raw score: positive region where Keras' output is above 0, white at 0."""
    with hinge_recordings.open(group) as (rp, _, y):
        db = rp.build_decision_boundary(plt.subplots()[1], xlim=(-1.5, 2.5), ylim=(-1, 1.5), **FAST)
        d = db.data
        assert d.task == "binary"
        np.testing.assert_array_equal(d.classes, (y.ravel() > 0).astype(int))
        grid = cell_centres((-1.5, 2.5), (-1, 1.5), 40)
        for i, epoch in enumerate(d.epochs):
            scores = keras.ops.convert_to_numpy(keras_at(rp, int(epoch))(grid)).ravel()
            np.testing.assert_array_equal(d.predicted[i].ravel(), (scores > 0).astype(int))
            np.testing.assert_allclose(d.probabilities[i].ravel(), np.clip((scores + 1) / 2, 0, 1), atol=1e-6)
