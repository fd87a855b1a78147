"""Shared fixtures: a private data directory and one real tiny PhiFlow dataset."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.store.paths import DATA_DIR_ENV

TINY_CONFIG = {"grid": 16, "frames": 12, "sims": 2, "buoyancy_diff": 0.3}
#: TrainConfig fields of a training run of a few seconds on TINY_CONFIG's dataset.
TINY_TRAINING = {"epochs": 2, "batch_size": 8, "rollout_steps": 2, "eval_steps": 4, "max_train_windows": 16}


@pytest.fixture(scope="session")
def tmp_data_dir(tmp_path_factory) -> Path:
    """A fresh data directory for the whole session (APPROXSYM_DATA_DIR points at it)."""
    path = tmp_path_factory.mktemp("approxsym-data")
    old = os.environ.get(DATA_DIR_ENV)
    os.environ[DATA_DIR_ENV] = str(path)
    yield path
    if old is None:
        os.environ.pop(DATA_DIR_ENV, None)
    else:
        os.environ[DATA_DIR_ENV] = old


@pytest.fixture(scope="session")
def tiny_dataset_path(tmp_data_dir) -> Path:
    """Path of one real tiny dataset (grid 16, 12 frames, 2 sims per orientation, delta 0.3)."""
    from core.data import DataConfig, ensure_dataset

    return ensure_dataset(DataConfig(**TINY_CONFIG))


@pytest.fixture(scope="session")
def symmetric_dataset_path(tmp_data_dir) -> Path:
    """Path of TINY_CONFIG's dataset without buoyancy difference: its four orientations are one
    simulation turned (data equivariance error at float round-off)."""
    from core.data import DataConfig, ensure_dataset

    return ensure_dataset(DataConfig(**{**TINY_CONFIG, "buoyancy_diff": 0.0}))


@pytest.fixture
def data_env(tmp_data_dir, tiny_dataset_path, monkeypatch, tmp_path):
    """The tiny dataset's path, with the shipped assets hidden (only this session's runs are listed)."""
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    return tiny_dataset_path


@pytest.fixture(autouse=True)
def _approx_takes_plain_numbers(monkeypatch):
    """Refuse a torch tensor inside ``pytest.approx`` on every pytest version.

    How approx treats a 0-d tensor changed between pytest releases (9.2 iterates it and
    fails); a test that passes a tensor depends on that corner case, so it fails here first.
    """
    import torch

    real = pytest.approx

    def approx(expected, *args, **kwargs):
        if isinstance(expected, torch.Tensor):
            raise TypeError("pass pytest.approx a float or an array, not a torch tensor (use float(t))")
        return real(expected, *args, **kwargs)

    monkeypatch.setattr(pytest, "approx", approx)


@pytest.fixture(scope="session")
def shipped(tmp_path_factory) -> Path:
    """The shipped assets, or (before they are generated) quick ones made by core.assets."""
    from dashboard.e2e import shipped_or_quick_assets

    return shipped_or_quick_assets(tmp_path_factory.mktemp("assets"))


@pytest.fixture
def data_dir(tmp_path, monkeypatch, shipped):
    """A fresh, empty data directory for the app, with the shipped assets beside it."""
    d = tmp_path / "data"
    monkeypatch.setenv(DATA_DIR_ENV, str(d))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(shipped))
    return d


def wait_until(predicate, timeout: float, what: str, step: float = 0.2):
    """Poll ``predicate()`` every ``step`` s until it returns something true; return that, or fail
    naming ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
