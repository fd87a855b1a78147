"""Jobs: one value per job card (:class:`JobCard`, from one registry read), the jobs table,
times, logs, what a job made; cancelling and resuming a job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.service import queue
from core.service.datasets import dataset_title
from core.service.queue import AlreadyQueued, job_run_id, job_title, list_jobs  # noqa: F401 (for the pages)
from core.service.runs import run_warning
from core.store.paths import check_name, data_dir
from core.store.registry import FAILURES  # noqa: F401 (for the pages)

LOG_TAIL_BYTES = 20_000


def job_times(job: Any, now: float | None = None) -> tuple[float | None, float | None]:
    """``(elapsed, remaining)`` seconds of a job; remaining is a linear estimate from its
    progress while it runs (None before any progress, when queued, once finished, or once the
    estimate has run out).

    The rate is taken when the progress was last recorded (``job.progressed``), and the time
    since then is counted down: measured from now, the estimate grew between two updates.
    """
    import time

    if not job.started:
        return None, None
    now = now or time.time()
    end = job.finished if job.finished_state and job.finished else now
    elapsed = max(0.0, float(end) - float(job.started))
    frac = float(job.fraction or 0.0)
    if job.finished_state or not 0.01 <= frac < 1.0:
        return elapsed, None
    progressed = getattr(job, "progressed", None)
    at = min(max(float(progressed), float(job.started)), now) if progressed else now
    remaining = (at - float(job.started)) * (1.0 - frac) / frac - (now - at)
    return elapsed, remaining if remaining > 0 else None


def duration_text(seconds: float | None) -> str:
    """``"42 s"``, ``"3 min 5 s"``, ``"1 h 02 min"``; '' for None."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def job_log_tail(job: Any, max_bytes: int = LOG_TAIL_BYTES) -> str:
    """The last ``max_bytes`` of a job's log file ('' if it has none yet).

    The path comes from the registry; it is read only if it lies inside the data
    directory's ``logs`` folder (ValueError otherwise).
    """
    if not job.log_path:
        return ""
    logs = (data_dir() / "logs").resolve()
    path = Path(job.log_path).resolve()
    if logs not in path.parents:
        raise ValueError(f"log path {job.log_path!r} is outside {logs}")
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return text if size <= max_bytes else "…" + text[text.find("\n") + 1 :]


def can_resume(job: Any, active: list | None = None) -> bool:
    """True for a stopped (interrupted or cancelled) training job whose run can continue now:
    core.jobs.runner.resume_refusal finds nothing against it (no job already trains it, it
    has not since finished). ``active``: the queued and running jobs, if already read."""
    from core.jobs.runner import resume_refusal

    if job.kind not in ("train", "resume") or job.status not in ("interrupted", "cancelled"):
        return False
    run_id = job_run_id(job)
    return bool(run_id) and resume_refusal(queue.runner().registry, run_id, active=active) is None


def job_made(job: Any) -> str:
    """What a finished job produced, named for a person ('' if nothing yet)."""
    from core.names import run_label, sweep_label

    result = job.result or {}
    try:
        if result.get("sweep_id"):
            record = json.loads((data_dir() / "sweeps" / result["sweep_id"] / "results.json").read_text())
            return sweep_label(record)
        run_id = result.get("run_id") or job.run_id
        if run_id:
            from core.store.runs import find_run_dir, read_run

            return run_label(read_run(*find_run_dir(str(run_id))).config)
        if result.get("dataset_path"):
            return dataset_title(Path(result["dataset_path"]).name)
    except (OSError, ValueError):
        return ""
    return ""


def shown_status(job) -> str:
    """The job's state as a person reads it: ``"waiting"`` for one queued (for its worker to
    start, or for a free compute slot: its message says which), else the stored status."""
    return "waiting" if job.status == "queued" else job.status


def job_message(job) -> str:
    """The job's latest message while it is live ('' once it has finished)."""
    return "" if job.finished_state else str(job.message or "")


@dataclass(frozen=True)
class JobCard:
    """Everything one job card shows (:func:`job_card`, :func:`job_cards`).

    ``state``: :func:`shown_status` ("waiting", "running", "done", a failure...);
    ``message``: :func:`job_message`; ``elapsed`` / ``remaining``: :func:`job_times`;
    ``problem``: a failed job's last error line ('' otherwise); ``made``: :func:`job_made`;
    ``warning``: :func:`job_warning`; ``can_cancel`` / ``can_resume``: the buttons it offers;
    ``run_id`` / ``sweep_id``: what it trains or made (None if nothing).
    """

    id: str
    kind: str
    title: str
    state: str
    message: str
    fraction: float
    device: str
    elapsed: float | None
    remaining: float | None
    finished: bool
    failed: bool
    problem: str
    made: str
    warning: str
    can_cancel: bool
    can_resume: bool
    run_id: str | None
    sweep_id: str | None
    log_path: str | None


def card_of(job: Any, active: list) -> JobCard:
    """The :class:`JobCard` of the job record ``job``, with ``active`` the queued and running
    jobs (for Resume: no other job may already train its run); reads no registry."""
    elapsed, remaining = job_times(job)
    failed = job.status in FAILURES
    detail = (job.error or job.message or "no error text recorded").strip().splitlines() if failed else []
    return JobCard(
        id=job.id,
        kind=job.kind,
        title=job_title(job),
        state=shown_status(job),
        message=job_message(job),
        fraction=min(max(float(job.fraction or 0.0), 0.0), 1.0),
        device=job.device or "",
        elapsed=elapsed,
        remaining=remaining,
        finished=job.finished_state,
        failed=failed,
        problem=detail[-1][:500] if detail else "",
        made=job_made(job),
        warning=job_warning(job),
        can_cancel=not job.finished_state,
        can_resume=can_resume(job, active),
        run_id=queue.job_run_id(job),
        sweep_id=(job.result or {}).get("sweep_id"),
        log_path=job.log_path,
    )


def job_card(job_id: str) -> JobCard:
    """The :class:`JobCard` of job ``job_id``, built from one registry read (its row and the
    queued and running rows, core.store.registry.Registry.job_and_active). KeyError if unknown."""
    job, active = queue.runner().registry.job_and_active(check_name(job_id, "job id"))
    if job is None:
        raise KeyError(f"no job {job_id!r}")
    return card_of(job, active)


def job_cards(listed: list, shown: list | None = None) -> list[JobCard]:
    """The cards of the jobs ``shown`` (default: all) of ``listed`` (as
    :func:`core.service.queue.list_jobs` returned them), with no further registry read: the
    queued and running jobs listed stand for every active one (the list holds the newest hundred)."""
    active = [j for j in listed if not j.finished_state]
    return [card_of(j, active) for j in (listed if shown is None else shown)]


def job_rows(jobs: list) -> list[dict[str, Any]]:
    """Table rows for the jobs list: what, status, progress, made, device, time, error, id."""
    rows = []
    for job in jobs:
        elapsed, _ = job_times(job)
        rows.append(
            {
                "job": job_title(job),
                "status": shown_status(job),
                "progress": float(job.fraction or 0.0),
                "made": job_made(job),
                "device": job.device or "",
                "time": duration_text(elapsed),
                "message": (job.error or job.message or "").strip().splitlines()[-1][:200]
                if (job.error or job.message)
                else "",
                "id": job.id,
            }
        )
    return rows


def job_warning(job: Any) -> str:
    """For a finished training job whose run is worse than persistence, that run's warning line
    (:func:`run_warning`); '' otherwise, or when the run cannot be read."""
    from core.store.runs import find_run_dir, read_run

    run_id = job_run_id(job) if job.kind in ("train", "resume") and job.finished_state else None
    if not run_id:
        return ""
    try:
        return run_warning(read_run(*find_run_dir(run_id)))
    except (OSError, ValueError):
        return ""


def cancel_job(job_id: str):
    """Stop a job (cancel flag, then signals); return its final record.

    A job whose worker is already dead comes back ``interrupted`` (so it can be resumed)."""
    return queue.runner().cancel(check_name(job_id, "job id"))


def resume_job(job_id: str, epochs: int | None = None) -> str:
    """Queue the continuation of a stopped (interrupted, cancelled) training job's run from its
    last.pt; return the new job's id. ``epochs``: new total epoch count (optional).
    ValueError says why a job cannot be resumed (still running, no run, done)."""
    return queue.queue_call(queue.runner().resume, check_name(job_id, "job id"), epochs)


def job_problem(job) -> str | None:
    """What went wrong with a job, for the page: its stored error (divergence reason, the
    reason it was interrupted, a failure's exception), or None for a job without one."""
    if job.error:
        return str(job.error)
    result = job.result or {}
    return str(result["error"]) if result.get("error") else None


def job_dataset_path(job) -> Path | None:
    """The dataset file a finished generation job made (from its stored result), or None."""
    path = (job.result or {}).get("dataset_path")
    return Path(path) if path and Path(path).is_file() else None


def job_loss_curves(job, smoothing: float) -> dict[str, Any]:
    """A training job's losses so far (its run's history.json, written at each epoch's end) as
    core.train.curves.smoothed_loss_curves draws them: per step, smoothed with ``smoothing``;
    ``{}`` before the first epoch ends or when the run cannot be read."""
    from core.store.runs import find_run_dir, read_run
    from core.train.curves import smoothed_loss_curves

    if not job.run_id:
        return {}
    try:
        run_dir, shipped = find_run_dir(job.run_id)
        curves = smoothed_loss_curves(read_run(run_dir, shipped).history, smoothing)
    except (OSError, ValueError):
        return {}
    return curves if curves["series"] else {}


def device_name() -> str:
    """The device background jobs train on: ``cuda (<GPU name>)`` when a GPU is visible, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"
