"""Regenerate the shipped ``assets/`` folder with the project's own code.

    python -m core.assets [--out DIR] [--quick]

    python -m core.assets --only patterns    # just the pattern sweep

Writes, in the data-directory layout: ``datasets/<name>.h5`` (the small default dataset),
``runs/<run_id>/`` for convnet, e2cnn and rsteer trained on it (checkpoint, history,
metrics, evaluation), ``sweeps/<sweep_id>/results.json`` (a finished small Figure-4
sweep) and the pattern sweep (issue 27: the ``patterns`` preset's sweep, three breaking
patterns x Δb 0.6 x three models; a newer one replaces the pattern sweeps shipped before). Run paths
in run.json are relative to the output folder, so the folder can move.
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
#: The full assets are the default 'cpu' sweep with RGroup beside the three Figure-4 models
#: (issue 26); its settings also make the shipped runs.
FULL: dict[str, Any] = {"models": ("convnet", "e2cnn", "rgroup", "rsteer")}
#: A tiny version for tests: grid 16, one epoch.
QUICK: dict[str, Any] = {
    "levels": (0.0, 0.3),
    "data": {"grid": 16, "frames": 12, "sims": 2},
    "train": {"epochs": 1, "batch_size": 8, "rollout_steps": 2, "eval_steps": 4, "max_train_windows": 8},
    "model_options": {m: _TINY for m in ("convnet", "e2cnn", "rsteer")},
}
#: The preset of the shipped pattern sweep (core.sweep.config.PRESETS; a page finds the sweep by it).
PATTERNS_PRESET = "patterns"
#: The pattern sweep's tiny version for tests: two patterns, one level, two models.
QUICK_PATTERNS: dict[str, Any] = {
    **QUICK,
    "preset": PATTERNS_PRESET,
    "levels": (0.6,),
    "patterns": ("all", "half_turn"),
    "models": ("convnet", "rsteer"),
}
#: The preset of the shipped Table-1 build (issue 26), and the folder it is shipped in.
TABLE1_PRESET = "table1"
TABLE1_FOLDER = "table1"
#: Its tiny version for tests: two models, two seeds, the paper design at grid 16.
QUICK_TABLE1: dict[str, Any] = {
    **QUICK,
    "preset": TABLE1_PRESET,
    "levels": (0.3,),
    "data": {"grid": 16, "frames": 12, "sims": 4, "design": "paper"},
    "models": ("convnet", "rsteer"),
    "seeds": 2,
}
#: What ``build_assets`` can make: the dataset, runs and Figure-4 sweep; the pattern sweep;
#: the Table-1 build.
PARTS = ("figure4", "patterns", TABLE1_PRESET)


def build_assets(
    out: Path,
    quick: bool = False,
    progress: Progress | None = None,
    engine: str | None = None,
    parts: tuple[str, ...] = PARTS,
) -> dict[str, Any]:
    """Make the ``parts`` (:data:`PARTS`) of the assets under ``out``; return a summary dict.

    ``figure4``: the dataset, one trained run per model and the Figure-4 sweep, all following
    one SweepConfig (the default one, or QUICK): the shipped dataset is its level
    ``SHIPPED_LEVEL``, the runs use its train and model settings. ``patterns``: the pattern
    sweep (SweepConfig.of_preset(PATTERNS_PRESET), or QUICK_PATTERNS). ``engine`` runs the
    sweeps (core.sweep.ENGINES; None: ``ray`` for the full assets, ``local`` for the quick
    ones, whose trainings are shorter than Ray's start). The summary has ``dataset`` (path),
    ``runs`` ({model: run_id}), ``sweep`` and ``pattern_sweep`` (ids) as made, ``engine`` and
    ``seconds`` per part.
    """
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(f"parts must be from {', '.join(PARTS)}, got {', '.join(map(str, parts)) or 'none'}")
    engine = engine or ("local" if quick else "ray")
    report = progress or no_progress
    out = Path(out).resolve()
    summary: dict[str, Any] = {"engine": engine, "seconds": {}}
    if "figure4" in parts:
        summary.update(_build_figure4(out, quick, report, engine, summary["seconds"]))
    if "patterns" in parts:
        from core.sweep import SweepConfig

        t0 = time.perf_counter()
        report(0.99 if "figure4" in parts else 0.0, "running the pattern sweep")
        plan = SweepConfig.from_dict(QUICK_PATTERNS) if quick else SweepConfig.of_preset(PATTERNS_PRESET)
        summary["pattern_sweep"] = _ship_sweep(out, plan, engine, replaces=PATTERNS_PRESET)
        summary["seconds"]["pattern sweep"] = time.perf_counter() - t0
    if TABLE1_PRESET in parts:
        t0 = time.perf_counter()
        report(0.0, "building Table 1")
        summary["table1"] = _ship_table1(out, quick, engine)
        summary["seconds"]["table 1"] = time.perf_counter() - t0
    report(1.0, "assets done")
    return summary


def _build_figure4(out: Path, quick: bool, report: Progress, engine: str, seconds: dict) -> dict[str, Any]:
    """The dataset, the three shipped runs and the Figure-4 sweep under ``out``; return
    ``{"dataset", "runs", "sweep"}`` and add each part's time to ``seconds``."""
    from core.data import ensure_dataset
    from core.sweep import SweepConfig

    plan = SweepConfig.from_dict(QUICK if quick else FULL)
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
    sweep = _ship_sweep(out, plan, engine)
    seconds["sweep"] = time.perf_counter() - t0
    return {"dataset": str(dataset), "runs": runs, "sweep": sweep}


def _ship_sweep(out: Path, plan, engine: str, replaces: str | None = None) -> str:
    """Run sweep ``plan`` into ``out/sweeps`` and return its id; RuntimeError unless it ends
    'done'. ``replaces``: a preset whose sweeps shipped before in ``out`` are removed after."""
    from core.sweep import run_sweep
    from core.sweep.results import read_record

    sweep = run_sweep(plan, root=out, engine=engine)
    if sweep.status != "done":
        raise RuntimeError(f"the assets' sweep ended {sweep.status}")
    for folder in (out / "sweeps").iterdir() if replaces else ():
        if folder.name == sweep.sweep_id or not (folder / "results.json").is_file():
            continue
        if (read_record(folder).get("config") or {}).get("preset") == replaces:
            shutil.rmtree(folder)
    return sweep.sweep_id


def _ship_table1(out: Path, quick: bool, engine: str) -> str:
    """Run the Table-1 sweep (the ``table1`` preset, or QUICK_TABLE1) and ship its results as
    ``out/table1/results.json`` and ``results.csv``; return the sweep id it was built as."""
    from core.sweep import SweepConfig

    plan = SweepConfig.from_dict(QUICK_TABLE1) if quick else SweepConfig.of_preset(TABLE1_PRESET)
    sweep_id = _ship_sweep(out, plan, engine)
    built, shipped = out / "sweeps" / sweep_id, out / TABLE1_FOLDER
    shipped.mkdir(parents=True, exist_ok=True)
    for name in ("results.json", "results.csv"):
        if (built / name).is_file():
            with atomic_path(shipped / name) as tmp:
                shutil.copyfile(built / name, tmp)
    shutil.rmtree(built)
    if not any((out / "sweeps").iterdir()):
        (out / "sweeps").rmdir()  # made only to build in
    return sweep_id


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
    p.add_argument("--only", choices=PARTS, help="make only this part (default: all of them)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    parts = (args.only,) if args.only else PARTS
    summary = build_assets(
        Path(args.out), quick=args.quick, progress=progress_bar(), engine=args.engine, parts=parts
    )
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    print(f"assets in {args.out}: {size / 1e6:.1f} MB, {time.perf_counter() - t0:.0f} s")
    for k, v in summary["seconds"].items():
        print(f"  {k}: {v:.0f} s")
    if "runs" in summary:
        print(f"  runs: {summary['runs']}\n  sweep: {summary['sweep']} (engine {summary['engine']})")
    if "pattern_sweep" in summary:
        print(f"  pattern sweep: {summary['pattern_sweep']} (engine {summary['engine']})")
    if "table1" in summary:
        print(f"  table 1: built as {summary['table1']}, in {TABLE1_FOLDER}/ (engine {summary['engine']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
