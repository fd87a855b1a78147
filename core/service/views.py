"""What the dashboard pages draw, prepared without Streamlit (the read side of the service layer).

Pure functions over the data directory and the shipped assets: list what exists,
summarise a dataset, turn a sweep into curves, and compute a side-by-side
comparison of several runs (rollouts, errors, equivariance). The pages cache
these results and only draw them.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.store.paths import assets_dir, data_dir
from core.store.registry import FAILURES  # noqa: F401 (re-exported for the pages)
from core.sweep.aggregate import split_title  # noqa: F401 (re-exported for the pages)

DATASETS = "datasets"
COMPARE_STEPS = 20


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


def _roots(sub: str) -> list[tuple[Path, bool]]:
    """The data-directory folder first, then the shipped one."""
    return [(data_dir() / sub, False), (assets_dir() / sub, True)]


_CONFIG_CACHE: dict[tuple[str, float], dict[str, Any] | None] = {}
_PROBLEM_CACHE: dict[tuple[str, float], str] = {}
LABELS_FILE = "labels.json"


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


def _dataset_labels(root: Path) -> dict[str, str]:
    """User labels of the datasets in ``root`` (its labels.json), {} if none."""
    try:
        labels = json.loads((root / LABELS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


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
    for root, shipped in _roots(DATASETS):
        if root.is_dir():
            labels = _dataset_labels(root)
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


def sweep_entries() -> list[Entry]:
    """Every sweep with a results.json (core.sweep.list_sweeps), the shipped ones first, and of
    each the Figure-4 sweeps before the pattern and Table-1 sweeps (which have pages of their own).

    The shipped Figure-4 sweep is the landing page's default, so it leads the list. Titles come
    from each sweep's config (or the user's label); a sweep whose results.json cannot be read
    is listed by its id, marked "(damaged)", with ``damaged`` saying why.
    """
    from core.names import sweep_label, unique_labels
    from core.sweep import list_sweeps

    records = sorted(list_sweeps(), key=lambda r: (not r["shipped"], _is_special_sweep(r)))
    named = [f"{Path(r['path']).name} (damaged)" if r.get("damaged") else sweep_label(r) for r in records]
    return [
        Entry(Path(r["path"]).name, Path(r["path"]), bool(r["shipped"]), t, str(r.get("damaged") or ""))
        for r, t in zip(records, unique_labels(named), strict=True)
    ]


#: Sweep presets drawn on pages of their own (the landing lesson, the Table 1 page), not as Figure 4.
SPECIAL_SWEEP_PRESETS = ("patterns", "table1")


def _is_special_sweep(record: dict[str, Any]) -> bool:
    config = record.get("config")
    return isinstance(config, dict) and config.get("preset") in SPECIAL_SWEEP_PRESETS


def _read_sweep(folder: str | Path) -> list[dict[str, Any]]:
    """The rows of a sweep's results.json; ValueError for a file that is not a sweep record
    (core.store.damage.DamagedError, ``damaged: results.json: <reason>``, for a damaged one)."""
    from core.sweep.results import read_record

    try:
        record = read_record(Path(folder))
    except FileNotFoundError:
        raise ValueError(f"{folder} holds no results.json") from None
    return [r for r in record["rows"] if isinstance(r, dict)]


#: Figure 4's x axes: results.json field, and what a person reads.
SWEEP_AXES = {
    "one_step": ("data_ee_one_step", "data one-step equivariance error"),
    "trajectory": ("data_ee_trajectory", "data trajectory equivariance error"),
}


def sweep_axes(folder: str | Path) -> list[str]:
    """The x axes a sweep can be plotted against: ``["one_step", "trajectory"]`` for sweeps
    with the matched one-step data error, ``["trajectory"]`` for older ones."""
    rows = _read_sweep(folder)
    if any(r.get("data_ee_one_step") is not None for r in rows):
        return ["one_step", "trajectory"]
    return ["trajectory"]


def _x_of(row: dict[str, Any], axis: str) -> Any:
    """A row's data EE for ``axis`` (old files name the trajectory EE data_equivariance_error)."""
    value = row.get(SWEEP_AXES[axis][0])
    if value is None and axis == "trajectory":
        value = row.get("data_equivariance_error")
    return value


def sweep_curves(folder: str | Path, axis: str = "trajectory", notes: bool = False) -> dict[str, tuple]:
    """Read a sweep's ``results.json`` into ``{model label: (data_errors, model_errors, levels)}``;
    with ``notes``, three more lists per model: each point's note, "worse than persistence ..."
    (core.sweep.results.row_worse_than_persistence) led by "training diverged" for a
    diverged run (its point is its best checkpoint's; '' for a run that beats persistence), and
    the seed spread (std) of the data and of the model error (None for a one-seed point).

    One point per (level, model): x = the data's equivariance error of ``axis`` ("one_step":
    the true one-step map's, on the states the models are tested on; "trajectory": the paper's
    whole-trajectory one), y = the model's mean one-step C4 equivariance error, both in velocity
    units and each the mean over the training seeds (core.sweep.aggregate.by_level); levels are
    the buoyancy differences. Sorted by x; rows without a value are left out. ValueError for a
    bad file or axis.
    """
    from core.models.registry import model_label
    from core.sweep.aggregate import by_level

    if axis not in SWEEP_AXES:
        raise ValueError(f"axis must be one of {sorted(SWEEP_AXES)}, got {axis!r}")
    rows = [
        r for r in _read_sweep(folder) if _x_of(r, axis) is not None and r.get("model_ee_mean") is not None
    ]
    xs_by, ys_by = by_level(rows, lambda r: _x_of(r, axis)), by_level(rows, "model_ee_mean")
    curves: dict[str, tuple[list, ...]] = {}
    for model, ys in ys_by.items():
        xs = dict(xs_by.get(model, []))
        points = [(xs[level], y, level) for level, y in ys if level in xs]
        marks = [_seed_notes(rows, model, level) for _, _, level in points]
        lists = (
            [x.mean for x, _, _ in points],
            [y.mean for _, y, _ in points],
            [level for _, _, level in points],
            marks,
            [x.std if x.count > 1 else None for x, _, _ in points],
            [y.std if y.count > 1 else None for _, y, _ in points],
        )
        order = np.argsort(lists[0], kind="stable")
        curves[model_label(model)] = tuple(
            [values[i] for i in order] for values in lists[: 6 if notes else 3]
        )
    return curves


def _seed_notes(rows: list[dict[str, Any]], model: str, level: float) -> str:
    """The notes of one (level, model) point's rows: "training diverged", "worse than
    persistence ...", each led by its seed when the point has several; '' when none has one."""
    from core.sweep.aggregate import row_seed
    from core.sweep.results import row_worse_than_persistence

    group = [r for r in rows if str(r.get("model")) == model and float(r.get("level", np.nan)) == level]
    seeded = len(group) > 1
    out = []
    for row in sorted(group, key=row_seed):
        diverged = "training diverged" if row.get("status") == "diverged" else ""
        note = "; ".join(n for n in (diverged, row_worse_than_persistence(row)) if n)
        if note:
            out.append(f"seed {row_seed(row)}: {note}" if seeded else note)
    return "; ".join(out)


def sweep_frame_levels(folder: str | Path) -> list[float]:
    """The levels of a sweep whose rows carry the frame-by-frame EE (none for older sweeps)."""
    levels = {float(r["level"]) for r in _read_sweep(folder) if r.get("ee_by_frame") and "level" in r}
    return sorted(levels)


def sweep_frame_split(folder: str | Path) -> dict[str, tuple[list[float], ...]]:
    """Figure 4 split by frames: ``{model label: (levels, on training frames, on untrained
    frames, their seed stds)}``, each the model's mean EE over the data's mean one-step EE on the
    frames whose target is in its training block, and on the later (validation, test-future)
    frames (core.sweep.results.frame_split_ratios), averaged over training seeds; the stds
    (training, untrained) are None at a one-seed level. Levels without frame-by-frame errors,
    and Δb 0 (no data EE to divide by), are left out."""
    from core.models.registry import model_label
    from core.sweep.aggregate import by_level
    from core.sweep.results import frame_split_ratios

    rows = [r for r in _read_sweep(folder) if frame_split_ratios(r) is not None]
    trained = by_level(rows, lambda r: frame_split_ratios(r)[0])
    later = dict(by_level(rows, lambda r: frame_split_ratios(r)[1]))
    out: dict[str, tuple[list[float], ...]] = {}
    for model, points in trained.items():
        after = dict(later[model])
        spreads = [(level, a, after[level]) for level, a in points]
        out[model_label(model)] = (
            [level for level, _, _ in spreads],
            [a.mean for _, a, _ in spreads],
            [b.mean for _, _, b in spreads],
            [(a.std, b.std) if a.count > 1 else None for _, a, b in spreads],
        )
    return out


def sweep_ee_by_frame(folder: str | Path, level: float) -> dict[str, Any]:
    """The frame-by-frame EE of every model of a sweep at ``level``, shaped like
    :func:`equivariance_by_frame`'s result (``runs``, ``regions``, ``notes``), from the rows
    of results.json (no checkpoint needed). ValueError if no row at ``level`` has one."""
    from core.models.registry import model_label
    from core.sweep.aggregate import row_seed, seed_count

    out: dict[str, Any] = {"runs": [], "regions": [], "notes": []}
    rows = [r for r in _read_sweep(folder) if r.get("ee_by_frame")]
    rows = [r for r in rows if abs(float(r.get("level", np.nan)) - level) <= 1e-9]
    seeded = seed_count(rows) > 1  # one curve per training seed, each named by its seed
    for row in sorted(rows, key=row_seed):
        record = row["ee_by_frame"]
        data = record.get("data")
        label = model_label(str(row.get("model", "?")))
        out["runs"].append(
            {
                "label": f"{label}, seed {row_seed(row)}" if seeded else label,
                "model": row.get("model"),
                "frames": np.asarray(record["frames"], dtype=int),
                "ee": np.asarray(record["model"], dtype=float),
                "data": None if data is None else np.asarray(data, dtype=float),
                "dataset": row.get("dataset"),
                "level": float(level),
            }
        )
        if not out["regions"]:
            out["regions"] = [(str(n), int(a), int(b)) for n, a, b in record.get("regions") or ()]
    if not out["runs"]:
        raise ValueError(f"no model of this sweep has frame-by-frame errors at level {level:g}")
    _note_symmetric_data(out)
    return out


def _note_symmetric_data(out: dict[str, Any]) -> None:
    """Say why the model / data panel is empty when no shown run's data has an asymmetry to divide by."""
    if out["runs"] and not any(
        r["data"] is not None and np.any(np.asarray(r["data"]) > 0) for r in out["runs"]
    ):
        out["notes"].append(
            "The data here is exactly symmetric (its one-step EE is 0 at every frame), so the "
            "bottom panel (model / data) has nothing to divide by and stays empty; the top panel "
            "shows how far each model is from symmetric."
        )


def sweep_accuracy(folder: str | Path) -> list[dict[str, Any]]:
    """Per level and model: the rollout RMSE beside persistence ("next frame = this frame").

    Columns present in the file only (older sweeps have no persistence); values rounded
    to 3 significant digits for reading.
    """
    from core.models.registry import model_label
    from core.sweep.aggregate import split_title

    columns = {
        "rmse_future": f"RMSE {split_title('future')}",
        "rmse_persistence_future": f"persistence {split_title('future')}",
        "rmse_domain": f"RMSE {split_title('domain')}",
        "rmse_persistence_domain": f"persistence {split_title('domain')}",
    }
    rows = []
    for row in _read_sweep(folder):
        if row.get("model_ee_mean") is None:
            continue
        out: dict[str, Any] = {"Δb": row.get("level"), "model": model_label(str(row.get("model", "?")))}
        if "seed" in row:
            out["seed"] = row["seed"]
        for key, title in columns.items():
            if row.get(key) is not None:
                out[title] = float(f"{float(row[key]):.3g}")
        rows.append(out)
    return sorted(
        rows, key=lambda r: (r["Δb"] if r["Δb"] is not None else np.inf, r["model"], r.get("seed", 0))
    )


#: A model whose relative equivariance error stays at or below this is exactly equivariant (float
#: round-off; issue 8's criterion for E2CNN).
EXACT_RELATIVE_EE = 1e-5


def _exactly_equivariant(rows: list[dict[str, Any]]) -> list[str]:
    """Labels of the models measured exactly equivariant in a sweep's rows: every row of theirs
    records a relative EE at most EXACT_RELATIVE_EE (measured, not declared)."""
    from core.models.registry import model_label

    by_model: dict[str, list[Any]] = {}
    for r in rows:
        by_model.setdefault(model_label(str(r["model"])), []).append(r.get("model_ee_relative"))
    return sorted(m for m, v in by_model.items() if all(x is not None and x <= EXACT_RELATIVE_EE for x in v))


def sweep_accuracy_ratios(folder: str | Path) -> dict[str, Any]:
    """Each model's rollout RMSE over persistence's, per level, on both test splits, over seeds.

    Returns ``{"test-future": split, "test-domain": split}`` for the splits whose rows carry a
    persistence RMSE, each ``{"title": the split named by what it holds, "levels": [Δb, ...],
    "ratios": {model label: [mean ratio per level]}, "spread": {model label: [std per level, None
    for one seed]}, "best": {model label: levels where its mean is lowest}, "leads": {model label:
    levels where it is lower than every other model by more than the two seed spreads},
    "seeds": how many training seeds}``; and ``"summary"``: sentences that say who is most
    accurate where under that spread rule (core.sweep.table1.compare; with one seed they say
    so and rank nothing), and whether the data's asymmetry costs the exactly equivariant model
    (its ratio at the lowest and the highest level). Empty without persistence.
    """
    from core.models.registry import model_label
    from core.sweep.aggregate import by_level, seed_count, split_title

    rows = [r for r in _read_sweep(folder) if r.get("model_ee_mean") is not None]
    out: dict[str, Any] = {}
    lines = []
    for key in ("future", "domain"):
        usable = [r for r in rows if r.get(f"rmse_{key}") and r.get(f"rmse_persistence_{key}")]
        spreads = by_level(usable, lambda r, k=key: float(r[f"rmse_{k}"]) / float(r[f"rmse_persistence_{k}"]))
        if not spreads:
            continue
        split = _ratio_split({model_label(m): v for m, v in spreads.items()}, seed_count(usable))
        split["title"] = split_title(key)
        out[f"test-{key}"] = split
        lines.append(_ranking_line(split))
    lines += _symmetry_cost_lines(out, _exactly_equivariant(rows))
    if out:
        out["summary"] = lines
    return out


def _ratio_split(spreads: dict[str, list[tuple[float, Any]]], seeds: int) -> dict[str, Any]:
    """One split of :func:`sweep_accuracy_ratios` from ``{label: [(level, Spread)]}``."""
    from core.sweep.aggregate import leader

    levels = sorted({level for points in spreads.values() for level, _ in points})
    at = {m: dict(points) for m, points in spreads.items()}
    nan = float("nan")  # NaN: no row at that level
    ratios = {m: [at[m][v].mean if v in at[m] else nan for v in levels] for m in sorted(at)}
    spread = {
        m: [at[m][v].std if v in at[m] and at[m][v].count > 1 else None for v in levels] for m in sorted(at)
    }
    best: dict[str, int] = {}
    leads: dict[str, int] = {}
    for level in levels:
        name, how = leader({m: at[m][level] for m in at if level in at[m]})
        best[name] = best.get(name, 0) + 1
        if how == "leads":
            leads[name] = leads.get(name, 0) + 1
    return {
        "levels": levels,
        "ratios": ratios,
        "spread": spread,
        "best": best,
        "leads": leads,
        "seeds": seeds,
    }


def _ranking_line(split: dict[str, Any]) -> str:
    """Who is most accurate on one split, following the spread rule: with one seed the lowest
    means are counted and no ranking is claimed; with several, only leads beyond the spreads."""
    from core.sweep.aggregate import ONE_SEED, TIED

    title, levels, ratios = split["title"], split["levels"], split["ratios"]
    if len(ratios) == 1:  # a ranking of one says nothing: give its range instead
        ((label, values),) = ratios.items()
        finite = [v for v in values if np.isfinite(v)]
        return (
            f"Only {label} in this sweep: on {title} its RMSE / persistence is "
            f"{min(finite):.2f}-{max(finite):.2f} over {len(levels)} levels."
        )
    if split["seeds"] <= 1:
        lowest = ", ".join(f"{m} at {n}" for m, n in sorted(split["best"].items(), key=lambda kv: -kv[1]))
        return (
            f"Lowest RMSE on {title} (of its {len(levels)} levels): {lowest}; {ONE_SEED}, so this "
            "ranks nothing (two trainings of one model differ by a few percent)."
        )
    leads = ", ".join(f"{m} at {n}" for m, n in sorted(split["leads"].items(), key=lambda kv: -kv[1]))
    tied = len(levels) - sum(split["leads"].values())
    said = (
        f"more accurate than every other model by more than the two seed spreads: {leads}; " if leads else ""
    )
    return (
        f"On {title}, over {split['seeds']} seeds (of its {len(levels)} levels): {said}"
        f"{TIED} at {tied} level{'s' if tied != 1 else ''}."
    )


def _symmetry_cost_lines(out: dict[str, Any], exact: list[str]) -> list[str]:
    """For each exactly equivariant model, its mean ratio at the lowest and highest level."""
    lines = []
    for name in exact:
        ends = {
            o["title"]: (o["ratios"][name][0], o["ratios"][name][-1], o["levels"][0], o["levels"][-1])
            for o in out.values()
            if name in o["ratios"]
            and len(o["levels"]) > 1
            and np.isfinite([o["ratios"][name][0], o["ratios"][name][-1]]).all()
        }
        if ends:
            told = "; ".join(
                f"{s} {a:.2f} at Δb {la:g}, {b:.2f} at {lb:g}" for s, (a, b, la, lb) in ends.items()
            )
            lines.append(
                f"{name}, measured exactly equivariant, RMSE / persistence from the lowest Δb to the "
                f"highest: {told}. Where it rises, the data's asymmetry costs a symmetric model "
                "accuracy that a relaxed one can win; where it does not, there is none to win."
            )
    return lines


def sweep_csv(folder: str | Path) -> bytes:
    """The sweep's results as CSV: its results.csv if written, else built from results.json."""
    folder = Path(folder)
    if (folder / "results.csv").is_file():
        return (folder / "results.csv").read_bytes()
    return _csv(_read_sweep(folder))


def _csv(rows: list[dict[str, Any]]) -> bytes:
    import csv
    import io

    # Nested records (a row's ee_by_frame) stay in results.json: a CSV cell holds one value.
    columns = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, dict | list)))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def training_defaults() -> dict[str, Any]:
    """The Train page's starting values: the ``cpu`` sweep preset (the shipped runs' settings).

    Every TrainConfig field (the preset's value, else TrainConfig's default), plus the preset
    models' ``input_frames``, ``hidden``, ``smoke`` and RSteer's ``alpha``.
    """
    from core.models import ModelConfig
    from core.sweep import PRESETS
    from core.train.config import TrainConfig

    preset = PRESETS["cpu"]
    rsteer = ModelConfig.for_model("rsteer", **preset["model"])
    model = {"input_frames": rsteer.input_frames, "hidden": rsteer.hidden, "alpha": rsteer.alpha}
    model["smoke"] = rsteer.smoke
    return {**TrainConfig.from_dict(preset["train"]).to_dict(), **model}


def advanced_training_words(start: dict[str, Any]) -> str:
    """The Train form's expert settings at their starting values (:func:`training_defaults`),
    as one sentence a first-time user can read without opening them; returns it."""
    weighting = start["window_weighting"]
    hold = start["relaxed_hold"]
    parts = [
        f"batches of {start['batch_size']} windows",
        f"learning rate {start['lr']:g}",
        _count(start["input_frames"], "input frame"),
        _count(start["rollout_steps"], "autoregressive step") + " in the loss",
        f"RSteer alpha {start['alpha']:g}",
        "every training window",
        f"windows weighted by their one-step change (c = {weighting:g})" if weighting else "a plain loss",
        f"RSteer held symmetric for {_count(hold, 'epoch')}" if hold else "RSteer free to break symmetry",
        "the models see the smoke" if start["smoke"] else "the models see the velocity only",
    ]
    return "Left as they are: " + ", ".join(parts) + " (the shipped runs' settings)."


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


#: What showing the models the smoke (ModelConfig.smoke) does, for the Train and sweep forms.
SMOKE_INPUT_HELP = (
    "Every frame a model reads and predicts holds the smoke density beside the velocity. The "
    "buoyancy pushes the smoke, so a model that sees it can tell how strongly each plume is "
    "driven; errors and equivariance errors are still of the velocity alone (docs/RESULTS.md)."
)

#: What RSteer's symmetric start (TrainConfig.relaxed_hold) does, for the Train and sweep forms.
SYMMETRIC_START_HELP = (
    "Epochs in which RSteer trains exactly equivariant before it may break symmetry (0: from the "
    "start, as in the shipped runs and sweep; it must be fewer than the epochs). With 5 in a "
    "30-epoch run RSteer was more accurate, but learnt only about two thirds of the data's "
    "asymmetry (docs/RESULTS.md)."
)

#: What the sweep form's engine choice does, and when each is faster (measured on 2 cores).
SWEEP_ENGINE_HELP = (
    "Both train on this machine. 'One run at a time' gives each training every core. 'Ray' starts "
    "a local Ray (about 10 s) and trains one single-threaded run per core at once: with the cpu "
    "preset's sizes that is about 10% faster on 2 cores (the shipped sweep was made that way); "
    "for small quick sweeps the start costs more than it saves."
)


#: The sweep form's words for each breaking pattern (core.data.config.BREAKING_PATTERNS).
PATTERN_LABELS = {
    "all": "every rotation broken",
    "half_turn": "half-turn kept",
    "one_plume": "one plume differs",
}

#: What the sweep form's seeds and patterns do.
SWEEP_SEEDS_HELP = (
    "Each model is trained with training seeds 0, 1, ... on every dataset; with more than one the "
    "sweep's rows give a spread of each figure over seeds."
)
SWEEP_PATTERNS_HELP = (
    "Which plumes the buoyancy difference strengthens: one dataset per pattern and level. "
    "'Half-turn kept' leaves opposite plumes equal, so the data keeps the 180° rotation."
)


def breaking_patterns() -> list[str]:
    """The breaking patterns a sweep may use (core.data.config.BREAKING_PATTERNS), the ramp first."""
    from core.data.config import BREAKING_PATTERNS

    return list(BREAKING_PATTERNS)


def sweep_engines() -> list[str]:
    """Where a sweep's trainings can run: core.sweep.ENGINES (this machine, or Ray tasks)."""
    from core.sweep import ENGINES

    return list(ENGINES)


def sweep_form_hint(epochs: int, frames: int) -> str:
    """One sentence for the sweep form: how its values compare with the shipped sweep's preset.

    ``epochs``, ``frames``: the form's current values. Says when they are a quick
    look whose models may not beat persistence (fewer epochs or frames than the cpu preset).
    """
    from core.sweep import PRESETS, SweepConfig

    preset = PRESETS["cpu"]
    full = (
        f"The shipped sweep used the cpu preset: {len(SweepConfig().levels)} levels, "
        f"{preset['train']['epochs']} epochs, {preset['data']['frames']} frames per simulation."
    )
    if epochs < preset["train"]["epochs"] or frames < preset["data"]["frames"]:
        quick = (
            f"{epochs} epoch{'s' if epochs != 1 else ''} on {frames} frames per simulation is a "
            "quick look: models trained this briefly may not beat persistence. "
        )
        return quick + full
    return full


#: The loss charts' y axis, and what it measures, in a person's words (core.train.trainer.step_loss).
LOSS_AXIS_TITLE = "loss (error² / typical step²)"
LOSS_EXPLAINED = (
    "Loss: the squared error of each predicted step, in units of the typical one-step change "
    "squared (the RMS change over the training frames, with residual prediction, the "
    "default), summed over the loss steps; "
    "RSteer adds its small smoothness penalty. Lower is better; unitless, so runs on "
    "different data compare only roughly."
)


def history_series(history: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-epoch loss lists from a run's history.json: ``{"train": [...], "validation": [...]}``.

    Keys present in the history records as ``train_loss`` / ``val_loss``; missing
    series are left out.
    """
    out: dict[str, list[float]] = {}
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = [float(h[key]) for h in history if isinstance(h, dict) and h.get(key) is not None]
        if values:
            out[label] = values
    return out


def relaxation_maps(model: Any) -> list[dict[str, Any]]:
    """How far each relaxed layer's weights moved from equal values, per kernel offset.

    Uses the model's ``relaxation_summary()`` (RSteer, RGroup) and returns one dict per layer:
    ``name``; ``deviation`` ``(K, K)``, mean |w(y) - mean_y w| / mean |w| at offset y
    (0 everywhere = tied weights, exactly equivariant); ``asymmetry`` ``(K, K)``, the
    part of it that breaks C4 (distance to the rotation-orbit mean); and their means
    ``relative_deviation`` / ``relative_asymmetry``; ``irrep_energy``, the fractions of
    the weights' energy in the C4 irrep parts (trivial / sign / rotation). The maps are
    flipped to rows-up so a heatmap (row 0 at the bottom) shows offsets where they are in
    space; the models read kernels rows-down (e2cnn's convention). A model whose relaxed weights
    have no kernel offsets (RGroup: w_l(h) per group element) has ``deviation`` and ``asymmetry``
    None. Empty for models without relaxed weights.
    """
    inner = getattr(model, "model", model)  # unwrap core.train.rollout.Scaled
    summary_fn = getattr(inner, "relaxation_summary", None)
    if summary_fn is None:
        return []
    out = []
    for i, layer in enumerate(summary_fn()):
        maps = layer.get("deviation_map") is not None
        if not maps and not layer.get("irrep_energy"):
            continue
        out.append(
            {
                "name": f"layer {layer.get('layer', i)}",
                "deviation": np.asarray(layer["deviation_map"], dtype=float)[::-1].copy() if maps else None,
                "asymmetry": np.asarray(layer.get("asymmetry_map", layer["deviation_map"]), dtype=float)[
                    ::-1
                ].copy()
                if maps
                else None,
                "relative_deviation": float(layer.get("relative_deviation", np.nan)),
                "relative_asymmetry": float(layer.get("relative_asymmetry", np.nan)),
                "irrep_energy": {k: float(v) for k, v in (layer.get("irrep_energy") or {}).items()},
            }
        )
    return out


# ------------------------------------------------------------------ compare

SPLIT_NAMES = {"test-future": "test_future", "test-domain": "test_domain"}


def run_dataset_name(config: dict[str, Any]) -> str | None:
    """File name of the dataset a run (its run.json dict) was trained on, or None if it records none."""
    value = config.get("dataset")
    if isinstance(value, dict):
        value = value.get("path")
    return Path(value).name if isinstance(value, str) and value else None


def split_choices(run_ids: list[str]) -> dict[str, int]:
    """How many simulations each split offers for these runs: ``{"test-future": n, "test-domain": m}``.

    A split with 0 (e.g. test-domain of a dataset with one simulation per orientation,
    which holds none out) cannot be compared. Uploaded runs, which record no split,
    count every simulation.
    """
    from core.store.runs import find_run_dir, read_run

    out = {name: 0 for name in SPLIT_NAMES}
    for run_id in run_ids:
        info = read_run(*find_run_dir(run_id))
        split = info.config.get("split")
        n_all = ((info.config.get("dataset") or {}).get("config") or {}).get("sims", 1)
        for name, key in SPLIT_NAMES.items():
            if not isinstance(split, dict):
                n = int(n_all)
            else:
                n = len(split.get("domain_sims" if key == "test_domain" else "train_sims") or ())
            out[name] = max(out[name], n)
    return out


def compare_runs(
    run_ids: list[str], split: str, sim: int, orientation: int, steps: int = COMPARE_STEPS
) -> dict[str, Any]:
    """Roll out several runs from the same simulation and measure them side by side.

    ``split``: "test-future" or "test-domain"; ``sim``: index into that split's
    simulations; ``orientation``: 0..3. Rollouts come from core.train.evaluate.display_rollout
    on the first run's dataset; the first run's truth is the reference. Runs are named by
    :func:`run_titles`, as in the pickers (numbered where equal, shipped ones marked). Returns a dict:

    - ``truth``: ``(T, 2, N, N)`` true velocity for the T <= ``steps`` predicted frames;
    - ``predictions``: ``{label: (T, 2, N, N)}`` per run;
    - ``rmse``: ``{label: (T,)}`` root-mean-square error per step (velocity units), plus
      ``"persistence"``: the error of predicting "next frame = this frame";
    - ``equivariance``: ``{label: {k: error}}`` per group element (k quarter turns, 1..3),
      measured on the four orientations' initial frames;
    - ``table``: list of row dicts (run, model, RMSE, persistence RMSE, MAE, equivariance errors);
    - ``relaxation``: ``{label: [layer dicts]}`` for relaxed models;
    - ``models``: ``{label: registered model name}``, so a renamed run keeps its model's colour;
    - ``notes``: what could not be shown (e.g. a run that does not fit the dataset);
    - ``steps``: T; ``dataset``: the file name used.
    Raises ValueError for a bad split/orientation, FileNotFoundError if no run names a dataset.
    """
    from core.data import load_dataset
    from core.train.checkpoints import load_run

    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {sorted(SPLIT_NAMES)}, got {split!r}")
    if orientation not in (0, 1, 2, 3):
        raise ValueError(f"orientation must be 0, 1, 2 or 3, got {orientation!r}")
    loaded = [load_run(r) for r in run_ids]
    source = next(((lr, p) for lr in loaded if (p := _dataset_file(lr.info))), None)
    if source is None:
        raise FileNotFoundError("none of the chosen runs names a dataset that exists here")
    first, ds_path = source
    dataset = load_dataset(ds_path)
    labels = {
        lr.info.id: t
        for lr, t in zip(loaded, run_titles([lr.info for lr in loaded]), strict=True)  # as in the pickers
    }
    out: dict[str, Any] = {"truth": None, "notes": [], "predictions": {}, "rmse": {}}
    out.update(equivariance={}, relaxation={}, table=[], models={}, dataset=ds_path.name)
    for lr in [first] + [x for x in loaded if x is not first]:
        _compare_one(out, lr, labels[lr.info.id], dataset, (SPLIT_NAMES[split], int(sim), orientation, steps))
    if out["truth"] is None:
        raise ValueError("; ".join(out["notes"]) or "no run could be rolled out")
    out["steps"] = int(out["truth"].shape[0])
    return out


def _compare_one(out: dict[str, Any], lr: Any, label: str, dataset: Any, choice: tuple) -> None:
    """Roll out one loaded run for :func:`compare_runs` and add its results (or a note) to ``out``."""
    import torch

    from core.symmetry import model_equivariance_error
    from core.train.evaluate import display_rollout
    from core.train.samples import frames_for

    key, sim, orientation, steps = choice
    split = next(name for name, k in SPLIT_NAMES.items() if k == key)
    frames = frames_for(lr.model.config, dataset)  # (4, S, T, C, N, N): velocity, and smoke if it sees it
    try:
        sims = _split_sims(lr, frames, key)
        if not sims:
            raise ValueError(f"{split} holds no simulations for this run's dataset")
        shown = sims[min(max(sim, 0), len(sims) - 1)]
        # an uploaded run records no split: roll its bare model out from frame 0
        target = lr if "split" in lr.info.config else lr.model
        d = display_rollout(target, frames, key, shown, orientation, steps)
    except (ValueError, KeyError) as exc:
        out["notes"].append(f"{label}: not shown ({exc})")
        return
    truth = out["truth"]
    f = lr.model.config.input_frames
    if truth is None:
        truth = out["truth"] = d.truth
        if sim >= len(sims):
            out["notes"].append(f"{split} has {len(sims)} simulation(s); showing the last of them.")
        last = frames[orientation, d.simulation, d.start + f - 1, :2]  # persistence: repeat the last input
        out["rmse"]["persistence (next = this frame)"] = np.sqrt(
            ((truth - last[None]) ** 2).mean(axis=(1, 2, 3))
        )
        out["persistence"] = float(np.sqrt(((truth - last[None]) ** 2).mean()))
    elif d.truth.shape != truth.shape or not np.array_equal(d.truth, truth):
        out["notes"].append(f"{label}: not shown (its split or input frames start the rollout elsewhere)")
        return
    window = torch.as_tensor(frames[:, d.simulation, d.start : d.start + f])  # (4, F, C, N, N)
    channels = window.shape[2]
    ee = model_equivariance_error(lr.model, window.reshape(4, channels * f, *window.shape[-2:]), channels)
    err = d.prediction - truth
    out["predictions"][label] = d.prediction
    out["rmse"][label] = np.sqrt((err**2).mean(axis=(1, 2, 3)))
    out["equivariance"][label] = ee.per_element
    out["relaxation"][label] = relaxation_maps(lr.model)
    out["models"][label] = lr.info.model_name
    out["table"].append(
        {
            "run": label,
            "RMSE": float(f"{np.sqrt((err**2).mean()):.3g}"),
            "persistence RMSE": float(f"{out['persistence']:.3g}"),
            "MAE": float(f"{np.abs(err).mean():.3g}"),
            "equivariance error": float(f"{ee.mean:.3g}"),
            "relative equivariance error": float(f"{ee.relative_mean:.3g}"),
            "id": lr.info.id,
        }
    )


def equivariance_by_frame(run_ids: list[str], use_stored: bool = True) -> dict[str, Any]:
    """Where along the simulation each run breaks symmetry, beside the data (Figure 4 by frame).

    For every run with a checkpoint and its dataset here: what its evaluation stored in
    metrics.json (``use_stored`` and present), else core.symmetry.equivariance_by_frame on the
    dataset's matched states, measured now. Returns a dict:

    - ``runs``: list of ``{"label", "model", "frames" (T',), "ee" (T',), "data" (T',) or None,
      "dataset", "level"}`` (EE in velocity units; ``frames`` is the newest input frame t,
      predicting t + 1);
    - ``regions``: ``[(name, first t, last t)]``: the frames whose target is in the runs'
      training block, validation block and test-future; empty (with a note) when the runs'
      splits differ, and for uploaded runs, which record no split;
    - ``notes``: runs that could not be measured, and held-out simulations among the states.
    """
    from core.data import load_dataset
    from core.names import run_label
    from core.symmetry import EE_SIMULATIONS
    from core.symmetry import equivariance_by_frame as by_frame
    from core.train.checkpoints import load_run
    from core.train.evaluate import splits_of_run
    from core.train.samples import frames_for

    out: dict[str, Any] = {"runs": [], "regions": [], "notes": []}
    loaded = []
    for run_id in run_ids:
        try:
            lr = load_run(run_id)
        except (OSError, ValueError) as exc:
            out["notes"].append(f"{run_id}: not measured ({exc})")
            continue
        dataset = _dataset_file(lr.info)
        if dataset is None:
            out["notes"].append(f"{run_label(lr.info.config)}: not measured (its dataset is not here)")
            continue
        loaded.append((lr, dataset))
    labels = run_titles([lr.info for lr, _ in loaded])  # as in the pickers: shipped ones marked
    splits_seen: list = []
    for (lr, dataset), label in zip(loaded, labels, strict=True):
        stored = _stored_by_frame(lr.info) if use_stored else None
        if stored is None:
            ds = load_dataset(dataset)
            frames = frames_for(lr.model.config, ds)
            m = by_frame(lr.model.eval(), frames, ds.data_ee_one_step, lr.model.config.input_frames)
            stored = {"frames": m.frames, "ee": m.model, "data": m.data}
        config = (lr.info.config.get("dataset") or {}).get("config") or {}
        out["runs"].append(
            {
                "label": label,
                "model": lr.info.model_name,
                **stored,
                "dataset": dataset.name,
                "level": config.get("buoyancy_diff"),
            }
        )
        if "split" in lr.info.config:
            sp = splits_of_run(lr.info)
            splits_seen.append(sp.frame_regions())
            held = sorted(set(sp.domain_sims) & set(range(EE_SIMULATIONS)))
            if held:
                out["notes"].append(
                    f"{label}: simulation(s) {held} of the measured states are held out for "
                    "test-domain, so some states at every frame are unseen."
                )
    if splits_seen and all(r == splits_seen[0] for r in splits_seen):
        out["regions"] = splits_seen[0]
    elif splits_seen:
        out["notes"].append(
            "The runs' training, validation and test-future frames differ (different datasets or "
            "settings), so none are shaded: pick runs of one dataset to see them."
        )
    _note_symmetric_data(out)
    return out


def _stored_by_frame(info) -> dict[str, Any] | None:
    """A run's frame-by-frame EE as its evaluation stored it in metrics.json (arrays), or None."""
    path = info.paths.get("metrics")
    try:
        record = json.loads(Path(path).read_text()).get("equivariance_by_frame") if path else None
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(record, dict) or not record.get("model") or not record.get("data"):
        return None
    return {
        "frames": np.asarray(record["frames"], dtype=int),
        "ee": np.asarray(record["model"], dtype=float),
        "data": np.asarray(record["data"], dtype=float),
    }


def _dataset_file(info) -> Path | None:
    """The dataset file a run was trained on, or None (uploaded runs record none)."""
    from core.store.runs import dataset_path_of

    try:
        return dataset_path_of(info)
    except FileNotFoundError:
        return None


def _split_sims(loaded: Any, frames: np.ndarray, key: str) -> tuple[int, ...]:
    """Simulations of split ``key`` as recorded by a run (all of them for an uploaded run)."""
    from core.train.evaluate import splits_of_run

    if "split" not in loaded.info.config:
        return tuple(range(frames.shape[1]))
    return splits_of_run(loaded.info).sims_of(key)


def import_checkpoint(name: str, data: bytes) -> str:
    """Store an uploaded checkpoint as a new run in the data dir; return its run id.

    ``name`` is the browser's file name: only its last part is kept, and it must pass
    ``check_name``. The bytes are read weights-only and rebuilt into their model first
    (raising core.store.runs.CheckpointError for a bad file), so nothing is written for a
    rejected upload.
    """
    from core.store.paths import check_name
    from core.store.runs import new_run_dir, save_payload, write_run_json
    from core.train.checkpoints import load_checkpoint_file

    name = check_name(Path(str(name)).name, "uploaded file name")
    _model, payload = load_checkpoint_file(bytes(data), name=f"uploaded file {name!r}")
    run_id, run_dir = new_run_dir("upload")
    cfg = payload["model_config"]
    try:
        save_payload(run_dir / "checkpoint.pt", payload)
        write_run_json(
            run_dir, {"status": "done", "model_config": cfg, "source": "upload", "uploaded_name": name}
        )
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # the folder is ours and new: leave no half run
        raise
    return run_id


def list_runs() -> list:
    """Every run (data dir first, then shipped), as core.store.runs.RunInfo, newest first;
    damaged ones included (``damaged`` = ``"damaged: <file>: <reason>"``, status "damaged")."""
    from core.store.runs import list_runs as _list

    return _list()


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


def _job_statuses() -> dict[str, str]:
    """Status of every registered job by id ({} if the registry cannot be read)."""
    try:
        from core.service import actions

        return {j.id: j.status for j in actions.list_jobs(500)}
    except Exception:  # no registry yet, or locked: runs still list from their folders
        return {}


def run_status(run: Any, jobs: dict[str, str] | None = None) -> str:
    """A run's status as it is now: run.json's, unless that says "running" while the job that
    wrote it has ended (cancelled, failed, killed), in which case the job's status."""
    status = str(run.status)
    if status == "running" and not run.shipped:
        job_status = (jobs if jobs is not None else _job_statuses()).get(str(run.config.get("job_id")))
        if job_status is not None and job_status not in ("running", "queued"):
            return "cancelled" if job_status == "done" else job_status
    return status


def best_val_loss(run: Any) -> float | None:
    """The run's best validation loss: metrics.json's, else the lowest in its history so far."""
    value = (run.metrics or {}).get("best_val_loss")
    if value is None:
        values = [h["val_loss"] for h in run.history if isinstance(h, dict) and h.get("val_loss") is not None]
        value = min(values) if values else None
    return None if value is None else float(f"{float(value):.3g}")


def run_titles(runs: list) -> list[str]:
    """Names of ``runs`` for select boxes: run_label, numbered where equal, shipped ones marked;
    a damaged run (its ``damaged`` set) is marked "(damaged)", named by its id when its run.json
    cannot be read."""
    from core.names import run_label, shipped_suffix, unique_labels

    def title(run: Any) -> str:
        text = run_label(run.config) if run.config else run.id
        return f"{text} (damaged)" if run.damaged else text

    return unique_labels([shipped_suffix(title(r), r.shipped) for r in runs])


def compare_defaults(runs: list) -> list[str]:
    """The titles (:func:`run_titles`) Compare first shows of ``runs`` (one dataset's, newest
    first): the newest of the user's own runs beside the shipped ones, so a lesson's own model
    meets the three reference models; without shipped runs, the three newest. Finished runs
    come before stopped ones. At most four."""
    named = list(zip(runs, run_titles(runs), strict=True))
    shipped = [t for r, t in named if r.shipped]
    # Finished runs first (a stable sort keeps newest first): a half-trained run is a poor first look.
    own = [t for r, t in sorted(named, key=lambda rt: rt[0].status != "done") if not r.shipped]
    return (own[:1] + shipped)[:4] if shipped else own[:3]


def persistence_mark(metrics: dict[str, Any] | None) -> str:
    """A run's place against persistence for the runs table: "worse than persistence:
    test-future" (the splits core.train.evaluate.worse_than_persistence names), "beats
    persistence", or '' when it has no test metrics."""
    from core.train.evaluate import WORSE_THAN_PERSISTENCE, worse_than_persistence

    worse = worse_than_persistence(metrics)
    if worse:
        return f"{WORSE_THAN_PERSISTENCE}: {', '.join(s.replace('_', '-') for s in worse)}"
    has_tests = any(isinstance((metrics or {}).get(s), dict) for s in ("test_future", "test_domain"))
    return "beats persistence" if has_tests else ""


def run_warning(run: Any) -> str:
    """The run's "worse than persistence" line (core.train.evaluate.persistence_warning), '' if none."""
    from core.train.evaluate import persistence_warning

    return persistence_warning(run.metrics)


def job_warning(job: Any) -> str:
    """For a finished training job whose run is worse than persistence, that run's warning line
    (:func:`run_warning`); '' otherwise, or when the run cannot be read."""
    from core.jobs.runner import job_run_id
    from core.store.runs import find_run_dir, read_run

    run_id = job_run_id(job) if job.kind in ("train", "resume") and job.finished_state else None
    if not run_id:
        return ""
    try:
        return run_warning(read_run(*find_run_dir(run_id)))
    except (OSError, ValueError):
        return ""


def run_rows(runs: list) -> list[dict[str, Any]]:
    """Table rows for the runs list: name, model, dataset, status, against persistence
    (:func:`persistence_mark`), device, epochs, best validation loss."""
    from core.models.registry import model_label

    jobs = _job_statuses()
    here = {e.name: e.label for e in dataset_entries()}
    rows = []
    for r, title in zip(runs, run_titles(runs), strict=True):
        rows.append(
            {
                "run": title,
                "model": model_label(r.model_name or "?"),
                "status": r.damaged or run_status(r, jobs),
                "vs persistence": persistence_mark(r.metrics),
                "dataset": _run_dataset_title(r.config, here),
                "epochs run": len(r.history),
                "best val loss": best_val_loss(r),
                "device": str(r.config.get("device", "")),
                "id": r.id,
            }
        )
    return rows


def _run_dataset_title(config: dict[str, Any], here: dict[str, str]) -> str:
    """The name of the dataset a run was trained on as the Data page shows it now (renames
    included), ``"… (deleted)"`` when its file is gone, '' for a run that records none."""
    from core.names import data_config_label

    name = run_dataset_name(config)
    if name in here:
        return here[name]
    stored = (config.get("dataset") or {}).get("config")
    return f"{data_config_label(stored)} (deleted)" if stored and name else ""


def run_metric_rows(run: Any) -> list[dict[str, Any]]:
    """A run's metrics.json as readable rows (what, value, persistence where recorded).

    Accuracy rows carry the persistence baseline ("next frame = this frame") beside them
    when the run recorded it; numbers have 3 significant digits.
    """
    from core.names import significant

    m = run.metrics or {}
    rows: list[dict[str, Any]] = []
    for key, title in (
        ("test_future", f"rollout RMSE, {split_title('future')}"),
        ("test_domain", f"rollout RMSE, {split_title('domain')}"),
    ):
        part = m.get(key)
        if isinstance(part, dict) and part.get("rmse") is not None:
            rows.append(
                {
                    "what": title,
                    "value": significant(part["rmse"]),
                    "persistence": significant(part.get("persistence_rmse")),
                }
            )
    ee = m.get("equivariance_error") if isinstance(m.get("equivariance_error"), dict) else {}
    simple = (
        ("best validation loss", m.get("best_val_loss")),
        ("best epoch", m.get("best_epoch")),
        ("epochs run", m.get("epochs_run")),
        ("model equivariance error", ee.get("mean")),
        ("relative model equivariance error", ee.get("relative_mean")),
        ("data equivariance error", m.get("data_equivariance_error")),
    )
    rows += [
        {"what": what, "value": significant(v), "persistence": ""} for what, v in simple if v is not None
    ]
    return rows


def run_metrics_csv(run: Any) -> bytes:
    """The run's scalar metrics (nested keys joined by '.') as a two-column CSV, led by rows
    that say which run it is (name, id, model, dataset), so the file describes itself."""
    from core.names import run_label

    here = {e.name: e.label for e in dataset_entries()}
    flat: list[dict[str, Any]] = [
        {"metric": "run", "value": run_label(run.config)},
        {"metric": "run_id", "value": run.id},
        {"metric": "model", "value": run.model_name or ""},
        {"metric": "dataset", "value": _run_dataset_title(run.config, here)},
    ]

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(f"{prefix}.{i}", v)
        else:
            flat.append({"metric": prefix, "value": value})

    walk("", run.metrics or {})
    return _csv(flat)


def download_name(title: str, suffix: str) -> str:
    """The file name a download of the item called ``title`` gets, e.g. ``"RSteer-32-ch_30-ep.pt"``."""
    from core.names import file_stem

    return f"{file_stem(title)}{suffix}"


def run_file(run_id: str, role: str = "checkpoint") -> bytes:
    """The bytes of a run's file (``role``: "checkpoint" or "history"), for a download button."""
    from core.store.runs import find_run_dir

    names = {"checkpoint": "checkpoint.pt", "history": "history.json"}
    if role not in names:
        raise ValueError(f"role must be one of {sorted(names)}, got {role!r}")
    run_dir, _ = find_run_dir(run_id)
    return (run_dir / names[role]).read_bytes()


def loss_overlay(runs: list, which: str = "validation") -> dict[str, list[float]]:
    """``{run title: losses per epoch}`` of several runs (``which``: "train" or "validation")."""
    out = {}
    for run, title in zip(runs, run_titles(runs), strict=True):
        series = history_series(run.history).get(which)
        if series:
            out[title] = series
    return out


def run_model_summary(run_id: str) -> dict[str, Any]:
    """Rebuild a run's model from its checkpoint (weights only); return its name, parameter count, config."""
    from core.store.paths import check_name
    from core.train.checkpoints import load_run

    loaded = load_run(check_name(run_id, "run id"))
    return {
        "model": loaded.info.model_name,
        "parameters": int(sum(p.numel() for p in loaded.model.parameters())),
        "config": loaded.info.config.get("model_config"),
    }


# ------------------------------------------------------------ rename, delete

ITEM_KINDS = ("dataset", "run", "sweep")


def _own_item(kind: str, item_id: str) -> Path:
    """The data-directory path of a dataset file, run folder or sweep folder named ``item_id``.

    Only names that pass core.store.paths.check_name and lie inside the data directory are
    accepted; shipped items (assets/) are never returned, so they cannot be changed. A dataset
    listed through a link to a file elsewhere returns the link itself (not resolved), so
    nothing outside the data directory is renamed or deleted.
    Raises ValueError for a bad kind or name, FileNotFoundError if the item is not one of ours.
    """
    from core.store.paths import check_name, inside

    if kind not in ITEM_KINDS:
        raise ValueError(f"kind must be one of {ITEM_KINDS}, got {kind!r}")
    sub = {"dataset": DATASETS, "run": "runs", "sweep": "sweeps"}[kind]
    link = data_dir() / sub / check_name(item_id, f"{kind} id")
    if kind == "dataset" and link.is_symlink():
        return link  # a file written elsewhere, listed by its link: the link is the item, never the file
    path = inside(data_dir() / sub, item_id)
    if not path.exists():
        shipped = (assets_dir() / sub / item_id).exists()
        why = "it is shipped with the project and read-only" if shipped else "there is no such item"
        raise FileNotFoundError(f"cannot change {kind} {item_id!r}: {why}")
    return path


def rename_item(kind: str, item_id: str, label: str) -> str:
    """Give a dataset, run or sweep of the data directory a label a person reads; return it.

    The label (one printable line, at most names.LABEL_LIMIT characters; '' goes back to the
    name derived from the config) is stored as ``label`` in run.json / results.json, or in
    ``datasets/labels.json`` for datasets. Shipped items raise FileNotFoundError; a name that
    is too long, ends in "(shipped)" or is another item's of the same kind raises ValueError.
    """
    from core.names import clean_label
    from core.store.atomic import write_json

    path = _own_item(kind, item_id)
    text = clean_label(label)
    if text:
        _check_new_label(kind, item_id, text)
    if kind == "dataset":
        labels = _dataset_labels(path.parent)
        labels.pop(item_id, None)
        target, record = path.parent / LABELS_FILE, {**labels, **({item_id: text} if text else {})}
    else:
        target = path / ("run.json" if kind == "run" else "results.json")
        record = json.loads(target.read_text())
        record.pop("label", None)
        record.update({"label": text} if text else {})
    write_json(target, record)
    return text


def _check_new_label(kind: str, item_id: str, text: str) -> None:
    """Raise ValueError, in the rename form's words, for a name a person should not give."""
    from core.names import LABEL_LIMIT, shipped_suffix

    if len(text) > LABEL_LIMIT:
        raise ValueError(f"New name: at most {LABEL_LIMIT} characters, got {len(text)}")
    if text.casefold().endswith("(shipped)"):
        raise ValueError('New name: "(shipped)" marks what came with the project; choose another name')
    if kind == "run":
        runs = list_runs()
        named = zip([(r.id, r.shipped) for r in runs], run_titles(runs), strict=True)
    else:
        entries = dataset_entries() if kind == "dataset" else sweep_entries()
        named = (((e.name, e.shipped), shipped_suffix(e.label, e.shipped)) for e in entries)
    wanted = text.casefold()
    for (name, shipped), title in named:
        if name == item_id and not shipped:
            continue  # the item itself (a shipped one may carry the same id)
        # A shipped item's name without its mark counts too: the two would read the same.
        if wanted in (title.casefold(), title.removesuffix(" (shipped)").casefold()):
            raise ValueError(f'New name: another {kind} is already called "{title}"')


def _in_use(kind: str, item_id: str) -> str | None:
    """Why an item cannot be deleted now (a queued or running job uses it), or None."""
    from core.service import actions

    for job in actions.list_jobs(500):
        if job.finished_state:
            continue
        result, params = job.result or {}, job.params or {}
        uses = {
            "run": item_id in (job.run_id, result.get("run_id"), params.get("run_id")),
            "sweep": item_id == result.get("sweep_id"),
            "dataset": Path(str(params.get("data_path", ""))).name == item_id,
        }[kind]
        if uses:
            return f"{job_title(job)} is still {job.status}; cancel it or wait for it to end"
    return None


def delete_item(kind: str, item_id: str) -> None:
    """Delete a dataset file, run folder or sweep folder of the data directory.

    Shipped items raise FileNotFoundError; an item a running or queued job uses, or a run a
    live process trains (core.store.ownership), raises ValueError saying which. Runs trained
    on a deleted dataset keep their weights. A dataset listed through a link to a file outside
    the data directory (``python -m core.data --out PATH``) loses its link; the file stays.
    """
    from core.store.ownership import owner_note

    path = _own_item(kind, item_id)
    busy = _in_use(kind, item_id) or (kind == "run" and owner_note(path))
    if busy:
        raise ValueError(f"It is in use: {busy}")
    if kind == "dataset":
        path.unlink()
        labels = _dataset_labels(path.parent)
        if labels.pop(item_id, None) is not None:
            from core.store.atomic import write_json

            write_json(path.parent / LABELS_FILE, labels)
    else:
        shutil.rmtree(path)


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


def runs_using_dataset(name: str) -> int:
    """How many runs (data directory and shipped) were trained on the dataset file ``name``."""
    return sum(1 for r in list_runs() if run_dataset_name(r.config) == name)


# ---------------------------------------------------------------------- jobs

LOG_TAIL_BYTES = 20_000


def job_title(job: Any) -> str:
    """What a job does, in words (core.jobs.kinds title), e.g. "train RSteer 32 ch · 30 ep · Δb 0.3"
    (a training is named as its run will be, with its dataset's Δb)."""
    from core.jobs.kinds import KINDS

    params = job.params or {}
    if job.kind == "train" and isinstance(params.get("model_config"), dict):
        from core.names import run_label

        data = dataset_config_of(str(params.get("data_path", "")))
        record = {
            "model_config": params["model_config"],
            "train_config": params.get("train_config") or {},
            "dataset": {"config": data} if data else {},
        }
        return f"train {run_label(record)}"
    if job.kind == "resume":
        from core.names import run_label
        from core.store.runs import find_run_dir, read_run

        try:
            return f"resume {run_label(read_run(*find_run_dir(str(job.params.get('run_id')))).config)}"
        except (OSError, ValueError):
            pass
    try:
        return str(KINDS[job.kind].title(job.params or {}))
    except Exception:  # an old or unknown kind: its name still says something
        return str(job.kind)


def job_times(job: Any, now: float | None = None) -> tuple[float | None, float | None]:
    """``(elapsed, remaining)`` seconds of a job; remaining is a linear estimate from its
    progress while it runs (None before any progress, when queued, once finished, or once the
    estimate has run out).

    The rate is taken when the progress was last recorded (``job.progressed``), and the time
    since then is counted down: measured from now, the estimate grew between two updates.
    """
    import time

    if not job.started:
        return None, None
    now = now or time.time()
    end = job.finished if job.finished_state and job.finished else now
    elapsed = max(0.0, float(end) - float(job.started))
    frac = float(job.fraction or 0.0)
    if job.finished_state or not 0.01 <= frac < 1.0:
        return elapsed, None
    progressed = getattr(job, "progressed", None)
    at = min(max(float(progressed), float(job.started)), now) if progressed else now
    remaining = (at - float(job.started)) * (1.0 - frac) / frac - (now - at)
    return elapsed, remaining if remaining > 0 else None


def duration_text(seconds: float | None) -> str:
    """``"42 s"``, ``"3 min 5 s"``, ``"1 h 02 min"``; '' for None."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def job_log_tail(job: Any, max_bytes: int = LOG_TAIL_BYTES) -> str:
    """The last ``max_bytes`` of a job's log file ('' if it has none yet).

    The path comes from the registry; it is read only if it lies inside the data
    directory's ``logs`` folder (ValueError otherwise).
    """
    if not job.log_path:
        return ""
    logs = (data_dir() / "logs").resolve()
    path = Path(job.log_path).resolve()
    if logs not in path.parents:
        raise ValueError(f"log path {job.log_path!r} is outside {logs}")
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return text if size <= max_bytes else "…" + text[text.find("\n") + 1 :]


def can_resume(job: Any) -> bool:
    """True for a stopped (interrupted or cancelled) training job whose run can continue now:
    core.jobs.runner.resume_refusal finds nothing against it (no job already trains it, it
    has not since finished)."""
    from core.jobs.runner import job_run_id, resume_refusal
    from core.service.actions import runner

    if job.kind not in ("train", "resume") or job.status not in ("interrupted", "cancelled"):
        return False
    run_id = job_run_id(job)
    return bool(run_id) and resume_refusal(runner().registry, run_id) is None


def job_made(job: Any) -> str:
    """What a finished job produced, named for a person ('' if nothing yet)."""
    from core.names import run_label, sweep_label

    result = job.result or {}
    try:
        if result.get("sweep_id"):
            record = json.loads((data_dir() / "sweeps" / result["sweep_id"] / "results.json").read_text())
            return sweep_label(record)
        run_id = result.get("run_id") or job.run_id
        if run_id:
            from core.store.runs import find_run_dir, read_run

            return run_label(read_run(*find_run_dir(str(run_id))).config)
        if result.get("dataset_path"):
            return dataset_title(Path(result["dataset_path"]).name)
    except (OSError, ValueError):
        return ""
    return ""


def shown_status(job) -> str:
    """The job's status as a person reads it: ``"waiting"`` for one queued (for its worker to
    start or for a free compute slot), ``"waiting for a free <slot> slot"`` once its worker says
    so, else the stored status."""
    from core.jobs.worker import WAITING_MESSAGE

    if job.status != "queued":
        return job.status
    message = str(job.message or "")
    return message if message.startswith(WAITING_MESSAGE) else "waiting"


def job_message(job) -> str:
    """The job's latest message while it is live, '' when :func:`shown_status` already says it."""
    message = str(job.message or "")
    return "" if job.finished_state or message == shown_status(job) else message


def job_rows(jobs: list) -> list[dict[str, Any]]:
    """Table rows for the jobs list: what, status, progress, made, device, time, error, id."""
    rows = []
    for job in jobs:
        elapsed, _ = job_times(job)
        rows.append(
            {
                "job": job_title(job),
                "status": shown_status(job),
                "progress": float(job.fraction or 0.0),
                "made": job_made(job),
                "device": job.device or "",
                "time": duration_text(elapsed),
                "message": (job.error or job.message or "").strip().splitlines()[-1][:200]
                if (job.error or job.message)
                else "",
                "id": job.id,
            }
        )
    return rows


def parse_levels(text: str, low: float = 0.0, high: float = 1.0) -> list[float]:
    """Buoyancy differences from a comma-separated text, each checked to lie in [low, high].

    The range is the Data page's slider (0..1). ValueError names a bad or out-of-range value.
    """
    levels = []
    for part in str(text).replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"Buoyancy differences: {part.strip()!r} is not a number") from None
        if not low <= value <= high:
            raise ValueError(
                f"Buoyancy differences: {value:g} is outside {low:g}..{high:g} (the Data page's range)"
            )
        levels.append(value)
    if not levels:
        raise ValueError("Buoyancy differences: give at least one, e.g. 0, 0.2, 0.4")
    return levels
