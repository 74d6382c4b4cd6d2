"""Tests for deepreplay.plot.feature_space (FeatureSpace)."""

import dataclasses

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from PIL import Image

from deepreplay import compute
from deepreplay.callbacks import ReplayData
from deepreplay.plot.base import CLASS_COLORS
from deepreplay.plot.feature_space import FeatureSpace, FeatureSpaceData
from deepreplay.replay import Replay

# Small region grids keep the tests fast; the default (200) is exercised once.
FAST = dict(contour_points=40)


# -- helpers ----------------------------------------------------------------------------------------
def keras_at(replay, epoch):
    """An independent copy of the recorded model, with the weights recorded at ``epoch``."""
    clone = keras.models.clone_model(replay.model)
    weights = replay.weights_at(epoch)
    for layer in clone.layers:
        if layer.name in weights:
            layer.set_weights([weights[layer.name][var.name] for var in layer.weights])
    return clone


def cell_centres(xlim, ylim, n):
    """Centres of an n x n tiling of the rectangle, row-major from the bottom row."""
    xs = xlim[0] + (np.arange(n) + 0.5) * (xlim[1] - xlim[0]) / n
    ys = ylim[0] + (np.arange(n) + 0.5) * (ylim[1] - ylim[0]) / n
    xx, yy = np.meshgrid(xs, ys)
    return np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)


def record_initial(tmp_path, layers, X, y, *, loss="binary_crossentropy", record=None, name="run"):
    """Record a model's initial state (no training): a fast recording with one record."""
    model = keras.Sequential([keras.Input((X.shape[1],)), *layers])
    model.compile(optimizer="sgd", loss=loss)
    filename = str(tmp_path / f"{name}.h5")
    ReplayData(X, y, filename, name, model=model, record=record)
    return filename, name


def parabola3d(n=30):
    X, y = parabola_data(n)
    return np.column_stack([X, X[:, 0] * X[:, 1]]).astype(np.float32), y


def parabola_data(n):
    from deepreplay.datasets import parabola

    return parabola.load_data(n_points=n)


@pytest.fixture
def replay(tiny_recording):
    filename, group, _, _ = tiny_recording
    with Replay(filename, group) as rp:
        yield rp


# -- data against Keras --------------------------------------------------------------------------------
@pytest.mark.parametrize("scale_fixed", [True, False])
def test_data_matches_keras(replay, scale_fixed):
    _, ax = plt.subplots()
    xlim, ylim, n_lines = (-1.5, 1.0), (-0.8, 1.2), 5
    fs = replay.build_feature_space(ax, "hidden", xlim=xlim, ylim=ylim, n_grid_lines=n_lines,
                                    scale_fixed=scale_fixed, **FAST)
    d = fs.data
    assert isinstance(d, FeatureSpaceData)
    np.testing.assert_array_equal(d.epochs, replay.epochs)
    lines = compute.grid_lines(xlim, ylim, n_lines=n_lines)
    assert d.grid_lines.shape == (len(d.epochs), *lines.shape)
    assert d.probabilities.shape == (len(d.epochs), 40, 40)
    for i, epoch in enumerate(d.epochs):
        epoch = int(epoch)
        model = keras_at(replay, epoch)
        head = keras.Model(model.inputs[0], model.get_layer("hidden").output)
        out = model.get_layer("output")
        # points: the recorded activations, which Keras reproduces from the inputs
        np.testing.assert_array_equal(d.points[i], replay.outputs_at(epoch, "hidden"))
        np.testing.assert_allclose(d.points[i], keras.ops.convert_to_numpy(head(replay.inputs)), atol=1e-5)
        # grid lines bent through the layer
        bent = keras.ops.convert_to_numpy(head(lines.reshape(-1, 2))).reshape(lines.shape)
        np.testing.assert_allclose(d.grid_lines[i], bent, atol=1e-5)
        # decision regions of the output layer over the feature-space limits of this epoch
        grid = cell_centres(d.xlims[i], d.ylims[i], 40)
        expected = keras.ops.convert_to_numpy(out(grid)).reshape(40, 40)
        np.testing.assert_allclose(d.probabilities[i], expected, atol=1e-5)


def test_classes_and_colours(replay, tiny_recording):
    _, _, _, y = tiny_recording
    _, ax = plt.subplots()
    fs = replay.build_feature_space(ax, "hidden", **FAST)
    np.testing.assert_array_equal(fs.data.classes, y.ravel().astype(int))
    expected = np.array([to_rgba(CLASS_COLORS[c]) for c in fs.data.classes])
    for epoch in replay.epochs:
        fs.set_epoch(int(epoch))
        np.testing.assert_allclose(fs.points.get_facecolors(), expected)


def test_data_is_frozen(replay):
    _, ax = plt.subplots()
    d = replay.build_feature_space(ax, "hidden", **FAST).data
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.points = None
    with pytest.raises(ValueError, match="read-only"):
        d.probabilities[0, 0, 0] = 0.0


# -- limits ------------------------------------------------------------------------------------------------
def test_scale_fixed_limits_same_every_frame_and_cover_everything(replay):
    _, ax = plt.subplots()
    fs = replay.build_feature_space(ax, "hidden", scale_fixed=True, **FAST)
    d = fs.data
    limits = set()
    for epoch in d.epochs:
        fs.set_epoch(int(epoch))
        limits.add((ax.get_xlim(), ax.get_ylim()))
        assert fs.regions.get_extent() == [*ax.get_xlim(), *ax.get_ylim()]
    assert len(limits) == 1
    (x0, x1), (y0, y1) = limits.pop()
    everything = np.concatenate([d.points.reshape(-1, 2), d.grid_lines.reshape(-1, 2)])
    assert np.all((everything[:, 0] > x0) & (everything[:, 0] < x1))
    assert np.all((everything[:, 1] > y0) & (everything[:, 1] < y1))


def test_free_scale_follows_each_epoch(replay):
    _, ax = plt.subplots()
    fs = replay.build_feature_space(ax, "hidden", scale_fixed=False, display_grid=False, **FAST)
    d = fs.data
    assert d.grid_lines is None
    seen = set()
    for i, epoch in enumerate(d.epochs):
        fs.set_epoch(int(epoch))
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        expected = compute.padded_limits([d.points[i]])
        np.testing.assert_allclose([(x0, x1), (y0, y1)], expected)
        assert fs.regions.get_extent() == [x0, x1, y0, y1]
        seen.add((x0, x1, y0, y1))
    assert len(seen) > 1


# -- drawing ------------------------------------------------------------------------------------------------
def test_updates_never_add_artists_or_replace_axes(replay):
    fig, ax = plt.subplots()
    fs = replay.build_feature_space(ax, "hidden", **FAST)
    epochs = [int(e) for e in replay.epochs]
    fs.set_epoch(epochs[0])
    children = ax.get_children()
    artists = (fs.regions, fs.grid, fs.points)
    for epoch in epochs[::-1] + epochs:
        changed = fs.set_epoch(epoch)
        assert set(map(id, changed)) == set(map(id, artists))
        assert ax.get_children() == children
        assert fig.axes == [ax]
        assert (fs.regions, fs.grid, fs.points) == artists
    assert len(ax.images) == 1 and len(ax.collections) == 2
    assert isinstance(fs.grid, LineCollection)
    i = fs.data.index(epochs[-1])
    fs.set_epoch(epochs[-1])
    np.testing.assert_allclose(fs.points.get_offsets(), fs.data.points[i])
    np.testing.assert_allclose(fs.regions.get_array(), fs.data.probabilities[i])
    np.testing.assert_allclose(np.array(fs.grid.get_segments()), fs.data.grid_lines[i], atol=1e-6)


def test_labels_title_legend(replay):
    fig, ax = plt.subplots()
    fs = replay.build_feature_space(ax, "hidden", **FAST)
    assert fs.plot(0) is fig
    assert ax.get_title() == "Feature Space - Layer: hidden"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("h1", "h2")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["negative", "positive"]
    assert fs.regions.get_cmap()(0.5)[:3] == pytest.approx((1.0, 1.0, 1.0), abs=0.01)
    assert fs.regions.get_clim() == (0.0, 1.0)
    _, ax2 = plt.subplots()
    replay.build_feature_space(ax2, "hidden", title="Mine", **FAST).plot(1)
    assert ax2.get_title() == "Mine"


def test_default_resolution(replay):
    _, ax = plt.subplots()
    fs = replay.build_feature_space(ax, "hidden", epoch_end=0)
    assert fs.data.probabilities.shape == (1, 200, 200)
    assert fs.data.grid_lines.shape[1] == 22


def test_animate_one_frame_per_epoch(replay, tmp_path):
    fig, ax = plt.subplots(figsize=(2.5, 2.5))
    fs = replay.build_feature_space(ax, "hidden", epoch_start=1, epoch_end=3, **FAST)
    np.testing.assert_array_equal(fs.epochs, [1, 2, 3])
    path = tmp_path / "fs.gif"
    fs.animate().save(path, fps=5, dpi=30)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
    with pytest.raises(ValueError, match="not available"):
        fs.set_epoch(0)


# -- other recordings ------------------------------------------------------------------------------------------
def test_inputs_not_2d_give_points_without_grid(tmp_path):
    X, y = parabola3d()
    filename, group = record_initial(tmp_path, [keras.layers.Dense(2, activation="tanh", name="hidden"),
                                                keras.layers.Dense(1, activation="sigmoid", name="output")], X, y)
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        fs = rp.build_feature_space(ax, "hidden", **FAST)
        assert fs.data.grid_lines is None
        fs.plot(0)
        assert fs.grid is None and len(ax.collections) == 1
        np.testing.assert_array_equal(fs.data.points[0], rp.outputs_at(0, "hidden"))


def test_softmax_output_uses_positive_column(tmp_path):
    X, y = parabola_data(20)
    onehot = np.eye(2, dtype=np.float32)[y.ravel().astype(int)]
    filename, group = record_initial(tmp_path, [keras.layers.Dense(2, activation="relu", name="hidden"),
                                                keras.layers.Dense(2, activation="softmax", name="output")],
                                     X, onehot, loss="categorical_crossentropy")
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        d = rp.build_feature_space(ax, "hidden", **FAST).data
        np.testing.assert_array_equal(d.classes, y.ravel().astype(int))
        grid = cell_centres(d.xlims[0], d.ylims[0], 40)
        expected = keras.ops.convert_to_numpy(keras_at(rp, 0).get_layer("output")(grid))[:, 1]
        np.testing.assert_allclose(d.probabilities[0].ravel(), expected, atol=1e-5)


# -- errors -----------------------------------------------------------------------------------------------------
def test_unknown_layer(replay):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"layer_name='nope' is not a layer.*hidden"):
        replay.build_feature_space(ax, "nope")
    with pytest.raises(TypeError, match="name of a layer"):
        FeatureSpace.from_replay(replay, ax, 3)


def test_layer_not_two_units(replay):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"'output' outputs shape \(1,\).*exactly 2 units.*\['hidden'\]"):
        replay.build_feature_space(ax, "output")


def test_wider_layer_needs_projection(tmp_path):
    X, y = parabola_data(20)
    filename, group = record_initial(tmp_path, [keras.layers.Dense(3, activation="relu", name="wide"),
                                                keras.layers.Dense(2, activation="tanh", name="narrow"),
                                                keras.layers.Dense(1, activation="sigmoid", name="output")], X, y)
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        with pytest.raises(ValueError, match=r"'wide' has 3 units.*projection.*not available yet.*2-unit layer"
                                             r".*\['narrow'\]"):
            rp.build_feature_space(ax, "wide")
        rp.build_feature_space(ax, "narrow", **FAST)  # the suggested layer works


def test_activations_not_recorded(tmp_path):
    X, y = parabola_data(20)
    filename, group = record_initial(tmp_path, [keras.layers.Dense(2, activation="tanh", name="hidden"),
                                                keras.layers.Dense(1, activation="sigmoid", name="output")], X, y,
                                     record=["weights", "predictions"])
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        with pytest.raises(ValueError, match=r"activations of layer 'hidden' were not recorded.*'activations'"):
            rp.build_feature_space(ax, "hidden")


def test_multiclass_refused(tmp_path):
    X, y = parabola_data(20)
    labels = (np.arange(len(X)) % 3).astype(np.float32)
    filename, group = record_initial(tmp_path, [keras.layers.Dense(2, activation="tanh", name="hidden"),
                                                keras.layers.Dense(3, activation="softmax", name="output")],
                                     X, np.eye(3, dtype=np.float32)[labels.astype(int)],
                                     loss="categorical_crossentropy")
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        with pytest.raises(ValueError, match="binary classification only"):
            rp.build_feature_space(ax, "hidden")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(contour_points=1), ValueError, "contour_points=1 must be at least 2"),
    (dict(contour_points=20.5), TypeError, "contour_points"),
    (dict(n_grid_lines=0), ValueError, "n_grid_lines=0"),
    (dict(xlim=(1, -1)), ValueError, "xlim"),
    (dict(ylim="ab"), (TypeError, ValueError), "ylim"),
    (dict(scale_fixed="yes"), TypeError, "scale_fixed='yes' must be True or False"),
    (dict(display_grid=None), TypeError, "display_grid"),
    (dict(title=3), TypeError, "title=3"),
    (dict(epoch_start=3, epoch_end=1), ValueError, "epoch_start=3 is after epoch_end=1"),
    (dict(epoch_start=99), ValueError, "epoch_start=99"),
])
def test_bad_options(replay, kwargs, error, match):
    _, ax = plt.subplots()
    with pytest.raises(error, match=match):
        replay.build_feature_space(ax, "hidden", **kwargs)


def test_not_an_axes(replay):
    with pytest.raises(TypeError, match="Matplotlib Axes"):
        replay.build_feature_space("ax", "hidden", **FAST)
