"""8. Recording overhead and size on real-sized models: the digits CNN and a 1M-parameter MLP (issue 12).

Usage::

    python benchmarks/zoo_overhead.py                       # both models, defaults below
    python benchmarks/zoo_overhead.py --cnn-epochs 30 --mlp-epochs 5 --repeats 3 --json out.json

Two models, each fitted from the same seed in three ways, interleaved (the
order rotates each repetition, after one warm-up fit of each kind):

* bare: no callback;
* ``ReplayData`` at its default settings;
* ``keras.callbacks.TensorBoard(histogram_freq=1)``.

Models:

* **digits CNN**: Conv2D(8, 3, relu) -> MaxPooling2D -> Flatten -> Dense(16,
  relu) -> Dense(10, softmax) on all 1,797 samples of scikit-learn's
  ``load_digits`` (batch 32), every sample recorded;
* **MLP, 1M parameters**: 256 inputs -> Dense(1024, relu) -> Dense(512, relu)
  -> Dense(256, relu) -> Dense(10, softmax) (1.19M parameters) on 100,000
  generated samples (batch 256), ``max_samples=10_000`` recorded (stratified).

Printed: median seconds per epoch and the ratio to the bare fit, the
callback's own time (``ReplayData._record``, epochs + 1 records per fit) as
a ratio to the bare fit (target <= 1.10; the wall-time ratios on a shared
machine are noisier than that), and bytes per record with the defaults
(``ReplayData.estimate`` and the file, less its recorded inputs and HDF5
overhead).  ``pip install tensorboard`` (the ``bench`` extra) for the
TensorBoard column.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import _common as c


def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).reshape(-1, 8, 8, 1).astype("float32"), y.astype("int64")


def digits_cnn():
    import keras

    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(16, activation="relu", name="dense"),
        keras.layers.Dense(10, activation="softmax", name="output"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def mlp_data(n=100_000):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 256)).astype("float32")
    w = rng.normal(size=(256, 10)).astype("float32")
    return X, np.argmax(X @ w, axis=1).astype("int64")


def mlp():
    import keras

    model = keras.Sequential([keras.Input((256,))] + [
        keras.layers.Dense(units, activation="relu", name=f"dense{i}") for i, units in enumerate((1024, 512, 256))
    ] + [keras.layers.Dense(10, activation="softmax", name="output")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def measure(name, build, X, y, *, epochs, batch_size, repeats, replay_kwargs, tmp):
    import keras

    from deepreplay.callbacks import ReplayData

    record_seconds: list[float] = []
    original = ReplayData._record

    def timed_record(self, *a, **k):
        start = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            record_seconds.append(time.perf_counter() - start)

    ReplayData._record = timed_record
    counter = iter(range(10**6))
    files = []

    def fit(kind, n_epochs):
        keras.utils.set_random_seed(0)
        model = build()
        callbacks = []
        if kind == "replaydata":
            path = os.path.join(tmp, f"{name}{next(counter)}.h5")
            files.append(path)
            callbacks.append(ReplayData(X, y, path, name, **replay_kwargs))
        elif kind == "tensorboard":
            callbacks.append(keras.callbacks.TensorBoard(log_dir=os.path.join(tmp, f"tb{next(counter)}"),
                                                         histogram_freq=1))
        start = time.perf_counter()
        model.fit(X, y, epochs=n_epochs, batch_size=batch_size, callbacks=callbacks, verbose=0)
        return (time.perf_counter() - start) / n_epochs

    kinds = ["bare", "replaydata", "tensorboard"]
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        kinds.remove("tensorboard")
    try:
        for kind in kinds:
            fit(kind, 1)
        record_seconds.clear()
        times = {kind: [] for kind in kinds}
        for rep in range(repeats):
            for kind in kinds[rep % len(kinds):] + kinds[:rep % len(kinds)]:
                times[kind].append(fit(kind, epochs))
            print(f"  {name} repetition {rep + 1}: " + ", ".join(f"{k} {times[k][-1]:.3f} s/epoch" for k in kinds),
                  flush=True)
    finally:
        ReplayData._record = original
    keras.utils.set_random_seed(0)
    estimate = ReplayData(X, y, os.path.join(tmp, "estimate.h5"), "e", **replay_kwargs).estimate(build(),
                                                                                                  epochs=epochs)
    from deepreplay.storage import RecordingReader

    with RecordingReader(files[-1], name) as r:
        records = r.n_records
    bare = c.median(times["bare"])
    return {
        "model": name, "epochs": epochs, "repeats": repeats,
        "seconds_per_epoch": {k: c.median(v) for k, v in times.items()},
        "ratio_replaydata": c.median(times["replaydata"]) / bare,
        "ratio_tensorboard": c.median(times["tensorboard"]) / bare if "tensorboard" in times else None,
        "record_ms": 1000 * c.median(record_seconds),
        # The callback's own time against the bare fit: epochs + 1 records (epoch 0 too) per fit.
        "own_time_ratio": 1 + c.median(record_seconds) * (epochs + 1) / (bare * epochs),
        "estimate_bytes_per_record": estimate["bytes_per_record"],
        "file_bytes": os.path.getsize(files[-1]),
        # The file's bytes per record: its size less the recorded inputs/targets and HDF5 overhead (estimated).
        "file_bytes_per_record": (os.path.getsize(files[-1]) - estimate["static_bytes"]) / records,
        "estimate_total_bytes": estimate["total_bytes"],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cnn-epochs", type=int, default=30)
    parser.add_argument("--mlp-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="deepreplay_zoo_")
    print(f"Recording overhead on real-sized models; start: {c.load()}", flush=True)
    X, y = digits()
    results = [measure("digits_cnn", digits_cnn, X, y, epochs=args.cnn_epochs, batch_size=32,
                       repeats=args.repeats, replay_kwargs={}, tmp=tmp)]
    X, y = mlp_data()
    results.append(measure("mlp_1m", mlp, X, y, epochs=args.mlp_epochs, batch_size=256, repeats=args.repeats,
                           replay_kwargs={"max_samples": 10_000}, tmp=tmp))
    print()
    rows = []
    for r in results:
        s = r["seconds_per_epoch"]
        rows.append([r["model"], f"{s['bare']:.3f}", f"{r['own_time_ratio']:.3f}", f"{r['ratio_replaydata']:.3f}",
                     f"{r['ratio_tensorboard']:.3f}" if r["ratio_tensorboard"] else "-", f"{r['record_ms']:.0f}",
                     f"{r['file_bytes_per_record'] / 2**20:.2f}", f"{r['estimate_bytes_per_record'] / 2**20:.2f}",
                     f"{r['file_bytes'] / 2**20:.1f} / {r['estimate_total_bytes'] / 2**20:.1f}"])
    print(c.table(rows, ["model", "bare s/epoch", "(bare + own time)/bare", "ReplayData/bare", "TensorBoard/bare", "record ms",
                         "MiB/record (file)", "MiB/record (estimate)", "file / estimate MiB"]))
    for r in results:
        tb = r["ratio_tensorboard"]
        ok = r["own_time_ratio"] <= 1.10 and (tb is None or r["ratio_replaydata"] < tb)
        print(f"{r['model']}: target ReplayData <= 1.10 x bare and below TensorBoard: {'met' if ok else 'MISSED'}")
    print(f"  end: {c.load()}")
    result = {"results": results, "load_end": os.getloadavg()}
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
