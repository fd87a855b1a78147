"""What every figure shares (template, model colours, error bars, axes) and the line charts.

The figure builders are split by kind: this module, ``ee_figures`` (equivariance errors) and
``field_figures`` (heat maps over the grid, animated); ``pattern_figures`` (breaking patterns).

No Streamlit here and no file access, so every builder can be tested and
benchmarked on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.models.registry import FALLBACK_COLORS, model_names, model_spec
from dashboard.text import plotly_text, short_names


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
#: Every figure uses this template: the pages draw them with theme=None so colour scales stay as set.
TEMPLATE = "plotly_white"


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


def error_bars(spread: Sequence[float | None] | None, order: np.ndarray | None = None) -> dict | None:
    """Plotly error bars of ± std (a None std: no bar), or None where no point has a spread."""
    if spread is None or all(s is None for s in spread):
        return None
    values = np.array([0.0 if s is None else float(s) for s in spread])
    # a list, not an array: plotly would ship an array as base64 bytes in the page's JSON
    return {"type": "data", "array": (values if order is None else values[order]).tolist(), "visible": True}


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
    series_x: Mapping[str, Sequence[float]] | None = None,
) -> go.Figure:
    """One line per named series (e.g. loss per epoch, RMSE per rollout step), named in the legend
    by its short name (dashboard.text.short_names) and in full on hover; a series whose
    name starts with "persistence" is the grey dashed baseline. ``models``: as in
    :func:`series_colors`, which colours the others. ``errors``: a series' ± std per point
    over training seeds (None: one seed, no bar), drawn as error bars. ``series_x``: a series'
    own x values where series differ (runs of different lengths, per step), else ``x``."""
    fig = go.Figure()
    all_x: list[np.ndarray] = []
    runs = [name for name in series if not name.startswith("persistence")]
    colors = dict(zip(runs, series_colors(runs, models), strict=True))
    legend = dict(zip(series, short_names(list(series)), strict=True))  # the full name on hover
    for name, ys in series.items():
        ys = np.asarray(ys, dtype=float)
        own = (series_x or {}).get(name, x)
        xs = np.asarray(own) if own is not None else np.arange(1, ys.size + 1)
        all_x.append(np.asarray(xs[: ys.size], dtype=float))
        baseline = name not in colors
        color = "#555" if baseline else colors[name]
        dash = "dash" if baseline else "solid"
        fig.add_trace(
            go.Scatter(
                x=xs[: ys.size],
                y=ys,
                mode="lines+markers" if ys.size <= 60 else "lines",  # markers would hide a long curve
                name=plotly_text(legend[name]),
                line={"color": color, "dash": dash},
                error_y=error_bars((errors or {}).get(name)),
                hovertemplate=f"<b>{plotly_text(name)}</b><br>%{{x}}: %{{y:.3g}}<extra></extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        title=wrapped_title(title),  # e.g. "loss per epoch: <a job named by its run>"
        xaxis_title=xaxis_title,
        yaxis_title=yaxis_title,
        height=height,
        margin={"l": 70, "r": 20, "t": title_margin(title), "b": 40},
        legend=BOTTOM_LEGEND,
    )
    if log_y:
        fig.update_yaxes(**log_axis(series.values()))
    fig.update_xaxes(**whole_number_axis(np.concatenate(all_x) if all_x else []))
    return fig


#: A horizontal legend under a plot, at the bottom of the figure (not at a fraction of the plotting
#: area's height below it): plotly then makes room for it below the x axis's ticks and title, which
#: a legend at y = -0.25 of a narrow panel's area overlapped (the 1024-px browser test checks).
BOTTOM_LEGEND = {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"}


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


#: Characters per line of a figure title: what a half-width plot on a 1024-px screen holds.
TITLE_WIDTH = 30


def _title_lines(text: str, width: int = TITLE_WIDTH) -> list[str]:
    """``text`` broken at spaces into lines of at most about ``width`` characters."""
    lines: list[str] = []
    for word in str(text).split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def wrapped_title(text: str, width: int = TITLE_WIDTH) -> str:
    """A figure title broken into lines of about ``width`` characters (plotly never wraps one: a
    long title runs out of a narrow plot), each line plotly-escaped. Returns the title text."""
    return "<br>".join(plotly_text(line) for line in _title_lines(text, width))


def title_margin(text: str, width: int = TITLE_WIDTH) -> int:
    """The top margin in pixels that holds :func:`wrapped_title` of ``text``."""
    return 50 + 20 * (len(_title_lines(text, width)) - 1)
