"""Table 1's summary: mean ± std over seeds, ratios to persistence, and the seed-spread rule."""

from __future__ import annotations

import math

import pytest

from core.sweep.table1 import (
    PAPER_ROTATION_RMSE,
    Spread,
    compare,
    paper_rank_agreement,
    ranking_sentences,
    summarise,
)


def _row(model, seed, future, domain, base=1.0, status="done"):
    return {
        "model": model,
        "seed": seed,
        "status": status,
        "rmse_future": future,
        "rmse_domain": domain,
        "rmse_persistence_future": base,
        "rmse_persistence_domain": 2 * base,
        "model_ee_mean": 0.01 * seed,
    }


def test_the_paper_row_has_all_nine_models_under_their_registry_names():
    assert set(PAPER_ROTATION_RMSE) == {
        "mlp",
        "convnet",
        "e2cnn",
        "rpp",
        "combo",
        "clcnn",
        "lift",
        "rgroup",
        "rsteer",
    }
    assert PAPER_ROTATION_RMSE["rsteer"] == (0.80, 0.67)


def test_summarise_gives_mean_and_std_of_rmse_and_of_its_ratio_to_persistence():
    rows = [_row("convnet", s, f, 1.0, base=2.0) for s, f in [(0, 1.0), (1, 1.2), (2, 1.4)]]
    rows.append(_row("convnet", 3, 9.0, 9.0, status="diverged"))  # left out
    (line,) = summarise(rows)
    assert line.seeds == (0, 1, 2)
    assert line.rmse["future"].mean == pytest.approx(1.2) and line.rmse["future"].std == pytest.approx(
        0.163299, rel=1e-5
    )
    assert line.ratio["future"].mean == pytest.approx(0.6)
    assert line.ratio["domain"].mean == pytest.approx(0.25) and line.ratio["domain"].std == 0
    assert line.paper == (1.21, 1.10)


def test_a_gap_inside_the_two_spreads_is_a_tie_and_outside_it_a_ranking():
    a, b = Spread(0.50, 0.02, 3), Spread(0.55, 0.02, 3)
    assert compare(a, b) == "better" and compare(b, a) == "worse"
    assert compare(Spread(0.50, 0.04, 3), b) == "tied"  # gap 0.05 < 0.04 + 0.02
    assert compare(a, Spread(math.nan, math.nan, 0)) == "tied"


def test_ranking_sentences_follow_the_spread_rule():
    rows = [_row("rsteer", s, 0.50 + 0.01 * s, 1.0) for s in range(3)]
    rows += [_row("e2cnn", s, 0.51 + 0.01 * s, 1.0) for s in range(3)]
    rows += [_row("convnet", s, 0.70 + 0.01 * s, 1.0) for s in range(3)]
    sentences = ranking_sentences(summarise(rows), "future", label=str.upper)
    assert sentences[0].startswith(
        "On later frames, RSTEER has the lowest RMSE over persistence's (0.51 ± 0.0082, 3 seeds)"
    )
    assert sentences[1] == "It is more accurate than CONVNET by more than the two seed spreads."
    assert sentences[2] == "It is tied within seed spread with E2CNN."


def test_rank_agreement_with_the_paper():
    same = [_row(m, 0, f, d) for m, (f, d) in PAPER_ROTATION_RMSE.items()]
    assert paper_rank_agreement(summarise(same), "domain") == pytest.approx(1.0)
    reverse = [_row(m, 0, 3 - f, 3 - d) for m, (f, d) in PAPER_ROTATION_RMSE.items()]
    assert paper_rank_agreement(summarise(reverse), "domain") == pytest.approx(-1.0)
    assert paper_rank_agreement(summarise(same[:2]), "future") is None
