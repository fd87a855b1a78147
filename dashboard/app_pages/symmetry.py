"""Landing page: a guided start, the model-vs-data equivariance-error plot (the paper's Figure 4),
and new sweeps."""

from __future__ import annotations

import contextlib
import time

import streamlit as st

from core.models.registry import model_label, model_names
from core.service import common, estimates, jobs, runs, sweeps, training
from dashboard import cache, ee_figures, figures, widgets
from dashboard.pattern_lesson import pattern_lesson
from dashboard.text import markdown_text

st.title("How much symmetry did each model learn?")

with st.container(border=True):
    st.markdown(
        "**First time here? Three steps for a lesson** (the results below are ready at once):\n"
        "1. **Look at the plot below**: each point is a model trained on data with a buoyancy "
        "difference Δb; the further right, the less symmetric the data.\n"
        "2. **Data page**: generate a dataset with a larger buoyancy difference (under "
        "*Generate a new dataset*, a few seconds) and watch the four rotated smoke plumes stop "
        "matching each other.\n"
        "3. **Compare page**: roll ConvNet, E2CNN and RSteer out side by side and see which keeps "
        "the symmetry (or train your own on the **Train** page first)."
    )
    pattern_lesson()  # the breaking-pattern lesson (dashboard/pattern_lesson.py)

AXIS_TEXT = {
    "one_step": "x: data one-step EE (matched)",
    "trajectory": "x: data trajectory EE (paper's)",
}


def _accuracy_table(accuracy: list[dict]) -> None:
    """The sweep's RMSE and persistence's per level and model, under short headers (1024 px)."""
    columns = widgets.column_settings(sweeps.sweep_accuracy_columns(accuracy))
    st.dataframe(accuracy, hide_index=True, width="stretch", key="sym_accuracy", **columns)


def _accuracy(entry, accuracy: list[dict]) -> None:
    """The sweep's accuracy: RMSE / persistence against Δb on both splits, who leads, the table."""
    ratios = cache.sweep_accuracy_ratios(str(entry.path))
    if not ratios:
        st.caption("This sweep predates the persistence baseline; newer sweeps show it beside each RMSE.")
        _accuracy_table(accuracy)
        return
    st.caption(
        "Persistence predicts 'next frame = this frame': a model is only useful below 1. "
        "test-future (later frames) rolls out the last, fastest frames of the training simulations; "
        "test-domain (unseen buoyancy strengths) held-out simulations from their start. With "
        "several training seeds each point is their mean, its bar ± their std."
    )
    columns = st.columns(2)
    for column, split in zip(columns, ("test-future", "test-domain"), strict=True):
        if split not in ratios:
            continue
        levels = ratios[split]["levels"]
        series = {**ratios[split]["ratios"], "persistence (= 1)": [1.0] * len(levels)}
        column.plotly_chart(
            figures.line_figure(
                series,
                title=ratios[split]["title"],  # the y axis says "RMSE / persistence"
                xaxis_title="buoyancy difference Δb",
                yaxis_title="RMSE / persistence",
                x=levels,
                errors=ratios[split]["spread"],
            ),
            key=f"sym_accuracy_{split}",
            width="stretch",
            theme=None,
        )
    st.markdown("\n".join(f"- {line}" for line in ratios["summary"]))
    _accuracy_table(accuracy)


def _resume(entry) -> None:
    """A stopped sweep of yours (its title says how it stopped): a button that continues it as
    a background job, keeping its finished points."""
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    c1.caption(
        "This sweep stopped before it finished. Resume keeps its finished points and trains the "
        "missing ones with the sweep's own settings, on the engine it ran on."
    )
    if not c2.button("Resume this sweep", key="sym_resume"):
        return
    try:
        job_id = sweeps.resume_sweep(entry.name)
    except jobs.AlreadyQueued as exc:  # a second click: the first one's job runs
        st.info(str(exc))
    except Exception as exc:  # refused (ValueError says why), or a job that cannot start
        widgets.show_problem("Could not resume the sweep.", exc)
    else:
        st.session_state["sym_started"] = job_id
        st.success("Sweep resumed in the background: its job is listed below.")


listed_sweeps = sweeps.sweep_entries()
if not listed_sweeps:
    st.warning(
        "No finished sweep found: neither shipped results in the assets folder nor a sweep of "
        "yours. Start one below."
    )
else:
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    with c1:
        entry = widgets.pick_entry(
            "Sweep", listed_sweeps, key="sym_sweep", help="The shipped sweep, or any sweep you ran."
        )
    if entry.resume_refusal is None:
        _resume(entry)
    try:
        if entry.damaged:
            raise ValueError(entry.damaged)  # refused in its one line, not read
        axes = cache.sweep_axes(str(entry.path))
        axis = c2.radio(
            "Data error on the x axis",
            axes,
            format_func=AXIS_TEXT.get,
            horizontal=True,
            key="sym_axis",
            help="One-step: the true simulator's own one-step error on the states the models are "
            "tested on (comparable with the models). Trajectory: the paper's whole-trajectory error.",
        )
        curves = cache.sweep_curves(str(entry.path), axis or axes[0])
    except (OSError, ValueError, KeyError) as exc:
        if entry.damaged:
            widgets.show_damaged("sweep", entry.damaged)
        else:
            widgets.show_problem("Could not read this sweep.", exc)
        curves, axes, axis = {}, [], None
    if axes == ["trajectory"]:
        st.caption(
            "This sweep was made before the matched one-step data error was recorded: only the "
            "paper's trajectory error is available as x (the models' one-step errors sit below it)."
        )
    if curves:
        x_title = sweeps.SWEEP_AXES[axis or "trajectory"][1]
        matched = axis == "one_step"  # y = x means "as symmetric as the data" only on matched axes
        st.plotly_chart(
            ee_figures.equivariance_figure(curves, x_title=x_title, diagonal=matched),
            key="sym_plot",
            width="stretch",
            theme=None,
        )
        if not matched:
            st.caption(
                "No y = x line on this axis: the paper's trajectory error is a whole-trajectory "
                "error, many times a one-step error (12-14 times in the shipped sweep), so no "
                "model is expected to reach it. Read the ranking and the trend with Δb here; the "
                "one-step axis says how much asymmetry each model learnt."
            )
    elif axes:
        st.info("This sweep has no finished points yet.")
    accuracy = cache.sweep_accuracy(str(entry.path)) if curves else []
    if accuracy:
        box = st.expander(
            "Accuracy per level: each model's rollout error over persistence's, and who leads where",
            key="sym_accuracy_open",
            on_change="rerun",  # drawn only while open: two plots and a table off the landing
        )
        with box:
            if box.open:
                _accuracy(entry, accuracy)
    c3, c4 = st.columns([1, 2])  # [1, 3] cut "Download sweep (CSV)" on a 1024-px screen
    if not entry.damaged:  # a damaged sweep's rows cannot be read: nothing to download
        c3.download_button(
            "Download sweep (CSV)",
            data=sweeps.sweep_csv(entry.path),
            file_name=common.download_name(entry.title, ".csv"),
            mime="text/csv",
            key="sym_csv",
        )
    with c4:
        if widgets.manage_item("sweep", entry.name, entry.shipped, entry.title, key="sym_manage"):
            widgets.follow_item("sym_sweep", entry.name)  # renamed: still shown; deleted: the first
            st.rerun()


def _ee_by_frame(sweep) -> None:
    """Figure 4's points taken apart frame by frame: a level of ``sweep`` (its rows carry the
    per-frame errors) or trained runs whose checkpoints are here."""
    try:
        levels = cache.sweep_frame_levels(str(sweep.path)) if sweep else []
    except (OSError, ValueError, KeyError) as exc:
        widgets.show_problem("Could not read this sweep's frame-by-frame errors.", exc)
        levels = []
    sources = (["sweep"] if levels else []) + ["runs"]
    source = st.radio(
        "Show",
        sources,
        format_func={"sweep": "a level of the sweep above", "runs": "trained runs"}.get,
        horizontal=True,
        key="sym_frame_source",
    )
    result = _sweep_by_frame(sweep, levels) if source == "sweep" else _runs_by_frame()
    if result is None:
        return
    for note in result["notes"]:
        st.caption(markdown_text(note))  # names runs: plain text
    if result["runs"]:
        st.plotly_chart(
            ee_figures.ee_by_frame_figure(result["runs"], result["regions"]),
            key="sym_frame_plot",
            width="stretch",
            theme=None,
        )


def _sweep_by_frame(sweep, levels: list[float]):
    """Every level's split into training and untrained frames, then one chosen level frame by
    frame (from the sweep's rows); None when the file cannot be read."""
    try:
        split = cache.sweep_frame_split(str(sweep.path))
    except (OSError, ValueError, KeyError) as exc:
        widgets.show_problem("Could not read this sweep's frame-by-frame errors.", exc)
        return None
    if split:
        st.caption(
            "Every level at once: each model's EE as a share of the data's, on the frames it was "
            "trained on (solid) and on the later, untrained ones (dotted); Δb = 0 has no data EE "
            "to divide by, so it is not drawn (there the data is exactly symmetric: see Figure 4). "
            "Below: one level, frame by frame."
        )
        st.plotly_chart(
            ee_figures.frame_split_figure(split), key="sym_split_plot", width="stretch", theme=None
        )
    level = st.select_slider(
        "Buoyancy difference Δb", levels, value=levels[-1], key="sym_frame_level", format_func="{:g}".format
    )
    try:
        return cache.sweep_ee_by_frame(str(sweep.path), level)
    except (OSError, ValueError, KeyError) as exc:
        widgets.show_problem("Could not read this sweep's frame-by-frame errors.", exc)
        return None


def _runs_by_frame():
    """Pick runs with a checkpoint and measure them (cached); None when there is nothing to show."""
    usable = [r for r in runs.list_runs() if "checkpoint" in r.paths and not r.damaged]
    if not usable:
        st.caption("No run with a checkpoint here yet: train one on the Train page.")
        return None
    labels = runs.run_titles(usable)
    picked = st.multiselect(
        "Runs",
        labels,
        default=labels[: min(3, len(labels))],
        key="sym_frame_runs",
        help="Runs with a checkpoint; each is measured on the states of its own dataset.",
    )
    chosen = [usable[labels.index(p)] for p in picked]
    if not chosen:
        return None
    try:
        return cache.equivariance_by_frame(tuple(r.id for r in chosen))
    except (OSError, ValueError, KeyError) as exc:
        widgets.show_problem("Could not measure these runs.", exc)
        return None


# A toggle, not an expander: an expander's body runs on every rerun, and measuring takes seconds.
if st.toggle(
    "Frame by frame: where does a model break symmetry?",
    key="sym_frame",
    help="Takes the plot's averages apart, frame by frame, for trained runs (a few seconds the first time).",
):
    st.markdown(
        "Each point of the plot above is an average over every state of a simulation. Here the "
        "same one-step errors are shown per frame: the plume speeds up as it rises, and so does "
        "the data's asymmetry (dashed). The shaded frames were never trained on (validation, "
        "then test-future, whose flows are faster than any in training). A model can match "
        "the data on average by learning too little asymmetry where it was trained and too "
        "much where it extrapolates: the bottom panel (model / data, 1 = follows the data) shows "
        "which. In the shipped sweep RSteer learnt on average 0.83 of the data's asymmetry on "
        "its training frames at Δb 0.3 and 0.68 at 0.9, and 1.47 and 1.12 times it on the "
        "untrained ones. Part of the shortfall may be right, not a fault: with two input "
        "frames a model can read each plume's buoyancy from its last change (a stronger plume "
        "speeds up more), so a symmetric rule can account for some of the difference."
    )
    _ee_by_frame(entry if listed_sweeps else None)


def _axes_explained() -> None:
    """What the axes measure and why they must be matched; the shipped sweep in words (with a
    formula: drawn only while its expander is open, so KaTeX loads only then)."""
    st.markdown(
        "**Approximate equivariance** (Def. 2.1 of Wang, Walters & Yu, ICML 2022): a model *f* is "
        "ε-approximately equivariant to a group *G* when rotating its input changes its output by "
        "(almost) the same rotation:"
    )
    st.latex(r"\| f(\rho(g)\,x) - \rho(g)\,f(x) \| \le \varepsilon \quad \forall g \in G")
    st.markdown(
        """
Here *G* = C4 (turns by 0, 90, 180, 270°). The four plumes of a dataset are the same
simulation turned by those angles, except that their **buoyancy differs** by Δb.

- **y, model EE**: mean |f(g·x) − g·f(x)| of the model's *one-step* prediction on test states.
- **x, data one-step EE** (default when the sweep has it): the same quantity for the *true*
  one-step map (PhiFlow) on the *same* states. By the paper's Proposition 3.3 a model that fits
  the data well can only be as asymmetric as the map it learns, so this is the x that a model
  should follow: on the dashed diagonal *y = x* it has exactly the data's symmetry.
- **x, data trajectory EE**: the paper's measure, over whole trajectories; asymmetry grows along
  a trajectory, so it is larger than any one-step error and models sit below the diagonal.

In the paper's Figure 4: **ConvNet** (no built-in symmetry) carries an asymmetry of its own;
**E2CNN** (exactly C4-equivariant) stays at zero whatever the data; **RSteer** (relaxed)
learns how much symmetry there is: near zero on symmetric data, rising as Δb grows.

In the **shipped sweep** (small models trained for under a minute each on 2 CPU cores; every
model sees the smoke as well as the velocity, since the buoyancy acts on the smoke): E2CNN
stays at zero; RSteer is exactly symmetric on symmetric data and then close to the diagonal
(least-squares slope 0.97); ConvNet carries asymmetry of its own at Δb = 0 and falls below the
diagonal at the larger differences (slope 0.90). RGroup (the paper's relaxed group
convolution, not in its Figure 4) is exactly symmetric on symmetric data and orders the levels
as the data does, but learns about a third of the asymmetry (slope 0.37): its twelve relaxed
weights per layer give each direction its own gain, the same everywhere on the grid. At the
smallest differences ConvNet and RSteer learn about twice the data's small asymmetry (frame
by frame, they learn less than the data where they were trained and more where they
extrapolate: see *Frame by frame* above). All four beat
persistence at every level on both test splits (see *Accuracy per level*). Which is most
accurate the shipped sweep cannot say: it trained one seed per model (one seed: no spread
measured), and two identically configured trainings differ by 3-6% in test-domain RMSE, more
than most gaps between the models. Its lowest RMSE is E2CNN's on test-future (later frames)
at 8 of 10 levels and RSteer's (5) or ConvNet's (3) on test-domain (unseen buoyancy
strengths), each call inside seed noise. The **Table 1** page ranks the models over three
seeds, calling one more accurate only where the gap exceeds the two seed spreads.
"""
    )


axes_box = st.expander(
    "What the axes measure, and why they must be matched", key="sym_axes_open", on_change="rerun"
)
with axes_box:
    if axes_box.open:
        _axes_explained()

st.divider()
st.subheader("Run a new sweep in the background")
engines = sweeps.sweep_engines()
if st.toggle("Set up a new sweep", key="sym_setup", help="Shows the sweep's settings."):
    with st.form("sweep_form"):
        c1, c2, c3 = st.columns(3)
        levels_text = c1.text_input(
            "Buoyancy differences",
            value="0, 0.1, 0.2, 0.4",
            help="Comma-separated levels between 0 and 1 (as on the Data page); one dataset per level.",
        )
        models = c2.multiselect(
            "Models", list(model_names()), default=list(model_names()), format_func=model_label
        )
        epochs = c3.number_input("Epochs", value=4, step=1, help="Training epochs per run.")
        c4, c5, c6, c7 = st.columns(4)
        grid = c4.selectbox("Grid", [16, 32, 64], index=1, help="Cells per side of each simulation.")
        frames = c5.number_input("Frames per simulation", value=24, step=1)
        preset = c6.selectbox(
            "Preset", ["cpu", "gpu"], help="Base settings (sizes, learning rate) the fields above override."
        )
        engine = (
            c7.selectbox(
                "Run on",
                engines,
                format_func={"local": "one run at a time", "ray": "Ray, one run per core"}.get,
                help=sweeps.SWEEP_ENGINE_HELP,
            )
            if engines
            else None
        )
        c8, c9, c10, c11 = st.columns(4)
        hold = c8.number_input(
            "RSteer symmetric start",
            value=0,
            step=1,
            key="sym_hold",
            help=training.SYMMETRIC_START_HELP,
        )
        smoke = c9.checkbox(
            "Models see the smoke",
            value=training.training_defaults()["smoke"],
            key="sym_smoke",
            help=training.SMOKE_INPUT_HELP,
        )
        seeds = c10.number_input(
            "Training seeds", value=1, step=1, key="sym_seeds", help=sweeps.SWEEP_SEEDS_HELP
        )
        patterns = c11.multiselect(
            "Breaking patterns",
            sweeps.breaking_patterns(),
            default=["all"],
            format_func=sweeps.PATTERN_LABELS.get,
            key="sym_patterns",
            help=sweeps.SWEEP_PATTERNS_HELP,
        )
        st.caption(sweeps.sweep_form_hint(int(epochs), int(frames)))
        ranges = sweeps.SWEEP_FORM_RANGES, sweeps.SWEEP_FORM_LABELS
        ranged = ["epochs", "frames", "relaxed_hold", "seeds"]
        st.caption("Ranges: " + common.ranges_text(*ranges, ranged) + ".")
        submitted = st.form_submit_button("Start sweep", type="primary")
        # The settings as last submitted (a form sends its fields with its button only); settings
        # it refuses show no estimate: Start sweep names the field.
        with contextlib.suppress(TypeError, ValueError):
            st.caption(
                estimates.sweep_estimate(
                    levels=sweeps.parse_levels(levels_text),
                    models=tuple(models),
                    preset=preset,
                    data={"grid": int(grid), "frames": int(frames)},
                    train={"epochs": int(epochs), "relaxed_hold": int(hold)},
                    seeds=int(seeds),
                    patterns=tuple(patterns),
                )
            )
    if submitted:
        try:
            levels = sweeps.parse_levels(levels_text)
            extra = {"engine": engine} if engine else {}
            job_id = sweeps.submit_sweep(
                levels=levels,
                models=models,
                preset=preset,
                data={"grid": int(grid), "frames": int(frames)},
                train={"epochs": int(epochs), "relaxed_hold": int(hold)},
                model_options={name: {"smoke": bool(smoke)} for name in models},
                seeds=int(seeds),
                patterns=patterns,
                **extra,
            )
        except jobs.AlreadyQueued as exc:  # a second click: the first one's job runs
            st.info(markdown_text(exc))
        except ValueError as exc:
            widgets.show_problem("The sweep settings are not valid.", exc)
        except Exception as exc:  # a job that cannot start must not take the page down
            widgets.show_problem("Could not start the sweep.", exc)
        else:
            st.session_state["sym_started"] = job_id
            st.success(
                "Sweep started: it is listed below and joins the sweep list once its first point is in."
            )
else:
    st.caption("A sweep generates one dataset per buoyancy difference and trains each model on it.")


@st.fragment(run_every=3)
def _sweep_jobs() -> None:
    listed = [j for j in jobs.list_jobs() if j.kind == "sweep"]
    cards = {card.id: card for card in jobs.job_cards(listed, listed[:3])}
    for job in listed[:3]:
        recent = time.time() - (job.finished or 0) < 1800
        if not job.finished_state or recent:
            widgets.job_card(cards[job.id], key="_sym")
            sweep_id = (job.result or {}).get("sweep_id")
            if sweep_id and st.button("Show this sweep", key=f"show_{job.id}"):
                widgets.follow_item("sym_sweep", sweep_id)
                st.rerun(scope="app")
    if listed:
        with st.expander("All sweep jobs"):
            widgets.jobs_table(listed, key="sym_jobs")


_sweep_jobs()
