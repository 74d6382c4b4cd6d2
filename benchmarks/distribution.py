"""7. Recording under distribution (issue 18): per-record cost on 2 devices, and two workers, 5 times.

Usage::

    python benchmarks/distribution.py                  # both parts (~3 min on 2 idle cores)
    python benchmarks/distribution.py --repeats 5 --samples 256 1024 4096 --json out.json
    python benchmarks/distribution.py --skip-workers   # the per-record cost only

1. Per-record cost.  The CPU is split into 2 logical devices
   (``tf.config.set_logical_device_configuration``) before TensorFlow
   starts; then, in the same process and interleaved, the same small model
   (2-64-64-1, tanh) is fitted with ``ReplayData(every_steps=4)`` built
   once on one device (no strategy) and once under
   ``tf.distribute.MirroredStrategy`` over the 2 logical devices, for each
   number of recorded samples.  The time of each record (``ReplayData``'s
   recording step: the compiled forward/gradient call, the layer outputs,
   the hand-over to the writer) is measured; the medians and the
   mirrored / single-device ratio are printed.
2. Two workers.  The two-process ``MultiWorkerMirroredStrategy`` run of
   ``tests/test_distribution.py`` (only the chief records) is repeated
   ``--repeats`` times, each under a timeout; every repetition must pass the
   test's checks (the chief's file complete and equal to a NumPy
   computation, nothing written or computed by the other worker, the same
   steps and final weights on both).  Seconds per repetition are printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (repository on sys.path, quiet TensorFlow)
import numpy as np

HERE = Path(__file__).resolve().parent


def _test_module():
    spec = importlib.util.spec_from_file_location("test_distribution", HERE.parent / "tests" / "test_distribution.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_record_cost(sample_counts, rounds=3, epochs=2, batch_size=64):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from deepreplay.callbacks import ReplayData

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    def build():
        keras.utils.set_random_seed(7)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(64, activation="tanh"),
                                  keras.layers.Dense(64, activation="tanh"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
        return model

    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(1024, 2)).astype(np.float32)
    y_train = (X_train[:, :1] * X_train[:, 1:] > 0).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sample_counts:
            X = rng.normal(size=(n, 2)).astype(np.float32)
            y = (X[:, :1] * X[:, 1:] > 0).astype(np.float32)
            times = {"single": [], "mirrored": []}
            # interleaved, so machine noise hits both alike; the first fit of each kind warms up
            for kind in ("single", "mirrored") * (rounds + 1):
                if kind == "mirrored":
                    with strategy.scope():
                        model = build()
                else:
                    model = build()
                rd = ReplayData(X, y, f"{tmp}/{kind}_{n}_{len(times[kind])}.h5", "run", every_steps=4)
                spent = []
                record = rd._record

                def timed(*args, _record=record, _spent=spent, **kwargs):
                    start = time.perf_counter()
                    _record(*args, **kwargs)
                    _spent.append(time.perf_counter() - start)

                rd._record = timed
                model.fit(X_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[rd])
                times[kind].append(spent[1:])  # record 0 includes compiling the recording step
            single = statistics.median(t for fit in times["single"][1:] for t in fit) * 1e3
            mirrored = statistics.median(t for fit in times["mirrored"][1:] for t in fit) * 1e3
            rows.append({"samples": n, "records": len(times["single"][-1]) + 1, "single_ms": round(single, 2),
                         "mirrored_ms": round(mirrored, 2), "ratio": round(mirrored / single, 2)})
            print(f"  {n:>6} samples: single device {single:7.2f} ms/record, MirroredStrategy (2 devices) "
                  f"{mirrored:7.2f} ms/record, ratio {mirrored / single:.2f}", flush=True)
    return rows


def two_workers(repeats, timeout):
    module = _test_module()
    results = []
    for i in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            runs = module.run_children(Path(tmp), ["workers"], timeout=timeout)
            seconds = time.perf_counter() - start
            try:
                chief = module.check_worker_pair(runs)
                ok, detail = True, f"{chief['steps']} steps, {chief['records_checked']} records checked"
            except AssertionError as exc:
                ok, detail = False, str(exc).splitlines()[0][:200]
        results.append({"repeat": i + 1, "ok": ok, "seconds": round(seconds, 1), "detail": detail})
        print(f"  repeat {i + 1}: {'ok' if ok else 'FAILED'} in {seconds:.1f} s ({detail})", flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[256, 1024, 4096, 16384])
    parser.add_argument("--repeats", type=int, default=5, help="two-worker runs")
    parser.add_argument("--rounds", type=int, default=3, help="measured fits of each kind per sample count")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds allowed per two-worker run")
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    print(f"load before: {_common.load()}")
    print("1. per-record cost, same process, CPU split into 2 logical devices")
    out = {"per_record": per_record_cost(args.samples, rounds=args.rounds)}
    if not args.skip_workers:
        print(f"2. two MultiWorkerMirroredStrategy workers, {args.repeats} repetitions, {args.timeout:.0f} s timeout each")
        out["two_workers"] = two_workers(args.repeats, args.timeout)
        print(f"  {sum(r['ok'] for r in out['two_workers'])}/{args.repeats} passed, none hung"
              if all(r["ok"] for r in out["two_workers"]) else "  SOME REPETITIONS FAILED")
    print(f"load after: {_common.load()}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
