"""The worker process of one job: wait for a slot, run the job's kind, record the outcome.

Started by :meth:`core.jobs.JobRunner.submit` as ``python -m core.jobs run JOB_ID``.

The registry is only where the worker reports; the work itself lives in its run folder.
So every registry write goes through :class:`Reporter`, which logs and swallows a failure
instead of ending the training, and writes the job's row back if a rebuilt registry lost
it. A thread stamps the row's ``heartbeat`` every HEARTBEAT_S seconds; the runner takes a
job whose heartbeat is older than core.jobs.runner.HEARTBEAT_STALE_S as gone.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

from core.jobs.kinds import JobContext, job_kind
from core.store.registry import JobRecord, Registry

#: Seconds between two heartbeats of a worker.
HEARTBEAT_S = 2.0


class _Terminated(BaseException):
    """SIGTERM, raised wherever the main thread is. Not an Exception: the handlers that keep a
    job going through a failed registry write (Reporter._call) must not swallow it."""


class Reporter:
    """A worker's registry writes, never fatal: a failure is logged to the job's log and
    skipped (the next write retries), and a row that vanished is written back."""

    def __init__(self, registry: Registry, job: JobRecord, log=None):
        self.registry = registry
        self.job_id = job.id
        self._job = job
        self.log = log  # where the job's lines go: None is this process's stdout (a worker's log file)
        self._known: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _call(self, what: str, fn, default=None):
        try:
            return fn()
        except Exception as exc:  # sqlite3, OSError, anything: the run must go on
            print(f"[job {self.job_id}] registry {what} failed, carrying on: {type(exc).__name__}: {exc}",
                  file=self.log or sys.stderr, flush=True)  # fmt: skip
            return default

    def update(self, **fields: Any) -> None:
        """Set columns of the job's row (restoring the row first if it is gone)."""
        with self._lock:
            self._known.update(fields)
        if self._call("update", lambda: self.registry.update_job(self.job_id, **fields), True) is False:
            self.restore()

    def restore(self) -> None:
        """Write the job's row back with everything known about it (after a rebuilt registry)."""
        with self._lock:
            known = dict(self._known)
        record = dataclasses.replace(self._job, **known)
        restored = self._call("restore", lambda: self.registry.restore_job(record) or True, False)
        if restored:
            self.say(f"[job {self.job_id}] job row was missing from the registry: written back")

    def say(self, line: str) -> None:
        """Write one line to the job's log."""
        print(line, file=self.log or sys.stdout, flush=True)

    def progress(self, fraction: float, message: str, **info: Any) -> None:
        fields: dict[str, Any] = {"fraction": min(max(float(fraction), 0.0), 1.0), "message": message}
        fields.update({k: v for k, v in info.items() if v is not None})
        self.update(**fields)

    def finish(self, status: str, error: str | None = None, message: str | None = None) -> None:
        fields: dict[str, Any] = {"status": status, "finished": time.time(), "error": error}
        if status == "done":
            fields["fraction"] = 1.0
        if message is not None:
            fields["message"] = message
        self.update(**fields)

    def cancel_requested(self) -> bool:
        return bool(self._call("read", lambda: self.registry.cancel_requested(self.job_id), False))

    def claim_slot(self, slot: str, limit: int) -> bool:
        if self._call("read", lambda: self.registry.get_job(self.job_id), True) is None:
            self.restore()
        ok = bool(self._call("claim", lambda: self.registry.claim_slot(self.job_id, slot, limit), False))
        if ok:
            with self._lock:
                self._known.update(status="running", slot=slot, started=time.time())
        return ok

    def run_id(self) -> str | None:
        with self._lock:
            result = self._known.get("result") or {}
            return self._known.get("run_id") or result.get("run_id") or self._job.run_id


def run_job(job_id: str, registry: Registry, limits: dict[str, int], log=None, lock=None) -> str:
    """Worker body: wait for a slot, run the job, record its outcome; return the final status.

    ``log``: None in a worker process (its stdout is the job's log; SIGTERM stops the job), or
    the open log file of a job run in a thread of a longer-lived process (JobRunner.submit with
    ``in_process``): no signal handler then, and Cancel is the kind's own stop check. Either
    way the job's lock (Registry.job_lock_path) is held while it runs: it is how another process
    tells that the job's process lives; ``lock``: that lock taken already (core.store.locks.HeldLock,
    released here), by the thread that queued the job, so the job is never seen without it.
    """
    from core.store.locks import hold_lock

    with lock or hold_lock(registry.job_lock_path(job_id)):
        job = registry.get_job(job_id)
        if job is None:
            raise SystemExit(f"no job {job_id!r} in {registry.path}")
        if job.status != "queued":
            return job.status
        return _run_held(job, registry, limits, log)


def _run_held(job: JobRecord, registry: Registry, limits: dict[str, int], log) -> str:
    """:func:`run_job` once the job's lock is held."""
    job_id = job.id
    reporter = Reporter(registry, job, log)
    reporter.update(pid=os.getpid(), heartbeat=time.time())
    stop_beating = _start_heartbeat(reporter)

    def on_term(signum, frame):
        raise _Terminated()

    in_thread = log is not None
    if not in_thread:
        signal.signal(signal.SIGTERM, on_term)
    kind = job_kind(job.kind)
    result: dict[str, Any] = {}
    try:
        if not _wait_for_slot(reporter, kind.slot, limits.get(kind.slot, 1)):
            return "cancelled"
        reporter.update(message="started")  # the waiting message is over
        reporter.say(f"[job {job_id}] {job.kind} started, pid {os.getpid()}")
        ctx = _context(reporter, job, result)
        result.update(kind.run(ctx))
        status = result.get("status", "done")
        if status != "done" and reporter.cancel_requested():
            status = "cancelled"
        _finish(reporter, status, result, error=result.get("error"), keep_runs=in_thread)
    except _Terminated:
        status = "cancelled" if reporter.cancel_requested() else "interrupted"
        _finish(reporter, status, result, message=f"{status} by signal")
    except Exception as exc:
        traceback.print_exc(file=log or sys.stderr)
        status = "failed"
        _finish(reporter, status, result, error=f"{type(exc).__name__}: {exc}", keep_runs=in_thread)
    finally:
        stop_beating()
    reporter.say(f"[job {job_id}] finished: {status}")
    return status


def _start_heartbeat(reporter: Reporter):
    """Stamp the job's heartbeat every HEARTBEAT_S seconds from a daemon thread; return its stop."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            reporter.update(heartbeat=time.time())

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()

    def stop_beating() -> None:
        stop.set()
        thread.join(timeout=5)

    return stop_beating


#: How a queued worker's message starts while it waits (the pages show such a job as waiting).
WAITING_MESSAGE = "waiting for a free"


def _wait_for_slot(reporter: Reporter, slot: str, limit: int) -> bool:
    """Block until the job holds a ``slot``; False if it was cancelled while queued."""
    from core.jobs.runner import interrupt_dead_workers

    tries = 0
    while not reporter.claim_slot(slot, limit):
        if reporter.cancel_requested():
            reporter.finish("cancelled", message="cancelled while queued")
            return False
        reporter.update(message=f"{WAITING_MESSAGE} {slot} slot")
        tries += 1
        if tries % 4 == 0:  # every 2 s: a slot held by a dead worker frees itself
            reporter._call("check", lambda: interrupt_dead_workers(reporter.registry, slot))
        time.sleep(0.5)
    return True


def _finish(reporter: Reporter, status: str, result: dict, error=None, message=None, keep_runs=False) -> None:
    """Settle the job's run folder, give up its ownership, then store the outcome in the registry.

    In that order: once the registry says the job ended, its run.json is final and a Resume
    (core.jobs.runner.resume_refusal) is not refused for a worker that is about to exit.
    ``keep_runs``: a job run in a thread of a longer-lived process gives up no run ownership
    (only data jobs run so, and they own none; the process may own others)."""
    from core.jobs.runner import mark_run_status
    from core.store.ownership import release_all

    mark_run_status(reporter.run_id(), status)
    if not keep_runs:
        release_all()
    reporter.update(result={**result, "status": status})
    reporter.finish(status, error=error, message=message or (f"{status}: {error}" if error else status))


def _context(reporter: Reporter, job: JobRecord, result: dict[str, Any]) -> JobContext:
    def record(**fields: Any) -> None:
        result.update(fields)
        columns = {k: v for k, v in fields.items() if k in ("run_id", "device")}
        reporter.update(result=dict(result), **columns)

    return JobContext(job.id, job.params, _progress(reporter), _should_stop(reporter), record)


def _progress(reporter: Reporter):
    last = [0.0]

    def report(fraction: float, message: str = "", **info: Any) -> None:
        # Epoch ends (with losses) always get written; batch ticks at most twice a second.
        now = time.monotonic()
        if info.get("train_loss") is None and now - last[0] < 0.5:
            return
        last[0] = now
        keep = {k: info[k] for k in ("epoch", "train_loss", "val_loss") if info.get(k) is not None}
        reporter.progress(fraction, message, **keep)
        reporter.say(f"[{100 * fraction:5.1f}%] {message}")

    return report


def _should_stop(reporter: Reporter):
    last = [0.0, False]

    def check() -> bool:
        now = time.monotonic()
        if now - last[0] > 0.25:  # one SQLite read per quarter second is plenty
            last[0], last[1] = now, reporter.cancel_requested()
        return bool(last[1])

    return check
