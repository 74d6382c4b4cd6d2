"""The canonical demo: steps_per_execution changes the speed of the Part 1 fit, not the recording."""

import numpy as np

from deepreplay.demo import PART1_STEPS_PER_EXECUTION, record_part1
from deepreplay.replay import Replay


def test_steps_per_execution_records_the_same_run(tmp_path):
    assert PART1_STEPS_PER_EXECUTION > 1
    filename = str(tmp_path / "part1.h5")
    record_part1(filename, "one_step", epochs=2, steps_per_execution=1, progress=False)
    record_part1(filename, "batched", epochs=2, progress=False)
    with Replay(filename, "one_step") as one, Replay(filename, "batched") as batched:
        assert list(one.epochs) == list(batched.epochs) == [0, 1, 2]
        for epoch in (1, 2):
            w1, w2 = one.weights_at(epoch), batched.weights_at(epoch)
            assert w1.keys() == w2.keys()
            for layer in w1:
                for name in w1[layer]:
                    np.testing.assert_allclose(w2[layer][name], w1[layer][name], rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(batched.predictions_at(epoch), one.predictions_at(epoch), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batched.training_loss, one.training_loss, rtol=1e-6)
        # the updates moved the weights: the comparison is not between two untrained models
        assert not np.allclose(one.weights_at(2)["hidden"]["kernel"], one.weights_at(0)["hidden"]["kernel"])


def test_the_demo_fit_makes_the_updates_of_a_plain_keras_fit(tmp_path):
    """record_part1 gives Keras steps_per_epoch and steps_per_execution: the weights are those of a
    plain fit (one batch per call, Keras working out the epoch's batches itself), bit for bit."""
    import keras

    from deepreplay.datasets import parabola
    from deepreplay.demo import PART1_BATCH_SIZE, PART1_SEED, build_part1_model

    filename = str(tmp_path / "part1.h5")
    record_part1(filename, "demo", epochs=3, progress=False)
    keras.utils.set_random_seed(PART1_SEED)
    X, y = parabola.load_data()
    model = build_part1_model("sigmoid", steps_per_execution=1)
    model.fit(X, y, epochs=3, batch_size=PART1_BATCH_SIZE, verbose=0)
    with Replay(filename, "demo") as replay:
        recorded = replay.weights_at(3)
    for layer in ("hidden", "output"):
        kernel, bias = model.get_layer(layer).get_weights()
        np.testing.assert_allclose(recorded[layer]["kernel"], kernel, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(recorded[layer]["bias"], bias, rtol=1e-6, atol=1e-7)
