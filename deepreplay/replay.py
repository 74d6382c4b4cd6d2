"""Replay: read a recording, rebuild the model at any recorded epoch, build visuals."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from . import compute, storage
from .model_inspection import model_layers, variable_keys

__all__ = ["Replay"]


def _config_classes(config: Any) -> list[tuple[str, str | None]]:
    """Every ``(class_name, module)`` of a serialized Keras object, depth first."""
    found: list[tuple[str, str | None]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "class_name" in node and "config" in node:
                found.append((node["class_name"], node.get("module")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found


def _missing_custom_objects(config: Any, custom_objects: dict[str, Any]) -> list[str]:
    """Names of the non-Keras objects of a serialized config that Keras cannot find.

    The name is the key Keras looks the object up by (its ``registered_name``,
    e.g. ``'my_package>MyLayer'``, else its class name), so it is the key to use
    in ``custom_objects``.
    """
    missing: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "class_name" in node and "config" in node:
                module = node.get("module")
                builtin = isinstance(module, str) and (
                    module in ("keras", "builtins") or module.startswith("keras."))
                key = node.get("registered_name") or node["class_name"]
                if not builtin and isinstance(key, str) and \
                        keras.saving.get_registered_object(key, custom_objects=custom_objects) is None:
                    missing.add(key)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return sorted(missing)


class Replay:
    """Read a deepreplay recording and build visuals from it.

    Parameters
    ----------
    replay_filename : str or path-like
        The HDF5 file written by :class:`~deepreplay.callbacks.ReplayData`.
    group_name : str
        The recording's group in that file.
    custom_objects : dict, optional
        Custom layers, activations or initializers the model needs, by name,
        as for ``keras.models.model_from_json``.
    safe_mode : bool, default True
        Keras safe mode when rebuilding the model.  A recording whose model has
        a ``Lambda`` layer (which stores Python code) is refused unless you
        pass ``safe_mode=False``: do that only for files you trust.

    Notes
    -----
    The file is opened read-only for each read and never held open between
    reads, so a recording into the same file can go on meanwhile.  Per-epoch
    arrays are read when asked for, one record at a time.  ``Replay`` is a
    context manager; after :meth:`close` it can no longer read.
    """

    def __init__(
        self,
        replay_filename: str | os.PathLike,
        group_name: str,
        *,
        custom_objects: dict[str, Any] | None = None,
        safe_mode: bool = True,
    ) -> None:
        self._reader = storage.RecordingReader(replay_filename, group_name)
        self.replay_filename = os.fspath(replay_filename)
        self.group_name = group_name
        self.custom_objects = dict(custom_objects or {})
        self.safe_mode = bool(safe_mode)
        if self._reader.n_records == 0:
            self._reader.close()
            raise storage.RecordingError(
                f"group {group_name!r} of {self.replay_filename!r} holds no records yet; "
                "it was created but training stopped before the first record was written."
            )
        if not self._reader.complete:
            warnings.warn(
                f"the recording {group_name!r} in {self.replay_filename!r} is incomplete (training did not "
                f"end normally); replaying the {self._reader.n_records} records it has, up to epoch "
                f"{int(self._reader.epochs[-1])}.",
                stacklevel=2,
            )
        self._model: keras.Model | None = None
        self._model_record: int | None = None
        self._epochs = self._reader.epochs
        self._inputs = self._reader.inputs
        self._targets = self._reader.targets

    # -- lifetime ----------------------------------------------------------------
    def close(self) -> None:
        """Close the recording file."""
        self._reader.close()

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Replay({self.replay_filename!r}, {self.group_name!r}: {len(self._epochs)} records, "
                f"epochs {int(self._epochs[0])}..{int(self._epochs[-1])})")

    # -- what was recorded -------------------------------------------------------------
    @property
    def reader(self) -> storage.RecordingReader:
        """The low-level :class:`~deepreplay.storage.RecordingReader`."""
        return self._reader

    @property
    def attrs(self) -> dict[str, Any]:
        """Recording metadata (loss, metrics, batch size, Keras version, backend, ...)."""
        return self._reader.attrs

    @property
    def complete(self) -> bool:
        return self._reader.complete

    @property
    def epochs(self) -> np.ndarray:
        """The recorded epochs (0 is the state before training)."""
        return self._epochs.copy()

    @property
    def inputs(self) -> np.ndarray:
        """The recorded input samples."""
        return self._inputs

    @property
    def targets(self) -> np.ndarray:
        """The targets of the recorded samples."""
        return self._targets

    @property
    def layer_names(self) -> list[str]:
        """Recorded layers, in model order."""
        return self._reader.layers

    @property
    def loss_name(self) -> str:
        return str(self.attrs.get("loss", "loss"))

    @property
    def metric_names(self) -> list[str]:
        """Metrics evaluated on the recorded samples."""
        return [n for n in self._reader.evaluation_names if n != "loss"]

    @property
    def training_loss(self) -> np.ndarray:
        """Loss on the recorded samples (inference mode), one value per record."""
        return self._reader.evaluation("loss")

    @property
    def learning_rate(self) -> np.ndarray:
        """Learning rate in use at each record."""
        return self._reader.log("learning_rate")

    def get_training_metric(self, metric_name: str) -> np.ndarray:
        """A compiled metric evaluated on the recorded samples, one value per record."""
        names = self.metric_names
        if metric_name not in names:
            raise ValueError(f"metric_name={metric_name!r} was not recorded; recorded metrics: {names}.")
        return self._reader.evaluation(metric_name)

    def get_log(self, name: str) -> np.ndarray:
        """A value of the Keras logs (``loss``, ``val_loss``, ...), NaN where unknown."""
        names = self._reader.log_names
        if name not in names:
            raise ValueError(f"name={name!r} is not in the recorded logs; recorded: {names}.")
        return self._reader.log(name)

    # -- epochs -----------------------------------------------------------------------------
    def record_index(self, epoch: int) -> int:
        """Position of ``epoch`` among the records; a clear error if it was not recorded."""
        if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"epoch={epoch!r} must be an integer epoch number.")
        where = np.flatnonzero(self._epochs == epoch)
        if where.size == 0:
            raise ValueError(f"epoch={epoch} was not recorded; recorded epochs: {compute.describe_epochs(self._epochs)}.")
        return int(where[0])

    def epoch_range(self, epoch_start: int | None = None, epoch_end: int | None = None) -> np.ndarray:
        """Recorded epochs between ``epoch_start`` and ``epoch_end`` inclusive (``None``: first/last)."""
        return compute.epoch_range(self._epochs, epoch_start, epoch_end)

    # -- per-epoch data ------------------------------------------------------------------------
    def predictions_at(self, epoch: int) -> np.ndarray:
        """Recorded model outputs on the recorded samples at ``epoch``."""
        return self._reader.predictions(self.record_index(epoch))

    def losses_at(self, epoch: int) -> np.ndarray:
        """Recorded per-sample losses at ``epoch``."""
        return self._reader.losses(self.record_index(epoch))

    def weights_at(self, epoch: int) -> dict[str, dict[str, np.ndarray]]:
        """Recorded weights at ``epoch``: ``{layer: {variable: array}}``."""
        return self._reader.weights(self.record_index(epoch))

    def gradients_at(self, epoch: int) -> dict[str, dict[str, np.ndarray]]:
        """Recorded full-batch gradients at ``epoch``: ``{layer: {variable: array}}``."""
        return self._reader.gradients(self.record_index(epoch))

    def outputs_at(self, epoch: int, layer_name: str, *, before_activation: bool = False) -> np.ndarray:
        """A layer's recorded activations (or z-values) on the recorded samples at ``epoch``."""
        self._check_layer(layer_name)
        return self._reader.outputs(self.record_index(epoch), layer_name, "z" if before_activation else "activations")

    def _check_layer(self, layer_name: str) -> None:
        if layer_name not in self.layer_names:
            raise ValueError(f"layer_name={layer_name!r} is not a layer of this model; layers: {self.layer_names}.")

    # -- the model ------------------------------------------------------------------------------
    @property
    def model(self) -> keras.Model:
        """The model rebuilt from the stored config (weights of the last :meth:`model_at`)."""
        if self._model is None:
            self._model = self._rebuild_model()
        return self._model

    def _rebuild_model(self) -> keras.Model:
        config = json.loads(self._reader.model_config)
        classes = _config_classes(config)
        if self.safe_mode and any(name == "Lambda" for name, _ in classes):
            raise ValueError(
                f"the model in {self.group_name!r} has a Lambda layer, which stores Python code; deepreplay "
                "does not load it by default. If you trust this file, pass Replay(..., safe_mode=False)."
            )
        try:
            model = keras.saving.deserialize_keras_object(
                config, custom_objects=self.custom_objects, safe_mode=self.safe_mode
            )
        except (TypeError, ValueError) as exc:
            custom = _missing_custom_objects(config, self.custom_objects)
            if custom:
                raise ValueError(
                    f"the model in {self.group_name!r} needs custom objects {custom}; pass them as "
                    f"Replay(..., custom_objects={{{', '.join(repr(c) + ': ...' for c in custom)}}})."
                ) from exc
            raise ValueError(f"cannot rebuild the model of {self.group_name!r} from its stored config: {exc}") from exc
        if not isinstance(model, keras.Model):
            raise ValueError(f"the stored config of {self.group_name!r} is not a Keras model.")
        return model

    def model_at(self, epoch: int) -> keras.Model:
        """The rebuilt model with the weights recorded at ``epoch``.

        The same model object is returned for every epoch (its weights change);
        copy it with ``keras.models.clone_model`` to keep one.
        """
        record = self.record_index(epoch)
        model = self.model
        if self._model_record != record:
            recorded = self._reader.weights(record)
            if not recorded:
                raise ValueError("weights were not recorded (ReplayData(record=...)), so the model cannot be rebuilt.")
            for layer in model_layers(model):
                for key, var in variable_keys(layer):
                    if layer.name in recorded and key in recorded[layer.name]:
                        var.assign(recorded[layer.name][key])
            self._model_record = record
        return model

    def predict_proba(self, X: np.ndarray | None = None, *, epoch: int | None = None) -> np.ndarray:
        """Model outputs at ``epoch`` (default: last) on ``X`` (default: the recorded samples)."""
        epoch = int(self._epochs[-1]) if epoch is None else epoch
        if X is None:
            return self.predictions_at(epoch)
        return compute.to_numpy(self.model_at(epoch)(np.asarray(X, dtype=np.float32), training=False))

    # -- forward pieces for the visuals ---------------------------------------------------------------
    def _chain(self) -> list[keras.layers.Layer]:
        return model_layers(self.model)

    def layer_function(self, layer_name: str) -> Callable[[np.ndarray], np.ndarray]:
        """``f(X)`` giving the layer's output for inputs ``X`` (inference mode, current weights)."""
        self._check_layer(layer_name)
        model = self.model
        head = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
        return lambda X: compute.to_numpy(head(np.asarray(X, dtype=np.float32), training=False))

    def tail_function(self, layer_name: str) -> Callable[[np.ndarray], np.ndarray]:
        """``g(H)`` giving the model output from the output ``H`` of ``layer_name``.

        Needs the layers after ``layer_name`` to form a chain (each fed by the one
        before), as in Sequential models.
        """
        self._check_layer(layer_name)
        layers = self._chain()
        names = [layer.name for layer in layers]
        rest = layers[names.index(layer_name) + 1:]
        previous = self.model.get_layer(layer_name)
        # A Sequential model applies its layers in order, so they form a chain by
        # construction. (Its layers are not checked through ``layer.input``: a
        # Sequential rebuilt from its config has called its layers once per
        # ``add``, and ``layer.input``/``layer.output`` then refer to stale graphs.)
        sequential = isinstance(self.model, keras.Sequential)
        for layer in [] if sequential else rest:
            try:
                fed_by = layer.input
                ok = not isinstance(fed_by, (list, tuple)) and fed_by is previous.output
            except (AttributeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(
                    f"layer_name={layer_name!r}: the layers after it do not form a chain (layer {layer.name!r} "
                    "is not fed by the layer before it), so the rest of the network cannot be evaluated "
                    "from this layer alone. Choose a layer of the model's final chain."
                )
            previous = layer

        def tail(H: np.ndarray) -> np.ndarray:
            out = np.asarray(H, dtype=np.float32)
            for layer in rest:
                out = layer(out, training=False)
            return compute.to_numpy(out)

        return tail

    # -- visuals ------------------------------------------------------------------------------------
    def build_feature_space(self, ax, layer_name: str, **kwargs: Any):
        """Feature space of a hidden layer; see :class:`deepreplay.plot.FeatureSpace`."""
        from .plot.feature_space import FeatureSpace

        return FeatureSpace.from_replay(self, ax, layer_name, **kwargs)

    def build_decision_boundary(self, ax, **kwargs: Any):
        """Decision boundary in the input space; see :class:`deepreplay.plot.DecisionBoundary`."""
        from .plot.decision_boundary import DecisionBoundary

        return DecisionBoundary.from_replay(self, ax, **kwargs)

    def build_probability_histogram(self, ax_negative, ax_positive, **kwargs: Any):
        """Histograms of predicted probabilities per class; see :class:`deepreplay.plot.ProbabilityHistogram`."""
        from .plot.probability_histogram import ProbabilityHistogram

        return ProbabilityHistogram.from_replay(self, ax_negative, ax_positive, **kwargs)

    def build_loss_and_metric(self, ax, metric_name: str = "accuracy", **kwargs: Any):
        """Loss and a metric per epoch; see :class:`deepreplay.plot.LossAndMetric`."""
        from .plot.loss_and_metric import LossAndMetric

        return LossAndMetric.from_replay(self, ax, metric_name, **kwargs)

    def build_loss_histogram(self, ax, **kwargs: Any):
        """Histogram of per-sample losses; see :class:`deepreplay.plot.LossHistogram`."""
        from .plot.loss_histogram import LossHistogram

        return LossHistogram.from_replay(self, ax, **kwargs)

    # -- layer diagnostics ------------------------------------------------------------------------------
    def build_weights(self, ax, **kwargs: Any):
        """Per-layer weight distributions over epochs; see :class:`deepreplay.plot.LayerDistributions`."""
        from .plot.layer_distributions import LayerDistributions

        return LayerDistributions.from_replay(self, ax, "weights", **kwargs)

    def build_gradients(self, ax, **kwargs: Any):
        """Per-layer gradient distributions over epochs; see :class:`deepreplay.plot.LayerDistributions`."""
        from .plot.layer_distributions import LayerDistributions

        return LayerDistributions.from_replay(self, ax, "gradients", **kwargs)

    def build_outputs(self, ax, before_activation: bool = False, **kwargs: Any):
        """Per-layer activations (z-values with ``before_activation=True``); see ``LayerDistributions``."""
        from .plot.layer_distributions import LayerDistributions

        if not isinstance(before_activation, (bool, np.bool_)):
            raise TypeError(f"before_activation={before_activation!r} must be True or False.")
        return LayerDistributions.from_replay(self, ax, "z" if before_activation else "activations", **kwargs)

    def weights_std(self, layer_names: list[str] | None = None, **kwargs: Any):
        """Standard deviation of each layer's weights per epoch; see :func:`deepreplay.diagnostics.weights_std`."""
        from . import diagnostics

        return diagnostics.weights_std(self, layer_names, **kwargs)

    def gradients_std(self, layer_names: list[str] | None = None, **kwargs: Any):
        """Standard deviation of each layer's gradients per epoch; see :func:`deepreplay.diagnostics.gradients_std`."""
        from . import diagnostics

        return diagnostics.gradients_std(self, layer_names, **kwargs)

    def std_ratio(self, layer_names: list[str] | None = None, **kwargs: Any):
        """Gradient/weight standard-deviation ratio per layer and epoch; see :func:`deepreplay.diagnostics.std_ratio`."""
        from . import diagnostics

        return diagnostics.std_ratio(self, layer_names, **kwargs)
