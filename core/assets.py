"""Regenerate the shipped ``assets/`` folder with the project's own code.

    python -m core.assets [--out DIR] [--quick]

Writes, in the data-directory layout: ``datasets/<name>.h5`` (the small default dataset),
``runs/<run_id>/`` for convnet, e2cnn and rsteer trained on it (checkpoint, history,
metrics, evaluation), and ``sweeps/<sweep_id>/results.json`` (a finished small Figure-4
sweep). Run paths in run.json are relative to the output folder, so the folder can move.
``--quick`` makes a tiny version (grid 16, 1 epoch) for tests. An existing output folder
keeps its other files; items are replaced one by one, each write atomic.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from core.atomic import atomic_path

FULL: dict[str, Any] = {
    "data": {"grid": 32, "frames": 40, "sims": 4, "buoyancy_diff": 0.3},
    "train": {"epochs": 20, "batch_size": 16, "rollout_steps": 3, "patience": 6},
    "model_options": {"convnet": {"hidden": 32}, "e2cnn": {"hidden": 32}, "rsteer": {"hidden": 16}},
    # The shipped Figure-4 sweep is the full default one: 10 levels, the 'cpu' preset.
    "sweep": {},
}
QUICK: dict[str, Any] = {
    "data": {"grid": 16, "frames": 12, "sims": 2, "buoyancy_diff": 0.3},
    "train": {"epochs": 1, "batch_size": 8, "rollout_steps": 2, "eval_steps": 4, "max_train_windows": 8},
    "model_options": {m: {"hidden": 8, "layers": 2} for m in ("convnet", "e2cnn", "rsteer")},
    "sweep": {
        "levels": (0.0, 0.3),
        "data": {"grid": 16, "frames": 12, "sims": 2},
        "train": {"epochs": 1, "rollout_steps": 2, "eval_steps": 3, "max_train_windows": 8},
        "model_options": {m: {"hidden": 8, "layers": 2} for m in ("convnet", "e2cnn", "rsteer")},
    },
}


def build_assets(out: Path, quick: bool = False, progress=None) -> dict[str, Any]:
    """Make the dataset, three trained runs and a sweep under ``out``; return a summary dict.

    The summary has ``dataset`` (path), ``runs`` ({model: run_id}), ``sweep`` (id) and
    ``seconds`` (wall time of each part).
    """
    from core.data import DataConfig, ensure_dataset
    from core.models import MODEL_NAMES, ModelConfig
    from core.runs import new_run_dir, update_run_json
    from core.sweep import SweepConfig, run_sweep
    from core.trainer import TrainConfig, train

    plan = QUICK if quick else FULL
    report = progress or (lambda *a, **k: None)
    out = Path(out).resolve()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    cached = ensure_dataset(DataConfig(**plan["data"]))  # reuses data_dir()'s cache
    dataset = out / "datasets" / cached.name
    dataset.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dataset) as tmp:
        shutil.copyfile(cached, tmp)
    seconds["dataset"] = time.perf_counter() - t0

    runs: dict[str, str] = {}
    for i, name in enumerate(MODEL_NAMES):
        t0 = time.perf_counter()
        report(i / (len(MODEL_NAMES) + 1), f"training {name}")
        run_id, run_dir = new_run_dir(f"run-{name}", root=out / "runs")
        mcfg = ModelConfig.for_model(name, **plan["model_options"][name])
        result = train(dataset, mcfg, TrainConfig(**plan["train"]), run_dir=run_dir)
        if result.status != "done":
            raise RuntimeError(f"training {name} for the assets ended {result.status}")
        rec = update_run_json(run_dir, shipped=True)
        # Relative to the assets folder, so the shipped set does not depend on this machine.
        update_run_json(run_dir, dataset={**rec["dataset"], "path": f"datasets/{dataset.name}"})
        (run_dir / "last.pt").unlink(missing_ok=True)  # resume state is not shipped (size)
        runs[name] = run_id
        seconds[name] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report(len(MODEL_NAMES) / (len(MODEL_NAMES) + 1), "running the sweep")
    sweep = run_sweep(SweepConfig.from_dict(plan["sweep"]), root=out)
    seconds["sweep"] = time.perf_counter() - t0
    report(1.0, "assets done")
    return {"dataset": str(dataset), "runs": runs, "sweep": sweep.sweep_id, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    from core.paths import ASSETS_DIR
    from core.train import progress_bar

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str):
            self.exit(2, f"error: {message}\n")

    p = _Parser(prog="python -m core.assets", description="Regenerate the shipped assets/ folder.")
    p.add_argument("--out", default=str(ASSETS_DIR), help="output folder (default: the repo's assets/)")
    p.add_argument("--quick", action="store_true", help="tiny version (grid 16, 1 epoch), for tests")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    summary = build_assets(Path(args.out), quick=args.quick, progress=progress_bar())
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    print(f"assets in {args.out}: {size / 1e6:.1f} MB, {time.perf_counter() - t0:.0f} s")
    for k, v in summary["seconds"].items():
        print(f"  {k}: {v:.0f} s")
    print(f"  runs: {summary['runs']}\n  sweep: {summary['sweep']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
