"""Two-parabola data set.

Both classes lie on the parabola ``x2 = x1**2``; the positive class is shifted
down by 0.5, so the two curves are separated by a constant vertical gap.
"""


import numpy as np

from ._validation import check_positive_int, check_distinct_pair, make_rng


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
    low, high = check_distinct_pair("xlim", xlim)
    n_points = check_positive_int("n_points", n_points)
    rng = make_rng(seed)

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
