"""Tests for deepreplay.plot.feature_space (FeatureSpace)."""

import dataclasses

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba, to_rgba_array
from PIL import Image

from conftest import cell_centres, keras_at
from deepreplay import compute
from deepreplay.callbacks import ReplayData
from deepreplay.plot.common import CLASS_COLORS, class_colors
from deepreplay.plot.feature_space import FeatureSpace, FeatureSpaceData
from deepreplay.replay import Replay

# Small region grids keep the tests fast; the default (200) is exercised once.
FAST = dict(contour_points=40)


# -- helpers ----------------------------------------------------------------------------------------
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
    with pytest.raises(ValueError, match=r"'output' outputs shape \(1,\).*at least 2 units.*\['hidden'\]"):
        replay.build_feature_space(ax, "output")


def test_exact_projection_needs_two_units(tmp_path):
    X, y = parabola_data(20)
    filename, group = record_initial(tmp_path, [keras.layers.Dense(3, activation="relu", name="wide"),
                                                keras.layers.Dense(1, activation="sigmoid", name="output")], X, y)
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        with pytest.raises(ValueError, match=r"projection='exact' needs 2 values per sample, got 3 for layer "
                                             r"'wide'.*'auto' or 'pca'"):
            rp.build_feature_space(ax, "wide", projection="exact")
        with pytest.raises(ValueError, match=r"projection='umap' must be one of"):
            rp.build_feature_space(ax, "wide", projection="umap")


def test_activations_not_recorded(tmp_path):
    X, y = parabola_data(20)
    filename, group = record_initial(tmp_path, [keras.layers.Dense(2, activation="tanh", name="hidden"),
                                                keras.layers.Dense(1, activation="sigmoid", name="output")], X, y,
                                     record=["weights", "predictions"])
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        with pytest.raises(ValueError, match=r"activations of layer 'hidden' were not recorded.*'activations'"):
            rp.build_feature_space(ax, "hidden")


# -- multiclass, wide layers, regression ---------------------------------------------------------------
@pytest.fixture(scope="module")
def multiclass_recording(tmp_path_factory):
    """Three blobs, 2-D inputs -> 6 tanh units ('wide') -> 2 linear units ('latent') -> softmax(3).

    Trained 4 epochs (5 records), so the projection is fitted over several epochs.
    """
    from sklearn.datasets import make_blobs

    keras.utils.set_random_seed(1)
    X, labels = make_blobs(60, centers=3, random_state=0)
    X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(6, activation="tanh", name="wide"),
        keras.layers.Dense(2, name="latent"),
        keras.layers.Dense(3, activation="softmax", name="output"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    filename = str(tmp_path_factory.mktemp("multiclass") / "blobs.h5")
    model.fit(X, labels, epochs=4, batch_size=20, verbose=0, callbacks=[ReplayData(X, labels, filename, "blobs")])
    return filename, "blobs", X, labels


@pytest.fixture
def blobs(multiclass_recording):
    filename, group, _, _ = multiclass_recording
    with Replay(filename, group) as rp:
        yield rp


def test_multiclass_regions_are_the_argmax_of_the_rest_of_the_network(blobs, multiclass_recording):
    _, _, _, labels = multiclass_recording
    _, ax = plt.subplots()
    fs = blobs.build_feature_space(ax, "latent", **FAST)
    d = fs.data
    assert (d.task, d.n_classes) == ("multiclass", 3)
    assert d.probabilities.shape == (len(d.epochs), 40, 40, 3)
    assert d.region_rgba.shape == (len(d.epochs), 40, 40, 4) and d.region_rgba.dtype == np.uint8
    np.testing.assert_array_equal(d.classes, labels)
    for i, epoch in enumerate(d.epochs):
        out = keras_at(blobs, int(epoch)).get_layer("output")
        expected = keras.ops.convert_to_numpy(out(cell_centres(d.xlims[i], d.ylims[i], 40)))
        np.testing.assert_allclose(d.probabilities[i].reshape(-1, 3), expected, atol=1e-5)
        np.testing.assert_array_equal(d.predicted[i].ravel(), expected.argmax(axis=1))
        np.testing.assert_array_equal(d.region_rgba[i], compute.class_region_rgba(
            d.probabilities[i], to_rgba_array(class_colors(3))[:, :3]))
    # Drawn as an RGBA image updated in place, points in the class colours.
    changed = fs.set_epoch(int(d.epochs[-1]))
    assert fs.regions in changed
    np.testing.assert_array_equal(fs.regions.get_array(), d.region_rgba[-1])
    np.testing.assert_allclose(fs.points.get_facecolors(), to_rgba_array(class_colors(3))[labels])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1", "class 2"]


def test_class_colours_are_the_same_in_every_visual(blobs):
    _fig, axes = plt.subplots(1, 3)
    fs = blobs.build_feature_space(axes[0], "latent", **FAST)
    db = blobs.build_decision_boundary(axes[1], **FAST)
    wide = blobs.build_feature_space(axes[2], "wide", **FAST)
    for visual in (fs, db, wide):
        visual.set_epoch(0)
    colours = [v.points.get_facecolors() for v in (fs, db, wide)]
    np.testing.assert_array_equal(colours[0], colours[1])
    np.testing.assert_array_equal(colours[0], colours[2])
    assert class_colors(2) == CLASS_COLORS  # binary keeps blue negative, green positive


def test_wide_layer_uses_one_pca_plane_fitted_on_all_epochs(blobs):
    """The projection is fixed: one basis, fitted once on every epoch's activations, for every frame."""
    from sklearn.decomposition import PCA

    _, ax = plt.subplots()
    fs = blobs.build_feature_space(ax, "wide", **FAST)
    d = fs.data
    activations = np.stack([blobs.outputs_at(int(e), "wide") for e in d.epochs])  # (E, n, 6)
    reference = PCA(n_components=2).fit(activations.reshape(-1, 6))
    plane = d.projection
    assert not plane.exact and plane.n_features == 6
    signs = np.sign(np.sum(plane.components * reference.components_, axis=1))
    np.testing.assert_allclose(plane.components, reference.components_ * signs[:, None], atol=1e-6)
    for i in range(len(d.epochs)):  # every frame through the same basis
        expected = (activations[i] - reference.mean_) @ (reference.components_ * signs[:, None]).T
        np.testing.assert_allclose(d.points[i], expected, atol=1e-5)
    # Grid lines bent through the layer, then through the same plane.
    xlim, ylim = compute.padded_limits([blobs.inputs], pad=0.1)  # the default: the inputs' range + 10%
    lines = compute.grid_lines(xlim, ylim, n_lines=11)
    for i, epoch in enumerate(d.epochs):
        bent = keras.ops.convert_to_numpy(keras_at(blobs, int(epoch)).get_layer("wide")(lines.reshape(-1, 2)))
        np.testing.assert_allclose(d.grid_lines[i], plane.transform(bent).reshape(lines.shape), atol=1e-5)
    # Axes say what they are; limits fixed over the frames; regions off (the plane is only a slice).
    labels = [f"PC{j + 1} ({100 * r:.0f}% var.)" for j, r in enumerate(reference.explained_variance_ratio_)]
    fs.set_epoch(0)
    assert (ax.get_xlabel(), ax.get_ylabel()) == tuple(labels)
    assert "6 units, fixed PCA plane" in ax.get_title()
    assert fs.regions is None and not ax.images and d.probabilities is None
    limits = set()
    for epoch in d.epochs:
        fs.set_epoch(int(epoch))
        limits.add((ax.get_xlim(), ax.get_ylim()))
    assert len(limits) == 1


def test_two_unit_layer_stays_exact_and_pca_of_it_is_a_rigid_motion(blobs):
    _, (ax1, ax2) = plt.subplots(1, 2)
    exact = blobs.build_feature_space(ax1, "latent", **FAST).data
    assert exact.projection.exact and exact.axis_labels == ("h1", "h2")
    for i, epoch in enumerate(exact.epochs):
        np.testing.assert_array_equal(exact.points[i], blobs.outputs_at(int(epoch), "latent"))
    rotated = blobs.build_feature_space(ax2, "latent", projection="pca", display_grid=False, **FAST).data
    assert not rotated.projection.exact
    assert rotated.projection.explained_variance_ratio.sum() == pytest.approx(1.0)
    for i in range(len(exact.epochs)):
        a, b = exact.points[i].astype(np.float64), rotated.points[i].astype(np.float64)
        np.testing.assert_allclose(np.linalg.norm(b[:, None] - b[None], axis=-1),
                                   np.linalg.norm(a[:, None] - a[None], axis=-1), atol=1e-4)


def test_regions_on_a_projection_are_a_labelled_slice(blobs):
    _, ax = plt.subplots()
    fs = blobs.build_feature_space(ax, "wide", display_regions=True, display_grid=False, **FAST)
    d = fs.data
    assert d.regions_are_slice and "regions: a slice" in fs.title
    # The regions are the rest of the network on the plane's points mapped back to the 6 units.
    i = len(d.epochs) - 1
    model = keras_at(blobs, int(d.epochs[i]))
    units = d.projection.inverse_transform(cell_centres(d.xlims[i], d.ylims[i], 40)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model.get_layer("output")(model.get_layer("latent")(units)))
    np.testing.assert_allclose(d.probabilities[i].reshape(-1, 3), expected, atol=1e-5)


def test_regression_feature_space(tmp_path):
    X, _ = parabola_data(20)
    target = (X[:, :1] * 3 + X[:, 1:]).astype(np.float32)
    filename, group = record_initial(tmp_path, [keras.layers.Dense(5, activation="tanh", name="wide"),
                                                keras.layers.Dense(2, activation="tanh", name="narrow"),
                                                keras.layers.Dense(1, name="output")], X, target, loss="mse")
    with Replay(filename, group) as rp:
        _fig, (ax1, ax2) = plt.subplots(1, 2)
        fs = rp.build_feature_space(ax1, "narrow", **FAST)
        d = fs.data
        assert (d.task, d.classes, d.probabilities) == ("regression", None, None)
        np.testing.assert_allclose(d.targets, target.ravel())
        assert d.value_limits == (pytest.approx(target.min()), pytest.approx(target.max()))
        expected = keras.ops.convert_to_numpy(keras_at(rp, 0).get_layer("output")(
            cell_centres(d.xlims[0], d.ylims[0], 40)))
        np.testing.assert_allclose(d.outputs[0].ravel(), expected.ravel(), atol=1e-5)
        fs.plot(0)
        assert ax1.get_legend() is None and fs.colorbar is not None
        np.testing.assert_allclose(fs.points.get_array(), target.ravel())
        assert fs.points.get_clim() == fs.regions.get_clim() == pytest.approx(d.value_limits)
        wide = rp.build_feature_space(ax2, "wide", **FAST)  # projected, no regions by default
        wide.set_epoch(0)
        assert wide.regions is None and ax2.get_xlabel().startswith("PC1 (")


def test_multi_output_regression_has_no_regions(tmp_path):
    X, _ = parabola_data(20)
    filename, group = record_initial(tmp_path, [keras.layers.Dense(2, activation="tanh", name="hidden"),
                                                keras.layers.Dense(2, name="output")], X,
                                     np.column_stack([X[:, 0] * 2, X[:, 1] - 3]).astype(np.float32), loss="mse")
    with Replay(filename, group) as rp:
        _, ax = plt.subplots()
        assert not rp.build_feature_space(ax, "hidden", **FAST).data.has_regions
        with pytest.raises(ValueError, match=r"display_regions=True: this model is a regression \(2 outputs\)"):
            rp.build_feature_space(ax, "hidden", display_regions=True)


def test_class_names(blobs):
    _, ax = plt.subplots()
    fs = blobs.build_feature_space(ax, "latent", class_names=["setosa", "versicolor", "virginica"], **FAST)
    fs.set_epoch(0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["setosa", "versicolor", "virginica"]
    with pytest.raises(ValueError, match=r"class_names=\['a', 'b'\] has 2 names for 3 classes"):
        blobs.build_feature_space(ax, "latent", class_names=["a", "b"])
    with pytest.raises(TypeError, match="class_names='abc' must be a sequence of strings"):
        blobs.build_feature_space(ax, "latent", class_names="abc")


def test_legend_goes_to_the_emptiest_corner(replay):
    _, ax = plt.subplots()
    fs = replay.build_feature_space(ax, "hidden", **FAST)
    fs.set_epoch(0)
    d = fs.data
    expected = compute.emptiest_corner(d.points, d.xlims[0], d.ylims[0])
    assert ax.get_legend()._loc == ax.get_legend().codes[expected]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(contour_points=1), ValueError, "contour_points=1 must be at least 2"),
    (dict(contour_points=20.5), TypeError, "contour_points"),
    (dict(n_grid_lines=0), ValueError, "n_grid_lines=0"),
    (dict(xlim=(1, -1)), ValueError, "xlim"),
    (dict(ylim="ab"), (TypeError, ValueError), "ylim"),
    (dict(scale_fixed="yes"), TypeError, "scale_fixed='yes' must be True or False"),
    (dict(display_grid=None), TypeError, "display_grid"),
    (dict(display_regions="yes"), TypeError, "display_regions='yes' must be True, False or None"),
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


# -- wide layers recorded on a subset of the samples (ReplayData(output_samples=...)) -------------------
def test_wide_layer_recorded_on_a_subset_is_fitted_and_drawn_on_that_subset(tmp_path):
    """100 samples x 200 units is 'wide': its outputs are kept for 10 samples; the plane uses those 10."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3)).astype(np.float32)
    labels = (np.arange(100) % 3).astype(np.int64)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(200, activation="relu", name="wide"),
                              keras.layers.Dense(3, activation="softmax", name="output")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    filename = str(tmp_path / "wide.h5")
    ReplayData(X, labels, filename, "wide", model=model, output_samples=10)
    with Replay(filename, "wide") as rp:
        rows = rp.output_rows("wide")
        assert len(rows) == 10  # the situation of the bug: 10 rows recorded, 100 samples
        _, ax = plt.subplots()
        fs = rp.build_feature_space(ax, "wide")
        d = fs.data
        assert d.points.shape == (1, 10, 2) and d.subset and d.n_total_samples == 100
        np.testing.assert_array_equal(d.classes, labels[rows])
        np.testing.assert_allclose(d.points[0], d.projection.transform(rp.outputs_at(0, "wide")), atol=1e-5)
        fs.set_epoch(0)
        assert "10 of 100 samples" in ax.get_title()
        assert len(fs.points.get_offsets()) == 10
        np.testing.assert_allclose(fs.points.get_facecolors(), to_rgba_array(class_colors(3))[labels[rows]])


def test_layer_recorded_on_every_sample_says_nothing_about_a_subset(blobs):
    _, ax = plt.subplots()
    fs = blobs.build_feature_space(ax, "wide", **FAST)
    fs.set_epoch(0)
    assert not fs.data.subset and "samples" not in ax.get_title()


def test_grid_limits_default_to_the_data_range_on_blobs(tmp_path):
    """Inputs far from (-1, 1) (make_blobs, about -14..7): the bent grid and the boundary cover the data."""
    from sklearn.datasets import make_blobs

    X, labels = make_blobs(80, centers=[(-10.0, -8.0), (4.0, 3.0)], cluster_std=1.5, random_state=0)
    X, y = X.astype(np.float32), labels.astype(np.float32).reshape(-1, 1)
    assert X.min() < -12 and X.max() > 5
    filename, group = record_initial(tmp_path, [keras.layers.Dense(2, activation="tanh", name="hidden"),
                                                keras.layers.Dense(1, activation="sigmoid", name="output")], X, y)
    (xlim, ylim) = compute.padded_limits([X], pad=0.1)
    assert xlim[0] < X[:, 0].min() and xlim[1] > X[:, 0].max() and ylim[0] < X[:, 1].min() < X[:, 1].max() < ylim[1]
    _, (ax0, ax1, ax2) = plt.subplots(1, 3)
    with Replay(filename, group) as rp:
        head = keras.Model(rp.model.inputs[0], rp.model.get_layer("hidden").output)
        fs = rp.build_feature_space(ax0, "hidden", n_grid_lines=5, **FAST)
        lines = compute.grid_lines(xlim, ylim, n_lines=5)
        bent = keras.ops.convert_to_numpy(head(lines.reshape(-1, 2))).reshape(lines.shape)
        np.testing.assert_allclose(fs.data.grid_lines[0], bent, atol=1e-5)
        db = rp.build_decision_boundary(ax1, **FAST)
        np.testing.assert_allclose(db.data.xlim, xlim, rtol=1e-6)
        np.testing.assert_allclose(db.data.ylim, ylim, rtol=1e-6)
        # DeepReplay 0.1's explicit grid still works
        old = rp.build_feature_space(ax2, "hidden", xlim=(-1, 1), ylim=(-1, 1), n_grid_lines=5, **FAST)
        lines = compute.grid_lines((-1, 1), (-1, 1), n_lines=5)
        bent = keras.ops.convert_to_numpy(head(lines.reshape(-1, 2))).reshape(lines.shape)
        np.testing.assert_allclose(old.data.grid_lines[0], bent, atol=1e-5)
