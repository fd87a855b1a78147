"""Running a sweep on Ray: each training of the sweep's plan is a Ray task; no shared file system.

One task per (pattern, level) makes the dataset (skipped when the head's cache already holds it) and
hands its file's bytes, with the data equivariance error, straight to the training tasks
of that dataset. A training task asks for one GPU when the cluster has GPUs (one CPU
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.progress import no_progress
from core.store.atomic import write_bytes
from core.store.paths import DATA_DIR_ENV, PROJECT_ROOT, data_dir, inside
from core.sweep.config import SweepConfig
from core.sweep.executor import DatasetReady, SweepResult, Trained, run_plan
from core.sweep.results import OpenSweep, open_sweep, reopen_sweep

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
    from core.train.config import TrainConfig
    from core.train.trainer import train

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

#: Seconds to wait for a Ray cluster's address to answer before giving up (a dead address
#: otherwise hangs in ray.init for minutes).
CONNECT_TIMEOUT_S = 10.0


#: A host name: dot-separated labels of letters, digits and inner hyphens, 253 characters at most.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*"


class RayUnreachable(ConnectionError):
    """The Ray cluster at the given address cannot be reached or joined (one-line message)."""


def check_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of a Ray cluster address ``HOST:PORT`` (an IPv4 address, ``[IPv6]`` or a
    host name); ValueError in one line naming what is wrong with it."""
    import ipaddress
    import re

    text = str(address).strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"address: expected HOST:PORT with a port from 1 to 65535, got {address!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"address: {host!r} is not an IPv6 address") from None
    elif re.fullmatch(r"[\d.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"address: {host!r} is not an IPv4 address") from None
    elif not re.fullmatch(_HOST_NAME, host):
        raise ValueError(f"address: {host!r} is not a host name or IP address")
    return host, int(port_text)


def probe(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Check that something listens at ``address`` within ``timeout_s`` seconds (name lookup
    included); raise RayUnreachable in one line naming the address and the cause."""
    import socket
    import threading

    host, port = check_address(address)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, name="ray-probe", daemon=True)
    worker.start()
    worker.join(timeout_s + 1)  # a name lookup has no timeout of its own
    if not outcome:
        raise RayUnreachable(f"Ray cluster at {address} did not answer within {timeout_s:g} s")
    if outcome[0] is not None:
        exc = outcome[0]
        why = exc.strerror or str(exc) or type(exc).__name__
        raise RayUnreachable(f"cannot reach the Ray cluster at {address}: {why}")


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Make sure Ray is initialised; return True if this call started it (then shut it down).

    ``address`` None starts a local Ray with ``num_cpus`` (default: this machine's CPUs),
    no dashboard and its node on 127.0.0.1; otherwise the cluster at ``address`` is joined
    and the ``core`` package is shipped to its workers. ValueError for a malformed address,
    RayUnreachable when nothing answers there within CONNECT_TIMEOUT_S or Ray cannot join it.
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine
    if address is None:
        with _on_loopback():
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                runtime_env={"env_vars": {"PYTHONPATH": str(PROJECT_ROOT)}},
                log_to_driver=False,
            )
        return True
    probe(address)
    loopback = _is_loopback(check_address(address)[0])
    _token_like_ray_start()
    try:
        with _on_loopback() if loopback else contextlib.nullcontext(), _env(**JOIN_ENV):
            ray.init(
                address=address,
                runtime_env={"py_modules": [str(PROJECT_ROOT / "core")], "excludes": ["__pycache__"]},
                log_to_driver=False,
                **({"_node_ip_address": "127.0.0.1"} if loopback else {}),
            )
    except Exception as exc:  # Ray's own errors run over many lines
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RayUnreachable(f"cannot join the Ray cluster at {address}: {first}") from exc
    return True


#: While joining a cluster: one try at its GCS, not 20 (a port that answers but is no Ray GCS
#: then fails after about 45 s, measured, not minutes; Ray's own log lines come before the error).
JOIN_ENV = {"RAY_gcs_server_port_wait_time_s": "1"}


@contextlib.contextmanager
def _env(**values: str):
    """Set environment variables for the block (those set already are left as they are)."""
    added = [k for k in values if k not in os.environ]
    os.environ.update({k: values[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _token_like_ray_start() -> None:
    """Send the token in ~/.ray/auth_token when RAY_AUTH_MODE is unset, as ``ray start`` does.

    Why: a head started with ``ray start`` turns token authentication on by itself when that
    file exists (a local Ray writes it), while a driver joining with ray.init(address=...) does
    not (Ray 2.60), and is then refused: "Authentication token is missing or incorrect".
    """
    with contextlib.suppress(ImportError, AttributeError):  # a Ray without token authentication
        from ray._private.authentication import authentication_token_setup as setup

        setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def _on_loopback():
    """Keep a Ray node started or joined in this block on 127.0.0.1.

    Why: on Linux Ray swaps a loopback node address for the machine's network address (so that
    other machines could join) and its servers then listen on every interface; a local Ray
    would be open to the network, and a head held on loopback (``ray start --head
    --node-ip-address=127.0.0.1`` with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) could not be joined
    at all. Ray's own switch for that is the variable (for the processes it starts) and the
    constant read from it at import (for this one).
    """
    from ray._private import ray_constants

    name = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    old_env, old_constant = os.environ.get(name), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[name], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_constant
        if old_env is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old_env


def run_sweep_ray(
    config: SweepConfig | None,
    progress=None,
    should_stop=None,
    root: Path | None = None,
    sweep_id: str | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    resume: bool = False,
) -> SweepResult:
    """Run ``config`` as Ray tasks; same results and files as :func:`core.sweep.run_sweep`.

    ``progress`` is called as tasks finish; ``should_stop()`` is polled between
    completions (every ``POLL_S`` seconds) and cancels the remaining tasks. ``resume``:
    continue the stopped sweep ``sweep_id`` instead (``config`` None; its rows are kept and
    only its plan items without a row run). Ray is joined before the folder is touched, so an address
    that cannot be reached changes nothing.
    """
    import ray

    started = connect(address, num_cpus)
    try:
        if resume:
            sweep = reopen_sweep(sweep_id, root, engine="ray", address=address)
        else:
            sweep = open_sweep(config, root, sweep_id, engine="ray", address=address)
        return run_plan(sweep, _executor(ray), progress or no_progress, should_stop)
    finally:
        if started:
            ray.shutdown()


def _submit(ray, sweep: OpenSweep, make, fit, tcfg) -> tuple[dict, dict, dict]:
    """Submit the dataset and training tasks of every plan item without a row; return
    ``(pending trainings -> plan item, (pattern, level) -> dataset task, (pattern, level) -> the
    head's dataset path of one already in its cache)``. ``tcfg``: the TrainConfig dict, whose
    seed each item replaces."""
    from core.data import dataset_path, load_dataset

    config = sweep.config
    pending: dict[Any, Any] = {}
    data_refs: dict[tuple, Any] = {}
    datasets: dict[tuple, Path] = {}
    missing = sweep.missing()
    for key in dict.fromkeys(item.dataset for item in missing):
        dcfg = config.data_config(key[1], key[0])
        cached = dataset_path(dcfg)
        if _valid(cached, dcfg, load_dataset):
            dataset = ray.put({"name": cached.name, "bytes": cached.read_bytes()})
            datasets[key] = cached
        else:
            dataset = data_refs[key] = make.remote(dcfg.to_dict())
        for item in (item for item in missing if item.dataset == key):
            model = config.model_config(item.model).to_dict()
            pending[fit.remote(dataset, model, {**tcfg, "seed": item.seed})] = item
    return pending, data_refs, datasets


def _executor(ray):
    """The Ray executor for core.sweep.executor.run_plan: every item's dataset and training
    submitted at once, events yielded as tasks finish (None every POLL_S while none has)."""

    def ray_items(sweep: OpenSweep, items: list, within, should_stop) -> Iterator[Any]:
        make, fit, tcfg = _tasks(ray, sweep.config)
        pending, data_refs, datasets = {}, {}, {}
        try:
            pending, data_refs, datasets = _submit(ray, sweep, make, fit, tcfg)
            for key, path in datasets.items():
                yield DatasetReady(key, path)  # already in the head's cache
            while pending or data_refs:
                ready, _ = ray.wait([*data_refs.values(), *pending], num_returns=1, timeout=POLL_S)
                if not ready:
                    yield None  # nothing finished: the loop asks should_stop again
                for ref in ready:
                    yield from _finished(ray, ref, pending, data_refs, datasets)
        finally:
            _cancel(ray, [*pending, *data_refs.values()])  # nothing left after a full run

    return ray_items


def _tasks(ray, config) -> tuple[Any, Any, dict[str, Any]]:
    """The dataset and training remote functions and the TrainConfig dict of the sweep ``config``:
    a training asks for one GPU where the cluster has GPUs and the config allows CUDA."""
    tcfg = config.train_config().to_dict()
    use_gpu = ray.cluster_resources().get("GPU", 0) >= 1 and tcfg["device"].split(":")[0] in ("auto", "cuda")
    if use_gpu:
        tcfg["device"] = "cuda"  # Ray shows each task only the GPU it was given
    make = ray.remote(num_cpus=1)(make_dataset_task)
    fit = ray.remote(num_gpus=1, num_cpus=0)(train_task) if use_gpu else ray.remote(num_cpus=1)(train_task)
    return make, fit, tcfg


def _finished(ray, ref, pending: dict, data_refs: dict, datasets: dict) -> Iterator[Any]:
    """The events of one finished task: its dataset written to the head's data directory, or its
    training's run folder (its dataset first, if that task finished too but was not taken yet)."""

    def take_dataset(key: tuple) -> DatasetReady:
        value = ray.get(data_refs.pop(key))
        path = inside(data_dir(), "datasets", value["name"])
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, value["bytes"])
        datasets[key] = path
        return DatasetReady(key, path)

    for key in [key for key, r in data_refs.items() if r == ref]:
        yield take_dataset(key)
    if ref in pending:
        item = pending.pop(ref)
        value = ray.get(ref)
        if item.dataset in data_refs:  # its dataset finished first; store that before the run
            yield take_dataset(item.dataset)
        path = datasets[item.dataset]
        yield Trained(item, _store_run(value, path), value["seconds"], path)


def _valid(path: Path, dcfg, load_dataset) -> bool:
    """True if the head's cache holds a readable dataset of exactly ``dcfg``."""
    if not path.is_file():
        return False
    try:
        return load_dataset(path).config == dcfg
    except Exception:  # unreadable or foreign file: let a task make it again
        return False


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
