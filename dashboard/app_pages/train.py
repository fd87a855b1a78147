"""Train page: start background training, watch it live, list runs and jobs, load checkpoints."""

from __future__ import annotations

import time

import streamlit as st

from core.models.registry import model_names
from core.service import actions, views
from core.service.names import run_label, shipped_suffix
from dashboard import cache, figures, widgets

st.title("Train models in the background")
st.caption(f"Jobs run as separate processes. This machine trains on: **{cache.device_name()}**.")

entries = views.dataset_entries()
if not entries:
    st.error("No dataset found. Generate one on the Data page first.")
else:
    with st.form("train_form"):
        labels = [e.label for e in entries]
        choice = st.selectbox("Dataset", labels, key="train_dataset")
        models = st.multiselect(
            "Models",
            list(model_names()),
            default=list(model_names())[:1],
            key="train_models",
            help="One background job per model; they share the settings below.",
        )
        c1, c2, c3, c4 = st.columns(4)
        epochs = c1.number_input("Epochs", min_value=1, max_value=500, value=5, key="train_epochs")
        batch = c2.number_input(
            "Batch size",
            min_value=4,
            max_value=256,
            value=16,
            step=4,
            key="train_batch",
            help="A multiple of 4: each batch holds all four orientations of its windows.",
        )
        lr = c3.number_input(
            "Learning rate", min_value=1e-6, max_value=1.0, value=1e-3, format="%.0e", key="train_lr"
        )
        hidden = c4.number_input(
            "Hidden channels",
            min_value=0,
            max_value=256,
            value=0,
            step=4,
            key="train_hidden",
            help="0 keeps each model's default width (chosen so the parameter counts are comparable); "
            "E2CNN and RSteer need a multiple of 4.",
        )
        c5, c6, c7, c8 = st.columns(4)
        input_frames = c5.number_input(
            "Input frames",
            min_value=1,
            max_value=10,
            value=1,
            key="train_inputs",
            help="Past frames the model sees.",
        )
        loss_steps = c6.number_input(
            "Loss steps",
            min_value=1,
            max_value=10,
            value=3,
            key="train_steps",
            help="Autoregressive steps in the training loss.",
        )
        alpha = c7.number_input(
            "RSteer alpha",
            min_value=0.0,
            max_value=1.0,
            value=1e-5,
            format="%.0e",
            key="train_alpha",
            help="Weight of the regulariser that pulls RSteer's relaxed weights toward equal values.",
        )
        max_windows = c8.number_input(
            "Max training windows",
            min_value=0,
            max_value=100_000,
            value=0,
            step=4,
            key="train_windows",
            help="0 uses every window; a small number makes a quick CPU run.",
        )
        start = st.form_submit_button("Start training", type="primary")
    if start:
        entry = entries[labels.index(choice)]
        if not models:
            st.error("Pick at least one model.")
        else:
            try:
                ids = actions.submit_training(
                    entry.path,
                    models=models,
                    epochs=int(epochs),
                    batch_size=int(batch),
                    lr=float(lr),
                    hidden=int(hidden),
                    input_frames=int(input_frames),
                    rollout_steps=int(loss_steps),
                    alpha=float(alpha),
                    max_train_windows=int(max_windows) or None,
                )
            except ValueError as exc:
                widgets.show_problem("These training settings are not valid.", exc)
            except Exception as exc:  # never a traceback on the page
                widgets.show_problem("Could not start training.", exc)
            else:
                st.success(f"Started {len(ids)} job(s): {', '.join(ids)}")

st.subheader("Jobs")


@st.fragment(run_every=2)
def _live_jobs() -> None:
    jobs = actions.list_jobs()
    recent = [j for j in jobs[:10] if time.time() - (j.finished or 0) < 1800]
    for job in [j for j in recent if j.status in ("failed", "diverged", "interrupted")][:3]:
        widgets.job_progress(job)  # shows the failure as a clear error box
    for job in [j for j in jobs if j.kind == "train" and not j.finished_state]:
        with st.container(border=True):
            widgets.job_progress(job)
            history = actions.job_history(job)
            if history:
                st.plotly_chart(
                    figures.line_figure(
                        history, title="loss per epoch", xaxis_title="epoch", yaxis_title="loss", log_y=True
                    ),
                    key=f"loss_{job.id}",
                    width="stretch",
                    theme=None,
                )
            if st.button("Cancel", key=f"cancel_{job.id}"):
                try:
                    actions.cancel_job(job.id)
                except Exception as exc:
                    widgets.show_problem(f"Could not cancel {job.id}.", exc)
                else:
                    st.toast(f"Cancel requested for {job.id}")
    widgets.jobs_table(jobs, key="train_jobs")


_live_jobs()

st.subheader("Runs")
runs = views.list_runs()
if not runs:
    st.caption("No runs yet.")
else:
    st.dataframe(views.run_rows(runs), hide_index=True, width="stretch", key="train_runs")
    finished = [r for r in runs if "checkpoint" in r.paths]
    if finished:
        labels = [shipped_suffix(run_label(r.config), r.shipped) for r in finished]
        pick = st.selectbox("Look at a run", labels, key="train_run_pick")
        run = finished[labels.index(pick)]
        series = views.history_series(run.history)
        if series:
            st.plotly_chart(
                figures.line_figure(
                    series, title=f"loss of {run.id}", xaxis_title="epoch", yaxis_title="loss", log_y=True
                ),
                key="train_run_loss",
                width="stretch",
                theme=None,
            )
        if run.metrics:
            with st.expander("Metrics of this run"):
                st.json(run.metrics)
        if st.button(
            "Load this run", key="train_load", help="Rebuild the model from its checkpoint (weights only)."
        ):
            try:
                info = cache.run_model_summary(run.id, cache.mtime(run.paths["checkpoint"]))
            except Exception as exc:  # CheckpointError, FileNotFoundError: a message, not a traceback
                widgets.show_problem(f"Could not load run {run.id}.", exc)
            else:
                st.success(
                    f"Loaded {info['model']} with {info['parameters']:,} parameters from {run.id}; "
                    "pick it on the Compare page to roll it out."
                )

st.subheader("Load a checkpoint file")
upload = st.file_uploader(
    "Checkpoint (.pt) saved by this project",
    type=["pt", "pth"],
    key="train_upload",
    help="Read weights-only: a file holding Python code is refused, never run.",
)
if upload is not None:
    try:
        run_id = views.import_checkpoint(upload.name, upload.getvalue())
    except Exception as exc:  # CheckpointError, ValueError: a clear message, nothing saved
        widgets.show_problem(f"The file {upload.name!r} was rejected.", exc)
    else:
        st.success(f"Loaded {upload.name} as run {run_id}; it is now listed above and on the Compare page.")
