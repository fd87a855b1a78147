"""Atomic writes: a temporary file in the same folder, then a rename.

A crash mid-write never leaves a half-written file under the final name. Files get the
permissions a plain ``open`` would give (0666 less the umask), not mkstemp's 0600; the
temporary files a killed writer leaves behind (``.<name>.<random>.tmp``) are removed by
:func:`clean_stale_tmp`, which the job runner calls when it starts.

A write that fails (disk full, permission denied, read-only folder) raises :class:`WriteError`,
one line naming the file and the cause; the file under the final name keeps its old content.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: A temporary file untouched for this long belongs to a writer that is gone.
STALE_TMP_S = 10 * 60

#: What a person reads for the errno of a failed write.
WRITE_CAUSES = {
    errno.ENOSPC: "disk full (no space left on the device)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (the file-size limit of this process or file system was reached)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
}


def write_cause(exc: BaseException) -> str:
    """The cause of a failed write in a person's words, one line (disk full, permission denied...)."""
    code = getattr(exc, "errno", None)
    if code in WRITE_CAUSES:
        return WRITE_CAUSES[code]
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:200]


class WriteError(OSError):
    """A file that could not be written: ``str()`` is ``could not write <path>: <cause>``.

    ``path``: the file; ``cause``: the reason in words (:func:`write_cause`); ``errno`` is the
    failed call's, so it is still an OSError to code that handles those.
    """

    def __init__(self, path: str | os.PathLike, cause: BaseException | str):
        text = cause if isinstance(cause, str) else write_cause(cause)
        super().__init__(getattr(cause, "errno", None), text)
        self.path, self.cause = Path(path), text

    def __str__(self) -> str:
        return f"could not write {self.path}: {self.cause}"

    def __reduce__(self):  # pickled as its two fields (jobs, Ray), not OSError's arguments
        return (type(self), (str(self.path), self.cause))


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask is racy with threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it is renamed to ``final``.

    On an exception the temporary file is removed and ``final`` is untouched; an OSError
    (from making the folder or the temporary file, the caller's writing, the flush or the
    rename) becomes a :class:`WriteError` naming ``final``.
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; follow the umask like open() does
        finally:
            os.close(fd)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(final, exc) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, final)
    except WriteError:
        tmp_path.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise WriteError(final, exc) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(final: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``final`` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text(final: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``final`` atomically."""
    write_bytes(final, text.encode("utf-8"))


def write_json(final: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``final`` atomically."""
    write_text(final, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def clean_stale_tmp(root: str | os.PathLike, older_than_s: float = STALE_TMP_S) -> list[Path]:
    """Remove the ``.<name>.*.tmp`` files under ``root`` not modified for ``older_than_s`` seconds.

    They are what a writer killed mid-write leaves behind (a live writer touches its file,
    so a recent one is left alone). Returns the removed paths; errors are logged, not raised.
    """
    root = Path(root)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    cutoff = time.time() - older_than_s
    for path in root.rglob(".*.tmp"):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError as exc:
            log.warning("could not remove stale temporary file %s: %s", path, exc)
    if removed:
        log.info("removed %d stale temporary file(s) under %s", len(removed), root)
    return removed
