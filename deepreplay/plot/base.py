"""The plotter base class and the animation type every visual returns.

A plotter follows the scikit-learn Display habit: its data for every epoch is
computed up front (``from_replay``), then artists are created once on the
axes it was given (never cleared or replaced) and updated per epoch.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import compute
from .common import (  # noqa: F401  (re-exported: the colours and check_title lived here)
    CLASS_COLORS,
    CLASS_PALETTE,
    MISCLASSIFIED_COLOR,
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    check_title,
    class_colors,
)

def frame_label(unit: str) -> str:
    """How frames are named: "Epoch", or "Step" for a step-based recording (``unit='step'``)."""
    return "Step" if unit == "step" else "Epoch"


def epoch_title(fig: Figure, epoch: int, title: str | None = None, unit: str = "epoch") -> Artist:
    """Set (creating it once) the figure's epoch title ("Step: ..." for ``unit='step'``); return its artist."""
    label = frame_label(unit)
    text = f"{title} - {label}: {epoch}" if title else f"{label}: {epoch}"
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

    Animations are rendered by drawing the figure once and redrawing, per
    frame, only the artists :meth:`_update` returned (see
    :mod:`deepreplay.plot.render`).  A visual that changes anything else per
    epoch (axis limits, ticks, labels, the layout) says so with
    :attr:`full_redraw` or by overriding :meth:`needs_full_redraw`; its
    frames are then drawn in full.  (Changed view limits are also noticed
    on their own.)  In a notebook a visual shows itself as an animation over
    its epochs.

    Parameters
    ----------
    axes : sequence of Axes
        The axes the visual draws on; they are never cleared.
    epochs : array of int
        The epochs this visual can show, in order.
    """

    #: True when every frame must be drawn in full (see :meth:`needs_full_redraw`).
    full_redraw: bool = False
    #: The run (recording group) the visual shows; set by ``Replay.build_*``, used to label runs compared.
    run_name: str | None = None
    #: The prefix given with :meth:`set_title` (None: the visual's own title alone).
    custom_title: str | None = None
    #: What a frame is: ``'epoch'``, or ``'step'`` for a step-based recording (set by ``Replay.build_*``).
    frame_unit: str = "epoch"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Make the ``from_replay`` of every plotter label its frames as the recording does (epochs or steps).

        ``Replay.build_*`` does it too; this covers a plotter built directly with
        ``X.from_replay(replay, ...)`` on a step-based recording, whose frames
        and axes then say "Step" rather than "Epoch".
        """
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("from_replay")
        if not isinstance(own, classmethod) or getattr(own.__func__, "_labels_frames", False):
            return
        build = own.__func__

        @functools.wraps(build)
        def from_replay(klass: type, *args: Any, **kw: Any) -> Any:
            visual = build(klass, *args, **kw)
            replay = args[0] if args else kw.get("replay")
            unit = getattr(replay, "record_unit", None)
            if isinstance(visual, Plotter) and unit in ("epoch", "step"):
                visual.frame_unit = unit
            return visual

        from_replay._labels_frames = True  # type: ignore[attr-defined]
        cls.from_replay = classmethod(from_replay)  # type: ignore[method-assign]

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
        epoch_title(self.fig, epoch, title, self.frame_unit)
        return self.fig

    def animate(self, epoch_start: int | None = None, epoch_end: int | None = None, *,
                title: str | None = None, interval: int = 50, repeat: bool = True) -> ReplayAnimation:
        """Animate this visual over its epochs, or over ``[epoch_start, epoch_end]`` (``-1``: the last)."""
        return compose_animations([self], epoch_start, epoch_end, title, interval=interval, repeat=repeat)

    def set_title(self, title: str | None) -> None:
        """Put ``title`` in front of this visual's axes title(s) ("<title> - <own title>"), as DeepReplay 0.1 did.

        ``None`` or ``''`` goes back to the visual's own title.  Works before and
        after the visual is drawn.
        """
        check_title(title)
        if not hasattr(self, "_own_titles"):
            titles = getattr(self, "titles", None)
            self._own_titles = (tuple(titles) if titles is not None
                                else (getattr(self, "title", None) or "",))
        own = self._own_titles
        self.custom_title = title or None
        new = tuple(f"{title} - {t}" if title and t else (title or t) for t in own)
        if hasattr(self, "titles"):
            self.titles = new
        else:
            self.title = new[0]
        if self._created:
            for ax, text in zip(self.axes, new):
                ax.set_title(text)

    def slider(self, **kwargs: Any) -> Any:
        """An interactive epoch slider over this visual in a notebook (:func:`~deepreplay.plot.epoch_slider`)."""
        from .widgets import epoch_slider

        return epoch_slider(self, **kwargs)

    def needs_full_redraw(self) -> bool:
        """Whether the next frame must be drawn in full rather than by redrawing the changed artists.

        True when :meth:`_update` changes more than the artists it returns:
        axis limits, ticks, tick labels or anything that moves the layout.
        The default returns :attr:`full_redraw` (False).
        """
        return bool(self.full_redraw)

    def _repr_html_(self) -> str:
        """In a notebook: this visual animated over its epochs (see :meth:`ReplayAnimation._repr_html_`)."""
        return self.animate()._repr_html_()


class ReplayAnimation(FuncAnimation):
    """A ``FuncAnimation`` over epochs that saves by file extension, fast.

    ``save('run.gif')`` writes a GIF with Pillow, ``save('run.mp4')`` an
    H.264 MP4 with the ffmpeg binary shipped by ``imageio-ffmpeg``, and
    ``save('run.html')`` a self-contained JavaScript player.  Frames are
    rendered by :mod:`deepreplay.plot.render` (the figure drawn once, only
    the changing artists redrawn per frame, the same pixels as ``savefig``).
    Given a ``writer`` (or ``FuncAnimation.save`` options such as
    ``savefig_kwargs``), ``save`` is ``FuncAnimation.save``; ``plt.show()``
    plays it as any ``FuncAnimation``.  In a notebook it shows itself inline
    as a JavaScript player (:meth:`_repr_html_`).

    Parameters
    ----------
    fig : Figure
    update : callable
        ``update(epoch)`` shows an epoch and returns the changed artists.
    epochs : sequence of int
        One frame per epoch.
    interval : int, default 50
        Milliseconds between frames when played (and in the notebook player).
    repeat : bool, default True
    plotters : sequence of Plotter, optional
        The visuals it animates, asked whether frames need full redraws.
    """

    def __init__(self, fig: Figure, update: Callable[[int], list[Artist]], epochs: Sequence[int],
                 *, interval: int = 50, repeat: bool = True, plotters: Sequence[Plotter] = ()) -> None:
        self.epochs = [int(e) for e in epochs]
        self._update_epoch = update
        self.plotters = list(plotters)
        super().__init__(fig, update, frames=self.epochs, init_func=lambda: update(self.epochs[0]),
                         interval=interval, repeat=repeat, blit=False, cache_frame_data=False)

    def _full_redraw_needed(self) -> bool:
        return any(p.needs_full_redraw() for p in self.plotters)

    def __del__(self) -> None:
        # Matplotlib's Animation warns "Animation was deleted without rendering anything" when an
        # animation is collected before its timer drew a frame.  A ReplayAnimation is rendered by
        # save(), to_jshtml() and the inline display without that timer, and one built and
        # dropped (an animate() never saved) is not a mistake here: no warning.
        pass

    def save(self, filename: Any, writer: Any = None, fps: float | None = None, dpi: float | None = None,
             *, workers: int | None = None, progress: bool | None = None, **kwargs: Any) -> None:
        """Save by extension: ``.gif``, ``.mp4`` or ``.html``.

        Parameters
        ----------
        filename : str or path-like
        writer : MovieWriter or str, optional
            Save through ``FuncAnimation.save`` with this writer instead.
        fps : float, optional
            Frames per second (default: 10, slower for a short run so that it
            plays ~5 s; always a rate a GIF stores exactly).
        dpi : float, optional
            Resolution (default: the figure's).
        workers : int, optional
            Processes rendering frames (Linux; default: automatic).
        progress : bool, optional
            Show a progress bar (default: in terminals and notebooks;
            ``DEEPREPLAY_PROGRESS=0`` turns it off).
        **kwargs
            ``FuncAnimation.save`` options (``progress_callback`` is also
            honoured by the fast path).
        """
        from .export import save_animation

        if writer is not None:
            super().save(filename, writer=writer, fps=fps, dpi=dpi, **kwargs)
            return
        save_animation(self, filename, fps=fps, dpi=dpi, workers=workers, progress=progress, **kwargs)

    def save_many(self, filenames: Sequence[Any], fps: float | None = None, dpi: float | None = None, *,
                  workers: int | None = None, progress: bool | None = None) -> list[str]:
        """Save to several formats at once (e.g. ``['run.gif', 'run.mp4']``), rendering each frame once."""
        from .export import save_animations

        return save_animations(self, filenames, fps=fps, dpi=dpi, workers=workers, progress=progress)

    def _base_save(self, filename: Any, **kwargs: Any) -> None:
        super().save(filename, **kwargs)

    def to_jshtml(self, fps: float | None = None, embed_frames: bool = True,
                  default_mode: str | None = None) -> str:
        """The HTML/JavaScript player of :meth:`_repr_html_` (within the embed limit)."""
        from .export import notebook_html

        if not embed_frames:
            return super().to_jshtml(fps=fps, embed_frames=embed_frames, default_mode=default_mode)
        return notebook_html(self, fps=fps, default_mode=default_mode)

    def to_html5_video(self, embed_limit: float | None = None) -> str:
        """An HTML5 ``<video>`` of the animation (H.264, embedded)."""
        from .export import html5_video

        return html5_video(self)

    def _repr_html_(self) -> str:
        """Shown inline in Jupyter as a JavaScript player of every frame.

        Kept under ``rcParams['animation.embed_limit']``: a larger animation is
        shown at a lower resolution or with every k-th epoch, and a warning
        and a caption say so.  ``rcParams['animation.html'] = 'html5'`` shows
        an HTML5 video instead.
        """
        import matplotlib as mpl

        from .export import notebook_html

        if mpl.rcParams["animation.html"] == "html5":
            return self.to_html5_video()
        return notebook_html(self)


def common_epochs(objects: Sequence[Plotter], epoch_start: int | None, epoch_end: int | None) -> np.ndarray:
    """The frames of visuals shown together, within ``epoch_start``..``epoch_end``; a ValueError if none.

    Every epoch some visual has, between the latest first epoch and the
    earliest last epoch of the visuals: visuals of one recording share their
    epochs; visuals of several recordings recorded with different ``every``
    step together by epoch, and one without a frame's epoch holds its latest
    earlier one (see :func:`compose_animations`).
    """
    if not objects:
        raise ValueError("objects is empty; give at least one visual (e.g. replay.build_loss_histogram(ax)).")
    for obj in objects:
        if not isinstance(obj, Plotter):
            raise TypeError(f"objects must be deepreplay visuals, got {type(obj).__name__}.")
    first = max(int(obj.epochs[0]) for obj in objects)
    last = min(int(obj.epochs[-1]) for obj in objects)
    union = np.unique(np.concatenate([np.asarray(obj.epochs) for obj in objects]))
    common = union[(union >= first) & (union <= last)]
    if common.size == 0:
        raise ValueError("these visuals share no epoch; build them with the same epoch_start/epoch_end.")
    return compute.epoch_range(common, epoch_start, epoch_end)


def common_figure(objects: Sequence[Plotter]) -> Figure:
    """The one figure every visual of ``objects`` is drawn on; a ValueError if they are on several."""
    figures = {id(obj.fig) for obj in objects}
    if len(figures) != 1:
        raise ValueError("objects are on different figures; build every visual on axes of one figure.")
    return objects[0].fig


#: Colour of the note on a visual that holds its last record while other runs go on.
HELD_COLOR = "#d62728"


def shown_epoch(obj: Plotter, epoch: int) -> int:
    """The epoch ``obj`` shows at frame ``epoch``: ``epoch`` itself, else its latest earlier epoch (held)."""
    earlier = np.asarray(obj.epochs)[np.asarray(obj.epochs) <= epoch]
    if earlier.size == 0:
        raise ValueError(f"epoch={epoch} is before this visual's first epoch ({int(obj.epochs[0])}).")
    return int(earlier[-1])


class _Composition:
    """Steps visuals (of one or several recordings) together by epoch.

    A visual without the frame's epoch (a run recorded with a larger
    ``every``) holds its latest earlier epoch, and a red note on its axes
    says so.  Visuals of different runs (``Plotter.run_name``) get the run's
    name before their axes' titles.
    """

    def __init__(self, objects: Sequence[Plotter], frames: np.ndarray) -> None:
        self.objects = list(objects)
        self.may_hold = any(not np.isin(frames, obj.epochs).all() for obj in self.objects)
        self._notes: dict[int, Artist] = {}
        self._prepared = False

    def _prepare(self, epoch: int) -> None:
        # Create every visual's artists first, then label and annotate their axes: all before the first frame.
        for obj in self.objects:
            obj.set_epoch(shown_epoch(obj, epoch))
        names = {obj.run_name for obj in self.objects if obj.run_name}
        if len(names) > 1:
            for obj in self.objects:
                # A visual given its own title prefix (set_title) keeps it instead of the run's name.
                if obj.run_name and not obj.custom_title and not getattr(obj, "_run_labelled", False):
                    for ax in obj.axes:
                        title = ax.get_title()
                        ax.set_title(f"{obj.run_name}: {title}" if title else obj.run_name)
                    obj._run_labelled = True
        if self.may_hold:
            for obj in self.objects:
                ax = obj.axes[0]
                if getattr(obj, "_held_note", None) is None:
                    obj._held_note = ax.text(0.5, 0.98, "", transform=ax.transAxes, ha="center", va="top",
                                               color=HELD_COLOR, fontsize="small", fontweight="bold", zorder=10,
                                               bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85,
                                                     "edgecolor": HELD_COLOR})
                self._notes[id(obj)] = obj._held_note
        self._prepared = True

    def step(self, epoch: int) -> list[Artist]:
        if not self._prepared:
            self._prepare(epoch)
        changed: list[Artist] = []
        for obj in self.objects:
            shown = shown_epoch(obj, epoch)
            changed.extend(obj.set_epoch(shown))
            note = self._notes.get(id(obj))
            if note is not None:
                unit = frame_label(obj.frame_unit).lower()
                note.set_text("" if shown == epoch else f"no record at {unit} {epoch}: holding {unit} {shown}")
                note.set_visible(shown != epoch)
                changed.append(note)
        return changed


def compose_plots(objects: Sequence[Plotter], epoch: int, title: str | None = None) -> Figure:
    """Draw several visuals of one figure at ``epoch``, with an epoch title.

    Visuals of several recordings may be composed (see :func:`compose_animations`).

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
    frames = common_epochs(objects, None, None)
    fig = common_figure(objects)
    if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)):
        raise TypeError(f"epoch={epoch!r} must be an integer epoch number.")
    if epoch not in frames:
        raise ValueError(f"epoch={epoch} is not an epoch of these visuals; their epochs: "
                         f"{compute.describe_epochs(frames)}.")
    _Composition(objects, frames).step(int(epoch))
    epoch_title(fig, epoch, title, objects[0].frame_unit)
    return fig


def compose_animations(objects: Sequence[Plotter], epoch_start: int | None = None, epoch_end: int | None = None,
                       title: str | None = None, *, interval: int = 50, repeat: bool = True) -> ReplayAnimation:
    """Animate several visuals of one figure together, one frame per epoch.

    The visuals may come from several recordings (runs compared side by
    side): they step together by epoch.  The frames are every epoch some
    visual has, from the latest first epoch to the earliest last epoch; a
    visual without a frame's epoch (its run was recorded with a larger
    ``every``) holds its latest earlier epoch, with a red note on its axes
    saying so.  When the visuals come from more than one run, each run's
    name (its group name) is put before its axes' titles.

    Parameters
    ----------
    objects : sequence of Plotter
        Visuals built on axes of the same figure.
    epoch_start, epoch_end : int, optional
        Inclusive epoch range (``None``: first / last common epoch; ``epoch_end=-1``
        also means the last, as in DeepReplay 0.1).
    title : str, optional
        Prefix of the figure title ("<title> - Epoch: <epoch>").
    interval : int, default 50
        Milliseconds between frames when played.
    repeat : bool, default True

    Returns
    -------
    ReplayAnimation
        Save it with ``.save('file.gif' | 'file.mp4' | 'file.html', fps=..., dpi=...)``.
    """
    check_title(title)
    epochs = common_epochs(objects, epoch_start, epoch_end)
    fig = common_figure(objects)
    composition = _Composition(objects, epochs)

    def update(epoch: int) -> list[Artist]:
        changed = composition.step(epoch)
        changed.append(epoch_title(fig, epoch, title, objects[0].frame_unit))
        return changed

    return ReplayAnimation(fig, update, epochs, interval=interval, repeat=repeat, plotters=objects)


