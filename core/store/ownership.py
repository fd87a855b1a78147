"""Who trains a run: one live process at a time, shown by an OS file lock in the run folder.

Whatever trains a run (a job worker, the job CLI's worker, a bare ``python -m core.train``)
holds an exclusive ``flock`` on ``<run>/.owner.lock`` from before its first write into the
folder until it has written the run's final status. The kernel drops the lock when the
process dies, kill -9 included, so "the owner is gone" needs no heartbeat and no pid
guessing: :func:`owner` tries the lock itself. The lock file holds the owner's pid (for
messages only; the lock, not the pid, decides).

Within one process the lock is re-entrant (counted): a job worker takes it before it
writes the run's parameters, the trainer takes it again, and the worker's own final
write still happens under it. flock locks belong to an open file, so a second open in
the same process would conflict with the first; this module keeps the one it opened.

The lock file is written in place, not atomically: a lock is tied to the file's inode,
which a rename would replace. It is removed on release; :func:`acquire` checks that the
file it locked is still the one under the name (a releaser may have removed it meanwhile).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".owner.lock"
#: How long acquire keeps trying before it refuses: a prober (:func:`owner`) holds the lock
#: for microseconds; an owner holds it for the whole training.
ACQUIRE_TRIES_S = 1.0

_held: dict[Path, tuple[int, int]] = {}  # run folder -> (file descriptor, times taken)
_guard = threading.Lock()


class RunOwned(RuntimeError):
    """Another live process trains this run (the message names the run and that process)."""


def _key(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir).resolve()


def acquire(run_dir: str | os.PathLike) -> None:
    """Make this process the owner of the run in ``run_dir`` (again, if it is already).

    Returns None; raises RunOwned, naming the run and the owner's pid, while another live
    process holds it.
    """
    key = _key(run_dir)
    with _guard:
        if key in _held:
            fd, count = _held[key]
            _held[key] = (fd, count + 1)
            return
        end = time.monotonic() + ACQUIRE_TRIES_S
        while True:
            fd = _try_lock(key / LOCK_NAME)
            if fd is not None:
                break
            if time.monotonic() > end:
                pid = _pid_in(key / LOCK_NAME)
                who = f"pid {pid}" if pid else "pid unknown"
                raise RunOwned(f"run {key.name} is being trained by a live process ({who})")
            time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _held[key] = (fd, 1)


def _try_lock(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its exclusive lock, or None if another holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # a releaser removed the file we locked: lock the one under the name now


def release(run_dir: str | os.PathLike) -> None:
    """Undo one :func:`acquire` of this process; at the last one, unlock and remove the lock file."""
    key = _key(run_dir)
    with _guard:
        if key not in _held:
            return
        fd, count = _held.pop(key)
        if count > 1:
            _held[key] = (fd, count - 1)
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(key / LOCK_NAME)  # while still locked: nobody can have taken it yet
        os.close(fd)


def release_all() -> None:
    """Give up every run this process owns, however often it took each (a job worker's last step)."""
    with _guard:
        held = list(_held)
    for key in held:
        while key in _held:
            release(key)


@contextlib.contextmanager
def owning(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold the run's ownership for the ``with`` block (:func:`acquire`, then :func:`release`)."""
    acquire(run_dir)
    try:
        yield
    finally:
        release(run_dir)


def owner(run_dir: str | os.PathLike) -> int | None:
    """The pid of the live process that owns the run in ``run_dir`` (this one's if it does),
    0 if a live owner's pid cannot be read, or None if no live process owns it."""
    key = _key(run_dir)
    with _guard:
        if key in _held:
            return os.getpid()
    try:
        fd = os.open(key / LOCK_NAME, os.O_RDONLY)
    except OSError:  # no lock file (never owned, or released), or not ours to read
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _pid_in(key / LOCK_NAME)
    finally:
        os.close(fd)  # closing drops a shared lock just taken
    return None


def is_owned(run_dir: str | os.PathLike) -> bool:
    """True while a live process (this one included) owns the run in ``run_dir``."""
    return owner(run_dir) is not None


def owner_note(run_dir: str | os.PathLike) -> str | None:
    """'the run is being trained by a live process (pid N)' while another process owns it, else None."""
    pid = owner(run_dir)
    if pid is None or pid == os.getpid():
        return None
    return f"the run is being trained by a live process ({f'pid {pid}' if pid else 'pid unknown'})"


def _pid_in(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0
