"""Streamlit caches over the service layer (core.service): nothing here but ``st.cache_*`` wrappers.

Everything that reads a file or computes is cached on (path, modification time), so a
rerun (a widget change, a fragment tick) costs a dictionary lookup. Heavy modules are
imported inside core's functions, so the landing page does not wait for them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from core.service import symmetry_view, views
from dashboard import ee_figures, field_figures, figures


def mtime(path: str | os.PathLike) -> float:
    """Modification time of a file, or the newest of a folder's direct children (0 if missing)."""
    p = Path(path)
    try:
        if p.is_dir():
            return max([p.stat().st_mtime] + [c.stat().st_mtime for c in p.iterdir()])
        return p.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False, max_entries=32)
def sweep_curves(path: str, stamp: float, axis: str = "trajectory") -> dict[str, tuple]:
    """core.service.views.sweep_curves of the sweep in ``path`` with each point's "worse than
    persistence" note (``stamp`` keys the cache)."""
    return views.sweep_curves(path, axis, notes=True)


@st.cache_data(show_spinner=False, max_entries=32)
def sweep_axes(path: str, stamp: float) -> list[str]:
    """core.service.views.sweep_axes: the x axes this sweep's file supports."""
    return views.sweep_axes(path)


@st.cache_data(show_spinner=False, max_entries=32)
def sweep_accuracy(path: str, stamp: float) -> list[dict[str, Any]]:
    """core.service.views.sweep_accuracy: RMSE beside persistence per level and model."""
    return views.sweep_accuracy(path)


@st.cache_data(show_spinner=False, max_entries=32)
def sweep_accuracy_ratios(path: str, stamp: float) -> dict[str, Any]:
    """core.service.views.sweep_accuracy_ratios: RMSE / persistence per level, and who leads where."""
    return views.sweep_accuracy_ratios(path)


@st.cache_resource(show_spinner=False)
def device_name() -> str:
    """core.service.actions.device_name, asked once per server."""
    from core.service import actions

    return actions.device_name()


@st.cache_resource(show_spinner=False, max_entries=4)
def _dataset(path: str, stamp: float):
    from core.data import load_dataset

    return load_dataset(Path(path))


@st.cache_data(show_spinner=False, max_entries=16)
def dataset_summary(path: str, stamp: float) -> dict[str, Any]:
    """core.service.views.dataset_summary of the file at ``path``."""
    return views.dataset_summary(path)


@st.cache_resource(show_spinner=False, max_entries=8)
def orientations_figure(path: str, stamp: float, sim: int, view: str):
    """Animated four-orientation figure of simulation ``sim`` (cached per file version)."""
    ds = _dataset(path, stamp)
    sim = min(max(int(sim), 0), ds.velocity.shape[1] - 1)
    return field_figures.orientations_figure(ds.smoke[:, sim], ds.velocity[:, sim], view=view)


@st.cache_data(show_spinner=False, max_entries=8)
def _disagreement(path: str, stamp: float) -> tuple[Any, float]:
    """core.symmetry's disagreement map of a dataset and the top of its fixed colour scale."""
    from core.symmetry import data_equivariance_map, disagreement_scale

    velocity = _dataset(path, stamp).velocity
    return data_equivariance_map(velocity), disagreement_scale(velocity)


@st.cache_resource(show_spinner=False, max_entries=8)
def symmetry_map_figure(path: str, stamp: float, beside: tuple[str, float, str, str] | None = None):
    """Animated map of where the rotated-back orientations differ, on a fixed colour scale;
    ``beside`` = (its path, its mtime, this dataset's title, its title): the two side by side,
    on one scale."""
    error_map, top = _disagreement(path, stamp)
    if beside is None:
        return field_figures.symmetry_map_figure(error_map, top)
    other_path, other_stamp, title, other_title = beside
    other_map, other_top = _disagreement(other_path, other_stamp)
    return field_figures.symmetry_maps_figure({title: error_map, other_title: other_map}, max(top, other_top))


@st.cache_data(show_spinner="Loading the checkpoint...", max_entries=32)
def run_model_summary(run_id: str, stamp: float) -> dict[str, Any]:
    """core.service.views.run_model_summary (``stamp``: the checkpoint's mtime)."""
    return views.run_model_summary(run_id)


@st.cache_resource(show_spinner=False, max_entries=16)
def compare_figures(
    runs: tuple[tuple[str, float], ...], split: str, sim: int, orientation: int
) -> dict[str, Any]:
    """The Compare page's plotly figures for :func:`compare`'s result (built once per choice)."""
    result = compare(runs, split, sim, orientation)
    if not result["predictions"]:
        return {}
    return {
        "rollout": field_figures.rollout_figure(result["truth"], result["predictions"]),
        "errors": field_figures.error_maps_figure(result["truth"], result["predictions"]),
        "rmse": figures.line_figure(
            result["rmse"],
            title="RMSE per rollout step",
            xaxis_title="step",
            yaxis_title="RMSE",
            models=result["models"],
        ),
        "equivariance": ee_figures.per_element_figure(result["equivariance"], result["models"]),
    }


@st.cache_data(show_spinner="Rolling out the models...", max_entries=16)
def compare(runs: tuple[tuple[str, float], ...], split: str, sim: int, orientation: int) -> dict[str, Any]:
    """core.service.views.compare_runs of ``runs`` ((run id, checkpoint mtime) pairs)."""
    return views.compare_runs([run_id for run_id, _ in runs], split, sim, orientation)


@st.cache_data(show_spinner="Measuring each model's equivariance error frame by frame...", max_entries=16)
def equivariance_by_frame(run_ids: tuple[str, ...], stamp: float) -> dict[str, Any]:
    """core.service.views.equivariance_by_frame (``stamp``: newest checkpoint mtime of the runs)."""
    return views.equivariance_by_frame(list(run_ids))


@st.cache_data(show_spinner=False, max_entries=32)
def sweep_ee_by_frame(path: str, stamp: float, level: float) -> dict[str, Any]:
    """core.service.views.sweep_ee_by_frame: one level's frame-by-frame errors from results.json."""
    return views.sweep_ee_by_frame(path, level)


@st.cache_data(show_spinner=False, max_entries=32)
def sweep_frame_split(path: str, stamp: float) -> dict[str, tuple]:
    """core.service.views.sweep_frame_split: model / data EE on training and untrained frames."""
    return views.sweep_frame_split(path)


@st.cache_data(show_spinner=False, max_entries=32)
def sweep_frame_levels(path: str, stamp: float) -> list[float]:
    """core.service.views.sweep_frame_levels: the levels whose rows carry per-frame errors."""
    return views.sweep_frame_levels(path)


@st.cache_data(show_spinner=False, max_entries=16)
def table1_view(path: str, stamp: float) -> dict[str, Any]:
    """core.service.table1_view.table1_view: a Table-1 build's table, rankings and agreement."""
    from core.service import table1_view as view

    return view.table1_view(path)


@st.cache_data(show_spinner=False, max_entries=16)
def dataset_symmetry(path: str, stamp: float) -> dict[str, Any]:
    """core.service.symmetry_view.dataset_symmetry: the data EE per rotation and the symmetry left."""
    return symmetry_view.dataset_symmetry(path)


@st.cache_data(show_spinner=False, max_entries=16)
def run_symmetry(runs: tuple[tuple[str, float], ...]) -> dict[str, Any]:
    """core.service.symmetry_view.run_symmetry of ``runs`` ((run id, checkpoint mtime) pairs)."""
    return symmetry_view.run_symmetry([run_id for run_id, _ in runs])


@st.cache_data(show_spinner=False, max_entries=64)
def is_pattern_sweep(path: str, stamp: float) -> bool:
    """core.service.symmetry_view.is_pattern_sweep: whether a sweep's rows carry breaking patterns."""
    return symmetry_view.is_pattern_sweep(path)


@st.cache_data(show_spinner=False, max_entries=32)
def pattern_sweep_levels(path: str, stamp: float) -> list[float]:
    """core.service.symmetry_view.pattern_sweep_levels: a pattern sweep's buoyancy differences."""
    return symmetry_view.pattern_sweep_levels(path)


@st.cache_data(show_spinner=False, max_entries=32)
def pattern_sweep_view(path: str, stamp: float, level: float) -> dict[str, Any]:
    """core.service.symmetry_view.pattern_sweep_view: one level of a pattern sweep, per pattern."""
    return symmetry_view.pattern_sweep_view(path, level)


@st.cache_data(show_spinner="Reading the relaxed models' weights...", max_entries=16)
def pattern_spectra(path: str, stamp: float, level: float) -> dict[str, Any]:
    """core.service.symmetry_view.pattern_spectra: the relaxed runs' irrep energies per pattern."""
    return symmetry_view.pattern_spectra(path, level)
