"""The fast renderer: its frames equal savefig's, it falls back to full redraws, and the files it writes."""

import gc
import io
import os
import re
import warnings

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib import pyplot as plt
from matplotlib.animation import PillowWriter
from matplotlib.patches import Rectangle
from PIL import Image

from deepreplay.plot import Plotter, ReplayAnimation, compose_animations
from deepreplay.plot import render, writers


DPI = 40


@pytest.fixture(autouse=True)
def _collect_unrendered_animations():
    yield
    gc.collect()


def part1_visuals(replay, *, layout=None, **feature_space):
    """The five Part 1 visuals of the tiny recording on one figure."""
    fig = plt.figure(figsize=(9, 4.5), dpi=DPI, layout=layout)
    axs = fig.subplots(2, 3).ravel()
    return fig, [
        replay.build_feature_space(axs[0], "hidden", contour_points=40, **feature_space),
        replay.build_decision_boundary(axs[1], contour_points=40),
        replay.build_loss_and_metric(axs[2], "accuracy"),
        replay.build_probability_histogram(axs[3], axs[4]),
        replay.build_loss_histogram(axs[5]),
    ]


def two_visuals(replay):
    """Loss and metric, loss histogram: a small figure for the slow reference paths."""
    fig, axs = plt.subplots(1, 2, figsize=(4, 1.5), dpi=DPI)
    return fig, [replay.build_loss_and_metric(axs[0], "accuracy"), replay.build_loss_histogram(axs[1])]


def savefig_pixels(fig, dpi=DPI):
    buf = io.BytesIO()
    fig.savefig(buf, format="rgba", dpi=dpi)
    w, h = (int(v) for v in fig.get_size_inches() * dpi)
    return np.frombuffer(buf.getvalue(), np.uint8).reshape(h, w, 4)


def rendered(anim, epochs, **kwargs):
    out = {}
    with render.FrameRenderer(anim._fig, anim._update_epoch, full_redraw=anim._full_redraw_needed,
                              **kwargs) as renderer:
        renderer.prepare(epochs)
        for epoch in epochs:
            out[epoch] = renderer.render(epoch).copy()
        stats = (renderer.n_full, renderer.n_blit)
    return out, stats


def reference(anim, epochs, dpi=DPI):
    out = {}
    for epoch in epochs:
        anim._update_epoch(epoch)
        out[epoch] = savefig_pixels(anim._fig, dpi)
    return out


# -- pixels ---------------------------------------------------------------------------------------

def test_blitted_frames_equal_savefig_pixel_for_pixel(replay):
    fig, visuals = part1_visuals(replay)
    anim = compose_animations(visuals, title="Tiny")
    epochs = anim.epochs
    frames, (n_full, n_blit) = rendered(anim, epochs, dpi=DPI)
    assert n_blit == len(epochs) - 1 and n_full == 1  # set up once, then only what changes
    expected = reference(anim, epochs)
    for epoch in epochs:
        assert frames[epoch].shape == expected[epoch].shape
        np.testing.assert_array_equal(frames[epoch], expected[epoch], err_msg=f"epoch {epoch}")


def test_frames_at_another_dpi_equal_savefig_at_that_dpi(replay):
    _fig, visuals = part1_visuals(replay)
    anim = compose_animations(visuals)
    frames, _ = rendered(anim, [3, 1], dpi=55)
    expected = reference(anim, [3, 1], dpi=55)
    for epoch in (3, 1):
        np.testing.assert_array_equal(frames[epoch], expected[epoch])


def test_constrained_layout_frames_match_savefig_within_its_own_jitter(replay):
    # Constrained layout moves axes by ~1e-16 from one draw to the next, which can flip
    # the rounding of a line or a glyph by one pixel: savefig differs from itself that much.
    fig, visuals = part1_visuals(replay, layout="constrained")
    anim = compose_animations(visuals, title="Tiny")
    frames, _ = rendered(anim, anim.epochs, dpi=DPI)
    expected = reference(anim, anim.epochs)
    for epoch in anim.epochs:
        differ = np.any(frames[epoch] != expected[epoch], axis=-1)
        assert differ.mean() < 0.01, f"epoch {epoch}: {differ.mean():.2%} of the pixels differ"


def test_static_artists_drawn_above_changing_ones_stay_above(replay):
    fig, ax = plt.subplots(figsize=(3, 2), dpi=DPI)
    (line,) = ax.plot([0, 1], [0, 1], lw=3, zorder=1)
    ax.add_patch(Rectangle((0.3, 0.0), 0.4, 1.0, facecolor="orange", alpha=0.8, zorder=5))  # above the line
    note = ax.text(0.05, 0.9, "", transform=ax.transAxes)  # not clipped, grows
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)

    def update(k):
        line.set_ydata([0, k / 4])
        note.set_text("x" * (4 * k))
        return [line, note]

    anim = ReplayAnimation(fig, update, [0, 1, 2, 3, 4])
    frames, _ = rendered(anim, anim.epochs, dpi=DPI)
    expected = reference(anim, anim.epochs)
    for k in anim.epochs:
        np.testing.assert_array_equal(frames[k], expected[k], err_msg=f"frame {k}")


def test_a_text_outgrowing_its_room_sets_the_background_up_again(replay):
    fig, ax = plt.subplots(figsize=(3, 2), dpi=DPI)
    label = ax.set_title("")

    def update(k):
        label.set_text("" if k < 2 else "a much longer title " * (k - 1))
        return [label]

    anim = ReplayAnimation(fig, update, [0, 1, 2, 3])
    frames = {}
    with render.FrameRenderer(fig, update, dpi=DPI) as renderer:  # not prepared: it learns as it goes
        for k in anim.epochs:
            frames[k] = renderer.render(k).copy()
    expected = reference(anim, anim.epochs)
    for k in anim.epochs:
        np.testing.assert_array_equal(frames[k], expected[k])


class _Zooming(Plotter):
    """A visual that changes its axes' limits every epoch (and says so, or not)."""

    def __init__(self, ax, *, declare):
        super().__init__([ax], np.arange(4))
        self.ax = ax
        self.full_redraw = declare

    def _create_artists(self):
        (self.line,) = self.ax.plot([0, 1], [0, 1])

    def _update(self, epoch):
        self.ax.set_xlim(0, 1 + epoch)
        return [self.line]


@pytest.mark.parametrize("declare", [True, False])
def test_visuals_that_change_limits_are_drawn_in_full(declare):
    fig, ax = plt.subplots(figsize=(3, 2), dpi=DPI)
    visual = _Zooming(ax, declare=declare)
    assert visual.needs_full_redraw() is declare
    anim = compose_animations([visual])
    frames, (n_full, _n_blit) = rendered(anim, anim.epochs, dpi=DPI)
    assert n_full >= len(anim.epochs) - 1  # every frame whose limits moved
    expected = reference(anim, anim.epochs)
    for epoch in anim.epochs:
        np.testing.assert_array_equal(frames[epoch], expected[epoch])


def test_feature_space_following_each_epoch_is_drawn_in_full(replay):
    fig, visuals = part1_visuals(replay, scale_fixed=False)
    anim = compose_animations(visuals)
    frames, (n_full, _) = rendered(anim, anim.epochs, dpi=DPI)
    assert n_full >= len(anim.epochs) - 1
    expected = reference(anim, anim.epochs)
    for epoch in anim.epochs:
        np.testing.assert_array_equal(frames[epoch], expected[epoch])


def test_rendering_gives_the_figure_back_as_it_was(replay):
    fig, visuals = part1_visuals(replay)
    anim = compose_animations(visuals)
    anim._update_epoch(0)
    canvas, dpi, facecolor = fig.canvas, fig.dpi, fig.get_facecolor()
    visible = [a.get_visible() for ax in fig.axes for a in ax.get_children()]
    positions = [ax.get_position().bounds for ax in fig.axes]
    rendered(anim, anim.epochs, dpi=70)
    assert fig.canvas is canvas and fig.dpi == dpi and fig.get_facecolor() == facecolor
    assert [a.get_visible() for ax in fig.axes for a in ax.get_children()] == visible
    assert [ax.get_position().bounds for ax in fig.axes] == positions


@pytest.mark.skipif(not render._fork_available(), reason="worker processes need the fork start method (Linux)")
def test_worker_processes_render_the_same_frames(replay):
    fig, visuals = part1_visuals(replay)
    anim = compose_animations(visuals)
    alone = list(render.render_frames(fig, anim._update_epoch, anim.epochs, dpi=DPI, workers=1, progress=False))
    canvas, dpi = fig.canvas, fig.dpi
    # the workers inherit the renderer this process prepared, then this process's figure is restored
    shared = list(render.render_frames(fig, anim._update_epoch, anim.epochs, dpi=DPI, workers=2, progress=False))
    assert fig.canvas is canvas and fig.dpi == dpi
    assert len(alone) == len(shared) == len(anim.epochs)
    for a, b in zip(alone, shared):
        np.testing.assert_array_equal(a, b)


# -- files ----------------------------------------------------------------------------------------

def gif_info(path):
    with Image.open(path) as im:
        return im.n_frames, im.size


def test_gif_keeps_identical_frames_as_frames_of_their_own(tmp_path):
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=DPI)
    (line,) = ax.plot([0, 1], [0, 1])
    anim = ReplayAnimation(fig, lambda epoch: [line], [0, 1, 2, 3, 4])  # nothing ever changes
    path = tmp_path / "still.gif"
    anim.save(path, fps=10)
    assert gif_info(path) == (5, (80, 60))
    with Image.open(path) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    assert durations == [100] * 5


def test_gif_frames_look_like_the_funcanimation_ones(replay, tmp_path):
    _fig, visuals = two_visuals(replay)
    anim = compose_animations(visuals, title="Tiny")
    anim.save(tmp_path / "fast.gif", fps=5)
    anim.save(tmp_path / "slow.gif", writer=PillowWriter(fps=5))
    assert gif_info(tmp_path / "fast.gif") == gif_info(tmp_path / "slow.gif") == (5, (160, 60))
    with Image.open(tmp_path / "fast.gif") as fast, Image.open(tmp_path / "slow.gif") as slow:
        for i in range(5):
            fast.seek(i)
            slow.seek(i)
            a = np.asarray(fast.convert("RGB"), dtype=np.int16)
            b = np.asarray(slow.convert("RGB"), dtype=np.int16)
            assert np.abs(a - b).mean() < 2.0  # both quantized to 256 colours, differently


def test_save_many_renders_once_for_several_files(replay, tmp_path, monkeypatch):
    _fig, visuals = part1_visuals(replay)
    anim = compose_animations(visuals)
    calls = []
    real = render.FrameRenderer.render

    def counting(self, frame):
        calls.append(frame)
        return real(self, frame)

    monkeypatch.setattr(render.FrameRenderer, "render", counting)
    paths = anim.save_many([tmp_path / "a.gif", tmp_path / "a.mp4", tmp_path / "a.html"], fps=5, workers=1)
    assert [os.path.basename(p) for p in paths] == ["a.gif", "a.mp4", "a.html"]
    assert len(calls) == len(anim.epochs) + len(writers.palette_samples(len(anim.epochs)))
    assert gif_info(tmp_path / "a.gif")[0] == len(anim.epochs)
    html = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', html)) == len(anim.epochs)


def test_a_failed_save_leaves_no_file(replay, tmp_path):
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=DPI)
    (line,) = ax.plot([0, 1], [0, 1])

    def update(epoch):
        if epoch == 3:
            raise RuntimeError("broken visual")
        return [line]

    anim = ReplayAnimation(fig, update, [0, 1, 2, 3, 4])
    for name in ("broken.gif", "broken.mp4"):
        with pytest.raises(RuntimeError, match="broken visual"):
            anim.save(tmp_path / name, workers=1)
    assert os.listdir(tmp_path) == []


def test_a_writer_or_savefig_kwargs_save_through_funcanimation(replay, tmp_path, monkeypatch):
    _fig, visuals = two_visuals(replay)
    anim = compose_animations(visuals)
    monkeypatch.setattr(render, "render_frames", lambda *a, **k: pytest.fail("the fast renderer was used"))
    anim.save(tmp_path / "w.gif", writer=PillowWriter(fps=5))
    anim.save(tmp_path / "k.gif", fps=5, savefig_kwargs={"facecolor": "yellow"})
    assert gif_info(tmp_path / "w.gif")[0] == gif_info(tmp_path / "k.gif")[0] == len(anim.epochs)
    with Image.open(tmp_path / "k.gif") as im:
        assert im.convert("RGB").getpixel((0, 0)) == (255, 255, 0)


# -- notebooks ------------------------------------------------------------------------------------

def test_an_animation_shows_itself_in_a_notebook(replay):
    _fig, visuals = part1_visuals(replay)
    anim = compose_animations(visuals)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # well under the limit: no warning
        html = anim._repr_html_()
    assert "new DeepReplayPlayer(" in html and "<script" in html
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', html)) == len(anim.epochs)
    assert "embed_limit" not in html
    # A visual shows itself the same way, over its own epochs.
    html = visuals[2]._repr_html_()
    assert len(re.findall(r"frames\[\d+\] =", html)) == len(visuals[2].epochs)


def test_the_notebook_animation_stays_under_the_embed_limit(replay, monkeypatch):
    _fig, visuals = part1_visuals(replay)
    anim = compose_animations(visuals)
    full = anim.to_jshtml()
    limit_mb = 0.6 * len(full) / 1024 / 1024
    monkeypatch.setitem(mpl.rcParams, "animation.embed_limit", limit_mb)
    with pytest.warns(UserWarning, match=r"embed_limit.*save it with \.save\('replay\.html'\)"):
        html = anim._repr_html_()
    assert len(html) < limit_mb * 1024 * 1024
    assert "to stay under rcParams[&#x27;animation.embed_limit&#x27;]" in html  # the caption says so
    n = len(re.findall(r"frames\[\d+\] =", html))
    assert 1 <= n <= len(anim.epochs)
    assert re.search(r"at \d+ dpi instead of 40|of its 5 epochs", html)


def test_a_tiny_embed_limit_drops_frames_but_keeps_the_last(replay, monkeypatch):
    _fig, visuals = two_visuals(replay)
    anim = compose_animations(visuals, title="T")
    monkeypatch.setitem(mpl.rcParams, "animation.embed_limit", 0.02)  # 20 KiB: a frame or two
    with pytest.warns(UserWarning, match="epochs"):
        html = anim._repr_html_()
    assert len(html) < 0.02 * 1024 * 1024 + 20_000  # frames within the limit, plus the player
    assert re.search(r"\d of its 5 epochs", html)


WORKERS_WITH_JAX = """
import sys, warnings
warnings.simplefilter("error")
import jax.numpy as jnp
import matplotlib
matplotlib.use("Agg")
from matplotlib import pyplot as plt
from deepreplay.plot import render
fig, ax = plt.subplots(figsize=(2, 1.5), dpi=30)
(line,) = ax.plot([0, 1], [0, 0])
def update(k):
    line.set_ydata([0, k / 50])
    return [line]
# JAX imported only (as TensorFlow imports it when installed): no thread pool yet, workers fork
assert "jax" in sys.modules and render.fork_is_safe()
import os
assert render.auto_workers(100) == min(len(os.sched_getaffinity(0)), 4)
forked = list(render.render_frames(fig, update, range(45), workers=2, progress=False))
print("forked", len(forked))
jnp.ones(3).block_until_ready()  # JAX's thread pool is running
assert not render.fork_is_safe()
assert render.auto_workers(100) == 1
frames = list(render.render_frames(fig, update, range(45), workers=2, progress=False))
print("frames", len(frames))
"""


@pytest.mark.skipif(not render._fork_available(), reason="the fork start method is Linux-only")
def test_no_fork_warning_when_jax_is_loaded(tmp_path):
    pytest.importorskip("jax")
    import subprocess
    import sys
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]),
               DEEPREPLAY_WORKERS="")
    done = subprocess.run([sys.executable, "-W", "error", "-c", WORKERS_WITH_JAX], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "forked 45" in done.stdout and "frames 45" in done.stdout
    assert "fork" not in done.stderr
