"""Recording size defaults (wide layers, rounding, compression) and the replay fast paths."""

import json

import h5py
import keras
import numpy as np
import pytest

from deepreplay.callbacks import ReplayData, round_significand
from deepreplay.replay import Replay

RELATIVE = 2.0 ** -11  # 11 significant bits


def wide_model(n_inputs=6):
    """Dense(40, relu) -> Dense(120, tanh) -> Dense(1, sigmoid): 40 x 600 and 120 x 600 outputs are wide."""
    model = keras.Sequential([
        keras.Input((n_inputs,)),
        keras.layers.Dense(40, activation="relu", name="a", kernel_initializer=keras.initializers.HeNormal(seed=1)),
        keras.layers.Dense(120, activation="tanh", name="b",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=2)),
        keras.layers.Dense(1, activation="sigmoid", name="out",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=3)),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory):
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.float32)
    filename = str(tmp_path_factory.mktemp("wide") / "wide.h5")
    model = wide_model()
    callbacks = [ReplayData(X, y, filename, "default"),
                 ReplayData(X, y, filename, "full", output_samples=None, significant_bits=None, compression=None)]
    model.fit(X, y, epochs=2, batch_size=64, verbose=0, callbacks=callbacks)
    return filename, X, y, model


def test_round_significand_keeps_the_exponent_and_specials():
    values = np.array([0.0, -0.0, 1.0, -3.14159265, 1e-30, 6.5e4, 1e30, np.inf, -np.inf, np.nan, 1.0 + 2 ** -20],
                      dtype=np.float32)
    rounded = round_significand(values, 11)
    finite = np.isfinite(values)
    np.testing.assert_allclose(rounded[finite], values[finite], rtol=RELATIVE, atol=0)
    assert rounded[1] == 0 and np.isinf(rounded[7]) and rounded[8] < 0 and np.isnan(rounded[9])
    assert rounded[-1] == 1.0  # the low bits are gone
    assert rounded[4] > 0 and rounded[6] > 1e29  # no underflow or overflow, unlike float16
    assert round_significand(values, 24).tobytes() == values.tobytes()


def test_wide_layers_keep_a_subset_of_the_samples(wide_run):
    filename, X, _, _ = wide_run
    with Replay(filename, "default") as replay, Replay(filename, "full") as full:
        for layer in ("a", "b"):
            rows = replay.output_rows(layer)
            assert rows.shape == (64,) and np.all(np.diff(rows) > 0) and rows.max() < len(X)
            for epoch in replay.epochs:
                got = replay.outputs_at(int(epoch), layer)
                expected = full.outputs_at(int(epoch), layer)[rows]
                assert got.shape == (64, 40 if layer == "a" else 120)
                np.testing.assert_allclose(got, expected, rtol=RELATIVE, atol=1e-30)
                z = replay.outputs_at(int(epoch), layer, before_activation=True)
                np.testing.assert_allclose(z, full.outputs_at(int(epoch), layer, before_activation=True)[rows],
                                           rtol=RELATIVE, atol=1e-30)
        # The narrow output layer keeps every sample, exactly.
        np.testing.assert_array_equal(replay.output_rows("out"), np.arange(len(X)))
        np.testing.assert_array_equal(replay.outputs_at(2, "out"), full.outputs_at(2, "out"))
        np.testing.assert_array_equal(full.output_rows("a"), np.arange(len(X)))


def test_weights_stay_exact_and_large_gradients_are_rounded(wide_run):
    filename, *_ = wide_run
    with Replay(filename, "default") as replay, Replay(filename, "full") as full:
        for epoch in replay.epochs:
            for layer, variables in full.weights_at(int(epoch)).items():
                for name, value in variables.items():
                    np.testing.assert_array_equal(replay.weights_at(int(epoch))[layer][name], value)
            grads, exact = replay.gradients_at(int(epoch)), full.gradients_at(int(epoch))
            np.testing.assert_allclose(grads["b"]["kernel"], exact["b"]["kernel"], rtol=RELATIVE, atol=0)  # 4,800
            assert not np.array_equal(grads["b"]["kernel"], exact["b"]["kernel"])
            np.testing.assert_array_equal(grads["a"]["kernel"], exact["a"]["kernel"])  # 240 values: exact
            np.testing.assert_array_equal(grads["b"]["bias"], exact["b"]["bias"])
        np.testing.assert_array_equal(replay.predictions_at(2), full.predictions_at(2))
        np.testing.assert_array_equal(replay.losses_at(2), full.losses_at(2))


def test_auto_compression_compresses_large_rounded_records_only(wide_run):
    filename, *_ = wide_run
    with h5py.File(filename, "r") as f:
        g = f["default"]
        assert g["gradients/b/kernel"].compression == "gzip" and g["gradients/b/kernel"].shuffle  # 19 KiB
        assert g["outputs/b/activations"].compression == "gzip"  # 64 x 120 values: 30 KiB
        # Uncompressed float32 arrays of at most storage.PACK_MAX_BYTES share the packed dataset.
        packed = json.loads(g["packed"].attrs["index"])
        assert g["packed"].compression is None
        assert "weights/b/kernel" in packed  # float32 weights barely compress
        assert "gradients/a/kernel" in packed  # 1 KiB
        assert "predictions" in packed
        full = json.loads(f["full/packed"].attrs["index"])
        assert "weights/b/kernel" in full and f["full/packed"].compression is None
        assert "outputs/b/z" in full or f["full/outputs/b/z"].compression is None
        assert g["outputs/a/samples"].shape == (64,) and "samples" not in f["full/outputs/a"]


def test_the_full_and_default_recordings_replay_the_same_model(wide_run):
    filename, X, _, _ = wide_run
    with Replay(filename, "default") as replay, Replay(filename, "full") as full:
        np.testing.assert_allclose(replay.predict_proba(X, epoch=2), full.predictions_at(2), atol=1e-5)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(output_samples=0), ValueError, r"output_samples=0 must be a positive integer"),
    (dict(output_samples=2.5), TypeError, r"output_samples=2.5 must be a positive integer or None"),
    (dict(significant_bits=25), ValueError, r"significant_bits=25 must be at most 24"),
    (dict(compression="zip"), ValueError, r"compression='zip' must be one of \(None, 'gzip', 'lzf'\) or 'auto'"),
])
def test_bad_size_arguments(tmp_path, kwargs, error, match):
    X = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(error, match=match):
        ReplayData(X, np.zeros(4), str(tmp_path / "x.h5"), "g", **kwargs)


# -- replay fast paths --------------------------------------------------------------------------------------

def test_one_record_reads_one_record_and_a_walk_reads_the_history_once(wide_run, monkeypatch):
    filename, *_ = wide_run
    reads = []
    original = h5py.Dataset.__getitem__

    def logged(self, args, *rest, **kwargs):
        reads.append((self.name.rsplit("/", 1)[-1], args))
        return original(self, args, *rest, **kwargs)

    with h5py.File(filename, "r") as f:  # the small arrays of a record share the packed dataset
        packed = json.loads(f["full/packed"].attrs["index"])
    assert "losses" in packed
    monkeypatch.setattr(h5py.Dataset, "__getitem__", logged)
    with Replay(filename, "full") as replay:
        reads.clear()
        replay.losses_at(1)
        assert reads == [("packed", 1)]
        replay.losses_at(1)
        assert reads == [("packed", 1)]  # the same record again: the reader kept its row
        reads.clear()
        replay.losses_at(2)  # a second record: the whole history, once
        assert reads == [("packed", slice(0, 3, None))]  # records 0..2, read in one call
        reads.clear()
        for epoch in (0, 1, 2):
            replay.losses_at(epoch)
        assert reads == []
        # Too big to keep: read record by record.
        monkeypatch.setattr(Replay, "HISTORY_DATASET_LIMIT", 10)
        reads.clear()
        for epoch in (0, 1, 2):
            replay.outputs_at(epoch, "b")
        if "outputs/b/activations" in packed:  # the packed rows of every record were read above
            assert reads == []
        else:
            assert [index for _, index in reads] == [0, 1, 2]


def test_numpy_forward_equals_keras(wide_run):
    filename, X, _, _ = wide_run
    grid = np.random.default_rng(1).normal(size=(500, 6)).astype(np.float32)
    with Replay(filename, "full") as replay:
        model = replay.model_at(1)
        keras_b = keras.Model(model.inputs[0], model.get_layer("b").output)
        np.testing.assert_allclose(replay.layer_function("b")(grid), keras_b(grid), atol=1e-5)
        hidden = keras_b(grid)
        np.testing.assert_allclose(replay.tail_function("b")(hidden), model(grid), atol=1e-5)
        np.testing.assert_allclose(replay.predict_proba(grid, epoch=1), model(grid), atol=1e-5)
        # The NumPy path reads the weights at call time: it follows model_at.
        head = replay.layer_function("a")
        replay.model_at(2)
        np.testing.assert_allclose(head(grid), keras.Model(model.inputs[0], model.get_layer("a").output)(grid),
                                   atol=1e-5)


def test_a_model_of_wide_layers_only_is_probed_on_the_kept_samples_with_the_same_values(tmp_path):
    """Every layer wide: the probe runs on the 64 kept samples only, and records what the full probe gives."""
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    y = rng.integers(0, 30, size=600)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(40, activation="relu", name="a"),
                              keras.layers.Dense(30, activation="softmax", name="out")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    filename = str(tmp_path / "allwide.h5")
    default = ReplayData(X, y, filename, "default")
    full = ReplayData(X, y, filename, "full", output_samples=None, significant_bits=None, compression=None)
    model.fit(X, y, epochs=2, batch_size=64, verbose=0, callbacks=[default, full])
    assert default._subset is not False and len(default._subset[1]) == 64  # the probe saw 64 samples
    assert full._subset is False
    with Replay(filename, "default") as replay, Replay(filename, "full") as everything:
        for layer in ("a", "out"):
            rows = replay.output_rows(layer)
            assert rows.shape == (64,)
            for epoch in (0, 1, 2):
                for before in (False, True):
                    got = replay.outputs_at(epoch, layer, before_activation=before)
                    expected = everything.outputs_at(epoch, layer, before_activation=before)[rows]
                    # 11 significant bits, plus float32 rounding of a product on a smaller batch.
                    np.testing.assert_allclose(got, expected, rtol=2 * RELATIVE, atol=1e-6)
