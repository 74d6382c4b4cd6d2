"""Per-sample weights from ``class_weight``: Keras 3's own rule, on every target encoding it accepts."""

import numpy as np
import pytest
from keras.src.trainers.data_adapters.data_adapter_utils import class_weight_to_sample_weights

from deepreplay import weighting


@pytest.mark.parametrize("encoding", ["int", "float", "column", "one_hot", "probabilities", "binary_probability"])
def test_class_sample_weights_are_those_keras_derives(encoding):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=50)
    targets = {
        "int": labels,
        "float": labels.astype("float32"),
        "column": labels.reshape(-1, 1),
        "one_hot": np.eye(4, dtype="float32")[labels],
        "probabilities": rng.dirichlet(np.ones(4), size=50).astype("float32"),
        "binary_probability": rng.random((50, 1)).astype("float32"),
    }[encoding]
    class_weight = {0: 0.5, 1: 2.0, 3: 7.0}  # class 2 is missing: weight 1
    ours = weighting.class_sample_weights(weighting.check_class_weight(class_weight), targets)
    np.testing.assert_array_equal(ours, class_weight_to_sample_weights(targets, class_weight))
    assert ours.dtype == np.float32 and len(set(ours.tolist())) > 1


def test_numpy_keys_and_weights_are_accepted_and_the_range_is_checked():
    checked = weighting.check_class_weight({np.int64(0): np.float32(2.0), 1: 3})
    assert checked == {0: 2.0, 1: 3.0} and all(type(k) is int for k in checked)
    weighting.check_class_range(checked, 2)
    with pytest.raises(ValueError, match=r"class indices \[1\], but the model has 1 classes"):
        weighting.check_class_range(checked, 1)
    with pytest.raises(TypeError, match=r"class_weight\[0\]='a' must be a number"):
        weighting.check_class_weight({0: "a"})
    with pytest.raises(ValueError, match=r"class_weight\[0\]=nan; give finite weights >= 0"):
        weighting.check_class_weight({0: float("nan")})
    with pytest.raises(TypeError, match=r"class_weight has the key True \(bool\)"):
        weighting.check_class_weight({True: 1.0})
