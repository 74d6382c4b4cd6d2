"""Loss (and a metric) of several runs on one axes, animated with one marker per run.

Each run's curves are drawn up to the shown epoch; a run without a record at
that epoch (recorded with a larger ``every``, or shorter) keeps its marker at
its latest earlier record.  The loss is drawn solid on the left axis, the
metric dashed on the right axis, one colour per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from .. import compute
from .base import Plotter, frame_label
from .common import RUN_COLORS, check_axes, check_title, loss_limits, metric_label

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["RunCurves", "RunsLossAndMetric", "compare_loss_and_metric"]



@dataclass(frozen=True)
class RunCurves:
    """One run's recorded epochs, loss and metric (None without a metric)."""

    name: str
    epochs: np.ndarray
    loss: np.ndarray
    metric: np.ndarray | None


class RunsLossAndMetric(Plotter):
    """Loss (solid, left axis) and a metric (dashed, right axis) of several runs, a marker per run.

    Build it with :func:`compare_loss_and_metric`.  Its epochs are every
    epoch any run recorded.
    """

    def __init__(self, ax: Axes, runs: Sequence[RunCurves], *, metric_name: str | None, loss_name: str = "loss",
                 title: str | None = None, log_scale: bool = False) -> None:
        epochs = np.unique(np.concatenate([r.epochs for r in runs]))
        super().__init__([ax], epochs)
        self.ax = ax
        self.runs = list(runs)
        self.metric_name = metric_name
        self.loss_name = loss_name
        self.title = "Runs compared" if check_title(title) is None else title
        self.log_scale = bool(log_scale)

    def _create_artists(self) -> None:
        ax = self.ax
        self.loss_lines, self.loss_markers, self.metric_lines, self.metric_markers = [], [], [], []
        self.ax_metric = ax.twinx() if self.metric_name is not None else None
        for i, run in enumerate(self.runs):
            color = RUN_COLORS[i % len(RUN_COLORS)]
            (line,) = ax.plot([], [], "-", color=color, lw=1.5, label=run.name)
            (marker,) = ax.plot([], [], "o", color=color, ms=5)
            self.loss_lines.append(line)
            self.loss_markers.append(marker)
            if self.ax_metric is not None:
                (mline,) = self.ax_metric.plot([], [], "--", color=color, lw=1.2)
                (mmarker,) = self.ax_metric.plot([], [], "s", color=color, ms=4)
                self.metric_lines.append(mline)
                self.metric_markers.append(mmarker)
        first, last = float(self.epochs[0]), float(self.epochs[-1])
        ax.set_xlim(first, max(last, first + 1))
        losses = np.concatenate([r.loss for r in self.runs])
        losses = losses[np.isfinite(losses)]
        if self.log_scale and losses.size and losses.min() > 0:
            ax.set_yscale("log")
            ax.set_ylim(float(losses.min()) / 1.2, float(losses.max()) * 1.2)
        else:
            ax.set_ylim(*loss_limits(losses))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers (no 0.5)
        ax.set_xlabel(frame_label(self.frame_unit))
        ax.set_ylabel(f"Loss ({self.loss_name}), solid")
        ax.set_title(self.title)
        if self.ax_metric is not None:
            metric = np.concatenate([r.metric for r in self.runs])
            metric = metric[np.isfinite(metric)]
            if metric.size and metric.min() >= 0 and metric.max() <= 1:
                self.ax_metric.set_ylim(0, 1.02)
            elif metric.size:
                (low, high), _ = compute.padded_limits([np.column_stack([metric, metric])])
                self.ax_metric.set_ylim(low, high)
            self.ax_metric.set_ylabel(f"{metric_label(self.metric_name)}, dashed")
        ax.legend(loc="center right", fontsize="small", framealpha=0.8)

    def _update(self, epoch: int) -> list[Artist]:
        changed: list[Artist] = []
        for i, run in enumerate(self.runs):
            upto = int(np.searchsorted(run.epochs, epoch, side="right"))
            self.loss_lines[i].set_data(run.epochs[:upto], run.loss[:upto])
            self.loss_markers[i].set_data(run.epochs[upto - 1:upto], run.loss[upto - 1:upto])
            changed += [self.loss_lines[i], self.loss_markers[i]]
            if self.ax_metric is not None:
                self.metric_lines[i].set_data(run.epochs[:upto], run.metric[:upto])
                self.metric_markers[i].set_data(run.epochs[upto - 1:upto], run.metric[upto - 1:upto])
                changed += [self.metric_lines[i], self.metric_markers[i]]
        return changed


def compare_loss_and_metric(ax: Axes, replays: Sequence[Replay], metric_name: str | None = "accuracy", *,
                            names: Sequence[str] | None = None, epoch_start: int | None = None,
                            epoch_end: int | None = None, title: str | None = None,
                            log_scale: bool = False) -> RunsLossAndMetric:
    """Curves of several runs on one axes: loss solid (left axis), ``metric_name`` dashed (right axis).

    Parameters
    ----------
    ax : Axes
    replays : sequence of Replay
        The runs (any recordings; e.g. one per optimizer).
    metric_name : str or None, default 'accuracy'
        A metric every run recorded; ``None`` draws the losses only.
    names : sequence of str, optional
        Legend names (default: the group names).
    epoch_start, epoch_end : int, optional
        Inclusive epoch range of every run.
    title : str, optional
    log_scale : bool, default False
        Logarithmic loss axis.

    Returns
    -------
    RunsLossAndMetric
        A visual to compose with others (``compose_animations``), one frame per epoch any run recorded.
    """
    check_axes(ax)
    if isinstance(replays, (str, bytes)) or not isinstance(replays, Sequence) or not replays:
        raise ValueError("replays must be a non-empty list of Replay objects (one per run).")
    names = [str(r.group_name) for r in replays] if names is None else [str(n) for n in names]
    if len(names) != len(replays):
        raise ValueError(f"names has {len(names)} entries for {len(replays)} replays; give one name per run.")
    runs = []
    for name, replay in zip(names, replays):
        epochs = replay.epoch_range(epoch_start, epoch_end)
        mask = np.isin(replay.epochs, epochs)
        metric = None if metric_name is None else np.asarray(replay.get_training_metric(metric_name))[mask]
        runs.append(RunCurves(name, np.asarray(epochs), np.asarray(replay.training_loss)[mask], metric))
    visual = RunsLossAndMetric(ax, runs, metric_name=metric_name, loss_name=replays[0].loss_name, title=title,
                               log_scale=log_scale)
    # Runs that are all step-based are drawn against steps (frames titled "Step: N").
    if all(replay.record_unit == "step" for replay in replays):
        visual.frame_unit = "step"
    return visual
