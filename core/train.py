"""Train one model on one dataset file from the terminal.

    python -m core.train --data PATH.h5 --model rsteer --epochs 5 [--hidden 32 --alpha 1e-5 ...]

Prints the run id and its test metrics; progress goes to stderr as a plain text bar.
A bad argument exits with status 2 and one line naming it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block
        self.exit(2, f"error: {message}\n")


def progress_bar(stream=sys.stderr, width: int = 30):
    """Return a progress callback ``(fraction, message, **info)`` drawing a text bar on ``stream``."""

    def report(fraction: float, message: str = "", **info) -> None:
        filled = int(round(width * min(max(fraction, 0.0), 1.0)))
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * fraction:5.1f}% {message[:70]:<70}")
        if info.get("train_loss") is not None or fraction >= 1.0:
            stream.write("\n")
        stream.flush()

    return report


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m core.train``."""
    from core.models import MODEL_NAMES

    p = _Parser(prog="python -m core.train", description="Train one model on one dataset file.")
    p.add_argument("--data", required=True, help="dataset .h5 file (made by python -m core.data)")
    p.add_argument("--model", required=True, choices=MODEL_NAMES)
    p.add_argument("--input-frames", type=int, help="velocity frames per input (model default 1)")
    p.add_argument("--hidden", type=int, help="hidden channels (model default)")
    p.add_argument("--layers", type=int, help="convolution layers (model default)")
    p.add_argument("--kernel-size", type=int, help="kernel side, odd (model default)")
    p.add_argument("--alpha", type=float, help="RSteer regulariser weight")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-decay", type=float, default=0.9)
    p.add_argument(
        "--relaxed-lr",
        type=float,
        default=4e-3,
        help="SGD learning rate of RSteer's symmetry-breaking weights (see core/optim.py)",
    )
    p.add_argument("--rollout-steps", type=int, default=3, help="K, autoregressive steps in the loss")
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train-windows", type=int)
    p.add_argument("--eval-steps", type=int, default=20)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from core.evaluate import summary_lines
    from core.models import ModelConfig
    from core.trainer import TrainConfig, train

    if not Path(args.data).is_file():
        parser.error(f"--data: no such file {args.data!r}")
    options = {
        k: getattr(args, k)
        for k in ("input_frames", "hidden", "layers", "kernel_size", "alpha")
        if getattr(args, k) is not None
    }
    try:
        mcfg = ModelConfig.for_model(args.model, **options)
        tcfg = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            lr_decay=args.lr_decay,
            relaxed_lr=args.relaxed_lr,
            rollout_steps=args.rollout_steps,
            patience=args.patience,
            seed=args.seed,
            max_train_windows=args.max_train_windows,
            eval_steps=args.eval_steps,
            device=args.device,
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        result = train(args.data, mcfg, tcfg, progress=progress_bar())
    except ValueError as exc:
        parser.error(str(exc))
    except Exception as exc:  # e.g. DatasetFileError: one line, not a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"run {result.run_id} ({result.status}) in {result.run_dir}")
    if result.metrics:
        print("\n".join(summary_lines(result.metrics)))
    return 0 if result.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
