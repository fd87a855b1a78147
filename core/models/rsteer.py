"""RSteer: relaxed steerable convolutions (the paper's RSteerR, Eq. 7).

Each layer's kernel is ``K(y) = sum_l w_l(y) Phi_l(y)`` per (out field, in field) pair,
where ``{Phi_l}`` is e2cnn's C4 steerable basis for that pair of field kinds and the
weights ``w_l(y)`` may differ from one kernel offset ``y`` to another. Weights equal
across offsets give e2cnn's equivariant kernel; so do weights that are merely C4-invariant
as functions of ``y`` (``w_l(g y) = w_l(y)``, because every ``Phi_l`` is equivariant), which
is why :meth:`RSteer.relaxation_summary` reports both the deviation from the offset mean
and the deviation from the C4 orbit mean (the part that actually breaks symmetry).

Biases are equivariant: one per regular output field, shared by its 4 channels, none on
the output frame. Rows are flipped on the way in and out (see core.models.base.flip_rows).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from core.models.base import ExpandedKernelModel
from core.models.basis import field_size, layer_plan, steerable_basis
from core.models.config import ModelConfig

#: Factor on the last layer's initial weights (see RSteer.__init__).
OUTPUT_INIT_SCALE = 0.1


class RelaxedSteerableConv(nn.Module):
    """One relaxed steerable layer from ``in_fields`` fields of ``in_kind`` to ``out_fields`` of ``out_kind``.

    Parameters: ``weight`` ``(out_fields, in_fields, L, k, k)`` (w_l(y) per field pair and
    offset) and, for regular outputs, ``bias`` ``(out_fields,)``. The basis ``Phi``
    ``(L, out_size, in_size, k, k)`` is a non-persistent buffer rebuilt from e2cnn.
    """

    def __init__(
        self, in_kind: str, in_fields: int, out_kind: str, out_fields: int, kernel_size: int
    ) -> None:
        super().__init__()
        self.in_kind, self.out_kind, self.kernel_size = in_kind, out_kind, kernel_size
        self.in_fields, self.out_fields = in_fields, out_fields
        self.out_size, self.in_size = field_size(out_kind), field_size(in_kind)
        basis = steerable_basis(in_kind, out_kind, kernel_size)
        self.register_buffer("basis", basis, persistent=False)
        size = basis.shape[0]
        self.weight = nn.Parameter(torch.empty(out_fields, in_fields, size, kernel_size, kernel_size))
        # The regular representation permutes its 4 channels, so only a bias shared by
        # the 4 is equivariant; a vector field has no invariant part, so no bias at all.
        self.bias = nn.Parameter(torch.zeros(out_fields)) if out_kind == "regular" else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-style initialisation with weights equal across offsets (an exactly equivariant layer)."""
        # Var K = sigma^2 * sum_l Phi_l^2 per entry; aim for 2 / fan_in on average.
        fan_in = self.in_fields * self.in_size * self.kernel_size**2
        energy = float(self.basis.pow(2).sum(0).mean())
        sigma = math.sqrt(2.0 / (fan_in * energy))
        with torch.no_grad():
            coefficients = torch.randn(self.weight.shape[:3], device=self.weight.device) * sigma
            self.weight.copy_(coefficients[..., None, None].expand_as(self.weight))
            if self.bias is not None:
                self.bias.zero_()

    def kernel(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the plain conv2d ``(weight (C_out, C_in, k, k), bias (C_out,) or None)``.

        Expanded once per call by a contraction over l per field pair; no tensor over
        all basis elements of all channels is ever formed.
        """
        w = self.weight
        kernel = torch.einsum("oilyx,labyx->oaibyx", w, self.basis.to(w.dtype))
        k = self.kernel_size
        kernel = kernel.reshape(self.out_fields * self.out_size, self.in_fields * self.in_size, k, k)
        bias = None if self.bias is None else self.bias.repeat_interleave(self.out_size)
        return kernel, bias

    def smoothness(self) -> torch.Tensor:
        """Return ``||dw/dm||_2 + ||dw/dn||_2``: Frobenius norms of the finite differences of w
        along the kernel's row and column axes (a scalar tensor; zero when w is equal across offsets)."""
        w = self.weight
        dm = w[..., 1:, :] - w[..., :-1, :]
        dn = w[..., :, 1:] - w[..., :, :-1]
        return torch.linalg.vector_norm(dm) + torch.linalg.vector_norm(dn)

    def tie(self) -> None:
        """Set every w_l(y) to its mean over the offsets y, making the layer exactly equivariant."""
        with torch.no_grad():
            self.weight.copy_(self.weight.mean(dim=(-2, -1), keepdim=True).expand_as(self.weight))


def c4_orbit_mean(w: torch.Tensor) -> torch.Tensor:
    """Return the mean of ``w[..., k, k]`` over the four quarter turns of its last two (offset) axes."""
    return sum(torch.rot90(w, r, dims=(-2, -1)) for r in range(4)) / 4


def c4_irrep_parts(w: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split ``w[..., k, k]`` by how it transforms when its offset grid is turned by 90 degrees.

    Returns three orthogonal parts of the same shape that sum to ``w``:
    ``trivial`` (unchanged by every quarter turn: keeps the layer C4-equivariant),
    ``sign`` (changes sign under 90 degrees, unchanged under 180: breaks C4 but keeps C2),
    ``rotation`` (the two-dimensional irreps: changes sign under 180 degrees, breaks C2 too).
    """
    turns = [torch.rot90(w, r, dims=(-2, -1)) for r in range(4)]
    trivial = sum(turns) / 4
    sign = (turns[0] - turns[1] + turns[2] - turns[3]) / 4
    return {"trivial": trivial, "sign": sign, "rotation": w - trivial - sign}


class RSteer(ExpandedKernelModel):
    """Relaxed steerable model; ``forward(x)``: ``(B, C*input_frames, N, N)`` -> ``(B, C, N, N)``.

    Exactly C4-equivariant at initialisation; training may relax it. ``regularization_loss()``
    is ``alpha * sum over layers of (||dw/dm||_2 + ||dw/dn||_2)``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        plan = layer_plan(config.input_frames, config.hidden, config.layers, config.smoke)
        k = config.kernel_size
        self.convs = nn.ModuleList(RelaxedSteerableConv(a, n, b, m, k) for a, n, b, m in plan)
        with torch.no_grad():
            # A small first prediction keeps the K-step rollout loss from blowing up early
            # (measured: an unscaled start left 1 seed in 3 with 8x the final loss and a
            # symmetry-broken model on exactly symmetric data). Still tied: still equivariant.
            self.convs[-1].weight.mul_(OUTPUT_INIT_SCALE)

    def expand_layer(self, conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
        return conv.kernel()

    def regularization_loss(self) -> torch.Tensor:
        """Return ``alpha * sum_layers (||dw/dm||_2 + ||dw/dn||_2)``, a scalar tensor (0 for tied weights)."""
        total = sum(conv.smoothness() for conv in self.convs)
        return self.config.alpha * total

    def relaxed_parameters(self) -> list[nn.Parameter]:
        """Return the live relaxed weight parameters, one ``(out_fields, in_fields, L, k, k)`` per layer."""
        return [conv.weight for conv in self.convs]

    def relaxed_weights(self) -> list[torch.Tensor]:
        """Return CPU copies of the relaxed weights, per layer ``(out_fields, in_fields, L, k, k)``."""
        return [conv.weight.detach().cpu().clone() for conv in self.convs]

    def tie_weights(self) -> None:
        """Set every layer's w_l(y) to its mean over offsets: the model becomes exactly equivariant."""
        for conv in self.convs:
            conv.tie()

    def relaxation_summary(self) -> list[dict]:
        """How far each layer's weights are from tied, for display.

        Returns one dict per layer with:
        ``relative_deviation`` (float): mean |w(y) - mean_y w| / mean |w|;
        ``deviation_map`` (float64 ``(k, k)``): the same, averaged over everything but the
        offset y, so its mean is ``relative_deviation``;
        ``relative_asymmetry`` and ``asymmetry_map``: the same with the C4 orbit mean
        ``mean_g w(g y)`` in place of the offset mean, i.e. the part of the relaxation that
        breaks equivariance. Maps are indexed like the kernel (row 0 = first kernel row,
        in e2cnn's row-down orientation). ``irrep_energy``: the fractions of ``sum w^2`` in the
        parts of :func:`c4_irrep_parts` (``trivial``, ``sign``, ``rotation``; they sum to 1),
        which say which symmetry the relaxation breaks (after the ICML 2024 follow-up paper).
        Also ``layer``, ``in``/``out`` field descriptions.
        """
        summary = []
        for index, conv in enumerate(self.convs):
            w = conv.weight.detach().double().cpu()
            scale = float(w.abs().mean()) or float("nan")
            dev = (w - w.mean(dim=(-2, -1), keepdim=True)).abs().mean(dim=(0, 1, 2)) / scale
            asym = (w - c4_orbit_mean(w)).abs().mean(dim=(0, 1, 2)) / scale
            total = float(w.pow(2).sum()) or float("nan")
            energy = {part: float(v.pow(2).sum()) / total for part, v in c4_irrep_parts(w).items()}
            summary.append(
                {
                    "layer": index,
                    "in": f"{conv.in_fields} {conv.in_kind}",
                    "out": f"{conv.out_fields} {conv.out_kind}",
                    "relative_deviation": float(dev.mean()),
                    "deviation_map": np.asarray(dev.numpy()),
                    "relative_asymmetry": float(asym.mean()),
                    "asymmetry_map": np.asarray(asym.numpy()),
                    "irrep_energy": energy,
                }
            )
        return summary
