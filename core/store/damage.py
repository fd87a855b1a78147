"""Items (runs, datasets, sweeps) with a file that cannot be read: listed, never hidden.

A listing shows such an item with one line, ``damaged: <file>: <reason>`` (the file named
relative to the item), so it can be seen and deleted; opening it raises :class:`DamagedError`
with the same line.
"""

from __future__ import annotations


def damaged_line(file: str, reason: object) -> str:
    """``"damaged: <file>: <reason>"`` on one line (the reason's whitespace folded)."""
    return f"damaged: {file}: {' '.join(str(reason).split())}"


class DamagedError(ValueError):
    """An item's file cannot be read or is not what it should be; ``str()`` is :func:`damaged_line`.

    ``file``: the file relative to the item (e.g. ``metrics.json``); ``reason``: why, one line.
    """

    def __init__(self, file: str, reason: object):
        self.file, self.reason = file, " ".join(str(reason).split())
        super().__init__(damaged_line(file, reason))

    def __reduce__(self):  # pickled as its two fields (job records, Ray), not ValueError's argument
        return (type(self), (self.file, self.reason))
