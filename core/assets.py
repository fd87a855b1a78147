"""Regenerate the shipped ``assets/`` folder with the project's own code.

    python -m core.assets [--out DIR] [--quick]

Writes, in the data-directory layout: ``datasets/<name>.h5`` (the small default dataset),
``runs/<run_id>/`` for convnet, e2cnn and rsteer trained on it (checkpoint, history,
metrics, evaluation), and ``sweeps/<sweep_id>/results.json`` (a finished small Figure-4
sweep). Run paths in run.json are relative to the output folder, so the folder can move.
``--quick`` makes a tiny version (grid 16, 1 epoch) for tests. An existing output folder
keeps its other files; items are replaced one by one, each write atomic.

The full sweep runs on a local Ray (``--engine``, default ``ray``): its trainings are small
enough that a second thread speeds one up only 1.8 x, so two single-threaded ones at a time
do about 10% more work (the cpu preset at Δb 0.3 and 0.6 on 2 cores: 6 trainings in 176 s on
Ray against 194 s one after another; E2CNN's and RSteer's figures identical to the last digit).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from core.progress import Progress, no_progress
from core.store.atomic import atomic_path

#: The level (buoyancy difference) of the shipped dataset and its three trained runs.
SHIPPED_LEVEL = 0.3
_TINY = {"hidden": 8, "layers": 2}
#: The full assets are the default 'cpu' sweep; its settings also make the shipped runs.
FULL: dict[str, Any] = {}
#: A tiny version for tests: grid 16, one epoch.
QUICK: dict[str, Any] = {
    "levels": (0.0, 0.3),
    "data": {"grid": 16, "frames": 12, "sims": 2},
    "train": {"epochs": 1, "batch_size": 8, "rollout_steps": 2, "eval_steps": 4, "max_train_windows": 8},
    "model_options": {m: _TINY for m in ("convnet", "e2cnn", "rsteer")},
}


def build_assets(
    out: Path, quick: bool = False, progress: Progress | None = None, engine: str | None = None
) -> dict[str, Any]:
    """Make the dataset, one trained run per model and a sweep under ``out``; return a summary dict.

    Everything follows one SweepConfig (the default one, or QUICK): the shipped dataset is
    its level ``SHIPPED_LEVEL``, the runs use its train and model settings. ``engine`` runs
    the sweep (core.sweep.ENGINES; None: ``ray`` for the full assets, ``local`` for the quick
    ones, whose trainings are shorter than Ray's start). The summary has ``dataset`` (path),
    ``runs`` ({model: run_id}), ``sweep`` (id), ``engine`` and ``seconds`` per part.
    """
    from core.data import ensure_dataset
    from core.sweep import SweepConfig, run_sweep

    plan = SweepConfig.from_dict(QUICK if quick else FULL)
    engine = engine or ("local" if quick else "ray")
    report = progress or no_progress
    out = Path(out).resolve()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    cached = ensure_dataset(plan.data_config(SHIPPED_LEVEL))  # reuses data_dir()'s cache
    dataset = out / "datasets" / cached.name
    dataset.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dataset) as tmp:
        shutil.copyfile(cached, tmp)
    seconds["dataset"] = time.perf_counter() - t0
    runs: dict[str, str] = {}
    for i, name in enumerate(plan.models):
        t0 = time.perf_counter()
        report(i / (len(plan.models) + 1), f"training {name}")
        runs[name] = _shipped_run(out, dataset, plan, name)
        seconds[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report(len(plan.models) / (len(plan.models) + 1), "running the sweep")
    sweep = run_sweep(plan, root=out, engine=engine)
    if sweep.status != "done":
        raise RuntimeError(f"the assets' sweep ended {sweep.status}")
    seconds["sweep"] = time.perf_counter() - t0
    report(1.0, "assets done")
    return {
        "dataset": str(dataset),
        "runs": runs,
        "sweep": sweep.sweep_id,
        "engine": engine,
        "seconds": seconds,
    }


def _shipped_run(out: Path, dataset: Path, plan, name: str) -> str:
    """Train model ``name`` on the shipped dataset into ``out/runs``; return the run id."""
    from core.store.runs import new_run_dir, update_run_json
    from core.train.trainer import train

    run_id, run_dir = new_run_dir(f"run-{name}", root=out / "runs")
    result = train(dataset, plan.model_config(name), plan.train_config(), run_dir=run_dir)
    if result.status != "done":
        raise RuntimeError(f"training {name} for the assets ended {result.status}: {result.error}")
    rec = update_run_json(run_dir, shipped=True)
    # Relative to the assets folder, so the shipped set does not depend on this machine.
    update_run_json(run_dir, dataset={**rec["dataset"], "path": f"datasets/{dataset.name}"})
    (run_dir / "last.pt").unlink(missing_ok=True)  # resume state is not shipped (size)
    return run_id


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    from core.cli import Parser, progress_bar
    from core.store.paths import ASSETS_DIR
    from core.sweep import ENGINES

    p = Parser(prog="python -m core.assets", description="Regenerate the shipped assets/ folder.")
    p.add_argument("--out", default=str(ASSETS_DIR), help="output folder (default: the repo's assets/)")
    p.add_argument("--quick", action="store_true", help="tiny version (grid 16, 1 epoch), for tests")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="where the sweep's trainings run (default: ray, or local with --quick)",
    )
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    summary = build_assets(Path(args.out), quick=args.quick, progress=progress_bar(), engine=args.engine)
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    print(f"assets in {args.out}: {size / 1e6:.1f} MB, {time.perf_counter() - t0:.0f} s")
    for k, v in summary["seconds"].items():
        print(f"  {k}: {v:.0f} s")
    print(f"  runs: {summary['runs']}\n  sweep: {summary['sweep']} (engine {summary['engine']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
