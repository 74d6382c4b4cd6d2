"""The file writers of an animation: GIF (Pillow), MP4 (ffmpeg) and HTML (the project's player).

Each writer takes the frames :func:`deepreplay.plot.render.render_frames`
renders, one at a time (``add``), and writes its file at ``close`` (``abort``
drops what it holds).  :mod:`deepreplay.plot.export` drives them.

* :class:`GifWriter` — Pillow, one shared 255-colour palette
  (:class:`GifPalette`), every frame kept, looping;
* :class:`Mp4Writer` — H.264, yuv420p, even size, through the ffmpeg binary of
  ``imageio-ffmpeg``;
* :class:`HtmlWriter` — the self-contained page of :mod:`deepreplay.plot.player`
  with every frame a lossless PNG (:func:`png_bytes`).

:class:`GifPalette` is hand-written: Pillow's own palette mapping works on
reduced colours (white becomes near-white) and a palette per frame makes colours
flicker; see its docstring.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.text import Text

from .player import player_page

__all__ = [
    "GifPalette",
    "GifWriter",
    "HtmlWriter",
    "Mp4Writer",
    "even_size",
    "figure_colormaps",
    "figure_colours",
    "pad_even",
    "palette_samples",
    "png_bytes",
]


# -- GIF --------------------------------------------------------------------------------------------------
class GifPalette:
    """One 255-colour palette for every frame of a GIF, plus a spare index.

    The palette is computed once from a few frames spread over the
    animation (the first, the middle and the last): the most frequent exact
    colours first (background, text, lines, class colours: plots are mostly
    flat colours, which stay exact), then the figure's own artist colours
    present in the samples (``colours``: a thin line keeps its colour), then
    entries of the colour maps in use (``colormaps``, only those present,
    each next one the farthest from those chosen: an image's bright end may cover few
    pixels, and median cut would merge it into its neighbours), then
    median-cut colours for the rest (antialiased edges, in-between shades).  Colours do not flicker from frame to
    frame, and each frame is mapped to the palette in a few milliseconds (a
    palette per frame costs ~50 ms).  Index 255 repeats the colour of the
    most frequent index: a frame identical to the previous one gets index
    255 at one pixel of that colour, so its indices differ and its colours
    do not, and Pillow keeps it as a frame of its own instead of merging it
    into the previous one.  The GIF has exactly one frame per epoch.
    """

    #: Most frequent colours taken exactly (at most), if each covers at least ``_EXACT_SHARE`` of the pixels.
    _EXACT = 64
    _EXACT_SHARE = 1e-4
    #: At most this many of the figure's own colours are kept exactly.
    _FIGURE_COLOURS = 96
    #: At most this many colour-map entries (and at most half the free entries).
    _COLORMAP_COLOURS = 96

    def __init__(self, samples: Sequence[np.ndarray], colours: Sequence[tuple[int, int, int]] = (),
                 colormaps: Sequence[Sequence[tuple[int, int, int]]] = ()) -> None:
        from PIL import Image

        rgb_samples = [np.asarray(sample)[..., :3] for sample in samples]
        if not rgb_samples:
            raise ValueError("GifPalette needs at least one sample frame.")
        montage = np.ascontiguousarray(np.concatenate(rgb_samples, axis=0))
        packed = (montage[..., 0].astype(np.uint32) << 16) | (montage[..., 1].astype(np.uint32) << 8) | montage[..., 2]
        values, counts = np.unique(packed.ravel(), return_counts=True)
        top = np.argsort(counts, kind="stable")[::-1][:self._EXACT]
        common = values[top][counts[top] >= self._EXACT_SHARE * packed.size]
        exact = [(int(c) >> 16 & 255, int(c) >> 8 & 255, int(c) & 255) for c in common]
        # The colours the artists are drawn with (a thin line may cover few pixels, but its
        # colour must not shift): those present in the samples, after the most frequent ones.
        # Only colours present count against the cap: a figure with many colours (a scatter coloured
        # by class) must not push the thin lines drawn last out of the palette.
        present = set(int(v) for v in values)
        kept = 0
        for colour in colours:
            rgb = tuple(int(v) for v in colour)
            if kept >= self._FIGURE_COLOURS:
                break
            if rgb not in exact and (rgb[0] << 16 | rgb[1] << 8 | rgb[2]) in present:
                exact.append(rgb)
                kept += 1
        # The colour maps' entries present in the samples, each next one the farthest from the palette
        # so far (the largest colour error left): an image's bright end may cover few pixels (viridis'
        # yellow), and median cut, which weights colours by their pixel count, would merge it away.
        budget = min(self._COLORMAP_COLOURS, (255 - len(exact)) // 2)
        candidates = sorted({c for ramp in colormaps for c in (tuple(int(v) for v in e) for e in ramp)
                             if (c[0] << 16 | c[1] << 8 | c[2]) in present} - set(exact))
        if candidates and budget > 0:
            ramp_rgb = np.asarray(candidates, dtype=np.int32)
            chosen = np.asarray(exact, dtype=np.int32).reshape(-1, 3)
            error = (((ramp_rgb[:, None, :] - chosen[None, :, :]) ** 2).sum(axis=2).min(axis=1)
                     if len(chosen) else np.full(len(ramp_rgb), 1 << 30))
            for _ in range(min(budget, len(candidates))):
                far = int(error.argmax())
                if error[far] == 0:
                    break
                exact.append(candidates[far])
                error = np.minimum(error, ((ramp_rgb - ramp_rgb[far]) ** 2).sum(axis=1))
        rest = 255 - len(exact)
        mixed: list[tuple[int, int, int]] = []
        if rest > 0 and len(values) > len(exact):
            quantized = Image.fromarray(montage).quantize(rest, method=Image.Quantize.MEDIANCUT,
                                                          dither=Image.Dither.NONE)
            flat = quantized.getpalette()[:rest * 3]
            known = set(exact)
            for i in range(0, len(flat), 3):
                colour = (flat[i], flat[i + 1], flat[i + 2])
                if colour not in known:
                    known.add(colour)
                    mixed.append(colour)
        entries = (exact + mixed)[:255]
        entries += [entries[0]] * (255 - len(entries))
        self.dup_source = 0  # the most frequent colour comes first
        entries.append(entries[self.dup_source])  # index 255 repeats it
        self.palette = [v for colour in entries for v in colour]
        self._lut: np.ndarray | None = None
        self._previous: bytes | None = None

    def quantize(self, frame: np.ndarray):
        """The frame (RGB or RGBA) as a 'P' image with this palette: each pixel its nearest colour.

        Exact colours of the palette stay exact (Pillow's own palette mapping
        works on reduced colours, which shifts white to a near-white).  The
        nearest index of each colour is computed once and kept in a table
        over all 2**24 colours, so a frame costs a few milliseconds once its
        colours have been seen.
        """
        from PIL import Image

        rgb = np.asarray(frame)[..., :3]
        packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
        if self._lut is None:
            self._lut = np.full(1 << 24, 0xFFFF, dtype=np.uint16)
        indices = self._lut[packed]
        unknown = indices == 0xFFFF
        if unknown.any():
            colours = np.unique(packed[unknown])
            self._lut[colours] = self._nearest(colours)
            indices = self._lut[packed]
        data = indices.astype(np.uint8).tobytes()
        image = Image.frombuffer("P", (rgb.shape[1], rgb.shape[0]), data, "raw", "P", 0, 1)
        image.putpalette(self.palette)
        return image

    def _nearest(self, colours: np.ndarray) -> np.ndarray:
        """Index (0..254) of the palette colour nearest to each packed colour (squared RGB distance)."""
        table = np.asarray(self.palette[:255 * 3], dtype=np.int32).reshape(255, 3)
        rgb = np.column_stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255]).astype(np.int32)
        out = np.empty(len(rgb), dtype=np.uint16)
        for start in range(0, len(rgb), 4096):
            block = rgb[start:start + 4096]
            distances = ((block[:, None, :] - table[None, :, :]) ** 2).sum(axis=2)
            out[start:start + 4096] = distances.argmin(axis=1)
        return out

    def next_frame(self, frame: np.ndarray):
        """:meth:`quantize`, made different from the previous frame's indices if it is identical to it."""
        indexed = self.quantize(frame)
        data = indexed.tobytes()
        if data == self._previous:
            where = data.find(bytes([self.dup_source]))
            if where < 0:  # the most frequent colour is not in this frame: repeat any pixel's colour
                where, source = 0, data[0]
                self.palette[255 * 3:] = self.palette[source * 3:source * 3 + 3]
                indexed.putpalette(self.palette)
            indexed.putpixel((where % indexed.width, where // indexed.width), 255)
            data = indexed.tobytes()
        self._previous = data
        return indexed


def figure_colours(fig: Figure) -> list[tuple[int, int, int]]:
    """The opaque colours of the figure's artists (lines, markers, patches, collections, texts), as RGB bytes.

    Colour-mapped collections (colour bars, meshes) are left to :func:`figure_colormaps`:
    their many entries would crowd out the colours of lines drawn after them.
    """
    from matplotlib.collections import Collection
    from matplotlib.colors import to_rgba_array
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    found: dict[tuple[int, int, int], None] = {}

    def add(spec: Any, alpha: float | None = None) -> None:
        try:
            rgba = to_rgba_array(spec)
        except (TypeError, ValueError):
            return
        if alpha is not None:
            rgba[:, 3] *= alpha
        for r, g, b, a in rgba[:64]:
            if a >= 1.0:
                found.setdefault((round(r * 255), round(g * 255), round(b * 255)), None)

    for artist in fig.findobj():
        if not artist.get_visible():
            continue
        alpha = artist.get_alpha()
        if isinstance(artist, Line2D):
            for spec in (artist.get_color(), artist.get_markerfacecolor(), artist.get_markeredgecolor()):
                add(spec, alpha)
        elif isinstance(artist, Patch):
            add(artist.get_facecolor())
            add(artist.get_edgecolor())
        elif isinstance(artist, Collection):
            if artist.get_array() is not None:
                continue  # colour-mapped (a colour bar, a mesh): its colours are figure_colormaps'
            add(artist.get_facecolor())
            add(artist.get_edgecolor())
        elif isinstance(artist, Text):
            add(artist.get_color(), alpha)
    return list(found)


def figure_colormaps(fig: Figure) -> list[list[tuple[int, int, int]]]:
    """The colour maps of the figure's colour-mapped artists (images, meshes, colour bars), as RGB-byte ramps.

    One ramp per distinct colour map, its entries in map order; each entry
    both truncated (how images are coloured) and rounded (how meshes and
    patches are) to bytes, since which one a pixel gets depends on the artist.
    """
    from matplotlib.cm import ScalarMappable

    ramps: dict[str, list[tuple[int, int, int]]] = {}
    for artist in fig.findobj(lambda a: isinstance(a, ScalarMappable)):
        if not artist.get_visible() or artist.get_array() is None:
            continue
        cmap = artist.get_cmap()
        if cmap.name in ramps:
            continue
        lut = np.asarray(cmap(np.arange(cmap.N)))[:, :3] * 255
        ramp: dict[tuple[int, int, int], None] = {}
        for row_truncated, row_rounded in zip(lut.astype(np.uint8), np.round(lut).astype(np.uint8)):
            ramp.setdefault(tuple(int(v) for v in row_truncated), None)
            ramp.setdefault(tuple(int(v) for v in row_rounded), None)
        ramps[cmap.name] = list(ramp)
    return list(ramps.values())


def palette_samples(n_frames: int) -> list[int]:
    """Positions of the frames a GIF palette is computed from: first, middle, last."""
    return sorted({0, (n_frames - 1) // 2, n_frames - 1}) if n_frames else []


class GifWriter:
    """Collect frames and write an animated GIF with Pillow (every frame kept, looping)."""

    def __init__(self, path: str, *, fps: float, loop: int = 0) -> None:
        self.path = path
        self.duration = int(1000 / fps)
        self.loop = loop
        self.palette: GifPalette | None = None
        self.frames: list[Any] = []

    def set_samples(self, samples: Sequence[np.ndarray], colours: Sequence[tuple[int, int, int]] = (),
                    colormaps: Sequence[Sequence[tuple[int, int, int]]] = ()) -> None:
        self.palette = GifPalette(samples, colours, colormaps)

    def add(self, frame: np.ndarray) -> None:
        if self.palette is None:
            self.palette = GifPalette([frame])
        self.frames.append(self.palette.next_frame(frame))

    def close(self) -> int:
        if not self.frames:
            raise ValueError("no frame to write.")
        first, rest = self.frames[0], self.frames[1:]
        first.save(self.path, format="GIF", save_all=True, append_images=rest, duration=self.duration,
                   loop=self.loop, optimize=False, disposal=1)
        n = len(self.frames)
        self.frames = []
        return n

    def abort(self) -> None:
        self.frames = []


# -- MP4 --------------------------------------------------------------------------------------------------
def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """``(width, height)`` rounded up to even numbers (yuv420p needs them)."""
    return size[0] + size[0] % 2, size[1] + size[1] % 2


def pad_even(frame: np.ndarray) -> np.ndarray:
    """An RGB frame with its last column/row repeated where its width/height is odd."""
    frame = np.asarray(frame)[..., :3]
    h, w = frame.shape[:2]
    if w % 2 or h % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(frame)


class Mp4Writer:
    """Pipe RGB frames to ffmpeg (the binary of ``imageio-ffmpeg``): H.264, yuv420p, even size.

    ``crf`` and ``preset`` are libx264's quality (lower is better) and speed.
    """

    def __init__(self, path: str, *, fps: float, crf: int = 23, preset: str = "veryfast") -> None:
        self.path = path
        self.fps = fps
        self.crf = crf
        self.preset = preset
        self._writer = None
        self.n = 0

    def add(self, frame: np.ndarray) -> None:
        frame = pad_even(frame)
        if self._writer is None:
            import imageio_ffmpeg

            h, w = frame.shape[:2]
            self._writer = imageio_ffmpeg.write_frames(
                self.path, (w, h), pix_fmt_in="rgb24", pix_fmt_out="yuv420p", fps=self.fps, codec="libx264",
                macro_block_size=1, quality=None, ffmpeg_log_level="error",
                output_params=["-crf", str(self.crf), "-preset", self.preset],
            )
            self._writer.send(None)  # start ffmpeg
        self._writer.send(frame)
        self.n += 1

    def close(self) -> int:
        if self._writer is None:
            raise ValueError("no frame to write.")
        self._writer.close()
        self._writer = None
        return self.n

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:
                pass
            self._writer = None


# -- HTML -------------------------------------------------------------------------------------------------
def png_bytes(frame: np.ndarray, *, palette: GifPalette | None = None, compress_level: int = 1) -> bytes:
    """A frame as PNG: lossless RGB, or 'P' with a shared ``palette`` (about 3x smaller)."""
    from PIL import Image

    out = io.BytesIO()
    if palette is not None:
        image = palette.quantize(frame)
    else:
        image = Image.fromarray(np.ascontiguousarray(np.asarray(frame)[..., :3]))
    image.save(out, format="PNG", compress_level=compress_level)
    return out.getvalue()


class HtmlWriter:
    """Collect PNG frames and write the self-contained player page of :mod:`deepreplay.plot.player`."""

    def __init__(self, path: str, *, fps: float, default_mode: str = "loop") -> None:
        self.path = path
        self.fps = fps
        self.default_mode = default_mode
        self.frames: list[bytes] = []

    def add(self, png: bytes) -> None:
        self.frames.append(png)

    def close(self) -> int:
        if not self.frames:
            raise ValueError("no frame to write.")
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(player_page(self.frames, fps=self.fps, default_mode=self.default_mode))
        n = len(self.frames)
        self.frames = []
        return n

    def abort(self) -> None:
        self.frames = []
