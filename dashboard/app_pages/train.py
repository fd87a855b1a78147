"""Train page: start background training, watch it live, list runs and jobs, load checkpoints."""

from __future__ import annotations

import time

import streamlit as st

from core.models.registry import model_label, model_names
from core.service import common, datasets, jobs, runs, tracking, training
from dashboard import cache, figures, tracking_widgets, widgets
from dashboard.text import markdown_text, short_names

st.title("Train models in the background")
st.caption(f"Jobs run as separate processes. This machine trains on: **{cache.device_name()}**.")

entries = [e for e in datasets.dataset_entries() if not e.damaged]  # damaged: shown on the Data page
if not entries:
    st.error("No dataset found. Generate one on the Data page first.")
else:
    start = training.training_defaults()  # the cpu preset: what the shipped runs used
    with st.form("train_form"):
        labels = [e.label for e in entries]
        # Opens on the person's newest own dataset, not the newest a sweep made.
        first = tracking.default_dataset(entries, tracking.dataset_groups(entries))
        choice = st.selectbox("Dataset", labels, index=first, key="train_dataset")
        models = st.multiselect(
            "Models",
            list(model_names()),
            default=list(model_names())[:1],
            key="train_models",
            format_func=model_label,
            help="One background job per model; they share the settings below.",
        )
        c1, c2 = st.columns(2)
        # No bounds on the number fields: training.submit_training checks them and says what was wrong.
        epochs = c1.number_input("Epochs", value=start["epochs"], key="train_epochs")
        hidden = c2.number_input(
            "Hidden channels",
            value=start["hidden"],
            step=4,
            key="train_hidden",
            help=training.width_words(),
        )
        with st.expander("Advanced settings"):
            st.caption(training.advanced_training_words(start))
            c3, c4, c5 = st.columns(3)
            batch = c3.number_input(
                "Batch size",
                value=start["batch_size"],
                step=4,
                key="train_batch",
                help="A multiple of 4: each batch holds all four orientations of its windows.",
            )
            lr = c4.number_input("Learning rate", value=start["lr"], step=1e-4, format="%.0e", key="train_lr")
            input_frames = c5.number_input(
                "Input frames",
                value=start["input_frames"],
                key="train_inputs",
                help="Past frames the model sees.",
            )
            c6, c7, c8 = st.columns(3)
            loss_steps = c6.number_input(
                "Loss steps",
                value=start["rollout_steps"],
                key="train_steps",
                help="Autoregressive steps in the training loss.",
            )
            alpha = c7.number_input(
                "Regulariser weight (alpha)",
                value=start["alpha"],
                format="%.0e",
                placeholder="each model's own",
                key="train_alpha",
                help="Left empty, each model keeps its own: "
                + ", ".join(f"{label} {value:g}" for label, value in training.own_alphas().items())
                + ". A number here applies to all of them.",
            )
            max_windows = c8.number_input(
                "Max training windows",
                value=0,
                step=4,
                key="train_windows",
                help="0 uses every window; a small number makes a quick CPU run.",
            )
            c9, c10, c11 = st.columns(3)
            weighting = c9.number_input(
                "Window weighting",
                value=start["window_weighting"],
                key="train_weighting",
                help="0: plain loss. c > 0 weighs each window by 1 / (its own squared one-step change + c), "
                "so the slow first frames count too: better rollouts on unseen simulations, "
                "less learnt asymmetry (docs/TRAINING_EXPERIMENTS.md). Needs 2 or more loss steps.",
            )
            hold = c10.number_input(
                "RSteer symmetric start",
                value=start["relaxed_hold"],
                key="train_hold",
                help=training.SYMMETRIC_START_HELP,
            )
            smoke = c11.checkbox(
                "Models see the smoke",
                value=start["smoke"],
                key="train_smoke",
                help=training.SMOKE_INPUT_HELP,
            )
        submitted = st.form_submit_button("Start training", type="primary")
    if submitted:
        entry = entries[labels.index(choice)]
        if not models:
            st.error("Pick at least one model.")
        else:
            try:
                ids = training.submit_training(
                    entry.path,
                    models=models,
                    epochs=int(epochs),
                    batch_size=int(batch),
                    lr=float(lr),
                    hidden=int(hidden),
                    input_frames=int(input_frames),
                    rollout_steps=int(loss_steps),
                    alpha=None if alpha is None else float(alpha),
                    max_train_windows=int(max_windows) or None,
                    window_weighting=float(weighting),
                    relaxed_hold=int(hold),
                    smoke=bool(smoke),
                )
            except jobs.AlreadyQueued as exc:  # a second click: the first one's job runs
                st.info(markdown_text(exc))
            except ValueError as exc:
                widgets.show_problem("These training settings are not valid.", exc)
            except Exception as exc:  # never a traceback on the page
                widgets.show_problem("Could not start training.", exc)
            else:
                st.session_state.setdefault("train_started", []).extend(ids)
                st.success(f"Started {len(ids)} training job(s); they are listed under Jobs below.")

st.subheader("Jobs")


def _follow(job_id: str) -> None:
    """Announce this job when it finishes, as for a training started with the form."""
    st.session_state.setdefault("train_started", []).append(job_id)


def _stopped_cards(mine: list, recent: list) -> list:
    """The recent stopped (failed, cancelled) training jobs worth a card: not those whose run a
    newer job has taken over (resumed), whose story that job's card and message tell."""
    taken_over: set[str] = set()
    cards = []
    for job in mine:  # newest first
        run_id = jobs.job_run_id(job)
        if job in recent and job.status in jobs.FAILURES | {"cancelled"} and run_id not in taken_over:
            cards.append(job)
        if run_id:
            taken_over.add(run_id)
    return cards


def _announce_finished(listed: list, recent: list) -> None:
    """Say which of the trainings started here finished lately (``recent``: the last half hour's),
    and show the newest one's run below."""
    started = st.session_state.get("train_started", [])
    done = [j for j in recent if j.id in started and j.status == "done"]
    for job in done[:3]:  # newest first
        made = markdown_text(jobs.job_made(job) or "the run")
        st.success(f"Finished: **{made}**. It is listed under Runs below.")
    seen = st.session_state.setdefault("train_seen", [])
    fresh = [j for j in listed if j.id in started and j.finished_state and j.id not in seen]
    if fresh:
        seen.extend(j.id for j in fresh)
        newest = next((j for j in fresh if j.status == "done"), None)
        if newest is not None and jobs.job_run_id(newest):
            widgets.follow_item("train_run_pick", jobs.job_run_id(newest))  # show the new run
        st.rerun()  # the runs list and table lie outside this fragment


@st.fragment(run_every=2)
def _live_jobs() -> None:
    listed = jobs.list_jobs()
    mine = [j for j in listed if j.kind in ("train", "resume")]
    recent = [j for j in mine[:10] if time.time() - (j.finished or 0) < 1800]
    live, stopped = [j for j in mine if not j.finished_state], _stopped_cards(mine, recent)[:3]
    cards = {card.id: card for card in jobs.job_cards(listed, live + stopped)}  # no further read
    for job in live:
        with st.container(border=True):
            card = cards[job.id]
            widgets.job_card(card, key="_train")
            curves = jobs.job_loss_curves(card, tracking.DEFAULT_SMOOTHING)
            if curves:
                tracking_widgets.loss_plot(curves, key=f"loss_{job.id}", what=card.title)
    for job in stopped:
        # the error, and Resume where it can continue; a resumed run's job is followed like a new one
        widgets.job_card(cards[job.id], key="_train_stopped", on_resume=_follow)
    _announce_finished(listed, recent)
    if listed:
        with st.expander(f"All jobs ({len(listed)})"):
            widgets.jobs_table(listed, key="train_jobs")
    else:
        st.caption("No jobs yet.")


_live_jobs()


#: The runs table's columns: the short ones shown always, the details with "All columns".
RUN_COLUMNS = ("run", "status", "vs persistence", "tags")
RUN_DETAIL_COLUMNS = (
    "epochs run",
    "best val loss",
    "full name",
    "from",
    "model",
    "device",
    "dataset",
    "note",
)


def _run_columns(rows: list[dict], every: bool) -> tuple[str, ...]:
    """The runs table's columns: the short ones (tags only once a run has some), and with
    ``every`` the details too."""
    short = tuple(c for c in RUN_COLUMNS if c != "tags" or every or any(r.get("tags") for r in rows))
    return short + (RUN_DETAIL_COLUMNS if every else ())


@st.fragment(run_every=5)
def _runs_table(group: str, text: str) -> None:
    rows = tracking.run_table_rows(runs.list_runs(), group, text)  # re-read each tick: status stays current
    # The run by its short name (model and what tells it from the others); its full name is one
    # of the detail columns.
    for row, short in zip(rows, short_names([r["run"] for r in rows]), strict=True):
        row["full name"] = row["run"]
        row["run"] = short
    # The short columns fit a 1024-px projector; the rest on request (the table then scrolls sideways).
    every = st.toggle("All columns", key="train_runs_all", help="Also the epochs run, best validation loss, "
                      "full name, origin, model, device, dataset and note of each run.")  # fmt: skip
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        key="train_runs",
        column_order=_run_columns(rows, every),
        column_config={
            "id": None,  # the id is one click away, under "Id, rename, delete"
            "epochs run": st.column_config.NumberColumn(
                "epochs run",
                help="Fewer than the run's name asks for when validation stopped improving "
                "(training stops early) or the job was stopped.",
            ),
        },
    )


def _run_details(run, title: str) -> None:
    """What one run learned: its loss curve, metrics beside persistence, downloads, the model."""
    if run.history:
        tracking_widgets.loss_chart(run, key="train_run_loss")
        st.caption(training.LOSS_EXPLAINED)
    warning = runs.run_warning(run)
    if warning:
        st.warning(f"This run's model is {warning}.")
    rows = runs.run_metric_rows(run)
    if rows:
        st.markdown("**Metrics of this run** (persistence: predicting 'next frame = this frame')")
        st.dataframe(rows, hide_index=True, key="train_metrics")
    c1, c2, c3 = st.columns(3)
    if "checkpoint" in run.paths:
        c1.download_button(
            "Checkpoint (.pt)",  # "Download checkpoint (.pt)" was cut at 1024 px: the icon says it
            icon=":material/download:",
            data=runs.run_file(run.id, "checkpoint"),
            file_name=common.download_name(title, ".pt"),
            key="train_dl_ckpt",
            help="Weights and model settings; load it again below or on another machine.",
        )
    if run.metrics or run.history:
        c2.download_button(
            "Metrics (CSV)",
            icon=":material/download:",
            data=runs.run_metrics_csv(run),
            file_name=common.download_name(f"{title} metrics", ".csv"),
            mime="text/csv",
            key="train_dl_metrics",
        )
    if "checkpoint" in run.paths and c3.button(
        "Load this run's model",
        key="train_load",
        help="Rebuild the model from its checkpoint (weights only).",
    ):
        try:
            st.session_state["train_loaded"] = (run.id, cache.run_model_summary(run.id))
            st.session_state["cmp_focus"] = run.id  # Compare opens on this run and its dataset
        except Exception as exc:  # CheckpointError, FileNotFoundError: a message, not a traceback
            widgets.show_problem("Could not load this run's checkpoint.", exc)
    loaded = st.session_state.get("train_loaded")
    if loaded and loaded[0] == run.id:
        info = loaded[1]
        st.success(
            f"Loaded: {model_label(info['model'])} with {info['parameters']:,} parameters, rebuilt from "
            "the checkpoint. It is ready to roll out on the Compare page."
        )
        st.page_link("app_pages/compare.py", label="Open the Compare page", icon=":material/compare:")


st.subheader("Runs")
listed_runs = runs.list_runs()
if not listed_runs:
    st.caption("No runs yet.")
else:
    titles, groups = runs.run_titles(listed_runs), tracking.run_groups(listed_runs)
    group, text = tracking_widgets.origin_filter(groups, key="train_filter")
    _runs_table(group, text)
    shown = tracking.filter_runs(listed_runs, titles, groups, group, text)
    tracking_widgets.filter_caption(len(shown), len(listed_runs), "runs")
    with st.expander("Loss curves of several runs, overlaid"):
        chosen = st.multiselect("Runs to overlay", titles, default=titles[:3], key="train_overlay")
        which = st.radio("Loss", ["validation", "train"], horizontal=True, key="train_overlay_which")
        smoothing = tracking.DEFAULT_SMOOTHING
        if which == "train":
            smoothing = st.slider(
                "Smoothing", 0.0, 0.99, tracking.DEFAULT_SMOOTHING, 0.01, key="train_overlay_smoothing",
                help="An exponential moving average of each run's per-step loss (TensorBoard's).",
            )  # fmt: skip
        picked_runs = [listed_runs[titles.index(t)] for t in chosen]
        overlay = tracking.loss_overlay(picked_runs, chosen, which, smoothing)
        if overlay["series"]:
            st.plotly_chart(
                figures.line_figure(
                    {name: y for name, (_, y) in overlay["series"].items()},
                    series_x={name: x for name, (x, _) in overlay["series"].items()},
                    title=f"{which} loss per {overlay['x_title']}",
                    xaxis_title=overlay["x_title"],
                    yaxis_title=training.LOSS_AXIS_TITLE,
                    log_y=True,
                ),
                key="train_overlay_chart",
                width="stretch",
                theme=None,
            )
    if shown:
        found, titles = [listed_runs[i] for i in shown], [titles[i] for i in shown]
        first = tracking.default_run(found, [groups[i] for i in shown])  # the person's newest own
        picked = widgets.item_picker("Look at a run", titles, [r.id for r in found], "train_run_pick", first)
        run = found[picked]
        if widgets.manage_item("run", run.id, run.shipped, titles[picked], key="train_manage"):
            widgets.follow_item("train_run_pick", run.id)  # renamed: still shown; deleted: the first
            st.rerun()
        if run.damaged:
            widgets.show_damaged("run", run.damaged)
        else:
            with st.expander("Notes and tags", expanded=False):
                tracking_widgets.notes_editor(run, key="train_notes")
            _run_details(run, titles[picked])

st.subheader("Load a checkpoint file")
upload = st.file_uploader(
    "Checkpoint (.pt) saved by this project",
    type=["pt", "pth"],
    key="train_upload",
    help="Read weights-only: a file holding Python code is refused, never run.",
)
if upload is not None:
    # The uploader keeps its file across reruns: import each upload once, not on every rerun.
    imported = st.session_state.setdefault("train_imported", {})
    if upload.file_id not in imported:
        try:
            imported[upload.file_id] = runs.import_checkpoint(upload.name, upload.getvalue())
        except Exception as exc:  # CheckpointError, ValueError: a clear message, nothing saved
            imported[upload.file_id] = exc
    outcome = imported[upload.file_id]
    if isinstance(outcome, Exception):
        widgets.show_problem(f"The file {upload.name!r} was rejected.", outcome)
    else:
        said = f"Loaded {upload.name} as a new run; it is now listed above and on the Compare page."
        st.success(markdown_text(said))
