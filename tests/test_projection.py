"""Tests for deepreplay.projection: pure NumPy, checked against scikit-learn's PCA, no figures."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.decomposition import PCA

from deepreplay.projection import (
    PROJECTIONS,
    Projection,
    check_projection,
    choose_projection,
    fit_pca,
    identity_projection,
)

RNG = np.random.default_rng(0)


def correlated(n, d, *, seed=0, offset=5.0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * np.linspace(3, 0.1, d)[:, None]
    return rng.normal(size=(n, d)) @ mixing + offset


def test_projection_imports_neither_keras_nor_matplotlib():
    code = ("import sys, deepreplay.projection; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("d", [2, 3, 10, 30])
def test_fit_pca_matches_scikit_learn(d):
    values = correlated(400, d, seed=d)
    plane = fit_pca([values])
    reference = PCA(n_components=2).fit(values)
    np.testing.assert_allclose(plane.mean, reference.mean_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(plane.explained_variance_ratio, reference.explained_variance_ratio_, rtol=1e-8)
    # Same axes up to their sign; the coordinates then agree up to that sign too.
    signs = np.sign(np.sum(plane.components * reference.components_, axis=1))
    np.testing.assert_allclose(plane.components, reference.components_ * signs[:, None], atol=1e-8)
    np.testing.assert_allclose(plane.transform(values), reference.transform(values) * signs, atol=1e-8)
    np.testing.assert_allclose(plane.components @ plane.components.T, np.eye(2), atol=1e-12)
    assert not plane.exact


def test_fit_pca_over_batches_equals_one_fit_on_all_rows():
    """Fitted once on every epoch's values: the same basis as a fit on all of them stacked."""
    epochs = [correlated(50, 6, seed=s, offset=s) for s in range(7)]
    streamed = fit_pca(iter(epochs))
    stacked = fit_pca([np.concatenate(epochs)])
    reference = PCA(n_components=2).fit(np.concatenate(epochs))
    for a, b in ((streamed, stacked),):
        np.testing.assert_allclose(a.mean, b.mean, rtol=1e-10)
        np.testing.assert_allclose(a.components, b.components, atol=1e-9)
        np.testing.assert_allclose(a.explained_variance_ratio, reference.explained_variance_ratio_, rtol=1e-8)


def test_fit_pca_signs_are_deterministic_and_arrays_read_only():
    values = correlated(100, 5)
    a, b = fit_pca([values]), fit_pca([values[::-1]])
    np.testing.assert_allclose(a.components, b.components, atol=1e-10)
    for component in a.components:  # largest-magnitude entry positive
        assert component[np.argmax(np.abs(component))] > 0
    with pytest.raises(ValueError, match="read-only"):
        a.components[0, 0] = 1.0


def test_fit_pca_leaves_out_non_finite_rows_and_flattens():
    values = correlated(60, 4)
    dirty = values.copy()
    dirty[3, 1] = np.nan
    dirty[7, 0] = np.inf
    clean = np.delete(values, [3, 7], axis=0)
    np.testing.assert_allclose(fit_pca([dirty]).components, fit_pca([clean]).components, atol=1e-10)
    # (n, 2, 2) values are flattened to 4 components per row.
    np.testing.assert_allclose(fit_pca([values.reshape(60, 2, 2)]).components, fit_pca([values]).components)


def test_inverse_transform_maps_the_plane_back_onto_itself():
    values = correlated(80, 7)
    plane = fit_pca([values])
    coordinates = RNG.normal(size=(25, 2))
    points = plane.inverse_transform(coordinates)
    assert points.shape == (25, 7)
    np.testing.assert_allclose(plane.transform(points), coordinates, atol=1e-10)
    # The origin of the plane is the mean: the slice goes through it.
    np.testing.assert_allclose(plane.inverse_transform(np.zeros((1, 2)))[0], values.mean(axis=0), atol=1e-10)


def test_two_components_identity_is_exact_and_pca_is_a_rigid_motion():
    values = correlated(50, 2)
    exact = identity_projection()
    assert exact.exact and exact.total_explained == 1.0
    np.testing.assert_array_equal(exact.transform(values), values)
    np.testing.assert_array_equal(exact.inverse_transform(values), values)
    assert exact.axis_labels(("h1", "h2")) == ("h1", "h2")
    # PCA of 2-component values keeps all the variance and every distance: a rotation (or reflection).
    plane = fit_pca([values])
    assert plane.explained_variance_ratio.sum() == pytest.approx(1.0)
    moved = plane.transform(values)
    distances = np.linalg.norm(values[:, None] - values[None], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(moved[:, None] - moved[None], axis=-1), distances, atol=1e-10)


def test_axis_labels_say_the_explained_variance():
    plane = Projection(mean=np.zeros(3), components=np.eye(3)[:2], explained_variance_ratio=[0.4321, 0.0789],
                       exact=False)
    assert plane.axis_labels() == ("PC1 (43% var.)", "PC2 (8% var.)")
    assert plane.total_explained == pytest.approx(0.511)
    assert plane.n_features == 3


def test_projection_checks_shapes():
    plane = fit_pca([correlated(30, 4)])
    with pytest.raises(ValueError, match=r"takes 4 components"):
        plane.transform(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"expected \(n, 2\)"):
        plane.inverse_transform(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"expected \(2, 3\)"):
        Projection(mean=np.zeros(3), components=np.eye(2), explained_variance_ratio=[0.5, 0.5], exact=False)


@pytest.mark.parametrize("batches, match", [
    ([], "batches is empty"),
    ([np.zeros((5, 1))], "1 component per row.*at least 2"),
    ([np.zeros((5, 3)), np.zeros((5, 4))], "3 and 4 components"),
    ([np.full((4, 3), np.nan), np.array([[1.0, 2.0, 3.0]])], "only 1 finite row"),
])
def test_fit_pca_errors(batches, match):
    with pytest.raises(ValueError, match=match):
        fit_pca(batches)


def test_check_and_choose_projection():
    assert PROJECTIONS == ("auto", "pca", "exact")
    for name in PROJECTIONS:
        assert check_projection(name) == name
    with pytest.raises(ValueError, match=r"projection='tsne' must be one of \('auto', 'pca', 'exact'\)"):
        check_projection("tsne")
    assert choose_projection("auto", 2, "x") is False
    assert choose_projection("auto", 5, "x") is True
    assert choose_projection("pca", 2, "x") is True
    assert choose_projection("exact", 2, "x") is False
    with pytest.raises(ValueError, match=r"projection='exact' needs 2 values per sample, got 10 for layer 'h'.*'auto'"):
        choose_projection("exact", 10, "layer 'h'")
    with pytest.raises(ValueError, match=r"the inputs: 1 value per sample.*at least 2"):
        choose_projection("auto", 1, "the inputs")
