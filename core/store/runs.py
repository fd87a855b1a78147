"""The run store: one folder per training run, checkpoints that rebuild their model.

Layout (docs/ARCHITECTURE.md, "Data directory layout")::

    runs/<run_id>/run.json        everything needed to rebuild the run, and its status
    runs/<run_id>/checkpoint.pt   best weights {"format", "model_config", "state_dict", "scale"}
    runs/<run_id>/last.pt         last epoch with optimiser/scheduler state, for resume
    runs/<run_id>/history.json    per-epoch losses, learning rate, seconds
    runs/<run_id>/metrics.json    final metrics;  evaluation.npz: arrays (MAE maps, RMSE curves)

Runs are looked up in ``data_dir()/runs`` first, then in the shipped ``assets_dir()/runs``
(read-only, flagged ``shipped``). Every file is written atomically; every checkpoint is
read with ``torch.load(weights_only=True)``, so a malicious pickle never executes.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported where a checkpoint is read or written, not to list runs
    from torch import nn

from core.store.atomic import atomic_path, write_bytes, write_json
from core.store.damage import DamagedError
from core.store.paths import assets_dir, check_name, data_dir, inside, new_id

CHECKPOINT_FORMAT = "approxsym-checkpoint-1"
RESUME_FORMAT = "approxsym-resume-1"

log = logging.getLogger(__name__)


class CheckpointError(Exception):
    """A file is not a usable checkpoint (wrong architecture, truncated, or not weights)."""


# ----------------------------------------------------------------- folders


def runs_root(shipped: bool = False) -> Path:
    """Return ``data_dir()/runs`` (created), or the shipped ``assets_dir()/runs``."""
    if shipped:
        return assets_dir() / "runs"
    root = data_dir() / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def new_run_dir(prefix: str = "run", root: Path | None = None) -> tuple[str, Path]:
    """Create a fresh run folder; return ``(run_id, path)``. ``prefix`` must be a safe name."""
    root = Path(root) if root is not None else runs_root()
    run_id = new_id(check_name(prefix, "run id prefix"))
    path = inside(root, run_id)
    path.mkdir(parents=True, exist_ok=False)
    return run_id, path


def find_run_dir(run_id: str) -> tuple[Path, bool]:
    """Return ``(folder, shipped)`` of an existing run, looking in data_dir() then assets.

    Raises ValueError for an unsafe id and FileNotFoundError if no such run exists.
    """
    check_name(run_id, "run id")
    for shipped in (False, True):
        root = runs_root(shipped)
        if root.is_dir():
            path = inside(root, run_id)
            if (path / "run.json").is_file():
                return path, shipped
    raise FileNotFoundError(f"no run {run_id!r} in {runs_root()} or {runs_root(True)}")


def write_run_json(run_dir: Path, record: dict[str, Any]) -> None:
    """Atomically write ``run.json`` in ``run_dir``."""
    write_json(Path(run_dir) / "run.json", record)


def update_run_json(run_dir: Path, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into ``run.json`` (atomically) and return the new record.

    A finished run stays 'done': a later status other than 'running' (a resume that trains
    it further) is left out, so a job that fails or stops after the run finished, or a write
    that fails later, never turns a complete run into a failed one.
    """
    record = _read_json(Path(run_dir) / "run.json") or {}
    if record.get("status") == "done" and changes.get("status") not in (None, "done", "running"):
        log.warning("%s: keeping status 'done', not %r", Path(run_dir) / "run.json", changes["status"])
        changes = {k: v for k, v in changes.items() if k not in ("status", "error")}
    record.update(changes)
    write_run_json(run_dir, record)
    return record


def package_versions() -> dict[str, str]:
    """Versions of the packages a run depends on (for run.json)."""
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for name in ("e2cnn", "phi", "h5py"):
        # A missing optional package is simply not recorded.
        with contextlib.suppress(Exception):
            out[name] = __import__(name).__version__
    return out


def new_run_record(
    run_id: str, dataset: Any, model_config: Any, train_config: Any, splits: Any, scale: float,
    device: str, job_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Return the run.json record of a new run: everything needed to rebuild it, status 'running'.

    ``dataset`` is a loaded core.data Dataset (its path and config are recorded);
    configs are dataclasses with ``to_dict``; ``splits`` a core.train.samples.Splits.
    """
    path = Path(dataset.path).resolve()
    return {
        "run_id": run_id,
        "status": "running",
        "created": time.time(),
        "job_id": job_id,
        "dataset": {"path": str(path), "hash": path.stem, "config": dataset.config.to_dict()},
        "model_config": model_config.to_dict(),
        "train_config": train_config.to_dict(),
        "split": splits.to_dict(),
        "scale": float(scale),
        "seed": train_config.seed,
        "device": device,
        "versions": package_versions(),
    }


def write_history(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """Atomically write the per-epoch ``history.json`` of a run."""
    write_json(Path(run_dir) / "history.json", history)


def write_evaluation(
    run_dir: Path, metrics: dict[str, Any] | None, arrays: dict[str, np.ndarray] | None
) -> None:
    """The one writer of a run's results: ``metrics.json`` and/or ``evaluation.npz`` (atomically).

    ``arrays`` maps names to numpy arrays (core.train.evaluate.evaluate_model's second result).
    """
    if arrays is not None:
        with atomic_path(Path(run_dir) / "evaluation.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    if metrics is not None:
        write_json(Path(run_dir) / "metrics.json", metrics)


def save_resume_state(
    run_dir: Path, model: nn.Module, optimiser: Any, scheduler: Any, scale: float,
    history: list[dict[str, Any]], **counters: Any,
) -> None:  # fmt: skip
    """Atomically write ``last.pt``: weights, optimiser and scheduler state, history and
    ``counters`` (epoch, best_val, best_epoch, bad_epochs), all on CPU, loadable weights-only."""
    config = model.config
    save_payload(
        Path(run_dir) / "last.pt",
        {
            "format": RESUME_FORMAT,
            "model_config": config.to_dict(),
            **_layout_entry(config),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "optimizer": _to_cpu(optimiser.state_dict()),
            "scheduler": scheduler.state_dict(),
            "history": history,
            "scale": float(scale),
            **counters,
        },
    )


def _to_cpu(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _read_json(path: Path) -> Any:
    """Parsed JSON of ``path``, None if it does not exist; ValueError naming the file if it is not JSON."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise ValueError(f"{path}: truncated or not valid JSON ({where})") from None


# ------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | os.PathLike, model: nn.Module, scale: float = 1.0, **extra: Any) -> None:
    """Atomically save the model's weights and config to ``path``.

    The file holds ``{"format", "model_config", "frame_layout", "state_dict", "scale", **extra}``
    (``frame_layout``: the config's, core.layout, as a dict; left out for a config without one);
    ``extra`` must be plain data (numbers, strings, lists, dicts, tensors) so it
    loads under ``weights_only=True``. Tensors are copied to CPU.
    """
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "to_dict"):
        raise ValueError("model has no .config with to_dict(); cannot write a rebuildable checkpoint")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_config": config.to_dict(),
        **_layout_entry(config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "scale": float(scale),
        **extra,
    }
    save_payload(path, payload)


def _layout_entry(config: Any) -> dict[str, Any]:
    """``{"frame_layout": ...}``: the frames the model reads (its config's layout, core.layout), or
    nothing for a config without one."""
    layout = getattr(config, "frame_layout", None)
    return {} if layout is None else {"frame_layout": layout.to_dict()}


def save_payload(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Atomically ``torch.save`` a plain-data dict to ``path``.

    Serialised in memory first, then written as bytes: a failed write is then an OSError
    that core.store.atomic turns into a WriteError naming the file and the cause (torch's
    own file writer reports a full disk as ``basic_ios::clear`` or ``inline_container.cc``).
    """
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def read_payload(source: str | os.PathLike | bytes, name: str | None = None) -> dict[str, Any]:
    """Read a file (or bytes) with ``torch.load(weights_only=True)``; return the dict.

    Raises CheckpointError, in one line naming the file (``name``, else its path, else
    "uploaded file") and the cause, for a truncated or non-torch file and for a pickle that
    wants to run code (which is refused, never executed).
    """
    where = name or ("uploaded file" if isinstance(source, bytes | bytearray) else str(source))
    handle: Any = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    import torch

    try:
        payload = torch.load(handle, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{where}: no such checkpoint file") from None
    except Exception as exc:  # torch raises many types here: report them all the same way
        raise CheckpointError(f"{where}: {_unreadable_reason(exc, _head(source))}") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{where}: expected a dict checkpoint, found {type(payload).__name__}")
    return payload


def _unreadable_reason(exc: BaseException, head: bytes) -> str:
    """What was wrong with a file ``torch.load(weights_only=True)`` refused (``exc``; ``head``: its
    first bytes), in one clause. Never torch's own text: for a pickle that wants to run code it
    advises loading again with ``weights_only=False``, which would run it."""
    said = str(exc).lower()
    if "global" in said:  # "unsupported GLOBAL os.system": a class or function to call, in any container
        return "it is not a weights file (it holds Python objects that would run code; refused)"
    if head != b"PK\x03\x04":  # every torch.save file since torch 1.6 is a zip
        return "it is not a torch checkpoint (torch.save files are zip archives)"
    if "zip" in said or isinstance(exc, EOFError):
        return "the file is truncated or not a torch checkpoint"
    return f"it could not be read as a torch checkpoint ({type(exc).__name__})"


def _head(source: str | os.PathLike | bytes) -> bytes:
    """First four bytes of a file or byte string (empty if unreadable)."""
    if isinstance(source, bytes | bytearray):
        return bytes(source[:4])
    try:
        with open(source, "rb") as f:
            return f.read(4)
    except OSError:
        return b""


# ------------------------------------------------------------------ listing


@dataclass(frozen=True)
class RunInfo:
    """What the dashboard needs about a run.

    ``config`` is run.json (data/model/train configs, split, seed, device, versions,
    status); ``metrics`` is metrics.json or None; ``history`` is the per-epoch list;
    ``paths`` maps file roles ("run", "checkpoint", "last", "history", "metrics",
    "evaluation") to paths; ``shipped`` is True for runs from assets/; ``damaged`` is
    ``"damaged: <file>: <reason>"`` for a run listed with a file that cannot be read
    (status "damaged"), else ''.
    """

    id: str
    path: Path
    status: str
    shipped: bool
    config: dict[str, Any]
    metrics: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    damaged: str = ""

    @property
    def model_name(self) -> str | None:
        """The model's registry name (e.g. "rsteer"), from run.json."""
        return (self.config.get("model_config") or {}).get("name")


_FILES = {
    "run": "run.json",
    "checkpoint": "checkpoint.pt",
    "last": "last.pt",
    "history": "history.json",
    "metrics": "metrics.json",
    "evaluation": "evaluation.npz",
}


def read_run(run_dir: Path, shipped: bool = False) -> RunInfo:
    """Return the RunInfo of the run stored in ``run_dir``.

    Raises FileNotFoundError without run.json, and core.store.damage.DamagedError (a
    ValueError, ``damaged: <file>: <reason>``) when run.json, history.json or metrics.json
    cannot be read or is not the JSON object / list it should be.
    """
    run_dir = Path(run_dir)
    config = _read_part(run_dir, "run.json", dict)
    if config is None:
        raise FileNotFoundError(f"{run_dir / 'run.json'}: no such file")
    history = _read_part(run_dir, "history.json", list)
    return RunInfo(
        id=run_dir.name,
        path=run_dir,
        status=str(config.get("status", "unknown")),
        shipped=shipped,
        config=config,
        metrics=_read_part(run_dir, "metrics.json", dict),
        history=history or [],
        paths=_paths_of(run_dir),
    )


def _paths_of(run_dir: Path) -> dict[str, Path]:
    return {k: run_dir / v for k, v in _FILES.items() if (run_dir / v).exists()}


def _read_part(run_dir: Path, name: str, kind: type) -> Any:
    """The parsed JSON file ``name`` of a run (None if absent); DamagedError naming it when it
    cannot be read or is not a ``kind`` (dict: a JSON object, list: a JSON list)."""
    path = run_dir / name
    try:
        value = _read_json(path)
    except ValueError as exc:  # its message starts with the path: the item's file name is enough
        raise DamagedError(name, str(exc).removeprefix(f"{path}: ")) from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DamagedError(name, exc.strerror or exc) from None
    if value is not None and not isinstance(value, kind):
        wanted = "a JSON object" if kind is dict else "a JSON list"
        raise DamagedError(name, f"expected {wanted}, found {type(value).__name__}")
    return value


def damaged_run(run_dir: Path, shipped: bool, line: str) -> RunInfo:
    """The RunInfo a listing shows for a run with a damaged file: status ``"damaged"``,
    ``damaged`` the line, ``config`` run.json where that still reads (else {}), no metrics."""
    try:
        config = _read_part(run_dir, "run.json", dict) or {}
    except (OSError, ValueError):
        config = {}
    return RunInfo(
        id=run_dir.name, path=run_dir, status="damaged", shipped=shipped, config=config,
        paths=_paths_of(run_dir), damaged=line,
    )  # fmt: skip


def list_runs() -> list[RunInfo]:
    """Return every run in data_dir() then assets/ (shipped flagged), newest first per place.

    A run id present in both places is listed once, from data_dir(). A run with a file that
    cannot be read (a truncated run.json, a corrupt metrics.json) is listed, never hidden, as
    :func:`damaged_run`: status "damaged", ``damaged`` = ``"damaged: <file>: <reason>"``.
    """
    seen: set[str] = set()
    out: list[RunInfo] = []
    for shipped in (False, True):
        root = runs_root(shipped)
        if not root.is_dir():
            continue
        dirs = sorted((p for p in root.iterdir() if (p / "run.json").is_file()), reverse=True)
        for d in dirs:
            if d.name in seen:
                continue
            try:
                out.append(read_run(d, shipped))
            except FileNotFoundError:  # deleted while listed
                continue
            except DamagedError as exc:
                log.warning("run folder %s: %s", d, exc)
                out.append(damaged_run(d, shipped, str(exc)))
            seen.add(d.name)
    return out


def dataset_path_of(info: RunInfo) -> Path:
    """Return the dataset file a run was trained on.

    run.json stores the path as written (absolute, or relative to the folder holding
    ``runs/`` for shipped assets); if that file is gone, the same file name is looked
    for in data_dir()/datasets and assets/datasets. Raises FileNotFoundError.
    """
    rec = info.config.get("dataset") or {}
    raw = Path(str(rec.get("path", "")))
    candidates = [raw] if raw.is_absolute() else [info.path.parent.parent / raw]
    candidates += [data_dir() / "datasets" / raw.name, assets_dir() / "datasets" / raw.name]
    for c in candidates:
        if raw.name and c.is_file():
            return c
    raise FileNotFoundError(f"dataset {raw.name or '?'} of run {info.id} is in none of {candidates}")
