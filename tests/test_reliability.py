"""Faults from outside: killed workers, dead pids, a broken registry, oversize uploads,
half-written files, and where the server listens. Each goes through the functions the
dashboard (core.service.jobs) and the CLI (python -m core.jobs) call."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from core.jobs import JobRunner
from core.jobs.__main__ import main as jobs_cli
from core.store.atomic import clean_stale_tmp, write_json, write_text
from core.store.paths import PROJECT_ROOT
from core.store.registry import Registry
from core.store.runs import CHECKPOINT_FORMAT, CheckpointError, find_run_dir, list_runs, read_run
from core.train.checkpoints import load_checkpoint_file
from tests.conftest import wait_until as _wait

SMALL_MODEL = {"name": "convnet", "input_frames": 1, "hidden": 8, "layers": 2, "kernel_size": 3, "alpha": 0.0}


def _train_params(path, **train):
    cfg = {"batch_size": 4, "rollout_steps": 2, "eval_steps": 3, "max_train_windows": 8, "patience": 100}
    return {"data_path": str(path), "model_config": SMALL_MODEL, "train_config": {**cfg, **train}}


def _run_status(run_id: str) -> str:
    return json.loads((find_run_dir(run_id)[0] / "run.json").read_text())["status"]


@pytest.fixture
def no_assets(monkeypatch, tmp_path):
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))


# ---------------------------------------------------------------- supervision


def test_kill_9_frees_the_slot_on_the_next_look_and_the_run_resumes(
    tmp_data_dir, tiny_dataset_path, no_assets
):
    from core.service import jobs, queue

    runner = queue.runner()  # the dashboard's one runner: no new JobRunner below
    job_id = runner.submit("train", _train_params(tiny_dataset_path, epochs=500))
    # Epoch 2 reported: epoch 1's last.pt is surely on disk (it is written after the report).
    _wait(lambda: (runner.status(job_id).epoch or 0) >= 2, 120, "two epochs")
    pid = runner.status(job_id).pid
    os.killpg(pid, signal.SIGKILL)
    t0 = time.monotonic()
    job = _wait(lambda: next(j for j in queue.list_jobs() if j.id == job_id).finished_state and
                next(j for j in queue.list_jobs() if j.id == job_id), 10, "list() to notice")  # fmt: skip
    freed_s = time.monotonic() - t0
    print(f"slot freed {freed_s:.2f} s after kill -9")
    assert job.status == "interrupted" and "SIGKILL" in jobs.job_problem(job)
    assert not [j for j in runner.registry.active_jobs() if j.slot == "compute"]  # slot free
    assert _run_status(job.run_id) == "interrupted"
    assert jobs.can_resume(job)
    assert not Path(f"/proc/{pid}").exists()  # reaped, not a zombie

    saved = torch.load(find_run_dir(job.run_id)[0] / "last.pt", weights_only=True)["epoch"]
    resumed = jobs.resume_job(job_id, epochs=saved + 1)
    # A second click on the old card while the first resume is queued or running starts nothing.
    assert not jobs.can_resume(job)
    with pytest.raises(ValueError, match="already queued or running"):
        jobs.resume_job(job_id, epochs=saved + 1)
    final = _wait(lambda: (j := runner.status(resumed)).finished_state and j, 120, "the resumed job")
    assert final.status == "done", final.error
    assert _run_status(job.run_id) == "done"
    run = read_run(find_run_dir(job.run_id)[0])
    assert [h["epoch"] for h in run.history] == list(range(1, saved + 2))  # continued, not restarted
    assert run.config["resumed_from_epoch"] == saved and run.metrics is not None
    # Finished: the old card offers no Resume, and asking anyway says why (its record is kept).
    assert not jobs.can_resume(job)
    with pytest.raises(ValueError, match="finished"):
        jobs.resume_job(job_id)
    assert [j.id for j in queue.list_jobs() if j.kind == "resume"] == [resumed]
    # Once the worker exits, the next look reaps it: no zombie left until the server stops.
    gone = Path(f"/proc/{final.pid}")
    _wait(lambda: queue.list_jobs() and not gone.exists(), 15, "the finished worker to be reaped")


def test_a_waiting_worker_frees_a_slot_held_by_a_dead_one(
    tmp_path, tmp_data_dir, tiny_dataset_path, no_assets
):
    registry = Registry(tmp_path / "registry.sqlite")
    runner = JobRunner(registry)
    dead = subprocess.Popen(["sleep", "0"])
    dead.wait()
    holder = _fake_active_job(registry, dead.pid)  # holds the one compute slot, worker gone
    job_id = runner.submit("train", _train_params(tiny_dataset_path, epochs=1))
    # Nobody looks (no list/status): the queued worker itself notices and goes ahead.
    final = _wait(lambda: (j := registry.get_job(job_id)).finished_state and j, 120, "the queued job")
    assert final.status == "done", final.error
    assert registry.get_job(holder).status == "interrupted"
    runner._procs[job_id].wait(timeout=30)


def _fake_active_job(registry: Registry, pid: int | None, **fields) -> str:
    job_id = registry.create_job("train", {"model_config": SMALL_MODEL}, slot="compute")
    registry.claim_slot(job_id, "compute", 100)
    registry.update_job(job_id, pid=pid, **fields)
    return job_id


def test_dead_zombie_recycled_and_silent_workers_are_interrupted(tmp_path, tmp_data_dir, monkeypatch):
    registry = Registry(tmp_path / "registry.sqlite")
    runner = JobRunner(registry)
    dead = subprocess.Popen(["sleep", "0"])
    dead.wait()
    zombie = subprocess.Popen(["sleep", "0"])  # never waited for: stays a zombie
    _wait(
        lambda: Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z", 5, "zombie"
    )
    gone_id = _fake_active_job(registry, dead.pid)
    zombie_id = _fake_active_job(registry, zombie.pid)
    recycled_id = _fake_active_job(registry, os.getpid())  # a live pid that is no worker of it
    # A live process that looks like the job's worker but stopped sending heartbeats.
    silent_id = registry.create_job("train", {}, slot="compute")
    hung = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "core.jobs", "run", silent_id],
        start_new_session=True,
    )
    registry.update_job(silent_id, status="running", pid=hung.pid, heartbeat=time.time() - 120)
    fresh_id = _fake_active_job(registry, None)  # just queued: pid not recorded yet, left alone

    jobs = {j.id: j for j in runner.list()}
    for job_id in (gone_id, zombie_id, recycled_id):
        assert jobs[job_id].status == "interrupted", (job_id, jobs[job_id])
        assert jobs[job_id].error
    # An old heartbeat alone is not enough (after a suspend the wall clock jumps): the
    # runner must itself watch it stay unchanged for HEARTBEAT_STALE_S.
    assert jobs[silent_id].status == "running"
    monkeypatch.setattr("core.jobs.runner.HEARTBEAT_STALE_S", 0.3)
    time.sleep(0.4)
    jobs = {j.id: j for j in runner.list()}
    assert jobs[silent_id].status == "interrupted" and "heartbeat" in jobs[silent_id].error
    assert hung.wait(timeout=5) == -signal.SIGKILL  # the hung worker was stopped for good
    assert jobs[fresh_id].status == "running"
    zombie.wait()

    # Cancelling a job whose worker already died says what happened: interrupted, not cancelled.
    dead_id = _fake_active_job(registry, dead.pid)
    assert runner.cancel(dead_id).status == "interrupted"
    # The CLI's look supervises too, and shows the error text.
    other_id = _fake_active_job(registry, dead.pid)
    registry.update_job(fresh_id, status="diverged", error="loss is nan at epoch 3")
    os.environ["APPROXSYM_REGISTRY"] = str(registry.path)
    try:
        out = io.StringIO()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sys, "stdout", out)
            assert jobs_cli(["list"]) == 0
        with pytest.MonkeyPatch.context() as mp:
            err = io.StringIO()
            mp.setattr(sys, "stderr", err)
            assert jobs_cli(["resume", other_id, "--epochs", "3"]) == 2  # no run to continue
        assert "not a training job with a run" in err.getvalue()
    finally:
        os.environ.pop("APPROXSYM_REGISTRY")
    lines = {line.split()[0]: line for line in out.getvalue().splitlines()}
    assert "interrupted" in lines[other_id] and "is gone" in lines[other_id]
    assert "loss is nan at epoch 3" in lines[fresh_id]


# -------------------------------------------------------------- bounded input


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _upload(model_config, scale=1.0, state=None) -> bytes:
    buf = io.BytesIO()
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "model_config": model_config,
            "state_dict": state or {},
            "scale": scale,
        },
        buf,
    )
    return buf.getvalue()


def test_oversize_checkpoint_is_refused_before_any_model_is_built():
    import tracemalloc

    big = {"hidden": 512, "layers": 10, "kernel_size": 15}
    before = _rss_mb()
    tracemalloc.start()
    for name in ("rsteer", "e2cnn", "convnet"):
        data = _upload({"name": name, **big})
        assert len(data) < 2000
        with pytest.raises(CheckpointError, match=r"hidden=512, layers=10, kernel_size=15.*budget is 5 M"):
            load_checkpoint_file(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    growth = _rss_mb() - before
    print(f"oversize upload: RSS growth {growth:.1f} MB, Python peak {peak / 2**20:.1f} MB")
    assert growth < 200 and peak < 50 * 2**20


def test_budget_counts_parameters_exactly_without_building():
    from core.models import build_model, model_names, model_spec
    from core.models.budget import model_budget

    for name in model_names():
        grid = {"grid": 16} if "grid" in model_spec(name).defaults else {}
        for hidden, layers, kernel, smoke in ((8, 2, 3, False), (8, 3, 5, False), (8, 2, 3, True)):
            model = build_model(name, hidden=hidden, layers=layers, kernel_size=kernel, smoke=smoke, **grid)
            cfg = model.config.to_dict()
            assert model_budget(cfg)["params"] == sum(p.numel() for p in model.parameters()), cfg


def test_checkpoint_scale_and_fields_are_named():
    torch.manual_seed(0)
    from core.models import build_model

    model = build_model("convnet", hidden=8, layers=2)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = model.config.to_dict()
    assert load_checkpoint_file(_upload(cfg, 2.0, state))[0] is not None
    for bad in (float("inf"), float("nan"), "abc", -1.0, True):
        with pytest.raises(CheckpointError, match="'scale'"):
            load_checkpoint_file(_upload(cfg, bad, state))
    with pytest.raises(CheckpointError, match="hidden"):
        load_checkpoint_file(_upload({**cfg, "hidden": "wide"}, 1.0, state))


# ------------------------------------------------------------------ registry


def test_registry_missing_corrupt_or_without_table_is_rebuilt(tmp_path, caplog):
    path = tmp_path / "registry.sqlite"
    registry = Registry(path)
    registry.create_job("data", {}, slot="data")
    path.unlink()
    assert registry.list_jobs() == [] and path.is_file()
    registry.create_job("data", {}, slot="data")
    path.write_bytes(b"this is not a database" * 200)
    assert registry.list_jobs() == []
    aside = list(tmp_path.glob("registry.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    assert "moved it to" in caplog.text
    import sqlite3

    with sqlite3.connect(path) as con:
        con.execute("DROP TABLE jobs")
    assert Registry(path).list_jobs() == []  # a fresh process (e.g. the dashboard restarting)
    assert registry.create_job("data", {}, slot="data")


def test_worker_keeps_training_through_a_corrupted_registry(
    tmp_path, tmp_data_dir, tiny_dataset_path, no_assets
):
    registry = Registry(tmp_path / "registry.sqlite")
    runner = JobRunner(registry)
    job_id = runner.submit("train", _train_params(tiny_dataset_path, epochs=25))
    job = _wait(
        lambda: (j := runner.status(job_id)).run_id and j.epoch and j, 120, "the first epoch", step=0.05
    )
    assert job.status == "running" and job.epoch < 20
    # Pause the worker while the file is replaced: on a loaded machine it could otherwise finish
    # its last epochs and registry writes before the garbage lands, and never meet it.
    worker = runner._procs[job_id]
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        for extra in ("-wal", "-shm"):
            Path(f"{registry.path}{extra}").unlink(missing_ok=True)
        registry.path.write_bytes(b"\0garbage" * 4096)
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    _wait(lambda: _run_status(job.run_id) != "running", 120, "the run to finish")
    assert _run_status(job.run_id) == "done"
    assert (find_run_dir(job.run_id)[0] / "metrics.json").is_file()
    # run.json says done before the worker's last registry write: wait for the worker to exit.
    worker.wait(timeout=30)
    assert list(tmp_path.glob("registry.sqlite.corrupt-*"))  # the worker moved it aside
    restored = runner.status(job_id)  # the worker wrote its row back into the new registry
    assert restored.status == "done" and restored.run_id == job.run_id
    assert job.run_id in {r.id for r in list_runs()}


def test_runs_left_running_by_a_lost_job_are_settled_at_start(tmp_path, tmp_data_dir, no_assets):
    from core.store.runs import runs_root

    registry = Registry(tmp_path / "registry.sqlite")
    active_id = _fake_active_job(registry, os.getpid())
    orphan, busy = runs_root() / "run-orphan-1", runs_root() / "run-busy-1"
    write_json(orphan / "run.json", {"run_id": orphan.name, "status": "running", "job_id": "job-lost-1"})
    write_json(busy / "run.json", {"run_id": busy.name, "status": "running", "job_id": active_id})
    registry.update_job(active_id, run_id=busy.name, pid=None)  # pid not recorded yet: left alone
    runner = JobRunner(registry)  # the dashboard or CLI starting
    assert orphan.name not in runner.reconcile_runs()  # settled once, by the start
    assert read_run(orphan).status == "interrupted"
    assert read_run(busy).status == "running"


# --------------------------------------------------------------------- files


def test_files_follow_the_umask_and_stale_tmp_files_are_cleaned(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
    stale = tmp_path / "runs" / "r1" / ".run.json.abc123.tmp"
    fresh = tmp_path / ".history.json.def456.tmp"
    for path in (stale, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert clean_stale_tmp(tmp_path) == [stale]
    assert fresh.exists() and not stale.exists() and (tmp_path / "a.json").exists()


def test_truncated_run_json_is_named_and_listed_damaged(tmp_data_dir, no_assets):
    from core.store.runs import runs_root

    good, bad = runs_root() / "run-good-1", runs_root() / "run-bad-1"
    write_json(good / "run.json", {"run_id": good.name, "status": "done"})
    write_text(bad / "run.json", '{"run_id": "run-bad-1", "stat')
    with pytest.raises(ValueError, match=r"^damaged: run\.json: truncated"):
        read_run(bad)
    runs = {r.id: r for r in list_runs()}
    assert runs[good.name].damaged == "" and runs[bad.name].status == "damaged"  # listed, never hidden


# -------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listen_addresses(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                found.add(addr)
    return found


def test_server_started_from_another_folder_listens_on_localhost_only(tmp_path):
    port = _free_port()
    env = {**os.environ, "APPROXSYM_DATA_DIR": str(tmp_path / "data")}
    app = PROJECT_ROOT / "dashboard" / "app.py"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
         "--server.port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:

        def healthy():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        _wait(healthy, 60, "the server's health check", step=0.5)
        addresses = _listen_addresses(port)
        # 0100007F: 127.0.0.1; the IPv6 loopback ::1 is 0...0 1000000 in /proc's byte order.
        loopback = {"0100007F", "00000000000000000000000001000000"}
        assert addresses and addresses <= loopback, addresses
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
