"""1. Recording overhead: the canonical Part 1 fit bare, with ReplayData, with TensorBoard histograms.

Usage::

    python benchmarks/recording_overhead.py                  # 50 epochs per fit, 4 repetitions, 8 pairs (~4 min)
    python benchmarks/recording_overhead.py --epochs 30 --repeats 7 --pairs 12 --json out.json

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
recorded; the medians and their ratios to the bare fit are printed:

* **own time** (the target's figure): each callback's hooks are timed by the
  same wrapper (``_common.HookTimer``: the wall time of every hook the
  callback overrides, batch hooks included, less the time a hook waits for
  ReplayData's writer thread), plus the CPU time that writer thread takes
  (``time.thread_time``), so each write is counted once; the
  ratio is ``1 + own seconds per epoch / bare seconds per epoch``, over
  whole fits (set-up and record 0 included) and per epoch once training runs;
* **wall time** and **process CPU** of whole fits: on a shared machine they
  move by more than the overhead itself;
* **paired wall time** (what a user waits for): ``--pairs`` more pairs of
  fits, a bare fit and a ReplayData fit back to back (the order alternating
  from pair to pair), each pair's wall-time ratio ReplayData / bare, their
  median and a bootstrap 90% interval of that median (2,000 resamples of
  the pairs, seeded).  Pairing cancels most of the slow drift of a shared
  machine's load; what is left shows in the interval's width.

Targets: issue 7, ReplayData / bare <= 1.10 and below TensorBoard; issue 12,
below 1.05 (own time).
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
    parser.add_argument("--pairs", type=int, default=8,
                        help="paired bare/ReplayData fits for the wall-time ratio (default: %(default)s; 0: none)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import keras

    from deepreplay.callbacks import ReplayData

    CONTROL = "control: pause at epoch end"

    print(f"Recording overhead, Part 1 fit: {args.epochs} epochs per fit, {args.repeats} interleaved repetitions")
    print(f"  start: {c.load()}", flush=True)
    X, y = c.part1_data()
    tmp = tempfile.mkdtemp(prefix="deepreplay_overhead_")
    counter = iter(range(10**6))
    pause = {"seconds": 0.005}

    class Pause(keras.callbacks.Callback):
        """The control: does nothing but pause at each epoch end."""

        def on_epoch_end(self, epoch, logs=None):
            time.sleep(pause["seconds"])

    def fit(kind: str, epochs: int) -> dict:
        keras.utils.set_random_seed(42)
        model = c.part1_model()
        if kind == CONTROL:
            callbacks, timer = [Pause()], None
        else:
            n = next(counter)
            callbacks, timer = c.timed_callbacks(
                kind, lambda: ReplayData(X, y, os.path.join(tmp, f"run{n}.h5"), "sigmoid"),
                os.path.join(tmp, f"tb{n}"))
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(X, y, epochs=epochs, batch_size=16, callbacks=callbacks, verbose=0)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        return {"wall": wall / epochs, "cpu": cpu / epochs, "own": timer.total / epochs if timer else 0.0,
                "steady": timer.steady_epoch(epochs) if timer else 0.0,
                "waited": timer.waited / epochs if timer else 0.0,
                "hooks": timer.steady_parts(epochs)[0] if timer else 0.0,
                "writer": timer.steady_parts(epochs)[1] if timer else 0.0}

    kinds = ["bare", "replaydata", "tensorboard", CONTROL]
    try:
        import tensorboard  # noqa: F401  (keras.callbacks.TensorBoard needs the package)
    except ImportError:
        print("  tensorboard is not installed (pip install tensorboard): comparing with the bare fit only")
        kinds.remove("tensorboard")
    for kind in kinds:  # warm-up
        fit(kind, 2)
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for rep in range(args.repeats):
        order = kinds[rep % len(kinds):] + kinds[:rep % len(kinds)]
        for kind in order:
            runs[kind].append(fit(kind, args.epochs))
        pause["seconds"] = c.median([r["steady"] for r in runs["replaydata"]])
        print(f"  repetition {rep + 1}: " + ", ".join(f"{k} {runs[k][-1]['wall']:.4f} s/epoch" for k in kinds),
              flush=True)

    pairs = []  # (bare wall, ReplayData wall) of each pair, seconds per epoch
    for i in range(args.pairs):
        order = ("bare", "replaydata") if i % 2 == 0 else ("replaydata", "bare")
        walls = {kind: fit(kind, args.epochs)["wall"] for kind in order}
        pairs.append((walls["bare"], walls["replaydata"]))
        print(f"  pair {i + 1} ({order[0]} first): ReplayData / bare wall time "
              f"{walls['replaydata'] / walls['bare']:.3f}", flush=True)

    def med(kind, key):
        return c.median([r[key] for r in runs[kind]])

    bare = med("bare", "wall")
    has_tb = "tensorboard" in kinds
    result = {
        "epochs": args.epochs, "repeats": args.repeats, "load_end": os.getloadavg(), "runs": runs,
        "seconds_per_epoch": {k: med(k, "wall") for k in kinds},
        "ratio_replaydata": med("replaydata", "wall") / bare,
        "ratio_tensorboard": med("tensorboard", "wall") / bare if has_tb else None,
        "cpu_ratio": {k: med(k, "cpu") / med("bare", "cpu") for k in kinds},
        "own_time_ratio": 1 + med("replaydata", "own") / bare,
        "own_time_ratio_tensorboard": 1 + med("tensorboard", "own") / bare if has_tb else None,
        "steady_ratio": 1 + med("replaydata", "steady") / bare,
        "steady_ratio_tensorboard": 1 + med("tensorboard", "steady") / bare if has_tb else None,
        "record_ms": 1000 * med("replaydata", "steady"),
        "ratio_control": med(CONTROL, "wall") / bare,
        "control_pause_ms": 1000 * pause["seconds"],
        "waited_ms": 1000 * med("replaydata", "waited"),
        "hooks_ms": 1000 * med("replaydata", "hooks"),
        "writer_ms": 1000 * med("replaydata", "writer"),
        "pairs": pairs,
    }
    if pairs:
        ratios = [r / b for b, r in pairs]
        low, high = bootstrap_median_interval(ratios)
        result["paired_wall_ratio"] = c.median(ratios)
        result["paired_wall_ratio_90"] = (low, high)
    print()
    f = lambda v: f"{v:.3f}" if v is not None else "-"  # noqa: E731
    own = {"replaydata": (result["own_time_ratio"], result["steady_ratio"]),
           "tensorboard": (result["own_time_ratio_tensorboard"], result["steady_ratio_tensorboard"])}
    rows = [[k, f"{result['seconds_per_epoch'][k]:.4f}", f"{result['seconds_per_epoch'][k] / bare:.3f}",
             f"{result['cpu_ratio'][k]:.3f}", f(own.get(k, (None,))[0]), f(own.get(k, (None, None))[1])]
            for k in kinds]
    print(c.table(rows, ["fit", "median s/epoch", "wall time / bare", "process CPU / bare",
                         "own time: fit / bare", "own time: per epoch / bare"]))
    print("own time = 1 + the callback's hook time (+ ReplayData's writer-thread CPU) per epoch / the bare fit's "
          "seconds per epoch: 'fit' over whole fits (set-up and record 0 included), 'per epoch' once training runs.")
    print(f"\nReplayData's own time per epoch once training runs: {result['record_ms']:.1f} ms (hooks + writer CPU), "
          f"{result['record_ms'] / 1000 / bare:.1%} of a bare epoch: its hooks {result['hooks_ms']:.2f} ms, its "
          f"writer thread's CPU {result['writer_ms']:.2f} ms per record (medians of the fits)")
    print(f"(hooks waiting for the writer: {result['waited_ms']:.2f} ms per epoch, counted as the writer's CPU "
          "instead)")
    if pairs:
        low, high = result["paired_wall_ratio_90"]
        print(f"Paired wall time, ReplayData / bare ({len(pairs)} pairs of {args.epochs}-epoch fits back to back, "
              f"order alternating): median {result['paired_wall_ratio']:.3f}, 90% bootstrap interval "
              f"{low:.3f} to {high:.3f}; own time per epoch / bare {result['steady_ratio']:.3f}, "
              f"per fit {result['own_time_ratio']:.3f}")
    print(f"Control: pausing {result['control_pause_ms']:.1f} ms at each epoch end costs "
          f"{result['ratio_control']:.3f} x bare (wall time)")
    tb = result["own_time_ratio_tensorboard"]
    ok = result["own_time_ratio"] < 1.05 and (tb is None or result["own_time_ratio"] < tb)
    print(f"target own time < 1.05 x bare and below TensorBoard's: {'met' if ok else 'MISSED'} "
          f"({result['own_time_ratio']:.3f}" + (f" vs TensorBoard {tb:.3f})" if tb else ")")
          + f"; wall time {result['ratio_replaydata']:.3f}" + (f" vs {result['ratio_tensorboard']:.3f}" if tb else ""))
    print(f"  end: {c.load()}")
    c.write_json(args.json, result)
    return result


def bootstrap_median_interval(values: list[float], *, level: float = 0.90, resamples: int = 2000,
                              seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of the median of ``values`` (resampled with replacement, seeded)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(values, size=(resamples, len(values)), replace=True), axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(medians, tail)), float(np.quantile(medians, 1 - tail))


if __name__ == "__main__":
    main()
