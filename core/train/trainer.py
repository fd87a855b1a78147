"""The training loop: K-step autoregressive MSE, Adam, decay, early stopping, run folder.

``train`` writes a run folder (core/store/runs.py layout) as it goes: run.json first, then
after every epoch history.json, last.pt (resumable) and, when validation improves,
checkpoint.pt (a copy of the best weights, never a reference to the live model).
At the end the best weights are evaluated (core/train/evaluate.py) into metrics.json and
evaluation.npz. A batch (or validation) loss that goes non-finite, or grows past
``DIVERGENCE_FACTOR`` times the loss of predicting "no change" (persistence) on the same
windows, measured before the first step, ends the run as ``diverged`` with the reason stored
and the best checkpoint kept; a stop request ends it as ``cancelled`` with last.pt kept for resume.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.layout import FRAME_SIZES, VELOCITY, FrameLayout
from core.models.budget import check_model_budget
from core.progress import Progress, no_progress
from core.store.atomic import WriteError
from core.store.ownership import acquire, release
from core.store.runs import (
    new_run_dir,
    new_run_record,
    read_payload,
    save_checkpoint,
    save_resume_state,
    update_run_json,
    write_evaluation,
    write_history,
    write_run_json,
)
from core.train.config import TrainConfig, resolve_device, split_spec
from core.train.optim import make_optimizer
from core.train.rollout import Scaled, check_skip, rollout, skip_base
from core.train.samples import (
    Splits,
    WindowDataset,
    delta_scale,
    frames_for,
    in_smoke_units,
    make_splits,
    orbit_noise,
    smoke_unit,
    velocity_scale,
)

#: A training batch loss (or an epoch's validation loss) this many times persistence's ("no
#: change", in the same loss units, on the same windows) counts as diverged. Known before the
#: first step, so an explosion in the first epoch is caught (the old bound, 1000 x the first
#: epoch's loss, was set by that epoch: with lr 0.2 it was 1.8e18 and the run ended 'done' at
#: 85 x persistence's RMSE). With residual=False the reference is the larger of that and the
#: loss of predicting zero (_reference_loss). Measured: the shipped runs' first-epoch train loss
#: is 0.8 x persistence's; on the tiny test dataset an untrained model's batches reach 2 x
#: (residual) and its validation loss 2.3 x.
DIVERGENCE_FACTOR = 100.0
#: Progress shares: the epochs fill the bar to 0.98, the evaluation of the best weights shows
#: 0.99, and 1.0 comes only when the run's final status is written, so a bar never goes back.
TRAINING_FRACTION = 0.98
EVALUATION_FRACTION = 0.99


class TrainingStopped(Exception):
    """Raised inside the loop when ``should_stop()`` returned True (between batches)."""


class Diverged(Exception):
    """Raised inside the loop when the loss is non-finite or past the divergence bound."""


@dataclass
class TrainResult:
    """Outcome of :func:`train`: the run id and folder, final status, metrics, history, and
    ``error`` (why it diverged, else None)."""

    run_id: str
    run_dir: Path
    status: str
    metrics: dict[str, Any] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def step_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    unit: float = 1.0,
    weighting: float = 0.0,
    smoke_weight: float = 1.0,
) -> torch.Tensor:
    """MSE in units of ``unit``, summed over the K autoregressive steps of ``y`` ``(B, K, C, N, N)``,
    plus the model's regulariser; a scalar tensor. ``weighting`` > 0: a weighted mean over the
    windows (TrainConfig.window_weighting). The frames' layout (core.layout) is the model's, or
    the one with C channels: each scalar channel's (the smoke's) squared error counts
    ``smoke_weight`` times, each velocity component's once."""
    pred = rollout(model, x, y.shape[1])
    squared = (pred - y) ** 2
    layout = _frame_layout(model, y.shape[2])
    if smoke_weight != 1.0 and layout is not None and layout.has_scalars:
        weights = torch.tensor(layout.channel_weights(smoke_weight), dtype=y.dtype, device=y.device)
        squared = squared * weights[:, None, None]
    if not weighting:
        return squared.mean(dim=(0, 2, 3, 4)).sum() / unit**2 + model.regularization_loss()
    per_window = squared.mean(dim=(2, 3, 4)).sum(dim=1) / unit**2
    v = (layout or VELOCITY).velocity
    change = ((y[:, 1, v] - y[:, 0, v]) ** 2).mean(dim=(1, 2, 3)) / unit**2
    weights = 1.0 / (change + weighting)
    return (weights * per_window).sum() / weights.sum() + model.regularization_loss()


def _frame_layout(model: nn.Module, channels: int) -> FrameLayout | None:
    """The layout (core.layout) of frames of ``channels`` channels a model reads: its config's,
    else the one used today with that many channels; None for any other count."""
    layout = getattr(getattr(model, "config", None), "frame_layout", None)
    if layout is not None and layout.size == channels:
        return layout
    return FrameLayout.of_size(channels) if channels in FRAME_SIZES else None


@dataclass
class _Session:
    """Everything one training run carries from epoch to epoch."""

    run_id: str
    run_dir: Path
    config: TrainConfig
    model_config: Any
    device: torch.device
    frames: np.ndarray  # (4, S, T, C, N, N), physical units (core.train.samples.model_frames)
    splits: Splits
    scale: float
    delta: float | None
    smoke_unit: float | None
    one_step_ee: np.ndarray | None
    net: nn.Module
    optimiser: torch.optim.Optimizer
    scheduler: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    model: nn.Module | None = None
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    start_epoch: int = 1
    one_step_by_element: np.ndarray | None = None  # (4, S, 3, T-1): the data EE per rotation


def train(
    dataset_path: str | Path,
    model_config: Any,
    config: TrainConfig,
    *,
    run_dir: Path | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    job_id: str | None = None,
    loss_hook: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
) -> TrainResult:
    """Train one model on one dataset file and store the run.

    ``model_config``: a ModelConfig or its dict. ``run_dir``: an existing run folder
    (required with ``resume=True``, which continues from its last.pt); otherwise a new
    one is made under data_dir()/runs. ``progress`` (core.cli.Progress) gets
    ``epoch=, train_loss=, val_loss=`` at each epoch's end; ``should_stop()`` is polled
    between batches. ``loss_hook(epoch, loss) -> loss`` lets tests inject faults.

    Returns a TrainResult whose status is 'done', 'diverged' or 'cancelled'. A file that
    cannot be written raises core.store.atomic.WriteError (one line: the file and the cause),
    after run.json says 'failed' with that line where run.json itself can still be written.
    """
    report = progress or no_progress
    session = _start(dataset_path, model_config, config, run_dir, resume, job_id)
    try:
        return _run_session(session, config, report, should_stop, loss_hook)
    except WriteError as exc:
        with contextlib.suppress(OSError):  # run.json unwritable too: the job record carries it
            update_run_json(session.run_dir, status="failed", error=str(exc), finished=time.time())
        raise
    finally:
        release(session.run_dir)  # after its final status: core.store.ownership


def _run_session(session: _Session, config: TrainConfig, report: Progress, should_stop, loss_hook):
    """Train, evaluate and record a started session (:func:`train`); return its TrainResult."""
    status, error = "done", None
    try:
        _epochs(session, report, should_stop, loss_hook)
    except Diverged as exc:
        status, error = "diverged", str(exc)
        update_run_json(session.run_dir, error=error)
    except TrainingStopped:
        status = "cancelled"
    metrics = None
    if status != "cancelled" and (session.run_dir / "checkpoint.pt").is_file():
        report(EVALUATION_FRACTION, "evaluating the best weights")
        from core.train.evaluate import evaluate_run_dir

        metrics = evaluate_run_dir(
            session.run_dir, session.frames, session.splits, config, session.device, session.one_step_ee,
            session.one_step_by_element,
        )  # fmt: skip
        extra = {"best_epoch": session.best_epoch, "best_val_loss": session.best_val}
        metrics.update({**extra, "epochs_run": len(session.history)})
        write_evaluation(session.run_dir, metrics, None)
    update_run_json(session.run_dir, status=status, finished=time.time(), best_epoch=session.best_epoch)
    if status != "cancelled":
        report(1.0, f"training {status}")
    return TrainResult(session.run_id, session.run_dir, status, metrics, session.history, error)


def _start(dataset_path, model_config, config: TrainConfig, run_dir, resume: bool, job_id) -> _Session:
    """Load the data, choose the splits, take the run's ownership (core.store.ownership: RunOwned
    while another live process trains it), build model and optimiser, new or resumed."""
    owned: list[Path] = []
    try:
        return _open_session(dataset_path, model_config, config, run_dir, resume, job_id, owned)
    except BaseException:
        for folder in owned:  # the caller only releases the run of a session it got
            release(folder)
        raise


def _open_session(dataset_path, model_config, config, run_dir, resume: bool, job_id, owned) -> _Session:
    """:func:`_start`'s work; appends the run folder to ``owned`` once it owns it."""
    from core.data import load_dataset
    from core.models import ModelConfig, model_from_config

    mcfg = ModelConfig.from_dict(model_config.to_dict() if hasattr(model_config, "to_dict") else model_config)
    device = resolve_device(config.device)
    dataset_path = Path(dataset_path).resolve()
    dataset = load_dataset(dataset_path)
    frames = frames_for(mcfg, dataset)
    # A model with weights per cell is built for this data's grid; refuse one too big to reload.
    mcfg = mcfg.for_grid(frames.shape[-1])
    check_model_budget(mcfg)
    velocity = frames[:, :, :, mcfg.frame_layout.velocity]
    splits = make_splits(velocity.shape[1], velocity.shape[2], split_spec(mcfg, config, dataset.config))
    scale = velocity_scale(velocity, splits)
    check_skip(config.skip, mcfg.input_frames)  # before any run folder is made
    order = 2 if config.skip == "linear" else 1
    delta = delta_scale(velocity, splits, order=order) if config.residual else None
    unit = smoke_unit(frames, splits, mcfg.frame_layout) if mcfg.frame_layout.has_scalars else None
    if resume:
        if run_dir is None or not (Path(run_dir) / "last.pt").is_file():
            raise FileNotFoundError(f"cannot resume: no last.pt in {run_dir}")
        run_dir = Path(run_dir)
    elif run_dir is None:
        run_dir = new_run_dir(f"run-{mcfg.name}")[1]
    else:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    acquire(run_dir)  # before the first write into the folder
    owned.append(run_dir)
    if not resume:
        record = new_run_record(run_dir.name, dataset, mcfg, config, splits, scale, str(device), job_id)
        write_run_json(run_dir, {**record, "delta_scale": delta, "smoke_unit": unit})
    torch.manual_seed(config.seed)
    model = model_from_config(mcfg.to_dict()).to(device)
    optimiser = make_optimizer(
        model,
        config.lr,
        config.relaxed_lr,
        config.relaxed_noise_floor,
        config.relaxed_clip,
        config.relaxed_decay,
    )
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=config.lr_decay)
    one_step = getattr(dataset, "data_ee_one_step", None)
    session = _Session(
        run_dir.name, run_dir, config, mcfg, device, frames, splits, scale, delta, unit, one_step,
        model, optimiser, scheduler,
    )  # fmt: skip
    session.one_step_by_element = getattr(dataset, "data_ee_one_step_by_element", None)
    if resume:
        _restore(session)
    session.model = _training_module(session)
    return session


def _training_module(s: _Session) -> nn.Module:
    """The network as trained: on frames divided by ``scale`` (the smoke already in its own unit,
    :func:`_training_frames`); with residual prediction it adds its output times
    ``delta / scale`` to the skip's base (core.train.rollout.skip_base)."""
    if s.delta is None:
        return s.net
    inside = None if s.smoke_unit is None else 1.0
    return Scaled(s.net, 1.0, s.delta / s.scale, skip=s.config.skip, smoke_unit=inside)


def _training_frames(s: _Session) -> np.ndarray:
    """The frames the loss is measured on: physical, except the smoke in ``smoke_unit``."""
    layout = s.model_config.frame_layout
    return s.frames if s.smoke_unit is None else in_smoke_units(s.frames, s.smoke_unit, layout)


def _unit(s: _Session) -> float:
    """The loss unit in normalised velocities: the typical one-step change when residual."""
    return 1.0 if s.delta is None else s.delta / s.scale


def _restore(s: _Session) -> None:
    """Continue from last.pt: weights, optimiser, scheduler, history and early-stopping state."""
    state = read_payload(s.run_dir / "last.pt")
    s.net.load_state_dict(state["state_dict"])
    s.optimiser.load_state_dict(state["optimizer"])
    s.scheduler.load_state_dict(state["scheduler"])
    s.best_val, s.best_epoch = float(state["best_val"]), int(state["best_epoch"])
    s.bad_epochs, s.start_epoch = int(state["bad_epochs"]), int(state["epoch"]) + 1
    s.history = list(state["history"])
    s.scale = float(state["scale"])
    s.delta = state.get("delta_scale")
    update_run_json(s.run_dir, status="running", resumed_from_epoch=s.start_epoch - 1, error=None)


def _epochs(s: _Session, report: Progress, should_stop, loss_hook) -> None:
    """Run the epochs from ``s.start_epoch``; stop early after ``patience`` epochs without progress."""
    cfg = s.config
    spec = s.splits.spec
    frames = _training_frames(s)
    train_set = WindowDataset(frames, s.splits.train, spec.input_frames, spec.steps, s.scale)
    val_set = WindowDataset(frames, s.splits.val, spec.input_frames, spec.steps, s.scale)
    reference, reference_val = _reference_loss(s, train_set), _reference_loss(s, val_set)
    for epoch in range(s.start_epoch, cfg.epochs + 1):
        t0 = time.perf_counter()
        lr = s.optimiser.param_groups[0]["lr"]
        _hold_or_release(s, epoch)
        train_loss, batch_losses = _train_epoch(
            s, train_set, epoch, report, should_stop, loss_hook, reference
        )
        val_loss = _evaluate_loss(s.model, val_set, cfg, s.device, _unit(s))
        _check_loss(val_loss, reference_val, f"validation loss in epoch {epoch}")  # the last step too
        s.scheduler.step()
        seconds = time.perf_counter() - t0
        s.history.append(
            {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr, "seconds": seconds,
             "batch_losses": batch_losses}  # per step, for core.train.curves
        )  # fmt: skip
        _save_epoch(s, epoch, val_loss)
        message = f"epoch {epoch}/{cfg.epochs}: train {train_loss:.4g}, val {val_loss:.4g}"
        fraction = TRAINING_FRACTION * epoch / cfg.epochs
        report(fraction, message, epoch=epoch, train_loss=train_loss, val_loss=val_loss)
        if s.bad_epochs >= cfg.patience:
            break


def _hold_or_release(s: _Session, epoch: int) -> None:
    """Keep RSteer's symmetry-breaking weights still during the first ``relaxed_hold`` epochs.

    At the release the early-stopping record starts afresh: measured, the validation loss
    rises for a few epochs as the model starts to break symmetry, and judged against the
    equivariant epochs' best the run stopped early and kept an exactly symmetric checkpoint
    (RSteer at Δb 0.1 with training seed 2: EE 0, 0.68 x persistence on test-future).
    """
    hold = s.config.relaxed_hold
    if not hasattr(s.optimiser, "breaking"):
        return
    s.optimiser.breaking = epoch > hold
    if hold and epoch == hold + 1:
        s.best_val, s.bad_epochs = math.inf, 0


class _ZeroOutput(nn.Module):
    """What the trained module predicts while its network outputs zero: the skip's base, the
    newest frame or the linear extrapolation (residual), or zero (``skip`` None: residual=False)."""

    def __init__(self, skip: str | None, frame_channels: int):
        super().__init__()
        self.skip, self.frame_channels = skip, frame_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.frame_channels
        return torch.zeros_like(x[:, -c:]) if self.skip is None else skip_base(x, self.skip, c)

    def regularization_loss(self) -> torch.Tensor:
        return torch.zeros(())


def _reference_loss(s: _Session, data: WindowDataset) -> tuple[float, str]:
    """``(loss, what)``: the divergence bound's reference on the windows of ``data``, in the
    trainer's loss units, known before the first step. The loss of predicting "no change"
    (core.train.baseline.Persistence, every channel of the newest frame carried forward: a
    zero residual with skip 'last'), or, where larger, that of the network's zero output
    (:class:`_ZeroOutput`): with residual=False an untrained network predicts about zero,
    measured 13 x the no-change loss on the tiny test dataset's validation windows, and on
    slower data that ratio grows with no divergence at all."""
    from core.train.baseline import Persistence

    channels = s.model_config.frame_channels
    no_change = _evaluate_loss(Persistence(channels), data, s.config, s.device, _unit(s))
    skip = s.config.skip if s.config.residual else None
    zero = _evaluate_loss(_ZeroOutput(skip, channels), data, s.config, s.device, _unit(s))
    if zero > no_change:
        base = "zero" if skip is None else f"the skip's base, {skip!r}"
        return zero, f"the loss of the network's zero output (predicting {base})"
    return no_change, "the loss of predicting no change"


def _train_epoch(
    s: _Session, data: WindowDataset, epoch: int, report, should_stop, loss_hook, reference: tuple[float, str]
) -> tuple[float, list[float]]:
    """One pass over the training windows in whole C4 orbits; return the mean loss and each
    batch's loss (6 significant digits: a run tracker's per-step curve). Every batch
    loss is checked against ``reference`` (:func:`_reference_loss` on them, :func:`_check_loss`).

    Why whole orbits: on exactly symmetric data the batch loss is then invariant under
    rotating the relaxed weights, so the gradient keeps an equivariant model equivariant;
    random sub-orbit batches would push it off by noise alone.
    """
    cfg = s.config
    s.model.train()
    per_batch = cfg.batch_size // 4
    n_windows = len(data.windows)
    n_batches = math.ceil(n_windows / per_batch)
    # A generator per epoch makes the shuffle reproducible across a resume.
    shuffle = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
    order = torch.randperm(n_windows, generator=shuffle)
    total, count, last_report, losses = 0.0, 0, time.monotonic(), []
    for b in range(n_batches):
        if should_stop is not None and should_stop():
            raise TrainingStopped()
        chosen = order[b * per_batch : (b + 1) * per_batch]
        x, y = data.batch((4 * chosen[:, None] + torch.arange(4)).flatten())
        if cfg.input_noise:
            layout = s.model_config.frame_layout
            x = x + orbit_noise(tuple(x.shape), cfg.input_noise * _unit(s), shuffle, layout)
        loss = step_loss(
            s.model, x.to(s.device), y.to(s.device), _unit(s), cfg.window_weighting, cfg.smoke_weight
        )
        if loss_hook is not None:
            loss = loss_hook(epoch, loss)
        _check_loss(float(loss.detach()), reference, f"training loss in epoch {epoch}, batch {b + 1}")
        s.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        s.optimiser.step()
        total, count = total + loss.item() * len(x), count + len(x)
        losses.append(float(f"{loss.item():.6g}"))
        if time.monotonic() - last_report > 1.0:
            last_report = time.monotonic()
            frac = TRAINING_FRACTION * (epoch - 1 + (b + 1) / n_batches) / cfg.epochs
            report(frac, f"epoch {epoch}/{cfg.epochs}, batch {b + 1}/{n_batches}", epoch=epoch)
    return total / max(count, 1), losses


def _check_loss(loss: float, reference: tuple[float, str], what: str) -> None:
    """Raise Diverged for a non-finite loss or one past DIVERGENCE_FACTOR x ``reference``'s
    loss on the same windows (:func:`_reference_loss`). ``what`` names the loss ("training
    loss in epoch 2, batch 3"); the message gives the numbers."""
    if not math.isfinite(loss):
        raise Diverged(f"{what} became {loss}")
    bound = DIVERGENCE_FACTOR * reference[0]
    if bound > 0 and loss > bound:  # 0: frozen data, nothing to judge by
        raise Diverged(
            f"{what} is {loss:.3g}, over {DIVERGENCE_FACTOR:g} times {reference[1]} "
            f"({reference[0]:.3g}; bound {bound:.3g}): learning rate too high?"
        )


def _save_epoch(s: _Session, epoch: int, val_loss: float) -> None:
    """Keep the best weights, the resumable state and the history after an epoch."""
    if val_loss < s.best_val:
        s.best_val, s.best_epoch, s.bad_epochs = val_loss, epoch, 0
        save_checkpoint(
            s.run_dir / "checkpoint.pt",
            s.net,
            scale=s.scale,
            delta_scale=s.delta,
            skip=s.config.skip,
            smoke_unit=s.smoke_unit,
            epoch=epoch,
            val_loss=val_loss,
        )
    else:
        s.bad_epochs += 1
    save_resume_state(s.run_dir, s.net, s.optimiser, s.scheduler, s.scale, s.history, epoch=epoch,
                      best_val=s.best_val, best_epoch=s.best_epoch, bad_epochs=s.bad_epochs,
                      delta_scale=s.delta)  # fmt: skip
    write_history(s.run_dir, s.history)


@torch.no_grad()
def _evaluate_loss(model: nn.Module, data: WindowDataset, cfg: TrainConfig, device, unit: float) -> float:
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(data), cfg.batch_size):
        x, y = data.batch(range(start, min(start + cfg.batch_size, len(data))))
        loss = step_loss(model, x.to(device), y.to(device), unit, cfg.window_weighting, cfg.smoke_weight)
        total += loss.item() * len(x)
        count += len(x)
    return total / max(count, 1)
