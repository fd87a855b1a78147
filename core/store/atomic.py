"""Atomic writes: a temporary file in the same folder, then a rename.

A crash mid-write never leaves a half-written file under the final name. Files get the
permissions a plain ``open`` would give (0666 less the umask), not mkstemp's 0600; the
temporary files a killed writer leaves behind (``.<name>.<random>.tmp``) are removed by
:func:`clean_stale_tmp`, which the job runner calls when it starts.
"""

from __future__ import annotations

import contextlib
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

    On an exception the temporary file is removed and ``final`` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; follow the umask like open() does
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, final)
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
