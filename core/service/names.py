"""Names a person reads: datasets, models, runs and sweeps described by their configs, never by hash.

Every label is derived from the config saved beside the artefact (a user label, where
one was given, comes first); ids stay available to whoever asks for them.
"""

from __future__ import annotations

from typing import Any

from core.models.registry import model_label


def _num(value: Any) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return "?"


def data_config_label(config: dict[str, Any]) -> str:
    """``"Δb 0.3 · 32² · 4 sims × 40 frames"`` for a DataConfig dict (missing fields show '?')."""
    grid = config.get("grid", "?")
    return (
        f"Δb {_num(config.get('buoyancy_diff'))} · {grid}² · "
        f"{config.get('sims', '?')} sims × {config.get('frames', '?')} frames"
    )


def model_config_label(config: dict[str, Any]) -> str:
    """``"RSteer 32 ch"`` for a ModelConfig dict (``"RSteer 32 ch · 2 frames in"`` with several inputs)."""
    text = f"{model_label(str(config.get('name', '?')))} {config.get('hidden', '?')} ch"
    frames = config.get("input_frames", 1)
    return text + (f" · {frames} frames in" if frames not in (1, None) else "")


def run_label(record: dict[str, Any]) -> str:
    """A run's name from its run.json: the user's label if set, else
    ``"RSteer 32 ch · 20 ep · Δb 0.3"`` (uploaded checkpoints: ``"RSteer 32 ch · uploaded <file>"``)."""
    if record.get("label"):
        return str(record["label"])
    text = model_config_label(record.get("model_config") or {})
    if record.get("source") == "upload":
        return f"{text} · uploaded {record.get('uploaded_name', '')}".rstrip()
    epochs = (record.get("train_config") or {}).get("epochs")
    data = (record.get("dataset") or {}).get("config") or {}
    parts = (
        [text]
        + ([f"{epochs} ep"] if epochs else [])
        + ([f"Δb {_num(data['buoyancy_diff'])}"] if data else [])
    )
    return " · ".join(parts)


def sweep_config_label(config: dict[str, Any]) -> str:
    """``"sweep 10 levels · cpu"`` (``"sweep 2 levels · cpu · 3 models"`` style) for a SweepConfig dict."""
    levels = config.get("levels") or ()
    models = config.get("models") or ()
    text = f"sweep {len(levels)} level{'s' if len(levels) != 1 else ''} · {config.get('preset', 'cpu')}"
    if models and len(models) != 3:
        text += " · " + ", ".join(model_label(m) for m in models)
    return text


def sweep_label(record: dict[str, Any]) -> str:
    """A sweep's name from its results.json: the user's label, else its config's label, plus its status."""
    if record.get("label"):
        return str(record["label"])
    text = sweep_config_label(record.get("config") or {})
    status = record.get("status")
    return text if status in (None, "done") else f"{text} ({status})"


def shipped_suffix(label: str, shipped: bool) -> str:
    """``label`` with " (shipped)" appended for items from the read-only assets folder."""
    return f"{label} (shipped)" if shipped else label
