"""Feature space of a 2-unit layer: the recorded points, the input grid bent
through the layer, and the decision regions of the rest of the network.

This is the "twisted and turned" space of the *Activation Functions* post: a
2-unit hidden layer maps the inputs to a plane where the output layer draws a
straight boundary.  Everything is computed up front by
:meth:`FeatureSpace.from_replay`; drawing only updates artists created once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.lines import Line2D

from .. import compute
from .base import CLASS_COLORS, NEGATIVE_COLOR, POSITIVE_COLOR, Plotter

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


# -- pure-NumPy helpers (shared with decision_boundary) -------------------------------------------
def _region_grid(xlim: Sequence[float], ylim: Sequence[float], n: int) -> np.ndarray:
    """Centres of an ``n`` x ``n`` tiling of the rectangle ``xlim`` x ``ylim``: shape (n*n, 2), float32.

    Row ``i * n + j`` is the cell in row ``i`` (from the bottom) and column
    ``j``, so probabilities computed on these points reshape to ``(n, n)`` and
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


def _check_axes(ax: object) -> None:
    """Fail before any computation when ``ax`` is not an Axes (the base class checks it again)."""
    if not isinstance(ax, Axes):
        raise TypeError(f"expected a Matplotlib Axes, got {type(ax).__name__}; create one with plt.subplots().")


def _check_title(title: object) -> str | None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title={title!r} must be a string or None.")
    return title


def _binary_classes(replay: Replay) -> np.ndarray:
    """Class (0 or 1) of each recorded sample; a clear error for non-binary problems."""
    classes = compute.class_labels(replay.targets)
    found = np.unique(classes)
    if found.size and (found.min() < 0 or found.max() > 1):
        raise ValueError(
            f"the targets have classes {found.tolist()}; the decision regions support binary "
            "classification only for now (classes 0 and 1: one sigmoid output or a 2-unit softmax)."
        )
    return classes.astype(np.int64)


def _check_binary_output(replay: Replay) -> None:
    """The model must end in one sigmoid unit or a 2-unit softmax."""
    try:
        width = replay.model.outputs[0].shape[-1]
    except (AttributeError, IndexError, TypeError, ValueError):
        return  # unknown output shape: let the computation speak for itself
    if width not in (1, 2):
        raise ValueError(
            f"the model has {width} outputs; the decision regions support binary models only for now "
            "(a single sigmoid output, or a 2-unit softmax)."
        )


def _class_legend(ax: Axes) -> Artist:
    handles = [
        Line2D([], [], ls="", marker="o", ms=5, color=color, label=label)
        for color, label in zip(CLASS_COLORS, ("negative", "positive"))
    ]
    return ax.legend(handles=handles, loc="upper right", fontsize="x-small", framealpha=0.7,
                     handletextpad=0.1, borderpad=0.3, labelspacing=0.3)


def _marker_size(n_points: int) -> float:
    """Scatter marker area: bigger for few points, small for thousands."""
    return float(np.clip(2000.0 / max(n_points, 1), 3.0, 25.0))


def _draw_regions(ax: Axes, probabilities: np.ndarray, extent: tuple[float, float, float, float]):
    return ax.imshow(probabilities, origin="lower", extent=extent, cmap=REGION_CMAP, vmin=0.0, vmax=1.0,
                     alpha=REGION_ALPHA, interpolation="bilinear", aspect="auto", zorder=0)


def _draw_grid(ax: Axes, segments: np.ndarray) -> LineCollection:
    lines = LineCollection(list(segments), colors=GRID_COLOR, linewidths=GRID_LINEWIDTH, alpha=GRID_ALPHA,
                           zorder=1)
    ax.add_collection(lines, autolim=False)
    return lines


def _draw_points(ax: Axes, points: np.ndarray, classes: np.ndarray):
    colors = np.array(CLASS_COLORS)[classes]
    return ax.scatter(points[:, 0], points[:, 1], c=colors, s=_marker_size(len(points)), edgecolors="none",
                      zorder=2)


def _suggest_two_unit_layers(replay: Replay, epoch: int) -> list[str]:
    """Layers with recorded activations of width 2 (for error messages)."""
    found = []
    for name in replay.reader.output_layers("activations"):
        try:
            shape = replay.outputs_at(epoch, name).shape[1:]
        except (KeyError, ValueError):
            continue
        if tuple(shape) == (2,):
            found.append(name)
    return found


def _check_feature_layer(replay: Replay, layer_name: str, epoch: int) -> None:
    """A recorded 2-unit layer, or a clear ValueError."""
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
    shape = tuple(replay.outputs_at(epoch, layer_name).shape[1:])
    if shape == (2,):
        return
    others = [n for n in _suggest_two_unit_layers(replay, epoch) if n != layer_name]
    hint = f" 2-unit layers of this model: {others}." if others else ""
    if len(shape) == 1 and shape[0] > 2:
        raise ValueError(
            f"layer {layer_name!r} has {shape[0]} units; the feature space shows 2-unit layers only. Wider "
            "layers need a projection to 2-D, which is not available yet: add a 2-unit layer (e.g. "
            "keras.layers.Dense(2, name='features')) before the output layer and plot its feature space, "
            f"as the DeepReplay posts did.{hint}"
        )
    raise ValueError(
        f"layer {layer_name!r} outputs shape {shape} per sample; the feature space needs a layer with "
        f"exactly 2 units (output shape (2,)).{hint}"
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
        The layer's recorded activations on the recorded samples.
    classes : (n,) int
        Class (0 negative, 1 positive) of each sample.
    grid_lines : (E, L, P, 2) float or None
        The input-space grid lines mapped through the layer (``None`` without
        a grid: inputs that are not 2-D, or ``display_grid=False``).
    probabilities : (E, R, R) float
        Probability of the positive class given by the rest of the network on
        an ``R`` x ``R`` grid of the feature space, row 0 at the bottom.
    xlims, ylims : (E, 2) float
        Feature-space limits of each epoch; the region grid tiles exactly this
        rectangle.  Every row is the same when ``scale_fixed``.
    scale_fixed : bool
    """

    epochs: np.ndarray
    layer_name: str
    points: np.ndarray
    classes: np.ndarray
    grid_lines: np.ndarray | None
    probabilities: np.ndarray
    xlims: np.ndarray
    ylims: np.ndarray
    scale_fixed: bool

    def __post_init__(self) -> None:
        n_epochs = len(self.epochs)
        arrays = {"points": self.points, "probabilities": self.probabilities, "xlims": self.xlims,
                  "ylims": self.ylims}
        if self.grid_lines is not None:
            arrays["grid_lines"] = self.grid_lines
        for name, array in arrays.items():
            if len(array) != n_epochs:
                raise ValueError(f"{name} has {len(array)} entries for {n_epochs} epochs.")
        for array in (self.epochs, self.classes, *arrays.values()):
            _readonly(array)

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


class FeatureSpace(Plotter):
    """The output of a 2-unit layer, epoch by epoch, with the decision regions of the rest of the network.

    Build it with :meth:`deepreplay.replay.Replay.build_feature_space`.  It
    shows the recorded samples mapped by the layer (coloured by class), the
    lines of a grid of the input space bent through the layer (2-D inputs
    only) and, as a background image, the probability of the positive class
    that the layers after it assign to every point of that space: blue for
    negative, green for positive, white at the 0.5 boundary.
    """

    def __init__(self, ax: Axes, data: FeatureSpaceData, *, title: str | None = None) -> None:
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        self.title = f"Feature Space - Layer: {data.layer_name}" if title is None else title

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, layer_name: str, *, contour_points: int = 200,
                    xlim: Sequence[float] = (-1, 1), ylim: Sequence[float] = (-1, 1), scale_fixed: bool = True,
                    display_grid: bool = True, n_grid_lines: int = 11, epoch_start: int | None = None,
                    epoch_end: int | None = None, title: str | None = None) -> FeatureSpace:
        """Compute the feature space of ``layer_name`` for every epoch and attach it to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
            Drawn on, never cleared.
        layer_name : str
            A layer with 2 units whose activations were recorded.
        contour_points : int, default 200
            Resolution (per axis) of the decision-region grid.
        xlim, ylim : (float, float), default (-1, 1)
            Range of the *input-space* grid whose lines are bent through the
            layer (2-D inputs only).
        scale_fixed : bool, default True
            One set of feature-space limits for all epochs (covering every
            point and grid line of the range); ``False`` follows each epoch.
        display_grid : bool, default True
            Draw the bent grid lines (ignored when inputs are not 2-D).
        n_grid_lines : int, default 11
            Lines per direction.
        epoch_start, epoch_end : int, optional
            Inclusive epoch range (``None``: first / last recorded).
        title : str, optional
            Axes title (default ``"Feature Space - Layer: <layer_name>"``).

        Raises
        ------
        ValueError
            Unknown layer, activations not recorded, a layer not 2 units wide,
            a model that is not a binary classifier, bad options.
        """
        _check_axes(ax)
        contour_points = compute.check_resolution("contour_points", contour_points)
        n_grid_lines = compute.check_resolution("n_grid_lines", n_grid_lines)
        xlim = compute.check_limits("xlim", xlim)
        ylim = compute.check_limits("ylim", ylim)
        scale_fixed = _check_flag("scale_fixed", scale_fixed)
        display_grid = _check_flag("display_grid", display_grid)
        title = _check_title(title)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        _check_feature_layer(replay, layer_name, int(epochs[0]))
        classes = _binary_classes(replay)
        _check_binary_output(replay)

        inputs = np.asarray(replay.inputs)
        with_grid = display_grid and inputs.ndim == 2 and inputs.shape[1] == 2
        tail = replay.tail_function(layer_name)
        n_epochs, n_samples = len(epochs), len(inputs)

        points = np.empty((n_epochs, n_samples, 2), dtype=np.float32)
        probabilities = np.empty((n_epochs, contour_points, contour_points), dtype=np.float32)
        xlims = np.empty((n_epochs, 2), dtype=np.float64)
        ylims = np.empty((n_epochs, 2), dtype=np.float64)
        bent = None
        if with_grid:
            lines = compute.grid_lines(xlim, ylim, n_lines=n_grid_lines)
            flat_lines = lines.reshape(-1, 2)
            head = replay.layer_function(layer_name)
            bent = np.empty((n_epochs, *lines.shape), dtype=np.float32)

        def regions(i: int) -> None:  # needs the model at epochs[i] and the limits of i
            grid = _region_grid(xlims[i], ylims[i], contour_points)
            probabilities[i] = compute.positive_probability(tail(grid)).reshape(contour_points, contour_points)

        def limits(i: int | slice) -> tuple[tuple[float, float], tuple[float, float]]:
            return compute.padded_limits([points[i]] if bent is None else [points[i], bent[i]])

        # One pass over the epochs; a fixed scale needs every epoch's points and
        # lines before its limits are known, so its regions take a second pass.
        for i, epoch in enumerate(epochs):
            points[i] = np.asarray(replay.outputs_at(int(epoch), layer_name)).reshape(n_samples, 2)
            if bent is not None or not scale_fixed:
                replay.model_at(int(epoch))
            if bent is not None:
                bent[i] = head(flat_lines).reshape(lines.shape)
            if not scale_fixed:
                xlims[i], ylims[i] = limits(i)
                regions(i)
        if scale_fixed:
            xlims[:], ylims[:] = limits(slice(None))
            for i in reversed(range(n_epochs)):  # the model is usually at the last epoch already
                replay.model_at(int(epochs[i]))
                regions(i)

        data = FeatureSpaceData(epochs=np.array(epochs), layer_name=layer_name, points=points,
                                classes=classes, grid_lines=bent, probabilities=probabilities,
                                xlims=xlims, ylims=ylims, scale_fixed=scale_fixed)
        return cls(ax, data, title=title)

    # -- drawing -----------------------------------------------------------------------------------------
    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        first = 0
        self.regions = _draw_regions(ax, d.probabilities[first], _extent(d.xlims[first], d.ylims[first]))
        self.grid = None if d.grid_lines is None else _draw_grid(ax, d.grid_lines[first])
        self.points = _draw_points(ax, d.points[first], d.classes)
        ax.set_xlim(*d.xlims[first])
        ax.set_ylim(*d.ylims[first])
        ax.set_xlabel("h1")
        ax.set_ylabel("h2")
        ax.set_title(self.title)
        self.legend = _class_legend(ax)

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        i = d.index(epoch)
        self.points.set_offsets(d.points[i])
        self.regions.set_data(d.probabilities[i])
        changed: list[Artist] = [self.regions, self.points]
        if self.grid is not None:
            self.grid.set_segments(list(d.grid_lines[i]))
            changed.append(self.grid)
        if not d.scale_fixed:
            self.regions.set_extent(_extent(d.xlims[i], d.ylims[i]))
            self.ax.set_xlim(*d.xlims[i])
            self.ax.set_ylim(*d.ylims[i])
        return changed
