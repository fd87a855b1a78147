"""The dataset file: one self-describing, gzip-compressed HDF5 file (docs/DATA_FORMAT.md)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data.checks import GIB, available_memory_bytes, first_non_finite
from core.data.config import DataConfig, held_out_sims
from core.store.atomic import atomic_path
from core.symmetry import (
    ResidualSymmetry,
    data_equivariance_by_element,
    matched_data_equivariance_by_element,
    residual_symmetry,
)

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
    ``data_ee_one_step_mean``: its mean. ``data_ee_one_step_by_element``: float64
    ``(4, S, 3, T-1)``, the same per rotation (90, 180, 270 degrees; their mean over axis 2 is
    ``data_ee_one_step``). ``data_ee_trajectory_by_element``: ``{k: e_k}`` for k = 1, 2, 3
    quarter turns, the trajectory data EE per rotation. ``path``: the file. ``attrs``: all
    root attributes.
    """

    velocity: np.ndarray
    smoke: np.ndarray
    config: DataConfig
    data_ee_trajectory: float
    data_ee_one_step: np.ndarray
    data_ee_one_step_mean: float
    path: Path
    attrs: dict[str, Any] = field(default_factory=dict)
    data_ee_one_step_by_element: np.ndarray | None = None
    data_ee_trajectory_by_element: dict[int, float] = field(default_factory=dict)

    @property
    def data_equivariance_error(self) -> float:
        """The trajectory data equivariance error (float, velocity units), the old name."""
        return self.data_ee_trajectory

    def step_change(self) -> float:
        """Mean |velocity change| per step over every stored frame pair (velocity units): the
        scale against which :meth:`residual_symmetry` calls a data EE zero."""
        return float(np.abs(np.diff(self.velocity.astype(np.float64), axis=2)).mean())

    def one_step_by_element(self, input_frames: int = 1) -> dict[int, float]:
        """The matched one-step data EE per rotation ``{k: e_k}`` (k = 1, 2, 3 quarter turns) on the
        states a model with ``input_frames`` inputs is measured on (velocity units)."""
        return matched_data_equivariance_by_element(self.data_ee_one_step_by_element, input_frames)

    def residual_symmetry(self, input_frames: int = 1) -> ResidualSymmetry:
        """Which rotations this data keeps, named from :meth:`one_step_by_element`
        (core.symmetry.residual_symmetry against :meth:`step_change`)."""
        return residual_symmetry(self.one_step_by_element(input_frames), max(self.step_change(), 1e-30))


def write_dataset(
    path: str | os.PathLike,
    velocity: np.ndarray,
    smoke: np.ndarray,
    config: DataConfig,
    data_ee_trajectory: float,
    data_ee_one_step: np.ndarray,
    data_ee_one_step_by_element: np.ndarray | None = None,
) -> Path:
    """Write a dataset file atomically to ``path`` and return the path.

    ``velocity`` ``(4, S, T, 2, N, N)`` and ``smoke`` ``(4, S, T, N, N)`` are stored as
    gzip-compressed float32, ``data_ee_one_step`` ``(4, S, T-1)`` as float64 (its mean
    also as a root attribute); ``data_ee_trajectory`` is the trajectory data equivariance
    error of ``velocity``; ``data_ee_one_step_by_element`` ``(4, S, 3, T-1)`` (float64, per
    rotation) is stored when given, and the trajectory EE per rotation always (a JSON attribute).
    Raises ValueError if a shape does not match ``config``.
    """
    import h5py
    import phi

    n, t, s = config.grid, config.frames, config.sims
    expected = {
        "velocity": (velocity, (4, s, t, 2, n, n)),
        "smoke": (smoke, (4, s, t, n, n)),
        "data_ee_one_step": (data_ee_one_step, (4, s, t - 1)),
    }
    if data_ee_one_step_by_element is not None:
        expected["data_ee_one_step_by_element"] = (data_ee_one_step_by_element, (4, s, 3, t - 1))
    for name, (array, shape) in expected.items():
        if tuple(np.shape(array)) != shape:
            raise ValueError(f"{name} shape {tuple(np.shape(array))} does not match config {shape}")
    one_step = np.asarray(data_ee_one_step, dtype=np.float64)
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        # One chunk per simulation-frame keeps a single frame cheap to read. gzip level 1: float
        # noise hardly compresses, and level 4 (h5py's default) only costs time.
        gzip = {"compression": "gzip", "compression_opts": 1}
        f.create_dataset("velocity", data=velocity.astype(np.float32), chunks=(1, 1, 1, 2, n, n), **gzip)
        f.create_dataset("smoke", data=smoke.astype(np.float32), chunks=(1, 1, 1, n, n), **gzip)
        f.create_dataset("data_ee_one_step", data=one_step)
        if data_ee_one_step_by_element is not None:
            by_element = np.asarray(data_ee_one_step_by_element, dtype=np.float64)
            f.create_dataset("data_ee_one_step_by_element", data=by_element)
            f.attrs["layout_data_ee_one_step_by_element"] = "k,sim,rotation(90;180;270),frame(0..T-2)"
        by_turn = data_equivariance_by_element(velocity)
        f.attrs["data_ee_trajectory_by_element"] = json.dumps({f"{90 * k}": v for k, v in by_turn.items()})
        f.attrs["config"] = config.to_json()
        # Derived from the config, stored so the file says what each simulation is.
        f.attrs["sim_buoyancy_factors"] = json.dumps(config.sim_buoyancy_factors())
        f.attrs["test_domain_sims"] = json.dumps(held_out_sims(config))
        f.attrs["data_ee_trajectory"] = float(data_ee_trajectory)
        f.attrs["data_ee_one_step"] = float(one_step.mean())
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["phiflow_version"] = phi.__version__
        f.attrs["layout_velocity"] = "k,sim,frame,component(vx;vy),y(up),x"
        f.attrs["layout_smoke"] = "k,sim,frame,y(up),x"
        f.attrs["layout_data_ee_one_step"] = "k,sim,frame(0..T-2)"
    return path


_ARRAYS = ("velocity", "smoke", "data_ee_one_step")
_OPTIONAL_ARRAYS = ("data_ee_one_step_by_element",)
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
            optional = {name: np.asarray(f[name][()]) for name in _OPTIONAL_ARRAYS if name in f}
            attrs = {k: _decode(v) for k, v in f.attrs.items()}
    except DatasetFileError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise DatasetFileError(
            f"dataset file {path} is not a readable dataset (truncated or corrupted?): {exc}"
        ) from None
    config = _config_of(path, attrs)
    _check_arrays(path, config, arrays)
    by_element = _one_step_by_element(path, config, arrays["data_ee_one_step"], optional)
    return Dataset(
        velocity=arrays["velocity"],
        smoke=arrays["smoke"],
        config=config,
        data_ee_trajectory=float(attrs["data_ee_trajectory"]),
        data_ee_one_step=arrays["data_ee_one_step"],
        data_ee_one_step_mean=float(attrs["data_ee_one_step"]),
        path=path,
        attrs=attrs,
        data_ee_one_step_by_element=by_element,
        data_ee_trajectory_by_element=_trajectory_by_element(path, attrs, arrays["velocity"]),
    )


def _one_step_by_element(path: Path, config: DataConfig, one_step: np.ndarray, optional: dict) -> np.ndarray:
    """The stored per-rotation matched one-step EE, or (files from before it was stored) the same
    derived exactly: e[j, s, t] is the mean over rotations of ``c[j, k] * push[j, s, t]``
    (core.data.simulate.one_step_ee_element_factors), so each rotation's share is ``c[j, k] / sum c``."""
    from core.data.simulate import one_step_ee_element_factors

    s, t = config.sims, config.frames
    if "data_ee_one_step_by_element" in optional:
        stored = np.asarray(optional["data_ee_one_step_by_element"], dtype=np.float64)
        if stored.shape != (4, s, 3, t - 1) or not np.isfinite(stored).all():
            raise DatasetFileError(
                f"dataset file {path}: data_ee_one_step_by_element must be finite with shape "
                f"{(4, s, 3, t - 1)}, got shape {stored.shape}"
            )
        return stored
    factors = one_step_ee_element_factors(config)  # (4, 3)
    total = factors.sum(axis=1)
    share = np.divide(factors, total[:, None], out=np.zeros_like(factors), where=total[:, None] > 0)
    return 3 * share[:, None, :, None] * np.asarray(one_step, dtype=np.float64)[:, :, None, :]


def _trajectory_by_element(path: Path, attrs: dict[str, Any], velocity: np.ndarray) -> dict[int, float]:
    raw = attrs.get("data_ee_trajectory_by_element")
    if raw is None:  # a file from before it was stored
        return data_equivariance_by_element(velocity)
    try:
        values = {int(key) // 90: float(v) for key, v in json.loads(raw).items()}
    except (TypeError, ValueError, AttributeError) as exc:
        raise DatasetFileError(
            f"dataset file {path}: data_ee_trajectory_by_element is not valid: {exc}"
        ) from None
    if sorted(values) != [1, 2, 3] or not all(np.isfinite(v) for v in values.values()):
        raise DatasetFileError(f"dataset file {path}: data_ee_trajectory_by_element must give 90, 180, 270")
    return values


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
