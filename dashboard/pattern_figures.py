"""Figures of which symmetry is left: the four plumes of a breaking pattern, and where a relaxed
model's symmetry breaking lives among the C4 irreps. Arrays and numbers in, plotly figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from dashboard.figures import BOTTOM_LEGEND, TEMPLATE

#: Where orientation k's inflow sits (x, y in box units, centre 0) and where its buoyancy points:
#: k = 0 below the centre pushing up, then turned counter-clockwise by k quarter turns.
_INFLOW = {0: ((0.0, -0.3), (0.0, 1.0)), 1: ((0.3, 0.0), (-1.0, 0.0)), 2: ((0.0, 0.3), (0.0, -1.0))}
_INFLOW[3] = ((-0.3, 0.0), (1.0, 0.0))
_PLUME_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2")


def plume_pattern_figure(strength_factors: Sequence[float], title: str = "") -> go.Figure:
    """The closed box seen from above: each orientation's inflow as a dot and its buoyancy as an
    arrow whose length is proportional to its strength (``strength_factors`` (4,): b_k / b, as
    core.data.DataConfig.strength_factors returns), labelled ``×1.6``. Equal arrows are equal
    plumes; the pattern of unequal ones is the symmetry breaking."""
    factors = [float(f) for f in strength_factors]
    if len(factors) != 4 or min(factors) <= 0:
        raise ValueError(f"plume_pattern_figure needs four positive strength factors, got {factors}")
    top = max(factors)
    fig = go.Figure()
    fig.add_shape(type="rect", x0=-0.5, y0=-0.5, x1=0.5, y1=0.5, line={"color": "#444", "width": 2})
    for k, ((x, y), (dx, dy)) in _INFLOW.items():
        length = 0.22 * factors[k] / top
        fig.add_annotation(
            x=x + dx * length,
            y=y + dy * length,
            ax=x,
            ay=y,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowwidth=3,
            arrowcolor=_PLUME_COLORS[k],
            text="",
        )
        fig.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers+text",
                marker={"size": 14, "color": _PLUME_COLORS[k]},
                text=[f"×{factors[k]:.2g}"],
                textposition=_label_side(dx, dy),
                textfont={"size": 14},
                showlegend=False,
                hovertemplate=f"plume {k} ({90 * k}°): buoyancy b × {factors[k]:.3g}<extra></extra>",
            )
        )
    axis = {"range": [-0.72, 0.72], "visible": False, "fixedrange": True}  # room for a side label
    fig.update_layout(
        template=TEMPLATE,
        title=title or None,
        height=260,
        width=260,
        xaxis=axis,
        yaxis={**axis, "scaleanchor": "x"},
        margin={"l": 5, "r": 5, "t": 40 if title else 5, "b": 5},
    )
    return fig


def _label_side(dx: float, dy: float) -> str:
    """Put a plume's label on the side away from its arrow."""
    if dy > 0:
        return "bottom center"
    if dy < 0:
        return "top center"
    return "middle left" if dx > 0 else "middle right"


def irrep_spectrum_figure(layers: Sequence[Mapping[str, float]], title: str = "") -> go.Figure:
    """Where a relaxed model breaks symmetry, layer by layer: the share of each layer's relaxed
    weight energy in the two symmetry-breaking C4 irrep parts (core.models.rsteer.c4_irrep_parts):
    ``sign`` (breaks quarter turns, keeps the half-turn) and ``rotation`` (the ±i pair: breaks the
    half-turn too). ``layers[i]`` is that layer's ``irrep_energy`` mapping (fractions of the total,
    ``trivial`` being the symmetric rest). A log axis: a part at round-off is 1e-12, not 0."""
    if not layers:
        raise ValueError("irrep_spectrum_figure needs at least one layer")
    names = [f"layer {i}" for i in range(len(layers))]
    fig = go.Figure()
    parts = (
        ("sign", "sign irrep (keeps half-turns)", "#f58518"),
        ("rotation", "±i pair (breaks half-turns)", "#e45756"),
    )
    for key, label, color in parts:
        values = [max(float(layer.get(key, 0.0)), 1e-16) for layer in layers]
        fig.add_trace(
            go.Bar(
                x=names,
                y=values,
                name=label,
                marker_color=color,
                hovertemplate=f"%{{x}}, {label}: %{{y:.3g}} of the weights' energy<extra></extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        barmode="group",
        title=title or "Symmetry-breaking energy per C4 irrep",
        yaxis={"type": "log", "title": "share of weight energy", "exponentformat": "e"},
        height=320,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend=BOTTOM_LEGEND,
    )
    return fig
