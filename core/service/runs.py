"""Runs: list them, name them, a run's row in the runs table (:class:`RunRow`), its metrics,
files and losses, its model, an uploaded checkpoint as a new run, and resuming one."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.service import queue
from core.service.common import csv_bytes, file_version
from core.service.datasets import dataset_entries, run_dataset_name
from core.store.paths import check_name
from core.sweep.aggregate import split_title


def list_runs() -> list:
    """Every run (data dir first, then shipped), as core.store.runs.RunInfo, newest first;
    damaged ones included (``damaged`` = ``"damaged: <file>: <reason>"``, status "damaged")."""
    from core.store.runs import list_runs as _list

    return _list()


def run_status(run: Any, jobs: dict[str, str] | None = None) -> str:
    """A run's status as it is now: run.json's, unless that says "running" while the job that
    wrote it has ended (cancelled, failed, killed), in which case the job's status."""
    status = str(run.status)
    if status == "running" and not run.shipped:
        job_status = (jobs if jobs is not None else queue.job_statuses()).get(str(run.config.get("job_id")))
        if job_status is not None and job_status not in ("running", "queued"):
            return "cancelled" if job_status == "done" else job_status
    return status


def best_val_loss(run: Any) -> float | None:
    """The run's best validation loss: metrics.json's, else the lowest in its history so far."""
    value = (run.metrics or {}).get("best_val_loss")
    if value is None:
        values = [h["val_loss"] for h in run.history if isinstance(h, dict) and h.get("val_loss") is not None]
        value = min(values) if values else None
    return None if value is None else float(f"{float(value):.3g}")


def run_titles(runs: list) -> list[str]:
    """Names of ``runs`` for select boxes: run_label, numbered where equal, shipped ones marked;
    a damaged run (its ``damaged`` set) is marked "(damaged)", named by its id when its run.json
    cannot be read."""
    from core.names import run_label, shipped_suffix, unique_labels

    def title(run: Any) -> str:
        text = run_label(run.config) if run.config else run.id
        return f"{text} (damaged)" if run.damaged else text

    return unique_labels([shipped_suffix(title(r), r.shipped) for r in runs])


def compare_defaults(runs: list) -> list[str]:
    """The titles (:func:`run_titles`) Compare first shows of ``runs`` (one dataset's, newest
    first): the newest of the user's own runs beside the shipped ones, so a lesson's own model
    meets every reference model; without shipped runs, the three newest. Finished runs come
    before stopped ones. At most five."""
    named = list(zip(runs, run_titles(runs), strict=True))
    shipped = [t for r, t in named if r.shipped]
    # Finished runs first (a stable sort keeps newest first): a half-trained run is a poor first look.
    own = [t for r, t in sorted(named, key=lambda rt: rt[0].status != "done") if not r.shipped]
    return (own[:1] + shipped)[:5] if shipped else own[:3]


def persistence_mark(metrics: dict[str, Any] | None) -> str:
    """A run's place against persistence for the runs table: "worse than persistence:
    test-future" (the splits core.train.verdict.worse_than_persistence names), "beats
    persistence", or '' when it has no test metrics."""
    from core.train.verdict import WORSE_THAN_PERSISTENCE, worse_than_persistence

    worse = worse_than_persistence(metrics)
    if worse:
        return f"{WORSE_THAN_PERSISTENCE}: {', '.join(s.replace('_', '-') for s in worse)}"
    has_tests = any(isinstance((metrics or {}).get(s), dict) for s in ("test_future", "test_domain"))
    return "beats persistence" if has_tests else ""


def run_warning(run: Any) -> str:
    """The run's "worse than persistence" line (core.train.verdict.persistence_warning), '' if none."""
    from core.train.verdict import persistence_warning

    return persistence_warning(run.metrics)


@dataclass(frozen=True)
class RunRow:
    """One run's line in the runs table (:func:`run_rows`): its ``title`` (:func:`run_titles`),
    ``model`` label, ``status`` (its damaged line, else :func:`run_status`), ``vs_persistence``
    (:func:`persistence_mark`), ``dataset`` (as the Data page names it now, "… (deleted)" when
    gone), ``epochs`` run, ``best_val_loss`` (:func:`best_val_loss`), ``device`` and ``id``."""

    title: str
    model: str
    status: str
    vs_persistence: str
    dataset: str
    epochs: int
    best_val_loss: float | None
    device: str
    id: str

    def cells(self) -> dict[str, Any]:
        """The row as the table's columns (their headings as keys)."""
        return {
            "run": self.title,
            "model": self.model,
            "status": self.status,
            "vs persistence": self.vs_persistence,
            "dataset": self.dataset,
            "epochs run": self.epochs,
            "best val loss": self.best_val_loss,
            "device": self.device,
            "id": self.id,
        }


def run_rows(runs: list) -> list[RunRow]:
    """The runs table's rows (:class:`RunRow`) of ``runs``, in their order; one registry read
    for every run's status."""
    from core.models.registry import model_label

    jobs = queue.job_statuses()
    here = {e.name: e.label for e in dataset_entries()}
    return [
        RunRow(
            title=title,
            model=model_label(r.model_name or "?"),
            status=r.damaged or run_status(r, jobs),
            vs_persistence=persistence_mark(r.metrics),
            dataset=_run_dataset_title(r.config, here),
            epochs=len(r.history),
            best_val_loss=best_val_loss(r),
            device=str(r.config.get("device", "")),
            id=r.id,
        )
        for r, title in zip(runs, run_titles(runs), strict=True)
    ]


def _run_dataset_title(config: dict[str, Any], here: dict[str, str]) -> str:
    """The name of the dataset a run was trained on as the Data page shows it now (renames
    included), ``"… (deleted)"`` when its file is gone, '' for a run that records none."""
    from core.names import data_config_label

    name = run_dataset_name(config)
    if name in here:
        return here[name]
    stored = (config.get("dataset") or {}).get("config")
    return f"{data_config_label(stored)} (deleted)" if stored and name else ""


def run_metric_rows(run: Any) -> list[dict[str, Any]]:
    """A run's metrics.json as readable rows (what, value, persistence where recorded).

    Accuracy rows carry the persistence baseline ("next frame = this frame") beside them
    when the run recorded it; numbers have 3 significant digits.
    """
    from core.names import significant

    m = run.metrics or {}
    rows: list[dict[str, Any]] = []
    for key, title in (
        ("test_future", f"rollout RMSE, {split_title('future')}"),
        ("test_domain", f"rollout RMSE, {split_title('domain')}"),
    ):
        part = m.get(key)
        if isinstance(part, dict) and part.get("rmse") is not None:
            rows.append(
                {
                    "what": title,
                    "value": significant(part["rmse"]),
                    "persistence": significant(part.get("persistence_rmse")),
                }
            )
    ee = m.get("equivariance_error") if isinstance(m.get("equivariance_error"), dict) else {}
    simple = (
        ("best validation loss", m.get("best_val_loss")),
        ("best epoch", m.get("best_epoch")),
        ("epochs run", m.get("epochs_run")),
        ("model equivariance error", ee.get("mean")),
        ("relative model equivariance error", ee.get("relative_mean")),
        ("data equivariance error", m.get("data_equivariance_error")),
    )
    rows += [
        {"what": what, "value": significant(v), "persistence": ""} for what, v in simple if v is not None
    ]
    return rows


def run_metrics_csv(run: Any) -> bytes:
    """The run's scalar metrics (nested keys joined by '.') as a two-column CSV, led by rows
    that say which run it is (name, id, model, dataset), so the file describes itself, and
    followed by its loss history (core.train.curves.history_rows: per epoch, then per step)."""
    from core.names import run_label
    from core.train.curves import history_rows

    here = {e.name: e.label for e in dataset_entries()}
    flat: list[dict[str, Any]] = [
        {"metric": "run", "value": run_label(run.config)},
        {"metric": "run_id", "value": run.id},
        {"metric": "model", "value": run.model_name or ""},
        {"metric": "dataset", "value": _run_dataset_title(run.config, here)},
    ]

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(f"{prefix}.{i}", v)
        else:
            flat.append({"metric": prefix, "value": value})

    walk("", run.metrics or {})
    return csv_bytes(flat + history_rows(run.history))


def run_file(run_id: str, role: str = "checkpoint") -> bytes:
    """The bytes of a run's file (``role``: "checkpoint" or "history"), for a download button."""
    from core.store.runs import find_run_dir

    names = {"checkpoint": "checkpoint.pt", "history": "history.json"}
    if role not in names:
        raise ValueError(f"role must be one of {sorted(names)}, got {role!r}")
    run_dir, _ = find_run_dir(run_id)
    return (run_dir / names[role]).read_bytes()


def run_model_summary(run_id: str) -> dict[str, Any]:
    """Rebuild a run's model from its checkpoint (weights only); return its name, parameter count, config."""
    from core.store.paths import check_name
    from core.train.checkpoints import load_run

    loaded = load_run(check_name(run_id, "run id"))
    return {
        "model": loaded.info.model_name,
        "parameters": int(sum(p.numel() for p in loaded.model.parameters())),
        "config": loaded.info.config.get("model_config"),
    }


def import_checkpoint(name: str, data: bytes) -> str:
    """Store an uploaded checkpoint as a new run in the data dir; return its run id.

    ``name`` is the browser's file name: only its last part is kept, and it must pass
    ``check_name``. The bytes are read weights-only and rebuilt into their model first
    (raising core.store.runs.CheckpointError for a bad file), so nothing is written for a
    rejected upload.
    """
    from core.store.paths import check_name
    from core.store.runs import new_run_dir, save_payload, write_run_json
    from core.train.checkpoints import load_checkpoint_file

    name = check_name(Path(str(name)).name, "uploaded file name")
    _model, payload = load_checkpoint_file(bytes(data), name=f"uploaded file {name!r}")
    run_id, run_dir = new_run_dir("upload")
    cfg = payload["model_config"]
    try:
        save_payload(run_dir / "checkpoint.pt", payload)
        write_run_json(
            run_dir, {"status": "done", "model_config": cfg, "source": "upload", "uploaded_name": name}
        )
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # the folder is ours and new: leave no half run
        raise
    return run_id


def resume_run(run_id: str, epochs: int | None = None) -> str:
    """Queue the continuation of run ``run_id`` from its last.pt (for a run whose job is no
    longer in the registry, e.g. after it was rebuilt); return the new job's id."""
    return queue.queue_call(queue.runner().resume_run, check_name(run_id, "run id"), epochs)


def checkpoint_version(run_ids: tuple[str, ...] | list[str]) -> tuple[float, ...]:
    """A cache key for views of these runs' weights: each one's checkpoint version
    (:func:`core.service.common.file_version`; 0 for a run not found)."""
    from core.store.runs import find_run_dir

    out = []
    for run_id in run_ids:
        try:
            run_dir, _ = find_run_dir(run_id)
        except (OSError, ValueError):
            out.append(0.0)
            continue
        out.append(file_version(run_dir / "checkpoint.pt"))
    return tuple(out)
