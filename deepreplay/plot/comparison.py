"""Comparing recordings: grouped bars of the gradient/weight standard deviation ratio per layer.

The "Weight Initializers" post's Figure 17: one group of bars per layer, one
bar per recording (initializer or activation), from a
:class:`~deepreplay.diagnostics.RatioTable`.  These are static pictures of one
epoch, not animations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.table import Table

from ..diagnostics import RatioTable

__all__ = ["plot_ratio_table", "plot_std_ratios"]


def _check_axes(ax: object) -> None:
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a Matplotlib Axes, got {type(ax).__name__}; create one with plt.subplots().")


def _check_table(table: object) -> None:
    if not isinstance(table, RatioTable):
        raise TypeError(
            f"table must be a RatioTable (from deepreplay.diagnostics.ratio_table), got {type(table).__name__}."
        )


def plot_std_ratios(
    ax: Axes,
    table: RatioTable,
    *,
    log_scale: bool = True,
    colors: Mapping[str, str] | Sequence[str] | None = None,
    errors: np.ndarray | None = None,
    title: str | None = None,
    legend: bool = True,
) -> dict[str, BarContainer]:
    """Grouped bars of the gradient/weight standard deviation ratio, per layer and case.

    Parameters
    ----------
    ax : Axes
        Where to draw.
    table : RatioTable
        From :func:`deepreplay.diagnostics.ratio_table`.
    log_scale : bool, default True
        Logarithmic value axis; ratios of badly initialised networks are
        orders of magnitude smaller than the others.
    colors : mapping of case to colour, or sequence of colours, optional
        Bar colours (default: Matplotlib's colour cycle).
    errors : ndarray, shape (C, L) or (2, C, L), optional
        Error bars: a symmetric half-length per bar, or the lengths below and
        above each bar (e.g. ``[mean - min, max - mean]`` over seeds, which
        stays positive on a log scale).
    title : str, optional
        Axes title (default: "Ratio of gradient to weight std - epoch <n>").
    legend : bool, default True
        Add a legend of the cases.

    Returns
    -------
    dict of str to BarContainer
        The bars of each case.

    Raises
    ------
    ValueError
        ``log_scale=True`` with a ratio that is not positive; too few colours.
    """
    _check_axes(ax)
    _check_table(table)
    if not isinstance(log_scale, (bool, np.bool_)):
        raise TypeError(f"log_scale={log_scale!r} must be True or False.")
    values = np.asarray(table.values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if log_scale and finite.size and finite.min() <= 0:
        raise ValueError(
            f"log_scale=True needs positive ratios, but the smallest is {finite.min():g}; pass log_scale=False."
        )
    n_cases, n_layers = values.shape
    if colors is None:
        cycle = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color") or [f"C{i}" for i in range(10)]
        palette = [cycle[i % len(cycle)] for i in range(n_cases)]
    elif isinstance(colors, Mapping):
        missing = [case for case in table.cases if case not in colors]
        if missing:
            raise ValueError(f"colors has no colour for cases {missing}; give one per case of {list(table.cases)}.")
        palette = [colors[case] for case in table.cases]
    else:
        palette = list(colors)
        if len(palette) < n_cases:
            raise ValueError(f"colors has {len(palette)} colours for {n_cases} cases; give one per case.")
    if errors is not None:
        errors = np.asarray(errors, dtype=np.float64)
        if errors.shape not in ((n_cases, n_layers), (2, n_cases, n_layers)):
            raise ValueError(
                f"errors has shape {errors.shape}; give shape {(n_cases, n_layers)} (symmetric) or "
                f"{(2, n_cases, n_layers)} (below, above), one value per case and layer of the table."
            )
        if np.any(errors < 0):
            raise ValueError("errors must be lengths (0 or more); for a range give [value - low, high - value].")
    group = 0.8
    width = group / n_cases
    x = np.arange(n_layers, dtype=np.float64)
    bars: dict[str, BarContainer] = {}
    for k, case in enumerate(table.cases):
        offset = -group / 2 + (k + 0.5) * width
        yerr = None if errors is None else (errors[k] if errors.ndim == 2 else errors[:, k])
        bars[case] = ax.bar(x + offset, values[k], width=width * 0.95, color=palette[k], label=case,
                            yerr=yerr, error_kw={"elinewidth": 0.8, "capsize": 1.5, "ecolor": "0.2"})
    if log_scale:
        ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels(table.layers)
    ax.set_xlabel("Layers")
    ax.set_ylabel("std(gradients) / std(weights)")
    ax.set_title(f"Ratio of gradient to weight std - epoch {table.epoch}" if title is None else title)
    ax.grid(axis="y", which="major", alpha=0.3)
    if legend:
        ax.legend(fontsize="small", ncol=2 if n_cases > 4 else 1)
    return bars


def plot_ratio_table(ax: Axes, table: RatioTable, *, precision: int = 3, fontsize: float = 8.0) -> Table:
    """Draw the numbers of a :class:`~deepreplay.diagnostics.RatioTable` as a table on ``ax``.

    The axes' frame and ticks are turned off; nothing else on it is changed.

    Parameters
    ----------
    ax : Axes
        Where to draw (usually an axes of its own under the bars).
    table : RatioTable
        From :func:`deepreplay.diagnostics.ratio_table`.
    precision : int, default 3
        Significant digits.
    fontsize : float, default 8
        Font size of the cells.

    Returns
    -------
    matplotlib.table.Table
    """
    _check_axes(ax)
    _check_table(table)
    if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)) or precision < 1:
        raise ValueError(f"precision={precision!r} must be a positive integer.")
    cells = [[f"{v:.{precision}g}" for v in row] for row in table.values]
    ax.set_axis_off()
    drawn = ax.table(cellText=cells, rowLabels=list(table.cases), colLabels=list(table.layers), loc="center",
                     cellLoc="center")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(fontsize)
    drawn.scale(1.0, 1.25)
    return drawn
