"""SQLite registry of background jobs (stdlib sqlite3, WAL mode).

One file, ``data_dir()/registry.sqlite``, shared by the dashboard, the CLI and the
worker processes. Every connection uses WAL journaling and a busy timeout so that
several processes can read while one writes; slot claims use ``BEGIN IMMEDIATE``
so two workers can never both take the last free slot.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.store.paths import check_name, data_dir, new_id

STATUSES = ("queued", "running", "done", "failed", "cancelled", "diverged", "interrupted")
FINISHED = frozenset({"done", "failed", "cancelled", "diverged", "interrupted"})
ACTIVE = frozenset({"queued", "running"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    slot TEXT NOT NULL DEFAULT '',
    fraction REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    epoch INTEGER,
    train_loss REAL,
    val_loss REAL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    pid INTEGER,
    device TEXT,
    log_path TEXT,
    run_id TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    result TEXT
);
"""

_JOB_FIELDS = (
    "kind",
    "params",
    "status",
    "slot",
    "fraction",
    "message",
    "epoch",
    "train_loss",
    "val_loss",
    "started",
    "finished",
    "error",
    "pid",
    "device",
    "log_path",
    "run_id",
    "cancel_requested",
    "result",
)


@dataclass(frozen=True)
class JobRecord:
    """One row of the jobs table. Times are Unix seconds; ``fraction`` is in [0, 1]."""

    id: str
    kind: str
    params: dict[str, Any]
    status: str
    slot: str
    fraction: float
    message: str
    epoch: int | None
    train_loss: float | None
    val_loss: float | None
    created: float
    started: float | None
    finished: float | None
    error: str | None
    pid: int | None
    device: str | None
    log_path: str | None
    run_id: str | None
    cancel_requested: bool = field(default=False)
    result: dict[str, Any] | None = None

    @property
    def finished_state(self) -> bool:
        """True once the job can no longer change (done, failed, cancelled, diverged, interrupted)."""
        return self.status in FINISHED


class Registry:
    """The jobs table in one SQLite file (default ``data_dir()/registry.sqlite``).

    Runs are not listed here: their folders (core.store.runs) are the one source of truth.
    """

    def __init__(self, path: str | os.PathLike | None = None, timeout_s: float = 30.0):
        self.path = Path(path) if path is not None else data_dir() / "registry.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = float(timeout_s)
        with self._connect() as con:
            con.executescript(_SCHEMA)
            columns = {row[1] for row in con.execute("PRAGMA table_info(jobs)")}
            if "result" not in columns:  # a registry written before job results existed
                con.execute("ALTER TABLE jobs ADD COLUMN result TEXT")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: we issue BEGIN ourselves where it matters, else autocommit.
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            con.execute("PRAGMA journal_mode = WAL")
            con.row_factory = sqlite3.Row
            yield con
        finally:
            con.close()

    # ------------------------------------------------------------------ jobs

    def create_job(self, kind: str, params: dict[str, Any], slot: str = "", job_id: str | None = None) -> str:
        """Insert a queued job and return its id. ``params`` must be JSON-serialisable."""
        job_id = check_name(job_id, "job id") if job_id else new_id(f"job-{kind}")
        text = json.dumps(params, sort_keys=True)
        with self._connect() as con:
            con.execute(
                "INSERT INTO jobs (id, kind, params, status, slot, created) VALUES (?, ?, ?, 'queued', ?, ?)",
                (job_id, kind, text, slot, time.time()),
            )
        return job_id

    def get_job(self, job_id: str) -> JobRecord | None:
        """Return the job's record, or None if there is no such job."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list_jobs(self, limit: int = 200) -> list[JobRecord]:
        """Return up to ``limit`` jobs, newest first."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (int(limit),)).fetchall()
        return [_job(r) for r in rows]

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set columns of a job (names from the jobs table; ``params`` may be a dict)."""
        bad = sorted(set(fields) - set(_JOB_FIELDS))
        if bad:
            raise ValueError(f"unknown job field(s): {', '.join(bad)}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {fields['status']!r}")
        for key in ("params", "result"):
            if isinstance(fields.get(key), dict):
                fields[key] = json.dumps(fields[key], sort_keys=True)
        if not fields:
            return
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._connect() as con:
            con.execute(f"UPDATE jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))

    def finish_job(
        self, job_id: str, status: str, error: str | None = None, message: str | None = None
    ) -> None:
        """Mark a job finished with ``status`` (and the error text, if any)."""
        if status not in FINISHED:
            raise ValueError(f"finish status must be one of {sorted(FINISHED)}, got {status!r}")
        fields: dict[str, Any] = {"status": status, "finished": time.time(), "error": error}
        if status == "done":
            fields["fraction"] = 1.0
        if message is not None:
            fields["message"] = message
        self.update_job(job_id, **fields)

    def set_progress(
        self,
        job_id: str,
        fraction: float,
        message: str = "",
        epoch: int | None = None,
        train_loss: float | None = None,
        val_loss: float | None = None,
    ) -> None:
        """Record progress: ``fraction`` in [0, 1], a message, and optionally epoch and losses."""
        fields: dict[str, Any] = {"fraction": min(max(float(fraction), 0.0), 1.0), "message": message}
        if epoch is not None:
            fields["epoch"] = int(epoch)
        if train_loss is not None:
            fields["train_loss"] = float(train_loss)
        if val_loss is not None:
            fields["val_loss"] = float(val_loss)
        self.update_job(job_id, **fields)

    def request_cancel(self, job_id: str) -> None:
        """Raise the job's cancel flag (the worker checks it between batches)."""
        self.update_job(job_id, cancel_requested=1)

    def cancel_requested(self, job_id: str) -> bool:
        """Return True if someone asked for this job to stop."""
        with self._connect() as con:
            row = con.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def claim_slot(self, job_id: str, slot: str, limit: int) -> bool:
        """Atomically move a queued job to running if fewer than ``limit`` jobs hold ``slot``.

        Returns True if the job now runs. ``BEGIN IMMEDIATE`` takes the write lock
        before counting, so two workers cannot both see the last free slot.
        """
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                (busy,) = con.execute(
                    "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND slot = ? AND id != ?",
                    (slot, job_id),
                ).fetchone()
                row = con.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
                ok = row is not None and row[0] == "queued" and busy < limit
                if ok:
                    con.execute(
                        "UPDATE jobs SET status = 'running', slot = ?, started = ? WHERE id = ?",
                        (slot, time.time(), job_id),
                    )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return ok


def _job(row: sqlite3.Row) -> JobRecord:
    d = dict(row)
    d["params"] = json.loads(d["params"])
    d["cancel_requested"] = bool(d["cancel_requested"])
    d["result"] = json.loads(d["result"]) if d.get("result") else None
    return JobRecord(**d)
