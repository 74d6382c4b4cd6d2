"""Tests for deepreplay.metrics: which compiled metrics are Keras' binary accuracy, read from a stored config."""

import json

import keras
import pytest

from deepreplay.metrics import binary_accuracy_metrics


def _config(metrics, weighted=None, outputs=("out",)):
    inputs = keras.Input((2,))
    outs = [keras.layers.Dense(1, name=name)(inputs) for name in outputs]
    model = keras.Model(inputs, outs if len(outs) > 1 else outs[0])
    model.compile(optimizer="sgd", loss=["hinge"] * len(outs) if len(outs) > 1 else "hinge", metrics=metrics,
                  weighted_metrics=weighted)
    return model.to_json(), list(outputs)


@pytest.mark.parametrize("metrics, one_unit, expected", [
    (["accuracy"], True, {"accuracy": 0.5}),
    (["acc"], True, {"acc": 0.5}),
    (["accuracy"], False, {}),  # several units: Keras resolves it to a categorical accuracy
    (["binary_accuracy", "mae"], True, {"binary_accuracy": 0.5}),
    ([keras.metrics.BinaryAccuracy(threshold=0, name="acc0"), keras.metrics.AUC()], True, {"acc0": 0.0}),
    ([keras.metrics.BinaryAccuracy()], True, {"binary_accuracy": 0.5}),
    ([keras.metrics.CategoricalAccuracy()], True, {}),
])
def test_binary_accuracies_are_found_with_their_threshold(metrics, one_unit, expected):
    config, outputs = _config(metrics)
    assert binary_accuracy_metrics(config, "out", outputs, one_unit=one_unit) == expected


def test_weighted_and_per_output_binary_accuracies_get_keras_log_names():
    config, outputs = _config(["accuracy"], weighted=["accuracy"])
    assert binary_accuracy_metrics(config, "out", outputs, one_unit=True) == \
        {"accuracy": 0.5, "weighted_accuracy": 0.5}
    config, outputs = _config({"a": ["mae"], "b": [keras.metrics.BinaryAccuracy(threshold=0.2)]}, outputs=("a", "b"))
    assert binary_accuracy_metrics(config, "a", outputs, one_unit=True) == {}
    assert binary_accuracy_metrics(config, "b", outputs, one_unit=True) == {"b_binary_accuracy": 0.2}
    assert binary_accuracy_metrics("not json", "a", outputs, one_unit=True) == {}
    assert binary_accuracy_metrics(json.dumps({"config": {}}), "a", outputs, one_unit=True) == {}
