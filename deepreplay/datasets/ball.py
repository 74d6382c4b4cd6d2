"""Ball data set: points in (or on the surface of) an n-dimensional ball.

Labelling rule
--------------
The blog post that introduced this data set describes the positive class as
the points lying *beyond half the radius* of the ball (points within half the
radius are negative). In high dimensions that rule is degenerate: the volume
of a ball is concentrated near its surface, and the fraction of a uniform
n-ball lying within half its radius is ``0.5**n_dims`` (about 0.1% for 10
dimensions), so it labels ~99.9% of the points positive.

The original code used a different rule, and this module keeps it: a point
``x`` is labelled positive (1) when

    ``abs(sum(x)) > classif_radius_fraction * radius``

and negative (0) otherwise, where ``radius`` is the ball's radius after the
rescaling described in :func:`load_data`. Geometrically, the negative class is
the slab between two hyperplanes orthogonal to the all-ones direction. With
the defaults (10 dimensions, fraction 0.5) this gives roughly 60% positive and
40% negative points, which is balanced enough for a classification demo.
"""

import numbers

import numpy as np

from ._validation import check_positive_int, make_rng


def _check_fraction(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"classif_radius_fraction must be a finite non-negative number, "
            f"got {value!r} (type {type(value).__name__})"
        )
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(
            f"classif_radius_fraction must be a finite non-negative number, "
            f"got {value!r}"
        )
    return value


def _sample_points(n_dims, n_points, only_sphere, rng):
    """Sample the rescaled points and return ``(X, radius)`` in float64.

    ``radius`` is the ball's radius after the same rescaling as ``X`` (so every
    row of ``X`` has a norm of at most ``radius``). Draws from ``rng`` in a
    fixed order: normal directions first, then (unless ``only_sphere``) the
    uniform radial factors.
    """
    radius = np.sqrt(n_dims)
    directions = rng.standard_normal((n_points, n_dims))
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    # A zero vector from a normal draw is practically impossible; guard anyway.
    norms[norms == 0] = 1.0
    X = directions / norms * radius
    if not only_sphere:
        X = X * rng.uniform(size=(n_points, 1)) ** (1.0 / n_dims)

    scale = X.std()
    # std is 0 only in degenerate cases (e.g. a single 1-D point); skip then.
    if scale > 0:
        X = X / scale
        radius = radius / scale
    return X, radius


def load_data(
    n_dims=10,
    n_points=1000,
    classif_radius_fraction=0.5,
    only_sphere=False,
    shuffle=True,
    seed=13,
):
    """Generate points uniformly in an n-ball (or on its sphere) and label them.

    Points are sampled in a ball of radius ``sqrt(n_dims)``: directions are
    drawn from a standard normal and normalised to unit length, scaled by the
    radius and, unless ``only_sphere``, by ``U**(1 / n_dims)`` with ``U``
    uniform on [0, 1) so the points fill the ball uniformly. All of ``X`` is
    then divided by its overall standard deviation (so ``X.std()`` is 1), and
    the radius is divided by the same factor.

    Labelling: a point ``x`` is positive (1) when
    ``abs(x.sum()) > classif_radius_fraction * radius`` (using the rescaled
    radius) and negative (0) otherwise. This is the rule of the original code,
    not the "within half the radius is negative" rule from the original blog
    post: in 10 dimensions only ``0.5**10`` (~0.1%) of a uniform ball lies
    within half its radius, so that rule would label ~99.9% of the points
    positive, whereas the sum-of-coordinates rule gives roughly a 60/40 split
    with the defaults.

    All randomness (points and shuffling) comes from a single
    ``np.random.default_rng(seed)`` generator, so the output is deterministic
    for a given seed.

    Parameters
    ----------
    n_dims : int, default 10
        Dimension of the ball.
    n_points : int, default 1000
        Number of points.
    classif_radius_fraction : float, default 0.5
        Fraction of the (rescaled) radius used as threshold on
        ``abs(sum of coordinates)``; finite and non-negative.
    only_sphere : bool, default False
        If true, every point lies on the sphere (the ball's surface).
    shuffle : bool, default True
        If true, rows are permuted with the seeded generator.
    seed : int or None, default 13
        Seed for ``np.random.default_rng``.

    Returns
    -------
    X : numpy.ndarray of float32, shape (n_points, n_dims)
    y : numpy.ndarray of float32, shape (n_points, 1)
    """
    n_dims = check_positive_int("n_dims", n_dims)
    n_points = check_positive_int("n_points", n_points)
    fraction = _check_fraction(classif_radius_fraction)
    rng = make_rng(seed)

    X, radius = _sample_points(n_dims, n_points, only_sphere, rng)

    y = (np.abs(X.sum(axis=1)) > fraction * radius).astype(np.float32)
    y = y.reshape(-1, 1)
    X = X.astype(np.float32)

    if shuffle:
        order = rng.permutation(n_points)
        X, y = X[order], y[order]
    return X, y
