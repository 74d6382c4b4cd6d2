"""The model zoo (issue 12): every kind of model a user trains is recorded, replayed and drawn.

A handful of small models together cover Sequential, functional, subclassed
and nested models; Dense, Conv1D, Conv2D, Conv2DTranspose, SeparableConv2D,
Max/AveragePooling, GlobalPooling, Flatten, Reshape, BatchNormalization,
LayerNormalization, Dropout, Embedding, SimpleRNN, LSTM, GRU, Bidirectional,
MultiHeadAttention, Add and Concatenate; several inputs (list and dict) and
several outputs (a loss per output, ``loss_weights``); ``mixed_float16``; Masking before an
output per step (padded steps left out of the loss and metrics); a subclassed model holding a weight of
its own (``add_weight`` in ``build``, used as ``x @ self.kernel``) and an unnamed sublayer.

Each case is fitted for 2 epochs with ``ReplayData`` and a test callback
that snapshots the weights (trainable and not) before training and after
each epoch.  Then, against Keras itself:

* ``Replay.model_at(k)`` gives the same outputs as the trained model with
  the weights of epoch k (BatchNormalization's moving statistics included);
* the recorded predictions are those outputs;
* the recorded per-sample losses equal Keras' own loss functions with no
  reduction (per output, and their ``loss_weights`` total), and the recorded
  loss equals ``model.evaluate`` on the recorded samples;
* the compiled metrics (per output, list or dict ``metrics=``, for several
  outputs; ``weighted_metrics`` with the sample weights given to ``fit`` and
  ``ReplayData``) are recorded under Keras' log names and equal
  ``model.evaluate``;
* the recorded outputs of every layer of the nested and subclassed models
  (the layers inside the nested model as ``inner/a``; its last layer, whose
  output is the nested model's, stored once as ``inner`` and read back as
  ``inner/b``; those held by the
  subclassed model's own block layer as ``block/d1``), and the replay's
  ``layer_function`` of each, equal Keras' own outputs of those layers (and
  the nested model's ``tail_function`` of each gives the model's output);
* the standard dashboard renders a PNG (``deepreplay render``).

Every case runs on every backend; PyTorch also runs a case of its own, a
``TorchModuleWrapper`` (parameters Keras names from a per-process counter;
a pickled module, so replayed with ``safe_mode=False`` after the default's
refusal is checked).  TensorFlow runs in this process.  JAX and
PyTorch run in one child process each (``python tests/test_zoo.py BACKEND DIR
[CASE...]``), both started at the module's first test so that they work while
the TensorFlow cases run here; each runs the cases and writes their results
(with the wall and CPU seconds of each, and the CPU seconds of each phase) as
JSON, which the tests for those backends read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
N = 48
EPOCHS = 2
CHILD_TIMEOUT = 300
OTHER_BACKENDS = ("jax", "torch")


def _keras():
    import keras

    return keras


# ==========================================================================
# The zoo: data and models
# ==========================================================================

def _cnn_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, 8, 8, 1)).astype("float32"), (np.arange(N) % 3).astype("int64")


def _cnn():
    keras = _keras()
    L = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
        L.BatchNormalization(name="bn"),
        L.MaxPooling2D(2, name="maxpool"),
        L.SeparableConv2D(4, 3, padding="same", activation="relu", name="sepconv"),
        L.Conv2DTranspose(3, 2, strides=2, name="deconv"),
        L.AveragePooling2D(2, name="avgpool"),
        L.Flatten(name="flatten"),
        L.Dropout(0.2, name="drop"),
        L.Dense(3, activation="softmax", name="out"),
    ], name="cnn")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _sequence_data():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 10, size=(N, 6)).astype("int32")
    return X, (X.sum(axis=1, keepdims=True) > 27).astype("float32")


def _sequence():
    keras = _keras()
    L = keras.layers
    model = keras.Sequential([
        keras.Input((6,), dtype="int32"),
        L.Embedding(10, 4, name="embed"),
        L.Conv1D(4, 3, padding="same", activation="relu", name="conv1d"),
        L.SimpleRNN(4, return_sequences=True, name="rnn"),
        L.Bidirectional(L.LSTM(3, return_sequences=True), name="bilstm"),
        L.GRU(4, return_sequences=True, name="gru"),
        L.GlobalMaxPooling1D(name="gmax"),
        L.Dense(1, activation="sigmoid", name="out"),
    ], name="sequence")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _attention_data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(N, 5, 4)).astype("float32")
    return X, np.eye(2, dtype="float32")[np.arange(N) % 2]


def _attention():
    keras = _keras()
    L = keras.layers
    tokens = keras.Input((5, 4), name="tokens")
    h = L.Dense(4, activation="relu", name="proj")(tokens)
    attended = L.MultiHeadAttention(num_heads=2, key_dim=2, name="mha")(h, h)
    h = L.LayerNormalization(name="ln")(L.Add(name="residual")([h, attended]))
    pooled = L.GlobalAveragePooling1D(name="gap")(h)
    flat = L.Reshape((20,), name="reshape")(h)
    out = L.Dense(2, activation="softmax", name="out")(L.Concatenate(name="concat")([pooled, flat]))
    model = keras.Model(tokens, out, name="attention")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _two_io_data():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(N, 3)).astype("float32")
    b = rng.normal(size=(N, 4)).astype("float32")
    cls = (a[:, :1] > b[:, :1]).astype("float32")
    reg = np.stack([a.sum(1), b.sum(1)], 1).astype("float32")
    return [a, b], [cls, reg]


def _two_io_graph():
    keras = _keras()
    L = keras.layers
    a, b = keras.Input((3,), name="a"), keras.Input((4,), name="b")
    h = L.Concatenate(name="concat")([L.Dense(3, activation="relu", name="da")(a),
                                      L.Dense(3, activation="tanh", name="db")(b)])
    return a, b, L.Dense(1, activation="sigmoid", name="cls")(h), L.Dense(2, name="reg")(h)


def _two_io_list():
    keras = _keras()
    a, b, cls, reg = _two_io_graph()
    model = keras.Model([a, b], [cls, reg], name="two_io_list")
    model.compile(optimizer="adam", loss={"cls": "binary_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics=[["accuracy"], ["mae", "mse"]])
    return model


def _two_io_dict_data():
    (a, b), (cls, reg) = _two_io_data()
    return {"a": a, "b": b}, {"cls": cls, "reg": reg}


def _two_io_dict():
    keras = _keras()
    a, b, cls, reg = _two_io_graph()
    model = keras.Model({"a": a, "b": b}, {"cls": cls, "reg": reg}, name="two_io_dict")
    model.compile(optimizer="adam", loss=["binary_crossentropy", "mse"], loss_weights=[2.0, 1.0],
                  metrics={"cls": ["accuracy", keras.metrics.AUC(name="auc")]})
    return model


def _dense_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N, 3)).astype("float32")
    return X, (X[:, :1] + X[:, 1:2] > 0).astype("float32")


def _subclass():
    keras = _keras()

    class Block(keras.layers.Layer):
        """A user-defined layer holding layers (one of them in a list): a residual block."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.d1 = keras.layers.Dense(units, activation="tanh", name="d1")
            self.parts = [keras.layers.Dense(units, activation="relu", name="d2")]

        def call(self, x):
            h = self.d1(x)
            return h + self.parts[0](h)

    @keras.saving.register_keras_serializable(package="zoo")
    class Subclassed(keras.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.block = Block(units, name="block")
            self.out = keras.layers.Dense(1, activation="sigmoid", name="out")

        def call(self, x, training=False):
            return self.out(self.block(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    model = Subclassed(name="subclassed")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", "mae"])
    return model


def _own_weights():
    """A subclassed model as tutorials write it: a weight of its own made in build() (no layer holds it), used as
    ``x @ self.kernel``, and a sublayer without a name (Keras numbers it from a per-process counter)."""
    keras = _keras()

    @keras.saving.register_keras_serializable(package="zoo")
    class OwnWeights(keras.Model):
        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], 4), name="kernel")
            self.head = keras.layers.Dense(1, activation="sigmoid")
            self.head.build((None, 4))

        def call(self, x):
            return self.head(keras.ops.tanh(x @ self.kernel))

    model = OwnWeights(name="own_weights")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _nested():
    keras = _keras()
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="a"),
                              keras.layers.Dense(3, activation="tanh", name="b")], name="inner")
    model = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, activation="sigmoid", name="out")],
                             name="nested")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _mixed_float16():
    keras = _keras()
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, activation="relu", name="hidden", dtype="mixed_float16"),
        keras.layers.BatchNormalization(name="bn", dtype="mixed_float16"),
        keras.layers.Dense(1, activation="sigmoid", name="out", dtype="float32"),
    ], name="mixed")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _masked_data():
    """Padded sequences (zeros after each sample's length) and a target per step."""
    rng = np.random.default_rng(4)
    steps = np.arange(6)[None, :] < (np.arange(N) % 5 + 2)[:, None]
    X = np.where(steps[..., None], rng.normal(size=(N, 6, 2)), 0.0).astype("float32")
    return X, rng.normal(size=(N, 6, 1)).astype("float32")


def _masked():
    """Masking before an output per step (Dense layers pass the mask on): Keras' loss and metrics leave out
    the padded steps."""
    keras = _keras()
    L = keras.layers
    model = keras.Sequential([keras.Input((6, 2)), L.Masking(0.0, name="mask"),
                              L.Dense(3, activation="tanh", name="step"), L.Dense(1, name="out")], name="masked")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


def _torch_module():
    """A PyTorch module in a functional model (TorchModuleWrapper): its parameters are variables without names."""
    import torch

    keras = _keras()
    L = keras.layers
    x = keras.Input((3,))
    h = L.TorchModuleWrapper(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh()), name="torch_mlp",
                             output_shape=(None, 4))(x)
    model = keras.Model(x, L.Dense(1, activation="sigmoid", name="out")(h), name="torch_module")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


#: Cases whose recorded layer outputs are checked against Keras' own: nested and subclassed models.
LAYER_OUTPUT_CASES = ("nested", "subclassed")
#: Recorded layer names expected for those cases (a nested model's layers as "<nested>/<layer>").
#: The nested model's output is its last layer's (stored once, as "inner"); the subclassed model's block adds
#: its input to its last layer's output (both stored).
EXPECTED_OUTPUT_LAYERS = {"nested": ["inner/a", "inner", "out"], "subclassed": ["block/d1", "block/d2", "block", "out"]}
EXPECTED_OUTPUT_ALIASES = {"nested": {"inner/b": "inner"}, "subclassed": {}}

#: Cases fitted with sample weights (also given to ReplayData), and their metrics compiled as weighted_metrics,
#: as Keras logs them: evaluated with the weights.
WEIGHTED_METRICS = {"subclassed": ["mae", "weighted_accuracy"]}

#: case -> (model builder, data, output tolerance)
ZOO = {
    "cnn": (_cnn, _cnn_data, 1e-5),
    "sequence": (_sequence, _sequence_data, 1e-5),
    "attention_residual": (_attention, _attention_data, 1e-5),
    "two_inputs_two_outputs_list": (_two_io_list, _two_io_data, 1e-5),
    "two_inputs_two_outputs_dict": (_two_io_dict, _two_io_dict_data, 1e-5),
    "subclassed": (_subclass, _dense_data, 1e-5),
    "nested": (_nested, _dense_data, 1e-5),
    "own_weights_unnamed_layer": (_own_weights, _dense_data, 1e-5),
    "mixed_float16": (_mixed_float16, _dense_data, 1e-2),
    "masked_sequence": (_masked, _masked_data, 1e-5),
}
#: backend -> cases of layers only that backend has, run in its child besides the zoo
BACKEND_ZOO = {"torch": {"torch_module_wrapper": (_torch_module, _dense_data, 1e-5)}}
#: Cases whose model stores code (a pickled torch module): replayed with safe_mode=False after checking that the
#: default refuses it with the way out.
STORES_CODE = ("torch_module_wrapper",)


# ==========================================================================
# One case: record, replay, compare with Keras, render
# ==========================================================================

def _to_numpy(value):
    keras = _keras()
    if isinstance(value, dict):
        return {k: _to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_numpy(v) for v in value]
    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _as_list(value, names):
    if isinstance(value, dict):
        return [value[name] for name in names]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _output_masks(model, X):
    """The Keras mask each output carries on X (None where it carries none)."""
    from keras.src.backend.common.masking import get_keras_mask

    outputs = model(X, training=False)
    outputs = list(outputs.values()) if isinstance(outputs, dict) else \
        list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    return [None if get_keras_mask(o) is None else _to_numpy(get_keras_mask(o)) for o in outputs]


def _keras_losses(model, y, outputs, masks=None):
    """Keras' own loss functions (no reduction) per output and their loss_weights total, per sample.

    Where an output carries a mask, its steps weigh as in Keras' mean reduction: masked 0, the others
    size/valid."""
    keras = _keras()
    config = model.get_compile_config()
    names = list(getattr(model, "output_names", None) or ["output"])
    loss, weights = config["loss"], config.get("loss_weights")
    fns = _as_list(loss, names) if isinstance(loss, (list, dict)) else [loss]
    weights = _as_list(weights, names) if weights is not None else [1.0] * len(fns)
    ys = _as_list(y, names)
    per_output = {}
    total = 0.0
    for name, fn, w, y_true, y_pred, mask in zip(names, fns, weights, ys, outputs, masks or [None] * len(names)):
        value = np.asarray(keras.ops.convert_to_numpy(keras.losses.get(fn)(y_true, y_pred)), dtype=np.float64)
        if mask is not None:
            value = value * mask * mask.size / mask.sum()
        per_output[name] = value.reshape(len(value), -1).mean(axis=1)
        total = total + w * per_output[name]
    return per_output, total


def _keras_layer_output(model, name, X):
    """Keras' own output of a recorded layer (``layer``, or ``nested/layer`` inside a nested model) on X.

    Probe models are built from the model as it is (the snapshot of an epoch);
    a subclassed model's sublayers are called on what Keras feeds them (its
    ``call`` is ``out(block(x))``, and ``block``'s is ``h + d2(h)`` with
    ``h = d1(x)``).
    """
    keras = _keras()
    *path, last = name.split("/")
    if not hasattr(model, "block"):  # a layer graph (the zoo's subclassed model has none)
        graph, x = model, X
        for part in path:
            nested = graph.get_layer(part)
            x = keras.Model(graph.inputs[0], nested.input)(x, training=False)
            graph = nested
        return _to_numpy(keras.Model(graph.inputs[0], graph.get_layer(last).output)(x, training=False))
    h = model.block.d1(X, training=False)
    values = {"block/d1": h, "block/d2": model.block.parts[0](h, training=False), "block": model.block(X, training=False)}
    values["out"] = model.out(values["block"], training=False)
    return _to_numpy(values[name])


def run_case(case: str, directory: str) -> dict:
    """Record, replay and check one zoo case on the running backend; return what was found."""
    keras = _keras()
    from deepreplay import cli
    from deepreplay.callbacks import ReplayData
    from deepreplay.replay import Replay

    build, data, tol = {**ZOO, **BACKEND_ZOO.get(keras.backend.backend(), {})}[case]
    cpu = {"start": time.process_time()}  # CPU seconds per phase, to see where the zoo's time goes
    keras.utils.set_random_seed(0)
    X, y = data()
    model = build()
    cpu["build"] = time.process_time()
    filename = os.path.join(directory, f"{case}.h5")
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            snapshots.append([np.array(w) for w in self.model.get_weights()])

        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([np.array(w) for w in self.model.get_weights()])

    weights = np.linspace(0.1, 2.0, len(y)).astype("float32") if case in WEIGHTED_METRICS else None
    # ReplayData first: it builds a subclassed model before the snapshot of epoch 0 is taken.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, epochs=EPOCHS, batch_size=16, verbose=0, sample_weight=weights,
                  callbacks=[ReplayData(X, y, filename, case, sample_weight=weights), Snapshot()])
        logged = sorted(k for k in model.history.history if not k.endswith("loss"))
    cpu["fit"] = time.process_time()
    said = [str(w.message) for w in caught if str(w.message).startswith("deepreplay")]
    result = {"case": case, "warnings": said, "max_output_diff": 0.0, "max_prediction_diff": 0.0, "max_loss_diff": 0.0,
              "max_evaluate_diff": 0.0, "max_layer_output_diff": 0.0, "verified_tails": {}}
    names = list(model.output_names) if len(getattr(model, "output_names", None) or []) > 1 else None
    if keras.backend.backend() == "jax":
        # Each eager call of a recurrent model compiles its scan anew on JAX: Keras' own compiled predict
        # (one compilation per model, reused for every epoch's weights) gives the same outputs far faster.
        def forward(m):
            return m.predict(X, batch_size=N, verbose=0)
    else:
        def forward(m):
            return m(X, training=False)
    if case in STORES_CODE:
        with Replay(filename, case) as replay:
            try:
                replay.model_at(0)
                result["safe_mode_refusal"] = "none"
            except ValueError as exc:
                result["safe_mode_refusal"] = str(exc)
    with Replay(filename, case, safe_mode=case not in STORES_CODE) as replay:
        assert list(replay.epochs) == list(range(EPOCHS + 1)), replay.epochs
        result["layers"] = replay.layer_names
        result["output_layers"] = replay.reader.output_layers()
        result["output_aliases"] = replay.reader.output_aliases
        for k in range(EPOCHS + 1):
            model.set_weights(snapshots[k])
            want = _to_numpy(forward(model))
            got = _to_numpy(forward(replay.model_at(k)))
            want_list = _as_list(want, names or [])
            got_list = _as_list(got, names or [])
            for w, g in zip(want_list, got_list, strict=True):
                result["max_output_diff"] = max(result["max_output_diff"], float(np.max(np.abs(w - g))))
            recorded = [replay.predictions_at(k, output=name) for name in names] if names else \
                [replay.predictions_at(k)]
            for w, r in zip(want_list, recorded, strict=True):
                result["max_prediction_diff"] = max(result["max_prediction_diff"], float(np.max(np.abs(w - r))))
            per_output, total = _keras_losses(model, y, want_list, _output_masks(model, X))
            checks = [(replay.losses_at(k), total)]
            if names:
                checks += [(replay.losses_at(k, output=name), per_output[name]) for name in names]
            for r, w in checks:
                result["max_loss_diff"] = max(result["max_loss_diff"], float(np.max(np.abs(r - w) / (1 + np.abs(w)))))
            if case in LAYER_OUTPUT_CASES:  # recorded layer outputs against Keras' own, at the weights of epoch k
                for name in result["output_layers"] + list(result["output_aliases"]):
                    want = _keras_layer_output(model, name, X)
                    # The replayed model's layer function (grid lines of the feature space) too.
                    got = [replay.outputs_at(k, name), replay.layer_function(name)(X)]
                    if case == "nested":  # the rest of the network from the layer's outputs (feature-space regions)
                        got.append(replay.tail_function(name)(want))
                        want = [want, want, want_list[0]]
                    elif case == "subclassed":  # the layers called after it, where verified on the recording
                        try:
                            got.append(replay.tail_function(name)(want))
                            want = [want, want, want_list[0]]
                            result["verified_tails"][name] = "verified"
                        except ValueError as exc:
                            result["verified_tails"][name] = "refused" if "tail not verified" in str(exc) else str(exc)
                    for g, w in zip(got, want if isinstance(want, list) else [want] * len(got)):
                        diff = float(np.max(np.abs(g - w)))
                        result["max_layer_output_diff"] = max(result["max_layer_output_diff"], diff)
        cpu["replay"] = time.process_time()
        # Keras' own evaluation of the final model (loss plus regularisation) on the recorded samples.
        evaluated = model.evaluate(X, y, batch_size=N, verbose=0, return_dict=True)
        if weights is not None:  # the weighted metrics, with the sample weights
            weighted = model.evaluate(X, y, batch_size=N, verbose=0, return_dict=True, sample_weight=weights)
            evaluated.update({name: weighted[name] for name in WEIGHTED_METRICS[case]})
        result["logged_metrics"] = logged
        result["max_evaluate_diff"] = (abs(float(replay.training_loss[-1]) - float(evaluated["loss"]))
                                       / (1 + abs(evaluated["loss"])))
        # Every compiled metric (per output for several outputs), under Keras' name, equals Keras' evaluation.
        result["metrics"] = sorted(replay.metric_names)
        result["keras_metrics"] = sorted(k for k in evaluated if not k.endswith("loss"))
        result["max_metric_diff"] = max([abs(float(replay.get_training_metric(name)[-1]) - float(evaluated[name]))
                                         for name in replay.metric_names if name in evaluated], default=0.0)
    cpu["evaluate"] = time.process_time()
    png = os.path.join(directory, f"{case}.png")
    code = cli.main(["render", filename, case, "-o", png, "--dpi", "30"])
    result["render_code"] = code
    result["png_bytes"] = os.path.getsize(png) if os.path.exists(png) else 0
    result["tol"] = tol
    cpu["render"] = time.process_time()
    stamps = list(cpu.items())
    result["cpu"] = {name: round(t - before, 2) for (_, before), (name, t) in zip(stamps, stamps[1:])}
    return result


def check(result: dict) -> None:
    tol = result["tol"]
    assert result["warnings"] == [], result["warnings"]
    assert result["max_output_diff"] <= tol, result
    assert result["max_layer_output_diff"] <= tol, result
    if result["case"] in EXPECTED_OUTPUT_LAYERS:
        assert result["output_layers"] == EXPECTED_OUTPUT_LAYERS[result["case"]], result
        assert result["output_aliases"] == EXPECTED_OUTPUT_ALIASES[result["case"]], result
    if result["case"] == "subclassed":  # "block" then "out": a chain; inside the residual block: none
        assert result["verified_tails"] == {"block/d1": "refused", "block/d2": "refused", "block": "verified",
                                            "out": "verified"}, result
    assert result["max_prediction_diff"] <= tol, result
    assert result["max_loss_diff"] <= 10 * tol, result
    assert result["max_evaluate_diff"] <= 10 * tol, result
    assert result["metrics"] == result["keras_metrics"] == result["logged_metrics"] and result["metrics"], result
    assert result["max_metric_diff"] <= 10 * tol, result
    assert result["render_code"] == 0 and result["png_bytes"] > 1000, result
    if result["case"] in STORES_CODE:
        assert "stores its torch module pickled" in result["safe_mode_refusal"], result
        assert "Replay(..., safe_mode=False)" in result["safe_mode_refusal"], result


# ==========================================================================
# The tests
# ==========================================================================

class _Children:
    """One child process per other backend, started together; their results read once, when first needed."""

    def __init__(self, tmp_path_factory):
        self.processes = {}
        self._results = None
        for backend in OTHER_BACKENDS:
            directory = tmp_path_factory.mktemp(f"zoo_{backend}")
            env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3",
                   "MPLBACKEND": "Agg"}
            if backend == "jax" and "XLA_FLAGS" not in os.environ:
                # XLA compiles each of the zoo's small programs in a fraction of a second at the lowest
                # optimisation level (a quarter of the child's CPU time saved); every comparison is made
                # within the child, so the flags change no check.
                env["XLA_FLAGS"] = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
            self.processes[backend] = (directory, subprocess.Popen(
                [sys.executable, __file__, backend, str(directory), *ZOO, *BACKEND_ZOO.get(backend, {})], env=env, cwd=str(REPO),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))

    def results(self) -> dict:
        """``{backend: results by case}`` (waits for the children)."""
        if self._results is None:
            self._results = {}
            for backend, (directory, process) in self.processes.items():
                try:
                    output, _ = process.communicate(timeout=CHILD_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    output, _ = process.communicate()
                path = directory / "results.json"
                self._results[backend] = (json.loads(path.read_text()) if path.exists()
                                          else {"_output": output[-4000:]})
        return self._results

    def stop(self) -> None:
        for _, process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.fixture(scope="module")
def zoo_children(request, tmp_path_factory):
    """The JAX and PyTorch children, started at the module's first test so that they run while the
    TensorFlow cases run here; None when no test of theirs is selected."""
    wanted = any(getattr(item, "originalname", None) in ("test_zoo_on_other_backends", "test_zoo_of_one_backend")
                 for item in request.session.items)
    children = _Children(tmp_path_factory) if wanted else None
    yield children
    if children is not None:
        children.stop()


@pytest.mark.parametrize("case", list(ZOO))
def test_zoo_on_tensorflow(case, tmp_path, zoo_children):
    from PIL import Image

    result = run_case(case, str(tmp_path))
    check(result)
    with Image.open(tmp_path / f"{case}.png") as image:
        assert image.size[0] > 100 and image.size[1] > 100


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("case", list(ZOO))
def test_zoo_on_other_backends(case, backend, zoo_children):
    _check_child(case, backend, zoo_children)


def _check_child(case, backend, zoo_children):
    results = zoo_children.results()[backend]
    assert case in results, results.get("_output", results)
    result = results[case]
    assert "error" not in result, result["error"]
    check(result)


@pytest.mark.parametrize("backend, case", [(b, c) for b, cases in BACKEND_ZOO.items() for c in cases])
def test_zoo_of_one_backend(case, backend, zoo_children):
    """Layers of one backend only (PyTorch's TorchModuleWrapper), run in that backend's child."""
    _check_child(case, backend, zoo_children)


def _child(backend: str, directory: str, cases: list[str]) -> None:
    if backend != "tensorflow":
        sys.modules["tensorflow"] = None  # deepreplay must not need TensorFlow on other backends
    os.environ["KERAS_BACKEND"] = backend
    import matplotlib

    matplotlib.use("Agg")
    results = {}
    for case in cases:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            results[case] = run_case(case, directory)
        except Exception:
            results[case] = {"case": case, "error": traceback.format_exc()[-3000:]}
        results[case]["seconds"] = round(time.perf_counter() - start, 2)
        results[case]["cpu_seconds"] = round(time.process_time() - cpu, 2)
    Path(directory, "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3:] or list(ZOO))


# ==========================================================================
# What feeds fit: the callback records on its own inputs/targets
# ==========================================================================

def _feeds(X, y, w):
    """``{name: (fit positional args, fit keyword args)}`` for every way of feeding fit."""
    import tensorflow as tf

    keras = _keras()

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            rows = slice(16 * i, 16 * (i + 1))
            return X[rows], y[rows]

    def generator():
        while True:
            for i in range(3):
                yield X[16 * i:16 * (i + 1)], y[16 * i:16 * (i + 1)]

    return {
        "numpy+sample_weight+validation": ((X, y), dict(batch_size=16, sample_weight=w, validation_data=(X, y))),
        "numpy+class_weight": ((X, y), dict(batch_size=16, class_weight={0: 1.0, 1: 5.0})),
        "tf.data": ((tf.data.Dataset.from_tensor_slices((X, y)).batch(16),),
                    dict(validation_data=(X, y), shuffle=False)),
        "PyDataset": ((Batches(),), dict(shuffle=False)),
        "generator": ((generator(),), dict(steps_per_epoch=3, shuffle=False)),
    }


def test_fit_fed_by_datasets_generators_and_weights_records_unweighted_losses(tmp_path):
    keras = _keras()
    from deepreplay.callbacks import ReplayData
    from deepreplay.replay import Replay

    X, y = _dense_data()
    w = np.linspace(0.1, 3.0, N).astype("float32")
    keras.utils.set_random_seed(0)
    model = _nested()  # one model, trained on by every feed in turn (Keras reuses its compiled functions)
    for name, (args, kwargs) in _feeds(X, y, w).items():
        filename = tmp_path / "feeds.h5"
        model.fit(*args, epochs=2, verbose=0, callbacks=[ReplayData(X, y, filename, name)], **kwargs)
        with Replay(filename, name) as replay:
            assert list(replay.epochs) == [0, 1, 2], name
            unweighted = keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(y, model(X)))
            np.testing.assert_allclose(replay.losses_at(2), unweighted, rtol=1e-5, atol=1e-6, err_msg=name)
            if "validation" in name:
                assert np.isfinite(replay.get_log("val_loss")[1:]).all(), name
