"""The HDF5 layout of a recording (schema versions 1 and 2).

This module is the only code in deepreplay that knows dataset and attribute
names.  Everything else goes through :class:`RecordingWriter` (used by the
:class:`~deepreplay.callbacks.ReplayData` callback) and
:class:`RecordingReader` (used by :class:`~deepreplay.replay.Replay`).

Layout of one group (see ``docs/format.md`` for the user-facing description)::

    /<group>                      attrs: format, format_version, complete, ...
        model_config              JSON string (``model.to_json()``)
        inputs, targets           the recorded samples: a dataset, or (several
                                  model inputs/outputs) a group of datasets
                                  by name (attrs: structure 'list'|'dict', order)
        sample_indices            positions of the recorded samples in the
                                  arrays given to the callback
        epochs       (E,)         epoch of each record (0 = before training); in a
                                  step-based recording, the training step
        steps        (E,)         step-based recordings only: training step of
                                  each record (0 = before training)
        epoch_fractions (E,)      step-based recordings only: epochs done at
                                  each record (2.5 = half-way through the third)
        probe_samples             rows of inputs whose feature maps are
                                  recorded (outputs of rank 4 or more)
        gradient_samples          rows of inputs the gradients are computed on,
                                  when not all of them (``gradient_samples=``)
        logs/<name>  (E,)         Keras logs of the epoch (NaN where unknown)
        evaluation/<name> (E,)    loss and metrics on the recorded samples,
                                  inference mode
        weights/<layer>/<var>     (E, *shape)
        gradients/<layer>/<var>   (E, *shape)
        outputs/<layer>/activations  (E, n, ...)  or (E, m, ...) for wide layers
        outputs/<layer>/z            (E, n, ...)  or (E, m, ...)
        outputs/<layer>/samples      (m,)  rows of inputs kept for a wide layer
        predictions  (E, n, k)    or, for several outputs, a group
                                  predictions/<output> (E, n, ...)
        losses       (E, n)       per-sample loss (several outputs: the
                                  weighted total)
        output_losses/<output> (E, n)  several outputs: each output's loss
        packed       (E, W)       version 2: the record's small arrays, one row
                                  per record (attr index: {path: [offset, shape]})
        scalars      (E, S)       version 2: the logs/* and evaluation/* series,
                                  one column each (attr index: {path: column})

Version 2 packs a record's small arrays into one dataset.  In a version 2
group the per-record arrays above that are float32, uncompressed and at most
:data:`PACK_MAX_BYTES` are columns of the one dataset ``packed`` instead of
datasets of their own: ``index`` maps the path each would have in version 1
(``weights/hidden/kernel``) to its first column and shape.  Why: every
dataset costs every record an extent change, a write, and an object header
and chunk-index nodes that HDF5 flushes into the write session and that the
session journals, flushes to the disk and writes back.  A Part 1 record was
20 datasets for 80 KiB of data: cProfile of the writer found ~0.9 ms in the
20 resizes and writes and ~0.9 ms in HDF5's flush of their metadata, against
~1 ms for the flushes to the disk; with its 14 arrays in ``packed`` and its
5 series in ``scalars`` (below) a Part 1 record is 3 datasets, and the
writer's CPU per record drops by 26-47% (``benchmarks/durability.py --only
packed``, interleaved with version 1).  Larger, compressed or float64 arrays, and arrays that
first appear after ``packed`` was created (its index never changes), keep
their own datasets.  The ``logs`` and ``evaluation`` series are likewise
columns of one float64 dataset ``scalars`` (their version 1 datasets each
rewrote a 1024-value chunk per record); a name seen for the first time adds
a column, which reads NaN in earlier records, as a new series did.
Readers take an array from wherever it is (:meth:`RecordingReader._array`),
read a record's row once for all its arrays, and the whole ``packed``
dataset once when a history is asked for (kept while it is small).  Version 1
groups (one dataset per array) are read as before, and a writer appending to
one continues it in version 1.

Every dataset with a record axis is resizable along it and chunked one record
per chunk, so appending never rewrites earlier records and reading one record
never reads the others.  The file is opened only while a record is written or
read, never held open between calls, and always through
:mod:`deepreplay.safe_io`: each write session is atomic (a kill or a full
disk leaves the file as it was before it) and locked against readers of other
processes.  A record counts once ``epochs`` and then the ``records``
attribute grew.  Readers refuse links, check attributes, structure, dtypes and
shapes before reading, and bound every read by the file's size.

Chunks compressed by ``compression="auto"`` (byte shuffle, then deflate
level 1) are compressed here and written with HDF5's direct chunk write when
ISA-L's deflate (the ``isal`` package) is installed, instead of passing
through HDF5's filter pipeline, which calls zlib: the same two filters, the
same standard zlib stream any HDF5 reads (the datasets declare the same
filters), but ISA-L deflates about 5x faster at the same ratio (2.10 vs 2.11
on a 1M-parameter MLP's rounded gradients, 5.4 vs 28 ms per 2 MiB chunk),
and the writer thread that compresses competes with training for the CPU
(see :func:`deflate_chunk`).  Without ``isal``, HDF5's filters do it.
Uncompressed records go as whole raw chunks too, where a record fills its
chunk (a packed row), a row is shorter than its chunk (a ``scalars`` row:
the rest is the fill value, as HDF5 stores it) or a series keeps its chunk
in memory (``epochs``: 1,024 records per chunk): through HDF5's chunk cache
a small row cost several times its write (see :func:`_raw_chunk`).

Layer, variable and metric names are escaped in link names (``/`` as
``%2F``...; see :func:`_encode`), so any name Keras allows can be stored.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import h5py
import numpy as np

from . import safe_io
from .errors import RecordingError

try:  # ISA-L's deflate, used for the chunks compression="auto" compresses (see deflate_chunk)
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - depends on the platform's wheels; HDF5's own filter then
    _isal_zlib = None

__all__ = [
    "AUTO_COMPRESSION_BYTES",
    "COMPRESSIONS",
    "FORMAT",
    "FORMAT_VERSION",
    "LEGACY_FORMAT",
    "LegacyRecording",
    "PACK_CACHE_BYTES",
    "PACK_MAX_BYTES",
    "PACK_SMALL_ARRAYS",
    "QUANTITIES",
    "RecordingError",
    "RecordingReader",
    "RecordingWriter",
    "UNPACKED_FORMAT_VERSION",
    "check_group_name",
    "check_writable_target",
    "is_legacy_recording",
    "legacy_groups",
    "list_groups",
    "read_keras2_model_file",
    "read_legacy_recording",
]

FORMAT = "deepreplay"
#: Newest schema version: 2 packs a record's small arrays into one dataset (see the module docstring).
FORMAT_VERSION = 2
#: Schema version of groups with one dataset per array (still read, and appended to as they are).
UNPACKED_FORMAT_VERSION = 1
#: Per-record float32 arrays stored uncompressed and at most this many bytes share the ``packed``
#: dataset in a version 2 group; larger or compressed arrays keep a dataset of their own.
PACK_MAX_BYTES = 64 * 1024
#: Whether :class:`RecordingWriter` creates new groups in the packed layout (version 2); False
#: writes version 1 groups (one dataset per array), as deepreplay did before.
PACK_SMALL_ARRAYS = True
#: A reader keeps the whole ``packed`` dataset in memory when it holds at most this many bytes.
PACK_CACHE_BYTES = 64 * 2**20

#: Quantities that can be recorded per record, in the order they are stored.
QUANTITIES = ("weights", "gradients", "activations", "z", "predictions", "losses")

# Dataset and group names: private to this module.
_MODEL_CONFIG = "model_config"
_INPUTS = "inputs"
_TARGETS = "targets"
_SAMPLE_INDICES = "sample_indices"
_PROBE_SAMPLES = "probe_samples"
_GRADIENT_SAMPLES = "gradient_samples"
_EPOCHS = "epochs"
_STEPS = "steps"
_EPOCH_FRACTIONS = "epoch_fractions"
_LOGS = "logs"
_EVALUATION = "evaluation"
_WEIGHTS = "weights"
_GRADIENTS = "gradients"
_OUTPUTS = "outputs"
_ACTIVATIONS = "activations"
_Z = "z"
_PREDICTIONS = "predictions"
_LOSSES = "losses"
_OUTPUT_LOSSES = "output_losses"
_PACKED = "packed"
_SCALARS = "scalars"
_ATTR_INDEX = "index"
#: Columns per chunk of the ``scalars`` dataset: a record's scalars are one chunk up to this many names.
_SCALAR_CHUNK = 64
_ATTR_STRUCTURE = "structure"
_ATTR_ORDER = "order"
_ATTR_OUTPUTS = "outputs"

_SAMPLES = "samples"

_ATTR_COMPLETE = "complete"
_ATTR_LAYERS = "layers"
_ATTR_LAYER_CLASSES = "layer_classes"
_ATTR_OUTPUT_ALIASES = "output_aliases"
_ATTR_QUANTITIES = "quantities"


#: Compression settings of :class:`RecordingWriter` (and ``ReplayData``).
COMPRESSIONS = ("auto", None, "gzip", "lzf")
#: With ``compression="auto"``, datasets whose record takes at least this many bytes are compressed.
AUTO_COMPRESSION_BYTES = 16 * 1024

# Every open of a file goes through safe_io: an atomic write session (all of it reaches the file,
# or nothing) under an exclusive lock, or a read under a shared one (see deepreplay/safe_io.py).
_h5_write = safe_io.open_write
_h5_read = safe_io.open_read

#: Attribute counting the records complete in every dataset (written last in each record).
_ATTR_RECORDS = "records"
#: Attribute set to a random token by the writer that created the group (see RecordingWriter).
_ATTR_WRITER = "writer_id"

# A read never returns more than this many bytes plus a multiple of the file's size: the bytes of
# an uncompressed dataset are in the file; gzip expands at most 1032:1.
_READ_SLACK_BYTES = 16 * 2**20
_MAX_EXPANSION = {False: 2, True: 1032}


#: The deflate level of compression="auto" (HDF5's gzip filter option), written by deflate_chunk.
AUTO_DEFLATE_LEVEL = 1


def shuffle_bytes(value: np.ndarray) -> np.ndarray:
    """The bytes of ``value`` as HDF5's shuffle filter orders them: byte 0 of every element, then byte 1..."""
    raw = np.ascontiguousarray(value).view(np.uint8).reshape(-1, value.dtype.itemsize)
    return np.ascontiguousarray(raw.T)


def deflate_chunk(value: np.ndarray) -> bytes | None:
    """One chunk holding ``value`` as HDF5's shuffle and deflate (level 1) filters store it, or None.

    A zlib stream (what HDF5's deflate filter writes and reads) of the
    shuffled bytes, compressed by ISA-L at its level 1 (the ratio of zlib's
    level 1, about 5x faster); None when ``isal`` is not installed.
    """
    if _isal_zlib is None:
        return None
    return _isal_zlib.compress(shuffle_bytes(value), 1)


def _writes_deflated(dataset: h5py.h5d.DatasetID) -> bool:
    """Whether :func:`deflate_chunk` gives the chunks of ``dataset``: its filters are exactly byte
    shuffle then deflate at :data:`AUTO_DEFLATE_LEVEL`, chunks of one record, and ISA-L is there."""
    if _isal_zlib is None:
        return False
    plist = dataset.get_create_plist()
    if plist.get_layout() != h5py.h5d.CHUNKED or tuple(plist.get_chunk())[1:] != dataset.shape[1:] \
            or plist.get_chunk()[0] != 1:
        return False
    filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
    return [f[0] for f in filters] == [h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE] \
        and tuple(filters[1][2]) == (AUTO_DEFLATE_LEVEL,)


#: h5py's lock around every call into HDF5 (``phil``), which its ``write_direct_chunk`` does not take
#: (h5py 3.14).  HDF5 is not built thread-safe: that call running in the writer thread while another thread
#: used h5py (a ``ModelCheckpoint`` saving weights at the epoch's end) broke HDF5's state, and the record
#: failed ("ring type mismatch occurred for cache entry"; tests/test_storage.py has that race).
_H5PY_LOCK = h5py._objects.phil


def _write_chunk(dataset: h5py.h5d.DatasetID, offsets: tuple[int, ...], data: Any) -> None:
    """``dataset.write_direct_chunk(offsets, data)`` under h5py's lock (see :data:`_H5PY_LOCK`)."""
    with _H5PY_LOCK:
        dataset.write_direct_chunk(offsets, data)


def _raw_chunk(dataset: h5py.h5d.DatasetID) -> np.ndarray | _SeriesChunk | None:
    """How the records of ``dataset`` are written as whole chunks of raw bytes (``write_direct_chunk``, not
    through HDF5's chunk cache, which costs several times more for a small record), or None.

    For unfiltered chunks whose fill value is defined: when a chunk holds one record, that chunk filled with
    the fill value (a record of its shape is written as its bytes; a row, rank 1, shorter than the chunk as
    the chunk with the row in front and the fill value after it); when a chunk holds several scalar records
    (a series: ``epochs``, one value per record), a :class:`_SeriesChunk`.  What is written is what HDF5
    would store there (see :meth:`RecordingWriter._append`).
    """
    plist = dataset.get_create_plist()
    if plist.get_layout() != h5py.h5d.CHUNKED or plist.get_nfilters() \
            or plist.fill_value_defined() == h5py.h5d.FILL_VALUE_UNDEFINED:
        return None
    fill = np.zeros((), dtype=dataset.dtype)
    plist.get_fill_value(fill)
    chunk = tuple(int(d) for d in plist.get_chunk())
    if chunk[0] == 1:
        return np.full(chunk[1:], fill, dtype=dataset.dtype)
    return _SeriesChunk(np.full(chunk, fill, dtype=dataset.dtype)) if len(chunk) == 1 else None


class _SeriesChunk:
    """The chunk of a series (one scalar per record, several records per chunk) that its records go into.

    Kept in memory while the writer's HDF5 ids are valid: each record sets its value and the whole chunk is
    written again (its earlier records, this one, the fill value after); a chunk not yet held is read from
    the file first (the records it already holds).
    """

    def __init__(self, fill: np.ndarray) -> None:
        self.fill = fill
        self.start = -1  # the first record of the chunk held (-1: none)
        self.values = fill

    def write(self, dataset: h5py.h5d.DatasetID, index: int, value: np.ndarray, stored: int) -> None:
        """Write the record ``index`` (``stored``: records the dataset held before this one)."""
        size = len(self.fill)
        start = index - index % size
        if start != self.start:
            values = self.fill.copy()
            held = min(stored, start + size) - start
            if held > 0:
                h5py.Dataset(dataset).read_direct(values, np.s_[start:start + held], np.s_[:held])
            self.start, self.values = start, values
        self.values[index - start] = value
        _write_chunk(dataset, (start,), self.values)


def compressed_bound(nbytes: int) -> int:
    """At least the bytes an array of ``nbytes`` bytes can take compressed, whatever its values.

    Deflate (HDF5's gzip filter) adds at most 5 bytes per stored block of
    up to 64 KiB plus 6 bytes of zlib wrapper (zlib's ``compressBound`` is
    ``n + n/4096 + n/16384 + 13``); LZF adds at most 1 byte per 32.  An
    eighth more plus 64 bytes covers both, with room to spare.
    """
    return nbytes + nbytes // 8 + 64


@functools.lru_cache(maxsize=4096)  # the same few names, at every record
def _encode(name: str) -> str:
    """A layer, variable or metric name as an HDF5 link name ('/', NUL, '%' and '.'/'..' escaped)."""
    out = name.replace("%", "%25").replace("/", "%2F").replace("\0", "%00")
    if out in (".", ".."):
        out = out.replace(".", "%2E")
    return out


def _decode(name: str) -> str:
    if "%" not in name:
        return name
    return re.sub(r"%(25|2F|00|2E)", lambda m: {"25": "%", "2F": "/", "00": "\0", "2E": "."}[m.group(1)], name)


#: Joins a nested model's recorded name and the name of a layer inside it (``inner/dense``).
#: Keras forbids ``/`` in layer names, so a joined name never equals a layer's own name; it is
#: escaped like any other name where it becomes a link name.
NESTED_LAYER_SEPARATOR = "/"


def nested_layer_name(container: str, layer: str) -> str:
    """The recorded name of ``layer`` inside the nested model recorded as ``container``."""
    return f"{container}{NESTED_LAYER_SEPARATOR}{layer}"


def _write_structure(g: h5py.Group, name: str, value: np.ndarray | list | dict) -> None:
    """One array as a dataset; a list or dict of arrays as a group of datasets, with their order."""
    if isinstance(value, (list, tuple, dict)):
        items = list(value.items()) if isinstance(value, dict) else [(str(i), v) for i, v in enumerate(value)]
        sub = g.create_group(name)
        sub.attrs[_ATTR_STRUCTURE] = "dict" if isinstance(value, dict) else "list"
        sub.attrs[_ATTR_ORDER] = json.dumps([key for key, _ in items])
        for key, array in items:
            sub.create_dataset(key, data=array)
    else:
        g.create_dataset(name, data=value)


def _structure_rows(node: h5py.Dataset | h5py.Group) -> set[int]:
    """The numbers of rows of the datasets of a structure (one number when it is sound)."""
    if isinstance(node, h5py.Dataset):
        return {len(node) if node.ndim else -1}
    members = [node.get(key) for key in json.loads(_text(node.attrs.get(_ATTR_ORDER, "[]")))]
    if not members or not all(isinstance(m, h5py.Dataset) and m.ndim for m in members):
        return {-1}
    return {len(m) for m in members}


def _read_structure(node: h5py.Dataset | h5py.Group, read: Any) -> np.ndarray | list | dict:
    """What :func:`_write_structure` wrote; ``read(dataset)`` reads one dataset whole."""
    if isinstance(node, h5py.Dataset):
        return read(node)
    order = json.loads(node.attrs[_ATTR_ORDER])
    arrays = [read(node[key]) for key in order]
    return dict(zip(order, arrays)) if node.attrs[_ATTR_STRUCTURE] == "dict" else arrays



def _is_hdf5(filename: str) -> bool:
    """Whether ``filename`` is an HDF5 file (checked under the readers' lock: never mid-write)."""
    try:
        return safe_io.is_hdf5_file(filename)
    except RecordingError:
        raise  # a writer holds it: "try again", not "not an HDF5 file"
    except OSError:
        return False


def _describe(filename: str, group_name: str) -> str:
    return f"group {group_name!r} of file {os.fspath(filename)!r}"


def check_group_name(group_name: object) -> str:
    """``group_name`` if HDF5 can hold it as the name of a group of the file's root, else ValueError."""
    if not isinstance(group_name, str):
        raise TypeError(f"group_name={group_name!r} must be a string, such as 'sigmoid'.")
    bad = [c for c in ("/", "\0") if c in group_name]
    if not group_name or bad or group_name in (".", ".."):
        raise ValueError(
            f"group_name={group_name!r} must be a non-empty string without '/' or NUL characters, other "
            "than '.' and '..', which HDF5 cannot hold as a group name (e.g. 'relu_run')."
        )
    return group_name


def _existing(f: h5py.File, filename: str, group_name: str, *, overwrite: bool) -> bool:
    """Whether ``group_name`` exists in ``f``; raise if it may not be replaced."""
    link = f.get(group_name, getlink=True)
    if link is None:
        return False
    if not overwrite:
        raise ValueError(
            f"group_name={group_name!r} already exists in {filename!r}; refusing to overwrite "
            "a recording. Pass overwrite=True to replace this group (other groups are kept), "
            "or choose a new group_name."
        )
    ours = False
    if isinstance(link, h5py.HardLink):
        with contextlib.suppress(Exception):
            obj = f[group_name]
            ours = isinstance(obj, h5py.Group) and _text(obj.attrs.get("format")) == FORMAT
    if not ours:
        raise ValueError(
            f"group_name={group_name!r} in {filename!r} is not a deepreplay recording; overwrite=True "
            "replaces only deepreplay recordings. Choose another group_name."
        )
    return True


def _text(value: object) -> object:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def check_writable_target(filename: str | os.PathLike, group_name: str, *, overwrite: bool) -> None:
    """Raise if a new group cannot be written at ``filename``/``group_name``.

    A check made before training starts; :meth:`RecordingWriter.create`
    checks again in the same write session that creates the group.

    Parameters
    ----------
    filename : str or path-like
        The HDF5 file; it may not exist yet.
    group_name : str
        The group to create.
    overwrite : bool
        Whether an existing group of that name may be replaced.

    Raises
    ------
    ValueError
        The directory does not exist or is not writable, the file exists but
        is not an HDF5 file, or the group exists and ``overwrite`` is false
        (or it is not a deepreplay recording).
    """
    filename = os.fspath(filename)
    check_group_name(group_name)
    directory = os.path.dirname(os.path.abspath(filename))
    if not os.path.isdir(directory):
        raise ValueError(
            f"filename={filename!r}: the directory {directory!r} does not exist; "
            "create it first or choose another path."
        )
    if os.path.exists(filename):
        if os.path.isdir(filename):
            raise ValueError(f"filename={filename!r} is a directory; give a file path such as 'run.h5'.")
        if not os.access(filename, os.W_OK):
            raise ValueError(f"filename={filename!r} is not writable; choose another file or fix its permissions.")
        if os.path.getsize(filename) == 0:
            return
        if not _is_hdf5(filename):
            raise ValueError(
                f"filename={filename!r} exists but is not an HDF5 file; refusing to touch it. "
                "Choose another file name."
            )
        with _h5_read(filename) as f:
            _existing(f, filename, group_name, overwrite=overwrite)
    elif not os.access(directory, os.W_OK):
        raise ValueError(f"filename={filename!r}: the directory {directory!r} is not writable.")



def stored_array(value: Any) -> np.ndarray:
    """``value`` as the writer stores it: floats as float32 (float64 kept), including the float types HDF5
    cannot hold (``bfloat16`` and the float8 types of ``ml_dtypes``, NumPy kind 'V': a ``mixed_bfloat16``
    layer's outputs); other arrays as they are."""
    value = np.asarray(value)
    dtype = value.dtype
    if (dtype.kind == "f" and dtype != np.float64) or (dtype.kind == "V" and dtype.names is None
                                                       and dtype.name.startswith(("bfloat", "float"))):
        return value.astype(np.float32, copy=False)
    return value


def _record_arrays(weights: Any, gradients: Any, activations: Any, z: Any, predictions: Any, losses: Any,
                   output_losses: Any) -> Iterator[tuple[str, str, np.ndarray, bool]]:
    """The arrays of one record (the arguments of ``RecordingWriter.append``), as the writer stores them.

    Yields ``(quantity, layer or output, array, auto)``: floats as float32
    (float64 kept), several per layer for weights and gradients (one per
    variable); ``auto`` tells the arrays ``compression="auto"`` may compress
    (gradients and layer outputs).
    """
    for quantity, nested, auto in ((_WEIGHTS, weights, False), (_GRADIENTS, gradients, True)):
        for layer, variables in (nested or {}).items():
            for value in variables.values():
                yield quantity, layer, stored_array(value), auto
    for quantity, per_layer in ((_ACTIVATIONS, activations), (_Z, z)):
        for layer, value in (per_layer or {}).items():
            yield quantity, layer, stored_array(value), True
    if isinstance(predictions, Mapping):
        for name, value in predictions.items():
            yield _PREDICTIONS, name, stored_array(value), False
    elif predictions is not None:
        yield _PREDICTIONS, "", stored_array(predictions), False
    if losses is not None:
        yield _LOSSES, "", stored_array(losses), False
    for name, value in (output_losses or {}).items():  # written whether or not the total is
        yield _LOSSES, name, stored_array(value), False


class RecordingWriter:
    """Create one recording group and append records to it.

    The file is written only inside :meth:`create`, :meth:`append` and
    :meth:`mark_complete`, each an atomic write session, so a process killed
    at any instant leaves every earlier record readable.  Between records the
    HDF5 file stays open in memory only (no descriptor, no lock: see
    :class:`deepreplay.safe_io.KeptFile`), and is reused by the next record
    when no one else wrote the file meanwhile; :meth:`mark_complete` and
    :meth:`close` let it go.

    Parameters
    ----------
    filename : str or path-like
        The HDF5 file (created if missing; other groups are never touched).
    group_name : str
        The group that holds this recording.
    compression : {"auto", None, "gzip", "lzf"}, default "auto"
        HDF5 filter for the per-record datasets.  ``"auto"``: gzip (level 1,
        with the byte-shuffle filter) for the gradients and layer outputs
        whose record takes at least :data:`AUTO_COMPRESSION_BYTES` (those
        ``ReplayData`` rounds, which then compress about 2x), nothing else:
        float32 weights, predictions and losses barely compress (~10%) and
        small records are not worth the time.  ``"gzip"`` compresses every
        per-record array (level 4, shuffled), ``"lzf"`` too, faster and less.
    """

    def __init__(self, filename: str | os.PathLike, group_name: str, *, compression: str | None = "auto") -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression={compression!r} must be one of {COMPRESSIONS}.")
        self.filename = os.fspath(filename)
        self.group_name = group_name
        self.compression = compression
        self._shapes: dict[str, tuple[int, ...]] = {}  # datasets created by this writer: record shape
        self._token: str | None = None  # the group's writer_id, set by create()
        # The file stays open (in memory) between records; see safe_io.KeptFile.
        self._kept = safe_io.KeptFile(self.filename)
        # HDF5 ids of this writer's datasets in the kept file, valid for one of its generations.
        self._ids: dict[str, h5py.h5d.DatasetID | h5py.h5a.AttrID] = {}
        # Whether each dataset of _ids takes chunks compressed by deflate_chunk (see _writes_deflated).
        self._deflated: dict[str, bool] = {}
        # How each dataset of _ids takes its records as whole chunks (see _raw_chunk); None: through HDF5.
        self._raw_chunks: dict[str, np.ndarray | _SeriesChunk | None] = {}
        # The group, the next record's index, and whether the group is step-based.
        self._next: tuple[h5py.Group, int, bool] | None = None
        self._ids_generation = -1
        # Where the packed arrays go (version 2 groups; None: one dataset per array), read from the
        # file with the group whenever ``_next`` is None.
        self._plan: _PackPlan | None = None

    def create(
        self,
        *,
        attrs: Mapping[str, Any],
        model_config: str,
        inputs: np.ndarray | list | dict,
        targets: np.ndarray | list | dict,
        sample_indices: np.ndarray,
        layers: list[str],
        quantities: tuple[str, ...],
        overwrite: bool,
        step_based: bool = False,
        outputs: list[str] | None = None,
        probe_samples: np.ndarray | None = None,
        layer_classes: Mapping[str, str] | None = None,
        output_aliases: Mapping[str, str] | None = None,
        gradient_samples: np.ndarray | None = None,
    ) -> None:
        """Create the group with its static content (replacing it if ``overwrite``).

        The existence check and the creation happen in one write session
        under the file's exclusive lock, so two processes cannot both create
        the same group; the session is atomic, so a kill leaves the group
        either absent or created whole (with no records yet).

        A ``step_based`` recording keys its records by training step: each
        record then gives ``step`` and ``epoch_fraction`` to :meth:`append`.
        ``outputs`` names the model's outputs, in order; ``probe_samples``
        gives the rows of ``inputs`` whose feature maps are recorded;
        ``layer_classes`` maps each of ``layers`` to its Keras class name, so
        readers know the kinds of layers without rebuilding the model;
        ``output_aliases`` maps a layer whose activations are another
        layer's (a nested model's last layer to the nested model) to that
        layer: they are stored once, under the latter;
        ``gradient_samples`` the rows of ``inputs`` the gradients are
        computed on, when they are not all of them.
        """
        check_writable_target(self.filename, self.group_name, overwrite=overwrite)
        token = secrets.token_hex(8)
        # The writer's kept file (see safe_io.KeptFile): the records that follow continue this session's journal
        # chain and HDF5 file, instead of a one-off session flushing the file, removing the journal, and the
        # first record opening both again.
        self.close()
        with self._kept.session(what=f"the new group {self.group_name!r}", create=True) as f:
            if _existing(f, self.filename, self.group_name, overwrite=overwrite):
                try:
                    f[self.group_name].visit_links(lambda name: None)
                    damaged = False
                except (KeyError, RuntimeError, OSError, ValueError):
                    damaged = True
                if damaged:
                    # HDF5 cannot free a damaged group: set it aside under another name (nothing of
                    # another group is touched), so that overwrite=True still gives a fresh group.
                    f.move(self.group_name, f"{self.group_name}.damaged-{token[:8]}")
                else:
                    del f[self.group_name]
            g = f.create_group(self.group_name)
            g.attrs["format"] = FORMAT
            g.attrs["format_version"] = FORMAT_VERSION if PACK_SMALL_ARRAYS else UNPACKED_FORMAT_VERSION
            g.attrs[_ATTR_COMPLETE] = False
            g.attrs[_ATTR_RECORDS] = np.int64(0)
            g.attrs[_ATTR_WRITER] = token
            g.attrs[_ATTR_LAYERS] = json.dumps(list(layers))
            if layer_classes is not None:
                g.attrs[_ATTR_LAYER_CLASSES] = json.dumps({str(k): str(v) for k, v in layer_classes.items()})
            if output_aliases:
                g.attrs[_ATTR_OUTPUT_ALIASES] = json.dumps({str(k): str(v) for k, v in output_aliases.items()})
            g.attrs[_ATTR_QUANTITIES] = json.dumps(list(quantities))
            if outputs is not None:
                g.attrs[_ATTR_OUTPUTS] = json.dumps(list(outputs))
            for key, value in attrs.items():
                g.attrs[key] = json.dumps(value) if isinstance(value, (list, dict, tuple)) else value
            g.create_dataset(_MODEL_CONFIG, data=model_config)
            _write_structure(g, _INPUTS, inputs)
            _write_structure(g, _TARGETS, targets)
            g.create_dataset(_SAMPLE_INDICES, data=sample_indices)
            if probe_samples is not None:
                g.create_dataset(_PROBE_SAMPLES, data=np.asarray(probe_samples, dtype=np.int64))
            if gradient_samples is not None:
                g.create_dataset(_GRADIENT_SAMPLES, data=np.asarray(gradient_samples, dtype=np.int64))
            g.create_dataset(_EPOCHS, shape=(0,), maxshape=(None,), dtype="i8", chunks=(1024,))
            if step_based:
                g.create_dataset(_STEPS, shape=(0,), maxshape=(None,), dtype="i8", chunks=(1024,))
                g.create_dataset(_EPOCH_FRACTIONS, shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))
        self._token = token
        self._shapes = {}
        self._ids, self._next = {}, None

    def _group(self, f: h5py.File) -> h5py.Group:
        """This writer's group, refused if another writer replaced it meanwhile."""
        g = f.get(self.group_name)
        if not isinstance(g, h5py.Group) or _text(g.attrs.get(_ATTR_WRITER)) != self._token:
            raise RecordingError(
                f"{_describe(self.filename, self.group_name)} was deleted or replaced by another writer "
                "(overwrite=True elsewhere?) while this recording was running; stopping this recording."
            )
        return g

    def append(
        self,
        *,
        epoch: int,
        logs: Mapping[str, float],
        evaluation: Mapping[str, float],
        weights: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        gradients: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        activations: Mapping[str, np.ndarray] | None = None,
        z: Mapping[str, np.ndarray] | None = None,
        predictions: np.ndarray | Mapping[str, np.ndarray] | None = None,
        losses: np.ndarray | None = None,
        output_samples: Mapping[str, np.ndarray] | None = None,
        step: int | None = None,
        epoch_fraction: float | None = None,
        output_losses: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Append one record. Scalars missing from earlier or later records are NaN.

        In a step-based recording (``create(step_based=True)``) ``step`` is the
        training step of the record, ``epoch_fraction`` the epochs done (NaN
        when unknown), and ``epoch`` should be the step too: readers older
        than step-based recordings key records by that column.

        ``predictions`` is one array, or a dict ``{output name: array}`` for a
        model with several outputs; ``output_losses`` gives such a model's
        per-sample loss of each output (``losses`` is then the weighted total).

        ``output_samples`` gives, for layers whose outputs cover only some of
        the recorded samples, the positions of those samples (rows of
        ``inputs``); it is stored once, with the layer's first outputs.
        """
        shapes = dict(self._shapes)
        try:
            with self._kept.session(what=f"the record of epoch {epoch}") as f:
                self._append_record(f, epoch, logs, evaluation, weights, gradients, activations, z,
                                    predictions, losses, output_samples, step, epoch_fraction, output_losses)
        except BaseException:
            self._shapes = shapes  # datasets created by the failed session are not in the file
            self._next = None  # nor its packed dataset: read the plan from the file again
            raise

    def _append_record(self, f: h5py.File, epoch: int, logs: Mapping[str, float], evaluation: Mapping[str, float],
                       weights: Any, gradients: Any, activations: Any, z: Any, predictions: Any, losses: Any,
                       output_samples: Any, step: int | None, epoch_fraction: float | None,
                       output_losses: Any) -> None:
        """The body of :meth:`append`, in its write session ``f``."""
        if self._ids_generation != self._kept.generation:
            self._ids, self._next = {}, None
            self._ids_generation = self._kept.generation
        if self._next is None:
            g = self._group(f)
            index = _n_records(g)
            stepped = _STEPS in g
            self._plan = _PackPlan.of(g)
            self._shapes.pop(_SCALARS, None)  # its width grows with new names, maybe by a copy of this writer
        else:  # the same kept file, that no one else wrote since this writer's last record
            g, index, stepped = self._next
        plan = self._plan
        scalars: dict[str, float] | None = {} if plan is not None and plan.pack_scalars else None
        for sub, values in ((_LOGS, logs), (_EVALUATION, evaluation)):
            if scalars is not None:  # version 2: one row of the scalars dataset (names it lacks are NaN)
                scalars.update((f"{sub}/{_encode(name)}", float(value)) for name, value in values.items())
                continue
            for name, value in values.items():
                self._append(g, f"{sub}/{_encode(name)}", index, np.float64(value), compress=False)
            # Scalars that are known from earlier records but not this one become NaN.
            known = [path for path in self._shapes if path.startswith(f"{sub}/")] if self._shapes else None
            if known is None:
                known = [f"{sub}/{name}" for name in g[sub]] if sub in g else []
            encoded = {_encode(name) for name in values}
            for path in known:
                if path[len(sub) + 1:] not in encoded:
                    self._append(g, path, index, np.float64(np.nan), compress=False)
        packed: dict[str, np.ndarray] = {}  # the arrays that go into the packed dataset, by path
        for sub, nested in ((_WEIGHTS, weights), (_GRADIENTS, gradients)):
            for layer, variables in (nested or {}).items():
                for var, value in variables.items():
                    self._append(g, f"{sub}/{_encode(layer)}/{_encode(var)}", index, value,
                                 auto=sub == _GRADIENTS, packed=packed)
        for kind, per_layer in ((_ACTIVATIONS, activations), (_Z, z)):
            for layer, value in (per_layer or {}).items():
                rows = (output_samples or {}).get(layer)
                base = f"{_OUTPUTS}/{_encode(layer)}"
                if rows is not None and f"{base}/{_SAMPLES}" not in g:
                    g.create_dataset(f"{base}/{_SAMPLES}", data=np.asarray(rows, dtype=np.int64))
                self._append(g, f"{base}/{kind}", index, value, auto=True, packed=packed)
        if isinstance(predictions, Mapping):
            for name, value in predictions.items():
                self._append(g, f"{_PREDICTIONS}/{_encode(name)}", index, value, packed=packed)
        elif predictions is not None:
            self._append(g, _PREDICTIONS, index, predictions, packed=packed)
        for name, value in (output_losses or {}).items():
            self._append(g, f"{_OUTPUT_LOSSES}/{_encode(name)}", index, value, packed=packed)
        if losses is not None:
            self._append(g, _LOSSES, index, losses, packed=packed)
        self._append_packed(g, index, packed)
        if scalars is not None:
            self._append_scalars(g, index, scalars)
        if stepped:
            if step is None:
                raise ValueError(f"{_describe(self.filename, self.group_name)} is step-based: give step=.")
            self._append(g, _STEPS, index, np.int64(step), compress=False)
            fraction = np.nan if epoch_fraction is None else epoch_fraction
            self._append(g, _EPOCH_FRACTIONS, index, np.float64(fraction), compress=False)
        # The epochs dataset grows last, then the record count: a record counts only once all
        # its data is written (and the whole session reaches the file atomically).
        self._append(g, _EPOCHS, index, np.int64(epoch), compress=False)
        self._set_record_count(g, index + 1)
        self._next = (g, index + 1, stepped)

    def _set_record_count(self, g: h5py.Group, n: int) -> None:
        """:func:`_set_record_count`, the attribute kept open (and its form checked) once per kept file."""
        attr = self._ids.get(_RECORDS_ID)
        if attr is None:
            attr = _record_count_attribute(g)
            if attr is None:
                _set_record_count(g, n)
                return
            self._ids[_RECORDS_ID] = attr
        attr.write(np.array(n, dtype=np.int64))

    def record_nbytes(
        self,
        *,
        weights: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        gradients: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        activations: Mapping[str, np.ndarray] | None = None,
        z: Mapping[str, np.ndarray] | None = None,
        predictions: np.ndarray | Mapping[str, np.ndarray] | None = None,
        losses: np.ndarray | None = None,
        output_losses: Mapping[str, np.ndarray] | None = None,
        upper_bound: bool = False,
        **_: Any,
    ) -> dict[str, dict[str, int]]:
        """Bytes one record (the arguments of :meth:`append`) would take in the file, nothing written.

        ``{quantity: {layer (or output): bytes}}``.  Arrays this writer
        compresses are compressed here the same way (byte shuffle, then
        deflate at the same level, as HDF5's gzip filter does; LZF is
        estimated by deflate level 1), so the figure is close to the file's.

        ``upper_bound=True`` compresses nothing: a compressed array counts
        :func:`compressed_bound` of its bytes, at least what it can take
        (a budget check that passes on the bound passes on the figure, and
        costs no compression: ~60 ms of deflate for a record of a
        1M-parameter MLP).
        """
        import zlib

        def size(value: np.ndarray, auto: bool) -> int:
            filters = self._filters(value, True, auto)
            if not filters:
                return int(value.nbytes)
            if upper_bound:
                return compressed_bound(int(value.nbytes))
            level = filters.get("compression_opts", 1) if filters.get("compression") == "gzip" else 1
            if filters.get("compression") == "gzip" and level == AUTO_DEFLATE_LEVEL and filters.get("shuffle"):
                deflated = deflate_chunk(value)  # as append writes it
                if deflated is not None:
                    return len(deflated)
            raw = np.ascontiguousarray(value).view(np.uint8).reshape(-1, value.dtype.itemsize)
            shuffled = shuffle_bytes(value).tobytes() if filters.get("shuffle") else raw.tobytes()
            return len(zlib.compress(shuffled, level))

        out: dict[str, dict[str, int]] = {}
        for quantity, key, value, auto in _record_arrays(weights, gradients, activations, z, predictions, losses,
                                                         output_losses):
            per_key = out.setdefault(quantity, {})
            per_key[key] = per_key.get(key, 0) + size(value, auto)
        return out

    def record_datasets(
        self,
        *,
        weights: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        gradients: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        activations: Mapping[str, np.ndarray] | None = None,
        z: Mapping[str, np.ndarray] | None = None,
        predictions: np.ndarray | Mapping[str, np.ndarray] | None = None,
        losses: np.ndarray | None = None,
        output_losses: Mapping[str, np.ndarray] | None = None,
        logs: Mapping[str, float] | None = None,
        evaluation: Mapping[str, float] | None = None,
        step: int | None = None,
        **_: Any,
    ) -> int:
        """How many datasets a new group's records (the arguments of :meth:`append`) make, nothing written.

        Each dataset costs HDF5 a header and a chunk index whatever its size,
        which a recording of a small model is mostly made of.  In the packed
        layout (version 2) the small uncompressed float32 arrays share one
        dataset and the scalars (logs and evaluation) another; in version 1
        each array and each scalar has its own.  A step-based recording (``step``
        given) adds its steps and epoch fractions.
        """
        arrays = [(value, auto) for _, _, value, auto in _record_arrays(weights, gradients, activations, z,
                                                                         predictions, losses, output_losses)]
        n_scalars = len(logs or {}) + len(evaluation or {})
        steps = 0 if step is None else 2
        if not PACK_SMALL_ARRAYS:
            return len(arrays) + n_scalars + steps
        own = sum(not self._packable(value, True, auto) for value, auto in arrays)
        return own + (own < len(arrays)) + (n_scalars > 0) + steps

    def _filters(self, value: np.ndarray, compress: bool, auto: bool) -> dict[str, Any]:
        if not compress or not value.ndim or self.compression is None:
            return {}
        if self.compression == "auto":
            if not auto or value.nbytes < AUTO_COMPRESSION_BYTES:
                return {}
            return {"compression": "gzip", "compression_opts": AUTO_DEFLATE_LEVEL, "shuffle": True}
        if self.compression == "gzip":
            return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
        return {"compression": self.compression, "shuffle": True}

    def _packs(self, g: h5py.Group, path: str, value: np.ndarray, compress: bool, auto: bool) -> bool:
        """Whether ``value`` (of the dataset ``path``) goes into the packed dataset of this record."""
        plan = self._plan
        if plan is None:  # a version 1 group: one dataset per array
            return False
        if plan.index is not None:  # the packed dataset exists: it holds the arrays of its index only
            entry = plan.index.get(path)
            if entry is not None and entry[1] != value.shape:
                raise ValueError(f"cannot append to {path!r}: a record has shape {value.shape}, earlier "
                                 f"records have shape {entry[1]}.")
            return entry is not None
        return path not in self._shapes and self._packable(value, compress, auto) and path not in g

    def _packable(self, value: np.ndarray, compress: bool, auto: bool) -> bool:
        """Whether an array of a new dataset is small enough for the packed dataset: float32, not empty,
        at most :data:`PACK_MAX_BYTES` and not compressed by this writer."""
        return (value.ndim > 0 and value.size > 0 and value.dtype == np.float32
                and value.nbytes <= PACK_MAX_BYTES and not self._filters(value, compress, auto))

    def _append_packed(self, g: h5py.Group, index: int, packed: Mapping[str, np.ndarray]) -> None:
        """Write this record's row of the packed dataset (created, with its index, by its first record)."""
        plan = self._plan
        if plan is None or (plan.index is None and not packed):
            return
        if plan.index is None:
            offsets: dict[str, tuple[int, tuple[int, ...]]] = {}
            width = 0
            for path, value in packed.items():
                offsets[path] = (width, tuple(value.shape))
                width += int(value.size)
            ds = g.create_dataset(_PACKED, shape=(0, width), maxshape=(None, None), dtype="f4",
                                  chunks=(1, width), fillvalue=np.nan)
            ds.attrs[_ATTR_INDEX] = json.dumps({path: [offset, list(shape)]
                                                for path, (offset, shape) in offsets.items()})
            plan.index, plan.width = offsets, width
        order = plan.order()
        if order is not None and len(packed) == len(order):
            # Every array of the index (a record like the others): the row is their concatenation.
            row = np.concatenate([packed[path].reshape(-1) for path in order], dtype=np.float32, casting="unsafe")
        else:
            row = np.full(plan.width, np.nan, dtype=np.float32)  # arrays missing from this record stay NaN
            for path, value in packed.items():
                offset = plan.index[path][0]
                row[offset:offset + value.size] = value.reshape(-1)
        self._append(g, _PACKED, index, row, compress=False)

    def _append_scalars(self, g: h5py.Group, index: int, scalars: Mapping[str, float]) -> None:
        """Write this record's row of the scalars dataset; a name seen for the first time gets a new column."""
        plan = self._plan
        if not plan.scalars and not scalars:
            return
        new = [path for path in scalars if path not in plan.scalars]
        if new:
            for path in new:
                plan.scalars[path] = len(plan.scalars)
            width = len(plan.scalars)
            if _SCALARS not in self._shapes and _SCALARS not in g:
                g.create_dataset(_SCALARS, shape=(0, width), maxshape=(None, None), dtype="f8",
                                 chunks=(1, _SCALAR_CHUNK), fillvalue=np.nan)
            self._shapes[_SCALARS] = (width,)  # the columns grow with the row below; earlier rows read NaN there
            g[_SCALARS].attrs[_ATTR_INDEX] = json.dumps(plan.scalars)
        row = np.full(len(plan.scalars), np.nan)
        for path, value in scalars.items():
            row[plan.scalars[path]] = value
        self._append(g, _SCALARS, index, row, compress=False)

    def _append(self, g: h5py.Group, path: str, index: int, value: Any, *, compress: bool = True,
                auto: bool = False, packed: dict[str, np.ndarray] | None = None) -> None:
        value = stored_array(value)
        if packed is not None and self._packs(g, path, value, compress, auto):
            packed[path] = value
            return
        shape = self._shapes.get(path)
        if shape is None:
            if path not in g:
                fill = np.nan if value.dtype.kind == "f" else 0
                g.create_dataset(
                    path,
                    shape=(0, *value.shape),
                    maxshape=(None, *value.shape),
                    dtype=value.dtype,
                    chunks=(1, *value.shape) if value.ndim else (1024,),
                    fillvalue=fill,
                    **self._filters(value, compress, auto),
                )
            shape = self._shapes[path] = tuple(g[path].shape[1:])
        if shape != value.shape:
            raise ValueError(
                f"cannot append to {path!r}: a record has shape {value.shape}, earlier records have "
                f"shape {shape}."
            )
        # Written through the low-level API: the high-level one costs more than the
        # write itself for the small arrays of a record.  Datasets that appear after
        # the first record are padded with their fill value (NaN) by the resize.
        dataset = self._ids.get(path)
        if dataset is None:
            dataset = self._ids[path] = h5py.h5d.open(g.id, path.encode())
            self._deflated[path] = _writes_deflated(dataset)
            self._raw_chunks[path] = _raw_chunk(dataset)
        chunk = self._raw_chunks[path]
        if isinstance(chunk, _SeriesChunk) and not shape and value.dtype == chunk.fill.dtype:
            stored = dataset.get_space().get_simple_extent_dims()[0] if chunk.start < 0 else index
            dataset.set_extent((index + 1,))
            chunk.write(dataset, index, value, stored)
            return
        dataset.set_extent((index + 1, *shape))
        if self._deflated[path] and value.dtype == dataset.dtype and value.size:
            # Compressed here (ISA-L) and written as the chunk HDF5's filters would have made.
            _write_chunk(dataset, (index, *(0,) * len(shape)), deflate_chunk(value))
            return
        if isinstance(chunk, np.ndarray) and value.dtype == chunk.dtype and value.size:
            # One unfiltered chunk per record, written as the chunk's bytes (see _raw_chunk): the packed row as
            # it is, a scalars row followed by the fill value up to the chunk's width.
            if chunk.shape == shape:
                _write_chunk(dataset, (index, *(0,) * len(shape)), np.ascontiguousarray(value))
                return
            if value.ndim == 1 and chunk.ndim == 1 and chunk.shape[0] > shape[0]:
                padded = chunk.copy()
                padded[:shape[0]] = value
                _write_chunk(dataset, (index, 0), padded)
                return
        file_space = dataset.get_space()
        file_space.select_hyperslab((index, *(0,) * len(shape)), (1, *shape))
        memory = np.ascontiguousarray(value.reshape((1, *shape)))
        dataset.write(h5py.h5s.create_simple(memory.shape), file_space, memory)

    def mark_complete(self, complete: bool = True) -> None:
        """Set the ``complete`` attribute (true once training ended normally), and close the file."""
        self._ids, self._next = {}, None
        with self._kept.session(what="the 'complete' flag", final=True) as f:
            self._group(f).attrs[_ATTR_COMPLETE] = bool(complete)

    def __getstate__(self) -> dict:
        """Copies and pickles hold no HDF5 ids (their kept file, see KeptFile, is not kept either)."""
        return {**self.__dict__, "_ids": {}, "_next": None, "_ids_generation": -1, "_plan": None}

    def close(self) -> None:
        """Forget the file kept open between records (nothing is written; the next write reopens it)."""
        self._ids, self._next = {}, None
        self._kept.discard()


class _PackPlan:
    """Where a version 2 group's writer puts its packed arrays: ``index`` {path: (offset, shape)} of the
    ``packed`` dataset, None until its first record with such arrays creates it; ``width`` its row length."""

    def __init__(self, index: dict[str, tuple[int, tuple[int, ...]]] | None, width: int,
                 scalars: dict[str, int], pack_scalars: bool) -> None:
        self.index, self.width = index, width
        self.scalars, self.pack_scalars = scalars, pack_scalars
        self._order: tuple[list[str] | None, int] | None = None

    def order(self) -> list[str] | None:
        """The paths of ``index`` by offset when their arrays tile the row exactly (each starting where the
        one before ends, the last ending at ``width``: as this writer makes an index), else None."""
        if self.index is None:
            return None
        if self._order is None or self._order[1] != id(self.index):
            paths = sorted(self.index, key=lambda path: self.index[path][0])
            end = 0
            for path in paths:
                offset, shape = self.index[path]
                if offset != end:
                    paths = None
                    break
                end += math.prod(shape)
            self._order = (paths if end == self.width else None, id(self.index))
        return self._order[0]

    @classmethod
    def of(cls, g: h5py.Group) -> _PackPlan | None:
        """The plan of the group ``g`` as the file holds it (None for a version 1 group).

        Raises RecordingError when the indexes are damaged (the writer never appends to such a group).
        """
        try:
            return cls._of(g)
        except (KeyError, TypeError, ValueError, RecursionError, AttributeError) as exc:
            raise RecordingError(f"the group {g.name!r} is damaged: its packed datasets' indexes cannot be "
                                 f"read ({type(exc).__name__}: {_one_line(exc)}); stopping this recording.") from None

    @classmethod
    def _of(cls, g: h5py.Group) -> _PackPlan | None:
        version = g.attrs.get("format_version", UNPACKED_FORMAT_VERSION)
        if int(version) < FORMAT_VERSION:
            return None
        ds = g.get(_PACKED)
        index, width = None, 0
        if ds is not None:
            index = {path: (int(offset), tuple(int(d) for d in shape))
                     for path, (offset, shape) in json.loads(_text(ds.attrs[_ATTR_INDEX])).items()}
            width = int(ds.shape[1])
        scalars = g.get(_SCALARS)
        if scalars is not None:
            return cls(index, width, {str(k): int(v) for k, v in json.loads(_text(scalars.attrs[_ATTR_INDEX])).items()},
                       True)
        # Scalars go into the scalars dataset from the group's first record on (never after own datasets).
        return cls(index, width, {}, _LOGS not in g and _EVALUATION not in g)


def list_groups(filename: str | os.PathLike) -> list[str]:
    """Names of the deepreplay recordings in ``filename``.

    Links (soft or external) are not followed; a group whose attributes
    cannot be read (damaged) is listed, so that opening it says what is wrong.
    """
    filename = os.fspath(filename)
    _check_readable_file(filename)
    names = []
    with _reading(filename, "the file") as f:
        for name in f:
            if not isinstance(f.get(name, getlink=True), h5py.HardLink):
                continue
            try:
                obj = f[name]
                if isinstance(obj, h5py.Group) and _text(obj.attrs.get("format")) == FORMAT:
                    names.append(name)
            except (OSError, RuntimeError, KeyError, ValueError, TypeError):
                names.append(name)
    return names


def _check_readable_file(filename: str) -> None:
    if not os.path.exists(filename):
        raise FileNotFoundError(
            f"replay_filename={filename!r} does not exist; give the file written by ReplayData(filename=...)."
        )
    if os.path.isdir(filename):
        raise RecordingError(f"replay_filename={filename!r} is a directory, not a recording file.")
    if not os.path.isfile(filename):
        raise RecordingError(f"replay_filename={filename!r} is not a regular file (a FIFO or device?); refusing to read it.")
    if os.path.getsize(filename) == 0:
        raise RecordingError(f"replay_filename={filename!r} is empty: no recording in it yet (a recording that is "
                             "being created? try again in a moment).")
    if not _is_hdf5(filename):
        raise RecordingError(f"replay_filename={filename!r} is not an HDF5 file, so it is not a deepreplay recording.")


@contextlib.contextmanager
def _reading(filename: str, what: str) -> Iterator[h5py.File]:
    """The file, read-only; errors that HDF5 raises on a damaged file become RecordingError."""
    try:
        with _h5_read(filename) as f:
            yield f
    except (RecordingError, FileNotFoundError):
        raise
    except (OSError, RuntimeError, RecursionError, MemoryError) as exc:
        raise RecordingError(f"{what} in {filename!r} is damaged: {type(exc).__name__}: {_one_line(exc)}") from None
    except KeyError as exc:
        if "Unable to" not in str(exc):
            raise
        raise RecordingError(f"{what} in {filename!r} is damaged: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().strip("'\"")
    return text.splitlines()[0] if text else type(exc).__name__


def _str_mapping_attr(g: h5py.Group, name: str) -> dict[str, str]:
    """The attribute ``name`` of ``g``, a JSON object of strings to strings; ``{}`` if absent or malformed."""
    value = g.attrs.get(name)
    try:
        mapping = json.loads(_text(value)) if value is not None else {}
    except (TypeError, ValueError, RecursionError):
        return {}
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in mapping.items()):
        return {}
    return mapping


class _PackedArray(NamedTuple):
    """One array of a version 2 group's ``packed`` dataset: its columns ``offset:offset + size``,
    reshaped to ``shape`` per record.  Readers use it where they would use the array's own dataset."""

    packed: h5py.Dataset
    path: str
    offset: int
    record_shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.record_shape)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(records, *record_shape)``, as the array's own dataset would have."""
        return (int(self.packed.shape[0]), *self.record_shape)

    @property
    def name(self) -> str:
        return f"{self.packed.name}[{self.path}]"

    @property
    def ndim(self) -> int:
        return 1 + len(self.record_shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)


#: A path of the index of a packed dataset: an array the writer could have stored in its own dataset.
_PACKED_PATH = re.compile(r"(?:(?:weights|gradients)/[^/\0]+/[^/\0]+|outputs/[^/\0]+/(?:activations|z)"
                          r"|predictions(?:/[^/\0]+)?|losses|output_losses/[^/\0]+)")


def _packed_index(g: h5py.Group) -> dict[str, tuple[int, tuple[int, ...]]]:
    """The index of the group's ``packed`` dataset, ``{path: (offset, shape)}`` (``{}`` without one).

    Raises ValueError saying what is wrong when the dataset or its index is not one the writer makes:
    a 2-D float32 dataset, a JSON object of valid paths to ``[offset, shape]`` whose columns lie
    within the row and do not overlap, no path also stored as a dataset of its own.
    """
    if _PACKED not in g:
        return {}
    ds = g[_PACKED]
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 2 or ds.dtype != np.float32:
        raise ValueError(f"{_PACKED!r} is not a 2-D float32 dataset")
    width = int(ds.shape[1])
    raw = ds.attrs.get(_ATTR_INDEX)
    try:
        index = json.loads(_text(raw)) if isinstance(_text(raw), str) else None
    except (ValueError, RecursionError):
        index = None
    if not isinstance(index, dict):
        raise ValueError(f"the {_ATTR_INDEX!r} attribute of {_PACKED!r} is missing or not a JSON object")
    out: dict[str, tuple[int, tuple[int, ...]]] = {}
    for path, entry in index.items():
        if not _PACKED_PATH.fullmatch(path):
            raise ValueError(f"the index of {_PACKED!r} names {path[:80]!r}, not a per-record array")
        ok = isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list) and len(entry[1]) <= 32
        numbers = [entry[0], *entry[1]] if ok else []
        if not ok or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in numbers):
            raise ValueError(f"the index of {_PACKED!r} gives {path!r} as {str(entry)[:80]}, not "
                             "[offset, shape]")
        offset, shape = entry[0], tuple(entry[1])
        if offset + math.prod(shape) > width:
            raise ValueError(f"the index of {_PACKED!r} puts {path!r} (shape {shape}) at column {offset}, "
                             f"beyond its {width} columns")
        if path in g:
            raise ValueError(f"{path!r} is both a dataset and in the index of {_PACKED!r}")
        out[path] = (offset, shape)
    end = 0
    for offset, shape in sorted(out.values()):
        if offset < end:
            raise ValueError(f"arrays overlap in the index of {_PACKED!r}")
        end = offset + math.prod(shape)
    paths = set(out)
    for name in (_PREDICTIONS, _LOSSES):
        if name in paths and any(p.startswith(f"{name}/") for p in paths):
            raise ValueError(f"the index of {_PACKED!r} has {name!r} both as an array and as a group")
    return out


_SCALAR_PATH = re.compile(r"(?:logs|evaluation)/[^/\0]+")


def _scalars_index(g: h5py.Group) -> dict[str, int]:
    """The index of the group's ``scalars`` dataset, ``{path: column}`` (``{}`` without one).

    Raises ValueError saying what is wrong when it is not what the writer makes: a 2-D float64
    dataset, a JSON object of ``logs/<name>`` and ``evaluation/<name>`` paths to distinct columns
    within its width, none of them also a dataset of its own.
    """
    if _SCALARS not in g:
        return {}
    ds = g[_SCALARS]
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 2 or ds.dtype != np.float64:
        raise ValueError(f"{_SCALARS!r} is not a 2-D float64 dataset")
    width = int(ds.shape[1])
    raw = _text(ds.attrs.get(_ATTR_INDEX))
    try:
        index = json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):
        index = None
    if not isinstance(index, dict):
        raise ValueError(f"the {_ATTR_INDEX!r} attribute of {_SCALARS!r} is missing or not a JSON object")
    for path, column in index.items():
        if not _SCALAR_PATH.fullmatch(path):
            raise ValueError(f"the index of {_SCALARS!r} names {path[:80]!r}, not a log or evaluation series")
        if isinstance(column, bool) or not isinstance(column, int) or not 0 <= column < width:
            raise ValueError(f"the index of {_SCALARS!r} puts {path!r} at column {str(column)[:40]}, not one of "
                             f"its {width} columns")
        if path in g:
            raise ValueError(f"{path!r} is both a dataset and in the index of {_SCALARS!r}")
    if len(set(index.values())) != len(index):
        raise ValueError(f"two series share a column in the index of {_SCALARS!r}")
    return dict(index)


class RecordingReader:
    """Read one recording group, one record at a time.

    The file is opened read-only for each access and closed before the access
    returns, never held open between calls: a writer (a ``ReplayData``
    callback adding records to this or another group of the same file) can
    append while a reader exists, and the reader sees the new records.
    Per-record arrays are read on demand; nothing is cached here.
    :meth:`close` (or leaving a ``with`` block) ends the reader's use.

    A recording is data, never instructions: links (soft or external) are not
    followed, attributes and the shapes and dtypes of datasets are checked
    when the reader is created, and no read returns more bytes than the file
    could hold (see ``docs/format.md``, *Guarantees*).  Only records complete
    in every dataset are read.

    Parameters
    ----------
    filename : str or path-like
        The HDF5 file.
    group_name : str
        The recording group.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    RecordingError
        The file is not HDF5, the group is missing, is not a deepreplay
        recording, was written by a newer schema version, is damaged or
        holds links.
    """

    def __init__(self, filename: str | os.PathLike, group_name: str) -> None:
        self.filename = os.fspath(filename)
        self.group_name = group_name
        self._closed = False
        # The packed dataset's index (parsed and checked once) and its rows read so far, keyed by
        # the group's writer and the index; the arrays of the group open now (see _packed).
        self._index_key: tuple | None = None
        self._index: dict[str, tuple[int, tuple[int, ...]]] = {}
        self._rows_key: tuple | None = None
        self._rows_cache = np.zeros((0, 0), np.float32)
        self._last_row: tuple[int, np.ndarray] | None = None
        self._arrays_of: tuple[h5py.Group | None, dict[str, _PackedArray]] = (None, {})
        # The same for the scalars dataset: its index and its rows read so far.
        self._scalars_key: tuple | None = None
        self._scalars_index: dict[str, int] = {}
        self._scalar_rows = np.zeros((0, 0))
        _check_readable_file(self.filename)
        if not isinstance(group_name, str):
            raise TypeError(f"group_name={group_name!r} must be a string.")
        with _reading(self.filename, f"group {group_name!r}") as f:
            link = f.get(group_name, getlink=True) if group_name and "\0" not in group_name else None
            if link is None:
                groups = [n for n in f if isinstance(f.get(n, getlink=True), h5py.HardLink)
                          and isinstance(f.get(n, getclass=True), type) and f.get(n, getclass=True) is h5py.Group]
                raise RecordingError(
                    f"group_name={group_name!r} is not in {self.filename!r}; the file has groups {groups}."
                )
            if not isinstance(link, h5py.HardLink):
                raise RecordingError(
                    f"{_describe(self.filename, group_name)} is a {type(link).__name__}; deepreplay does not "
                    "follow links in recordings."
                )
            group = f[group_name]
            fmt = _text(group.attrs.get("format")) if isinstance(group, h5py.Group) else None
            version = group.attrs.get("format_version") if isinstance(group, h5py.Group) else None
            if fmt != FORMAT:
                raise RecordingError(
                    f"{_describe(self.filename, group_name)} is not a deepreplay recording "
                    f"(its 'format' attribute is {fmt!r})."
                )
            if isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)):
                raise RecordingError(
                    f"{_describe(self.filename, group_name)} is damaged: its 'format_version' attribute is "
                    f"{version!r}, not an integer."
                )
            if int(version) > FORMAT_VERSION:
                raise RecordingError(
                    f"{_describe(self.filename, group_name)} uses recording format version {version}, "
                    f"but this deepreplay reads versions up to {FORMAT_VERSION}. Upgrade deepreplay "
                    "(pip install -U deepreplay) to read it."
                )
            self._validate(group)

    def _damaged(self, why: str) -> RecordingError:
        return RecordingError(f"{_describe(self.filename, self.group_name)} is damaged: {why}.")

    def _validate(self, g: h5py.Group) -> None:
        """Check links, attributes, shapes and dtypes before anything is read."""
        problems: list[str] = []

        def visit(name: str, link: Any) -> None:
            if not isinstance(link, h5py.HardLink):
                problems.append(f"{name!r} is a {type(link).__name__}, and deepreplay does not follow links")
                return None
            obj = g[name]
            if isinstance(obj, h5py.Dataset):
                kind = obj.dtype.kind
                if name == _MODEL_CONFIG:
                    if obj.shape != () or kind not in "OSU":
                        problems.append(f"{name!r} is not a text scalar")
                elif kind not in "biuf" or obj.dtype.names is not None or obj.dtype.subdtype is not None:
                    problems.append(f"dataset {name!r} holds {obj.dtype}, not numbers")
                elif obj.ndim == 0:
                    problems.append(f"dataset {name!r} is a scalar, expected an array")
                elif obj.is_virtual or obj.external:
                    problems.append(f"dataset {name!r} reads its data from other files")
            elif not isinstance(obj, h5py.Group):
                problems.append(f"{name!r} is a {type(obj).__name__}")
            return None if len(problems) < 3 else True

        try:
            g.visititems_links(visit)
        except (RuntimeError, RecursionError, OSError, KeyError, ValueError, TypeError) as exc:
            problems.append(f"its objects cannot be listed ({_one_line(exc)})")
        if problems:
            raise self._damaged("; ".join(problems))
        complete = g.attrs.get(_ATTR_COMPLETE, False)
        if not isinstance(complete, (bool, np.bool_)):
            raise self._damaged(f"its 'complete' attribute is {complete!r} ({type(complete).__name__}), not a boolean")
        records = g.attrs.get(_ATTR_RECORDS, 0)
        if isinstance(records, (bool, np.bool_)) or not isinstance(records, (int, np.integer)) or records < 0:
            raise self._damaged(f"its 'records' attribute is {records!r}, not a count")
        for attr, check in ((_ATTR_LAYERS, None), (_ATTR_QUANTITIES, set(QUANTITIES))):
            try:
                value = json.loads(_text(g.attrs[attr]))
            except (KeyError, TypeError, ValueError):
                raise self._damaged(f"its {attr!r} attribute is missing or not a JSON list") from None
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (
                    check is not None and not set(value) <= check):
                raise self._damaged(f"its {attr!r} attribute is {value!r}")
        for name in (_MODEL_CONFIG, _SAMPLE_INDICES, _EPOCHS, _LOSSES):
            if name in g and not isinstance(g[name], h5py.Dataset):
                raise self._damaged(f"{name!r} is not a dataset")
        # Several model inputs/outputs: inputs, targets and predictions are groups of datasets.
        for name in (_INPUTS, _TARGETS, _PREDICTIONS, _OUTPUT_LOSSES):
            node = g.get(name)
            if node is None or isinstance(node, h5py.Dataset):
                if name == _OUTPUT_LOSSES and node is not None:
                    raise self._damaged(f"{name!r} is not a group")
                continue
            if not isinstance(node, h5py.Group) or not all(isinstance(item, h5py.Dataset) for item in node.values()):
                raise self._damaged(f"{name!r} is neither a dataset nor a group of datasets")
            if name in (_INPUTS, _TARGETS) and _structure_rows(node) == {-1}:
                raise self._damaged(f"{name!r} is a group without its 'order' of datasets")
        for sub in (_LOGS, _EVALUATION, _WEIGHTS, _GRADIENTS, _OUTPUTS):
            if sub in g and not isinstance(g[sub], h5py.Group):
                raise self._damaged(f"{sub!r} is not a group")
        for sub in (_WEIGHTS, _GRADIENTS, _OUTPUTS):
            for name, item in (g[sub].items() if sub in g else ()):
                if not isinstance(item, h5py.Group) or not all(isinstance(v, h5py.Dataset) for v in item.values()):
                    raise self._damaged(f"'{sub}/{name}' is not a group of datasets")
        if _EPOCHS not in g or g[_EPOCHS].ndim != 1 or g[_EPOCHS].dtype.kind not in "iu":
            raise self._damaged("it has no 1-D integer 'epochs' dataset")
        for name in (_MODEL_CONFIG, _INPUTS, _TARGETS, _SAMPLE_INDICES):
            if name not in g:
                raise self._damaged(f"its {name!r} dataset is missing")
        rows = {name: _structure_rows(g[name]) for name in (_INPUTS, _TARGETS)}
        if g[_SAMPLE_INDICES].ndim != 1 or {len(g[_SAMPLE_INDICES])} != set().union(*rows.values()):
            raise self._damaged(
                f"'inputs' ({sorted(rows[_INPUTS])} rows), 'targets' ({sorted(rows[_TARGETS])} rows) and "
                f"'sample_indices' {g[_SAMPLE_INDICES].shape} do not have one row per sample")
        for sub in (_LOGS, _EVALUATION):
            for name, ds in (g[sub].items() if sub in g else ()):
                if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
                    raise self._damaged(f"'{sub}/{name}' is not a 1-D series")
        self._packed(g)  # its index is checked
        self._scalar_columns(g)

    # -- the scalars dataset of a version 2 group -------------------------------
    def _scalar_columns(self, g: h5py.Group) -> dict[str, int]:
        """``{path: column}`` of the group's ``scalars`` dataset (``{}`` when it has none), checked once."""
        node = g.get(_SCALARS)
        if node is None:
            return {}
        key = _index_key(g, node)
        if key != self._scalars_key or key[1] is None:
            try:
                self._scalars_index = _scalars_index(g)
            except ValueError as exc:
                raise self._damaged(str(exc)) from None
            self._scalars_key, self._scalar_rows = key, np.zeros((0, int(node.shape[1])))
        return self._scalars_index

    def _scalar_column(self, g: h5py.Group, column: int, n: int) -> np.ndarray:
        """The first ``n`` rows of one column of the scalars dataset (its rows are read once and kept)."""
        ds = g[_SCALARS]
        if ds.shape[0] < n:
            raise self._damaged(f"dataset {ds.name!r} has {ds.shape[0]} entries, fewer than the {n} records")
        have = len(self._scalar_rows)
        if n > have:  # rows only ever get appended (a new name changes the index, and the rows are read again)
            new = np.asarray(self._bounded(ds, n - have)[have:n], dtype=np.float64)
            self._scalar_rows = np.concatenate([self._scalar_rows, new.reshape(n - have, -1)])
        return self._scalar_rows[:n, column].copy()

    # -- the packed dataset of a version 2 group ---------------------------------
    def _packed(self, g: h5py.Group) -> dict[str, _PackedArray]:
        """The arrays of the group's ``packed`` dataset by path (``{}`` when it has none)."""
        if self._arrays_of[0] is g:
            return self._arrays_of[1]
        node = g.get(_PACKED)
        arrays: dict[str, _PackedArray] = {}
        if node is not None:
            key = _index_key(g, node)
            if key != self._index_key or key[1] is None:
                try:
                    self._index = _packed_index(g)
                except ValueError as exc:
                    raise self._damaged(str(exc)) from None
                self._index_key = key
            arrays = {path: _PackedArray(node, path, offset, shape) for path, (offset, shape) in self._index.items()}
        self._arrays_of = (g, arrays)
        return arrays

    def _array(self, g: h5py.Group, path: str) -> h5py.Dataset | _PackedArray | None:
        """The array stored at ``path``: its own dataset, or its columns of the packed dataset."""
        view = self._packed(g).get(path)
        if view is not None:
            return view
        node = g.get(path)
        return node if isinstance(node, h5py.Dataset) else None

    def _members(self, g: h5py.Group, path: str) -> dict[str, h5py.Dataset | _PackedArray]:
        """The arrays right under the group ``path`` (own datasets and packed), by link name, sorted."""
        out: dict[str, h5py.Dataset | _PackedArray] = {}
        node = g.get(path)
        if isinstance(node, h5py.Group):
            out.update((name, item) for name, item in node.items() if isinstance(item, h5py.Dataset))
        prefix = f"{path}/"
        for name, view in self._packed(g).items():
            if name.startswith(prefix) and "/" not in name[len(prefix):]:
                out[name[len(prefix):]] = view
        return dict(sorted(out.items()))

    def _contains(self, g: h5py.Group, path: str) -> bool:
        """Whether anything is stored at or under ``path``."""
        return path in g or any(name == path or name.startswith(f"{path}/") for name in self._packed(g))

    def _read_packed(self, view: _PackedArray, rows: slice | int) -> np.ndarray:
        """``rows`` of one packed array.

        One record reads that record's row only (one chunk; the last row read is kept, as the
        arrays of a record are usually read together).  Several records read the packed dataset's
        rows once when it is small (at most :data:`PACK_CACHE_BYTES`) and keep them, so the history
        of every packed array costs one read; rows only ever get appended, so a reader kept while
        a recording grows reads only the new ones.
        """
        ds = view.packed
        total, width = int(ds.shape[0]), int(ds.shape[1])
        columns = slice(view.offset, view.offset + view.size)
        key = (self._index_key, width)
        if key != self._rows_key:
            self._rows_key, self._rows_cache, self._last_row = key, np.zeros((0, width), np.float32), None
        if isinstance(rows, (int, np.integer)):
            record = int(rows)
            if record < len(self._rows_cache):
                row = self._rows_cache[record]
            elif self._last_row is not None and self._last_row[0] == record:
                row = self._last_row[1]
            else:
                row = np.asarray(self._bounded(ds, 1)[record], dtype=np.float32)
                self._last_row = (record, row)
            return np.array(row[columns].reshape(view.record_shape), copy=True)
        start, stop, _ = rows.indices(total)
        if total * width * 4 <= PACK_CACHE_BYTES:
            have = len(self._rows_cache)
            if stop > have:
                new = np.asarray(self._bounded(ds, stop - have)[have:stop], dtype=np.float32)
                self._rows_cache = np.concatenate([self._rows_cache, new.reshape(-1, width)])
            block = self._rows_cache[rows, columns]
        else:
            block = np.asarray(self._bounded(ds, len(range(start, stop)))[rows, columns], dtype=np.float32)
        return np.array(block.reshape((len(block), *view.record_shape)), copy=True)

    # -- lifetime ---------------------------------------------------------
    @contextlib.contextmanager
    def _open(self) -> Iterator[h5py.Group]:
        if self._closed:
            raise ValueError(
                f"this reader of {_describe(self.filename, self.group_name)} is closed; "
                "create a new RecordingReader to read it again."
            )
        with _reading(self.filename, f"group {self.group_name!r}") as f:
            g = f.get(self.group_name)
            if not isinstance(f.get(self.group_name, getlink=True), h5py.HardLink) or not isinstance(g, h5py.Group):
                raise RecordingError(f"{_describe(self.filename, self.group_name)} was deleted or replaced.")
            self._file_size = max(os.path.getsize(self.filename), 1)
            yield g

    def _read(self, ds: h5py.Dataset | _PackedArray, rows: slice | int, n: int) -> np.ndarray:
        """``ds[rows]`` after checking that ``ds`` holds the ``n`` records and that the read is bounded."""
        if ds.ndim == 0 or ds.shape[0] < n:
            raise self._damaged(f"dataset {ds.name!r} has {ds.shape[0] if ds.ndim else 0} entries, "
                                f"fewer than the {n} records")
        if isinstance(ds, _PackedArray):
            return self._read_packed(ds, rows)
        count = 1 if isinstance(rows, (int, np.integer)) else len(range(*rows.indices(ds.shape[0])))
        return self._bounded(ds, count)[rows]

    def _bounded(self, ds: h5py.Dataset, count: int | None = None) -> h5py.Dataset:
        """``ds``, after checking that reading ``count`` of its rows (all by default) stays bounded."""
        rows = (ds.shape[0] if ds.ndim else 1) if count is None else count
        nbytes = rows * int(np.prod(ds.shape[1:], dtype=np.float64)) * ds.dtype.itemsize
        limit = _READ_SLACK_BYTES + _MAX_EXPANSION[ds.compression is not None or bool(ds.id.get_create_plist()
                                                                                        .get_nfilters())] \
            * self._file_size
        if nbytes > limit:
            raise self._damaged(
                f"reading {ds.name!r} (declared shape {ds.shape}, {ds.dtype}) would take {nbytes:.3g} bytes, "
                f"more than a file of {self._file_size} bytes can hold")
        return ds

    def close(self) -> None:
        """End the use of this reader (the file is not held open between calls)."""
        self._closed = True

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- static content -------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        """Group attributes, JSON-encoded values decoded."""
        out = {}
        with self._open() as g:
            items = list(g.attrs.items())
        for key, value in items:
            if key == _ATTR_WRITER:
                continue
            if isinstance(value, np.generic):
                value = value.item()
            value = _text(value)
            if isinstance(value, str) and value[:1] in "[{":
                try:
                    value = json.loads(value)
                except (json.JSONDecodeError, RecursionError):
                    pass
            out[key] = value
        return out

    @property
    def complete(self) -> bool:
        """Whether training ended normally after the last record."""
        with self._open() as g:
            value = g.attrs.get(_ATTR_COMPLETE, False)
        if not isinstance(value, (bool, np.bool_)):
            raise self._damaged(f"its 'complete' attribute is {value!r}, not a boolean")
        return bool(value)

    @property
    def layers(self) -> list[str]:
        """Names of the recorded layers, in model order."""
        with self._open() as g:
            return _layers(g)

    @property
    def layer_classes(self) -> dict[str, str]:
        """Keras class name of each recorded layer (``{}`` for recordings that predate them, or unreadable)."""
        with self._open() as g:
            return _str_mapping_attr(g, _ATTR_LAYER_CLASSES)

    @property
    def output_aliases(self) -> dict[str, str]:
        """``{layer: layer whose stored activations are its own}`` (``{"inner/b": "inner"}``; ``{}`` if none).

        A nested model's output that is the output of one of its layers is
        stored once, under the nested model's name; :meth:`outputs` of the
        inner layer reads it there.  Recordings made before this have both.
        """
        with self._open() as g:
            return self._aliases(g)

    @staticmethod
    def _aliases(g: h5py.Group) -> dict[str, str]:
        return _str_mapping_attr(g, _ATTR_OUTPUT_ALIASES)

    def _stored_layer(self, g: h5py.Group, layer: str, kind: str) -> str:
        """The layer whose stored ``kind`` outputs are ``layer``'s: itself, or the one it is an alias of."""
        if kind == _ACTIVATIONS and layer not in self._output_layers(g, kind):
            return self._aliases(g).get(layer, layer)
        return layer

    @property
    def quantities(self) -> list[str]:
        """Which of :data:`QUANTITIES` were asked for."""
        with self._open() as g:
            return list(json.loads(_text(g.attrs[_ATTR_QUANTITIES])))

    @property
    def model_config(self) -> str:
        """The model's JSON config."""
        with self._open() as g:
            value = self._bounded(g[_MODEL_CONFIG])[()]
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        try:
            config = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise self._damaged(f"its 'model_config' is not a JSON model config ({type(exc).__name__})") from None
        if not isinstance(config, dict):
            raise self._damaged(f"its 'model_config' is a JSON {type(config).__name__}, not a model config")
        return text

    def _whole(self, name: str) -> np.ndarray:
        with self._open() as g:
            return self._bounded(g[name])[()]

    @property
    def inputs(self) -> np.ndarray | list | dict:
        """The recorded inputs: an array, or a list/dict of arrays for a model with several inputs."""
        with self._open() as g:
            return _read_structure(g[_INPUTS], lambda ds: self._bounded(ds)[()])

    @property
    def targets(self) -> np.ndarray | list | dict:
        """The recorded targets: an array, or a list/dict of arrays for a model with several outputs."""
        with self._open() as g:
            return _read_structure(g[_TARGETS], lambda ds: self._bounded(ds)[()])

    @property
    def output_names(self) -> list[str]:
        """Names of the model's outputs whose predictions were recorded (one name for one output)."""
        with self._open() as g:
            names = g.attrs.get(_ATTR_OUTPUTS)
            if names is not None:
                return list(json.loads(_text(names)))
            if self._contains(g, _PREDICTIONS) and self._array(g, _PREDICTIONS) is None:
                return [_decode(k) for k in self._members(g, _PREDICTIONS)]
        return []

    @property
    def output_loss_names(self) -> list[str]:
        """Outputs whose per-sample losses were recorded separately (models with several outputs)."""
        with self._open() as g:
            return [_decode(k) for k in self._members(g, _OUTPUT_LOSSES)]

    @property
    def sample_indices(self) -> np.ndarray:
        return self._whole(_SAMPLE_INDICES)

    @property
    def n_samples(self) -> int:
        """Number of recorded samples (read from metadata only)."""
        with self._open() as g:
            return int(g[_SAMPLE_INDICES].shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one recorded input sample (read from metadata only)."""
        with self._open() as g:
            node = g[_INPUTS]
            if isinstance(node, h5py.Group):  # several inputs: the first one's
                node = node[json.loads(node.attrs[_ATTR_ORDER])[0]]
            return tuple(int(d) for d in node.shape[1:])

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of one recorded sample of each input, by input name, in the model's order (metadata only).

        A model with one input gives one entry, named ``"inputs"``.
        """
        with self._open() as g:
            node = g[_INPUTS]
            if not isinstance(node, h5py.Group):
                return {"inputs": tuple(int(d) for d in node.shape[1:])}
            return {name: tuple(int(d) for d in node[name].shape[1:])
                    for name in json.loads(node.attrs[_ATTR_ORDER])}

    @property
    def probe_samples(self) -> np.ndarray | None:
        """Rows of ``inputs`` chosen as probe samples (their feature maps are recorded), or None."""
        return self._rows(_PROBE_SAMPLES)

    @property
    def gradient_samples(self) -> np.ndarray | None:
        """Rows of ``inputs`` the gradients were computed on, or None (all of them)."""
        return self._rows(_GRADIENT_SAMPLES)

    def _rows(self, name: str) -> np.ndarray | None:
        """The dataset ``name``: positions of recorded samples, checked (1-D integers within the rows); None if absent."""
        with self._open() as g:
            if name not in g:
                return None
            rows = self._bounded(g[name])[()]
            n = int(g[_SAMPLE_INDICES].shape[0])
        if rows.ndim != 1 or rows.dtype.kind not in "iu" or (rows.size and (rows.min() < 0 or rows.max() >= n)):
            raise self._damaged(f"{name!r} ({rows.dtype}, shape {rows.shape}) must list positions among the "
                                f"{n} recorded samples")
        return rows

    @property
    def epochs(self) -> np.ndarray:
        """The key of every record: its epoch (record 0 is epoch 0, before training).

        In a step-based recording (:attr:`record_unit` ``'step'``) this is the
        training step of each record, as in :attr:`steps`.
        """
        with self._open() as g:
            return self._read(g[_EPOCHS], slice(0, _n_records(g)), 0)

    @property
    def record_unit(self) -> str:
        """``'step'`` for a recording made with ``ReplayData(every_steps=...)``, else ``'epoch'``."""
        with self._open() as g:
            return "step" if _STEPS in g else "epoch"

    @property
    def steps(self) -> np.ndarray | None:
        """Training step of every record of a step-based recording; None for an epoch-based one."""
        with self._open() as g:
            n = _n_records(g)
            return self._read(g[_STEPS], slice(0, n), n) if _STEPS in g else None

    @property
    def epoch_fractions(self) -> np.ndarray:
        """Epochs done at every record, as floats (2.5: half-way through the third epoch).

        For an epoch-based recording these are its epochs; NaN where the
        number of steps per epoch was unknown.
        """
        with self._open() as g:
            n = _n_records(g)
            name = _EPOCH_FRACTIONS if _EPOCH_FRACTIONS in g else _EPOCHS
            return self._read(g[name], slice(0, n), n).astype(np.float64)

    @property
    def n_records(self) -> int:
        with self._open() as g:
            return _n_records(g)

    # -- scalars per record ----------------------------------------------------
    def _scalar_links(self, g: h5py.Group, sub: str) -> list[str]:
        """The link names of the series under ``sub``: own datasets and columns of ``scalars``, sorted."""
        own = list(g[sub]) if sub in g else []
        packed = [path[len(sub) + 1:] for path in self._scalar_columns(g) if path.startswith(f"{sub}/")]
        return sorted({*own, *packed})

    def _scalar_names(self, sub: str) -> list[str]:
        with self._open() as g:
            return [_decode(n) for n in self._scalar_links(g, sub)]

    def _scalar(self, sub: str, name: str) -> np.ndarray:
        with self._open() as g:
            names = [_decode(n) for n in self._scalar_links(g, sub)]
            if name not in names:
                raise KeyError(f"{name!r} was not recorded; recorded names: {names}.")
            n = _n_records(g)
            column = self._scalar_columns(g).get(f"{sub}/{_encode(name)}")
            if column is not None:
                return self._scalar_column(g, column, n)
            return self._read(g[sub][_encode(name)], slice(0, n), n)

    @property
    def log_names(self) -> list[str]:
        """Names in the Keras logs (loss, metrics, ``val_*``, learning_rate)."""
        return self._scalar_names(_LOGS)

    def log(self, name: str) -> np.ndarray:
        """One Keras log value per record (NaN where unknown, e.g. record 0)."""
        return self._scalar(_LOGS, name)

    @property
    def evaluation_names(self) -> list[str]:
        """Names of the loss and metrics evaluated on the recorded samples."""
        return self._scalar_names(_EVALUATION)

    def evaluation(self, name: str) -> np.ndarray:
        """Loss or metric on the recorded samples, one value per record."""
        return self._scalar(_EVALUATION, name)

    # -- arrays per record -----------------------------------------------------
    @staticmethod
    def _check_record(g: h5py.Group, record: int) -> int:
        n = _n_records(g)
        if isinstance(record, (bool, np.bool_)) or not isinstance(record, (int, np.integer)):
            raise TypeError(f"record={record!r} must be an integer index of a record.")
        if not 0 <= record < n:
            raise IndexError(f"record={record} is out of range; this recording has {n} records (0..{n - 1}).")
        return int(record)

    def _nested(self, sub: str, record: int) -> dict[str, dict[str, np.ndarray]]:
        out: dict[str, dict[str, np.ndarray]] = {}
        with self._open() as g:
            record = self._check_record(g, record)
            if not self._contains(g, sub):
                return out
            for layer in _layers(g):
                path = f"{sub}/{_encode(layer)}"
                if self._contains(g, path):
                    out[layer] = {_decode(var): self._read(ds, record, record + 1)
                                  for var, ds in self._members(g, path).items()}
        return out

    def variable_names(self, kind: str = _WEIGHTS) -> dict[str, list[str]]:
        """Recorded variable names per layer (``kind`` is 'weights' or 'gradients')."""
        if kind not in (_WEIGHTS, _GRADIENTS):
            raise ValueError(f"kind={kind!r} must be 'weights' or 'gradients'.")
        with self._open() as g:
            if not self._contains(g, kind):
                return {}
            return {layer: [_decode(v) for v in self._members(g, f"{kind}/{_encode(layer)}")]
                    for layer in _layers(g) if self._contains(g, f"{kind}/{_encode(layer)}")}

    @property
    def weight_values(self) -> int:
        """How many values one record of weights holds, over every recorded variable (metadata only)."""
        with self._open() as g:
            sizes = [view.size for path, view in self._packed(g).items() if path.startswith(f"{_WEIGHTS}/")]
            node = g.get(_WEIGHTS, getlink=True)
            if not isinstance(node, h5py.HardLink) or not isinstance(g[_WEIGHTS], h5py.Group):
                return int(sum(sizes))

            def visit(name: str, link: object) -> None:
                obj = g[_WEIGHTS].get(name) if isinstance(link, h5py.HardLink) else None
                if isinstance(obj, h5py.Dataset) and obj.ndim >= 1:
                    sizes.append(math.prod(obj.shape[1:]))

            g[_WEIGHTS].visititems_links(visit)
            return int(sum(sizes))

    def weights(self, record: int) -> dict[str, dict[str, np.ndarray]]:
        """Weights of every layer at a record: ``{layer: {variable: array}}``."""
        return self._nested(_WEIGHTS, record)

    def gradients(self, record: int) -> dict[str, dict[str, np.ndarray]]:
        """Full-batch gradients at a record: ``{layer: {variable: array}}``."""
        return self._nested(_GRADIENTS, record)

    def _output_layers(self, g: h5py.Group, kind: str) -> list[str]:
        if kind not in (_ACTIVATIONS, _Z):
            raise ValueError(f"kind={kind!r} must be 'activations' or 'z'.")
        if not self._contains(g, _OUTPUTS):
            return []
        return [layer for layer in _layers(g) if self._array(g, f"{_OUTPUTS}/{_encode(layer)}/{kind}") is not None]

    def output_layers(self, kind: str = _ACTIVATIONS) -> list[str]:
        """Layers whose outputs of ``kind`` ('activations' or 'z') were recorded."""
        with self._open() as g:
            return self._output_layers(g, kind)

    def outputs(self, record: int, layer: str, kind: str = _ACTIVATIONS) -> np.ndarray:
        """A layer's activations (or z-values with ``kind='z'``) on the recorded samples."""
        with self._open() as g:
            record = self._check_record(g, record)
            available = self._output_layers(g, kind)
            layer = self._stored_layer(g, layer, kind)
            if layer not in available:
                raise KeyError(f"no recorded {kind} for layer {layer!r}; layers with recorded {kind}: {available}.")
            return self._read(self._array(g, f"{_OUTPUTS}/{_encode(layer)}/{kind}"), record, record + 1)

    def output_samples(self, layer: str) -> np.ndarray | None:
        """Rows of ``inputs`` whose outputs were recorded for ``layer``; None when all of them were.

        Wide layers (see ``ReplayData(output_samples=...)``) have their
        outputs recorded for a subset of the samples only: row ``i`` of
        :meth:`outputs` is then sample ``output_samples(layer)[i]``.
        """
        with self._open() as g:
            key = _encode(layer)
            if not self._contains(g, f"{_OUTPUTS}/{key}"):
                key = _encode(self._stored_layer(g, layer, _ACTIVATIONS))
            samples = g.get(f"{_OUTPUTS}/{key}/{_SAMPLES}") if self._contains(g, f"{_OUTPUTS}/{key}") else None
            if isinstance(samples, h5py.Dataset):
                return self._bounded(samples)[()]
            return None

    def has(self, quantity: str) -> bool:
        """Whether any data of ``quantity`` (one of :data:`QUANTITIES`) is stored."""
        if quantity not in QUANTITIES:
            raise ValueError(f"quantity={quantity!r} must be one of {QUANTITIES}.")
        if quantity in (_ACTIVATIONS, _Z):
            return bool(self.output_layers(quantity))
        with self._open() as g:
            return self._contains(g, quantity)

    def _output_dataset(self, g: h5py.Group, quantity: str, output: str | None) -> h5py.Dataset | _PackedArray:
        """The array of predictions or losses (of one output, or the first/total when None)."""
        what = "predictions" if quantity == _PREDICTIONS else "per-sample losses"
        if quantity == _LOSSES and output is not None:
            per_output = self._members(g, _OUTPUT_LOSSES)
            if _encode(output) in per_output:
                return per_output[_encode(output)]
            total = self._array(g, _LOSSES)
            if not self._contains(g, _OUTPUT_LOSSES) and total is not None:  # one output: its loss is the total
                return total
            names = [_decode(k) for k in per_output]
            raise KeyError(f"output={output!r} has no recorded losses; outputs with losses: {names}.")
        if not self._contains(g, quantity):
            raise KeyError(f"{what} were not recorded (see ReplayData(record=...)).")
        single = self._array(g, quantity)
        if single is not None:
            return single
        members = self._members(g, quantity)
        names = json.loads(_text(g.attrs[_ATTR_OUTPUTS])) if _ATTR_OUTPUTS in g.attrs else \
            [_decode(k) for k in members]
        names = [name for name in names if _encode(name) in members]
        if output is None and names:
            output = names[0]
        if output is None or _encode(output) not in members:
            raise KeyError(f"output={output!r} is not an output of this model; outputs: {names}.")
        return members[_encode(output)]

    def predictions(self, record: int, output: str | None = None) -> np.ndarray:
        """Model outputs on the recorded samples at a record (of ``output``; default the first)."""
        with self._open() as g:
            record = self._check_record(g, record)
            return self._read(self._output_dataset(g, _PREDICTIONS, output), record, record + 1)

    def losses(self, record: int, output: str | None = None) -> np.ndarray:
        """Per-sample losses at a record: the total (default), or of one ``output``."""
        with self._open() as g:
            record = self._check_record(g, record)
            return self._read(self._output_dataset(g, _LOSSES, output), record, record + 1)

    # -- whole histories (every record at once) -----------------------------------------
    def _history_datasets(self, g: h5py.Group, quantity: str, layer: str | None) -> dict[str, h5py.Dataset]:
        """The datasets holding ``quantity`` (a flat ``{('<layer>', '<var>') or '': dataset}``)."""
        if quantity in (_WEIGHTS, _GRADIENTS):
            if not self._contains(g, quantity):
                return {}
            return {(lay, _decode(var)): ds for lay in _layers(g)
                    for var, ds in self._members(g, f"{quantity}/{_encode(lay)}").items()}
        if quantity in (_ACTIVATIONS, _Z):
            layer = self._stored_layer(g, layer, quantity)
            if layer not in self._output_layers(g, quantity):
                raise KeyError(f"no recorded {quantity} for layer {layer!r}; layers with recorded {quantity}: "
                               f"{self._output_layers(g, quantity)}.")
            return {"": self._array(g, f"{_OUTPUTS}/{_encode(layer)}/{quantity}")}
        if quantity in (_PREDICTIONS, _LOSSES):
            # ``layer`` names the output here (None: the first output's predictions, the total loss).
            return {"": self._output_dataset(g, quantity, layer)}
        raise ValueError(f"quantity={quantity!r} must be one of {QUANTITIES}.")

    def history_nbytes(self, quantity: str, layer: str | None = None) -> int:
        """Bytes :meth:`history` would take in memory (uncompressed), without reading anything."""
        with self._open() as g:
            n = _n_records(g)
            return sum(int(np.prod(ds.shape[1:], dtype=np.int64)) * n * ds.dtype.itemsize
                       for ds in self._history_datasets(g, quantity, layer).values())

    def history(self, quantity: str, layer: str | None = None) -> Any:
        """Every record of ``quantity`` at once, one read per dataset.

        ``'weights'`` and ``'gradients'`` give ``{layer: {variable: array (E, ...)}}``;
        ``'activations'`` and ``'z'`` (of ``layer``), ``'predictions'`` and
        ``'losses'`` give one array ``(E, ...)``.  ``E`` is the number of
        records when it is read.  Faster than :meth:`weights` (etc.) record by
        record when most records are needed; see :meth:`history_nbytes` for
        the memory it takes.  For ``'predictions'`` and ``'losses'``,
        ``layer`` names a model output (None: the first output's predictions,
        the total loss).
        """
        with self._open() as g:
            n = _n_records(g)
            datasets = self._history_datasets(g, quantity, layer)
            if quantity in (_WEIGHTS, _GRADIENTS):
                out: dict[str, dict[str, np.ndarray]] = {}
                for (lay, var), ds in datasets.items():
                    out.setdefault(lay, {})[var] = self._read(ds, slice(0, n), n)
                return out
            return self._read(datasets[""], slice(0, n), n)

    def iter_records(self) -> Iterator[int]:
        return iter(range(self.n_records))

    def nbytes(self) -> dict[str, int]:
        """Stored size in bytes per top-level dataset or group of this recording (metadata only)."""
        sizes: dict[str, int] = {}

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset) and name not in (_PACKED, _SCALARS):
                top = name.split("/")[0]
                sizes[top] = sizes.get(top, 0) + int(obj.id.get_storage_size())

        with self._open() as g:
            g.visititems(visit)
            packed = self._packed(g)
            if packed:  # the packed dataset's bytes, shared among its arrays by their columns
                stored, width = int(g[_PACKED].id.get_storage_size()), max(int(g[_PACKED].shape[1]), 1)
                for path, view in packed.items():
                    top = path.split("/")[0]
                    sizes[top] = sizes.get(top, 0) + stored * view.size // width
            columns = self._scalar_columns(g)
            if columns:  # likewise the scalars dataset's, among the series
                stored = int(g[_SCALARS].id.get_storage_size())
                for path in columns:
                    top = path.split("/")[0]
                    sizes[top] = sizes.get(top, 0) + stored // len(columns)
        return sizes


def _index_key(g: h5py.Group, node: object) -> tuple:
    """What a reader's checked index of ``packed`` or ``scalars`` (``node``) stays valid for.

    The group's writer, the index attribute's text (None when it is missing
    or not text: checked again every time) and the dataset's row shape.
    """
    raw = node.attrs.get(_ATTR_INDEX) if isinstance(node, h5py.Dataset) else None
    return (_text(g.attrs.get(_ATTR_WRITER)), _text(raw) if isinstance(raw, (str, bytes)) else None,
            node.shape[1:] if isinstance(node, h5py.Dataset) else None)


def _layers(g: h5py.Group) -> list[str]:
    return list(json.loads(_text(g.attrs[_ATTR_LAYERS])))


#: The key of the ``records`` attribute's id among a writer's HDF5 ids (``RecordingWriter._ids``, otherwise
#: keyed by dataset path): no link name holds a NUL (:func:`_encode` escapes it).
_RECORDS_ID = "\0records"


def _record_count_attribute(g: h5py.Group) -> h5py.h5a.AttrID | None:
    """The group's ``records`` attribute, opened, when it is an int64 scalar (as ``create`` made it), else None."""
    try:
        attr = h5py.h5a.open(g.id, _ATTR_RECORDS.encode())
    except KeyError:
        return None
    return attr if attr.dtype == np.int64 and attr.shape == () else None


def _set_record_count(g: h5py.Group, n: int) -> None:
    """Set the group's ``records`` attribute to ``n`` (an int64 scalar, as ``create`` made it).

    The existing attribute is overwritten in place through the low-level API:
    h5py's ``attrs[...] =`` deletes and creates it again, which costs about
    three times the CPU of a small record's whole attribute write.  Any other
    form (missing, another type: a file not made by this writer) is set the
    usual way.
    """
    attr = _record_count_attribute(g)
    if attr is not None:
        attr.write(np.array(n, dtype=np.int64))
    else:
        g.attrs[_ATTR_RECORDS] = np.int64(n)


def _n_records(g: h5py.Group) -> int:
    """Records complete in every dataset: ``len(epochs)``, capped by the ``records`` count when present."""
    n = int(g[_EPOCHS].shape[0])
    if _ATTR_RECORDS in g.attrs:
        n = min(n, int(g.attrs[_ATTR_RECORDS]))
    for name in (_PACKED, _SCALARS):  # version 2: datasets with a record axis too
        ds = g.get(name)
        if isinstance(ds, h5py.Dataset) and ds.ndim:
            n = min(n, int(ds.shape[0]))
    return n


# -- derived data: results computed from a recording, cached beside it ----------------------------------
# ``/<group>/derived/<kind>/<key>/<name>``.  Derived data never changes a recorded dataset or
# attribute, lives inside its recording's group (so replacing the recording drops it), and is only
# written to complete recordings (a recording in progress is never opened for anything but its records).
_DERIVED = "derived"


def _check_derived_names(kind: str, key: str) -> None:
    for name, value in (("kind", kind), ("key", key)):
        if not isinstance(value, str) or not value or "/" in value or value.startswith("."):
            raise ValueError(f"{name}={value!r} must be a non-empty name without '/'.")


def read_derived(filename: str | os.PathLike, group_name: str, kind: str, key: str) -> dict[str, np.ndarray] | None:
    """Arrays cached by :func:`write_derived` under ``kind``/``key``, or None when there are none.

    Parameters
    ----------
    filename, group_name
        The recording.
    kind : str
        What was cached (e.g. ``'loss_surfaces'``).
    key : str
        Which one (a digest of the parameters it was computed with).
    """
    _check_derived_names(kind, key)
    filename = os.fspath(filename)
    try:
        with _h5_read(filename) as f:
            path = f"{group_name}/{_DERIVED}/{kind}/{key}"
            if path not in f or not isinstance(f[path], h5py.Group):
                return None
            return {name: ds[()] for name, ds in f[path].items() if isinstance(ds, h5py.Dataset)}
    except OSError:
        return None


def write_derived(filename: str | os.PathLike, group_name: str, kind: str, key: str,
                  arrays: Mapping[str, np.ndarray], *, attrs: Mapping[str, Any] | None = None) -> bool:
    """Cache arrays computed from a recording in its file, under ``kind``/``key``; True if written.

    Nothing is written (and False returned) when the file cannot be opened for
    writing (read-only, or held by a writer in another process) or the
    recording is not complete (it may still be recording).  Recorded datasets
    are never touched; an existing entry of the same ``kind``/``key`` is
    replaced.
    """
    _check_derived_names(kind, key)
    filename = os.fspath(filename)
    if not os.access(filename, os.W_OK):
        return False
    try:
        with _h5_write(filename, what="derived data", wait=0.5) as f:
            if group_name not in f or not f[group_name].attrs.get(_ATTR_COMPLETE, False) or \
                    f[group_name].attrs.get("format") != FORMAT:
                return False
            parent = f[group_name].require_group(_DERIVED).require_group(kind)
            if key in parent:
                del parent[key]
            entry = parent.create_group(key)
            for name, value in arrays.items():
                entry.create_dataset(name, data=np.asarray(value))
            for name, value in (attrs or {}).items():
                entry.attrs[name] = value
        return True
    except (OSError, RecordingError):  # a cache that cannot be written is no error: it is computed again
        return False


# -- DeepReplay 0.1 recordings (read only) ------------------------------------------------------------
# DeepReplay 0.1.x wrote one group per run: ``inputs``, ``targets``, the Keras epoch logs (``loss``,
# ``acc``, ``lr``, ... one value per epoch) and ``layer{i}/weights{j}`` with shape (n_epochs + 1, ...)
# (record 0: before training), with attributes ``n_epochs``, ``n_layers``, ``batch_size``, ...; the
# model was saved apart by Keras 2.2 (``model.save``), its config in the ``model_config`` attribute.
LEGACY_FORMAT = "DeepReplay 0.1"
_LEGACY_INPUTS = "inputs"
_LEGACY_TARGETS = "targets"
_LEGACY_LAYER = "layer{}"
_LEGACY_WEIGHT = "weights{}"
_LEGACY_REQUIRED_ATTRS = ("n_epochs", "n_layers")
_KERAS2_MODEL_CONFIG = "model_config"
_KERAS2_TRAINING_CONFIG = "training_config"


class LegacyRecording(NamedTuple):
    """A DeepReplay 0.1 recording, read whole (see :func:`read_legacy_recording`).

    Attributes
    ----------
    inputs, targets : ndarray
        The recorded samples.
    attrs : dict
        The group's attributes (``n_epochs``, ``n_layers``, ``batch_size``, ...).
    logs : dict of str to ndarray
        Keras epoch logs, one value per epoch (``loss``, ``acc``, ``lr``, ...).
    weights : list of list of ndarray
        ``weights[i][j]``: variable ``j`` of layer ``i`` (model order, layers
        without variables included as empty lists), shape ``(n_epochs + 1, ...)``.
    """

    inputs: np.ndarray
    targets: np.ndarray
    attrs: dict[str, Any]
    logs: dict[str, np.ndarray]
    weights: list[list[np.ndarray]]

    @property
    def n_epochs(self) -> int:
        return int(self.attrs["n_epochs"])


def _legacy_group(f: h5py.File, group_name: str) -> h5py.Group | None:
    link = f.get(group_name, getlink=True) if group_name and "\0" not in group_name else None
    if not isinstance(link, h5py.HardLink):
        return None
    g = f[group_name]
    if not isinstance(g, h5py.Group) or "format" in g.attrs:
        return None
    if not all(a in g.attrs for a in _LEGACY_REQUIRED_ATTRS):
        return None
    if not all(isinstance(g.get(n, getclass=True), type) and g.get(n, getclass=True) is h5py.Dataset
               for n in (_LEGACY_INPUTS, _LEGACY_TARGETS)):
        return None
    return g


def legacy_groups(filename: str | os.PathLike) -> list[str]:
    """Names of the DeepReplay 0.1 recordings in ``filename`` (empty if none, or not HDF5)."""
    filename = os.fspath(filename)
    if not os.path.isfile(filename) or not _is_hdf5(filename):
        return []
    try:
        with _h5_read(filename) as f:
            return [name for name in f if _legacy_group(f, name) is not None]
    except (OSError, RuntimeError, KeyError, ValueError, TypeError):
        return []


def is_legacy_recording(filename: str | os.PathLike, group_name: str) -> bool:
    """Whether ``group_name`` of ``filename`` is a DeepReplay 0.1 recording."""
    return isinstance(group_name, str) and group_name in legacy_groups(filename)


def read_legacy_recording(filename: str | os.PathLike, group_name: str) -> LegacyRecording:
    """Read a DeepReplay 0.1 recording whole (its arrays are small: the weights of a few layers).

    Links are not followed and every read is bounded by the file's size.

    Raises
    ------
    RecordingError
        The group is not a DeepReplay 0.1 recording, or its datasets do not
        agree (number of epochs, samples).
    """
    filename = os.fspath(filename)
    _check_readable_file(filename)
    where = _describe(filename, group_name)
    size = max(os.path.getsize(filename), 1)

    def read(ds: h5py.Dataset) -> np.ndarray:
        filtered = ds.compression is not None or bool(ds.id.get_create_plist().get_nfilters())
        nbytes = int(np.prod(ds.shape, dtype=np.float64)) * ds.dtype.itemsize
        if nbytes > _READ_SLACK_BYTES + _MAX_EXPANSION[filtered] * size or ds.dtype.kind not in "biuf":
            raise RecordingError(f"{where} is damaged: dataset {ds.name!r} ({ds.shape}, {ds.dtype}) cannot be read.")
        return ds[()]

    with _reading(filename, f"group {group_name!r}") as f:
        g = _legacy_group(f, group_name)
        if g is None:
            raise RecordingError(f"{where} is not a DeepReplay 0.1 recording (it needs 'inputs', 'targets' and "
                                 f"the attributes {list(_LEGACY_REQUIRED_ATTRS)}).")
        attrs = {k: _text(v.tolist() if isinstance(v, np.ndarray) else v) for k, v in g.attrs.items()}
        attrs = {k: [_text(x) for x in v] if isinstance(v, list) else v for k, v in attrs.items()}
        try:
            n_epochs, n_layers = int(attrs["n_epochs"]), int(attrs["n_layers"])
        except (TypeError, ValueError):
            raise RecordingError(f"{where} is damaged: n_epochs={attrs['n_epochs']!r}, "
                                 f"n_layers={attrs['n_layers']!r} are not integers.") from None
        inputs, targets = read(g[_LEGACY_INPUTS]), read(g[_LEGACY_TARGETS])
        if len(inputs) != len(targets) or len(inputs) == 0:
            raise RecordingError(f"{where} is damaged: {len(inputs)} inputs and {len(targets)} targets.")
        logs: dict[str, np.ndarray] = {}
        weights: list[list[np.ndarray]] = []
        for name in g:
            if not isinstance(g.get(name, getlink=True), h5py.HardLink):
                raise RecordingError(f"{where}: {name!r} is a link, and deepreplay does not follow links.")
            obj = g[name]
            if isinstance(obj, h5py.Dataset) and name not in (_LEGACY_INPUTS, _LEGACY_TARGETS) and obj.ndim == 1:
                logs[name] = read(obj).astype(np.float64)
        for i in range(n_layers):
            layer = g.get(_LEGACY_LAYER.format(i))
            if not isinstance(layer, h5py.Group):
                raise RecordingError(f"{where} is damaged: it has no group {_LEGACY_LAYER.format(i)!r} "
                                     f"of its n_layers={n_layers}.")
            variables = []
            for j in range(len(layer)):
                link = layer.get(_LEGACY_WEIGHT.format(j), getlink=True)
                ds = layer.get(_LEGACY_WEIGHT.format(j))
                if not isinstance(link, h5py.HardLink) or not isinstance(ds, h5py.Dataset):
                    raise RecordingError(f"{where} is damaged: {layer.name}/{_LEGACY_WEIGHT.format(j)} is missing.")
                if ds.ndim == 0 or ds.shape[0] != n_epochs + 1:
                    raise RecordingError(f"{where} is damaged: {ds.name} has shape {ds.shape}, not "
                                         f"n_epochs + 1 = {n_epochs + 1} records.")
                variables.append(read(ds))
            weights.append(variables)
    return LegacyRecording(inputs, targets, attrs, logs, weights)


def read_keras2_model_file(filename: str | os.PathLike) -> tuple[str, str | None]:
    """``(model_config, training_config)`` JSON strings of a model file saved by Keras 2 (``model.save``).

    Only the two attributes are read (the weights in the file are not used).

    Raises
    ------
    RecordingError
        Not an HDF5 file, or no ``model_config`` attribute.
    """
    filename = os.fspath(filename)
    if not os.path.exists(filename):
        raise FileNotFoundError(f"model_filename={filename!r} does not exist; give the model file that "
                                "DeepReplay 0.1 used (saved by Keras 2 with model.save).")
    if not os.path.isfile(filename) or not _is_hdf5(filename):
        raise RecordingError(f"model_filename={filename!r} is not an HDF5 model file saved by Keras 2.")
    with _reading(filename, "the model file") as f:
        config = f.attrs.get(_KERAS2_MODEL_CONFIG)
        training = f.attrs.get(_KERAS2_TRAINING_CONFIG)
        if config is None:
            raise RecordingError(f"model_filename={filename!r} has no 'model_config' attribute: it is not a "
                                 "model saved by Keras 2 with model.save.")
        return str(_text(config)), (None if training is None else str(_text(training)))
