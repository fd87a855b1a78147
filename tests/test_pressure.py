"""The exact DCT pressure projection against PhiFlow's own (SciPy CG) projection."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from core.data import DataConfig, SmokeStepper
from core.data.pressure import dct_matrix, divergence, project
from core.data.staggered import at_centers, rotate_staggered
from core.symmetry import rotate_velocity

torch.set_num_threads(2)
N = 16


def _random_faces(m: int = 3, n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n, n - 1)), rng.normal(size=(m, n - 1, n))


def _phiflow_projection(vx: np.ndarray, vy: np.ndarray, tolerance: float):
    """PhiFlow's make_incompressible with SciPy CG; returns (vx, vy, centres) as numpy."""
    from phi.field import StaggeredGrid
    from phi.geom import Box
    from phi.physics import fluid
    from phiml import math
    from phiml.backend import NUMPY
    from phiml.math import Solve, batch, extrapolation, spatial

    n = vx.shape[-2]
    with math.precision(64), NUMPY, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Rr]ank deficiency.*")
        faces = [math.tensor(a.swapaxes(-1, -2), batch("sim"), spatial("x,y")) for a in (vx, vy)]
        grid = StaggeredGrid(
            math.stack(faces, math.dual(vector="x,y")), extrapolation.ZERO, bounds=Box(x=n, y=n), x=n, y=n
        )
        solve = Solve("scipy-CG", tolerance, tolerance, max_iterations=5000)
        out = fluid.make_incompressible(grid, (), solve)[0]
        return (
            out.vector["x"].values.numpy("sim,y,x"),
            out.vector["y"].values.numpy("sim,y,x"),
            out.at_centers().values.numpy("sim,vector,y,x"),
        )


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_dct_matrix_is_orthonormal_and_cached():
    q = dct_matrix(N)
    torch.testing.assert_close(q @ q.T, torch.eye(N, dtype=torch.float64), atol=1e-14, rtol=0)
    assert dct_matrix(N) is q


@pytest.mark.parametrize(("tolerance", "bound"), [(1e-9, 1e-8), (1e-12, 1e-10)])
def test_dct_projection_matches_phiflow_scipy_cg(tolerance, bound):
    vx, vy = _random_faces()
    ref_x, ref_y, ref_c = _phiflow_projection(vx, vy, tolerance)
    px, py, _ = project(torch.tensor(vx), torch.tensor(vy))
    # A tighter CG tolerance brings CG closer to the DCT answer: the DCT one is the exact one.
    assert _rel(px, ref_x) < bound and _rel(py, ref_y) < bound
    assert _rel(at_centers(px, py), ref_c) < bound


def test_projection_is_divergence_free_and_idempotent():
    vx, vy = (torch.tensor(a) for a in _random_faces(n=32))
    assert divergence(vx, vy).abs().max() > 1  # the input really diverges
    px, py, p = project(vx, vy)
    assert divergence(px, py).abs().max() < 1e-12
    assert abs(float(p.mean())) < 1e-13  # the constant mode is dropped
    qx, qy, _ = project(px, py)
    assert float((qx - px).abs().max()) < 1e-13 and float((qy - py).abs().max()) < 1e-13


def test_dct_step_matches_scipy_step_on_a_real_state():
    config = DataConfig(grid=N, frames=2, sims=1, buoyancy_diff=0.3)
    dct = SmokeStepper(config, range(4), "cpu", "dct")
    scipy = SmokeStepper(config, range(4), "cpu", "scipy")
    state = dct.initial_state()
    for _ in range(6):
        state, _ = dct.step(state)
    (a, _), (b, _) = dct.step(state), scipy.step(state)
    assert float(state.vx.abs().mean()) > 1e-3  # the plume moves
    assert _rel(a.vx, b.vx) < 1e-8 and _rel(a.vy, b.vy) < 1e-8
    assert _rel(a.smoke, b.smoke) < 1e-12  # smoke does not see the solver until the next step


def test_rotate_staggered_is_the_c4_action_on_faces():
    vx, vy = _random_faces(m=2)
    px, py, _ = project(torch.tensor(vx), torch.tensor(vy))
    for k in range(1, 4):
        rx, ry = rotate_staggered(px, py, k)
        assert rx.shape == px.shape and ry.shape == py.shape
        # Turning the faces then centring equals centring then the project's C4 action.
        torch.testing.assert_close(at_centers(rx, ry), rotate_velocity(at_centers(px, py), k), rtol=0, atol=0)
        assert divergence(rx, ry).abs().max() < 1e-12  # still a closed-box, divergence-free field
    fx, fy = rotate_staggered(px, py, 4)
    assert torch.equal(fx, px) and torch.equal(fy, py)
