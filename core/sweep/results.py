"""A sweep's results: one row per (pattern, level, model, seed), written as results.json and
results.csv.

Row fields (docs/ARCHITECTURE.md): ``level`` (buoyancy difference), ``breaking`` (the data's
breaking pattern; a row without it counts as "all"), ``model``, ``seed`` (the training seed; a
row without it counts as 0), ``run_id``, ``status``, ``data_ee_one_step`` (the matched one-step
data EE on the model's states: the x axis of Figure 4), ``data_ee_trajectory`` (the paper's
trajectory data EE), ``model_ee_mean``, ``model_ee_relative``, ``model_ee_90/180/270``,
``data_ee_90/180/270`` (the matched one-step data EE per rotation), ``rmse_future``,
``rmse_domain``, ``rmse_persistence_future``, ``rmse_persistence_domain``, ``seconds``,
``dataset``; and in results.json only, ``model_ee_by_element`` and ``data_ee_by_element``
(``{"90", "180", "270"}``: the model's and the data's one-step EE per rotation on the same
states), ``irrep_energy`` (a relaxed model's breaking energy per C4 irrep, or None) and
``ee_by_frame`` (the model and data EE frame by frame with the training / validation /
test-future frame ranges, core.train.evaluate's ``equivariance_by_frame``).
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.store.atomic import write_json, write_text
from core.store.damage import DamagedError
from core.store.locks import HeldLock, LockBusy, hold_lock, is_locked
from core.store.paths import assets_dir, check_name, data_dir, inside, new_id

#: The file in a sweep's folder whose lock the process running the sweep holds (core/store/locks.py).
LOCK_FILE = "sweep.lock"

CSV_COLUMNS = (
    "level",
    "model",
    "breaking",
    "seed",
    "data_ee_one_step",
    "data_ee_trajectory",
    "model_ee_mean",
    "model_ee_relative",
    "model_ee_90",
    "model_ee_180",
    "model_ee_270",
    "data_ee_90",
    "data_ee_180",
    "data_ee_270",
    "rmse_future",
    "rmse_persistence_future",
    "rmse_domain",
    "rmse_persistence_domain",
    "status",
    "seconds",
    "run_id",
)


def result_row(
    level: float,
    model: str,
    result: Any,
    seconds: float,
    dataset: str,
    *,
    seed: int = 0,
    pattern: str = "all",
) -> dict[str, Any]:
    """The sweep row of one training (``result``: a core.train.trainer.TrainResult) of ``model``
    with training seed ``seed`` on the data of breaking ``pattern`` at buoyancy difference ``level``."""
    m = result.metrics or {}
    ee = m.get("equivariance_error") or {}
    per = ee.get("per_element") or {}
    data_per = m.get("data_ee_by_element") or {}
    future, domain = m.get("test_future") or {}, m.get("test_domain") or {}
    return {
        "breaking": pattern,
        "level": float(level),
        "model": model,
        "seed": int(seed),
        "run_id": result.run_id,
        "status": result.status,
        "error": result.error,
        "data_ee_one_step": m.get("data_ee_one_step"),
        "data_ee_trajectory": m.get("data_ee_trajectory"),
        "model_ee_mean": ee.get("mean"),
        "model_ee_relative": ee.get("relative_mean"),
        "model_ee_90": per.get("90"),
        "model_ee_180": per.get("180"),
        "model_ee_270": per.get("270"),
        "model_ee_by_element": dict(per) if per else None,
        "data_ee_90": data_per.get("90"),
        "data_ee_180": data_per.get("180"),
        "data_ee_270": data_per.get("270"),
        "data_ee_by_element": dict(data_per) if data_per else None,
        "irrep_energy": m.get("irrep_energy"),
        "rmse_future": future.get("rmse"),
        "rmse_domain": domain.get("rmse"),
        "rmse_persistence_future": future.get("persistence_rmse"),
        "rmse_persistence_domain": domain.get("persistence_rmse"),
        "seconds": float(seconds),
        "dataset": dataset,  # the file name (its config hash); the file lives in the data directory
        "ee_by_frame": m.get("equivariance_by_frame"),
    }


def row_worse_than_persistence(row: dict[str, Any]) -> str:
    """The "worse than persistence" note of a sweep row (core.train.verdict.persistence_warning
    of its test RMSE and persistence RMSE columns); '' when the model beats persistence or the
    row has no such numbers (a run that diverged before its first checkpoint, an old sweep)."""
    from core.train.verdict import persistence_warning

    metrics = {
        split: {"rmse": row.get(f"rmse_{short}"), "persistence_rmse": row.get(f"rmse_persistence_{short}")}
        for split, short in (("test_future", "future"), ("test_domain", "domain"))
    }
    return persistence_warning(metrics)


def start_sweep_dir(root: Path | None, sweep_id: str | None) -> tuple[str, Path]:
    """Return ``(sweep_id, folder)`` of a new sweep (a fresh id unless given), the folder created."""
    sweep_id = check_name(sweep_id, "sweep id") if sweep_id else new_id("sweep")
    out = Path(root or data_dir()) / "sweeps" / sweep_id
    out.mkdir(parents=True, exist_ok=True)
    return sweep_id, out


def new_record(sweep_id: str, config: Any, **extra: Any) -> dict[str, Any]:
    """The results.json record of a sweep that starts now (``rows`` are added when written)."""
    return {
        "sweep_id": sweep_id,
        "config": config.to_dict(),
        "resolved": config.resolved(),
        "status": "running",
        "started": time.time(),
        **extra,
    }


def write_results(out: Path, record: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Atomically write ``out/results.json`` (record + rows) and ``out/results.csv`` (the rows)."""
    write_json(out / "results.json", {**record, "rows": rows})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "results.csv", buf.getvalue())


class OpenSweep:
    """A sweep this process is running: its folder, held by :data:`LOCK_FILE` for as long as
    the sweep runs, its results.json record and its rows (kept in the config's order)."""

    def __init__(self, sweep_id: str, out: Path, config: Any, record: dict, rows: list, lock: HeldLock):
        self.sweep_id, self.path, self.config, self.record, self.lock = sweep_id, out, config, record, lock
        self.rows = list(rows)

    def has(self, item: Any) -> bool:
        """True if plan item ``item`` (core.sweep.config.PlanItem) has its row already (a resumed
        sweep skips it)."""
        return any(row_key(r) == item.key for r in self.rows)

    def missing(self) -> list[Any]:
        """The items of the sweep's plan (core.sweep.config.sweep_plan) without a row, in order."""
        return [item for item in self.config.plan() if not self.has(item)]

    def add(self, row: dict[str, Any]) -> None:
        """Record one finished row and rewrite results.json / results.csv (rows in plan order)."""
        self.rows.append(row)
        order = {item.key: i for i, item in enumerate(self.config.plan())}
        self.rows.sort(key=lambda r: order.get(row_key(r), len(order)))
        write_results(self.path, self.record, self.rows)

    def close(self, status: str, **fields: Any) -> None:
        """Write the final status (with ``fields``, e.g. ``error``) and let the folder go."""
        try:
            self.record.update(status=status, finished=time.time(), **fields)
            write_results(self.path, self.record, self.rows)
            if status == "done":  # nothing will lock a finished sweep again: leave no lock file
                (self.path / LOCK_FILE).unlink(missing_ok=True)
        finally:
            self.lock.release()


def open_sweep(config: Any, root: Path | None = None, sweep_id: str | None = None, **extra: Any) -> OpenSweep:
    """Start a new sweep's folder: lock it, then write its 'running' results.json; return it.

    The lock comes first, so no reader ever sees a 'running' record whose lock is free while
    its process lives (:func:`settle_sweep` takes such a record as left by a dead process).
    """
    sweep_id, out = start_sweep_dir(root, sweep_id)
    lock = hold_lock(out / LOCK_FILE)
    try:
        record = new_record(sweep_id, config, **extra)
        write_results(out, record, [])
    except BaseException:
        lock.release()
        raise
    return OpenSweep(sweep_id, out, config, record, [], lock)


def reopen_sweep(sweep_id: str, root: Path | None = None, **extra: Any) -> OpenSweep:
    """Continue a stopped sweep of ``root or data_dir()``: lock its folder, keep its finished rows,
    mark it 'running' again (``extra`` updates the record: the engine); return it.

    ValueError in one line when there is no such sweep, it still runs, it has finished, or its
    preset no longer gives the settings it started with (its rows would not be one experiment).
    """
    from core.sweep.config import SweepConfig

    out = sweep_folder(sweep_id, root)
    sweep_id = out.name
    if not (out / "results.json").is_file():
        raise ValueError(f"no sweep {sweep_id!r} in {out.parent}")
    if read_record(out).get("status") == "done":  # refused before a lock file is made again
        raise ValueError(f"sweep {sweep_id!r} {FINISHED}")
    try:
        lock = hold_lock(out / LOCK_FILE)
    except LockBusy:
        raise ValueError(f"sweep {sweep_id!r} is still running: its process holds {LOCK_FILE}") from None
    try:
        record = read_record(out)
        if record.get("status") == "done":
            raise ValueError(f"sweep {sweep_id!r} {FINISHED}")
        config = SweepConfig.from_dict(record.get("config") or {})
        if "resolved" in record and _as_json(config.resolved()) != _as_json(_completed(record["resolved"])):
            raise ValueError(
                f"sweep {sweep_id!r} cannot be continued: its preset now gives other settings than "
                "those it started with (results.json 'resolved')"
            )
        keys = {item.key for item in config.plan()}
        rows = [r for r in record.pop("rows", []) if isinstance(r, dict) and row_key(r) in keys]
        for key in ("finished", "error", "engine", "address"):
            record.pop(key, None)
        resumes = [*record.get("resumes", []), {"started": time.time(), "kept_rows": len(rows)}]
        record.update(status="running", resumes=resumes, **extra)
        sweep = OpenSweep(sweep_id, out, config, record, rows, lock)
        write_results(out, record, sweep.rows)
    except BaseException:
        lock.release()
        raise
    return sweep


#: Why a finished sweep is not resumed.
FINISHED = "has finished: every (pattern, level, model, seed) has its row"


def resume_refusal(sweep_id: str, root: Path | None = None) -> str | None:
    """Why sweep ``sweep_id`` of ``root or data_dir()`` cannot be continued now (a sentence for
    the user), or None if it can: it exists there (shipped sweeps are not), it is not finished
    and no live process runs it."""
    try:
        folder = sweep_folder(sweep_id, root)
        record = read_record(folder)
    except FileNotFoundError:
        return f"there is no sweep {sweep_id!r} in this data directory"
    except (OSError, ValueError) as exc:
        return f"sweep {sweep_id!r} cannot be read: {exc}"
    if record.get("status") == "done":
        return f"sweep {sweep_id!r} {FINISHED}"
    if record.get("status") == "running" and is_locked(folder / LOCK_FILE):
        return f"sweep {sweep_id!r} is still running"
    return None


def stopped_fields(exc: BaseException, should_stop=None) -> dict[str, Any]:
    """The status (and error) of a sweep that an exception ended: 'cancelled' when a stop was
    asked (a cancelled job's SIGTERM), 'interrupted' for Ctrl-C, else 'failed' with the error."""
    if should_stop is not None and should_stop():
        return {"status": "cancelled"}
    if not isinstance(exc, Exception):
        return {"status": "interrupted", "error": type(exc).__name__}
    return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}


#: What results.json says of a sweep whose process ended without writing its end.
INTERRUPTED_ERROR = "the process running it ended before it finished"


def settle_sweep(folder: Path, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (the folder's results.json), marked 'interrupted' on disk first when it says
    'running' but its lock is free, i.e. the process that ran it is gone (kill -9, a crash, a
    restarted machine). A folder that cannot be written is left as it is."""
    if record.get("status") != "running":
        return record
    try:
        lock = hold_lock(folder / LOCK_FILE)
    except (LockBusy, OSError):
        return record  # alive, or a folder this process cannot lock (read-only)
    with lock:
        try:
            fresh = read_record(folder)
            if fresh.get("status") != "running":  # it ended meanwhile
                return fresh
            fresh.update(status="interrupted", error=INTERRUPTED_ERROR, finished=time.time())
            write_json(folder / "results.json", fresh)
            return fresh
        except (OSError, ValueError):
            return record


def sweep_folder(sweep_id: str, root: Path | None = None) -> Path:
    """The folder of sweep ``sweep_id`` in ``root or data_dir()`` (the id checked; it may not exist)."""
    return inside(Path(root or data_dir()) / "sweeps", check_name(sweep_id, "sweep id"))


def row_key(row: dict[str, Any]) -> tuple[Any, float, Any, Any] | None:
    """A row's ``(pattern, level, model, seed)`` (core.sweep.config.PlanItem.key); a row from
    before patterns and seeds counts as pattern "all", seed 0. None for a row without a numeric
    level."""
    try:
        return row.get("breaking", "all"), float(row.get("level")), row.get("model"), row.get("seed", 0)
    except (TypeError, ValueError):
        return None


def _completed(resolved: Any) -> Any:
    """A stored ``resolved`` record with the fields its configs gained since filled with their
    defaults (and the per-dataset pattern dropped), as :meth:`SweepConfig.resolved` writes it now.

    Why: a sweep started before a field existed (the data's breaking pattern or design) ran with
    its default, so it may continue. A record the configs refuse is returned as it is.
    """
    from core.data import DataConfig
    from core.models import ModelConfig
    from core.sweep.config import LEVEL_FIELD, PATTERN_FIELD
    from core.train.config import TrainConfig

    try:
        data = DataConfig.from_dict(resolved["data"]).to_dict()
        data.pop(LEVEL_FIELD, None)
        data.pop(PATTERN_FIELD, None)
        models = {name: ModelConfig.from_dict(m).to_dict() for name, m in resolved["models"].items()}
        train = TrainConfig.from_dict(resolved["train"]).to_dict()
    except (KeyError, TypeError, ValueError, AttributeError):
        return resolved
    return {**resolved, "data": data, "train": train, "models": models}


def _as_json(value: Any) -> str:
    return json.dumps(json.loads(json.dumps(value)), sort_keys=True)


def list_sweeps() -> list[dict[str, Any]]:
    """Every sweep's results.json (data_dir() first, then shipped assets), with ``shipped`` and ``path``.

    A results.json that cannot be read, or is not a record with a ``rows`` list, is listed,
    never hidden, as ``{"sweep_id", "status": "damaged", "damaged": "damaged: results.json:
    <reason>", "rows": []}``. A sweep of data_dir() left 'running' by a process that is gone is
    marked 'interrupted' here (:func:`settle_sweep`), so every look tells the truth and it can be
    resumed.
    """
    out, seen = [], set()
    for shipped, base in ((False, data_dir()), (True, assets_dir())):
        root = base / "sweeps"
        if not root.is_dir():
            continue
        for d in sorted(root.iterdir(), reverse=True):
            f = d / "results.json"
            if d.name in seen or not f.is_file():
                continue
            try:
                rec = read_record(d)
            except FileNotFoundError:  # deleted while listed
                continue
            except DamagedError as exc:
                rec = {"sweep_id": d.name, "status": "damaged", "damaged": str(exc), "rows": []}
            if not shipped and rec.get("status") != "damaged":
                rec = settle_sweep(d, rec)
            seen.add(d.name)
            out.append({**rec, "shipped": shipped, "path": str(d)})
    return out


def read_record(folder: Path) -> dict[str, Any]:
    """A sweep folder's parsed results.json; FileNotFoundError without one, and
    core.store.damage.DamagedError (a ValueError: ``damaged: results.json: <reason>``) when it
    cannot be read, is not JSON, or is not an object with a ``rows`` list."""
    path = Path(folder) / "results.json"
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DamagedError(path.name, exc.strerror or exc) from None
    except UnicodeDecodeError as exc:
        raise DamagedError(path.name, f"not a UTF-8 text file ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise DamagedError(path.name, f"truncated or not valid JSON ({where})") from None
    if not isinstance(record, dict):
        raise DamagedError(path.name, f"expected a JSON object, found {type(record).__name__}")
    if not isinstance(record.get("rows"), list):
        raise DamagedError(path.name, "expected a 'rows' list")
    return record


def frame_split_ratios(row: dict[str, Any]) -> tuple[float, float] | None:
    """``(training, untrained)``: the row's mean model EE over mean data EE on the frames whose
    target is in the training block, and on the later (validation, test-future) ones; None
    without frame-by-frame errors or data EE."""
    record = row.get("ee_by_frame") or {}
    if not record.get("data") or not record.get("regions"):
        return None
    frames = np.asarray(record["frames"])
    model, data = np.asarray(record["model"], dtype=float), np.asarray(record["data"], dtype=float)
    last_trained = next((last for name, _, last in record["regions"] if name == "training"), None)
    if last_trained is None:
        return None
    trained, later = frames <= last_trained, frames > last_trained
    if data[trained].mean() <= 0 or data[later].mean() <= 0:
        return None
    return model[trained].mean() / data[trained].mean(), model[later].mean() / data[later].mean()
