"""Run a Figure-4 sweep on this machine: one dataset per (pattern, level), every model trained
on it in turn with each training seed.

The trainings are the sweep's plan (core.sweep.config.sweep_plan). For each breaking pattern and
buoyancy difference (0 included) the dataset is made or reused from the cache, each (model,
seed) is trained on it, and one row per plan item (core/sweep/results.py) goes into
``sweeps/<sweep_id>/results.json`` and ``results.csv``, rewritten after every row. A stopped
sweep continues with :func:`resume_sweep`: the items with a row are skipped.
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
    its finished rows are kept as they are and only the plan items without one are trained,
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
    """Train the sweep's plan items without a row in this process, one after another, one
    dataset per (pattern, level) made just before its first training."""
    plan = sweep.config.plan()
    datasets = list(dict.fromkeys(item.dataset for item in plan))
    total = len(datasets) + len(plan)
    status = "done"
    try:
        for i, dataset in enumerate(datasets):
            if should_stop is not None and should_stop():
                status = "cancelled"
                break
            items = [item for item in sweep.missing() if item.dataset == dataset]
            if not items:
                continue  # finished before a resume: not even its dataset is needed
            done = i + sum(1 for item in plan if item.dataset in datasets[:i])
            status = _run_dataset(sweep, items, done / total, 1 / total, report, should_stop)
            if status == "cancelled":
                break
    except BaseException as exc:
        sweep.close(**stopped_fields(exc, should_stop))
        raise
    sweep.close(status)
    return SweepResult(sweep_id=sweep.sweep_id, path=sweep.path, status=status, rows=sweep.rows)


def item_label(item) -> str:
    """How progress messages name a plan item: "all, level 0.3, RSteer, seed 1"."""
    return f"{item.pattern}, level {item.level:g}, {model_label(item.model)}, seed {item.seed}"


def _run_dataset(sweep: OpenSweep, items: list, start, unit, report, should_stop) -> str:
    """Make the dataset of ``items`` (plan items of one pattern and level, without rows) and
    train each on it; add their rows; return 'done' or 'cancelled'."""
    from core.data import ensure_dataset
    from core.train.trainer import train

    config = sweep.config
    pattern, level = items[0].dataset
    report(start, f"dataset for pattern {pattern}, buoyancy difference {level:g}")
    path = ensure_dataset(config.data_config(level, pattern))
    for j, item in enumerate(items):
        base = start + (1 + j) * unit

        def sub(fraction, message="", _base=base, _item=item, **info):
            report(_base + fraction * unit, f"{item_label(_item)}: {message}", **info)

        t0 = time.perf_counter()
        model_config, train_config = config.model_config(item.model), config.train_config(item.seed)
        result = train(path, model_config, train_config, progress=sub, should_stop=should_stop)
        if result.status == "cancelled":
            return "cancelled"
        seconds = time.perf_counter() - t0
        sweep.add(result_row(level, item.model, result, seconds, path.name, seed=item.seed, pattern=pattern))
        report(base + unit, f"{item_label(item)}: {result.status}")
    return "done"
