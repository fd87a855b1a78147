"""Figure-4 criteria of a finished sweep: how closely each model follows the data's symmetry, and
whether it beats persistence.

    python benchmarks/bench_figure4.py [SWEEP_FOLDER]   # default: the shipped sweep in assets/

Prints the sweep's table (both data EEs, model EE, RMSE beside persistence per level), then
for each model: the least-squares slope through the origin of model EE against the matched
one-step data EE, mean |model - data| / mean data, the level-0 EE as a share of the top
level's, Spearman's rank correlation, and the worst RMSE / persistence ratio on both test
splits; and the rank checks of RSteer against E2CNN and ConvNet. Where the rows carry the EE
frame by frame (``ee_by_frame``), it also prints each relaxed or unconstrained model's model /
data EE ratio on its training frames and on the untrained (validation and test-future) ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.sweep.__main__ import table_lines  # noqa: E402
from core.sweep.results import frame_split_ratios  # noqa: E402


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


def model_criteria(rows: list[dict]) -> dict[str, float]:
    """The symmetry and accuracy figures of one model's rows (sorted by level)."""
    x = np.array([r["data_ee_one_step"] for r in rows], dtype=float)
    y = np.array([r["model_ee_mean"] for r in rows], dtype=float)
    spearman = float(np.corrcoef(_ranks(x), _ranks(y))[0, 1]) if len(x) > 2 else float("nan")
    ratio = {
        split: max(r[f"rmse_{split}"] / r[f"rmse_persistence_{split}"] for r in rows)
        for split in ("future", "domain")
        if all(r.get(f"rmse_{split}") and r.get(f"rmse_persistence_{split}") for r in rows)
    }
    return {
        "slope": float((x * y).sum() / (x * x).sum()) if (x * x).sum() > 0 else float("nan"),
        "rel_mean_abs_dev": float(np.abs(y - x).mean() / x.mean()) if x.mean() > 0 else float("nan"),
        "level0_share": float(y[0] / y[-1]) if y[-1] > 0 else float("nan"),
        "spearman": spearman,
        "relative_ee_max": max(r.get("model_ee_relative") or 0.0 for r in rows),
        "worst_future_ratio": ratio.get("future", float("nan")),
        "worst_domain_ratio": ratio.get("domain", float("nan")),
    }


def main(argv: list[str]) -> int:
    """Print the table and the criteria; returns 0."""
    folder = Path(argv[0]) if argv else None
    if folder is None:
        from core.store.paths import assets_dir

        shipped = sorted((assets_dir() / "sweeps").glob("*/results.json"))
        figure4 = [p.parent for p in shipped if json.loads(p.read_text())["config"].get("preset") == "cpu"]
        folder = figure4[-1]  # the shipped Figure-4 sweep (the pattern sweep has preset "patterns")
    record = json.loads((folder / "results.json").read_text())
    rows = [r for r in record["rows"] if r.get("status") == "done"]
    seconds = sum(r.get("seconds") or 0 for r in rows)
    print(f"sweep {record['sweep_id']}: {len(rows)} runs, {seconds:.0f} s of training and evaluation")
    print("\n".join(table_lines(rows)))
    by_model = {
        m: sorted((r for r in rows if r["model"] == m), key=lambda r: r["level"])
        for m in record["config"]["models"]
    }
    print(
        "\nmodel     slope  |m-d|/d  level0/top  spearman  max rel EE  worst fut/persist  worst dom/persist"
    )
    for name, model_rows in by_model.items():
        if not model_rows or any(r.get("data_ee_one_step") is None for r in model_rows):
            continue
        c = model_criteria(model_rows)
        print(
            f"{name:<9s} {c['slope']:5.2f}  {c['rel_mean_abs_dev']:7.2f}  {c['level0_share']:10.3g}  "
            f"{c['spearman']:8.2f}  {c['relative_ee_max']:10.2g}  {c['worst_future_ratio']:14.2f}  "
            f"{c['worst_domain_ratio']:14.2f}"
        )
    _rank_checks(by_model)
    _frame_split(by_model)
    return 0


def _frame_split(by_model: dict[str, list[dict]]) -> None:
    lines = []
    for name in ("convnet", "rsteer"):
        pairs = [(r["level"], frame_split_ratios(r)) for r in by_model.get(name, [])]
        pairs = [(level, q) for level, q in pairs if q is not None]
        if pairs:
            text = "  ".join(f"{level:g}: {a:.2f} / {b:.2f}" for level, (a, b) in pairs)
            lines.append(f"{name:<9s} {text}")
    if lines:
        print("\nmodel / data EE on training frames / on untrained frames, per level (Δb: train / later)")
        print("\n".join(lines))


def _rank_checks(by_model: dict[str, list[dict]]) -> None:
    rs, e2, cn = (by_model.get(m, []) for m in ("rsteer", "e2cnn", "convnet"))
    if not (rs and e2 and cn):
        return
    for split in ("future", "domain"):
        key = f"rmse_{split}"
        top5 = sum(r[key] <= e[key] for r, e in list(zip(rs, e2, strict=True))[-5:])
        every = sum(r[key] <= c[key] for r, c in zip(rs, cn, strict=True))
        label = "(the issue's check)" if split == "future" else "(the same check on test-domain)"
        print(f"RSteer test-{split} RMSE <= E2CNN's on {top5} of the 5 highest levels, ", end="")
        print(f"<= ConvNet's on {every} of {len(rs)} levels {label}")
    print(f"ConvNet level-0 EE / RSteer's: {cn[0]['model_ee_mean'] / max(rs[0]['model_ee_mean'], 1e-30):.3g}")
    _symmetric_cost(e2)


def _symmetric_cost(e2: list[dict]) -> None:
    """What the data's asymmetry costs the exactly equivariant model on each split: its ratio to
    persistence from the lowest level to the highest (flat: nothing a relaxed model could win)."""
    for split in ("future", "domain"):
        ratios = [r[f"rmse_{split}"] / r[f"rmse_persistence_{split}"] for r in e2]
        print(
            f"E2CNN test-{split} RMSE / persistence: {ratios[0]:.2f} at Δb {e2[0]['level']:g}, "
            f"{ratios[-1]:.2f} at Δb {e2[-1]['level']:g} (range {min(ratios):.2f}-{max(ratios):.2f})"
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
