"""What a training is asked to do: TrainConfig (validated), the device it names, the windows it cuts.

Pure settings, read by the training loop (core.train.trainer), the sweeps, the jobs and the forms;
nothing here trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.configs import ConfigMixin
from core.train.rollout import check_skip
from core.train.samples import SplitSpec, check_max_train_windows

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class TrainConfig(ConfigMixin):
    """Training settings.

    ``rollout_steps`` is K, the autoregressive steps summed in the loss;
    ``lr_decay`` multiplies the learning rate after every epoch; ``relaxed_lr`` is the
    SGD learning rate of RSteer's symmetry-breaking weight component (core/train/optim.py), and
    ``relaxed_noise_floor`` the relative size below which its gradient counts as round-off;
    ``relaxed_clip`` the largest step of one of those weights in units of Adam's current
    learning rate; ``relaxed_decay`` the per-step shrinking of those weights' symmetry-breaking
    part, per unit of their SGD learning rate (core.train.optim.RelaxedAdam; 0: none);
    ``relaxed_hold`` the number of first epochs in which that part stays at zero (RSteer
    trains as an exactly equivariant model, then breaks symmetry from there; 0: from the
    start); the best checkpoint and the patience count from the first epoch after the hold,
    so the run's model is always a relaxed one;
    ``patience`` is the number of epochs without validation improvement before stopping;
    ``val_fraction`` is the share of the pre-test-future frames kept for validation (the
    last ones; at least input_frames + K frames, core.train.samples);
    ``max_train_windows`` caps training samples (None: all); ``eval_steps`` is the
    rollout length of the test metrics; ``device`` is 'auto' (CUDA, then MPS, then
    CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'. ``residual``: the network predicts the
    one-step change, normalised by its RMS on the training block (core.train.rollout.Scaled),
    and the loss is measured in those units; False: it predicts the next frame itself.
    ``input_noise``: standard deviation of Gaussian noise added to the training inputs, in
    units of the loss scale (the typical change the network predicts; 0: none); drawn per C4
    orbit and turned with it (core.train.samples.orbit_noise), the targets kept clean, so the
    model learns to correct small errors of its own inputs, as in a long rollout.
    ``skip`` (residual only): 'last' adds the prediction to the newest frame, 'linear' to
    the linear extrapolation of the two newest (the network predicts the change of the
    one-step change; needs input_frames >= 2).
    ``window_weighting`` (0: off): weight each window's loss by ``1 / (m + window_weighting)``,
    ``m`` the mean square of its own one-step change (second target minus first) in loss
    units, so the small changes of the first frames count about as much as the large late
    ones (needs rollout_steps >= 2). Measured: better rollouts on held-out simulations, less
    learnt asymmetry (docs/TRAINING_EXPERIMENTS.md).
    ``smoke_weight`` (models that see the smoke): the weight of the smoke channel's squared
    error in the loss against 1 for each velocity component, the smoke measured in units in
    which its one-step change is as large as the velocity's (core.train.samples.smoke_unit).
    """

    epochs: int = 5
    batch_size: int = 16
    lr: float = 1e-3
    lr_decay: float = 0.9
    relaxed_lr: float = 4e-3
    relaxed_noise_floor: float = 0.0
    relaxed_clip: float = 1.0
    relaxed_decay: float = 0.0
    relaxed_hold: int = 0
    rollout_steps: int = 3
    patience: int = 5
    val_fraction: float = 0.2
    seed: int = 0
    max_train_windows: int | None = None
    eval_steps: int = 20
    device: str = "auto"
    residual: bool = True
    skip: str = "last"
    input_noise: float = 0.0
    window_weighting: float = 0.0
    smoke_weight: float = 1.0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "rollout_steps", "patience", "eval_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.batch_size % 4:
            raise ValueError(
                f"batch_size must be a multiple of 4 (whole C4 orbits per batch), got {self.batch_size}"
            )
        for name in ("seed", "relaxed_hold"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        if self.relaxed_hold >= self.epochs:
            raise ValueError(
                f"relaxed_hold ({self.relaxed_hold}) must be smaller than epochs ({self.epochs}): "
                "the symmetry-breaking weights would never move"
            )
        if self.rollout_steps > 20:
            raise ValueError(f"rollout_steps must be at most 20, got {self.rollout_steps}")
        _number(self, "lr", 0, 1, low_open=True, high_open=True)
        _number(self, "relaxed_lr", 0, 1, high_open=True)
        _number(self, "relaxed_noise_floor", 0, 1)
        _number(self, "relaxed_clip", 0, 100, low_open=True)
        _number(self, "relaxed_decay", 0, 100)
        _number(self, "lr_decay", 0, 1, low_open=True)
        _number(self, "val_fraction", 0, 0.5, low_open=True, high_open=True)
        _number(self, "input_noise", 0, 10)
        _number(self, "window_weighting", 0, 100)
        _number(self, "smoke_weight", 0, 100, low_open=True)
        if self.window_weighting and self.rollout_steps < 2:
            raise ValueError("window_weighting needs rollout_steps >= 2 (it uses the second step's change)")
        check_max_train_windows(self.max_train_windows)  # the same rule as SplitSpec's
        if not isinstance(self.residual, bool):
            raise ValueError(f"residual must be true or false, got {self.residual!r}")
        check_skip(self.skip, 2)  # the frame count is checked when training starts
        if self.skip != "last" and not self.residual:
            raise ValueError(f"skip {self.skip!r} needs residual prediction (residual=true)")
        base = self.device.split(":")[0] if isinstance(self.device, str) else None
        if base not in DEVICES or (":" in self.device and not self.device.split(":")[1].isdigit()):
            raise ValueError(f"device must be one of {', '.join(DEVICES)} or cuda:N, got {self.device!r}")


def _number(cfg, name: str, low: float, high: float, low_open=False, high_open=False) -> None:
    """Check that field ``name`` is a finite number in the range; store it as a float."""
    v = getattr(cfg, name)
    ok = not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)
    if ok:
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        brackets = ("(" if low_open else "[") + f"{low:g}, {high:g}" + (")" if high_open else "]")
        raise ValueError(f"{name} must be a number in {brackets}, got {v!r}")
    object.__setattr__(cfg, name, float(v))


def resolve_device(name: str) -> torch.device:
    """Return the torch device for 'auto' / 'cpu' / 'cuda' / 'cuda:N' / 'mps' (ValueError if unavailable)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device: {name!r} requested but no CUDA GPU is available")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device: {name!r} requested but only {torch.cuda.device_count()} GPU(s) exist")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device: 'mps' requested but MPS is not available")
    return torch.device(name)


def split_spec(model_config, config: TrainConfig, data_config=None) -> SplitSpec:
    """Return how a training of ``model_config`` (a core.models.ModelConfig) with ``config`` cuts
    a dataset into windows; core.train.samples.make_splits(sims, frames, spec) raises ValueError
    if a dataset is too short for it. ``data_config`` (the dataset's core.data.DataConfig) adds
    the simulations its design holds out for test-domain (core.data.config.held_out_sims)."""
    from core.data.config import held_out_sims

    return SplitSpec(
        input_frames=model_config.input_frames,
        steps=config.rollout_steps,
        seed=config.seed,
        val_fraction=config.val_fraction,
        max_train_windows=config.max_train_windows,
        held_out=held_out_sims(data_config) if data_config is not None else None,
    )
