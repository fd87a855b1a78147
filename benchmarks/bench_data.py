"""Benchmark of the data engine: batched vs one-at-a-time PhiFlow, and the default dataset.

    python benchmarks/bench_data.py            # 64x64, 16 simulations, 6 steps; default dataset
    python benchmarks/bench_data.py --quick    # 32x32, 8 simulations, 4 steps; no default dataset

Prints seconds per simulation-step of the batched generator (all simulations in one
PhiFlow batch) and of a plain loop running the same simulations one at a time with the
same physics, their ratio, and the wall time of generating the default dataset into a
temporary data directory. The first step of each run (set-up) is included: it is part
of what a user waits for.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import DataConfig, ensure_dataset, load_dataset  # noqa: E402
from core.data.simulate import run_simulations  # noqa: E402


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--quick", action="store_true", help="32x32, few steps, no default dataset")
    parser.add_argument("--grid", type=int, default=None)
    parser.add_argument("--sims", type=int, default=None, help="simulations per orientation")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--skip-default", action="store_true", help="do not time the default dataset")
    args = parser.parse_args()
    grid = args.grid or (32 if args.quick else 64)
    sims = args.sims or (2 if args.quick else 4)
    steps = args.steps or (4 if args.quick else 6)
    config = DataConfig(grid=grid, sims=sims, frames=steps)
    total = 4 * sims

    t0 = time.perf_counter()
    run_simulations(config, range(total))
    batched = (time.perf_counter() - t0) / (steps * total)

    t0 = time.perf_counter()
    for member in range(total):
        run_simulations(config, [member])
    looped = (time.perf_counter() - t0) / (steps * total)

    print(f"grid {grid}x{grid}, {total} simulations, {steps} steps, cpu count {os.cpu_count()}")
    print(f"batched:   {batched:.4f} s per simulation-step")
    print(f"loop:      {looped:.4f} s per simulation-step")
    print(f"speed-up:  {looped / batched:.2f}x")

    if not (args.quick or args.skip_default):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["APPROXSYM_DATA_DIR"] = tmp
            default = DataConfig()
            t0 = time.perf_counter()
            path = ensure_dataset(default)
            seconds = time.perf_counter() - t0
            ds = load_dataset(path)
            print(
                f"default dataset (grid {default.grid}, {4 * default.sims} simulations, "
                f"{default.frames} frames): "
                f"{seconds:.1f} s, {path.stat().st_size / 1e6:.2f} MB, data equivariance error "
                f"{ds.data_equivariance_error:.3g}"
            )


if __name__ == "__main__":
    main()
