"""DeepReplay 0.1.2a2's public call shapes: positional order, defaults and ``epoch_end=-1``.

Each call is made as the original package documented it (by position and by
keyword) and checked to mean what it meant there.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from deepreplay import diagnostics as dg
from deepreplay.plot import compose_animations, compose_plots

from conftest import TINY_EPOCHS


def _epochs(visual):
    return [int(e) for e in visual.epochs]


ALL = list(range(TINY_EPOCHS + 1))


# -- epoch_end=-1 is the last epoch, everywhere it is accepted -----------------------------------------
def test_epoch_end_minus_one_means_the_last_epoch_in_every_build(replay):
    fig, axs = plt.subplots(2, 5)
    visuals = [
        replay.build_feature_space(axs[0, 0], "hidden", 20, (-1, 1), (-1, 1), True, True, 1, -1),
        replay.build_decision_boundary(axs[0, 1], 20, (-1, 1), (-1, 1), True, 1, -1),
        replay.build_probability_histogram(axs[0, 2], axs[0, 3], 1, -1),
        replay.build_loss_and_metric(axs[0, 4], "accuracy", 1, -1),
        replay.build_loss_histogram(axs[1, 0], 1, -1),
        replay.build_weights(axs[1, 1], None, True, 1, -1),
        replay.build_gradients(axs[1, 2], None, True, 1, -1),
        replay.build_outputs(axs[1, 3], False, None, True, True, 1, -1),
        replay.build_cross_entropy(axs[1, 4], epoch_start=1, epoch_end=-1),
    ]
    for visual in visuals:
        assert _epochs(visual) == ALL[1:]
    anim = compose_animations(visuals, 2, -1, "run")
    assert anim.epochs == ALL[2:]
    assert visuals[0].animate(0, -1).epochs == ALL[1:]
    assert replay.epoch_range(0, -1).tolist() == ALL
    stats = dg.weights_std(replay, epoch_start=0, epoch_end=-1)
    assert stats.epochs.tolist() == ALL


def test_other_negative_epoch_ends_are_refused_with_the_way_out(replay):
    with pytest.raises(ValueError, match=r"epoch_end=-2 must be 0 or more \(use None for the last recorded "
                                         r"epoch, or -1"):
        replay.build_loss_histogram(plt.subplots()[1], 0, -2)


# -- positional order and keywords of the build_* methods ------------------------------------------------
def test_feature_space_positional_equals_keywords(replay):
    _, (a1, a2) = plt.subplots(1, 2)
    by_position = replay.build_feature_space(a1, "hidden", 30, (-2, 2), (-1.5, 1.5), False, False, 1, 3)
    by_keyword = replay.build_feature_space(a2, layer_name="hidden", contour_points=30, xlim=(-2, 2),
                                            ylim=(-1.5, 1.5), scale_fixed=False, display_grid=False,
                                            epoch_start=1, epoch_end=3)
    assert _epochs(by_position) == _epochs(by_keyword) == [1, 2, 3]
    for name in ("points", "xlims", "ylims", "probabilities"):
        np.testing.assert_array_equal(getattr(by_position.data, name), getattr(by_keyword.data, name))
    assert by_position.data.scale_fixed is False and by_position.data.grid_lines is None
    assert replay.feature_space == (by_keyword, by_keyword.data)


def test_decision_boundary_positional_limits(replay):
    visual = replay.build_decision_boundary(plt.subplots()[1], 10, (-3, 3), (-2, 2), False, 0, 2)
    assert _epochs(visual) == [0, 1, 2]
    visual.set_epoch(2)
    assert visual.ax.get_xlim() == pytest.approx((-3, 3))
    assert visual.ax.get_ylim() == pytest.approx((-2, 2))


def test_histograms_and_loss_by_position(replay):
    _, axs = plt.subplots(1, 4)
    ph = replay.build_probability_histogram(axs[0], axs[1], 2, 4)
    lh = replay.build_loss_histogram(axs[2], 0, 1)
    lm = replay.build_loss_and_metric(axs[3], "accuracy", 3, 4)
    assert (_epochs(ph), _epochs(lh), _epochs(lm)) == ([2, 3, 4], [0, 1], [3, 4])
    np.testing.assert_allclose(lm.data.loss, replay.training_loss[3:5])


def test_layer_distributions_positional_order(replay):
    _, axs = plt.subplots(1, 3)
    wv = replay.build_weights(axs[0], ["hidden"], True, 0, 2)
    gv = replay.build_gradients(axs[1], None, False, 1, 2)
    zv = replay.build_outputs(axs[2], True, None, False, False, 0, 1)
    assert wv.data.layers == ("hidden",) and _epochs(wv) == [0, 1, 2]
    assert gv.data.layers == ("hidden", "output") and _epochs(gv) == [1, 2]
    assert zv.data.quantity == "z" and zv.data.layers == ("hidden", "output")


def test_build_outputs_includes_inputs_by_default_as_the_original(replay):
    _, (a1, a2) = plt.subplots(1, 2)
    assert replay.build_outputs(a1).data.layers == (dg.INPUTS_LABEL, "hidden")
    assert replay.build_outputs(a2, include_inputs=False).data.layers == ("hidden",)


@pytest.mark.parametrize("method, quantity", [("build_weights", "weights"), ("build_gradients", "gradients")])
def test_ax_none_returns_the_data_only(replay, method, quantity):
    data = getattr(replay, method)(None)
    assert isinstance(data, dg.LayerDistributionData)
    assert data.quantity == quantity and data.layers == ("hidden",)
    assert plt.get_fignums() == []
    expected = dg.layer_distributions(replay, quantity)
    np.testing.assert_array_equal(data.counts, expected.counts)
    violins = replay.weights_violins if quantity == "weights" else replay.gradients_violins
    assert violins[0] is None and violins[1] is data


def test_build_outputs_ax_none(replay):
    data = replay.build_outputs(None, True)
    assert data.quantity == "z" and data.layers == (dg.INPUTS_LABEL, "hidden")
    assert replay.zvalues_violins == (None, data)
    with pytest.raises(TypeError, match="title only apply when drawing; give an Axes instead of ax=None"):
        replay.build_weights(None, title="W")


# -- weights_std / gradients_std: DeepReplay 0.1's array property, and the current function ---------------
def test_weights_std_is_an_array_and_a_function(replay):
    std = replay.weights_std
    expected = np.array([[np.std(replay.weights_at(e)[layer]["kernel"]) for layer in ("hidden", "output")]
                         for e in ALL])
    assert std.shape == (TINY_EPOCHS + 1, 2) and std.layers == ("hidden", "output")
    np.testing.assert_allclose(np.asarray(std), expected, rtol=1e-6)
    np.testing.assert_allclose(std[:, 0], expected[:, 0], rtol=1e-6)
    called = replay.weights_std(["hidden"], epoch_start=1)
    assert isinstance(called, dg.LayerStatistics)
    np.testing.assert_allclose(called.values[:, 0], expected[1:, 0], rtol=1e-6)
    # after build_weights over a range, the array covers that range (as the original's did)
    replay.build_weights(None, None, True, 2, 3)
    assert replay.weights_std.epochs.tolist() == [2, 3]
    np.testing.assert_allclose(np.asarray(replay.weights_std), expected[2:4], rtol=1e-6)


def test_gradients_std_both_ways(replay):
    std = replay.gradients_std
    np.testing.assert_allclose(np.asarray(std), dg.gradients_std(replay, exclude_outputs=False).values)
    np.testing.assert_allclose(replay.gradients_std().values, dg.gradients_std(replay).values)


# -- predict_proba ---------------------------------------------------------------------------------------
def test_predict_proba_stacks_every_epoch_as_the_original(replay):
    n = len(replay.inputs)
    stacked = replay.predict_proba()
    assert stacked.shape == (TINY_EPOCHS + 1, n, 1)
    for e in ALL:
        np.testing.assert_array_equal(stacked[e], replay.predictions_at(e))
    assert replay.predict_proba(1, 3).shape == (3, n, 1)
    np.testing.assert_array_equal(replay.predict_proba(epoch_start=0, epoch_end=-1), stacked)
    np.testing.assert_array_equal(replay.predict_proba(2), stacked[2:])
    assert replay.predict_proba()[1:].shape == (TINY_EPOCHS, n, 1)  # the original's tests index it so


def test_predict_proba_single_epoch_by_keyword(replay):
    X = replay.inputs[:7]
    last = replay.predict_proba(X=X)
    np.testing.assert_allclose(last, replay.predictions_at(TINY_EPOCHS)[:7], atol=1e-5)
    np.testing.assert_allclose(replay.predict_proba(X=X, epoch=2), replay.predictions_at(2)[:7], atol=1e-5)
    np.testing.assert_allclose(replay.predict_proba(X, epoch=2), replay.predictions_at(2)[:7], atol=1e-5)
    np.testing.assert_array_equal(replay.predict_proba(epoch=1), replay.predictions_at(1))
    with pytest.raises(TypeError, match="either an epoch range .* or X=... and/or epoch=..."):
        replay.predict_proba(0, 2, epoch=1)


# -- plot objects: set_title, animate, compose ------------------------------------------------------------
def test_set_title_prefixes_axes_titles_before_and_after_drawing(replay):
    fig, axs = plt.subplots(1, 3)
    fs = replay.build_feature_space(axs[0], "hidden", 20)
    ph = replay.build_probability_histogram(axs[1], axs[2])
    fs.set_title("sigmoid")
    ph.set_title("tanh")
    compose_plots([fs, ph], 1)
    assert axs[0].get_title() == "sigmoid - Feature Space - Layer: hidden"
    assert axs[1].get_title().startswith("tanh - ") and axs[2].get_title().startswith("tanh - ")
    fs.set_title("relu")  # after drawing: the axes title follows, without stacking prefixes
    assert axs[0].get_title() == "relu - Feature Space - Layer: hidden"
    fs.set_title(None)
    assert axs[0].get_title() == "Feature Space - Layer: hidden"
    with pytest.raises(TypeError, match="title=3 must be a string or None"):
        fs.set_title(3)


def test_compose_and_animate_by_position(replay):
    fig, axs = plt.subplots(1, 2)
    lh = replay.build_loss_histogram(axs[0])
    lm = replay.build_loss_and_metric(axs[1], "accuracy")
    anim = compose_animations([lh, lm], 0, 100, "title")
    assert anim.epochs == ALL
    anim._update_epoch(2)
    assert fig._suptitle.get_text() == "title - Epoch: 2"
    assert compose_animations([lh, lm], 1, 2).epochs == [1, 2]
    assert lh.animate(1).epochs == ALL[1:]
    assert lh.animate(epoch_start=0, epoch_end=2).epochs == [0, 1, 2]
    assert compose_plots([lh, lm], 3, "t") is fig
    assert fig._suptitle.get_text() == "t - Epoch: 3"
    compose_plots([lh, lm], 3, "")
    assert fig._suptitle.get_text() == "Epoch: 3"
    with pytest.raises(TypeError):
        lh.animate(0, 2, "title-by-position")  # new options stay keyword-only
