"""Figures of a run tracker: a run's loss per step, raw and smoothed (arrays in, figures out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard import figures
from dashboard.text import plotly_text

#: The train curve's colour; validation is drawn in the second.
_COLORS = {"train": "#1f77b4", "validation": "#d62728"}


def _color(name: str) -> str:
    return _COLORS["validation" if name.startswith("validation") else "train"]


def _hover(name: str, x_title: str) -> str:
    return f"{plotly_text(name)}<br>{x_title} %{{x}}: %{{y:.4g}}<extra></extra>"


def loss_curve_figure(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    smoothed: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    x_title: str,
    y_title: str,
    height: int = 340,
) -> go.Figure:
    """Each loss series as TensorBoard draws it: the raw values faint, the smoothed ones (same
    name in ``smoothed``) solid on top; a series without a smoothed twin (the per-epoch
    validation loss beside per-step training) solid with markers; a curve of one point (a run of
    one step) as a marker. Log y axis."""
    fig = go.Figure()
    for name, (x, y) in series.items():
        twin = smoothed.get(name)
        color = _color(name)
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=list(y),
                mode="lines" if twin else "lines+markers",
                name=plotly_text(f"{name}, raw" if twin else name),
                line={"color": color, "width": 1},
                opacity=0.3 if twin else 1.0,
                showlegend=twin is None,
                hovertemplate=_hover(name, x_title),
            )
        )
        if twin:
            fig.add_trace(
                go.Scatter(
                    x=list(twin[0]),
                    y=list(twin[1]),
                    mode="lines" if len(twin[0]) > 1 else "markers",  # one step: a line shows nothing
                    name=plotly_text(f"{name}, smoothed"),
                    line={"color": color, "width": 2},
                    hovertemplate=_hover(f"{name}, smoothed", x_title),
                )
            )
    fig.update_layout(
        template=figures.TEMPLATE,
        title=plotly_text(title),
        xaxis_title=x_title,
        yaxis_title=y_title,
        height=height,
        margin={"l": 70, "r": 20, "t": 50, "b": 40},
        legend=figures.BOTTOM_LEGEND,
    )
    values = [np.asarray(y, dtype=float) for _, y in series.values()]
    if values:
        fig.update_yaxes(**figures.log_axis(values))
        fig.update_xaxes(
            **figures.whole_number_axis(np.concatenate([np.asarray(x, float) for x, _ in series.values()]))
        )
    return fig
