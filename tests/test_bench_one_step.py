"""benchmarks/bench_one_step_by_frame.py: its frame bands and its ratio to persistence."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.train.baseline import Persistence
from core.train.samples import SplitSpec, make_splits

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_one_step_by_frame.py"
_spec = importlib.util.spec_from_file_location("bench_one_step_by_frame", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture()
def splits_and_frames():
    splits = make_splits(4, 40, SplitSpec(input_frames=2, steps=2, val_fraction=0.1))
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(4, 4, 40, 2, 6, 6)).astype(np.float32).cumsum(axis=2)
    return splits, frames


def test_bands_cover_every_state_once_in_order(splits_and_frames):
    splits, _ = splits_and_frames
    bands = bench.frame_bands(splits)
    assert [name for name, _, _ in bands][-2:] == ["validation", "test-future"]
    assert bands[0][1] == splits.spec.input_frames - 1
    assert bands[-1][2] == splits.n_frames - 2
    for (_, _, last), (_, first, _) in zip(bands, bands[1:], strict=False):
        assert first == last + 1


def test_persistence_scores_one_and_a_worse_model_more(splits_and_frames):
    splits, frames = splits_and_frames
    assert bench.band_ratios(Persistence(), frames, splits, splits.train_sims) == pytest.approx([1.0] * 4)

    class HalfWay(nn.Module):
        """Moves the newest frame half way along the last change. The frames are random walks, so
        its one-step error has 1.25 x persistence's variance: a ratio of about 1.12."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, -2:] + 0.5 * (x[:, -2:] - x[:, -4:-2])

    ratios = bench.band_ratios(HalfWay(), frames, splits, splits.domain_sims)
    assert all(1.0 < r < 1.3 for r in ratios)
