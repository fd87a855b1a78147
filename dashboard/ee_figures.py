"""Equivariance-error figures: Figure 4 (model against data EE), the same frame by frame and split
by training and untrained frames, and the error per rotation. Arrays in, plotly figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures import (
    BOTTOM_LEGEND,
    TEMPLATE,
    error_bars,
    model_color,
    series_colors,
    title_margin,
    wrapped_title,
)
from dashboard.text import plotly_text, short_names


def equivariance_figure(
    curves: Mapping[str, Sequence[Sequence[float]]],
    title: str = "Model vs data equivariance error",
    x_title: str = "data equivariance error",
    diagonal: bool = True,
) -> go.Figure:
    """Figure 4 of the paper: one line per model, x = data EE, y = model EE.

    ``curves[model] = (data_errors, model_errors[, levels[, notes[, data_std, model_std]]])``,
    equal-length sequences (one point per symmetry-breaking level, a mean over seeds), in
    velocity units; a point with a std (over seeds; None for one seed) gets ± std error bars.
    With levels, hovering a point shows its buoyancy difference. A point with a note
    (core.service.sweeps.sweep_curves: "worse than persistence ...", "training diverged") is a
    large cross, its hover shows the note, and a legend entry says what the crosses mean. With
    ``diagonal`` a dashed y = x line is drawn for reference: a model on it is exactly as
    symmetric as its data. Leave it out where x is not the same kind of error as y (the paper's
    trajectory error, 12-14 x a one-step one): it would squash the curves against the x axis.
    """
    fig = go.Figure()
    top, flagged = 0.0, False
    for i, (name, curve) in enumerate(curves.items()):
        xs, ys = np.asarray(curve[0], dtype=float), np.asarray(curve[1], dtype=float)
        levels = np.asarray(curve[2], dtype=float) if len(curve) > 2 else np.full(xs.shape, np.nan)
        notes = np.asarray(curve[3] if len(curve) > 3 else [""] * xs.size, dtype=object)
        if xs.shape != ys.shape or levels.shape != xs.shape or notes.shape != xs.shape:
            raise ValueError(f"curve {name!r}: {xs.size} data errors but {ys.size} model errors")
        order = np.argsort(xs)
        marked = notes[order] != ""
        fig.add_trace(
            go.Scatter(
                x=xs[order],
                y=ys[order],
                error_x=error_bars(curve[4] if len(curve) > 4 else None, order),
                error_y=error_bars(curve[5] if len(curve) > 5 else None, order),
                customdata=levels[order],
                text=list(notes[order]),  # shown in the hover only (mode has no "text")
                mode="lines+markers",
                name=plotly_text(name),
                line={"color": model_color(name, i), "width": 2},
                marker={"size": np.where(marked, 14, 8), "symbol": np.where(marked, "x", "circle")},
                hovertemplate=f"<b>{plotly_text(name)}</b><br>buoyancy difference Δb %{{customdata:.2g}}"
                "<br>data EE %{x:.3g}<br>model EE %{y:.3g}<br>%{text}<extra></extra>",
            )
        )
        flagged = flagged or bool(marked.any())
        if xs.size:
            top = max(top, float(np.nanmax(xs)), float(np.nanmax(ys)))
    top = top * 1.05 if top > 0 else 1.0
    if flagged:  # a legend entry that says what the crosses mean
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name="✕ worse than persistence, or diverged (hover a point)",
                marker={"symbol": "x", "size": 12, "color": "#444"},
            )
        )
    if diagonal:
        fig.add_trace(
            go.Scatter(
                x=[0, top],
                y=[0, top],
                mode="lines",
                name="y = x (follows the data)",
                line={"color": "#888", "dash": "dash", "width": 1},
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        xaxis_title=x_title,
        yaxis_title="model one-step equivariance error",
        legend=BOTTOM_LEGEND,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        height=460,
        hovermode="closest",
    )
    return fig


#: Shading of the frame ranges in :func:`ee_by_frame_figure` (the training block is left white).
_REGION_FILL = {"validation": "rgba(120, 120, 120, 0.10)", "test-future": "rgba(255, 160, 0, 0.14)"}


#: Line styles of successive data curves, so the data of different datasets stay apart.
DATA_DASHES = ("dash", "dot", "dashdot", "longdash")


def ee_by_frame_figure(
    runs: Sequence[Mapping],
    regions: Sequence[tuple[str, int, int]] = (),
    title: str = "One-step equivariance error frame by frame: models and data",
) -> go.Figure:
    """Model and data one-step EE frame by frame (top) and their ratio (bottom).

    ``runs``: dicts with ``label``, ``frames`` (T',), ``ee`` (T',), ``data`` (T',) or None
    and ``level`` (core.service.comparison.equivariance_by_frame); one solid line per run, one
    dashed black line per distinct data curve. ``regions``: ``(name, first, last)`` frame
    ranges to shade (validation grey, test-future orange) and name above the plot.
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38], vertical_spacing=0.06)
    seen_data: list[np.ndarray] = []
    colors = series_colors([run["label"] for run in runs], {run["label"]: run.get("model") for run in runs})
    legend = short_names([run["label"] for run in runs])
    for i, run in enumerate(runs):
        t, ee = np.asarray(run["frames"]), np.asarray(run["ee"], dtype=float)
        color = colors[i]
        fig.add_trace(_frame_line(t, ee, run["label"], color, legend=legend[i]), row=1, col=1)
        if run.get("data") is None:
            continue
        data = np.asarray(run["data"], dtype=float)
        if not any(d.shape == data.shape and np.allclose(d, data) for d in seen_data):
            seen_data.append(data)
            level = run.get("level")
            name = f"data (PhiFlow), Δb {level:.2g}" if level is not None else "data (PhiFlow)"
            dash = DATA_DASHES[(len(seen_data) - 1) % len(DATA_DASHES)]
            fig.add_trace(_frame_line(t, data, name, "#222", dash=dash), row=1, col=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(data > 0, ee / data, np.nan)
        line = _frame_line(t, ratio, f"{run['label']} / data", color, digits=".2f")
        line.showlegend = False
        fig.add_trace(line, row=2, col=1)
    fig.add_hline(y=1.0, line={"color": "#888", "dash": "dash", "width": 1}, row=2, col=1)
    _shade_regions(fig, regions)
    fig.update_yaxes(title_text="one-step EE", row=1, col=1)
    fig.update_yaxes(title_text="model / data", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text="newest input frame t (predicting t + 1)", row=2, col=1)
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=550,
        margin={"l": 70, "r": 20, "t": 75, "b": 40},
        legend=BOTTOM_LEGEND,
        hovermode="closest",
    )
    return fig


def frame_split_figure(
    curves: Mapping[str, Sequence[Sequence[float]]],
    title: str = "Model / data equivariance error against Δb: training vs untrained frames",
) -> go.Figure:
    """Figure 4 split by frames: per model, model / data EE against Δb on its training frames
    (solid) and on the untrained validation and test-future frames (dotted); 1 = follows the data.

    ``curves[model] = (levels, training ratios, untrained ratios[, stds])``
    (core.service.sweeps.sweep_frame_split): means over seeds; ``stds`` per level a pair
    (training, untrained) of seed stds, drawn as ± error bars, or None for one seed.
    """
    fig = go.Figure()
    for i, (name, (levels, trained, later, *spread)) in enumerate(curves.items()):
        color = model_color(name, i)
        stds = list(spread[0]) if spread else [None] * len(levels)
        for k, (ys, where, dash) in enumerate(
            ((trained, "training frames", "solid"), (later, "untrained frames", "dot"))
        ):
            fig.add_trace(
                go.Scatter(
                    x=list(levels),
                    y=list(ys),
                    error_y=error_bars([None if s is None else s[k] for s in stds]),
                    mode="lines+markers",
                    name=plotly_text(f"{name}, {where}"),
                    line={"color": color, "dash": dash},
                    hovertemplate=f"<b>{plotly_text(name)}</b>, {where}<br>Δb %{{x:g}}"
                    "<br>model / data %{y:.2f}<extra></extra>",
                )
            )
    fig.add_hline(y=1.0, line={"color": "#888", "dash": "dash", "width": 1})
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=410,
        xaxis_title="buoyancy difference Δb",
        yaxis_title="model EE / data one-step EE",
        yaxis={"rangemode": "tozero"},
        margin={"l": 70, "r": 20, "t": 60, "b": 40},
        legend=BOTTOM_LEGEND,
        hovermode="closest",
    )
    return fig


def _frame_line(
    t, y, name: str, color: str, dash: str = "solid", digits: str = ".3g", legend: str | None = None
) -> go.Scatter:
    """One named line over frames (``legend``: a shorter name for the legend), its hover showing
    the full name, the frame and the value."""
    return go.Scatter(
        x=t,
        y=y,
        mode="lines",
        name=plotly_text(legend or name),
        line={"color": color, "dash": dash},
        hovertemplate=f"<b>{plotly_text(name)}</b><br>frame %{{x}}<br>%{{y:{digits}}}<extra></extra>",
    )


def _shade_regions(fig: go.Figure, regions: Sequence[tuple[str, int, int]]) -> None:
    """Shade the validation and test-future frame ranges on both panels, named above the plot."""
    for name, first, last in regions:
        if name not in _REGION_FILL or last < first:
            continue
        fig.add_vrect(
            x0=first - 0.5, x1=last + 0.5, fillcolor=_REGION_FILL[name], line_width=0, row="all", col=1
        )
        fig.add_annotation(
            x=(first + last) / 2, y=1.02, xref="x", yref="paper", text=name, showarrow=False, yanchor="bottom"
        )


def per_element_figure(
    errors: Mapping[str, Mapping[int | str, float]],
    models: Mapping[str, str | None] | None = None,
    title: str = "Equivariance error per rotation",
) -> go.Figure:
    """Grouped bars: each model's equivariance error per rotation (90, 180, 270 degrees).

    ``errors[model][k]`` is the mean |f(g x) - g f(x)| for ``k`` quarter turns (an int
    1..3) or for a degree key (``"90"``...), in velocity units. Every bar carries its value
    on hover; a value below 1e-4 of the largest (E2CNN's float rounding) is labelled "≈0", so
    a bar too small to see still says what it is.
    """
    fig = go.Figure()
    top = max((abs(float(v)) for per in errors.values() for v in per.values()), default=0.0)
    colors = series_colors(list(errors), models)
    legend = short_names(list(errors))  # the full name on hover
    for i, (name, per) in enumerate(errors.items()):
        labels, values = [], []
        for key, value in per.items():
            deg = int(key) * 90 if int(key) < 4 else int(key)
            labels.append(f"{deg}°")
            values.append(float(value))
        # Only the invisible bars are labelled: four runs' numbers side by side ran into each other.
        text = ["≈0" if abs(v) <= 1e-4 * top else "" for v in values]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=values,
                name=plotly_text(legend[i]),
                marker_color=colors[i],
                text=text,
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"<b>{plotly_text(name)}</b> %{{x}}: %{{y:.3g}}<extra></extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        barmode="group",
        title=wrapped_title(title),
        xaxis_title="rotation g",
        yaxis_title="mean |f(g·x) − g·f(x)|",
        yaxis={"exponentformat": "e"},  # "5e-6" beside "0.01", never plotly's "5µ"
        height=360,
        margin={"l": 60, "r": 20, "t": title_margin(title), "b": 40},
        legend=BOTTOM_LEGEND,
    )
    return fig
