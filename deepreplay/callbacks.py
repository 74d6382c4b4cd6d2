"""Recording: the :class:`ReplayData` Keras callback.

Any Keras model is recorded: Sequential, functional (several inputs and
outputs, as lists or dicts), subclassed (built by calling it once on the
recorded inputs) and nested models.  Which samples are recorded is decided
in :mod:`deepreplay.sampling` (stratified ``max_samples``, probe samples for
feature maps); :meth:`ReplayData.estimate` sizes a recording before training.
"""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
import math
import os
import warnings
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import keras
import numpy as np

from . import _backend, compute, sampling, storage, structure, weighting
from .layer_probe import LayerProbe
from .layer_tree import every_layer, may_add_call_losses
from .losses import (
    binary_crossentropy_misfit,
    loss_name,
    output_masks,
    output_names,
    per_sample_loss,
    set_mask_scales,
    sparse_label_misfit,
)
from .metrics import MetricSpec, compiled_metrics
from .model_inspection import model_layers, renamed_activations, variable_holders
from .numpy_step import NumpyStep, numpy_step

__all__ = ["ReplayData"]

_COMPRESSIONS = (None, "gzip", "lzf")  # and "auto", the default

#: Layers whose outputs on all recorded samples exceed this many values per record are
#: "wide": their per-sample outputs are recorded for ``output_samples`` samples only.
WIDE_OUTPUT_VALUES = 16384
#: Default ``max_bytes`` of :class:`ReplayData`: a warning before recording more than this (1 GiB).
DEFAULT_MAX_BYTES = 2**30
#: HDF5 overhead per dataset assumed by :meth:`ReplayData.estimate` (header and chunk index).
HDF5_BYTES_PER_DATASET = 4 * 1024
#: Gradients of variables with at least this many values are "large" (rounded to ``significant_bits``).
LARGE_VARIABLE_VALUES = 4096
#: Default ``gradient_samples`` of :class:`ReplayData`: recordings of more samples than this compute the
#: gradients on a stratified subset of this many of them (fewer keep exact full-batch gradients).
DEFAULT_GRADIENT_SAMPLES = 2048


def round_significand(values: np.ndarray, bits: int = 11) -> np.ndarray:
    """float32 values rounded (to nearest) to ``bits`` significant bits; NaN and infinities kept.

    The exponent is kept, so nothing overflows or underflows as with float16;
    the zeroed low bits of the significand compress to almost nothing.
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    drop = 24 - bits
    if drop <= 0:
        return values
    raw = values.view(np.uint32)
    rounded = ((raw + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)).view(np.float32)
    return np.where(np.isfinite(values), rounded, values)


def _positive_int(name: str, value: object, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be a positive integer{' or None' if allow_none else ''}.")
    if value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer (1 or more).")
    return int(value)


def _describe_arrays(value: Any) -> str:
    """'shape (n, k), dtype float32' of an array, or of each array of a list/dict."""
    arrays = structure.leaves(value)
    return "; ".join(f"shape {a.shape}, dtype {a.dtype}" for a in arrays)


def _metric_select(metric: MetricSpec) -> _backend.MetricSelect | None:
    """What ``metric`` measures of the targets and predictions (one output's part, carrying its mask), or
    None (all of them, as they are)."""
    if metric.output is None and metric.mask is None:
        return None
    return metric.select


def _fit_locals(model: keras.Model) -> dict[str, Any]:
    """The local variables of the running ``model.fit`` call, when it can be seen (else empty).

    Keras does not pass the batch size or ``initial_epoch`` to callbacks; ``fit`` itself has them.
    """
    frame = inspect.currentframe()
    try:
        while frame is not None:
            if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
                return dict(frame.f_locals)
            frame = frame.f_back
        return {}
    finally:
        del frame


def _stop_training_if_failed(model_ref: Callable[[], keras.Model | None] | None,
                             done: concurrent.futures.Future) -> None:
    """(Writer thread) A failed write asks Keras to stop the fit after the batch in progress."""
    if not done.cancelled() and done.exception() is not None:
        model = model_ref() if model_ref is not None else None
        if model is not None:
            model.stop_training = True


def _fit_batch_size(model: keras.Model) -> int | None:
    """The ``batch_size`` given to the running ``model.fit`` call, when it can be seen."""
    found = _fit_locals(model)
    if not found:
        return None
    size = found.get("batch_size")
    if size is None and isinstance(found.get("x"), np.ndarray):
        size = 32  # Keras' default for arrays
    return int(size) if size is not None else None


def _fit_initial_epoch(model: keras.Model) -> int:
    """The epoch the running ``model.fit`` call starts from (0 when unknown): its ``initial_epoch``, or the
    one ``keras.callbacks.BackupAndRestore`` resumes from (it sets ``model._initial_epoch``, which ``fit``
    takes in place of its argument)."""
    for value in (getattr(model, "_initial_epoch", None), _fit_locals(model).get("initial_epoch", 0)):
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value:
            return int(value)
    return 0


def _defined_by_user(model: keras.Model, method: str) -> bool:
    """Whether ``model``'s ``method`` (``compute_loss``, ``train_step``) is defined by a class outside Keras."""
    for klass in type(model).__mro__:
        if method in vars(klass):
            return not klass.__module__.startswith("keras.")
    return False


class ReplayData(keras.callbacks.Callback):
    """Record a model's training, epoch by epoch, into a group of an HDF5 file.

    Add it to ``model.fit(..., callbacks=[replaydata])``.  Record 0 is the
    state before any update (taken in ``on_train_begin``); then every
    ``every``-th epoch is recorded, and the last epoch always is.  Each record
    holds, on the recorded samples and in inference mode: every layer's
    weights, the full-batch gradients of the loss with respect to every
    trainable variable, every layer's outputs and pre-activation values
    (z-values), the predictions, the per-sample losses, the loss and metrics
    evaluated on those samples, and the epoch's Keras logs (with the learning
    rate in use).  Read it back with :class:`deepreplay.replay.Replay`.

    Parameters
    ----------
    inputs : array-like, shape (n, ...), or a list or dict of them
        The samples to record the model on (often the training inputs); for
        a model with several inputs, a list (in the model's input order) or
        a dict (by input name) of arrays, as ``model.fit`` takes them.
    targets : array-like, shape (n, ...), or a list or dict of them
        Their targets, in the form the model's loss expects; one array per
        output (list or dict by output name) for a model with several
        outputs.  The recorded per-sample losses are those of the model's
        loss(es) on these targets, *unweighted*: ``sample_weight`` and
        ``class_weight`` given to ``fit`` are not applied (with several
        outputs, the total is weighted by the compiled ``loss_weights``).
    filename : str or path-like
        HDF5 file to write; created if missing.  Other groups in it are never
        touched.
    group_name : str
        Name of the group for this run.  An existing group is refused unless
        ``overwrite=True``.
    model : keras.Model, optional
        Give a compiled model to record its initial state right away, without
        training (for studying initializers).  Leave it out when the callback
        is used in ``fit``.
    every : int, default 1
        Record every ``every``-th epoch (epoch 0 and the last epoch are always
        recorded).
    max_samples : int, optional
        Record at most this many samples, drawn (seeded by ``seed``) from
        ``inputs``: stratified for a classification (targets that are
        integer labels, a 0/1 column or one-hot rows; every class kept in
        proportion), at random otherwise; their positions in ``inputs`` are
        stored.  ``None`` records all of them.
    record : iterable of str, optional
        Which of ``'weights', 'gradients', 'activations', 'z', 'predictions',
        'losses'`` to record.  ``None`` records all of them.
    compression : {'auto', None, 'gzip', 'lzf'}, default 'auto'
        HDF5 compression of the per-record arrays.  ``'auto'`` compresses
        (gzip level 1, byte-shuffled, lossless) the gradients and layer
        outputs whose record takes 16 KiB or more (rounded, see
        ``significant_bits``, they shrink about 2x) and leaves everything else
        as it is (float32 weights barely compress); ``None`` compresses
        nothing; ``'gzip'`` (level 4) and ``'lzf'`` compress every array.
    output_samples : int or None, default 64
        Layers whose outputs (activations, z-values) on all recorded samples
        exceed 16,384 values per record ("wide" layers, e.g. 100 units x
        1,000 samples) have them recorded for this many of the recorded
        samples only: a fixed random subset (seeded by ``seed``), stored as
        ``outputs/<layer>/samples``.  Their distributions are drawn from
        those values.  Narrow layers (such as a 2-unit feature-space layer)
        keep every sample.  ``None`` records every sample of every layer.
    significant_bits : int or None, default 11
        The outputs of wide layers and the gradients of large variables
        (4,096 values or more) are rounded to this many significant bits
        (11: a relative error of at most 2**-11, about 3 decimal digits; the
        exponent is kept, so nothing overflows or underflows as it would
        with float16), which lets them compress about 2x.  ``None`` keeps
        full float32.  Weights, predictions, losses and small arrays are
        never rounded: replaying the model stays exact.

    With the defaults a small model such as the Part 1 network (2-2-1, 2,000
    samples) is recorded exactly and uncompressed, and the BLOCK run of the
    Part 2 post (5 x Dense(100), 1,000 samples, 150 epochs) takes about
    58 MiB instead of 627 MiB; ``benchmarks/README.md`` measures how
    faithful its layer distributions stay.  ``output_samples=None,
    significant_bits=None, compression=None`` records everything at full
    resolution.
    overwrite : bool, default False
        Replace an existing group of the same name (other groups are kept).
    batch_size : int, optional
        Stored in the recording as the batch size.  By default the batch size
        given to ``fit`` is used.
    seed : int, default 0
        Seed of the sample subset drawn when ``max_samples`` is smaller than
        the number of samples, and of the ``output_samples`` subset.
    every_steps : int, optional
        Record every ``every_steps`` training steps (batches) instead of
        every ``every`` epochs: step 0 (before training), then each step
        that completes a multiple of ``every_steps``, and the last step.
        The recording is then *step-based*: its records are keyed by step
        (``Replay(...).epochs`` holds the steps, every visual titles its
        frames "Step: ..."), and each record also stores its fractional
        epoch (``Replay(...).epoch_fractions``).  Its logs are Keras' batch
        logs (running means over the epoch so far).  With
        ``steps_per_execution=k`` Keras reports every k-th step only; a
        record is then taken at the first reported step at or past each
        multiple.
    chief : bool, optional
        Whether this process records.  ``None`` (the default) lets the
        distribution decide, so that in a multi-process run exactly one
        process writes the file: on TensorFlow the chief of the
        ``tf.distribute`` cluster (``TF_CONFIG``: the ``"chief"`` task, or
        worker 0 when there is none); on JAX process 0; on PyTorch rank 0
        of ``torch.distributed``; a single process always records (see
        :func:`deepreplay._backend.is_chief`).  ``False`` makes the callback
        do nothing at all (no file is opened, nothing is computed), ``True``
        records in this process whatever its rank.
    probe_samples : 'auto', list of int or None, default 'auto'
        Feature maps (layer outputs of shape ``(n, height, width,
        channels)`` or of higher rank, as convolutional layers give) are
        recorded for these few samples only, whatever their size: ``'auto'``
        takes the first recorded sample of each class (the first 4 samples
        when the targets are not class labels); a list gives indices into
        ``inputs`` (they are recorded even if ``max_samples`` left them out).
        ``None`` records feature maps as any other output (see
        ``output_samples``).  Read them with ``Replay.outputs_at(epoch,
        layer)``, whose rows are ``Replay.probe_indices``.
    max_bytes : int or None, default 1 GiB (``2**30``)
        Before the first record is written, the recording's size is
        estimated (see :meth:`estimate`); above ``max_bytes`` a warning says
        so and names the options that shrink it.  ``None`` never warns.
    sample_weight : array-like, shape (n,), or a dict or list of them, optional
        The weight of each sample of ``inputs`` (as given to
        ``fit(sample_weight=...)``; for several outputs, also each output's
        weights by output name or in output order), for the metrics compiled as
        ``weighted_metrics``: they are evaluated on the recorded samples with
        these weights, under Keras' log names (``weighted_accuracy`` when
        ``accuracy`` is also an unweighted metric).  Without it they are
        evaluated unweighted (``fit``'s sample weights and ``class_weight``
        never reach a callback).  The per-sample losses and the other
        metrics stay unweighted either way.
    gradient_samples : int or None, default 2048
        The recorded gradients are those of the mean loss (plus
        regularisation) over all the recorded samples when there are at most
        this many of them (the networks of the posts: 1,000 to 2,000
        samples); over more, they are computed on a subset of this many
        recorded samples only: stratified by class for a classification,
        at random otherwise, seeded by ``seed``, the same subset every
        record, stored with the recording (``Replay.gradient_indices``).
        Predictions, per-sample losses, the loss and the metrics are still
        computed on every recorded sample (forward passes only).  A
        backward pass costs about twice a forward pass, so on 10,000
        recorded samples the record's compute drops by about half.
        ``None`` always computes full-batch gradients.
    class_weight : dict {int: float}, optional
        The ``class_weight`` given to ``fit``: each recorded sample's
        ``weighted_metrics`` weight is that of its class (its integer label,
        or the position of the largest value of a one-hot or probability
        row, as Keras derives it; 1 for a class not in the dict).  Only the
        ``weighted_metrics`` change; the per-sample losses, the loss and the
        other metrics stay unweighted.  For a model with one output only,
        and not together with ``sample_weight`` (Keras 3's ``fit`` refuses
        both as well).

    Raises
    ------
    TypeError, ValueError
        For bad arguments, before anything is written; file problems (not
        HDF5, not writable, existing group) are raised when recording starts,
        before any training step.
    deepreplay.errors.RecordingError
        A record could not be written (a full disk, a quota, an I/O error;
        an ``OSError`` and a ``ValueError``): raised at the next record or
        when training ends, naming the file, the error and the free space;
        the records before it stay readable and the group stays incomplete.
        Also raised when recording starts if another process holds the file
        open for more than two minutes.

    Notes
    -----
    Each record is computed in the callback and written to the file by a
    background thread while the next epoch trains; at most one record is in
    flight, and every record is on disk when ``fit`` returns.  One compiled
    call (see :class:`deepreplay._backend.CompiledStep`) gives a record's
    predictions, losses, gradients, metrics, weights and, on TensorFlow, the
    layer outputs (elsewhere the layer probe makes a second call); the
    layer outputs are computed for the kept samples only when every layer
    keeps some of them (wide layers, feature maps).  For small plain Dense
    stacks (the posts' networks) a NumPy step computes the same values
    without compiling anything (see :mod:`deepreplay.numpy_step`).
    """

    def __init__(
        self,
        inputs: Any,
        targets: Any,
        filename: str | os.PathLike,
        group_name: str,
        model: keras.Model | None = None,
        *,
        every: int = 1,
        max_samples: int | None = None,
        record: Iterable[str] | None = None,
        compression: str | None = "auto",
        overwrite: bool = False,
        batch_size: int | None = None,
        seed: int = 0,
        output_samples: int | None = 64,
        significant_bits: int | None = 11,
        every_steps: int | None = None,
        chief: bool | None = None,
        probe_samples: str | Iterable[int] | None = "auto",
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        sample_weight: Any = None,
        gradient_samples: int | None = DEFAULT_GRADIENT_SAMPLES,
        class_weight: dict[int, float] | None = None,
    ) -> None:
        super().__init__()
        x = structure.as_structure("inputs", inputs)
        y = structure.as_structure("targets", targets)
        if isinstance(x, np.ndarray) and x.ndim < 2:
            raise ValueError(
                f"inputs has shape {x.shape}; expected one row per sample, shape (n_samples, n_features). "
                "Reshape a single feature with inputs.reshape(-1, 1)."
            )
        if structure.n_samples(x) != structure.n_samples(y):
            raise ValueError(
                f"inputs has {structure.n_samples(x)} samples but targets has {structure.n_samples(y)}; "
                "give one target per input sample."
            )
        if structure.n_samples(x) == 0:
            raise ValueError("inputs is empty; give at least one sample to record.")
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"filename={filename!r} must be a path (str or os.PathLike), such as 'run.h5'.")
        storage.check_group_name(group_name)
        if model is not None and not isinstance(model, keras.Model):
            raise TypeError(
                f"model={model!r} ({type(model).__name__}) must be a compiled keras.Model; leave model "
                "out when the callback is given to model.fit(..., callbacks=[...])."
            )
        self.every = _positive_int("every", every)
        self.every_steps = _positive_int("every_steps", every_steps, allow_none=True)
        if self.every_steps is not None and self.every != 1:
            raise ValueError(
                f"every={every!r} and every_steps={every_steps!r}: record either every `every` epochs or every "
                "`every_steps` steps; leave one of them out."
            )
        if chief is not None and not isinstance(chief, (bool, np.bool_)):
            raise TypeError(f"chief={chief!r} must be True, False or None (let the distribution decide).")
        self.chief = None if chief is None else bool(chief)
        self.max_samples = _positive_int("max_samples", max_samples, allow_none=True)
        if record is None:
            quantities = storage.QUANTITIES
        else:
            if isinstance(record, str):
                record = [record]
            try:
                quantities = tuple(record)
            except TypeError:
                raise TypeError(
                    f"record={record!r} must be an iterable of names from {storage.QUANTITIES}, or None for all."
                ) from None
            unknown = sorted(map(repr, set(quantities) - set(storage.QUANTITIES)))
            if unknown:
                raise ValueError(f"record={list(quantities)!r} has unknown names {unknown}; choose from {storage.QUANTITIES}.")
            if not quantities:
                raise ValueError(
                    f"record={record!r} is empty; give at least one of {storage.QUANTITIES}, or None for all."
                )
            quantities = tuple(q for q in storage.QUANTITIES if q in quantities)
        self.quantities = quantities
        if compression not in _COMPRESSIONS and compression != "auto":
            raise ValueError(f"compression={compression!r} must be one of {_COMPRESSIONS} or 'auto' (the default).")
        self.output_samples = _positive_int("output_samples", output_samples, allow_none=True)
        self.significant_bits = _positive_int("significant_bits", significant_bits, allow_none=True)
        if self.significant_bits is not None and self.significant_bits > 24:
            raise ValueError(f"significant_bits={significant_bits!r} must be at most 24 (float32), or None.")
        self.batch_size = _positive_int("batch_size", batch_size, allow_none=True)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"seed={seed!r} must be an integer.")
        self.filename = os.fspath(filename)
        directory = os.path.dirname(os.path.abspath(self.filename))
        if self.chief is not False and not os.path.isdir(directory):
            raise ValueError(f"filename={self.filename!r}: the directory {directory!r} does not exist; create it first.")
        self.group_name = group_name
        self.overwrite = bool(overwrite)

        n = self._n_given = structure.n_samples(x)
        labels = sampling.class_labels_or_none(structure.leaves(y)[0])
        indices = sampling.subset(n, self.max_samples, labels, int(seed)) if self.max_samples is not None \
            else np.arange(n)
        probes = self._probe_indices(probe_samples, n)
        if probes is not None:
            # The probe samples are recorded even when max_samples left them out.
            indices = np.union1d(indices, probes)
        self.sample_indices = indices
        if probe_samples is None:
            self.probe_rows: np.ndarray | None = None
        elif probes is None:  # "auto": one per class among the recorded samples
            self.probe_rows = sampling.probe_rows(None if labels is None else labels[indices], len(indices))
        else:
            self.probe_rows = np.searchsorted(indices, probes)
        self.max_bytes = _positive_int("max_bytes", max_bytes, allow_none=True)
        self.gradient_samples = _positive_int("gradient_samples", gradient_samples, allow_none=True)
        # The recorded samples the gradients are computed on (positions among them), or None: all.
        self.gradient_rows: np.ndarray | None = None
        if self.gradient_samples is not None and self.gradient_samples < len(indices):
            self.gradient_rows = sampling.subset(len(indices), self.gradient_samples,
                                                 None if labels is None else labels[indices], int(seed))
        self.inputs = structure.take(x, indices)
        self.targets = structure.take(y, indices)
        self.sample_weight = None if sample_weight is None else weighting.map_sample_weight(
            lambda w: weighting.check_sample_weight(w, n)[indices], sample_weight)
        self.class_weight = None if class_weight is None else self._class_weight(class_weight, y, sample_weight)
        if self.class_weight is not None:
            self.sample_weight = weighting.class_sample_weights(self.class_weight, self.targets)
        n_recorded = len(indices)
        # The samples whose outputs are kept for wide layers (positions among the recorded ones).
        if self.output_samples is not None and self.output_samples < n_recorded:
            rng = np.random.default_rng([int(seed), 1])
            self._output_rows: np.ndarray | None = np.sort(rng.choice(n_recorded, size=self.output_samples,
                                                                      replace=False))
        else:
            self._output_rows = None

        self._writer = storage.RecordingWriter(self.filename, self.group_name, compression=compression)
        self._started = False
        self._active: bool | None = None  # whether this process records (decided when recording starts)
        self._epochs_seen = 0  # epochs trained before the current state (the label of the next record)
        self._recorded_model: weakref.ref | None = None  # the model this callback records, once started
        # Step-based recording (every_steps): steps done before the current epoch, and in all.
        self._steps_before_epoch = 0
        self._steps_seen = 0
        self._epoch_index = 0
        self._last_batch_logs: dict = {}
        if self.every_steps is not None:
            # Only step-based recordings look at batches: a callback with its own on_train_batch_end
            # makes Keras dispatch batch hooks synchronously.
            self.on_train_batch_end = self._on_train_batch_end
        self._size_checked = False
        self._model_config: str | None = None
        self._planned_epochs = 0
        self._last_recorded: int | None = None
        self._last_epoch_logs: dict = {}
        self._probe: LayerProbe | None = None
        self._loss_fn = None
        # What the model adds to the recorded loss, planned in _prepare (see _plan_regularization).
        self._call_losses: bool | None = None
        self._no_added_losses = False
        self._step: _backend.CompiledStep | NumpyStep | None = None
        # The step's outputs computed when the targets were checked, for the record that follows.
        self._first_outputs: _backend.StepOutputs | None = None
        # The probe's inputs and their rows when it runs on the samples kept of every layer only, or
        # False: all the recorded samples (decided in _prepare, see _probe_subset).
        self._subset: tuple[Any, np.ndarray] | bool | None = None
        # Records are written by one background thread while training goes on; at most
        # one record is in flight (see _submit).
        self._write_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending_write: concurrent.futures.Future | None = None
        self._metrics: list[MetricSpec] = []

        if model is not None:
            self.set_model(model)
            if not self.is_chief:
                return
            self._start(planned_epochs=0)
            self._finish_writes(stop=True)
            self._writer.mark_complete()

    @property
    def is_chief(self) -> bool:
        """Whether this process records (``chief``, or the distribution's choice; see the class doc)."""
        if self._active is None:
            self._active = self.chief if self.chief is not None else _backend.is_chief(self.model)
        return self._active

    @staticmethod
    def _probe_indices(probe_samples: object, n: int) -> np.ndarray | None:
        """User-given probe samples (positions in the given inputs), checked; None for 'auto' or None."""
        if probe_samples is None or (isinstance(probe_samples, str) and probe_samples == "auto"):
            return None
        if isinstance(probe_samples, str):
            raise ValueError(f"probe_samples={probe_samples!r} must be 'auto', None or a list of sample indices.")
        try:
            probes = np.asarray(list(probe_samples))
        except TypeError:
            raise TypeError(f"probe_samples={probe_samples!r} must be 'auto', None or a list of sample indices.") from None
        if probes.size == 0 or probes.dtype.kind not in "iu" or probes.ndim != 1:
            raise ValueError(f"probe_samples={probe_samples!r} must be a non-empty list of integer sample indices.")
        if probes.min() < 0 or probes.max() >= n:
            raise ValueError(f"probe_samples={probe_samples!r} has indices outside 0..{n - 1} (the rows of inputs).")
        return np.unique(probes)

    # -- Keras hooks ---------------------------------------------------------
    def set_model(self, model: keras.Model) -> None:
        """Keras' hook; a callback that records one model refuses to be attached to another."""
        recorded = self._recorded_model() if self._recorded_model is not None else None
        if recorded is not None and model is not recorded:
            raise ValueError(
                f"this ReplayData already records model {recorded.name!r} into group {self.group_name!r} of "
                f"{self.filename!r}; it cannot also record model {getattr(model, 'name', model)!r}. Create a "
                "new ReplayData (with another group_name) for each model."
            )
        super().set_model(model)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.is_chief:
            return
        # fit(initial_epoch=k) resumes a run: its records are labelled with the true epoch numbers.
        initial_epoch = _fit_initial_epoch(self.model)
        if self._started:  # a later fit call: keep appending to the same recording
            self._finish_writes()
            self._writer.mark_complete(False)
            self._epochs_seen = max(self._epochs_seen, initial_epoch)
            return
        self._epochs_seen = initial_epoch
        self._start(planned_epochs=int(self.params.get("epochs", 0)) if self.params else 0)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_index = epoch
        self._raise_failed_write()
        if self._started and epoch > self._epochs_seen:
            # fit starts later than it said at on_train_begin: a callback after this one resumed the run
            # (BackupAndRestore restores the weights and the epoch there); label the records by the true epochs.
            warnings.warn(
                f"deepreplay: fit resumed at epoch {epoch} after ReplayData had recorded the starting state as "
                f"epoch {self._epochs_seen}: a callback listed after ReplayData (keras.callbacks."
                "BackupAndRestore) restored the run, so that record holds the weights before the restore. "
                "List ReplayData after BackupAndRestore in callbacks=[...].",
                UserWarning, stacklevel=2,
            )
            self._epochs_seen = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self._started:
            return
        # A record that failed while this epoch trained ended it early (see _submit): stop here,
        # before anything of this epoch is recorded or counted.
        self._raise_failed_write()
        self._epochs_seen += 1
        self._last_epoch_logs = dict(logs or {})
        if self.every_steps is not None:
            self._steps_before_epoch = self._steps_seen
        elif self._epochs_seen % self.every == 0:
            self._record(self._epochs_seen, logs or {})

    def _on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Count the step (``batch`` is its index in the epoch) and record it when it is due."""
        if not self._started:
            return
        self._raise_failed_write()
        previous = self._steps_seen
        # With steps_per_execution=k Keras reports the last execution of an epoch as ending at its k-th step
        # even when the epoch ran out of batches before it: the steps done are at most the epoch's steps.
        steps = self.params.get("steps") if self.params else None
        done = int(batch) + 1
        self._steps_seen = self._steps_before_epoch + (min(done, int(steps)) if steps else done)
        self._last_batch_logs = dict(logs or {})
        if self._steps_seen // self.every_steps > previous // self.every_steps:
            self._record(self._steps_seen, self._last_batch_logs)

    def _epoch_fraction(self) -> float:
        """Epochs done at the current step (NaN when Keras does not know the steps per epoch)."""
        if self._steps_seen == 0:
            return 0.0
        into = self._steps_seen - self._steps_before_epoch
        if into == 0:  # at the end of an epoch (the last record)
            return float(self._epoch_index + 1)
        steps = self.params.get("steps") if self.params else None
        return self._epoch_index + into / steps if steps else math.nan

    def on_train_end(self, logs: dict | None = None) -> None:
        if not self._started:
            return
        self._raise_failed_write()
        last = self._steps_seen if self.every_steps is not None else self._epochs_seen
        if self._last_recorded != last:
            # The last epoch (step) was not recorded (``every``, ``every_steps``): record it with its logs.
            if self.every_steps is not None:
                self._record(last, self._last_batch_logs)
            else:
                self._record(last, self._last_epoch_logs)
        self._finish_writes(stop=True)
        self._writer.mark_complete()

    # -- recording -------------------------------------------------------------
    def _check_model(self, model: keras.Model) -> None:
        if not isinstance(model, keras.Model):
            raise TypeError(f"ReplayData records a keras.Model, got {type(model).__name__}.")
        if not model.built or not model.weights:
            # A subclassed model is built by Keras at its first batch, after on_train_begin: build
            # it here by calling it once on a few recorded samples (this creates its variables,
            # drawing their initial values as the first batch would, and changes no weight).
            try:
                model(structure.take(self.inputs, slice(0, 2)), training=False)
            except Exception as exc:
                raise ValueError(
                    f"the model is not built and calling it on the recorded inputs failed "
                    f"({type(exc).__name__}: {exc}); give inputs the model accepts, or build it "
                    "(keras.Input(shape=...), or call it once) before recording."
                ) from exc
        stateful = sorted({layer.name for layer in every_layer(model) if getattr(layer, "stateful", False) is True})
        if stateful:
            raise ValueError(
                f"the model has stateful layers {stateful} (stateful=True: each batch starts from the state the "
                "previous one left, with a fixed batch size); every record calls the model on the recorded samples, "
                "which would replace that state in the middle of training, so deepreplay cannot record this model. "
                "Record the model built with stateful=False instead, or fit this one without ReplayData."
            )
        renamed = renamed_activations(every_layer(model))
        if renamed:  # recorded as trained; only what is computed again from the rebuilt model would differ
            layers = ", ".join(f"{layer!r} ({name!r})" for layer, name in renamed)
            warnings.warn(
                f"deepreplay: the activation of {'layers' if len(renamed) > 1 else 'layer'} {layers} is your own "
                "function, which Keras saves under the name of one of its own: the replay rebuilds the model with Keras' function in its place, so model_at(), "
                "predict_proba(X=...), the decision boundary and the feature space's grid and regions would not be "
                "your model's (the recorded predictions, losses and layer outputs are). Give your function another "
                "name and register it (@keras.saving.register_keras_serializable()), then replay with "
                "Replay(..., custom_objects=...) or with its module imported.",
                UserWarning, stacklevel=2,
            )
        try:
            inputs = model.inputs
        except (AttributeError, ValueError):  # a subclassed model has no symbolic inputs
            inputs = None
        own = [name for name in ("compute_loss", "train_step") if _defined_by_user(model, name)]
        if own:
            warnings.warn(
                f"deepreplay: {type(model).__name__} has its own {' and '.join(own)}: the recorded per-sample "
                f"losses, loss and gradients are those of the compiled loss ({loss_name(model)!r}), with the "
                "add_loss terms and regularisers, not what its own code adds to it or trains on. Put an extra "
                "term in a layer's self.add_loss to have it recorded.",
                stacklevel=2,
            )
        given = structure.leaves(self.inputs)
        if inputs and len(inputs) != len(given):
            raise ValueError(
                f"the model has {len(inputs)} inputs but inputs holds {len(given)} array(s); give one array "
                "per model input (a list in the model's input order, or a dict by input name), as to model.fit."
            )
        if inputs and len(inputs) == 1:
            expected = tuple(inputs[0].shape[1:])
            got = given[0].shape[1:]
            if len(expected) != len(got) or any(e is not None and e != g for e, g in zip(expected, got)):
                raise ValueError(
                    f"inputs has samples of shape {got}, but the model expects {expected} "
                    f"(input shape {tuple(inputs[0].shape)}); give inputs that fit the model."
                )

    @staticmethod
    def _class_weight(class_weight: Any, targets: Any, sample_weight: Any) -> dict[int, float]:
        """``class_weight`` checked against the targets, as Keras 3's ``fit`` checks it."""
        if sample_weight is not None:
            raise ValueError(
                "sample_weight and class_weight are both given; Keras 3's fit refuses them together, so no fit "
                "logs metrics weighted by both. Give one of them (for their product, give "
                "sample_weight=w * [class_weight[c] for c in classes])."
            )
        checked = weighting.check_class_weight(class_weight)
        if len(structure.leaves(targets)) > 1:
            raise ValueError(
                f"class_weight={class_weight!r} is given for targets of {len(structure.leaves(targets))} outputs; "
                "Keras supports class_weight for models with a single output only. Give the weights of the "
                "samples as sample_weight= instead."
            )
        y = structure.leaves(targets)[0]
        weighting.classes_of(y)  # refuses targets that are not classes
        if y.ndim == 2 and y.shape[1] > 1:
            weighting.check_class_range(checked, y.shape[1])
        return checked

    def _start(self, *, planned_epochs: int) -> None:
        with _backend.local_computation():
            self._start_here(planned_epochs=planned_epochs)

    def _prepare(self) -> None:
        """Check the model and build what each record needs (loss, metrics, probes, compiled step)."""
        model = self.model
        self._check_model(model)
        self._loss_fn = per_sample_loss(model)
        self._output_names = output_names(model)
        if len(self._output_names) == 1 and isinstance(self.targets, (dict, list)) and \
                len(structure.leaves(self.targets)) == 1:
            # The targets of one output given as fit takes them for a dict or list output: {"p": y}, [y].
            self.targets = structure.leaves(self.targets)[0]
        try:
            self._metrics = compiled_metrics(model, self.targets, self.sample_weight)
        except Exception as exc:
            raise self._targets_error(model, exc) from exc
        masks = output_masks(model, self.inputs)
        for metric in self._metrics if masks else ():  # padded steps a metric leaves out, as Keras does
            metric.mask = masks[metric.output_index or 0]
        if masks:  # and the loss: weighed over all the recorded samples, whatever part of them a call gets
            set_mask_scales(self._loss_fn, masks)
        # Deferred: the twins and extractor are built only if the compiled step needs them (call_for below).
        self._probe = LayerProbe.build(
            model, want_outputs="activations" in self.quantities, want_z="z" in self.quantities, x=self.inputs,
            defer=True,
        )
        self._subset = self._probe_subset()
        # The weights are read, the metrics evaluated and the layer probe run in the step's compiled call.
        holders = variable_holders(model)
        self._weight_keys = [(name, key) for name, keys in holders for key, _ in keys] \
            if "weights" in self.quantities else []
        read = [v for _, keys in holders for _, v in keys] if self._weight_keys else []
        # A constant learning rate is a variable: read it with the weights (a schedule is evaluated apart).
        learning_rate = getattr(getattr(model, "optimizer", None), "learning_rate", None)
        self._reads_learning_rate = isinstance(learning_rate, keras.Variable) and learning_rate.shape == ()
        if self._reads_learning_rate:
            read.append(learning_rate)
        # Where each gradient goes: (layer name, variable key, position in the trainable variables).
        position = {id(v): i for i, v in enumerate(model.trainable_variables)}
        self._gradient_plan = [(name, key, position[id(v)]) for name, keys in holders
                               for key, v in keys if id(v) in position]
        metrics = [(metric.make(), _metric_select(metric), metric.sample_weight) for metric in self._metrics]
        # Small plain Dense stacks: the same values computed in NumPy, without tracing (see numpy_step's doc).
        self._step = numpy_step(
            model, self.inputs, self.targets, with_gradients="gradients" in self.quantities, metrics=metrics,
            read=read, probe_slots=self._probe.value_layers,
            probe_rows=None if self._subset is False else self._subset[1], gradient_rows=self.gradient_rows,
        ) or _backend.CompiledStep(
            model, self._loss_fn, self.inputs, self.targets, with_gradients="gradients" in self.quantities,
            metrics=metrics, read=read, also=self._probe.call_for(self.inputs if self._subset is False else
                                                                  self._subset[0]),
            gradient_rows=self.gradient_rows,
        )
        self._plan_regularization(model)
        self._check_targets(model)

    def _start_here(self, *, planned_epochs: int) -> None:
        model = self.model
        if self._step is None or self._step.model is not model:
            self._prepare()
        self._planned_epochs = planned_epochs
        # Model order; a nested model's layers (recorded as "<nested>/<layer>") just before it; last, the model
        # itself when it holds variables of its own (model_inspection.variable_holders).
        layers = self._probe.layer_names
        holders = [name for name, *_ in self._weight_keys + self._gradient_plan]
        layers = layers + [name for name in dict.fromkeys(holders) if name not in layers]
        batch_size = self.batch_size or _fit_batch_size(model)
        attrs: dict[str, Any] = {
            "keras_version": keras.__version__,
            "backend": _backend.backend_name(),
            "loss": loss_name(model),
            "metrics": [m.name for m in self._metrics],
            "planned_epochs": planned_epochs,
            "every": self.every,
            **({"every_steps": self.every_steps} if self.every_steps is not None else {}),
            "n_samples_given": self._n_given,
        }
        if batch_size is not None:
            attrs["batch_size"] = batch_size
        if self.params and self.params.get("steps") is not None:
            attrs["steps_per_epoch"] = int(self.params["steps"])
        self._model_config = _backend.model_config_json(model)
        self._writer.create(
            attrs=attrs,
            model_config=self._model_config,
            inputs=self.inputs,
            targets=self.targets,
            sample_indices=self.sample_indices,
            probe_samples=self.probe_rows if {"activations", "z"} & set(self.quantities) else None,
            layers=layers,
            quantities=self.quantities,
            overwrite=self.overwrite,
            step_based=self.every_steps is not None,
            outputs=self._output_names,
            layer_classes=self._probe.layer_classes,
            output_aliases=self._probe.output_aliases,
            gradient_samples=self.gradient_rows if "gradients" in self.quantities else None,
        )
        self._started = True
        self._recorded_model = weakref.ref(model)
        self._record(self._steps_seen if self.every_steps is not None else self._epochs_seen, {})

    def _targets_error(self, model: keras.Model, exc: BaseException) -> ValueError:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        outputs = getattr(model, "outputs", None)
        shape = tuple(outputs[0].shape) if outputs else "unknown"
        hint = ("e.g. integer labels for sparse_categorical_crossentropy, one-hot rows for "
                "categorical_crossentropy")
        y = self.targets
        if isinstance(y, np.ndarray) and y.ndim == 2 and y.shape[1] > 1 and isinstance(shape, tuple) \
                and shape[1:] == (1,):
            # One-hot rows for a one-unit output (a sigmoid for two classes): a user's slip, said with its fix.
            hint = (f"the model outputs one value per sample, so one target per sample (for one-hot rows y of "
                    f"two classes, y[:, 1] or y.argmax(axis=1); or give the model a {y.shape[1]}-unit softmax "
                    "output with categorical_crossentropy)")
        elif isinstance(y, np.ndarray) and y.dtype.kind in "iuf" and y.size and isinstance(shape, tuple) \
                and len(shape) == 2 and y.reshape(len(y), -1).shape[1] == 1 and "sparse" in loss_name(model) \
                and float(y.min()) >= 1 and float(y.max()) == shape[1] and np.all(y == np.rint(y)):
            # Classes numbered from 1: the model's outputs are classes 0 to k - 1.
            hint = (f"the labels run from {y.min():g} to {y.max():g}, and the {shape[1]} outputs of the model are "
                    f"classes 0 to {shape[1] - 1}: give y - 1")
        return ValueError(
            f"targets ({_describe_arrays(self.targets)}) do not fit the model's loss "
            f"{loss_name(model)!r} (model output shape {shape}): {detail}. Give targets in the form the "
            f"loss expects ({hint})."
        )

    def _check_targets(self, model: keras.Model) -> None:
        """Evaluate the loss and metrics once, before the group is created: refuse targets that do not fit."""
        try:
            # Kept for the first record, computed next with the same weights: one full-batch pass less.
            self._first_outputs = self._step.record()
            predictions, losses, _, metric_values, *_ = self._first_outputs
            if metric_values is None:  # not evaluated in the compiled step: evaluated apart, as each record will
                for metric in self._metrics:
                    metric.evaluate(self.targets, predictions)
        except Exception as exc:
            raise self._targets_error(model, exc) from exc
        if np.ndim(losses) < 1 or np.shape(losses)[0] != structure.n_samples(self.targets):
            raise self._targets_error(model, ValueError(f"per-sample losses have shape {np.shape(losses)}"))
        misfit = None
        if isinstance(self.targets, np.ndarray):
            try:
                outputs = model.outputs
            except (AttributeError, ValueError):  # a subclassed model has no symbolic outputs
                outputs = None
            width = outputs[0].shape[-1] if outputs and len(outputs) == 1 and outputs[0].shape else None
            misfit = binary_crossentropy_misfit(self.targets, loss_name(model)) or \
                sparse_label_misfit(self.targets, loss_name(model), width)
        if misfit is not None:  # Keras trains on them: said, not refused
            warnings.warn(f"deepreplay: {misfit}.", UserWarning, stacklevel=2)
        if self.class_weight is not None and np.ndim(predictions) == 2:
            # Integer labels: the classes are the model's outputs (one sigmoid unit: classes 0 and 1).
            weighting.check_class_range(self.class_weight, max(2, np.shape(predictions)[1]))

    def _learning_rate(self, logs: dict) -> float:
        for key in ("learning_rate", "lr"):
            if key in logs:
                return float(logs[key])
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return math.nan
        try:
            return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        except Exception:
            return math.nan

    def _record(self, epoch: int, logs: dict) -> None:
        with _backend.local_computation():
            self._record_here(epoch, logs)

    def _record_here(self, epoch: int, logs: dict) -> None:
        record = self._compute_record(epoch, logs)
        if self.max_bytes is not None and not self._size_checked:
            self._size_checked = True
            self._warn_if_large(record)
        self._submit(**record)
        self._last_recorded = epoch

    def _compute_record(self, epoch: int, logs: dict) -> dict[str, Any]:
        """Everything one record holds, as the keyword arguments of ``RecordingWriter.append``."""
        model = self.model
        q = self.quantities
        outputs, self._first_outputs = self._first_outputs or self._step.record(), None
        predictions, losses, grads, metric_values, weight_values, probe_values = outputs
        output_losses = None
        if getattr(self._loss_fn, "stacks_outputs", False):
            # Several outputs: column 0 is the weighted total, then one column per output with a loss.
            output_losses = {name: losses[:, i + 1] for i, name in enumerate(self._loss_fn.output_names)}
            losses = losses[:, 0]
        if isinstance(predictions, (list, tuple, dict)):
            values = predictions.values() if isinstance(predictions, dict) else predictions
            predictions = dict(zip(self._output_names, values))
        evaluation = {"loss": float(np.mean(losses)) + self._regularization(model)}
        for name, values in (output_losses or {}).items():
            evaluation[f"{name}_loss"] = float(np.mean(values))
        for i, metric in enumerate(self._metrics):
            evaluation[metric.name] = metric_values[i] if metric_values is not None else \
                metric.evaluate(self.targets, predictions)
        scalar_logs = {k: float(v) for k, v in logs.items() if np.ndim(v) == 0}
        if self._reads_learning_rate:  # read with the weights, in the step's call (last of its values)
            weight_values, learning_rate = weight_values[:-1], weight_values[-1]
            scalar_logs["learning_rate"] = float(logs.get("learning_rate", logs.get("lr", learning_rate)))
        else:
            scalar_logs["learning_rate"] = self._learning_rate(logs)

        weights = gradients = None
        if "weights" in q or "gradients" in q:
            weights, gradients = {}, {}
            # The arrays are written in the background while the optimizer updates the variables: a
            # copy, unless they are the step's own (in place on PyTorch, whose .numpy() shares the
            # tensor's memory; 4.7 MB per record of a 1M-parameter MLP not copied on TensorFlow).
            copy = not self._step.fresh_values
            for (layer_name, key), value in zip(self._weight_keys, weight_values):
                weights.setdefault(layer_name, {})[key] = np.array(value, copy=True) if copy else value
            for layer_name, key, index in self._gradient_plan if grads else ():
                gradients.setdefault(layer_name, {})[key] = self._round_large(grads[index])
        activations, z, rows = self._outputs(probe_values)
        return dict(
            epoch=epoch,
            logs=scalar_logs,
            evaluation=evaluation,
            weights=weights,
            gradients=gradients if "gradients" in q else None,
            activations=activations,
            z=z,
            predictions=predictions if "predictions" in q else None,
            losses=losses if "losses" in q else None,
            output_samples=rows,
            **({"step": epoch, "epoch_fraction": self._epoch_fraction()} if self.every_steps is not None else {}),
            output_losses=output_losses if "losses" in q else None,
        )

    # -- size ------------------------------------------------------------------------
    def _planned_records(self, epochs: int, steps_per_epoch: int | None = None) -> int:
        """Records of a run of ``epochs`` epochs: epoch 0, every ``every``-th (or ``every_steps``-th step), the last."""
        if self.every_steps is not None:
            steps = epochs * int(steps_per_epoch or (self.params or {}).get("steps") or 1)
            return 1 + steps // self.every_steps + (1 if steps % self.every_steps else 0)
        return 1 + epochs // self.every + (1 if epochs % self.every else 0)

    def _size_report(self, record: dict[str, Any], epochs: int, *, upper_bound: bool = False,
                     steps_per_epoch: int | None = None) -> dict[str, Any]:
        """The figures of :meth:`estimate` for ``record``; ``upper_bound``: compressed arrays at their
        worst case (see ``RecordingWriter.record_nbytes``), without compressing them."""
        by_quantity = self._writer.record_nbytes(**record, upper_bound=upper_bound)
        per_record = sum(sum(layers.values()) for layers in by_quantity.values())
        static = sum(int(a.nbytes) for a in structure.leaves(self.inputs) + structure.leaves(self.targets))
        if self._model_config is None:
            self._model_config = _backend.model_config_json(self.model)
        static += int(self.sample_indices.nbytes) + len(self._model_config)
        static += int(self.gradient_rows.nbytes) if self.gradient_rows is not None else 0
        # HDF5's own bookkeeping: a header, a chunk index and allocated chunks per dataset (measured: 2.5 to
        # 4 KiB each in the packed layout; the estimate of a 48-sample recording is within 0.86-1.03 of its file).
        # Besides the records': the inputs and targets, the epochs, sample indices, model and probe samples.
        n_datasets = self._writer.record_datasets(**record) + len(structure.leaves(self.inputs)) + \
            len(structure.leaves(self.targets)) + 4
        static += HDF5_BYTES_PER_DATASET * n_datasets
        records = self._planned_records(epochs, steps_per_epoch)
        return {
            "bytes_per_record": per_record,
            "by_quantity": {name: sum(layers.values()) for name, layers in by_quantity.items()},
            "by_layer": by_quantity,
            "records": records,
            "static_bytes": static,
            "total_bytes": static + per_record * records,
        }

    def estimate(self, model: keras.Model | None = None, *, epochs: int | None = None,
                 steps_per_epoch: int | None = None) -> dict[str, Any]:
        """The size of the recording, before training: bytes per record and for the planned epochs.

        One record is computed in memory, as the callback would compute
        record 0, and sized as the file would store it (compressed where
        ``compression`` compresses); nothing is written and the model is not
        changed.

        Parameters
        ----------
        model : keras.Model, optional
            The compiled model to record (default: the model this callback
            was given).
        epochs : int, optional
            Planned epochs (default: those of the running ``fit``, else 0).
        steps_per_epoch : int, optional
            Training steps per epoch, needed with ``every_steps`` before
            ``fit`` runs (for arrays: ``ceil(n_samples / batch_size)``);
            default: those of the running ``fit``.

        Returns
        -------
        dict
            ``bytes_per_record``; ``by_quantity`` (``{'weights': bytes, ...}``);
            ``by_layer`` (``{quantity: {layer or output: bytes}}``);
            ``records`` (epoch 0, every ``every``-th epoch, or ``every_steps``-th
            step, and the last);
            ``static_bytes`` (recorded inputs and targets); ``total_bytes``.
        """
        if model is not None:
            if not isinstance(model, keras.Model):
                raise TypeError(f"model={model!r} must be a compiled keras.Model.")
            self.set_model(model)
        if getattr(self, "model", None) is None:
            raise ValueError("estimate() needs the model: call estimate(model) with the compiled model to record.")
        if epochs is None:
            epochs = int(self.params.get("epochs", 0)) if self.params else 0
        epochs = int(_positive_int("epochs", epochs) if epochs else 0)
        steps_per_epoch = _positive_int("steps_per_epoch", steps_per_epoch, allow_none=True)
        if self.every_steps is not None and epochs and steps_per_epoch is None and not (self.params or {}).get("steps"):
            raise ValueError(
                f"every_steps={self.every_steps} records every {self.every_steps} training steps, and the steps "
                "of an epoch are not known before fit: give estimate(model, epochs=..., steps_per_epoch=...) "
                "(for arrays, ceil(n_samples / batch_size))."
            )
        with _backend.local_computation():
            if self._step is None:
                self._prepare()
            return self._size_report(self._compute_record(0, {}), epochs, steps_per_epoch=steps_per_epoch)

    def _warn_if_large(self, record: dict[str, Any]) -> None:
        # Most recordings are far below the budget even at their compressed arrays' worst case: that
        # is known without compressing the record (which the writer thread does anyway).
        if self._size_report(record, self._planned_epochs, upper_bound=True)["total_bytes"] <= self.max_bytes:
            return
        report = self._size_report(record, self._planned_epochs)
        if report["total_bytes"] <= self.max_bytes:
            return
        largest = max(report["by_quantity"].items(), key=lambda item: item[1])
        warnings.warn(
            f"deepreplay: this recording of {self._planned_epochs} epochs will take about "
            f"{compute.human_bytes(report['total_bytes'])} ({report['records']} records of "
            f"{compute.human_bytes(report['bytes_per_record'])}; the largest part is {largest[0]}, "
            f"{compute.human_bytes(largest[1])} per record), more than max_bytes={self.max_bytes:,} "
            f"({compute.human_bytes(self.max_bytes)}). "
            "To shrink it: record fewer epochs (every=...), fewer samples (max_samples=...), fewer "
            "quantities (record=[...]), wide layers' outputs for fewer samples (output_samples=...), or "
            "compress (compression='gzip'); or raise max_bytes (None never warns). "
            "ReplayData(...).estimate(model) gives the figures by quantity and layer.",
            stacklevel=2,
        )

    def _submit(self, **record: Any) -> None:
        """Append ``record`` to the file in the background thread, once the previous record is written.

        Writing (HDF5, compression) overlaps with the next epoch's training.  A
        record's arrays are its own (nothing writes to them afterwards).  A
        write that fails stops training where it is: the writer thread sets
        ``model.stop_training`` (Keras ends the epoch after the batch in
        progress) and the error is raised at the end of that epoch (or at the
        next epoch's start, whichever comes first, see
        :meth:`_raise_failed_write`), so no epoch is trained after the failure.
        The records before it are intact.  Waiting for each write before the
        next epoch instead would make every record synchronous
        (``benchmarks/durability.py`` measures both).
        """
        self._finish_writes()
        if self._write_pool is None:
            self._write_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                                     thread_name_prefix="deepreplay-writer")
        pending = self._write_pool.submit(self._writer.append, **record)
        # Only a weak reference to the model: the future must not keep this callback alive (its
        # writer thread ends when the callback is garbage-collected).
        pending.add_done_callback(functools.partial(_stop_training_if_failed, self._recorded_model))
        self._pending_write = pending

    def _raise_failed_write(self) -> None:
        """Raise the error of the record being written if it already failed (never waits)."""
        pending = self._pending_write
        if pending is not None and pending.done() and not pending.cancelled() and pending.exception() is not None:
            self._finish_writes()

    def _finish_writes(self, *, stop: bool = False) -> None:
        """Wait for the record being written, and raise its error if it failed.

        ``stop`` (or a failed write, which ends the recording) also ends the thread.
        """
        pending, self._pending_write = self._pending_write, None
        failed = True
        try:
            if pending is not None:
                pending.result()
            failed = False
        finally:
            if (stop or failed) and self._write_pool is not None:
                self._write_pool.shutdown(wait=True)
                self._write_pool = None

    def _round_large(self, values: np.ndarray) -> np.ndarray:
        """A large float32 array rounded to ``significant_bits`` (small arrays and float64 untouched)."""
        values = np.asarray(values)
        if self.significant_bits is None or values.dtype != np.float32 or values.size < LARGE_VARIABLE_VALUES:
            return values
        return round_significand(values, self.significant_bits)

    def _outputs(self, values: list[np.ndarray] | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                                                                  dict[str, np.ndarray] | None]:
        """Every recorded layer's outputs and z-values as recorded: ``(activations, z, rows)``.

        ``values`` are those of the probe's call when the step ran it, else
        None (the probe runs here).  When every layer keeps only some samples
        (wide layers: the ``output_samples`` rows; feature maps: the probe
        rows), the probe runs on those samples alone instead of on all the
        recorded ones (see :meth:`_probe_subset`).
        """
        x, needed = (self.inputs, None) if self._subset is False else self._subset
        activations, z = self._probe.unpack(values) if values is not None else self._probe.run(x)
        return self._thin_outputs(activations, z, computed_rows=needed)

    def _probe_subset(self) -> tuple[Any, np.ndarray] | bool:
        """``(inputs, rows)`` of the samples the layer outputs need, or False when some layer needs all of them.

        In inference mode a layer's output for a sample depends on that
        sample alone, so the rows kept of wide layers and feature maps can be
        computed from those samples' inputs: for a model whose layers are all
        wide (a 1M-parameter MLP recording 10,000 samples keeps 64 of them)
        the probe's forward pass shrinks accordingly.  The same values up to
        float rounding (the matrix products run on a smaller batch).
        """
        rows, probes = self._output_rows, self.probe_rows
        if (rows is None and probes is None) or not ({"activations", "z"} & set(self.quantities)):
            return False
        n = structure.n_samples(self.inputs)

        def thinned(shape: tuple) -> bool:  # per-sample shape
            feature_map = probes is not None and len(shape) + 1 >= 4
            return feature_map or (rows is not None and n * math.prod(shape) > WIDE_OUTPUT_VALUES)

        # The top-level layers' symbolic outputs decide; when one cannot be read (no single output,
        # unknown sizes, a nested model whose layers are recorded too), a trial call on the subset does.
        conclusive, feature_maps = True, False
        for layer in model_layers(self.model):
            try:
                output = layer.output
                shape = tuple(output.shape)[1:]
            except Exception:  # noqa: BLE001
                conclusive = False
                continue
            if isinstance(layer, keras.Model) or not all(isinstance(d, int) for d in shape):
                conclusive = False
            elif not thinned(shape):
                return False  # a narrow layer: every sample
            elif probes is not None and len(shape) >= 3:
                feature_maps = True
            elif "float" not in str(getattr(output, "dtype", "")):
                return False  # wide but not float: every sample
        with_probes = probes is not None and (feature_maps or not conclusive)
        needed = np.union1d(rows if rows is not None else [], probes if with_probes else []).astype(np.int64)
        if len(needed) >= n or len(needed) == 0:
            return False
        x = structure.take(self.inputs, needed)
        if conclusive:
            return x, needed
        activations, z = self._probe.run(x)
        for values in (*activations.values(), *z.values()):
            values = np.asarray(values)
            if probes is not None and values.ndim >= 4:
                if not with_probes:
                    return False
            elif not (thinned(values.shape[1:]) and values.dtype.kind == "f"):
                return False
        return x, needed

    def _thin_outputs(self, activations: dict[str, np.ndarray], z: dict[str, np.ndarray], *,
                      computed_rows: np.ndarray | None = None):
        """Wide layers' outputs for the ``output_samples`` subset, rounded; ``(activations, z, rows)``.

        ``computed_rows``: the values were computed for these recorded samples only (sorted positions).
        """
        rows, probes = self._output_rows, self.probe_rows
        if rows is None and probes is None:
            return activations, z, None
        n = structure.n_samples(self.inputs)

        def take(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
            return values[wanted if computed_rows is None else np.searchsorted(computed_rows, wanted)]

        kept: dict[str, np.ndarray] = {}
        thinned = []
        for per_layer in (activations, z):
            out = {}
            for layer, values in per_layer.items():
                values = storage.stored_array(values)  # float32 as stored (a mixed_bfloat16 layer's too)
                if probes is not None and values.ndim >= 4:
                    # Feature maps (n, height, width, channels) and the like: the probe samples only, exact.
                    values = take(values, probes)
                    kept[layer] = probes
                elif rows is not None and n * math.prod(values.shape[1:]) > WIDE_OUTPUT_VALUES \
                        and values.dtype.kind == "f":
                    values = take(values, rows)
                    if self.significant_bits is not None:
                        values = round_significand(values, self.significant_bits)
                    kept[layer] = rows
                out[layer] = values
            thinned.append(out)
        return thinned[0], thinned[1], kept or None

    def _plan_regularization(self, model: keras.Model) -> None:
        """Decide once per recording what :meth:`_regularization` must compute (it runs at every record).

        A model whose call adds no losses (see ``may_add_call_losses``), with
        no weight regulariser and no loss added otherwise, adds exactly 0.0
        to the recorded loss: that is planned here instead of walking its
        layers and reading ``model.losses`` at every record (~25 us on Part 1).
        """
        self._call_losses = may_add_call_losses(model)
        self._no_added_losses = not self._call_losses and not model.losses and not any(
            getattr(v, "regularizer", None) is not None for v in model.trainable_weights)

    def _regularization(self, model: keras.Model) -> float:
        """The model's added losses: weight regularisers, and ``add_loss`` terms (activity regularisers)."""
        if self._no_added_losses:
            return 0.0
        call_losses = may_add_call_losses(model) if self._call_losses is None else self._call_losses
        if not call_losses:
            # weight regularisers only: computed from the variables
            return float(sum(float(keras.ops.convert_to_numpy(v)) for v in model.losses))
        # The added losses' values on the recorded samples, as evaluate computes them: per batch, averaged
        # over rows (Keras keeps those of the last call only: symbolic after fit traced it, none on JAX).
        n, total = structure.n_samples(self.inputs), 0.0
        for start in range(0, n, 1024):
            rows = slice(start, min(n, start + 1024))
            model(structure.take(self.inputs, rows), training=False)
            batch = sum(float(keras.ops.convert_to_numpy(v)) for v in model.losses)
            total += batch * (rows.stop - rows.start) / n
        return total
