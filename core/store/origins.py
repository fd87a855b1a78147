"""Where a run or dataset came from, so long lists stay findable: the person's own ("yours"), a
sweep (each sweep by its name), or shipped with the project; and which one a list opens on.

Pure functions over what the listings already know (the service layer gathers it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

YOURS = "yours"
SHIPPED = "shipped"
#: The group choice that shows every item.
ALL = "all"


def origin_of(
    item_id: str, shipped: bool, sweep_of: Mapping[str, str], own: frozenset[str] | set[str] = frozenset()
) -> str:
    """The group of one item: SHIPPED for a shipped one; YOURS for one the person made
    (``own``: e.g. a dataset a Data-page job wrote, even when a sweep used it later); else the
    name of the sweep that made it (``sweep_of``: item id -> sweep name); else YOURS."""
    if shipped:
        return SHIPPED
    if item_id in own:
        return YOURS
    return sweep_of.get(item_id, YOURS)


def group_choices(groups: Sequence[str]) -> list[str]:
    """The choices of a group filter over items of ``groups``: ALL, YOURS, each sweep in the
    order first met, SHIPPED; only the groups some item is in (ALL always)."""
    present = list(dict.fromkeys(groups))
    sweeps = [g for g in present if g not in (YOURS, SHIPPED)]
    return [ALL] + [g for g in (YOURS, *sweeps, SHIPPED) if g in present]


def matches(text: str, fields: Sequence[str]) -> bool:
    """Whether every word of the filter ``text`` (case ignored) is in one of ``fields``
    (name, model, tags...); an empty filter matches everything."""
    haystack = " ".join(str(f) for f in fields).casefold()
    return all(word in haystack for word in str(text or "").casefold().split())


def filtered(groups: Sequence[str], fields: Sequence[Sequence[str]], group: str, text: str) -> list[int]:
    """The indices of the items in ``group`` (ALL: any) whose ``fields`` match ``text``
    (:func:`matches`), in their order."""
    return [
        i
        for i, (g, f) in enumerate(zip(groups, fields, strict=True))
        if group in (ALL, g) and matches(text, f)
    ]


def default_index(groups: Sequence[str], times: Sequence[float]) -> int:
    """The item a list opens on: the newest (largest ``times``) of the person's own (YOURS)
    items, else the newest of all; 0 for an empty list."""
    if not groups:
        return 0
    own = [i for i, g in enumerate(groups) if g == YOURS]
    pool = own or range(len(groups))
    return max(pool, key=lambda i: (times[i], -i))
