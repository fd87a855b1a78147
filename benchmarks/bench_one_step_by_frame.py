"""Where along a simulation each model of a sweep beats persistence, one step at a time.

    APPROXSYM_DATA_DIR=DIR python benchmarks/bench_one_step_by_frame.py [SWEEP_FOLDER] [--levels 0,0.5,0.9]

Needs the sweep's runs (their checkpoints) in DIR/runs: the data directory the sweep ran in,
e.g. the APPROXSYM_DATA_DIR that ``python -m core.assets`` ran with (the shipped sweep's rows
name runs that are not shipped). For every row at the chosen levels it prints the
one-step velocity RMSE over persistence's (the same states, every orientation), by the block the
predicted frame falls in: the first training frames, the rest of the training block, the
validation block and test-future (core.train.samples.Splits.frame_regions), for the training
simulations and for the held-out one. Rows without a loadable run are named and skipped.

Why: a test-future rollout starts from the last, fastest frames of the training simulations and a
test-domain rollout from the first frames of a held-out one, so a model can be ahead on one split
and behind on the other for reasons a whole-rollout RMSE cannot show.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import load_dataset  # noqa: E402
from core.store.paths import assets_dir  # noqa: E402
from core.store.runs import dataset_path_of  # noqa: E402
from core.train.baseline import Persistence  # noqa: E402
from core.train.checkpoints import load_run  # noqa: E402
from core.train.evaluate import splits_of_run  # noqa: E402
from core.train.rollout import rollout  # noqa: E402
from core.train.samples import frames_for  # noqa: E402

#: Newest input frames up to this one count as "the first training frames".
FIRST_FRAMES = 4


def frame_bands(splits) -> list[tuple[str, int, int]]:
    """``[(name, first t, last t)]`` over the newest input frame ``t`` of a one-step state."""
    regions = {name: (a, b) for name, a, b in splits.frame_regions()}
    a, b = regions["training"]
    return [
        (f"t {a}-{FIRST_FRAMES}", a, FIRST_FRAMES),
        (f"t {FIRST_FRAMES + 1}-{b}", FIRST_FRAMES + 1, b),
        ("validation", *regions["validation"]),
        ("test-future", *regions["test-future"]),
    ]


@torch.no_grad()
def _one_step_squared_errors(model, frames: np.ndarray, sims, f: int) -> np.ndarray:
    """Mean squared velocity error of one step ``(4 * len(sims), T - f)``, states ordered by newest frame."""
    inputs = np.stack(
        [
            frames[o, s, t - f + 1 : t + 1]
            for o in range(4)
            for s in sims
            for t in range(f - 1, frames.shape[2] - 1)
        ]
    )
    truth = np.stack(
        [frames[o, s, t + 1, :2] for o in range(4) for s in sims for t in range(f - 1, frames.shape[2] - 1)]
    )
    preds = [
        rollout(model, torch.as_tensor(inputs[i : i + 64]), 1)[:, 0, :2].numpy()
        for i in range(0, len(inputs), 64)
    ]
    err = ((np.concatenate(preds) - truth) ** 2).mean(axis=(1, 2, 3))
    return err.reshape(4 * len(sims), -1)


def band_ratios(model, frames: np.ndarray, splits, sims) -> list[float]:
    """One-step RMSE / persistence RMSE per band of :func:`frame_bands` (floats, in band order)."""
    f = splits.spec.input_frames
    velocity = np.ascontiguousarray(frames[:, :, :, :2])
    model_err = _one_step_squared_errors(model, frames, sims, f)
    persistence_err = _one_step_squared_errors(Persistence(), velocity, sims, f)
    ratios = []
    for _, a, b in frame_bands(splits):
        cols = slice(a - (f - 1), b - (f - 1) + 1)
        ratios.append(float(np.sqrt(model_err[:, cols].mean() / persistence_err[:, cols].mean())))
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", nargs="?", help="sweep folder (default: the shipped sweep)")
    parser.add_argument("--levels", default="0,0.5,0.9", help="comma-separated levels (default 0,0.5,0.9)")
    args = parser.parse_args(argv)
    folder = Path(args.sweep) if args.sweep else next((assets_dir() / "sweeps").iterdir())
    rows = json.loads((folder / "results.json").read_text())["rows"]
    levels = {round(float(v), 6) for v in args.levels.split(",")}
    torch.set_num_threads(2)
    header = None
    for row in sorted(rows, key=lambda r: (r["model"], r["level"])):
        if round(row["level"], 6) not in levels:
            continue
        try:
            loaded = load_run(row["run_id"])
        except (FileNotFoundError, ValueError) as exc:
            print(f"{row['model']} Δb {row['level']}: skipped ({exc})")
            continue
        frames = frames_for(loaded.model.config, load_dataset(dataset_path_of(loaded.info)))
        splits = splits_of_run(loaded.info)
        if header is None:
            header = "  ".join(name for name, _, _ in frame_bands(splits))
            print(f"one-step RMSE / persistence by newest input frame: {header}")
        parts = []
        for label, sims in (("training sims", splits.train_sims), ("held-out", splits.domain_sims)):
            values = band_ratios(loaded.model, frames, splits, sims)
            parts.append(f"{label} " + " ".join(f"{v:.2f}" for v in values))
        print(f"{row['model']:>8} Δb {row['level']:<4g} " + " | ".join(parts), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
