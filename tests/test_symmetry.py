"""The C4 action and the equivariance errors of core.symmetry, on numpy arrays and torch tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.symmetry import (
    data_equivariance_error,
    model_equivariance_error,
    rotate_scalar,
    rotate_stacked_velocity,
    rotate_velocity,
)

N = 8


def _field(kind: str, shape: tuple[int, ...], seed: int = 0):
    x = np.random.default_rng(seed).standard_normal(shape)
    return torch.from_numpy(x) if kind == "torch" else x


def _to_np(x) -> np.ndarray:
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


KINDS = ["numpy", "torch"]


@pytest.mark.parametrize("kind", KINDS)
def test_four_quarter_turns_are_identity(kind):
    v = _field(kind, (3, 2, N, N))
    s = _field(kind, (3, N, N), seed=1)
    out_v, out_s = v, s
    for _ in range(4):
        out_v, out_s = rotate_velocity(out_v, 1), rotate_scalar(out_s, 1)
    np.testing.assert_array_equal(_to_np(out_v), _to_np(v))
    np.testing.assert_array_equal(_to_np(out_s), _to_np(s))
    # One quarter turn alone must change a random field, or the identity check proves nothing.
    assert not np.allclose(_to_np(rotate_velocity(v, 1)), _to_np(v))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_turn_and_inverse_cancel(kind, k):
    v = _field(kind, (2, N, N))
    np.testing.assert_array_equal(_to_np(rotate_velocity(rotate_velocity(v, k), -k)), _to_np(v))
    np.testing.assert_array_equal(_to_np(rotate_velocity(rotate_velocity(v, -k), k)), _to_np(v))


@pytest.mark.parametrize("kind", KINDS)
def test_two_quarter_turns_equal_half_turn(kind):
    v = _field(kind, (4, 2, N, N))
    twice = rotate_velocity(rotate_velocity(v, 1), 1)
    np.testing.assert_array_equal(_to_np(twice), _to_np(rotate_velocity(v, 2)))
    # A half turn negates both components and reverses both grid axes.
    expected = -_to_np(v)[..., ::-1, ::-1]
    np.testing.assert_array_equal(_to_np(rotate_velocity(v, 2)), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_uniform_x_flow_becomes_y_flow(kind):
    v = np.zeros((2, N, N))
    v[0] = 1.0
    if kind == "torch":
        v = torch.from_numpy(v)
    out = _to_np(rotate_velocity(v, 1))
    np.testing.assert_array_equal(out[0], np.zeros((N, N)))
    np.testing.assert_array_equal(out[1], np.ones((N, N)))


@pytest.mark.parametrize("kind", KINDS)
def test_blob_moves_to_the_next_corner_counter_clockwise(kind):
    # Rows point up: [0, -1] is the bottom-right corner; a +90 degree turn about the
    # centre takes bottom-right to top-right, i.e. [-1, -1].
    s = np.zeros((N, N))
    s[0, -1] = 1.0
    if kind == "torch":
        s = torch.from_numpy(s)
    out = _to_np(rotate_scalar(s, 1))
    assert out[-1, -1] == 1.0 and out.sum() == 1.0
    # And the same blob carried as a velocity magnitude goes to the same place.
    v = np.zeros((2, N, N))
    v[0, 0, -1] = 1.0
    if kind == "torch":
        v = torch.from_numpy(v)
    out_v = _to_np(rotate_velocity(v, 1))
    assert out_v[1, -1, -1] == 1.0 and np.abs(out_v).sum() == 1.0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_stacked_rotation_matches_per_frame(kind, k):
    frames = 3
    x = _field(kind, (2, 2 * frames, N, N))
    out = _to_np(rotate_stacked_velocity(x, k))
    xn = _to_np(x)
    for f in range(frames):
        expected = _to_np(rotate_velocity(xn[:, 2 * f : 2 * f + 2], k))
        np.testing.assert_array_equal(out[:, 2 * f : 2 * f + 2], expected)


def _symmetric_dataset(seed: int = 0) -> np.ndarray:
    """(4, S=2, T=3, 2, N, N): orientation k is orientation 0 turned by k quarter turns."""
    base = np.random.default_rng(seed).standard_normal((2, 3, 2, N, N))
    return np.stack([rotate_velocity(base, k) for k in range(4)])


def test_data_equivariance_error_zero_for_rotated_copies():
    assert data_equivariance_error(_symmetric_dataset()) == 0.0


def test_data_equivariance_error_positive_when_one_orientation_perturbed():
    vel = _symmetric_dataset()
    vel[2, 0, 1, 0, 3, 4] += 1.0
    err = data_equivariance_error(vel)
    # One changed value out of S*T*2*N*N, seen by one of the three k: 1 / (3 * 2*3*2*N*N).
    assert err == pytest.approx(1.0 / (3 * 2 * 3 * 2 * N * N))


def _batch() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(3).standard_normal((2, 4, N, N)))


@pytest.mark.parametrize("f", [lambda x: x, lambda x: 2.5 * x], ids=["identity", "scaling"])
def test_model_equivariance_error_zero_for_equivariant_maps(f):
    err = model_equivariance_error(f, _batch())
    assert err.mean < 1e-12
    assert set(err.per_element) == {1, 2, 3}
    assert err.output_scale > 0


def test_model_equivariance_error_positive_for_non_equivariant_map():
    bias = torch.zeros(1, 4, N, N, dtype=torch.float64)
    bias[:, 0, :, : N // 2] = 1.0  # a fixed field pointing right on the left half only
    err = model_equivariance_error(lambda x: x + bias, _batch())
    assert err.mean > 0.1
    assert all(v > 0 for v in err.per_element.values())


def _growing_dataset(n_sims: int = 2, n_frames: int = 6) -> np.ndarray:
    """``(4, S, T, 2, N, N)`` random velocities whose size grows with the frame index."""
    v = np.random.default_rng(5).standard_normal((4, n_sims, n_frames, 2, N, N))
    return v * (1.0 + np.arange(n_frames))[None, None, :, None, None, None]


def _scaled_bias(x: torch.Tensor) -> torch.Tensor:
    """Not equivariant, and more so for larger inputs: adds a fixed field times |x|'s mean."""
    bias = torch.zeros(1, x.shape[1], N, N, dtype=x.dtype)
    bias[:, 0, :, : N // 2] = 1.0
    return x + bias * x.abs().mean(dim=(1, 2, 3), keepdim=True)


@pytest.mark.parametrize("input_frames", [1, 2])
def test_ee_on_states_equals_the_error_of_the_stacked_states(input_frames):
    from core.symmetry import equivariance_states, model_equivariance_on_states

    v = _growing_dataset()
    states = equivariance_states(v.shape[1], v.shape[2], input_frames)
    x = np.stack([v[k, s, t - input_frames + 1 : t + 1] for k, s, t in states])
    whole = model_equivariance_error(_scaled_bias, torch.as_tensor(x.reshape(len(states), -1, N, N)))
    on_states = model_equivariance_on_states(_scaled_bias, v, input_frames, batch_size=5)
    assert on_states.mean == pytest.approx(whole.mean, rel=1e-5)
    for k in (1, 2, 3):
        assert on_states.per_element[k] == pytest.approx(whole.per_element[k], rel=1e-5)
    assert on_states.output_scale == pytest.approx(whole.output_scale, rel=1e-5)


def test_ee_by_frame_averages_to_figure_4s_point_and_follows_the_states():
    from core.symmetry import (
        equivariance_by_frame,
        matched_data_equivariance_error,
        model_equivariance_on_states,
    )

    v = _growing_dataset(n_frames=7)
    one_step = np.random.default_rng(6).random((4, 2, 6))
    by_frame = equivariance_by_frame(_scaled_bias, v, one_step, input_frames=2, batch_size=5)
    assert by_frame.frames.tolist() == [1, 2, 3, 4, 5]
    assert by_frame.model.mean() == pytest.approx(
        model_equivariance_on_states(_scaled_bias, v, 2).mean, rel=1e-5
    )
    assert by_frame.data.mean() == pytest.approx(matched_data_equivariance_error(one_step, 2), rel=1e-12)
    assert by_frame.data[0] == pytest.approx(one_step[:, :, 1].mean())
    assert np.all(np.diff(by_frame.model) > 0)  # inputs grow with t, so does this map's asymmetry
    assert equivariance_by_frame(lambda x: 2 * x, v, None, 2).model.max() < 1e-12
    assert equivariance_by_frame(lambda x: 2 * x, v, None, 2).data is None
