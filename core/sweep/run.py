"""The paper's Figure 4: model equivariance error against the data's, over symmetry-breaking levels.

For each buoyancy difference (0 included) the dataset is made or reused from the cache,
each chosen model is trained on it, and one row per (level, model) records the data
equivariance error, the model's (per C4 element and mean) and its test RMSE, into
``sweeps/<sweep_id>/results.json`` and ``results.csv`` (rewritten after every row).

    python -m core.sweep --levels 0,0.1,0.2 --models convnet,e2cnn,rsteer [--preset cpu|gpu]
    python -m core.sweep ... --engine ray [--address HOST:PORT]   # each training a Ray task

Presets: ``cpu`` (default: grid 32, 40 frames, 4 simulations per orientation, 1 input frame,
20 epochs, K = 3) is sized for 3 models x 10 levels in about 30 minutes on 2 CPU cores
(the shipped sweep's wall time is in assets/README.md); ``gpu`` uses grid 64, 60 frames,
6 simulations and 30 epochs.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.store.atomic import write_json, write_text
from core.store.paths import assets_dir, check_name, data_dir, new_id
from core.sweep.config import SweepConfig

ENGINES = ("local", "ray")
CSV_COLUMNS = (
    "level",
    "data_equivariance_error",
    "model",
    "run_id",
    "status",
    "model_ee_mean",
    "model_ee_90",
    "model_ee_180",
    "model_ee_270",
    "rmse_future",
    "rmse_domain",
    "seconds",
)


@dataclass
class SweepResult:
    """A finished (or stopped) sweep: its id, folder, status and result rows."""

    sweep_id: str
    path: Path
    status: str
    rows: list[dict[str, Any]]


def run_sweep(
    config: SweepConfig,
    progress=None,
    should_stop=None,
    root: Path | None = None,
    sweep_id: str | None = None,
    engine: str = "local",
    address: str | None = None,
) -> SweepResult:
    """Run the sweep; return a SweepResult (status 'done' or 'cancelled').

    ``progress(fraction, message, **info)`` is called as levels and models finish and
    (local engine) during training; ``should_stop()`` is polled between batches (local)
    or between task completions (Ray). Results go to ``<root or data_dir()>/sweeps/<sweep_id>/``.

    ``engine``: 'local' (this process, one training after another) or 'ray' (each
    training a Ray task; core/sweep/ray_engine.py). ``address``: the Ray cluster to
    join (None starts a local Ray); only used by the 'ray' engine.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "ray":
        from core.sweep.ray_engine import run_sweep_ray

        return run_sweep_ray(config, progress, should_stop, root=root, sweep_id=sweep_id, address=address)
    return _run_local(config, progress, should_stop, root, sweep_id)


def _run_local(
    config: SweepConfig, progress, should_stop, root: Path | None, sweep_id: str | None
) -> SweepResult:
    from core.data import ensure_dataset, load_dataset
    from core.symmetry import data_equivariance_error
    from core.train.trainer import train

    sweep_id, out = start_sweep_dir(root, sweep_id)
    report = progress or (lambda *a, **k: None)
    tcfg = config.train_config()
    total = len(config.levels) * (1 + len(config.models))
    done_units = 0
    rows: list[dict[str, Any]] = []
    record = new_record(sweep_id, config)
    write_results(out, record, rows)
    status = "done"
    for level in config.levels:
        if should_stop is not None and should_stop():
            status = "cancelled"
            break
        report(done_units / total, f"dataset for buoyancy difference {level:g}")
        path = ensure_dataset(config.data_config(level))
        data_ee = data_equivariance_error(load_dataset(path).velocity)
        done_units += 1
        for name in config.models:
            t0 = time.perf_counter()
            base = done_units / total

            def sub(fraction, message="", _base=base, _name=name, _level=level, **info):
                report(_base + fraction / total, f"level {_level:g}, {_name}: {message}", **info)

            result = train(
                path,
                config.model_config(name),
                tcfg,
                progress=sub,
                should_stop=should_stop,
            )
            done_units += 1
            if result.status == "cancelled":
                status = "cancelled"
                break
            rows.append(result_row(level, data_ee, name, result, time.perf_counter() - t0, path.name))
            write_results(out, record, rows)
            report(done_units / total, f"level {level:g}, {name}: {result.status}")
        if status == "cancelled":
            break
    record.update(status=status, finished=time.time())
    write_results(out, record, rows)
    return SweepResult(sweep_id=sweep_id, path=out, status=status, rows=rows)


def result_row(
    level: float, data_ee: float, model: str, result, seconds: float, dataset: str
) -> dict[str, Any]:
    """The results row of one (level, model) training, from its TrainResult (both engines use it).

    ``dataset`` is the dataset file's name (its config hash); the file lives in the data directory.
    """
    m = result.metrics or {}
    ee = m.get("equivariance_error") or {}
    per = ee.get("per_element") or {}
    return {
        "level": level,
        "data_equivariance_error": data_ee,
        "model": model,
        "run_id": result.run_id,
        "status": result.status,
        "model_ee_mean": ee.get("mean"),
        "model_ee_90": per.get("90"),
        "model_ee_180": per.get("180"),
        "model_ee_270": per.get("270"),
        "rmse_future": (m.get("test_future") or {}).get("rmse"),
        "rmse_domain": (m.get("test_domain") or {}).get("rmse"),
        "seconds": seconds,
        "dataset": dataset,
    }


def start_sweep_dir(root: Path | None, sweep_id: str | None) -> tuple[str, Path]:
    """Return ``(sweep_id, folder)`` of a new sweep (a fresh id unless given), the folder created."""
    sweep_id = check_name(sweep_id, "sweep id") if sweep_id else new_id("sweep")
    out = Path(root or data_dir()) / "sweeps" / sweep_id
    out.mkdir(parents=True, exist_ok=True)
    return sweep_id, out


def new_record(sweep_id: str, config: SweepConfig, **extra: Any) -> dict[str, Any]:
    """The results.json record of a sweep that starts now (``rows`` are added when written)."""
    started = time.time()
    return {
        "sweep_id": sweep_id,
        "config": config.to_dict(),
        "status": "running",
        "started": started,
        **extra,
    }


def write_results(out: Path, record: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Atomically (re)write ``results.json`` (record and rows) and ``results.csv`` in ``out``."""
    write_json(out / "results.json", {**record, "rows": rows})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "results.csv", buf.getvalue())


def list_sweeps() -> list[dict[str, Any]]:
    """Every sweep's results.json (data_dir() first, then shipped assets), with a ``shipped`` flag."""
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
                rec = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            seen.add(d.name)
            out.append({**rec, "shipped": shipped, "path": str(d)})
    return out
