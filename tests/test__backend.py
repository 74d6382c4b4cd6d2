"""Tests for deepreplay._backend's compiled recording step and call (TensorFlow, the test backend).

The compiled functions must give the values of the eager computation for the
model's *current* weights (nothing baked in when tracing), fall back on eager
when a loss cannot be traced, and leave the model alone.  The other backends'
compiled paths run in ``tests/test_backends.py`` (every record there is checked
against computations written independently).
"""

import warnings

import keras
import numpy as np
import pytest

from deepreplay import _backend
from deepreplay.losses import per_sample_loss

RNG = np.random.default_rng(3)
X = RNG.normal(size=(40, 2)).astype(np.float32)
Y = (X[:, :1] * X[:, 1:] > 0).astype(np.float32)


def _model(*, run_eagerly=False, loss="binary_crossentropy"):
    keras.utils.set_random_seed(5)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(3, activation="tanh", name="hidden", kernel_regularizer=keras.regularizers.L2(0.01)),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    model.compile(optimizer="sgd", loss=loss, run_eagerly=run_eagerly)
    return model


def _assert_same(got, expected):
    (p, l, g), (p0, l0, g0) = got, expected
    np.testing.assert_allclose(p, p0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(l, l0, rtol=1e-5, atol=1e-6)
    assert len(g) == len(g0)
    for a, b in zip(g, g0):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_compiled_step_equals_the_eager_step_and_follows_new_weights():
    model = _model()
    loss_fn = per_sample_loss(model)
    step = _backend.CompiledStep(model, loss_fn, X, Y, with_gradients=True)
    before = [v.numpy().copy() for v in model.weights]
    _assert_same(step(), _backend.forward_with_gradients(model, loss_fn, X, Y, with_gradients=True))
    assert step.compiled
    # New weights after tracing: the compiled step reads the variables, it did not keep their values.
    model.get_layer("hidden").set_weights([2 * before[0], before[1] + 0.5])
    _assert_same(step(), _backend.forward_with_gradients(model, loss_fn, X, Y, with_gradients=True))
    # The regularisation loss is in the gradients: d(0.01 * sum(W**2))/dW = 0.02 * W on the hidden kernel.
    import tensorflow as tf

    with tf.GradientTape() as tape:
        data_loss = keras.ops.mean(loss_fn(Y, model(X, training=False)))
    data_grad = tape.gradient(data_loss, model.weights[0].value).numpy()
    np.testing.assert_allclose(step()[2][0], data_grad + 0.02 * model.weights[0].numpy(), rtol=1e-4, atol=1e-6)
    # The step itself changed nothing.
    np.testing.assert_array_equal(model.weights[0].numpy(), 2 * before[0])


def test_a_model_named_with_an_underscore_is_recorded_by_the_compiled_step():
    # Keras names `class _Net` "__net": at the root of a traced function TensorFlow refused that scope,
    # so the step fell back on eager execution and left the scope open (see the conftest guard).
    inp = keras.Input((2,))
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(keras.layers.Dense(2, name="h")(inp))
    model = keras.Model(inp, out, name="__net")
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    loss_fn = per_sample_loss(model)
    step = _backend.CompiledStep(model, loss_fn, X, Y, with_gradients=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "recording eagerly" warning
        values = step()
    assert step.compiled
    _assert_same(values, _backend.forward_with_gradients(model, loss_fn, X, Y, with_gradients=True))


def test_compiled_step_without_gradients():
    model = _model()
    loss_fn = per_sample_loss(model)
    predictions, losses, grads = _backend.CompiledStep(model, loss_fn, X, Y, with_gradients=False)()
    assert grads is None
    np.testing.assert_allclose(predictions, model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    assert losses.shape == (len(X),)


def test_compiled_step_with_nothing_trainable_returns_no_gradients():
    model = _model()
    model.trainable = False
    predictions, _, grads = _backend.CompiledStep(model, per_sample_loss(model), X, Y, with_gradients=True)()
    assert grads == []
    assert predictions.shape == (len(X), 1)


def _numpy_only_loss(y_true, y_pred):
    # Converts a tensor to NumPy: works eagerly, cannot be traced into a graph.
    return keras.ops.convert_to_tensor(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2, axis=-1))


def test_compiled_step_falls_back_on_eager_with_a_warning():
    model = _model(loss=_numpy_only_loss)
    loss_fn = per_sample_loss(model)
    step = _backend.CompiledStep(model, loss_fn, X, Y, with_gradients=False)
    with pytest.warns(UserWarning, match="could not compile its recording step.*records eagerly"):
        predictions, losses, _ = step()
    assert not step.compiled
    expected = np.mean((Y - model.predict(X, verbose=0)) ** 2, axis=-1)
    np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step()  # the warning is given once


def test_a_model_compiled_to_run_eagerly_is_recorded_eagerly():
    model = _model(run_eagerly=True)
    loss_fn = per_sample_loss(model)
    step = _backend.CompiledStep(model, loss_fn, X, Y, with_gradients=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = step()
    assert not step.compiled
    _assert_same(got, _backend.forward_with_gradients(model, loss_fn, X, Y, with_gradients=True))


def test_compiled_call_assigns_its_ties_before_each_call():
    inp = keras.Input((2,))
    layer = keras.layers.Dense(2, name="d")
    twin = keras.layers.Dense(2, name="twin")
    model = keras.Model(inp, [layer(inp), twin(inp)])
    call = _backend.CompiledCall(model, X, ties=list(zip(twin.weights, layer.weights)))
    out, twin_out = call()
    assert call.compiled
    np.testing.assert_allclose(twin_out, out, rtol=1e-6)
    layer.set_weights([np.eye(2, dtype=np.float32), np.ones(2, np.float32)])
    out, twin_out = call()
    np.testing.assert_allclose(out, X + 1, rtol=1e-6)
    np.testing.assert_allclose(twin_out, X + 1, rtol=1e-6)


def test_compiled_call_of_a_model_named_with_an_underscore_leaves_no_name_scope_open():
    # Keras names `class _Net` "__net"; TensorFlow refuses that name for a root scope. The tied call
    # once failed there after Keras had pushed the scope, which then prefixed every variable made later
    # in the thread ("__net/dense/kernel"): a model rebuilt to replay then found none of its weights.
    inp = keras.Input((2,))
    layer = keras.layers.Dense(2, name="d")
    twin = keras.layers.Dense(2, name="twin")
    model = keras.Model(inp, [layer(inp), twin(inp)], name="__net")
    call = _backend.CompiledCall(model, X, ties=list(zip(twin.weights, layer.weights)))
    out, twin_out = call()
    assert call.compiled
    np.testing.assert_allclose(twin_out, out, rtol=1e-6)
    later = keras.layers.Dense(1, name="later")
    later.build((None, 2))
    assert later.kernel.path == "later/kernel"


def _numpy_only_metric(y_true, y_pred):
    # Like _numpy_only_loss: runs eagerly, cannot be traced.
    return keras.ops.convert_to_tensor(np.mean(np.abs(np.asarray(y_true) - np.asarray(y_pred)), axis=-1))


def test_compiled_step_evaluates_metrics_and_reads_variables_in_its_call():
    model = _model()
    metrics = [keras.metrics.BinaryAccuracy(), keras.metrics.MeanSquaredError()]
    step = _backend.CompiledStep(model, per_sample_loss(model), X, Y, with_gradients=True, metrics=metrics,
                                 read=model.weights)
    metrics[0].update_state(Y, np.zeros_like(Y))  # a state the step must neither start from nor change
    state = [v.numpy().copy() for v in metrics[0].variables]
    model.get_layer("hidden").kernel.assign(model.get_layer("hidden").kernel * 3)  # after building the step
    out = step.record()
    assert step.compiled
    p = model.predict(X, verbose=0)
    expected = [np.mean((p > 0.5) == Y), np.mean((p - Y) ** 2)]
    np.testing.assert_allclose(out.metrics, expected, rtol=1e-5)
    for value, variable in zip(out.values, model.weights, strict=True):
        np.testing.assert_array_equal(value, variable.numpy())
    for _ in range(2):
        out = step.record()
    np.testing.assert_allclose(out.metrics, expected, rtol=1e-5)
    for value, before in zip(metrics[0].variables, state, strict=True):
        np.testing.assert_array_equal(value.numpy(), before)
    assert len(step()) == 3  # calling it still gives (predictions, losses, gradients)


def test_a_metric_that_cannot_be_compiled_is_left_to_the_caller_and_the_step_stays_compiled():
    model = _model()
    metric = keras.metrics.MeanMetricWrapper(_numpy_only_metric, name="numpy_mae")
    step = _backend.CompiledStep(model, per_sample_loss(model), X, Y, with_gradients=True, metrics=[metric])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = step.record()
    assert step.compiled and out.metrics is None and out.gradients


def test_compiled_step_runs_another_compiled_call_in_its_call():
    model = _model()
    probe = keras.Model(model.inputs[0], [model.get_layer("hidden").output, model.get_layer("output").output])
    also = _backend.CompiledCall(probe, X[:7])
    step = _backend.CompiledStep(model, per_sample_loss(model), X, Y, with_gradients=True, also=also)
    model.get_layer("hidden").kernel.assign(model.get_layer("hidden").kernel * 2)  # after building the step
    out = step.record()
    assert step.compiled and step.runs_also and out.also is not None
    for got, expected in zip(out.also, also(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out.also[1], model.predict(X[:7], verbose=0), rtol=1e-5, atol=1e-6)


class _EagerOnly(keras.layers.Layer):
    """A layer that cannot be traced into a graph."""

    def call(self, t):
        import tensorflow as tf

        if not tf.executing_eagerly():
            raise RuntimeError("runs eagerly only")
        return t * 2.0

    def compute_output_shape(self, shape):
        return shape


def test_a_call_that_cannot_be_traced_is_left_to_the_caller_and_the_step_stays_compiled():
    model = _model()
    inputs = keras.Input((2,))
    probe = keras.Model(inputs, _EagerOnly()(inputs))
    step = _backend.CompiledStep(model, per_sample_loss(model), X, Y, with_gradients=True,
                                 also=_backend.CompiledCall(probe, X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = step.record()
    assert step.compiled and not step.runs_also and out.also is None and out.gradients
