"""Damaged items stay visible: a run, dataset or sweep with a file that cannot be read is listed
as "damaged: <file>: <reason>", refused in that line when opened, and deletable (issue 28,
point 6). Before, a corrupt metrics.json or truncated run.json hid the run from every list."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.service import comparison, datasets, items, runs, sweeps
from core.store.damage import DamagedError

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def own(tmp_path, monkeypatch, shipped):
    """A data directory holding a copy of the shipped runs, dataset and sweep as the user's own
    (the shipped folder hidden, so only these are listed)."""
    data = tmp_path / "data"
    for sub in ("runs", "datasets", "sweeps"):
        shutil.copytree(shipped / sub, data / sub)
    for sweep in (data / "sweeps").iterdir():  # the Figure-4 sweep only: these tests damage one sweep
        if json.loads((sweep / "results.json").read_text())["config"].get("preset") == "patterns":
            shutil.rmtree(sweep)
    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(data))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    return data


def _one(folder: Path, contains: str = "") -> Path:
    return next(p for p in sorted(folder.iterdir()) if contains in p.name)


def test_a_run_with_a_corrupt_metrics_json_is_listed_damaged_refused_when_opened_and_deletable(own):
    run_dir = _one(own / "runs", "convnet")
    text = (run_dir / "metrics.json").read_text()
    (run_dir / "metrics.json").write_text(text[: len(text) // 2])
    line = "damaged: metrics.json: truncated or not valid JSON ("
    listed = {r.id: r for r in runs.list_runs()}
    assert len(listed) == len(list((own / "runs").iterdir()))  # nothing hidden
    run = listed[run_dir.name]
    assert run.status == "damaged" and run.damaged.startswith(line) and "\n" not in run.damaged
    assert str(run_dir) not in run.damaged  # the file named inside its run, not by its full path
    title = runs.run_titles([run])[0]
    assert title.startswith("ConvNet") and title.endswith("(damaged)")  # still named by its run.json
    row = next(r for r in runs.run_rows(list(listed.values())) if r.id == run.id)
    assert row.status == run.damaged
    from core.train.checkpoints import load_run

    with pytest.raises(DamagedError) as refused:
        load_run(run.id)
    assert str(refused.value) == run.damaged
    other = next(r for r in listed if r != run.id)
    with pytest.raises(ValueError, match=r"^damaged: metrics\.json: truncated"):
        comparison.compare_runs([run.id, other], "test-future", 0, 0)
    items.delete_item("run", run.id)
    assert not run_dir.exists() and run.id not in {r.id for r in runs.list_runs()}


def test_a_run_with_a_truncated_run_json_is_listed_by_its_id(own):
    run_dir = _one(own / "runs", "rsteer")
    (run_dir / "run.json").write_text('{"run_id": "x", "stat')
    (history := run_dir / "history.json").write_text('{"not": "a list"}')
    run = next(r for r in runs.list_runs() if r.id == run_dir.name)
    assert run.damaged.startswith("damaged: run.json: truncated or not valid JSON (")
    assert run.config == {} and runs.run_titles([run]) == [f"{run_dir.name} (damaged)"]
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_dir.name, "status": "done"}))
    run = next(r for r in runs.list_runs() if r.id == run_dir.name)
    assert run.damaged == "damaged: history.json: expected a JSON list, found dict", history
    items.delete_item("run", run.id)
    assert not run_dir.exists()


def test_a_sweep_with_a_corrupt_results_json_is_listed_damaged_and_deletable(own):
    sweep_dir = _one(own / "sweeps")
    (sweep_dir / "results.json").write_bytes(b"\xff\xfe not json")
    entry = next(e for e in sweeps.sweep_entries() if e.name == sweep_dir.name)
    assert sweeps.sweep_entries()[0] == entry  # a damaged sweep has no preset: listed first, not hidden
    assert entry.damaged == "damaged: results.json: not a UTF-8 text file (invalid start byte)"
    assert entry.label == f"{sweep_dir.name} (damaged)"
    with pytest.raises(ValueError) as refused:
        sweeps.sweep_curves(entry.path)
    assert str(refused.value) == entry.damaged
    (sweep_dir / "results.json").write_text('{"sweep_id": "s", "status": "done"}')
    assert sweeps.sweep_entries()[0].damaged == "damaged: results.json: expected a 'rows' list"
    items.delete_item("sweep", entry.name)
    assert sweeps.sweep_entries() == []


def test_a_dataset_with_a_field_of_the_wrong_kind_is_listed_damaged_and_deletable(own):
    path = _one(own / "datasets")
    with h5py.File(path, "r+") as f:
        shape = f["velocity"].shape
        del f["velocity"]
        f.create_dataset("velocity", data=np.zeros(shape, dtype=np.complex64))
    (entry,) = datasets.dataset_entries()
    assert (
        entry.damaged
        == f"damaged: {path.name}: velocity has dtype <c8 (complex), expected real floating point"
    )
    assert entry.label.endswith("(damaged)")
    items.delete_item("dataset", entry.name)
    assert datasets.dataset_entries() == []


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


def test_the_train_page_lists_a_damaged_run_refuses_to_open_it_and_deletes_it(own):
    run_dir = _one(own / "runs", "e2cnn")
    (run_dir / "metrics.json").write_text("{")
    line = "damaged: metrics.json: truncated or not valid JSON (Expecting property name enclosed in "
    at = _app().switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="train_run_pick")
    damaged = [t for t in picker.options if t.endswith("(damaged)")]
    assert len(picker.options) == len(list((own / "runs").iterdir())) and len(damaged) == 1, picker.options
    picker.set_value(damaged[0]).run()
    assert not at.exception, at.exception
    assert any(line in e.value for e in at.error), [e.value for e in at.error]
    at.checkbox(key=f"train_manage_sure_{run_dir.name}").check().run()
    at.button(key="train_manage_delete").click().run()
    assert not at.exception, at.exception
    left = len(list((own / "runs").iterdir()))
    assert not run_dir.exists() and len(at.selectbox(key="train_run_pick").options) == left


def test_compare_data_and_symmetry_pages_stand_a_damaged_item_and_say_so(own):
    (_one(own / "runs", "convnet") / "metrics.json").write_text("[")
    (_one(own / "sweeps") / "results.json").write_text("")
    dataset = _one(own / "datasets")
    shutil.copy(dataset, dataset.with_name("smoke-000000000000.h5"))
    with h5py.File(dataset.with_name("smoke-000000000000.h5"), "r+") as f:
        f.attrs["data_ee_trajectory"] = "abc"
    at = _app().switch_page("app_pages/compare.py").run()
    assert not at.exception, at.exception
    assert any("1 damaged run not offered" in c.value for c in at.caption), [c.value for c in at.caption]
    at = _app().switch_page("app_pages/symmetry.py").run()
    assert not at.exception, at.exception
    assert any("damaged: results.json: truncated or not valid JSON" in e.value for e in at.error)
    at = _app().switch_page("app_pages/data.py").run()
    picker = at.selectbox(key="data_choice")
    (bad,) = [t for t in picker.options if t.endswith("(damaged)")]
    picker.set_value(bad).run()
    assert not at.exception, at.exception
    wanted = "smoke-000000000000.h5: attribute data_ee_trajectory must be a finite number, found text 'abc'"
    assert any(f"damaged: {wanted}" in e.value for e in at.error), [e.value for e in at.error]
