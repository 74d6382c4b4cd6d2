"""What deepreplay needs to know about a Keras model, independent of the backend.

* which layers can be recorded, and what of each (weights, outputs, z-values);
* stable names for every variable of a layer;
* the model's own loss, with no reduction (one value per sample);
* fresh copies of the compiled metrics, to evaluate them on the recorded samples.

The layers' outputs are computed by :class:`deepreplay.layer_probe.LayerProbe`.
"""

from __future__ import annotations

import contextlib
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np


LossFn = Callable[[object, object], object]

#: The names Keras gives variables created without one (``keras.Variable(...)``, ``add_weight(shape=...)``).
_UNNAMED = re.compile(r"variable(_\d+)?")


def is_linear(activation: object) -> bool:
    """Whether a Keras activation is the identity."""
    if activation is None or activation is keras.activations.linear:
        return True
    try:
        name = keras.activations.serialize(activation)
    except Exception:  # an unregistered custom callable: treat as non-linear
        return False
    if isinstance(name, dict):
        # A custom function serializes as {"config": "<its name>", ...}, a lambda as {"value": ...}.
        return name.get("config") == "linear"
    return name in ("linear", None)


def model_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's top-level layers, input layers left out, in model order."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def is_user_defined(layer: keras.layers.Layer) -> bool:
    """Whether ``layer``'s class is defined outside Keras (a user's own ``Layer`` or ``Model`` subclass)."""
    return not type(layer).__module__.startswith("keras.")


_BASE_ATTRIBUTES: frozenset[str] = frozenset()


def _base_attributes() -> frozenset[str]:
    """Names of the instance attributes every ``keras.layers.Layer`` sets for itself (its bookkeeping)."""
    global _BASE_ATTRIBUTES
    if not _BASE_ATTRIBUTES:
        _BASE_ATTRIBUTES = frozenset(vars(keras.layers.Layer()))
    return _BASE_ATTRIBUTES


def sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The layers ``layer`` holds directly, each once, in the order it was given them.

    For a model, its ``layers`` (input layers left out).  For another
    layer, the ``Layer`` instances among its Python attributes, or in lists,
    tuples and dicts held by them (what Keras tracks as its sublayers), the
    attributes every Keras layer sets for its own bookkeeping left out (on
    PyTorch, the module's children too: the attributes it keeps there).
    """
    if isinstance(layer, keras.Model):
        return model_layers(layer)
    found: list[keras.layers.Layer] = []
    seen = {id(layer)}

    def add(value: object, depth: int) -> None:
        if isinstance(value, keras.layers.Layer):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        elif depth < 3 and isinstance(value, (list, tuple)):
            for item in value:
                add(item, depth + 1)
        elif depth < 3 and isinstance(value, dict):
            for item in value.values():
                add(item, depth + 1)

    # On PyTorch a layer is a ``torch.nn.Module``: a layer assigned to an attribute is kept among the
    # module's children (``named_children``), not in the instance's ``__dict__``.
    children = getattr(layer, "named_children", None)
    if callable(children):
        for _, child in children():
            add(child, 0)
    base = _base_attributes()
    for key, value in vars(layer).items():
        if key not in base:
            add(value, 0)
    return found


def variable_keys(layer: keras.layers.Layer) -> list[tuple[str, keras.Variable]]:
    """``(key, variable)`` for each variable of ``layer``, keys unique within the layer.

    The key is the variable's path below the layer (``kernel``, ``bias``,
    ``gamma``, ``dense.kernel`` for a nested model), with ``/`` written as ``.``.

    A variable created without a name (``add_weight(shape=...)``, or the
    parameters ``TorchModuleWrapper`` tracks) is named by Keras from one
    counter per process (``variable``, ``variable_1``, ... ``variable_7``), so
    its name depends on what the process built before; its key is its rank
    among such variables of the same holder instead (``variable``,
    ``variable_1``, ...): the same when the model is rebuilt to replay it.
    """
    # ``layer.path`` is None for a layer that owns no variables of its own.
    prefix = (getattr(layer, "path", None) or layer.name) + "/"
    keys: list[tuple[str, keras.Variable]] = []
    seen: set[str] = set()
    unnamed: dict[str, int] = {}  # holder's key prefix -> unnamed variables met so far
    for var in layer.weights:
        path = getattr(var, "path", var.name)
        # A nested model's variables carry their inner layer's path ("dense/kernel").
        key = path[len(prefix):] if path.startswith(prefix) else path
        key = key.replace("/", ".")
        holder, _, name = key.rpartition(".")
        if _UNNAMED.fullmatch(name):
            rank = unnamed[holder] = unnamed.get(holder, -1) + 1
            key = (holder + "." if holder else "") + ("variable" if rank == 0 else f"variable_{rank}")
        base, n = key, 1
        while key in seen:
            n += 1
            key = f"{base}_{n}"
        seen.add(key)
        keys.append((key, var))
    return keys


def _is_binary_or_sparse(y_true: object, y_pred: object) -> tuple[bool, bool]:
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
            binary, sparse = _is_binary_or_sparse(y_true, y_pred)
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


def _accuracy_for(model: keras.Model, y: np.ndarray, kind: str, output: int = 0) -> keras.metrics.Metric:
    """Resolve 'accuracy'/'crossentropy' the way Keras does, from the target and output shapes.

    ``output`` is the position of the output (in ``model.outputs``) the metric is computed on.
    """
    outputs = getattr(model, "outputs", None)
    if outputs and output < len(outputs):
        output_shape = tuple(outputs[output].shape)
        binary, sparse = _is_binary_or_sparse(np.empty((1, *np.shape(y)[1:])), np.empty((1, *output_shape[1:])))
    else:  # no symbolic outputs: fall back on the loss name and the targets
        name = loss_name(model).lower()
        binary = "binary" in name
        sparse = "sparse" in name or (not binary and (y.ndim == 1 or y.shape[-1] == 1))
    if kind == "accuracy":
        cls = keras.metrics.BinaryAccuracy if binary else (
            keras.metrics.SparseCategoricalAccuracy if sparse else keras.metrics.CategoricalAccuracy)
    else:
        cls = keras.metrics.BinaryCrossentropy if binary else (
            keras.metrics.SparseCategoricalCrossentropy if sparse else keras.metrics.CategoricalCrossentropy)
    return cls()


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


@dataclass
class MetricSpec:
    """One compiled metric: its log name, a factory of fresh metric objects and the output it measures.

    ``output`` (with its position ``output_index``) is set for a metric compiled for one output of a
    model with several outputs: :meth:`evaluate` then takes the targets and predictions of every
    output (a list or a dict) and measures that output's only.
    """

    name: str
    make: Callable[[], keras.metrics.Metric]
    output: str | None = None
    output_index: int | None = None
    #: Per-sample weights of a metric compiled as ``weighted_metrics`` (None: unweighted).
    sample_weight: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: The Keras mask of the measured output on the recorded inputs (see :func:`output_masks`), or None.
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)
    _metric: keras.metrics.Metric | None = field(default=None, repr=False, compare=False)

    def select(self, y: object, y_pred: object) -> tuple[object, object]:
        """What the metric measures of the targets and predictions: its output's, carrying its mask."""
        if self.output is not None:
            y = pick_output(y, self.output_index or 0, self.output)
            y_pred = pick_output(y_pred, self.output_index or 0, self.output)
        return y, with_mask(y_pred, self.mask)

    def evaluate(self, y: object, y_pred: object) -> float:
        """The metric on ``(y, y_pred)`` alone (one metric object, reset before each use)."""
        y, y_pred = self.select(y, y_pred)
        if self._metric is None:
            self._metric = self.make()
        else:
            self._metric.reset_state()
        self._metric.update_state(y, y_pred, sample_weight=self.sample_weight)
        return float(keras.ops.convert_to_numpy(self._metric.result()))


def _user_metric(model: keras.Model, name: str) -> object | None:
    """The metric (function or object) given to ``compile`` under ``name``: a user's, not registered, which
    the compile config cannot rebuild.  Keras 3 keeps it in ``model._compile_metrics`` (no public API)."""
    compiled = getattr(model, "_compile_metrics", None)
    pending = [getattr(compiled, "_user_metrics", None), getattr(compiled, "_user_weighted_metrics", None)]
    while pending:
        entry = pending.pop()
        if isinstance(entry, (dict, list, tuple)):
            pending.extend(entry.values() if isinstance(entry, dict) else entry)
        elif getattr(entry, "name" if isinstance(entry, keras.metrics.Metric) else "__name__", None) == name \
                and callable(entry) and not isinstance(entry, type):
            return entry
    return None


def _metric_spec(model: keras.Model, item: object, y: np.ndarray, output: int = 0) -> MetricSpec | None:
    """One compiled metric (a string or a serialized metric) as a :class:`MetricSpec` named as Keras logs it."""
    if isinstance(item, str) and item in ("accuracy", "acc", "crossentropy", "ce"):
        kind = "accuracy" if item in ("accuracy", "acc") else "crossentropy"
        return MetricSpec(item, lambda kind=kind: _accuracy_for(model, y, kind, output))
    config = item.get("config") if isinstance(item, dict) else None  # a Metric's name, or a function's
    user_name = config.get("name") if isinstance(config, dict) else config if isinstance(config, str) else str(item)
    try:
        obj = keras.metrics.get(item) if isinstance(item, str) else keras.metrics.deserialize(item)
    except Exception as exc:  # noqa: BLE001 - a custom metric the config cannot rebuild: the compiled one
        obj, problem = None, str(exc)
    else:  # a user's function is serialized by its name, which deserializes to that name only
        problem = "it is not a registered metric (decorate it with @keras.saving.register_keras_serializable())"
    if not (isinstance(obj, keras.metrics.Metric) or callable(obj)):
        obj = _user_metric(model, user_name)
        if obj is None:
            warnings.warn(f"metric {item!r} is not evaluated on the recorded samples: {problem}", stacklevel=4)
            return None
    if isinstance(obj, keras.metrics.Metric):
        cfg, cls = obj.get_config(), type(obj)
        # Keras logs a metric given as a string ("mae", "AUC") under that string.
        name = item if isinstance(item, str) else obj.name
        return MetricSpec(name, lambda cls=cls, cfg=cfg: cls.from_config(cfg))
    name = item if isinstance(item, str) else getattr(obj, "__name__", "metric")
    return MetricSpec(name, lambda fn=obj, name=name: keras.metrics.MeanMetricWrapper(fn, name=name))


def _metrics_per_output(items: object, names: list[str]) -> list[list[object]] | None:
    """The compiled ``metrics`` of a several-output model as one list per output, the way Keras reads them.

    A list with one entry per output, or a dict by output name (outputs left out get none); each entry
    is one metric, a list of them or None.  None for any other structure (Keras itself refuses a flat
    list of another length when the model is fitted).
    """
    if isinstance(items, dict) and set(items) <= set(names):
        entries = [items.get(name) for name in names]
    elif isinstance(items, (list, tuple)) and len(items) == len(names):
        entries = list(items)
    else:
        return None
    return [[] if e is None else list(e) if isinstance(e, (list, tuple)) else [e] for e in entries]


def _metric_entries(model: keras.Model, items: object, names: list[str], y: object,
                    argument: str) -> list[tuple[MetricSpec, int | None]]:
    """The metrics of one compile argument (``metrics`` or ``weighted_metrics``), with the output each measures.

    Each :class:`MetricSpec` carries the metric's own name; the output's position is None for a model
    with one output.
    """
    if len(names) == 1:
        # A dict by output name, or a list of one list per output (metrics=[["accuracy"]]), as Keras reads
        # them for one output: their metrics in one list.
        entries = items.values() if isinstance(items, dict) else items
        items = [m for entry in entries if entry is not None
                 for m in (entry if isinstance(entry, (list, tuple)) else [entry])]
        y_one = y if not isinstance(y, (list, tuple, dict)) else pick_output(y, 0, names[0])
        y_one = np.asarray(y_one)
        return [(spec, None) for spec in (_metric_spec(model, item, y_one) for item in items) if spec is not None]
    per_output = _metrics_per_output(items, names)
    if per_output is None:
        warnings.warn(f"deepreplay cannot match the compiled {argument} {items!r} to the outputs {names} "
                      f"(give {argument}= as a list with one entry per output or a dict by output name); "
                      "they are not evaluated on the recorded samples.", stacklevel=4)
        return []
    entries = []
    for index, (name, entry) in enumerate(zip(names, per_output)):
        y_out = np.asarray(pick_output(y, index, name))
        entries += [(spec, index) for spec in (_metric_spec(model, item, y_out, index) for item in entry)
                    if spec is not None]
    return entries


def compiled_metrics(model: keras.Model, y: object, sample_weight: np.ndarray | None = None) -> list[MetricSpec]:
    """Fresh copies of the model's compiled metrics and weighted metrics, under their log names.

    A model with several outputs gets each output's metrics (``metrics=`` given as a list with one
    entry per output or a dict by output name), named as Keras logs them: ``<output>_<metric>``
    (``cls_accuracy``), with ``_1``, ``_2`` added to a repeated name.  ``y`` is the targets (of every
    output, as a list or a dict, for a model with several outputs).

    The ``weighted_metrics`` follow, named by Keras' rule too: their own name, or ``weighted_<name>``
    when a metric already has it (``weighted_accuracy`` besides ``accuracy``).  They are evaluated
    with ``sample_weight`` (one weight per sample of ``y``, the same for every output), or unweighted
    when it is None.
    """
    try:
        config = model.get_compile_config() or {}
    except Exception:
        config = {}
    names = output_names(model)
    several = len(names) > 1
    specs: list[MetricSpec] = []
    counters: dict[str, int] = {}

    def unique(name: str) -> str:  # Keras' suffix for a repeated name: _1, _2, ...
        if name not in counters:
            counters[name] = 1
            return name
        counters[name] += 1
        return f"{name}_{counters[name] - 1}"

    for argument in ("metrics", "weighted_metrics"):
        items = config.get(argument) or []
        if not items:
            continue
        weighted = argument == "weighted_metrics"
        for spec, index in _metric_entries(model, items, names, y, argument):
            output = names[index] if several and index is not None else None
            log_name = f"{output}_{spec.name}" if output else spec.name
            if weighted and log_name in counters:
                log_name = f"{output}_weighted_{spec.name}" if output else f"weighted_{spec.name}"
            specs.append(MetricSpec(unique(log_name), spec.make, output=output,
                                    output_index=index if output else None,
                                    sample_weight=sample_weight if weighted else None))
    return specs
