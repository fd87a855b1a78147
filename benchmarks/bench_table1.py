"""Table 1 of a finished build, as the README states it: every model's RMSE over seeds beside
persistence, the ranking sentences under the spread rule, the rank agreement with the paper, and
what the build cost.

    python benchmarks/bench_table1.py [FOLDER]   # default: the shipped assets/table1/

Prints one line per model (parameters, seeds, RMSE / persistence mean ± std on test-future and
test-domain, the paper's RMSE pair, model EE), whether every model beats persistence on both
splits in every seed, the ranking sentences (core.sweep.table1.ranking_sentences), Spearman
against the paper's row, and the build's time: the sum of its trainings' seconds and, where the
record has them, its start-to-finish wall time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.models.registry import model_label  # noqa: E402
from core.sweep.table1 import (  # noqa: E402
    SPLIT_WORDS,
    paper_rank_agreement,
    parameter_counts,
    ranking_sentences,
    summarise,
)


def main(argv: list[str]) -> int:
    """Print the build's table and statements; returns 0 (1 when the folder holds no build)."""
    if argv:
        folder = Path(argv[0])
    else:
        from core.store.paths import assets_dir

        folder = assets_dir() / "table1"
    if not (folder / "results.json").is_file():
        print(f"{folder} holds no results.json: build one with python -m core.assets --only table1")
        return 1
    record = json.loads((folder / "results.json").read_text())
    rows = [r for r in record["rows"] if r.get("status") == "done"]
    table = summarise(rows)
    params = parameter_counts(record.get("resolved") or {})
    print(f"build {record.get('sweep_id')}: {len(rows)} trainings, status {record.get('status')}")
    print("model     params  seeds  future/persist   domain/persist   paper (fut, dom)  model EE")
    for row in table:
        paper = f"{row.paper[0]:.2f}, {row.paper[1]:.2f}" if row.paper else "-"
        print(
            f"{row.model:<8s} {params.get(row.model, 0):7d}  {len(row.seeds):5d}  "
            f"{row.ratio['future'].text():>15s}  {row.ratio['domain'].text():>15s}  {paper:>16s}  "
            f"{row.model_ee.text()}"
        )
    worse = [
        f"{r['model']} seed {r.get('seed', 0)} on {split}"
        for r in rows
        for split in SPLIT_WORDS
        if not r[f"rmse_{split}"] < r[f"rmse_persistence_{split}"]
    ]
    print(
        "every model below persistence on both splits, every seed:",
        "yes" if not worse else "no: " + "; ".join(worse),
    )
    for split in SPLIT_WORDS:
        print(f"\n{SPLIT_WORDS[split]}: " + " ".join(ranking_sentences(table, split, label=model_label)))
        rho = paper_rank_agreement(table, split)
        print(f"Spearman with the paper's row: {rho:.2f}" if rho is not None else "Spearman: too few models")
    seconds = sum(r.get("seconds") or 0 for r in rows)
    print(
        f"\ntraining and evaluation: {seconds:.0f} s summed over trainings "
        f"({seconds / 120:.1f} min on 2 cores, two at a time)"
    )
    if record.get("started") and record.get("finished"):
        print(f"wall time start to finish: {(record['finished'] - record['started']) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
