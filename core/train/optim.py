"""The optimiser: Adam, with RSteer's symmetry-breaking weights moved by plain SGD.

Why not Adam for everything: Adam divides each weight's step by that weight's own
running gradient size, so a gradient that is tiny (even float round-off) still
produces a step of about the learning rate. A relaxed weight ``w_l(y)`` splits into
a C4-invariant part (the mean over the four rotations of the offset grid, which
keeps the layer exactly equivariant) and a symmetry-breaking remainder. On exactly
symmetric data the remainder's gradient is round-off; Adam turned it into
symmetry breaking anyway (measured: relative model equivariance error 0.2 after 300
steps on data whose own error was 2e-12, in float32 and float64 alike). Here the
invariant part is updated by Adam, and the remainder by SGD, whose steps are
proportional to the evidence: the model breaks symmetry as far as the data pushes it.
The model's function space is unchanged: ``w_l(y)`` stays free, as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.rsteer import c4_irrep_parts
from core.models.rsteer import c4_orbit_mean as c4_invariant_part


class RelaxedAdam(torch.optim.Adam):
    """Adam on all parameters, except that in ``relaxed`` parameters only the
    C4-invariant part moves by Adam and the symmetry-breaking rest moves by plain SGD
    with learning rate ``relaxed_lr``.

    ``relaxed_lr`` decays with Adam's learning rate (the ratio to the first ``lr`` is
    applied), so one scheduler drives both. It is an absolute step size: too large a
    value lets symmetry-breaking perturbations grow (measured: at 32 hidden channels
    4e-3 diverged; a step normalised by the gradient's RMS broke symmetry on symmetric
    data), so the presets pair it with RSteer's default width. Each element's SGD step
    is clipped to ``clip`` times Adam's learning rate (large early gradients made it
    diverge unclipped). The clip also caps how far the weights can follow the data's
    asymmetry: at 1x, RSteer at K = 2 learnt 0.69 of the data's one-step EE at buoyancy
    difference 0.9 whatever relaxed_lr was (0.4-0.9), at 2-4x 0.80-0.84, at 8x 0.94 (but
    its test-domain rollouts lost accuracy: 0.94 x persistence against 0.71).
    While ``breaking`` is False (the trainer's ``relaxed_hold`` epochs) the breaking part
    does not move at all: the model trains as an exactly equivariant one.
    ``decay`` shrinks the symmetry-breaking part by ``sgd_lr * decay`` of itself every
    step (decoupled weight decay towards the nearest equivariant weights, the role of
    the paper's penalty on the relaxed weights' differences); 0: none.
    ``invariant_part(w)``: the part of a relaxed weight (or its gradient) that keeps the model
    equivariant; RSteer's C4 orbit mean over the kernel offsets unless the model says otherwise.
    ``irrep_parts(g)``: the split of a breaking gradient by C4 irrep (``sign``: breaks quarter turns
    only; ``rotation``: the ±i pair, breaks the half-turn too). The noise floor applies to each
    part on its own: on data that keeps the half-turn the ±i part of the gradient is round-off
    (the loss is half-turn invariant), and without its own floor SGD amplified that round-off
    (the e2cnn basis is half-turn symmetric only to float precision) into a model that broke the
    half-turn as much as the quarter turn (measured: 180°/90° model EE 0.998 after 6 epochs of the
    ``patterns`` preset at grid 16; with the floor per part, see docs/RESULTS.md).
    """

    def __init__(
        self,
        params,
        relaxed: list[nn.Parameter],
        relaxed_lr: float,
        lr: float,
        noise_floor: float = 0.0,
        clip: float = 1.0,
        decay: float = 0.0,
        invariant_part=c4_invariant_part,
        irrep_parts=c4_irrep_parts,
        **kwargs,
    ):
        super().__init__(params, lr=lr, **kwargs)
        self.invariant_part = invariant_part
        self.irrep_parts = irrep_parts
        self.relaxed = list(relaxed)
        self.relaxed_lr = float(relaxed_lr)
        self.base_lr = float(lr)
        self.noise_floor = float(noise_floor)
        self.clip = float(clip)
        self.decay = float(decay)
        self.breaking = True

    @torch.no_grad()
    def step(self, closure=None):
        breaking, before = [], []
        for p in self.relaxed:
            if p.grad is None:
                breaking.append(None)
                before.append(None)
                continue
            invariant = self.invariant_part(p.grad)
            breaking.append(p.grad - invariant)
            p.grad.copy_(invariant)
            before.append(p.detach().clone())
        loss = super().step(closure)
        lr = self.param_groups[0]["lr"]
        sgd_lr = self.relaxed_lr * lr / self.base_lr
        for p, g, old in zip(self.relaxed, breaking, before, strict=True):
            if g is None:
                continue
            # Project Adam's step too, so its round-off never adds up to symmetry breaking.
            p.copy_(old + self.invariant_part(p - old))
            if not self.breaking:
                continue
            if self.decay:
                # The paper's pull towards symmetry: asymmetry the data does not ask for fades.
                p.sub_((p - self.invariant_part(p)) * min(1.0, sgd_lr * self.decay))
            # A breaking gradient this small next to the invariant one is round-off, not evidence;
            # so is each irrep part of it on its own (a half-turn-symmetric loss has no ±i part).
            if self.noise_floor:
                floor = self.noise_floor * torch.linalg.vector_norm(p.grad)
                parts = self.irrep_parts(g)
                kept = [v for k, v in parts.items() if k != "trivial" and torch.linalg.vector_norm(v) > floor]
                if not kept:
                    continue
                g = sum(kept)
            # Early gradients can be large: no element moves more than clip x Adam's step.
            p.sub_((sgd_lr * g).clamp_(-self.clip * lr, self.clip * lr))
        return loss


def make_optimizer(
    model: nn.Module,
    lr: float,
    relaxed_lr: float,
    noise_floor: float = 0.0,
    clip: float = 1.0,
    decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Return the optimiser for ``model``: :class:`RelaxedAdam` if the model has relaxed
    weights (``model.relaxed_parameters()``, their equivariant part given by
    ``model.relaxed_invariant_part`` where the model has one), else plain Adam."""
    relaxed = list(model.relaxed_parameters()) if hasattr(model, "relaxed_parameters") else []
    if not relaxed:
        return torch.optim.Adam(model.parameters(), lr=lr)
    return RelaxedAdam(
        model.parameters(),
        relaxed=relaxed,
        relaxed_lr=relaxed_lr,
        lr=lr,
        noise_floor=noise_floor,
        clip=clip,
        decay=decay,
        invariant_part=getattr(model, "relaxed_invariant_part", c4_invariant_part),
        irrep_parts=getattr(model, "relaxed_irrep_parts", c4_irrep_parts),
    )
