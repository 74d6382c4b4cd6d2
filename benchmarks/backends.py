"""Recording overhead on each Keras 3 backend: the Part 1 fit, bare and with ReplayData.

Usage::

    python benchmarks/backends.py                       # tensorflow, jax, torch; 20 epochs, 5 repetitions
    python benchmarks/backends.py --backends jax,torch --epochs 10 --repeats 3

Each backend runs in its own Python process (``KERAS_BACKEND`` is read once,
when Keras is imported).  In that process the canonical Part 1 network
(parabolas, 2-2-1 sigmoid, SGD 0.05, batch 16, seeded) is fitted once bare and
once with ``ReplayData`` as a warm-up (graph tracing / compilation), then
``--repeats`` times each, bare and recorded fits interleaved (alternating
which goes first), every fit from the same seed and the same initial weights.
The time of a fit is its wall time divided by its number of epochs; the
median over repetitions is reported.  ``--rounds`` > 1 repeats the whole
sweep over the backends that many times, so the backends interleave too, and
pools the repetitions.

Prints a table per backend: median seconds per epoch, bare and with
ReplayData; the recording overhead (recorded / bare); and each backend's speed
against TensorFlow (TensorFlow's time / this backend's time; above 1 is
faster).  ``--json FILE`` also writes the raw timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")


def _child(epochs: int, repeats: int) -> dict:
    """Runs inside one backend's process; returns its timings."""
    import keras

    from deepreplay.callbacks import ReplayData
    from deepreplay.datasets import parabola
    from deepreplay.demo import PART1_BATCH_SIZE, PART1_SEED, build_part1_model

    X, y = parabola.load_data()
    tmp = tempfile.mkdtemp(prefix="deepreplay_bench_")
    counter = iter(range(10**6))

    def fit(record: bool, n_epochs: int) -> float:
        keras.utils.set_random_seed(PART1_SEED)
        model = build_part1_model("sigmoid")
        callbacks = []
        if record:
            callbacks.append(ReplayData(X, y, os.path.join(tmp, f"run{next(counter)}.h5"), "sigmoid"))
        start = time.perf_counter()
        model.fit(X, y, epochs=n_epochs, batch_size=PART1_BATCH_SIZE, callbacks=callbacks, verbose=0)
        return (time.perf_counter() - start) / n_epochs

    fit(False, 2)  # warm-up: tracing / compilation, first-call costs
    fit(True, 2)
    bare, recorded = [], []
    for rep in range(repeats):
        order = (False, True) if rep % 2 == 0 else (True, False)
        for record in order:
            (recorded if record else bare).append(fit(record, epochs))
    return {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "steps_per_epoch": -(-len(X) // PART1_BATCH_SIZE),
        "bare": bare,
        "recorded": recorded,
    }


def _run_backend(backend: str, epochs: int, repeats: int) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--epochs", str(epochs),
           "--repeats", str(repeats)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the {backend} run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            if result["backend"] != backend:
                raise RuntimeError(f"asked for KERAS_BACKEND={backend}, the child ran {result['backend']}")
            return result
    raise RuntimeError(f"the {backend} run printed no result:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def _table(results: dict[str, dict]) -> str:
    rows = []
    tf_bare = statistics.median(results["tensorflow"]["bare"]) if "tensorflow" in results else None
    tf_rec = statistics.median(results["tensorflow"]["recorded"]) if "tensorflow" in results else None
    header = (f"{'backend':<11} {'bare s/epoch':>13} {'ReplayData s/epoch':>19} {'overhead x':>11} "
              f"{'bare vs TF':>11} {'recorded vs TF':>15}  (n)")
    rows.append(header)
    rows.append("-" * len(header))
    for backend, r in results.items():
        bare, rec = statistics.median(r["bare"]), statistics.median(r["recorded"])
        vs_tf = f"{tf_bare / bare:>10.2f}x" if tf_bare else f"{'-':>11}"
        rec_vs_tf = f"{tf_rec / rec:>14.2f}x" if tf_rec else f"{'-':>15}"
        rows.append(f"{backend:<11} {bare:>13.4f} {rec:>19.4f} {rec / bare:>10.2f}x {vs_tf} {rec_vs_tf}  "
                    f"({len(r['bare'])})")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated Keras backends (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per timed fit (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed fits of each kind per backend and round (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="sweeps over the backends, interleaved (default: %(default)s)")
    parser.add_argument("--json", help="also write the raw timings to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1 or args.rounds < 1:
        parser.error("--epochs, --repeats and --rounds must be 1 or more")

    if args.child:
        print(json.dumps(_child(args.epochs, args.repeats)), flush=True)
        return 0

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {BACKENDS}")
    print(f"Part 1 fit (2000 samples, batch 16, 125 steps/epoch), {args.epochs} epochs per fit, "
          f"{args.repeats} interleaved repetitions x {args.rounds} round(s); median seconds per epoch.",
          flush=True)
    results: dict[str, dict] = {}
    for round_ in range(args.rounds):
        for backend in backends:
            start = time.perf_counter()
            r = _run_backend(backend, args.epochs, args.repeats)
            print(f"  round {round_ + 1}, {backend}: bare {[round(v, 4) for v in r['bare']]}, "
                  f"ReplayData {[round(v, 4) for v in r['recorded']]} ({time.perf_counter() - start:.0f} s)",
                  flush=True)
            if backend in results:
                results[backend]["bare"] += r["bare"]
                results[backend]["recorded"] += r["recorded"]
            else:
                results[backend] = r
    print()
    print(_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
