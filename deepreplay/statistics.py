"""Per-layer statistics as functions of arrays: spreads, ratios, histograms and their tables.

The pure computation layer of the layer diagnostics: every function here takes
NumPy arrays (or iterables of them, epoch by epoch, so that a long recording is
never held in memory at once) and returns arrays or the read-only tables below;
nothing reads a recording or imports Matplotlib.  :mod:`deepreplay.diagnostics`
walks a :class:`~deepreplay.replay.Replay` (which layers, which epochs, which
variables) and hands the values to these functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import compute

__all__ = [
    "LayerDistributionData",
    "LayerStatistics",
    "RatioTable",
    "check_bins",
    "finite_range",
    "frozen",
    "histograms",
    "kernel_values",
    "padded_range",
    "std_per_layer",
    "std_ratio_values",
]

#: The variable of a layer that stands for its weights when it has one.
PREFERRED_VARIABLE = "kernel"


def frozen(array: np.ndarray) -> np.ndarray:
    """``array`` as an ndarray marked read-only (the tables' arrays are never changed in place)."""
    array = np.asarray(array)
    array.flags.writeable = False
    return array


def kernel_values(variables: Mapping[str, np.ndarray]) -> np.ndarray:
    """The ``kernel`` of a layer when it has one, else all its variables, flattened (float64)."""
    if PREFERRED_VARIABLE in variables:
        return np.asarray(variables[PREFERRED_VARIABLE], dtype=np.float64).ravel()
    return np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in variables.values()])


def std_per_layer(values_by_epoch: Iterable[Sequence[np.ndarray]], n_layers: int) -> np.ndarray:
    """``np.std`` (population) of each layer's values at each epoch: shape (E, ``n_layers``), float64.

    Parameters
    ----------
    values_by_epoch : iterable of sequences of ndarray
        For each epoch, one array of values per layer.
    n_layers : int
        Layers per epoch (the shape of the result when there is no epoch).
    """
    rows = [[np.std(v) for v in values] for values in values_by_epoch]
    return np.array(rows, dtype=np.float64).reshape(len(rows), n_layers)


def std_ratio_values(gradients_std: np.ndarray, weights_std: np.ndarray) -> np.ndarray:
    """``gradients_std / weights_std`` element-wise; NaN where the weights' spread is 0 (or NaN)."""
    gradients_std, weights_std = np.asarray(gradients_std), np.asarray(weights_std)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(weights_std > 0, gradients_std / np.where(weights_std > 0, weights_std, 1.0), np.nan)


def finite_range(values_by_epoch: Iterable[Sequence[np.ndarray]]) -> tuple[float, float]:
    """The smallest and largest finite value of every array (``(inf, -inf)`` when there is none)."""
    low, high = np.inf, -np.inf
    for values in values_by_epoch:
        for array in values:
            finite = array[np.isfinite(array)]
            if finite.size:
                low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return low, high


def histograms(values_by_epoch: Iterable[Sequence[np.ndarray]], edges: np.ndarray, n_epochs: int,
               n_layers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram counts, quartiles and standard deviation of each layer's values at each epoch.

    Parameters
    ----------
    values_by_epoch : iterable of sequences of ndarray
        For each of the ``n_epochs`` epochs, one array per layer (``n_layers``).
    edges : ndarray, shape (B + 1,)
        Bin edges; values beyond them are counted in the edge bins
        (:func:`deepreplay.compute.histogram_counts`).

    Returns
    -------
    counts : ndarray of int64, shape (E, L, B)
    quartiles : ndarray, shape (E, L, 3)
        25th, 50th and 75th percentiles of the finite values (NaN: none).
    std : ndarray, shape (E, L)
        ``np.std`` of the finite values (NaN: none).
    """
    counts = np.zeros((n_epochs, n_layers, len(edges) - 1), dtype=np.int64)
    quartiles = np.full((n_epochs, n_layers, 3), np.nan)
    std = np.full((n_epochs, n_layers), np.nan)
    for i, values in enumerate(values_by_epoch):
        for j, array in enumerate(values):
            counts[i, j] = compute.histogram_counts(array, edges)
            finite = array[np.isfinite(array)]
            if finite.size:
                quartiles[i, j] = np.percentile(finite, [25, 50, 75])
                std[i, j] = np.std(finite)
    return counts, quartiles, std


def padded_range(low: float, high: float, pad: float = 0.05) -> tuple[float, float]:
    """``(low, high)`` widened by ``pad`` of its span on each side; a span around a single value; (-1, 1) if not finite."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return -1.0, 1.0
    span = high - low
    if span <= 0:
        span = abs(low) * 0.1 if low != 0 else 1.0
        return low - span, high + span
    return low - pad * span, high + pad * span


def check_bins(bins: object) -> int:
    """``bins`` as an int of at least 2, or a TypeError/ValueError naming it."""
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, (int, np.integer)):
        raise TypeError(f"bins={bins!r} must be an integer number of bins, such as 50.")
    if bins < 2:
        raise ValueError(f"bins={bins} must be at least 2.")
    return int(bins)



# -- the tables ----------------------------------------------------------------------------------------------
class LayerStatistics(NamedTuple):
    """One number per epoch and layer: ``epochs (E,)``, ``layers (L,)``, ``values (E, L)``.

    Unpack it as ``epochs, layers, values = weights_std(replay)``.  The arrays
    are read-only.
    """

    epochs: np.ndarray
    layers: tuple[str, ...]
    values: np.ndarray

    def at(self, epoch: int) -> np.ndarray:
        """The values of every layer at ``epoch``, shape (L,)."""
        if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"epoch={epoch!r} must be an integer epoch number.")
        where = np.flatnonzero(self.epochs == epoch)
        if where.size == 0:
            raise ValueError(f"epoch={epoch} is not among these epochs: {compute.describe_epochs(self.epochs)}.")
        return self.values[int(where[0])]

    def of(self, layer_name: str) -> np.ndarray:
        """The values of one layer at every epoch, shape (E,)."""
        if layer_name not in self.layers:
            raise ValueError(f"layer_name={layer_name!r} is not among these layers: {list(self.layers)}.")
        return self.values[:, self.layers.index(layer_name)]


@dataclass(frozen=True)
class LayerDistributionData:
    """Histograms and summary statistics of one quantity, per epoch and layer.

    Attributes
    ----------
    quantity : str
        One of :data:`QUANTITIES`.
    epochs : ndarray, shape (E,)
    layers : tuple of str, length L
        Layer names (:data:`INPUTS_LABEL` first when the inputs are included).
    edges : ndarray, shape (B + 1,)
        Bin edges, shared by every epoch and layer; they span ``ylim``.
    counts : ndarray, shape (E, L, B)
        Number of values per bin; values beyond ``ylim`` are counted in the
        edge bins.
    quartiles : ndarray, shape (E, L, 3)
        25th, 50th (median) and 75th percentiles.
    std : ndarray, shape (E, L)
        Standard deviation (``np.std``).
    ylim : tuple of float
        The value range shared by every epoch and layer.
    """

    quantity: str
    epochs: np.ndarray
    layers: tuple[str, ...]
    edges: np.ndarray
    counts: np.ndarray
    quartiles: np.ndarray
    std: np.ndarray
    ylim: tuple[float, float]

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` in :attr:`epochs`."""
        where = np.flatnonzero(self.epochs == epoch)
        if where.size == 0:
            raise ValueError(f"epoch={epoch} is not among these epochs: {compute.describe_epochs(self.epochs)}.")
        return int(where[0])


@dataclass(frozen=True)
class RatioTable:
    """Gradient-to-weight standard deviation ratios of several recordings at one epoch.

    Attributes
    ----------
    epoch : int
    cases : tuple of str, length C
        One name per recording (e.g. "ReLU - He uniform").
    layers : tuple of str, length L
    values : ndarray, shape (C, L)
    """

    epoch: int
    cases: tuple[str, ...]
    layers: tuple[str, ...]
    values: np.ndarray

    def row(self, case: str) -> np.ndarray:
        """The ratios of one case, shape (L,)."""
        if case not in self.cases:
            raise ValueError(f"case={case!r} is not in this table; cases: {list(self.cases)}.")
        return self.values[self.cases.index(case)]

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{case: {layer: ratio}}``."""
        return {case: {layer: float(v) for layer, v in zip(self.layers, row)}
                for case, row in zip(self.cases, self.values)}

    def format(self, *, precision: int = 4) -> str:
        """The table as aligned text, one row per case, one column per layer.

        Parameters
        ----------
        precision : int, default 4
            Significant digits.
        """
        if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)) or precision < 1:
            raise ValueError(f"precision={precision!r} must be a positive integer.")
        cells = [[f"{v:.{precision}g}" for v in row] for row in self.values]
        first = max([len("case")] + [len(c) for c in self.cases])
        widths = [max([len(layer)] + [len(row[j]) for row in cells]) for j, layer in enumerate(self.layers)]
        lines = ["  ".join(["case".ljust(first)] + [layer.rjust(w) for layer, w in zip(self.layers, widths)])]
        for case, row in zip(self.cases, cells):
            lines.append("  ".join([case.ljust(first)] + [cell.rjust(w) for cell, w in zip(row, widths)]))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()
