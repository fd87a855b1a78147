"""Metrics of a trained model: rollout RMSE, MAE maps, equivariance error; display rollouts; CLI.

``python -m core.train.evaluate RUN_ID [--steps 20]`` re-evaluates a stored run and prints its metrics.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from core.layout import VELOCITY
from core.symmetry import (
    EE_SIMULATIONS,
    data_equivariance_error,
    equivariance_by_frame,
    matched_data_equivariance_by_element,
    matched_data_equivariance_error,
)
from core.train.baseline import Persistence
from core.train.rollout import DEFAULT_STEPS, Scaled, rollout
from core.train.verdict import (  # noqa: F401 (re-exported: the CLIs and tests read them here)
    EVAL_SPLITS,
    WORSE_THAN_PERSISTENCE,
    persistence_warning,
    worse_than_persistence,
)

if TYPE_CHECKING:  # annotations only
    from core.train.config import TrainConfig
    from core.train.samples import Splits


@torch.no_grad()
def rollout_split(
    model: nn.Module, frames: np.ndarray, splits, split: str, steps: int, device="cpu", batch_size: int = 16
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Roll out every (orientation, simulation) of ``split`` from its start frame.

    ``frames`` ``(4, S, T, C, N, N)`` (core.train.samples.model_frames). Returns
    ``(initial, truth, prediction)`` as float32 arrays ``(B, F, C, N, N)``,
    ``(B, n, C, N, N)``, ``(B, n, C, N, N)`` with ``B = 4 * simulations`` ordered
    orientation-major and ``n = min(steps, frames available)``; None if the split is
    empty (e.g. test_domain with one simulation).
    """
    sims = splits.sims_of(split)
    f = splits.spec.input_frames
    start = splits.start_of(split)
    n = min(steps, splits.n_frames - start - f)
    if not sims or n < 1:
        return None
    init = np.stack([frames[o, s, start : start + f] for o in range(4) for s in sims]).astype(np.float32)
    truth = np.stack([frames[o, s, start + f : start + f + n] for o in range(4) for s in sims])
    truth = truth.astype(np.float32)
    model.eval()
    preds = []
    for i in range(0, len(init), batch_size):
        x = torch.as_tensor(init[i : i + batch_size], device=device)
        preds.append(rollout(model, x, n).cpu().numpy())
    return init, truth, np.concatenate(preds)


def evaluate_model(
    model: nn.Module,
    frames: np.ndarray,
    splits,
    steps: int = DEFAULT_STEPS,
    device="cpu",
    one_step_ee: np.ndarray | None = None,
    one_step_by_element: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Evaluate a model (physical units, e.g. a loaded checkpoint) on a dataset's test splits.

    ``frames``: ``(4, S, T, C, N, N)``, the velocity (C = 2) or, for a model that sees the
    smoke, velocity and smoke (C = 3; core.train.samples.frames_for). Every error is of the
    predicted velocity: a smoke model's smoke is an input it carries forward, not a score.
    ``splits``: the run's core.train.samples.Splits;
    ``one_step_ee``: the dataset's matched one-step data EE ``(4, S, T-1)`` if it has one;
    ``one_step_by_element``: the same per rotation ``(4, S, 3, T-1)``
    (Dataset.data_ee_one_step_by_element) if it has one.
    Returns ``(metrics, arrays)``. ``metrics[split]`` (split in test_future, test_domain;
    None when empty) has ``rmse`` (over all steps), ``rmse_per_step``,
    ``rmse_per_orientation`` (4), ``steps``, ``start``, and the persistence baseline's
    ``persistence_rmse`` / ``persistence_rmse_per_step`` on the same windows.
    ``metrics["worse_than_persistence"]``: :func:`worse_than_persistence`, the splits on which
    the model is worse than predicting no change.
    ``metrics["equivariance_error"]``: core.symmetry's EquivarianceError as a dict, averaged
    over core.symmetry.equivariance_states; ``metrics["data_ee_one_step"]``: the dataset's
    matched one-step data EE on the same states (None without ``one_step_ee``);
    ``metrics["data_ee_trajectory"]``: the paper's trajectory data EE;
    ``metrics["data_ee_by_element"]``: ``{"90", "180", "270"}``, the matched one-step data EE per
    rotation on the same states (None without ``one_step_by_element``);
    ``metrics["irrep_energy"]``: :func:`relaxed_irrep_energy` of the model;
    ``metrics["equivariance_by_frame"]``: the same model and data EE frame by frame
    (core.symmetry.EquivarianceByFrame.to_dict) with ``regions``, Splits.frame_regions. ``arrays`` holds
    ``<split>_mae`` ``(steps, N, N)`` (mean |error| per step and pixel, velocity units),
    ``<split>_rmse`` ``(steps,)``, ``<split>_rmse_orientation`` ``(4, steps)`` and
    ``<split>_persistence_rmse`` ``(steps,)``.
    """
    metrics: dict[str, Any] = {"eval_steps_requested": steps}
    arrays: dict[str, np.ndarray] = {}
    for split in EVAL_SPLITS:
        metrics[split] = _split_metrics(model, frames, splits, split, steps, device, arrays)
    metrics["worse_than_persistence"] = worse_than_persistence(metrics)
    f = splits.spec.input_frames
    model.eval()
    by_frame = equivariance_by_frame(model, frames, one_step_ee, f, device)
    metrics["equivariance_error"] = by_frame.overall.to_dict()
    regions = [list(r) for r in splits.frame_regions()]  # lists: the same after a JSON round trip
    metrics["equivariance_by_frame"] = {**by_frame.to_dict(), "regions": regions}
    metrics["equivariance_states"] = (
        f"every orientation, frames {f - 1}..{frames.shape[2] - 2}, the first "
        f"{min(frames.shape[1], EE_SIMULATIONS)} simulation(s)"
    )
    has_one_step = one_step_ee is not None
    metrics["data_ee_one_step"] = matched_data_equivariance_error(one_step_ee, f) if has_one_step else None
    metrics["data_ee_trajectory"] = data_equivariance_error(frames[:, :, :, _velocity(model)])
    metrics["data_ee_by_element"] = (
        None
        if one_step_by_element is None
        else {f"{90 * k}": v for k, v in matched_data_equivariance_by_element(one_step_by_element, f).items()}
    )
    metrics["irrep_energy"] = relaxed_irrep_energy(model)
    return metrics, arrays


def relaxed_irrep_energy(model: nn.Module) -> dict[str, float] | None:
    """``{"trivial", "sign", "rotation"}``: the shares of each layer's relaxed weight energy in
    the C4 irreps (the model's ``relaxation_summary()`` ``irrep_energy``), summed over layers;
    None for a model without them. ``rotation`` (the ±i pair) over ``sign`` says whether the
    relaxation broke the half-turn too."""
    inner = model.model if isinstance(model, Scaled) else model  # a checkpoint's physical-units wrapper
    summary = getattr(inner, "relaxation_summary", None)
    layers = [layer.get("irrep_energy") for layer in summary()] if callable(summary) else []
    if not layers or any(not energy for energy in layers):
        return None
    return {part: float(sum(energy[part] for energy in layers)) for part in layers[0]}


def _velocity(model) -> slice:
    """The velocity's channels in the frames ``model`` reads (its config's frame layout, core.layout)."""
    return getattr(getattr(model, "config", None), "frame_layout", VELOCITY).velocity


def _split_metrics(model, frames, splits, split: str, steps: int, device, arrays: dict) -> dict | None:
    """Rollout errors of ``model`` and of persistence on one split, of the velocity; fills
    ``arrays``; None if empty."""
    out = rollout_split(model, frames, splits, split, steps, device)
    if out is None:
        return None
    v = _velocity(model)
    truth, pred = out[1][:, :, v], out[2][:, :, v]
    baseline = rollout_split(Persistence(), frames[:, :, :, v], splits, split, steps, "cpu")[2]
    err = (pred - truth).astype(np.float64)
    sq = err**2
    per_step = np.sqrt(sq.mean(axis=(0, 2, 3, 4)))
    by_orient = np.sqrt(sq.reshape(4, -1, *sq.shape[1:]).mean(axis=(1, 3, 4, 5)))  # (4, steps)
    base_sq = (baseline - truth).astype(np.float64) ** 2
    base_per_step = np.sqrt(base_sq.mean(axis=(0, 2, 3, 4)))
    arrays[f"{split}_mae"] = np.abs(err).mean(axis=(0, 2)).astype(np.float32)
    arrays[f"{split}_rmse"] = per_step.astype(np.float32)
    arrays[f"{split}_rmse_orientation"] = by_orient.astype(np.float32)
    arrays[f"{split}_persistence_rmse"] = base_per_step.astype(np.float32)
    return {
        "rmse": float(np.sqrt(sq.mean())),
        "rmse_per_step": per_step.tolist(),
        "rmse_per_orientation": np.sqrt((by_orient**2).mean(axis=1)).tolist(),
        "persistence_rmse": float(np.sqrt(base_sq.mean())),
        "persistence_rmse_per_step": base_per_step.tolist(),
        "steps": int(err.shape[1]),
        "start": int(splits.start_of(split)),
    }


@dataclass(frozen=True)
class DisplayRollout:
    """One rollout for display: ``truth`` and ``prediction`` ``(steps, 2, N, N)`` (velocity;
    a smoke model's predicted smoke is not shown), ``mae`` ``(steps, N, N)`` (mean over
    components of |prediction - truth|), the frame it starts from, and the split /
    simulation / orientation it shows."""

    truth: np.ndarray
    prediction: np.ndarray
    mae: np.ndarray
    start: int
    split: str
    simulation: int
    orientation: int


def splits_of_run(info) -> Any:
    """Rebuild the core.train.samples.Splits recorded in a run's run.json (``info``: a RunInfo)."""
    from core.train.samples import SplitSpec, make_splits

    rec = info.config["split"]
    return make_splits(rec["n_sims"], rec["n_frames"], SplitSpec.from_dict(rec["spec"]))


@torch.no_grad()
def display_rollout(
    run_or_model,
    dataset,
    split: str = "test_future",
    simulation: int | None = None,
    orientation: int = 0,
    steps: int = DEFAULT_STEPS,
) -> DisplayRollout:
    """Roll a model out on one simulation of a dataset, for the dashboard.

    ``run_or_model``: a core.train.checkpoints.LoadedRun (its recorded split decides the start
    frame and which simulations belong to ``split``) or a model in physical units
    (then the rollout starts at frame 0 and any simulation is allowed).
    ``dataset``: a core.data Dataset or an array ``(4, S, T, C, N, N)`` in the model's
    layout (core.train.samples.frames_for).
    ``simulation``: global simulation index (default: the split's first).
    Returns a DisplayRollout; ValueError names a bad split, simulation or orientation.
    """
    from core.train.samples import frames_for

    model = run_or_model.model if hasattr(run_or_model, "info") else run_or_model
    frames = frames_for(model.config, dataset)
    if orientation not in (0, 1, 2, 3):
        raise ValueError(f"orientation must be 0, 1, 2 or 3, got {orientation!r}")
    n_sims, n_frames = frames.shape[1], frames.shape[2]
    if hasattr(run_or_model, "info"):
        splits = splits_of_run(run_or_model.info)
        if (splits.n_sims, splits.n_frames) != (n_sims, n_frames):
            raise ValueError(
                f"dataset has {n_sims} simulations x {n_frames} frames, the run was split for "
                f"{splits.n_sims} x {splits.n_frames}: is this the run's dataset?"
            )
        sims, start, f = splits.sims_of(split), splits.start_of(split), splits.spec.input_frames
    else:
        sims, start = tuple(range(n_sims)), 0
        f = model.config.input_frames
    if not sims:
        raise ValueError(f"split {split!r} has no simulations in this run")
    sim = sims[0] if simulation is None else simulation
    if sim not in sims:
        raise ValueError(f"simulation must be one of {list(sims)} for split {split!r}, got {simulation!r}")
    n = min(steps, n_frames - start - f)
    if n < 1:
        raise ValueError(f"no frames left to roll out after frame {start + f}")
    p = next(model.parameters())
    init = torch.as_tensor(frames[orientation, sim, start : start + f][None], device=p.device)
    model.eval()
    v = _velocity(model)
    pred = rollout(model, init, n)[0, :, v].cpu().numpy()
    truth = frames[orientation, sim, start + f : start + f + n, v]
    return DisplayRollout(
        truth=truth,
        prediction=pred,
        mae=np.abs(pred - truth).mean(axis=1),
        start=start,
        split=split,
        simulation=int(sim),
        orientation=int(orientation),
    )


def evaluate_run_dir(
    run_dir: Path,
    frames: np.ndarray,
    splits: Splits,
    config: TrainConfig,
    device,
    one_step_ee=None,
    one_step_by_element=None,
) -> dict[str, Any]:
    """Evaluate ``run_dir/checkpoint.pt`` (core.train.evaluate.evaluate_model) on ``frames``
    (core.train.samples.model_frames, physical units); write evaluation.npz; return the
    metrics dict. ``one_step_ee``: the dataset's matched one-step data EE, if any;
    ``one_step_by_element``: the same per rotation, if any."""
    from core.store.runs import write_evaluation
    from core.train.checkpoints import load_checkpoint

    model = load_checkpoint(run_dir / "checkpoint.pt").to(device)
    steps = config.eval_steps
    metrics, arrays = evaluate_model(model, frames, splits, steps, device, one_step_ee, one_step_by_element)
    write_evaluation(run_dir, None, arrays)
    return metrics


def evaluate_run(run_id: str, steps: int = DEFAULT_STEPS) -> dict[str, Any]:
    """Re-evaluate a stored run from its checkpoint and dataset; return the metrics dict.

    Writes nothing into shipped runs; for a run in data_dir() it refreshes
    metrics.json and evaluation.npz.
    """
    from core.store.runs import dataset_path_of, write_evaluation
    from core.train.checkpoints import load_run

    loaded = load_run(run_id)
    from core.data import load_dataset
    from core.train.samples import frames_for

    info = loaded.info
    dataset = load_dataset(dataset_path_of(info))
    frames = frames_for(loaded.model.config, dataset)
    one_step = getattr(dataset, "data_ee_one_step", None)
    by_element = getattr(dataset, "data_ee_one_step_by_element", None)
    splits = splits_of_run(info)
    metrics, arrays = evaluate_model(loaded.model, frames, splits, steps, "cpu", one_step, by_element)
    if not info.shipped:
        old = info.metrics or {}
        for key in ("best_epoch", "best_val_loss", "epochs_run"):
            if key in old:
                metrics[key] = old[key]
        write_evaluation(info.path, metrics, arrays)
    return metrics


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """Short human-readable lines for a metrics dict (used by the CLIs), led by a WARNING line
    when the model is worse than persistence (:func:`persistence_warning`)."""
    warning = persistence_warning(metrics)
    lines = [f"WARNING: {warning}"] if warning else []
    for split in EVAL_SPLITS:
        m = metrics.get(split)
        text = "n/a" if not m else f"RMSE {m['rmse']:.4g} over {m['steps']} steps"
        if m and m.get("persistence_rmse") is not None:
            text += (
                f" (persistence {m['persistence_rmse']:.4g}, ratio {m['rmse'] / m['persistence_rmse']:.2f})"
            )
        lines.append(f"{split}: {text}")
    ee = metrics.get("equivariance_error")
    if ee:
        per = ", ".join(f"{k}deg {v:.3g}" for k, v in ee["per_element"].items())
        lines.append(f"model equivariance error (one step): mean {ee['mean']:.4g} ({per})")
    if metrics.get("data_ee_one_step") is not None:
        lines.append(f"data equivariance error (one step, same states): {metrics['data_ee_one_step']:.4g}")
    if metrics.get("data_ee_trajectory") is not None:
        lines.append(
            f"data equivariance error (trajectory, the paper's): {metrics['data_ee_trajectory']:.4g}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    from core.cli import Parser

    parser = Parser(prog="python -m core.train.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("run_id", help="id of a run in data_dir()/runs or assets/runs")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="rollout steps (default 20)")
    parser.add_argument("--json", action="store_true", help="print the full metrics as JSON")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    try:
        metrics = evaluate_run(args.run_id, steps=args.steps)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # CheckpointError, DatasetFileError: one line, not a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(metrics, indent=2) if args.json else "\n".join([args.run_id, *summary_lines(metrics)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
