"""Iris: three classes, four inputs, a softmax output.

scikit-learn's iris data (150 flowers, 4 measurements, 3 species), trained
with a softmax output and sparse categorical cross-entropy on integer labels.
Every visual takes the same class colours:

* the decision boundary on the plane of the inputs' first two principal
  components — a *slice* of the 4-D input space through the mean flower,
  coloured by the most probable class (lighter where the model is less sure);
* the feature space of a 2-unit linear "latent" layer (exact) and of the
  8-unit hidden layer (on its fixed PCA plane);
* loss and accuracy, the probability histograms (each class's probability
  for its own members and for the other flowers), the cross-entropy view and
  the loss histogram.

Writes ``<output>/iris.h5`` (the recording), ``iris_epochNNN.png`` and
``iris.gif``.

Run:  python examples/multiclass_iris.py [--output out/iris] [--epochs 60]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402

from deepreplay.callbacks import ReplayData  # noqa: E402
from deepreplay.plot import compose_animations, compose_plots  # noqa: E402
from deepreplay.replay import Replay  # noqa: E402

GROUP = "iris"


def load() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Standardised measurements, integer species labels and the species names."""
    iris = load_iris()
    X = (iris.data - iris.data.mean(axis=0)) / iris.data.std(axis=0)
    return X.astype(np.float32), iris.target.astype(np.int64), tuple(str(n) for n in iris.target_names)


def record(filename: str, *, epochs: int, seed: int = 3) -> None:
    """Train 4 -> 8 tanh -> 2 linear ('latent') -> softmax(3), recording every epoch."""
    keras.utils.set_random_seed(seed)
    X, y, _ = load()
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="tanh", name="hidden",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=seed)),
        keras.layers.Dense(2, activation="linear", name="latent",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=seed + 1)),
        keras.layers.Dense(3, activation="softmax", name="output",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=seed + 2)),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    replaydata = ReplayData(X, y, filename, GROUP, overwrite=True)
    model.fit(X, y, epochs=epochs, batch_size=16, callbacks=[replaydata], verbose=0)


def build_figure(replay: Replay, names: tuple[str, ...]):
    fig = plt.figure(figsize=(20, 9.5), layout="constrained")
    grid = fig.add_gridspec(2, 4)
    axes = [fig.add_subplot(grid[r, c]) for r in range(2) for c in range(4)]
    visuals = [
        replay.build_decision_boundary(axes[0], contour_points=150, class_names=names),
        replay.build_feature_space(axes[1], "latent", class_names=names, contour_points=150,
                                   title="Latent space (2 linear units)"),
        replay.build_feature_space(axes[2], "hidden", class_names=names, display_grid=False),
        replay.build_loss_and_metric(axes[3], "accuracy"),
        replay.build_probability_histogram(axes[4], axes[5], class_names=names),
        replay.build_cross_entropy(axes[6], class_names=names),
        replay.build_loss_histogram(axes[7]),
    ]
    return fig, visuals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join("out", "iris"), help="output directory")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--epoch", type=int, default=None, help="epoch of the PNG (default: the last)")
    parser.add_argument("--fps", type=float, default=10)
    parser.add_argument("--dpi", type=float, default=60)
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    filename = os.path.join(args.output, f"{GROUP}.h5")
    print(f"training {args.epochs} epochs ...")
    record(filename, epochs=args.epochs)
    _, _, names = load()
    with Replay(filename, GROUP) as replay:
        fig, visuals = build_figure(replay, names)
        epoch = args.epochs if args.epoch is None else args.epoch
        title = "Iris, three classes"
        path = os.path.join(args.output, f"{GROUP}_epoch{epoch:03d}.png")
        compose_plots(visuals, epoch, title=title).savefig(path, dpi=args.dpi * 1.5)
        print("wrote", path)
        path = os.path.join(args.output, f"{GROUP}.gif")
        compose_animations(visuals, title=title).save(path, fps=args.fps, dpi=args.dpi)
        print("wrote", path)
        plt.close(fig)


if __name__ == "__main__":
    main()
