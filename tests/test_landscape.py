"""Loss landscapes: planes, surfaces and lines, checked against scikit-learn's PCA and Keras itself."""

import os
import shutil
import stat

import h5py
import numpy as np
import pytest
from conftest import keras_at, tiny_data

from deepreplay import landscape, storage
from deepreplay.replay import Replay


def flat(model):
    """The trainable weights of a Keras model, flattened in model.trainable_variables order."""
    return np.concatenate([np.asarray(v.numpy(), dtype=np.float64).ravel() for v in model.trainable_variables])


def keras_loss(replay, theta):
    """The loss Keras computes (model.evaluate, one batch) for weights theta set on a clone of the model."""
    clone = keras_at(replay, int(replay.epochs[-1]))
    start = 0
    for var in clone.trainable_variables:
        size = int(np.prod(var.shape))
        var.assign(theta[start:start + size].reshape(var.shape).astype(np.float32))
        start += size
    clone.compile(loss="binary_crossentropy")
    return clone.evaluate(replay.inputs, replay.targets, batch_size=len(replay.inputs), verbose=0)


@pytest.fixture(scope="module")
def surface(tiny_recording):
    """The PCA surface of the tiny run (uncached), its plane and one evaluator."""
    filename, group, _, _ = tiny_recording
    with Replay(filename, group) as replay:
        plane = landscape.pca_plane(replay)
        evaluator = landscape.LossEvaluator(replay)
        yield replay, plane, evaluator, landscape.loss_surface(replay, plane, resolution=11, evaluator=evaluator,
                                                             cache=False)


def test_trajectory_is_the_recorded_weights_in_keras_order(replay):
    thetas = landscape.trajectory(replay)
    assert thetas.shape == (len(replay.epochs), 9)
    for row, epoch in zip(thetas, replay.epochs):
        np.testing.assert_array_equal(row, flat(keras_at(replay, int(epoch))))


def test_surface_at_origin_equals_recorded_loss(surface):
    replay, plane, evaluator, surf = surface
    assert plane.origin_epoch == int(replay.epochs[-1])
    assert surf.losses.shape == (11, 11)
    assert surf.at_origin() == pytest.approx(float(replay.training_loss[-1]), abs=1e-5)
    # Another origin: the plane through epoch 1's weights.
    other = landscape.pca_plane(replay, origin_epoch=1)
    at = landscape.loss_surface(replay, other, resolution=5, evaluator=evaluator, cache=False).at_origin()
    assert at == pytest.approx(float(replay.training_loss[1]), abs=1e-5)


def test_surface_at_random_grid_points_equals_keras(surface):
    replay, plane, _, surf = surface
    rng = np.random.default_rng(0)
    for _ in range(3):
        i, j = rng.integers(0, 11, size=2)
        theta = plane.point(surf.alphas[j], surf.betas[i])
        assert surf.losses[i, j] == pytest.approx(keras_loss(replay, theta), abs=1e-5)


def test_pca_directions_and_explained_variance_equal_sklearn(surface):
    from sklearn.decomposition import PCA

    replay, plane, _, _ = surface
    rows = np.stack([flat(keras_at(replay, int(e))) for e in replay.epochs])
    pca = PCA(n_components=2).fit(rows - rows[-1])
    for mine, theirs in zip(plane.directions, pca.components_):
        sign = np.sign(mine @ theirs)
        np.testing.assert_allclose(mine, sign * theirs, atol=1e-6)
    np.testing.assert_allclose(plane.explained_variance_ratio, pca.explained_variance_ratio_, rtol=1e-6)


def test_path_projection_and_error(surface):
    replay, plane, evaluator, _ = surface
    path = landscape.path_on_plane(replay, plane, evaluator=evaluator)
    np.testing.assert_array_equal(path.epochs, replay.epochs)
    np.testing.assert_allclose(path.recorded_loss, replay.training_loss)
    # The origin epoch lies on the plane: no distance, no projection error.
    assert path.distance[-1] == pytest.approx(0, abs=1e-9)
    assert path.projection_error[-1] == pytest.approx(0, abs=1e-5)
    # Off-plane distance is what is left after the projection.
    thetas = landscape.trajectory(replay)
    back = plane.point(path.coords[:, 0], path.coords[:, 1])
    np.testing.assert_allclose(np.linalg.norm(thetas - back, axis=1), path.distance, atol=1e-9)


def test_random_plane_is_filter_normalised(replay):
    plane = landscape.random_plane(replay, seed=3)
    layout = landscape.parameter_layout(replay)
    for d in plane.directions:
        start = 0
        for _, var, shape in layout:
            size = int(np.prod(shape))
            part, weights = d[start:start + size].reshape(shape), plane.origin[start:start + size].reshape(shape)
            start += size
            if var == "bias":
                assert not part.any()
            else:
                np.testing.assert_allclose(np.linalg.norm(part, axis=0), np.linalg.norm(weights, axis=0))
    assert not np.allclose(plane.directions[0], landscape.random_plane(replay, seed=4).directions[0])


def test_line_interpolation_ends_equal_recorded_losses(surface):
    replay, _, evaluator, _ = surface
    line = landscape.line_interpolation(replay, n_points=9, beyond=0.5, evaluator=evaluator)
    assert line.ts[0] == -0.5 and line.ts[-1] == 1.5
    at0, at1 = np.flatnonzero(line.ts == 0.0), np.flatnonzero(line.ts == 1.0)
    assert line.losses[at0[0]] == pytest.approx(float(replay.training_loss[0]), abs=1e-5)
    assert line.losses[at1[0]] == pytest.approx(float(replay.training_loss[-1]), abs=1e-5)
    np.testing.assert_allclose(line.epoch_ts[[0, -1]], [0, 1], atol=1e-12)


def test_shared_plane_covers_every_run(tmp_path, two_runs):
    import keras

    from deepreplay.callbacks import ReplayData

    filename, groups = two_runs
    with Replay(filename, groups[0]) as first, Replay(filename, groups[1]) as other:
        plane = landscape.shared_plane([first, other])
        np.testing.assert_array_equal(plane.origin, landscape.trajectory(first)[-1])
        from sklearn.decomposition import PCA

        both = np.concatenate([landscape.trajectory(first), landscape.trajectory(other)]) - plane.origin
        pca = PCA(n_components=2).fit(both)
        np.testing.assert_allclose(plane.explained_variance_ratio, pca.explained_variance_ratio_, rtol=1e-6)
        np.testing.assert_allclose(np.abs(np.sum(plane.directions * pca.components_, axis=1)), 1, atol=1e-6)

        X, y = tiny_data()
        keras.utils.set_random_seed(0)
        wider = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name="hidden"),
                                  keras.layers.Dense(1, activation="sigmoid", name="output")])
        wider.compile(optimizer="sgd", loss="binary_crossentropy")
        path = str(tmp_path / "wider.h5")
        wider.fit(X, y, epochs=1, verbose=0, callbacks=[ReplayData(X, y, path, "wider")])
        with Replay(path, "wider") as odd, pytest.raises(ValueError, match="one architecture"):
            landscape.shared_plane([first, odd])


def test_surface_cache_in_the_file_leaves_recorded_data_alone(tmp_path, tiny_recording):
    source, group, _, _ = tiny_recording
    filename = str(tmp_path / "copy.h5")
    shutil.copy(source, filename)

    def recorded(path):
        with h5py.File(path, "r") as f:
            out = {}
            f[group].visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset)
                                and not name.startswith("derived") else None)
            return out, dict(f[group].attrs)

    before = recorded(filename)
    with Replay(filename, group) as replay:
        plane = landscape.pca_plane(replay)
        first = landscape.loss_surface(replay, plane, resolution=5)
        again = landscape.loss_surface(replay, plane, resolution=5)
        other_grid = landscape.loss_surface(replay, plane, resolution=7)
    assert not first.from_cache and again.from_cache and not other_grid.from_cache
    np.testing.assert_array_equal(first.losses, again.losses)
    after = recorded(filename)
    assert before[1] == after[1] and before[0].keys() == after[0].keys()
    for name in before[0]:
        np.testing.assert_array_equal(before[0][name], after[0][name])

    # A read-only file is not cached, and that is no error.
    readonly = str(tmp_path / "readonly.h5")
    shutil.copy(source, readonly)
    os.chmod(readonly, stat.S_IRUSR)
    try:
        with Replay(readonly, group) as replay:
            surf = landscape.loss_surface(replay, landscape.pca_plane(replay), resolution=5)
        assert not surf.from_cache
        assert storage.read_derived(readonly, group, landscape.SURFACE_CACHE, "none") is None
    finally:
        os.chmod(readonly, stat.S_IRUSR | stat.S_IWUSR)


def test_bad_arguments_name_themselves(replay):
    with pytest.raises(ValueError, match="directions='sideways'"):
        landscape.make_plane(replay, "sideways")
    with pytest.raises(ValueError, match=r"directions has shape \(2, 3\)"):
        landscape.given_plane(replay, np.ones((2, 3)))
    plane = landscape.pca_plane(replay)
    with pytest.raises(ValueError, match="span=-1"):
        landscape.loss_surface(replay, plane, span=-1, cache=False)
    with pytest.raises(TypeError, match="span="):
        landscape.loss_surface(replay, plane, span="wide", cache=False)
    with pytest.raises(ValueError, match="resolution=2"):
        landscape.loss_surface(replay, plane, resolution=2, cache=False)
    with pytest.raises(ValueError, match="replays is empty"):
        landscape.shared_plane([])
    with pytest.raises(ValueError, match="beyond=-1"):
        landscape.line_interpolation(replay, beyond=-1)
