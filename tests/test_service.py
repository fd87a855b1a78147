"""The service layer's view objects: a job card from one registry read, caches keyed by file version."""

from __future__ import annotations

import json
import os

import pytest

from core.store.paths import DATA_DIR_ENV


@pytest.fixture
def own_dir(tmp_path, monkeypatch):
    """An empty data directory of this test's own (its own registry), no shipped assets."""
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def _stopped_run(data_dir, run_id: str) -> None:
    """A cancelled run of the data directory that could continue (run.json and last.pt)."""
    from core.models import ModelConfig

    run_dir = data_dir / "runs" / run_id
    run_dir.mkdir(parents=True)
    record = {"status": "cancelled", "model_config": ModelConfig.for_model("convnet").to_dict()}
    (run_dir / "run.json").write_text(json.dumps(record))
    (run_dir / "last.pt").write_bytes(b"")


def test_a_job_card_is_built_from_one_registry_read(own_dir, monkeypatch):
    """Whatever the job's state, everything its card shows (title, times, state, message, the
    buttons it offers) comes from one read of the registry; "waiting" is a state, not a message."""
    from core.service import jobs, queue
    from core.store.registry import Registry

    registry = queue.runner().registry
    params = {"model_config": {"name": "rsteer", "hidden": 32}, "data_path": "none.h5"}
    queued = registry.create_job("train", params, slot="cpu")
    registry.update_job(queued, message="waiting for a free cpu slot")
    running = registry.create_job("sweep", {"sweep_config": {}}, slot="cpu")
    registry.update_job(running, status="running", started=100.0, pid=os.getpid(), message="epoch 3/20")
    _stopped_run(own_dir, "run-mine-1")
    stopped = registry.create_job("train", {**params, "data_path": "other.h5"}, slot="cpu")
    registry.update_job(stopped, run_id="run-mine-1", started=100.0)
    registry.finish_job(stopped, "cancelled")

    reads = []
    real = Registry._run

    def counted(self, work):
        reads.append(work)
        return real(self, work)

    monkeypatch.setattr(Registry, "_run", counted)  # every SQL statement goes through _run
    cards = {}
    for job_id in (queued, running, stopped):
        reads.clear()
        cards[job_id] = jobs.job_card(job_id)
        assert len(reads) == 1, (job_id, len(reads))
    assert (cards[queued].state, cards[queued].message) == ("waiting", "waiting for a free cpu slot")
    assert cards[queued].title == "train RSteer 32 ch" and cards[queued].can_cancel
    assert (cards[running].state, cards[running].message, cards[running].finished) == (
        "running",
        "epoch 3/20",
        False,
    )
    assert cards[running].elapsed is not None and not cards[running].can_resume
    card = cards[stopped]
    assert (card.state, card.finished, card.can_cancel, card.can_resume) == ("cancelled", True, False, True)
    assert card.run_id == "run-mine-1" and card.message == ""
    # The same one read tells it when another job already trains that run: no Resume then.
    registry.create_job("resume", {"run_id": "run-mine-1"}, slot="cpu")
    reads.clear()
    assert not jobs.job_card(stopped).can_resume and len(reads) == 1
    # A page's cards come from the jobs it listed, with no read of their own.
    listed = queue.list_jobs()
    reads.clear()
    assert [c.id for c in jobs.job_cards(listed)] == [j.id for j in listed] and reads == []


def test_a_cached_sweep_view_follows_its_file_without_a_timestamp_from_the_page(own_dir):
    """dashboard.cache keys each view by the file's version, which it asks the service for: a
    rewritten results.json is read anew, an unchanged one comes from the cache."""
    from dashboard import cache

    folder = own_dir / "sweeps" / "sweep-1"
    folder.mkdir(parents=True)
    row = {"level": 0.1, "model": "convnet", "data_ee_trajectory": 0.2, "model_ee_mean": 0.1}
    record = {"sweep_id": "sweep-1", "status": "done", "config": {}, "rows": [row]}
    (folder / "results.json").write_text(json.dumps(record))
    for path in (folder / "results.json", folder):
        os.utime(path, (1000, 1000))
    assert cache.sweep_axes(str(folder)) == ["trajectory"]
    record["rows"][0]["data_ee_one_step"] = 0.05
    (folder / "results.json").write_text(json.dumps(record))
    for path in (folder / "results.json", folder):
        os.utime(path, (1000, 1000))  # rewritten, yet the same version: proves the cache is used
    assert cache.sweep_axes(str(folder)) == ["trajectory"]  # same version: the cached value
    os.utime(folder / "results.json", (2000, 2000))
    assert cache.sweep_axes(str(folder)) == ["one_step", "trajectory"]  # a new version: read anew
