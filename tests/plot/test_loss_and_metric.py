"""LossAndMetric: curves up to the shown epoch, fixed limits, metric names, loss = mean per-sample loss."""

import numpy as np
import pytest
from matplotlib import pyplot as plt

from deepreplay.plot.loss_and_metric import METRIC_TOP, LossAndMetric, LossAndMetricData


@pytest.fixture
def ax():
    return plt.subplots(figsize=(3, 2.5))[1]


def test_lines_at_epoch_k_are_the_recorded_values_up_to_k(replay, ax):
    lm = replay.build_loss_and_metric(ax, "accuracy")
    loss, accuracy, epochs = replay.training_loss, replay.get_training_metric("accuracy"), replay.epochs
    for k, epoch in enumerate(epochs):
        lm.set_epoch(int(epoch))
        x, y = lm.loss_line.get_data()
        np.testing.assert_array_equal(x, epochs[:k + 1])
        np.testing.assert_array_equal(y, loss[:k + 1])
        x, y = lm.metric_line.get_data()
        np.testing.assert_array_equal(x, epochs[:k + 1])
        np.testing.assert_array_equal(y, accuracy[:k + 1])
        assert list(lm.loss_marker.get_data()[1]) == [loss[k]]
        assert list(lm.metric_marker.get_data()[1]) == [accuracy[k]]


def test_epoch_range_starts_the_curves_at_epoch_start(replay, ax):
    lm = replay.build_loss_and_metric(ax, "accuracy", epoch_start=2)
    lm.set_epoch(3)
    x, y = lm.loss_line.get_data()
    np.testing.assert_array_equal(x, [2, 3])
    np.testing.assert_array_equal(y, replay.training_loss[2:4])
    assert ax.get_xlim() == (2.0, 4.0)


def test_limits_fixed_and_updates_add_no_artists(replay, ax):
    lm = replay.build_loss_and_metric(ax)
    lm.set_epoch(0)
    axes = [ax, lm.ax_metric]
    limits = [(a.get_xlim(), a.get_ylim()) for a in axes]
    children = [len(a.get_children()) for a in axes]
    assert limits[0][0] == (0.0, 4.0)
    assert limits[0][1][1] >= np.nanmax(replay.training_loss)
    assert limits[1][1] == (0.0, METRIC_TOP)  # accuracy, with room above 1.0
    for epoch in replay.epochs:
        changed = lm.set_epoch(int(epoch))
        assert [(a.get_xlim(), a.get_ylim()) for a in axes] == limits
        assert [len(a.get_children()) for a in axes] == children
    assert {id(a) for a in changed} == {id(a) for a in (lm.loss_line, lm.metric_line,
                                                         lm.loss_marker, lm.metric_marker)}
    assert ax.get_ylabel() == "Loss (binary_crossentropy)"
    assert lm.ax_metric.get_ylabel() == "Accuracy"


def test_unknown_metric_lists_the_recorded_ones(replay, ax):
    with pytest.raises(ValueError, match=r"metric_name='f1'.*recorded metrics: \['accuracy'\]"):
        replay.build_loss_and_metric(ax, "f1")


def test_training_loss_is_the_mean_of_the_recorded_per_sample_losses(replay):
    for i, epoch in enumerate(replay.epochs):
        losses = np.asarray(replay.losses_at(int(epoch)), dtype=np.float64)
        assert replay.training_loss[i] == pytest.approx(losses.mean(), rel=1e-5)


def test_loss_only_for_a_regression_without_metrics(tmp_path):
    """metric_name=None draws the loss alone; the dashboard keeps the curve for such a model."""
    import keras
    import matplotlib.pyplot as plt

    from deepreplay.callbacks import ReplayData
    from deepreplay.dashboard import build_dashboard
    from deepreplay.plot import LossAndMetric
    from deepreplay.replay import Replay

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype("float32")
    y = (X @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh", name="hidden"),
                              keras.layers.Dense(1, name="output")])
    model.compile(optimizer="sgd", loss="mse")
    filename = str(tmp_path / "reg.h5")
    model.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[ReplayData(X, y, filename, "reg")])
    with Replay(filename, "reg") as replay:
        assert replay.metric_names == []
        fig, ax = plt.subplots()
        curves = replay.build_loss_and_metric(ax, None)
        changed = curves.set_epoch(1)
        assert len(changed) == 2
        np.testing.assert_allclose(curves.loss_line.get_ydata(), replay.training_loss[:2])
        assert len(fig.axes) == 1  # no metric axis
        fig, visuals = build_dashboard(replay)
        assert any(isinstance(v, LossAndMetric) for v in visuals)


def test_every_second_epoch_integer_ticks_unclipped_markers_and_room_above_accuracy_one(ax):
    """A run recorded every 2 epochs whose accuracy reaches 1.0: whole-epoch ticks, markers drawn whole."""
    epochs = np.arange(0, 11, 2)
    data = LossAndMetricData(epochs=epochs, loss=np.linspace(0.7, 0.1, len(epochs)),
                             metric=np.array([0.5, 0.7, 0.9, 1.0, 1.0, 1.0]), metric_name="accuracy",
                             loss_name="binary_crossentropy")
    lm = LossAndMetric(ax, data)
    for epoch in (0, 10):  # the markers sit on the left and right edges of the frame
        lm.set_epoch(epoch)
        assert not lm.loss_marker.get_clip_on() and not lm.metric_marker.get_clip_on()
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
    assert all("." not in label.get_text() for label in ax.get_xticklabels() if label.get_text())
    # the accuracy line at 1.0 is at least 2 pixels below the top of the frame
    low, high = lm.ax_metric.get_ylim()
    top_px = lm.ax_metric.transData.transform((0, high))[1]
    one_px = lm.ax_metric.transData.transform((0, 1.0))[1]
    assert high > 1.0 and top_px - one_px >= 2


@pytest.mark.parametrize("loss", [np.array([-0.84, -0.96, -0.97, -0.99]),  # cosine_similarity: below 0 only
                                  np.array([0.8, -0.9, -2.4, -3.9])])    # from above 0 to below
def test_a_loss_below_zero_is_drawn_whole_with_zero_in_view(ax, loss):
    """Losses such as cosine_similarity are negative: the axis starting at 0 hid the whole curve."""
    data = LossAndMetricData(epochs=np.arange(4), loss=loss, metric=None, metric_name=None,
                             loss_name="cosine_similarity")
    lm = LossAndMetric(ax, data)
    lm.set_epoch(3)
    low, high = ax.get_ylim()
    assert low < loss.min() and high > max(loss.max(), 0.0)
    assert high - low < 1.2 * (max(loss.max(), 0.0) - loss.min())  # the curve fills the axes
