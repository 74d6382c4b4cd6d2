"""Runs compared in one animation: visuals of several recordings step together by epoch."""

import numpy as np
import pytest
from matplotlib import pyplot as plt

from deepreplay.plot import compare_loss_and_metric, compose_animations, compose_plots
from deepreplay.replay import Replay


@pytest.fixture(scope="module")
def runs(two_runs):
    filename, groups = two_runs
    replays = [Replay(filename, g) for g in groups]
    yield replays
    for r in replays:
        r.close()


def test_runs_with_different_every_step_to_the_same_epoch(runs):
    sgd, adam = runs
    assert list(sgd.epochs) == [0, 1, 2, 3, 4] and list(adam.epochs) == [0, 2, 4]
    fig, axs = plt.subplots(1, 2)
    visuals = [sgd.build_loss_and_metric(axs[0]), adam.build_loss_and_metric(axs[1])]
    anim = compose_animations(visuals)
    assert anim.epochs == [0, 1, 2, 3, 4]
    for epoch in anim.epochs:
        anim._update_epoch(epoch)
        assert visuals[0].current_epoch == epoch
        # Adam holds its latest record, and its axes say so.
        held = max(e for e in adam.epochs if e <= epoch)
        assert visuals[1].current_epoch == held
        note = visuals[1]._held_note
        assert note.get_visible() == (held != epoch)
        if held != epoch:
            assert f"holding epoch {held}" in note.get_text()
        assert not visuals[0]._held_note.get_visible()
        x, _ = visuals[1].loss_line.get_data()
        assert list(x) == [e for e in adam.epochs if e <= epoch]
    # Each run's name labels its axes.
    assert axs[0].get_title().startswith("sgd: ") and axs[1].get_title().startswith("adam: ")


def test_compose_plots_of_two_runs_at_an_epoch_one_of_them_lacks(runs):
    sgd, adam = runs
    fig, axs = plt.subplots(1, 2)
    visuals = [sgd.build_loss_histogram(axs[0]), adam.build_loss_histogram(axs[1])]
    compose_plots(visuals, 3)
    assert visuals[0].current_epoch == 3 and visuals[1].current_epoch == 2
    compose_plots(visuals, 4)
    assert visuals[1].current_epoch == 4 and not visuals[1]._held_note.get_visible()
    assert axs[1].get_title().count("adam") == 1  # labelled once, however often composed
    with pytest.raises(ValueError, match="epoch=7"):
        compose_plots(visuals, 7)


def test_compare_loss_and_metric_one_marker_per_run(runs, tmp_path):
    sgd, adam = runs
    fig, ax = plt.subplots()
    visual = compare_loss_and_metric(ax, runs, "accuracy")
    assert list(visual.epochs) == [0, 1, 2, 3, 4]
    visual.set_epoch(3)
    for line, marker, replay in zip(visual.loss_lines, visual.loss_markers, runs):
        x, y = line.get_data()
        keep = replay.epochs <= 3
        np.testing.assert_array_equal(x, replay.epochs[keep])
        np.testing.assert_allclose(y, replay.training_loss[keep])
        assert list(marker.get_data()[0]) == [replay.epochs[keep][-1]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sgd", "adam"]
    anim = compose_animations([visual])
    out = tmp_path / "runs.gif"
    anim.save(str(out), fps=5, dpi=40, workers=1, progress=False)
    from PIL import Image

    with Image.open(out) as gif:
        assert gif.n_frames == 5
    with pytest.raises(ValueError, match="names has 1 entries"):
        compare_loss_and_metric(ax, runs, names=["x"])
    with pytest.raises(ValueError, match="replays must be"):
        compare_loss_and_metric(ax, [])


def test_runs_of_a_loss_below_zero_are_drawn_whole_on_whole_epoch_ticks():
    """A loss below 0 (cosine_similarity) was cut at 0; ticks fell on half epochs (0.5, 1.5)."""
    from deepreplay.plot.runs_loss_and_metric import RunCurves, RunsLossAndMetric

    ax = plt.subplots(figsize=(8, 3))[1]
    epochs = np.arange(4)
    runs = [RunCurves(name=name, epochs=epochs, loss=loss, metric=None)
            for name, loss in (("a", np.array([-0.8, -0.9, -0.95, -0.97])), ("b", np.array([0.2, -0.5, -0.7, -0.9])))]
    visual = RunsLossAndMetric(ax, runs, loss_name="cosine_similarity", metric_name=None)
    visual.set_epoch(3)
    low, high = ax.get_ylim()
    assert low < -0.97 and high > 0.2
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
