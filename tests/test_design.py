"""The paper's rotation design: every simulation its own buoyancy strength, test-domain on unseen ones."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from core.data import DataConfig, ensure_dataset
from core.data.config import PAPER_STRENGTH_RANGE, held_out_sims
from core.train.samples import SplitSpec, make_splits


@pytest.mark.parametrize("sims", [4, 6, 8, 12, 36])
def test_paper_design_holds_out_the_strongest_and_some_between(sims):
    config = DataConfig(design="paper", sims=sims, seed=3)
    factors = np.array(config.sim_buoyancy_factors())
    assert factors.min() == pytest.approx(PAPER_STRENGTH_RANGE[0]) and factors.max() == pytest.approx(2.4)
    assert len(set(factors.round(12))) == sims  # every simulation its own strength
    held = held_out_sims(config)
    trained = [i for i in range(sims) if i not in held]
    assert factors[list(held)].max() > factors[trained].max()  # one beyond the trained range
    if sims >= 6:  # and some between trained strengths
        between = [i for i in held if factors[trained].min() < factors[i] < factors[trained].max()]
        assert between
    assert 0.15 <= len(held) / sims <= 0.4


def test_quick_design_keeps_its_random_held_out_share_and_old_names():
    assert held_out_sims(DataConfig()) is None
    assert DataConfig().digest() == DataConfig(design="quick").digest()
    with pytest.raises(ValueError, match="design must be one of quick, paper, got 'grand'"):
        DataConfig(design="grand")
    with pytest.raises(ValueError, match="paper design needs sims >= 4"):
        DataConfig(design="paper", sims=3)


def test_split_spec_takes_held_out_simulations_and_checks_them():
    spec = SplitSpec.from_dict({**SplitSpec(held_out=(3, 1)).to_dict(), "held_out": [3, 1]})
    assert spec.held_out == (1, 3)
    splits = make_splits(5, 30, spec)
    assert splits.domain_sims == (1, 3) and splits.train_sims == (0, 2, 4)
    with pytest.raises(ValueError, match="held_out \\[1, 3\\] does not fit a dataset of 3 simulations"):
        make_splits(3, 30, spec)
    for bad in ((), (1, 1), (-1,), ("a",)):
        with pytest.raises(ValueError, match="held_out must"):
            SplitSpec(held_out=bad)


def test_a_training_on_the_paper_design_never_trains_on_a_test_domain_strength(tmp_data_dir):
    from core.models import ModelConfig
    from core.train.checkpoints import load_run
    from core.train.config import TrainConfig
    from core.train.evaluate import splits_of_run
    from core.train.trainer import train

    config = DataConfig(design="paper", grid=16, frames=12, sims=6, buoyancy_diff=0.3)
    path = ensure_dataset(config)
    with h5py.File(path, "r") as f:
        stored = json.loads(f.attrs["sim_buoyancy_factors"])
        assert json.loads(f.attrs["test_domain_sims"]) == list(held_out_sims(config))
    run = train(
        path,
        ModelConfig.for_model("convnet", hidden=8, layers=2),
        TrainConfig(epochs=1, batch_size=8, rollout_steps=2, eval_steps=3, max_train_windows=8),
    )
    record = json.loads((run.run_dir / "run.json").read_text())
    domain, trained = record["split"]["domain_sims"], record["split"]["train_sims"]
    assert tuple(domain) == held_out_sims(config)
    assert not {round(stored[i], 12) for i in domain} & {round(stored[i], 12) for i in trained}
    assert splits_of_run(load_run(run.run_id).info).domain_sims == tuple(domain)
    assert np.isfinite(run.metrics["test_domain"]["rmse"])
