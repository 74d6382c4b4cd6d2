"""The layers a subclassed model calls after one of its layers, in call order (the candidate rest of the network)."""

import keras
import numpy as np
import pytest

from deepreplay.layer_tree import held_layers, layers_called_after

X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)


class _Block(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1 = keras.layers.Dense(3, activation="tanh", name="d1")
        self.d2 = keras.layers.Dense(3, name="d2")

    def call(self, x):
        h = self.d1(x)
        return h + self.d2(h)


class _Net(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.out = keras.layers.Dense(1, name="out")  # held first, called last
        self.block = _Block(name="block")
        self.first = keras.layers.Dense(3, name="first")
        self.shared = keras.layers.Dense(3, name="shared")

    def call(self, x, training=False):
        return self.out(self.shared(self.shared(self.block(self.first(x)))))


def test_layers_called_after_a_layer_are_the_outermost_ones_in_call_order():
    model = _Net()
    model(X)
    layers = dict(held_layers(model))
    names = {name: [layer.name for layer in layers_called_after(model, layers[name], X)]
             for name in ("first", "block", "block/d1", "block/d2", "out")}
    assert names == {
        "first": ["block", "shared", "shared", "out"],  # the block as one call, the shared layer twice
        "block": ["shared", "shared", "out"],
        "block/d1": ["d2", "shared", "shared", "out"],  # the rest of the block, then after it
        "block/d2": ["shared", "shared", "out"],
        "out": [],
    }
    with pytest.raises(ValueError, match="'shared' is called 2 times in one call of the model"):
        layers_called_after(model, layers["shared"], X)
    assert not any("call" in vars(layer) for _, layer in held_layers(model))  # the layers are left as they were



class _TwoUnnamed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = keras.layers.Dense(3)
        self.b = keras.layers.Dense(1)

    def call(self, x):
        return self.b(self.a(x))


def test_sublayers_numbered_from_another_start_take_their_recorded_names_by_rank():
    """Recorded as dense_(k+1), dense_(k+2) and rebuilt as dense_k, dense_(k+1): the second's name was recorded
    for the first, so every sibling is matched by rank, not only those whose names were not recorded."""
    from deepreplay.layer_tree import adopt_recorded_names

    model = _TwoUnnamed()
    model(X)
    k = int(model.a.name.rpartition("_")[2]) if "_" in model.a.name else 0
    assert model.b.name == f"dense_{k + 1}"
    adopt_recorded_names(model, [f"dense_{k + 1}", f"dense_{k + 2}"])
    assert (model.a.name, model.b.name) == (f"dense_{k + 1}", f"dense_{k + 2}")
    adopt_recorded_names(model, ["dense", "dense_1"])  # a recording made first in its process
    assert (model.a.name, model.b.name) == ("dense", "dense_1")
