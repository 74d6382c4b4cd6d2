"""Tests for deepreplay.numpy_step: the NumPy recording step equals Keras, on every backend, and stays out
where it cannot.

Each case builds a small Dense stack, and compares the NumPy step's record with
(1) the compiled step (``CompiledStep``: Keras' own compiled call, the layer
probe fused in on TensorFlow; eager on PyTorch) and (2) Keras directly,
eagerly: the model's output, the compiled loss class with ``reduction=None``
(per-sample losses) and the backend's autodiff of its mean
(``forward_with_gradients``; not on JAX, where the compiled step already is
``jax.grad`` over Keras' stateless call and eager JAX compiles every op).  Tolerances
(float32 against float32, different operation orders): predictions, layer
outputs and z-values ``rtol=1e-5, atol=1e-6`` (atol times the array's largest
absolute value when over 1); losses ``rtol=2e-5, atol=1e-5`` (likewise);
each gradient within ``2e-5 x`` its largest absolute value; metrics to
``rtol=2e-7`` (the same count of matches divided by n, exact on TensorFlow).

Keras reads ``KERAS_BACKEND`` once, so JAX and PyTorch run in child processes
(this file is their script: ``python tests/test_numpy_step.py BACKEND``); they
run 9 of the cases (:data:`CHILD_CASES`: every loss, activation and path, each
JAX case compiling its step for ~1 s) and report every mismatch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CLOSE = dict(rtol=1e-5, atol=1e-6)
LOSS_TOL = dict(rtol=2e-5, atol=1e-5)
GRAD_REL = 2e-5

# (id, hidden activations, units, loss, weight scale): the output layer is the last entry.
CASES = [
    ("sigmoid-bce", ["sigmoid", "sigmoid"], [2, 1], "binary_crossentropy", 1.0),
    ("sigmoid-bce-saturated", ["sigmoid", "sigmoid"], [2, 1], "binary_crossentropy", 8.0),
    ("tanh-sigmoid-bce-smoothing", ["tanh", "sigmoid"], [4, 2], ("BinaryCrossentropy", {"label_smoothing": 0.2}), 1.0),
    ("relu-linear-bce-logits", ["relu", "linear"], [4, 1], ("BinaryCrossentropy", {"from_logits": True}), 3.0),
    ("tanh-relu-bce", ["tanh", "relu"], [4, 1], "binary_crossentropy", 1.0),
    ("relu-linear-mse", ["relu", "linear"], [5, 2], "mse", 1.0),
    ("softsign-tanh-mse", ["softsign", "tanh"], [3, 1], ("MeanSquaredError", {}), 1.0),
    ("elu-softmax-cce", ["elu", "softmax"], [4, 3], "categorical_crossentropy", 1.0),
    ("selu-softmax-scce", ["selu", "softmax"], [4, 3], "sparse_categorical_crossentropy", 2.0),
    ("softplus-linear-cce-logits", ["softplus", "linear"], [4, 3],
     ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}), 1.0),
    ("relu-linear-scce-logits", ["relu", "linear"], [4, 3],
     ("SparseCategoricalCrossentropy", {"from_logits": True}), 1.0),
    ("tanh-softmax-bce", ["tanh", "softmax"], [4, 3], "binary_crossentropy", 1.0),
]


# ==========================================================================
# Shared by the test process (TensorFlow) and the children (JAX, PyTorch)
# ==========================================================================


def _loss(spec):
    import keras

    return spec if isinstance(spec, str) else getattr(keras.losses, spec[0])(**spec[1])


def build_case(activations, units, loss, scale, *, n=120, d=3, seed=0, layers_kind="dense"):
    """A compiled Sequential Dense stack (``layers_kind="split"``: Dense + Activation + Dropout; "linear-tail":
    an ``Activation("linear")`` last), inputs, targets."""
    import keras

    rng = np.random.default_rng(seed)
    layers = [keras.Input((d,))]
    for i, (activation, width) in enumerate(zip(activations, units)):
        init = keras.initializers.RandomNormal(stddev=scale, seed=seed + i)
        if layers_kind == "split":
            layers += [keras.layers.Dense(width, kernel_initializer=init), keras.layers.Activation(activation),
                       keras.layers.Dropout(0.3)]
        else:
            layers.append(keras.layers.Dense(width, activation=activation, kernel_initializer=init,
                                             bias_initializer=keras.initializers.RandomNormal(seed=seed + 50 + i)))
    if layers_kind == "linear-tail":  # returns its input itself: a sigmoid's logits stay on it (TensorFlow)
        layers.append(keras.layers.Activation("linear"))
    model = keras.Sequential(layers)
    loss = _loss(loss)
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    x = (rng.normal(size=(n, d)) * 2).astype(np.float32)
    name = (loss if isinstance(loss, str) else type(loss).__name__).lower()
    k = units[-1]
    if "sparse" in name:
        y = rng.integers(0, k, size=n)
    elif "categorical" in name:
        y = np.eye(k, dtype=np.float32)[rng.integers(0, k, size=n)]
    elif "mean" in name or "mse" in name:
        y = rng.normal(size=(n, k)).astype(np.float32)
    else:
        y = (rng.random((n, k)) > 0.5).astype(np.float32)
        y = y[:, 0] if k == 1 else y  # targets of shape (n,) for one unit, as users give them
    return model, x, y


def _keras_loss(model):
    """The model's compiled loss as Keras' own Loss object without reduction (independent of deepreplay)."""
    import keras

    loss = model.loss
    if isinstance(loss, str):
        loss = keras.losses.get({"mse": "mean_squared_error"}.get(loss, loss))
        if not isinstance(loss, keras.losses.Loss):
            return lambda y, p: loss(y.reshape(p.shape) if y.ndim < p.ndim and p.shape[-1] == 1 else y, p)
        return loss
    return type(loss).from_config({**loss.get_config(), "reduction": None})


def compare_case(activations, units, loss, scale, **kwargs) -> list[str]:
    """Every mismatch between the NumPy step and the compiled step / eager Keras on one case (empty: none)."""
    from deepreplay import _backend
    from deepreplay.layer_probe import LayerProbe
    from deepreplay.losses import per_sample_loss
    from deepreplay.metrics import compiled_metrics
    from deepreplay.numpy_step import NumpyStep, numpy_step

    model, x, y = build_case(activations, units, loss, scale, **kwargs)
    probe = LayerProbe.build(model, want_outputs=True, want_z=True, x=x)
    read = list(model.weights)
    specs = compiled_metrics(model, y)
    compiled = _backend.CompiledStep(model, per_sample_loss(model), x, y, with_gradients=True,
                                     metrics=[s.make() for s in specs], read=read, also=probe.call_for(x))
    ref = compiled.record()
    step = numpy_step(model, x, y, with_gradients=True, metrics=[s.make() for s in specs], read=read,
                      probe_slots=probe.value_layers)
    if not isinstance(step, NumpyStep):
        return ["not eligible"]
    out = step.record()
    problems = []

    def close(name, a, b, tol):
        # atol scales with the array's largest value (a z-value near 0 sums terms of its row's size).
        tol = dict(tol, atol=tol["atol"] * max(1.0, float(np.max(np.abs(b)))))
        try:
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tol)
        except AssertionError as exc:
            problems.append(f"{name}: {str(exc).strip().splitlines()[-3:]}")

    def grads_close(name, got, want):
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            err = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            if np.shape(a) != np.shape(b) or err > GRAD_REL * float(np.max(np.abs(b))) + 1e-9:
                problems.append(f"{name}[{i}]: max error {err:.3g}, largest {float(np.max(np.abs(b))):.3g}")

    close("predictions", out.predictions, ref.predictions, CLOSE)
    close("losses", out.losses, ref.losses, LOSS_TOL)
    grads_close("gradients", out.gradients, ref.gradients)
    # The same count of matches; its division by n may round one ulp apart (XLA multiplies by 1/n).  The
    # eager step (PyTorch) leaves metrics to Keras' metric objects: the reference then.
    ref_metrics = ref.metrics if ref.metrics is not None else [s.evaluate(y, ref.predictions) for s in specs]
    if len(out.metrics) != len(ref_metrics) or not np.allclose(out.metrics, ref_metrics, rtol=2e-7, atol=0):
        problems.append(f"metrics {out.metrics} != {ref_metrics}")
    for i, (a, b) in enumerate(zip(out.values, ref.values, strict=True)):
        if not np.array_equal(a, b):
            problems.append(f"read value {i}")
    ref_also = ref.also if ref.also is not None else probe.call_for(x)()  # fused on TensorFlow only
    if len(out.also) != len(ref_also):
        problems.append("probe values missing")
    else:
        for i, (a, b) in enumerate(zip(out.also, ref_also)):
            if np.shape(a) != np.shape(b) or np.asarray(a).dtype != np.asarray(b).dtype:
                problems.append(f"probe value {i}: {np.shape(a)} {np.asarray(a).dtype} != {np.shape(b)}")
            else:
                close(f"probe value {i}", a, b, CLOSE)
    if _backend.backend_name() == "jax":
        return problems  # the compiled step is jax.grad over Keras' stateless call (eager JAX compiles each op)
    # Keras directly, eagerly: its own loss class unreduced, the backend's autodiff of the mean.
    predictions, losses, grads = _backend.forward_with_gradients(model, _keras_loss(model), x, y,
                                                                 with_gradients=True)
    close("predictions (eager Keras)", out.predictions, predictions, CLOSE)
    close("losses (eager Keras)", out.losses, losses, LOSS_TOL)
    grads_close("gradients (eager Keras)", out.gradients, grads)
    if out.predictions.dtype != np.float32 or out.losses.dtype != np.float32 or out.losses.shape != (len(x),):
        problems.append(f"dtypes/shapes {out.predictions.dtype} {out.losses.dtype} {out.losses.shape}")
    return problems


#: The cases the JAX and PyTorch children run (every loss, activation and path; each JAX case compiles ~1 s).
CHILD_CASES = ("sigmoid-bce-saturated", "tanh-sigmoid-bce-smoothing", "relu-linear-bce-logits", "tanh-relu-bce",
               "softsign-tanh-mse", "elu-softmax-cce", "selu-softmax-scce", "softplus-linear-cce-logits",
               "relu-linear-scce-logits")


def run_cases() -> dict:
    results = {}
    for case_id, activations, units, loss, scale in CASES:
        if case_id in CHILD_CASES:
            results[case_id] = compare_case(activations, units, loss, scale)
    results["split-layers"] = compare_case(["tanh", "sigmoid"], [3, 1], "binary_crossentropy", 4.0,
                                           layers_kind="split")
    return results


# ==========================================================================
# The tests (TensorFlow in this process; JAX and PyTorch in children)
# ==========================================================================


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_numpy_step_equals_compiled_step_and_keras_on_tensorflow(case):
    _, activations, units, loss, scale = case
    assert compare_case(activations, units, loss, scale) == []


@pytest.mark.parametrize("layers_kind", ["split", "linear-tail"])
def test_dense_activation_dropout_layers_equal_keras(layers_kind):
    assert compare_case(["tanh", "sigmoid"], [3, 1], "binary_crossentropy", 8.0, layers_kind=layers_kind) == []


@pytest.fixture(scope="module")
def children():
    """``run(backend)``: the output of that backend's child, started when first asked for (under pytest-xdist
    each backend's test runs its own child, once, on whichever worker it lands)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    outputs = {}

    def run(backend):
        if backend not in outputs:
            proc = subprocess.Popen([sys.executable, __file__, backend], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, env={**env, "KERAS_BACKEND": backend})
            try:
                outputs[backend] = proc.communicate(timeout=240)[0]
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return outputs[backend]

    return run


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_numpy_step_equals_compiled_step_and_keras_on_other_backends(children, backend):
    text = children(backend)
    lines = [line for line in text.splitlines() if line.startswith("REPORT ")]
    assert lines, text[-4000:]
    report = json.loads(lines[-1][len("REPORT "):])
    assert report["backend"] == backend
    assert set(report["results"]) == {*CHILD_CASES, "split-layers"}
    assert {case: problems for case, problems in report["results"].items() if problems} == {}
    assert report["fallbacks"] == {"regularizer": True, "batch_norm": True, "leaky_relu": True, "bce_on_softmax": True}


# -- what is not eligible goes to the compiled step ---------------------------------------------------------
def _ineligible_models():
    import keras

    def seq(*layers, loss="binary_crossentropy", **compile_kwargs):
        model = keras.Sequential([keras.Input((3,)), *layers])
        model.compile(optimizer="sgd", loss=loss, **compile_kwargs)
        return model

    inp = keras.Input((3,))
    shared = keras.layers.Dense(3, activation="tanh")
    two_calls = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(shared(shared(inp))))
    two_calls.compile(optimizer="sgd", loss="binary_crossentropy")
    branch = keras.layers.Dense(3)(inp)
    skip = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Add()([branch, inp])))
    skip.compile(optimizer="sgd", loss="binary_crossentropy")
    two_outputs = keras.Model(inp, [keras.layers.Dense(1, activation="sigmoid")(inp),
                                    keras.layers.Dense(1, activation="sigmoid")(inp)])
    two_outputs.compile(optimizer="sgd", loss=["binary_crossentropy", "binary_crossentropy"])

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1, activation="sigmoid")

        def call(self, x):
            return self.dense(x)

    sub = Sub()
    sub(np.zeros((1, 3), np.float32))
    sub.compile(optimizer="sgd", loss="binary_crossentropy")
    nested = seq(keras.Sequential([keras.layers.Dense(2, activation="tanh")]), keras.layers.Dense(1, "sigmoid"))
    return {
        "kernel regularizer": seq(keras.layers.Dense(2, "tanh", kernel_regularizer="l2"),
                                  keras.layers.Dense(1, "sigmoid")),
        "activity regularizer": seq(keras.layers.Dense(2, "tanh", activity_regularizer="l1"),
                                    keras.layers.Dense(1, "sigmoid")),
        "BatchNormalization": seq(keras.layers.Dense(2), keras.layers.BatchNormalization(),
                                  keras.layers.Dense(1, "sigmoid")),
        "Conv1D": seq(keras.layers.Reshape((3, 1)), keras.layers.Conv1D(2, 2), keras.layers.Flatten(),
                      keras.layers.Dense(1, "sigmoid")),
        "leaky_relu activation": seq(keras.layers.Dense(2, "leaky_relu"), keras.layers.Dense(1, "sigmoid")),
        "LeakyReLU layer": seq(keras.layers.Dense(2), keras.layers.LeakyReLU(), keras.layers.Dense(1, "sigmoid")),
        "hinge loss": seq(keras.layers.Dense(1, "tanh"), loss="hinge"),
        "Huber loss": seq(keras.layers.Dense(1), loss=keras.losses.Huber()),
        "loss_weights": seq(keras.layers.Dense(1, "sigmoid"), loss_weights=[2.0]),
        "from_logits on a sigmoid output": seq(keras.layers.Dense(1, "sigmoid"),
                                               loss=keras.losses.BinaryCrossentropy(from_logits=True)),
        "shared layer": two_calls,
        "skip connection": skip,
        "two outputs": two_outputs,
        "subclassed model": sub,
        "nested model": nested,
        "mixed_float16": seq(keras.layers.Dense(2, "tanh", dtype="mixed_float16"), keras.layers.Dense(1, "sigmoid")),
        "not compiled": keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, "sigmoid")]),
    }


def test_ineligible_models_get_no_numpy_step():
    from deepreplay.numpy_step import numpy_step

    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    for name, model in _ineligible_models().items():
        target = [y, y] if name == "two outputs" else y
        assert numpy_step(model, x, target, with_gradients=True) is None, name


def test_inputs_targets_and_size_it_does_not_take():
    from deepreplay.numpy_step import numpy_step

    model, x, y = build_case(["tanh", "softmax"], [3, 3], "sparse_categorical_crossentropy", 1.0)
    assert numpy_step(model, x, y, with_gradients=True) is not None
    assert numpy_step(model, x, y + 3, with_gradients=True) is None  # labels out of range: Keras' own error
    assert numpy_step(model, x, y + 0.5, with_gradients=True) is None  # not integers
    assert numpy_step(model, x, y[:-1], with_gradients=True) is None  # lengths differ
    assert numpy_step(model, [x], y, with_gradients=True) is None  # a list of inputs
    assert numpy_step(model, x[:, :2], y, with_gradients=True) is None  # a feature short
    assert numpy_step(model, x, y, with_gradients=True, max_cost=0) is None  # over the size limit


def test_recorder_falls_back_to_the_compiled_step(tmp_path):
    import keras

    from deepreplay._backend import CompiledStep
    from deepreplay.callbacks import ReplayData
    from deepreplay.numpy_step import NumpyStep

    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    regularized = _ineligible_models()["kernel regularizer"]
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, "tanh"), keras.layers.Dense(1, "sigmoid")])
    plain.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    for model, kind in ((regularized, CompiledStep), (plain, NumpyStep)):
        rd = ReplayData(x, y, tmp_path / "fallback.h5", f"g{kind.__name__}")
        model.fit(x, y, epochs=1, verbose=0, callbacks=[rd])
        assert isinstance(rd._step, kind)
        # The layer probe's twins and extractor are built for the compiled step only (NumPy computes its values).
        assert (rd._probe._extractor is not None) == (kind is CompiledStep)


def test_other_metrics_are_evaluated_apart_and_weighted_ones_with_their_weights(tmp_path):
    """A metric the NumPy step does not compute: metrics=None, the recorder evaluates them all with Keras."""
    import keras

    from deepreplay import numpy_step
    from deepreplay.callbacks import ReplayData
    from deepreplay.storage import RecordingReader

    x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    w = np.linspace(0.5, 2.0, len(x))
    evaluations = {}
    for allowed in (True, False):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, "tanh"), keras.layers.Dense(1, "sigmoid")])
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy", "mae"],
                      weighted_metrics=["accuracy"])
        rd = ReplayData(x, y, tmp_path / "metrics.h5", f"g{allowed}", sample_weight=w)
        saved = numpy_step.MAX_COST
        numpy_step.MAX_COST = saved if allowed else 0
        try:
            model.fit(x, y, epochs=2, verbose=0, shuffle=False, callbacks=[rd])
        finally:
            numpy_step.MAX_COST = saved
        assert isinstance(rd._step, numpy_step.NumpyStep) == allowed
        with RecordingReader(tmp_path / "metrics.h5", f"g{allowed}") as r:
            evaluations[allowed] = {name: r.evaluation(name) for name in ("accuracy", "mae", "weighted_accuracy")}
    for name, values in evaluations[True].items():
        np.testing.assert_allclose(values, evaluations[False][name], rtol=1e-6, err_msg=name)
    assert evaluations[True]["weighted_accuracy"][0] != evaluations[True]["accuracy"][0]


def test_gradient_rows_probe_rows_and_no_gradients_equal_the_compiled_step():
    from deepreplay import _backend
    from deepreplay.layer_probe import LayerProbe
    from deepreplay.losses import per_sample_loss
    from deepreplay.numpy_step import numpy_step

    model, x, y = build_case(["relu", "sigmoid"], [6, 1], "binary_crossentropy", 1.0, n=200)
    rows = np.arange(0, 200, 3)
    probe = LayerProbe.build(model, want_outputs=True, want_z=True, x=x)
    ref = _backend.CompiledStep(model, per_sample_loss(model), x, y, with_gradients=True, gradient_rows=rows,
                                also=probe.call_for(x[rows])).record()
    out = numpy_step(model, x, y, with_gradients=True, gradient_rows=rows, probe_slots=probe.value_layers,
                     probe_rows=rows).record()
    np.testing.assert_allclose(out.losses, ref.losses, **LOSS_TOL)
    for a, b in zip(out.gradients, ref.gradients, strict=True):
        assert np.max(np.abs(a - b)) <= GRAD_REL * np.max(np.abs(b))
    for a, b in zip(out.also, ref.also, strict=True):
        np.testing.assert_allclose(a, b, **CLOSE)
    none = numpy_step(model, x, y, with_gradients=False).record()
    assert none.gradients is None and none.also is None  # as the compiled step without gradients
    np.testing.assert_array_equal(none.predictions, out.predictions)


def test_part1_fit_recorded_with_numpy_step_equals_compiled_recording_and_keras(tmp_path):
    """The Part 1 fit recorded twice (NumPy step, compiled step): same weights, the same values within
    tolerance, and ``model_at(k)`` gives what the model gave at epoch k."""
    import keras

    from deepreplay import numpy_step
    from deepreplay.callbacks import ReplayData
    from deepreplay.datasets.parabola import load_data
    from deepreplay.demo import build_part1_model
    from deepreplay.replay import Replay
    from deepreplay.storage import RecordingReader

    X, y = load_data()
    epochs, filename = 3, tmp_path / "part1.h5"
    snapshots = {}

    class Snapshot(keras.callbacks.Callback):
        def __init__(self, key):
            super().__init__()
            self.key = key

        def on_train_begin(self, logs=None):
            snapshots[self.key] = [self.model.predict(X[:200], verbose=0)]

        def on_epoch_end(self, epoch, logs=None):
            snapshots[self.key].append(self.model.predict(X[:200], verbose=0))

    for allowed in (True, False):
        model = build_part1_model("sigmoid")
        rd = ReplayData(X, y, filename, f"numpy{allowed}")
        saved = numpy_step.MAX_COST
        numpy_step.MAX_COST = saved if allowed else 0
        try:
            model.fit(X, y, epochs=epochs, batch_size=16, shuffle=False, verbose=0, callbacks=[rd, Snapshot(allowed)])
        finally:
            numpy_step.MAX_COST = saved
        assert isinstance(rd._step, numpy_step.NumpyStep) == allowed
    with RecordingReader(filename, "numpyTrue") as new, RecordingReader(filename, "numpyFalse") as old:
        assert new.n_records == old.n_records == epochs + 1
        for k in range(epochs + 1):
            for layer, variables in old.weights(k).items():
                for name, value in variables.items():
                    np.testing.assert_array_equal(new.weights(k)[layer][name], value)
                    g_new, g_old = new.gradients(k)[layer][name], old.gradients(k)[layer][name]
                    assert np.max(np.abs(g_new - g_old)) <= GRAD_REL * np.max(np.abs(g_old))
            np.testing.assert_allclose(new.predictions(k), old.predictions(k), **CLOSE)
            np.testing.assert_allclose(new.losses(k), old.losses(k), **LOSS_TOL)
            for layer in ("hidden", "output"):
                for kind in ("activations", "z"):
                    np.testing.assert_allclose(new.outputs(k, layer, kind), old.outputs(k, layer, kind), **CLOSE)
            assert new.evaluation("accuracy")[k] == old.evaluation("accuracy")[k]
            assert new.evaluation("loss")[k] == pytest.approx(old.evaluation("loss")[k], rel=2e-6)
    with Replay(filename, "numpyTrue") as replay:
        for k in range(epochs + 1):
            np.testing.assert_allclose(replay.model_at(k).predict(X[:200], verbose=0), snapshots[True][k], **CLOSE)
    for a, b in zip(snapshots[True], snapshots[False], strict=True):
        np.testing.assert_array_equal(a, b)  # recording with either step leaves training alike


def test_wide_layer_and_gradient_subset_recorded_alike(tmp_path):
    """2,100 samples through 16 tanh units: the layer's outputs are kept for 64 samples and the gradients come
    from 2,048 of the samples; both steps record the same."""
    import keras

    from deepreplay import numpy_step
    from deepreplay.callbacks import ReplayData
    from deepreplay.storage import RecordingReader

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2100, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.float32)
    filename = tmp_path / "wide.h5"
    for allowed in (True, False):
        keras.utils.set_random_seed(5)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, "tanh", name="wide"),
                                  keras.layers.Dense(1, "sigmoid", name="out")])
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        rd = ReplayData(x, y, filename, f"numpy{allowed}", significant_bits=None)
        saved = numpy_step.MAX_COST
        numpy_step.MAX_COST = saved if allowed else 0
        try:
            model.fit(x, y, epochs=1, batch_size=64, shuffle=False, verbose=0, callbacks=[rd])
        finally:
            numpy_step.MAX_COST = saved
        assert isinstance(rd._step, numpy_step.NumpyStep) == allowed
        assert rd.gradient_rows is not None
    with RecordingReader(filename, "numpyTrue") as new, RecordingReader(filename, "numpyFalse") as old:
        for k in range(2):
            assert new.outputs(k, "wide").shape == (64, 16)
            for layer in ("wide", "out"):
                for kind in ("activations", "z"):
                    np.testing.assert_allclose(new.outputs(k, layer, kind), old.outputs(k, layer, kind), **CLOSE)
            for layer, variables in old.gradients(k).items():
                for name, g in variables.items():
                    assert np.max(np.abs(new.gradients(k)[layer][name] - g)) <= GRAD_REL * np.max(np.abs(g))
            np.testing.assert_allclose(new.losses(k), old.losses(k), **LOSS_TOL)


# ==========================================================================
# Child process: python tests/test_numpy_step.py BACKEND
# ==========================================================================


def _child(backend: str) -> None:
    os.environ["KERAS_BACKEND"] = backend
    sys.path.insert(0, str(REPO))
    from deepreplay.numpy_step import numpy_step

    results = run_cases()
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    models = _ineligible_models()
    fallbacks = {key: numpy_step(models[name], x, y, with_gradients=True) is None
                 for key, name in (("regularizer", "kernel regularizer"), ("batch_norm", "BatchNormalization"),
                                   ("leaky_relu", "leaky_relu activation"))}
    model, x3, y3 = build_case(["tanh", "softmax"], [4, 3], "binary_crossentropy", 1.0)
    fallbacks["bce_on_softmax"] = numpy_step(model, x3, y3, with_gradients=True) is None  # TensorFlow only
    import keras

    print("REPORT " + json.dumps({"backend": keras.backend.backend(), "results": results, "fallbacks": fallbacks}),
          flush=True)


if __name__ == "__main__":
    _child(sys.argv[1])


def test_the_step_asks_the_forward_passs_classifier_and_more_of_it():
    """One classifier (numpy_forward.numpy_layer) decides what NumPy runs; the step takes a subset of it."""
    import keras

    from deepreplay.numpy_forward import numpy_layer
    from deepreplay.numpy_step import plain_layer

    def relu(x):  # a user's function named like Keras' own
        return keras.ops.relu(x)

    layers = {
        "relu": keras.layers.Dense(2, "relu"), "silu": keras.layers.Dense(2, "silu"),
        "user relu": keras.layers.Dense(2, relu), "regularized": keras.layers.Dense(2, kernel_regularizer="l2"),
        "linear activation": keras.layers.Activation("linear"), "dropout": keras.layers.Dropout(0.2),
        "gelu": keras.layers.Dense(2, "gelu"), "float64": keras.layers.Dense(2, dtype="float64"),
    }
    for layer in layers.values():
        layer.build((None, 3))
    seen = {name: numpy_layer(layer) for name, layer in layers.items()}
    step = {name: plain_layer(layer) for name, layer in layers.items()}
    assert {name for name, v in seen.items() if v is None} == {"gelu", "float64", "user relu"}
    assert {name for name, v in step.items() if v is not None} == {"relu", "linear activation", "dropout"}
    assert seen["regularized"].regularized and seen["silu"].activation == "silu"
    assert [(step[n].kind, step[n].activation) for n in ("relu", "linear activation", "dropout")] == \
        [(seen[n].kind, seen[n].activation) for n in ("relu", "linear activation", "dropout")] == \
        [("dense", "relu"), ("identity", "linear"), ("identity", "linear")]
