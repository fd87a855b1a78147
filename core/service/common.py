"""What every resource module of the service layer shares: listed entries, dataset file
headers, form checks, CSV bytes, file versions for caches. Imports no other service module."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.store.paths import assets_dir, data_dir

DATASETS = "datasets"


LABELS_FILE = "labels.json"


@dataclass(frozen=True)
class Entry:
    """A dataset file or sweep folder the dashboard can show.

    ``name``: file or folder name (the id); ``path``: where it is; ``shipped``: True when
    it comes from the read-only assets folder rather than the data directory; ``title``:
    the name a person reads (the user's label, else one derived from its config), ending in
    "(damaged)" for a damaged item; ``damaged``: ``"damaged: <file>: <reason>"`` for an item
    listed with a file that cannot be used (it can only be deleted), else ''.
    """

    name: str
    path: Path
    shipped: bool
    title: str = ""
    damaged: str = ""

    @property
    def label(self) -> str:
        """Name for a select box: the title (or, lacking one, the id), marking shipped entries."""
        from core.names import shipped_suffix

        return shipped_suffix(self.title or self.name, self.shipped)


def roots(sub: str) -> list[tuple[Path, bool]]:
    """The data-directory folder first, then the shipped one."""
    return [(data_dir() / sub, False), (assets_dir() / sub, True)]


_CONFIG_CACHE: dict[tuple[str, float], dict[str, Any] | None] = {}


_PROBLEM_CACHE: dict[tuple[str, float], str] = {}


def dataset_config_of(path: str | Path) -> dict[str, Any] | None:
    """The DataConfig dict stored in a dataset file's attributes (no arrays read), or None.

    Cached per (path, modification time), so listing datasets stays cheap.
    """
    path = Path(path)
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return None
    if key not in _CONFIG_CACHE:
        try:
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs["config"]
            _CONFIG_CACHE[key] = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
        except Exception:  # an empty or damaged file: listed, named as unreadable
            _CONFIG_CACHE[key] = None
    return _CONFIG_CACHE[key]


def dataset_damage(path: str | Path) -> str:
    """``"damaged: <file name>: <reason>"`` for a dataset file whose fields fail the checks of
    core.data.store (header only, no array read), '' for a usable one. Cached per (path,
    modification time)."""
    from core.data.store import dataset_file_problem
    from core.store.damage import damaged_line

    path = Path(path)
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError as exc:
        return damaged_line(path.name, exc.strerror or exc)
    if key not in _PROBLEM_CACHE:
        problem = dataset_file_problem(path)
        _PROBLEM_CACHE[key] = damaged_line(path.name, problem) if problem else ""
    return _PROBLEM_CACHE[key]


def dataset_labels(root: Path) -> dict[str, str]:
    """User labels of the datasets in ``root`` (its labels.json), {} if none."""
    try:
        labels = json.loads((root / LABELS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    import csv
    import io

    # Nested records (a row's ee_by_frame) stay in results.json: a CSV cell holds one value.
    columns = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, dict | list)))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def download_name(title: str, suffix: str) -> str:
    """The file name a download of the item called ``title`` gets, e.g. ``"RSteer-32-ch_30-ep.pt"``."""
    from core.names import file_stem

    return f"{file_stem(title)}{suffix}"


def note_symmetric_data(out: dict[str, Any]) -> None:
    """Say why the model / data panel is empty when no shown run's data has an asymmetry to divide by."""
    if out["runs"] and not any(
        r["data"] is not None and np.any(np.asarray(r["data"]) > 0) for r in out["runs"]
    ):
        out["notes"].append(
            "The data here is exactly symmetric (its one-step EE is 0 at every frame), so the "
            "bottom panel (model / data) has nothing to divide by and stays empty; the top panel "
            "shows how far each model is from symmetric."
        )


def check_ranges(values: Mapping[str, Any], ranges: Mapping[str, tuple], labels: Mapping[str, str]) -> None:
    """Raise ValueError naming the form field of the first value outside its range, e.g.
    "Frames must be between 8 and 300, got 5". Values that are None are left to the config."""
    for field, (low, high) in ranges.items():
        value = values.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{labels[field]} must be a number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{labels[field]} must be between {low:g} and {high:g}, got {value:g}")


def ranges_text(ranges: Mapping[str, tuple], labels: Mapping[str, str], fields: list[str]) -> str:
    """``"Frames 8-300, Sims per orientation 1-16"``: a form's ranges, for its caption."""
    return ", ".join(f"{labels[f]} {ranges[f][0]:g}-{ranges[f][1]:g}" for f in fields)


def in_form_words(message: str, labels: Mapping[str, str]) -> str:
    """Return ``message`` with each config field name it mentions replaced by the form's label.

    Why: configs name their fields ("rollout_steps must be..."), which a CLI user types but a
    page user never sees; the page shows "Loss steps must be...". Whole words only.
    """
    if not labels:
        return message
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, labels)) + r")\b")
    return pattern.sub(lambda m: labels[m.group(1)], message)


def file_version(path: str | Path) -> float:
    """A cache key that changes whenever the item at ``path`` does: a file's modification time,
    or for a folder the newest of its own and its direct children's (0 if it is missing)."""
    p = Path(path)
    try:
        if p.is_dir():
            return max([p.stat().st_mtime] + [c.stat().st_mtime for c in p.iterdir()])
        return p.stat().st_mtime
    except OSError:
        return 0.0
