"""Tests for deepreplay.plot.writers: GIF, MP4 and HTML files from RGB frames (no figure needed)."""

import io
import re

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from deepreplay.plot import writers


def frames(n=3, size=(21, 13)):
    """``n`` RGB frames of odd size: a white background and a coloured square moving right."""
    out = []
    for i in range(n):
        frame = np.full((size[1], size[0], 3), 255, dtype=np.uint8)
        frame[3:8, 2 + 4 * i:7 + 4 * i] = (31, 119, 180)
        out.append(frame)
    return out


def test_gif_keeps_every_frame_and_its_exact_colours(tmp_path):
    path = tmp_path / "a.gif"
    writer = writers.GifWriter(str(path), fps=4)
    shown = frames() + [frames()[-1]]  # the last frame twice: still a frame of its own
    writer.set_samples([shown[i] for i in writers.palette_samples(len(shown))])
    for frame in shown:
        writer.add(frame)
    assert writer.close() == 4
    with Image.open(path) as im:
        assert im.n_frames == 4
        for i, frame in enumerate(shown):
            im.seek(i)
            assert im.info["duration"] == 250
            np.testing.assert_array_equal(np.asarray(im.convert("RGB"))[:12], frame[:12])


def test_a_writer_without_frames_refuses_to_write(tmp_path):
    for writer in (writers.GifWriter(str(tmp_path / "a.gif"), fps=5), writers.Mp4Writer(str(tmp_path / "a.mp4"), fps=5),
                   writers.HtmlWriter(str(tmp_path / "a.html"), fps=5)):
        with pytest.raises(ValueError, match="no frame to write"):
            writer.close()
    assert list(tmp_path.iterdir()) == []


def test_mp4_pads_odd_sizes_to_even(tmp_path):
    assert writers.even_size((21, 13)) == (22, 14)
    padded = writers.pad_even(frames()[0])
    assert padded.shape == (14, 22, 3)
    np.testing.assert_array_equal(padded[:, -1], padded[:, -2])
    path = tmp_path / "a.mp4"
    writer = writers.Mp4Writer(str(path), fps=5)
    for frame in frames():
        writer.add(frame)
    assert writer.close() == 3
    assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == 3


def test_png_frames_are_lossless_and_the_html_page_holds_them_all(tmp_path):
    frame = frames()[1]
    png = writers.png_bytes(frame)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), frame)
    path = tmp_path / "a.html"
    writer = writers.HtmlWriter(str(path), fps=5, default_mode="once")
    for f in frames():
        writer.add(writers.png_bytes(f))
    assert writer.close() == 3
    page = path.read_text(encoding="utf-8")
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', page)) == 3
    assert 'value="once" checked' in page and 'id="next"' in page


def test_figure_colours_are_the_opaque_colours_of_the_artists():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color="#ff0000")
    ax.plot([0, 1], [1, 0], color="#00ff00", alpha=0.5)  # not opaque: its pixels are blends
    colours = writers.figure_colours(fig)
    assert (255, 0, 0) in colours and (0, 255, 0) not in colours


def test_gif_palette_keeps_colour_maps_and_thin_lines_on_a_colour_map_heavy_figure():
    """Colour maps covering much of the figure (three images with colour bars) and a short thin line drawn
    after them: the map entries stay close (viridis' yellow stays yellow) and the line's colour exact."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(8, 2.5), dpi=50)
    ramp = np.linspace(0, 1, 400).reshape(20, 20)
    luts = []
    for ax, cmap in zip(axes, ("viridis", "RdBu", "Blues")):
        fig.colorbar(ax.imshow(ramp, cmap=cmap, interpolation="nearest"), ax=ax)
        luts.append(plt.get_cmap(cmap)(np.arange(256))[:, :3] * 255)
    fig.add_axes((0.9, 0.05, 0.05, 0.1)).plot([0, 1], [0.5, 0.5], color="tab:purple", lw=1.5)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    palette = writers.GifPalette([rgb], writers.figure_colours(fig), writers.figure_colormaps(fig))
    plt.close(fig)
    shown = np.asarray(palette.quantize(rgb).convert("RGB")).astype(int)
    error = np.sqrt(((shown - rgb.astype(int)) ** 2).sum(axis=-1))
    purple = (rgb == (148, 103, 189)).all(axis=-1)
    assert 0 < purple.sum() < 30  # too few pixels to be among the most frequent colours
    np.testing.assert_array_equal(shown[purple], rgb[purple])  # the line's colour is kept exactly
    lut = np.concatenate([np.concatenate([t.astype(np.uint8), np.round(t).astype(np.uint8)]) for t in luts])
    packed = lambda a: (a[..., 0].astype(np.int64) << 16) | (a[..., 1].astype(np.int64) << 8) | a[..., 2]
    mapped = np.isin(packed(rgb), packed(lut))  # the pixels coloured by a colour map
    assert mapped.sum() > 0.15 * mapped.size
    assert error[mapped].max() < 10, error[mapped].max()
    assert error[mapped].mean() < 3, error[mapped].mean()
