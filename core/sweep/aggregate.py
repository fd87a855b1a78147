"""Sweep rows grouped over training seeds: mean ± std per (level, model), and the words that
compare them under the spread rule of :func:`core.sweep.table1.compare`.

A sweep with ``seeds`` > 1 has one row per (level, model, seed); rows without ``seed`` count as
seed 0. Every figure and sentence that draws or ranks sweep rows goes through here, so one seed
and many are told apart the same way everywhere: one seed has no measured spread, and then no
sentence calls one model better than another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.sweep.table1 import SPLIT_WORDS, Spread, compare

#: Said wherever a single training seed is ranked: there is nothing to judge a gap against.
ONE_SEED = "one seed: no spread measured"
#: Said where two models' gap is inside the sum of their seed spreads.
TIED = "tied within seed spread"


def split_title(split: str) -> str:
    """A test split named by what it holds: ``"future"``, ``"test-future"`` or ``"test_future"``
    -> ``"test-future (later frames)"``; likewise ``"test-domain (unseen buoyancy strengths)"``."""
    key = split.removeprefix("test-").removeprefix("test_")
    if key not in SPLIT_WORDS:
        raise ValueError(f"split must be 'future' or 'domain', got {split!r}")
    return f"test-{key} ({SPLIT_WORDS[key]})"


def row_seed(row: Mapping[str, Any]) -> int:
    """A row's training seed (0 for rows written before sweeps had seeds)."""
    return int(row.get("seed") or 0)


def by_level(
    rows: list[Mapping[str, Any]], field: str | Callable[[Mapping[str, Any]], Any]
) -> dict[str, list[tuple[float, Spread]]]:
    """``{model: [(level, Spread of field over that level's seeds)]}``, levels ascending, models
    in the order they first appear. ``field``: a row key, or a function of a row (None for no
    value). Rows without a level or a model, and (level, model) groups without any finite value,
    are left out."""
    value = field if callable(field) else (lambda row: row.get(field))
    groups: dict[str, dict[float, list[Any]]] = {}
    for row in rows:
        if row.get("model") is None or row.get("level") is None:
            continue
        groups.setdefault(str(row["model"]), {}).setdefault(float(row["level"]), []).append(value(row))
    out: dict[str, list[tuple[float, Spread]]] = {}
    for model, levels in groups.items():
        spreads = [(level, Spread.of(values)) for level, values in sorted(levels.items())]
        kept = [(level, s) for level, s in spreads if s.count]
        if kept:
            out[model] = kept
    return out


def seed_count(rows: list[Mapping[str, Any]]) -> int:
    """How many distinct training seeds the rows hold (1 for rows without seeds)."""
    return len({row_seed(r) for r in rows}) or 1


def leader(spreads: Mapping[str, Spread]) -> tuple[str | None, str]:
    """Who is lowest among ``spreads`` ({name: Spread} of an error, lower is better) and how
    sure: ``(name, "leads")`` when its mean is lower than every other's by more than the two
    seed spreads, ``(name, "tied")`` when not, ``(name, "one seed")`` when no entry has a
    second seed (no spread measured), ``(None, "")`` when nothing has a value."""
    measured = {k: s for k, s in spreads.items() if s.count}
    if not measured:
        return None, ""
    best = min(measured, key=lambda k: measured[k].mean)
    if all(s.count <= 1 for s in measured.values()):
        return best, "one seed"
    others = [s for k, s in measured.items() if k != best]
    sure = all(compare(measured[best], s) == "better" for s in others)
    return best, "leads" if sure else "tied"
