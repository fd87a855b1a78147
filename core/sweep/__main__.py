"""``python -m core.sweep --levels 0,0.1,0.2 --models convnet,e2cnn,rsteer [--preset NAME]
[--seeds N] [--patterns all,half_turn,one_plume]``.

Levels, models, patterns and seeds not given come from the preset's sweep (``--preset patterns``:
the shipped pattern sweep; ``--preset table1``: the Table-1 build), else the defaults.

``--engine ray [--address HOST:PORT]`` runs each training as a Ray task (core/sweep/ray_engine.py).
``python -m core.sweep resume SWEEP_ID [--engine local|ray] [--address HOST:PORT]`` continues a
stopped sweep: the (pattern, level, model, seed) items with a row are kept, the others trained.
"""

from __future__ import annotations

import sys
import time

from core.cli import Parser, add_switch, fail, progress_bar
from core.data.config import BREAKING_PATTERNS
from core.sweep.config import DEFAULT_LEVELS, MAX_SEEDS, PRESETS, SweepConfig
from core.sweep.executor import SweepResult
from core.sweep.run import ENGINES, resume_sweep, run_sweep


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["resume"]:
        return resume_main(argv[1:])
    p = Parser(prog="python -m core.sweep", description="Figure 4: model vs data equivariance error.")
    levels = ",".join(f"{v:g}" for v in DEFAULT_LEVELS)
    p.add_argument("--levels", help=f"comma-separated (default: the preset's, else {levels})")
    models = ",".join(SweepConfig.models)
    p.add_argument("--models", help=f"comma-separated model names (default: the preset's, else {models})")
    p.add_argument("--preset", default="cpu", choices=tuple(PRESETS))
    p.add_argument("--seeds", type=int, help=f"training seeds 0..N-1 per model and dataset (1-{MAX_SEEDS})")
    patterns = ", ".join(BREAKING_PATTERNS)
    p.add_argument("--patterns", help=f"comma-separated breaking patterns from {patterns} (default: all)")
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--grid", type=int, help="override the preset's grid size")
    p.add_argument("--frames", type=int, help="override the preset's frames per simulation")
    p.add_argument("--sims", type=int, help="override the preset's simulations per orientation")
    p.add_argument("--hidden", type=int, help="override the preset's hidden width (every model)")
    p.add_argument("--layers", type=int, help="override the models' layer count (every model)")
    add_switch(p, "smoke", "the models see the smoke as well as the velocity (default: on, the preset's)")
    p.add_argument("--max-train-windows", type=int, help="cap the training samples per run")
    p.add_argument("--eval-steps", type=int, help="override the rollout length of the test metrics")
    p.add_argument("--device", help="training device: auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--engine", default="local", choices=ENGINES, help="where trainings run (default local)")
    p.add_argument("--address", help="with --engine ray: the Ray cluster to join (default: a local Ray)")
    args = p.parse_args(argv)
    _check_engine(p, args)
    axes = _axes(p, args)
    data = {k: getattr(args, k) for k in ("grid", "frames", "sims") if getattr(args, k) is not None}
    train_keys = ("epochs", "max_train_windows", "eval_steps", "device")
    train = {k: getattr(args, k) for k in train_keys if getattr(args, k) is not None}
    models = axes.get("models") or PRESETS[args.preset].get("sweep", {}).get("models") or SweepConfig.models
    options = {k: getattr(args, k) for k in ("hidden", "layers", "smoke") if getattr(args, k) is not None}
    # The preset's own per-model widths (table1: the parameter budget) unless an option replaces them.
    preset_options = PRESETS[args.preset].get("sweep", {}).get("model_options", {})
    per_model = {m: {**preset_options.get(m, {}), **options} for m in models}
    try:
        config = SweepConfig.of_preset(
            args.preset,
            **axes,
            data=data,
            train=train,
            model_options={m: o for m, o in per_model.items() if o},
        )
    except ValueError as exc:
        p.error(str(exc))
    return _report(
        lambda: run_sweep(config, progress=progress_bar(), engine=args.engine, address=args.address)
    )


def _axes(p: Parser, args) -> dict:
    """The sweep axes given on the command line (levels, models, patterns, seeds); a malformed
    list is one line naming its option."""
    axes: dict = {}
    if args.levels is not None:
        try:
            axes["levels"] = tuple(float(v) for v in args.levels.split(",") if v.strip())
        except ValueError:
            p.error(f"--levels: expected comma-separated numbers, got {args.levels!r}")
    for name in ("models", "patterns"):
        if getattr(args, name) is not None:
            axes[name] = tuple(v.strip() for v in getattr(args, name).split(",") if v.strip())
    if args.seeds is not None:
        axes["seeds"] = args.seeds
    return axes


def resume_main(argv: list[str]) -> int:
    """``resume SWEEP_ID``: continue a stopped sweep; returns the exit status."""
    p = Parser(prog="python -m core.sweep resume", description="Continue a stopped sweep.")
    p.add_argument("sweep_id", help="the sweep's folder name under sweeps/")
    p.add_argument("--engine", choices=ENGINES, help="where trainings run (default: where it last ran)")
    p.add_argument("--address", help="with --engine ray: the Ray cluster to join")
    args = p.parse_args(argv)
    _check_engine(p, args)
    return _report(
        lambda: resume_sweep(
            args.sweep_id, progress=progress_bar(), engine=args.engine, address=args.address
        ),
        refusals=(ValueError,),
    )


def _check_engine(p: Parser, args) -> None:
    """Refuse ``--address`` without ``--engine ray`` and a malformed address, in one line."""
    from core.sweep.ray_engine import check_address

    if args.address is None:
        return
    if args.engine not in ("ray", None):
        p.error("--address needs --engine ray")
    try:
        check_address(args.address)
    except ValueError as exc:
        p.error(f"--{exc}")


def _report(start, refusals: tuple = ()) -> int:
    """Run ``start() -> SweepResult`` and print where its results are and its table; a Ray
    cluster that cannot be reached (or a refusal of ``refusals``' types) is one line, status 2."""
    from core.sweep.ray_engine import RayUnreachable

    t0 = time.perf_counter()
    try:
        result: SweepResult = start()
    except (RayUnreachable, *refusals) as exc:
        return fail(str(exc), 2)
    except OSError as exc:  # core.store.atomic.WriteError: the file and the cause, one line
        return fail(str(exc))
    print(f"sweep {result.sweep_id} ({result.status}) in {result.path}, {time.perf_counter() - t0:.0f} s")
    print("\n".join(table_lines(result.rows)))
    return 0 if result.status == "done" else 1


def table_lines(rows: list[dict]) -> list[str]:
    """The sweep's rows as a text table: pattern, level, model and seed, both data EEs, model EE,
    RMSE beside persistence."""

    def num(v) -> str:
        return f"{v:.4g}" if isinstance(v, int | float) else "-"

    head = (
        "pattern    level  model     seed  data EE 1-step  data EE traj  model EE  "
        "RMSE fut (persist)  RMSE dom (persist)"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.get('breaking', 'all'):<10s} {r['level']:<6g} {r['model']:<9s} {r.get('seed', 0):<4d}  "
            f"{num(r.get('data_ee_one_step')):>14s}  "
            f"{num(r.get('data_ee_trajectory')):>12s}  {num(r.get('model_ee_mean')):>8s}  "
            f"{num(r.get('rmse_future')):>8s} ({num(r.get('rmse_persistence_future'))})  "
            f"{num(r.get('rmse_domain')):>8s} ({num(r.get('rmse_persistence_domain'))})"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
