"""ConvNet: plain convolutions, no symmetry built in (the paper's baseline)."""

from __future__ import annotations

import torch
from torch import nn

from core.models.base import VelocityModel, to_conv_layout
from core.models.config import ModelConfig


class ConvNet(VelocityModel):
    """``layers`` zero-padded Conv2d layers with ReLU between them; hidden width ``hidden`` channels.

    ``forward(x)``: ``(B, C*input_frames, N, N)`` -> ``(B, C, N, N)``, C = ``config.frame_channels``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        k, c = config.kernel_size, config.frame_channels
        widths = [config.in_channels] + [config.hidden] * (config.layers - 1) + [c]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, k, padding=k // 2) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = to_conv_layout(x)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:
                x = torch.relu(x)
        return x.contiguous()
