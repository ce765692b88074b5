"""Holding an output place while one process writes into it: a lock file beside it, ``flock``-ed.

A batch's output folder and a segmented run's work folder (``OUT.segments/``) are each written by one
process at a time: a second batch into the same folder, or a second segmented run to the same output,
is told so instead of mixing (or deleting) the first one's files. The lock is an ``flock`` on a small
file holding the holder's process id; it is released when the process ends, however it ends (a
``kill -9`` leaves the file, which the next run takes over), and the file is removed when let go.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class Busy(Exception):
    """Another process holds the lock; ``holder`` is its process id where the lock file names one."""

    def __init__(self, holder: int | None) -> None:
        super().__init__(f"held by process {holder}" if holder else "held by another process")
        self.holder = holder
        self.by = f" (process {holder})" if holder else ""  #: for a message: "another batch (process 12) …"


def hold(path: Path) -> int:
    """Take the lock file ``path`` (made if missing) for this process; returns its descriptor, to keep
    open until :func:`release`.

    Raises:
        Busy: another process holds it (or keeps taking and letting it go).
    """
    for _ in range(8):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise Busy(int(text) if text.isdigit() else None) from None
        try:  # the file a finishing holder removed (:func:`release`) after we opened it holds nothing
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)
    raise Busy(None)


def release(path: Path, fd: int) -> None:
    """Let the lock go (:func:`hold`'s descriptor): the file is removed while still held, so a finished
    holder leaves nothing behind (a process that opened it meanwhile tries again)."""
    try:
        os.unlink(path)
    except OSError:
        pass  # gone, or a folder that became read-only: the lock goes with the descriptor anyway
    finally:
        os.close(fd)
