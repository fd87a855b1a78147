"""The dataset cache: one file per config under ``data_dir()/datasets``, named by its hash;
and where the CLI's ``--out`` writes (a bare name: into that folder; a path: there, listed
through a symbolic link in that folder)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.data.checks import check_fits
from core.data.config import DataConfig
from core.data.simulate import simulate
from core.data.store import DatasetFileError, load_dataset, write_dataset
from core.progress import Progress
from core.store.paths import check_name, data_dir, inside
from core.symmetry import data_equivariance_error


def dataset_path(config: DataConfig) -> Path:
    """Return the cache path of ``config``'s dataset (it may not exist yet)."""
    return inside(data_dir(), "datasets", f"smoke-{config.digest()}.h5")


DATASET_SUFFIXES = (".h5", ".hdf5")


def datasets_dir() -> Path:
    """Return ``data_dir()/datasets``, the folder the dashboard lists (created if missing)."""
    folder = data_dir() / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def output_path(out: str) -> Path:
    """Return where the CLI's ``--out`` writes.

    A bare name (no path separator) names a file in :func:`datasets_dir`: ``smoke`` and
    ``smoke.h5`` both give ``datasets/smoke.h5`` (the name checked by core.store.paths.check_name);
    anything else is a path, taken as given, that must end in .h5 or .hdf5. Raises ValueError
    for a bad name or suffix.
    """
    suffix = Path(out).suffix
    if suffix not in DATASET_SUFFIXES and (suffix[1:].isalpha() or os.sep in out or "/" in out):
        raise ValueError(f"--out must end in .h5 or .hdf5, got {out!r}")
    if os.sep in out or "/" in out:
        return Path(out).expanduser()
    name = out if suffix in DATASET_SUFFIXES else f"{out}.h5"  # "smoke-0.5" is a name, not a suffix
    return inside(datasets_dir(), check_name(name, "--out name"))


def find_dataset(value: str) -> Path:
    """Return the dataset file a CLI's ``--data`` names: an existing file or any path as given,
    else a bare name looked up as :func:`output_path` would write it (``smoke`` ->
    ``datasets/smoke.h5``). The caller checks that the file exists."""
    given = Path(value).expanduser()
    if given.is_file() or os.sep in value or "/" in value:
        return given
    try:
        return output_path(value)
    except ValueError:
        return given


def listing_link(path: Path) -> Path | None:
    """The link in :func:`datasets_dir` that lists the dataset file ``path`` written elsewhere,
    or None when ``path`` is in that folder already.

    The link carries the file's own name, so a run trained on the file (run.json records its
    real path) is shown under the dataset's name. Raises ValueError, before anything is
    written, when that name is not a safe one or is taken by another file.
    """
    folder = datasets_dir()
    target = path.resolve()
    if target.parent == folder.resolve():
        return None
    link = folder / check_name(target.name, "dataset file name")
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return link
    if link.is_symlink() or link.exists():
        raise ValueError(
            f"--out: {link} already lists another dataset; give the file another name, "
            "or delete that one on the Data page"
        )
    return link


def register_dataset(path: Path) -> Path | None:
    """List the dataset file ``path`` on the dashboard (:func:`listing_link`); return the link.

    The link is made under a temporary name and renamed over, so the folder never holds a
    half-made one. Deleting the dataset on the Data page removes the link, never the file.
    """
    link = listing_link(path)
    if link is not None and not link.is_symlink():
        tmp = link.with_name(f".{link.name}.{os.getpid()}.link")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(path.resolve())
        os.replace(tmp, link)
    return link


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
