"""RGroup: relaxed group convolution over C4 (the paper's Section 3.1, Eq. 4-5).

Velocity is lifted from C4's vector representation rho_1 to the regular one: a vector
(a, b) becomes ``f(i) = c (a cos(2 pi i / 4) + b sin(2 pi i / 4))`` = ``c (a, b, -a, -b)`` on
the four group elements, ``c`` a trainable factor per lifted field (the smoke, a scalar,
becomes ``c s`` on all four). Each layer is a group convolution over C4 x Z^2 whose kernel
is ``Psi(g, h) = sum_l w_l(h) Psi_l(g^-1 h)``: L filter banks ``Psi_l`` combined with
relaxed weights ``w_l(h)`` per input group element. Equal weights across h give a group
convolution, exactly equivariant; they start equal. ``regularization_loss()`` is the paper's
``alpha * sum_l sum_{g,h} |w_l(h) - w_l(g)|``. The last layer's regular fields are pooled
back to a vector, ``(f(0) - f(2), f(1) - f(3))`` (the smoke: the mean over the group).

Everything is written in the project's physical C4 action (core.symmetry: rows up): a quarter
turn shifts a regular field's channels by one (i -> i + 1) and turns the grid and the kernel
offsets with core.symmetry.rotate_scalar, so no row flip is needed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import VelocityModel, to_conv_layout
from core.models.config import ModelConfig
from core.models.rsteer import OUTPUT_INIT_SCALE
from core.symmetry import rotate_scalar

#: Filter banks per layer: the paper found L = 3 best in most cases.
FILTER_BANKS = 3
GROUP_ORDER = 4


class RelaxedGroupConv(nn.Module):
    """One relaxed C4 group convolution from ``in_fields`` to ``out_fields`` regular fields.

    Parameters: ``kernel`` ``(L, out_fields, in_fields, 4, k, k)`` (Psi_l(h', y), h' the
    relative group element), ``relaxed_weights`` ``(L, 4)`` (w_l(h), all ones at start) and
    ``bias`` ``(out_fields,)`` (one per field: shared by its 4 channels, so equivariant).
    """

    def __init__(self, in_fields: int, out_fields: int, kernel_size: int, gain: float = 1.0) -> None:
        super().__init__()
        k, banks = kernel_size, FILTER_BANKS
        self.in_fields, self.out_fields, self.kernel_size = in_fields, out_fields, kernel_size
        self.kernel = nn.Parameter(torch.empty(banks, out_fields, in_fields, GROUP_ORDER, k, k))
        self.relaxed_weights = nn.Parameter(torch.ones(banks, GROUP_ORDER))
        self.bias = nn.Parameter(torch.zeros(out_fields))
        # He initialisation of the summed kernel: L banks of variance 1/L each.
        std = gain * math.sqrt(2.0 / (in_fields * GROUP_ORDER * k * k * banks))
        with torch.no_grad():
            self.kernel.normal_(0.0, std)

    def expanded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the conv2d ``(weight (4 * out_fields, 4 * in_fields, k, k), bias (4 * out_fields,))``.

        Output channel ``4 o + g`` (field o, group element g) reads input channel ``4 i + h`` through
        ``sum_l w_l(h) Psi_l(h - g)`` turned by g quarter turns: the kernel that makes
        ``conv(turned input) = turned conv(input)`` when the w_l(h) are equal.
        """
        per_element = [rotate_scalar(torch.roll(self.kernel, g, dims=3), g) for g in range(GROUP_ORDER)]
        bank = torch.stack(per_element, dim=2)  # (L, O, g, I, h, k, k)
        weight = torch.einsum("lh,logihyx->ogihyx", self.relaxed_weights, bank)
        k = self.kernel_size
        weight = weight.reshape(self.out_fields * GROUP_ORDER, self.in_fields * GROUP_ORDER, k, k)
        return weight, self.bias.repeat_interleave(GROUP_ORDER)

    def spread(self) -> torch.Tensor:
        """Return ``sum_l sum_{g,h} |w_l(h) - w_l(g)|`` (a scalar tensor; zero when tied)."""
        w = self.relaxed_weights
        return (w[:, :, None] - w[:, None, :]).abs().sum()


def lifted_fields(config: ModelConfig) -> int:
    """Regular fields the input is lifted to: one per frame, two per frame with the smoke."""
    return config.input_frames * len(config.frame_layout.fields)


def group_irrep_parts(w: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split relaxed weights ``w[..., h]`` over the four group elements h by how they change when
    a quarter turn shifts h by one (the C4 Fourier transform over h).

    Returns three orthogonal parts of the same shape that sum to ``w``: ``trivial`` (the mean over
    h: the equivariant part), ``sign`` (alternating in h: breaks quarter turns, keeps the
    half-turn) and ``rotation`` (the ±i pair: breaks the half-turn too).
    """
    trivial = w.mean(dim=-1, keepdim=True).expand_as(w)
    alternate = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=w.dtype, device=w.device)
    sign = (w * alternate).mean(dim=-1, keepdim=True) * alternate
    return {"trivial": trivial, "sign": sign, "rotation": w - trivial - sign}


class RGroup(VelocityModel):
    """Relaxed C4 group convolution model; ``forward(x)``: ``(B, C*input_frames, N, N)`` -> ``(B, C, N, N)``.

    Exactly equivariant while every layer's w_l(h) are equal across h (at initialisation and
    after :meth:`tie_weights`); training may relax it.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        out_fields = len(config.frame_layout.fields)  # one regular field per field of a frame
        fields = [lifted_fields(config)] + [config.hidden // 4] * (config.layers - 1) + [out_fields]
        self.lift_scale = nn.Parameter(torch.ones(fields[0]))
        pairs = list(zip(fields[:-1], fields[1:], strict=True))
        # A small first prediction, for the reason given at RSteer's OUTPUT_INIT_SCALE.
        gains = [1.0] * (len(pairs) - 1) + [OUTPUT_INIT_SCALE]
        self.convs = nn.ModuleList(
            RelaxedGroupConv(a, b, config.kernel_size, gain)
            for (a, b), gain in zip(pairs, gains, strict=True)
        )

    def lift(self, x: torch.Tensor) -> torch.Tensor:
        """Return the input's regular fields ``(B, 4 * lifted_fields, N, N)``: per frame c (a, b, -a, -b)
        from its velocity (a, b), and with the smoke c (s, s, s, s)."""
        b, _, n, m = x.shape
        frames = x.reshape(b, self.config.input_frames, self.config.frame_channels, n, m)
        vx, vy = frames[:, :, 0], frames[:, :, 1]
        parts = [torch.stack([vx, vy, -vx, -vy], dim=2)]
        if self.config.smoke:
            parts.append(frames[:, :, 2:3].expand(-1, -1, GROUP_ORDER, -1, -1))
        fields = torch.stack(parts, dim=2).reshape(b, -1, GROUP_ORDER, n, m)
        return (fields * self.lift_scale[None, :, None, None, None]).reshape(b, -1, n, m)

    def pool(self, y: torch.Tensor) -> torch.Tensor:
        """Return the frame ``(B, C, N, N)`` from the last layer's regular fields: the velocity
        ``(f(0) - f(2), f(1) - f(3))`` of the first, the smoke as the group mean of the second."""
        b, _, n, m = y.shape
        fields = y.reshape(b, -1, GROUP_ORDER, n, m)
        velocity = fields[:, 0]
        out = [velocity[:, 0] - velocity[:, 2], velocity[:, 1] - velocity[:, 3]]
        if self.config.smoke:
            out.append(fields[:, 1].mean(dim=1))
        return torch.stack(out, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        h = to_conv_layout(self.lift(x))
        pad = self.config.kernel_size // 2
        for i, conv in enumerate(self.convs):
            weight, bias = conv.expanded()
            h = F.conv2d(h, weight, bias, padding=pad)
            if i < len(self.convs) - 1:
                h = torch.relu(h)
        return self.pool(h).contiguous()

    def regularization_loss(self) -> torch.Tensor:
        """Return ``alpha * sum over layers and banks of sum_{g,h} |w_l(h) - w_l(g)|`` (0 when tied)."""
        return self.config.alpha * sum(conv.spread() for conv in self.convs)

    def relaxed_parameters(self) -> list[nn.Parameter]:
        """Return the live relaxed weights w_l(h), one ``(L, 4)`` parameter per layer.

        The trainer's optimiser (core.train.optim.RelaxedAdam) moves their mean over h by Adam
        and the rest by plain SGD: measured, plain Adam turned float64 round-off into a
        relative model equivariance error of 1.7e-6 within 4 steps on exactly symmetric data.
        """
        return [conv.relaxed_weights for conv in self.convs]

    @staticmethod
    def relaxed_invariant_part(w: torch.Tensor) -> torch.Tensor:
        """Return the part of ``w`` (relaxed weights ``(..., 4)`` or their gradient) that keeps
        the model equivariant: its mean over the group elements h."""
        return w.mean(dim=-1, keepdim=True).expand_as(w)

    #: The split of relaxed weights (or a gradient) by C4 irrep, for the optimiser's noise floor.
    relaxed_irrep_parts = staticmethod(group_irrep_parts)

    def tie_weights(self) -> None:
        """Set every w_l(h) to its mean over h: the model becomes exactly equivariant."""
        with torch.no_grad():
            for w in self.relaxed_parameters():
                w.copy_(self.relaxed_invariant_part(w))

    def relaxation_summary(self) -> list[dict]:
        """Where each layer's relaxed weights break symmetry, for display (RSteer's schema).

        Returns one dict per layer: ``layer``, ``in``/``out`` (field descriptions),
        ``relative_deviation`` (mean |w_l(h) - mean_h w_l| / mean |w|: 0 when tied) and
        ``irrep_energy``: the fractions of ``sum w^2`` in the C4 Fourier parts of w_l(h) over the
        four group elements h (:func:`group_irrep_parts`: ``trivial``, ``sign``, ``rotation``;
        they sum to 1). No offset maps: RGroup's relaxed weights do not depend on the offset.
        """
        summary = []
        for index, conv in enumerate(self.convs):
            w = conv.relaxed_weights.detach().double().cpu()
            scale = float(w.abs().mean()) or float("nan")
            total = float(w.pow(2).sum()) or float("nan")
            summary.append(
                {
                    "layer": index,
                    "in": f"{conv.in_fields} regular",
                    "out": f"{conv.out_fields} regular",
                    "relative_deviation": float((w - w.mean(dim=-1, keepdim=True)).abs().mean()) / scale,
                    "irrep_energy": {
                        part: float(v.pow(2).sum()) / total for part, v in group_irrep_parts(w).items()
                    },
                }
            )
        return summary

    @staticmethod
    def parameter_bound(config: ModelConfig) -> int:
        """Return the parameter count of an RGroup of ``config``, computed without building it."""
        k2, banks = config.kernel_size**2, FILTER_BANKS
        out_fields = len(config.frame_layout.fields)  # one regular field per field of a frame
        fields = [lifted_fields(config)] + [config.hidden // 4] * (config.layers - 1) + [out_fields]
        per_layer = [
            banks * o * i * GROUP_ORDER * k2 + banks * GROUP_ORDER + o
            for i, o in zip(fields[:-1], fields[1:], strict=True)
        ]
        return fields[0] + sum(per_layer)
