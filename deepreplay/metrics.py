"""Fresh copies of a model's compiled metrics, to evaluate them on the recorded samples.

:func:`compiled_metrics` reads the metrics a model was compiled with, in
every form Keras 3 accepts (names, objects, per output, weighted, a user's
unregistered function or class), as :class:`MetricSpec` objects that the
callback and the replay share; each measures its output of the targets and
predictions, with that output's Keras mask.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from deepreplay.losses import is_binary_or_sparse, loss_name, output_names, pick_output, with_mask
from deepreplay.weighting import output_sample_weight


def _accuracy_for(model: keras.Model, y: np.ndarray, kind: str, output: int = 0) -> keras.metrics.Metric:
    """Resolve 'accuracy'/'crossentropy' the way Keras does, from the target and output shapes.

    ``output`` is the position of the output (in ``model.outputs``) the metric is computed on.
    """
    outputs = getattr(model, "outputs", None)
    if outputs and output < len(outputs):
        output_shape = tuple(outputs[output].shape)
        binary, sparse = is_binary_or_sparse(np.empty((1, *np.shape(y)[1:])), np.empty((1, *output_shape[1:])))
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
    #: The Keras mask of the measured output on the recorded inputs (see :func:`deepreplay.losses.output_masks`), or None.
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
    with ``sample_weight`` (one weight per sample of ``y``, the same for every output, or a dict by
    output name or list of each output's weights, as ``fit`` takes them), or unweighted when it is None.
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
            weights = output_sample_weight(sample_weight, names[index or 0], index or 0, names) if weighted else None
            specs.append(MetricSpec(unique(log_name), spec.make, output=output,
                                    output_index=index if output else None, sample_weight=weights))
    return specs


def _binary_accuracy(item: object, one_unit: bool) -> tuple[str, float] | None:
    """``(log name, threshold)`` of one compiled metric if it is Keras' binary accuracy, else None."""
    if isinstance(item, str) and item in ("accuracy", "acc"):
        return (item, 0.5) if one_unit else None  # Keras' rule for a one-unit output (see _accuracy_for)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = keras.metrics.get(item) if isinstance(item, str) else keras.metrics.deserialize(item)
    except Exception:  # noqa: BLE001 - a metric the config cannot rebuild is not Keras' binary accuracy
        return None
    if isinstance(obj, keras.metrics.BinaryAccuracy):
        return (item if isinstance(item, str) else obj.name), float(obj.threshold)
    if obj is keras.metrics.binary_accuracy:
        return (item if isinstance(item, str) else "binary_accuracy"), 0.5
    return None


def binary_accuracy_metrics(model_config: str | dict, output: str, outputs: list[str], *,
                            one_unit: bool) -> dict[str, float]:
    """The compiled metrics of ``output`` that are Keras' binary accuracy, as ``{log name: threshold}``.

    Read from a serialized model's ``compile_config`` (``model.to_json()``)
    without building the model: ``BinaryAccuracy`` objects, the
    ``binary_accuracy`` function, and ``'accuracy'`` (or ``'acc'``) where
    Keras resolves it to ``BinaryAccuracy()`` (``one_unit``: the output has
    one unit).  These count a prediction as class 1 when it is above their
    threshold (0.5 by default) and compare that 0/1 with the target.  The log
    names follow Keras' rules (``<output>_<name>`` for a model with several
    outputs, ``weighted_<name>`` for a repeated weighted metric); give the
    recorded metric names to keep only what was recorded.  An unreadable
    config gives ``{}``.
    """
    try:
        config = json.loads(model_config) if isinstance(model_config, (str, bytes)) else model_config
        compile_config = config.get("compile_config") or {}
    except (AttributeError, TypeError, ValueError):
        return {}
    several = len(outputs) > 1
    found: dict[str, float] = {}
    for argument in ("metrics", "weighted_metrics"):
        items = compile_config.get(argument) or []
        if several:
            per_output = _metrics_per_output(items, list(outputs))
            if per_output is None or output not in outputs:
                continue
            items = per_output[list(outputs).index(output)]
        elif not isinstance(items, (list, tuple)):
            items = [items]
        for item in items:
            named = _binary_accuracy(item, one_unit)
            if named is None:
                continue
            name = f"{output}_{named[0]}" if several else named[0]
            found[name] = named[1]
            if argument == "weighted_metrics":
                found[f"{output}_weighted_{named[0]}" if several else f"weighted_{named[0]}"] = named[1]
    return found


def _not_zero_one(targets: np.ndarray) -> np.ndarray:
    values = np.asarray(targets, dtype=np.float64).ravel()
    return values[~np.isin(values, (0.0, 1.0))]


def misread_binary_accuracies(model_config: str | dict, output: str, outputs: list[str], recorded: list[str],
                              targets: np.ndarray, *, split_at_zero: bool) -> dict[str, float]:
    """The recorded binary accuracies (``{log name: threshold}``) of a one-unit ``output`` whose curve misreads it.

    Keras' binary accuracy (see :func:`binary_accuracy_metrics`) compares
    each target with a 0/1 prediction, ``output > threshold``: it never counts
    a target other than 0 and 1 as right (a hinge loss's -1, a soft label,
    a regression's value), whatever its threshold; and on 0/1 targets of an
    output that splits its classes at 0 (``split_at_zero``: a hinge loss's
    raw score, a logit), a threshold other than 0 (``'accuracy'``'s 0.5) is
    not where the classes split.
    """
    other = _not_zero_one(targets).size > 0
    found = binary_accuracy_metrics(model_config, output, outputs, one_unit=True)
    return {name: threshold for name, threshold in found.items()
            if name in set(recorded) and (other or (split_at_zero and threshold != 0))}


def binary_accuracy_note(metric_name: str, threshold: float, targets: np.ndarray, *, split: str) -> str:
    """One line: why the curve of ``metric_name`` (:func:`misread_binary_accuracies`) is not the share of samples
    the model gets right, and how to record one that is.  ``split``: where the output splits its classes,
    ``'hinge'`` (a raw score, at 0), ``'logits'`` (at 0) or ``'probability'`` (at 0.5)."""
    fix = "metrics=[keras.metrics.BinaryAccuracy(threshold=0)]"
    other = _not_zero_one(targets)
    values = set(np.unique(np.asarray(targets, dtype=np.float64)).tolist()) if other.size else set()
    if values == {-1.0, 1.0} and split == "hinge":
        return (f"the {metric_name!r} curve (Keras' BinaryAccuracy) compares the -1/1 targets with 0/1 predictions, "
                f"so it never counts a -1 target as right; for a curve that matches the histograms, train on 0/1 "
                f"targets (the hinge loss turns them into -1/1) with {fix}")
    if other.size:
        n = int(np.asarray(targets).size)
        span = f"all {other.min():g}" if other.min() == other.max() else f"from {other.min():g} to {other.max():g}"
        return (f"the {metric_name!r} curve (Keras' BinaryAccuracy) compares each target with a 0/1 prediction, and "
                f"{other.size} of the {n} targets are neither 0 nor 1 ({span}), "
                "so it never counts those as right: it is not a share of right answers here")
    if split == "logits":
        probability = 1.0 / (1.0 + np.exp(-threshold))
        return (f"the {metric_name!r} curve (Keras' BinaryAccuracy) counts a logit above {threshold:g} (a "
                f"probability of {probability:.2f}) as class 1, where the histograms split the classes at a "
                f"probability of 0.5 (a logit of 0); {fix} gives a matching curve")
    return (f"the {metric_name!r} curve (Keras' BinaryAccuracy) counts an output above {threshold:g} as class 1, "
            f"where the hinge loss and the histograms split the classes at 0; {fix} gives a matching curve")
