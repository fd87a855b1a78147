"""What a dataset or a sweep will cost before it starts, from the engines' measured speed.

The data engine's time is a fixed part plus, per simulated step, PhiFlow's per-step overhead
and the work per cell of the 4·S batched simulations (constants measured on a quiet 2-core
machine: the default Data-page dataset, grid 32, 40 frames, 4 simulations, in about 1.7 s
once the engine is warm). A training's time is proportional to epochs × simulated cells
(4·S·frames·grid²), with a per-model constant taken from the finished sweeps' measured
``seconds`` (core/sweep/results.py rows), else :data:`TRAIN_CELL_EPOCH_S`. ``speed`` scales an
estimate by how much slower this machine runs now (measured / estimated, from recent jobs).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

#: Data engine, seconds: once per dataset (data EE, writing the file) ...
DATA_FIXED_S = 0.2
#: ... per batched simulation step (PhiFlow's Python overhead, whatever the size) ...
DATA_STEP_S = 0.012
#: ... and per simulated cell and step (one of the 4·S simulations' grid² cells).
DATA_CELL_STEP_S = 7.0e-6
#: A training's seconds per epoch and simulated cell (the cpu sweep's ConvNet: 35 s for 30
#: epochs on 16 simulations of 40 frames of 32²), used for a model no finished sweep measured.
TRAIN_CELL_EPOCH_S = 1.8e-6


def dataset_seconds(config, speed: float = 1.0) -> float:
    """Estimated seconds to make the dataset of a core.data.DataConfig on a warm engine, × ``speed``.

    Grows with every size field (grid, frames, warm-up steps, simulations)."""
    steps = config.warmup + config.frames
    per_step = DATA_STEP_S + DATA_CELL_STEP_S * 4 * config.sims * config.grid**2
    return speed * (DATA_FIXED_S + steps * per_step)


def _cell_epochs(data: Mapping[str, Any], epochs: int) -> float:
    """Epochs × simulated cells of a dataset's settings (a DataConfig dict)."""
    return float(epochs) * 4 * int(data["sims"]) * int(data["frames"]) * int(data["grid"]) ** 2


def training_units(sweeps: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Seconds per epoch and simulated cell of each model, the median over finished sweeps' rows.

    ``sweeps``: results.json records (core.sweep.results.list_sweeps) with ``resolved`` settings
    and rows carrying ``seconds``; records without them are skipped. Returns {model: seconds}.
    """
    found: dict[str, list[float]] = {}
    for record in sweeps:
        resolved = record.get("resolved") or {}
        data, train = resolved.get("data") or {}, resolved.get("train") or {}
        if not all(k in data for k in ("sims", "frames", "grid")) or not train.get("epochs"):
            continue
        cells = _cell_epochs(data, int(train["epochs"]))
        for row in record.get("rows") or []:
            seconds = row.get("seconds") if isinstance(row, Mapping) else None
            if isinstance(seconds, (int, float)) and seconds > 0 and row.get("status") == "done":
                found.setdefault(str(row.get("model")), []).append(float(seconds) / cells)
    return {model: statistics.median(units) for model, units in found.items()}


def sweep_seconds(config, units: Mapping[str, float] | None = None, speed: float = 1.0) -> float:
    """Estimated seconds of a core.sweep.SweepConfig's whole plan: each dataset once, each training.

    ``units``: :func:`training_units` (a model missing there gets the median of the others, else
    TRAIN_CELL_EPOCH_S). Trainings that stop early (patience) make the real run shorter."""
    from core.sweep.config import sweep_plan

    units = dict(units or {})
    fallback = statistics.median(units.values()) if units else TRAIN_CELL_EPOCH_S
    plan = sweep_plan(config)
    datasets = {(item.pattern, item.level) for item in plan}
    total = sum(dataset_seconds(config.data_config(level, pattern)) for pattern, level in datasets)
    for item in plan:
        data = config.data_config(item.level, item.pattern)
        epochs = config.train_config(item.seed).epochs
        cells = _cell_epochs({"sims": data.sims, "frames": data.frames, "grid": data.grid}, epochs)
        total += units.get(item.model, fallback) * cells
    return speed * total


def duration_words(seconds: float) -> str:
    """``seconds`` as a person says it: "about 3 s", "about 4 min", "about 2.5 h"."""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"
