"""The paper's Figure 4: model equivariance error against the data's, over symmetry-breaking levels.

For each buoyancy difference (0 included) the dataset is made or reused from the cache,
each chosen model is trained on it, and one row per (level, model) records the data
equivariance error, the model's (per C4 element and mean) and its test RMSE, into
``sweeps/<sweep_id>/results.json`` and ``results.csv`` (rewritten after every row).

    python -m core.sweep --levels 0,0.1,0.2 --models convnet,e2cnn,rsteer [--preset cpu|gpu]

Presets: ``cpu`` (default: grid 32, 40 frames, 4 simulations per orientation, 1 input frame,
20 epochs, K = 3) is sized for 3 models x 10 levels in about 30 minutes on 2 CPU cores
(the shipped sweep's wall time is in assets/README.md); ``gpu`` uses grid 64, 60 frames,
6 simulations and 30 epochs.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import write_json, write_text
from core.configs import check_fields
from core.paths import check_name, data_dir
from core.registry import new_id

#: DataConfig field that sets the buoyancy difference between the orientations.
LEVEL_FIELD = "buoyancy_diff"
DEFAULT_LEVELS: tuple[float, ...] = tuple(round(0.1 * i, 2) for i in range(10))

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        "data": {"grid": 32, "frames": 40, "sims": 4},
        "train": {
            "epochs": 20,
            "batch_size": 16,
            "lr": 1e-3,
            "lr_decay": 0.9,
            "rollout_steps": 3,
            "patience": 6,
        },
        "model_options": {"convnet": {"hidden": 32}, "e2cnn": {"hidden": 32}, "rsteer": {"hidden": 16}},
    },
    "gpu": {
        "data": {"grid": 64, "frames": 60, "sims": 6},
        "train": {
            "epochs": 30,
            "batch_size": 32,
            "lr": 1e-3,
            "lr_decay": 0.9,
            "rollout_steps": 6,
            "patience": 8,
        },
        "model_options": {"convnet": {"hidden": 64}, "e2cnn": {"hidden": 64}, "rsteer": {"hidden": 32}},
    },
}

CSV_COLUMNS = (
    "level",
    "data_equivariance_error",
    "model",
    "run_id",
    "status",
    "model_ee_mean",
    "model_ee_90",
    "model_ee_180",
    "model_ee_270",
    "rmse_future",
    "rmse_domain",
    "seconds",
)


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: buoyancy-difference ``levels``, ``models``, and overrides of the preset.

    ``data``: DataConfig fields (the level field is set per level); ``train``:
    TrainConfig fields; ``model_options``: per-model build options.
    """

    levels: tuple[float, ...] = DEFAULT_LEVELS
    models: tuple[str, ...] = ("convnet", "e2cnn", "rsteer")
    preset: str = "cpu"
    data: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        from core.models import MODEL_NAMES

        levels = tuple(self.levels)
        if not levels:
            raise ValueError("levels must list at least one buoyancy difference")
        for v in levels:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ValueError(f"levels must be finite numbers >= 0, got {v!r}")
        object.__setattr__(self, "levels", tuple(float(v) for v in levels))
        models = tuple(self.models)
        if not models or any(m not in MODEL_NAMES for m in models):
            raise ValueError(f"models must be a non-empty list from {', '.join(MODEL_NAMES)}, got {models!r}")
        object.__setattr__(self, "models", models)
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        for name in ("data", "train", "model_options"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a dict, got {type(getattr(self, name)).__name__}")
        # Validate the resolved configs now rather than an hour into the sweep.
        self.train_config()
        for m in models:
            self.model_config(m)
        self.data_config(levels[0])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = asdict(self)
        d["levels"], d["models"] = list(self.levels), list(self.models)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepConfig:
        """Build from :meth:`to_dict` output; unknown keys raise ValueError naming them."""
        check_fields(cls, d)
        d = dict(d)
        for key in ("levels", "models"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def data_config(self, level: float):
        """The DataConfig of one level: preset data settings, overrides, and the level."""
        from core.data import DataConfig

        return DataConfig.from_dict({**PRESETS[self.preset]["data"], **self.data, LEVEL_FIELD: float(level)})

    def train_config(self):
        """The TrainConfig used for every run of the sweep."""
        from core.trainer import TrainConfig

        return TrainConfig.from_dict({**PRESETS[self.preset]["train"], **self.train})

    def model_config(self, name: str):
        """The ModelConfig of model ``name`` in this sweep."""
        from core.models import ModelConfig

        opts = {**PRESETS[self.preset]["model_options"].get(name, {}), **self.model_options.get(name, {})}
        return ModelConfig.for_model(name, **opts)


@dataclass
class SweepResult:
    """A finished (or stopped) sweep: its id, folder, status and result rows."""

    sweep_id: str
    path: Path
    status: str
    rows: list[dict[str, Any]]


def run_sweep(
    config: SweepConfig,
    progress=None,
    should_stop=None,
    registry=None,
    root: Path | None = None,
    sweep_id: str | None = None,
) -> SweepResult:
    """Run the sweep; return a SweepResult (status 'done' or 'cancelled').

    ``progress(fraction, message, **info)`` is called as levels and models finish and
    during training; ``should_stop()`` is polled between batches. Results go to
    ``<root or data_dir()>/sweeps/<sweep_id>/``.
    """
    from core.data import ensure_dataset, load_dataset
    from core.symmetry import data_equivariance_error
    from core.trainer import train

    sweep_id = check_name(sweep_id, "sweep id") if sweep_id else new_id("sweep")
    out = Path(root or data_dir()) / "sweeps" / sweep_id
    out.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda *a, **k: None)
    tcfg = config.train_config()
    total = len(config.levels) * (1 + len(config.models))
    done_units = 0
    rows: list[dict[str, Any]] = []
    record = {"sweep_id": sweep_id, "config": config.to_dict(), "status": "running", "started": time.time()}
    _write(out, record, rows)
    status = "done"
    for level in config.levels:
        if should_stop is not None and should_stop():
            status = "cancelled"
            break
        report(done_units / total, f"dataset for buoyancy difference {level:g}")
        path = ensure_dataset(config.data_config(level))
        data_ee = data_equivariance_error(load_dataset(path).velocity)
        done_units += 1
        for name in config.models:
            t0 = time.perf_counter()
            base = done_units / total

            def sub(fraction, message="", _base=base, _name=name, _level=level, **info):
                report(_base + fraction / total, f"level {_level:g}, {_name}: {message}", **info)

            result = train(
                path,
                config.model_config(name),
                tcfg,
                progress=sub,
                should_stop=should_stop,
                registry=registry,
            )
            done_units += 1
            if result.status == "cancelled":
                status = "cancelled"
                break
            m = result.metrics or {}
            ee = m.get("equivariance_error") or {}
            per = ee.get("per_element") or {}
            rows.append(
                {
                    "level": level,
                    "data_equivariance_error": data_ee,
                    "model": name,
                    "run_id": result.run_id,
                    "status": result.status,
                    "model_ee_mean": ee.get("mean"),
                    "model_ee_90": per.get("90"),
                    "model_ee_180": per.get("180"),
                    "model_ee_270": per.get("270"),
                    "rmse_future": (m.get("test_future") or {}).get("rmse"),
                    "rmse_domain": (m.get("test_domain") or {}).get("rmse"),
                    "seconds": time.perf_counter() - t0,
                    "dataset": path.name,  # the config hash; the file lives in the data directory
                }
            )
            _write(out, record, rows)
            report(done_units / total, f"level {level:g}, {name}: {result.status}")
        if status == "cancelled":
            break
    record.update(status=status, finished=time.time())
    _write(out, record, rows)
    return SweepResult(sweep_id=sweep_id, path=out, status=status, rows=rows)


def _write(out: Path, record: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    write_json(out / "results.json", {**record, "rows": rows})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "results.csv", buf.getvalue())


def list_sweeps() -> list[dict[str, Any]]:
    """Every sweep's results.json (data_dir() first, then shipped assets), with a ``shipped`` flag."""
    import json

    from core.paths import assets_dir

    out, seen = [], set()
    for shipped, base in ((False, data_dir()), (True, assets_dir())):
        root = base / "sweeps"
        if not root.is_dir():
            continue
        for d in sorted(root.iterdir(), reverse=True):
            f = d / "results.json"
            if d.name in seen or not f.is_file():
                continue
            try:
                rec = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            seen.add(d.name)
            out.append({**rec, "shipped": shipped, "path": str(d)})
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block
        self.exit(2, f"error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    from core.train import progress_bar

    p = _Parser(prog="python -m core.sweep", description="Figure 4: model vs data equivariance error.")
    p.add_argument("--levels", default=",".join(f"{v:g}" for v in DEFAULT_LEVELS), help="comma-separated")
    p.add_argument("--models", default="convnet,e2cnn,rsteer", help="comma-separated model names")
    p.add_argument("--preset", default="cpu", choices=tuple(PRESETS))
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--grid", type=int, help="override the preset's grid size")
    p.add_argument("--frames", type=int, help="override the preset's frames per simulation")
    args = p.parse_args(argv)
    try:
        levels = tuple(float(v) for v in args.levels.split(",") if v.strip())
    except ValueError:
        p.error(f"--levels: expected comma-separated numbers, got {args.levels!r}")
    data = {k: getattr(args, k) for k in ("grid", "frames") if getattr(args, k) is not None}
    train = {"epochs": args.epochs} if args.epochs is not None else {}
    try:
        config = SweepConfig(
            levels=levels,
            models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
            preset=args.preset,
            data=data,
            train=train,
        )
    except ValueError as exc:
        p.error(str(exc))
    result = run_sweep(config, progress=progress_bar())
    print(f"sweep {result.sweep_id} ({result.status}) in {result.path}")
    for r in result.rows:
        print(
            f"level {r['level']:g}  data EE {r['data_equivariance_error']:.4g}  {r['model']:8s} "
            f"model EE {r['model_ee_mean'] if r['model_ee_mean'] is not None else float('nan'):.4g}  "
            f"RMSE {r['rmse_future'] if r['rmse_future'] is not None else float('nan'):.4g}"
        )
    return 0 if result.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
