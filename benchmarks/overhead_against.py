"""ReplayData's own time on Part 1 fits, this code against an earlier git revision, in one process.

Usage::

    python benchmarks/overhead_against.py --against 14f43fe          # 6 fits of each, 40 epochs (~1 min)
    python benchmarks/overhead_against.py --against main --fits 8 --epochs 60 --json out.json

The package as it is in ``--against`` (a git revision of this repository) is
extracted and imported as a package of its own (``deepreplay_<rev>``, its
imports of ``deepreplay`` renamed), next to this working tree's
``deepreplay``.  Part 1 fits (the posts' 2-2-1 network, 2,000 samples, batch
16) are recorded by each version's ``ReplayData``, alternating fit by fit
(after a warm-up fit of each), the same seed each time.  Per version, the
medians over its fits of:

* ``begin``: ``on_train_begin`` (set-up and record 0), CPU ms of the
  calling thread (``time.thread_time``) and wall ms;
* ``hook``: ``on_epoch_end``, CPU ms per call (the epoch's record: the
  recording step and its hand-off to the writer) and wall ms;
* ``writer``: the writer thread's CPU ms per record (``RecordingWriter.append``
  under ``time.thread_time``);
* ``own``: hook wall + writer CPU per epoch, the figure
  ``recording_overhead.py`` divides by the bare epoch.

CPU times are the figures to compare on a shared machine: wall times move
with the load, and both versions share each fit's conditions only on
average (they alternate).  The records of the two versions are compared
too: every array of the last fit's recordings, through the reader.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time

import _common as c


def load_revision(revision: str, workdir: str):
    """The ``deepreplay`` package of git ``revision``, imported as ``deepreplay_<rev>``."""
    sha = subprocess.run(["git", "rev-parse", "--short", revision], cwd=c.REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    name = f"deepreplay_{sha}"
    archive = subprocess.run(["git", "archive", sha, "deepreplay"], cwd=c.REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(workdir, filter="data")
    root = os.path.join(workdir, name)
    os.rename(os.path.join(workdir, "deepreplay"), root)
    pattern = re.compile(r"^(\s*)(from|import) deepreplay(?=[. \n])", re.M)
    for folder, _, files in os.walk(root):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(folder, file)
                with open(path) as f:
                    text = f.read()
                with open(path, "w") as f:
                    f.write(pattern.sub(lambda m: f"{m.group(1)}{m.group(2)} {name}", text))
    sys.path.insert(0, workdir)
    importlib.import_module(name)
    return importlib.import_module(f"{name}.callbacks"), importlib.import_module(f"{name}.storage"), sha


def timed_fit(callbacks_module, X, y, path: str, group: str, epochs: int) -> tuple[dict, object]:
    """One recorded Part 1 fit; its CPU and wall timings (seconds) and the callback."""
    import keras

    keras.utils.set_random_seed(42)
    model = c.part1_model()
    rd = callbacks_module.ReplayData(X, y, path, group)
    out = {"begin_cpu": [], "begin_wall": [], "hook_cpu": [], "hook_wall": [], "writer": []}

    def timed(method, cpu_key, wall_key):
        def hook(*args, **kwargs):
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                out[cpu_key].append(time.thread_time() - cpu)
                out[wall_key].append(time.perf_counter() - wall)
        return hook

    rd.on_train_begin = timed(rd.on_train_begin, "begin_cpu", "begin_wall")
    rd.on_epoch_end = timed(rd.on_epoch_end, "hook_cpu", "hook_wall")
    append = rd._writer.append

    def writer_append(**record):
        cpu = time.thread_time()
        try:
            return append(**record)
        finally:
            out["writer"].append(time.thread_time() - cpu)

    rd._writer.append = writer_append
    model.fit(X, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[rd])
    result = {key: 1e3 * c.median(values) for key, values in out.items()}
    result["own"] = result["hook_wall"] + result["writer"]
    return result, rd


def same_records(storage_old, storage_new, old: tuple[str, str], new: tuple[str, str]) -> bool:
    """Whether two recordings hold the same arrays, record by record, through each version's reader."""
    import numpy as np

    with storage_old.RecordingReader(*old) as a, storage_new.RecordingReader(*new) as b:
        if a.n_records != b.n_records or list(a.epochs) != list(b.epochs):
            return False
        for record in range(a.n_records):
            for getter in ("weights", "gradients"):
                wa, wb = getattr(a, getter)(record), getattr(b, getter)(record)
                if wa.keys() != wb.keys() or any(not np.array_equal(wa[k][v], wb[k][v]) for k in wa for v in wa[k]):
                    return False
            for layer in a.output_layers():
                for kind in ("activations", "z"):
                    try:
                        va, vb = a.outputs(record, layer, kind), b.outputs(record, layer, kind)
                    except (KeyError, ValueError):
                        continue
                    if not np.array_equal(va, vb):
                        return False
            if not (np.array_equal(a.predictions(record), b.predictions(record))
                    and np.array_equal(a.losses(record), b.losses(record))):
                return False
        for name in a.evaluation_names:
            if not np.array_equal(a.evaluation(name), b.evaluation(name), equal_nan=True):
                return False
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="git revision to compare with (e.g. main, 14f43fe)")
    parser.add_argument("--fits", type=int, default=6, help="timed fits of each version (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=40, help="epochs per fit (default: %(default)s)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    from deepreplay import callbacks as callbacks_new
    from deepreplay import storage as storage_new

    tmp = tempfile.mkdtemp(prefix="deepreplay_against_")
    callbacks_old, storage_old, sha = load_revision(args.against, tmp)
    versions = {f"{sha} (--against)": (callbacks_old, storage_old), "this tree": (callbacks_new, storage_new)}
    print(f"ReplayData's own time on Part 1 fits: {sha} against this tree, {args.fits} fits of each, "
          f"{args.epochs} epochs, alternating")
    print(f"  start: {c.load()}", flush=True)
    X, y = c.part1_data()
    runs: dict[str, list[dict]] = {name: [] for name in versions}
    last: dict[str, tuple[str, str]] = {}
    for i in range(args.fits + 1):  # the first round warms up
        order = list(versions) if i % 2 == 0 else list(reversed(versions))
        for name in order:
            path, group = os.path.join(tmp, f"{'old' if name != 'this tree' else 'new'}.h5"), f"f{i}"
            result, _ = timed_fit(versions[name][0], X, y, path, group, args.epochs if i else 3)
            if i:
                runs[name].append(result)
                last[name] = (path, group)
    keys = ("begin_cpu", "begin_wall", "hook_cpu", "hook_wall", "writer", "own")
    medians = {name: {key: c.median([r[key] for r in rs]) for key in keys} for name, rs in runs.items()}
    old_name = next(iter(versions))
    print(c.table([[key, f"{medians[old_name][key]:.3f}", f"{medians['this tree'][key]:.3f}",
                    f"{medians['this tree'][key] - medians[old_name][key]:+.3f}"] for key in keys],
                  ["ms (medians of the fits)", old_name, "this tree", "difference"]))
    print("begin: on_train_begin per fit; hook: on_epoch_end per epoch; writer: the writer thread's CPU per "
          "record; own: hook wall + writer CPU per epoch")
    same = same_records(storage_old, storage_new, last[old_name], last["this tree"])
    print(f"records of the last fits identical: {same}")
    print(f"  end: {c.load()}")
    result = {"against": sha, "medians": medians, "runs": runs, "identical_records": same}
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
