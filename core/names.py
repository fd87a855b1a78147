"""Names a person reads: datasets, models, runs and sweeps described by their configs, never by hash.

Every label is derived from the config saved beside the artefact (a user label, where
one was given, comes first); ids stay available to whoever asks for them.
"""

from __future__ import annotations

import re
from typing import Any


def model_label(name: str) -> str:
    """core.models.registry.model_label, imported on first use: the registry loads every model
    (torch, e2cnn), which dataset names do not need."""
    from core.models.registry import model_label as label

    return label(name)


def _num(value: Any) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return "?"


def significant(value: Any, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits (``"0.0123"``, ``"5.1e-08"``); '–' for None/NaN."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    if v != v:
        return "–"
    return f"{v:.{digits}g}"


#: How a dataset name says which plumes differ (core.data.config.BREAKING_PATTERNS); the ramp
#: every dataset had before patterns existed says nothing.
PATTERN_WORDS = {"all": "", "half_turn": "half-turn kept", "one_plume": "one plume"}


def data_config_label(config: dict[str, Any]) -> str:
    """``"Δb 0.3 · 32² · 4 sims × 40 frames"`` for a DataConfig dict (missing fields show '?').

    A breaking pattern other than the ramp follows Δb (``"Δb 0.6 half-turn kept"``), the paper
    design is named (``" · paper design"``), and a warm-up and a seed other than 0 are appended
    (``" · after 70 steps · seed 3"``), so two datasets that differ only in those read differently.
    """
    grid = config.get("grid", "?")
    sims = config.get("sims", "?")
    pattern = PATTERN_WORDS.get(config.get("breaking") or "all", "")
    text = (
        f"Δb {_num(config.get('buoyancy_diff'))}{' ' + pattern if pattern else ''} · {grid}² · "
        f"{sims} sim{'s' if sims != 1 else ''} × {config.get('frames', '?')} frames"
    )
    warmup, seed = config.get("warmup"), config.get("seed")
    text += " · paper design" if config.get("design") == "paper" else ""
    text += f" · after {warmup} steps" if warmup not in (None, 0) else ""
    return text + (f" · seed {seed}" if seed not in (None, 0) else "")


def dataset_label(config: dict[str, Any] | None, user_label: str | None = None) -> str:
    """A dataset's name: the user's label if set, else :func:`data_config_label` of its config."""
    if user_label:
        return str(user_label)
    return data_config_label(config) if config else "dataset (settings unreadable)"


def model_config_label(config: dict[str, Any]) -> str:
    """``"RSteer 32 ch"`` for a ModelConfig dict (``"RSteer 32 ch · 2 frames in"`` with several inputs,
    ``"… · with smoke"`` for a model that sees the smoke). A field left out reads as the value the
    model is built with (ModelConfig's default), not '?'."""
    config = _with_model_defaults(config)
    text = f"{model_label(str(config.get('name', '?')))} {config.get('hidden', '?')} ch"
    frames = config.get("input_frames", 1)
    text += f" · {frames} frames in" if frames not in (1, None) else ""
    return text + (" · with smoke" if config.get("smoke") is True else "")


def _with_model_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as ModelConfig.from_dict completes it (the defaults of the fields it leaves out,
    which a job built from it trains with); ``config`` itself where it is not a valid one."""
    from core.models.config import ModelConfig

    try:
        return ModelConfig.from_dict(config).to_dict()
    except (ValueError, TypeError):
        return config


def _symmetric_start(train_config: dict[str, Any]) -> str:
    """``"symmetric start 5 ep"`` where RSteer's breaking weights were held still, else ''."""
    hold = train_config.get("relaxed_hold")
    return f"symmetric start {hold} ep" if isinstance(hold, int) and hold > 0 else ""


def run_label(record: dict[str, Any]) -> str:
    """A run's name from its run.json: the user's label if set, else
    ``"RSteer 32 ch · 20 ep · Δb 0.3"`` (uploaded checkpoints: ``"RSteer 32 ch · uploaded <file>"``;
    a relaxed model trained with a symmetric start adds ``"· symmetric start 5 ep"``)."""
    if record.get("label"):
        return str(record["label"])
    model = record.get("model_config") or {}
    text = model_config_label(model)
    if record.get("source") == "upload":
        return f"{text} · uploaded {record.get('uploaded_name', '')}".rstrip()
    train = record.get("train_config") or {}
    data = (record.get("dataset") or {}).get("config") or {}
    hold = _symmetric_start(train) if _relaxed(model.get("name")) else ""
    parts = (
        [text]
        + ([f"{train['epochs']} ep"] if train.get("epochs") else [])
        + ([hold] if hold else [])
        + ([f"Δb {_num(data['buoyancy_diff'])}"] if data else [])
    )
    return " · ".join(parts)


def _relaxed(name: Any) -> bool:
    """Whether the registered model ``name`` has relaxed (symmetry-breaking) weights; False if unknown."""
    from core.models.registry import model_spec

    try:
        return bool(model_spec(str(name)).relaxed)
    except ValueError:
        return False


def sweep_config_label(config: dict[str, Any]) -> str:
    """``"sweep Δb 0-0.9 (10 levels) · cpu"`` for a SweepConfig dict; up to three levels are listed
    (``"sweep Δb 0, 0.5 · cpu"``), then what the user set over the preset: models unless all three,
    breaking patterns unless only "all", training seeds when more than one, epochs, grid, frames,
    RSteer's symmetric start."""
    levels = sorted(float(v) for v in config.get("levels") or ())
    if len(levels) <= 3:
        span = ", ".join(f"{v:g}" for v in levels)
    else:
        span = f"{levels[0]:g}-{levels[-1]:g} ({len(levels)} levels)"
    parts = [f"sweep Δb {span}", str(config.get("preset", "cpu"))]
    models = config.get("models") or ()
    if models and len(models) != 3:
        parts.append(", ".join(model_label(m) for m in models))
    patterns = list(config.get("patterns") or ["all"])
    if patterns != ["all"]:
        parts.append("patterns " + ", ".join(map(str, patterns)))
    if int(config.get("seeds") or 1) > 1:
        parts.append(f"{config['seeds']} seeds")
    train, data = config.get("train") or {}, config.get("data") or {}
    if "epochs" in train:
        parts.append(f"{train['epochs']} ep")
    if "grid" in data:
        parts.append(f"{data['grid']}²")
    if "frames" in data:
        parts.append(f"{data['frames']} frames")
    hold = _symmetric_start(train)
    if hold:
        parts.append(f"RSteer {hold}")
    return " · ".join(parts)


def sweep_label(record: dict[str, Any]) -> str:
    """A sweep's name from its results.json: the user's label, else its config's label (with
    ``"· with smoke"`` when its models saw the smoke, from the record's resolved settings, which
    older records lack), plus its status."""
    if record.get("label"):
        return str(record["label"])
    text = sweep_config_label(record.get("config") or {})
    models = ((record.get("resolved") or {}).get("models") or {}).values()
    text += " · with smoke" if any(m.get("smoke") is True for m in models) else ""
    status = record.get("status")
    return text if status in (None, "done") else f"{text} ({status})"


def unique_labels(labels: list[str]) -> list[str]:
    """``labels`` with repeats numbered (``"ConvNet 32 ch"``, ``"ConvNet 32 ch (2)"``), order kept."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


#: The longest name a person may give a dataset, run or sweep (characters).
LABEL_LIMIT = 80


def clean_label(text: Any) -> str:
    """A user-given label made safe to store and show: one line, printable characters only.

    Returns '' for an empty label (meaning "use the name derived from the config"). The
    length is checked, not cut, by the caller (:data:`LABEL_LIMIT`): a name cut short
    without a word is not the name the person gave.
    """
    text = " ".join(str(text or "").split())
    return "".join(ch for ch in text if ch.isprintable())


def shipped_suffix(label: str, shipped: bool) -> str:
    """``label`` with " (shipped)" appended for items from the read-only assets folder."""
    return f"{label} (shipped)" if shipped else label


def file_stem(label: str, limit: int = 80) -> str:
    """A download's file name stem made from an item's name: ``"RSteer 32 ch · 30 ep · Δb 0.3"``
    -> ``"RSteer-32-ch_30-ep_db-0.3"``. ASCII letters, digits, '.', '-' and '_' only, so every
    browser and file system keeps it; ``"download"`` if nothing is left."""
    text = re.sub(r"(\d+)²", r"\1x\1", str(label)).replace("Δ", "d").replace("×", "x")
    text = "_".join(part.strip() for part in text.split("·"))
    text = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "-" for ch in text)
    text = "-".join(filter(None, text.split("-"))).strip("._-")
    return text[:limit].rstrip("._-") or "download"
