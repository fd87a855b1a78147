"""Table 1 of the paper, on this project's data: every model's RMSE over seeds, and honest rankings.

A Table-1 build is a sweep (core/sweep) at one buoyancy difference on the ``paper`` data design
with several training seeds; its rows (one per model and seed, core.sweep.results.result_row)
are summarised here into mean ± std per model and split, each also as a ratio to the
persistence baseline's RMSE on the same windows. A ranking calls one model more accurate than
another only where the gap between their means exceeds the sum of their two standard
deviations (:func:`compare`); otherwise the two are "tied within seed spread".

The two test splits, named by what they are: ``future`` = later frames of the training
simulations; ``domain`` = whole simulations whose buoyancy strengths were never trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The paper's Table 1, rotation smoke, 20-step RMSE (test-future, test-domain), by registry name.
#: Its RMSE scale is not ours (other data, other units): compare rankings, not values.
PAPER_ROTATION_RMSE: dict[str, tuple[float, float]] = {
    "mlp": (1.38, 1.34),
    "convnet": (1.21, 1.10),
    "e2cnn": (1.05, 0.76),
    "rpp": (0.96, 0.83),
    "combo": (1.07, 0.82),
    "clcnn": (0.96, 0.84),
    "lift": (0.82, 0.68),
    "rgroup": (0.82, 0.73),
    "rsteer": (0.80, 0.67),
}

#: Each split's name on a page: what it holds.
SPLIT_WORDS = {"future": "later frames", "domain": "unseen buoyancy strengths"}


@dataclass(frozen=True)
class Spread:
    """Mean and standard deviation over seeds (population std, ``ddof=0``; 0 for one seed)."""

    mean: float
    std: float
    count: int

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        """The spread of the finite ``values`` (NaN mean when there are none)."""
        finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if not finite:
            return cls(float("nan"), float("nan"), 0)
        return cls(float(np.mean(finite)), float(np.std(finite)), len(finite))

    def text(self, digits: int = 3) -> str:
        """``"0.612 ± 0.018"`` (or ``"—"`` without a value)."""
        if self.count == 0:
            return "—"
        return f"{self.mean:.{digits}g} ± {self.std:.{digits - 1}g}"


@dataclass(frozen=True)
class ModelRow:
    """One model's line of the table: RMSE and RMSE over persistence's, per split, over seeds;
    the model's one-step equivariance error; the paper's RMSE pair (or None)."""

    model: str
    seeds: tuple[int, ...]
    rmse: dict[str, Spread]
    ratio: dict[str, Spread]
    model_ee: Spread
    paper: tuple[float, float] | None


def summarise(rows: list[dict[str, Any]]) -> list[ModelRow]:
    """Group Table-1 rows (each with ``model``, ``seed``, ``rmse_future``, ``rmse_domain``,
    ``rmse_persistence_future``, ``rmse_persistence_domain``, ``model_ee_mean``) by model, in
    the order models first appear. Rows whose status is not ``done`` are left out."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("status", "done") == "done":
            by_model.setdefault(row["model"], []).append(row)
    table = []
    for model, group in by_model.items():
        rmse = {split: Spread.of([r.get(f"rmse_{split}") for r in group]) for split in SPLIT_WORDS}
        ratio = {split: Spread.of([_ratio(r, split) for r in group]) for split in SPLIT_WORDS}
        seeds = tuple(sorted(int(r.get("seed", 0)) for r in group))
        ee = Spread.of([r.get("model_ee_mean") for r in group])
        table.append(ModelRow(model, seeds, rmse, ratio, ee, PAPER_ROTATION_RMSE.get(model)))
    return table


def _ratio(row: dict[str, Any], split: str) -> float | None:
    model, base = row.get(f"rmse_{split}"), row.get(f"rmse_persistence_{split}")
    if model is None or base is None or not base > 0:
        return None
    return float(model) / float(base)


def compare(a: Spread, b: Spread) -> str:
    """``"better"`` if ``a``'s mean is lower than ``b``'s by more than ``a.std + b.std``, ``"worse"``
    if higher by more than that, else ``"tied"`` (also when either has no value)."""
    if a.count == 0 or b.count == 0:
        return "tied"
    gap = b.mean - a.mean
    if abs(gap) <= a.std + b.std:
        return "tied"
    return "better" if gap > 0 else "worse"


def ranking_sentences(table: list[ModelRow], split: str, label=str) -> list[str]:
    """Plain sentences on who is most accurate on ``split`` ('future' or 'domain'), following
    the spread rule: the best model by mean, the models it beats beyond the seed spread, and
    those tied with it within it. ``label`` turns a registry name into a display name."""
    rows = [r for r in table if r.ratio[split].count]
    if not rows:
        return []
    best = min(rows, key=lambda r: r.ratio[split].mean)
    beaten = [r for r in rows if r is not best and compare(best.ratio[split], r.ratio[split]) == "better"]
    tied = [r for r in rows if r is not best and r not in beaten]
    where = SPLIT_WORDS[split]
    text = (
        f"On {where}, {label(best.model)} has the lowest RMSE over persistence's "
        f"({best.ratio[split].text()}, {best.ratio[split].count} seeds)"
    )
    sentences = [text + "."]
    if beaten:
        names = ", ".join(label(r.model) for r in beaten)
        sentences.append(f"It is more accurate than {names} by more than the two seed spreads.")
    if tied:
        names = ", ".join(label(r.model) for r in tied)
        sentences.append(f"It is tied within seed spread with {names}.")
    return sentences


def paper_rank_agreement(table: list[ModelRow], split: str) -> float | None:
    """Spearman rank correlation between our mean RMSE ratios and the paper's RMSE on ``split``,
    over the models both have (None with fewer than three). 1 = the same order."""
    index = 0 if split == "future" else 1
    pairs = [(r.ratio[split].mean, r.paper[index]) for r in table if r.paper and r.ratio[split].count]
    if len(pairs) < 3:
        return None
    from scipy.stats import spearmanr

    ours, theirs = zip(*pairs, strict=True)
    return float(spearmanr(ours, theirs).statistic)  # ties (the paper has some) get average ranks


def parameter_counts(resolved: dict[str, Any]) -> dict[str, int]:
    """Learnable parameters of each model a build trained: ``{model: count}``, from a sweep
    record's ``resolved`` settings (``models``: each model's ModelConfig dict; ``data``: the
    DataConfig, whose grid sizes the models with weights per cell). Models are built on the CPU;
    one whose config no longer builds is left out."""
    from core.models import ModelConfig, model_from_config, model_spec

    grid = int((resolved.get("data") or {}).get("grid", 0))
    counts = {}
    for name, options in (resolved.get("models") or {}).items():
        try:
            if "grid" in model_spec(name).defaults and not options.get("grid"):
                options = {**options, "grid": grid}
            model = model_from_config(ModelConfig.from_dict(options))
        except (ValueError, KeyError, TypeError):
            continue
        counts[name] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts
