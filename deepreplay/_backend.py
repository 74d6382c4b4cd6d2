"""Backend-specific code: the only place that knows which Keras 3 backend runs.

Everything else in deepreplay uses ``keras`` and ``keras.ops``.  A backend
needs one function here: :func:`forward_with_gradients`, which runs the model
in inference mode on a batch and returns the predictions, the per-sample
losses and, when asked, the gradients of the mean loss (plus regularisation)
with respect to the trainable variables, as NumPy arrays.

Each backend computes the gradients with its own mechanism, and none of them
changes the model, its optimizer or any random state:

* TensorFlow: ``tf.GradientTape`` around an inference-mode call;
* JAX: ``jax.grad`` over ``model.stateless_call`` (the variables' values are
  passed in, nothing is assigned; regularisation losses are taken from the
  stateless call, so they depend on the traced values);
* PyTorch: ``torch.autograd.grad``, which returns the gradients without
  accumulating them into the variables' ``.grad``.

The backend modules (``tensorflow``, ``jax``, ``torch``) are imported inside
the function of their backend only, so deepreplay imports and replays without
TensorFlow installed when Keras runs on JAX or PyTorch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

LossFn = Callable[[object, object], object]


def backend_name() -> str:
    """The running Keras backend ('tensorflow', 'jax', 'torch', ...)."""
    return keras.backend.backend()


def model_config_json(model: keras.Model) -> str:
    """``model.to_json()`` that every backend can rebuild.

    On PyTorch, Keras replaces the optimizer by a private subclass
    (``keras.src.backend.torch.optimizers.torch_sgd.SGD``), and ``to_json``
    names that module: rebuilding the model on another backend would then
    import torch, and fail where it is not installed.  Such classes are stored
    under their public name (``keras.optimizers``, ``SGD``), as TensorFlow and
    JAX store them; each backend makes its own variant when it rebuilds them.
    """
    config = json.loads(model.to_json())
    _public_optimizer_classes(config)
    return json.dumps(config)


def _public_optimizer_classes(node: Any) -> None:
    if isinstance(node, dict):
        module, name = node.get("module"), node.get("class_name")
        if (isinstance(module, str) and module.startswith("keras.src.backend.") and ".optimizers" in module
                and isinstance(name, str) and isinstance(getattr(keras.optimizers, name, None), type)):
            node["module"] = "keras.optimizers"
            node["registered_name"] = None
        for value in node.values():
            _public_optimizer_classes(value)
    elif isinstance(node, list):
        for value in node:
            _public_optimizer_classes(value)


def _total_loss(per_sample: object, extra_losses: Sequence[object]) -> object:
    """Mean per-sample loss plus the model's regularisation losses, as Keras' training loss."""
    total = keras.ops.mean(per_sample)
    for extra in extra_losses:
        total = total + keras.ops.cast(extra, total.dtype)
    return total


def _call_kwargs(model: keras.Model) -> dict:
    """``training=False`` when the model's ``call`` takes it (``stateless_call`` passes it to ``call``)."""
    return {"training": False} if getattr(model, "_call_has_training_arg", True) else {}


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
    if not with_gradients or not model.trainable_variables:
        y_pred = model(x, training=False)
        per_sample = loss_fn(y, y_pred)
        grads = [] if with_gradients else None
        return _np(y_pred), _np(per_sample), grads
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
    with tf.GradientTape() as tape:  # watches the trainable variables; assigns nothing
        y_pred = model(x, training=False)
        per_sample = loss_fn(y, y_pred)
        total = _total_loss(per_sample, model.losses)
    grads = tape.gradient(total, variables)
    return _np(y_pred), _np(per_sample), _grads_to_numpy(grads, variables)


def _jax(model, loss_fn, x, y):
    import jax

    variables = model.trainable_variables
    trainable = [v.value for v in variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    kwargs = _call_kwargs(model)

    def total_loss(trainable_values):
        # Stateless: the values are passed in and the updated non-trainable values it
        # returns are dropped, so the model's variables (and seed states) stay as they are.
        y_pred, _, extra_losses = model.stateless_call(
            trainable_values, non_trainable, x, return_losses=True, **kwargs
        )
        per_sample = loss_fn(y, y_pred)
        return _total_loss(per_sample, extra_losses), (y_pred, per_sample)

    grads, (y_pred, per_sample) = jax.grad(total_loss, has_aux=True)(trainable)
    return _np(y_pred), _np(per_sample), _grads_to_numpy(grads, variables)


def _torch(model, loss_fn, x, y):
    import torch

    variables = model.trainable_variables
    tensors = [v.value for v in variables]
    with torch.enable_grad():
        y_pred = model(x, training=False)
        per_sample = loss_fn(y, y_pred)
        total = _total_loss(per_sample, model.losses)
        # autograd.grad returns the gradients; unlike backward() it leaves every .grad as it was.
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
