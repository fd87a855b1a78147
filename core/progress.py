"""The one progress protocol shared by data generation, training, sweeps, jobs and the CLIs."""

from __future__ import annotations

from typing import Any, Protocol


class Progress(Protocol):
    """A progress callback: ``progress(fraction in [0, 1], message, **info)``.

    ``info`` may carry ``epoch``, ``train_loss`` and ``val_loss`` (training); receivers
    ignore what they do not use.
    """

    def __call__(self, fraction: float, message: str = "", **info: Any) -> None: ...


def no_progress(fraction: float, message: str = "", **info: Any) -> None:
    """A :class:`Progress` that does nothing."""
