"""Inputs and targets of several arrays: a list or a dict of arrays, as ``model.fit`` takes them.

A *structure* is one NumPy array, a list of arrays or a dict of arrays (by
name), every array with one row per sample.  The recorder, the storage and
the replay use these few functions to treat the three alike; the storage
decides how a structure is laid out in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Union

import numpy as np

Structure = Union[np.ndarray, list, dict]

__all__ = ["Structure", "as_structure", "leaves", "map_structure", "n_samples", "take", "keys", "select"]


def _as_array(name: str, value: object) -> np.ndarray:
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}.")
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}: {exc}") from None
    if array.dtype.kind in "USO":
        raise TypeError(
            f"{name} holds strings or objects (dtype {array.dtype}): deepreplay records arrays of numbers, the "
            "inputs its visuals draw. For text or categories, record the model after its preprocessing: apply "
            "the StringLookup/TextVectorization layer in a tf.data map (dataset.map(lookup)) or in a separate "
            "preprocessing model, and give fit and ReplayData the encoded numbers.")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got an array of dtype {array.dtype}.")
    if array.ndim == 0:
        raise ValueError(f"{name} must have one row per sample, got a scalar.")
    # No copy of float32 arrays: callers take rows of them (a copy) or only read them.
    return array.astype(np.float32, copy=False) if array.dtype.kind == "f" else array


def as_structure(name: str, value: object) -> Structure:
    """``value`` as an array, a list of arrays or a dict of arrays (floats as float32), checked.

    The arrays may be ``value``'s own (float32 and integer arrays are not copied): take rows of
    them (:func:`take` copies) before changing them.

    A list or tuple of arrays of different shapes, or of arrays with more
    than one dimension, is a list of inputs (as ``model.fit`` reads it); a
    list of numbers is one array.

    Raises
    ------
    TypeError, ValueError
        Not numbers, a scalar, an empty list or dict, or arrays with
        different numbers of rows.
    """
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(f"{name} is an empty dict; give one array per model input/output.")
        out: Structure = {str(k): _as_array(f"{name}[{k!r}]", v) for k, v in value.items()}
    elif isinstance(value, (list, tuple)) and value and all(
            isinstance(v, np.ndarray) or (hasattr(v, "shape") and hasattr(v, "dtype")) for v in value):
        out = [_as_array(f"{name}[{i}]", v) for i, v in enumerate(value)]
        if len(out) == 1:
            out = out[0]
    else:
        out = _as_array(name, value)
    lengths = {len(leaf) for leaf in leaves(out)}
    if len(lengths) > 1:
        raise ValueError(f"the arrays of {name} have different numbers of samples {sorted(lengths)}; "
                         "give every array one row per sample.")
    return out


def leaves(value: Structure) -> list[np.ndarray]:
    """The arrays of a structure, in order (a dict's in insertion order)."""
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return [value]


def keys(value: Structure) -> list[str]:
    """A name for each array: the dict keys, positions ``'0', '1', ...`` for a list, ``[]`` for one array."""
    if isinstance(value, dict):
        return list(value)
    if isinstance(value, list):
        return [str(i) for i in range(len(value))]
    return []


def map_structure(fn: Callable[[np.ndarray], Any], value: Structure) -> Any:
    """``fn`` applied to every array, the structure kept."""
    if isinstance(value, dict):
        return {k: fn(v) for k, v in value.items()}
    if isinstance(value, list):
        return [fn(v) for v in value]
    return fn(value)


def n_samples(value: Structure) -> int:
    """Number of rows (samples) of a structure."""
    return len(leaves(value)[0])


def take(value: Structure, rows: Any) -> Structure:
    """The rows ``rows`` (indices or a slice) of every array."""
    return map_structure(lambda a: a[rows], value)


def select(value: Structure, key: int | str) -> np.ndarray:
    """One array of a structure, by position or name (one array: itself)."""
    if isinstance(value, dict):
        if isinstance(key, str) and key in value:
            return value[key]
        if isinstance(key, (int, np.integer)) and 0 <= key < len(value):
            return list(value.values())[key]
    elif isinstance(value, list):
        if isinstance(key, (int, np.integer)) and 0 <= key < len(value):
            return value[key]
    elif key in (0, None):
        return value
    raise KeyError(key)
