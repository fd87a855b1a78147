"""Jobs run in a thread of this process, for work of a few seconds.

A worker process (core.jobs.runner) first imports torch and PhiFlow and traces the data
engine: on 2 cores that costs more than making a small dataset. :func:`submit_here` queues
the job in the same registry (JobRunner.submit with ``in_process``) and runs the same
worker body (core.jobs.worker.run_job, so the same kind code in core/jobs/kinds.py) in
this process's one job thread; :func:`warm` lets that thread import and trace the engine
before the first click. The job holds its lock (Registry.job_lock_path) while it runs, so
any process tells it lives, and one left by a dead process is marked interrupted. Cancel
is the kind's own stop check (no signal: the process is the dashboard's).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from core.jobs.runner import JobRunner
from core.jobs.worker import run_job
from core.store.locks import hold_lock
from core.store.registry import Registry

_lock = threading.Lock()
_thread: ThreadPoolExecutor | None = None


def submit_here(runner: JobRunner, kind: str, params: dict[str, Any]) -> str:
    """Queue a job (a ValueError or JobConflict as JobRunner.submit) and run it in this process's
    job thread, after whatever was handed to it before; return the job id."""
    job_id = runner.submit(kind, params, in_process=True)
    registry = runner.registry
    try:
        # Taken here, before the pid is recorded: from then on the job is never seen without it.
        lock = hold_lock(registry.job_lock_path(job_id))
        registry.update_job(job_id, pid=os.getpid())
        log_path = Path(registry.get_job(job_id).log_path)
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        registry.finish_job(job_id, "failed", error=why, message=f"failed: {why}", only_active=True)
        raise
    _submit(_run_logged, job_id, registry, runner.limits, log_path, lock)
    return job_id


def warm(work, *args: Any) -> Future:
    """Run ``work(*args)`` in the job thread (before any job submitted after it); return its future.

    Why one thread for both: PhiFlow's backend and precision are process-wide settings, so two
    simulations (or a warm-up and a simulation) must not run at the same time in one process.
    """
    return _submit(work, *args)


def _submit(work, *args: Any) -> Future:
    global _thread
    with _lock:
        if _thread is None:
            _thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs-here")
        return _thread.submit(work, *args)


def _run_logged(job_id: str, registry: Registry, limits: dict[str, int], log_path: Path, lock) -> str:
    """core.jobs.worker.run_job with the job's lines in its log file; returns the final status."""
    try:
        with open(log_path, "a") as log:
            return run_job(job_id, registry, limits, log=log, lock=lock)
    except Exception as exc:  # run_job records the job's own failures; this is one before it ran
        lock.release()
        why = f"{type(exc).__name__}: {exc}"
        registry.finish_job(job_id, "failed", error=why, message=f"failed: {why}", only_active=True)
        return "failed"
