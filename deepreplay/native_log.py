"""Keeping TensorFlow's start-up log lines off the command line's standard error.

While TensorFlow 2.21 is imported, its native libraries log through Abseil
before Abseil's logging is initialised, and Abseil then writes every message
to standard error, whatever ``TF_CPP_MIN_LOG_LEVEL`` says::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796004540.042531   26197 port.cc:153] oneDNN custom operations are on. ...

(twice: two of its libraries carry their own Abseil).  ``TF_CPP_MIN_LOG_LEVEL``
silences TensorFlow's own logger only; ``TF_ENABLE_ONEDNN_OPTS=0`` would drop
the oneDNN line by changing TensorFlow's numerics, which the command line must
not do.  The lines are written by C++ to file descriptor 2, so that is where
:func:`filtered_stderr` drops them: while TensorFlow is imported, the
descriptor points at a pipe read by a thread that forwards every line to the
real standard error except Abseil-format lines below the level
``TF_CPP_MIN_LOG_LEVEL`` asks for (``I...`` at level 1, also ``W...`` at 2,
also ``E...`` at 3; never a fatal ``F...`` line) and the Abseil preamble
above.  Anything else (Python warnings, errors, our own messages) passes
unchanged and in order.  Hand-written because no library filters a C
library's writes to a descriptor; it is used only around the import.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

__all__ = ["ABSL_PREAMBLE", "filtered_stderr", "import_quietly", "is_dropped", "min_log_level"]

#: The line Abseil writes before its first message when its logging was never initialised.
ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
#: An Abseil/glog-format line: severity, date, time, thread, ``file:line]``.
_ABSL_LINE = re.compile(rb"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]\n]+:\d+\] ")
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2}
#: How long to wait for the forwarding thread once the descriptor is restored (it normally ends at once).
_JOIN_SECONDS = 2.0


def min_log_level() -> int:
    """``TF_CPP_MIN_LOG_LEVEL`` as an integer (0 when unset or not a number)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip() or 0)
    except ValueError:
        return 0


def is_dropped(line: bytes, level: int) -> bool:
    """Whether ``line`` is a native log line that ``TF_CPP_MIN_LOG_LEVEL=level`` hides (see the module notes)."""
    if level <= 0:
        return False
    text = line.rstrip(b"\r\n")
    if text == ABSL_PREAMBLE:
        return True
    match = _ABSL_LINE.match(text)
    return match is not None and _SEVERITY.get(match.group(1), 99) < level


def _forward(read_fd: int, out_fd: int, level: int) -> None:
    """Copy complete lines from ``read_fd`` to ``out_fd`` until end of file, dropping the hidden ones."""
    pending = b""
    try:
        while True:
            try:
                chunk = os.read(read_fd, 65536)
            except InterruptedError:
                continue
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_dropped(line, level))
            if kept:
                _write_all(out_fd, kept)
        if pending and not is_dropped(pending, level):
            _write_all(out_fd, pending)
    except OSError:
        pass  # the real standard error went away: nothing left to forward to
    finally:
        os.close(read_fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@contextlib.contextmanager
def filtered_stderr(level: int | None = None) -> Iterator[None]:
    """Drop the native log lines ``level`` hides from file descriptor 2 while the block runs.

    ``level`` defaults to :func:`min_log_level`; at 0 nothing is filtered.
    Where descriptor 2 cannot be redirected (no real descriptor), the
    block runs unfiltered.
    """
    level = min_log_level() if level is None else int(level)
    if level <= 0:
        yield
        return
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    read_fd, write_fd = os.pipe()
    forwarder = threading.Thread(target=_forward, args=(read_fd, saved, level), name="deepreplay-stderr",
                                 daemon=True)
    forwarder.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if sys.stderr is not None:
                sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the thread reads to the end and stops
        forwarder.join(_JOIN_SECONDS)
        if not forwarder.is_alive():
            os.close(saved)
        # else a library kept a copy of the pipe's write end: the thread goes on forwarding its
        # lines to the saved descriptor, which stays open for it


def import_quietly(module: str) -> None:
    """Import ``module`` (e.g. ``'keras'``, which imports TensorFlow) inside :func:`filtered_stderr`.

    Nothing is filtered when ``module`` is imported already.
    """
    if module in sys.modules:
        return
    import importlib

    with filtered_stderr():
        importlib.import_module(module)
