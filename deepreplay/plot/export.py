"""Saving animations: GIF (Pillow), MP4 (ffmpeg from imageio-ffmpeg), HTML (jshtml)."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib.animation import FFMpegWriter, HTMLWriter, PillowWriter

if TYPE_CHECKING:
    from .base import ReplayAnimation

FORMATS = (".gif", ".mp4", ".html")
DEFAULT_FPS = 15


def ffmpeg_path() -> str:
    """The ffmpeg binary shipped by ``imageio-ffmpeg`` (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


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
    for name, value in (("fps", fps), ("dpi", dpi)):
        if value is not None and (isinstance(value, (bool, np.bool_))
                                  or not isinstance(value, (int, float, np.integer, np.floating))
                                  or not math.isfinite(value) or value <= 0):
            raise ValueError(f"{name}={value!r} must be a positive (finite) number.")
    return path, ext


def save_animation(anim: ReplayAnimation, filename: str | os.PathLike, *, fps: float | None = None,
                   dpi: float | None = None, **kwargs: Any) -> str:
    """Save ``anim`` by the extension of ``filename``; return the path written.

    Parameters
    ----------
    anim : ReplayAnimation
        From ``animate()`` or :func:`~deepreplay.plot.compose_animations`.
    filename : str or path-like
        ``.gif`` (Pillow), ``.mp4`` (H.264 through imageio-ffmpeg's ffmpeg) or
        ``.html`` (a self-contained JavaScript player).
    fps : float, optional
        Frames per second (default 15).
    dpi : float, optional
        Resolution (default: the figure's).
    """
    path, ext = _check(filename, fps, dpi)
    fps = DEFAULT_FPS if fps is None else fps
    if ext == ".gif":
        anim._base_save(path, writer=PillowWriter(fps=fps), dpi=dpi, **kwargs)
    elif ext == ".mp4":
        with mpl.rc_context({"animation.ffmpeg_path": ffmpeg_path()}):
            # yuv420p (what players expect) needs an even width and height: pad by
            # one pixel where the figure's pixel size is odd.
            writer = FFMpegWriter(fps=fps, codec="libx264",
                                  extra_args=["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p"])
            anim._base_save(path, writer=writer, dpi=dpi, **kwargs)
    else:
        # Written directly (not through to_jshtml, which caches its first result
        # and drops the frames beyond rcParams['animation.embed_limit']): a file
        # the user asked for holds every frame, at the fps and dpi asked for.
        writer = HTMLWriter(fps=fps, embed_frames=True, default_mode="loop" if anim._repeat else "once",
                            embed_limit=math.inf)
        anim._base_save(path, writer=writer, dpi=dpi, **kwargs)
    return path


def notebook_html(anim: ReplayAnimation) -> str:
    """HTML for showing ``anim`` inline in Jupyter."""
    return anim.to_jshtml()
