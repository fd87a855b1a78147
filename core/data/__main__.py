"""CLI: ``python -m core.data --buoyancy-diff 0.2 --grid 32 --frames 20 --sims 1 [--out PATH.h5]``.

Generates one dataset (or reuses the cached one when --out is not given), shows a text
progress bar on stderr, and prints the trajectory and matched one-step data equivariance
errors and the file path.
A bad argument exits with status 2 and one line naming it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from core.data.cache import ensure_dataset, generate_dataset
from core.data.config import DataConfig
from core.data.store import load_dataset


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print the whole usage block
        self.exit(2, f"error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m core.data", description="Generate a C4 smoke-plume dataset.")
    defaults = DataConfig()
    for f in dataclasses.fields(DataConfig):
        kind = int if f.type in ("int", int) else float
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=kind,
            default=getattr(defaults, f.name),
            help=f"{f.name} (default {getattr(defaults, f.name)})",
        )
    parser.add_argument("--out", type=Path, default=None, help="output .h5 file (default: the dataset cache)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} frames")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 on success, 2 on a bad argument)."""
    parser = _parser()
    args = parser.parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(DataConfig)}
    try:
        config = DataConfig(**values)
    except ValueError as exc:
        parser.error(str(exc))
    out = args.out
    if out is not None and out.suffix not in (".h5", ".hdf5"):
        parser.error(f"--out must end in .h5 or .hdf5, got {str(out)!r}")
    if out is not None and out.is_dir():
        parser.error(f"--out {str(out)!r} is a directory")
    progress = None if args.quiet else _progress_bar
    path = ensure_dataset(config, progress) if out is None else generate_dataset(config, out, progress)
    dataset = load_dataset(path)
    print(f"data equivariance error (trajectory): {dataset.data_ee_trajectory:.6g}")
    print(f"data equivariance error (matched one-step): {dataset.data_ee_one_step_mean:.6g}")
    print(f"path: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
