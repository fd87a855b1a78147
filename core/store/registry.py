"""SQLite registry of background jobs (stdlib sqlite3, WAL mode).

One file, ``data_dir()/registry.sqlite``, shared by the dashboard, the CLI and the
worker processes. Every connection uses WAL journaling and a busy timeout so that
several processes can read while one writes; slot claims use ``BEGIN IMMEDIATE``
so two workers can never both take the last free slot.

The file heals itself: a missing registry is recreated, and one that is not a database
(or lost its table) is moved aside as ``registry.sqlite.corrupt-<time>`` with a logged
warning and rebuilt empty. Runs survive that: they are read from their folders
(core.store.runs), and a worker whose row vanished writes it back (``restore_job``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.store.paths import check_name, data_dir, new_id

STATUSES = ("queued", "running", "done", "failed", "cancelled", "diverged", "interrupted")
FINISHED = frozenset({"done", "failed", "cancelled", "diverged", "interrupted"})
ACTIVE = frozenset({"queued", "running"})
#: The environment variable naming the registry file a job worker reports to (set by
#: core.jobs.runner.JobRunner.submit; read by the worker and core.jobs.devices).
REGISTRY_ENV = "APPROXSYM_REGISTRY"
#: Finished states that mean something went wrong (shown as errors).
FAILURES = frozenset({"failed", "diverged", "interrupted"})

log = logging.getLogger(__name__)
_RECOVER_LOCK = threading.Lock()

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
    result TEXT,
    heartbeat REAL,
    progressed REAL
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
    "heartbeat",
    "progressed",
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
    heartbeat: float | None = None  # last sign of life from the worker (Unix seconds)
    progressed: float | None = None  # when ``fraction`` was last set (Unix seconds)

    @property
    def finished_state(self) -> bool:
        """True once the job can no longer change (done, failed, cancelled, diverged, interrupted)."""
        return self.status in FINISHED


class JobConflict(ValueError):
    """A new job was refused because ``job`` (queued or running) already does that work."""

    def __init__(self, job: JobRecord) -> None:
        super().__init__(f"job {job.id!r} ({job.kind}, {job.status}) already does that work")
        self.job = job


class Registry:
    """The jobs table in one SQLite file (default ``data_dir()/registry.sqlite``).

    Runs are not listed here: their folders (core.store.runs) are the one source of truth.
    """

    def __init__(self, path: str | os.PathLike | None = None, timeout_s: float = 30.0):
        self.path = Path(path) if path is not None else data_dir() / "registry.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = float(timeout_s)
        self._opened = False
        self._run(_migrate)  # creates, migrates or rebuilds the file
        self._opened = True

    def job_lock_path(self, job_id: str) -> Path:
        """The file whose lock the process running job ``job_id`` holds while it runs (a folder
        beside the registry): how any process tells that a job's process lives, whether the job
        runs in a worker process or in a thread of the dashboard's (core.jobs.here)."""
        folder = self.path.parent / "job-locks"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{check_name(job_id, 'job id')}.lock"

    def _run(self, work: Any) -> Any:
        """Run ``work(con)`` on a fresh connection; on a broken registry, rebuild it and retry once."""
        try:
            with self._connect() as con:
                return work(con)
        except sqlite3.DatabaseError as exc:
            if not _is_broken(exc):
                raise
            self._recover(exc)
            with self._connect() as con:
                return work(con)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():
            self._recover(FileNotFoundError("deleted") if self._opened else None)
        # isolation_level=None: we issue BEGIN ourselves where it matters, else autocommit.
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            con.execute("PRAGMA journal_mode = WAL")
            con.row_factory = sqlite3.Row
            yield con
        finally:
            con.close()

    def _recover(self, exc: Exception | None) -> None:
        """Make the file a usable registry again: create it if missing, move a corrupt one aside.

        Several processes may get here at once; an exclusive lock on ``<file>.lock`` lets one
        of them repair, and the others then find a healthy file and leave it alone.
        """
        with _RECOVER_LOCK, _file_lock(self.path.with_name(self.path.name + ".lock")):
            if not self.path.exists():
                # Without its database, an old write-ahead log would be replayed into the new file.
                for extra in ("-wal", "-shm"):
                    Path(f"{self.path}{extra}").unlink(missing_ok=True)
                if exc is not None:
                    log.warning("job registry %s is missing: recreating it", self.path)
            elif exc is not None and _is_corrupt(exc) and not _healthy(self.path):
                aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
                for n in range(1, 1000):  # never overwrite an earlier copy
                    if not aside.exists():
                        break
                    aside = aside.with_name(f"{aside.name.rsplit('~', 1)[0]}~{n}")
                for extra in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(f"{self.path}{extra}", f"{aside}{extra}")
                log.warning("job registry %s is unreadable (%s): moved it to %s and started a new one",
                            self.path, exc, aside)  # fmt: skip
            elif exc is not None and "no such table" in str(exc):
                log.warning("job registry %s lost its jobs table (%s): recreating it", self.path, exc)
            con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            try:
                con.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
                con.execute("PRAGMA journal_mode = WAL")
                _migrate(con)
            finally:
                con.close()

    # ------------------------------------------------------------------ jobs

    def create_job(
        self,
        kind: str,
        params: dict[str, Any],
        slot: str = "",
        job_id: str | None = None,
        conflict: Callable[[JobRecord], bool] | None = None,
    ) -> str:
        """Insert a queued job and return its id. ``params`` must be JSON-serialisable.

        ``conflict``: a test on each queued or running job; if one passes, nothing is inserted
        and :class:`JobConflict` names it. The test and the insert share one write lock, so
        two requests at once (a double click) cannot both get in.
        """
        job_id = check_name(job_id, "job id") if job_id else new_id(f"job-{kind}")
        text = json.dumps(params, sort_keys=True)

        def insert(con: sqlite3.Connection) -> None:
            con.execute("BEGIN IMMEDIATE")
            try:
                if conflict is not None:
                    rows = con.execute("SELECT * FROM jobs WHERE status IN ('queued', 'running')")
                    clash = next((job for job in map(_job, rows) if conflict(job)), None)
                    if clash is not None:
                        raise JobConflict(clash)
                con.execute(
                    "INSERT INTO jobs (id, kind, params, status, slot, created) "
                    "VALUES (?, ?, ?, 'queued', ?, ?)",
                    (job_id, kind, text, slot, time.time()),
                )
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise

        self._run(insert)
        return job_id

    def restore_job(self, job: JobRecord) -> None:
        """Write a job's row back if it is missing (a worker's own record after a rebuilt registry)."""
        row = {k: v for k, v in job.__dict__.items()}
        for key in ("params", "result"):
            row[key] = json.dumps(row[key], sort_keys=True) if row[key] is not None else None
        row["cancel_requested"] = int(bool(row["cancel_requested"]))
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._run(
            lambda con: con.execute(
                f"INSERT OR IGNORE INTO jobs ({cols}) VALUES ({marks})", tuple(row.values())
            )
        )

    def get_job(self, job_id: str) -> JobRecord | None:
        """Return the job's record, or None if there is no such job."""
        row = self._run(lambda con: con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
        return _job(row) if row else None

    def list_jobs(self, limit: int = 200) -> list[JobRecord]:
        """Return up to ``limit`` jobs, newest first."""
        rows = self._run(
            lambda con: con.execute(
                "SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (int(limit),)
            ).fetchall()
        )
        return [_job(r) for r in rows]

    def active_jobs(self) -> list[JobRecord]:
        """Return the queued and running jobs (what supervision has to look at)."""
        rows = self._run(
            lambda con: con.execute("SELECT * FROM jobs WHERE status IN ('queued', 'running')").fetchall()
        )
        return [_job(r) for r in rows]

    def job_and_active(self, job_id: str) -> tuple[JobRecord | None, list[JobRecord]]:
        """Return the job's record (None if there is no such job) and the queued and running
        jobs, in one read (a job card needs both)."""
        rows = self._run(
            lambda con: con.execute(
                "SELECT * FROM jobs WHERE id = ? OR status IN ('queued', 'running')", (job_id,)
            ).fetchall()
        )
        jobs = [_job(r) for r in rows]
        return next((j for j in jobs if j.id == job_id), None), [j for j in jobs if j.status in ACTIVE]

    def update_job(self, job_id: str, _only_active: bool = False, **fields: Any) -> bool:
        """Set columns of a job (names from the jobs table; ``params`` may be a dict).

        Returns False if there is no such job (e.g. its row went with a rebuilt registry)."""
        bad = sorted(set(fields) - set(_JOB_FIELDS))
        if bad:
            raise ValueError(f"unknown job field(s): {', '.join(bad)}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {fields['status']!r}")
        for key in ("params", "result"):
            if isinstance(fields.get(key), dict):
                fields[key] = json.dumps(fields[key], sort_keys=True)
        if not fields:
            return True
        cols = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE jobs SET {cols} WHERE id = ?"
        if _only_active:
            sql += " AND status IN ('queued', 'running')"
        return self._run(lambda con: con.execute(sql, (*fields.values(), job_id)).rowcount) > 0

    def finish_job(
        self, job_id: str, status: str, error: str | None = None, message: str | None = None,
        only_active: bool = False,
    ) -> bool:  # fmt: skip
        """Mark a job finished with ``status`` (and the error text, if any); False if no such job.

        ``only_active``: change it only if it is still queued or running (so a supervisor never
        overwrites the outcome a worker recorded a moment earlier); False if it was not."""
        return self.update_job(job_id, _only_active=only_active, **_finish_fields(status, error, message))

    def set_progress(
        self,
        job_id: str,
        fraction: float,
        message: str = "",
        epoch: int | None = None,
        train_loss: float | None = None,
        val_loss: float | None = None,
    ) -> bool:
        """Record progress: ``fraction`` in [0, 1], a message, and optionally epoch and losses."""
        fields: dict[str, Any] = {
            "fraction": min(max(float(fraction), 0.0), 1.0),
            "message": message,
            "progressed": time.time(),
        }
        if epoch is not None:
            fields["epoch"] = int(epoch)
        if train_loss is not None:
            fields["train_loss"] = float(train_loss)
        if val_loss is not None:
            fields["val_loss"] = float(val_loss)
        return self.update_job(job_id, **fields)

    def request_cancel(self, job_id: str) -> JobRecord | None:
        """Raise the job's cancel flag if it is queued or running (its worker checks it between
        batches); return the job's record as left (None: no such job), read in the same transaction."""
        sql = "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status IN ('queued', 'running')"
        return self._write_then_read(job_id, sql, (job_id,))[1]

    def finish_active_job(
        self, job_id: str, status: str, error: str | None = None, message: str | None = None
    ) -> tuple[bool, JobRecord | None]:
        """:meth:`finish_job` with ``only_active``, returning ``(changed, record)``: whether it
        finished the job (False: it had finished already, or there is no such job) and the job's
        record as left, read in the same transaction as the write."""
        fields = _finish_fields(status, error, message)
        cols = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE jobs SET {cols} WHERE id = ? AND status IN ('queued', 'running')"
        return self._write_then_read(job_id, sql, (*fields.values(), job_id))

    def _write_then_read(self, job_id: str, sql: str, args: tuple) -> tuple[bool, JobRecord | None]:
        """Run the UPDATE ``sql`` and read job ``job_id``'s row under one write lock; return
        ``(whether a row changed, the record or None)``."""

        def work(con: sqlite3.Connection) -> tuple[bool, sqlite3.Row | None]:
            con.execute("BEGIN IMMEDIATE")
            with con:  # commits, or rolls back on an error
                changed = con.execute(sql, args).rowcount > 0
                return changed, con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()

        changed, row = self._run(work)
        return changed, (_job(row) if row else None)

    def cancel_requested(self, job_id: str) -> bool:
        """Return True if someone asked for this job to stop."""
        sql = "SELECT cancel_requested FROM jobs WHERE id = ?"
        row = self._run(lambda con: con.execute(sql, (job_id,)).fetchone())
        return bool(row and row[0])

    def claim_slot(self, job_id: str, slot: str, limit: int) -> bool:
        """Atomically move a queued job to running if fewer than ``limit`` jobs hold ``slot``.

        Returns True if the job now runs. ``BEGIN IMMEDIATE`` takes the write lock
        before counting, so two workers cannot both see the last free slot. A job whose
        cancel was asked never gets one (its worker then ends it cancelled, having done nothing),
        even when the slot frees at the moment of the cancel.
        """

        def claim(con: sqlite3.Connection) -> bool:
            con.execute("BEGIN IMMEDIATE")
            try:
                (busy,) = con.execute(
                    "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND slot = ? AND id != ?",
                    (slot, job_id),
                ).fetchone()
                sql = "SELECT status, cancel_requested FROM jobs WHERE id = ?"
                row = con.execute(sql, (job_id,)).fetchone()
                ok = row is not None and row[0] == "queued" and not row[1] and busy < limit
                if ok:
                    con.execute(
                        "UPDATE jobs SET status = 'running', slot = ?, started = ? WHERE id = ?",
                        (slot, time.time(), job_id),
                    )
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise
            return ok

        ok = self._run(claim)
        return ok


def _finish_fields(status: str, error: str | None, message: str | None) -> dict[str, Any]:
    """The columns a job finished with ``status`` gets (ValueError for a status not in FINISHED)."""
    if status not in FINISHED:
        raise ValueError(f"finish status must be one of {sorted(FINISHED)}, got {status!r}")
    fields: dict[str, Any] = {"status": status, "finished": time.time(), "error": error}
    if status == "done":
        fields["fraction"] = 1.0
    return fields if message is None else {**fields, "message": message}


#: Columns added after the first version, with their SQL types: an older file gains them on open.
_ADDED_COLUMNS = (("result", "TEXT"), ("heartbeat", "REAL"), ("progressed", "REAL"))


def _migrate(con: sqlite3.Connection) -> None:
    """Create the jobs table if missing, and add the columns an older version's file lacks."""
    con.executescript(_SCHEMA)
    columns = {row[1] for row in con.execute("PRAGMA table_info(jobs)")}
    for column, kind in _ADDED_COLUMNS:
        if column not in columns:
            try:
                con.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):  # else another process added it first
                    raise


def _job(row: sqlite3.Row) -> JobRecord:
    d = dict(row)
    d["params"] = json.loads(d["params"])
    d["cancel_requested"] = bool(d["cancel_requested"])
    d["result"] = json.loads(d["result"]) if d.get("result") else None
    return JobRecord(**d)


def _is_broken(exc: sqlite3.DatabaseError) -> bool:
    """True for errors a rebuilt registry cures (not for a busy lock or a bad query)."""
    return _is_corrupt(exc) or "no such table" in str(exc)


def _is_corrupt(exc: Exception) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "file is encrypted" in text


def _healthy(path: Path) -> bool:
    """True if ``path`` opens as an SQLite database (a racing process may have rebuilt it already)."""
    try:
        con = sqlite3.connect(path, timeout=5)
        try:
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return con.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return False


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (flock; a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
