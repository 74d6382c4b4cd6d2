"""Backend-specific code: the only place that knows which Keras 3 backend runs.

Everything else in deepreplay uses ``keras`` and ``keras.ops``.  A backend
needs one function here: :func:`forward_with_gradients`, which runs the model
in inference mode on a batch and returns the predictions, the per-sample
losses and, when asked, the gradients of the mean loss (plus regularisation)
with respect to the trainable variables, as NumPy arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

LossFn = Callable[[object, object], object]


def backend_name() -> str:
    """The running Keras backend ('tensorflow', 'jax', 'torch', ...)."""
    return keras.backend.backend()


def _total_loss(model: keras.Model, per_sample: object) -> object:
    total = keras.ops.mean(per_sample)
    for extra in model.losses:  # regularisation losses, as Keras adds them to the training loss
        total = total + keras.ops.cast(extra, total.dtype)
    return total


def forward_with_gradients(
    model: keras.Model,
    loss_fn: LossFn,
    x: np.ndarray,
    y: np.ndarray,
    *,
    with_gradients: bool,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray] | None]:
    """Predictions, per-sample losses and (optionally) full-batch gradients.

    Parameters
    ----------
    model : keras.Model
        A built, compiled model; it is called with ``training=False`` and its
        variables are never changed.
    loss_fn : callable
        ``loss_fn(y_true, y_pred)`` returning one loss per sample.
    x, y : ndarray
        The recorded inputs and targets (one batch).
    with_gradients : bool
        Whether to compute gradients with respect to ``model.trainable_variables``.

    Returns
    -------
    predictions, losses, gradients
        NumPy arrays; ``gradients`` follows ``model.trainable_variables`` or is
        None when not asked for.
    """
    backend = backend_name()
    if not with_gradients:
        y_pred = model(x, training=False)
        per_sample = loss_fn(y, y_pred)
        return _np(y_pred), _np(per_sample), None
    if backend == "tensorflow":
        return _tensorflow(model, loss_fn, x, y)
    if backend == "jax":
        return _jax(model, loss_fn, x, y)
    if backend == "torch":
        return _torch(model, loss_fn, x, y)
    raise NotImplementedError(
        f"deepreplay cannot record gradients on the {backend!r} Keras backend; use "
        "KERAS_BACKEND=tensorflow, jax or torch, or ReplayData(record=...) without 'gradients'."
    )


def _np(value: object) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


def _tensorflow(model, loss_fn, x, y):
    import tensorflow as tf

    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        y_pred = model(x, training=False)
        per_sample = loss_fn(y, y_pred)
        total = _total_loss(model, per_sample)
    grads = tape.gradient(total, variables)
    return _np(y_pred), _np(per_sample), _grads_to_numpy(grads, variables)


def _jax(model, loss_fn, x, y):
    import jax

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def total_loss(trainable_values):
        y_pred, _ = model.stateless_call(trainable_values, non_trainable, x, training=False)
        per_sample = loss_fn(y, y_pred)
        return _total_loss(model, per_sample), (y_pred, per_sample)

    grads, (y_pred, per_sample) = jax.grad(total_loss, has_aux=True)(trainable)
    return _np(y_pred), _np(per_sample), _grads_to_numpy(grads, model.trainable_variables)


def _torch(model, loss_fn, x, y):
    import torch

    variables = model.trainable_variables
    tensors = [v.value for v in variables]
    with torch.enable_grad():
        y_pred = model(x, training=False)
        per_sample = loss_fn(y, y_pred)
        total = _total_loss(model, per_sample)
        grads = torch.autograd.grad(total, tensors, allow_unused=True)
    return _np(y_pred.detach()), _np(per_sample.detach()), _grads_to_numpy(grads, variables)


def _grads_to_numpy(grads: Sequence[object], variables: Sequence[keras.Variable]) -> list[np.ndarray]:
    out = []
    for grad, var in zip(grads, variables):
        if grad is None:  # the variable does not influence the loss
            out.append(np.zeros(var.shape, dtype=np.float32))
        else:
            out.append(_np(grad))
    return out
