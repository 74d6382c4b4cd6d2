"""Every recorded layer's activations and pre-activation values (z), in one inference-mode call.

:class:`LayerProbe` plans what is recorded of each layer of a model with a
layer graph (functional or Sequential), nested models included, and builds
one extractor model from the model's input to all of those outputs; of a
subclassed model, it captures its sublayers (and the layers they hold)
while the model is called.
"""

from __future__ import annotations

import contextlib
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import keras
import numpy as np

from deepreplay import _backend, storage, structure
from deepreplay.layer_tree import capturing_calls, first_output, has_layer_graph, held_layers, holds_layers
from deepreplay.model_inspection import chain_layers, is_linear, model_layers


def _model_input(model: keras.Model) -> object:
    """The model's symbolic input(s), in the structure it was built with (a tensor, a list or a dict)."""
    inputs = model.inputs
    if len(inputs) == 1:
        return inputs[0]
    try:
        return model.input  # keeps a dict of named inputs
    except (AttributeError, ValueError):
        return inputs


def _calls_in_graph(model: keras.Model) -> dict[str, int]:
    """How many times a functional model's graph calls each of its layers.

    Read from the model's config (``inbound_nodes``, one per call inside this
    model); layers of a Sequential model, whose config has no nodes, are left out.
    """
    try:
        config = model.get_config()
    except Exception:
        return {}
    calls = {}
    for item in (config or {}).get("layers") or []:
        nodes = item.get("inbound_nodes") if isinstance(item, dict) else None
        if isinstance(nodes, list):
            calls[item.get("name") or item.get("config", {}).get("name")] = len(nodes)
    return calls


@contextlib.contextmanager
def _python_random_kept() -> Iterator[None]:
    """Restore Python's global random state on exit.

    Building a layer whose initializers have no seed draws one from Python's
    ``random`` module (Keras' default seeds); a recorder must not move the
    random state that the user's training may draw from.
    """
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


@dataclass
class LayerPlan:
    """What is recorded of one layer, under its recorded ``name``.

    ``name`` is the layer's name, or for a layer inside a nested model the
    nested model's recorded name joined to it
    (:func:`deepreplay.storage.nested_layer_name`: ``inner/dense``).
    """

    layer: keras.layers.Layer
    record_output: bool
    record_z: bool
    linear_twin: keras.layers.Layer | None = None
    name: str = ""
    #: The recorded name of the layer holding this one whose output *is* this layer's output (a nested
    #: model's last layer: ``inner/b`` of ``inner``); its activations are recorded once, under that name.
    output_of: str | None = None

    def __post_init__(self) -> None:
        self.name = self.name or self.layer.name


#: One recorded tensor of a layer graph: (plan, 'activations' or 'z', symbolic tensor).
_Entry = tuple[LayerPlan, str, object]


def _first_call(layer: keras.layers.Layer) -> tuple[object, object]:
    """``(output, input)`` tensors of the first call of ``layer`` (``layer.output``'s first, ``layer.input``).

    A functional model overrides ``input`` and ``output`` with its own graph's
    ends; used as a layer, the tensors of its call in the outer graph are those
    of :class:`keras.Operation`'s definition, which this reads for every layer.
    """
    return first_output(keras.Operation.output.fget(layer)), keras.Operation.input.fget(layer)


def _linear_twin(layer: keras.layers.Layer) -> keras.layers.Layer | None:
    """A new, unbuilt copy of ``layer`` with a linear activation; None when it has no non-linear one."""
    activation = getattr(layer, "activation", None)
    if activation is None or is_linear(activation):
        return None
    try:
        config = layer.get_config()
        config["activation"] = "linear"
        config["name"] = f"{layer.name}__deepreplay_z"
    except Exception:  # noqa: BLE001 - a layer that cannot be copied from its config has no z-values
        return None
    # The twin's own variables are never computed with (see LayerProbe): zeros instead of drawing
    # random initial values (~920k of them for a 1M-parameter MLP's twins, ~25 ms at every recording's start).
    zeros = {key: "zeros" for key, value in config.items() if key.endswith("_initializer") and value is not None}
    for attempt in ({**config, **zeros}, config) if zeros else (config,):
        try:
            return type(layer).from_config(attempt)
        except Exception:  # noqa: BLE001 - with the layer's own initializers, then no z-values
            continue
    return None


#: Keras' own layers whose probe plan is known from the layer alone (see :func:`_plain_chain`).
_PLAIN_LAYERS = ("Dense", "Activation", "Dropout")


def _plain_chain(model: keras.Model) -> list[keras.layers.Layer] | None:
    """The layers of ``model`` when it is a chain (:func:`deepreplay.model_inspection.chain_layers`) of
    Keras' own Dense, Activation and Dropout layers, else None.

    Of such a model :class:`LayerProbe` knows what it records without
    building anything: every layer's output, and the z-values of the layers
    with a non-linear activation.
    """
    layers = chain_layers(model)
    if layers is None or any(type(layer).__name__ not in _PLAIN_LAYERS
                             or type(layer) is not getattr(keras.layers, type(layer).__name__) for layer in layers):
        return None
    return layers


def _is_tensor(value: object) -> bool:
    """Whether ``value`` is one tensor (not a list, tuple or dict of them)."""
    return not isinstance(value, (list, tuple, dict)) and hasattr(value, "shape") and hasattr(value, "dtype")


@dataclass
class _CaptureItem:
    """One captured sublayer: its plan, and a probe of its graph when it is a nested model (else None)."""

    plan: LayerPlan
    probe: keras.Model | None
    inner_slots: list[tuple[str, str]]

    @property
    def slots(self) -> list[tuple[str, str]]:
        """``(recorded name, kind)`` of the values :class:`_Capture` returns for this item, in order."""
        own = [(self.plan.name, kind) for kind, on in (("activations", self.plan.record_output),
                                                        ("z", self.plan.record_z)) if on]
        return (self.inner_slots if self.probe is not None else []) + own


class _Capture(keras.Model):
    """A model without a layer graph, called in inference mode, returning its sublayers' outputs and z-values.

    Each item is a sublayer called once per forward pass; it gives the
    values of its probe on the sublayer's input (the layers inside a nested
    model), then its output (if ``record_output``), then the output of its
    linear twin on its input (if ``record_z``).  The twins and probes are
    tracked here, so their variables are among this model's (the twins'
    tied to the layers' weights by :class:`deepreplay._backend.CompiledCall`).
    """

    def __init__(self, model: keras.layers.Layer, items: list[_CaptureItem], name: str = "deepreplay_capture") -> None:
        super().__init__(name=name)
        self.recorded_model = model
        self.twins = [item.plan.linear_twin for item in items if item.plan.linear_twin is not None]
        self.probes = [item.probe for item in items if item.probe is not None]
        self._items = tuple(items)
        self.built = True

    def call(self, x: object, training: bool = False) -> list:
        calls: dict[int, list[tuple[object, object]]] = {}
        with capturing_calls([item.plan.layer for item in self._items], calls):
            self.recorded_model(x, training=False)
        values = []
        for item in self._items:
            plan = item.plan
            inp, out = calls[id(plan.layer)][0]
            if item.probe is not None:
                inner = item.probe(inp, training=False)
                values.extend(inner if isinstance(inner, (list, tuple)) else [inner])
            if plan.record_output:
                values.append(out)
            if plan.record_z:
                values.append(first_output(plan.linear_twin(inp)))
        return values


@dataclass
class LayerProbe:
    """Computes recorded layers' activations and z-values in inference mode.

    Built once per model.  z-values are the output of a twin of the layer with
    a linear activation that computes with the layer's current weights (in a
    compiled call they are passed in place of the twin's own variables; run
    eagerly, they are copied into them before each call), so the training
    model itself is never modified.

    The layers of a nested model (a functional or Sequential model used as a
    layer) are recorded too, under ``<nested model>/<layer>``: inside the
    outer graph, a probe model of the nested model's graph (its layers'
    outputs and z-values) is called on the tensor that feeds the nested
    model, so every recorded value still comes from one compiled call.

    A subclassed model (no layer graph) has the outputs of its sublayers
    captured while it is called (see :func:`deepreplay.layer_tree.capturing_calls`), again in one
    compiled call.  A functional or Sequential sublayer has its layers
    recorded too, by a probe of its graph on what it is given; a
    user-defined sublayer (a ``Layer`` subclass of the user's holding
    layers) has the layers it holds captured in the same call, under
    ``<sublayer>/<layer>``, recursively.  A layer called more than once per
    forward pass is ambiguous and skipped with a warning.
    """

    model: keras.Model
    plans: list[LayerPlan] = field(default_factory=list)
    _extractor: keras.Model | None = None
    _call: _backend.CompiledCall | None = None
    _slots: list[tuple[str, str]] = field(default_factory=list)
    #: ``(want_outputs, want_z, x)`` of a plan made without building its twins and extractor (see
    #: :meth:`build`'s ``defer``); None once they are built (or when they were built at once).
    _deferred: tuple | None = None

    @property
    def layer_names(self) -> list[str]:
        """Recorded names of every planned layer in model order (a nested model's layers just before it)."""
        return [plan.name for plan in self.plans]

    @property
    def output_aliases(self) -> dict[str, str]:
        """``{recorded name: recorded name of its activations}`` of the layers whose output is the output of
        the layer holding them (a nested model's last layer, ``{"inner/b": "inner"}``): stored once."""
        return {plan.name: plan.output_of for plan in self.plans if plan.output_of is not None}

    @property
    def layer_classes(self) -> dict[str, str]:
        """``{recorded name: Keras class name}`` of every planned layer (``Dense``, ``Conv2D``, ...)."""
        return {plan.name: type(plan.layer).__name__ for plan in self.plans}

    @classmethod
    def build(cls, model: keras.Model, *, want_outputs: bool, want_z: bool, x: object = None,
              defer: bool = False) -> LayerProbe:
        """Plan and build the probe of ``model``.

        ``x`` (the recorded inputs) is needed for a subclassed model only: a
        forward pass on its first two samples tells which sublayers are
        called, in which order, and how many times.

        ``defer``: for a chain of Keras' own Dense, Activation and Dropout
        layers (see :func:`_plain_chain`), plan only, and build the z-twins
        and the extractor model when the probe first computes
        (:meth:`call_for`, :meth:`run`).  A recorder whose values come from
        elsewhere (the NumPy recording step) never builds them: ~8 ms of
        the Part 1 set-up (twin variables, a Keras model).  The plan is the
        one the build makes: every layer's output, and the z-values of those
        with a non-linear activation, in model order.
        """
        if defer and (want_outputs or want_z) and has_layer_graph(model):
            chain = _plain_chain(model)
            if chain is not None:
                return cls._planned(model, chain, want_outputs=want_outputs, want_z=want_z, x=x)
        with _python_random_kept():  # the z-twins are new layers: their initializers draw seeds
            return cls._build(model, want_outputs=want_outputs, want_z=want_z, x=x)

    @classmethod
    def _planned(cls, model: keras.Model, chain: list[keras.layers.Layer], *, want_outputs: bool, want_z: bool,
                 x: object) -> LayerProbe:
        """The plan of :meth:`_build` for a plain chain, nothing built (see :meth:`build`'s ``defer``)."""
        probe = cls(model)
        for layer in chain:
            activation = getattr(layer, "activation", None)
            plan = LayerPlan(layer, record_output=want_outputs,
                             record_z=want_z and activation is not None and not is_linear(activation))
            probe.plans.append(plan)
            probe._slots += [(plan.name, kind) for kind, on in (("activations", plan.record_output),
                                                                 ("z", plan.record_z)) if on]
        probe._deferred = (want_outputs, want_z, x)
        return probe

    def _build_deferred(self) -> None:
        """Build the twins and the extractor of a deferred plan (the same plan, built as :meth:`_build` does)."""
        if self._deferred is None:
            return
        want_outputs, want_z, x = self._deferred
        built = self.build(self.model, want_outputs=want_outputs, want_z=want_z, x=x)
        self.plans, self._extractor, self._slots = built.plans, built._extractor, built._slots
        self._call, self._deferred = None, None

    @classmethod
    def _build(cls, model: keras.Model, *, want_outputs: bool, want_z: bool, x: object) -> LayerProbe:
        probe = cls(model)
        if not (want_outputs or want_z):
            probe.plans = [LayerPlan(layer, record_output=False, record_z=False) for layer in model_layers(model)]
            return probe
        skipped: list[str] = []
        if has_layer_graph(model):
            entries, probe._extractor = probe._plan_graph(model, None, want_outputs, want_z, skipped)
            probe._slots = [(plan.name, kind) for plan, kind, _ in entries]
        else:
            probe._plan_subclassed(want_outputs, want_z, x, skipped)
        by_name = {plan.name: plan for plan in probe.plans}
        for plan in probe.plans:  # a holder whose output is its own holder's: the one recorded
            target, seen = plan.output_of, set()
            while target in by_name and by_name[target].output_of is not None and target not in seen:
                seen.add(target)
                target = by_name[target].output_of
            holder = by_name.get(target) if target is not None else None
            # (A holder whose output is not recorded either, being skipped, has nothing to share.)
            plan.output_of = target if holder is not None and holder.record_output else None
        if skipped:
            warnings.warn(
                "deepreplay cannot record the outputs of these layers (layers called more than once, or "
                f"outside the model's graph); their weights are still recorded: {skipped}",
                stacklevel=3,
            )
        return probe

    def _plan_subclassed(self, want_outputs: bool, want_z: bool, x: object, skipped: list[str]) -> None:
        """Plan the sublayers of a model without a layer graph; their outputs are captured in its call.

        The layers held by its user-defined sublayers are planned too, under
        ``<sublayer>/<layer>`` (see :func:`deepreplay.layer_tree.held_layers`).  A forward pass in
        inference mode on two recorded samples counts the calls of each: one
        called once is recorded (in the order its calls end: the layers held
        by a sublayer just before it), one called several times is ambiguous
        and skipped, one not called in inference has nothing to record.
        """
        model = self.model
        held = held_layers(model)
        calls: dict[int, list[tuple[object, object]]] = {}
        try:
            with capturing_calls([layer for _, layer in held], calls):
                model(structure.take(x, slice(0, 2)), training=False)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the recording going without outputs
            self.plans = [LayerPlan(layer, record_output=False, record_z=False, name=name) for name, layer in held]
            warnings.warn(
                f"deepreplay: {type(model).__name__} is a subclassed model without a layer graph, and its "
                f"sublayers' outputs could not be captured during its call ({type(exc).__name__}: {exc}); they "
                "are not recorded (its weights, gradients, predictions and losses are). Build it as a functional "
                "model, keras.Model(inputs, outputs), to record them; or pass record=[...] without "
                "'activations' and 'z' to silence this.",
                stacklevel=4,
            )
            return
        items = self._plan_captured(held, calls, {}, want_outputs, want_z, skipped)
        if items:
            self._extractor = _Capture(model, items)
            self._slots = [slot for item in items for slot in item.slots]

    def _plan_captured(self, held: list[tuple[str, keras.layers.Layer]], calls: dict[int, list[tuple[object, object]]],
                       holders: dict[str, keras.layers.Layer], want_outputs: bool, want_z: bool,
                       skipped: list[str]) -> list[_CaptureItem]:
        """Plan the ``held`` layers from their ``calls`` counted in one call of what holds them.

        ``holders`` adds layers (by recorded name) whose calls were counted too
        but which are planned elsewhere: a held layer whose output such a
        holder returns as it is shares the holder's recorded output.
        """
        ended = list(calls)
        by_name = {**dict(held), **holders}
        order = sorted(held, key=lambda item: (id(item[1]) not in calls,
                                               ended.index(id(item[1])) if id(item[1]) in calls else 0))
        items: list[_CaptureItem] = []
        for name, layer in order:
            plan = LayerPlan(layer, record_output=False, record_z=False, name=name)
            seen = calls.get(id(layer), [])
            if len(seen) != 1 or not _is_tensor(seen[0][1]):
                self.plans.append(plan)
                if len(seen) > 1:
                    skipped.append(f"{name} (called {len(seen)} times)")
                elif seen:
                    skipped.append(f"{name} (its call returns {type(seen[0][1]).__name__})")
                continue  # (a layer not called in inference mode has nothing to record)
            inp = seen[0][0]
            inner, probe = [], None
            if has_layer_graph(layer):
                # A functional or Sequential model as a sublayer: its layers too (planned before it),
                # computed by a probe of its graph on what it is given.
                inner, probe = self._plan_graph(layer, name, want_outputs, want_z, skipped)
            self.plans.append(plan)
            holder = name.rpartition(storage.NESTED_LAYER_SEPARATOR)[0]
            held_by = calls.get(id(by_name[holder]), []) if holder in by_name else []
            if want_outputs and len(held_by) == 1 and held_by[0][1] is seen[0][1]:
                plan.output_of = holder  # its holder returns its output as it is: recorded once, as the holder's
            else:
                plan.record_output = want_outputs
            if want_z and _is_tensor(inp):
                twin = _linear_twin(layer)
                if twin is not None:
                    try:
                        twin(inp)  # builds its variables, with the layer's shapes
                    except Exception:  # noqa: BLE001
                        skipped.append(f"{name} (z-values)")
                    else:
                        plan.record_z = True
                        plan.linear_twin = twin
            item = _CaptureItem(plan, probe, [(p.name, kind) for p, kind, _ in inner])
            if item.slots:
                items.append(item)
        return items

    def _plan_held(self, layer: keras.layers.Layer, name: str, inp: object, want_outputs: bool, want_z: bool,
                   skipped: list[str]) -> list[_Entry]:
        """The tensors of the layers held by a user-defined ``layer`` of a graph, computed from ``inp`` (its input).

        A call of ``layer`` on zeros of its input's shape (two rows) counts
        the calls of the layers it holds (a symbolic call may trace it more
        than once); a :class:`_Capture` of ``layer``, called on ``inp`` in the
        outer graph, gives their outputs and z-values there.
        """
        held = held_layers(layer, name)
        calls: dict[int, list[tuple[object, object]]] = {}
        try:
            zeros = keras.ops.zeros((2, *[2 if n is None else n for n in inp.shape[1:]]), dtype=inp.dtype)
            with capturing_calls([inner for _, inner in held] + [layer], calls):
                layer(zeros, training=False)
        except Exception:  # noqa: BLE001 - its own output is still recorded
            self.plans += [LayerPlan(inner, record_output=False, record_z=False, name=n) for n, inner in held]
            skipped += [n for n, _ in held]
            return []
        items = self._plan_captured(held, calls, {name: layer}, want_outputs, want_z, skipped)
        if not items:
            return []
        slots = [slot for item in items for slot in item.slots]
        plans = {plan.name: plan for plan in self.plans}
        try:
            values = _Capture(layer, items, name=f"deepreplay_capture_{len(self.plans)}_{layer.name}")(inp)
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            return [(plans[n], kind, value) for (n, kind), value in zip(slots, values, strict=True)]
        except Exception:  # noqa: BLE001 - an input structure the capture does not take here
            for n, kind in slots:
                self._turn_off(plans[n], kind, skipped)
            return []

    def _plan_graph(self, graph: keras.Model, prefix: str | None, want_outputs: bool, want_z: bool,
                    skipped: list[str]) -> tuple[list[_Entry], keras.Model | None]:
        """Plan the layers of ``graph`` (recorded names under ``prefix``); their tensors in ``graph``'s graph.

        Returns the recorded tensors, in the order of :attr:`plans`, and a
        model from ``graph``'s input to them (None when there is none).
        """
        calls = _calls_in_graph(graph)
        entries: list[_Entry] = []
        for layer in model_layers(graph):
            name = layer.name if prefix is None else storage.nested_layer_name(prefix, layer.name)
            plan = LayerPlan(layer, record_output=False, record_z=False, name=name)
            if calls.get(layer.name, 1) > 1:
                # Keras 3's layer.output is the output of the first call only: ambiguous.
                skipped.append(f"{name} (called {calls[layer.name]} times)")
                self.plans.append(plan)
                continue
            try:
                out, inp = _first_call(layer)
            except (AttributeError, ValueError, RuntimeError):
                skipped.append(name)
                self.plans.append(plan)
                continue
            if has_layer_graph(layer):
                entries += self._plan_nested(layer, name, inp, want_outputs, want_z, skipped)
            elif (want_outputs or want_z) and _is_tensor(inp) and holds_layers(layer):
                entries += self._plan_held(layer, name, inp, want_outputs, want_z, skipped)
            self.plans.append(plan)
            if want_outputs and prefix is not None and len(graph.outputs) == 1 and out is graph.outputs[0]:
                plan.output_of = prefix  # the nested model's output: recorded once, as the nested model's
            else:
                plan.record_output = want_outputs
                if want_outputs:
                    entries.append((plan, "activations", out))
            twin = _linear_twin(layer) if want_z and not isinstance(inp, (list, tuple)) else None
            if twin is not None:
                try:
                    z_out = first_output(twin(inp))
                except Exception:
                    skipped.append(f"{name} (z-values)")
                else:
                    plan.record_z = True
                    plan.linear_twin = twin
                    entries.append((plan, "z", z_out))
        return self._connected(graph, entries, skipped)

    def _plan_nested(self, nested: keras.Model, name: str, inp: object, want_outputs: bool, want_z: bool,
                     skipped: list[str]) -> list[_Entry]:
        """The tensors of ``nested``'s layers, computed in the outer graph from ``inp`` (what feeds ``nested``)."""
        inner, probe = self._plan_graph(nested, name, want_outputs, want_z, skipped)
        if probe is None:
            return []
        try:
            values = probe(inp)
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            return [(plan, kind, value) for (plan, kind, _), value in zip(inner, values, strict=True)]
        except Exception:  # an input structure the nested graph does not take here
            for plan, kind, _ in inner:
                self._turn_off(plan, kind, skipped)
            return []

    @staticmethod
    def _turn_off(plan: LayerPlan, kind: str, skipped: list[str]) -> None:
        if kind == "activations":
            plan.record_output = False
            skipped.append(plan.name)
        else:
            plan.record_z = False
            plan.linear_twin = None
            skipped.append(f"{plan.name} (z-values)")

    def _connected(self, graph: keras.Model, entries: list[_Entry],
                   skipped: list[str]) -> tuple[list[_Entry], keras.Model | None]:
        """The entries computable from ``graph``'s input and a model computing them; the others turned off.

        A layer first called outside ``graph`` (a layer reused from another
        model) has an ``output`` not connected to ``graph``'s input.
        """
        if not entries:
            return [], None
        try:
            return entries, keras.Model(_model_input(graph), [tensor for _, _, tensor in entries])
        except ValueError:
            pass
        kept = []
        for plan, kind, tensor in entries:
            try:
                keras.Model(_model_input(graph), tensor)
            except ValueError:
                self._turn_off(plan, kind, skipped)
            else:
                kept.append((plan, kind, tensor))
        if not kept:
            return [], None
        return kept, keras.Model(_model_input(graph), [tensor for _, _, tensor in kept])

    def call_for(self, x: np.ndarray) -> _backend.CompiledCall | None:
        """The compiled call computing every recorded tensor on ``x`` (None when nothing is recorded).

        Built the first time and kept for later calls on the same ``x`` (the
        recorded samples).  Each call gives the z-value twins their
        layers' current weights.  Its values, in order, go to :meth:`unpack`;
        the recording step may run it inside its own compiled call
        (:class:`deepreplay._backend.CompiledStep`).
        """
        self._build_deferred()
        if self._extractor is None:
            return None
        if self._call is None or self._call.x is not x:
            ties = [pair for plan in self.plans if plan.linear_twin is not None
                    for pair in zip(plan.linear_twin.weights, plan.layer.weights, strict=True)]
            self._call = _backend.CompiledCall(self._extractor, x, ties=ties)
        return self._call

    @property
    def value_layers(self) -> list[tuple[keras.layers.Layer, str]]:
        """``(layer, kind)`` of each value of :meth:`call_for`'s call, in order; ``kind`` is 'activations' or 'z'."""
        layers = {plan.name: plan.layer for plan in self.plans}
        return [(layers[name], kind) for name, kind in self._slots]

    def unpack(self, values: list[np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(activations, z_values)`` per recorded layer name, from the values of :meth:`call_for`'s call."""
        out: dict[str, dict[str, np.ndarray]] = {"activations": {}, "z": {}}
        for (name, kind), value in zip(self._slots, values, strict=True):
            out[kind][name] = value
        return out["activations"], out["z"]

    def run(self, x: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(activations, z_values)`` per recorded layer name, on ``x``, in inference mode.

        The call is compiled the first time (see :meth:`call_for`).
        """
        call = self.call_for(x)
        return ({}, {}) if call is None else self.unpack(call())
