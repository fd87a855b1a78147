"""C4 steerable kernel bases, read out of e2cnn (not derived by hand).

The group is C4 as ``e2cnn.gspaces.Rot2dOnR2(N=4)``. Three field kinds are used:
``"vector"`` (e2cnn's irrep(1), one per velocity frame: channels vx, vy),
``"vector+scalar"`` (irrep(1) then the trivial representation: one frame of a model that
sees the smoke, channels vx, vy, smoke) and ``"regular"`` (e2cnn's regular
representation, 4 channels); ``"scalar"`` (the trivial representation: a channel that does
not change when turned, e.g. Lift's non-equivariant features).
"""

from __future__ import annotations

import functools
import warnings

import torch

from core.layout import FrameLayout

with warnings.catch_warnings():
    # e2cnn 0.2.3 warns about deprecated numpy/torch idioms at import; harmless here.
    warnings.simplefilter("ignore")
    from e2cnn import gspaces
    from e2cnn import nn as enn

FIELD_KINDS = ("vector", "vector+scalar", "regular", "scalar")


@functools.cache
def c4_space() -> gspaces.GeneralOnR2:
    """Return the e2cnn gspace of planar C4 rotations (built once)."""
    return gspaces.Rot2dOnR2(N=4)


def field_type(kind: str, count: int) -> enn.FieldType:
    """Return an e2cnn FieldType of ``count`` fields of ``kind`` (one of FIELD_KINDS)."""
    space = c4_space()
    if kind == "vector+scalar":
        # One frame: its velocity, then its smoke, so the channels are vx, vy, s per frame.
        return enn.FieldType(space, [space.irrep(1), space.trivial_repr] * count)
    if kind == "vector":
        rep = space.irrep(1)
    elif kind == "regular":
        rep = space.regular_repr
    elif kind == "scalar":
        rep = space.trivial_repr
    else:
        raise ValueError(f"field kind must be one of {FIELD_KINDS}, got {kind!r}")
    return enn.FieldType(space, [rep] * count)


def field_size(kind: str) -> int:
    """Return the channel count of one field of ``kind``: 2 for vector, 3 for vector+scalar, 4 for regular."""
    return field_type(kind, 1).size


def make_r2conv(
    in_kind: str, in_fields: int, out_kind: str, out_fields: int, kernel_size: int, bias: bool
) -> enn.R2Conv:
    """Return an e2cnn R2Conv between the given fields, zero-padded so the grid size is kept."""
    return r2conv_between(field_type(in_kind, in_fields), field_type(out_kind, out_fields), kernel_size, bias)


def r2conv_between(
    in_type: enn.FieldType, out_type: enn.FieldType, kernel_size: int, bias: bool
) -> enn.R2Conv:
    """Return an e2cnn R2Conv from ``in_type`` to ``out_type`` (any FieldTypes of c4_space()),
    zero-padded so the grid size is kept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return enn.R2Conv(in_type, out_type, kernel_size, padding=kernel_size // 2, bias=bias)


@functools.cache
def _basis(in_kind: str, out_kind: str, kernel_size: int) -> torch.Tensor:
    # R2Conv initialises random weights; keep the caller's RNG untouched so a model's
    # initial weights do not depend on whether this basis was already cached.
    with torch.random.fork_rng(devices=[]):
        conv = make_r2conv(in_kind, 1, out_kind, 1, kernel_size, bias=False)
    expansion = conv.basisexpansion
    size = expansion.dimension()
    with torch.no_grad():
        # The expansion is linear in the weights: unit vectors give the basis elements.
        unit = torch.eye(size, dtype=conv.weights.dtype)
        elements = [expansion(unit[l]) for l in range(size)]
    out_size, in_size = field_size(out_kind), field_size(in_kind)
    return torch.stack(elements).reshape(size, out_size, in_size, kernel_size, kernel_size)


def steerable_basis(in_kind: str, out_kind: str, kernel_size: int) -> torch.Tensor:
    """Return e2cnn's C4 steerable kernel basis from one ``in_kind`` field to one ``out_kind`` field.

    Shape ``(L, out_size, in_size, k, k)`` (float32, CPU, a fresh copy): ``L`` basis
    kernels Phi_l, each itself C4-equivariant under e2cnn's action, in the order of
    e2cnn's own weights for a one-field-in, one-field-out R2Conv (so weights ``c``
    give e2cnn's kernel ``sum_l c_l Phi_l``).
    """
    return _basis(in_kind, out_kind, int(kernel_size)).clone()


def layer_plan(
    input_frames: int, hidden: int, layers: int, smoke: bool = False
) -> list[tuple[str, int, str, int]]:
    """Return the fields of a steerable network, one ``(in_kind, in_fields, out_kind, out_fields)`` per layer.

    Input: one vector field per frame (a vector+scalar field with ``smoke``); hidden:
    ``hidden // 4`` regular fields; output: one field of the input's kind (the next frame).
    """
    frame = FrameLayout.for_smoke(smoke).field_types
    kinds = [(frame, input_frames)] + [("regular", hidden // 4)] * (layers - 1) + [(frame, 1)]
    return [(a, n, b, m) for (a, n), (b, m) in zip(kinds[:-1], kinds[1:], strict=True)]
