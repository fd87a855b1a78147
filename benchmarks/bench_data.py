"""Benchmark of the data engine: batched vs one-at-a-time, and the default dataset.

    python benchmarks/bench_data.py                 # 64x64, 16 simulations, CPU, default dataset
    python benchmarks/bench_data.py --device cuda   # the same on a GPU (torch float64 on CUDA)
    python benchmarks/bench_data.py --quick         # 32x32, 8 simulations, no default dataset

Prints seconds per simulation-step of

- the new engine ("dct": PhiFlow on torch, jit-compiled, exact DCT projection), all 4*S
  simulations in one batch;
- the reference engine ("scipy": PhiFlow on numpy with SciPy CG, the old path), one
  simulation per call;
- the new engine, one simulation per call;

their ratios, and the wall time of generating the default dataset (``DataConfig()``: the
simulation, the matched one-step EE, the trajectory EE and the file write) in a fresh
process, so the jit trace is paid as a user pays it (the imports are timed apart).
Per-step figures are steady-state: each engine and batch size first runs two warm-up
steps (jit tracing, caches), which are not counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.data import DataConfig, SmokeStepper  # noqa: E402
from core.data.simulate import resolve_device  # noqa: E402

_DEFAULT_DATASET = """
import os, sys, time, tempfile
t0 = time.perf_counter()
import torch
torch.set_num_threads({threads})
import phi.field, phi.physics.advect, phiml.backend.torch
from core.data import DataConfig, ensure_dataset, load_dataset
t1 = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    os.environ["APPROXSYM_DATA_DIR"] = tmp
    path = ensure_dataset(DataConfig(), device={device!r})
    t2 = time.perf_counter()
    ds = load_dataset(path)
    print(f"{{t1 - t0:.2f}} {{t2 - t1:.2f}} {{path.stat().st_size / 1e6:.2f}} "
          f"{{ds.data_ee_trajectory:.4g}} {{ds.data_ee_one_step_mean:.4g}}")
"""


def seconds_per_sim_step(
    config: DataConfig, members: list[int], solver: str, device: str, steps: int
) -> float:
    """Steady-state wall seconds per simulation-step of one batch of ``members``."""
    stepper = SmokeStepper(config, members, device, solver)
    state = stepper.initial_state()
    for _ in range(2):  # warm-up: jit trace, DCT matrices, PhiFlow caches
        state, _ = stepper.step(state)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        state, _ = stepper.step(state)
    _sync(device)
    return (time.perf_counter() - t0) / (steps * len(members))


def one_at_a_time(config: DataConfig, count: int, solver: str, device: str, steps: int) -> float:
    """Mean seconds per simulation-step running ``count`` simulations one per call."""
    # Cycle through the orientations first, so a short loop still sees all four physics.
    members = [(i % 4) * config.sims + (i // 4) % config.sims for i in range(max(count, 1))]
    return sum(seconds_per_sim_step(config, [m], solver, device, steps) for m in members) / len(members)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def default_dataset(device: str, threads: int) -> str:
    """Generate the default dataset in a fresh process; return the line to print."""
    code = _DEFAULT_DATASET.format(device=device, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    imports, seconds, megabytes, trajectory, one_step = out.stdout.split()
    d = DataConfig()
    return (
        f"default dataset (grid {d.grid}, {4 * d.sims} simulations, {d.frames} frames): {seconds} s "
        f"(+ imports of torch and PhiFlow {imports} s), {megabytes} MB, "
        f"data EE trajectory {trajectory}, one-step {one_step}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="32x32, 8 simulations, no default dataset")
    parser.add_argument(
        "--device", default="cpu", choices=("auto", "cpu", "cuda"), help="new engine's device"
    )
    parser.add_argument("--grid", type=int, default=None)
    parser.add_argument("--sims", type=int, default=None, help="simulations per orientation")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run")
    parser.add_argument("--loop", type=int, default=4, help="simulations timed one at a time")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--skip-default", action="store_true", help="do not time the default dataset")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    grid = args.grid or (32 if args.quick else 64)
    sims = args.sims or (2 if args.quick else 4)
    steps = args.steps or (4 if args.quick else 6)
    config = DataConfig(grid=grid, sims=sims, frames=steps + 2)
    total = 4 * sims

    batched = seconds_per_sim_step(config, list(range(total)), "dct", device, steps)
    reference = one_at_a_time(config, args.loop, "scipy", "cpu", steps)
    single = one_at_a_time(config, args.loop, "dct", device, steps)

    name = torch.cuda.get_device_name() if device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"grid {grid}x{grid}, {total} simulations, {steps} timed steps, device {name}")
    print(f"new engine, batched ({total} sims):    {batched:.5f} s per simulation-step")
    print(
        f"reference engine, one at a time:      {reference:.5f} s per simulation-step (numpy + SciPy CG, cpu)"
    )
    print(f"new engine, one at a time:            {single:.5f} s per simulation-step")
    print(f"batched new vs one-at-a-time reference: {reference / batched:.1f}x")
    print(f"batched new vs one-at-a-time new:       {single / batched:.1f}x")
    if not (args.quick or args.skip_default):
        print(default_dataset(device, args.threads))
    print(f"(os.cpu_count() = {os.cpu_count()})")


if __name__ == "__main__":
    main()
