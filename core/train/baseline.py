"""The trivial baseline every next-frame model must beat: persistence (next frame = this frame);
and linear extrapolation, a second reference for diagnostics."""

from __future__ import annotations

import torch
from torch import nn

from core.train.rollout import skip_base


class Persistence(nn.Module):
    """``forward(x)`` returns the newest input frame: ``(B, 2*F, N, N)`` -> ``(B, 2, N, N)``.

    Rolled out with core.train.rollout.rollout like any model, so its errors are measured
    by exactly the same code, on exactly the same windows.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -2:]


class LinearExtrapolation(nn.Module):
    """``forward(x)`` returns ``2 x_t - x_{t-1}`` from the two newest input frames:
    ``(B, 2*F, N, N)`` -> ``(B, 2, N, N)``, F >= 2 (constant acceleration, the same base as
    core.train.rollout's ``"linear"`` skip). A second reference, for diagnostics: over a
    rollout it overshoots, so persistence stays the baseline every model is ranked against.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return skip_base(x, "linear")
