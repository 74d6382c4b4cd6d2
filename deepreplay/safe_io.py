"""Opening recording files safely: locks between processes, atomic writes, bounded waits.

:mod:`deepreplay.storage` opens every HDF5 file through :func:`open_write`
and :func:`open_read`; this module knows files and bytes, not the layout.

Why it is hand-written: HDF5 itself is not crash-safe (a process killed while
HDF5 writes its metadata can leave a file no reader opens) and reports write
errors late (when a handle is closed or garbage-collected).  So every write
session of deepreplay is made atomic here, as a database would do it:

1. an exclusive ``flock`` on the file is taken (retried with a short backoff
   while another process reads it: readers never make a writer fail, they at
   most make it wait, up to :data:`WRITE_WAIT_SECONDS`);
2. h5py writes into an in-memory copy-on-write view of the file (the h5py
   "fileobj" driver over :class:`_PageOverlay`): nothing reaches the disk
   while HDF5 works, so HDF5 never sees a write error;
3. at the end, the changed pages go first into a side file, the *journal*
   (``<file>.deepreplay-journal``): an *entry* (checksummed) is added to the
   journal's chain and flushed; then the file is grown with
   ``posix_fallocate`` (a full disk fails here, before any byte of the file
   changed), the pages are written, and the entry is marked applied in this
   boot of the machine.  A one-off session (:func:`open_write`) and a
   writer's last session then flush the file and remove the journal; a
   :class:`KeptFile` keeps the chain going between its records and flushes
   the file only when a chain starts again (see :class:`_Journal`): one
   flush per record, not two.  A large record's pages past the file's old
   end (:data:`DIRECT_WRITE_BYTES` or more) skip the journal: the file is
   grown and they are written and flushed *before* the entry that makes
   HDF5 point to them, so they are written once.

A process killed before its entry is complete leaves the file as it was
(at most longer: directly written pages past the end of allocation that its
superblock records, which nothing in the file points to and HDF5 opens as
usual); a process killed after it leaves an entry without its mark, which
the next writer or deepreplay reader applies to the file (a reader that
cannot lock the file exclusively for a moment, or write to it, applies it in
memory).  An entry cut short (a kill or a power cut while it is written)
fails its checksum and ends the chain: the file's own bytes were not touched
yet.  After a reboot (a power cut, an OS crash: the boot id changed) every
entry of the chain is applied again, in order, over the file as the chain's
start left it (flushed); an entry applied again rewrites what the file
already holds.  Readers take a shared ``flock`` (so they never
see a half-applied write) and open the file with HDF5's own locking off (our
lock does that job, also where ``HDF5_USE_FILE_LOCKING=FALSE``).  Journals of
older versions (``DRJRNL02`` renamed into place, ``DRJRNL03`` written in
place: one entry each) are still read and applied.

A writer of many records (:class:`KeptFile`, used by ``RecordingWriter``)
keeps its h5py file open over the in-memory view between its sessions (no
descriptor, no lock held meanwhile), so that HDF5 does not open the file and
its datasets again for every record; each session is committed exactly as
above.  It reuses that state only when the file is exactly as its last
session left it (see :class:`KeptFile` for how it knows), else opens afresh.

Durability (power cuts, OS crashes): with :data:`FSYNC` on (the default)
each entry is flushed to the disk (``fdatasync``) before any byte of the
file changes (its directory too when the journal is created), directly
written pages before their entry, and the file before a chain's entries are
overwritten by a new chain and before the journal is removed.  So after a
crash the file, with the journal's entries applied in order, is as the last
complete session left it.  Where the boot id is unknown (not Linux) the file
is flushed at every session, as the entries' marks cannot be trusted.
``DEEPREPLAY_FSYNC=0`` (or ``safe_io.FSYNC = False``) skips the flushes:
still safe against a killed process, not against a power cut.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import random
import shutil
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator

import h5py

from .errors import RecordingError

try:  # ISA-L's CRC-32: the same checksum as zlib's (same polynomial and values), ~15x faster
    from isal.isal_zlib import crc32 as _crc32
except ImportError:  # pragma: no cover - depends on the platform's wheels
    _crc32 = zlib.crc32

__all__ = [
    "CHAIN_BYTES",
    "CHAIN_ENTRIES",
    "DIRECT_WRITE_BYTES",
    "FILE_LOCK",
    "FSYNC",
    "JOURNAL_SUFFIX",
    "KeptFile",
    "READ_WAIT_SECONDS",
    "RECOVERY_WAIT_SECONDS",
    "WRITE_WAIT_SECONDS",
    "describe_free_space",
    "is_hdf5_file",
    "journal_pending",
    "looks_like_hdf5",
    "open_read",
    "open_write",
    "pause_point",
]

#: How long a writer waits for readers of other processes to let go of the file.
WRITE_WAIT_SECONDS = 120.0
#: How long a reader waits for a writer of another process to finish a record.
READ_WAIT_SECONDS = 10.0
#: How long a reader tries to take the exclusive lock to finish a killed writer's journal: once, at
#: once (another reader holding the file would otherwise delay every read; the journal is then read
#: in memory, and the next reader or writer that finds the file free applies it).
RECOVERY_WAIT_SECONDS = 0.0
#: Side file holding a write session's pages until they are in the file.
JOURNAL_SUFFIX = ".deepreplay-journal"
#: Flush each write session to the disk (journal, directory, file), so that a power cut or an OS
#: crash loses at most the session in flight.  ``DEEPREPLAY_FSYNC=0`` in the environment turns it off.
FSYNC = os.environ.get("DEEPREPLAY_FSYNC", "1").strip().lower() not in ("0", "false", "no", "off")

#: One lock per process around every open of a recording file: HDF5 refuses to open a file for
#: writing while the same process has it open (and ReplayData writes from a background thread).
FILE_LOCK = threading.RLock()

# Our own generator: the lock backoff and the mtime stamp must not draw from (and so change) the
# user's global `random` state, which seeded training runs rely on.
_RANDOM = random.Random()
_PAGE = 4096
_KEPT_PAGES = 1024  # pages a KeptFile's view remembers between sessions (4 MiB)
_MAGIC = b"DRJRNL04"  # an entry of the journal's chain (see _Journal)
_MAGIC_V3 = b"DRJRNL03"  # older journals (one entry, written in place / renamed into place): still applied
_MAGIC_V2 = b"DRJRNL02"
_RETIRED = bytes(8)  # the magic of a chain's first entry once the file holds every entry, flushed
_ZERO_PAGE = bytes(_PAGE)
_ENTRY = struct.Struct("<8sQQQQQQ")  # magic, chain id, index in the chain, file size, page count, device, inode
_HEAD = struct.Struct("<8sQQQQ")  # an older journal's: magic, file size, page count, device, inode
_MARK = struct.Struct("<16sQQ")  # after an entry: "applied in this boot" (boot id, chain id, index)
#: Entries (records) a chain of the journal holds before the file is flushed and a chain starts again
#: (see _Journal), or bytes of entries.
CHAIN_ENTRIES = 16
CHAIN_BYTES = 4 << 20
_INDEX = struct.Struct("<Q")  # before each page: its index in the file
_CRC = struct.Struct("<I")  # after the pages: the CRC-32 of everything before it
#: Pages past the file's old end are written straight into the file (flushed before the journal
#: that makes HDF5 point to them) instead of through the journal when they make at least this many
#: bytes (a large record: its bytes are written once, not twice); smaller ones go through the journal
#: (one flush fewer).
DIRECT_WRITE_BYTES = 256 * 1024
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _boot_id() -> bytes | None:
    """This boot of the machine (Linux: 16 bytes, new at each boot); None where unknown."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return uuid.UUID(f.read().strip()).bytes
    except (OSError, ValueError):
        return None


#: While the machine runs, what was written to a file is read back (from the page cache), flushed or
#: not; a reboot (a power cut, an OS crash) changes this id.  None: every session flushes the file.
_BOOT = _boot_id()

# -- a test hook: pause (to be killed) at a named point ------------------------------------
_PAUSE_ENV = "DEEPREPLAY_PAUSE_AT"  # "point" or "point:n" (the n-th time it is reached, from 1)
_PAUSE_SIGNAL_ENV = "DEEPREPLAY_PAUSE_SIGNAL"  # file to write the point's name to when pausing
_pause_counts: dict[str, int] = {}


def pause_point(name: str) -> None:
    """Sleep forever at ``name`` when ``$DEEPREPLAY_PAUSE_AT`` asks for it (used by kill tests).

    ``DEEPREPLAY_PAUSE_AT="journal-written:3"`` pauses the third time that
    point is reached, after writing the point's name to the file named by
    ``$DEEPREPLAY_PAUSE_SIGNAL``, so that a test can kill the process there.
    """
    wanted = os.environ.get(_PAUSE_ENV)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _pause_counts[name] = _pause_counts.get(name, 0) + 1
    if _pause_counts[name] != (int(count) if count else 1):
        return
    signal_file = os.environ.get(_PAUSE_SIGNAL_ENV)
    if signal_file:
        with open(signal_file, "w") as f:
            f.write(name)
    while True:
        time.sleep(3600)


# -- helpers ----------------------------------------------------------------------------------
def describe_free_space(filename: str) -> str:
    """``'12.3 MiB free'`` on the disk of ``filename`` (or why it is unknown)."""
    try:
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(filename))).free
    except OSError as exc:
        return f"free space unknown ({exc.strerror or exc})"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if free < 1024 or unit == "TiB":
            return f"{free:.0f} {unit} free" if unit == "B" else f"{free:.1f} {unit} free"
        free /= 1024
    return ""  # pragma: no cover


def looks_like_hdf5(fd: int, size: int) -> bool:
    """Whether the file behind ``fd`` starts (at 0, 512, 1024, ...) with the HDF5 signature."""
    offset = 0
    while offset + 8 <= size:
        if os.pread(fd, 8, offset) == _HDF5_SIGNATURE:
            return True
        offset = 512 if offset == 0 else offset * 2
    return False


def is_hdf5_file(filename: str, *, wait: float | None = None) -> bool:
    """Whether ``filename`` is an HDF5 file, checked under a shared lock.

    Unlocked, a reader could look at a file while a writer of another process
    grows it and has not yet written its first page (zeros where the
    signature will be) and wrongly call it foreign; under the lock it sees the
    file as the last complete write session left it.  Raises
    :class:`RecordingError` ("try again") when a writer holds the file longer
    than ``wait`` (default :data:`READ_WAIT_SECONDS`).
    """
    with _locked_fd(os.fspath(filename), exclusive=False,
                    wait=READ_WAIT_SECONDS if wait is None else wait) as fd:
        return looks_like_hdf5(fd, os.fstat(fd).st_size) or bool(_pending_entries(filename, _identity(fd)))


def _flock(fd: int, exclusive: bool, wait: float, filename: str) -> None:
    deadline = time.monotonic() + wait
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            if exclusive:
                raise RecordingError(
                    f"{filename!r} stayed open in another process for {wait:.0f} s (a reader that does not "
                    "close it?); could not write to it. Close the other program, or record into another file."
                )
            raise RecordingError(f"{filename!r} is being written by another process; try again in a moment.")
        time.sleep(delay * (0.5 + _RANDOM.random()))
        delay = min(delay * 2, 0.05)


# -- the in-memory, copy-on-write view of a file ------------------------------------------------
class _PageOverlay(io.RawIOBase):
    """A file seen through a dict of changed 4 KiB pages (what h5py's fileobj driver writes to)."""

    def __init__(self, fd: int, size: int, pages: dict[int, bytearray] | None = None, *,
                 writable: bool = True) -> None:
        super().__init__()
        self._fd = fd
        self.base_size = size
        self.size = size
        self.pages: dict[int, bytearray] = pages if pages is not None else {}
        # The file's own bytes of the pages read (in a write session): read once, and a page
        # written back unchanged (HDF5 rewrites some metadata as it was) is left out of the journal
        # (see changed_pages).
        self._original: dict[int, bytes] = {}
        self._pos = 0
        self._writable = writable
        # Set when HDF5 read or wrote this view while no file was attached (between the sessions of
        # a KeptFile): its in-memory state can then no longer be trusted.
        self.touched = False

    def attach(self, fd: int) -> None:
        """Read the file's bytes through ``fd`` from now on (a KeptFile's new session)."""
        self._fd = fd

    def detach(self) -> None:
        """Answer from memory only: reads of bytes not held give zeros, and mark the view touched."""
        self._fd = None

    def rebase(self) -> None:
        """Take the file as holding what this view shows (once its changed pages are in the file).

        The pages held stay known as the file's bytes (the next session does
        not read them again), up to :data:`_KEPT_PAGES` of them.
        """
        size = self.size
        original = self._original if len(self._original) + len(self.pages) <= _KEPT_PAGES else {}
        for index, page in self.pages.items():
            start = index * _PAGE
            if start + _PAGE <= size:
                original[index] = page  # no copy: the page leaves self.pages (and is never written again)
            elif start < size:  # the last page: the file ends inside it (what follows reads as zeros)
                original[index] = bytes(page[:size - start]) + bytes(start + _PAGE - size)
        end = -(-size // _PAGE)  # pages from here on are past the file's end
        if original and max(original) >= end:  # (the check in C: the dict holds up to _KEPT_PAGES pages)
            for index in [index for index in original if index >= end]:
                del original[index]
        self._original = original
        self.base_size = size
        self.pages = {}

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self._pos = offset
        elif whence == 1:
            self._pos += offset
        else:
            self._pos = self.size + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def _base(self, pos: int, n: int) -> bytes:
        if self._fd is None:  # detached (see detach): never read a descriptor that may be another file's now
            self.touched = True
            return bytes(n)
        data = os.pread(self._fd, n, pos) if pos < self.base_size else b""
        return data + bytes(n - len(data)) if len(data) < n else data

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), max(0, self.size - self._pos))
        done, pos = 0, self._pos
        page, offset = divmod(pos, _PAGE)
        if self._writable and offset + n <= _PAGE:
            # Within one page (most of HDF5's reads: object headers, B-tree nodes, heaps): a page of
            # a write session is read from the file once (the file does not change under its lock).
            stored = self.pages.get(page)
            if stored is None:
                stored = self._original.get(page)
                if stored is None:
                    stored = self._original[page] = self._base(page * _PAGE, _PAGE)
            view[:n] = memoryview(stored)[offset:offset + n]
            self._pos = pos + n
            return n
        while done < n:
            page, offset = divmod(pos, _PAGE)
            k = min(_PAGE - offset, n - done)
            stored = self.pages.get(page)
            if stored is not None:
                view[done:done + k] = stored[offset:offset + k]
            else:
                # Read the untouched run of pages in one call.
                run = k
                while done + run < n and (pos + run) // _PAGE not in self.pages:
                    run = min(run + _PAGE, n - done)
                view[done:done + run] = self._base(pos, run)
                k = run
            done += k
            pos += k
        self._pos = pos
        return n

    def write(self, data) -> int:
        if not self._writable:
            raise io.UnsupportedOperation("read-only")
        if self._fd is None:
            self.touched = True
        view = memoryview(data).cast("B")
        n = len(view)
        done, pos = 0, self._pos
        page, offset = divmod(pos, _PAGE)
        stored = self.pages.get(page)
        if stored is not None and offset + n <= _PAGE:  # most metadata writes: into a page already held
            stored[offset:offset + n] = view
            self._pos = pos + n
            self.size = max(self.size, self._pos)
            return n
        while done < n:
            page, offset = divmod(pos, _PAGE)
            k = min(_PAGE - offset, n - done)
            stored = self.pages.get(page)
            if stored is None:
                if k == _PAGE:  # a whole page (the bulk of a large record): taken as it is
                    self.pages[page] = bytearray(view[done:done + _PAGE])
                    done += k
                    pos += k
                    continue
                else:
                    original = self._original.get(page)
                    if original is None:
                        original = self._original[page] = self._base(page * _PAGE, _PAGE)
                    stored = self.pages[page] = bytearray(original)
            stored[offset:offset + k] = view[done:done + k]
            done += k
            pos += k
        self._pos = pos
        self.size = max(self.size, pos)
        return n

    def changed_pages(self) -> dict[int, bytearray]:
        """The pages whose bytes differ from the file's (as the session will leave it), by index.

        A page equal to what the file holds there (or, past the file's end, all
        zeros: the file is grown with zeros) need not be journaled nor written.
        """
        changed = {}
        for index, page in self.pages.items():
            start = index * _PAGE
            if start >= self.size:
                continue
            original = self._original.get(index)
            if original is None:
                original = _ZERO_PAGE if start >= self.base_size else self._base(start, _PAGE)
            if page != original:
                changed[index] = page
        return changed

    def truncate(self, size: int | None = None) -> int:
        if self._fd is None:
            self.touched = True
        self.size = self._pos if size is None else size
        return self.size

    def flush(self) -> None:
        pass


# -- the journal --------------------------------------------------------------------------------
def _journal_path(filename: str) -> str:
    return filename + JOURNAL_SUFFIX


def _sync_data(fd: int) -> None:
    """Flush a file's data (and the size needed to read it) to the disk, when :data:`FSYNC` asks for it."""
    if FSYNC:
        (getattr(os, "fdatasync", None) or os.fsync)(fd)


def _sync_directory(filename: str) -> None:
    """Flush the directory holding ``filename`` (a file created, renamed or removed there)."""
    if not FSYNC:
        return
    try:
        fd = os.open(os.path.dirname(os.path.abspath(filename)), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a directory that cannot be opened (some systems): the data flushes still hold
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):  # not supported for directories here
            raise
    finally:
        os.close(fd)


class _Journal:
    """The journal of one file during one write session (under the file's exclusive lock).

    The journal is a *chain* of entries written one after the other from its
    first byte, one per write session (see docs/format.md, "The journal").
    Each entry is flushed before the file changes; the file itself is
    flushed only when a chain starts again from the journal's first byte
    (after :data:`CHAIN_ENTRIES` entries or :data:`CHAIN_BYTES`, at a
    one-off or last session, and before pages are written directly), so a
    record costs one flush, not two.  An entry applied to the file gets a
    mark naming this boot of the machine: in the same boot the page cache
    holds what was applied, so a marked entry is never applied again; after
    a reboot (a power cut, an OS crash) every entry of the chain is applied
    again, in order, over the file as the chain's start left it (flushed).
    """

    def __init__(self, filename: str, *, writable: bool = True) -> None:
        self.filename = filename
        self.path = _journal_path(filename)
        try:
            self.fd: int | None = os.open(self.path, (os.O_RDWR if writable else os.O_RDONLY)
                                          | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            self.fd = None
        self.chain = 0  # the chain's id (0: none, the next entry starts one)
        self.index = 0  # the next entry's index in the chain
        self.end = 0  # where the next entry goes
        self.pending: list[tuple[int, dict[int, bytearray]]] = []  # entries to apply, in order

    def scan(self, identity: tuple[int, int]) -> list[tuple[int, dict[int, bytearray]]]:
        """Read the chain; the ``(size, pages)`` of its complete entries not known to be in the file.

        An entry counts when its magic, chain id, index, device and inode
        (``identity``), length and CRC all hold; the chain stops at the first
        that does not (an entry cut short, or an older chain's).  From the
        first complete entry without this boot's mark on, every entry is to
        be applied (in order).  A journal of an older layout (``DRJRNL03``
        or ``DRJRNL02``: one entry) is read too; the chain then starts again.
        """
        self.chain = self.index = self.end = 0
        self.pending = pending = []
        fd = self.fd
        if fd is None:
            return pending
        head = os.pread(fd, _ENTRY.size, 0)
        if head[:8] in (_MAGIC_V3, _MAGIC_V2):
            old = _read_old_journal(fd, identity)
            if old is not None:
                pending.append(old)
            return pending
        offset, chain, index = 0, 0, 0
        while len(head) == _ENTRY.size:
            magic, entry_chain, entry_index, size, count, dev, ino = _ENTRY.unpack(head)
            if (magic != _MAGIC or (dev, ino) != tuple(identity) or entry_index != index
                    or (index and entry_chain != chain) or not entry_chain):
                break
            length = _ENTRY.size + count * (_INDEX.size + _PAGE) + _CRC.size
            tail = os.pread(fd, _MARK.size + _ENTRY.size, offset + length)
            if len(tail) < _MARK.size:
                break
            marked = _BOOT is not None and tail[:_MARK.size] == _MARK.pack(_BOOT, entry_chain, entry_index)
            if pending or not marked:
                data = os.pread(fd, length, offset)
                if len(data) != length or not _crc_holds(data):
                    break
                pending.append((size, _pages_of(data, _ENTRY.size, count)))
            chain, index = entry_chain, index + 1
            offset += length + _MARK.size
            head = tail[_MARK.size:]
        self.chain, self.index, self.end = chain, index, offset
        return pending

    def left_state(self, identity: tuple[int, int]) -> tuple | None:
        """Where this session leaves the chain, for :meth:`resume` at the writer's next session.

        None when there is no chain (or no journal) or the boot is unknown:
        the next session reads the journal back.
        """
        if self.fd is None or _BOOT is None or not self.chain or not self.index:
            return None
        return tuple(identity), _BOOT, self.chain, self.index, self.end

    def resume(self, left: tuple | None, identity: tuple[int, int]) -> bool:
        """Take the chain's position from ``left`` (:meth:`left_state` of this writer's last session)
        instead of reading every entry's head back, when no one changed the chain since.

        Every entry of that chain is in the file and marked in this boot, so
        :meth:`scan` would find nothing to apply, and stop where that session
        left the chain, unless someone wrote the journal since.  Two reads
        tell: a new chain (another writer's, or a reader's after applying a
        killed writer's entries) always starts at the journal's first byte
        with a fresh random chain id, so the first entry is still this
        chain's first only if no chain started since; and an entry added to
        this chain (another writer's) goes where the chain ended.  A journal
        removed, replaced or of another file (``identity``) is read back as
        usual.
        """
        if left is None or self.fd is None:
            return False
        left_identity, boot, chain, index, end = left
        if left_identity != tuple(identity) or boot != _BOOT:
            return False
        head = os.pread(self.fd, _ENTRY.size, 0)
        if len(head) != _ENTRY.size:
            return False
        magic, head_chain, head_index, _, _, dev, ino = _ENTRY.unpack(head)
        if magic != _MAGIC or head_chain != chain or head_index or (dev, ino) != tuple(identity):
            return False
        if os.fstat(self.fd).st_size < end:  # cut short (by hand: deepreplay never shortens it)
            return False
        after = os.pread(self.fd, _ENTRY.size, end)
        if len(after) >= 16 and after[:8] == _MAGIC and int.from_bytes(after[8:16], "little") == chain:
            return False  # an entry added to this chain (by another writer): read it all
        self.chain, self.index, self.end = chain, index, end
        self.pending = []
        return True

    def recover(self, fd: int, identity: tuple[int, int]) -> bool:
        """Apply the entries a killed writer (or a reboot) left unapplied, flush the file, and start the
        chain again; whether there were any."""
        if not self.scan(identity):
            return False
        for size, pages in self.pending:
            _apply(fd, size, pages, sync=False)
        _sync_data(fd)
        self.restart()
        return True

    def restart(self) -> None:
        """Start the chain again at the journal's first byte (the file holds every entry, flushed)."""
        if self.fd is not None:
            os.pwrite(self.fd, _RETIRED, 0)
        self.chain = self.index = self.end = 0

    def write(self, fd: int, size: int, pages: dict[int, bytearray], identity: tuple[int, int]) -> None:
        """Add the session's entry to the chain and flush it.

        A new chain is started (at the journal's first byte) when there is
        none, when the chain is long, or when :data:`_BOOT` is unknown; the
        file ``fd`` is flushed first when a chain was running (its entries
        must be in the file on the disk before they are overwritten).
        A journal created here has its directory flushed too.  ``identity``
        (device, inode) ties the entry to the file: a journal left next to a
        file that was since deleted and created again is ignored.
        """
        created = self.fd is None
        if created:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        length = _ENTRY.size + len(pages) * (_INDEX.size + _PAGE) + _CRC.size + _MARK.size
        if (not self.chain or self.index >= CHAIN_ENTRIES or self.end + length > CHAIN_BYTES
                or _BOOT is None):
            if self.chain:
                _sync_data(fd)
            # (from the OS: processes forked from one parent must never draw the same id)
            self.chain, self.index, self.end = int.from_bytes(os.urandom(8), "little") | 1, 0, 0
        parts = [_ENTRY.pack(_MAGIC, self.chain, self.index, size, len(pages), *identity)]
        for index in sorted(pages):
            parts.append(_INDEX.pack(index))
            parts.append(pages[index])
        crc = 0
        for part in parts:  # (the pages are not copied into one buffer: checksummed and written as they are)
            crc = _crc32(part, crc)
        parts += [_CRC.pack(crc), bytes(_MARK.size)]
        _pwrite_all(self.fd, parts, self.end)
        _sync_data(self.fd)
        if created:
            _sync_directory(self.path)
        self._start_at, self._mark_at = self.end, self.end + length - _MARK.size
        self.index += 1
        self.end += length

    def drop_last(self) -> None:
        """Take back the last entry (its session failed before any byte of the file changed)."""
        self.index -= 1
        self.end = self._start_at
        os.pwrite(self.fd, _RETIRED, self.end)

    def mark(self) -> None:
        """Mark the last entry as applied in this boot (its pages are in the file, maybe not on the disk)."""
        os.pwrite(self.fd, _MARK.pack(_BOOT or bytes(16), self.chain, self.index - 1), self._mark_at)

    def close(self, *, remove: bool = False) -> None:
        """Close the journal; ``remove`` it too (only ever when the file holds every entry, flushed)."""
        if self.fd is not None:
            if remove:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
            os.close(self.fd)
            self.fd = None


def _crc_holds(data: bytes) -> bool:
    """Whether ``data`` ends with the CRC-32 of the bytes before it."""
    return _crc32(memoryview(data)[:-_CRC.size]) == _CRC.unpack(data[-_CRC.size:])[0]


def _pages_of(data: bytes, start: int, count: int) -> dict[int, bytearray]:
    pages = {}
    for i in range(count):
        at = start + i * (_INDEX.size + _PAGE)
        (index,) = _INDEX.unpack_from(data, at)
        pages[index] = bytearray(data[at + _INDEX.size:at + _INDEX.size + _PAGE])
    return pages


def _read_old_journal(fd: int, identity: tuple[int, int]) -> tuple[int, dict[int, bytearray]] | None:
    """``(size, pages)`` of a complete journal of an older layout: ``DRJRNL03`` (written in place: the
    journal file may be longer) or ``DRJRNL02`` (renamed into place: exactly as long); else None."""
    head = os.pread(fd, _HEAD.size, 0)
    if len(head) < _HEAD.size or head[:8] not in (_MAGIC_V3, _MAGIC_V2):
        return None
    magic, size, count, dev, ino = _HEAD.unpack(head)
    if (dev, ino) != tuple(identity):
        return None
    length = _HEAD.size + count * (_INDEX.size + _PAGE) + _CRC.size
    file_length = os.fstat(fd).st_size
    if length > file_length or (magic == _MAGIC_V2 and length != file_length):
        return None
    data = os.pread(fd, length, 0)
    if len(data) != length or not _crc_holds(data):
        return None
    return size, _pages_of(data, _HEAD.size, count)


def _identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _pending_entries(filename: str, identity: tuple[int, int]) -> list[tuple[int, dict[int, bytearray]]]:
    """The journal's entries still to apply to the file (none when there is no journal)."""
    journal = _Journal(filename, writable=False)
    try:
        return journal.scan(identity)
    finally:
        journal.close()


def _merged(entries: list[tuple[int, dict[int, bytearray]]]) -> tuple[int, dict[int, bytearray]] | None:
    """The file's size and pages once ``entries`` are applied in order (None for no entries)."""
    if not entries:
        return None
    pages: dict[int, bytearray] = {}
    for size, entry in entries:
        pages.update(entry)
    return entries[-1][0], pages


def journal_pending(filename: str | os.PathLike) -> bool:
    """Whether ``filename`` has journal entries waiting to be applied (a writer was killed, or the machine
    went down since).

    A deepreplay reader or writer applies them (readers apply them in memory
    when they cannot take the file's exclusive lock at once).
    """
    filename = os.fspath(filename)
    try:
        st = os.stat(filename)
        return bool(_pending_entries(filename, (st.st_dev, st.st_ino)))
    except OSError:
        return False


def _grow(fd: int, old_size: int, size: int) -> None:
    """Grow the file to ``size`` bytes, reserved on the disk (a full disk fails here, changing nothing)."""
    try:
        os.posix_fallocate(fd, old_size, size - old_size)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, old_size)
        raise


def _write_pages(fd: int, pages: dict[int, bytearray], size: int, *, pause_in_middle: bool = False) -> None:
    """``pwrite`` the pages (cut at ``size``), consecutive ones in one call.

    With ``pause_in_middle`` a run is cut after the middle page, and the
    test hook's "mid-apply" point is there (about half the pages written).
    """
    indices = [index for index in sorted(pages) if index * _PAGE < size]
    middle = len(indices) // 2 if pause_in_middle else -1
    n = 0
    while n < len(indices):
        end = n + 1
        while end < len(indices) and indices[end] == indices[end - 1] + 1 and end - 1 != middle:
            end += 1
        start = indices[n] * _PAGE
        run = [pages[index] for index in indices[n:end]]
        if start + len(run) * _PAGE > size:  # the last page: the file ends inside it
            run[-1] = memoryview(run[-1])[:size - start - (len(run) - 1) * _PAGE]
        _pwrite_all(fd, run, start)
        if n <= middle < end:
            pause_point("mid-apply")
        n = end


#: Buffers one ``pwritev`` call takes at most (the system's IOV_MAX; 1024 on Linux).
_IOV_MAX = min(1024, os.sysconf("SC_IOV_MAX")) if hasattr(os, "sysconf") and "SC_IOV_MAX" in getattr(
    os, "sysconf_names", {}) else 16


def _pwrite_all(fd: int, buffers: list, offset: int) -> None:
    """Write ``buffers`` one after the other from ``offset`` (``pwritev``: no copy into one buffer); a short
    write is continued, never ignored."""
    vectored = hasattr(os, "pwritev")
    i = 0
    while i < len(buffers):
        group = buffers[i:i + _IOV_MAX] if vectored else buffers[i:]
        total = sum(len(b) for b in group) if vectored else None
        done = os.pwritev(fd, group, offset) if vectored else 0
        if not vectored or done < total:
            rest = memoryview(b"".join(group))
            total = len(rest)
            while done < total:
                done += os.pwrite(fd, rest[done:], offset + done)
        offset += total
        i += len(group)


def _apply(fd: int, size: int, pages: dict[int, bytearray], old_size: int | None = None, *,
           sync: bool = True) -> None:
    """Write ``pages`` into the file (grown first, so that a full disk fails before any change), flushed
    when ``sync``."""
    if old_size is None:
        old_size = os.fstat(fd).st_size
    if size > old_size:
        _grow(fd, old_size, size)
    pause_point("file-grown")
    _write_pages(fd, pages, size, pause_in_middle=True)
    if size < old_size:
        os.ftruncate(fd, size)
    if sync:
        _sync_data(fd)


def _recover(fd: int, filename: str) -> None:
    """Apply the journal entries a killed writer (or a reboot) left unapplied (under LOCK_EX).

    The journal is then removed (as is the temporary file of an older
    version's journal); a journal whose entries are all in the file (a
    writer's, between two records) is left alone.
    """
    journal = _Journal(filename)
    recovered = False
    try:
        recovered = journal.recover(fd, _identity(fd))
    finally:
        journal.close(remove=recovered)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_journal_path(filename) + ".tmp")


def _write_error(filename: str, exc: BaseException, what: str) -> RecordingError:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        reason += " (the file size limit of this process, ulimit -f)"
    return RecordingError(f"could not write {what} to {filename!r}: {reason}; {describe_free_space(filename)}.")


# -- the two ways in ----------------------------------------------------------------------------
_held = threading.local()  # how many files this thread has open through _locked_fd


@contextlib.contextmanager
def _locked_fd(filename: str, *, exclusive: bool, wait: float, create: bool = True) -> Iterator[int]:
    flags = (os.O_RDWR | (os.O_CREAT if create else 0)) if exclusive else os.O_RDONLY
    with FILE_LOCK:
        while True:
            fd = os.open(filename, flags | getattr(os, "O_CLOEXEC", 0), 0o666)
            try:
                _flock(fd, exclusive, wait, filename)
                # The path may have been replaced while we waited: lock what it names now.
                try:
                    same = os.stat(filename).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
            except BaseException:
                os.close(fd)
                raise
            if same:
                break
            os.close(fd)
            if not exclusive and not os.path.exists(filename):
                raise FileNotFoundError(errno.ENOENT, "No such file", filename)
        _held.depth = getattr(_held, "depth", 0) + 1
        try:
            yield fd
        finally:
            _held.depth -= 1
            os.close(fd)  # also releases the flock


def _lock_for_writing(filename: str, what: str, wait: float | None) -> tuple[contextlib.AbstractContextManager, int]:
    """The exclusive lock on ``filename`` (its context manager, entered, and the descriptor)."""
    try:
        lock = _locked_fd(filename, exclusive=True, wait=WRITE_WAIT_SECONDS if wait is None else wait)
        return lock, lock.__enter__()
    except RecordingError:
        raise
    except OSError as exc:
        raise _write_error(filename, exc, what) from None


def _begin_writing(fd: int, filename: str, left: tuple | None = None) -> tuple[_Journal, os.stat_result]:
    """Open the file's journal and finish an interrupted write with it; the journal and the file's stat.

    ``left``: the journal as this writer's last session left it (see
    :meth:`_Journal.resume`): when it is still so, it is not read back.
    """
    journal = None
    try:
        journal = _Journal(filename)
        st = os.fstat(fd)
        identity = (st.st_dev, st.st_ino)
        if not journal.resume(left, identity) and journal.recover(fd, identity):
            st = os.fstat(fd)
    except OSError as exc:
        if journal is not None:
            journal.close()
        raise _write_error(filename, exc, "the journal of an earlier interrupted write") from None
    return journal, st


def _open_for_writing(fd: int, filename: str, size: int) -> tuple[_PageOverlay, h5py.File]:
    """Open the file (under the exclusive lock, ``size`` bytes long) in an overlay."""
    if size and not looks_like_hdf5(fd, size):
        raise RecordingError(f"{filename!r} is not an HDF5 file; refusing to write into it. Choose another file.")
    overlay = _PageOverlay(fd, size)
    try:
        h5 = h5py.File(overlay, "r+" if size else "w")
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise RecordingError(f"{filename!r} is damaged and cannot be written to: {exc}") from None
    return overlay, h5


def _commit(fd: int, st: os.stat_result, overlay: _PageOverlay, journal: _Journal, what: str, *,
            last: bool) -> bool:
    """Put the session's changed pages into the file; False if there are none.

    ``st`` is the file's stat at the session's start.  The order: the pages
    past the file's old end first when they are many (see
    :data:`DIRECT_WRITE_BYTES`: the file grown, those pages written and
    flushed), then the journal entry of the other pages (written, flushed),
    the file grown, the pages written, the entry marked applied.  The file
    is flushed after its pages only at the ``last`` session of a writer (the
    journal is then removed) or where the boot is unknown; otherwise when
    the next chain starts (see :class:`_Journal`).
    """
    filename, size, new_size = journal.filename, st.st_size, overlay.size
    pages = overlay.changed_pages()
    if not pages and new_size == size:
        return False
    identity = (st.st_dev, st.st_ino)
    pause_point("before-journal")
    direct = {}
    if new_size > size:
        first_fresh = -(-size // _PAGE)  # pages from here on hold nothing of the file yet
        fresh = [index for index in pages if index >= first_fresh]
        if fresh and len(fresh) * _PAGE >= DIRECT_WRITE_BYTES:
            direct = {index: pages.pop(index) for index in fresh}
    try:
        if direct:
            _grow(fd, size, new_size)
            _write_pages(fd, direct, new_size)
            _sync_data(fd)  # on the disk before the journal that makes HDF5 point to them (and the chain's)
            journal.restart()
            pause_point("fresh-written")
        elif new_size < size:  # a chain's entries only grow the file (see _merged): start one
            _sync_data(fd)
            journal.restart()
        journal.write(fd, new_size, pages, identity)
    except OSError as exc:
        with contextlib.suppress(OSError):
            if journal.index == 0:  # a chain's first entry, never valid (the file's old bytes are untouched)
                journal.close(remove=True)
            if direct:
                os.ftruncate(fd, size)
        raise _write_error(filename, exc, what) from None
    pause_point("journal-written")
    flush = last or _BOOT is None
    try:
        _apply(fd, new_size, pages, new_size if direct else size, sync=flush)
    except OSError as exc:
        if not direct and os.fstat(fd).st_size == size:  # failed while growing: nothing of the file changed
            with contextlib.suppress(OSError):
                journal.drop_last()
                if journal.index == 0:
                    journal.close(remove=True)
        raise _write_error(filename, exc, what) from None
    pause_point("applied")
    if flush:
        journal.restart()  # the file holds every entry, on the disk
    else:
        journal.mark()
    return True


@contextlib.contextmanager
def open_write(filename: str, *, what: str = "a record", wait: float | None = None) -> Iterator[h5py.File]:
    """The HDF5 file ``filename`` (created if missing or empty), for one atomic write session.

    Everything written inside the ``with`` block reaches the file at its end,
    all of it or nothing: an exception inside the block (or a kill) changes
    nothing.  A failure to put it on disk raises :class:`RecordingError`
    naming the file, the error and the free space, and leaves the file as it
    was.
    """
    filename = os.fspath(filename)
    lock, fd = _lock_for_writing(filename, what, wait)
    journal = None
    try:
        journal, st = _begin_writing(fd, filename)
        overlay, h5 = _open_for_writing(fd, filename, st.st_size)
        try:
            pause_point("session-open")
            yield h5
        finally:
            try:
                h5.close()
            except (OSError, RuntimeError, ValueError) as exc:  # pragma: no cover - memory only
                raise _write_error(filename, exc, what) from None
        if not _commit(fd, st, overlay, journal, what, last=True) and journal.chain:
            _sync_data(fd)  # nothing written: the chain's entries are flushed before their journal goes
        journal.close(remove=True)  # the file holds every entry, flushed: no journal is left next to it
    finally:
        if journal is not None:
            journal.close()
        lock.__exit__(None, None, None)


def _file_state(st: os.stat_result) -> tuple[int, ...]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _stamp(fd: int) -> tuple[int, ...] | None:
    """Set the file's modification time to a fresh random nanosecond value; its state, or None.

    Every write to the file by any program (another deepreplay writer, plain
    h5py, ...) sets the modification time to the kernel's clock, which is
    never this random value again; changing it back takes ``utime``, which
    sets the change time (``ctime``, that no program can set) to the clock.
    None when the file system does not keep nanoseconds (or we may not set
    the times): then no state can tell that the file is unchanged.
    """
    try:
        st = os.fstat(fd)
        stamp = time.time_ns() // 1000 * 1000 + _RANDOM.randrange(1, 1000)
        os.utime(fd, ns=(st.st_atime_ns, stamp))
        st = os.fstat(fd)
    except (OSError, NotImplementedError):  # not the owner, a file system without utimes, ...
        return None
    return _file_state(st) if st.st_mtime_ns == stamp else None


class KeptFile:
    """One writer's HDF5 file, kept open in memory between its atomic write sessions.

    Opening an HDF5 file (and its datasets) costs more CPU than a small
    record's write.  A :class:`KeptFile` keeps the h5py file of its last
    :meth:`session` open over its in-memory view (no descriptor, no lock
    held between sessions: readers and other writers use the file as
    usual).  Each session is as atomic as :func:`open_write`'s (same lock,
    journal, flushes and kill points: the kept state is memory only).

    The kept state is reused only when the file is exactly as the last
    session left it: same device, inode, size, change time and modification
    time, which that session set to a random nanosecond value (see
    :func:`_stamp`).  Any write by another process or program between the
    sessions changes them, and the file is then opened afresh.  So is it
    after an exception in a session (the in-memory file is then ahead of the
    disk), when HDF5 touched the view between sessions, and on file systems
    that do not keep nanosecond times.  Discarding never writes to the file.
    The journal's chain is not read back at each session while no one
    changed it since (see :meth:`_Journal.resume`).
    """

    def __init__(self, filename: str | os.PathLike) -> None:
        self.filename = os.fspath(filename)
        self._h5: h5py.File | None = None
        self._overlay: _PageOverlay | None = None
        self._state: tuple[int, ...] | None = None
        # The journal as the last session left it (see _Journal.resume); None: read it back.
        self._journal_left: tuple | None = None
        #: Changes each time the file is opened afresh: HDF5 ids taken from an earlier generation
        #: (datasets, groups) are no longer valid.
        self.generation = 0
        #: How many times the file was opened (afresh) by this object.
        self.opens = 0

    @property
    def is_open(self) -> bool:
        """Whether an HDF5 file is kept (to be reused by the next session if the file is unchanged)."""
        return self._h5 is not None

    @contextlib.contextmanager
    def session(self, *, what: str = "a record", wait: float | None = None,
                final: bool = False, create: bool = False) -> Iterator[h5py.File]:
        """The file for one atomic write session, as :func:`open_write` gives it.

        ``final`` closes the HDF5 file at the end of the session (its closing
        writes are part of the session); otherwise it is kept for the next.
        ``create`` makes a missing or empty file a new HDF5 file, as
        :func:`open_write` does (a recording's first session: its group's
        creation); without it such a file is refused.  Unlike a one-off
        session, the file is not flushed nor the journal removed at the end:
        the writer's next sessions continue the journal's chain, and its last
        one (``final``) flushes the file and removes the journal.
        """
        filename = self.filename
        with FILE_LOCK:
            lock, fd = _lock_for_writing(filename, what, wait)
            journal = None
            left, self._journal_left = self._journal_left, None  # set again only by a session that succeeds
            try:
                journal, st = _begin_writing(fd, filename, left)
                if self._h5 is not None and (self._overlay.touched or _file_state(st) != self._state):
                    self.discard()
                if self._h5 is None:
                    if not st.st_size and not create:  # a recording's first session creates the file
                        raise RecordingError(f"{filename!r} is empty; it holds no recording to write to.")
                    overlay, h5 = _open_for_writing(fd, filename, st.st_size)
                    self._h5, self._overlay = h5, overlay
                    self.generation += 1
                    self.opens += 1
                else:
                    self._overlay.attach(fd)
                h5, overlay = self._h5, self._overlay
                try:
                    pause_point("session-open")
                    yield h5
                    try:
                        if final:
                            self._h5 = None
                            h5.close()
                        else:
                            h5.flush()
                            # HDF5 keeps space reserved at the end of the file (its aggregators)
                            # while open, and the superblock it just wrote counts it: the file must
                            # be that long for other readers (a close gives that space back).
                            overlay.size = max(overlay.size, h5.id.get_filesize())
                    except (OSError, RuntimeError, ValueError) as exc:  # pragma: no cover - memory only
                        raise _write_error(filename, exc, what) from None
                    changed = _commit(fd, st, overlay, journal, what, last=final)
                except BaseException:
                    self.discard()  # the in-memory file may be ahead of the disk
                    raise
                if final:
                    self.discard()
                    if not changed and journal.chain:
                        _sync_data(fd)  # nothing written: the chain's entries are flushed before their journal goes
                    journal.close(remove=True)  # the recording's last session: no journal is left
                    return
                overlay.rebase()
                overlay.detach()
                if changed or self._state is None:
                    self._state = _stamp(fd)
                    if self._state is None:
                        self.discard()
                self._journal_left = journal.left_state((st.st_dev, st.st_ino))
            finally:
                if journal is not None:
                    journal.close()  # kept on the disk: the next session adds to its chain
                if self._overlay is not None:
                    self._overlay.detach()
                lock.__exit__(None, None, None)

    def discard(self) -> None:
        """Forget the kept file, writing nothing (the next session opens the file afresh)."""
        with FILE_LOCK:
            h5, overlay = self._h5, self._overlay
            self._h5 = self._overlay = self._state = None
            if overlay is not None:
                overlay.detach()
            if h5 is not None:
                _quiet_close(h5)

    close = discard

    def __getstate__(self) -> dict:
        """Copies and pickles keep the file name only: they open the file afresh."""
        return {**self.__dict__, "_h5": None, "_overlay": None, "_state": None, "_journal_left": None}


def _quiet_close(h5: h5py.File) -> None:
    """Close an h5py file whose writes go nowhere (an overlay never committed), ignoring HDF5's errors."""
    with contextlib.suppress(Exception):
        h5.close()


def _finish_interrupted_write(filename: str) -> None:
    """Apply the journal a killed writer left, so that plain HDF5 readers see the whole file again.

    Takes the exclusive lock for a moment if it is free (see
    :data:`RECOVERY_WAIT_SECONDS`); when it is not (other readers or a writer
    hold the file) or the file is not writable here, nothing happens and
    readers apply the journal in memory instead.
    """
    if getattr(_held, "depth", 0):  # this thread already has the file open: an exclusive lock would wait for it
        return
    try:
        with _locked_fd(filename, exclusive=True, wait=RECOVERY_WAIT_SECONDS, create=False) as fd:
            _recover(fd, filename)
    except (RecordingError, OSError):  # busy, read-only, or a disk error: read through the journal
        pass


def _open_elsewhere_in_process(fd: int) -> bool:
    """Whether HDF5 already has the file behind ``fd`` open in this process (by its path).

    HDF5 opens a file only once per process: opening it again *shares* the
    first open and its cache of the file's metadata.  When the first open is
    a handle kept by the caller (or leaked) while another process wrote the
    file, that cache is stale, and a new open through the path sees a mix of
    old and new metadata: wrong values, missing groups, "bad symbol table node
    signature".  Such a file is then read through ``fd`` instead (h5py's
    file-object driver, never shared).
    """
    identity = _identity(fd)
    try:
        open_files = h5py.h5f.get_obj_ids(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)
    except Exception:  # noqa: BLE001 - cannot tell: read through fd, which is always safe
        return True
    for fid in open_files:
        try:
            st = os.stat(fid.name)
        except (OSError, TypeError, ValueError):  # a file-object driver's name ('0x7f...'), or gone
            continue
        if (st.st_dev, st.st_ino) == identity:
            return True
    return False


@contextlib.contextmanager
def open_read(filename: str, *, wait: float | None = None) -> Iterator[h5py.File]:
    """The HDF5 file ``filename``, read-only, as its last complete write session left it.

    Waits (up to :data:`READ_WAIT_SECONDS`) while another process writes a
    record, then raises :class:`RecordingError` ("try again").  A journal left
    by a writer that was killed while applying it is applied to the file first
    (see :func:`_finish_interrupted_write`), or else read in memory.
    """
    filename = os.fspath(filename)
    if journal_pending(filename):  # a killed writer's entries (or the machine went down since)
        _finish_interrupted_write(filename)
    with _locked_fd(filename, exclusive=False, wait=READ_WAIT_SECONDS if wait is None else wait) as fd:
        size = os.fstat(fd).st_size
        journal = _merged(_pending_entries(filename, _identity(fd)))
        if journal is None and not looks_like_hdf5(fd, size):
            raise RecordingError(f"{filename!r} is not an HDF5 file, so it is not a deepreplay recording.")
        try:
            if journal is None and not _open_elsewhere_in_process(fd):
                h5 = h5py.File(filename, "r", locking=False)
            else:  # a writer was killed while applying its journal (read what it committed), or see above
                new_size, pages = journal if journal is not None else (size, {})
                overlay = _PageOverlay(fd, size, pages, writable=False)
                overlay.size = new_size
                h5 = h5py.File(overlay, "r")
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            raise RecordingError(f"{filename!r} is damaged or not a readable HDF5 file: {exc}") from None
        try:
            yield h5
        finally:
            with contextlib.suppress(Exception):
                h5.close()
