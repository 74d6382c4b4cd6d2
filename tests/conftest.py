"""Shared test set-up: Agg backend, figures closed after each test, a tiny recorded run."""

import contextlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

TINY_EPOCHS = 4


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def _no_keras_name_scope_left_open():
    """A test that leaves a Keras name scope open fails (and the scope is closed for the next tests).

    An open scope prefixes the path of every variable made later in the
    thread, so replay keys change and later tests fail far from the cause.
    Keras 3 keeps the stack in its global state (no public API reads it).
    """
    yield
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # pragma: no cover - another Keras layout
        return
    stack = global_state.get_global_attribute("name_scope_stack") or []
    if stack:
        global_state.set_global_attribute("name_scope_stack", [])
        pytest.fail(f"Keras name scopes left open: {[getattr(s, 'name', s) for s in stack]}")


def make_tiny_model(*, activation="tanh", seed=42):
    """2-2-1 network on 2-D inputs, compiled like the Part 1 demo."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(2, activation=activation, name="hidden",
                               kernel_initializer=keras.initializers.GlorotNormal(seed=seed)),
            keras.layers.Dense(1, activation="sigmoid", name="output",
                               kernel_initializer=keras.initializers.RandomNormal(seed=seed)),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def keras_at(replay, epoch):
    """An independent copy of the recorded model, with the weights recorded at ``epoch``."""
    import keras

    clone = keras.models.clone_model(replay.model)
    weights = replay.weights_at(epoch)
    for layer in clone.layers:
        if layer.name in weights:
            layer.set_weights([weights[layer.name][var.name] for var in layer.weights])
    return clone


def cell_centres(xlim, ylim, n):
    """Centres of an n x n tiling of the rectangle, row-major from the bottom row."""
    import numpy as np

    xs = xlim[0] + (np.arange(n) + 0.5) * (xlim[1] - xlim[0]) / n
    ys = ylim[0] + (np.arange(n) + 0.5) * (ylim[1] - ylim[0]) / n
    xx, yy = np.meshgrid(xs, ys)
    return np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)


def tiny_data(n_points=60):
    from deepreplay.datasets import parabola

    return parabola.load_data(n_points=n_points)


@pytest.fixture(scope="session")
def tiny_recording(tmp_path_factory):
    """A recorded run of the tiny model: ``(filename, group_name, X, y)``.

    Session-scoped and read-only: tests must not write to it.
    """
    import keras

    keras.utils.set_random_seed(0)
    from deepreplay.callbacks import ReplayData

    X, y = tiny_data()
    filename = str(tmp_path_factory.mktemp("tiny") / "tiny.h5")
    model = make_tiny_model()
    model.fit(X, y, epochs=TINY_EPOCHS, batch_size=16, verbose=0,
              callbacks=[ReplayData(X, y, filename, "tiny")])
    return filename, "tiny", X, y


@pytest.fixture
def replay(tiny_recording):
    """A :class:`~deepreplay.replay.Replay` of :func:`tiny_recording`, closed after the test."""
    from deepreplay.replay import Replay

    filename, group_name, _, _ = tiny_recording
    with Replay(filename, group_name) as r:
        yield r


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory):
    """Two recorded runs of the tiny model in one file: ``(filename, ['sgd', 'adam'])``.

    'sgd' (SGD 0.1) records every epoch, 'adam' (Adam 0.05) every second
    epoch, both over TINY_EPOCHS epochs from the same initial weights.
    Session-scoped and read-only.
    """
    import keras

    from deepreplay.callbacks import ReplayData

    X, y = tiny_data()
    filename = str(tmp_path_factory.mktemp("runs") / "runs.h5")
    for group, optimizer, every in (("sgd", keras.optimizers.SGD(0.1), 1), ("adam", keras.optimizers.Adam(0.05), 2)):
        keras.utils.set_random_seed(0)
        model = make_tiny_model()
        model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(X, y, epochs=TINY_EPOCHS, batch_size=16, verbose=0,
                  callbacks=[ReplayData(X, y, filename, group, every=every)])
    return filename, ["sgd", "adam"]


def make_digits_cnn(seed=0):
    """The digits CNN of examples/digits_cnn.py: Conv2D 8 -> MaxPooling2D -> Flatten -> Dense 16 -> softmax(10)."""
    import keras

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
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="session")
def digits_cnn_recording(tmp_path_factory):
    """The digits CNN trained 2 epochs on 400 of scikit-learn's digits: ``(filename, group_name, X, y)``.

    The conv layer's outputs (400 x 8 x 8 x 8 values) are "wide", so they are
    recorded for ``output_samples`` (64) samples, as in a real run.
    Session-scoped and read-only: tests must not write to it.
    """
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    from deepreplay.callbacks import ReplayData

    keras.utils.set_random_seed(0)
    digits = load_digits()
    X = (digits.images[:400] / 16.0).astype(np.float32)[..., None]
    y = digits.target[:400].astype(np.int64)
    filename = str(tmp_path_factory.mktemp("digits") / "digits.h5")
    make_digits_cnn().fit(X, y, epochs=2, batch_size=32, verbose=0,
                          callbacks=[ReplayData(X, y, filename, "digits")])
    return filename, "digits", X, y


class RecordedRuns:
    """Runs recorded in one file: ``runs.open(group)`` gives ``(replay, X, y)`` of one, the replay closed after."""

    def __init__(self, filename, data):
        self.filename, self.data = filename, data

    @contextlib.contextmanager
    def open(self, group):
        from deepreplay.replay import Replay

        X, y = self.data[group]
        with Replay(self.filename, group) as replay:
            yield replay, X, y


@pytest.fixture(scope="session")
def hinge_recordings(tmp_path_factory):
    """Classifiers trained 4 epochs with hinge losses, in one file, as :class:`RecordedRuns`.

    * ``hinge``: 2-D moons, targets -1/1, a 2-unit tanh layer, a tanh output (``loss="hinge"``);
    * ``squared_hinge01``: the same inputs, targets 0/1 (Keras turns them into -1/1), a linear output;
    * ``categorical_hinge``: 3 classes, one-hot targets, linear outputs.

    Session-scoped and read-only: tests must not write to it.
    """
    import keras
    import numpy as np
    from sklearn.datasets import make_blobs, make_moons

    from deepreplay.callbacks import ReplayData

    filename = str(tmp_path_factory.mktemp("hinge") / "hinge.h5")
    X, labels = make_moons(80, noise=0.25, random_state=0)
    X = X.astype(np.float32)
    X3, labels3 = make_blobs(90, centers=3, cluster_std=1.5, random_state=0)
    X3 = X3.astype(np.float32)
    runs = {
        "hinge": (X, (2.0 * labels - 1).astype(np.float32).reshape(-1, 1), "hinge", "tanh", 1),
        "squared_hinge01": (X, labels.astype(np.float32).reshape(-1, 1), "squared_hinge", None, 1),
        "categorical_hinge": (X3, np.eye(3, dtype=np.float32)[labels3], "categorical_hinge", None, 3),
    }
    data = {}
    for group, (inputs, targets, loss, activation, units) in runs.items():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="tanh", name="hidden"),
                                  keras.layers.Dense(units, activation=activation, name="output")])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        model.fit(inputs, targets, epochs=4, batch_size=16, verbose=0,
                  callbacks=[ReplayData(inputs, targets, filename, group)])
        data[group] = (inputs, targets)
    return RecordedRuns(filename, data)
