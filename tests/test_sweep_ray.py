"""A tiny Figure-4 sweep on a local Ray (2 CPUs): same rows and files as the local engine.

One Ray start for the whole module (about 7 s), shut down at the end. Skipped when ray
is not installed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements.txt)")

from conftest import TINY_CONFIG  # noqa: E402

from core.service import views  # noqa: E402
from core.store.runs import dataset_path_of, load_run  # noqa: E402
from core.sweep import CSV_COLUMNS, SweepConfig, list_sweeps, run_sweep  # noqa: E402
from core.sweep.ray_engine import connect  # noqa: E402

MODELS = ("convnet", "rsteer")
SMALL = {"hidden": 8, "layers": 2}


def _config(levels=(0.0, TINY_CONFIG["buoyancy_diff"]), models=MODELS) -> SweepConfig:
    return SweepConfig(
        levels=levels,
        models=models,
        data={k: TINY_CONFIG[k] for k in ("grid", "frames", "sims")},
        train={"epochs": 1, "batch_size": 4, "rollout_steps": 2, "max_train_windows": 8, "eval_steps": 3},
        model_options={m: dict(SMALL) for m in models},
    )


@pytest.fixture(scope="module")
def local_ray():
    assert connect(num_cpus=2), "a Ray was already running in this process"
    yield
    ray.shutdown()


@pytest.fixture
def env(tmp_data_dir, tiny_dataset_path, monkeypatch, tmp_path):
    # The 0.3 level is already in the head's cache (shipped to the tasks); level 0 is made by a task.
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    return tmp_data_dir


def test_ray_sweep_writes_what_the_local_engine_writes(local_ray, env):
    seen = []
    result = run_sweep(_config(), progress=lambda f, m="", **k: seen.append(f), engine="ray")
    assert result.status == "done"
    assert seen[-1] == pytest.approx(1.0)
    assert [(r["level"], r["model"]) for r in result.rows] == [(0.0, m) for m in MODELS] + [
        (0.3, m) for m in MODELS
    ]
    stored = json.loads((result.path / "results.json").read_text())
    assert stored["status"] == "done" and stored["engine"] == "ray" and stored["rows"] == result.rows
    header = (result.path / "results.csv").read_text().splitlines()[0]
    assert header == ",".join(CSV_COLUMNS)
    for row in result.rows:
        assert row["status"] == "done" and row["rmse_future"] > 0 and row["model_ee_mean"] is not None
        run = load_run(row["run_id"])  # the run folder arrived in the head's data directory
        assert run.info.path.parent == env / "runs"
        assert set(run.info.paths) == {"run", "checkpoint", "history", "metrics", "evaluation"}
        assert dataset_path_of(run.info) == env / "datasets" / row["dataset"]  # the head's copy
    assert result.rows[0]["data_ee_one_step"] < 1e-9 < result.rows[2]["data_ee_one_step"]
    assert result.rows[0]["data_ee_trajectory"] < 1e-6 < result.rows[2]["data_ee_trajectory"]
    assert result.sweep_id in [s["sweep_id"] for s in list_sweeps()]
    # Each row carries Figure 4's point frame by frame, and the page reads it back per level.
    for row in result.rows:
        by_frame = row["ee_by_frame"]
        assert np.mean(by_frame["model"]) == pytest.approx(row["model_ee_mean"], rel=1e-4)
        assert np.mean(by_frame["data"]) == pytest.approx(row["data_ee_one_step"], rel=1e-4, abs=1e-12)
        assert [name for name, _, _ in by_frame["regions"]] == ["training", "validation", "test-future"]
    assert views.sweep_frame_levels(result.path) == [0.0, 0.3]
    shown = views.sweep_ee_by_frame(result.path, 0.3)
    assert [r["label"] for r in shown["runs"]] == ["ConvNet", "RSteer"] and shown["regions"]
    assert "ee_by_frame" not in views.sweep_csv(result.path).decode().splitlines()[0]

    # The local engine, on one (level, model) of the same sweep, writes rows with the same fields
    # and the same data equivariance error (the dataset is the one the Ray task made).
    local = run_sweep(_config(levels=(0.0,), models=("convnet",)))
    assert list(local.rows[0]) == list(result.rows[0])
    assert local.rows[0]["data_ee_one_step"] == result.rows[0]["data_ee_one_step"]
    assert local.rows[0]["dataset"] == result.rows[0]["dataset"]
    assert "engine" not in json.loads((local.path / "results.json").read_text())


def test_ray_sweep_stops_when_asked(local_ray, env):
    result = run_sweep(_config(models=("convnet",)), should_stop=lambda: True, engine="ray")
    assert result.status == "cancelled" and result.rows == []
    assert json.loads((result.path / "results.json").read_text())["status"] == "cancelled"


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine"):
        run_sweep(_config(), engine="slurm")
