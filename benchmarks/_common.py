"""Shared set-up of the benchmarks: the canonical runs, timing helpers, machine load.

Not a benchmark itself.  Every script imports it first, so the repository is
importable without installing it and TensorFlow stays quiet.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("DEEPREPLAY_PROGRESS", "0")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

MiB = 1024 * 1024

# The BLOCK model of the "Hyper-parameters in Action! Part II" post.
BLOCK_INPUTS = 10
BLOCK_POINTS = 1000
BLOCK_HIDDEN = 5
BLOCK_UNITS = 100
BLOCK_EPOCHS = 150
BLOCK_BATCH_SIZE = 16
BLOCK_SEED = 42


def load() -> str:
    """The machine's load averages (1, 5, 15 min) and CPU count, for the record."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


#: Keras callback hooks a :class:`HookTimer` times (those the callback overrides).
HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_batch_begin", "on_batch_end", "on_test_begin", "on_test_end",
         "on_test_batch_begin", "on_test_batch_end")


class HookTimer:
    """Times a callback's own hooks, the same way for every callback ("own time").

    ``HookTimer(callback)`` replaces, on that instance, each hook its class
    overrides (hooks Keras' base class leaves as no-ops are left alone, so
    Keras still dispatches batch hooks asynchronously when the callback has
    none) by a wrapper that adds the hook's wall time to :attr:`seconds`.
    ``background(fn)`` wraps a function run in another thread (ReplayData's
    writer) so that the CPU time it takes in that thread (``time.thread_time``)
    adds to :attr:`background_cpu`: that thread competes with training for
    the cores and the GIL, so it is counted as the callback's time too.

    ``waiting(fn)`` wraps the function a hook calls to wait for that thread
    (ReplayData's ``_finish_writes``): the wall time a hook spends inside it
    is left out of the hook's time (kept in :attr:`waited`), because the
    writer's work in that time is already counted as its CPU.  Without this,
    ``on_train_end``, which waits for the fit's last write, counted that
    write twice.
    """

    def __init__(self, callback) -> None:
        self.seconds = 0.0
        self.background_cpu = 0.0
        self.calls = 0
        self.by_hook: dict[str, list[float]] = {}  # each call's wall time, per hook
        self.background_calls: list[float] = []  # each background call's CPU time
        self.waited = 0.0  # wall time hooks spent waiting for the background thread (not in seconds)
        for name in HOOKS:
            method = getattr(callback, name, None)
            # Keras marks its base class's no-op hooks so (keras.src.utils.python_utils.default).
            if method is None or getattr(method, "_is_default", False):
                continue
            setattr(callback, name, self._timed(name, method))

    def _timed(self, name, method):
        calls = self.by_hook.setdefault(name, [])

        def hook(*args, **kwargs):
            start, waited = time.perf_counter(), self.waited
            try:
                return method(*args, **kwargs)
            finally:
                took = time.perf_counter() - start - (self.waited - waited)
                self.seconds += took
                self.calls += 1
                calls.append(took)

        return hook

    def background(self, fn):
        def run(*args, **kwargs):
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.thread_time() - start
                self.background_cpu += took
                self.background_calls.append(took)

        return run

    def waiting(self, fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.waited += time.perf_counter() - start

        return run

    def steady_epoch(self, epochs: int) -> float:
        """Own time per epoch once training runs: the hooks of the epochs and batches (not those of the
        start and end of training, which hold the set-up, the first record and the wait for the last
        write), plus the median background call (one record per epoch)."""
        hooks, background = self.steady_parts(epochs)
        return hooks + background

    def steady_parts(self, epochs: int) -> tuple[float, float]:
        """The two parts of :meth:`steady_epoch`: hook seconds per epoch, background CPU seconds per record."""
        during = sum(sum(v) for k, v in self.by_hook.items() if k not in ("on_train_begin", "on_train_end"))
        background = statistics.median(self.background_calls) if self.background_calls else 0.0
        return during / epochs, background

    @property
    def total(self) -> float:
        """Hook time plus background CPU time, in seconds."""
        return self.seconds + self.background_cpu


def timed_replaydata(callback) -> HookTimer:
    """A :class:`HookTimer` on a ``ReplayData``, with its background writer's CPU time counted once.

    The benchmark reaches in: the writer thread calls ``writer.append`` (its
    CPU time is counted), and the hooks wait for it in ``_finish_writes``
    (that wall time is not counted again as hook time).
    """
    timer = HookTimer(callback)
    writer = callback._writer
    writer.append = timer.background(writer.append)
    callback._finish_writes = timer.waiting(callback._finish_writes)
    return timer


def timed_callbacks(kind: str, replaydata: Callable[[], object], log_dir: str) -> tuple[list, HookTimer | None]:
    """The callbacks of one interleaved fit and the timer of their own time.

    ``kind`` is ``"replaydata"`` (``replaydata()`` makes the callback),
    ``"tensorboard"`` (``TensorBoard(histogram_freq=1)`` logging to
    ``log_dir``) or anything else (a bare fit: no callback, no timer).  Both
    callbacks are timed by the same :class:`HookTimer`.
    """
    if kind == "replaydata":
        callback = replaydata()
        return [callback], timed_replaydata(callback)
    if kind == "tensorboard":
        import keras

        callback = keras.callbacks.TensorBoard(log_dir=log_dir, histogram_freq=1)
        return [callback], HookTimer(callback)
    return [], None


def part1_data():
    from deepreplay.datasets import parabola

    return parabola.load_data()


def part1_model():
    from deepreplay.demo import build_part1_model

    return build_part1_model("sigmoid")


def block_data():
    from deepreplay.datasets import ball

    return ball.load_data(n_dims=BLOCK_INPUTS, n_points=BLOCK_POINTS)


def block_model(seed: int = BLOCK_SEED):
    """5 x Dense(100, relu) (He normal, seeded per layer) and a sigmoid output; SGD, binary cross-entropy."""
    import keras

    layers = [keras.Input((BLOCK_INPUTS,), name="inputs")]
    for i in range(BLOCK_HIDDEN):
        layers.append(keras.layers.Dense(BLOCK_UNITS, activation="relu", name=f"h{i + 1}",
                                         kernel_initializer=keras.initializers.HeNormal(seed=1000 * seed + i)))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="output",
                                     kernel_initializer=keras.initializers.GlorotNormal(seed=1000 * seed + 99)))
    model = keras.Sequential(layers, name="block")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def record_run(kind: str, filename: str, group: str, *, epochs: int, seed: int = 42, **replaydata_kwargs) -> float:
    """Train the Part 1 (``kind='part1'``) or BLOCK run with ``ReplayData``; return the fit's seconds."""
    import keras

    from deepreplay.callbacks import ReplayData

    keras.utils.set_random_seed(seed)
    if kind == "part1":
        X, y = part1_data()
        model, batch = part1_model(), 16
    else:
        X, y = block_data()
        model, batch = block_model(), BLOCK_BATCH_SIZE
    callback = ReplayData(X, y, filename, group, overwrite=True, **replaydata_kwargs)
    start = time.perf_counter()
    model.fit(X, y, epochs=epochs, batch_size=batch, callbacks=[callback], verbose=0)
    return time.perf_counter() - start


def table(rows: list[list[str]], header: list[str]) -> str:
    """A GitHub-flavoured Markdown table."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


# -- cached recordings shared by the benchmarks ------------------------------------------------------
CACHE = Path(os.environ.get("DEEPREPLAY_BENCH_CACHE", Path(__import__("tempfile").gettempdir()) / "deepreplay-bench"))

#: ``ReplayData`` settings that record everything at full resolution.
FULL_RESOLUTION = {"output_samples": None, "significant_bits": None, "compression": None}


def cached_recording(kind: str, *, full: bool = False, fresh: bool = False, log=print) -> Path:
    """A 150-epoch recording of the Part 1 or BLOCK run, recorded once and kept in :data:`CACHE`.

    ``full`` records everything at full resolution (BLOCK only).  The file is
    re-recorded when ``fresh`` or when it is missing, incomplete or older than
    deepreplay's recording code.
    """
    from deepreplay import callbacks, storage

    CACHE.mkdir(parents=True, exist_ok=True)
    name = f"{kind}{'_full' if full else ''}"
    path = CACHE / f"{name}.h5"
    code_time = max(Path(m.__file__).stat().st_mtime for m in (callbacks, storage))
    if path.exists() and not fresh and path.stat().st_mtime > code_time:
        try:
            with storage.RecordingReader(path, name) as reader:
                if reader.complete and reader.n_records == (BLOCK_EPOCHS + 1):
                    return path
        except Exception:
            pass
    log(f"  recording {name} ({BLOCK_EPOCHS} epochs) -> {path} ...", flush=True)
    if path.exists():
        path.unlink()
    record_run(kind, str(path), name, epochs=BLOCK_EPOCHS, **(FULL_RESOLUTION if full else {}))
    return path


def write_json(path: str | None, result: dict) -> None:
    import json

    if path:
        Path(path).write_text(json.dumps(result, indent=2, default=float))
