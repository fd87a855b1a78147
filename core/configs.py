"""What every config dataclass shares: a JSON-ready dict and a strict rebuild from one."""

from __future__ import annotations

import dataclasses
from typing import Any, Self


def check_fields(cls: type, d: Any) -> None:
    """Raise ValueError unless ``d`` is a dict whose keys are all fields of dataclass ``cls``.

    The message names the unknown keys and lists the known ones.
    """
    if not isinstance(d, dict):
        raise ValueError(f"{cls.__name__}: expected a dict, got {type(d).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


class ConfigMixin:
    """``to_dict()`` and ``from_dict(d)`` for a frozen, self-validating config dataclass."""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Build from :meth:`to_dict` output; unknown keys raise ValueError naming them."""
        check_fields(cls, d)
        return cls(**d)
