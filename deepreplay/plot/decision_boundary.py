"""Decision boundary in the (2-D) input space: the recorded points, an optional
grid and the decision regions of the whole model, epoch by epoch.

This is the "non-linear boundary in the original feature space" of the
*Activation Functions* post (bottom row of its Figure 9).  Everything is
computed up front by :meth:`DecisionBoundary.from_replay`; drawing only
updates the region image.
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
from .feature_space import (
    _binary_classes,
    _check_axes,
    _check_binary_output,
    _check_flag,
    _check_title,
    _class_legend,
    _draw_grid,
    _draw_points,
    _draw_regions,
    _extent,
    _readonly,
    _region_grid,
    _suggest_two_unit_layers,
)

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["DecisionBoundary", "DecisionBoundaryData"]

#: Padding (fraction of the data range) of limits taken from the recorded inputs.
INPUT_PAD = 0.1


@dataclass(frozen=True)
class DecisionBoundaryData:
    """Everything the decision boundary shows.

    Attributes
    ----------
    epochs : (E,) int
    points : (n, 2) float
        The recorded inputs (the same for every epoch).
    classes : (n,) int
        Class (0 negative, 1 positive) of each sample.
    grid_lines : (L, P, 2) float or None
        Straight lines of the input grid (``None`` with ``display_grid=False``).
    probabilities : (E, R, R) float
        Model probability of the positive class on an ``R`` x ``R`` grid
        tiling ``xlim`` x ``ylim``, row 0 at the bottom.
    xlim, ylim : (2,) float
        Axes limits, fixed for all epochs.
    """

    epochs: np.ndarray
    points: np.ndarray
    classes: np.ndarray
    grid_lines: np.ndarray | None
    probabilities: np.ndarray
    xlim: np.ndarray
    ylim: np.ndarray

    def __post_init__(self) -> None:
        if len(self.probabilities) != len(self.epochs):
            raise ValueError(f"probabilities has {len(self.probabilities)} entries for {len(self.epochs)} epochs.")
        if len(self.points) != len(self.classes):
            raise ValueError(f"points has {len(self.points)} samples but classes has {len(self.classes)}.")
        for array in (self.epochs, self.points, self.classes, self.grid_lines, self.probabilities,
                      self.xlim, self.ylim):
            _readonly(array)

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis of ``probabilities``."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


class DecisionBoundary(Plotter):
    """The input space with the model's decision regions, epoch by epoch (2-D inputs only).

    Build it with :meth:`deepreplay.replay.Replay.build_decision_boundary`.
    The recorded samples stay where they are; the background shows the
    probability of the positive class the model assigns to every point of
    the input space: blue for negative, green for positive, white at the 0.5
    boundary.
    """

    def __init__(self, ax: Axes, data: DecisionBoundaryData, *, title: str | None = None) -> None:
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        self.title = "Decision Boundary" if title is None else title

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, *, contour_points: int = 200,
                    xlim: Sequence[float] | None = None, ylim: Sequence[float] | None = None,
                    display_grid: bool = True, n_grid_lines: int = 11, epoch_start: int | None = None,
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
            Input-space limits; ``None`` covers the recorded inputs, padded.
        display_grid : bool, default True
            Draw straight grid lines over the input space.
        n_grid_lines : int, default 11
            Lines per direction.
        epoch_start, epoch_end : int, optional
            Inclusive epoch range (``None``: first / last recorded).
        title : str, optional
            Axes title (default ``"Decision Boundary"``).

        Raises
        ------
        ValueError
            Inputs that are not 2-D, a model that is not a binary classifier,
            bad options.
        """
        _check_axes(ax)
        contour_points = compute.check_resolution("contour_points", contour_points)
        n_grid_lines = compute.check_resolution("n_grid_lines", n_grid_lines)
        display_grid = _check_flag("display_grid", display_grid)
        title = _check_title(title)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        inputs = np.asarray(replay.inputs)
        if inputs.ndim != 2 or inputs.shape[1] != 2:
            layers = _suggest_two_unit_layers(replay, int(epochs[0]))
            hint = (f" 2-unit layers of this model: {layers}." if layers else
                    " Add a 2-unit layer (e.g. keras.layers.Dense(2, name='features')) before the output layer.")
            raise ValueError(
                f"the decision boundary is drawn in the input space, which needs 2-D inputs; these samples "
                f"have shape {inputs.shape[1:]}. Use the feature space of a 2-unit layer instead: "
                f"replay.build_feature_space(ax, layer_name=...).{hint}"
            )
        classes = _binary_classes(replay)
        _check_binary_output(replay)
        auto_x, auto_y = compute.padded_limits([inputs], pad=INPUT_PAD)
        xlim = auto_x if xlim is None else compute.check_limits("xlim", xlim)
        ylim = auto_y if ylim is None else compute.check_limits("ylim", ylim)

        grid = _region_grid(xlim, ylim, contour_points)
        probabilities = np.empty((len(epochs), contour_points, contour_points), dtype=np.float32)
        for i, epoch in enumerate(epochs):
            model = replay.model_at(int(epoch))
            outputs = compute.to_numpy(model(grid, training=False))
            probabilities[i] = compute.positive_probability(outputs).reshape(contour_points, contour_points)

        lines = compute.grid_lines(xlim, ylim, n_lines=n_grid_lines) if display_grid else None
        data = DecisionBoundaryData(epochs=np.array(epochs), points=inputs.astype(np.float32), classes=classes,
                                    grid_lines=lines, probabilities=probabilities,
                                    xlim=np.array(xlim, dtype=np.float64), ylim=np.array(ylim, dtype=np.float64))
        return cls(ax, data, title=title)

    # -- drawing -----------------------------------------------------------------------------------------
    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        self.regions = _draw_regions(ax, d.probabilities[0], _extent(d.xlim, d.ylim))
        self.grid = None if d.grid_lines is None else _draw_grid(ax, d.grid_lines)
        self.points = _draw_points(ax, d.points, d.classes)
        ax.set_xlim(*d.xlim)
        ax.set_ylim(*d.ylim)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_title(self.title)
        self.legend = _class_legend(ax)

    def _update(self, epoch: int) -> list[Artist]:
        self.regions.set_data(self.data.probabilities[self.data.index(epoch)])
        return [self.regions]
