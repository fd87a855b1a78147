"""Background jobs as real processes: cancel, SIGKILL -> interrupted, racing submits."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import wait_until

from core.jobs import JobRunner, validate_params
from core.store.registry import Registry
from core.store.runs import find_run_dir

SMALL_MODEL = {"name": "convnet", "input_frames": 1, "hidden": 8, "layers": 2, "kernel_size": 3, "alpha": 0.0}


def _train_params(path, **train):
    cfg = {"batch_size": 4, "rollout_steps": 2, "eval_steps": 3, "max_train_windows": 8, "patience": 100}
    return {"data_path": str(path), "model_config": SMALL_MODEL, "train_config": {**cfg, **train}}


@pytest.fixture
def runner(tmp_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    r = JobRunner(Registry(tmp_path / "registry.sqlite"))
    yield r
    for job in r.list():  # never leave workers behind
        if not job.finished_state:
            r.cancel(job.id, grace_s=0.5)


def test_bad_job_parameters_are_refused_before_queueing(runner, tiny_dataset_path):
    with pytest.raises(ValueError, match="kind"):
        runner.submit("mine-bitcoin", {})
    with pytest.raises(ValueError, match="data_path"):
        runner.submit("train", {"model_config": SMALL_MODEL})
    with pytest.raises(ValueError, match="epochs"):
        validate_params("train", _train_params(tiny_dataset_path, epochs=0))
    assert runner.list() == []


def test_cancel_stops_a_running_job(runner, tiny_dataset_path):
    job_id = runner.submit("train", _train_params(tiny_dataset_path, epochs=500))
    wait_until(lambda: runner.status(job_id).epoch, 90, "the first epoch")
    pid = runner.status(job_id).pid
    t0 = time.monotonic()
    job = runner.cancel(job_id)
    assert job.status == "cancelled" and time.monotonic() - t0 < 8
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    run_dir, _ = find_run_dir(job.run_id)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "cancelled"
    assert "started" in Path(job.log_path).read_text()


def test_a_runner_started_after_a_kill_9_marks_the_job_and_its_run_interrupted(runner, tiny_dataset_path):
    """What a server restart sees: the worker died while no runner watched it. (The whole
    kill -9 -> Resume path, through the dashboard's runner: tests/test_reliability.py.)"""
    from core.jobs.runner import resume_refusal
    from core.store.ownership import owner

    job_id = runner.submit("train", _train_params(tiny_dataset_path, epochs=500))
    # The epoch column shows epoch 1 from its first batch; at epoch 2, epoch 1's last.pt is on disk.
    job = wait_until(lambda: (j := runner.status(job_id)).epoch and j.epoch >= 2 and j, 120, "two epochs")
    os.killpg(job.pid, signal.SIGKILL)
    wait_until(lambda: runner._procs[job_id].poll() is not None, 10, "the worker to die")

    fresh = JobRunner(runner.registry)  # a new runner reconciles on start
    stopped = fresh.registry.get_job(job_id)  # as the start left it, before any look of its own
    assert stopped.status == "interrupted" and "is gone" in stopped.error
    run_dir, _ = find_run_dir(stopped.run_id)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert owner(run_dir) is None and resume_refusal(fresh.registry, stopped.run_id) is None


def test_two_jobs_submitted_at_once_both_land_and_share_one_slot(runner, tiny_dataset_path):
    ids, errors = [], []
    barrier = threading.Barrier(2)

    def go(seed):
        try:
            barrier.wait()
            ids.append(runner.submit("train", _train_params(tiny_dataset_path, epochs=1, seed=seed)))
        except Exception as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 2

    def both_done():
        jobs = [runner.status(i) for i in ids]
        running = sum(j.status == "running" for j in jobs)
        assert running <= 1, "the CPU slot admits one training job at a time"
        return jobs if all(j.finished_state for j in jobs) else None

    jobs = wait_until(both_done, 150, "both jobs")
    logs = [Path(j.log_path).read_text()[-1500:] for j in jobs]
    assert [j.status for j in jobs] == ["done", "done"], logs
    assert {j.params["train_config"]["seed"] for j in jobs} == {1, 2}
    assert len({j.run_id for j in jobs}) == 2
    assert all(find_run_dir(j.run_id)[0].joinpath("metrics.json").is_file() for j in jobs)
    assert [j.result["run_id"] for j in jobs] == [j.run_id for j in jobs]  # structured job results


def test_the_same_work_twice_at_once_is_queued_once(tmp_path):
    """A double click: two identical submissions racing each other; one lands, one is refused."""
    from core.jobs.runner import same_work
    from core.store.registry import JobConflict

    registry = Registry(tmp_path / "registry.sqlite")
    params = {"run_id": "run-x", "epochs": 5}
    barrier = threading.Barrier(4)
    landed, refused = [], []

    def go():
        barrier.wait()
        try:
            landed.append(registry.create_job("resume", params, conflict=same_work("resume", params)))
        except JobConflict as exc:
            refused.append(exc.job.id)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(landed) == 1 and refused == landed * 3
    # Other work still gets in: other parameters, and the same ones once the first has ended.
    other = {"run_id": "run-y"}
    registry.create_job("resume", other, conflict=same_work("resume", other))
    with pytest.raises(JobConflict):  # a resume of the same run with another epoch count
        registry.create_job("resume", {"run_id": "run-x"}, conflict=same_work("resume", {"run_id": "run-x"}))
    registry.finish_job(landed[0], "cancelled")
    registry.create_job("resume", params, conflict=same_work("resume", params))


def test_progress_is_timed_and_an_older_registry_gains_the_column(tmp_path):
    import sqlite3
    import time

    path = tmp_path / "registry.sqlite"
    con = sqlite3.connect(path)  # a registry written before ``progressed`` existed
    con.execute(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, params TEXT NOT NULL, "
        "status TEXT NOT NULL, slot TEXT NOT NULL DEFAULT '', fraction REAL NOT NULL DEFAULT 0, "
        "message TEXT NOT NULL DEFAULT '', epoch INTEGER, train_loss REAL, val_loss REAL, "
        "created REAL NOT NULL, started REAL, finished REAL, error TEXT, pid INTEGER, device TEXT, "
        "log_path TEXT, run_id TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0, result TEXT, "
        "heartbeat REAL)"
    )
    con.execute(
        "INSERT INTO jobs (id, kind, params, status, created) VALUES ('job-old', 'data', '{}', 'done', 1.0)"
    )
    con.commit()
    con.close()
    registry = Registry(path)
    assert registry.get_job("job-old").progressed is None
    job_id = registry.create_job("data", {})
    before = time.time()
    registry.set_progress(job_id, 0.5, "half way")
    assert before <= registry.get_job(job_id).progressed <= time.time()


def _count_reads(monkeypatch) -> list:
    """Every Registry._run call (each SQL statement goes through it) made by this thread."""
    calls, real, me = [], Registry._run, threading.get_ident()

    def counted(self, work):
        if threading.get_ident() == me:
            calls.append(work)
        return real(self, work)

    monkeypatch.setattr(Registry, "_run", counted)
    return calls


def test_one_cancel_reads_the_jobs_row_once(runner, monkeypatch):
    """Issue 29: one Cancel read the same registry row up to six times (and polled it while it
    waited). Now: one read that raises the flag in the same statement, and the final write,
    which returns the row it leaves, whatever the job's state."""
    from core.store.locks import hold_lock

    registry = runner.registry
    finished = registry.create_job("data", {"n": 1}, slot="cpu")
    registry.finish_job(finished, "done")
    queued = registry.create_job("data", {"n": 2}, slot="cpu")  # its worker not started yet
    gone = registry.create_job("data", {"n": 3}, slot="cpu")
    dead = subprocess_pid_of_a_finished_process()
    registry.update_job(gone, status="running", pid=dead, started=time.time())
    here = registry.create_job("data", {"n": 4}, slot="cpu")  # run by a thread of this process
    registry.update_job(here, status="running", pid=os.getpid(), started=time.time())
    holding = threading.Event()

    def job_thread():
        with hold_lock(registry.job_lock_path(here)):
            holding.set()
            while not registry.cancel_requested(here):
                time.sleep(0.02)
            registry.finish_job(here, "cancelled", message="cancelled by its thread", only_active=True)

    thread = threading.Thread(target=job_thread)
    thread.start()
    holding.wait(10)
    calls = _count_reads(monkeypatch)
    expected = {finished: ("done", 1), queued: ("cancelled", 2), gone: ("interrupted", 2)}
    expected[here] = ("cancelled", 2)
    for job_id, (status, reads) in expected.items():
        calls.clear()
        job = runner.cancel(job_id)
        assert (job.status, len(calls)) == (status, reads), (job_id, job.status, len(calls))
    thread.join(10)
    assert runner.status(here).message == "cancelled by its thread"
    assert "is gone" in runner.status(gone).error
    with pytest.raises(KeyError):
        runner.cancel("no-such-job")


def subprocess_pid_of_a_finished_process() -> int:
    """The pid of a process that has ended (and been reaped)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
