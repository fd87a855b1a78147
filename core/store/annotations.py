"""Notes and tags a person writes on a run, kept in its run.json (``note``, ``tags``).

A tag is one short word (letters, digits, ``-``, ``_``, ``.``; at most ``TAG_LIMIT`` characters),
a run carries at most ``MAX_TAGS`` of them, and a note is at most ``NOTE_LIMIT`` characters.
Both are checked before anything is written: a refused edit leaves run.json as it was. Shipped
runs are read-only. The write goes through :func:`core.store.runs.update_run_json` (atomic).
"""

from __future__ import annotations

import re
from typing import Any

from core.store.runs import find_run_dir, update_run_json

TAG_LIMIT = 32
MAX_TAGS = 10
NOTE_LIMIT = 2000
_TAG = re.compile(r"[A-Za-z0-9_.\-]+")
#: What separates the tags typed into one text field.
_TAG_SEPARATORS = re.compile(r"[\s,;]+")


def parse_tags(text: str | list[str] | None) -> list[str]:
    """The tags of ``text`` (separated by commas, semicolons or spaces; or a list of them), each
    checked, repeats dropped (first spelling kept, compared ignoring case), in the order typed.

    Raises ValueError in one line naming the first bad tag and what is wrong with it, or the count.
    """
    words = text if isinstance(text, list) else _TAG_SEPARATORS.split(str(text or ""))
    tags: list[str] = []
    for word in (str(w).strip() for w in words):
        if not word:
            continue
        if len(word) > TAG_LIMIT:
            raise ValueError(f"Tags: {word[:TAG_LIMIT]!r}... is {len(word)} characters, at most {TAG_LIMIT}")
        if not _TAG.fullmatch(word):
            bad = next(ch for ch in word if not _TAG.fullmatch(ch))
            raise ValueError(
                f"Tags: {word!r} holds {bad!r}; a tag is one word of letters, digits, '-', '_' or '.'"
            )
        if word.casefold() not in {t.casefold() for t in tags}:
            tags.append(word)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"Tags: at most {MAX_TAGS} per run, got {len(tags)}")
    return tags


def check_note(note: str | None) -> str:
    """The note as it is kept (surrounding blank space dropped); ValueError naming its length when
    it is over NOTE_LIMIT characters."""
    text = str(note or "").strip()
    if len(text) > NOTE_LIMIT:
        raise ValueError(f"Note: at most {NOTE_LIMIT} characters, got {len(text)}")
    return text


def run_annotations(record: dict[str, Any]) -> tuple[str, list[str]]:
    """``(note, tags)`` stored in a run.json record; ('', []) where it has none, or none of the
    right type (an edited file is read, never trusted)."""
    note = record.get("note")
    tags = record.get("tags")
    note = note if isinstance(note, str) else ""
    tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    return note, tags


def annotate_run(run_id: str, note: str | None, tags: str | list[str] | None) -> dict[str, Any]:
    """Store ``note`` and ``tags`` (:func:`parse_tags`) in run ``run_id``'s run.json; return the
    new record. Both are checked first, so a ValueError (a bad tag, a note too long, a shipped
    run, which is read-only) leaves the file as it was; FileNotFoundError for no such run."""
    run_dir, shipped = find_run_dir(run_id)
    if shipped:
        raise ValueError(
            "This run is shipped with the project and read-only: notes and tags cannot be changed"
        )
    clean_note, clean_tags = check_note(note), parse_tags(tags)
    return update_run_json(run_dir, note=clean_note, tags=clean_tags)
