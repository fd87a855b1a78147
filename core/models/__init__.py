"""Model registry: ConvNet, E2CNN and RSteer, all mapping stacked velocity frames to the next frame.

Every model maps ``(B, 2*input_frames, N, N)`` (channel ``2i`` = vx, ``2i+1`` = vy of frame
``i``, oldest first; rows point up) to the next velocity frame ``(B, 2, N, N)``, has
``model.config`` (a :class:`ModelConfig`) and ``model.regularization_loss()``.

- ``convnet``: plain Conv2d + ReLU (:mod:`core.models.convnet`).
- ``e2cnn``: e2cnn R2Conv over C4, vector fields in and out, regular fields inside; exactly
  equivariant to the physical C4 action (:mod:`core.models.equivariant`).
- ``rsteer``: relaxed steerable convolutions on e2cnn's basis, equivariant at
  initialisation, relaxed by training (:mod:`core.models.rsteer`).

Defaults (``DEFAULT_OPTIONS``; 1 input frame, 5 layers, kernel 3) and their parameter
counts, as returned by :func:`describe_models`:

- convnet: hidden 32 channels -> 28,930 parameters
- e2cnn: hidden 64 channels (16 regular fields) -> 18,880 parameters
- rsteer: hidden 24 channels (6 regular fields) -> 24,648 parameters (alpha 1e-5)

The largest is 1.53x the smallest. At equal channel widths the counts differ more: per
hidden layer an E2CNN kernel has 24 free numbers per 4x4 block of channels where a plain
3x3 conv has 144, and RSteer has 9 times the E2CNN's (one set per kernel offset).
"""

from __future__ import annotations

from core.models.base import VelocityModel
from core.models.config import DEFAULT_OPTIONS, MODEL_NAMES, ModelConfig
from core.models.convnet import ConvNet
from core.models.equivariant import E2CNN
from core.models.rsteer import RSteer

_CLASSES: dict[str, type[VelocityModel]] = {"convnet": ConvNet, "e2cnn": E2CNN, "rsteer": RSteer}

__all__ = [
    "DEFAULT_OPTIONS",
    "MODEL_NAMES",
    "ConvNet",
    "E2CNN",
    "ModelConfig",
    "RSteer",
    "VelocityModel",
    "build_model",
    "describe_models",
    "model_from_config",
]


def build_model(name: str, **options) -> VelocityModel:
    """Return a freshly initialised model ``name`` (one of MODEL_NAMES), defaults overridden by ``options``.

    Options: ``input_frames``, ``hidden`` (channels), ``layers``, ``kernel_size``, ``alpha``
    (rsteer only). An unknown name or option raises ValueError listing the known ones;
    an invalid value raises ValueError naming the field.
    """
    return model_from_config(ModelConfig.for_model(name, **options))


def model_from_config(config: ModelConfig | dict) -> VelocityModel:
    """Return a freshly initialised model with the architecture of ``config`` (ModelConfig or to_dict())."""
    config = ModelConfig.from_dict(config)
    return _CLASSES[config.name](config)


def describe_models(**options) -> dict[str, int]:
    """Return ``{name: trainable parameter count}`` per model at its defaults, overridden by ``options``."""
    out = {}
    for name in MODEL_NAMES:
        opts = {k: v for k, v in options.items() if k != "alpha" or name == "rsteer"}
        out[name] = build_model(name, **opts).parameter_count()
    return out
