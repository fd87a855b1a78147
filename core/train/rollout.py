"""The one autoregressive rollout, used by the training loss, evaluation, CLI and dashboard."""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_STEPS = 20
#: What a residual model's correction is added to (see :class:`Scaled`).
SKIPS = ("last", "linear")


def rollout(model: nn.Module, initial_frames: torch.Tensor, steps: int = DEFAULT_STEPS) -> torch.Tensor:
    """Predict ``steps`` future frames by feeding the model its own outputs.

    ``initial_frames``: ``(B, F, 2, N, N)`` velocity frames, oldest first, or the
    same stacked as ``(B, 2*F, N, N)``. ``model`` maps ``(B, 2*F, N, N)`` to the next
    frame ``(B, 2, N, N)``. Returns ``(B, steps, 2, N, N)`` in the input's units.

    Gradients flow when enabled by the caller (the training loss uses this), so
    wrap calls in ``torch.no_grad()`` for inference.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    shape = tuple(initial_frames.shape)
    if initial_frames.ndim == 5:
        if shape[2] != 2:
            raise ValueError(f"initial_frames (B, F, 2, N, N) needs 2 components, got {shape}")
        b, f, _, n, m = initial_frames.shape
        window = initial_frames.reshape(b, 2 * f, n, m)
    elif initial_frames.ndim == 4:
        if initial_frames.shape[1] % 2:
            raise ValueError(f"stacked initial_frames need an even channel count, got {shape}")
        window = initial_frames
    else:
        raise ValueError(f"initial_frames must be (B, F, 2, N, N) or (B, 2*F, N, N), got shape {shape}")
    preds = []
    for _ in range(steps):
        nxt = model(window)
        if nxt.shape != (window.shape[0], 2, *window.shape[-2:]):
            raise ValueError(f"model returned shape {tuple(nxt.shape)}, expected (B, 2, N, N)")
        preds.append(nxt)
        # Slide the window: drop the oldest frame's two channels, append the prediction.
        window = torch.cat([window[:, 2:], nxt], dim=1)
    return torch.stack(preds, dim=1)


def check_skip(skip: str, input_frames: int) -> None:
    """Raise ValueError, naming what is wrong, unless ``skip`` is one of SKIPS and a model
    with ``input_frames`` frames can use it ('linear' extrapolates from two frames)."""
    if skip not in SKIPS:
        raise ValueError(f"skip must be one of {', '.join(SKIPS)}, got {skip!r}")
    if skip == "linear" and input_frames < 2:
        raise ValueError("skip 'linear' extrapolates from two frames: the model needs input_frames >= 2")


def skip_base(x: torch.Tensor, skip: str) -> torch.Tensor:
    """The frame a residual correction is added to, ``(B, 2, N, N)``, from stacked inputs
    ``x`` ``(B, 2F, N, N)``: the newest frame (``"last"``) or the linear extrapolation of the
    two newest, ``2 x_t - x_{t-1}`` (``"linear"``; ValueError with one input frame)."""
    check_skip(skip, x.shape[1] // 2)
    return x[:, -2:] if skip == "last" else 2 * x[:, -2:] - x[:, -4:-2]


class Scaled(nn.Module):
    """Wrap a model trained on normalised velocities so that it works in physical units.

    Without ``delta_scale``: ``forward(x) = model(x / scale) * scale`` (the model predicts
    the next frame). With ``delta_scale`` (residual prediction): ``forward(x) = base(x) +
    delta_scale * model(x / scale)``, the model predicting a correction in units of its
    typical size. ``skip`` picks the base: ``"last"``, the newest frame ``x_t`` (the model
    predicts the one-step change), or ``"linear"``, the linear extrapolation
    ``2 x_t - x_{t-1}`` (it predicts the change of the change; needs two input frames).
    Scales are single scalars and both bases commute with rotations, so a C4-equivariant
    model stays equivariant.
    """

    def __init__(self, model: nn.Module, scale: float, delta_scale: float | None = None, skip: str = "last"):
        super().__init__()
        for name, value in (("scale", scale), ("delta_scale", delta_scale)):
            if value is not None and not 0 < float(value) < float("inf"):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        check_skip(skip, getattr(getattr(model, "config", None), "input_frames", 2))
        self.model = model
        self.scale = float(scale)
        self.delta_scale = None if delta_scale is None else float(delta_scale)
        self.skip = skip
        self.config = getattr(model, "config", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the next frame ``(B, 2, N, N)`` in the same units as ``x``."""
        out = self.model(x / self.scale)
        if self.delta_scale is None:
            return out * self.scale
        return skip_base(x, self.skip) + out * self.delta_scale

    def regularization_loss(self) -> torch.Tensor:
        """The wrapped model's regulariser."""
        return self.model.regularization_loss()
