"""Breast cancer: 30 inputs, the latent-layer trick and the projection side by side.

scikit-learn's breast-cancer data (569 tumours, 30 measurements, malignant
or benign) has nothing two-dimensional to draw.  Two ways to look inside:

* top row, **the latent-layer trick** of the "Introducing DeepReplay" post:
  the network gets an extra layer of 2 linear units before the sigmoid
  output (30 -> 16 ReLU -> 2 linear -> 1), so it learns a 2-D latent space
  that is drawn exactly — at the price of changing the model;
* bottom row, **the projection**: the unchanged network (30 -> 16 ReLU -> 1)
  and its 16-unit hidden layer drawn on the plane of its first two principal
  components, fitted once on every recorded epoch (axes "PC1 (xx% var.)").

Each row also shows the decision boundary on a slice of the 30-D input space
(the plane of the inputs' first two principal components, through the mean
tumour), the loss and accuracy, and the cross-entropy view.

Writes ``<output>/breast_cancer.h5`` (both recordings),
``breast_cancer_epochNNN.png`` and ``breast_cancer.gif``.

Run:  python examples/breast_cancer.py [--output out/breast_cancer] [--epochs 60]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402

from deepreplay.callbacks import ReplayData  # noqa: E402
from deepreplay.plot import compose_animations, compose_plots  # noqa: E402
from deepreplay.replay import Replay  # noqa: E402

LATENT, ORIGINAL = "latent_trick", "original"


def load() -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """Standardised measurements, labels (0 malignant, 1 benign) and the class names."""
    data = load_breast_cancer()
    X = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    return (X.astype(np.float32), data.target.astype(np.float32).reshape(-1, 1),
            (str(data.target_names[0]), str(data.target_names[1])))


def record(filename: str, group: str, *, latent: bool, epochs: int, seed: int = 5) -> None:
    """Train 30 -> 16 ReLU (-> 2 linear) -> sigmoid, recording every epoch."""
    keras.utils.set_random_seed(seed)
    X, y, _ = load()
    layers = [keras.layers.Dense(16, activation="relu", name="hidden",
                                 kernel_initializer=keras.initializers.HeNormal(seed=seed))]
    if latent:
        layers.append(keras.layers.Dense(2, activation="linear", name="latent",
                                         kernel_initializer=keras.initializers.GlorotNormal(seed=seed + 1)))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="output",
                                     kernel_initializer=keras.initializers.GlorotNormal(seed=seed + 2)))
    model = keras.Sequential([keras.Input((30,)), *layers])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.003), loss="binary_crossentropy",
                  metrics=["accuracy"])
    replaydata = ReplayData(X, y, filename, group, overwrite=True)
    model.fit(X, y, epochs=epochs, batch_size=32, callbacks=[replaydata], verbose=0)


def build_figure(with_latent: Replay, original: Replay, names: tuple[str, str]):
    fig = plt.figure(figsize=(20, 10), layout="constrained")
    grid = fig.add_gridspec(2, 4)
    visuals = []
    for row, (replay, label) in enumerate(((with_latent, "30-16-2-1"), (original, "30-16-1"))):
        axes = [fig.add_subplot(grid[row, c]) for c in range(4)]
        if replay is with_latent:
            space = replay.build_feature_space(axes[0], "latent", class_names=names, contour_points=150,
                                               title=f"{label}: latent layer, 2 linear units (exact)")
        else:
            space = replay.build_feature_space(axes[0], "hidden", class_names=names,
                                               title=f"{label}: hidden layer, 16 units\n(fixed PCA plane)")
        visuals += [
            space,
            replay.build_decision_boundary(
                axes[1], class_names=names, contour_points=120,
                title=f"{label}: decision boundary\n(slice: PC1-PC2 plane of the 30 inputs)"),
            replay.build_loss_and_metric(axes[2], "accuracy", title=f"{label}: loss and accuracy"),
            replay.build_cross_entropy(axes[3], class_names=names, title=f"{label}: cross-entropy"),
        ]
    return fig, visuals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join("out", "breast_cancer"), help="output directory")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--epoch", type=int, default=None, help="epoch of the PNG (default: the last)")
    parser.add_argument("--fps", type=float, default=10)
    parser.add_argument("--dpi", type=float, default=60)
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    filename = os.path.join(args.output, "breast_cancer.h5")
    for group, latent in ((LATENT, True), (ORIGINAL, False)):
        print(f"training {group} for {args.epochs} epochs ...")
        record(filename, group, latent=latent, epochs=args.epochs)
    _, _, names = load()
    with Replay(filename, LATENT) as with_latent, Replay(filename, ORIGINAL) as original:
        fig, visuals = build_figure(with_latent, original, names)
        epoch = args.epochs if args.epoch is None else args.epoch
        title = "Breast cancer, 30 inputs: latent layer (top) and projection (bottom)"
        path = os.path.join(args.output, f"breast_cancer_epoch{epoch:03d}.png")
        compose_plots(visuals, epoch, title=title).savefig(path, dpi=args.dpi * 1.5)
        print("wrote", path)
        path = os.path.join(args.output, "breast_cancer.gif")
        compose_animations(visuals, title=title).save(path, fps=args.fps, dpi=args.dpi)
        print("wrote", path)
        plt.close(fig)


if __name__ == "__main__":
    main()
