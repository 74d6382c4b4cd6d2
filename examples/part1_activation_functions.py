"""Part 1 of "Hyper-parameters in Action!": activation functions.

Trains the 2-2-1 network on the two parabolas with sigmoid, tanh and ReLU in
the hidden layer (150 epochs each, recorded with ReplayData), writes each run's
animation (feature space, probability histograms, loss and accuracy, loss
histogram) and a side-by-side comparison at one epoch: the post's Figure 9,
feature spaces on top (linear boundaries in the transformed space) and the
decision boundaries in the original space below.

Run:  python examples/part1_activation_functions.py [--output out/part1] [--epochs 150]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from deepreplay.dashboard import build_dashboard  # noqa: E402
from deepreplay.demo import record_part1  # noqa: E402
from deepreplay.plot import compose_animations, compose_plots  # noqa: E402
from deepreplay.replay import Replay  # noqa: E402
from deepreplay.storage import list_groups  # noqa: E402

ACTIVATIONS = ("sigmoid", "tanh", "relu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join("out", "part1"))
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--compare-epoch", type=int, default=150, help="epoch of the Figure 9 comparison")
    parser.add_argument("--formats", default="gif", help="animation formats, comma-separated (gif, mp4, html)")
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    filename = os.path.join(args.output, "part1_activation_functions.h5")
    existing = list_groups(filename) if os.path.exists(filename) else []

    for activation in ACTIVATIONS:
        print(f"training with {activation} ...")
        record_part1(filename, activation, activation=activation, epochs=args.epochs,
                     overwrite=activation in existing)
        with Replay(filename, activation) as replay:
            fig, visuals = build_dashboard(replay, layer_name="hidden", metric_name="accuracy")
            anim = compose_animations(visuals, title=f"Part 1 - {activation.capitalize()}")
            for ext in args.formats.split(","):
                path = os.path.join(args.output, f"part1_{activation}.{ext}")
                anim.save(path, fps=10, dpi=60)  # 10 fps: a rate GIF and MP4 both keep exactly
                print("  wrote", path)
            plt.close(fig)

    epoch = min(args.compare_epoch, args.epochs)
    fig, axes = plt.subplots(2, 3, figsize=(15, 10))
    for column, activation in enumerate(ACTIVATIONS):
        with Replay(filename, activation) as replay:
            fs = replay.build_feature_space(axes[0, column], "hidden",
                                            title=f"{activation.capitalize()} - feature space")
            db = replay.build_decision_boundary(axes[1, column], xlim=(-1.1, 1.1), ylim=(-0.65, 1.1),
                                                title=f"{activation.capitalize()} - original space")
            compose_plots([fs, db], epoch)
    fig.suptitle(f"Figure 9: linear boundaries in the transformed feature space (top), "
                 f"non-linear boundaries in the original space (bottom) - epoch {epoch}")
    path = os.path.join(args.output, f"part1_comparison_epoch{epoch:03d}.png")
    fig.savefig(path, dpi=80)
    print("wrote", path)


if __name__ == "__main__":
    main()
