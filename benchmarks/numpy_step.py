"""The NumPy recording step against the compiled one: set-up, per-record time, and where each is faster.

Usage::

    python benchmarks/numpy_step.py                 # set-ups and records per model, then Part 1 fits (~2-3 min)
    python benchmarks/numpy_step.py --models part1 --setups 5 --records 100 --fits 6 --json out.json

For each model, ``ReplayData`` builds its recording step as it does when a
fit starts (``_prepare``: the layer probe, the step, and the first record that
checks the targets), once with the NumPy step allowed and once with
``numpy_step.MAX_COST = 0`` (the compiled step, as before), alternating, a
fresh model each time; then each step computes ``--records`` records, the two
alternating record by record.  Printed: the median wall and CPU
(``time.process_time``) time of a set-up and of a record, per step, and their
ratio.  The NumPy step is used where it is faster: ``MAX_COST`` (in
``n_samples x multiply-adds per sample``) is set from the crossover table.

Models (the posts' and wider ones): Part 1 (2-2-1 sigmoid, 2,000 samples),
2-16-16-1 tanh on 2,000, 10-32-32-1 relu on 2,000, 10-64-64-1 relu on 2,000 and on 10,000 samples
(2,048 gradient samples), and the Part 2 BLOCK network (10 inputs, 5 x Dense(100,
relu), 1,000 samples).

Then ``--fits`` Part 1 fits (``--epochs`` epochs, batch 16) are recorded with
each step, alternating, each callback timed as ``recording_overhead.py``
times it (``_common.HookTimer``): ``on_train_begin`` wall and CPU time, hook
time per epoch, the writer thread's CPU per record, the own time per epoch.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import _common as c


def _model(kind: str):
    import keras
    import numpy as np

    if kind == "part1":
        X, y = c.part1_data()
        return c.part1_model(), X, y
    if kind == "block":
        X, y = c.block_data()
        return c.block_model(), X, y
    units, act, n, d = {"16x2": (16, "tanh", 2000, 2), "32x2": (32, "relu", 2000, 10), "64x2": (64, "relu", 2000, 10),
                        "64x2-10k": (64, "relu", 10000, 10)}[kind]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, :1] * X[:, 1:2] > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(units, activation=act),
                              keras.layers.Dense(units, activation=act), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    return model, X, y


def _prepared(kind: str, numpy_allowed: bool, tmp: str, counter) -> tuple[object, float, float]:
    from deepreplay import numpy_step
    from deepreplay.callbacks import ReplayData

    model, X, y = _model(kind)
    rd = ReplayData(X, y, f"{tmp}/bench.h5", f"g{next(counter)}")
    rd.set_model(model)
    saved = numpy_step.MAX_COST
    numpy_step.MAX_COST = 10**15 if numpy_allowed else 0
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        rd._prepare()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        numpy_step.MAX_COST = saved
    assert isinstance(rd._step, numpy_step.NumpyStep) == numpy_allowed, (kind, type(rd._step))
    return rd, wall, cpu


def compare(kind: str, setups: int, records: int, tmp: str, counter) -> dict:
    rows = {"numpy": {"setup_wall": [], "setup_cpu": [], "record_wall": [], "record_cpu": []},
            "compiled": {"setup_wall": [], "setup_cpu": [], "record_wall": [], "record_cpu": []}}
    steps = {}
    for i in range(setups):
        for name in (("numpy", "compiled") if i % 2 == 0 else ("compiled", "numpy")):
            rd, wall, cpu = _prepared(kind, name == "numpy", tmp, counter)
            rows[name]["setup_wall"].append(wall)
            rows[name]["setup_cpu"].append(cpu)
            steps[name] = rd._step
    for name in steps:  # warm
        for _ in range(3):
            steps[name].record()
    for i in range(records):
        for name in (("numpy", "compiled") if i % 2 == 0 else ("compiled", "numpy")):
            wall, cpu = time.perf_counter(), time.process_time()
            steps[name].record()
            rows[name]["record_wall"].append(time.perf_counter() - wall)
            rows[name]["record_cpu"].append(time.process_time() - cpu)
    from deepreplay.numpy_step import forward_cost, step_plan

    model, X, y = steps["numpy"].model, steps["numpy"].x, steps["numpy"].targets
    result = {name: {key: 1e3 * c.median(values) for key, values in row.items()} for name, row in rows.items()}
    result["cost"] = forward_cost(step_plan(model, X, y), len(X))
    return result


def part1_fits(fits: int, epochs: int, tmp: str, counter) -> dict:
    """Part 1 fits recorded with each step, alternating: on_train_begin, hooks per epoch, writer CPU (ms)."""
    import keras

    from deepreplay import numpy_step
    from deepreplay.callbacks import ReplayData

    X, y = c.part1_data()
    out = {"numpy": [], "compiled": []}
    saved = numpy_step.MAX_COST
    try:
        for i in range(fits + 1):  # the first pair warms up (graph tracing of the fit itself)
            for name in (("numpy", "compiled") if i % 2 == 0 else ("compiled", "numpy")):
                numpy_step.MAX_COST = saved if name == "numpy" else 0
                keras.utils.set_random_seed(42)
                model = c.part1_model()
                rd = ReplayData(X, y, f"{tmp}/fits.h5", f"f{next(counter)}")
                timer = c.timed_replaydata(rd)
                box: dict[str, float] = {}

                def timed_begin(logs=None, begin=rd.on_train_begin, box=box):
                    wall, cpu = time.perf_counter(), time.process_time()
                    begin(logs)
                    box.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)

                rd.on_train_begin = timed_begin
                start = time.perf_counter()
                model.fit(X, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[rd])
                wall = time.perf_counter() - start
                assert isinstance(rd._step, numpy_step.NumpyStep) == (name == "numpy")
                hooks, writer = timer.steady_parts(epochs)
                if i:
                    out[name].append({"begin_wall": box["wall"], "begin_cpu": box["cpu"],
                                      "hooks": hooks, "writer": writer, "own": timer.total / epochs,
                                      "epoch": wall / epochs})
    finally:
        numpy_step.MAX_COST = saved
    return {name: {key: 1e3 * c.median([r[key] for r in runs]) for key in runs[0]} for name, runs in out.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setups", type=int, default=7, help="set-ups of each step per model (default: %(default)s)")
    parser.add_argument("--records", type=int, default=150,
                        help="records of each step per model (default: %(default)s)")
    parser.add_argument("--models", default="part1,16x2,32x2,64x2,block,64x2-10k",
                        help="comma-separated: part1, 16x2, 32x2, 64x2, block, 64x2-10k (default: all)")
    parser.add_argument("--fits", type=int, default=4,
                        help="Part 1 fits recorded with each step, alternating (default: %(default)s; 0: none)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per Part 1 fit (default: %(default)s)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import keras

    from deepreplay import numpy_step

    print(f"NumPy step against the compiled step ({keras.backend.backend()}): {args.setups} set-ups, "
          f"{args.records} records each, alternating")
    print(f"  start: {c.load()}", flush=True)
    tmp = tempfile.mkdtemp(prefix="deepreplay_numpy_step_")
    counter = iter(range(10**6))
    results, rows = {}, []
    for kind in args.models.split(","):
        r = compare(kind, args.setups, args.records, tmp, counter)
        results[kind] = r
        n, cpl = r["numpy"], r["compiled"]
        rows.append([kind, f"{r['cost']:,}", f"{cpl['setup_wall']:.1f} / {n['setup_wall']:.1f}",
                     f"{cpl['setup_cpu']:.1f} / {n['setup_cpu']:.1f}",
                     f"{cpl['record_wall']:.3f} / {n['record_wall']:.3f}",
                     f"{cpl['record_cpu']:.3f} / {n['record_cpu']:.3f}",
                     f"{cpl['record_cpu'] / n['record_cpu']:.2f}",
                     "NumPy" if r["cost"] <= numpy_step.MAX_COST else "compiled"])
        print(f"  {kind}: done", flush=True)
    print(c.table(rows, ["model", "n x MACs", "set-up wall ms (compiled / NumPy)", "set-up CPU ms",
                         "record wall ms", "record CPU ms", "record CPU compiled/NumPy", "used now"]))
    if args.fits:
        fits = part1_fits(args.fits, args.epochs, tmp, counter)
        results["part1_fits"] = fits
        n, cpl = fits["numpy"], fits["compiled"]
        print(f"\nPart 1 fits, {args.fits} with each step, {args.epochs} epochs, alternating (medians, ms):")
        print(c.table([[key, f"{cpl[key]:.2f}", f"{n[key]:.2f}"] for key in
                       ("begin_wall", "begin_cpu", "hooks", "writer", "own", "epoch")],
                      ["", "compiled step", "NumPy step"]))
        print("begin: on_train_begin (set-up and record 0); hooks: the callback's hook time per epoch once "
              "training runs; writer: its thread's CPU per record; own: hooks + writer CPU per epoch over the "
              "whole fit (set-up included); epoch: wall time per epoch of the fit")
    print(f"  end: {c.load()}")
    c.write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
