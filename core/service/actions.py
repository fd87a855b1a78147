"""What the dashboard asks the engine to do: start, watch, stop and resume background jobs.

Every config is built (and so validated) here, once, from the page's values; bad values
raise ValueError naming the field, and nothing starts. One JobRunner per server process
keeps the workers it started and reaps them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.store.paths import check_name

#: What the Train page calls each TrainConfig / ModelConfig field it sets.
TRAIN_FORM_LABELS = {
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "lr": "Learning rate",
    "hidden": "Hidden channels",
    "input_frames": "Input frames",
    "rollout_steps": "Loss steps",
    "alpha": "RSteer alpha",
    "max_train_windows": "Max training windows",
    "window_weighting": "Window weighting",
    "relaxed_hold": "RSteer symmetric start",
    "smoke": "Models see the smoke",
}
#: What the Figure-4 page's sweep form calls each SweepConfig field it sets.
SWEEP_FORM_LABELS = {
    "levels": "Buoyancy differences",
    "models": "Models",
    "epochs": "Epochs",
    "grid": "Grid",
    "frames": "Frames per simulation",
    "preset": "Preset",
    "relaxed_hold": "RSteer symmetric start",
    "seeds": "Training seeds",
    "patterns": "Breaking patterns",
}


#: What the Data page's generation form calls each DataConfig field it sets.
DATA_FORM_LABELS = {
    "buoyancy_diff": "Buoyancy difference",
    "breaking": "Breaking pattern",
    "grid": "Grid",
    "frames": "Frames",
    "sims": "Sims per orientation",
    "warmup": "Warm-up steps",
    "seed": "Seed",
}

#: The ranges each page form accepts, per config field: ``(lowest, highest)``. Tighter than
#: the configs' own where a browser should not start more work than a lesson needs. The
#: forms' number fields carry no bounds of their own: Streamlit marks a number outside a
#: field's bounds red and keeps the last valid one without a word, so the check is here,
#: where it can say what was wrong.
DATA_FORM_RANGES = {"frames": (8, 300), "sims": (1, 16), "warmup": (0, 500), "seed": (0, 2**31 - 1)}
TRAIN_FORM_RANGES = {
    "epochs": (1, 500),
    "batch_size": (4, 256),
    "lr": (1e-6, 1.0),
    "hidden": (4, 256),
    "input_frames": (1, 10),
    "rollout_steps": (1, 10),
    "alpha": (0.0, 1.0),
    "max_train_windows": (0, 100_000),
    "window_weighting": (0.0, 100.0),
    "relaxed_hold": (0, 499),
}
#: A sweep's frames have no lower bound here: the SweepConfig says the exact minimum its models need.
#: Seeds: 1 to core.sweep.config.MAX_SEEDS.
SWEEP_FORM_RANGES = {"epochs": (1, 200), "frames": (2, 200), "relaxed_hold": (0, 199), "seeds": (1, 10)}


def check_ranges(values: Mapping[str, Any], ranges: Mapping[str, tuple], labels: Mapping[str, str]) -> None:
    """Raise ValueError naming the form field of the first value outside its range, e.g.
    "Frames must be between 8 and 300, got 5". Values that are None are left to the config."""
    for field, (low, high) in ranges.items():
        value = values.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{labels[field]} must be a number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{labels[field]} must be between {low:g} and {high:g}, got {value:g}")


def ranges_text(ranges: Mapping[str, tuple], labels: Mapping[str, str], fields: list[str]) -> str:
    """``"Frames 8-300, Sims per orientation 1-16"``: a form's ranges, for its caption."""
    return ", ".join(f"{labels[f]} {ranges[f][0]:g}-{ranges[f][1]:g}" for f in fields)


def in_form_words(message: str, labels: Mapping[str, str]) -> str:
    """Return ``message`` with each config field name it mentions replaced by the form's label.

    Why: configs name their fields ("rollout_steps must be..."), which a CLI user types but a
    page user never sees; the page shows "Loss steps must be...". Whole words only.
    """
    if not labels:
        return message
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, labels)) + r")\b")
    return pattern.sub(lambda m: labels[m.group(1)], message)


def runner():
    """The server's one core.jobs.JobRunner for the current data directory (created on first use)."""
    from core.store.paths import data_dir

    return _runner_for(str(data_dir() / "registry.sqlite"))


@functools.cache
def _runner_for(registry_path: str):
    from core.jobs import JobRunner
    from core.store.registry import Registry

    return JobRunner(Registry(registry_path))


class AlreadyQueued(ValueError):
    """The work asked for is already queued or running (a second click): nothing new started.
    Not a problem with the settings, so pages show it as a note, not as an error."""


def _queue(start, *args: Any) -> str:
    """``start(*args)`` (a JobRunner method that queues a job), with a refused duplicate (a
    double click) told in the page's words: which job already does it, by name, not id."""
    from core.service.views import job_title
    from core.store.registry import JobConflict

    try:
        return start(*args)
    except JobConflict as exc:
        raise AlreadyQueued(f"Not started twice: {job_title(exc.job)} is already {exc.job.status}.") from exc


def _submit(kind: str, params: dict[str, Any]) -> str:
    from core.service.generation import runs_in_process

    if runs_in_process(kind, params):  # a few seconds of work: no worker process to start
        from core.jobs.here import submit_here

        return _queue(submit_here, runner(), kind, params)
    return _queue(runner().submit, kind, params)


def list_jobs(limit: int = 100) -> list:
    """Jobs from the SQLite registry, newest first (core.store.registry.JobRecord).

    Every call supervises: a job whose worker died (kill -9, out of memory) or stopped
    answering is marked ``interrupted`` here, its reason in ``job.error``, and its slot freed.
    """
    return runner().list(limit)


def cancel_job(job_id: str):
    """Stop a job (cancel flag, then signals); return its final record.

    A job whose worker is already dead comes back ``interrupted`` (so it can be resumed)."""
    return runner().cancel(check_name(job_id, "job id"))


def resume_job(job_id: str, epochs: int | None = None) -> str:
    """Queue the continuation of a stopped (interrupted, cancelled) training job's run from its
    last.pt; return the new job's id. ``epochs``: new total epoch count (optional).
    ValueError says why a job cannot be resumed (still running, no run, done)."""
    return _queue(runner().resume, check_name(job_id, "job id"), epochs)


def resume_run(run_id: str, epochs: int | None = None) -> str:
    """Queue the continuation of run ``run_id`` from its last.pt (for a run whose job is no
    longer in the registry, e.g. after it was rebuilt); return the new job's id."""
    return _queue(runner().resume_run, check_name(run_id, "run id"), epochs)


def job_run_id(job) -> str | None:
    """The run a training or resume job trains, or None (core.jobs.runner.job_run_id)."""
    from core.jobs.runner import job_run_id as run_of

    return run_of(job)


def job_problem(job) -> str | None:
    """What went wrong with a job, for the page: its stored error (divergence reason, the
    reason it was interrupted, a failure's exception), or None for a job without one."""
    if job.error:
        return str(job.error)
    result = job.result or {}
    return str(result["error"]) if result.get("error") else None


def submit_dataset(config) -> str:
    """Start a background generation job for a core.data.DataConfig; return the job id."""
    return _submit("data", {"data_config": config.to_dict()})


def existing_dataset(config) -> str | None:
    """The file name of the data directory's dataset made with exactly ``config``, or None."""
    from core.data import load_dataset
    from core.data.cache import dataset_path
    from core.data.store import DatasetFileError

    path = dataset_path(config)
    try:
        return path.name if path.is_file() and load_dataset(path).config == config else None
    except DatasetFileError:
        return None  # a damaged file: generating again replaces it


def dataset_config(**settings: Any):
    """Return the core.data.DataConfig of the page's settings over the ``cpu`` sweep preset's
    data settings (its base buoyancy among them), so a page-made dataset behaves like the
    shipped ones. ValueError names a bad field."""
    from core.data import DataConfig
    from core.sweep import PRESETS

    check_ranges(settings, DATA_FORM_RANGES, DATA_FORM_LABELS)
    try:
        return DataConfig(**{**PRESETS["cpu"]["data"], **settings})
    except ValueError as exc:
        raise ValueError(in_form_words(str(exc), DATA_FORM_LABELS)) from exc


def submit_training(
    dataset_path: str | Path,
    models: list[str],
    *,
    hidden: int = 0,
    input_frames: int = 1,
    alpha: float = 0.0,
    smoke: bool = False,
    **train_options: Any,
) -> list[str]:
    """Start one background training job per model on the dataset file; return the job ids.

    ``hidden`` 0 keeps each model's default width; ``alpha`` applies to relaxed models only;
    ``smoke``: the models see the smoke (core.models.ModelConfig.smoke);
    ``train_options`` are core.train.trainer.TrainConfig fields, over the ``cpu`` sweep preset's.
    Every config is built (and so validated) before any job starts: bad settings raise
    ValueError and start nothing. A model whose identical training is already queued or
    running is not started again; :class:`AlreadyQueued` when that leaves nothing to start.
    """
    from core.models import ModelConfig, model_spec
    from core.train.trainer import TrainConfig

    if not models:
        raise ValueError("Models: pick at least one model")
    from core.sweep import PRESETS

    check_ranges(
        {**train_options, "hidden": hidden or None, "input_frames": input_frames, "alpha": alpha},
        TRAIN_FORM_RANGES,
        TRAIN_FORM_LABELS,
    )

    try:
        # The page's values over the cpu preset's, so a default run trains the way the shipped runs did.
        train_config = TrainConfig.from_dict({**PRESETS["cpu"]["train"], **train_options}).to_dict()
        params = []
        for name in models:
            options: dict[str, Any] = {"input_frames": int(input_frames), "smoke": smoke}
            if hidden:
                options["hidden"] = int(hidden)
            if model_spec(name).relaxed:
                options["alpha"] = float(alpha)
            model_config = ModelConfig.for_model(name, **options).to_dict()
            params.append(
                {"data_path": str(dataset_path), "model_config": model_config, "train_config": train_config}
            )
        _check_windows(dataset_path, model_config, train_config)
    except ValueError as exc:
        raise ValueError(in_form_words(str(exc), TRAIN_FORM_LABELS)) from exc
    started, already = [], []
    for p in params:  # a model whose job already runs is skipped; the others start
        try:
            started.append(_submit("train", p))
        except AlreadyQueued as exc:
            already.append(str(exc))
    if not started:
        raise AlreadyQueued(" ".join(already))
    return started


def _check_windows(dataset_path: str | Path, model_config: dict, train_config: dict) -> None:
    """Raise ValueError (before any job starts) if the dataset is too short for these windows."""
    from core.models import ModelConfig
    from core.service.views import dataset_config_of
    from core.train.samples import make_splits
    from core.train.trainer import TrainConfig, split_spec

    stored = dataset_config_of(dataset_path)
    if stored is None:
        raise ValueError(f"the dataset {Path(dataset_path).name} cannot be read")
    from core.data import DataConfig

    data_config = DataConfig.from_dict(stored)
    spec = split_spec(ModelConfig.from_dict(model_config), TrainConfig.from_dict(train_config), data_config)
    make_splits(data_config.sims, data_config.frames, spec)


def submit_sweep(engine: str = "local", address: str | None = None, **settings: Any) -> str:
    """Start a background Figure-4 sweep (core.sweep.SweepConfig fields); return its job id.

    ``engine``: 'local' (this machine, one training after another) or 'ray' (each training a
    Ray task; ``address`` a cluster, None a local Ray).
    """
    from core.sweep import SweepConfig

    if "models" in settings and not settings["models"]:
        raise ValueError("Models: pick at least one model")  # the Train form's words
    if "patterns" in settings and not settings["patterns"]:
        raise ValueError("Breaking patterns: pick at least one pattern")
    flat = {**(settings.get("data") or {}), **(settings.get("train") or {}), "seeds": settings.get("seeds")}
    check_ranges(flat, SWEEP_FORM_RANGES, SWEEP_FORM_LABELS)
    try:
        sweep_config = SweepConfig(**settings)
    except ValueError as exc:
        raise ValueError(in_form_words(str(exc), SWEEP_FORM_LABELS)) from exc
    params: dict[str, Any] = {"sweep_config": sweep_config.to_dict(), "engine": engine}
    if address:
        params["address"] = address
    return _submit("sweep", params)


def sweep_resume_refusal(sweep_id: str) -> str | None:
    """Why sweep ``sweep_id`` cannot be continued now (finished, still running, shipped), or None
    when a Resume button may be offered (core.sweep.results.resume_refusal)."""
    from core.sweep.results import resume_refusal

    return resume_refusal(sweep_id)


def resume_sweep(sweep_id: str) -> str:
    """Queue the continuation of a stopped sweep (interrupted, cancelled, failed) as a 'sweep'
    job: its finished (level, model) rows are kept, the others trained with its own settings, on
    the engine it last ran on. Return the job's id; ValueError says why it cannot."""
    from core.sweep.results import read_record, sweep_folder

    reason = sweep_resume_refusal(check_name(sweep_id, "sweep id"))
    if reason:
        raise ValueError(f"Cannot resume: {reason}")
    record = read_record(sweep_folder(sweep_id))
    params: dict[str, Any] = {"resume": sweep_id, "sweep_config": record.get("config") or {}}
    params["engine"] = "ray" if record.get("engine") == "ray" else "local"
    if params["engine"] == "ray" and record.get("address"):
        params["address"] = record["address"]
    return _submit("sweep", params)


def job_dataset_path(job) -> Path | None:
    """The dataset file a finished generation job made (from its stored result), or None."""
    path = (job.result or {}).get("dataset_path")
    return Path(path) if path and Path(path).is_file() else None


def job_history(job) -> dict[str, list[float]]:
    """Loss series so far of a training job (its run's history.json), or {}."""
    from core.service.views import history_series
    from core.store.runs import find_run_dir, read_run

    if not job.run_id:
        return {}
    try:
        run_dir, shipped = find_run_dir(job.run_id)
        return history_series(read_run(run_dir, shipped).history)
    except (OSError, ValueError):
        return {}


def device_name() -> str:
    """The device background jobs train on: ``cuda (<GPU name>)`` when a GPU is visible, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"
