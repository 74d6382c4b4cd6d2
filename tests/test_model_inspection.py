"""Tests for deepreplay.model_inspection (layers), and the model-reading parts of deepreplay.losses and
deepreplay.metrics that share its small models, checked against values computed by hand with NumPy.

No model is trained here: building small models is enough.
"""


import keras
import numpy as np
import pytest

from deepreplay.losses import loss_name, output_masks, per_sample_loss
from deepreplay.metrics import compiled_metrics
from deepreplay.model_inspection import chain_layers, is_linear, model_layers, variable_keys

RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 2)).astype(np.float32)
Y_BIN = (RNG.uniform(size=(12, 1)) > 0.5).astype(np.float32)


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _dense_model(activation="tanh", *, compile_with="binary_crossentropy", metrics=None):
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(3, activation=activation, name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    if compile_with is not None:
        model.compile(optimizer="sgd", loss=compile_with, metrics=metrics)
    return model


# --------------------------------------------------------------------------
# Activations and layers
# --------------------------------------------------------------------------


def _double(v):
    return 2 * v


def linear(v):
    """A user's function that Keras saves under the name of its own identity."""
    return 2 * v


@pytest.mark.filterwarnings("ignore:The object being serialized includes a `lambda`")
@pytest.mark.parametrize("activation, linear", [
    (None, True), ("linear", True), (keras.activations.linear, True),
    ("relu", False), ("tanh", False), ("sigmoid", False),
    # custom callables are non-linear: their z-values must be recorded
    (_double, False), (lambda v: 2 * v, False), (linear, False),
])
def test_is_linear(activation, linear):
    if isinstance(activation, str):
        activation = keras.activations.get(activation)
    assert is_linear(activation) is linear


def test_model_layers_leaves_out_input_layers():
    inp = keras.Input((2,), name="x")
    out = keras.layers.Dense(1, name="d")(inp)
    model = keras.Model(inp, out)
    assert [layer.name for layer in model.layers] == ["x", "d"]
    assert [layer.name for layer in model_layers(model)] == ["d"]


def test_variable_keys_use_variable_names():
    inp = keras.Input((2,))
    h = keras.layers.Dense(3, name="dense_in")(inp)
    h = keras.layers.BatchNormalization(name="batch_normalization")(h)
    h = keras.layers.Dropout(0.5, name="drop")(h)
    model = keras.Model(inp, keras.layers.Dense(1, name="out")(h))
    keys = {layer.name: [k for k, _ in variable_keys(layer)] for layer in model_layers(model)}
    assert keys == {
        "dense_in": ["kernel", "bias"],
        "batch_normalization": ["gamma", "beta", "moving_mean", "moving_variance"],
        # A layer without variables has path None in Keras 3; it must give no keys, not crash.
        "drop": [],
        "out": ["kernel", "bias"],
    }
    bn = model.get_layer("batch_normalization")
    assert dict(variable_keys(bn))["moving_mean"] is bn.moving_mean


def test_variable_keys_of_a_nested_model_name_the_inner_layer():
    inner_in = keras.Input((2,))
    inner_h = keras.layers.Dense(3, name="first")(inner_in)
    inner = keras.Model(inner_in, keras.layers.Dense(2, name="second")(inner_h), name="inner")
    outer_in = keras.Input((2,))
    outer = keras.Model(outer_in, keras.layers.Dense(1, name="top")(inner(outer_in)))
    keys = [k for k, _ in variable_keys(outer.get_layer("inner"))]
    assert keys == ["first.kernel", "first.bias", "second.kernel", "second.bias"]
    assert len(set(keys)) == len(keys)


# --------------------------------------------------------------------------
# Loss and metrics
# --------------------------------------------------------------------------


def test_per_sample_loss_of_a_string_loss_matches_numpy():
    model = _dense_model()
    p = np.asarray(model(X), dtype=np.float64)
    loss = per_sample_loss(model)
    got = keras.ops.convert_to_numpy(loss(Y_BIN, model(X)))
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    expected = -(Y_BIN * np.log(pc) + (1 - Y_BIN) * np.log(1 - pc)).mean(axis=-1)
    assert got.shape == (12,)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert loss_name(model) == "binary_crossentropy"


def test_per_sample_loss_of_a_loss_object_drops_its_reduction():
    model = _dense_model(compile_with=keras.losses.MeanSquaredError(reduction="sum"))
    p = np.asarray(model(X), dtype=np.float64)
    got = keras.ops.convert_to_numpy(per_sample_loss(model)(Y_BIN, model(X)))
    assert got.shape == (12,)
    np.testing.assert_allclose(got, ((Y_BIN - p) ** 2).mean(axis=-1), rtol=1e-5, atol=1e-7)
    assert loss_name(model) == "mean_squared_error"


def test_per_sample_loss_refuses_uncompiled_models():
    with pytest.raises(ValueError, match=r"model is not compiled with a loss; call model.compile"):
        per_sample_loss(_dense_model(compile_with=None))


def test_per_sample_loss_refuses_a_model_trained_on_add_loss_only_and_says_what_to_compile():
    model = _dense_model(compile_with=None)
    model.compile(optimizer="sgd")  # loss=None: it would train on add_loss terms only
    with pytest.raises(ValueError, match=r"compiled with loss=None .*add_loss.*model.compile\(loss=...\)"):
        per_sample_loss(model)


def test_per_sample_loss_of_several_outputs_is_the_weighted_total_then_each_output():
    inp = keras.Input((2,))
    two = keras.Model(inp, [keras.layers.Dense(1, name="a")(inp), keras.layers.Dense(2, name="b")(inp)])
    two.compile(optimizer="sgd", loss={"a": "mse", "b": "mae"}, loss_weights={"a": 0.5, "b": 2.0})
    ya, yb = Y_BIN, np.ones((len(X), 2), np.float32)
    pa, pb = (np.asarray(p, np.float64) for p in two(X))
    got = keras.ops.convert_to_numpy(per_sample_loss(two)([ya, yb], two(X)))
    mse, mae = ((ya - pa) ** 2).mean(axis=-1), np.abs(yb - pb).mean(axis=-1)
    np.testing.assert_allclose(got, np.stack([0.5 * mse + 2.0 * mae, mse, mae], axis=1), rtol=1e-5, atol=1e-7)
    # Keras' own training loss is the mean of the total column.
    keras_loss = two.compute_loss(X, [ya, yb], two(X))
    np.testing.assert_allclose(got[:, 0].mean(), keras.ops.convert_to_numpy(keras_loss), rtol=1e-5)
    with pytest.raises(ValueError, match=r"model.loss names outputs \['c'\]"):
        three = keras.Model(inp, [keras.layers.Dense(1, name="x")(inp), keras.layers.Dense(1, name="y")(inp)])
        three.compile(optimizer="sgd", loss={"x": "mse", "c": "mae"})
        per_sample_loss(three)


def test_accuracy_resolves_to_binary_for_a_sigmoid_output():
    model = _dense_model(metrics=["accuracy"])
    specs = compiled_metrics(model, Y_BIN)
    assert [s.name for s in specs] == ["accuracy"]
    p = np.asarray(model(X))
    assert specs[0].evaluate(Y_BIN, p) == pytest.approx(np.mean((p > 0.5) == Y_BIN))


def test_accuracy_resolves_to_sparse_and_categorical_for_softmax_outputs():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax", name="soft")])
    y_int = RNG.integers(0, 3, size=12)
    p = np.asarray(model(X))
    expected = np.mean(p.argmax(axis=1) == y_int)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert compiled_metrics(model, y_int)[0].evaluate(y_int, p) == pytest.approx(expected)
    one_hot = np.eye(3, dtype=np.float32)[y_int]
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["acc"])
    spec = compiled_metrics(model, one_hot)[0]
    assert spec.name == "acc"
    assert spec.evaluate(one_hot, p) == pytest.approx(expected)


@pytest.mark.parametrize("metrics", [[["accuracy", "mae"]], [["accuracy"], "mae"], {"out": ["accuracy", "mae"]}])
def test_one_output_metrics_given_per_output_are_those_keras_logs(metrics):
    """metrics=[["accuracy", "mae"]] for one output (Keras reads it as its list): it raised 'unhashable TrackedList'."""
    inp = keras.Input((2,), name="x")
    model = keras.Model([inp], [keras.layers.Dense(1, activation="sigmoid", name="out")(inp)])
    model.compile(optimizer="sgd", loss=["binary_crossentropy"], metrics=metrics)
    logged = model.evaluate([X], [Y_BIN], verbose=0, return_dict=True)
    specs = compiled_metrics(model, [Y_BIN])
    assert sorted(s.name for s in specs) == sorted(k for k in logged if k != "loss") == ["accuracy", "mae"]
    p = np.asarray(model([X]))
    for spec in specs:
        assert spec.evaluate(Y_BIN, p) == pytest.approx(logged[spec.name], rel=1e-5)


def test_a_metric_function_or_class_of_the_users_not_registered_is_evaluated_as_keras_logs_it():
    """A plain function in metrics= is serialized by its name only: it made the callback refuse the targets
    ("'str' object is not callable") before training; an unregistered Metric class was left out with a warning."""

    def mean_gap(y_true, y_pred):
        return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)

    class MeanPrediction(keras.metrics.Mean):
        def update_state(self, y_true, y_pred, sample_weight=None):
            return super().update_state(keras.ops.mean(y_pred, axis=-1), sample_weight)

    model = _dense_model(metrics=[mean_gap, MeanPrediction(name="mean_prediction")])
    logged = model.evaluate(X, Y_BIN, verbose=0, return_dict=True, batch_size=len(X))
    specs = compiled_metrics(model, Y_BIN)
    assert [s.name for s in specs] == ["mean_gap", "mean_prediction"]
    p = np.asarray(model(X))
    for spec in specs:
        assert spec.evaluate(Y_BIN, p) == pytest.approx(logged[spec.name], rel=1e-5)


def test_other_metrics_are_rebuilt_fresh_each_time():
    model = _dense_model(metrics=["mae", keras.metrics.MeanSquaredError(name="my_mse")])
    specs = compiled_metrics(model, Y_BIN)
    assert [s.name for s in specs] == ["mae", "my_mse"]
    p = np.asarray(model(X), dtype=np.float64)
    for _ in range(2):  # a second evaluation does not accumulate into the first
        assert specs[0].evaluate(Y_BIN, p) == pytest.approx(np.abs(Y_BIN - p).mean(), rel=1e-5)
        assert specs[1].evaluate(Y_BIN, p) == pytest.approx(((Y_BIN - p) ** 2).mean(), rel=1e-5)


def _three_outputs(metrics):
    inp = keras.Input((2,), name="x")
    h = keras.layers.Dense(4, activation="tanh", name="h")(inp)
    model = keras.Model(inp, {"cls": keras.layers.Dense(1, activation="sigmoid", name="cls")(h),
                              "reg": keras.layers.Dense(2, name="reg")(h),
                              "soft": keras.layers.Dense(3, activation="softmax", name="soft")(h)})
    model.compile(optimizer="sgd", loss={"cls": "binary_crossentropy", "reg": "mse",
                                         "soft": "sparse_categorical_crossentropy"}, metrics=metrics)
    y = {"cls": Y_BIN, "reg": RNG.normal(size=(12, 2)).astype(np.float32), "soft": RNG.integers(0, 3, size=12)}
    return model, y


@pytest.mark.parametrize("metrics", [
    {"cls": ["accuracy", keras.metrics.AUC(name="auc")], "soft": "acc"},
    [["mae"], None, ["accuracy", "accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")]],
])
def test_metrics_of_several_outputs_are_evaluated_per_output_under_keras_log_names(metrics):
    model, y = _three_outputs(metrics)
    assert model.output_names == ["cls", "reg", "soft"]
    want = model.evaluate(X, y, batch_size=len(X), verbose=0, return_dict=True)
    specs = compiled_metrics(model, y)
    names = [s.name for s in specs]
    assert set(names) == {k for k in want if not k.endswith("loss")}, (names, want)
    # The metrics take every output's targets and predictions (dict or list) and measure their own output.
    p = model(X)
    for spec in specs:
        for y_pred in (p, [p[name] for name in model.output_names]):
            assert spec.evaluate(y, y_pred) == pytest.approx(want[spec.name], rel=1e-5, abs=1e-6), spec.name
        assert spec.output == spec.name.split("_")[0]


def test_metrics_that_match_no_output_structure_are_skipped_with_a_warning():
    model, y = _three_outputs(None)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae", "mse"])  # a flat list, 2 metrics for 3 outputs
    with pytest.warns(UserWarning, match=r"cannot match the compiled metrics \['mae', 'mse'\] to the outputs "
                                         r"\['cls', 'reg', 'soft'\]"):
        assert compiled_metrics(model, y) == []


@pytest.mark.parametrize("kind", ["sequential", "subclassed"])
def test_output_masks_give_metrics_of_numpy_predictions_the_padded_steps_keras_leaves_out(kind):
    """A Masking layer before an output per step: predictions handed back as NumPy (PyTorch's step, or a
    compiled JAX step's) have lost their mask, and the metric counted the padded steps. output_masks reads it
    once (a subclassed model has no symbolic outputs: it is called because a layer makes masks) and the metric
    measures the NumPy predictions as Keras measures the masked tensor; a model without masks gives None."""
    L = keras.layers
    steps = np.arange(5)[None, :] < (np.arange(12) % 4 + 1)[:, None]
    x = np.where(steps[..., None], RNG.normal(size=(12, 5, 2)), 0.0).astype(np.float32)
    y = RNG.normal(size=(12, 5, 1)).astype(np.float32)
    layers = [L.Masking(0.0, name="mask"), L.Dense(3, activation="tanh", name="step"), L.Dense(1, name="out")]
    if kind == "sequential":
        model = keras.Sequential([keras.Input((5, 2)), *layers])
    else:
        class Net(keras.Model):
            def __init__(self):
                super().__init__(name="net")
                self.parts = layers

            def call(self, v):
                for layer in self.parts:
                    v = layer(v)
                return v

        model = Net()
        model(x[:2])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    masks = output_masks(model, x)
    np.testing.assert_array_equal(masks[0], steps)
    (spec,) = compiled_metrics(model, y)
    spec.mask = masks[0]
    want = model.evaluate(x, y, batch_size=12, verbose=0, return_dict=True)["mae"]
    assert spec.evaluate(y, keras.ops.convert_to_numpy(model(x))) == pytest.approx(want, rel=1e-6)
    plain = keras.Sequential([keras.Input((5, 2)), L.Dense(1, name="plain")])
    assert output_masks(plain, x) is None


def test_masks_are_read_and_given_without_keras_internal_masking_module(monkeypatch):
    """The mask accessors come from Keras' internal API (keras.src): where that module moved, the metric of a
    masked output still leaves out the padded steps (the tensor's _keras_mask attribute), on this backend."""
    import sys

    L = keras.layers
    steps = np.arange(5)[None, :] < (np.arange(12) % 4 + 1)[:, None]
    x = np.where(steps[..., None], RNG.normal(size=(12, 5, 2)), 0.0).astype(np.float32)
    y = RNG.normal(size=(12, 5, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input((5, 2)), L.Masking(0.0), L.Dense(3, activation="tanh"), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    masks = output_masks(model, x)
    want = model.evaluate(x, y, batch_size=12, verbose=0, return_dict=True)["mae"]
    monkeypatch.setitem(sys.modules, "keras.src.backend.common.masking", None)  # import -> ImportError
    (spec,) = compiled_metrics(model, y)
    spec.mask = masks[0]
    assert spec.evaluate(y, keras.ops.convert_to_numpy(model(x))) == pytest.approx(want, rel=1e-6)


def test_chain_layers_are_the_layers_of_a_plain_chain_only():
    """chain_layers: a Sequential or functional chain gives its layers in call order; a branch, a skip,
    two inputs or a layer called off the chain give None."""
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="a"), keras.layers.Dense(1, name="b")])
    assert [layer.name for layer in chain_layers(seq)] == ["a", "b"]
    inp = keras.Input((3,))
    h = keras.layers.Dense(4, name="h")(inp)
    out = keras.layers.Dense(1, name="o")(keras.layers.Activation("relu", name="act")(h))
    assert [layer.name for layer in chain_layers(keras.Model(inp, out))] == ["h", "act", "o"]
    skip = keras.layers.Add(name="add")([keras.layers.Dense(3, name="d")(inp), inp])
    assert chain_layers(keras.Model(inp, skip)) is None
    a, b = keras.Input((3,)), keras.Input((3,))
    assert chain_layers(keras.Model([a, b], keras.layers.Concatenate()([a, b]))) is None
    first = keras.layers.Dense(3, name="first")
    branch = keras.layers.Dense(1, name="branch")(first(inp))
    side = keras.layers.Dense(1, name="side")(inp)  # called on the input, not on 'first'
    assert chain_layers(keras.Model(inp, keras.layers.Add()([branch, side]))) is None
    assert chain_layers(keras.Sequential([keras.Input((3,))])) is None
