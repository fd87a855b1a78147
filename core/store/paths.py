"""Where generated files live, and the guard that keeps names inside that place."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "APPROXSYM_DATA_DIR"
ASSETS_DIR_ENV = "APPROXSYM_ASSETS_DIR"
#: Shipped, read-only results (same layout as the data directory). Tests may point
#: APPROXSYM_ASSETS_DIR elsewhere; use :func:`assets_dir` rather than this constant.
ASSETS_DIR = PROJECT_ROOT / "assets"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def data_dir() -> Path:
    """Return the data directory (created if missing).

    Default: ``<project>/data`` (git-ignored); the environment variable
    ``APPROXSYM_DATA_DIR`` overrides it.
    """
    path = Path(os.environ.get(DATA_DIR_ENV) or PROJECT_ROOT / "data").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def assets_dir() -> Path:
    """Return the folder of shipped results (``<project>/assets`` unless APPROXSYM_ASSETS_DIR is set)."""
    return Path(os.environ.get(ASSETS_DIR_ENV) or ASSETS_DIR).expanduser().resolve()


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a plain file or folder name, else raise ValueError.

    Allowed: letters, digits, '.', '_' and '-', not starting with '.', at most 128
    characters. This is what keeps names that came from a browser from reaching
    anything outside the data directory.
    """
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' only "
            "(no path separators, no leading dot)"
        )
    return name


def inside(base: Path, *names: str) -> Path:
    """Return ``base/names...`` after checking each name with :func:`check_name`.

    Raises ValueError if the result would leave ``base`` (symbolic links included).
    """
    base = Path(base).resolve()
    path = base.joinpath(*(check_name(n) for n in names)).resolve()
    if path != base and base not in path.parents:
        raise ValueError(f"path {path} is outside {base}")
    return path


def new_id(prefix: str) -> str:
    """Return a fresh safe id ``<prefix>-YYYYmmdd-HHMMSS-<8 hex>`` (passes check_name)."""
    return check_name(f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}")
