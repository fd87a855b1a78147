"""Landing page: the model-vs-data equivariance-error plot (the paper's Figure 4)."""

from __future__ import annotations

import time

import streamlit as st

from core.models.registry import model_names
from core.service import actions, views
from dashboard import cache, figures, widgets

st.title("How much symmetry did each model learn?")

left, right = st.columns([3, 2], gap="large")

with right:
    st.markdown(
        """
**Approximate equivariance** (Def. 2.1 of Wang, Walters & Yu, ICML 2022): a model *f* is
ε-approximately equivariant to a group *G* when rotating its input changes its output by
(almost) the same rotation:
"""
    )
    st.latex(r"\| f(\rho_X(g)\,x) - \rho_Y(g)\,f(x) \| \le \varepsilon \quad \text{for all } g \in G")
    st.markdown(
        """
Here *G* = C4 (turns by 0, 90, 180, 270°). The four smoke plumes of a dataset are the
same simulation turned by those angles, except that their **buoyancy differs**: the
larger the difference, the less symmetric the data (its *data equivariance error*:
how far orientation *k* turned back differs from orientation 0).

**The plot** puts, for each dataset of a sweep, the data's error on the x axis and each
trained model's error on the y axis. The dashed diagonal is *y = x*: a model on it
has exactly as much symmetry as its data.

In the paper's Figure 4:

- **ConvNet** has no built-in symmetry and learns too little of it.
- **E2CNN** is exactly C4-equivariant by construction: flat at zero, whatever the data.
- **RSteer** relaxes the constraint and learns how much symmetry there is: near zero on
  symmetric data, rising as the data's symmetry breaks.

The model's error is measured on its one-step prediction, the data's on whole
trajectories, so a model can track the data's trend below the diagonal, as RSteer
does in the shipped sweep.
"""
    )

with left:
    sweeps = views.sweep_entries()
    if not sweeps:
        st.warning(
            "No finished sweep found: neither shipped results in the assets folder nor a sweep of "
            "yours. Start one below."
        )
    else:
        labels = [s.label for s in sweeps]
        chosen = st.selectbox(
            "Sweep", labels, index=0, key="sym_sweep", help="The shipped sweep, or any sweep you ran."
        )
        entry = sweeps[labels.index(chosen)]
        try:
            curves = cache.sweep_curves(str(entry.path), cache.mtime(entry.path))
        except (OSError, ValueError, KeyError) as exc:
            widgets.show_problem(f"Could not read the sweep {entry.name!r}.", exc)
        else:
            if not curves:
                st.info("This sweep has no finished points yet.")
            else:
                st.plotly_chart(
                    figures.equivariance_figure(curves), key="sym_plot", width="stretch", theme=None
                )

st.divider()
st.subheader("Run a new sweep in the background")
if st.toggle("Set up a new sweep", key="sym_setup", help="Shows the sweep's settings."):
    with st.form("sweep_form"):
        c1, c2, c3 = st.columns(3)
        levels_text = c1.text_input(
            "Buoyancy differences",
            value="0, 0.1, 0.2, 0.4",
            help="Comma-separated symmetry-breaking levels; one dataset per level (0 = symmetric).",
        )
        models = c2.multiselect(
            "Models",
            list(model_names()),
            default=list(model_names()),
            help="Each model is trained per level.",
        )
        epochs = c3.number_input(
            "Epochs", min_value=1, max_value=200, value=4, help="Training epochs per run."
        )
        c4, c5, c6 = st.columns(3)
        grid = c4.selectbox("Grid", [16, 32, 64], index=1, help="Cells per side of each simulation.")
        frames = c5.number_input("Frames per simulation", min_value=12, max_value=200, value=24)
        preset = c6.selectbox(
            "Preset", ["cpu", "gpu"], help="Base settings (sizes, learning rate) the fields above override."
        )
        submitted = st.form_submit_button("Start sweep", type="primary")
    if submitted:
        try:
            levels = [float(v) for v in levels_text.replace(";", ",").split(",") if v.strip()]
            job_id = actions.submit_sweep(
                levels=levels,
                models=models,
                preset=preset,
                data={"grid": int(grid), "frames": int(frames)},
                train={"epochs": int(epochs)},
            )
        except ValueError as exc:
            widgets.show_problem("The sweep settings are not valid.", exc)
        except Exception as exc:  # a job that cannot start must not take the page down
            widgets.show_problem("Could not start the sweep.", exc)
        else:
            st.success(f"Sweep started as job {job_id}; pick it in the list above to watch it fill in.")
else:
    st.caption("A sweep generates one dataset per buoyancy difference and trains each model on it.")


@st.fragment(run_every=3)
def _sweep_jobs() -> None:
    jobs = [j for j in actions.list_jobs() if j.kind == "sweep"]
    for job in jobs[:3]:
        failed = job.status in ("failed", "diverged", "interrupted")
        if not job.finished_state or (failed and time.time() - (job.finished or 0) < 1800):
            widgets.job_progress(job)  # a recent failure shows as an error box
    widgets.jobs_table(jobs, key="sym_jobs")


_sweep_jobs()
