"""Seeds in the figures and sentences (mean ± std, the spread rule), the Table 1 page, and the
test splits named by what they hold (issue 26 points 3, 4 and 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.service import comparison, runs, sweep_ratios, sweeps
from core.sweep.aggregate import by_level, leader, seed_count, split_title
from core.sweep.table1 import Spread
from dashboard import ee_figures, figures

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def _row(model, level, seed, ee, future=0.5, domain=0.5, **extra):
    """A sweep row: RMSE ratios ``future`` / ``domain`` over persistence 0.1 / 0.2."""
    row = {"level": level, "model": model, "status": "done", "data_ee_one_step": level / 100,
           "model_ee_mean": ee, "rmse_future": future * 0.1, "rmse_persistence_future": 0.1,
           "rmse_domain": domain * 0.2, "rmse_persistence_domain": 0.2, **extra}  # fmt: skip
    if seed is not None:
        row["seed"] = seed
    return row


def _write(folder: Path, rows: list[dict], preset: str = "cpu", status: str = "done") -> Path:
    folder.mkdir(parents=True)
    record = {"sweep_id": folder.name, "status": status, "config": {"preset": preset, "levels": [0.6]}}
    (folder / "results.json").write_text(json.dumps({**record, "rows": rows}))
    return folder


# ------------------------------------------------------------------ grouping over seeds


def test_rows_group_by_level_and_model_into_mean_and_std_over_seeds():
    rows = [
        _row("rsteer", 0.5, 0, 0.010),
        _row("rsteer", 0.5, 1, 0.014),
        _row("rsteer", 0.0, 0, 0.001),
        _row("convnet", 0.5, None, 0.02),  # no seed: seed 0
    ]
    out = by_level(rows, "model_ee_mean")
    assert [level for level, _ in out["rsteer"]] == [0.0, 0.5]
    two = out["rsteer"][1][1]
    assert (two.count, two.mean, two.std) == (2, pytest.approx(0.012), pytest.approx(0.002))
    assert out["convnet"] == [(0.5, Spread(0.02, 0.0, 1))]
    assert seed_count(rows) == 2 and seed_count(rows[2:]) == 1


def test_figure_4_draws_mean_and_std_bars_over_seeds_and_none_for_one_seed(tmp_path):
    rows = [
        _row("rsteer", 0.5, 0, 0.010),
        _row("rsteer", 0.5, 1, 0.014, future=2.0),  # one seed worse than persistence
        _row("rsteer", 0.9, 0, 0.020),
        _row("rsteer", 0.9, 1, 0.024),
        _row("convnet", 0.5, 0, 0.03),
        _row("convnet", 0.9, 0, 0.04),
    ]
    folder = _write(tmp_path / "sweep-seeds", rows)
    curves = sweeps.sweep_curves(folder, "one_step", notes=True)
    xs, ys, levels, notes, x_std, y_std = curves["RSteer"]
    assert levels == [0.5, 0.9] and ys == [pytest.approx(0.012), pytest.approx(0.022)]
    assert y_std == [pytest.approx(0.002), pytest.approx(0.002)] and x_std == [0.0, 0.0]
    assert notes[0].startswith("seed 1: worse than persistence") and notes[1] == ""
    assert curves["ConvNet"][5] == [None, None]  # one seed: no spread
    fig = ee_figures.equivariance_figure(curves, x_title="data one-step EE")
    lines = {t.name: t for t in fig.data}
    assert list(lines["RSteer"].error_y.array) == pytest.approx([0.002, 0.002])
    assert lines["RSteer"].error_y.visible
    assert lines["ConvNet"].error_y.array is None  # drawn as before: no bars
    assert list(lines["RSteer"].marker.symbol) == ["x", "circle"]


def test_rmse_over_persistence_curves_carry_the_seed_spread_as_error_bars(tmp_path):
    rows = [
        _row("e2cnn", 0.5, 0, 1e-9, future=0.60),
        _row("e2cnn", 0.5, 1, 1e-9, future=0.64),
        _row("convnet", 0.5, 0, 0.02, future=0.80),
    ]
    ratios = sweep_ratios.sweep_accuracy_ratios(_write(tmp_path / "s", rows))
    future = ratios["test-future"]
    assert future["title"] == "test-future (later frames)"
    assert future["ratios"]["E2CNN"] == [pytest.approx(0.62)]
    assert future["spread"] == {"ConvNet": [None], "E2CNN": [pytest.approx(0.02)]}
    fig = figures.line_figure(
        future["ratios"],
        title="t",
        xaxis_title="Δb",
        yaxis_title="r",
        x=future["levels"],
        errors=future["spread"],
    )
    bars = {t.name: t.error_y.array for t in fig.data}
    assert list(bars["E2CNN"]) == pytest.approx([0.02]) and bars["ConvNet"] is None


# ------------------------------------------------------------------ the spread rule in sentences


def _summary(tmp_path, rows) -> list[str]:
    return sweep_ratios.sweep_accuracy_ratios(_write(tmp_path / "sweep", rows))["summary"]


def test_a_lead_beyond_both_seed_spreads_is_said_and_a_smaller_gap_is_a_tie(tmp_path):
    apart = [_row("e2cnn", 0.5, s, 1e-9, future=0.60 + 0.02 * s) for s in (0, 1)]
    apart += [_row("convnet", 0.5, s, 0.02, future=0.80 + 0.02 * s) for s in (0, 1)]
    close = [_row("e2cnn", 0.9, s, 1e-9, future=0.60 + 0.1 * s) for s in (0, 1)]
    close += [_row("convnet", 0.9, s, 0.02, future=0.62 + 0.1 * s) for s in (0, 1)]
    line = next(t for t in _summary(tmp_path, apart + close) if t.startswith("On test-future"))
    assert "over 2 seeds" in line
    assert "more accurate than every other model by more than the two seed spreads: E2CNN at 1" in line
    assert line.endswith("tied within seed spread at 1 level.")
    assert leader({"a": Spread(0.61, 0.01, 2), "b": Spread(0.62, 0.05, 2)}) == ("a", "tied")
    assert leader({"a": Spread(0.61, 0.01, 2), "b": Spread(0.81, 0.01, 2)}) == ("a", "leads")


def test_one_seed_ranks_nothing_and_says_no_spread_was_measured(tmp_path):
    rows = [_row("e2cnn", 0.5, 0, 1e-9, future=0.6), _row("convnet", 0.5, 0, 0.02, future=0.9)]
    line = next(t for t in _summary(tmp_path, rows) if "test-future" in t)
    assert "one seed: no spread measured" in line and "ranks nothing" in line
    assert "more accurate" not in line


# ------------------------------------------------------------------ the Table 1 page


def _table1_rows() -> list[dict]:
    """3 models x 2 seeds: on later frames E2CNN leads ConvNet beyond the spreads and ties RSteer."""
    ratios = {
        "convnet": ((0.80, 0.82), (0.50, 0.52)),
        "e2cnn": ((0.60, 0.62), (0.70, 0.72)),
        "rsteer": ((0.59, 0.65), (0.45, 0.47)),
    }
    return [
        _row(model, 0.6, seed, 0.01, future=future[seed], domain=domain[seed])
        for model, (future, domain) in ratios.items()
        for seed in (0, 1)
    ]


@pytest.fixture
def page_env(tmp_path, monkeypatch):
    """An empty data directory and an empty assets folder for the app."""
    data, assets = tmp_path / "data", tmp_path / "assets"
    assets.mkdir()
    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(data))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(assets))
    return data, assets


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    return at.switch_page("app_pages/table1.py").run()


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    return "\n".join(parts)


def test_table1_view_summarises_a_table1_sweep_beside_the_paper(page_env, tmp_path):
    from core.service import table1_view

    data, _ = page_env
    _write(data / "sweeps" / "sweep-t1", _table1_rows(), preset="table1")
    _write(data / "sweeps" / "sweep-fig4", _table1_rows(), preset="cpu")  # not a Table-1 build
    (entry,) = table1_view.table1_sources()
    view = table1_view.table1_view(entry.path)
    assert [r["model"] for r in view["rows"]] == ["ConvNet", "E2CNN", "RSteer"]
    e2cnn = view["rows"][1]
    assert e2cnn["seeds"] == 2 and e2cnn["RMSE / persistence test-future (later frames)"] == "0.61 ± 0.01"
    assert e2cnn["paper RMSE test-domain"] == 0.76
    future = view["sentences"]["test-future (later frames)"]
    assert future[0].startswith("On later frames, E2CNN has the lowest RMSE over persistence's")
    assert "more accurate than ConvNet by more than the two seed spreads" in future[1]
    assert future[2] == "It is tied within seed spread with RSteer."
    assert view["agreement"]["test-future (later frames)"] == pytest.approx(0.5)


def test_the_shipped_table1_asset_is_read_after_your_builds(page_env):
    from core.service import table1_view

    data, assets = page_env
    _write(assets / "table1", _table1_rows(), preset="table1")
    _write(data / "sweeps" / "sweep-mine", _table1_rows()[::2], preset="table1", status="running")
    sources = table1_view.table1_sources()
    assert [(s.path.name, s.shipped) for s in sources] == [("sweep-mine", False), ("table1", True)]
    notes = table1_view.table1_view(sources[0].path)["notes"]
    assert any(n.startswith("One seed: no spread measured") for n in notes)
    assert any(n.startswith("This build is interrupted") for n in notes)  # its process is gone


def test_table1_page_shows_the_table_rankings_and_paper_agreement(page_env):
    data, _ = page_env
    _write(data / "sweeps" / "sweep-t1", _table1_rows(), preset="table1")
    at = _page()
    assert not at.exception, at.exception
    table, rmse = at.dataframe  # the ratios to persistence, and (in an expander) the RMSE itself
    assert list(table.value["model"]) == ["ConvNet", "E2CNN", "RSteer"]
    assert "RMSE / persistence test-domain (unseen buoyancy strengths)" in table.proto.column_order
    assert "RMSE test-domain (unseen buoyancy strengths)" in rmse.proto.column_order
    text = _text(at)
    assert "test-future (later frames)" in text and "tied within seed spread with RSteer" in text
    assert "Rank agreement with the paper" in text and "its rmse scale is not ours" in text.lower()
    assert not [b for b in at.button if b.key == "t1_build"]  # a build exists: no build offer


def test_without_a_table1_build_the_page_says_how_to_build_one_and_offers_the_job(page_env, monkeypatch):
    from core.service import table1_view

    sent = []
    monkeypatch.setattr(table1_view, "submit_table1", lambda: sent.append(1) or "job-t1")
    at = _page()
    assert not at.exception, at.exception
    assert "python -m core.sweep --preset table1" in _text(at) and "No Table-1 build yet" in _text(at)
    at.button(key="t1_build").click().run()
    assert sent == [1] and any("job-t1" in s.value for s in at.success)


def test_build_table1_submits_the_table1_presets_own_plan(monkeypatch):
    """What is sent is the preset's plan: its level (not a default 0), all its models, its seeds
    and its per-model widths (an earlier version read the levels from the wrong place and sent
    Δb 0)."""
    from core.service import sweeps, table1_view
    from core.sweep import PRESETS

    plan = PRESETS["table1"]["sweep"]
    sent = {}
    monkeypatch.setattr(sweeps, "submit_sweep", lambda **s: sent.update(s) or "job-1")
    assert table1_view.submit_table1() == "job-1"
    assert sent["preset"] == "table1" and sent["levels"] == tuple(plan["levels"]) != (0.0,)
    assert sent["models"] == tuple(plan["models"]) and len(sent["models"]) == 9
    assert sent["seeds"] == plan["seeds"] == 3 and sent["model_options"] == plan["model_options"]
    monkeypatch.delitem(PRESETS, "table1")
    with pytest.raises(ValueError, match="no 'table1' sweep preset"):
        table1_view.submit_table1()


# ------------------------------------------------------------------ split names


def test_the_splits_are_named_by_what_they_hold():
    assert split_title("future") == "test-future (later frames)"
    assert split_title("test_domain") == "test-domain (unseen buoyancy strengths)"
    assert comparison.split_title("test-future") == "test-future (later frames)"
    with pytest.raises(ValueError, match="split must be"):
        split_title("sideways")


def test_run_metrics_and_the_compare_split_choice_name_the_splits(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("APPROXSYM_ASSETS_DIR", raising=False)  # the shipped runs

    run = SimpleNamespace(metrics={"test_domain": {"rmse": 0.1, "persistence_rmse": 0.2}})
    assert runs.run_metric_rows(run)[0]["what"] == "rollout RMSE, test-domain (unseen buoyancy strengths)"
    at = AppTest.from_file(APP, default_timeout=120).run()
    at = at.switch_page("app_pages/compare.py").run()
    assert not at.exception, at.exception
    shown = [r for r in at.radio if r.key == "cmp_split"]
    assert shown and "test-future (later frames)" in shown[0].options


# ------------------------------------------------------------------ frame by frame, over seeds


def _framed(model, level, seed, trained_ee):
    """A row with frame-by-frame errors: model EE ``trained_ee`` on the training frames, 2 later."""
    regions = [["training", 1, 3], ["validation", 4, 4], ["test-future", 5, 6]]
    record = {"frames": [1, 2, 3, 4, 5, 6], "model": [trained_ee] * 3 + [2.0] * 3, "data": [1.0] * 6}
    return _row(model, level, seed, 0.01, ee_by_frame={**record, "regions": regions})


def test_frame_split_averages_seeds_with_bars_and_frame_curves_name_their_seed(tmp_path):
    rows = [_framed("rsteer", 0.5, 0, 0.6), _framed("rsteer", 0.5, 1, 1.0), _framed("convnet", 0.5, 0, 0.7)]
    folder = _write(tmp_path / "s", rows)
    split = sweeps.sweep_frame_split(folder)
    assert split["RSteer"] == ([0.5], [pytest.approx(0.8)], [2.0], [(pytest.approx(0.2), 0.0)])
    assert split["ConvNet"][3] == [None]
    fig = ee_figures.frame_split_figure(split)
    bars = {t.name: t.error_y.array for t in fig.data}
    assert list(bars["RSteer, training frames"]) == pytest.approx([0.2])
    assert bars["ConvNet, training frames"] is None
    labels = [r["label"] for r in sweeps.sweep_ee_by_frame(folder, 0.5)["runs"]]
    assert labels == ["RSteer, seed 0", "ConvNet, seed 0", "RSteer, seed 1"]


def test_the_symmetry_page_draws_a_two_seed_sweep_with_error_bars(page_env):
    data, _ = page_env
    pairs = [(m, level, s) for m in ("rsteer", "e2cnn") for level in (0.0, 0.5) for s in (0, 1)]
    rows = [_row(m, level, s, 0.01 + 0.002 * s + level / 50) for m, level, s in pairs]
    _write(data / "sweeps" / "sweep-two-seeds", rows)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["sym_accuracy_open"] = True  # the accuracy plots are drawn once it is opened
    at.run()
    assert not at.exception, at.exception
    charts = {str(c.key): json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    figure4 = {t["name"]: t for t in charts["sym_plot"]["data"] if "name" in t}
    assert figure4["RSteer"]["error_y"]["array"] == pytest.approx([0.001, 0.001])
    ratios = {t["name"]: t for t in charts["sym_accuracy_test-future"]["data"]}
    assert "error_y" in ratios["E2CNN"] and "error_y" not in ratios["persistence (= 1)"]


def test_parameters_are_counted_from_the_builds_own_settings():
    """The parameters column counts the models as the build resolved them: a wider model has
    more, a per-cell model is sized by the data's grid, and a config that no longer builds is
    left out rather than breaking the page."""
    from core.sweep.table1 import parameter_counts

    base = {"input_frames": 2, "layers": 2, "kernel_size": 3, "smoke": True, "alpha": 0.0}
    resolved = {
        "data": {"grid": 16},
        "models": {
            "convnet": {**base, "name": "convnet", "hidden": 8},
            "rgroup": {**base, "name": "rgroup", "hidden": 8},
            "mlp": {**base, "name": "mlp", "hidden": 8},
            "e2cnn": {**base, "name": "e2cnn", "hidden": 7},  # not a multiple of 4: refused
        },
    }
    counts = parameter_counts(resolved)
    assert set(counts) == {"convnet", "rgroup", "mlp"}
    assert counts["convnet"] == 6 * 8 * 9 + 8 + 8 * 3 * 9 + 3  # two 3x3 layers with biases
    wider = {**resolved, "models": {"rgroup": {**base, "name": "rgroup", "hidden": 12}}}
    assert parameter_counts(wider)["rgroup"] > counts["rgroup"]
    bigger = parameter_counts({**resolved, "data": {"grid": 32}})
    assert bigger["mlp"] > counts["mlp"] and bigger["convnet"] == counts["convnet"]
