"""The worker process of one job: wait for a slot, run the job's kind, record the outcome.

Started by :meth:`core.jobs.JobRunner.submit` as ``python -m core.jobs run JOB_ID``.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from typing import Any

from core.jobs.kinds import JobContext, job_kind
from core.store.registry import Registry


class _Terminated(Exception):
    pass


def run_job(job_id: str, registry: Registry, limits: dict[str, int]) -> str:
    """Worker body: wait for a slot, run the job, record its outcome; return the final status."""
    job = registry.get_job(job_id)
    if job is None:
        raise SystemExit(f"no job {job_id!r} in {registry.path}")
    if job.status != "queued":
        return job.status
    registry.update_job(job_id, pid=os.getpid())

    def on_term(signum, frame):
        raise _Terminated()

    signal.signal(signal.SIGTERM, on_term)
    kind = job_kind(job.kind)
    result: dict[str, Any] = {}
    try:
        if not _wait_for_slot(registry, job_id, kind.slot, limits.get(kind.slot, 1)):
            return "cancelled"
        print(f"[job {job_id}] {job.kind} started, pid {os.getpid()}", flush=True)
        ctx = _context(registry, registry.get_job(job_id), result)
        result.update(kind.run(ctx))
        status = result.get("status", "done")
        if status != "done" and registry.cancel_requested(job_id):
            status = "cancelled"
        _finish(registry, job_id, status, result, error=result.get("error"))
    except _Terminated:
        status = "cancelled" if registry.cancel_requested(job_id) else "interrupted"
        _finish(registry, job_id, status, result, message=f"{status} by signal")
    except Exception as exc:
        traceback.print_exc()
        status = "failed"
        _finish(registry, job_id, status, result, error=f"{type(exc).__name__}: {exc}")
    print(f"[job {job_id}] finished: {status}", flush=True)
    return status


def _wait_for_slot(registry: Registry, job_id: str, slot: str, limit: int) -> bool:
    """Block until the job holds a ``slot``; False if it was cancelled while queued."""
    while not registry.claim_slot(job_id, slot, limit):
        if registry.cancel_requested(job_id):
            registry.finish_job(job_id, "cancelled", message="cancelled while queued")
            return False
        registry.update_job(job_id, message=f"waiting for a free {slot} slot")
        time.sleep(0.5)
    return True


def _finish(registry: Registry, job_id: str, status: str, result: dict, error=None, message=None) -> None:
    """Store the outcome in the registry and carry it over to the job's run folder."""
    from core.jobs.runner import mark_run

    registry.update_job(job_id, result={**result, "status": status})
    registry.finish_job(job_id, status, error=error, message=message or status)
    mark_run(registry.get_job(job_id), status)


def _context(registry: Registry, job, result: dict[str, Any]) -> JobContext:
    def record(**fields: Any) -> None:
        result.update(fields)
        columns = {k: v for k, v in fields.items() if k in ("run_id", "device")}
        registry.update_job(job.id, result=dict(result), **columns)

    return JobContext(job.id, job.params, _progress(registry, job.id), _should_stop(registry, job.id), record)


def _progress(registry: Registry, job_id: str):
    last = [0.0]

    def report(fraction: float, message: str = "", **info: Any) -> None:
        # Epoch ends (with losses) always get written; batch ticks at most twice a second.
        now = time.monotonic()
        if info.get("train_loss") is None and now - last[0] < 0.5:
            return
        last[0] = now
        keep = {k: info[k] for k in ("epoch", "train_loss", "val_loss") if info.get(k) is not None}
        registry.set_progress(job_id, fraction, message, **keep)
        print(f"[{100 * fraction:5.1f}%] {message}", flush=True)

    return report


def _should_stop(registry: Registry, job_id: str):
    last = [0.0, False]

    def check() -> bool:
        now = time.monotonic()
        if now - last[0] > 0.25:  # one SQLite read per quarter second is plenty
            last[0], last[1] = now, registry.cancel_requested(job_id)
        return bool(last[1])

    return check
