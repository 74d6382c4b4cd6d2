"""3. Replay: building the five Part 1 visuals over a 150-epoch recording.

Usage::

    python benchmarks/replay_speed.py              # uses (or records once) the cached Part 1 recording
    python benchmarks/replay_speed.py --fresh --repeats 5 --json out.json

The canonical Part 1 run (150 epochs, default ReplayData settings) is
replayed: the feature space of the hidden layer, the decision boundary, the
probability histograms, loss and accuracy, and the loss histogram are built
from a fresh ``Replay`` (median of ``--repeats`` builds), as they are now and
with the two fast paths turned off (every record read on its own; grids
through Keras layer calls): that is what building cost before.

Then the choice behind the fast path for grid predictions, per epoch on the
feature space's 200 x 200 grid (40,000 points through the output layer) and
on the 2-D input grid through the whole model:

* ``model.predict(grid)`` with its default batch size (32): 1,250 batches;
* ``model.predict(grid, batch_size=len(grid))``: one compiled batch;
* a direct call ``model(grid)`` on one large batch;
* one compiled Keras call on the whole grid (``tf.function`` on TensorFlow,
  ``jax.jit`` of ``stateless_call`` on JAX; batch = the grid);
* a float32 NumPy forward pass for Dense stacks (what deepreplay uses).

The same comparison (NumPy twin against the compiled call, and the direct
call) runs on two BLOCK grids (10 inputs, five hidden layers of 100 units):
the decision boundary on a 200 x 200 plane of the inputs through the whole
model, and the feature-space regions of the first hidden layer (100 values per
point) through the rest.  Issue 14's rule: if the compiled call is within 2x
of the NumPy twin on these grids, the twin goes; otherwise it stays (see the
docstring of ``deepreplay/replay.py``).

and reading the weights: one read per record against one read of each
variable's whole history.

Target (issue 7): the five visuals in <= 5 s in total.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import _common as c


def build_five(path):
    import matplotlib.pyplot as plt

    from deepreplay.replay import Replay

    timings = {}
    with Replay(path, "part1") as replay:
        fig, axs = plt.subplots(2, 3, figsize=(13, 8))
        axs = axs.ravel()
        for name, build in (
            ("feature space", lambda: replay.build_feature_space(axs[0], "hidden")),
            ("decision boundary", lambda: replay.build_decision_boundary(axs[1])),
            ("probability histograms", lambda: replay.build_probability_histogram(axs[2], axs[3])),
            ("loss and metric", lambda: replay.build_loss_and_metric(axs[4], "accuracy")),
            ("loss histogram", lambda: replay.build_loss_histogram(axs[5])),
        ):
            timings[name], _ = c.timed(build)
        plt.close(fig)
    return timings


def slow_paths():
    """Turn the two fast paths off (as before): per-record reads, grids through Keras layer calls."""
    from deepreplay import replay as replay_module

    saved = (replay_module.Replay.HISTORY_DATASET_LIMIT, replay_module.numpy_forward)
    replay_module.Replay.HISTORY_DATASET_LIMIT = 0
    replay_module.numpy_forward = lambda layers: None
    return saved


def restore(saved):
    from deepreplay import replay as replay_module

    replay_module.Replay.HISTORY_DATASET_LIMIT, replay_module.numpy_forward = saved


def compiled_call(layers):
    """``f(X)``: ``layers`` applied in order with ``training=False``, compiled once for the backend.

    TensorFlow: one ``tf.function`` (traced once per grid shape); JAX: ``jax.jit``
    of each layer's ``stateless_call`` with the variables' current values passed
    in; other backends: the eager call.
    """
    import keras

    from deepreplay import compute

    layers = [layer for layer in layers if not isinstance(layer, keras.layers.InputLayer)]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def call(x):
            for layer in layers:
                x = layer(x, training=False)
            return x

        return lambda X: call(tf.convert_to_tensor(np.asarray(X, dtype=np.float32))).numpy()
    if backend == "jax":
        import jax

        def stateless(values, x):
            for layer, (trainable, non_trainable) in zip(layers, values):
                x, _ = layer.stateless_call(trainable, non_trainable, x, training=False)
            return x

        jitted = jax.jit(stateless)

        def run(X):
            values = [([v.value for v in layer.trainable_variables], [v.value for v in layer.non_trainable_variables])
                      for layer in layers]
            return np.asarray(jitted(values, np.asarray(X, dtype=np.float32)))

        return run

    def eager(X):
        out = np.asarray(X, dtype=np.float32)
        for layer in layers:
            out = layer(out, training=False)
        return compute.to_numpy(out)

    return eager


def block_grids(repeats: int = 5) -> dict:
    """NumPy twin, compiled call and direct call on the two BLOCK grids (ms per grid, medians)."""
    import keras

    from deepreplay import compute
    from deepreplay.plot.common import region_grid
    from deepreplay.numpy_forward import numpy_forward

    model = c.block_model()
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(c.BLOCK_INPUTS, 2)))[0].T.astype(np.float32)  # a 2-D plane of the inputs
    plane = region_grid((-2.0, 2.0), (-2.0, 2.0), 200) @ basis
    hidden = compute.to_numpy(layers[0](plane, training=False))  # the first hidden layer's values on that plane
    results = {}
    for name, chain, grid in (("BLOCK decision boundary (whole model)", layers, plane),
                              ("BLOCK feature-space regions (after h1)", layers[1:], hidden)):
        methods = {
            "direct call on one batch": lambda X, chain=chain: compute.to_numpy(keras.Sequential(chain)(X)),
            "compiled call, one batch": compiled_call(chain),
            "float32 NumPy forward (deepreplay)": numpy_forward(chain),
        }
        reference = methods["compiled call, one batch"](grid)
        np.testing.assert_allclose(methods["float32 NumPy forward (deepreplay)"](grid), reference, atol=1e-4)
        seconds = {m: [] for m in methods}
        for m, run in methods.items():
            run(grid)  # warm-up / tracing
        for _ in range(repeats):  # interleaved, so that a change of load hits every method alike
            for m, run in methods.items():
                seconds[m].append(c.timed(lambda: run(grid))[0])
        results[name] = {m: c.median(s) for m, s in seconds.items()}
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="builds of the five visuals (default: %(default)s)")
    parser.add_argument("--grid-epochs", type=int, default=3,
                        help="epochs timed per grid method (model.predict is slow) (default: %(default)s)")
    parser.add_argument("--fresh", action="store_true", help="record the Part 1 run again")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import keras

    from deepreplay import compute
    from deepreplay.numpy_forward import numpy_forward
    from deepreplay.replay import Replay
    from deepreplay.plot.common import region_grid

    print("Replay speed: the five Part 1 visuals over a 150-epoch recording")
    print(f"  start: {c.load()}", flush=True)
    path = c.cached_recording("part1", fresh=args.fresh)
    build_five(path)  # warm-up: imports, first Keras calls

    fast = [build_five(path) for _ in range(args.repeats)]
    saved = slow_paths()
    try:
        slow = [build_five(path) for _ in range(max(1, args.repeats // 2))]
    finally:
        restore(saved)
    names = list(fast[0])
    fast_med = {n: c.median([t[n] for t in fast]) for n in names}
    slow_med = {n: c.median([t[n] for t in slow]) for n in names}
    total_fast = c.median([sum(t.values()) for t in fast])
    total_slow = c.median([sum(t.values()) for t in slow])
    rows = [[n, f"{fast_med[n]:.2f}", f"{slow_med[n]:.2f}"] for n in names]
    rows.append(["**total**", f"**{total_fast:.2f}**", f"{total_slow:.2f}"])
    print()
    print(c.table(rows, ["visual (150 epochs)", "s now", "s, fast paths off"]))

    # -- grid predictions ----------------------------------------------------------------------------
    grid_results = {}
    with Replay(path, "part1") as replay:
        epochs = [int(e) for e in np.linspace(0, replay.epochs[-1], args.grid_epochs).round()]
        region = region_grid((-0.1, 1.1), (-0.1, 1.1), 200)  # a feature-space region grid
        inputs = region_grid((-1.2, 1.2), (-0.8, 1.3), 200)  # a decision-boundary input grid
        model = replay.model
        output_layer = model.get_layer("output")
        tail = keras.Sequential([keras.Input((2,)), output_layer])
        methods = {
            "model.predict, batch 32 (default)": lambda m, g: m.predict(g, verbose=0),
            "model.predict, one batch": lambda m, g: m.predict(g, batch_size=len(g), verbose=0),
            "direct call on one batch": lambda m, g: compute.to_numpy(m(g, training=False)),
        }
        for grid_name, net, numpy_net, grid in (
            ("feature-space regions (output layer)", tail, numpy_forward([output_layer]), region),
            ("decision boundary (whole model)", model, numpy_forward(replay._chain()), inputs),
        ):
            per = {}
            net_methods = dict(methods)
            compiled = compiled_call([output_layer] if net is tail else replay._chain())
            net_methods["compiled call, one batch"] = lambda m, g, compiled=compiled: compiled(g)
            for method, run in net_methods.items():
                run(net, grid)  # warm-up / tracing
                seconds = []
                for epoch in epochs:
                    replay.model_at(epoch)
                    seconds.append(c.timed(lambda: run(net, grid))[0])
                per[method] = c.median(seconds)
            seconds = []
            reference = None
            for epoch in epochs:
                replay.model_at(epoch)
                t, got = c.timed(lambda: numpy_net(grid))
                seconds.append(t)
                reference = compute.to_numpy(net(grid, training=False))
                np.testing.assert_allclose(got, reference, atol=1e-5)
            per["float32 NumPy forward (deepreplay)"] = c.median(seconds)
            grid_results[grid_name] = per
        n_records = len(replay.epochs)
        reader = replay.reader
        per_record, _ = c.timed(lambda: [reader.weights(r) for r in range(n_records)])
        whole, _ = c.timed(lambda: reader.history("weights"))
    print(f"\nGrid predictions, ms per epoch (median of {len(epochs)} epochs; 40,000 points):")
    methods_all = list(next(iter(grid_results.values())))
    rows = [[m] + [f"{grid_results[g][m] * 1000:.1f}" for g in grid_results] for m in methods_all]
    print(c.table(rows, ["method"] + list(grid_results)))
    block = block_grids()
    grid_results.update(block)
    rows = [[m] + [f"{block[g][m] * 1000:.1f}" for g in block] for m in next(iter(block.values()))]
    print("\nBLOCK grids, ms per grid (median of 5, interleaved; 40,000 points):")
    print(c.table(rows, ["method"] + list(block)))
    ratios = {g: per["compiled call, one batch"] / per["float32 NumPy forward (deepreplay)"]
              for g, per in grid_results.items()}
    print("\ncompiled call / NumPy twin: " + "; ".join(f"{g} {r:.2f}" for g, r in ratios.items()))
    keep = any(r > 2.0 for r in ratios.values())
    print("decision (issue 14: delete the twin if the compiled call is within 2x everywhere): "
          + ("KEEP the NumPy twin" if keep else "the compiled call could replace the twin"))
    print(f"\nReading the weights of {n_records} records: one read per record {per_record * 1000:.0f} ms, "
          f"whole histories at once {whole * 1000:.0f} ms")

    result = {"total_seconds": total_fast, "total_seconds_fast_paths_off": total_slow, "per_visual": fast_med,
              "per_visual_fast_paths_off": slow_med, "grid_seconds_per_epoch": grid_results,
              "compiled_over_numpy": ratios, "keep_numpy_twin": keep,
              "weights_per_record_seconds": per_record, "weights_whole_history_seconds": whole,
              "load_end": os.getloadavg()}
    print(f"\ntarget five visuals <= 5 s: {'met' if total_fast <= 5 else 'MISSED'} ({total_fast:.2f} s; "
          f"{total_slow:.2f} s with the fast paths off)")
    print(f"  end: {c.load()}")
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
