"""ModelConfig: everything needed to rebuild a model's architecture, and the defaults."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from core.configs import check_fields
from core.layout import FrameLayout
from core.models.registry import model_spec

_LIMITS = {"input_frames": (1, 64), "hidden": (1, 2048), "layers": (1, 32), "kernel_size": (1, 15)}
#: Grid sides a grid-specific model may be built for (those of core.data.DataConfig).
_GRID_LIMITS = (8, 256)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one model; ``model_from_config`` rebuilds it exactly.

    - ``name``: a registered model (core.models.registry).
    - ``input_frames``: frames stacked as input channels (``frame_channels`` each).
    - ``hidden``: hidden channel count (a multiple of 4 for ``e2cnn`` and ``rsteer``).
    - ``layers``: number of convolution layers, output layer included.
    - ``kernel_size``: odd kernel side (odd, so zero padding keeps the grid centred and
      C4 equivariance exact).
    - ``alpha``: weight of RSteer's smoothness regulariser; must be 0 for other models.
    - ``smoke``: every frame carries the smoke density as a third channel ``(vx, vy, s)``, in
      the input and in the prediction, so the model sees what the buoyancy acts on and a
      rollout needs no true smoke. For the steerable models the smoke is a scalar field
      (e2cnn's trivial representation): it turns with the grid, its value unchanged.
    - ``grid``: the grid side N a grid-specific model (one whose registry defaults list
      ``grid``: ``mlp``, ``clcnn``, whose weights are per cell) is built for; training sets
      it to the data's (:meth:`for_grid`). 0 for every other model: they run on any grid.
    """

    name: str
    input_frames: int = 1
    hidden: int = 32
    layers: int = 5
    kernel_size: int = 3
    alpha: float = 0.0
    smoke: bool = False
    grid: int = 0

    def __post_init__(self) -> None:
        spec = model_spec(self.name)
        for field, (low, high) in _LIMITS.items():
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{field}: expected an integer, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"{field}: must be between {low} and {high}, got {value}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: must be odd, got {self.kernel_size}")
        if self.hidden % spec.hidden_multiple:
            raise ValueError(
                f"hidden: {self.name} needs a multiple of {spec.hidden_multiple} channels, got {self.hidden}"
            )
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha):
            raise ValueError(f"alpha: expected a finite number, got {alpha!r}")
        if alpha < 0:
            raise ValueError(f"alpha: must be >= 0, got {alpha}")
        if alpha and not spec.relaxed:
            raise ValueError(f"alpha: {self.name} has no regulariser for alpha to weigh; it needs 0")
        object.__setattr__(self, "alpha", float(alpha))
        if not isinstance(self.smoke, bool):
            raise ValueError(f"smoke: expected true or false, got {self.smoke!r}")
        self._check_grid("grid" in spec.defaults)

    def _check_grid(self, grid_specific: bool) -> None:
        grid, (low, high) = self.grid, _GRID_LIMITS
        if isinstance(grid, bool) or not isinstance(grid, int):
            raise ValueError(f"grid: expected an integer, got {grid!r}")
        if grid_specific and not low <= grid <= high:
            raise ValueError(
                f"grid: {self.name} is built for one grid side, between {low} and {high}; got {grid}"
            )
        if not grid_specific and grid:
            raise ValueError(
                f"grid: {self.name} runs on any grid and takes no grid side; it needs 0, got {grid}"
            )

    def for_grid(self, side: int) -> ModelConfig:
        """Return this config for data on a ``side`` x ``side`` grid: a grid-specific model's
        config with ``grid = side``; any other model's unchanged."""
        return replace(self, grid=int(side)) if "grid" in model_spec(self.name).defaults else self

    @property
    def frame_layout(self) -> FrameLayout:
        """The layout of one frame the model reads and predicts (core.layout): the velocity, and
        the smoke as a scalar field with ``smoke``."""
        return FrameLayout.for_smoke(self.smoke)

    @property
    def frame_channels(self) -> int:
        """Channels of one frame: the size of :attr:`frame_layout`."""
        return self.frame_layout.size

    @property
    def in_channels(self) -> int:
        """Input channel count, frame_channels * input_frames."""
        return self.frame_channels * self.input_frames

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
        defaults = model_spec(name).defaults
        unknown = sorted(set(options) - set(defaults))
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} for {name}; known: {', '.join(sorted(defaults))}"
            )
        return cls(name=name, **{**defaults, **options})
