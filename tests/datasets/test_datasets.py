"""Tests for deepreplay.datasets (parabola, ball, hypercube)."""

import math

import numpy as np
import pytest

from deepreplay.datasets import ball, hypercube, parabola

LOADERS = {
    "parabola": (parabola.load_data, dict(n_points=50)),
    "ball": (ball.load_data, dict(n_dims=4, n_points=100)),
    "hypercube": (hypercube.load_data, dict(n_dims=5)),
}


# --------------------------------------------------------------------------
# Common properties
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected_shape",
    [("parabola", (100, 2)), ("ball", (100, 4)), ("hypercube", (32, 5))],
)
@pytest.mark.parametrize("shuffle", [True, False])
def test_shapes_and_dtypes(name, expected_shape, shuffle):
    load, kwargs = LOADERS[name]
    X, y = load(shuffle=shuffle, **kwargs)
    assert X.shape == expected_shape
    assert y.shape == (expected_shape[0], 1)
    assert X.dtype == np.float32
    assert y.dtype == np.float32
    assert set(np.unique(y)) <= {0.0, 1.0}


def test_default_shapes():
    X, y = parabola.load_data()
    assert X.shape == (2000, 2) and y.shape == (2000, 1)
    X, y = ball.load_data()
    assert X.shape == (1000, 10) and y.shape == (1000, 1)
    X, y = hypercube.load_data()
    assert X.shape == (1024, 10) and y.shape == (1024, 1)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_same_seed_is_deterministic(name):
    load, kwargs = LOADERS[name]
    X1, y1 = load(seed=7, **kwargs)
    X2, y2 = load(seed=7, **kwargs)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("name", ["parabola", "hypercube"])
def test_different_seed_changes_order_only(name):
    load, kwargs = LOADERS[name]
    X1, y1 = load(seed=1, **kwargs)
    X2, y2 = load(seed=2, **kwargs)
    assert not np.array_equal(X1, X2)
    # Same rows, different order.
    order1 = np.lexsort(np.column_stack([X1, y1]).T)
    order2 = np.lexsort(np.column_stack([X2, y2]).T)
    np.testing.assert_array_equal(X1[order1], X2[order2])
    np.testing.assert_array_equal(y1[order1], y2[order2])


def test_ball_different_seed_differs():
    X1, _ = ball.load_data(n_dims=4, n_points=100, seed=1)
    X2, _ = ball.load_data(n_dims=4, n_points=100, seed=2)
    assert not np.array_equal(X1, X2)


def test_no_global_rng_state_used():
    state = np.random.get_state()
    parabola.load_data(n_points=10)
    ball.load_data(n_dims=3, n_points=10)
    hypercube.load_data(n_dims=3)
    after = np.random.get_state()
    assert state[0] == after[0]
    np.testing.assert_array_equal(state[1], after[1])
    assert state[2:] == after[2:]


# --------------------------------------------------------------------------
# Parabola
# --------------------------------------------------------------------------


def test_parabola_unshuffled_order_and_formula():
    n = 25
    X, y = parabola.load_data(xlim=(-2, 3), n_points=n, shuffle=False)
    x1 = np.linspace(-2, 3, n)
    np.testing.assert_array_equal(y[:n], 0.0)
    np.testing.assert_array_equal(y[n:], 1.0)
    np.testing.assert_array_equal(X[:n, 0], x1.astype(np.float32))
    np.testing.assert_array_equal(X[n:, 0], x1.astype(np.float32))
    np.testing.assert_array_equal(X[:n, 1], (x1**2).astype(np.float32))
    np.testing.assert_array_equal(X[n:, 1], (x1**2 - 0.5).astype(np.float32))


def test_parabola_class_counts():
    X, y = parabola.load_data(n_points=123)
    assert int((y == 0).sum()) == 123
    assert int((y == 1).sum()) == 123


def test_parabola_shuffled_is_permutation_of_unshuffled():
    Xs, ys = parabola.load_data(n_points=40, shuffle=True)
    Xu, yu = parabola.load_data(n_points=40, shuffle=False)
    rows_s = np.column_stack([Xs, ys])
    rows_u = np.column_stack([Xu, yu])
    assert not np.array_equal(rows_s, rows_u)
    np.testing.assert_array_equal(
        rows_s[np.lexsort(rows_s.T)], rows_u[np.lexsort(rows_u.T)]
    )


# --------------------------------------------------------------------------
# Hypercube
# --------------------------------------------------------------------------


def test_hypercube_three_dims():
    X, y = hypercube.load_data(n_dims=3, shuffle=False)
    assert X.shape == (8, 3)
    assert len({tuple(row) for row in X}) == 8
    assert set(np.unique(X)) == {-1.0, 1.0}
    # Positive when >= 1.5 coordinates are +1, i.e. 2 or 3: C(3,2) + C(3,3).
    assert int(y.sum()) == 4
    n_upper = (X == 1.0).sum(axis=1)
    np.testing.assert_array_equal(y[:, 0], (n_upper >= 2).astype(np.float32))


@pytest.mark.parametrize("n_dims", [1, 2, 4, 5, 10])
def test_hypercube_label_counts(n_dims):
    X, y = hypercube.load_data(n_dims=n_dims)
    assert X.shape == (2**n_dims, n_dims)
    k_min = math.ceil(n_dims / 2)
    expected = sum(math.comb(n_dims, k) for k in range(k_min, n_dims + 1))
    assert int(y.sum()) == expected


def test_hypercube_custom_vertices_counts_upper_value():
    # Vertices given in descending order and not -1/1: count coords == 5.
    X, y = hypercube.load_data(n_dims=4, vertices=(5, 2), shuffle=False)
    assert set(np.unique(X)) == {2.0, 5.0}
    n_upper = (X == 5.0).sum(axis=1)
    np.testing.assert_array_equal(y[:, 0], (n_upper >= 2).astype(np.float32))
    assert int(y.sum()) == 6 + 4 + 1


# --------------------------------------------------------------------------
# Ball
# --------------------------------------------------------------------------


def _ball_points(n_dims=10, n_points=1000, only_sphere=False, seed=13):
    """Unshuffled points and rescaled radius, drawn exactly as load_data."""
    rng = np.random.default_rng(seed)
    return ball._sample_points(n_dims, n_points, only_sphere, rng)


def test_ball_matches_internal_sampler():
    X, _ = ball.load_data(shuffle=False)
    points, _ = _ball_points()
    np.testing.assert_array_equal(X, points.astype(np.float32))


@pytest.mark.parametrize("only_sphere", [False, True])
def test_ball_std_and_radius(only_sphere):
    X, _ = ball.load_data(only_sphere=only_sphere)
    _, radius = _ball_points(only_sphere=only_sphere)
    assert X.std() == pytest.approx(1.0, abs=1e-5)
    norms = np.linalg.norm(X.astype(np.float64), axis=1)
    assert np.all(norms <= radius + 1e-5)
    if only_sphere:
        np.testing.assert_allclose(norms, radius, rtol=1e-5)
    else:
        # Uniform in the ball: some points well inside, some near the surface.
        assert norms.min() < 0.8 * radius
        assert norms.max() > 0.95 * radius


def test_ball_labels_follow_sum_of_coordinates_rule():
    fraction = 0.3
    X, y = ball.load_data(classif_radius_fraction=fraction, shuffle=False)
    points, radius = _ball_points()
    expected = np.abs(points.sum(axis=1)) > fraction * radius
    np.testing.assert_array_equal(y[:, 0], expected.astype(np.float32))


def test_ball_default_class_balance():
    _, y = ball.load_data()
    share = y.mean()
    assert 0.3 <= share <= 0.7


def test_ball_half_radius_rule_would_be_degenerate():
    # Documents why the "within half the radius is negative" rule is not used:
    # in 10 dimensions only 0.5**10 of the ball lies within half its radius.
    points, radius = _ball_points()
    share = np.mean(np.linalg.norm(points, axis=1) > 0.5 * radius)
    assert share > 0.99


def test_ball_shuffle_is_permutation():
    Xs, ys = ball.load_data(n_dims=3, n_points=50)
    Xu, yu = ball.load_data(n_dims=3, n_points=50, shuffle=False)
    assert not np.array_equal(Xs, Xu)
    rows_s = np.column_stack([Xs, ys])
    rows_u = np.column_stack([Xu, yu])
    np.testing.assert_array_equal(
        rows_s[np.lexsort(rows_s.T)], rows_u[np.lexsort(rows_u.T)]
    )


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1.0, 10.5, True, "10", None])
def test_parabola_n_points_type(bad):
    with pytest.raises(TypeError, match="n_points must be a positive int"):
        parabola.load_data(n_points=bad)


@pytest.mark.parametrize("bad", [0, -5])
def test_parabola_n_points_value(bad):
    with pytest.raises(ValueError, match=rf"n_points .* got {bad}"):
        parabola.load_data(n_points=bad)


def test_parabola_accepts_numpy_int():
    X, _ = parabola.load_data(n_points=np.int64(5))
    assert X.shape == (10, 2)


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (5, TypeError, r"xlim must be a pair .* got 5"),
        ((1, "a"), TypeError, "is not a real number"),
        ((True, 2), TypeError, "is not a real number"),
        ((1, 2, 3), ValueError, "with 3 element"),
        ((1,), ValueError, "with 1 element"),
        ((0, np.inf), ValueError, "finite"),
        ((np.nan, 1), ValueError, "finite"),
        ((1, 1), ValueError, "both values are equal"),
    ],
)
def test_parabola_bad_xlim(bad, exc, match):
    with pytest.raises(exc, match=match):
        parabola.load_data(xlim=bad)


@pytest.mark.parametrize("bad", [1.0, True, "3"])
@pytest.mark.parametrize("arg", ["n_dims", "n_points"])
def test_ball_int_args_type(arg, bad):
    with pytest.raises(TypeError, match=rf"{arg} must be a positive int"):
        ball.load_data(**{arg: bad})


@pytest.mark.parametrize("bad", [0, -1])
@pytest.mark.parametrize("arg", ["n_dims", "n_points"])
def test_ball_int_args_value(arg, bad):
    with pytest.raises(ValueError, match=rf"{arg} must be a positive int .* got {bad}"):
        ball.load_data(**{arg: bad})


@pytest.mark.parametrize(
    "bad, exc",
    [
        (-0.1, ValueError),
        (np.inf, ValueError),
        (np.nan, ValueError),
        ("0.5", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_ball_bad_fraction(bad, exc):
    with pytest.raises(exc, match="classif_radius_fraction must be a finite non-negative"):
        ball.load_data(n_dims=2, n_points=10, classif_radius_fraction=bad)


def test_ball_zero_fraction_is_allowed():
    _, y = ball.load_data(n_dims=3, n_points=20, classif_radius_fraction=0)
    assert y.shape == (20, 1)


@pytest.mark.parametrize("bad", [3.0, True, "3", None])
def test_hypercube_n_dims_type(bad):
    with pytest.raises(TypeError, match="n_dims must be an int between 1 and 20"):
        hypercube.load_data(n_dims=bad)


@pytest.mark.parametrize("bad", [0, -2, 21, 64])
def test_hypercube_n_dims_value(bad):
    with pytest.raises(ValueError, match=rf"n_dims must be an int between 1 and 20, got {bad}"):
        hypercube.load_data(n_dims=bad)


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (1.0, TypeError, "vertices must be a pair"),
        ((0, None), TypeError, "is not a real number"),
        ((0, 1, 2), ValueError, "with 3 element"),
        ((0, np.inf), ValueError, "finite"),
        ((2.0, 2.0), ValueError, "both values are equal"),
    ],
)
def test_hypercube_bad_vertices(bad, exc, match):
    with pytest.raises(exc, match=match):
        hypercube.load_data(n_dims=3, vertices=bad)


@pytest.mark.parametrize(
    "load, kwargs",
    [
        (parabola.load_data, dict(n_points=5)),
        (ball.load_data, dict(n_dims=2, n_points=5)),
        (hypercube.load_data, dict(n_dims=2)),
    ],
)
@pytest.mark.parametrize("bad, exc", [(-1, ValueError), ("abc", TypeError), (1.5, TypeError)])
def test_bad_seed(load, kwargs, bad, exc):
    with pytest.raises(exc, match="seed must be"):
        load(seed=bad, **kwargs)
