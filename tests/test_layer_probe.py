"""Tests for deepreplay.layer_probe, checked against values computed by hand with NumPy.

No model is trained here: building small models is enough.
"""

import warnings

import keras
import numpy as np
import pytest

from deepreplay import layer_tree
from deepreplay.layer_probe import LayerProbe
from deepreplay.layer_tree import find_layer

RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 2)).astype(np.float32)


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _dense_model(activation="tanh"):
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(3, activation=activation, name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    return model


# --------------------------------------------------------------------------
# LayerProbe
# --------------------------------------------------------------------------


def test_probe_activations_and_z_match_numpy_and_leave_model_alone():
    model = _dense_model("tanh")
    probe = LayerProbe.build(model, want_outputs=True, want_z=True)
    (w1, b1), (w2, b2) = model.get_layer("hidden").get_weights(), model.get_layer("output").get_weights()
    activations, z = probe.run(X)
    z1 = X @ w1 + b1
    z2 = np.tanh(z1) @ w2 + b2
    np.testing.assert_allclose(z["hidden"], z1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activations["hidden"], np.tanh(z1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z["output"], z2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activations["output"], _sigmoid(z2), rtol=1e-5, atol=1e-6)
    # New weights are picked up at the next run (the linear twins copy them).
    model.get_layer("hidden").set_weights([2 * w1, b1 - 1])
    _, z = probe.run(X)
    np.testing.assert_allclose(z["hidden"], X @ (2 * w1) + b1 - 1, rtol=1e-5, atol=1e-6)
    # The model itself is unchanged: same layers, same activation, no extra weights.
    assert [layer.name for layer in model.layers] == ["hidden", "output"]
    assert model.get_layer("hidden").activation is keras.activations.tanh
    assert len(model.weights) == 4


def linear(v):
    """A user's activation that Keras saves under the name of its own identity."""
    return 2 * v


def test_probe_records_the_z_values_of_a_user_activation_named_linear():
    """A user's ``def linear`` is not the identity: its layer's z-values are recorded (they were left out)."""
    model = _dense_model(linear)
    probe = LayerProbe.build(model, want_outputs=True, want_z=True)
    w1, b1 = model.get_layer("hidden").get_weights()
    activations, z = probe.run(X)
    np.testing.assert_allclose(z["hidden"], X @ w1 + b1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activations["hidden"], 2 * (X @ w1 + b1), rtol=1e-5, atol=1e-6)


def test_probe_records_nothing_when_not_asked():
    probe = LayerProbe.build(_dense_model(), want_outputs=False, want_z=False)
    assert probe.run(X) == ({}, {})


def test_probe_warns_for_a_shared_layer_and_keeps_the_others():
    inp = keras.Input((2,))
    shared = keras.layers.Dense(2, activation="tanh", name="shared")
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(shared(shared(inp)))
    model = keras.Model(inp, out)
    with pytest.warns(UserWarning, match=r"cannot record the outputs.*'shared \(called 2 times\)'"):
        probe = LayerProbe.build(model, want_outputs=True, want_z=True)
    activations, z = probe.run(X)
    assert sorted(activations) == ["out"] and sorted(z) == ["out"]
    w, b = shared.get_weights()
    h = np.tanh(np.tanh(X @ w + b) @ w + b)
    wo, bo = model.get_layer("out").get_weights()
    np.testing.assert_allclose(z["out"], h @ wo + bo, rtol=1e-5, atol=1e-6)


def test_probe_warns_for_a_layer_first_called_in_another_model():
    reused = keras.layers.Dense(3, activation="relu", name="reused")
    first_in = keras.Input((2,))
    keras.Model(first_in, reused(first_in))  # the layer's first call belongs to this other model
    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(1, name="top")(reused(inp)))
    with pytest.warns(UserWarning, match=r"cannot record the outputs.*'reused'"):
        probe = LayerProbe.build(model, want_outputs=True, want_z=True)
    activations, z = probe.run(X)
    assert sorted(activations) == ["top"] and z == {}
    w, b = reused.get_weights()
    wt, bt = model.get_layer("top").get_weights()
    np.testing.assert_allclose(activations["top"], np.maximum(X @ w + b, 0) @ wt + bt, rtol=1e-5, atol=1e-6)


def test_probe_without_warnings_for_a_plain_model():
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=UserWarning)
        LayerProbe.build(_dense_model(), want_outputs=True, want_z=True)


def _two_level_nested_model():
    """Functional 'outer' holding functional 'mid', which holds Sequential 'core'."""
    core = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu", name="c1")], name="core")
    mid_in = keras.Input((2,))
    h = keras.layers.Dense(3, activation="tanh", name="m1")(mid_in)
    mid = keras.Model(mid_in, keras.layers.Dense(2, name="m2")(core(h)), name="mid")
    inp = keras.Input((2,))
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name="top")(mid(inp)), name="outer")


def test_probe_records_the_layers_of_nested_models_under_their_path():
    model = _two_level_nested_model()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=UserWarning)
        probe = LayerProbe.build(model, want_outputs=True, want_z=True)
    assert probe.layer_names == ["mid/m1", "mid/core/c1", "mid/core", "mid/m2", "mid", "top"]
    activations, z = probe.run(X)
    (w1, b1), (wc, bc), (w2, b2), (wt, bt) = [model.get_layer("mid").get_layer("m1").get_weights(),
                                              model.get_layer("mid").get_layer("core").get_layer("c1").get_weights(),
                                              model.get_layer("mid").get_layer("m2").get_weights(),
                                              model.get_layer("top").get_weights()]
    m1 = np.tanh(X @ w1 + b1)
    c1 = np.maximum(m1 @ wc + bc, 0)
    m2 = c1 @ w2 + b2
    # A nested model's output that is its last layer's is recorded once, as the nested model's.
    expected = {"mid/m1": m1, "mid/core": c1, "mid": m2, "top": _sigmoid(m2 @ wt + bt)}
    assert list(activations) == list(expected)
    assert probe.output_aliases == {"mid/core/c1": "mid/core", "mid/m2": "mid"}
    for name, value in expected.items():
        np.testing.assert_allclose(activations[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    # z-values of the inner layers with a non-linear activation (linear ones have none).
    assert list(z) == ["mid/m1", "mid/core/c1", "top"]
    np.testing.assert_allclose(z["mid/core/c1"], m1 @ wc + bc, rtol=1e-5, atol=1e-6)
    # New weights of an inner layer are picked up by its z twin.
    model.get_layer("mid").get_layer("m1").set_weights([-w1, b1])
    _, z = probe.run(X)
    np.testing.assert_allclose(z["mid/m1"], X @ -w1 + b1, rtol=1e-5, atol=1e-6)
    # The user's models are unchanged: no layer added to any of them.
    assert [layer.name for layer in model.get_layer("mid").layers][1:] == ["m1", "core", "m2"]
    assert len(model.weights) == 8


def test_probe_skips_the_inner_layers_of_a_nested_model_called_twice():
    inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="tanh", name="d")], name="inner")
    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(1, name="top")(inner(inner(inp))))
    with pytest.warns(UserWarning, match=r"'inner \(called 2 times\)'"):
        probe = LayerProbe.build(model, want_outputs=True, want_z=True)
    activations, _ = probe.run(X)
    assert list(activations) == ["top"]


class _Subclassed(keras.Model):
    """Sublayers assigned in another order than called; ``shared`` is called twice, ``unused`` never."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.last = keras.layers.Dense(1, activation="sigmoid", name="last")
        self.unused = keras.layers.Dense(5, name="unused")
        self.unused.build((None, 3))
        self.first = keras.layers.Dense(3, activation="relu", name="first")
        self.shared = keras.layers.Dense(3, activation="tanh", name="shared")

    def call(self, x, training=False):
        return self.last(self.shared(self.shared(self.first(x))))


def test_probe_captures_the_sublayers_of_a_subclassed_model_in_call_order():
    model = _Subclassed()
    model(X[:2])
    with pytest.warns(UserWarning, match=r"cannot record the outputs.*'shared \(called 2 times\)'"):
        probe = LayerProbe.build(model, want_outputs=True, want_z=True, x=X)
    assert probe.layer_names == ["first", "shared", "last", "unused"]
    activations, z = probe.run(X)
    (w1, b1), (ws, bs), (wl, bl) = model.first.get_weights(), model.shared.get_weights(), model.last.get_weights()
    h = np.maximum(X @ w1 + b1, 0)
    s = np.tanh(np.tanh(h @ ws + bs) @ ws + bs)
    assert list(activations) == ["first", "last"] and list(z) == ["first", "last"]
    np.testing.assert_allclose(activations["first"], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z["first"], X @ w1 + b1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z["last"], s @ wl + bl, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activations["last"], _sigmoid(s @ wl + bl), rtol=1e-5, atol=1e-6)
    # New weights are picked up at the next run, z twins included.
    model.first.set_weights([-w1, b1])
    activations, z = probe.run(X)
    np.testing.assert_allclose(z["first"], X @ -w1 + b1, rtol=1e-5, atol=1e-6)
    # The model and its layers are left as they were: no instance `call`, no extra weights or layers.
    assert not any("call" in vars(layer) for layer in model.layers)
    assert len(model.weights) == 8 and len(model.layers) == 4
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(X)), activations["last"], rtol=1e-5, atol=1e-6)


def test_probe_of_a_subclassed_model_without_inputs_warns_that_outputs_are_not_recorded():
    model = _Subclassed()
    model(X[:2])
    with pytest.warns(UserWarning, match="subclassed model without a layer graph"):
        probe = LayerProbe.build(model, want_outputs=True, want_z=False, x=None)
    assert probe.run(X) == ({}, {})


class _SubclassedWithBlock(keras.Model):
    """A subclassed model whose first sublayer is a functional block."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        inp = keras.Input((2,))
        self.block = keras.Model(inp, keras.layers.Dense(3, activation="relu", name="d")(inp), name="block")
        self.out = keras.layers.Dense(1, name="out")

    def call(self, x, training=False):
        return self.out(self.block(x))


def test_probe_of_a_subclassed_model_records_the_layers_of_its_functional_sublayer():
    model = _SubclassedWithBlock()
    model(X[:2])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=UserWarning)
        probe = LayerProbe.build(model, want_outputs=True, want_z=True, x=X)
        activations, z = probe.run(X)
    assert probe.layer_names == ["block/d", "block", "out"]
    # The block's output is its layer d's: recorded once, as the block's (d's z-values as d's).
    assert list(activations) == ["block", "out"] and list(z) == ["block/d"]
    assert probe.output_aliases == {"block/d": "block"}
    w, b = model.block.get_layer("d").get_weights()
    np.testing.assert_allclose(z["block/d"], X @ w + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activations["block"], np.maximum(X @ w + b, 0), rtol=1e-5, atol=1e-6)


class _Inner(keras.layers.Layer):
    """A user-defined layer holding a layer in a dict; ``shared`` (held by the model too) is called twice."""

    def __init__(self, shared, **kwargs):
        super().__init__(**kwargs)
        self.parts = {"d": keras.layers.Dense(3, activation="tanh", name="d")}
        self.shared = shared

    def call(self, x):
        return self.parts["d"](x) * 2.0


class _Outer(keras.layers.Layer):
    """A user-defined layer holding another one and a Keras layer with sublayers of its own (not opened)."""

    def __init__(self, shared, **kwargs):
        super().__init__(**kwargs)
        self.inner = _Inner(shared, name="inner")
        self.attention = keras.layers.MultiHeadAttention(num_heads=1, key_dim=2, name="attention")

    def call(self, x):
        h = self.inner(x)
        seq = keras.ops.expand_dims(h, 1)
        return h + keras.ops.squeeze(self.attention(seq, seq), 1)


class _SubclassedWithLayers(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.shared = keras.layers.Dense(2, name="shared")
        self.outer = _Outer(self.shared, name="outer")
        self.out = keras.layers.Dense(1, name="out")

    def call(self, x, training=False):
        return self.out(self.outer(self.shared(self.shared(x))))


def test_probe_of_a_subclassed_model_records_the_layers_held_by_its_own_layers_recursively():
    model = _SubclassedWithLayers()
    model(X[:2])
    with pytest.warns(UserWarning, match=r"'shared \(called 2 times\)'"):
        probe = LayerProbe.build(model, want_outputs=True, want_z=True, x=X)
    # Each layer once (``shared`` under its first name), the held ones just before their holder, in call order;
    # Keras' own MultiHeadAttention is recorded as one layer.
    assert probe.layer_names == ["shared", "outer/inner/d", "outer/inner", "outer/attention", "outer", "out"]
    activations, z = probe.run(X)
    assert list(activations) == ["outer/inner/d", "outer/inner", "outer/attention", "outer", "out"]
    assert list(z) == ["outer/inner/d"]
    s = keras.ops.convert_to_numpy(model.shared(model.shared(X)))
    w, b = model.outer.inner.parts["d"].get_weights()
    np.testing.assert_allclose(z["outer/inner/d"], s @ w + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activations["outer/inner"], 2 * np.tanh(s @ w + b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activations["out"], keras.ops.convert_to_numpy(model(X)), rtol=1e-5, atol=1e-6)
    assert find_layer(model, "outer/inner/d") is model.outer.inner.parts["d"]
    with pytest.raises(ValueError, match=r"'inner' holds no layer named 'x'"):
        find_layer(model, "outer/inner/x")
    assert not any("call" in vars(layer) for layer in (model.outer, model.outer.inner, model.shared))


def test_probe_opens_user_defined_layers_down_to_the_depth_bound(monkeypatch):
    monkeypatch.setattr(layer_tree, "MAX_DEPTH", 2)
    model = _SubclassedWithLayers()
    model(X[:2])
    with pytest.warns(UserWarning):
        probe = LayerProbe.build(model, want_outputs=True, want_z=False, x=X)
    assert probe.layer_names == ["shared", "outer/inner", "outer/attention", "outer", "out"]


class _ChainBlock(keras.layers.Layer):
    """A user-defined layer returning its last layer's output as it is."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1 = keras.layers.Dense(3, activation="relu", name="d1")
        self.d2 = keras.layers.Dense(2, activation="tanh", name="d2")

    def call(self, x):
        return self.d2(self.d1(x))


class _SubclassedWithChain(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = _ChainBlock(name="block")
        self.out = keras.layers.Dense(1, name="out")

    def call(self, x, training=False):
        return self.out(self.block(x))


def test_probe_records_once_a_user_defined_layers_output_that_is_its_last_layers():
    model = _SubclassedWithChain()
    model(X[:2])
    probe = LayerProbe.build(model, want_outputs=True, want_z=True, x=X)
    activations, z = probe.run(X)
    assert probe.layer_names == ["block/d1", "block/d2", "block", "out"]
    assert list(activations) == ["block/d1", "block", "out"] and list(z) == ["block/d1", "block/d2"]
    assert probe.output_aliases == {"block/d2": "block"}
    h = keras.ops.convert_to_numpy(model.block.d1(X))
    np.testing.assert_allclose(activations["block"], keras.ops.convert_to_numpy(model.block.d2(h)), rtol=1e-5,
                               atol=1e-6)


def test_probe_of_a_functional_model_records_the_layers_held_by_its_user_defined_layers():
    """A graph layer of the user's own class holding layers: they are captured in the extractor's one call."""
    inp = keras.Input((2,))
    unused = keras.layers.Dense(2, name="unused")
    unused.build((None, 2))  # (held by 'inner' and never called: built, so that Keras can trace 'outer')
    chain, outer = _ChainBlock(name="block"), _Outer(unused, name="outer")
    model = keras.Model(inp, keras.layers.Dense(1, name="top")(outer(chain(inp))))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=UserWarning)
        probe = LayerProbe.build(model, want_outputs=True, want_z=True)
    # (A held layer never called, 'unused', comes last among its holder's layers, with nothing recorded.)
    assert probe.layer_names == ["block/d1", "block/d2", "block", "outer/inner/d", "outer/inner", "outer/attention",
                                 "outer/inner/unused", "outer", "top"]
    assert probe.output_aliases == {"block/d2": "block"}
    activations, z = probe.run(X)
    assert list(activations) == ["block/d1", "block", "outer/inner/d", "outer/inner", "outer/attention", "outer",
                                 "top"]
    assert list(z) == ["block/d1", "block/d2", "outer/inner/d"]
    h = keras.ops.convert_to_numpy(chain.d1(X))
    b = keras.ops.convert_to_numpy(chain(X))
    w, bias = outer.inner.parts["d"].get_weights()
    np.testing.assert_allclose(activations["block/d1"], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activations["block"], b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z["outer/inner/d"], b @ w + bias, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activations["top"], keras.ops.convert_to_numpy(model(X)), rtol=1e-5, atol=1e-6)
    # New weights are picked up; the model is left as it was.
    chain.d1.set_weights([-v for v in chain.d1.get_weights()])
    activations, _ = probe.run(X)
    np.testing.assert_allclose(activations["block/d1"], keras.ops.convert_to_numpy(chain.d1(X)), rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in model.layers][1:] == ["block", "outer", "top"]
    assert not any("call" in vars(layer) for layer in (chain, chain.d1, chain.d2, outer, outer.inner))


def test_z_twins_start_from_zeros_and_compute_with_the_layers_weights_on_every_path():
    # The twins' own variables are never computed with: they start at zeros (no random draws at every
    # recording's start), and the z-values are the layers' pre-activations, compiled or eager.
    for run_eagerly in (False, True):
        model = _dense_model("relu")
        probe = LayerProbe.build(model, want_outputs=True, want_z=True)
        call = probe.call_for(X)
        call.model.run_eagerly = run_eagerly  # the probe's model: eager, the twins' variables are assigned
        twins = [plan.linear_twin for plan in probe.plans if plan.linear_twin is not None]
        assert len(twins) == 2
        assert all(not np.any(keras.ops.convert_to_numpy(v.value)) for twin in twins for v in twin.weights)
        (w1, b1), (w2, b2) = model.get_layer("hidden").get_weights(), model.get_layer("output").get_weights()
        _, z = probe.run(X)
        np.testing.assert_allclose(z["hidden"], X @ w1 + b1, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(z["output"], np.maximum(X @ w1 + b1, 0) @ w2 + b2, rtol=1e-5, atol=1e-6)
        assert call.compiled is not run_eagerly


def test_a_layer_whose_config_refuses_zeros_keeps_its_own_initializers_for_its_z_twin():
    class Picky(keras.layers.Dense):  # refuses a 'zeros' kernel initializer
        def __init__(self, *args, kernel_initializer="glorot_uniform", **kwargs):
            if kernel_initializer == "zeros":
                raise ValueError("no zeros here")
            super().__init__(*args, kernel_initializer=kernel_initializer, **kwargs)

    model = keras.Sequential([keras.Input((2,)), Picky(3, activation="relu", name="hidden"),
                              keras.layers.Dense(1, name="output")])
    probe = LayerProbe.build(model, want_outputs=True, want_z=True)
    w, b = model.get_layer("hidden").get_weights()
    _, z = probe.run(X)
    np.testing.assert_allclose(z["hidden"], X @ w + b, rtol=1e-5, atol=1e-6)


def _plan_of(probe):
    return ([(p.name, p.record_output, p.record_z, p.output_of) for p in probe.plans], probe._slots,
            [(layer.name, kind) for layer, kind in probe.value_layers])


@pytest.mark.parametrize("functional", [False, True])
def test_a_deferred_plan_of_a_plain_chain_is_the_built_one_and_builds_nothing_until_it_computes(functional):
    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(3, activation="tanh", name="hidden")(inputs)
    dropped = keras.layers.Dropout(0.5, name="drop")(hidden)
    linear = keras.layers.Dense(2, name="linear")(dropped)
    act = keras.layers.Activation("relu", name="act")(linear)
    out = keras.layers.Dense(1, activation="sigmoid", name="output")(act)
    model = keras.Model(inputs, out) if functional else keras.Sequential(
        [keras.Input((2,))] + [keras.layers.Dense(3, activation="tanh", name="hidden"),
                                keras.layers.Dropout(0.5, name="drop"), keras.layers.Dense(2, name="linear"),
                                keras.layers.Activation("relu", name="act"),
                                keras.layers.Dense(1, activation="sigmoid", name="output")])
    built = LayerProbe.build(model, want_outputs=True, want_z=True)
    deferred = LayerProbe.build(model, want_outputs=True, want_z=True, defer=True)
    assert deferred._extractor is None and all(p.linear_twin is None for p in deferred.plans)
    assert _plan_of(deferred) == _plan_of(built)
    assert ("hidden", "z") in deferred._slots and ("linear", "z") not in deferred._slots
    # Computing builds it: the same values as the probe built at once.
    a_built, z_built = built.run(X)
    a_deferred, z_deferred = deferred.run(X)
    assert deferred._extractor is not None and _plan_of(deferred) == _plan_of(built)
    for mine, theirs in ((a_deferred, a_built), (z_deferred, z_built)):
        assert list(mine) == list(theirs)
        for name in mine:
            np.testing.assert_array_equal(mine[name], theirs[name])


def test_defer_builds_at_once_what_is_not_a_plain_chain():
    inputs = keras.Input((2,))
    a = keras.layers.Dense(3, activation="tanh", name="a")(inputs)
    b = keras.layers.Dense(3, activation="relu", name="b")(inputs)
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(keras.layers.Concatenate(name="cat")([a, b]))
    branched = keras.Model(inputs, out)
    conv = keras.Sequential([keras.Input((4, 1)), keras.layers.Conv1D(2, 2, activation="relu", name="c"),
                             keras.layers.Flatten(name="f"), keras.layers.Dense(1, name="d")])
    for model in (branched, conv):
        probe = LayerProbe.build(model, want_outputs=True, want_z=True, defer=True)
        assert probe._deferred is None and probe._extractor is not None
        assert _plan_of(probe) == _plan_of(LayerProbe.build(model, want_outputs=True, want_z=True))


def test_layers_with_several_outputs_record_their_first(tmp_path):
    """MultiHeadAttention(return_attention_scores=True) and a GRU with return_state give a tuple of outputs: the
    recording failed ('inhomogeneous shape' while storing them). Their main output (the first) is recorded, and
    layer_function gives it too."""
    from deepreplay import cli
    from deepreplay.callbacks import ReplayData
    from deepreplay.replay import Replay

    S = RNG.normal(size=(12, 5, 4)).astype(np.float32)
    x = keras.Input((5, 4))
    attended, scores = keras.layers.MultiHeadAttention(2, 2, name="mha")(x, x, return_attention_scores=True)
    sequence, state = keras.layers.GRU(3, return_sequences=True, return_state=True, name="gru")(attended)
    h = keras.layers.Concatenate(name="cat")([keras.layers.Flatten(name="flat")(scores), state])
    model = keras.Model(x, keras.layers.Dense(1, activation="sigmoid", name="out")(h))
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    filename = str(tmp_path / "several.h5")
    ReplayData(S, (S[:, 0, :1] > 0).astype(np.float32), filename, "run", model=model)
    want = keras.Model(x, [attended, sequence])(S)
    with Replay(filename, "run") as replay:
        for name, value in zip(("mha", "gru"), want):
            np.testing.assert_allclose(replay.outputs_at(0, name), keras.ops.convert_to_numpy(value), atol=1e-5)
        replay.model_at(0)
        np.testing.assert_allclose(replay.layer_function("gru")(S), keras.ops.convert_to_numpy(want[1]), atol=1e-5)
    assert cli.main(["render", filename, "run", "-o", str(tmp_path / "several.png"), "--dpi", "30"]) == 0


class _SeveralOutputs(keras.Model):
    """A subclassed model whose sublayers return several outputs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mha = keras.layers.MultiHeadAttention(2, 2, name="mha")
        self.gru = keras.layers.GRU(3, return_state=True, name="gru")
        self.out = keras.layers.Dense(1, activation="sigmoid", name="out")

    def call(self, x):
        attended, _ = self.mha(x, x, return_attention_scores=True)
        _, state = self.gru(attended)
        return self.out(state)


def test_sublayers_of_a_subclassed_model_with_several_outputs_record_their_first(tmp_path):
    """Captured during the model's call, they were skipped with a warning ('its call returns tuple')."""
    from deepreplay.callbacks import ReplayData
    from deepreplay.replay import Replay

    S = RNG.normal(size=(12, 5, 4)).astype(np.float32)
    model = _SeveralOutputs(name="several")
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    filename = str(tmp_path / "several_subclassed.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ReplayData(S, (S[:, 0, :1] > 0).astype(np.float32), filename, "run", model=model)
    attended = model.mha(S, S)
    with Replay(filename, "run") as replay:
        assert replay.layer_names == ["mha", "gru", "out"]
        np.testing.assert_allclose(replay.outputs_at(0, "mha"), keras.ops.convert_to_numpy(attended), atol=1e-5)
        np.testing.assert_allclose(replay.outputs_at(0, "gru"), keras.ops.convert_to_numpy(model.gru(attended)[0]),
                                   atol=1e-5)
