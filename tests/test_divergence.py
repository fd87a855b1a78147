"""Blow-ups are caught against what is known before training, and a model worse than
persistence is marked wherever its numbers are shown (issue 28, point 3).

The divergence bound's reference is the loss of predicting "no change" on the same windows
(core.train.trainer._reference_loss); the worse-than-persistence flag is decided once, in
core.train.evaluate.worse_than_persistence, and read by the CLIs, the service layer and Figure 4.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from core.models import ModelConfig
from core.service import jobs, runs, sweeps
from core.store.paths import PROJECT_ROOT
from core.store.runs import read_run
from core.train.checkpoints import load_run
from core.train.config import TrainConfig
from core.train.evaluate import persistence_warning, worse_than_persistence
from core.train.trainer import train
from tests.conftest import TINY_CONFIG, TINY_TRAINING

SMALL = {"hidden": 8, "layers": 2}
NO_CHANGE = "over 100 times the loss of predicting no change"


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**TINY_TRAINING, "device": "cpu", **kw})


# ------------------------------------------------------------------ divergence


def test_lr_0_2_ends_diverged_in_the_first_epoch_and_the_cli_says_why(data_env, tmp_data_dir, capsys):
    """The issue's case: at lr 0.2 the first epoch explodes (here batch 2: 9e11 against a
    no-change loss of 4.75); the old bound, set by that epoch, let the run end 'done'."""
    from core.train.__main__ import main

    argv = ["--data", str(data_env), "--model", "convnet", "--lr", "0.2", "--epochs", "3",
            "--batch-size", "8", "--rollout-steps", "2", "--eval-steps", "4", "--max-train-windows", "16",
            "--device", "cpu"]  # fmt: skip
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "(diverged)" in out, out
    reason = next(line for line in out.splitlines() if line.startswith("reason: "))
    assert "training loss in epoch 1, batch" in reason and NO_CHANGE in reason and "bound" in reason
    run_dir = tmp_data_dir / "runs" / out.split()[1]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "diverged" and record["error"] == reason.removeprefix("reason: ")
    assert "checkpoint" not in read_run(run_dir).paths  # no epoch finished: no exploded weights kept


@pytest.mark.parametrize(
    "hook, where",
    [
        # An explosion in the first epoch: there is no earlier epoch to measure it against.
        (lambda epoch, loss: loss * 1e4 if epoch == 1 else loss, "training loss in epoch 1, batch 1"),
        # A loss growing 30 x per epoch: never 100 x the last epoch's, 900 x no-change's by epoch 3.
        (lambda epoch, loss: loss * 30.0 ** (epoch - 1), "training loss in epoch 3, batch 1"),
    ],
    ids=["first-epoch-explosion", "steady-growth"],
)
def test_the_bound_is_measured_against_no_change_not_an_earlier_epoch(data_env, hook, where):
    result = train(data_env, ModelConfig.for_model("convnet", **SMALL), _cfg(epochs=3), loss_hook=hook)
    assert result.status == "diverged", result.history
    assert result.error.startswith(where) and NO_CHANGE in result.error, result.error
    reference = float(result.error.split("no change (")[1].split(";")[0])
    assert 0 < reference < math.inf
    assert json.loads((result.run_dir / "run.json").read_text())["error"] == result.error


def test_a_nan_batch_loss_ends_diverged_even_when_the_weights_stay_finite(data_env):
    """``loss + nan`` has the loss's own gradient: only the batch check sees it (the weights
    and the validation loss stay finite, and without the check the run would end 'done')."""
    poison = lambda epoch, loss: loss + float("nan") if epoch == 2 else loss  # noqa: E731
    result = train(data_env, ModelConfig.for_model("convnet", **SMALL), _cfg(epochs=3), loss_hook=poison)
    assert result.status == "diverged"
    assert result.error == "training loss in epoch 2, batch 1 became nan"
    assert [h["epoch"] for h in result.history] == [1]
    assert result.metrics is not None  # the epoch-1 checkpoint was evaluated


def test_a_normal_run_stays_far_below_the_bound(data_env, monkeypatch):
    """The bound does not fire on ordinary training: every batch of these runs stays under
    3 x the reference (measured up to 2.3 x), 100 x is the bound."""
    import core.train.trainer as trainer

    ratios = []
    real = trainer._check_loss

    def spy(loss, reference, what):
        ratios.append(loss / reference[0])
        real(loss, reference, what)

    monkeypatch.setattr(trainer, "_check_loss", spy)
    for model, kw in (("rsteer", {}), ("convnet", {"residual": False})):
        assert train(data_env, ModelConfig.for_model(model, **SMALL), _cfg(**kw)).status == "done"
    assert ratios and max(ratios) < 3


def test_a_diverged_training_in_a_sweep_is_a_diverged_row(data_env, tmp_data_dir):
    """run_sweep keeps going and records the row as diverged with the reason; the figures
    that read the sweep skip its missing numbers rather than fail."""
    from core.data import DataConfig
    from core.sweep import SweepConfig, run_sweep

    config = SweepConfig(
        levels=(TINY_CONFIG["buoyancy_diff"],),  # the tiny dataset (in the cache)
        models=("convnet",),
        data={**{k: TINY_CONFIG[k] for k in ("grid", "frames", "sims")}, "buoyancy": DataConfig().buoyancy},
        train={
            "epochs": 1,
            "batch_size": 4,
            "rollout_steps": 2,
            "max_train_windows": 16,
            "eval_steps": 3,
            "lr": 0.2,
            "device": "cpu",
        },  # fmt: skip
    )
    result = run_sweep(config)
    assert result.status == "done"
    (row,) = result.rows
    assert row["status"] == "diverged" and NO_CHANGE in row["error"], row
    stored = json.loads((result.path / "results.json").read_text())
    assert stored["status"] == "done" and stored["rows"][0]["status"] == "diverged"
    assert ",diverged," in (result.path / "results.csv").read_text()
    assert read_run(tmp_data_dir / "runs" / row["run_id"]).status == "diverged"
    assert sweeps.sweep_curves(result.path, "one_step", notes=True) == {}  # no checkpoint: no point
    sweeps.sweep_accuracy(result.path)


# ------------------------------------------------------- worse than persistence


def _split(rmse, persistence):
    return {"rmse": rmse, "persistence_rmse": persistence, "steps": 4}


def test_worse_than_persistence_is_rmse_above_the_baseline_on_each_split():
    assert worse_than_persistence({"test_future": _split(2.0, 1.0), "test_domain": _split(0.5, 1.0)}) == [
        "test_future"
    ]
    assert worse_than_persistence({"test_future": _split(1.0, 1.0), "test_domain": None}) == []  # a tie
    assert worse_than_persistence({"test_future": _split(0.9, 1.0), "test_domain": _split(9.0, 1.0)}) == [
        "test_domain"
    ]
    assert worse_than_persistence({"test_future": _split(float("nan"), 1.0)}) == ["test_future"]
    assert worse_than_persistence({"test_future": _split(9.0, None)}) == []  # before the baseline
    assert worse_than_persistence(None) == []
    line = persistence_warning({"test_future": _split(85.0, 1.0), "test_domain": _split(3.0, 2.0)})
    assert line.startswith("worse than persistence") and "test-future RMSE 85 x" in line
    assert "test-domain RMSE 1.5 x" in line
    assert persistence_warning({"test_future": _split(0.5, 1.0)}) == ""


@pytest.fixture(scope="module")
def bad_run(tmp_data_dir, tiny_dataset_path):
    """A model that predicts whole frames (residual=False) after one epoch: about 4 x
    persistence's RMSE on test-future, far worse than predicting no change."""
    model = ModelConfig.for_model("convnet", **SMALL)
    result = train(tiny_dataset_path, model, _cfg(epochs=1, residual=False))
    assert result.status == "done"
    return result


def test_a_model_worse_than_persistence_is_marked_in_metrics_views_and_the_cli(data_env, bad_run, capsys):
    from core.train.evaluate import main as evaluate_main

    assert bad_run.metrics["worse_than_persistence"] == ["test_future", "test_domain"]
    run = next(r for r in runs.list_runs() if r.id == bad_run.run_id)
    row = next(r for r in runs.run_rows(runs.list_runs()) if r.id == bad_run.run_id)
    assert row.vs_persistence == "worse than persistence: test-future, test-domain"
    assert runs.run_warning(run).startswith("worse than persistence (predicting no change): test-future")
    job = SimpleNamespace(kind="train", finished_state=True, run_id=bad_run.run_id, params={}, result={})
    assert jobs.job_warning(job) == runs.run_warning(run)  # the job card's line
    assert jobs.job_warning(SimpleNamespace(**{**vars(job), "finished_state": False})) == ""
    assert evaluate_main([bad_run.run_id, "--steps", "4"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: worse than persistence (predicting no change): test-future RMSE" in out, out


def test_the_train_cli_prints_the_mark_with_the_metrics(data_env, capsys):
    from core.train.__main__ import main

    argv = ["--data", str(data_env), "--model", "convnet", "--hidden", "8", "--layers", "2", "--lr", "0.05",
            "--epochs", "2", "--batch-size", "8", "--rollout-steps", "2", "--eval-steps", "4",
            "--max-train-windows", "16", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    run = load_run(out.split()[1]).info
    assert run.metrics["worse_than_persistence"], run.metrics  # measured: 2 x persistence's RMSE
    assert "WARNING: worse than persistence" in out, out


def test_models_that_beat_persistence_carry_no_mark():
    for folder in sorted((PROJECT_ROOT / "assets" / "runs").iterdir()):
        info = read_run(folder, shipped=True)
        assert worse_than_persistence(info.metrics) == [], folder.name  # 0.47-0.63 x persistence
        assert runs.persistence_mark(info.metrics) == "beats persistence"
        assert runs.run_warning(info) == ""
    assert runs.persistence_mark(None) == ""  # no test metrics (e.g. diverged before a checkpoint)


def test_figure_4_marks_points_worse_than_persistence_or_diverged(tmp_path):
    from dashboard import ee_figures

    def row(level, rmse, status="done"):
        return {"level": level, "model": "rsteer", "status": status, "data_ee_one_step": level / 10,
                "model_ee_mean": level / 20, "rmse_future": rmse, "rmse_persistence_future": 1.0,
                "rmse_domain": 0.5, "rmse_persistence_domain": 1.0}  # fmt: skip

    (tmp_path / "results.json").write_text(
        json.dumps({"rows": [row(0.0, 0.5), row(0.5, 2.0), row(0.9, 0.8, "diverged")]})
    )
    curves = sweeps.sweep_curves(tmp_path, "one_step", notes=True)
    notes = curves["RSteer"][3]
    assert notes[0] == ""
    assert notes[1] == "worse than persistence (predicting no change): test-future RMSE 2 x persistence's"
    assert notes[2] == "training diverged"
    assert len(sweeps.sweep_curves(tmp_path, "one_step")["RSteer"]) == 3  # without notes: as before
    fig = ee_figures.equivariance_figure(curves, x_title="data one-step EE")
    line = fig.data[0]
    assert list(line.marker.symbol) == ["circle", "x", "x"]
    assert list(line.text) == notes and "%{text}" in line.hovertemplate
    assert any(t.name.startswith("✕ worse than persistence") for t in fig.data)
    plain = ee_figures.equivariance_figure({"RSteer": curves["RSteer"][:3]})
    assert not any(t.name.startswith("✕") for t in plain.data)
