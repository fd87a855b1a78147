"""CLI: ``python -m core.data --buoyancy-diff 0.2 --breaking half_turn --grid 32 --frames 20 --sims 1``.

Generates one dataset (or reuses the cached one when --out is not given), shows a text
progress bar on stderr, and prints the trajectory and matched one-step data equivariance
errors, the latter per rotation with the symmetry the data keeps in words, and the file
path. ``--out NAME`` (no path separator) writes ``data_dir()/datasets/NAME.h5``; ``--out PATH``
writes there and lists the file on the dashboard through a link of the same name in that
folder (core.data.cache.register_dataset). Every DataConfig field is an option. A bad argument exits with
status 2 and one line naming it.
"""

from __future__ import annotations

import sys

from core.cli import Parser, add_config_options, config_from_args, fail, progress_bar
from core.data.cache import ensure_dataset, generate_dataset, listing_link, output_path, register_dataset
from core.data.config import DataConfig
from core.data.store import load_dataset


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 on success, 2 on a bad argument)."""
    parser = Parser(prog="python -m core.data", description="Generate a C4 smoke-plume dataset.")
    names = add_config_options(parser, DataConfig)
    parser.add_argument(
        "--out",
        default=None,
        help="a name (written into the data directory's datasets/, where the dashboard lists it) "
        "or a .h5 path (written there and listed too); default: the dataset cache",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--solver", default="dct", choices=("dct", "scipy"), help="pressure solver")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        config = config_from_args(DataConfig, args, names)
    except ValueError as exc:
        parser.error(str(exc))
    out = None
    if args.out is not None:
        try:
            out = output_path(args.out)
            listing_link(out)  # a name already taken is refused before simulating
        except ValueError as exc:
            parser.error(str(exc))
        if out.is_dir():
            parser.error(f"--out {args.out!r} is a directory")
    progress = None if args.quiet else progress_bar()
    options = {"device": args.device, "solver": args.solver}
    try:
        link = None
        if out is None:
            path = ensure_dataset(config, progress, **options)
        else:
            path = generate_dataset(config, out, progress, **options)
            link = register_dataset(path)
    except ValueError as exc:  # too large for this machine, a device that is not there
        parser.error(str(exc))
    except OSError as exc:  # core.store.atomic.WriteError: the file and the cause, one line
        return fail(str(exc))
    dataset = load_dataset(path)
    print(f"data equivariance error (trajectory): {dataset.data_ee_trajectory:.6g}")
    print(f"data equivariance error (matched one-step): {dataset.data_ee_one_step_mean:.6g}")
    by_element = dataset.one_step_by_element()
    turns = ", ".join(f"{90 * k}°: {v:.6g}" for k, v in by_element.items())
    print(f"matched one-step per rotation: {turns}")
    print(dataset.residual_symmetry().sentence("This data", by_element))
    print(f"path: {path}")
    if link is not None:
        print(f"listed on the dashboard through: {link}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
