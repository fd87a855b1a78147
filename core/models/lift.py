"""Lift: lift expansion (Wang et al. 2021) as the paper uses it for approximate symmetry.

A plain convolutional encoder reads the input and makes ``hidden // 4`` feature channels;
they enter an E2CNN backbone as scalar (trivial-type) fields beside the frames themselves,
so both see the same input. A scalar field does not turn with the grid's rotation of its
value, but the encoder computed it from an unturned input: its features are what breaks
the symmetry. With the encoder's output zero the model is the equivariant backbone.
"""

from __future__ import annotations

import torch

from core.models.base import VelocityModel, to_conv_layout
from core.models.combo import frame_kind
from core.models.config import ModelConfig
from core.models.convnet import conv_stack, run_conv_stack
from core.models.steerable import Parts, SteerableStack, steerable_parameters


class Lift(VelocityModel):
    """Encoder features as scalar fields of an E2CNN.

    ``forward(x)``: ``(B, C*input_frames, N, N)`` -> ``(B, C, N, N)``.

    The encoder has ``max(1, layers - 1)`` plain layers (``hidden`` wide) ending in ``hidden // 4``
    channels; the backbone has ``layers`` e2cnn layers with ``hidden // 4`` regular fields inside.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.encoder = conv_stack(encoder_widths(config), config.kernel_size)
        self.backbone = SteerableStack(backbone_types(config), config.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        features = run_conv_stack(self.encoder, to_conv_layout(x))
        return self.backbone(torch.cat([x, features.contiguous()], dim=1))

    @staticmethod
    def parameter_bound(config: ModelConfig) -> int:
        """Return the parameter count of a Lift of ``config``, computed without building it."""
        widths = encoder_widths(config)
        plain = sum(a * b * config.kernel_size**2 + b for a, b in zip(widths[:-1], widths[1:], strict=True))
        return plain + steerable_parameters(backbone_types(config), config.kernel_size)


def encoder_widths(config: ModelConfig) -> list[int]:
    """Channel widths of the encoder: ``max(1, layers - 1)`` layers ending in ``hidden // 4`` features."""
    depth = max(1, config.layers - 1)
    return [config.in_channels] + [config.hidden] * (depth - 1) + [config.hidden // 4]


def backbone_types(config: ModelConfig) -> list[Parts]:
    """Field types of the backbone: the frames and the encoder's scalars, regular fields, the frame."""
    features = config.hidden // 4
    first = [(frame_kind(config), config.input_frames), ("scalar", features)]
    return [first, *[[("regular", features)]] * (config.layers - 1), [(frame_kind(config), 1)]]
