"""The machinery's small rules, each pinned by a fast test: who may claim a slot, which slots
are independent, what counts as a silent worker, cancel while queued, the rename length
limit, symlinks out of the data folder, the "linear" skip with 3+ frames, the persistence
baseline's per-step errors, and the terminal warning for a server open to the network.

Jobs are driven through the registry and core.jobs.worker.run_job in this process, with a
stand-in for the kind's work and sleeping processes as live workers: no training."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from core.jobs import worker
from core.jobs.kinds import KINDS
from core.jobs.runner import HEARTBEAT_STALE_S, JobRunner, default_limits
from core.store.paths import PROJECT_ROOT, inside
from core.store.registry import FINISHED, Registry


@pytest.fixture
def registry(tmp_path, tmp_data_dir) -> Registry:
    return Registry(tmp_path / "registry.sqlite")


def _live_worker(job_id: str) -> subprocess.Popen:
    """A sleeping process that the runner takes for ``job_id``'s worker (its command line names both)."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "core.jobs", "run", job_id],
        start_new_session=True,
    )


def _holder(registry: Registry, slot: str) -> tuple[str, subprocess.Popen]:
    """A running job holding one ``slot``, with a live worker process."""
    job_id = registry.create_job("train", {}, slot=slot)
    assert registry.claim_slot(job_id, slot, 1)
    proc = _live_worker(job_id)
    registry.update_job(job_id, pid=proc.pid, heartbeat=time.time())
    return job_id, proc


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture
def fake_work(monkeypatch):
    """Replace every kind's work by one that records which jobs ran it (slots kept as they are)."""
    ran: list[str] = []

    def work(ctx):
        ran.append(ctx.job_id)
        return {"status": "done"}

    for name, kind in KINDS.items():
        monkeypatch.setitem(KINDS, name, dataclasses.replace(kind, run=work))
    old_term = signal.getsignal(signal.SIGTERM)  # run_job installs its own handler
    yield ran
    signal.signal(signal.SIGTERM, old_term)


def _run_job_bounded(job_id: str, registry: Registry, limits: dict, after_s: float, *rescues):
    """run_job in this process; should it still wait after ``after_s`` seconds, each of ``rescues``
    (functions) is called, so a test of a broken worker fails instead of hanging."""
    timer = threading.Timer(after_s, lambda: [rescue() for rescue in rescues])
    timer.start()
    try:
        return worker.run_job(job_id, registry, limits)
    finally:
        timer.cancel()


# ---------------------------------------------------------------- who claims a slot


@pytest.mark.parametrize("status", sorted(FINISHED))
def test_a_finished_job_never_claims_a_slot(registry, status):
    job_id = registry.create_job("train", {}, slot="compute")
    registry.finish_job(job_id, status)
    assert not registry.claim_slot(job_id, "compute", 5)
    after = registry.get_job(job_id)
    assert after.status == status and after.started is None


def test_a_queued_job_whose_cancel_was_asked_never_claims_a_slot(registry):
    job_id = registry.create_job("train", {}, slot="compute")
    registry.request_cancel(job_id)
    assert not registry.claim_slot(job_id, "compute", 5)
    assert registry.get_job(job_id).status == "queued"
    other = registry.create_job("train", {"n": 2}, slot="compute")
    assert registry.claim_slot(other, "compute", 5)  # the check is not a refusal of everyone


@pytest.mark.parametrize("status", ["cancelled", "interrupted"])
def test_the_worker_of_a_stopped_job_leaves_it_as_it_is(registry, fake_work, status):
    job_id = registry.create_job("train", {}, slot="compute")
    registry.finish_job(job_id, status, message=f"{status} earlier")
    rescue = lambda: registry.request_cancel(job_id)  # noqa: E731 (a broken worker waits for a slot)
    assert _run_job_bounded(job_id, registry, {"compute": 1}, 5.0, rescue) == status
    after = registry.get_job(job_id)
    assert (after.status, after.message) == (status, f"{status} earlier")
    assert after.pid is None and after.started is None  # no worker took it up
    assert fake_work == []


# ------------------------------------------------------ the data and compute slots


def test_each_kind_uses_its_own_slot_and_each_slot_has_a_limit():
    assert {name: kind.slot for name, kind in KINDS.items()} == {
        "data": "data", "train": "compute", "resume": "compute", "sweep": "compute",
    }  # fmt: skip
    limits = default_limits()
    assert limits["data"] == 1 and limits["compute"] >= 1


def test_a_data_job_claims_its_slot_beside_a_training_job_but_a_second_training_job_waits(registry):
    train_id = registry.create_job("train", {}, slot="compute")
    assert registry.claim_slot(train_id, "compute", 1)
    second_train = registry.create_job("train", {"n": 2}, slot="compute")
    assert not registry.claim_slot(second_train, "compute", 1)
    data_id = registry.create_job("data", {}, slot="data")
    assert registry.claim_slot(data_id, "data", 1)
    second_data = registry.create_job("data", {"n": 2}, slot="data")
    assert not registry.claim_slot(second_data, "data", 1)
    assert registry.get_job(second_train).status == registry.get_job(second_data).status == "queued"


def test_a_data_worker_runs_while_a_training_job_holds_the_compute_slot(registry, fake_work):
    holder, proc = _holder(registry, "compute")
    try:
        data_id = registry.create_job("data", {}, slot=KINDS["data"].slot)
        rescue = lambda: registry.request_cancel(data_id)  # noqa: E731
        assert _run_job_bounded(data_id, registry, default_limits(), 15.0, rescue) == "done"
        assert fake_work == [data_id]
        assert registry.get_job(holder).status == "running"
    finally:
        _stop(proc)


# -------------------------------------------------------------- cancel while queued


def test_a_job_cancelled_while_it_waits_for_a_slot_ends_cancelled_without_working(registry, fake_work):
    holder, proc = _holder(registry, "compute")
    try:
        job_id = registry.create_job("train", {"n": 2}, slot="compute")
        # The cancel comes while it waits. Should the worker ignore it, it would wait on (a
        # job whose cancel was asked gets no slot): after 15 s the slot frees and the cancel
        # is withdrawn, so it does its work and the test fails rather than hangs.
        cancel = threading.Timer(1.0, registry.request_cancel, [job_id])
        cancel.start()
        free = lambda: registry.finish_job(holder, "done")  # noqa: E731
        withdraw = lambda: registry.update_job(job_id, cancel_requested=0)  # noqa: E731
        status = _run_job_bounded(job_id, registry, {"compute": 1}, 15.0, free, withdraw)
        cancel.cancel()
    finally:
        _stop(proc)
    job = registry.get_job(job_id)
    assert (status, job.status, job.message) == ("cancelled", "cancelled", "cancelled while queued")
    assert fake_work == [] and job.started is None


def test_a_job_cancelled_as_its_slot_frees_still_never_starts(registry, fake_work):
    """The cancel and the free slot reach the waiting worker at the same look: cancel wins."""
    job_id = registry.create_job("train", {}, slot="compute")
    registry.request_cancel(job_id)
    withdraw = lambda: registry.update_job(job_id, cancel_requested=0)  # noqa: E731 (see above)
    assert _run_job_bounded(job_id, registry, {"compute": 1}, 15.0, withdraw) == "cancelled"
    assert registry.get_job(job_id).status == "cancelled" and fake_work == []


# ---------------------------------------------------------- silence and the wall clock


def test_a_wall_clock_jump_does_not_make_a_beating_worker_silent(registry, monkeypatch):
    """After a suspend the wall clock jumps an hour while the monotonic clock (and the worker,
    not yet scheduled) stood still: its heartbeat looks an hour old, yet it is no more silent
    than it was a moment ago. Only silence this runner watched on the monotonic clock counts."""
    runner = JobRunner(registry)
    job_id, proc = _holder(registry, "compute")
    try:
        assert registry.get_job(job_id).status == "running"
        assert runner.list() and registry.get_job(job_id).status == "running"  # the runner saw its beat
        real_time = time.time
        monkeypatch.setattr(time, "time", lambda: real_time() + 3600.0)  # the jump; monotonic unchanged
        for _ in range(3):
            jobs = {j.id: j for j in runner.list()}
            assert jobs[job_id].status == "running", jobs[job_id].error
        # The worker beats again on the new wall clock: healthy still.
        registry.update_job(job_id, heartbeat=time.time())
        assert runner.status(job_id).status == "running"
        # Control: the same heartbeat watched unchanged past the limit on the monotonic clock
        # is silence, and the worker is stopped.
        monkeypatch.setattr("core.jobs.runner.HEARTBEAT_STALE_S", 0.3)
        runner.list()
        time.sleep(0.5)
        job = runner.status(job_id)
        assert job.status == "interrupted" and "no heartbeat" in job.error
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert HEARTBEAT_STALE_S > 2 * worker.HEARTBEAT_S  # a healthy worker beats well inside the limit


# ------------------------------------------------------------------------- names


def _own_run(data_dir: Path, name: str = "run-mine") -> Path:
    run = data_dir / "runs" / name
    run.mkdir(parents=True)
    record = {"status": "done", "model_config": {"name": "convnet", "hidden": 8}}
    (run / "run.json").write_text(json.dumps(record))
    return run


@pytest.fixture
def own_data(tmp_path, monkeypatch) -> Path:
    """An empty data directory of this test's own, with no shipped assets."""
    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    return tmp_path / "data"


def test_a_rename_takes_exactly_label_limit_characters_and_refuses_one_more(own_data):
    from core.names import LABEL_LIMIT
    from core.service import items

    run = _own_run(own_data)
    longest = "n" * LABEL_LIMIT
    assert items.rename_item("run", run.name, longest) == longest
    with pytest.raises(ValueError, match=f"at most {LABEL_LIMIT} characters, got {LABEL_LIMIT + 1}"):
        items.rename_item("run", run.name, "m" * (LABEL_LIMIT + 1))
    assert json.loads((run / "run.json").read_text())["label"] == longest  # the old name is kept
    assert 20 <= LABEL_LIMIT <= 200  # a name fits a select box, and a limit exists at all


# ---------------------------------------------------------------- the data folder


def test_inside_refuses_a_symlink_that_leaves_the_folder_and_keeps_one_that_stays(tmp_path):
    base, outside = tmp_path / "data", tmp_path / "elsewhere"
    (base / "runs" / "real").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("keep me")
    (base / "runs" / "escape").symlink_to(outside, target_is_directory=True)
    (base / "runs" / "alias").symlink_to(base / "runs" / "real", target_is_directory=True)
    for names in (("escape",), ("escape", "secret"), ("alias", "..", "escape")):
        with pytest.raises(ValueError):
            inside(base / "runs", *names)
    assert inside(base / "runs", "alias") == (base / "runs" / "real").resolve()
    assert inside(base, "runs", "real") == (base / "runs" / "real").resolve()


def test_a_run_folder_linked_out_of_the_data_folder_can_be_neither_renamed_nor_deleted(own_data, tmp_path):
    from core.service import items

    outside = _own_run(tmp_path / "elsewhere", "run-theirs")
    (own_data / "runs").mkdir(parents=True)
    (own_data / "runs" / "run-link").symlink_to(outside, target_is_directory=True)
    before = (outside / "run.json").read_text()
    with pytest.raises(ValueError, match="outside"):
        items.rename_item("run", "run-link", "mine now")
    with pytest.raises(ValueError, match="outside"):
        items.delete_item("run", "run-link")
    assert (outside / "run.json").read_text() == before


# ------------------------------------------------------------------------ physics


@pytest.mark.parametrize("frames,channels", [(3, 2), (4, 2), (3, 3)])
def test_the_linear_skip_extrapolates_the_two_newest_frames_of_many(frames, channels):
    from core.train.rollout import skip_base

    stack = [torch.full((1, channels, 4, 4), float(10**i)) for i in range(frames)]  # 1, 10, 100, ...
    x = torch.cat(stack, dim=1)
    want = 2 * stack[-1] - stack[-2]
    assert torch.equal(skip_base(x, "linear", channels), want)
    assert torch.equal(skip_base(x, "last", channels), stack[-1])


def test_a_three_frame_model_with_the_linear_skip_adds_its_output_to_the_newest_extrapolation():
    from core.models import build_model
    from core.train.baseline import LinearExtrapolation
    from core.train.rollout import Scaled, rollout

    torch.manual_seed(0)
    model = build_model("convnet", hidden=4, layers=2, input_frames=3).eval()
    x = torch.randn(2, 6, 8, 8)
    with torch.no_grad():
        want = 2 * x[:, 4:] - x[:, 2:4] + 0.5 * model(x / 2.0)
        assert torch.allclose(Scaled(model, 2.0, 0.5, skip="linear")(x), want, atol=1e-6)
        a, b, c = torch.randn(3, 1, 2, 8, 8)
        steady = torch.stack([a + t * b + 0 * c for t in range(7)], 1)  # constant velocity change
        assert torch.allclose(rollout(LinearExtrapolation(), steady[:, :3], 4), steady[:, 3:], atol=1e-4)


class _Zero(torch.nn.Module):
    """Predicts a still fluid: its error at each step is the true frame itself."""

    def forward(self, x):
        return torch.zeros_like(x[:, :2])


def test_the_persistence_baseline_per_step_is_its_own_error_not_the_models():
    from core.train.evaluate import evaluate_model
    from core.train.samples import SplitSpec, make_splits

    rng = np.random.default_rng(0)
    n_sims, n_frames, f = 2, 20, 2
    frames = rng.normal(size=(4, n_sims, n_frames, 2, 8, 8)).cumsum(axis=2).astype(np.float32)
    splits = make_splits(n_sims, n_frames, SplitSpec(input_frames=f, steps=2))
    metrics, arrays = evaluate_model(_Zero(), frames, splits, steps=3)
    start, sims = splits.start_of("test_future"), splits.sims_of("test_future")
    block = frames[:, list(sims)].astype(np.float64)
    truth = block[:, :, start + f : start + f + 3]
    newest = block[:, :, start + f - 1 : start + f]
    persistence = np.sqrt(((truth - newest) ** 2).mean(axis=(0, 1, 3, 4, 5)))
    model = np.sqrt((truth**2).mean(axis=(0, 1, 3, 4, 5)))
    got = metrics["test_future"]
    assert np.allclose(got["persistence_rmse_per_step"], persistence, rtol=1e-5)
    assert np.allclose(arrays["test_future_persistence_rmse"], persistence, rtol=1e-5)
    assert np.isclose(got["persistence_rmse"], np.sqrt((persistence**2).mean()), rtol=1e-5)
    assert np.allclose(got["rmse_per_step"], model, rtol=1e-5)
    assert not np.allclose(persistence, model, rtol=0.1)  # the two differ, so a mix-up shows


# -------------------------------------------------------- a server open to the network


@pytest.mark.parametrize(
    "address,loopback",
    [
        ("127.0.0.1", True), ("localhost", True), ("LOCALHOST", True), ("::1", True), ("[::1]", True),
        ("127.0.0.2", True), ("unix:///tmp/app.sock", True),
        ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("my-laptop.local", False),
        ("", False), (None, False),
    ],
)  # fmt: skip
def test_only_a_loopback_address_goes_without_the_no_login_warning(address, loopback):
    from dashboard.exposure import exposure_warning, is_loopback

    assert is_loopback(address) is loopback
    text = exposure_warning(address)
    assert (text is None) is loopback
    if text is not None:
        assert "\n" not in text and "no login" in text and "upload, delete and start jobs" in text


def test_the_warning_is_printed_once_per_process(monkeypatch, capsys):
    from dashboard import exposure

    monkeypatch.setattr(exposure, "_warned", False)
    assert not exposure.warn_once("127.0.0.1")
    assert exposure.warn_once("0.0.0.0") and not exposure.warn_once("0.0.0.0")
    assert capsys.readouterr().err.count("WARNING") == 1


def test_a_server_bound_to_every_interface_warns_once_in_its_terminal(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "APPROXSYM_DATA_DIR": str(tmp_path / "data"),
           "APPROXSYM_ASSETS_DIR": str(tmp_path / "no-assets")}  # fmt: skip
    # Streamlit runs app.py only for a session; its script health check opens one (twice here:
    # the warning must not repeat). hideWelcomeMessage: no lookup of this machine's public address.
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "dashboard" / "app.py"),
         "--server.headless", "true", "--server.address", "0.0.0.0", "--server.port", str(port),
         "--server.scriptHealthCheckEnabled", "true", "--logger.hideWelcomeMessage", "true"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        checks = 0
        end = time.monotonic() + 60
        while checks < 2 and time.monotonic() < end:
            try:
                url = f"http://127.0.0.1:{port}/_stcore/script-health-check"
                with urllib.request.urlopen(url, timeout=30) as reply:
                    checks += reply.status == 200
            except OSError:
                time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # reachable from the network: not a moment longer
        err = proc.communicate(timeout=20)[1].decode()
    assert checks == 2, err[-2000:]
    warnings = [line for line in err.splitlines() if "no login" in line]
    assert len(warnings) == 1 and "bound to 0.0.0.0" in warnings[0], err[-2000:]
