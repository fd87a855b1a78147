"""Cached access to core for the pages.

Everything that reads a file or computes is cached on (path, modification time),
so a rerun (a widget change, a fragment tick) costs a dictionary lookup. Heavy
modules (torch, phiflow) are imported inside the functions that need them, so
the landing page does not wait for them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from core import views
from core.paths import check_name
from dashboard import figures


def mtime(path: str | os.PathLike) -> float:
    """Modification time of a file, or the newest of a folder's direct children (0 if missing)."""
    p = Path(path)
    try:
        if p.is_dir():
            return max([p.stat().st_mtime] + [c.stat().st_mtime for c in p.iterdir()])
        return p.stat().st_mtime
    except OSError:
        return 0.0


# ------------------------------------------------------------------ listings


def dataset_entries() -> list[views.Entry]:
    """Datasets in the data dir and the shipped assets (a directory scan: cheap, not cached)."""
    return views.dataset_entries()


def sweep_entries() -> list[views.Entry]:
    """Sweep folders, shipped first."""
    return views.sweep_entries()


@st.cache_data(show_spinner=False)
def sweep_curves(path: str, stamp: float) -> dict[str, tuple[list[float], list[float]]]:
    """``{model: (data_errors, model_errors)}`` of the sweep in ``path`` (``stamp`` keys the cache)."""
    return views.sweep_curves(path)


@st.cache_resource(show_spinner=False)
def _model_names() -> tuple[str, ...]:
    from core.models import MODEL_NAMES

    return tuple(MODEL_NAMES)


def model_names() -> list[str]:
    """The registry's model names (``convnet``, ``e2cnn``, ``rsteer``)."""
    return list(_model_names())


@st.cache_resource(show_spinner=False)
def device_name() -> str:
    """The device background jobs train on: ``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


# ---------------------------------------------------------------------- jobs


def _registry():
    from core.registry import Registry

    return Registry()


@st.cache_resource(show_spinner=False)
def _runner():
    """One JobRunner per server: it keeps the worker processes it started, and reaps them."""
    from core.jobs import JobRunner

    return JobRunner()


def list_jobs() -> list:
    """Jobs from the SQLite registry, newest first (not cached: they change while we watch)."""
    return _registry().list_jobs(limit=100)


def cancel_job(job_id: str) -> None:
    """Ask a job to stop."""
    _runner().cancel(check_name(job_id, "job id"))


def job_history(job) -> dict[str, list[float]]:
    """Loss series so far of a training job (from its run's history.json), or {}."""
    if not job.run_id:
        return {}
    from core.runs import find_run_dir, read_run

    try:
        run_dir, shipped = find_run_dir(job.run_id)
        return views.history_series(read_run(run_dir, shipped).history)
    except (OSError, ValueError):
        return {}


def submit_dataset(**settings: Any) -> str:
    """Start a background dataset-generation job; return its id. Bad settings raise ValueError."""
    from core.data import DataConfig

    config = DataConfig(**_data_options(settings))
    return _runner().submit("data", {"data_config": config.to_dict()})


def dataset_of_job(job) -> views.Entry | None:
    """The dataset a finished generation job made (from its recorded config), or None."""
    from core.data import DataConfig, dataset_path

    try:
        path = dataset_path(DataConfig.from_dict(job.params.get("data_config") or {}))
    except ValueError:
        return None
    return next((e for e in views.dataset_entries() if e.path == path), None)


def _data_options(settings: dict[str, Any]) -> dict[str, Any]:
    names = {
        "buoyancy_diff": "buoyancy_diff",
        "grid": "grid",
        "frames": "frames",
        "sims": "sims",
        "seed": "seed",
    }
    return {names[k]: v for k, v in settings.items() if k in names}


def submit_training(
    dataset: views.Entry,
    models: list[str],
    *,
    hidden: int = 0,
    input_frames: int = 1,
    alpha: float = 0.0,
    **train_options: Any,
) -> list[str]:
    """Start one background training job per model on ``dataset``; return the job ids.

    ``hidden`` 0 keeps each model's default width; ``alpha`` applies to RSteer only;
    ``train_options`` are core.trainer.TrainConfig fields. Every config is built (and so
    validated) before any job starts: bad settings raise ValueError and start nothing.
    """
    from core.models import ModelConfig
    from core.trainer import TrainConfig

    train_config = TrainConfig(**train_options).to_dict()
    params = []
    for name in models:
        options: dict[str, Any] = {"input_frames": int(input_frames)}
        if hidden:
            options["hidden"] = int(hidden)
        if name == "rsteer":
            options["alpha"] = float(alpha)
        model_config = ModelConfig.for_model(name, **options).to_dict()
        params.append(
            {"data_path": str(dataset.path), "model_config": model_config, "train_config": train_config}
        )
    return [_runner().submit("train", p) for p in params]


def submit_sweep(**settings: Any) -> str:
    """Start a background Figure-4 sweep; return its job id. Bad settings raise ValueError."""
    from core.sweep import SweepConfig

    config = SweepConfig(**settings)
    return _runner().submit("sweep", {"sweep_config": config.to_dict()})


# ---------------------------------------------------------------------- data


@st.cache_resource(show_spinner=False, max_entries=4)
def _dataset(path: str, stamp: float):
    from core.data import load_dataset

    return load_dataset(Path(path))


@st.cache_data(show_spinner=False, max_entries=16)
def dataset_summary(path: str, stamp: float) -> dict[str, Any]:
    """Shape, settings and data equivariance error of the dataset file at ``path``."""
    ds = _dataset(path, stamp)
    cfg = ds.config.to_dict() if hasattr(ds.config, "to_dict") else dict(ds.config)
    _, sims, frames, _, n, _ = ds.velocity.shape
    return {
        "data_ee": float(ds.data_equivariance_error),
        "buoyancy_diff": float(cfg.get("buoyancy_diff", float("nan"))),
        "grid": int(n),
        "sims": int(sims),
        "frames": int(frames),
        "config": cfg,
    }


@st.cache_resource(show_spinner=False, max_entries=8)
def orientations_figure(path: str, stamp: float, sim: int, view: str):
    """Animated four-orientation figure of simulation ``sim`` (cached per file version)."""
    ds = _dataset(path, stamp)
    sim = min(max(int(sim), 0), ds.velocity.shape[1] - 1)
    return figures.orientations_figure(ds.smoke[:, sim], ds.velocity[:, sim], view=view)


@st.cache_resource(show_spinner=False, max_entries=8)
def symmetry_map_figure(path: str, stamp: float):
    """Animated map of where the rotated-back orientations differ."""
    from core.symmetry import data_equivariance_map

    return figures.symmetry_map_figure(data_equivariance_map(_dataset(path, stamp).velocity))


# ---------------------------------------------------------------------- runs


def list_runs() -> list:
    """Every run (data dir, then shipped), as core.runs.RunInfo."""
    from core.runs import list_runs as _list

    return _list()


def run_label(run) -> str:
    """Short name of a run for select boxes: model, id, and '(shipped)'."""
    return f"{run.model_name or '?'} · {run.id}{' (shipped)' if run.shipped else ''}"


def run_rows(runs: list) -> list[dict[str, Any]]:
    """Table rows for the runs list: id, model, dataset, status, device, a headline metric."""
    rows = []
    for r in runs:
        metrics = r.metrics or {}
        rows.append(
            {
                "run": r.id,
                "model": r.model_name or "",
                "status": r.status,
                "device": str(r.config.get("device", "")),
                "dataset": views.run_dataset_name(r.config) or "",
                "epochs": len(r.history),
                "shipped": r.shipped,
                "val loss": _first_number(metrics, ("best_val_loss", "val_loss")),
            }
        )
    return rows


def _first_number(d: dict, keys: tuple[str, ...]) -> float | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, int | float):
            return float(v)
    return None


def history_series(history: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Loss series of a run's history (see core.views.history_series)."""
    return views.history_series(history)


@st.cache_data(show_spinner="Loading the checkpoint...", max_entries=32)
def load_run_summary(run_id: str, stamp: float) -> dict[str, Any]:
    """Rebuild a run's model from its checkpoint (weights only); return name and parameter count."""
    from core.runs import load_run

    loaded = load_run(check_name(run_id, "run id"))
    return {
        "model": loaded.info.model_name,
        "parameters": int(sum(p.numel() for p in loaded.model.parameters())),
        "config": loaded.info.config.get("model_config"),
    }


def import_checkpoint(filename: str, data: bytes) -> str:
    """Check an uploaded checkpoint and store it as a new run; return the run id.

    The browser's file name is only used after ``check_name``; the file is read
    weights-only and rebuilt into its model before anything is written, so a bad
    file is rejected with a CheckpointError and leaves nothing behind.
    """
    safe = check_name(Path(filename).name, "uploaded file name")
    return views.import_checkpoint(safe, data)


@st.cache_resource(show_spinner=False, max_entries=16)
def compare_figures(
    runs: tuple[tuple[str, float], ...], split: str, sim: int, orientation: int
) -> dict[str, Any]:
    """The Compare page's plotly figures for :func:`compare`'s result (built once per choice)."""
    result = compare(runs, split, sim, orientation)
    if not result["predictions"]:
        return {}
    return {
        "rollout": figures.rollout_figure(result["truth"], result["predictions"]),
        "errors": figures.error_maps_figure(result["truth"], result["predictions"]),
        "rmse": figures.line_figure(
            result["rmse"], title="RMSE per rollout step", xaxis_title="step", yaxis_title="RMSE"
        ),
        "equivariance": figures.per_element_figure(result["equivariance"]),
    }


@st.cache_data(show_spinner="Rolling out the models...", max_entries=16)
def compare(runs: tuple[tuple[str, float], ...], split: str, sim: int, orientation: int) -> dict[str, Any]:
    """Side-by-side comparison of ``runs`` ((run id, checkpoint mtime) pairs); see core.views.compare_runs."""
    return views.compare_runs([run_id for run_id, _ in runs], split, sim, orientation)
