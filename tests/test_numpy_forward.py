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
