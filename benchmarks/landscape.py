"""Loss-surface speed: a 51 x 51 PCA surface, against one ``model.evaluate`` per grid point.

For the Part 1 recording (2-2-1 network, 2,000 samples) and the BLOCK
recording (10 -> 5 x 100 -> 1, 1,000 samples), both 150 epochs, it times in
one process:

* ``deepreplay.landscape.loss_surface`` (51 x 51 = 2,601 weight vectors,
  batched and compiled by ``BatchedLoss``), with its one-off compilation
  included, and again warm (a second plane: new weights, same compiled code);
* reading the surface back from the recording's cache;
* the naive way: set the weights of each grid point on a compiled Keras
  model and call ``model.evaluate`` (after a warm-up call), on a few points,
  extrapolated to 2,601.  Two variants: ``batch_size=len(X)`` (one batch,
  the fastest naive call) and Keras' default ``batch_size`` (32).

Targets (issue 16): Part 1 <= 2 s, BLOCK <= 30 s on 2 cores, both >= 20x
faster than one ``evaluate`` per grid point (the one-batch variant, the
stricter comparison).

Run:  python benchmarks/landscape.py [--points 6] [--json out.json]
"""

from __future__ import annotations

import argparse
import time

import _common as c

RESOLUTION = 51
TARGET_SECONDS = {"part1": 2.0, "block": 30.0}
TARGET_RATIO = 20.0


def naive_seconds_per_point(replay, plane, n_points: int, batch_size: int | None) -> float:
    """Seconds of one ``model.set_weights`` + ``model.evaluate`` at a grid point (median of ``n_points``)."""
    import keras
    import numpy as np

    from deepreplay import landscape

    model = keras.models.clone_model(replay.model)
    model.compile(loss=landscape.recorded_loss_function(replay))
    variables = model.trainable_variables
    rng = np.random.default_rng(0)
    X, y = replay.inputs, replay.targets

    def at(theta):
        start = 0
        for var in variables:
            size = int(np.prod(var.shape))
            var.assign(theta[start:start + size].reshape(var.shape).astype("float32"))
            start += size
        return model.evaluate(X, y, batch_size=batch_size, verbose=0)

    at(plane.origin)  # warm-up: traces Keras' test step
    times = []
    for _ in range(n_points):
        theta = plane.point(*rng.uniform(-1, 1, size=2))
        start = time.perf_counter()
        at(theta)
        times.append(time.perf_counter() - start)
    return c.median(times)


def run(kind: str, n_points: int, log=print) -> dict:
    from deepreplay import landscape, storage
    from deepreplay.replay import Replay

    path = c.cached_recording(kind, log=log)
    with Replay(path, kind) as replay:
        plane = landscape.pca_plane(replay)
        other = landscape.random_plane(replay, seed=1)
        start = time.perf_counter()
        evaluator = landscape.LossEvaluator(replay)
        surface = landscape.loss_surface(replay, plane, resolution=RESOLUTION, evaluator=evaluator, cache=False)
        cold = time.perf_counter() - start
        warm, _ = c.timed(lambda: landscape.loss_surface(replay, other, resolution=RESOLUTION, span=1.0,
                                                         evaluator=evaluator, cache=False))
        storage.write_derived(path, kind, landscape.SURFACE_CACHE, "benchmark", {"losses": surface.losses})
        cached, _ = c.timed(lambda: storage.read_derived(path, kind, landscape.SURFACE_CACHE, "benchmark"))
        one_batch = naive_seconds_per_point(replay, plane, n_points, len(replay.inputs))
        default_batch = naive_seconds_per_point(replay, plane, max(2, n_points // 2), None)
        n_grid = RESOLUTION * RESOLUTION
        result = {
            "kind": kind, "samples": len(replay.inputs), "weights": evaluator.n_parameters,
            "compiled": evaluator.compiled, "chunk_size": evaluator._batched.chunk_size,
            "surface_s": cold, "surface_warm_s": warm, "cached_read_s": cached,
            "evaluate_per_point_s": one_batch, "evaluate_default_batch_per_point_s": default_batch,
            "evaluate_extrapolated_s": one_batch * n_grid,
            "evaluate_default_batch_extrapolated_s": default_batch * n_grid,
        }
        result["ratio"] = result["evaluate_extrapolated_s"] / cold
        result["ratio_default_batch"] = result["evaluate_default_batch_extrapolated_s"] / cold
        result["origin_error"] = abs(surface.at_origin() - float(replay.training_loss[-1]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=6, help="grid points timed with model.evaluate (default 6)")
    parser.add_argument("--only", choices=("part1", "block"), default=None)
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args()
    print("start:", c.load(), flush=True)
    results = [run(kind, args.points) for kind in ("part1", "block") if args.only in (None, kind)]
    rows = []
    for r in results:
        met_time = r["surface_s"] <= TARGET_SECONDS[r["kind"]]
        met_ratio = r["ratio"] >= TARGET_RATIO
        rows.append([r["kind"], f"{r['samples']} / {r['weights']}", f"{r['surface_s']:.2f} s",
                     f"{r['surface_warm_s']:.2f} s", f"{1000 * r['cached_read_s']:.1f} ms",
                     f"{1000 * r['evaluate_per_point_s']:.1f} ms -> {r['evaluate_extrapolated_s']:.0f} s",
                     f"{r['ratio']:.0f}x ({r['ratio_default_batch']:.0f}x vs batch 32)",
                     f"<= {TARGET_SECONDS[r['kind']]:.0f} s: {'met' if met_time else 'MISSED'}; "
                     f">= {TARGET_RATIO:.0f}x: {'met' if met_ratio else 'MISSED'}",
                     f"{r['origin_error']:.1e}"])
    print(c.table(rows, ["run", "samples / weights", "51x51 surface (incl. compile)", "warm", "cached read",
                         "evaluate per point -> 2,601 points", "speed-up", "targets", "|surface(0,0) - recorded|"]))
    print("end:", c.load())
    c.write_json(args.json, {"results": results})


if __name__ == "__main__":
    main()
