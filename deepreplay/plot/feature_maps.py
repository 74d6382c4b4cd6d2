"""What a convolutional layer sees and what it looks for: feature maps and filters.

* :class:`FeatureMaps`: for a few probe samples (default: one per class),
  the output channels of a convolutional (or pooling) layer as a grid of
  small images, one row per sample, one column per channel, the sample
  itself in the first column when the inputs are images.
* :class:`Filters`: the kernels of a convolutional layer (default: the
  first) as small images, one column per filter, one row per input channel.

Each is one image on one Axes (a mosaic of the small images, white gaps
between them, see :func:`deepreplay.compute.mosaic`), updated in place per
epoch, with a colour scale fixed over the epochs: frames compare, and a map
that fades or a kernel that sharpens is seen as such.  The scale is clipped
at the 99.5th percentile of the values (:func:`deepreplay.compute.robust_limits`)
so a few extreme pixels do not wash every image out; kernels use a
diverging scale centred on 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib import colormaps

from .. import compute
from ..storage import NESTED_LAYER_SEPARATOR
from .base import Plotter
from .common import check_axes, check_class_names, check_title, model_task, resolve_class_names

if TYPE_CHECKING:
    from ..replay import Replay

__all__ = ["FeatureMaps", "FeatureMapsData", "Filters", "FiltersData", "conv_layers", "image_layers"]

#: Colour map of the feature maps (white gaps between them).
MAP_CMAP = "viridis"
#: Colour map of the kernels: negative weights blue, positive red, 0 white.
KERNEL_CMAP = "RdBu_r"
#: Colour map of the probe samples when their inputs are one-channel images.
INPUT_CMAP = "gray_r"
#: Channels (or filters) drawn by default; more would not be legible in one panel.
MAX_CHANNELS = 16
#: Probe samples drawn by default (one per class for up to this many classes).
MAX_SAMPLES = 10
#: Layers whose kernels :class:`Filters` draws (their kernel is (..., in, out)).
KERNEL_LAYERS = ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "Conv2DTranspose", "Conv1DTranspose")


# -- which layers ------------------------------------------------------------------------------------
def conv_layers(replay: Replay) -> list[str]:
    """Names of the model's layers whose kernels :class:`Filters` can draw, in model order."""
    names = set(replay.layer_names)
    return [name for name, kind in replay.layer_kinds.items() if kind in KERNEL_LAYERS and name in names]


def image_layers(replay: Replay) -> list[str]:
    """Layers whose recorded activations are maps with channels (per sample (H, W, C) or (L, C)), in model order.

    These are the layers :class:`FeatureMaps` can draw: convolutions, their
    pooling, normalisation and activation layers.  Dense and recurrent
    layers of sequences are left out (only layers of the model's kinds of
    convolution, pooling, normalisation or activation count).
    """
    kinds = replay.layer_kinds
    recorded = replay.reader.output_layers("activations")
    epoch = int(replay.epochs[0])
    found = []
    for name in recorded:
        kind = kinds.get(name, "")
        if not any(word in kind for word in ("Conv", "Pooling", "Normalization", "Activation", "ReLU",
                                             "Dropout")):
            continue
        if "Global" in kind:
            continue
        shape = np.shape(replay.outputs_at(epoch, name))[1:]
        if len(shape) in (2, 3) and shape[-1] >= 1 and min(shape) >= 1:
            found.append(name)
    return found


def _data_format(replay: Replay, layer_name: str) -> str:
    try:
        return str(replay.model.get_layer(layer_name).get_config().get("data_format") or "channels_last")
    except (ValueError, AttributeError):
        return "channels_last"


def _as_maps(values: np.ndarray, data_format: str) -> np.ndarray:
    """Per-sample outputs as (n, C, h, w) images: (H, W, C) maps, or (L, C) sequences as strips of height 1."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 3:  # (n, L, C) or (n, C, L)
        values = values[:, None, :, :] if data_format != "channels_first" else values[:, :, None, :]
        data_format = "channels_last" if data_format != "channels_first" else "channels_first"
    if data_format == "channels_first":
        return values
    return np.moveaxis(values, -1, 1)


def _strip_height(h: int, w: int) -> int:
    """Rows to repeat a 1-pixel strip to, so a sequence's map is not a hairline next to square maps."""
    return 1 if h > 1 else max(1, round(w / 6))


def _check_ints(name: str, values: object, upper: int) -> list[int] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(f"{name}={values!r} must be a sequence of integers or None.")
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name}={values!r} must be a sequence of integers or None.")
        if not 0 <= v < upper:
            raise ValueError(f"{name}={list(values)!r}: {int(v)} is out of range; valid values are 0..{upper - 1}.")
        out.append(int(v))
    if not out:
        raise ValueError(f"{name}=[] is empty; give at least one, or None for the default.")
    if len(set(out)) != len(out):
        raise ValueError(f"{name}={out!r} has repeated values; give each once.")
    return out


def _check_max(name: str, value: object) -> int:
    return compute.check_resolution(name, value, minimum=1)


# -- feature maps -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureMapsData:
    """Everything the feature-map visual shows, one mosaic per epoch.

    Attributes
    ----------
    epochs : ndarray of int, shape (E,)
    layer_name : str
    samples : ndarray of int, shape (P,)
        The probe samples: positions among the recorded samples (rows of
        ``replay.inputs``).
    sample_labels : tuple of str
        One row label per probe sample ("class 3 (#12)": its class and position).
    channels : ndarray of int, shape (C,)
        The channels shown (columns), of ``n_channels``.
    n_channels : int
    tile_shape : (int, int)
        Height and width of one map in the mosaic.
    mosaic : ndarray of float32, shape (E, P * (h + 1) - 1, C * (w + 1) - 1)
        The maps of every epoch laid out as one image (NaN in the gaps).
    limits : (float, float)
        The colour scale, fixed over the epochs.
    inputs : ndarray, shape (P, H, W) or (P, H, W, 3), or None
        The probe samples' images, drawn in a first column, when the inputs
        are images.
    """

    epochs: np.ndarray
    layer_name: str
    samples: np.ndarray
    sample_labels: tuple[str, ...]
    channels: np.ndarray
    n_channels: int
    tile_shape: tuple[int, int]
    mosaic: np.ndarray
    limits: tuple[float, float]
    inputs: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.mosaic) != len(self.epochs):
            raise ValueError(f"mosaic has {len(self.mosaic)} entries for {len(self.epochs)} epochs.")
        for name in ("epochs", "samples", "channels", "mosaic", "inputs"):
            value = getattr(self, name)
            if value is not None:
                array = np.array(value)
                array.setflags(write=False)
                object.__setattr__(self, name, array)

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


def default_probes(labels: np.ndarray | None, available: np.ndarray, *, limit: int = MAX_SAMPLES) -> np.ndarray:
    """One probe sample per class (the first available of each, up to ``limit`` classes), else the first ``limit``.

    Parameters
    ----------
    labels : array of int, shape (n,), or None
        Class of every recorded sample (None for a regression).
    available : array of int
        Positions of the samples whose outputs were recorded.
    """
    available = np.asarray(available)
    if labels is None:
        return available[:limit]
    chosen = []
    for c in np.unique(np.asarray(labels)[available])[:limit]:
        chosen.append(available[np.asarray(labels)[available] == c][0])
    return np.array(chosen, dtype=np.int64)


def _input_images(replay: Replay, samples: np.ndarray, maps_are_images: bool,
                  data_format: str = "channels_last") -> np.ndarray | None:
    """The probe samples as images to show, or None when the inputs (or the maps) are not images.

    Inputs of four dimensions are (n, H, W, C), or (n, C, H, W) when the layer shown reads ``channels_first``.
    """
    inputs = replay.inputs
    if not maps_are_images or not isinstance(inputs, np.ndarray) or inputs.ndim not in (3, 4):
        return None
    images = np.asarray(inputs[samples], dtype=np.float64)
    if images.ndim == 4 and data_format == "channels_first":
        images = np.moveaxis(images, 1, -1)
    if images.ndim == 4:
        if images.shape[-1] == 1:
            images = images[..., 0]
        elif images.shape[-1] == 3:
            low, high = np.nanmin(images), np.nanmax(images)
            images = (images - low) / (high - low) if high > low else np.zeros_like(images)
        else:
            return None
    return images


class _MosaicPlotter(Plotter):
    """What the two visuals share: one mosaic image, updated per epoch, with tick labels per tile."""

    cmap: str = MAP_CMAP

    def _draw_mosaic(self, first: np.ndarray, limits: tuple[float, float], tile: tuple[int, int],
                     columns: Sequence[str], rows: Sequence[str], *, left: float = 0.0) -> None:
        ax = self.ax
        h, w = tile
        height, width = first.shape
        cmap = colormaps[self.cmap].with_extremes(bad="white")
        self.image = ax.imshow(first, cmap=cmap, vmin=limits[0], vmax=limits[1], interpolation="nearest",
                               extent=(0, width, height, 0), aspect="equal")
        ax.set_xlim(left, width)
        ax.set_ylim(height, 0)
        ax.set_xticks([j * (w + 1) + w / 2 for j in range(len(columns))])
        ax.set_xticklabels(columns, fontsize="x-small" if len(columns) > 8 else "small")
        ax.set_yticks([i * (h + 1) + h / 2 for i in range(len(rows))])
        ax.set_yticklabels(rows, fontsize="x-small" if len(rows) > 6 else "small")
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        # The colour bar beside the image itself (an inset: it follows the image box in any layout).
        bar = ax.inset_axes((1.03, 0.0, 0.04, 1.0))
        self.colorbar = ax.figure.colorbar(self.image, cax=bar)
        self.colorbar.ax.tick_params(labelsize="x-small")
        self.colorbar.outline.set_visible(False)

    def _update(self, epoch: int) -> list[Artist]:
        self.image.set_data(self.data.mosaic[self.data.index(epoch)])
        return [self.image]


class FeatureMaps(_MosaicPlotter):
    """The output channels of a convolutional layer for a few probe samples, epoch by epoch.

    Build it with :meth:`deepreplay.replay.Replay.build_feature_maps`.  One
    row per probe sample (its image first, when the inputs are images), one
    column per channel; one colour scale for every map and epoch.

    Parameters
    ----------
    ax : Axes
    data : FeatureMapsData
    title : str, optional
    """

    cmap = MAP_CMAP

    def __init__(self, ax: Axes, data: FeatureMapsData, *, title: str | None = None) -> None:
        if not isinstance(data, FeatureMapsData):
            raise TypeError(f"data must be a FeatureMapsData, got {type(data).__name__}; or build the visual "
                            "with replay.build_feature_maps(ax, layer_name).")
        check_title(title)
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        if title is None:
            title = f"Feature Maps - Layer: {data.layer_name}"
            if len(data.channels) < data.n_channels:
                title += f"\n(channels {data.channels[0]}..{data.channels[-1]} of {data.n_channels})"
        self.title = title

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, layer_name: str | None = None, *,
                    samples: Sequence[int] | None = None, channels: Sequence[int] | None = None,
                    max_channels: int = MAX_CHANNELS, class_names: Sequence[str] | None = None,
                    epoch_start: int | None = None, epoch_end: int | None = None,
                    title: str | None = None) -> FeatureMaps:
        """Collect the probe samples' maps of ``layer_name`` at every epoch in range and attach them to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
            Drawn on, never cleared.
        layer_name : str, optional
            A layer whose outputs are maps with channels (convolution,
            pooling, ...); default: the first such layer with recorded
            activations.
        samples : sequence of int, optional
            The probe samples, as positions among the recorded samples (rows
            of ``replay.inputs``) whose outputs of this layer were recorded
            (``replay.output_rows(layer_name)``).  Default: the recording's
            probe samples when it has some (``replay.probe_indices``), else one
            per class (the first recorded of each, up to 10 classes), else the
            first 10.
        channels : sequence of int, optional
            The channels to show (default: the first ``max_channels``).
        max_channels : int, default 16
        class_names : sequence of str, optional
            Names of the classes in the row labels.
        epoch_start, epoch_end : int, optional
            Inclusive epoch range (``None``: first / last recorded).
        title : str, optional

        Raises
        ------
        ValueError
            No layer with maps, the layer's outputs are not maps or were not
            recorded, probe samples whose outputs were not recorded, bad
            options.
        """
        check_axes(ax)
        check_title(title)
        max_channels = _check_max("max_channels", max_channels)
        class_names = check_class_names(class_names)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        candidates = image_layers(replay)
        if layer_name is None:
            if not candidates:
                raise ValueError("this recording has no layer whose outputs are maps with channels (convolution, "
                                 "pooling) and were recorded, so there are no feature maps to draw.")
            layer_name = candidates[0]
        if not isinstance(layer_name, str):
            raise TypeError(f"layer_name={layer_name!r} must be the name of a layer (a string) or None.")
        if layer_name not in candidates:
            raise ValueError(
                f"layer_name={layer_name!r}: its recorded outputs are not maps with channels (per sample (H, W, C) "
                f"or (L, C)), or they were not recorded; layers with feature maps: {candidates or 'none'}."
            )
        available = np.asarray(replay.output_rows(layer_name))
        targets = replay.targets
        n = len(targets) if isinstance(targets, np.ndarray) else int(available.max()) + 1
        samples = _check_ints("samples", samples, n)
        task, _ = model_task(replay) if replay.reader.has("predictions") else (None, False)
        classification = task is not None and task.is_classification
        labels = compute.class_labels(replay.targets) if classification else None
        names = resolve_class_names(class_names, task) if classification else None
        if samples is None:
            # The recording's own probe samples when it chose some (ReplayData(probe_samples=...)), else
            # one per class among the samples whose outputs of this layer were recorded.
            chosen_probes = getattr(replay, "probe_indices", None)
            chosen_probes = None if chosen_probes is None else \
                [int(p) for p in np.asarray(chosen_probes) if int(p) in set(available.tolist())]
            probes = np.array(chosen_probes[:MAX_SAMPLES], dtype=np.int64) if chosen_probes else \
                default_probes(labels, available)
        else:
            missing = sorted(set(samples) - set(available.tolist()))
            if missing:
                shown = available[:12].tolist()
                raise ValueError(
                    f"samples={samples!r}: the outputs of layer {layer_name!r} were not recorded for sample(s) "
                    f"{missing}; recorded for {len(available)} sample(s): {shown}{' ...' if len(available) > 12 else ''}. "
                    "Choose among those, or record every sample with ReplayData(..., output_samples=None)."
                )
            probes = np.array(samples, dtype=np.int64)
        position = {int(row): i for i, row in enumerate(available)}
        take = [position[int(p)] for p in probes]
        data_format = _data_format(replay, layer_name)

        def maps_at(epoch: int) -> np.ndarray:
            return _as_maps(np.asarray(replay.outputs_at(int(epoch), layer_name))[take], data_format)

        first = maps_at(int(epochs[0]))
        n_channels = first.shape[1]
        chosen = _check_ints("channels", channels, n_channels)
        chosen = np.array(chosen if chosen is not None else range(min(n_channels, max_channels)), dtype=np.int64)
        h, w = first.shape[2:]
        rep = _strip_height(h, w)
        tiles = []
        for epoch in epochs:
            maps = maps_at(int(epoch))[:, chosen]
            tiles.append(np.repeat(maps, rep, axis=2) if rep > 1 else maps)
        tiles = np.stack(tiles)
        mosaic = compute.mosaic(tiles)
        limits = compute.robust_limits([tiles])
        sample_labels = tuple(
            f"{names[int(labels[p])]} (#{int(p)})" if labels is not None else f"#{int(p)}" for p in probes)
        data = FeatureMapsData(epochs=epochs, layer_name=layer_name, samples=probes, sample_labels=sample_labels,
                               channels=chosen, n_channels=n_channels, tile_shape=(h * rep, w), mosaic=mosaic,
                               limits=limits,
                               inputs=_input_images(replay, probes, first.ndim == 4 and h > 1, data_format))
        return cls(ax, data, title=title)

    def _create_artists(self) -> None:
        ax, d = self.ax, self.data
        h, w = d.tile_shape
        left = 0.0
        self.inputs: list[Artist] = []
        columns = [str(c) for c in d.channels]
        if d.inputs is not None:
            # The sample itself, left of its maps, on its own grey scale (static).
            left = -(w + 2.0)
            for i, image in enumerate(d.inputs):
                top = i * (h + 1)
                self.inputs.append(ax.imshow(image, cmap=INPUT_CMAP, interpolation="nearest",
                                             extent=(left, left + w, top + h, top), aspect="equal"))
        self._draw_mosaic(d.mosaic[0], d.limits, d.tile_shape, columns, d.sample_labels, left=left)
        if d.inputs is not None:
            ticks = list(ax.get_xticks())
            ax.set_xticks([left + w / 2, *ticks])
            ax.set_xticklabels(["input", *columns], fontsize="x-small" if len(columns) > 8 else "small")
        ax.set_xlabel("channel")
        ax.set_title(self.title)
        self.colorbar.set_label("activation", fontsize="x-small")


# -- filters --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FiltersData:
    """Everything the filters visual shows, one mosaic per epoch.

    Attributes
    ----------
    epochs : ndarray of int, shape (E,)
    layer_name : str
    kernel_shape : tuple of int
        The kernel's recorded shape.
    filters : ndarray of int, shape (F,)
        The filters (output channels) shown, columns of the mosaic.
    n_filters : int
    in_channels : ndarray of int, shape (I,)
        The input channels shown, rows of the mosaic.
    n_in_channels : int
    tile_shape : (int, int)
    mosaic : ndarray of float32, shape (E, I * (kh + 1) - 1, F * (kw + 1) - 1)
    limits : (float, float)
        The diverging colour scale, symmetric around 0, fixed over epochs.
    wrap : int or None
        With one input channel, the filters wrap onto rows of this many
        (a near-square grid, each labelled with its number); None: one
        column per filter, one row per input channel.
    """

    epochs: np.ndarray
    layer_name: str
    kernel_shape: tuple[int, ...]
    filters: np.ndarray
    n_filters: int
    in_channels: np.ndarray
    n_in_channels: int
    tile_shape: tuple[int, int]
    mosaic: np.ndarray
    limits: tuple[float, float]
    wrap: int | None = None

    def __post_init__(self) -> None:
        if len(self.mosaic) != len(self.epochs):
            raise ValueError(f"mosaic has {len(self.mosaic)} entries for {len(self.epochs)} epochs.")
        for name in ("epochs", "filters", "in_channels", "mosaic"):
            array = np.array(getattr(self, name))
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def index(self, epoch: int) -> int:
        """Position of ``epoch`` along the leading axis."""
        return int(np.flatnonzero(self.epochs == epoch)[0])


def kernel_tiles(kernel: np.ndarray, kind: str) -> np.ndarray:
    """A convolution kernel as images, shape (in_channels, filters, kh, kw).

    Keras kernels are (kh, kw, in, out) for Conv2D and DepthwiseConv2D
    (``out`` is the depth multiplier), (k, in, out) for Conv1D (drawn as
    strips of height 1) and (kh, kw, out, in) for the transposed convolutions.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim == 3:
        kernel = kernel[None]  # (1, k, in, out)
    if kernel.ndim != 4:
        raise ValueError(f"a kernel of shape {kernel.shape} is not a 1-D or 2-D convolution kernel.")
    if "Transpose" in kind:
        kernel = np.swapaxes(kernel, 2, 3)
    return np.transpose(kernel, (2, 3, 0, 1))


class Filters(_MosaicPlotter):
    """The kernels of a convolutional layer as small images, epoch by epoch.

    Build it with :meth:`deepreplay.replay.Replay.build_filters`.  One column
    per filter, one row per input channel (an RGB input has three); blue
    negative, red positive weights, white 0, on one scale for every epoch.

    Parameters
    ----------
    ax : Axes
    data : FiltersData
    title : str, optional
    """

    cmap = KERNEL_CMAP

    def __init__(self, ax: Axes, data: FiltersData, *, title: str | None = None) -> None:
        if not isinstance(data, FiltersData):
            raise TypeError(f"data must be a FiltersData, got {type(data).__name__}; or build the visual with "
                            "replay.build_filters(ax).")
        check_title(title)
        super().__init__([ax], data.epochs)
        self.ax = ax
        self.data = data
        if title is None:
            kh, kw = data.tile_shape
            title = f"Filters - Layer: {data.layer_name}"
            title += f"\n({kh}x{kw} kernels" if len(data.kernel_shape) == 4 else f"\n(length-{kw} kernels"
            if len(data.filters) < data.n_filters:
                title += f", filters {data.filters[0]}..{data.filters[-1]} of {data.n_filters}"
            title += ")"
        self.title = title

    @classmethod
    def from_replay(cls, replay: Replay, ax: Axes, layer_name: str | None = None, *,
                    filters: Sequence[int] | None = None, max_filters: int = 32, max_in_channels: int = 3,
                    epoch_start: int | None = None, epoch_end: int | None = None,
                    title: str | None = None) -> Filters:
        """Read the kernels of ``layer_name`` at every epoch in range and attach them to ``ax``.

        Parameters
        ----------
        replay : Replay
        ax : Axes
            Drawn on, never cleared.
        layer_name : str, optional
            A Conv1D, Conv2D, DepthwiseConv or transposed convolution layer;
            default: the first one of the model.
        filters : sequence of int, optional
            The filters (output channels) to show (default: the first
            ``max_filters``).
        max_filters : int, default 32
        max_in_channels : int, default 3
            Rows: the first input channels (a deeper layer has many; its
            kernels are best read on the first layer's).
        epoch_start, epoch_end : int, optional
        title : str, optional

        Raises
        ------
        ValueError
            No convolution layer, weights not recorded, bad options.
        """
        check_axes(ax)
        check_title(title)
        max_filters = _check_max("max_filters", max_filters)
        max_in_channels = _check_max("max_in_channels", max_in_channels)
        epochs = replay.epoch_range(epoch_start, epoch_end)
        candidates = conv_layers(replay)
        if layer_name is None:
            if not candidates:
                raise ValueError("this model has no convolution layer (Conv1D, Conv2D, DepthwiseConv, "
                                 "Conv2DTranspose), so there are no filters to draw.")
            layer_name = candidates[0]
        if not isinstance(layer_name, str):
            raise TypeError(f"layer_name={layer_name!r} must be the name of a layer (a string) or None.")
        if layer_name not in candidates:
            raise ValueError(f"layer_name={layer_name!r} is not a convolution layer whose kernels can be drawn; "
                             f"convolution layers: {candidates or 'none'}.")
        kind = replay.layer_kinds[layer_name]
        key = "kernel"

        # A layer inside a nested model or a user's layer ("stem/conv") has its weights recorded with its
        # holder's, under its path below it ("conv.kernel").
        holder, _, below = layer_name.partition(NESTED_LAYER_SEPARATOR)
        holder, key = (holder, f"{below.replace(NESTED_LAYER_SEPARATOR, '.')}.{key}") if below else (layer_name, key)

        def kernel_at(epoch: int) -> np.ndarray:
            weights = replay.weights_at(int(epoch))
            if holder not in weights or key not in weights[holder]:
                raise ValueError(f"the weights of layer {layer_name!r} were not recorded, so its filters cannot be "
                                 "drawn; record them with ReplayData(record=None) or include 'weights' in record=.")
            return weights[holder][key]

        first = kernel_at(int(epochs[0]))
        tiles0 = kernel_tiles(first, kind)
        n_in, n_filters = tiles0.shape[:2]
        chosen = _check_ints("filters", filters, n_filters)
        chosen = np.array(chosen if chosen is not None else range(min(n_filters, max_filters)), dtype=np.int64)
        rows = np.arange(min(n_in, max_in_channels))
        kh, kw = tiles0.shape[2:]
        rep = _strip_height(kh, kw)
        tiles = []
        for epoch in epochs:
            t = kernel_tiles(kernel_at(int(epoch)), kind)[rows][:, chosen]
            tiles.append(np.repeat(t, rep, axis=2) if rep > 1 else t)
        tiles = np.stack(tiles)
        limits = compute.robust_limits([tiles], symmetric=True)
        wrap = None
        if len(rows) == 1 and len(chosen) > 4:
            # One input channel (a grey image): the filters wrap onto a near-square grid.
            wrap = int(np.ceil(np.sqrt(len(chosen) * kw / (kh * rep))))
            n_rows = int(np.ceil(len(chosen) / wrap))
            padded = np.full((len(epochs), n_rows * wrap, kh * rep, kw), np.nan, dtype=np.float32)
            padded[:, :len(chosen)] = tiles[:, 0]
            tiles = padded.reshape(len(epochs), n_rows, wrap, kh * rep, kw)
        data = FiltersData(epochs=epochs, layer_name=layer_name, kernel_shape=tuple(first.shape), filters=chosen,
                           n_filters=n_filters, in_channels=rows, n_in_channels=n_in, tile_shape=(kh * rep, kw),
                           mosaic=compute.mosaic(tiles), limits=limits, wrap=wrap)
        return cls(ax, data, title=title)

    def _create_artists(self) -> None:
        d, ax = self.data, self.ax
        if d.wrap is None:
            rows = [f"in {c}" for c in d.in_channels]
            if d.n_in_channels > len(d.in_channels):
                rows[-1] += f" (of {d.n_in_channels})"
            self._draw_mosaic(d.mosaic[0], d.limits, d.tile_shape, [str(f) for f in d.filters], rows)
            ax.set_xlabel("filter")
        else:
            self._draw_mosaic(d.mosaic[0], d.limits, d.tile_shape, [], [])
            h, w = d.tile_shape
            self.labels = [ax.text((j % d.wrap) * (w + 1) + w / 2, (j // d.wrap) * (h + 1) + h + 0.1, str(f),
                                   ha="center", va="top", fontsize="x-small", color="0.3")
                           for j, f in enumerate(d.filters)]
            ax.set_ylim(d.mosaic.shape[1] + 0.6, 0)
            ax.set_xlabel("filter (number under each)")
        self.ax.set_title(self.title)
        self.colorbar.set_label("weight", fontsize="x-small")

