"""Part 3 of "Hyper-parameters in Action!": optimizers.

Trains the Part 1 network (2-2-1, sigmoid hidden layer, binary cross-entropy,
batch 16) on the two parabolas with SGD (two learning rates), SGD with
momentum, RMSprop and Adam, all from the same initial weights, each recorded
with ``ReplayData`` into ONE file.  Then it draws:

* their paths over one shared loss surface (the PCA plane of every path
  around the final weights of SGD; ``Replay.build_loss_landscape(others=...)``);
* the loss along the straight line from the initial to the final weights, per optimizer;
* their feature spaces side by side at one epoch;
* their loss and accuracy curves overlaid (``deepreplay.plot.compare_loss_and_metric``);
* an animation of the shared surface and the curves, stepping together by epoch.

With ``--seeds`` it repeats the five runs for every seed (initial weights and
batch order; the pictures show the first seed) and prints the findings table
of ``examples/part3_findings.md``:
how many epochs each optimizer needs to bring the loss on the data below a
threshold, and its loss at a few epochs.

Run:  python examples/part3_optimizers.py [--output out/part3] [--epochs 150] [--seeds 42 1 2 3]
"""

from __future__ import annotations

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from deepreplay.plot import compare_loss_and_metric, compose_animations, compose_plots  # noqa: E402
from deepreplay.replay import Replay  # noqa: E402
from deepreplay.storage import list_groups  # noqa: E402

#: The runs: group name -> (optimizer class name, keyword arguments).
OPTIMIZERS = {
    "SGD lr=0.05": ("SGD", {"learning_rate": 0.05}),
    "SGD lr=0.5": ("SGD", {"learning_rate": 0.5}),
    "Momentum lr=0.05": ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    "RMSprop lr=0.001": ("RMSprop", {"learning_rate": 0.001}),
    "Adam lr=0.001": ("Adam", {"learning_rate": 0.001}),
}
#: Loss (binary cross-entropy on the 2,000 samples) below which a run counts as converged.
THRESHOLD = 0.1
SEED = 42


def record_run(filename: str, group: str, optimizer: str, options: dict, *, epochs: int, seed: int,
               overwrite: bool = False) -> None:
    """Train the Part 1 network with ``optimizer`` and record it as ``group``."""
    import keras

    from deepreplay.callbacks import ReplayData
    from deepreplay.datasets import parabola
    from deepreplay.demo import PART1_BATCH_SIZE, build_part1_model

    keras.utils.set_random_seed(seed)
    X, y = parabola.load_data()
    model = build_part1_model("sigmoid", seed=seed)
    model.compile(optimizer=getattr(keras.optimizers, optimizer)(**options), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(X, y, epochs=epochs, batch_size=PART1_BATCH_SIZE, verbose=0,
              callbacks=[ReplayData(X, y, filename, group, overwrite=overwrite)])


def _complete(filename: str, group: str, epochs: int) -> bool:
    from deepreplay.storage import RecordingReader

    try:
        with RecordingReader(filename, group) as reader:
            return reader.complete and int(reader.epochs[-1]) == epochs
    except Exception:
        return False


def record_all(filename: str, *, epochs: int, seed: int, suffix: str = "", resume: bool = False,
               log=print) -> list[str]:
    existing = list_groups(filename) if os.path.exists(filename) else []
    groups = []
    for name, (optimizer, options) in OPTIMIZERS.items():
        group = name + suffix
        if resume and group in existing and _complete(filename, group, epochs):
            log(f"  {group}: recorded already")
            groups.append(group)
            continue
        start = time.perf_counter()
        record_run(filename, group, optimizer, options, epochs=epochs, seed=seed, overwrite=group in existing)
        log(f"  {group}: {time.perf_counter() - start:.0f} s")
        groups.append(group)
    return groups


def epochs_to(loss: np.ndarray, epochs: np.ndarray, threshold: float) -> int | None:
    below = np.flatnonzero(loss <= threshold)
    return int(epochs[below[0]]) if below.size else None


def findings(filename: str, seeds: list[int], epochs: int) -> str:
    """The table of part3_findings.md: per optimizer, over the seeds."""
    at = [e for e in (10, 30, epochs) if e <= epochs]
    lines = [f"| optimizer | epochs to loss <= {THRESHOLD} (per seed) | median | first in | "
             + " | ".join(f"loss at epoch {e} (median [min..max])" for e in at) + " |",
             "|---|---|---|---|" + "---|" * len(at)]
    firsts = {name: 0 for name in OPTIMIZERS}
    per_seed = {}
    for seed in seeds:
        reached = {}
        for name in OPTIMIZERS:
            with Replay(filename, f"{name} seed {seed}") as replay:
                reached[name] = epochs_to(replay.training_loss, replay.epochs, THRESHOLD)
                per_seed[(name, seed)] = (reached[name], {e: float(replay.training_loss[replay.record_index(e)])
                                                          for e in at})
        done = {n: r for n, r in reached.items() if r is not None}
        if done:
            best = min(done.values())
            for n, r in done.items():
                firsts[n] += r == best
    for name in OPTIMIZERS:
        reached = [per_seed[(name, s)][0] for s in seeds]
        shown = ", ".join("-" if r is None else str(r) for r in reached)
        finite = [r for r in reached if r is not None]
        median = f"{np.median(finite):.0f}" if len(finite) == len(reached) else \
            (f"> {epochs} in {len(reached) - len(finite)} of {len(reached)}" if finite or reached else "-")
        cells = []
        for e in at:
            values = np.array([per_seed[(name, s)][1][e] for s in seeds])
            cells.append(f"{np.median(values):.3f} [{values.min():.3f}..{values.max():.3f}]")
        lines.append(f"| {name} | {shown} | {median} | {firsts[name]} of {len(seeds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def draw(filename: str, groups: list[str], output: str, *, epoch: int, formats: str, log=print) -> None:
    replays = [Replay(filename, g) for g in groups]
    main = [r for r in replays if not r.group_name.startswith("SGD lr=0.5")]  # the four optimizers
    try:
        # 1. The four optimizers' paths over one shared surface, and the curves overlaid.
        fig, axs = plt.subplots(1, 2, figsize=(15, 6), layout="constrained", width_ratios=(1.25, 1))
        start = time.perf_counter()
        landscape_visual = main[0].build_loss_landscape(axs[0], others=main[1:], resolution=51,
                                                        title="Four optimizers over one loss surface")
        log(f"  shared surface: {time.perf_counter() - start:.1f} s"
            f"{' (from the cache)' if landscape_visual.data.surface.from_cache else ''}")
        ratio = landscape_visual.data.surface.plane.explained_variance_ratio
        log(f"  shared PCA plane: {100 * ratio[0]:.1f}% + {100 * ratio[1]:.1f}% of the paths' variance")
        for p in landscape_visual.data.paths:
            error = np.abs(p.projection_error)
            log(f"    {p.name}: |recorded - surface at projection| median {np.median(error):.3g}, "
                f"max {error.max():.3g}; final epoch: recorded {p.recorded_loss[-1]:.4f}, "
                f"surface {p.surface_loss[-1]:.4f}, off-plane {p.distance[-1]:.3g}")
        curves = compare_loss_and_metric(axs[1], main, "accuracy", title="Loss (solid) and accuracy (dashed)")
        visuals = [landscape_visual, curves]
        path = os.path.join(output, f"part3_landscape_epoch{epoch:03d}.png")
        compose_plots(visuals, epoch, title="Part 3 - optimizers").savefig(path, dpi=80)
        log("  wrote", path)
        anim = compose_animations(visuals, title="Part 3 - optimizers")
        for ext in formats.split(","):
            path = os.path.join(output, f"part3_optimizers.{ext}")
            anim.save(path, fps=10, dpi=65)  # 10 fps: a rate GIF and MP4 both keep exactly
            log("  wrote", path)
        plt.close(fig)

        # 2. Feature spaces side by side, and the line from the initial to the final weights.
        fig, axs = plt.subplots(2, len(replays), figsize=(4 * len(replays), 8), layout="constrained")
        visuals = []
        for column, replay in enumerate(replays):
            visuals.append(replay.build_feature_space(axs[0, column], "hidden", title="feature space"))
            visuals.append(replay.build_loss_interpolation(axs[1, column], title="line start-end"))
        path = os.path.join(output, f"part3_feature_spaces_epoch{epoch:03d}.png")
        compose_plots(visuals, epoch, title="Part 3 - optimizers").savefig(path, dpi=70)
        log("  wrote", path)
        plt.close(fig)

        # 3. Gradient flow of each run.
        from deepreplay import diagnostics

        ratios = np.concatenate([diagnostics.std_ratio(r, exclude_outputs=False).values.ravel() for r in replays])
        ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
        limits = (float(ratios.min()), float(ratios.max()))  # one colour scale for every run
        fig, axs = plt.subplots(1, len(replays), figsize=(4 * len(replays), 3), layout="constrained")
        visuals = [r.build_gradient_flow(ax, title="", limits=limits, colorbar=column == len(replays) - 1)
                   for column, (r, ax) in enumerate(zip(replays, axs))]
        path = os.path.join(output, "part3_gradient_flow.png")
        compose_plots(visuals, epoch, title="Part 3 - gradient/weight std ratio per layer").savefig(path, dpi=70)
        log("  wrote", path)
        plt.close(fig)
    finally:
        for r in replays:
            r.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join("out", "part3"))
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--epoch", type=int, default=30, help="epoch of the still pictures (default 30)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[SEED],
                        help=f"seeds to train (default {SEED}); the pictures show seed {SEED} when it is one of them")
    parser.add_argument("--formats", default="gif", help="animation formats, comma-separated (gif, mp4, html)")
    parser.add_argument("--no-pictures", action="store_true", help="only the seed study")
    parser.add_argument("--resume", action="store_true",
                        help="keep the complete recordings of an earlier run (same epochs) instead of training again")
    parser.add_argument("--draw-only", action="store_true",
                        help="train nothing: draw the pictures and the table from an earlier run's file")
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    filename = os.path.join(args.output, "part3_optimizers.h5")
    seeds = list(dict.fromkeys(args.seeds))
    if args.draw_only:
        draw(filename, [f"{name} seed {seeds[0]}" for name in OPTIMIZERS], args.output,
             epoch=min(args.epoch, args.epochs), formats=args.formats)
        print(findings(filename, seeds, args.epochs))
        return
    for seed in seeds:
        print(f"training the five runs, seed {seed} ...", flush=True)
        groups = record_all(filename, epochs=args.epochs, seed=seed, suffix=f" seed {seed}", resume=args.resume)
        if seed == seeds[0] and not args.no_pictures:
            draw(filename, groups, args.output, epoch=min(args.epoch, args.epochs), formats=args.formats)
    print(findings(filename, seeds, args.epochs))


if __name__ == "__main__":
    main()
