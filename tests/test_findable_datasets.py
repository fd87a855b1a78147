"""Datasets made outside the dashboard are found by it: the CLI writes into the data directory
(or lists a file written elsewhere through a link), and any valid HDF5 file there is listed."""

from __future__ import annotations

import shutil

import pytest

from core.data.__main__ import main as data_main
from core.data.cache import find_dataset
from core.data.store import load_dataset
from core.models import ModelConfig
from core.service import common, datasets, items, runs
from core.store.paths import DATA_DIR_ENV
from core.train.config import TrainConfig
from core.train.trainer import train
from tests.conftest import TINY_TRAINING

SMALL_DATA = ["--grid", "16", "--frames", "3", "--sims", "1", "--buoyancy-diff", "0.2", "--quiet"]


@pytest.fixture
def own_data_dir(tmp_path, monkeypatch):
    """An empty data directory, no shipped assets, and a working folder apart from both."""
    data = tmp_path / "data"
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return data


def _listed() -> dict[str, common.Entry]:
    return {e.name: e for e in datasets.dataset_entries()}


def test_cli_out_name_lands_in_the_data_directory_and_is_listed(own_data_dir, capsys):
    assert data_main([*SMALL_DATA, "--out", "smoke"]) == 0
    written = own_data_dir / "datasets" / "smoke.h5"
    assert written.is_file() and not list((own_data_dir.parent / "work").iterdir())
    assert f"path: {written}" in capsys.readouterr().out
    entry = _listed()["smoke.h5"]
    assert not entry.damaged and not entry.shipped and "Δb 0.2" in entry.title
    assert find_dataset("smoke") == find_dataset("smoke.h5") == written  # python -m core.train --data smoke


def test_cli_out_name_refuses_an_unsafe_name_in_one_line(own_data_dir, capsys):
    with pytest.raises(SystemExit) as stop:
        data_main([*SMALL_DATA, "--out", ".hidden"])
    assert stop.value.code == 2
    assert "--out name" in capsys.readouterr().err
    assert not (own_data_dir / "datasets" / ".hidden.h5").exists()


def test_cli_out_path_is_listed_and_deleting_it_on_the_dashboard_keeps_the_file(own_data_dir):
    outside = own_data_dir.parent / "elsewhere" / "lesson.h5"
    outside.parent.mkdir()
    assert data_main([*SMALL_DATA, "--out", str(outside)]) == 0
    entry = _listed()["lesson.h5"]
    assert not entry.damaged and load_dataset(entry.path).config.buoyancy_diff == 0.2
    items.rename_item("dataset", "lesson.h5", "my lesson")
    assert _listed()["lesson.h5"].title == "my lesson"
    assert f"Its file is {outside.resolve()}" in datasets.dataset_delete_note("lesson.h5")
    items.delete_item("dataset", "lesson.h5")
    assert "lesson.h5" not in _listed() and outside.is_file()


def test_cli_out_path_whose_name_is_taken_is_refused_before_simulating(own_data_dir, capsys):
    assert data_main([*SMALL_DATA, "--out", "lesson"]) == 0
    outside = own_data_dir.parent / "lesson.h5"
    with pytest.raises(SystemExit):
        data_main([*SMALL_DATA, "--out", str(outside)])
    assert "already lists another dataset" in capsys.readouterr().err
    assert not outside.exists()


def test_a_foreign_named_hdf5_file_is_listed_and_its_run_names_it(own_data_dir, tiny_dataset_path):
    folder = own_data_dir / "datasets"
    folder.mkdir(parents=True)
    foreign = folder / "plumes_for_class.hdf5"
    shutil.copyfile(tiny_dataset_path, foreign)
    entry = _listed()["plumes_for_class.hdf5"]
    assert not entry.damaged
    model = ModelConfig.for_model("convnet", hidden=8, layers=2)
    result = train(entry.path, model, TrainConfig(**{**TINY_TRAINING, "epochs": 1}))
    run = next(r for r in runs.list_runs() if r.id == result.run_id)
    [row] = runs.run_rows([run])
    assert row.dataset == entry.label and "(deleted)" not in row.dataset


def test_a_listed_file_that_is_gone_is_shown_damaged_and_can_be_taken_off_the_list(own_data_dir):
    outside = own_data_dir.parent / "moved_away.h5"
    assert data_main([*SMALL_DATA, "--out", str(outside)]) == 0
    outside.unlink()
    entry = _listed()["moved_away.h5"]
    assert entry.damaged.startswith("damaged: moved_away.h5:") and entry.title.endswith("(damaged)")
    items.delete_item("dataset", "moved_away.h5")
    assert "moved_away.h5" not in _listed()
