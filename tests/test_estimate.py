"""The cost estimates shown before a dataset or a sweep starts (core.estimate)."""

from __future__ import annotations

import pytest

from core.data import DataConfig
from core.estimate import dataset_seconds, duration_words, sweep_seconds, training_units


def test_a_dataset_costs_more_with_every_size_field():
    base = DataConfig(grid=32, frames=40, sims=1, warmup=0)
    for bigger in ({"grid": 64}, {"frames": 80}, {"sims": 2}, {"warmup": 20}):
        assert dataset_seconds(DataConfig(**{**base.to_dict(), **bigger})) > dataset_seconds(base), bigger
    assert dataset_seconds(base, speed=3.0) == pytest.approx(3 * dataset_seconds(base))
    # The Data page's default on a quiet 2-core machine: about 1.7 s measured.
    assert 0.85 < dataset_seconds(base) < 3.4


def test_training_units_come_from_measured_rows_and_drive_the_sweep_estimate():
    from core.sweep import SweepConfig

    resolved = {"data": {"sims": 1, "frames": 10, "grid": 16}, "train": {"epochs": 2}}
    cells = 2 * 4 * 1 * 10 * 16**2
    record = {"resolved": resolved, "rows": [
        {"model": "convnet", "seconds": 10.0, "status": "done"},
        {"model": "convnet", "seconds": 30.0, "status": "done"},
        {"model": "convnet", "seconds": 999.0, "status": "failed"},
    ]}  # fmt: skip
    units = training_units([record, {"rows": [{"model": "convnet", "seconds": 1}]}])
    assert units == {"convnet": pytest.approx(20.0 / cells)}
    one = SweepConfig(levels=(0.3,), models=("convnet",))
    two_levels = SweepConfig(levels=(0.3, 0.6), models=("convnet",))
    slow = {"convnet": 10 * units["convnet"]}
    assert sweep_seconds(two_levels, units) > sweep_seconds(one, units)
    assert sweep_seconds(one, slow) > sweep_seconds(one, units)
    data = one.data_config(0.3)
    epochs = one.train_config().epochs
    expected = dataset_seconds(data) + units["convnet"] * epochs * 4 * data.sims * data.frames * data.grid**2
    assert sweep_seconds(one, units) == pytest.approx(expected)


def test_durations_are_said_in_words():
    assert duration_words(0.2) == "about 1 s"
    assert duration_words(2.4) == "about 2 s"
    assert duration_words(240) == "about 4 min"
    assert duration_words(9000) == "about 2.5 h"


def test_the_machine_speed_comes_from_recent_data_jobs():
    from types import SimpleNamespace

    from core.service.estimates import machine_speed

    config = DataConfig(grid=16, frames=8, sims=1)
    took = 4 * dataset_seconds(config)
    job = SimpleNamespace(kind="data", status="done", started=100.0, finished=100.0 + took,
                          params={"data_config": config.to_dict()})  # fmt: skip
    failed = SimpleNamespace(**{**vars(job), "status": "failed", "finished": 1e9})
    assert machine_speed([job, failed]) == pytest.approx(4.0)
    assert machine_speed([]) == 1.0
