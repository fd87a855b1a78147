"""What a run tracker gives, for the pages: runs and datasets grouped by where they came from
(yours, each sweep, shipped) with a filter, the list's default item, loss curves per step with
smoothing, notes and tags on runs, and a settings diff of several runs. Streamlit-free.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.store import origins
from core.store.origins import ALL, SHIPPED, YOURS, group_choices  # noqa: F401 (for the pages)

#: Group names a sweep's name must not take (it would read as another group).
_RESERVED = {ALL, YOURS, SHIPPED}


# ------------------------------------------------------------------ where items came from


def sweep_members() -> tuple[dict[str, str], dict[str, str]]:
    """``(runs, datasets)``: which sweep made each run (its run id) and each dataset (its file
    name), by the sweep's name (its label or settings, no status, so a running sweep keeps its
    group). A sweep's datasets are those its rows name and those its plan will make (a running
    sweep's next datasets are grouped before its rows exist). Damaged and shipped sweeps name
    nothing."""
    from core.names import sweep_label, unique_labels
    from core.sweep import list_sweeps

    # A shipped sweep made nothing here: a dataset of the same settings in the data directory
    # was made by the person (a shipped sweep's own runs and datasets are shipped anyway).
    records = [r for r in list_sweeps() if not r.get("damaged") and not r.get("shipped")]
    names = unique_labels([sweep_label({**r, "status": None}) for r in records])
    runs: dict[str, str] = {}
    datasets: dict[str, str] = {}
    for record, name in zip(records, names, strict=True):
        name = f"sweep {name}" if name.casefold() in _RESERVED else name
        for row in record.get("rows") or []:
            if isinstance(row, dict) and row.get("run_id"):
                runs.setdefault(str(row["run_id"]), name)
            if isinstance(row, dict) and row.get("dataset"):
                datasets.setdefault(str(row["dataset"]), name)
        for dataset in _planned_datasets(record):
            datasets.setdefault(dataset, name)
    return runs, datasets


def _planned_datasets(record: dict[str, Any]) -> list[str]:
    """The dataset file names a sweep's plan makes (none for a record whose config is unreadable)."""
    from core.data import dataset_path
    from core.sweep.config import SweepConfig

    try:
        config = SweepConfig.from_dict(record.get("config") or {})
        keys = dict.fromkeys((p, lvl) for p in config.patterns for lvl in config.levels)
        return [dataset_path(config.data_config(level, pattern)).name for pattern, level in keys]
    except (TypeError, ValueError, KeyError):  # an old or edited record: its rows still count
        return []


def own_dataset_names() -> set[str]:
    """File names of the datasets the person made on the Data page (their generation jobs'
    results), so one a sweep reused later still counts as theirs; empty if the registry cannot
    be read."""
    from core.service import queue

    try:
        jobs = queue.list_jobs(500)
    except Exception:  # no registry yet, or locked: the sweeps' records still group the rest
        return set()
    paths = ((j.result or {}).get("dataset_path") for j in jobs if j.kind == "data")
    return {Path(str(p)).name for p in paths if p}


def run_groups(runs: list) -> list[str]:
    """The group of each run (core.store.origins.origin_of): "yours", a sweep's name or "shipped"."""
    sweep_runs, _ = sweep_members()
    return [origins.origin_of(r.id, r.shipped, sweep_runs) for r in runs]


def dataset_groups(entries: list) -> list[str]:
    """The group of each dataset entry (core.service.datasets.dataset_entries): "yours", a
    sweep's name or "shipped"."""
    _, sweep_datasets = sweep_members()
    own = own_dataset_names()
    return [origins.origin_of(e.name, e.shipped, sweep_datasets, own) for e in entries]


def run_time(run: Any) -> float:
    """When a run was made: run.json's ``created``, else the file's modification time."""
    created = run.config.get("created") if isinstance(run.config, dict) else None
    if isinstance(created, int | float):
        return float(created)
    with contextlib.suppress(OSError):
        return (Path(run.path) / "run.json").stat().st_mtime
    return 0.0


def default_run(runs: list, groups: list[str]) -> int:
    """The index of the run a list opens on: the person's newest own run, else the newest."""
    return origins.default_index(groups, [run_time(r) for r in runs])


def default_dataset(entries: list, groups: list[str]) -> int:
    """The index of the dataset a list opens on: the person's newest own one (not a sweep's),
    else the newest."""
    times = []
    for entry in entries:
        try:
            times.append(Path(entry.path).lstat().st_mtime)
        except OSError:
            times.append(0.0)
    return origins.default_index(groups, times)


@dataclass
class CompareDatasets:
    """The datasets runs can be compared on (each run's own training dataset, where it is still
    here): ``by_dataset`` {file name: runs}, ``names`` in menu order (most runs first),
    ``default`` (the dataset of the person's newest own run, else of the newest run),
    ``uploads`` (imported checkpoints: no dataset of their own, they fit any), ``orphans``
    (how many runs' datasets were deleted) and ``groups`` ({run id: where it came from}, as
    :func:`run_groups`, for every run given: the sweeps' records are read once)."""

    by_dataset: dict[str, list]
    names: list[str]
    default: str | None
    uploads: list
    orphans: int
    groups: dict[str, str]


def compare_datasets(usable: list) -> CompareDatasets:
    """Group ``usable`` runs (with checkpoints) by the dataset they were trained on; see
    :class:`CompareDatasets`."""
    from core.service.datasets import dataset_entries, run_dataset_name

    here = {e.name for e in dataset_entries() if not e.damaged}
    by_dataset: dict[str, list] = {}
    uploads, orphans = [], 0
    for run in usable:
        name = run_dataset_name(run.config)
        if name in here:
            by_dataset.setdefault(name, []).append(run)
        elif name is None:
            uploads.append(run)
        else:
            orphans += 1  # its dataset was deleted: nothing to roll it out on
    names = sorted(by_dataset, key=lambda n: (-len(by_dataset[n]), n))
    groups = dict(zip([r.id for r in usable], run_groups(usable), strict=True))
    placed = [r for n in names for r in by_dataset[n]]
    default = None
    if placed:
        newest = placed[default_run(placed, [groups[r.id] for r in placed])]
        default = run_dataset_name(newest.config)
    return CompareDatasets(by_dataset, names, default, uploads, orphans, groups)


def run_fields(run: Any, title: str) -> list[str]:
    """What the text filter searches in a run: its name, its model and its tags."""
    from core.models.registry import model_label
    from core.store.annotations import run_annotations

    model = model_label(run.model_name) if run.model_name else ""
    return [title, model, str(run.model_name or ""), *run_annotations(run.config or {})[1]]


def filter_runs(runs: list, titles: list[str], groups: list[str], group: str, text: str) -> list[int]:
    """The indices of the runs in ``group`` ("all": any) whose name, model or tags hold every word
    of ``text``."""
    fields = [run_fields(r, t) for r, t in zip(runs, titles, strict=True)]
    return origins.filtered(groups, fields, group, text)


def run_table_rows(runs: list, group: str = ALL, text: str = "") -> list[dict[str, Any]]:
    """The runs table's rows (core.service.runs.run_rows, as cells) of the runs
    :func:`filter_runs` keeps, each with its tags, origin ("from": yours, a sweep's name,
    shipped) and note."""
    from core.service.runs import run_rows, run_titles

    titles, groups = run_titles(runs), run_groups(runs)
    rows = [row.cells() for row in run_rows(runs)]
    out = []
    for i in filter_runs(runs, titles, groups, group, text):
        note, tags = run_notes(runs[i])
        out.append(
            {"run": rows[i]["run"], "tags": ", ".join(tags), **rows[i], "from": groups[i], "note": note}
        )
    return out


def filter_datasets(entries: list, groups: list[str], group: str, text: str) -> list[int]:
    """The indices of the dataset entries in ``group`` whose name holds every word of ``text``."""
    return origins.filtered(groups, [[e.label, e.name] for e in entries], group, text)


# ------------------------------------------------------------------ notes and tags


def run_notes(run: Any) -> tuple[str, list[str]]:
    """``(note, tags)`` of a run (core.store.annotations.run_annotations of its run.json)."""
    from core.store.annotations import run_annotations

    return run_annotations(run.config or {})


def save_notes(run_id: str, note: str, tags: str) -> str:
    """Store a run's note and tags (``tags``: words separated by commas or spaces); return what
    was saved, in words. ValueError, in one line naming what was wrong, for a bad tag, too many
    tags, a note over the limit or a shipped run (read-only): nothing is written then."""
    from core.store.annotations import annotate_run, run_annotations

    saved_note, saved_tags = run_annotations(annotate_run(run_id, note, tags))
    said_tags = f"{len(saved_tags)} tag{'s' if len(saved_tags) != 1 else ''}"
    said_note = f"a note of {len(saved_note)} characters" if saved_note else "no note"
    return f"Saved {said_tags} and {said_note}."


NOTES_HELP = (
    "Tags: up to 10 short words (letters, digits, - _ .; at most 32 characters each), separated "
    "by commas or spaces; the runs table shows them and its filter finds them. Note: up to 2,000 "
    "characters."
)


# ------------------------------------------------------------------ loss curves


#: TensorBoard's default smoothing; the slider's start.
DEFAULT_SMOOTHING = 0.6


def run_loss_curves(run: Any, smoothing: float) -> dict[str, Any]:
    """A run's losses to draw (core.train.curves.smoothed_loss_curves: per step where its history
    has the batch losses, per epoch otherwise, each series also smoothed with ``smoothing``):
    ``{"x_title", "series": {name: (x, y)}, "smoothed": {name: (x, y)}}``."""
    from core.train.curves import smoothed_loss_curves

    return smoothed_loss_curves(run.history, smoothing)


def loss_overlay(runs: list, titles: list[str], which: str, smoothing: float) -> dict[str, Any]:
    """Several runs' losses on one axis (core.train.curves.overlay_curves), each named by its
    title: ``{"x_title", "series": {title: (x, y)}}``; ``which``: "train" (per step, smoothed,
    where every run kept its batch losses) or "validation" (per epoch)."""
    from core.train.curves import overlay_curves

    return overlay_curves([r.history for r in runs], titles, which, smoothing)


# ------------------------------------------------------------------ settings diff


def settings_table(runs: list, names: list[str]) -> list[dict[str, Any]]:
    """The settings in which ``runs`` differ (core.train.settings.settings_diff): one row per
    setting, one column per run, headed by ``names`` (distinct); [] when none differs."""
    from core.train.settings import settings_diff

    return settings_diff([r.config or {} for r in runs], names)
