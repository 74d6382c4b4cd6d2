"""Digits: a small convolutional network, seen from the inside.

scikit-learn's ``load_digits`` (1,797 handwritten digits, 8 x 8 pixels, 10
classes; bundled, no download), trained with a small CNN::

    Conv2D(8, 3x3, relu) -> MaxPooling2D -> Flatten -> Dense(16, relu) -> Dense(10, softmax)

and replayed with the visuals that fit a convolutional classifier.  What to
look for in each (a teacher's cheat sheet; the notebook
``notebooks/digits_cnn.ipynb`` puts each caption under its picture):

* **Feature maps** (one row per probe digit, one per class; the digit itself
  first, then the 8 channels of the conv layer): at epoch 0 every channel is
  a blurred copy of the digit; as training goes on channels specialise —
  some light up on strokes of one orientation, some on the background
  around the ink, some go dark (a "dead" ReLU channel stays dark in every
  row).  The colour scale is fixed over the epochs, so brighter means a
  stronger response, not a rescaled picture.
* **Filters** (the eight 3x3 kernels; red positive, blue negative weights):
  they start as noise and drift into edge and stroke detectors (a red row
  above a blue row responds to a horizontal edge).  On 8x8 digits they move
  little after the first epochs — most of the learning is in the dense layers.
* **Confusion matrix** (row-normalised: each row is one true digit; the
  diagonal is the share recognised): it starts as one or two bright columns
  (the untrained network calls everything the same digit) and fills in the
  diagonal.  The cells that stay off the diagonal longest are the classic
  look-alikes: 1 / 7, 3 / 8 / 9, 4 / 9.
* **Feature space of the dense layer** (its 16 units on their fixed PCA
  plane, fitted on every epoch): the classes start as one cloud and pull
  apart into clusters the output layer can cut with straight lines; digits
  that sit between two clusters are the ones the model confuses.
* **Layer distributions** (the outputs of each layer over the recorded
  samples): the dense layer's ReLU outputs spread out as it learns; a layer
  whose violin collapses to 0 has died.
* **Losses and metrics**: the loss falls fast in the first epochs, then
  slowly; accuracy on the training digits approaches 1.

The conv and dense outputs of 1,797 digits are "wide" (more than 16,384
values per record), so ``ReplayData`` keeps them for a subset of the samples
(``output_samples``, here 200: enough points for the feature space, one
probe per class for the maps; the figure titles say how many).

Writes ``<output>/digits_cnn.h5`` (the recording), ``digits_cnn_epochNNN.png``
and ``digits_cnn.gif``.

Run:  python examples/digits_cnn.py [--output out/digits_cnn] [--epochs 30]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from deepreplay.callbacks import ReplayData  # noqa: E402
from deepreplay.plot import compose_animations, compose_plots  # noqa: E402
from deepreplay.replay import Replay  # noqa: E402

GROUP = "digits_cnn"
#: Samples whose conv and dense outputs are recorded (the others: predictions and losses only).
OUTPUT_SAMPLES = 200


def load() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The digits as (1797, 8, 8, 1) images in [0, 1], their integer labels and the class names."""
    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[..., None]
    return X, digits.target.astype(np.int64), tuple(str(d) for d in range(10))


def build_model(seed: int = 0) -> keras.Model:
    """Conv2D 8 -> MaxPooling2D -> Flatten -> Dense 16 relu -> Dense 10 softmax."""
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=seed)),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(16, activation="relu", name="dense",
                           kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1)),
        keras.layers.Dense(10, activation="softmax", name="output",
                           kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2)),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.005), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def record(filename: str, *, epochs: int, seed: int = 0) -> None:
    """Train the CNN on every digit, recording every epoch."""
    keras.utils.set_random_seed(seed)
    X, y, _ = load()
    replaydata = ReplayData(X, y, filename, GROUP, output_samples=OUTPUT_SAMPLES, overwrite=True)
    build_model(seed).fit(X, y, epochs=epochs, batch_size=32, callbacks=[replaydata], verbose=0)


def build_figure(replay: Replay, names: tuple[str, ...]):
    """Every visual of the example on one figure: the conv layer on top, the rest of the network below."""
    fig = plt.figure(figsize=(18, 11), layout="constrained")
    grid = fig.add_gridspec(2, 3, height_ratios=(1.25, 1), width_ratios=(1.2, 0.9, 1))
    visuals = [
        replay.build_feature_maps(fig.add_subplot(grid[0, 0]), "conv", class_names=[f"digit {n}" for n in names]),
        replay.build_filters(fig.add_subplot(grid[0, 1]), "conv"),
        replay.build_confusion_matrix(fig.add_subplot(grid[0, 2]), normalize=True, class_names=names),
        replay.build_feature_space(fig.add_subplot(grid[1, 0]), "dense", class_names=names),
        replay.build_outputs(fig.add_subplot(grid[1, 1])),
        replay.build_loss_and_metric(fig.add_subplot(grid[1, 2]), "accuracy"),
    ]
    return fig, visuals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join("out", "digits_cnn"), help="output directory")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--epoch", type=int, default=None, help="epoch of the PNG (default: the last)")
    parser.add_argument("--fps", type=float, default=5, help="frames per second (5: 200 ms a frame, exact in GIF timing)")
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
        title = "Digits, a small CNN"
        path = os.path.join(args.output, f"{GROUP}_epoch{epoch:03d}.png")
        compose_plots(visuals, epoch, title=title).savefig(path, dpi=args.dpi * 1.5)
        print("wrote", path)
        path = os.path.join(args.output, f"{GROUP}.gif")
        compose_animations(visuals, title=title).save(path, fps=args.fps, dpi=args.dpi)
        print("wrote", path)
        plt.close(fig)


if __name__ == "__main__":
    main()
