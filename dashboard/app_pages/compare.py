"""Compare page: rollouts of several runs against the ground truth, errors and symmetry."""

from __future__ import annotations

import streamlit as st

from core.service import comparison, datasets, runs, symmetry_view, tracking
from dashboard import cache, ee_figures, field_figures, pattern_figures, tracking_widgets, widgets
from dashboard.text import markdown_text, short_names

st.title("Compare models")

listed = runs.list_runs()
usable = [r for r in listed if "checkpoint" in r.paths and not r.damaged]
damaged = sum(1 for r in listed if r.damaged)
if damaged:  # never hidden without a word: the Train page lists them with their line, and deletes them
    st.caption(
        f"{damaged} damaged run{'s' if damaged != 1 else ''} not offered (a file of "
        f"{'theirs' if damaged != 1 else 'its'} cannot be read): see and delete them on the Train page."
    )
if not usable:
    st.error("No trained run with a checkpoint yet: train one on the Train page.")
    st.stop()

# Runs are compared on one dataset: the one they were trained on (uploads fit any).
choices = tracking.compare_datasets(usable)
by_dataset, names, uploads, orphans = choices.by_dataset, choices.names, choices.uploads, choices.orphans
if orphans:
    st.caption(
        f"{orphans} run{'s' if orphans != 1 else ''} not listed: trained on a dataset that was "
        f"deleted. {'Its' if orphans == 1 else 'Their'} weights are kept (Train page)."
    )
if not by_dataset:
    st.error("None of the runs' datasets is here: generate one and train on it (Data and Train pages).")
    st.stop()
titles = {n: datasets.dataset_title(n) for n in names}
# A run sent here from the Train page ("Load this run's model") is shown on its own dataset.
focus = st.session_state.pop("cmp_focus", None)
focus_dataset = next((n for n in names if focus in {r.id for r in by_dataset[n]}), None)
if focus_dataset is not None:
    st.session_state["cmp_dataset"] = focus_dataset
elif st.session_state.get("cmp_dataset") not in names:  # first visit, or its dataset went
    st.session_state["cmp_dataset"] = choices.default  # where the person's newest own run is
dataset = st.selectbox(
    "Dataset",
    names,
    key="cmp_dataset",
    format_func=lambda n: f"{titles[n]}: {len(by_dataset[n])} run{'s' if len(by_dataset[n]) != 1 else ''}",
    help="Runs trained on this dataset (and uploaded checkpoints) can be compared on it.",
)
candidates = by_dataset[dataset] + uploads
labels = runs.run_titles(candidates)
ids = [r.id for r in candidates]
runs_key = f"cmp_runs_{dataset}"  # one remembered selection per dataset: switching back keeps it
remembered = st.session_state.get(runs_key, runs.compare_defaults(candidates))
shown = [label for label in remembered if label in labels]
if focus in ids:
    sent = labels[ids.index(focus)]
    shown = [sent] + [label for label in shown if label != sent][:3]
st.session_state[runs_key] = shown  # renamed or deleted runs drop out of a remembered choice
groups = [choices.groups[r.id] for r in candidates]  # read once, with the datasets
group, text = tracking_widgets.origin_filter(groups, key="cmp_filter")
kept = set(tracking.filter_runs(candidates, labels, groups, group, text))
tracking_widgets.filter_caption(len(kept), len(labels), "runs")
picked = st.multiselect(
    "Runs",
    [label for i, label in enumerate(labels) if i in kept or label in shown],  # the picked ones stay
    key=runs_key,
    help="Pick two or more runs trained on this dataset. Runs are compared on the dataset they "
    "were trained on: to set your own run beside the shipped ones, train it on the shipped dataset.",
)
chosen = [candidates[labels.index(p)] for p in picked]
if len(chosen) >= 2:
    with st.expander("Settings that differ between these runs", expanded=True):
        tracking_widgets.settings_diff(chosen, picked, key="cmp_settings")
available = (
    comparison.split_choices([r.id for r in chosen]) if chosen else {"test-future": 1, "test-domain": 1}
)
splits = [name for name, n in available.items() if n > 0] or ["test-future"]
c2, c3, c4 = st.columns([2, 1, 1])
split = c2.radio(
    "Split",
    splits,
    horizontal=True,
    key="cmp_split",
    format_func=comparison.split_title,
    help="test-future: later frames of the training simulations; test-domain: held-out simulations "
    "whose buoyancy strengths were never trained on.",
)
if available.get("test-domain", 0) == 0:
    c2.caption(
        f"{comparison.split_title('domain')} needs a dataset with 2 or more simulations per orientation "
        "(this one holds none out)."
    )
n_sims = max(available.get(split, 1), 1)
if st.session_state.get("cmp_sim") not in range(n_sims):
    st.session_state["cmp_sim"] = 0  # the other split (or dataset) holds fewer simulations
sim = c3.selectbox("Simulation", list(range(n_sims)), key="cmp_sim", help=f"{n_sims} in this split.")
orientation = c4.selectbox(
    "Orientation", [0, 1, 2, 3], key="cmp_orient", format_func=lambda k: f"{k} ({90 * k}°)"
)
if len(picked) < 2:
    st.info(
        "Pick at least two runs to compare."
        if len(labels) >= 2
        else "Only one run can be shown on this dataset: runs are compared on the dataset they "
        "were trained on. Train another model on it (Train page, the same dataset) to compare "
        "the two, or train yours on the shipped dataset to set it beside the shipped runs."
    )
    if not picked:
        st.stop()

try:
    key = (
        tuple(r.id for r in chosen),
        split,
        int(sim),
        int(orientation),
    )
    result = cache.compare(*key)
    figs = cache.compare_figures(*key)
except Exception as exc:  # missing dataset, bad split, bad checkpoint: a message, no traceback
    widgets.show_problem("Could not compute the rollouts.", exc)
    st.stop()

for note in result["notes"]:
    st.warning(markdown_text(note))  # names runs: plain text
if not result["predictions"]:
    st.stop()

st.subheader(f"Rollouts over {result['steps']} steps: |v|")
st.plotly_chart(
    figs["rollout"],
    key="cmp_rollout",
    width="stretch",
    theme=None,
)
st.subheader("Where each model is wrong: |prediction − truth|")
st.plotly_chart(
    figs["errors"],
    key="cmp_errors",
    width="stretch",
    theme=None,
)

left, right = st.columns(2)
with left:
    st.plotly_chart(
        figs["rmse"],
        key="cmp_rmse",
        width="stretch",
        theme=None,
    )
with right:
    st.plotly_chart(figs["equivariance"], key="cmp_ee", width="stretch", theme=None)

st.subheader("Metrics")
st.caption(
    "Over the rollout shown above only (one simulation, one orientation, this split), so these "
    "differ from a run's stored metrics on the Train page, which cover every simulation and "
    "orientation (RMSE) and every Figure-4 state (equivariance error). Persistence RMSE: the error "
    "of predicting 'next frame = this frame', the trivial baseline a model has to beat. "
    "Equivariance errors in velocity units."
)
# Each run by its short name (as in the legends; the full names are in "Runs" above), so the
# numbers fit beside it on a 1024-px screen.
shorts = short_names([row["run"] for row in result["table"]])
st.dataframe(
    [{**row, "run": short} for row, short in zip(result["table"], shorts, strict=True)],
    hide_index=True,
    width="stretch",
    key="cmp_table",
    column_config={
        "id": None,  # run ids: on the Train page, under "Id, rename, delete"
        "run": st.column_config.TextColumn("run"),
        # E2CNN's error is float round-off (1e-8): "1.00e-8" reads as that, "0.00000001" does not.
        "equivariance error": st.column_config.NumberColumn("equivariance error", format="%.2e"),
        "relative equivariance error": st.column_config.NumberColumn("relative EE", format="%.2e"),
    },
)


def _symmetry_kept(chosen: list) -> None:
    """Each run's model EE per rotation beside the data's on the same states, and the symmetry
    each kept, in words (from the runs' stored evaluations)."""
    st.subheader("Which symmetry each model kept, beside the data's")
    try:
        kept = cache.run_symmetry(tuple(r.id for r in chosen))
    except Exception as exc:  # an unreadable run or dataset: a message, the rest of the page stays
        widgets.show_problem("Could not read the runs' errors per rotation.", exc)
        return
    for note in kept["notes"]:
        st.caption(markdown_text(note))
    if not kept["models"]:
        return
    st.caption(
        "One-step equivariance error per rotation on every Figure-4 state (each run's stored "
        "evaluation), and the data's on the same states: a model that learnt the data's symmetry "
        "and no more has bars like the data's. " + symmetry_view.threshold_text()
    )
    left, right = st.columns([3, 2])
    left.plotly_chart(
        ee_figures.per_element_figure({**kept["models"], **kept["data"]}, kept["names"]),
        key="cmp_kept",
        width="stretch",
        theme=None,
    )
    right.markdown("\n".join(f"- {markdown_text(sentence)}" for _, sentence in kept["sentences"]))


_symmetry_kept(chosen)


def _spectrum(name: str, layers: list) -> None:
    """A relaxed run's symmetry-breaking energy per C4 irrep and layer, with what it means."""
    energies = [d["irrep_energy"] for d in layers if d["irrep_energy"]]
    if not energies:
        return
    st.plotly_chart(
        pattern_figures.irrep_spectrum_figure(energies),
        key=f"cmp_relax_spectrum_{name}",
        width="stretch",
        theme=None,
    )
    st.caption(
        "Energy in the sign irrep breaks quarter-turns only; energy in the ±i pair breaks "
        "half-turns too. On data that keeps the half-turn, a model that found the symmetry left "
        "has its ±i bars far below its sign bars."
    )


relaxed = {name: layers for name, layers in result["relaxation"].items() if layers}
if relaxed:
    st.subheader("Relaxed models: where their relaxed weights left exact symmetry")
    st.caption(
        "RSteer's kernel is Σ w_l(y)·Φ_l(y), RGroup's Σ w_l(h)·Ψ_l(g⁻¹h). Equal w_l at every kernel "
        "offset y (every group element h) means exact C4 equivariance. *Deviation*: how far the "
        "learned weights moved from their mean over offsets; "
        "*asymmetry*: the part of that which differs between rotated offsets, i.e. what breaks C4. "
        "Both relative to the mean |w|, per layer, offsets drawn where they lie in space. "
        "*Energy*: the share of the weights in each C4 irrep part; weight outside *trivial* "
        "shows which symmetry the model learned to break (sign: breaks 90° but keeps 180°)."
    )
    for name, layers in relaxed.items():
        st.markdown(f"**{markdown_text(name)}**")
        st.dataframe(
            [
                {
                    "layer": d["name"],
                    "relative deviation": d["relative_deviation"],
                    "relative asymmetry": d["relative_asymmetry"],
                    **{f"energy: {part}": e for part, e in d["irrep_energy"].items()},
                }
                for d in layers
            ],
            hide_index=True,
            key=f"cmp_relax_table_{name}",
            # short headers and three digits, so the six columns fit a 1024-px screen
            column_config={
                "relative deviation": st.column_config.NumberColumn("deviation", format="%.3f"),
                "relative asymmetry": st.column_config.NumberColumn("asymmetry", format="%.3f"),
                **{
                    f"energy: {part}": st.column_config.NumberColumn(
                        f"E {part}", format="%.3f", help=f"Share of the weights' energy in the {part} part."
                    )
                    for part in (layers[0]["irrep_energy"] if layers else {})
                },
            },
        )
        _spectrum(name, layers)
        layers = [d for d in layers if d["deviation"] is not None]  # RGroup's weights have no offsets
        if not layers:
            continue
        st.plotly_chart(
            field_figures.relaxed_weights_figure(
                [(d["name"], d["deviation"]) for d in layers], "deviation from tied weights", "|w − mean w|"
            ),
            key=f"cmp_relax_dev_{name}",
            width="stretch",
            theme=None,
        )
        st.plotly_chart(
            field_figures.relaxed_weights_figure(
                [(d["name"], d["asymmetry"]) for d in layers], "C4-breaking part", "|w − orbit mean|"
            ),
            key=f"cmp_relax_asym_{name}",
            width="stretch",
            theme=None,
        )
