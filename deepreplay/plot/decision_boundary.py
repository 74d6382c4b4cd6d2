"""Decision boundary in the input space: the recorded points, an optional grid
and the decision regions of the whole model, epoch by epoch.

This is the "non-linear boundary in the original feature space" of the
*Activation Functions* post (bottom row of its Figure 9).  With 2-D inputs
the input plane is drawn exactly.  With more input dimensions the plane is
that of the first two principal components of the recorded inputs: the
points are projected on it, and the regions are the model's predictions on
the plane itself (through the mean input), mapped back to the input space —
a *slice* of the input space, labelled as such.

Binary models show the probability of the positive class (blue, white at
0.5, green; for a hinge loss's raw score, white at 0 and full colour beyond
the margins -1 and 1); multiclass models the most probable class in its colour,
lighter where the model is less sure.  Everything is computed up front by
:meth:`DecisionBoundary.from_replay`; drawing only updates the region image.
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
    INPUT_PAD,
    BINARY_NAMES,
    check_axes,
    check_class_names,
    check_flag,
    check_title,
    class_legend,
    draw_grid,
    draw_points,
    draw_regions,
    model_task,
    readonly,
    region_extent,
    region_frame,
    region_grid,
    RegionBuffer,
    resolve_class_names,
    sample_classes,
    suggest_layers,
)

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["DecisionBoundary", "DecisionBoundaryData"]



@dataclass(frozen=True)
class DecisionBoundaryData:
    """Everything the decision boundary shows.

    Attributes
    ----------
    epochs : (E,) int
    points : (n, 2) float
        The recorded inputs on the plane (the same for every epoch).
    classes : (n,) int
        Class of each sample (0 negative, 1 positive for binary).
    grid_lines : (L, P, 2) float or None
        Straight lines of the grid on the plane (``None`` with ``display_grid=False``).
    probabilities : (E, R, R) or (E, R, R, k) float
        Binary: model probability of the positive class on an ``R`` x ``R``
        grid tiling ``xlim`` x ``ylim``, row 0 at the bottom.  Multiclass:
        the probability of each class.
    xlim, ylim : (2,) float
        Axes limits, fixed for all epochs.
    task : {'binary', 'multiclass'}
    n_classes : int
    predicted : (E, R, R) int
        The model's most probable class on the grid.
    region_rgba : (E, R, R, 4) uint8 or None
        Multiclass region image (class colour, lighter where less sure).
    projection : Projection
        From the inputs (flattened) to the plane: exact for 2-D inputs, else
        the first two principal components of the recorded inputs.
    axis_labels : (str, str)
    is_slice : bool
        The regions are the model's outputs on the plane through the mean
        input: a 2-D slice of a higher-dimensional input space.
    class_names : tuple of str
    """

    epochs: np.ndarray
    points: np.ndarray
    classes: np.ndarray
    grid_lines: np.ndarray | None
    probabilities: np.ndarray
    xlim: np.ndarray
    ylim: np.ndarray
    task: str = "binary"
    n_classes: int = 2
    predicted: np.ndarray | None = None
    region_rgba: np.ndarray | None = None
    projection: Projection = field(default_factory=identity_projection)
    axis_labels: tuple[str, str] = ("x1", "x2")
    is_slice: bool = False
    class_names: tuple[str, ...] = BINARY_NAMES

    def __post_init__(self) -> None:
        if len(self.probabilities) != len(self.epochs):
            raise ValueError(f"probabilities has {len(self.probabilities)} entries for {len(self.epochs)} epochs.")
        if len(self.points) != len(self.classes):
            raise ValueError(f"points has {len(self.points)} samples but classes has {len(self.classes)}.")
        for array in (self.epochs, self.points, self.classes, self.grid_lines, self.probabilities,
                      self.xlim, self.ylim, self.predicted, self.region_rgba):
            readonly(array)

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis of ``probabilities``."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


class DecisionBoundary(Plotter):
    """The input space with the model's decision regions, epoch by epoch.

    Build it with :meth:`deepreplay.replay.Replay.build_decision_boundary`.
    The recorded samples stay where they are; the background shows what the
    model predicts at every point of the plane: for a binary model the
    probability of the positive class (blue for negative, green for
    positive, white at the 0.5 boundary), for more classes the most probable
    class in its colour, lighter where the model is less sure.  Inputs with
    more than 2 dimensions are drawn on the plane of their first two
    principal components, a slice through the mean input (see the title and
    axis labels).  Classification models only.
    """

    def __init__(self, ax: Axes, data: DecisionBoundaryData, *, title: str | None = None) -> None:
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        if title is None:
            title = "Decision Boundary"
            if data.is_slice:
                title += f"\n(slice: PC1-PC2 plane of {data.projection.n_features} inputs, through their mean)"
        self.title = title

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, *, contour_points: int = 200,
                    xlim: Sequence[float] | None = None, ylim: Sequence[float] | None = None,
                    display_grid: bool = True, n_grid_lines: int = 11, projection: str = "auto",
                    class_names: Sequence[str] | None = None, epoch_start: int | None = None,
                    epoch_end: int | None = None, title: str | None = None) -> DecisionBoundary:
        """Compute the decision regions of every epoch and attach them to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
            Drawn on, never cleared.
        contour_points : int, default 200
            Resolution (per axis) of the decision-region grid.
        xlim, ylim : (float, float), optional
            Limits on the plane (input units for 2-D inputs, principal
            component units otherwise); ``None`` covers the recorded inputs, padded.
        display_grid : bool, default True
            Draw straight grid lines over the plane.
        n_grid_lines : int, default 11
            Lines per direction.
        projection : {'auto', 'pca', 'exact'}, default 'auto'
            ``'auto'``: 2-D inputs as they are, more dimensions on the plane of
            their first two principal components (a slice); ``'pca'``: that
            plane always; ``'exact'``: 2-D inputs only.
        class_names : sequence of str, optional
            Legend names, one per class.
        epoch_start, epoch_end : int, optional
            Inclusive epoch range (``None``: first / last recorded).
        title : str, optional
            Axes title (default ``"Decision Boundary"``, saying when it is a slice).

        Raises
        ------
        ValueError
            A model that is not a classifier (with the visuals to use
            instead), inputs with fewer than 2 values, bad options.
        """
        check_axes(ax)
        contour_points = compute.check_resolution("contour_points", contour_points)
        n_grid_lines = compute.check_resolution("n_grid_lines", n_grid_lines)
        display_grid = check_flag("display_grid", display_grid)
        projection = check_projection(projection)
        class_names = check_class_names(class_names)
        title = check_title(title)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        inputs = np.asarray(replay.inputs)
        sample_shape = inputs.shape[1:]
        n_features = int(np.prod(sample_shape))
        if n_features < 2:
            layers = suggest_layers(replay, int(epochs[0]), exact=False)
            hint = f" Layers it can show: {layers}." if layers else ""
            raise ValueError(
                f"the decision boundary is drawn on a plane of the inputs, which needs at least 2 input values "
                f"per sample; these samples have shape {sample_shape}. Use the feature space of a hidden layer "
                f"instead: replay.build_feature_space(ax, layer_name=...).{hint}"
            )
        use_pca = choose_projection(projection, n_features, "the inputs")
        task, from_logits = model_task(replay)
        if not task.is_classification:
            raise ValueError(
                f"the decision boundary shows the classes a classifier predicts, but this model is "
                f"{task.describe()} (targets that are not class labels for its outputs). For a regression use "
                "replay.build_feature_space(ax, layer_name=...) (points and outputs on a colour scale), "
                "replay.build_loss_histogram(ax) or replay.build_loss_and_metric(ax, metric)."
            )
        class_names = resolve_class_names(class_names, task)
        flat_inputs = inputs.reshape(len(inputs), n_features).astype(np.float64)
        plane = fit_pca([flat_inputs]) if use_pca else identity_projection()
        points = plane.transform(flat_inputs)
        auto_x, auto_y = compute.padded_limits([points], pad=INPUT_PAD)
        xlim = auto_x if xlim is None else compute.check_limits("xlim", xlim)
        ylim = auto_y if ylim is None else compute.check_limits("ylim", ylim)

        grid = plane.inverse_transform(region_grid(xlim, ylim, contour_points).astype(np.float64))
        grid = grid.astype(np.float32).reshape(len(grid), *sample_shape)
        regions = RegionBuffer(task, from_logits, len(epochs), contour_points)
        for i, epoch in enumerate(epochs):
            # The model's outputs on the grid (of the replay's output, for a model with several outputs).
            regions.set(i, replay.predict_proba(X=grid, epoch=int(epoch)))

        lines = compute.grid_lines(xlim, ylim, n_lines=n_grid_lines) if display_grid else None
        data = DecisionBoundaryData(
            epochs=np.array(epochs), points=points.astype(np.float32), classes=sample_classes(replay, task),
            grid_lines=lines, probabilities=regions.probabilities, xlim=np.array(xlim, dtype=np.float64),
            ylim=np.array(ylim, dtype=np.float64), task=task.kind, n_classes=task.n_classes,
            predicted=regions.predicted, region_rgba=regions.rgba, projection=plane,
            axis_labels=plane.axis_labels(("x1", "x2")), is_slice=use_pca, class_names=class_names,
        )
        return cls(ax, data, title=title)

    # -- drawing -----------------------------------------------------------------------------------------
    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        self.regions = draw_regions(ax, d, 0, region_extent(d.xlim, d.ylim))
        self.grid = None if d.grid_lines is None else draw_grid(ax, d.grid_lines)
        self.points = draw_points(ax, d.points, d)
        ax.set_xlim(*d.xlim)
        ax.set_ylim(*d.ylim)
        ax.set_xlabel(d.axis_labels[0])
        ax.set_ylabel(d.axis_labels[1])
        ax.set_title(self.title)
        self.legend = class_legend(ax, d.class_names, d.n_classes, compute.emptiest_corner(d.points, d.xlim, d.ylim))

    def _update(self, epoch: int) -> list[Artist]:
        self.regions.set_data(region_frame(self.data, self.data.index(epoch)))
        return [self.regions]
