"""What the dashboard pages draw, prepared without Streamlit (the read side of the service layer).

Pure functions over the data directory and the shipped assets: list what exists,
summarise a dataset, turn a sweep into curves, and compute a side-by-side
comparison of several runs (rollouts, errors, equivariance). The pages cache
these results and only draw them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.store.paths import assets_dir, data_dir

DATASETS = "datasets"
COMPARE_STEPS = 20


@dataclass(frozen=True)
class Entry:
    """A dataset file or sweep folder the dashboard can show.

    ``name``: file or folder name; ``path``: where it is; ``shipped``: True when it
    comes from the read-only assets folder rather than the data directory.
    """

    name: str
    path: Path
    shipped: bool

    @property
    def label(self) -> str:
        """Name for a select box, marking shipped entries."""
        return f"{self.name} (shipped)" if self.shipped else self.name


def _roots(sub: str) -> list[tuple[Path, bool]]:
    """The data-directory folder first, then the shipped one."""
    return [(data_dir() / sub, False), (assets_dir() / sub, True)]


def dataset_entries() -> list[Entry]:
    """Return every ``*.h5`` dataset under ``datasets/`` of the data dir, then of assets/.

    Newest first within each place; shipped entries come last.
    """
    out: list[Entry] = []
    for root, shipped in _roots(DATASETS):
        if root.is_dir():
            files = sorted(root.glob("*.h5"), key=lambda p: p.stat().st_mtime, reverse=True)
            out += [Entry(p.name, p, shipped) for p in files if not p.name.startswith(".")]
    return out


def sweep_entries() -> list[Entry]:
    """Every sweep with a results.json (core.sweep.list_sweeps), the shipped ones first.

    The shipped sweep is the landing page's default, so it leads the list.
    """
    from core.sweep import list_sweeps

    entries = [Entry(Path(r["path"]).name, Path(r["path"]), bool(r["shipped"])) for r in list_sweeps()]
    return [e for e in entries if e.shipped] + [e for e in entries if not e.shipped]


def sweep_curves(folder: str | Path) -> dict[str, tuple[list[float], list[float]]]:
    """Read a sweep's ``results.json`` into ``{model: (data_errors, model_errors)}``.

    One point per finished (level, model) row: x = the dataset's equivariance error,
    y = the model's mean C4 equivariance error (velocity units), sorted by x. Rows
    without a model error (unfinished or failed runs) are left out. Raises ValueError
    for a file that is not a sweep record.
    """
    path = Path(folder) / "results.json"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{folder} holds no results.json") from None
    rows = record.get("rows") if isinstance(record, dict) else None
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a 'rows' list")
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        x, y = row.get("data_equivariance_error"), row.get("model_ee_mean")
        if x is None or y is None:
            continue
        xs, ys = curves.setdefault(str(row.get("model", "?")), ([], []))
        xs.append(float(x))
        ys.append(float(y))
    for name, (xs, ys) in curves.items():
        order = np.argsort(xs, kind="stable")
        curves[name] = ([xs[i] for i in order], [ys[i] for i in order])
    return curves


def history_series(history: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-epoch loss lists from a run's history.json: ``{"train": [...], "validation": [...]}``.

    Keys present in the history records as ``train_loss`` / ``val_loss``; missing
    series are left out.
    """
    out: dict[str, list[float]] = {}
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = [float(h[key]) for h in history if isinstance(h, dict) and h.get(key) is not None]
        if values:
            out[label] = values
    return out


def relaxation_maps(model: Any) -> list[dict[str, Any]]:
    """How far each relaxed layer's weights moved from equal values, per kernel offset.

    Uses the model's ``relaxation_summary()`` (RSteer) and returns one dict per layer:
    ``name``; ``deviation`` ``(K, K)``, mean |w(y) - mean_y w| / mean |w| at offset y
    (0 everywhere = tied weights, exactly equivariant); ``asymmetry`` ``(K, K)``, the
    part of it that breaks C4 (distance to the rotation-orbit mean); and their means
    ``relative_deviation`` / ``relative_asymmetry``; ``irrep_energy``, the fractions of
    the weights' energy in the C4 irrep parts (trivial / sign / rotation). The maps are
    flipped to rows-up so a heatmap (row 0 at the bottom) shows offsets where they are in
    space; the models read kernels rows-down (e2cnn's convention). Empty for models without relaxed weights.
    """
    inner = getattr(model, "model", model)  # unwrap core.train.rollout.Scaled
    summary_fn = getattr(inner, "relaxation_summary", None)
    if summary_fn is None:
        return []
    out = []
    for i, layer in enumerate(summary_fn()):
        if layer.get("deviation_map") is None:
            continue
        out.append(
            {
                "name": f"layer {layer.get('layer', i)}",
                "deviation": np.asarray(layer["deviation_map"], dtype=float)[::-1].copy(),
                "asymmetry": np.asarray(layer.get("asymmetry_map", layer["deviation_map"]), dtype=float)[
                    ::-1
                ].copy(),
                "relative_deviation": float(layer.get("relative_deviation", np.nan)),
                "relative_asymmetry": float(layer.get("relative_asymmetry", np.nan)),
                "irrep_energy": {k: float(v) for k, v in (layer.get("irrep_energy") or {}).items()},
            }
        )
    return out


# ------------------------------------------------------------------ compare

SPLIT_NAMES = {"test-future": "test_future", "test-domain": "test_domain"}


def run_dataset_name(config: dict[str, Any]) -> str | None:
    """File name of the dataset a run (its run.json dict) was trained on, or None if it records none."""
    value = config.get("dataset")
    if isinstance(value, dict):
        value = value.get("path")
    return Path(value).name if isinstance(value, str) and value else None


def compare_runs(
    run_ids: list[str], split: str, sim: int, orientation: int, steps: int = COMPARE_STEPS
) -> dict[str, Any]:
    """Roll out several runs from the same simulation and measure them side by side.

    ``split``: "test-future" or "test-domain"; ``sim``: index into that split's
    simulations; ``orientation``: 0..3. Rollouts come from core.train.evaluate.display_rollout
    on the first run's dataset; the first run's truth is the reference. Returns a dict:

    - ``truth``: ``(T, 2, N, N)`` true velocity for the T <= ``steps`` predicted frames;
    - ``predictions``: ``{label: (T, 2, N, N)}`` per run;
    - ``rmse``: ``{label: (T,)}`` root-mean-square error per step (velocity units);
    - ``equivariance``: ``{label: {k: error}}`` per group element (k quarter turns, 1..3),
      measured on the four orientations' initial frames;
    - ``table``: list of row dicts (run, model, RMSE, MAE, equivariance errors);
    - ``relaxation``: ``{label: [(layer, (K, K) map)]}`` for relaxed models;
    - ``notes``: what could not be shown (e.g. a run that does not fit the dataset);
    - ``steps``: T; ``dataset``: the file name used.
    Raises ValueError for a bad split/orientation, FileNotFoundError if no run names a dataset.
    """
    import torch

    from core.data import load_dataset
    from core.store.runs import load_run
    from core.symmetry import model_equivariance_error
    from core.train.evaluate import display_rollout

    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {sorted(SPLIT_NAMES)}, got {split!r}")
    if orientation not in (0, 1, 2, 3):
        raise ValueError(f"orientation must be 0, 1, 2 or 3, got {orientation!r}")
    key = SPLIT_NAMES[split]
    loaded = [load_run(r) for r in run_ids]
    source = next(((lr, p) for lr in loaded if (p := _dataset_file(lr.info))), None)
    if source is None:
        raise FileNotFoundError("none of the chosen runs names a dataset that exists here")
    first, ds_path = source
    velocity = np.asarray(load_dataset(ds_path).velocity, dtype=np.float32)
    notes: list[str] = []
    truth = None
    predictions, rmse, equiv, relax, table = {}, {}, {}, {}, []
    for lr in [first] + [x for x in loaded if x is not first]:
        label = f"{lr.info.model_name}·{lr.info.id[-8:]}"
        try:
            sims = _split_sims(lr, velocity, key)
            shown = sims[min(max(int(sim), 0), len(sims) - 1)] if sims else None
            # an uploaded run records no split: roll its bare model out from frame 0
            target = lr if "split" in lr.info.config else lr.model
            d = display_rollout(target, velocity, key, shown, orientation, steps)
        except (ValueError, KeyError) as exc:
            notes.append(f"{label}: not shown ({exc})")
            continue
        if truth is None:
            truth = d.truth
            if int(sim) >= len(sims):
                notes.append(f"{split} has {len(sims)} simulation(s); showing simulation {shown}.")
        elif d.truth.shape != truth.shape or not np.array_equal(d.truth, truth):
            notes.append(f"{label}: not shown (its split or input frames start the rollout elsewhere)")
            continue
        f = lr.model.config.input_frames
        window = velocity[:, d.simulation, d.start : d.start + f]  # (4, F, 2, N, N)
        ee = model_equivariance_error(lr.model, torch.as_tensor(window).reshape(4, 2 * f, *window.shape[-2:]))
        err = d.prediction - truth
        predictions[label] = d.prediction
        rmse[label] = np.sqrt((err**2).mean(axis=(1, 2, 3)))
        equiv[label] = ee.per_element
        relax[label] = relaxation_maps(lr.model)
        table.append(
            {
                "run": lr.info.id,
                "model": lr.info.model_name,
                "RMSE": float(np.sqrt((err**2).mean())),
                "MAE": float(np.abs(err).mean()),
                "equivariance error": ee.mean,
                "relative equivariance error": ee.relative_mean,
            }
        )
    if truth is None:
        raise ValueError("; ".join(notes) or "no run could be rolled out")
    return {
        "truth": truth,
        "predictions": predictions,
        "rmse": rmse,
        "equivariance": equiv,
        "table": table,
        "relaxation": relax,
        "notes": notes,
        "steps": int(truth.shape[0]),
        "dataset": ds_path.name,
    }


def _dataset_file(info) -> Path | None:
    """The dataset file a run was trained on, or None (uploaded runs record none)."""
    from core.store.runs import dataset_path_of

    try:
        return dataset_path_of(info)
    except FileNotFoundError:
        return None


def _split_sims(loaded: Any, velocity: np.ndarray, key: str) -> tuple[int, ...]:
    """Simulations of split ``key`` as recorded by a run (all of them for an uploaded run)."""
    from core.train.evaluate import splits_of_run

    if "split" not in loaded.info.config:
        return tuple(range(velocity.shape[1]))
    return splits_of_run(loaded.info).sims_of(key)


def import_checkpoint(name: str, data: bytes) -> str:
    """Store an uploaded checkpoint as a new run in the data dir; return its run id.

    ``name`` is the browser's file name: only its last part is kept, and it must pass
    ``check_name``. The bytes are read weights-only and rebuilt into their model first
    (raising core.store.runs.CheckpointError for a bad file), so nothing is written for a
    rejected upload.
    """
    from core.store.paths import check_name
    from core.store.runs import load_checkpoint_file, new_run_dir, save_payload, write_run_json

    name = check_name(Path(str(name)).name, "uploaded file name")
    _model, payload = load_checkpoint_file(bytes(data))
    run_id, run_dir = new_run_dir("upload")
    cfg = payload["model_config"]
    try:
        save_payload(run_dir / "checkpoint.pt", payload)
        write_run_json(
            run_dir, {"status": "done", "model_config": cfg, "source": "upload", "uploaded_name": name}
        )
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # the folder is ours and new: leave no half run
        raise
    return run_id


def list_runs() -> list:
    """Every run (data dir first, then shipped), as core.store.runs.RunInfo, newest first."""
    from core.store.runs import list_runs as _list

    return _list()


def dataset_summary(path: str | Path) -> dict[str, Any]:
    """Shape, settings, name and both data equivariance errors of the dataset file at ``path``."""
    from core.data import load_dataset
    from core.service.names import data_config_label

    ds = load_dataset(Path(path))
    cfg = ds.config.to_dict()
    _, sims, frames, _, n, _ = ds.velocity.shape
    return {
        "label": data_config_label(cfg),
        "data_ee": float(ds.data_equivariance_error),
        "buoyancy_diff": float(cfg["buoyancy_diff"]),
        "grid": int(n),
        "sims": int(sims),
        "frames": int(frames),
        "config": cfg,
    }


def run_rows(runs: list) -> list[dict[str, Any]]:
    """Table rows for the runs list: name, model, dataset, status, device, epochs, best validation loss."""
    from core.service.names import data_config_label, run_label

    rows = []
    for r in runs:
        metrics = r.metrics or {}
        data_cfg = (r.config.get("dataset") or {}).get("config")
        rows.append(
            {
                "run": run_label(r.config),
                "model": r.model_name or "",
                "status": r.status,
                "device": str(r.config.get("device", "")),
                "dataset": data_config_label(data_cfg) if data_cfg else "",
                "epochs": len(r.history),
                "shipped": r.shipped,
                "val loss": metrics.get("best_val_loss"),
                "id": r.id,
            }
        )
    return rows


def run_model_summary(run_id: str) -> dict[str, Any]:
    """Rebuild a run's model from its checkpoint (weights only); return its name, parameter count, config."""
    from core.store.paths import check_name
    from core.store.runs import load_run

    loaded = load_run(check_name(run_id, "run id"))
    return {
        "model": loaded.info.model_name,
        "parameters": int(sum(p.numel() for p in loaded.model.parameters())),
        "config": loaded.info.config.get("model_config"),
    }
