"""The canonical Part 1 demo: train the 2-2-1 network on the parabolas, record, animate.

This is what ``deepreplay demo`` (the README's main-job command) runs, and what
``examples/part1_activation_functions.py`` builds on.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

#: The Part 1 post's hyper-parameters.
PART1_EPOCHS = 150
PART1_LEARNING_RATE = 0.05
PART1_BATCH_SIZE = 16
PART1_SEED = 42
#: Training batches run per compiled call: the same updates, in the same order, as one call per
#: batch, without paying Keras' per-step overhead 63 times an epoch (measured: 194 -> 77 ms of CPU
#: per epoch of the Part 1 fit; the recording is unchanged, see tests/test_demo.py).  On PyTorch,
#: which Keras runs one step per call (it refuses more), 1.
PART1_STEPS_PER_EXECUTION = 32


def part1_steps_per_execution(backend: str) -> int:
    """The Part 1 fit's ``steps_per_execution`` on a Keras backend: 1 on PyTorch (Keras' only choice there)."""
    return 1 if backend == "torch" else PART1_STEPS_PER_EXECUTION


def build_part1_model(activation: str = "sigmoid", *, seed: int = PART1_SEED,
                      steps_per_execution: int | None = None):
    """The Part 1 network: ``Dense(2, activation, name='hidden')`` then ``Dense(1, sigmoid, name='output')``.

    Glorot normal initialisation for the hidden layer and random normal for
    the output layer, both seeded; SGD with learning rate 0.05; binary
    cross-entropy; accuracy.  ``steps_per_execution`` batches run per
    compiled call (Keras' option: the same updates, less overhead); None:
    :func:`part1_steps_per_execution` of the running backend.
    """
    import keras

    if steps_per_execution is None:
        steps_per_execution = part1_steps_per_execution(keras.backend.backend())

    model = keras.Sequential(
        [
            keras.Input((2,), name="inputs"),
            keras.layers.Dense(2, activation=activation, name="hidden",
                               kernel_initializer=keras.initializers.GlorotNormal(seed=seed)),
            keras.layers.Dense(1, activation="sigmoid", name="output",
                               kernel_initializer=keras.initializers.RandomNormal(seed=seed)),
        ],
        name=f"part1_{activation}",
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=PART1_LEARNING_RATE),
                  loss="binary_crossentropy", metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model


def record_part1(filename: str, group_name: str, *, activation: str = "sigmoid", epochs: int = PART1_EPOCHS,
                 overwrite: bool = False, verbose: int = 0, progress: bool | None = None,
                 steps_per_execution: int | None = None) -> None:
    """Train the Part 1 network on the parabola data with ``ReplayData`` attached.

    ``progress`` shows a per-epoch bar (default: in terminals and notebooks,
    see :mod:`deepreplay.progress`); it is left out when ``verbose`` asks
    Keras for its own output.
    """
    import keras

    from .callbacks import ReplayData
    from .datasets import parabola
    from .progress import fit_progress

    keras.utils.set_random_seed(PART1_SEED)
    X, y = parabola.load_data()
    model = build_part1_model(activation, steps_per_execution=steps_per_execution)
    replaydata = ReplayData(X, y, filename=filename, group_name=group_name, overwrite=overwrite)
    callbacks = [replaydata]
    if not verbose:
        callbacks.append(fit_progress(epochs, desc=f"training {activation}", progress=progress))
    # The number of batches an epoch has anyway, given: Keras then starts one data iterator per epoch
    # instead of two (one unused); the same batches and updates (see tests/test_demo.py).
    steps_per_epoch = math.ceil(len(X) / PART1_BATCH_SIZE)
    model.fit(X, y, epochs=epochs, batch_size=PART1_BATCH_SIZE, steps_per_epoch=steps_per_epoch, callbacks=callbacks,
              verbose=verbose)


@dataclass
class DemoResult:
    """Files written by :func:`run_demo` and how long each step took (seconds)."""

    files: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(output_dir: str = "out", *, epochs: int = PART1_EPOCHS, activation: str = "sigmoid",
             fps: float | None = None, dpi: float | None = None, png_epoch: int | None = 60, formats: tuple[str, ...] = ("gif", "mp4"),
             log=print) -> DemoResult:
    """Train, record and animate the Part 1 run; return the files written.

    The recording goes to ``<output_dir>/part1.h5``, group ``<activation>``; an
    earlier demo recording of that group is replaced (and said so).
    """
    from .dashboard import build_dashboard
    from .plot import compose_animations, compose_plots
    from .replay import Replay
    from .storage import list_groups

    os.makedirs(output_dir, exist_ok=True)
    result = DemoResult()
    filename = os.path.join(output_dir, "part1.h5")
    group = activation
    replacing = os.path.exists(filename) and group in list_groups(filename)
    if replacing:
        log(f"replacing the earlier demo recording {group!r} in {filename}")
    t = time.perf_counter()
    log(f"training the Part 1 network ({activation}, {epochs} epochs) with ReplayData -> {filename} [{group}]")
    record_part1(filename, group, activation=activation, epochs=epochs, overwrite=replacing)
    result.seconds["train_and_record"] = time.perf_counter() - t
    result.files["recording"] = filename

    with Replay(filename, group) as replay:
        t = time.perf_counter()
        fig, visuals = build_dashboard(replay, layer_name="hidden", metric_name="accuracy")
        result.seconds["build_visuals"] = time.perf_counter() - t
        title = f"Part 1 - {activation.capitalize()}"
        if png_epoch is not None:
            t = time.perf_counter()
            png_epoch = int(replay.epochs[np.argmin(np.abs(replay.epochs - png_epoch))])
            png = os.path.join(output_dir, f"part1_{activation}_epoch{png_epoch:03d}.png")
            compose_plots(visuals, png_epoch, title=title).savefig(png, dpi=dpi)
            result.files["png"] = png
            result.seconds["png"] = time.perf_counter() - t
        anim = compose_animations(visuals, title=title)
        if formats:
            # One rendering of the frames for every format asked for.
            paths = [os.path.join(output_dir, f"part1_{activation}.{ext}") for ext in formats]
            t = time.perf_counter()
            log(f"writing {', '.join(paths)} ({len(anim.epochs)} frames)")
            anim.save_many(paths, fps=fps, dpi=dpi)
            result.seconds["save_" + "_".join(formats)] = time.perf_counter() - t
            for ext, path in zip(formats, paths):
                result.files[ext] = path
        import matplotlib.pyplot as plt

        plt.close(fig)
    return result
