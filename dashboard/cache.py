"""Streamlit caches over the service layer (core.service): nothing here but ``st.cache_*`` wrappers.

Everything that reads a file or computes is cached once per version of the files it reads
(core.service.common.file_version, core.service.runs.checkpoint_version): a page passes the
item only, the version is looked up here on each call (a stat), so a rerun (a widget change,
a fragment tick) costs a dictionary lookup and a changed file is read anew. Heavy modules are
imported inside core's functions, so the landing page does not wait for them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import streamlit as st

from core.service import comparison, datasets, runs, sweep_ratios, sweeps, symmetry_view
from core.service.common import file_version
from dashboard import ee_figures, field_figures, figures


def _per_version(version_of):
    """Call the decorated cached function ``f(item, version, *args)`` as ``f(item, *args)``,
    ``version`` = ``version_of(item)``: the cache keeps one result per version of the item."""

    def wrap(cached):
        @functools.wraps(cached)
        def call(item, *args, **kwargs):
            return cached(item, version_of(item), *args, **kwargs)

        return call

    return wrap


_by_file = _per_version(file_version)  # a dataset file or a sweep folder
_by_checkpoints = _per_version(runs.checkpoint_version)  # a tuple of run ids


@_by_file
@st.cache_data(show_spinner=False, max_entries=32)
def sweep_curves(path: str, version: float, axis: str = "trajectory") -> dict[str, tuple]:
    """core.service.sweeps.sweep_curves of the sweep in ``path`` with each point's "worse than
    persistence" note."""
    return sweeps.sweep_curves(path, axis, notes=True)


@_by_file
@st.cache_data(show_spinner=False, max_entries=32)
def sweep_axes(path: str, version: float) -> list[str]:
    """core.service.sweeps.sweep_axes: the x axes this sweep's file supports."""
    return sweeps.sweep_axes(path)


@_by_file
@st.cache_data(show_spinner=False, max_entries=32)
def sweep_accuracy(path: str, version: float) -> list[dict[str, Any]]:
    """core.service.sweeps.sweep_accuracy: RMSE beside persistence per level and model."""
    return sweeps.sweep_accuracy(path)


@_by_file
@st.cache_data(show_spinner=False, max_entries=32)
def sweep_accuracy_ratios(path: str, version: float) -> dict[str, Any]:
    """core.service.sweep_ratios.sweep_accuracy_ratios: RMSE / persistence per level, and who leads where."""
    return sweep_ratios.sweep_accuracy_ratios(path)


@st.cache_resource(show_spinner=False)
def device_name() -> str:
    """core.service.jobs.device_name, asked once per server."""
    from core.service import jobs

    return jobs.device_name()


@st.cache_resource(show_spinner=False, max_entries=4)
def _dataset(path: str, version: float):
    from core.data import load_dataset

    return load_dataset(Path(path))


@_by_file
@st.cache_data(show_spinner=False, max_entries=16)
def dataset_summary(path: str, version: float) -> dict[str, Any]:
    """core.service.datasets.dataset_summary of the file at ``path``."""
    return datasets.dataset_summary(path)


@_by_file
@st.cache_resource(show_spinner=False, max_entries=8)
def orientations_figure(path: str, version: float, sim: int, view: str):
    """Animated four-orientation figure of simulation ``sim``."""
    ds = _dataset(path, version)
    sim = min(max(int(sim), 0), ds.velocity.shape[1] - 1)
    return field_figures.orientations_figure(ds.smoke[:, sim], ds.velocity[:, sim], view=view)


@st.cache_data(show_spinner=False, max_entries=8)
def _disagreement(path: str, version: float) -> tuple[Any, float]:
    """core.symmetry's disagreement map of a dataset and the top of its fixed colour scale."""
    from core.symmetry import data_equivariance_map, disagreement_scale

    velocity = _dataset(path, version).velocity
    return data_equivariance_map(velocity), disagreement_scale(velocity)


def symmetry_map_figure(path: str, beside: tuple[str, str, str] | None = None):
    """Animated map of where the rotated-back orientations differ, on a fixed colour scale;
    ``beside`` = (its path, this dataset's title, its title): the two side by side, on one scale."""
    other = None if beside is None else (beside[0], file_version(beside[0]), *beside[1:])
    return _symmetry_map_figure(path, file_version(path), other)


@st.cache_resource(show_spinner=False, max_entries=8)
def _symmetry_map_figure(path: str, version: float, beside: tuple[str, float, str, str] | None):
    """:func:`symmetry_map_figure`, once per version of each file it draws."""
    error_map, top = _disagreement(path, version)
    if beside is None:
        return field_figures.symmetry_map_figure(error_map, top)
    other_path, other_version, title, other_title = beside
    other_map, other_top = _disagreement(other_path, other_version)
    return field_figures.symmetry_maps_figure({title: error_map, other_title: other_map}, max(top, other_top))


@_per_version(lambda run_id: runs.checkpoint_version((run_id,)))
@st.cache_data(show_spinner="Loading the checkpoint...", max_entries=32)
def run_model_summary(run_id: str, version: tuple[float, ...]) -> dict[str, Any]:
    """core.service.runs.run_model_summary, once per version of the run's checkpoint."""
    return runs.run_model_summary(run_id)


@_by_checkpoints
@st.cache_resource(show_spinner=False, max_entries=16)
def compare_figures(
    run_ids: tuple[str, ...], version: tuple[float, ...], split: str, sim: int, orientation: int
) -> dict[str, Any]:
    """The Compare page's plotly figures for :func:`compare`'s result (built once per choice)."""
    result = compare(run_ids, split, sim, orientation)
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


@_by_checkpoints
@st.cache_data(show_spinner="Rolling out the models...", max_entries=16)
def compare(
    run_ids: tuple[str, ...], version: tuple[float, ...], split: str, sim: int, orientation: int
) -> dict[str, Any]:
    """core.service.comparison.compare_runs of the runs ``run_ids``."""
    return comparison.compare_runs(list(run_ids), split, sim, orientation)


@_by_checkpoints
@st.cache_data(show_spinner="Measuring each model's equivariance error frame by frame...", max_entries=16)
def equivariance_by_frame(run_ids: tuple[str, ...], version: tuple[float, ...]) -> dict[str, Any]:
    """core.service.comparison.equivariance_by_frame of the runs ``run_ids``."""
    return comparison.equivariance_by_frame(list(run_ids))


@_by_file
@st.cache_data(show_spinner=False, max_entries=32)
def sweep_ee_by_frame(path: str, version: float, level: float) -> dict[str, Any]:
    """core.service.sweeps.sweep_ee_by_frame: one level's frame-by-frame errors from results.json."""
    return sweeps.sweep_ee_by_frame(path, level)


@_by_file
@st.cache_data(show_spinner=False, max_entries=32)
def sweep_frame_split(path: str, version: float) -> dict[str, tuple]:
    """core.service.sweeps.sweep_frame_split: model / data EE on training and untrained frames."""
    return sweeps.sweep_frame_split(path)


@_by_file
@st.cache_data(show_spinner=False, max_entries=32)
def sweep_frame_levels(path: str, version: float) -> list[float]:
    """core.service.sweeps.sweep_frame_levels: the levels whose rows carry per-frame errors."""
    return sweeps.sweep_frame_levels(path)


@_by_file
@st.cache_data(show_spinner=False, max_entries=16)
def table1_view(path: str, version: float) -> dict[str, Any]:
    """core.service.table1_view.table1_view: a Table-1 build's table, rankings and agreement."""
    from core.service import table1_view as view

    return view.table1_view(path)


@_by_file
@st.cache_data(show_spinner=False, max_entries=16)
def dataset_symmetry(path: str, version: float) -> dict[str, Any]:
    """core.service.symmetry_view.dataset_symmetry: the data EE per rotation and the symmetry left."""
    return symmetry_view.dataset_symmetry(path)


@_by_checkpoints
@st.cache_data(show_spinner=False, max_entries=16)
def run_symmetry(run_ids: tuple[str, ...], version: tuple[float, ...]) -> dict[str, Any]:
    """core.service.symmetry_view.run_symmetry of the runs ``run_ids``."""
    return symmetry_view.run_symmetry(list(run_ids))


@_by_file
@st.cache_data(show_spinner=False, max_entries=64)
def is_pattern_sweep(path: str, version: float) -> bool:
    """core.service.symmetry_view.is_pattern_sweep: whether a sweep's rows carry breaking patterns."""
    return symmetry_view.is_pattern_sweep(path)


@_by_file
@st.cache_data(show_spinner=False, max_entries=32)
def pattern_sweep_levels(path: str, version: float) -> list[float]:
    """core.service.symmetry_view.pattern_sweep_levels: a pattern sweep's buoyancy differences."""
    return symmetry_view.pattern_sweep_levels(path)


@_by_file
@st.cache_data(show_spinner=False, max_entries=32)
def pattern_sweep_view(path: str, version: float, level: float) -> dict[str, Any]:
    """core.service.symmetry_view.pattern_sweep_view: one level of a pattern sweep, per pattern."""
    return symmetry_view.pattern_sweep_view(path, level)


@_by_file
@st.cache_data(show_spinner="Reading the relaxed models' weights...", max_entries=16)
def pattern_spectra(path: str, version: float, level: float) -> dict[str, Any]:
    """core.service.symmetry_view.pattern_spectra: the relaxed runs' irrep energies per pattern."""
    return symmetry_view.pattern_spectra(path, level)
