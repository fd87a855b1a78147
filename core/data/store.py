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
from core.layout import VELOCITY_SMOKE, FrameLayout
from core.store.atomic import write_bytes
from core.symmetry import (
    ResidualSymmetry,
    data_equivariance_by_element,
    matched_data_equivariance_by_element,
    residual_symmetry,
)

#: Bumped whenever the layout of the file changes (2: the matched one-step data EE).
FORMAT_VERSION = 2


class DatasetFileError(ValueError):
    """A dataset file that cannot be read: missing, not HDF5, truncated, missing a field or
    holding one of the wrong kind, shape or values. ``str()`` names the file; ``reason`` is
    the same line without the file's name (what a listing shows beside it)."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


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
    root attributes. ``frame_layout``: the frame its arrays form (core.layout; the velocity as a
    vector field, the smoke as a scalar), from the ``frame_layout`` attribute, or for a file
    written before it, what such a file holds too: velocity and smoke.
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
    frame_layout: FrameLayout = VELOCITY_SMOKE

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
    Raises ValueError if a shape does not match ``config``, and core.store.atomic.WriteError
    (one line: the file and the cause) if the file cannot be written, leaving any earlier file
    under ``path`` as it was.
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
        # Which arrays form a frame, and which of them are vector or scalar fields (core.layout).
        f.attrs["frame_layout"] = json.dumps(VELOCITY_SMOKE.to_dict())
        f.flush()
        image = f.id.get_file_image()
    write_bytes(path, image)
    return path


_ARRAYS = ("velocity", "smoke", "data_ee_one_step")
_OPTIONAL_ARRAYS = ("data_ee_one_step_by_element",)
_ATTRS = ("config", "data_ee_trajectory", "data_ee_one_step", "format_version")
#: Root attributes that are numbers (docs/DATA_FORMAT.md); the text ones are _TEXT_ATTRS.
_NUMBER_ATTRS = ("data_ee_trajectory", "data_ee_one_step")
_TEXT_ATTRS = (
    "config", "phiflow_version", "layout_velocity", "layout_smoke", "layout_data_ee_one_step", "frame_layout",
)  # fmt: skip
#: The kind of field each array of a frame is (what a file's frame_layout may name).
_FIELD_KINDS = {"velocity": "vector", "smoke": "scalar"}


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Read a dataset file written by :func:`write_dataset`.

    Returns a :class:`Dataset` with the arrays in memory. Raises :class:`DatasetFileError`
    naming the file (and the field, where one is at fault) if it is missing, not HDF5,
    truncated, lacks a field, has another format version, holds a field of the wrong kind
    (an array that is not real floating point, an attribute that is not a finite number or
    text), an array whose shape does not match its config, declares arrays larger than the
    available memory (all checked from the header, before reading), or holds non-finite
    values (naming the first bad orientation, simulation and frame).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"dataset file {path} does not exist", "the file does not exist")
    try:
        with h5py.File(path, "r") as f:
            attrs, config = _check_header(path, f)
            _check_declared_sizes(path, {name: f[name] for name in _ARRAYS})
            arrays = {name: np.asarray(f[name][()]) for name in _ARRAYS}
            optional = {name: np.asarray(f[name][()]) for name in _OPTIONAL_ARRAYS if name in f}
    except DatasetFileError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise _unreadable(path, exc) from None
    _check_finite(path, arrays)
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
        frame_layout=_frame_layout_of(path, attrs),
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


def dataset_file_problem(path: str | os.PathLike) -> str | None:
    """Why the dataset file at ``path`` cannot be used, from its header alone (no array read),
    as one line without the file's name (the reason of :class:`DatasetFileError`); None when
    its fields, their kinds and shapes are all as docs/DATA_FORMAT.md says. For listings."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            _check_header(path, f)
    except DatasetFileError as exc:
        return exc.reason
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        return _unreadable(path, exc).reason
    return None


def _unreadable(path: Path, exc: BaseException) -> DatasetFileError:
    reason = "not a readable dataset (truncated or corrupted?): " + " ".join(str(exc).split())
    return DatasetFileError(f"dataset file {path} is {reason}", reason)


def _refuse(path: Path, reason: str) -> DatasetFileError:
    return DatasetFileError(f"dataset file {path}: {reason}", reason)


def _frame_layout_of(path: Path, attrs: dict[str, Any]) -> FrameLayout:
    """The file's frame layout (its ``frame_layout`` attribute); velocity and smoke for a file
    written before the attribute existed, which holds those two arrays too."""
    if "frame_layout" not in attrs:
        return VELOCITY_SMOKE
    try:
        layout = FrameLayout.from_dict(json.loads(attrs["frame_layout"]))
    except (ValueError, TypeError) as exc:
        raise _refuse(path, f"attribute frame_layout: {exc}") from None
    for part in layout.fields:
        if _FIELD_KINDS.get(part.name) != part.kind:
            what = f"a {part.kind} field {part.name!r}"
            raise _refuse(path, f"attribute frame_layout names {what}, which the file does not hold")
    return layout


def _check_header(path: Path, f: Any) -> tuple[dict[str, Any], DataConfig]:
    """Check every field of an open file against docs/DATA_FORMAT.md before any array is read:
    present, the format version, each attribute's kind, the config, each array's kind and
    shape. Returns ``(attributes, config)``; raises DatasetFileError naming file and field."""
    import h5py

    missing = [name for name in _ARRAYS if name not in f]
    missing += [a for a in _ATTRS if a not in f.attrs]
    attrs = {k: _decode(v) for k, v in f.attrs.items()}
    version = attrs.get("format_version")
    if "format_version" in attrs and not _is_int(version):
        raise _refuse(path, f"attribute format_version must be an integer, found {_kind_of(version)}")
    if "format_version" in attrs and version != FORMAT_VERSION:
        reason = f"has format version {version}, expected {FORMAT_VERSION}"
        raise DatasetFileError(f"dataset file {path} {reason}", reason)
    if missing:
        reason = f"is missing {', '.join(missing)}"
        raise DatasetFileError(f"dataset file {path} {reason}", reason)
    for name in _NUMBER_ATTRS:
        value = attrs[name]
        if not _is_number(value) or not np.isfinite(value):
            found = repr(value) if _is_number(value) else _kind_of(value)
            raise _refuse(path, f"attribute {name} must be a finite number, found {found}")
    for name in _TEXT_ATTRS:
        if name in attrs and not isinstance(attrs[name], str):
            raise _refuse(path, f"attribute {name} must be text, found {_kind_of(attrs[name])}")
    _frame_layout_of(path, attrs)
    config = _config_of(path, attrs)
    n, t, s = config.grid, config.frames, config.sims
    shapes = {"velocity": (4, s, t, 2, n, n), "smoke": (4, s, t, n, n), "data_ee_one_step": (4, s, t - 1)}
    for name, shape in shapes.items():
        item = f[name]
        if not isinstance(item, h5py.Dataset):
            raise _refuse(path, f"{name} must be an array, found a {type(item).__name__}")
        if item.dtype.kind != "f":
            raise _refuse(
                path, f"{name} has dtype {item.dtype.str} ({_DTYPE_KINDS.get(item.dtype.kind, 'other')}), "
                "expected real floating point"
            )  # fmt: skip
        if tuple(item.shape) != shape:
            raise _refuse(path, f"{name} has shape {tuple(item.shape)}, its config says {shape}")
    return attrs, config


#: numpy's dtype kinds in words, for the messages.
_DTYPE_KINDS = {
    "S": "bytes", "U": "text", "O": "object or text", "c": "complex", "i": "integer",
    "u": "unsigned integer", "b": "boolean", "V": "compound", "M": "date", "m": "time span",
}  # fmt: skip


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind_of(value: Any) -> str:
    """What an attribute holds, in words, for a message (a short preview of text)."""
    if isinstance(value, str):
        return f"text {value[:40]!r}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} ({_DTYPE_KINDS.get(value.dtype.kind, value.dtype.str)})"
    if isinstance(value, bytes):
        return "bytes"
    return type(value).__name__


def _check_declared_sizes(path: Path, datasets: dict[str, Any]) -> None:
    """Refuse a file whose arrays (shapes from the HDF5 header) exceed the available memory."""
    sizes = {name: int(np.prod(d.shape, dtype=np.float64)) * d.dtype.itemsize for name, d in datasets.items()}
    available = available_memory_bytes()
    if available is not None and sum(sizes.values()) > available:
        listed = ", ".join(
            f"{name} {tuple(d.shape)} = {sizes[name] / GIB:.3g} GiB" for name, d in datasets.items()
        )
        reason = (
            f"declares arrays of {sum(sizes.values()) / GIB:.3g} GiB ({listed}), more "
            f"than the {available / GIB:.3g} GiB of memory available"
        )
        raise DatasetFileError(f"dataset file {path} {reason}", reason)


def _config_of(path: Path, attrs: dict[str, Any]) -> DataConfig:
    try:
        return DataConfig.from_dict(json.loads(attrs["config"]))
    except (ValueError, TypeError, AttributeError) as exc:
        reason = f"has an invalid config attribute: {' '.join(str(exc).split())}"
        raise DatasetFileError(f"dataset file {path} {reason}", reason) from None


def _check_finite(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Every array must be finite: velocity and smoke name their first bad frame."""
    for name in ("velocity", "smoke"):
        bad = first_non_finite(arrays[name])
        if bad is not None:
            raise _refuse(
                path, f"{name} holds non-finite values, first at (orientation, simulation, frame) = {bad}"
            )
    one_step = arrays["data_ee_one_step"]
    if not np.isfinite(one_step).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(one_step))[0])
        where = f"first at (orientation, simulation, frame) = {first}"
        raise _refuse(path, f"data_ee_one_step holds non-finite values, {where}")


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value
