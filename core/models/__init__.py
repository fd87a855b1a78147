"""Model registry: ConvNet, E2CNN and RSteer, all mapping stacked velocity frames to the next frame.

Every model maps ``(B, 2*input_frames, N, N)`` (channel ``2i`` = vx, ``2i+1`` = vy of frame
``i``, oldest first; rows point up) to the next velocity frame ``(B, 2, N, N)``, has
``model.config`` (a :class:`ModelConfig`) and ``model.regularization_loss()``.

- ``convnet``: plain Conv2d + ReLU (:mod:`core.models.convnet`).
- ``e2cnn``: e2cnn R2Conv over C4, vector fields in and out, regular fields inside; exactly
  equivariant to the physical C4 action (:mod:`core.models.equivariant`).
- ``rsteer``: relaxed steerable convolutions on e2cnn's basis, equivariant at
  initialisation, relaxed by training (:mod:`core.models.rsteer`).

Each model registers itself (core/models/registry.py) with its label, defaults (equal
width: 32 hidden channels each, 5 layers, kernel 3) and colour; ``describe_models()``
reports the parameter counts. Adding a model: one new module and one import line below.
"""

from __future__ import annotations

from core.models.base import VelocityModel
from core.models.config import ModelConfig

# The registry lines: importing a model module registers it (display order = this order).
from core.models.convnet import ConvNet  # noqa: E402, I001
from core.models.equivariant import E2CNN  # noqa: E402
from core.models.registry import ModelSpec, model_color, model_label, model_names, model_spec, register_model
from core.models.rsteer import RSteer  # noqa: E402

#: The built-in models (a model registered later is in model_names(), not here).
MODEL_NAMES: tuple[str, ...] = model_names()

__all__ = [
    "MODEL_NAMES",
    "ConvNet",
    "E2CNN",
    "ModelConfig",
    "ModelSpec",
    "RSteer",
    "VelocityModel",
    "model_color",
    "model_label",
    "model_names",
    "model_spec",
    "register_model",
    "build_model",
    "describe_models",
    "model_from_config",
]


def build_model(name: str, **options) -> VelocityModel:
    """Return a freshly initialised model ``name`` (a registered model), defaults overridden by ``options``.

    Options: ``input_frames``, ``hidden`` (channels), ``layers``, ``kernel_size``, ``alpha``
    (rsteer only). An unknown name or option raises ValueError listing the known ones;
    an invalid value raises ValueError naming the field.
    """
    return model_from_config(ModelConfig.for_model(name, **options))


def model_from_config(config: ModelConfig | dict) -> VelocityModel:
    """Return a freshly initialised model with the architecture of ``config`` (ModelConfig or to_dict())."""
    config = ModelConfig.from_dict(config)
    return model_spec(config.name).build(config)


def describe_models(**options) -> dict[str, int]:
    """Return ``{name: trainable parameter count}`` per model at its defaults, overridden by ``options``."""
    out = {}
    for name in model_names():
        opts = {k: v for k, v in options.items() if k != "alpha" or model_spec(name).relaxed}
        out[name] = build_model(name, **opts).parameter_count()
    return out
