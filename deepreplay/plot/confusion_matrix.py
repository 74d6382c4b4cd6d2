"""Confusion matrix of a classifier on the recorded samples, epoch by epoch.

Rows are the true classes, columns the predicted ones (the most probable
class).  The cells show counts, or with ``normalize=True`` each row divided
by its class size (the share of the class predicted as each column: the
diagonal is the per-class recall).  The colour scale is fixed over the
epochs (counts: 0 to the largest class; shares: 0 to 1), so the diagonal
visibly fills in as the model learns.  Counts come from
:func:`deepreplay.compute.confusion_counts` (one ``bincount``, the same as
``sklearn.metrics.confusion_matrix``, without its per-call checks, for many
epochs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from .. import compute
from .base import Plotter
from .common import (
    MAX_CLASS_TICKS,
    check_axes,
    check_class_names,
    check_flag,
    check_title,
    class_ticks,
    model_task,
    not_a_classifier,
    resolve_class_names,
)

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["ConfusionMatrix", "ConfusionMatrixData"]

#: Colour map of the cells (white for 0, dark blue for the most).
CMAP = "Blues"
#: Cell texts are drawn for up to this many classes (beyond, they would not fit).
MAX_ANNOTATED_CLASSES = 20


@dataclass(frozen=True)
class ConfusionMatrixData:
    """Everything the visual shows, for every epoch (leading axis of ``counts``).

    Attributes
    ----------
    epochs : ndarray of int, shape (E,)
    counts : ndarray of int, shape (E, k, k)
        ``counts[i, t, p]``: samples of true class ``t`` predicted as ``p`` at
        epoch ``epochs[i]``.
    class_names : tuple of str
    normalize : bool
        Shown as row shares (True) or counts (False).
    """

    epochs: np.ndarray
    counts: np.ndarray
    class_names: tuple[str, ...]
    normalize: bool = False

    def __post_init__(self) -> None:
        k = len(self.class_names)
        if self.counts.shape != (len(self.epochs), k, k):
            raise ValueError(f"counts has shape {self.counts.shape}; expected {(len(self.epochs), k, k)}.")
        for name in ("epochs", "counts"):
            array = np.array(getattr(self, name))  # a private, read-only copy
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def values(self) -> np.ndarray:
        """What the cells show, shape (E, k, k): counts, or row shares with ``normalize``."""
        return compute.row_normalized(self.counts) if self.normalize else self.counts.astype(np.float64)

    @property
    def vmax(self) -> float:
        """Top of the fixed colour scale: 1 for shares, the largest class size for counts."""
        if self.normalize:
            return 1.0
        return float(max(1, self.counts.sum(axis=2).max())) if self.counts.size else 1.0

    def accuracy(self, i: int) -> float:
        """Share of the samples on the diagonal at epoch index ``i``."""
        total = self.counts[i].sum()
        return float(np.trace(self.counts[i]) / total) if total else float("nan")

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


def cell_text(value: float, normalize: bool) -> str:
    """The text of one cell: the count, or the share in percent; empty for 0 (an uncluttered matrix)."""
    if value == 0:
        return ""
    return f"{100 * value:.0f}%" if normalize else f"{int(value)}"


class ConfusionMatrix(Plotter):
    """The confusion matrix on the recorded samples at each epoch.

    Build it with :meth:`deepreplay.replay.Replay.build_confusion_matrix`.
    Rows are true classes, columns predicted classes; with
    ``normalize=True`` a row shows the share of its class predicted as each
    class (the diagonal is the recall of each class).  The title gives the
    accuracy of the epoch.

    Parameters
    ----------
    ax : Axes
    data : ConfusionMatrixData
    title : str, optional
        Axes title (default "Confusion Matrix (counts)" or "(row-normalised)").
    annotate : bool, optional
        Write each cell's count or share (default: up to 20 classes).
    """

    def __init__(self, ax: Axes, data: ConfusionMatrixData, *, title: str | None = None,
                 annotate: bool | None = None) -> None:
        if not isinstance(data, ConfusionMatrixData):
            raise TypeError(f"data must be a ConfusionMatrixData, got {type(data).__name__}; or build the visual "
                            "with replay.build_confusion_matrix(ax).")
        check_title(title)
        if annotate is not None:
            check_flag("annotate", annotate)
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        self.annotate = data.n_classes <= MAX_ANNOTATED_CLASSES if annotate is None else bool(annotate)
        # Over 12 classes a cell is about as wide as "10%": the shares are written without their "%",
        # which the title says once.
        self.bare_percent = self.annotate and data.normalize and data.n_classes > MAX_CLASS_TICKS
        kind = ("row-normalised, %" if self.bare_percent else "row-normalised") if data.normalize else "counts"
        self.title = f"Confusion Matrix ({kind})" if title is None else title

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, *, normalize: bool = False,
                    class_names: Sequence[str] | None = None, annotate: bool | None = None,
                    epoch_start: int | None = None, epoch_end: int | None = None,
                    title: str | None = None) -> ConfusionMatrix:
        """Count true against predicted classes at every epoch in range and attach the visual to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
            Drawn on, never cleared.
        normalize : bool, default False
            Show each row divided by its class size (shares, 0 to 100%)
            instead of counts.
        class_names : sequence of str, optional
            One name per class (default ``class 0``, ``class 1``, ...;
            ``negative``/``positive`` for a binary model).
        annotate : bool, optional
            Write the value in each cell (default: up to 20 classes).
        epoch_start, epoch_end : int, optional
            Inclusive epoch range (``None``: first / last recorded).
        title : str, optional

        Raises
        ------
        ValueError
            Not a classifier, predictions not recorded, bad options.
        """
        check_axes(ax)
        normalize = check_flag("normalize", normalize)
        if annotate is not None:
            check_flag("annotate", annotate)
        class_names = check_class_names(class_names)
        check_title(title)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        if not replay.reader.has("predictions"):
            raise ValueError("the predictions were not recorded, so the confusion matrix cannot be drawn; record "
                             "them with ReplayData(record=None) or include 'predictions' in record=.")
        task, from_logits = model_task(replay)
        if not task.is_classification:
            raise ValueError(not_a_classifier("the confusion matrix", task))
        names = resolve_class_names(class_names, task)
        labels = compute.class_labels(replay.targets)
        k = int(task.n_classes)
        counts = np.zeros((len(epochs), k, k), dtype=np.int64)
        for i, epoch in enumerate(epochs):
            outputs = np.asarray(replay.predictions_at(int(epoch)))
            _, predicted = compute.classify_outputs(outputs, task, from_logits=from_logits)
            counts[i] = compute.confusion_counts(labels, predicted, k)
        data = ConfusionMatrixData(epochs=epochs, counts=counts, class_names=names, normalize=normalize)
        return cls(ax, data, title=title, annotate=annotate)

    # -- drawing -----------------------------------------------------------------------------------------
    def _title(self, i: int) -> str:
        accuracy = self.data.accuracy(i)
        return f"{self.title}\naccuracy {100 * accuracy:.1f}%" if np.isfinite(accuracy) else self.title

    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        k = d.n_classes
        values = d.values
        self.image = ax.imshow(values[0], cmap=CMAP, vmin=0.0, vmax=d.vmax, interpolation="nearest",
                               aspect="equal")
        ticks = class_ticks(k)  # every class, or for many classes every n-th (the cells stay one per class)
        names = [d.class_names[t] for t in ticks]
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        rotate = sum(len(n) + 1 for n in names) > 30
        ax.set_xticklabels(names, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                           fontsize="small" if k <= 10 else "x-small")
        ax.set_yticklabels(names, fontsize="small" if k <= 10 else "x-small")
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        ax.tick_params(length=0)
        # Thin white lines between cells; the title line below it carries the epoch's accuracy.
        ax.set_xticks(np.arange(-0.5, k, 1.0), minor=True)
        ax.set_yticks(np.arange(-0.5, k, 1.0), minor=True)
        # (none over 20 classes: they would cover more than the cells themselves)
        ax.grid(which="minor", color="white", linewidth=0.8 if k <= MAX_ANNOTATED_CLASSES else 0.0)
        ax.tick_params(which="minor", length=0)
        self.title_artist = ax.set_title(self._title(0))
        self.texts: list[Artist] = []
        if self.annotate:
            size = "small" if k <= 6 else "x-small" if k <= 12 else 6
            for t in range(k):
                for p in range(k):
                    self.texts.append(ax.text(p, t, "", ha="center", va="center", fontsize=size))

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        i = d.index(epoch)
        values = compute.row_normalized(d.counts[i]) if d.normalize else d.counts[i].astype(np.float64)
        self.image.set_data(values)
        self.title_artist.set_text(self._title(i))
        changed: list[Artist] = [self.image, self.title_artist]
        if self.texts:
            k = d.n_classes
            dark = values > 0.55 * d.vmax
            for t in range(k):
                for p in range(k):
                    text = self.texts[t * k + p]
                    value = cell_text(values[t, p], d.normalize)
                    text.set_text(value.rstrip("%") if self.bare_percent else value)
                    text.set_color("white" if dark[t, p] else "0.15")
            changed.extend(self.texts)
        return changed
