"""RPP: Residual Pathway Priors (Finzi et al. 2021), as the paper builds it for rotation.

The output is the sum of an E2CNN path (exactly C4-equivariant) and a ConvNet path (no
symmetry), both at the model's width. ``regularization_loss()`` is an L2 prior on the
ConvNet path only, ``alpha * sum(theta_free^2)``: the data must pay for every bit of
non-equivariance. An infinite prior zeroes that path and leaves the E2CNN.
"""

from __future__ import annotations

import torch

from core.models.base import VelocityModel
from core.models.config import ModelConfig
from core.models.convnet import ConvNet
from core.models.equivariant import E2CNN


def path_config(config: ModelConfig, name: str) -> ModelConfig:
    """Return ``config``'s architecture (frames, width, depth, kernel, smoke) for model ``name``."""
    fields = ("input_frames", "hidden", "layers", "kernel_size", "smoke")
    return ModelConfig(name=name, **{f: getattr(config, f) for f in fields})


class RPP(VelocityModel):
    """E2CNN path + ConvNet path; ``forward(x)``: ``(B, C*input_frames, N, N)`` -> ``(B, C, N, N)``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.equivariant = E2CNN(path_config(config, "e2cnn"))
        self.free = ConvNet(path_config(config, "convnet"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.equivariant(x) + self.free(x)

    def regularization_loss(self) -> torch.Tensor:
        """Return ``alpha * sum of the ConvNet path's squared parameters`` (a scalar tensor)."""
        return self.config.alpha * sum(p.square().sum() for p in self.free.parameters())

    @staticmethod
    def parameter_bound(config: ModelConfig) -> int:
        """Return the parameter count of an RPP of ``config``, computed without building it."""
        from core.models.budget import model_budget

        return sum(model_budget(path_config(config, name))["params"] for name in ("e2cnn", "convnet"))
