"""Which layers a model holds, under which recorded names, and capturing their calls.

A model with a layer graph (functional or Sequential) lists its layers; a
user-defined layer or subclassed model holds its layers as Python attributes
(:func:`deepreplay.model_inspection.sublayers`) and has no graph to read their
outputs from, so they are captured while it is called
(:func:`capturing_calls`).  Recorded names join the holders' names with
:func:`deepreplay.storage.nested_layer_name` (``block/d1``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from deepreplay import storage
from deepreplay.model_inspection import is_user_defined, sublayers, variable_holders

#: How deep the layers held by a subclassed model's user-defined sublayers are looked for.
MAX_DEPTH = 8


def has_layer_graph(model: keras.layers.Layer) -> bool:
    """Whether ``model`` is a model with a symbolic layer graph (functional or Sequential, built)."""
    if not isinstance(model, keras.Model):
        return False
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def first_output(output: object) -> object:
    """A layer's main output: the first of several (``MultiHeadAttention(return_attention_scores=True)``'s
    attention output, a recurrent layer's output before its ``return_state`` states), else ``output``."""
    return output[0] if isinstance(output, (list, tuple)) and output else output


def find_layer(model: keras.Model, recorded_name: str) -> keras.layers.Layer:
    """The layer of ``model`` recorded as ``recorded_name``.

    A name joined by :func:`deepreplay.storage.nested_layer_name`
    (``block/d1``) is looked up part by part: ``d1`` among the layers held by
    ``block`` (:func:`deepreplay.model_inspection.sublayers`).  Raises
    ``ValueError`` naming the part that is not found.
    """
    layer: keras.layers.Layer = model
    for part in recorded_name.split(storage.NESTED_LAYER_SEPARATOR):
        match = [inner for inner in sublayers(layer) if inner.name == part]
        if not match:
            raise ValueError(f"layer_name={recorded_name!r}: {layer.name!r} holds no layer named {part!r}; "
                             "see Replay.layer_names for the recorded layers.")
        layer = match[0]
    return layer


def held_layers(model: keras.layers.Layer, prefix: str | None = None) -> list[tuple[str, keras.layers.Layer]]:
    """``(recorded name, layer)`` of a subclassed model's sublayers and of the layers they hold.

    The layers held by a user-defined sublayer without a layer graph (a
    ``Layer`` or ``Model`` subclass of the user's) are named under it
    (``block/d1``), down to :data:`MAX_DEPTH` levels; Keras' own layers
    (``Bidirectional``, ``MultiHeadAttention``, ...) and models with a layer
    graph (probed through their graph) are not opened.  Each layer is listed
    once, under the first name found.
    """
    found: list[tuple[str, keras.layers.Layer]] = []
    seen = {id(model)}

    def walk(layers: list[keras.layers.Layer], prefix: str | None, depth: int) -> None:
        for layer in layers:
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            name = layer.name if prefix is None else storage.nested_layer_name(prefix, layer.name)
            found.append((name, layer))
            if depth < MAX_DEPTH and is_user_defined(layer) and not has_layer_graph(layer):
                walk(sublayers(layer), name, depth + 1)

    walk(sublayers(model), prefix, 1)
    return found


def holds_layers(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` is a user-defined layer without a layer graph that holds layers (opened by the probe)."""
    return is_user_defined(layer) and not has_layer_graph(layer) and bool(sublayers(layer))


@contextlib.contextmanager
def capturing_calls(layers: list[keras.layers.Layer],
                    calls: dict[int, list[tuple[object, object]]],
                    events: list[tuple[int, bool]] | None = None) -> Iterator[None]:
    """While inside, each call of one of ``layers`` appends ``(first input, output)`` to ``calls[id(layer)]``
    (the first output of a call returning several, see :func:`first_output`).

    With ``events``, each call also appends ``(id(layer), True)`` when it starts and
    ``(id(layer), False)`` when it returns: the order and nesting of the calls.

    ``Layer.__call__`` (Keras 3) runs the layer's ``call`` looked up on the
    instance at call time, so an instance attribute ``call`` wrapping the
    bound method sees every call (eager, traced by ``tf.function`` or
    ``jax.jit``, or under ``stateless_call``), after Keras has cast the
    inputs and set the training flag.  The attributes are removed on exit
    (an instance ``call`` the user set is put back): the layers are left as
    they were.
    """
    installed = []
    try:
        for layer in layers:
            previous = vars(layer).get("call")
            original = layer.call

            def wrapper(*args, _original=original, _key=id(layer), **kwargs):
                if events is not None:
                    events.append((_key, True))
                out = _original(*args, **kwargs)
                if events is not None:
                    events.append((_key, False))
                first = args[0] if args else next(iter(kwargs.values()), None)
                calls.setdefault(_key, []).append((first, first_output(out)))
                return out

            object.__setattr__(layer, "call", wrapper)
            installed.append((layer, previous))
        yield
    finally:
        for layer, previous in installed:
            if previous is None:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", previous)


def layers_called_after(model: keras.Model, layer: keras.layers.Layer, x: object) -> list[keras.layers.Layer]:
    """The layers ``model(x)`` calls after ``layer`` has returned, in call order: the candidate rest of the network.

    Among the layers ``model`` holds (:func:`held_layers`), those whose call
    starts once ``layer``'s call has returned, outermost only (a held layer's
    own layers run inside its call).  Whether applying them one after the other
    to ``layer``'s output gives the model's output is NOT checked here: code
    between the calls (a skip connection, an operation on tensors) is invisible
    to this order, so the caller verifies the result.  Raises ``ValueError``
    when ``layer`` is not called exactly once.
    """
    layers = [held for _, held in held_layers(model)]
    calls: dict[int, list[tuple[object, object]]] = {}
    events: list[tuple[int, bool]] = []
    with capturing_calls(layers, calls, events):
        model(x, training=False)
    if len(calls.get(id(layer), [])) != 1:
        raise ValueError(f"layer {layer.name!r} is called {len(calls.get(id(layer), []))} times in one call of "
                         "the model, so the layers after it are not one sequence.")
    by_id = {id(held): held for held in layers}
    after = events.index((id(layer), False)) + 1
    rest, depth = [], 0
    for key, entering in events[after:]:
        if entering:
            if depth == 0:
                rest.append(by_id[key])
            depth += 1
        else:  # a call returns; below depth 0 it is one of the layers holding ``layer``
            depth = max(depth - 1, 0)
    return rest


def every_layer(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """``model`` and every layer it holds, at any depth, each once (see ``sublayers``)."""
    pending, seen = [model], set()
    while pending:
        layer = pending.pop()
        if id(layer) not in seen:
            seen.add(id(layer))
            yield layer
            pending.extend(sublayers(layer))


def canonical_paths(paths: list[tuple[str, ...]]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Each path (names from the outermost down) with its names numbered by rank among their siblings.

    Keras names a layer created without a name from one counter per process
    and class (``dense``, ``dense_1``, ... ``dense_7``), so a subclassed
    model's unnamed sublayers get other names when it is rebuilt: in the
    process that recorded it (the counter went on), or in another one (the
    counter started elsewhere).  Among the children of one parent, names
    ``base`` and ``base_N`` are ranked by ``N`` (created in that order, the
    same code creating them both times) and renamed ``base``, ``base_1``, ...
    by rank; a name unique under its parent keeps its base.
    """
    children: dict[tuple[str, ...], set[str]] = {}
    for path in paths:
        for depth in range(len(path)):
            children.setdefault(path[:depth], set()).add(path[depth])
    canonical: dict[tuple[tuple[str, ...], str], str] = {}
    for parent, names in children.items():
        groups: dict[str, list[tuple[int, str]]] = {}
        for name in names:
            match = _NUMBERED.fullmatch(name)
            base, number = (match.group(1), int(match.group(2))) if match else (name, 0)
            groups.setdefault(base, []).append((number, name))
        for base, members in groups.items():
            for rank, (_, name) in enumerate(sorted(members)):
                canonical[parent, name] = base if rank == 0 else f"{base}_{rank}"
    return {path: tuple(canonical[path[:depth], path[depth]] for depth in range(len(path))) for path in paths}


#: A name Keras numbered (``dense_7``): its base and number.
_NUMBERED = re.compile(r"(.+?)_(\d+)")


def _matching(names: list[tuple[str, ...]], recorded: list[tuple[str, ...]]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """``{name: recorded name}`` matched by :func:`canonical_paths`, when some of ``names`` are not recorded.

    Every name is matched then, the recorded ones too: numbered from another
    start, a recorded name can be another layer's (``dense_1`` now the first
    of two, recorded as ``dense_1`` and ``dense_2``).
    """
    if set(names) <= set(recorded):
        return {}
    by_canonical = {c: path for path, c in canonical_paths(recorded).items()}
    mine = canonical_paths(names)
    return {path: by_canonical[mine[path]] for path in names if mine[path] in by_canonical}


def adopt_recorded_names(model: keras.Model, recorded_names: list[str]) -> None:
    """Rename the layers of a rebuilt ``model`` that Keras numbered otherwise than when it was recorded.

    ``recorded_names`` are recorded layer names (``enc/ffn/dense_3``); a
    layer whose name is not among its recorded siblings' takes the recorded
    name of the same rank (:func:`canonical_paths`).  Only layers of a
    subclassed model or user-defined layer can differ: a layer graph's
    config holds its layers' names.  Renaming a layer changes no variable.
    """
    recorded = [tuple(name.split(storage.NESTED_LAYER_SEPARATOR)) for name in recorded_names]

    def visit(holder: keras.layers.Layer, prefix: tuple[str, ...], depth: int) -> None:
        layers = sublayers(holder)
        paths = [prefix + (layer.name,) for layer in layers]
        siblings = [path for path in recorded if len(path) == len(prefix) + 1 and path[:-1] == prefix]
        renamed = _matching(paths, siblings) if siblings else {}
        for layer, path in zip(layers, paths):
            if path in renamed:
                layer.name = renamed[path][-1]
            if depth < MAX_DEPTH:
                visit(layer, prefix + (layer.name,), depth + 1)

    visit(model, (), 0)


def assign_recorded_weights(model: keras.Model, recorded: dict[str, dict[str, Any]]) -> None:
    """Give ``model`` the recorded weights ``{layer name: {variable key: values}}`` (keys of ``variable_keys``).

    Layers and variables of sublayers Keras numbered otherwise than when the
    model was recorded (unnamed layers of a subclassed model, see
    :func:`canonical_paths`) are matched by rank: the top-level layers are
    renamed (:func:`adopt_recorded_names`), and a layer's variable keys
    (``ffn.dense_3.kernel``) matched to the recorded ones.

    Layers that derive constants from their variables (an adapted
    ``Normalization``'s mean and variance, ``Discretization``, the lookup
    layers) recompute them through their ``finalize_state``, as Keras does
    when it loads weights; assigning the variables alone would leave them
    as they were.
    """
    adopt_recorded_names(model, [name for name in recorded if storage.NESTED_LAYER_SEPARATOR not in name])
    for name, keys in variable_holders(model):
        values = recorded.get(name)
        if values is None:
            continue
        matched = _matching([tuple(key.split(".")) for key, _ in keys], [tuple(key.split(".")) for key in values])
        for key, var in keys:
            key = ".".join(matched.get(tuple(key.split(".")), (key,)))
            if key in values:
                var.assign(values[key])
    for layer in every_layer(model):
        finalize = getattr(layer, "finalize_state", None)
        if callable(finalize) and layer.weights and layer.built:
            finalize()


def inline_adapted_vocabularies(model: keras.Model, config: dict) -> None:
    """Write the vocabulary of every adapted lookup layer of ``model`` into its serialized ``config`` (in place).

    An ``IntegerLookup``, ``StringLookup`` or ``TextVectorization`` layer that
    learned its vocabulary with ``adapt`` keeps it in a lookup table, not in
    its config (Keras saves it beside the model, as an asset of a ``.keras``
    file): the model rebuilt from ``model.to_json()`` alone has an empty
    table ("Table not initialized" at its first call).  The vocabulary (and a
    ``tf_idf`` layer's IDF weights) is put where Keras reads a vocabulary
    given to the constructor, so the model rebuilt to replay looks up tokens
    as the trained one did.  Layers are matched by class and name; a layer
    whose name more than one lookup layer holds is left as it is.
    """
    found: dict[tuple[str, str], dict[str, Any] | None] = {}
    for layer in every_layer(model):
        get_vocabulary = getattr(layer, "get_vocabulary", None)
        if not callable(get_vocabulary) or not callable(getattr(layer, "set_vocabulary", None)):
            continue
        key = (type(layer).__name__, layer.name)
        try:
            if layer.get_config().get("vocabulary") is not None:
                continue  # given to the constructor: already in the config
            vocabulary = [v.decode("utf-8") if isinstance(v, bytes) else v
                          for v in np.asarray(get_vocabulary(include_special_tokens=True)).tolist()]
            extra: dict[str, Any] = {"vocabulary": vocabulary}
            if layer.get_config().get("output_mode") == "tf_idf":
                store: dict[str, Any] = {}
                layer.save_own_variables(store)
                if "idf_weights" in store:
                    extra["idf_weights"] = np.asarray(store["idf_weights"]).ravel()[:len(vocabulary)].tolist()
        except Exception:  # noqa: BLE001 - a layer Keras changed: the config stays as Keras wrote it
            continue
        found[key] = None if key in found else extra

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            inner = node.get("config")
            if isinstance(inner, dict) and isinstance(node.get("class_name"), str):
                extra = found.get((node["class_name"], inner.get("name")))
                if extra is not None and inner.get("vocabulary") is None:
                    inner.update(extra)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    if any(extra is not None for extra in found.values()):
        walk(config)


def may_add_call_losses(model: keras.Model) -> bool:
    """Whether calling ``model`` may add losses (``add_loss``): a layer with an activity regulariser, or a
    layer or model class of the user's own, whose ``call`` may add any.

    Keras keeps such losses from the model's last call only (symbolic after
    ``fit`` traced it, on JAX not kept at all), so they are read by calling it.
    """
    return any(getattr(layer, "activity_regularizer", None) is not None or is_user_defined(layer)
               for layer in every_layer(model))
