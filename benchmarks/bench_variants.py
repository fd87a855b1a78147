"""Try training settings on single (level, model) pairs before spending a whole sweep on them.

    python benchmarks/bench_variants.py VARIANTS.json [--data-dir DIR] [--workers 2] [--seeds 0,1,2]

VARIANTS.json is a list of objects ``{"level": 0.3, "model": "rsteer", "data": {...},
"train": {...}, "model_options": {...}}``; ``data``, ``train`` and ``model_options``
override the ``cpu`` sweep preset exactly as a SweepConfig's fields do (model options are
merged over the preset's: ``{"kernel_size": 5}`` keeps its two input frames). Each
variant is trained with core.train.trainer.train on the dataset the sweep would use, and one
line per variant is printed: RMSE / persistence on test-future and test-domain (with the
rollout lengths), the model EE against the matched one-step data EE, and the seconds taken.
Datasets and runs go to DIR (default: a fresh temporary folder), never to assets/.
``--seeds`` trains every variant once per training seed (which also reseeds the split, so the
held-out simulation changes too) and adds a line with the mean and range over the seeds: one
run's ratios vary by several hundredths from seed to seed, more than many settings differ by.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _sweep_config(variant: dict):
    """The one-level, one-model core.sweep.SweepConfig of a variant (validated when built)."""
    from core.sweep import SweepConfig

    model = variant["model"]
    return SweepConfig(
        levels=(variant["level"],),
        models=(model,),
        data=variant.get("data", {}),
        train=variant.get("train", {}),
        model_options={model: variant.get("model_options", {})},
    )


def run_variant(variant: dict) -> dict:
    """Train one variant; return its figures (dict of floats and the variant itself)."""
    import torch

    from core.data import ensure_dataset
    from core.train.trainer import train

    torch.set_num_threads(1)
    model = variant["model"]
    cfg = _sweep_config(variant)
    path = ensure_dataset(cfg.data_config(cfg.levels[0]))
    start = time.perf_counter()
    metrics = train(path, cfg.model_config(model), cfg.train_config()).metrics
    fut, dom = metrics["test_future"], metrics["test_domain"]
    return {
        "variant": variant,
        "seconds": time.perf_counter() - start,
        "future_ratio": fut["rmse"] / fut["persistence_rmse"],
        "future_steps": len(fut["rmse_per_step"]),
        "domain_ratio": dom["rmse"] / dom["persistence_rmse"],
        "domain_steps": len(dom["rmse_per_step"]),
        "model_ee": metrics["equivariance_error"]["mean"],
        "data_ee": metrics["data_ee_one_step"],
    }


def line(result: dict) -> str:
    """One printed line of a variant's figures."""
    v = result["variant"]
    extra = {k: v[k] for k in ("data", "train", "model_options") if v.get(k)}
    ee_ratio = result["model_ee"] / result["data_ee"] if result["data_ee"] > 0 else float("nan")
    return (
        f"{v['model']:>8} Δb {v['level']:<4g} future {result['future_ratio']:.2f} "
        f"({result['future_steps']} steps)  domain {result['domain_ratio']:.2f} "
        f"({result['domain_steps']} steps)  EE {result['model_ee']:.2e} = {ee_ratio:.2f} x data  "
        f"{result['seconds']:.0f} s  {json.dumps(extra)}"
    )


def with_seeds(variants: list[dict], seeds: list[int]) -> list[dict]:
    """Each variant once per seed (its ``train`` gets ``seed``), grouped by variant."""
    return [{**v, "train": {**v.get("train", {}), "seed": s}} for v in variants for s in seeds]


def seed_summary(results: list[dict]) -> str:
    """One line: mean and range over the seeds of one variant's results."""
    v = results[0]["variant"]

    def spread(values) -> str:
        return f"{statistics.fmean(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    ee = [r["model_ee"] / r["data_ee"] for r in results if r["data_ee"] > 0]
    return (
        f"{v['model']:>8} Δb {v['level']:<4g} over {len(results)} seeds: future "
        f"{spread([r['future_ratio'] for r in results])}  domain "
        f"{spread([r['domain_ratio'] for r in results])}  EE / data {spread(ee) if ee else '-'}"
    )


def _seeds(text: str) -> list[int]:
    """Parse ``--seeds`` ("0,1,2"); ValueError names a bad entry."""
    seeds = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in seeds):
        raise ValueError(f"--seeds takes integers >= 0 separated by commas, got {text!r}")
    return [int(part) for part in seeds]


def _read_variants(path: Path) -> list[dict]:
    """The variants of ``path``, each checked by building its SweepConfig (ValueError names the problem)."""
    variants = json.loads(path.read_text())
    if not isinstance(variants, list) or not variants:
        raise ValueError("expected a non-empty JSON list of variants")
    for i, v in enumerate(variants):
        if not isinstance(v, dict) or not {"level", "model"} <= set(v):
            raise ValueError(f"variant {i} needs at least 'level' and 'model', got {v!r}")
        unknown = set(v) - {"level", "model", "data", "train", "model_options"}
        if unknown:
            raise ValueError(f"variant {i}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            _sweep_config(v)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"variant {i}: {exc}") from None
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", type=Path)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", default=None, help="train each variant once per seed, e.g. 0,1,2")
    args = parser.parse_args()
    try:
        seeds = _seeds(args.seeds) if args.seeds is not None else None
    except ValueError as exc:
        parser.exit(2, f"error: {exc}\n")
    try:
        variants = _read_variants(args.variants)
    except (OSError, ValueError) as exc:
        parser.exit(2, f"error: {args.variants}: {exc}\n")
    if seeds is not None:
        variants = with_seeds(variants, seeds)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="variants-"))
    os.environ["APPROXSYM_DATA_DIR"] = str(data_dir)
    print(f"data and runs in {data_dir}; RMSE as a ratio to persistence (below 1 beats it)")
    group: list[dict] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for result in pool.map(run_variant, variants):
            print(line(result), flush=True)
            group.append(result)
            if seeds is not None and len(group) == len(seeds):
                print(seed_summary(group), flush=True)
                group = []


if __name__ == "__main__":
    main()
