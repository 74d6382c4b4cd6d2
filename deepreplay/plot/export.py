"""Saving animations (GIF, MP4, HTML) and showing them in notebooks.

Frames are rendered by :mod:`deepreplay.plot.render`: the figure is drawn
once and only what changes is redrawn per frame (pixel for pixel what
``savefig`` draws), optionally in worker processes, then

* ``.gif`` — Pillow, one shared 255-colour palette, one frame per epoch;
* ``.mp4`` — H.264 (yuv420p, even size) through the ffmpeg binary shipped by
  ``imageio-ffmpeg`` (no system ffmpeg needed);
* ``.html`` — a self-contained page with the project's JavaScript player
  (:mod:`deepreplay.plot.player`), every frame a lossless PNG.

The writers are in :mod:`deepreplay.plot.writers`.

In a notebook an animation shows itself as that player (:func:`notebook_html`),
kept under ``rcParams['animation.embed_limit']`` by lowering the resolution
or showing every k-th epoch, and saying so.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np

from ..progress import progress_bar
from . import render, writers
from .player import embedded_size, player_html

if TYPE_CHECKING:
    from .base import ReplayAnimation

FORMATS = (".gif", ".mp4", ".html")
#: Frame rates whose frame duration a GIF stores exactly (it counts in 10 ms), fastest first.  The
#: GIF and the MP4 of one animation then play at the same rate (15 fps would be 66.7 ms: 60 or 70).
EXACT_GIF_FPS = (10, 5, 4, 2)
#: The default frame rate of an animation long enough to play it for MIN_SECONDS.
DEFAULT_FPS = 10
#: A short run plays at least this long by default (slower frames, down to 2 per second).
MIN_SECONDS = 5.0


def default_fps(n_frames: int) -> int:
    """The default frame rate of ``n_frames``: 10 fps, slower for a short run so that it lasts ~5 s.

    Always one of :data:`EXACT_GIF_FPS`, so that GIF and MP4 play at the same rate:
    151 frames play at 10 fps (15 s), 21 frames at 4 fps (5.25 s), 5 frames at 2 fps.
    """
    for fps in EXACT_GIF_FPS:
        if n_frames / fps >= MIN_SECONDS:
            return fps
    return EXACT_GIF_FPS[-1]

#: Never lower a notebook animation's resolution below this fraction of the asked dpi (then drop frames).
MIN_DPI_FRACTION = 0.5
#: Nor below this dpi.
MIN_DPI = 30.0

# Keyword arguments of FuncAnimation.save that the fast renderer does not take:
# given one, the animation is saved through FuncAnimation as before.
_LEGACY_KWARGS = ("codec", "bitrate", "extra_args", "metadata", "extra_anim", "savefig_kwargs")


def ffmpeg_path() -> str:
    """The ffmpeg binary shipped by ``imageio-ffmpeg`` (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _check_number(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, (bool, np.bool_))
                              or not isinstance(value, (int, float, np.integer, np.floating))
                              or not math.isfinite(value) or value <= 0):
        raise ValueError(f"{name}={value!r} must be a positive (finite) number.")


def _check(filename: Any, fps: float | None, dpi: float | None) -> tuple[str, str]:
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"filename={filename!r} must be a path such as 'replay.gif'.")
    path = os.fspath(filename)
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"filename={path!r} has extension {ext!r}; choose one of {FORMATS}.")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"filename={path!r}: the directory {directory!r} does not exist.")
    _check_number("fps", fps)
    _check_number("dpi", dpi)
    return path, ext


def resolve_dpi(anim: ReplayAnimation, dpi: float | None) -> float:
    """The dpi to render at: ``dpi``, else ``rcParams['savefig.dpi']`` ('figure': the figure's), as Animation.save."""
    if dpi is None:
        dpi = mpl.rcParams["savefig.dpi"]
    if isinstance(dpi, str) and dpi == "figure":
        dpi = anim._fig.dpi
    return float(dpi)


def _temporary_path(path: str) -> str:
    """A file next to ``path``, with its extension (ffmpeg picks the format by it), to rename when done."""
    directory, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".part{ext}", dir=directory)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp


def _encode(frame: np.ndarray, *, want_rgb: bool, want_png: bool) -> tuple[np.ndarray | None, bytes | None]:
    rgb = render.rgb(frame)
    return (rgb if want_rgb else None), (writers.png_bytes(rgb) if want_png else None)


def save_animations(anim: ReplayAnimation, filenames: Sequence[str | os.PathLike], *, fps: float | None = None,
                    dpi: float | None = None, workers: int | None = None, progress: bool | None = None,
                    progress_callback: Callable[[int, int], Any] | None = None) -> list[str]:
    """Save ``anim`` to several files (``.gif``, ``.mp4``, ``.html``) from one rendering of its frames.

    Parameters
    ----------
    anim : ReplayAnimation
        From ``animate()`` or :func:`~deepreplay.plot.compose_animations`.
    filenames : sequence of str or path-like
        One file per format wanted; the extension picks the format.
    fps : float, optional
        Frames per second (default :func:`default_fps`: 10, slower for a short run, so it lasts ~5 s).
    dpi : float, optional
        Resolution (default ``rcParams['savefig.dpi']``, normally the figure's).
    workers : int, optional
        Processes rendering frames (Linux only; default: up to the CPUs for
        long animations, see :func:`deepreplay.plot.render.auto_workers`;
        ``DEEPREPLAY_WORKERS`` overrides it).
    progress : bool, optional
        Show a progress bar (default: in terminals and notebooks; see
        :mod:`deepreplay.progress`).
    progress_callback : callable, optional
        ``progress_callback(i, n)`` after each frame, as in ``Animation.save``.

    Returns
    -------
    list of str
        The paths written.  Each file appears complete or not at all: it is
        written to a temporary file next to it and renamed at the end.
    """
    checked = [_check(name, fps, dpi) for name in filenames]
    if not checked:
        raise ValueError("filenames is empty; give at least one file such as 'replay.gif'.")
    fps = default_fps(len(anim.epochs)) if fps is None else float(fps)
    dpi = resolve_dpi(anim, dpi)
    epochs = list(anim.epochs)
    exts = {ext for _, ext in checked}
    samples = [epochs[i] for i in writers.palette_samples(len(epochs))] if ".gif" in exts else []
    open_writers: list[tuple[str, str, Any]] = []
    try:
        for path, ext in checked:
            tmp = _temporary_path(path)
            if ext == ".gif":
                writer: Any = writers.GifWriter(tmp, fps=fps)
            elif ext == ".mp4":
                ffmpeg = ffmpeg_path()
                os.environ.setdefault("IMAGEIO_FFMPEG_EXE", ffmpeg)
                writer = writers.Mp4Writer(tmp, fps=fps)
            else:
                writer = writers.HtmlWriter(tmp, fps=fps, default_mode="loop" if anim._repeat else "once")
            open_writers.append((path, tmp, writer))
        want_rgb = bool(exts & {".gif", ".mp4"})
        want_png = ".html" in exts

        def encode(frame: np.ndarray) -> tuple[np.ndarray | None, bytes | None]:
            return _encode(frame, want_rgb=want_rgb, want_png=want_png)

        names = ", ".join(os.path.basename(path) for path, _ in checked)
        stream = render.render_frames(anim._fig, anim._update_epoch, samples + epochs, dpi=dpi, encode=encode,
                                      full_redraw=anim._full_redraw_needed, workers=workers, progress=progress,
                                      desc=f"saving {names}", uncounted=len(samples))
        sample_frames = []
        for i, (rgb, png) in enumerate(stream):
            if i < len(samples):
                sample_frames.append(rgb)
                if len(sample_frames) == len(samples):
                    for _, _, writer in open_writers:
                        if isinstance(writer, writers.GifWriter):
                            writer.set_samples(sample_frames, writers.figure_colours(anim._fig),
                                               writers.figure_colormaps(anim._fig))
                continue
            for _, _, writer in open_writers:
                writer.add(png if isinstance(writer, writers.HtmlWriter) else rgb)
            if progress_callback is not None:
                progress_callback(i - len(samples), len(epochs))
        for path, tmp, writer in open_writers:
            writer.close()
            os.replace(tmp, path)
    except BaseException:
        for _, tmp, writer in open_writers:
            writer.abort()
            if os.path.exists(tmp):
                os.remove(tmp)
        raise
    anim._draw_was_started = True  # rendered: no "deleted without rendering" warning
    return [path for path, _ in checked]


def save_animation(anim: ReplayAnimation, filename: str | os.PathLike, *, fps: float | None = None,
                   dpi: float | None = None, workers: int | None = None, progress: bool | None = None,
                   progress_callback: Callable[[int, int], Any] | None = None, **kwargs: Any) -> str:
    """Save ``anim`` by the extension of ``filename``; return the path written.

    Parameters
    ----------
    anim : ReplayAnimation
        From ``animate()`` or :func:`~deepreplay.plot.compose_animations`.
    filename : str or path-like
        ``.gif`` (Pillow), ``.mp4`` (H.264 through imageio-ffmpeg's ffmpeg) or
        ``.html`` (a self-contained JavaScript player).
    fps : float, optional
        Frames per second (default :func:`default_fps`: 10, slower for a short run, so it lasts ~5 s).
    dpi : float, optional
        Resolution (default: the figure's).
    workers, progress, progress_callback
        As for :func:`save_animations`.
    **kwargs
        ``FuncAnimation.save`` options (``savefig_kwargs``, ``codec``,
        ``bitrate``, ``extra_args``, ``metadata``, ``extra_anim``): given any,
        the animation is saved through ``FuncAnimation`` (every frame drawn in
        full), with the writer the extension picks.
    """
    path, ext = _check(filename, fps, dpi)
    unknown = sorted(set(kwargs) - set(_LEGACY_KWARGS))
    if unknown:
        raise TypeError(f"save() got unexpected keyword arguments {unknown}.")
    if kwargs:
        _save_with_funcanimation(anim, path, ext, fps=fps, dpi=dpi, progress_callback=progress_callback, **kwargs)
        return path
    return save_animations(anim, [path], fps=fps, dpi=dpi, workers=workers, progress=progress,
                           progress_callback=progress_callback)[0]


def _save_with_funcanimation(anim: ReplayAnimation, path: str, ext: str, *, fps: float | None,
                             dpi: float | None, **kwargs: Any) -> None:
    """The reference path: ``FuncAnimation.save`` with the writer of the extension (every frame in full)."""
    from matplotlib.animation import FFMpegWriter, HTMLWriter, PillowWriter

    fps = default_fps(len(anim.epochs)) if fps is None else fps
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    writer_options = {k: kwargs.pop(k) for k in ("codec", "bitrate", "extra_args", "metadata") if k in kwargs}
    if ext == ".gif":
        anim._base_save(path, writer=PillowWriter(fps=fps, **writer_options), dpi=dpi, **kwargs)
    elif ext == ".mp4":
        with mpl.rc_context({"animation.ffmpeg_path": ffmpeg_path()}):
            # yuv420p needs an even width and height: pad by one pixel where the size is odd.
            extra = ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p"]
            writer = FFMpegWriter(fps=fps, codec=writer_options.pop("codec", "libx264"),
                                  extra_args=extra + list(writer_options.pop("extra_args", None) or []),
                                  **writer_options)
            anim._base_save(path, writer=writer, dpi=dpi, **kwargs)
    else:
        writer = HTMLWriter(fps=fps, embed_frames=True, default_mode="loop" if anim._repeat else "once",
                            embed_limit=math.inf)
        anim._base_save(path, writer=writer, dpi=dpi, **kwargs)


# -- notebooks --------------------------------------------------------------------------------------------
def _embed_limit_bytes(embed_limit: float | None) -> float:
    limit = mpl.rcParams["animation.embed_limit"] if embed_limit is None else embed_limit
    _check_number("embed_limit", limit)
    return float(limit) * 1024 * 1024


def _ordinal(k: int) -> str:
    return {2: "2nd", 3: "3rd"}.get(k, f"{k}th")


def _strided(epochs: Sequence[int], stride: int) -> list[int]:
    """Every ``stride``-th epoch, the last one always included."""
    chosen = list(epochs[::stride])
    if chosen[-1] != epochs[-1]:
        chosen.append(epochs[-1])
    return chosen


def notebook_html(anim: ReplayAnimation, *, fps: float | None = None, dpi: float | None = None,
                  default_mode: str | None = None, embed_limit: float | None = None,
                  progress: bool | None = None) -> str:
    """The animation as an HTML/JavaScript player to show inline in Jupyter.

    Frames are palette PNGs (the colours of the GIF).  When all the frames
    at ``dpi`` would take more than ``embed_limit`` megabytes
    (``rcParams['animation.embed_limit']``, 20 MB by default), the
    resolution is lowered (down to half of ``dpi``), then only every k-th
    epoch is shown (the last one always), so the page stays under the limit;
    a warning and a caption under the player say what was done.  Nothing is
    cut off silently.

    Parameters
    ----------
    anim : ReplayAnimation
    fps : float, optional
        Default: from the animation's interval (20 fps for 50 ms).
    dpi : float, optional
        Default: ``rcParams['savefig.dpi']`` (normally the figure's dpi).
    default_mode : {'loop', 'once', 'reflect'}, optional
        Default: 'loop' when the animation repeats, else 'once'.
    embed_limit : float, optional
        Megabytes (default ``rcParams['animation.embed_limit']``).
    progress : bool, optional
        Show a progress bar (default: in notebooks and terminals).
    """
    _check_number("fps", fps)
    _check_number("dpi", dpi)
    limit = _embed_limit_bytes(embed_limit)
    fps = 1000.0 / anim._interval if fps is None else float(fps)
    default_mode = default_mode or ("loop" if anim._repeat else "once")
    asked_dpi = resolve_dpi(anim, dpi)
    epochs = list(anim.epochs)
    overhead = 16 * 1024  # the player's script and style
    budget = 0.95 * (limit - overhead)
    fig, update, full = anim._fig, anim._update_epoch, anim._full_redraw_needed

    def sample(renderer: render.FrameRenderer) -> tuple[writers.GifPalette, list[int]]:
        """The palette of the renderer's frames and the PNG sizes of the sample frames."""
        samples = [epochs[i] for i in writers.palette_samples(len(epochs))]
        pixels = [render.rgb(renderer.render(e)) for e in samples]
        palette = writers.GifPalette(pixels, writers.figure_colours(fig), writers.figure_colormaps(fig))
        return palette, [len(writers.png_bytes(p, palette=palette)) for p in pixels]

    renderer = render.FrameRenderer(fig, update, dpi=asked_dpi, full_redraw=full).__enter__()
    try:
        renderer.prepare(epochs)
        palette, sizes = sample(renderer)
        estimate = 4 / 3 * (sum(sizes) / len(sizes)) * len(epochs) * 1.1
        at_dpi, stride = asked_dpi, 1
        if estimate > budget:
            # PNG size grows about with the number of pixels: lower the dpi first, then drop frames.
            lowest = min(asked_dpi, max(MIN_DPI, asked_dpi * MIN_DPI_FRACTION))
            at_dpi = max(min(asked_dpi, math.floor(asked_dpi * math.sqrt(budget / estimate))), lowest)
            shrunk = estimate * (at_dpi / asked_dpi) ** 2
            if shrunk > budget:
                stride = math.ceil(shrunk / budget)
            if at_dpi != asked_dpi:
                renderer.close()
                renderer = render.FrameRenderer(fig, update, dpi=at_dpi, full_redraw=full).__enter__()
                renderer.prepare(epochs)
                palette, _ = sample(renderer)
        chosen = _strided(epochs, stride)
        frames = []
        bar = progress_bar(total=len(chosen), desc="rendering for the notebook", unit="frame",
                                  progress=progress)
        try:
            for e in chosen:
                frames.append(writers.png_bytes(renderer.render(e), palette=palette))
                bar.update(1)
        finally:
            bar.close()
    finally:
        renderer.close()
    while embedded_size(frames) > budget and len(frames) > 1:  # the estimate was short: drop more
        keep = _strided(list(range(len(chosen))), 2)
        if len(keep) >= len(chosen):
            keep = [len(chosen) - 1]
        chosen = [chosen[i] for i in keep]
        frames = [frames[i] for i in keep]
    caption = None
    if at_dpi != asked_dpi or len(chosen) != len(epochs):
        parts = []
        if at_dpi != asked_dpi:
            parts.append(f"at {at_dpi:g} dpi instead of {asked_dpi:g}")
        if len(chosen) != len(epochs):
            every = _ordinal(max(2, round(len(epochs) / len(chosen))))
            parts.append(f"{len(chosen)} of its {len(epochs)} epochs (about every {every})")
        caption = (f"Shown {' and '.join(parts)} to stay under rcParams['animation.embed_limit'] = "
                   f"{limit / 1024 / 1024:g} MB; save it with .save('replay.html') for every frame at full "
                   "resolution, or raise the limit.")
        warnings.warn(f"this animation would embed about {estimate / 1024 / 1024:.1f} MB in the notebook. "
                      + caption, stacklevel=3)
    return player_html(frames, fps=fps, default_mode=default_mode, caption=caption)


def html5_video(anim: ReplayAnimation, *, fps: float | None = None, dpi: float | None = None,
                progress: bool | None = None) -> str:
    """The animation as an HTML5 ``<video>`` (H.264 MP4, base64-embedded)."""
    import base64

    fps = 1000.0 / anim._interval if fps is None else fps
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "animation.mp4")
        save_animations(anim, [path], fps=fps, dpi=dpi, progress=progress)
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode("ascii")
    options = ["controls", "autoplay"] + (["loop"] if anim._repeat else [])
    return (f'<video {" ".join(options)}>\n  <source type="video/mp4" src="data:video/mp4;base64,{data}">\n'
            "  Your browser does not support the video tag.\n</video>")
