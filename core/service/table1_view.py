"""What the Table-1 page draws, prepared without Streamlit: which Table-1 build to show, its
table of every model's RMSE over seeds beside the paper's, and the rankings the seed spread
allows (core.sweep.table1).

A Table-1 build is a sweep whose config preset is ``table1``: yours (the data directory) are
listed first, then any shipped as sweeps, then the shipped ``assets/table1/results.json`` that
``python -m core.assets`` writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.service.common import Entry
from core.store.paths import assets_dir
from core.sweep.aggregate import ONE_SEED, split_title

#: The sweep preset of a Table-1 build.
TABLE1_PRESET = "table1"
#: The shipped build, under the assets folder (a folder holding a sweep's results.json).
SHIPPED_TABLE1 = "table1"
#: The command that builds one.
BUILD_COMMAND = "python -m core.sweep --preset table1"
#: What the parameters column says about the budget (the table1 preset's widths, core.sweep.config).
BUDGET_CAPTION = (
    "Parameters: learnable numbers at the widths this build trained. The table1 preset sets the "
    "widths so that each model has ConvNet's parameter count within 20% where its architecture "
    "allows; E2CNN's equivariance constraint leaves it far fewer weights at the same width (a "
    "matched one is about 4x slower per step), and MLP and CLCNN have weights per grid cell."
)
#: The issue's time budget for the build on 2 CPU cores (nine models x three seeds).
BUILD_MINUTES = 40
#: Seeds per model when the preset does not say.
DEFAULT_SEEDS = 3

#: Under the table: what the paper's columns are for.
PAPER_CAPTION = (
    "The paper's columns are its Table 1, rotation smoke, 20-step RMSE (Wang, Walters & Yu, "
    "ICML 2022). Its RMSE scale is not ours (other data, grid and units): compare the rankings, "
    "not the values. Spearman 1 = the same order as the paper."
)


def table1_sources() -> list[Entry]:
    """Every Table-1 build to show: sweeps whose config preset is ``table1`` (yours first, then
    shipped ones, as core.sweep.list_sweeps orders them; damaged ones left out), then the
    shipped ``assets/table1`` build when it has a results.json. Each an Entry whose ``path`` is
    the folder of its results.json."""
    from core.names import sweep_label, unique_labels
    from core.sweep import list_sweeps

    found = [
        (Path(r["path"]), bool(r["shipped"]), sweep_label(r))
        for r in list_sweeps()
        if not r.get("damaged") and (r.get("config") or {}).get("preset") == TABLE1_PRESET
    ]
    shipped = assets_dir() / SHIPPED_TABLE1
    if (shipped / "results.json").is_file():
        found.append((shipped, True, "Table 1, shipped build"))
    titles = unique_labels([title for _, _, title in found])
    return [Entry(p.name, p, s, t) for (p, s, _), t in zip(found, titles, strict=True)]


def build_hint() -> str:
    """What to do when no Table-1 build exists: the command, what it trains and how long."""
    return (
        f"No Table-1 build yet. Build one with `{BUILD_COMMAND}`: every model, {DEFAULT_SEEDS} "
        f"training seeds each, on the paper's data design (budgeted at up to ~{BUILD_MINUTES} min "
        "on 2 CPU cores), or with **Build Table 1** below as a background job."
    )


def submit_table1() -> str:
    """Start a Table-1 build as a background sweep job (core.service.sweeps.submit_sweep with
    the ``table1`` preset's levels, models, seeds and widths); returns the job id. ValueError
    when this build has no ``table1`` preset."""
    from core.service import sweeps

    return sweeps.submit_sweep(**_table1_settings())


def build_estimate() -> str:
    """About how long Build Table 1 takes on this machine (core.service.estimates), or "" when
    this version has no table1 preset."""
    from core.service.estimates import sweep_estimate

    try:
        return sweep_estimate(**_table1_settings())
    except ValueError:
        return ""


def _table1_settings() -> dict[str, Any]:
    """The SweepConfig fields of a Table-1 build: the ``table1`` preset's plan (ValueError when
    there is no table1 preset)."""
    from core.sweep import PRESETS, SweepConfig

    if TABLE1_PRESET not in PRESETS:
        raise ValueError(f"this version has no '{TABLE1_PRESET}' sweep preset to build Table 1 with")
    plan = SweepConfig.of_preset(TABLE1_PRESET)
    return {
        "preset": TABLE1_PRESET,
        "levels": plan.levels,
        "models": plan.models,
        "seeds": plan.seeds,
        "model_options": plan.model_options,
    }


def _split_key(prefix: str, split: str) -> str:
    """A row's key for a split's column: ``"RMSE test-future (later frames)"`` and the like."""
    return f"{prefix} {split_title(split)}"


_FUTURE, _DOMAIN = (
    "test-future: the later frames of the training simulations",
    ("test-domain: whole simulations whose buoyancy strengths were never trained on"),
)
#: The page's main table, {row key: (short header, what it holds)}: short headers so that it fits a
#: 1024-px projector; the ratios to persistence, the paper's RMSE and the parameter count.
RATIO_COLUMNS: dict[str, tuple[str, str]] = {
    "model": ("model", "The model (the paper's name)."),
    _split_key("RMSE / persistence", "future"): ("later frames", f"{_FUTURE}. RMSE / persistence's."),
    _split_key("RMSE / persistence", "domain"): ("unseen strengths", f"{_DOMAIN}. RMSE / persistence's."),
    "paper RMSE test-future": ("paper: later", "The paper's Table 1 (rotation): test-future RMSE."),
    "paper RMSE test-domain": ("paper: unseen", "The paper's Table 1 (rotation): test-domain RMSE."),
    "parameters": ("params", "Learnable numbers at the widths this build trained."),
}
#: The second table: the RMSE itself and the seeds behind each mean ± std.
RMSE_COLUMNS: dict[str, tuple[str, str]] = {
    "model": RATIO_COLUMNS["model"],
    "seeds": ("seeds", "Training seeds behind the mean ± std."),
    _split_key("RMSE", "future"): ("RMSE, later frames", f"{_FUTURE}: rollout RMSE."),
    _split_key("RMSE", "domain"): ("RMSE, unseen strengths", f"{_DOMAIN}: rollout RMSE."),
}


def table1_view(folder: str | Path) -> dict[str, Any]:
    """The Table-1 build in ``folder`` (its results.json) as the page shows it: ``rows`` (one
    per model: seeds, RMSE and RMSE / persistence mean ± std per split, the paper's RMSE),
    ``sentences`` ({split title: ranking sentences under the spread rule}), ``agreement``
    ({split title: Spearman of our mean ratios against the paper's RMSE, or None}), ``seeds``
    (the most seeds any model has), ``notes`` (what limits the reading: one seed, several
    levels, an unfinished build) and ``status``. ValueError for a file that is not a sweep record."""
    from core.models.registry import model_label
    from core.sweep.results import read_record
    from core.sweep.table1 import paper_rank_agreement, parameter_counts, ranking_sentences, summarise

    try:
        record = read_record(Path(folder))
    except FileNotFoundError:
        raise ValueError(f"{folder} holds no results.json") from None
    rows = [r for r in record["rows"] if isinstance(r, dict)]
    notes = []
    levels = sorted({float(r["level"]) for r in rows if r.get("level") is not None})
    if len(levels) > 1:  # one table per level: show the largest difference, say so
        rows = [r for r in rows if r.get("level") is not None and float(r["level"]) == levels[-1]]
        notes.append(f"This build has {len(levels)} buoyancy differences: the table shows Δb {levels[-1]:g}.")
    table = summarise(rows)
    seeds = max((len(r.seeds) for r in table), default=0)
    if seeds == 1:
        notes.append(f"{ONE_SEED.capitalize()}: no model is called more accurate than another.")
    if record.get("status") not in (None, "done"):
        notes.append(f"This build is {record['status']}: {len(rows)} of its trainings are in the table.")
    splits = {key: split_title(key) for key in ("future", "domain")}
    params = parameter_counts(record.get("resolved") or {})
    return {
        "rows": [_table_row(r, splits, model_label, params.get(r.model)) for r in table],
        "sentences": {
            title: ranking_sentences(table, key, label=model_label) if seeds > 1 else []
            for key, title in splits.items()
        },
        "agreement": {title: paper_rank_agreement(table, key) for key, title in splits.items()},
        "seeds": seeds,
        "notes": notes,
        "status": record.get("status"),
    }


def _table_row(row: Any, splits: dict[str, str], label, params: int | None) -> dict[str, Any]:
    """One model's line of the page's table (texts, so mean ± std reads as one cell)."""
    out: dict[str, Any] = {"model": label(row.model), "parameters": params, "seeds": len(row.seeds)}
    for key in splits:
        out[_split_key("RMSE", key)] = row.rmse[key].text()
        out[_split_key("RMSE / persistence", key)] = row.ratio[key].text()
    for index, key in enumerate(splits):
        out[f"paper RMSE test-{key}"] = row.paper[index] if row.paper else None
    return out
