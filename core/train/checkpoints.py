"""A checkpoint read back into a working model: weights, architecture and units checked.

The run folders and the raw payload files are ``core.store.runs``; rebuilding the model needs the
models (``core.models``) and the physical-units wrapper (``core.train.rollout.Scaled``), so it lives
here, above both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.layout import FrameLayout
from core.models.budget import check_model_budget
from core.store.runs import (
    CHECKPOINT_FORMAT,
    RESUME_FORMAT,
    CheckpointError,
    RunInfo,
    find_run_dir,
    read_payload,
    read_run,
)

if TYPE_CHECKING:  # torch is imported where a checkpoint is read, not to import this module
    from torch import nn


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
    checkpoint_layout(payload, model.config, where)
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


def checkpoint_layout(payload: dict[str, Any], model_config: Any, where: str = "checkpoint") -> FrameLayout:
    """The frame layout (core.layout) a checkpoint's model reads and predicts: its stored
    ``frame_layout``, or for a checkpoint saved before it was stored, its ModelConfig's (from
    ``smoke``). CheckpointError if the stored one is unreadable or not the model's."""
    own = model_config.frame_layout
    if "frame_layout" not in payload:
        return own
    try:
        stored = FrameLayout.from_dict(payload["frame_layout"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{where}: field 'frame_layout': {exc}") from None
    if stored != own:
        raise CheckpointError(
            f"{where}: field 'frame_layout' ({', '.join(stored.channels)}) is not its model's "
            f"({', '.join(own.channels)})"
        )
    return stored


def load_checkpoint(path: str | os.PathLike, expected_model: str | None = None) -> nn.Module:
    """Return the model rebuilt from the checkpoint at ``path`` (see load_checkpoint_file)."""
    return load_checkpoint_file(path, expected_model)[0]


@dataclass(frozen=True)
class LoadedRun:
    """A run and its model rebuilt from checkpoint.pt (physical units, eval mode, CPU)."""

    info: RunInfo
    model: nn.Module


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
