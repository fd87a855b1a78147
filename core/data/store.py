"""The dataset file: one self-describing, gzip-compressed HDF5 file (docs/DATA_FORMAT.md)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.store.atomic import atomic_path
from core.data.config import DataConfig

#: Bumped whenever the layout of the file changes.
FORMAT_VERSION = 1


class DatasetFileError(ValueError):
    """A dataset file that cannot be read: missing, not HDF5, truncated, or missing a field."""


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset.

    ``velocity``: float32 ``(4, S, T, 2, N, N)`` (orientation k, simulation, frame,
    component vx/vy, y index upward, x index), cells per time unit.
    ``smoke``: float32 ``(4, S, T, N, N)``. ``config``: the :class:`DataConfig` that made it.
    ``data_equivariance_error``: float, velocity units. ``path``: the file.
    ``attrs``: all HDF5 root attributes, decoded.
    """

    velocity: np.ndarray
    smoke: np.ndarray
    config: DataConfig
    data_equivariance_error: float
    path: Path
    attrs: dict[str, Any] = field(default_factory=dict)


def write_dataset(
    path: str | os.PathLike, velocity: np.ndarray, smoke: np.ndarray, config: DataConfig, dee: float
) -> Path:
    """Write a dataset file atomically to ``path`` and return the path.

    ``velocity`` ``(4, S, T, 2, N, N)`` and ``smoke`` ``(4, S, T, N, N)`` are stored as
    gzip-compressed float32; ``dee`` is the data equivariance error of ``velocity``.
    Raises ValueError if the shapes do not match ``config``.
    """
    import h5py
    import phi

    n, t, s = config.grid, config.frames, config.sims
    if tuple(velocity.shape) != (4, s, t, 2, n, n):
        raise ValueError(f"velocity shape {tuple(velocity.shape)} does not match config {(4, s, t, 2, n, n)}")
    if tuple(smoke.shape) != (4, s, t, n, n):
        raise ValueError(f"smoke shape {tuple(smoke.shape)} does not match config {(4, s, t, n, n)}")
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        # One chunk per simulation-frame keeps a single frame cheap to read.
        f.create_dataset(
            "velocity", data=velocity.astype(np.float32), compression="gzip", chunks=(1, 1, 1, 2, n, n)
        )
        f.create_dataset("smoke", data=smoke.astype(np.float32), compression="gzip", chunks=(1, 1, 1, n, n))
        f.attrs["config"] = config.to_json()
        f.attrs["data_equivariance_error"] = float(dee)
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["phiflow_version"] = phi.__version__
        f.attrs["layout_velocity"] = "k,sim,frame,component(vx;vy),y(up),x"
        f.attrs["layout_smoke"] = "k,sim,frame,y(up),x"
    return path


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Read a dataset file written by :func:`write_dataset`.

    Returns a :class:`Dataset` with the arrays in memory. Raises :class:`DatasetFileError`
    (naming the file) if it is missing, not HDF5, truncated, or lacks a field.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"dataset file {path} does not exist")
    try:
        with h5py.File(path, "r") as f:
            missing = [name for name in ("velocity", "smoke") if name not in f]
            required = ("config", "data_equivariance_error", "format_version")
            missing += [a for a in required if a not in f.attrs]
            if missing:
                raise DatasetFileError(f"dataset file {path} is missing {', '.join(missing)}")
            velocity = np.asarray(f["velocity"][()])
            smoke = np.asarray(f["smoke"][()])
            attrs = {k: _decode(v) for k, v in f.attrs.items()}
    except DatasetFileError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise DatasetFileError(
            f"dataset file {path} is not a readable dataset (truncated or corrupted?): {exc}"
        ) from None
    if attrs["format_version"] != FORMAT_VERSION:
        raise DatasetFileError(
            f"dataset file {path} has format version {attrs['format_version']}, expected {FORMAT_VERSION}"
        )
    try:
        config = DataConfig.from_dict(json.loads(attrs["config"]))
    except (ValueError, TypeError) as exc:
        raise DatasetFileError(f"dataset file {path} has an invalid config attribute: {exc}") from None
    n, t, s = config.grid, config.frames, config.sims
    if velocity.shape != (4, s, t, 2, n, n) or smoke.shape != (4, s, t, n, n):
        raise DatasetFileError(
            f"dataset file {path}: arrays {velocity.shape} / {smoke.shape} do not match its config"
        )
    return Dataset(
        velocity=velocity,
        smoke=smoke,
        config=config,
        data_equivariance_error=float(attrs["data_equivariance_error"]),
        path=path,
        attrs=attrs,
    )


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value
