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
