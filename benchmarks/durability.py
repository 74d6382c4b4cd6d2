"""What durable, promptly-stopping writes cost (issue 13): fsync per record, background vs waited writes.

Run ``python benchmarks/durability.py`` (about 2-4 min on 2 shared cores).

1. **fsync per record.**  Real records (captured from a Part 1 fit and a
   BLOCK fit with default ``ReplayData`` settings) are appended again with
   ``RecordingWriter.append`` into fresh files, with ``safe_io.FSYNC`` on
   (journal, directory and file flushed: the default) and off, interleaved
   (on, off, on, off, ...), ``--records`` records per file, ``--rounds``
   rounds.  Printed: the median milliseconds per record of each, and their
   difference; and the CPU time per record (``time.thread_time``, the part
   of a record that ReplayData's writer thread takes from the machine).
2. **Background writes vs waiting for each write.**  ``ReplayData`` writes a
   record in a background thread while the next epoch trains; a failed write
   stops ``fit`` after the batch in progress.  The alternative that would stop
   before the next epoch's first batch is to wait for each write at the next
   epoch's start (every record synchronous).  The Part 1 fit (``--epochs``
   epochs) is run bare, with ``ReplayData`` and with ``ReplayData`` waiting
   for each write, interleaved, ``--repeats`` times each.  Printed: the
   median wall time of each and the cost of waiting per epoch.
3. **The file kept open between records** (``safe_io.KeptFile``, issue 12).
   The same Part 1 (and BLOCK) records appended with the writer as it is
   (the HDF5 file kept open in memory between records) and with every
   record opening the file afresh through ``safe_io.open_write`` (the write
   path before), interleaved file by file, ``--rounds`` rounds, fsync on.
   Printed: the writer thread's CPU per record (``time.thread_time``
   median) and wall time of each, and how many times each opened the file.
4. **Small arrays packed into one dataset** (layout version 2, issue 12).
   The same records appended by the writer as it is (file kept open) into
   groups of the packed layout (``storage.PACK_SMALL_ARRAYS``: a record's
   small float32 arrays in one ``packed`` dataset) and of the version 1
   layout (one dataset per array), interleaved file by file, ``--rounds``
   rounds, fsync on.  Printed: the writer thread's CPU per record (median)
   and wall time of each, and the file sizes.
5. **The write protocol against earlier revisions'** (``--only protocol``).
   ``deepreplay/safe_io.py`` of each git revision of ``--against`` (default:
   :data:`PROTOCOL_BEFORE`: before the journal was written in place, and
   before it became a chain of entries) is loaded as a module of its own;
   the same records (Part 1, and the 1M-parameter MLP of
   ``zoo_overhead.py`` with its 10,000 recorded samples) are appended by the
   writer with this version's ``KeptFile`` and with those revisions',
   interleaved file by file, ``--rounds`` rounds, fsync on (off too with
   ``--no-fsync``; with ``--storage`` those revisions' ``storage.py`` writes
   too).  Printed: the writer thread's CPU per record (median) and wall
   time of each.  ``--only protocol-fit``: the same comparison
   inside Part 1 fits (``--epochs`` epochs, ``--repeats`` fits of each,
   interleaved; ReplayData's writer given each revision's ``KeptFile``):
   the writer thread's CPU per record as ``recording_overhead.py`` counts
   it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time

import _common  # noqa: F401  (repository on sys.path, quiet TensorFlow)
from _common import load, part1_data, part1_model


def capture_records(kind: str, epochs: int) -> tuple[dict, list[dict]]:
    """The ``create`` arguments and the ``append`` records of a real fit (written to a scratch file too)."""
    import keras

    from deepreplay.callbacks import ReplayData

    keras.utils.set_random_seed(0)
    if kind == "part1":
        X, y = part1_data()
        model, batch = part1_model(), 16
    elif kind == "mlp":  # zoo_overhead.py's 1M-parameter MLP, fitted on its 10,000 recorded samples
        import zoo_overhead

        X, y = zoo_overhead.mlp_data(10_000)
        model, batch = zoo_overhead.mlp(), 256
    else:
        X, y = _common.block_data()
        model, batch = _common.block_model(), _common.BLOCK_BATCH_SIZE
    with tempfile.TemporaryDirectory() as tmp:
        callback = ReplayData(X, y, os.path.join(tmp, "capture.h5"), "g")
        created, records = {}, []
        create, append = callback._writer.create, callback._writer.append

        def keep_create(**kw):
            created.update(kw)
            return create(**kw)

        def keep_append(**kw):
            records.append(kw)
            return append(**kw)

        callback._writer.create, callback._writer.append = keep_create, keep_append
        model.fit(X, y, epochs=epochs, batch_size=batch, verbose=0, callbacks=[callback])
    return created, records


def append_costs(created: dict, records: list[dict], rounds: int, workdir: str,
                 cpu: dict[bool, list[float]] | None = None) -> dict[bool, list[float]]:
    """Seconds per appended record with FSYNC on and off (interleaved).

    ``cpu``, when given, receives the CPU seconds of each append too (``time.thread_time``: what
    ReplayData's writer thread spends per record; waits for the disk are not CPU).
    """
    from deepreplay import safe_io, storage

    costs: dict[bool, list[float]] = {True: [], False: []}
    if cpu is not None:
        cpu.update({True: [], False: []})
    for r in range(rounds):
        for fsync in (True, False):
            safe_io.FSYNC = fsync
            path = os.path.join(workdir, f"append-{r}-{int(fsync)}.h5")
            writer = storage.RecordingWriter(path, "g")
            writer.create(**created)
            for record in records:
                start, start_cpu = time.perf_counter(), time.thread_time()
                writer.append(**record)
                costs[fsync].append(time.perf_counter() - start)
                if cpu is not None:
                    cpu[fsync].append(time.thread_time() - start_cpu)
            os.unlink(path)
    safe_io.FSYNC = True
    return costs


class ReopeningFile:
    """The write path before ``safe_io.KeptFile``: every session opens the file afresh (``open_write``)."""

    def __init__(self, filename: str) -> None:
        self.filename, self.generation, self.opens = filename, 0, 0

    @contextlib.contextmanager
    def session(self, *, what: str = "a record", wait: float | None = None, final: bool = False):
        from deepreplay import safe_io

        self.generation += 1  # HDF5 ids do not outlive a session
        self.opens += 1
        with safe_io.open_write(self.filename, what=what, wait=wait) as f:
            yield f

    def discard(self) -> None:
        pass


def ms(values: list[float]) -> float:
    """The median of ``values`` (seconds) in milliseconds."""
    return statistics.median(values) * 1000


def timed_appends(writer, records: list[dict], costs: dict[str, list]) -> None:
    """Append ``records`` one by one, each one's writer CPU (``time.thread_time``) and wall seconds
    into ``costs["cpu"]`` and ``costs["wall"]``; then mark the group complete."""
    for record in records:
        start, start_cpu = time.perf_counter(), time.thread_time()
        writer.append(**record)
        costs["cpu"].append(time.thread_time() - start_cpu)
        costs["wall"].append(time.perf_counter() - start)
    writer.mark_complete()


def kept_costs(created: dict, records: list[dict], rounds: int, workdir: str) -> dict[str, dict[str, list]]:
    """CPU and wall seconds per appended record: the file kept open vs reopened per record (interleaved)."""
    from deepreplay import storage

    out: dict[str, dict[str, list]] = {k: {"cpu": [], "wall": [], "opens": []} for k in ("kept", "reopened")}
    for r in range(rounds):
        for kind in out:
            path = os.path.join(workdir, f"kept-{r}-{kind}.h5")
            writer = storage.RecordingWriter(path, "g")
            writer.create(**created)
            if kind == "reopened":
                writer._kept = ReopeningFile(path)
            timed_appends(writer, records, out[kind])
            out[kind]["opens"].append(writer._kept.opens)
            os.unlink(path)
    return out


def packed_costs(created: dict, records: list[dict], rounds: int, workdir: str) -> dict[str, dict[str, list]]:
    """CPU and wall seconds per appended record and file sizes: packed vs version 1 layout (interleaved)."""
    from deepreplay import storage

    out: dict[str, dict[str, list]] = {k: {"cpu": [], "wall": [], "bytes": []} for k in ("packed", "unpacked")}
    before = storage.PACK_SMALL_ARRAYS
    try:
        for r in range(rounds):
            for kind in out:
                storage.PACK_SMALL_ARRAYS = kind == "packed"
                path = os.path.join(workdir, f"packed-{r}-{kind}.h5")
                writer = storage.RecordingWriter(path, "g")
                writer.create(**created)
                timed_appends(writer, records, out[kind])
                out[kind]["bytes"].append(os.path.getsize(path))
                os.unlink(path)
    finally:
        storage.PACK_SMALL_ARRAYS = before
    return out


def kept_summary(costs: dict[str, dict[str, list]]) -> str:
    """The line :func:`kept_costs` gives (after "<kind>: <n> records x <rounds> rounds, ")."""
    kept, reopened = costs["kept"], costs["reopened"]
    return (f"writer CPU per record (median): file kept open {ms(kept['cpu']):.2f} ms, reopened per record "
            f"(before) {ms(reopened['cpu']):.2f} ms ({ms(kept['cpu']) / ms(reopened['cpu']):.2f} x); wall "
            f"{ms(kept['wall']):.1f} vs {ms(reopened['wall']):.1f} ms; file opens per file "
            f"{statistics.median(kept['opens']):.0f} vs {statistics.median(reopened['opens']):.0f}")


def packed_summary(costs: dict[str, dict[str, list]]) -> str:
    """The line :func:`packed_costs` gives (after "<kind>: <n> records x <rounds> rounds, ")."""
    packed, unpacked = costs["packed"], costs["unpacked"]
    return (f"writer CPU per record (median, file kept open): small arrays packed {ms(packed['cpu']):.2f} ms, "
            f"one dataset per array (layout 1) {ms(unpacked['cpu']):.2f} ms "
            f"({ms(packed['cpu']) / ms(unpacked['cpu']):.2f} x); wall {ms(packed['wall']):.1f} vs "
            f"{ms(unpacked['wall']):.1f} ms; file {statistics.median(packed['bytes']) / 1024:.0f} vs "
            f"{statistics.median(unpacked['bytes']) / 1024:.0f} KiB")


#: The revisions whose write protocol ``--only protocol`` compares against by default: the last one
#: before the journal was written in place (and large records' new pages written once), and the
#: last one before the journal became a chain of entries (one flush per record).
PROTOCOL_BEFORE = "0c113e1,e18e05d"


def load_safe_io(revision: str, module_name: str = "safe_io"):
    """``deepreplay/safe_io.py`` (or another module of the package) as it was at git ``revision``, loaded as a
    module of its own."""
    import importlib.util
    import subprocess

    import deepreplay

    source = subprocess.run(["git", "show", f"{revision}:deepreplay/{module_name}.py"], cwd=_common.REPO,
                            check=True, capture_output=True, text=True).stdout
    name = f"deepreplay._{module_name}_{revision.replace('/', '_').replace('-', '_')}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = deepreplay.__name__
    exec(compile(source, f"{revision}:deepreplay/{module_name}.py", "exec"), module.__dict__)  # noqa: S102
    return module


def protocol_costs(created: dict, records: list[dict], rounds: int, workdir: str, before: dict,
                   fsyncs: tuple[bool, ...] = (True,), storages: dict | None = None) -> dict[str, dict[str, list]]:
    """CPU and wall seconds per appended record: this version's write protocol vs the ``before`` modules
    (revision -> module, see :func:`load_safe_io`), interleaved file by file, for each FSYNC setting.
    ``storages`` (revision -> that revision's ``storage`` module): those arms' writer is that revision's
    ``RecordingWriter`` too."""
    from deepreplay import safe_io, storage

    modules = {"this version": safe_io, **before}
    out: dict[str, dict[str, list]] = {}
    saved = {name: module.FSYNC for name, module in modules.items()}
    try:
        for r in range(rounds):
            for fsync in fsyncs:
                for n, (name, module) in enumerate(modules.items()):
                    for m in modules.values():
                        m.FSYNC = fsync
                    path = os.path.join(workdir, f"protocol-{r}-{n}-{int(fsync)}.h5")
                    writer = (storages or {}).get(name, storage).RecordingWriter(path, "g")
                    writer.create(**created)
                    writer._kept = module.KeptFile(path)
                    timed_appends(writer, records, out.setdefault(f"{name}|{int(fsync)}", {"cpu": [], "wall": []}))
                    os.unlink(path)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path + safe_io.JOURNAL_SUFFIX)
    finally:
        for name, module in modules.items():
            module.FSYNC = saved[name]
    return out


def protocol_summary(costs: dict[str, dict[str, list]]) -> str:
    """The line :func:`protocol_costs` gives."""
    parts = []
    for fsync in (1, 0):
        runs = {key.split("|")[0]: value for key, value in costs.items() if key.endswith(f"|{fsync}")}
        if runs:
            base = ms(runs["this version"]["cpu"])
            parts.append(f"fsync {'on' if fsync else 'off'}: writer CPU per record (median) " + ", ".join(
                f"{name} {ms(run['cpu']):.2f} ms" + ("" if name == "this version" else
                                                     f" ({base / ms(run['cpu']):.2f} x)")
                for name, run in runs.items()) + "; wall " + ", ".join(
                f"{ms(run['wall']):.1f}" for run in runs.values()) + " ms")
    return "; ".join(parts)


def protocol_fit_costs(epochs: int, repeats: int, workdir: str, before: dict,
                       storages: dict | None = None) -> dict[str, list[float]]:
    """The writer thread's CPU per record inside Part 1 fits (``_common.timed_replaydata``): ReplayData
    writing with this version's ``KeptFile`` and with each ``before`` module's, fits interleaved.
    ``storages`` (revision -> that revision's ``storage`` module): those fits' writer is that revision's
    ``RecordingWriter`` too (the class of ReplayData's writer swapped before training)."""
    import keras

    from deepreplay import safe_io
    from deepreplay.callbacks import ReplayData

    X, y = part1_data()
    modules = {"this version": safe_io, **before}
    out: dict[str, list[float]] = {name: [] for name in modules}
    for r in range(repeats):
        for n, (name, module) in enumerate(modules.items()):
            keras.utils.set_random_seed(r)
            model = part1_model()
            path = os.path.join(workdir, f"protocol-fit-{r}-{n}.h5")
            callback = ReplayData(X, y, path, "g")
            callback._writer._kept = module.KeptFile(path)
            if storages and name in storages:
                callback._writer.__class__ = storages[name].RecordingWriter
            timer = _common.timed_replaydata(callback)
            model.fit(X, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[callback])
            out[name].extend(timer.background_calls[1:-1])  # the records of the epochs (not 0 nor the last)
            os.unlink(path)
    return out


def fit_times(epochs: int, repeats: int, workdir: str) -> dict[str, list[float]]:
    """Wall seconds of the Part 1 fit: bare, ReplayData, ReplayData waiting for each write."""
    import keras

    from deepreplay.callbacks import ReplayData

    class WaitingReplayData(ReplayData):
        """Waits for each record's write before the next epoch trains (every record synchronous)."""

        def on_epoch_begin(self, epoch, logs=None):
            super().on_epoch_begin(epoch, logs)
            self._finish_writes()

    X, y = part1_data()
    times: dict[str, list[float]] = {"bare": [], "background": [], "waited": []}
    for r in range(repeats):
        for kind in times:
            keras.utils.set_random_seed(r)
            model = part1_model()
            path = os.path.join(workdir, f"fit-{kind}-{r}.h5")
            callbacks = [] if kind == "bare" else [
                (ReplayData if kind == "background" else WaitingReplayData)(X, y, path, "g")]
            start = time.perf_counter()
            model.fit(X, y, epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks)
            times[kind].append(time.perf_counter() - start)
            if os.path.exists(path):
                os.unlink(path)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=40, help="records captured and appended per file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40, help="epochs of each Part 1 fit (trial 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("fsync", "wait", "kept", "packed", "protocol", "protocol-fit"))
    parser.add_argument("--against", default=PROTOCOL_BEFORE,
                        help="git revisions (comma-separated) whose safe_io.py trial 5 compares with "
                             "(default: %(default)s)")
    parser.add_argument("--no-fsync", action="store_true", help="trial 5: compare with fsync off too")
    parser.add_argument("--storage", action="store_true",
                        help="trial 5: the --against revisions' storage.py too (their RecordingWriter), "
                             "not only their safe_io.py")
    args = parser.parse_args(argv)
    print(load())
    with tempfile.TemporaryDirectory(dir=os.environ.get("DEEPREPLAY_BENCH_DIR")) as workdir:
        if args.only in (None, "fsync"):
            for kind in ("part1", "block"):
                created, records = capture_records(kind, args.records - 1)
                cpu: dict[bool, list[float]] = {}
                costs = append_costs(created, records, args.rounds, workdir, cpu)
                on, off = ms(costs[True]), ms(costs[False])
                iqr = {k: "-".join(f"{q * 1000:.1f}" for q in statistics.quantiles(v, n=4)[::2])
                       for k, v in costs.items()}
                print(f"{kind}: {len(records)} records x {args.rounds} rounds; append per record (median, "
                      f"quartiles): fsync {on:.1f} ms ({iqr[True]}), no fsync {off:.1f} ms ({iqr[False]}); "
                      f"fsync costs {on - off:+.1f} ms per record")
                print(f"{kind}: CPU per record (the writer thread's share, median): fsync {ms(cpu[True]):.2f} ms, "
                      f"no fsync {ms(cpu[False]):.2f} ms")
        for trial, costs_of, summary in (("kept", kept_costs, kept_summary), ("packed", packed_costs, packed_summary)):
            if args.only in (None, trial):
                for kind in ("part1", "block"):
                    created, records = capture_records(kind, args.records - 1)
                    costs = costs_of(created, records[1:], args.rounds, workdir)
                    print(f"{kind}: {len(records) - 1} records x {args.rounds} rounds, {summary(costs)}")
        if args.only in (None, "protocol"):
            before = {revision: load_safe_io(revision) for revision in args.against.split(",")}
            for kind in ("part1", "mlp"):
                n = args.records if kind == "part1" else max(4, args.records // 4)
                created, records = capture_records(kind, n - 1)
                storages = ({revision: load_safe_io(revision, "storage") for revision in before}
                            if args.storage else None)
                costs = protocol_costs(created, records[1:], args.rounds, workdir, before,
                                       (True, False) if args.no_fsync else (True,), storages)
                print(f"{kind}: {len(records) - 1} records x {args.rounds} rounds, {protocol_summary(costs)} "
                      "(x: this version's CPU / that revision's)")
        if args.only in (None, "protocol-fit"):
            before = {revision: load_safe_io(revision) for revision in args.against.split(",")}
            storages = ({revision: load_safe_io(revision, "storage") for revision in before}
                        if args.storage else None)
            cpu = protocol_fit_costs(args.epochs, args.repeats, workdir, before, storages)
            base = ms(cpu["this version"])
            figures = [f"{name} {ms(values):.2f} ms" for name, values in cpu.items()]
            others = list(cpu.values())[1:]
            figures[1:] = [f"{text} ({base / ms(values):.2f} x)" for text, values in zip(figures[1:], others)]
            print(f"part1 fit, {args.epochs} epochs x {args.repeats}, writer thread CPU per record inside the fit "
                  f"(median): {', '.join(figures)}")
        if args.only in (None, "wait"):
            times = fit_times(args.epochs, args.repeats, workdir)
            bare, background, waited = (statistics.median(times[k]) for k in ("bare", "background", "waited"))
            print(f"part1 fit, {args.epochs} epochs x {args.repeats}: bare {bare:.2f} s, ReplayData (background "
                  f"writes) {background:.2f} s ({background / bare:.3f} x bare), waiting for each write "
                  f"{waited:.2f} s ({waited / bare:.3f} x bare): waiting costs "
                  f"{(waited - background) / args.epochs * 1000:+.1f} ms per epoch")
    print(load())
    return 0


if __name__ == "__main__":
    sys.exit(main())
