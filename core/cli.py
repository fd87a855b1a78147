"""What every command line of the project shares: the parser, config options, the progress bar.

The entry points (``python -m core.data``, ``core.train``, ``core.train.evaluate``,
``core.sweep``, ``core.assets``, ``core.jobs``) build their parsers here; library modules
never import this module. :func:`progress_bar` draws core.progress's one Progress protocol.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, TextIO

from core.progress import Progress


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``error: ...``, exit status 2), not the usage block."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {message}\n")


def _field_type(field: dataclasses.Field) -> type | None:
    """The scalar type (int, float, str) argparse should parse a config field as, or None."""
    hint = field.type
    if isinstance(hint, str):
        hint = {"int": int, "float": float, "str": str, "int | None": int, "float | None": float}.get(hint)
    if isinstance(hint, types.UnionType | typing._UnionGenericAlias):  # int | None
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else None
    return hint if hint in (int, float, str) else None


def add_config_options(
    parser: argparse.ArgumentParser,
    config_cls: type,
    *,
    defaults: Any = None,
    skip: tuple[str, ...] = (),
    prefix: str = "",
    help_of: Callable[[str], str] | None = None,
) -> list[str]:
    """Add one ``--option`` per scalar field of dataclass ``config_cls``; return the field names added.

    Defaults come from ``defaults`` (an instance, or None: the class defaults); an
    option left out on the command line keeps that default. The option for field
    ``max_train_windows`` is ``--max-train-windows`` (with ``prefix``, ``--<prefix>-...``).
    """
    instance = defaults if defaults is not None else config_cls()
    added = []
    for field in dataclasses.fields(config_cls):
        kind = _field_type(field)
        if field.name in skip or kind is None:
            continue
        default = getattr(instance, field.name)
        flag = f"--{prefix + '-' if prefix else ''}{field.name.replace('_', '-')}"
        text = help_of(field.name) if help_of else field.name.replace("_", " ")
        parser.add_argument(
            flag, dest=field.name, type=kind, default=default, help=f"{text} (default {default})"
        )
        added.append(field.name)
    return added


def add_switch(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    """Add ``--<name>`` / ``--no-<name>``; the parsed value is True, False, or None if neither was given."""
    flag = name.replace("_", "-")
    parser.add_argument(
        f"--{flag}", dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
    )


def config_from_args(config_cls: type, args: argparse.Namespace, names: list[str], **extra: Any) -> Any:
    """Build ``config_cls`` from the parsed options ``names`` and ``extra`` (ValueError names a bad field)."""
    return config_cls(**{name: getattr(args, name) for name in names}, **extra)


def progress_bar(stream: TextIO | None = None, width: int = 30) -> Progress:
    """Return a :data:`Progress` that draws a text bar on ``stream`` (default stderr).

    A new line is started when a message carries a training loss (an epoch ended) or
    the work is complete, so the terminal keeps one line per epoch and ends on a newline.
    The bar never goes back: a fraction below one already shown is drawn as that one.
    """
    out = stream if stream is not None else sys.stderr
    shown = [0.0]  # the furthest fraction drawn so far

    def report(fraction: float, message: str = "", **info: Any) -> None:
        fraction = max(min(max(float(fraction), 0.0), 1.0), shown[0])
        shown[0] = fraction
        filled = int(round(width * fraction))
        out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * fraction:5.1f}% {message[:70]:<70}")
        if info.get("train_loss") is not None or fraction >= 1.0:
            out.write("\n")
        out.flush()

    return report


def fail(message: str, status: int = 1) -> int:
    """Print ``error: message`` on stderr and return ``status`` (for ``return fail(...)`` in a main)."""
    print(f"error: {message}", file=sys.stderr)
    return status
