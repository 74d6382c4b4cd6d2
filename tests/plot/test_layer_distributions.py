"""LayerDistributions: violins per layer drawn from the recorded arrays, animated without adding artists."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from deepreplay.plot.layer_distributions import LayerDistributions

HIDDEN = ("d1", "d2", "d3")
EPOCHS = 2


@pytest.fixture(scope="module")
def deep_file(tmp_path_factory):
    """3 inputs, Dense(4, tanh) x 3, Dense(1, sigmoid), trained 2 epochs with ReplayData."""
    import keras

    from deepreplay.callbacks import ReplayData

    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = (X.sum(axis=1, keepdims=True) > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((3,))]
                             + [keras.layers.Dense(4, activation="tanh", name=n) for n in HIDDEN]
                             + [keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy", metrics=["accuracy"])
    filename = str(tmp_path_factory.mktemp("violins") / "deep.h5")
    model.fit(X, y, epochs=EPOCHS, batch_size=8, verbose=0, callbacks=[ReplayData(X, y, filename, "deep")])
    return filename, "deep"


@pytest.fixture()
def replay(deep_file):
    from deepreplay.replay import Replay

    with Replay(*deep_file) as r:
        yield r


def recorded(replay, quantity, epoch, layer):
    """The recorded values of one layer, read through Replay, flattened."""
    if quantity == "weights":
        return replay.weights_at(epoch)[layer]["kernel"].ravel()
    if quantity == "gradients":
        return replay.gradients_at(epoch)[layer]["kernel"].ravel()
    return replay.outputs_at(epoch, layer, before_activation=quantity == "z").ravel()


@pytest.mark.parametrize("quantity, title", [("weights", "Weights"), ("gradients", "Gradients"),
                                             ("activations", "Activations"), ("z", "Z-values")])
def test_violins_show_the_recorded_distribution_of_each_layer(replay, quantity, title):
    _fig, ax = plt.subplots()
    visual = LayerDistributions.from_replay(replay, ax, quantity, bins=10)
    visual.set_epoch(1)
    assert ax.get_title() == title
    assert [t.get_text() for t in ax.get_xticklabels()] == list(HIDDEN)
    edges = visual.data.edges
    for j, layer in enumerate(HIDDEN):
        values = recorded(replay, quantity, 1, layer).astype(np.float64)
        counts = np.histogram(values, bins=edges)[0]
        xy = visual.violins[j].get_xy()
        np.testing.assert_array_equal(xy[0], xy[-1])  # a closed polygon repeats its first vertex
        xy = xy[:-1]
        # Right half of the polygon: two vertices per bin, from the first to the last non-empty bin.
        filled = np.flatnonzero(counts)
        right = xy[: 2 * (filled[-1] - filled[0] + 1)]
        half = right[::2, 0] - j
        np.testing.assert_allclose(half, counts[filled[0]:filled[-1] + 1] / counts.max() * 0.4)
        np.testing.assert_allclose(right[0, 1], edges[filled[0]])
        # The left half mirrors the right half around the layer's position.
        left = xy[len(right):]
        np.testing.assert_allclose(left, np.column_stack([2 * j - right[::-1, 0], right[::-1, 1]]))
        assert len(xy) == 2 * len(right)
        # Median marker and standard deviation label.
        assert visual.medians.get_ydata()[j] == pytest.approx(np.median(values))
        assert visual.std_texts[j].get_text() == f"std {np.std(values):.2g}"


def test_inputs_first_and_output_layer_on_request(replay):
    _fig, (ax1, ax2) = plt.subplots(1, 2)
    outputs = LayerDistributions.from_replay(replay, ax1, "activations", include_inputs=True,
                                             exclude_outputs=False)
    outputs.set_epoch(0)
    assert [t.get_text() for t in ax1.get_xticklabels()] == ["Inputs", *HIDDEN, "out"]
    assert outputs.medians.get_ydata()[0] == pytest.approx(np.median(replay.inputs))
    chosen = LayerDistributions.from_replay(replay, ax2, "gradients", layer_names=["d3", "d1"], title="Last and first")
    chosen.set_epoch(0)
    assert [t.get_text() for t in ax2.get_xticklabels()] == ["d3", "d1"]
    assert ax2.get_title() == "Last and first"


@pytest.mark.parametrize("width, crowded", [(1.6, True), (12.0, False)])
def test_labels_that_would_overlap_are_turned_and_std_labels_staggered(replay, width, crowded):
    fig, ax = plt.subplots(figsize=(width, 3))
    visual = LayerDistributions.from_replay(replay, ax, "activations", include_inputs=True, exclude_outputs=False)
    visual.set_epoch(0)
    assert {t.get_rotation() for t in ax.get_xticklabels()} == ({30.0} if crowded else {0.0})
    rows = {round(t.get_position()[1], 3) for t in visual.std_texts}
    assert len(rows) == (2 if crowded else 1)
    if crowded:  # drawn, no two neighbouring labels of a row share pixels
        fig.canvas.draw()
        boxes = [t.get_window_extent() for t in visual.std_texts]
        assert all(a.x1 <= b.x0 for a, b in zip(boxes[::2], boxes[2::2]))


def test_one_scale_for_all_epochs_and_layers_and_updates_never_add_artists(replay):
    _fig, ax = plt.subplots()
    visual = LayerDistributions.from_replay(replay, ax, "z")
    visual.set_epoch(0)
    children = list(ax.get_children())
    ylim = ax.get_ylim()
    everything = np.concatenate([recorded(replay, "z", e, layer) for e in range(EPOCHS + 1) for layer in HIDDEN])
    assert ylim[0] < everything.min() and ylim[1] > everything.max()
    for epoch in (1, 2, 0, 2):
        changed = visual.set_epoch(epoch)
        assert ax.get_children() == children
        assert ax.get_ylim() == ylim
        assert set(map(id, changed)) <= set(map(id, children))
    given = LayerDistributions.from_replay(replay, plt.subplots()[1], "z", ylim=(-2.0, 2.0), show_std=False)
    given.set_epoch(2)
    assert given.ax.get_ylim() == (-2.0, 2.0)
    assert given.std_texts == []


def test_composes_with_other_visuals_and_saves_one_gif_frame_per_epoch(replay, tmp_path):
    from PIL import Image

    from deepreplay.plot import compose_animations, compose_plots
    from deepreplay.plot.loss_and_metric import LossAndMetric

    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    visuals = [LayerDistributions.from_replay(replay, axes[0], "weights"),
               LayerDistributions.from_replay(replay, axes[1], "gradients"),
               LossAndMetric.from_replay(replay, axes[2], "accuracy")]
    compose_plots(visuals, 1, title="deep")
    assert fig._suptitle.get_text() == "deep - Epoch: 1"
    path = tmp_path / "violins.gif"
    compose_animations(visuals).save(path, fps=4, dpi=30)
    with Image.open(path) as gif:
        assert gif.n_frames == EPOCHS + 1


def test_epoch_range(replay):
    visual = LayerDistributions.from_replay(replay, plt.subplots()[1], "weights", epoch_start=1, epoch_end=2)
    np.testing.assert_array_equal(visual.epochs, [1, 2])
    with pytest.raises(ValueError, match="epoch=0 is not available in this visual"):
        visual.set_epoch(0)


def test_errors_name_the_argument_and_the_way_out(replay):
    ax = plt.subplots()[1]
    with pytest.raises(ValueError, match=r"'d9', which is not a layer of this model; valid names: \['d1', 'd2', 'd3', 'out'\]"):
        LayerDistributions.from_replay(replay, ax, "weights", layer_names=["d9"])
    with pytest.raises(ValueError, match=r"quantity='bias' is not one of"):
        LayerDistributions.from_replay(replay, ax, "bias")
    with pytest.raises(ValueError, match="include_inputs=True applies to activations and z-values only"):
        LayerDistributions.from_replay(replay, ax, "gradients", include_inputs=True)
    with pytest.raises(TypeError, match="data must be a LayerDistributionData"):
        LayerDistributions(ax, {"counts": []})
    with pytest.raises(TypeError, match="expected a Matplotlib Axes"):
        LayerDistributions.from_replay(replay, "ax", "weights")
