"""E2CNN: a C4-equivariant steerable CNN built from e2cnn ``R2Conv`` layers.

Input and output are vector fields (e2cnn irrep(1)), one per velocity frame (with
``smoke``, each followed by a scalar field: the frame's smoke); hidden
layers are regular fields with ReLU (pointwise on regular fields, hence equivariant)
and e2cnn's equivariant biases (one per regular field). Rows are flipped on the way in
and out, which makes the network equivariant to the project's physical C4 action
(core.symmetry) rather than e2cnn's own.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from core.models.base import ExpandedKernelModel, flip_rows
from core.models.basis import layer_plan, make_r2conv
from core.models.config import ModelConfig


class E2CNN(ExpandedKernelModel):
    """Exactly C4-equivariant model; ``forward(x)``: ``(B, C*input_frames, N, N)`` -> ``(B, C, N, N)``.

    Every forward expands the e2cnn weights into kernels, except in eval mode with
    autograd off (``torch.no_grad``), where the expanded kernels are cached: that is what
    e2cnn's ``export()`` buys (plain conv2d calls; measured by benchmarks/bench_models.py,
    the expansion is well under a millisecond, a few percent of a batch's forward). The
    cache is rebuilt whenever a parameter changes (load_state_dict, an optimiser step, an
    in-place edit), so it cannot go stale.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        plan = layer_plan(config.input_frames, config.hidden, config.layers, config.smoke)
        self.convs = nn.ModuleList(
            make_r2conv(a, n, b, m, config.kernel_size, bias=True) for a, n, b, m in plan
        )
        for conv in self.convs:
            # Drop the (zero) cached kernel e2cnn registers at construction: it would
            # go into every state_dict, stale. See train() below.
            conv.train(True)

    def train(self, mode: bool = True) -> E2CNN:
        # Why not nn.Module.train: e2cnn's R2Conv.train(False) registers its expanded
        # kernel as a buffer, so the state_dict would change with the mode and a
        # checkpoint saved in one mode would not load in the other. We keep our own cache.
        for module in self.modules():
            module.training = mode
        return self

    def expand_layer(self, conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
        return conv.expand_parameters()

    def export(self) -> nn.Module:
        """Return an equivalent plain-torch module (Conv2d + ReLU, row flips included), via e2cnn's export().

        The copy does not follow later changes to this model's weights.
        """
        layers: list[nn.Module] = []
        for i, conv in enumerate(self.convs):
            plain = copy.deepcopy(conv).train(True)  # so e2cnn's export() expands the current weights
            layers.append(plain.export())
            if i < len(self.convs) - 1:
                layers.append(nn.ReLU())
        return _Flipped(nn.Sequential(*layers)).eval()


class _Flipped(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return flip_rows(self.body(flip_rows(x)))
