"""RelaxedAdam: symmetric data keeps RSteer equivariant; asymmetric data relaxes it."""

import pytest
import torch

from core.models import build_model
from core.symmetry import model_equivariance_error, rotate_stacked_velocity
from core.train.optim import RelaxedAdam, c4_invariant_part, make_optimizer


def _orbit_batch(seed: int, break_symmetry: bool):
    """Inputs and targets holding whole C4 orbits; optionally orientation-dependent targets."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(2, 2, 16, 16, generator=g)
    y0 = torch.randn(2, 2, 16, 16, generator=g)
    xs = torch.cat([rotate_stacked_velocity(x0, k) for k in range(4)])
    ys = [rotate_stacked_velocity(y0, k) for k in range(4)]
    if break_symmetry:  # orientation k's target is scaled by 1 + k/2, like the buoyancy dial
        ys = [y * (1 + 0.5 * k) for k, y in enumerate(ys)]
    return xs, torch.cat(ys)


def _train(optimiser_kind: str, break_symmetry: bool, steps: int = 40) -> float:
    torch.manual_seed(0)
    model = build_model("rsteer", hidden=8, layers=3)
    if optimiser_kind == "relaxed":
        opt = make_optimizer(model, lr=1e-2, relaxed_lr=5e-2)
        assert isinstance(opt, RelaxedAdam)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = _orbit_batch(0, break_symmetry)
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).mean() + model.regularization_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model_equivariance_error(model, _orbit_batch(1, False)[0]).relative_mean


def test_relaxed_adam_keeps_symmetric_training_equivariant():
    assert _train("relaxed", break_symmetry=False) < 1e-4


@pytest.mark.parametrize("clip", [1.0, 2.0])
def test_one_step_moves_the_breaking_part_by_sgd_and_the_rest_by_adam(clip):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(2, 3, 4, 3, 3))
    w0 = w.detach().clone()
    opt = RelaxedAdam([w], relaxed=[w], relaxed_lr=0.2 * clip, lr=0.01, clip=clip)
    grad = torch.randn_like(w)
    w.grad = grad.clone()
    opt.step()
    delta = w.detach() - w0
    grad_breaking = grad - c4_invariant_part(grad)
    # SGD on the symmetry-breaking part, each element's step clipped to clip x Adam's lr
    bound = 0.01 * clip
    expected = (-0.2 * clip * grad_breaking).clamp(-bound, bound)
    assert (expected.abs() == bound).any() and (expected.abs() < bound).any()  # both regimes seen
    assert torch.allclose(delta - c4_invariant_part(delta), expected - c4_invariant_part(expected), atol=1e-6)
    # Adam's first step is about lr per element, on the invariant part only
    invariant_step = c4_invariant_part(delta) - c4_invariant_part(expected)
    assert 0.005 < invariant_step.abs().mean() < 0.0101


def test_relaxed_adam_learns_symmetry_breaking_from_asymmetric_data():
    assert _train("relaxed", break_symmetry=True) > 1e-3


@pytest.mark.parametrize("name", ["convnet", "e2cnn"])
def test_models_without_relaxed_weights_get_plain_adam(name):
    opt = make_optimizer(build_model(name), lr=1e-3, relaxed_lr=1e-2)
    assert type(opt) is torch.optim.Adam


def test_noise_floor_skips_round_off_but_not_evidence():
    torch.manual_seed(0)
    invariant = c4_invariant_part(torch.randn(2, 3, 4, 3, 3))
    noise = 1e-6 * (torch.randn_like(invariant) - c4_invariant_part(torch.randn_like(invariant)))
    for breaking, moves in ((noise, False), (0.1 * torch.randn_like(invariant), True)):
        breaking = breaking - c4_invariant_part(breaking)
        w = torch.nn.Parameter(torch.zeros_like(invariant))
        opt = RelaxedAdam([w], relaxed=[w], relaxed_lr=0.1, lr=0.01, noise_floor=1e-3)
        w.grad = invariant + breaking
        opt.step()
        moved = (w.detach() - c4_invariant_part(w.detach())).abs().max() > 1e-6  # not just round-off
        assert bool(moved) == moves


def test_a_large_breaking_step_with_the_noise_floor_keeps_symmetric_training_exact():
    """The shipped preset's step (0.4, clipped at 2 x Adam's) with the floor: an RSteer trained
    on symmetric orbits stays equivariant to round-off, and still learns asymmetry from
    asymmetric ones."""
    results = {}
    for broken in (False, True):
        torch.manual_seed(0)
        model = build_model("rsteer", hidden=8, layers=3)
        opt = make_optimizer(model, lr=1e-2, relaxed_lr=0.4, noise_floor=1e-3, clip=2.0)
        x, y = _orbit_batch(0, broken)
        for _ in range(40):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        results[broken] = model_equivariance_error(model, _orbit_batch(1, False)[0]).relative_mean
    assert results[False] < 1e-5 < 1e-3 < results[True]


def test_orbit_noise_on_the_inputs_keeps_symmetric_training_exact():
    """Input noise drawn per orbit and turned with it (the trainer's input_noise) leaves the
    batch made of whole orbits, so symmetric training stays equivariant to round-off."""
    from core.train.samples import orbit_noise

    torch.manual_seed(0)
    model = build_model("rsteer", hidden=8, layers=3)
    opt = make_optimizer(model, lr=1e-2, relaxed_lr=0.4, noise_floor=1e-3)
    x, y = _orbit_batch(0, False)
    # The trainer's layout: samples 4w .. 4w+3 are orientations 0-3 of window w.
    x, y = (t.reshape(4, 2, 2, 16, 16).transpose(0, 1).reshape(8, 2, 16, 16) for t in (x, y))
    g = torch.Generator().manual_seed(2)
    for _ in range(40):
        loss = ((model(x + orbit_noise(tuple(x.shape), 0.5, g)) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert model_equivariance_error(model, _orbit_batch(1, False)[0]).relative_mean < 1e-5


def test_relaxed_decay_shrinks_only_the_symmetry_breaking_part():
    """With no gradient, each step multiplies the breaking part by 1 - relaxed_lr * decay and
    leaves the C4-invariant part alone; decay 0 leaves both."""
    torch.manual_seed(0)
    start = torch.randn(2, 3, 4, 3, 3)
    for decay, factor in ((0.0, 1.0), (0.5, 1 - 0.1 * 0.5)):
        w = torch.nn.Parameter(start.clone())
        opt = RelaxedAdam([w], relaxed=[w], relaxed_lr=0.1, lr=0.01, decay=decay)
        for _ in range(3):
            w.grad = torch.zeros_like(w)
            opt.step()
        new = w.detach()
        assert torch.allclose(c4_invariant_part(new), c4_invariant_part(start), atol=1e-6)
        expected = (start - c4_invariant_part(start)) * factor**3
        assert torch.allclose(new - c4_invariant_part(new), expected, atol=1e-6)


def test_while_breaking_is_held_a_step_moves_only_the_invariant_part():
    """The trainer's relaxed_hold: no SGD step and no decay on the breaking part, Adam as before."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(c4_invariant_part(torch.randn(2, 3, 4, 3, 3)))
    w0 = w.detach().clone()
    opt = RelaxedAdam([w], relaxed=[w], relaxed_lr=0.4, lr=0.01, clip=2.0, decay=1.0)
    opt.breaking = False
    for _ in range(3):
        w.grad = torch.randn_like(w)
        opt.step()
    breaking = w.detach() - c4_invariant_part(w.detach())
    assert float(breaking.abs().max()) < 1e-6  # symmetric up to round-off (the orbit mean's)
    assert not torch.equal(w.detach(), w0)  # but it did train
    opt.breaking = True
    w.grad = torch.randn_like(w)
    opt.step()
    assert float((w.detach() - c4_invariant_part(w.detach())).abs().max()) > 1e-3
