"""Histogram of the per-sample losses at an epoch, on bins fixed over the whole epoch range."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from .. import compute
from .base import Plotter
from .common import MISCLASSIFIED_COLOR, check_title
from .loss_and_metric import LOSS_COLOR

#: Characters per line of the x-axis label (the loss's name).
XLABEL_WIDTH = 40

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["LossHistogram", "LossHistogramData"]

#: Losses have one colour in every visual (the loss curve of LossAndMetric too).
BAR_COLOR = LOSS_COLOR
NOTE_COLOR = MISCLASSIFIED_COLOR
#: The y axis reaches this factor times the tallest bar of any epoch.
HEADROOM = 1.12


@dataclass(frozen=True)
class LossHistogramData:
    """Everything the visual shows, for every epoch (leading axis of ``counts``).

    Attributes
    ----------
    epochs : ndarray of int, shape (E,)
    edges : ndarray, shape (bins + 1,)
        Fixed bin edges, from 0 (or the lowest loss, if negative) to the
        largest finite loss over the epoch range.
    counts : ndarray of int, shape (E, bins)
        Samples per bin at each epoch (finite losses only).
    left_out : ndarray of int, shape (E,)
        Samples whose loss is NaN or infinite at each epoch (not in any bin).
    loss_name : str
    n_samples : int
    """

    epochs: np.ndarray
    edges: np.ndarray
    counts: np.ndarray
    left_out: np.ndarray
    loss_name: str
    n_samples: int

    def __post_init__(self) -> None:
        expected = (len(self.epochs), len(self.edges) - 1)
        if self.counts.shape != expected:
            raise ValueError(f"counts has shape {self.counts.shape}; expected {expected}.")
        if self.left_out.shape != expected[:1]:
            raise ValueError(f"left_out has shape {self.left_out.shape}; expected {expected[:1]}.")
        for name in ("epochs", "edges", "counts", "left_out"):
            array = np.array(getattr(self, name))  # a private, read-only copy
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @property
    def max_count(self) -> int:
        """The tallest bar over every epoch."""
        return int(self.counts.max()) if self.counts.size else 0

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


def loss_edges(losses: np.ndarray, bins: int) -> np.ndarray:
    """``bins + 1`` equal bin edges from 0 (or the lowest finite loss, if negative) to the largest finite loss."""
    finite = np.asarray(losses, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    if not high > low:
        high = low + 1.0
    return np.linspace(low, high, bins + 1)


class LossHistogram(Plotter):
    """Histogram of the per-sample losses on the recorded samples.

    Build it with :meth:`deepreplay.replay.Replay.build_loss_histogram`.  The
    bins and the count scale are fixed over the whole epoch range, so frames
    compare.  Samples whose loss is not finite (a diverging run) are left out
    and counted in a note on the axes.

    Parameters
    ----------
    ax : Axes
    data : LossHistogramData
    title : str, optional
    """

    def __init__(self, ax: Axes, data: LossHistogramData, *, title: str | None = None) -> None:
        super().__init__([ax], data.epochs)
        check_title(title)
        self.ax = ax
        self.data = data
        self.title = "Losses" if title is None else title

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, *, bins: int = 30, epoch_start: int | None = None,
                    epoch_end: int | None = None, title: str | None = None) -> LossHistogram:
        """Compute the histograms of every epoch in range and attach them to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
        bins : int, default 30
            Number of equal bins between 0 and the largest finite loss in range.
        epoch_start, epoch_end : int, optional
            Inclusive epoch range (``None``: first / last recorded).
        title : str, optional

        Raises
        ------
        ValueError
            Per-sample losses not recorded, bad ``bins`` or an empty epoch range.
        """
        bins = compute.check_resolution("bins", bins, minimum=1)
        check_title(title)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        if not replay.reader.has("losses"):
            raise ValueError("per-sample losses were not recorded, so the loss histogram cannot be drawn; "
                             "record them with ReplayData(record=None) or include 'losses' in record=.")

        def losses_at(epoch: int) -> np.ndarray:
            return np.asarray(replay.losses_at(int(epoch)), dtype=np.float64).ravel()

        # Two passes over the records (the range of the losses, then the counts) keep
        # one record in memory at a time, however long the recording.
        low, high = np.inf, -np.inf
        for epoch in epochs:
            finite = losses_at(epoch)
            finite = finite[np.isfinite(finite)]
            if finite.size:
                low, high = min(low, float(finite.min())), max(high, float(finite.max()))
        edges = loss_edges(np.array([low, high]), bins)
        counts = np.zeros((len(epochs), bins), dtype=np.int64)
        left_out = np.zeros(len(epochs), dtype=np.int64)
        n_samples = 0
        for i, epoch in enumerate(epochs):
            losses = losses_at(epoch)
            counts[i] = compute.histogram_counts(losses, edges)
            left_out[i] = np.count_nonzero(~np.isfinite(losses))
            n_samples = losses.size
        data = LossHistogramData(epochs=epochs, edges=edges, counts=counts, left_out=left_out,
                                 loss_name=replay.loss_name, n_samples=n_samples)
        return cls(ax, data, title=title)

    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        lefts, widths = d.edges[:-1], np.diff(d.edges)
        self.bars = ax.bar(lefts, np.zeros(len(lefts)), widths, align="edge", color=BAR_COLOR,
                           edgecolor="white", linewidth=0.5)
        self.note = ax.text(0.98, 0.97, "", transform=ax.transAxes, ha="right", va="top",
                            fontsize="small", color=NOTE_COLOR)
        ax.set_xlim(d.edges[0], d.edges[-1])
        ax.set_ylim(0.0, max(1, d.max_count) * HEADROOM)
        ax.set_title(self.title)
        # Several outputs' losses ('binary_crossentropy+mse') on lines of their own: one line would run
        # under the next axes of a dashboard.
        ax.set_xlabel(textwrap.fill(f"Loss ({d.loss_name.replace('+', ' + ')})", XLABEL_WIDTH))
        ax.set_ylabel("Count")

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        i = d.index(epoch)
        for rect, height in zip(self.bars, d.counts[i]):
            rect.set_height(height)
        missing = int(d.left_out[i])
        self.note.set_text(f"{missing} of {d.n_samples} not finite (left out)" if missing else "")
        return [*self.bars.patches, self.note]
