"""Input checks of the data engine: will it fit in memory, are the values finite."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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


def first_non_finite(values: np.ndarray) -> tuple[int, int, int] | None:
    """The first (orientation, simulation, frame) of ``values`` ``(4, S, T, ...)`` holding a
    NaN or infinity, or None when all are finite."""
    frames_ok = np.isfinite(values).reshape(values.shape[:3] + (-1,)).all(axis=-1)
    if frames_ok.all():
        return None
    k, s, t = np.argwhere(~frames_ok)[0]
    return int(k), int(s), int(t)
