"""Run a Figure-4 sweep on this machine: one dataset per level, every model trained on it in turn.

For each buoyancy difference (0 included) the dataset is made or reused from the cache,
each chosen model is trained on it, and one row per (level, model) (core/sweep/results.py)
goes into ``sweeps/<sweep_id>/results.json`` and ``results.csv``, rewritten after every row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.models.registry import model_label
from core.progress import Progress, no_progress
from core.sweep.config import SweepConfig
from core.sweep.results import new_record, result_row, start_sweep_dir, write_results

#: Where a sweep's trainings run: one after another in this process, or as Ray tasks.
ENGINES = ("local", "ray")


@dataclass
class SweepResult:
    """A finished (or stopped) sweep: its id, folder, status and result rows."""

    sweep_id: str
    path: Path
    status: str
    rows: list[dict[str, Any]]


def run_sweep(
    config: SweepConfig,
    progress: Progress | None = None,
    should_stop=None,
    root: Path | None = None,
    sweep_id: str | None = None,
    engine: str = "local",
    address: str | None = None,
) -> SweepResult:
    """Run the sweep; return a SweepResult (status 'done' or 'cancelled').

    ``progress`` (core.progress.Progress) is called as levels and models finish and (local
    engine) during training; ``should_stop()`` is polled between batches (local) or between
    task completions (Ray). Results go to ``<root or data_dir()>/sweeps/<sweep_id>/``.
    ``engine``: 'local' (this process, one training after another) or 'ray' (each training a
    Ray task, core/sweep/ray_engine.py); ``address``: the Ray cluster (None: a local Ray).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "ray":
        from core.sweep.ray_engine import run_sweep_ray

        return run_sweep_ray(config, progress, should_stop, root=root, sweep_id=sweep_id, address=address)
    sweep_id, out = start_sweep_dir(root, sweep_id)
    report = progress or no_progress
    total = len(config.levels) * (1 + len(config.models))
    rows: list[dict[str, Any]] = []
    record = new_record(sweep_id, config)
    write_results(out, record, rows)
    status = "done"
    for i, level in enumerate(config.levels):
        if should_stop is not None and should_stop():
            status = "cancelled"
            break
        units = i * (1 + len(config.models))
        status = _run_level(config, level, rows, units / total, 1 / total, report, should_stop, out, record)
        if status == "cancelled":
            break
    record.update(status=status, finished=time.time())
    write_results(out, record, rows)
    return SweepResult(sweep_id=sweep_id, path=out, status=status, rows=rows)


def _run_level(config, level, rows, start, unit, report, should_stop, out, record) -> str:
    """Make the level's dataset and train every model on it; append rows; return 'done' or 'cancelled'."""
    from core.data import ensure_dataset
    from core.train.trainer import train

    report(start, f"dataset for buoyancy difference {level:g}")
    path = ensure_dataset(config.data_config(level))
    for j, name in enumerate(config.models):
        base = start + (1 + j) * unit

        def sub(fraction, message="", _base=base, _name=name, **info):
            report(_base + fraction * unit, f"level {level:g}, {model_label(_name)}: {message}", **info)

        t0 = time.perf_counter()
        result = train(
            path, config.model_config(name), config.train_config(), progress=sub, should_stop=should_stop
        )
        if result.status == "cancelled":
            return "cancelled"
        rows.append(result_row(level, name, result, time.perf_counter() - t0, path.name))
        write_results(out, record, rows)
        report(base + unit, f"level {level:g}, {model_label(name)}: {result.status}")
    return "done"
