"""Plotly figure builders: arrays in, ``plotly.graph_objects.Figure`` out.

No Streamlit here and no file access, so every builder can be tested and
benchmarked on its own. Grids follow the data convention: row 0 is the bottom
row, which is also where a plotly heatmap draws row 0, so nothing is flipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.models.registry import FALLBACK_COLORS, model_names, model_spec
from dashboard.text import plotly_text


class _RegistryColors(Mapping):
    """The registered models' colours (core.models.registry), read when asked: a model
    registered later has its colour here too."""

    def __getitem__(self, name: str) -> str:
        if name not in model_names():
            raise KeyError(name)
        return model_spec(name).color

    def __iter__(self):
        # Longest names first, so a family prefix never matches a shorter name's colour.
        return iter(sorted(model_names(), key=len, reverse=True))

    def __len__(self) -> int:
        return len(model_names())


#: One colour per model, the same on every page: the registry's.
MODEL_COLORS: Mapping[str, str] = _RegistryColors()
_FALLBACK_COLORS = FALLBACK_COLORS
#: Animations keep at most this many frames so a figure stays a few MB in the browser.
MAX_FRAMES = 40
#: Every figure uses this template: the pages draw them with theme=None so colour scales stay as set.
TEMPLATE = "plotly_white"
_DIGITS = 4


def model_color(name: str, index: int = 0) -> str:
    """Return the colour for a model family name (e.g. ``"RSteerR"`` -> RSteer's red)."""
    key = name.lower()
    for family, color in MODEL_COLORS.items():
        if key.startswith(family):
            return color
    return _FALLBACK_COLORS[index % len(_FALLBACK_COLORS)]


#: How a second, third, fourth run of one model family is shaded: towards white (+) or black (-).
_REPEAT_SHADES = (0.0, 0.5, -0.4, 0.75)


def series_colors(names: Sequence[str], models: Mapping[str, str | None] | None = None) -> list[str]:
    """One colour per series: its model family's colour (:func:`model_color`), shaded for the
    second and later runs of the same family, so your ConvNet and the shipped one are two blues.

    ``models``: the model of each name where the name may not say it (a run renamed "my
    lesson run" is still an RSteer, so still red)."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        base = model_color((models or {}).get(name) or name, i)
        repeat = seen.get(base, 0)
        seen[base] = repeat + 1
        out.append(_shade(base, _REPEAT_SHADES[repeat % len(_REPEAT_SHADES)]))
    return out


def _shade(color: str, amount: float) -> str:
    """``#rrggbb`` moved ``amount`` of the way to white (> 0) or to black (< 0)."""
    rgb = np.array([int(color[k : k + 2], 16) for k in (1, 3, 5)], dtype=float)
    rgb = rgb + (255 - rgb) * amount if amount >= 0 else rgb * (1 + amount)
    return "#" + "".join(f"{int(round(v)):02x}" for v in rgb)


def _frame_indices(n_frames: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Evenly spaced frame indices, at most ``max_frames`` of them, first and last kept."""
    if n_frames <= max_frames:
        return np.arange(n_frames)
    return np.unique(np.linspace(0, n_frames - 1, max_frames).round().astype(int))


def _round(a: np.ndarray) -> np.ndarray:
    """float32 rounded to a few digits: halves what travels to the browser, same picture."""
    return np.round(np.asarray(a, dtype=np.float32), _DIGITS)


# ----------------------------------------------------------------- equivariance


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
                error_x=_error_bars(curve[4] if len(curve) > 4 else None, order),
                error_y=_error_bars(curve[5] if len(curve) > 5 else None, order),
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
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        height=460,
        hovermode="closest",
    )
    return fig


def _error_bars(spread: Sequence[float | None] | None, order: np.ndarray | None = None) -> dict | None:
    """Plotly error bars of ± std (a None std: no bar), or None where no point has a spread."""
    if spread is None or all(s is None for s in spread):
        return None
    values = np.array([0.0 if s is None else float(s) for s in spread])
    # a list, not an array: plotly would ship an array as base64 bytes in the page's JSON
    return {"type": "data", "array": (values if order is None else values[order]).tolist(), "visible": True}


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
    for i, run in enumerate(runs):
        t, ee = np.asarray(run["frames"]), np.asarray(run["ee"], dtype=float)
        color = colors[i]
        fig.add_trace(_frame_line(t, ee, run["label"], color), row=1, col=1)
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
        legend={"orientation": "h", "y": -0.15},
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
                    error_y=_error_bars([None if s is None else s[k] for s in stds]),
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
        legend={"orientation": "h", "y": -0.25},
        hovermode="closest",
    )
    return fig


def _frame_line(t, y, name: str, color: str, dash: str = "solid", digits: str = ".3g") -> go.Scatter:
    """One named line over frames, its hover showing the frame and the value."""
    return go.Scatter(
        x=t,
        y=y,
        mode="lines",
        name=plotly_text(name),
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
    errors: Mapping[str, Mapping[int | str, float]], models: Mapping[str, str | None] | None = None
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
                name=plotly_text(name),
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
        title="Equivariance error per rotation",
        xaxis_title="rotation g",
        yaxis_title="mean |f(g·x) − g·f(x)|",
        yaxis={"exponentformat": "e"},  # "5e-6" beside "0.01", never plotly's "5µ"
        height=360,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


# ------------------------------------------------------------------- animations


def speed(velocity: np.ndarray) -> np.ndarray:
    """|v| of velocity ``(..., 2, N, N)``: returns ``(..., N, N)`` in velocity units."""
    velocity = np.asarray(velocity)
    return np.sqrt(velocity[..., 0, :, :] ** 2 + velocity[..., 1, :, :] ** 2)


def _quiver_xy(velocity: np.ndarray, stride: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Line segments (with None gaps) for a subsampled arrow field of ``(2, N, N)``.

    Each arrow is a shaft plus two head strokes, drawn in one scatter trace so an
    animation frame swaps one trace per panel. Coordinates are cell indices (x = j,
    y = i), matching the heatmap underneath.
    """
    n = velocity.shape[-1]
    idx = np.arange(stride // 2, n, stride)
    jj, ii = np.meshgrid(idx, idx)
    u = velocity[0][ii, jj] * scale
    v = velocity[1][ii, jj] * scale
    x0, y0 = jj.ravel().astype(float), ii.ravel().astype(float)
    x1, y1 = x0 + u.ravel(), y0 + v.ravel()
    # arrow heads: two strokes at +-150 degrees from the shaft, 30 % of its length
    ang = np.arctan2(y1 - y0, x1 - x0)
    length = 0.3 * np.hypot(x1 - x0, y1 - y0)
    hx1, hy1 = x1 + length * np.cos(ang + 2.6), y1 + length * np.sin(ang + 2.6)
    hx2, hy2 = x1 + length * np.cos(ang - 2.6), y1 + length * np.sin(ang - 2.6)
    nan = np.full_like(x0, np.nan)
    xs = np.stack([x0, x1, nan, hx1, x1, hx2, nan], axis=1).ravel()
    ys = np.stack([y0, y1, nan, hy1, y1, hy2, nan], axis=1).ravel()
    return np.round(xs, 3), np.round(ys, 3)


def _wrap(title: str, width: int = 18) -> str:
    """A panel title broken at " · " into lines of about ``width`` characters, so narrow
    panels (four side by side on a 1024-px screen) do not print over each other; each line
    is plotly-escaped (a panel title may be a run's name)."""
    lines: list[str] = []
    for part in str(title).split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "<br>".join(plotly_text(line) for line in lines)


def _check_fields(fields: Sequence[np.ndarray], titles: Sequence[str]) -> list[np.ndarray]:
    """The panels' arrays, checked: at least one, each ``(T, N, N)``, equal T, one title each."""
    if not fields:
        raise ValueError("animated_panels needs at least one field")
    fields = [np.asarray(f) for f in fields]
    if any(f.ndim != 3 for f in fields):
        raise ValueError(f"each field must be (T, N, N); got {[f.shape for f in fields]}")
    if any(f.shape[0] != fields[0].shape[0] for f in fields):
        raise ValueError(f"panels have different frame counts: {[f.shape[0] for f in fields]}")
    if len(titles) != len(fields):
        raise ValueError(f"{len(fields)} panels but {len(titles)} titles")
    return fields


def _panel_traces(fields, t: int, zrange, style: dict, velocities=None, stride: int = 0) -> list:
    """The traces of every panel at time ``t``: a heatmap each, plus arrows if ``velocities``."""
    out = []
    for p, field in enumerate(fields):
        out.append(
            go.Heatmap(
                z=_round(field[t]),
                zmin=zrange[0],
                zmax=zrange[1],
                colorscale=style["colorscale"],
                showscale=p == len(fields) - 1,
                colorbar={"title": style["colorbar_title"], "thickness": 12},
                hovertemplate="x %{x}, y %{y}: %{z:.3g}<extra></extra>",
            )
        )
        if velocities is not None:
            xs, ys = _quiver_xy(np.asarray(velocities[p][t]), stride, style["arrow_scale"])
            out.append(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": "#e6550d", "width": 1},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
    return out


def _animation_controls(keep: np.ndarray, labels: Sequence[str], shown: int, from_start: bool) -> dict:
    """Layout of the play/pause buttons (left) and the time slider (right of them, one row)."""
    play = {
        "frame": {"duration": 120, "redraw": True},
        "fromcurrent": not from_start,
        "transition": {"duration": 0},
    }
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    return {
        "updatemenus": [
            {
                "type": "buttons",
                "direction": "left",
                "x": 0.0,
                "y": 0.0,
                "xanchor": "left",
                "yanchor": "top",
                "pad": {"t": 36, "r": 0},
                "buttons": [
                    {"label": "▶", "method": "animate", "args": [None, play]},
                    {"label": "❚❚", "method": "animate", "args": [[None], pause]},
                ],
            }
        ],
        "sliders": [
            {
                "active": shown,
                "x": 0.0,
                "len": 1.0,
                "y": 0.0,
                "yanchor": "top",
                "pad": {"t": 10, "l": 90},  # pixels: clear of the two buttons at any width
                "currentvalue": {"prefix": "", "visible": True, "xanchor": "right"},
                "steps": [
                    {"label": labels[int(t)], "method": "animate", "args": [[str(int(t))], pause]}
                    for t in keep
                ],
            }
        ],
    }


def animated_panels(
    fields: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    velocities: Sequence[np.ndarray] | None = None,
    colorscale: str = "Viridis",
    colorbar_title: str = "",
    zrange: tuple[float, float] | None = None,
    quiver_stride: int = 0,
    frame_labels: Sequence[str] | None = None,
    height: int = 360,
    title: str | None = None,
    start_at_end: bool = False,
) -> go.Figure:
    """Side-by-side heatmaps that play over time, with play/pause and a time slider.

    ``fields``: one array ``(T, N, N)`` per panel (all the same T). Row 0 is drawn at
    the bottom. ``velocities`` (optional, one ``(T, 2, N, N)`` per panel) adds a
    subsampled arrow field every ``quiver_stride`` cells (0 = no arrows). All panels
    share one colour range (``zrange`` or the data's min/max) so they compare.
    ``frame_labels`` names each time step on the slider (default "t = i").
    ``start_at_end`` shows the last frame first (Play then runs from the start).
    Returns a figure with ``frames``; it animates in the browser with no rerun.
    """
    fields = _check_fields(fields, titles)
    n_t, n = fields[0].shape[0], fields[0].shape[-1]
    if zrange is None:
        lo = min(float(np.nanmin(f)) for f in fields)
        hi = max(float(np.nanmax(f)) for f in fields)
        zrange = (lo, hi if hi > lo else lo + 1e-9)
    style = {"colorscale": colorscale, "colorbar_title": colorbar_title, "arrow_scale": 1.0}
    if velocities is None or quiver_stride <= 0:
        velocities = None
    else:
        vmax = max(float(np.nanmax(speed(v))) for v in velocities) or 1.0
        style["arrow_scale"] = 0.9 * quiver_stride / vmax
    keep = _frame_indices(n_t)
    labels = list(frame_labels) if frame_labels is not None else [f"t = {t}" for t in range(n_t)]

    wrapped = [_wrap(t) for t in titles]
    fig = make_subplots(rows=1, cols=len(fields), subplot_titles=wrapped, horizontal_spacing=0.02)
    fig.update_annotations(font_size=12)
    per_panel = 1 if velocities is None else 2
    shown = len(keep) - 1 if start_at_end else 0
    for i, trace in enumerate(
        _panel_traces(fields, int(keep[shown]), zrange, style, velocities, quiver_stride)
    ):
        fig.add_trace(trace, row=1, col=i // per_panel + 1)
    fig.frames = [
        go.Frame(
            data=_panel_traces(fields, int(t), zrange, style, velocities, quiver_stride), name=str(int(t))
        )
        for t in keep
    ]
    for c in range(1, len(fields) + 1):
        fig.update_xaxes(range=[-0.5, n - 0.5], visible=False, constrain="domain", row=1, col=c)
        fig.update_yaxes(
            range=[-0.5, n - 0.5],
            visible=False,
            scaleanchor=f"x{'' if c == 1 else c}",
            row=1,
            col=c,
        )
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=height,
        # Room above the panels for every line of the longest wrapped panel title.
        margin={
            "l": 10,
            "r": 10,
            "t": (60 if title else 40) + 16 * max((w.count("<br>") for w in wrapped), default=0),
            "b": 90,
        },
        **_animation_controls(keep, labels, shown, start_at_end),
    )
    return fig


def orientations_figure(
    smoke: np.ndarray, velocity: np.ndarray, view: str = "smoke", quiver_stride: int = 4
) -> go.Figure:
    """The four orientations of one simulation side by side, animated over time.

    ``smoke``: ``(4, T, N, N)`` density; ``velocity``: ``(4, T, 2, N, N)``. ``view`` is
    ``"smoke"`` (density heatmap with velocity arrows) or ``"speed"`` (|v| heatmap).
    """
    if view not in ("smoke", "speed"):
        raise ValueError(f"view must be 'smoke' or 'speed', got {view!r}")
    titles = [f"orientation {k} ({90 * k}°)" for k in range(4)]
    if view == "smoke":
        return animated_panels(
            list(smoke),
            titles,
            velocities=list(velocity),
            colorscale="Blues",
            colorbar_title="smoke",
            quiver_stride=quiver_stride,
            start_at_end=True,
        )
    return animated_panels(
        list(speed(velocity)), titles, colorscale="Viridis", colorbar_title="|v|", start_at_end=True
    )


def symmetry_map_figure(error_map: np.ndarray) -> go.Figure:
    """Where rotated-back orientations differ from orientation 0, animated over time.

    ``error_map``: ``(T, N, N)`` from ``core.symmetry.data_equivariance_map`` (or
    ``(N, N)``, shown as one frame). Also shows the time average beside it.
    """
    error_map = np.asarray(error_map, dtype=float)
    if error_map.ndim == 2:
        error_map = error_map[None]
    mean_map = np.broadcast_to(error_map.mean(axis=0), error_map.shape)
    return animated_panels(
        [error_map, mean_map],
        ["|g⁻¹·orientation k − orientation 0| at time t", "averaged over time"],
        colorscale="YlOrRd",
        colorbar_title="|Δv|",
        height=380,
        start_at_end=True,
    )


# ----------------------------------------------------------------------- curves


def line_figure(
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    xaxis_title: str,
    yaxis_title: str,
    x: Sequence[float] | None = None,
    log_y: bool = False,
    height: int = 340,
    models: Mapping[str, str | None] | None = None,
    errors: Mapping[str, Sequence[float | None]] | None = None,
) -> go.Figure:
    """One line per named series (e.g. loss per epoch, RMSE per rollout step); a series whose
    name starts with "persistence" is the grey dashed baseline. ``models``: as in
    :func:`series_colors`, which colours the others. ``errors``: a series' ± std per point
    over training seeds (None: one seed, no bar), drawn as error bars."""
    fig = go.Figure()
    all_x: list[np.ndarray] = []
    runs = [name for name in series if not name.startswith("persistence")]
    colors = dict(zip(runs, series_colors(runs, models), strict=True))
    for name, ys in series.items():
        ys = np.asarray(ys, dtype=float)
        xs = np.asarray(x) if x is not None else np.arange(1, ys.size + 1)
        all_x.append(np.asarray(xs[: ys.size], dtype=float))
        baseline = name not in colors
        color = "#555" if baseline else colors[name]
        dash = "dash" if baseline else "solid"
        fig.add_trace(
            go.Scatter(
                x=xs[: ys.size],
                y=ys,
                mode="lines+markers",
                name=plotly_text(name),
                line={"color": color, "dash": dash},
                error_y=_error_bars((errors or {}).get(name)),
                hovertemplate=f"<b>{plotly_text(name)}</b><br>%{{x}}: %{{y:.3g}}<extra></extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        title=plotly_text(title),  # e.g. "loss per epoch: <a job named by its run>"
        xaxis_title=xaxis_title,
        yaxis_title=yaxis_title,
        height=height,
        margin={"l": 70, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )
    if log_y:
        fig.update_yaxes(**log_axis(series.values()))
    fig.update_xaxes(**whole_number_axis(np.concatenate(all_x) if all_x else []))
    return fig


def whole_number_axis(x_values) -> dict:
    """Axis settings that label only whole numbers when every x is one (epochs, steps).

    Plotly's automatic ticks on a few points print "1.5, 2.5", epochs that do not exist.
    ``x_values``: every x coordinate plotted. Returns ``{}`` (plotly's ticks) when some x is fractional.
    """
    xs = np.asarray(list(x_values), dtype=float).ravel()
    if xs.size == 0 or not np.all(np.isfinite(xs)) or np.any(xs != np.round(xs)):
        return {}
    return {"tick0": 0, "dtick": max(1, int(np.ceil(float(xs.max() - xs.min()) / 8)))}  # <= 9 labels


def log_axis(values) -> dict:
    """Settings of a log axis whose tick labels cannot be misread.

    Plotly's default log ticks print "5, 2, 1, 5, 2, 0.1": 0.2 reads as 2. Here every
    label carries its exponent ("2e-1"), one labelled tick per decade, when the data spans
    more than one decade; within one decade, five labelled ticks spread over the data.
    """
    flat = np.concatenate([np.asarray(v, dtype=float).ravel() for v in values] or [np.ones(1)])
    flat = flat[np.isfinite(flat) & (flat > 0)]
    decades = float(np.log10(flat.max() / flat.min())) if flat.size else 0.0
    if decades >= 1.0:
        return {"type": "log", "dtick": 1, "tickformat": ".0e", "minor": {"dtick": "D1", "showgrid": True}}
    if not flat.size:
        return {"type": "log", "tickformat": ".1e"}
    # Within one decade plotly may label a single tick; name five spread over the data instead.
    ticks = np.unique([float(f"{t:.2g}") for t in np.geomspace(flat.min(), flat.max(), 5)])
    return {"type": "log", "tickvals": ticks.tolist(), "ticktext": [f"{t:.2g}" for t in ticks]}


def rollout_figure(truth: np.ndarray, predictions: Mapping[str, np.ndarray]) -> go.Figure:
    """Ground truth and each model's rollout, |v| heatmaps side by side, over the steps.

    ``truth`` ``(T, 2, N, N)``; ``predictions[name]`` the same shape.
    """
    fields = [speed(truth)] + [speed(p) for p in predictions.values()]
    titles = ["ground truth"] + list(predictions)
    labels = [f"step {t + 1}" for t in range(fields[0].shape[0])]
    return animated_panels(
        fields, titles, colorscale="Viridis", colorbar_title="|v|", frame_labels=labels, start_at_end=True
    )


def error_maps_figure(truth: np.ndarray, predictions: Mapping[str, np.ndarray]) -> go.Figure:
    """Per-model absolute error maps, mean over the two components, over the steps.

    ``truth`` ``(T, 2, N, N)``; ``predictions[name]`` the same. Colour is |pred - truth|
    in velocity units, one shared scale.
    """
    if not predictions:
        raise ValueError("error_maps_figure needs at least one prediction")
    fields = [np.abs(np.asarray(p) - np.asarray(truth)).mean(axis=-3) for p in predictions.values()]
    labels = [f"step {t + 1}" for t in range(fields[0].shape[0])]
    # The scale follows the errors (not 0..1), up to their 99.5th percentile so one hot cell
    # does not wash the rest out; the last step opens first, where the errors have grown.
    hi = float(np.nanpercentile(np.stack(fields), 99.5)) or float(np.nanmax(np.stack(fields))) or 1e-9
    return animated_panels(
        fields,
        list(predictions),
        colorscale="YlOrRd",
        colorbar_title="|error|",
        zrange=(0.0, hi),
        frame_labels=labels,
        start_at_end=True,
    )


def relaxed_weights_figure(
    layers: Sequence[tuple[str, np.ndarray]], title: str, colorbar_title: str
) -> go.Figure:
    """One small heatmap per layer of a relaxed model's per-offset weight statistic.

    ``layers``: ``(layer name, map (K, K))`` pairs, rows up (row 0 drawn at the bottom),
    e.g. mean |w_l(y) - mean_y w_l| / mean |w| at kernel offset y. All share one colour
    scale starting at 0, where 0 everywhere means tied weights (exact equivariance).
    """
    if not layers:
        raise ValueError("relaxed_weights_figure needs at least one layer")
    fig = make_subplots(
        rows=1, cols=len(layers), subplot_titles=[name for name, _ in layers], horizontal_spacing=0.03
    )
    hi = max(float(np.nanmax(np.asarray(m))) for _, m in layers)
    hi = hi if hi > 0 else 1e-12
    for c, (_name, m) in enumerate(layers, start=1):
        m = np.asarray(m, dtype=float)
        k = m.shape[-1] // 2
        offsets = list(range(-k, m.shape[-1] - k))
        fig.add_trace(
            go.Heatmap(
                z=np.round(m, 6),
                x=offsets,
                y=offsets,
                zmin=0,
                zmax=hi,
                colorscale="Reds",
                showscale=c == len(layers),
                colorbar={"title": colorbar_title, "thickness": 12},
                hovertemplate="offset (%{x}, %{y}): %{z:.3g}<extra></extra>",
            ),
            row=1,
            col=c,
        )
        fig.update_xaxes(visible=False, row=1, col=c)
        fig.update_yaxes(visible=False, scaleanchor=f"x{'' if c == 1 else c}", row=1, col=c)
    fig.update_layout(template=TEMPLATE, title=title, height=260, margin={"l": 20, "r": 20, "t": 70, "b": 10})
    return fig
