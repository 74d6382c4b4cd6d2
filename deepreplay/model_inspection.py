"""What deepreplay needs to know about a Keras model's layers, independent of the backend.

* which layers can be recorded, and what of each (weights, outputs, z-values);
* stable names for every variable of a layer.

The model's own per-sample loss is read by :mod:`deepreplay.losses`, its
compiled metrics by :mod:`deepreplay.metrics`; the layers' outputs are
computed by :class:`deepreplay.layer_probe.LayerProbe`.
"""

from __future__ import annotations

import re

import keras


#: The names Keras gives variables created without one (``keras.Variable(...)``, ``add_weight(shape=...)``).
_UNNAMED = re.compile(r"variable(_\d+)?")


def is_linear(activation: object) -> bool:
    """Whether a Keras activation is the identity: Keras' own ``linear`` (or None).

    A user's function is never taken for it, whatever its name: a ``def
    linear(x): return 2 * x`` is saved as ``'linear'``, and trusting the name
    would leave its z-values out (see :func:`renamed_activations`).
    """
    return activation is None or activation is keras.activations.linear


def renamed_activations(layers: list[keras.layers.Layer]) -> list[tuple[str, str]]:
    """``(layer name, name saved)`` of each layer whose activation a saved config would replace by Keras' own.

    Keras saves a function by its Python name, and reads a name of its own
    activations (``'relu'``) back as its function: a user's ``def relu(x)``
    (or a leaky variant so named) is saved as ``'relu'``, and the model
    rebuilt from the config (``Replay.model``, ``keras.models.model_from_json``)
    runs ``keras.activations.relu`` in its place.
    """
    found = []
    for layer in layers:
        activation = getattr(layer, "activation", None)
        if not callable(activation):
            continue
        try:
            name = keras.activations.serialize(activation)
            if isinstance(name, str) and keras.activations.get(name) is not activation:
                found.append((layer.name, name))
        except Exception:  # noqa: BLE001 - an activation Keras cannot save is said by Keras itself
            continue
    return found


def model_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's top-level layers, input layers left out, in model order."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def chain_layers(model: keras.Model) -> list[keras.layers.Layer] | None:
    """The model's top-level layers in call order when it is a plain chain, else None.

    A plain chain: one input tensor and one output, each layer called on the
    previous layer's output (the first on the model's input), the last giving
    the model's output.  Read from each layer's first call: the tensors of
    :class:`keras.Operation`'s definition, since a functional model used as
    a layer overrides ``input`` and ``output`` with its own graph's ends.
    """
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return None
    if not inputs or not outputs or len(inputs) != 1 or len(outputs) != 1:
        return None
    layers = model_layers(model)
    previous = inputs[0]
    for layer in layers:
        try:
            out, inp = keras.Operation.output.fget(layer), keras.Operation.input.fget(layer)
        except (AttributeError, ValueError, RuntimeError):
            return None
        if inp is not previous:
            return None
        previous = out
    return layers if layers and previous is outputs[0] else None


def variable_holders(model: keras.Model) -> list[tuple[str, list[tuple[str, keras.Variable]]]]:
    """``(recorded name, variable_keys)`` of everything in ``model`` that holds variables, in model order.

    The top-level layers (:func:`model_layers`), then the model itself when
    it holds variables of its own (a subclassed model calling
    ``self.add_weight`` in its ``build``), under the model's name: weights
    that belong to no layer are recorded, and given back by ``model_at``,
    too.
    """
    holders = [(layer.name, variable_keys(layer)) for layer in model_layers(model)]
    in_layers = {id(var) for _, keys in holders for _, var in keys}
    own = [(key, var) for key, var in variable_keys(model) if id(var) not in in_layers]
    if own:
        holders.append((model.name, own))
    return holders


def is_user_defined(layer: keras.layers.Layer) -> bool:
    """Whether ``layer``'s class is defined outside Keras (a user's own ``Layer`` or ``Model`` subclass)."""
    return not type(layer).__module__.startswith("keras.")


_BASE_ATTRIBUTES: frozenset[str] = frozenset()


def _base_attributes() -> frozenset[str]:
    """Names of the instance attributes every ``keras.layers.Layer`` sets for itself (its bookkeeping)."""
    global _BASE_ATTRIBUTES
    if not _BASE_ATTRIBUTES:
        _BASE_ATTRIBUTES = frozenset(vars(keras.layers.Layer()))
    return _BASE_ATTRIBUTES


def sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The layers ``layer`` holds directly, each once, in the order it was given them.

    For a model, its ``layers`` (input layers left out).  For another
    layer, the ``Layer`` instances among its Python attributes, or in lists,
    tuples and dicts held by them (what Keras tracks as its sublayers), the
    attributes every Keras layer sets for its own bookkeeping left out (on
    PyTorch, the module's children too: the attributes it keeps there).
    """
    if isinstance(layer, keras.Model):
        return model_layers(layer)
    found: list[keras.layers.Layer] = []
    seen = {id(layer)}

    def add(value: object, depth: int) -> None:
        if isinstance(value, keras.layers.Layer):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        elif depth < 3 and isinstance(value, (list, tuple)):
            for item in value:
                add(item, depth + 1)
        elif depth < 3 and isinstance(value, dict):
            for item in value.values():
                add(item, depth + 1)

    # On PyTorch a layer is a ``torch.nn.Module``: a layer assigned to an attribute is kept among the
    # module's children (``named_children``), not in the instance's ``__dict__``.
    children = getattr(layer, "named_children", None)
    if callable(children):
        for _, child in children():
            add(child, 0)
    base = _base_attributes()
    for key, value in vars(layer).items():
        if key not in base:
            add(value, 0)
    return found


def variable_keys(layer: keras.layers.Layer) -> list[tuple[str, keras.Variable]]:
    """``(key, variable)`` for each variable of ``layer``, keys unique within the layer.

    The key is the variable's path below the layer (``kernel``, ``bias``,
    ``gamma``, ``dense.kernel`` for a nested model), with ``/`` written as ``.``.

    A variable created without a name (``add_weight(shape=...)``, or the
    parameters ``TorchModuleWrapper`` tracks) is named by Keras from one
    counter per process (``variable``, ``variable_1``, ... ``variable_7``), so
    its name depends on what the process built before; its key is its rank
    among such variables of the same holder instead (``variable``,
    ``variable_1``, ...): the same when the model is rebuilt to replay it.
    """
    # ``layer.path`` is None for a layer that owns no variables of its own.
    prefix = (getattr(layer, "path", None) or layer.name) + "/"
    keys: list[tuple[str, keras.Variable]] = []
    seen: set[str] = set()
    unnamed: dict[str, int] = {}  # holder's key prefix -> unnamed variables met so far
    for var in layer.weights:
        path = getattr(var, "path", var.name)
        # A nested model's variables carry their inner layer's path ("dense/kernel").
        key = path[len(prefix):] if path.startswith(prefix) else path
        key = key.replace("/", ".")
        holder, _, name = key.rpartition(".")
        if _UNNAMED.fullmatch(name):
            rank = unnamed[holder] = unnamed.get(holder, -1) + 1
            key = (holder + "." if holder else "") + ("variable" if rank == 0 else f"variable_{rank}")
        base, n = key, 1
        while key in seen:
            n += 1
            key = f"{base}_{n}"
        seen.add(key)
        keys.append((key, var))
    return keys
