"""Histograms of the predicted probability of the positive class, one axes per class.

For each class (negative cases on one axes, positive cases on the other) the
visual shows how the model's predicted probability of the *positive* class is
distributed over that class's samples.  Correctly classified samples are drawn
in the class colour, misclassified ones in red stacked on top, and a dashed
line marks the decision threshold.

Multiclass models (softmax outputs, integer or one-hot targets) get the same
two axes with the roles made general (:class:`MulticlassProbabilityHistogram`):
the left axes shows, for each class, the predicted probability *of that
class* for its own members (ideally near 1), the right axes the probability
of that class for the samples of the other classes (ideally near 0); the bars
of the classes are stacked in the class colours and misclassified cases are
red on top.  Regressions are refused with the visuals to use instead.

Classifiers trained with a hinge loss (``hinge``/``squared_hinge`` with -1/1
or 0/1 targets, ``categorical_hinge`` with one-hot targets) output raw scores,
not probabilities: the same axes then show the raw output (binary: positive
above the threshold 0; multiclass: the class of the highest score) on a
range fixed over every epoch, and the axis labels say so.
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
    CLASS_COLORS,
    MAX_LEGEND_CLASSES,
    MISCLASSIFIED_COLOR,
    OTHER_VISUALS,
    check_class_names,
    check_probabilities,
    class_colorbar,
    class_colors,
    model_task,
    not_a_classifier,
    resolve_class_names,
)

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["MulticlassProbabilityHistogram", "MulticlassProbabilityHistogramData", "ProbabilityHistogram",
           "ProbabilityHistogramData"]

CLASS_TITLES = ("Negative Cases", "Positive Cases")
THRESHOLD_COLOR = "#333333"
#: The y axis reaches this factor times the tallest bar of any epoch.
HEADROOM = 1.12


@dataclass(frozen=True)
class ProbabilityHistogramData:
    """Everything the visual shows, for every epoch (leading axis of the count arrays).

    Attributes
    ----------
    epochs : ndarray of int, shape (E,)
    edges : ndarray, shape (bins + 1,)
        Bin edges over [0, 1].
    correct : ndarray of int, shape (E, 2, bins)
        Counts of correctly classified samples, per epoch, class (0 negative,
        1 positive) and bin.
    misclassified : ndarray of int, shape (E, 2, bins)
        Counts of misclassified samples, same layout.
    left_out : ndarray of int, shape (E, 2)
        Samples per class whose probability is not finite (NaN/inf: a
        diverged run); they are in no bin.
    class_sizes : ndarray of int, shape (2,)
    threshold : float
        A sample is predicted positive when its probability is above it.
    xlabel : str
        What the bins are over: "Probability", or a hinge model's raw output.
    """

    epochs: np.ndarray
    edges: np.ndarray
    correct: np.ndarray
    misclassified: np.ndarray
    left_out: np.ndarray
    class_sizes: np.ndarray
    threshold: float
    xlabel: str = "Probability"

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", float(self.threshold))
        n_epochs, n_bins = len(self.epochs), len(self.edges) - 1
        for name in ("correct", "misclassified"):
            shape = getattr(self, name).shape
            if shape != (n_epochs, 2, n_bins):
                raise ValueError(f"{name} has shape {shape}; expected {(n_epochs, 2, n_bins)}.")
        if self.left_out.shape != (n_epochs, 2):
            raise ValueError(f"left_out has shape {self.left_out.shape}; expected {(n_epochs, 2)}.")
        for name in ("epochs", "edges", "correct", "misclassified", "left_out", "class_sizes"):
            array = np.array(getattr(self, name))  # a private, read-only copy
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @property
    def totals(self) -> np.ndarray:
        """Bar heights (correct + misclassified), shape (E, 2, bins)."""
        return self.correct + self.misclassified

    @property
    def max_count(self) -> int:
        """The tallest bar over every epoch and both classes."""
        return int(self.totals.max()) if self.totals.size else 0

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


#: The x label of a hinge binary model's histograms.
SCORE_XLABEL = "Output (raw score of a hinge loss; threshold {threshold:g})"


def _check_threshold(threshold: float | None, task: compute.Task | None = None) -> float | None:
    """``threshold`` checked: its type first (``task`` None), its range once the task is known (None is then
    the task's default)."""
    scores = task is not None and task.scores
    if threshold is None:
        return None if task is None else task.threshold
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise TypeError(f"threshold={threshold!r} must be a number between 0 and 1 (any finite number for the raw "
                        "score of a hinge loss), or None.")
    threshold = float(threshold)
    if scores and not np.isfinite(threshold):
        raise ValueError(f"threshold={threshold} must be a finite number (this model's outputs are the raw scores "
                         "of a hinge loss; its default is 0).")
    if task is not None and not scores and not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold={threshold} must be strictly between 0 and 1.")
    return threshold


def score_edges(replay: Replay, epochs: np.ndarray, bins: int, values, *, symmetric: bool = False) -> np.ndarray:
    """Bin edges fixed over every epoch for a hinge model's raw scores: ``bins + 1`` edges covering every finite
    value that ``values(predictions)`` gives at ``epochs``, and at least the hinge margins -1 and 1; ``symmetric``
    about 0 (one output: its threshold 0 on a bin edge when ``bins`` is even)."""
    low, high = -1.0, 1.0
    for epoch in epochs:
        v = np.asarray(values(np.asarray(replay.predictions_at(int(epoch)))), dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            low, high = min(low, float(v.min())), max(high, float(v.max()))
    if symmetric:
        low, high = -max(-low, high), max(-low, high)
    return np.linspace(low, high, bins + 1)


def binary_labels(targets: np.ndarray) -> np.ndarray:
    """Class (0 or 1) of each sample from binary targets (a 0/1 or -1/1 column, or two one-hot columns).

    Raises
    ------
    ValueError
        The targets are not those of a binary classification.
    """
    targets = np.asarray(targets)
    if targets.ndim > 2 or (targets.ndim == 2 and targets.shape[1] > 2):
        found = (f"one-hot targets of {targets.shape[1]} classes" if targets.ndim == 2
                 else f"targets of shape {targets.shape}")
        raise ValueError(
            f"the probability histogram supports binary classification only, but the recording has {found}; "
            f"{OTHER_VISUALS}."
        )
    if targets.dtype.kind not in "biuf":
        raise ValueError(f"targets of dtype {targets.dtype} are not class labels; {OTHER_VISUALS}.")
    values = np.unique(targets)
    unexpected = values[~np.isin(values, (-1, 1) if np.all(np.isin(values, (-1, 1))) else (0, 1))]
    if unexpected.size:
        shown = ", ".join(f"{v:g}" for v in unexpected[:5]) + (", ..." if unexpected.size > 5 else "")
        raise ValueError(
            f"the probability histogram needs binary targets (0 or 1; -1 or 1 with a hinge loss), but the targets "
            f"hold other values "
            f"({shown}); {OTHER_VISUALS}."
        )
    if targets.ndim == 2 and targets.shape[1] == 2 and not np.all(targets.sum(axis=1) == 1):
        raise ValueError(
            "the targets have two columns but are not one-hot (each row must hold exactly one 1); "
            f"{OTHER_VISUALS}."
        )
    return compute.class_labels(targets)


def _check_binary_outputs(predictions: np.ndarray) -> None:
    shape = np.shape(predictions)
    outputs = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    if len(shape) > 2 or outputs > 2:
        raise ValueError(
            f"the probability histogram supports binary classification only, but this model has {outputs} "
            f"outputs per sample (predictions of shape {tuple(shape)}); {OTHER_VISUALS}."
        )


class ProbabilityHistogram(Plotter):
    """Histograms of the predicted probability of the positive class, per class.

    Build it with :meth:`deepreplay.replay.Replay.build_probability_histogram`.
    The left axes (``ax_negative``) holds the negative cases, the right one
    (``ax_positive``) the positive cases.  Bars of correctly classified
    samples have the class colour; misclassified samples are stacked on top
    in red.  Both axes share one fixed count scale, set before animating.

    Parameters
    ----------
    ax_negative, ax_positive : Axes
        Two different axes of one figure.
    data : ProbabilityHistogramData
    title : str or (str, str), optional
        A pair replaces the two axes titles; a single string prefixes
        "Negative Cases" / "Positive Cases".
    """

    def __init__(self, ax_negative: Axes, ax_positive: Axes, data: ProbabilityHistogramData, *,
                 title: str | tuple[str, str] | None = None) -> None:
        super().__init__([ax_negative, ax_positive], data.epochs)
        if ax_negative is ax_positive:
            raise ValueError("ax_negative and ax_positive are the same axes; give two axes, e.g. "
                             "fig, (ax_neg, ax_pos) = plt.subplots(1, 2).")
        if ax_negative.figure is not ax_positive.figure:
            raise ValueError("ax_negative and ax_positive are on different figures; give two axes of one figure.")
        self.ax_negative = ax_negative
        self.ax_positive = ax_positive
        self.data = data
        self.titles = self._titles(title)

    @staticmethod
    def _titles(title: str | tuple[str, str] | None) -> tuple[str, str]:
        if title is None:
            return CLASS_TITLES
        if isinstance(title, str):
            return (f"{title} - {CLASS_TITLES[0]}", f"{title} - {CLASS_TITLES[1]}")
        if isinstance(title, (tuple, list)) and len(title) == 2 and all(isinstance(t, str) for t in title):
            return (title[0], title[1])
        raise TypeError(f"title={title!r} must be a string or a pair of strings (negative, positive).")

    @classmethod
    def from_replay(cls, replay: Replay, ax_negative: Axes, ax_positive: Axes, *, bins: int = 20,
                    threshold: float | None = None, class_names: Sequence[str] | None = None,
                    epoch_start: int | None = None, epoch_end: int | None = None,
                    title: str | tuple[str, str] | None = None
                    ) -> ProbabilityHistogram | MulticlassProbabilityHistogram:
        """Compute the histograms of every epoch in range and attach them to the two axes.

        Parameters
        ----------
        replay : Replay
        ax_negative, ax_positive : Axes
            Axes for the negative and the positive cases; for a multiclass
            model, for the probability of each sample's own class and of the
            classes it is not in (see :class:`MulticlassProbabilityHistogram`).
        bins : int, default 20
            Number of equal bins over [0, 1] (for a hinge model's raw scores,
            over their range in every epoch, at least [-1, 1]).
        threshold : float, optional
            Binary models: probability above which a sample is predicted
            positive (as Keras' binary accuracy does), default 0.5; for a
            hinge loss's raw score, default 0; drawn as a dashed line.
            Multiclass models predict their most probable class and take no
            threshold.
        class_names : sequence of str, optional
            One name per class, for the titles (binary) or the legend (multiclass).
        epoch_start, epoch_end : int, optional
            Inclusive epoch range (``None``: first / last recorded).
        title : str or (str, str), optional
            See :class:`ProbabilityHistogram`.

        Returns
        -------
        ProbabilityHistogram or MulticlassProbabilityHistogram
            The second for a model with more than two classes.

        Raises
        ------
        ValueError
            Not a classification (a regression: the message names the
            visuals to use instead), outputs that are not probabilities (nor
            the raw scores of a hinge loss),
            predictions not recorded, bad ``bins``/``threshold`` or an empty
            epoch range.
        """
        bins = compute.check_resolution("bins", bins, minimum=1)
        threshold = _check_threshold(threshold)
        cls._titles(title)
        class_names = check_class_names(class_names)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        if not replay.reader.has("predictions"):
            raise ValueError("predictions were not recorded, so the probability histogram cannot be drawn; "
                             "record them with ReplayData(record=None) or include 'predictions' in record=.")
        task, from_logits = model_task(replay)
        if not task.is_classification:
            raise ValueError(not_a_classifier("the probability histogram", task))
        names = resolve_class_names(class_names, task)
        if task.kind == "multiclass":
            if threshold is not None:
                raise ValueError(f"threshold={threshold} applies to binary models; this one has {task.n_classes} "
                                 "classes and predicts its most probable class. Leave threshold out.")
            return MulticlassProbabilityHistogram.from_replay(
                replay, ax_negative, ax_positive, task=task, from_logits=from_logits, class_names=names,
                bins=bins, epochs=epochs, title=title)
        if class_names is not None and title is None:
            title = (f"{names[0]} cases", f"{names[1]} cases")
        threshold = _check_threshold(threshold, task)
        labels = binary_labels(replay.targets)
        members = [labels == c for c in (0, 1)]
        if task.scores:
            edges = score_edges(replay, epochs, bins, compute.positive_score, symmetric=True)
        else:
            edges = np.linspace(0.0, 1.0, bins + 1)
        correct = np.zeros((len(epochs), 2, bins), dtype=np.int64)
        misclassified = np.zeros_like(correct)
        left_out = np.zeros((len(epochs), 2), dtype=np.int64)
        for i, epoch in enumerate(epochs):
            predictions = np.asarray(replay.predictions_at(int(epoch)))
            _check_binary_outputs(predictions)
            if task.scores:
                p = compute.positive_score(predictions)
            else:
                p = compute.class_probabilities(predictions, 2, from_logits=from_logits)[:, 1]
                check_probabilities(p, int(epoch))
            finite = np.isfinite(p)
            predicted_positive = p > threshold
            for c, member in enumerate(members):
                wrong = predicted_positive != bool(c)
                correct[i, c] = compute.histogram_counts(p[member & finite & ~wrong], edges)
                misclassified[i, c] = compute.histogram_counts(p[member & finite & wrong], edges)
                left_out[i, c] = np.count_nonzero(member & ~finite)
        data = ProbabilityHistogramData(
            epochs=np.asarray(epochs),
            edges=edges,
            correct=correct,
            misclassified=misclassified,
            left_out=left_out,
            class_sizes=np.array([np.count_nonzero(m) for m in members], dtype=np.int64),
            threshold=threshold,
            xlabel=SCORE_XLABEL.format(threshold=threshold) if task.scores else "Probability",
        )
        return cls(ax_negative, ax_positive, data, title=title)

    def _create_artists(self) -> None:
        d = self.data
        lefts, widths = d.edges[:-1], np.diff(d.edges)
        zeros = np.zeros(len(lefts))
        # Headroom above the tallest bar of any epoch keeps the note clear of the bars.
        top = max(1, d.max_count) * HEADROOM
        self.correct_bars, self.misclassified_bars, self.notes = [], [], []
        for c, ax in enumerate(self.axes):
            self.correct_bars.append(ax.bar(lefts, zeros, widths, align="edge", color=CLASS_COLORS[c],
                                            edgecolor="white", linewidth=0.5, label="correct"))
            self.misclassified_bars.append(ax.bar(lefts, zeros, widths, bottom=zeros, align="edge",
                                                  color=MISCLASSIFIED_COLOR, edgecolor="white", linewidth=0.5,
                                                  label="misclassified"))
            ax.axvline(d.threshold, color=THRESHOLD_COLOR, linestyle="--", linewidth=1,
                       label=f"threshold {d.threshold:g}")
            # The note sits on the side away from the class's own correct cases.
            x, ha = (0.98, "right") if c == 0 else (0.02, "left")
            self.notes.append(ax.text(x, 0.98, "", transform=ax.transAxes, ha=ha, va="top", zorder=5,
                                      fontsize="small", color=MISCLASSIFIED_COLOR,
                                      bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1}))
            ax.set_xlim(d.edges[0], d.edges[-1])
            ax.set_ylim(0.0, top)
            ax.set_title(self.titles[c])
            ax.set_xlabel(d.xlabel)
            ax.set_ylabel("Count")

    def _note(self, i: int, c: int) -> str:
        d = self.data
        lines = [f"misclassified: {int(d.misclassified[i, c].sum())} of {int(d.class_sizes[c])}"]
        if d.left_out[i, c]:
            lines.append(f"{int(d.left_out[i, c])} not finite (left out)")
        return "\n".join(lines)

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        i = d.index(epoch)
        changed: list[Artist] = []
        for c in (0, 1):
            for rect, height in zip(self.correct_bars[c], d.correct[i, c]):
                rect.set_height(height)
            for rect, bottom, height in zip(self.misclassified_bars[c], d.correct[i, c], d.misclassified[i, c]):
                rect.set_y(bottom)
                rect.set_height(height)
            self.notes[c].set_text(self._note(i, c))
            changed.extend(self.correct_bars[c].patches)
            changed.extend(self.misclassified_bars[c].patches)
            changed.append(self.notes[c])
        return changed


# -- more than two classes ------------------------------------------------------------------------------
MULTICLASS_TITLES = ("Own class", "Other classes")
MULTICLASS_XLABELS = ("Probability of the sample's class", "Probability of a class it is not in")
#: The x labels of a categorical-hinge model's histograms (raw scores; the highest wins).
SCORE_XLABELS = ("Score of the sample's class (raw output)", "Score of a class it is not in (raw output)")


@dataclass(frozen=True)
class MulticlassProbabilityHistogramData:
    """Everything the multiclass visual shows, for every epoch (leading axis).

    Attributes
    ----------
    epochs : ndarray of int, shape (E,)
    edges : ndarray, shape (bins + 1,)
        Bin edges over [0, 1].
    own, own_misclassified : ndarray of int, shape (E, k, bins)
        Per class ``c``: the predicted probability of ``c`` for the samples of
        class ``c``, correctly classified (their most probable class is
        ``c``) or not.
    other, other_misclassified : ndarray of int, shape (E, k, bins)
        Per class ``c``: the predicted probability of ``c`` for the samples of
        the other classes, not predicted as ``c`` or wrongly predicted as ``c``.
    left_out : ndarray of int, shape (E, k)
        Samples per class whose probabilities are not finite (in no bin).
    class_sizes : ndarray of int, shape (k,)
    class_names : tuple of str
    xlabels : (str, str)
        What the bins of the two axes are over: probabilities, or a
        categorical-hinge model's raw scores.
    """

    epochs: np.ndarray
    edges: np.ndarray
    own: np.ndarray
    own_misclassified: np.ndarray
    other: np.ndarray
    other_misclassified: np.ndarray
    left_out: np.ndarray
    class_sizes: np.ndarray
    class_names: tuple[str, ...]
    xlabels: tuple[str, str] = MULTICLASS_XLABELS

    def __post_init__(self) -> None:
        k = len(self.class_sizes)
        expected = (len(self.epochs), k, len(self.edges) - 1)
        for name in ("own", "own_misclassified", "other", "other_misclassified"):
            shape = getattr(self, name).shape
            if shape != expected:
                raise ValueError(f"{name} has shape {shape}; expected {expected}.")
        if self.left_out.shape != expected[:2]:
            raise ValueError(f"left_out has shape {self.left_out.shape}; expected {expected[:2]}.")
        if len(self.class_names) != k:
            raise ValueError(f"class_names has {len(self.class_names)} names for {k} classes.")
        for name in ("epochs", "edges", "own", "own_misclassified", "other", "other_misclassified", "left_out",
                     "class_sizes"):
            array = np.array(getattr(self, name))  # a private, read-only copy
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @property
    def n_classes(self) -> int:
        """Number of classes ``k``."""
        return len(self.class_sizes)

    def stacks(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """``(per_class, misclassified)`` bar heights of one axes: shapes (E, k, bins) and (E, bins).

        ``side`` is ``'own'`` or ``'other'``; the misclassified cases of every
        class are summed into one red stack.
        """
        if side not in ("own", "other"):
            raise ValueError(f"side={side!r} must be 'own' or 'other'.")
        return getattr(self, side), getattr(self, f"{side}_misclassified").sum(axis=1)

    def max_count(self, side: str) -> int:
        """The tallest stacked bar of one axes over every epoch."""
        per_class, wrong = self.stacks(side)
        totals = per_class.sum(axis=1) + wrong
        return int(totals.max()) if totals.size else 0

    @property
    def misclassified(self) -> np.ndarray:
        """Misclassified samples per epoch, shape (E,)."""
        return self.own_misclassified.sum(axis=(1, 2))

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


class MulticlassProbabilityHistogram(Plotter):
    """Predicted probabilities of a multiclass model, on two axes.

    Built by :meth:`ProbabilityHistogram.from_replay` (``replay.build_probability_histogram``)
    for models with more than two classes.  The first axes ("Own class")
    shows, for every class, the predicted probability of that class for its
    own samples (ideally near 1); the second ("Other classes") the predicted
    probability of that class for the samples of the other classes (ideally
    near 0).  Bars are stacked in the class colours; misclassified cases are
    red on top (on the second axes: samples wrongly predicted as that class).
    Each axes keeps one count scale for every epoch.

    Parameters
    ----------
    ax_own, ax_other : Axes
        Two different axes of one figure.
    data : MulticlassProbabilityHistogramData
    title : str or (str, str), optional
        A pair replaces the two axes titles; a single string prefixes them.
    """

    def __init__(self, ax_own: Axes, ax_other: Axes, data: MulticlassProbabilityHistogramData, *,
                 title: str | tuple[str, str] | None = None) -> None:
        super().__init__([ax_own, ax_other], data.epochs)
        if ax_own is ax_other:
            raise ValueError("the two axes are the same; give two axes, e.g. fig, (ax_own, ax_other) = "
                             "plt.subplots(1, 2).")
        if ax_own.figure is not ax_other.figure:
            raise ValueError("the two axes are on different figures; give two axes of one figure.")
        self.ax_own = ax_own
        self.ax_other = ax_other
        self.data = data
        self.titles = self._titles(title)

    @staticmethod
    def _titles(title: str | tuple[str, str] | None) -> tuple[str, str]:
        if title is None:
            return MULTICLASS_TITLES
        if isinstance(title, str):
            return (f"{title} - {MULTICLASS_TITLES[0]}", f"{title} - {MULTICLASS_TITLES[1]}")
        if isinstance(title, (tuple, list)) and len(title) == 2 and all(isinstance(t, str) for t in title):
            return (title[0], title[1])
        raise TypeError(f"title={title!r} must be a string or a pair of strings (own class, other classes).")

    @classmethod
    def from_replay(cls, replay: Replay, ax_own: Axes, ax_other: Axes, *, task: compute.Task, from_logits: bool,
                    class_names: Sequence[str], bins: int, epochs: np.ndarray,
                    title: str | tuple[str, str] | None = None) -> MulticlassProbabilityHistogram:
        """Compute the histograms of ``epochs`` (called by :meth:`ProbabilityHistogram.from_replay`).

        Parameters
        ----------
        replay : Replay
        ax_own, ax_other : Axes
        task : compute.Task
            A multiclass task.
        from_logits : bool
            The outputs are logits (softmax is applied).
        class_names : sequence of str
            One per class.
        bins : int
        epochs : array of int
        title : str or (str, str), optional
        """
        cls._titles(title)
        k = task.n_classes
        labels = compute.class_labels(replay.targets).astype(np.int64)
        if task.scores:  # raw scores: the bins cover their range (the highest score is the class)
            edges = score_edges(replay, epochs, bins, lambda outputs: outputs)
        else:
            edges = np.linspace(0.0, 1.0, bins + 1)
        shape = (len(epochs), k, bins)
        arrays = {name: np.zeros(shape, dtype=np.int64)
                  for name in ("own", "own_misclassified", "other", "other_misclassified")}
        left_out = np.zeros((len(epochs), k), dtype=np.int64)
        for i, epoch in enumerate(epochs):
            predictions = np.asarray(replay.predictions_at(int(epoch)))
            if task.scores:
                probabilities = predictions.reshape(len(predictions), -1).astype(np.float64)
            else:
                probabilities = compute.class_probabilities(predictions, k, from_logits=from_logits)
                check_probabilities(probabilities, int(epoch))
            counts = compute.multiclass_histograms(probabilities, labels, edges)
            for name, array in arrays.items():
                array[i] = counts[name]
            left_out[i] = counts["left_out"]
        data = MulticlassProbabilityHistogramData(
            epochs=np.asarray(epochs), edges=edges, left_out=left_out,
            class_sizes=np.bincount(labels, minlength=k).astype(np.int64), class_names=tuple(class_names),
            xlabels=SCORE_XLABELS if task.scores else MULTICLASS_XLABELS, **arrays)
        return cls(ax_own, ax_other, data, title=title)

    def _create_artists(self) -> None:
        d = self.data
        lefts, widths = d.edges[:-1], np.diff(d.edges)
        zeros = np.zeros(len(lefts))
        colors = class_colors(d.n_classes)
        self.class_bars: list[list] = []
        self.misclassified_bars = []
        for j, (ax, side) in enumerate(zip(self.axes, ("own", "other"))):
            containers = [ax.bar(lefts, zeros, widths, align="edge", color=colors[c], edgecolor="white",
                                 linewidth=0.3, label=d.class_names[c]) for c in range(d.n_classes)]
            self.class_bars.append(containers)
            self.misclassified_bars.append(ax.bar(lefts, zeros, widths, align="edge", color=MISCLASSIFIED_COLOR,
                                                  edgecolor="white", linewidth=0.3, label="misclassified"))
            ax.set_xlim(d.edges[0], d.edges[-1])
            ax.set_ylim(0.0, max(1, d.max_count(side)) * HEADROOM)
            ax.set_title(self.titles[j])
            ax.set_xlabel(d.xlabels[j])
            ax.set_ylabel("Count")
        # Own-class bars gather near 1 and the others near 0: the legend and the
        # note go where the bars should not be.
        if d.n_classes > MAX_LEGEND_CLASSES:  # the classes on a colour bar, the legend says only what red is
            class_colorbar(self.ax_other, d.class_names, d.n_classes)
            self.ax_other.legend(handles=[self.misclassified_bars[1]], loc="upper right", fontsize="small",
                                 framealpha=0.8, handlelength=1.2, borderpad=0.3)
        else:
            self.ax_other.legend(loc="upper right", fontsize="small", framealpha=0.8, handlelength=1.2,
                                 borderpad=0.3, labelspacing=0.3)
        self.note = self.ax_own.text(0.02, 0.98, "", transform=self.ax_own.transAxes, ha="left", va="top",
                                     zorder=5, fontsize="small", color=MISCLASSIFIED_COLOR,
                                     bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1})

    def _note(self, i: int) -> str:
        d = self.data
        lines = [f"misclassified: {int(d.misclassified[i])} of {int(d.class_sizes.sum())}"]
        if d.left_out[i].sum():
            lines.append(f"{int(d.left_out[i].sum())} not finite (left out)")
        return "\n".join(lines)

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        i = d.index(epoch)
        changed: list[Artist] = []
        for j, side in enumerate(("own", "other")):
            per_class, wrong = d.stacks(side)
            bottom = np.zeros(len(d.edges) - 1)
            for c, container in enumerate(self.class_bars[j]):
                for rect, y, height in zip(container, bottom, per_class[i, c]):
                    rect.set_y(y)
                    rect.set_height(height)
                bottom = bottom + per_class[i, c]
                changed.extend(container.patches)
            for rect, y, height in zip(self.misclassified_bars[j], bottom, wrong[i]):
                rect.set_y(y)
                rect.set_height(height)
            changed.extend(self.misclassified_bars[j].patches)
        self.note.set_text(self._note(i))
        changed.append(self.note)
        return changed
