"""Small Streamlit helpers shared by the pages: they draw and return widget values only."""

from __future__ import annotations

import time
from collections.abc import Sequence

import streamlit as st


def status_label(status: str) -> str:
    """Return ``status`` in capitals for failures, so they stand out in tables and captions.

    (Plain text: emoji are missing from many servers' fonts and show as boxes.)
    """
    return status.upper() if status in ("failed", "diverged", "interrupted") else status


def ago(t: float | None) -> str:
    """Return a short 'how long ago' text for a Unix time (seconds), '' for None."""
    if not t:
        return ""
    dt = max(0.0, time.time() - float(t))
    if dt < 60:
        return f"{dt:.0f} s ago"
    if dt < 3600:
        return f"{dt / 60:.0f} min ago"
    if dt < 86400:
        return f"{dt / 3600:.1f} h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(t)))


def show_problem(message: str, exc: BaseException | None = None) -> None:
    """Show a clear error box (never a traceback): the message, then the exception's own text."""
    detail = f" ({type(exc).__name__}: {exc})" if exc is not None and str(exc) else ""
    st.error(f"{message}{detail}")


def job_rows(jobs: Sequence) -> list[dict]:
    """Turn registry JobRecords into table rows (dicts of short strings and numbers)."""
    rows = []
    for job in jobs:
        rows.append(
            {
                "job": job.id,
                "kind": job.kind,
                "status": status_label(job.status),
                "progress": float(job.fraction or 0.0),
                "message": (job.error or job.message or "")[:200],
                "device": job.device or "",
                "run": job.run_id or "",
                "started": ago(job.started or job.created),
            }
        )
    return rows


def jobs_table(jobs: Sequence, key: str) -> None:
    """Draw the jobs as a table with a progress column; nothing if there are none."""
    if not jobs:
        st.caption("No jobs yet.")
        return
    st.dataframe(
        job_rows(jobs),
        key=key,
        hide_index=True,
        width="stretch",
        column_config={
            "progress": st.column_config.ProgressColumn(
                "progress", min_value=0.0, max_value=1.0, format="percent"
            )
        },
    )


def job_progress(job) -> None:
    """Draw one job's progress bar, device and any error as a clear message."""
    text = f"{status_label(job.status)} · {job.message or job.kind}"
    if job.device:
        text += f" · device: {job.device}"
    st.progress(min(max(float(job.fraction or 0.0), 0.0), 1.0), text=text)
    if job.status in ("failed", "diverged", "interrupted") and job.error:
        st.error(f"Job {job.id} {job.status}: {job.error.strip().splitlines()[-1][:500]}")
