"""The batched PhiFlow smoke simulation: four rotated orientations times S simulations.

All 4*S simulations share one PhiFlow batch dimension ``sim`` (orientation-major), so
every step is one call for the whole dataset, in float64: in float32 the pressure solve
diverges, and the exact C4 symmetry at ``buoyancy_diff = 0`` needs it.

Two engines (``solver``):

- ``"dct"`` (default): PhiFlow on phiml's torch backend for advection and forces, and the
  exact DCT pressure projection of :mod:`core.data.pressure` for all 4*S closed-box systems
  in one batched matmul. Runs on CUDA when ``device`` asks for it (``"auto"`` picks CUDA
  when torch sees a GPU). The PhiFlow part is compiled with ``math.jit_compile``: measured on
  2 CPU cores at 64x64 with 16 simulations, 0.017 s per step against 0.21 s uncompiled, and
  bit-identical results (the projection stays outside, in plain torch).
- ``"scipy"``: the reference. PhiFlow on the numpy backend with SciPy's CG (tolerance 1e-9),
  which solves the systems one by one. phiml's own CG stops with ``Diverged`` on the
  singular closed-box Laplacian, which is why the reference uses SciPy's. CPU only.

Both engines keep the full state as plain tensors between steps (smoke ``(M, N, N)``,
interior faces ``vx`` ``(M, N, N-1)``, ``vy`` ``(M, N-1, N)``; layout in
:mod:`core.data.pressure`), so a state can be rotated and restarted exactly (tests).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import ExitStack
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

from core.data.checks import check_fits, first_non_finite
from core.data.config import DataConfig
from core.data.pressure import project
from core.data.staggered import at_centers
from core.progress import Progress

#: Relative and absolute tolerance of the reference engine's SciPy CG pressure solve.
PRESSURE_TOLERANCE = 1e-9

#: The engines: the exact batched DCT projection on torch, or the numpy + SciPy-CG reference.
SOLVERS = ("dct", "scipy")
DEVICES = ("auto", "cpu", "cuda")

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
    buoy_factor = np.asarray(config.sim_buoyancy_factors())
    if config.design == "quick":
        rng.uniform(size=s_count)  # the buoyancy draws, made by sim_buoyancy_factors from the same seed
    radius_factor = 1 + rng.uniform(-config.sim_variation, config.sim_variation, s_count)
    centre = np.array([n / 2, n / 2])
    # A multiple of 1/64 cell: centre +- offset are then exact floats, mirror images of each other.
    offset = round(config.inflow_offset * n * 64) / 64
    base_offset = np.array([0.0, -offset])  # k = 0: below the centre
    up = np.array([0.0, 1.0])
    centers, radii, forces, ks = [], [], [], []
    for k, factor in enumerate(config.strength_factors()):
        turn = np.linalg.matrix_power(_QUARTER_TURN, k)
        strength = config.buoyancy * factor
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


def resolve_device(device: str) -> str:
    """Return the torch device ``"cpu"`` or ``"cuda"`` for ``device`` in :data:`DEVICES`.

    ``"auto"`` is CUDA when torch sees a GPU, else CPU. Raises ValueError for an unknown name
    or for ``"cuda"`` without a GPU.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU")
    return device


def one_step_ee_element_factors(config: DataConfig) -> np.ndarray:
    """Per-orientation, per-element factor ``c[j, k-1]`` (4, 3) of the matched one-step error.

    ``c[j, k-1] = |s_{(j + k) mod 4} - s_j|`` with ``s`` the strength factors of
    :meth:`DataConfig.strength_factors`: how much orientation ``j + k``'s buoyancy strength
    differs from ``j``'s, in units of ``b * f_s``, for the rotation by ``k * 90`` degrees
    (docs/DATA_FORMAT.md). A pattern that keeps the half-turn has column k = 2 exactly zero.
    """
    strength = np.asarray(config.strength_factors(), dtype=np.float64)
    js = np.arange(4)
    return np.stack([np.abs(strength[(js + k) % 4] - strength) for k in (1, 2, 3)], axis=1)


def one_step_ee_factors(config: DataConfig) -> np.ndarray:
    """Per-orientation factor ``c_j`` (4,): :func:`one_step_ee_element_factors` averaged over k."""
    return one_step_ee_element_factors(config).mean(axis=1)


class State(NamedTuple):
    """The full PhiFlow state of M simulations as plain float64 tensors (one device).

    ``smoke`` ``(M, N, N)``; ``vx`` ``(M, N, N-1)`` and ``vy`` ``(M, N-1, N)``: the interior
    faces of the staggered velocity in cells per time unit (layout: core/data/pressure.py).
    """

    smoke: torch.Tensor
    vx: torch.Tensor
    vy: torch.Tensor


class Trajectories(NamedTuple):
    """Saved frames of M simulations (float64 numpy).

    ``velocity`` ``(M, T, 2, N, N)`` at cell centres, cells per time unit; ``smoke``
    ``(M, T, N, N)``; ``data_ee_one_step`` ``(M, T-1)``, the matched one-step data
    equivariance error of frames 0..T-2, velocity units; ``data_ee_one_step_by_element``
    ``(M, 3, T-1)``, the same per rotation (90, 180, 270 degrees; their mean is the former).
    """

    velocity: np.ndarray
    smoke: np.ndarray
    data_ee_one_step: np.ndarray
    data_ee_one_step_by_element: np.ndarray


class SmokeStepper:
    """One batched PhiFlow step of chosen simulations of a config (indices ``k*S + s``).

    The step: advect smoke (MacCormack) and add the inflow, add the buoyancy push
    ``resample(smoke * force) * dt``, advect the velocity (semi-Lagrangian), project it
    to be divergence-free in the closed box (``solver`` "dct" or "scipy").
    """

    def __init__(
        self,
        config: DataConfig,
        members: Sequence[int],
        device: str = "auto",
        solver: str = "dct",
        jit: bool = True,
    ):
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
        self.config, self.solver = config, solver
        self.jit = jit
        self.members = list(members)
        # The reference engine is the old numpy path: CPU whatever was asked.
        self.device = "cpu" if solver == "scipy" else resolve_device(device)
        geo = {key: value[self.members] for key, value in orientation_geometry(config).items()}
        strength = np.asarray(config.strength_factors())[geo["orientation"]]
        # The push is built from the per-simulation unit force b * f_s * direction, scaled by
        # the orientation's strength 1 + p_k*delta: the unit push is then also what the matched
        # one-step error needs (only the strength differs between orientations).
        self._unit_force = geo["buoyancy"] / strength[:, None]
        self._strength = strength
        self._inflow = _inflow_mask(config, geo) * (config.inflow_rate * config.dt)
        self.ee_element_factor = one_step_ee_element_factors(config)[geo["orientation"]]
        self._constants = None  # phiml tensors of inflow, unit force, strength (first step)

    def initial_state(self) -> State:
        """The all-zero state (no smoke, fluid at rest) of the M simulations on this device."""
        m, n = len(self.members), self.config.grid
        z = dict(dtype=torch.float64, device=self.device)
        return State(torch.zeros(m, n, n, **z), torch.zeros(m, n, n - 1, **z), torch.zeros(m, n - 1, n, **z))

    def step(self, state: State) -> tuple[State, torch.Tensor]:
        """Advance ``state`` by one time step.

        Returns ``(new_state, push_scale)``; ``push_scale`` ``(M,)`` float64 tensor is
        mean |at_centers(P(unit push))| over components and pixels (velocity units), so the
        matched one-step error of this step per rotation is ``ee_element_factor * push_scale``
        (docs/DATA_FORMAT.md).
        """
        scipy = self.solver == "scipy"
        n = self.config.grid
        with _backend(scipy, self.device):
            if self._constants is None:
                self._constants = (
                    self._wrap(self._inflow),
                    self._wrap_vector(self._unit_force),
                    self._wrap_vector(self._strength),
                )
            physics = _physics if scipy or not self.jit else _jit_physics()
            wrapped = [self._wrap(a) for a in state]
            smoke, vx, vy, ux, uy = physics(*wrapped, *self._constants, self.config.dt, n)
            if scipy:
                vx, vy = _scipy_projection(vx, vy, n)
            smoke, vx, vy, ux, uy = (self._to_torch(a.native("sim,y,x")) for a in (smoke, vx, vy, ux, uy))
        if not scipy:
            vx, vy, _ = project(vx, vy)
        # The unit push is projected apart from the velocity: the projection is linear, so this
        # is exactly what a strength change adds to the projected step (the matched error).
        px, py, _ = project(ux, uy)
        push_scale = at_centers(px, py).abs().mean(dim=(-3, -2, -1))
        return State(smoke, vx, vy), push_scale

    def _wrap(self, a):
        """A ``(M, rows, cols)`` array as a phiml tensor in PhiFlow's spatial order (x, y)."""
        from phiml import math
        from phiml.math import batch, spatial

        a = torch.as_tensor(a, device=self.device)
        a = a.cpu().numpy() if self.solver == "scipy" else a
        return math.tensor(a.swapaxes(-1, -2), batch("sim"), spatial("x,y"))

    def _wrap_vector(self, a):
        """A per-simulation ``(M,)`` scalar or ``(M, 2)`` vector as a phiml tensor."""
        from phiml import math
        from phiml.math import batch, channel

        a = a if self.solver == "scipy" else torch.as_tensor(a, device=self.device)
        dims = (batch("sim"), channel(vector="x,y"))[: a.ndim]
        return math.tensor(a, *dims)

    def _to_torch(self, a) -> torch.Tensor:
        return torch.as_tensor(a, device=self.device)


def _physics(smoke, vx, vy, inflow, unit_force, strength, dt: float, n: int):
    """Everything of a step but the projection, on phiml tensors (spatial order x, y).

    Takes smoke and the interior faces ``vx``, ``vy`` of M simulations, the inflow, the
    per-simulation unit force and strength. Returns ``(smoke, vx, vy, ux, uy)``: the new smoke,
    the advected velocity plus ``strength * push`` (not yet divergence-free), and the unit push
    ``resample(smoke * unit_force) * dt`` on the faces (``ux``, ``uy``).
    """
    from phi import field
    from phi.field import CenteredGrid, StaggeredGrid
    from phi.geom import Box
    from phi.physics import advect
    from phiml import math
    from phiml.math import extrapolation

    bounds = Box(x=n, y=n)
    smoke = CenteredGrid(smoke, extrapolation.ZERO_GRADIENT, bounds=bounds, x=n, y=n)
    inflow = CenteredGrid(inflow, extrapolation.ZERO_GRADIENT, bounds=bounds, x=n, y=n)
    faces = math.stack([vx, vy], math.dual(vector="x,y"))
    velocity = StaggeredGrid(faces, extrapolation.ZERO, bounds=bounds, x=n, y=n)
    smoke = advect.mac_cormack(smoke, velocity, dt) + inflow
    push = field.resample(smoke * unit_force, to=velocity) * dt
    velocity = advect.semi_lagrangian(velocity, velocity, dt) + push * strength
    vx, vy = math.unstack(velocity.values, "~vector")
    ux, uy = math.unstack(push.values, "~vector")
    return smoke.values, vx, vy, ux, uy


@lru_cache(maxsize=1)
def _jit_physics():
    """:func:`_physics` compiled by phiml (torch.jit.trace on the torch backend), built once."""
    from phiml import math

    return math.jit_compile(_physics, auxiliary_args="dt,n")


def _backend(scipy: bool, device: str) -> ExitStack:
    """Context: float64, and the numpy backend (reference) or the torch backend on ``device``."""
    from phiml import math
    from phiml.backend import NUMPY
    from phiml.backend.torch import TORCH

    stack = ExitStack()
    stack.enter_context(math.precision(64))
    if scipy:
        stack.enter_context(NUMPY)
        stack.enter_context(warnings.catch_warnings())
        # The closed box makes the pressure defined up to a constant; phiml says so every step.
        warnings.filterwarnings("ignore", message=".*[Rr]ank deficiency.*")
        return stack
    stack.enter_context(TORCH)
    # PhiFlow makes some constants (sample coordinates) itself: they must land on our device.
    previous = TORCH.get_default_device()
    TORCH.set_default_device("GPU" if device == "cuda" else "CPU")
    stack.callback(TORCH.set_default_device, previous)
    return stack


def _scipy_projection(vx, vy, n: int):
    """The reference projection: PhiFlow's make_incompressible with SciPy CG (tolerance 1e-9).

    Takes and returns the interior faces as phiml tensors (numpy backend).
    """
    from phi.field import StaggeredGrid
    from phi.geom import Box
    from phi.physics import fluid
    from phiml import math
    from phiml.math import Solve, extrapolation

    faces = math.stack([vx, vy], math.dual(vector="x,y"))
    velocity = StaggeredGrid(faces, extrapolation.ZERO, bounds=Box(x=n, y=n), x=n, y=n)
    solve = Solve("scipy-CG", PRESSURE_TOLERANCE, PRESSURE_TOLERANCE, max_iterations=5000)
    velocity = fluid.make_incompressible(velocity, (), solve)[0]
    return math.unstack(velocity.values, "~vector")


def _inflow_mask(config: DataConfig, geo: dict[str, np.ndarray]) -> np.ndarray:
    """Fraction of each cell inside the inflow disc, float64 ``(M, N, N)`` (rows up)."""
    from phi.field import CenteredGrid
    from phi.geom import Box, Sphere
    from phiml import math
    from phiml.backend import NUMPY
    from phiml.math import batch, channel, extrapolation

    n = config.grid
    with math.precision(64), NUMPY:
        sims, vec = batch(sim=len(geo["radius"])), channel(vector="x,y")
        disc = Sphere(center=math.tensor(geo["center"], sims, vec), radius=math.tensor(geo["radius"], sims))
        grid = CenteredGrid(disc, extrapolation.ZERO_GRADIENT, bounds=Box(x=n, y=n), x=n, y=n)
        return np.array(grid.values.numpy("sim,y,x"), dtype=np.float64)


def run_simulations(
    config: DataConfig,
    members: Sequence[int],
    progress: Progress | None = None,
    *,
    device: str = "auto",
    solver: str = "dct",
) -> Trajectories:
    """Run the chosen simulations of ``config`` (indices ``k*S + s``) as one PhiFlow batch.

    :func:`simulate` runs all of them at once; the benchmark also runs them one at a time
    with exactly the same physics. ``progress`` (core.progress.Progress) is called after every frame.
    Returns :class:`Trajectories` for the ``M = len(members)`` simulations, in that order:
    velocity ``(M, T, 2, N, N)``, smoke ``(M, T, N, N)``, data_ee_one_step ``(M, T-1)`` and
    data_ee_one_step_by_element ``(M, 3, T-1)``.
    """
    n, t_count = config.grid, config.frames
    stepper = SmokeStepper(config, members, device, solver)
    m = len(stepper.members)
    check_fits(config.estimated_bytes() * m // (4 * config.sims), f"simulating {config}")
    velocities = np.empty((m, t_count, 2, n, n))
    smokes = np.empty((m, t_count, n, n))
    push_scale = np.empty((m, t_count))
    state = stepper.initial_state()
    total = config.warmup + t_count
    for w in range(config.warmup):
        state, _ = stepper.step(state)
        if progress is not None:
            progress((w + 1) / total, f"simulating: warm-up step {w + 1}/{config.warmup}")
    for t in range(t_count):
        state, scale = stepper.step(state)
        velocities[:, t] = at_centers(state.vx, state.vy).cpu().numpy()
        smokes[:, t] = state.smoke.cpu().numpy()
        push_scale[:, t] = scale.cpu().numpy()
        if progress is not None:
            progress((config.warmup + t + 1) / total, f"simulating: frame {t + 1}/{t_count}")
    # Frame t's successor is made by step t + 1: its push is what a strength change alters.
    by_element = stepper.ee_element_factor[:, :, None] * push_scale[:, None, 1:]
    return Trajectories(velocities, smokes, by_element.mean(axis=1), by_element)


def warm_up(config: DataConfig, device: str = "auto") -> None:
    """Take one step of ``config``'s simulations and throw it away; returns nothing.

    Why: the first step of a shape (grid, number of simulations) traces the jit-compiled physics
    (about as long as a whole small dataset on 2 cores); a process that will simulate this shape
    soon (the dashboard's in-process generation) pays it before the click instead of after.
    """
    stepper = SmokeStepper(config, range(4 * config.sims), device)
    stepper.step(stepper.initial_state())


def simulate(
    config: DataConfig, progress: Progress | None = None, *, device: str = "auto", solver: str = "dct"
) -> Trajectories:
    """Run the 4*S simulations of ``config`` as one batched PhiFlow simulation.

    Refuses (ValueError, before allocating) a config whose arrays would not fit in memory,
    and (ValueError naming the first bad orientation, simulation and frame) a run that
    produced non-finite values. Returns :class:`Trajectories` reshaped orientation-major,
    float64: velocity ``(4, S, T, 2, N, N)`` at cell centres (component 0 = vx, 1 = vy; grid
    axis -2 = y, row 0 at the bottom) in cells per time unit, smoke ``(4, S, T, N, N)`` in
    smoke units, data_ee_one_step ``(4, S, T-1)`` in velocity units and
    data_ee_one_step_by_element ``(4, S, 3, T-1)``.
    """
    n, t_count, s_count = config.grid, config.frames, config.sims
    check_fits(config.estimated_bytes(), f"the dataset of grid {n}, frames {t_count}, sims {s_count}")
    run = run_simulations(config, range(4 * s_count), progress, device=device, solver=solver)
    velocity = run.velocity.reshape(4, s_count, t_count, 2, n, n)
    smoke = run.smoke.reshape(4, s_count, t_count, n, n)
    bad = {name: first_non_finite(values) for name, values in (("velocity", velocity), ("smoke", smoke))}
    bad = {name: where for name, where in bad.items() if where is not None}
    if bad:
        name = min(bad, key=bad.get)  # the field that went bad first in (k, s, t) order
        raise ValueError(
            f"the simulation produced non-finite {name} values, first at (orientation, simulation, "
            f"frame) = {bad[name]}; nothing was written"
        )
    return Trajectories(
        velocity,
        smoke,
        run.data_ee_one_step.reshape(4, s_count, t_count - 1),
        run.data_ee_one_step_by_element.reshape(4, s_count, 3, t_count - 1),
    )
