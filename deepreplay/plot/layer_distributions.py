"""Per-layer distributions (weights, gradients, activations, z-values) as violins over epochs.

One violin per layer: a mirrored histogram drawn as a polygon, with the
inter-quartile range as a thick bar and the median as a white dot, on a value
scale shared by every layer and epoch so layers can be compared (a layer whose
values vanish shows as a flat sliver at zero).  The standard deviation of
each layer is written above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.artist import Artist
import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon
from matplotlib.transforms import blended_transform_factory

from .. import diagnostics
from ..diagnostics import LayerDistributionData
from .base import Plotter
from .common import check_title

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["QUANTITY_COLORS", "LayerDistributions"]

#: Violin colour of each quantity.
QUANTITY_COLORS = {
    "z": "#9467bd",
    "weights": "#1f77b4",
    "activations": "#2ca02c",
    "gradients": "#d62728",
}

#: Fraction of a layer's slot that its widest bin spans.
_VIOLIN_WIDTH = 0.8
#: Extra room above the data, in fractions of the value range, for the std labels.
_LABEL_ROOM = 0.14


#: Font size of the std labels, and how far (axes fraction) every other one drops when they crowd.
_STD_FONTSIZE = 7.5
_STD_STAGGER = 0.055
#: Width of an average character, in font sizes (a DejaVu Sans estimate: the text is not drawn yet).
_CHAR_WIDTH = 0.6


def _crowded(ax: Axes, texts: Sequence[str], fontsize: float) -> bool:
    """Whether ``texts``, one per slot across ``ax``, would run into each other at ``fontsize`` points."""
    if not texts:
        return False
    slot = ax.get_position().width * ax.figure.get_figwidth() * 72 / len(texts)
    return max(len(t) for t in texts) * _CHAR_WIDTH * fontsize > 0.95 * slot


#: Tick labels longer than this many characters are shortened in the middle (a deep model's layer names).
_MAX_LABEL = 16


def _tick_labels(names: Sequence[str]) -> list[str]:
    """``names``, those longer than :data:`_MAX_LABEL` as their start and end around an ellipsis.

    Where two would read the same (``expande…te_dense`` for ``expanded_conv_0_...`` and
    ``expanded_conv_2_...``), their second part starts where their names differ instead
    (``expande…0_squeeze``), and is lengthened if they still read the same.
    """
    head = (_MAX_LABEL - 1) // 2
    size = _MAX_LABEL - 1 - head
    starts: list[int | None] = [None] * len(names)  # None: the end of the name
    extra = [0] * len(names)

    def label(i: int) -> str:
        name, n = names[i], size + extra[i]
        if len(name) <= max(_MAX_LABEL, head + n + 1):
            return name
        part = name[-n:] if starts[i] is None else name[starts[i]:starts[i] + n]
        return f"{name[:head]}\u2026{part}"

    labels = [label(i) for i in range(len(names))]
    for _ in range(max((len(name) for name in names), default=0)):
        groups: dict[str, list[int]] = {}
        for i, text in enumerate(labels):
            groups.setdefault(text, []).append(i)
        clashes = [[i for i in group if labels[i] != names[i]] for group in groups.values() if len(group) > 1]
        clashes = [group for group in clashes if group]
        if not clashes:
            break
        for group in clashes:
            first = next((k for k in range(min(len(names[i]) for i in group))
                          if len({names[i][k] for i in group}) > 1), None)
            for i in group:
                if first is not None and starts[i] is None and first >= head:
                    starts[i] = first
                else:
                    extra[i] += 1
                labels[i] = label(i)
    return labels


def _std_text(value: float) -> str:
    if not np.isfinite(value):
        return "std n/a"
    return f"std {value:.2g}"


class LayerDistributions(Plotter):
    """Violins of one quantity, one per layer, animated over epochs.

    Build it with :meth:`from_replay` (or ``replay.build_weights``,
    ``build_gradients``, ``build_outputs``).  Artists are created once and
    updated per epoch; the axes are never cleared.

    Parameters
    ----------
    ax : Axes
        Where to draw.
    data : LayerDistributionData
        From :func:`deepreplay.diagnostics.layer_distributions`.
    title : str, optional
        Axes title (default: "Weights", "Gradients", "Activations" or "Z-values").
    color : str, optional
        Violin colour (default: one per quantity, see :data:`QUANTITY_COLORS`).
    show_std : bool, default True
        Write each layer's standard deviation above its violin.
    """

    def __init__(self, ax: Axes, data: LayerDistributionData, *, title: str | None = None,
                 color: str | None = None, show_std: bool = True) -> None:
        if not isinstance(data, LayerDistributionData):
            raise TypeError(
                f"data must be a LayerDistributionData (from deepreplay.diagnostics.layer_distributions), "
                f"got {type(data).__name__}; or build the visual with LayerDistributions.from_replay(...)."
            )
        check_title(title)
        if not isinstance(show_std, (bool, np.bool_)):
            raise TypeError(f"show_std={show_std!r} must be True or False.")
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        self.title = diagnostics.QUANTITY_TITLES[data.quantity] if title is None else title
        self.color = QUANTITY_COLORS[data.quantity] if color is None else color
        self.show_std = bool(show_std)

    @classmethod
    def from_replay(
        cls,
        replay: Replay,
        ax: Axes,
        quantity: str,
        *,
        layer_names: Sequence[str] | str | None = None,
        include_inputs: bool = False,
        exclude_outputs: bool = True,
        epoch_start: int | None = None,
        epoch_end: int | None = None,
        ylim: tuple[float, float] | None = None,
        bins: int = 50,
        title: str | None = None,
        color: str | None = None,
        show_std: bool = True,
    ) -> LayerDistributions:
        """Compute every epoch's distributions from a recording and attach the visual to ``ax``.

        Parameters
        ----------
        replay : Replay
            The recording.
        ax : Axes
            Where to draw.
        quantity : {'weights', 'gradients', 'activations', 'z'}
            What to show: the layers' kernels, their gradients, their outputs
            or their pre-activation values (z-values).
        layer_names : list of str, optional
            Layers to show, in this order (default: every layer with
            ``quantity`` recorded, in model order).  An unknown name is an
            error that lists the valid ones.
        include_inputs : bool, default False
            Show the recorded inputs first, as "Inputs" (activations and
            z-values only).
        exclude_outputs : bool, default True
            Leave out the model's output layer (when ``layer_names`` is None).
        epoch_start, epoch_end : int, optional
            Inclusive range of recorded epochs (``None``: first / last).
        ylim : (float, float), optional
            The shared value scale (default: the range of every value shown,
            over every layer and epoch).
        bins : int, default 50
            Histogram bins over ``ylim``.
        title : str, optional
            Axes title.
        color : str, optional
            Violin colour.
        show_std : bool, default True
            Write each layer's standard deviation above its violin.

        Returns
        -------
        LayerDistributions
        """
        data = diagnostics.layer_distributions(
            replay, quantity, layer_names, include_inputs=include_inputs, exclude_outputs=exclude_outputs,
            epoch_start=epoch_start, epoch_end=epoch_end, ylim=ylim, bins=bins,
        )
        return cls(ax, data, title=title, color=color, show_std=show_std)

    # -- geometry ---------------------------------------------------------------------------------
    def violin_xy(self, epoch: int, layer: int) -> np.ndarray:
        """The polygon of one layer's violin at ``epoch``, shape (4 * k, 2).

        ``k`` is the number of bins from the first to the last non-empty one.
        The right half climbs those bins as a step outline, the left half
        mirrors it on the way down; the widest bin spans ``0.8`` of the
        layer's slot.  A layer with no value gets a degenerate polygon at 0.
        """
        d = self.data
        counts = d.counts[d.index(epoch), layer].astype(np.float64)
        filled = np.flatnonzero(counts)
        if filled.size == 0:
            return np.array([[layer, 0.0]] * 4)
        first, last = int(filled[0]), int(filled[-1]) + 1
        counts = counts[first:last]
        half = counts / counts.max() * (_VIOLIN_WIDTH / 2)
        lows, highs = d.edges[first:last], d.edges[first + 1:last + 1]
        right_x = np.repeat(layer + half, 2)
        right_y = np.column_stack([lows, highs]).ravel()
        xs = np.concatenate([right_x, (2 * layer - right_x)[::-1]])
        ys = np.concatenate([right_y, right_y[::-1]])
        return np.column_stack([xs, ys])

    # -- artists ----------------------------------------------------------------------------------
    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        n = len(d.layers)
        self.violins: list[Polygon] = []
        first = int(d.epochs[0])
        for j in range(n):
            patch = Polygon(self.violin_xy(first, j), closed=True, facecolor=self.color, edgecolor=self.color,
                            alpha=0.6, linewidth=0.6)
            ax.add_patch(patch)
            self.violins.append(patch)
        self.iqr = LineCollection(np.zeros((n, 2, 2)), colors="black", linewidths=4, zorder=3)
        ax.add_collection(self.iqr)
        (self.medians,) = ax.plot(np.arange(n), np.zeros(n), "o", color="white", markeredgecolor="black",
                                  markersize=4, zorder=4, linestyle="none")
        ax.axhline(0.0, color="0.6", lw=0.6, zorder=0)
        low, high = d.ylim
        top = high + _LABEL_ROOM * (high - low) if self.show_std else high
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_ylim(low, top)
        ax.set_xticks(np.arange(n))
        tick_size = FontProperties(size=mpl.rcParams["xtick.labelsize"]).get_size_in_points()
        labels = _tick_labels(d.layers)
        if n > 6 or _crowded(ax, labels, tick_size):
            ax.set_xticklabels(labels, rotation=30, ha="right", rotation_mode="anchor")
        else:
            ax.set_xticklabels(labels)
        ax.set_xlabel("Layers")
        ax.set_title(self.title)
        self.std_texts = []
        if self.show_std:
            trans = blended_transform_factory(ax.transData, ax.transAxes)
            # "std 0.043" is the longest a label gets: when those crowd, every other one drops a row.
            stagger = _STD_STAGGER if _crowded(ax, ["std 0.043"] * n, _STD_FONTSIZE) else 0.0
            for j in range(n):
                self.std_texts.append(ax.text(j, 0.985 - stagger * (j % 2), "", transform=trans, ha="center",
                                              va="top", fontsize=_STD_FONTSIZE, color="0.2"))

    def _update(self, epoch: int) -> list[Artist]:
        d = self.data
        i = d.index(epoch)
        for j, patch in enumerate(self.violins):
            patch.set_xy(self.violin_xy(epoch, j))
        x = np.arange(len(d.layers), dtype=np.float64)
        q = d.quartiles[i]
        self.iqr.set_segments([np.array([[xj, q[j, 0]], [xj, q[j, 2]]]) for j, xj in enumerate(x)])
        self.medians.set_data(x, q[:, 1])
        for j, text in enumerate(self.std_texts):
            text.set_text(_std_text(float(d.std[i, j])))
        return [*self.violins, self.iqr, self.medians, *self.std_texts]
