"""LossHistogram: counts against NumPy, fixed bins and scale, non-finite losses, drawing rules, errors."""

import keras
import numpy as np
import pytest
from matplotlib import pyplot as plt

from deepreplay.callbacks import ReplayData
from deepreplay.plot.loss_histogram import LossHistogram, LossHistogramData, loss_edges
from deepreplay.replay import Replay


@pytest.fixture
def ax():
    return plt.subplots(figsize=(3, 2.5))[1]


def recorded_losses(replay, epochs):
    return np.stack([np.asarray(replay.losses_at(int(e)), dtype=np.float64) for e in epochs])


def heights(lh):
    return np.array([rect.get_height() for rect in lh.bars])


def test_counts_match_numpy_histogram_on_fixed_bins(replay, ax):
    lh = replay.build_loss_histogram(ax)
    losses = recorded_losses(replay, replay.epochs)
    # Bins from 0 to the largest loss of any epoch in range, the same for every epoch.
    np.testing.assert_allclose(lh.data.edges, np.linspace(0, losses.max(), 31))
    for i, epoch in enumerate(replay.epochs):
        expected = np.histogram(losses[i], bins=30, range=(0, losses.max()))[0]
        np.testing.assert_array_equal(lh.data.counts[i], expected)
        lh.set_epoch(int(epoch))
        np.testing.assert_array_equal(heights(lh), expected)
        assert heights(lh).sum() == losses.shape[1]
        assert lh.note.get_text() == ""


def test_epoch_range_sets_the_bins_from_its_own_epochs(replay, ax):
    lh = replay.build_loss_histogram(ax, bins=8, epoch_start=2, epoch_end=3)
    assert list(lh.epochs) == [2, 3]
    losses = recorded_losses(replay, [2, 3])
    assert lh.data.edges[-1] == pytest.approx(losses.max())
    for i, epoch in enumerate((2, 3)):
        np.testing.assert_array_equal(
            lh.data.counts[i], np.histogram(losses[i], bins=8, range=(0, losses.max()))[0])
    with pytest.raises(ValueError, match="epoch=0 is not available"):
        lh.set_epoch(0)


def test_labels_limits_and_artists(replay, ax):
    lh = replay.build_loss_histogram(ax, bins=12, title="Per-sample losses")
    lh.set_epoch(0)
    assert ax.get_title() == "Per-sample losses"
    assert ax.get_xlabel() == "Loss (binary_crossentropy)"
    assert len(lh.bars) == 12
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    assert xlim == (0.0, pytest.approx(lh.data.edges[-1]))
    assert ylim[0] == 0 and ylim[1] >= lh.data.counts.max()
    children = len(ax.get_children())
    for epoch in list(replay.epochs)[::-1]:
        changed = lh.set_epoch(int(epoch))
        assert len(ax.get_children()) == children
        assert (ax.get_xlim(), ax.get_ylim()) == (xlim, ylim)
    assert len(changed) == 12 + 1
    assert {id(a) for a in changed} == {id(a) for a in (*lh.bars, lh.note)}


def test_the_loss_names_of_several_outputs_wrap_under_the_axes(ax):
    """'binary_crossentropy+sparse_categorical_crossentropy' on one line ran under the next axes of a dashboard."""
    data = LossHistogramData(np.array([0]), np.linspace(0, 1, 5), np.zeros((1, 4), int), np.zeros(1, int),
                             "binary_crossentropy+sparse_categorical_crossentropy", 10)
    LossHistogram(ax, data).set_epoch(0)
    lines = ax.get_xlabel().split("\n")
    assert lines == ["Loss (binary_crossentropy +", "sparse_categorical_crossentropy)"]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"bins": 0}, ValueError, "bins=0 must be at least 1"),
    ({"bins": "30"}, TypeError, "bins='30' must be an integer"),
    ({"title": 5}, TypeError, "title=5 must be a string"),
    ({"epoch_start": 100}, ValueError, r"epoch_start=100.*recorded epochs: 0\.\.4"),
    ({"epoch_start": 5, "epoch_end": 9}, ValueError, "no recorded epoch between epoch_start=5 and epoch_end=9"),
    ({"epoch_start": 3, "epoch_end": 1}, ValueError, "epoch_start=3 is after epoch_end=1"),
])
def test_bad_options(replay, ax, kwargs, error, match):
    with pytest.raises(error, match=match):
        replay.build_loss_histogram(ax, **kwargs)


def test_loss_edges():
    np.testing.assert_allclose(loss_edges(np.array([[0.5, 2.0], [np.inf, np.nan]]), 4), [0, 0.5, 1, 1.5, 2])
    # Negative losses (e.g. cosine similarity) widen the range below 0.
    np.testing.assert_allclose(loss_edges(np.array([-1.0, 1.0]), 2), [-1, 0, 1])
    # Nothing finite, or only zeros: a unit range rather than a crash.
    np.testing.assert_allclose(loss_edges(np.array([np.nan, np.inf]), 2), [0, 0.5, 1])
    np.testing.assert_allclose(loss_edges(np.zeros(3), 2), [0, 0.5, 1])


@pytest.fixture(scope="module")
def diverged(tmp_path_factory):
    """A linear model whose per-sample losses are partly infinite or NaN (as in a diverging run)."""
    filename = str(tmp_path_factory.mktemp("diverged") / "diverged.h5")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="ones", name="output")])
    model.compile(optimizer="sgd", loss="mse")
    X = np.tile(np.float32([[0.5, 0.25]]), (10, 1))
    X[0] = [1e30, 0]          # output 1e30: squared error overflows to inf
    X[1] = [np.inf, -np.inf]  # output NaN
    y = np.zeros((10, 1), dtype=np.float32)
    ReplayData(X, y, filename, "diverged", model=model, record=("predictions", "losses"))
    ReplayData(X, y, filename, "predictions_only", model=model, record=("predictions",))
    return filename


def test_non_finite_losses_are_left_out_and_reported(diverged, ax):
    with Replay(diverged, "diverged") as replay:
        losses = np.asarray(replay.losses_at(0), dtype=np.float64)
        assert np.isinf(losses[0]) and np.isnan(losses[1]) and np.isfinite(losses[2:]).all()
        lh = LossHistogram.from_replay(replay, ax, bins=5)
    lh.set_epoch(0)
    assert list(lh.data.left_out) == [2]
    assert heights(lh).sum() == 8
    assert lh.data.edges[-1] == pytest.approx(losses[2:].max())
    assert lh.note.get_text() == "2 of 10 not finite (left out)"
    assert np.isfinite(ax.get_ylim()).all() and np.isfinite(ax.get_xlim()).all()
    ax.figure.canvas.draw()


def test_recording_without_losses_is_refused(diverged, ax):
    with (Replay(diverged, "predictions_only") as replay,
          pytest.raises(ValueError, match=r"per-sample losses were not recorded.*record=")):
        replay.build_loss_histogram(ax)
