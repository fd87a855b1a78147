"""A sweep's rollout accuracy against persistence, per level and model over seeds, and the
sentences that say who is most accurate where (the spread rule)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.service.sweeps import read_sweep

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

    rows = [r for r in read_sweep(folder) if r.get("model_ee_mean") is not None]
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
