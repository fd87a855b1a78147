"""The one sweep loop: the plan's items without a row, run by an executor, recorded as rows.

The plan (core.sweep.config.sweep_plan: every (pattern, level, model, seed)) and the bookkeeping
(which items still need a training, progress over datasets and trainings, one row per finished
item, the final status on stop, error or Ctrl-C) are here, once. An executor only says how the
items run: the local one (core/sweep/run.py) trains them one after another in this process, the
Ray one (core/sweep/ray_engine.py) as Ray tasks. An executor is a generator function
``execute(sweep, items, within, should_stop)`` yielding :class:`DatasetReady` when a (pattern,
level) dataset is on this machine, :class:`Trained` when an item's training ended, and None when
it has nothing new (the loop then asks ``should_stop`` again). Closing the generator (a stop, an
error) must stop whatever it still runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.models.registry import model_label
from core.progress import Progress
from core.store.runs import update_run_json
from core.sweep.config import PlanItem
from core.sweep.results import OpenSweep, result_row, stopped_fields


@dataclass
class SweepResult:
    """A finished (or stopped) sweep: its id, folder, status and result rows."""

    sweep_id: str
    path: Path
    status: str
    rows: list[dict[str, Any]]


@dataclass
class DatasetReady:
    """The dataset of one (pattern, level) is on this machine at ``path``."""

    key: tuple[str, float]
    path: Path


@dataclass
class Trained:
    """One plan item's training ended: its core.train.trainer.TrainResult (run folder on this
    machine), the seconds it took and the dataset file it trained on."""

    item: PlanItem
    result: Any
    seconds: float
    dataset: Path


#: ``execute(sweep, items, within, should_stop)``: the items (plan items without a row, in plan
#: order) run, events yielded; ``within(item)`` is a Progress for the inside of one training.
Executor = Callable[[OpenSweep, list[PlanItem], Callable[[PlanItem], Progress], Any], Iterator[Any]]


def item_label(item: PlanItem) -> str:
    """How progress messages name a plan item: "all, level 0.3, RSteer, seed 1"."""
    return f"{item.pattern}, level {item.level:g}, {model_label(item.model)}, seed {item.seed}"


class _Tally:
    """Progress over the whole plan: one unit per dataset and one per training, the finished
    items' (a resumed sweep's) counted as done from the start."""

    def __init__(self, sweep: OpenSweep, items: list[PlanItem], report: Progress):
        plan = sweep.config.plan()
        self.total = len({item.dataset for item in plan}) + len(plan)
        self.done = self.total - len({item.dataset for item in items}) - len(items)
        self.report = report

    def step(self, message: str) -> None:
        self.done += 1
        self.report(self.done / self.total, message)

    def within(self, item: PlanItem) -> Progress:
        def sub(fraction: float, message: str = "", **info: Any) -> None:
            self.report((self.done + fraction) / self.total, f"{item_label(item)}: {message}", **info)

        return sub


def run_plan(sweep: OpenSweep, execute: Executor, report: Progress, should_stop=None) -> SweepResult:
    """Run the items of ``sweep``'s plan without a row with ``execute``; add a row per finished
    training; close the sweep 'done', or 'cancelled' when ``should_stop()`` said so (polled
    between events) or a training was stopped. An exception closes it per
    results.stopped_fields before it propagates. Return the SweepResult of the whole sweep."""
    items = sweep.missing()
    tally = _Tally(sweep, items, report)
    events = execute(sweep, items, tally.within, should_stop)
    try:
        for event in _until_stopped(events, should_stop):
            if isinstance(event, DatasetReady):
                pattern, level = event.key
                tally.step(f"dataset for pattern {pattern}, buoyancy difference {level:g}: ready")
            elif isinstance(event, Trained):
                if event.result.status == "cancelled":
                    break
                item = event.item
                row = result_row(item.level, item.model, event.result, event.seconds, event.dataset.name,
                                 seed=item.seed, pattern=item.pattern)  # fmt: skip
                sweep.add(row)
                # The run says which sweep made it, so it stays findable without the sweep's rows.
                update_run_json(event.result.run_dir, sweep_id=sweep.sweep_id)
                tally.step(f"{item_label(item)}: {event.result.status}")
        status = "cancelled" if sweep.missing() else "done"  # a stop left items without a row
    except BaseException as exc:
        events.close()
        sweep.close(**stopped_fields(exc, should_stop))
        raise
    events.close()  # stops whatever the executor still runs (a stop asked)
    sweep.close(status)
    return SweepResult(sweep_id=sweep.sweep_id, path=sweep.path, status=status, rows=sweep.rows)


def _until_stopped(events: Iterator[Any], should_stop) -> Iterator[Any]:
    """``events`` until they end or ``should_stop()`` (asked before each) says True."""
    while not (should_stop is not None and should_stop()):
        try:
            yield next(events)
        except StopIteration:
            return
