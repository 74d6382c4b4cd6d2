"""Moons: an extra 2-unit linear layer as a latent space.

The two interleaving half-moons of scikit-learn's ``make_moons`` need a
curved boundary.  Following the "Introducing DeepReplay" post, the network
gets an extra hidden layer of 2 *linear* units right before the sigmoid
output: an encoder (inputs -> 8 tanh units -> 2 latent features) followed by
a plain logistic regression on those 2 features.  The latent layer has 2
units, so its feature space is drawn exactly (no projection), with the input
grid bent through the encoder and the output unit's straight boundary; the
decision boundary shows the same model in the input space.

Writes ``<output>/moons.h5`` (the recording), ``moons_epochNNN.png`` and
``moons.gif``.

Run:  python examples/moons.py [--output out/moons] [--epochs 60]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import make_moons  # noqa: E402

from deepreplay.callbacks import ReplayData  # noqa: E402
from deepreplay.plot import compose_animations, compose_plots  # noqa: E402
from deepreplay.replay import Replay  # noqa: E402

GROUP = "moons"


def load_moons(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """400 noisy moons, centred and scaled to about [-1, 1]."""
    X, y = make_moons(n_samples=400, noise=0.12, random_state=seed)
    X = (X - X.mean(axis=0)) / np.abs(X - X.mean(axis=0)).max(axis=0)
    return X.astype(np.float32), y.astype(np.float32).reshape(-1, 1)


def record(filename: str, *, epochs: int, seed: int = 7) -> None:
    """Train inputs -> 8 tanh -> 2 linear ('latent') -> sigmoid, recording every epoch."""
    keras.utils.set_random_seed(seed)
    X, y = load_moons(seed)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(8, activation="tanh", name="hidden",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=seed)),
        keras.layers.Dense(2, activation="linear", name="latent",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=seed + 1)),
        keras.layers.Dense(1, activation="sigmoid", name="output",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=seed + 2)),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.02), loss="binary_crossentropy",
                  metrics=["accuracy"])
    replaydata = ReplayData(X, y, filename, GROUP, overwrite=True)
    model.fit(X, y, epochs=epochs, batch_size=32, callbacks=[replaydata], verbose=0)


def build_figure(replay: Replay):
    """Latent feature space (exact), decision boundary, curves, probability histograms."""
    fig = plt.figure(figsize=(15, 9), layout="constrained")
    grid = fig.add_gridspec(2, 3)
    axes = [fig.add_subplot(grid[r, c]) for r in range(2) for c in range(3)]
    names = ("upper moon", "lower moon")  # make_moons: class 0 is the upper half-circle
    visuals = [
        replay.build_feature_space(axes[0], "latent", xlim=(-1.2, 1.2), ylim=(-1.2, 1.2), class_names=names,
                                   title="Latent space (2 linear units)"),
        replay.build_decision_boundary(axes[1], contour_points=150, class_names=names),
        replay.build_loss_and_metric(axes[2], "accuracy"),
        replay.build_probability_histogram(axes[3], axes[4], title=("Upper moon (y = 0)", "Lower moon (y = 1)")),
        replay.build_loss_histogram(axes[5]),
    ]
    return fig, visuals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join("out", "moons"), help="output directory")
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
        title = "Moons, a 2-unit latent layer"
        path = os.path.join(args.output, f"{GROUP}_epoch{epoch:03d}.png")
        compose_plots(visuals, epoch, title=title).savefig(path, dpi=args.dpi * 1.5)
        print("wrote", path)
        path = os.path.join(args.output, f"{GROUP}.gif")
        compose_animations(visuals, title=title).save(path, fps=args.fps, dpi=args.dpi)
        print("wrote", path)
        plt.close(fig)


if __name__ == "__main__":
    main()
