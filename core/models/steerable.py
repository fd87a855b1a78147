"""A stack of e2cnn R2Conv layers between given field types, for models that are partly steerable.

Combo (plain layers, then this) and Lift (a plain encoder beside this) use it; E2CNN and RSteer
keep their own layers. Rows are flipped on the way in and out (core.models.base.flip_rows), so
the stack is equivariant to the project's physical C4 action.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import flip_rows
from core.models.basis import field_type, r2conv_between, steerable_basis

#: A field type as parts ``[(kind, count), ...]`` of core.models.basis.FIELD_KINDS, in channel order.
Parts = list[tuple[str, int]]
#: Equivariant biases per field of each kind (e2cnn biases only the trivial parts).
_BIASES = {"vector": 0, "vector+scalar": 1, "regular": 1, "scalar": 1}


def parts_type(parts: Parts):
    """Return the e2cnn FieldType of ``parts``."""
    types = [field_type(kind, count) for kind, count in parts]
    out = types[0]
    for more in types[1:]:
        out = out + more
    return out


def steerable_parameters(types: list[Parts], kernel_size: int) -> int:
    """Return the parameter count of a SteerableStack of ``types``, computed from the basis sizes."""
    total = 0
    for before, after in zip(types[:-1], types[1:], strict=True):
        for out_kind, out_count in after:
            total += out_count * _BIASES[out_kind]
            for in_kind, in_count in before:
                total += out_count * in_count * steerable_basis(in_kind, out_kind, kernel_size).shape[0]
    return total


class SteerableStack(nn.Module):
    """R2Conv layers from ``types[i]`` to ``types[i + 1]`` (each :data:`Parts`), ReLU between them.

    ``forward(x)``: ``(B, C_first, N, N)`` -> ``(B, C_last, N, N)``. ReLU is
    pointwise, hence equivariant, on the regular fields it is meant to sit between.
    """

    def __init__(self, types: list[Parts], kernel_size: int) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        fields = [parts_type(parts) for parts in types]
        self.convs = nn.ModuleList(
            r2conv_between(a, b, kernel_size, bias=True) for a, b in zip(fields[:-1], fields[1:], strict=True)
        )
        for conv in self.convs:
            conv.train(True)  # no cached kernel buffer in the state_dict (see E2CNN.train)

    def train(self, mode: bool = True) -> SteerableStack:
        # Why: e2cnn's R2Conv.train(False) adds its expanded kernel to the state_dict (E2CNN.train).
        for module in self.modules():
            module.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = flip_rows(x)
        for i, conv in enumerate(self.convs):
            weight, bias = conv.expand_parameters()
            x = F.conv2d(x, weight, bias, padding=self.pad)
            if i < len(self.convs) - 1:
                x = torch.relu(x)
        return flip_rows(x).contiguous()
