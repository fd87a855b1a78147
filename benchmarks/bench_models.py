"""Time the three models at equal channel widths; print times, ratios and parameter counts.

Run: ``python benchmarks/bench_models.py [--batch 16 --grid 64 --input-frames 1 --hidden 32]``.
Prints (no assertions; machine load changes the figures):
- train step (forward + backward of MSE + regulariser) per batch, for convnet, e2cnn, rsteer
  and a bare ``nn.Sequential`` of Conv2d/ReLU with the same channel widths;
- eval forward per batch: e2cnn expanding its kernels every call, with its cached kernels
  (the model's eval mode) and e2cnn's ``export()`` to plain Conv2d; rsteer likewise;
- time to expand all kernels once (e2cnn vs rsteer);
- parameter counts at these widths and at the defaults.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from core.models import MODEL_NAMES, ModelConfig, describe_models, model_from_config  # noqa: E402


def pick_device(name: str) -> torch.device:
    """Return the requested device; ``auto`` picks CUDA when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def timed_round_robin(fns: dict, device: torch.device, repeats: int, warmup: int) -> dict[str, float]:
    """Return ``{name: median wall time of fns[name]() in seconds}``.

    The functions take turns, one call each per round, so that load from other
    processes on a shared machine falls on all of them alike.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def plain_network(in_channels: int, hidden: int, layers: int, kernel_size: int) -> nn.Module:
    """Return Conv2d/ReLU layers with the given widths (the lower bound any model here can reach)."""
    widths = [in_channels] + [hidden] * (layers - 1) + [2]
    modules: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        modules.append(nn.Conv2d(a, b, kernel_size, padding=kernel_size // 2))
        if i < layers - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def train_step_fn(model: nn.Module, x: torch.Tensor, target: torch.Tensor):
    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss = (model(x) - target).square().mean()
        if hasattr(model, "regularization_loss"):
            loss = loss + model.regularization_loss()
        loss.backward()

    return step


def forward_fn(model: nn.Module, x: torch.Tensor):
    def forward() -> None:
        with torch.no_grad():
            model(x)

    return forward


def bench_build(name: str, arch: dict, grid: int):
    """The model ``name`` with ``arch``, on a ``grid`` grid if its weights are per cell."""
    return model_from_config(ModelConfig.for_model(name, **arch).for_grid(grid))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--input-frames", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=32, help="hidden channels, all models")
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--kernel-size", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    torch.manual_seed(0)
    shape = (args.batch, 2 * args.input_frames, args.grid, args.grid)
    x = torch.randn(shape, device=device)
    target = torch.randn(args.batch, 2, args.grid, args.grid, device=device)
    arch = {
        "input_frames": args.input_frames,
        "hidden": args.hidden,
        "layers": args.layers,
        "kernel_size": args.kernel_size,
    }
    print(
        f"device {device}, torch threads {torch.get_num_threads()}, load average "
        f"{os.getloadavg()[0]:.2f}; batch {args.batch}, grid {args.grid}, input frames "
        f"{args.input_frames}, hidden {args.hidden} channels, {args.layers} layers, kernel {args.kernel_size}"
    )

    models = {name: bench_build(name, arch, args.grid).to(device) for name in MODEL_NAMES}
    plain_net = plain_network(2 * args.input_frames, args.hidden, args.layers, args.kernel_size)
    models["plain conv2d"] = plain_net.to(device)
    rep, warm = args.repeats, args.warmup

    print("\ntrain step (forward + backward), median per batch")
    for model in models.values():
        model.train()
    train_times = timed_round_robin(
        {name: train_step_fn(model, x, target) for name, model in models.items()}, device, rep, warm
    )
    for name, model in models.items():
        params = sum(p.numel() for p in model.parameters())
        print(f"  {name:14s} {1000 * train_times[name]:8.1f} ms   {params:9,d} parameters")
    base = train_times["plain conv2d"]
    print(
        f"  ratios: rsteer / e2cnn {train_times['rsteer'] / train_times['e2cnn']:.2f}, "
        f"e2cnn / plain {train_times['e2cnn'] / base:.2f}, "
        f"rsteer / plain {train_times['rsteer'] / base:.2f}, "
        f"convnet / plain {train_times['convnet'] / base:.2f}"
    )

    print("\nkernel expansion alone (all layers, once), median")
    e2cnn, rsteer = models["e2cnn"], models["rsteer"]
    expand = timed_round_robin(
        {
            "e2cnn": lambda: [c.expand_parameters() for c in e2cnn.convs],
            "rsteer": lambda: [c.kernel() for c in rsteer.convs],
        },
        device,
        rep,
        warm,
    )
    print(f"  e2cnn {1000 * expand['e2cnn']:.2f} ms, rsteer {1000 * expand['rsteer']:.2f} ms")

    print("\neval forward (no grad), median per batch")
    # Separate copies per mode, so that the round robin does not flip one model's mode.
    e2cnn_eval, rsteer_eval = copy.deepcopy(e2cnn).eval(), copy.deepcopy(rsteer).eval()
    exported = e2cnn.export().to(device)
    with torch.no_grad():
        diff = float((exported(x) - e2cnn_eval(x)).abs().max())
    forward = timed_round_robin(
        {
            "e2cnn expanding every call": forward_fn(e2cnn.train(), x),
            "e2cnn cached kernels (eval)": forward_fn(e2cnn_eval, x),
            "e2cnn export() to Conv2d": forward_fn(exported, x),
            "rsteer expanding every call": forward_fn(rsteer.train(), x),
            "rsteer cached kernels (eval)": forward_fn(rsteer_eval, x),
            "convnet": forward_fn(models["convnet"].eval(), x),
            "plain conv2d": forward_fn(models["plain conv2d"].eval(), x),
        },
        device,
        rep,
        warm,
    )
    for name, seconds in forward.items():
        print(f"  {name:30s} {1000 * seconds:7.1f} ms")
    print(f"  export() vs cached max |difference| {diff:.1e}")

    print("\nparameter counts at the defaults:", describe_models())


if __name__ == "__main__":
    main()
