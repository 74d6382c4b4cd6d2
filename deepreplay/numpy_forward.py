"""A NumPy twin of Keras' forward pass for Sequential stacks of Dense layers, used for grid predictions.

The visuals evaluate the model on grids of 40,000 points at every recorded
epoch (decision regions, feature-space regions).  For stacks of ``Dense``
(with ``Activation`` and ``Dropout``) layers in float32, :func:`numpy_forward`
computes that in NumPy, reading the weights at each call; any other layer,
activation or dtype makes it return None and the caller uses Keras.

Why a second forward pass is kept (issue 14; ``benchmarks/replay_speed.py``,
row in ``benchmarks/README.md``).  Against one compiled Keras call on the whole
grid (``tf.function``/``jax.jit`` of the layers with ``training=False``, batch =
the grid), measured on 2026-11-29 (TensorFlow CPU, 2 CPUs under a load of 17):

==================================================  ==========  ========  ==================
grid, 40,000 points                                 compiled    NumPy     compiled / NumPy
==================================================  ==========  ========  ==================
Part 1 feature-space regions (output layer)         19.0 ms     0.3 ms    62
Part 1 decision boundary (whole 2-2-1 model)        16.4 ms     0.7 ms    22
BLOCK decision boundary (5 x 100 units)             267 ms      726 ms    0.37
BLOCK feature-space regions (after h1)              285 ms      694 ms    0.41
==================================================  ==========  ========  ==================

The rule was "delete the twin if the compiled call is within 2x of it".  It is
not on the Part 1 grids, the ones the demo and the posts draw: there the
call's fixed cost (~15 ms) dwarfs 40,000 points through two tiny layers, and
over 150 epochs it would add ~2.5 s per visual.  So the twin stays, limited to
what it computes exactly like Keras (each activation is checked against Keras
in ``tests/test_numpy_forward.py``); every other model goes through Keras.
On wide stacks (BLOCK) the compiled call is ~2.5x faster than the twin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

__all__ = ["NUMPY_ACTIVATIONS", "SELU_ALPHA", "SELU_SCALE", "NumpyLayer", "numpy_forward", "numpy_layer"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype, copy=False)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


#: Keras' SELU constants.
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805

#: Keras activations (by their serialized name) with a NumPy twin.
NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "softplus": lambda x: np.logaddexp(np.zeros((), x.dtype), x),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "elu": _elu,
    "selu": lambda x: (SELU_SCALE * _elu(x, SELU_ALPHA)).astype(x.dtype, copy=False),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "exponential": np.exp,
}


@dataclass(frozen=True)
class NumpyLayer:
    """A layer the NumPy code can run (:func:`numpy_layer`), and what the recording step also needs to know.

    Attributes
    ----------
    layer : keras.layers.Layer
    kind : {'dense', 'activation', 'identity'}
        A ``Dense`` layer; an ``Activation`` layer; a ``Dropout`` or linear
        ``Activation`` layer (the identity in inference mode).
    activation : str
        The activation's serialized name, a key of :data:`NUMPY_ACTIVATIONS`
        (``'linear'`` for the identity); always Keras' own function of that
        name (:func:`activation_name`).
    regularized : bool
        The layer has an activity, kernel or bias regularizer (which adds to
        ``model.losses``).
    """

    layer: keras.layers.Layer
    kind: str
    activation: str
    regularized: bool


def activation_name(activation: object) -> str | None:
    """The serialized name of an activation with a NumPy twin, else None.

    Only Keras' own functions have one.  A user's function is serialized by
    its Python name, so a plain ``def relu(x): return 2 * keras.ops.relu(x)``
    is saved as ``'relu'``: trusting the name would run Keras' relu in its
    place.
    """
    if activation is None:
        return "linear"
    try:
        name = keras.activations.serialize(activation)
        if not isinstance(name, str) or name not in NUMPY_ACTIVATIONS:
            return None
        return name if keras.activations.get(name) is activation else None
    except Exception:  # noqa: BLE001 - an activation Keras cannot name has no twin
        return None


def numpy_layer(layer: keras.layers.Layer) -> NumpyLayer | None:
    """What ``layer`` is to the NumPy code, or None when it has no NumPy twin.

    Twins exist for layers computing in float32 that are ``Dropout``,
    ``Activation`` or ``Dense`` (no LoRA, not quantized, a 2-D kernel), with
    Keras' own activation of :data:`NUMPY_ACTIVATIONS` (a user's function is
    never taken for one, whatever its name).  The forward pass
    (:func:`numpy_forward`) runs every such layer; the recording step
    (:mod:`deepreplay.numpy_step`) asks more of them (see its ``plain_layer``).
    """
    if getattr(layer, "compute_dtype", None) != "float32":
        return None
    activity = getattr(layer, "activity_regularizer", None) is not None
    kind = type(layer)
    if kind is keras.layers.Dropout:
        return NumpyLayer(layer, "identity", "linear", activity)
    if kind is keras.layers.Activation:
        named = activation_name(layer.activation)
        # A linear one returns its input itself (which keeps a sigmoid's logits on TensorFlow): the identity.
        return None if named is None else NumpyLayer(layer, "identity" if named == "linear" else "activation",
                                                     named, activity)
    if kind is not keras.layers.Dense or getattr(layer, "lora_enabled", False) or \
            getattr(getattr(layer, "dtype_policy", None), "quantization_mode", None) is not None:
        return None
    named = activation_name(layer.activation)
    if named is None or len(layer.kernel.shape) != 2:
        return None
    regularized = activity or layer.kernel_regularizer is not None or layer.bias_regularizer is not None
    return NumpyLayer(layer, "dense", named, regularized)


def _numpy_step(layer: keras.layers.Layer) -> Callable[[np.ndarray], np.ndarray] | None:
    """A NumPy version of one layer in inference mode (its weights read at each call), or None."""
    plain = numpy_layer(layer)
    if plain is None:
        return None
    if plain.kind != "dense":
        return NUMPY_ACTIVATIONS[plain.activation]
    activation = NUMPY_ACTIVATIONS[plain.activation]
    kernel, bias = layer.kernel, layer.bias

    def dense(x: np.ndarray) -> np.ndarray:
        z = x @ np.asarray(kernel.numpy(), dtype=np.float32)
        if bias is not None:
            z += np.asarray(bias.numpy(), dtype=np.float32)
        return activation(z)

    return dense


def numpy_forward(layers: list[keras.layers.Layer]) -> Callable[[np.ndarray], np.ndarray] | None:
    """``f(X)`` applying ``layers`` in order with NumPy in float32, or None if one of them has no NumPy twin.

    Grid predictions for the visuals go through this for Dense stacks: on a
    200 x 200 grid it is far cheaper than ``model.predict`` (batches of 32)
    or a Keras call (see ``benchmarks/replay_speed.py``).
    """
    steps = [_numpy_step(layer) for layer in layers if not isinstance(layer, keras.layers.InputLayer)]
    if any(step is None for step in steps):
        return None

    def forward(X: np.ndarray) -> np.ndarray:
        out = np.asarray(X, dtype=np.float32)
        for step in steps:
            out = step(out)
        return np.asarray(out, dtype=np.float32)

    return forward
