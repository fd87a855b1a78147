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
        widths = [config.in_channels] + [config.hidden] * (config.layers - 1) + [config.frame_channels]
        self.convs = conv_stack(widths, config.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return run_conv_stack(self.convs, to_conv_layout(x)).contiguous()


def conv_stack(widths: list[int], kernel_size: int) -> nn.ModuleList:
    """Return zero-padded Conv2d layers from ``widths[i]`` to ``widths[i + 1]`` channels."""
    k = kernel_size
    return nn.ModuleList(
        nn.Conv2d(a, b, k, padding=k // 2) for a, b in zip(widths[:-1], widths[1:], strict=True)
    )


def run_conv_stack(convs: nn.ModuleList, x: torch.Tensor, relu_last: bool = False) -> torch.Tensor:
    """Return ``x`` through ``convs`` with ReLU between them (and after the last with ``relu_last``)."""
    for i, conv in enumerate(convs):
        x = conv(x)
        if relu_last or i < len(convs) - 1:
            x = torch.relu(x)
    return x
