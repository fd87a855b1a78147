"""A sweep's results: one row per (level, model), written as results.json and results.csv.

Row fields (docs/ARCHITECTURE.md): ``level`` (buoyancy difference), ``model``, ``run_id``,
``status``, ``data_ee_one_step`` (the matched one-step data EE on the model's states: the x
axis of Figure 4), ``data_ee_trajectory`` (the paper's trajectory data EE), ``model_ee_mean``,
``model_ee_relative``, ``model_ee_90/180/270``, ``rmse_future``, ``rmse_domain``,
``rmse_persistence_future``, ``rmse_persistence_domain``, ``seconds``, ``dataset``; and in
results.json only, ``ee_by_frame`` (the model and data EE frame by frame with the training /
validation / test-future frame ranges, core.train.evaluate's ``equivariance_by_frame``).
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
from core.store.paths import assets_dir, check_name, data_dir, new_id

CSV_COLUMNS = (
    "level",
    "model",
    "data_ee_one_step",
    "data_ee_trajectory",
    "model_ee_mean",
    "model_ee_relative",
    "model_ee_90",
    "model_ee_180",
    "model_ee_270",
    "rmse_future",
    "rmse_persistence_future",
    "rmse_domain",
    "rmse_persistence_domain",
    "status",
    "seconds",
    "run_id",
)


def result_row(level: float, model: str, result: Any, seconds: float, dataset: str) -> dict[str, Any]:
    """The sweep row of one training: ``result`` is a core.train.trainer.TrainResult."""
    m = result.metrics or {}
    ee = m.get("equivariance_error") or {}
    per = ee.get("per_element") or {}
    future, domain = m.get("test_future") or {}, m.get("test_domain") or {}
    return {
        "level": float(level),
        "model": model,
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
        "rmse_future": future.get("rmse"),
        "rmse_domain": domain.get("rmse"),
        "rmse_persistence_future": future.get("persistence_rmse"),
        "rmse_persistence_domain": domain.get("persistence_rmse"),
        "seconds": float(seconds),
        "dataset": dataset,  # the file name (its config hash); the file lives in the data directory
        "ee_by_frame": m.get("equivariance_by_frame"),
    }


def row_worse_than_persistence(row: dict[str, Any]) -> str:
    """The "worse than persistence" note of a sweep row (core.train.evaluate.persistence_warning
    of its test RMSE and persistence RMSE columns); '' when the model beats persistence or the
    row has no such numbers (a run that diverged before its first checkpoint, an old sweep)."""
    from core.train.evaluate import persistence_warning

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


def list_sweeps() -> list[dict[str, Any]]:
    """Every sweep's results.json (data_dir() first, then shipped assets), with ``shipped`` and ``path``.

    A results.json that cannot be read, or is not a record with a ``rows`` list, is listed,
    never hidden, as ``{"sweep_id", "status": "damaged", "damaged": "damaged: results.json:
    <reason>", "rows": []}``.
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
                rec = read_record(f)
            except FileNotFoundError:  # deleted while listed
                continue
            except DamagedError as exc:
                rec = {"sweep_id": d.name, "status": "damaged", "damaged": str(exc), "rows": []}
            seen.add(d.name)
            out.append({**rec, "shipped": shipped, "path": str(d)})
    return out


def read_record(path: Path) -> dict[str, Any]:
    """A sweep's parsed results.json; core.store.damage.DamagedError (``damaged: results.json:
    <reason>``) when it cannot be read, is not JSON, or is not an object with a ``rows`` list."""
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
