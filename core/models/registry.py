"""The one list of models: each model is one :class:`ModelSpec`, registered by its own module.

Adding a model is one new file (its class) and one ``register_model(ModelSpec(...))`` line in
``core/models/__init__.py``. Its name, display label, defaults, width
rule and plot colour all come from that entry; configs, the CLI, sweeps and the
dashboard read them from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: What a model may promise about C4 equivariance (ModelSpec.symmetry).
SYMMETRIES = ("none", "exact", "relaxed")


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    ``name``: registry key (lower case, used in configs and file names); ``label``: what a
    person reads ("RSteer"); ``build``: the model class (or any ``build(config) -> nn.Module``),
    or its import path ``"package.module:Class"``, imported only when a model is first built, so
    listing names and labels never loads torch; ``defaults``: option defaults
    (``input_frames``, ``hidden``, ``layers``, ``kernel_size``, ``alpha``, ``smoke``: a model that
    lists ``smoke`` must read and predict frames of ``config.frame_channels`` channels, and the
    presets, whose models see the smoke, need it; a model that lists ``grid`` is built for one
    grid side, which training sets to the data's); ``hidden_multiple``:
    hidden channels must be a multiple of it (4 for C4 regular fields); ``relaxed``: True if
    the model has a regulariser weighted by ``alpha`` and so accepts ``alpha`` > 0; ``color``:
    its plot colour; ``symmetry``: what the model promises about the physical C4 action
    (core.symmetry): ``"exact"`` (equivariant whatever its weights), ``"relaxed"`` (equivariant
    at initialisation, training may relax it) or ``"none"`` (no promise). The equivariance
    tests hold every registered model to its promise.
    """

    name: str
    label: str
    build: Callable[[Any], Any] | str
    defaults: dict[str, Any] = field(default_factory=dict)
    hidden_multiple: int = 1
    relaxed: bool = False
    color: str = "#7f7f7f"
    symmetry: str = "none"

    def __post_init__(self) -> None:
        if self.symmetry not in SYMMETRIES:
            raise ValueError(f"symmetry: must be one of {', '.join(SYMMETRIES)}, got {self.symmetry!r}")

    def builder(self) -> Callable[[Any], Any]:
        """Return the callable that builds this model from a ModelConfig (importing it if named)."""
        if callable(self.build):
            return self.build
        module, _, attribute = self.build.partition(":")
        return getattr(importlib.import_module(module), attribute)


_MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (replacing one of the same name) and return it."""
    if not spec.name.isidentifier() or spec.name != spec.name.lower():
        raise ValueError(f"model name must be a lower-case identifier, got {spec.name!r}")
    _MODELS[spec.name] = spec
    return spec


def unregister_model(name: str) -> None:
    """Remove a model from the registry (tests register temporary ones)."""
    _MODELS.pop(name, None)


def model_names() -> tuple[str, ...]:
    """Names of the registered models, in registration (display) order."""
    return tuple(_MODELS)


def model_spec(name: str) -> ModelSpec:
    """Return the spec of model ``name``; ValueError lists the known names."""
    if name not in _MODELS:
        raise ValueError(f"name: unknown model {name!r}; known models: {', '.join(_MODELS)}")
    return _MODELS[name]


def model_label(name: str) -> str:
    """Display label of a model name ("rsteer" -> "RSteer"); the name itself if unknown."""
    spec = _MODELS.get(name)
    return spec.label if spec else str(name)


#: Colours for names that are no registered model's (none of them a registered model's colour).
FALLBACK_COLORS = ("#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173")


def model_color(name: str, index: int = 0) -> str:
    """Plot colour of a model name; a fallback from a fixed palette for unknown names."""
    spec = _MODELS.get(name)
    return spec.color if spec else FALLBACK_COLORS[index % len(FALLBACK_COLORS)]
