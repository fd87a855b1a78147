"""The pattern picture and the irrep spectrum draw what they are given."""

from __future__ import annotations

import math

import pytest

from core.data import DataConfig
from dashboard.pattern_figures import irrep_spectrum_figure, plume_pattern_figure


def _arrow_lengths(fig):
    return [math.hypot(a.x - a.ax, a.y - a.ay) for a in fig.layout.annotations]


def test_each_plume_arrow_is_as_long_as_its_strength():
    half = plume_pattern_figure(DataConfig(buoyancy_diff=0.6, breaking="half_turn").strength_factors())
    lengths = _arrow_lengths(half)
    assert lengths[0] == pytest.approx(lengths[2]) and lengths[1] == pytest.approx(lengths[3])
    assert lengths[1] / lengths[0] == pytest.approx(1.6)
    assert [t.text[0] for t in half.data] == ["×1", "×1.6", "×1", "×1.6"]
    ramp = _arrow_lengths(plume_pattern_figure(DataConfig(buoyancy_diff=0.5).strength_factors()))
    assert ramp == sorted(ramp) and ramp[3] / ramp[0] == pytest.approx(2.5)
    with pytest.raises(ValueError, match="four positive strength factors"):
        plume_pattern_figure([1, 1, 1])


def test_the_spectrum_shows_both_breaking_parts_per_layer_on_a_log_axis():
    fig = irrep_spectrum_figure(
        [{"trivial": 0.9, "sign": 0.1, "rotation": 0.0}, {"sign": 1e-3, "rotation": 2e-3}]
    )
    sign, rotation = fig.data
    assert list(sign.y) == [0.1, 1e-3] and list(rotation.y) == [1e-16, 2e-3]  # 0 drawn at the floor
    assert fig.layout.yaxis.type == "log" and list(sign.x) == ["layer 0", "layer 1"]
