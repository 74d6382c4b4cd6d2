"""Recording under Keras' own distribution (issue 18): several devices of one host, sharded weights.

The devices must be split before the backend starts, so each case runs in its
own Python process; this file is also the script those processes run
(``python tests/test_distribution.py mirrored|jax DIR``):

* ``mirrored``: TensorFlow, the CPU split into 2 logical devices
  (``tf.config.set_logical_device_configuration``), the model built and
  compiled under ``tf.distribute.MirroredStrategy``;
* ``worker INDEX PORT0 PORT1``: one of two TensorFlow processes training
  together under ``tf.distribute.MultiWorkerMirroredStrategy`` (``TF_CONFIG``
  with two loopback addresses), both with the same ``ReplayData``: only the
  chief (worker 0) records; worker 1 computes nothing and opens no file, and
  no collective waits for the chief's recording (both finish the same
  steps, with the same weights, under a timeout).  Keras 3's ``fit`` does
  not run under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585,
  independent of deepreplay), so the workers train with the custom loop
  TensorFlow documents for it (``strategy.run`` in a ``tf.function``),
  driving the Keras callbacks through ``keras.callbacks.CallbackList``;
* ``jaxworker INDEX PORT``: the same with two JAX processes under
  ``keras.distribution.DataParallel`` (``keras.distribution.initialize``,
  one CPU device each, each process fitting on its half of the data): only
  process 0 records, on its own replica of the variables;
* ``jax``: JAX with 2 host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=2``),
  first under ``keras.distribution.DataParallel``, then under
  ``keras.distribution.ModelParallel`` with a layout map that shards the
  hidden Dense kernel (and its gradient) across the 2 devices.

In each, ``ReplayData`` records a short ``fit`` through its compiled
recording step, and every record is compared with a single-device NumPy
computation (float64) from the recorded weights: activations, z-values,
predictions, per-sample losses and the gradients of the mean loss (by
hand-written backpropagation), to 1e-5.  The last record must be the trained
model's own (gathered) weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TOL = dict(rtol=1e-5, atol=1e-5)
EPOCHS = 2
CHILD_TIMEOUT = 240
WORKERS_TIMEOUT = 300  # a pair takes 20-170 s on 2 cores shared with other jobs (load 13-21)
HIDDEN = 4


# ==========================================================================
# Shared by the children: data, model, the NumPy reference
# ==========================================================================


def _data():
    rng = np.random.default_rng(18)
    X = rng.normal(size=(64, 2)).astype(np.float32)
    y = (X[:, :1] * X[:, 1:] > 0).astype(np.float32)
    return X, y


def _build_model(seed=18):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(HIDDEN, activation="tanh", name="hidden"),
         keras.layers.Dense(1, activation="sigmoid", name="output")],
        name="small",
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _reference(X, y, w):
    """Forward pass, per-sample BCE and the gradients of its mean, in float64 NumPy, from weights ``w``."""
    f = {layer: {k: np.asarray(v, np.float64) for k, v in vars_.items()} for layer, vars_ in w.items()}
    x = X.astype(np.float64)
    z1 = x @ f["hidden"]["kernel"] + f["hidden"]["bias"]
    a1 = np.tanh(z1)
    z2 = a1 @ f["output"]["kernel"] + f["output"]["bias"]
    p = 1.0 / (1.0 + np.exp(-z2))
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    losses = -(y * np.log(pc) + (1 - y) * np.log(1 - pc)).mean(axis=-1)
    dz2 = (p - y) / len(x)  # d mean(BCE(sigmoid(z2))) / d z2
    da1 = dz2 @ f["output"]["kernel"].T
    dz1 = da1 * (1 - a1 ** 2)
    grads = {"hidden": {"kernel": x.T @ dz1, "bias": dz1.sum(0)},
             "output": {"kernel": a1.T @ dz2, "bias": dz2.sum(0)}}
    return dict(z1=z1, a1=a1, z2=z2, p=p, losses=losses, grads=grads)


def _check_recording(filename, group, model, X, y, keys=None):
    """Every record against the NumPy reference; the last one against the model's gathered weights."""
    from deepreplay import _backend
    from deepreplay.storage import RecordingReader

    with RecordingReader(filename, group) as r:
        assert r.complete
        np.testing.assert_array_equal(r.epochs, np.arange(EPOCHS + 1) if keys is None else keys)
        for k in range(r.n_records):
            w = r.weights(k)
            ref = _reference(X, y, w)
            for layer, z, a in (("hidden", "z1", "a1"), ("output", "z2", "p")):
                np.testing.assert_allclose(r.outputs(k, layer, "z"), ref[z], **TOL, err_msg=f"{group} z {layer} {k}")
                np.testing.assert_allclose(r.outputs(k, layer), ref[a], **TOL, err_msg=f"{group} {layer} {k}")
            np.testing.assert_allclose(r.predictions(k), ref["p"], **TOL, err_msg=f"{group} predictions {k}")
            np.testing.assert_allclose(r.losses(k), ref["losses"], **TOL, err_msg=f"{group} losses {k}")
            grads = r.gradients(k)
            for layer, vars_ in ref["grads"].items():
                for var, g in vars_.items():
                    assert grads[layer][var].shape == g.shape, (group, layer, var, grads[layer][var].shape)
                    np.testing.assert_allclose(grads[layer][var], g, **TOL, err_msg=f"{group} grad {layer}.{var} {k}")
            assert max(np.abs(g).max() for v in grads.values() for g in v.values()) > 1e-3  # not all zeros
        last = r.weights(r.n_records - 1)
        for layer in model.layers:
            for var in layer.weights:
                full = _backend.variable_to_numpy(var)
                np.testing.assert_array_equal(last[layer.name][var.name], full, err_msg=f"{group} {var.path}")
        return r.n_records


def _record(model, X, y, filename, group):
    from deepreplay.callbacks import ReplayData

    replaydata = ReplayData(X, y, filename, group)
    model.fit(X, y, epochs=EPOCHS, batch_size=16, shuffle=False, verbose=0, callbacks=[replaydata])
    # On TensorFlow the probe runs inside the compiled step; elsewhere in its own compiled call.
    probe_compiled = replaydata._step.runs_also or replaydata._probe._call.compiled
    return {"step_compiled": replaydata._step.compiled, "probe_compiled": probe_compiled}


# ==========================================================================
# The children
# ==========================================================================


def _child_mirrored(out):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    assert keras.backend.backend() == "tensorflow"
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    X, y = _data()
    with strategy.scope():
        model = _build_model()
    assert strategy.num_replicas_in_sync == 2
    assert type(model.get_layer("hidden").kernel.value).__name__.startswith("Mirrored")
    filename = str(out / "mirrored.h5")
    report = {"replicas": strategy.num_replicas_in_sync, **_record(model, X, y, filename, "mirrored")}
    report["records_checked"] = _check_recording(filename, "mirrored", model, X, y)
    return report


def _child_jax(out):
    import jax
    import keras

    assert keras.backend.backend() == "jax"
    devices = keras.distribution.list_devices()
    assert len(devices) == 2 and len(jax.devices()) == 2, devices
    X, y = _data()
    report = {"devices": len(devices)}

    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    model = _build_model()
    filename = str(out / "jax.h5")
    report["data_parallel"] = _record(model, X, y, filename, "data_parallel")
    report["data_parallel"]["records_checked"] = _check_recording(filename, "data_parallel", model, X, y)

    mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"], devices)
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*hidden/kernel"] = (None, "model")  # the hidden kernel's 4 units, 2 on each device
    keras.distribution.set_distribution(keras.distribution.ModelParallel(layout_map=layout_map,
                                                                         batch_dim_name="batch"))
    model = _build_model()
    kernel = model.get_layer("hidden").kernel.value
    shards = {tuple(s.data.shape) for s in kernel.addressable_shards}
    assert shards == {(2, HIDDEN // 2)}, shards  # really sharded: each device holds half the columns
    report["model_parallel"] = _record(model, X, y, filename, "model_parallel")
    report["model_parallel"]["kernel_shards"] = sorted(shards)
    report["model_parallel"]["records_checked"] = _check_recording(filename, "model_parallel", model, X, y)
    return report


WORKER_BATCH = 16  # global batch: 8 samples per worker
WORKER_EVERY_STEPS = 3


def _child_worker(out, index, port0, port1):
    """One of two MultiWorkerMirroredStrategy workers; both run this with the same ReplayData."""
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{port0}", f"127.0.0.1:{port1}"]},
                                          "task": {"type": "worker", "index": int(index)}})
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras

    from deepreplay.callbacks import ReplayData

    X, y = _data()
    with strategy.scope():
        model = _build_model()
        model.optimizer.build(model.trainable_variables)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = tf.data.Dataset.from_tensor_slices((X, y)).batch(WORKER_BATCH).with_options(options)
    batches = strategy.experimental_distribute_dataset(dataset)

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            per_sample = keras.losses.binary_crossentropy(yb, model(xb, training=True))
            loss = tf.nn.compute_average_loss(per_sample, global_batch_size=WORKER_BATCH)
        grads = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def train_step(xb, yb):
        return strategy.reduce("SUM", strategy.run(replica_step, args=(xb, yb)), axis=None)

    workdir = out / f"worker{index}"
    workdir.mkdir()
    os.chdir(workdir)  # both workers are given the same relative filename, as one script run twice
    replaydata = ReplayData(X, y, "run.h5", "run", every_steps=WORKER_EVERY_STEPS)
    steps_per_epoch = len(X) // WORKER_BATCH
    callbacks = keras.callbacks.CallbackList([replaydata], model=model, epochs=EPOCHS, steps=steps_per_epoch)
    steps = 0
    callbacks.on_train_begin()
    for epoch in range(EPOCHS):
        callbacks.on_epoch_begin(epoch)
        for batch, (xb, yb) in enumerate(batches):
            logs = {"loss": float(train_step(xb, yb))}
            steps += 1
            callbacks.on_train_batch_end(batch, logs)
        callbacks.on_epoch_end(epoch, logs)
    callbacks.on_train_end()
    report = {"index": int(index), "is_chief": replaydata.is_chief, "steps": steps,
              "computed": replaydata._step is not None or replaydata._probe is not None,
              "files": sorted(os.listdir(workdir)), "weights": [w.tolist() for w in model.get_weights()]}
    if replaydata.is_chief:
        total = EPOCHS * steps_per_epoch
        keys = sorted(set(range(0, total + 1, WORKER_EVERY_STEPS)) | {total})
        report["records_checked"] = _check_recording("run.h5", "run", model, X, y, keys=keys)
    return report


def _child_jax_worker(out, index, port):
    """One of two JAX processes under keras.distribution.DataParallel; both run the same ReplayData."""
    import jax
    import keras

    from deepreplay import _backend
    from deepreplay.callbacks import ReplayData

    index = int(index)
    keras.distribution.initialize(job_addresses=f"127.0.0.1:{port}", num_processes=2, process_id=index)
    assert jax.process_count() == 2 and jax.process_index() == index
    distribution = keras.distribution.DataParallel(devices=jax.devices())
    distribution.auto_shard_dataset = False  # each process is given its own half of the data below
    keras.distribution.set_distribution(distribution)
    X, y = _data()
    model = _build_model()
    assert not model.get_layer("hidden").kernel.value.is_fully_addressable  # one global array over 2 processes

    class Steps(keras.callbacks.Callback):
        count = 0

        def on_train_batch_end(self, batch, logs=None):
            Steps.count += 1

    workdir = out / f"jaxworker{index}"
    workdir.mkdir()
    os.chdir(workdir)
    replaydata = ReplayData(X, y, "run.h5", "run")
    half = len(X) // 2
    model.fit(X[index * half:(index + 1) * half], y[index * half:(index + 1) * half], epochs=EPOCHS,
              batch_size=8, shuffle=False, verbose=0, callbacks=[replaydata, Steps()])
    report = {"index": index, "is_chief": replaydata.is_chief, "steps": Steps.count,
              "computed": replaydata._step is not None or replaydata._probe is not None,
              "files": sorted(os.listdir(workdir)),
              "weights": [_backend.variable_to_numpy(v).tolist() for v in model.weights]}
    if replaydata.is_chief:
        report["records_checked"] = _check_recording("run.h5", "run", model, X, y)
    jax.distributed.shutdown()
    return report


def _child_main(argv):
    mode, out = argv[0], Path(argv[1])
    if mode == "jax":
        sys.modules["tensorflow"] = None  # not needed on JAX; importing it would only cost seconds
    sys.path.insert(0, str(REPO))
    start = time.perf_counter()
    if mode == "worker":
        report = _child_worker(out, *argv[2:])
    elif mode == "jaxworker":
        report = _child_jax_worker(out, *argv[2:])
    else:
        report = {"mirrored": _child_mirrored, "jax": _child_jax}[mode](out)
    report["seconds"] = round(time.perf_counter() - start, 2)
    print("REPORT " + json.dumps(report), flush=True)
    if mode == "jaxworker":
        os._exit(0)  # after jax.distributed.shutdown() the interpreter's exit can hang in the runtime's threads


# ==========================================================================
# The tests (in the pytest process)
# ==========================================================================

_ENV = {
    "jaxworker": {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
    "mirrored": {"KERAS_BACKEND": "tensorflow"},
    "jax": {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
            "JAX_PLATFORMS": "cpu"},
}


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_children(out, modes, *, timeout=CHILD_TIMEOUT):
    """Run the children side by side; ``{name: (returncode, report or None, output)}``.

    ``modes`` are ``'mirrored'``, ``'jax'`` or ``'workers'`` (the two
    MultiWorkerMirroredStrategy processes, named ``worker0`` and ``worker1``).
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env.pop("TF_CONFIG", None)
    commands = {}
    for mode in modes:
        if mode == "workers":
            ports = [str(p) for p in _free_ports(2)]
            for index in (0, 1):
                commands[f"worker{index}"] = (["worker", str(out), str(index), *ports], _ENV["mirrored"])
        elif mode == "jaxworkers":
            port = str(_free_ports(1)[0])
            for index in (0, 1):
                commands[f"jaxworker{index}"] = (["jaxworker", str(out), str(index), port], _ENV["jaxworker"])
        else:
            commands[mode] = ([mode, str(out)], _ENV[mode])
    running = {}
    for name, (args, extra_env) in commands.items():
        log = open(out / f"{name}.log", "w+")
        proc = subprocess.Popen([sys.executable, __file__, *args], stdout=log, stderr=subprocess.STDOUT,
                                env={**env, **extra_env}, cwd=out)
        running[name] = (proc, log)
    results = {}
    deadline = time.monotonic() + timeout
    for mode, (proc, log) in running.items():
        try:
            rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.seek(0)
        text = log.read()
        log.close()
        lines = [line for line in text.splitlines() if line.startswith("REPORT ")]
        results[mode] = (rc, json.loads(lines[-1][len("REPORT "):]) if lines else None, text)
    return results


@pytest.fixture(scope="module")
def distributed_runs(tmp_path_factory):
    return run_children(tmp_path_factory.mktemp("distribution"), ["mirrored", "jax"])


@pytest.fixture(scope="module")
def worker_runs(tmp_path_factory):
    return run_children(tmp_path_factory.mktemp("workers"), ["workers"], timeout=WORKERS_TIMEOUT)


@pytest.fixture(scope="module")
def jax_worker_runs(tmp_path_factory):
    return run_children(tmp_path_factory.mktemp("jaxworkers"), ["jaxworkers"], timeout=WORKERS_TIMEOUT)


def check_worker_pair(runs, prefix="worker"):
    """What a two-process run must show; returns the chief's report."""
    chief, other = _report(runs, f"{prefix}0"), _report(runs, f"{prefix}1")
    assert chief["is_chief"] is True and other["is_chief"] is False
    if prefix == "worker":
        assert chief["records_checked"] == len(set(range(0, chief["steps"] + 1, WORKER_EVERY_STEPS)) | {chief["steps"]})
        assert chief["steps"] == EPOCHS * len(_data()[0]) // WORKER_BATCH
    else:
        assert chief["records_checked"] == EPOCHS + 1
    assert chief["files"] == ["run.h5"]
    assert other["files"] == [] and other["computed"] is False  # no file opened, nothing computed
    assert chief["steps"] == other["steps"] > 0
    for a, b in zip(chief["weights"], other["weights"], strict=True):  # trained together to the end
        np.testing.assert_array_equal(a, b)
    return chief


def _report(runs, mode):
    rc, report, text = runs[mode]
    assert rc == 0 and report is not None, f"the {mode} child failed (exit {rc}):\n{text[-6000:]}"
    return report


def test_records_under_mirrored_strategy(distributed_runs):
    """MirroredStrategy on 2 logical CPUs: every record equals the single-device NumPy computation."""
    report = _report(distributed_runs, "mirrored")
    assert report["replicas"] == 2
    assert report["step_compiled"] is True and report["probe_compiled"] is True
    assert report["records_checked"] == EPOCHS + 1


def test_records_under_jax_data_parallel(distributed_runs):
    report = _report(distributed_runs, "jax")
    assert report["devices"] == 2
    dp = report["data_parallel"]
    assert dp["step_compiled"] is True and dp["probe_compiled"] is True
    assert dp["records_checked"] == EPOCHS + 1


def test_records_full_arrays_of_sharded_weights(distributed_runs):
    """ModelParallel: the hidden kernel lives in 2 shards, its recorded weights and gradients are whole."""
    mp = _report(distributed_runs, "jax")["model_parallel"]
    assert mp["kernel_shards"] == [[2, HIDDEN // 2]]
    assert mp["step_compiled"] is True and mp["probe_compiled"] is True
    assert mp["records_checked"] == EPOCHS + 1


def test_multi_worker_only_the_chief_records(worker_runs):
    """Two MultiWorkerMirroredStrategy processes: the chief's file is complete and correct, the other
    worker wrote nothing, and both finished every step (no collective waited on the recording).
    ``benchmarks/multiworker_reliability.py`` repeats this 5 times."""
    check_worker_pair(worker_runs)


def test_multi_process_jax_only_process_0_records(jax_worker_runs):
    """Two JAX processes under keras.distribution.DataParallel: process 0 records from its own replica
    (no collective added), the other writes and computes nothing, both finish every step."""
    check_worker_pair(jax_worker_runs, prefix="jaxworker")


if __name__ == "__main__":
    _child_main(sys.argv[1:])
