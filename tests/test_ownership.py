"""One live owner per run (core.store.ownership): a run trained by any process is never declared
dead nor resumed twice while that process lives; the ways a job ends leave its run settled."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.jobs import JobRunner
from core.jobs.runner import resume_refusal
from core.store import ownership
from core.store.atomic import write_json
from core.store.paths import PROJECT_ROOT
from core.store.registry import Registry
from core.store.runs import read_run, runs_root
from tests.conftest import wait_until as _wait

SMALL_MODEL = {"name": "convnet", "input_frames": 1, "hidden": 8, "layers": 2, "kernel_size": 3, "alpha": 0.0}
SMALL_TRAINING = {"batch_size": 4, "rollout_steps": 2, "eval_steps": 3, "max_train_windows": 8}


def _status(run_dir: Path) -> str:
    return json.loads((run_dir / "run.json").read_text())["status"]


@pytest.fixture
def runner(data_env, tmp_path):
    r = JobRunner(Registry(tmp_path / "registry.sqlite"))
    yield r
    for job in r.list():  # never leave workers behind
        if not job.finished_state:
            r.cancel(job.id, grace_s=0.5)


def _hold_lock(run_dir: Path) -> subprocess.Popen:
    """A process other than this one that owns ``run_dir`` until it is killed."""
    code = (
        "import sys, time; from core.store.ownership import acquire; acquire(sys.argv[1]); "
        "print('owned', flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(run_dir)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "owned"
    return proc


# ----------------------------------------------------------------- the lock itself


def test_a_run_has_one_owner_until_it_dies_even_by_kill_9(tmp_path):
    run_dir = tmp_path / "run-x-1"
    run_dir.mkdir()
    assert ownership.owner(run_dir) is None
    holder = _hold_lock(run_dir)
    try:
        assert ownership.owner(run_dir) == holder.pid
        with pytest.raises(ownership.RunOwned, match=rf"run run-x-1 .* live process \(pid {holder.pid}\)"):
            ownership.acquire(run_dir)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert ownership.owner(run_dir) is None  # the kernel dropped the lock with the process
    with ownership.owning(run_dir), ownership.owning(run_dir):  # re-entrant within one process
        assert ownership.owner(run_dir) == os.getpid()
        assert ownership.owner_note(run_dir) is None  # not "another" process
    assert ownership.owner(run_dir) is None and not (run_dir / ownership.LOCK_NAME).exists()


# --------------------------------------------- a bare python -m core.train and a dashboard start


def test_a_live_cli_training_survives_a_dashboard_start_and_is_not_resumed_twice(data_env, tmp_path):
    """Issue 28.2: starting the dashboard (or `python -m core.jobs list`) during a
    `python -m core.train` run marked it interrupted, and Resume then trained it twice."""
    from core.jobs.__main__ import main as jobs_cli
    from core.service import items, queue

    before = set(runs_root().iterdir())
    options = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL_TRAINING.items()]
    train = subprocess.Popen(
        [sys.executable, "-m", "core.train", "--data", str(data_env), "--model", "convnet", "--hidden", "8",
         "--layers", "2", "--epochs", "500", "--patience", "500", *options],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        run_dir = _wait(
            lambda: next((d for d in set(runs_root().iterdir()) - before if (d / "last.pt").is_file()), None),
            120, "the CLI run's first epoch",
        )  # fmt: skip
        registry = Registry(tmp_path / "registry.sqlite")
        runner = JobRunner(registry)  # what the dashboard does when it starts
        runner.list()
        os.environ["APPROXSYM_REGISTRY"] = str(registry.path)
        try:
            assert jobs_cli(["list"]) == 0  # the job CLI's look, another start
        finally:
            os.environ.pop("APPROXSYM_REGISTRY")
        assert _status(run_dir) == "running"
        live = rf"being trained by a live process \(pid {train.pid}\)"
        assert re.search(live, resume_refusal(registry, run_dir.name))
        with pytest.raises(ValueError, match="Cannot resume: the run is " + live):
            runner.resume_run(run_dir.name)
        with pytest.raises(ValueError, match="It is in use: the run is " + live):
            items.delete_item("run", run_dir.name)  # the dashboard's own runner starts here too
        assert not registry.active_jobs() and _status(run_dir) == "running"
        with pytest.raises(ownership.RunOwned, match=f"pid {train.pid}"):
            _resume_in_process(data_env, run_dir, epochs=2)  # the trainer itself refuses too
    finally:
        os.killpg(train.pid, signal.SIGKILL)
        train.wait()
    assert train.returncode == -signal.SIGKILL, train.stderr.read()[-2000:]

    assert run_dir.name in runner.reconcile_runs()  # its owner is gone now
    assert _status(run_dir) == "interrupted"
    assert resume_refusal(registry, run_dir.name) is None
    assert run_dir.name not in queue.runner().reconcile_runs()  # settled once
    import torch

    saved = torch.load(run_dir / "last.pt", weights_only=True)["epoch"]
    result = _resume_in_process(data_env, run_dir, epochs=saved + 1)
    assert result.status == "done" and _status(run_dir) == "done"
    assert [h["epoch"] for h in read_run(run_dir).history] == list(range(1, saved + 2))
    assert read_run(run_dir).config["resumed_from_epoch"] == saved
    assert ownership.owner(run_dir) is None and not (run_dir / ownership.LOCK_NAME).exists()


def _resume_in_process(data_path, run_dir: Path, epochs: int):
    from core.models import ModelConfig
    from core.train.config import TrainConfig
    from core.train.trainer import train

    record = read_run(run_dir).config
    config = TrainConfig.from_dict({**record["train_config"], "epochs": epochs})
    model = ModelConfig.from_dict(record["model_config"])
    return train(data_path, model, config, run_dir=run_dir, resume=True)


# ------------------------------------------------------------------ how jobs end


def test_a_job_that_raises_ends_failed_with_its_error(runner, tmp_path):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not an HDF5 file" * 64)
    params = {"data_path": str(broken), "model_config": SMALL_MODEL, "train_config": SMALL_TRAINING}
    job_id = runner.submit("train", params)
    job = _wait(lambda: (j := runner.status(job_id)).finished_state and j, 120, "the job to end")
    assert job.status == "failed", (job.status, Path(job.log_path).read_text()[-2000:])
    assert job.error.startswith("DatasetFileError: ") and "broken.h5" in job.error
    assert job.message == f"failed: {job.error}"


def test_a_sigtermed_worker_ends_interrupted_with_its_run_settled_and_resumable(runner, data_env):
    params = {"data_path": str(data_env), "model_config": SMALL_MODEL,
              "train_config": {**SMALL_TRAINING, "epochs": 500, "patience": 500}}  # fmt: skip
    job_id = runner.submit("train", params)
    job = _wait(lambda: (j := runner.status(job_id)).run_id and j, 120, "the run folder")
    run_dir = runs_root() / job.run_id
    _wait(lambda: (run_dir / "last.pt").is_file(), 120, "the first epoch's last.pt")
    assert ownership.owner(run_dir) == job.pid  # the worker owns its run
    os.kill(job.pid, signal.SIGTERM)  # not a cancel: no cancel flag raised
    job = _wait(lambda: (j := runner.status(job_id)).finished_state and j, 60, "the worker to stop")
    assert (job.status, job.message) == ("interrupted", "interrupted by signal")
    assert _status(run_dir) == "interrupted"
    assert ownership.owner(run_dir) is None
    assert resume_refusal(runner.registry, job.run_id) is None


def test_a_sigterm_during_a_registry_write_is_not_swallowed(tmp_path):
    """The SIGTERM handler raises wherever the worker is; often inside a registry write, whose
    guard (Reporter._call) keeps a job going through any Exception. Seen: a SIGTERM'd worker
    that trained on."""
    from core.jobs.worker import Reporter, _Terminated

    registry = Registry(tmp_path / "registry.sqlite")
    reporter = Reporter(registry, registry.get_job(registry.create_job("data", {})))

    def write_interrupted_by_sigterm():
        raise _Terminated()

    with pytest.raises(_Terminated):
        reporter._call("update", write_interrupted_by_sigterm)
    assert reporter._call("update", lambda: 1 / 0) is None  # a failed write is still carried on


# --------------------------------------------------------------- resume refusals


def test_each_resume_refusal_names_its_reason(runner, data_env, tmp_path, monkeypatch):
    registry = runner.registry

    def run(name: str, root: Path | None = None, last: bool = True, **record) -> str:
        folder = (root or runs_root()) / name
        write_json(folder / "run.json", {"run_id": name, "status": "interrupted", **record})
        write_json(folder / "history.json", [{"epoch": 1}, {"epoch": 2}])
        if last:
            (folder / "last.pt").write_bytes(b"resume state")
        return name

    shipped_root = tmp_path / "assets"
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(shipped_root))
    shipped = run("run-shipped-1", root=shipped_root / "runs")
    assert resume_refusal(registry, shipped) == "shipped runs are read-only"
    bare = run("run-bare-1", last=False)
    assert resume_refusal(registry, bare) == "the run has no saved epoch to continue from"
    finished = run("run-finished-1", status="done")
    assert resume_refusal(registry, finished).startswith("the run has finished (2 epochs)")
    assert resume_refusal(registry, finished, epochs=3) is None  # more epochs: allowed
    queued = run("run-queued-1")
    registry.create_job("resume", {"run_id": queued}, slot="compute")  # no worker: stays queued
    assert resume_refusal(registry, queued) == "a job training this run is already queued or running"
    owned = run("run-owned-1")
    holder = _hold_lock(runs_root() / owned)
    try:
        live = f"the run is being trained by a live process (pid {holder.pid})"
        assert resume_refusal(registry, owned) == live
        write_json(runs_root() / owned / "run.json", {"run_id": owned, "status": "running"})
        assert owned not in JobRunner(registry).reconcile_runs()  # its owner lives
    finally:
        holder.kill()
        holder.wait()
    assert resume_refusal(registry, owned) is None
    assert owned in runner.reconcile_runs() and read_run(runs_root() / owned).status == "interrupted"
    for run_id, why in ((shipped, "read-only"), (bare, "no saved epoch"), (finished, "finished")):
        with pytest.raises(ValueError, match=f"Cannot resume: .*{why}"):
            runner.resume_run(run_id)
    assert [j.params["run_id"] for j in registry.active_jobs()] == [queued]


def test_a_job_found_dead_leaves_alone_a_run_that_a_live_process_owns(runner):
    """The job side (JobRunner._check, as in interrupt_dead_workers and cancel): the job is
    settled, its run.json only if nothing trains the run any more."""
    run_id = "run-taken-over-1"
    write_json(runs_root() / run_id / "run.json", {"run_id": run_id, "status": "running"})
    dead = subprocess.Popen(["sleep", "0"])
    dead.wait()
    job_id = runner.registry.create_job("train", {}, slot="compute")
    runner.registry.claim_slot(job_id, "compute", 100)
    runner.registry.update_job(job_id, pid=dead.pid, run_id=run_id)
    holder = _hold_lock(runs_root() / run_id)
    try:
        assert runner.status(job_id).status == "interrupted"
        assert read_run(runs_root() / run_id).status == "running"
    finally:
        holder.kill()
        holder.wait()
    assert run_id in runner.reconcile_runs()  # its owner gone: now it is settled
    assert read_run(runs_root() / run_id).status == "interrupted"
