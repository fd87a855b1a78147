"""Small Streamlit helpers shared by the pages: they draw and return widget values only."""

from __future__ import annotations

import time
from collections.abc import Sequence

import streamlit as st

from core.service import items, jobs
from dashboard.text import markdown_text


def status_label(status: str) -> str:
    """Return ``status`` in capitals for failures, so they stand out in tables and captions.

    (Plain text: emoji are missing from many servers' fonts and show as boxes.)
    """
    return status.upper() if status in jobs.FAILURES else status


def ago(t: float | None) -> str:
    """Return a short 'how long ago' text for a Unix time (seconds), '' for None."""
    if not t:
        return ""
    dt = max(0.0, time.time() - float(t))
    if dt < 60:
        return f"{dt:.0f} s ago"
    if dt < 3600:
        return f"{dt / 60:.0f} min ago"
    if dt < 86400:
        return f"{dt / 3600:.1f} h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(t)))


#: Exceptions whose text is written for the user (bad input, a missing or unusable file): shown
#: as they are, without the class name a programmer would want.
_SAID_FOR_USERS = (
    "ValueError", "FileNotFoundError", "CheckpointError", "DamagedError", "DatasetFileError", "WriteError",
)  # fmt: skip


def show_problem(message: str, exc: BaseException | None = None) -> None:
    """Show a clear error box (never a traceback): the message, then the exception's own text
    (with its class name only where the text was not written for the user), all as plain text:
    both may quote a name or file name someone gave."""
    text = str(exc) if exc is not None else ""
    if not text:
        st.error(markdown_text(message))
    elif type(exc).__name__ in _SAID_FOR_USERS:
        st.error(markdown_text(f"{message} {text[0].upper()}{text[1:]}{'' if text.endswith('.') else '.'}"))
    else:
        st.error(markdown_text(f"{message} ({type(exc).__name__}: {text})"))


def show_damaged(kind: str, line: str) -> None:
    """Refuse to open a damaged item: its one line (``damaged: <file>: <reason>``, shown as
    code so nothing in it is read as markdown) and where it can be deleted."""
    st.error(
        f"This {kind} is damaged and cannot be opened: `{line.replace('`', chr(39))}`. "
        "Delete it under 'Id, rename, delete'."
    )


def jobs_table(listed: Sequence, key: str) -> None:
    """Draw the jobs as a table (what each does, status, progress, what it made); nothing if none."""
    if not listed:
        st.caption("No jobs yet.")
        return
    rows = jobs.job_rows(listed)
    for row in rows:
        row["status"] = status_label(row["status"])
    st.dataframe(
        rows,
        key=key,
        hide_index=True,
        width="stretch",
        column_config={
            "progress": st.column_config.ProgressColumn(
                "progress", min_value=0.0, max_value=1.0, format="percent", width="small"
            ),
            # Fixed widths keep the table inside the page; a long message is cut with "…"
            # and shown whole on hover (and in full in the job's card).
            "job": st.column_config.TextColumn("job", width="medium"),
            "made": st.column_config.TextColumn("made", width="medium"),
            "status": st.column_config.TextColumn("status", width="small"),
            "device": st.column_config.TextColumn("device", width="small"),
            "time": st.column_config.TextColumn("time", width="small"),
            "message": st.column_config.TextColumn("message", width="small"),
            "id": None,  # ids stay out of sight; each job card's "Log and id" shows it
        },
    )


def progress_text(card) -> str:
    """``"running · train RSteer 32 ch · epoch 3/20 · cpu · 1 min 5 s elapsed, about 4 min left"``
    of a job card (core.service.jobs.JobCard)."""
    parts = [status_label(card.state), card.title]
    if card.message:
        parts.append(card.message)
    if card.device:
        parts.append(f"on {card.device}")
    if card.elapsed is not None:
        parts.append(f"{jobs.duration_text(card.elapsed)} {'elapsed' if not card.finished else 'in all'}")
    if card.remaining is not None:
        parts[-1] += f", about {jobs.duration_text(card.remaining)} left"
    return " · ".join(parts)


def job_progress(card) -> None:
    """Draw one job card's progress bar (what, device, elapsed time, estimate) and any error."""
    st.progress(card.fraction, text=markdown_text(progress_text(card)))  # names a run: plain text
    if card.failed:
        st.error(markdown_text(f"{card.title} {card.state}: {card.problem}"))


def _act(action, verb: str, done: str) -> None:
    """Run a button's action: a toast when it worked, a clear error box when it did not."""
    try:
        action()
    except Exception as exc:
        show_problem(f"Could not {verb} the job.", exc)
    else:
        st.toast(markdown_text(done))


def job_card(card, key: str, on_resume=None) -> None:
    """One job in a bordered card (core.service.jobs.JobCard): progress, Cancel (while it runs),
    Resume (stopped training), log.

    ``on_resume``: called with the new job's id after Resume queued it (the page follows it)."""

    def resume() -> None:
        new_id = jobs.resume_job(card.id)
        if on_resume is not None:
            on_resume(new_id)

    with st.container(border=True):
        job_progress(card)
        if card.made:
            st.caption(f"{'Made' if card.state == 'done' else 'Makes'}: **{markdown_text(card.made)}**")
        c1, c2, c3 = st.columns([1, 1, 4])
        if card.can_cancel and c1.button("Cancel", key=f"cancel_{card.id}{key}"):
            _act(lambda: jobs.cancel_job(card.id), "cancel", f"Cancel requested: {card.title}")
        if card.can_resume and c2.button(
            "Resume", key=f"resume_{card.id}{key}", help="Continue training from the last saved epoch."
        ):
            _act(resume, "resume", f"Resuming: {card.title}")
        with c3.popover("Log and id", help="The job's log file (last lines) and its id."):
            st.caption(f"job id: `{card.id}`")
            try:
                text = jobs.job_log_tail(card)
            except ValueError as exc:
                show_problem("The log cannot be shown.", exc)
            else:
                st.code(text or "(no log lines yet)", language=None, height=300)
        if card.warning:  # a finished training whose model is worse than persistence
            st.warning(card.warning)


def item_picker(
    label: str, titles: Sequence[str], ids: Sequence[str], key: str, default: int = 0, **kwargs
) -> int:
    """A selectbox over items named ``titles`` (``ids`` in the same order); returns the index picked.

    It opens on item ``default`` (core.service.tracking picks the person's newest own item).
    After :func:`follow_item` it shows that item under its current name (a rename), or the
    default if it is gone (a delete); a stale choice also falls back to the default. Why a value
    set before drawing, not a dropped key: the browser keeps showing a selectbox's last text when
    its options change under the same key, while the page would draw the first item.
    """
    follow = st.session_state.pop(f"{key}__follow", None)
    if follow is not None:
        st.session_state[key] = titles[list(ids).index(follow)] if follow in ids else titles[default]
    elif st.session_state.get(key) not in titles:
        st.session_state[key] = titles[default]
    return list(titles).index(st.selectbox(label, titles, key=key, **kwargs))


def pick_entry(label: str, entries: Sequence, key: str, default: int = 0, **kwargs):
    """:func:`item_picker` over the service's entries (named ``.label``, known by ``.name``),
    opening on ``default``; returns the entry picked."""
    titles, ids = [e.label for e in entries], [e.name for e in entries]
    return entries[item_picker(label, titles, ids, key, default, **kwargs)]


def follow_item(key: str, item_id: str) -> None:
    """Make the :func:`item_picker` with ``key`` show the item ``item_id`` on the next run."""
    st.session_state[f"{key}__follow"] = item_id


def manage_item(kind: str, item_id: str, shipped: bool, title: str, key: str, note: str = "") -> bool:
    """An expander with the item's id, and for the user's own items Rename and Delete
    (Delete asks for confirmation; ``note`` says what else deleting affects). Returns True
    when the item changed (the page should rerun)."""
    done = st.session_state.pop(f"{key}__done", None)
    if done:
        st.success(done)  # said after the rerun that shows the change, so it is seen
    # A label renders markdown too (links, images): the name someone gave is shown as text.
    with st.expander(f"Id, rename, delete: {markdown_text(title)}", expanded=False):
        st.caption(f"{kind} id: `{item_id}`")
        if shipped:
            st.caption("Shipped with the project: read-only (it cannot be renamed or deleted).")
            return False
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        label = c1.text_input(
            "New name",
            value="",
            key=f"{key}_label_{item_id}",  # per item: nothing typed carries over
            placeholder=title,
            help="Empty: the name made from its settings.",
        )
        if c2.button("Rename", key=f"{key}_rename"):
            try:
                given = items.rename_item(kind, item_id, label)
            except Exception as exc:
                show_problem(f"Could not rename this {kind}.", exc)
            else:
                named = f'"{given}"' if given else "the name made from its settings"
                st.session_state[f"{key}__done"] = markdown_text(f"Renamed {title} to {named}.")
                return True
        # Keyed by the item, so a tick given for one item never arms Delete for the next one shown.
        sure = st.checkbox(
            f"Yes, delete this {kind} for good", key=f"{key}_sure_{item_id}", help=note or None
        )
        if note:
            st.caption(note)
        if st.button(f"Delete {kind}", key=f"{key}_delete", disabled=not sure, type="secondary"):
            try:
                items.delete_item(kind, item_id)
            except Exception as exc:
                show_problem(f"Could not delete this {kind}.", exc)
            else:
                st.session_state[f"{key}__done"] = markdown_text(f"Deleted {title}.")
                return True
    return False


def column_settings(columns: dict[str, tuple[str, str]]) -> dict:
    """st.dataframe's ``column_order`` and ``column_config`` for ``columns`` ({row key: (short
    header, help)}): the table shows those columns, in that order, under their short headers."""
    config = {key: st.column_config.Column(label, help=text) for key, (label, text) in columns.items()}
    return {"column_order": list(columns), "column_config": config}
