"""A NumPy recording step for small plain Dense stacks: Keras' full-batch pass, hand-derived, without tracing.

Each record needs, on the recorded samples, the model's predictions, the
per-sample losses, the full-batch gradients, the compiled metrics, the
weights and every layer's outputs and z-values.
:class:`deepreplay._backend.CompiledStep` computes them in one compiled call
of Keras itself (``tf.function`` / ``jax.jit``); :func:`numpy_step` returns a
:class:`NumpyStep` that computes the same :class:`~deepreplay._backend.StepOutputs`
in NumPy (float32), for the models where that is exactly Keras' computation,
and None for every other model (the caller then uses the compiled step).

Eligible (anything else: None):

* a ``keras.Sequential`` or functional ``keras.Model`` (not a subclass) that
  is a plain chain (one input, one output, each layer called once on the
  previous one's output) of ``Dense`` (the first; no LoRA, no quantization),
  ``Activation`` and ``Dropout`` layers (the identity in inference mode, as
  the recording calls the model), float32, without regularizers;
* activations with a hand-written derivative: linear, relu, sigmoid, tanh,
  softmax, elu, selu, softplus, softsign;
* the compiled loss (a name, the function, or the ``Loss`` class) one of
  binary cross-entropy (``from_logits`` both ways, any ``label_smoothing``),
  mean squared error, categorical and sparse categorical cross-entropy
  (``from_logits`` both ways; label smoothing for the categorical one;
  ``ignore_class=None``), ``axis=-1``, no ``loss_weights``; ``from_logits=True``
  on a sigmoid or softmax output is left to Keras (it warns about it), and so
  is binary cross-entropy on a softmax output except on TensorFlow;
* one input array of shape ``(n, features)``, one target array of the shape
  the loss takes (``(n, units)``, or ``(n,)`` for one unit; integer labels
  ``(n,)`` or ``(n, 1)`` for the sparse loss);
* no distribution strategy (TensorFlow) or ``keras.distribution`` (JAX);
* small enough: ``n x (multiply-adds of one sample's forward pass)`` at most
  :data:`MAX_COST` (see below).

Metrics: ``BinaryAccuracy`` (any threshold), ``CategoricalAccuracy`` and
``SparseCategoricalAccuracy`` (what ``metrics=["accuracy"]`` resolves to),
unweighted and of the one output, are computed here; with any other metric
the step returns ``metrics=None`` and the recorder evaluates them all with
Keras, as it does after an eager step.

Keras' formulas are followed per backend, including what its autodiff does:
on TensorFlow a sigmoid or softmax output keeps its logits
(``_keras_logits``), and the three cross-entropies computed on such an
output use them (``sigmoid_cross_entropy_with_logits``,
``softmax_cross_entropy_with_logits``): no clipping, gradient
``softmax - labels``.  Elsewhere (and on TensorFlow for other outputs) the
probabilities are clipped to ``[epsilon, 1 - epsilon]`` and the gradient is
zero where the clip is active (TensorFlow and PyTorch pass it at the bounds
themselves, JAX passes half of it there, as their clip gradients do).

Why it is hand-written.  The project prefers Keras' compiled calls; but on
the posts' tiny models the compiled call is all fixed cost: tracing its
``tf.function`` when a fit starts (~80-90 ms) and ~1 ms per call inside a fit
for a few microseconds of arithmetic.  Measured with ``benchmarks/numpy_step.py``
(TensorFlow CPU, 2 shared cores, load 2.5-3.0, 2026-11-30; the two steps
alternating in one process, medians):

==============================================  ==============  ============
Part 1 (2-2-1 sigmoid, 2,000 samples)           compiled step   NumPy step
==============================================  ==============  ============
building the step + record 0 (5 set-ups)        77.0 ms         7.9 ms
one record, warm loop (100 records)             0.90 ms         0.56 ms
in 30-epoch fits (3 each): ``on_train_begin``   104 ms          22 ms
... the callback's hooks per epoch              1.30 ms         0.79 ms
... own time per epoch, set-up included         6.56 ms         3.38 ms
==============================================  ==============  ============

Where it stops: records (CPU, compiled / NumPy) on larger stacks of the
same kind, ``n x multiply-adds`` in brackets.  In that run: 2-16-16-1 tanh on
2,000 samples (608,000) 0.97 / 0.80 ms; 10-32-32-1 relu (2.75 M) 1.26 / 1.08;
10-64-64-1 (9.6 M) 6.3 / 2.2; BLOCK (5 x 100 relu, 1,000 samples, 41 M)
15.2 / 8.0.  But in two runs under a little more load (3.0-3.4) NumPy's
multithreaded matrix products, competing with TensorFlow's threads for the
two cores, lost badly: 10-32-32-1 1.4 / 3.5 ms, 10-64-64-1 4.0 / 4.6 ms,
BLOCK 14 / 184 ms (as ``numpy_forward`` measured the BLOCK grids 2.5x slower
than a compiled call).  The set-up saving (~70-110 ms per fit) does not
cover such losses over a 150-epoch fit.  So :data:`MAX_COST` is 1,000,000:
the posts' Part 1 networks and stacks up to ~16 units on 2,000 samples get
the NumPy step, wider or longer ones keep the compiled call.

Values equal Keras' to float32 rounding (``tests/test_numpy_step.py``
compares them with the compiled step and with Keras' own loss and autodiff
on every backend).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from deepreplay import _backend
from deepreplay.model_inspection import chain_layers
from deepreplay.numpy_forward import NUMPY_ACTIVATIONS, SELU_ALPHA, SELU_SCALE, numpy_layer

__all__ = ["MAX_COST", "NumpyStep", "forward_cost", "numpy_step", "plain_layer", "step_plan"]

#: Largest ``n_samples x multiply-adds per sample`` (one forward pass) computed in NumPy; see the module doc.
MAX_COST = 1_000_000

_F32 = np.float32


def _mean_last(values: np.ndarray) -> np.ndarray:
    """``np.mean(values, axis=-1)`` of a float32 array, bit for bit (the same pairwise sum, then the division
    correctly rounded to float32), without ``np.mean``'s Python overhead (~6 us a call, four calls a record)."""
    return np.add.reduce(values, axis=-1) / values.shape[-1]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return NUMPY_ACTIVATIONS["sigmoid"](z)


def _rounded(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``fn`` evaluated in float64 and rounded to float32: within half an ulp, where the backends' kernels
    are within an ulp or two (float32 NumPy was up to ~10 ulps off near 1, e.g. sigmoid(4.595))."""
    return lambda z: fn(z.astype(np.float64)).astype(np.float32)


def _rounded_sigmoid(z: np.ndarray) -> np.ndarray:
    """``_rounded(sigmoid)`` bit for bit (the same float64 operations), in one buffer and without the
    shared twin's own ``np.errstate`` (the step runs under one): ~4 us less per layer and record."""
    e = np.negative(z, dtype=np.float64)
    np.exp(e, out=e)
    e += 1.0
    np.divide(1.0, e, out=e)
    return e.astype(np.float32)


# The derivative of each activation, as a function of (z, a, da) -> dz (elementwise ones; softmax apart).
def _relu_grad(z, a, da):
    return da * (z > 0)


def _sigmoid_grad(z, a, da):
    return da * a * (1 - a)


def _tanh_grad(z, a, da):
    return da * (1 - a * a)


def _elu_grad(z, a, da):
    return np.where(z > 0, da, da * (a + 1))


_SELU_ALPHA, _SELU_SCALE = _F32(SELU_ALPHA), _F32(SELU_SCALE)


def _selu_grad(z, a, da):
    return np.where(z > 0, da * _SELU_SCALE, da * (a + _SELU_SCALE * _SELU_ALPHA))


def _softplus_grad(z, a, da):
    return da * _sigmoid(z)


def _softsign_grad(z, a, da):
    d = 1 + np.abs(z)
    return da / (d * d)


def _softmax_grad(z, a, da):
    return a * (da - np.sum(da * a, axis=-1, keepdims=True))


_DERIVATIVES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "linear": lambda z, a, da: da,
    "relu": _relu_grad,
    "sigmoid": _sigmoid_grad,
    "tanh": _tanh_grad,
    "softmax": _softmax_grad,
    "elu": _elu_grad,
    "selu": _selu_grad,
    "softplus": _softplus_grad,
    "softsign": _softsign_grad,
}


class _Layer:
    """One layer of the chain: 'dense' (kernel, bias, activation), 'activation' or 'identity'."""

    def __init__(self, layer: keras.layers.Layer, kind: str, activation: str) -> None:
        self.layer, self.kind, self.activation = layer, kind, activation
        self.forward = _rounded_sigmoid if activation == "sigmoid" else \
            _rounded(NUMPY_ACTIVATIONS[activation]) if activation not in ("linear", "relu") else \
            NUMPY_ACTIVATIONS[activation]
        self.derivative = _DERIVATIVES[activation]
        self.kernel = layer.kernel if kind == "dense" else None
        self.bias = layer.bias if kind == "dense" else None


def _float32(layer: keras.layers.Layer) -> bool:
    policy = getattr(layer, "dtype_policy", None)
    return getattr(policy, "name", None) == "float32" and getattr(policy, "quantization_mode", None) is None


def _chain_layers(model: keras.Model) -> list[keras.layers.Layer] | None:
    """The layers of a ``keras.Sequential`` or functional model (not a subclass) that is a plain chain
    (:func:`deepreplay.model_inspection.chain_layers`), else None."""
    cls = type(model)
    if not (cls.__module__.startswith("keras.") and cls.__name__ in ("Sequential", "Functional")):
        return None
    return chain_layers(model)


def plain_layer(layer: keras.layers.Layer) -> _Layer | None:
    """The step's view of ``layer``: a layer with a NumPy twin (:func:`deepreplay.numpy_forward.numpy_layer`)
    in the float32 policy, without regularizers, whose activation (Keras' own) has a derivative here;
    else None."""
    plain = numpy_layer(layer) if _float32(layer) else None
    if plain is None or plain.regularized or plain.activation not in _DERIVATIVES:
        return None
    return _Layer(layer, plain.kind, plain.activation)


_LOSS_NAMES = {
    "binary_crossentropy": "bce", "bce": "bce",
    "mean_squared_error": "mse", "mse": "mse",
    "categorical_crossentropy": "cce",
    "sparse_categorical_crossentropy": "scce",
}
_LOSS_CLASSES = {"BinaryCrossentropy": "bce", "MeanSquaredError": "mse", "CategoricalCrossentropy": "cce",
                 "SparseCategoricalCrossentropy": "scce"}


def _loss_spec(model: keras.Model) -> tuple[str, bool, float] | None:
    """``(kind, from_logits, label_smoothing)`` of the model's compiled loss, or None when it is not handled."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    elif isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss.values()))
    try:
        if (model.get_compile_config() or {}).get("loss_weights") is not None:
            return None
    except Exception:  # noqa: BLE001
        return None
    if isinstance(loss, str):
        kind = _LOSS_NAMES.get(loss)
        return (kind, False, 0.0) if kind else None
    if isinstance(loss, keras.losses.Loss):
        kind = _LOSS_CLASSES.get(type(loss).__name__)
        if kind is None or not type(loss).__module__.startswith("keras.") or \
                getattr(loss, "dtype", "float32") not in (None, "float32"):
            return None
        config = loss.get_config()
        if config.get("axis", -1) != -1 or config.get("ignore_class") is not None:
            return None
        smoothing = float(config.get("label_smoothing", 0.0) or 0.0)
        if kind == "scce" and smoothing:
            return None
        return kind, bool(config.get("from_logits", False)), smoothing
    for name, kind in _LOSS_NAMES.items():
        if loss is getattr(keras.losses, name, None):
            return kind, False, 0.0
    return None


_METRIC_CLASSES = {"BinaryAccuracy": "binary", "CategoricalAccuracy": "categorical",
                   "SparseCategoricalAccuracy": "sparse"}


def _metric_plan(metrics: Sequence[Any]) -> list[tuple[str, float]] | None:
    """``(kind, threshold)`` per metric when every one is computed here, else None."""
    plan = []
    for item in metrics:
        metric, select, sample_weight = (tuple(item) + (None, None))[:3] if isinstance(item, tuple) else \
            (item, None, None)
        kind = _METRIC_CLASSES.get(type(metric).__name__)
        if kind is None or not type(metric).__module__.startswith("keras.") or select is not None or \
                sample_weight is not None or getattr(metric, "dtype", "float32") != "float32":
            return None
        plan.append((kind, float(getattr(metric, "threshold", 0.5)) if kind == "binary" else 0.0))
    return plan


def step_plan(model: keras.Model, x: Any, y: Any) -> list[_Layer] | None:
    """The chain :class:`NumpyStep` computes for ``model`` on ``(x, y)``, or None when it is not eligible.

    Size is not checked here (see :func:`numpy_step`).
    """
    planned = _step_plan(model, x, y)
    return None if planned is None else planned[0]


def _step_plan(model: keras.Model, x: Any, y: Any) -> tuple[list[_Layer], tuple[str, bool, float]] | None:
    """:func:`step_plan` and the loss's :func:`_loss_spec` (read once: each read serializes the compile
    config, optimizer included, ~0.5 ms)."""
    if not getattr(model, "compiled", False) or not _float32(model):
        return None
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray) or x.ndim != 2 or x.dtype.kind not in "fiu" \
            or y.dtype.kind not in "fiub" or len(y) != len(x) or len(x) == 0:
        return None
    layers = _chain_layers(model)
    if layers is None:
        return None
    plan = [plain_layer(layer) for layer in layers]
    if any(step is None for step in plan):
        return None
    spec = _loss_spec(model)
    if spec is None or _backend.is_distributed(model):
        return None
    dense = [step for step in plan if step.kind == "dense"]
    if not dense or dense[0].kernel.shape[0] != x.shape[1] or plan[0].kind != "dense":
        return None
    units = int(dense[-1].kernel.shape[1])
    kind, from_logits, _ = spec
    last = [step for step in plan if step.kind != "identity"][-1]
    if from_logits and last.activation in ("sigmoid", "softmax"):
        return None  # Keras warns and uses the logits on TensorFlow only: left to Keras
    if kind == "bce" and last.activation == "softmax" and not _backend.crossentropy_takes_logits():
        # Saturated, its gradient is a difference of two large float32 terms whose rounding depends on the
        # order of operations: up to a few % of the largest gradient apart from JAX's.  Left to Keras.
        return None
    if kind == "scce":
        labels = y.reshape(len(y), -1)
        if labels.shape[1] != 1 or units < 2 or not np.all(np.isfinite(labels)) or \
                np.any(labels != np.floor(labels)) or labels.min() < 0 or labels.max() >= units:
            return None
    elif not (y.shape == (len(y), units) or (y.ndim == 1 and units == 1)):
        return None
    elif kind == "cce" and units < 2:
        return None
    return plan, spec


def forward_cost(plan: Sequence[_Layer], n: int) -> int:
    """``n x`` multiply-adds of one sample's forward pass through the Dense layers of ``plan``."""
    return n * sum(int(math.prod(step.kernel.shape)) for step in plan if step.kind == "dense")


def numpy_step(model: keras.Model, x: Any, y: Any, *, with_gradients: bool, metrics: Sequence[Any] = (),
               read: Sequence[keras.Variable] = (), probe_slots: Sequence[tuple[keras.layers.Layer, str]] = (),
               probe_rows: np.ndarray | None = None, gradient_rows: np.ndarray | None = None,
               max_cost: int | None = None) -> NumpyStep | None:
    """A :class:`NumpyStep` for ``model`` on ``(x, y)``, or None when it is not eligible (see the module doc).

    Parameters
    ----------
    model : keras.Model
        A built, compiled model; never changed.
    x, y : ndarray
        The recorded inputs and targets.
    with_gradients : bool
        Whether gradients are computed (``StepOutputs.gradients``, in
        ``model.trainable_variables`` order).
    metrics : sequence
        As for :class:`deepreplay._backend.CompiledStep`.
    read : sequence of keras.Variable
        Variables whose values are returned (``StepOutputs.values``).
    probe_slots : sequence of (layer, kind)
        The layer probe's values, in its order: ``(layer, "activations")``
        or ``(layer, "z")`` (``StepOutputs.also``; None when empty).
    probe_rows : ndarray, optional
        Positions of the samples the probe's values cover (default: all).
    gradient_rows : ndarray, optional
        Positions of the samples the gradients are taken on (default: all).
    max_cost : int, optional
        Largest ``n x`` multiply-adds per sample computed here (default:
        :data:`MAX_COST`, read at each call; setting it to 0 turns the NumPy
        step off).
    """
    planned = _step_plan(model, x, y)
    if planned is None or forward_cost(planned[0], len(x)) > (MAX_COST if max_cost is None else max_cost):
        return None
    plan, spec = planned
    by_layer = {id(step.layer): step for step in plan}
    if any(id(layer) not in by_layer or kind not in ("activations", "z") for layer, kind in probe_slots):
        return None
    return NumpyStep(model, plan, x, y, with_gradients=with_gradients, metrics=metrics, read=read,
                     probe_slots=probe_slots, probe_rows=probe_rows, gradient_rows=gradient_rows, loss_spec=spec)


class NumpyStep:
    """One record's :class:`~deepreplay._backend.StepOutputs`, computed in NumPy (built by :func:`numpy_step`).

    Calling :meth:`record` reads the variables' current values and computes
    everything from them; nothing of the model changes.  Every array it
    returns is new memory (:attr:`fresh_values`).
    """

    #: Not a compiled call (for the recorder's reports); the probe's values are computed in the same pass.
    compiled = False
    runs_also = True
    fresh_values = True

    def __init__(self, model: keras.Model, plan: list[_Layer], x: np.ndarray, y: np.ndarray, *,
                 with_gradients: bool, metrics: Sequence[Any], read: Sequence[keras.Variable],
                 probe_slots: Sequence[tuple[keras.layers.Layer, str]], probe_rows: np.ndarray | None,
                 gradient_rows: np.ndarray | None, loss_spec: tuple[str, bool, float] | None = None) -> None:
        self.model = model
        self.plan = plan
        self.x = np.asarray(x, dtype=np.float32)
        n = len(self.x)
        self.kind, self.from_logits, smoothing = loss_spec or _loss_spec(model)
        units = int([s for s in plan if s.kind == "dense"][-1].kernel.shape[1])
        self.units = units
        if self.kind == "scce":
            self.labels = np.asarray(y, dtype=np.float32).reshape(n).astype(np.int64)
            self.y = np.eye(units, dtype=np.float32)[self.labels]
        else:
            self.y = np.asarray(y, dtype=np.float32).reshape(n, units)
            if smoothing and self.kind == "bce":
                self.y = self.y * _F32(1.0 - smoothing) + _F32(0.5 * smoothing)
            elif smoothing and self.kind == "cce":
                self.y = self.y * _F32(1.0 - smoothing) + _F32(smoothing / units)
        self.targets = np.asarray(y)
        self.targets_f32 = self.targets.astype(np.float32)
        self.trainable = list(model.trainable_variables)
        self.with_gradients = bool(with_gradients) and bool(self.trainable)
        self._empty_grads = [] if with_gradients else None
        self.read = list(read)
        # Every variable a record reads, in one reader: the layers' weights, then the other ``read`` ones.
        variables = [v for step in plan for v in (step.kernel, step.bias) if v is not None]
        known = {id(v) for v in variables}
        variables += [v for v in self.read if id(v) not in known]
        self._variable_ids = [id(v) for v in variables]
        self._read_values = _backend.variable_reader(variables)
        self.metric_plan = _metric_plan(metrics)
        self.probe_slots = [(id(layer), kind) for layer, kind in probe_slots]
        self.probe_rows = None if probe_rows is None else np.asarray(probe_rows, dtype=np.int64)
        # d(mean loss)/d(per-sample loss): 1/n, or 1/m on the m gradient rows and 0 elsewhere.
        if gradient_rows is None:
            self.row_weight: np.ndarray | float = _F32(1.0) / _F32(n)
        else:
            rows = np.unique(np.asarray(gradient_rows, dtype=np.int64))
            weight = np.zeros((n, 1), dtype=np.float32)
            weight[rows] = _F32(1.0) / _F32(len(rows))
            self.row_weight = weight
        last = [step for step in plan if step.kind != "identity"][-1]
        # TensorFlow's cross-entropies take the logits of a sigmoid or softmax output (see the module doc).
        self.uses_logits = self.from_logits or (_backend.crossentropy_takes_logits() and self.kind != "mse"
                                                and last.activation in ("sigmoid", "softmax"))
        self.at_bounds = _F32(_backend.clip_gradient_at_bounds())
        self.output_step = last
        # Positions in the plan, the same at every record.
        self._output_index = plan.index(last)
        self._first_dense = next(i for i, step in enumerate(plan) if step.kind == "dense")
        self._position = {id(step.layer): i for i, step in enumerate(plan)}

    def __call__(self) -> tuple[Any, np.ndarray, list[np.ndarray] | None]:
        return tuple(self.record()[:3])

    # -- the computation ---------------------------------------------------------------------------
    def _forward(self, values: dict[int, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(input, z, output)`` of every layer of the chain."""
        out, trace = self.x, []
        for step in self.plan:
            inp = out
            if step.kind == "dense":
                z = inp @ values[id(step.kernel)]
                if step.bias is not None:
                    z = z + values[id(step.bias)]
                out = step.forward(z)
            elif step.kind == "activation":
                z = inp
                out = step.forward(z)
            else:
                z = out = inp
            trace.append((inp, z, np.asarray(out, dtype=np.float32)))
            out = trace[-1][2]
        return trace

    def _loss(self, p: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Per-sample losses and d(loss of each sample)/d(output) (or d/d(logits) when the third item is True)."""
        kind, t, k = self.kind, self.y, _F32(self.units)
        if kind == "mse":
            diff = p - t
            return _mean_last(diff * diff), (2 * diff) / k, False
        if self.uses_logits:
            # TensorFlow's shortcut takes the output layer's logits (its gradient is then at z); from_logits the
            # output itself.
            at_logits = not self.from_logits
            z = logits if at_logits else p
            if kind == "bce":
                # sigmoid_cross_entropy_with_logits: max(z, 0) - z t + log1p(exp(-|z|)), differentiated as written.
                positive = z >= 0
                e = np.exp(np.where(positive, -z, z))
                loss = np.where(positive, z, 0) - z * t + np.log1p(e)
                soft = e / (1 + e)
                grad = positive.astype(np.float32) - t + np.where(positive, -soft, soft)
                return _mean_last(loss), grad / k, at_logits
            shifted = z - z.max(axis=-1, keepdims=True)
            log_sum = np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
            loss = np.sum(t * (log_sum - shifted), axis=-1)
            soft = np.exp(shifted - log_sum)
            return loss, soft * np.sum(t, axis=-1, keepdims=True) - t, at_logits
        eps = _F32(keras.config.epsilon())
        high = _F32(1.0) - eps
        if kind == "bce":
            q = np.clip(p, eps, high)
            loss = -(t * np.log(q) + (1 - t) * np.log(1 - q))
            dq = (1 - t) / (1 - q) - t / q
            return _mean_last(loss), self._clip_mask(p, eps, high) * dq / k, False
        # Categorical (and sparse, one-hot): normalised, clipped, -sum(t log q).
        total = np.sum(p, axis=-1, keepdims=True)
        r = p / total
        q = np.clip(r, eps, high)
        loss = -np.sum(t * np.log(q), axis=-1)
        dr = self._clip_mask(r, eps, high) * (-t / q)
        dp = (dr - np.sum(dr * r, axis=-1, keepdims=True)) / total
        return loss, dp, False

    def _clip_mask(self, p: np.ndarray, low: np.float32, high: np.float32) -> np.ndarray:
        """The gradient ``clip(p, low, high)`` lets through: 1 inside, 0 outside; at a bound 1 (TensorFlow,
        PyTorch) or 1/2 (JAX, whose clip splits it between the two arguments of max/min)."""
        inside = ((p >= low) & (p <= high)).astype(np.float32)
        if self.at_bounds != 1:
            inside[(p == low) | (p == high)] = self.at_bounds
        return inside

    def _gradients(self, trace: list, values: dict[int, np.ndarray], d_out: np.ndarray,
                   at_logits: bool) -> dict[int, np.ndarray]:
        grads: dict[int, np.ndarray] = {}
        da = d_out
        first_dense, output_index = self._first_dense, self._output_index
        for i in range(len(self.plan) - 1, first_dense - 1, -1):
            step = self.plan[i]
            inp, z, out = trace[i]
            if step.kind == "identity":
                continue
            dz = da if (at_logits and i == output_index) else step.derivative(z, out, da)
            if step.kind == "activation":
                da = dz
                continue
            grads[id(step.kernel)] = inp.T @ dz
            if step.bias is not None:
                grads[id(step.bias)] = dz.sum(axis=0)
            if i > first_dense:
                da = dz @ values[id(step.kernel)].T
        return grads

    def _metrics(self, p: np.ndarray) -> list[float] | None:
        if self.metric_plan is None:
            return None
        results, n = [], _F32(len(p))
        for kind, threshold in self.metric_plan:
            if kind == "binary":
                t = self.targets_f32.reshape(p.shape)
                matches = (t == (p > _F32(threshold)).astype(np.float32)).astype(np.float32)
                per_sample = _mean_last(matches)
            elif kind == "categorical":
                t = self.targets.reshape(p.shape)
                per_sample = (np.argmax(t, axis=-1) == np.argmax(p, axis=-1)).astype(np.float32)
            else:
                labels = self.targets_f32.reshape(len(p))
                per_sample = (labels == np.argmax(p, axis=-1).astype(np.float32)).astype(np.float32)
            results.append(float(np.sum(per_sample, dtype=np.float32) / n))
        return results

    def record(self) -> _backend.StepOutputs:
        """Predictions, losses, gradients, the metrics (or None), the values of ``read`` and the probe's values."""
        # Diverging weights give infinite or NaN values, silently, as in Keras.
        with np.errstate(all="ignore"):
            return self._record()

    def _record(self) -> _backend.StepOutputs:
        values = dict(zip(self._variable_ids, self._read_values()))
        trace = self._forward(values)
        p = trace[-1][2]
        losses, d_out, at_logits = self._loss(p, trace[self._output_index][1])
        losses = np.asarray(losses, dtype=np.float32)
        if self.with_gradients:
            d_out = np.asarray(d_out * self.row_weight, dtype=np.float32)
            by_id = self._gradients(trace, values, d_out, at_logits)
            grads = [np.asarray(by_id[id(v)], dtype=np.float32) if id(v) in by_id
                     else np.zeros(v.shape, dtype=np.float32) for v in self.trainable]
        else:
            grads = self._empty_grads
        read = [np.array(values[id(v)], copy=True) for v in self.read]
        also = None
        if self.probe_slots:
            also = []
            for layer_id, kind in self.probe_slots:
                _, z, out = trace[self._position[layer_id]]
                value = out if kind == "activations" else z
                # (Each record's forward pass makes new arrays and nothing writes to them afterwards: no copies.)
                also.append(value if self.probe_rows is None else value[self.probe_rows])
        return _backend.StepOutputs(p, losses, grads, self._metrics(p), read, also)
