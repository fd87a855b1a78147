"""The dataset cache: one file per config under ``data_dir()/datasets``, named by its hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.checks import check_fits
from core.data.config import DataConfig
from core.data.simulate import simulate
from core.data.store import DatasetFileError, load_dataset, write_dataset
from core.progress import Progress
from core.store.paths import data_dir, inside
from core.symmetry import data_equivariance_error


def dataset_path(config: DataConfig) -> Path:
    """Return the cache path of ``config``'s dataset (it may not exist yet)."""
    return inside(data_dir(), "datasets", f"smoke-{config.digest()}.h5")


def generate_dataset(
    config: DataConfig,
    out: Path,
    progress: Progress | None = None,
    *,
    device: str = "auto",
    solver: str = "dct",
) -> Path:
    """Simulate ``config`` and write the file to ``out`` (atomically); return ``out``.

    ``device`` ("auto", "cpu", "cuda") and ``solver`` ("dct", "scipy") pick the engine
    (core/data/simulate.py). Raises ValueError before simulating when the run would not fit
    in memory, and without writing when the simulation produced non-finite values.
    """
    run = simulate(config, progress, device=device, solver=solver)
    velocity = run.velocity.astype(np.float32)
    # The error is measured on what is saved, so a reader computing it again gets the same.
    trajectory = data_equivariance_error(velocity)
    return write_dataset(
        out,
        velocity,
        run.smoke.astype(np.float32),
        config,
        trajectory,
        run.data_ee_one_step,
        run.data_ee_one_step_by_element,
    )


def ensure_dataset(
    config: DataConfig, progress: Progress | None = None, *, device: str = "auto", solver: str = "dct"
) -> Path:
    """Return the path of ``config``'s dataset, generating it first unless a valid one is cached.

    A cached file that cannot be read, or whose config differs, is regenerated (with
    ``device`` and ``solver`` as in :func:`generate_dataset`). A config that would not fit
    in memory is refused with a ValueError before anything is allocated.
    """
    check_fits(
        config.estimated_bytes(),
        f"the dataset of grid {config.grid}, frames {config.frames}, sims {config.sims}",
    )
    path = dataset_path(config)
    if path.exists():
        try:
            if load_dataset(path).config == config:
                if progress is not None:
                    progress(1.0, "dataset already made")
                return path
        except DatasetFileError:
            pass
    return generate_dataset(config, path, progress, device=device, solver=solver)
