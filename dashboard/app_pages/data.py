"""Data page: dial in the symmetry breaking, generate in the background, look at the four plumes."""

from __future__ import annotations

import streamlit as st

from core.service import common, datasets, estimates, generation, jobs, symmetry_view, tracking
from dashboard import cache, ee_figures, pattern_figures, tracking_widgets, widgets
from dashboard.text import markdown_text

st.title("Data: four plumes, one broken symmetry")
st.caption(
    "Each dataset holds four smoke simulations whose inflow and buoyancy direction are turned by "
    "0, 90, 180 and 270°. The buoyancy difference gives them different strengths, which breaks the "
    "C4 symmetry."
)

# Imports and traces the engine while the dial is being set: a click then answers in seconds.
generation.warm_data_engine()


def _cost_words(frames: int, sims: int, warmup: int) -> str:
    """What each grid costs at the form's frames and simulations, before anything starts."""
    try:
        times = estimates.dataset_estimates((16, 32, 64), frames=frames, sims=sims, warmup=warmup)
    except ValueError:  # settings out of range: the Generate click names the field
        return ""
    by_grid = ", ".join(f"grid {g}: {t}" for g, t in times.items())
    return f"Estimated time on this machine at {frames} frames and {sims} sim(s) per orientation: {by_grid}."


def _wait_for_small(job_id: str) -> None:
    """A generation run in this server (a small one) is waited for here, its progress drawn, so the
    page goes on to show the new dataset in this same run: no poll interval, no second run."""
    if not generation.runs_here(job_id):
        return  # a worker process makes it: the job card below follows it
    bar = st.progress(0.0, text="queued")

    def show(job) -> None:
        bar.progress(min(max(job.fraction, 0.0), 1.0), text=markdown_text(job.message or job.status))

    job = generation.wait_for_job(job_id, 120.0, show)
    bar.empty()
    if job.finished_state:
        st.session_state["gen_seen"] = job.id  # shown below in this run: the job list needs no rerun
        made = jobs.job_dataset_path(job)
        entry = next((e for e in datasets.dataset_entries() if e.path == made), None)
        if entry is not None:
            widgets.follow_item("data_choice", entry.name)


with st.expander("Generate a new dataset", expanded=not datasets.dataset_entries()):
    # The dial and the pattern sit outside the form, so the plume picture follows them at once.
    dial, picture = st.columns([3, 1], vertical_alignment="center")
    with dial:
        diff = st.slider(
            "Buoyancy difference",
            min_value=0.0,
            max_value=1.0,
            value=0.6,  # twice the shipped dataset's 0.3: the lesson's "larger difference"
            step=0.05,
            key="gen_diff",
            help="0 gives a perfectly C4-symmetric dataset; larger values break the symmetry more.",
        )
        breaking = st.radio(
            "Breaking pattern",
            symmetry_view.pattern_options(),
            format_func=symmetry_view.pattern_words,
            horizontal=True,
            key="gen_breaking",
            help="Which plumes the buoyancy difference strengthens: all rotations broken (plume k "
            "gets b·(1 + kΔb)); half-turn kept (opposite plumes equal, so the 180° turn is still a "
            "symmetry); one plume differs (only the plume from the bottom wall).",
        )
        st.caption(
            "The picture shows the four plumes seen from above: a dot for each inflow, an arrow "
            "for its buoyancy, as long as its strength (×: over the base buoyancy)."
        )
    picture.plotly_chart(
        pattern_figures.plume_pattern_figure(symmetry_view.strength_factors(float(diff), breaking)),
        key="gen_pattern",
        theme=None,
    )
    with st.form("gen_form"):
        c1, c2, c3, c4, c5 = st.columns(5)
        grid = c1.selectbox("Grid", [16, 32, 64], index=1, key="gen_grid", help="Cells per side.")
        # No bounds on the fields themselves: datasets.dataset_config checks them and says what was wrong.
        frames = c2.number_input("Frames", value=40, step=1, key="gen_frames")
        sims = c3.number_input(
            "Sims per orientation",
            value=1,
            step=1,
            key="gen_sims",
            help="Simulations per orientation; each has its own random inflow position offset.",
        )
        warmup = c4.number_input(
            "Warm-up steps",
            value=0,
            step=1,
            key="gen_warmup",
            help="Steps simulated before the first saved frame: skips the start, where the plume "
            "accelerates until it reaches the lid.",
        )
        seed = c5.number_input("Seed", value=0, step=1, key="gen_seed")
        ranges = datasets.DATA_FORM_RANGES, datasets.DATA_FORM_LABELS
        st.caption("Ranges: " + common.ranges_text(*ranges, ["frames", "sims", "warmup"]) + ".")
        generate = st.form_submit_button("Generate", type="primary")
        st.caption(_cost_words(int(frames), int(sims), int(warmup)))
    if generate:
        try:
            config = datasets.dataset_config(
                buoyancy_diff=float(diff),
                breaking=breaking,
                grid=int(grid),
                frames=int(frames),
                sims=int(sims),
                warmup=int(warmup),
                seed=int(seed),
            )
            made = datasets.existing_dataset(config)
            job_id = None if made else datasets.submit_dataset(config)
        except jobs.AlreadyQueued as exc:  # a second click: the first one's job runs
            st.info(markdown_text(exc))
        except ValueError as exc:
            widgets.show_problem("These generation settings are not valid.", exc)
        except Exception as exc:  # never a traceback on the page
            widgets.show_problem("Could not start the generation job.", exc)
        else:
            if made:  # nothing to simulate: show the one there is
                title = datasets.dataset_title(made)
                st.info(markdown_text(f"A dataset with these settings exists already, shown below: {title}."))
                widgets.follow_item("data_choice", made)
            else:
                st.session_state["gen_job"] = job_id
                st.success(
                    f"Generation started: {config.buoyancy_diff:g} buoyancy difference "
                    f"({symmetry_view.pattern_words(config.breaking)}), {int(grid)}² grid."
                )
                _wait_for_small(job_id)


@st.fragment(run_every=2)
def _generation_progress() -> None:
    listed = [j for j in jobs.list_jobs() if j.kind == "data"]
    active = [j for j in listed if not j.finished_state]
    mine = st.session_state.get("gen_job")
    job = next((j for j in listed if j.id == mine), None)
    cards = {card.id: card for card in jobs.job_cards(listed, active + ([job] if job else []))}
    for job_shown in active:
        widgets.job_card(cards[job_shown.id], key="_data")
    if job is not None and job.finished_state:
        if job.status == "done":
            st.success(markdown_text(f"Finished: {jobs.job_made(job) or 'the new dataset'} is shown below."))
        else:
            widgets.job_card(cards[job.id], key="_data_done")
        if st.session_state.get("gen_seen") != job.id:
            st.session_state["gen_seen"] = job.id
            made = jobs.job_dataset_path(job)
            entry = next((e for e in datasets.dataset_entries() if e.path == made), None)
            if entry is not None:
                widgets.follow_item("data_choice", entry.name)  # show the new dataset
            st.rerun()  # refresh the dataset list outside this fragment


_generation_progress()


def _which_symmetry_is_left(entry) -> None:
    """The dataset's breaking pattern, its data EE per rotation and the symmetry it keeps, in words."""
    st.subheader("Which symmetry is left")
    try:
        left = cache.dataset_symmetry(str(entry.path))
    except Exception as exc:  # a file without what this needs: say so, keep the page
        widgets.show_problem("Could not read this dataset's per-rotation errors.", exc)
        return
    c1, c2 = st.columns([1, 2], vertical_alignment="center")  # the picture's side labels need ~190 px
    c1.plotly_chart(pattern_figures.plume_pattern_figure(left["factors"]), key="data_pattern", theme=None)
    with c2:
        st.markdown(markdown_text(f"Breaking pattern: {left['pattern']}. {left['sentence']}"))
        st.dataframe(
            [
                {"data EE": "one step (matched)", **{f"{k}°": left["one_step"][k] for k in left["one_step"]}},
                {"data EE": "trajectory", **{f"{k}°": left["trajectory"][k] for k in left["trajectory"]}},
            ],
            hide_index=True,
            key="data_per_rotation",
            column_config={
                f"{k}°": st.column_config.NumberColumn(f"{k}°", format="%.3e") for k in left["one_step"]
            },
        )
    c3, c4 = st.columns(2, vertical_alignment="center")
    c3.plotly_chart(
        ee_figures.per_element_figure({"data, one step (matched)": left["one_step"]}),
        key="data_per_rotation_fig",
        width="stretch",
        theme=None,
    )
    c4.caption(
        "The error of rotation g (k quarter-turns) compares orientation k's physics with orientation "
        "0's turned by g: one PhiFlow step from the same states (matched: the states the shipped "
        "models are measured on) and whole trajectories. Zero means that turn is still a symmetry of "
        "the data. " + symmetry_view.threshold_text()
    )


entries = datasets.dataset_entries()
if not entries:
    st.info("No dataset yet: generate one above (the shipped dataset lives in the assets folder).")
    st.stop()

groups = tracking.dataset_groups(entries)
group, text = tracking_widgets.origin_filter(groups, key="data_filter", what="datasets")
shown = tracking.filter_datasets(entries, groups, group, text)
tracking_widgets.filter_caption(len(shown), len(entries), "datasets")
if not shown:
    st.stop()
entries, groups = [entries[i] for i in shown], [groups[i] for i in shown]
entry = widgets.pick_entry(
    "Dataset",
    entries,
    key="data_choice",
    default=tracking.default_dataset(entries, groups),  # the person's newest own, not a sweep's
    help="Named by their settings: Δb · grid · simulations × frames.",
)
note = datasets.dataset_delete_note(entry.name)
if widgets.manage_item("dataset", entry.name, entry.shipped, entry.title, key="data_manage", note=note):
    widgets.follow_item("data_choice", entry.name)  # renamed: still shown; deleted: the first
    st.rerun()
if entry.damaged:
    widgets.show_damaged("dataset", entry.damaged)
    st.stop()
try:
    summary = cache.dataset_summary(str(entry.path))
except Exception as exc:  # a damaged file: say so, keep the page
    widgets.show_problem("Could not read this dataset.", exc)
    st.stop()

# Three metrics a row: five side by side cut their labels and values on a 1024-px screen.
m0, m1, m2 = st.columns(3)
m3, m4, _ = st.columns(3)
one_step = summary["data_ee_one_step"]
m0.metric(
    "Data EE, one step",
    "-" if one_step is None else f"{one_step:.3g}",
    help="How differently the four orientations' physics moves the same state in one PhiFlow step, "
    "averaged over Figure 4's states: the landing page's default x axis. Compare it only between "
    "datasets of the same grid and frames: it grows with the flow's speed, so with time.",
)
m1.metric(
    "Data EE, trajectory",
    f"{summary['data_ee']:.3g}",
    help="The paper's data equivariance error: mean |g⁻¹·orientation k − orientation 0| over "
    "k = 1, 2, 3 and whole trajectories; much larger than the one-step error, since differences "
    "grow along a trajectory (so longer simulations have larger ones).",
)
m2.metric("Buoyancy difference", f"{summary['buoyancy_diff']:g}")
m3.metric("Grid", f"{summary['grid']}×{summary['grid']}")
m4.metric("Simulations × frames", f"{summary['sims']} × {summary['frames']}")
st.caption(
    "Both data errors grow with the flow's speed, so with time: compare them between datasets "
    "of the same grid and number of frames only (a 20-frame dataset at a larger Δb can show a "
    "smaller error than a 40-frame one)."
)

_which_symmetry_is_left(entry)

c1, c2 = st.columns([1, 3])
sims_here = list(range(max(int(summary["sims"]), 1)))
if st.session_state.get("data_sim") not in sims_here:
    st.session_state["data_sim"] = 0  # another dataset with fewer simulations was picked
sim = c1.selectbox("Simulation", sims_here, key="data_sim", help="Which simulation of each orientation.")
view = c2.radio(
    "View",
    ["smoke", "speed"],
    horizontal=True,
    key="data_view",
    format_func=lambda v: "smoke density + velocity arrows" if v == "smoke" else "velocity magnitude |v|",
)
st.plotly_chart(
    cache.orientations_figure(str(entry.path), int(sim), view),
    key="data_anim",
    width="stretch",
    theme=None,
)
st.subheader("Where the orientations disagree")
st.caption(
    "Each orientation k is turned back by −k·90° (its velocity arrows turned with it) and "
    "compared with orientation 0: the colour is |difference| in velocity units, averaged over "
    "k = 1, 2, 3, the simulations and both components, frame by frame. Zero everywhere means "
    "the dataset is exactly C4-symmetric. The colour scale is fixed (0 to half the slowest plume's "
    "top speed), so datasets of the same grid and frames compare by colour."
)
others = [e for e in entries if e.name != entry.name and not e.damaged]
titles = {e.name: e.title for e in others}
beside = st.selectbox(
    "Beside it, on the same colour scale",
    [None] + [e.name for e in others],
    format_func=lambda name: "no other dataset" if name is None else titles[name],
    key="data_map_beside",
    help="Another dataset's map beside this one, both on one colour scale: a larger buoyancy "
    "difference shows as more colour. The scale is fixed (half the slowest plume's top speed), "
    "so it stays put when you switch datasets.",
)
other = next((e for e in others if e.name == beside), None)
st.plotly_chart(
    cache.symmetry_map_figure(
        str(entry.path), None if other is None else (str(other.path), entry.title, other.title)
    ),
    key="data_map",
    width="stretch",
    theme=None,
)
