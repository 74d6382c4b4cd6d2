"""Fixed 2-D projections of wide layers and high-dimensional inputs.

A feature space or decision boundary is drawn on a plane.  When the values
have exactly two components, the plane is the values themselves (the exact
case, :func:`identity_projection`).  When they have more, the plane is
spanned by their first two principal components, fitted *once* on the values
of every recorded epoch together (:func:`fit_pca`), so every frame of an
animation uses the same basis and frames compare.

Pure NumPy: nothing here imports Matplotlib or Keras.  The principal
components are those of scikit-learn's ``PCA`` (the tests check that), but
the covariance is accumulated one epoch at a time, so a long recording never
has to sit in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["PROJECTIONS", "Projection", "check_projection", "choose_projection", "fit_pca", "identity_projection"]

#: Accepted values of the ``projection`` option of the visuals.
PROJECTIONS = ("auto", "pca", "exact")


@dataclass(frozen=True)
class Projection:
    """An affine map from ``d``-dimensional values to a plane, and back.

    ``transform(v) = (v - mean) @ components.T`` and
    ``inverse_transform(c) = mean + c @ components``; the rows of
    ``components`` are orthonormal, so ``inverse_transform`` maps a point of
    the plane to the point of the ``d``-dimensional space it stands for (a
    *slice* of that space through ``mean``).

    Attributes
    ----------
    mean : ndarray, shape (d,)
    components : ndarray, shape (2, d)
        Orthonormal rows.
    explained_variance_ratio : ndarray, shape (2,)
        Share of the total variance along each axis (NaN when unknown).
    exact : bool
        True for the identity of 2-component values: nothing is lost.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    exact: bool

    def __post_init__(self) -> None:
        for name in ("mean", "components", "explained_variance_ratio"):
            array = np.array(getattr(self, name), dtype=np.float64)  # a private, read-only copy
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        d = self.mean.shape[0]
        if self.mean.ndim != 1 or self.components.shape != (2, d):
            raise ValueError(f"components has shape {self.components.shape}; expected (2, {d}) for a mean of "
                             f"shape {self.mean.shape}.")
        if self.explained_variance_ratio.shape != (2,):
            raise ValueError(f"explained_variance_ratio has shape {self.explained_variance_ratio.shape}; "
                             "expected (2,).")

    @property
    def n_features(self) -> int:
        """``d``, the number of components of the projected values."""
        return int(self.mean.shape[0])

    def _check(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        flat = values.reshape(len(values), -1) if values.ndim else values
        if flat.ndim != 2 or flat.shape[1] != self.n_features:
            raise ValueError(f"values have shape {values.shape}; this projection takes {self.n_features} "
                             "components per row.")
        return flat

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Coordinates on the plane, shape (n, 2), of values of shape (n, d) (or (n, ...) flattening to d)."""
        flat = self._check(values)
        if self.exact:
            return flat.copy()
        return (flat - self.mean) @ self.components.T

    def inverse_transform(self, coordinates: np.ndarray) -> np.ndarray:
        """The ``d``-dimensional points, shape (n, d), that points of the plane (shape (n, 2)) stand for."""
        coordinates = np.asarray(coordinates, dtype=np.float64)
        if coordinates.ndim != 2 or coordinates.shape[1] != 2:
            raise ValueError(f"coordinates have shape {coordinates.shape}; expected (n, 2).")
        if self.exact:
            return coordinates.copy()
        return self.mean + coordinates @ self.components

    def axis_labels(self, exact_names: tuple[str, str] = ("h1", "h2")) -> tuple[str, str]:
        """Axis labels: ``exact_names`` for the exact case, else ``'PC1 (43% var.)'``, ``'PC2 (21% var.)'``."""
        if self.exact:
            return exact_names
        labels = []
        for i, ratio in enumerate(self.explained_variance_ratio, start=1):
            share = f"{100 * ratio:.0f}% var." if np.isfinite(ratio) else "var. unknown"
            labels.append(f"PC{i} ({share})")
        return labels[0], labels[1]

    @property
    def total_explained(self) -> float:
        """Share of the variance the plane keeps (1.0 for the exact case)."""
        return 1.0 if self.exact else float(np.sum(self.explained_variance_ratio))


def identity_projection() -> Projection:
    """The exact projection of 2-component values: the values themselves."""
    return Projection(mean=np.zeros(2), components=np.eye(2), explained_variance_ratio=np.full(2, np.nan),
                      exact=True)


def fit_pca(batches: Iterable[np.ndarray]) -> Projection:
    """The plane of the first two principal components of all rows of all ``batches``.

    Parameters
    ----------
    batches : iterable of arrays, each of shape (n_i, d) (or (n_i, ...) flattening to d)
        For a fixed projection across epochs: one batch per epoch.  Rows with
        a non-finite value are left out.

    Returns
    -------
    Projection
        ``components`` are the two eigenvectors of the covariance with the
        largest eigenvalues, each signed so that its largest-magnitude entry
        is positive (deterministic, as scikit-learn's ``svd_flip``);
        ``explained_variance_ratio`` as scikit-learn's ``PCA``.

    Raises
    ------
    ValueError
        Fewer than 2 components per row, batches of different widths, or
        fewer than 2 finite rows.
    """
    shift = s1 = s2 = None
    count = 0
    d = None
    for batch in batches:
        values = np.asarray(batch, dtype=np.float64)
        values = values.reshape(len(values), -1) if values.ndim > 1 else values.reshape(-1, 1)
        if d is None:
            d = values.shape[1]
            if d < 2:
                raise ValueError(f"the values have {d} component per row; a 2-D projection needs at least 2.")
        elif values.shape[1] != d:
            raise ValueError(f"batches have {d} and {values.shape[1]} components per row; give batches of one width.")
        values = values[np.all(np.isfinite(values), axis=1)]
        if not len(values):
            continue
        if shift is None:
            # Accumulate around the first batch's mean: the sums stay small, the covariance accurate.
            shift = values.mean(axis=0)
            s1, s2 = np.zeros(d), np.zeros((d, d))
        centred = values - shift
        s1 += centred.sum(axis=0)
        s2 += centred.T @ centred
        count += len(values)
    if d is None:
        raise ValueError("batches is empty; give at least one array of values to fit the projection on.")
    if count < 2:
        raise ValueError(f"only {count} finite row(s) to fit the projection on; it needs at least 2.")
    mean_offset = s1 / count
    covariance = (s2 - count * np.outer(mean_offset, mean_offset)) / (count - 1)
    eigenvalues, eigenvectors = np.linalg.eigh((covariance + covariance.T) / 2)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    components = eigenvectors[:, order[:2]].T
    signs = np.sign(components[np.arange(2), np.argmax(np.abs(components), axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    total = eigenvalues.sum()
    ratio = eigenvalues[:2] / total if total > 0 else np.full(2, np.nan)
    return Projection(mean=shift + mean_offset, components=components, explained_variance_ratio=ratio, exact=False)


def check_projection(projection: str) -> str:
    """Validate the ``projection`` option (one of :data:`PROJECTIONS`)."""
    if not isinstance(projection, str) or projection not in PROJECTIONS:
        raise ValueError(
            f"projection={projection!r} must be one of {PROJECTIONS}: 'auto' (exact for 2 components, "
            "PCA for more), 'pca' (always the first two principal components) or 'exact' (2 components only)."
        )
    return projection


def choose_projection(projection: str, n_features: int, what: str) -> bool:
    """Whether the ``projection`` option asks for PCA (True) or the exact plane (False).

    Parameters
    ----------
    projection : {'auto', 'pca', 'exact'}
    n_features : int
        Components per row of the values to draw.
    what : str
        What the values are, for messages ("layer 'hidden'", "the inputs").

    Raises
    ------
    ValueError
        ``'exact'`` for values that do not have 2 components, or fewer than 2
        components.
    """
    projection = check_projection(projection)
    if n_features < 2:
        raise ValueError(f"{what}: {n_features} value per sample; a 2-D view needs at least 2.")
    if projection == "exact" and n_features != 2:
        raise ValueError(
            f"projection='exact' needs 2 values per sample, got {n_features} for {what}; use "
            "projection='auto' or 'pca' to draw them on the plane of their first two principal components."
        )
    return projection == "pca" or (projection == "auto" and n_features != 2)
