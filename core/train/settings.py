"""The settings a run was made with, flattened, and where two or more runs differ.

A run's run.json keeps its data config (``dataset.config``), model config (``model_config``)
and training config (``train_config``); flattened, each setting is one key such as
``data.buoyancy_diff``, ``model.hidden`` or ``train.lr`` (a nested dict adds a level:
``model.widths.rsteer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: The parts of run.json that hold settings, in the order they are shown, with their prefixes.
SETTING_PARTS = (("data", ("dataset", "config")), ("model", ("model_config",)), ("train", ("train_config",)))
#: What a run without a setting shows in the diff (an older run.json, another model's field).
ABSENT = "(not set)"


def flatten_settings(record: dict[str, Any]) -> dict[str, Any]:
    """``{"data.<field>": value, "model.<field>": value, "train.<field>": value}`` of a run.json
    record, in that order; nested dicts joined with '.', lists kept as lists. Parts the record
    lacks are left out."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}", inner)
        else:
            flat[prefix] = value

    for prefix, path in SETTING_PARTS:
        part: Any = record
        for key in path:
            part = part.get(key) if isinstance(part, dict) else None
        if isinstance(part, dict):
            walk(prefix, part)
    return flat


def settings_diff(records: Sequence[dict[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """One row per setting whose value is not the same in every run: ``{"setting": key, name:
    value as text, ...}`` with a column per run (``names``, one per record, distinct), in the order of
    :func:`flatten_settings` (the first run's settings first). A run without the setting shows
    ABSENT. No rows when every setting agrees; ValueError when names and records do not pair up
    or names repeat."""
    if len(names) != len(records):
        raise ValueError(f"settings_diff: {len(records)} runs but {len(names)} names")
    if len(set(names)) != len(names) or "setting" in names:
        raise ValueError("settings_diff: the runs' names must be distinct (and not 'setting')")
    flats = [flatten_settings(r) for r in records]
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    rows = []
    for key in keys:
        values = [flat.get(key, ABSENT) for flat in flats]
        if any(v != values[0] for v in values[1:]):
            rows.append({"setting": key, **{n: _shown(v) for n, v in zip(names, values, strict=True)}})
    return rows


def _shown(value: Any) -> str:
    """A value as a table cell's text (one type per column, whatever the settings hold): floats
    to 6 significant digits, lists joined with commas, None as "none"."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
