"""Table 1 of the paper: every model's rollout RMSE over training seeds, beside the paper's."""

from __future__ import annotations

import streamlit as st

from core.service import jobs, table1_view
from dashboard import cache, widgets
from dashboard.text import markdown_text

st.title("Table 1: which model is most accurate, over seeds")
st.caption(
    "Rows: models. Columns: rollout RMSE on test-future (later frames of the training "
    "simulations) and on test-domain (whole simulations whose buoyancy strengths were never "
    "trained on), as mean ± std over training seeds, each also over the persistence baseline's "
    "RMSE on the same windows (below 1 beats 'next frame = this frame'). A model is called more "
    "accurate than another only where the gap between their means exceeds the two seed spreads; "
    "otherwise they are tied within seed spread."
)


def _build_button() -> None:
    """Build Table 1 as a background job (a sweep with the table1 preset)."""
    st.caption(table1_view.build_estimate())
    if not st.button("Build Table 1", key="t1_build", help=table1_view.BUILD_COMMAND):
        return
    try:
        job_id = table1_view.submit_table1()
    except jobs.AlreadyQueued as exc:  # a second click: the first one's job runs
        st.info(str(exc))
    except Exception as exc:  # no preset yet, or a job that cannot start
        widgets.show_problem("Could not start the Table-1 build.", exc)
    else:
        st.success(
            f"Table-1 build started in the background (job `{job_id}`): its progress is listed "
            "under the Symmetry page's sweep jobs, and this page shows it as its rows arrive."
        )


def _show(entry) -> None:
    """One Table-1 build: the table, the paper's ranking beside it, and what the spread allows."""
    try:
        view = cache.table1_view(str(entry.path))
    except (OSError, ValueError, KeyError) as exc:
        widgets.show_problem("Could not read this Table-1 build.", exc)
        return
    for note in view["notes"]:
        st.info(note)
    st.caption(
        "RMSE over the persistence baseline's on the same windows, mean ± std over training seeds "
        "(below 1 beats 'next frame = this frame'); the paper's columns are its RMSE."
    )
    rows, ratios, rmse = view["rows"], table1_view.RATIO_COLUMNS, table1_view.RMSE_COLUMNS
    st.dataframe(rows, hide_index=True, width="stretch", key="t1_table", **widgets.column_settings(ratios))
    with st.expander("RMSE itself, and the seeds behind each row"):
        st.dataframe(rows, hide_index=True, width="stretch", key="t1_rmse", **widgets.column_settings(rmse))
    st.caption(table1_view.PAPER_CAPTION)
    st.caption(table1_view.BUDGET_CAPTION)
    for split, sentences in view["sentences"].items():
        if sentences:
            st.markdown(f"**{split}**: " + " ".join(sentences))
    agreement = [
        f"{split} {rho:.2f}" if rho is not None else f"{split}: too few models"
        for split, rho in view["agreement"].items()
    ]
    st.markdown("**Rank agreement with the paper** (Spearman): " + "; ".join(agreement) + ".")


sources = table1_view.table1_sources()
if not sources:
    st.info(table1_view.build_hint())
    _build_button()
else:
    picked = widgets.pick_entry("Table-1 build", sources, key="t1_source")
    st.caption(f"Showing {markdown_text(picked.title)}.")
    _show(picked)
