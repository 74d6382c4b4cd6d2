"""DeepReplay 0.1 recordings: opened by Replay(..., model_filename=...), converted by `deepreplay convert`.

The fixture (tests/fixtures/deepreplay-0.1.2a2, MIT, see its README and LICENSE) is
the original package's own test recording (Part 1 network, 20 epochs, 2,000
samples) with its Keras 2.2 model file.
"""

import os
import shutil
from pathlib import Path

import h5py
import matplotlib.pyplot as plt
import numpy as np
import pytest

from deepreplay import cli, legacy, storage
from deepreplay.plot import compose_plots
from deepreplay.replay import Replay

OLD_DIR = Path(__file__).resolve().parent / "fixtures" / "deepreplay-0.1.2a2"
OLD = OLD_DIR / "hyperparms_in_action.h5"
MODEL = OLD_DIR / "part1_activation_functions_model.h5"
GROUP = "part1_activation_functions"
N_EPOCHS = 20


def recorded_weights():
    """The file's own arrays, read with plain h5py: [(W0, b0), (W1, b1)], each (21, ...)."""
    with h5py.File(OLD, "r") as f:
        g = f[GROUP]
        return [(g[f"layer{i}/weights0"][()], g[f"layer{i}/weights1"][()]) for i in range(2)]


def numpy_forward(X, weights, epoch):
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    (W0, b0), (W1, b1) = weights
    hidden = sigmoid(X @ W0[epoch].astype(np.float64) + b0[epoch])
    return sigmoid(hidden @ W1[epoch].astype(np.float64) + b1[epoch])


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    path = tmp_path_factory.mktemp("legacy") / "converted.h5"
    assert legacy.convert(OLD, GROUP, path, model_filename=MODEL) == GROUP
    return path


@pytest.fixture(scope="module")
def replays(converted):
    opened = Replay(replay_filename=str(OLD), group_name=GROUP, model_filename=str(MODEL))
    from_file = Replay(converted, GROUP)
    yield {"model_filename": opened, "converted": from_file}
    temp = opened.replay_filename
    opened.close()
    from_file.close()
    assert not os.path.exists(temp)  # the temporary conversion is removed on close


@pytest.mark.parametrize("which", ["model_filename", "converted"])
def test_weights_equal_the_file_at_every_epoch(replays, which):
    replay = replays[which]
    weights = recorded_weights()
    assert replay.epochs.tolist() == list(range(N_EPOCHS + 1))
    assert replay.layer_names == ["hidden", "output"]
    for epoch in range(N_EPOCHS + 1):
        at = replay.weights_at(epoch)
        for name, (W, b) in zip(("hidden", "output"), weights):
            np.testing.assert_array_equal(at[name]["kernel"], W[epoch])
            np.testing.assert_array_equal(at[name]["bias"], b[epoch])


@pytest.mark.parametrize("which", ["model_filename", "converted"])
def test_predictions_and_losses_equal_a_numpy_forward_pass(replays, which):
    replay = replays[which]
    weights = recorded_weights()
    X = replay.inputs.astype(np.float64)
    y = replay.targets.astype(np.float64)
    stacked = replay.predict_proba()
    assert stacked.shape == (N_EPOCHS + 1, 2000, 1)
    for epoch in range(N_EPOCHS + 1):
        p = numpy_forward(X, weights, epoch)
        np.testing.assert_allclose(stacked[epoch], p, atol=2e-6)
        np.testing.assert_allclose(replay.predict_proba(X=X[:50], epoch=epoch), p[:50], atol=2e-6)
        bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).ravel()
        np.testing.assert_allclose(replay.losses_at(epoch), bce, rtol=1e-4, atol=1e-5)


def test_conversion_keeps_the_logs_and_metadata(replays):
    replay = replays["converted"]
    with h5py.File(OLD, "r") as f:
        loss, acc, lr = (f[GROUP][k][()] for k in ("loss", "acc", "lr"))
    np.testing.assert_allclose(replay.get_log("loss")[1:], loss)
    np.testing.assert_allclose(replay.get_log("acc")[1:], acc)
    np.testing.assert_allclose(replay.learning_rate[1:], lr)
    assert np.isnan(replay.get_log("loss")[0])  # record 0 is before training: no epoch log
    assert replay.attrs["format_version"] == storage.FORMAT_VERSION
    assert replay.attrs["batch_size"] == 16 and replay.loss_name == "binary_crossentropy"
    assert replay.metric_names == ["acc"]
    for quantity in storage.QUANTITIES:
        assert replay.reader.has(quantity), quantity


def test_part1_dashboard_renders_from_the_old_recording(replays, tmp_path):
    replay = replays["model_filename"]
    fig = plt.figure(figsize=(12, 6))
    ax_fs = plt.subplot2grid((2, 4), (0, 0), colspan=2, rowspan=2)
    ax_ph_neg = plt.subplot2grid((2, 4), (0, 2))
    ax_ph_pos = plt.subplot2grid((2, 4), (1, 2))
    ax_lm = plt.subplot2grid((2, 4), (0, 3))
    ax_lh = plt.subplot2grid((2, 4), (1, 3))
    fs = replay.build_feature_space(ax_fs, layer_name="hidden", contour_points=40)
    ph = replay.build_probability_histogram(ax_ph_neg, ax_ph_pos)
    lh = replay.build_loss_histogram(ax_lh)
    lm = replay.build_loss_and_metric(ax_lm, "acc")
    compose_plots([fs, ph, lm, lh], 20).savefig(tmp_path / "part1.png", dpi=40)
    assert (tmp_path / "part1.png").stat().st_size > 5000
    assert fig._suptitle.get_text() == "Epoch: 20"


def test_old_file_is_not_touched(converted):
    before = OLD.read_bytes()
    Replay(OLD, GROUP, MODEL).close()
    assert OLD.read_bytes() == before


def test_default_model_filename_is_next_to_the_recording(tmp_path):
    old = tmp_path / "old.h5"
    shutil.copy(OLD, old)
    with pytest.raises(FileNotFoundError, match=r"DeepReplay 0.1 recording, whose model was saved apart; it is "
                                                r"not at .*part1_activation_functions_model\.h5.*model_filename="):
        Replay(old, GROUP)
    shutil.copy(MODEL, tmp_path / f"{GROUP}_model.h5")
    with Replay(str(old), GROUP) as replay:  # DeepReplay 0.1's default: <group>_model.h5
        assert replay.n_epochs == N_EPOCHS


def test_model_filename_for_a_current_recording_is_ignored_with_a_warning(converted):
    with pytest.warns(UserWarning, match="model_filename='x.h5' is ignored: .* current recording"):
        Replay(converted, GROUP, "x.h5").close()


def test_rebuilt_model_matches_the_keras2_config():
    model = legacy.model_from_keras2_file(MODEL)
    assert [layer.name for layer in model.layers] == ["hidden", "output"]
    hidden, output = model.layers
    assert (hidden.units, hidden.activation.__name__, output.activation.__name__) == (2, "sigmoid", "sigmoid")
    assert type(hidden.kernel_initializer).__name__ == "VarianceScaling"
    assert hidden.kernel_initializer.distribution == "truncated_normal"
    assert type(output.kernel_initializer).__name__ == "RandomNormal"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


def test_unsupported_models_are_refused_by_name(tmp_path):
    path = tmp_path / "conv_model.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = ('{"class_name": "Sequential", "config": [{"class_name": "Conv2D", '
                                   '"config": {"name": "c1"}}]}')
    with pytest.raises(ValueError, match=r"layer 0 \('c1', Conv2D\): DeepReplay 0.1 models are rebuilt for "
                                         r"layers Dense, Activation, Dropout only"):
        legacy.model_from_keras2_file(path)


def test_cli_info_says_what_an_old_file_is_and_how_to_convert(capsys):
    assert cli.main(["info", str(OLD)]) == 0
    out = capsys.readouterr().out
    assert "1 DeepReplay 0.1 recording(s)" in out
    assert f"[{GROUP}] DeepReplay 0.1 recording (20 epochs, 2000 samples, 2 layers, logs acc, loss, lr)" in out
    assert f"deepreplay convert {OLD} {GROUP} --model {MODEL} -o NEW.h5" in out


def test_cli_convert_writes_a_current_recording(tmp_path, capsys):
    new = tmp_path / "new.h5"
    args = ["convert", str(OLD), GROUP, "--model", str(MODEL), "-o", str(new)]
    assert cli.main(args) == 0
    assert f"format version {storage.FORMAT_VERSION}" in capsys.readouterr().out
    assert storage.list_groups(new) == [GROUP]
    assert cli.main(args) == 1  # never overwrites silently
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["convert", str(new), GROUP, "-o", str(tmp_path / "x.h5")]) == 1
    assert "already a current deepreplay recording" in capsys.readouterr().err
    assert cli.main(["convert", str(OLD), "nope", "--model", str(MODEL), "-o", str(tmp_path / "y.h5")]) == 1
    assert f"not a DeepReplay 0.1 recording (DeepReplay 0.1 recordings in this file: ['{GROUP}'])" in \
        capsys.readouterr().err
