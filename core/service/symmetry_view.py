"""Which symmetry is left: what the pages show about breaking patterns, the EE per rotation of the
data and of the models, and the residual symmetry each keeps, named by core.symmetry's rule.

Streamlit-free; dashboard/cache.py caches these reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: What a page calls each core.data.config.BREAKING_PATTERNS value.
PATTERN_WORDS = {
    "all": "all rotations broken",
    "half_turn": "half-turn kept",
    "one_plume": "one plume differs",
}
#: A per-rotation mapping's keys, as metrics.json and the sweep rows write them.
ELEMENT_KEYS = ("90", "180", "270")


def pattern_options() -> list[str]:
    """The breaking patterns a dataset can be made with (core.data.config.BREAKING_PATTERNS), in order."""
    from core.data.config import BREAKING_PATTERNS

    return list(BREAKING_PATTERNS)


def pattern_words(breaking: str) -> str:
    """The words for a breaking pattern, e.g. "half-turn kept" (the value itself if unknown)."""
    return PATTERN_WORDS.get(breaking, str(breaking))


def strength_factors(buoyancy_diff: float, breaking: str) -> tuple[float, float, float, float]:
    """Each plume's buoyancy over the base, b_k / b, for a dial value and a pattern
    (core.data.DataConfig.strength_factors). ValueError names a bad pattern or dial."""
    from core.data import DataConfig

    return DataConfig(buoyancy_diff=float(buoyancy_diff), breaking=breaking).strength_factors()


def threshold_text() -> str:
    """The naming rule in words, with its documented thresholds (core.symmetry)."""
    from core.symmetry import EXACT_SYMMETRY_RELATIVE, KEPT_ELEMENT_FRACTION

    return (
        f"How the symmetry left is named: if every rotation's EE is at most {EXACT_SYMMETRY_RELATIVE:g} "
        "of the field's size (for data: its mean |velocity change| per step; for a model: its mean "
        "|output|), all rotations are kept; otherwise a rotation whose EE is at most "
        f"{KEPT_ELEMENT_FRACTION:.0%} of the largest rotation's counts as kept (the half-turn kept "
        "means C2 is left; quarter-turns cannot be kept without it)."
    )


def _by_key(per: dict[int, float]) -> dict[str, float]:
    """``{k: e}`` (k quarter turns) as ``{"90": e, ...}``."""
    return {key: float(per[int(key) // 90]) for key in ELEMENT_KEYS}


def _by_turn(per: dict[str, Any]) -> dict[int, float]:
    """``{"90": e, ...}`` as ``{k: e}`` (k quarter turns)."""
    return {int(key) // 90: float(per[key]) for key in ELEMENT_KEYS}


def _shown_input_frames() -> int:
    """The input frames of the shipped models: the Data page's per-rotation EE are on their states."""
    from core.sweep import PRESETS

    return int(PRESETS["cpu"]["model"]["input_frames"])


def dataset_symmetry(path: str | Path) -> dict[str, Any]:
    """The Data page's per-rotation view of the dataset at ``path``.

    Returns ``breaking`` (the pattern), ``pattern`` (its words), ``factors`` (b_k / b),
    ``one_step`` / ``trajectory`` (``{"90": e, "180": e, "270": e}``, velocity units: the matched
    one-step data EE on the shipped models' states, and the trajectory data EE), ``group``
    ("C4", "C2" or "C1") and ``sentence`` ("This data keeps half-turns; ...").
    """
    from core.data import load_dataset

    ds = load_dataset(Path(path))
    frames_in = _shown_input_frames()
    one_step = ds.one_step_by_element(frames_in)
    left = ds.residual_symmetry(frames_in)
    return {
        "breaking": ds.config.breaking,
        "pattern": pattern_words(ds.config.breaking),
        "factors": tuple(float(f) for f in ds.config.strength_factors()),
        "one_step": _by_key(one_step),
        "trajectory": _by_key(ds.data_ee_trajectory_by_element),
        "group": left.group,
        "sentence": left.sentence("This data", one_step),
    }


def run_symmetry(run_ids: list[str]) -> dict[str, Any]:
    """Each run's model EE per rotation beside the data's on the same states, and the symmetry
    each kept, named as on the Data page.

    Runs are named as in the pickers (core.service.runs.run_titles). Returns ``models``
    (``{label: {"90": e, ...}}``: metrics.json's matched one-step model EE), ``data``
    (``{series: {"90": e, ...}}``: the matched one-step data EE on the same states, "data", or
    "data (F input frames)" where the runs' input frames differ), ``names`` (``{label: model
    registry name}``), ``sentences`` (``[(label, sentence)]``: the models', then the data's) and
    ``notes`` (runs without stored metrics).
    """
    from core.service.comparison import dataset_file_of
    from core.service.runs import run_titles
    from core.store.runs import find_run_dir, read_run
    from core.symmetry import EquivarianceError

    infos = [read_run(*find_run_dir(r)) for r in run_ids]
    out: dict[str, Any] = {"models": {}, "data": {}, "names": {}, "sentences": [], "notes": []}
    data_by_frames: dict[int, dict[int, float]] = {}
    data_sentences: dict[int, str] = {}
    for info, label in zip(infos, run_titles(infos), strict=True):
        ee = (info.metrics or {}).get("equivariance_error")
        if not ee:
            out["notes"].append(f"{label}: no stored evaluation, so no EE per rotation")
            continue
        model_ee = EquivarianceError.from_dict(ee)
        out["models"][label] = _by_key(model_ee.per_element)
        out["names"][label] = info.model_name
        out["sentences"].append((label, model_ee.residual_symmetry().sentence(label, model_ee.per_element)))
        frames_in = int((info.config.get("model_config") or {}).get("input_frames", 1))
        if frames_in not in data_by_frames:
            found = _data_side(info, frames_in, dataset_file_of(info))
            if found is not None:
                data_by_frames[frames_in], data_sentences[frames_in] = found
    several = len(data_by_frames) > 1
    for frames_in, per in data_by_frames.items():
        series = f"data ({frames_in} input frames)" if several else "data"
        out["data"][series] = _by_key(per)
        out["sentences"].append((series, data_sentences[frames_in]))
    return out


def _data_side(info: Any, frames_in: int, path: Path | None) -> tuple[dict[int, float], str] | None:
    """The matched one-step data EE per rotation for a run's states and the data's sentence, from
    its dataset (metrics.json's ``data_ee_by_element`` when the file is gone: then the data's
    size is unknown and the sentence uses its largest rotation's EE as the scale)."""
    from core.data import load_dataset
    from core.data.store import DatasetFileError
    from core.symmetry import residual_symmetry

    subject = "The data"
    try:
        ds = load_dataset(path) if path is not None else None
    except DatasetFileError:
        ds = None
    if ds is not None:
        per = ds.one_step_by_element(frames_in)
        return per, ds.residual_symmetry(frames_in).sentence(subject, per)
    stored = (info.metrics or {}).get("data_ee_by_element")
    if not stored:
        return None
    per = _by_turn(stored)
    return per, residual_symmetry(per, max(max(per.values()), 1e-30)).sentence(subject, per)


# ---------------------------------------------------------------- pattern sweeps


def _pattern_rows(folder: str | Path) -> list[dict[str, Any]]:
    """A sweep's finished rows that carry both per-rotation EE (rows without ``breaking`` are "all")."""
    from core.service.sweeps import read_sweep

    return [
        r
        for r in read_sweep(folder)
        if isinstance(r.get("model_ee_by_element"), dict) and isinstance(r.get("data_ee_by_element"), dict)
    ]


def is_pattern_sweep(folder: str | Path) -> bool:
    """True for a sweep with rows of a breaking pattern other than the ramp ("all"), carrying the
    per-rotation EE of model and data (a Figure-4 sweep's rows name their pattern too: "all")."""
    try:
        return any(r.get("breaking", "all") != "all" for r in _pattern_rows(folder))
    except (OSError, ValueError):  # a damaged or unreadable sweep is no lesson
        return False


def pattern_sweeps() -> list[Any]:
    """The sweeps (core.service.sweeps.SweepEntry) a pattern lesson can read, the shipped ones first."""
    from core.service.sweeps import sweep_entries

    return [e for e in sweep_entries() if not e.damaged and is_pattern_sweep(e.path)]


def pattern_sweep_levels(folder: str | Path) -> list[float]:
    """The buoyancy differences of a pattern sweep's rows, ascending."""
    return sorted({float(r["level"]) for r in _pattern_rows(folder)})


def pattern_sweep_view(folder: str | Path, level: float) -> dict[str, Any]:
    """One level of a pattern sweep, pattern by pattern (each model's seeds averaged).

    Returns ``{"patterns": {pattern: {...}}, "order": [patterns]}``, each pattern with ``words``;
    ``errors`` (``{model label: {"90": e, ...}, "data": {...}}``, the data last); ``models``
    (``{label: registry name}``); ``sentences`` (``[(label, sentence)]``, the models', then the
    data's) and ``points`` (``{model label: {"90": (data EEs, model EEs, levels)}}``:
    Figure 4 per rotation, over every level of the pattern). A model is named from its EE against
    its mean |output| (model_ee_mean / model_ee_relative); the data against the largest data EE
    of the sweep's rows (their size per step is not in the rows).
    """
    rows = _pattern_rows(folder)
    scale = max((float(v) for r in rows for v in r["data_ee_by_element"].values()), default=0.0)
    order = [p for p in pattern_options() if any(r.get("breaking", "all") == p for r in rows)]
    patterns = {}
    for pattern in order:
        mine = [r for r in rows if r.get("breaking", "all") == pattern]
        at_level = [r for r in mine if np.isclose(float(r["level"]), float(level))]
        if at_level:
            patterns[pattern] = _pattern_panel(at_level, max(scale, 1e-30))
            patterns[pattern]["points"] = _pattern_points(mine)
            patterns[pattern]["words"] = pattern_words(pattern)
    return {"patterns": patterns, "order": [p for p in order if p in patterns]}


def _mean_per(rows: list[dict[str, Any]], field: str) -> dict[str, float]:
    """The mean over rows of a per-rotation field."""
    return {key: float(np.mean([float(r[field][key]) for r in rows])) for key in ELEMENT_KEYS}


def _pattern_panel(rows: list[dict[str, Any]], data_scale: float) -> dict[str, Any]:
    """Bars and sentences of one pattern at one level (:func:`pattern_sweep_view`)."""
    from core.models.registry import model_label
    from core.symmetry import residual_symmetry

    errors: dict[str, dict[str, float]] = {}
    models: dict[str, str] = {}
    sentences = []
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        label = model_label(name)
        per = _mean_per(mine, "model_ee_by_element")
        sizes = [
            float(r["model_ee_mean"]) / float(r["model_ee_relative"])
            for r in mine
            if r.get("model_ee_mean") is not None and r.get("model_ee_relative")
        ]
        size = float(np.mean(sizes)) if sizes else max(max(per.values()), 1e-30)
        errors[label], models[label] = per, name
        sentences.append((label, residual_symmetry(_by_turn(per), size).sentence(label, _by_turn(per))))
    data = _mean_per(rows, "data_ee_by_element")
    errors["data"] = data
    named = residual_symmetry(_by_turn(data), data_scale)
    sentences.append(("data", named.sentence("The data", _by_turn(data))))
    return {"errors": errors, "models": models, "sentences": sentences}


def _pattern_points(rows: list[dict[str, Any]]) -> dict[str, dict[str, tuple[list[float], ...]]]:
    """Figure 4 per rotation for one pattern: per model and rotation, (data EE, model EE, level)
    lists over the pattern's levels."""
    from core.models.registry import model_label

    out: dict[str, dict[str, tuple[list[float], ...]]] = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        levels = sorted({float(r["level"]) for r in mine})
        at = [[r for r in mine if float(r["level"]) == lv] for lv in levels]
        out[model_label(name)] = {
            key: (
                [float(np.mean([float(r["data_ee_by_element"][key]) for r in group])) for group in at],
                [float(np.mean([float(r["model_ee_by_element"][key]) for r in group])) for group in at],
                levels,
            )
            for key in ELEMENT_KEYS
        }
    return out


def pattern_spectra(folder: str | Path, level: float) -> dict[str, dict[str, list[dict[str, float]]]]:
    """How the relaxed models broke symmetry under each pattern, at one level of a pattern sweep:
    ``{pattern: {model label: [irrep_energy per layer]}}`` (core.service.comparison.relaxation_maps),
    from each relaxed model's lowest-seed run whose folder is here; patterns and models without
    one are left out."""
    from core.models.registry import model_label, model_spec
    from core.service.comparison import relaxation_maps
    from core.store.runs import CheckpointError
    from core.train.checkpoints import load_run

    out: dict[str, dict[str, list[dict[str, float]]]] = {}
    rows = [r for r in _pattern_rows(folder) if r.get("run_id") and np.isclose(float(r["level"]), level)]
    for row in sorted(rows, key=lambda r: int(r.get("seed") or 0)):
        try:
            if model_spec(row["model"]).symmetry != "relaxed":
                continue
        except (KeyError, ValueError):  # a model this installation does not know
            continue
        pattern, label = row.get("breaking", "all"), model_label(row["model"])
        if label in out.get(pattern, {}):
            continue  # a lower seed's run is shown
        try:
            layers = relaxation_maps(load_run(str(row["run_id"])).model)
        except (OSError, ValueError, KeyError, CheckpointError):  # not here (a sweep shipped without runs)
            continue
        energies = [d["irrep_energy"] for d in layers if d["irrep_energy"]]
        if energies:
            out.setdefault(pattern, {})[label] = energies
    return out
