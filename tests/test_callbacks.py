"""Tests for deepreplay.callbacks.ReplayData (issue 2, "Recording").

Recorded data is checked against Keras itself through computations made here,
independently of the package: weights against ``model.get_weights()`` taken
by a callback placed after ReplayData, layer outputs against a clone of the
model given the same weights, z-values, losses and accuracy against NumPy,
gradients against ``tf.GradientTape``.
"""

import json
import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_tiny_model, tiny_data
from deepreplay.callbacks import ReplayData
from deepreplay.storage import RecordingReader

REPO = Path(__file__).resolve().parents[1]
TOL = dict(rtol=1e-5, atol=1e-5)
EPOCHS = 3
# get_weights() order of make_tiny_model(): (layer, variable) of each array.
TINY_VARIABLES = [("hidden", "kernel"), ("hidden", "bias"), ("output", "kernel"), ("output", "bias")]


# --------------------------------------------------------------------------
# Helpers (independent of deepreplay)
# --------------------------------------------------------------------------


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _bce(y, p, eps=1e-7):
    """Per-sample binary cross-entropy, as Keras defines it (clipped probabilities)."""
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)


def _snapshotter(model, snapshots):
    """A callback appending ``model.get_weights()`` after every epoch."""
    return keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))


def _group_content(filename, group):
    """Everything stored in a group: attributes and every dataset's dtype, shape and bytes."""
    out = {}
    with h5py.File(filename, "r") as f:
        g = f[group]
        out["@attrs"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in g.attrs.items()}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype.str, obj.shape, obj.chunks, np.asarray(obj[()]).tobytes())
            else:
                out[name + "/@attrs"] = dict(obj.attrs)

        g.visititems(visit)
    return out


def _binary_model(name_prefix="m", *, dropout=None, lr=0.1):
    """A small 2-8-1 model with default (globally seeded) initializers."""
    layers = [keras.Input((2,)), keras.layers.Dense(8, activation="relu", name="hidden")]
    if dropout is not None:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="output"))
    model = keras.Sequential(layers, name=name_prefix)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _iterations(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


# --------------------------------------------------------------------------
# 1-2. A recorded run checked against Keras, record by record
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The tiny model trained EPOCHS epochs with ReplayData, weights snapshotted after each epoch."""
    keras.utils.set_random_seed(1)
    X, y = tiny_data()
    model = make_tiny_model()
    filename = str(tmp_path_factory.mktemp("run") / "run.h5")
    snapshots = [model.get_weights()]  # record 0: before any update
    history = model.fit(
        X, y, epochs=EPOCHS, batch_size=16, verbose=0,
        callbacks=[ReplayData(X, y, filename, "run"), _snapshotter(model, snapshots)],
    )
    clone = keras.models.clone_model(model)
    return SimpleNamespace(X=X, y=y, model=model, clone=clone, filename=filename,
                           snapshots=snapshots, history=history.history)


def test_one_record_per_epoch_and_complete(run):
    with RecordingReader(run.filename, "run") as r:
        np.testing.assert_array_equal(r.epochs, np.arange(EPOCHS + 1))
        assert r.complete is True
        assert r.layers == ["hidden", "output"]
        assert r.attrs["planned_epochs"] == EPOCHS
        assert r.attrs["batch_size"] == 16
        assert r.attrs["loss"] == "binary_crossentropy"
        np.testing.assert_array_equal(r.inputs, run.X)
        np.testing.assert_array_equal(r.targets, run.y)
        np.testing.assert_array_equal(r.sample_indices, np.arange(len(run.X)))


def test_recorded_weights_equal_get_weights_after_each_epoch(run):
    assert len(run.snapshots) == EPOCHS + 1
    with RecordingReader(run.filename, "run") as r:
        assert r.variable_names() == {"hidden": ["bias", "kernel"], "output": ["bias", "kernel"]}
        for k, snapshot in enumerate(run.snapshots):
            weights = r.weights(k)
            for (layer, var), expected in zip(TINY_VARIABLES, snapshot):
                np.testing.assert_array_equal(weights[layer][var], expected, err_msg=f"record {k} {layer}/{var}")
    # the weights did change: the check above is not comparing constants
    assert not np.array_equal(run.snapshots[0][0], run.snapshots[-1][0])


@keras.saving.register_keras_serializable(package="test_callbacks")
class _AddsLoss(keras.layers.Layer):
    """Adds a loss on its inputs with ``add_loss`` (as a VAE's KL term would)."""

    def call(self, x):
        self.add_loss(0.1 * keras.ops.mean(keras.ops.square(x)))
        return x


@pytest.mark.parametrize("kind", ["activity_regularizer", "add_loss"])
def test_added_losses_of_a_traced_model_are_recorded_in_its_loss_and_gradients(kind, tmp_path):
    """Activity regularisers and add_loss terms are symbolic after fit traces the model: the recorded loss
    is still Keras' evaluate (loss plus added losses), and the gradients include them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 3)).astype(np.float32)
    y = (X[:, :1] > 0).astype(np.float32)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    if kind == "add_loss":
        hidden = _AddsLoss(name="adds")(keras.layers.Dense(4, activation="relu", name="hidden")(inputs))
    else:
        hidden = keras.layers.Dense(4, activation="relu", name="hidden",
                                    activity_regularizer=keras.regularizers.L2(0.05))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="output")(hidden))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    filename = str(tmp_path / "added.h5")
    model.fit(X, y, epochs=1, batch_size=8, verbose=0, callbacks=[ReplayData(X, y, filename, "g")])
    with RecordingReader(filename, "g") as r:
        evaluated = model.evaluate(X, y, batch_size=len(X), verbose=0)
        assert r.evaluation("loss")[-1] == pytest.approx(evaluated, rel=1e-5)
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.losses.binary_crossentropy(y, model(X, training=False)))
            loss = loss + sum(model.losses)
        want = tape.gradient(loss, model.get_layer("hidden").kernel)
        np.testing.assert_allclose(r.gradients(1)["hidden"]["kernel"], want.numpy(), rtol=1e-4, atol=1e-6)


def test_recorded_outputs_predictions_losses_match_keras(run):
    clone = run.clone
    hidden = keras.Model(clone.inputs[0], clone.get_layer("hidden").output)
    with RecordingReader(run.filename, "run") as r:
        for k, snapshot in enumerate(run.snapshots):
            clone.set_weights(snapshot)
            w1, b1, w2, b2 = (np.asarray(a, np.float64) for a in snapshot)
            # activations: a Keras sub-model of the clone
            np.testing.assert_allclose(r.outputs(k, "hidden"), np.asarray(hidden(run.X)), **TOL)
            np.testing.assert_allclose(r.outputs(k, "output"), np.asarray(clone(run.X)), **TOL)
            # z-values: by hand
            z1 = run.X @ w1 + b1
            z2 = np.tanh(z1) @ w2 + b2
            np.testing.assert_allclose(r.outputs(k, "hidden", "z"), z1, **TOL)
            np.testing.assert_allclose(r.outputs(k, "output", "z"), z2, **TOL)
            # predictions and per-sample losses
            p = _sigmoid(z2)
            np.testing.assert_allclose(r.predictions(k), p, **TOL)
            np.testing.assert_allclose(r.predictions(k), np.asarray(clone.predict(run.X, verbose=0)), **TOL)
            losses = _bce(run.y, p)
            assert r.losses(k).shape == (len(run.X),)
            np.testing.assert_allclose(r.losses(k), losses, **TOL)
            keras_losses = keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(run.y, clone(run.X)))
            np.testing.assert_allclose(r.losses(k), keras_losses, **TOL)
            # evaluation on the recorded samples
            assert r.evaluation("loss")[k] == pytest.approx(losses.mean(), rel=1e-5)
            assert r.evaluation("accuracy")[k] == pytest.approx(np.mean((p > 0.5) == run.y))


def test_recorded_gradients_match_gradient_tape(run):
    clone = run.clone
    with RecordingReader(run.filename, "run") as r:
        assert r.variable_names("gradients") == {"hidden": ["bias", "kernel"], "output": ["bias", "kernel"]}
        for k, snapshot in enumerate(run.snapshots):
            clone.set_weights(snapshot)
            variables = [getattr(clone.get_layer(layer), var) for layer, var in TINY_VARIABLES]
            with tf.GradientTape() as tape:
                mean_loss = tf.reduce_mean(keras.losses.binary_crossentropy(run.y, clone(run.X, training=False)))
            expected = tape.gradient(mean_loss, [v.value for v in variables])
            grads = r.gradients(k)
            for (layer, var), g in zip(TINY_VARIABLES, expected):
                np.testing.assert_allclose(grads[layer][var], g.numpy(), **TOL, err_msg=f"record {k} {layer}/{var}")
            assert any(np.abs(grads[layer][var]).max() > 1e-4 for layer, var in TINY_VARIABLES)


def test_recorded_logs_equal_keras_history(run):
    with RecordingReader(run.filename, "run") as r:
        assert set(r.log_names) == {"loss", "accuracy", "learning_rate"}
        for name in ("loss", "accuracy"):
            logged = r.log(name)
            assert np.isnan(logged[0])  # nothing is logged before training
            np.testing.assert_allclose(logged[1:], run.history[name], rtol=1e-6)
        np.testing.assert_allclose(r.log("learning_rate"), 0.1, rtol=1e-6)


# --------------------------------------------------------------------------
# 3. Recording does not disturb training; outputs are in inference mode
# --------------------------------------------------------------------------


def test_recording_does_not_change_training_with_dropout(tmp_path):
    """A seeded fit ends with the same weights with and without ReplayData.

    With Dropout in the model, a recorder that ran the model in training mode
    (or otherwise advanced a layer's random state) would change the dropout
    masks of later steps, and so the final weights.
    """
    X, y = tiny_data()

    def train(record):
        keras.utils.set_random_seed(123)
        model = _binary_model("drop_net", dropout=0.5)
        callbacks = [ReplayData(X, y, tmp_path / "drop.h5", "drop")] if record else []
        model.fit(X, y, epochs=3, batch_size=16, shuffle=True, verbose=0, callbacks=callbacks)
        return model

    plain = train(record=False)
    recorded = train(record=True)
    for a, b in zip(plain.get_weights(), recorded.get_weights()):
        np.testing.assert_array_equal(a, b)

    # recorded outputs are in inference mode: Dropout lets everything through
    w1, b1 = recorded.get_layer("hidden").get_weights()
    w2, b2 = recorded.get_layer("output").get_weights()
    h = np.maximum(X @ w1 + b1, 0)
    with RecordingReader(tmp_path / "drop.h5", "drop") as r:
        last = r.n_records - 1
        np.testing.assert_allclose(r.outputs(last, "dropout"), h, **TOL)
        np.testing.assert_allclose(r.outputs(last, "output"), _sigmoid(h @ w2 + b2), **TOL)
    # ...while in training mode the same layer would have zeroed about half of them
    dropped = np.asarray(recorded.get_layer("dropout")(h, training=True))
    assert np.mean(dropped[h > 0] == 0) > 0.2


# --------------------------------------------------------------------------
# 4. Bad input is refused before any training step
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(every=0), ValueError, r"every=0 must be a positive integer"),
    (dict(every=2.5), TypeError, r"every=2\.5 must be a positive integer"),
    (dict(every=True), TypeError, r"every=True must be a positive integer"),
    (dict(max_samples=0), ValueError, r"max_samples=0 must be a positive integer"),
    (dict(max_samples="10"), TypeError, r"max_samples='10' must be a positive integer or None"),
    (dict(record=("weights", "biases")), ValueError, r"record=.*unknown names \[\"'biases'\"\]; choose from"),
    (dict(record=()), ValueError, r"record=\(\) is empty; give at least one of"),
    (dict(record=5), TypeError, r"record=5 must be an iterable of names"),
    (dict(compression="zip"), ValueError, r"compression='zip' must be one of \(None, 'gzip', 'lzf'\)"),
    (dict(compression=9), ValueError, r"compression=9 must be one of"),
    (dict(model="x"), TypeError, r"model='x' \(str\) must be a compiled keras.Model; leave model out"),
    (dict(group_name=""), ValueError, r"group_name='' must be a non-empty string without '/'"),
    (dict(group_name="a/b"), ValueError, r"group_name='a/b' must be a non-empty string"),
    (dict(filename=3), TypeError, r"filename=3 must be a path"),
    (dict(seed="s"), TypeError, r"seed='s' must be an integer"),
])
def test_bad_arguments_are_refused_at_construction(tmp_path, kwargs, error, match):
    X, y = tiny_data(10)
    args = dict(inputs=X, targets=y, filename=tmp_path / "r.h5", group_name="g")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        ReplayData(**args)
    assert not (tmp_path / "r.h5").exists()


def test_inputs_and_targets_of_different_lengths(tmp_path):
    X, y = tiny_data(10)
    with pytest.raises(ValueError, match=r"inputs has 20 samples but targets has 19; give one target per input"):
        ReplayData(X, y[:-1], tmp_path / "r.h5", "g")
    with pytest.raises(TypeError, match=r"inputs holds strings or objects \(dtype <U1\).*StringLookup.*encoded numbers"):
        ReplayData(np.array([["a", "b"]]), y[:1], tmp_path / "r.h5", "g")
    with pytest.raises(TypeError, match=r"inputs holds strings or objects \(dtype object\)"):
        ReplayData(np.array([["good film"]], dtype=object), y[:1], tmp_path / "r.h5", "g")
    with pytest.raises(TypeError, match=r"inputs must hold numbers, got an array of dtype complex"):
        ReplayData(np.ones((1, 2), dtype=complex), y[:1], tmp_path / "r.h5", "g")


def test_inputs_that_do_not_fit_the_model_are_refused_at_fit_start(tmp_path):
    X, y = tiny_data(10)
    model = make_tiny_model()
    before = model.get_weights()
    wrong = np.concatenate([X, X[:, :1]], axis=1)  # 3 features for a 2-input model
    callback = ReplayData(wrong, y, tmp_path / "r.h5", "g")
    with pytest.raises(ValueError, match=r"inputs has samples of shape \(3,\), but the model expects \(2,\).*fit the model"):
        model.fit(X, y, epochs=2, verbose=0, callbacks=[callback])
    assert _iterations(model) == 0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "r.h5").exists()


def test_nonexistent_directory_is_refused_at_construction(tmp_path):
    X, y = tiny_data(10)
    with pytest.raises(ValueError, match=r"filename=.*no_such_dir.*the directory .* does not exist; create it first"):
        ReplayData(X, y, tmp_path / "no_such_dir" / "r.h5", "g")


def test_filename_that_is_a_directory_is_refused_before_training(tmp_path):
    X, y = tiny_data(10)
    model = make_tiny_model()
    (tmp_path / "adir.h5").mkdir()
    with pytest.raises(ValueError, match=r"adir\.h5' is a directory; give a file path"):
        model.fit(X, y, epochs=2, verbose=0, callbacks=[ReplayData(X, y, tmp_path / "adir.h5", "g")])
    assert _iterations(model) == 0


def test_read_only_directory_is_refused_before_training(tmp_path):
    """A file in a read-only directory is refused at fit start.

    When the tests run as root, ``os.access`` reports every directory as
    writable (root bypasses permission bits), so no read-only directory can be
    made here; the test then checks the other unwritable target deepreplay
    detects, a path that is a directory.
    """
    X, y = tiny_data(10)
    model = make_tiny_model()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # running as root
            target, match = locked, r"locked' is a directory"
        else:
            target, match = locked / "r.h5", r"the directory .*locked' is not writable"
        with pytest.raises(ValueError, match=match):
            model.fit(X, y, epochs=2, verbose=0, callbacks=[ReplayData(X, y, target, "g")])
        assert _iterations(model) == 0
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_existing_non_hdf5_file_is_left_untouched(tmp_path):
    X, y = tiny_data(10)
    model = make_tiny_model()
    path = tmp_path / "notes.h5"
    content = b"my precious notes\n" + bytes(range(256))
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"notes\.h5' exists but is not an HDF5 file; refusing to touch it"):
        model.fit(X, y, epochs=2, verbose=0, callbacks=[ReplayData(X, y, path, "g")])
    assert _iterations(model) == 0
    assert path.read_bytes() == content


def test_existing_group_is_refused_and_overwrite_replaces_only_it(tmp_path):
    X, y = tiny_data(10)
    filename = tmp_path / "runs.h5"
    ReplayData(X, y, filename, "a", model=make_tiny_model(seed=1))
    ReplayData(X, y, filename, "b", model=make_tiny_model(seed=2))
    a_before, b_before = _group_content(filename, "a"), _group_content(filename, "b")

    model = make_tiny_model(seed=3)
    with pytest.raises(ValueError, match=r"group_name='a' already exists in '.*runs\.h5'.*Pass overwrite=True"):
        model.fit(X, y, epochs=2, verbose=0, callbacks=[ReplayData(X, y, filename, "a")])
    assert _iterations(model) == 0
    assert _group_content(filename, "a") == a_before
    assert _group_content(filename, "b") == b_before

    model.fit(X, y, epochs=2, verbose=0, callbacks=[ReplayData(X, y, filename, "a", overwrite=True)])
    with RecordingReader(filename, "a") as r:
        np.testing.assert_array_equal(r.epochs, [0, 1, 2])
        np.testing.assert_array_equal(r.weights(2)["hidden"]["kernel"], model.get_layer("hidden").kernel.numpy())
    assert _group_content(filename, "b") == b_before
    with h5py.File(filename, "r") as f:
        assert sorted(f) == ["a", "b"]


# --------------------------------------------------------------------------
# 5. Interrupted, stopped and continued training
# --------------------------------------------------------------------------


def test_early_stopping_leaves_a_complete_shorter_recording(tmp_path):
    X, y = tiny_data(20)
    model = make_tiny_model()
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=0)
    history = model.fit(X, y, epochs=20, batch_size=16, verbose=0,
                        callbacks=[ReplayData(X, y, tmp_path / "es.h5", "es"), stop])
    ran = len(history.history["loss"])
    assert ran == 2  # stopped early: nothing improves the loss by 10
    with RecordingReader(tmp_path / "es.h5", "es") as r:
        assert r.complete is True
        np.testing.assert_array_equal(r.epochs, np.arange(ran + 1))
        assert r.attrs["planned_epochs"] == 20
        np.testing.assert_allclose(r.log("loss")[1:], history.history["loss"], rtol=1e-6)
        np.testing.assert_array_equal(r.weights(ran)["output"]["kernel"], model.get_layer("output").kernel.numpy())


class _Boom(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 3:
            raise RuntimeError("boom at epoch 3")


def test_exception_inside_fit_leaves_an_incomplete_readable_recording(tmp_path):
    X, y = tiny_data(20)
    model = make_tiny_model()
    with pytest.raises(RuntimeError, match="boom at epoch 3"):
        model.fit(X, y, epochs=10, batch_size=16, verbose=0,
                  callbacks=[ReplayData(X, y, tmp_path / "x.h5", "x"), _Boom()])
    # Keras calls no hook after the exception: the record of epoch 3 (submitted just before it) is
    # finished by the background writer thread a moment later.
    deadline = time.monotonic() + 30
    while RecordingReader(tmp_path / "x.h5", "x").n_records < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    with RecordingReader(tmp_path / "x.h5", "x") as r:
        assert r.complete is False
        np.testing.assert_array_equal(r.epochs, [0, 1, 2, 3])
        for k in range(4):
            assert set(r.weights(k)) == {"hidden", "output"}
            assert set(r.gradients(k)) == {"hidden", "output"}
            assert r.outputs(k, "hidden").shape == (40, 2)
            assert r.predictions(k).shape == (40, 1)
            assert np.isfinite(r.losses(k)).all()
        # the last record is the state training stopped in
        for (layer, var), expected in zip(TINY_VARIABLES, model.get_weights()):
            np.testing.assert_array_equal(r.weights(3)[layer][var], expected)


def test_second_fit_appends_to_the_same_recording(tmp_path):
    X, y = tiny_data(20)
    model = make_tiny_model()
    filename = tmp_path / "two.h5"
    callback = ReplayData(X, y, filename, "two")
    model.fit(X, y, epochs=3, batch_size=16, verbose=0, callbacks=[callback])
    after_first = model.get_weights()
    seen_complete = []
    peek = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen_complete.append(RecordingReader(filename, "two").complete))
    model.fit(X, y, epochs=3, batch_size=16, verbose=0, callbacks=[callback, peek])
    assert seen_complete == [False, False, False]  # running again: not complete meanwhile
    with RecordingReader(filename, "two") as r:
        np.testing.assert_array_equal(r.epochs, np.arange(7))  # 0..3 then 4..6, epoch 0 once
        assert r.complete is True
        for (layer, var), expected in zip(TINY_VARIABLES, after_first):
            np.testing.assert_array_equal(r.weights(3)[layer][var], expected)
        for (layer, var), expected in zip(TINY_VARIABLES, model.get_weights()):
            np.testing.assert_array_equal(r.weights(6)[layer][var], expected)
        assert not np.isnan(r.log("loss")[1:]).any()


# --------------------------------------------------------------------------
# 6. Initial state only
# --------------------------------------------------------------------------


def test_initial_state_only_with_a_compiled_model(tmp_path):
    X, y = tiny_data(10)
    model = make_tiny_model()
    ReplayData(X, y, tmp_path / "init.h5", "init", model=model)
    with RecordingReader(tmp_path / "init.h5", "init") as r:
        assert r.n_records == 1
        np.testing.assert_array_equal(r.epochs, [0])
        assert r.complete is True
        assert r.attrs["planned_epochs"] == 0
        for (layer, var), expected in zip(TINY_VARIABLES, model.get_weights()):
            np.testing.assert_array_equal(r.weights(0)[layer][var], expected)
        p = np.asarray(model(X))
        np.testing.assert_allclose(r.predictions(0), p, **TOL)
        np.testing.assert_allclose(r.losses(0), _bce(y, p), **TOL)
        np.testing.assert_allclose(r.log("learning_rate"), [0.1], rtol=1e-6)
    assert _iterations(model) == 0


def test_initial_state_only_with_an_uncompiled_model(tmp_path):
    X, y = tiny_data(10)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
    with pytest.raises(ValueError, match=r"model is not compiled with a loss; call model.compile\(optimizer=..., loss=...\)"):
        ReplayData(X, y, tmp_path / "init.h5", "init", model=model)
    assert not (tmp_path / "init.h5").exists()


# --------------------------------------------------------------------------
# 7. A process killed by SIGKILL leaves every earlier record readable
# --------------------------------------------------------------------------

_CHILD = """
import os, sys, time
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras
import numpy as np
from deepreplay.callbacks import ReplayData

filename = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.normal(size=(40, 2)).astype("float32")
y = (X[:, :1] * X[:, 1:] > 0).astype("float32")
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh", name="hidden"),
                          keras.layers.Dense(1, activation="sigmoid", name="output")])
model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])

def after_record(epoch, logs):
    # Records are written by a background thread while training goes on: give it time, so
    # that the kill lands between two writes, then say the record is on disk.
    time.sleep(0.3)
    print(f"recorded {epoch + 1}", flush=True)

model.fit(X, y, epochs=500, batch_size=8, verbose=0,
          callbacks=[ReplayData(X, y, filename, "killed"), keras.callbacks.LambdaCallback(on_epoch_end=after_record)])
print("finished", flush=True)
"""


def test_sigkill_between_records_leaves_a_valid_file(tmp_path):
    X, y = tiny_data(10)
    filename = tmp_path / "shared.h5"
    ReplayData(X, y, filename, "other", model=make_tiny_model())
    other_before = _group_content(filename, "other")

    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(_CHILD))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    stderr_path = tmp_path / "child.err"
    wanted, deadline = 3, time.monotonic() + 120
    seen = []
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, str(script), str(filename)], stdout=subprocess.PIPE,
                                stderr=stderr, env=env, cwd=tmp_path)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while wanted not in seen:
                if time.monotonic() > deadline:
                    pytest.fail(f"child did not record {wanted} epochs in 120 s; saw {seen}; "
                                f"stderr: {stderr_path.read_text()[-2000:]}")
                if not selector.select(timeout=1.0):
                    continue
                line = proc.stdout.readline().decode()
                if not line:
                    pytest.fail(f"child ended early (rc={proc.wait()}); saw {seen}; "
                                f"stderr: {stderr_path.read_text()[-2000:]}")
                if line.startswith("recorded "):
                    seen.append(int(line.split()[1]))
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()

    with RecordingReader(filename, "killed") as r:
        assert r.complete is False
        n = r.n_records
        assert n >= wanted + 1  # records 0..wanted at least
        np.testing.assert_array_equal(r.epochs, np.arange(n))
        for k in range(n):
            assert set(r.weights(k)) == {"hidden", "output"}
            assert set(r.gradients(k)) == {"hidden", "output"}
            for layer in ("hidden", "output"):
                assert r.outputs(k, layer).shape[0] == 40
                assert r.outputs(k, layer, "z").shape[0] == 40
            assert r.predictions(k).shape == (40, 1)
            assert np.isfinite(r.losses(k)).all()
        assert np.isfinite(r.evaluation("loss")).all()
        np.testing.assert_array_equal(r.log("learning_rate"), np.full(n, 0.01, np.float32).astype(np.float64))
    # every per-record dataset is readable for each record
    with h5py.File(filename, "r") as f:
        def read_all(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim >= 1 and obj.maxshape[0] is None:
                for k in range(n):
                    obj[k]
        f["killed"].visititems(read_all)
    assert _group_content(filename, "other") == other_before


# --------------------------------------------------------------------------
# 8. NaN and inf are recorded as they are
# --------------------------------------------------------------------------


def test_diverging_run_records_nan_without_crashing(tmp_path):
    X, y = tiny_data(20)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="relu", name="hidden"),
                              keras.layers.Dense(1, name="output")])
    model.compile(optimizer=keras.optimizers.SGD(1e6), loss="mse")
    history = model.fit(X, y, epochs=3, batch_size=16, verbose=0,
                        callbacks=[ReplayData(X, y, tmp_path / "nan.h5", "nan")])
    assert not np.isfinite(history.history["loss"]).all()
    with RecordingReader(tmp_path / "nan.h5", "nan") as r:
        assert r.complete is True
        np.testing.assert_array_equal(r.epochs, [0, 1, 2, 3])
        assert np.isfinite(r.losses(0)).all()
        assert not np.isfinite(r.losses(3)).all()
        assert not np.isfinite(r.weights(3)["hidden"]["kernel"]).all()
        for k in range(4):
            np.testing.assert_allclose(r.evaluation("loss")[k], np.mean(r.losses(k), dtype=np.float64), rtol=1e-5)
        np.testing.assert_allclose(r.log("loss")[1:], history.history["loss"], rtol=1e-6)  # NaN == NaN here


def test_huge_weights_record_infinite_losses(tmp_path):
    X, y = tiny_data(10)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="lin")])
    model.compile(optimizer="sgd", loss="mse")
    kernel = np.full((2, 1), 1e30, np.float32)
    model.get_layer("lin").set_weights([kernel, np.zeros(1, np.float32)])
    ReplayData(X, y, tmp_path / "inf.h5", "inf", model=model)
    expected = ((y - X.astype(np.float64) @ kernel) ** 2).mean(axis=1)
    with np.errstate(over="ignore"):
        expected = expected.astype(np.float32)  # beyond float32: inf
    assert np.isinf(expected).any()
    with RecordingReader(tmp_path / "inf.h5", "inf") as r:
        np.testing.assert_allclose(r.losses(0), expected, rtol=1e-5)
        assert r.evaluation("loss")[0] == np.inf
        np.testing.assert_array_equal(r.weights(0)["lin"]["kernel"], kernel)


# --------------------------------------------------------------------------
# 9. Options
# --------------------------------------------------------------------------


def test_every_records_multiples_and_the_last_epoch(tmp_path):
    X, y = tiny_data(20)
    model = make_tiny_model()
    history = model.fit(X, y, epochs=7, batch_size=16, verbose=0,
                        callbacks=[ReplayData(X, y, tmp_path / "ev.h5", "ev", every=3)])
    loss = history.history["loss"]
    with RecordingReader(tmp_path / "ev.h5", "ev") as r:
        np.testing.assert_array_equal(r.epochs, [0, 3, 6, 7])
        assert r.attrs["every"] == 3
        # the Keras logs of each recorded epoch, the last one included
        np.testing.assert_allclose(r.log("loss"), [np.nan, loss[2], loss[5], loss[6]], rtol=1e-6)
        for (layer, var), expected in zip(TINY_VARIABLES, model.get_weights()):
            np.testing.assert_array_equal(r.weights(3)[layer][var], expected)


def test_max_samples_stores_a_subset_and_its_indices(tmp_path):
    X, y = tiny_data(30)
    model = make_tiny_model()
    ReplayData(X, y, tmp_path / "ms.h5", "ms", model=model, max_samples=10)
    with RecordingReader(tmp_path / "ms.h5", "ms") as r:
        idx = r.sample_indices
        assert idx.shape == (10,)
        assert len(np.unique(idx)) == 10 and idx.min() >= 0 and idx.max() < 60
        np.testing.assert_array_equal(r.inputs, X[idx])
        np.testing.assert_array_equal(r.targets, y[idx])
        assert r.attrs["n_samples_given"] == 60
        np.testing.assert_allclose(r.predictions(0), np.asarray(model(X[idx])), **TOL)
        assert r.losses(0).shape == (10,)
        assert r.outputs(0, "hidden").shape == (10, 2)


def test_record_only_weights(tmp_path):
    X, y = tiny_data(10)
    model = make_tiny_model()
    ReplayData(X, y, tmp_path / "w.h5", "w", model=model, record=("weights",))
    with h5py.File(tmp_path / "w.h5", "r") as f:  # the small weights are packed (one dataset, see storage)
        assert set(f["w"]) == {"model_config", "inputs", "targets", "sample_indices", "epochs",
                               "scalars", "packed"}
        assert {name.split("/")[0] for name in json.loads(f["w/packed"].attrs["index"])} == {"weights"}
    with RecordingReader(tmp_path / "w.h5", "w") as r:
        assert r.quantities == ["weights"]
        assert not r.has("gradients") and not r.has("activations") and not r.has("predictions")
        np.testing.assert_array_equal(r.weights(0)["output"]["kernel"], model.get_layer("output").kernel.numpy())
        with pytest.raises(KeyError, match="predictions were not recorded"):
            r.predictions(0)


def test_gzip_compression_gives_the_same_numbers(tmp_path):
    X, y = tiny_data(20)
    model = make_tiny_model()
    filename = tmp_path / "gz.h5"
    model.fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[
        ReplayData(X, y, filename, "gz", compression="gzip"), ReplayData(X, y, filename, "plain")])
    # "plain" packs its small arrays into one dataset; gzip compresses each array in its own dataset
    with RecordingReader(filename, "gz") as gz, RecordingReader(filename, "plain") as plain:
        assert gz.variable_names() == plain.variable_names() and gz.log_names == plain.log_names
        for quantity in ("weights", "gradients"):
            for layer, variables in plain.history(quantity).items():
                for var, values in variables.items():
                    np.testing.assert_array_equal(gz.history(quantity)[layer][var], values)
        for quantity in ("predictions", "losses"):
            np.testing.assert_array_equal(gz.history(quantity), plain.history(quantity))
        for kind in ("activations", "z"):
            assert gz.output_layers(kind) == plain.output_layers(kind)
            for layer in plain.output_layers(kind):
                np.testing.assert_array_equal(gz.history(kind, layer), plain.history(kind, layer))
        for name in plain.log_names:
            np.testing.assert_array_equal(gz.log(name), plain.log(name))
    with h5py.File(filename, "r") as f:
        assert f["gz/weights/hidden/kernel"].compression == "gzip"
        assert f["gz/outputs/hidden/activations"].compression == "gzip"
        assert "weights" not in f["plain"] and f["plain/packed"].compression is None


# --------------------------------------------------------------------------
# 10. Layer coverage
# --------------------------------------------------------------------------


def test_functional_model_with_batch_norm_activation_and_dropout(tmp_path):
    X, y = tiny_data(20)
    keras.utils.set_random_seed(5)
    inp = keras.Input((2,))
    h = keras.layers.Dense(4, name="dense_in")(inp)
    h = keras.layers.BatchNormalization(name="batch_normalization")(h)
    h = keras.layers.Activation("relu", name="act")(h)
    h = keras.layers.Dropout(0.3, name="drop")(h)
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")

    def layer_weights():
        return {name: model.get_layer(name).get_weights() for name in ("dense_in", "batch_normalization", "out")}

    snapshots = [layer_weights()]
    snap = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(layer_weights()))
    model.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[ReplayData(X, y, tmp_path / "bn.h5", "bn"), snap])
    # training moved the moving statistics, so the check below sees real values
    assert not np.allclose(snapshots[0]["batch_normalization"][2], snapshots[-1]["batch_normalization"][2])

    with RecordingReader(tmp_path / "bn.h5", "bn") as r:
        assert r.layers == ["dense_in", "batch_normalization", "act", "drop", "out"]
        assert r.output_layers() == ["dense_in", "batch_normalization", "act", "drop", "out"]
        assert r.output_layers("z") == ["act", "out"]
        assert r.variable_names("gradients")["batch_normalization"] == ["beta", "gamma"]
        for k, snap_k in enumerate(snapshots):
            weights = r.weights(k)
            gamma, beta, mean, var = snap_k["batch_normalization"]
            for key, expected in zip(("gamma", "beta", "moving_mean", "moving_variance"), (gamma, beta, mean, var)):
                np.testing.assert_array_equal(weights["batch_normalization"][key], expected)
            (w, b), (wo, bo) = snap_k["dense_in"], snap_k["out"]
            np.testing.assert_array_equal(weights["dense_in"]["kernel"], w)
            dense = X @ w + b
            bn = (dense - mean) / np.sqrt(var + 1e-3) * gamma + beta  # inference mode: moving statistics
            np.testing.assert_allclose(r.outputs(k, "dense_in"), dense, **TOL)
            np.testing.assert_allclose(r.outputs(k, "batch_normalization"), bn, **TOL)
            np.testing.assert_allclose(r.outputs(k, "act", "z"), bn, **TOL)  # z of Activation = its input
            np.testing.assert_allclose(r.outputs(k, "act"), np.maximum(bn, 0), **TOL)
            np.testing.assert_allclose(r.outputs(k, "drop"), np.maximum(bn, 0), **TOL)
            z_out = np.maximum(bn, 0) @ wo + bo
            np.testing.assert_allclose(r.outputs(k, "out", "z"), z_out, **TOL)
            np.testing.assert_allclose(r.predictions(k), _sigmoid(z_out), **TOL)


def test_shared_layer_warns_and_weights_are_still_recorded(tmp_path):
    X, y = tiny_data(10)
    inp = keras.Input((2,))
    shared = keras.layers.Dense(2, activation="tanh", name="shared")
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(shared(shared(inp)))
    model = keras.Model(inp, out)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.warns(UserWarning, match=r"cannot record the outputs of these layers.*shared \(called 2 times\)"):
        ReplayData(X, y, tmp_path / "sh.h5", "sh", model=model)
    with RecordingReader(tmp_path / "sh.h5", "sh") as r:
        assert r.output_layers() == ["out"]
        kernel, bias = shared.get_weights()
        np.testing.assert_array_equal(r.weights(0)["shared"]["kernel"], kernel)
        np.testing.assert_array_equal(r.weights(0)["shared"]["bias"], bias)
        h = np.tanh(np.tanh(X @ kernel + bias) @ kernel + bias)
        wo, bo = model.get_layer("out").get_weights()
        np.testing.assert_allclose(r.predictions(0), _sigmoid(h @ wo + bo), **TOL)


# --------------------------------------------------------------------------
# Background writes
# --------------------------------------------------------------------------


class _FailingAppend:
    """Replaces a writer's ``append``: fails from record ``fail_at`` on, with a disk-full error."""

    def __init__(self, append, fail_at):
        self.append, self.fail_at, self.calls = append, fail_at, 0

    def __call__(self, **record):
        self.calls += 1
        if record["epoch"] >= self.fail_at:
            raise OSError(28, "No space left on device")
        return self.append(**record)


def test_a_failed_background_write_stops_training_with_its_error(tmp_path):
    X, y = tiny_data(20)
    model = make_tiny_model()
    callback = ReplayData(X, y, tmp_path / "x.h5", "x")
    callback._writer.append = _FailingAppend(callback._writer.append, fail_at=2)
    history = keras.callbacks.History()
    with pytest.raises(OSError, match="No space left on device"):
        model.fit(X, y, epochs=10, batch_size=16, verbose=0, callbacks=[callback, history])
    # The failed write stopped the epoch that was training (index 2) and raised at its end: not swallowed.
    assert len(history.epoch) == 2
    assert callback._write_pool is None  # the writer thread ended with the recording
    with RecordingReader(tmp_path / "x.h5", "x") as r:
        assert r.complete is False
        np.testing.assert_array_equal(r.epochs, [0, 1])
        assert set(r.weights(1)) == {"hidden", "output"}


def test_a_failed_last_write_is_raised_by_fit_and_not_marked_complete(tmp_path):
    X, y = tiny_data(20)
    callback = ReplayData(X, y, tmp_path / "x.h5", "x")
    callback._writer.append = _FailingAppend(callback._writer.append, fail_at=2)
    with pytest.raises(OSError, match="No space left on device"):
        make_tiny_model().fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    with RecordingReader(tmp_path / "x.h5", "x") as r:
        assert r.complete is False
        np.testing.assert_array_equal(r.epochs, [0, 1])


def test_every_record_is_on_disk_when_fit_returns_and_the_writer_thread_is_gone(tmp_path):
    import threading

    X, y = tiny_data(20)
    model = make_tiny_model()
    weights = []
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: weights.append(model.get_weights()))
    model.fit(X, y, epochs=6, batch_size=16, verbose=0, callbacks=[ReplayData(X, y, tmp_path / "x.h5", "x"), keep])
    assert not [t for t in threading.enumerate() if t.name.startswith("deepreplay-writer")]
    with RecordingReader(tmp_path / "x.h5", "x") as r:
        assert r.complete is True
        np.testing.assert_array_equal(r.epochs, np.arange(7))
        # Each record holds the weights of its own epoch (a snapshot, not the variables' later values).
        for k in range(1, 7):
            for (layer, var), expected in zip(TINY_VARIABLES, weights[k - 1]):
                np.testing.assert_array_equal(r.weights(k)[layer][var], expected)


def test_a_reader_sees_only_whole_records_while_records_are_written(tmp_path):
    import threading

    X, y = tiny_data(20)
    model = make_tiny_model()
    callback = ReplayData(X, y, tmp_path / "x.h5", "x")
    stop, seen, errors = threading.Event(), [], []

    def read_while_training():
        try:
            with RecordingReader(tmp_path / "x.h5", "x") as r:
                while not stop.is_set():
                    n = r.n_records
                    if n:
                        last = n - 1
                        assert np.isfinite(r.predictions(last)).all()
                        assert np.isfinite(r.weights(last)["output"]["kernel"]).all()
                        seen.append(n)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    callback.on_train_begin = _wrap_after(callback.on_train_begin, lambda: reader.start())
    reader = threading.Thread(target=read_while_training)
    try:
        model.fit(X, y, epochs=15, batch_size=4, verbose=0, callbacks=[callback])
    finally:
        stop.set()
        reader.join(timeout=30)
    assert not errors, errors
    assert seen and seen == sorted(seen) and max(seen) >= 2


def _wrap_after(method, then):
    def wrapped(*args, **kwargs):
        out = method(*args, **kwargs)
        then()
        return out
    return wrapped


# --------------------------------------------------------------------------
# Misuse refused with a clear message (issue 13)
# --------------------------------------------------------------------------


def test_one_callback_cannot_record_a_second_model(tmp_path):
    X, y = tiny_data(10)
    a, b = make_tiny_model(), make_tiny_model()
    callback = ReplayData(X, y, tmp_path / "r.h5", "g")
    a.fit(X, y, epochs=1, verbose=0, callbacks=[callback])
    with pytest.raises(ValueError, match=r"already records model .* into group 'g'.*new ReplayData"):
        b.fit(X, y, epochs=1, verbose=0, callbacks=[callback])
    assert _iterations(b) == 0
    with RecordingReader(tmp_path / "r.h5", "g") as r:
        np.testing.assert_array_equal(r.epochs, [0, 1])  # model A's records only


def test_initial_epoch_labels_records_with_true_epochs(tmp_path):
    X, y = tiny_data(10)
    model = make_tiny_model()
    model.fit(X, y, epochs=8, initial_epoch=5, verbose=0,
              callbacks=[ReplayData(X, y, tmp_path / "r.h5", "g")])
    with RecordingReader(tmp_path / "r.h5", "g") as r:
        # Record 0 is the state after 5 epochs; then Keras epochs 5, 6, 7 end with 6, 7, 8 done.
        np.testing.assert_array_equal(r.epochs, [5, 6, 7, 8])


@pytest.mark.parametrize("name", ["a\0b", ".", "..", "a/b", ""])
def test_group_names_hdf5_cannot_hold_are_refused_up_front(tmp_path, name):
    X, y = tiny_data(10)
    with pytest.raises(ValueError, match=r"group_name=.* must be a non-empty string without '/' or NUL.*HDF5 cannot hold"):
        ReplayData(X, y, tmp_path / "r.h5", name)
    assert not (tmp_path / "r.h5").exists()


def test_layer_and_metric_names_with_slashes_and_dots_round_trip(tmp_path):
    from deepreplay.replay import Replay

    X, y = tiny_data(20)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="tanh", name="."),
                              keras.layers.Dense(1, activation="sigmoid", name="out.put")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="acc/train")])
    model.fit(X, y, epochs=2, verbose=0, callbacks=[ReplayData(X, y, tmp_path / "r.h5", "g")])
    with RecordingReader(tmp_path / "r.h5", "g") as r:
        assert r.layers == [".", "out.put"]
        assert set(r.weights(1)) == {".", "out.put"}
        np.testing.assert_array_equal(r.weights(2)["."]["kernel"], model.layers[0].get_weights()[0])
        assert "acc/train" in r.log_names and "acc/train" in r.evaluation_names
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert "logs/acc%2Ftrain" in json.loads(f["g/scalars"].attrs["index"])  # one series, not a nested group
    with Replay(tmp_path / "r.h5", "g") as replay:
        assert replay.get_training_metric("acc/train").shape == (3,)


def test_overwrite_deletes_only_a_deepreplay_recording(tmp_path):
    X, y = tiny_data(10)
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f.create_group("g").create_dataset("mine", data=[1, 2, 3])
    model = make_tiny_model()
    with pytest.raises(ValueError, match=r"'g' in .* is not a deepreplay recording; overwrite=True replaces only"):
        model.fit(X, y, epochs=1, verbose=0, callbacks=[ReplayData(X, y, tmp_path / "r.h5", "g", overwrite=True)])
    assert _iterations(model) == 0
    with h5py.File(tmp_path / "r.h5", "r") as f:
        np.testing.assert_array_equal(f["g/mine"][()], [1, 2, 3])


def test_one_hot_targets_for_one_sigmoid_unit_are_refused_with_one_clear_error(tmp_path):
    """A user error (one-hot rows for a one-unit sigmoid): refused before training with the targets' error alone,
    not after a warning that the step 'records eagerly' (the eager call fails too: nothing was recorded)."""
    X, y = tiny_data(12)
    model = make_tiny_model()
    one_hot = keras.utils.to_categorical(y.astype(int), 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"targets \(shape \(\d+, 2\).*do not fit the model's loss "
                                             r"'binary_crossentropy' \(model output shape \(None, 1\)\).*"
                                             r"one target per sample \(for one-hot rows y of two classes, y\[:, 1\]"):
            model.fit(X, one_hot[:, 1:], epochs=1, verbose=0,
                      callbacks=[ReplayData(X, one_hot, tmp_path / "r.h5", "g")])
    assert [str(w.message) for w in caught if "deepreplay" in str(w.message)] == []
    assert _iterations(model) == 0


def test_sparse_labels_numbered_from_1_are_refused_with_the_way_out(tmp_path):
    X, y = tiny_data(12)
    labels = y.astype(int).ravel() + 1 + (X[:, 0] > 0)  # 1, 2 and 3 for three classes
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"do not fit the model's loss 'sparse_categorical_crossentropy'.*the labels "
                                         r"run from 1 to 3, and the 3 outputs of the model are classes 0 to 2: "
                                         r"give y - 1\)\."):
        model.fit(X, labels - 1, epochs=1, verbose=0, callbacks=[ReplayData(X, labels, tmp_path / "r.h5", "g")])
    assert _iterations(model) == 0


def test_sparse_labels_outside_the_classes_are_said_where_keras_trains_on_them(tmp_path, monkeypatch):
    """On JAX, Keras trains on labels 1..k for k classes without a word: the recording says it (here the backend's
    refusal is stood in for by a loss that accepts them, as JAX's does)."""
    X, y = tiny_data(12)
    labels = y.astype(int).ravel() + 1 + (X[:, 0] > 0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    import deepreplay.callbacks as callbacks_module

    real = callbacks_module.per_sample_loss

    def lenient(m):  # JAX's rule: an out-of-range label's one-hot row is all zeros
        def loss(y_true, y_pred):
            hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), 3)
            return -keras.ops.sum(hot * keras.ops.log(keras.ops.clip(y_pred, 1e-7, 1.0)), axis=-1)
        return loss if m is model else real(m)

    monkeypatch.setattr(callbacks_module, "per_sample_loss", lenient)
    monkeypatch.setattr(callbacks_module, "numpy_step", lambda *a, **k: None)
    with pytest.warns(UserWarning, match=r"the labels run from 1 to 3, but the 3 outputs of the model are classes "
                                         r"0 to 2: .*give y - 1"):
        model.fit(X, labels - 1, epochs=1, verbose=0, callbacks=[ReplayData(X, labels, tmp_path / "r.h5", "g")])


def test_labels_1_and_2_for_a_binary_crossentropy_are_said_before_training_and_recorded(tmp_path):
    """Keras trains on them (its loss then falls below 0): deepreplay records the run, and says why it misreads."""
    X, y = tiny_data(12)
    model = make_tiny_model()
    with pytest.warns(UserWarning, match=r"the targets run from 1 to 2, .*'binary_crossentropy'.*give y - 1"):
        model.fit(X, y + 1, epochs=1, verbose=0, callbacks=[ReplayData(X, y + 1, tmp_path / "r.h5", "g")])
    assert _iterations(model) > 0
    from deepreplay.replay import Replay

    with Replay(tmp_path / "r.h5", "g") as replay:
        assert len(replay.epochs) == 2


def test_targets_that_do_not_fit_the_loss_are_refused_before_the_group_exists(tmp_path):
    X, y = tiny_data(12)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    bad = np.zeros((len(X), 5), dtype="float32")  # 5 classes for a 3-class output
    with pytest.raises(ValueError, match=r"targets \(shape \(\d+, 5\).*do not fit the model's loss"):
        model.fit(X, keras.utils.to_categorical(y.astype(int) % 3, 3), epochs=1, verbose=0,
                  callbacks=[ReplayData(X, bad, tmp_path / "r.h5", "g")])
    assert _iterations(model) == 0
    import deepreplay.storage as storage
    assert not os.path.exists(tmp_path / "r.h5") or "g" not in storage.list_groups(tmp_path / "r.h5")
    # The retry with fitting targets is not blocked by a leftover group.
    good = keras.utils.to_categorical(y.astype(int) % 3, 3)
    model.fit(X, good, epochs=1, verbose=0, callbacks=[ReplayData(X, good, tmp_path / "r.h5", "g")])


def test_the_targets_of_a_one_key_dict_output_given_as_fit_takes_them(tmp_path):
    """A model whose output is a dict with one key, fitted on y={"p": y}: the recording failed before training
    ("'dict' object has no attribute 'shape'", said as targets that do not fit the loss)."""
    from deepreplay.replay import Replay

    X, y = tiny_data(12)
    y = y.reshape(-1, 1).astype("float32")
    inputs = keras.Input((2,))
    model = keras.Model(inputs, {"p": keras.layers.Dense(1, activation="sigmoid", name="p")(inputs)})
    model.compile(optimizer="sgd", loss={"p": "binary_crossentropy"}, metrics={"p": ["accuracy"]})
    model.fit(X, {"p": y}, epochs=1, verbose=0, callbacks=[ReplayData(X, {"p": y}, tmp_path / "r.h5", "g")])
    evaluated = model.evaluate(X, {"p": y}, batch_size=len(X), verbose=0, return_dict=True)
    with Replay(tmp_path / "r.h5", "g") as replay:
        np.testing.assert_allclose(replay.losses_at(1), keras.ops.convert_to_numpy(
            keras.losses.binary_crossentropy(y, model(X)["p"])), rtol=1e-5)
        assert replay.get_training_metric("accuracy")[-1] == pytest.approx(evaluated["accuracy"])
        assert replay.training_loss[-1] == pytest.approx(evaluated["loss"], rel=1e-5)


@keras.saving.register_keras_serializable(package="test_callbacks")
class OwnWeightModel(keras.Model):
    """A subclassed model whose build() makes a weight of its own (no layer holds it) and a layer."""

    def build(self, input_shape):
        self.w1 = self.add_weight(shape=(input_shape[-1], 3), name="w1")
        self.out = keras.layers.Dense(1, activation="sigmoid", name="out")
        self.out.build((None, 3))

    def call(self, x):
        return self.out(keras.ops.tanh(x @ self.w1))


def test_the_weights_a_model_holds_itself_are_recorded_and_replayed(tmp_path):
    """A model's own add_weight variables belong to no layer: they were not recorded, and model_at kept their
    initial values (outputs off by 0.45)."""
    from deepreplay.landscape import parameter_layout
    from deepreplay.replay import Replay

    keras.utils.set_random_seed(0)
    X, y = tiny_data(12)
    model = OwnWeightModel(name="own")
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    model.fit(X, y, epochs=1, verbose=0, callbacks=[ReplayData(X, y, tmp_path / "r.h5", "g")])
    with Replay(tmp_path / "r.h5", "g") as replay:
        np.testing.assert_array_equal(replay.weights_at(1)["own"]["w1"], keras.ops.convert_to_numpy(model.w1))
        assert replay.gradients_at(1)["own"]["w1"].shape == (2, 3)
        assert not np.array_equal(replay.weights_at(0)["own"]["w1"], replay.weights_at(1)["own"]["w1"])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(replay.model_at(1)(X)),
                                   keras.ops.convert_to_numpy(model(X)), atol=1e-6)
        assert ("own", "w1", (2, 3)) in parameter_layout(replay)


class _ExtraLoss(keras.Model):
    """A model adding a term to its loss in its own compute_loss (a VAE's KL term written that way)."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return super().compute_loss(x, y, y_pred, sample_weight, training) + 0.1


def test_a_model_with_its_own_compute_loss_is_said_to_be_recorded_with_the_compiled_loss(tmp_path):
    """Its own compute_loss changes what Keras trains on, which the records (the compiled loss, add_loss terms,
    regularisers) cannot see: the recorded loss was silently 0.1 below Keras' logs."""
    X, y = tiny_data(12)
    inputs = keras.Input((2,))
    model = _ExtraLoss(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.warns(UserWarning, match=r"deepreplay: _ExtraLoss has its own compute_loss: the recorded per-sample "
                                         r"losses, loss and gradients are those of the compiled loss "
                                         r"\('binary_crossentropy'\).*self\.add_loss"):
        ReplayData(X, y, tmp_path / "r.h5", "g", model=model)


def test_weighted_metrics_are_evaluated_with_the_given_sample_weights_under_keras_names(tmp_path):
    """Several outputs, a subset of the samples (max_samples): names as Keras logs them, values as its evaluate."""
    from deepreplay.replay import Replay

    keras.utils.set_random_seed(0)
    X, y = tiny_data()
    y = y.reshape(-1, 1).astype("float32")
    w = np.linspace(0.1, 3.0, len(y)).astype("float32")
    inp = keras.Input((2,))
    h = keras.layers.Dense(3, activation="tanh", name="hidden")(inp)
    model = keras.Model(inp, [keras.layers.Dense(1, activation="sigmoid", name="cls")(h),
                              keras.layers.Dense(1, name="reg")(h)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=["binary_crossentropy", "mse"],
                  metrics={"cls": ["accuracy"]}, weighted_metrics={"cls": ["accuracy"], "reg": "mae"})
    cb = ReplayData(X, [y, y], tmp_path / "w.h5", "w", max_samples=40, sample_weight=w)
    history = model.fit(X, [y, y], sample_weight=w, epochs=1, batch_size=len(X), verbose=0, callbacks=[cb]).history
    names = ["cls_accuracy", "cls_weighted_accuracy", "reg_mae"]
    assert sorted(k for k in history if not k.endswith("loss")) == sorted(names)
    rows = cb.sample_indices
    weighted = model.evaluate(X[rows], [y[rows], y[rows]], sample_weight=w[rows], verbose=0, return_dict=True)
    unweighted = model.evaluate(X[rows], [y[rows], y[rows]], verbose=0, return_dict=True)
    assert weighted["cls_weighted_accuracy"] != pytest.approx(unweighted["cls_weighted_accuracy"])
    with Replay(tmp_path / "w.h5", "w") as replay:
        assert replay.metric_names == names
        for name in names:
            assert replay.get_training_metric(name)[-1] == pytest.approx(weighted[name], rel=1e-5, abs=1e-6), name
    # Without sample_weight, the weighted metrics are evaluated unweighted.
    ReplayData(X, [y, y], tmp_path / "w.h5", "plain", max_samples=40, model=model)
    with Replay(tmp_path / "w.h5", "plain") as replay:
        for name in names:
            assert replay.get_training_metric(name)[-1] == pytest.approx(unweighted[name], rel=1e-5, abs=1e-6), name
    # Each output's own weights, as fit takes them (a dict by output name, or a list): each output's metrics.
    v = w[::-1].copy()
    weighted = model.evaluate(X[rows], [y[rows], y[rows]], sample_weight=[w[rows], v[rows]],
                              verbose=0, return_dict=True)
    for given in ({"cls": w, "reg": v}, [w, v]):
        ReplayData(X, [y, y], tmp_path / "w.h5", f"per_output_{type(given).__name__}", max_samples=40, model=model,
                   sample_weight=given)
        with Replay(tmp_path / "w.h5", f"per_output_{type(given).__name__}") as replay:
            for name in names:
                assert replay.get_training_metric(name)[-1] == pytest.approx(weighted[name], rel=1e-5, abs=1e-6), name
    with pytest.raises(ValueError, match=r"sample_weight names outputs \['out'\] that the model does not have"):
        ReplayData(X, [y, y], tmp_path / "x.h5", "x", model=model, sample_weight={"out": w})
    with pytest.raises(ValueError, match=r"sample_weight has shape \(3,\); give one weight per sample"):
        ReplayData(X, y, tmp_path / "x.h5", "x", sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match="negative or non-finite"):
        ReplayData(X, y, tmp_path / "x.h5", "x", sample_weight=-w)


@pytest.mark.parametrize("encoding", ["labels", "one_hot"])
def test_class_weight_weights_the_weighted_metrics_as_keras_fit_does(tmp_path, encoding):
    """The weights Keras derives from class_weight: the metric Keras logs for a one-batch fit, and evaluate's."""
    from keras.src.trainers.data_adapters.data_adapter_utils import class_weight_to_sample_weights

    from deepreplay.replay import Replay

    keras.utils.set_random_seed(0)
    X, y = tiny_data()
    labels = (np.arange(len(X)) % 3).astype("int64")
    y = labels if encoding == "labels" else keras.utils.to_categorical(labels, 3)
    class_weight = {0: 1.0, 1: 4.0, 2: 0.25}
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), metrics=["accuracy"], weighted_metrics=["accuracy"],
                  loss="sparse_categorical_crossentropy" if encoding == "labels" else "categorical_crossentropy")
    cb = ReplayData(X, y, tmp_path / "c.h5", "c", class_weight=class_weight)
    history = model.fit(X, y, class_weight=class_weight, epochs=2, batch_size=len(X), shuffle=False, verbose=0,
                        callbacks=[cb]).history
    derived = class_weight_to_sample_weights(y, class_weight)
    np.testing.assert_array_equal(cb.sample_weight, derived)
    with Replay(tmp_path / "c.h5", "c") as replay:
        weighted = replay.get_training_metric("weighted_accuracy")
        plain = replay.get_training_metric("accuracy")
        # One batch per epoch: the metrics Keras logs for epoch k+1 are those of the weights of record k.
        np.testing.assert_allclose(weighted[:2], history["weighted_accuracy"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(plain[:2], history["accuracy"], rtol=1e-5, atol=1e-6)
        assert weighted[-1] == pytest.approx(model.evaluate(X, y, sample_weight=derived, verbose=0,
                                                            return_dict=True)["weighted_accuracy"], rel=1e-5)
        assert not np.allclose(weighted, plain)
        # The per-sample losses stay unweighted: Keras' unreduced loss.
        loss = keras.losses.SparseCategoricalCrossentropy if encoding == "labels" else \
            keras.losses.CategoricalCrossentropy
        unreduced = keras.ops.convert_to_numpy(loss(reduction=None)(y, model.predict(X, verbose=0)))
        np.testing.assert_allclose(replay.losses_at(replay.epochs[-1]), unreduced, rtol=1e-5, atol=1e-6)


def test_class_weight_with_max_samples_a_sigmoid_output_and_bad_values(tmp_path):
    from deepreplay.replay import Replay

    keras.utils.set_random_seed(0)
    X, y = tiny_data()
    model = make_tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", weighted_metrics=["accuracy"])
    class_weight = {0: 0.2, 1: 3.0}
    cb = ReplayData(X, y, tmp_path / "b.h5", "b", max_samples=30, class_weight=class_weight)
    model.fit(X, y, class_weight=class_weight, epochs=1, batch_size=16, verbose=0, callbacks=[cb])
    rows = cb.sample_indices
    expected = model.evaluate(X[rows], y[rows], sample_weight=np.where(y[rows] > 0.5, 3.0, 0.2), verbose=0,
                              return_dict=True)["accuracy"]
    with Replay(tmp_path / "b.h5", "b") as replay:
        assert replay.get_training_metric("accuracy")[-1] == pytest.approx(expected, rel=1e-5)

    def refused(error, match, class_weight, targets=y, **kwargs):
        with pytest.raises(error, match=match):
            ReplayData(X, targets, tmp_path / "x.h5", "x", class_weight=class_weight, **kwargs)

    refused(TypeError, r"class_weight=\[1, 2\] \(list\) must be a dict \{class index: weight\}", [1, 2])
    refused(TypeError, r"class_weight has the key '1' \(str\); its keys must be integer class indices", {"1": 2.0})
    refused(TypeError, r"class_weight has the key 1.0 \(float\)", {1.0: 2.0})
    refused(ValueError, r"class_weight\[1\]=-2.0; give finite weights >= 0", {0: 1.0, 1: -2.0})
    refused(ValueError, r"class_weight has the key -1; class indices are 0 or more", {-1: 1.0})
    refused(ValueError, r"class_weight has the class indices \[3\], but the model has 3 classes",
            {0: 1.0, 3: 2.0}, targets=keras.utils.to_categorical(np.arange(len(X)) % 3, 3))
    refused(ValueError, r"Keras supports class_weight for models with a single output only", {0: 1.0},
            targets=[y, y])
    refused(ValueError, r"sample_weight and class_weight are both given; Keras 3's fit refuses them together",
            {0: 1.0}, sample_weight=np.ones(len(X)))
    refused(ValueError, rf"class_weight needs targets that are class labels.*shape \({len(X)}, 2, 2\)", {0: 1.0},
            targets=np.zeros((len(X), 2, 2)))
    # Integer labels: the classes are known once the model is: refused before the group is created.
    model = make_tiny_model()
    with pytest.raises(ValueError, match=r"class_weight has the class indices \[2, 5\], but the model has 2 classes"):
        ReplayData(X, y, tmp_path / "x.h5", "x", model=model, class_weight={0: 1.0, 2: 1.0, 5: 1.0})
    import deepreplay.storage as storage
    assert not os.path.exists(tmp_path / "x.h5") or "x" not in storage.list_groups(tmp_path / "x.h5")


def test_metrics_of_several_outputs_are_recorded_per_output_as_keras_logs_them(tmp_path):
    """One batch per epoch and no dropout: Keras' logged metrics of epoch k+1 are those of the weights of record k."""
    from deepreplay.replay import Replay

    keras.utils.set_random_seed(0)
    X, y = tiny_data()
    y = y.reshape(-1, 1).astype("float32")
    inp = keras.Input((2,))
    h = keras.layers.Dense(3, activation="tanh", name="hidden")(inp)
    model = keras.Model(inp, [keras.layers.Dense(1, activation="sigmoid", name="cls")(h),
                              keras.layers.Dense(1, name="reg")(h)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=["binary_crossentropy", "mse"],
                  metrics={"cls": ["accuracy", "mse"], "reg": ["mae"]})
    history = model.fit(X, [y, y], epochs=EPOCHS, batch_size=len(X), verbose=0,
                        callbacks=[ReplayData(X, [y, y], tmp_path / "two.h5", "two")]).history
    names = ["cls_accuracy", "cls_mse", "reg_mae"]
    with Replay(tmp_path / "two.h5", "two") as replay:
        assert replay.metric_names == names
        for name in names:
            np.testing.assert_allclose(replay.get_training_metric(name)[:-1], history[name], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(replay.get_log(name)[1:], history[name], rtol=1e-6)
        evaluated = model.evaluate(X, [y, y], batch_size=len(X), verbose=0, return_dict=True)
        for name in names:
            assert replay.get_training_metric(name)[-1] == pytest.approx(evaluated[name], rel=1e-5, abs=1e-6)
        # For one output, the bare metric name is that output's.
        np.testing.assert_array_equal(replay.for_output("reg").get_training_metric("mae"),
                                      replay.get_training_metric("reg_mae"))
        with pytest.raises(ValueError, match=r"metric_name='mae' was not recorded"):
            replay.get_training_metric("mae")
        # The dashboard's metric is the shown output's (accuracy first); a bare name means that output's.
        from deepreplay.dashboard import plan_dashboard

        assert plan_dashboard(replay).metric_name == "cls_accuracy"
        assert plan_dashboard(replay, metric_name="mse").metric_name == "cls_mse"
        assert plan_dashboard(replay.for_output("reg")).metric_name == "reg_mae"
        # The decision boundary draws the shown output (the classifier 'cls') of the two on its grid.
        import matplotlib.pyplot as plt

        from deepreplay.plot.common import region_grid

        _, ax = plt.subplots()
        boundary = replay.build_decision_boundary(ax, contour_points=6)
        d = boundary.data
        grid = region_grid(d.xlim, d.ylim, 6)
        p_cls = np.asarray(model.predict(grid, verbose=0)[0]).reshape(6, 6)
        np.testing.assert_allclose(d.probabilities[-1].reshape(6, 6), p_cls, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# gradient_samples: gradients on a stratified subset of many recorded samples
# --------------------------------------------------------------------------

_GRADIENT_CHILD = """
import os, sys
import keras
import numpy as np
from deepreplay.callbacks import ReplayData
from deepreplay.storage import RecordingReader

filename = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.normal(size=(300, 4)).astype("float32")
y = np.argmax(X[:, :3], axis=1).astype("int64")
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh", name="hidden"),
                          keras.layers.Dense(3, activation="softmax", name="output")])
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
sub = ReplayData(X, y, filename, "sub", model=model, gradient_samples=60)
rows = sub.gradient_rows
ReplayData(X[rows], y[rows], filename, "rows", model=model, gradient_samples=None)
ReplayData(X, y, filename, "full", model=model, gradient_samples=None)
with RecordingReader(filename, "sub") as s, RecordingReader(filename, "rows") as r, \\
        RecordingReader(filename, "full") as f:
    np.testing.assert_array_equal(s.gradient_samples, rows)
    assert f.gradient_samples is None
    differs = False
    for layer, variables in r.gradients(0).items():
        for name, expected in variables.items():
            np.testing.assert_allclose(s.gradients(0)[layer][name], expected, rtol=1e-5, atol=1e-6)
            differs |= not np.allclose(f.gradients(0)[layer][name], expected, rtol=1e-5, atol=1e-6)
    assert differs, "the subset's gradient should differ from the full batch's"
    np.testing.assert_allclose(s.predictions(0), f.predictions(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.losses(0), f.losses(0), rtol=1e-5, atol=1e-6)
    assert s.evaluation("loss")[0] == f.evaluation("loss")[0] or \\
        abs(s.evaluation("loss")[0] - f.evaluation("loss")[0]) < 1e-6
print("GRADIENT-SUBSET-OK", keras.backend.backend())
"""


def _labelled_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype("float32")
    return X, np.argmax(X[:, :3], axis=1).astype("int64")


def _softmax_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh", name="hidden"),
                              keras.layers.Dense(3, activation="softmax", name="output")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_gradient_samples_default_keeps_full_batch_gradients(run, tmp_path):
    from deepreplay.callbacks import DEFAULT_GRADIENT_SAMPLES
    from deepreplay.replay import Replay

    # The posts' networks (Part 1: 2,000 samples; BLOCK: 1,000) keep exact full-batch gradients.
    assert DEFAULT_GRADIENT_SAMPLES >= 2000
    X, y = _labelled_data(2000)
    assert ReplayData(X, y, tmp_path / "a.h5", "a").gradient_rows is None
    with RecordingReader(run.filename, "run") as r:
        assert r.gradient_samples is None
    assert Replay(run.filename, "run").gradient_indices is None
    with pytest.raises(ValueError, match="gradient_samples"):
        ReplayData(X, y, tmp_path / "a.h5", "a", gradient_samples=0)
    with pytest.raises(TypeError, match="gradient_samples"):
        ReplayData(X, y, tmp_path / "a.h5", "a", gradient_samples=2.5)


def test_gradient_samples_stratified_and_deterministic(tmp_path):
    X, y = _labelled_data(300)
    rows = ReplayData(X, y, tmp_path / "a.h5", "a", gradient_samples=60).gradient_rows
    np.testing.assert_array_equal(rows, ReplayData(X, y, tmp_path / "a.h5", "a", gradient_samples=60).gradient_rows)
    assert not np.array_equal(rows, ReplayData(X, y, tmp_path / "a.h5", "a", gradient_samples=60,
                                               seed=1).gradient_rows)
    assert len(rows) == 60 and np.all(np.diff(rows) > 0)
    shares = np.bincount(y[rows], minlength=3) / 60
    np.testing.assert_allclose(shares, np.bincount(y, minlength=3) / 300, atol=1 / 60 + 1e-9)
    # Among the recorded samples (max_samples): positions in the recorded inputs.
    callback = ReplayData(X, y, tmp_path / "a.h5", "a", max_samples=200, gradient_samples=50)
    assert callback.gradient_rows.max() < 200 and len(callback.gradient_rows) == 50


def test_gradient_samples_equal_keras_gradient_on_those_samples(tmp_path):
    """Trained 2 epochs: each record's gradients are Keras' gradient of the mean loss over exactly the
    stored rows; predictions, per-sample losses and the loss stay those of every recorded sample."""
    from deepreplay.replay import Replay

    keras.utils.set_random_seed(0)
    X, y = _labelled_data(300)
    model = _softmax_model()
    snapshots = [model.get_weights()]
    filename = str(tmp_path / "g.h5")
    model.fit(X, y, epochs=2, batch_size=32, verbose=0,
              callbacks=[ReplayData(X, y, filename, "g", gradient_samples=60), _snapshotter(model, snapshots)])
    clone = keras.models.clone_model(model)
    replay = Replay(filename, "g")
    rows = replay.gradient_indices
    assert rows is not None and len(rows) == 60
    loss = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    with RecordingReader(filename, "g") as r:
        for k, snapshot in enumerate(snapshots):
            clone.set_weights(snapshot)
            with tf.GradientTape() as tape:
                mean_loss = tf.reduce_mean(loss(y[rows], clone(X[rows], training=False)))
            variables = [(layer.name, name, v) for layer in clone.layers for name, v in
                         (("kernel", layer.kernel), ("bias", layer.bias))]
            expected = tape.gradient(mean_loss, [v.value for _, _, v in variables])
            for (layer, name, _), g in zip(variables, expected):
                np.testing.assert_allclose(r.gradients(k)[layer][name], g.numpy(), **TOL,
                                           err_msg=f"record {k} {layer}/{name}")
            predictions = clone(X, training=False).numpy()
            np.testing.assert_allclose(r.predictions(k), predictions, **TOL)
            np.testing.assert_allclose(r.losses(k), loss(y, predictions).numpy(), **TOL)
            assert r.evaluation("loss")[k] == pytest.approx(float(np.mean(loss(y, predictions))), rel=1e-5)


def test_gradient_samples_on_other_backends(tmp_path):
    """On JAX and PyTorch too (one child process each, side by side): the subset's gradients equal a
    full-batch recording of only those rows, and the predictions and losses equal a recording without a
    subset."""
    import importlib.util

    backends = [b for b in ("jax", "torch") if importlib.util.find_spec(b) is not None]
    if not backends:
        pytest.skip("neither JAX nor PyTorch is installed")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    children = {b: subprocess.Popen([sys.executable, "-c", _GRADIENT_CHILD, str(tmp_path / f"{b}.h5")],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env={**env, "KERAS_BACKEND": b}) for b in backends}
    for backend, child in children.items():
        output, _ = child.communicate(timeout=300)
        assert child.returncode == 0 and f"GRADIENT-SUBSET-OK {backend}" in output, output


def test_gradient_samples_with_several_inputs_and_outputs(tmp_path):
    """Dict inputs and outputs, BatchNormalization, an L2 penalty and loss_weights: the subset's gradients
    equal a full-batch recording of only those rows; each output's predictions and losses, and the
    evaluation, equal a recording without a subset."""
    rng = np.random.default_rng(0)
    n = 400
    X = {"a": rng.normal(size=(n, 3)).astype("float32"), "b": rng.normal(size=(n, 2)).astype("float32")}
    Y = {"cls": (X["a"][:, 0] > 0).astype("int64"), "reg": (X["a"][:, :1] + X["b"][:, :1]).astype("float32")}
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    h = keras.layers.Dense(6, activation="relu", name="h")(keras.layers.Concatenate(name="cat")([a, b]))
    h = keras.layers.BatchNormalization(name="bn")(h)
    model = keras.Model({"a": a, "b": b}, {"cls": keras.layers.Dense(2, activation="softmax", name="cls")(h),
                                           "reg": keras.layers.Dense(1, name="reg", kernel_regularizer="l2")(h)})
    model.compile("adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"]})
    filename = tmp_path / "m.h5"
    rows = ReplayData(X, Y, filename, "sub", model=model, gradient_samples=100).gradient_rows
    np.testing.assert_allclose(np.bincount(Y["cls"][rows]) / 100, np.bincount(Y["cls"]) / n, atol=0.01)
    ReplayData({k: v[rows] for k, v in X.items()}, {k: v[rows] for k, v in Y.items()}, filename, "rows",
               model=model, gradient_samples=None)
    ReplayData(X, Y, filename, "full", model=model, gradient_samples=None)
    with RecordingReader(filename, "sub") as s, RecordingReader(filename, "rows") as r, \
            RecordingReader(filename, "full") as full:
        for layer, variables in r.gradients(0).items():
            for name, expected in variables.items():
                np.testing.assert_allclose(s.gradients(0)[layer][name], expected, **TOL)
        for output in ("cls", "reg"):
            np.testing.assert_allclose(s.predictions(0, output), full.predictions(0, output), **TOL)
            np.testing.assert_allclose(s.losses(0, output), full.losses(0, output), **TOL)
        np.testing.assert_allclose(s.losses(0), full.losses(0), **TOL)
        for name in ("loss", "cls_loss", "reg_loss", "cls_accuracy"):
            assert s.evaluation(name)[0] == pytest.approx(full.evaluation(name)[0], rel=1e-5)


def test_recorded_weights_are_those_of_their_epoch_while_a_slow_write_lets_training_go_on(tmp_path, monkeypatch):
    # Each record is written while the next epochs train (the writer is slowed down here): the arrays
    # it holds must not follow the variables the optimizer updates (they are not copied on TensorFlow).
    from deepreplay import storage

    append = storage.RecordingWriter.append

    def slow_append(self, **record):
        time.sleep(0.2)
        return append(self, **record)

    monkeypatch.setattr(storage.RecordingWriter, "append", slow_append)
    X, y = tiny_data()
    model = make_tiny_model()
    snapshots = [model.get_weights()]
    snapshot = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    data = ReplayData(X, y, tmp_path / "slow.h5", "slow")
    model.fit(X, y, epochs=4, batch_size=8, verbose=0, callbacks=[data, snapshot])
    with RecordingReader(tmp_path / "slow.h5", "slow") as reader:
        assert reader.n_records == 5
        for record, expected in enumerate(snapshots):
            weights = reader.weights(record)
            for (layer, key), value in zip(TINY_VARIABLES, expected):
                np.testing.assert_array_equal(weights[layer][key], value, err_msg=f"record {record} {layer}/{key}")
    assert not np.array_equal(snapshots[0][0], snapshots[-1][0])  # training changed them


def test_the_recorded_inputs_are_the_callbacks_own(tmp_path):
    X, y = tiny_data()
    X = X.astype(np.float32)
    data = ReplayData(X, y, tmp_path / "own.h5", "own")
    before = data.inputs.copy()
    X[:] = 7.0  # the user's array changes after the callback was made
    np.testing.assert_array_equal(data.inputs, before)


def test_with_ema_the_records_hold_the_trained_weights_and_fit_returns_their_averages(tmp_path):
    """use_ema=True: model_at(k) is the model training updated at epoch k; only after the last epoch does Keras
    put the moving averages in the model (documented in the README), so the returned model differs from it."""
    from deepreplay.replay import Replay

    X, y = tiny_data(48)
    keras.utils.set_random_seed(0)
    model = make_tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.5), loss="binary_crossentropy")
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([np.array(w) for w in self.model.get_weights()])

    model.fit(X, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[ReplayData(X, y, tmp_path / "ema.h5", "ema"), Snapshot()])
    with Replay(tmp_path / "ema.h5", "ema") as replay:
        for k in (1, 2):
            replayed = replay.model_at(k).get_weights()
            assert all(np.array_equal(a, b) for a, b in zip(replayed, snapshots[k - 1]))
        final = replay.model_at(2).get_weights()
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(final, model.get_weights())) > 1e-4


def test_early_stopping_restoring_best_weights_keeps_the_last_trained_epoch_in_the_records(tmp_path):
    """EarlyStopping(restore_best_weights=True) stops after epoch 2 here (epoch 1 stays the best: min_delta is
    out of reach) and puts epoch 1's weights back after training (README): the last record holds the weights
    epoch 2 trained, and the model fit returns is model_at(1)."""
    from deepreplay.replay import Replay

    X, y = tiny_data(48)
    keras.utils.set_random_seed(0)
    model = make_tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([np.array(w) for w in self.model.get_weights()])

    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=100.0, restore_best_weights=True)
    model.fit(X, y, epochs=6, batch_size=16, verbose=0,
              callbacks=[ReplayData(X, y, tmp_path / "es.h5", "es"), Snapshot(), stop])
    with Replay(tmp_path / "es.h5", "es") as replay:
        assert list(replay.epochs) == [0, 1, 2] and replay.complete
        assert all(np.array_equal(a, b) for a, b in zip(replay.model_at(2).get_weights(), snapshots[1]))
        best = replay.model_at(1).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(best, model.get_weights()))
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(best, snapshots[1])) > 1e-4


def test_a_mixed_bfloat16_layer_is_recorded_as_float32(tmp_path):
    """mixed_bfloat16: a layer's outputs are bfloat16 arrays (ml_dtypes, NumPy kind 'V'), which HDF5 cannot
    store: the first record failed with h5py's 'no appropriate function for conversion path' and stopped fit.
    They are stored as float32, and a wide one is thinned to output_samples rows as float outputs are."""
    from deepreplay.replay import Replay

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, :1] > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(3, activation="tanh", name="narrow", dtype="mixed_bfloat16"),
                              keras.layers.Dense(128, activation="relu", name="wide", dtype="mixed_bfloat16"),
                              keras.layers.Dense(1, activation="sigmoid", name="out", dtype="float32")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ReplayData(X, y, tmp_path / "bf16.h5", "bf16", model=model)
    with Replay(tmp_path / "bf16.h5", "bf16") as replay:
        narrow = replay.outputs_at(0, "narrow")
        assert narrow.dtype == np.float32 and narrow.shape == (200, 3)
        want = keras.ops.convert_to_numpy(keras.ops.cast(model.get_layer("narrow")(X), "float32"))
        np.testing.assert_allclose(narrow, want, atol=1e-2)
        assert replay.outputs_at(0, "wide").shape == (64, 128)


def test_a_model_with_stateful_layers_is_refused_before_training_with_the_way_out(tmp_path):
    """A stateful LSTM (fixed batch size, state carried between batches): recording calls the model on the
    recorded samples, which failed deep inside LSTM.call and was reported as 'targets do not fit the loss'."""
    X = np.random.default_rng(0).normal(size=(32, 5, 3)).astype(np.float32)
    y = (X[:, 0, :1] > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((5, 3), batch_size=16),
                              keras.layers.Bidirectional(keras.layers.LSTM(2, stateful=True), name="bi"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    before = [np.array(w) for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"stateful layers \['backward_lstm', 'bi', 'forward_lstm'\].*stateful=False"):
        model.fit(X, y, epochs=1, batch_size=16, verbose=0,
                  callbacks=[ReplayData(X, y, tmp_path / "s.h5", "s")])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # refused before training
    assert not (tmp_path / "s.h5").exists()  # nothing written


@pytest.mark.parametrize("order", ["backup_first", "replay_first"])
def test_a_run_resumed_by_backup_and_restore_is_labelled_with_its_true_epochs(tmp_path, order):
    """BackupAndRestore resumes an interrupted fit at epoch 3 (it sets the epoch after fit read initial_epoch=0):
    the records were labelled 0, 1, 2. Listed before ReplayData, the records are 3 (the restored state), 4, 5;
    listed after it, the starting state was recorded before the restore: a warning says so and how to list
    them, and the trained epochs are still labelled 4, 5."""
    from deepreplay.replay import Replay

    X, y = tiny_data(32)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("interrupted")

    backup = str(tmp_path / "backup")
    model = make_tiny_model()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(X, y, epochs=5, batch_size=16, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(backup), Interrupt()])
    model = make_tiny_model()
    restore, record = keras.callbacks.BackupAndRestore(backup), ReplayData(X, y, tmp_path / "r.h5", "r")
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([np.array(w) for w in self.model.get_weights()])

    callbacks = [restore, record] if order == "backup_first" else [record, restore]
    if order == "backup_first":
        history = model.fit(X, y, epochs=5, batch_size=16, verbose=0, callbacks=[*callbacks, Snapshot()])
    else:
        with pytest.warns(UserWarning, match="fit resumed at epoch 3 after ReplayData had recorded the starting "
                                             "state as epoch 0.*List ReplayData after BackupAndRestore"):
            history = model.fit(X, y, epochs=5, batch_size=16, verbose=0, callbacks=[*callbacks, Snapshot()])
    assert history.epoch == [3, 4]
    with Replay(tmp_path / "r.h5", "r") as replay:
        assert list(replay.epochs) == ([3, 4, 5] if order == "backup_first" else [0, 4, 5])
        assert all(np.array_equal(a, b) for a, b in zip(replay.model_at(5).get_weights(), snapshots[-1]))
