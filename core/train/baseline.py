"""The trivial baseline every next-frame model must beat: persistence (next frame = this frame);
and linear extrapolation, a second reference for diagnostics."""

from __future__ import annotations

import torch
from torch import nn

from core.train.rollout import skip_base


class Persistence(nn.Module):
    """``forward(x)`` returns the newest input frame: ``(B, C*F, N, N)`` -> ``(B, C, N, N)``,
    ``C = frame_channels`` (2: velocity; 3: velocity and smoke).

    Rolled out with core.train.rollout.rollout like any model, so its errors are measured
    by exactly the same code, on exactly the same windows; it has no regulariser (zero), so
    the training loss (core.train.trainer.step_loss) measures it too.
    """

    def __init__(self, frame_channels: int = 2):
        super().__init__()
        self.frame_channels = int(frame_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -self.frame_channels :]

    def regularization_loss(self) -> torch.Tensor:
        """Zero: persistence has no weights."""
        return torch.zeros(())


class LinearExtrapolation(nn.Module):
    """``forward(x)`` returns ``2 x_t - x_{t-1}`` from the two newest input frames:
    ``(B, 2*F, N, N)`` -> ``(B, 2, N, N)``, F >= 2 (constant acceleration, the same base as
    core.train.rollout's ``"linear"`` skip). A second reference, for diagnostics: over a
    rollout it overshoots, so persistence stays the baseline every model is ranked against.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return skip_base(x, "linear")
