"""Sweeps: list them (:class:`SweepEntry`), read one into Figure 4's curves, its per-frame
errors and its accuracy table, its CSV; the sweep form (hints, ranges, levels) and starting or
resuming a sweep job. The accuracy ratios and their sentences are in sweep_ratios."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.service import queue
from core.service.common import Entry, check_ranges, csv_bytes, in_form_words, note_symmetric_data
from core.store.paths import check_name


@dataclass(frozen=True)
class SweepEntry(Entry):
    """A listed sweep (:func:`sweep_entries`): an :class:`~core.service.common.Entry` with its
    ``status`` (running, done, cancelled, failed, interrupted, damaged) and config ``preset``."""

    status: str = ""
    preset: str = ""

    @property
    def resume_refusal(self) -> str | None:
        """Why this sweep cannot be continued now (:func:`sweep_resume_refusal`; shipped and
        damaged sweeps never can), or None when a Resume button may be offered."""
        if self.shipped:
            return "shipped sweeps are read-only"
        return self.damaged or sweep_resume_refusal(self.name)


def sweep_entries() -> list[SweepEntry]:
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
        SweepEntry(
            Path(r["path"]).name,
            Path(r["path"]),
            bool(r["shipped"]),
            t,
            str(r.get("damaged") or ""),
            status=str(r.get("status") or ""),
            preset=_preset_of(r),
        )
        for r, t in zip(records, unique_labels(named), strict=True)
    ]


#: Sweep presets drawn on pages of their own (the landing lesson, the Table 1 page), not as Figure 4.
SPECIAL_SWEEP_PRESETS = ("patterns", "table1")


def _preset_of(record: dict[str, Any]) -> str:
    config = record.get("config")
    return str(config.get("preset") or "") if isinstance(config, dict) else ""


def _is_special_sweep(record: dict[str, Any]) -> bool:
    return _preset_of(record) in SPECIAL_SWEEP_PRESETS


def read_sweep(folder: str | Path) -> list[dict[str, Any]]:
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
    rows = read_sweep(folder)
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
        r for r in read_sweep(folder) if _x_of(r, axis) is not None and r.get("model_ee_mean") is not None
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
    levels = {float(r["level"]) for r in read_sweep(folder) if r.get("ee_by_frame") and "level" in r}
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

    rows = [r for r in read_sweep(folder) if frame_split_ratios(r) is not None]
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
    rows = [r for r in read_sweep(folder) if r.get("ee_by_frame")]
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
    note_symmetric_data(out)
    return out


def _accuracy_columns() -> dict[str, tuple[str, str]]:
    """{row key of :func:`sweep_accuracy`: (short header, what it holds)}: short headers so that
    the table fits a 1024-px projector."""
    from core.sweep.aggregate import split_title

    out = {"Δb": ("Δb", "The buoyancy difference of the dataset."), "model": ("model", "The model.")}
    out["seed"] = ("seed", "The training seed.")
    for key, short in (("future", "later"), ("domain", "unseen")):
        title = split_title(key)
        out[f"RMSE {title}"] = (f"RMSE {short}", f"{title}: the model's rollout RMSE.")
        out[f"persistence {title}"] = (f"persist. {short}", f"{title}: persistence's RMSE.")
    return out


def sweep_accuracy_columns(rows: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """The columns of ``rows`` (from :func:`sweep_accuracy`) in table order, each with its short
    header and what it holds (:func:`_accuracy_columns`); the seed only where it varies."""
    present = {key for row in rows for key in row}
    if len({row.get("seed") for row in rows}) < 2:
        present.discard("seed")
    return {key: value for key, value in _accuracy_columns().items() if key in present}


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
    for row in read_sweep(folder):
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


def sweep_csv(folder: str | Path) -> bytes:
    """The sweep's results as CSV: its results.csv if written, else built from results.json."""
    folder = Path(folder)
    if (folder / "results.csv").is_file():
        return (folder / "results.csv").read_bytes()
    return csv_bytes(read_sweep(folder))


#: What the Figure-4 page's sweep form calls each SweepConfig field it sets.
SWEEP_FORM_LABELS = {
    "levels": "Buoyancy differences",
    "models": "Models",
    "epochs": "Epochs",
    "grid": "Grid",
    "frames": "Frames per simulation",
    "preset": "Preset",
    "relaxed_hold": "RSteer symmetric start",
    "seeds": "Training seeds",
    "patterns": "Breaking patterns",
}


#: A sweep's frames have no lower bound here: the SweepConfig says the exact minimum its models need.
#: Seeds: 1 to core.sweep.config.MAX_SEEDS.
SWEEP_FORM_RANGES = {"epochs": (1, 200), "frames": (2, 200), "relaxed_hold": (0, 199), "seeds": (1, 10)}


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


def submit_sweep(engine: str = "local", address: str | None = None, **settings: Any) -> str:
    """Start a background Figure-4 sweep (core.sweep.SweepConfig fields); return its job id.

    ``engine``: 'local' (this machine, one training after another) or 'ray' (each training a
    Ray task; ``address`` a cluster, None a local Ray).
    """
    from core.sweep import SweepConfig

    if "models" in settings and not settings["models"]:
        raise ValueError("Models: pick at least one model")  # the Train form's words
    if "patterns" in settings and not settings["patterns"]:
        raise ValueError("Breaking patterns: pick at least one pattern")
    flat = {**(settings.get("data") or {}), **(settings.get("train") or {}), "seeds": settings.get("seeds")}
    check_ranges(flat, SWEEP_FORM_RANGES, SWEEP_FORM_LABELS)
    try:
        sweep_config = SweepConfig(**settings)
    except ValueError as exc:
        raise ValueError(in_form_words(str(exc), SWEEP_FORM_LABELS)) from exc
    params: dict[str, Any] = {"sweep_config": sweep_config.to_dict(), "engine": engine}
    if address:
        params["address"] = address
    return queue.submit("sweep", params)


def sweep_resume_refusal(sweep_id: str) -> str | None:
    """Why sweep ``sweep_id`` cannot be continued now (finished, still running, shipped), or None
    when a Resume button may be offered (core.sweep.results.resume_refusal)."""
    from core.sweep.results import resume_refusal

    return resume_refusal(sweep_id)


def resume_sweep(sweep_id: str) -> str:
    """Queue the continuation of a stopped sweep (interrupted, cancelled, failed) as a 'sweep'
    job: its finished (level, model) rows are kept, the others trained with its own settings, on
    the engine it last ran on. Return the job's id; ValueError says why it cannot."""
    from core.sweep.results import read_record, sweep_folder

    reason = sweep_resume_refusal(check_name(sweep_id, "sweep id"))
    if reason:
        raise ValueError(f"Cannot resume: {reason}")
    record = read_record(sweep_folder(sweep_id))
    params: dict[str, Any] = {"resume": sweep_id, "sweep_config": record.get("config") or {}}
    params["engine"] = "ray" if record.get("engine") == "ray" else "local"
    if params["engine"] == "ray" and record.get("address"):
        params["address"] = record["address"]
    return queue.submit("sweep", params)
