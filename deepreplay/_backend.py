"""Backend-specific code: the only place that knows which Keras 3 backend runs.

Everything else in deepreplay uses ``keras`` and ``keras.ops``.  A backend
needs one function here: :func:`forward_with_gradients`, which runs the model
in inference mode on a batch and returns the predictions, the per-sample
losses and, when asked, the gradients of the mean loss (plus regularisation)
with respect to the trainable variables, as NumPy arrays.
:class:`CompiledStep` runs the same computation compiled once for the fixed
recorded batch (``tf.function`` on TensorFlow, ``jax.jit`` on JAX; PyTorch
and models compiled with ``run_eagerly=True`` stay eager), and
:class:`CompiledCall` calls a model in inference mode the same way: the
recorder runs them every epoch.

Each backend computes the gradients with its own mechanism, and none of them
changes the model, its optimizer or any random state:

* TensorFlow: ``tf.GradientTape`` around an inference-mode call;
* JAX: ``jax.grad`` over ``model.stateless_call`` (the variables' values are
  passed in, nothing is assigned; regularisation losses are taken from the
  stateless call, so they depend on the traced values);
* PyTorch: ``torch.autograd.grad``, which returns the gradients without
  accumulating them into the variables' ``.grad``.

The backend modules (``tensorflow``, ``jax``, ``torch``) are imported inside
the function of their backend only, so deepreplay imports and replays without
TensorFlow installed when Keras runs on JAX or PyTorch.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import warnings
from collections.abc import Iterator
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import keras
import numpy as np

LossFn = Callable[[object, object], object]


def backend_name() -> str:
    """The running Keras backend ('tensorflow', 'jax', 'torch', ...)."""
    return keras.backend.backend()


def is_chief(model: keras.Model | None = None) -> bool:
    """Whether this process is the one that records a distributed training run.

    * TensorFlow: the chief of the cluster of the model's
      ``tf.distribute`` strategy (``MultiWorkerMirroredStrategy``: its
      ``cluster_resolver``), or else of the ``TF_CONFIG`` environment
      variable: the task of type ``"chief"``, or worker 0 when the cluster
      has no ``"chief"`` job.  Parameter servers and evaluators are never
      the chief.  Without a cluster, the process is the chief.
    * JAX: process 0 (``jax.process_index() == 0``), as in multi-process
      ``keras.distribution``.
    * PyTorch: rank 0 when ``torch.distributed`` is initialised.

    One process on one host (any number of devices) is always the chief.
    """
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = getattr(model, "distribute_strategy", None) if model is not None else None
        resolver = getattr(strategy or tf.distribute.get_strategy(), "cluster_resolver", None)
        task_type = getattr(resolver, "task_type", None)
        if task_type is not None:
            return _chief_task(task_type, getattr(resolver, "task_id", 0), resolver.cluster_spec().as_dict())
    elif backend == "jax":
        import jax

        return jax.process_index() == 0
    elif backend == "torch":
        import torch.distributed as dist

        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    config = os.environ.get("TF_CONFIG", "")
    if backend == "tensorflow" and config.strip():
        try:
            parsed = json.loads(config)
            task = parsed.get("task") or {}
            if task.get("type") is not None:
                return _chief_task(task["type"], task.get("index", 0), parsed.get("cluster") or {})
        except (ValueError, AttributeError, TypeError):
            raise ValueError(
                f"TF_CONFIG={config!r} is not the JSON TensorFlow expects ({{'cluster': ..., 'task': "
                "{'type': ..., 'index': ...}}); fix it, or say which process records with ReplayData(chief=...)."
            ) from None
    return True


@contextlib.contextmanager
def local_computation() -> Iterator[None]:
    """Compute the recording on this process's own copies of the variables.

    In a multi-process ``keras.distribution`` run on JAX, the variables are
    global arrays, and any computation on them (a jitted step, a new layer's
    variables) is a program every process must run together: run by the
    recording process alone, it waits for the others or mismatches their
    collectives.  Inside this context the distribution is switched off, and
    :func:`local_value` hands the recorder this process's replica of each
    variable, so the recording adds no collective.  Elsewhere (one process,
    TensorFlow, PyTorch) it changes nothing: ``tf.distribute`` replicas are
    read locally already.
    """
    if backend_name() != "jax":
        yield
        return
    import jax

    if jax.process_count() == 1:
        yield
        return
    from keras.distribution import distribution, set_distribution

    previous = distribution()
    set_distribution(None)
    try:
        yield
    finally:
        set_distribution(previous)


def local_value(value: Any) -> Any:
    """``value``, or, for a JAX array spread over several processes, this process's full replica of it.

    Raises
    ------
    ValueError
        The array is sharded across processes (``ModelParallel`` over
        hosts): no process holds all of it.
    """
    if getattr(value, "is_fully_addressable", True):
        return value
    if value.sharding.is_fully_replicated:
        return value.addressable_data(0)
    raise ValueError(
        f"a variable of shape {value.shape} is sharded across processes ({value.sharding}); deepreplay records "
        "only variables each process holds whole (keras.distribution.DataParallel over several processes, or "
        "ModelParallel within one process). Record with one process, or leave the model unsharded across hosts."
    )


def variable_to_numpy(variable: keras.Variable) -> np.ndarray:
    """A variable's value as a NumPy array, read from this process's replica (see :func:`local_value`)."""
    return np.asarray(keras.ops.convert_to_numpy(local_value(variable.value)))


def variable_reader(variables: Sequence[keras.Variable]) -> Callable[[], list[np.ndarray]]:
    """``read()`` returning the current values of ``variables`` as NumPy arrays, each call.

    As :func:`variable_to_numpy`, faster where that matters for a recorder
    reading a few small variables per record: on TensorFlow one
    ``ReadVariableOp`` per variable (9 us, against 60 us for
    ``keras.ops.convert_to_numpy`` of its value, which adds an identity op
    and checks).  The arrays may share memory with the values read (not
    with the variables: TensorFlow copies a variable's buffer before
    updating it while a value read from it is alive); copy them to keep them.
    """
    variables = list(variables)
    if backend_name() == "tensorflow" and all(hasattr(getattr(v, "value", None), "handle") for v in variables):
        try:
            import tensorflow as tf

            read = tf.raw_ops.ReadVariableOp
            handles = [(v.value.handle, v.value.dtype) for v in variables]
            if not all(type(v.value).__name__ == "ResourceVariable" for v in variables):
                raise TypeError("not plain resource variables")  # mirrored, sharded: read them as Keras does
            return lambda: [read(resource=handle, dtype=dtype)._numpy() for handle, dtype in handles]
        except (ImportError, AttributeError, TypeError):
            pass
    return lambda: [variable_to_numpy(v) for v in variables]


def is_distributed(model: keras.Model) -> bool:
    """Whether ``model`` trains under a ``tf.distribute`` strategy (TensorFlow), a ``keras.distribution``
    (JAX) or an initialised ``torch.distributed`` process group (PyTorch)."""
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
        return type(strategy).__name__ != "_DefaultDistributionStrategy"
    if backend == "jax":
        from keras.distribution import distribution

        return distribution() is not None
    if backend == "torch":
        import torch.distributed as dist

        return dist.is_available() and dist.is_initialized()
    return True


def crossentropy_takes_logits() -> bool:
    """Whether Keras' cross-entropies, given a sigmoid or softmax activation's output, compute on its logits.

    On TensorFlow the activation keeps its input on its output tensor
    (``_keras_logits``) and ``binary_crossentropy``,
    ``categorical_crossentropy`` and ``sparse_categorical_crossentropy``
    use it (``sigmoid_cross_entropy_with_logits``, ...): no clipping.  On
    JAX and PyTorch they clip the probabilities to ``[epsilon, 1 - epsilon]``.
    """
    return backend_name() == "tensorflow"


def clip_gradient_at_bounds() -> float:
    """The share of the gradient that the backend's ``clip(x, low, high)`` passes where ``x`` equals a bound.

    TensorFlow (``clip_by_value``) and PyTorch (``clamp``) pass all of it;
    JAX splits it between the two arguments of its ``maximum``/``minimum``.
    """
    return 0.5 if backend_name() == "jax" else 1.0


def _chief_task(task_type: str, task_id: object, cluster: dict) -> bool:
    """TensorFlow's rule: the ``chief`` task, or worker 0 of a cluster without one."""
    if task_type == "chief":
        return True
    return task_type == "worker" and int(task_id or 0) == 0 and not cluster.get("chief")


def model_config_json(model: keras.Model) -> str:
    """``model.to_json()`` that every backend can rebuild.

    On PyTorch, Keras replaces the optimizer by a private subclass
    (``keras.src.backend.torch.optimizers.torch_sgd.SGD``), and ``to_json``
    names that module: rebuilding the model on another backend would then
    import torch, and fail where it is not installed.  Such classes are stored
    under their public name (``keras.optimizers``, ``SGD``), as TensorFlow and
    JAX store them; each backend makes its own variant when it rebuilds them.
    Adapted lookup layers get their vocabulary written into the config
    (:func:`deepreplay.layer_tree.inline_adapted_vocabularies`).
    """
    from deepreplay import layer_tree

    config = json.loads(model.to_json())
    _public_optimizer_classes(config)
    layer_tree.inline_adapted_vocabularies(model, config)
    return json.dumps(config)


def declared_variable_values(config: dict, *, custom_objects: dict | None, safe_mode: bool) -> int | None:
    """How many values the variables of the model ``config`` describes would hold, without allocating them.

    The model is built inside a ``keras.StatelessScope``, where Keras declares
    variables (their shapes) and defers their allocation; the declared ones
    are dropped afterwards (they are never allocated).  So a config asking for
    huge layers is measured before anything big is built.  None when the
    model cannot be built that way (a layer that creates a variable from a
    constant, or Keras internals that moved): the caller then cannot check.
    """
    import copy
    import math

    try:  # Keras' list of deferred variables (to drop ours from it); internal, hence guarded
        from keras.src.backend.common import global_state

        pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    except Exception:  # noqa: BLE001
        return None
    before = len(pending)
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = keras.saving.deserialize_keras_object(copy.deepcopy(config), custom_objects=custom_objects,
                                                          safe_mode=safe_mode)
        return int(sum(math.prod(int(d) for d in v.shape) for v in getattr(model, "weights", [])))
    except Exception:  # noqa: BLE001 - the ordinary build reports what is wrong with the config
        return None
    finally:
        del pending[before:]


def _public_optimizer_classes(node: Any) -> None:
    if isinstance(node, dict):
        module, name = node.get("module"), node.get("class_name")
        if (isinstance(module, str) and module.startswith("keras.src.backend.") and ".optimizers" in module
                and isinstance(name, str) and isinstance(getattr(keras.optimizers, name, None), type)):
            node["module"] = "keras.optimizers"
            node["registered_name"] = None
        for value in node.values():
            _public_optimizer_classes(value)
    elif isinstance(node, list):
        for value in node:
            _public_optimizer_classes(value)


def _total_loss(per_sample: object, extra_losses: Sequence[object], loss_fn: object = None) -> object:
    """Mean per-sample loss plus regularisation, as Keras' training loss (column 0: several outputs' total)."""
    if getattr(loss_fn, "stacks_outputs", False):  # (n, 1 + k): total, then each output (MultiOutputLoss)
        per_sample = per_sample[:, 0]
    total = keras.ops.mean(per_sample)
    for extra in extra_losses:
        total = total + keras.ops.cast(extra, total.dtype)
    return total


def _call_kwargs(model: keras.Model) -> dict:
    """``training=False`` when the model's ``call`` takes it (``stateless_call`` passes it to ``call``)."""
    return {"training": False} if getattr(model, "_call_has_training_arg", True) else {}


def forward_with_gradients(
    model: keras.Model,
    loss_fn: LossFn,
    x: np.ndarray,
    y: np.ndarray,
    *,
    with_gradients: bool,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray] | None]:
    """Predictions, per-sample losses and (optionally) full-batch gradients.

    Parameters
    ----------
    model : keras.Model
        A built, compiled model; it is called with ``training=False`` and its
        variables are never changed.
    loss_fn : callable
        ``loss_fn(y_true, y_pred)`` returning one loss per sample.
    x, y : ndarray
        The recorded inputs and targets (one batch).
    with_gradients : bool
        Whether to compute gradients with respect to ``model.trainable_variables``.

    Returns
    -------
    predictions, losses, gradients
        NumPy arrays; ``gradients`` follows ``model.trainable_variables`` or is
        None when not asked for.
    """
    backend = backend_name()
    if not with_gradients or not model.trainable_variables:
        y_pred = model(x, training=False)
        per_sample = loss_fn(y, y_pred)
        grads = [] if with_gradients else None
        return _np(y_pred), _np(per_sample), grads
    if backend == "tensorflow":
        return _tensorflow(model, loss_fn, x, y)
    if backend == "jax":
        return _jax(model, loss_fn, x, y)
    if backend == "torch":
        return _torch(model, loss_fn, x, y)
    raise NotImplementedError(
        f"deepreplay cannot record gradients on the {backend!r} Keras backend; use "
        "KERAS_BACKEND=tensorflow, jax or torch, or ReplayData(record=...) without 'gradients'."
    )


def _np(value: object) -> Any:
    """A tensor as a NumPy array; a list/tuple or dict of tensors (several outputs) as a list or dict of arrays."""
    if isinstance(value, (dict, list, tuple)):
        return {k: _np(v) for k, v in value.items()} if isinstance(value, dict) else [_np(v) for v in value]
    if isinstance(value, np.ndarray):
        return value
    value = value.detach() if hasattr(value, "detach") else value  # a torch tensor that requires grad
    return np.asarray(keras.ops.convert_to_numpy(value))


class _FlatOutputs:
    """A traced function's outputs handed back in one transfer instead of one per tensor.

    Inside the ``tf.function``, :meth:`pack` concatenates every float32
    output of static shape into one flat tensor (the others are returned
    apart); after the call, :meth:`unpack` converts that tensor once and
    splits it again into NumPy arrays of the original shapes (views into
    one fresh buffer per call), in the original structure.  A recording
    step returns ~20 small tensors (predictions, losses, gradients,
    metrics, weights, layer outputs), and each conversion costs Python
    time.  The plan is made when the function is traced (once).
    """

    def __init__(self) -> None:
        self.structure: Any = None
        self.plan: list[tuple] = []

    def pack(self, out: Any) -> tuple[Any, list]:
        import tensorflow as tf

        plan, packed, others, offset = [], [], [], 0
        flat_shape = None  # one constant [-1] for every reshape (fewer ops to create while tracing)
        for leaf in keras.tree.flatten(out):
            shape = getattr(leaf, "shape", None)
            if leaf is None:
                plan.append(("none",))
            elif getattr(leaf, "dtype", None) == tf.float32 and shape is not None and shape.is_fully_defined():
                size = int(shape.num_elements())
                plan.append(("packed", offset, size, tuple(int(d) for d in shape)))
                if shape.rank != 1:
                    if flat_shape is None:
                        flat_shape = tf.constant([-1], dtype=tf.int32)
                    leaf = tf.raw_ops.Reshape(tensor=leaf, shape=flat_shape)
                packed.append(leaf)
                offset += size
            else:
                plan.append(("other", len(others)))
                others.append(leaf)
        self.structure, self.plan = out, plan
        flat = tf.concat(packed, axis=0) if len(packed) > 1 else packed[0] if packed else tf.zeros([0])
        return flat, others

    def unpack(self, flat: Any, others: Sequence[Any]) -> Any:
        flat = _np(flat)
        leaves = []
        for entry in self.plan:
            if entry[0] == "packed":
                _, offset, size, shape = entry
                leaves.append(flat[offset:offset + size].reshape(shape))
            elif entry[0] == "other":
                leaves.append(_np(others[entry[1]]))
            else:
                leaves.append(None)
        return keras.tree.pack_sequence_as(self.structure, leaves)


def _tensorflow_step(model, loss_fn, x, y, *, with_gradients=True):
    """Predictions, per-sample losses and gradients as tensors (eager, or traced by ``tf.function``)."""
    import tensorflow as tf

    # Watches the trainable variables it reads (when gradients are wanted); assigns nothing.
    with tf.GradientTape(watch_accessed_variables=with_gradients) as tape:
        y_pred = model(x, training=False)
        per_sample = loss_fn(y, y_pred)
        total = _total_loss(per_sample, model.losses, loss_fn)
    grads = tape.gradient(total, model.trainable_variables) if with_gradients else []
    return y_pred, per_sample, grads


def _tensorflow(model, loss_fn, x, y):
    y_pred, per_sample, grads = _tensorflow_step(model, loss_fn, x, y)
    return _np(y_pred), _np(per_sample), _grads_to_numpy(grads, model.trainable_variables)


def _jax_total_loss(model, loss_fn, x, y):
    """``total_loss(trainable_values, non_trainable_values) -> (loss, (y_pred, per_sample))`` for ``jax.grad``.

    Stateless: the values are passed in and the updated non-trainable values
    ``stateless_call`` returns are dropped, so the model's variables (and seed
    states) stay as they are.
    """
    kwargs = _call_kwargs(model)
    x = _as_tensors(x)

    def total_loss(trainable_values, non_trainable_values):
        y_pred, _, extra_losses = model.stateless_call(
            trainable_values, non_trainable_values, x, return_losses=True, **kwargs
        )
        per_sample = loss_fn(y, y_pred)
        return _total_loss(per_sample, extra_losses, loss_fn), (y_pred, per_sample)

    return total_loss


def _as_tensors(x: Any) -> Any:
    """The inputs (arrays, or a list or dict of them) as tensors of the backend, as ``fit`` gives them to ``call``.

    Under ``stateless_call`` a variable's value is a traced array: a ``call``
    computing ``x @ self.w`` with ``x`` a NumPy array converts the variable
    through NumPy and fails on JAX (``TracerArrayConversionError``), where a
    backend tensor on the left takes it as Keras does in ``fit``.
    """
    return keras.tree.map_structure(keras.ops.convert_to_tensor, x)


def _values(variables: Sequence[keras.Variable]) -> list:
    return [local_value(v.value) for v in variables]


def _jax(model, loss_fn, x, y):
    import jax

    total_loss = _jax_total_loss(model, loss_fn, x, y)
    grads, (y_pred, per_sample) = jax.grad(total_loss, has_aux=True)(
        _values(model.trainable_variables), _values(model.non_trainable_variables)
    )
    return _np(y_pred), _np(per_sample), _grads_to_numpy(grads, model.trainable_variables)


def _torch(model, loss_fn, x, y):
    import torch

    variables = model.trainable_variables
    tensors = [v.value for v in variables]
    with torch.enable_grad():
        y_pred = model(x, training=False)
        per_sample = loss_fn(y, y_pred)
        total = _total_loss(per_sample, model.losses, loss_fn)
        # autograd.grad returns the gradients; unlike backward() it leaves every .grad as it was.
        grads = torch.autograd.grad(total, tensors, allow_unused=True)
    return _np(y_pred), _np(per_sample), _grads_to_numpy(grads, variables)


def _grads_to_numpy(grads: Sequence[object], variables: Sequence[keras.Variable]) -> list[np.ndarray]:
    out = []
    for grad, var in zip(grads, variables):
        if grad is None:  # the variable does not influence the loss
            out.append(np.zeros(var.shape, dtype=np.float32))
        else:
            out.append(_np(grad))
    return out


#: Rows per forward pass of the samples a recording step computes no gradient on (see :class:`CompiledStep`).
FORWARD_CHUNK = 2048


class _Split(NamedTuple):
    """A recorded batch split for a step whose gradients come from some of its samples only.

    ``x``/``y`` hold the gradient rows (one pass with gradients); ``rest``
    the other rows in chunks of at most :data:`FORWARD_CHUNK` (forward passes
    only); ``order`` puts the concatenated results back in the batch's order.
    """

    x: Any
    y: Any
    rest: list[tuple[Any, Any]]
    order: np.ndarray


def _split_batch(x: Any, y: Any, rows: np.ndarray | None) -> _Split | None:
    """The :class:`_Split` of ``(x, y)`` for gradients on ``rows`` (positions), or None: all the rows."""
    from deepreplay import structure

    n = structure.n_samples(x)
    if rows is None:
        return None
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if len(rows) >= n:
        return None
    rest = np.setdiff1d(np.arange(n), rows)
    chunks = [rest[i:i + FORWARD_CHUNK] for i in range(0, len(rest), FORWARD_CHUNK)]
    order = np.argsort(np.concatenate([rows, rest]), kind="stable")
    return _Split(structure.take(x, rows), structure.take(y, rows),
                  [(structure.take(x, c), structure.take(y, c)) for c in chunks], order)


def _restore_order(parts: Sequence[Any], order: np.ndarray) -> Any:
    """Leaf by leaf, the parts (same structure, rows split) concatenated and put back in the batch's order."""
    flat = [keras.tree.flatten(part) for part in parts]
    joined = [keras.ops.take(keras.ops.concatenate(list(leaves), axis=0), order, axis=0) for leaves in zip(*flat)]
    return keras.tree.pack_sequence_as(parts[0], joined)


@contextlib.contextmanager
def _no_gradients() -> Iterator[None]:
    """No autograd graph is recorded inside (PyTorch's ``no_grad``); elsewhere nothing to do."""
    if backend_name() == "torch":
        import torch

        with torch.no_grad():
            yield
    else:
        yield


def _forward_rest(split: _Split, predict: Callable[[Any], Any], loss_fn: LossFn, y_pred: Any,
                  per_sample: Any) -> tuple[Any, Any]:
    """Predictions and per-sample losses of the whole batch: the gradient rows' (given) and the others'."""
    preds, losses = [y_pred], [per_sample]
    with _no_gradients():
        for x, y in split.rest:
            pred = predict(x)
            preds.append(pred)
            losses.append(loss_fn(y, pred))
    return _restore_order(preds, split.order), _restore_order(losses, split.order)


# -- compiled once per recording ------------------------------------------------------------------------
class _Compiled:
    """Runs a computation compiled for its backend, or eagerly when it cannot be compiled.

    Subclasses give :meth:`_eager` and, per backend, ``_compile_tensorflow`` /
    ``_compile_jax`` / ``_compile_torch`` returning a callable that takes the
    same arguments.  Compilation is tried on the first call; if tracing fails
    (a loss or layer that only runs eagerly), a warning says so and every
    call runs eagerly from then on (no warning when the eager call fails
    too: its error is raised).
    """

    #: What the fallback warning says cannot be compiled, and what runs instead.
    _WHAT = "its recording step"
    _EAGER_NOTE = "it records eagerly, which is slower but gives the same values."
    #: Frames from the warning to the user's call (the caller of ``__call__``).
    _STACKLEVEL = 3

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self._fn: Callable[..., Any] | None = None
        self.compiled = False

    def __call__(self, *args: Any) -> Any:
        if self._fn is None:
            self._fn = self._eager
            compile_fn = getattr(self, f"_compile_{backend_name()}", None)
            if compile_fn is not None and not getattr(self.model, "run_eagerly", False):
                try:
                    fn = compile_fn()
                    out = fn(*args)
                except Exception as exc:  # noqa: BLE001 - any tracing failure falls back on eager
                    # Said only once the eager call works: inputs that fit neither way (targets that do
                    # not fit the loss) get the eager call's error alone, not a fallback that never ran.
                    out = self._eager(*args)
                    warnings.warn(
                        f"deepreplay could not compile {self._WHAT} ({type(exc).__name__}: {exc}); "
                        + self._EAGER_NOTE,
                        stacklevel=self._STACKLEVEL,
                    )
                    return out
                self._fn, self.compiled = fn, True
                return out
        return self._fn(*args)

    def _eager(self) -> Any:
        raise NotImplementedError


def _inline_executor() -> contextlib.AbstractContextManager:
    """Run TensorFlow functions called inside with the single-threaded executor (else: a no-op context).

    A recording step is a graph of ~100 small ops on one fixed batch.  The
    default executor hands each op that may be expensive to its inter-op
    thread pool, and at an epoch's end that pool's threads are asleep: each
    hand-off waits for a thread to wake.  The single-threaded executor runs
    the ops in the calling thread, one after the other (each kernel is the
    same, so are the values).  Measured in Part 1 fits, per record, old and
    new alternating epoch by epoch: the step's wall time 1.30 -> 1.16 ms,
    1.34 -> 1.14 ms and 1.05 -> 1.02 ms in three runs.  Graphs are traced
    inside this context too, so that TensorFlow keeps their loops and
    conditionals as functional ops (the single-threaded executor does not
    run the lowered ``Switch``/``Merge`` form).  ``tensorflow.python`` is
    TensorFlow's internal API: where it moved, nothing changes.
    """
    try:
        from tensorflow.python.eager import context
    except ImportError:  # pragma: no cover - another TensorFlow layout
        return contextlib.nullcontext()
    return context.function_executor_type("SINGLE_THREADED_EXECUTOR")


class StepOutputs(NamedTuple):
    """What one :class:`CompiledStep` call gives, as NumPy arrays.

    ``metrics`` (one float per metric given to the step) is None when the
    step could not compute them in its compiled call (eager steps, a metric
    that cannot be traced): evaluate them separately then.  ``values`` holds
    the values of the variables given as ``read``, in that order.  ``also``
    likewise holds the values of the ``also`` call, or None.
    """

    predictions: Any
    losses: np.ndarray
    gradients: list[np.ndarray] | None
    metrics: list[float] | None
    values: list[np.ndarray]
    #: The values of the ``also`` call run in the same compiled call, or None when it was not (run it apart).
    also: list[np.ndarray] | None = None


#: What a metric measures: ``select(y, y_pred) -> (y, y_pred)`` (one output's part of several), or None (all).
MetricSelect = Callable[[Any, Any], tuple[Any, Any]]


def _metric_results(metrics: Sequence[tuple[keras.metrics.Metric, list, MetricSelect | None, Any]], y: Any,
                    y_pred: Any) -> list:
    """Each metric on ``(y, y_pred)`` alone (with its sample weights, if any), from its reset state,
    without changing the metric (stateless)."""
    results = []
    for metric, state, select, sample_weight in metrics:
        true, pred = select(y, y_pred) if select is not None else (y, y_pred)
        state = metric.stateless_update_state(state, true, pred, sample_weight=sample_weight)
        results.append(metric.stateless_result(state))
    return results


class CompiledStep(_Compiled):
    """:func:`forward_with_gradients` on one fixed batch, compiled once.

    TensorFlow traces a ``tf.function`` around the ``GradientTape`` step; JAX
    jits ``jax.grad`` over ``stateless_call`` with the variables' current
    values passed in on each call; PyTorch runs eagerly.  Calling it returns
    ``(predictions, losses, gradients)`` as :func:`forward_with_gradients` does,
    for the model's current weights; nothing of the model changes.

    :meth:`record` also evaluates ``metrics`` (Keras metric objects, or
    ``(metric, select)`` pairs where ``select(y, y_pred)`` picks what the
    metric measures, or ``(metric, select, sample_weight)`` triples for a
    weighted metric; each on the batch alone, from its reset state, through
    the stateless metric API so the objects do not change) and reads the variables ``read``, in the
    same compiled call: a recorder then makes one call per record instead of
    one per metric and per variable.  On TensorFlow, the :class:`CompiledCall`
    ``also`` (the layer probe) runs in that call too (after the gradients,
    outside the tape); elsewhere, or when it cannot be traced there, it is
    left to the caller (``StepOutputs.also`` is None).
    """

    def __init__(self, model: keras.Model, loss_fn: LossFn, x: np.ndarray, y: np.ndarray, *,
                 with_gradients: bool,
                 metrics: Sequence[keras.metrics.Metric | tuple[keras.metrics.Metric, MetricSelect | None]
                                   | tuple[keras.metrics.Metric, MetricSelect | None, np.ndarray | None]] = (),
                 read: Sequence[keras.Variable] = (), also: CompiledCall | None = None,
                 gradient_rows: np.ndarray | None = None) -> None:
        super().__init__(model)
        self.also = also
        self._fused_also = False
        self.loss_fn, self.x, self.y = loss_fn, x, y
        self._trainable = list(model.trainable_variables)  # the gradients' order
        self.with_gradients = bool(with_gradients) and bool(self._trainable)
        self._split = _split_batch(x, y, gradient_rows) if self.with_gradients else None
        self._empty_grads = [] if with_gradients else None
        self.read = list(read)
        self._metrics = []
        for item in metrics:
            metric, select, sample_weight = (tuple(item) + (None,))[:3] if isinstance(item, tuple) else \
                (item, None, None)
            metric.reset_state()
            state = [np.array(keras.ops.convert_to_numpy(v.value)) for v in metric.variables]
            self._metrics.append((metric, state, select, sample_weight))
        self._fused_metrics = bool(self._metrics)

    @property
    def fresh_values(self) -> bool:
        """Whether the arrays of :meth:`record`'s ``values`` are new memory of that call (known once called).

        On TensorFlow the compiled call hands its float32 outputs back in one
        new buffer (see :class:`_FlatOutputs`), whose views they are; the
        rest it returns are tensors that no training step changes
        (TensorFlow copies a variable's buffer before updating it while a
        value read from it is alive).  Elsewhere a value may share memory
        with a variable that training updates in place (PyTorch tensors,
        JAX buffers donated to the train step): copy it before keeping it.
        """
        return self.compiled and backend_name() == "tensorflow"

    @property
    def runs_also(self) -> bool:
        """Whether the ``also`` call runs inside this step's compiled call (known once it was called)."""
        return self._fused_also

    def __call__(self) -> tuple[Any, np.ndarray, list[np.ndarray] | None]:
        return tuple(self.record()[:3])

    def record(self) -> StepOutputs:
        """Predictions, losses, gradients, the metrics (or None) and the values of ``read``."""
        return _Compiled.__call__(self)

    def _eager(self) -> StepOutputs:
        split = self._split
        out = forward_with_gradients(self.model, self.loss_fn, split.x if split else self.x,
                                     split.y if split else self.y, with_gradients=self.with_gradients)
        if split is not None:
            model = self.model
            y_pred, per_sample = _forward_rest(split, lambda x: model(x, training=False), self.loss_fn, *out[:2])
            out = (_np(y_pred), _np(per_sample), out[2])
        grads = out[2] if self.with_gradients else self._empty_grads
        return StepOutputs(out[0], out[1], grads, None, [variable_to_numpy(v) for v in self.read])

    def _compile_tensorflow(self):
        import tensorflow as tf

        model, loss_fn, with_gradients, read = self.model, self.loss_fn, self.with_gradients, self.read
        x, y = tf.nest.map_structure(tf.convert_to_tensor, (self.x, self.y))
        split = self._split
        if split is not None:
            split = split._replace(**dict(zip(("x", "y", "rest"), tf.nest.map_structure(
                tf.convert_to_tensor, (split.x, split.y, split.rest)))))

        also = self.also if self.also is not None and not getattr(self.also.model, "run_eagerly", False) else None

        def build(metrics, also):
            body = also.tensorflow_body() if also is not None else None
            flat = _FlatOutputs()

            def step():
                if split is None:
                    y_pred, per_sample, grads = _tensorflow_step(model, loss_fn, x, y, with_gradients=with_gradients)
                else:
                    y_pred, per_sample, grads = _tensorflow_step(model, loss_fn, split.x, split.y)
                    y_pred, per_sample = _forward_rest(split, lambda rows: model(rows, training=False), loss_fn,
                                                       y_pred, per_sample)
                extra = body() if body is not None else []
                return flat.pack((y_pred, per_sample, grads, _metric_results(metrics, y, y_pred),
                                  [v.value for v in read], extra))

            traced = tf.function(_in_own_name_scope(step), autograph=False)
            traced.unpack = flat.unpack
            return traced

        # Traced here: a metric or an ``also`` call that cannot be traced is left out (done apart).
        # Traced and run by TensorFlow's single-threaded function executor (see _inline_executor).
        with _inline_executor():
            for metrics, fused in ((self._metrics, also), ([], also), (self._metrics, None), ([], None)):
                step = build(metrics, fused)
                if not (metrics or fused):
                    break
                try:
                    step.get_concrete_function()
                    break
                except Exception:  # noqa: BLE001
                    continue
            # The concrete function, called directly: no signature matching or cache look-up per call.
            concrete, unpack = step.get_concrete_function(), step.unpack
        self._fused_metrics, self._fused_also = bool(metrics), fused is not None

        def run(executor: Callable[[], contextlib.AbstractContextManager] = _inline_executor) -> StepOutputs:
            with executor():
                flat = concrete()
            return self._to_numpy(*unpack(*flat))

        def first() -> StepOutputs:
            nonlocal call
            try:
                out = run()
            except Exception:  # noqa: BLE001 - an op the inline executor refuses: TensorFlow's default executor
                call = functools.partial(run, contextlib.nullcontext)
                return call()
            call = run
            return out

        call = first
        return lambda: call()

    def _compile_jax(self):
        import jax

        model, metrics, y, split, loss_fn = self.model, self._metrics, self.y, self._split, self.loss_fn
        total_loss = _jax_total_loss(model, loss_fn, split.x if split else self.x, split.y if split else y)
        if self.with_gradients:
            grad = jax.grad(total_loss, has_aux=True)
        else:
            grad = lambda t, n: (None, total_loss(t, n)[1])  # noqa: E731
        kwargs = _call_kwargs(model)

        def build(metrics):
            def fused(t, n):
                grads, (y_pred, per_sample) = grad(t, n)
                if split is not None:
                    y_pred, per_sample = _forward_rest(
                        split, lambda rows: model.stateless_call(t, n, _as_tensors(rows), **kwargs)[0], loss_fn,
                        y_pred, per_sample)
                return grads, (y_pred, per_sample), _metric_results(metrics, y, y_pred)

            return jax.jit(fused)

        step = build(metrics)
        if metrics:
            try:  # traces it: a metric that cannot be traced is evaluated apart
                jax.eval_shape(step, _values(model.trainable_variables), _values(model.non_trainable_variables))
            except Exception:  # noqa: BLE001
                step, self._fused_metrics = build([]), False

        def run():
            grads, (y_pred, per_sample), results = step(_values(model.trainable_variables),
                                                        _values(model.non_trainable_variables))
            return self._to_numpy(y_pred, per_sample, grads, results, _values(self.read))

        return run

    def _to_numpy(self, y_pred, per_sample, grads, metric_results=(), values=(), also=()):
        grads = _grads_to_numpy(grads, self._trainable) if self.with_gradients else self._empty_grads
        metrics = [float(_np(r)) for r in metric_results] if self._fused_metrics else None
        return StepOutputs(_np(y_pred), _np(per_sample), grads, metrics, [_np(v) for v in values],
                           CompiledCall._as_list(also) if self._fused_also else None)


class CompiledCall(_Compiled):
    """``model(x, training=False)`` on one fixed batch, compiled once; returns a list of NumPy arrays.

    ``ties`` pairs ``(variable, source)``: before each call ``variable``
    takes the value of ``source`` (the z-value twins of
    :class:`deepreplay.layer_probe.LayerProbe` follow their layers'
    weights this way).  Compiled (TensorFlow, JAX), the source values are
    passed in their place to ``stateless_call`` and nothing is assigned (on
    TensorFlow, a model ``stateless_call`` cannot run assigns inside the
    compiled function instead); eagerly, the variables are assigned.
    """

    def __init__(self, model: keras.Model, x: np.ndarray, *,
                 ties: Sequence[tuple[keras.Variable, keras.Variable]] = ()) -> None:
        super().__init__(model)
        self.x = x
        self.ties = list(ties)

    @staticmethod
    def _as_list(values: object) -> list[np.ndarray]:
        if not isinstance(values, (list, tuple)):
            values = [values]
        return [_np(v) for v in values]

    def _eager(self):
        for variable, source in self.ties:
            variable.assign(source.value)
        return self._as_list(self.model(self.x, training=False))

    def tensorflow_body(self) -> Callable[[], Any]:
        """The call as a function to trace inside a ``tf.function`` (its own, or a recording step's)."""
        import tensorflow as tf

        model, x, ties = self.model, tf.nest.map_structure(tf.convert_to_tensor, self.x), self.ties
        source_of = {id(variable): source for variable, source in ties}
        kwargs = _call_kwargs(model)

        def assigned():
            for variable, source in ties:
                variable.assign(source.value)
            return model(x, training=False)

        def call():
            if not ties:
                return model(x, training=False)
            # The twins read their sources' values in place of their own variables (each read apart, as
            # their own variables were): no assignment, ~2 ops fewer per tied variable.
            try:
                values = [[source_of.get(id(v), v).value for v in variables]
                          for variables in (model.trainable_variables, model.non_trainable_variables)]
                return _in_own_name_scope(model.stateless_call)(*values, x, **kwargs)[0]
            except Exception:  # noqa: BLE001 - a model stateless_call cannot run: assign, as eagerly
                return assigned()

        return call

    def _compile_tensorflow(self):
        import tensorflow as tf

        call = tf.function(_in_own_name_scope(self.tensorflow_body()), autograph=False)
        return lambda: self._as_list(call())

    def _compile_jax(self):
        import jax

        model, x = self.model, self.x
        kwargs = _call_kwargs(model)
        source_of = {id(variable): source for variable, source in self.ties}
        x = _as_tensors(x)
        call = jax.jit(lambda t, n: model.stateless_call(t, n, x, **kwargs)[0])

        def values(variables):
            return _values([source_of.get(id(v), v) for v in variables])

        return lambda: self._as_list(call(values(model.trainable_variables), values(model.non_trainable_variables)))


def _in_own_name_scope(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run (traced, on TensorFlow) inside a name scope of ours; Keras' scope stack kept as it was.

    At the root of a traced function TensorFlow refuses a scope named after a
    model whose name starts with "_" (Keras names ``class _Net`` "__net"),
    and it does so after Keras has pushed that scope on its own stack, where
    it would stay for the thread, prefixing every variable made later (their
    paths, so the keys a replay finds weights by).  Inside our scope the name
    is valid; should a call fail anyway, the stack is put back.
    """
    import tensorflow as tf

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        scopes = _keras_name_scopes()
        try:
            with tf.name_scope("deepreplay"):
                return fn(*args, **kwargs)
        except BaseException:
            _restore_keras_name_scopes(scopes)
            raise

    return run


def _keras_name_scopes() -> list | None:
    """A copy of Keras' stack of open name scopes in this thread (None where Keras keeps none we know).

    Keras 3 keeps it in its thread-local global state; no public API reads it.
    A call that fails inside a scope's ``__enter__`` leaves that scope on the
    stack, and only restoring the stack removes it.
    """
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # pragma: no cover - another Keras layout
        return None
    return list(global_state.get_global_attribute("name_scope_stack") or [])


def _restore_keras_name_scopes(scopes: list | None) -> None:
    """Put back Keras' name-scope stack as :func:`_keras_name_scopes` copied it."""
    if scopes is None:
        return
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("name_scope_stack", scopes)


# -- the loss of many weight vectors at once (loss landscapes) -------------------------------------------
class BatchedLoss(_Compiled):
    """The model's loss on one fixed batch for many weight vectors at once.

    ``BatchedLoss(model, loss_fn, x, y)(thetas)`` takes ``thetas`` of shape
    ``(N, P)``, each row every trainable variable of ``model`` flattened and
    concatenated in ``model.trainable_variables`` order, and returns the N
    losses (mean per-sample loss plus regularisation, as recorded by
    ``ReplayData``), without assigning any variable.  The non-trainable
    variables keep the values they have when it is created.

    Each weight vector goes through ``model.stateless_call``; a chunk of
    vectors is mapped in one call (``tf.function`` around ``tf.vectorized_map``
    on TensorFlow, ``jax.jit`` around ``jax.vmap`` on JAX, ``torch.vmap`` on
    PyTorch), so the matrix products of a whole chunk run batched.  Models
    compiled with ``run_eagerly=True``, and any model whose call cannot be
    mapped (a warning says so), evaluate the vectors one by one, eagerly,
    with the same stateless call.

    Parameters
    ----------
    model : keras.Model
        A built model; never changed.
    loss_fn : callable
        ``loss_fn(y_true, y_pred)`` returning one loss per sample.
    x, y : ndarray
        The samples and their targets.
    chunk_size : int, optional
        Weight vectors per compiled call (default: as many as keep the
        chunk's activations near 64 MiB).
    """

    _WHAT = "the loss-surface evaluation"
    _EAGER_NOTE = "it evaluates one weight vector at a time, which is slower but gives the same values."
    _STACKLEVEL = 5  # as _Compiled's 3, plus the two frames of __call__ and _run

    def __init__(self, model: keras.Model, loss_fn: LossFn, x: np.ndarray, y: np.ndarray, *,
                 chunk_size: int | None = None) -> None:
        super().__init__(model)
        self.loss_fn = loss_fn
        self.x = np.asarray(x, dtype=np.float32) if np.asarray(x).dtype.kind == "f" else np.asarray(x)
        self.y = np.asarray(y)
        variables = model.trainable_variables
        self.shapes = [tuple(int(d) for d in v.shape) for v in variables]
        self.sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.n_parameters = int(sum(self.sizes))
        self._non_trainable = _values(model.non_trainable_variables)
        if chunk_size is None:
            # Bytes of one vector's activations: 4 per sample and unit (the kernels' last axes), twice.
            units = sum(shape[-1] for shape in self.shapes if len(shape) >= 2) or 1
            per_vector = 8 * max(len(self.x), 1) * units
            chunk_size = int(min(1024, max(8, (64 * 2**20) // per_vector)))
        self.chunk_size = int(chunk_size)

    def _split(self, theta: Any) -> list:
        values, start = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            values.append(keras.ops.reshape(theta[start:start + size], shape))
            start += size
        return values

    def _one(self, theta: Any, x: Any, y: Any) -> Any:
        y_pred, _, extra = self.model.stateless_call(self._split(theta), self._non_trainable, _as_tensors(x),
                                                     return_losses=True, **_call_kwargs(self.model))
        return _total_loss(self.loss_fn(y, y_pred), extra)

    def _eager(self, thetas: np.ndarray) -> np.ndarray:
        return np.array([float(_np(self._one(keras.ops.convert_to_tensor(t), self.x, self.y))) for t in thetas])

    def _compile_tensorflow(self) -> Callable[[np.ndarray], np.ndarray]:
        import tensorflow as tf

        x, y = tf.convert_to_tensor(self.x), tf.convert_to_tensor(self.y)
        fn = tf.function(_in_own_name_scope(lambda thetas: tf.vectorized_map(lambda t: self._one(t, x, y), thetas)),
                         autograph=False, reduce_retracing=True)
        return lambda thetas: _np(fn(tf.convert_to_tensor(thetas)))

    def _compile_jax(self) -> Callable[[np.ndarray], np.ndarray]:
        import jax

        x, y = self.x, self.y
        fn = jax.jit(jax.vmap(lambda t: self._one(t, x, y)))
        return lambda thetas: _np(fn(thetas))

    def _compile_torch(self) -> Callable[[np.ndarray], np.ndarray]:
        import torch

        x, y = torch.as_tensor(self.x), torch.as_tensor(self.y)
        mapped = torch.vmap(lambda t: self._one(t, x, y))

        def run(thetas: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return _np(mapped(torch.as_tensor(thetas)))

        return run

    def __call__(self, thetas: np.ndarray) -> np.ndarray:
        thetas = np.asarray(thetas, dtype=np.float32)
        if thetas.ndim != 2 or thetas.shape[1] != self.n_parameters:
            raise ValueError(f"thetas has shape {thetas.shape}; expected (N, {self.n_parameters}), one flattened "
                             "weight vector per row.")
        out = []
        for start in range(0, len(thetas), self.chunk_size):
            chunk = thetas[start:start + self.chunk_size]
            if len(chunk) < self.chunk_size and len(thetas) > self.chunk_size:
                # Pad the last chunk to the traced size: one compiled function serves every chunk.
                padded = np.concatenate([chunk, np.repeat(chunk[-1:], self.chunk_size - len(chunk), axis=0)])
                out.append(self._run(padded)[:len(chunk)])
            else:
                out.append(self._run(chunk))
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        return np.asarray(_Compiled.__call__(self, chunk)).reshape(-1)
