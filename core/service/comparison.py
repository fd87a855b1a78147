"""The Compare page: several runs rolled out side by side from one simulation, their
errors and equivariance, their relaxed weights, and where along a simulation each breaks symmetry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from core.service.common import note_symmetric_data
from core.service.runs import run_titles
from core.sweep.aggregate import split_title  # noqa: F401 (for the Compare page)

COMPARE_STEPS = 20


SPLIT_NAMES = {"test-future": "test_future", "test-domain": "test_domain"}


def relaxation_maps(model: Any) -> list[dict[str, Any]]:
    """How far each relaxed layer's weights moved from equal values, per kernel offset.

    Uses the model's ``relaxation_summary()`` (RSteer, RGroup) and returns one dict per layer:
    ``name``; ``deviation`` ``(K, K)``, mean |w(y) - mean_y w| / mean |w| at offset y
    (0 everywhere = tied weights, exactly equivariant); ``asymmetry`` ``(K, K)``, the
    part of it that breaks C4 (distance to the rotation-orbit mean); and their means
    ``relative_deviation`` / ``relative_asymmetry``; ``irrep_energy``, the fractions of
    the weights' energy in the C4 irrep parts (trivial / sign / rotation). The maps are
    flipped to rows-up so a heatmap (row 0 at the bottom) shows offsets where they are in
    space; the models read kernels rows-down (e2cnn's convention). A model whose relaxed weights
    have no kernel offsets (RGroup: w_l(h) per group element) has ``deviation`` and ``asymmetry``
    None. Empty for models without relaxed weights.
    """
    inner = getattr(model, "model", model)  # unwrap core.train.rollout.Scaled
    summary_fn = getattr(inner, "relaxation_summary", None)
    if summary_fn is None:
        return []
    out = []
    for i, layer in enumerate(summary_fn()):
        maps = layer.get("deviation_map") is not None
        if not maps and not layer.get("irrep_energy"):
            continue
        out.append(
            {
                "name": f"layer {layer.get('layer', i)}",
                "deviation": np.asarray(layer["deviation_map"], dtype=float)[::-1].copy() if maps else None,
                "asymmetry": np.asarray(layer.get("asymmetry_map", layer["deviation_map"]), dtype=float)[
                    ::-1
                ].copy()
                if maps
                else None,
                "relative_deviation": float(layer.get("relative_deviation", np.nan)),
                "relative_asymmetry": float(layer.get("relative_asymmetry", np.nan)),
                "irrep_energy": {k: float(v) for k, v in (layer.get("irrep_energy") or {}).items()},
            }
        )
    return out


def split_choices(run_ids: list[str]) -> dict[str, int]:
    """How many simulations each split offers for these runs: ``{"test-future": n, "test-domain": m}``.

    A split with 0 (e.g. test-domain of a dataset with one simulation per orientation,
    which holds none out) cannot be compared. Uploaded runs, which record no split,
    count every simulation.
    """
    from core.store.runs import find_run_dir, read_run

    out = {name: 0 for name in SPLIT_NAMES}
    for run_id in run_ids:
        info = read_run(*find_run_dir(run_id))
        split = info.config.get("split")
        n_all = ((info.config.get("dataset") or {}).get("config") or {}).get("sims", 1)
        for name, key in SPLIT_NAMES.items():
            if not isinstance(split, dict):
                n = int(n_all)
            else:
                n = len(split.get("domain_sims" if key == "test_domain" else "train_sims") or ())
            out[name] = max(out[name], n)
    return out


def compare_runs(
    run_ids: list[str], split: str, sim: int, orientation: int, steps: int = COMPARE_STEPS
) -> dict[str, Any]:
    """Roll out several runs from the same simulation and measure them side by side.

    ``split``: "test-future" or "test-domain"; ``sim``: index into that split's
    simulations; ``orientation``: 0..3. Rollouts come from core.train.evaluate.display_rollout
    on the first run's dataset; the first run's truth is the reference. Runs are named by
    :func:`run_titles`, as in the pickers (numbered where equal, shipped ones marked). Returns a dict:

    - ``truth``: ``(T, 2, N, N)`` true velocity for the T <= ``steps`` predicted frames;
    - ``predictions``: ``{label: (T, 2, N, N)}`` per run;
    - ``rmse``: ``{label: (T,)}`` root-mean-square error per step (velocity units), plus
      ``"persistence"``: the error of predicting "next frame = this frame";
    - ``equivariance``: ``{label: {k: error}}`` per group element (k quarter turns, 1..3),
      measured on the four orientations' initial frames;
    - ``table``: list of row dicts (run, model, RMSE, persistence RMSE, MAE, equivariance errors);
    - ``relaxation``: ``{label: [layer dicts]}`` for relaxed models;
    - ``models``: ``{label: registered model name}``, so a renamed run keeps its model's colour;
    - ``notes``: what could not be shown (e.g. a run that does not fit the dataset);
    - ``steps``: T; ``dataset``: the file name used.
    Raises ValueError for a bad split/orientation, FileNotFoundError if no run names a dataset.
    """
    from core.data import load_dataset
    from core.train.checkpoints import load_run

    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {sorted(SPLIT_NAMES)}, got {split!r}")
    if orientation not in (0, 1, 2, 3):
        raise ValueError(f"orientation must be 0, 1, 2 or 3, got {orientation!r}")
    loaded = [load_run(r) for r in run_ids]
    source = next(((lr, p) for lr in loaded if (p := dataset_file_of(lr.info))), None)
    if source is None:
        raise FileNotFoundError("none of the chosen runs names a dataset that exists here")
    first, ds_path = source
    dataset = load_dataset(ds_path)
    labels = {
        lr.info.id: t
        for lr, t in zip(loaded, run_titles([lr.info for lr in loaded]), strict=True)  # as in the pickers
    }
    out: dict[str, Any] = {"truth": None, "notes": [], "predictions": {}, "rmse": {}}
    out.update(equivariance={}, relaxation={}, table=[], models={}, dataset=ds_path.name)
    for lr in [first] + [x for x in loaded if x is not first]:
        _compare_one(out, lr, labels[lr.info.id], dataset, (SPLIT_NAMES[split], int(sim), orientation, steps))
    if out["truth"] is None:
        raise ValueError("; ".join(out["notes"]) or "no run could be rolled out")
    out["steps"] = int(out["truth"].shape[0])
    return out


def _compare_one(out: dict[str, Any], lr: Any, label: str, dataset: Any, choice: tuple) -> None:
    """Roll out one loaded run for :func:`compare_runs` and add its results (or a note) to ``out``."""
    import torch

    from core.symmetry import model_equivariance_error
    from core.train.evaluate import display_rollout
    from core.train.samples import frames_for

    key, sim, orientation, steps = choice
    split = next(name for name, k in SPLIT_NAMES.items() if k == key)
    frames = frames_for(lr.model.config, dataset)  # (4, S, T, C, N, N): velocity, and smoke if it sees it
    try:
        sims = _split_sims(lr, frames, key)
        if not sims:
            raise ValueError(f"{split} holds no simulations for this run's dataset")
        shown = sims[min(max(sim, 0), len(sims) - 1)]
        # an uploaded run records no split: roll its bare model out from frame 0
        target = lr if "split" in lr.info.config else lr.model
        d = display_rollout(target, frames, key, shown, orientation, steps)
    except (ValueError, KeyError) as exc:
        out["notes"].append(f"{label}: not shown ({exc})")
        return
    truth = out["truth"]
    f = lr.model.config.input_frames
    if truth is None:
        truth = out["truth"] = d.truth
        if sim >= len(sims):
            out["notes"].append(f"{split} has {len(sims)} simulation(s); showing the last of them.")
        velocity = lr.model.config.frame_layout.velocity
        # persistence: repeat the last input
        last = frames[orientation, d.simulation, d.start + f - 1, velocity]
        out["rmse"]["persistence (next = this frame)"] = np.sqrt(
            ((truth - last[None]) ** 2).mean(axis=(1, 2, 3))
        )
        out["persistence"] = float(np.sqrt(((truth - last[None]) ** 2).mean()))
    elif d.truth.shape != truth.shape or not np.array_equal(d.truth, truth):
        out["notes"].append(f"{label}: not shown (its split or input frames start the rollout elsewhere)")
        return
    window = torch.as_tensor(frames[:, d.simulation, d.start : d.start + f])  # (4, F, C, N, N)
    channels = window.shape[2]
    ee = model_equivariance_error(lr.model, window.reshape(4, channels * f, *window.shape[-2:]), channels)
    err = d.prediction - truth
    out["predictions"][label] = d.prediction
    out["rmse"][label] = np.sqrt((err**2).mean(axis=(1, 2, 3)))
    out["equivariance"][label] = ee.per_element
    out["relaxation"][label] = relaxation_maps(lr.model)
    out["models"][label] = lr.info.model_name
    out["table"].append(
        {
            "run": label,
            "RMSE": float(f"{np.sqrt((err**2).mean()):.3g}"),
            "persistence RMSE": float(f"{out['persistence']:.3g}"),
            "MAE": float(f"{np.abs(err).mean():.3g}"),
            "equivariance error": float(f"{ee.mean:.3g}"),
            "relative equivariance error": float(f"{ee.relative_mean:.3g}"),
            "id": lr.info.id,
        }
    )


def equivariance_by_frame(run_ids: list[str], use_stored: bool = True) -> dict[str, Any]:
    """Where along the simulation each run breaks symmetry, beside the data (Figure 4 by frame).

    For every run with a checkpoint and its dataset here: what its evaluation stored in
    metrics.json (``use_stored`` and present), else core.symmetry.equivariance_by_frame on the
    dataset's matched states, measured now. Returns a dict:

    - ``runs``: list of ``{"label", "model", "frames" (T',), "ee" (T',), "data" (T',) or None,
      "dataset", "level"}`` (EE in velocity units; ``frames`` is the newest input frame t,
      predicting t + 1);
    - ``regions``: ``[(name, first t, last t)]``: the frames whose target is in the runs'
      training block, validation block and test-future; empty (with a note) when the runs'
      splits differ, and for uploaded runs, which record no split;
    - ``notes``: runs that could not be measured, and held-out simulations among the states.
    """
    from core.data import load_dataset
    from core.names import run_label
    from core.symmetry import EE_SIMULATIONS
    from core.symmetry import equivariance_by_frame as by_frame
    from core.train.checkpoints import load_run
    from core.train.evaluate import splits_of_run
    from core.train.samples import frames_for

    out: dict[str, Any] = {"runs": [], "regions": [], "notes": []}
    loaded = []
    for run_id in run_ids:
        try:
            lr = load_run(run_id)
        except (OSError, ValueError) as exc:
            out["notes"].append(f"{run_id}: not measured ({exc})")
            continue
        dataset = dataset_file_of(lr.info)
        if dataset is None:
            out["notes"].append(f"{run_label(lr.info.config)}: not measured (its dataset is not here)")
            continue
        loaded.append((lr, dataset))
    labels = run_titles([lr.info for lr, _ in loaded])  # as in the pickers: shipped ones marked
    splits_seen: list = []
    for (lr, dataset), label in zip(loaded, labels, strict=True):
        stored = _stored_by_frame(lr.info) if use_stored else None
        if stored is None:
            ds = load_dataset(dataset)
            frames = frames_for(lr.model.config, ds)
            m = by_frame(lr.model.eval(), frames, ds.data_ee_one_step, lr.model.config.input_frames)
            stored = {"frames": m.frames, "ee": m.model, "data": m.data}
        config = (lr.info.config.get("dataset") or {}).get("config") or {}
        out["runs"].append(
            {
                "label": label,
                "model": lr.info.model_name,
                **stored,
                "dataset": dataset.name,
                "level": config.get("buoyancy_diff"),
            }
        )
        if "split" in lr.info.config:
            sp = splits_of_run(lr.info)
            splits_seen.append(sp.frame_regions())
            held = sorted(set(sp.domain_sims) & set(range(EE_SIMULATIONS)))
            if held:
                out["notes"].append(
                    f"{label}: simulation(s) {held} of the measured states are held out for "
                    "test-domain, so some states at every frame are unseen."
                )
    if splits_seen and all(r == splits_seen[0] for r in splits_seen):
        out["regions"] = splits_seen[0]
    elif splits_seen:
        out["notes"].append(
            "The runs' training, validation and test-future frames differ (different datasets or "
            "settings), so none are shaded: pick runs of one dataset to see them."
        )
    note_symmetric_data(out)
    return out


def _stored_by_frame(info) -> dict[str, Any] | None:
    """A run's frame-by-frame EE as its evaluation stored it in metrics.json (arrays), or None."""
    path = info.paths.get("metrics")
    try:
        record = json.loads(Path(path).read_text()).get("equivariance_by_frame") if path else None
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(record, dict) or not record.get("model") or not record.get("data"):
        return None
    return {
        "frames": np.asarray(record["frames"], dtype=int),
        "ee": np.asarray(record["model"], dtype=float),
        "data": np.asarray(record["data"], dtype=float),
    }


def dataset_file_of(info) -> Path | None:
    """The dataset file a run was trained on, or None (uploaded runs record none)."""
    from core.store.runs import dataset_path_of

    try:
        return dataset_path_of(info)
    except FileNotFoundError:
        return None


def _split_sims(loaded: Any, frames: np.ndarray, key: str) -> tuple[int, ...]:
    """Simulations of split ``key`` as recorded by a run (all of them for an uploaded run)."""
    from core.train.evaluate import splits_of_run

    if "split" not in loaded.info.config:
        return tuple(range(frames.shape[1]))
    return splits_of_run(loaded.info).sims_of(key)
