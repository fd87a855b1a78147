"""The training loop: K-step autoregressive MSE, Adam, decay, early stopping, run folder.

``train`` writes a run folder (core/runs.py layout) as it goes: run.json first, then
after every epoch history.json, last.pt (resumable) and, when validation improves,
checkpoint.pt (a copy of the best weights, never a reference to the live model).
At the end the best weights are evaluated (core/evaluate.py) into metrics.json and
evaluation.npz. A NaN/infinite loss ends the run as ``diverged`` with the last good
checkpoint kept; a stop request ends it as ``cancelled`` with last.pt kept for resume.
"""

from __future__ import annotations

import contextlib
import copy
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.atomic import atomic_path, write_json
from core.configs import ConfigMixin
from core.optim import make_optimizer
from core.rollout import rollout
from core.runs import (
    RESUME_FORMAT,
    new_run_dir,
    read_payload,
    save_checkpoint,
    save_payload,
    update_run_json,
    write_run_json,
)
from core.samples import SplitSpec, WindowDataset, make_splits, velocity_scale

ProgressFn = Callable[..., None]

DEVICES = ("auto", "cpu", "cuda", "mps")


class TrainingStopped(Exception):
    """Raised inside the loop when ``should_stop()`` returned True (between batches)."""


@dataclass(frozen=True)
class TrainConfig(ConfigMixin):
    """Training settings.

    ``rollout_steps`` is K, the autoregressive steps summed in the loss;
    ``lr_decay`` multiplies the learning rate after every epoch; ``relaxed_lr`` is the
    SGD learning rate of RSteer's symmetry-breaking weight component (core/optim.py); ``patience`` is the
    number of epochs without validation improvement before stopping;
    ``max_train_windows`` caps training samples (None: all); ``eval_steps`` is the
    rollout length of the test metrics; ``device`` is 'auto' (CUDA, then MPS, then
    CPU), 'cpu', 'cuda' or 'mps'.
    """

    epochs: int = 5
    batch_size: int = 16
    lr: float = 1e-3
    lr_decay: float = 0.9
    relaxed_lr: float = 4e-3
    rollout_steps: int = 3
    patience: int = 5
    seed: int = 0
    max_train_windows: int | None = None
    eval_steps: int = 20
    device: str = "auto"

    def __post_init__(self):
        for name in ("epochs", "batch_size", "rollout_steps", "patience", "eval_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.batch_size % 4:
            raise ValueError(
                f"batch_size must be a multiple of 4 (whole C4 orbits per batch), got {self.batch_size}"
            )
        if self.rollout_steps > 20:
            raise ValueError(f"rollout_steps must be at most 20, got {self.rollout_steps}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float) or not 0 < self.lr < 1:
            raise ValueError(f"lr must be a number in (0, 1), got {self.lr!r}")
        r = self.relaxed_lr
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0 <= r < 1:
            raise ValueError(f"relaxed_lr must be a number in [0, 1), got {r!r}")
        object.__setattr__(self, "relaxed_lr", float(r))
        d = self.lr_decay
        if isinstance(d, bool) or not isinstance(d, int | float) or not 0 < d <= 1:
            raise ValueError(f"lr_decay must be a number in (0, 1], got {d!r}")
        m = self.max_train_windows
        if m is not None and (not isinstance(m, int) or isinstance(m, bool) or m < 4):
            raise ValueError(f"max_train_windows must be None or an integer >= 4, got {m!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "lr_decay", float(self.lr_decay))


@dataclass
class TrainResult:
    """Outcome of :func:`train`: the run id and folder, final status, metrics and history."""

    run_id: str
    run_dir: Path
    status: str
    metrics: dict[str, Any] | None
    history: list[dict[str, Any]] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    """Return the torch device for 'auto' / 'cpu' / 'cuda' / 'mps' (ValueError if unavailable)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device: 'mps' requested but MPS is not available")
    return torch.device(name)


def package_versions() -> dict[str, str]:
    """Versions of the packages a run depends on (for run.json)."""
    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for name in ("e2cnn", "phi", "h5py"):
        # A missing optional package is simply not recorded.
        with contextlib.suppress(Exception):
            out[name] = __import__(name).__version__
    return out


def step_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MSE summed over the K autoregressive steps of ``y`` ``(B, K, 2, N, N)``, plus the regulariser."""
    pred = rollout(model, x, y.shape[1])
    mse = ((pred - y) ** 2).mean(dim=(0, 2, 3, 4)).sum()
    return mse + model.regularization_loss()


def train(
    dataset_path: str | Path,
    model_config: Any,
    config: TrainConfig,
    *,
    run_dir: Path | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    job_id: str | None = None,
    registry: Any = None,
    loss_hook: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
) -> TrainResult:
    """Train one model on one dataset file and store the run.

    ``model_config``: a ModelConfig or its dict. ``run_dir``: an existing run folder
    (required with ``resume=True``, which continues from its last.pt); otherwise a new
    one is made under data_dir()/runs. ``progress(fraction, message, epoch=,
    train_loss=, val_loss=)`` is called during training; ``should_stop()`` is polled
    between batches. ``registry`` (a core.registry.Registry) mirrors the run status.
    ``loss_hook(epoch, loss) -> loss`` lets tests inject faults.

    Returns a TrainResult whose status is 'done', 'diverged' or 'cancelled'.
    """
    from core.data import load_dataset
    from core.models import ModelConfig, model_from_config

    mcfg = ModelConfig.from_dict(model_config.to_dict() if hasattr(model_config, "to_dict") else model_config)
    device = resolve_device(config.device)
    dataset_path = Path(dataset_path).resolve()
    dataset = load_dataset(dataset_path)
    velocity = np.asarray(dataset.velocity, dtype=np.float32)
    _, n_sims, n_frames = velocity.shape[:3]
    spec = SplitSpec(
        input_frames=mcfg.input_frames,
        steps=config.rollout_steps,
        seed=config.seed,
        max_train_windows=config.max_train_windows,
    )
    splits = make_splits(n_sims, n_frames, spec)
    scale = velocity_scale(velocity, splits)

    if resume:
        if run_dir is None or not (Path(run_dir) / "last.pt").is_file():
            raise FileNotFoundError(f"cannot resume: no last.pt in {run_dir}")
        run_dir = Path(run_dir)
        run_id = run_dir.name
    else:
        if run_dir is None:
            run_id, run_dir = new_run_dir(f"run-{mcfg.name}")
        else:
            run_dir = Path(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            run_id = run_dir.name
        data_cfg = getattr(dataset, "config", None)
        write_run_json(
            run_dir,
            {
                "run_id": run_id,
                "status": "running",
                "created": time.time(),
                "job_id": job_id,
                "dataset": {
                    "path": str(dataset_path),
                    "hash": dataset_path.stem,
                    "config": data_cfg.to_dict() if hasattr(data_cfg, "to_dict") else data_cfg,
                },
                "model_config": mcfg.to_dict(),
                "train_config": config.to_dict(),
                "split": splits.to_dict(),
                "scale": scale,
                "seed": config.seed,
                "device": str(device),
                "versions": package_versions(),
            },
        )
    _mirror(registry, run_id, "running", job_id, mcfg.name, dataset_path.stem, str(device))

    torch.manual_seed(config.seed)
    model = model_from_config(mcfg.to_dict()).to(device)
    optimiser = make_optimizer(model, config.lr, config.relaxed_lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=config.lr_decay)
    history: list[dict[str, Any]] = []
    best_val, best_epoch, bad_epochs, start_epoch = math.inf, 0, 0, 1
    if resume:
        state = read_payload(run_dir / "last.pt")
        model.load_state_dict(state["state_dict"])
        optimiser.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        best_val, best_epoch = float(state["best_val"]), int(state["best_epoch"])
        bad_epochs, start_epoch = int(state["bad_epochs"]), int(state["epoch"]) + 1
        history = list(state["history"])
        scale = float(state["scale"])
        update_run_json(run_dir, status="running", resumed_from_epoch=start_epoch - 1)

    train_set = WindowDataset(velocity, splits.train, spec.input_frames, spec.steps, scale)
    val_set = WindowDataset(velocity, splits.val, spec.input_frames, spec.steps, scale)
    # Each batch holds whole C4 orbits: all four orientations of every window in it.
    # Then, on exactly symmetric data, the batch loss is invariant under rotating the
    # relaxed weights, so the gradient (and Adam's step) keeps a C4-equivariant model
    # equivariant; random sub-orbit batches would push it off by noise alone.
    windows_per_batch = config.batch_size // 4
    n_windows = len(train_set.windows)
    n_batches = math.ceil(n_windows / windows_per_batch)
    report = progress or (lambda *a, **k: None)
    status = "done"
    last_report = 0.0
    try:
        for epoch in range(start_epoch, config.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            # A generator per epoch makes the shuffle reproducible across a resume.
            gen = torch.Generator().manual_seed(config.seed * 100003 + epoch)
            window_order = torch.randperm(n_windows, generator=gen)
            total, count = 0.0, 0
            for b in range(n_batches):
                if should_stop is not None and should_stop():
                    raise TrainingStopped()
                chosen = window_order[b * windows_per_batch : (b + 1) * windows_per_batch]
                x, y = train_set.batch((4 * chosen[:, None] + torch.arange(4)).flatten())
                x, y = x.to(device), y.to(device)
                loss = step_loss(model, x, y)
                if loss_hook is not None:
                    loss = loss_hook(epoch, loss)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} in epoch {epoch}, batch {b + 1}")
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += loss.item() * len(x)
                count += len(x)
                now = time.monotonic()
                if now - last_report > 1.0:
                    last_report = now
                    frac = (epoch - 1 + (b + 1) / n_batches) / config.epochs
                    report(frac, f"epoch {epoch}/{config.epochs}, batch {b + 1}/{n_batches}", epoch=epoch)
            train_loss = total / max(count, 1)
            val_loss = _evaluate_loss(model, val_set, config.batch_size, device)
            if not math.isfinite(val_loss):
                raise FloatingPointError(f"validation loss became {val_loss} in epoch {epoch}")
            lr = optimiser.param_groups[0]["lr"]
            scheduler.step()
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "lr": lr,
                    "seconds": time.perf_counter() - t0,
                }
            )
            if val_loss < best_val:
                best_val, best_epoch, bad_epochs = val_loss, epoch, 0
                # state_dict() returns references to live tensors: save_checkpoint copies them.
                save_checkpoint(run_dir / "checkpoint.pt", model, scale=scale, epoch=epoch, val_loss=val_loss)
            else:
                bad_epochs += 1
            save_payload(
                run_dir / "last.pt",
                {
                    "format": RESUME_FORMAT,
                    "model_config": mcfg.to_dict(),
                    "state_dict": copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()}),
                    "optimizer": _to_cpu(optimiser.state_dict()),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "best_val": best_val,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "history": history,
                    "scale": scale,
                },
            )
            write_json(run_dir / "history.json", history)
            report(
                epoch / config.epochs,
                f"epoch {epoch}/{config.epochs}: train {train_loss:.4g}, val {val_loss:.4g}",
                epoch=epoch,
                train_loss=train_loss,
                val_loss=val_loss,
            )
            if bad_epochs >= config.patience:
                break
    except FloatingPointError as exc:
        status = "diverged"
        update_run_json(run_dir, error=str(exc))
    except TrainingStopped:
        status = "cancelled"

    metrics = None
    if status != "cancelled" and (run_dir / "checkpoint.pt").is_file():
        report(0.99, "evaluating the best weights")
        metrics = evaluate_run_dir(run_dir, velocity, splits, config, device)
        metrics.update({"best_epoch": best_epoch, "best_val_loss": best_val, "epochs_run": len(history)})
        write_json(run_dir / "metrics.json", metrics)
    update_run_json(run_dir, status=status, finished=time.time(), best_epoch=best_epoch)
    _mirror(registry, run_id, status, job_id, metrics=metrics)
    return TrainResult(run_id=run_id, run_dir=run_dir, status=status, metrics=metrics, history=history)


def evaluate_run_dir(
    run_dir: Path, velocity: np.ndarray, splits, config: TrainConfig, device
) -> dict[str, Any]:
    """Evaluate ``run_dir/checkpoint.pt``; write evaluation.npz; return the metrics dict."""
    from core.evaluate import evaluate_model
    from core.runs import load_checkpoint

    model = load_checkpoint(run_dir / "checkpoint.pt").to(device)
    metrics, arrays = evaluate_model(model, velocity, splits, steps=config.eval_steps, device=device)
    with atomic_path(run_dir / "evaluation.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return metrics


@torch.no_grad()
def _evaluate_loss(model: nn.Module, data: WindowDataset, batch_size: int, device) -> float:
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(data), batch_size):
        x, y = data.batch(range(start, min(start + batch_size, len(data))))
        loss = step_loss(model, x.to(device), y.to(device))
        total += loss.item() * len(x)
        count += len(x)
    return total / max(count, 1)


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _mirror(
    registry, run_id, status, job_id=None, model=None, dataset=None, device=None, metrics=None
) -> None:
    if registry is not None:
        registry.upsert_run(
            run_id, status, job_id=job_id, model=model, dataset=dataset, device=device, metrics=metrics
        )
