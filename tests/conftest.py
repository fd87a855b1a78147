"""Shared fixtures: a private data directory and one real tiny PhiFlow dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.store.paths import DATA_DIR_ENV

TINY_CONFIG = {"grid": 16, "frames": 12, "sims": 2, "buoyancy_diff": 0.3}


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
