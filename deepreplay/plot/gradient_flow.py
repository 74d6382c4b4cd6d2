"""Gradient flow at a glance: one image of a per-layer statistic, layers down, epochs across.

The statistics are those of :mod:`deepreplay.diagnostics`
(:func:`~deepreplay.diagnostics.std_ratio`,
:func:`~deepreplay.diagnostics.gradients_std`) and the fraction of dead
units (units whose recorded activation is zero for every recorded sample, as
a ReLU that no longer fires).  Vanishing gradients are a dark band that
deepens towards the first layers, exploding ones a bright band: the "Weight
Initializers" post's per-layer figures in one image per run.  The image is
drawn once; per epoch only the marker of the current epoch moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize

from .. import compute, diagnostics
from .base import Plotter, frame_label
from .common import check_title

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["STATISTICS", "GradientFlow", "GradientFlowData", "dead_unit_fraction"]

#: Statistics the image can show, and their colour-bar labels.
STATISTICS = {
    "ratio": "gradient std / weight std",
    "gradients": "gradient std",
    "dead": "fraction of dead units",
}


@dataclass(frozen=True)
class GradientFlowData:
    """``values (E, L)`` of ``statistic`` per epoch and layer."""

    statistic: str
    epochs: np.ndarray
    layers: tuple[str, ...]
    values: np.ndarray


def dead_unit_fraction(replay: Replay, layer_names: Sequence[str] | None = None, *,
                       epoch_start: int | None = None, epoch_end: int | None = None,
                       exclude_outputs: bool = True) -> diagnostics.LayerStatistics:
    """Fraction of each layer's units whose recorded activation is 0 for every recorded sample, per epoch.

    A unit is a position of the layer's output (all axes but the sample
    axis).  Needs recorded activations (``ReplayData(record=...)`` with
    ``'activations'``); it is meaningful for ReLU-like layers.
    """
    layers = diagnostics.select_layers(replay, "activations", layer_names, exclude_outputs=exclude_outputs)
    epochs = replay.epoch_range(epoch_start, epoch_end)
    values = np.array([[float(np.mean(np.all(np.asarray(replay.outputs_at(int(e), layer)) == 0, axis=0)))
                        for layer in layers] for e in epochs], dtype=np.float64).reshape(len(epochs), len(layers))
    return diagnostics.LayerStatistics(np.asarray(epochs), tuple(layers), values)


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (half-way between neighbours)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    mid = (values[1:] + values[:-1]) / 2
    return np.concatenate([[values[0] - (mid[0] - values[0])], mid, [values[-1] + (values[-1] - mid[-1])]])


class GradientFlow(Plotter):
    """A layers x epochs image of a per-layer statistic, log colour scale, the current epoch marked.

    Build it with :meth:`deepreplay.replay.Replay.build_gradient_flow`.
    """

    def __init__(self, ax: Axes, data: GradientFlowData, *, title: str | None = None, log_scale: bool | None = None,
                 cmap: str = "magma", colorbar: bool = True, limits: tuple[float, float] | None = None) -> None:
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        self.title = f"Gradient flow: {STATISTICS[data.statistic]}" if check_title(title) is None else title
        self.log_scale = data.statistic != "dead" if log_scale is None else bool(log_scale)
        self.cmap, self.colorbar = cmap, bool(colorbar)
        self.limits = None if limits is None else compute.check_limits("limits", limits)
        if self.limits is not None and self.log_scale and self.limits[0] <= 0:
            raise ValueError(f"limits={limits!r} must be positive on a log colour scale.")

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, *, statistic: str = "ratio",
                    layer_names: Sequence[str] | None = None, exclude_outputs: bool = False,
                    epoch_start: int | None = None, epoch_end: int | None = None, title: str | None = None,
                    log_scale: bool | None = None, cmap: str = "magma", colorbar: bool = True,
                    limits: tuple[float, float] | None = None) -> GradientFlow:
        """Compute the statistic per layer and epoch and attach the image to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
        statistic : {'ratio', 'gradients', 'dead'}, default 'ratio'
            Gradient/weight standard-deviation ratio, gradient standard
            deviation, or the fraction of dead units.
        layer_names : list of str, optional
            Layers, top to bottom (default: every layer with the data recorded).
        exclude_outputs : bool, default False
            Leave out the output layer.
        epoch_start, epoch_end : int, optional
        title : str, optional
        log_scale : bool, optional
            Logarithmic colour scale (default: on, off for 'dead').
        cmap : str, default 'magma'
        colorbar : bool, default True
        limits : (low, high), optional
            The colour scale's range (default: this run's values); give the
            same limits to the images of several runs to compare them.
        """
        if not isinstance(statistic, str) or statistic not in STATISTICS:
            raise ValueError(f"statistic={statistic!r} must be one of {list(STATISTICS)}.")
        kwargs = {"exclude_outputs": exclude_outputs, "epoch_start": epoch_start, "epoch_end": epoch_end}
        if statistic == "ratio":
            stats = diagnostics.std_ratio(replay, layer_names, **kwargs)
        elif statistic == "gradients":
            stats = diagnostics.gradients_std(replay, layer_names, **kwargs)
        else:
            stats = dead_unit_fraction(replay, layer_names, **kwargs)
        data = GradientFlowData(statistic, np.asarray(stats.epochs), tuple(stats.layers), np.asarray(stats.values))
        return cls(ax, data, title=title, log_scale=log_scale, cmap=cmap, colorbar=colorbar, limits=limits)

    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        values = np.asarray(d.values, dtype=np.float64).T  # (L, E)
        finite = values[np.isfinite(values) & ((values > 0) if self.log_scale else True)]
        if self.log_scale and finite.size:
            norm: Normalize = LogNorm(float(finite.min()), max(float(finite.max()), float(finite.min()) * 1.0001))
            shown = np.where(values > 0, values, np.nan)
        else:
            low = float(finite.min()) if finite.size else 0.0
            high = float(finite.max()) if finite.size else 1.0
            norm = Normalize(0.0 if d.statistic == "dead" else low, 1.0 if d.statistic == "dead" else max(high, low + 1e-12))
            shown = values
        if self.limits is not None:
            norm = (LogNorm if self.log_scale else Normalize)(*self.limits)
        cmap = colormaps[self.cmap].with_extremes(bad="#bbbbbb")
        x_edges = _edges(d.epochs)
        y_edges = np.arange(len(d.layers) + 1) - 0.5
        self.image = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(shown), cmap=cmap, norm=norm,
                                   shading="flat")
        ax.set_yticks(np.arange(len(d.layers)), list(d.layers))
        ax.set_ylim(len(d.layers) - 0.5, -0.5)  # first layer on top
        ax.set_xlim(x_edges[0], x_edges[-1])
        ax.set_xlabel(frame_label(self.frame_unit))
        ax.set_ylabel("Layer")
        ax.set_title(self.title)
        if self.colorbar:
            bar = self.fig.colorbar(self.image, ax=ax, fraction=0.046, pad=0.02)
            bar.set_label(STATISTICS[d.statistic] + (" (log scale)" if isinstance(norm, LogNorm) else ""))
        self.marker = ax.axvline(d.epochs[0], color="#17becf", lw=2)

    def _update(self, epoch: int) -> list[Artist]:
        self.marker.set_xdata([epoch, epoch])
        return [self.marker]
