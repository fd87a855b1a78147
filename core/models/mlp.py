"""MLP: fully connected layers over the whole grid, no spatial bias at all (the paper's weakest baseline).

Every output cell depends on every input cell through weights of its own, so the model is
built for one grid side (``config.grid``, set to the data's by training) and its parameter
count grows with N^2: ``(C*F*N^2 + C*N^2) * hidden`` for the first and last layers.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.base import VelocityModel
from core.models.config import ModelConfig


def mlp_widths(config: ModelConfig) -> list[int]:
    """Return the layer widths: the flattened input, ``layers - 1`` hidden layers, the flattened frame."""
    cells = config.grid * config.grid
    return (
        [config.in_channels * cells] + [config.hidden] * (config.layers - 1) + [config.frame_channels * cells]
    )


class MLP(VelocityModel):
    """``layers`` Linear layers with ReLU between them, ``hidden`` wide, for a ``grid`` x ``grid`` grid.

    ``forward(x)``: ``(B, C*input_frames, N, N)`` -> ``(B, C, N, N)``, N = ``config.grid``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        widths = mlp_widths(config)
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        n = self.config.grid
        h = x.reshape(x.shape[0], -1)
        for i, linear in enumerate(self.linears):
            h = linear(h)
            if i < len(self.linears) - 1:
                h = torch.relu(h)
        return h.reshape(x.shape[0], self.config.frame_channels, n, n)

    @staticmethod
    def parameter_bound(config: ModelConfig) -> int:
        """Return the parameter count of an MLP of ``config``, computed without building it."""
        widths = mlp_widths(config)
        return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
