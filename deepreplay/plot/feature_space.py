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
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from .. import compute
from ..projection import (
    Projection,
    check_projection,
    choose_projection,
    fit_pca,
    identity_projection,
)
from .base import Plotter
from .common import (
    BINARY_NAMES,
    INPUT_PAD,
    check_axes,
    check_class_names,
    check_flag,
    check_optional_flag,
    check_title,
    class_legend,
    draw_grid,
    draw_points,
    draw_regions,
    layer_width,
    model_task,
    readonly,
    region_extent,
    region_frame,
    region_grid,
    RegionBuffer,
    resolve_class_names,
    sample_classes,
    suggest_layers,
    target_label,
    target_values,
    value_colorbar,
    value_limits,
)

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["FeatureSpace", "FeatureSpaceData"]

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
    shape = layer_width(replay, layer_name, epoch)
    if int(np.prod(shape)) >= 2:
        return shape
    others = [n for n in suggest_layers(replay, epoch, exact=False) if n != layer_name]
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
    target_label : str
        Regression: what the points' colour shows ("target", or which of
        several target columns).
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
    target_label: str = "target"

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
            readonly(array)

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
    the positive class (blue negative, green positive, white at 0.5; for a
    hinge loss's raw score, white at 0, full colour beyond -1 and 1), the
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
                    xlim: Sequence[float] | None = None, ylim: Sequence[float] | None = None,
                    scale_fixed: bool = True,
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
        xlim, ylim : (float, float), optional
            Range of the *input-space* grid whose lines are bent through the
            layer (2-D inputs only).  Default: the recorded inputs' range
            plus 10% on each side (DeepReplay 0.1 used (-1, 1) whatever the
            data; pass ``xlim=(-1, 1), ylim=(-1, 1)`` for that).
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
        check_axes(ax)
        contour_points = compute.check_resolution("contour_points", contour_points)
        n_grid_lines = compute.check_resolution("n_grid_lines", n_grid_lines)
        xlim = None if xlim is None else compute.check_limits("xlim", xlim)
        ylim = None if ylim is None else compute.check_limits("ylim", ylim)
        scale_fixed = check_flag("scale_fixed", scale_fixed)
        display_grid = check_flag("display_grid", display_grid)
        display_regions = check_optional_flag("display_regions", display_regions)
        projection = check_projection(projection)
        class_names = check_class_names(class_names)
        title = check_title(title)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        layer_shape = _check_feature_layer(replay, layer_name, int(epochs[0]))
        width = int(np.prod(layer_shape))
        use_pca = choose_projection(projection, width, f"layer {layer_name!r}")
        task, from_logits = model_task(replay)
        class_names = resolve_class_names(class_names, task)
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
        regions = RegionBuffer(task, from_logits, n_epochs, contour_points) if display_regions else None
        bent = None
        if with_grid:
            auto_x, auto_y = compute.padded_limits([inputs], pad=INPUT_PAD)
            xlim = auto_x if xlim is None else xlim
            ylim = auto_y if ylim is None else ylim
            lines = compute.grid_lines(xlim, ylim, n_lines=n_grid_lines)
            flat_lines = lines.reshape(-1, 2)
            head = replay.layer_function(layer_name)
            bent = np.empty((n_epochs, *lines.shape), dtype=np.float32)
        tail = replay.tail_function(layer_name) if regions is not None else None

        def fill_regions(i: int) -> None:  # needs the model at epochs[i] and the limits of i
            grid = region_grid(xlims[i], ylims[i], contour_points)
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

        targets = None if task.is_classification else target_values(replay)[rows]
        classes = sample_classes(replay, task)
        data = FeatureSpaceData(
            epochs=np.array(epochs), layer_name=layer_name, points=points,
            classes=None if classes is None else classes[rows],
            grid_lines=bent, probabilities=None if regions is None else regions.probabilities,
            xlims=xlims, ylims=ylims, scale_fixed=scale_fixed, task=task.kind, n_classes=task.n_classes,
            predicted=None if regions is None else regions.predicted,
            region_rgba=None if regions is None else regions.rgba,
            outputs=None if regions is None else regions.outputs, targets=targets,
            value_limits=None if targets is None else value_limits(targets), projection=plane,
            axis_labels=plane.axis_labels(("h1", "h2")), regions_are_slice=regions is not None and use_pca,
            class_names=class_names, n_total_samples=len(inputs), target_label=target_label(replay, task),
        )
        return cls(ax, data, title=title)

    # -- drawing -----------------------------------------------------------------------------------------
    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        first = 0
        extent = region_extent(d.xlims[first], d.ylims[first])
        self.regions = draw_regions(ax, d, first, extent) if d.has_regions else None
        self.grid = None if d.grid_lines is None else draw_grid(ax, d.grid_lines[first])
        self.points = draw_points(ax, d.points[first], d)
        ax.set_xlim(*d.xlims[first])
        ax.set_ylim(*d.ylims[first])
        ax.set_xlabel(d.axis_labels[0])
        ax.set_ylabel(d.axis_labels[1])
        ax.set_title(self.title)
        if d.classes is not None:
            corner = compute.emptiest_corner(d.points, d.xlims[first], d.ylims[first]) if d.scale_fixed \
                else "upper right"
            self.legend = class_legend(ax, d.class_names, d.n_classes, corner)
            self.colorbar = None
        else:
            self.legend = None
            self.colorbar = value_colorbar(ax, self.points, f"{d.target_label} (points), output (background)"
                                            if self.regions is not None else d.target_label)

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        i = d.index(epoch)
        self.points.set_offsets(d.points[i])
        changed: list[Artist] = [self.points]
        if self.regions is not None:
            self.regions.set_data(region_frame(d, i))
            changed.insert(0, self.regions)
        if self.grid is not None:
            self.grid.set_segments(list(d.grid_lines[i]))
            changed.append(self.grid)
        if not d.scale_fixed:
            if self.regions is not None:
                self.regions.set_extent(region_extent(d.xlims[i], d.ylims[i]))
            self.ax.set_xlim(*d.xlims[i])
            self.ax.set_ylim(*d.ylims[i])
        return changed
