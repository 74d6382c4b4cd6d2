"""The ``deepreplay`` command line: info, render to every format, demo, and its error paths."""

import os
import subprocess
import sys

import h5py
import imageio_ffmpeg
import pytest
from PIL import Image

from deepreplay import cli
from deepreplay.storage import RecordingReader


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_lists_groups_epochs_layers_and_sizes(capsys, tiny_recording):
    filename, group, X, _ = tiny_recording
    code, out, err = run(capsys, "info", filename)
    assert code == 0, err
    assert f"[{group}] complete" in out
    assert "epochs recorded : 5 (0..4)" in out
    assert "hidden, output" in out
    assert "weights, gradients, activations, z, predictions, losses" in out
    assert f"samples         : {len(X)} of {len(X)}" in out
    assert "KiB" in out


def test_info_names_the_shape_of_every_input(capsys, tmp_path):
    import keras
    import numpy as np

    from deepreplay.callbacks import ReplayData

    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Concatenate()([a, b]))
    model = keras.Model({"a": a, "b": b}, out)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    inputs = {"a": rng.normal(size=(20, 3)).astype("float32"), "b": rng.normal(size=(20, 2)).astype("float32")}
    filename = str(tmp_path / "two.h5")
    ReplayData(inputs, (inputs["a"][:, 0] > 0).astype("float32"), filename, "two", model=model)
    code, text, err = run(capsys, "info", filename)
    assert code == 0, err
    assert "samples         : 20 of 20, inputs a (3,), b (2,)" in text


class _ClosedPipe:
    """A stdout whose reader went away, as with ``deepreplay info FILE | head -1``."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self):
        import io

        raise io.UnsupportedOperation("fileno")


def test_a_closed_output_pipe_is_not_an_error(capsys, monkeypatch, tiny_recording):
    filename, _, _, _ = tiny_recording
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code = cli.main(["info", filename])
    assert code == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("ext", ["gif", "mp4", "html", "png"])
def test_render_writes_a_valid_file(capsys, tmp_path, tiny_recording, ext):
    filename, group, _, _ = tiny_recording
    out_path = tmp_path / f"dash.{ext}"
    code, out, err = run(capsys, "render", filename, group, "-o", str(out_path), "--dpi", "40")
    assert code == 0, err
    assert out_path.exists() and out_path.stat().st_size > 0
    with RecordingReader(filename, group) as reader:
        n_epochs = reader.n_records
    if ext == "gif":
        assert Image.open(out_path).n_frames == n_epochs
    elif ext == "mp4":
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(out_path))
        assert frames == n_epochs
    elif ext == "html":
        text = out_path.read_text()
        assert "<script" in text and "new DeepReplayPlayer(" in text
    else:
        assert Image.open(out_path).format == "PNG"
        assert "epoch 4" in out


def test_render_epoch_range_and_png_epoch(capsys, tmp_path, tiny_recording):
    filename, group, _, _ = tiny_recording
    gif = tmp_path / "part.gif"
    code, _, err = run(capsys, "render", filename, group, "-o", str(gif), "--epoch-start", "1",
                       "--epoch-end", "3", "--dpi", "30")
    assert code == 0, err
    assert Image.open(gif).n_frames == 3
    code, out, err = run(capsys, "render", filename, group, "-o", str(tmp_path / "e2.png"), "--epoch", "2")
    assert code == 0, err
    assert "epoch 2" in out


def _one_line_error(code, err, *needles):
    assert code == 1
    lines = [line for line in err.strip().splitlines() if not line.startswith("deepreplay: warning")]
    assert len(lines) == 1, err
    assert lines[0].startswith("deepreplay: error:")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


def test_missing_file_is_a_one_line_error(capsys, tmp_path):
    missing = str(tmp_path / "nope.h5")
    _one_line_error(*run(capsys, "info", missing)[::2], "no such file")
    _one_line_error(*run(capsys, "render", missing, "g", "-o", str(tmp_path / "x.gif"))[::2], "no such file")


def test_missing_group_names_the_existing_ones(capsys, tmp_path, tiny_recording):
    filename, group, _, _ = tiny_recording
    code, _, err = run(capsys, "render", filename, "nope", "-o", str(tmp_path / "x.gif"))
    _one_line_error(code, err, "'nope'", repr(group))


def test_impossible_requests_are_one_line_errors(capsys, tmp_path, tiny_recording):
    filename, group, _, _ = tiny_recording
    code, _, err = run(capsys, "render", filename, group, "-o", str(tmp_path / "x.txt"))
    _one_line_error(code, err, ".gif")
    code, _, err = run(capsys, "render", filename, group, "-o", str(tmp_path / "x.gif"), "--layer", "output")
    _one_line_error(code, err, "--layer 'output'")
    code, _, err = run(capsys, "render", filename, group, "-o", str(tmp_path / "x.gif"), "--metric", "auc")
    _one_line_error(code, err, "--metric auc", "accuracy")
    code, _, err = run(capsys, "render", filename, group, "-o", str(tmp_path / "x.gif"), "--epoch-start", "99")
    _one_line_error(code, err, "--epoch-start 99", "0 to 4")
    code, _, err = run(capsys, "render", filename, group, "-o", str(tmp_path / "x.gif"), "--epoch", "2")
    _one_line_error(code, err, "--epoch")
    code, _, err = run(capsys, "render", filename, group, "-o", str(tmp_path / "no" / "dir" / "x.gif"))
    _one_line_error(code, err, "does not exist")



def test_a_png_epoch_between_records_is_refused_in_one_line_listing_the_records(capsys, tmp_path):
    """every=2 records epochs 0, 2, 3: --epoch 1 lies within the range, so the range check let it through
    and the plotter refused it with its own 'epoch=1 is not an epoch of these visuals'."""
    from conftest import make_tiny_model, tiny_data
    from deepreplay.callbacks import ReplayData

    X, y = tiny_data(32)
    model = make_tiny_model()
    filename = str(tmp_path / "every.h5")
    model.fit(X, y, epochs=3, batch_size=16, verbose=0, callbacks=[ReplayData(X, y, filename, "every", every=2)])
    with RecordingReader(filename, "every") as reader:
        assert list(reader.epochs) == [0, 2, 3]
    code, _, err = run(capsys, "render", filename, "every", "-o", str(tmp_path / "x.png"), "--epoch", "1")
    _one_line_error(code, err, "--epoch 1: not a recorded epoch", "the recorded epochs: 0, 2, 3")
    assert not (tmp_path / "x.png").exists()

def test_a_file_that_is_not_hdf5(capsys, tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not a recording")
    _one_line_error(*run(capsys, "info", str(text))[::2], "not an HDF5 file")


def test_an_incomplete_recording_renders_with_a_warning(capsys, tmp_path, tiny_recording):
    filename, group, _, _ = tiny_recording
    copy = tmp_path / "copy.h5"
    copy.write_bytes(open(filename, "rb").read())
    with h5py.File(copy, "a") as f:
        f[group].attrs["complete"] = False
    code, out, err = run(capsys, "info", str(copy))
    assert code == 0 and "INCOMPLETE" in out
    code, _, err = run(capsys, "render", str(copy), group, "-o", str(tmp_path / "x.png"))
    assert code == 0
    assert "deepreplay: warning:" in err and "incomplete" in err


def test_help_and_usage_errors():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-m", "deepreplay", "--help"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0
    for command in ("demo", "info", "render"):
        assert command in done.stdout
    done = subprocess.run([sys.executable, "-m", "deepreplay", "render", "--help"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0 and "--epoch-start" in done.stdout
    done = subprocess.run([sys.executable, "-m", "deepreplay"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_demo_writes_recording_animations_and_png(capsys, tmp_path, monkeypatch):
    out_dir = tmp_path / "demo"
    monkeypatch.setenv("DEEPREPLAY_PROGRESS", "1")  # the bars, as in a terminal
    code, out, err = run(capsys, "demo", "--output", str(out_dir), "--epochs", "3", "--formats", "gif,mp4,html",
                         "--dpi", "30")
    assert code == 0, err
    # a per-epoch bar during training, and a frame bar that counts the 4 frames (not the GIF palette's samples)
    assert "training sigmoid" in err and "3/3" in err
    assert "4/4" in err and "/7" not in err
    gif = out_dir / "part1_sigmoid.gif"
    assert Image.open(gif).n_frames == 4
    assert imageio_ffmpeg.count_frames_and_secs(str(out_dir / "part1_sigmoid.mp4"))[0] == 4
    assert "<script" in (out_dir / "part1_sigmoid.html").read_text()
    pngs = list(out_dir.glob("part1_sigmoid_epoch*.png"))
    assert len(pngs) == 1
    with RecordingReader(out_dir / "part1.h5", "sigmoid") as reader:
        assert reader.complete and list(reader.epochs) == [0, 1, 2, 3]
    # a second run replaces its own demo recording, and says so
    code, out, err = run(capsys, "demo", "--output", str(out_dir), "--epochs", "2", "--formats", "gif", "--dpi", "30")
    assert code == 0, err
    assert "replacing the earlier demo recording" in out
    assert Image.open(gif).n_frames == 3


def test_render_a_convolutional_recording_and_say_what_was_skipped(capsys, tmp_path, digits_cnn_recording):
    """The digits CNN (wide conv and dense outputs kept for 64 samples) renders; a slimmer recording says what it left out."""
    from PIL import Image

    from conftest import make_digits_cnn
    from deepreplay.callbacks import ReplayData

    filename, group, X, y = digits_cnn_recording
    out = tmp_path / "digits.png"
    assert cli.main(["render", filename, group, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "note" not in captured.err
    assert Image.open(out).size[1] > Image.open(out).size[0]  # three rows of visuals
    slim = str(tmp_path / "slim.h5")
    ReplayData(X[:40], y[:40], slim, "slim", model=make_digits_cnn(), record=["predictions", "losses", "weights"])
    assert cli.main(["render", slim, "slim", "-o", str(tmp_path / "slim.png")]) == 0
    err = capsys.readouterr().err
    assert err.count("deepreplay: note: the dashboard of 'slim' leaves out:") == 1
    assert "feature maps: the outputs of the convolution layers were not recorded" in err and "Traceback" not in err


FAIL_EARLY = """
import json, sys
from deepreplay import cli
results = []
for argv in json.loads(sys.argv[1]):
    code = cli.main(argv)
    heavy = sorted(m for m in ("keras", "tensorflow", "matplotlib.pyplot", "deepreplay.replay") if m in sys.modules)
    results.append([code, heavy])
print("RESULTS " + json.dumps(results))
"""


def test_render_and_demo_mistakes_fail_before_the_render_started(tmp_path, tiny_recording):
    """Each mistake is answered in one line, in the user's words, before Keras or Matplotlib is imported."""
    import json

    filename, group, _, _ = tiny_recording
    not_hdf5 = tmp_path / "notes.h5"
    not_hdf5.write_text("text")
    out = str(tmp_path / "x.gif")
    cases = [
        (["render", str(tmp_path / "moons.py"), group, "-o", out], "no such file"),
        (["render", str(not_hdf5), group, "-o", out], "not an HDF5 file"),
        (["render", filename, "nope", "-o", out], f"no recording 'nope' in {filename}; its recordings: '{group}'"),
        (["render", filename, group, "-o", str(tmp_path / "x.avi")], ".gif, .mp4, .html or .png"),
        (["render", filename, group, "-o", str(tmp_path / "nodir" / "x.png")], "output folder"),
        (["render", filename, group, "-o", out, "--layer", "nope"], "--layer nope: no such layer"),
        (["render", filename, group, "-o", out, "--epoch-end", "9"], "--epoch-end 9"),
        (["render", filename, group, "-o", out, "--fps", "0"], "--fps 0"),
        (["compare", filename, group, "nope", "-o", out], "no recording 'nope'"),
        (["compare", filename, group, group, "-o", str(tmp_path / "nodir" / "x.gif")], "output folder"),
        (["demo", "--output", str(tmp_path / "d"), "--formats", "gif,avi"], "--formats gif,avi: avi"),
        (["demo", "--output", str(tmp_path / "d"), "--epochs", "0"], "--epochs 0"),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", DEEPREPLAY_PROGRESS="0")
    done = subprocess.run([sys.executable, "-c", FAIL_EARLY, json.dumps([argv for argv, _ in cases])],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.split("RESULTS ", 1)[1])
    errors = [line for line in done.stderr.splitlines() if line.startswith("deepreplay: error:")]
    assert len(errors) == len(cases), done.stderr
    assert "Traceback" not in done.stderr and "replay_filename" not in done.stderr and "=" not in "".join(errors)
    for (argv, needle), (code, heavy), error in zip(cases, results, errors):
        assert code == 1, argv
        assert heavy == [], (argv, heavy)  # failed before Keras, Matplotlib or the replay were imported
        assert needle in error, (needle, error)


def test_tensorflow_start_up_lines_are_kept_off_stderr_unless_asked_for(tmp_path, tiny_recording):
    """TensorFlow's Abseil lines ("All log messages before absl::InitializeLog()", "oneDNN custom
    operations are on") are not on a command's stderr; with TF_CPP_MIN_LOG_LEVEL=0 the user gets them."""
    filename, group, _, _ = tiny_recording
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(DEEPREPLAY_PROGRESS="0", MPLBACKEND="Agg", KERAS_BACKEND="tensorflow")
    started = {}
    for name, level in (("default", None), ("asked", "0")):  # side by side
        run_env = dict(env) if level is None else dict(env, TF_CPP_MIN_LOG_LEVEL=level)
        started[name] = subprocess.Popen(
            [sys.executable, "-m", "deepreplay", "render", filename, group, "-o", str(tmp_path / f"{name}.png"),
             "--dpi", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env, cwd=tmp_path)
    errs = {}
    for name, process in started.items():
        out, errs[name] = process.communicate(timeout=300)
        assert process.returncode == 0 and "wrote" in out, errs[name]
    assert errs["default"] == "", errs["default"]
    assert "absl::InitializeLog()" in errs["asked"] and "oneDNN custom operations" in errs["asked"]


def test_version():
    from deepreplay import __version__

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-m", "deepreplay", "--version"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"deepreplay {__version__}"


SUBCLASSED_MODULE = '''
import keras


class TwoUnitNet(keras.Model):  # not registered: Keras finds it only when given it
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(2, activation="tanh", name="hidden")
        self.out = keras.layers.Dense(1, activation="sigmoid", name="out")

    def call(self, x, training=False):
        return self.out(self.hidden(x))
'''


def test_render_a_subclassed_recording_whose_class_is_not_importable_then_with_import(tmp_path):
    """From a shell the user's class is unknown: the recorded visuals are drawn, one note says what needs
    the model and the way out; ``--import FILE.py`` gives Keras the class and the whole dashboard."""
    import importlib.util

    import keras
    import numpy as np

    from deepreplay.callbacks import ReplayData

    module_file = tmp_path / "my_net.py"
    module_file.write_text(SUBCLASSED_MODULE)
    spec = importlib.util.spec_from_file_location("my_net", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    keras.utils.set_random_seed(0)
    X = np.random.default_rng(0).normal(size=(40, 2)).astype("float32")
    y = (X[:, :1] * X[:, 1:] > 0).astype("float32")
    model = module.TwoUnitNet(name="net")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    filename = str(tmp_path / "sub.h5")
    model.fit(X, y, epochs=2, verbose=0, callbacks=[ReplayData(X, y, filename, "sub")])

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    outside = tmp_path / "elsewhere"  # a folder where my_net is not importable
    outside.mkdir()
    started = {}
    for name, extra in (("plain", []), ("imported", ["--import", str(module_file)])):  # side by side
        png = tmp_path / f"{name}.png"
        started[name] = (subprocess.Popen(
            [sys.executable, "-m", "deepreplay", "render", filename, "sub", "-o", str(png), "--dpi", "30", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=outside), png)
    runs = {}
    for name, (process, png) in started.items():
        out, err = process.communicate(timeout=300)
        done = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        notes = [line for line in err.splitlines() if line.startswith("deepreplay: note:")]
        runs[name] = (done, notes, png)
    done, notes, png = runs["plain"]
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert len(notes) == 1, done.stderr
    assert "grid lines and regions of the feature space of 'hidden' (its points are drawn)" in notes[0]
    assert "custom objects ['TwoUnitNet']" in notes[0] and "--import MODULE" in notes[0]
    with Image.open(png) as image:
        assert image.size[0] > 100
    done, notes, png = runs["imported"]
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    # The model is rebuilt: grid lines are drawn, and the regions too (its call after 'hidden' is a chain,
    # verified on the recording), so nothing is left out.
    assert notes == [], done.stderr
    assert png.stat().st_size > 1000


def test_render_unsafe_rebuilds_a_model_with_a_lambda_layer(capsys, tmp_path):
    """A Lambda layer's code is not loaded by default: the note names the command line's way out, --unsafe,
    which rebuilds the model (the feature space gets its regions)."""
    import keras
    import numpy as np

    from deepreplay.callbacks import ReplayData

    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(2, activation="tanh", name="h")(keras.layers.Lambda(lambda t: 2.0 * t, name="lam")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(hidden))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    filename = str(tmp_path / "lambda.h5")
    ReplayData(X, (X[:, :1] > 0).astype(np.float32), filename, "lam", model=model)
    code, _, err = run(capsys, "render", filename, "lam", "-o", str(tmp_path / "safe.png"), "--dpi", "30")
    assert code == 0 and "'deepreplay render --unsafe' on the command line" in err
    code, _, err = run(capsys, "render", filename, "lam", "-o", str(tmp_path / "unsafe.png"), "--dpi", "30", "--unsafe")
    assert code == 0 and "Lambda" not in err and "Traceback" not in err
    assert (tmp_path / "unsafe.png").stat().st_size > 1000
