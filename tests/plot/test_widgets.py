"""epoch_slider: an ipywidgets slider over the recorded epochs, showing the composed figure as a PNG."""

import io
import re
import sys

import ipywidgets
import keras
import numpy as np
import pytest
import traitlets
from matplotlib import pyplot as plt
from PIL import Image

from conftest import make_tiny_model, tiny_data
from deepreplay.callbacks import ReplayData
from deepreplay.plot import compose_plots, epoch_slider
from deepreplay.replay import Replay

FIGSIZE = (4, 1.5)
DPI = 40


@pytest.fixture(scope="module")
def every2_recording(tmp_path_factory):
    """Epochs 0, 2, 4 and 5 of a 5-epoch run (every=2, the last epoch always)."""
    keras.utils.set_random_seed(0)
    X, y = tiny_data(n_points=20)
    filename = str(tmp_path_factory.mktemp("every2") / "every2.h5")
    make_tiny_model().fit(X, y, epochs=5, batch_size=16, verbose=0,
                          callbacks=[ReplayData(X, y, filename, "every2", every=2)])
    return filename, "every2"


def build_visuals(replay, *, figsize=FIGSIZE, dpi=DPI):
    """LossAndMetric, ProbabilityHistogram and LossHistogram on one 1x4 figure."""
    fig, axs = plt.subplots(1, 4, figsize=figsize, dpi=dpi)
    return fig, [
        replay.build_loss_and_metric(axs[0], "accuracy"),
        replay.build_probability_histogram(axs[1], axs[2]),
        replay.build_loss_histogram(axs[3]),
    ]


def parts(box):
    """(play or None, slider, image) of a slider box."""
    controls, image = box.children
    *play, slider = controls.children
    return (play[0] if play else None), slider, image


def pixels(png):
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGBA"))


def reference_png(visuals, epoch, title=None, dpi=None):
    """What compose_plots draws at ``epoch``, saved as a PNG."""
    fig = compose_plots(visuals, epoch, title=title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# -- what it shows -----------------------------------------------------------------------------

def test_the_slider_shows_the_composed_figure_at_each_epoch(replay):
    fig, visuals = build_visuals(replay)
    box = epoch_slider(visuals, title="Tiny")
    assert isinstance(box, ipywidgets.VBox)
    play, slider, image = parts(box)
    assert isinstance(play, ipywidgets.Play)
    assert isinstance(slider, ipywidgets.SelectionSlider) and isinstance(image, ipywidgets.Image)
    assert slider.value == 0 and image.format == "png"
    assert fig.get_suptitle() == "Tiny - Epoch: 0"
    first = image.value

    slider.value = 3
    assert image.value != first
    assert fig.get_suptitle() == "Tiny - Epoch: 3"
    assert all(v.current_epoch == 3 for v in visuals)
    shown = pixels(image.value)
    np.testing.assert_array_equal(shown, pixels(reference_png(visuals, 3, title="Tiny")))
    assert not np.array_equal(shown, pixels(reference_png(visuals, 0, title="Tiny")))
    assert shown.shape[:2] == (round(FIGSIZE[1] * DPI), round(FIGSIZE[0] * DPI))

    slider.value = 0
    np.testing.assert_array_equal(pixels(image.value), pixels(first))


def test_each_epoch_is_rendered_once(replay, monkeypatch):
    from deepreplay.plot import widgets

    fig, visuals = build_visuals(replay)
    calls = []
    original = widgets._figure_png
    monkeypatch.setattr(widgets, "_figure_png", lambda f, **kw: calls.append(1) or original(f, **kw))
    _, slider, _ = parts(epoch_slider(visuals))
    for epoch in (1, 2, 1, 2, 0):
        slider.value = epoch
    assert len(calls) == 3  # epochs 0, 1 and 2, each once
    # A cached picture still moves the figure to the slider's epoch.
    assert fig.get_suptitle() == "Epoch: 0" and all(v.current_epoch == 0 for v in visuals)


def test_dpi_sets_the_picture_size(replay):
    _, visuals = build_visuals(replay)
    _, _, image = parts(epoch_slider(visuals, dpi=2 * DPI))
    assert pixels(image.value).shape[:2] == (round(FIGSIZE[1] * 2 * DPI), round(FIGSIZE[0] * 2 * DPI))


def test_a_single_visual_and_the_plotter_method(replay):
    _, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    lh = replay.build_loss_histogram(ax)
    for box in (epoch_slider(lh), lh.slider(epoch_start=1, play=False)):
        play, slider, image = parts(box)
        slider.value = slider.options[-1]
        np.testing.assert_array_equal(pixels(image.value), pixels(reference_png([lh], 4)))
    assert play is None  # play=False: the slider alone
    assert slider.options == (1, 2, 3, 4)


def test_the_figure_is_closed_so_it_shows_only_in_the_slider(replay):
    fig, visuals = build_visuals(replay)
    assert plt.fignum_exists(fig.number)
    epoch_slider(visuals)
    assert not plt.fignum_exists(fig.number)


# -- which epochs ------------------------------------------------------------------------------

def test_only_recorded_epochs_are_offered(every2_recording):
    with Replay(*every2_recording) as replay:
        _, visuals = build_visuals(replay)
        play, slider, image = parts(epoch_slider(visuals))
        assert slider.options == (0, 2, 4, 5)
        with pytest.raises(traitlets.TraitError):
            slider.value = 3  # not recorded: the slider refuses it
        # The play button steps through the positions of the recorded epochs.
        assert (play.min, play.max, play.step) == (0, 3, 1)
        play.value = 2
        assert slider.value == 4
        np.testing.assert_array_equal(pixels(image.value), pixels(reference_png(visuals, 4)))
        slider.value = 5
        assert play.value == 3


def test_epoch_start_and_end_choose_a_sub_range(replay):
    _, visuals = build_visuals(replay)
    play, slider, image = parts(epoch_slider(visuals, epoch_start=1, epoch_end=3))
    assert slider.options == (1, 2, 3) and slider.value == 1
    assert play.max == 2
    np.testing.assert_array_equal(pixels(image.value), pixels(reference_png(visuals, 1)))


def test_the_common_epochs_of_visuals_built_on_different_ranges(replay):
    _, axs = plt.subplots(1, 2, figsize=FIGSIZE, dpi=DPI)
    visuals = [replay.build_loss_histogram(axs[0], epoch_start=1),
               replay.build_loss_and_metric(axs[1], "accuracy", epoch_end=3)]
    _, slider, _ = parts(epoch_slider(visuals))
    assert slider.options == (1, 2, 3)


# -- errors ------------------------------------------------------------------------------------

def test_without_ipywidgets_it_says_how_to_install_it(replay, monkeypatch):
    _, visuals = build_visuals(replay)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(ImportError, match=re.escape('pip install "deepreplay[widgets]"')):
        epoch_slider(visuals)
    with pytest.raises(ImportError, match="ipywidgets"):
        visuals[0].slider()


@pytest.mark.parametrize("objects, error, match", [
    ([], ValueError, "objects is empty"),
    ((), ValueError, "objects is empty"),
    (["not a visual"], TypeError, "objects must be deepreplay visuals, got str"),
    ("loss", TypeError, r"objects='loss' must be a deepreplay visual or a list of visuals"),
    (42, TypeError, r"objects=42 must be a deepreplay visual or a list of visuals"),
])
def test_bad_objects(objects, error, match):
    with pytest.raises(error, match=match):
        epoch_slider(objects)


def test_visuals_on_different_figures_are_refused(replay):
    _, ax1 = plt.subplots()
    _, ax2 = plt.subplots()
    visuals = [replay.build_loss_histogram(ax1), replay.build_loss_histogram(ax2)]
    with pytest.raises(ValueError, match="different figures; build every visual on axes of one figure"):
        epoch_slider(visuals)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(epoch_start=9), ValueError, r"epoch_start=9 is after the last recorded epoch \(4\)"),
    (dict(epoch_start=3, epoch_end=1), ValueError, r"epoch_start=3 is after epoch_end=1"),
    (dict(epoch_end=-2), ValueError, r"epoch_end=-2 must be 0 or more \(use None for the last"),
    (dict(epoch_start=1.5), TypeError, r"epoch_start=1\.5 must be an integer epoch or None"),
    (dict(title=3), TypeError, r"title=3 must be a string or None"),
    (dict(dpi=0), ValueError, r"dpi=0 must be a positive number"),
    (dict(dpi="high"), ValueError, r"dpi='high' must be a positive number"),
    (dict(continuous_update="yes"), TypeError, r"continuous_update='yes' must be True or False"),
    (dict(play=1), TypeError, r"play=1 must be True or False"),
    (dict(interval=0), ValueError, r"interval=0 must be a positive integer number of milliseconds"),
])
def test_bad_options(replay, kwargs, error, match):
    fig, visuals = build_visuals(replay)
    with pytest.raises(error, match=match):
        epoch_slider(visuals, **kwargs)
    assert plt.fignum_exists(fig.number)  # refused before touching the figure
