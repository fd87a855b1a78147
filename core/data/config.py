"""The configuration of one smoke-plume dataset (frozen, validated, JSON round-trip)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

from core.configs import ConfigMixin

#: Which plumes a buoyancy difference delta strengthens: orientation k gets b * (1 + p_k * delta).
#: ``all``: the ramp p = (0, 1, 2, 3), every rotation broken; ``half_turn``: opposite plumes equal,
#: p = (0, 1, 0, 1), the half-turn (C2) kept; ``one_plume``: only the plume from the bottom
#: wall (k = 0) differs, p = (1, 0, 0, 0), every rotation broken.
BREAKING_PATTERNS: dict[str, tuple[int, int, int, int]] = {
    "all": (0, 1, 2, 3),
    "half_turn": (0, 1, 0, 1),
    "one_plume": (1, 0, 0, 0),
}


#: Data designs. ``quick``: S simulations per orientation, each scaling the buoyancy by a seeded
#: factor in [1 - sim_variation, 1 + sim_variation]; test-domain holds out a seeded random
#: share of them (their strengths lie inside the trained range). ``paper``: the rotation set of
#: the paper's published code: every simulation its own buoyancy strength, spread
#: geometrically over a :data:`PAPER_STRENGTH_RANGE` range in a seeded order; test-domain holds
#: out whole simulations whose strengths were never trained on, the strongest (beyond the
#: trained range) and every fourth from the third weakest on (between trained ones): see
#: :func:`held_out_sims`.
DESIGNS = ("quick", "paper")
#: The paper design's per-simulation buoyancy factors run from this low to this high value.
PAPER_STRENGTH_RANGE = (0.4, 2.4)


@dataclass(frozen=True)
class DataConfig(ConfigMixin):
    """Everything that determines a dataset; two equal configs give the same file.

    Lengths are in grid cells unless said otherwise; time in simulation time units.

    - ``grid``: N, cells per side of the square closed box (even, 8..256).
    - ``frames``: T, frames saved per simulation (one per time step).
    - ``warmup``: time steps simulated before the first saved frame (frame t is the
      state after ``warmup + t + 1`` steps). A warm-up skips the start, where the plume
      accelerates steadily until it reaches the lid, so that later (test-future) frames
      stay within the range of speeds the earlier (training) frames cover.
    - ``sims``: S, simulations per orientation (4*S simulations in all).
    - ``buoyancy``: b, base buoyancy strength (velocity per unit smoke per time).
    - ``buoyancy_diff``: delta >= 0; orientation k gets buoyancy b*(1 + p_k*delta).
    - ``breaking``: the pattern p_k of :data:`BREAKING_PATTERNS` (which plumes differ):
      ``all`` (p_k = k, the default), ``half_turn`` or ``one_plume``.
    - ``inflow_radius``: inflow disc radius as a fraction of N.
    - ``inflow_offset``: distance of the inflow centre from the box centre, fraction of N.
    - ``inflow_rate``: smoke added per time step inside the inflow disc.
    - ``sim_variation``: the S simulations of an orientation scale their inflow radius (and,
      in the ``quick`` design, their buoyancy) by seeded factors in [1 - v, 1 + v]; the same
      factors are used for all four orientations, so only delta breaks the symmetry.
    - ``design``: ``quick`` or ``paper`` (:data:`DESIGNS`): how the per-simulation buoyancy
      strengths are drawn and which simulations test-domain holds out
      (:func:`core.data.config.held_out_sims`).
    - ``dt``: time step.
    - ``seed``: seed of the per-simulation factors.
    """

    grid: int = 64
    frames: int = 25
    warmup: int = 0
    sims: int = 4
    buoyancy: float = 0.1
    buoyancy_diff: float = 0.0
    breaking: str = "all"
    inflow_radius: float = 0.08
    inflow_offset: float = 0.3
    inflow_rate: float = 0.2
    sim_variation: float = 0.2
    design: str = "quick"
    dt: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        _int_field(self, "grid", 8, 256)
        if self.grid % 2:
            raise ValueError(f"grid must be even (the box centre must be a cell corner), got {self.grid}")
        _int_field(self, "frames", 2, 10_000)
        _int_field(self, "warmup", 0, 10_000)
        _int_field(self, "sims", 1, 1_000)
        _int_field(self, "seed", 0, 2**31 - 1)
        _float_field(self, "buoyancy", 0.0, 10.0, low_open=True)
        _float_field(self, "buoyancy_diff", 0.0, 10.0)
        if self.design not in DESIGNS:
            raise ValueError(f"design must be one of {', '.join(DESIGNS)}, got {self.design!r}")
        if self.design == "paper" and self.sims < 4:
            raise ValueError(
                f"the paper design needs sims >= 4 (some held out between, one beyond), got {self.sims}"
            )
        if self.breaking not in BREAKING_PATTERNS:
            raise ValueError(f"breaking must be one of {', '.join(BREAKING_PATTERNS)}, got {self.breaking!r}")
        _float_field(self, "inflow_radius", 0.0, 0.25, low_open=True)
        _float_field(self, "inflow_rate", 0.0, 10.0, low_open=True)
        _float_field(self, "sim_variation", 0.0, 0.9)
        _float_field(self, "dt", 0.0, 10.0, low_open=True)
        _float_field(self, "inflow_offset", 0.0, 0.45)
        if self.inflow_offset + self.inflow_radius * (1 + self.sim_variation) >= 0.5:
            raise ValueError(
                "inflow_offset: the inflow disc (offset + radius*(1+sim_variation) = "
                f"{self.inflow_offset + self.inflow_radius * (1 + self.sim_variation):.3f}) must stay "
                "inside the box (< 0.5)"
            )

    def strength_factors(self) -> tuple[float, float, float, float]:
        """Return each orientation k's buoyancy strength over b: ``1 + p_k * buoyancy_diff``."""
        return tuple(1.0 + p * self.buoyancy_diff for p in BREAKING_PATTERNS[self.breaking])

    def sim_buoyancy_factors(self) -> tuple[float, ...]:
        """Return the S per-simulation buoyancy factors f_s (the same for every orientation).

        ``quick``: seeded uniform draws in [1 - sim_variation, 1 + sim_variation]; ``paper``:
        S values spaced geometrically over :data:`PAPER_STRENGTH_RANGE`, in a seeded order.
        """
        rng = np.random.default_rng(self.seed)
        if self.design == "quick":
            spread = self.sim_variation
            return tuple(float(f) for f in 1 + rng.uniform(-spread, spread, self.sims))
        factors = np.geomspace(*PAPER_STRENGTH_RANGE, self.sims)
        return tuple(float(f) for f in factors[rng.permutation(self.sims)])

    def estimated_bytes(self) -> int:
        """Bytes the generation of this dataset allocates at its peak (an estimate, int).

        The float64 velocity and smoke of all frames, ``4*S*T*3*N*N*8``, plus their float32
        copies for the file (half as much again), plus working space for one batched step
        (PhiFlow's temporaries: taken as 64 float64 fields of ``4*S*N*N``).
        """
        n, t, s = self.grid, self.frames, self.sims
        arrays = 4 * s * t * 3 * n * n * 8
        working = 64 * 4 * s * n * n * 8
        return arrays + arrays // 2 + working

    def to_json(self) -> str:
        """Return the config as canonical JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def digest(self) -> str:
        """Return a 12-hex-digit hash of the canonical JSON: the dataset's cache key."""
        fields = self.to_dict()
        # warmup and breaking came later: at their defaults they are left out, so that files
        # made before they existed (the shipped datasets among them) keep their names.
        if fields["warmup"] == 0:
            del fields["warmup"]
        if fields["breaking"] == "all":
            del fields["breaking"]
        if fields["design"] == "quick":
            del fields["design"]
        canonical = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _int_field(cfg: DataConfig, name: str, low: int, high: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def _float_field(cfg: DataConfig, name: str, low: float, high: float, low_open: bool = False) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value}")
    # Store floats as floats so that 1 and 1.0 hash to the same dataset.
    object.__setattr__(cfg, name, value)


def held_out_sims(config: DataConfig) -> tuple[int, ...] | None:
    """The simulations test-domain holds out, by what the data design says, or None (``quick``:
    the split picks a seeded random share, core.train.samples.make_splits).

    ``paper``: ranking the simulations by buoyancy strength (0 the weakest), the strongest (beyond
    every trained strength) and ranks 2, 6, 10, ... up to S - 3 (between trained strengths): a
    quarter of 8 or more simulations. Returns sorted simulation indices.
    """
    if config.design == "quick":
        return None
    order = np.argsort(config.sim_buoyancy_factors())  # weakest first
    # Ranks 2, 6, ... each with a trained rank on either side, then the strongest.
    ranks = [*range(2, config.sims - 2, 4), config.sims - 1]
    return tuple(sorted(int(order[r]) for r in ranks))
