"""Loss landscape, loss interpolation and gradient flow visuals: artists created once, updated per epoch."""

import numpy as np
import pytest
from matplotlib import pyplot as plt
from matplotlib.colors import LogNorm

from deepreplay import diagnostics
from deepreplay.plot import compose_animations
from deepreplay.replay import Replay


@pytest.fixture(scope="module")
def runs(two_runs):
    filename, groups = two_runs
    replays = [Replay(filename, g) for g in groups]
    yield replays
    for r in replays:
        r.close()


def test_landscape_draws_the_path_up_to_each_epoch(runs):
    sgd = runs[0]
    fig, ax = plt.subplots()
    visual = sgd.build_loss_landscape(ax, resolution=9, cache=False)
    visual.set_epoch(0)
    children = len(ax.get_children())
    limits = (ax.get_xlim(), ax.get_ylim())
    path = visual.data.paths[0]
    for k, epoch in enumerate(sgd.epochs):
        changed = visual.set_epoch(int(epoch))
        x, y = visual.lines[0].get_data()
        np.testing.assert_allclose(np.column_stack([x, y]), path.coords[:k + 1])
        np.testing.assert_allclose(visual.currents[0].get_offsets(), path.coords[k:k + 1])
        # The marker's colour is the RECORDED loss, on the surface's colour scale.
        np.testing.assert_allclose(visual.currents[0].get_array(), [sgd.training_loss[k]])
        assert f"recorded {sgd.training_loss[k]:.4g}" in visual.caption.get_text()
        assert set(changed) >= {visual.lines[0], visual.currents[0], visual.caption}
        assert len(ax.get_children()) == children and (ax.get_xlim(), ax.get_ylim()) == limits
    ratio = visual.data.surface.plane.explained_variance_ratio
    assert f"{100 * ratio[0]:.1f}%" in ax.get_xlabel() and f"{100 * ratio[1]:.1f}%" in ax.get_ylabel()
    assert isinstance(visual.norm, LogNorm)


def test_landscape_of_two_runs_shares_one_plane(runs):
    sgd, adam = runs
    fig, ax = plt.subplots()
    visual = sgd.build_loss_landscape(ax, others=[adam], resolution=7, cache=False)
    assert [p.name for p in visual.data.paths] == ["sgd", "adam"]
    visual.set_epoch(3)
    # Adam recorded epochs 0, 2, 4: at epoch 3 its path stops at epoch 2 and the caption says so.
    x, _ = visual.lines[1].get_data()
    assert len(x) == 2
    assert "adam: " in visual.caption.get_text() and "(epoch 2, its last)" in visual.caption.get_text()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sgd", "adam"]
    with pytest.raises(ValueError, match="directions='up'"):
        sgd.build_loss_landscape(ax, directions="up")


def test_interpolation_places_recorded_losses_at_their_projections(replay):
    fig, ax = plt.subplots()
    visual = replay.build_loss_interpolation(ax, n_points=11)
    d = visual.data
    for k, epoch in enumerate(replay.epochs):
        visual.set_epoch(int(epoch))
        x, y = visual.recorded.get_data()
        np.testing.assert_allclose(x, d.epoch_ts[:k + 1])
        np.testing.assert_allclose(y, replay.training_loss[:k + 1])
    assert ax.get_xlim() == (-0.25, 1.25)


@pytest.mark.parametrize("statistic", ["ratio", "gradients", "dead"])
def test_gradient_flow_image_is_the_diagnostics_statistic(replay, statistic):
    fig, ax = plt.subplots()
    visual = replay.build_gradient_flow(ax, statistic=statistic)
    visual.set_epoch(2)
    if statistic == "ratio":
        expected = diagnostics.std_ratio(replay, exclude_outputs=False).values
    elif statistic == "gradients":
        expected = diagnostics.gradients_std(replay, exclude_outputs=False).values
    else:
        expected = np.array([[np.mean(np.all(replay.outputs_at(int(e), layer) == 0, axis=0))
                              for layer in visual.data.layers] for e in replay.epochs])
    np.testing.assert_allclose(visual.data.values, expected)
    image = np.ma.getdata(visual.image.get_array()).reshape(len(visual.data.layers), -1)
    np.testing.assert_allclose(image, np.where(expected.T > 0, expected.T, np.nan) if statistic != "dead"
                               else expected.T)
    assert list(visual.marker.get_xdata()) == [2, 2]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(visual.data.layers)
    assert isinstance(visual.image.norm, LogNorm) == (statistic != "dead")
    with pytest.raises(ValueError, match="statistic='mean'"):
        replay.build_gradient_flow(ax, statistic="mean")


def test_new_visuals_animate_together(replay, tmp_path):
    fig, axs = plt.subplots(1, 3, figsize=(9, 3))
    visuals = [replay.build_loss_landscape(axs[0], resolution=7, cache=False),
               replay.build_loss_interpolation(axs[1], n_points=11),
               replay.build_gradient_flow(axs[2])]
    anim = compose_animations(visuals)
    out = tmp_path / "new.gif"
    anim.save(str(out), fps=5, dpi=40, workers=1, progress=False)
    from PIL import Image

    with Image.open(out) as gif:
        assert gif.n_frames == len(replay.epochs)


def test_gradient_flow_limits_give_runs_one_colour_scale(replay):
    fig, ax = plt.subplots()
    visual = replay.build_gradient_flow(ax, limits=(1e-4, 1.0))
    visual.set_epoch(0)
    assert (visual.image.norm.vmin, visual.image.norm.vmax) == (1e-4, 1.0)
    with pytest.raises(ValueError, match="limits="):
        replay.build_gradient_flow(ax, limits=(0, 1))
