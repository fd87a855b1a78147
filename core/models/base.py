"""What every model shares: the config, input checks, a zero regulariser, the row flip."""

from __future__ import annotations

import torch
from torch import nn

from core.models.config import ModelConfig


class VelocityModel(nn.Module):
    """Base class: maps ``(B, 2*input_frames, N, N)`` velocity frames to the next frame ``(B, 2, N, N)``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is a float batch ``(B, 2*input_frames, N, N)``."""
        want = self.config.in_channels
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != want:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{self.config.name} expects input of shape (B, {want}, N, N) "
                f"({self.config.input_frames} velocity frames as channels), got {shape}"
            )
        if not x.is_floating_point():
            raise ValueError(f"{self.config.name} expects a floating point input, got {x.dtype}")

    def regularization_loss(self) -> torch.Tensor:
        """Return the model's regulariser, a scalar tensor (zero unless overridden)."""
        p = next(self.parameters())
        return torch.zeros((), device=p.device, dtype=p.dtype)

    def parameter_count(self) -> int:
        """Return the number of trainable scalars."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def flip_rows(x: torch.Tensor) -> torch.Tensor:
    """Flip the row axis (-2).

    Why: the project stores rows pointing up; e2cnn's action equals the physical
    C4 action only on arrays whose rows point down (REFERENCE.md section 2), so the
    steerable networks flip on the way in and on the way out.
    """
    return torch.flip(x, dims=(-2,))


def parameter_versions(module: nn.Module) -> tuple:
    """Return a key that changes whenever any parameter of ``module`` is replaced or edited in place.

    Why: eval-mode kernel caches must not go stale after ``load_state_dict``, an
    optimiser step or a test editing weights; every in-place write bumps ``_version``.
    """
    return tuple((id(p), p._version, p.device, p.dtype) for p in module.parameters())
