"""``python -m core.sweep --levels 0,0.1,0.2 --models convnet,e2cnn,rsteer [--preset cpu|gpu]``."""

from __future__ import annotations

import sys

from core.cli import Parser, progress_bar
from core.sweep.config import DEFAULT_LEVELS, PRESETS, SweepConfig
from core.sweep.run import run_sweep


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    p = Parser(prog="python -m core.sweep", description="Figure 4: model vs data equivariance error.")
    p.add_argument("--levels", default=",".join(f"{v:g}" for v in DEFAULT_LEVELS), help="comma-separated")
    p.add_argument("--models", default="convnet,e2cnn,rsteer", help="comma-separated model names")
    p.add_argument("--preset", default="cpu", choices=tuple(PRESETS))
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--grid", type=int, help="override the preset's grid size")
    p.add_argument("--frames", type=int, help="override the preset's frames per simulation")
    args = p.parse_args(argv)
    try:
        levels = tuple(float(v) for v in args.levels.split(",") if v.strip())
    except ValueError:
        p.error(f"--levels: expected comma-separated numbers, got {args.levels!r}")
    data = {k: getattr(args, k) for k in ("grid", "frames") if getattr(args, k) is not None}
    train = {"epochs": args.epochs} if args.epochs is not None else {}
    try:
        config = SweepConfig(
            levels=levels,
            models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
            preset=args.preset,
            data=data,
            train=train,
        )
    except ValueError as exc:
        p.error(str(exc))
    result = run_sweep(config, progress=progress_bar())
    print(f"sweep {result.sweep_id} ({result.status}) in {result.path}")
    for r in result.rows:
        print(
            f"level {r['level']:g}  data EE {r['data_equivariance_error']:.4g}  {r['model']:8s} "
            f"model EE {r['model_ee_mean'] if r['model_ee_mean'] is not None else float('nan'):.4g}  "
            f"RMSE {r['rmse_future'] if r['rmse_future'] is not None else float('nan'):.4g}"
        )
    return 0 if result.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
