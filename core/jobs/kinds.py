"""Each kind of background job, described once: its compute slot, its parameter check, its work.

A kind's ``run(ctx)`` does the work inside the worker process and returns the job's
structured result (``dataset_path``, ``run_id``, ``sweep_id`` as they apply, and
``status``), which the registry stores so nothing has to rebuild a config to find a file.
Adding a kind is one :class:`JobKind` entry in :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.progress import Progress


@dataclass
class JobContext:
    """What a running job gets from its worker: its id and params, progress, a stop flag, and
    ``record(**result)`` to store part of its result early (e.g. the run id once it exists)."""

    job_id: str
    params: dict[str, Any]
    progress: Progress
    should_stop: Callable[[], bool]
    record: Callable[..., None]


@dataclass(frozen=True)
class JobKind:
    """One kind of job: ``slot`` it needs ('compute' or 'data'), ``validate(params) -> params``
    (ValueError names the problem; runs before anything is queued), ``run(ctx) -> result dict``,
    and ``title(params) -> str``, a short human description."""

    name: str
    slot: str
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    run: Callable[[JobContext], dict[str, Any]]
    title: Callable[[dict[str, Any]], str]


# ------------------------------------------------------------------------ data


def _data_validate(params: dict[str, Any]) -> dict[str, Any]:
    from core.data import DataConfig

    DataConfig.from_dict(params.get("data_config") or {})
    return params


class _Stopped(Exception):
    """Raised from a data job's progress call once Cancel was asked: the simulation ends there,
    before anything is written (the file is written whole at the end, atomically)."""


def _data_run(ctx: JobContext) -> dict[str, Any]:
    from core.data import DataConfig, ensure_dataset

    def progress(fraction: float, message: str = "", **info: Any) -> None:
        # Why checked here: a job run in a thread of the server (JobRunner.submit(in_process=True))
        # cannot be stopped by a signal, so Cancel has to reach the simulation loop itself.
        if ctx.should_stop():
            raise _Stopped()
        ctx.progress(fraction, message, **info)

    try:
        path = ensure_dataset(DataConfig.from_dict(ctx.params["data_config"]), progress=progress)
    except _Stopped:
        return {"status": "cancelled"}
    return {"status": "done", "dataset_path": str(path)}


def _data_title(params: dict[str, Any]) -> str:
    from core.names import data_config_label

    return f"generate {data_config_label(params.get('data_config') or {})}"


# ----------------------------------------------------------------------- train


def _train_validate(params: dict[str, Any]) -> dict[str, Any]:
    from core.models import ModelConfig
    from core.train.config import TrainConfig

    if "data_path" not in params:
        raise ValueError("params: train needs 'data_path' (a dataset .h5 file)")
    if not Path(params["data_path"]).is_file():
        raise ValueError(f"data_path: no such file {params['data_path']!r}")
    ModelConfig.from_dict(params.get("model_config") or {})
    TrainConfig.from_dict(params.get("train_config") or {})
    return params


def _train_run(ctx: JobContext) -> dict[str, Any]:
    from core.models import ModelConfig
    from core.store.ownership import acquire
    from core.store.runs import new_run_dir
    from core.train.config import TrainConfig

    mcfg = ModelConfig.from_dict(ctx.params["model_config"])
    run_dir = new_run_dir(f"run-{mcfg.name}")[1]
    acquire(run_dir)  # the worker owns its run up to its final write (core.jobs.worker._finish)
    config = TrainConfig.from_dict(ctx.params.get("train_config") or {})
    return _train_in(ctx, ctx.params["data_path"], mcfg, config, run_dir, resume=False)


def _train_in(ctx: JobContext, data_path, mcfg, config, run_dir: Path, resume: bool) -> dict[str, Any]:
    from core.jobs.devices import pin_this_process
    from core.train.config import resolve_device
    from core.train.trainer import train

    pinned = pin_this_process(ctx.job_id, config.device)  # None without CUDA: nothing changes
    ctx.record(run_id=run_dir.name, device=pinned or str(resolve_device(config.device)))
    result = train(
        data_path, mcfg, config, run_dir=run_dir, resume=resume,
        progress=ctx.progress, should_stop=ctx.should_stop, job_id=ctx.job_id,
    )  # fmt: skip
    return {"status": result.status, "run_id": result.run_id, "error": result.error}


def _train_title(params: dict[str, Any]) -> str:
    from core.names import model_config_label

    return f"train {model_config_label(params.get('model_config') or {})}"


# ---------------------------------------------------------------------- resume


def _resume_validate(params: dict[str, Any]) -> dict[str, Any]:
    from core.store.runs import find_run_dir

    run_dir, shipped = find_run_dir(str(params.get("run_id", "")))
    if shipped or not (run_dir / "last.pt").is_file():
        raise ValueError(f"run_id: run {params.get('run_id')!r} has no resumable last.pt in data_dir()")
    epochs = params.get("epochs")
    if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
        raise ValueError(f"epochs: must be an integer >= 1, got {epochs!r}")
    return params


def _resume_run(ctx: JobContext) -> dict[str, Any]:
    from core.models import ModelConfig
    from core.store.ownership import acquire
    from core.store.runs import find_run_dir, read_run, update_run_json
    from core.train.config import TrainConfig

    run_dir, _ = find_run_dir(ctx.params["run_id"])
    acquire(run_dir)  # RunOwned while another live process trains it; held up to the final write
    info = read_run(run_dir)
    tcfg = info.config["train_config"]
    if ctx.params.get("epochs"):
        tcfg = {**tcfg, "epochs": int(ctx.params["epochs"])}
        update_run_json(run_dir, train_config=tcfg)
    mcfg = ModelConfig.from_dict(info.config["model_config"])
    data_path = info.config["dataset"]["path"]
    return _train_in(ctx, data_path, mcfg, TrainConfig.from_dict(tcfg), run_dir, resume=True)


def _resume_title(params: dict[str, Any]) -> str:
    return f"resume run {params.get('run_id')}"


# ----------------------------------------------------------------------- sweep


def _sweep_validate(params: dict[str, Any]) -> dict[str, Any]:
    """A new sweep ({"sweep_config", "engine", "address"}), or with "resume": SWEEP_ID the
    continuation of a stopped one (its config there too, for the title)."""
    from core.sweep import ENGINES, SweepConfig
    from core.sweep.ray_engine import check_address
    from core.sweep.results import resume_refusal

    SweepConfig.from_dict(params.get("sweep_config") or {})
    if params.get("engine", "local") not in ENGINES:
        raise ValueError(f"engine: must be one of {', '.join(ENGINES)}, got {params.get('engine')!r}")
    address = params.get("address")
    if address is not None and (not isinstance(address, str) or params.get("engine") != "ray"):
        raise ValueError(f"address: a Ray cluster address (with engine 'ray'), got {address!r}")
    if address is not None:
        check_address(address)
    if "resume" in params:
        reason = resume_refusal(str(params["resume"]))
        if reason:
            raise ValueError(f"resume: {reason}")
    return params


def _sweep_run(ctx: JobContext) -> dict[str, Any]:
    from core.store.paths import new_id
    from core.sweep import SweepConfig, resume_sweep, run_sweep

    sweep_id = ctx.params.get("resume") or new_id("sweep")
    ctx.record(sweep_id=sweep_id)
    config = SweepConfig.from_dict(ctx.params["sweep_config"])
    engine, address = ctx.params.get("engine", "local"), ctx.params.get("address")
    if engine == "local":  # a Ray sweep's tasks get their GPUs from Ray
        from core.jobs.devices import pin_this_process

        pinned = pin_this_process(ctx.job_id, config.train_config().device)
        if pinned:
            ctx.record(device=pinned)
    where = {"progress": ctx.progress, "should_stop": ctx.should_stop, "engine": engine, "address": address}
    if ctx.params.get("resume"):
        result = resume_sweep(sweep_id, **where)
    else:
        result = run_sweep(config, sweep_id=sweep_id, **where)
    return {"status": result.status, "sweep_id": result.sweep_id}


def _sweep_title(params: dict[str, Any]) -> str:
    from core.names import sweep_config_label

    label = sweep_config_label(params.get("sweep_config") or {})
    return f"resume {label}" if params.get("resume") else label


KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        JobKind("data", "data", _data_validate, _data_run, _data_title),
        JobKind("train", "compute", _train_validate, _train_run, _train_title),
        JobKind("resume", "compute", _resume_validate, _resume_run, _resume_title),
        JobKind("sweep", "compute", _sweep_validate, _sweep_run, _sweep_title),
    )
}


def job_kind(name: str) -> JobKind:
    """Return the JobKind called ``name``; ValueError lists the known kinds."""
    if name not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {name!r}")
    return KINDS[name]


def validate_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check a job's parameters before it is queued; return them (ValueError names the problem)."""
    spec = job_kind(kind)
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict, got {type(params).__name__}")
    return spec.validate(params)
