"""Plain-array helpers for PhiFlow's closed-box staggered velocity (layout: core/data/pressure.py).

``vx`` ``(..., N, N-1)`` and ``vy`` ``(..., N-1, N)`` hold the interior faces, rows upward; the
wall faces are zero. Works on torch tensors (and, for :func:`rotate_staggered`, numpy arrays).
"""

from __future__ import annotations

import numpy as np
import torch


def at_centers(vx: torch.Tensor, vy: torch.Tensor) -> torch.Tensor:
    """Velocity at cell centres ``(..., 2, N, N)`` (vx, vy): the mean of the two faces of each cell.

    Identical to PhiFlow's ``StaggeredGrid.at_centers()`` for a closed box (wall faces are zero).
    """
    pad_x = torch.nn.functional.pad(vx, (1, 1))
    pad_y = torch.nn.functional.pad(vy, (0, 0, 1, 1))
    cx = 0.5 * (pad_x[..., :, 1:] + pad_x[..., :, :-1])
    cy = 0.5 * (pad_y[..., 1:, :] + pad_y[..., :-1, :])
    return torch.stack([cx, cy], dim=-3)


def rotate_staggered(vx, vy, k: int):
    """Turn a staggered field by ``k`` counter-clockwise quarter turns about the box centre.

    The same physical action as :func:`core.symmetry.rotate_velocity` (grid turned with rows
    upward, vectors turned by ``(vx, vy) -> (-vy, vx)``), applied to the faces: one quarter turn
    moves y-faces onto x-faces, so ``vx' = -rot(vy)`` and ``vy' = rot(vx)``. Exact (a permutation
    with signs). Returns ``(vx', vy')`` with the input shapes; ``k`` is taken modulo 4.
    """
    for _ in range(int(k) % 4):
        vx, vy = -_rot_grid(vy), _rot_grid(vx)
    return vx, vy


def _rot_grid(a):
    """One counter-clockwise quarter turn of the last two axes, rows pointing up."""
    if isinstance(a, torch.Tensor):
        return torch.rot90(a, -1, dims=(-2, -1))
    return np.rot90(a, -1, axes=(-2, -1))
