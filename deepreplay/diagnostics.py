"""Per-layer diagnostics of a recording: distributions and statistics as plain arrays.

This module walks a :class:`~deepreplay.replay.Replay`: it chooses the layers
and epochs, reads what the recording holds (``weights_at``, ``gradients_at``,
``outputs_at``, ``inputs``) one epoch at a time, and hands the values to the
functions of arrays in :mod:`deepreplay.statistics`, which compute the
spreads, ratios and histograms (and define the tables returned here, re-exported
under the same names).  Nothing imports Matplotlib, so it is tested without
figures.  The visuals in
:mod:`deepreplay.plot.layer_distributions` and :mod:`deepreplay.plot.comparison`
draw what these functions return.

Four per-layer quantities can be examined:

``"weights"``
    A layer's ``kernel`` variable when it has one, else all its variables
    (flattened and concatenated).
``"gradients"``
    The recorded full-batch gradients of the same variables.
``"activations"``
    The layer's outputs on the recorded samples.
``"z"``
    The layer's pre-activation values (z-values) on the recorded samples;
    recorded for layers with a non-linear activation only.

Layer selection is shared by every function: ``layer_names=None`` takes every
layer that has the quantity recorded, in model order, without the model's last
(output) layer, and every output layer of a model with several outputs, when
``exclude_outputs=True``; a list of names takes exactly
those layers, in that order (``exclude_outputs`` then does not apply).  For
activations and z-values, ``include_inputs=True`` puts the recorded inputs
first, labelled :data:`INPUTS_LABEL`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import compute, structure
from .statistics import (
    LayerDistributionData,
    LayerStatistics,
    RatioTable,
    check_bins,
    finite_range,
    frozen,
    histograms,
    kernel_values,
    padded_range,
    std_per_layer,
    std_ratio_values,
)

if TYPE_CHECKING:
    from .replay import Replay

__all__ = [
    "INPUTS_LABEL",
    "QUANTITIES",
    "LayerDistributionData",
    "LayerStatistics",
    "RatioTable",
    "gradients_std",
    "layer_distributions",
    "layer_std",
    "layer_values",
    "ratio_table",
    "select_layers",
    "std_ratio",
    "weights_std",
]

#: The per-layer quantities this module can examine.
QUANTITIES = ("weights", "gradients", "activations", "z")

#: Label of the recorded inputs when ``include_inputs=True``.
INPUTS_LABEL = "Inputs"

#: Readable names of the quantities (used as default titles).
QUANTITY_TITLES = {"weights": "Weights", "gradients": "Gradients", "activations": "Activations", "z": "Z-values"}


# -- small helpers ---------------------------------------------------------------------------------
def _check_replay(replay: object) -> None:
    needed = ("weights_at", "gradients_at", "outputs_at", "layer_names", "epoch_range", "reader", "inputs")
    missing = [name for name in needed if not hasattr(replay, name)]
    if missing:
        raise TypeError(
            f"replay must be a deepreplay Replay (from Replay(filename, group_name)), got "
            f"{type(replay).__name__} (it has no {missing})."
        )


def _check_quantity(quantity: object) -> str:
    if not isinstance(quantity, str) or quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is not one of {QUANTITIES}.")
    return quantity


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} must be True or False.")
    return bool(value)


def _check_epoch(replay: Replay, epoch: object) -> int:
    if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)):
        raise TypeError(f"epoch={epoch!r} must be an integer epoch number.")
    recorded = replay.epochs
    if epoch not in recorded:
        raise ValueError(f"epoch={epoch} was not recorded; recorded epochs: {compute.describe_epochs(recorded)}.")
    return int(epoch)


def _available_layers(replay: Replay, quantity: str) -> list[str]:
    """Layers (model order) for which ``quantity`` was recorded."""
    reader = replay.reader
    if quantity in ("weights", "gradients"):
        recorded = reader.variable_names(quantity)
        return [name for name in replay.layer_names if recorded.get(name)]
    return list(reader.output_layers("z" if quantity == "z" else "activations"))


def _quantity_phrase(quantity: str) -> str:
    return {"weights": "recorded weights", "gradients": "recorded gradients",
            "activations": "recorded activations", "z": "recorded z-values"}[quantity]


def select_layers(
    replay: Replay,
    quantity: str,
    layer_names: Sequence[str] | str | None = None,
    *,
    include_inputs: bool = False,
    exclude_outputs: bool = True,
) -> tuple[str, ...]:
    """The layers a diagnostic of ``quantity`` covers, in order.

    Parameters
    ----------
    replay : Replay
        The recording.
    quantity : {'weights', 'gradients', 'activations', 'z'}
        What is examined.
    layer_names : list of str or str, optional
        Exactly these layers, in this order.  ``None`` (default) takes every
        layer that has ``quantity`` recorded, in model order.
    include_inputs : bool, default False
        Put :data:`INPUTS_LABEL` (the recorded inputs) first; activations and
        z-values only.
    exclude_outputs : bool, default True
        Leave out the model's last (output) layer, and with several outputs
        every output layer, when ``layer_names`` is None.

    Returns
    -------
    tuple of str
        Layer names, with :data:`INPUTS_LABEL` first when ``include_inputs``.

    Raises
    ------
    ValueError
        A name that is not a layer of the model, or a layer without
        ``quantity`` recorded (the message lists the valid names); a quantity
        that was not recorded at all; no layer left.
    TypeError
        ``layer_names`` is not a list of strings.
    """
    _check_replay(replay)
    quantity = _check_quantity(quantity)
    include_inputs = _check_bool("include_inputs", include_inputs)
    exclude_outputs = _check_bool("exclude_outputs", exclude_outputs)
    if include_inputs and quantity not in ("activations", "z"):
        raise ValueError(
            f"include_inputs=True applies to activations and z-values only, not to {quantity!r}; "
            "leave it out (include_inputs=False)."
        )
    available = _available_layers(replay, quantity)
    if not available:
        raise ValueError(
            f"this recording has no {_quantity_phrase(quantity)}; record them with "
            "ReplayData(..., record=None) (the default records everything)."
        )
    all_layers = list(replay.layer_names)
    if layer_names is None:
        chosen = list(available)
        # The last layer; with several outputs, every output layer (the first one is not a hidden layer either).
        outputs = all_layers[-1:]
        if len(getattr(replay, "output_names", ())) > 1:
            outputs += [name for name in replay.output_names if name in all_layers]
        if exclude_outputs:
            chosen = [name for name in chosen if name not in outputs]
        if not chosen:
            raise ValueError(
                f"no layer left: the only layers with {_quantity_phrase(quantity)} are the output layers "
                f"{sorted(set(outputs))}, and exclude_outputs=True leaves them out; pass exclude_outputs=False."
            )
    else:
        if isinstance(layer_names, str):
            layer_names = [layer_names]
        try:
            chosen = list(layer_names)
        except TypeError:
            raise TypeError(
                f"layer_names={layer_names!r} must be a list of layer names such as {available[:2]}, or None."
            ) from None
        if not chosen:
            raise ValueError(f"layer_names is empty; give at least one of {available}, or None for all of them.")
        for name in chosen:
            if not isinstance(name, str):
                raise TypeError(f"layer_names must hold layer names (str), got {name!r}; valid names: {available}.")
            if name not in all_layers:
                raise ValueError(
                    f"layer_names contains {name!r}, which is not a layer of this model; "
                    f"valid names: {available}."
                )
            if name not in available:
                raise ValueError(
                    f"layer_names contains {name!r}, which has no {_quantity_phrase(quantity)} "
                    f"(e.g. a layer without variables or with a linear activation); valid names: {available}."
                )
        duplicates = sorted({name for name in chosen if chosen.count(name) > 1})
        if duplicates:
            raise ValueError(f"layer_names={chosen!r} repeats {duplicates}; give each layer once.")
    if include_inputs:
        chosen.insert(0, INPUTS_LABEL)
    return tuple(chosen)


def _reader(replay: Replay, quantity: str, layers: Sequence[str]):
    """A function ``epoch -> list of flattened float64 arrays, one per layer``."""
    if quantity in ("weights", "gradients"):
        read = replay.weights_at if quantity == "weights" else replay.gradients_at

        def values(epoch: int) -> list[np.ndarray]:
            nested = read(epoch)
            return [kernel_values(nested[name]) for name in layers]

        return values

    inputs = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in structure.leaves(replay.inputs)])
    before = quantity == "z"

    def values(epoch: int) -> list[np.ndarray]:
        return [inputs if name == INPUTS_LABEL else
                np.asarray(replay.outputs_at(epoch, name, before_activation=before), dtype=np.float64).ravel()
                for name in layers]

    return values


def layer_values(
    replay: Replay,
    quantity: str,
    epoch: int,
    *,
    layer_names: Sequence[str] | str | None = None,
    include_inputs: bool = False,
    exclude_outputs: bool = True,
) -> dict[str, np.ndarray]:
    """Every value of ``quantity`` per layer at one epoch, flattened (float64).

    Parameters
    ----------
    replay : Replay
        The recording.
    quantity : {'weights', 'gradients', 'activations', 'z'}
        What to read (see the module notes for the variables used).
    epoch : int
        A recorded epoch.
    layer_names, include_inputs, exclude_outputs
        Layer selection, as in :func:`select_layers`.

    Returns
    -------
    dict of str to ndarray
        ``{layer: values}`` in the selected order.
    """
    layers = select_layers(replay, quantity, layer_names, include_inputs=include_inputs,
                           exclude_outputs=exclude_outputs)
    epoch = _check_epoch(replay, epoch)
    return dict(zip(layers, _reader(replay, quantity, layers)(epoch)))


# -- statistics over epochs ----------------------------------------------------------------------------
def layer_std(
    replay: Replay,
    quantity: str,
    layer_names: Sequence[str] | str | None = None,
    *,
    include_inputs: bool = False,
    exclude_outputs: bool = True,
    epoch_start: int | None = None,
    epoch_end: int | None = None,
) -> LayerStatistics:
    """Standard deviation of ``quantity`` per layer and epoch (``np.std``, population).

    Parameters
    ----------
    replay : Replay
        The recording.
    quantity : {'weights', 'gradients', 'activations', 'z'}
        What to measure.
    layer_names : list of str, optional
        Layers to measure (default: every layer with ``quantity`` recorded).
    include_inputs, exclude_outputs
        Layer selection, as in :func:`select_layers`.
    epoch_start, epoch_end : int, optional
        Inclusive range of recorded epochs (``None``: first / last).

    Returns
    -------
    LayerStatistics
    """
    layers = select_layers(replay, quantity, layer_names, include_inputs=include_inputs,
                           exclude_outputs=exclude_outputs)
    epochs = replay.epoch_range(epoch_start, epoch_end)
    read = _reader(replay, quantity, layers)
    values = std_per_layer((read(int(epoch)) for epoch in epochs), len(layers))
    return LayerStatistics(frozen(np.asarray(epochs).copy()), layers, frozen(values))


def weights_std(
    replay: Replay,
    layer_names: Sequence[str] | str | None = None,
    *,
    exclude_outputs: bool = True,
    epoch_start: int | None = None,
    epoch_end: int | None = None,
) -> LayerStatistics:
    """Standard deviation of each layer's weights (its kernel) per epoch.

    Parameters
    ----------
    replay : Replay
        The recording.
    layer_names : list of str, optional
        Layers to measure (default: every layer with weights, in model order).
    exclude_outputs : bool, default True
        Leave out the model's output layer when ``layer_names`` is None.
    epoch_start, epoch_end : int, optional
        Inclusive range of recorded epochs (``None``: first / last).

    Returns
    -------
    LayerStatistics
        ``epochs (E,)``, ``layers (L,)``, ``values (E, L)``.

    Examples
    --------
    >>> epochs, layers, values = weights_std(replay)  # doctest: +SKIP
    """
    return layer_std(replay, "weights", layer_names, exclude_outputs=exclude_outputs,
                     epoch_start=epoch_start, epoch_end=epoch_end)


def gradients_std(
    replay: Replay,
    layer_names: Sequence[str] | str | None = None,
    *,
    exclude_outputs: bool = True,
    epoch_start: int | None = None,
    epoch_end: int | None = None,
) -> LayerStatistics:
    """Standard deviation of each layer's recorded gradients (of its kernel) per epoch.

    Parameters
    ----------
    replay : Replay
        The recording.
    layer_names : list of str, optional
        Layers to measure (default: every layer with gradients, in model order).
    exclude_outputs : bool, default True
        Leave out the model's output layer when ``layer_names`` is None.
    epoch_start, epoch_end : int, optional
        Inclusive range of recorded epochs (``None``: first / last).

    Returns
    -------
    LayerStatistics
        ``epochs (E,)``, ``layers (L,)``, ``values (E, L)``.
    """
    return layer_std(replay, "gradients", layer_names, exclude_outputs=exclude_outputs,
                     epoch_start=epoch_start, epoch_end=epoch_end)


def std_ratio(
    replay: Replay,
    layer_names: Sequence[str] | str | None = None,
    *,
    exclude_outputs: bool = True,
    epoch_start: int | None = None,
    epoch_end: int | None = None,
) -> LayerStatistics:
    """Ratio of the gradients' to the weights' standard deviation, per layer and epoch.

    A rough measure of how fast each layer learns at a given learning rate:
    an SGD step changes the weights by about ``learning_rate * ratio`` of
    their own spread.  NaN where the weights' standard deviation is 0 (e.g.
    a layer initialised with zeros).

    Parameters
    ----------
    replay : Replay
        The recording (weights and gradients recorded).
    layer_names : list of str, optional
        Layers to measure (default: every layer with weights and gradients).
    exclude_outputs : bool, default True
        Leave out the model's output layer when ``layer_names`` is None.
    epoch_start, epoch_end : int, optional
        Inclusive range of recorded epochs (``None``: first / last).

    Returns
    -------
    LayerStatistics
        ``epochs (E,)``, ``layers (L,)``, ``values (E, L)``.
    """
    grads = gradients_std(replay, layer_names, exclude_outputs=exclude_outputs,
                          epoch_start=epoch_start, epoch_end=epoch_end)
    weights = weights_std(replay, list(grads.layers), epoch_start=epoch_start, epoch_end=epoch_end)
    return LayerStatistics(grads.epochs, grads.layers, frozen(std_ratio_values(grads.values, weights.values)))


# -- distributions (what the violins draw) ---------------------------------------------------------------
def layer_distributions(
    replay: Replay,
    quantity: str,
    layer_names: Sequence[str] | str | None = None,
    *,
    include_inputs: bool = False,
    exclude_outputs: bool = True,
    epoch_start: int | None = None,
    epoch_end: int | None = None,
    ylim: tuple[float, float] | None = None,
    bins: int = 50,
) -> LayerDistributionData:
    """Histograms of ``quantity`` for every selected layer and epoch, on one shared scale.

    Parameters
    ----------
    replay : Replay
        The recording.
    quantity : {'weights', 'gradients', 'activations', 'z'}
        What to examine.
    layer_names : list of str, optional
        Layers to examine (default: every layer with ``quantity`` recorded).
    include_inputs, exclude_outputs
        Layer selection, as in :func:`select_layers`.
    epoch_start, epoch_end : int, optional
        Inclusive range of recorded epochs (``None``: first / last).
    ylim : (float, float), optional
        The value range of the histograms.  By default the range of every
        value of every selected layer over every selected epoch, padded by
        5%, so layers and epochs are drawn on one scale.
    bins : int, default 50
        Number of histogram bins over ``ylim``.

    Returns
    -------
    LayerDistributionData
    """
    layers = select_layers(replay, quantity, layer_names, include_inputs=include_inputs,
                           exclude_outputs=exclude_outputs)
    bins = check_bins(bins)
    if ylim is not None:
        ylim = compute.check_limits("ylim", ylim)
    epochs = replay.epoch_range(epoch_start, epoch_end)
    read = _reader(replay, quantity, layers)
    if ylim is None:
        ylim = padded_range(*finite_range(read(int(epoch)) for epoch in epochs))
    edges = np.linspace(ylim[0], ylim[1], bins + 1)
    counts, quartiles, std = histograms((read(int(epoch)) for epoch in epochs), edges, len(epochs), len(layers))
    return LayerDistributionData(
        quantity=quantity,
        epochs=frozen(np.asarray(epochs).copy()),
        layers=layers,
        edges=frozen(edges),
        counts=frozen(counts),
        quartiles=frozen(quartiles),
        std=frozen(std),
        ylim=(float(ylim[0]), float(ylim[1])),
    )


# -- comparing recordings -------------------------------------------------------------------------------------
def ratio_table(
    replays: Mapping[str, Replay],
    epoch: int = 0,
    *,
    layer_names: Sequence[str] | str | None = None,
    exclude_outputs: bool = True,
) -> RatioTable:
    """The gradient/weight standard deviation ratio per layer of several recordings (the post's table).

    Parameters
    ----------
    replays : mapping of str to Replay
        One recording per case, by the name to show (e.g. ``{"Tanh - Glorot
        normal": replay, ...}``); the order is kept.
    epoch : int, default 0
        The epoch to compare (0: the initial state).
    layer_names : list of str, optional
        Layers to compare; by default every layer with weights and gradients
        of the first recording, which every other recording must have too.
    exclude_outputs : bool, default True
        Leave out the output layer when ``layer_names`` is None.

    Returns
    -------
    RatioTable
    """
    if not isinstance(replays, Mapping):
        raise TypeError(
            f"replays must be a mapping {{case name: Replay}}, got {type(replays).__name__}; "
            "e.g. {'Tanh - Glorot normal': replay_a, 'ReLU - He normal': replay_b}."
        )
    if not replays:
        raise ValueError("replays is empty; give at least one {case name: Replay}.")
    cases = []
    for case in replays:
        if not isinstance(case, str):
            raise TypeError(f"replays keys must be case names (str), got {case!r}.")
        cases.append(case)
    first = replays[cases[0]]
    layers = select_layers(first, "gradients", layer_names, exclude_outputs=exclude_outputs)
    rows = []
    for case in cases:
        replay = replays[case]
        _check_replay(replay)
        missing = [name for name in layers if name not in replay.layer_names]
        if missing:
            raise ValueError(
                f"the recording of case {case!r} has no layers {missing} (its layers: {list(replay.layer_names)}); "
                "compare recordings of models with the same layer names, or pass layer_names= with layers "
                "they all have."
            )
        _check_epoch(replay, epoch)
        rows.append(std_ratio(replay, list(layers), epoch_start=int(epoch), epoch_end=int(epoch)).values[0])
    return RatioTable(epoch=int(epoch), cases=tuple(cases), layers=layers, values=frozen(np.array(rows)))
