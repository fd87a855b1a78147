"""Combo: non-equivariant layers first, equivariant layers after (the paper's Section 3.4).

The first ``(layers + 1) // 2`` layers are plain convolutions; their ``hidden`` output channels are
then read as ``hidden // 4`` C4 regular fields by e2cnn layers to the output frame. The plain
layers may learn a map of the observations into a space where the symmetry acts exactly;
nothing makes the whole model equivariant.
"""

from __future__ import annotations

import torch

from core.models.base import VelocityModel, to_conv_layout
from core.models.config import ModelConfig
from core.models.convnet import conv_stack, run_conv_stack
from core.models.steerable import Parts, SteerableStack, steerable_parameters


def frame_kind(config: ModelConfig) -> str:
    """The e2cnn field kind of one frame: a vector, or a vector and a scalar with the smoke."""
    return config.frame_layout.field_types


class Combo(VelocityModel):
    """Plain convolutions, then e2cnn ones.

    ``forward(x)``: ``(B, C*input_frames, N, N)`` -> ``(B, C, N, N)``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.free = conv_stack(free_widths(config), config.kernel_size)
        self.equivariant = SteerableStack(equivariant_types(config), config.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.equivariant(run_conv_stack(self.free, to_conv_layout(x), relu_last=True))

    @staticmethod
    def parameter_bound(config: ModelConfig) -> int:
        """Return the parameter count of a Combo of ``config``, computed without building it."""
        widths = free_widths(config)
        plain = sum(a * b * config.kernel_size**2 + b for a, b in zip(widths[:-1], widths[1:], strict=True))
        return plain + steerable_parameters(equivariant_types(config), config.kernel_size)


def free_widths(config: ModelConfig) -> list[int]:
    """Channel widths of the plain layers: ``(layers + 1) // 2`` of them, ``hidden`` wide."""
    return [config.in_channels] + [config.hidden] * ((config.layers + 1) // 2)


def equivariant_types(config: ModelConfig) -> list[Parts]:
    """Field types of the e2cnn layers: the plain layers' channels as regular fields, then the frame."""
    free, fields = (config.layers + 1) // 2, config.hidden // 4
    first = [("regular", fields)] if free else [(frame_kind(config), config.input_frames)]
    hidden = [[("regular", fields)]] * (config.layers - free - 1)
    return [first, *hidden, [(frame_kind(config), 1)]]
