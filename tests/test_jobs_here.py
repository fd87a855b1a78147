"""Data jobs run in a thread of this process (core.jobs.here): same record, Cancel, liveness."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from conftest import TINY_CONFIG, wait_until

from core.jobs import JobRunner
from core.jobs.here import submit_here, warm
from core.store.locks import hold_lock
from core.store.registry import Registry


@pytest.fixture
def runner(tmp_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    return JobRunner(Registry(tmp_path / "registry.sqlite"), limits={"compute": 1, "data": 1})


def test_a_data_job_run_here_is_recorded_like_a_worker_s(runner):
    config = {**TINY_CONFIG, "frames": 8, "seed": 11}
    job_id = submit_here(runner, "data", {"data_config": config})
    job = wait_until(lambda: (j := runner.status(job_id)).finished_state and j, 120, "the job to end")
    assert job.status == "done", job.error
    assert job.kind == "data" and job.pid == os.getpid() and not runner._procs  # no worker process
    assert Path(job.result["dataset_path"]).is_file()
    warm(lambda: None).result(timeout=60)  # the job thread is idle again: the job's body returned
    assert "finished: done" in Path(job.log_path).read_text()


def test_cancel_stops_a_data_job_run_here_before_it_writes(runner):
    from core.data import DataConfig
    from core.data.cache import dataset_path

    config = {"grid": 16, "frames": 300, "sims": 1, "buoyancy_diff": 0.3, "seed": 12}
    gate = threading.Event()
    warm(gate.wait, 60)  # the job waits behind this, so Cancel comes while it simulates
    job_id = submit_here(runner, "data", {"data_config": config})
    gate.set()
    wait_until(lambda: runner.status(job_id).fraction > 0, 120, "the simulation to start")
    job = runner.cancel(job_id)
    assert job.status == "cancelled", (job.status, job.message)
    warm(lambda: None).result(timeout=60)  # the job thread is idle again: the job's body returned
    assert runner.status(job_id).status == "cancelled"
    assert not dataset_path(DataConfig(**config)).exists()


def test_a_job_whose_process_holds_its_lock_is_alive_and_one_without_is_marked(runner, tmp_path):
    job_id = runner.submit("data", {"data_config": {**TINY_CONFIG, "seed": 13}}, in_process=True)
    runner.registry.update_job(job_id, pid=os.getpid())  # what submit_here records: this process
    with hold_lock(runner.registry.job_lock_path(job_id)):  # what the job's thread holds
        other = JobRunner(Registry(tmp_path / "registry.sqlite"))  # another process's look: the CLI
        assert other.reconcile() == []
        assert other.status(job_id).status == "queued"
    assert other.reconcile() == [job_id]
    job = other.status(job_id)
    assert job.status == "interrupted" and "is gone" in job.error


def test_only_data_jobs_run_here(runner, tiny_dataset_path):
    with pytest.raises(ValueError, match="in_process"):
        runner.submit("resume", {"run_id": "run-x"}, in_process=True)


def test_the_data_page_shows_a_small_new_dataset_in_the_run_of_the_click(tmp_path, monkeypatch):
    """No poll interval, no second run: the click's own run waits for the in-process job."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=120).switch_page("app_pages/data.py").run()
    at.selectbox(key="gen_grid").set_value(16)
    at.number_input(key="gen_frames").set_value(8)
    next(b for b in at.button if b.label == "Generate").click().run()
    assert not at.exception, at.exception
    said = " ".join(s.value for s in at.success)
    assert "Generation started" in said and "Finished" in said and "shown below" in said, said
    from core.service import datasets

    picked = at.selectbox(key="data_choice").value
    assert "16² · 1 sim × 8 frames" in datasets.dataset_title(picked), picked
    assert any("Estimated time on this machine" in c.value for c in at.caption)
