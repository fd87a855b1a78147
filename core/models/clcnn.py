"""CLCNN: locally connected layers with the equivariant kernel constraint as a loss (the paper's Section 3.4).

A locally connected layer has a kernel of its own at every cell p: ``W(p, y)``, no weight
sharing over positions. A full one has ``N^2 * C_out * C_in * k^2`` weights per layer (about
30 M at grid 32 and the presets' width), so the kernel is factorised as in the paper's
Section 3.2: ``W(p, y) = sum_r a_r(p) B_r(y)`` with ``RANK`` kernels ``B_r`` and a gain map
``a_r`` per cell (the bias likewise), which still differs at every cell. Hidden channels are
C4 regular fields, so the constraint has a representation to check:
``L_hinge = alpha * sum_layers sum_{g != e} mean_p ||(g W)(p) - W(p)||^2`` with
``(g W)(p, y) = rho_out(g) W(g^-1 p, g^-1 y) rho_in(g)^-1``, zero exactly when every layer
is equivariant to the physical C4 action (core.symmetry). It is computed from the factors'
Gram matrices, in float64, without forming W. (The paper writes the norm unsquared; squared,
its gradient stays finite at zero.)
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.base import VelocityModel, to_conv_layout
from core.models.basis import field_size, layer_plan
from core.models.config import ModelConfig
from core.symmetry import rotate_scalar

#: Kernels per layer whose per-cell mixtures make the locally connected kernel.
RANK = 4
_QUARTER_TURN = {
    "vector": torch.tensor([[0.0, -1.0], [1.0, 0.0]]),  # (vx, vy) -> (-vy, vx)
    "vector+scalar": torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    "regular": torch.roll(torch.eye(4), 1, dims=0),  # channel i -> i + 1
}


def representation(kind: str, fields: int) -> torch.Tensor:
    """Return ``rho(g^k)`` for k = 0..3 quarter turns, ``(4, C, C)``, on ``fields`` fields of ``kind``."""
    one = torch.block_diag(*[_QUARTER_TURN[kind]] * fields).double()
    return torch.stack([torch.linalg.matrix_power(one, k) for k in range(4)])


class LowRankLocalConv(nn.Module):
    """A locally connected layer ``W(p, y) = sum_r a_r(p) B_r(y)`` on a ``grid`` x ``grid`` grid.

    Parameters: ``conv`` (the ``RANK`` kernels and biases, as one Conv2d to ``RANK * C_out``
    channels) and ``gain`` ``(RANK, grid, grid)`` (a_r(p), ones at start). ``in_rep`` /
    ``out_rep`` (from :func:`representation`) say how the channels turn.
    """

    def __init__(self, in_rep: torch.Tensor, out_rep: torch.Tensor, grid: int, kernel_size: int) -> None:
        super().__init__()
        self.c_in, self.c_out = in_rep.shape[-1], out_rep.shape[-1]
        self.conv = nn.Conv2d(self.c_in, RANK * self.c_out, kernel_size, padding=kernel_size // 2)
        with torch.no_grad():  # the RANK kernels add up: keep the sum at Conv2d's scale
            self.conv.weight.div_(RANK**0.5)
            self.conv.bias.div_(RANK**0.5)
        self.gain = nn.Parameter(torch.ones(RANK, grid, grid))
        self.register_buffer("in_rep", in_rep, persistent=False)
        self.register_buffer("out_rep", out_rep, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y = y.reshape(y.shape[0], RANK, self.c_out, *y.shape[-2:])
        return (y * self.gain[None, :, None]).sum(dim=1)

    def _kernels(self, turns: int) -> torch.Tensor:
        """The B_r and biases turned by ``turns`` quarter turns, ``rho_out B_r(g^-1 y) rho_in^-1``,
        flattened ``(RANK, C_out * C_in * k * k + C_out)``, float64."""
        k = self.conv.kernel_size[0]
        weight = self.conv.weight.double().reshape(RANK, self.c_out, self.c_in, k, k)
        bias = self.conv.bias.double().reshape(RANK, self.c_out)
        rho_out, rho_in = self.out_rep[turns], self.in_rep[turns]
        weight = torch.einsum("ab,rbcyx,dc->radyx", rho_out, rotate_scalar(weight, turns), rho_in)
        bias = torch.einsum("ab,rb->ra", rho_out, bias)
        return torch.cat([weight.reshape(RANK, -1), bias], dim=1)

    def hinge(self) -> torch.Tensor:
        """Return ``sum_{g != e} mean_p ||(g W)(p) - W(p)||^2`` (float64 scalar; 0 when equivariant)."""
        gain = self.gain.double()
        grid, kernels = gain.reshape(RANK, -1), self._kernels(0)
        signs = torch.cat([torch.ones(RANK), -torch.ones(RANK)]).double().to(gain.device)
        total = gain.new_zeros(())
        for turns in (1, 2, 3):
            # ||sum_i s_i u_i (x) v_i||^2 = sum_ij s_i s_j <u_i, u_j> <v_i, v_j>
            u = torch.cat([rotate_scalar(gain, turns).reshape(RANK, -1), grid])
            v = torch.cat([self._kernels(turns), kernels])
            total = total + (signs[:, None] * signs[None, :] * (u @ u.T) * (v @ v.T)).sum()
        return total.clamp_min(0.0) / grid.shape[1]

    @torch.no_grad()
    def make_equivariant(self) -> None:
        """Set each a_r to its mean over the C4 orbit of cells and each B_r, bias to its group
        average: the layer then meets the constraint exactly (hinge 0)."""
        self.gain.copy_(sum(rotate_scalar(self.gain, t) for t in range(4)) / 4)
        k = self.conv.kernel_size[0]
        average = sum(self._kernels(t) for t in range(4)) / 4
        n = self.c_out * self.c_in * k * k
        self.conv.weight.copy_(average[:, :n].reshape(self.conv.weight.shape))
        self.conv.bias.copy_(average[:, n:].reshape(self.conv.bias.shape))


class CLCNN(VelocityModel):
    """Constrained locally connected model on a ``grid`` x ``grid`` grid.

    ``forward(x)``: ``(B, C*input_frames, N, N)`` -> ``(B, C, N, N)``, N = ``config.grid``;
    fields as in E2CNN (frames in and out, ``hidden // 4`` regular fields inside).
    ``regularization_loss()``: the hinge above, times ``alpha``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        plan = layer_plan(config.input_frames, config.hidden, config.layers, config.smoke)
        self.layers = nn.ModuleList(
            LowRankLocalConv(representation(a, n), representation(b, m), config.grid, config.kernel_size)
            for a, n, b, m in plan
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = to_conv_layout(x)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x.contiguous()

    def regularization_loss(self) -> torch.Tensor:
        """Return ``alpha * sum of the layers' hinges`` (a scalar tensor of the weights' dtype)."""
        total = sum(layer.hinge() for layer in self.layers)
        return (self.config.alpha * total).to(self.layers[0].gain.dtype)

    def make_equivariant(self) -> None:
        """Project every layer onto the constraint (see LowRankLocalConv.make_equivariant)."""
        for layer in self.layers:
            layer.make_equivariant()

    @staticmethod
    def parameter_bound(config: ModelConfig) -> int:
        """Return the parameter count of a CLCNN of ``config``, computed without building it."""
        k2, total = config.kernel_size**2, 0
        for a, n, b, m in layer_plan(config.input_frames, config.hidden, config.layers, config.smoke):
            c_in, c_out = field_size(a) * n, field_size(b) * m
            total += RANK * (c_out * c_in * k2 + c_out) + RANK * config.grid**2
        return total
