"""1. Recording overhead: the canonical Part 1 fit bare, with ReplayData, with TensorBoard histograms.

Usage::

    python benchmarks/recording_overhead.py                  # 50 epochs per fit, 4 repetitions (~3 min)
    python benchmarks/recording_overhead.py --epochs 30 --repeats 7 --json out.json

The canonical Part 1 run (parabolas, 2,000 samples, 2-2-1 sigmoid network,
SGD 0.05, batch 16: 125 steps per epoch) is fitted, from the same seed and
initial weights, in three ways:

* bare: no callback;
* ReplayData at its default settings (records everything of this small
  model, every epoch);
* ``keras.callbacks.TensorBoard(histogram_freq=1)`` (weight histograms every
  epoch, its usual "log everything" setting);
* a control: a callback that only pauses (``time.sleep``) at each epoch end
  for as long as ReplayData's own recording step took in the previous
  repetition (5 ms before the first).  On TensorFlow a pause at epoch end
  costs the fit several times its own length; the control shows how much of
  ReplayData's ratio is that cost rather than its work.

After a warm-up fit of each kind (graph tracing), the kinds are fitted
``--repeats`` times, interleaved (the order rotates each repetition), so
machine noise hits all of them alike.  Each fit's seconds per epoch are
recorded; the medians and their ratios to the bare fit are printed, with the
time ReplayData spends in its own recording step.

Targets (issue 7): ReplayData / bare <= 1.10, and below TensorBoard / bare.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import _common as c


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=50, help="epochs per timed fit (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=4, help="timed fits of each kind (default: %(default)s)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import keras

    from deepreplay.callbacks import ReplayData

    print(f"Recording overhead, Part 1 fit: {args.epochs} epochs per fit, {args.repeats} interleaved repetitions")
    print(f"  start: {c.load()}", flush=True)
    X, y = c.part1_data()
    tmp = tempfile.mkdtemp(prefix="deepreplay_overhead_")
    counter = iter(range(10**6))
    record_seconds: list[float] = []
    original_record = ReplayData._record

    def timed_record(self, *a, **k):
        start = time.perf_counter()
        try:
            return original_record(self, *a, **k)
        finally:
            record_seconds.append(time.perf_counter() - start)

    ReplayData._record = timed_record

    pause = {"seconds": 0.005}

    class Pause(keras.callbacks.Callback):
        """The control: does nothing but pause at each epoch end."""

        def on_epoch_end(self, epoch, logs=None):
            time.sleep(pause["seconds"])

    def fit(kind: str, epochs: int) -> float:
        keras.utils.set_random_seed(42)
        model = c.part1_model()
        callbacks = []
        if kind == "control: pause at epoch end":
            callbacks.append(Pause())
        elif kind == "replaydata":
            callbacks.append(ReplayData(X, y, os.path.join(tmp, f"run{next(counter)}.h5"), "sigmoid"))
        elif kind == "tensorboard":
            callbacks.append(keras.callbacks.TensorBoard(log_dir=os.path.join(tmp, f"tb{next(counter)}"),
                                                         histogram_freq=1))
        start = time.perf_counter()
        model.fit(X, y, epochs=epochs, batch_size=16, callbacks=callbacks, verbose=0)
        return (time.perf_counter() - start) / epochs

    kinds = ["bare", "replaydata", "tensorboard", "control: pause at epoch end"]
    try:
        import tensorboard  # noqa: F401  (keras.callbacks.TensorBoard needs the package)
    except ImportError:
        print("  tensorboard is not installed (pip install tensorboard): comparing with the bare fit only")
        kinds.remove("tensorboard")
    for kind in kinds:  # warm-up
        fit(kind, 2)
    record_seconds.clear()
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for rep in range(args.repeats):
        order = kinds[rep % len(kinds):] + kinds[:rep % len(kinds)]
        for kind in order:
            times[kind].append(fit(kind, args.epochs))
        if record_seconds:
            pause["seconds"] = c.median(record_seconds)
        print(f"  repetition {rep + 1}: " + ", ".join(f"{k} {times[k][-1]:.4f} s/epoch" for k in kinds), flush=True)
    ReplayData._record = original_record

    bare = c.median(times["bare"])
    result = {
        "epochs": args.epochs, "repeats": args.repeats, "load_end": os.getloadavg(),
        "seconds_per_epoch": {k: c.median(v) for k, v in times.items()},
        "all": times,
        "ratio_replaydata": c.median(times["replaydata"]) / bare,
        "ratio_tensorboard": c.median(times["tensorboard"]) / bare if "tensorboard" in times else None,
        "record_ms": 1000 * c.median(record_seconds),
        "ratio_control": c.median(times["control: pause at epoch end"]) / bare,
        "control_pause_ms": 1000 * pause["seconds"],
    }
    print()
    rows = [[k, f"{result['seconds_per_epoch'][k]:.4f}", f"{result['seconds_per_epoch'][k] / bare:.3f}"]
            for k in kinds]
    print(c.table(rows, ["fit", "median s/epoch", "ratio to bare"]))
    print(f"\nReplayData's own recording step: {result['record_ms']:.1f} ms per epoch (median), "
          f"{result['record_ms'] / 1000 / bare:.1%} of a bare epoch")
    print(f"Control: pausing {result['control_pause_ms']:.1f} ms at each epoch end costs "
          f"{result['ratio_control']:.3f} x bare")
    tb = result["ratio_tensorboard"]
    ok = result["ratio_replaydata"] <= 1.10 and (tb is None or result["ratio_replaydata"] < tb)
    print(f"target ReplayData <= 1.10 x bare and below TensorBoard: {'met' if ok else 'MISSED'} "
          f"({result['ratio_replaydata']:.3f}" + (f" vs TensorBoard {tb:.3f})" if tb else ")"))
    print(f"  end: {c.load()}")
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
