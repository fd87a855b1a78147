"""The C4 rotation action on fields, and the equivariance errors built on it.

This is the project's one implementation of the action. The data equivariance
error, the models' equivariance error, the tests, the CLI and the dashboard all
call these functions, so they cannot disagree.

Layout convention (docs/DATA_FORMAT.md): a velocity field is ``v[..., c, i, j]``
with ``c = 0`` the x component and ``c = 1`` the y component, ``i`` the y index
increasing *upward* (row 0 at the bottom, as PhiFlow stores it) and ``j`` the x
index. A scalar field is ``s[..., i, j]`` with the same orientation.

The physical rotation by ``k`` quarter turns counter-clockwise moves the value at
position ``p`` to ``R p`` and turns vectors by ``R``: on the grid that is
``rot90(v, k=-k, axes=(i, j))`` (because rows point up) and on the vector
components ``(vx, vy) -> (-vy, vx)`` per quarter turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.layout import FRAME_SIZES, FrameLayout, as_layout
from core.tensors import Array, is_tensor, no_grad

if TYPE_CHECKING:
    import torch

#: The non-identity elements of C4, as numbers of counter-clockwise quarter turns.
GROUP_ELEMENTS: tuple[int, ...] = (1, 2, 3)


def _rot90_grid(field: Array, k: int) -> Array:
    """Turn the last two (i, j) axes by k counter-clockwise quarter turns, rows up."""
    if is_tensor(field):
        return field.rot90(-k, dims=(-2, -1))
    return np.rot90(field, -k, axes=(-2, -1))


def rotate_scalar(field: Array, k: int) -> Array:
    """Rotate a scalar field ``[..., N, N]`` by ``k * 90`` degrees counter-clockwise.

    Returns an array (or tensor) of the same shape and type. Any number of leading
    batch axes is allowed; ``k`` may be any integer (taken modulo 4).
    """
    _check_square(field, "scalar field")
    return _rot90_grid(field, int(k) % 4)


def rotate_velocity(field: Array, k: int) -> Array:
    """Rotate a velocity field ``[..., 2, N, N]`` by ``k * 90`` degrees counter-clockwise.

    The grid is turned and each vector ``(vx, vy)`` is turned with it. Returns the
    same shape and type; any leading batch axes are allowed; ``k`` is taken modulo 4.
    """
    _check_square(field, "velocity field")
    if field.shape[-3] != 2:
        raise ValueError(f"velocity field needs 2 components on axis -3, got shape {tuple(field.shape)}")
    k = int(k) % 4
    out = _rot90_grid(field, k)
    vx, vy = out[..., 0, :, :], out[..., 1, :, :]
    if k == 0:
        comps = (vx, vy)
    elif k == 1:
        comps = (-vy, vx)
    elif k == 2:
        comps = (-vx, -vy)
    else:
        comps = (vy, -vx)
    if is_tensor(out):
        import torch

        return torch.stack(comps, dim=-3)
    return np.stack(comps, axis=-3)


def rotate_frame(field: Array, k: int, layout: FrameLayout | None = None) -> Array:
    """Rotate one model frame ``[..., C, N, N]`` by ``k * 90`` degrees counter-clockwise.

    ``layout`` (core.layout; by default the one with C channels: ``(vx, vy)`` or
    ``(vx, vy, s)``) says which channels form a vector field, turned by
    :func:`rotate_velocity`, and which are scalars, turned by :func:`rotate_scalar`.
    Returns the same shape and type.
    """
    channels = field.shape[-3] if field.ndim >= 3 else None
    if layout is None and channels not in FRAME_SIZES:
        raise ValueError(
            f"a frame has 2 (vx, vy) or 3 (vx, vy, smoke) channels on axis -3, got shape {tuple(field.shape)}"
        )
    layout = layout or FrameLayout.of_size(channels)
    if channels != layout.size:
        shape = tuple(field.shape)
        raise ValueError(f"a frame of {layout.channels} has {layout.size} channels on axis -3, got {shape}")
    parts, at = [], 0
    for part in layout.fields:
        block = field[..., at : at + len(part.channels), :, :]
        parts.append(rotate_velocity(block, k) if part.kind == "vector" else rotate_scalar(block, k))
        at += len(part.channels)
    if len(parts) == 1:
        return parts[0]
    if is_tensor(field):
        import torch

        return torch.cat(parts, dim=-3)
    return np.concatenate(parts, axis=-3)


def rotate_stacked_frames(x: Array, k: int, layout: FrameLayout | int = 2) -> Array:
    """Rotate model inputs or outputs ``[B, C*F, N, N]``: F frames of ``layout`` (core.layout; a
    channel count names the layout used today with it: 2 vx, vy; 3 vx, vy, smoke), stacked
    oldest first. Returns the same shape.
    """
    layout = as_layout(layout)
    c = layout.size
    if x.shape[-3] % c:
        raise ValueError(
            f"stacked frames of {c} channels need a multiple of {c} channels, got shape {tuple(x.shape)}"
        )
    lead, (total, n, m) = tuple(x.shape[:-3]), tuple(x.shape[-3:])
    frames = x.reshape(*lead, total // c, c, n, m)
    return rotate_frame(frames, k, layout).reshape(*lead, total, n, m)


def rotate_stacked_velocity(x: Array, k: int) -> Array:
    """Rotate stacked velocity frames ``[B, 2*F, N, N]`` (channel ``2f`` is vx and ``2f + 1``
    vy of frame ``f``): :func:`rotate_stacked_frames` with two channels per frame."""
    if x.shape[-3] % 2:
        raise ValueError(f"stacked velocity needs an even channel count, got shape {tuple(x.shape)}")
    return rotate_stacked_frames(x, k, 2)


def _check_square(field, what: str) -> None:
    if field.ndim < 2 or field.shape[-1] != field.shape[-2]:
        raise ValueError(f"{what} must end in two equal grid axes, got shape {tuple(field.shape)}")


# --------------------------------------------------------------------------- data


def _check_orientations(velocity: np.ndarray) -> None:
    if velocity.ndim < 4 or velocity.shape[0] != 4:
        raise ValueError(
            "expected velocity with the 4 orientations on axis 0, shape (4, ..., 2, N, N); "
            f"got {tuple(velocity.shape)}"
        )


def data_equivariance_map(velocity: np.ndarray) -> np.ndarray:
    """Where the dataset breaks C4 symmetry.

    ``velocity`` has shape ``(4, S, T, 2, N, N)`` (orientation k on axis 0; any
    axes between orientation and components are averaged). Orientation k is
    rotated back by ``-k * 90`` degrees and compared with orientation 0.

    Returns a float64 array ``(T, N, N)`` (or ``(N, N)`` for input ``(4, 2, N, N)``):
    the absolute difference averaged over k = 1, 2, 3, the simulations and the two
    components, in the velocity's units. Rows point up, as in the data.
    """
    velocity = np.asarray(velocity)
    _check_orientations(velocity)
    reference = velocity[0].astype(np.float64)
    diffs = [np.abs(rotate_velocity(velocity[k].astype(np.float64), -k) - reference) for k in GROUP_ELEMENTS]
    per_pixel = np.mean(diffs, axis=0).mean(axis=-3)  # over k, then components
    if per_pixel.ndim == 4:  # (S, T, N, N): average the simulations
        per_pixel = per_pixel.mean(axis=0)
    return per_pixel


#: The disagreement maps' colour scale ends at this share of the slowest plume's top speed.
DISAGREEMENT_SHARE = 0.5


def disagreement_scale(velocity: np.ndarray) -> float:
    """The top of a fixed colour scale for :func:`data_equivariance_map`: half the top speed of
    the slowest orientation (the plume at the base buoyancy in every breaking pattern, so its
    speed does not grow with the buoyancy difference). Datasets of one grid and length then share
    one scale, and a larger Δb shows as more colour, not as other colour-bar numbers.

    ``velocity``: ``(4, ..., 2, N, N)``. Returns a positive float in the velocity's units.
    """
    velocity = np.asarray(velocity, dtype=np.float64)
    _check_orientations(velocity)
    speed = np.sqrt(velocity[..., 0, :, :] ** 2 + velocity[..., 1, :, :] ** 2)
    slowest = float(speed.reshape(speed.shape[0], -1).max(axis=1).min())
    return DISAGREEMENT_SHARE * slowest if slowest > 0 else 1e-9


def data_equivariance_error(velocity: np.ndarray) -> float:
    """Data equivariance error of a dataset (paper, Section 5.2).

    ``velocity``: ``(4, S, T, 2, N, N)``. Returns the mean absolute difference
    between orientation 0 and each orientation k rotated back by ``-k * 90``
    degrees, averaged over k = 1, 2, 3, simulations, frames, components and
    pixels, in the velocity's units.
    """
    return float(np.mean(data_equivariance_map(velocity)))


def data_equivariance_by_element(velocity: np.ndarray) -> dict[int, float]:
    """The trajectory data EE of :func:`data_equivariance_error` per group element.

    Returns ``{k: e_k}`` for k = 1, 2, 3 quarter turns: the mean absolute difference between
    orientation 0 and orientation k turned back by ``-k * 90`` degrees (velocity units);
    their mean is :func:`data_equivariance_error`.
    """
    velocity = np.asarray(velocity)
    _check_orientations(velocity)
    reference = velocity[0].astype(np.float64)
    return {
        k: float(np.mean(np.abs(rotate_velocity(velocity[k].astype(np.float64), -k) - reference)))
        for k in GROUP_ELEMENTS
    }


# -------------------------------------------------------------------------- models


@dataclass(frozen=True)
class EquivarianceError:
    """A model's C4 equivariance error on a batch.

    ``per_element[k]`` is mean |f(g_k x) - g_k f(x)| for k quarter turns
    (k = 1, 2, 3, i.e. 90, 180, 270 degrees); ``mean`` averages them.
    ``relative_*`` divide by mean |f(x)|. Units: those of the model's output.
    """

    per_element: dict[int, float]
    mean: float
    relative_per_element: dict[int, float]
    relative_mean: float
    output_scale: float

    def residual_symmetry(self) -> ResidualSymmetry:
        """Which rotations the model keeps on this batch (:func:`residual_symmetry`)."""
        return residual_symmetry(self.per_element, self.output_scale)

    @classmethod
    def from_dict(cls, d: dict) -> EquivarianceError:
        """Rebuild from :meth:`to_dict` output (a run's metrics.json ``equivariance_error``)."""
        return cls(
            per_element={int(k) // 90: float(v) for k, v in d["per_element"].items()},
            mean=float(d["mean"]),
            relative_per_element={int(k) // 90: float(v) for k, v in d["relative_per_element"].items()},
            relative_mean=float(d["relative_mean"]),
            output_scale=float(d["output_scale"]),
        )

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (group element keys become degree strings)."""
        d = asdict(self)
        d["per_element"] = {f"{90 * k}": v for k, v in self.per_element.items()}
        d["relative_per_element"] = {f"{90 * k}": v for k, v in self.relative_per_element.items()}
        return d


def _velocity_part(y: torch.Tensor, layout: FrameLayout | int) -> torch.Tensor:
    """The velocity channels of stacked frames ``y`` ``(B, C*F, N, N)``: ``(B, 2*F, N, N)``."""
    layout = as_layout(layout)
    if layout.channels == ("vx", "vy"):
        return y
    b, c, n, m = y.shape
    return y.reshape(b, c // layout.size, layout.size, n, m)[:, :, layout.velocity].reshape(b, -1, n, m)


@no_grad
def model_equivariance_error(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, layout: FrameLayout | int = 2
) -> EquivarianceError:
    """Measure how far ``f`` is from C4-equivariant on the batch ``x``.

    ``f`` maps stacked frames ``(B, C*F, N, N)`` to ``(B, C*F', N, N)`` (a model's
    ``forward``; frames of ``layout``, core.layout, or its channel count); ``x`` is
    such a batch. Uses the same physical action as :func:`data_equivariance_error`, and
    measures the output's velocity (a smoke model's smoke channels left out, as in every
    equivariance error of the project). Returns an :class:`EquivarianceError`, velocity units.
    """
    y = _velocity_part(f(x), layout)
    scale = float(y.abs().mean())
    per = {}
    for k in GROUP_ELEMENTS:
        turned = _velocity_part(f(rotate_stacked_frames(x, k, layout)), layout)
        per[k] = float((turned - rotate_stacked_velocity(y, k)).abs().mean())
    mean = float(np.mean(list(per.values())))
    denom = scale if scale > 0 else float("nan")
    return EquivarianceError(
        per_element=per,
        mean=mean,
        relative_per_element={k: v / denom for k, v in per.items()},
        relative_mean=mean / denom,
        output_scale=scale,
    )


# ------------------------------------------------------- matched states (Figure 4)

#: Simulations per orientation whose states are used for the matched equivariance errors.
EE_SIMULATIONS = 2


def equivariance_states(n_sims: int, n_frames: int, input_frames: int = 1) -> list[tuple[int, int, int]]:
    """The fixed set of states on which model and data one-step equivariance errors are compared.

    Every orientation k, every frame t that has both ``input_frames`` frames of history
    and a stored successor (``input_frames - 1 <= t <= n_frames - 2``), and the first
    ``min(n_sims, EE_SIMULATIONS)`` simulations. Returns ``(k, s, t)`` triples, t being the
    newest input frame; the same set indexes the dataset's ``data_ee_one_step[k, s, t]``.
    """
    sims = range(min(n_sims, EE_SIMULATIONS))
    times = range(input_frames - 1, n_frames - 1)
    return [(k, s, t) for k in range(4) for s in sims for t in times]


def matched_data_equivariance_error(one_step: np.ndarray, input_frames: int = 1) -> float:
    """Mean of a dataset's matched one-step data EE ``(4, S, T-1)`` over :func:`equivariance_states`.

    Velocity units; this is Figure 4's x axis for a model with ``input_frames`` inputs.
    """
    one_step = np.asarray(one_step, dtype=np.float64)
    states = equivariance_states(one_step.shape[1], one_step.shape[2] + 1, input_frames)
    return float(np.mean([one_step[k, s, t] for k, s, t in states]))


def matched_data_equivariance_by_element(by_element: np.ndarray, input_frames: int = 1) -> dict[int, float]:
    """:func:`matched_data_equivariance_error` per group element.

    ``by_element`` ``(4, S, 3, T-1)``: a dataset's matched one-step data EE per rotation
    (core.data.store.Dataset.data_ee_one_step_by_element). Returns ``{k: e_k}`` for k = 1, 2, 3
    quarter turns over :func:`equivariance_states`, velocity units.
    """
    by_element = np.asarray(by_element, dtype=np.float64)
    return {
        k: matched_data_equivariance_error(by_element[:, :, i], input_frames)
        for i, k in enumerate(GROUP_ELEMENTS)
    }


# ------------------------------------------------------------ residual symmetry

#: Every element's EE at most this share of the field's size: the C4 symmetry is kept exactly.
EXACT_SYMMETRY_RELATIVE = 1e-5
#: An element whose EE is at most this share of the largest element's counts as kept.
KEPT_ELEMENT_FRACTION = 0.05


@dataclass(frozen=True)
class ResidualSymmetry:
    """Which rotations a dataset or a model keeps, from its EE per group element.

    ``group``: ``"C4"`` (all rotations kept), ``"C2"`` (half-turns kept, quarter-turns broken)
    or ``"C1"`` (no rotation kept); ``kept`` / ``broken``: the rotations in degrees;
    ``phrase``: the same in words ("keeps all rotations", "keeps half-turns", "keeps no
    rotation").
    """

    group: str
    kept: tuple[int, ...]
    broken: tuple[int, ...]
    phrase: str

    def sentence(self, subject: str, per_element: dict[int, float] | None = None) -> str:
        """One sentence for a page, e.g. "This data keeps half-turns; quarter-turns (90°, 270°)
        are broken (EE 0.012, 0.011)." or "... keeps no rotation; every rotation is broken (EE
        ...)."; ``per_element`` adds the broken elements' EE (90°, 180°, 270° in that order)."""
        text = f"{subject} {self.phrase}"
        if self.broken:
            turns = ", ".join(f"{d}°" for d in self.broken)
            what = "quarter-turns (" + turns + ") are" if self.group == "C2" else "every rotation is"
            text += f"; {what} broken"
            if per_element:
                text += " (EE " + ", ".join(f"{per_element[d // 90]:.3g}" for d in self.broken) + ")"
        return text + "."


def residual_symmetry(per_element: dict[int, float], scale: float) -> ResidualSymmetry:
    """Name the symmetry left in an EE per group element ``{k: e_k}`` (k = 1, 2, 3 quarter turns).

    ``scale``: the size of the field the errors are of (a model's mean |output|, or the data's
    mean |velocity change| per step), same units. The rule (docs/ARCHITECTURE.md): every e_k at
    most :data:`EXACT_SYMMETRY_RELATIVE` x ``scale`` keeps C4; otherwise an element with
    e_k <= :data:`KEPT_ELEMENT_FRACTION` x max e keeps that rotation, and the symmetry left is the
    group those rotations close to: the half-turn kept gives C2, anything else C1 (quarter turns
    alone cannot be kept without the half-turn they compose to).
    """
    errors = {k: float(per_element[k]) for k in GROUP_ELEMENTS}
    if any(not np.isfinite(v) or v < 0 for v in errors.values()) or not scale > 0:
        raise ValueError(f"residual_symmetry needs finite errors >= 0 and a scale > 0, got {errors}, {scale}")
    largest = max(errors.values())
    if largest <= EXACT_SYMMETRY_RELATIVE * scale:
        return ResidualSymmetry("C4", (90, 180, 270), (), "keeps all rotations")
    if errors[2] <= KEPT_ELEMENT_FRACTION * largest:
        return ResidualSymmetry("C2", (180,), (90, 270), "keeps half-turns")
    return ResidualSymmetry("C1", (), (90, 180, 270), "keeps no rotation")


@no_grad
def _state_errors(f, frames: np.ndarray, states, input_frames: int, device, batch_size: int):
    """Per-state one-step EE ``(n_states, 3)`` (one column per group element, velocity units)
    and per-state output size ``(n_states,)`` (mean |f(x)|) of ``f`` on ``states``, both of the
    predicted velocity (a smoke model's smoke channel left out, as in the data EE)."""
    import torch

    channels = frames.shape[3]
    errors, scales = [], []
    for i in range(0, len(states), batch_size):
        chunk = states[i : i + batch_size]
        window = np.stack([frames[k, s, t - input_frames + 1 : t + 1] for k, s, t in chunk])
        x = torch.as_tensor(window.reshape(len(chunk), -1, *window.shape[-2:]), dtype=torch.float32)
        x = x.to(device)
        y = _velocity_part(f(x), channels)
        scales.append(y.abs().mean(dim=(1, 2, 3)).double().cpu())
        per = [
            (
                _velocity_part(f(rotate_stacked_frames(x, k, channels)), channels)
                - rotate_stacked_velocity(y, k)
            )
            .abs()
            .mean(dim=(1, 2, 3))
            for k in GROUP_ELEMENTS
        ]
        errors.append(torch.stack(per, dim=1).double().cpu())
    return torch.cat(errors).numpy(), torch.cat(scales).numpy()


def model_equivariance_on_states(
    f: Callable[[torch.Tensor], torch.Tensor],
    frames: np.ndarray,
    input_frames: int = 1,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
) -> EquivarianceError:
    """A model's one-step equivariance error averaged over :func:`equivariance_states`.

    ``frames`` ``(4, S, T, C, N, N)``: the velocity (C = 2), or velocity and smoke (C = 3,
    core.train.samples.model_frames) for a model that sees the smoke; physical units, like
    ``f``. The input of state ``(k, s, t)`` is frames ``t - input_frames + 1 .. t`` stacked.
    Returns an EquivarianceError of the predicted velocity whose means weight every state
    equally, in velocity units.
    """
    return equivariance_by_frame(f, frames, None, input_frames, device, batch_size).overall


@dataclass(frozen=True)
class EquivarianceByFrame:
    """Model and matched data one-step EE per frame, over :func:`equivariance_states`.

    ``frames`` ``(T',)``: the newest input frame t of each state; ``model[i]``: mean over
    orientations, simulations and the three turns of the model's EE at ``frames[i]``;
    ``data[i]``: the dataset's matched one-step data EE on the same states (None without
    one). Velocity units. Their means over frames equal Figure 4's y and x; ``overall``
    is the model's EquivarianceError over all the states (Figure 4's y, per group element).
    """

    frames: np.ndarray
    model: np.ndarray
    data: np.ndarray | None
    overall: EquivarianceError

    def to_dict(self) -> dict:
        """JSON-ready ``{"frames", "model", "data"}`` lists (6 significant digits)."""

        def rounded(a):
            return None if a is None else [float(f"{v:.6g}") for v in np.asarray(a, dtype=float)]

        return {
            "frames": [int(t) for t in self.frames],
            "model": rounded(self.model),
            "data": rounded(self.data),
        }


def equivariance_by_frame(
    f: Callable[[torch.Tensor], torch.Tensor],
    frames: np.ndarray,
    one_step: np.ndarray | None = None,
    input_frames: int = 1,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
) -> EquivarianceByFrame:
    """Where along the simulation a model breaks symmetry: its one-step EE frame by frame,
    beside the data's (``one_step`` ``(4, S, T-1)``, the dataset's matched one-step EE).
    ``frames`` as in :func:`model_equivariance_on_states`. Returns an :class:`EquivarianceByFrame`."""
    states = equivariance_states(frames.shape[1], frames.shape[2], input_frames)
    errors, scales = _state_errors(f, frames, states, input_frames, device, batch_size)
    per = {k: float(errors[:, i].mean()) for i, k in enumerate(GROUP_ELEMENTS)}
    mean, scale = float(np.mean(list(per.values()))), float(scales.mean())
    denom = scale if scale > 0 else float("nan")
    overall = EquivarianceError(per, mean, {k: v / denom for k, v in per.items()}, mean / denom, scale)
    times = np.array([t for _, _, t in states])
    frames = np.unique(times)
    model = np.array([errors[times == t].mean() for t in frames])
    data = None
    if one_step is not None:
        one_step = np.asarray(one_step, dtype=np.float64)
        per_state = np.array([one_step[k, s, t] for k, s, t in states])
        data = np.array([per_state[times == t].mean() for t in frames])
    return EquivarianceByFrame(frames, model, data, overall)
