"""The landing page's lesson on breaking patterns: break the symmetry two ways and watch the models
find what is left. It reads a pattern sweep (rows carrying ``breaking``) through core.service and
only draws."""

from __future__ import annotations

import streamlit as st

from core.service import sweeps, symmetry_view
from dashboard import cache, ee_figures, pattern_figures, widgets
from dashboard.text import markdown_text, plotly_text

LESSON_TITLE = "Break the symmetry two ways and watch the models find what is left"

LESSON_TEXT = (
    "The dial sets *how much* the four plumes differ; the **breaking pattern** sets *which* differ. "
    "With **half-turn kept**, opposite plumes are equal: turning the box by 180° still maps the "
    "physics onto itself, so the data's 180° error is zero while its 90° and 270° are not. With "
    "**all rotations broken** every turn changes the physics.\n"
    "1. **Data page**: pick a pattern and watch the plume picture; generate both patterns at the "
    "same Δb and read each one's error per rotation and the symmetry it keeps.\n"
    "2. **Below**: a pattern sweep trained ConvNet, E2CNN and the relaxed models on each pattern. "
    "E2CNN keeps all rotations whatever the data; ConvNet has no symmetry built in; a relaxed "
    "model starts symmetric and breaks only what the data breaks, so on half-turn data it keeps "
    "the half-turn.\n"
    "3. **Compare page**: a relaxed run's weight spectrum shows it: energy in the sign irrep "
    "breaks quarter-turns only, energy in the ±i pair breaks half-turns too."
)


#: The lesson expander's key: its open state lives in session state under it.
LESSON_KEY = "lesson_open"


def pattern_lesson() -> None:
    """Draw the lesson: its text, then the chosen pattern sweep's data vs model EE per rotation
    (one panel per pattern) with each one's named symmetry, or a note when no pattern sweep exists."""
    # Drawn only while open (on_change="rerun"): its figures cost every landing 0.2 s of script
    # and three plots' rendering in the browser.
    box = st.expander(f"Lesson: {LESSON_TITLE}", expanded=False, key=LESSON_KEY, on_change="rerun")
    with box:
        if not box.open:
            return
        st.markdown(LESSON_TEXT)
        entries = [e for e in sweeps.sweep_entries() if not e.damaged and cache.is_pattern_sweep(str(e.path))]
        if not entries:
            st.info(
                "No pattern sweep is available yet: a sweep over breaking patterns (the 'patterns' "
                "preset) shows here once it has finished points."
            )
            return
        entry = entries[0]
        if len(entries) > 1:
            entry = widgets.pick_entry("Pattern sweep", entries, key="lesson_sweep")
        try:
            levels = cache.pattern_sweep_levels(str(entry.path))
            level = levels[-1]
            if len(levels) > 1:  # one level needs no slider
                level = st.select_slider("Buoyancy difference Δb", levels, value=level, key="lesson_level")
            else:
                st.caption(f"Buoyancy difference Δb {level:g}, the sweep's one level.")
            view = cache.pattern_sweep_view(str(entry.path), float(level))
        except Exception as exc:  # an unreadable sweep: one line, the page stays
            widgets.show_problem("Could not read this pattern sweep.", exc)
            return
        _panels(view)
        if st.toggle("Figure 4 per rotation", key="lesson_fig4"):
            _figure4_per_rotation(view)
        _spectra(cache.pattern_spectra(str(entry.path), float(level)), view["order"])
        st.caption(symmetry_view.threshold_text())


def _panels(view: dict) -> None:
    """One panel per pattern: grouped bars of each model's EE per rotation and the data's, and the
    symmetry each keeps in words."""
    columns = st.columns(max(len(view["order"]), 1))
    for column, pattern in zip(columns, view["order"], strict=False):
        panel = view["patterns"][pattern]
        fig = ee_figures.per_element_figure(panel["errors"], panel["models"])
        fig.update_layout(title=panel["words"], height=320)
        with column:
            st.plotly_chart(fig, key=f"lesson_bars_{pattern}", width="stretch", theme=None)
            st.markdown("\n".join(f"- {markdown_text(sentence)}" for _, sentence in panel["sentences"]))


def _figure4_per_rotation(view: dict) -> None:
    """Per pattern: x = the data's one-step EE of rotation g, y = the model's, one line per model
    and rotation, over the sweep's levels."""
    columns = st.columns(max(len(view["order"]), 1))
    for column, pattern in zip(columns, view["order"], strict=False):
        panel = view["patterns"][pattern]
        curves = {
            f"{label} {key}°": tuple(points)
            for label, per in panel["points"].items()
            for key, points in per.items()
        }
        column.plotly_chart(
            ee_figures.equivariance_figure(
                curves, title=panel["words"], x_title="data one-step EE of rotation g", diagonal=True
            ),
            key=f"lesson_fig4_{pattern}",
            width="stretch",
            theme=None,
        )


def _spectra(spectra: dict, order: list[str]) -> None:
    """The relaxed models' symmetry-breaking energy per C4 irrep, one panel per pattern (only where
    the sweep's runs are here)."""
    shown = [p for p in order if spectra.get(p)]
    if not shown:
        return
    st.markdown("**Where the relaxed models broke symmetry, per pattern**")
    columns = st.columns(len(shown))
    for column, pattern in zip(columns, shown, strict=True):
        for label, layers in spectra[pattern].items():
            column.plotly_chart(
                pattern_figures.irrep_spectrum_figure(
                    layers, title=plotly_text(f"{label}: {symmetry_view.pattern_words(pattern)}")
                ),
                key=f"lesson_spectrum_{pattern}_{label}",
                width="stretch",
                theme=None,
            )
    st.caption(
        "Energy in the sign irrep breaks quarter-turns only; energy in the ±i pair breaks half-turns "
        "too. On half-turn data a relaxed model that found the symmetry left keeps its ±i bars near "
        "round-off; on data with every rotation broken they rise to the sign bars' size."
    )
