"""Renaming and deleting a dataset, run or sweep of the data directory (shipped ones are
read-only; an item a live job uses is not deleted)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from core.service import queue
from core.service.common import DATASETS, LABELS_FILE, dataset_labels
from core.service.datasets import dataset_entries
from core.service.queue import job_title
from core.service.runs import run_titles
from core.service.sweeps import sweep_entries
from core.store.paths import assets_dir, data_dir
from core.store.runs import list_runs

ITEM_KINDS = ("dataset", "run", "sweep")


def _own_item(kind: str, item_id: str) -> Path:
    """The data-directory path of a dataset file, run folder or sweep folder named ``item_id``.

    Only names that pass core.store.paths.check_name and lie inside the data directory are
    accepted; shipped items (assets/) are never returned, so they cannot be changed. A dataset
    listed through a link to a file elsewhere returns the link itself (not resolved), so
    nothing outside the data directory is renamed or deleted.
    Raises ValueError for a bad kind or name, FileNotFoundError if the item is not one of ours.
    """
    from core.store.paths import check_name, inside

    if kind not in ITEM_KINDS:
        raise ValueError(f"kind must be one of {ITEM_KINDS}, got {kind!r}")
    sub = {"dataset": DATASETS, "run": "runs", "sweep": "sweeps"}[kind]
    link = data_dir() / sub / check_name(item_id, f"{kind} id")
    if kind == "dataset" and link.is_symlink():
        return link  # a file written elsewhere, listed by its link: the link is the item, never the file
    path = inside(data_dir() / sub, item_id)
    if not path.exists():
        shipped = (assets_dir() / sub / item_id).exists()
        why = "it is shipped with the project and read-only" if shipped else "there is no such item"
        raise FileNotFoundError(f"cannot change {kind} {item_id!r}: {why}")
    return path


def rename_item(kind: str, item_id: str, label: str) -> str:
    """Give a dataset, run or sweep of the data directory a label a person reads; return it.

    The label (one printable line, at most names.LABEL_LIMIT characters; '' goes back to the
    name derived from the config) is stored as ``label`` in run.json / results.json, or in
    ``datasets/labels.json`` for datasets. Shipped items raise FileNotFoundError; a name that
    is too long, ends in "(shipped)" or is another item's of the same kind raises ValueError.
    """
    from core.names import clean_label
    from core.store.atomic import write_json

    path = _own_item(kind, item_id)
    text = clean_label(label)
    if text:
        _check_new_label(kind, item_id, text)
    if kind == "dataset":
        labels = dataset_labels(path.parent)
        labels.pop(item_id, None)
        target, record = path.parent / LABELS_FILE, {**labels, **({item_id: text} if text else {})}
    else:
        target = path / ("run.json" if kind == "run" else "results.json")
        record = json.loads(target.read_text())
        record.pop("label", None)
        record.update({"label": text} if text else {})
    write_json(target, record)
    return text


def _check_new_label(kind: str, item_id: str, text: str) -> None:
    """Raise ValueError, in the rename form's words, for a name a person should not give."""
    from core.names import LABEL_LIMIT, shipped_suffix

    if len(text) > LABEL_LIMIT:
        raise ValueError(f"New name: at most {LABEL_LIMIT} characters, got {len(text)}")
    if text.casefold().endswith("(shipped)"):
        raise ValueError('New name: "(shipped)" marks what came with the project; choose another name')
    if kind == "run":
        runs = list_runs()
        named = zip([(r.id, r.shipped) for r in runs], run_titles(runs), strict=True)
    else:
        entries = dataset_entries() if kind == "dataset" else sweep_entries()
        named = (((e.name, e.shipped), shipped_suffix(e.label, e.shipped)) for e in entries)
    wanted = text.casefold()
    for (name, shipped), title in named:
        if name == item_id and not shipped:
            continue  # the item itself (a shipped one may carry the same id)
        # A shipped item's name without its mark counts too: the two would read the same.
        if wanted in (title.casefold(), title.removesuffix(" (shipped)").casefold()):
            raise ValueError(f'New name: another {kind} is already called "{title}"')


def _in_use(kind: str, item_id: str) -> str | None:
    """Why an item cannot be deleted now (a queued or running job uses it), or None."""
    for job in queue.list_jobs(500):
        if job.finished_state:
            continue
        result, params = job.result or {}, job.params or {}
        uses = {
            "run": item_id in (job.run_id, result.get("run_id"), params.get("run_id")),
            "sweep": item_id == result.get("sweep_id"),
            "dataset": Path(str(params.get("data_path", ""))).name == item_id,
        }[kind]
        if uses:
            return f"{job_title(job)} is still {job.status}; cancel it or wait for it to end"
    return None


def delete_item(kind: str, item_id: str) -> None:
    """Delete a dataset file, run folder or sweep folder of the data directory.

    Shipped items raise FileNotFoundError; an item a running or queued job uses, or a run a
    live process trains (core.store.ownership), raises ValueError saying which. Runs trained
    on a deleted dataset keep their weights. A dataset listed through a link to a file outside
    the data directory (``python -m core.data --out PATH``) loses its link; the file stays.
    """
    from core.store.ownership import owner_note

    path = _own_item(kind, item_id)
    busy = _in_use(kind, item_id) or (kind == "run" and owner_note(path))
    if busy:
        raise ValueError(f"It is in use: {busy}")
    if kind == "dataset":
        path.unlink()
        labels = dataset_labels(path.parent)
        if labels.pop(item_id, None) is not None:
            from core.store.atomic import write_json

            write_json(path.parent / LABELS_FILE, labels)
    else:
        shutil.rmtree(path)
