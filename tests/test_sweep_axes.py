"""The sweep's breaking-pattern and training-seed axes: one plan (core.sweep.config.sweep_plan)
that the local executor, the Ray executor and resume all follow; the rows' new fields; old rows
without them; the 'patterns' and 'table1' presets; the CLI flags and the sweep form's checks."""

from __future__ import annotations

import csv
import json

import pytest

from core.sweep import SweepConfig, resume_sweep
from core.sweep.__main__ import main as sweep_main
from core.sweep.config import PRESETS, sweep_plan
from core.sweep.results import read_record, reopen_sweep, row_key, write_results

TINY_DATA = {"grid": 16, "frames": 12, "sims": 2}
TINY_TRAIN = {"epochs": 1, "max_train_windows": 8, "eval_steps": 3}
#: The tiny sweep of the CLI test: two patterns x one level x two models x two seeds.
CLI_ARGS = [
    "--levels", "0.6", "--models", "convnet,rsteer", "--seeds", "2", "--patterns", "all,half_turn",
    "--grid", "16", "--frames", "12", "--sims", "2", "--epochs", "1", "--hidden", "8", "--layers", "2",
    "--max-train-windows", "8", "--eval-steps", "3",
]  # fmt: skip


def tiny(**axes) -> SweepConfig:
    models = axes.pop("models", ("convnet",))
    return SweepConfig(
        levels=axes.pop("levels", (0.6,)),
        models=models,
        data=TINY_DATA,
        train=TINY_TRAIN,
        model_options={m: {"hidden": 8, "layers": 2} for m in models},
        **axes,
    )


@pytest.fixture
def data(tmp_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    return tmp_data_dir


def test_the_plan_lists_every_pattern_level_model_and_seed_once_dataset_by_dataset():
    config = tiny(levels=(0.3, 0.6), models=("convnet", "rsteer"), seeds=3, patterns=("half_turn", "all"))
    plan = sweep_plan(config)
    keys = [item.key for item in plan]
    assert len(keys) == len(set(keys)) == 2 * 2 * 2 * 3
    assert keys[:4] == [("half_turn", 0.3, "convnet", 0), ("half_turn", 0.3, "convnet", 1),
                        ("half_turn", 0.3, "convnet", 2), ("half_turn", 0.3, "rsteer", 0)]  # fmt: skip
    datasets = [item.dataset for item in plan]
    assert datasets == sorted(datasets, key=datasets.index)  # one dataset's items side by side
    # Each item's dataset and training seed are the ones the executors use.
    assert config.data_config(0.6, "half_turn").breaking == "half_turn"
    assert [config.train_config(item.seed).seed for item in plan[:3]] == [0, 1, 2]


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"seeds": 0}, "seeds must be an integer from 1 to 10, got 0"),
        ({"seeds": 11}, "seeds must be an integer from 1 to 10, got 11"),
        ({"seeds": True}, "seeds must be an integer"),
        ({"patterns": ("all", "twist")}, "patterns must be a non-empty list from all, half_turn, one_plume"),
        ({"patterns": ()}, "patterns must be a non-empty list"),
        ({"patterns": ("all", "all")}, "patterns must not repeat: all given more than once"),
    ],
)
def test_seeds_and_patterns_are_checked_by_name(axes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**axes)


def test_overrides_may_not_set_what_the_axes_set_and_from_dict_takes_lists():
    with pytest.raises(ValueError, match="data must not set breaking"):
        SweepConfig(data={"breaking": "half_turn"})
    with pytest.raises(ValueError, match="train must not set seed"):
        SweepConfig(train={"seed": 2})
    config = SweepConfig.from_dict({**tiny().to_dict(), "seeds": 2, "patterns": ["one_plume", "all"]})
    assert config.patterns == ("one_plume", "all") and config.seeds == 2
    assert SweepConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_the_patterns_and_table1_presets_give_valid_sweeps_of_their_sizes():
    from core.data.config import held_out_sims
    from core.models import model_names

    patterns = SweepConfig.of_preset("patterns")
    assert set(patterns.patterns) == {"all", "half_turn", "one_plume"}
    assert {"convnet", "e2cnn", "rsteer"} <= set(patterns.models) and patterns.seeds == 1
    table1 = SweepConfig.of_preset("table1")
    assert sorted(table1.models) == sorted(model_names()) and table1.seeds == 3 and len(table1.levels) == 1
    data = table1.data_config(table1.levels[0])
    assert data.design == "paper" and len(held_out_sims(data)) == 2
    assert len(table1.plan()) == 9 * 3
    for name in PRESETS:  # every preset's resolved configs are valid (SweepConfig checks them)
        assert SweepConfig.of_preset(name).resolved()["train"]["epochs"] >= 1
    assert SweepConfig.of_preset("table1", seeds=1).seeds == 1  # overrides win


def test_a_cli_sweep_over_seeds_and_patterns_gives_one_row_per_plan_item_with_the_new_fields(
    data, monkeypatch, capsys
):
    import core.train.trainer as trainer

    seeds_trained = []
    real_train = trainer.train

    def counting(path, model_config, config, **kw):
        seeds_trained.append(config.seed)
        return real_train(path, model_config, config, **kw)

    monkeypatch.setattr(trainer, "train", counting)
    assert sweep_main(CLI_ARGS) == 0
    out = capsys.readouterr().out
    assert "half_turn" in out.splitlines()[-1]  # the table names each row's pattern
    folder = data / "sweeps" / out.split()[1]
    record = read_record(folder)
    config = SweepConfig.from_dict(record["config"])
    assert (config.seeds, config.patterns) == (2, ("all", "half_turn"))
    rows = record["rows"]
    assert [row_key(r) for r in rows] == [item.key for item in config.plan()]
    assert sorted(seeds_trained) == [0, 0, 0, 0, 1, 1, 1, 1]
    for r in rows:
        assert set(r["model_ee_by_element"]) == set(r["data_ee_by_element"]) == {"90", "180", "270"}
        assert r["model_ee_by_element"]["90"] == r["model_ee_90"]
        assert r["data_ee_by_element"]["180"] == r["data_ee_180"]
        assert (r["irrep_energy"] is None) == (r["model"] != "rsteer")
    # One dataset per pattern: half-turn data keeps the 180° rotation, the ramp breaks it.
    half = [r for r in rows if r["breaking"] == "half_turn"]
    ramp = [r for r in rows if r["breaking"] == "all"]
    assert len({r["dataset"] for r in half}) == len({r["dataset"] for r in ramp}) == 1
    assert half[0]["dataset"] != ramp[0]["dataset"]
    assert all(r["data_ee_180"] <= 1e-9 * r["data_ee_90"] for r in half)
    assert all(r["data_ee_180"] > 1e-3 * r["data_ee_90"] for r in ramp)
    # Two seeds are two trainings: the same data, other weights.
    convnet = [r for r in ramp if r["model"] == "convnet"]
    assert [r["seed"] for r in convnet] == [0, 1]
    assert convnet[0]["model_ee_mean"] != convnet[1]["model_ee_mean"]
    with open(folder / "results.csv") as f:
        csv_rows = list(csv.DictReader(f))
    assert {"breaking", "seed", "data_ee_90", "data_ee_180", "data_ee_270"} <= set(csv_rows[0])
    assert [(c["breaking"], c["seed"]) for c in csv_rows] == [(r["breaking"], str(r["seed"])) for r in rows]

    # Resume trains only the items without a row: drop two, mark it stopped, continue.
    kept = [r for r in rows if not (r["breaking"] == "half_turn" and r["model"] == "rsteer")]
    write_results(folder, {**record, "status": "interrupted"}, kept)
    seeds_trained.clear()
    result = resume_sweep(folder.name)
    assert result.status == "done" and sorted(seeds_trained) == [0, 1]
    assert [row_key(r) for r in result.rows] == [item.key for item in config.plan()]
    assert [r["run_id"] for r in result.rows if r in kept] == [r["run_id"] for r in kept]


def test_the_ray_executor_submits_the_plan_items_without_rows_with_their_seeds(data, tmp_path):
    from core.sweep import ray_engine
    from core.sweep.results import open_sweep

    class Remote:
        def __init__(self):
            self.calls = []

        def remote(self, *args):
            self.calls.append(args)
            return f"ref{len(self.calls)}-{id(self)}"

    class FakeRay:
        def put(self, value):
            return value

    # A level no other test makes a dataset of: none is in the cache, so each gets its task.
    config = tiny(levels=(0.45,), models=("convnet", "rsteer"), seeds=2, patterns=("all", "one_plume"))
    sweep = open_sweep(config, root=tmp_path)
    try:
        sweep.rows = [{"breaking": "all", "level": 0.45, "model": "rsteer", "seed": 1}]
        make, fit = Remote(), Remote()
        tcfg = config.train_config().to_dict()
        pending, data_refs, cached = ray_engine._submit(FakeRay(), sweep, make, fit, tcfg)
    finally:
        sweep.close("cancelled")
    assert not cached and sorted(data_refs) == [("all", 0.45), ("one_plume", 0.45)]  # one task each
    assert sorted(c[0]["breaking"] for c in make.calls) == ["all", "one_plume"]
    submitted = sorted(item.key for item in pending.values())
    assert submitted == sorted(item.key for item in config.plan() if item.key != ("all", 0.45, "rsteer", 1))
    # Each training task gets its item's seed; the rest of its TrainConfig is the sweep's.
    for (_, model, train), item in zip(fit.calls, pending.values(), strict=True):
        assert train == {**tcfg, "seed": item.seed} and model["name"] == item.model


def test_rows_and_records_from_before_seeds_and_patterns_still_load_and_resume(data, tmp_path):
    config = tiny(levels=(0.3, 0.6))
    sweep = reopen_or_open_old(config, tmp_path)
    # The old row counts as pattern "all", seed 0: resume skips it and keeps it.
    assert [item.key for item in sweep.missing()] == [("all", 0.3, "convnet", 0)]
    assert [r["run_id"] for r in sweep.rows] == ["old-run"]
    sweep.close("cancelled")


def reopen_or_open_old(config: SweepConfig, root):
    """Write a stopped sweep as the code before seeds and patterns did (no ``seeds``/``patterns``
    in its config, rows without ``seed``/``breaking``, ``resolved`` data without the breaking
    pattern or the data design) and reopen it."""
    folder = root / "sweeps" / "sweep-old"
    folder.mkdir(parents=True)
    old_config = {k: v for k, v in config.to_dict().items() if k not in ("seeds", "patterns")}
    resolved = config.resolved()
    resolved["data"].pop("design")
    old_row = {"level": 0.6, "model": "convnet", "run_id": "old-run", "status": "done"}
    record = {"sweep_id": folder.name, "config": old_config, "resolved": resolved, "status": "interrupted"}
    write_results(folder, record, [old_row])
    return reopen_sweep(folder.name, root)


def test_the_sweep_job_and_form_take_seeds_and_patterns_and_name_bad_ones(data):
    from core.jobs.kinds import KINDS
    from core.names import sweep_config_label
    from core.service import sweeps

    config = tiny(seeds=3, patterns=("half_turn",))
    params = KINDS["sweep"].validate({"sweep_config": config.to_dict(), "engine": "local"})
    assert SweepConfig.from_dict(params["sweep_config"]) == config
    assert "3 seeds" in sweep_config_label(config.to_dict())
    assert "half_turn" in sweep_config_label(config.to_dict())
    settings = {"levels": [0.6], "models": ["convnet"], "data": TINY_DATA, "train": TINY_TRAIN}
    with pytest.raises(ValueError, match="^Training seeds must be between 1 and 10, got 0$"):
        sweeps.submit_sweep(**settings, seeds=0, patterns=["all"])
    with pytest.raises(ValueError, match="^Breaking patterns: pick at least one pattern$"):
        sweeps.submit_sweep(**settings, seeds=1, patterns=[])
    with pytest.raises(ValueError, match="^Breaking patterns must not repeat"):
        sweeps.submit_sweep(**settings, seeds=1, patterns=["all", "all"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "0"], "seeds must be an integer from 1 to 10, got 0"),
        (["--patterns", "all,twist"], "patterns must be a non-empty list from"),
        (["--seeds", "two"], "--seeds: invalid int value"),
    ],
)
def test_the_cli_refuses_bad_seeds_and_patterns_in_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        sweep_main(["--levels", "0.6", *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_the_cli_takes_a_presets_axes_unless_given(monkeypatch):
    import core.sweep.__main__ as cli

    seen = []
    monkeypatch.setattr(cli, "_report", lambda start: seen.append(start) or 0)
    monkeypatch.setattr(cli, "run_sweep", lambda config, **kw: config)
    assert cli.main(["--preset", "patterns"]) == 0
    assert seen[-1]() == SweepConfig.of_preset("patterns")
    assert cli.main(["--preset", "table1", "--seeds", "2", "--levels", "0.6"]) == 0
    assert seen[-1]() == SweepConfig.of_preset("table1", seeds=2, levels=(0.6,))
    assert cli.main([]) == 0  # no preset axes: the defaults, as before
    assert seen[-1]() == SweepConfig()
