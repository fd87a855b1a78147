"""Run a Figure-4 sweep on this machine: one dataset per level, every model trained on it in turn.

For each buoyancy difference (0 included) the dataset is made or reused from the cache,
each chosen model is trained on it, and one row per (level, model) (core/sweep/results.py)
goes into ``sweeps/<sweep_id>/results.json`` and ``results.csv``, rewritten after every row.
A stopped sweep continues with :func:`resume_sweep`: the pairs with a row are skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.models.registry import model_label
from core.progress import Progress, no_progress
from core.sweep.config import SweepConfig
from core.sweep.results import (
    OpenSweep,
    open_sweep,
    read_record,
    reopen_sweep,
    result_row,
    stopped_fields,
    sweep_folder,
)

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
    The process holds the folder's lock (results.LOCK_FILE) while it runs; an exception ends
    the sweep 'failed' (or 'cancelled' when a stop was asked) before it propagates.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "ray":
        from core.sweep.ray_engine import run_sweep_ray

        return run_sweep_ray(config, progress, should_stop, root=root, sweep_id=sweep_id, address=address)
    return _run_local(open_sweep(config, root, sweep_id), progress or no_progress, should_stop)


def resume_sweep(
    sweep_id: str,
    progress: Progress | None = None,
    should_stop=None,
    root: Path | None = None,
    engine: str | None = None,
    address: str | None = None,
) -> SweepResult:
    """Continue a stopped sweep (interrupted, cancelled or failed) of ``root or data_dir()``:
    its finished (level, model) rows are kept as they are and only the missing pairs are trained,
    with the settings it started with; return the SweepResult of the whole sweep.

    ``engine`` None continues on the engine it last ran on ('ray' keeps its address unless
    one is given). ValueError says why it cannot (unknown, still running, finished).
    """
    if engine is None:
        try:
            record = read_record(sweep_folder(sweep_id, root))
        except (OSError, ValueError):
            record = {}  # reopen_sweep names what is wrong
        engine = "ray" if record.get("engine") == "ray" else "local"
        address = address or (record.get("address") if engine == "ray" else None)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "ray":
        from core.sweep.ray_engine import run_sweep_ray

        return run_sweep_ray(
            None, progress, should_stop, root=root, sweep_id=sweep_id, address=address, resume=True
        )
    return _run_local(reopen_sweep(sweep_id, root), progress or no_progress, should_stop)


def _run_local(sweep: OpenSweep, report: Progress, should_stop) -> SweepResult:
    """Train the sweep's missing (level, model) pairs in this process, one after another."""
    config = sweep.config
    total = len(config.levels) * (1 + len(config.models))
    status = "done"
    try:
        for i, level in enumerate(config.levels):
            if should_stop is not None and should_stop():
                status = "cancelled"
                break
            if all(sweep.has(level, name) for name in config.models):
                continue  # finished before a resume: not even its dataset is needed
            units = i * (1 + len(config.models))
            status = _run_level(sweep, level, units / total, 1 / total, report, should_stop)
            if status == "cancelled":
                break
    except BaseException as exc:
        sweep.close(**stopped_fields(exc, should_stop))
        raise
    sweep.close(status)
    return SweepResult(sweep_id=sweep.sweep_id, path=sweep.path, status=status, rows=sweep.rows)


def _run_level(sweep: OpenSweep, level, start, unit, report, should_stop) -> str:
    """Make the level's dataset and train every model without a row on it; add the rows;
    return 'done' or 'cancelled'."""
    from core.data import ensure_dataset
    from core.train.trainer import train

    config = sweep.config
    report(start, f"dataset for buoyancy difference {level:g}")
    path = ensure_dataset(config.data_config(level))
    for j, name in enumerate(config.models):
        base = start + (1 + j) * unit
        if sweep.has(level, name):
            continue

        def sub(fraction, message="", _base=base, _name=name, **info):
            report(_base + fraction * unit, f"level {level:g}, {model_label(_name)}: {message}", **info)

        t0 = time.perf_counter()
        result = train(
            path, config.model_config(name), config.train_config(), progress=sub, should_stop=should_stop
        )
        if result.status == "cancelled":
            return "cancelled"
        sweep.add(result_row(level, name, result, time.perf_counter() - t0, path.name))
        report(base + unit, f"level {level:g}, {model_label(name)}: {result.status}")
    return "done"
