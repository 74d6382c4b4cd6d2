"""Tests for deepreplay.safe_io and the recording's data safety (issue 13).

Small versions of ``benchmarks/reliability.py``: readers in another process
while a fit records, a full disk (``RLIMIT_FSIZE``), SIGKILLs at the moments a
write session has the file open, and a corpus of hostile files.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from conftest import TINY_EPOCHS, make_tiny_model, tiny_data
from deepreplay import cli, safe_io, storage
from deepreplay.callbacks import ReplayData
from deepreplay.errors import RecordingError
from deepreplay.storage import RecordingReader

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import reliability  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=str(REPO))


def _iterations(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


# --------------------------------------------------------------------------
# Write sessions are atomic
# --------------------------------------------------------------------------


def test_a_write_session_that_raises_changes_nothing(tmp_path):
    path = str(tmp_path / "f.h5")
    with safe_io.open_write(path) as f:
        f.create_dataset("x", data=np.arange(10))
    before = Path(path).read_bytes()
    with pytest.raises(KeyError):
        with safe_io.open_write(path) as f:
            f["x"][0] = 99
            f.create_group("half-done")
            raise KeyError("stop")
    assert Path(path).read_bytes() == before
    assert not os.path.exists(path + safe_io.JOURNAL_SUFFIX)


def test_a_journal_left_by_a_killed_writer_is_read_and_then_replayed(tmp_path):
    """Killed half-way through writing its pages: readers see the new state, the next writer completes it."""
    path = str(tmp_path / "f.h5")
    _kill_mid_apply(tmp_path, path)  # the pages of record 2 were being written
    n, _, problems = reliability.check_synthetic(path, "g")
    assert problems == [] and n == 2  # record 2 counts: its journal was complete
    assert reliability.check_synthetic(path, "other")[:2] == (2, True)
    writer = storage.RecordingWriter(path, "new")
    writer.create(attrs={}, model_config="{}", inputs=np.ones((2, 1)), targets=np.ones((2, 1)),
                  sample_indices=np.arange(2), layers=[], quantities=("weights",), overwrite=False)
    assert not safe_io.journal_pending(path)  # the killed writer's entries are in the file
    with h5py.File(path, "r") as f:  # plain h5py sees the completed file again
        assert f["g/epochs"].shape == (2,) and "new" in f
    writer.mark_complete()  # the new writer's last session: the file flushed, no journal left
    assert not os.path.exists(path + safe_io.JOURNAL_SUFFIX)


def _disk_steps(monkeypatch, fsync):
    """Spy on the calls that reach the disk: ('sync' | 'pwrite' | 'unlink' | 'replace', file name) in order.

    Consecutive pwrites (and pwritevs) to one file are listed once.
    """
    events = []

    def name(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        return "dir" if os.path.isdir(target) else os.path.basename(target)

    def spy(label, real):
        def call(*args, **kwargs):
            what = name(args[0]) if label in ("sync", "pwrite") else os.path.basename(args[-1])
            out = real(*args, **kwargs)  # calls that fail (removing a journal that is not there) are not listed
            if not (events and label == "pwrite" and events[-1] == (label, what)):
                events.append((label, what))
            return out
        return call

    monkeypatch.setattr(safe_io, "FSYNC", fsync)
    for attr in ("fsync", "fdatasync"):
        monkeypatch.setattr(os, attr, spy("sync", getattr(os, attr)))
    monkeypatch.setattr(os, "replace", spy("replace", os.replace))
    monkeypatch.setattr(os, "unlink", spy("unlink", os.unlink))
    monkeypatch.setattr(os, "pwrite", spy("pwrite", os.pwrite))
    if hasattr(os, "pwritev"):  # (pages are written as they are, several buffers in one call)
        monkeypatch.setattr(os, "pwritev", spy("pwrite", os.pwritev))
    return events


JOURNAL = "f.h5" + safe_io.JOURNAL_SUFFIX


@pytest.mark.parametrize("fsync", [True, False])
def test_a_write_session_is_flushed_to_disk_in_order(tmp_path, monkeypatch, fsync):
    """Journal written and flushed, its directory flushed (created); the pages, the file flushed; the
    journal retired and (a one-off session) removed."""
    path = str(tmp_path / "f.h5")
    with safe_io.open_write(path) as f:
        f.create_dataset("x", data=np.arange(10))
    steps = _disk_steps(monkeypatch, fsync)
    with safe_io.open_write(path) as f:
        f["x"][0] = 99
    expected = [("pwrite", JOURNAL), ("sync", JOURNAL), ("sync", "dir"), ("pwrite", "f.h5"), ("sync", "f.h5"),
                ("pwrite", JOURNAL), ("unlink", JOURNAL)]
    assert steps == (expected if fsync else [e for e in expected if e[0] != "sync"])
    with h5py.File(path, "r") as f:
        assert f["x"][0] == 99
    assert not os.path.exists(path + safe_io.JOURNAL_SUFFIX)


def _kept_writer(path):
    with safe_io.open_write(path) as f:
        f.create_dataset("x", data=np.arange(10), maxshape=(None,), chunks=(1 << 16,))
    return safe_io.KeptFile(path)


def test_a_kept_files_records_cost_one_flush_each(tmp_path, monkeypatch):
    """A KeptFile's sessions add entries to one journal chain: each entry flushed before the file changes
    (the directory only when the journal is created), the file's pages written and the entry marked
    applied in this boot, the file itself flushed only when a chain starts again (every 16 entries) and at
    the last session, which removes the journal."""
    path = str(tmp_path / "f.h5")
    kept = _kept_writer(path)
    steps = _disk_steps(monkeypatch, True)
    for value in range(1, 3):
        with kept.session() as f:
            f["x"][0] = value
        assert not safe_io.journal_pending(path)
    assert steps == [("pwrite", JOURNAL), ("sync", JOURNAL), ("sync", "dir"), ("pwrite", "f.h5"),
                     ("pwrite", JOURNAL), ("sync", JOURNAL), ("pwrite", "f.h5"), ("pwrite", JOURNAL)]
    for value in range(3, safe_io.CHAIN_ENTRIES + 2):
        with kept.session() as f:
            f["x"][0] = value
    assert steps.count(("sync", "f.h5")) == 1  # the 17th entry started a chain: the file flushed first
    assert steps[-5:] == [("sync", "f.h5"), ("pwrite", JOURNAL), ("sync", JOURNAL), ("pwrite", "f.h5"),
                          ("pwrite", JOURNAL)]
    del steps[:]
    with kept.session(final=True) as f:
        f["x"][1] = 3
    assert steps == [("pwrite", JOURNAL), ("sync", JOURNAL), ("pwrite", "f.h5"), ("sync", "f.h5"),
                     ("pwrite", JOURNAL), ("unlink", JOURNAL)]
    assert not os.path.exists(path + safe_io.JOURNAL_SUFFIX)
    with safe_io.open_read(path) as f:
        assert f["x"][:3].tolist() == [safe_io.CHAIN_ENTRIES + 1, 3, 2]


def test_after_a_reboot_the_chains_entries_are_applied_again(tmp_path, monkeypatch):
    """An entry's mark names this boot: after a reboot (a power cut may have lost pages written since the
    chain started) every entry of the chain is applied again, in order; that rewrites what the file holds."""
    path = str(tmp_path / "f.h5")
    kept = _kept_writer(path)
    for value in range(5):
        with kept.session() as f:
            f["x"][value] = value + 10
    kept.discard()  # the writer gone without its last session: the chain stays
    before = Path(path).read_bytes()
    assert not safe_io.journal_pending(path)
    monkeypatch.setattr(safe_io, "_BOOT", bytes(range(16)))  # another boot
    assert safe_io.journal_pending(path)
    entries = safe_io._pending_entries(path, safe_io._identity(os.open(path, os.O_RDONLY)))
    assert len(entries) == 5
    # A power cut lost the pages of the last three records: readers see them through the journal ...
    with open(path, "r+b") as f:
        for index in set().union(*(pages for _, pages in entries[2:])):
            f.seek(index * 4096)
            f.write(bytes(4096))
    with reliability._readers_do_not_recover():
        with safe_io.open_read(path) as f:
            assert f["x"][:6].tolist() == [10, 11, 12, 13, 14, 5]
    # ... and the first deepreplay reader or writer that may write puts them back.
    with safe_io.open_read(path) as f:
        assert f["x"][:6].tolist() == [10, 11, 12, 13, 14, 5]
    assert Path(path).read_bytes() == before and not safe_io.journal_pending(path)
    assert not os.path.exists(path + safe_io.JOURNAL_SUFFIX)


def test_a_large_records_new_pages_are_written_once_before_the_journal(tmp_path, monkeypatch):
    """Pages past the file's old end (DIRECT_WRITE_BYTES or more) go straight into the file, flushed
    before the journal, which holds only the pages of the old file that changed."""
    path = str(tmp_path / "f.h5")
    kept = _kept_writer(path)
    with kept.session() as f:
        f["x"][0] = 1  # the journal exists from here on
    journals = []
    monkeypatch.setattr(safe_io._Journal, "write", lambda self, fd, size, pages, identity, real=safe_io._Journal.write:
                        (journals.append(sorted(pages)), real(self, fd, size, pages, identity))[1])
    steps = _disk_steps(monkeypatch, True)
    size = os.path.getsize(path)
    big = np.arange(200_000, dtype="f8")  # 1.6 MB
    with kept.session() as f:
        f.create_dataset("big", data=big)
    assert steps == [("pwrite", "f.h5"), ("sync", "f.h5"), ("pwrite", JOURNAL), ("sync", JOURNAL),
                     ("pwrite", "f.h5"), ("pwrite", JOURNAL)]  # (the chain restarted: its first byte zeroed)
    assert journals[0] and max(journals[0]) * 4096 < size  # the journal: old pages only
    assert os.path.getsize(path) > size + big.nbytes
    kept.discard()
    with safe_io.open_read(path) as f:
        np.testing.assert_array_equal(f["big"][()], big)
        assert f["x"][0] == 1


def _kill_mid_apply(tmp_path, path):
    """A writer of group 'g' killed half-way through applying the journal of its third session (record 1)."""
    reliability.write_synthetic(path, "other", 2)
    env = dict(ENV, DEEPREPLAY_PAUSE_AT="mid-apply:3", DEEPREPLAY_PAUSE_SIGNAL=str(tmp_path / "sig"))
    proc = subprocess.Popen([sys.executable, "-c", reliability.SYNTHETIC_WRITER, path, "g", "5", os.devnull],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (tmp_path / "sig").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert os.path.exists(path + safe_io.JOURNAL_SUFFIX)


def test_a_deepreplay_reader_finishes_a_killed_writers_journal_for_plain_h5py(tmp_path, capsys):
    path = str(tmp_path / "f.h5")
    _kill_mid_apply(tmp_path, path)
    assert cli.main(["info", path]) == 0  # any deepreplay reader: here the command line
    assert "[g]" in capsys.readouterr().out
    assert not os.path.exists(path + safe_io.JOURNAL_SUFFIX)
    with h5py.File(path, "r") as f:  # plain h5py now sees the whole file
        assert f["g/epochs"][()].tolist() == [0, 1] and int(f["g"].attrs["records"]) == 2
        offset, shape = json.loads(f["g/packed"].attrs["index"])["weights/dense/kernel"]  # small: packed
        kernel = f["g/packed"][1, offset:offset + 3 * 64].reshape(shape)
        assert kernel.tolist() == np.full((3, 64), 1.0).tolist()
    assert reliability.check_synthetic(path, "g")[::2] == (2, [])
    assert reliability.check_synthetic(path, "other")[:2] == (2, True)


def test_a_reader_that_cannot_lock_the_file_reads_through_the_journal(tmp_path):
    import fcntl

    path = str(tmp_path / "f.h5")
    _kill_mid_apply(tmp_path, path)
    other_reader = os.open(path, os.O_RDONLY)  # e.g. plain h5py in another process, holding a shared lock
    try:
        fcntl.flock(other_reader, fcntl.LOCK_SH)
        n, _, problems = reliability.check_synthetic(path, "g")
        assert (n, problems) == (2, [])  # the committed record, read through the journal in memory
        assert os.path.exists(path + safe_io.JOURNAL_SUFFIX)  # not applied: the file stays as it was
    finally:
        os.close(other_reader)
    reliability.check_synthetic(path, "g")
    assert not os.path.exists(path + safe_io.JOURNAL_SUFFIX)


def _killed_at(tmp_path, path, point, *, direct=False):
    """A writer of group 'g' (after a group 'other' of 2 records) killed at ``point`` of its third session
    (record 1); the file's and the journal's bytes then."""
    import random

    reliability.write_synthetic(path, "other", 2)
    killed, _ = reliability._killed_writer(path, "g", 4, f"{point}:3", str(tmp_path), point, random.Random(0),
                                           direct=direct)
    assert killed
    journal = path + safe_io.JOURNAL_SUFFIX
    return Path(path).read_bytes(), Path(journal).read_bytes() if os.path.exists(journal) else None


def _check_whole(path, records_of_g):
    assert reliability.check_synthetic(path, "g") == (records_of_g, False, [])
    assert reliability.check_synthetic(path, "other") == (2, True, [])
    reliability.write_synthetic(path, "next", 2)  # the next writer finishes or ignores what was left
    assert reliability.check_synthetic(path, "next") == (2, True, [])
    assert reliability.check_synthetic(path, "g")[:2] == (records_of_g, False)
    with h5py.File(path, "r") as f:  # plain h5py sees the whole file
        assert f["g/epochs"].shape == (records_of_g,) and f["next/epochs"].shape == (2,)


def test_a_kill_after_new_pages_were_written_directly_loses_only_the_record_in_flight(tmp_path):
    """Killed with the record's new pages in the file (past HDF5's end of allocation), before its journal."""
    path = str(tmp_path / "f.h5")
    data, journal = _killed_at(tmp_path, path, "fresh-written", direct=True)
    assert not safe_io.journal_pending(path)
    with h5py.File(path, "r") as f:  # the file is longer than HDF5's end of allocation: read as before
        assert f["g/epochs"].shape == (1,) and f.id.get_filesize() == len(data)
    _check_whole(path, 1)


@pytest.mark.parametrize("direct", [False, True])
def test_a_journal_cut_short_or_damaged_is_ignored(tmp_path, direct):
    """A kill or a power cut while a journal entry is written leaves one that fails its checksum (or its
    length): it is never applied, and the file is as the last complete session left it."""
    path = str(tmp_path / "f.h5")
    data, journal = _killed_at(tmp_path, path, "journal-written", direct=direct)
    assert safe_io.journal_pending(path)
    at = len(journal) - 100  # in the last entry (the one in flight)
    for damaged in (journal[:len(journal) - 4200], journal[:at] + bytes([journal[at] ^ 1]) + journal[at + 1:]):
        Path(path + safe_io.JOURNAL_SUFFIX).write_bytes(damaged)
        assert not safe_io.journal_pending(path)
        assert reliability.check_synthetic(path, "g") == (1, False, [])  # record 1 was in flight: lost
    # Bytes of an older, longer journal after a complete one do not matter.
    Path(path + safe_io.JOURNAL_SUFFIX).write_bytes(journal + b"older journal" * 500)
    assert safe_io.journal_pending(path)
    Path(path + safe_io.JOURNAL_SUFFIX).write_bytes(journal[:50] + bytes([journal[50] ^ 1]) + journal[51:])
    assert Path(path).read_bytes() == data
    _check_whole(path, 1)


def test_a_journal_entry_applied_again_changes_nothing_and_one_of_another_file_is_ignored(tmp_path):
    """A writer killed after writing its pages but before marking its entry applied: the entry is applied
    again, which rewrites the bytes the file holds.  A journal whose device and inode are another file's
    (the file was replaced) is ignored."""
    path = str(tmp_path / "f.h5")
    kept = _kept_writer(path)
    with kept.session() as f:
        f["x"][0] = 7
    kept.discard()
    before = Path(path).read_bytes()
    journal = Path(path + safe_io.JOURNAL_SUFFIX)
    marked = journal.read_bytes()
    assert marked[-32:-16] == safe_io._BOOT
    journal.write_bytes(marked[:-32] + bytes(32))  # its mark never written
    assert safe_io.journal_pending(path)
    with safe_io.open_read(path) as f:  # a reader applies it again (and removes the journal)
        assert f["x"][0] == 7
    assert Path(path).read_bytes() == before and not journal.exists()
    # The same journal next to a file created again (another inode) says nothing.
    os.replace(path, path + ".old")
    Path(path).write_bytes(before)
    journal.write_bytes(marked[:-32] + bytes(32))
    assert not safe_io.journal_pending(path)


@pytest.mark.parametrize("magic", [b"DRJRNL02", b"DRJRNL03"])
def test_an_older_versions_journal_is_still_finished(tmp_path, magic):
    """A journal of an earlier layout left by a killed writer (one entry: DRJRNL02 renamed into place,
    exactly as long as its pages; DRJRNL03 written in place, maybe followed by older bytes) is applied
    by readers and writers."""
    import struct
    import zlib

    path = str(tmp_path / "f.h5")
    data, journal = _killed_at(tmp_path, path, "mid-apply")
    st = os.stat(path)
    (size, pages), = safe_io._pending_entries(path, (st.st_dev, st.st_ino))
    body = magic + struct.pack("<QQQQ", size, len(pages), st.st_dev, st.st_ino) + b"".join(
        struct.pack("<Q", index) + bytes(pages[index]) for index in sorted(pages))
    old = body + struct.pack("<I", zlib.crc32(body))
    Path(path + safe_io.JOURNAL_SUFFIX).write_bytes(old[:-1])  # cut short: not valid
    assert not safe_io.journal_pending(path)
    Path(path + safe_io.JOURNAL_SUFFIX).write_bytes(old + b"x")  # DRJRNL02 must be exactly as long
    assert safe_io.journal_pending(path) == (magic == b"DRJRNL03")
    Path(path + safe_io.JOURNAL_SUFFIX).write_bytes(old)
    assert safe_io.journal_pending(path)
    with reliability._readers_do_not_recover():  # read in memory
        assert reliability.check_synthetic(path, "g") == (2, False, [])
    assert Path(path).read_bytes() == data
    _check_whole(path, 2)  # the next writer applied it (record 1 counts: its journal was complete)
    assert not os.path.exists(path + safe_io.JOURNAL_SUFFIX)


def test_a_handle_kept_open_in_the_reading_process_does_not_give_readers_a_stale_view(tmp_path):
    """HDF5 shares a second open of a file with the first: through a kept handle, its metadata cache is stale."""
    path = str(tmp_path / "f.h5")
    reliability.write_synthetic(path, "g", 3)
    kept = h5py.File(path, "r", locking=False)  # e.g. a user's handle, or one a failed close left open
    try:
        _ = kept["g/epochs"][()]
        reliability.write_synthetic(path, "g", 5)  # another process replaces the group (overwrite=True)...
        reliability.write_synthetic(path, "new", 2)  # ... and adds one
        assert reliability.check_synthetic(path, "g") == (5, True, [])
        assert reliability.check_synthetic(path, "new") == (2, True, [])
        assert storage.list_groups(path) == ["g", "new"]
    finally:
        kept.close()


# --------------------------------------------------------------------------
# Readers in other processes never stop a writer; two writers share a file
# --------------------------------------------------------------------------

READER = r"""
import json, os, sys, h5py
from deepreplay import storage
from deepreplay.errors import RecordingError
path, stop = sys.argv[1], sys.argv[2]
counts = {"reads": 0, "h5py": 0, "busy": 0, "errors": []}
while not os.path.exists(stop):
    if not os.path.exists(path):
        continue
    try:
        for name in storage.list_groups(path):
            with storage.RecordingReader(path, name) as r:
                if r.n_records:
                    r.weights(r.n_records - 1); r.epochs
        counts["reads"] += 1
    except RecordingError as exc:
        if "try again" in str(exc):
            counts["busy"] += 1
        else:
            counts["errors"].append(str(exc))
    try:
        with h5py.File(path, "r") as f:   # plain h5py, with HDF5's own file locking
            list(f)
        counts["h5py"] += 1
    except BlockingIOError:
        pass
    except OSError as exc:
        # Plain HDF5 measures the file's size before it takes its lock: a record written in
        # between (the file grew) fails its open ("try again"; docs/format.md). Not deepreplay's.
        if "truncated file" not in str(exc) and "signature not found" not in str(exc):
            raise
print(json.dumps(counts))
"""


def test_a_reader_process_in_a_tight_loop_never_stops_a_fit(tmp_path):
    path = str(tmp_path / "r.h5")
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, path, str(stop)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # the reader is looping (on a missing file first)
        X, y = tiny_data(20)
        model = make_tiny_model()
        model.fit(X, y, epochs=15, batch_size=40, verbose=0, callbacks=[ReplayData(X, y, path, "g")])
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    import json

    assert reader.returncode == 0 and out, f"the reader process failed (exit {reader.returncode}):\n{err[-3000:]}"
    counts = json.loads(out)
    assert counts["errors"] == [], counts["errors"][:3]
    assert counts["reads"] > 0 and counts["h5py"] > 0
    with RecordingReader(path, "g") as r:
        np.testing.assert_array_equal(r.epochs, np.arange(16))
        assert r.complete
        np.testing.assert_array_equal(r.weights(15)["hidden"]["kernel"], model.get_layer("hidden").get_weights()[0])


def test_two_processes_record_different_groups_of_one_file(tmp_path):
    path = str(tmp_path / "two.h5")
    procs = [subprocess.Popen([sys.executable, "-c", reliability.SYNTHETIC_WRITER, path, name, "15", os.devnull],
                              env=ENV, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    for name in ("a", "b"):
        n, complete, problems = reliability.check_synthetic(path, name)
        assert (n, complete, problems) == (15, True, [])


# --------------------------------------------------------------------------
# A full disk stops fit with a RecordingError; nothing else changes
# --------------------------------------------------------------------------


@pytest.fixture
def file_size_limit():
    """``limit(n)`` caps the size of files this process writes (RLIMIT_FSIZE, SIGXFSZ ignored) until the test ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    yield lambda n: resource.setrlimit(resource.RLIMIT_FSIZE, (n, hard))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, old_handler)


@pytest.mark.parametrize("room", [0, 200_000])  # during group creation; after a few records
def test_a_full_disk_stops_fit_with_a_recording_error(tmp_path, file_size_limit, capfd, room):
    path = str(tmp_path / "full.h5")
    reliability.write_synthetic(path, "other", 3)
    other = reliability.group_digest(path, "other")
    X, y = tiny_data(20)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(64, activation="relu", name="dense"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    file_size_limit(os.path.getsize(path) + room)
    with pytest.raises(RecordingError, match=r"could not write .*full\.h5'.*File too large.*free"):
        model.fit(X, y, epochs=40, verbose=0, callbacks=[ReplayData(X, y, path, "g", output_samples=None)])
    file_size_limit(resource.RLIM_INFINITY)
    captured = capfd.readouterr()
    assert "Exception ignored" not in captured.err and "HDF5-DIAG" not in captured.err
    assert reliability.group_digest(path, "other") == other
    if room == 0:
        assert _iterations(model) == 0
        assert storage.list_groups(path) == ["other"]
    else:
        with RecordingReader(path, "g") as r:
            n = r.n_records
            assert 0 < n < 41 and not r.complete
            np.testing.assert_array_equal(r.epochs, np.arange(n))
            for k in range(n):
                assert np.all(np.isfinite(r.losses(k))) and np.all(np.isfinite(r.weights(k)["dense"]["kernel"]))
        # fit stopped in the epoch during which record n failed: no later epoch trained.
        steps_per_epoch = 2  # 40 samples, batch 32
        assert _iterations(model) <= (n + 1) * steps_per_epoch


@pytest.mark.parametrize("every", [1, 3])
def test_a_failed_write_stops_fit_in_the_epoch_it_failed(tmp_path, file_size_limit, every):
    """No epoch is trained after a write failed: the one in progress stops early (not ``every`` epochs late)."""
    path = str(tmp_path / "full.h5")
    X, y = tiny_data(200)  # 400 samples, batch 8
    steps = 50  # per epoch
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(64, activation="relu", name="dense"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    callback = ReplayData(X, y, path, "g", output_samples=None, every=every)
    append, failure = callback._writer.append, {}

    def watched_append(**record):
        try:
            return append(**record)
        except RecordingError:
            failure.update(iterations=_iterations(model), epoch=record["epoch"])
            raise

    callback._writer.append = watched_append
    file_size_limit(1_000_000)  # room for the group and a few records (about 200 KiB each)
    with pytest.raises(RecordingError, match=r"could not write .*full\.h5'.*File too large"):
        model.fit(X, y, epochs=60, batch_size=8, verbose=0, callbacks=[callback])
    file_size_limit(resource.RLIM_INFINITY)
    assert failure, "no record failed"
    # The epoch training when the write failed did not finish (no epoch trained after the failure)...
    in_progress = failure["iterations"] // steps
    assert _iterations(model) < (in_progress + 1) * steps
    # ... it stopped a few batches after it: the batch in progress, plus the batches that run before the
    # writer thread gets the GIL back to set stop_training (6 were seen once at a load of 7 on 2 cores;
    # each batch here takes about 1 ms, Python switches threads every 5 ms).
    assert _iterations(model) - failure["iterations"] <= 12
    with RecordingReader(path, "g") as r:
        assert not r.complete
        np.testing.assert_array_equal(r.epochs, np.arange(r.n_records) * every)
        assert r.epochs[-1] + every == failure["epoch"]  # every record before the failed one is there
        for k in range(r.n_records):
            assert np.all(np.isfinite(r.weights(k)["dense"]["kernel"])) and np.all(np.isfinite(r.losses(k)))


# --------------------------------------------------------------------------
# Kills at the moments a write session has the file open
# --------------------------------------------------------------------------


def test_kills_at_every_pause_point_leave_every_group_readable(tmp_path):
    result = reliability.kill_trials(str(tmp_path), kills=6, records=2, seed=1, log=lambda *a: None)
    assert result["kills"] >= 6
    assert result["failures"] == 0, result


# --------------------------------------------------------------------------
# Hostile files: one-line errors, RecordingError from the API, nothing followed or run
# --------------------------------------------------------------------------


def test_hostile_corpus_gives_clear_errors(tmp_path, tiny_recording, capsys):
    filename = tiny_recording[0]
    base = str(tmp_path / "base.h5")
    Path(base).write_bytes(Path(filename).read_bytes())
    with h5py.File(base, "a") as f:  # the corpus edits group 'g'
        f.move("tiny", "g")
    marker = str(tmp_path / "CODE-RAN")
    files = reliability.hostile_corpus(base, str(tmp_path / "corpus"), marker, 50)
    assert len(files) >= 50
    raw = []
    for label, path in files:
        if label == "a FIFO named .h5":
            with pytest.raises(RecordingError, match="not a regular file"):
                RecordingReader(path, "g")
            continue
        try:
            with RecordingReader(path, "g") as r:
                r.n_records, r.complete, r.attrs, r.epochs, r.inputs
                for k in range(r.n_records):
                    r.weights(k), r.losses(k), r.predictions(k)
        except (RecordingError, FileNotFoundError):
            pass
        except Exception as exc:  # noqa: BLE001 - any other error is what this test looks for
            raw.append(f"{label}: {type(exc).__name__}: {exc}")
        code = cli.main(["info", path])
        err = capsys.readouterr().err
        if code not in (0, 1) or (code == 1 and not err.startswith("deepreplay: error:")):
            raw.append(f"{label}: info exit {code}: {err}")
    assert raw == []
    assert not os.path.exists(marker)


def test_links_are_refused_not_followed(tmp_path, tiny_recording):
    path = str(tmp_path / "linked.h5")
    Path(path).write_bytes(Path(tiny_recording[0]).read_bytes())
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    with h5py.File(path, "a") as f:
        del f["tiny/epochs"]
        f["tiny/epochs"] = h5py.ExternalLink(fifo, "/x")
    with pytest.raises(RecordingError, match=r"'epochs' is a ExternalLink, and deepreplay does not follow links"):
        RecordingReader(path, "tiny")


def test_complete_must_be_a_boolean(tmp_path, tiny_recording):
    path = str(tmp_path / "c.h5")
    Path(path).write_bytes(Path(tiny_recording[0]).read_bytes())
    with h5py.File(path, "a") as f:
        f["tiny"].attrs["complete"] = "False"
    with pytest.raises(RecordingError, match=r"'complete' attribute is 'False' \(str\), not a boolean"):
        RecordingReader(path, "tiny")


def test_a_huge_declared_shape_is_refused_before_reading(tmp_path, tiny_recording):
    path = str(tmp_path / "huge.h5")
    Path(path).write_bytes(Path(tiny_recording[0]).read_bytes())
    with h5py.File(path, "a") as f:
        del f["tiny/inputs"]
        f["tiny"].create_dataset("inputs", shape=(10**9, 2), chunks=(1, 2), dtype="f4")
        del f["tiny/targets"], f["tiny/sample_indices"]
        f["tiny"].create_dataset("targets", shape=(10**9, 1), chunks=(1, 1), dtype="f4")
        f["tiny"].create_dataset("sample_indices", shape=(10**9,), chunks=(1,), dtype="i8")
    with RecordingReader(path, "tiny") as r:
        assert r.n_samples == 10**9  # metadata only
        with pytest.raises(RecordingError, match=r"would take 8e\+09 bytes, more than a file of \d+ bytes can hold"):
            r.inputs


def test_a_model_config_asking_for_huge_layers_is_refused_before_building(tmp_path, tiny_recording):
    """Measured without allocating (Keras' stateless scope) against what the recorded weights hold."""
    import json
    import resource

    from deepreplay import Replay

    path = str(tmp_path / "huge-model.h5")
    Path(path).write_bytes(Path(tiny_recording[0]).read_bytes())
    with h5py.File(path, "a") as f:
        config = json.loads(f["tiny/model_config"][()])

        for node in reliability.config_dicts(config):
            node.pop("build_config", None)
        hidden = next(layer for layer in config["config"]["layers"] if layer["config"].get("name") == "hidden")
        hidden["config"]["units"] = 5_000_000  # 20 million values (80 MB), for a recording of 9 per record
        del f["tiny/model_config"]
        f["tiny"].create_dataset("model_config", data=json.dumps(config))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Replay(path, "tiny") as replay:
        assert replay.get_training_metric("accuracy").shape == (TINY_EPOCHS + 1,)  # the data reads as before
        with pytest.raises(RecordingError, match=r"declares variables of 20,000,001 values, but its recorded "
                                                 r"weights hold 9 per record.*refusing to build"):
            replay.model_at(1)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 40_000  # KiB: nothing of 80 MB was built
    with Replay(tiny_recording[0], "tiny") as genuine:  # a genuine recording is not refused
        assert genuine.model_at(1).count_params() == 9


def test_info_lists_healthy_groups_and_reports_the_damaged_one(tmp_path, capsys):
    path = str(tmp_path / "mixed.h5")
    reliability.write_synthetic(path, "good", 2)
    reliability.write_synthetic(path, "bad", 2)
    with h5py.File(path, "a") as f:
        f["bad"].attrs["layers"] = "not json"
    assert cli.main(["info", path]) == 1
    out, err = capsys.readouterr()
    assert "[good] complete" in out
    assert err.strip().splitlines() == [
        f"deepreplay: error: [bad] group 'bad' of file {path!r} is damaged: its 'layers' attribute is missing "
        "or not a JSON list."]


# --------------------------------------------------------------------------
# The file a writer keeps open between records (safe_io.KeptFile)
# --------------------------------------------------------------------------


def _synthetic_record(writer, e):
    writer.append(epoch=e, logs={"loss": float(e)}, evaluation={"loss": float(e)},
                  weights={"dense": {"kernel": np.full((3, 64), e, "f4"), "bias": np.full(64, e, "f4")}},
                  predictions=np.full((50, 1), e, "f4"), losses=np.full(50, e, "f4"))


def test_another_process_writing_between_two_records_is_seen_and_both_groups_stay_whole(tmp_path):
    path = str(tmp_path / "shared.h5")
    writer = storage.RecordingWriter(path, "a")
    writer.create(attrs={"loss": "mse", "metrics": []}, model_config="{}", inputs=np.ones((50, 3), "f4"),
                  targets=np.zeros((50, 1), "f4"), sample_indices=np.arange(50), layers=["dense"],
                  quantities=("weights", "predictions", "losses"), overwrite=False)
    for e in range(3):
        _synthetic_record(writer, e)
    assert writer._kept.opens == 1
    reliability.write_synthetic(path, "b", 4)  # another process: a whole recording of group b
    for e in range(3, 6):
        _synthetic_record(writer, e)
    assert writer._kept.opens == 2  # opened afresh once, then kept again
    writer.mark_complete()
    assert reliability.check_synthetic(path, "a") == (6, True, [])
    assert reliability.check_synthetic(path, "b") == (4, True, [])


def test_a_kept_file_that_hdf5_touched_between_sessions_is_reopened(tmp_path):
    path = str(tmp_path / "k.h5")
    with safe_io.open_write(path) as f:
        f["x"] = np.arange(4)
    kept = safe_io.KeptFile(path)
    with kept.session() as f:
        f["y"] = np.arange(3)
    assert kept.is_open and kept.opens == 1
    kept._overlay.seek(0)
    kept._overlay.write(b"garbage!")  # HDF5 writing to the view with no file attached: noted, dropped
    assert kept._overlay.touched
    kept._overlay.seek(kept._overlay.size + 8192)
    kept._overlay.read(8)  # bytes it does not hold: zeros, never a read of a descriptor
    with kept.session() as f:
        f["z"] = np.arange(2)
    assert kept.opens == 2
    with kept.session(final=True) as f:
        assert sorted(f) == ["x", "y", "z"]
    assert not kept.is_open
    with safe_io.open_read(path) as f:
        assert sorted(f) == ["x", "y", "z"]
        np.testing.assert_array_equal(f["y"][()], np.arange(3))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89HDF\r\n\x1a\n"


def test_a_kept_files_journal_is_read_back_only_when_someone_else_changed_it(tmp_path, monkeypatch):
    """A KeptFile does not read its journal back at every session while the journal is exactly as its last
    session left it; an entry another writer left there since (here: killed after its entry was flushed,
    before applying it) changes the journal, which is then read, and that entry applied, not overwritten."""
    path = str(tmp_path / "f.h5")
    kept = _kept_writer(path)
    real_scan = safe_io._Journal.scan
    scans = []
    monkeypatch.setattr(safe_io._Journal, "scan", lambda self, identity: scans.append(1) or real_scan(self, identity))
    for value in range(1, 4):
        with kept.session() as f:
            f["x"][0] = value
    assert len(scans) == 1  # the first session only
    other = safe_io.KeptFile(path)  # another writer, "killed" once its entry is in the journal
    with monkeypatch.context() as m:
        m.setattr(safe_io, "_apply", lambda *args, **kwargs: None)
        m.setattr(safe_io._Journal, "mark", lambda self: None)
        with other.session() as f:
            f["x"][5] = 55
    other.discard()
    assert safe_io.journal_pending(path)
    del scans[:]
    with kept.session() as f:
        assert f["x"][5] == 55  # the other writer's entry, applied first
        f["x"][0] = 4
    assert len(scans) == 1
    assert not safe_io.journal_pending(path)  # (a reader reads the journal: it stays as it was)
    del scans[:]
    with kept.session() as f:
        f["x"][1] = 5
    assert not scans  # the journal is as this writer left it again
    journal = path + safe_io.JOURNAL_SUFFIX
    os.truncate(journal, kept._journal_left[-1] - 100)  # the chain cut short by hand: read back
    with kept.session() as f:
        f["x"][3] = 7
    assert len(scans) == 1
    with kept.session(final=True) as f:
        f["x"][2] = 6
    with safe_io.open_read(path) as f:
        assert f["x"][:6].tolist() == [4, 5, 6, 7, 4, 55]


@pytest.mark.parametrize("short", [False, True])
def test_buffers_are_written_whole_in_order_even_in_short_or_split_writes(tmp_path, monkeypatch, short):
    """``_pwrite_all``: several buffers from an offset, in groups of at most IOV_MAX, a short write continued."""
    if not hasattr(os, "pwritev"):
        pytest.skip("no pwritev on this platform: the joined buffer goes through pwrite (tested above)")
    real = os.pwritev
    calls = []

    def partial(fd, buffers, offset):
        calls.append(len(buffers))
        if short:  # the kernel may write less than asked: only the first 5 bytes of this call
            return os.pwrite(fd, bytes(buffers[0])[:5], offset)
        return real(fd, buffers, offset)

    monkeypatch.setattr(os, "pwritev", partial)
    monkeypatch.setattr(safe_io, "_IOV_MAX", 2)
    buffers = [b"abc", bytearray(b"defgh"), memoryview(b"ijklmnop")[2:], b"q" * 7000, b"rs"]
    path = tmp_path / "out.bin"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDWR)
    try:
        safe_io._pwrite_all(fd, buffers, 4)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"0123" + b"".join(bytes(b) for b in buffers)
    assert calls == [2, 2, 1]  # groups of at most IOV_MAX buffers


def test_a_recordings_creation_continues_into_its_records_and_its_last_session_flushes_the_file(tmp_path,
                                                                                                monkeypatch):
    """The group's creation is the writer's first kept session: its journal entry is flushed (and the new
    journal's directory), not the file; the records continue the chain; the last session flushes the file and
    removes the journal, and every step is still atomic (the file as the records left it)."""
    path = str(tmp_path / "f.h5")
    steps = _disk_steps(monkeypatch, True)
    writer = storage.RecordingWriter(path, "g")
    writer.create(attrs={}, model_config="{}", inputs=np.ones((2, 1)), targets=np.ones((2, 1)),
                  sample_indices=np.arange(2), layers=["d"], quantities=("weights",), overwrite=False)
    assert steps == [("pwrite", JOURNAL), ("sync", JOURNAL), ("sync", "dir"), ("pwrite", "f.h5"),
                     ("pwrite", JOURNAL)]  # (the last: the entry's mark, applied in this boot)
    assert writer._kept.is_open and not safe_io.journal_pending(path)
    del steps[:]
    writer.append(epoch=0, logs={"loss": 1.0}, evaluation={}, weights={"d": {"k": np.ones(3, np.float32)}})
    assert steps == [("pwrite", JOURNAL), ("sync", JOURNAL), ("pwrite", "f.h5"), ("pwrite", JOURNAL)]
    assert writer._kept.opens == 1  # the record went into the file the creation opened
    del steps[:]
    writer.mark_complete()
    assert steps[-3:] == [("sync", "f.h5"), ("pwrite", JOURNAL), ("unlink", JOURNAL)]
    assert not os.path.exists(path + safe_io.JOURNAL_SUFFIX)
    with storage.RecordingReader(path, "g") as reader:
        assert reader.complete and list(reader.epochs) == [0]
