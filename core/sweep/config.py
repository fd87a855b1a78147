"""What a Figure-4 sweep is: breaking patterns, levels of buoyancy difference, models, training
seeds, and a preset of sizes; :func:`sweep_plan` lists its trainings once for every executor.

Presets: ``cpu`` (default; sized for 3 models x 10 levels on 2 CPU cores), ``gpu`` (the
paper-like larger settings), ``patterns`` (the shipped pattern sweep: three breaking patterns x
two levels) and ``table1`` (the paper's data design, all nine models, three seeds). Every model
in a preset has the same hidden width, so the comparison is at equal width. A preset's
``sweep`` entry holds the axes of the sweep it was sized for (:meth:`SweepConfig.of_preset`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from core.configs import check_fields
from core.data.config import BREAKING_PATTERNS

#: DataConfig field that sets the buoyancy difference between the orientations.
LEVEL_FIELD = "buoyancy_diff"
#: DataConfig field that sets which plumes the buoyancy difference strengthens.
PATTERN_FIELD = "breaking"
DEFAULT_LEVELS: tuple[float, ...] = tuple(round(0.1 * i, 2) for i in range(10))
#: The most training seeds a sweep may ask for.
MAX_SEEDS = 10

PRESETS: dict[str, dict[str, Any]] = {
    # 3 models x 10 levels in about 10 minutes on 2 CPU cores (docs/RESULTS.md has the figures).
    "cpu": {
        # Buoyancy 0.05: at 0.1 the fastest plumes of the top levels reached the far wall inside
        # test-future (frame 31 at Δb 0.9), physics no training frame shows; at 0.05 none does by
        # frame 39 (benchmarks/bench_flow.py).
        "data": {"grid": 32, "frames": 40, "sims": 4, "buoyancy": 0.05},
        "train": {
            # 30 epochs: 21 (decay 0.93) kept the sweep near 15 minutes but left RSteer at 0.83 x
            # persistence on test-domain at Δb 0.2, and 20 at lr 5e-3 (decay 0.92; 15.4 minutes)
            # at 0.82 at Δb 0.6 (docs/TRAINING_EXPERIMENTS.md).
            "epochs": 30,
            "batch_size": 16,
            "lr": 2e-3,
            # Slow enough that learning does not stall (0.9 stopped it early), fast enough to settle.
            "lr_decay": 0.95,
            # K = 2: with the input noise below, more accurate than K = 3 on test-future (RSteer at
            # Δb 0.3: 0.61 x persistence against 0.72), in two thirds of the time.
            "rollout_steps": 2,
            "patience": 10,
            # A short validation block lets training frames reach closer to test-future.
            "val_fraction": 0.1,
            # Noise on the inputs (a quarter of the typical one-step change, per C4 orbit) keeps
            # 20-step rollouts stable: without it E2CNN drifted after ~12 steps on test-domain.
            "input_noise": 0.25,
            "residual": True,
            # RSteer's symmetry-breaking SGD step, and the relative size below which its gradient
            # is round-off (skipped). Without the floor a step of 0.1 broke symmetry on exactly
            # symmetric data (EE 0.0035 at buoyancy difference 0) and 0.004 learned too little
            # (0.003 where the data has 0.015); with it the EE at 0 is exactly 0. A floor of 1e-3
            # let round-off through with training seed 1 (EE 7.1e-4 at Δb 0, relative 0.009);
            # 1e-2 holds it (4.3e-9) and changed no figure of seed 0 at Δb 0.1, 0.5 or 0.9. The clip (in
            # units of Adam's step) bounds how far those weights move per step: at 1 x, with K = 2,
            # RSteer learnt 0.69 of the data's one-step EE at Δb 0.9 whatever the step (0.4-0.9);
            # at 2 x, about 0.8; at 8 x, 0.94 but test-domain fell to 0.94 x persistence.
            "relaxed_lr": 0.4,
            "relaxed_noise_floor": 1e-2,
            "relaxed_clip": 2.0,
            # The smoke's squared error counts 0.3 of a velocity component's (smoke models only):
            # in the probe that chose it, 0.3 and 1 gave RSteer the same EE at Δb 0.6 and 3 made
            # its test-domain rollouts less accurate (docs/TRAINING_EXPERIMENTS.md).
            "smoke_weight": 0.3,
        },
        # One width and one input window for every model: the comparison is at equal hidden
        # channels; two input frames let a model see the flow's acceleration (one frame could
        # not beat persistence on test-future). The models see the smoke: the buoyancy acts on
        # it, and from velocities alone RSteer learnt 0.79-0.90 of the data's one-step EE
        # (slope, three seeds) where with the smoke it learns 0.97 (mean deviation 0.19 -> 0.11).
        "model": {"hidden": 32, "input_frames": 2, "smoke": True},
    },
    "gpu": {
        # Buoyancy 0.03: at 0.1 (and 0.05) the fastest plumes of Δb 0.9 reach the far wall before
        # or inside test-future (frames 43-58 of 60); at 0.03 none does by frame 59 (bench_flow.py).
        "data": {"grid": 64, "frames": 60, "sims": 6, "buoyancy": 0.03},
        "train": {
            "epochs": 30,
            "batch_size": 32,
            "lr": 2e-3,
            "lr_decay": 0.95,
            "rollout_steps": 4,
            "patience": 10,
            "residual": True,
            "relaxed_lr": 0.1,
            "relaxed_noise_floor": 1e-2,
            "smoke_weight": 0.3,
        },
        "model": {"hidden": 64, "input_frames": 2, "smoke": True},
    },
}
# The shipped pattern sweep (issue 27): the cpu preset's sizes, so its points sit beside the
# Figure-4 sweep's, on the three breaking patterns at Δb 0.6 (where the data EE is large), the
# three Figure-4 models: 9 trainings, a third of the Figure-4 sweep's 30.
PRESETS["patterns"] = {
    **PRESETS["cpu"],
    "sweep": {
        "patterns": tuple(BREAKING_PATTERNS),
        "levels": (0.6,),
        "models": ("convnet", "e2cnn", "rsteer"),
    },
}
# Table 1 (issue 26): the paper's data design (every simulation its own buoyancy strength; 2 of
# the 8 held out for test-domain, core.data.config.held_out_sims), one level, all nine models,
# three training seeds; otherwise the cpu preset's sizes. Measured: the build takes 36 min on
# 2 quiet CPU cores with Ray (27 trainings, 4,258 s summed; CLCNN's three are a third of it).
PRESETS["table1"] = {
    **PRESETS["cpu"],
    "data": {**PRESETS["cpu"]["data"], "design": "paper", "sims": 8},
    "sweep": {
        "levels": (0.3,),
        "models": ("mlp", "convnet", "e2cnn", "rpp", "combo", "clcnn", "lift", "rgroup", "rsteer"),
        "seeds": 3,
        # Widths at ConvNet's parameter budget (30,371 at hidden 32) within 20% where the
        # architecture allows: RGroup 36 -> 32,178, Combo 40 -> 33,671, RSteer 28 -> 35,182
        # (RPP +17% and Lift -8% at 32). Not matched: E2CNN (5,073 at 32; hidden 72 would
        # reach 24,373 at 4x the time per step, past the 40-minute build), MLP and CLCNN
        # (dense or unshared weights grow with the grid: 301,184 and 141,964).
        "model_options": {"rgroup": {"hidden": 36}, "combo": {"hidden": 40}, "rsteer": {"hidden": 28}},
    },
}


@dataclass(frozen=True)
class PlanItem:
    """One training of a sweep: the data's breaking ``pattern`` and buoyancy difference ``level``,
    the ``model`` and the training ``seed``."""

    pattern: str
    level: float
    model: str
    seed: int

    @property
    def key(self) -> tuple[str, float, str, int]:
        """``(pattern, level, model, seed)``: what a result row is matched on (results.row_key)."""
        return (self.pattern, self.level, self.model, self.seed)

    @property
    def dataset(self) -> tuple[str, float]:
        """``(pattern, level)``: the items sharing one dataset."""
        return (self.pattern, self.level)


def sweep_plan(config: SweepConfig) -> list[PlanItem]:
    """Every training of ``config`` in the order its rows are kept: pattern, then level, then
    model, then seed; the items of one dataset (pattern, level) next to each other. Both
    executors (core/sweep/run.py, core/sweep/ray_engine.py) and resume work from this list."""
    return [
        PlanItem(pattern, level, model, seed)
        for pattern in config.patterns
        for level in config.levels
        for model in config.models
        for seed in range(config.seeds)
    ]


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: buoyancy-difference ``levels``, ``models``, and overrides of the preset.

    ``data``: DataConfig fields (the level and the pattern are set per dataset); ``train``:
    TrainConfig fields (the seed is set per training); ``model_options``: per-model build
    options. ``seeds``: each model is trained with seeds 0..seeds-1 on every dataset;
    ``patterns``: the breaking patterns (core.data.config.BREAKING_PATTERNS), one dataset per
    (pattern, level).
    """

    levels: tuple[float, ...] = DEFAULT_LEVELS
    models: tuple[str, ...] = ("convnet", "e2cnn", "rsteer")  # the built-in models
    preset: str = "cpu"
    data: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    seeds: int = 1
    patterns: tuple[str, ...] = ("all",)

    def __post_init__(self):
        from core.models import model_names

        levels = tuple(self.levels)
        if not levels:
            raise ValueError("levels must list at least one buoyancy difference")
        for v in levels:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ValueError(f"levels must be finite numbers >= 0, got {v!r}")
        if len(set(levels)) != len(levels):
            repeated = ", ".join(f"{v:g}" for v in sorted({v for v in levels if levels.count(v) > 1}))
            raise ValueError(f"levels must not repeat: {repeated} given more than once")
        object.__setattr__(self, "levels", tuple(float(v) for v in levels))
        models = tuple(self.models)
        if not models or any(m not in model_names() for m in models):
            raise ValueError(
                f"models must be a non-empty list from {', '.join(model_names())}, got {models!r}"
            )
        object.__setattr__(self, "models", models)
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        for name in ("data", "train", "model_options"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a dict, got {type(getattr(self, name)).__name__}")
        self._check_axes()
        # Validate the resolved configs now rather than an hour into the sweep, the windows
        # every run cuts from each dataset included.
        from core.models.registry import model_label
        from core.train.config import split_spec
        from core.train.samples import min_frames

        train = self.train_config()
        frames = self.data_config(levels[0]).frames
        for m in models:
            spec = split_spec(self.model_config(m), train)
            need = min_frames(spec)
            if frames < need:
                raise ValueError(  # "frames" once only: the sweep form calls it by its own label
                    f"frames must be at least {need} for {model_label(m)} ({spec.input_frames} "
                    f"inputs and {spec.steps} loss steps per window, and the validation and "
                    f"test-future blocks), got {frames}"
                )

    def _check_axes(self) -> None:
        """Validate ``seeds`` and ``patterns``, and that no override sets what they set."""
        seeds = self.seeds
        if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
            raise ValueError(f"seeds must be an integer from 1 to {MAX_SEEDS}, got {seeds!r}")
        patterns = (self.patterns,) if isinstance(self.patterns, str) else tuple(self.patterns)
        if not patterns or any(p not in BREAKING_PATTERNS for p in patterns):
            raise ValueError(
                f"patterns must be a non-empty list from {', '.join(BREAKING_PATTERNS)}, got {patterns!r}"
            )
        if len(set(patterns)) != len(patterns):
            repeated = ", ".join(sorted({p for p in patterns if patterns.count(p) > 1}))
            raise ValueError(f"patterns must not repeat: {repeated} given more than once")
        object.__setattr__(self, "patterns", patterns)
        if PATTERN_FIELD in self.data:
            raise ValueError(f"data must not set {PATTERN_FIELD}: the sweep's patterns set it per dataset")
        if "seed" in self.train:
            raise ValueError("train must not set seed: the sweep trains seeds 0..seeds-1 (set seeds)")

    @classmethod
    def of_preset(cls, preset: str, **overrides: Any) -> SweepConfig:
        """The sweep preset ``preset`` was sized for (its ``sweep`` entry: levels, models, patterns,
        seeds; the defaults where it has none), with ``overrides`` of any field."""
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        return cls(**{**PRESETS[preset].get("sweep", {}), "preset": preset, **overrides})

    def plan(self) -> list[PlanItem]:
        """:func:`sweep_plan` of this sweep."""
        return sweep_plan(self)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = asdict(self)
        d["levels"], d["models"], d["patterns"] = list(self.levels), list(self.models), list(self.patterns)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepConfig:
        """Build from :meth:`to_dict` output; unknown keys raise ValueError naming them."""
        check_fields(cls, d)
        d = dict(d)
        for key in ("levels", "models", "patterns"):
            if isinstance(d.get(key), list | tuple):
                d[key] = tuple(d[key])
        return cls(**d)

    def data_config(self, level: float, pattern: str = "all"):
        """The DataConfig of one dataset: preset data settings, overrides, the level and the
        breaking pattern."""
        from core.data import DataConfig

        fixed = {LEVEL_FIELD: float(level), PATTERN_FIELD: pattern}
        return DataConfig.from_dict({**PRESETS[self.preset]["data"], **self.data, **fixed})

    def train_config(self, seed: int = 0):
        """The TrainConfig of the sweep's trainings with training seed ``seed``."""
        from core.train.config import TrainConfig

        return TrainConfig.from_dict({**PRESETS[self.preset]["train"], **self.train, "seed": int(seed)})

    def model_config(self, name: str):
        """The ModelConfig of model ``name`` in this sweep."""
        from core.models import ModelConfig

        opts = {**PRESETS[self.preset]["model"], **self.model_options.get(name, {})}
        return ModelConfig.for_model(name, **opts)

    def resolved(self) -> dict[str, Any]:
        """The settings every run of the sweep gets, presets applied: ``{"data": DataConfig dict
        without the level and the pattern, "train": TrainConfig dict, "models": {name: ModelConfig dict}}``.

        Why: a preset may change in a later version; stored beside the results, this keeps a
        finished sweep describing itself.
        """
        data = self.data_config(self.levels[0], self.patterns[0]).to_dict()
        data.pop(LEVEL_FIELD, None)
        data.pop(PATTERN_FIELD, None)
        models = {name: self.model_config(name).to_dict() for name in self.models}
        return {"data": data, "train": self.train_config().to_dict(), "models": models}
