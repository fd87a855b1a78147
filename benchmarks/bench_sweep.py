"""Wall time of one small but real sweep with the local engine and with Ray.

    python benchmarks/bench_sweep.py                       # tiny sizes, 2 levels x 2 models
    python benchmarks/bench_sweep.py --size preset         # the cpu preset's sizes (minutes)
    python benchmarks/bench_sweep.py --device cuda --preset gpu --size preset   # on a GPU machine
    python benchmarks/bench_sweep.py --address HOST:PORT   # Ray side on a running cluster

Each engine gets a fresh data directory, so both make their datasets. Ray's start-up
(``ray.init`` of a local Ray) is timed on its own and left out of the Ray sweep's time;
both ratios are printed. On a shared machine the figures move with the load: say so
when you quote them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.store.paths import DATA_DIR_ENV  # noqa: E402
from core.sweep import PRESETS, SweepConfig, run_sweep  # noqa: E402

TINY = {
    "data": {"grid": 16, "frames": 12, "sims": 2},
    "train": {"epochs": 1, "batch_size": 4, "rollout_steps": 2, "max_train_windows": 8, "eval_steps": 3},
    "model": {"hidden": 8, "layers": 2},
}


def make_config(args) -> SweepConfig:
    """The benchmarked sweep: the preset's sizes, or the test suite's tiny ones."""
    size = TINY if args.size == "tiny" else {"data": {}, "train": {}, "model": {}}
    models = tuple(m for m in args.models.split(",") if m)
    train = {**size["train"], "device": args.device}
    if args.epochs is not None:
        train["epochs"] = args.epochs
    return SweepConfig(
        levels=tuple(float(v) for v in args.levels.split(",")),
        models=models,
        preset=args.preset,
        data=dict(size["data"]),
        train=train,
        model_options={m: dict(size["model"]) for m in models} if size["model"] else {},
    )


def timed_sweep(config: SweepConfig, engine: str, address: str | None) -> float:
    """Run the sweep in a fresh data directory; return its wall time in seconds."""
    os.environ[DATA_DIR_ENV] = tempfile.mkdtemp(prefix=f"bench-sweep-{engine}-")
    t0 = time.perf_counter()
    result = run_sweep(config, engine=engine, address=address)
    seconds = time.perf_counter() - t0
    if result.status != "done":
        raise SystemExit(f"{engine} sweep ended {result.status}")
    train = sum(r["seconds"] for r in result.rows)
    print(f"{engine:5s} sweep: {seconds:7.1f} s wall ({len(result.rows)} runs, {train:.1f} s of training)")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--levels", default="0,0.5")
    p.add_argument("--models", default="convnet,rsteer")
    p.add_argument("--preset", default="cpu", choices=tuple(PRESETS))
    p.add_argument("--size", default="tiny", choices=("tiny", "preset"), help="tiny sizes or the preset's")
    p.add_argument("--epochs", type=int, help="override the epochs")
    p.add_argument("--device", default="auto", help="training device: auto, cpu, cuda")
    p.add_argument("--ray-cpus", type=int, help="CPUs of the local Ray (default: all)")
    p.add_argument("--address", help="a running Ray cluster instead of a local Ray")
    p.add_argument("--skip-local", action="store_true")
    args = p.parse_args()
    config = make_config(args)
    print(
        f"sweep: levels {config.levels}, models {config.models}, preset {args.preset}, size {args.size}, "
        f"device {args.device}; {os.cpu_count()} CPUs on this machine"
    )
    local = None if args.skip_local else timed_sweep(config, "local", None)

    import ray

    from core.sweep.ray_engine import connect

    t0 = time.perf_counter()
    connect(args.address, args.ray_cpus)
    startup = time.perf_counter() - t0
    resources = ray.cluster_resources()
    print(f"ray start-up: {startup:.1f} s (ray {ray.__version__}; CPUs {resources.get('CPU', 0):g}, "
          f"GPUs {resources.get('GPU', 0):g})")  # fmt: skip
    try:
        on_ray = timed_sweep(config, "ray", args.address)
    finally:
        ray.shutdown()
    if local is not None:
        both = local / (on_ray + startup)
        print(f"local / ray: {local / on_ray:.2f} (sweep only), {both:.2f} (with start-up)")


if __name__ == "__main__":
    main()
