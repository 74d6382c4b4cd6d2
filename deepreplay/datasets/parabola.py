"""Two-parabola data set.

Both classes lie on the parabola ``x2 = x1**2``; the positive class is shifted
down by 0.5, so the two curves are separated by a constant vertical gap.
"""

import numbers

import numpy as np


def _check_positive_int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be a positive int, got {value!r} "
            f"(type {type(value).__name__})"
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive int (>= 1), got {value!r}")
    return int(value)


def _check_distinct_pair(name, value):
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


def _make_rng(seed):
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"seed must be None or a non-negative int accepted by "
            f"numpy.random.default_rng, got {seed!r}: {exc}"
        ) from exc


def load_data(xlim=(-1, 1), n_points=1000, shuffle=True, seed=13):
    """Generate two parabolas, one per class.

    ``x1`` takes ``n_points`` evenly spaced values over ``xlim``
    (``np.linspace``). The negative class (label 0) lies on ``x2 = x1**2`` (the
    upper curve) and the positive class (label 1) on ``x2 = x1**2 - 0.5``.

    Parameters
    ----------
    xlim : pair of float, default (-1, 1)
        Start and end of the ``x1`` range; must be finite and distinct.
    n_points : int, default 1000
        Number of points per class.
    shuffle : bool, default True
        If true, rows are permuted with a generator seeded by ``seed``.
        Otherwise all negatives come first, then all positives.
    seed : int or None, default 13
        Seed for ``np.random.default_rng``; only used when shuffling.

    Returns
    -------
    X : numpy.ndarray of float32, shape (2 * n_points, 2)
    y : numpy.ndarray of float32, shape (2 * n_points, 1)
    """
    low, high = _check_distinct_pair("xlim", xlim)
    n_points = _check_positive_int("n_points", n_points)
    rng = _make_rng(seed)

    x1 = np.linspace(low, high, n_points)
    negatives = np.column_stack([x1, x1**2])
    positives = np.column_stack([x1, x1**2 - 0.5])

    X = np.concatenate([negatives, positives]).astype(np.float32)
    y = np.concatenate([np.zeros(n_points), np.ones(n_points)])
    y = y.reshape(-1, 1).astype(np.float32)

    if shuffle:
        order = rng.permutation(len(X))
        X, y = X[order], y[order]
    return X, y
