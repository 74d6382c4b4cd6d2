"""Hypercube-vertices data set.

The points are all ``2**n_dims`` vertices of an ``n_dims``-dimensional
hypercube whose coordinates take one of two values (``vertices``). A vertex is
positive when at least half of its coordinates equal the upper value
``max(vertices)``.
"""

import itertools
import numbers

import numpy as np

from ._validation import check_distinct_pair, make_rng

MAX_DIMS = 20


def _check_n_dims(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"n_dims must be an int between 1 and {MAX_DIMS}, got {value!r} "
            f"(type {type(value).__name__})"
        )
    if not 1 <= value <= MAX_DIMS:
        raise ValueError(
            f"n_dims must be an int between 1 and {MAX_DIMS}, got {value!r} "
            f"(the data set has 2**n_dims points, so larger values would "
            f"exhaust memory)"
        )
    return int(value)


def load_data(n_dims=10, vertices=(-1.0, 1.0), shuffle=True, seed=13):
    """Generate every vertex of an ``n_dims``-dimensional hypercube.

    Each coordinate takes one of the two values in ``vertices``
    (``itertools.product(vertices, repeat=n_dims)``). A vertex is labelled
    positive (1) when the number of its coordinates equal to
    ``max(vertices)`` is at least ``n_dims / 2``, and negative (0) otherwise.

    Parameters
    ----------
    n_dims : int, default 10
        Dimension of the hypercube, between 1 and 20 (the data set has
        ``2**n_dims`` rows).
    vertices : pair of float, default (-1.0, 1.0)
        The two coordinate values; must be finite and distinct.
    shuffle : bool, default True
        If true, rows are permuted with a generator seeded by ``seed``.
        Otherwise rows follow ``itertools.product`` order.
    seed : int or None, default 13
        Seed for ``np.random.default_rng``; only used when shuffling.

    Returns
    -------
    X : numpy.ndarray of float32, shape (2**n_dims, n_dims)
    y : numpy.ndarray of float32, shape (2**n_dims, 1)
    """
    n_dims = _check_n_dims(n_dims)
    values = check_distinct_pair("vertices", vertices)
    rng = make_rng(seed)

    n_rows = 2**n_dims
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.product(values, repeat=n_dims)),
        dtype=np.float64,
        count=n_rows * n_dims,
    )
    X = flat.reshape(n_rows, n_dims)

    n_upper = np.count_nonzero(X == max(values), axis=1)
    y = (n_upper >= n_dims / 2).astype(np.float32).reshape(-1, 1)
    X = X.astype(np.float32)

    if shuffle:
        order = rng.permutation(n_rows)
        X, y = X[order], y[order]
    return X, y
