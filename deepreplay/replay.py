"""Replay: read a recording, rebuild the model at any recorded epoch, build visuals.

Which samples a layer's recorded outputs cover:

* most layers: every recorded sample (rows of :attr:`Replay.inputs`);
* wide layers: ``ReplayData(output_samples=64)`` samples,
  :meth:`Replay.output_rows` gives which;
* feature maps (outputs of rank 4 or more, ``(n, height, width, channels)``,
  as Conv2D and pooling layers give): the probe samples only, one per class
  by default.  ``replay.outputs_at(epoch, layer)[i]`` is then sample
  ``replay.probe_indices[i]`` (``output_rows(layer)`` gives the same rows).

Models with several outputs: :attr:`Replay.output_names`,
``predictions_at(epoch, output=...)``, ``losses_at(epoch, output=...)``
(default: the weighted total) and ``Replay(..., output=...)`` /
:meth:`Replay.for_output` (the output every visual draws; default: the first).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

from . import compute, storage, structure
from ._backend import declared_variable_values
from .layer_tree import (
    adopt_recorded_names,
    assign_recorded_weights,
    capturing_calls,
    find_layer,
    first_output,
    has_layer_graph,
    held_layers,
    layers_called_after,
)
from .model_inspection import model_layers
from .numpy_forward import numpy_forward

__all__ = ["LayerStd", "Replay"]


def _serialized_objects(node: Any) -> Iterator[dict]:
    """Every serialized Keras object (a dict with ``class_name`` and ``config``) in ``node``, depth first."""
    if isinstance(node, dict):
        if "class_name" in node and "config" in node:
            yield node
        for value in node.values():
            yield from _serialized_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _serialized_objects(value)


def _config_classes(config: Any) -> list[tuple[str, str | None]]:
    """Every ``(class_name, module)`` of a serialized Keras object, depth first."""
    return [(node["class_name"], node.get("module")) for node in _serialized_objects(config)]


#: Layers whose stored config holds code that loading runs, refused in safe mode: what they store.
_STORES_CODE = {"Lambda": "a Lambda layer, which stores Python code",
                "TorchModuleWrapper": "a TorchModuleWrapper, which stores its torch module pickled (loading it "
                                      "runs code)"}

#: The modules of ``keras`` that Keras finds a serialized plain function in by its name alone.
_KERAS_FUNCTION_MODULES = ("activations", "losses", "initializers", "regularizers", "constraints", "optimizers")


def _missing_custom_objects(config: Any, custom_objects: dict[str, Any]) -> list[str]:
    """Names of the non-Keras objects of a serialized config that Keras cannot find.

    The name is the key Keras looks the object up by (its ``registered_name``,
    e.g. ``'my_package>MyLayer'``, else its class name), so it is the key to use
    in ``custom_objects``.
    """
    missing: set[str] = set()
    for node in _serialized_objects(config):
        module = node.get("module")
        if module == "builtins" and node["class_name"] == "function" and isinstance(node["config"], str):
            # A plain function (a custom activation, JaxLayer's call_fn): Keras looks it up by its name, in
            # custom_objects and then among its own functions.
            name = node["config"]
            if keras.saving.get_registered_object(name, custom_objects=custom_objects) is None and not any(
                    hasattr(getattr(keras, kind), name) for kind in _KERAS_FUNCTION_MODULES):
                missing.add(name)
            continue
        builtin = isinstance(module, str) and (module in ("keras", "builtins") or module.startswith("keras."))
        key = node.get("registered_name") or node["class_name"]
        if isinstance(key, str) and key.startswith("__") and key.endswith("__"):
            continue  # Keras' own markers in a functional config ('__keras_tensor__'), not objects
        if not builtin and isinstance(key, str) and \
                keras.saving.get_registered_object(key, custom_objects=custom_objects) is None:
            missing.add(key)
    return sorted(missing)


class _FirstRecord:
    """The one record of a dataset read so far (its history is read at the second)."""

    __slots__ = ("record",)

    def __init__(self, record: int) -> None:
        self.record = record


class LayerStd(np.ndarray):
    """Per-layer standard deviations, shape ``(epochs, layers)``, that can also be called.

    What :attr:`Replay.weights_std` and :attr:`Replay.gradients_std` return:
    the array is DeepReplay 0.1's property; calling it computes the statistics
    anew for the layers and epochs asked for (a
    :class:`~deepreplay.diagnostics.LayerStatistics`).  ``.epochs`` and
    ``.layers`` say what the rows and columns are.
    """

    def __new__(cls, stats: Any, function: Callable[..., Any]) -> LayerStd:
        array = np.array(stats.values, dtype=np.float64).view(cls)
        array.epochs = np.asarray(stats.epochs)
        array.layers = tuple(stats.layers)
        array._function = function
        return array

    def __array_finalize__(self, obj: Any) -> None:
        self.epochs = getattr(obj, "epochs", None)
        self.layers = getattr(obj, "layers", None)
        self._function = getattr(obj, "_function", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._function is None:
            raise TypeError("this array is a computed result and cannot be called; call replay.weights_std(...).")
        return self._function(*args, **kwargs)


class Replay:
    """Read a deepreplay recording and build visuals from it.

    Parameters
    ----------
    replay_filename : str or path-like
        The HDF5 file written by :class:`~deepreplay.callbacks.ReplayData`
        (or by DeepReplay 0.1).
    group_name : str
        The recording's group in that file.
    model_filename : str or path-like, optional
        DeepReplay 0.1 recordings only: the model file saved by Keras 2
        (default, as in 0.1: ``<group_name>_model.h5``, next to the
        recording).  Such a recording is converted (in a temporary file, see
        :func:`deepreplay.legacy.convert`) when opened; ``deepreplay convert``
        writes the converted file once for good.  Current recordings store
        their model and need no model file.
    custom_objects : dict, optional
        Custom layers, activations or initializers the model needs, by name,
        as for ``keras.models.model_from_json``.
    safe_mode : bool, default True
        Keras safe mode when rebuilding the model.  A recording whose model has
        a ``Lambda`` layer (which stores Python code) or a ``TorchModuleWrapper``
        (its torch module, pickled) is refused unless you pass
        ``safe_mode=False``: do that only for files you trust.
    output : str, optional
        For a model with several outputs: the output whose targets,
        predictions and per-sample losses :attr:`targets`,
        :meth:`predictions_at`, :meth:`losses_at` and :attr:`training_loss`
        give (and so the output every visual draws).  By default targets and
        predictions are the first output's, losses the weighted total.  See
        :attr:`output_names` and :meth:`for_output`.

    Notes
    -----
    The file is opened read-only for each read and never held open between
    reads, so a recording into the same file can go on meanwhile.  Per-epoch
    arrays are read when asked for: reading one record reads only that
    record; a dataset of which a second record is asked for (a visual walking
    the epochs) is read whole once and kept if it is small (32 MiB per
    dataset, 128 MiB in all), else it stays read one record at a time, so
    memory stays bounded for large recordings.  ``Replay`` is a context
    manager; after :meth:`close` it can no longer read.
    """

    def __init__(
        self,
        replay_filename: str | os.PathLike,
        group_name: str,
        model_filename: str | os.PathLike | None = None,
        *,
        custom_objects: dict[str, Any] | None = None,
        safe_mode: bool = True,
        output: str | None = None,
    ) -> None:
        #: The file given (for a DeepReplay 0.1 recording, ``replay_filename`` is its converted copy).
        self.source_filename = os.fspath(replay_filename)
        self._converted: weakref.finalize | None = None
        if storage.is_legacy_recording(replay_filename, group_name):
            replay_filename = self._convert_legacy(replay_filename, group_name, model_filename)
        elif model_filename is not None and model_filename != "":
            warnings.warn(
                f"model_filename={os.fspath(model_filename)!r} is ignored: group {group_name!r} of "
                f"{self.source_filename!r} is a current recording, which stores its model (model_filename is "
                "for DeepReplay 0.1 recordings).",
                stacklevel=2,
            )
        self._reader = storage.RecordingReader(replay_filename, group_name)
        names = self._reader.output_names
        if output is not None and output not in names:
            self._reader.close()
            raise ValueError(f"output={output!r} is not an output of this model; outputs: {names}.")
        self._output = output
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
                f"the recording {group_name!r} in {self.replay_filename!r} is incomplete (training is still "
                f"running, or did not end normally); replaying the {self._reader.n_records} records it has, up to {self._reader.record_unit} "
                f"{int(self._reader.epochs[-1])}.",
                stacklevel=2,
            )
        self._model: keras.Model | None = None
        self._layer_kinds: dict[str, str] | None = None
        self._model_record: int | None = None
        # A subclassed model's verified rest of the network after a layer (or why it is not), by layer name.
        self._subclassed_tails: dict[str, list[keras.layers.Layer] | str] = {}
        # Whole histories of per-record arrays, read in one go the first time a
        # record of a small enough dataset is asked for (see _history).
        self._histories: dict[tuple, Any] = {}
        self._history_bytes = 0
        self._last_built: dict[str, tuple[Any, Any]] = {}
        self._epochs = self._reader.epochs
        self._record_unit = self._reader.record_unit
        self._inputs = self._reader.inputs
        self._all_targets = self._reader.targets
        self._targets = self._all_targets
        if isinstance(self._all_targets, (list, dict)):
            position = names.index(output) if output is not None and output in names else 0
            self._targets = structure.select(self._all_targets, output if isinstance(self._all_targets, dict)
                                             and output in self._all_targets else position)

    def _convert_legacy(self, replay_filename: str | os.PathLike, group_name: str,
                        model_filename: str | os.PathLike | None) -> str:
        """Convert a DeepReplay 0.1 recording into a temporary file (removed by :meth:`close`); its path."""
        from . import legacy

        if model_filename in (None, ""):
            model_filename = legacy.default_model_filename(replay_filename, group_name)
            if not os.path.exists(model_filename):
                raise FileNotFoundError(
                    f"group {group_name!r} of {self.source_filename!r} is a DeepReplay 0.1 recording, whose model "
                    f"was saved apart; it is not at {model_filename!r}. Give it: Replay(replay_filename, "
                    "group_name, model_filename='..._model.h5').")
        folder = tempfile.mkdtemp(prefix="deepreplay-0.1-")
        self._converted = weakref.finalize(self, shutil.rmtree, folder, True)
        path = os.path.join(folder, "converted.h5")
        try:
            legacy.convert(replay_filename, group_name, path, model_filename=model_filename)
        except BaseException:
            self._converted()
            raise
        return path

    # -- lifetime ----------------------------------------------------------------
    def close(self) -> None:
        """Close the recording file (and drop what was read of it)."""
        self._reader.close()
        self._histories.clear()
        self._history_bytes = 0
        if self._converted is not None:
            self._converted()

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Replay({self.source_filename!r}, {self.group_name!r}: {len(self._epochs)} records, "
                f"{self._record_unit}s {int(self._epochs[0])}..{int(self._epochs[-1])})")

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
        """The recorded epochs (0 is the state before training).

        For a step-based recording (``ReplayData(every_steps=...)``,
        :attr:`record_unit` ``'step'``) these are the recorded training
        steps, and every ``epoch`` argument of this class and of the visuals
        means a step.
        """
        return self._epochs.copy()

    @property
    def n_epochs(self) -> int:
        """The last recorded epoch (DeepReplay 0.1's ``n_epochs``: epochs trained)."""
        return int(self._epochs[-1])

    @property
    def record_unit(self) -> str:
        """``'epoch'``, or ``'step'`` for a recording made with ``ReplayData(every_steps=...)``."""
        return self._record_unit

    @property
    def epoch_fractions(self) -> np.ndarray:
        """Epochs done at each record (2.5: half-way through the third epoch); NaN where unknown."""
        return self._series(self._reader.epoch_fractions)

    @property
    def inputs(self) -> np.ndarray | list | dict:
        """The recorded input samples (a list or dict of arrays for a model with several inputs)."""
        return self._inputs

    @property
    def several_inputs(self) -> bool:
        """Whether the model takes several inputs (then :attr:`inputs` is a list or a dict)."""
        return isinstance(self._inputs, (list, dict))

    @property
    def targets(self) -> np.ndarray:
        """The targets of the recorded samples (of :attr:`output`, or the first output)."""
        return self._targets

    @property
    def all_targets(self) -> np.ndarray | list | dict:
        """Every output's targets, as given to the callback (one array, a list or a dict)."""
        return self._all_targets

    @property
    def output_names(self) -> list[str]:
        """The model's outputs, in order (one name for a single-output model)."""
        return self._reader.output_names

    @property
    def output(self) -> str | None:
        """The selected output (see ``Replay(..., output=...)``), or None."""
        return self._output

    def for_output(self, output: str | None) -> Replay:
        """This recording replayed for one output of the model (a new :class:`Replay` of the same file)."""
        return Replay(self.replay_filename, self.group_name, custom_objects=self.custom_objects,
                      safe_mode=self.safe_mode, output=output)

    @property
    def layer_names(self) -> list[str]:
        """Recorded layers, in model order."""
        return self._reader.layers

    @property
    def layer_kinds(self) -> dict[str, str]:
        """``{layer name: Keras class name}`` (``Dense``, ``Conv2D``, ...) of the recorded layers, in model order.

        Read from the recording, so it needs no rebuilt model (a subclassed
        model whose class cannot be imported here still has them); for a
        recording that predates them, taken from the rebuilt model, and ``{}``
        when that cannot be rebuilt.
        """
        if self._layer_kinds is None:
            kinds = self._reader.layer_classes
            if not kinds:
                try:
                    kinds = {layer.name: type(layer).__name__ for layer in model_layers(self.model)}
                except Exception:  # noqa: BLE001 - a model needing custom objects: no kinds known
                    kinds = {}
            self._layer_kinds = kinds
        return dict(self._layer_kinds)

    def missing_custom_objects(self) -> list[str]:
        """Names of the classes or functions of the stored model config that Keras cannot find here.

        Each is a key for ``Replay(..., custom_objects={key: ...})``; importing
        the module that defines a class registered with
        ``@keras.saving.register_keras_serializable`` also makes it found.
        Empty when the model needs none, or all are known.
        """
        try:
            config = json.loads(self._reader.model_config)
        except (TypeError, ValueError, RecursionError):
            return []
        return _missing_custom_objects(config, self.custom_objects)

    @property
    def loss_name(self) -> str:
        return str(self.attrs.get("loss", "loss"))

    @property
    def metric_names(self) -> list[str]:
        """Metrics evaluated on the recorded samples (each output's loss of a several-output model left out)."""
        output_losses = {f"{name}_loss" for name in self._reader.output_loss_names}
        return [n for n in self._reader.evaluation_names if n != "loss" and n not in output_losses]

    @property
    def training_loss(self) -> np.ndarray:
        """Loss on the recorded samples (inference mode), one value per record (of :attr:`output` if set)."""
        if self._output is not None and f"{self._output}_loss" in self._reader.evaluation_names:
            return self._series(self._reader.evaluation(f"{self._output}_loss"))
        return self._series(self._reader.evaluation("loss"))

    @property
    def learning_rate(self) -> np.ndarray:
        """Learning rate in use at each record."""
        return self._series(self._reader.log("learning_rate"))

    def get_training_metric(self, metric_name: str) -> np.ndarray:
        """A compiled metric evaluated on the recorded samples, one value per record.

        A model with several outputs has its metrics recorded per output under Keras' log names
        (``cls_accuracy``); with :attr:`output` set, the bare name (``accuracy``) gives that output's.
        """
        names = self.metric_names
        if metric_name not in names and self._output is not None and f"{self._output}_{metric_name}" in names:
            metric_name = f"{self._output}_{metric_name}"
        if metric_name not in names:
            raise ValueError(f"metric_name={metric_name!r} was not recorded; recorded metrics: {names}.")
        return self._series(self._reader.evaluation(metric_name))

    def _series(self, values: np.ndarray) -> np.ndarray:
        """A per-record series cut to the records this replay opened with (:attr:`epochs`).

        A recording still being written gains records while it is replayed;
        each series must stay aligned with the epochs (one value per record).
        """
        return values[:len(self._epochs)]

    def get_log(self, name: str) -> np.ndarray:
        """A value of the Keras logs (``loss``, ``val_loss``, ...), NaN where unknown."""
        names = self._reader.log_names
        if name not in names:
            raise ValueError(f"name={name!r} is not in the recorded logs; recorded: {names}.")
        return self._series(self._reader.log(name))

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
    def predictions_at(self, epoch: int, *, output: str | None = None) -> np.ndarray:
        """Recorded model outputs on the recorded samples at ``epoch``.

        For a model with several outputs: those of ``output`` (default: the
        selected :attr:`output`, else the first).
        """
        output = self._output_name(output)
        return self._record_of("predictions", output, self.record_index(epoch))

    def losses_at(self, epoch: int, *, output: str | None = None) -> np.ndarray:
        """Recorded per-sample losses at ``epoch``.

        For a model with several outputs: those of ``output`` (default: the
        selected :attr:`output`, else the weighted total, whose mean is the
        training loss).  No sample or class weights are applied.
        """
        output = self._output_name(output, losses=True)
        return self._record_of("losses", output, self.record_index(epoch))

    def _output_name(self, output: str | None, *, losses: bool = False) -> str | None:
        output = self._output if output is None else output
        if output is None:
            return None
        names = self.output_names
        if output not in names:
            raise ValueError(f"output={output!r} is not an output of this model; outputs: {names}.")
        if len(names) <= 1:
            return None
        return output

    def weights_at(self, epoch: int) -> dict[str, dict[str, np.ndarray]]:
        """Recorded weights at ``epoch``: ``{layer: {variable: array}}``."""
        return self._nested_record_of("weights", self.record_index(epoch))

    def gradients_at(self, epoch: int) -> dict[str, dict[str, np.ndarray]]:
        """Recorded full-batch gradients at ``epoch``: ``{layer: {variable: array}}``."""
        return self._nested_record_of("gradients", self.record_index(epoch))

    def outputs_at(self, epoch: int, layer_name: str, *, before_activation: bool = False) -> np.ndarray:
        """A layer's recorded activations (or z-values) on the recorded samples at ``epoch``.

        For a wide layer recorded on a subset of the samples, the rows are
        those samples (see :meth:`output_rows`).
        """
        self._check_layer(layer_name)
        return self._record_of("z" if before_activation else "activations", layer_name, self.record_index(epoch))

    # -- reading: whole histories of small datasets, else one record at a time ------------------
    #: Largest dataset (bytes in memory) whose whole history is read at its first use.
    HISTORY_DATASET_LIMIT = 32 * 2**20
    #: Most bytes kept in whole histories by one Replay; beyond, records are read one by one.
    HISTORY_TOTAL_LIMIT = 128 * 2**20

    def _history(self, quantity: str, layer: str | None, record: int) -> Any:
        """The whole history of a dataset (or of every weight/gradient variable), or None.

        Reading one record reads that record only.  Once a second record of
        the same dataset is asked for (a visual walking the epochs), the whole
        history is read in one go and kept, if it is small enough
        (:attr:`HISTORY_DATASET_LIMIT`, :attr:`HISTORY_TOTAL_LIMIT`): one read
        of every record is much faster than one file access per record.
        Bigger datasets stay read record by record.  Records appended later by
        a writer are never asked for: a Replay sees the records that existed
        when it was opened.
        """
        key = (quantity, layer)
        if key in self._histories:
            seen = self._histories[key]
            if not isinstance(seen, _FirstRecord):
                return seen
            if seen.record == record:
                return None
        else:
            self._histories[key] = _FirstRecord(record)
            return None
        history = None
        try:
            size = self._reader.history_nbytes(quantity, layer)
        except KeyError:
            size = None  # not recorded: the per-record read raises the clear error
        if size is not None and size <= self.HISTORY_DATASET_LIMIT and \
                self._history_bytes + size <= self.HISTORY_TOTAL_LIMIT:
            history = self._reader.history(quantity, layer)
            n = len(self._epochs)
            if quantity in ("weights", "gradients"):
                if any(len(v) < n for variables in history.values() for v in variables.values()):
                    history = None
            elif len(history) < n:
                history = None
            if history is not None:
                self._history_bytes += size
        self._histories[key] = history
        return history

    def _record_of(self, quantity: str, layer: str | None, record: int) -> np.ndarray:
        history = self._history(quantity, layer, record)
        if history is not None:
            return history[record].copy()
        if quantity == "predictions":
            return self._reader.predictions(record, layer)
        if quantity == "losses":
            return self._reader.losses(record, layer)
        return self._reader.outputs(record, layer, quantity)

    def _nested_record_of(self, quantity: str, record: int) -> dict[str, dict[str, np.ndarray]]:
        history = self._history(quantity, None, record)
        if history is not None:
            return {layer: {var: values[record].copy() for var, values in variables.items()}
                    for layer, variables in history.items()}
        return self._reader.weights(record) if quantity == "weights" else self._reader.gradients(record)

    @property
    def probe_indices(self) -> np.ndarray | None:
        """Rows of :attr:`inputs` chosen as probe samples (``ReplayData(probe_samples=...)``), or None.

        Feature maps (layer outputs of shape ``(n, height, width, channels)``
        or of higher rank) are recorded for these samples only: for such a
        layer, ``outputs_at(epoch, layer)[i]`` is sample ``probe_indices[i]``
        (:meth:`output_rows` gives the same rows).
        """
        return self._reader.probe_samples

    @property
    def gradient_indices(self) -> np.ndarray | None:
        """Rows of :attr:`inputs` the recorded gradients were computed on, or None when on all of them.

        ``ReplayData(gradient_samples=k)`` (default 2,048) computes the
        gradients of a recording of more than ``k`` samples on a stratified
        subset of ``k`` of them: the gradient of the mean loss (plus
        regularisation) over these rows.
        """
        return self._reader.gradient_samples

    def output_rows(self, layer_name: str) -> np.ndarray:
        """Which recorded samples :meth:`outputs_at` covers for ``layer_name``: rows of :attr:`inputs`.

        Every row (``arange(n)``) unless the layer is wide and its outputs
        were recorded for a subset of the samples
        (``ReplayData(output_samples=...)``).
        """
        self._check_layer(layer_name)
        rows = self._reader.output_samples(layer_name)
        return np.arange(len(self._inputs)) if rows is None else rows

    def _check_layer(self, layer_name: str) -> None:
        if layer_name not in self.layer_names:
            raise ValueError(f"layer_name={layer_name!r} is not a layer of this model; layers: {self.layer_names}.")

    # -- the model ------------------------------------------------------------------------------
    @property
    def model(self) -> keras.Model:
        """The model rebuilt from the stored config (weights of the last :meth:`model_at`)."""
        if self._model is None:
            model = self._rebuild_model()
            # A subclassed model's unnamed sublayers: Keras numbers them from a per-process counter.
            adopt_recorded_names(model, self._reader.layers)
            self._model = model
        return self._model

    def _rebuild_model(self) -> keras.Model:
        config = json.loads(self._reader.model_config)
        # Replay never trains: the compiled optimizer is not needed, and on some backends its stored
        # class is backend-specific (a PyTorch recording would otherwise need torch to replay).
        if isinstance(config, dict):
            config.pop("compile_config", None)
        classes = _config_classes(config)
        stored_code = [_STORES_CODE[name] for name in dict.fromkeys(name for name, _ in classes)
                       if name in _STORES_CODE]
        if self.safe_mode and stored_code:
            raise ValueError(
                f"the model in {self.group_name!r} has {' and '.join(stored_code)}; deepreplay "
                "does not load it by default. If you trust this file, pass Replay(..., safe_mode=False) "
                "('deepreplay render --unsafe' on the command line)."
            )
        self._check_model_size(config)
        try:
            model = keras.saving.deserialize_keras_object(
                config, custom_objects=self.custom_objects, safe_mode=self.safe_mode
            )
        except Exception as exc:
            keras_said = isinstance(exc, (TypeError, ValueError))
            # Read from the stored config: Keras changed ``config`` in place.
            custom = self.missing_custom_objects() if keras_said else []
            if custom:
                raise ValueError(
                    f"the model in {self.group_name!r} needs custom objects {custom}; pass them as "
                    f"Replay(..., custom_objects={{{', '.join(repr(c) + ': ...' for c in custom)}}})."
                ) from exc
            recorded_on = self.attrs.get("backend")
            if recorded_on and recorded_on != keras.backend.backend():
                # A layer of the recording's backend only (TorchModuleWrapper, JaxLayer) fails in its own way.
                root = exc
                while root.__cause__ is not None or root.__context__ is not None:
                    root = root.__cause__ or root.__context__
                raise ValueError(
                    f"cannot rebuild the model of {self.group_name!r} on the {keras.backend.backend()} backend "
                    f"({type(root).__name__}: {root}); it was recorded on {recorded_on}, and a layer that only "
                    f"{recorded_on} runs (TorchModuleWrapper, JaxLayer) replays there only: "
                    f"set KERAS_BACKEND={recorded_on}."
                ) from exc
            if keras_said:
                raise ValueError(
                    f"cannot rebuild the model of {self.group_name!r} from its stored config: {exc}") from exc
            raise
        if not isinstance(model, keras.Model):
            raise ValueError(f"the stored config of {self.group_name!r} is not a Keras model.")
        return model

    def _check_model_size(self, config: dict) -> None:
        """Refuse a stored config whose variables would hold far more than the recorded weights (memory bound).

        A genuine config declares exactly the variables that were recorded; a
        damaged or hostile one may ask Keras for huge layers.  The declared
        size is measured without allocating (see
        ``_backend.declared_variable_values``) and may exceed the recorded
        one by a factor 2 plus 2**20 values (2**24 when no weights were
        recorded).
        """
        recorded = self._reader.weight_values
        limit = 2 * recorded + 2**20 if recorded else 2**24
        declared = declared_variable_values(config, custom_objects=self.custom_objects, safe_mode=self.safe_mode)
        if declared is not None and declared > limit:
            raise storage.RecordingError(
                f"the stored model config of {self.group_name!r} declares variables of {declared:,} values, but "
                f"its recorded weights hold {recorded:,} per record: the recording is damaged or not genuine; "
                f"refusing to build that model (it would take {declared * 4 / 2**20:,.0f} MiB or more)."
            )

    def model_at(self, epoch: int) -> keras.Model:
        """The rebuilt model with the weights recorded at ``epoch``.

        The same model object is returned for every epoch (its weights change);
        copy it with ``keras.models.clone_model`` to keep one.
        """
        record = self.record_index(epoch)
        model = self.model
        if self._model_record != record:
            recorded = self._nested_record_of("weights", record)
            if not recorded:
                raise ValueError("weights were not recorded (ReplayData(record=...)), so the model cannot be rebuilt.")
            assign_recorded_weights(model, recorded)
            self._model_record = record
        return model

    def predict_proba(self, epoch_start: int | None = None, epoch_end: int | None = None, *,
                      X: Any = None, epoch: int | None = None, output: str | None = None) -> np.ndarray:
        """Model outputs: every epoch in a range on the recorded samples, or one epoch on any inputs.

        ``predict_proba()`` / ``predict_proba(epoch_start, epoch_end)`` (DeepReplay
        0.1's use) stack the recorded predictions of every recorded epoch in
        ``[epoch_start, epoch_end]`` (``None`` or ``-1``: the last): shape
        ``(epochs, n_samples, outputs)``.  ``predict_proba(X=..., epoch=...)``
        gives one epoch (default: the last) on ``X`` (default: the recorded
        samples), shape ``(n, outputs)``.  An array as first argument is taken
        as ``X``.  ``X`` is an array, or a list/dict of arrays for a model
        with several inputs; a model with several outputs gives those of
        ``output`` (default: the selected :attr:`output`, else the first).
        """
        if epoch_start is not None and not isinstance(epoch_start, (int, np.integer)):
            if X is not None:
                raise TypeError(f"predict_proba got X twice: epoch_start={type(epoch_start).__name__} and X=...")
            X, epoch_start = epoch_start, None  # predict_proba(X, epoch=...): inputs given by position
            if isinstance(X, (bool, np.bool_, str, bytes)):
                raise TypeError(f"epoch_start={X!r} must be an integer epoch; give inputs as X=...")
        if X is None and epoch is None:
            epochs = self.epoch_range(epoch_start, epoch_end)
            return np.stack([self.predictions_at(int(e), output=output) for e in epochs])
        if epoch_start is not None or epoch_end is not None:
            raise TypeError("predict_proba: give either an epoch range (epoch_start, epoch_end) on the recorded "
                            "samples, or X=... and/or epoch=... for one epoch, not both.")
        epoch = int(self._epochs[-1]) if epoch is None or epoch == -1 else epoch
        if X is None:
            return self.predictions_at(epoch, output=output)
        model = self.model_at(epoch)
        if isinstance(model, keras.Sequential):
            fast = numpy_forward(self._chain())
            if fast is not None:
                return fast(X)
        X = structure.as_structure("X", X)
        try:
            dtypes = [str(getattr(t, "dtype", "float32")) for t in model.inputs]
        except (AttributeError, ValueError):  # a subclassed model
            dtypes = []
        if len(dtypes) == 1 and isinstance(X, np.ndarray):
            # The model's input dtype (float32, or integers for an Embedding): as fit would feed it.
            X = X.astype(dtypes[0] if "int" in dtypes[0] else np.float32, copy=False)
        out = model(X, training=False)
        if isinstance(out, (list, tuple, dict)):
            names = self.output_names
            name = self._output if output is None else output
            if name is not None and name not in names:
                raise ValueError(f"output={name!r} is not an output of this model; outputs: {names}.")
            position = names.index(name) if name is not None else 0
            out = out[name] if isinstance(out, dict) and name in out else (
                list(out.values()) if isinstance(out, dict) else out)[position]
        return compute.to_numpy(out)

    # -- forward pieces for the visuals ---------------------------------------------------------------
    def _chain(self) -> list[keras.layers.Layer]:
        return model_layers(self.model)

    def layer_function(self, layer_name: str) -> Callable[[np.ndarray], np.ndarray]:
        """``f(X)`` giving the layer's output for inputs ``X`` (inference mode, current weights).

        For a Sequential stack of ``Dense`` (and ``Activation``, ``Dropout``)
        layers in float32 this is a NumPy forward pass, much faster than a
        Keras call on grids of points, and equal to it to float32 rounding.
        """
        self._check_layer(layer_name)
        model = self.model
        nested = storage.NESTED_LAYER_SEPARATOR in layer_name
        if isinstance(model, keras.Sequential) and not nested:
            layers = self._chain()
            names = [layer.name for layer in layers]
            fast = numpy_forward(layers[:names.index(layer_name) + 1])
            if fast is not None:
                return fast
        if nested or not has_layer_graph(model):
            # A layer inside a nested model, or of a subclassed model: its output, captured while the
            # whole model is called.
            layer = find_layer(model, layer_name)

            def captured(X: np.ndarray) -> np.ndarray:
                calls: dict[int, list] = {}
                with capturing_calls([layer], calls):
                    model(np.asarray(X, dtype=np.float32), training=False)
                seen = calls.get(id(layer), [])
                if len(seen) != 1:
                    raise ValueError(f"layer {layer_name!r} is called {len(seen)} times in one call of the model, "
                                     "so its output on given inputs is ambiguous.")
                return compute.to_numpy(first_output(seen[0][1]))

            return captured
        head = keras.Model(model.inputs[0], first_output(model.get_layer(layer_name).output))
        return lambda X: compute.to_numpy(head(np.asarray(X, dtype=np.float32), training=False))

    @staticmethod
    def _chain_after(graph: keras.Model, name: str, layer_name: str) -> list[keras.layers.Layer]:
        """The layers of ``graph`` after its layer ``name``, checked to form a chain (each fed by the one before)."""
        layers = model_layers(graph)
        names = [layer.name for layer in layers]
        rest = layers[names.index(name) + 1:]
        previous = graph.get_layer(name)
        # A Sequential model applies its layers in order, so they form a chain by
        # construction. (Its layers are not checked through ``layer.input``: a
        # Sequential rebuilt from its config has called its layers once per
        # ``add``, and ``layer.input``/``layer.output`` then refer to stale graphs.)
        sequential = isinstance(graph, keras.Sequential)
        for layer in [] if sequential else rest:
            try:
                fed_by = keras.Operation.input.fget(layer)
                ok = not isinstance(fed_by, (list, tuple)) and fed_by is keras.Operation.output.fget(previous)
            except (AttributeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(
                    f"layer_name={layer_name!r}: the layers after it do not form a chain (layer {layer.name!r} "
                    "is not fed by the layer before it), so the rest of the network cannot be evaluated "
                    "from this layer alone. Choose a layer of the model's final chain."
                )
            previous = layer
        if not sequential and graph.outputs and len(graph.outputs) == 1 \
                and keras.Operation.output.fget(previous) is not graph.outputs[0]:
            raise ValueError(
                f"layer_name={layer_name!r}: the chain after it does not end at {graph.name!r}'s output, so the "
                "rest of the network cannot be evaluated from this layer alone."
            )
        return rest

    def tail_function(self, layer_name: str) -> Callable[[np.ndarray], np.ndarray]:
        """``g(H)`` giving the model output from the output ``H`` of ``layer_name``.

        Needs the layers after ``layer_name`` to form a chain (each fed by the one
        before), as in Sequential models.  For a layer inside a nested model
        (``inner/a``), the layers after it inside ``inner`` must form such a
        chain up to ``inner``'s output, and so must those after ``inner``.

        A subclassed model has no layer graph: the layers it calls after
        ``layer_name`` (in call order) are taken, and only when they are
        verified on the recording to give the model's outputs from the
        layer's (see :meth:`_subclassed_tail`).

        Raises
        ------
        ValueError
            When the rest of the network cannot be evaluated from the layer's
            outputs alone (no chain; for a subclassed model, not verified).
        """
        self._check_layer(layer_name)
        if not has_layer_graph(self.model):
            return self._apply(self._subclassed_tail(layer_name))
        *holders, _ = layer_name.split(storage.NESTED_LAYER_SEPARATOR)
        rest: list[keras.layers.Layer] = []
        # Innermost first: the rest of each nested model after the layer, then the rest around it.
        for depth in range(len(holders), -1, -1):
            path = storage.NESTED_LAYER_SEPARATOR.join(holders[:depth])
            graph = find_layer(self.model, path) if path else self.model
            name = layer_name.split(storage.NESTED_LAYER_SEPARATOR)[depth]
            if not has_layer_graph(graph):
                raise ValueError(
                    f"layer_name={layer_name!r} is inside {path!r}, which has no layer graph (a subclassed "
                    "layer), so the rest of the network cannot be evaluated from its outputs alone.")
            rest += self._chain_after(graph, name, layer_name)
        return self._apply(rest)

    @staticmethod
    def _apply(rest: list[keras.layers.Layer]) -> Callable[[np.ndarray], np.ndarray]:
        """``g(H)``: the layers ``rest`` applied one after the other (in NumPy when they are plain Dense layers)."""
        fast = numpy_forward(rest)
        if fast is not None:
            return fast

        def tail(H: np.ndarray) -> np.ndarray:
            out = np.asarray(H, dtype=np.float32)
            for layer in rest:
                out = layer(out, training=False)
            return compute.to_numpy(out)

        return tail

    def _subclassed_tail(self, layer_name: str) -> list[keras.layers.Layer]:
        """The layers a subclassed model calls after ``layer_name``, verified to give its output from that layer's.

        A subclassed model has no layer graph to tell what depends on what, so
        the candidate (:func:`deepreplay.layer_tree.layers_called_after`: the
        layers called after it, in call order) is checked on the recording: at
        the first, middle and last records, with the weights of that record,
        applied to the layer's output on (up to 256 of) the recorded inputs, it
        must give the model's own output on them within ``rtol`` 1e-4 and
        ``atol`` 1e-5.  Both come from one call of the model at that record
        rather than from the recorded outputs, which wide layers keep rounded
        (``significant_bits``) and for some samples only.  Code between the calls that the order cannot see (a
        skip connection from the inputs, an operation on tensors) fails the
        check.  The verdict is kept for the next call.
        """
        if layer_name not in self._subclassed_tails:
            try:
                self._subclassed_tails[layer_name] = self._verify_subclassed_tail(layer_name)
            except ValueError as exc:
                self._subclassed_tails[layer_name] = str(exc)
            except Exception as exc:  # the model's own call failed on the recorded inputs: nothing is verified
                self._subclassed_tails[layer_name] = (
                    f"layer_name={layer_name!r}: the model is subclassed (no layer graph) and calling it on the "
                    f"recorded inputs to check the layers after it failed ({type(exc).__name__}: {exc}), so the "
                    "rest of the network cannot be evaluated from this layer's outputs alone (tail not verified).")
        verdict = self._subclassed_tails[layer_name]
        if isinstance(verdict, str):
            raise ValueError(verdict)
        return verdict

    def _verify_subclassed_tail(self, layer_name: str) -> list[keras.layers.Layer]:
        def refused(why: str) -> ValueError:
            return ValueError(
                f"layer_name={layer_name!r}: the model is subclassed (no layer graph) and {why}, so the rest of the "
                "network cannot be evaluated from this layer's outputs alone (tail not verified). Build the model "
                "as a functional or Sequential model, or choose a layer the rest of its call only chains after."
            )

        model = self.model
        layer = dict(held_layers(model)).get(layer_name)
        if layer is None:
            raise refused(f"{layer_name!r} is not one of the layers it holds in sequence")
        rows = np.arange(min(len(self._inputs), 256))
        x = structure.take(self._inputs, rows)
        previous = self._model_record
        records = sorted({0, (len(self._epochs) - 1) // 2, len(self._epochs) - 1})
        try:
            rest = layers_called_after(self.model_at(int(self._epochs[records[0]])), layer, x)
            tail = self._apply(rest)
            for record in records:
                epoch = int(self._epochs[record])
                calls: dict[int, list] = {}
                with capturing_calls([layer], calls):
                    want = self.model_at(epoch)(x, training=False)
                if isinstance(want, (list, tuple, dict)):
                    raise refused("it has several outputs")
                want = compute.to_numpy(want)
                try:
                    got = tail(compute.to_numpy(calls[id(layer)][0][1]))
                except Exception as exc:  # the layers do not even fit one after the other
                    raise refused(f"the layers it calls after it ({[t.name for t in rest]}) cannot be applied one "
                                  f"after the other ({type(exc).__name__}: {exc})") from None
                if np.shape(got) != np.shape(want) or not np.allclose(got, want, rtol=1e-4, atol=1e-5):
                    gap = f"{np.max(np.abs(got - want)):.3g}" if np.shape(got) == np.shape(want) else \
                        f"shape {np.shape(got)} against {np.shape(want)}"
                    raise refused(f"the layers it calls after it ({[t.name for t in rest]}), applied to its "
                                  f"outputs, do not give the model's outputs at {self._record_unit} {epoch} "
                                  f"(largest difference {gap})")
        finally:
            if previous is not None:
                self.model_at(int(self._epochs[previous]))
        return rest

    def _named(self, visual: Any) -> Any:
        """``visual`` labelled with this run's name (its group), for visuals of several runs composed together."""
        visual.run_name = str(self.group_name)
        return self._labelled(visual)

    # -- visuals ------------------------------------------------------------------------------------
    def _labelled(self, plotter: Any) -> Any:
        """``plotter`` told whether its frames are epochs or steps (for titles, axis labels, sliders)."""
        plotter.frame_unit = self._record_unit
        return plotter

    # The positional parameters of every ``build_*`` method are DeepReplay 0.1's, in its order;
    # options added since are keyword-only.  The last visual of each kind (and its data) is kept
    # for 0.1's ``feature_space``, ``loss_histogram``, ... properties.
    def _built(self, kind: str, visual: Any, data: Any = None) -> Any:
        self._last_built[kind] = (visual, getattr(visual, "data", None) if data is None else data)
        if visual is None:
            return visual
        from .progress import in_notebook

        if in_notebook():
            # Jupyter shows the figure at the end of the cell that built the visual: draw its last
            # epoch now, so that the cell does not show an empty axes.
            visual.set_epoch(int(visual.epochs[-1]))
        return self._named(visual)

    def build_feature_space(self, ax, layer_name: str, contour_points: int = 200,
                            xlim: tuple[float, float] | None = None, ylim: tuple[float, float] | None = None,
                            scale_fixed: bool = True, display_grid: bool = True,
                            epoch_start: int | None = None, epoch_end: int | None = None, **kwargs: Any):
        """Feature space of a hidden layer; see :class:`deepreplay.plot.FeatureSpace`.

        The positional order is DeepReplay 0.1's; ``contour_points`` defaults to
        200 (0.1: 1000, the same picture 25 times slower), and ``xlim``/``ylim``
        (the input grid) to the inputs' range plus 10% (0.1: ``(-1, 1)``
        whatever the data; passing it still works).  Further options
        (``n_grid_lines``, ``projection``, ``display_regions``, ``class_names``,
        ``title``) are keyword-only.
        """
        from .plot.feature_space import FeatureSpace

        return self._built("feature_space", FeatureSpace.from_replay(
            self, ax, layer_name, contour_points=contour_points, xlim=xlim, ylim=ylim, scale_fixed=scale_fixed,
            display_grid=display_grid, epoch_start=epoch_start, epoch_end=epoch_end, **kwargs))

    def build_decision_boundary(self, ax, contour_points: int = 200, xlim: tuple[float, float] | None = None,
                                ylim: tuple[float, float] | None = None, display_grid: bool = True,
                                epoch_start: int | None = None, epoch_end: int | None = None, **kwargs: Any):
        """Decision boundary in the input space; see :class:`deepreplay.plot.DecisionBoundary`.

        The positional order is DeepReplay 0.1's; ``xlim``/``ylim`` default to
        the range of the recorded inputs (0.1: ``(-1, 1)``; pass it to get that).
        """
        from .plot.decision_boundary import DecisionBoundary

        return self._built("decision_boundary", DecisionBoundary.from_replay(
            self, ax, contour_points=contour_points, xlim=xlim, ylim=ylim, display_grid=display_grid,
            epoch_start=epoch_start, epoch_end=epoch_end, **kwargs))

    def build_probability_histogram(self, ax_negative, ax_positive, epoch_start: int | None = None,
                                    epoch_end: int | None = None, **kwargs: Any):
        """Histograms of predicted probabilities per class; see :class:`deepreplay.plot.ProbabilityHistogram`."""
        from .plot.probability_histogram import ProbabilityHistogram

        return self._built("probability_histogram", ProbabilityHistogram.from_replay(
            self, ax_negative, ax_positive, epoch_start=epoch_start, epoch_end=epoch_end, **kwargs))

    def build_loss_and_metric(self, ax, metric_name: str | None = "accuracy", epoch_start: int | None = None,
                              epoch_end: int | None = None, **kwargs: Any):
        """Loss and a metric per epoch; see :class:`deepreplay.plot.LossAndMetric`."""
        from .plot.loss_and_metric import LossAndMetric

        return self._built("loss_and_metric", LossAndMetric.from_replay(
            self, ax, metric_name, epoch_start=epoch_start, epoch_end=epoch_end, **kwargs))

    def build_loss_histogram(self, ax, epoch_start: int | None = None, epoch_end: int | None = None,
                             **kwargs: Any):
        """Histogram of per-sample losses; see :class:`deepreplay.plot.LossHistogram`."""
        from .plot.loss_histogram import LossHistogram

        return self._built("loss_histogram", LossHistogram.from_replay(
            self, ax, epoch_start=epoch_start, epoch_end=epoch_end, **kwargs))

    def build_cross_entropy(self, ax, **kwargs: Any):
        """Per-sample probability of the true class and its -log, sorted, with their mean (the loss);
        see :class:`deepreplay.plot.cross_entropy.CrossEntropy`."""
        from .plot.cross_entropy import CrossEntropy

        return self._named(CrossEntropy.from_replay(self, ax, **kwargs))

    # -- loss landscapes and gradient flow -------------------------------------------------------------
    def build_loss_landscape(self, ax, **kwargs: Any):
        """The loss surface on a plane through weight space with the path over it (keyword-only options);
        see :class:`deepreplay.plot.loss_landscape.LossLandscape`."""
        from .plot.loss_landscape import LossLandscape

        return self._named(LossLandscape.from_replay(self, ax, **kwargs))

    def build_loss_interpolation(self, ax, **kwargs: Any):
        """The loss along the line from the initial to the final weights, the recorded epochs on it
        (keyword-only options); see :class:`deepreplay.plot.loss_interpolation.LossInterpolation`."""
        from .plot.loss_interpolation import LossInterpolation

        return self._named(LossInterpolation.from_replay(self, ax, **kwargs))

    def build_gradient_flow(self, ax, **kwargs: Any):
        """A layers x epochs image of the gradient/weight std ratio, gradient std or dead-unit fraction
        (keyword-only options); see :class:`deepreplay.plot.gradient_flow.GradientFlow`."""
        from .plot.gradient_flow import GradientFlow

        return self._named(GradientFlow.from_replay(self, ax, **kwargs))

    def build_confusion_matrix(self, ax, *, normalize: bool = False, **kwargs: Any):
        """Confusion matrix per epoch, counts or row-normalised; see :class:`deepreplay.plot.ConfusionMatrix`."""
        from .plot.confusion_matrix import ConfusionMatrix

        return self._named(ConfusionMatrix.from_replay(self, ax, normalize=normalize, **kwargs))

    def build_feature_maps(self, ax, layer_name: str | None = None, *, samples=None, **kwargs: Any):
        """A conv layer's output channels for a few probe samples, per epoch;
        see :class:`deepreplay.plot.FeatureMaps`."""
        from .plot.feature_maps import FeatureMaps

        return self._named(FeatureMaps.from_replay(self, ax, layer_name, samples=samples, **kwargs))

    def build_filters(self, ax, layer_name: str | None = None, **kwargs: Any):
        """The kernels of a conv layer (default: the first) as small images, per epoch;
        see :class:`deepreplay.plot.Filters`."""
        from .plot.feature_maps import Filters

        return self._named(Filters.from_replay(self, ax, layer_name, **kwargs))

    # -- layer diagnostics ------------------------------------------------------------------------------
    def _distributions(self, kind: str, ax, quantity: str, **kwargs: Any):
        """The violins of ``quantity`` on ``ax``; with ``ax=None`` their data only (DeepReplay 0.1's use)."""
        from . import diagnostics
        from .plot.layer_distributions import LayerDistributions

        if ax is None:
            plot_only = sorted(set(kwargs) & {"title", "color", "show_std"})
            if plot_only:
                raise TypeError(f"{', '.join(plot_only)} only apply when drawing; give an Axes instead of ax=None.")
            data = diagnostics.layer_distributions(self, quantity, **kwargs)
            self._built(kind, None, data)
            return data
        visual = LayerDistributions.from_replay(self, ax, quantity, **kwargs)
        return self._built(kind, visual, visual.data)

    def build_weights(self, ax, layer_names: list[str] | str | None = None, exclude_outputs: bool = True,
                      epoch_start: int | None = None, epoch_end: int | None = None, **kwargs: Any):
        """Per-layer weight distributions over epochs; see :class:`deepreplay.plot.LayerDistributions`.

        With ``ax=None`` nothing is drawn and the data
        (:class:`~deepreplay.diagnostics.LayerDistributionData`) is returned.
        """
        return self._distributions("weights", ax, "weights", layer_names=layer_names,
                                   exclude_outputs=exclude_outputs, epoch_start=epoch_start,
                                   epoch_end=epoch_end, **kwargs)

    def build_gradients(self, ax, layer_names: list[str] | str | None = None, exclude_outputs: bool = True,
                        epoch_start: int | None = None, epoch_end: int | None = None, **kwargs: Any):
        """Per-layer gradient distributions over epochs; see :class:`deepreplay.plot.LayerDistributions`.

        With ``ax=None`` nothing is drawn and the data is returned.
        """
        return self._distributions("gradients", ax, "gradients", layer_names=layer_names,
                                   exclude_outputs=exclude_outputs, epoch_start=epoch_start,
                                   epoch_end=epoch_end, **kwargs)

    def build_outputs(self, ax, before_activation: bool = False, layer_names: list[str] | str | None = None,
                      include_inputs: bool = True, exclude_outputs: bool = True, epoch_start: int | None = None,
                      epoch_end: int | None = None, **kwargs: Any):
        """Per-layer activations (z-values with ``before_activation=True``); see ``LayerDistributions``.

        The inputs are shown first unless ``include_inputs=False`` (DeepReplay 0.1's
        default).  With ``ax=None`` nothing is drawn and the data is returned.
        """
        if not isinstance(before_activation, (bool, np.bool_)):
            raise TypeError(f"before_activation={before_activation!r} must be True or False.")
        if not isinstance(include_inputs, (bool, np.bool_)):
            raise TypeError(f"include_inputs={include_inputs!r} must be True or False.")
        quantity = "z" if before_activation else "activations"
        return self._distributions("zvalues" if before_activation else "activations", ax, quantity,
                                   layer_names=layer_names, include_inputs=bool(include_inputs),
                                   exclude_outputs=exclude_outputs, epoch_start=epoch_start,
                                   epoch_end=epoch_end, **kwargs)

    # -- DeepReplay 0.1's properties: (visual, data) of the last build_* of each kind ----------------------
    @property
    def feature_space(self) -> tuple[Any, Any]:
        """``(visual, data)`` of the last :meth:`build_feature_space` (``(None, None)`` before)."""
        return self._last_built.get("feature_space", (None, None))

    @property
    def decision_boundary(self) -> tuple[Any, Any]:
        """``(visual, data)`` of the last :meth:`build_decision_boundary`."""
        return self._last_built.get("decision_boundary", (None, None))

    @property
    def loss_histogram(self) -> tuple[Any, Any]:
        """``(visual, data)`` of the last :meth:`build_loss_histogram`."""
        return self._last_built.get("loss_histogram", (None, None))

    @property
    def loss_and_metric(self) -> tuple[Any, Any]:
        """``(visual, data)`` of the last :meth:`build_loss_and_metric`."""
        return self._last_built.get("loss_and_metric", (None, None))

    @property
    def probability_histogram(self) -> tuple[Any, Any]:
        """``(visual, data)`` of the last :meth:`build_probability_histogram`."""
        return self._last_built.get("probability_histogram", (None, None))

    @property
    def weights_violins(self) -> tuple[Any, Any]:
        """``(visual, data)`` of the last :meth:`build_weights` (visual None when built with ``ax=None``)."""
        return self._last_built.get("weights", (None, None))

    @property
    def gradients_violins(self) -> tuple[Any, Any]:
        """``(visual, data)`` of the last :meth:`build_gradients`."""
        return self._last_built.get("gradients", (None, None))

    @property
    def activations_violins(self) -> tuple[Any, Any]:
        """``(visual, data)`` of the last :meth:`build_outputs` of activations."""
        return self._last_built.get("activations", (None, None))

    @property
    def zvalues_violins(self) -> tuple[Any, Any]:
        """``(visual, data)`` of the last :meth:`build_outputs` with ``before_activation=True``."""
        return self._last_built.get("zvalues", (None, None))

    @property
    def weights_std(self) -> LayerStd:
        """Standard deviation of each layer's weights (kernel) per epoch: an array, and a function.

        As an array (DeepReplay 0.1's property): shape ``(epochs, layers)`` for
        every layer with weights, the output layer included, over the epochs of
        the last :meth:`build_weights` (every recorded epoch before one).
        Called, ``replay.weights_std(layer_names, exclude_outputs=..., epoch_start=...,
        epoch_end=...)`` returns :func:`deepreplay.diagnostics.weights_std`'s
        :class:`~deepreplay.diagnostics.LayerStatistics`.
        """
        return self._layer_std("weights")

    @property
    def gradients_std(self) -> LayerStd:
        """Standard deviation of each layer's gradients per epoch: an array, and a function.

        As :attr:`weights_std`, for the gradients (epochs of the last
        :meth:`build_gradients`); called, it returns
        :func:`deepreplay.diagnostics.gradients_std`'s result.
        """
        return self._layer_std("gradients")

    def _layer_std(self, quantity: str) -> LayerStd:
        from . import diagnostics

        function = diagnostics.weights_std if quantity == "weights" else diagnostics.gradients_std
        _, data = self._last_built.get(quantity, (None, None))
        span = {} if data is None else {"epoch_start": int(data.epochs[0]), "epoch_end": int(data.epochs[-1])}
        stats = function(self, exclude_outputs=False, **span)
        return LayerStd(stats, lambda *args, **kwargs: function(self, *args, **kwargs))

    def std_ratio(self, layer_names: list[str] | None = None, **kwargs: Any):
        """Gradient/weight standard-deviation ratio per layer and epoch; see :func:`deepreplay.diagnostics.std_ratio`."""
        from . import diagnostics

        return diagnostics.std_ratio(self, layer_names, **kwargs)
