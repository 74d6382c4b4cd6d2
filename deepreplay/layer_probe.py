"""Every recorded layer's activations and pre-activation values (z), in one inference-mode call.

:class:`LayerProbe` plans what is recorded of each layer of a model with a
layer graph (functional or Sequential), nested models included, and builds
one extractor model from the model's input to all of those outputs.
"""

from __future__ import annotations

import contextlib
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import keras
import numpy as np

from deepreplay import _backend, storage
from deepreplay.model_inspection import is_linear, model_layers


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

    def __post_init__(self) -> None:
        self.name = self.name or self.layer.name


#: One recorded tensor of a layer graph: (plan, 'activations' or 'z', symbolic tensor).
_Entry = tuple[LayerPlan, str, object]


def _has_graph(model: keras.layers.Layer) -> bool:
    """Whether ``model`` is a model with a symbolic layer graph (functional or Sequential, built)."""
    if not isinstance(model, keras.Model):
        return False
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def _first_call(layer: keras.layers.Layer) -> tuple[object, object]:
    """``(output, input)`` tensors of the first call of ``layer`` (``layer.output``, ``layer.input``).

    A functional model overrides ``input`` and ``output`` with its own graph's
    ends; used as a layer, the tensors of its call in the outer graph are those
    of :class:`keras.Operation`'s definition, which this reads for every layer.
    """
    return keras.Operation.output.fget(layer), keras.Operation.input.fget(layer)


@dataclass
class LayerProbe:
    """Computes recorded layers' activations and z-values in inference mode.

    Built once per model.  z-values are the output of a twin of the layer with
    a linear activation, whose weights are copied from the layer before each
    call, so the training model itself is never modified.

    The layers of a nested model (a functional or Sequential model used as a
    layer) are recorded too, under ``<nested model>/<layer>``: inside the
    outer graph, a probe model of the nested model's graph (its layers'
    outputs and z-values) is called on the tensor that feeds the nested
    model, so every recorded value still comes from one compiled call.
    """

    model: keras.Model
    plans: list[LayerPlan] = field(default_factory=list)
    _extractor: keras.Model | None = None
    _call: _backend.CompiledCall | None = None
    _slots: list[tuple[str, str]] = field(default_factory=list)

    @property
    def layer_names(self) -> list[str]:
        """Recorded names of every planned layer in model order (a nested model's layers just before it)."""
        return [plan.name for plan in self.plans]

    @classmethod
    def build(cls, model: keras.Model, *, want_outputs: bool, want_z: bool) -> LayerProbe:
        with _python_random_kept():  # the z-twins are new layers: their initializers draw seeds
            return cls._build(model, want_outputs=want_outputs, want_z=want_z)

    @classmethod
    def _build(cls, model: keras.Model, *, want_outputs: bool, want_z: bool) -> LayerProbe:
        probe = cls(model)
        if not (want_outputs or want_z):
            probe.plans = [LayerPlan(layer, record_output=False, record_z=False) for layer in model_layers(model)]
            return probe
        if not _has_graph(model):
            probe.plans = [LayerPlan(layer, record_output=False, record_z=False) for layer in model_layers(model)]
            warnings.warn(
                f"deepreplay: {type(model).__name__} is a subclassed model without a layer graph, so the "
                "outputs of its layers are not recorded (its weights, gradients, predictions and losses are). "
                "Build it as a functional model, keras.Model(inputs, outputs), to record them; or pass "
                "record=[...] without 'activations' and 'z' to silence this.",
                stacklevel=3,
            )
            return probe
        skipped: list[str] = []
        entries, extractor = probe._plan_graph(model, None, want_outputs, want_z, skipped)
        probe._extractor = extractor
        probe._slots = [(plan.name, kind) for plan, kind, _ in entries]
        if skipped:
            warnings.warn(
                "deepreplay cannot record the outputs of these layers (shared layers or layers "
                f"outside the model's graph); their weights are still recorded: {skipped}",
                stacklevel=3,
            )
        return probe

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
            if _has_graph(layer):
                entries += self._plan_nested(layer, name, inp, want_outputs, want_z, skipped)
            self.plans.append(plan)
            plan.record_output = want_outputs
            if want_outputs:
                entries.append((plan, "activations", out))
            activation = getattr(layer, "activation", None)
            if want_z and activation is not None and not is_linear(activation) and not isinstance(inp, (list, tuple)):
                try:
                    config = layer.get_config()
                    config["activation"] = "linear"
                    config["name"] = f"{layer.name}__deepreplay_z"
                    twin = type(layer).from_config(config)
                    z_out = twin(inp)
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

    def run(self, x: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(activations, z_values)`` per recorded layer name, on ``x``, in inference mode.

        The call is compiled the first time (see :class:`deepreplay._backend.CompiledCall`)
        and kept for later calls on the same ``x`` (the recorded samples).  Each
        call first gives the z-value twins their layers' current weights.
        """
        if self._extractor is None:
            return {}, {}
        if self._call is None or self._call.x is not x:
            ties = [pair for plan in self.plans if plan.linear_twin is not None
                    for pair in zip(plan.linear_twin.weights, plan.layer.weights, strict=True)]
            self._call = _backend.CompiledCall(self._extractor, x, ties=ties)
        out: dict[str, dict[str, np.ndarray]] = {"activations": {}, "z": {}}
        for (name, kind), value in zip(self._slots, self._call(), strict=True):
            out[kind][name] = value
        return out["activations"], out["z"]
