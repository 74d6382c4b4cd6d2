"""The model's own loss with no reduction (one value per sample), and the Keras masks of its outputs.

:func:`per_sample_loss` gives the loss a model was compiled with as a
function of ``(y_true, y_pred)`` returning one value per sample (several
outputs: their weighted total, then each output's), as Keras computes it
(its masks included: padded steps weigh as Keras weighs them), so that the
mean of the recorded per-sample losses is Keras' loss on the recorded
samples.  :func:`output_masks` and :func:`with_mask` read the masks of a
model's outputs once and give them back to predictions that lost them.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable

import keras
import numpy as np

from deepreplay.model_inspection import sublayers

LossFn = Callable[[object, object], object]


def is_binary_or_sparse(y_true: object, y_pred: object) -> tuple[bool, bool]:
    """Keras' rule for 'crossentropy'/'accuracy': binary when the output has one unit;
    sparse when the targets have a lower rank than the outputs, or one column against several."""
    true_shape, pred_shape = tuple(np.shape(y_true)), tuple(np.shape(y_pred))
    pred_last = pred_shape[-1] if pred_shape else 1
    true_last = true_shape[-1] if true_shape else 1
    binary = pred_last == 1
    sparse = len(true_shape) < len(pred_shape) or (true_last == 1 and pred_last > 1)
    return binary, sparse


def _keras_mask(y_pred: object) -> object:
    """The Keras mask an output carries (a ``Masking`` layer or ``mask_zero`` upstream), or None.

    Keras' own accessor (``keras.src``, its internal API) also finds masks of
    tensors that take no attributes (JAX arrays); where it moved, the
    ``_keras_mask`` attribute is read, so no recording fails on a Keras that
    reorganised its modules.
    """
    try:
        from keras.src.backend.common.masking import get_keras_mask
    except ImportError:  # pragma: no cover - another Keras layout
        return getattr(y_pred, "_keras_mask", None)
    return get_keras_mask(y_pred)


class _PerSampleLoss(keras.losses.Loss):
    """A ``Loss`` giving one value per sample: :meth:`values` (a value per sample, or per step or pixel of
    each sample) averaged over each sample's values.

    When the output carries a Keras mask (a ``Masking`` layer, an ``Embedding(mask_zero=True)`` upstream of a
    sequence output), its values are weighted as Keras' own loss weighs them: masked steps 0, the others
    ``size / valid`` over the batch given (``keras.losses.Loss``' mask rule for its mean reduction), so the
    mean of the per-sample losses is Keras' loss on that batch.  Keras' ``Loss.__call__`` would instead
    multiply the per-sample values (shape ``(n,)``) by the ``(n, steps)`` mask and fail.
    """

    #: ``size / valid`` of the mask over every recorded sample, when known (:func:`set_mask_scales`): the
    #: weight of a valid step whatever part of the samples one call gets, so that calls on parts of the
    #: recorded samples give the losses of the whole batch's rule.  None: the mask of each call.
    mask_scale: float | None = None

    def values(self, y_true: object, y_pred: object) -> object:
        raise NotImplementedError

    def call(self, y_true: object, y_pred: object) -> object:
        return _per_sample_mean(self.values(y_true, y_pred))

    def __call__(self, y_true: object, y_pred: object, sample_weight: object = None) -> object:
        mask = _keras_mask(y_pred)
        if mask is None or sample_weight is not None:
            return super().__call__(y_true, y_pred, sample_weight=sample_weight)
        with keras.name_scope(self.name):
            y_true = keras.tree.map_structure(lambda v: keras.ops.convert_to_tensor(v, dtype=self.dtype), y_true)
            y_pred = keras.tree.map_structure(lambda v: keras.ops.convert_to_tensor(v, dtype=self.dtype), y_pred)
            values = self.values(y_true, y_pred)
            mask = keras.ops.cast(mask, values.dtype)
            while len(mask.shape) < len(values.shape):
                mask = keras.ops.expand_dims(mask, -1)
            if len(mask.shape) != len(values.shape):  # a loss that reduces the masked axes itself
                return _per_sample_mean(values)
            if self.mask_scale is not None:
                weight = mask * self.mask_scale
            else:
                size = keras.ops.cast(keras.ops.prod(keras.ops.convert_to_tensor(keras.ops.shape(mask))),
                                      values.dtype)
                weight = mask * keras.ops.divide_no_nan(size, keras.ops.sum(mask))
            return _per_sample_mean(values * weight)


class _Unreduced(_PerSampleLoss):
    """A Keras ``Loss`` with its reduction turned off: one value per sample.

    It calls the given loss's own ``call`` (so every option it was built with
    is kept: ``from_logits``, ``delta``, label smoothing, ...); rebuilding the
    loss from its config would lose options some losses leave out of it
    (``Huber``'s ``delta`` in Keras 3.15).
    """

    def __init__(self, loss: keras.losses.Loss) -> None:
        super().__init__(name=loss.name, reduction=None, dtype=getattr(loss, "dtype", None))
        self.loss = loss

    def values(self, y_true: object, y_pred: object) -> object:
        return self.loss.call(*_samples_as_rows(y_true, y_pred))


def _unreduced(loss: keras.losses.Loss) -> keras.losses.Loss:
    """The ``Loss`` computing ``loss`` per sample, without reduction; ``loss`` itself is left alone."""
    return _Unreduced(loss)


def _match_ranks(y_true: object, y_pred: object) -> tuple[object, object]:
    """Targets and outputs brought to the same rank as Keras' loss wrapper does.

    When the ranks differ by one and the larger has a last axis of 1, that axis
    is dropped, except that a rank-1 partner is given one instead; otherwise
    the two are left as they are (sparse targets against class scores).
    """
    true_rank, pred_rank = len(y_true.shape), len(y_pred.shape)
    if true_rank == pred_rank + 1 and y_true.shape[-1] == 1:
        if pred_rank == 1:
            y_pred = keras.ops.expand_dims(y_pred, -1)
        else:
            y_true = keras.ops.squeeze(y_true, -1)
    elif pred_rank == true_rank + 1 and y_pred.shape[-1] == 1:
        if true_rank == 1:
            y_true = keras.ops.expand_dims(y_true, -1)
        else:
            y_pred = keras.ops.squeeze(y_pred, -1)
    return y_true, y_pred


def _samples_as_rows(y_true: object, y_pred: object) -> tuple[object, object]:
    """An output of shape ``(n,)`` (one value per sample, no last axis) and its targets as ``(n, 1)``.

    Keras' losses average over the last axis, which there is the samples':
    ``fit`` trains on that mean, and it is the mean of the per-sample losses
    computed on one column each.
    """
    if len(y_pred.shape) == 1 and len(y_true.shape) == 1:
        return keras.ops.expand_dims(y_true, -1), keras.ops.expand_dims(y_pred, -1)
    return y_true, y_pred


def _per_sample_mean(values: object) -> object:
    """One loss per sample: a loss per time step or per pixel (a sequence or a segmentation output, shape
    ``(n, ...)``) averaged over the sample's values, so that their mean is still Keras' loss."""
    rank = len(values.shape)
    return keras.ops.mean(values, axis=tuple(range(1, rank))) if rank > 1 else values


class _FunctionLoss(_PerSampleLoss):
    """A loss function (``fn(y_true, y_pred)``) as a ``Loss`` with no reduction.

    Like the wrapper ``model.compile`` puts around a string or function loss,
    it converts both arguments to the loss dtype and matches their ranks
    before calling ``fn``; ``fn=None`` stands for 'crossentropy'/'ce', chosen
    (binary, sparse or categorical) from the shapes at call time, as Keras
    chooses it when it compiles.
    """

    def __init__(self, fn: LossFn | None, name: str) -> None:
        # The name becomes a TensorFlow name scope when the recording step is compiled:
        # keep it valid there (a function named "_loss" would not be).
        scope = re.sub(r"[^A-Za-z0-9_.\\/>-]", "_", name).lstrip("_-/>") or "loss"
        super().__init__(name=scope, reduction=None)
        self.fn = fn

    def values(self, y_true: object, y_pred: object) -> object:
        fn = self.fn
        y_true, y_pred = _samples_as_rows(y_true, y_pred)
        if fn is None:
            binary, sparse = is_binary_or_sparse(y_true, y_pred)
            fn = (keras.losses.binary_crossentropy if binary else
                  keras.losses.sparse_categorical_crossentropy if sparse else keras.losses.categorical_crossentropy)
        y_true, y_pred = _match_ranks(y_true, y_pred)
        return fn(y_true, y_pred)


def output_names(model: keras.Model) -> list[str]:
    """Names of the model's outputs, in order (one name for a single-output model)."""
    names = list(getattr(model, "output_names", None) or [])
    return names or ["output"]


def _per_output(spec: object, names: list[str], what: str) -> list[object]:
    """A compile argument (one value, a list or a dict by output name) as one value per output."""
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise ValueError(f"model.{what} names outputs {unknown} that the model does not have; outputs: {names}.")
        return [spec.get(name) for name in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ValueError(f"model.{what} has {len(spec)} entries for {len(names)} outputs {names}.")
        return list(spec)
    return [spec] * len(names)


class MultiOutputLoss:
    """Per-sample losses of a model with several outputs, and their weighted total.

    ``loss(y_true, y_pred)`` takes the targets and outputs as a list (in
    output order) or a dict (by output name) and returns a tensor of shape
    ``(n, 1 + k)``: column 0 is the total ``sum_i loss_weight_i * loss_i``
    per sample (whose mean is Keras' training loss), then the loss of each of
    the ``k`` outputs that has one (:attr:`output_names`), each averaged over
    its non-batch axes.  No sample or class weights are applied.
    """

    #: Tells the recording step that column 0 is the total (see ``deepreplay._backend``).
    stacks_outputs = True

    def __init__(self, model: keras.Model, losses: object, weights: object) -> None:
        names = output_names(model)
        self.all_outputs = names
        fns = _per_output(losses, names, "loss")
        ws = _per_output(weights, names, "loss_weights") if weights is not None else [1.0] * len(names)
        self.items = [(i, name, _single_loss(fn), 1.0 if w is None else float(w))
                      for i, (name, fn, w) in enumerate(zip(names, fns, ws)) if fn is not None]
        if not self.items:
            raise ValueError("model.loss gives no loss for any output; compile the model with a loss.")
        self.output_names = [name for _, name, _, _ in self.items]

    def __call__(self, y_true: object, y_pred: object) -> object:
        columns = []
        total = None
        for i, name, fn, weight in self.items:
            loss = fn(pick_output(y_true, i, name), pick_output(y_pred, i, name))
            loss = keras.ops.cast(loss, "float32")
            if len(loss.shape) > 1:
                loss = keras.ops.mean(keras.ops.reshape(loss, (loss.shape[0], -1)), axis=1)
            columns.append(loss)
            total = loss * weight if total is None else total + loss * weight
        return keras.ops.stack([total, *columns], axis=1)


def _single_loss(loss: object) -> LossFn | None:
    if loss is None:
        return None
    if isinstance(loss, keras.losses.Loss):
        return _unreduced(loss)
    if isinstance(loss, str) and loss.lower() in ("crossentropy", "ce"):
        return _FunctionLoss(None, loss)
    fn = keras.losses.get(loss)
    if isinstance(fn, keras.losses.Loss):
        return _unreduced(fn)
    name = loss if isinstance(loss, str) else getattr(fn, "__name__", type(fn).__name__)
    return _FunctionLoss(fn, name)


def per_sample_loss(model: keras.Model) -> LossFn:
    """The model's compiled loss as a function returning one value per sample.

    The loss is resolved the way ``model.compile`` resolves it: a string or a
    function is wrapped in a ``Loss`` that matches the ranks of targets and
    outputs (so targets of shape ``(n,)`` work with outputs of shape
    ``(n, 1)``, as in ``fit``); ``'crossentropy'``/``'ce'`` becomes the
    binary, sparse or categorical cross-entropy according to the shapes; a
    ``keras.losses.Loss`` instance is wrapped with no reduction, keeping
    every other option (``from_logits``, ``delta``, label smoothing, ...).

    Parameters
    ----------
    model : keras.Model
        A compiled single-output model.

    Returns
    -------
    callable
        ``loss(y_true, y_pred)`` returning a tensor of shape ``(n,)``.

    Raises
    ------
    ValueError
        The model is not compiled.

    A model with several outputs gets a :class:`MultiOutputLoss`, returning
    ``(n, 1 + k)``: the weighted total per sample, then each output's loss.
    """
    loss = getattr(model, "loss", None)
    if loss is None and getattr(model, "compiled", False):
        raise ValueError(
            "model is compiled with loss=None (it trains on the losses its layers add with add_loss): "
            "deepreplay records the per-sample losses of a compiled loss, so it cannot record this model. "
            "Give model.compile(loss=...) the per-sample part (e.g. a VAE's reconstruction loss) and keep "
            "the rest in add_loss: both are recorded."
        )
    if loss is None:
        raise ValueError(
            "model is not compiled with a loss; call model.compile(optimizer=..., loss=...) "
            "before recording it."
        )
    several = len(output_names(model)) > 1
    if not several and isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    elif not several and isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss.values()))
    if several or isinstance(loss, (list, tuple, dict)):
        try:
            weights = (model.get_compile_config() or {}).get("loss_weights")
        except Exception:
            weights = None
        return MultiOutputLoss(model, loss, weights)
    return _single_loss(loss)


#: Losses (by name) taking 0/1 labels or probabilities as targets.
BINARY_CROSSENTROPY_LOSSES = frozenset({"binary_crossentropy", "bce", "binary_focal_crossentropy"})


def binary_crossentropy_misfit(targets: np.ndarray, loss: str | None) -> str | None:
    """Why ``targets`` do not suit a binary cross-entropy ``loss`` (values outside [0, 1]), or None.

    Keras trains on such targets without a word, but the loss means nothing
    (above a target of 1 it goes below 0 and falls without end) and, not being
    0/1, the targets make the run a regression to the visuals.
    """
    if loss not in BINARY_CROSSENTROPY_LOSSES:
        return None
    values = np.asarray(targets)
    if values.dtype.kind not in "biuf" or not values.size:
        return None
    values = values.astype(np.float64)
    finite = values[np.isfinite(values)]
    if not finite.size or (finite.min() >= 0 and finite.max() <= 1):
        return None
    labels = set(np.unique(finite).tolist()) if np.all(finite == np.rint(finite)) else set()
    way = ("; for classes labelled 1 and 2, give y - 1" if labels == {1.0, 2.0} else
           "; for -1/1 labels, give (y + 1) / 2 (or train with loss='hinge')" if labels == {-1.0, 1.0} else
           "; give 0/1 labels, or probabilities")
    return (f"the targets run from {finite.min():g} to {finite.max():g}, outside the 0/1 labels (or probabilities) "
            f"that {loss!r} takes: Keras trains on them, but the loss means nothing (it goes below 0 for a target "
            f"above 1) and the visuals draw the run as a regression{way}")


def sparse_label_misfit(targets: np.ndarray, loss: str | None, n_classes: int | None) -> str | None:
    """Why integer ``targets`` do not suit a sparse categorical cross-entropy over ``n_classes`` outputs (labels
    outside ``[0, n_classes)``), or None.

    TensorFlow and PyTorch refuse such labels; JAX trains on them without a
    word (an out-of-range label weighs nothing in the loss).
    """
    if loss != "sparse_categorical_crossentropy" or not n_classes:
        return None
    values = np.asarray(targets)
    if values.dtype.kind not in "iuf" or not values.size:
        return None
    values = values.astype(np.float64)
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if low >= 0 and high < n_classes:
        return None
    way = "give y - 1" if low >= 1 and high == n_classes else f"give labels 0 to {n_classes - 1}"
    return (f"the labels run from {low:g} to {high:g}, but the {n_classes} outputs of the model are classes 0 to "
            f"{n_classes - 1}: a label outside them weighs nothing in the loss on some backends (JAX), and the "
            f"visuals cannot draw the run as a classifier; {way}")


def loss_name(model: keras.Model) -> str:
    """A readable name for the model's loss."""
    loss = model.loss
    if isinstance(loss, (list, tuple)):
        return "+".join(loss_name_of(item) for item in loss if item is not None)
    if isinstance(loss, dict):
        return "+".join(f"{k}:{loss_name_of(v)}" for k, v in loss.items() if v is not None)
    return loss_name_of(loss)


def loss_name_of(loss: object) -> str:
    """A readable name for one loss (a string, a ``Loss`` or a function)."""
    if isinstance(loss, str):
        return loss
    if isinstance(loss, keras.losses.Loss):
        return loss.name
    return getattr(loss, "__name__", type(loss).__name__)


def loss_from_logits(model: keras.Model) -> bool:
    """Whether the model's compiled loss takes logits (``from_logits=True``) rather than probabilities.

    False for losses without that option, for string losses and for models
    that are not compiled.
    """
    loss = getattr(model, "loss", None)
    if isinstance(loss, keras.losses.Loss):
        try:
            config = loss.get_config()
        except Exception:  # a custom loss without a usable config
            config = {}
        return bool(config.get("from_logits", getattr(loss, "from_logits", False)))
    return False


def config_from_logits(model_config: str | dict) -> bool:
    """Whether a serialized model (``model.to_json()``) was compiled with a loss taking logits.

    Reads ``compile_config.loss.config.from_logits`` of the JSON (or of its
    parsed dict) without deserializing anything; False when the model was not
    compiled, its loss is a string or a function, or the config is unreadable.
    """
    try:
        config = json.loads(model_config) if isinstance(model_config, (str, bytes)) else model_config
        loss = (config.get("compile_config") or {}).get("loss")
    except (AttributeError, TypeError, ValueError):
        return False
    if isinstance(loss, dict) and isinstance(loss.get("config"), dict):
        return bool(loss["config"].get("from_logits", False))
    return False


def output_masks(model: keras.Model, x: object) -> list[np.ndarray | None] | None:
    """The Keras mask of each output of ``model`` on the inputs ``x`` (None for an output without one), or
    None when no output has one (read from the symbolic outputs without calling the model; a subclassed
    model, which has none, is called when one of its layers makes masks).

    A metric reads its output's mask from the predictions (Keras' ``MeanMetricWrapper`` leaves masked steps
    out), but predictions handed back by a compiled call or converted to NumPy no longer carry it: the
    recorder gives it back to them (:meth:`MetricSpec.select`).  A mask depends on the inputs only
    (``Masking``, ``Embedding(mask_zero=True)``), so it is computed once.
    """
    try:
        symbolic = list(model.outputs or [])
    except (AttributeError, ValueError):  # a subclassed model has no symbolic outputs: does a layer make a mask?
        symbolic = None
    if symbolic is not None and not any(_keras_mask(output) is not None for output in symbolic):
        return None
    if symbolic is None and not _makes_masks(model):
        return None
    values = model(x, training=False)
    if isinstance(values, dict):
        values = [values[name] for name in output_names(model)]
    masks = [_keras_mask(value) for value in keras.tree.flatten(values)]
    return [None if mask is None else keras.ops.convert_to_numpy(mask) for mask in masks]


def _makes_masks(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` or a layer it holds, at any depth, makes a Keras mask from its inputs (``Masking``,
    ``Embedding(mask_zero=True)``)."""
    pending, seen = [layer], set()
    while pending:
        layer = pending.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, keras.layers.Masking) or getattr(layer, "mask_zero", False) is True:
            return True
        pending.extend(sublayers(layer))
    return False


def set_mask_scales(loss_fn: object, masks: list[np.ndarray | None]) -> None:
    """Give the per-sample loss of each masked output (``masks`` from :func:`output_masks`, in output order)
    the weight Keras gives a valid step over all the recorded samples (``size / valid``): a recording step
    that computes the samples in parts (beyond ``gradient_samples``) then gives every sample the same loss."""
    fns = [(i, fn) for i, _, fn, _ in loss_fn.items] if isinstance(loss_fn, MultiOutputLoss) else [(0, loss_fn)]
    for i, fn in fns:
        mask = masks[i] if i < len(masks) else None
        if mask is not None and isinstance(fn, _PerSampleLoss) and np.any(mask):
            fn.mask_scale = float(np.size(mask) / np.count_nonzero(mask))


def with_mask(y_pred: object, mask: np.ndarray | None) -> object:
    """``y_pred`` as a tensor carrying the Keras mask ``mask`` (``y_pred`` itself when ``mask`` is None)."""
    if mask is None:
        return y_pred
    y_pred = keras.ops.convert_to_tensor(y_pred)
    mask = keras.ops.convert_to_tensor(mask)
    try:
        from keras.src.backend.common.masking import set_keras_mask
    except ImportError:  # pragma: no cover - another Keras layout (see _keras_mask)
        with contextlib.suppress(AttributeError):
            y_pred._keras_mask = mask
        return y_pred
    set_keras_mask(y_pred, mask)
    return y_pred


def pick_output(value: object, index: int, name: str) -> object:
    """One output's part of targets or predictions given as a list (by position) or a dict (by name)."""
    if isinstance(value, dict):
        return value[name] if name in value else list(value.values())[index]
    if isinstance(value, (list, tuple)):
        return value[index]
    return value
