"""The batched PhiFlow smoke simulation: four rotated orientations times S simulations.

All 4*S simulations share one PhiFlow batch dimension ``sim`` (orientation-major), so
every step is one call for the whole dataset. The pressure solve runs in float64:
in float32 it diverges, and the exact C4 symmetry at ``buoyancy_diff = 0`` needs it.

Backend and solver (measured on PhiFlow 3.4 / phiml 1.16, 64x64, float64): phiml's own
conjugate-gradient solve ("CG") stops with ``Diverged`` for some of the 4*S systems (its
divergence heuristic fires on the singular closed-box Laplacian), on the torch backend
with or without jit and on numpy, with or without ``rank_deficiency``. SciPy's CG
("scipy-CG") converges for every batch member and keeps the delta = 0 dataset symmetric
to ~1e-12, so the simulation runs on the numpy backend (CPU only; there is no GPU path
for the data) with one batched PhiFlow call per step.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from core.data.config import DataConfig

Progress = Callable[[int, int], None]

#: Relative and absolute tolerance of the pressure solve.
PRESSURE_TOLERANCE = 1e-9

# Counter-clockwise quarter turn as an integer matrix: exact in floating point, so the
# four inflow centres are placed exactly symmetrically about the box centre.
_QUARTER_TURN = np.array([[0, -1], [1, 0]], dtype=np.int64)


def orientation_geometry(config: DataConfig) -> dict[str, np.ndarray]:
    """Per-simulation inflow and buoyancy of the 4*S simulations, orientation-major.

    Returns a dict of float64 arrays, each with leading axis 4*S (index ``k*S + s``):
    ``center`` (4S, 2) inflow centre (x, y) in cells; ``radius`` (4S,) in cells;
    ``buoyancy`` (4S, 2) buoyancy force per unit smoke (x, y); ``orientation`` (4S,) k.
    """
    n, s_count = config.grid, config.sims
    rng = np.random.default_rng(config.seed)
    # Same factors for every orientation: they vary the simulations, never the symmetry.
    buoy_factor = 1 + rng.uniform(-config.sim_variation, config.sim_variation, s_count)
    radius_factor = 1 + rng.uniform(-config.sim_variation, config.sim_variation, s_count)
    centre = np.array([n / 2, n / 2])
    # A multiple of 1/64 cell: centre +- offset are then exact floats, mirror images of each other.
    offset = round(config.inflow_offset * n * 64) / 64
    base_offset = np.array([0.0, -offset])  # k = 0: below the centre
    up = np.array([0.0, 1.0])
    centers, radii, forces, ks = [], [], [], []
    for k in range(4):
        turn = np.linalg.matrix_power(_QUARTER_TURN, k)
        strength = config.buoyancy * (1 + k * config.buoyancy_diff)
        for s in range(s_count):
            centers.append(centre + turn @ base_offset)
            radii.append(config.inflow_radius * n * radius_factor[s])
            forces.append(strength * buoy_factor[s] * (turn @ up))
            ks.append(k)
    return {
        "center": np.array(centers, dtype=np.float64),
        "radius": np.array(radii, dtype=np.float64),
        "buoyancy": np.array(forces, dtype=np.float64),
        "orientation": np.array(ks, dtype=np.int64),
    }


def simulate(config: DataConfig, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run the 4*S simulations of ``config`` as one batched PhiFlow simulation.

    Each step: advect smoke (MacCormack), add inflow, add buoyancy force, advect velocity
    (semi-Lagrangian), pressure projection in a closed box. ``progress(done, total)`` is
    called after every saved frame.

    Returns ``(velocity, smoke)`` as float64 numpy arrays: velocity ``(4, S, T, 2, N, N)``
    at cell centres (component 0 = vx, 1 = vy; grid axis -2 = y, row 0 at the bottom)
    in cells per time unit, smoke ``(4, S, T, N, N)`` in smoke units.
    """
    n, t_count, s_count = config.grid, config.frames, config.sims
    velocities, smokes = run_simulations(config, range(4 * s_count), progress)
    return (
        velocities.reshape(4, s_count, t_count, 2, n, n),
        smokes.reshape(4, s_count, t_count, n, n),
    )


def run_simulations(
    config: DataConfig, members: Sequence[int], progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Run the chosen simulations of ``config`` (indices ``k*S + s``) as one PhiFlow batch.

    :func:`simulate` runs all of them at once; the benchmark runs them one at a time
    with exactly the same physics. Returns float64 velocity ``(M, T, 2, N, N)`` and
    smoke ``(M, T, N, N)`` for the ``M = len(members)`` simulations, in that order.
    """
    from phi import field
    from phi.field import CenteredGrid, StaggeredGrid
    from phi.geom import Box, Sphere
    from phi.physics import advect, fluid
    from phiml import math
    from phiml.backend import NUMPY
    from phiml.math import Solve, batch, channel, extrapolation

    n, t_count = config.grid, config.frames
    members = list(members)
    geo = {key: value[members] for key, value in orientation_geometry(config).items()}
    sims = batch(sim=len(members))
    vec = channel(vector="x,y")
    velocities = np.empty((len(members), t_count, 2, n, n))
    smokes = np.empty((len(members), t_count, n, n))
    solve = Solve("scipy-CG", PRESSURE_TOLERANCE, PRESSURE_TOLERANCE, max_iterations=5000)
    with math.precision(64), NUMPY, warnings.catch_warnings():
        # The closed box makes the pressure defined up to a constant; phiml says so every step.
        warnings.filterwarnings("ignore", message=".*[Rr]ank deficiency.*")
        bounds = Box(x=n, y=n)
        centers = math.tensor(geo["center"], sims, vec)
        radius = math.tensor(geo["radius"], sims)
        force = math.tensor(geo["buoyancy"], sims, vec)
        disc = Sphere(center=centers, radius=radius)
        inflow = CenteredGrid(disc, extrapolation.ZERO_GRADIENT, bounds=bounds, x=n, y=n)
        inflow = inflow * (config.inflow_rate * config.dt)
        smoke = CenteredGrid(0.0, extrapolation.ZERO_GRADIENT, bounds=bounds, x=n, y=n)
        velocity = StaggeredGrid(0.0, extrapolation.ZERO, bounds=bounds, x=n, y=n)
        for t in range(t_count):
            smoke = advect.mac_cormack(smoke, velocity, config.dt) + inflow
            push = field.resample(smoke * force, to=velocity)
            velocity = advect.semi_lagrangian(velocity, velocity, config.dt) + push * config.dt
            velocity, _ = fluid.make_incompressible(velocity, (), solve)
            velocities[:, t] = velocity.at_centers().values.numpy("sim,vector,y,x")
            smokes[:, t] = smoke.values.numpy("sim,y,x")
            if progress is not None:
                progress(t + 1, t_count)
    return velocities, smokes
