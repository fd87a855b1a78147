"""Exact, batched pressure projection of a closed-box MAC grid (torch, float64, CPU or CUDA).

PhiFlow 3.4 stores a ``StaggeredGrid`` with ``extrapolation.ZERO`` in a ``Box(x=N, y=N)`` of
N x N unit cells as its *interior* faces only (the wall faces are zero and not stored):

- ``vx`` has shape ``(..., N, N - 1)`` (y rows upward, x): ``vx[i, j]`` sits on the face between
  cells ``(i, j)`` and ``(i, j + 1)``;
- ``vy`` has shape ``(..., N - 1, N)``: ``vy[i, j]`` sits between cells ``(i, j)`` and ``(i + 1, j)``.

``fluid.make_incompressible`` solves ``laplace(p) = div(v)`` with the cell-centred 5-point
Laplacian (zero-gradient pressure at the walls, because the wall faces carry no flux) and
subtracts ``grad(p)`` on the interior faces. That Laplacian is ``-(A (x) I + I (x) A)`` with ``A``
the 1-D Neumann matrix ``D^T D`` (``D`` the (N-1) x N difference), which the orthonormal type-II
DCT diagonalises with eigenvalues ``2 - 2 cos(pi k / N)``. It is singular only in the constant
mode; the divergence of a closed-box field has zero mean, so that mode is set to 0 (the pressure
is defined up to a constant, which its gradient does not see). The result is the exact
projection, where an iterative solver stops at its tolerance.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch


@lru_cache(maxsize=32)
def dct_matrix(n: int, device: str = "cpu") -> torch.Tensor:
    """Return the orthonormal DCT-II matrix ``Q`` ``(n, n)`` float64 on ``device``.

    ``Q[k, i] = c_k cos(pi k (i + 1/2) / n)`` with ``c_0 = sqrt(1/n)``, ``c_k = sqrt(2/n)``;
    ``Q @ Q.T`` is the identity. Built once per ``(n, device)`` and cached.
    """
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    q = torch.cos(math.pi * k * (i + 0.5) / n) * math.sqrt(2.0 / n)
    q[0] = math.sqrt(1.0 / n)
    return q.to(device)


@lru_cache(maxsize=32)
def _inverse_eigenvalues(n: int, device: str = "cpu") -> torch.Tensor:
    """``-1 / (lam_a + lam_b)`` ``(n, n)`` float64, with 0 for the constant mode."""
    lam = 2.0 - 2.0 * torch.cos(math.pi * torch.arange(n, dtype=torch.float64) / n)
    total = lam.unsqueeze(1) + lam.unsqueeze(0)
    total[0, 0] = 1.0  # placeholder, zeroed below: the constant mode has no solution
    inverse = -1.0 / total
    inverse[0, 0] = 0.0
    return inverse.to(device)


def divergence(vx: torch.Tensor, vy: torch.Tensor) -> torch.Tensor:
    """Cell-centred divergence ``(..., N, N)`` of interior faces ``vx`` ``(..., N, N-1)``, ``vy``.

    Wall faces count as zero (closed box). Units: velocity per cell.
    """
    pad_x = torch.nn.functional.pad(vx, (1, 1))  # (..., N, N+1) with the zero walls
    pad_y = torch.nn.functional.pad(vy, (0, 0, 1, 1))  # (..., N+1, N)
    return (pad_x[..., :, 1:] - pad_x[..., :, :-1]) + (pad_y[..., 1:, :] - pad_y[..., :-1, :])


def solve_pressure(div: torch.Tensor) -> torch.Tensor:
    """Solve ``laplace(p) = div`` (Neumann walls) for a batch ``div`` ``(..., N, N)``.

    Returns ``p`` ``(..., N, N)`` with zero mean, same dtype and device as ``div``.
    """
    n = div.shape[-1]
    device = str(div.device)
    q = dct_matrix(n, device).to(div.dtype)
    spectrum = q @ div @ q.T  # DCT-II along y (rows) and x (columns)
    spectrum = spectrum * _inverse_eigenvalues(n, device).to(div.dtype)
    return q.T @ spectrum @ q


def project(vx: torch.Tensor, vy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Make the staggered field ``(vx, vy)`` divergence-free in the closed box.

    ``vx`` ``(..., N, N-1)`` and ``vy`` ``(..., N-1, N)`` are the interior faces (layout in the
    module docstring); the wall faces stay zero. Returns ``(vx, vy, p)``: the projected faces
    (same shapes, velocity units) and the pressure ``(..., N, N)`` (velocity x cells, zero mean),
    exactly what ``fluid.make_incompressible`` computes up to its solver tolerance.
    """
    p = solve_pressure(divergence(vx, vy))
    vx = vx - (p[..., :, 1:] - p[..., :, :-1])
    vy = vy - (p[..., 1:, :] - p[..., :-1, :])
    return vx, vy, p
