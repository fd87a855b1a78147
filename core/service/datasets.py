"""Datasets: list them (named, damaged ones marked), summarise one, what deleting one
affects, and the Data page's generation form (its config, its ranges, starting the job)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.service import queue
from core.service.common import (
    DATASETS,
    Entry,
    check_ranges,
    dataset_config_of,
    dataset_damage,
    dataset_labels,
    in_form_words,
    roots,
)
from core.store.paths import data_dir
from core.store.runs import list_runs


def _dataset_files(root: Path) -> list[Path]:
    """The HDF5 files (``*.h5``, ``*.hdf5``, whatever their names) in ``root``, links to files
    elsewhere (core.data.cache.register_dataset) included."""
    from core.data.cache import DATASET_SUFFIXES

    return [p for p in root.iterdir() if p.suffix in DATASET_SUFFIXES and not p.name.startswith(".")]


def _modified(path: Path) -> float:
    """When ``path`` (or, for a link whose file is gone, the link) last changed."""
    try:
        return path.stat().st_mtime
    except OSError:
        return path.lstat().st_mtime


def dataset_entries() -> list[Entry]:
    """Return every HDF5 dataset file under ``datasets/`` of the data dir, then of assets/.

    Newest first within each place; shipped entries come last. Titles come from each
    file's stored config (or the user's label); equal titles are numbered. A file that fails
    the header checks is listed too, its title marked "(damaged)" and ``damaged`` saying why.
    """
    from core.names import dataset_label, unique_labels

    found: list[tuple[Path, bool, str, str]] = []
    for root, shipped in roots(DATASETS):
        if root.is_dir():
            labels = dataset_labels(root)
            files = sorted(_dataset_files(root), key=_modified, reverse=True)
            for p in files:
                damage = dataset_damage(p)
                title = dataset_label(dataset_config_of(p), labels.get(p.name))
                found.append((p, shipped, f"{title} (damaged)" if damage else title, damage))
    titles = unique_labels([t for _, _, t, _ in found])
    return [Entry(p.name, p, shipped, t, d) for (p, shipped, _, d), t in zip(found, titles, strict=True)]


def dataset_title(name: str | None) -> str:
    """The title of the dataset file called ``name`` (as in :func:`dataset_entries`), or the name."""
    entry = next((e for e in dataset_entries() if e.name == name), None)
    return entry.label if entry is not None else str(name)


def dataset_summary(path: str | Path) -> dict[str, Any]:
    """Shape, settings, name and both data equivariance errors of the dataset file at ``path``.

    ``data_ee``: the paper's trajectory data EE; ``data_ee_one_step``: the matched one-step
    data EE on Figure 4's states for the shipped models' input frames (the landing page's
    default x), None for a file without it.
    """
    from core.data import load_dataset
    from core.names import data_config_label
    from core.sweep import PRESETS
    from core.symmetry import matched_data_equivariance_error

    ds = load_dataset(Path(path))
    cfg = ds.config.to_dict()
    _, sims, frames, _, n, _ = ds.velocity.shape
    one_step = getattr(ds, "data_ee_one_step", None)
    frames_in = PRESETS["cpu"]["model"]["input_frames"]
    return {
        "label": data_config_label(cfg),
        "data_ee": float(ds.data_equivariance_error),
        "data_ee_one_step": None
        if one_step is None
        else matched_data_equivariance_error(one_step, frames_in),
        "buoyancy_diff": float(cfg["buoyancy_diff"]),
        "grid": int(n),
        "sims": int(sims),
        "frames": int(frames),
        "config": cfg,
    }


def run_dataset_name(config: dict[str, Any]) -> str | None:
    """File name of the dataset a run (its run.json dict) was trained on, or None if it records none."""
    value = config.get("dataset")
    if isinstance(value, dict):
        value = value.get("path")
    return Path(value).name if isinstance(value, str) and value else None


def runs_using_dataset(name: str) -> int:
    """How many runs (data directory and shipped) were trained on the dataset file ``name``."""
    return sum(1 for r in list_runs() if run_dataset_name(r.config) == name)


def dataset_delete_note(name: str) -> str:
    """What deleting the dataset file ``name`` of the data directory affects, in words; '' when
    nothing: the runs trained on it, and for a file listed through a link (written elsewhere by
    ``python -m core.data --out PATH``) that only the link goes."""
    from core.store.paths import check_name

    used = runs_using_dataset(name)
    notes = []
    if used:
        kept = "they keep their weights but cannot be compared on it"
        notes.append(f"{used} run(s) were trained on it: {kept}.")
    link = data_dir() / DATASETS / check_name(name, "dataset id")
    if link.is_symlink():
        notes.append(f"Its file is {os.readlink(link)}: deleting takes it off this list, the file stays.")
    return " ".join(notes)


#: What the Data page's generation form calls each DataConfig field it sets.
DATA_FORM_LABELS = {
    "buoyancy_diff": "Buoyancy difference",
    "breaking": "Breaking pattern",
    "grid": "Grid",
    "frames": "Frames",
    "sims": "Sims per orientation",
    "warmup": "Warm-up steps",
    "seed": "Seed",
}


#: The ranges each page form accepts, per config field: ``(lowest, highest)``. Tighter than
#: the configs' own where a browser should not start more work than a lesson needs. The
#: forms' number fields carry no bounds of their own: Streamlit marks a number outside a
#: field's bounds red and keeps the last valid one without a word, so the check is here,
#: where it can say what was wrong.
DATA_FORM_RANGES = {"frames": (8, 300), "sims": (1, 16), "warmup": (0, 500), "seed": (0, 2**31 - 1)}


def dataset_config(**settings: Any):
    """Return the core.data.DataConfig of the page's settings over the ``cpu`` sweep preset's
    data settings (its base buoyancy among them), so a page-made dataset behaves like the
    shipped ones. ValueError names a bad field."""
    from core.data import DataConfig
    from core.sweep import PRESETS

    check_ranges(settings, DATA_FORM_RANGES, DATA_FORM_LABELS)
    try:
        return DataConfig(**{**PRESETS["cpu"]["data"], **settings})
    except ValueError as exc:
        raise ValueError(in_form_words(str(exc), DATA_FORM_LABELS)) from exc


def existing_dataset(config) -> str | None:
    """The file name of the data directory's dataset made with exactly ``config``, or None."""
    from core.data import load_dataset
    from core.data.cache import dataset_path
    from core.data.store import DatasetFileError

    path = dataset_path(config)
    try:
        return path.name if path.is_file() and load_dataset(path).config == config else None
    except DatasetFileError:
        return None  # a damaged file: generating again replaces it


def submit_dataset(config) -> str:
    """Start a background generation job for a core.data.DataConfig; return the job id."""
    return queue.submit("data", {"data_config": config.to_dict()})
