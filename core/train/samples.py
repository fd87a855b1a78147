"""Sliding windows of a smoke dataset, and the train / validation / test splits.

How the splits are chosen (recorded in every run.json through ``Splits.to_dict``):

- Simulations: with S >= 2 simulations per orientation, ``round(S * domain_fraction)``
  of them (at least 1, at most S - 1) are held out for *test-domain*; which ones is a
  seeded permutation of ``range(S)``. With S = 1 there is no test-domain split. A dataset
  whose design names its held-out simulations (core.data.config.held_out_sims: the
  ``paper`` design holds out unseen buoyancy strengths) passes them as ``held_out``.
- Time, in the remaining (training) simulations: the last ``future_fraction`` of the
  frames (at least ``input_frames + 1``) are *test-future*. The early part is cut in
  two: *train* windows come from its first frames, *validation* windows from its last
  ``val_fraction`` (at least ``input_frames + K`` frames). No frame is shared between
  train, validation and test-future.
- Every split holds all four orientations of each (simulation, start time) it uses:
  the symmetry question is about them.
- ``max_train_windows`` keeps a seeded random subset of train start points (with all
  four orientations each), to keep CPU runs small.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.configs import ConfigMixin
from core.layout import VELOCITY_SMOKE, FrameLayout


def check_max_train_windows(value: Any) -> None:
    """Raise ValueError unless ``value`` is None (every window) or an integer >= 4 (one C4 orbit
    batch needs at least one window; the message says so in a page or CLI user's words)."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 4):
        raise ValueError(f"max_train_windows must be an integer >= 4 (or left out: all), got {value!r}")


@dataclass(frozen=True)
class SplitSpec(ConfigMixin):
    """How to cut a dataset into windows and splits (see the module docstring).

    ``input_frames``: frames per model input; ``steps``: K future targets per
    training window; fractions are of frames (time) or simulations (domain).
    """

    input_frames: int = 1
    steps: int = 3
    seed: int = 0
    future_fraction: float = 0.25
    val_fraction: float = 0.2
    domain_fraction: float = 0.25
    max_train_windows: int | None = None
    held_out: tuple[int, ...] | None = None

    def __post_init__(self):
        for name in ("input_frames", "steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        for name in ("future_fraction", "val_fraction", "domain_fraction"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0 < v < 1:
                raise ValueError(f"{name} must be a number in (0, 1), got {v!r}")
        check_max_train_windows(self.max_train_windows)
        if self.held_out is not None:
            held = self.held_out
            if not isinstance(held, list | tuple) or not all(
                isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in held
            ):
                raise ValueError(f"held_out must be simulation indices (integers >= 0), got {held!r}")
            if len(set(held)) != len(held) or not held:
                raise ValueError(f"held_out must name distinct simulations, at least one, got {held!r}")
            object.__setattr__(self, "held_out", tuple(sorted(held)))  # JSON gives a list


@dataclass(frozen=True)
class Splits:
    """The chosen splits of one dataset.

    Windows are ``(simulation, start)`` pairs; each is used with all 4 orientations.
    ``train`` / ``val`` windows have ``input_frames + K`` frames from ``start``.
    Test rollouts start at ``future_start`` (training simulations) and at frame 0
    (``domain_sims``), and run ``future_steps`` / ``domain_steps`` frames.
    """

    spec: SplitSpec
    n_sims: int
    n_frames: int
    train_sims: tuple[int, ...]
    domain_sims: tuple[int, ...]
    val_start: int
    future_start: int
    train: tuple[tuple[int, int], ...]
    val: tuple[tuple[int, int], ...]

    @property
    def future_steps(self) -> int:
        """Most rollout steps available on test-future (frames after the inputs)."""
        return self.n_frames - self.future_start - self.spec.input_frames

    @property
    def domain_steps(self) -> int:
        """Most rollout steps available on test-domain (0 when there is no such split)."""
        return self.n_frames - self.spec.input_frames if self.domain_sims else 0

    def start_of(self, split: str) -> int:
        """Frame at which display/evaluation rollouts of ``split`` start."""
        starts = {"train": 0, "val": self.val_start, "test_future": self.future_start, "test_domain": 0}
        if split not in starts:
            raise ValueError(f"split must be one of {sorted(starts)}, got {split!r}")
        return starts[split]

    def sims_of(self, split: str) -> tuple[int, ...]:
        """Simulation indices belonging to ``split``."""
        if split == "test_domain":
            return self.domain_sims
        self.start_of(split)
        return self.train_sims

    def frame_regions(self) -> list[tuple[str, int, int]]:
        """``[(name, first t, last t)]``: which block the one-step target ``t + 1`` of a state
        whose newest input frame is ``t`` falls in (training, validation, test-future), for
        ``t`` from ``input_frames - 1`` to ``n_frames - 2``, in the training simulations."""
        first, last = self.spec.input_frames - 1, self.n_frames - 2
        return [
            ("training", first, self.val_start - 2),
            ("validation", self.val_start - 1, self.future_start - 2),
            ("test-future", self.future_start - 1, last),
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the split (spec, simulations, boundaries, window counts)."""
        return {
            "spec": self.spec.to_dict(),
            "n_sims": self.n_sims,
            "n_frames": self.n_frames,
            "train_sims": list(self.train_sims),
            "domain_sims": list(self.domain_sims),
            "val_start": self.val_start,
            "future_start": self.future_start,
            "train_windows": [list(w) for w in self.train],
            "val_windows": [list(w) for w in self.val],
            "orientations": [0, 1, 2, 3],
        }


def _block_starts(n_frames: int, spec: SplitSpec) -> tuple[int, int] | None:
    """``(val_start, future_start)`` of a simulation of ``n_frames`` frames, or None if its
    training block would hold no window."""
    f, k = spec.input_frames, spec.steps
    future_start = n_frames - max(f + 1, round(n_frames * spec.future_fraction))
    val_start = future_start - max(f + k, round(future_start * spec.val_fraction))
    return (val_start, future_start) if val_start >= f + k else None


def min_frames(spec: SplitSpec) -> int:
    """Return the fewest frames per simulation that :func:`make_splits` accepts for ``spec``."""
    n = spec.input_frames + 1
    while _block_starts(n, spec) is None:
        n += 1
    return n


def make_splits(n_sims: int, n_frames: int, spec: SplitSpec) -> Splits:
    """Choose the splits for a dataset of ``n_sims`` simulations of ``n_frames`` frames.

    Deterministic for a given spec (seed included). Raises ValueError, naming what
    is short, if the dataset has too few frames for the requested windows.
    """
    f, k = spec.input_frames, spec.steps
    rng = np.random.default_rng(spec.seed)
    if spec.held_out is not None:
        if max(spec.held_out) >= n_sims or len(spec.held_out) >= n_sims:
            raise ValueError(
                f"held_out {list(spec.held_out)} does not fit a dataset of {n_sims} simulations per "
                "orientation (every index below it, at least one simulation left to train on)"
            )
        domain = spec.held_out
    elif n_sims >= 2:
        n_dom = min(max(1, round(n_sims * spec.domain_fraction)), n_sims - 1)
        domain = tuple(sorted(int(i) for i in rng.permutation(n_sims)[:n_dom]))
    else:
        domain = ()
    train_sims = tuple(i for i in range(n_sims) if i not in domain)

    blocks = _block_starts(n_frames, spec)
    if blocks is None:
        raise ValueError(
            f"dataset has {n_frames} frames per simulation; input_frames {f} with rollout_steps (K) {k} "
            f"need at least {min_frames(spec)} (training, validation and test-future blocks): use a "
            "dataset with more frames, or lower input_frames or rollout_steps"
        )
    val_start, future_start = blocks
    train = [(s, t) for s in train_sims for t in range(0, val_start - f - k + 1)]
    val = [(s, t) for s in train_sims for t in range(val_start, future_start - f - k + 1)]
    if spec.max_train_windows is not None:
        keep = max(1, spec.max_train_windows // 4)
        if keep < len(train):
            chosen = sorted(rng.choice(len(train), size=keep, replace=False).tolist())
            train = [train[i] for i in chosen]
    return Splits(
        spec=spec,
        n_sims=n_sims,
        n_frames=n_frames,
        train_sims=train_sims,
        domain_sims=domain,
        val_start=val_start,
        future_start=future_start,
        train=tuple(train),
        val=tuple(val),
    )


def velocity_scale(velocity: np.ndarray, splits: Splits) -> float:
    """One scalar scale: the RMS velocity of the training block (all orientations).

    A single scalar (not one per component) keeps rotation equivariance intact.
    Returns 1.0 for an all-zero block.
    """
    block = velocity[:, list(splits.train_sims), : splits.val_start].astype(np.float64)
    rms = float(np.sqrt(np.mean(block**2))) if block.size else 0.0
    return rms if np.isfinite(rms) and rms > 0 else 1.0


def delta_scale(velocity: np.ndarray, splits: Splits, order: int = 1) -> float:
    """One scalar: the RMS over the training block of the one-step change ``v[t+1] - v[t]``
    (``order`` 1) or of the change of the change ``v[t+1] - 2 v[t] + v[t-1]`` (``order`` 2).

    The typical size of what a residual model predicts (velocity units; order 2 for the
    ``"linear"`` skip of core.train.rollout.Scaled); 1.0 if it is zero.
    """
    block = velocity[:, list(splits.train_sims), : splits.val_start].astype(np.float64)
    diff = np.diff(block, n=order, axis=2)
    rms = float(np.sqrt(np.mean(diff**2))) if diff.size else 0.0
    return rms if np.isfinite(rms) and rms > 0 else 1.0


def model_frames(velocity: np.ndarray, smoke: np.ndarray | None = None) -> np.ndarray:
    """The frames a model reads and predicts, float32 ``(4, S, T, C, N, N)`` in physical units.

    ``velocity`` ``(4, S, T, 2, N, N)``; ``smoke`` ``(4, S, T, N, N)`` for a model that sees
    the smoke (``ModelConfig.smoke``): frames of core.layout.VELOCITY_SMOKE (C = 3), or None
    (C = 2: the velocity alone).
    """
    velocity = np.asarray(velocity, dtype=np.float32)
    if smoke is None:
        return velocity
    smoke = np.asarray(smoke, dtype=np.float32)
    if smoke.shape != velocity.shape[:3] + velocity.shape[4:]:
        raise ValueError(f"smoke {smoke.shape} does not match velocity {velocity.shape}")
    return _stack_fields(VELOCITY_SMOKE, [velocity, smoke])


def frames_for(model_config, dataset) -> np.ndarray:
    """The frames a model with ``model_config`` (a ModelConfig) reads, from ``dataset``: a core.data
    Dataset, or an array ``(4, S, T, C, N, N)`` already in the model's layout (ValueError if its
    C is not the model's). Returns :func:`model_frames`' array."""
    layout = model_config.frame_layout
    if hasattr(dataset, "velocity"):
        # Each field of the layout is the dataset's array of that name (velocity, smoke).
        held = getattr(dataset, "frame_layout", None)
        missing = [f.name for f in layout.fields if held is not None and f not in held.fields]
        if missing:
            raise ValueError(f"the model reads {', '.join(missing)}, which the dataset's frames do not hold")
        parts = [np.asarray(getattr(dataset, f.name), dtype=np.float32) for f in layout.fields]
        return _stack_fields(layout, parts)
    frames = np.asarray(dataset, dtype=np.float32)
    want = layout.size
    if frames.ndim != 6 or frames.shape[3] != want:
        what = ", ".join(layout.channels)
        raise ValueError(f"the model reads frames of {want} channels ({what}), got shape {frames.shape}")
    return frames


def _stack_fields(layout: FrameLayout, parts: list[np.ndarray]) -> np.ndarray:
    """The fields' arrays (a vector ``(4, S, T, 2, N, N)``, a scalar ``(4, S, T, N, N)``) as frames
    ``(4, S, T, C, N, N)`` in ``layout``'s channel order."""
    pairs = zip(layout.fields, parts, strict=True)
    blocks = [p if f.kind == "vector" else p[:, :, :, None] for f, p in pairs]
    return np.concatenate(blocks, axis=3)


def smoke_unit(frames: np.ndarray, splits: Splits, layout: FrameLayout = VELOCITY_SMOKE) -> float:
    """The smoke's unit inside a model that sees it: :func:`delta_scale` of the scalar channels
    (the smoke) of ``layout`` over that of its velocity, so that in those units both change by
    about as much per step. ``frames`` ``(4, S, T, C, N, N)`` of ``layout`` (core.layout).
    """
    scalars = list(layout.scalar_indices)
    velocity = frames[:, :, :, layout.velocity]
    return delta_scale(frames[:, :, :, scalars], splits) / delta_scale(velocity, splits)


def in_smoke_units(frames: np.ndarray, unit: float, layout: FrameLayout = VELOCITY_SMOKE) -> np.ndarray:
    """``frames`` ``(..., C, N, N)`` of ``layout`` (float32) with its scalar channels (the smoke)
    divided by ``unit``."""
    out = np.array(frames, dtype=np.float32)
    for i in layout.scalar_indices:
        out[..., i, :, :] /= np.float32(unit)
    return out


class WindowDataset:
    """Training samples from windows, scaled by one scalar.

    ``frames`` is ``(4, S, T, C, N, N)`` (core.train.samples.model_frames). Sample ``i`` is
    window ``windows[i // 4]`` in orientation ``i % 4``: input ``(C*F, N, N)`` and targets
    ``(K, C, N, N)``, both divided by ``scale`` (float32 tensors).
    """

    def __init__(self, frames: np.ndarray, windows, input_frames: int, steps: int, scale: float = 1.0):
        self.data = torch.as_tensor(np.ascontiguousarray(frames, dtype=np.float32)) / float(scale)
        self.windows = list(windows)
        self.f, self.k = int(input_frames), int(steps)

    def __len__(self) -> int:
        return 4 * len(self.windows)

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x, y)``: inputs ``(B, C*F, N, N)`` and targets ``(B, K, C, N, N)``."""
        xs, ys = [], []
        for i in indices:
            s, t = self.windows[int(i) // 4]
            o = int(i) % 4
            frames = self.data[o, s, t : t + self.f + self.k]
            xs.append(frames[: self.f].reshape(-1, *frames.shape[-2:]))
            ys.append(frames[self.f :])
        return torch.stack(xs), torch.stack(ys)


def orbit_noise(
    shape: tuple[int, ...], std: float, generator: torch.Generator, layout: FrameLayout | int = 2
) -> torch.Tensor:
    """Gaussian noise of ``shape`` ``(B, C*F, N, N)`` (frames of ``layout``, core.layout) for a batch of
    whole C4 orbits (samples ``4w .. 4w+3`` are orientations 0-3 of window ``w``, as the
    training loop builds them).

    Drawn once per window (standard deviation ``std``) and turned with each orientation, so
    the noisy batch is still made of whole orbits: on exactly symmetric data it stays exactly
    symmetric, and a relaxed model is not pushed off equivariance by the noise itself.
    """
    from core.symmetry import rotate_stacked_frames

    b = shape[0]
    if b % 4:
        raise ValueError(f"a batch of whole C4 orbits has a multiple of 4 samples, got {b}")
    base = torch.randn((b // 4, *shape[1:]), generator=generator) * float(std)
    turned = torch.stack([rotate_stacked_frames(base, k, layout) for k in range(4)], dim=1)
    return turned.reshape(shape)
