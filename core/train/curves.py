"""Loss curves as a run tracker draws them: per training step where the history has the batch
losses, per epoch otherwise, and an exponential moving average to smooth them.

``history.json`` (core/train/trainer.py) holds one record per epoch: ``train_loss`` (the mean
over the epoch's batches), ``val_loss`` and, from this version on, ``batch_losses`` (each
batch's training loss in order). Runs written before keep per-epoch curves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """``values`` smoothed by a debiased exponential moving average, as TensorBoard's slider:
    ``weight`` in [0, 1), 0 returns the values unchanged. Each point is a weighted mean of itself
    and the points before it (debiasing divides by the weights used, so the start is not pulled
    toward zero), hence the result stays within the values' min and max and a constant stays
    constant. A non-finite value is passed through and leaves the average untouched.

    Raises ValueError for a weight outside [0, 1).
    """
    weight = float(weight)
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing must be at least 0 and below 1, got {weight:g}")
    out: list[float] = []
    average, used = 0.0, 0.0  # running sum of weight^k * value, and of the weights
    low, high = math.inf, -math.inf
    for value in (float(v) for v in values):
        if not math.isfinite(value):
            out.append(value)
            continue
        average = weight * average + (1.0 - weight) * value
        used = weight * used + (1.0 - weight)
        low, high = min(low, value), max(high, value)
        # A weighted mean lies within the values it averages; the clip removes float round-off.
        out.append(min(max(average / used, low), high))
    return out


def loss_curves(history: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The losses of a run's history.json to draw: ``{"x_title": "step" or "epoch", "series":
    {name: (x, y)}}``. With every epoch's ``batch_losses`` recorded, "train (per step)" has one
    point per training step (x counts steps from 1) and "validation" one per epoch at the step that
    ended it; otherwise "train" and "validation" per epoch (x: the epoch). Empty series are left out.
    """
    records = [h for h in history if isinstance(h, dict)]
    per_step = bool(records) and all(isinstance(h.get("batch_losses"), list) for h in records)
    series: dict[str, tuple[list[float], list[float]]] = {}
    if per_step:
        steps, losses, ends, vals = [], [], [], []
        for h in records:
            for loss in h["batch_losses"]:
                steps.append(len(steps) + 1)
                losses.append(float(loss))
            if h.get("val_loss") is not None:
                ends.append(len(steps))
                vals.append(float(h["val_loss"]))
        for name, x, y in (("train (per step)", steps, losses), ("validation", ends, vals)):
            if y:
                series[name] = (x, y)
        return {"x_title": "step", "series": series}
    for key, name in (("train_loss", "train"), ("val_loss", "validation")):
        points = [
            (int(h.get("epoch", i + 1)), float(h[key]))
            for i, h in enumerate(records)
            if h.get(key) is not None
        ]
        if points:
            series[name] = ([e for e, _ in points], [v for _, v in points])
    return {"x_title": "epoch", "series": series}


def smoothed_loss_curves(history: Sequence[dict[str, Any]], smoothing: float) -> dict[str, Any]:
    """:func:`loss_curves` of ``history`` plus ``"smoothed"``: each series through :func:`smooth`
    with ``smoothing``, except the per-epoch validation series beside per-step training (one
    point per epoch needs no smoothing). Raises ValueError for a smoothing outside [0, 1)."""
    curves = loss_curves(history)
    per_step = curves["x_title"] == "step"
    smoothed = {
        name: (x, smooth(y, smoothing))
        for name, (x, y) in curves["series"].items()
        if not (per_step and name == "validation")
    }
    return {**curves, "smoothed": smoothed}


def overlay_curves(
    histories: Sequence[Sequence[dict[str, Any]]], names: Sequence[str], which: str, smoothing: float
) -> dict[str, Any]:
    """One loss series per run to overlay: ``{"x_title", "series": {name: (x, y)}}``.

    ``which`` "validation": per epoch. "train": per training step, smoothed with ``smoothing``,
    where every history has its batch losses; per epoch (unsmoothed) otherwise, so all runs
    share one x axis. Runs without that loss are left out. Raises ValueError for an unknown
    ``which`` or a smoothing outside [0, 1)."""
    if which not in ("train", "validation"):
        raise ValueError(f"which must be 'train' or 'validation', got {which!r}")
    curves = [loss_curves(h) for h in histories]
    per_step = which == "train" and all(c["x_title"] == "step" for c in curves)
    out: dict[str, tuple[list, list]] = {}
    for name, history, c in zip(names, histories, curves, strict=True):
        if per_step:
            if "train (per step)" in c["series"]:
                x, y = c["series"]["train (per step)"]
                out[name] = (x, smooth(y, smoothing))
            continue
        epoch_series = c["series"] if c["x_title"] == "epoch" else loss_curves(_per_epoch(history))["series"]
        if which in epoch_series:
            out[name] = epoch_series[which]
    return {"x_title": "step" if per_step else "epoch", "series": out}


def _per_epoch(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``history`` without its batch losses (so :func:`loss_curves` draws it per epoch)."""
    return [{k: v for k, v in h.items() if k != "batch_losses"} for h in history if isinstance(h, dict)]


def history_rows(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The losses of a run's history.json as ``{"metric", "value"}`` rows for a CSV:
    ``history.epoch_<n>.<train_loss|val_loss|lr|seconds>`` per epoch, then
    ``history.epoch_<n>.step_<k>.train_loss`` for each recorded batch loss (k counting the
    run's steps from 1)."""
    rows: list[dict[str, Any]] = []
    step = 0
    for i, h in enumerate(h for h in history if isinstance(h, dict)):
        epoch = h.get("epoch", i + 1)
        for key in ("train_loss", "val_loss", "lr", "seconds"):
            if h.get(key) is not None:
                rows.append({"metric": f"history.epoch_{epoch}.{key}", "value": h[key]})
        for loss in h.get("batch_losses") or []:
            step += 1
            rows.append({"metric": f"history.epoch_{epoch}.step_{step}.train_loss", "value": loss})
    return rows
