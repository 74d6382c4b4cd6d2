"""Circles: 2-D inputs, a 10-unit hidden layer, and the decision boundary.

Two concentric circles (scikit-learn's ``make_circles``) cannot be separated
by a line; a hidden layer of 10 tanh units bends the plane until a single
sigmoid unit can.  Its 10-D feature space is shown on the plane of its first
two principal components, fitted once on every recorded epoch (so the frames
compare); the decision boundary is drawn in the original 2-D input space.

Writes ``<output>/circles.h5`` (the recording), ``circles_epochNNN.png`` and
``circles.gif``.

Run:  python examples/circles.py [--output out/circles] [--epochs 60]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import make_circles  # noqa: E402

from deepreplay.callbacks import ReplayData  # noqa: E402
from deepreplay.plot import compose_animations, compose_plots  # noqa: E402
from deepreplay.replay import Replay  # noqa: E402

GROUP = "circles"


def record(filename: str, *, epochs: int, seed: int = 13) -> None:
    """Train the 2-10-1 network on the circles, recording every epoch."""
    keras.utils.set_random_seed(seed)
    X, y = make_circles(n_samples=400, noise=0.06, factor=0.5, random_state=seed)
    X, y = X.astype(np.float32), y.astype(np.float32).reshape(-1, 1)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(10, activation="tanh", name="hidden",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=seed)),
        keras.layers.Dense(1, activation="sigmoid", name="output",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=seed + 1)),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.03), loss="binary_crossentropy",
                  metrics=["accuracy"])
    replaydata = ReplayData(X, y, filename, GROUP, overwrite=True)
    model.fit(X, y, epochs=epochs, batch_size=32, callbacks=[replaydata], verbose=0)


def build_figure(replay: Replay):
    """Decision boundary, the hidden layer's feature space, curves, probability histograms, cross-entropy."""
    fig = plt.figure(figsize=(15, 9), layout="constrained")
    grid = fig.add_gridspec(2, 3)
    axes = [fig.add_subplot(grid[r, c]) for r in range(2) for c in range(3)]
    visuals = [
        replay.build_decision_boundary(axes[0], contour_points=150),
        replay.build_feature_space(axes[1], "hidden", xlim=(-1.2, 1.2), ylim=(-1.2, 1.2)),
        replay.build_loss_and_metric(axes[2], "accuracy"),
        replay.build_probability_histogram(axes[3], axes[4], title=("Outer circle (y = 0)", "Inner circle (y = 1)")),
        replay.build_cross_entropy(axes[5]),
    ]
    return fig, visuals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join("out", "circles"), help="output directory")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--epoch", type=int, default=None, help="epoch of the PNG (default: the last)")
    parser.add_argument("--fps", type=float, default=10)
    parser.add_argument("--dpi", type=float, default=60)
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    filename = os.path.join(args.output, f"{GROUP}.h5")
    print(f"training {args.epochs} epochs ...")
    record(filename, epochs=args.epochs)
    with Replay(filename, GROUP) as replay:
        fig, visuals = build_figure(replay)
        epoch = args.epochs if args.epoch is None else args.epoch
        path = os.path.join(args.output, f"{GROUP}_epoch{epoch:03d}.png")
        compose_plots(visuals, epoch, title="Circles, 10 hidden units").savefig(path, dpi=args.dpi * 1.5)
        print("wrote", path)
        path = os.path.join(args.output, f"{GROUP}.gif")
        compose_animations(visuals, title="Circles, 10 hidden units").save(path, fps=args.fps, dpi=args.dpi)
        print("wrote", path)
        plt.close(fig)


if __name__ == "__main__":
    main()
