"""Heat maps over the grid: the four orientations, where they disagree, rollouts and their errors
(animated, with play and a time slider), and a relaxed model's per-offset weights. Grids follow
the data convention: row 0 is the bottom row, which is also where a plotly heatmap draws row 0,
so nothing is flipped. Arrays in, plotly figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures import TEMPLATE
from dashboard.text import plotly_text, short_names

#: Animations keep at most this many frames so a figure stays a few MB in the browser.
MAX_FRAMES = 40
_DIGITS = 4


def _frame_indices(n_frames: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Evenly spaced frame indices, at most ``max_frames`` of them, first and last kept."""
    if n_frames <= max_frames:
        return np.arange(n_frames)
    return np.unique(np.linspace(0, n_frames - 1, max_frames).round().astype(int))


def _round(a: np.ndarray) -> np.ndarray:
    """float32 rounded to a few digits: halves what travels to the browser, same picture."""
    return np.round(np.asarray(a, dtype=np.float32), _DIGITS)


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
            # WebGL lines, not go.Scatter: plotly animates an SVG scatter trace by a transition that
            # redraws only it, leaving the heat maps blank until the redraw after (Play flickered,
            # about half the frames with arrows only); with no such trace every frame is one redraw.
            out.append(
                go.Scattergl(
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
    hover_titles: Sequence[str] | None = None,
) -> go.Figure:
    """Side-by-side heatmaps that play over time, with play/pause and a time slider.

    ``fields``: one array ``(T, N, N)`` per panel (all the same T). Row 0 is drawn at
    the bottom. ``velocities`` (optional, one ``(T, 2, N, N)`` per panel) adds a
    subsampled arrow field every ``quiver_stride`` cells (0 = no arrows). All panels
    share one colour range (``zrange`` or the data's min/max) so they compare. ``frame_labels``
    names each time step on the slider (default "t = i"). ``start_at_end`` shows the last frame
    first (Play then runs from the start). ``hover_titles``: each panel's full title, shown on
    hovering its short one. Returns a figure with ``frames``, animated with no rerun.
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
    for note, full in zip(fig.layout.annotations, hover_titles or (), strict=False):
        note.hovertext = plotly_text(full)
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


def symmetry_map_figure(error_map: np.ndarray, zmax: float | None = None) -> go.Figure:
    """Where rotated-back orientations differ from orientation 0, animated over time.

    ``error_map``: ``(T, N, N)`` from ``core.symmetry.data_equivariance_map`` (or
    ``(N, N)``, shown as one frame). Also shows the time average beside it. ``zmax``: the top
    of the colour scale (``core.symmetry.disagreement_scale``), fixed so that datasets compare;
    None: the map's own maximum.
    """
    error_map = _as_frames(error_map)
    mean_map = np.broadcast_to(error_map.mean(axis=0), error_map.shape)
    return animated_panels(
        [error_map, mean_map],
        ["|g⁻¹·orientation k − orientation 0| at time t", "averaged over time"],
        colorscale="YlOrRd",
        colorbar_title="|Δv|",
        zrange=None if zmax is None else (0.0, float(zmax)),
        height=380,
        start_at_end=True,
    )


def symmetry_maps_figure(maps: Mapping[str, np.ndarray], zmax: float) -> go.Figure:
    """Two or more datasets' disagreement maps side by side on one colour scale ``(0, zmax)``,
    animated together over their common frames (the shorter dataset's length).

    ``maps[title]``: ``(T, N, N)`` from ``core.symmetry.data_equivariance_map``.
    """
    fields = [_as_frames(m) for m in maps.values()]
    n_t = min(f.shape[0] for f in fields)
    return animated_panels(
        [f[:n_t] for f in fields],
        list(maps),
        colorscale="YlOrRd",
        colorbar_title="|Δv|",
        zrange=(0.0, float(zmax)),
        height=400,
        start_at_end=True,
    )


def _as_frames(error_map: np.ndarray) -> np.ndarray:
    """A map as ``(T, N, N)`` floats: one ``(N, N)`` map becomes one frame."""
    error_map = np.asarray(error_map, dtype=float)
    return error_map[None] if error_map.ndim == 2 else error_map


def rollout_figure(truth: np.ndarray, predictions: Mapping[str, np.ndarray]) -> go.Figure:
    """Ground truth and each model's rollout, |v| heatmaps side by side, over the steps; each
    panel titled by the run's short name (dashboard.text.short_names), its full name on hover.

    ``truth`` ``(T, 2, N, N)``; ``predictions[name]`` the same shape.
    """
    fields = [speed(truth)] + [speed(p) for p in predictions.values()]
    names = list(predictions)
    labels = [f"step {t + 1}" for t in range(fields[0].shape[0])]
    return animated_panels(
        fields,
        ["ground truth"] + short_names(names),
        colorscale="Viridis",
        colorbar_title="|v|",
        frame_labels=labels,
        start_at_end=True,
        hover_titles=["ground truth"] + names,
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
        short_names(list(predictions)),
        hover_titles=list(predictions),
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
