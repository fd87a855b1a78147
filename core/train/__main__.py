"""Train one model on one dataset file from the terminal.

    python -m core.train --data NAME|PATH.h5 --model rsteer --epochs 5 [--hidden 32 --alpha 1e-5 ...]

``--data NAME`` is a dataset in the data directory (``python -m core.data --out NAME`` made it).

Prints the run id and its test metrics; progress goes to stderr as a text bar. Every
TrainConfig field is an option (generated from the dataclass). A bad argument exits
with status 2 and one line naming it.
"""

from __future__ import annotations

import sys

from core.cli import Parser, add_config_options, add_switch, config_from_args, fail, progress_bar

MODEL_OPTIONS = ("input_frames", "hidden", "layers", "kernel_size", "alpha", "smoke")


def build_parser() -> Parser:
    """Return the argument parser of ``python -m core.train``."""
    from core.models import model_names
    from core.train.config import TrainConfig

    p = Parser(prog="python -m core.train", description="Train one model on one dataset file.")
    p.add_argument(
        "--data",
        required=True,
        help="a dataset's name in the data directory (python -m core.data --out NAME) or a .h5 path",
    )
    p.add_argument("--model", required=True, choices=model_names())
    for name in MODEL_OPTIONS[:-1]:
        kind = float if name == "alpha" else int
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"{name} (model default)")
    add_switch(p, "smoke", "the model sees the smoke as well as the velocity (default: off)")
    add_config_options(p, TrainConfig)
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 done, 1 failed or diverged, 2 bad argument)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from core.data.cache import find_dataset
    from core.models import ModelConfig
    from core.train.config import TrainConfig
    from core.train.evaluate import summary_lines
    from core.train.trainer import train

    data = find_dataset(args.data)
    if not data.is_file():
        parser.error(f"--data: no such file {args.data!r}")
    options = {k: getattr(args, k) for k in MODEL_OPTIONS if getattr(args, k) is not None}
    names = [n for n in vars(args) if n in TrainConfig.__dataclass_fields__]
    try:
        mcfg = ModelConfig.for_model(args.model, **options)
        tcfg = config_from_args(TrainConfig, args, names)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        result = train(data, mcfg, tcfg, progress=progress_bar())
    except ValueError as exc:
        parser.error(str(exc))
    except Exception as exc:  # e.g. DatasetFileError: one line, not a traceback
        return fail(f"{type(exc).__name__}: {exc}")
    print(f"run {result.run_id} ({result.status}) in {result.run_dir}")
    if result.error:
        print(f"reason: {result.error}")
    if result.metrics:
        print("\n".join(summary_lines(result.metrics)))
    return 0 if result.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
