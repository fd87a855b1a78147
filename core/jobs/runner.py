"""Background jobs: data generation, training, resume and sweeps, each in its own process.

``JobRunner.submit(kind, params)`` records a queued job in the SQLite registry and
starts ``python -m core.jobs run JOB_ID`` in a fresh interpreter and a new session,
so jobs outlive the page (and the server) that started them. The worker waits for a
free slot (claimed atomically in SQLite), reports progress to the registry, writes its
log to ``data_dir()/logs/<job_id>.log``, and checks a cancel flag between batches;
``cancel`` falls back to SIGTERM and then SIGKILL of the process group. When a runner
starts it marks jobs whose process is gone as ``interrupted`` (``reconcile``); a
training job can then continue from its last epoch (``resume``).

Slots: ``compute`` (train, resume, sweep) allows one job per CUDA GPU, or one on a
machine without one; ``data`` (PhiFlow generation) allows one, beside training.

The interface (submit / status / cancel / list) is small on purpose, so another
engine (a cluster queue) can implement it later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.jobs.kinds import KINDS, validate_params
from core.store.paths import PROJECT_ROOT, check_name, data_dir, inside
from core.store.registry import ACTIVE, JobRecord, Registry

REGISTRY_ENV = "APPROXSYM_REGISTRY"


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
        self.limits = {**default_limits(), **(limits or {})}
        self._procs: dict[str, subprocess.Popen] = {}
        self.reconcile()

    # -------------------------------------------------------------- interface

    def submit(self, kind: str, params: dict[str, Any]) -> str:
        """Queue a job and start its worker process; return the job id.

        ``kind``: 'data' ({"data_config": dict}), 'train' ({"data_path", "model_config",
        "train_config"}), 'resume' ({"run_id", optional "epochs"}) or 'sweep'
        ({"sweep_config": dict}). Raises ValueError for bad parameters.
        """
        validate_params(kind, params)
        job_id = self.registry.create_job(kind, params, slot=KINDS[kind].slot)
        log_path = inside(data_dir() / "logs", f"{job_id}.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.registry.update_job(job_id, log_path=str(log_path))
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
        self._reap(job_id)
        return job

    def list(self, limit: int = 200) -> list[JobRecord]:
        """Return the newest ``limit`` jobs."""
        return self.registry.list_jobs(limit)

    def cancel(self, job_id: str, grace_s: float = 3.0) -> JobRecord:
        """Stop a job: raise its cancel flag, then SIGTERM, then SIGKILL its process group.

        Returns the final record (status 'cancelled', or whatever it finished with
        first). A finished job is returned unchanged.
        """
        job = self.status(job_id)
        if job.finished_state:
            return job
        self.registry.request_cancel(job_id)
        if self._wait_finished(job_id, grace_s):
            return self.status(job_id)
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            if job.pid and _alive(job.pid, job_id):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(job.pid, sig)
                if self._wait_finished(job_id, wait) or not _alive(job.pid, job_id):
                    break
        self._reap(job_id)
        if self.registry.get_job(job_id).status in ACTIVE:
            self.registry.finish_job(job_id, "cancelled", message="cancelled (process stopped)")
            mark_run(self.registry.get_job(job_id), "cancelled")
        return self.status(job_id)

    def resume(self, job_id: str, epochs: int | None = None) -> str:
        """Queue a 'resume' job continuing the run of a stopped training job; return its id.

        ``epochs`` optionally changes the total epoch count.
        """
        job = self.status(job_id)
        if job.kind not in ("train", "resume") or not job.run_id:
            raise ValueError(f"job {job_id!r} is not a training job with a run to resume")
        if job.status in ACTIVE:
            raise ValueError(f"job {job_id!r} is still {job.status}; cancel it first")
        params: dict[str, Any] = {"run_id": job.run_id}
        if epochs is not None:
            params["epochs"] = epochs
        return self.submit("resume", params)

    def reconcile(self) -> list[str]:
        """Mark queued/running jobs whose process is gone as 'interrupted'; return their ids."""
        gone = []
        for job in self.registry.list_jobs(limit=10_000):
            if job.status not in ACTIVE:
                continue
            if job.pid is None:
                # submit() records the pid right after starting the process; give it time.
                if time.time() - job.created < 30:
                    continue
            elif job.id in self._procs and self._procs[job.id].poll() is None or _alive(job.pid, job.id):
                continue
            self.registry.finish_job(job.id, "interrupted", error="worker process ended without finishing")
            mark_run(job, "interrupted")
            gone.append(job.id)
        return gone

    # -------------------------------------------------------------- helpers

    def _wait_finished(self, job_id: str, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.registry.get_job(job_id).finished_state:
                self._reap(job_id, wait=2.0)
                return True
            time.sleep(0.1)
        return False

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


def _alive(pid: int, job_id: str) -> bool:
    """True if ``pid`` is a live (non-zombie) worker of ``job_id``."""
    proc = Path(f"/proc/{pid}")
    if proc.parent.is_dir() and Path("/proc/self").exists():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
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
    if job is None or not job.run_id:
        return
    from core.store.runs import find_run_dir, update_run_json

    with contextlib.suppress(FileNotFoundError, ValueError, OSError):
        run_dir, shipped = find_run_dir(job.run_id)
        if not shipped:
            update_run_json(run_dir, status=status)
