"""Reliability trials of the recording path (issue 13): readers, full disks, kills, hostile files.

Run ``python benchmarks/reliability.py`` (about 30-60 min on 2 shared cores;
``--quick`` for a few minutes).  Each trial prints what it did and counts its
failures; the last lines are the table for ``benchmarks/README.md``.

1. **Readers vs writers**: ``--fits`` fits of ``--epochs`` epochs, split
   between two writer processes recording *different groups of one file* at
   the same time, while a third process runs ``deepreplay info``, ``Replay``
   and plain ``h5py.File(path, "r")`` on that file in a tight loop.  Failures:
   a fit that raised, a group whose records are not exactly epochs
   ``0..epochs`` with the model's final weights at the last one, a reader
   error other than "being written, try again" (and, for plain h5py, other
   than its refusal by HDF5's lock and the "truncated file" of an open that
   measured the file's size before a record grew it: plain HDF5's race,
   counted apart).
2. **Full disk**: one process, ``RLIMIT_FSIZE`` set to the file's size plus
   a level (0 bytes to 1 MiB: during group creation and during records), a
   real ``fit`` per level into a file holding another recording.  Failures:
   anything but a ``RecordingError`` naming the file and the free space, a
   crash or anything printed on stderr, a NaN or missing earlier record, a
   changed byte in the other group, a group left marked complete.
3. **Kills**: ``--kills`` child processes writing records (the storage layer,
   no Keras: the write path is the same) into one shared file, killed with
   SIGKILL while paused at a named moment of a write session (session open,
   journal not yet written, new pages past the file's end written directly,
   journal written, file grown, half the pages written, all written) or at a
   random time; every other writer writes the pages past the file's end
   directly (``safe_io.DIRECT_WRITE_BYTES = 0``, as large records do), the
   others through the journal (a quarter of all with journal chains of 2
   entries, ``safe_io.CHAIN_ENTRIES``, so that chains start again often).  After each kill: every group
   is read whole; failures: an unreadable group, a record lost beyond the one
   in flight, a record with wrong values, a changed byte in the other group,
   a group that ``overwrite=True`` cannot replace.
3b. **Chained kills** (``--chained`` trials, each on a fresh file): a writer
   killed half-way through applying its journal, then the next writer (which
   first applies that journal) killed at each pause point in turn, at a
   random session, or at a random time; every group is then read whole with
   the journal read in memory only, after a deepreplay reader applied it,
   and after a third writer ran (the writers alternate between direct and
   journaled new pages).  Failures: as for the kills, plus a complete journal
   left after a reader could apply it.
4. **Hostile files**: ``--hostile`` generated damaged or hostile files
   (links to FIFOs and other files, huge declared shapes, wrong dtypes, bad
   attributes, truncations, flipped bytes, code payloads) through
   ``deepreplay info``, ``deepreplay render`` and ``Replay``, each in its own
   process under a timeout, with its peak memory.  Failures: a hang, a
   traceback, an exit code other than 0/1, an API error other than
   ``RecordingError``, code executed (a marker file), memory above
   ``--max-rss-mib``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import _common  # noqa: F401  (repository on sys.path, quiet TensorFlow)

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow",
           DEEPREPLAY_PROGRESS="0")
PAUSE_POINTS = ("session-open", "before-journal", "fresh-written", "journal-written", "file-grown", "mid-apply",
                "applied")


def _python(code: str, *args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env or ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def group_digest(filename: str, group: str) -> str:
    """SHA-256 of every dataset's name, dtype, shape and bytes and every attribute of ``group``."""
    import h5py
    import numpy as np

    from deepreplay import safe_io

    h = hashlib.sha256()
    # Through deepreplay's reader: a file whose writer was killed while applying its journal is read
    # with the journal (plain h5py would see the half-written file until the next deepreplay write).
    with safe_io.open_read(filename) as f:
        g = f[group]
        for key in sorted(g.attrs):
            h.update(f"{key}={g.attrs[key]!r}".encode())

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                h.update(f"{name}:{obj.dtype}:{obj.shape}".encode())
                h.update(np.asarray(data).tobytes() if not isinstance(data, bytes) else data)

        g.visititems(visit)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------
# The synthetic writer: deepreplay.storage without Keras (what the kill trials run)
# ------------------------------------------------------------------------------------------------
SYNTHETIC_WRITER = r"""
import os, sys, numpy as np
from deepreplay import safe_io, storage
if os.environ.get("SYNTHETIC_DIRECT_WRITES"):  # every page past the file's end written directly (no journal)
    safe_io.DIRECT_WRITE_BYTES = 0
if os.environ.get("SYNTHETIC_CHAIN_ENTRIES"):  # short journal chains: the file flushed, a chain started again
    safe_io.CHAIN_ENTRIES = int(os.environ["SYNTHETIC_CHAIN_ENTRIES"])
filename, group, n, progress = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
w = storage.RecordingWriter(filename, group)
w.create(attrs={"loss": "mse", "metrics": []}, model_config="{}", inputs=np.ones((50, 3), "f4"),
         targets=np.zeros((50, 1), "f4"), sample_indices=np.arange(50), layers=["dense"],
         quantities=("weights", "predictions", "losses"), overwrite=True)
with open(progress, "a") as p:
    p.write("created\n"); p.flush()
    for e in range(n):
        w.append(epoch=e, logs={"loss": float(e)}, evaluation={"loss": float(e)},
                 weights={"dense": {"kernel": np.full((3, 64), e, "f4"), "bias": np.full(64, e, "f4")}},
                 predictions=np.full((50, 1), e, "f4"), losses=np.full(50, e, "f4"))
        p.write(f"{e + 1}\n"); p.flush()
    w.mark_complete()
    p.write("complete\n"); p.flush()
"""


def write_synthetic(filename: str, group: str, n: int) -> None:
    """Write a synthetic recording in this process (the 'other' group of the kill trials)."""
    proc = _python(SYNTHETIC_WRITER, filename, group, str(n), os.devnull)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(err)


def check_synthetic(filename: str, group: str) -> tuple[int, bool, list[str]]:
    """``(records, complete, problems)`` of a synthetic recording, read whole through the API."""
    import numpy as np

    from deepreplay import storage

    problems = []
    try:
        with storage.RecordingReader(filename, group) as r:
            n, complete = r.n_records, r.complete
            epochs = r.epochs
            if not np.array_equal(epochs, np.arange(n)):
                problems.append(f"{group}: epochs {epochs[:5]}... are not 0..{n - 1}")
            for k in range(n):
                w = r.weights(k)["dense"]
                if not (np.all(w["kernel"] == k) and np.all(w["bias"] == k) and np.all(r.losses(k) == k)
                        and np.all(r.predictions(k) == k)):
                    problems.append(f"{group}: record {k} has wrong values")
                    break
            if n and not np.array_equal(r.log("loss"), np.arange(n)):
                problems.append(f"{group}: logs/loss wrong")
    except Exception as exc:  # noqa: BLE001 - every failure is counted
        return 0, False, [f"{group}: {type(exc).__name__}: {exc}"]
    return n, complete, problems


# ------------------------------------------------------------------------------------------------
# 3. Kills
# ------------------------------------------------------------------------------------------------
def kill_trials(workdir: str, kills: int, *, records: int = 6, seed: int = 0, log=print) -> dict:
    """SIGKILL synthetic writers at pause points and at random times; check the file after each."""
    rng = random.Random(seed)
    filename = os.path.join(workdir, "kills.h5")
    write_synthetic(filename, "other", 5)
    other = group_digest(filename, "other")
    result = {"kills": 0, "aimed": 0, "random": 0, "unreadable": 0, "lost_beyond_one": 0, "wrong_values": 0,
              "other_changed": 0, "not_replaceable": 0, "no_kill": 0}
    trial = 0
    damaged: set[str] = set()
    while result["kills"] < kills:
        trial += 1
        group = f"g{trial % 4}"
        aimed = trial % 3 != 0
        # Sessions: 1 = create, 2..records+1 = appends, records+2 = the complete flag.
        pause = f"{PAUSE_POINTS[trial % len(PAUSE_POINTS)]}:{rng.randint(1, records + 2)}" if aimed else None
        # Every other trial writes the pages past the file's end directly (as large records do), so that
        # each pause point is reached in both modes ("fresh-written" in this one only); a quarter of them
        # start a journal chain every 2 records (16 by default).
        killed, lines = _killed_writer(filename, group, records, pause, workdir, str(trial), rng, delay=(0.05, 1.2),
                                       direct=trial % 2 == 0, chain=2 if trial % 4 == 1 else None)
        if not killed:
            result["no_kill"] += 1  # the point was not reached (or the writer ended first): no kill
            continue
        result["kills"] += 1
        result["aimed" if aimed else "random"] += 1
        acked = max([int(x) for x in lines if x.isdigit()] or [0])
        from deepreplay import storage

        try:
            groups = storage.list_groups(filename)
        except Exception as exc:  # noqa: BLE001
            result["unreadable"] += 1
            log(f"  kill {trial}: file unreadable: {exc}")
            continue
        for name in groups:
            n, _, problems = check_synthetic(filename, name)
            if problems and name not in damaged:  # counted once, when the group is first found damaged
                damaged.add(name)
                kind = "unreadable" if any("Error" in p for p in problems) else "wrong_values"
                result[kind] += 1
                log(f"  kill {trial} ({pause or 'random'}): {problems[0]}")
            elif not problems:
                damaged.discard(name)
            if name == group and "created" in lines and not (acked <= n <= acked + 1):
                result["lost_beyond_one"] += 1
                log(f"  kill {trial}: {n} records readable, {acked} acknowledged")
        if group_digest(filename, "other") != other:
            result["other_changed"] += 1
        if trial % 10 == 0:
            log(f"  {result['kills']} kills so far: {json.dumps(result)}")
    # Every group left by a kill can be replaced with overwrite=True.
    from deepreplay import storage

    for name in storage.list_groups(filename):
        if name != "other":
            proc = _python(SYNTHETIC_WRITER, filename, name, "1", os.devnull)
            if proc.wait() != 0 or check_synthetic(filename, name)[0] != 1:
                result["not_replaceable"] += 1
    result["failures"] = sum(result[k] for k in ("unreadable", "lost_beyond_one", "wrong_values",
                                                  "other_changed", "not_replaceable"))
    return result


# ------------------------------------------------------------------------------------------------
# 3b. Chained kills: a writer killed half-way through its pages, then the next writer killed too
# ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _readers_do_not_recover():
    """Readers of this process read a leftover journal in memory only (as before readers applied it)."""
    from deepreplay import safe_io

    saved = safe_io._finish_interrupted_write
    safe_io._finish_interrupted_write = lambda filename: None
    try:
        yield
    finally:
        safe_io._finish_interrupted_write = saved


def _killed_writer(filename: str, group: str, records: int, pause: str | None, workdir: str, tag: str,
                   rng: random.Random, *, delay: tuple[float, float] = (0.02, 0.6),
                   direct: bool = False, chain: int | None = None) -> tuple[bool, list[str]]:
    """Run a synthetic writer, killed at ``pause`` ('point:n'), or after a random ``delay`` (s) when None.

    ``direct``: the writer writes every page past the file's end directly (``DIRECT_WRITE_BYTES = 0``);
    ``chain``: its journal chains hold that many entries (``CHAIN_ENTRIES``).

    Returns whether it was killed (it may end or fail to reach the point first) and the lines of
    its progress file (the records it acknowledged).
    """
    progress, sigfile = os.path.join(workdir, f"progress-{tag}"), os.path.join(workdir, f"signal-{tag}")
    env = dict(ENV, SYNTHETIC_DIRECT_WRITES="1") if direct else dict(ENV)
    if chain:
        env["SYNTHETIC_CHAIN_ENTRIES"] = str(chain)
    if pause:
        env.update(DEEPREPLAY_PAUSE_AT=pause, DEEPREPLAY_PAUSE_SIGNAL=sigfile)
    proc = _python(SYNTHETIC_WRITER, filename, group, str(records), progress, env=env)
    start = time.monotonic()
    if pause:
        while not os.path.exists(sigfile) and proc.poll() is None and time.monotonic() - start < 60:
            time.sleep(0.005)
    else:
        time.sleep(rng.uniform(*delay))
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.communicate()
    lines = Path(progress).read_text().split() if os.path.exists(progress) else []
    return killed, lines


def chained_kill_trials(workdir: str, trials: int, *, records: int = 4, seed: int = 0, log=print) -> dict:
    """Writer A killed half-way through applying its journal; writer B (which first finishes A's journal)
    killed at each pause point in turn or at random; the file checked after each, by readers that read the
    journal in memory, then by readers that apply it, then after a third writer ran to its end."""
    from deepreplay import safe_io, storage

    rng = random.Random(seed)
    points = PAUSE_POINTS + ("random",)
    result = {"trials": 0, "a_not_mid_apply": 0, "b_not_killed": 0, "checks": 0, "unreadable": 0,
              "wrong_values": 0, "lost_beyond_one": 0, "other_changed": 0, "journal_left": 0}
    for trial in range(trials):
        tdir = os.path.join(workdir, f"chain{trial}")
        os.makedirs(tdir)
        filename = os.path.join(tdir, "f.h5")
        write_synthetic(filename, "other", 3)
        write_synthetic(filename, "g0", 2)
        other = group_digest(filename, "other")
        group_a = rng.choice(["g0", "g1"])
        killed, lines_a = _killed_writer(filename, group_a, records, f"mid-apply:{rng.randint(1, records + 2)}",
                                         tdir, "a", rng, direct=trial % 2 == 1)
        if not killed or not safe_io.journal_pending(filename):
            result["a_not_mid_apply"] += 1
            continue
        point = points[trial % len(points)]
        group_b = rng.choice(["g0", "g1", "g2"])
        pause = None if point == "random" else f"{point}:{rng.randint(1, records + 2)}"
        killed_b, lines_b = _killed_writer(filename, group_b, records, pause, tdir, "b", rng,
                                           direct=trial // len(points) % 2 == 0, chain=2 if trial % 3 == 0 else None)
        result["trials"] += 1
        result["b_not_killed"] += not killed_b
        acked = {g: max([int(x) for x in lines if x.isdigit()] or [0]) for g, lines in
                 ((group_a, lines_a), (group_b, lines_b)) if "created" in lines}
        if group_a == group_b and "created" not in lines_b:
            acked.pop(group_a, None)  # B may or may not have replaced A's group before its first record

        def check(stage: str) -> None:
            result["checks"] += 1
            for name in storage.list_groups(filename):
                n, _, problems = check_synthetic(filename, name)
                if problems:
                    kind = "unreadable" if any("Error" in p for p in problems) else "wrong_values"
                    result[kind] += 1
                    log(f"  trial {trial} (A {group_a} killed mid-apply, B {group_b} killed at {pause or 'random'}), "
                        f"{stage}: {problems[0]}")
                elif name in acked and not acked[name] <= n <= acked[name] + 1:
                    result["lost_beyond_one"] += 1
                    log(f"  trial {trial} {stage}: {name} has {n} records, {acked[name]} acknowledged")
            if group_digest(filename, "other") != other:
                result["other_changed"] += 1
                log(f"  trial {trial} {stage}: the other group changed")

        try:
            with _readers_do_not_recover():
                check("journal read in memory")
            check("journal applied by a reader")
            if safe_io.journal_pending(filename):
                result["journal_left"] += 1
            write_synthetic(filename, "g3", 2)
            acked["g3"] = 2
            check("after a third writer")
        except Exception as exc:  # noqa: BLE001 - the file itself could not be listed
            result["unreadable"] += 1
            log(f"  trial {trial}: {type(exc).__name__}: {exc}")
        if (trial + 1) % 7 == 0:
            log(f"  {trial + 1} trials: {json.dumps(result)}")
    result["failures"] = sum(result[k] for k in ("unreadable", "wrong_values", "lost_beyond_one",
                                                  "other_changed", "journal_left"))
    return result


# ------------------------------------------------------------------------------------------------
# 2. Full disk
# ------------------------------------------------------------------------------------------------
FULL_DISK_CHILD = r"""
import json, os, resource, signal, sys
import numpy as np, keras
from deepreplay.callbacks import ReplayData
from deepreplay.errors import RecordingError
filename, levels, epochs = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 8)).astype("f4"); y = (X[:, :1] > 0).astype("f4")
out = []
for i, level in enumerate(levels):
    keras.utils.set_random_seed(i)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    size = os.path.getsize(filename)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + level, hard))
    try:
        model.fit(X, y, epochs=epochs, batch_size=50, verbose=0,
                  callbacks=[ReplayData(X, y, filename, f"level{i}", output_samples=None)])
        outcome, message = "completed", ""
    except RecordingError as exc:
        outcome, message = "RecordingError", str(exc)
    except BaseException as exc:
        outcome, message = type(exc).__name__, str(exc)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    out.append({"level": level, "outcome": outcome, "message": message, "iterations":
                int(keras.ops.convert_to_numpy(model.optimizer.iterations))})
print("RESULT " + json.dumps(out))
"""


def full_disk_trials(workdir: str, levels: list[int], *, epochs: int = 30, log=print) -> dict:
    """Fits under RLIMIT_FSIZE = file size + level, in one child process; the file is checked after."""
    import numpy as np

    from deepreplay import storage

    filename = os.path.join(workdir, "full.h5")
    write_synthetic(filename, "other", 5)
    other = group_digest(filename, "other")
    proc = _python(FULL_DISK_CHILD, filename, json.dumps(levels), str(epochs))
    out, err = proc.communicate()
    result = {"levels": len(levels), "clear_error": 0, "completed": 0, "crashes": 0, "stderr_noise": 0,
              "wrong_error": 0, "bad_records": 0, "nan_records": 0, "other_changed": 0, "marked_complete": 0,
              "during_creation": 0}
    noise = [line for line in err.splitlines() if any(w in line for w in ("Exception ignored", "Segmentation",
                                                                         "Traceback", "HDF5-DIAG", "Fatal"))]
    if proc.returncode != 0 or "RESULT " not in out:
        result["crashes"] += 1
        log(f"  child died: rc={proc.returncode} {err[-500:]}")
        rows = []
    else:
        rows = json.loads(out.split("RESULT ", 1)[1])
    result["stderr_noise"] = len(noise)
    groups = storage.list_groups(filename)
    for i, row in enumerate(rows):
        name = f"level{i}"
        if row["outcome"] == "completed":
            result["completed"] += 1
        elif row["outcome"] == "RecordingError" and filename in row["message"] and "free" in row["message"]:
            result["clear_error"] += 1
        else:
            result["wrong_error"] += 1
            log(f"  level {row['level']}: {row['outcome']}: {row['message'][:200]}")
        if name not in groups:
            result["during_creation"] += 1
            continue
        try:
            with storage.RecordingReader(filename, name) as r:
                n = r.n_records
                epochs_read = r.epochs
                if not np.array_equal(epochs_read, np.arange(n)):
                    result["bad_records"] += 1
                for k in range(n):
                    arrays = [v for d in r.weights(k).values() for v in d.values()] + [r.losses(k),
                                                                                       r.predictions(k)]
                    if any(not np.all(np.isfinite(a)) for a in arrays):
                        result["nan_records"] += 1
                        break
                if row["outcome"] != "completed" and r.complete:
                    result["marked_complete"] += 1
        except Exception as exc:  # noqa: BLE001
            result["bad_records"] += 1
            log(f"  level {row['level']}: unreadable: {exc}")
    if group_digest(filename, "other") != other:
        result["other_changed"] += 1
    result["failures"] = sum(result[k] for k in ("crashes", "stderr_noise", "wrong_error", "bad_records",
                                                  "nan_records", "other_changed", "marked_complete"))
    if noise:
        log("  stderr: " + noise[0])
    return result


# ------------------------------------------------------------------------------------------------
# 1. Readers vs writers
# ------------------------------------------------------------------------------------------------
WRITER_CHILD = r"""
import json, sys, numpy as np, keras
from deepreplay.callbacks import ReplayData
import os
filename, prefix, fits, epochs, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rng = np.random.default_rng(len(prefix))
X = rng.normal(size=(64, 2)).astype("f4"); y = (X[:, :1] * X[:, 1:] > 0).astype("f4")
out = []
for i in range(fits):
    if os.path.exists(stop):  # the time limit of the trial: no new fit
        break
    keras.utils.set_random_seed(i)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh", name="hidden"),
                              keras.layers.Dense(1, activation="sigmoid", name="output")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    try:
        model.fit(X, y, epochs=epochs, batch_size=64, verbose=0,
                  callbacks=[ReplayData(X, y, filename, f"{prefix}{i}")])
        final = {layer.name: {v.path.split("/")[-1]: keras.ops.convert_to_numpy(v).tolist() for v in layer.weights}
                 for layer in model.layers}
        out.append({"group": f"{prefix}{i}", "ok": True, "final": final})
    except BaseException as exc:
        out.append({"group": f"{prefix}{i}", "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(out[-1]), flush=True)
"""

READER_CHILD = r"""
import contextlib, io, json, os, sys, time, h5py
from deepreplay import cli
from deepreplay.errors import RecordingError
from deepreplay.replay import Replay
filename, stop = sys.argv[1], sys.argv[2]
counts = {"info": 0, "replay": 0, "h5py": 0, "busy": 0, "h5py_locked": 0, "h5py_raced": 0, "errors": 0}
first_errors = []
while not os.path.exists(stop):
    if not os.path.exists(filename):
        time.sleep(0.01); continue
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.main(["info", filename])
    text = err.getvalue()
    if code == 0 or "no deepreplay recording" in text:
        counts["info"] += 1
    elif "try again" in text:
        counts["busy"] += 1
    else:
        counts["errors"] += 1; first_errors.append("info: " + text.strip()[:300])
    try:
        from deepreplay import storage
        groups = storage.list_groups(filename)
        if groups:
            with Replay(filename, groups[-1]) as r:
                r.weights_at(int(r.epochs[-1])); r.losses_at(int(r.epochs[0]))
        counts["replay"] += 1
    except RecordingError as exc:
        if "try again" in str(exc) or "holds no records" in str(exc):
            counts["busy"] += 1
        else:
            counts["errors"] += 1; first_errors.append(f"Replay: {exc}"[:300])
    except Exception as exc:
        counts["errors"] += 1; first_errors.append(f"Replay: {type(exc).__name__}: {exc}"[:300])
    try:
        with h5py.File(filename, "r") as f:
            list(f)
        counts["h5py"] += 1
    except BlockingIOError:
        counts["h5py_locked"] += 1  # plain h5py's own refusal while a record is written: the reader's side
    except OSError as exc:
        if "truncated file" in str(exc) or "signature not found" in str(exc):
            # Plain HDF5 measures the file's size before taking its lock: a record written in
            # between fails this open (docs/format.md, "Readers and writers"). Counted, not deepreplay's.
            counts["h5py_raced"] += 1
        else:
            counts["errors"] += 1; first_errors.append(f"h5py: {exc}"[:300])
print("RESULT " + json.dumps({"counts": counts, "first_errors": first_errors[:5]}))
"""


def reader_trials(workdir: str, fits: int, epochs: int, *, time_limit: float | None = None, log=print) -> dict:
    """Two writer processes (different groups, one file) against a reader process in a tight loop.

    With ``time_limit`` (seconds), the writers start no new fit after it (fits under way finish).
    """
    import numpy as np

    from deepreplay import storage

    filename = os.path.join(workdir, "readers.h5")
    stop = os.path.join(workdir, "stop-readers")
    reader = _python(READER_CHILD, filename, stop)
    half = fits // 2
    stop_writers = os.path.join(workdir, "stop-writers")
    writers = [_python(WRITER_CHILD, filename, prefix, str(n), str(epochs), stop_writers)
               for prefix, n in (("a", half), ("b", fits - half))]
    if time_limit is not None:
        import threading

        timer = threading.Timer(time_limit, lambda: Path(stop_writers).touch())
        timer.daemon = True
        timer.start()
    rows, errs = [], []
    for w in writers:
        out, err = w.communicate()
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        errs.append((w.returncode, err))
    Path(stop).touch()
    rout, rerr = reader.communicate()
    reading = json.loads(rout.split("RESULT ", 1)[1]) if "RESULT " in rout else {"counts": {}, "first_errors":
                                                                                 [rerr[-300:]]}
    result = {"fits": len(rows), "epochs": epochs, "training_failures": 0, "damaged_groups": 0, "lost_records": 0,
              "reader_errors": reading["counts"].get("errors", 1), **{f"reader_{k}": v for k, v in
                                                                     reading["counts"].items()}}
    for rc, err in errs:
        if rc != 0:
            result["training_failures"] += 1
            log(f"  writer died: {err[-300:]}")
    for row in rows:
        if not row["ok"]:
            result["training_failures"] += 1
            log(f"  {row['group']}: {row['error'][:300]}")
            continue
        try:
            with storage.RecordingReader(filename, row["group"]) as r:
                n = r.n_records
                result["lost_records"] += max(0, epochs + 1 - n)
                ok = np.array_equal(r.epochs, np.arange(epochs + 1)) and r.complete
                last = r.weights(n - 1)
                for layer, values in row["final"].items():  # by variable name: kernel, bias
                    ok &= set(last[layer]) == set(values) and all(
                        np.array_equal(last[layer][k], np.asarray(v, dtype="f4")) for k, v in values.items())
                if not ok:
                    result["damaged_groups"] += 1
        except Exception as exc:  # noqa: BLE001
            result["damaged_groups"] += 1
            log(f"  {row['group']}: {exc}")
    for line in reading["first_errors"]:
        log(f"  reader: {line}")
    result["failures"] = (result["training_failures"] + result["damaged_groups"] + result["lost_records"]
                          + result["reader_errors"])
    return result


# ------------------------------------------------------------------------------------------------
# 4. Hostile files
# ------------------------------------------------------------------------------------------------
def config_dicts(node):
    """Every dict in a JSON tree (a stored ``model_config``), each yielded before its values are visited,
    so that the caller may change it (drop or add keys) as it comes."""
    if isinstance(node, dict):
        yield node
        for value in list(node.values()):
            yield from config_dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from config_dicts(value)


def make_base_recording(filename: str) -> None:
    """A small real recording (Keras fit) to damage."""
    proc = _python(r"""
        import sys, numpy as np, keras
        from deepreplay.callbacks import ReplayData
        X = np.random.default_rng(0).normal(size=(40, 2)).astype("f4"); y = (X[:, :1] > 0).astype("f4")
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="tanh", name="hidden"),
                                  keras.layers.Dense(1, activation="sigmoid", name="output")])
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(X, y, epochs=3, verbose=0, callbacks=[ReplayData(X, y, sys.argv[1], "g")])
    """, filename)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(err)


def unpacked_copy(base: str, path: str) -> None:
    """A copy of ``base`` whose group ``g`` has the version 1 layout (one dataset per array): a packed
    recording's ``packed`` and ``scalars`` datasets split back into the datasets they replace (a version 1
    base is copied)."""
    import shutil

    import h5py

    shutil.copyfile(base, path)
    with h5py.File(path, "a") as f:
        g = f["g"]
        if "packed" in g:
            rows = g["packed"][()]
            for name, (offset, shape) in json.loads(g["packed"].attrs["index"]).items():
                values = rows[:, offset:offset + math.prod(shape)].reshape((len(rows), *shape))
                g.create_dataset(name, data=values, maxshape=(None, *shape), chunks=(1, *shape))
            del g["packed"]
        if "scalars" in g:
            rows = g["scalars"][()]
            for name, column in json.loads(g["scalars"].attrs["index"]).items():
                g.create_dataset(name, data=rows[:, column], maxshape=(None,), chunks=(1024,))
            del g["scalars"]
        g.attrs["format_version"] = 1


def hostile_corpus(base: str, outdir: str, marker: str, count: int) -> list[tuple[str, str]]:
    """``count`` (at least 50) damaged or hostile variants of ``base``: ``[(label, path)]``.

    Most variants damage the version 1 layout (a dataset per array: an unpacked copy of ``base``);
    those labelled ``packed ...`` damage the packed dataset of a version 2 ``base``.
    """
    import shutil

    import h5py
    import numpy as np

    files: list[tuple[str, str]] = []
    os.makedirs(outdir, exist_ok=True)
    packed_base = base
    base = os.path.join(outdir, "base-v1.h5")
    unpacked_copy(packed_base, base)
    fifo = os.path.join(outdir, "fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    other = os.path.join(outdir, "other.h5")
    with h5py.File(other, "w") as f:
        f.create_dataset("epochs", data=np.arange(3))
        f.create_group("g").attrs["format"] = "deepreplay"

    def variant(label: str, edit, source: str | None = None) -> None:
        path = os.path.join(outdir, f"{len(files):03d}.h5")
        shutil.copyfile(source or base, path)
        with h5py.File(path, "a") as f:
            edit(f["g"], f)
        files.append((label, path))

    def replace(name, **kw):
        def edit(g, f):
            del g[name]
            if "link" in kw:
                g[name] = kw["link"]
            else:
                g.create_dataset(name, **kw)
        return edit

    def set_attr(key, value):
        def edit(g, f):
            g.attrs[key] = value
        return edit

    lambda_config = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 2]}},
        {"class_name": "Lambda", "config": {"function": {"class_name": "__lambda__", "config": {
            "code": f"open({marker!r}, 'w').write('pwned')", "defaults": None, "closure": None}}}}]}})
    module_config = json.dumps({"module": "os", "class_name": "system", "config": f"touch {marker}",
                                "registered_name": "system"})
    variant("epochs -> external link to a FIFO", replace("epochs", link=h5py.ExternalLink(fifo, "/x")))
    variant("epochs -> external link to another file", replace("epochs", link=h5py.ExternalLink(other, "/epochs")))
    variant("epochs -> soft link", replace("epochs", link=h5py.SoftLink("/g/losses")))
    variant("weights kernel -> external link to a FIFO", lambda g, f: (g["weights/hidden"].__delitem__("kernel"),
                                                                      g["weights/hidden"].__setitem__(
                                                                          "kernel", h5py.ExternalLink(fifo, "/k"))))
    variant("inputs -> external link", replace("inputs", link=h5py.ExternalLink(other, "/epochs")))

    def group_link(f_edit):
        def edit(g, f):
            f_edit(f)
        return edit

    variant("group -> external link", group_link(lambda f: (f.__delitem__("g"),
                                                            f.__setitem__("g", h5py.ExternalLink(other, "/g")))))
    variant("group -> soft link to itself", group_link(lambda f: (f.__delitem__("g"),
                                                                  f.__setitem__("g", h5py.SoftLink("/g")))))
    variant("hard-link cycle inside the group", lambda g, f: g["weights"].__setitem__("loop", g))
    variant("external raw storage (a FIFO)", replace("predictions", shape=(4, 40, 1), dtype="f4",
                                                     external=[(fifo, 0, h5py.h5f.UNLIMITED)]))
    for name, shape in (("epochs", (10**12,)), ("inputs", (10**9, 2)), ("predictions", (4, 10**8, 1)),
                        ("losses", (4, 10**9)), ("targets", (10**10, 1))):
        variant(f"{name} declared {shape}", replace(name, shape=shape, maxshape=(None,) + shape[1:],
                                                    chunks=(1,) + tuple(1 for _ in shape[1:]), dtype="f4"))
    variant("kernel declared (4, 100000, 100000)", lambda g, f: (
        g["weights/hidden"].__delitem__("kernel"),
        g["weights/hidden"].create_dataset("kernel", shape=(4, 100000, 100000), chunks=(1, 1, 100), dtype="f4")))
    for name, data in (("epochs", np.array([b"a", b"b"])), ("epochs", np.arange(4.0)), ("inputs", np.array([b"x"] * 40)),
                       ("losses", np.zeros(4, dtype=[("a", "f4"), ("b", "i4")])), ("model_config", np.arange(3)),
                       ("epochs", np.zeros((4, 3), "i8")), ("sample_indices", np.zeros((40, 2), "i8")),
                       ("predictions", np.float32(1.0))):
        variant(f"{name} as {getattr(data, 'dtype', type(data))} {np.shape(data)}", replace(name, data=data))
    for key, value in (("complete", "False"), ("complete", 1), ("format_version", "1"), ("format_version", 99),
                       ("format_version", 1.5), ("layers", "not json"), ("layers", json.dumps({"a": 1})),
                       ("layers", "[" * 100000 + "]" * 100000), ("quantities", json.dumps(["evil"])),
                       ("records", -1), ("records", "x"), ("format", "other"), ("metrics", "[" * 50000),
                       ("layers", json.dumps(["missing_layer"]))):
        variant(f"attribute {key}={str(value)[:20]!r}", set_attr(key, value))
    variant("model_config with a Lambda (code)", replace("model_config", data=lambda_config))
    variant("model_config naming os.system", replace("model_config", data=module_config))
    variant("model_config not JSON", replace("model_config", data="{{{{"))
    with h5py.File(base, "r") as f:  # the genuine config, its Dense layers made huge (4e10 values: 160 GB)
        huge = json.loads(f["g/model_config"][()])

    for node in config_dicts(huge):
        node.pop("build_config", None)  # built from the config, not from the recorded shapes
        if node.get("class_name") == "Dense":
            node["config"]["units"] = 200_000
    variant("model_config asking for huge layers", replace("model_config", data=json.dumps(huge)))
    variant("model_config deeply nested", replace("model_config", data="[" * 100000 + "]" * 100000))
    variant("pickle payload attribute", set_attr("keras_version", np.void(b"cos\nsystem\n(S'touch " +
                                                                         marker.encode() + b"'\ntR.")))
    variant("epochs longer than the other datasets", lambda g, f: (g["epochs"].resize((6,)),
                                                                   g.attrs.__setitem__("records", 6)))
    variant("records attribute beyond epochs", set_attr("records", 1000))
    variant("losses shorter than epochs", replace("losses", data=np.zeros((1, 40), "f4")))
    variant("targets rows != inputs rows", replace("targets", data=np.zeros((3, 1), "f4")))
    variant("group is a dataset", group_link(lambda f: (f.__delitem__("g"),
                                                        f.create_dataset("g", data=np.arange(3)).attrs.__setitem__(
                                                            "format", "deepreplay"))))
    variant("weights layer is a dataset", lambda g, f: (g["weights"].__delitem__("hidden"),
                                                        g["weights"].create_dataset("hidden", data=np.arange(3))))
    variant("gzip bomb declared (4, 5000000) zeros", lambda g, f: (g.__delitem__("losses"), g.create_dataset(
        "losses", shape=(4, 5_000_000), chunks=(1, 5_000_000), dtype="f4", compression="gzip", fillvalue=0)))
    # The packed dataset of a version 2 group (small arrays of every record in one dataset, with an index).
    with h5py.File(packed_base, "r") as f:
        packed = "packed" in f["g"]
        index = f["g/packed"].attrs["index"] if packed else "{}"
        width = f["g/packed"].shape[1] if packed else 1

    def packed_variant(label, edit):
        variant(f"packed: {label}", edit, packed_base)

    def set_index(value):
        return lambda g, f: g["packed"].attrs.__setitem__("index", value)

    def packed_as(**kw):
        def edit(g, f):
            del g["packed"]
            ds = g.create_dataset("packed", **kw)
            ds.attrs["index"] = index
        return edit

    if packed:
        packed_variant("-> external link to a FIFO", replace("packed", link=h5py.ExternalLink(fifo, "/p")))
        packed_variant("-> soft link", replace("packed", link=h5py.SoftLink("/g/epochs")))
        packed_variant("external raw storage (a FIFO)", packed_as(shape=(4, width), dtype="f4",
                                                                  external=[(fifo, 0, h5py.h5f.UNLIMITED)]))
        packed_variant("declared (4, 10**11)", packed_as(shape=(4, 10**11), maxshape=(None, None),
                                                         chunks=(1, 10**6), dtype="f4"))
        packed_variant("gzip bomb declared (4, 5000000) zeros", packed_as(
            shape=(4, 5_000_000), chunks=(1, 5_000_000), dtype="f4", compression="gzip", fillvalue=0))
        packed_variant("as float64", packed_as(data=np.zeros((4, width), "f8")))
        packed_variant("as strings", packed_as(data=np.array([b"x"] * 4)))
        packed_variant("1-D", packed_as(data=np.zeros(4 * width, "f4")))
        packed_variant("narrower than its index", packed_as(data=np.zeros((4, 3), "f4")))
        packed_variant("shorter than epochs", packed_as(data=np.zeros((1, width), "f4")))
        packed_variant("index missing", lambda g, f: g["packed"].attrs.__delitem__("index"))
        for label, value in (("not JSON", "{{{"), ("a list", json.dumps(["losses"])), ("deeply nested", "[" * 100000),
                             ("offset beyond the row", json.dumps({"losses": [width, [40]]})),
                             ("huge shape", json.dumps({"losses": [0, [2**62, 2**62]]})),
                             ("negative offset", json.dumps({"losses": [-40, [40]]})),
                             ("overlapping arrays", json.dumps({"losses": [0, [40]], "predictions": [20, [40, 1]]})),
                             ("a path out of the group", json.dumps({"../../other": [0, [1]]})),
                             ("a number", np.arange(3))):
            packed_variant(f"index {label}", set_index(value))
        packed_variant("an array both packed and in its own dataset", lambda g, f: g.create_dataset(
            "losses", data=np.zeros((4, 40), "f4")))
    with h5py.File(packed_base, "r") as f:
        scalars = "scalars" in f["g"]
        scalar_index = f["g/scalars"].attrs["index"] if scalars else "{}"

    def scalars_as(**kw):
        def edit(g, f):
            del g["scalars"]
            g.create_dataset("scalars", **kw).attrs["index"] = scalar_index
        return edit

    if scalars:
        packed_variant("scalars -> external link to a FIFO", replace("scalars", link=h5py.ExternalLink(fifo, "/s")))
        packed_variant("scalars declared (4, 10**12)", scalars_as(shape=(4, 10**12), maxshape=(None, None),
                                                                  chunks=(1, 64), dtype="f8"))
        packed_variant("scalars as float32", scalars_as(data=np.zeros((4, 5), "f4")))
        packed_variant("scalars 1-D", scalars_as(data=np.zeros(20)))
        packed_variant("scalars shorter than epochs", scalars_as(data=np.zeros((1, 5))))
        for label, value in (("missing", None), ("not JSON", "{{{"), ("column beyond the row", '{"logs/loss": 99}'),
                             ("shared column", '{"logs/loss": 0, "logs/x": 0}'),
                             ("a path out of the group", '{"../x": 0}'), ("a column as text", '{"logs/loss": "0"}')):
            packed_variant(f"scalars index {label}", (lambda g, f: g["scalars"].attrs.__delitem__("index"))
                           if value is None else lambda g, f, v=value: g["scalars"].attrs.__setitem__("index", v))
    # Raw damage: truncations and flipped bytes.
    size = os.path.getsize(packed_base)
    for fraction in (0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 0.99):
        path = os.path.join(outdir, f"{len(files):03d}.h5")
        with open(packed_base, "rb") as src, open(path, "wb") as dst:
            dst.write(src.read(int(size * fraction)))
        files.append((f"truncated to {fraction:.0%}", path))
    rng = random.Random(13)
    while len(files) < count:
        path = os.path.join(outdir, f"{len(files):03d}.h5")
        data = bytearray(Path(packed_base).read_bytes())
        spots = [rng.randrange(0, min(len(data), 4096)) for _ in range(rng.randint(1, 12))]
        for spot in spots:
            data[spot] ^= 1 << rng.randrange(8)
        Path(path).write_bytes(bytes(data))
        files.append((f"{len(spots)} flipped metadata bits (seed {len(files)})", path))
    # Not files at all.
    files.append(("a FIFO named .h5", fifo))
    os.makedirs(os.path.join(outdir, "dir.h5"), exist_ok=True)
    files.append(("a directory named .h5", os.path.join(outdir, "dir.h5")))
    Path(outdir, "empty.h5").write_bytes(b"")
    files.append(("an empty file", os.path.join(outdir, "empty.h5")))
    return files


API_SERVER = r"""
import contextlib, io, json, sys, traceback
from deepreplay import cli
from deepreplay.errors import RecordingError
from deepreplay.replay import Replay


def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


print("READY", flush=True)
for line in sys.stdin:
    path, png = json.loads(line)
    with open("/proc/self/clear_refs", "w") as f:  # restart the peak-RSS count for this file
        f.write("5")
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = cli.main(["render", path, "g", "-o", png])
        render = {"code": code, "stderr": err.getvalue()}
    except BaseException:
        render = {"code": "raised", "stderr": err.getvalue() + traceback.format_exc()}
    try:
        with Replay(path, "g") as r:
            r.model_at(int(r.epochs[-1])); r.predictions_at(int(r.epochs[0])); r.weights_at(int(r.epochs[-1]))
            r.get_training_metric("accuracy")
        outcome = "ok"
    except RecordingError as exc:
        outcome = "RecordingError"
    except (FileNotFoundError, ValueError, KeyError) as exc:
        outcome = "clear:" + type(exc).__name__ + ": " + str(exc)[:200]
    except BaseException as exc:
        outcome = "raw:" + type(exc).__name__ + ": " + str(exc)[:200]
    print("RESULT " + json.dumps({"render": render, "api": outcome, "peak_mib": peak_mib()}), flush=True)
"""


class _ApiServer:
    """One process with Keras imported that runs render and Replay on file after file (restarted after a hang)."""

    def __init__(self) -> None:
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", API_SERVER], env=ENV, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     cwd=tempfile.gettempdir())
        if self._line(600) != "READY":
            raise RuntimeError("the render/Replay server did not start")
        self.baseline = None

    def _line(self, timeout: float) -> str | None:
        import select

        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().strip() if ready else None

    def run(self, path: str, png: str, timeout: float) -> dict | None:
        """The child's result for ``path``; None after a hang (the server is then restarted)."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(json.dumps([path, png]) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self._line(max(0.1, deadline - time.monotonic()))
            if line is None:
                break
            if line.startswith("RESULT "):
                return json.loads(line[7:])
            if line == "" and self.proc.poll() is not None:
                self.proc = None
                return {"render": {"code": "died", "stderr": ""}, "api": "died", "peak_mib": 0.0}
        self.stop()
        return None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None



def _peak_rss_mib(args: list[str], timeout: float) -> tuple[str, int | None, str, str, float]:
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tempfile.gettempdir())
    status = "done"
    deadline = time.monotonic() + timeout
    import threading

    chunks: dict[str, str] = {}

    def drain(name, stream):
        chunks[name] = stream.read()

    threads = [threading.Thread(target=drain, args=(n, s)) for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for t in threads:
        t.start()
    while True:
        pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            status = "timeout"
            pid, code, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(code)
    return status, proc.returncode, chunks.get("out", ""), chunks.get("err", ""), usage.ru_maxrss / 1024


def hostile_trials(workdir: str, count: int, *, timeout: float = 180, max_rss_mib: float = 2048,
                   log=print) -> dict:
    """The hostile corpus through ``deepreplay info``, ``deepreplay render`` and ``Replay``."""
    base = os.path.join(workdir, "base.h5")
    make_base_recording(base)
    outdir = os.path.join(workdir, "hostile")
    os.makedirs(outdir, exist_ok=True)
    marker = os.path.join(workdir, "CODE-RAN")
    files = hostile_corpus(base, outdir, marker, count)
    result = {"files": len(files), "runs": 0, "hangs": 0, "tracebacks": 0, "bad_exit": 0, "api_not_recording_error": 0,
              "api_clear_value_error": 0,
              "code_executed": 0, "over_memory": 0, "peak_rss_mib": 0.0, "healthy_base_ok": 0}
    png = os.path.join(workdir, "out.png")
    server = _ApiServer()
    for label, path in files:
        status, code, out, err, rss = _peak_rss_mib([sys.executable, "-m", "deepreplay", "info", path], timeout)
        result["runs"] += 1
        result["peak_rss_mib"] = max(result["peak_rss_mib"], rss)
        problems = []
        lines = [ln for ln in err.splitlines() if ln.strip()]
        if status == "timeout":
            result["hangs"] += 1
            problems.append("info: hang")
        elif "Traceback" in err or "Exception ignored" in err:
            result["tracebacks"] += 1
            problems.append("info: traceback: " + lines[-1][:200])
        elif code not in (0, 1) or (code == 1 and not any(ln.startswith("deepreplay: error") for ln in lines)):
            result["bad_exit"] += 1
            problems.append(f"info exit {code}: {err.strip()[-200:]}")
        if rss > max_rss_mib:
            result["over_memory"] += 1
            problems.append(f"info peak {rss:.0f} MiB")
        found = server.run(path, png, timeout)
        result["runs"] += 2
        if found is None:
            result["hangs"] += 1
            problems.append("render/Replay: hang")
        else:
            render, outcome = found["render"], found["api"]
            result["peak_rss_mib"] = max(result["peak_rss_mib"], found["peak_mib"])
            if "Traceback" in render["stderr"] or render["code"] not in (0, 1):
                result["tracebacks"] += 1
                problems.append("render: " + (render["stderr"].strip().splitlines() or [str(render["code"])])[-1][:200])
            if outcome.startswith("clear:ValueError: the model in") or outcome.startswith("clear:ValueError: weights"):
                # Documented refusals of a model Replay cannot rebuild (Lambda, custom objects): clear, counted.
                result["api_clear_value_error"] += 1
                log(f"  {label}: Replay (clear ValueError, not a failure): {outcome[:160]}")
            elif outcome not in ("RecordingError", "ok") and not outcome.startswith("clear:FileNotFound"):
                result["api_not_recording_error"] += 1
                problems.append("Replay: " + outcome[:200])
            if found["peak_mib"] > max_rss_mib:
                result["over_memory"] += 1
                problems.append(f"render/Replay peak {found['peak_mib']:.0f} MiB")
        if os.path.exists(marker):
            result["code_executed"] += 1
            os.unlink(marker)
            problems.append("CODE RAN")
        if problems:
            log(f"  {label}: {'; '.join(problems)}")
    # The undamaged base goes through the same three (a control: the checks do not refuse good files).
    status, code, out, err, rss = _peak_rss_mib([sys.executable, "-m", "deepreplay", "info", base], timeout)
    ok = int(status == "done" and code == 0)
    found = server.run(base, png, timeout) or {"render": {"code": 1}, "api": "", "peak_mib": 0.0}
    server.stop()
    ok += (found["render"]["code"] == 0) + (found["api"] == "ok")
    result["healthy_base_ok"] = ok
    result["base_peak_rss_mib"] = found["peak_mib"]
    result["failures"] = sum(result[k] for k in ("hangs", "tracebacks", "bad_exit", "api_not_recording_error",
                                                  "code_executed", "over_memory")) + (3 - ok)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small trials (a few minutes)")
    parser.add_argument("--fits", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--kills", type=int, default=120)
    parser.add_argument("--hostile", type=int, default=60)
    parser.add_argument("--max-rss-mib", type=float, default=2048)
    parser.add_argument("--time-limit", type=float, default=None,
                        help="readers trial: start no new fit after this many seconds")
    parser.add_argument("--chained", type=int, default=35, help="chained-kill trials (A mid-apply, then B)")
    parser.add_argument("--only", choices=("readers", "full-disk", "kills", "chained", "hostile"), action="append")
    args = parser.parse_args(argv)
    if args.quick:
        args.fits, args.epochs, args.kills, args.hostile, args.chained = 4, 20, 12, 50, 7
    levels = [0, 512, 4096, 16384, 40000, 65536, 100000, 150000, 250000, 400000, 700000, 1048576]
    only = set(args.only or ("readers", "full-disk", "kills", "chained", "hostile"))
    print(f"load at start: {_common.load()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="deepreplay-reliability-") as workdir:
        for name, run in (
            ("readers", lambda: reader_trials(workdir, args.fits, args.epochs, time_limit=args.time_limit)),
            ("full-disk", lambda: full_disk_trials(workdir, levels[: 4 if args.quick else None])),
            ("kills", lambda: kill_trials(workdir, args.kills)),
            ("chained", lambda: chained_kill_trials(workdir, args.chained)),
            ("hostile", lambda: hostile_trials(workdir, args.hostile, max_rss_mib=args.max_rss_mib)),
        ):
            if name not in only:
                continue
            start = time.monotonic()
            print(f"\n== {name}")
            result = run()
            seconds = time.monotonic() - start
            print(json.dumps(result, indent=1))
            rows.append((name, result, seconds))
    print(f"\nload at end: {_common.load()}")
    print("\n| trial | size | failures | seconds |\n|---|---|---|---|")
    for name, result, seconds in rows:
        size = {"readers": lambda r: f"{r['fits']} fits x {r['epochs']} epochs (2 writers, 1 reader: "
                                     f"{r.get('reader_info', 0)} info, {r.get('reader_replay', 0)} Replay, "
                                     f"{r.get('reader_h5py', 0)} h5py reads; {r.get('reader_busy', 0)} 'try again'; "
                                     f"{r.get('reader_h5py_raced', 0)} plain-h5py opens raced by a record)",
                "full-disk": lambda r: f"{r['levels']} free-space levels ({r['clear_error']} clear errors, "
                                       f"{r['during_creation']} during creation, {r['completed']} fits completed)",
                "kills": lambda r: f"{r['kills']} SIGKILLs ({r['aimed']} at pause points, {r['random']} random)",
                "chained": lambda r: f"{r['trials']} pairs: A killed mid-apply, then B killed at each point or at "
                                     f"random ({r['b_not_killed']} B not killed); {r['checks']} checks",
                "hostile": lambda r: f"{r['files']} files x 3 commands = {r['runs']} runs, peak RSS "
                                     f"{r['peak_rss_mib']:.0f} MiB"}[name](result)
        print(f"| {name} | {size} | {result['failures']} | {seconds:.0f} |")
    return 0 if all(r["failures"] == 0 for _, r, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
