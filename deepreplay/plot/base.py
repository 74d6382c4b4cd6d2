"""The plotter base class and the animation type every visual returns.

A plotter follows the scikit-learn Display habit: its data for every epoch is
computed up front (``from_replay``), then artists are created once on the
axes it was given (never cleared or replaced) and updated per epoch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import compute

#: Colours of the negative and positive classes, kept across visuals and frames.
NEGATIVE_COLOR = "#1f77b4"
POSITIVE_COLOR = "#2ca02c"
MISCLASSIFIED_COLOR = "#d62728"
CLASS_COLORS = (NEGATIVE_COLOR, POSITIVE_COLOR)


def epoch_title(fig: Figure, epoch: int, title: str | None = None) -> Artist:
    """Set (creating it once) the figure's epoch title and return its text artist."""
    text = f"{title} - Epoch: {epoch}" if title else f"Epoch: {epoch}"
    artist = getattr(fig, "_deepreplay_epoch_title", None)
    if artist is None or artist.figure is not fig:
        artist = fig.suptitle(text)
        fig._deepreplay_epoch_title = artist
        if fig.get_layout_engine() is None:
            # Lay the figure out once, with the title and every visual's labels in
            # place: plt.subplots() alone lets neighbouring labels overlap.  Doing
            # it once keeps every frame of an animation at the same positions.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig.tight_layout()
    else:
        artist.set_text(text)
    return artist


class Plotter:
    """Base class of every visual.

    Subclasses implement :meth:`_create_artists` (called once) and
    :meth:`_update` (called per epoch, returning the artists it changed).

    Parameters
    ----------
    axes : sequence of Axes
        The axes the visual draws on; they are never cleared.
    epochs : array of int
        The epochs this visual can show, in order.
    """

    def __init__(self, axes: Sequence[Axes], epochs: np.ndarray) -> None:
        for ax in axes:
            if not isinstance(ax, Axes):
                raise TypeError(f"expected a Matplotlib Axes, got {type(ax).__name__}; create one with plt.subplots().")
        self.axes = list(axes)
        self.fig: Figure = self.axes[0].figure
        self.epochs = np.asarray(epochs)
        self._created = False
        self.current_epoch: int | None = None

    # -- for subclasses --------------------------------------------------------------
    def _create_artists(self) -> None:
        raise NotImplementedError

    def _update(self, epoch: int) -> list[Artist]:
        raise NotImplementedError

    # -- public ----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> list[Artist]:
        """Show ``epoch``; return the artists that changed."""
        epoch = self._check_epoch(epoch)
        if not self._created:
            self._create_artists()
            self._created = True
        self.current_epoch = epoch
        return self._update(epoch)

    def _check_epoch(self, epoch: int) -> int:
        if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"epoch={epoch!r} must be an integer epoch number.")
        if epoch not in self.epochs:
            raise ValueError(
                f"epoch={epoch} is not available in this visual; its epochs: "
                f"{compute.describe_epochs(self.epochs)} (see epoch_start/epoch_end)."
            )
        return int(epoch)

    def plot(self, epoch: int, *, title: str | None = None) -> Figure:
        """Draw ``epoch`` and return the figure."""
        self.set_epoch(epoch)
        epoch_title(self.fig, epoch, title)
        return self.fig

    def animate(self, *, epoch_start: int | None = None, epoch_end: int | None = None,
                title: str | None = None, interval: int = 50, repeat: bool = True) -> ReplayAnimation:
        """Animate this visual over its epochs (or a sub-range)."""
        return compose_animations([self], epoch_start=epoch_start, epoch_end=epoch_end, title=title,
                                  interval=interval, repeat=repeat)


class ReplayAnimation(FuncAnimation):
    """A ``FuncAnimation`` over epochs that saves by file extension.

    ``save('run.gif')`` uses Pillow, ``save('run.mp4')`` the ffmpeg binary
    shipped by ``imageio-ffmpeg`` and ``save('run.html')`` writes
    :meth:`to_jshtml`.  In a notebook the animation shows itself inline.
    """

    def __init__(self, fig: Figure, update: Callable[[int], list[Artist]], epochs: Sequence[int],
                 *, interval: int = 50, repeat: bool = True) -> None:
        self.epochs = [int(e) for e in epochs]
        self._update_epoch = update
        super().__init__(fig, update, frames=self.epochs, init_func=lambda: update(self.epochs[0]),
                         interval=interval, repeat=repeat, blit=False, cache_frame_data=False)

    def save(self, filename: Any, writer: Any = None, fps: float | None = None, dpi: float | None = None,
             **kwargs: Any) -> None:
        """Save by extension (``.gif``, ``.mp4``, ``.html``); a ``writer`` overrides the choice."""
        from .export import save_animation

        if writer is not None:
            super().save(filename, writer=writer, fps=fps, dpi=dpi, **kwargs)
            return
        save_animation(self, filename, fps=fps, dpi=dpi, **kwargs)

    def _base_save(self, filename: Any, **kwargs: Any) -> None:
        super().save(filename, **kwargs)

    def _repr_html_(self) -> str:
        from .export import notebook_html

        return notebook_html(self)


def _common_epochs(objects: Sequence[Plotter], epoch_start: int | None, epoch_end: int | None) -> np.ndarray:
    if not objects:
        raise ValueError("objects is empty; give at least one visual (e.g. replay.build_loss_histogram(ax)).")
    for obj in objects:
        if not isinstance(obj, Plotter):
            raise TypeError(f"objects must be deepreplay visuals, got {type(obj).__name__}.")
    common = objects[0].epochs
    for obj in objects[1:]:
        common = np.intersect1d(common, obj.epochs)
    if common.size == 0:
        raise ValueError("these visuals share no epoch; build them with the same epoch_start/epoch_end.")
    return compute.epoch_range(common, epoch_start, epoch_end)


def _common_figure(objects: Sequence[Plotter]) -> Figure:
    figures = {id(obj.fig) for obj in objects}
    if len(figures) != 1:
        raise ValueError("objects are on different figures; build every visual on axes of one figure.")
    return objects[0].fig


def compose_plots(objects: Sequence[Plotter], epoch: int, title: str | None = None) -> Figure:
    """Draw several visuals of one figure at ``epoch``, with an epoch title.

    Parameters
    ----------
    objects : sequence of Plotter
        Visuals built on axes of the same figure.
    epoch : int
        The epoch to show.
    title : str, optional
        Prefix of the figure title ("<title> - Epoch: <epoch>").

    Returns
    -------
    matplotlib.figure.Figure
    """
    _common_epochs(objects, None, None)
    fig = _common_figure(objects)
    for obj in objects:
        obj.set_epoch(epoch)
    epoch_title(fig, epoch, title)
    return fig


def compose_animations(objects: Sequence[Plotter], *, epoch_start: int | None = None, epoch_end: int | None = None,
                       title: str | None = None, interval: int = 50, repeat: bool = True) -> ReplayAnimation:
    """Animate several visuals of one figure together over their common epochs.

    Returns
    -------
    ReplayAnimation
        Save it with ``.save('file.gif' | 'file.mp4' | 'file.html', fps=..., dpi=...)``.
    """
    epochs = _common_epochs(objects, epoch_start, epoch_end)
    fig = _common_figure(objects)

    def update(epoch: int) -> list[Artist]:
        changed: list[Artist] = []
        for obj in objects:
            changed.extend(obj.set_epoch(epoch))
        changed.append(epoch_title(fig, epoch, title))
        return changed

    return ReplayAnimation(fig, update, epochs, interval=interval, repeat=repeat)
