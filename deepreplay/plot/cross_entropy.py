"""The cross-entropy view: the loss of a classifier, sample by sample.

From "Understanding binary cross-entropy / log loss: a visual explanation":
each sample contributes the predicted probability of its *true* class, ``p``
(Figure 8 of the post: bars side by side, sorted), and the loss penalises it
with ``-log(p)`` (Figure 10: the matching bars, whose mean is the loss).

One axes holds both: above the zero line the bars of ``p`` (0 to 1), below
it the matching bars of ``-log(p)``, in the class colour of each sample,
sorted by ``p`` so the worst predictions sit on the left; a dashed line marks
the mean of the ``-log(p)`` bars, printed next to the model's own loss.  The
order is recomputed at every epoch, the scales are fixed over the whole
range.  It works for binary (one sigmoid unit or a 2-unit softmax) and
multiclass models; ``p`` is clipped to ``[1e-7, 1 - 1e-7]`` as Keras clips
it, so for a cross-entropy loss the mean equals the recorded loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba_array
from matplotlib.patches import Patch
from matplotlib.ticker import FixedFormatter, FixedLocator, MaxNLocator

from .. import compute
from .base import Plotter
from .common import (
    MAX_LEGEND_CLASSES,
    check_axes,
    check_class_names,
    check_probabilities,
    check_title,
    class_colorbar,
    class_colors,
    model_task,
    not_a_classifier,
    resolve_class_names,
)
from .loss_and_metric import LOSS_COLOR

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["CrossEntropy", "CrossEntropyData"]

#: Space above the tallest bar (p = 1) and below the deepest one, as a fraction of each half.
HEADROOM = 1.1
ZERO_LINE_COLOR = "0.2"
#: With fewer samples than this the bars get a small gap; more are drawn edge to edge.
GAP_BELOW = 80


@dataclass(frozen=True)
class CrossEntropyData:
    """Everything the cross-entropy view shows, for every epoch (leading axis).

    Attributes
    ----------
    epochs : ndarray of int, shape (E,)
    p_true : ndarray, shape (E, n)
        Predicted probability of each sample's true class, sorted ascending
        at every epoch.
    terms : ndarray, shape (E, n)
        ``-log(p_true)`` (``p`` clipped to ``[epsilon, 1 - epsilon]``), in the same order.
    classes : ndarray of int, shape (E, n)
        True class of the sample at each position.
    order : ndarray of int, shape (E, n)
        Index of the recorded sample at each position.
    mean : ndarray, shape (E,)
        Mean of ``terms`` over the finite ones: the cross-entropy.
    loss : ndarray, shape (E,)
        The model's loss on the recorded samples (mean of the recorded
        per-sample losses; NaN when not recorded).
    loss_name : str
    is_cross_entropy : bool
        The model's loss is a cross-entropy, so ``mean`` equals ``loss``.
    n_classes : int
    class_names : tuple of str
    term_max : float
        The scale of the lower half: ``-log(p)`` at its bottom.  It covers
        every epoch's 98th percentile of ``-log(p)`` (and at least ``log 2``,
        the loss of an undecided binary model), so a handful of extreme
        samples do not flatten the others; deeper bars are cut at the bottom
        and counted in ``clipped``.
    clipped : ndarray of int, shape (E,)
        Bars deeper than ``term_max`` at each epoch.
    epsilon : float
    """

    epochs: np.ndarray
    p_true: np.ndarray
    terms: np.ndarray
    classes: np.ndarray
    order: np.ndarray
    mean: np.ndarray
    loss: np.ndarray
    loss_name: str
    is_cross_entropy: bool
    n_classes: int
    class_names: tuple[str, ...]
    term_max: float
    clipped: np.ndarray
    epsilon: float = compute.CROSS_ENTROPY_EPSILON

    def __post_init__(self) -> None:
        expected = (len(self.epochs), self.p_true.shape[1] if self.p_true.ndim == 2 else -1)
        for name in ("p_true", "terms", "classes", "order"):
            if getattr(self, name).shape != expected:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}; expected {expected}.")
        for name in ("mean", "loss", "clipped"):
            if getattr(self, name).shape != expected[:1]:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}; expected {expected[:1]}.")
        for name in ("epochs", "p_true", "terms", "classes", "order", "mean", "loss", "clipped"):
            array = np.array(getattr(self, name))  # a private, read-only copy
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @property
    def n_samples(self) -> int:
        """Number of recorded samples (bars per half)."""
        return int(self.p_true.shape[1])

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


def _is_cross_entropy(loss_name: str) -> bool:
    name = loss_name.lower().replace("_", "").replace(" ", "")
    return "crossentropy" in name or name in ("ce", "logloss")


def _term_scale(terms: np.ndarray, *, percentile: float = 98.0) -> float:
    """``-log(p)`` at the bottom of the lower half: the largest per-epoch percentile, at least log 2.

    Never more than the deepest bar, so when nothing is extreme every bar fits.
    """
    scale = np.log(2.0)
    deepest = 0.0
    for row in np.atleast_2d(terms):
        finite = row[np.isfinite(row)]
        if finite.size:
            scale = max(scale, float(np.percentile(finite, percentile)))
            deepest = max(deepest, float(finite.max()))
    return float(min(scale, deepest)) if deepest > np.log(2.0) else float(np.log(2.0))


def _bar_verts(heights: np.ndarray, gap: float) -> np.ndarray:
    """Rectangles ``[j + gap/2, j + 1 - gap/2] x [0, heights[j]]``, shape (n, 4, 2)."""
    n = len(heights)
    left = np.arange(n) + gap / 2
    right = left + 1 - gap
    zeros = np.zeros(n)
    h = np.where(np.isfinite(heights), heights, 0.0)
    return np.stack([np.column_stack([left, zeros]), np.column_stack([left, h]),
                     np.column_stack([right, h]), np.column_stack([right, zeros])], axis=1)


class CrossEntropy(Plotter):
    """Per-sample probability of the true class and its ``-log``, sorted, with their mean: the loss.

    Build it with :meth:`deepreplay.replay.Replay.build_cross_entropy`.

    Parameters
    ----------
    ax : Axes
    data : CrossEntropyData
    title : str, optional
    """

    def __init__(self, ax: Axes, data: CrossEntropyData, *, title: str | None = None) -> None:
        super().__init__([ax], data.epochs)
        check_title(title)
        self.ax = ax
        self.data = data
        self.title = "Cross-Entropy, sample by sample" if title is None else title

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, *, class_names: Sequence[str] | None = None,
                    epoch_start: int | None = None, epoch_end: int | None = None,
                    title: str | None = None) -> CrossEntropy:
        """Compute the sorted probabilities and their ``-log`` for every epoch and attach them to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
            Drawn on, never cleared.
        class_names : sequence of str, optional
            Legend names, one per class.
        epoch_start, epoch_end : int, optional
            Inclusive epoch range (``None``: first / last recorded).
        title : str, optional

        Raises
        ------
        ValueError
            Not a classification (a regression: the message names the
            visuals to use instead), outputs that are not probabilities,
            predictions not recorded, an empty epoch range.
        """
        check_axes(ax)
        check_title(title)
        class_names = check_class_names(class_names)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        if not replay.reader.has("predictions"):
            raise ValueError("predictions were not recorded, so the cross-entropy view cannot be drawn; "
                             "record them with ReplayData(record=None) or include 'predictions' in record=.")
        task, from_logits = model_task(replay)
        if not task.is_classification:
            raise ValueError(not_a_classifier("the cross-entropy view", task))
        if task.scores:
            raise ValueError(f"the cross-entropy view needs class probabilities, but this model is {task.describe()} "
                             f"trained with a hinge loss ({replay.loss_name!r}): its outputs are raw scores. "
                             "replay.build_probability_histogram(ax_negative, ax_positive) shows those scores, "
                             "replay.build_loss_histogram(ax) the per-sample hinge losses.")
        names = resolve_class_names(class_names, task)
        labels = compute.class_labels(replay.targets).astype(np.int64)
        n, n_epochs = len(labels), len(epochs)
        p_sorted = np.empty((n_epochs, n))
        terms = np.empty((n_epochs, n))
        classes = np.empty((n_epochs, n), dtype=np.int64)
        order = np.empty((n_epochs, n), dtype=np.int64)
        mean = np.empty(n_epochs)
        loss = np.full(n_epochs, np.nan)
        has_losses = replay.reader.has("losses")
        for i, epoch in enumerate(epochs):
            probabilities = compute.class_probabilities(np.asarray(replay.predictions_at(int(epoch))),
                                                        task.n_classes, from_logits=from_logits)
            check_probabilities(probabilities, int(epoch), "the cross-entropy view")
            p = compute.true_class_probability(probabilities, labels)
            # NaN (a diverged model) sorts last and is drawn as no bar.
            order[i] = np.argsort(p, kind="stable")
            p_sorted[i] = p[order[i]]
            terms[i] = compute.cross_entropy_terms(p_sorted[i])
            classes[i] = labels[order[i]]
            finite = terms[i][np.isfinite(terms[i])]
            mean[i] = finite.mean() if finite.size else np.nan
            if has_losses:
                recorded = np.asarray(replay.losses_at(int(epoch)), dtype=np.float64)
                recorded = recorded[np.isfinite(recorded)]
                loss[i] = recorded.mean() if recorded.size else np.nan
        term_max = _term_scale(terms)
        clipped = np.count_nonzero(np.where(np.isfinite(terms), terms, 0.0) > term_max, axis=1)
        data = CrossEntropyData(
            epochs=np.asarray(epochs), p_true=p_sorted, terms=terms, classes=classes, order=order, mean=mean,
            loss=loss, loss_name=replay.loss_name, is_cross_entropy=_is_cross_entropy(replay.loss_name),
            n_classes=task.n_classes, class_names=names, term_max=term_max, clipped=clipped,
        )
        return cls(ax, data, title=title)

    # -- drawing -----------------------------------------------------------------------------------------
    def _scaled_terms(self, i: int) -> np.ndarray:
        """The ``-log(p)`` bars of epoch index ``i`` in axes units: 0 to -1 for 0 to ``term_max``;
        deeper bars end at the bottom of the axes."""
        return np.maximum(-self.data.terms[i] / self.data.term_max, -HEADROOM)

    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        n = d.n_samples
        self._gap = 0.15 if n < GAP_BELOW else 0.0
        self._rgba = to_rgba_array(class_colors(d.n_classes))
        colors = self._rgba[d.classes[0]]
        self.p_bars = PolyCollection(_bar_verts(d.p_true[0], self._gap), facecolors=colors, edgecolors="none",
                                     zorder=2)
        self.term_bars = PolyCollection(_bar_verts(self._scaled_terms(0), self._gap), facecolors=colors,
                                        edgecolors="none", alpha=0.75, zorder=2)
        ax.add_collection(self.p_bars, autolim=False)
        ax.add_collection(self.term_bars, autolim=False)
        ax.axhline(0.0, color=ZERO_LINE_COLOR, linewidth=0.8, zorder=3)
        (self.mean_line,) = ax.plot([0, n], [0, 0], color=LOSS_COLOR, linestyle="--", linewidth=1.5, zorder=4)
        # Below the zero line on the right, where the -log(p) bars of the best predictions are short.
        self.note = ax.text(0.98, 0.42, "", transform=ax.transAxes, ha="right", va="top", fontsize="small",
                            color=LOSS_COLOR, zorder=5,
                            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})
        ax.set_xlim(0, n)
        ax.set_ylim(-HEADROOM, HEADROOM)
        # One axis, two scales: p above zero, -log(p) below (scaled to the deepest bar of the range).
        upper = [0.25, 0.5, 0.75, 1.0]
        lower = [v for v in MaxNLocator(nbins=4).tick_values(0.0, d.term_max) if 0 < v <= d.term_max]
        ax.yaxis.set_major_locator(FixedLocator([-v / d.term_max for v in lower[::-1]] + [0.0] + upper))
        ax.yaxis.set_major_formatter(FixedFormatter([f"{v:g}" for v in lower[::-1]] + ["0"] +
                                                    [f"{v:g}" for v in upper]))
        ax.set_ylabel("-log(p)          p (true class)", fontsize="small")
        ax.set_xlabel("Samples, sorted by p (true class)")
        ax.set_title(self.title)
        handles = [Patch(color=color, label=name) for color, name in zip(self._rgba, d.class_names)]
        if len(handles) > MAX_LEGEND_CLASSES:  # many classes: their colours on a bar beside the axes
            class_colorbar(ax, d.class_names, len(handles))
            handles = []
        handles.append(ax.plot([], [], color=LOSS_COLOR, linestyle="--", label="mean -log(p)")[0])
        # Sorted worst first, the -log(p) bars are deep on the left only: the bottom, right of the
        # first fifth, is where bars are shortest.
        self.legend = ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.2, 0.01), fontsize="small",
                                framealpha=0.8, handlelength=1.2, borderpad=0.3, labelspacing=0.3)

    def _note(self, i: int) -> str:
        d = self.data
        text = f"mean -log(p) = {d.mean[i]:.4f}"
        if np.isfinite(d.loss[i]):
            relation = "" if d.is_cross_entropy else " (not a cross-entropy)"
            text += f"\nloss ({d.loss_name}) = {d.loss[i]:.4f}{relation}"
        if d.clipped[i]:
            text += f"\n{int(d.clipped[i])} bar(s) cut at -log(p) = {d.term_max * HEADROOM:.2g}"
        return text

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        i = d.index(epoch)
        colors = self._rgba[d.classes[i]]
        self.p_bars.set_verts(_bar_verts(d.p_true[i], self._gap))
        self.p_bars.set_facecolor(colors)
        self.term_bars.set_verts(_bar_verts(self._scaled_terms(i), self._gap))
        self.term_bars.set_facecolor(colors)
        level = -d.mean[i] / d.term_max if np.isfinite(d.mean[i]) else np.nan
        self.mean_line.set_ydata([level, level])
        self.note.set_text(self._note(i))
        return [self.p_bars, self.term_bars, self.mean_line, self.note]
