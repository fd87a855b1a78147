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

    The file holds ``{"format", "model_config", "state_dict", "scale", **extra}``;
    ``extra`` must be plain data (numbers, strings, lists, dicts, tensors) so it
    loads under ``weights_only=True``. Tensors are copied to CPU.
    """
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "to_dict"):
        raise ValueError("model has no .config with to_dict(); cannot write a rebuildable checkpoint")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_config": config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "scale": float(scale),
        **extra,
    }
    save_payload(path, payload)


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


def load_checkpoint_file(
    source: str | os.PathLike | bytes, expected_model: str | None = None, name: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint file or its bytes (e.g. an upload).

    Returns ``(model, payload)``: the model in eval mode on CPU with the saved
    weights, wrapped in :class:`core.train.rollout.Scaled` so it works in physical units,
    and the checkpoint dict. ``expected_model`` (a model name) rejects a checkpoint
    of another architecture. Raises CheckpointError with a clear message naming the file
    (``name``, e.g. an upload's file name, else its path, else "uploaded file").
    """
    from core.models import model_from_config

    where = name or ("uploaded file" if isinstance(source, bytes | bytearray) else str(source))
    payload = read_payload(source, where)
    if payload.get("format") not in (CHECKPOINT_FORMAT, RESUME_FORMAT):
        raise CheckpointError(
            f"{where}: not an approxsym checkpoint (format {payload.get('format')!r}, "
            f"expected {CHECKPOINT_FORMAT!r})"
        )
    cfg = payload.get("model_config")
    state = payload.get("state_dict")
    if not isinstance(cfg, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{where}: checkpoint lacks model_config or state_dict")
    name = cfg.get("name")
    if expected_model is not None and name != expected_model:
        raise CheckpointError(f"{where}: checkpoint is for model {name!r}, expected {expected_model!r}")
    scale = payload.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale < float("inf"):
        raise CheckpointError(f"{where}: field 'scale' must be a finite number > 0, got {scale!r}")
    # Everything below the file's own claims is checked before a single weight is allocated.
    try:
        check_model_budget(cfg)
        model = model_from_config(cfg)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{where}: its model_config cannot build a model ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"{where}: weights do not fit model {name!r} (another architecture or size?): {first[:300]}"
        ) from None
    model.eval()
    from core.train.rollout import Scaled, check_skip

    delta, unit = payload.get("delta_scale"), payload.get("smoke_unit")
    for key, value in (("delta_scale", delta), ("smoke_unit", unit)):
        bad = isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf")
        if value is not None and bad:
            raise CheckpointError(f"{where}: field {key!r} must be a finite number > 0, got {value!r}")
    skip = payload.get("skip", "last")  # checkpoints from before the linear skip have none
    try:
        check_skip(skip, model.config.input_frames)
        return Scaled(model, float(scale), delta, skip=skip, smoke_unit=unit).eval(), payload
    except ValueError as exc:
        raise CheckpointError(f"{where}: {exc}") from None


#: Largest model a checkpoint may ask for: learnable parameters, and bytes to hold it and run it.
MAX_MODEL_PARAMS = 5_000_000
MAX_MODEL_BYTES = 1 << 30
#: Grid side assumed for the activation estimate (the largest the dashboard evaluates on).
BUDGET_GRID = 128


def model_budget(config: Any) -> dict[str, int]:
    """Size of the model a config describes, computed without building it.

    Returns ``params`` (learnable numbers), ``kernel`` (numbers of the dense convolution
    kernels a forward pass uses: steerable models expand theirs every call), ``basis``
    (steerable basis buffers), ``activations`` (floats of one sample's feature maps on a
    BUDGET_GRID square grid, or the model's own ``grid``) and ``bytes`` (float32 memory of all
    of them, weights twice for their gradients). ``config``: a ModelConfig or its dict (checked first).
    """
    from core.models import ModelConfig, model_spec

    cfg = ModelConfig.from_dict(config)
    k = cfg.kernel_size
    widths = [cfg.in_channels] + [cfg.hidden] * (cfg.layers - 1) + [cfg.frame_channels]
    kernel = sum(a * b * k * k + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    params, basis = kernel, 0
    if cfg.name in ("e2cnn", "rsteer"):
        from core.models.basis import field_size, layer_plan, steerable_basis

        params = 0
        for in_kind, in_fields, out_kind, out_fields in layer_plan(
            cfg.input_frames, cfg.hidden, cfg.layers, cfg.smoke
        ):
            size = steerable_basis(in_kind, out_kind, k).shape[0]  # one field pair: small, cached
            per_offset = k * k if cfg.name == "rsteer" else 1
            params += out_fields * in_fields * size * per_offset
            # e2cnn biases every field with a trivial part (the smoke too); RSteer only regular ones.
            biased = ("regular", "vector+scalar") if cfg.name == "e2cnn" else ("regular",)
            params += out_fields if out_kind in biased else 0
            basis += size * field_size(out_kind) * field_size(in_kind) * k * k
    bound = getattr(model_spec(cfg.name).builder(), "parameter_bound", None)
    if bound is not None:  # the models that know their own size (core.models, one per module)
        params = bound(cfg)
    activations = sum(widths) * (cfg.grid or BUDGET_GRID) ** 2
    total = 4 * (2 * params + 2 * kernel + basis + 2 * activations)
    return {"params": params, "kernel": kernel, "basis": basis, "activations": activations, "bytes": total}


def check_model_budget(config: Any) -> dict[str, int]:
    """Refuse (ValueError naming the fields and the budget) a model config above
    MAX_MODEL_PARAMS parameters or MAX_MODEL_BYTES of memory; return :func:`model_budget`."""
    from core.models import ModelConfig

    budget = model_budget(config)
    cfg = ModelConfig.from_dict(config).to_dict()
    sizes = ", ".join(f"{f}={cfg.get(f)}" for f in ("hidden", "layers", "kernel_size", "input_frames"))
    if budget["params"] > MAX_MODEL_PARAMS:
        raise ValueError(
            f"model_config ({sizes}) gives {budget['params'] / 1e6:.1f} M parameters; "
            f"the budget is {MAX_MODEL_PARAMS / 1e6:.0f} M"
        )
    if budget["bytes"] > MAX_MODEL_BYTES:
        raise ValueError(
            f"model_config ({sizes}) needs about {budget['bytes'] / 2**20:.0f} MiB; "
            f"the budget is {MAX_MODEL_BYTES / 2**20:.0f} MiB"
        )
    return budget


def load_checkpoint(path: str | os.PathLike, expected_model: str | None = None) -> nn.Module:
    """Return the model rebuilt from the checkpoint at ``path`` (see load_checkpoint_file)."""
    return load_checkpoint_file(path, expected_model)[0]


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


@dataclass(frozen=True)
class LoadedRun:
    """A run and its model rebuilt from checkpoint.pt (physical units, eval mode, CPU)."""

    info: RunInfo
    model: nn.Module


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


def load_run(run_id: str) -> LoadedRun:
    """Load a run by id and rebuild its model from ``checkpoint.pt`` alone.

    Raises ValueError for an unsafe id, FileNotFoundError for an unknown run or a
    run without checkpoint, and CheckpointError for an unusable checkpoint.
    """
    run_dir, shipped = find_run_dir(run_id)
    info = read_run(run_dir, shipped)
    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"run {run_id!r} has no checkpoint.pt (status {info.status})")
    model, _ = load_checkpoint_file(ckpt, expected_model=info.model_name)
    return LoadedRun(info=info, model=model)
