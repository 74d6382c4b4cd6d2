"""Tests for deepreplay.numpy_forward: the NumPy twin equals Keras, and stays out where it has none."""

import keras
import numpy as np
import pytest

from deepreplay.numpy_forward import NUMPY_ACTIVATIONS, numpy_forward


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus",
                                        "softsign", "silu", "linear", "exponential"])
def test_numpy_activations_equal_keras(activation):
    layer = keras.layers.Dense(5, activation=activation)
    layer.build((None, 3))
    x = np.random.default_rng(2).normal(size=(50, 3)).astype(np.float32) * 3
    np.testing.assert_allclose(numpy_forward([layer])(x), keras.ops.convert_to_numpy(layer(x)),
                               rtol=1e-5, atol=1e-6)


def test_layers_without_a_numpy_twin_go_through_keras():
    norm = keras.layers.BatchNormalization()
    norm.build((None, 3))
    assert numpy_forward([norm]) is None
    odd = keras.layers.Dense(2, activation="hard_sigmoid")  # no NumPy twin
    odd.build((None, 3))
    assert numpy_forward([odd]) is None
    half = keras.layers.Dense(2, dtype="float16")
    half.build((None, 3))
    assert numpy_forward([half]) is None


def test_every_twin_activation_is_tested():
    tested = {"relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign", "silu", "linear",
              "exponential"}
    assert set(NUMPY_ACTIVATIONS) - {"swish"} == tested  # swish is Keras' other name of silu


def relu(x):
    """A user's activation serialized under Keras' name 'relu' (Keras saves a function by its Python name)."""
    return keras.ops.relu(x) * 2


def leaky(x):
    return keras.ops.leaky_relu(x, negative_slope=0.3)


leaky.__name__ = "relu"  # a leaky variant that Keras would also save as 'relu'


@pytest.mark.parametrize("activation", [relu, leaky], ids=["scaled relu", "leaky relu"])
@pytest.mark.parametrize("where", ["dense", "activation layer"])
def test_a_users_activation_named_like_keras_own_is_run_by_keras(activation, where):
    """The twin trusts no serialized name: a user's 'relu' goes through Keras, and gives what Keras gives."""
    from deepreplay.numpy_forward import numpy_layer

    assert keras.activations.serialize(activation) == "relu"  # what made the name look like Keras' own
    if where == "dense":
        layers = [keras.layers.Dense(4, activation=activation)]
    else:
        layers = [keras.layers.Dense(4), keras.layers.Activation(activation)]
    model = keras.Sequential([keras.Input((3,)), *layers])
    assert numpy_layer(layers[-1]) is None and numpy_forward(layers) is None
    x = np.random.default_rng(3).normal(size=(40, 3)).astype(np.float32) * 3
    z = x @ keras.ops.convert_to_numpy(layers[0].kernel) + keras.ops.convert_to_numpy(layers[0].bias)
    # Keras' relu (what the twin ran for the name) is not this model: the fallback is needed.
    assert np.abs(keras.ops.convert_to_numpy(model(x)) - np.maximum(z, 0)).max() > 0.1
