"""What the visuals share: argument checks, class names and colours, the task of a model, region images.

Every plotter module imports these public names from here (never a private
name of another visual).  Pure moves from ``feature_space.py``,
``probability_histogram.py`` and ``base.py``; ``base.py`` keeps the plotter
base class and the composition of visuals, and re-exports the colours and
``check_title`` for older imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap, Normalize, to_rgba_array
from matplotlib.lines import Line2D

from .. import compute

if TYPE_CHECKING:
    from ..replay import Replay


# -- colours ----------------------------------------------------------------------------------------------
#: Colours of the negative and positive classes, kept across visuals and frames.
NEGATIVE_COLOR = "#1f77b4"
POSITIVE_COLOR = "#2ca02c"
MISCLASSIFIED_COLOR = "#d62728"
CLASS_COLORS = (NEGATIVE_COLOR, POSITIVE_COLOR)

#: Colours of classes 0, 1, 2, ... in every visual.  The binary pair comes first
#: (class 0 blue, class 1 green); the others avoid red (misclassified samples),
#: orange (losses) and purple (metrics).
CLASS_PALETTE = (NEGATIVE_COLOR, POSITIVE_COLOR, "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f")


def class_colors(n_classes: int) -> tuple[str, ...]:
    """One colour per class, as hex strings: :data:`CLASS_PALETTE`, then evenly spread over 'turbo'."""
    if isinstance(n_classes, (bool, np.bool_)) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes={n_classes!r} must be a positive integer.")
    if n_classes <= len(CLASS_PALETTE):
        return CLASS_PALETTE[:n_classes]
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return tuple(to_hex(c) for c in colormaps["turbo"](np.linspace(0.05, 0.95, int(n_classes))))

#: One colour per run when several runs are drawn together (paths on a loss surface, overlaid curves):
#: the same run has the same colour in every visual of a figure.
RUN_COLORS = ("#d62728", "#ff7f0e", "#2ca02c", "#e377c2", "#17becf", "#bcbd22", "#8c564b", "#9467bd", "#7f7f7f")

#: Opacity of the decision-region image (points and grid lines stay readable on top).
REGION_ALPHA = 0.35
#: Colour, width and opacity of the grid lines: visible, but lighter than the points.
GRID_COLOR = "0.2"
GRID_LINEWIDTH = 0.5
GRID_ALPHA = 0.3
#: Padding (fraction of the data range) of limits taken from the recorded inputs.
INPUT_PAD = 0.1

#: Negative colour -> white at probability 0.5 -> positive colour.
REGION_CMAP = LinearSegmentedColormap.from_list(
    "deepreplay_binary_regions", [NEGATIVE_COLOR, "#ffffff", POSITIVE_COLOR], N=256
)
#: Colour scale of a regression's targets (points) and outputs (background).
VALUE_CMAP = "viridis"


# -- argument checks --------------------------------------------------------------------------------------
def check_title(title: object) -> str | None:
    """``title`` if it is a string or None; a TypeError naming it otherwise."""
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title={title!r} must be a string or None.")
    return title


def metric_label(name: str) -> str:
    """An axis label for a metric's log name: ``"accuracy"`` -> ``"Accuracy"``,
    ``"cls_accuracy"`` -> ``"Cls accuracy"``, ``"AUC"`` stays ``"AUC"``.

    Only the first letter is raised (``str.capitalize`` would lower the rest)
    and Keras' ``_`` separators become spaces.
    """
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


# -- class names, the task of a model, region images ------------------------------------------------------
#: Default names of the two classes of a binary model.
BINARY_NAMES = ("negative", "positive")
OTHER_VISUALS = ("use replay.build_loss_histogram(ax) or replay.build_loss_and_metric(ax, metric) instead, "
                  "which work for any model")
#: Probabilities may exceed [0, 1] by float rounding only.
PROBABILITY_TOLERANCE = 1e-6


def region_grid(xlim: Sequence[float], ylim: Sequence[float], n: int) -> np.ndarray:
    """Centres of an ``n`` x ``n`` tiling of the rectangle ``xlim`` x ``ylim``: shape (n*n, 2), float32.

    Row ``i * n + j`` is the cell in row ``i`` (from the bottom) and column
    ``j``, so values computed on these points reshape to ``(n, n)`` and
    show with ``imshow(..., origin='lower', extent=(*xlim, *ylim))`` with every
    cell exactly where its centre was evaluated.
    """
    (x0, x1), (y0, y1) = xlim, ylim
    hx, hy = (x1 - x0) / (2 * n), (y1 - y0) / (2 * n)
    _, _, points = compute.make_grid((x0 + hx, x1 - hx), (y0 + hy, y1 - hy), n)
    return points


def region_extent(xlim: Sequence[float], ylim: Sequence[float]) -> tuple[float, float, float, float]:
    return float(xlim[0]), float(xlim[1]), float(ylim[0]), float(ylim[1])


def readonly(array: np.ndarray | None) -> np.ndarray | None:
    if array is not None:
        array.setflags(write=False)
    return array


def check_flag(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} must be True or False.")
    return bool(value)


def check_optional_flag(name: str, value: object) -> bool | None:
    if value is not None and not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} must be True, False or None (automatic).")
    return None if value is None else bool(value)


def check_axes(ax: object) -> None:
    """Fail before any computation when ``ax`` is not an Axes (the base class checks it again)."""
    if not isinstance(ax, Axes):
        raise TypeError(f"expected a Matplotlib Axes, got {type(ax).__name__}; create one with plt.subplots().")


def check_class_names(class_names: object) -> tuple[str, ...] | None:
    if class_names is None:
        return None
    if isinstance(class_names, str) or not isinstance(class_names, Sequence) or \
            not all(isinstance(name, str) for name in class_names):
        raise TypeError(f"class_names={class_names!r} must be a sequence of strings (one per class) or None.")
    return tuple(class_names)


def resolve_class_names(class_names: tuple[str, ...] | None, task: compute.Task) -> tuple[str, ...] | None:
    """The names shown for the classes: given ones (checked against the class count) or defaults."""
    if not task.is_classification:
        return None
    if class_names is None:
        return BINARY_NAMES if task.kind == "binary" else tuple(f"class {c}" for c in range(task.n_classes))
    if len(class_names) != task.n_classes:
        raise ValueError(f"class_names={list(class_names)!r} has {len(class_names)} names for "
                         f"{task.n_classes} classes; give one name per class.")
    return class_names


def output_width(replay: Replay) -> int:
    """Values the model outputs per sample (from the recorded predictions, else the model)."""
    if replay.reader.has("predictions"):
        shape = np.shape(replay.predictions_at(int(replay.epochs[0])))
        return int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return int(np.prod(replay.model.outputs[0].shape[1:]))


def model_task(replay: Replay) -> tuple[compute.Task, bool]:
    """``(task, from_logits)`` of a recording: what the model does and whether it outputs logits.

    ``from_logits`` is read from the loss in the stored model config (the
    rebuilt model is not compiled).
    """
    from ..losses import config_from_logits

    task = compute.infer_task(replay.targets, output_width(replay), loss=shown_loss_name(replay))
    return task, config_from_logits(replay.reader.model_config)


def shown_loss_name(replay: Replay) -> str:
    """The loss of the output the visuals show (``replay.output``, default the first): a model with several
    outputs stores them all in one name ('mse+binary_crossentropy', 'a:mse+b:hinge')."""
    name, outputs = replay.loss_name, list(replay.output_names)
    if len(outputs) <= 1:
        return name
    shown, parts = replay.output or outputs[0], name.split("+")
    if all(":" in part for part in parts):  # a dict by output name
        return dict(part.split(":", 1) for part in parts).get(shown, "")
    with_loss = [output for output in outputs if output in set(replay.reader.output_loss_names)]
    if len(parts) == len(with_loss):  # a list, outputs without a loss left out
        return parts[with_loss.index(shown)] if shown in with_loss else ""
    return name


def sample_classes(replay: Replay, task: compute.Task) -> np.ndarray | None:
    return compute.class_labels(replay.targets).astype(np.int64) if task.is_classification else None


def target_values(replay: Replay) -> np.ndarray:
    """A regression's target per sample (its first column), float64."""
    targets = np.asarray(replay.targets, dtype=np.float64)
    return targets.reshape(len(targets), -1)[:, 0]


def target_label(replay: Replay, task: compute.Task) -> str:
    """What :func:`target_values` shows: "target", or its column among several ("label 1 of 3" when multi-label)."""
    width = int(np.prod(np.shape(replay.targets)[1:]))
    if width <= 1:
        return "target"
    return f"label 1 of {width}" if task.multilabel else f"target (column 1 of {width})"


def loss_limits(losses: np.ndarray) -> tuple[float, float]:
    """Y-limits of a loss curve: from 0 to 5% above the highest finite value; a loss that goes below 0
    (cosine_similarity, a log-likelihood) is shown whole with 0 in view, 5% of the span on each side."""
    losses = np.asarray(losses, dtype=np.float64)
    losses = losses[np.isfinite(losses)]
    top = float(losses.max()) if losses.size else 1.0
    low = float(losses.min()) if losses.size else 0.0
    if low >= 0:
        return 0.0, (top * 1.05 if top > 0 else 1.0)
    pad = 0.05 * (max(top, 0.0) - low)
    return low - pad, max(top, 0.0) + pad


def value_limits(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low - 0.5, high + 0.5) if high <= low else (low, high)


def class_rgb(n_classes: int) -> np.ndarray:
    return to_rgba_array(class_colors(n_classes))[:, :3]


@dataclass
class RegionBuffer:
    """Per-epoch region images of a visual, filled one epoch at a time."""

    task: compute.Task
    from_logits: bool
    n_epochs: int
    resolution: int
    probabilities: np.ndarray | None = None
    predicted: np.ndarray | None = None
    rgba: np.ndarray | None = None
    outputs: np.ndarray | None = None
    _colors: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        e, r = self.n_epochs, self.resolution
        if self.task.kind == "binary":
            self.probabilities = np.empty((e, r, r), dtype=np.float32)
            self.predicted = np.empty((e, r, r), dtype=np.int8)
        elif self.task.kind == "multiclass":
            k = self.task.n_classes
            self.probabilities = np.empty((e, r, r, k), dtype=np.float32)
            self.predicted = np.empty((e, r, r), dtype=np.int16 if k > 127 else np.int8)
            self.rgba = np.empty((e, r, r, 4), dtype=np.uint8)
            self._colors = class_rgb(k)
        else:
            self.outputs = np.empty((e, r, r), dtype=np.float32)

    def set(self, i: int, outputs: np.ndarray) -> None:
        """Store epoch ``i`` from the model's outputs on the ``resolution**2`` region points."""
        r = self.resolution
        outputs = np.asarray(outputs)
        if self.task.is_classification:
            probabilities, predicted = compute.classify_outputs(outputs, self.task, from_logits=self.from_logits)
            self.predicted[i] = predicted.reshape(r, r)
            if self.task.kind == "binary":
                self.probabilities[i] = probabilities[:, 1].reshape(r, r)
            else:
                self.probabilities[i] = probabilities.reshape(r, r, -1)
                self.rgba[i] = compute.class_region_rgba(self.probabilities[i], self._colors)
        else:
            self.outputs[i] = outputs.reshape(len(outputs), -1)[:, 0].reshape(r, r)


def region_frame(data: Any, i: int) -> np.ndarray:
    """The array the region image shows at epoch index ``i``."""
    if data.task == "multiclass":
        return data.region_rgba[i]
    if data.task == "binary":
        return data.probabilities[i]
    return data.outputs[i]


def draw_regions(ax: Axes, data: Any, i: int, extent: tuple[float, float, float, float]):
    common = dict(origin="lower", extent=extent, alpha=REGION_ALPHA, interpolation="bilinear", aspect="auto",
                  zorder=0)
    if data.task == "binary":
        return ax.imshow(data.probabilities[i], cmap=REGION_CMAP, vmin=0.0, vmax=1.0, **common)
    if data.task == "multiclass":
        return ax.imshow(data.region_rgba[i], **common)
    low, high = data.value_limits
    return ax.imshow(data.outputs[i], cmap=VALUE_CMAP, norm=Normalize(low, high), **common)


def draw_grid(ax: Axes, segments: np.ndarray) -> LineCollection:
    lines = LineCollection(list(segments), colors=GRID_COLOR, linewidths=GRID_LINEWIDTH, alpha=GRID_ALPHA,
                           zorder=1)
    ax.add_collection(lines, autolim=False)
    return lines


def marker_size(n_points: int) -> float:
    """Scatter marker area: bigger for few points, small for thousands."""
    return float(np.clip(2000.0 / max(n_points, 1), 3.0, 25.0))


def draw_points(ax: Axes, points: np.ndarray, data: Any):
    """The samples: class colours, or the target on the value scale for a regression."""
    size = marker_size(len(points))
    if data.classes is not None:
        colors = np.array(class_colors(data.n_classes))[data.classes]
        return ax.scatter(points[:, 0], points[:, 1], c=colors, s=size, edgecolors="none", zorder=2)
    low, high = data.value_limits
    return ax.scatter(points[:, 0], points[:, 1], c=data.targets, cmap=VALUE_CMAP, norm=Normalize(low, high),
                      s=size, edgecolors="0.15", linewidths=0.3, zorder=2)


#: Most classes a legend lists, one line each; more get a colour bar of the classes beside the axes
#: (a legend of 50 lines runs off the axes and over the next visual).
MAX_LEGEND_CLASSES = 12
#: Most class names written along a colour bar of the classes or an axis of classes; more are thinned out.
MAX_CLASS_TICKS = 12


def class_ticks(n_classes: int) -> np.ndarray:
    """The classes whose names are written when ``n_classes`` classes lie along an axis: all, or evenly thinned."""
    step = max(1, int(np.ceil(n_classes / MAX_CLASS_TICKS)))
    return np.arange(0, n_classes, step)


def class_colorbar(ax: Axes, names: Sequence[str], n_classes: int) -> Any:
    """A colour bar of the class colours beside ``ax``, some class names along it (for many classes)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    mappable = ScalarMappable(norm=BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes),
                              cmap=ListedColormap(class_colors(n_classes)))
    ticks = class_ticks(n_classes)
    colorbar = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.02, ticks=ticks)
    colorbar.ax.set_yticklabels([names[t] for t in ticks])
    colorbar.ax.tick_params(labelsize="x-small", length=2)
    colorbar.set_label(f"class ({n_classes} classes)", fontsize="small")
    return colorbar


def class_legend(ax: Axes, names: Sequence[str], n_classes: int, loc: str = "upper right") -> Any:
    """The class colours: a legend inside ``ax``, or beyond :data:`MAX_LEGEND_CLASSES` a colour bar beside it."""
    if n_classes > MAX_LEGEND_CLASSES:
        return class_colorbar(ax, names, n_classes)
    handles = [Line2D([], [], ls="", marker="o", ms=5, color=color, label=name)
               for color, name in zip(class_colors(n_classes), names)]
    return ax.legend(handles=handles, loc=loc, fontsize="small", framealpha=0.7,
                     handletextpad=0.1, borderpad=0.3, labelspacing=0.3)


def value_colorbar(ax: Axes, mappable: Any, label: str) -> Any:
    """A colour bar of the value scale beside ``ax`` (regressions)."""
    colorbar = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.02)
    colorbar.set_label(label, fontsize="small")
    colorbar.ax.tick_params(labelsize="x-small")
    return colorbar


def layer_width(replay: Replay, layer_name: str, epoch: int) -> tuple[int, ...]:
    """The per-sample shape of a layer's recorded outputs.

    Raises ``ValueError`` for a layer whose output has no sample axis (one
    array whatever the batch, such as a positional embedding of
    ``keras.ops.arange``): it has no point per sample to draw.
    """
    shape = np.shape(replay.outputs_at(epoch, layer_name))
    rows = len(replay.output_rows(layer_name))
    if not shape or shape[0] != rows:
        raise ValueError(
            f"layer {layer_name!r} outputs one array of shape {tuple(shape)} whatever the samples (no axis of "
            f"the {rows} recorded samples, as a positional embedding of keras.ops.arange), so it has no point per "
            "sample to draw; choose a layer whose output depends on each sample."
        )
    return tuple(shape[1:])


def suggest_layers(replay: Replay, epoch: int, *, exact: bool) -> list[str]:
    """Hidden layers with recorded activations that a feature space can show (2 units if ``exact``)."""
    found = []
    names = replay.reader.output_layers("activations")
    for name in names[:-1] if len(names) > 1 else names:
        try:
            width = int(np.prod(layer_width(replay, name, epoch)))
        except (KeyError, ValueError):
            continue
        if width == 2 or (not exact and width > 2):
            found.append(name)
    return found


def not_a_classifier(visual: str, task: compute.Task) -> str:
    """The message of a classification-only visual asked of a regression."""
    return (
        f"{visual} shows the predicted probabilities of a classifier's classes, but this model is "
        f"{task.describe()}: its targets are not class labels (0/1 for one output, integer labels or one-hot "
        f"rows for several). For a regression, {OTHER_VISUALS}, or replay.build_feature_space(ax, "
        "layer_name=...) to see a hidden layer."
    )


def check_probabilities(p: np.ndarray, epoch: int, visual: str = "the probability histogram") -> None:
    finite = p[np.isfinite(p)]
    if finite.size and (finite.min() < -PROBABILITY_TOLERANCE or finite.max() > 1 + PROBABILITY_TOLERANCE):
        raise ValueError(
            f"the model outputs at epoch {epoch} are not probabilities (they range from {finite.min():.3g} to "
            f"{finite.max():.3g}); {visual} needs a sigmoid or softmax output layer, or a loss compiled with "
            f"from_logits=True (whose logits it turns into probabilities). For other outputs, {OTHER_VISUALS}."
        )
