"""The matched one-step data equivariance error: the cheap formula against a rotated restart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data import DataConfig, SmokeStepper, State, run_simulations
from core.data.simulate import one_step_ee_factors, simulate
from core.data.staggered import at_centers, rotate_staggered
from core.symmetry import data_equivariance_error, rotate_scalar, rotate_velocity

torch.set_num_threads(2)
STEPS = 5  # the state x is frame STEPS - 1; its successor is made by step STEPS + 1


def _rotated_restart_error(config: DataConfig) -> tuple[np.ndarray, float]:
    """e[j, s] from the definition: F_{j+k}(g^k x) - g^k F_j(x), by full PhiFlow steps."""
    s_count = config.sims
    members = list(range(4 * s_count))
    base = SmokeStepper(config, members, "cpu", "dct")
    state = base.initial_state()
    for _ in range(STEPS):
        state, _ = base.step(state)
    expected = at_centers(*base.step(state)[0][1:])  # F_j(x) at centres, (4S, 2, N, N)
    errors = []
    for k in (1, 2, 3):
        # Member j*S + s restarts, turned by g^k, under orientation (j + k)'s full physics.
        turned = SmokeStepper(
            config, [((m // s_count + k) % 4) * s_count + m % s_count for m in members], "cpu"
        )
        vx, vy = rotate_staggered(state.vx, state.vy, k)
        stepped, _ = turned.step(State(rotate_scalar(state.smoke, k), vx, vy))
        diff = at_centers(stepped.vx, stepped.vy) - rotate_velocity(expected, k)
        errors.append(diff.abs().mean(dim=(-3, -2, -1)).numpy())
    return np.mean(errors, axis=0).reshape(4, s_count), float(expected.abs().mean())


@pytest.mark.parametrize("delta", [0.0, 0.3])
def test_stored_formula_equals_the_rotated_restart(delta):
    config = DataConfig(grid=16, frames=STEPS + 1, sims=2, buoyancy_diff=delta)
    explicit, scale = _rotated_restart_error(config)
    stored = run_simulations(config, range(8), device="cpu").data_ee_one_step.reshape(4, 2, STEPS)
    assert scale > 1e-3  # the plume moves
    np.testing.assert_allclose(stored[:, :, STEPS - 1], explicit, rtol=0, atol=1e-10 * scale)
    if delta == 0:
        assert explicit.max() < 1e-9 * scale and stored.max() == 0.0
    else:
        assert explicit.min() > 1e-4 * scale  # a real, measurable error


def test_one_step_error_is_zero_when_symmetric_and_rises_with_buoyancy_diff():
    means, trajectory = [], []
    for delta in (0.0, 0.1, 0.3, 0.6):
        run = simulate(DataConfig(grid=16, frames=6, sims=1, buoyancy_diff=delta), device="cpu")
        assert run.data_ee_one_step.shape == (4, 1, 5)
        means.append(float(run.data_ee_one_step.mean()))
        trajectory.append(data_equivariance_error(run.velocity))
    scale = float(np.abs(run.velocity).mean())
    assert means[0] < 1e-9 * scale and trajectory[0] < 1e-10 * scale
    assert means[1] < means[2] < means[3], means
    assert trajectory[1] < trajectory[2] < trajectory[3], trajectory


def test_one_step_factors_count_the_strength_gaps():
    # Orientation 0 against 1, 2, 3: gaps 1, 2, 3; orientation 1 against 2, 3, 0: 1, 2, 1.
    np.testing.assert_allclose(
        one_step_ee_factors(DataConfig(buoyancy_diff=0.5)), 0.5 * np.array([2, 4 / 3, 4 / 3, 2])
    )
