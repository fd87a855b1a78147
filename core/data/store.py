"""The dataset file: one self-describing, gzip-compressed HDF5 file (docs/DATA_FORMAT.md)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data.checks import GIB, available_memory_bytes, first_non_finite
from core.data.config import DataConfig
from core.store.atomic import write_bytes

#: Bumped whenever the layout of the file changes (2: the matched one-step data EE).
FORMAT_VERSION = 2


class DatasetFileError(ValueError):
    """A dataset file that cannot be read: missing, not HDF5, truncated, or missing a field."""


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset.

    ``velocity``: float32 ``(4, S, T, 2, N, N)`` (orientation k, simulation, frame,
    component vx/vy, y index upward, x index), cells per time unit.
    ``smoke``: float32 ``(4, S, T, N, N)``. ``config``: the :class:`DataConfig` that made it.
    ``data_ee_trajectory``: the paper's (trajectory) data equivariance error, float,
    velocity units. ``data_ee_one_step``: float64 ``(4, S, T-1)``, the matched one-step
    data equivariance error of every stored state with a successor, velocity units;
    ``data_ee_one_step_mean``: its mean. ``path``: the file. ``attrs``: all root attributes.
    """

    velocity: np.ndarray
    smoke: np.ndarray
    config: DataConfig
    data_ee_trajectory: float
    data_ee_one_step: np.ndarray
    data_ee_one_step_mean: float
    path: Path
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def data_equivariance_error(self) -> float:
        """The trajectory data equivariance error (float, velocity units), the old name."""
        return self.data_ee_trajectory


def write_dataset(
    path: str | os.PathLike,
    velocity: np.ndarray,
    smoke: np.ndarray,
    config: DataConfig,
    data_ee_trajectory: float,
    data_ee_one_step: np.ndarray,
) -> Path:
    """Write a dataset file atomically to ``path`` and return the path.

    ``velocity`` ``(4, S, T, 2, N, N)`` and ``smoke`` ``(4, S, T, N, N)`` are stored as
    gzip-compressed float32, ``data_ee_one_step`` ``(4, S, T-1)`` as float64 (its mean
    also as a root attribute); ``data_ee_trajectory`` is the trajectory data equivariance
    error of ``velocity``. Raises ValueError if a shape does not match ``config``, and
    core.store.atomic.WriteError (one line: the file and the cause) if the file cannot be
    written, leaving any earlier file under ``path`` as it was.
    """
    import h5py
    import phi

    n, t, s = config.grid, config.frames, config.sims
    expected = {
        "velocity": (velocity, (4, s, t, 2, n, n)),
        "smoke": (smoke, (4, s, t, n, n)),
        "data_ee_one_step": (data_ee_one_step, (4, s, t - 1)),
    }
    for name, (array, shape) in expected.items():
        if tuple(np.shape(array)) != shape:
            raise ValueError(f"{name} shape {tuple(np.shape(array))} does not match config {shape}")
    one_step = np.asarray(data_ee_one_step, dtype=np.float64)
    path = Path(path)
    # Built in memory, then written as bytes: HDF5 writing to a full disk prints pages of
    # tracebacks and can crash the process; a plain write fails with an OSError that
    # core.store.atomic reports as one line (WriteError) naming the file and the cause.
    with h5py.File(f"{path.name}.in-memory", "w", driver="core", backing_store=False) as f:
        # One chunk per simulation-frame keeps a single frame cheap to read. gzip level 1: float
        # noise hardly compresses, and level 4 (h5py's default) only costs time.
        gzip = {"compression": "gzip", "compression_opts": 1}
        f.create_dataset("velocity", data=velocity.astype(np.float32), chunks=(1, 1, 1, 2, n, n), **gzip)
        f.create_dataset("smoke", data=smoke.astype(np.float32), chunks=(1, 1, 1, n, n), **gzip)
        f.create_dataset("data_ee_one_step", data=one_step)
        f.attrs["config"] = config.to_json()
        f.attrs["data_ee_trajectory"] = float(data_ee_trajectory)
        f.attrs["data_ee_one_step"] = float(one_step.mean())
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["phiflow_version"] = phi.__version__
        f.attrs["layout_velocity"] = "k,sim,frame,component(vx;vy),y(up),x"
        f.attrs["layout_smoke"] = "k,sim,frame,y(up),x"
        f.attrs["layout_data_ee_one_step"] = "k,sim,frame(0..T-2)"
        f.flush()
        image = f.id.get_file_image()
    write_bytes(path, image)
    return path


_ARRAYS = ("velocity", "smoke", "data_ee_one_step")
_ATTRS = ("config", "data_ee_trajectory", "data_ee_one_step", "format_version")


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Read a dataset file written by :func:`write_dataset`.

    Returns a :class:`Dataset` with the arrays in memory. Raises :class:`DatasetFileError`
    naming the file if it is missing, not HDF5, truncated, lacks a field, has another
    format version, declares arrays larger than the available memory (checked from the
    header, before reading), or holds non-finite velocity or smoke (naming the first bad
    orientation, simulation and frame).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"dataset file {path} does not exist")
    try:
        with h5py.File(path, "r") as f:
            missing = [name for name in _ARRAYS if name not in f]
            missing += [a for a in _ATTRS if a not in f.attrs]
            if "format_version" in f.attrs and _decode(f.attrs["format_version"]) != FORMAT_VERSION:
                raise DatasetFileError(
                    f"dataset file {path} has format version {_decode(f.attrs['format_version'])}, "
                    f"expected {FORMAT_VERSION}"
                )
            if missing:
                raise DatasetFileError(f"dataset file {path} is missing {', '.join(missing)}")
            _check_declared_sizes(path, {name: f[name] for name in _ARRAYS})
            arrays = {name: np.asarray(f[name][()]) for name in _ARRAYS}
            attrs = {k: _decode(v) for k, v in f.attrs.items()}
    except DatasetFileError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise DatasetFileError(
            f"dataset file {path} is not a readable dataset (truncated or corrupted?): {exc}"
        ) from None
    config = _config_of(path, attrs)
    _check_arrays(path, config, arrays)
    return Dataset(
        velocity=arrays["velocity"],
        smoke=arrays["smoke"],
        config=config,
        data_ee_trajectory=float(attrs["data_ee_trajectory"]),
        data_ee_one_step=arrays["data_ee_one_step"],
        data_ee_one_step_mean=float(attrs["data_ee_one_step"]),
        path=path,
        attrs=attrs,
    )


def _check_declared_sizes(path: Path, datasets: dict[str, Any]) -> None:
    """Refuse a file whose arrays (shapes from the HDF5 header) exceed the available memory."""
    sizes = {name: int(np.prod(d.shape, dtype=np.float64)) * d.dtype.itemsize for name, d in datasets.items()}
    available = available_memory_bytes()
    if available is not None and sum(sizes.values()) > available:
        listed = ", ".join(
            f"{name} {tuple(d.shape)} = {sizes[name] / GIB:.3g} GiB" for name, d in datasets.items()
        )
        raise DatasetFileError(
            f"dataset file {path} declares arrays of {sum(sizes.values()) / GIB:.3g} GiB ({listed}), more "
            f"than the {available / GIB:.3g} GiB of memory available"
        )


def _config_of(path: Path, attrs: dict[str, Any]) -> DataConfig:
    try:
        return DataConfig.from_dict(json.loads(attrs["config"]))
    except (ValueError, TypeError) as exc:
        raise DatasetFileError(f"dataset file {path} has an invalid config attribute: {exc}") from None


def _check_arrays(path: Path, config: DataConfig, arrays: dict[str, np.ndarray]) -> None:
    """Shapes must match the config; velocity and smoke must be finite."""
    n, t, s = config.grid, config.frames, config.sims
    shapes = {"velocity": (4, s, t, 2, n, n), "smoke": (4, s, t, n, n), "data_ee_one_step": (4, s, t - 1)}
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise DatasetFileError(
                f"dataset file {path}: {name} has shape {arrays[name].shape}, its config says {shape}"
            )
    for name in ("velocity", "smoke"):
        bad = first_non_finite(arrays[name])
        if bad is not None:
            raise DatasetFileError(
                f"dataset file {path}: {name} holds non-finite values, first at (orientation, "
                f"simulation, frame) = {bad}"
            )


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value
