"""What the saved window of the smoke flow contains, per orientation: is test-future new physics?

    python benchmarks/bench_flow.py [--levels 0.3,0.9] [--data '{"buoyancy": 0.05}'] [--data-dir DIR]

For each level (buoyancy difference) of the ``cpu`` sweep preset's data, with the overrides in
``--data``, prints per orientation: the RMS speed at the start of the validation block and of
test-future and at the last frame; the first frame at which the plume's smoke (> 0.05) reaches
the wall it rises towards ("-": never); and, on the test-future rollout windows of the default
split (two input frames), the RMSE of linear extrapolation over that of persistence, one step
ahead and over the whole rollout. A plume that reaches the wall inside test-future meets physics
(the impact) that no training frame shows, which no model can learn from the training block.
Datasets go to DIR (default: a fresh temporary folder), never to assets/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SMOKE_THRESHOLD = 0.05


def wall_frame(smoke: np.ndarray, orientation: int) -> int | None:
    """First frame at which smoke above SMOKE_THRESHOLD fills a cell of the last row in the
    plume's rising direction; ``smoke`` is ``(T, N, N)`` of one simulation; None if never."""
    from core.symmetry import rotate_scalar

    upright = rotate_scalar(smoke, -orientation)  # rows now run along the rise (y up)
    reached = (upright[:, -1, :] > SMOKE_THRESHOLD).any(axis=-1)
    return int(np.argmax(reached)) if reached.any() else None


def baseline_ratios(velocity: np.ndarray, splits) -> np.ndarray:
    """Linear extrapolation RMSE / persistence RMSE on test-future, per orientation: ``(4, 2)``,
    one step ahead and over the whole rollout."""
    from core.train.baseline import LinearExtrapolation, Persistence
    from core.train.evaluate import rollout_split

    errors = []
    for model in (LinearExtrapolation(), Persistence()):
        _, truth, pred = rollout_split(model, velocity, splits, "test_future", splits.future_steps)
        sq = ((pred - truth) ** 2).reshape(4, -1, *truth.shape[1:])  # orientation-major
        errors.append(
            np.stack(
                [np.sqrt(sq[:, :, 0].mean(axis=(1, 2, 3, 4))), np.sqrt(sq.mean(axis=(1, 2, 3, 4, 5)))], 1
            )
        )
    return errors[0] / errors[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="0.3,0.9")
    parser.add_argument("--data", default="{}", help="DataConfig overrides as JSON")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    os.environ["APPROXSYM_DATA_DIR"] = args.data_dir or tempfile.mkdtemp(prefix="bench-flow-")
    from core.data import ensure_dataset, load_dataset
    from core.sweep import SweepConfig
    from core.train.samples import SplitSpec, make_splits

    try:
        levels = tuple(float(x) for x in args.levels.split(","))
        cfg = SweepConfig(levels=levels, data=json.loads(args.data))
    except (ValueError, json.JSONDecodeError) as exc:
        print(f"bench_flow: {exc}", file=sys.stderr)
        return 2
    for level in cfg.levels:
        dcfg = cfg.data_config(level)
        data = load_dataset(ensure_dataset(dcfg))
        velocity, smoke = np.asarray(data.velocity), np.asarray(data.smoke)
        splits = make_splits(velocity.shape[1], velocity.shape[2], SplitSpec(input_frames=2))
        marks = (splits.val_start, splits.future_start, velocity.shape[2] - 1)
        print(f"Δb {level}: frames {dcfg.frames}, buoyancy {dcfg.buoyancy}; val from frame {marks[0]}, "
              f"test-future from {marks[1]}")  # fmt: skip
        ratios = baseline_ratios(velocity, splits)
        for o in range(4):
            speed = [float(np.sqrt((velocity[o, :, t] ** 2).mean())) for t in marks]
            walls = [wall_frame(smoke[o, s], o) for s in range(smoke.shape[1])]
            first = min((w for w in walls if w is not None), default=None)
            one, whole = ratios[o]
            print(f"  orientation {o}: RMS speed {speed[0]:.3f} / {speed[1]:.3f} / {speed[2]:.3f}; "
                  f"wall reached at frame {'-' if first is None else first}; linear / persistence "
                  f"{one:.2f} one step, {whole:.2f} rollout")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
