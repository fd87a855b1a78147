"""The job queue the pages share: the server's one JobRunner, queuing work (a double click
queues one job), listing jobs and naming a job for a person. Below every resource module that
starts work (datasets, training, runs, sweeps, jobs)."""

from __future__ import annotations

import functools
from typing import Any

from core.service.common import dataset_config_of


def runner():
    """The server's one core.jobs.JobRunner for the current data directory (created on first use)."""
    from core.store.paths import data_dir

    return _runner_for(str(data_dir() / "registry.sqlite"))


@functools.cache
def _runner_for(registry_path: str):
    from core.jobs import JobRunner
    from core.store.registry import Registry

    return JobRunner(Registry(registry_path))


class AlreadyQueued(ValueError):
    """The work asked for is already queued or running (a second click): nothing new started.
    Not a problem with the settings, so pages show it as a note, not as an error."""


def queue_call(start, *args: Any) -> str:
    """``start(*args)`` (a JobRunner method that queues a job), with a refused duplicate (a
    double click) told in the page's words: which job already does it, by name, not id."""
    from core.store.registry import JobConflict

    try:
        return start(*args)
    except JobConflict as exc:
        raise AlreadyQueued(f"Not started twice: {job_title(exc.job)} is already {exc.job.status}.") from exc


#: Largest estimated generation (seconds on a quiet 2-core machine) run in the server's process.
IN_PROCESS_MAX_S = 10.0


def runs_in_process(kind: str, params: dict) -> bool:
    """True for a data job small enough to run in this process's job thread (core.jobs.here;
    estimated at most IN_PROCESS_MAX_S on a quiet machine); anything else gets a worker process."""
    from core.data import DataConfig
    from core.estimate import dataset_seconds

    if kind != "data":
        return False
    return dataset_seconds(DataConfig.from_dict(params.get("data_config") or {})) <= IN_PROCESS_MAX_S


def submit(kind: str, params: dict[str, Any]) -> str:
    """Queue one job; return its id. A small data job runs in this process's job thread (no
    worker process to start, core.service.generation), anything else in a worker process."""
    if runs_in_process(kind, params):
        from core.jobs.here import submit_here

        return queue_call(submit_here, runner(), kind, params)
    return queue_call(runner().submit, kind, params)


def list_jobs(limit: int = 100) -> list:
    """Jobs from the SQLite registry, newest first (core.store.registry.JobRecord).

    Every call supervises: a job whose worker died (kill -9, out of memory) or stopped
    answering is marked ``interrupted`` here, its reason in ``job.error``, and its slot freed.
    """
    return runner().list(limit)


def job_run_id(job) -> str | None:
    """The run a training or resume job trains, or None (core.jobs.runner.job_run_id)."""
    from core.jobs.runner import job_run_id as run_of

    return run_of(job)


def job_statuses() -> dict[str, str]:
    """Status of every registered job by id ({} if the registry cannot be read)."""
    try:
        return {j.id: j.status for j in list_jobs(500)}
    except Exception:  # no registry yet, or locked: runs still list from their folders
        return {}


def job_title(job: Any) -> str:
    """What a job does, in words (core.jobs.kinds title), e.g. "train RSteer 32 ch · 30 ep · Δb 0.3"
    (a training is named as its run will be, with its dataset's Δb)."""
    from core.jobs.kinds import KINDS

    params = job.params or {}
    if job.kind == "train" and isinstance(params.get("model_config"), dict):
        from core.names import run_label

        data = dataset_config_of(str(params.get("data_path", "")))
        record = {
            "model_config": params["model_config"],
            "train_config": params.get("train_config") or {},
            "dataset": {"config": data} if data else {},
        }
        return f"train {run_label(record)}"
    if job.kind == "resume":
        from core.names import run_label
        from core.store.runs import find_run_dir, read_run

        try:
            return f"resume {run_label(read_run(*find_run_dir(str(job.params.get('run_id')))).config)}"
        except (OSError, ValueError):
            pass
    try:
        return str(KINDS[job.kind].title(job.params or {}))
    except Exception:  # an old or unknown kind: its name still says something
        return str(job.kind)
