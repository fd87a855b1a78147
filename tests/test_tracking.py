"""What a run tracker gives: smoothing, per-step loss curves, notes and tags, settings diffs,
and runs and datasets grouped by where they came from (core functions and the service layer)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.store import origins
from core.store.annotations import MAX_TAGS, NOTE_LIMIT, annotate_run, check_note, parse_tags
from core.train.curves import history_rows, loss_curves, overlay_curves, smooth, smoothed_loss_curves
from core.train.settings import ABSENT, flatten_settings, settings_diff

# ------------------------------------------------------------------ smoothing


def test_smoothing_zero_returns_the_data_unchanged():
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    assert smooth(values, 0.0) == values


@pytest.mark.parametrize("weight", [0.1, 0.6, 0.9, 0.99])
def test_smoothed_values_stay_within_the_datas_range_and_a_constant_stays_constant(weight):
    rng = np.random.default_rng(0)
    values = list(np.exp(rng.normal(size=200)))
    out = smooth(values, weight)
    assert len(out) == len(values)
    assert min(values) <= min(out) and max(out) <= max(values)
    # each point lies within the values seen so far (a mean of them, never of later ones)
    assert all(min(values[: i + 1]) <= o <= max(values[: i + 1]) for i, o in enumerate(out))
    assert smooth([0.1] * 50, weight) == [0.1] * 50
    # it smooths: the step-to-step changes shrink
    assert np.abs(np.diff(out)).mean() < np.abs(np.diff(values)).mean()


def test_smoothing_is_debiased_and_skips_values_that_are_not_finite():
    out = smooth([2.0, 4.0], 0.5)
    assert out[0] == 2.0  # not pulled toward zero at the start
    assert out[1] == pytest.approx((0.5 * 2 + 4) / 1.5)  # weights 0.5 and 1, normalised
    gap = smooth([1.0, math.nan, 1.0], 0.9)
    assert gap[0] == 1.0 and math.isnan(gap[1]) and gap[2] == 1.0


@pytest.mark.parametrize("weight", [-0.1, 1.0, 2.0])
def test_a_smoothing_outside_zero_to_one_is_refused(weight):
    with pytest.raises(ValueError, match="smoothing"):
        smooth([1.0], weight)


# ------------------------------------------------------------------ loss curves


def test_loss_curves_are_per_step_when_the_history_has_batch_losses():
    history = [
        {"epoch": 1, "train_loss": 2.0, "val_loss": 1.5, "batch_losses": [3.0, 1.0]},
        {"epoch": 2, "train_loss": 1.0, "val_loss": 0.8, "batch_losses": [1.2, 0.8, 1.0]},
    ]
    curves = loss_curves(history)
    assert curves["x_title"] == "step"
    assert curves["series"]["train (per step)"] == ([1, 2, 3, 4, 5], [3.0, 1.0, 1.2, 0.8, 1.0])
    assert curves["series"]["validation"] == ([2, 5], [1.5, 0.8])  # at the step that ended each epoch


def test_loss_curves_fall_back_to_epochs_for_an_older_history():
    history = [{"epoch": 1, "train_loss": 2.0, "val_loss": 1.5}, {"epoch": 2, "train_loss": 1.0}]
    curves = loss_curves(history)
    assert curves["x_title"] == "epoch"
    assert curves["series"] == {"train": ([1, 2], [2.0, 1.0]), "validation": ([1], [1.5])}
    assert loss_curves([]) == {"x_title": "epoch", "series": {}}


def test_overlaid_runs_share_one_axis_per_step_only_when_every_run_kept_its_steps():
    stepped = [
        {"epoch": 1, "train_loss": 2.0, "val_loss": 1.5, "batch_losses": [3.0, 1.0]},
        {"epoch": 2, "train_loss": 1.0, "val_loss": 0.8, "batch_losses": [1.2, 0.8]},
    ]
    older = [{"epoch": 1, "train_loss": 4.0, "val_loss": 3.0}]
    both = overlay_curves([stepped, stepped], ["a", "b"], "train", 0.5)
    assert both["x_title"] == "step"
    assert both["series"]["a"] == ([1, 2, 3, 4], smooth([3.0, 1.0, 1.2, 0.8], 0.5))
    # one run without per-step losses: every run per epoch, unsmoothed, so the x axes agree
    mixed = overlay_curves([stepped, older], ["a", "b"], "train", 0.5)
    assert mixed == {"x_title": "epoch", "series": {"a": ([1, 2], [2.0, 1.0]), "b": ([1], [4.0])}}
    valid = overlay_curves([stepped, older], ["a", "b"], "validation", 0.5)
    assert valid["series"] == {"a": ([1, 2], [1.5, 0.8]), "b": ([1], [3.0])}
    assert overlay_curves([[]], ["empty"], "train", 0.5)["series"] == {}  # nothing recorded yet
    with pytest.raises(ValueError, match="which must be"):
        overlay_curves([stepped], ["a"], "test", 0.5)
    # smoothed_loss_curves smooths the per-step training loss, not the per-epoch validation points
    curves = smoothed_loss_curves(stepped, 0.5)
    assert set(curves["smoothed"]) == {"train (per step)"}


def test_history_rows_carry_every_epoch_and_step():
    history = [
        {
            "epoch": 1,
            "train_loss": 2.0,
            "val_loss": 1.5,
            "lr": 0.001,
            "seconds": 1.0,
            "batch_losses": [3.0, 1.0],
        },
        {"epoch": 2, "train_loss": 1.0, "val_loss": 0.8, "lr": 0.001, "seconds": 1.0, "batch_losses": [1.0]},
    ]
    rows = {r["metric"]: r["value"] for r in history_rows(history)}
    assert rows["history.epoch_1.val_loss"] == 1.5 and rows["history.epoch_2.train_loss"] == 1.0
    assert (
        rows["history.epoch_1.step_2.train_loss"] == 1.0 and rows["history.epoch_2.step_3.train_loss"] == 1.0
    )
    assert len(rows) == 2 * 4 + 3


# ------------------------------------------------------------------ settings diff


def _record(buoyancy=0.3, hidden=32, lr=1e-3, **train):
    return {
        "dataset": {"path": "x.h5", "config": {"grid": 32, "buoyancy_diff": buoyancy}},
        "model_config": {"name": "rsteer", "hidden": hidden, "widths": {"a": 1}},
        "train_config": {"lr": lr, "epochs": 30, **train},
        "status": "done",
    }


def test_settings_are_flattened_with_their_part_as_prefix():
    flat = flatten_settings(_record())
    assert flat == {
        "data.grid": 32,
        "data.buoyancy_diff": 0.3,
        "model.name": "rsteer",
        "model.hidden": 32,
        "model.widths.a": 1,
        "train.lr": 1e-3,
        "train.epochs": 30,
    }


def test_settings_diff_lists_only_what_differs_one_column_per_run():
    rows = settings_diff([_record(), _record(hidden=16), _record(lr=1e-4, seed=2)], ["A", "B", "C"])
    assert rows == [
        {"setting": "model.hidden", "A": "32", "B": "16", "C": "32"},
        {"setting": "train.lr", "A": "0.001", "B": "0.001", "C": "0.0001"},
        {"setting": "train.seed", "A": ABSENT, "B": ABSENT, "C": "2"},
    ]
    assert settings_diff([_record(), _record()], ["A", "B"]) == []
    with pytest.raises(ValueError, match="distinct"):
        settings_diff([_record(), _record()], ["A", "A"])


# ------------------------------------------------------------------ notes and tags


def test_tags_are_short_words_without_repeats():
    assert parse_tags("baseline, lr-sweep  v1.2;Baseline") == ["baseline", "lr-sweep", "v1.2"]
    assert parse_tags("") == [] and parse_tags(None) == []
    with pytest.raises(ValueError, match=r"^Tags: 'a/b' holds '/'"):
        parse_tags("ok a/b")
    with pytest.raises(ValueError, match="at most 32"):
        parse_tags("x" * 33)
    assert parse_tags("x" * 32) == ["x" * 32]
    with pytest.raises(ValueError, match=f"at most {MAX_TAGS} per run, got 11"):
        parse_tags(" ".join(f"t{i}" for i in range(11)))
    with pytest.raises(ValueError, match="holds '<'"):
        parse_tags("<img>")


def test_a_note_is_at_most_the_limit():
    assert check_note("  hello \n") == "hello"
    assert len(check_note("n" * NOTE_LIMIT)) == NOTE_LIMIT
    with pytest.raises(ValueError, match=f"Note: at most {NOTE_LIMIT} characters, got {NOTE_LIMIT + 1}"):
        check_note("n" * (NOTE_LIMIT + 1))


def _own_run(root, run_id="run-x-1", **extra):
    folder = root / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"run_id": run_id, "status": "done", **extra}))
    return folder


def test_notes_and_tags_are_saved_and_a_refused_edit_keeps_what_was_saved(tmp_path, monkeypatch):
    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "assets"))
    folder = _own_run(tmp_path / "data")
    record = annotate_run("run-x-1", "first try", "baseline cpu")
    assert record["note"] == "first try" and record["tags"] == ["baseline", "cpu"]
    before = (folder / "run.json").read_bytes()
    for note, tags in (("fine", "bad tag!"), ("n" * (NOTE_LIMIT + 1), "fine")):
        with pytest.raises(ValueError):
            annotate_run("run-x-1", note, tags)
        assert (folder / "run.json").read_bytes() == before
    shipped = _own_run(tmp_path / "assets", "run-shipped-1")
    with pytest.raises(ValueError, match="shipped with the project and read-only"):
        annotate_run("run-shipped-1", "mine", "x")
    assert "note" not in json.loads((shipped / "run.json").read_text())


# ------------------------------------------------------------------ where items came from


def test_items_are_grouped_yours_each_sweep_shipped():
    sweep_of = {"a": "sweep one", "b": "sweep two"}
    assert origins.origin_of("a", False, sweep_of) == "sweep one"
    assert origins.origin_of("a", False, sweep_of, {"a"}) == origins.YOURS  # made by the person
    assert origins.origin_of("a", True, sweep_of) == origins.SHIPPED
    assert origins.origin_of("c", False, sweep_of) == origins.YOURS
    groups = ["sweep two", "shipped", "yours", "sweep one", "yours"]
    assert origins.group_choices(groups) == ["all", "yours", "sweep two", "sweep one", "shipped"]
    fields = [["RSteer x"], ["ConvNet"], ["RSteer", "baseline"], ["E2CNN"], ["ConvNet", "Baseline"]]
    assert origins.filtered(groups, fields, "all", "") == [0, 1, 2, 3, 4]
    assert origins.filtered(groups, fields, "yours", "") == [2, 4]
    assert origins.filtered(groups, fields, "all", "baseline") == [2, 4]
    assert origins.filtered(groups, fields, "all", "rsteer BASE") == [2]


def test_a_list_opens_on_the_persons_newest_own_item_else_the_newest():
    groups = ["sweep", "yours", "sweep", "yours"]
    assert origins.default_index(groups, [9.0, 2.0, 8.0, 3.0]) == 3
    assert origins.default_index(["sweep", "shipped"], [1.0, 5.0]) == 1
    assert origins.default_index([], []) == 0


def _file(path, mtime):
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.utime(path, (mtime, mtime))
    return path


def test_the_service_groups_items_by_their_sweep_and_opens_on_the_persons_own(tmp_path, monkeypatch):
    from core.data import dataset_path
    from core.service import datasets, queue, runs, tracking
    from core.sweep.config import SweepConfig

    data = tmp_path / "data"
    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(data))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "assets"))
    config = SweepConfig.from_dict({"levels": [0.6], "models": ["convnet"]})
    planned = dataset_path(config.data_config(0.6)).name  # not made yet: the sweep is running
    record = {"config": config.to_dict(), "status": "done", "label": "my lr sweep",
              "rows": [{"run_id": "run-swept", "dataset": "smoke-row.h5"}]}  # fmt: skip
    (data / "sweeps" / "sweep-1").mkdir(parents=True)
    (data / "sweeps" / "sweep-1" / "results.json").write_text(json.dumps(record))
    _file(data / "datasets" / "mine.h5", 1000)  # the person's, older than the sweep's
    _file(data / "datasets" / "reused.h5", 500)
    _file(data / "datasets" / "smoke-row.h5", 2000)
    _file(data / "datasets" / planned, 3000)
    own_job = type(
        "Job", (), {"kind": "data", "result": {"dataset_path": str(data / "datasets" / "reused.h5")}}
    )
    monkeypatch.setattr(queue, "list_jobs", lambda limit=100: [own_job()])
    monkeypatch.setattr(tracking, "sweep_members", _with_reused(tracking.sweep_members))

    entries = datasets.dataset_entries()
    groups = dict(zip([e.name for e in entries], tracking.dataset_groups(entries), strict=True))
    assert groups == {
        planned: "my lr sweep",
        "smoke-row.h5": "my lr sweep",
        "mine.h5": "yours",
        "reused.h5": "yours",
    }
    assert entries[0].name == planned  # the newest, listed first
    assert entries[tracking.default_dataset(entries, tracking.dataset_groups(entries))].name == "mine.h5"
    assert tracking.group_choices(list(groups.values())) == ["all", "yours", "my lr sweep"]
    assert [
        entries[i].name for i in tracking.filter_datasets(entries, list(groups.values()), "yours", "min")
    ] == ["mine.h5"]

    _own_run(data, "run-swept", created=5000.0)
    _own_run(data, "run-mine", created=4000.0)
    listed = runs.list_runs()
    run_groups = tracking.run_groups(listed)
    assert dict(zip([r.id for r in listed], run_groups, strict=True)) == {
        "run-swept": "my lr sweep",
        "run-mine": "yours",
    }
    assert listed[tracking.default_run(listed, run_groups)].id == "run-mine"

    # Compare opens on the dataset of the person's newest own run, not the one with most (shipped) runs
    _own_run(tmp_path / "assets", "run-shipped-2", created=6000.0, dataset="smoke-row.h5")
    _own_run(tmp_path / "assets", "run-shipped-3", created=6500.0, dataset="smoke-row.h5")
    _own_run(data, "run-mine-2", created=3000.0, dataset="mine.h5")
    _own_run(data, "run-gone", created=3500.0, dataset="deleted.h5")
    _own_run(data, "run-upload", created=2000.0)
    readable = [type("Entry", (), {"name": n, "damaged": False}) for n in ("smoke-row.h5", "mine.h5")]
    monkeypatch.setattr(datasets, "dataset_entries", lambda: readable)  # the stand-in files are not HDF5
    choices = tracking.compare_datasets([r for r in runs.list_runs() if r.id != "run-mine"])
    assert choices.names == ["smoke-row.h5", "mine.h5"] and choices.default == "mine.h5"
    assert {r.id for r in choices.uploads} == {"run-swept", "run-upload"} and choices.orphans == 1
    assert choices.groups["run-mine-2"] == "yours" and choices.groups["run-swept"] == "my lr sweep"


def _with_reused(members):
    """sweep_members with the person's "reused.h5" also named by the sweep (it used the same settings)."""

    def wrapped():
        runs, datasets = members()
        return runs, {**datasets, "reused.h5": "my lr sweep"}

    return wrapped


def test_training_records_every_steps_loss_and_the_service_smooths_them(data_env):
    from core.models import ModelConfig
    from core.service import runs, tracking
    from core.train.config import TrainConfig
    from core.train.trainer import train
    from tests.conftest import TINY_TRAINING

    result = train(
        data_env, ModelConfig.for_model("convnet", hidden=8, layers=2), TrainConfig(**TINY_TRAINING)
    )
    history = json.loads((result.run_dir / "history.json").read_text())
    for epoch in history:
        losses = epoch["batch_losses"]
        # max_train_windows 16 = 4 orbits of 4 orientations, 2 orbits per batch of 8
        assert len(losses) == 2
        assert min(losses) * 0.999 <= epoch["train_loss"] <= max(losses) * 1.001  # their mean
    from core.store.runs import find_run_dir, read_run

    run = read_run(*find_run_dir(result.run_id))
    curves = tracking.run_loss_curves(run, 0.6)
    x, y = curves["series"]["train (per step)"]
    assert (
        curves["x_title"] == "step"
        and x == list(range(1, len(y) + 1))
        and len(y) == sum(len(h["batch_losses"]) for h in history)
    )
    assert curves["smoothed"]["train (per step)"][1] == smooth(y, 0.6)
    # a running job's card draws the same curves from its run, and nothing before it has one
    from types import SimpleNamespace

    from core.service import jobs

    assert jobs.job_loss_curves(SimpleNamespace(run_id=result.run_id), 0.6) == curves
    assert jobs.job_loss_curves(SimpleNamespace(run_id=None), 0.6) == {}
    assert jobs.job_loss_curves(SimpleNamespace(run_id="run-missing"), 0.6) == {}
    csv = runs.run_metrics_csv(run).decode()  # the metrics download carries every step's loss
    assert sum(".step_" in line for line in csv.splitlines()) == len(y) > 0
    assert f"history.epoch_2.val_loss,{history[1]['val_loss']}" in csv
