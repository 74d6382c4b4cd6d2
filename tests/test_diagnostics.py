"""deepreplay.diagnostics: per-layer statistics and distributions equal NumPy on the recorded arrays."""

import numpy as np
import pytest

from deepreplay import diagnostics as dg

DEEP_EPOCHS = 2
HIDDEN = ("d1", "d2", "d3")


def make_deep_model(seed=3):
    """3 inputs, three Dense(4, tanh) layers and a sigmoid output."""
    import keras

    layers = [keras.Input((3,))]
    for i, name in enumerate(HIDDEN):
        layers.append(keras.layers.Dense(4, activation="tanh", name=name,
                                         kernel_initializer=keras.initializers.GlorotNormal(seed=seed + i)))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="out",
                                     kernel_initializer=keras.initializers.GlorotNormal(seed=seed + 9)))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def deep_data(n=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (X.sum(axis=1, keepdims=True) > 0).astype(np.float32)
    return X, y


@pytest.fixture(scope="module")
def deep_file(tmp_path_factory):
    """A 2-epoch recording of the deep model: ``(filename, group)``."""
    import keras

    from deepreplay.callbacks import ReplayData

    keras.utils.set_random_seed(1)
    X, y = deep_data()
    filename = str(tmp_path_factory.mktemp("deep") / "deep.h5")
    model = make_deep_model()
    model.fit(X, y, epochs=DEEP_EPOCHS, batch_size=8, verbose=0, callbacks=[ReplayData(X, y, filename, "deep")])
    return filename, "deep"


@pytest.fixture()
def replay(deep_file):
    from deepreplay.replay import Replay

    with Replay(*deep_file) as r:
        yield r


def _kernel(nested, layer):
    return np.asarray(nested[layer]["kernel"], dtype=np.float64)


# -- layer selection ------------------------------------------------------------------------------------------
def test_default_selection_leaves_out_the_output_layer(replay):
    assert dg.select_layers(replay, "weights") == HIDDEN
    assert dg.select_layers(replay, "gradients", exclude_outputs=False) == (*HIDDEN, "out")
    assert dg.select_layers(replay, "z") == HIDDEN


def test_default_selection_leaves_out_every_output_layer_of_several_outputs(tmp_path):
    """A two-output model: the first output ('bin') is not a hidden layer either (it was shown, 'cls' not)."""
    import keras

    from deepreplay.callbacks import ReplayData
    from deepreplay.replay import Replay

    X, y = deep_data()
    inputs = keras.Input((X.shape[1],))
    h = keras.layers.Dense(3, activation="tanh", name="h")(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(1, activation="sigmoid", name="bin")(h),
                                 keras.layers.Dense(2, name="reg")(h)])
    model.compile(optimizer="sgd", loss=["binary_crossentropy", "mse"])
    targets = [y, np.zeros((len(X), 2), "float32")]
    model.fit(X, targets, epochs=1, verbose=0, callbacks=[ReplayData(X, targets, tmp_path / "two.h5", "two")])
    with Replay(tmp_path / "two.h5", "two") as two:
        assert dg.select_layers(two, "activations") == ("h",)
        assert dg.select_layers(two, "weights", exclude_outputs=False) == ("h", "bin", "reg")


def test_include_inputs_puts_inputs_first(replay):
    assert dg.select_layers(replay, "activations", include_inputs=True) == ("Inputs", *HIDDEN)
    values = dg.layer_values(replay, "activations", 0, include_inputs=True)
    np.testing.assert_array_equal(values["Inputs"], np.asarray(replay.inputs, dtype=np.float64).ravel())


def test_explicit_layer_names_keep_their_order_and_may_name_the_output(replay):
    assert dg.select_layers(replay, "weights", ["d3", "d1"]) == ("d3", "d1")
    assert dg.select_layers(replay, "weights", ["out"]) == ("out",)
    assert dg.select_layers(replay, "weights", "d2") == ("d2",)


def test_unknown_layer_is_a_clear_error_listing_valid_names(replay):
    with pytest.raises(ValueError, match=r"'nope', which is not a layer of this model; valid names: \['d1', 'd2'"):
        dg.weights_std(replay, ["d1", "nope"])


@pytest.mark.parametrize("bad, error, match", [
    ([], ValueError, "layer_names is empty"),
    (["d1", "d1"], ValueError, r"repeats \['d1'\]"),
    ([1], TypeError, "must hold layer names"),
    (3, TypeError, "must be a list of layer names"),
])
def test_bad_layer_names(replay, bad, error, match):
    with pytest.raises(error, match=match):
        dg.select_layers(replay, "weights", bad)


def test_bad_options(replay):
    with pytest.raises(ValueError, match="include_inputs=True applies to activations and z-values only"):
        dg.select_layers(replay, "weights", include_inputs=True)
    with pytest.raises(ValueError, match=r"quantity='bias' is not one of"):
        dg.select_layers(replay, "bias")
    with pytest.raises(TypeError, match="exclude_outputs='no' must be True or False"):
        dg.select_layers(replay, "weights", exclude_outputs="no")
    with pytest.raises(TypeError, match="must be a deepreplay Replay"):
        dg.weights_std("deep.h5")
    with pytest.raises(ValueError, match="epoch=7 was not recorded"):
        dg.layer_values(replay, "weights", 7)


# -- statistics -------------------------------------------------------------------------------------------------
def test_weights_and_gradients_std_equal_numpy_on_the_recorded_arrays(replay):
    w, g, r = dg.weights_std(replay), dg.gradients_std(replay), dg.std_ratio(replay)
    np.testing.assert_array_equal(w.epochs, np.arange(DEEP_EPOCHS + 1))
    assert w.layers == g.layers == r.layers == HIDDEN
    assert w.values.shape == (DEEP_EPOCHS + 1, len(HIDDEN))
    for i, epoch in enumerate(w.epochs):
        weights, grads = replay.weights_at(int(epoch)), replay.gradients_at(int(epoch))
        for j, layer in enumerate(HIDDEN):
            expected_w = np.std(_kernel(weights, layer))
            expected_g = np.std(_kernel(grads, layer))
            assert w.values[i, j] == pytest.approx(expected_w, rel=1e-12)
            assert g.values[i, j] == pytest.approx(expected_g, rel=1e-12)
            assert r.values[i, j] == pytest.approx(expected_g / expected_w, rel=1e-12)
    np.testing.assert_array_equal(w.at(1), w.values[1])
    np.testing.assert_array_equal(w.of("d2"), w.values[:, 1])
    epochs, layers, values = w  # a NamedTuple of plain arrays
    assert epochs is w.epochs and layers == HIDDEN
    assert values is w.values and not values.flags.writeable


def test_gradients_equal_a_gradient_tape_on_the_rebuilt_model(replay):
    """Rebuild the model with the weights recorded at epoch 1; compute the mean BCE gradient with TensorFlow."""
    import keras
    import tensorflow as tf

    epoch = 1
    model = make_deep_model(seed=99)  # different initial weights: every weight is set below
    recorded = replay.weights_at(epoch)
    for layer in model.layers:
        layer.set_weights([recorded[layer.name]["kernel"], recorded[layer.name]["bias"]])
    x = tf.constant(replay.inputs)
    y = tf.constant(replay.targets)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, model(x, training=False)))
    kernels = [model.get_layer(name).kernel for name in HIDDEN]
    grads = tape.gradient(loss, kernels)
    expected = np.array([np.std(np.asarray(gr, dtype=np.float64)) for gr in grads])
    np.testing.assert_allclose(dg.gradients_std(replay).at(epoch), expected, rtol=1e-4)
    for name, gr in zip(HIDDEN, grads):
        np.testing.assert_allclose(replay.gradients_at(epoch)[name]["kernel"], gr.numpy(), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("quantity, before", [("z", True), ("activations", False)])
def test_output_std_equals_numpy(replay, quantity, before):
    stats = dg.layer_std(replay, quantity, include_inputs=True, epoch_start=1)
    np.testing.assert_array_equal(stats.epochs, [1, 2])
    assert stats.layers == ("Inputs", *HIDDEN)
    for i, epoch in enumerate(stats.epochs):
        assert stats.values[i, 0] == pytest.approx(np.std(replay.inputs.astype(np.float64)))
        for j, layer in enumerate(HIDDEN, start=1):
            outputs = replay.outputs_at(int(epoch), layer, before_activation=before).astype(np.float64)
            assert stats.values[i, j] == pytest.approx(np.std(outputs), rel=1e-12)


def test_statistics_lookup_errors(replay):
    stats = dg.weights_std(replay)
    with pytest.raises(ValueError, match="epoch=9 is not among these epochs"):
        stats.at(9)
    with pytest.raises(ValueError, match=r"layer_name='out' is not among these layers: \['d1', 'd2', 'd3'\]"):
        stats.of("out")


# -- distributions -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("quantity", dg.QUANTITIES)
def test_distributions_equal_numpy_histograms_of_the_recorded_arrays(replay, quantity):
    data = dg.layer_distributions(replay, quantity, bins=12)
    assert data.layers == HIDDEN and data.counts.shape == (DEEP_EPOCHS + 1, 3, 12)
    everything = []
    for i, epoch in enumerate(data.epochs):
        epoch = int(epoch)
        if quantity in ("weights", "gradients"):
            nested = replay.weights_at(epoch) if quantity == "weights" else replay.gradients_at(epoch)
            arrays = [_kernel(nested, layer).ravel() for layer in HIDDEN]
        else:
            arrays = [replay.outputs_at(epoch, layer, before_activation=quantity == "z").astype(np.float64).ravel()
                      for layer in HIDDEN]
        for j, values in enumerate(arrays):
            everything.append(values)
            np.testing.assert_array_equal(data.counts[i, j], np.histogram(values, bins=data.edges)[0])
            np.testing.assert_allclose(data.quartiles[i, j], np.percentile(values, [25, 50, 75]))
            assert data.std[i, j] == pytest.approx(np.std(values))
            assert data.counts[i, j].sum() == values.size
    # One scale for every layer and epoch, covering every value.
    everything = np.concatenate(everything)
    assert data.ylim[0] < everything.min() and data.ylim[1] > everything.max()
    np.testing.assert_allclose(data.edges[[0, -1]], data.ylim)


def test_distributions_with_a_given_scale_count_outliers_in_the_edge_bins(replay):
    data = dg.layer_distributions(replay, "weights", ["d1"], ylim=(-0.1, 0.1), bins=4, epoch_end=0)
    kernel = _kernel(replay.weights_at(0), "d1").ravel()
    np.testing.assert_allclose(data.edges, [-0.1, -0.05, 0.0, 0.05, 0.1])
    np.testing.assert_array_equal(data.counts[0, 0], np.histogram(np.clip(kernel, -0.1, 0.1), bins=data.edges)[0])
    with pytest.raises(ValueError, match="bins=1 must be at least 2"):
        dg.layer_distributions(replay, "weights", bins=1)
    with pytest.raises(ValueError, match="ylim="):
        dg.layer_distributions(replay, "weights", ylim=(1.0, -1.0))


# -- other recordings: layers without kernel, missing quantities, comparisons ------------------------------------------
@pytest.fixture(scope="module")
def initial_states(tmp_path_factory):
    """Initial-state recordings (no training): two deep models and a model with a LayerNormalization layer."""
    import keras

    from deepreplay.callbacks import ReplayData

    X, y = deep_data()
    filename = str(tmp_path_factory.mktemp("initial") / "initial.h5")
    ReplayData(X, y, filename, "seed3", model=make_deep_model(seed=3))
    ReplayData(X, y, filename, "seed7", model=make_deep_model(seed=7))
    ReplayData(X, y, filename, "weights_only", model=make_deep_model(seed=3), record=["weights"])
    norm = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="d1"),
                             keras.layers.LayerNormalization(name="ln"),
                             keras.layers.Dense(1, activation="sigmoid", name="out")])
    norm.compile(optimizer="sgd", loss="binary_crossentropy")
    ReplayData(X, y, filename, "norm", model=norm)
    return filename


def test_a_layer_without_kernel_uses_all_its_variables(initial_states):
    from deepreplay.replay import Replay

    with Replay(initial_states, "norm") as replay:
        variables = replay.weights_at(0)["ln"]
        expected = np.std(np.concatenate([np.ravel(v) for v in variables.values()]))
        assert dg.weights_std(replay, ["ln"]).values[0, 0] == pytest.approx(expected)
        assert dg.select_layers(replay, "z") == ("d1",)  # the normalization layer has no activation
        with pytest.raises(ValueError, match=r"'ln', which has no recorded z-values .* valid names: \['d1', 'out'\]"):
            dg.layer_std(replay, "z", ["ln"])


def test_a_quantity_that_was_not_recorded(initial_states):
    from deepreplay.replay import Replay

    with Replay(initial_states, "weights_only") as replay:
        assert dg.weights_std(replay).values.shape == (1, 3)
        with pytest.raises(ValueError, match="this recording has no recorded gradients"):
            dg.gradients_std(replay)


def test_ratio_table_equals_std_ratio_of_each_recording(initial_states):
    from deepreplay.replay import Replay

    with Replay(initial_states, "seed3") as a, Replay(initial_states, "seed7") as b:
        table = dg.ratio_table({"Glorot, seed 3": a, "Glorot, seed 7": b})
        assert table.epoch == 0 and table.cases == ("Glorot, seed 3", "Glorot, seed 7") and table.layers == HIDDEN
        np.testing.assert_array_equal(table.values[0], dg.std_ratio(a).at(0))
        np.testing.assert_array_equal(table.row("Glorot, seed 7"), dg.std_ratio(b).at(0))
        assert table.to_dict()["Glorot, seed 3"]["d2"] == table.values[0, 1]
        text = table.format(precision=3)
        assert text.splitlines()[0].split() == ["case", *HIDDEN]
        assert f"{table.values[1, 2]:.3g}" in text.splitlines()[2]
        with Replay(initial_states, "norm") as other, \
                pytest.raises(ValueError, match=r"case 'other' has no layers \['d2', 'd3'\]"):
            dg.ratio_table({"a": a, "other": other})
        with pytest.raises(ValueError, match="epoch=3 was not recorded"):
            dg.ratio_table({"a": a}, epoch=3)
    with pytest.raises(TypeError, match="replays must be a mapping"):
        dg.ratio_table([a, b])
    with pytest.raises(ValueError, match="replays is empty"):
        dg.ratio_table({})
