"""Who is alive, asked of the operating system: an exclusive lock on a file, held for a process's life.

The process doing a piece of work (a sweep, a training run) holds ``fcntl.flock`` on a file in
its folder until it ends. The kernel drops the lock when the process ends however it ends,
kill -9 and power loss of the process included, so "is its owner gone?" is "is the lock free?",
with no pid to be recycled and no heartbeat to go stale. A second process asking for a held
lock is refused at once (or after ``wait_s``), which is what stops two processes working on one
folder. POSIX only (fcntl); the lock file stays in place when released: removing it would let
two processes lock two different files of the same name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from pathlib import Path

#: Seconds between two tries while waiting for a lock.
_RETRY_S = 0.05


class LockBusy(RuntimeError):
    """Another process (or another open file in this one) holds the lock."""


class HeldLock:
    """An exclusive lock this process holds on ``path`` until :meth:`release` (or the process ends)."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """Drop the lock (closing the file drops it); releasing twice does nothing."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    @property
    def held(self) -> bool:
        """True until released."""
        return self._fd is not None

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _try(path: Path) -> HeldLock | None:
    """Take the lock on ``path`` (the file created if missing); None if someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return HeldLock(Path(path), fd)


def hold_lock(path: str | Path, wait_s: float = 0.0) -> HeldLock:
    """Take the exclusive lock on ``path``, waiting up to ``wait_s`` seconds; return it.

    Raises LockBusy when it is still held by another process (or another open of the file in
    this one) after that, OSError when the file cannot be created or opened.
    """
    path = Path(path)
    end = time.monotonic() + wait_s
    while True:
        lock = _try(path)
        if lock is not None:
            return lock
        if time.monotonic() >= end:
            raise LockBusy(f"{path} is locked by another process")
        time.sleep(_RETRY_S)


def is_locked(path: str | Path) -> bool:
    """True if a live process holds the lock on ``path``; False if it is free or the file is
    missing (nothing is created). A file this process cannot open reads as locked: not knowing
    is no proof that the owner is gone."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing also drops the lock if it was just taken
    return False
