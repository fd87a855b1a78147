"""Training throughput per model: samples per second of the K-step loss, forward + backward + Adam.

    python benchmarks/bench_training.py [--grid 32] [--batch 16] [--steps 2] [--iters 5]
    python benchmarks/bench_training.py --sweep-level   # time one sweep level (cpu preset)

Prints the device (CUDA when available, else CPU with its thread count) and, per model,
the parameter count, seconds per batch and training samples per second. The figures
depend on what else the machine is doing: say so when you quote them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.models import MODEL_NAMES, ModelConfig, model_from_config  # noqa: E402
from core.train.config import resolve_device  # noqa: E402
from core.train.trainer import step_loss  # noqa: E402


def bench_model(name: str, grid: int, batch: int, steps: int, iters: int, device, options: dict) -> dict:
    """Return {'params', 's_per_batch', 'samples_per_s'} for one model (random inputs shaped as
    the model reads them: ``input_frames`` frames of 2 or, with the smoke, 3 channels)."""
    torch.manual_seed(0)
    config = ModelConfig.for_model(name, **options).for_grid(grid)  # per-cell models: this grid
    model = model_from_config(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, config.in_channels, grid, grid, device=device)
    y = torch.randn(batch, steps, config.frame_channels, grid, grid, device=device)

    def one():
        loss = step_loss(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    one()  # warm-up: e2cnn builds its kernel basis, CUDA loads kernels
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / iters
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"params": params, "s_per_batch": dt, "samples_per_s": batch / dt}


def bench_sweep_level(level: float = 0.3) -> None:
    """Time one level of the default (cpu preset) sweep: dataset + three trainings."""
    import os
    import tempfile

    from core.sweep import SweepConfig, run_sweep

    os.environ.setdefault("APPROXSYM_DATA_DIR", tempfile.mkdtemp(prefix="bench-sweep-"))
    t0 = time.perf_counter()
    result = run_sweep(SweepConfig(levels=(level,)))
    total = time.perf_counter() - t0
    for r in result.rows:
        print(f"  {r['model']:8s} train+eval {r['seconds']:6.1f} s  model EE {r['model_ee_mean']:.4g}")
    n = len(result.rows)
    print(f"one level (dataset + {n} models): {total:.1f} s -> 10 levels ~ {10 * total / 60:.0f} min")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--grid", type=int, default=32)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=2, help="K autoregressive steps in the loss")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--sweep-level", action="store_true")
    args = p.parse_args()
    if args.sweep_level:
        bench_sweep_level()
        return
    device = resolve_device(args.device)
    cpu = f"CPU, {torch.get_num_threads()} threads"
    where = torch.cuda.get_device_name() if device.type == "cuda" else cpu
    print(f"device: {device} ({where}); grid {args.grid}, batch {args.batch}, K={args.steps}")
    from core.sweep import PRESETS

    for name in MODEL_NAMES:
        opts = PRESETS["cpu"]["model"]  # the shipped runs' width, input frames and smoke
        r = bench_model(name, args.grid, args.batch, args.steps, args.iters, device, opts)
        print(
            f"{name:8s} {r['params']:8d} params  {r['s_per_batch'] * 1000:8.1f} ms/batch  "
            f"{r['samples_per_s']:8.1f} samples/s  (options {opts})"
        )


if __name__ == "__main__":
    main()
