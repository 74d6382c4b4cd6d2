"""compose_plots / compose_animations and saving animations as GIF, MP4 and HTML, for real."""

import gc
import os
import re

import imageio_ffmpeg
import matplotlib as mpl
import pytest
from matplotlib import pyplot as plt
from PIL import Image

from deepreplay.plot import compose_animations, compose_plots




@pytest.fixture(autouse=True)
def _collect_unrendered_animations():
    """Collect this test's animations while its warning filter applies."""
    yield
    gc.collect()


FIGSIZE = (4, 1.5)
DPI = 40


def build_visuals(replay, *, figsize=FIGSIZE, dpi=DPI, ranges=((None, None),) * 3):
    """LossAndMetric, ProbabilityHistogram and LossHistogram on one 1x4 figure."""
    fig, axs = plt.subplots(1, 4, figsize=figsize, dpi=dpi)
    (s0, e0), (s1, e1), (s2, e2) = ranges
    return fig, [
        replay.build_loss_and_metric(axs[0], "accuracy", epoch_start=s0, epoch_end=e0),
        replay.build_probability_histogram(axs[1], axs[2], epoch_start=s1, epoch_end=e1),
        replay.build_loss_histogram(axs[3], epoch_start=s2, epoch_end=e2),
    ]


def gif_frames(path):
    with Image.open(path) as im:
        return im.n_frames, im.size, im.info.get("duration")


# -- composing ---------------------------------------------------------------------------------

def test_compose_plots_draws_every_visual_and_titles_the_figure(replay):
    fig, visuals = build_visuals(replay)
    out = compose_plots(visuals, 2, title="Sigmoid")
    assert out is fig
    assert fig.get_suptitle() == "Sigmoid - Epoch: 2"
    assert all(v.current_epoch == 2 for v in visuals)
    texts = len(fig.texts)
    compose_plots(visuals, 3)
    assert fig.get_suptitle() == "Epoch: 3" and len(fig.texts) == texts  # the title is reused


def test_the_figure_is_laid_out_once_and_stays_put(replay):
    fig, visuals = build_visuals(replay, figsize=(16, 4), dpi=30)
    default = [ax.get_position().bounds for ax in fig.axes]
    compose_plots(visuals, 0, title="Sigmoid")
    laid_out = [ax.get_position().bounds for ax in fig.axes]
    assert laid_out != default  # room made for the labels and the title
    for epoch in replay.epochs:
        compose_plots(visuals, int(epoch))
        assert [ax.get_position().bounds for ax in fig.axes] == laid_out
    # A layout the user chose is kept.
    fig, visuals = build_visuals(replay)
    fig.set_layout_engine("constrained")
    compose_plots(visuals, 0)
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"


def test_compose_animations_uses_the_common_epochs(replay):
    _fig, visuals = build_visuals(replay, ranges=((None, None), (1, None), (None, 3)))
    assert compose_animations(visuals).epochs == [1, 2, 3]
    assert compose_animations(visuals, epoch_start=2).epochs == [2, 3]
    with pytest.raises(ValueError, match=r"epoch_start=4 .*recorded epochs: 1\.\.3"):
        compose_animations(visuals, epoch_start=4)


def test_visuals_on_different_figures_are_refused(replay):
    _, visuals = build_visuals(replay)
    _, other = build_visuals(replay)
    with pytest.raises(ValueError, match="different figures"):
        compose_animations([visuals[0], other[2]])
    with pytest.raises(ValueError, match="different figures"):
        compose_plots([visuals[0], other[2]], 1)


def test_animation_frames_update_artists_without_adding_any(replay):
    fig, visuals = build_visuals(replay)
    anim = compose_animations(visuals, title="t")
    anim._update_epoch(0)
    children = [len(ax.get_children()) for ax in fig.axes]
    for epoch in anim.epochs:
        changed = anim._update_epoch(epoch)
        assert [len(ax.get_children()) for ax in fig.axes] == children
    assert fig.get_suptitle() == "t - Epoch: 4"
    assert fig._deepreplay_epoch_title in changed


# -- saving ------------------------------------------------------------------------------------

def test_gif_has_one_frame_per_epoch(replay, tmp_path):
    _fig, visuals = build_visuals(replay, ranges=((None, None), (1, None), (None, None)))
    anim = compose_animations(visuals)
    path = tmp_path / "run.gif"
    anim.save(path, fps=5)
    n_frames, size, duration = gif_frames(path)
    assert n_frames == len(anim.epochs) == 4
    assert size == (FIGSIZE[0] * DPI, FIGSIZE[1] * DPI)
    assert duration == 200  # 5 fps


def test_dpi_changes_the_output_size(replay, tmp_path):
    _, visuals = build_visuals(replay, ranges=((3, None),) * 3)
    anim = compose_animations(visuals)
    anim.save(tmp_path / "small.gif", dpi=20)
    anim.save(tmp_path / "large.gif", dpi=60)
    assert gif_frames(tmp_path / "small.gif")[1] == (FIGSIZE[0] * 20, FIGSIZE[1] * 20)
    assert gif_frames(tmp_path / "large.gif")[1] == (FIGSIZE[0] * 60, FIGSIZE[1] * 60)


def test_mp4_uses_the_ffmpeg_of_imageio_ffmpeg(replay, tmp_path, monkeypatch):
    calls = []
    real = imageio_ffmpeg.get_ffmpeg_exe

    def spy():
        calls.append(1)
        return real()

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", spy)
    # No ffmpeg on PATH and a bogus configured one: only imageio-ffmpeg's binary can work.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(mpl.rcParams, "animation.ffmpeg_path", str(tmp_path / "no-ffmpeg"))
    _fig, visuals = build_visuals(replay)
    anim = compose_animations(visuals)
    path = tmp_path / "run.mp4"
    anim.save(path)
    assert calls
    n_frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert n_frames == len(anim.epochs) == 5
    assert seconds == pytest.approx(5 / 2, abs=0.1)  # 5 frames: 2 fps by default, so that they last 2.5 s


def test_mp4_of_a_figure_with_an_odd_pixel_size(replay, tmp_path):
    # 4.05 x 1.55 in at 40 dpi = 162 x 62 px; at 60 dpi = 243 x 93 px: odd sizes, which
    # the yuv420p pixel format cannot hold without padding.
    _, visuals = build_visuals(replay, figsize=(4.05, 1.55), ranges=((2, None),) * 3)
    anim = compose_animations(visuals)
    path = tmp_path / "odd.mp4"
    anim.save(path, fps=5, dpi=60)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = list(reader)
    assert len(frames) == 3
    assert meta["size"] == (244, 94)


def test_html_embeds_every_frame(replay, tmp_path):
    _fig, visuals = build_visuals(replay, ranges=((2, None),) * 3)
    anim = compose_animations(visuals)
    path = tmp_path / "run.html"
    anim.save(path, fps=5)
    html = path.read_text(encoding="utf-8")
    assert "<script" in html and "new DeepReplayPlayer(" in html
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', html)) == len(anim.epochs) == 3
    assert re.search(r"new DeepReplayPlayer\(root, frames, 200(\.0)?,", html)
    # A second save honours its own options (no stale cached result).
    anim.save(path, fps=10)
    assert re.search(r"new DeepReplayPlayer\(root, frames, 100(\.0)?,", path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name, kwargs, match", [
    ("run.avi", {}, r"extension '\.avi'; choose one of \('\.gif', '\.mp4', '\.html'\)"),
    ("missing/run.gif", {}, "directory .* does not exist"),
    ("run.gif", {"fps": 0}, "fps=0 must be a positive"),
    ("run.gif", {"fps": float("nan")}, "fps=nan must be a positive"),
    ("run.mp4", {"dpi": -1}, "dpi=-1 must be a positive"),
])
def test_bad_save_arguments(replay, tmp_path, name, kwargs, match):
    _, visuals = build_visuals(replay)
    anim = compose_animations(visuals)
    with pytest.raises(ValueError, match=match):
        anim.save(tmp_path / name, **kwargs)
    assert not os.path.exists(tmp_path / name)


def test_saved_files_get_ordinary_permissions(tmp_path, tiny_recording):
    """Files are written through a temporary file; the result is not private (0600) but follows the umask."""
    import matplotlib.pyplot as plt

    from deepreplay.replay import Replay

    filename, group, _, _ = tiny_recording
    umask = os.umask(0o022)
    try:
        with Replay(filename, group) as replay:
            fig, ax = plt.subplots()
            anim = replay.build_loss_histogram(ax).animate()
            path = tmp_path / "perm.gif"
            anim.save(path, fps=5, dpi=30)
    finally:
        os.umask(umask)
    assert (path.stat().st_mode & 0o777) == 0o644


def test_no_deleted_animation_warning_after_display_jshtml_or_an_unsaved_animate(replay):
    import warnings

    _fig, visuals = build_visuals(replay)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unsaved = visuals[0].animate()
        shown = compose_animations(visuals)
        html = shown._repr_html_()  # what the notebook's inline display calls
        jshtml = compose_animations(visuals).to_jshtml()
        del unsaved, shown
        gc.collect()
    assert "<img" in html and "<img" in jshtml
    assert [str(w.message) for w in caught] == []


def test_gif_and_mp4_play_at_the_same_default_rate_and_a_short_run_lasts_5_seconds(replay, tmp_path):
    import numpy as np

    from deepreplay.plot.export import EXACT_GIF_FPS, default_fps

    assert default_fps(151) == 10 and default_fps(21) == 4 and default_fps(5) == 2
    assert all(1000 % fps == 0 and (1000 // fps) % 10 == 0 for fps in EXACT_GIF_FPS)
    for n in range(1, 200):
        fps = default_fps(n)
        assert fps in EXACT_GIF_FPS and (n / fps >= 5 or fps == min(EXACT_GIF_FPS))
    _fig, visuals = build_visuals(replay)
    anim = compose_animations(visuals)
    anim.save_many([tmp_path / "a.gif", tmp_path / "a.mp4"])
    fps = default_fps(len(anim.epochs))
    with Image.open(tmp_path / "a.gif") as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "a.mp4"))
    meta = next(reader)
    reader.close()
    assert durations == [1000 / fps] * len(anim.epochs)
    assert np.isclose(meta["fps"], fps)
