"""Loss and a metric per epoch, drawn up to the current epoch with a marker at it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from .. import compute
from .base import Plotter, frame_label
from .common import loss_limits, metric_label

if TYPE_CHECKING:
    from ..replay import Replay

# Neither colour is used for classes (blue, green) or misclassified samples (red)
# by the other visuals, so a composed figure gives every colour one meaning.
LOSS_COLOR = "#ff7f0e"
METRIC_COLOR = "#9467bd"
#: Top of a metric axis for values within [0, 1]: room above a curve that reaches 1.0.
METRIC_TOP = 1.06


@dataclass(frozen=True)
class LossAndMetricData:
    """Per-record values: epochs, loss and metric on the recorded samples."""

    epochs: np.ndarray
    loss: np.ndarray
    metric: np.ndarray | None
    metric_name: str | None
    loss_name: str


class LossAndMetric(Plotter):
    """Line plot of the loss (left axis) and a metric (right axis) over epochs.

    Build it with :meth:`deepreplay.replay.Replay.build_loss_and_metric`.  The
    curves are drawn up to the shown epoch, with a marker at it; the axes show
    the whole epoch range from the start.
    """

    def __init__(self, ax: Axes, data: LossAndMetricData, *, title: str | None = None) -> None:
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        self.title = "Losses and Metrics" if title is None else title

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, metric_name: str | None = "accuracy", *,
                    epoch_start: int | None = None, epoch_end: int | None = None,
                    title: str | None = None) -> LossAndMetric:
        """Compute the curves from a recording and attach them to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
        metric_name : str, default 'accuracy'
            A compiled metric (see ``replay.metric_names``); ``None`` draws the loss only
            (e.g. a regression compiled without metrics).
        epoch_start, epoch_end : int, optional
            Inclusive epoch range (``None``: first / last recorded).
        title : str, optional
        """
        epochs = replay.epoch_range(epoch_start, epoch_end)
        mask = np.isin(replay.epochs, epochs)
        data = LossAndMetricData(
            epochs=epochs,
            loss=np.asarray(replay.training_loss)[mask],
            metric=None if metric_name is None else np.asarray(replay.get_training_metric(metric_name))[mask],
            metric_name=metric_name,
            loss_name=replay.loss_name,
        )
        return cls(ax, data, title=title)

    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        (self.loss_line,) = ax.plot([], [], color=LOSS_COLOR, lw=1.5, label=f"loss ({d.loss_name})")
        # The current-epoch markers sit on the frame at the first and last epochs: never clipped.
        (self.loss_marker,) = ax.plot([], [], "o", color=LOSS_COLOR, ms=5, clip_on=False, zorder=5)
        first, last = float(d.epochs[0]), float(d.epochs[-1])
        ax.set_xlim(first, max(last, first + 1))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers (every=2: no 2.5)
        ax.set_ylim(*loss_limits(d.loss))
        ax.set_xlabel(frame_label(self.frame_unit))
        # Coloured axis labels and ticks say which curve is which; a legend inside
        # the axes would sit on the curves at some epoch.
        ax.set_ylabel(f"Loss ({d.loss_name})", color=LOSS_COLOR)
        ax.tick_params(axis="y", colors=LOSS_COLOR)
        ax.set_title(self.title)
        if d.metric is not None:
            self._create_metric_artists()

    def _create_metric_artists(self) -> None:
        d = self.data
        self.ax_metric = self.ax.twinx()
        (self.metric_line,) = self.ax_metric.plot([], [], color=METRIC_COLOR, lw=1.5, label=d.metric_name)
        (self.metric_marker,) = self.ax_metric.plot([], [], "o", color=METRIC_COLOR, ms=5, clip_on=False, zorder=5)
        metric = d.metric[np.isfinite(d.metric)]
        if metric.size and metric.min() >= 0 and metric.max() <= 1:
            self.ax_metric.set_ylim(0, METRIC_TOP)  # a line at 1.0 stays clear of the frame
        elif metric.size:
            (low, high), _ = compute.padded_limits([np.column_stack([metric, metric])])
            self.ax_metric.set_ylim(low, high)
        self.ax_metric.set_ylabel(metric_label(d.metric_name), color=METRIC_COLOR)
        self.ax_metric.tick_params(axis="y", colors=METRIC_COLOR)

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        upto = int(np.flatnonzero(d.epochs == epoch)[0]) + 1
        self.loss_line.set_data(d.epochs[:upto], d.loss[:upto])
        self.loss_marker.set_data([epoch], [d.loss[upto - 1]])
        if d.metric is None:
            return [self.loss_line, self.loss_marker]
        self.metric_line.set_data(d.epochs[:upto], d.metric[:upto])
        self.metric_marker.set_data([epoch], [d.metric[upto - 1]])
        return [self.loss_line, self.metric_line, self.loss_marker, self.metric_marker]
