"""Recording and replay on every Keras 3 backend: TensorFlow, JAX and PyTorch (issue 8).

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so every
backend runs in its own Python process: this file is also the script those
processes run (``python tests/test_backends.py record|replay BACKEND DIR``).
On JAX and PyTorch the child blocks TensorFlow (``sys.modules['tensorflow'] =
None``) before anything else is imported, so these runs also show that
deepreplay records, replays and plots without TensorFlow.

1. ``record`` (one process per backend, run side by side): a tiny model
   (Dense(2, tanh, L2) - BatchNormalization - Dropout - Dense(1, sigmoid)) is
   fitted twice from the same seed, bare and with ``ReplayData``; the final
   weights must be identical.  Every record is then checked against
   computations written here, independently of deepreplay: activations,
   z-values, predictions, per-sample losses and the evaluated loss with NumPy
   (float64) from the recorded weights; gradients with finite differences of
   that NumPy loss and with the backend's own autodiff (``tf.GradientTape``,
   ``jax.grad``, ``torch.autograd``) over a forward pass written here.  A record
   taken with ``ReplayData(model=...)`` must leave every variable, the
   optimizer, the Python/NumPy/torch random states and (PyTorch) every
   ``.grad`` as they were.  Finally the recording is replayed with ``Replay``:
   model outputs and hidden outputs on a grid, and a feature-space PNG.
2. ``replay`` (one process per backend): the other backends' recordings are
   replayed; the grid outputs must equal those the recording backend's own
   replay computed, to 1e-5.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")
_IMPORT_NAME = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
EPOCHS = 3
L2 = 0.01
BN_EPSILON = 1e-3
TOL = dict(rtol=1e-5, atol=1e-5)  # float32 backend vs float64 NumPy
AUTODIFF_TOL = dict(rtol=1e-4, atol=1e-6)  # float32 autodiff vs float32 recording
FD_TOL = dict(rtol=1e-3, atol=1e-6)  # float64 central differences vs float32 recording
CHILD_TIMEOUT = 240


# ==========================================================================
# Shared by the child processes: data, model, an independent NumPy forward pass
# ==========================================================================


def _data():
    rng = np.random.default_rng(8)
    X = rng.uniform(-1, 1, size=(48, 2)).astype(np.float32)
    y = (X[:, :1] ** 2 > X[:, 1:] + 0.1).astype(np.float32)
    return X, y


def _grid():
    g = np.linspace(-1.5, 1.5, 9, dtype=np.float32)
    return np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)


def _build_model(seed):
    """Default (globally seeded) initializers, so the seed decides the initial weights."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(2, activation="tanh", name="hidden", kernel_regularizer=keras.regularizers.L2(L2)),
            keras.layers.BatchNormalization(name="bn", epsilon=BN_EPSILON),
            keras.layers.Dropout(0.25, name="drop"),
            keras.layers.Dense(1, activation="sigmoid", name="output"),
        ],
        name="tiny",
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    return model


# (layer, variable) of the trainable variables, in the order used below
TRAINABLE = [("hidden", "kernel"), ("hidden", "bias"), ("bn", "gamma"), ("bn", "beta"),
             ("output", "kernel"), ("output", "bias")]


def _numpy_forward(X, w):
    """Every intermediate value of the tiny model in inference mode, float64, from weights ``w``."""
    f = {k: np.asarray(v, np.float64) for k, v in w.items()}
    z1 = X.astype(np.float64) @ f["hidden.kernel"] + f["hidden.bias"]
    a1 = np.tanh(z1)
    bn = (a1 - f["bn.moving_mean"]) / np.sqrt(f["bn.moving_variance"] + BN_EPSILON) * f["bn.gamma"] + f["bn.beta"]
    z2 = bn @ f["output.kernel"] + f["output.bias"]
    p = 1.0 / (1.0 + np.exp(-z2))
    return dict(z1=z1, a1=a1, bn=bn, z2=z2, p=p)


def _bce(y, p, eps=1e-7):
    """Keras' binary cross-entropy on probabilities (clipped to [eps, 1 - eps]), per sample."""
    p = np.clip(p, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)


def _numpy_total_loss(X, y, w):
    """Mean loss plus the L2 penalty: what the recorded gradients differentiate."""
    return _bce(y, _numpy_forward(X, w)["p"]).mean() + L2 * np.sum(np.asarray(w["hidden.kernel"], np.float64) ** 2)


def _finite_difference_gradients(X, y, w, h=1e-6):
    grads = {}
    for layer, var in TRAINABLE:
        key = f"{layer}.{var}"
        base = np.asarray(w[key], np.float64)
        g = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            plus, minus = base.copy(), base.copy()
            plus[idx] += h
            minus[idx] -= h
            g[idx] = (_numpy_total_loss(X, y, {**w, key: plus}) - _numpy_total_loss(X, y, {**w, key: minus})) / (2 * h)
        grads[key] = g
    return grads


def _autodiff_gradients(backend, X, y, w):
    """Gradients of the mean loss + L2 with the backend's own autodiff over a forward pass written here."""
    keys = [f"{layer}.{var}" for layer, var in TRAINABLE]
    const = {k: np.asarray(w[k], np.float32) for k in ("bn.moving_mean", "bn.moving_variance")}
    X = X.astype(np.float32)
    y = y.astype(np.float32)
    eps = 1e-7

    def loss(ops, p):
        q = dict(zip(keys, p))
        c = ops["constant"]
        z1 = ops["matmul"](c(X), q["hidden.kernel"]) + q["hidden.bias"]
        bn = (ops["tanh"](z1) - c(const["bn.moving_mean"])) / c(np.sqrt(const["bn.moving_variance"] + BN_EPSILON))
        bn = bn * q["bn.gamma"] + q["bn.beta"]
        prob = ops["clip"](ops["sigmoid"](ops["matmul"](bn, q["output.kernel"]) + q["output.bias"]), eps, 1 - eps)
        bce = -(c(y) * ops["log"](prob) + (1 - c(y)) * ops["log"](1 - prob))
        return ops["mean"](bce) + L2 * ops["sum"](q["hidden.kernel"] ** 2)

    params = [np.asarray(w[k], np.float32) for k in keys]
    if backend == "tensorflow":
        import tensorflow as tf

        ops = dict(matmul=tf.matmul, tanh=tf.tanh, sigmoid=tf.sigmoid, clip=tf.clip_by_value, log=tf.math.log,
                   mean=tf.reduce_mean, sum=tf.reduce_sum, constant=tf.constant)
        variables = [tf.Variable(p) for p in params]
        with tf.GradientTape() as tape:
            total = loss(ops, variables)
        grads = [g.numpy() for g in tape.gradient(total, variables)]
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        ops = dict(matmul=jnp.matmul, tanh=jnp.tanh, sigmoid=jax.nn.sigmoid, clip=jnp.clip, log=jnp.log,
                   mean=jnp.mean, sum=jnp.sum, constant=jnp.asarray)
        grads = [np.asarray(g) for g in jax.grad(lambda p: loss(ops, p))([jnp.asarray(p) for p in params])]
    else:
        import torch

        ops = dict(matmul=torch.matmul, tanh=torch.tanh, sigmoid=torch.sigmoid, clip=torch.clamp, log=torch.log,
                   mean=torch.mean, sum=torch.sum, constant=torch.as_tensor)
        tensors = [torch.tensor(p, requires_grad=True) for p in params]
        total = loss(ops, tensors)
        grads = [g.numpy() for g in torch.autograd.grad(total, tensors)]
    return dict(zip(keys, grads))


def _flat_weights(weights):
    """``{layer: {var: array}}`` as ``{'layer.var': array}``."""
    return {f"{layer}.{var}": a for layer, vars_ in weights.items() for var, a in vars_.items()}


def _replay_on_grid(replay):
    """What a replay computes on the grid for each record: model outputs, hidden outputs, the tail."""
    grid = _grid()
    out = {}
    for epoch in replay.epochs:
        epoch = int(epoch)
        out[f"proba_{epoch}"] = replay.predict_proba(grid, epoch=epoch)
        hidden = replay.layer_function("hidden")(grid)
        out[f"hidden_{epoch}"] = hidden
        out[f"tail_{epoch}"] = replay.tail_function("hidden")(hidden)
        out[f"model_on_inputs_{epoch}"] = replay.predict_proba(replay.inputs, epoch=epoch)
    return out


def _state_snapshot(model, backend):
    """Every variable's value, the optimizer's, and the global random states."""
    import random

    snap = {
        "variables": [np.array(v.numpy()) for v in model.variables],
        "optimizer": [np.array(v.numpy()) for v in model.optimizer.variables],
        "python_random": random.getstate(),
        "numpy_random": np.random.get_state(),
    }
    if backend == "torch":
        import torch

        snap["torch_random"] = torch.random.get_rng_state().numpy().copy()
        snap["grads"] = [v.value.grad for v in model.trainable_variables]
        snap["grad_values"] = [None if g is None else g.detach().clone().numpy() for g in snap["grads"]]
    return snap


def _assert_same_state(before, after, what):
    for a, b in zip(before["variables"], after["variables"], strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{what}: a model variable changed")
    for a, b in zip(before["optimizer"], after["optimizer"], strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{what}: an optimizer variable changed")
    assert before["python_random"] == after["python_random"], f"{what}: Python's random state changed"
    for a, b in zip(before["numpy_random"], after["numpy_random"]):
        assert np.array_equal(a, b), f"{what}: NumPy's global random state changed"
    if "torch_random" in before:
        np.testing.assert_array_equal(before["torch_random"], after["torch_random"], err_msg=f"{what}: torch RNG")
        for g0, v0, g1 in zip(before["grads"], before["grad_values"], after["grads"], strict=True):
            assert g1 is g0, f"{what}: a variable's .grad was replaced"
            if g0 is not None:
                np.testing.assert_array_equal(g1.detach().numpy(), v0, err_msg=f"{what}: a .grad changed")


# ==========================================================================
# The child processes
# ==========================================================================


def _child_record(backend, out):
    import keras

    assert keras.backend.backend() == backend, keras.backend.backend()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepreplay.callbacks import ReplayData
    from deepreplay.plot import compose_plots
    from deepreplay.replay import Replay
    from deepreplay.storage import RecordingReader

    report = {"backend": backend}
    X, y = _data()
    filename = str(out / f"rec_{backend}.h5")

    # -- recording does not change the training trajectory (Dropout, shuffling, default initializers)
    plain = _build_model(seed=3)
    plain.fit(X, y, epochs=EPOCHS, batch_size=8, shuffle=True, verbose=0)
    model = _build_model(seed=3)
    history = model.fit(X, y, epochs=EPOCHS, batch_size=8, shuffle=True, verbose=0,
                        callbacks=[ReplayData(X, y, filename, "run")])
    for a, b in zip(plain.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg="a seeded fit ends elsewhere with ReplayData attached")
    # training moved the BatchNormalization statistics: the checks below see real values
    assert not np.allclose(model.get_layer("bn").moving_mean.numpy(), 0)
    report["same_weights_with_and_without_recording"] = True

    # -- one record leaves the model, the optimizer, the random states and .grad alone
    fresh = _build_model(seed=4)
    before = _state_snapshot(fresh, backend)
    ReplayData(X, y, str(out / f"probe_{backend}.h5"), "fresh", model=fresh)
    _assert_same_state(before, _state_snapshot(fresh, backend), "recording an untrained model")
    before = _state_snapshot(model, backend)  # after training: Keras' own .grad (torch) are set
    ReplayData(X, y, str(out / f"probe_{backend}.h5"), "trained", model=model)
    _assert_same_state(before, _state_snapshot(model, backend), "recording a trained model")
    if backend == "torch":
        assert all(v.value.grad is None for v in fresh.trainable_variables), "recording left a .grad"
        report["no_grad_left"] = True
    report["state_unchanged_by_a_record"] = True

    # -- every record against NumPy, finite differences and the backend's autodiff
    checked = 0
    with RecordingReader(filename, "run") as r:
        assert r.attrs["backend"] == backend
        np.testing.assert_array_equal(r.epochs, np.arange(EPOCHS + 1))
        assert r.output_layers("z") == ["hidden", "output"]
        for k in range(r.n_records):
            w = _flat_weights(r.weights(k))
            ref = _numpy_forward(X, w)
            np.testing.assert_allclose(r.outputs(k, "hidden", "z"), ref["z1"], **TOL, err_msg=f"z hidden {k}")
            np.testing.assert_allclose(r.outputs(k, "hidden"), ref["a1"], **TOL, err_msg=f"hidden {k}")
            np.testing.assert_allclose(r.outputs(k, "bn"), ref["bn"], **TOL, err_msg=f"bn {k}")
            np.testing.assert_allclose(r.outputs(k, "drop"), ref["bn"], **TOL, err_msg=f"dropout {k}")
            np.testing.assert_allclose(r.outputs(k, "output", "z"), ref["z2"], **TOL, err_msg=f"z output {k}")
            np.testing.assert_allclose(r.outputs(k, "output"), ref["p"], **TOL, err_msg=f"output {k}")
            np.testing.assert_allclose(r.predictions(k), ref["p"], **TOL, err_msg=f"predictions {k}")
            losses = _bce(y, ref["p"])
            np.testing.assert_allclose(r.losses(k), losses, **TOL, err_msg=f"losses {k}")
            np.testing.assert_allclose(r.evaluation("loss")[k], _numpy_total_loss(X, y, w), rtol=1e-5)
            np.testing.assert_allclose(r.evaluation("accuracy")[k], np.mean((ref["p"] > 0.5) == y))
            recorded = _flat_weights(r.gradients(k))
            assert sorted(recorded) == sorted(f"{layer}.{var}" for layer, var in TRAINABLE)
            fd = _finite_difference_gradients(X, y, w)
            auto = _autodiff_gradients(backend, X, y, w)
            for key, g in recorded.items():
                np.testing.assert_allclose(g, fd[key], **FD_TOL, err_msg=f"record {k} {key} vs finite differences")
                np.testing.assert_allclose(g, auto[key], **AUTODIFF_TOL, err_msg=f"record {k} {key} vs {backend}")
            assert max(np.abs(g).max() for g in recorded.values()) > 1e-3  # not comparing zeros
            checked += 1
        # the last record is the trained model, and the logs are Keras' own
        last = _flat_weights(r.weights(r.n_records - 1))
        for layer in model.layers:
            for var in layer.weights:
                np.testing.assert_array_equal(last[f"{layer.name}.{var.path.split('/')[-1]}"], var.numpy())
        np.testing.assert_allclose(r.log("loss")[1:], history.history["loss"], rtol=1e-6)
    report["records_checked"] = checked

    # -- replay on this backend: grid outputs (for the cross-backend test) and a feature-space PNG
    with Replay(filename, "run") as replay:
        grid_out = _replay_on_grid(replay)
        for epoch in replay.epochs:
            ref = _numpy_forward(_grid(), _flat_weights(replay.weights_at(int(epoch))))
            np.testing.assert_allclose(grid_out[f"proba_{epoch}"], ref["p"], **TOL)
            np.testing.assert_allclose(grid_out[f"tail_{epoch}"], ref["p"], **TOL)
            np.testing.assert_allclose(grid_out[f"hidden_{epoch}"], ref["a1"], **TOL)
            np.testing.assert_allclose(grid_out[f"model_on_inputs_{epoch}"], replay.predictions_at(int(epoch)), **TOL)
        np.savez(out / f"grid_{backend}.npz", **grid_out)
        _, ax = plt.subplots(figsize=(4, 4))
        fs = replay.build_feature_space(ax, layer_name="hidden", contour_points=40)
        compose_plots([fs], epoch=EPOCHS).savefig(out / f"feature_space_{backend}.png", dpi=50)
        plt.close("all")

        # -- loss surface (issue 16): vectorised and compiled on this backend; at the plane's origin it is
        # the recorded loss, elsewhere the NumPy loss of those weights (BatchNorm statistics and L2 included)
        from deepreplay import landscape

        evaluator = landscape.LossEvaluator(replay)
        plane = landscape.pca_plane(replay)
        surface = landscape.loss_surface(replay, plane, resolution=5, evaluator=evaluator, cache=False)
        assert evaluator.compiled, f"the loss surface is not compiled on {backend}"
        np.testing.assert_allclose(surface.at_origin(), replay.training_loss[-1], **TOL)
        w = _flat_weights(replay.weights_at(int(replay.epochs[-1])))
        theta, start = plane.point(surface.alphas[1], surface.betas[3]), 0
        for layer, var, shape in landscape.parameter_layout(replay):
            size = int(np.prod(shape))
            w[f"{layer}.{var}"] = theta[start:start + size].reshape(shape)
            start += size
        np.testing.assert_allclose(surface.losses[3, 1], _numpy_total_loss(X, y, w), **TOL)
    report["png"] = str(out / f"feature_space_{backend}.png")

    # -- the demo's Part 1 network ('deepreplay demo', the examples, benchmarks/backends.py) trains here
    from deepreplay.demo import PART1_BATCH_SIZE, build_part1_model

    part1 = build_part1_model()
    part1.fit(X, y, epochs=1, batch_size=PART1_BATCH_SIZE, verbose=0)
    report["part1_steps_per_execution"] = int(part1.steps_per_execution)
    return report


def _child_replay(backend, out, sources):
    import keras

    assert keras.backend.backend() == backend, keras.backend.backend()
    from deepreplay.replay import Replay

    report = {"backend": backend, "replayed": []}
    for other in sources:
        if other == backend:
            continue
        filename = out / f"rec_{other}.h5"
        expected = np.load(out / f"grid_{other}.npz")
        with Replay(filename, "run") as replay:
            assert replay.attrs["backend"] == other
            got = _replay_on_grid(replay)
        assert sorted(got) == sorted(expected.files)
        for key in expected.files:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-5,
                                       err_msg=f"{key} of the {other} recording replayed on {backend}")
        report["replayed"].append(other)
    return report


class _NotInstalled:
    """A meta-path finder under which some top-level packages cannot be imported, as if not installed."""

    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by tests/test_backends.py)", name=name)
        return None


def _child_main(argv):
    mode, backend, out, sources = argv[0], argv[1], Path(argv[2]), argv[3:]
    if backend != "tensorflow":
        sys.modules["tensorflow"] = None  # any `import tensorflow` now raises ImportError
    # The other backends' packages are out of reach too: a recording made with them must not need them.
    # (Not by sys.modules[...] = None for these: SciPy looks for torch and jax arrays through sys.modules.)
    packages = {"jax": {"jax", "jaxlib"}, "torch": {"torch"}}
    sys.meta_path.insert(0, _NotInstalled(set().union(*(p for b, p in packages.items() if b != backend))))
    os.environ["KERAS_BACKEND"] = backend
    sys.path.insert(0, str(REPO))
    start = time.perf_counter()
    report = _child_record(backend, out) if mode == "record" else _child_replay(backend, out, sources)
    report["seconds"] = round(time.perf_counter() - start, 2)
    report["tensorflow_blocked"] = "tensorflow" in sys.modules and sys.modules["tensorflow"] is None
    report["other_backends_imported"] = sorted(
        name for name in ("tensorflow", "jax", "torch") if name != backend and sys.modules.get(name) is not None)
    print("REPORT " + json.dumps(report), flush=True)


# ==========================================================================
# The tests (in the pytest process)
# ==========================================================================


def _installed(backend):
    return importlib.util.find_spec(_IMPORT_NAME[backend]) is not None


def _run_children(mode, out, backends, extra_args=()):
    """Run one child per backend, two at a time; ``{backend: (returncode, report or None, output)}``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    results, pending, running = {}, list(backends), {}
    deadline = time.monotonic() + CHILD_TIMEOUT
    while pending or running:
        while pending and len(running) < 2:
            backend = pending.pop(0)
            log = open(out / f"{mode}_{backend}.log", "w+")
            proc = subprocess.Popen([sys.executable, __file__, mode, backend, str(out), *extra_args], stdout=log,
                                    stderr=subprocess.STDOUT, env={**env, "KERAS_BACKEND": backend}, cwd=out)
            running[backend] = (proc, log)
        for backend, (proc, log) in list(running.items()):
            if proc.poll() is None and time.monotonic() < deadline:
                continue
            if proc.poll() is None:
                proc.kill()
            rc = proc.wait()
            log.seek(0)
            text = log.read()
            log.close()
            lines = [line for line in text.splitlines() if line.startswith("REPORT ")]
            results[backend] = (rc, json.loads(lines[-1][len("REPORT "):]) if lines else None, text)
            del running[backend]
        time.sleep(0.1)
    return results


@pytest.fixture(scope="module")
def backend_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("backends")
    available = [b for b in BACKENDS if _installed(b)]
    recorded = _run_children("record", out, available)
    ok = [b for b in available if recorded[b][0] == 0]
    replayed = _run_children("replay", out, ok, extra_args=ok) if len(ok) > 1 else {}
    return {"out": out, "record": recorded, "replay": replayed}


def _child_result(runs, mode, backend):
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed (pip install -e '.[{backend}]')")
    if backend not in runs[mode]:
        pytest.fail(f"the {backend} {mode} child did not run (its recording failed)")
    rc, report, text = runs[mode][backend]
    assert rc == 0 and report is not None, f"{mode} on {backend} failed (exit {rc}):\n{text[-6000:]}"
    return report


@pytest.mark.parametrize("backend", BACKENDS)
def test_recording_matches_independent_computation(backend_runs, backend):
    """Activations, z, losses, gradients (finite differences and autodiff); training undisturbed."""
    report = _child_result(backend_runs, "record", backend)
    assert report["backend"] == backend
    assert report["records_checked"] == EPOCHS + 1
    assert report["same_weights_with_and_without_recording"] is True
    assert report["other_backends_imported"] == []
    assert report["state_unchanged_by_a_record"] is True
    if backend == "torch":
        assert report["no_grad_left"] is True


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_records_replays_and_plots_without_tensorflow(backend_runs, backend):
    report = _child_result(backend_runs, "record", backend)
    assert report["tensorflow_blocked"] is True  # nothing managed to import it
    # Keras refuses steps_per_execution > 1 on PyTorch: 'KERAS_BACKEND=torch deepreplay demo' failed with it
    assert report["part1_steps_per_execution"] == (1 if backend == "torch" else 32)
    from PIL import Image

    with Image.open(report["png"]) as image:
        assert image.size[0] > 100 and image.size[1] > 100
        colors = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colors is None or len(colors) > 10  # a drawn figure, not a blank canvas


@pytest.mark.parametrize("source, target", [(s, t) for s in BACKENDS for t in BACKENDS if s != t])
def test_recording_replays_on_another_backend(backend_runs, source, target):
    """Record on ``source``, replay on ``target``: the same numbers on a grid, to 1e-5."""
    _child_result(backend_runs, "record", source)
    report = _child_result(backend_runs, "replay", target)
    assert source in report["replayed"]
    assert report["other_backends_imported"] == []  # not even the recording's backend
    if target != "tensorflow":
        assert report["tensorflow_blocked"] is True


def _module_level_imports(tree):
    """Top-level module names imported outside any function or class body."""
    names = []

    def visit(body):
        for node in body:
            if isinstance(node, ast.Import):
                names.extend(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.append(node.module.split(".")[0])
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for part in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, part, []):
                        visit(getattr(child, "body", [child]) if isinstance(child, ast.ExceptHandler) else [child])
    visit(tree.body)
    return names


def test_backend_modules_are_imported_only_in_the_backend_module():
    """No module-level ``import tensorflow`` anywhere; tensorflow/jax/torch only inside ``_backend.py``."""
    offenders, backend_module = [], REPO / "deepreplay" / "_backend.py"
    for path in sorted((REPO / "deepreplay").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = set(_module_level_imports(tree)) & set(_IMPORT_NAME.values())
        if top:
            offenders.append(f"{path.relative_to(REPO)}: module-level import of {sorted(top)}")
        anywhere = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        anywhere |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
        if path != backend_module and anywhere & set(_IMPORT_NAME.values()):
            offenders.append(f"{path.relative_to(REPO)}: imports {sorted(anywhere & set(_IMPORT_NAME.values()))}")
    assert not offenders, "backend-specific imports outside deepreplay/_backend.py:\n" + "\n".join(offenders)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
