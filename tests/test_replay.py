"""Tests for deepreplay.replay.Replay, the reader of a recording.

The first part checks replay correctness against Keras itself: a model is
trained with ``ReplayData`` and ``keras.callbacks.ModelCheckpoint`` side by
side, and what ``Replay`` gives at epoch k must equal what the model
checkpointed at epoch k computes.  The second part checks the reader's
behaviour on bad files, bad arguments, incomplete recordings and models that
need code or custom objects.
"""

import json
import re
import shutil
import warnings

import h5py
import keras
import numpy as np
import pytest

from deepreplay import compute, storage
from deepreplay.callbacks import ReplayData
from deepreplay.datasets import parabola
from deepreplay.replay import Replay

ATOL = 1e-5
N_EPOCHS = 5


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------
def _compile(model):
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def build_sequential():
    return _compile(keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(2, activation="tanh", name="hidden",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=1)),
        keras.layers.Dense(1, activation="sigmoid", name="output",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=2)),
    ]))


def build_functional():
    inputs = keras.Input((2,), name="features")
    hidden = keras.layers.Dense(2, activation="tanh", name="hidden",
                                kernel_initializer=keras.initializers.GlorotNormal(seed=3))(inputs)
    output = keras.layers.Dense(1, activation="sigmoid", name="output",
                                kernel_initializer=keras.initializers.GlorotNormal(seed=4))(hidden)
    return _compile(keras.Model(inputs, output, name="functional_2_2_1"))


BUILDERS = {"sequential": build_sequential, "functional": build_functional}


def _np(value):
    return np.asarray(keras.ops.convert_to_numpy(value))


# --------------------------------------------------------------------------
# A run recorded by ReplayData and checkpointed by Keras, side by side
# --------------------------------------------------------------------------
class CheckpointedRun:
    """A 5-epoch run: its recording, open as ``replay``, and its Keras checkpoints."""

    def __init__(self, kind, tmp_path):
        self.kind = kind
        self.tmp_path = tmp_path
        keras.utils.set_random_seed(0)
        self.X, self.y = parabola.load_data(n_points=50)
        model = BUILDERS[kind]()
        model.save_weights(str(tmp_path / "ep00.weights.h5"))  # epoch 0: before any update
        checkpoint = keras.callbacks.ModelCheckpoint(
            filepath=str(tmp_path / "ep{epoch:02d}.weights.h5"), save_weights_only=True, save_freq="epoch"
        )
        self.filename = str(tmp_path / "run.h5")
        model.fit(self.X, self.y, epochs=N_EPOCHS, batch_size=16, shuffle=True, verbose=0,
                  callbacks=[ReplayData(self.X, self.y, self.filename, kind), checkpoint])
        self.replay = Replay(self.filename, kind)
        self._models = {}

    def checkpoint(self, epoch):
        """A fresh model built like the trained one, with the weights Keras saved after ``epoch``."""
        if epoch not in self._models:
            model = BUILDERS[self.kind]()
            model.load_weights(str(self.tmp_path / f"ep{epoch:02d}.weights.h5"))
            self._models[epoch] = model
        return self._models[epoch]


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def run(request, tmp_path_factory):
    kind = request.param
    run = CheckpointedRun(kind, tmp_path_factory.mktemp(f"ckpt_{kind}"))
    yield run
    run.replay.close()


def test_recording_matches_the_run(run):
    replay = run.replay
    assert replay.complete
    np.testing.assert_array_equal(replay.epochs, np.arange(N_EPOCHS + 1))
    np.testing.assert_array_equal(replay.inputs, run.X)
    np.testing.assert_array_equal(replay.targets, run.y)
    assert [replay.record_index(k) for k in range(N_EPOCHS + 1)] == list(range(N_EPOCHS + 1))


@pytest.mark.parametrize("epoch", [0, 2, N_EPOCHS])
def test_replay_matches_checkpointed_model_on_recorded_samples(run, epoch):
    replay, X, y = run.replay, run.X, run.y
    ckpt = run.checkpoint(epoch)
    record = replay.record_index(epoch)

    expected = ckpt.predict(X, batch_size=len(X), verbose=0)
    assert replay.predictions_at(epoch).shape == (len(X), 1)
    np.testing.assert_allclose(replay.predictions_at(epoch), expected, atol=ATOL)
    np.testing.assert_allclose(replay.predict_proba(epoch=epoch), expected, atol=ATOL)
    # Recomputed from the rebuilt model, not read back from the file.
    np.testing.assert_allclose(replay.predict_proba(X, epoch=epoch), expected, atol=ATOL)

    expected_losses = _np(keras.losses.binary_crossentropy(y, expected))
    assert replay.losses_at(epoch).shape == (len(X),)
    np.testing.assert_allclose(replay.losses_at(epoch), expected_losses, atol=ATOL)

    evaluated = ckpt.evaluate(X, y, batch_size=len(X), return_dict=True, verbose=0)
    np.testing.assert_allclose(replay.training_loss[record], evaluated["loss"], atol=ATOL)
    np.testing.assert_allclose(replay.get_training_metric("accuracy")[record], evaluated["accuracy"], atol=ATOL)

    # Weights, and the hidden layer's recorded z-values and activations.
    kernel, bias = ckpt.get_layer("hidden").get_weights()
    weights = replay.weights_at(epoch)
    np.testing.assert_allclose(weights["hidden"]["kernel"], kernel, atol=ATOL)
    np.testing.assert_allclose(weights["hidden"]["bias"], bias, atol=ATOL)
    z = X @ kernel + bias
    np.testing.assert_allclose(replay.outputs_at(epoch, "hidden", before_activation=True), z, atol=ATOL)
    np.testing.assert_allclose(replay.outputs_at(epoch, "hidden"), np.tanh(z), atol=ATOL)


def test_replay_epochs_are_not_shifted(run):
    """Epoch k of the replay is checkpoint k, not k - 1 or k + 1 (training did move the weights)."""
    predictions = [_np(run.checkpoint(k)(run.X, training=False)) for k in range(N_EPOCHS + 1)]
    for k in range(N_EPOCHS + 1):
        replayed = run.replay.predict_proba(epoch=k)
        for j in range(N_EPOCHS + 1):
            distance = np.max(np.abs(replayed - predictions[j]))
            if j == k:
                assert distance < ATOL
            else:
                assert distance > 1e-3, f"epoch {k} of the replay looks like checkpoint {j}"


GRID = compute.make_grid((-1, 1), (-1, 1), 50)[2]


@pytest.mark.parametrize("epoch", [0, 2, N_EPOCHS])
def test_replay_matches_checkpointed_model_on_a_grid(run, epoch):
    assert GRID.shape == (2500, 2)
    ckpt = run.checkpoint(epoch)
    ckpt_hidden = _np(keras.Model(ckpt.inputs[0], ckpt.get_layer("hidden").output)(GRID, training=False))
    ckpt_output = _np(ckpt(GRID, training=False))
    replay = run.replay

    replay.model_at(epoch)
    hidden = replay.layer_function("hidden")(GRID)
    assert hidden.shape == (2500, 2)
    np.testing.assert_allclose(hidden, ckpt_hidden, atol=ATOL)

    probabilities = replay.predict_proba(GRID, epoch=epoch)
    np.testing.assert_allclose(probabilities, ckpt_output, atol=ATOL)
    np.testing.assert_array_equal(probabilities > 0.5, ckpt_output > 0.5)

    # The rest of the network, fed the checkpointed hidden outputs.
    np.testing.assert_allclose(replay.tail_function("hidden")(ckpt_hidden), ckpt_output, atol=ATOL)
    # After the output layer there is nothing: the tail is the identity.
    np.testing.assert_allclose(replay.tail_function("output")(ckpt_output), ckpt_output, atol=ATOL)


def test_layer_and_tail_functions_follow_model_at(run):
    """Functions made at one epoch use the weights of the latest model_at call (documented)."""
    replay = run.replay
    replay.model_at(0)
    head = replay.layer_function("hidden")
    tail = replay.tail_function("hidden")
    at_0 = tail(head(GRID))
    replay.model_at(N_EPOCHS)
    at_last = tail(head(GRID))
    np.testing.assert_allclose(at_0, _np(run.checkpoint(0)(GRID, training=False)), atol=ATOL)
    np.testing.assert_allclose(at_last, _np(run.checkpoint(N_EPOCHS)(GRID, training=False)), atol=ATOL)
    assert np.max(np.abs(at_last - at_0)) > 1e-3


# --------------------------------------------------------------------------
# Opening: missing files and groups, foreign files, newer formats
# --------------------------------------------------------------------------
def test_preprocessing_layers_adapted_to_data_replay_as_trained(tmp_path):
    """An adapted Normalization derives its mean and variance from its variables (finalize_state): model_at
    and the loss landscape's model must refresh them, or every replayed output is off."""
    from deepreplay.landscape import LossEvaluator

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(40, 3)) * 3 + 1).astype(np.float32)
    y = (X[:, :1] > 1).astype(np.float32)
    norm = keras.layers.Normalization(name="norm")
    norm.adapt(X)
    model = keras.Sequential([keras.Input((3,)), norm, keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    filename = str(tmp_path / "norm.h5")
    ReplayData(X, y, filename, "norm", model=model)
    with Replay(filename, "norm") as replay:
        want = keras.ops.convert_to_numpy(model(X))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(replay.model_at(0)(X)), want, rtol=1e-6)
        np.testing.assert_allclose(replay.predict_proba(X=X, epoch=0), want, rtol=1e-6)
        surface = LossEvaluator(replay, epoch=0)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(surface.model(X)), want, rtol=1e-6)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="Keras' lookup layers do not run inside a JAX model")
def test_lookup_layers_adapted_to_data_replay_with_their_vocabulary(tmp_path):
    """An adapted IntegerLookup keeps its vocabulary in a lookup table, not in its config (Keras saves it as an
    asset): the model rebuilt from the recorded config failed at its first call ('Table not initialized')."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 12, size=(40, 3)).astype("int64") * 3
    y = (X[:, :1] % 2).astype(np.float32)
    counts = keras.layers.IntegerLookup(name="counts", output_mode="tf_idf", max_tokens=20, pad_to_max_tokens=True)
    counts.adapt(X)
    ids = keras.layers.IntegerLookup(name="ids")
    ids.adapt(X[:, 1:])
    inputs = keras.Input((3,), dtype="int64")
    embedded = keras.layers.Flatten(name="flat")(keras.layers.Embedding(ids.vocabulary_size(), 2, name="emb")(ids(inputs)))
    hidden = keras.layers.Concatenate(name="concat")([counts(inputs), embedded])
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(hidden))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    filename = str(tmp_path / "lookup.h5")
    ReplayData(X, y, filename, "lookup", model=model)
    with Replay(filename, "lookup") as replay:
        want = keras.ops.convert_to_numpy(model(X))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(replay.model_at(0)(X)), want, rtol=1e-6)
        np.testing.assert_allclose(replay.outputs_at(0, "counts"), keras.ops.convert_to_numpy(counts(X)), rtol=1e-6)


@keras.saving.register_keras_serializable(package="test_replay")
class _Unnamed(keras.layers.Layer):
    """A custom layer whose weights are made without names, as many tutorials write them."""

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1], 2))
        self.b = self.add_weight(shape=(2,), initializer="ones")

    def call(self, x):
        return keras.ops.tanh(keras.ops.matmul(x, self.w) + self.b)


def test_weights_made_without_names_replay_in_the_process_that_recorded_them(tmp_path):
    """Keras names unnamed variables from one counter per process ('variable_7'): rebuilt to replay, the same
    weights get other names, and model_at left them at their initial values (silently wrong outputs)."""
    X, y = parabola.load_data(n_points=20)
    model = keras.Sequential([keras.Input((2,)), _Unnamed(name="custom"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    filename = str(tmp_path / "unnamed.h5")
    model.fit(X, y, epochs=2, verbose=0, callbacks=[ReplayData(X, y, filename, "run")])
    with Replay(filename, "run") as replay:
        assert sorted(replay.weights_at(2)["custom"]) == ["variable", "variable_1"]
        replayed = replay.model_at(2)
        assert [v.name for v in replayed.weights[:2]] != [v.name for v in model.weights[:2]]  # renamed
        np.testing.assert_allclose(_np(replayed(X)), _np(model(X)), atol=ATOL)
        np.testing.assert_allclose(replay.predictions_at(2), _np(model(X)), atol=ATOL)


@keras.saving.register_keras_serializable(package="test_replay")
class UnnamedBlock(keras.layers.Layer):
    """A user layer whose sublayers have no names, one of them a Sequential of unnamed layers."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ffn = keras.Sequential([keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3)])
        self.norm = keras.layers.LayerNormalization()

    def call(self, x):
        return self.norm(x + self.ffn(x))


@keras.saving.register_keras_serializable(package="test_replay")
class UnnamedNet(keras.Model):
    """A subclassed model as tutorials write it: no sublayer is named."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Dense(3, activation="tanh")
        self.block = UnnamedBlock()
        self.last = keras.layers.Dense(1, activation="sigmoid")

    def call(self, x):
        return self.last(self.block(self.first(x)))


def test_unnamed_sublayers_of_a_subclassed_model_replay_whatever_keras_numbers_them(tmp_path):
    """Keras numbers unnamed layers from one counter per process and class: rebuilt to replay, the model's
    'dense_2' was 'dense_5', so model_at kept its initial weights for them (silently wrong outputs), and a
    recorded layer could not be found. They are matched by rank among their siblings."""
    from deepreplay.landscape import LossEvaluator

    keras.Sequential([keras.Input((2,)), keras.layers.Dense(2), keras.layers.Dense(2)])  # an earlier cell's model
    X, y = parabola.load_data(n_points=20)
    model = UnnamedNet()
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    filename = str(tmp_path / "unnamed_layers.h5")
    ReplayData(X, y, filename, "run", model=model)
    with Replay(filename, "run") as replay:
        assert model.first.name in replay.layer_names  # 'dense_N': numbered after the earlier model's
        want = _np(model(X))
        np.testing.assert_allclose(_np(replay.model_at(0)(X)), want, atol=ATOL)
        np.testing.assert_allclose(replay.layer_function(model.first.name)(X), _np(model.first(X)), atol=ATOL)
        np.testing.assert_allclose(_np(LossEvaluator(replay, epoch=0).model(X)), want, atol=ATOL)


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "no_such_recording.h5"
    with pytest.raises(FileNotFoundError, match=r"replay_filename=.*no_such_recording\.h5.*does not exist"):
        Replay(missing, "run")


def test_file_that_is_not_hdf5(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not an HDF5 file")
    with pytest.raises(ValueError, match=r"notes\.h5.*not an HDF5 file"):
        Replay(text, "run")


def test_missing_group_lists_existing_groups(tiny_recording):
    filename, group, _, _ = tiny_recording
    with pytest.raises(ValueError, match=re.escape(f"group_name='nope' is not in {filename!r}; the file has groups ['{group}']")):
        Replay(filename, "nope")


def test_group_that_is_not_a_recording(tiny_recording, tmp_path):
    filename = str(tmp_path / "copy.h5")
    shutil.copy(tiny_recording[0], filename)
    with h5py.File(filename, "a") as f:
        f.create_group("other").attrs["format"] = "something-else"
    with pytest.raises(ValueError, match=r"group 'other'.*is not a deepreplay recording.*'something-else'"):
        Replay(filename, "other")


def test_newer_format_version_says_to_upgrade(tiny_recording, tmp_path):
    filename = str(tmp_path / "copy.h5")
    shutil.copy(tiny_recording[0], filename)
    group = tiny_recording[1]
    with h5py.File(filename, "a") as f:
        f[group].attrs["format_version"] = storage.FORMAT_VERSION + 1
    with pytest.raises(storage.RecordingError, match=rf"format version {storage.FORMAT_VERSION + 1}.*up to "
                                                     rf"{storage.FORMAT_VERSION}.*Upgrade deepreplay"):
        Replay(filename, group)
    assert issubclass(storage.RecordingError, ValueError)


# --------------------------------------------------------------------------
# Models that need code (Lambda) or custom objects
# --------------------------------------------------------------------------
def test_lambda_model_needs_safe_mode_false(tmp_path):
    keras.utils.set_random_seed(0)
    X, y = parabola.load_data(n_points=20)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(2, name="hidden"),
        keras.layers.Lambda(lambda t: t * 2.0, name="double"),
        keras.layers.Dense(1, "sigmoid", name="output"),
    ])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    filename = str(tmp_path / "lambda.h5")
    model.fit(X, y, epochs=2, verbose=0, callbacks=[ReplayData(X, y, filename, "lambda")])

    with Replay(filename, "lambda") as replay:
        # What was recorded is readable without rebuilding the model ...
        assert replay.predictions_at(2).shape == (len(X), 1)
        # ... but rebuilding it, which would run stored code, is refused.
        with pytest.raises(ValueError, match=r"Lambda layer.*Replay\(\.\.\., safe_mode=False\)"):
            replay.model_at(2)
        with pytest.raises(ValueError, match=r"safe_mode=False"):
            replay.predict_proba(X, epoch=1)

    with Replay(filename, "lambda", safe_mode=False) as replay:
        for epoch in (0, 2):
            np.testing.assert_allclose(replay.predict_proba(X, epoch=epoch), replay.predictions_at(epoch), atol=ATOL)
            hidden = replay.outputs_at(epoch, "hidden")
            np.testing.assert_allclose(replay.layer_function("double")(X), 2.0 * hidden, atol=ATOL)
            np.testing.assert_allclose(replay.tail_function("hidden")(hidden), replay.predictions_at(epoch), atol=ATOL)


@keras.saving.register_keras_serializable(package="deepreplay_tests")
class HalfDense(keras.layers.Dense):
    """A Dense layer whose output is halved: replaying it as a plain Dense would be wrong."""

    def call(self, inputs):
        return super().call(inputs) * 0.5


HALF_DENSE_KEY = "deepreplay_tests>HalfDense"


@pytest.fixture
def custom_recording(tmp_path):
    keras.utils.set_random_seed(0)
    X, y = parabola.load_data(n_points=20)
    model = keras.Sequential([
        keras.Input((2,)),
        HalfDense(2, activation="tanh", name="hidden"),
        keras.layers.Dense(1, "sigmoid", name="output"),
    ])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    filename = str(tmp_path / "custom.h5")
    model.fit(X, y, epochs=1, verbose=0, callbacks=[ReplayData(X, y, filename, "custom")])
    return filename, X


def test_custom_layer_registered_replays(custom_recording):
    filename, X = custom_recording
    with Replay(filename, "custom") as replay:
        assert isinstance(replay.model_at(1).get_layer("hidden"), HalfDense)
        np.testing.assert_allclose(replay.predict_proba(X, epoch=1), replay.predictions_at(1), atol=ATOL)


def test_custom_layer_unknown_names_custom_objects(custom_recording, monkeypatch):
    filename, X = custom_recording
    monkeypatch.delitem(keras.saving.get_custom_objects(), HALF_DENSE_KEY)  # as in a fresh process
    with Replay(filename, "custom") as replay:
        with pytest.raises(ValueError, match=re.escape(f"custom_objects={{'{HALF_DENSE_KEY}': ...}}")):
            replay.model_at(0)
    with Replay(filename, "custom", custom_objects={HALF_DENSE_KEY: HalfDense}) as replay:
        assert isinstance(replay.model_at(1).get_layer("hidden"), HalfDense)
        np.testing.assert_allclose(replay.predict_proba(X, epoch=1), replay.predictions_at(1), atol=ATOL)


def scaled_tanh(x):
    """A custom activation, not registered: stored by its name only (as JaxLayer's call_fn and init_fn)."""
    return 1.5 * keras.ops.tanh(x)


def test_unregistered_function_is_named_with_the_way_out(tmp_path):
    """A plain function in the model (a custom activation, JaxLayer's call_fn) that Keras cannot find: the error
    and the dashboard's note name it and the way out in a line, not Keras' message holding the whole config."""
    from deepreplay.dashboard import model_problem

    X, y = parabola.load_data(n_points=20)
    inputs = keras.Input((2,))  # functional: its config's '__keras_tensor__' markers are not objects either
    hidden = keras.layers.Dense(3, activation=scaled_tanh, name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="output")(hidden))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    filename = str(tmp_path / "function.h5")
    model.fit(X, y, epochs=1, verbose=0, callbacks=[ReplayData(X, y, filename, "run")])
    with Replay(filename, "run") as replay:
        assert replay.missing_custom_objects() == ["scaled_tanh"]
        with pytest.raises(ValueError, match=re.escape("custom_objects={'scaled_tanh': ...}")):
            replay.model_at(0)
        note = model_problem(replay)
        assert "['scaled_tanh']" in note and "--import" in note and len(note) < 300, note
    with Replay(filename, "run", custom_objects={"scaled_tanh": scaled_tanh}) as replay:
        assert replay.missing_custom_objects() == []
        np.testing.assert_allclose(replay.predict_proba(X, epoch=1), replay.predictions_at(1), atol=ATOL)


@keras.saving.register_keras_serializable(package="test_replay")
class _RecordingBackendOnly(keras.layers.Dense):
    """Stands for a layer only one backend runs (TorchModuleWrapper elsewhere fails with a RuntimeError)."""

    refuse = False

    def __init__(self, *args, **kwargs):
        if _RecordingBackendOnly.refuse:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")
        super().__init__(*args, **kwargs)


def test_a_layer_of_the_recording_backend_only_says_where_to_replay(tmp_path, monkeypatch):
    X, y = parabola.load_data(n_points=20)
    model = keras.Sequential([keras.Input((2,)), _RecordingBackendOnly(2, name="hidden"),
                              keras.layers.Dense(1, activation="sigmoid", name="output")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    filename = str(tmp_path / "other.h5")
    ReplayData(X, y, filename, "run", model=model)
    monkeypatch.setattr(_RecordingBackendOnly, "refuse", True)  # as on another backend
    with Replay(filename, "run") as replay:  # on the recording's backend: the layer's own error
        with pytest.raises(ValueError, match="(?s)cannot rebuild the model of 'run' from its stored config.*grad"):
            replay.model_at(0)
    with h5py.File(filename, "a") as f:
        f["run"].attrs["backend"] = "torch"
    with Replay(filename, "run") as replay:
        with pytest.raises(ValueError, match=r"RuntimeError: Can't call.*recorded on torch.*KERAS_BACKEND=torch"):
            replay.model_at(0)


def test_unknown_class_in_stored_config_names_it(tiny_recording, tmp_path):
    filename = str(tmp_path / "copy.h5")
    shutil.copy(tiny_recording[0], filename)
    group = tiny_recording[1]
    with h5py.File(filename, "a") as f:
        config = json.loads(f[group]["model_config"][()])
        hidden = next(layer for layer in config["config"]["layers"] if layer["config"].get("name") == "hidden")
        hidden.update(class_name="MysteryDense", module="private_lab.layers", registered_name=None)
        del f[group]["model_config"]
        f[group].create_dataset("model_config", data=json.dumps(config))
    with Replay(filename, group) as replay:
        with pytest.raises(ValueError, match=r"needs custom objects \['MysteryDense'\].*custom_objects="):
            replay.model_at(0)


# --------------------------------------------------------------------------
# Incomplete recordings and unrecorded epochs
# --------------------------------------------------------------------------
class _StopAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise RuntimeError("simulated crash")


def test_a_replay_opened_while_training_stays_one_snapshot_as_records_are_added(tmp_path):
    """Opened at epoch 1 of 4: its per-record series keep its records' length (the loss curve indexed them with
    the epochs of opening and raised IndexError once the writer had added records)."""
    import matplotlib.pyplot as plt

    keras.utils.set_random_seed(0)
    X, y = parabola.load_data(n_points=20)
    model = build_sequential()
    filename = str(tmp_path / "live.h5")
    opened = []

    class OpenWhileTraining(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                with pytest.warns(UserWarning, match=r"is incomplete \(training is still running, or did not end"):
                    opened.append(Replay(filename, "live"))

    model.fit(X, y, epochs=4, verbose=0, callbacks=[ReplayData(X, y, filename, "live"), OpenWhileTraining()])
    with opened[0] as replay:
        n = len(replay.epochs)
        assert 1 <= n < 5 and replay.reader.n_records == 5  # the file has grown since
        for series in (replay.training_loss, replay.get_training_metric("accuracy"), replay.get_log("loss"),
                       replay.learning_rate, replay.epoch_fractions):
            assert len(series) == n
        fig, ax = plt.subplots()
        replay.build_loss_and_metric(ax, "accuracy").plot(int(replay.epochs[-1]))


def test_incomplete_recording_warns_and_replays(tmp_path):
    keras.utils.set_random_seed(0)
    X, y = parabola.load_data(n_points=20)
    model = build_sequential()
    filename = str(tmp_path / "crash.h5")
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(X, y, epochs=5, verbose=0, callbacks=[ReplayData(X, y, filename, "crash"), _StopAtEpoch(2)])

    with pytest.warns(UserWarning, match=r"'crash'.*is incomplete.*3 records.*up to epoch 2"):
        replay = Replay(filename, "crash")
    with replay:
        assert not replay.complete
        np.testing.assert_array_equal(replay.epochs, [0, 1, 2])
        for epoch in (0, 2):
            assert replay.predictions_at(epoch).shape == (len(X), 1)
            np.testing.assert_allclose(replay.predict_proba(X, epoch=epoch), replay.predictions_at(epoch), atol=ATOL)
        # The model still holds the weights of epoch 2 (the crash came after it was recorded).
        np.testing.assert_allclose(replay.predict_proba(epoch=2), model.predict(X, verbose=0), atol=ATOL)
        with pytest.raises(ValueError, match=r"epoch=3 was not recorded; recorded epochs: 0\.\.2"):
            replay.predictions_at(3)


@pytest.fixture(scope="module")
def every2_recording(tmp_path_factory):
    """Epochs 0, 2, 4 and 5 of a 5-epoch run (every=2, the last epoch always)."""
    keras.utils.set_random_seed(0)
    X, y = parabola.load_data(n_points=20)
    filename = str(tmp_path_factory.mktemp("every2") / "every2.h5")
    build_sequential().fit(X, y, epochs=5, verbose=0,
                           callbacks=[ReplayData(X, y, filename, "every2", every=2)])
    return filename, "every2"


def test_unrecorded_epoch_lists_recorded_epochs(every2_recording):
    with Replay(*every2_recording) as replay:
        np.testing.assert_array_equal(replay.epochs, [0, 2, 4, 5])
        message = re.escape("epoch=3 was not recorded; recorded epochs: 0, 2, 4, 5")
        for read in (replay.predictions_at, replay.losses_at, replay.weights_at, replay.model_at):
            with pytest.raises(ValueError, match=message):
                read(3)
        with pytest.raises(ValueError, match=message):
            replay.predict_proba(epoch=3)
        with pytest.raises(ValueError, match=r"epoch=6 was not recorded"):
            replay.outputs_at(6, "hidden")
        for bad in (2.0, "2", True, None):
            with pytest.raises(TypeError, match=re.escape(f"epoch={bad!r} must be an integer")):
                replay.record_index(bad)
        assert replay.record_index(np.int64(4)) == 2


def test_epoch_range(every2_recording):
    with Replay(*every2_recording) as replay:
        np.testing.assert_array_equal(replay.epoch_range(), [0, 2, 4, 5])
        np.testing.assert_array_equal(replay.epoch_range(1, 4), [2, 4])
        np.testing.assert_array_equal(replay.epoch_range(epoch_start=3), [4, 5])
        np.testing.assert_array_equal(replay.epoch_range(epoch_end=2), [0, 2])
        with pytest.raises(ValueError, match=r"epoch_start=4 is after epoch_end=2; give epoch_start <= epoch_end"):
            replay.epoch_range(4, 2)
        with pytest.raises(ValueError, match=r"epoch_start=9 is after the last recorded epoch \(5\)"):
            replay.epoch_range(9)
        with pytest.raises(ValueError, match=r"no recorded epoch between epoch_start=3 and epoch_end=3; "
                                             r"recorded epochs: 0, 2, 4, 5"):
            replay.epoch_range(3, 3)
        with pytest.raises(ValueError, match=r"epoch_start=-1 must be 0 or more \(use None for the first"):
            replay.epoch_range(-1)
        with pytest.raises(ValueError, match=r"epoch_end=-3 must be 0 or more \(use None for the last"):
            replay.epoch_range(None, -3)
        for bad in (1.5, True, "2"):
            with pytest.raises(TypeError, match=re.escape(f"epoch_start={bad!r} must be an integer epoch or None")):
                replay.epoch_range(bad)
            with pytest.raises(TypeError, match=re.escape(f"epoch_end={bad!r} must be an integer epoch or None")):
                replay.epoch_range(0, bad)


# --------------------------------------------------------------------------
# Names: metrics, logs, layers
# --------------------------------------------------------------------------
def test_recorded_names_and_lookup_errors(tiny_recording):
    filename, group, X, y = tiny_recording
    with Replay(filename, group) as replay:
        assert replay.metric_names == ["accuracy"]
        assert replay.layer_names == ["hidden", "output"]
        assert replay.loss_name == "binary_crossentropy"
        assert replay.get_training_metric("accuracy").shape == replay.epochs.shape
        with pytest.raises(ValueError, match=re.escape("metric_name='nope' was not recorded; recorded metrics: ['accuracy']")):
            replay.get_training_metric("nope")
        with pytest.raises(ValueError, match=r"name='val_loss' is not in the recorded logs; recorded: \[.*'loss'"):
            replay.get_log("val_loss")
        with pytest.raises(ValueError, match=re.escape("layer_name='nope' is not a layer of this model; layers: ['hidden', 'output']")):
            replay.outputs_at(0, "nope")
        with pytest.raises(ValueError, match=r"layer_name='nope' is not a layer"):
            replay.layer_function("nope")
        with pytest.raises(ValueError, match=r"layer_name='nope' is not a layer"):
            replay.tail_function("nope")
        # Keras logs exist only after an epoch: record 0 has NaN, the others the epoch's loss.
        logged = replay.get_log("loss")
        assert np.isnan(logged[0]) and np.all(np.isfinite(logged[1:]))


# --------------------------------------------------------------------------
# Lifetime and the model
# --------------------------------------------------------------------------
def test_replay_is_a_context_manager_that_closes(tiny_recording, tmp_path):
    filename = str(tmp_path / "copy.h5")
    shutil.copy(tiny_recording[0], filename)
    group = tiny_recording[1]
    with Replay(filename, group) as replay:
        assert replay.predictions_at(0).shape == (len(tiny_recording[2]), 1)
    with pytest.raises(ValueError, match=r"closed"):
        replay.predictions_at(0)
    with pytest.raises(ValueError, match=r"closed"):
        replay.weights_at(1)
    # Closed even when the block raises.
    with pytest.raises(KeyError):
        with Replay(filename, group) as replay:
            raise KeyError("inside")
    with pytest.raises(ValueError, match=r"closed"):
        replay.losses_at(0)
    # Nothing holds the file any more: it can be opened for writing.
    with h5py.File(filename, "a") as f:
        f[group].attrs["touched"] = True


def test_model_at_switches_weights(tiny_recording):
    filename, group, X, _ = tiny_recording
    with Replay(filename, group) as replay:
        first = replay.model_at(1)
        np.testing.assert_array_equal(first.get_layer("hidden").get_weights()[0], replay.weights_at(1)["hidden"]["kernel"])
        second = replay.model_at(3)
        assert second is first  # one model, its weights change
        for layer in ("hidden", "output"):
            kernel, bias = second.get_layer(layer).get_weights()
            np.testing.assert_array_equal(kernel, replay.weights_at(3)[layer]["kernel"])
            np.testing.assert_array_equal(bias, replay.weights_at(3)[layer]["bias"])
        assert not np.allclose(replay.weights_at(1)["hidden"]["kernel"], replay.weights_at(3)["hidden"]["kernel"])
        np.testing.assert_allclose(_np(second(X, training=False)), replay.predictions_at(3), atol=ATOL)
        # Back to an earlier epoch, and predict_proba switching on its own.
        replay.model_at(1)
        np.testing.assert_allclose(replay.predict_proba(X, epoch=3), replay.predictions_at(3), atol=ATOL)
        np.testing.assert_allclose(replay.predict_proba(X, epoch=1), replay.predictions_at(1), atol=ATOL)
        np.testing.assert_allclose(replay.predict_proba(X), replay.predictions_at(int(replay.epochs[-1])), atol=ATOL)


def test_per_record_datasets_hold_one_record_per_chunk(tiny_recording):
    filename, group, X, _ = tiny_recording
    with Replay(filename, group) as replay:
        n_records = len(replay.epochs)
    per_record = {}
    with h5py.File(filename, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim >= 2 and name.split("/")[0] not in ("inputs", "targets"):
                per_record[name] = obj
        f[group].visititems(visit)
        # The Part 1 arrays are small: all of them share the packed dataset, one row per record.
        index = json.loads(f[group]["packed"].attrs["index"])
        for kind in ("weights/hidden/kernel", "gradients/output/bias", "outputs/hidden/activations",
                     "outputs/hidden/z", "predictions", "losses"):
            assert kind in index
        for name, ds in per_record.items():
            assert ds.shape[0] == n_records, name
            if name == "scalars":  # the logs and evaluation series: one record of up to 64 columns per chunk
                assert ds.chunks == (1, 64)
                continue
            assert ds.chunks == (1, *ds.shape[1:]), f"{name} has chunks {ds.chunks}"
        assert index["predictions"][1] == [len(X), 1]


def test_reading_one_record_reads_only_that_record(tiny_recording, monkeypatch):
    """Every h5py dataset read goes through Dataset.__getitem__: log them."""
    filename, group, X, _ = tiny_recording
    reads = []
    original = h5py.Dataset.__getitem__

    def logged(self, args, *rest, **kwargs):
        reads.append((self.name.split("/", 2)[-1], args))
        return original(self, args, *rest, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", logged)
    with Replay(filename, group) as replay:
        # Opening reads the small static datasets only, no per-record array.
        opened = {name for name, _ in reads}
        assert opened <= {"epochs", "inputs", "targets"}, opened

        reads.clear()
        predictions = replay.predictions_at(2)
        assert predictions.shape == (len(X), 1)
        assert reads == [("packed", 2)]  # the row of record 2 of the packed small arrays: one chunk

        reads.clear()
        replay.outputs_at(3, "hidden")
        assert reads == [("packed", 3)]

        reads.clear()
        weights = replay.weights_at(1)
        assert reads == [("packed", 1)]  # every variable from one read of that record's row
        assert set(weights) == {"hidden", "output"}


def test_in_a_notebook_a_built_visual_shows_its_last_epoch_not_an_empty_axes(replay, monkeypatch):
    import matplotlib.pyplot as plt

    from deepreplay import progress

    _, (ax_off, ax_on) = plt.subplots(1, 2)
    off = replay.build_loss_and_metric(ax_off, "accuracy")
    assert not ax_off.lines and off.current_epoch is None  # outside a notebook: drawn when an epoch is asked for
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    on = replay.build_loss_and_metric(ax_on, "accuracy")
    assert on.current_epoch == int(replay.epochs[-1])
    assert len(on.loss_line.get_xdata()) == len(replay.epochs)  # the figure shown at the cell's end is drawn


def test_a_recording_in_the_unpacked_layout_replays_like_a_packed_one(tmp_path, monkeypatch):
    """Version 1 groups (a dataset per array, written before small arrays were packed) read as before."""
    from conftest import make_tiny_model, tiny_data

    X, y = tiny_data()
    filename = str(tmp_path / "layouts.h5")
    for group, packed in (("v1", False), ("v2", True)):
        monkeypatch.setattr(storage, "PACK_SMALL_ARRAYS", packed)
        keras.utils.set_random_seed(0)
        make_tiny_model().fit(X, y, epochs=2, batch_size=16, verbose=0, shuffle=False,
                              callbacks=[ReplayData(X, y, filename, group)])
    with h5py.File(filename, "r") as f:  # the old layout really is the old one
        assert "packed" not in f["v1"] and "weights/hidden/kernel" in f["v1"] and f["v1"].attrs["format_version"] == 1
        assert "packed" in f["v2"] and "weights" not in f["v2"] and f["v2"].attrs["format_version"] == 2
    with Replay(filename, "v1") as old, Replay(filename, "v2") as new:
        assert old.n_epochs == new.n_epochs == 2
        np.testing.assert_array_equal(old.training_loss, new.training_loss)
        for epoch in (0, 1, 2):
            np.testing.assert_array_equal(old.predictions_at(epoch), new.predictions_at(epoch))
            np.testing.assert_array_equal(old.losses_at(epoch), new.losses_at(epoch))
            np.testing.assert_array_equal(old.outputs_at(epoch, "hidden"), new.outputs_at(epoch, "hidden"))
            np.testing.assert_array_equal(old.outputs_at(epoch, "hidden", before_activation=True),
                                          new.outputs_at(epoch, "hidden", before_activation=True))
            for layer, variables in old.gradients_at(epoch).items():
                for var, value in variables.items():
                    np.testing.assert_array_equal(value, new.gradients_at(epoch)[layer][var])
            np.testing.assert_array_equal(old.predict_proba(epoch, epoch), new.predict_proba(epoch, epoch))
        for quantity in ("weights", "gradients"):
            assert old.reader.variable_names(quantity) == new.reader.variable_names(quantity)
        assert old.reader.weight_values == new.reader.weight_values == 9
        assert set(old.reader.nbytes()) == set(new.reader.nbytes())


def _scaled_relu(x):
    return keras.ops.relu(x) * 2


def _leaky(x):
    return keras.ops.leaky_relu(x, negative_slope=0.3)


@pytest.mark.parametrize("name", ["relu", "scaled_relu"])
def test_a_users_activation_replays_as_trained_or_is_said_not_to(tmp_path, name):
    """A user's activation named like Keras' own ('relu') is rebuilt as Keras' relu: said when recording.  Named
    otherwise and given to Replay, the replay's grid predictions and feature-space functions (the NumPy twin
    falling back on Keras for it) equal the model Keras trained, snapshotted at each epoch."""
    from conftest import tiny_data

    from deepreplay.callbacks import ReplayData

    hidden_fn = _scaled_relu if name == "scaled_relu" else _leaky
    hidden_fn.__name__ = name
    X, y = tiny_data(40)
    grid = np.random.default_rng(1).uniform(-1.5, 1.5, size=(300, 2)).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation=hidden_fn, name="hidden"),
                              keras.layers.Dense(2, name="latent"), keras.layers.Activation(hidden_fn, name="act"),
                              keras.layers.Dense(1, activation="sigmoid", name="output")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    snapshots = {}

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            latent = keras.Model(model.inputs, model.get_layer("act").output)
            snapshots[epoch + 1] = (model.predict(grid, verbose=0), latent.predict(grid, verbose=0))

    recorder = ReplayData(X, y, tmp_path / "r.h5", "g")
    if name == "relu":
        with pytest.warns(UserWarning, match=r"the activation of layers .* is your own function") as said:
            model.fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[recorder, Snapshot()])
        assert "'hidden' ('relu')" in str(said[0].message) and "'act' ('relu')" in str(said[0].message)
        with Replay(tmp_path / "r.h5", "g") as replay:  # what the warning is about: Keras' relu in its place
            assert replay.model.get_layer("hidden").activation is keras.activations.relu
            assert np.abs(replay.predict_proba(X=grid, epoch=2) - snapshots[2][0]).max() > 1e-3
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[recorder, Snapshot()])
    with Replay(tmp_path / "r.h5", "g", custom_objects={name: hidden_fn}) as replay:
        for epoch, (predicted, latent) in snapshots.items():
            np.testing.assert_allclose(replay.predict_proba(X=grid, epoch=epoch), predicted, rtol=1e-5, atol=1e-6)
            replay.model_at(epoch)
            np.testing.assert_allclose(replay.layer_function("act")(grid), latent, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(replay.tail_function("act")(latent), predicted, rtol=1e-5, atol=1e-6)
