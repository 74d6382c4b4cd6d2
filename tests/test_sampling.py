"""Which samples are recorded: stratified ``max_samples``, probe samples, several inputs (issue 12)."""

import re
import warnings

import keras
import numpy as np
import pytest

from deepreplay import sampling
from deepreplay.callbacks import ReplayData
from deepreplay.replay import Replay


def test_class_labels_are_read_from_integer_binary_and_one_hot_targets_only():
    np.testing.assert_array_equal(sampling.class_labels_or_none(np.array([2, 0, 1])), [2, 0, 1])
    np.testing.assert_array_equal(sampling.class_labels_or_none(np.array([[1.0], [0.0]])), [1, 0])
    np.testing.assert_array_equal(sampling.class_labels_or_none(np.eye(3)[[2, 0]]), [2, 0])
    assert sampling.class_labels_or_none(np.array([0.5, 1.2])) is None
    assert sampling.class_labels_or_none(np.ones((4, 2))) is None  # two columns, not one-hot
    assert sampling.class_labels_or_none(np.arange(1000)) is None  # too many distinct values


def test_max_samples_is_stratified_deterministic_and_stored_with_original_rows(tmp_path):
    # 80% / 15% / 5% classes, shuffled: a random subset of 40 could miss the rare class.
    y = np.repeat([0, 1, 2], [400, 75, 25])
    y = y[np.random.default_rng(1).permutation(len(y))]
    X = np.random.default_rng(2).normal(size=(len(y), 3)).astype(np.float32)
    first = ReplayData(X, y, tmp_path / "a.h5", "a", max_samples=40, seed=7, probe_samples=None)
    again = ReplayData(X, y, tmp_path / "a.h5", "b", max_samples=40, seed=7, probe_samples=None)
    other = ReplayData(X, y, tmp_path / "a.h5", "c", max_samples=40, seed=8, probe_samples=None)
    np.testing.assert_array_equal(first.sample_indices, again.sample_indices)
    assert not np.array_equal(first.sample_indices, other.sample_indices)
    assert len(first.sample_indices) == 40
    np.testing.assert_array_equal(np.bincount(y[first.sample_indices]), [32, 6, 2])
    np.testing.assert_array_equal(first.inputs, X[first.sample_indices])
    # Stored with the original row indices, read back by Replay.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="softmax", name="out")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(X, y, epochs=1, verbose=0, callbacks=[first])
    with Replay(tmp_path / "a.h5", "a") as replay:
        np.testing.assert_array_equal(replay.reader.sample_indices, first.sample_indices)
        np.testing.assert_array_equal(replay.targets, y[first.sample_indices])


def test_regression_targets_are_subsampled_at_random():
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.linspace(0, 1, 50).astype(np.float32) + 0.001
    data = ReplayData(X, y, "unused.h5", "r", max_samples=10, seed=0)
    expected = np.sort(np.random.default_rng(0).choice(50, size=10, replace=False))
    np.testing.assert_array_equal(data.sample_indices, expected)


def _cnn():
    model = keras.Sequential([
        keras.Input((6, 6, 1)),
        keras.layers.Conv2D(3, 3, activation="relu", name="conv"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(3, activation="softmax", name="out"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_feature_maps_are_recorded_for_one_probe_per_class_or_the_given_probes(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6, 6, 1)).astype(np.float32)
    y = np.array([2, 2, 0, 1] + [0, 1, 2] * 8 + [1, 0])
    keras.utils.set_random_seed(0)
    model = _cnn()
    filename = tmp_path / "probes.h5"
    model.fit(X, y, epochs=1, verbose=0, callbacks=[
        ReplayData(X, y, filename, "auto"),
        ReplayData(X, y, filename, "given", probe_samples=[5, 29], max_samples=10),
        ReplayData(X, y, filename, "none", probe_samples=None),
    ])
    with Replay(filename, "auto") as replay:
        np.testing.assert_array_equal(replay.probe_indices, [0, 2, 3])  # the first sample of classes 2, 0, 1
        maps = replay.outputs_at(1, "conv")
        assert maps.shape == (3, 4, 4, 3)
        np.testing.assert_array_equal(replay.output_rows("conv"), replay.probe_indices)
        head = keras.Model(replay.model_at(1).inputs[0], replay.model.get_layer("conv").output)
        np.testing.assert_allclose(maps, keras.ops.convert_to_numpy(head(X[[0, 2, 3]])), rtol=1e-6, atol=1e-6)
        assert replay.outputs_at(1, "flat").shape == (30, 48)  # not a feature map: every sample
    with Replay(filename, "given") as replay:
        rows = replay.reader.sample_indices
        assert {5, 29} <= set(rows.tolist())
        np.testing.assert_array_equal(rows[replay.probe_indices], [5, 29])
        assert replay.outputs_at(1, "conv").shape == (2, 4, 4, 3)
    with Replay(filename, "none") as replay:
        assert replay.probe_indices is None
        assert replay.outputs_at(1, "conv").shape == (30, 4, 4, 3)


@pytest.mark.parametrize("bad, error", [("some", ValueError), ([], ValueError), ([0, 99], ValueError),
                                        ([0.5], ValueError), (3, TypeError)])
def test_bad_probe_samples_are_refused_naming_the_argument(bad, error):
    with pytest.raises(error, match="probe_samples"):
        ReplayData(np.zeros((10, 2)), np.zeros(10), "unused.h5", "g", probe_samples=bad)


def test_estimate_is_within_20_percent_of_the_file_and_the_budget_warns_before_recording(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6, 6, 1)).astype(np.float32)
    y = np.arange(300) % 3
    for name, options in (("defaults", {}), ("plain", dict(compression=None, output_samples=None)),
                          ("gzip", dict(compression="gzip"))):
        keras.utils.set_random_seed(0)
        model = _cnn()
        filename = tmp_path / f"{name}.h5"
        data = ReplayData(X, y, filename, name, **options)
        estimate = data.estimate(model, epochs=3)
        assert estimate["records"] == 4
        assert estimate["bytes_per_record"] == sum(estimate["by_quantity"].values())
        assert set(estimate["by_layer"]["weights"]) == {"conv", "out"}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, y, epochs=3, batch_size=100, verbose=0, callbacks=[data])
        assert not [w for w in caught if "max_bytes" in str(w.message)]  # the default budget is 1 GiB
        size = filename.stat().st_size
        assert 0.8 <= size / estimate["total_bytes"] <= 1.2, (name, size, estimate)
    keras.utils.set_random_seed(0)
    model = _cnn()
    data = ReplayData(X, y, tmp_path / "small.h5", "budget", max_bytes=100_000)
    with warnings.catch_warnings(record=True) as caught:  # (pytest.warns would re-raise Keras' own warnings)
        warnings.simplefilter("always")
        model.fit(X, y, epochs=3, batch_size=100, verbose=0, callbacks=[data])
    budget = [str(w.message) for w in caught if "max_bytes" in str(w.message)]
    assert len(budget) == 1, budget
    assert re.search(r"max_bytes=100,000 \(97.7 KiB\).*every=.*max_samples=.*record=.*output_samples=.*compression=",
                     budget[0])
    # A small recording's sizes in a unit that shows them (it read "about 0 MiB ... of 0.0 MiB").
    assert re.search(r"will take about \d[\d,.]* KiB \(4 records of \d[\d,.]* KiB; ", budget[0]), budget[0]
    assert "0 MiB" not in budget[0] and "0.0 MiB" not in budget[0], budget[0]
    with Replay(tmp_path / "small.h5", "budget") as replay:  # warned, and recorded all the same
        assert list(replay.epochs) == [0, 1, 2, 3]


def _two_outputs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 3)).astype(np.float32)
    y = {"p": (X[:, :1] > 0).astype(np.float32), "r": X[:, :2]}
    keras.utils.set_random_seed(0)
    x = keras.Input((3,), name="x")
    h = keras.layers.Dense(4, activation="relu", name="h")(x)
    model = keras.Model(x, {"p": keras.layers.Dense(1, activation="sigmoid", name="p")(h),
                            "r": keras.layers.Dense(2, name="r")(h)})
    model.compile(optimizer="adam", loss={"p": "binary_crossentropy", "r": "mse"}, metrics={"p": ["accuracy"]})
    return X, y, model


@pytest.mark.parametrize("options", [{}, {"every": 3}, {"record": ["weights", "losses"]}, {"compression": "gzip"}])
def test_the_estimate_of_a_small_model_with_two_outputs_is_within_20_percent_of_the_file(tmp_path, options):
    """Small recordings are mostly HDF5's datasets: counted as the packed layout makes them (it was 3.5x over)."""
    X, y, model = _two_outputs()
    filename = tmp_path / "two.h5"
    data = ReplayData(X, y, filename, "two", **options)
    estimate = data.estimate(model, epochs=7)
    model.fit(X, y, epochs=7, batch_size=16, verbose=0, callbacks=[data])
    assert 0.8 <= filename.stat().st_size / estimate["total_bytes"] <= 1.2, (filename.stat().st_size, estimate)


def test_the_estimate_of_a_recording_by_steps_needs_the_steps_of_an_epoch_before_fit(tmp_path):
    """every_steps: the records depend on the steps per epoch, which fit alone knows (one was assumed: 5, not 12)."""
    X, y, model = _two_outputs()
    filename = tmp_path / "steps.h5"
    data = ReplayData(X, y, filename, "steps", every_steps=2)
    with pytest.raises(ValueError, match=r"every_steps=2 .*estimate\(model, epochs=\.\.\., steps_per_epoch=\.\.\.\)"):
        data.estimate(model, epochs=7)
    estimate = data.estimate(model, epochs=7, steps_per_epoch=3)  # 48 samples in batches of 16
    model.fit(X, y, epochs=7, batch_size=16, verbose=0, callbacks=[data])
    with Replay(filename, "steps") as replay:
        assert estimate["records"] == len(replay.epochs) == 12  # steps 0, 2, ..., 20 and the last, 21
    assert 0.8 <= filename.stat().st_size / estimate["total_bytes"] <= 1.2, (filename.stat().st_size, estimate)


def test_the_budget_check_compresses_a_record_only_when_its_worst_case_exceeds_the_budget(tmp_path, monkeypatch):
    import zlib

    calls = []
    compress = zlib.compress
    monkeypatch.setattr(zlib, "compress", lambda *a, **k: calls.append(1) or compress(*a, **k))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6, 6, 1)).astype(np.float32)
    y = np.arange(300) % 3

    def fit(name, max_bytes):
        keras.utils.set_random_seed(0)
        data = ReplayData(X, y, tmp_path / f"{name}.h5", name, compression="gzip", max_bytes=max_bytes)
        calls.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _cnn().fit(X, y, epochs=2, batch_size=100, verbose=0, callbacks=[data])
        return len(calls), [w for w in caught if "max_bytes" in str(w.message)]

    keras.utils.set_random_seed(0)
    estimate = ReplayData(X, y, tmp_path / "e.h5", "e", compression="gzip").estimate(_cnn(), epochs=2)
    # Far below the budget even uncompressed: decided without compressing anything, no warning.
    assert fit("far", 10 * estimate["total_bytes"]) == (0, [])
    # Below the budget compressed, above it at the worst case: compressed to decide, no warning.
    # (A margin of 2,000 bytes: the models' generated names, in the model config, vary in length.)
    compressed, warned = fit("close", estimate["total_bytes"] + 2000)
    assert compressed > 0 and warned == []
    # Above the budget compressed: the warning.
    compressed, warned = fit("over", estimate["total_bytes"] // 2)
    assert compressed > 0 and len(warned) == 1
