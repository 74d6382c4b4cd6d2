"""Pure-NumPy computations behind the visuals: epochs, grids, limits, bins, and
what a model does (binary, multiclass, regression), class probabilities,
cross-entropy terms, region colours and per-class histograms.

Nothing here imports Matplotlib or Keras, so it is tested without figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


def to_numpy(value: object) -> np.ndarray:
    """A backend tensor (or anything array-like) as a NumPy array."""
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        try:
            return np.asarray(value.numpy())
        except Exception:  # e.g. a torch tensor that requires grad
            pass
    if hasattr(value, "detach"):
        return np.asarray(value.detach().cpu().numpy())
    return np.asarray(value)


def describe_epochs(epochs: Sequence[int]) -> str:
    """Short text for a list of recorded epochs: '0..150' or '0, 3, 6'."""
    epochs = [int(e) for e in epochs]
    if not epochs:
        return "none"
    if len(epochs) > 2 and epochs == list(range(epochs[0], epochs[-1] + 1)):
        return f"{epochs[0]}..{epochs[-1]}"
    if len(epochs) > 8:
        return ", ".join(map(str, epochs[:4])) + ", ..., " + ", ".join(map(str, epochs[-2:]))
    return ", ".join(map(str, epochs))


#: ``epoch_end=-1``: the last recorded epoch (DeepReplay 0.1's default, accepted everywhere).
LAST_EPOCH = -1


def epoch_range(epochs: np.ndarray, epoch_start: int | None = None, epoch_end: int | None = None) -> np.ndarray:
    """Recorded epochs in ``[epoch_start, epoch_end]`` (inclusive; ``None`` means first/last).

    ``epoch_end=-1`` also means the last recorded epoch, as in DeepReplay 0.1.

    Raises
    ------
    ValueError
        Start after end, or no recorded epoch in the range.
    """
    epochs = np.asarray(epochs)
    if epochs.size == 0:
        raise ValueError("epochs is empty: there is no recorded epoch to select from; give the recorded epochs.")
    for name, value in (("epoch_start", epoch_start), ("epoch_end", epoch_end)):
        if value is not None and (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))):
            raise TypeError(f"{name}={value!r} must be an integer epoch or None.")
        if name == "epoch_end" and value is not None and value == LAST_EPOCH:
            epoch_end = None
            continue
        if value is not None and value < 0:
            if name == "epoch_end":
                raise ValueError(f"epoch_end={value} must be 0 or more (use None for the last recorded epoch, "
                                 "or -1 as in DeepReplay 0.1).")
            raise ValueError(f"epoch_start={value} must be 0 or more (use None for the first recorded epoch).")
    start = int(epochs[0]) if epoch_start is None else int(epoch_start)
    end = int(epochs[-1]) if epoch_end is None else int(epoch_end)
    if start > end:
        end_text = f"epoch_end={end}" if epoch_end is not None else f"the last recorded epoch ({end})"
        start_text = f"epoch_start={start}" if epoch_start is not None else f"the first recorded epoch ({start})"
        raise ValueError(
            f"{start_text} is after {end_text}; give epoch_start <= epoch_end "
            f"(recorded epochs: {describe_epochs(epochs)})."
        )
    selected = epochs[(epochs >= start) & (epochs <= end)]
    if selected.size == 0:
        raise ValueError(
            f"no recorded epoch between epoch_start={start} and epoch_end={end}; "
            f"recorded epochs: {describe_epochs(epochs)}."
        )
    return selected


def check_limits(name: str, limits: Sequence[float]) -> tuple[float, float]:
    """Validate a ``(low, high)`` pair."""
    try:
        if isinstance(limits, (str, bytes)):
            raise TypeError
        items = tuple(limits)
        if any(isinstance(v, (str, bytes, bool, np.bool_)) for v in items):
            raise TypeError
        low, high = (float(v) for v in items)
    except (TypeError, ValueError):
        raise TypeError(f"{name}={limits!r} must be a pair of numbers (low, high).") from None
    if not (np.isfinite(low) and np.isfinite(high)) or low >= high:
        raise ValueError(f"{name}={limits!r} must be two finite numbers with low < high.")
    return low, high


def check_resolution(name: str, value: int, *, minimum: int = 2) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be an integer.")
    if value < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum}.")
    return int(value)


def make_grid(xlim: Sequence[float], ylim: Sequence[float], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An ``n`` x ``n`` grid: ``(xx, yy, points)`` with ``points`` of shape (n*n, 2), float32."""
    xs = np.linspace(xlim[0], xlim[1], n, dtype=np.float32)
    ys = np.linspace(ylim[0], ylim[1], n, dtype=np.float32)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def grid_lines(xlim: Sequence[float], ylim: Sequence[float], *, n_lines: int = 11, n_points: int = 101) -> np.ndarray:
    """Points along a lattice of lines: shape (2 * n_lines, n_points, 2).

    The first ``n_lines`` are vertical (constant x), the rest horizontal.
    """
    xs = np.linspace(xlim[0], xlim[1], n_lines)
    ys = np.linspace(ylim[0], ylim[1], n_lines)
    tx = np.linspace(xlim[0], xlim[1], n_points)
    ty = np.linspace(ylim[0], ylim[1], n_points)
    vertical = np.stack([np.stack([np.full_like(ty, x), ty], axis=-1) for x in xs])
    horizontal = np.stack([np.stack([tx, np.full_like(tx, y)], axis=-1) for y in ys])
    return np.concatenate([vertical, horizontal]).astype(np.float32)


def padded_limits(values: Iterable[np.ndarray], *, pad: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(xlim, ylim)`` covering every finite 2-D point in ``values``, padded by a fraction."""
    lows, highs = [], []
    for array in values:
        array = np.asarray(array, dtype=np.float64).reshape(-1, 2)
        array = array[np.all(np.isfinite(array), axis=1)]
        if array.size:
            lows.append(array.min(axis=0))
            highs.append(array.max(axis=0))
    if not lows:
        return (-1.0, 1.0), (-1.0, 1.0)
    low, high = np.min(lows, axis=0), np.max(highs, axis=0)
    span = np.where(high - low > 1e-12, high - low, 1.0)
    low, high = low - pad * span, high + pad * span
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def class_labels(targets: np.ndarray) -> np.ndarray:
    """Integer class of each sample from binary (0/1, or a hinge loss's -1/1), integer or one-hot targets."""
    targets = np.asarray(targets)
    if targets.ndim == 2 and targets.shape[1] > 1:
        return np.argmax(targets, axis=1)
    column = targets.reshape(len(targets), -1)[:, 0]
    if column.size and np.all(np.isin(column, (-1, 1))):
        return (column > 0).astype(int)
    return np.rint(column).astype(int)


def positive_probability(predictions: np.ndarray) -> np.ndarray:
    """Probability of the positive class from a binary model's outputs, shape (n,)."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 2 and predictions.shape[1] == 2:
        return predictions[:, 1]
    return predictions.reshape(len(predictions), -1)[:, 0]


def histogram_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of finite ``values`` in the bins given by ``edges`` (values beyond are clipped in)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    return np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]


# -- sizes ------------------------------------------------------------------------------------------------
def human_bytes(n: float) -> str:
    """A byte count in the unit that keeps it readable: '812 B', '3.4 KiB', '1.2 MiB', '2.0 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


# -- classification or regression -----------------------------------------------------------------
TASK_KINDS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Task:
    """What a recorded model does, read from its targets and output width.

    Attributes
    ----------
    kind : {'binary', 'multiclass', 'regression'}
    n_classes : int or None
        2 for binary, k for k classes, None for regression.
    n_outputs : int
        Values the model outputs per sample.
    multilabel : bool
        Regression kind whose targets are 0/1 rows, one column per output,
        some rows with several 1s (or none): independent labels (sigmoid
        outputs with binary cross-entropy), not one class per sample, so the
        classification visuals do not apply to them.
    scores : bool
        Trained with a hinge loss: the outputs are raw scores, not
        probabilities (one output: positive above 0; several: the highest).
    """

    kind: str
    n_classes: int | None
    n_outputs: int
    multilabel: bool = False
    scores: bool = False

    @property
    def is_classification(self) -> bool:
        """True for binary and multiclass models."""
        return self.kind != "regression"

    @property
    def threshold(self) -> float:
        """A binary model's default threshold: 0.5 for a probability, 0 for a hinge loss's raw score."""
        return 0.0 if self.scores else 0.5

    def describe(self) -> str:
        """Short text for messages: 'a binary classifier', 'a 3-class classifier', 'a regression'."""
        if self.kind == "binary":
            return "a binary classifier"
        if self.kind == "multiclass":
            return f"a {self.n_classes}-class classifier"
        if self.multilabel:
            return f"a multi-label classifier ({self.n_outputs} independent 0/1 labels, several per sample)"
        return f"a regression ({self.n_outputs} output{'s' if self.n_outputs != 1 else ''})"


#: Names of the Keras losses of one raw score (targets -1/1 or 0/1), and of one per class (one-hot targets).
BINARY_HINGE_LOSSES = frozenset({"hinge", "squared_hinge"})
CATEGORICAL_HINGE_LOSSES = frozenset({"categorical_hinge"})



def _integer_valued(values: np.ndarray) -> bool:
    return bool(values.size) and bool(np.all(np.isfinite(values))) and bool(np.all(values == np.rint(values)))


def infer_task(targets: np.ndarray, n_outputs: int, *, loss: str | None = None) -> Task:
    """Whether targets and an output width make a binary, multiclass or regression problem.

    * one output and targets in {0, 1}: binary (a sigmoid unit);
    * one output, a ``hinge`` or ``squared_hinge`` loss and targets in
      {-1, 1} (or {0, 1}): binary, the output a raw score (``scores``);
    * ``categorical_hinge`` and one-hot targets: classification on raw scores;
    * ``k >= 2`` outputs and one-hot targets of width ``k``, or integer labels
      in ``[0, k)`` (one per sample): classification with ``k`` classes
      (binary when ``k == 2``, the positive class being the second column);
    * anything else: regression; ``multilabel`` when the targets are 0/1 rows
      ``(n, k)`` that are not one-hot (several labels per sample; not a
      sequence or image of labels).

    Parameters
    ----------
    targets : array, shape (n,) or (n, m)
        The recorded targets.
    n_outputs : int
        Number of values the model outputs per sample.
    loss : str, optional
        The name of that output's loss (e.g. ``"hinge"``); only hinge losses matter.

    Returns
    -------
    Task
    """
    if loss is not None and not isinstance(loss, str):
        raise TypeError(f"loss={loss!r} must be a loss name (a string) or None.")
    if isinstance(n_outputs, (bool, np.bool_)) or not isinstance(n_outputs, (int, np.integer)) or n_outputs < 1:
        raise ValueError(f"n_outputs={n_outputs!r} must be a positive integer (the model's output width).")
    n_outputs = int(n_outputs)
    targets = np.asarray(targets)
    if targets.dtype.kind not in "biuf" or targets.ndim == 0:
        return Task("regression", None, n_outputs)
    flat = targets.reshape(len(targets), -1)
    values = flat.astype(np.float64)
    if n_outputs == 1:
        column = flat.shape[1] == 1 and bool(values.size)
        zero_one = column and bool(np.all(np.isin(values, (0.0, 1.0))))
        if loss in BINARY_HINGE_LOSSES and (zero_one or (column and np.all(np.isin(values, (-1.0, 1.0))))):
            return Task("binary", 2, 1, scores=True)
        return Task("binary", 2, 1) if zero_one else Task("regression", None, 1)
    one_hot = flat.shape[1] == n_outputs and values.size and np.all(np.isin(values, (0.0, 1.0))) \
        and np.all(values.sum(axis=1) == 1)
    labels = flat.shape[1] == 1 and _integer_valued(values) and values.min() >= 0 and values.max() < n_outputs
    if not (one_hot or labels):
        multilabel = targets.ndim == 2 and flat.shape[1] == n_outputs and bool(values.size) \
            and bool(np.all(np.isin(values, (0.0, 1.0))))
        return Task("regression", None, n_outputs, multilabel=multilabel)
    return Task("binary" if n_outputs == 2 else "multiclass", n_outputs, n_outputs,
                scores=bool(one_hot) and loss in CATEGORICAL_HINGE_LOSSES)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def class_probabilities(outputs: np.ndarray, n_classes: int, *, from_logits: bool = False,
                        scores: bool = False) -> np.ndarray:
    """Probability of every class, shape (n, k), from a classifier's outputs.

    Parameters
    ----------
    outputs : array, shape (n,), (n, 1) or (n, k)
        One sigmoid unit (the positive class) or one column per class.
    n_classes : int
        ``k``: 2 for one sigmoid unit.
    from_logits : bool, default False
        The outputs are logits (the model's loss has ``from_logits=True``):
        sigmoid (one unit) or softmax (one column per class) is applied.
    scores : bool, default False
        Raw scores of a hinge loss (``Task.scores``): stand-ins that pick the
        same class and colour regions, ``clip((s + 1) / 2, 0, 1)`` for one
        unit (0.5 at the threshold 0, 0 and 1 at the margins), else softmax.

    Returns
    -------
    ndarray of float64, shape (n, k)
        For one sigmoid unit: columns ``1 - p`` and ``p``.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    flat = outputs.reshape(len(outputs), -1)
    if flat.shape[1] == 1:
        if n_classes != 2:
            raise ValueError(f"n_classes={n_classes} does not fit one output unit (a binary classifier has 2).")
        if scores:
            p = np.clip((flat[:, 0] + 1.0) / 2.0, 0.0, 1.0)
        else:
            p = _sigmoid(flat[:, 0]) if from_logits else flat[:, 0]
        return np.column_stack([1.0 - p, p])
    if flat.shape[1] != n_classes:
        raise ValueError(f"n_classes={n_classes} does not fit outputs with {flat.shape[1]} columns.")
    return _softmax(flat) if (from_logits or scores) else flat


def positive_score(outputs: np.ndarray) -> np.ndarray:
    """A hinge binary model's score, shape (n,), positive for class 1: its output, or of two, the second minus
    the first."""
    flat = np.asarray(outputs, dtype=np.float64)
    flat = flat.reshape(len(flat), -1)
    return flat[:, 1] - flat[:, 0] if flat.shape[1] == 2 else flat[:, 0]


def are_probabilities(values: np.ndarray, *, tolerance: float = 1e-6) -> bool:
    """Whether every finite value lies in [0, 1] (up to float rounding)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return not finite.size or bool(finite.min() >= -tolerance and finite.max() <= 1 + tolerance)


def true_class_probability(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Predicted probability of each sample's true class, shape (n,).

    ``probabilities`` has shape (n, k) (see :func:`class_probabilities`) and
    ``labels`` holds integer classes in ``[0, k)``.
    """
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels).astype(np.int64).ravel()
    return probabilities[np.arange(len(labels)), labels]


#: Keras clips probabilities to [epsilon, 1 - epsilon] before taking their log.
CROSS_ENTROPY_EPSILON = 1e-7


def cross_entropy_terms(p_true: np.ndarray, *, epsilon: float = CROSS_ENTROPY_EPSILON) -> np.ndarray:
    """``-log(p)`` of the probability of the true class, clipped as Keras clips it.

    The mean of these terms is the binary or categorical cross-entropy (log
    loss) of the samples.
    """
    p = np.asarray(p_true, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return -np.log(np.clip(p, epsilon, 1.0 - epsilon))


def class_region_rgba(probabilities: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """Colour of each cell of a region grid: its most probable class, lighter when less sure.

    The colour is the class colour blended with white: full colour where the
    class has probability 1, white where all ``k`` classes are equally likely
    (probability ``1/k``).  For two classes this is the binary region colour
    map (negative colour, white at 0.5, positive colour).

    Parameters
    ----------
    probabilities : array, shape (..., k)
    colors : array, shape (k, 3) or (k, 4)
        RGB(A) colours in [0, 1], one per class (alpha ignored).

    Returns
    -------
    ndarray of uint8, shape (..., 4)
        RGBA, fully opaque (cells with non-finite probabilities are transparent).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    colors = np.asarray(colors, dtype=np.float64)[:, :3]
    k = probabilities.shape[-1]
    if colors.shape[0] < k:
        raise ValueError(f"colors has {colors.shape[0]} colours for {k} classes; give one per class.")
    finite = np.all(np.isfinite(probabilities), axis=-1)
    safe = np.where(finite[..., None], probabilities, 0.0)
    winner = np.argmax(safe, axis=-1)
    confidence = np.max(safe, axis=-1)
    strength = np.clip((confidence - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)
    rgb = 1.0 - strength[..., None] * (1.0 - colors[winner])
    rgba = np.concatenate([rgb, finite[..., None].astype(np.float64)], axis=-1)
    return np.rint(rgba * 255).astype(np.uint8)


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """The most probable class of each row (argmax over the last axis), as int64."""
    return np.argmax(np.asarray(probabilities), axis=-1).astype(np.int64)


def classify_outputs(outputs: np.ndarray, task: Task, *, from_logits: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities, predicted)`` of a classifier's outputs: shapes (n, k) and (n,).

    ``probabilities`` from :func:`class_probabilities`; ``predicted`` -1 where not finite, else the most
    probable class, or for a hinge binary model 1 where its score is above 0 (as ``BinaryAccuracy(threshold=0)``).
    """
    probabilities = class_probabilities(outputs, int(task.n_classes), from_logits=from_logits, scores=task.scores)
    finite = np.all(np.isfinite(probabilities), axis=1)
    if task.scores and task.n_classes == 2:
        predicted = (positive_score(outputs) > 0).astype(np.int64)
    else:
        predicted = predicted_classes(np.nan_to_num(probabilities))
    return probabilities, np.where(finite, predicted, -1)


def multiclass_histograms(probabilities: np.ndarray, labels: np.ndarray, edges: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class histograms of predicted probabilities, split by correctness.

    For every class ``c``:

    * ``own`` / ``own_misclassified``: the probability of class ``c`` of the
      samples *of* class ``c``, classified correctly (argmax is ``c``) or not;
    * ``other`` / ``other_misclassified``: the probability of class ``c`` of
      the samples of the *other* classes, not predicted as ``c`` or predicted
      as ``c`` (a wrong call of class ``c``).

    Parameters
    ----------
    probabilities : array, shape (n, k)
    labels : array of int, shape (n,)
    edges : array, shape (bins + 1,)

    Returns
    -------
    dict of ndarray of int64
        ``own``, ``own_misclassified``, ``other``, ``other_misclassified``,
        each of shape (k, bins); ``left_out`` of shape (k,): samples of each
        class with a non-finite probability (in no bin).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).ravel()
    k = probabilities.shape[1]
    bins = len(edges) - 1
    finite = np.all(np.isfinite(probabilities), axis=1)
    predicted = predicted_classes(np.where(finite[:, None], probabilities, -np.inf))
    out = {name: np.zeros((k, bins), dtype=np.int64)
           for name in ("own", "own_misclassified", "other", "other_misclassified")}
    left_out = np.zeros(k, dtype=np.int64)
    for c in range(k):
        p = probabilities[:, c]
        member = labels == c
        called = predicted == c
        out["own"][c] = histogram_counts(p[member & finite & called], edges)
        out["own_misclassified"][c] = histogram_counts(p[member & finite & ~called], edges)
        out["other"][c] = histogram_counts(p[~member & finite & ~called], edges)
        out["other_misclassified"][c] = histogram_counts(p[~member & finite & called], edges)
        left_out[c] = np.count_nonzero(member & ~finite)
    out["left_out"] = left_out
    return out


LEGEND_CORNERS = ("upper right", "upper left", "lower left", "lower right")


def emptiest_corner(points: np.ndarray, xlim: Sequence[float], ylim: Sequence[float], *,
                    fraction: float = 0.35) -> str:
    """The corner of the axes (a Matplotlib legend location) with the fewest points.

    Counts the finite points inside a box of ``fraction`` of the width and
    height at each corner of ``xlim`` x ``ylim``; ties go to the first of
    :data:`LEGEND_CORNERS`.  Computed once from every epoch's points, it keeps
    a legend off the data without moving between frames.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    points = points[np.all(np.isfinite(points), axis=1)]
    (x0, x1), (y0, y1) = xlim, ylim
    wx, wy = fraction * (x1 - x0), fraction * (y1 - y0)
    x, y = points[:, 0], points[:, 1]
    right, left = x >= x1 - wx, x <= x0 + wx
    top, bottom = y >= y1 - wy, y <= y0 + wy
    counts = [np.count_nonzero(right & top), np.count_nonzero(left & top),
              np.count_nonzero(left & bottom), np.count_nonzero(right & bottom)]
    return LEGEND_CORNERS[int(np.argmin(counts))]


# -- confusion matrices and image mosaics --------------------------------------------------------------
def confusion_counts(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix of integer classes: ``counts[t, p]`` samples of true class ``t`` predicted ``p``.

    Parameters
    ----------
    labels, predicted : arrays of int, shape (n,)
        True and predicted classes in ``[0, n_classes)``; a sample whose
        predicted class is outside that range (a non-finite output) is in
        no cell.
    n_classes : int

    Returns
    -------
    ndarray of int64, shape (n_classes, n_classes)
        The same as ``sklearn.metrics.confusion_matrix(labels, predicted,
        labels=range(n_classes))``, computed with one ``bincount``.
    """
    labels = np.asarray(labels).astype(np.int64).ravel()
    predicted = np.asarray(predicted).astype(np.int64).ravel()
    k = int(n_classes)
    keep = (labels >= 0) & (labels < k) & (predicted >= 0) & (predicted < k)
    return np.bincount(labels[keep] * k + predicted[keep], minlength=k * k).reshape(k, k)


def row_normalized(counts: np.ndarray) -> np.ndarray:
    """Each row of a confusion matrix divided by its total (the share of the class), 0 for an empty row."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=-1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def mosaic(tiles: np.ndarray, *, gap: int = 1) -> np.ndarray:
    """Lay a grid of equal images out as one image, with NaN between them.

    Parameters
    ----------
    tiles : array, shape (..., rows, cols, h, w)
        ``tiles[..., i, j]`` is the image of grid row ``i`` (from the top) and
        column ``j``.
    gap : int, default 1
        Pixels of NaN between neighbouring images (draw them with a colour
        map whose "bad" colour is the background).

    Returns
    -------
    ndarray of float32, shape (..., rows * (h + gap) - gap, cols * (w + gap) - gap)
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    if tiles.ndim < 4:
        raise ValueError(f"tiles has shape {tiles.shape}; expected (..., rows, cols, h, w).")
    *lead, rows, cols, h, w = tiles.shape
    padded = np.full((*lead, rows, cols, h + gap, w + gap), np.nan, dtype=np.float32)
    padded[..., :h, :w] = tiles
    # (..., rows, cols, h', w') -> (..., rows, h', cols, w') -> one image
    image = np.swapaxes(padded, -3, -2).reshape(*lead, rows * (h + gap), cols * (w + gap))
    return image[..., :rows * (h + gap) - gap, :cols * (w + gap) - gap]


def robust_limits(values: Iterable[np.ndarray], *, percentile: float = 99.5,
                  symmetric: bool = False) -> tuple[float, float]:
    """A colour scale covering ``values`` (finite ones), clipped at a high percentile of their magnitude.

    ``(low, high)``: ``low`` is 0 when every value is 0 or more (ReLU
    outputs), else the ``100 - percentile`` percentile; ``high`` the
    ``percentile`` percentile.  With ``symmetric`` the scale is ``(-m, m)``
    for the ``percentile`` percentile ``m`` of ``|values|`` (kernels: zero in
    the middle).  A few extreme values then do not wash every image out.
    """
    finite = [np.asarray(v, dtype=np.float64).ravel() for v in values]
    finite = np.concatenate(finite) if finite else np.zeros(0)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return (-1.0, 1.0) if symmetric else (0.0, 1.0)
    if symmetric:
        m = float(np.percentile(np.abs(finite), percentile))
        m = m if m > 0 else float(np.abs(finite).max()) or 1.0
        return -m, m
    low = 0.0 if finite.min() >= 0 else float(np.percentile(finite, 100 - percentile))
    high = float(np.percentile(finite, percentile))
    if not high > low:
        high = float(finite.max()) if finite.max() > low else low + 1.0
    return low, high
