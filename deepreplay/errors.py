"""Public exceptions of deepreplay."""

from __future__ import annotations

__all__ = ["RecordingError"]


class RecordingError(OSError, ValueError):
    """A recording that cannot be written or read as asked.

    Raised when a record cannot be written (a full disk, a quota, an I/O
    error: the message names the file, the error and the free space), when
    a file or group is damaged, foreign or hostile, or when it is being
    written by another process for longer than a reader waits.  It is an
    ``OSError`` (a file problem) and a ``ValueError`` (a bad recording), so
    code written for either keeps catching it.
    """
