"""What a run tracker gives, drawn: a group and text filter over a list, a run's notes and tags
editor, its loss chart with a smoothing slider, and the settings in which runs differ. The
computing is core.service.tracking's; these only draw and return widget values."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.service import tracking, training
from dashboard import widgets
from dashboard.text import markdown_text, short_names
from dashboard.tracking_figures import loss_curve_figure


def origin_filter(groups: Sequence[str], key: str, what: str = "runs") -> tuple[str, str]:
    """A group select ("all", "yours", each sweep, "shipped") and a text filter side by side;
    returns ``(group, text)``. A group that is gone (its items deleted) falls back to "all"."""
    choices = tracking.group_choices(groups)
    if st.session_state.get(f"{key}_group") not in choices:
        st.session_state[f"{key}_group"] = tracking.ALL
    left, right = st.columns([1, 2])
    group = left.selectbox(
        "Where from",
        choices,
        key=f"{key}_group",
        help=f"yours: {what} you made; a sweep's name: the {what} that sweep made; shipped: the "
        "project's own, read-only.",
    )
    text = right.text_input(
        "Filter",
        key=f"{key}_text",
        placeholder="words in the name, model or tags" if what == "runs" else "words in the name",
    )
    return group, text


def filter_caption(shown: int, total: int, what: str) -> None:
    """Say how many of the list a filter shows, when it hides some."""
    if shown < total:
        st.caption(f"{shown} of {total} {what} match the filter.")


def notes_editor(run, key: str) -> None:
    """A run's tags and note, editable for the person's own runs (stored in its run.json; a
    refused edit says what was wrong and keeps what was saved and what was typed), read-only
    with a word for shipped ones."""
    note, tags = tracking.run_notes(run)
    if run.shipped:
        st.caption("Shipped with the project: its notes and tags are read-only.")
        if tags:
            st.caption(markdown_text(f"Tags: {', '.join(tags)}"))
        if note:
            st.text(note)
        return
    done = st.session_state.pop(f"{key}__done", None)
    if done:
        st.success(done)
    with st.form(f"{key}_form_{run.id}", border=False):
        typed_tags = st.text_input("Tags", value=", ".join(tags), key=f"{key}_tags_{run.id}")
        typed_note = st.text_area("Note", value=note, key=f"{key}_note_{run.id}", height=100)
        st.caption(tracking.NOTES_HELP)
        save = st.form_submit_button("Save notes and tags")
    if save:
        try:
            said = tracking.save_notes(run.id, typed_note, typed_tags)
        except Exception as exc:  # ValueError, a missing run: one line, nothing written
            widgets.show_problem("Not saved.", exc)
        else:
            st.session_state[f"{key}__done"] = said
            st.rerun()  # the runs table shows the new tags


def loss_chart(run, key: str) -> None:
    """A run's loss per training step (per epoch for runs recorded before steps were), the raw
    values faint and a smoothed curve on top, with TensorBoard's smoothing slider."""
    smoothing = st.slider(
        "Smoothing",
        min_value=0.0,
        max_value=0.99,
        value=tracking.DEFAULT_SMOOTHING,
        step=0.01,
        key=f"{key}_smoothing",
        help="An exponential moving average, as TensorBoard's: 0 draws the raw losses; closer to 1 "
        "averages over more steps. The faint line is always the raw loss.",
    )
    curves = tracking.run_loss_curves(run, smoothing)
    if not curves["series"]:
        st.caption("No losses recorded yet.")
        return
    loss_plot(curves, key=f"{key}_chart")
    if curves["x_title"] == "epoch":
        st.caption("This run was recorded before per-step losses were kept: one point per epoch.")


def loss_plot(curves: dict, key: str, what: str = "") -> None:
    """Draw loss curves (core.service.tracking.run_loss_curves' dict) raw and smoothed, titled
    "loss per step" (or epoch), followed by ``what`` where given (a job's run)."""
    title = f"loss per {curves['x_title']}" + (f": {what}" if what else "")
    figure = loss_curve_figure(
        curves["series"],
        curves["smoothed"],
        title=title,
        x_title=curves["x_title"],
        y_title=training.LOSS_AXIS_TITLE,
    )
    st.plotly_chart(figure, key=key, width="stretch", theme=None)


def settings_diff(runs: list, titles: Sequence[str], key: str) -> None:
    """One table of the settings in which ``runs`` (named ``titles``) differ: a row per setting,
    a column per run (dashboard.text.short_names, the full name on hover), or a word that none
    differs."""
    names = short_names(titles)
    rows = tracking.settings_table(runs, names)
    if not rows:
        st.caption(
            "No settings differ: these runs were made with the same data, model and training settings."
        )
        return
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "setting": st.column_config.TextColumn(
                "setting", help="data.*, model.*, train.*: run.json's settings"
            ),
            **{n: st.column_config.TextColumn(n, help=t) for n, t in zip(names, titles, strict=True)},
        },
    )
