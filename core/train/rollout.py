"""The one autoregressive rollout, used by the training loss, evaluation, CLI and dashboard."""

from __future__ import annotations

import torch
from torch import nn

from core.layout import FRAME_SIZES, VELOCITY

DEFAULT_STEPS = 20
#: What a residual model's correction is added to (see :class:`Scaled`).
SKIPS = ("last", "linear")


def rollout(model: nn.Module, initial_frames: torch.Tensor, steps: int = DEFAULT_STEPS) -> torch.Tensor:
    """Predict ``steps`` future frames by feeding the model its own outputs.

    ``initial_frames``: ``(B, F, C, N, N)`` frames, oldest first, or the same stacked as
    ``(B, C*F, N, N)``; C is 2 (vx, vy) or, for a model that sees the smoke, 3 (vx, vy, s).
    ``model`` maps ``(B, C*F, N, N)`` to the next frame ``(B, C, N, N)``. Returns
    ``(B, steps, C, N, N)`` in the input's units.

    Gradients flow when enabled by the caller (the training loss uses this), so
    wrap calls in ``torch.no_grad()`` for inference.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    shape = tuple(initial_frames.shape)
    if initial_frames.ndim == 5:
        if shape[2] not in FRAME_SIZES:
            raise ValueError(f"initial_frames (B, F, C, N, N) needs C = 2 or 3 channels, got {shape}")
        b, f, c, n, m = initial_frames.shape
        window = initial_frames.reshape(b, c * f, n, m)
    elif initial_frames.ndim == 4:
        window = initial_frames
    else:
        raise ValueError(f"initial_frames must be (B, F, C, N, N) or (B, C*F, N, N), got shape {shape}")
    preds = []
    for _ in range(steps):
        nxt = model(window)
        c = nxt.shape[1] if nxt.ndim == 4 else 0
        one_frame = (window.shape[0], c, *window.shape[-2:])
        if c not in FRAME_SIZES or window.shape[1] % c or nxt.shape != one_frame:
            raise ValueError(
                f"model returned shape {tuple(nxt.shape)} for input {tuple(window.shape)}: expected "
                "one frame (B, C, N, N) whose C (2 or 3) divides the input's channels"
            )
        preds.append(nxt)
        # Slide the window: drop the oldest frame's channels, append the prediction.
        window = torch.cat([window[:, c:], nxt], dim=1)
    return torch.stack(preds, dim=1)


def check_skip(skip: str, input_frames: int) -> None:
    """Raise ValueError, naming what is wrong, unless ``skip`` is one of SKIPS and a model
    with ``input_frames`` frames can use it ('linear' extrapolates from two frames)."""
    if skip not in SKIPS:
        raise ValueError(f"skip must be one of {', '.join(SKIPS)}, got {skip!r}")
    if skip == "linear" and input_frames < 2:
        raise ValueError("skip 'linear' extrapolates from two frames: the model needs input_frames >= 2")


def skip_base(x: torch.Tensor, skip: str, frame_channels: int = 2) -> torch.Tensor:
    """The frame a residual correction is added to, ``(B, C, N, N)``, from stacked inputs
    ``x`` ``(B, C*F, N, N)``, ``C = frame_channels``: the newest frame (``"last"``) or the
    linear extrapolation of the two newest, ``2 x_t - x_{t-1}`` (``"linear"``; ValueError
    with one input frame)."""
    c = frame_channels
    check_skip(skip, x.shape[1] // c)
    return x[:, -c:] if skip == "last" else 2 * x[:, -c:] - x[:, -2 * c : -c]


class Scaled(nn.Module):
    """Wrap a model trained on normalised frames so that it works in physical units.

    Without ``delta_scale``: ``forward(x) = model(x / scale) * scale`` (the model predicts
    the next frame). With ``delta_scale`` (residual prediction): ``forward(x) = base(x) +
    delta_scale * model(x / scale)``, the model predicting a correction in units of its
    typical size. ``skip`` picks the base: ``"last"``, the newest frame ``x_t`` (the model
    predicts the one-step change), or ``"linear"``, the linear extrapolation
    ``2 x_t - x_{t-1}`` (it predicts the change of the change; needs two input frames).
    Scales are single scalars and both bases commute with rotations, so a C4-equivariant
    model stays equivariant.

    ``smoke_unit`` (models that see the smoke; required by them, refused by others): the
    smoke channel is divided by it on the way in, before everything above, and the predicted
    smoke multiplied by it on the way out, so that inside, the smoke's one-step change is as
    large as the velocity's (core.train.samples.smoke_unit). The smoke is a scalar field, so a
    factor of its own keeps equivariance.
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float,
        delta_scale: float | None = None,
        skip: str = "last",
        smoke_unit: float | None = None,
    ):
        super().__init__()
        for name, value in (("scale", scale), ("delta_scale", delta_scale), ("smoke_unit", smoke_unit)):
            if value is not None and not 0 < float(value) < float("inf"):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        self.config = getattr(model, "config", None)
        check_skip(skip, getattr(self.config, "input_frames", 2))
        self.frame_layout = getattr(self.config, "frame_layout", VELOCITY)
        self.frame_channels = self.frame_layout.size
        if (smoke_unit is None) != (not self.frame_layout.has_scalars):
            need = "needs" if smoke_unit is None else "takes no"
            channels = self.frame_channels
            raise ValueError(f"smoke_unit: a model with {channels} channels per frame {need} smoke unit")
        self.model = model
        self.scale = float(scale)
        self.delta_scale = None if delta_scale is None else float(delta_scale)
        self.skip = skip
        self.smoke_unit = None if smoke_unit is None else float(smoke_unit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the next frame ``(B, C, N, N)`` in the same units as ``x``."""
        if self.smoke_unit is not None:
            x = self._smoke_times(x, 1.0 / self.smoke_unit)
        out = self.model(x / self.scale)
        if self.delta_scale is None:
            nxt = out * self.scale
        else:
            nxt = skip_base(x, self.skip, self.frame_channels) + out * self.delta_scale
        return nxt if self.smoke_unit is None else self._smoke_times(nxt, self.smoke_unit)

    def _smoke_times(self, x: torch.Tensor, factor: float) -> torch.Tensor:
        """``x`` ``(B, C*F, N, N)`` with every frame's scalar channels (the smoke) times ``factor``."""
        layout = self.frame_layout
        per_frame = torch.tensor(layout.channel_weights(factor), dtype=x.dtype, device=x.device)
        return x * per_frame.repeat(x.shape[1] // layout.size)[:, None, None]

    def regularization_loss(self) -> torch.Tensor:
        """The wrapped model's regulariser."""
        return self.model.regularization_loss()
