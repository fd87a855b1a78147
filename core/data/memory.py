"""Will it fit? Available memory and the refusal messages of the data engine."""

from __future__ import annotations

from pathlib import Path

GIB = 1024**3


def available_memory_bytes() -> int | None:
    """Return ``MemAvailable`` from ``/proc/meminfo`` in bytes, or None when it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_fits(needed: int, what: str, available: int | None = None) -> None:
    """Raise ValueError (naming ``what`` and both sizes in GiB) if ``needed`` bytes do not fit.

    ``available`` defaults to :func:`available_memory_bytes`; when that is unknown nothing is
    refused (the check is a guard against obvious mistakes, not a promise).
    """
    if available is None:
        available = available_memory_bytes()
    if available is not None and needed > available:
        raise ValueError(
            f"{what} needs about {needed / GIB:.3g} GiB of memory but only {available / GIB:.3g} GiB "
            "are available"
        )
