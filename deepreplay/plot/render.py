"""Fast frame rendering for animations: draw the figure once, then redraw only what changes.

``FuncAnimation.save`` draws the whole figure for every frame: the layout
engine's text measurements, every axis, tick label and title.  Almost none of
that changes between two epochs.  :class:`FrameRenderer` draws the figure
once in full (laid out as ``savefig`` lays it out) and splits that draw into
its parts, in the order Matplotlib draws them: every child of each Axes, each
tick, tick label and label of its axes, the figure's texts.  The parts that
change are those the visuals' ``set_epoch`` returned; a static part drawn
*after* one of them must be drawn again above it where the two can share
pixels (a spine over an image, a legend over points, the axes of a twin
plot).  That is decided on pixels: the candidate is drawn alone on a scratch
canvas and kept only if what it paints meets what the changing parts may
paint (their clip box, or the room seen for a changing text).  The
background is every other part, drawn once; each frame restores it and draws
the changing parts and the static ones above them, in draw order.  The
result equals ``fig.savefig`` of the same epoch at the same dpi, pixel for
pixel (with a layout engine, ``savefig`` itself moves axes by ~1e-16 from one
draw to the next, which can move a line or a glyph by a pixel).

A frame is drawn in full, as ``savefig`` would draw it, when a visual asks
for it (:meth:`Plotter.needs_full_redraw
<deepreplay.plot.base.Plotter.needs_full_redraw>`), when the view limits or
positions of an axes moved, when artists were added or removed, or when a
changing text outgrew the room kept for it (then the background is set up
again).

Frames can be rendered by worker processes (``workers=``; Linux, ``fork``
start method: each worker owns a copy of the figure and its own background;
consecutive frames go to different workers), and are encoded where they are
rendered.  The writers of :mod:`deepreplay.plot.writers` turn frames into
GIF, MP4 and HTML files.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis, Tick
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from ..progress import progress_bar

__all__ = ["FrameRenderer", "auto_workers", "render_frames", "rgb"]

Update = Callable[[Any], Sequence[Artist]]

#: Pixels added around every region when deciding what overlaps what (antialiasing, line caps).
_PAD = 3.0
#: Room kept on each side of a changing text that is not clipped, in fractions of its width.
_TEXT_ROOM = 0.6
#: Frames :meth:`FrameRenderer.prepare` looks at (spread over the animation), and the room it
#: adds on each side of what it saw, in fractions of its width.
_PREPARE_FRAMES = 24
_PREPARED_ROOM = 0.15


class _RenderCanvas(FigureCanvasAgg):
    """An Agg canvas that says it is saving, as ``savefig``'s canvas does.

    While it is the figure's canvas, draws do not start a ``FuncAnimation``
    waiting for its first draw, and pyplot's interactive mode does not
    schedule redraws when artists change.
    """

    def is_saving(self) -> bool:
        return True


def _plain(artist: Artist) -> bool:
    """Whether ``artist`` draws without rasterization or filters (so it can be split into its parts)."""
    return not artist.get_rasterized() and artist.get_agg_filter() is None


def _expandable(ax: Axes) -> bool:
    """Whether ``ax`` draws as the base ``Axes.draw`` does (so its children can be drawn one by one)."""
    from matplotlib.axes._base import _AxesBase

    return type(ax).draw is _AxesBase.draw and ax.get_rasterization_zorder() is None and _plain(ax)


def _axis_parts(axis: Axis) -> list[Artist] | None:
    """What ``Axis.draw`` draws, in its order, with the positions of the last draw; None if unknown.

    Every tick to draw (its grid line, tick marks and labels, as ``Tick.draw``),
    then the axis label and the offset text.
    """
    update = getattr(axis, "_update_ticks", None)
    if update is None or type(axis).draw is not Axis.draw:
        return None
    parts: list[Artist] = []
    for tick in update():
        if type(tick).draw is not Tick.draw or not _plain(tick):
            return None
        if tick.get_visible():
            parts.extend([tick.gridline, tick.tick1line, tick.tick2line, tick.label1, tick.label2])
    parts.extend([axis.label, axis.offsetText])
    return parts


def _axes_draw_list(ax: Axes) -> list[Artist]:
    """The artists ``Axes.draw`` draws, in its order (see ``matplotlib.axes._base._AxesBase.draw``).

    Its axes (``XAxis``, ``YAxis``) are split into their parts when they draw the standard way.
    """
    artists = ax.get_children()
    artists.remove(ax.patch)
    framed = ax.axison and ax.get_frame_on()
    if not framed:
        for spine in ax.spines.values():
            artists.remove(spine)
    if not ax.axison:
        for axis in (ax.xaxis, ax.yaxis):
            if axis in artists:
                artists.remove(axis)
    artists = sorted(artists, key=lambda a: a.get_zorder())
    if framed:
        artists = [ax.patch, *artists]
    units: list[Artist] = []
    for artist in artists:
        parts = _axis_parts(artist) if isinstance(artist, Axis) and artist.get_visible() and _plain(artist) else None
        units.extend(parts if parts is not None else [artist])
    return units


def _draw_list(fig: Figure) -> tuple[list[Artist], list[Artist]]:
    """``(units, containers)``: what a full draw of ``fig`` draws, in its order, and the Axes split up.

    Call it after a full draw (it reads tick positions).  Axes that draw the
    standard way are split into their children (and their axes into ticks
    and labels), so each part can be drawn alone; other Axes (3-D,
    rasterized, ...) and sub-figures stay whole.  The figure patch is left out.
    """
    children = fig.get_children()
    children.remove(fig.patch)
    units: list[Artist] = []
    containers: list[Artist] = []
    for artist in sorted(children, key=lambda a: a.get_zorder()):
        if isinstance(artist, Axes) and artist.get_visible() and _expandable(artist):
            containers.append(artist)
            units.extend(_axes_draw_list(artist))
        else:
            units.append(artist)
    return units, containers


def _structure(fig: Figure, containers: Sequence[Artist]) -> tuple:
    """A cheap fingerprint of which artists the figure holds (to notice added or removed ones)."""
    return (len(fig.get_children()),
            *(len(c.get_children()) for c in containers),
            *(bool(c.axison) for c in containers if isinstance(c, Axes)))


def _view_state(fig: Figure) -> tuple:
    """View limits and positions of every Axes: a change needs a full redraw (ticks, layout)."""
    state = []
    for ax in fig.get_axes():
        state.append(tuple(np.round(ax.viewLim.bounds, 12)))
        state.append(tuple(np.round(ax.get_position().bounds, 12)))
        state.append((ax.get_xscale(), ax.get_yscale()))
    return tuple(state)


def _finite(bbox: Bbox | None) -> bool:
    return bbox is not None and bool(np.all(np.isfinite(bbox.get_points())))


def _padded(bbox: Bbox, pad: float = _PAD) -> Bbox:
    return Bbox.from_extents(bbox.x0 - pad, bbox.y0 - pad, bbox.x1 + pad, bbox.y1 + pad)


def _overlaps(a: Bbox, b: Bbox) -> bool:
    return a.x0 <= b.x1 and b.x0 <= a.x1 and a.y0 <= b.y1 and b.y0 <= a.y1


def _contains(outer: Bbox, inner: Bbox) -> bool:
    return outer.x0 <= inner.x0 and outer.y0 <= inner.y0 and inner.x1 <= outer.x1 and inner.y1 <= outer.y1


def _extent(artist: Artist, renderer: Any, everything: Bbox) -> Bbox | None:
    """Where ``artist`` draws, in pixels; ``everything`` when it cannot tell; None if it draws nothing."""
    if not artist.get_visible():
        return None
    try:
        bbox = artist.get_tightbbox(renderer)
    except Exception:  # an artist that cannot measure itself: assume it covers everything
        return everything
    if bbox is None:
        return None
    if not _finite(bbox):
        return everything
    return _padded(bbox)


def _box_pixels(box: Bbox, width: int, height: int) -> np.ndarray:
    """Pixels (row 0 at the top) of a display box, padded by a pixel."""
    mask = np.zeros((height, width), dtype=bool)
    x0, x1 = max(int(math.floor(box.x0)) - 1, 0), min(int(math.ceil(box.x1)) + 1, width)
    y0, y1 = max(int(math.floor(height - box.y1)) - 1, 0), min(int(math.ceil(height - box.y0)) + 1, height)
    if x0 < x1 and y0 < y1:
        mask[y0:y1, x0:x1] = True
    return mask


def _is_clipped(artist: Artist) -> Bbox | None:
    if artist.get_clip_on():
        box = artist.get_clip_box()
        if box is not None and _finite(box):
            return _padded(Bbox(box.get_points()))
    return None


class FrameRenderer:
    """Render the frames of an animation of ``fig`` as RGBA arrays, blitting what changes.

    Use it as a context manager: while it is open, the figure draws on an Agg
    canvas of its own at ``dpi``; on exit the figure gets back its canvas, dpi
    and colours.

    Parameters
    ----------
    fig : Figure
        The figure of the visuals.
    update : callable
        ``update(frame)`` sets the figure to a frame and returns the artists
        it changed (what ``Plotter.set_epoch`` returns).
    dpi : float, optional
        Resolution of the frames (default: the figure's).
    full_redraw : callable, optional
        ``full_redraw()`` is true when the next frame must be drawn in full
        (a visual that changes limits or ticks).
    blit : bool, default True
        False draws every frame in full (the reference ``savefig`` drawing).

    Attributes
    ----------
    n_full, n_blit : int
        Frames drawn in full and frames blitted so far.
    """

    def __init__(self, fig: Figure, update: Update, *, dpi: float | None = None,
                 full_redraw: Callable[[], bool] | None = None, blit: bool = True) -> None:
        self.fig = fig
        self.update = update
        self.dpi = float(fig.dpi if dpi is None else dpi)
        self.full_redraw = full_redraw
        self.blit = bool(blit)
        self.n_full = 0
        self.n_blit = 0
        self._open = False
        self._background = None
        self._redraw: list[Artist] = []
        self._text_room: dict[int, Bbox] = {}
        self._known: set[int] = set()
        self._view = None
        self._structure = None
        self._containers: list[Artist] = []
        self._prepared: dict[int, Bbox] | None = None
        self._laid_out = None

    # -- lifetime -------------------------------------------------------------------------------
    def __enter__(self) -> FrameRenderer:
        fig = self.fig
        self._saved = {"canvas": fig.canvas, "dpi": fig.dpi, "facecolor": fig.get_facecolor(),
                       "edgecolor": fig.get_edgecolor(), "original_dpi": getattr(fig, "_original_dpi", None)}
        self.canvas = _RenderCanvas(fig)  # becomes fig.canvas (and resets fig._original_dpi)
        fig.dpi = self.dpi
        for prop in ("facecolor", "edgecolor"):  # as savefig: rcParams['savefig.<prop>'] unless 'auto'
            color = mpl.rcParams[f"savefig.{prop}"]
            if not (isinstance(color, str) and color == "auto"):
                getattr(fig, f"set_{prop}")(color)
        self._open = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._open:
            return
        fig, saved = self.fig, self._saved
        fig.dpi = saved["dpi"]
        fig.set_facecolor(saved["facecolor"])
        fig.set_edgecolor(saved["edgecolor"])
        fig.set_canvas(saved["canvas"])
        if saved["original_dpi"] is not None:
            fig._original_dpi = saved["original_dpi"]
        self._background = None
        self._open = False

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames in pixels."""
        w, h = self.fig.get_size_inches() * self.dpi
        return int(w), int(h)

    # -- frames ---------------------------------------------------------------------------------------
    def render(self, frame: Any) -> np.ndarray:
        """Set the figure to ``frame`` and return its pixels, shape (height, width, 4), uint8.

        The array is a view of the canvas buffer: copy it to keep it past the
        next call.
        """
        if not self._open:
            raise RuntimeError("FrameRenderer.render needs an open renderer: use it in a 'with' block.")
        changed = [a for a in (self.update(frame) or []) if isinstance(a, Artist)]
        if not self.blit or (self.full_redraw is not None and self.full_redraw()):
            return self._full(invalidate=True)
        if (self._background is None or _view_state(self.fig) != self._view
                or _structure(self.fig, self._containers) != self._structure
                or any(id(a) not in self._known for a in changed)
                or not self._texts_fit()):
            if self._background is not None and _view_state(self.fig) != self._view:
                # Limits or layout moved: this frame is drawn in full; a new background follows
                # once they stay put.
                pixels = self._full(invalidate=True)
                self._view = _view_state(self.fig)
                return pixels
            return self._setup(changed)
        return self._blit()

    def _full(self, *, invalidate: bool, layout: bool = True) -> np.ndarray:
        """Draw the whole figure, as ``savefig`` does (laid out first), or at the last layout."""
        if invalidate:
            self._background = None
        engine = self.fig.get_layout_engine()
        if engine is None or layout:
            if engine is not None:
                self.fig.draw_without_rendering()  # as savefig: lay out with a first draw
            self.canvas.draw()
            self._laid_out = _view_state(self.fig)
        else:
            self.fig.set_layout_engine("none")
            try:
                self.canvas.draw()
            finally:
                self.fig.set_layout_engine(engine)
        self.n_full += 1
        return self._pixels()

    def _lay_out(self) -> None:
        """Lay the figure out as ``savefig`` would (two draws with the layout engine), drawing nothing."""
        if self.fig.get_layout_engine() is not None:
            self.fig.draw_without_rendering()
        self.fig.draw_without_rendering()
        self._laid_out = _view_state(self.fig)

    def _pixels(self) -> np.ndarray:
        return np.asarray(self.canvas.buffer_rgba())

    def _setup(self, changed: Sequence[Artist]) -> np.ndarray:
        """Draw in full, decide what to redraw per frame, and cache the background without it.

        A static artist drawn after a changing one must be redrawn above it
        where the two can share pixels.  That is decided on pixels: each
        candidate (one whose box comes near a changing artist) is drawn alone
        on a scratch canvas, and is redrawn per frame only if the pixels it
        paints meet those the changing artists may paint (their clip box, or
        the room kept for a changing text).
        """
        fig = self.fig
        previous_known = self._known
        self._full(invalidate=True, layout=_view_state(fig) != self._laid_out)
        renderer = self.canvas.get_renderer()
        units, self._containers = _draw_list(fig)
        unit_ids = {id(u) for u in units}
        owner = self._owners(units, changed, unit_ids)
        changed_units = {id(owner[id(a)]) for a in changed if id(a) in owner}
        # Keep the artists seen changing before (a frame may return fewer), and legends
        # placed at 'best' (a full draw moves them with the data).
        changed_units |= {k for k in previous_known if k in unit_ids}
        changed_units |= {id(u) for u in units if isinstance(u, Legend) and getattr(u, "_loc", None) == 0}
        everything = Bbox(fig.bbox.get_points())
        width, height = self.canvas.get_width_height()
        scratch = RendererAgg(width, height, fig.dpi)
        dirty = np.zeros((height, width), dtype=bool)
        dirty_boxes: list[Bbox] = []
        redraw: list[Artist] = []
        text_room: dict[int, Bbox] = {}
        for unit in units:
            if id(unit) in changed_units:
                redraw.append(unit)
                clip = _is_clipped(unit)
                if clip is not None:
                    region, mask = clip, self._clip_pixels(scratch, clip)
                else:
                    region = self._free_region(unit, renderer, everything)
                    text_room[id(unit)] = region
                    mask = _box_pixels(region, width, height) if region is not None else None
                if mask is None:  # draws nothing in any frame seen
                    continue
                dirty |= mask
                dirty_boxes.append(region)
                continue
            region = _extent(unit, renderer, everything)
            if region is None or not any(_overlaps(region, d) for d in dirty_boxes):
                continue
            footprint = self._footprint(scratch, unit)
            if footprint is None or (footprint & dirty).any():
                redraw.append(unit)
                dirty |= footprint if footprint is not None else True
                dirty_boxes.append(region)
        self._redraw = redraw
        self._text_room = text_room
        self._known = changed_units | {id(a) for a in changed}
        self._view = _view_state(fig)
        self._structure = _structure(fig, self._containers)
        self._draw_background(units, redraw)
        return self._blit(count=False)

    def prepare(self, frames: Iterable[Any]) -> None:
        """Look at every frame once (without drawing) to learn where unclipped changing texts go.

        A text that is not clipped to its axes (a title, a note) may grow,
        move or appear from one frame to the next; knowing the room it takes
        over all frames lets the renderer set its background up once.
        Optional: without it, room is kept around each text and the
        background is set up again when a text outgrows it.
        """
        if not self._open:
            raise RuntimeError("FrameRenderer.prepare needs an open renderer: use it in a 'with' block.")
        frames = list(frames)
        if frames:  # texts are placed by the layout
            self.update(frames[0])
            self._lay_out()
        renderer = self.canvas.get_renderer()
        rooms: dict[int, Bbox] = {}
        if len(frames) > _PREPARE_FRAMES:  # measuring texts costs: look at frames spread over the whole
            picks = np.unique(np.linspace(0, len(frames) - 1, _PREPARE_FRAMES).round().astype(int))
            frames = [frames[i] for i in picks]
        for frame in frames:
            for artist in self.update(frame) or []:
                if not isinstance(artist, Artist) or _is_clipped(artist) is not None or not artist.get_visible():
                    continue
                if isinstance(artist, Text) and not artist.get_text():
                    rooms.setdefault(id(artist), Bbox.null())
                    continue
                try:
                    bbox = artist.get_tightbbox(renderer)
                except Exception:
                    continue
                if bbox is None or not _finite(bbox):
                    continue
                known = rooms.get(id(artist))
                rooms[id(artist)] = bbox if known is None or not _finite(known) else Bbox.union([known, bbox])
        self._prepared = rooms

    def _free_region(self, unit: Artist, renderer: Any, everything: Bbox) -> Bbox | None:
        """Where an unclipped changing artist may draw: what :meth:`prepare` saw, else room around it now."""
        seen = self._prepared.get(id(unit)) if self._prepared is not None else None
        if seen is not None:
            if not _finite(seen):
                return None
            # Room for the frames that were not looked at, for a text (its width follows what it says).
            # Another artist gets none: its frames between those seen stay within them when it moves
            # one way, and a frame where it does not is caught by _texts_fit (the background is set up again).
            room = _PREPARED_ROOM * seen.width if isinstance(unit, Text) else 0.0
            return Bbox.from_extents(seen.x0 - room - _PAD, seen.y0 - _PAD, seen.x1 + room + _PAD, seen.y1 + _PAD)
        region = _extent(unit, renderer, everything)
        if region is None:
            if isinstance(unit, Text) and unit.get_visible():
                return everything  # empty now; it may say anything later
            return None
        if isinstance(unit, Text) and region is not everything:
            room = _TEXT_ROOM * region.width
            return Bbox.from_extents(region.x0 - room, region.y0 - _PAD, region.x1 + room, region.y1 + _PAD)
        return everything if not isinstance(unit, Text) else region

    def _draw_background(self, units: Sequence[Artist], redraw: Sequence[Artist]) -> None:
        """Draw the figure without ``redraw`` and keep its pixels.

        The static parts are drawn one by one, in the order and at the
        positions of the full draw just made (no layout, title or label
        placement runs again).
        """
        skip = {id(u) for u in redraw}
        renderer = self.canvas.get_renderer()
        renderer.clear()
        self.fig.patch.draw(renderer)
        for unit in units:
            if id(unit) not in skip:
                unit.draw(renderer)
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)

    @staticmethod
    def _footprint(scratch: Any, unit: Artist) -> np.ndarray | None:
        """The pixels ``unit`` paints, drawn alone; None when it cannot be drawn alone."""
        scratch.clear()
        try:
            unit.draw(scratch)
        except Exception:
            return None
        return np.asarray(scratch.buffer_rgba())[..., 3] > 0

    @staticmethod
    def _clip_pixels(scratch: Any, clip: Bbox) -> np.ndarray:
        """Every pixel an artist clipped to ``clip`` can paint (a filled rectangle drawn with that clip)."""
        from matplotlib.patches import Rectangle
        from matplotlib.transforms import IdentityTransform

        scratch.clear()
        big = Rectangle((clip.x0 - 50, clip.y0 - 50), clip.width + 100, clip.height + 100,
                        transform=IdentityTransform(), facecolor="black", edgecolor="none", linewidth=0)
        big.set_clip_box(clip)
        big.draw(scratch)
        return np.asarray(scratch.buffer_rgba())[..., 3] > 0

    @staticmethod
    def _owners(units: Sequence[Artist], changed: Sequence[Artist], unit_ids: set[int]) -> dict[int, Artist]:
        """Map each changed artist to the unit that draws it (itself, or the unit it belongs to)."""
        owner: dict[int, Artist] = {}
        missing = [a for a in changed if id(a) not in unit_ids]
        for a in changed:
            if id(a) in unit_ids:
                owner[id(a)] = a
        if missing:
            wanted = {id(a) for a in missing}
            for unit in units:
                stack = list(unit.get_children())
                while stack and wanted:
                    child = stack.pop()
                    if id(child) in wanted:
                        owner[id(child)] = unit
                        wanted.discard(id(child))
                    stack.extend(child.get_children())
                if not wanted:
                    break
        return owner

    def _texts_fit(self) -> bool:
        """Whether every changing unclipped text still fits in the room kept for it."""
        if not self._text_room:
            return True
        renderer = self.canvas.get_renderer()
        for unit in self._redraw:
            if id(unit) not in self._text_room or not unit.get_visible():
                continue
            room = self._text_room[id(unit)]
            try:
                bbox = unit.get_tightbbox(renderer)
            except Exception:
                return False
            if bbox is not None and _finite(bbox) and (room is None or not _contains(room, bbox)):
                if isinstance(unit, Text) and not unit.get_text():
                    continue
                # Remember where it went, so the next setup keeps room for it.
                if self._prepared is None:
                    self._prepared = {}
                seen = self._prepared.get(id(unit))
                self._prepared[id(unit)] = bbox if seen is None or not _finite(seen) else Bbox.union([seen, bbox])
                return False
        return True

    def _blit(self, *, count: bool = True) -> np.ndarray:
        canvas = self.canvas
        canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        for unit in self._redraw:
            unit.draw(renderer)
        if count:
            self.n_blit += 1
        return self._pixels()


# -- rendering many frames, in this process or in workers ---------------------------------------------
def auto_workers(n_frames: int) -> int:
    """How many worker processes render ``n_frames`` by default.

    ``DEEPREPLAY_WORKERS`` decides when set.  Else one (this process) for
    short animations (under 40 frames), on platforms without the ``fork``
    start method (only Linux forks by default), when JAX has started or PyTorch is
    loaded (see :func:`fork_is_safe`), and in Jupyter kernels
    (forking a kernel is best avoided); otherwise as many as the CPUs this
    process may use, at most 4.
    """
    env = os.environ.get("DEEPREPLAY_WORKERS")
    if env is not None and env.strip():
        try:
            return max(1, int(env))
        except ValueError:
            warnings.warn(f"DEEPREPLAY_WORKERS={env!r} is not an integer; rendering in this process.",
                          stacklevel=3)
            return 1
    from ..progress import in_notebook

    if n_frames < 40 or not fork_is_safe() or in_notebook():
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def _fork_available() -> bool:
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


#: Modules whose thread pools make ``fork`` unsafe (JAX warns "os.fork() ... will likely lead to a deadlock").
THREADED_BACKENDS = ("jax", "torch")


def _jax_started() -> bool:
    """Whether JAX has started its runtime (its thread pools), not merely been imported.

    TensorFlow imports JAX when it is installed (``tensorflow.lite.python.util``),
    without running anything on it: JAX starts its backends, and registers its
    fork warning, on its first computation (``jax._src.xla_bridge.backends()``,
    which fills ``_backends``).  Unknown internals count as started.
    """
    if "jax" not in sys.modules:
        return False
    bridge = sys.modules.get("jax._src.xla_bridge")
    if bridge is None:
        return False  # no backend can have been created without it
    backends = getattr(bridge, "_backends", None)
    return not isinstance(backends, dict) or bool(backends)


def fork_is_safe() -> bool:
    """Whether frames may be rendered by forked workers in this process.

    Not when JAX has started its runtime or PyTorch is loaded: their thread
    pools do not survive a ``fork`` (JAX says so with a ``RuntimeWarning``).
    JAX only imported (as TensorFlow imports it when installed) has no pool
    yet and does not prevent forking (see :func:`_jax_started`).  A ``spawn``
    or ``forkserver`` worker would have to receive the figure and its update
    function by pickling, and a figure of visuals (closures over an open
    recording) cannot be pickled, so frames are then rendered in this
    process instead.  TensorFlow's threads are not touched by the drawing
    workers, which only run Matplotlib.
    """
    if not _fork_available() or _jax_started():
        return False
    return not any(name in sys.modules for name in THREADED_BACKENDS if name != "jax")


# State handed to forked workers (set just before the pool forks, cleared after).
_WORKER_JOB: dict[str, Any] | None = None
_WORKER_RENDERER: FrameRenderer | None = None


def _worker_render(index: int) -> Any:
    global _WORKER_RENDERER
    job = _WORKER_JOB
    if _WORKER_RENDERER is None:
        inherited = job.get("renderer")
        if inherited is not None and inherited._open:
            _WORKER_RENDERER = inherited  # prepared and set up by the parent before it forked
        else:  # a worker forked after the parent closed its renderer (a replaced worker)
            _WORKER_RENDERER = FrameRenderer(job["fig"], job["update"], dpi=job["dpi"],
                                             full_redraw=job["full_redraw"], blit=job["blit"]).__enter__()
            _WORKER_RENDERER.prepare(job["frames"])
    return job["encode"](_WORKER_RENDERER.render(job["frames"][index]))


def render_frames(fig: Figure, update: Update, frames: Sequence[Any], *, dpi: float | None = None,
                  encode: Callable[[np.ndarray], Any] | None = None, full_redraw: Callable[[], bool] | None = None,
                  workers: int | None = None, blit: bool = True, progress: bool | None = None,
                  desc: str = "rendering", uncounted: int = 0) -> Iterator[Any]:
    """Render ``frames`` in order and yield ``encode(rgba)`` for each.

    Parameters
    ----------
    fig, update, dpi, full_redraw, blit
        As for :class:`FrameRenderer`.
    frames : sequence
        What ``update`` is called with, one per frame.
    encode : callable, optional
        Turns a frame's RGBA array (a view, valid only during the call) into
        what is yielded; runs where the frame is rendered.  Default:
        :func:`rgb`, the frame's RGB pixels as a new array.
    workers : int, optional
        Worker processes (Linux ``fork`` only, and not once JAX has started or with PyTorch loaded: see
        :func:`fork_is_safe`; default :func:`auto_workers`).
        Each owns a copy of the figure; the figure of this process is left as
        it was.  With one worker, frames are rendered here.
    progress : bool, optional
        Show a progress bar (default: when interactive; see :mod:`deepreplay.progress`).
    desc : str, default "rendering"
        The bar's label.
    uncounted : int, default 0
        How many of the first frames are extra renderings that the bar does
        not count (the GIF palette's sample frames): the bar counts the
        animation's frames only.
    """
    frames = list(frames)
    encode = encode or rgb
    workers = auto_workers(len(frames)) if workers is None else max(1, int(workers))
    if workers > 1 and not fork_is_safe():
        workers = 1
    workers = min(workers, max(1, len(frames)))
    uncounted = min(max(0, int(uncounted)), len(frames))
    bar = progress_bar(total=len(frames) - uncounted, desc=desc, unit="frame", progress=progress)
    try:
        if workers == 1:
            with FrameRenderer(fig, update, dpi=dpi, full_redraw=full_redraw, blit=blit) as renderer:
                renderer.prepare(frames)
                for i, frame in enumerate(frames):
                    out = encode(renderer.render(frame))
                    if i >= uncounted:
                        bar.update(1)
                    yield out
            return
        yield from _render_in_workers(fig, update, frames, dpi, encode, full_redraw, workers, blit, bar, uncounted)
    finally:
        bar.refresh()  # the final count is shown even when the last frames came within tqdm's interval
        bar.close()


def _render_in_workers(fig, update, frames, dpi, encode, full_redraw, workers, blit, bar,
                       uncounted=0) -> Iterator[Any]:
    global _WORKER_JOB
    # The figure is prepared and its background set up once, here, before forking: every worker
    # inherits that renderer (its pixels and what it learned) instead of doing it again.
    renderer = FrameRenderer(fig, update, dpi=dpi, full_redraw=full_redraw, blit=blit).__enter__()
    try:
        renderer.prepare(frames)
        renderer.render(frames[0])
        _WORKER_JOB = {"fig": fig, "update": update, "frames": frames, "dpi": dpi, "encode": encode,
                       "full_redraw": full_redraw, "blit": blit, "renderer": renderer}
        context = multiprocessing.get_context("fork")
        with warnings.catch_warnings():
            # Python >= 3.12 warns when forking a process with threads (TensorFlow's); workers only draw.
            warnings.simplefilter("ignore", DeprecationWarning)
            pool = context.Pool(workers)
    finally:
        _WORKER_JOB = None
        renderer.close()  # this process's figure is left as it was; the workers keep their copies open
    try:
        # Consecutive frames go to different workers, so results arrive in order at
        # the pace of all workers; each worker keeps its own background.
        for i, out in enumerate(pool.imap(_worker_render, range(len(frames)), chunksize=1)):
            if i >= uncounted:
                bar.update(1)
            yield out
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def rgb(rgba: np.ndarray) -> np.ndarray:
    """The RGB pixels of an RGBA frame, as a new contiguous array (height, width, 3)."""
    return np.ascontiguousarray(np.asarray(rgba)[..., :3])
