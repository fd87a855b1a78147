"""Run a Figure-4 sweep on this machine: one dataset per (pattern, level), every model trained
on it in turn with each training seed.

The trainings are the sweep's plan (core.sweep.config.sweep_plan), run by the one sweep loop
(core.sweep.executor.run_plan) with an executor: here the local one (:func:`local_items`), or Ray's
(core/sweep/ray_engine.py). For each breaking pattern and buoyancy difference (0 included) the
dataset is made or reused from the cache, each (model, seed) is trained on it, and one row per plan
item (core/sweep/results.py) goes into ``sweeps/<sweep_id>/results.json`` and ``results.csv``,
rewritten after every row. A stopped sweep continues with :func:`resume_sweep`: the items with a
row are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.progress import Progress, no_progress
from core.sweep.config import PlanItem, SweepConfig
from core.sweep.executor import DatasetReady, SweepResult, Trained, run_plan
from core.sweep.results import OpenSweep, open_sweep, read_record, reopen_sweep, sweep_folder

#: Where a sweep's trainings run: one after another in this process, or as Ray tasks.
ENGINES = ("local", "ray")


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
    """Run the sweep's plan items without a row in this process (core.sweep.executor.run_plan)."""
    return run_plan(sweep, local_items, report, should_stop)


def local_items(sweep: OpenSweep, items: list[PlanItem], within, should_stop) -> Iterator[Any]:
    """The local executor: one dataset per (pattern, level) made (or taken from the cache) just
    before its first training, then its items trained one after another in this process, each
    polling ``should_stop`` between batches."""
    from core.data import ensure_dataset
    from core.train.trainer import train

    config = sweep.config
    for key in dict.fromkeys(item.dataset for item in items):
        pattern, level = key
        path = ensure_dataset(config.data_config(level, pattern))
        yield DatasetReady(key, path)
        for item in (item for item in items if item.dataset == key):
            t0 = time.perf_counter()
            model_config, train_config = config.model_config(item.model), config.train_config(item.seed)
            result = train(path, model_config, train_config, progress=within(item), should_stop=should_stop)
            yield Trained(item, result, time.perf_counter() - t0, path)
