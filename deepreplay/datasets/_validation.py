"""Argument checks shared by the data set generators."""

import numbers

import numpy as np


def check_positive_int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be a positive int, got {value!r} "
            f"(type {type(value).__name__})"
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive int (>= 1), got {value!r}")
    return int(value)


def check_distinct_pair(name, value):
    try:
        pair = tuple(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a pair of distinct finite numbers, got {value!r}"
        ) from None
    if len(pair) != 2:
        raise ValueError(
            f"{name} must be a pair of distinct finite numbers, got {value!r} "
            f"with {len(pair)} element(s)"
        )
    for item in pair:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Real):
            raise TypeError(
                f"{name} must be a pair of distinct finite numbers, got {value!r} "
                f"(element {item!r} is not a real number)"
            )
    low, high = float(pair[0]), float(pair[1])
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(
            f"{name} must be a pair of distinct finite numbers, got {value!r}"
        )
    if low == high:
        raise ValueError(
            f"{name} must be a pair of distinct finite numbers, got {value!r} "
            f"(both values are equal)"
        )
    return low, high


def make_rng(seed):
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"seed must be None or a non-negative int accepted by "
            f"numpy.random.default_rng, got {seed!r}: {exc}"
        ) from exc
