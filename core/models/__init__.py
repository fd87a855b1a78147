"""Model registry: the paper's Table-1 models, all mapping stacked velocity frames to the next frame.

Every model maps ``(B, 2*input_frames, N, N)`` (channel ``2i`` = vx, ``2i+1`` = vy of frame
``i``, oldest first; rows point up) to the next velocity frame ``(B, 2, N, N)``; with
``smoke`` every frame has a third channel, the smoke density, in and out
(``(B, 3*input_frames, N, N)`` -> ``(B, 3, N, N)``). Every model has
``model.config`` (a :class:`ModelConfig`) and ``model.regularization_loss()``.

- ``convnet``: plain Conv2d + ReLU (:mod:`core.models.convnet`).
- ``e2cnn``: e2cnn R2Conv over C4, vector fields in and out, regular fields inside; exactly
  equivariant to the physical C4 action (:mod:`core.models.equivariant`).
- ``rsteer``: relaxed steerable convolutions on e2cnn's basis, equivariant at
  initialisation, relaxed by training (:mod:`core.models.rsteer`).
- ``mlp``: fully connected over the grid, no spatial bias (:mod:`core.models.mlp`).
- ``rpp``: residual pathway priors, E2CNN + ConvNet with an L2 prior on the ConvNet
  (:mod:`core.models.rpp`).
- ``combo``: plain layers, then e2cnn layers (:mod:`core.models.combo`).
- ``clcnn``: locally connected layers, the equivariance constraint as a loss
  (:mod:`core.models.clcnn`).
- ``lift``: lift expansion, a plain encoder's features as scalar fields of an E2CNN
  (:mod:`core.models.lift`).
- ``rgroup``: relaxed C4 group convolution, equivariant at initialisation
  (:mod:`core.models.rgroup`).

Each model is one registry line below (core/models/registry.py): label, class, defaults
(equal width: 32 hidden channels each, 5 layers, kernel 3), width rule and colour;
``describe_models()`` reports the parameter counts. Adding a model: one new module and one
registry line. Importing this package does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from core.models.config import ModelConfig
from core.models.registry import ModelSpec, model_color, model_label, model_names, model_spec, register_model

# The registry: one line per model, in display order. Classes are imported on first use.
_DEFAULTS = {"input_frames": 1, "hidden": 32, "layers": 5, "kernel_size": 3, "alpha": 0.0, "smoke": False}
# symmetry: what the equivariance tests hold each model to (core.models.registry.SYMMETRIES).
register_model(ModelSpec("convnet", "ConvNet", "core.models.convnet:ConvNet", _DEFAULTS, color="#1f77b4"))
register_model(
    ModelSpec(
        "e2cnn", "E2CNN", "core.models.equivariant:E2CNN", _DEFAULTS, 4, color="#2ca02c", symmetry="exact"
    )
)
register_model(
    ModelSpec(
        "rsteer",
        "RSteer",
        "core.models.rsteer:RSteer",
        {**_DEFAULTS, "alpha": 1e-5},
        4,
        True,
        "#d62728",
        "relaxed",
    )
)
# The paper's other Table-1 models. mlp and clcnn have weights per cell: built for one grid
# side, which training sets to the data's (ModelConfig.for_grid); 32 here for their counts.
_PER_CELL = {**_DEFAULTS, "grid": 32}
register_model(ModelSpec("mlp", "MLP", "core.models.mlp:MLP", _PER_CELL, color="#8c564b"))
register_model(
    ModelSpec("rpp", "RPP", "core.models.rpp:RPP", {**_DEFAULTS, "alpha": 1e-3}, 4, True, "#ff7f0e")
)
register_model(ModelSpec("combo", "Combo", "core.models.combo:Combo", _DEFAULTS, 4, color="#bcbd22"))
register_model(
    ModelSpec("clcnn", "CLCNN", "core.models.clcnn:CLCNN", {**_PER_CELL, "alpha": 1e-3}, 4, True, "#e377c2")
)
register_model(ModelSpec("lift", "Lift", "core.models.lift:Lift", _DEFAULTS, 4, color="#17becf"))
register_model(
    ModelSpec(
        "rgroup",
        "RGroup",
        "core.models.rgroup:RGroup",
        {**_DEFAULTS, "alpha": 1e-5},
        4,
        True,
        "#9467bd",
        "relaxed",
    )
)

#: The built-in models (a model registered later is in model_names(), not here).
MODEL_NAMES: tuple[str, ...] = model_names()

_LAZY = {
    "ConvNet": "core.models.convnet",
    "E2CNN": "core.models.equivariant",
    "RSteer": "core.models.rsteer",
    "MLP": "core.models.mlp",
    "RPP": "core.models.rpp",
    "Combo": "core.models.combo",
    "CLCNN": "core.models.clcnn",
    "Lift": "core.models.lift",
    "RGroup": "core.models.rgroup",
    "VelocityModel": "core.models.base",
}

__all__ = [
    "CLCNN",
    "MLP",
    "MODEL_NAMES",
    "RPP",
    "Combo",
    "ConvNet",
    "E2CNN",
    "Lift",
    "RGroup",
    "ModelConfig",
    "ModelSpec",
    "RSteer",
    "VelocityModel",
    "build_model",
    "describe_models",
    "model_color",
    "model_from_config",
    "model_label",
    "model_names",
    "model_spec",
    "register_model",
]


def __getattr__(name: str) -> Any:
    # The model classes need torch and e2cnn: import them only when asked for.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core.models' has no attribute {name!r}")


def build_model(name: str, **options) -> Any:
    """Return a freshly initialised model ``name`` (a registered model), defaults overridden by ``options``.

    Options: ``input_frames``, ``hidden`` (channels), ``layers``, ``kernel_size``, ``alpha``
    (rsteer only), ``smoke``. An unknown name or option raises ValueError listing the known ones;
    an invalid value raises ValueError naming the field.
    """
    return model_from_config(ModelConfig.for_model(name, **options))


def model_from_config(config: ModelConfig | dict) -> Any:
    """Return a freshly initialised model with the architecture of ``config`` (ModelConfig or to_dict())."""
    config = ModelConfig.from_dict(config)
    return model_spec(config.name).builder()(config)


def describe_models(**options) -> dict[str, int]:
    """Return ``{name: trainable parameter count}`` per model at its defaults, overridden by ``options``."""
    out = {}
    for name in model_names():
        opts = {k: v for k, v in options.items() if k != "alpha" or model_spec(name).relaxed}
        out[name] = build_model(name, **opts).parameter_count()
    return out
