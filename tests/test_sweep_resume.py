"""A sweep whose process is gone settles to 'interrupted' and resumes to the rows of an
uninterrupted one: from the CLI (a real process, SIGKILL after its first row) and as a job
(killed, resumed as a job; cancelled). The Ray engine's counterpart is in test_sweep_ray.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wait_until

from core.service.queue import job_title
from core.store.paths import PROJECT_ROOT
from core.sweep import SweepConfig, list_sweeps, run_sweep
from core.sweep.results import LOCK_FILE

MODELS = ("convnet", "rsteer")
LEVELS = (0.0, 0.3)
#: The CLI options of a tiny sweep, and the same sweep as a SweepConfig.
CLI_OPTIONS = (
    "--levels", "0,0.3", "--models", ",".join(MODELS), "--grid", "16", "--frames", "12", "--sims", "2",
    "--epochs", "1", "--hidden", "8", "--layers", "2", "--max-train-windows", "8", "--eval-steps", "3",
)  # fmt: skip
#: Row fields fixed by the configs and seeds (everything but timings, run ids and per-frame lists).
DETERMINISTIC = (
    "level", "model", "status", "data_ee_one_step", "data_ee_trajectory", "model_ee_mean",
    "model_ee_relative", "rmse_future", "rmse_domain", "rmse_persistence_future", "dataset",
)  # fmt: skip


def tiny_config(models=MODELS, **train) -> SweepConfig:
    """The sweep CLI_OPTIONS describe (``train`` overrides its TrainConfig fields)."""
    return SweepConfig(
        levels=LEVELS,
        models=models,
        data={"grid": 16, "frames": 12, "sims": 2},
        train={"epochs": 1, "max_train_windows": 8, "eval_steps": 3, **train},
        model_options={m: {"hidden": 8, "layers": 2} for m in models},
    )


def wait_for(predicate, timeout: float, what: str):
    """``predicate()``'s first truthy value, polled every 0.05 s; AssertionError after ``timeout``."""
    return wait_until(predicate, timeout, what, step=0.05)


def first_row_folder(sweeps: Path, before: set[str]):
    """A new sweep folder under ``sweeps`` whose results.json has a row, or None."""
    for folder in sweeps.glob("sweep-*"):
        if folder.name in before:
            continue
        try:
            if json.loads((folder / "results.json").read_text())["rows"]:
                return folder
        except (OSError, ValueError, KeyError):
            pass  # not written yet
    return None


def kill_after_first_row(args: list[str], data: Path) -> Path:
    """Run ``python -m core.sweep *args`` in its own process group, SIGKILL the group once its
    first row is recorded; return the sweep's folder."""
    sweeps = data / "sweeps"
    before = {p.name for p in sweeps.glob("*")} if sweeps.is_dir() else set()
    env = {**os.environ, "APPROXSYM_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.sweep", *args], cwd=PROJECT_ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        folder = wait_for(
            lambda: first_row_folder(sweeps, before) or (proc.poll() is not None and "exited"), 300, "a row"
        )
        assert folder != "exited", f"the sweep ended first: {proc.stderr.read().decode()[-2000:]}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return folder


def assert_same_rows(resumed: list[dict], uninterrupted: list[dict]) -> None:
    """Same (level, model) pairs in the same order, and the same deterministic values."""
    assert [(r["level"], r["model"]) for r in resumed] == [(r["level"], r["model"]) for r in uninterrupted]
    for got, want in zip(resumed, uninterrupted, strict=True):
        assert {k: got[k] for k in DETERMINISTIC} == {k: want[k] for k in DETERMINISTIC}
        assert got["ee_by_frame"] == want["ee_by_frame"]


@pytest.fixture
def data(tmp_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    return tmp_data_dir


def test_a_killed_cli_sweep_settles_interrupted_and_resume_gives_the_uninterrupted_rows(data, capsys):
    folder = kill_after_first_row(list(CLI_OPTIONS), data)
    left = json.loads((folder / "results.json").read_text())
    assert left["status"] == "running" and 1 <= len(left["rows"]) < 4  # what the kill left behind

    (listed,) = [s for s in list_sweeps() if s["sweep_id"] == folder.name]  # the next look settles it
    assert listed["status"] == "interrupted" and "ended before it finished" in listed["error"]
    assert json.loads((folder / "results.json").read_text())["status"] == "interrupted"

    env = {**os.environ, "APPROXSYM_DATA_DIR": str(data)}
    out = subprocess.run(
        [sys.executable, "-m", "core.sweep", "resume", folder.name], cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"sweep {folder.name} (done)" in out.stdout
    resumed = json.loads((folder / "results.json").read_text())
    assert resumed["status"] == "done" and "error" not in resumed
    assert not (folder / LOCK_FILE).exists()  # a finished sweep leaves no lock file behind
    assert resumed["rows"][: len(left["rows"])] == left["rows"]  # finished rows kept as they were
    assert resumed["config"] == tiny_config().to_dict()
    assert_same_rows(resumed["rows"], run_sweep(tiny_config()).rows)

    from core.sweep.__main__ import main

    capsys.readouterr()
    assert main(["resume", folder.name]) == 2  # nothing left: one line, nothing run
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: sweep '{folder.name}' has finished: every (pattern, level, model, seed) has its row"
    ]
    assert not (folder / LOCK_FILE).exists()


def test_a_live_sweep_is_never_settled_nor_resumed_and_a_missing_one_is_named(data):
    from core.sweep.results import open_sweep, reopen_sweep, resume_refusal

    sweep = open_sweep(tiny_config(), sweep_id="sweep-live-test")
    try:
        assert (sweep.path / LOCK_FILE).is_file()
        (listed,) = [s for s in list_sweeps() if s["sweep_id"] == "sweep-live-test"]
        assert listed["status"] == "running"  # its owner (this process) holds the lock
        assert resume_refusal("sweep-live-test") == "sweep 'sweep-live-test' is still running"
        with pytest.raises(ValueError, match="still running"):
            reopen_sweep("sweep-live-test")
    finally:
        sweep.close("cancelled")
    assert resume_refusal("sweep-live-test") is None
    assert resume_refusal("sweep-nowhere") == "there is no sweep 'sweep-nowhere' in this data directory"
    with pytest.raises(ValueError, match="sweep id"):
        reopen_sweep("../runs")


# ------------------------------------------------------------------ as a job


@pytest.fixture
def runner(data, tmp_path):
    from core.jobs import JobRunner
    from core.store.registry import Registry

    r = JobRunner(Registry(tmp_path / "registry.sqlite"))
    yield r
    for job in r.list():  # never leave workers behind
        if not job.finished_state:
            r.cancel(job.id, grace_s=0.5)


def _sweep_of(runner, job_id: str) -> Path | None:
    sweep_id = (runner.status(job_id).result or {}).get("sweep_id")
    folder = Path(os.environ["APPROXSYM_DATA_DIR"]) / "sweeps" / str(sweep_id)
    return folder if sweep_id and (folder / "results.json").is_file() else None


def test_a_killed_sweep_job_settles_interrupted_and_a_resume_job_completes_it(runner, data):
    config = tiny_config()
    job_id = runner.submit("sweep", {"sweep_config": config.to_dict()})
    folder = wait_for(lambda: _sweep_of(runner, job_id), 300, "the sweep's folder")
    wait_for(lambda: json.loads((folder / "results.json").read_text())["rows"], 300, "a row")
    os.killpg(runner.status(job_id).pid, signal.SIGKILL)

    wait_for(lambda: runner.status(job_id).status == "interrupted", 30, "the job to be interrupted")
    (listed,) = [s for s in list_sweeps() if s["sweep_id"] == folder.name]
    assert listed["status"] == "interrupted"
    kept = listed["rows"]

    params = {"resume": folder.name, "sweep_config": config.to_dict(), "engine": "local"}
    resume_id = runner.submit("sweep", params)
    assert job_title(runner.status(resume_id)).startswith("resume sweep Δb 0, 0.3")
    wait_for(lambda: runner.status(resume_id).finished_state, 300, "the resume job")
    assert runner.status(resume_id).status == "done", runner.status(resume_id).error
    assert (runner.status(resume_id).result or {})["sweep_id"] == folder.name
    record = json.loads((folder / "results.json").read_text())
    assert record["status"] == "done" and record["rows"][: len(kept)] == kept
    assert [(r["level"], r["model"]) for r in record["rows"]] == [(v, m) for v in LEVELS for m in MODELS]
    with pytest.raises(ValueError, match="has finished"):  # nothing left to resume
        runner.submit("sweep", params)


def test_a_cancelled_sweep_job_ends_cancelled_and_its_results_say_so(runner, data):
    config = tiny_config(models=("convnet",), epochs=200, patience=200)  # long enough to cancel
    job_id = runner.submit("sweep", {"sweep_config": config.to_dict()})
    folder = wait_for(lambda: _sweep_of(runner, job_id), 300, "the sweep's folder")
    wait_for(lambda: runner.status(job_id).status == "running", 60, "the job to run")
    job = runner.cancel(job_id)
    assert job.status == "cancelled"
    (listed,) = [s for s in list_sweeps() if s["sweep_id"] == folder.name]
    assert listed["status"] in ("cancelled", "interrupted")
    assert json.loads((folder / "results.json").read_text())["status"] == listed["status"]


def test_the_shared_sweep_loop_stops_its_executor_and_keeps_the_rows_it_finished(data, tmp_path):
    """core.sweep.executor.run_plan, with an executor that trains nothing: a stop asked between
    its events closes the executor (the Ray executor then cancels its tasks) before the sweep is
    closed 'cancelled' with the finished item's row kept; resuming runs only the rest."""
    from types import SimpleNamespace

    from core.sweep.executor import DatasetReady, Trained, run_plan
    from core.sweep.results import open_sweep, reopen_sweep, row_key

    def fake(ran: list, closed: list):
        def execute(sweep, items, within, should_stop):
            try:
                for item in items:
                    yield DatasetReady(item.dataset, tmp_path / "d.h5")
                    within(item)(0.5, "halfway")
                    ran.append(item.key)
                    run_dir = tmp_path / f"run-{len(ran)}"
                    run_dir.mkdir(exist_ok=True)
                    done = SimpleNamespace(
                        status="done", run_id=run_dir.name, run_dir=run_dir, metrics=None, error=None
                    )
                    yield Trained(item, done, 1.0, tmp_path / "d.h5")
                    yield None
            finally:  # the sweep's status when the executor was closed
                closed.append(json.loads((sweep.path / "results.json").read_text())["status"])

        return execute

    config = tiny_config()
    plan = [item.key for item in config.plan()]
    ran, closed, seen = [], [], []
    sweep = open_sweep(config, root=tmp_path)
    stop = lambda: len(ran) == 1  # noqa: E731  (asked after the first training's row)
    result = run_plan(sweep, fake(ran, closed), lambda f, m="", **k: seen.append(f), stop)
    assert result.status == "cancelled" and closed == ["running"]  # stopped before it said cancelled
    # the finished training's run says which sweep made it
    assert json.loads((tmp_path / "run-1" / "run.json").read_text())["sweep_id"] == sweep.sweep_id
    assert [row_key(r) for r in result.rows] == plan[:1]
    stored = json.loads((result.path / "results.json").read_text())
    assert stored["status"] == "cancelled" and len(stored["rows"]) == 1
    assert all(0 < a <= b <= 1 for a, b in zip(seen, seen[1:], strict=False))

    ran.clear()
    resumed = run_plan(reopen_sweep(result.sweep_id, tmp_path), fake(ran, []), lambda *a, **k: None)
    assert resumed.status == "done" and ran == plan[1:]
    assert [row_key(r) for r in resumed.rows] == plan
