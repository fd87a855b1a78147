"""The trivial baseline every next-frame model must beat: persistence (next frame = this frame)."""

from __future__ import annotations

import torch
from torch import nn


class Persistence(nn.Module):
    """``forward(x)`` returns the newest input frame: ``(B, 2*F, N, N)`` -> ``(B, 2, N, N)``.

    Rolled out with core.train.rollout.rollout like any model, so its errors are measured
    by exactly the same code, on exactly the same windows.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -2:]
