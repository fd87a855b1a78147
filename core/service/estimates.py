"""What the pages say a piece of work will cost before it starts (core.estimate, this machine's speed)."""

from __future__ import annotations

import statistics
from typing import Any

#: How many of the newest finished data jobs set this machine's speed.
RECENT_JOBS = 5


def machine_speed(jobs: list | None = None) -> float:
    """How much slower than core.estimate's quiet 2-core figures data jobs ran here lately:
    the median of measured / estimated seconds over the newest done data jobs that simulated
    (1.0 when there are none; kept within 0.5-20). ``jobs``: registry records (default: listed)."""
    from core.data import DataConfig
    from core.estimate import dataset_seconds
    from core.service.queue import list_jobs

    ratios = []
    for job in jobs if jobs is not None else list_jobs():
        if job.kind != "data" or job.status != "done" or not job.started or not job.finished:
            continue
        try:
            estimate = dataset_seconds(DataConfig.from_dict(job.params["data_config"]))
        except (KeyError, TypeError, ValueError):
            continue
        ratios.append((job.finished - job.started) / estimate)
        if len(ratios) == RECENT_JOBS:
            break
    return min(max(statistics.median(ratios), 0.5), 20.0) if ratios else 1.0


def dataset_estimate(config) -> str:
    """A sentence for the Data page: about how long making ``config``'s dataset takes here."""
    from core.estimate import dataset_seconds, duration_words

    return f"Estimated time to generate: {duration_words(dataset_seconds(config, machine_speed()))}."


def dataset_estimates(grids, **size: int) -> dict[int, str]:
    """{grid: "about N s"} for the Data page's dataset at each grid of ``grids`` and the form's
    other ``size`` fields (frames, sims, warmup), at this machine's speed. ValueError (the
    form's words) for a size out of range."""
    from core.estimate import dataset_seconds, duration_words
    from core.service.datasets import dataset_config

    speed = machine_speed()
    configs = {g: dataset_config(grid=int(g), **size) for g in grids}
    return {g: duration_words(dataset_seconds(c, speed)) for g, c in configs.items()}


def sweep_estimate(**settings: Any) -> str:
    """A sentence for the sweep form and Table 1's Build: about how long the sweep of
    core.sweep.SweepConfig(**settings) takes here (ValueError for settings it refuses)."""
    from core.estimate import duration_words, sweep_seconds, training_units
    from core.sweep import SweepConfig
    from core.sweep.results import list_sweeps

    seconds = sweep_seconds(SweepConfig(**settings), training_units(list_sweeps()), machine_speed())
    return (
        f"Estimated time: {duration_words(seconds)} on this machine (every dataset and training of "
        "the plan at its measured speed; trainings that stop early take less)."
    )
