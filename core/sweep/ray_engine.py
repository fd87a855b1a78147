"""Running a sweep on Ray: each (level, model) training is a Ray task; no shared file system.

One task per level makes the dataset (skipped when the head's cache already holds it) and
hands its file's bytes, with the data equivariance error, straight to the training tasks
of that level. A training task asks for one GPU when the cluster has GPUs (one CPU
otherwise), trains in a temporary data directory on its worker, and returns the run
folder's files as bytes with its TrainResult. The head (this process) writes the dataset
and run folders into its own data directory (``datasets/``, ``runs/<run_id>/``) and the
sweep's results.json / results.csv exactly as the local engine does.

    python -m core.sweep --levels 0,0.5 --models convnet,rsteer --engine ray [--address HOST:PORT]

Without an address a local Ray is started (loopback only, no dashboard) and shut down at
the end; a Ray already initialised in this process is used as it is. With an address the
cluster's workers need this project's Python packages (torch, e2cnn, phiflow, h5py);
the ``core`` package itself is shipped with the job.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from core.models.registry import model_label
from core.store.atomic import write_bytes
from core.store.paths import DATA_DIR_ENV, PROJECT_ROOT, data_dir, inside
from core.sweep.config import SweepConfig
from core.sweep.results import new_record, result_row, start_sweep_dir, write_results
from core.sweep.run import SweepResult

#: The run folder files a training task sends back (last.pt, the resume state, stays behind).
RUN_FILES = ("run.json", "checkpoint.pt", "history.json", "metrics.json", "evaluation.npz")
#: Seconds between checks of ``should_stop`` while waiting for tasks.
POLL_S = 0.5


# ------------------------------------------------------------- worker side


class _TempDataDir:
    """Point APPROXSYM_DATA_DIR at a fresh temporary folder for the duration of a task."""

    def __enter__(self) -> Path:
        self._tmp = tempfile.TemporaryDirectory(prefix="approxsym-ray-")
        self._old = os.environ.get(DATA_DIR_ENV)
        os.environ[DATA_DIR_ENV] = self._tmp.name
        return Path(self._tmp.name)

    def __exit__(self, *exc) -> None:
        if self._old is None:
            os.environ.pop(DATA_DIR_ENV, None)
        else:
            os.environ[DATA_DIR_ENV] = self._old
        self._tmp.cleanup()


def make_dataset_task(data_config: dict[str, Any]) -> dict[str, Any]:
    """Ray task: simulate one level's dataset; return its file name and bytes (both data EEs are in it)."""
    from core.data import DataConfig, ensure_dataset

    with _TempDataDir():
        path = ensure_dataset(DataConfig.from_dict(data_config))
        return {"name": path.name, "bytes": path.read_bytes()}


def train_task(dataset: dict[str, Any], model_config: dict[str, Any], train_config: dict[str, Any]) -> dict:
    """Ray task: train one model on ``dataset`` (make_dataset_task's output) in a temporary
    data directory; return ``{"result": TrainResult, "files": {name: bytes}, "seconds"}``."""
    from core.models import ModelConfig
    from core.train.trainer import TrainConfig, train

    with _TempDataDir() as tmp:
        path = inside(tmp, "datasets", dataset["name"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(dataset["bytes"])
        t0 = time.perf_counter()
        result = train(path, ModelConfig.from_dict(model_config), TrainConfig.from_dict(train_config))
        seconds = time.perf_counter() - t0
        files = {n: (result.run_dir / n).read_bytes() for n in RUN_FILES if (result.run_dir / n).is_file()}
    return {"result": result, "files": files, "seconds": seconds}


# --------------------------------------------------------------- head side


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Make sure Ray is initialised; return True if this call started it (then shut it down).

    ``address`` None starts a local Ray with ``num_cpus`` (default: this machine's CPUs),
    no dashboard and its node on 127.0.0.1; otherwise the cluster at ``address`` is joined
    and the ``core`` package is shipped to its workers.
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine
    if address is None:
        ray.init(
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            runtime_env={"env_vars": {"PYTHONPATH": str(PROJECT_ROOT)}},
            log_to_driver=False,
        )
    else:
        ray.init(
            address=address,
            runtime_env={"py_modules": [str(PROJECT_ROOT / "core")], "excludes": ["__pycache__"]},
            log_to_driver=False,
        )
    return True


def run_sweep_ray(
    config: SweepConfig,
    progress=None,
    should_stop=None,
    root: Path | None = None,
    sweep_id: str | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
) -> SweepResult:
    """Run ``config`` as Ray tasks; same results and files as :func:`core.sweep.run_sweep`.

    ``progress`` is called as tasks finish; ``should_stop()`` is polled between
    completions (every ``POLL_S`` seconds) and cancels the remaining tasks.
    """
    import ray

    started = connect(address, num_cpus)
    try:
        return _run(ray, config, progress or (lambda *a, **k: None), should_stop, root, sweep_id, address)
    finally:
        if started:
            ray.shutdown()


def _run(ray, config: SweepConfig, report, should_stop, root, sweep_id, address) -> SweepResult:
    from core.data import dataset_path, load_dataset

    sweep_id, out = start_sweep_dir(root, sweep_id)
    record = new_record(sweep_id, config, engine="ray", address=address)
    rows: list[dict[str, Any]] = []
    write_results(out, record, rows)

    tcfg = config.train_config().to_dict()
    use_gpu = ray.cluster_resources().get("GPU", 0) >= 1 and tcfg["device"].split(":")[0] in ("auto", "cuda")
    if use_gpu:
        tcfg["device"] = "cuda"  # Ray shows each task only the GPU it was given
    make = ray.remote(num_cpus=1)(make_dataset_task)
    fit = ray.remote(num_gpus=1, num_cpus=0)(train_task) if use_gpu else ray.remote(num_cpus=1)(train_task)

    pending: dict[Any, tuple[int, int]] = {}  # training task -> (level index, model index)
    data_refs: dict[int, Any] = {}  # level index -> its dataset task, until the head has stored it
    levels: dict[int, Path] = {}  # level index -> the head's dataset path
    for i, level in enumerate(config.levels):
        dcfg = config.data_config(level)
        cached = dataset_path(dcfg)
        if _valid(cached, dcfg, load_dataset):
            dataset = ray.put({"name": cached.name, "bytes": cached.read_bytes()})
            levels[i] = cached
        else:
            dataset = data_refs[i] = make.remote(dcfg.to_dict())
        for j, name in enumerate(config.models):
            pending[fit.remote(dataset, config.model_config(name).to_dict(), tcfg)] = (i, j)

    total = len(config.levels) * (1 + len(config.models))
    done = [len(levels)]
    status = "done"
    report(done[0] / total, f"{len(pending) + len(data_refs)} Ray tasks submitted")

    def take_dataset(i: int) -> None:
        value = ray.get(data_refs.pop(i))
        path = inside(data_dir(), "datasets", value["name"])
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, value["bytes"])
        levels[i] = path
        done[0] += 1
        report(done[0] / total, f"dataset for buoyancy difference {config.levels[i]:g}: made")

    try:
        while pending or data_refs:
            if should_stop is not None and should_stop():
                status = "cancelled"
                break
            ready, _ = ray.wait([*data_refs.values(), *pending], num_returns=1, timeout=POLL_S)
            for ref in ready:
                for i in [i for i, r in data_refs.items() if r == ref]:
                    take_dataset(i)
                if ref not in pending:
                    continue
                i, j = pending.pop(ref)
                value = ray.get(ref)
                if i in data_refs:  # its dataset finished first; store that before the run
                    take_dataset(i)
                path = levels[i]
                result = _store_run(value, path)
                level, name = config.levels[i], config.models[j]
                row = result_row(level, name, result, value["seconds"], path.name)
                rows.append({**row, "_order": (i, j)})
                rows.sort(key=lambda r: r["_order"])
                write_results(out, record, _public(rows))
                done[0] += 1
                report(done[0] / total, f"level {level:g}, {model_label(name)}: {result.status}")
    except BaseException as exc:
        _cancel(ray, [*pending, *data_refs.values()])
        record.update(status="failed", finished=time.time(), error=f"{type(exc).__name__}: {exc}")
        write_results(out, record, _public(rows))
        raise
    if status == "cancelled":
        _cancel(ray, [*pending, *data_refs.values()])
    record.update(status=status, finished=time.time())
    rows = _public(rows)
    write_results(out, record, rows)
    return SweepResult(sweep_id=sweep_id, path=out, status=status, rows=rows)


def _valid(path: Path, dcfg, load_dataset) -> bool:
    """True if the head's cache holds a readable dataset of exactly ``dcfg``."""
    if not path.is_file():
        return False
    try:
        return load_dataset(path).config == dcfg
    except Exception:  # unreadable or foreign file: let a task make it again
        return False


def _public(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "_order"} for r in rows]


def _cancel(ray, refs: list) -> None:
    """Cancel tasks still queued or running (force: their worker processes are stopped)."""
    for ref in refs:
        with contextlib.suppress(Exception):  # already finished or gone
            ray.cancel(ref, force=True)


def _store_run(value: dict[str, Any], dataset: Path):
    """Write a training task's run files under the head's ``runs/<run_id>/``; return its
    TrainResult with ``run_dir`` pointing there. run.json is made to name the head's dataset."""
    import json

    from core.store.runs import runs_root, update_run_json

    result = value["result"]
    run_dir = inside(runs_root(), result.run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, data in value["files"].items():
        if name in RUN_FILES:
            write_bytes(run_dir / name, data)
    recorded = json.loads(value["files"]["run.json"]).get("dataset") or {}
    update_run_json(run_dir, dataset={**recorded, "path": str(dataset)})
    result.run_dir = run_dir
    return result
