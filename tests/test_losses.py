"""Per-sample losses and metrics on the recording path, checked against Keras itself.

Every recording here is the initial state of a tiny model (``ReplayData(...,
model=model)``): no training, one record.
"""

import os

import keras
import numpy as np
import pytest

from deepreplay import compute
from deepreplay.callbacks import ReplayData
from deepreplay.losses import (
    config_from_logits,
    loss_from_logits,
    per_sample_loss,
)
from deepreplay.replay import Replay

RNG = np.random.default_rng(0)
N = 16
X = RNG.normal(size=(N, 3)).astype(np.float32)
LABELS3 = np.arange(N) % 3
LABELS2 = (np.arange(N) % 2).astype(np.float32)


def _model(units, activation, loss, *, metrics=None, seed=1):
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, activation="tanh", name="hidden",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=seed)),
        keras.layers.Dense(units, activation=activation, name="output",
                           kernel_initializer=keras.initializers.GlorotNormal(seed=seed + 1)),
    ])
    model.compile(optimizer="sgd", loss=loss, metrics=metrics)
    return model


def _record(tmp_path, model, x, y, name="run"):
    filename = str(tmp_path / f"{name}.h5")
    ReplayData(x, y, filename, name, model=model)
    return filename, name


def _huber_fn(y_true, y_pred):
    return keras.losses.huber(y_true, y_pred, delta=0.3)


# (model output units, output activation, compiled loss, targets, the Keras loss object to compare with)
CASES = {
    "binary_crossentropy, (n, 1) targets": (
        1, "sigmoid", "binary_crossentropy", LABELS2.reshape(-1, 1), keras.losses.BinaryCrossentropy),
    "binary_crossentropy, (n,) targets": (
        1, "sigmoid", "binary_crossentropy", LABELS2, keras.losses.BinaryCrossentropy),
    "categorical_crossentropy": (
        3, "softmax", "categorical_crossentropy", np.eye(3, dtype=np.float32)[LABELS3],
        keras.losses.CategoricalCrossentropy),
    "sparse_categorical_crossentropy, (n,) targets": (
        3, "softmax", "sparse_categorical_crossentropy", LABELS3, keras.losses.SparseCategoricalCrossentropy),
    "sparse_categorical_crossentropy, (n, 1) targets": (
        3, "softmax", "sparse_categorical_crossentropy", LABELS3.reshape(-1, 1),
        keras.losses.SparseCategoricalCrossentropy),
    "crossentropy (resolved by shape)": (
        3, "softmax", "crossentropy", LABELS3, keras.losses.SparseCategoricalCrossentropy),
    "mse, (n,) targets": (
        1, None, "mse", RNG.normal(size=N).astype(np.float32), keras.losses.MeanSquaredError),
    "mae": (1, None, "mae", RNG.normal(size=(N, 1)).astype(np.float32), keras.losses.MeanAbsoluteError),
    "huber": (1, None, "huber", 3 * RNG.normal(size=(N, 1)).astype(np.float32), keras.losses.Huber),
    "mse, 2 outputs": (
        2, None, "mean_squared_error", RNG.normal(size=(N, 2)).astype(np.float32), keras.losses.MeanSquaredError),
    "Huber(delta=0.5) instance": (
        1, None, keras.losses.Huber(delta=0.5), 3 * RNG.normal(size=(N,)).astype(np.float32),
        lambda **kw: keras.losses.Huber(delta=0.5, **kw)),
    "BinaryCrossentropy(from_logits, label_smoothing) instance": (
        1, None, keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), LABELS2.reshape(-1, 1),
        lambda **kw: keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, **kw)),
    "MeanSquaredError(reduction='sum') instance": (
        1, None, keras.losses.MeanSquaredError(reduction="sum"), RNG.normal(size=(N, 1)).astype(np.float32),
        keras.losses.MeanSquaredError),
    "a custom function": (
        1, None, _huber_fn, 3 * RNG.normal(size=(N, 1)).astype(np.float32),
        lambda **kw: keras.losses.Huber(delta=0.3, **kw)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_recorded_per_sample_losses_equal_keras_with_no_reduction(tmp_path, case):
    units, activation, loss, y, keras_loss = CASES[case]
    model = _model(units, activation, loss)
    expected = keras.ops.convert_to_numpy(keras_loss(reduction=None)(y, model(X)))
    assert expected.shape == (N,)
    filename, group = _record(tmp_path, model, X, y)
    with Replay(filename, group) as replay:
        recorded = replay.losses_at(0)
        assert recorded.shape == (N,)
        np.testing.assert_allclose(recorded, expected, rtol=1e-5, atol=1e-6)
        # The mean of the per-sample losses is the loss Keras reports for the samples
        # (for the default reduction; a 'sum' reduction reports their sum).
        evaluated = model.evaluate(X, y, batch_size=N, verbose=0, return_dict=True)["loss"]
        if getattr(loss, "reduction", "sum_over_batch_size") == "sum_over_batch_size":
            assert float(np.mean(recorded)) == pytest.approx(evaluated, rel=1e-5, abs=1e-6)
            assert replay.training_loss[0] == pytest.approx(evaluated, rel=1e-5, abs=1e-6)
        else:
            assert float(np.sum(recorded)) == pytest.approx(evaluated, rel=1e-5, abs=1e-6)
        # The loss histogram is made of these very values.
        import matplotlib.pyplot as plt

        lh = replay.build_loss_histogram(plt.subplots()[1], bins=5)
        np.testing.assert_array_equal(lh.data.counts[0], np.histogram(recorded, bins=lh.data.edges)[0])


def test_per_sample_loss_keeps_loss_options_and_leaves_the_compiled_loss_alone():
    loss = keras.losses.Huber(delta=0.25, reduction="sum")
    model = _model(1, None, loss)
    fn = per_sample_loss(model)
    assert fn is not loss and loss.reduction == "sum"
    y = RNG.normal(size=(N, 1)).astype(np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fn(y, model(X))),
                               keras.ops.convert_to_numpy(keras.losses.huber(y, model(X), delta=0.25)),
                               rtol=1e-6)


@pytest.mark.parametrize("loss, expected", [
    (keras.losses.BinaryCrossentropy(from_logits=True), True),
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True), True),
    (keras.losses.BinaryCrossentropy(), False),
    ("binary_crossentropy", False),
    ("mse", False),
])
def test_loss_from_logits_of_a_model_and_of_its_stored_config(loss, expected):
    model = _model(1, None, loss)
    assert loss_from_logits(model) is expected
    assert config_from_logits(model.to_json()) is expected


def test_config_from_logits_of_unreadable_configs():
    uncompiled = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert config_from_logits(uncompiled.to_json()) is False
    assert config_from_logits("not json") is False
    assert config_from_logits({"compile_config": {"loss": "mse"}}) is False


@pytest.mark.parametrize("units, activation, loss, y", [
    (1, "sigmoid", "binary_crossentropy", LABELS2),                    # binary, (n,) targets
    (3, "softmax", "sparse_categorical_crossentropy", LABELS3),         # integer labels
    (3, "softmax", "categorical_crossentropy", np.eye(3, dtype=np.float32)[LABELS3]),  # one-hot
    (2, "softmax", "sparse_categorical_crossentropy", LABELS2.astype(int)),  # 2-unit softmax
])
def test_recorded_accuracy_equals_keras(tmp_path, units, activation, loss, y):
    model = _model(units, activation, loss, metrics=["accuracy"], seed=3)
    evaluated = model.evaluate(X, y, batch_size=N, verbose=0, return_dict=True)
    filename, group = _record(tmp_path, model, X, y)
    with Replay(filename, group) as replay:
        assert replay.get_training_metric("accuracy")[0] == pytest.approx(evaluated["accuracy"])
        labels = compute.class_labels(np.asarray(y))
        p = compute.class_probabilities(replay.predictions_at(0), max(units, 2))
        assert np.mean(p.argmax(axis=1) == labels) == pytest.approx(evaluated["accuracy"])


# -- known cross-entropy values, through the package's own per-sample loss path ---------------------------
def _probability_model(probabilities, *, loss, from_logits=False):
    """One Dense layer on one-hot inputs whose outputs are the given probabilities, sample by sample.

    Sample ``i`` is the one-hot vector ``e_i``, so its output is row ``i`` of the kernel
    put through the output activation: logit(p) for a sigmoid, log(p) for a softmax.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n = len(probabilities)
    if probabilities.ndim == 1:
        kernel = np.log(probabilities / (1 - probabilities)).reshape(n, 1)
        activation = None if from_logits else "sigmoid"
    else:
        kernel = np.log(probabilities)
        activation = None if from_logits else "softmax"
    model = keras.Sequential([keras.Input((n,)), keras.layers.Dense(kernel.shape[1], activation=activation,
                                                                    use_bias=False, name="output")])
    model.get_layer("output").set_weights([kernel.astype(np.float32)])
    model.compile(optimizer="sgd", loss=loss)
    return model, np.eye(n, dtype=np.float32)


# p(positive) and labels; the loss of each sample is -ln(p of its true class):
# -ln 0.9, -ln 0.8, -ln 0.6, -ln 0.01, -ln 0.5
BINARY_P = [0.9, 0.2, 0.6, 0.99, 0.5]
BINARY_Y = [1, 0, 1, 0, 1]
BINARY_LOSSES = [0.105360516, 0.223143551, 0.510825624, 4.605170186, 0.693147181]

# Three classes; the true classes' probabilities are 0.7, 0.25, 0.05 and 0.6:
# -ln 0.7, -ln 0.25, -ln 0.05, -ln 0.6
CATEGORICAL_P = [[0.7, 0.2, 0.1], [0.25, 0.5, 0.25], [0.05, 0.9, 0.05], [0.1, 0.3, 0.6]]
CATEGORICAL_Y = [0, 2, 0, 2]
CATEGORICAL_LOSSES = [0.356674944, 1.386294361, 2.995732274, 0.510825624]


@pytest.mark.parametrize("loss, from_logits", [
    ("binary_crossentropy", False),
    (keras.losses.BinaryCrossentropy(), False),
    (keras.losses.BinaryCrossentropy(from_logits=True), True),
    ("crossentropy", False),
])
def test_known_binary_cross_entropy_values(tmp_path, loss, from_logits):
    model, x = _probability_model(BINARY_P, loss=loss, from_logits=from_logits)
    y = np.array(BINARY_Y, dtype=np.float32).reshape(-1, 1)
    filename, group = _record(tmp_path, model, x, y)
    with Replay(filename, group) as replay:
        np.testing.assert_allclose(replay.losses_at(0), BINARY_LOSSES, rtol=2e-6)
        assert replay.training_loss[0] == pytest.approx(np.mean(BINARY_LOSSES), rel=2e-6)
        # The cross-entropy view: p of the true class, sorted, its -log, and their mean = the loss.
        import matplotlib.pyplot as plt

        ce = replay.build_cross_entropy(plt.subplots()[1])
        p_true = [0.9, 0.8, 0.6, 0.01, 0.5]
        np.testing.assert_allclose(ce.data.p_true[0], sorted(p_true), rtol=2e-6)
        np.testing.assert_allclose(ce.data.terms[0], sorted(BINARY_LOSSES, reverse=True), rtol=2e-6)
        assert ce.data.mean[0] == pytest.approx(np.mean(BINARY_LOSSES), rel=2e-6)
        assert ce.data.loss[0] == pytest.approx(ce.data.mean[0], rel=1e-6)


@pytest.mark.parametrize("loss, labels", [
    ("categorical_crossentropy", "one-hot"),
    ("sparse_categorical_crossentropy", "integer"),
    (keras.losses.SparseCategoricalCrossentropy(), "integer"),
    ("crossentropy", "one-hot"),
])
def test_known_categorical_cross_entropy_values(tmp_path, loss, labels):
    model, x = _probability_model(CATEGORICAL_P, loss=loss)
    y = np.array(CATEGORICAL_Y)
    y = np.eye(3, dtype=np.float32)[y] if labels == "one-hot" else y
    filename, group = _record(tmp_path, model, x, y)
    with Replay(filename, group) as replay:
        np.testing.assert_allclose(replay.losses_at(0), CATEGORICAL_LOSSES, rtol=2e-6)
        import matplotlib.pyplot as plt

        ce = replay.build_cross_entropy(plt.subplots()[1])
        np.testing.assert_allclose(ce.data.terms[0], sorted(CATEGORICAL_LOSSES, reverse=True), rtol=2e-6)
        # Sorted by p of the true class (0.05, 0.25, 0.6, 0.7): samples 2, 1, 3, 0.
        np.testing.assert_array_equal(ce.data.order[0], [2, 1, 3, 0])
        np.testing.assert_array_equal(ce.data.classes[0], [0, 2, 2, 0])
        assert ce.data.mean[0] == pytest.approx(np.mean(CATEGORICAL_LOSSES), rel=2e-6)
        assert ce.data.loss[0] == pytest.approx(ce.data.mean[0], rel=1e-6)


@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse", keras.losses.BinaryCrossentropy()])
def test_an_output_of_shape_n_has_one_loss_per_sample_averaging_to_keras_loss(tmp_path, loss):
    """An output with no last axis ((n,), e.g. after Reshape(())) and targets (n,): Keras' loss averages over
    that axis; the recorded per-sample losses are one per sample, and their mean is Keras' evaluate."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid", name="d"),
                              keras.layers.Reshape((), name="flat")])
    model.compile(optimizer="sgd", loss=loss)
    filename = str(tmp_path / "flat.h5")
    ReplayData(X, LABELS2, filename, "flat", model=model)
    with Replay(filename, "flat") as replay:
        losses = replay.losses_at(0)
        assert losses.shape == (N,)
        assert float(np.mean(losses)) == pytest.approx(model.evaluate(X, LABELS2, batch_size=N, verbose=0), rel=1e-5)
        p = keras.ops.convert_to_numpy(model(X))[:, None]
        want = keras.ops.convert_to_numpy(keras.losses.get(getattr(loss, "name", loss))(LABELS2[:, None], p))
        np.testing.assert_allclose(losses, want, rtol=1e-5)


@pytest.mark.parametrize("kind", ["sequence", "segmentation"])
def test_a_loss_per_time_step_or_pixel_is_averaged_to_one_per_sample(tmp_path, kind):
    """A sequence output (n, T, 1) with MSE, or a segmentation output (n, H, W, 3) with sparse labels: Keras'
    loss has one value per step or pixel; the recorded per-sample losses are their mean per sample (as for
    several outputs), whose mean is Keras' evaluate."""
    L = keras.layers
    if kind == "sequence":
        x = RNG.normal(size=(N, 5, 2)).astype(np.float32)
        y = x.sum(-1, keepdims=True)
        model = keras.Sequential([keras.Input((5, 2)), L.SimpleRNN(3, return_sequences=True, name="rnn"),
                                  L.TimeDistributed(L.Dense(1), name="step")])
        model.compile(optimizer="sgd", loss="mse")
    else:
        x = RNG.normal(size=(N, 4, 4, 1)).astype(np.float32)
        y = (x[..., 0] > 0).astype(np.int64) + (x[..., 0] > 1)
        model = keras.Sequential([keras.Input((4, 4, 1)), L.Conv2D(3, 1, activation="softmax", name="seg")])
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy())
    filename = str(tmp_path / "steps.h5")
    ReplayData(x, y, filename, kind, model=model)
    with Replay(filename, kind) as replay:
        losses = replay.losses_at(0)
        assert losses.shape == (N,)
        assert float(np.mean(losses)) == pytest.approx(model.evaluate(x, y, batch_size=N, verbose=0), rel=1e-5)
        fn = keras.losses.mean_squared_error if kind == "sequence" else keras.losses.sparse_categorical_crossentropy
        want = keras.ops.convert_to_numpy(fn(y, model(x))).reshape(N, -1).mean(axis=1)
        np.testing.assert_allclose(losses, want, rtol=1e-5)


def test_a_loss_reduced_by_sum_is_recorded_per_sample_and_as_their_mean(tmp_path):
    """reduction='sum' (Keras' value then depends on the batch size): the per-sample losses are Keras'
    unreduced ones and the recorded loss is their mean, as the README says."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 3)).astype(np.float32)
    y = (X[:, :1] > 0).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(reduction="sum"))
    model.fit(X, y, epochs=1, batch_size=16, verbose=0, callbacks=[ReplayData(X, y, tmp_path / "sum.h5", "sum")])
    with Replay(tmp_path / "sum.h5", "sum") as replay:
        unreduced = keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(y, model(X)))
        np.testing.assert_allclose(replay.losses_at(1), unreduced, rtol=1e-5, atol=1e-7)
        assert replay.training_loss[-1] == pytest.approx(unreduced.mean(), rel=1e-5)
        assert model.evaluate(X, y, batch_size=32, verbose=0) == pytest.approx(unreduced.sum(), rel=1e-5)



def _masked_sequence_record(directory, loss, **options):
    """A padded-sequence model whose output per step carries a Keras mask, recorded untrained
    (``Masking``, or ``Embedding(mask_zero=True)`` for sparse labels); returns what to compare with Keras:
    the recorded per-sample losses and the masked mean per sample expected, the recorded loss and metric
    and ``evaluate``'s."""
    L = keras.layers
    rng = np.random.default_rng(3)
    lengths = np.arange(N) % 5 + 2
    steps = np.arange(6)[None, :] < lengths[:, None]
    if loss == "sparse_categorical_crossentropy":
        x = np.where(steps, rng.integers(1, 9, size=(N, 6)), 0).astype(np.int32)
        y = (x % 3).astype(np.int64)
        body = [keras.Input((6,), dtype="int32"), L.Embedding(9, 3, mask_zero=True, name="embed"),
                L.Dense(3, activation="softmax", name="out")]
        fn, metric = keras.losses.sparse_categorical_crossentropy, "accuracy"
    else:
        x = np.where(steps[..., None], rng.normal(size=(N, 6, 2)), 0.0).astype(np.float32)
        y = rng.normal(size=(N, 6, 2)).astype(np.float32)
        body = [keras.Input((6, 2)), L.Masking(0.0, name="mask"), L.Dense(3, activation="tanh", name="step"),
                L.Dense(2, name="out")]
        fn, metric = keras.losses.mean_squared_error, "mae"
    keras.utils.set_random_seed(0)
    model = keras.Sequential(body)
    model.compile(optimizer="adam", loss=keras.losses.MeanSquaredError() if loss == "MeanSquaredError" else loss,
                  metrics=[metric])
    filename = os.path.join(str(directory), f"masked_{loss}.h5")
    ReplayData(x, y, filename, "run", model=model, **options)
    unreduced = keras.ops.convert_to_numpy(fn(y, model(x)))  # (n, steps)
    evaluated = model.evaluate(x, y, batch_size=N, verbose=0, return_dict=True)
    with Replay(filename, "run") as replay:
        return {"losses": replay.losses_at(0).tolist(),
                "want": ((unreduced * steps).mean(axis=1) * steps.size / steps.sum()).tolist(),
                "loss": float(replay.training_loss[0]), "evaluated_loss": float(evaluated["loss"]),
                "metric": float(replay.get_training_metric(metric)[0]), "evaluated_metric": float(evaluated[metric])}


MASKED_LOSSES = ["mse", "MeanSquaredError", "sparse_categorical_crossentropy"]


def _check_masked(found):
    np.testing.assert_allclose(found["losses"], found["want"], rtol=1e-5, atol=1e-7)
    assert found["loss"] == pytest.approx(found["evaluated_loss"], rel=1e-5)
    assert found["metric"] == pytest.approx(found["evaluated_metric"], rel=1e-5)


@pytest.mark.parametrize("loss", MASKED_LOSSES)
def test_a_masked_sequence_output_weighs_its_steps_as_keras_does(tmp_path, loss):
    """Padded sequences behind Masking (or Embedding(mask_zero=True)) with an output per step: Keras' loss
    leaves the masked steps out (the others weigh size/valid). The per-sample losses did not even compute
    ('Incompatible shapes: [16] vs. [16,6]' refused the targets); now they leave those steps out too, and their
    mean is Keras' loss on the recorded samples, as is the recorded 'mae' or 'accuracy' (JAX and PyTorch:
    test_zoo's masked_sequence case)."""
    _check_masked(_masked_sequence_record(tmp_path, loss))


def test_a_masked_output_computed_in_parts_keeps_keras_weights_over_all_the_recorded_samples(tmp_path):
    """Beyond gradient_samples the recording step computes the samples in parts (the gradient rows, then the
    rest): each part weighed its valid steps by its own size/valid, so the losses drifted from Keras' (1e-4
    relative on 2,600 samples); the weight over all the recorded samples is given to every part."""
    found = _masked_sequence_record(tmp_path, "mse", gradient_samples=5)
    _check_masked(found)


def test_binary_crossentropy_misfit_names_targets_outside_0_1_and_the_way_out():
    from deepreplay.losses import binary_crossentropy_misfit

    assert binary_crossentropy_misfit(np.array([0, 1, 1]), "binary_crossentropy") is None
    assert binary_crossentropy_misfit(np.array([0.2, 0.9]), "bce") is None  # probabilities are targets too
    assert binary_crossentropy_misfit(np.array([True, False]), "binary_crossentropy") is None
    assert binary_crossentropy_misfit(np.array([1, 2]), "mse") is None  # a regression's values
    said = binary_crossentropy_misfit(np.array([[1], [2], [2]]), "binary_crossentropy")
    assert said.startswith("the targets run from 1 to 2, outside the 0/1 labels") and said.endswith("give y - 1")
    assert "(y + 1) / 2" in binary_crossentropy_misfit(np.array([-1.0, 1.0]), "binary_focal_crossentropy")
    assert "from 0 to 3.5" in binary_crossentropy_misfit(np.array([0.0, 3.5]), "bce")


def test_sparse_label_misfit_names_labels_outside_the_classes_and_the_way_out():
    from deepreplay.losses import sparse_label_misfit

    assert sparse_label_misfit(np.array([0, 1, 2]), "sparse_categorical_crossentropy", 3) is None
    assert sparse_label_misfit(np.array([1, 2, 3]), "categorical_crossentropy", 3) is None
    assert sparse_label_misfit(np.array([1, 2, 3]), "sparse_categorical_crossentropy", None) is None
    said = sparse_label_misfit(np.array([1, 2, 3]), "sparse_categorical_crossentropy", 3)
    assert said.startswith("the labels run from 1 to 3, but the 3 outputs of the model are classes 0 to 2")
    assert said.endswith("give y - 1")
    assert sparse_label_misfit(np.array([0, 5]), "sparse_categorical_crossentropy", 3).endswith("give labels 0 to 2")
