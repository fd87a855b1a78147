"""torch where a tensor is, and nowhere else: helpers for code that takes numpy arrays or torch
tensors alike (core.symmetry) without importing torch itself.

torch takes over a second to import; reading results and datasets (the dashboard's landing page)
needs none of it, so these look torch up only where a tensor can exist.
"""

from __future__ import annotations

import functools
import sys
from typing import TypeVar

#: A numpy array or a torch tensor (one type in and the same type out).
Array = TypeVar("Array")


def is_tensor(value) -> bool:
    """True for a torch tensor (none can exist before torch is imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def no_grad(function):
    """Return ``function`` run under torch.no_grad, torch imported at the call."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        import torch

        with torch.no_grad():
            return function(*args, **kwargs)

    return call
