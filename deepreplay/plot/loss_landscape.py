"""The loss surface on a plane through weight space, with the optimizer's path moving over it.

The surface (filled contours, log colour scale) is computed once by
:mod:`deepreplay.landscape`; per epoch only the path, its markers and the
marker of the current epoch change.  The plane rarely holds the whole path,
so the projection error is shown, not hidden: every path marker is filled
with the colour of the loss *recorded* at that epoch (on the surface's colour
scale), so a marker that does not blend into the contour under it is an
epoch off the plane, and a caption gives the current epoch's recorded loss,
the surface's value at its projection and its distance from the plane.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize

from .. import landscape
from .base import Plotter
from .common import RUN_COLORS, check_title

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["LossLandscape", "LossLandscapeData"]

#: A dark outline under every path, so that a path of any colour stands out on any part of the surface.
_OUTLINE = [patheffects.withStroke(linewidth=3.6, foreground="black")]


@dataclass(frozen=True)
class LossLandscapeData:
    """A surface and the paths drawn over it; ``epochs`` are the frames (the first path's epochs)."""

    surface: landscape.LossSurface
    paths: tuple[landscape.Path, ...]
    epochs: np.ndarray


def _axis_label(plane: landscape.Plane, i: int) -> str:
    if plane.kind == "pca" and plane.explained_variance_ratio is not None:
        return f"PCA direction {i + 1} ({100 * plane.explained_variance_ratio[i]:.1f}% of the path's variance)"
    if plane.kind == "random":
        return f"random direction {i + 1} (filter-normalised)"
    return f"direction {i + 1}"


class LossLandscape(Plotter):
    """Filled contours of the loss over a plane, the paths of one or more runs, the current epoch marked.

    Build it with :meth:`deepreplay.replay.Replay.build_loss_landscape`.
    """

    def __init__(self, ax: Axes, data: LossLandscapeData, *, title: str | None = None, log_scale: bool = True,
                 levels: int = 30, cmap: str = "viridis", colorbar: bool = True) -> None:
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        self.title = "Loss landscape" if check_title(title) is None else title
        self.log_scale, self.levels, self.cmap, self.colorbar = bool(log_scale), int(levels), cmap, bool(colorbar)

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, *, directions: Any = "pca", resolution: int = 51,
                    span: Any = None, epoch_start: int | None = None, epoch_end: int | None = None,
                    origin_epoch: int | None = None, others: Sequence[Replay] = (), seed: int | None = 0,
                    cache: bool = True, title: str | None = None, log_scale: bool = True, levels: int = 30,
                    cmap: str = "viridis", colorbar: bool = True) -> LossLandscape:
        """Compute the surface and the paths, and attach them to ``ax``.

        Parameters
        ----------
        replay : Replay
            The run whose model and samples define the loss (its path is drawn first).
        ax : Axes
        directions : {'pca', 'random'}, pair of arrays, or Plane, default 'pca'
            The plane (see :func:`deepreplay.landscape.make_plane`); with
            ``others``, ``'pca'`` means the PCA of every run's path
            (:func:`deepreplay.landscape.shared_plane`).
        resolution : int, default 51
            Grid points per axis.
        span : float or ((a_min, a_max), (b_min, b_max)), optional
            The grid (default: around every path, 25% wider).
        epoch_start, epoch_end : int, optional
            The epochs drawn (and used for the PCA).
        origin_epoch : int, optional
            The epoch whose weights are the plane's origin (default: the last).
        others : sequence of Replay, optional
            More runs of the same architecture whose paths are drawn on the same surface.
        seed : int, optional
            Seed of random directions.
        cache : bool, default True
            Read/write the surface in the recording file's derived data.
        title : str, optional
        log_scale : bool, default True
            Logarithmic colour scale of the loss.
        levels : int, default 30
            Contour levels.
        cmap : str, default 'viridis'
        colorbar : bool, default True
            A colour bar of the loss beside ``ax``.
        """
        others = list(others)
        if isinstance(directions, str) and directions == "pca" and others:
            plane = landscape.shared_plane([replay, *others], origin_epoch=origin_epoch, epoch_start=epoch_start,
                                           epoch_end=epoch_end)
        else:
            plane = landscape.make_plane(replay, directions, origin_epoch=origin_epoch, epoch_start=epoch_start,
                                         epoch_end=epoch_end, seed=seed)
        evaluator = landscape.LossEvaluator(replay)
        paths = [landscape.path_on_plane(r, plane, epoch_start=epoch_start, epoch_end=epoch_end,
                                         evaluator=evaluator if r is replay else None)
                 for r in [replay, *others]]
        surface = landscape.loss_surface(replay, plane, resolution=resolution, span=span, paths=paths,
                                         evaluator=evaluator, cache=cache)
        data = LossLandscapeData(surface=surface, paths=tuple(paths), epochs=paths[0].epochs)
        return cls(ax, data, title=title, log_scale=log_scale, levels=levels, cmap=cmap, colorbar=colorbar)

    # -- drawing ----------------------------------------------------------------------------------
    def _norm(self) -> Normalize:
        values = [self.data.surface.losses.ravel(), *(p.recorded_loss for p in self.data.paths)]
        finite = np.concatenate([v[np.isfinite(v)] for v in values])
        low, high = float(finite.min()), float(finite.max())
        if self.log_scale and low > 0:
            return LogNorm(low, max(high, low * 1.0001))
        return Normalize(low, max(high, low + 1e-12))

    def _create_artists(self) -> None:
        ax, d, s = self.ax, self.data, self.data.surface
        self.norm = norm = self._norm()
        if isinstance(norm, LogNorm):
            level_values = np.geomspace(norm.vmin, norm.vmax, self.levels)
        else:
            level_values = np.linspace(norm.vmin, norm.vmax, self.levels)
        losses = np.clip(np.where(np.isfinite(s.losses), s.losses, norm.vmax), norm.vmin, norm.vmax)
        self.contours = ax.contourf(s.alphas, s.betas, losses, levels=level_values, norm=norm, cmap=self.cmap)
        ax.contour(s.alphas, s.betas, losses, levels=level_values[::3], norm=norm, colors="k", linewidths=0.3,
                   alpha=0.4)
        if self.colorbar:
            bar = self.fig.colorbar(self.contours, ax=ax, fraction=0.046, pad=0.02)
            bar.set_label("loss" + (" (log scale)" if isinstance(norm, LogNorm) else ""))
            ticks = np.geomspace(norm.vmin, norm.vmax, 5) if isinstance(norm, LogNorm) else \
                np.linspace(norm.vmin, norm.vmax, 5)
            bar.set_ticks(ticks, labels=[f"{t:.3g}" for t in ticks])
            bar.ax.minorticks_off()
        ax.set_xlim(s.alphas[0], s.alphas[-1])
        ax.set_ylim(s.betas[0], s.betas[-1])
        ax.set_xlabel(_axis_label(s.plane, 0))
        ax.set_ylabel(_axis_label(s.plane, 1))
        ax.set_title(self.title)
        several = len(d.paths) > 1
        self.lines, self.dots, self.currents = [], [], []
        for i, path in enumerate(d.paths):
            color = RUN_COLORS[i % len(RUN_COLORS)]
            # The first run on top: paths that share a stretch (SGD and momentum often do) stay distinct.
            above = 0.1 * (len(d.paths) - i)
            (line,) = ax.plot([], [], "-", color=color, lw=2.0, label=path.name if several else None,
                              zorder=3 + above, path_effects=_OUTLINE)
            dots = ax.scatter(np.zeros(0), np.zeros(0), c=np.zeros(0), s=14, cmap=self.cmap, norm=norm,
                              edgecolors=color, linewidths=0.6, zorder=3.05 + above)
            current = ax.scatter([np.nan], [np.nan], c=[np.nan], s=80, cmap=self.cmap, norm=norm, marker="o",
                                 edgecolors=color, linewidths=2.0, zorder=5 + above)
            self.lines.append(line)
            self.dots.append(dots)
            self.currents.append(current)
        ax.plot([0], [0], "+", color="k", ms=8, zorder=2)  # the plane's origin
        if several:
            ax.legend(loc="upper left", fontsize="small", framealpha=0.7)
        self.caption = ax.text(0.99, 0.01, "", transform=ax.transAxes, ha="right", va="bottom", fontsize="small",
                               bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "linewidth": 0})

    def _update(self, epoch: int) -> list[Artist]:
        changed: list[Artist] = []
        lines = []
        for path, line, dots, current in zip(self.data.paths, self.lines, self.dots, self.currents):
            upto = int(np.searchsorted(path.epochs, epoch, side="right"))
            coords = path.coords[:upto]
            line.set_data(coords[:, 0], coords[:, 1])
            dots.set_offsets(coords if upto else np.zeros((0, 2)))
            dots.set_array(path.recorded_loss[:upto])
            if upto:
                current.set_offsets(coords[-1:])
                current.set_array(path.recorded_loss[upto - 1:upto])
                k = upto - 1
                held = "" if int(path.epochs[k]) == epoch else f" (epoch {int(path.epochs[k])}, its last)"
                name = f"{path.name}: " if len(self.data.paths) > 1 else ""
                lines.append(f"{name}recorded {path.recorded_loss[k]:.4g}, surface {path.surface_loss[k]:.4g}, "
                             f"off-plane {path.distance[k]:.3g}{held}")
            changed.extend([line, dots, current])
        self.caption.set_text("\n".join(lines))
        changed.append(self.caption)
        return changed
