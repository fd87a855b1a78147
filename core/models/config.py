"""ModelConfig: everything needed to rebuild a model's architecture, and the defaults."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from core.configs import check_fields

#: Names accepted by :func:`core.models.build_model`, in display order.
MODEL_NAMES: tuple[str, ...] = ("convnet", "e2cnn", "rsteer")

#: Models whose hidden layers are made of C4 regular fields (4 channels each).
STEERABLE_MODELS: frozenset[str] = frozenset({"e2cnn", "rsteer"})

#: Per-model defaults. ``hidden`` is the hidden *channel* count for every model (for the
#: steerable ones that is 4 channels per regular field). They are chosen so that the three
#: parameter counts stay within 2x of each other (see ``describe_models``) while a model
#: trains on 2 CPU cores at grid 32 in about a minute: the E2CNN gets more channels
#: because its kernels have 6x fewer free parameters than plain ones; the RSteer fewer,
#: because its per-offset weights have 9x (k*k) more than the E2CNN's. alpha 1e-5 is the
#: original code's setting for rotation smoke.
DEFAULT_OPTIONS: dict[str, dict] = {
    "convnet": {"input_frames": 1, "hidden": 32, "layers": 5, "kernel_size": 3, "alpha": 0.0},
    "e2cnn": {"input_frames": 1, "hidden": 64, "layers": 5, "kernel_size": 3, "alpha": 0.0},
    "rsteer": {"input_frames": 1, "hidden": 24, "layers": 5, "kernel_size": 3, "alpha": 1e-5},
}

_LIMITS = {"input_frames": (1, 64), "hidden": (1, 2048), "layers": (1, 32), "kernel_size": (1, 15)}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one model; ``model_from_config`` rebuilds it exactly.

    - ``name``: one of :data:`MODEL_NAMES`.
    - ``input_frames``: velocity frames stacked as input channels (2 channels each).
    - ``hidden``: hidden channel count (a multiple of 4 for ``e2cnn`` and ``rsteer``).
    - ``layers``: number of convolution layers, output layer included.
    - ``kernel_size``: odd kernel side (odd, so zero padding keeps the grid centred and
      C4 equivariance exact).
    - ``alpha``: weight of RSteer's smoothness regulariser; must be 0 for other models.
    """

    name: str
    input_frames: int = 1
    hidden: int = 32
    layers: int = 5
    kernel_size: int = 3
    alpha: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in MODEL_NAMES:
            raise ValueError(f"name: unknown model {self.name!r}; known models: {', '.join(MODEL_NAMES)}")
        for field, (low, high) in _LIMITS.items():
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{field}: expected an integer, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"{field}: must be between {low} and {high}, got {value}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: must be odd, got {self.kernel_size}")
        if self.name in STEERABLE_MODELS and self.hidden % 4:
            raise ValueError(
                f"hidden: {self.name} needs a multiple of 4 channels (C4 regular fields), got {self.hidden}"
            )
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha):
            raise ValueError(f"alpha: expected a finite number, got {alpha!r}")
        if alpha < 0:
            raise ValueError(f"alpha: must be >= 0, got {alpha}")
        if alpha and self.name != "rsteer":
            raise ValueError(f"alpha: only rsteer has relaxed weights to regularise; {self.name} needs 0")
        object.__setattr__(self, "alpha", float(alpha))

    @property
    def in_channels(self) -> int:
        """Input channel count, 2 * input_frames."""
        return 2 * self.input_frames

    def to_dict(self) -> dict:
        """Return a JSON-ready dict of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Build a config from :meth:`to_dict` output; unknown keys raise ValueError naming them."""
        if isinstance(d, ModelConfig):
            return d
        check_fields(cls, d)
        if "name" not in d:
            raise ValueError("name: missing from model config")
        return cls(**d)

    @classmethod
    def for_model(cls, name: str, **options) -> ModelConfig:
        """Return the config of model ``name``: its defaults overridden by ``options``."""
        if name not in MODEL_NAMES:
            raise ValueError(f"name: unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")
        unknown = sorted(set(options) - set(DEFAULT_OPTIONS[name]))
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} for {name}; "
                f"known: {', '.join(sorted(DEFAULT_OPTIONS[name]))}"
            )
        return cls(name=name, **{**DEFAULT_OPTIONS[name], **options})
