"""ReplayData for runs that outgrow one device (issue 18): records every N steps, and the chief choice.

Step-based records are checked against the model itself: a test callback
snapshots the weights, predictions and per-sample losses at every training
step, and the replay at step s must give exactly those.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_tiny_model, tiny_data

from deepreplay import _backend, cli
from deepreplay.callbacks import ReplayData
from deepreplay.replay import Replay
from deepreplay.storage import RecordingReader

BATCH = 8
EPOCHS = 3
EVERY_STEPS = 5


class _StepSnapshots:
    """A Keras callback keeping, per global step, the model's weights, predictions, losses and batch logs."""

    def __new__(cls, X, y):
        import keras

        class Snapshots(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.at, self.step, self.logs = {}, 0, {}

            def _take(self):
                p = self.model(X, training=False)
                losses = keras.losses.binary_crossentropy(y, p)
                self.at[self.step] = {
                    "weights": {layer.name: [np.array(w) for w in layer.get_weights()] for layer in self.model.layers},
                    "predictions": keras.ops.convert_to_numpy(p),
                    "losses": keras.ops.convert_to_numpy(losses),
                }

            def on_train_begin(self, logs=None):
                self._take()

            def on_train_batch_end(self, batch, logs=None):
                self.step += 1
                self.logs[self.step] = dict(logs or {})
                self._take()

        return Snapshots()


@pytest.fixture(scope="module")
def step_recording(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(1)
    X, y = tiny_data()
    filename = str(tmp_path_factory.mktemp("steps") / "steps.h5")
    model = make_tiny_model()
    snapshots = _StepSnapshots(X, y)
    model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, verbose=0,
              callbacks=[ReplayData(X, y, filename, "steps", every_steps=EVERY_STEPS), snapshots])
    return filename, X, y, snapshots


def test_records_every_n_steps_equal_the_model_at_those_steps(step_recording):
    filename, X, y, snapshots = step_recording
    steps_per_epoch = -(-len(X) // BATCH)
    total = EPOCHS * steps_per_epoch
    assert snapshots.step == total
    expected = sorted(set(range(0, total + 1, EVERY_STEPS)) | {total})
    with RecordingReader(filename, "steps") as r:
        assert r.record_unit == "step"
        np.testing.assert_array_equal(r.steps, expected)
        np.testing.assert_array_equal(r.epochs, expected)
        np.testing.assert_allclose(r.epoch_fractions, np.array(expected) / steps_per_epoch, rtol=1e-12)
        assert r.attrs["every_steps"] == EVERY_STEPS
        np.testing.assert_allclose(r.log("loss")[1:-1], [snapshots.logs[s]["loss"] for s in expected[1:-1]],
                                   rtol=1e-6)
    with Replay(filename, "steps") as replay:
        assert replay.record_unit == "step"
        np.testing.assert_array_equal(replay.epochs, expected)
        for step in expected:
            snap = snapshots.at[step]
            weights = replay.weights_at(step)
            for layer, values in snap["weights"].items():
                recorded = [weights[layer][name] for name in ("kernel", "bias")]
                for got, want in zip(recorded, values, strict=True):
                    np.testing.assert_array_equal(got, want, err_msg=f"{layer} at step {step}")
            np.testing.assert_allclose(replay.predictions_at(step), snap["predictions"], rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(replay.losses_at(step), snap["losses"], rtol=1e-5, atol=1e-6)
        # the weights really move between the recorded steps
        assert not np.allclose(snapshots.at[expected[1]]["weights"]["hidden"][0],
                               snapshots.at[expected[-1]]["weights"]["hidden"][0])


def test_steps_per_execution_records_are_labelled_with_the_steps_done(tmp_path):
    """steps_per_execution=3 on 4 batches per epoch: Keras reports the epoch's last execution as ending at step
    6 though 4 were done; the records carry the optimizer's true step count, and its weights."""
    import keras

    keras.utils.set_random_seed(0)
    X, y = tiny_data(16)  # 32 samples: 4 batches of 8
    model = make_tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", steps_per_execution=3)
    at = {}

    class ByIteration(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            at[int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))] = self.model.get_weights()

    filename = str(tmp_path / "spe.h5")
    model.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[ReplayData(X, y, filename, "spe", every_steps=2),
                                                                  ByIteration()])
    assert sorted(at) == [3, 4, 7, 8]
    with Replay(filename, "spe") as replay:
        assert list(replay.epochs) == [0, 3, 4, 7, 8]
        np.testing.assert_allclose(replay.epoch_fractions, [0, 0.75, 1, 1.75, 2])
        for step in [3, 4, 7, 8]:
            weights = replay.weights_at(step)
            recorded = [weights[layer.name][key] for layer in model.layers for key in ("kernel", "bias")]
            for got, want in zip(recorded, at[step], strict=True):
                np.testing.assert_array_equal(got, want, err_msg=f"step {step}")


def test_visuals_cli_and_slider_label_frames_by_step(step_recording, tmp_path, capsys):
    import matplotlib.pyplot as plt

    from deepreplay.plot import compose_animations, compose_plots

    filename, X, _, _ = step_recording
    with Replay(filename, "steps") as replay:
        fig, axs = plt.subplots(1, 2, figsize=(8, 3.5))
        fs = replay.build_feature_space(axs[0], "hidden", contour_points=30)
        lm = replay.build_loss_and_metric(axs[1], "accuracy")
        compose_plots([fs, lm], EVERY_STEPS * 2, title="steps")
        assert fig._suptitle.get_text() == f"steps - Step: {EVERY_STEPS * 2}"
        assert axs[1].get_xlabel() == "Step"
        fig.savefig(tmp_path / "step_frame.png", dpi=60)
        anim = compose_animations([fs, lm])
        anim._update_epoch(EVERY_STEPS)
        assert fig._suptitle.get_text() == f"Step: {EVERY_STEPS}"
        pytest.importorskip("ipywidgets")
        from deepreplay.plot.widgets import epoch_slider

        box = epoch_slider([fs, lm], play=False, dpi=30)
        assert box.children[0].children[-1].description == "Step"
    code = cli.main(["info", filename])
    out = capsys.readouterr().out
    assert code == 0
    total = EPOCHS * -(-len(X) // BATCH)
    n_records = len(set(range(0, total + 1, EVERY_STEPS)) | {total})
    assert f"steps recorded  : {n_records} (0, {EVERY_STEPS}, " in out and f"{total}, epochs 0..{EPOCHS})" in out


def test_plotters_built_directly_from_a_step_recording_label_frames_by_step(step_recording, replay):
    import matplotlib.pyplot as plt

    from deepreplay.plot import FeatureSpace, GradientFlow, LayerDistributions, LossAndMetric, LossHistogram

    filename, _, _, _ = step_recording
    with Replay(filename, "steps") as steps:
        step = EVERY_STEPS * 2
        for build in (lambda ax: LossAndMetric.from_replay(steps, ax, "accuracy"),
                      lambda ax: GradientFlow.from_replay(steps, ax),
                      lambda ax: FeatureSpace.from_replay(steps, ax, "hidden", contour_points=20),
                      lambda ax: LayerDistributions.from_replay(replay=steps, ax=ax, quantity="weights"),
                      lambda ax: LossHistogram.from_replay(steps, ax)):
            fig, ax = plt.subplots()
            visual = build(ax)
            assert visual.frame_unit == "step", type(visual).__name__
            visual.plot(step)
            assert fig._suptitle.get_text() == f"Step: {step}", type(visual).__name__
            if isinstance(visual, (LossAndMetric, GradientFlow)):
                assert ax.get_xlabel() == "Step"
            plt.close(fig)
    # An epoch-based recording still says "Epoch".
    fig, ax = plt.subplots()
    visual = LossAndMetric.from_replay(replay, ax, "accuracy")
    visual.plot(int(replay.epochs[-1]))
    assert visual.frame_unit == "epoch" and ax.get_xlabel() == "Epoch"
    assert fig._suptitle.get_text() == f"Epoch: {int(replay.epochs[-1])}"


def test_runs_compared_on_one_axes_are_drawn_against_steps(step_recording, tiny_recording):
    import matplotlib.pyplot as plt

    from deepreplay.plot import compare_loss_and_metric

    filename, *_ = step_recording
    with Replay(filename, "steps") as steps, Replay(tiny_recording[0], tiny_recording[1]) as epochs:
        fig, axs = plt.subplots(1, 2)
        by_step = compare_loss_and_metric(axs[0], [steps, steps], "accuracy", names=["a", "b"])
        by_epoch = compare_loss_and_metric(axs[1], [epochs, epochs], "accuracy", names=["a", "b"])
        by_step.plot(EVERY_STEPS)
        by_epoch.plot(1)
        assert axs[0].get_xlabel() == "Step"
        assert axs[1].get_xlabel() == "Epoch"


def test_epoch_based_recordings_stay_epoch_based(tiny_recording):
    filename, group, _, _ = tiny_recording
    with RecordingReader(filename, group) as r:
        assert r.record_unit == "epoch" and r.steps is None
        np.testing.assert_array_equal(r.epoch_fractions, r.epochs.astype(float))


def test_every_steps_arguments_are_checked(tmp_path):
    X, y = tiny_data(20)
    with pytest.raises(ValueError, match="every_steps=0"):
        ReplayData(X, y, tmp_path / "a.h5", "a", every_steps=0)
    with pytest.raises(ValueError, match="every=2 and every_steps=3"):
        ReplayData(X, y, tmp_path / "a.h5", "a", every=2, every_steps=3)
    with pytest.raises(TypeError, match="chief='yes'"):
        ReplayData(X, y, tmp_path / "a.h5", "a", chief="yes")


# -- the chief ------------------------------------------------------------------------------------------
def _tf_config(task_type, index, chief=False):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    if chief:
        cluster["chief"] = ["127.0.0.1:3"]
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def test_the_chief_is_chosen_as_tensorflow_does(monkeypatch):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TF_CONFIG is read on the TensorFlow backend")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert _backend.is_chief() is True  # one process
    for config, chief in [(_tf_config("worker", 0), True), (_tf_config("worker", 1), False),
                          (_tf_config("worker", 0, chief=True), False), (_tf_config("chief", 0, chief=True), True),
                          (_tf_config("evaluator", 0), False), (_tf_config("ps", 0), False)]:
        monkeypatch.setenv("TF_CONFIG", config)
        assert _backend.is_chief() is chief, config
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        _backend.is_chief()


def test_a_worker_that_is_not_the_chief_opens_no_file_and_computes_nothing(monkeypatch, tmp_path):
    import keras

    X, y = tiny_data(32)
    if keras.backend.backend() == "tensorflow":
        monkeypatch.setenv("TF_CONFIG", _tf_config("worker", 1))
        automatic = ReplayData(X, y, tmp_path / "auto.h5", "run")
    else:
        automatic = None
    told = ReplayData(X, y, tmp_path / "missing_dir" / "told.h5", "run", chief=False)  # no directory check
    forced = ReplayData(X, y, tmp_path / "forced.h5", "run", chief=True)
    callbacks = [told, forced] + ([automatic] if automatic else [])
    model = make_tiny_model()
    history = model.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)
    assert len(history.history["loss"]) == 2
    for rd in [told] + ([automatic] if automatic else []):
        assert rd.is_chief is False
        assert rd._step is None and rd._probe is None  # nothing compiled, nothing computed
        assert not (tmp_path / "auto.h5").exists() and not (tmp_path / "missing_dir").exists()
    assert forced.is_chief is True  # TF_CONFIG says worker 1, chief=True records anyway
    with RecordingReader(tmp_path / "forced.h5", "run") as r:
        assert r.n_records == 3 and r.complete
