"""DeepReplay 0.1 recordings: rebuild their Keras 2 model and convert them to the current format.

DeepReplay 0.1 stored, per run, the inputs, targets, Keras epoch logs and
every layer's weights per epoch (see :func:`deepreplay.storage.read_legacy_recording`);
the model itself was saved apart by Keras 2.2, a file Keras 3 cannot load (its
Sequential config is a bare list of layers).  This module rebuilds that model
from the config alone — Sequential stacks of ``Dense`` (with their activations
and initializers), ``Activation`` and ``Dropout``, the layers the original
supported — by reading the JSON and calling the Keras 3 constructors; nothing
stored in the file is ever run.  :func:`convert` then sets the recorded
weights epoch by epoch and lets :class:`~deepreplay.callbacks.ReplayData`
record them, so per-sample losses, predictions, layer outputs and gradients
are recomputed by the same code that records a training run.

The config translation is hand-written: Keras 3 has no loader for Keras 2
HDF5 files, and only a handful of keys matter for the layers above.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import keras
import numpy as np

from . import storage
from .errors import RecordingError

__all__ = ["convert", "default_model_filename", "model_from_keras2_file"]

#: Initializers a Keras 2 config may name, with the Keras 3 arguments they keep.
_INITIALIZERS: dict[str, tuple[str, ...]] = {
    "Zeros": (),
    "Ones": (),
    "Constant": ("value",),
    "RandomNormal": ("mean", "stddev", "seed"),
    "RandomUniform": ("minval", "maxval", "seed"),
    "TruncatedNormal": ("mean", "stddev", "seed"),
    "VarianceScaling": ("scale", "mode", "distribution", "seed"),
    "Orthogonal": ("gain", "seed"),
    "Identity": ("gain",),
    "GlorotNormal": ("seed",),
    "GlorotUniform": ("seed",),
    "HeNormal": ("seed",),
    "HeUniform": ("seed",),
    "LecunNormal": ("seed",),
    "LecunUniform": ("seed",),
}
#: Keras 2 spellings of initializer class names.
_INITIALIZER_ALIASES = {"Zero": "Zeros", "One": "Ones", "glorot_normal": "GlorotNormal",
                        "glorot_uniform": "GlorotUniform", "he_normal": "HeNormal", "he_uniform": "HeUniform",
                        "lecun_normal": "LecunNormal", "lecun_uniform": "LecunUniform", "zeros": "Zeros",
                        "ones": "Ones", "normal": "RandomNormal", "uniform": "RandomUniform"}
_ACTIVATIONS = ("linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "softmax", "softplus", "softsign", "elu",
                "selu", "exponential")
_LAYERS = ("Dense", "Activation", "Dropout")


def default_model_filename(replay_filename: str | os.PathLike, group_name: str) -> str:
    """Where DeepReplay 0.1 looked for the model: ``<group_name>_model.h5``, here next to the recording."""
    return os.path.join(os.path.dirname(os.path.abspath(os.fspath(replay_filename))), f"{group_name}_model.h5")


def _initializer(spec: Any, where: str) -> keras.initializers.Initializer:
    if isinstance(spec, str):
        spec = {"class_name": spec, "config": {}}
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise ValueError(f"{where}: initializer {spec!r} is not a Keras 2 initializer config.")
    name = _INITIALIZER_ALIASES.get(spec["class_name"], spec["class_name"])
    if name not in _INITIALIZERS:
        raise ValueError(f"{where}: initializer {spec['class_name']!r} is not supported "
                         f"(supported: {', '.join(_INITIALIZERS)}).")
    config = dict(spec.get("config") or {})
    kwargs = {k: config[k] for k in _INITIALIZERS[name] if k in config}
    if name == "VarianceScaling" and kwargs.get("distribution") == "normal":
        kwargs["distribution"] = "truncated_normal"  # Keras 2's "normal" drew from a truncated normal
    return getattr(keras.initializers, name)(**kwargs)


def _activation(name: Any, where: str) -> str:
    if name is None:
        return "linear"
    if not isinstance(name, str) or name not in _ACTIVATIONS:
        raise ValueError(f"{where}: activation {name!r} is not supported (supported: {', '.join(_ACTIVATIONS)}).")
    return name


def _layer(spec: Any, index: int) -> tuple[keras.layers.Layer, Any]:
    """A Keras 3 layer from one Keras 2 layer config, and the input shape the config gives (or None)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ValueError(f"layer {index} of the model config is not a Keras layer config.")
    kind, config = spec.get("class_name"), spec["config"]
    name = config.get("name")
    where = f"layer {index} ({name!r}, {kind})"
    if kind not in _LAYERS:
        raise ValueError(f"{where}: DeepReplay 0.1 models are rebuilt for layers {', '.join(_LAYERS)} only.")
    for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
                "bias_constraint"):
        if config.get(key) is not None:
            raise ValueError(f"{where}: {key} is not supported when rebuilding a DeepReplay 0.1 model.")
    shape = config.get("batch_input_shape")
    if kind == "Dense":
        units = config.get("units")
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"{where}: units={units!r} is not a positive integer.")
        layer = keras.layers.Dense(
            units, activation=_activation(config.get("activation"), where), use_bias=bool(config.get("use_bias", True)),
            kernel_initializer=_initializer(config.get("kernel_initializer", "GlorotUniform"), where),
            bias_initializer=_initializer(config.get("bias_initializer", "Zeros"), where),
            name=name, trainable=bool(config.get("trainable", True)))
    elif kind == "Activation":
        layer = keras.layers.Activation(_activation(config.get("activation"), where), name=name)
    else:
        rate = config.get("rate", 0.0)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"{where}: rate={rate!r} is not a dropout rate.")
        layer = keras.layers.Dropout(float(rate), name=name)
    return layer, shape


def _optimizer(training: dict) -> keras.optimizers.Optimizer:
    spec = training.get("optimizer_config") or {}
    config = spec.get("config") or {}
    lr = config.get("learning_rate", config.get("lr"))
    kind = str(spec.get("class_name", "SGD"))
    if kind == "SGD":
        return keras.optimizers.SGD(learning_rate=float(lr if lr is not None else 0.01),
                                    momentum=float(config.get("momentum", 0.0)),
                                    nesterov=bool(config.get("nesterov", False)))
    known = {"Adam": keras.optimizers.Adam, "RMSprop": keras.optimizers.RMSprop, "Adagrad": keras.optimizers.Adagrad,
             "Adadelta": keras.optimizers.Adadelta, "Adamax": keras.optimizers.Adamax, "Nadam": keras.optimizers.Nadam}
    if kind in known:
        return known[kind]() if lr is None else known[kind](learning_rate=float(lr))
    return keras.optimizers.SGD()  # replay never trains: the optimizer only supplies a learning rate


def model_from_keras2_file(model_filename: str | os.PathLike, *, input_dim: int | None = None) -> keras.Sequential:
    """Rebuild (and compile) the model of a Keras 2 model file saved by DeepReplay 0.1's users.

    Only the file's ``model_config`` and ``training_config`` attributes are
    read (JSON); no code stored in the file is run.

    Parameters
    ----------
    model_filename : str or path-like
        The HDF5 file written by Keras 2's ``model.save``.
    input_dim : int, optional
        Number of input features, when the config does not say
        (``batch_input_shape`` of the first layer).

    Returns
    -------
    keras.Sequential
        Compiled with the file's loss and metrics (``SGD(learning_rate=...)``
        as its optimizer for an SGD run).

    Raises
    ------
    ValueError
        A model that is not a Sequential stack of supported layers, with the
        layer and setting named.
    """
    config_text, training_text = storage.read_keras2_model_file(model_filename)
    try:
        config = json.loads(config_text)
        training = json.loads(training_text) if training_text else {}
    except json.JSONDecodeError as exc:
        raise RecordingError(f"model_filename={os.fspath(model_filename)!r}: its model config is not JSON: {exc}")
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"model_filename={os.fspath(model_filename)!r} holds a {kind} model; DeepReplay 0.1 "
                         "recordings are replayed for Sequential models only.")
    specs = config.get("config")
    if isinstance(specs, dict):  # Keras 2.2.3+ wrote {"name": ..., "layers": [...]}
        specs = specs.get("layers")
    if not isinstance(specs, list) or not specs:
        raise ValueError(f"model_filename={os.fspath(model_filename)!r}: its Sequential config has no layers.")
    layers, shapes = zip(*(_layer(spec, i) for i, spec in enumerate(specs)))
    shape = shapes[0]
    if shape is not None:
        if not isinstance(shape, list) or len(shape) != 2 or not isinstance(shape[1], int):
            raise ValueError(f"model_filename={os.fspath(model_filename)!r}: input shape {shape!r} is not "
                             "(batch, features); only flat inputs are supported.")
        input_dim = shape[1]
    if input_dim is None:
        raise ValueError(f"model_filename={os.fspath(model_filename)!r}: the config does not give the input "
                         "shape; pass input_dim=.")
    model = keras.Sequential([keras.Input((int(input_dim),)), *layers])
    loss = training.get("loss", "binary_crossentropy")
    if not isinstance(loss, str):
        raise ValueError(f"model_filename={os.fspath(model_filename)!r}: loss {loss!r} is not supported "
                         "(a single loss given by name is).")
    metrics = [m for m in training.get("metrics") or [] if isinstance(m, str)]
    model.compile(optimizer=_optimizer(training), loss=loss, metrics=metrics)
    return model


def convert(old_filename: str | os.PathLike, group_name: str, new_filename: str | os.PathLike, *,
            model_filename: str | os.PathLike | None = None, new_group_name: str | None = None,
            overwrite: bool = False) -> str:
    """Write a DeepReplay 0.1 recording as a current recording (format version 1).

    The model is rebuilt from ``model_filename``; for every recorded epoch its
    weights are set to the recorded ones and :class:`~deepreplay.callbacks.ReplayData`
    records it: weights, full-batch gradients, layer outputs, predictions,
    per-sample losses and the loss and metrics on the recorded inputs.  The
    Keras epoch logs (``loss``, ``acc``, the learning rate) are kept as the
    logs of each epoch.

    Parameters
    ----------
    old_filename : str or path-like
        The DeepReplay 0.1 file.
    group_name : str
        Its group.
    new_filename : str or path-like
        The file to write (created if missing; other groups are not touched).
    model_filename : str or path-like, optional
        The model saved by Keras 2 (default: ``<group_name>_model.h5`` next to
        ``old_filename``, where DeepReplay 0.1 looked for it).
    new_group_name : str, optional
        Group to write (default: ``group_name``).
    overwrite : bool, default False
        Replace an existing group ``new_group_name`` in ``new_filename``.

    Returns
    -------
    str
        The group written.
    """
    from .callbacks import ReplayData

    old_filename = os.fspath(old_filename)
    if os.path.exists(os.fspath(new_filename)) and os.path.samefile(old_filename, os.fspath(new_filename)):
        raise ValueError(f"new_filename={os.fspath(new_filename)!r} is the old recording itself; write the "
                         "converted recording to another file (-o NEW.h5).")
    recording = storage.read_legacy_recording(old_filename, group_name)
    if model_filename is None:
        model_filename = default_model_filename(old_filename, group_name)
        if not os.path.exists(model_filename):
            raise FileNotFoundError(
                f"the model of the DeepReplay 0.1 recording {group_name!r} is not at {model_filename!r} (where "
                "DeepReplay 0.1 saved it); give it with model_filename= (deepreplay convert ... --model MODEL.h5).")
    inputs = np.asarray(recording.inputs)
    model = model_from_keras2_file(model_filename, input_dim=int(np.prod(inputs.shape[1:])))
    if len(model.layers) != len(recording.weights):
        raise ValueError(f"the model in {os.fspath(model_filename)!r} has {len(model.layers)} layers but the "
                         f"recording {group_name!r} has {len(recording.weights)}; give the model file of this run.")
    for layer, recorded in zip(model.layers, recording.weights):
        got = [tuple(v.shape) for v in layer.weights]
        want = [tuple(w.shape[1:]) for w in recorded]
        if got != want:
            raise ValueError(f"layer {layer.name!r} has variables of shapes {got} in the model but {want} in the "
                             f"recording {group_name!r}; give the model file of this run.")

    def set_epoch(epoch: int) -> None:
        for layer, recorded in zip(model.layers, recording.weights):
            for variable, values in zip(layer.weights, recorded):
                variable.assign(np.asarray(values[epoch], dtype=variable.dtype))

    n_epochs = recording.n_epochs
    batch_size = recording.attrs.get("batch_size")
    new_group_name = group_name if new_group_name is None else new_group_name
    data = ReplayData(inputs, recording.targets, new_filename, new_group_name, overwrite=overwrite,
                      batch_size=int(batch_size) if batch_size is not None else None)
    data.set_model(model)
    data.set_params({"epochs": n_epochs, "verbose": 0})
    set_epoch(0)
    data.on_train_begin()
    for epoch in range(1, n_epochs + 1):
        set_epoch(epoch)
        logs: dict[str, float] = {}
        for name, values in recording.logs.items():
            if len(values) == n_epochs:
                logs["learning_rate" if name == "lr" else name] = float(values[epoch - 1])
        logs.setdefault("learning_rate", math.nan)
        data.on_epoch_end(epoch - 1, logs)
    data.on_train_end()
    return new_group_name
