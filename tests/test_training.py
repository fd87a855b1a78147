"""End-to-end training on the tiny real PhiFlow dataset (conftest fixture), evaluation and CLIs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from core.models import ModelConfig
from core.store.paths import PROJECT_ROOT
from core.store.runs import list_runs
from core.train.checkpoints import load_run
from core.train.config import TrainConfig
from core.train.evaluate import display_rollout, evaluate_run
from core.train.trainer import train
from tests.conftest import TINY_TRAINING

SMALL = {"hidden": 8, "layers": 2}


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**TINY_TRAINING, **kw})


def test_tiny_training_run_reloads_to_identical_outputs(data_env):
    result = train(data_env, ModelConfig.for_model("rsteer", **SMALL), _cfg())
    assert result.status == "done"
    assert [h["epoch"] for h in result.history] == [1, 2]
    for key in ("run", "checkpoint", "last", "history", "metrics", "evaluation"):
        assert key in load_run(result.run_id).info.paths, key
    m = result.metrics
    assert m["test_future"]["rmse"] > 0
    assert len(m["test_future"]["rmse_per_step"]) == m["test_future"]["steps"]
    assert set(m["equivariance_error"]["per_element"]) == {"90", "180", "270"}
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "done" and record["split"]["train_windows"]
    assert record["model_config"]["name"] == "rsteer" and record["device"] == "cpu"

    a, b = load_run(result.run_id), load_run(result.run_id)
    from core.data import load_dataset

    velocity = load_dataset(data_env).velocity
    x = torch.as_tensor(np.asarray(velocity[:, 0, 0], dtype=np.float32))  # (4 orientations, 2, N, N)
    with torch.no_grad():
        assert torch.equal(a.model(x), b.model(x))
    # Re-evaluating from the checkpoint alone reproduces the stored metrics.
    again = evaluate_run(result.run_id, steps=4)
    assert again["test_future"]["rmse"] == pytest.approx(m["test_future"]["rmse"], rel=1e-5)
    assert result.run_id in [r.id for r in list_runs()]

    shown = display_rollout(a, velocity, "test_future", orientation=1, steps=3)
    n = min(3, m["test_future"]["steps"])  # the test-future block may hold fewer frames
    assert shown.truth.shape == shown.prediction.shape == (n, 2, *velocity.shape[-2:])
    assert shown.mae.shape == (n, *velocity.shape[-2:])
    assert np.allclose(shown.mae, np.abs(shown.prediction - shown.truth).mean(axis=1))
    assert shown.start == a.info.config["split"]["future_start"]
    with pytest.raises(ValueError, match="orientation"):
        display_rollout(a, velocity, "test_future", orientation=7)


def test_same_seed_gives_the_same_run(data_env):
    cfg = _cfg(epochs=1)
    r1 = train(data_env, ModelConfig.for_model("convnet", **SMALL), cfg)
    r2 = train(data_env, ModelConfig.for_model("convnet", **SMALL), cfg)
    assert r1.history[0]["train_loss"] == r2.history[0]["train_loss"]
    assert r1.metrics["test_future"]["rmse"] == r2.metrics["test_future"]["rmse"]


def test_nan_loss_marks_run_diverged_and_keeps_last_good_checkpoint(data_env):
    def poison(epoch, loss):
        return loss * float("nan") if epoch == 2 else loss

    result = train(data_env, ModelConfig.for_model("convnet", **SMALL), _cfg(epochs=3), loss_hook=poison)
    assert result.status == "diverged"
    assert [h["epoch"] for h in result.history] == [1]
    loaded = load_run(result.run_id)
    assert loaded.info.status == "diverged" and "epoch 2" in loaded.info.config["error"]
    ckpt = torch.load(loaded.info.paths["checkpoint"], weights_only=True)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


def _cli(*args: str, env_dir) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "APPROXSYM_DATA_DIR": str(env_dir)}
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "args,needle",
    [
        (["-m", "core.train", "--data", "missing.h5", "--model", "rsteer"], "--data"),
        (["-m", "core.train", "--data", "X", "--model", "resnet"], "--model"),
        (["-m", "core.train.evaluate", "../etc"], "run id"),
        (["-m", "core.sweep", "--levels", "0,abc"], "--levels"),
        (["-m", "core.sweep", "--models", "convnet,nope"], "models"),
    ],
)
def test_bad_cli_arguments_exit_nonzero_with_one_line(args, needle, tmp_path):
    out = _cli(*args, env_dir=tmp_path)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], out.stderr


def test_train_cli_prints_run_id_and_metrics(data_env, tmp_data_dir):
    out = _cli(
        "-m", "core.train", "--data", str(data_env), "--model", "convnet", "--hidden", "8", "--layers", "2",
        "--epochs", "1", "--rollout-steps", "2", "--eval-steps", "3", "--max-train-windows", "8",
        "--smoke", env_dir=tmp_data_dir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("run run-convnet-") and "test_future: RMSE" in out.stdout
    _assert_bar_goes_forward_to_a_full_line(out.stderr)
    run_id = out.stdout.split()[1]
    record = json.loads((tmp_data_dir / "runs" / run_id / "run.json").read_text())
    assert record["model_config"]["smoke"] is True
    ev = _cli("-m", "core.train.evaluate", run_id, "--steps", "3", env_dir=tmp_data_dir)
    assert ev.returncode == 0 and "model equivariance error" in ev.stdout, ev.stderr


def _assert_bar_goes_forward_to_a_full_line(stderr: str) -> None:
    """The CLI's bar (core.cli.progress_bar) never shows less than it showed, ends at 100% and
    leaves the terminal on a new line."""
    shown = [float(m) for m in re.findall(r"\] +([0-9.]+)% ", stderr)]
    assert len(shown) >= 2, stderr
    assert shown == sorted(shown), f"the bar went back: {shown}"
    assert shown[-1] == 100.0 and stderr.endswith("\n"), repr(stderr[-200:])


def test_assets_refuse_an_unknown_engine_by_name_and_write_nothing(tmp_path, capsys):
    from core.assets import main as assets_main

    out = tmp_path / "assets"
    with pytest.raises(SystemExit) as stop:
        assets_main(["--quick", "--out", str(out), "--engine", "spark"])
    assert stop.value.code == 2
    assert "--engine" in capsys.readouterr().err and not out.exists()


def test_quick_assets_build_in_the_shipped_layout(data_env, tmp_path, monkeypatch, capsys):
    from core.assets import main as assets_main
    from core.sweep import list_sweeps

    out = tmp_path / "assets"
    assert assets_main(["--quick", "--out", str(out)]) == 0
    # The quick sweep is shorter than Ray's start: it runs on the local engine unless told.
    assert "(engine local)" in capsys.readouterr().out
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(out))
    assert len(list(out.glob("datasets/*.h5"))) == 1
    shipped = [r for r in list_runs() if r.shipped]
    assert sorted(r.model_name for r in shipped) == ["convnet", "e2cnn", "rsteer"]
    for info in shipped:
        assert info.metrics and "last" not in info.paths
        loaded = load_run(info.id)  # rebuilt from the shipped checkpoint alone
        again = evaluate_run(info.id, steps=4)  # finds the dataset through the relative path
        assert again["test_future"]["rmse"] == pytest.approx(info.metrics["test_future"]["rmse"], rel=1e-5)
        assert loaded.info.shipped
    shipped_sweeps = [s for s in list_sweeps() if s["shipped"]]
    sweeps = [s for s in shipped_sweeps if s["config"]["preset"] == "cpu"]
    assert len(sweeps) == 1 and sweeps[0]["status"] == "done"
    _check_quick_pattern_sweep([s for s in shipped_sweeps if s["config"]["preset"] == "patterns"])
    _check_quick_table1(out)
    rows = sweeps[0]["rows"]
    assert sorted({r["level"] for r in rows}) == [0.0, 0.3] and len(rows) == 6
    data_ee = {r["level"]: r["data_ee_trajectory"] for r in rows}
    assert data_ee[0.0] < 1e-4 < data_ee[0.3]  # zero buoyancy difference is exactly symmetric
    assert all(r["rmse_persistence_future"] > 0 and r["rmse_future"] > 0 for r in rows)
    e2 = [r["model_ee_mean"] for r in rows if r["model"] == "e2cnn"]
    assert max(e2) < 1e-4  # E2CNN is equivariant whatever the data
    assert (out / "sweeps" / sweeps[0]["sweep_id"] / "results.csv").read_text().startswith("level,")


def _check_quick_pattern_sweep(sweeps: list[dict]) -> None:
    """The quick assets' pattern sweep: one, finished, a row per pattern and model, the data's
    per-rotation EE saying which rotation each pattern keeps."""
    assert len(sweeps) == 1 and sweeps[0]["status"] == "done"
    rows = sweeps[0]["rows"]
    assert sorted((r["breaking"], r["model"]) for r in rows) == [
        ("all", "convnet"), ("all", "rsteer"), ("half_turn", "convnet"), ("half_turn", "rsteer"),
    ]  # fmt: skip
    for r in rows:
        keeps_half_turn = r["data_ee_by_element"]["180"] <= 1e-9 * r["data_ee_by_element"]["90"]
        assert keeps_half_turn == (r["breaking"] == "half_turn")


def test_window_weighting_keeps_rsteer_symmetric_on_symmetric_data(tmp_data_dir, tmp_path, monkeypatch):
    from core.data import DataConfig, ensure_dataset

    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    # The weights depend on each window's change, which a C4 orbit shares, so the batch loss
    # stays invariant under turning the relaxed weights and nothing pushes them off symmetry.
    path = ensure_dataset(DataConfig(grid=16, frames=12, sims=2, buoyancy_diff=0.0))
    cfg = _cfg(epochs=2, window_weighting=0.1, relaxed_lr=0.4, relaxed_noise_floor=1e-3)
    result = train(path, ModelConfig.for_model("rsteer", **SMALL), cfg)
    assert result.status == "done"
    assert result.metrics["equivariance_error"]["relative_mean"] < 1e-5
    assert json.loads((result.run_dir / "run.json").read_text())["train_config"]["window_weighting"] == 0.1


def test_relaxed_hold_trains_equivariantly_then_keeps_a_relaxed_checkpoint(data_env, tmp_path):
    from core.models import model_from_config
    from core.store.runs import read_payload

    model_config = ModelConfig.for_model("rsteer", **SMALL)
    cfg = _cfg(epochs=3, relaxed_hold=2, relaxed_lr=0.4, relaxed_clip=2.0)

    def breaking_part(state) -> float:
        net = model_from_config(model_config.to_dict())
        net.load_state_dict(state)
        return max(layer["relative_asymmetry"] for layer in net.relaxation_summary())

    # Stopped as the release begins, the run's last state is from the end of the hold.
    seen = []
    stopped = train(data_env, model_config, cfg, run_dir=tmp_path / "held",
                    loss_hook=lambda epoch, loss: seen.append(epoch) or loss,
                    should_stop=lambda: bool(seen) and seen[-1] == 3)  # fmt: skip
    assert stopped.status == "cancelled" and len(stopped.history) == 2
    assert breaking_part(read_payload(tmp_path / "held" / "last.pt")["state_dict"]) < 1e-6  # round-off

    done = train(data_env, model_config, cfg, run_dir=tmp_path / "released")
    assert done.status == "done"
    assert done.metrics["best_epoch"] == 3  # chosen among the relaxed epochs only
    assert done.metrics["equivariance_error"]["relative_mean"] > 1e-4  # the tiny data is asymmetric


def test_the_release_from_the_hold_starts_the_early_stopping_record_afresh():
    from types import SimpleNamespace

    from core.train.trainer import _hold_or_release

    s = SimpleNamespace(config=_cfg(epochs=5, relaxed_hold=2), optimiser=SimpleNamespace(breaking=True))
    s.best_val, s.bad_epochs = 0.5, 1
    seen = []
    for epoch in range(1, 5):
        _hold_or_release(s, epoch)
        seen.append((s.optimiser.breaking, s.best_val, s.bad_epochs))
        s.best_val, s.bad_epochs = 0.4, 1  # what the epoch itself would record
    assert seen == [(False, 0.5, 1), (False, 0.4, 1), (True, float("inf"), 0), (True, 0.4, 1)]


def _check_quick_table1(out):
    """The Table-1 part ships one results.json under table1/ (not as a sweep), one row per
    (model, seed), each with the fields the Table-1 page and the issue's checks read."""
    import json

    from core.service.table1_view import table1_sources

    assert not [p for p in out.glob("sweeps/*/results.json") if "table1" in p.read_text()]
    rows = json.loads((out / "table1" / "results.json").read_text())["rows"]
    expected = [(model, seed) for model in ("convnet", "rsteer") for seed in (0, 1)]
    assert sorted((r["model"], r["seed"]) for r in rows) == expected
    need = ("rmse_future", "rmse_domain", "rmse_persistence_future", "rmse_persistence_domain")
    assert all(r["status"] == "done" and all(r[k] > 0 for k in need) for r in rows)
    assert all("model_ee_mean" in r and r["data_ee_one_step"] > 0 for r in rows)
    assert [e.title for e in table1_sources() if e.shipped] == ["Table 1, shipped build"]
