"""The loss along the straight line from the initial to the final weights (Goodfellow et al. 2015).

The curve is computed once by :func:`deepreplay.landscape.line_interpolation`;
per epoch the recorded losses of the epochs so far are placed at their
projections on the line, the current one marked.  An epoch far from the line
has a recorded loss that need not lie on the curve: the caption gives its
distance from the line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from .. import landscape
from .base import Plotter
from .common import check_title
from .loss_and_metric import LOSS_COLOR

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["LossInterpolation"]

LINE_COLOR = "#7f7f7f"


class LossInterpolation(Plotter):
    """Loss along ``θ_start + t (θ_end − θ_start)``, with each recorded epoch at its projection ``t``.

    Build it with :meth:`deepreplay.replay.Replay.build_loss_interpolation`.
    """

    def __init__(self, ax: Axes, data: landscape.LineInterpolation, *, title: str | None = None,
                 log_scale: bool = False) -> None:
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        self.title = "Loss on the line from start to end" if check_title(title) is None else title
        self.log_scale = bool(log_scale)

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, *, n_points: int = 101, beyond: float = 0.25,
                    epoch_start: int | None = None, epoch_end: int | None = None, title: str | None = None,
                    log_scale: bool = False) -> LossInterpolation:
        """Compute the line and attach it to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
        n_points : int, default 101
            Points along the line.
        beyond : float, default 0.25
            How far past both ends the line goes (a fraction of its length).
        epoch_start, epoch_end : int, optional
            The line's ends (default: first and last recorded epochs).
        title : str, optional
        log_scale : bool, default False
            Logarithmic loss axis.
        """
        data = landscape.line_interpolation(replay, n_points=n_points, beyond=beyond, epoch_start=epoch_start,
                                            epoch_end=epoch_end)
        return cls(ax, data, title=title, log_scale=log_scale)

    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        ax.plot(d.ts, d.losses, "-", color=LINE_COLOR, lw=1.5)
        for t in (0.0, 1.0):
            ax.axvline(t, color=LINE_COLOR, lw=0.8, ls=":")
        (self.recorded,) = ax.plot([], [], "o", color=LOSS_COLOR, ms=3.5, alpha=0.8)
        (self.current,) = ax.plot([], [], "o", color=LOSS_COLOR, ms=8, mec="k")
        values = np.concatenate([d.losses, d.recorded_loss])
        values = values[np.isfinite(values)]
        low, high = float(values.min()), float(values.max())
        if self.log_scale and low > 0:
            ax.set_yscale("log")
            ax.set_ylim(low / 1.2, high * 1.2)
        else:
            pad = 0.05 * (high - low) if high > low else 0.01 * max(abs(high), 1e-3)
            ax.set_ylim(low - pad, high + pad)
        ax.set_xlim(float(d.ts[0]), float(d.ts[-1]))
        ax.set_xlabel(f"t  (0: weights at epoch {d.start_epoch}, 1: at epoch {d.end_epoch})")
        # The axis label says which is which: a legend inside the axes would sit on the curve.
        ax.set_ylabel("Loss (grey: on the line, dots: recorded)")
        ax.set_title(self.title)
        self.caption = ax.text(0.01, 0.01, "", transform=ax.transAxes, ha="left", va="bottom", fontsize="small",
                               bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "linewidth": 0})

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        upto = int(np.flatnonzero(d.epochs == epoch)[0]) + 1
        self.recorded.set_data(d.epoch_ts[:upto], d.recorded_loss[:upto])
        self.current.set_data([d.epoch_ts[upto - 1]], [d.recorded_loss[upto - 1]])
        self.caption.set_text(f"t = {d.epoch_ts[upto - 1]:.3f}, distance from the line {d.distance[upto - 1]:.3g}")
        return [self.recorded, self.current, self.caption]
