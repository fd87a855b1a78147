"""Background jobs: data generation, training, resume and sweeps, each in its own process.

``JobRunner.submit(kind, params)`` records a queued job in the SQLite registry and
starts ``python -m core.jobs run JOB_ID`` in a fresh interpreter and a new session,
so jobs outlive the page (and the server) that started them. The worker waits for a
free slot (claimed atomically in SQLite), reports progress to the registry, writes its
log to ``data_dir()/logs/<job_id>.log``, and checks a cancel flag between batches;
``cancel`` falls back to SIGTERM and then SIGKILL of the process group.

Supervision is part of every look: ``list`` and ``status`` first reap the workers this
runner started (no zombies) and then ``reconcile``: a queued or running job whose worker
is gone (pid gone, a zombie, the pid recycled by another program) or silent (no heartbeat
for HEARTBEAT_STALE_S seconds) is marked ``interrupted`` with the reason in ``error``, its
run.json too, and its slot is free again. Silence counts only once this runner itself has
watched the same heartbeat for that long on the monotonic clock, so waking from a suspend
(wall clock jumped, workers not yet beating again) never kills healthy workers. That
costs one query for the active jobs and a few /proc reads, cheap enough for a dashboard
polling every 2 s. A training job can then continue from its last epoch (``resume``).

A run folder is marked only while no live process owns it (core.store.ownership: whatever
trains a run holds a lock in its folder), so a run trained outside any job (a bare
``python -m core.train``) is never declared dead, and Resume is refused while it lives.

Slots: ``compute`` (train, resume, sweep) allows one job per CUDA GPU, or one on a
machine without one; ``data`` (PhiFlow generation) allows one, beside training.

The interface (submit / status / cancel / list) is small on purpose, so another
engine (a cluster queue) can implement it later.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.jobs.kinds import KINDS, validate_params
from core.store.atomic import clean_stale_tmp
from core.store.paths import PROJECT_ROOT, check_name, data_dir, inside
from core.store.registry import ACTIVE, REGISTRY_ENV, JobRecord, Registry

#: A worker silent this long (seconds; it beats every core.jobs.worker.HEARTBEAT_S) is taken as hung.
HEARTBEAT_STALE_S = 20.0
#: Grace for a job queued moments ago whose pid is not recorded yet.
_START_GRACE_S = 30.0


def default_limits() -> dict[str, int]:
    """Concurrency limits per slot: compute = number of CUDA GPUs (at least 1), data = 1."""
    try:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # torch broken or absent: behave like a CPU-only machine
        gpus = 0
    return {"compute": max(1, gpus), "data": 1}


class JobRunner:
    """Start, watch and stop background jobs recorded in a Registry."""

    def __init__(self, registry: Registry | None = None, limits: dict[str, int] | None = None):
        self.registry = registry or Registry()
        self._limits = dict(limits or {})
        self._procs: dict[str, subprocess.Popen] = {}
        self._exited: dict[str, int] = {}  # exit codes of reaped workers, for the reason shown
        self._beats: dict[str, tuple[float, float]] = {}  # job id -> (heartbeat, monotonic first seen)
        for folder in {data_dir(), self.registry.path.parent}:
            clean_stale_tmp(folder)  # what writers killed mid-write left behind
        self.reconcile()
        self.reconcile_runs()

    # -------------------------------------------------------------- interface

    @functools.cached_property
    def limits(self) -> dict[str, int]:
        """Concurrency limits per slot (default_limits() overridden by the constructor's).

        Computed on first use: counting GPUs imports torch, which a page that only lists
        jobs should not wait for.
        """
        return {**default_limits(), **self._limits}

    def submit(self, kind: str, params: dict[str, Any], in_process: bool = False) -> str:
        """Queue a job and start its worker process; return the job id.

        ``in_process`` (data jobs only): queue it and start nothing: core.jobs.here.submit_here
        runs it in a thread of this process. Same record, same kind code, same
        Cancel (the kind's stop check); it ends with this process, and is then marked
        interrupted like any dead worker's.

        ``kind``: 'data' ({"data_config": dict}), 'train' ({"data_path", "model_config",
        "train_config"}), 'resume' ({"run_id", optional "epochs"}) or 'sweep'
        ({"sweep_config": dict}). Raises ValueError for bad parameters, and
        core.store.registry.JobConflict (a ValueError) when a queued or running job already
        does the same work (:func:`same_work`): a double click starts one job, not two.
        """
        if in_process and kind != "data":
            raise ValueError(f"in_process: only data jobs run in this process, not {kind!r}")
        validate_params(kind, params)
        conflict = same_work(kind, params)
        job_id = self.registry.create_job(kind, params, slot=KINDS[kind].slot, conflict=conflict)
        log_path = inside(data_dir() / "logs", f"{job_id}.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.registry.update_job(job_id, log_path=str(log_path))
        if in_process:
            return job_id
        env = {**os.environ, REGISTRY_ENV: str(self.registry.path)}
        limits = ",".join(f"{k}={v}" for k, v in self.limits.items())
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "core.jobs", "run", job_id, "--limits", limits],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
                env=env,
                start_new_session=True,
            )
        self._procs[job_id] = proc
        self.registry.update_job(job_id, pid=proc.pid)
        return job_id

    def status(self, job_id: str) -> JobRecord:
        """Return the job's record (KeyError if unknown)."""
        job = self.registry.get_job(check_name(job_id, "job id"))
        if job is None:
            raise KeyError(f"no job {job_id!r}")
        self._reap_all()
        if job.status in ACTIVE and self._check(job):
            job = self.registry.get_job(job_id) or job
        return job

    def list(self, limit: int = 200) -> list[JobRecord]:
        """Return the newest ``limit`` jobs, after marking those whose worker is gone (reconcile)."""
        self.reconcile()
        return self.registry.list_jobs(limit)

    def cancel(self, job_id: str, grace_s: float = 3.0) -> JobRecord:
        """Stop a job: raise its cancel flag, then SIGTERM, then SIGKILL its process group.

        Returns the final record (status 'cancelled', or whatever it finished with
        first; 'interrupted' for a job whose worker was already gone). A finished job is
        returned unchanged. The job's row is read once, with the flag raised in the same
        transaction, and written once at the end (which returns the row it leaves): while it
        waits, the runner watches the job's process and lock, not the registry.
        """
        job = self.registry.request_cancel(check_name(job_id, "job id"))
        if job is None:
            raise KeyError(f"no job {job_id!r}")
        self._reap_all()
        if job.finished_state:
            return job
        why = self._gone(job)
        if why is not None:  # nothing left to stop: what status() would have found
            self._beats.pop(job.id, None)
            return self._settle(job, "interrupted", error=why, message=f"interrupted: {why}")
        stopped = self._wait_stopped(job, grace_s)
        if not stopped and job.pid and not _is_worker(job.pid, job_id):
            stopped = self._wait_stopped(job, 10.0)  # in a thread of a live process: no signal, only the flag
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            if stopped or not (job.pid and _is_worker(job.pid, job_id)):
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(job.pid, sig)
            stopped = self._wait_stopped(job, wait)
        self._reap(job_id)
        return self._settle(job, "cancelled", message="cancelled (process stopped)")

    def _settle(self, job: JobRecord, status: str, error: str | None = None, message: str | None = None):
        """Finish ``job`` with ``status`` unless it finished itself meanwhile (one write, which
        returns the row as left); carry a status it set over to its run. Returns the record."""
        changed, record = self.registry.finish_active_job(job.id, status, error=error, message=message)
        if changed:
            mark_run(record or job, status)
        return record or job

    def _wait_stopped(self, job: JobRecord, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for ``job``'s worker to stop (its process gone and its lock
        free: a worker writes its final status before either); True if it did."""
        end = time.monotonic() + timeout_s
        while _running(job, self.registry):
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)
        self._reap(job.id, wait=10.0)  # exiting: gone on return, even when busy
        return True

    def resume(self, job_id: str, epochs: int | None = None) -> str:
        """Queue a 'resume' job continuing the run of a stopped training job; return its id.

        ``epochs`` optionally changes the total epoch count.
        """
        job = self.status(job_id)
        run_id = job_run_id(job)
        if job.kind not in ("train", "resume") or not run_id:
            raise ValueError(f"job {job_id!r} is not a training job with a run to resume")
        if job.status in ACTIVE:
            raise ValueError(f"job {job_id!r} is still {job.status}; cancel it first")
        if job.status == "done" and epochs is None:
            raise ValueError(f"job {job_id!r} is done; give a larger number of epochs to train it further")
        return self.resume_run(run_id, epochs)

    def resume_run(self, run_id: str, epochs: int | None = None) -> str:
        """Queue a 'resume' job continuing run ``run_id`` from its last.pt; return its id.

        ValueError says why it cannot (:func:`resume_refusal`)."""
        reason = resume_refusal(self.registry, check_name(run_id, "run id"), epochs)
        if reason:
            raise ValueError(f"Cannot resume: {reason}")
        params: dict[str, Any] = {"run_id": run_id}
        if epochs is not None:
            params["epochs"] = epochs
        return self.submit("resume", params)

    def reconcile(self) -> list[str]:
        """Mark queued/running jobs whose worker is gone or silent as 'interrupted'; return their ids."""
        self._reap_all()
        active = self.registry.active_jobs()
        self._beats = {k: v for k, v in self._beats.items() if k in {j.id for j in active}}
        return [job.id for job in active if self._check(job)]

    def reconcile_runs(self) -> list[str]:
        """Settle run folders left 'running' by a job the registry no longer has; return their ids.

        A worker that died together with its registry row (a deleted or corrupt registry)
        leaves its run.json at 'running'. At start-up (not every poll: it reads every run.json)
        such a run gets its job's final status, or 'interrupted' when neither the registry
        nor a live worker process knows it. Runs of active jobs, and runs a live process owns
        (core.store.ownership: a bare ``python -m core.train`` has no job), are left alone.
        """
        from core.store.ownership import is_owned
        from core.store.runs import runs_root

        active = self.registry.active_jobs()
        busy = {j.run_id for j in active} | {(j.params or {}).get("run_id") for j in active}
        settled = []
        for run_dir in sorted(runs_root().iterdir()):
            try:
                record = json.loads((run_dir / "run.json").read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(record, dict) or record.get("status") != "running" or run_dir.name in busy:
                continue
            if is_owned(run_dir):
                continue  # alive and training, whatever the registry says
            job_id = record.get("job_id")
            job = self.registry.get_job(job_id) if isinstance(job_id, str) else None
            if job is not None and job.status in ACTIVE:
                continue
            if job is None and isinstance(job_id, str) and _worker_running(job_id):
                continue  # its worker lives on and will write its row back
            mark_run_status(run_dir.name, job.status if job is not None else "interrupted")
            settled.append(run_dir.name)
        return settled

    # -------------------------------------------------------------- helpers

    def _check(self, job: JobRecord) -> bool:
        """Mark ``job`` interrupted if its worker is gone; True if it did."""
        why = self._gone(job)
        if why is None:
            return False
        self._beats.pop(job.id, None)
        if self.registry.finish_job(
            job.id, "interrupted", error=why, message=f"interrupted: {why}", only_active=True
        ):
            mark_run(job, "interrupted")
            return True
        return False  # it finished on its own meanwhile

    def _gone(self, job: JobRecord) -> str | None:
        """Why ``job``'s worker is no longer working on it, or None if it is."""
        now = time.time()
        if job.pid is None:
            # submit() records the pid right after starting the process; give it time.
            return None if now - job.created < _START_GRACE_S else "its worker process never started"
        alive = _alive(job.pid, job.id, self.registry)
        if not alive and job.id in self._procs:
            self._reap(job.id, wait=1.0)  # our child, dying right now: collect its exit status
        code = self._exited.get(job.id)
        if code is not None:
            how = f"killed by {_signal_name(-code)}" if code < 0 else f"exit code {code}"
            return f"worker process {job.pid} ended without finishing ({how})"
        if not alive:
            return f"worker process {job.pid} is gone"
        if self._silent(job, now):
            if _is_worker(job.pid, job.id):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(job.pid, signal.SIGKILL)  # hung: make sure it cannot come back to life
            self._reap(job.id, wait=2.0)
            # dead, its run's lock dropped
            _wait_until(lambda: not _alive(job.pid, job.id, self.registry), 2.0)
            return (
                f"worker process {job.pid} stopped responding (no heartbeat for {now - job.heartbeat:.0f} s)"
            )
        return None

    def _silent(self, job: JobRecord, now: float) -> bool:
        """True if ``job``'s heartbeat is old and this runner has seen it unchanged that long."""
        if job.heartbeat is None:  # a worker of a version without heartbeats
            return False
        seen = self._beats.get(job.id)
        if seen is None or seen[0] != job.heartbeat:
            self._beats[job.id] = (job.heartbeat, time.monotonic())
            return False
        watched = time.monotonic() - seen[1]
        return now - job.heartbeat > HEARTBEAT_STALE_S and watched > HEARTBEAT_STALE_S

    def _reap_all(self) -> None:
        """Collect the exit status of every finished worker this runner started (no zombies)."""
        for job_id in list(self._procs):
            self._reap(job_id)

    def _reap(self, job_id: str, wait: float = 0.0) -> None:
        proc = self._procs.get(job_id)
        if proc is None:
            return
        try:
            proc.wait(timeout=wait) if wait else proc.poll()
        except subprocess.TimeoutExpired:
            return
        if proc.returncode is not None:
            self._procs.pop(job_id, None)
            self._exited[job_id] = proc.returncode


def job_run_id(job: JobRecord) -> str | None:
    """The run a training or resume job trains (its column, its params or its result), or None."""
    found = job.run_id or (job.params or {}).get("run_id") or (job.result or {}).get("run_id")
    return str(found) if found else None


def same_work(kind: str, params: dict[str, Any]):
    """A test for core.store.registry.Registry.create_job's ``conflict``: True for a job of the
    same kind with the same parameters, and, for a resume, for any job training the same run."""
    text = json.dumps(params, sort_keys=True)
    run_id = params.get("run_id") if kind == "resume" else None

    def clashes(job: JobRecord) -> bool:
        if run_id is not None and job_run_id(job) == run_id:
            return True
        return job.kind == kind and json.dumps(job.params, sort_keys=True) == text

    return clashes


def resume_refusal(
    registry: Registry, run_id: str, epochs: int | None = None, active: list[JobRecord] | None = None
) -> str | None:
    """Why run ``run_id`` cannot be continued now (a sentence for the user), or None if it can.

    It can when it is one of this data directory's runs, no queued or running job trains it,
    no live process owns it (core.store.ownership: e.g. a ``python -m core.train``), it has a
    last.pt, and it is not finished, unless ``epochs`` asks for more than it has done.
    ``active``: the queued and running jobs when the caller has already read them.
    """
    from core.store.ownership import owner_note
    from core.store.runs import find_run_dir, read_run

    try:
        run_dir, shipped = find_run_dir(run_id)
    except (OSError, ValueError):
        return "the run does not exist"
    if shipped:
        return "shipped runs are read-only"
    if any(job_run_id(job) == run_id for job in (registry.active_jobs() if active is None else active)):
        return "a job training this run is already queued or running"
    live = owner_note(run_dir)
    if live:
        return live
    if not (run_dir / "last.pt").is_file():
        return "the run has no saved epoch to continue from"
    try:
        info = read_run(run_dir)
    except (OSError, ValueError):
        return "the run's record (run.json) cannot be read"
    done = len(info.history)
    if info.status == "done" and (epochs is None or epochs <= done):
        return f"the run has finished ({done} epochs); give a larger number of epochs to train it further"
    return None


def interrupt_dead_workers(registry: Registry, slot: str | None = None) -> list[str]:
    """Mark running jobs (of ``slot``, or all) whose worker process is gone as interrupted.

    What a queued worker calls while it waits, so a slot held by a dead worker frees itself
    even when nobody looks at the jobs. Returns the ids it marked.
    """
    marked = []
    for job in registry.active_jobs():
        if job.status != "running" or job.pid is None or (slot and job.slot != slot):
            continue
        if not _alive(job.pid, job.id, registry):
            why = f"worker process {job.pid} is gone"
            if registry.finish_job(
                job.id, "interrupted", error=why, message=f"interrupted: {why}", only_active=True
            ):
                mark_run(job, "interrupted")
                marked.append(job.id)
    return marked


def _worker_running(job_id: str) -> bool:
    """True if some live process is the worker of ``job_id`` (True where /proc cannot tell)."""
    proc = Path("/proc")
    if not (proc / "self").exists():
        return True
    return any(entry.name.isdigit() and _is_worker(int(entry.name), job_id) for entry in proc.iterdir())


def _wait_until(predicate, timeout_s: float) -> bool:
    """Poll ``predicate`` every 50 ms for up to ``timeout_s`` seconds; return whether it came true."""
    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _alive(pid: int, job_id: str, registry: Registry) -> bool:
    """True if ``pid`` is a live worker process of ``job_id``, or if some process runs the job in a
    thread (core.jobs.here) and holds its lock (Registry.job_lock_path)."""
    from core.store.locks import is_locked

    return _is_worker(pid, job_id) or is_locked(registry.job_lock_path(job_id))


def _running(job: JobRecord, registry: Registry) -> bool:
    """True while ``job``'s worker process lives or something holds its lock (a job in a thread,
    core.jobs.here, or a worker between start and exit), read without the registry."""
    from core.store.locks import is_locked

    return bool(job.pid and _is_worker(job.pid, job.id)) or is_locked(registry.job_lock_path(job.id))


def _is_worker(pid: int, job_id: str) -> bool:
    """True if ``pid`` is a live (non-zombie) worker process of ``job_id`` (``python -m core.jobs
    run JOB_ID``): the only processes the runner ever signals."""
    proc = Path(f"/proc/{pid}")
    if proc.parent.is_dir() and Path("/proc/self").exists():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):  # gone, or not ours to read
            return False
        return state not in ("Z", "X") and b"core.jobs" in cmd and job_id.encode() in cmd
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_run(job: JobRecord | None, status: str) -> None:
    """Carry a job's final status over to its run folder's run.json (shipped runs untouched)."""
    if job is not None:
        mark_run_status(job.run_id or (job.result or {}).get("run_id"), status)


def mark_run_status(run_id: str | None, status: str) -> None:
    """Set run ``run_id``'s run.json status (no-op for None, unknown or shipped runs, and for a
    run another live process owns: core.store.ownership; that process writes its status)."""
    if not run_id:
        return
    from core.store.ownership import owner_note
    from core.store.runs import find_run_dir, update_run_json

    with contextlib.suppress(FileNotFoundError, ValueError, OSError):
        run_dir, shipped = find_run_dir(run_id)
        if not shipped and not owner_note(run_dir):
            update_run_json(run_dir, status=status)
