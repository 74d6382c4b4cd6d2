"""Per-sample weights of the recorded samples, for the metrics compiled as ``weighted_metrics``.

A callback never sees the ``sample_weight`` or ``class_weight`` given to ``fit``, so
:class:`deepreplay.callbacks.ReplayData` takes them itself.  This module checks them and turns a
``class_weight`` dict into one weight per sample by Keras 3's own rule: the class of a sample is
its target rounded to an integer when the targets are labels (shape ``(n,)`` or ``(n, 1)``), and
the position of the target's largest value when it is a row of several values (one-hot or
probabilities); a class missing from the dict weighs 1.  Keras keeps that rule in a private
function (``keras.src.trainers.data_adapters.data_adapter_utils``), which is why it is written out
here in a few lines of NumPy rather than imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_sample_weight", "map_sample_weight", "output_sample_weight", "check_class_weight", "classes_of", "class_sample_weights", "check_class_range"]


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray:
    """``sample_weight`` checked: one finite, non-negative number per given sample, as float32."""
    try:
        weights = np.asarray(sample_weight, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"sample_weight must be an array of numbers, one per sample of inputs; got "
                        f"{type(sample_weight).__name__}.") from None
    if weights.ndim == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]
    if weights.shape != (n,):
        raise ValueError(f"sample_weight has shape {weights.shape}; give one weight per sample of inputs, "
                         f"shape ({n},), as given to fit(sample_weight=...).")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("sample_weight has negative or non-finite values; give finite weights >= 0.")
    return weights


def map_sample_weight(fn: Any, sample_weight: Any) -> Any:
    """``fn`` applied to one array of weights, or to each output's in a dict (by output name) or a list of arrays
    (in output order), as ``fit(sample_weight=...)`` takes them for a model with several outputs."""
    if isinstance(sample_weight, dict):
        return {key: fn(value) for key, value in sample_weight.items()}
    if isinstance(sample_weight, (list, tuple)) and sample_weight and all(np.ndim(v) >= 1 for v in sample_weight):
        return [fn(value) for value in sample_weight]
    return fn(sample_weight)


def output_sample_weight(sample_weight: Any, output: str, index: int, names: list[str]) -> np.ndarray | None:
    """The weights of output ``output`` (position ``index`` among ``names``): the array given for all outputs, or
    that output's in a dict or list of per-output weights (see :func:`map_sample_weight`)."""
    if isinstance(sample_weight, dict):
        unknown = sorted(set(sample_weight) - set(names))
        if unknown:
            raise ValueError(f"sample_weight names outputs {unknown} that the model does not have; outputs: {names}.")
        return sample_weight.get(output)
    if isinstance(sample_weight, list):
        if len(sample_weight) != len(names):
            raise ValueError(f"sample_weight is a list of {len(sample_weight)} arrays for {len(names)} outputs "
                             f"{names}; give one array per output, or one array for every output.")
        return sample_weight[index]
    return sample_weight


def check_class_weight(class_weight: Any) -> dict[int, float]:
    """``class_weight`` checked: a dict {class index (int >= 0): finite weight >= 0}, as given to ``fit``."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight={class_weight!r} ({type(class_weight).__name__}) must be a dict "
                        "{class index: weight}, as given to fit(class_weight=...), e.g. {0: 1.0, 1: 5.0}.")
    checked: dict[int, float] = {}
    for key, value in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"class_weight has the key {key!r} ({type(key).__name__}); its keys must be integer "
                            "class indices (0, 1, ...), as fit(class_weight=...) takes them.")
        if key < 0:
            raise ValueError(f"class_weight has the key {key!r}; class indices are 0 or more (the position of "
                             "the class in the model's output).")
        try:
            weight = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"class_weight[{key!r}]={value!r} must be a number (the weight of class {key}).") \
                from None
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"class_weight[{key!r}]={value!r}; give finite weights >= 0.")
        checked[int(key)] = weight
    return checked


def classes_of(targets: Any) -> np.ndarray:
    """The class of each sample's target, by Keras' rule for ``class_weight`` (see the module docstring)."""
    y = np.asarray(targets)
    if y.dtype.kind not in "biuf" or y.ndim not in (1, 2):
        raise ValueError(
            f"class_weight needs targets that are class labels, shape (n,) or (n, 1), or one-hot (or probability) "
            f"rows, shape (n, classes); the targets have shape {y.shape}, dtype {y.dtype}. Leave class_weight out, "
            "or give the weights of the samples as sample_weight=."
        )
    if y.ndim == 2:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else y[:, 0]
    return np.round(y).astype(np.int64)


def class_sample_weights(class_weight: dict[int, float], targets: Any) -> np.ndarray:
    """One float32 weight per sample: its class's weight in ``class_weight`` (checked), 1 for classes not in it."""
    classes = classes_of(targets)
    weights = np.ones(len(classes), dtype=np.float32)
    for index, weight in class_weight.items():
        weights[classes == index] = weight
    return weights


def check_class_range(class_weight: dict[int, float], n_classes: int) -> None:
    """Refuse a ``class_weight`` key that names no class of a model with ``n_classes`` classes."""
    outside = sorted(key for key in class_weight if key >= n_classes)
    if outside:
        raise ValueError(
            f"class_weight has the class indices {outside}, but the model has {n_classes} classes (0 to "
            f"{n_classes - 1}); give weights for those classes only."
        )
