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

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from core.paths import PROJECT_ROOT, check_name, data_dir, inside
from core.registry import ACTIVE, JobRecord, Registry

#: Job kind -> the slot it needs.
KINDS: dict[str, str] = {"data": "data", "train": "compute", "resume": "compute", "sweep": "compute"}
REGISTRY_ENV = "APPROXSYM_REGISTRY"


def default_limits() -> dict[str, int]:
    """Concurrency limits per slot: compute = number of CUDA GPUs (at least 1), data = 1."""
    try:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # torch broken or absent: behave like a CPU-only machine
        gpus = 0
    return {"compute": max(1, gpus), "data": 1}


def validate_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check a job's parameters before it is queued; return them (ValueError names the problem)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict, got {type(params).__name__}")
    if kind == "data":
        from core.data import DataConfig

        DataConfig.from_dict(params.get("data_config") or {})
    elif kind == "train":
        from core.models import ModelConfig
        from core.trainer import TrainConfig

        if "data_path" not in params:
            raise ValueError("params: train needs 'data_path' (a dataset .h5 file)")
        if not Path(params["data_path"]).is_file():
            raise ValueError(f"data_path: no such file {params['data_path']!r}")
        ModelConfig.from_dict(params.get("model_config") or {})
        TrainConfig.from_dict(params.get("train_config") or {})
    elif kind == "resume":
        from core.runs import find_run_dir

        run_dir, shipped = find_run_dir(str(params.get("run_id", "")))
        if shipped or not (run_dir / "last.pt").is_file():
            raise ValueError(f"run_id: run {params.get('run_id')!r} has no resumable last.pt in data_dir()")
        epochs = params.get("epochs")
        if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
            raise ValueError(f"epochs: must be an integer >= 1, got {epochs!r}")
    elif kind == "sweep":
        from core.sweep import SweepConfig

        SweepConfig.from_dict(params.get("sweep_config") or {})
    return params


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
        job_id = self.registry.create_job(kind, params, slot=KINDS[kind])
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
            _mark_run(self.registry, self.registry.get_job(job_id), "cancelled")
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
            _mark_run(self.registry, job, "interrupted")
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


def _mark_run(registry: Registry, job: JobRecord, status: str) -> None:
    """Carry a job's final status over to its run (registry row and run.json)."""
    if not job.run_id:
        return
    from core.runs import find_run_dir, update_run_json

    registry.upsert_run(job.run_id, status, job_id=job.id)
    with contextlib.suppress(FileNotFoundError, ValueError, OSError):
        run_dir, shipped = find_run_dir(job.run_id)
        if not shipped:
            update_run_json(run_dir, status=status)


# ------------------------------------------------------------------ worker


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
    limit = limits.get(KINDS[job.kind], 1)
    try:
        while not registry.claim_slot(job_id, KINDS[job.kind], limit):
            if registry.cancel_requested(job_id):
                registry.finish_job(job_id, "cancelled", message="cancelled while queued")
                return "cancelled"
            registry.update_job(job_id, message=f"waiting for a free {KINDS[job.kind]} slot")
            time.sleep(0.5)
        print(f"[job {job_id}] {job.kind} started, pid {os.getpid()}", flush=True)
        status = _HANDLERS[job.kind](registry, registry.get_job(job_id))
        if status == "cancelled" or registry.cancel_requested(job_id) and status != "done":
            status = "cancelled"
        registry.finish_job(job_id, status, message=status)
    except _Terminated:
        status = "cancelled" if registry.cancel_requested(job_id) else "interrupted"
        registry.finish_job(job_id, status, message=f"{status} by signal")
        _mark_run(registry, registry.get_job(job_id), status)
    except Exception as exc:
        traceback.print_exc()
        registry.finish_job(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
        _mark_run(registry, registry.get_job(job_id), "failed")
        status = "failed"
    print(f"[job {job_id}] finished: {status}", flush=True)
    return status


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


def _run_data(registry: Registry, job: JobRecord) -> str:
    from core.data import DataConfig, ensure_dataset

    report = _progress(registry, job.id)

    def progress(done: int, total: int) -> None:
        report(done / max(total, 1), f"simulating: step {done}/{total}")

    path = ensure_dataset(DataConfig.from_dict(job.params.get("data_config") or {}), progress=progress)
    registry.update_job(job.id, message=f"dataset {path}")
    return "done"


def _run_train(registry: Registry, job: JobRecord, resume_run: str | None = None) -> str:
    from core.models import ModelConfig
    from core.runs import find_run_dir, new_run_dir, read_run, update_run_json
    from core.trainer import TrainConfig, resolve_device, train

    if resume_run:
        run_dir, _ = find_run_dir(resume_run)
        info = read_run(run_dir)
        tcfg = info.config["train_config"]
        if job.params.get("epochs"):
            tcfg = {**tcfg, "epochs": int(job.params["epochs"])}
            update_run_json(run_dir, train_config=tcfg)
        data_path, mcfg = info.config["dataset"]["path"], info.config["model_config"]
        run_id = resume_run
    else:
        mcfg = ModelConfig.from_dict(job.params["model_config"])
        tcfg = job.params.get("train_config") or {}
        data_path = job.params["data_path"]
        run_id, run_dir = new_run_dir(f"run-{mcfg.name}")
    config = TrainConfig.from_dict(tcfg)
    registry.update_job(job.id, run_id=run_id, device=str(resolve_device(config.device)))
    result = train(
        data_path,
        mcfg,
        config,
        run_dir=run_dir,
        resume=bool(resume_run),
        progress=_progress(registry, job.id),
        should_stop=_should_stop(registry, job.id),
        job_id=job.id,
        registry=registry,
    )
    return result.status


def _run_resume(registry: Registry, job: JobRecord) -> str:
    return _run_train(registry, job, resume_run=check_name(job.params["run_id"], "run id"))


def _run_sweep(registry: Registry, job: JobRecord) -> str:
    from core.sweep import SweepConfig, run_sweep

    result = run_sweep(
        SweepConfig.from_dict(job.params.get("sweep_config") or {}),
        progress=_progress(registry, job.id),
        should_stop=_should_stop(registry, job.id),
        registry=registry,
    )
    registry.update_job(job.id, run_id=None, message=f"sweep {result.sweep_id}")
    return result.status


_HANDLERS = {"data": _run_data, "train": _run_train, "resume": _run_resume, "sweep": _run_sweep}


def main(argv: list[str] | None = None) -> int:
    """``python -m core.jobs run JOB_ID [--limits compute=1,data=1]``: the worker entry point."""
    parser = argparse.ArgumentParser(prog="python -m core.jobs")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one queued job (started by JobRunner.submit)")
    run.add_argument("job_id")
    run.add_argument("--limits", default="", help="slot limits, e.g. compute=1,data=1")
    sub.add_parser("list", help="list jobs")
    args = parser.parse_args(argv)
    registry = Registry(os.environ.get(REGISTRY_ENV) or None)
    if args.command == "list":
        for job in registry.list_jobs():
            print(f"{job.id}  {job.kind:7s} {job.status:11s} {100 * job.fraction:5.1f}%  {job.message}")
        return 0
    limits = default_limits()
    for item in filter(None, args.limits.split(",")):
        key, _, value = item.partition("=")
        limits[key] = int(value)
    status = run_job(check_name(args.job_id, "job id"), registry, limits)
    return 0 if status in ("done", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
