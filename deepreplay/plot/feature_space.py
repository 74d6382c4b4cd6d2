"""Feature space of a hidden layer: the recorded points, the input grid bent
through the layer, and the regions of the rest of the network.

This is the "twisted and turned" space of the *Activation Functions* post: a
2-unit hidden layer maps the inputs to a plane where the output layer draws a
straight boundary.  A layer with 2 units is drawn exactly, as in the post.  A
wider layer is drawn on the plane of its first two principal components,
fitted once on the activations of every epoch in range, so all frames share
one basis and the animation does not jump (axes "PC1 (xx% var.)").

Binary, multiclass and regression models are supported: points take the
class colours of :func:`deepreplay.plot.base.class_colors` (or a colour scale
of the target for a regression), and the background shows the probability of
the positive class (binary), the most probable class with its confidence
(multiclass) or the model's output (regression).  Everything is computed up
front by :meth:`FeatureSpace.from_replay`; drawing only updates artists
created once.
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
from ..projection import (
    Projection,
    check_projection,
    choose_projection,
    fit_pca,
    identity_projection,
)
from .base import NEGATIVE_COLOR, POSITIVE_COLOR, Plotter, check_title, class_colors

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["FeatureSpace", "FeatureSpaceData"]

#: Opacity of the decision-region image (points and grid lines stay readable on top).
REGION_ALPHA = 0.35
#: Colour, width and opacity of the grid lines: visible, but lighter than the points.
GRID_COLOR = "0.2"
GRID_LINEWIDTH = 0.5
GRID_ALPHA = 0.3

#: Negative colour -> white at probability 0.5 -> positive colour.
REGION_CMAP = LinearSegmentedColormap.from_list(
    "deepreplay_binary_regions", [NEGATIVE_COLOR, "#ffffff", POSITIVE_COLOR], N=256
)
#: Colour scale of a regression's targets (points) and outputs (background).
VALUE_CMAP = "viridis"

BINARY_NAMES = ("negative", "positive")
_REGRESSION_HINT = ("for a regression use replay.build_feature_space(ax, layer_name=...), "
                    "replay.build_loss_histogram(ax) or replay.build_loss_and_metric(ax, metric)")


# -- pure-NumPy helpers (shared with the other visuals) -----------------------------------------------
def _region_grid(xlim: Sequence[float], ylim: Sequence[float], n: int) -> np.ndarray:
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


def _extent(xlim: Sequence[float], ylim: Sequence[float]) -> tuple[float, float, float, float]:
    return float(xlim[0]), float(xlim[1]), float(ylim[0]), float(ylim[1])


def _readonly(array: np.ndarray | None) -> np.ndarray | None:
    if array is not None:
        array.setflags(write=False)
    return array


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} must be True or False.")
    return bool(value)


def _check_optional_flag(name: str, value: object) -> bool | None:
    if value is not None and not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} must be True, False or None (automatic).")
    return None if value is None else bool(value)


def _check_axes(ax: object) -> None:
    """Fail before any computation when ``ax`` is not an Axes (the base class checks it again)."""
    if not isinstance(ax, Axes):
        raise TypeError(f"expected a Matplotlib Axes, got {type(ax).__name__}; create one with plt.subplots().")


def _check_class_names(class_names: object) -> tuple[str, ...] | None:
    if class_names is None:
        return None
    if isinstance(class_names, str) or not isinstance(class_names, Sequence) or \
            not all(isinstance(name, str) for name in class_names):
        raise TypeError(f"class_names={class_names!r} must be a sequence of strings (one per class) or None.")
    return tuple(class_names)


def _class_names(class_names: tuple[str, ...] | None, task: compute.Task) -> tuple[str, ...] | None:
    """The names shown for the classes: given ones (checked against the class count) or defaults."""
    if not task.is_classification:
        return None
    if class_names is None:
        return BINARY_NAMES if task.kind == "binary" else tuple(f"class {c}" for c in range(task.n_classes))
    if len(class_names) != task.n_classes:
        raise ValueError(f"class_names={list(class_names)!r} has {len(class_names)} names for "
                         f"{task.n_classes} classes; give one name per class.")
    return class_names


def _output_width(replay: Replay) -> int:
    """Values the model outputs per sample (from the recorded predictions, else the model)."""
    if replay.reader.has("predictions"):
        shape = np.shape(replay.predictions_at(int(replay.epochs[0])))
        return int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return int(np.prod(replay.model.outputs[0].shape[1:]))


def _model_task(replay: Replay) -> tuple[compute.Task, bool]:
    """``(task, from_logits)`` of a recording: what the model does and whether it outputs logits.

    ``from_logits`` is read from the loss in the stored model config (the
    rebuilt model is not compiled).
    """
    from ..model_inspection import config_from_logits

    task = compute.infer_task(replay.targets, _output_width(replay))
    return task, config_from_logits(replay.reader.model_config)


def _class_labels(replay: Replay, task: compute.Task) -> np.ndarray | None:
    return compute.class_labels(replay.targets).astype(np.int64) if task.is_classification else None


def _target_values(replay: Replay) -> np.ndarray:
    """A regression's target per sample (its first column), float64."""
    targets = np.asarray(replay.targets, dtype=np.float64)
    return targets.reshape(len(targets), -1)[:, 0]


def _value_limits(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low - 0.5, high + 0.5) if high <= low else (low, high)


def _class_rgb(n_classes: int) -> np.ndarray:
    return to_rgba_array(class_colors(n_classes))[:, :3]


@dataclass
class _RegionBuffer:
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
            self._colors = _class_rgb(k)
        else:
            self.outputs = np.empty((e, r, r), dtype=np.float32)

    def set(self, i: int, outputs: np.ndarray) -> None:
        """Store epoch ``i`` from the model's outputs on the ``resolution**2`` region points."""
        r = self.resolution
        outputs = np.asarray(outputs)
        if self.task.is_classification:
            probabilities = compute.class_probabilities(outputs, self.task.n_classes, from_logits=self.from_logits)
            self.predicted[i] = compute.predicted_classes(probabilities).reshape(r, r)
            if self.task.kind == "binary":
                self.probabilities[i] = probabilities[:, 1].reshape(r, r)
            else:
                self.probabilities[i] = probabilities.reshape(r, r, -1)
                self.rgba[i] = compute.class_region_rgba(self.probabilities[i], self._colors)
        else:
            self.outputs[i] = outputs.reshape(len(outputs), -1)[:, 0].reshape(r, r)


def _region_frame(data: Any, i: int) -> np.ndarray:
    """The array the region image shows at epoch index ``i``."""
    if data.task == "multiclass":
        return data.region_rgba[i]
    if data.task == "binary":
        return data.probabilities[i]
    return data.outputs[i]


def _draw_regions(ax: Axes, data: Any, i: int, extent: tuple[float, float, float, float]):
    common = dict(origin="lower", extent=extent, alpha=REGION_ALPHA, interpolation="bilinear", aspect="auto",
                  zorder=0)
    if data.task == "binary":
        return ax.imshow(data.probabilities[i], cmap=REGION_CMAP, vmin=0.0, vmax=1.0, **common)
    if data.task == "multiclass":
        return ax.imshow(data.region_rgba[i], **common)
    low, high = data.value_limits
    return ax.imshow(data.outputs[i], cmap=VALUE_CMAP, norm=Normalize(low, high), **common)


def _draw_grid(ax: Axes, segments: np.ndarray) -> LineCollection:
    lines = LineCollection(list(segments), colors=GRID_COLOR, linewidths=GRID_LINEWIDTH, alpha=GRID_ALPHA,
                           zorder=1)
    ax.add_collection(lines, autolim=False)
    return lines


def _marker_size(n_points: int) -> float:
    """Scatter marker area: bigger for few points, small for thousands."""
    return float(np.clip(2000.0 / max(n_points, 1), 3.0, 25.0))


def _draw_points(ax: Axes, points: np.ndarray, data: Any):
    """The samples: class colours, or the target on the value scale for a regression."""
    size = _marker_size(len(points))
    if data.classes is not None:
        colors = np.array(class_colors(data.n_classes))[data.classes]
        return ax.scatter(points[:, 0], points[:, 1], c=colors, s=size, edgecolors="none", zorder=2)
    low, high = data.value_limits
    return ax.scatter(points[:, 0], points[:, 1], c=data.targets, cmap=VALUE_CMAP, norm=Normalize(low, high),
                      s=size, edgecolors="0.15", linewidths=0.3, zorder=2)


def _class_legend(ax: Axes, names: Sequence[str], n_classes: int, loc: str = "upper right") -> Artist:
    handles = [Line2D([], [], ls="", marker="o", ms=5, color=color, label=name)
               for color, name in zip(class_colors(n_classes), names)]
    return ax.legend(handles=handles, loc=loc, fontsize="x-small", framealpha=0.7,
                     handletextpad=0.1, borderpad=0.3, labelspacing=0.3)


def _value_colorbar(ax: Axes, mappable: Any, label: str) -> Any:
    """A colour bar of the value scale beside ``ax`` (regressions)."""
    colorbar = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.02)
    colorbar.set_label(label, fontsize="small")
    colorbar.ax.tick_params(labelsize="x-small")
    return colorbar


def _layer_width(replay: Replay, layer_name: str, epoch: int) -> tuple[int, ...]:
    return tuple(np.shape(replay.outputs_at(epoch, layer_name))[1:])


def _suggest_layers(replay: Replay, epoch: int, *, exact: bool) -> list[str]:
    """Hidden layers with recorded activations that a feature space can show (2 units if ``exact``)."""
    found = []
    names = replay.reader.output_layers("activations")
    for name in names[:-1] if len(names) > 1 else names:
        try:
            width = int(np.prod(_layer_width(replay, name, epoch)))
        except (KeyError, ValueError):
            continue
        if width == 2 or (not exact and width > 2):
            found.append(name)
    return found


def _suggest_two_unit_layers(replay: Replay, epoch: int) -> list[str]:
    """Layers with recorded activations of width 2 (for error messages)."""
    return _suggest_layers(replay, epoch, exact=True)


def _check_feature_layer(replay: Replay, layer_name: str, epoch: int) -> tuple[int, ...]:
    """The per-sample output shape of a recorded layer with at least 2 values, or a clear error."""
    if not isinstance(layer_name, str):
        raise TypeError(f"layer_name={layer_name!r} must be the name of a layer (a string).")
    names = replay.layer_names
    if layer_name not in names:
        raise ValueError(f"layer_name={layer_name!r} is not a layer of this model; layers: {names}.")
    recorded = replay.reader.output_layers("activations")
    if layer_name not in recorded:
        raise ValueError(
            f"the activations of layer {layer_name!r} were not recorded, so its feature space cannot be "
            f"drawn; record them with ReplayData(..., record=[..., 'activations']). Layers with recorded "
            f"activations: {recorded}."
        )
    shape = _layer_width(replay, layer_name, epoch)
    if int(np.prod(shape)) >= 2:
        return shape
    others = [n for n in _suggest_layers(replay, epoch, exact=False) if n != layer_name]
    hint = f" Layers of this model it can show: {others}." if others else ""
    raise ValueError(
        f"layer {layer_name!r} outputs shape {shape} per sample; the feature space needs a layer with at "
        f"least 2 units (exactly 2 are drawn as they are, more through a fixed 2-D projection).{hint}"
    )


# -- the visual -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureSpaceData:
    """Everything the feature space shows, one entry per epoch (leading axis).

    Attributes
    ----------
    epochs : (E,) int
    layer_name : str
    points : (E, n, 2) float
        The layer's recorded activations on the recorded samples, on the
        plane of ``projection`` (the activations themselves for 2 units).
    classes : (n,) int or None
        Class of each sample (0 negative, 1 positive for binary); None for a
        regression.
    grid_lines : (E, L, P, 2) float or None
        The input-space grid lines mapped through the layer and projected
        (``None`` without a grid: inputs that are not 2-D, or
        ``display_grid=False``).
    probabilities : (E, R, R) or (E, R, R, k) float, or None
        Binary: probability of the positive class that the rest of the
        network gives on an ``R`` x ``R`` grid of the plane, row 0 at the
        bottom.  Multiclass: the probability of each class.  None for a
        regression or without regions.
    xlims, ylims : (E, 2) float
        Limits of each epoch; the region grid tiles exactly this rectangle.
        Every row is the same when ``scale_fixed``.
    scale_fixed : bool
    task : {'binary', 'multiclass', 'regression'}
    n_classes : int or None
    predicted : (E, R, R) int or None
        Most probable class on the region grid (classification).
    region_rgba : (E, R, R, 4) uint8 or None
        Multiclass region image: the most probable class's colour, lighter
        where the model is less sure.
    outputs : (E, R, R) float or None
        Regression: the model's (first) output on the region grid.
    targets : (n,) float or None
        Regression: each sample's (first) target, the points' colour.
    value_limits : (float, float) or None
        Regression: the colour scale of targets and outputs.
    projection : Projection
        The fixed map from the layer's values to the plane (exact for 2 units).
    axis_labels : (str, str)
    regions_are_slice : bool
        The regions are computed on the projection plane (through the mean
        activation), a slice of the layer's space, not the exact picture.
    class_names : tuple of str or None
    n_total_samples : int or None
        How many samples were recorded.  The points are fewer for a wide
        layer whose outputs were recorded for a subset of them
        (``ReplayData(output_samples=...)``); the title then says so.
        None: not known (the points are taken as every sample).
    """

    epochs: np.ndarray
    layer_name: str
    points: np.ndarray
    classes: np.ndarray | None
    grid_lines: np.ndarray | None
    probabilities: np.ndarray | None
    xlims: np.ndarray
    ylims: np.ndarray
    scale_fixed: bool
    task: str = "binary"
    n_classes: int | None = 2
    predicted: np.ndarray | None = None
    region_rgba: np.ndarray | None = None
    outputs: np.ndarray | None = None
    targets: np.ndarray | None = None
    value_limits: tuple[float, float] | None = None
    projection: Projection = field(default_factory=identity_projection)
    axis_labels: tuple[str, str] = ("h1", "h2")
    regions_are_slice: bool = False
    class_names: tuple[str, ...] | None = BINARY_NAMES
    n_total_samples: int | None = None

    def __post_init__(self) -> None:
        n_epochs = len(self.epochs)
        arrays = {"points": self.points, "xlims": self.xlims, "ylims": self.ylims}
        for name in ("grid_lines", "probabilities", "predicted", "region_rgba", "outputs"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        for name, array in arrays.items():
            if len(array) != n_epochs:
                raise ValueError(f"{name} has {len(array)} entries for {n_epochs} epochs.")
        for array in (self.epochs, self.classes, self.targets, *arrays.values()):
            _readonly(array)

    @property
    def subset(self) -> bool:
        """Whether the points are a subset of the recorded samples (see ``n_total_samples``)."""
        return self.n_total_samples is not None and self.points.shape[1] < self.n_total_samples

    @property
    def has_regions(self) -> bool:
        """Whether a background region image is drawn."""
        return self.probabilities is not None or self.outputs is not None

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


class FeatureSpace(Plotter):
    """The output of a hidden layer, epoch by epoch, with the regions of the rest of the network.

    Build it with :meth:`deepreplay.replay.Replay.build_feature_space`.  It
    shows the recorded samples mapped by the layer (coloured by class, or by
    target for a regression), the lines of a grid of the input space bent
    through the layer (2-D inputs only) and, as a background image, what the
    layers after it make of every point of that plane: the probability of
    the positive class (blue negative, green positive, white at 0.5), the
    most probable class (lighter where less sure), or the output value.

    A 2-unit layer is drawn exactly.  A wider layer is drawn on the plane of
    its first two principal components, fitted once on every epoch in range
    (the same basis for every frame); its regions are off by default, as the
    plane is only a slice of the layer's space (``display_regions=True``
    draws that slice, through the mean activation).

    A wide layer whose outputs were recorded for a subset of the samples
    (``ReplayData(output_samples=...)``, 64 by default) is fitted and drawn
    on that subset, and the title says how many of the samples it shows
    ("64 of 1797 samples").
    """

    def __init__(self, ax: Axes, data: FeatureSpaceData, *, title: str | None = None) -> None:
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        self.title = self._default_title(data) if title is None else title

    @staticmethod
    def _default_title(data: FeatureSpaceData) -> str:
        title = f"Feature Space - Layer: {data.layer_name}"
        notes = []
        if not data.projection.exact:
            notes.append(f"{data.projection.n_features} units, fixed PCA plane")
            if data.regions_are_slice:
                notes.append("regions: a slice")
        if data.subset:
            notes.append(f"{data.points.shape[1]} of {data.n_total_samples} samples")
        return title + (f"\n({'; '.join(notes)})" if notes else "")

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, layer_name: str, *, contour_points: int = 200,
                    xlim: Sequence[float] = (-1, 1), ylim: Sequence[float] = (-1, 1), scale_fixed: bool = True,
                    display_grid: bool = True, n_grid_lines: int = 11, projection: str = "auto",
                    display_regions: bool | None = None, class_names: Sequence[str] | None = None,
                    epoch_start: int | None = None, epoch_end: int | None = None,
                    title: str | None = None) -> FeatureSpace:
        """Compute the feature space of ``layer_name`` for every epoch and attach it to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
            Drawn on, never cleared.
        layer_name : str
            A layer with at least 2 units whose activations were recorded.
        contour_points : int, default 200
            Resolution (per axis) of the region grid.
        xlim, ylim : (float, float), default (-1, 1)
            Range of the *input-space* grid whose lines are bent through the
            layer (2-D inputs only).
        scale_fixed : bool, default True
            One set of limits for all epochs (covering every point and grid
            line of the range); ``False`` follows each epoch.
        display_grid : bool, default True
            Draw the bent grid lines (ignored when inputs are not 2-D).
        n_grid_lines : int, default 11
            Lines per direction.
        projection : {'auto', 'pca', 'exact'}, default 'auto'
            How the layer's values reach the plane: ``'auto'`` draws 2 units
            as they are and more on their first two principal components
            (fitted once on all epochs in range); ``'pca'`` always uses the
            principal components; ``'exact'`` needs 2 units.
        display_regions : bool, optional
            Draw the background regions.  Default: yes when the plane is the
            layer's exact space, no for a projection (where they are a slice).
            Regressions with several outputs have none.
        class_names : sequence of str, optional
            Legend names, one per class (default ``negative``/``positive``
            for binary, ``class 0``, ``class 1``, ... otherwise).
        epoch_start, epoch_end : int, optional
            Inclusive epoch range (``None``: first / last recorded).
        title : str, optional
            Axes title (default ``"Feature Space - Layer: <layer_name>"``,
            with the projection when there is one).

        Raises
        ------
        ValueError
            Unknown layer, activations not recorded, a layer with fewer than
            2 units (or not 2 with ``projection='exact'``), bad options.
        """
        _check_axes(ax)
        contour_points = compute.check_resolution("contour_points", contour_points)
        n_grid_lines = compute.check_resolution("n_grid_lines", n_grid_lines)
        xlim = compute.check_limits("xlim", xlim)
        ylim = compute.check_limits("ylim", ylim)
        scale_fixed = _check_flag("scale_fixed", scale_fixed)
        display_grid = _check_flag("display_grid", display_grid)
        display_regions = _check_optional_flag("display_regions", display_regions)
        projection = check_projection(projection)
        class_names = _check_class_names(class_names)
        title = check_title(title)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        layer_shape = _check_feature_layer(replay, layer_name, int(epochs[0]))
        width = int(np.prod(layer_shape))
        use_pca = choose_projection(projection, width, f"layer {layer_name!r}")
        task, from_logits = _model_task(replay)
        class_names = _class_names(class_names, task)
        if display_regions is None:
            display_regions = not use_pca and (task.is_classification or task.n_outputs == 1)
        elif display_regions and not task.is_classification and task.n_outputs != 1:
            raise ValueError(
                f"display_regions=True: this model is {task.describe()}; regions show one value, so they need "
                "a classifier or a single-output regression. Use display_regions=False."
            )

        inputs = np.asarray(replay.inputs)
        with_grid = display_grid and inputs.ndim == 2 and inputs.shape[1] == 2
        # A wide layer's outputs may be recorded for a subset of the samples
        # (ReplayData(output_samples=...)): the plane is fitted and drawn on those.
        rows = np.asarray(replay.output_rows(layer_name))
        n_epochs, n_samples = len(epochs), len(rows)

        def activations(epoch: int) -> np.ndarray:
            return np.asarray(replay.outputs_at(int(epoch), layer_name)).reshape(n_samples, width)

        plane = fit_pca(activations(e) for e in epochs) if use_pca else identity_projection()

        points = np.empty((n_epochs, n_samples, 2), dtype=np.float32)
        xlims = np.empty((n_epochs, 2), dtype=np.float64)
        ylims = np.empty((n_epochs, 2), dtype=np.float64)
        regions = _RegionBuffer(task, from_logits, n_epochs, contour_points) if display_regions else None
        bent = None
        if with_grid:
            lines = compute.grid_lines(xlim, ylim, n_lines=n_grid_lines)
            flat_lines = lines.reshape(-1, 2)
            head = replay.layer_function(layer_name)
            bent = np.empty((n_epochs, *lines.shape), dtype=np.float32)
        tail = replay.tail_function(layer_name) if regions is not None else None

        def fill_regions(i: int) -> None:  # needs the model at epochs[i] and the limits of i
            grid = _region_grid(xlims[i], ylims[i], contour_points)
            values = plane.inverse_transform(grid).astype(np.float32).reshape(len(grid), *layer_shape)
            regions.set(i, tail(values))

        def limits(i: int | slice) -> tuple[tuple[float, float], tuple[float, float]]:
            return compute.padded_limits([points[i]] if bent is None else [points[i], bent[i]])

        # One pass over the epochs; a fixed scale needs every epoch's points and
        # lines before its limits are known, so its regions take a second pass.
        for i, epoch in enumerate(epochs):
            points[i] = plane.transform(activations(epoch))
            if bent is not None or (regions is not None and not scale_fixed):
                replay.model_at(int(epoch))
            if bent is not None:
                bent[i] = plane.transform(head(flat_lines).reshape(len(flat_lines), width)).reshape(lines.shape)
            if not scale_fixed:
                xlims[i], ylims[i] = limits(i)
                if regions is not None:
                    fill_regions(i)
        if scale_fixed:
            xlims[:], ylims[:] = limits(slice(None))
            if regions is not None:
                for i in reversed(range(n_epochs)):  # the model is usually at the last epoch already
                    replay.model_at(int(epochs[i]))
                    fill_regions(i)

        targets = None if task.is_classification else _target_values(replay)[rows]
        classes = _class_labels(replay, task)
        data = FeatureSpaceData(
            epochs=np.array(epochs), layer_name=layer_name, points=points,
            classes=None if classes is None else classes[rows],
            grid_lines=bent, probabilities=None if regions is None else regions.probabilities,
            xlims=xlims, ylims=ylims, scale_fixed=scale_fixed, task=task.kind, n_classes=task.n_classes,
            predicted=None if regions is None else regions.predicted,
            region_rgba=None if regions is None else regions.rgba,
            outputs=None if regions is None else regions.outputs, targets=targets,
            value_limits=None if targets is None else _value_limits(targets), projection=plane,
            axis_labels=plane.axis_labels(("h1", "h2")), regions_are_slice=regions is not None and use_pca,
            class_names=class_names, n_total_samples=len(inputs),
        )
        return cls(ax, data, title=title)

    # -- drawing -----------------------------------------------------------------------------------------
    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        first = 0
        extent = _extent(d.xlims[first], d.ylims[first])
        self.regions = _draw_regions(ax, d, first, extent) if d.has_regions else None
        self.grid = None if d.grid_lines is None else _draw_grid(ax, d.grid_lines[first])
        self.points = _draw_points(ax, d.points[first], d)
        ax.set_xlim(*d.xlims[first])
        ax.set_ylim(*d.ylims[first])
        ax.set_xlabel(d.axis_labels[0])
        ax.set_ylabel(d.axis_labels[1])
        ax.set_title(self.title)
        if d.classes is not None:
            corner = compute.emptiest_corner(d.points, d.xlims[first], d.ylims[first]) if d.scale_fixed \
                else "upper right"
            self.legend = _class_legend(ax, d.class_names, d.n_classes, corner)
            self.colorbar = None
        else:
            self.legend = None
            self.colorbar = _value_colorbar(ax, self.points, "target (points), output (background)"
                                            if self.regions is not None else "target")

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        i = d.index(epoch)
        self.points.set_offsets(d.points[i])
        changed: list[Artist] = [self.points]
        if self.regions is not None:
            self.regions.set_data(_region_frame(d, i))
            changed.insert(0, self.regions)
        if self.grid is not None:
            self.grid.set_segments(list(d.grid_lines[i]))
            changed.append(self.grid)
        if not d.scale_fixed:
            if self.regions is not None:
                self.regions.set_extent(_extent(d.xlims[i], d.ylims[i]))
            self.ax.set_xlim(*d.xlims[i])
            self.ax.set_ylim(*d.ylims[i])
        return changed
