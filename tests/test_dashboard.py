"""Dashboard tests: figure builders, the pages' core helpers, and every page under AppTest.

AppTest runs the page scripts headless (no browser, no fragment timers) against the
shipped assets (core.store.paths.assets_dir(), which APPROXSYM_ASSETS_DIR may redirect) and a
fresh temporary data directory per test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.service import (
    common,
    comparison,
    datasets,
    items,
    jobs,
    queue,
    runs,
    sweep_ratios,
    sweeps,
)
from dashboard import ee_figures, field_figures, figures
from dashboard.text import short_names

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
PAGES = ("app_pages/symmetry.py", "app_pages/data.py", "app_pages/train.py", "app_pages/compare.py")


@pytest.fixture
def no_assets(tmp_path, monkeypatch):
    """An empty assets folder: the app must still start and say what is missing."""
    empty = tmp_path / "assets"
    empty.mkdir()
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(empty))
    return empty


def _figure4_sweep(assets: Path) -> Path:
    """The shipped Figure-4 sweep (not the pattern sweep beside it)."""
    return next(
        p
        for p in sorted((assets / "sweeps").iterdir())
        if json.loads((p / "results.json").read_text())["config"].get("preset") != "patterns"
    )


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


#: A backslash before ASCII punctuation, as CommonMark reads it: the character itself.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def _shown(markdown: str) -> str:
    """The text a markdown string shows where it is only escapes and words (backslash escapes
    resolved, word joiners invisible), which is how the tests below read what a person sees."""
    return _ESCAPE.sub(r"\1", markdown).replace("\u2060", "")


def _texts(elements) -> list[str]:
    return [_shown(str(e.value)) for e in elements]


# ------------------------------------------------------------------- figures


def test_equivariance_figure_has_a_line_per_model_and_the_diagonal():
    curves = {"convnet": ([0.0, 0.3, 0.1], [0.05, 0.2, 0.1]), "e2cnn": ([0.0, 0.1, 0.3], [0.0, 0.0, 0.0])}
    fig = ee_figures.equivariance_figure(curves)
    names = [t.name for t in fig.data]
    assert names[:2] == ["convnet", "e2cnn"] and names[2].startswith("y = x")
    # points are drawn in order of data error, so the line does not zig-zag
    assert list(fig.data[0].x) == [0.0, 0.1, 0.3] and list(fig.data[0].y) == [0.05, 0.1, 0.2]
    diag = fig.data[2]
    assert diag.x[0] == diag.y[0] == 0 and diag.x[1] == diag.y[1] >= 0.3
    assert "%{y" in fig.data[0].hovertemplate
    with pytest.raises(ValueError, match="convnet"):
        ee_figures.equivariance_figure({"convnet": ([0.0, 0.1], [0.0])})
    unmatched = ee_figures.equivariance_figure(curves, diagonal=False)  # the trajectory axis
    assert [tr.name for tr in unmatched.data] == [tr.name for tr in fig.data][:-1]


def test_two_runs_of_one_model_get_two_shades_of_its_colour():
    names = ["ConvNet 32 ch (shipped)", "ConvNet 32 ch", "RSteer 32 ch", "my lesson run"]
    colors = figures.series_colors(names)
    assert colors[0] == figures.MODEL_COLORS["convnet"] and colors[2] == figures.MODEL_COLORS["rsteer"]
    assert len(set(colors)) == 4  # the second ConvNet is a lighter blue, not the same one
    r, g, b = (int(colors[1][k : k + 2], 16) for k in (1, 3, 5))
    assert b > max(r, g) and colors[1] > colors[0]  # still blue, lighter
    fig = ee_figures.per_element_figure({n: {1: 0.1, 2: 0.2, 3: 0.3} for n in names[:2]})
    assert fig.data[0].marker.color != fig.data[1].marker.color
    # A run renamed by its user keeps its model's colour when the figure is told the model.
    renamed = figures.series_colors(["my lesson run"], {"my lesson run": "rsteer"})
    assert renamed == [figures.MODEL_COLORS["rsteer"]]
    lines = figures.line_figure(
        {"persistence (next = this frame)": [1, 2], "my lesson run": [0.5, 1], "RSteer 32 ch": [0.4, 0.9]},
        title="t",
        xaxis_title="x",
        yaxis_title="y",
        models={"my lesson run": "rsteer"},
    )
    assert [tr.line.color for tr in lines.data[1:]] == figures.series_colors(
        ["my lesson run", "RSteer 32 ch"], {"my lesson run": "rsteer"}
    )
    assert lines.data[0].line.dash == "dash" and lines.data[1].line.color.startswith("#d6")


def test_animated_panels_keep_rows_up_share_a_scale_and_cap_frames():
    t, n = 60, 8
    rng = np.random.default_rng(0)
    a, b = rng.random((t, n, n)), 2 + rng.random((t, n, n))
    fig = field_figures.animated_panels([a, b], ["a", "b"])
    assert len(fig.frames) <= field_figures.MAX_FRAMES
    assert fig.frames[0].name == "0" and fig.frames[-1].name == str(t - 1)
    first = fig.data[0]
    # row 0 of the data is row 0 of the heatmap (drawn at the bottom): no flip
    np.testing.assert_allclose(np.asarray(first.z)[0], a[0, 0], atol=1e-4)
    assert first.zmin == pytest.approx(a.min()) and fig.data[1].zmax == pytest.approx(b.max())
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(fig.frames) and steps[-1].label == f"t = {t - 1}"
    assert [btn.label for btn in fig.layout.updatemenus[0].buttons] == ["▶", "❚❚"]
    with pytest.raises(ValueError, match="frame counts"):
        field_figures.animated_panels([a, b[:5]], ["a", "b"])
    with pytest.raises(ValueError, match="titles"):
        field_figures.animated_panels([a], ["a", "b"])


def test_orientation_figure_draws_four_panels_with_arrows_that_point_along_the_flow():
    t, n = 3, 8
    smoke = np.zeros((4, t, n, n))
    vel = np.zeros((4, t, 2, n, n))
    vel[:, :, 1] = 1.0  # straight up
    smoke[:, -1] = 1.0  # the developed plume: the figure opens on the last frame
    fig = field_figures.orientations_figure(smoke, vel, view="smoke", quiver_stride=4)
    assert np.asarray(fig.data[0].z).min() == 1.0 and fig.layout.sliders[0].active == t - 1
    heat = [tr for tr in fig.data if tr.type == "heatmap"]
    arrows = [tr for tr in fig.data if tr.type == "scattergl"]
    assert len(heat) == 4 and len(arrows) == 4
    xs, ys = np.asarray(arrows[0].x, dtype=float), np.asarray(arrows[0].y, dtype=float)
    # first arrow: shaft from (x0, y0) to (x0, y0 + length), i.e. upward in the picture
    assert xs[1] == pytest.approx(xs[0]) and ys[1] > ys[0]
    speed_fig = field_figures.orientations_figure(smoke, vel, view="speed")
    assert all(tr.type == "heatmap" for tr in speed_fig.data)
    np.testing.assert_allclose(np.asarray(speed_fig.data[0].z), 1.0)
    with pytest.raises(ValueError, match="view"):
        field_figures.orientations_figure(smoke, vel, view="nope")


def test_error_maps_and_rmse_and_per_element_figures():
    truth = np.zeros((4, 2, 6, 6))
    pred = np.ones((4, 2, 6, 6))
    pred[:, 1] = 3.0
    fig = field_figures.error_maps_figure(truth, {"convnet": pred})
    np.testing.assert_allclose(np.asarray(fig.data[0].z), 2.0)  # mean over components of |1|, |3|
    roll = field_figures.rollout_figure(truth, {"convnet": pred, "rsteer": pred})
    assert [a.text for a in roll.layout.annotations] == ["ground truth", "convnet", "rsteer"]
    assert roll.layout.sliders[0].steps[0].label == "step 1"
    bars = ee_figures.per_element_figure({"rsteer": {1: 0.1, 2: 0.2, 3: 0.3}, "e2cnn": {"90": 0.0}})
    assert list(bars.data[0].x) == ["90°", "180°", "270°"] and list(bars.data[1].x) == ["90°"]
    line = figures.line_figure({"train": [3, 2, 1]}, title="t", xaxis_title="x", yaxis_title="y", log_y=True)
    assert list(line.data[0].x) == [1, 2, 3] and line.layout.yaxis.type == "log"


def test_symmetry_map_figure_shows_the_time_average():
    m = np.stack([np.zeros((4, 4)), 2 * np.ones((4, 4))])
    fig = field_figures.symmetry_map_figure(m)
    np.testing.assert_allclose(np.asarray(fig.data[1].z), 1.0)
    assert len(fig.frames) == 2


def test_every_animation_frame_redraws_its_heat_maps_with_no_svg_scatter_trace():
    """Plotly animates an SVG scatter trace by a transition that redraws only it: the heat maps
    stayed blank until the next redraw, so Play showed frames with arrows only. Every frame must
    hold each panel's heat map, and no trace plotly would transition on its own."""
    t, n = 5, 8
    smoke, vel = np.random.default_rng(0).random((4, t, n, n)), np.ones((4, t, 2, n, n))
    fig = field_figures.orientations_figure(smoke, vel, view="smoke", quiver_stride=4)
    assert len(fig.frames) == t
    for frame in fig.frames:
        assert [tr.type for tr in frame.data].count("heatmap") == 4
        assert not any(tr.type == "scatter" for tr in frame.data), [tr.type for tr in frame.data]
    assert not any(tr.type == "scatter" for tr in fig.data)


def test_disagreement_maps_share_one_fixed_colour_scale():
    """A larger buoyancy difference must show as more colour, not as other colour-bar numbers: the
    scale's top is half the slowest plume's top speed, which the difference does not change, and
    two datasets side by side share it."""
    from core.symmetry import data_equivariance_map, disagreement_scale

    rng = np.random.default_rng(1)
    base = rng.normal(size=(1, 1, 6, 2, 8, 8))
    speeds = []
    maps = {}
    for diff in (0.3, 0.9):
        factors = np.array([1 + k * diff for k in range(4)]).reshape(4, 1, 1, 1, 1, 1)
        velocity = np.repeat(base, 4, axis=0) * factors  # orientation k's flow is (1 + kΔb) x faster
        speeds.append(disagreement_scale(velocity))
        maps[f"Δb {diff}"] = data_equivariance_map(velocity)
    assert speeds[0] == pytest.approx(speeds[1])
    top = np.sqrt((base[0] ** 2).sum(axis=-3)).max()
    assert speeds[0] == pytest.approx(0.5 * top)
    alone = [field_figures.symmetry_map_figure(m, speeds[0]) for m in maps.values()]
    assert [fig.data[0].zmax for fig in alone] == [pytest.approx(speeds[0])] * 2
    pair = field_figures.symmetry_maps_figure(maps, speeds[0])
    assert [(tr.zmin, tr.zmax) for tr in pair.data] == [(0.0, pytest.approx(speeds[0]))] * 2
    assert [a.text for a in pair.layout.annotations] == ["Δb 0.3", "Δb 0.9"]


def test_runs_are_named_short_in_legends_and_panel_titles_and_in_full_on_hover():
    names = [
        f"{m} 32 ch · 2 frames in · with smoke · 30 ep · Δb 0.3 (shipped)" for m in ("RSteer", "ConvNet")
    ]
    names.append("ConvNet 32 ch · 2 frames in · with smoke · 1 ep · Δb 0.3")
    assert short_names(names) == ["RSteer · 30 ep · shipped", "ConvNet · 30 ep · shipped", "ConvNet · 1 ep"]
    assert short_names(names[:2] + ["my run"]) == ["RSteer", "ConvNet", "my run"]
    assert short_names(["a · b", "a · b"]) == ["a · b", "a · b"]  # never two alike
    line = figures.line_figure(
        {n: [1.0, 0.5] for n in names[:2]}, title="RMSE per rollout step", xaxis_title="x", yaxis_title="y"
    )
    assert [tr.name for tr in line.data] == ["RSteer", "ConvNet"]
    assert names[0] in line.data[0].hovertemplate
    bars = ee_figures.per_element_figure({n: {1: 0.1} for n in names[:2]})
    assert [tr.name for tr in bars.data] == ["RSteer", "ConvNet"] and names[1] in bars.data[1].hovertemplate
    truth = np.zeros((2, 2, 4, 4))
    roll = field_figures.rollout_figure(truth, {n: truth for n in names[:2]})
    notes = roll.layout.annotations
    assert [a.text for a in notes] == ["ground truth", "RSteer", "ConvNet"]
    assert [a.hovertext for a in notes[1:]] == names[:2]
    title = figures.line_figure(
        {"a": [1]}, title="test-domain (unseen buoyancy strengths)", xaxis_title="x", yaxis_title="y"
    ).layout.title.text
    assert all(len(line) <= figures.TITLE_WIDTH for line in title.split("<br>")), title


# ---------------------------------------------------------------- core.service (reads)


def test_views_list_data_and_sweeps_from_both_places(data_dir, tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    (shipped / "datasets").mkdir(parents=True)
    (shipped / "datasets" / "ship.h5").write_bytes(b"")
    (data_dir / "datasets").mkdir(parents=True)
    (data_dir / "datasets" / "mine.h5").write_bytes(b"")
    (data_dir / "datasets" / ".partial.h5.tmp").write_bytes(b"")
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(shipped))
    entries = datasets.dataset_entries()
    assert [(e.name, e.shipped) for e in entries] == [("mine.h5", False), ("ship.h5", True)]
    # unreadable files are listed, named as such (never by their hash), numbered if alike
    assert entries[1].label.endswith("(shipped)") and "ship.h5" not in entries[1].label


def test_uploaded_garbage_is_rejected_and_leaves_nothing(data_dir):
    from core.store.runs import CheckpointError

    with pytest.raises(CheckpointError):
        runs.import_checkpoint("model.pt", b"not a checkpoint at all")
    with pytest.raises(ValueError, match="uploaded file name"):
        runs.import_checkpoint("..", b"x")
    folder = data_dir / "runs"
    assert not folder.exists() or not any(folder.iterdir())


# ------------------------------------------------------------------- AppTest


def test_every_page_renders_without_assets_and_says_what_is_missing(data_dir, no_assets):
    at = _app().run()
    assert not at.exception
    assert any("No finished sweep" in w for w in _texts(at.warning))
    at.switch_page("app_pages/data.py").run()
    assert not at.exception and any("No dataset" in i for i in _texts(at.info))
    at.switch_page("app_pages/train.py").run()
    assert not at.exception and any("No dataset" in e for e in _texts(at.error))
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception and any("No trained run" in e for e in _texts(at.error))


@pytest.mark.parametrize("address", ["home", "symmetry"])
def test_home_and_symmetry_addresses_reach_the_landing_page_with_its_item_lit(data_dir, no_assets, address):
    at = _app().run()
    landing = [t.value for t in at.title]
    pages = at._registered_pages  # page hash -> what st.navigation told the page manager
    [served_at_root] = [h for h, page in pages.items() if page.get("url_pathname") == ""]
    # What the server runs for /<address>: the page whose url_pathname is that address
    # (streamlit.runtime.pages_manager); none is "Page not found".
    asked = [h for h, page in pages.items() if page.get("url_pathname") == address]
    assert asked, f"/{address} would answer 'Page not found'"
    at._page_hash = asked[0]
    at.run()
    assert not at.exception and [t.value for t in at.title] == landing
    # The page that ran is the sidebar's "Symmetry" item (served at "/"), so that item is lit.
    assert at._finished_page_script_hash == served_at_root


def test_symmetry_page_plots_the_shipped_sweep(data_dir):
    at = _app().run()
    assert not at.exception, at.exception
    charts = [c for c in at.get("plotly_chart") if not str(c.key).startswith("lesson_")]
    assert charts, "no plot on the landing page"
    fig = json.loads(charts[0].proto.spec)
    names = [t.get("name", "") for t in fig["data"]]
    assert any(n.startswith("y = x") for n in names) and len(names) >= 2
    # the axes' explanation (with its formula) is drawn once its expander is opened
    assert not any("Def. 2.1" in m.value for m in at.markdown) and not at.latex
    at.session_state["sym_axes_open"] = True
    at.run()
    assert any("Def. 2.1" in m.value for m in at.markdown) and at.latex


def test_data_page_renders_and_the_dial_reruns_cleanly(data_dir):
    at = _app().switch_page("app_pages/data.py").run()
    assert not at.exception, at.exception
    # the two plume animations, the per-rotation bars and the plume pictures of form and dataset
    charts = {"data_anim", "data_map", "data_per_rotation_fig", "gen_pattern", "data_pattern"}
    assert {c.key for c in at.get("plotly_chart")} == charts
    ee = next(m for m in at.metric if m.label == "Data EE, trajectory")
    one = next(m for m in at.metric if m.label == "Data EE, one step")
    assert 0 < float(one.value) < float(ee.value)  # the shipped Δb 0.3 set: one step is far smaller
    at.slider(key="gen_diff").set_value(0.5).run()
    assert not at.exception
    at.radio(key="data_view").set_value("speed").run()
    assert not at.exception and {c.key for c in at.get("plotly_chart")} == charts


def test_train_and_compare_pages_render_the_shipped_runs(data_dir):
    at = _app().switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    assert at.dataframe, "runs table missing"
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, at.exception
    assert not _texts(at.error), _texts(at.error)
    picked = next(m for m in at.multiselect if str(m.key).startswith("cmp_runs"))
    assert len(picked.value) >= 2
    assert len(at.get("plotly_chart")) >= 4
    # change the run selection and the split: the page reruns cleanly
    picked.set_value(picked.options[:2]).run()
    assert not at.exception
    at.selectbox(key="cmp_orient").set_value(1).run()
    assert not at.exception and not _texts(at.error), _texts(at.error)
    # with an RSteer run among the picked ones, its relaxed weights are shown
    rsteer = [o for o in picked.options if o.startswith("RSteer")]
    if rsteer:
        at.multiselect(key=picked.key).set_value(
            rsteer[:1] + [o for o in picked.options if o not in rsteer][:1]
        ).run()
        assert not at.exception
        assert any("relaxed weights" in h.value for h in at.subheader)


def test_a_runs_metrics_csv_says_which_run_it_is(data_dir):
    import csv
    import io

    from core.names import run_label

    run = next(r for r in runs.list_runs() if r.metrics)
    rows = list(csv.DictReader(io.StringIO(runs.run_metrics_csv(run).decode())))
    head = {r["metric"]: r["value"] for r in rows[:4]}
    assert head == {
        "run": run_label(run.config),
        "run_id": run.id,
        "model": run.model_name,
        "dataset": datasets.dataset_title(datasets.run_dataset_name(run.config)),
    }
    assert any(r["metric"] == "test_future.rmse" and float(r["value"]) > 0 for r in rows)


def test_a_valid_uploaded_checkpoint_becomes_a_run(data_dir):
    from core.store.runs import list_runs

    shipped = next(r for r in list_runs() if r.shipped and "checkpoint" in r.paths)
    run_id = runs.import_checkpoint("my model.pt".replace(" ", "_"), shipped.paths["checkpoint"].read_bytes())
    mine = [r for r in list_runs() if r.id == run_id]
    assert mine and not mine[0].shipped and mine[0].model_name == shipped.model_name
    assert (data_dir / "runs" / run_id / "checkpoint.pt").is_file()


def test_relaxed_weights_figure_shares_a_scale_from_zero():
    a, b = np.zeros((3, 3)), np.arange(9.0).reshape(3, 3)
    fig = field_figures.relaxed_weights_figure([("layer 0", a), ("layer 1", b)], "dev", "|w|")
    assert [t.zmin for t in fig.data] == [0, 0] and fig.data[0].zmax == fig.data[1].zmax == 8.0
    assert list(fig.data[1].x) == [-1, 0, 1]
    with pytest.raises(ValueError):
        field_figures.relaxed_weights_figure([], "dev", "|w|")


def test_relaxation_maps_flip_rsteer_kernels_to_rows_up():
    class Fake:
        def relaxation_summary(self):
            m = np.array([[1.0, 0, 0], [0, 0, 0], [0, 0, 0]])  # kernel row 0 = top row
            return [{"layer": 0, "deviation_map": m, "asymmetry_map": m, "relative_deviation": 0.1}]

    (layer,) = comparison.relaxation_maps(Fake())
    assert layer["name"] == "layer 0" and layer["deviation"][2, 0] == 1.0 and layer["deviation"][0, 0] == 0
    assert comparison.relaxation_maps(object()) == []


def test_cancel_button_stops_a_running_training_job(data_dir, shipped):
    """A real background job, started through core.jobs, stopped by the Train page's button."""
    import time

    from core.jobs import JobRunner
    from core.models import ModelConfig
    from core.store.registry import Registry
    from core.train.config import TrainConfig

    dataset = next((shipped / "datasets").glob("*.h5"))
    job_id = JobRunner().submit(
        "train",
        {
            "data_path": str(dataset),
            "model_config": ModelConfig.for_model("convnet", hidden=8, layers=2).to_dict(),
            "train_config": TrainConfig(epochs=500, patience=500, device="cpu").to_dict(),
        },
    )
    registry = Registry()
    deadline = time.time() + 60
    while registry.get_job(job_id).status == "queued" and time.time() < deadline:
        time.sleep(0.2)
    assert registry.get_job(job_id).status == "running"
    at = _app().switch_page("app_pages/train.py").run()
    assert not at.exception
    at.button(key=f"cancel_{job_id}_train").click().run()
    assert not at.exception
    deadline = time.time() + 30
    while not registry.get_job(job_id).finished_state and time.time() < deadline:
        time.sleep(0.2)
    assert registry.get_job(job_id).status == "cancelled"


# ------------------------------------------------------- names, renames, jobs (views)


def _sweep_dir(tmp_path: Path, rows: list[dict]) -> Path:
    folder = tmp_path / "sweep-x"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"config": {"levels": [0, 0.5]}, "rows": rows}))
    return folder


def test_sweep_curves_plot_against_the_matched_one_step_error_when_the_file_has_it(tmp_path):
    new = [
        {
            "level": 0.5,
            "model": "rsteer",
            "data_ee_one_step": 0.02,
            "data_ee_trajectory": 0.1,
            "model_ee_mean": 0.01,
        },
        {
            "level": 0.0,
            "model": "rsteer",
            "data_ee_one_step": 0.0,
            "data_ee_trajectory": 0.0,
            "model_ee_mean": 0.001,
        },
    ]
    folder = _sweep_dir(tmp_path, new)
    assert sweeps.sweep_axes(folder) == ["one_step", "trajectory"]
    assert sweeps.sweep_curves(folder, "one_step") == {"RSteer": ([0.0, 0.02], [0.001, 0.01], [0.0, 0.5])}
    assert sweeps.sweep_curves(folder, "trajectory")["RSteer"][0] == [0.0, 0.1]
    fig = ee_figures.equivariance_figure(sweeps.sweep_curves(folder, "one_step"), x_title="data one-step EE")
    assert "buoyancy difference" in fig.data[0].hovertemplate and list(fig.data[0].customdata) == [0.0, 0.5]
    old = tmp_path / "old"
    old.mkdir()
    (old / "results.json").write_text(
        json.dumps(
            {
                "rows": [
                    {"level": 0.1, "model": "e2cnn", "data_equivariance_error": 0.05, "model_ee_mean": 1e-8}
                ]
            }
        )
    )
    assert sweeps.sweep_axes(old) == ["trajectory"]
    assert sweeps.sweep_curves(old) == {"E2CNN": ([0.05], [1e-8], [0.1])}
    with pytest.raises(ValueError, match="axis"):
        sweeps.sweep_curves(old, "sideways")


def test_sweep_accuracy_puts_persistence_beside_each_rmse(tmp_path):
    row = {"level": 0.2, "model": "convnet", "model_ee_mean": 0.01, "rmse_future": 0.123456}
    folder = _sweep_dir(tmp_path, [{**row, "rmse_persistence_future": 0.3}])
    (acc,) = sweeps.sweep_accuracy(folder)
    assert acc == {
        "Δb": 0.2,
        "model": "ConvNet",
        "RMSE test-future (later frames)": 0.123,
        "persistence test-future (later frames)": 0.3,
    }
    assert b"rmse_persistence_future" in sweeps.sweep_csv(folder)


def test_sweep_levels_are_checked_against_the_data_pages_range():
    assert sweeps.parse_levels("0, 0.25;1") == [0.0, 0.25, 1.0]
    with pytest.raises(ValueError, match="outside 0..1"):
        sweeps.parse_levels("0, 5")
    with pytest.raises(ValueError, match="not a number"):
        sweeps.parse_levels("0, lots")
    with pytest.raises(ValueError, match="^Buoyancy differences: give at least one"):
        sweeps.parse_levels(" , ")


def test_sweep_form_says_when_its_values_are_a_quick_look():
    from core.sweep import PRESETS

    full = PRESETS["cpu"]["train"]["epochs"], PRESETS["cpu"]["data"]["frames"]
    assert "may not beat persistence" in sweeps.sweep_form_hint(4, 24)
    assert "may not beat persistence" in sweeps.sweep_form_hint(full[0], full[1] - 1)
    assert "persistence" not in sweeps.sweep_form_hint(*full)
    assert f"{full[0]} epochs" in sweeps.sweep_form_hint(*full)
    assert sweeps.sweep_form_hint(1, 24).startswith("1 epoch on 24 frames")


def test_names_describe_settings_and_number_repeats():
    from core.names import clean_label, data_config_label, unique_labels

    assert data_config_label({"buoyancy_diff": 0.5, "grid": 64, "sims": 1, "frames": 25, "seed": 0}) == (
        "Δb 0.5 · 64² · 1 sim × 25 frames"
    )
    assert data_config_label({"buoyancy_diff": 0.5, "grid": 64, "sims": 4, "frames": 25, "seed": 3}).endswith(
        "4 sims × 25 frames · seed 3"
    )
    late = {"buoyancy_diff": 0.5, "grid": 64, "sims": 4, "frames": 25, "warmup": 70, "seed": 0}
    assert data_config_label(late).endswith("25 frames · after 70 steps")
    assert unique_labels(["a", "b", "a"]) == ["a", "b", "a (2)"]
    assert clean_label("  my\nrun\x00 ") == "my run" and len(clean_label("x" * 500)) == 500
    from core.names import file_stem

    assert file_stem("RSteer 32 ch · 30 ep · Δb 0.3 (shipped)") == "RSteer-32-ch_30-ep_db-0.3-shipped"
    assert file_stem("../../etc/passwd") == "etc-passwd" and file_stem("·· //") == "download"
    csv_name = common.download_name("Δb 0.5 · 32² · 4 sims × 40 frames", ".csv")
    assert csv_name == "db-0.5_32x32_4-sims-x-40-frames.csv"


def test_dataset_entries_are_named_by_their_stored_settings(data_dir, shipped):
    entries = datasets.dataset_entries()
    assert entries and all(e.title.startswith("Δb ") for e in entries)
    assert all(".h5" not in e.label for e in entries)


def test_rename_and_delete_own_items_but_never_shipped_or_outside_ones(data_dir, shipped):
    import shutil

    ship = next((shipped / "datasets").glob("*.h5"))
    with pytest.raises(FileNotFoundError, match="read-only"):
        items.rename_item("dataset", ship.name, "mine now")
    run = next((shipped / "runs").iterdir())
    with pytest.raises(FileNotFoundError, match="read-only"):
        items.delete_item("run", run.name)
    for bad in ("../registry.sqlite", "..", "/etc/passwd", ".hidden"):
        with pytest.raises(ValueError):
            items.rename_item("run", bad, "x")
    (data_dir / "datasets").mkdir(parents=True)
    mine = data_dir / "datasets" / ship.name
    shutil.copy(ship, mine)
    items.rename_item("dataset", mine.name, "  lesson 1  ")
    assert datasets.dataset_entries()[0].label == "lesson 1"
    shutil.copytree(run, data_dir / "runs" / run.name)
    items.rename_item("run", run.name, "my favourite")
    assert json.loads((data_dir / "runs" / run.name / "run.json").read_text())["label"] == "my favourite"
    # Names that would mislead are refused, in the form's words, and the stored name is kept.
    shipped_title = next(t for t in runs.run_titles(runs.list_runs()) if t.endswith("(shipped)"))
    for bad, why in (
        ("x" * 81, "at most 80 characters, got 81"),
        (shipped_title, '"(shipped)" marks'),
        ("Mine (Shipped)", '"(shipped)" marks'),
        (shipped_title.removesuffix(" (shipped)") + " (SHIPPED)", '"(shipped)" marks'),
        (shipped_title.removesuffix(" (shipped)").upper(), f'another run is already called "{shipped_title}'),
    ):
        with pytest.raises(ValueError, match=re.escape(why)):
            items.rename_item("run", run.name, bad)
    assert runs.run_titles(runs.list_runs())[0] == "my favourite"
    items.rename_item("dataset", mine.name, "lesson 2")
    other = data_dir / "datasets" / ("copy-" + ship.name)
    shutil.copy(ship, other)
    with pytest.raises(ValueError, match='another dataset is already called "lesson 2"'):
        items.rename_item("dataset", other.name, "LESSON 2")
    items.rename_item("dataset", mine.name, "lesson 2")  # its own name again is fine
    other.unlink()
    assert runs.run_titles(runs.list_runs())[0] == "my favourite"
    items.delete_item("run", run.name)
    items.delete_item("dataset", mine.name)
    assert not (data_dir / "runs" / run.name).exists() and not mine.exists()
    assert json.loads((data_dir / "datasets" / "labels.json").read_text()) == {}


def test_job_helpers_title_time_and_read_only_their_own_log(data_dir):
    from types import SimpleNamespace

    job = SimpleNamespace(
        id="job-train-1", kind="train", status="running", fraction=0.25, started=100.0, finished=None,
        params={"model_config": {"name": "rsteer", "hidden": 32}}, log_path=None, result=None, run_id=None,
        finished_state=False,
    )  # fmt: skip
    assert queue.job_title(job) == "train RSteer 32 ch"
    shipped_data = datasets.dataset_entries()[-1].path
    delta = common.dataset_config_of(shipped_data)["buoyancy_diff"]
    full = SimpleNamespace(
        kind="train",
        params={**job.params, "train_config": {"epochs": 30}, "data_path": str(shipped_data)},
    )
    assert queue.job_title(full) == f"train RSteer 32 ch · 30 ep · Δb {delta:g}"  # named as its run will be
    assert jobs.job_times(job, now=160.0) == (60.0, 180.0)
    job.progressed = 140.0  # a quarter done 40 s in: 120 s to go then, 100 s twenty seconds on
    assert jobs.job_times(job, now=160.0) == (60.0, 100.0)
    assert jobs.job_times(job, now=300.0) == (200.0, None)  # overdue: no estimate, never a growing one
    del job.progressed
    assert jobs.duration_text(180.0) == "3 min 0 s" and jobs.duration_text(3700) == "1 h 01 min"
    assert jobs.job_log_tail(job) == ""
    (data_dir / "logs").mkdir(parents=True)
    (data_dir / "logs" / "job-train-1.log").write_text("epoch 1\n" * 5000)
    job.log_path = str(data_dir / "logs" / "job-train-1.log")
    tail = jobs.job_log_tail(job)
    assert tail.startswith("…") and tail.endswith("epoch 1\n") and len(tail) <= jobs.LOG_TAIL_BYTES + 1
    job.log_path = str(data_dir / "registry.sqlite")
    with pytest.raises(ValueError, match="outside"):
        jobs.job_log_tail(job)
    job.message = "epoch 3/20"
    assert jobs.shown_status(job) == "running" and jobs.job_message(job) == "epoch 3/20"
    job.status, job.message = "queued", ""
    assert jobs.shown_status(job) == "waiting" and jobs.job_message(job) == ""
    job.message = "waiting for a free cpu slot"  # its worker started and waits for the slot
    assert jobs.shown_status(job) == "waiting"  # a state, whatever the message says
    assert jobs.job_message(job) == "waiting for a free cpu slot"


def test_log_axes_label_every_tick_with_its_exponent_and_tiny_bars_say_zero():
    line = figures.line_figure(
        {"train": [3.0, 0.5, 0.02]}, title="t", xaxis_title="x", yaxis_title="y", log_y=True
    )
    assert (
        line.layout.yaxis.type == "log"
        and line.layout.yaxis.tickformat == ".0e"
        and line.layout.yaxis.dtick == 1
    )
    narrow = figures.line_figure(
        {"train": [0.3, 0.2]}, title="t", xaxis_title="x", yaxis_title="y", log_y=True
    )
    ticks = list(narrow.layout.yaxis.tickvals)
    assert len(ticks) >= 3 and ticks[0] == 0.2 and ticks[-1] == 0.3  # not one lone label on a narrow range
    assert list(narrow.layout.yaxis.ticktext) == [f"{t:.2g}" for t in ticks]


def test_epoch_and_step_axes_label_whole_numbers_only():
    three = figures.line_figure({"train": [3, 2, 1]}, title="t", xaxis_title="epoch", yaxis_title="y")
    assert three.layout.xaxis.dtick == 1  # plotly's own ticks read "1.5, 2.5" on three epochs
    long = figures.line_figure({"train": list(range(30, 0, -1))}, title="t", xaxis_title="x", yaxis_title="y")
    assert long.layout.xaxis.dtick == 4 and float(long.layout.xaxis.dtick).is_integer()
    fractional = figures.line_figure({"a": [1, 2]}, x=[0.5, 1.0], title="t", xaxis_title="x", yaxis_title="y")
    assert fractional.layout.xaxis.dtick is None
    bars = ee_figures.per_element_figure({"ConvNet": {1: 0.02}, "E2CNN": {1: 1e-8}})
    assert list(bars.data[0].text) == [""] and list(bars.data[1].text) == ["≈0"]  # only the invisible bar
    assert "%{y:.3g}" in bars.data[0].hovertemplate  # the others say their value on hover


def test_error_maps_scale_follows_the_errors_and_open_on_the_last_step():
    truth = np.zeros((5, 2, 6, 6))
    pred = np.linspace(0, 0.1, 5)[:, None, None, None] * np.ones((5, 2, 6, 6))
    fig = field_figures.error_maps_figure(truth, {"ConvNet": pred})
    assert fig.data[0].zmax == pytest.approx(0.1, rel=0.01) and fig.layout.sliders[0].active == 4


def test_data_page_settings_sit_over_the_cpu_presets_data():
    from core.service import (
        datasets,
    )
    from core.sweep import PRESETS

    config = datasets.dataset_config(buoyancy_diff=0.3, grid=16, frames=20, sims=1, warmup=0, seed=0)
    assert config.buoyancy == PRESETS["cpu"]["data"]["buoyancy"] != 0.1  # not DataConfig's default
    assert (config.grid, config.frames, config.sims) == (16, 20, 1)  # the page's values win
    with pytest.raises(ValueError, match="Frames must be between 8 and 300, got 1"):
        datasets.dataset_config(frames=1)


def test_ee_by_frame_of_a_shipped_run_averages_to_its_recorded_figure_4_point(data_dir):
    """The frame-by-frame view takes apart exactly the numbers training recorded: its means
    over frames are the run's model EE and matched data EE in metrics.json."""
    run = next(r for r in runs.list_runs() if r.model_name == "rsteer" and "checkpoint" in r.paths)
    ids = [run.id, "run-nonexistent-20200101-000000-00000000"]
    out = comparison.equivariance_by_frame(ids, use_stored=False)  # measured now, from the checkpoint
    assert len(out["runs"]) == 1 and any("nonexistent" in n for n in out["notes"])
    measured = out["runs"][0]
    stored = comparison.equivariance_by_frame(ids)["runs"][0]  # what the evaluation wrote, if it did
    assert stored["label"] == measured["label"] and list(stored["frames"]) == list(measured["frames"])
    assert np.allclose(stored["ee"], measured["ee"], rtol=1e-3) and np.allclose(
        stored["data"], measured["data"]
    )
    metrics = json.loads(run.paths["metrics"].read_text())
    assert measured["ee"].mean() == pytest.approx(metrics["equivariance_error"]["mean"], rel=1e-3)
    assert measured["data"].mean() == pytest.approx(metrics["data_ee_one_step"], rel=1e-9)
    names = [name for name, _, _ in out["regions"]]
    assert names == ["training", "validation", "test-future"]
    bounds = [(a, b) for _, a, b in out["regions"]]
    assert bounds[0][0] == measured["frames"][0] and bounds[-1][1] == measured["frames"][-1]
    assert all(b + 1 == c for (_, b), (c, _) in zip(bounds, bounds[1:], strict=False))
    fig = ee_figures.ee_by_frame_figure(out["runs"], out["regions"])
    assert [t.name for t in fig.data][:2] == [
        short_names([measured["label"]])[0],  # the model's label; the full name on hover
        f"data (PhiFlow), Δb {measured['level']:.2g}",
    ]
    assert measured["label"] in fig.data[0].hovertemplate


def test_symmetry_page_shows_ee_by_frame_only_when_asked(data_dir):
    def frame_charts():
        return [c for c in at.get("plotly_chart") if not str(c.key).startswith(("sym_accuracy", "lesson_"))]

    at = _app().run()
    assert not at.exception and len(frame_charts()) == 1
    at.toggle(key="sym_frame").set_value(True).run()
    assert not at.exception, at.exception
    source = at.radio(key="sym_frame_source")
    # A sweep whose rows carry the per-frame errors opens on one of its levels; trained runs next.
    for choice in ["sweep", "runs"] if len(source.options) == 2 else ["runs"]:
        at.radio(key="sym_frame_source").set_value(choice).run()
        assert not at.exception, at.exception
        charts = frame_charts()
        assert len(charts) == (3 if choice == "sweep" else 2), choice
        names = [t.get("name", "") for t in json.loads(charts[-1].proto.spec)["data"]]
        assert any(n.startswith("data (PhiFlow)") for n in names), choice
        assert any(n.startswith("RSteer") for n in names), choice
        if choice == "sweep":  # every level at once, split into training and untrained frames
            names = [t.get("name", "") for t in json.loads(charts[1].proto.spec)["data"]]
            assert "RSteer, training frames" in names and "RSteer, untrained frames" in names


def test_sweep_frame_split_divides_model_by_data_ee_on_each_block(tmp_path):
    frames = list(range(1, 7))
    regions = [["training", 1, 3], ["validation", 4, 4], ["test-future", 5, 6]]
    rows = [
        {
            "level": 0.0,
            "model": "rsteer",
            "ee_by_frame": {"frames": frames, "model": [0.0] * 6, "data": [0.0] * 6, "regions": regions},
        },
        {
            "level": 0.5,
            "model": "rsteer",
            "ee_by_frame": {
                "frames": frames,
                "model": [1, 1, 1, 6, 6, 6],
                "data": [2, 2, 2, 3, 3, 3],
                "regions": regions,
            },
        },
        {"level": 0.5, "model": "e2cnn"},  # an older row without frame-by-frame errors
        {
            "level": 0.7,
            "model": "rsteer",
            "ee_by_frame": {"frames": frames, "model": [1] * 6, "data": [1] * 6, "regions": regions[1:]},
        },
    ]
    (tmp_path / "results.json").write_text(json.dumps({"rows": rows}))
    split = sweeps.sweep_frame_split(tmp_path)
    assert split == {"RSteer": ([0.5], [0.5], [2.0], [None])}  # one seed: no spread
    fig = ee_figures.frame_split_figure(split)
    assert [t.name for t in fig.data] == ["RSteer, training frames", "RSteer, untrained frames"]


def test_train_form_starts_from_the_shipped_runs_settings_and_names_a_bad_one(data_dir):
    from core.models import ModelConfig
    from core.sweep import PRESETS

    at = _app().switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    # The form's defaults are what the shipped runs used: equal width, each model's own alpha.
    shipped_rsteer = ModelConfig.for_model("rsteer", **PRESETS["cpu"]["model"])
    assert at.number_input(key="train_hidden").value == shipped_rsteer.hidden == 32
    assert at.number_input(key="train_alpha").value is None
    assert (
        "RSteer 1e-05" in at.number_input(key="train_alpha").help
        and "RPP 0.001" in at.number_input(key="train_alpha").help
    )
    assert at.number_input(key="train_epochs").value == PRESETS["cpu"]["train"]["epochs"]
    assert at.number_input(key="train_weighting").value == 0.0
    # Window weighting with a one-step loss is refused by name, and no job starts.
    at.number_input(key="train_steps").set_value(1)
    at.number_input(key="train_weighting").set_value(1.0)
    at.button[0].click().run()
    assert not at.exception
    problems = " ".join(_texts(at.error))
    # In the form's own words: the labels the user sees, not the config's field names.
    assert "Window weighting needs Loss steps >= 2" in problems, problems
    assert "window_weighting" not in problems and "rollout_steps" not in problems
    assert not any("Started" in s for s in _texts(at.success))
    # A symmetric start as long as the training is refused in the form's words too.
    assert at.number_input(key="train_hold").value == 0
    at.number_input(key="train_steps").set_value(2)
    at.number_input(key="train_epochs").set_value(3)
    at.number_input(key="train_hold").set_value(3)
    at.button[0].click().run()
    problems = " ".join(_texts(at.error))
    assert "RSteer symmetric start (3) must be smaller than Epochs (3)" in problems, problems
    assert "relaxed_hold" not in problems
    assert not any("Started" in s for s in _texts(at.success))
    # A number outside a field's range gets a message naming the field (Streamlit's own
    # bounds would mark it red and keep the last valid value without a word).
    at.number_input(key="train_epochs").set_value(0)
    at.button[0].click().run()
    problems = " ".join(_texts(at.error))
    assert "Epochs must be between 1 and 500, got 0" in problems, problems
    assert not any("Started" in s for s in _texts(at.success))


def test_train_form_keeps_the_expert_settings_behind_advanced_with_their_defaults_in_words(data_dir):
    at = _app().switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    [advanced] = [e for e in at.expander if e.label == "Advanced settings"]
    inside = {w.key for w in advanced.number_input} | {w.key for w in advanced.checkbox}
    expert = {"train_batch", "train_lr", "train_inputs", "train_steps", "train_alpha"}
    expert |= {"train_windows", "train_weighting", "train_hold", "train_smoke"}
    assert inside == expert
    # The first-time user's fields stay outside it.
    assert {"train_epochs", "train_hidden"} <= {w.key for w in at.number_input} - inside
    words = " ".join(_texts(advanced.caption))
    assert "batches of 16 windows" in words and "every training window" in words, words


def test_the_generation_form_names_a_number_out_of_range(data_dir):
    at = _app().switch_page("app_pages/data.py").run()
    at.number_input(key="gen_frames").set_value(5)
    at.number_input(key="gen_sims").set_value(99)
    at.button[0].click().run()
    assert not at.exception, at.exception
    problems = " ".join(_texts(at.error))
    assert "Frames must be between 8 and 300, got 5" in problems, problems
    assert any("Ranges: Frames 8-300, Sims per orientation 1-16" in c for c in _texts(at.caption))
    assert not any("Generation started" in s for s in _texts(at.success))


def test_form_ranges_name_the_field_and_refuse_what_is_not_a_number():
    from core.service.common import check_ranges
    from core.service.datasets import DATA_FORM_LABELS, DATA_FORM_RANGES

    check_ranges({"frames": 8, "sims": 16, "seed": None}, DATA_FORM_RANGES, DATA_FORM_LABELS)
    for values, said in (
        ({"frames": 301}, "Frames must be between 8 and 300, got 301"),
        ({"warmup": -1}, "Warm-up steps must be between 0 and 500, got -1"),
        ({"sims": "4"}, "Sims per orientation must be a number, got '4'"),
        ({"sims": True}, "Sims per orientation must be a number, got True"),
    ):
        with pytest.raises(ValueError) as refused:
            check_ranges(values, DATA_FORM_RANGES, DATA_FORM_LABELS)
        assert str(refused.value) == said


def test_form_errors_name_form_labels_whole_words_only():
    from core.service.common import in_form_words
    from core.service.sweeps import SWEEP_FORM_LABELS
    from core.service.training import TRAIN_FORM_LABELS

    assert (
        in_form_words("max_train_windows must be an integer >= 4, got 2", TRAIN_FORM_LABELS)
        == "Max training windows must be an integer >= 4, got 2"
    )
    # "lr" inside another word, or a field this form does not set, stays as it is.
    assert in_form_words("lrx and scale: bad", TRAIN_FORM_LABELS) == "lrx and scale: bad"
    assert (
        in_form_words("levels: 0.3 is repeated", SWEEP_FORM_LABELS) == "Buoyancy differences: 0.3 is repeated"
    )


def test_ee_by_frame_shades_no_frames_when_the_runs_splits_differ(data_dir):
    """A run on a 12-frame dataset beside a shipped 40-frame one: shading either run's
    validation and test-future frames would mislabel the other's, so neither is shaded."""
    from core.data import DataConfig, ensure_dataset
    from core.models import ModelConfig
    from core.train.config import TrainConfig
    from core.train.trainer import train

    tiny = ensure_dataset(DataConfig(grid=16, frames=12, sims=2, buoyancy_diff=0.2))
    cfg = TrainConfig(epochs=1, batch_size=8, rollout_steps=2, eval_steps=3, max_train_windows=8)
    small = train(tiny, ModelConfig.for_model("convnet", hidden=8, layers=2), cfg)
    shipped = next(r for r in runs.list_runs() if r.model_name == "rsteer" and "checkpoint" in r.paths)
    both = comparison.equivariance_by_frame([small.run_id, shipped.id])
    assert len(both["runs"]) == 2 and both["regions"] == []
    assert any("differ" in note for note in both["notes"]), both["notes"]
    assert comparison.equivariance_by_frame([shipped.id])["regions"]  # one split: shaded
    fig = ee_figures.ee_by_frame_figure(both["runs"], both["regions"])
    data_dashes = [t.line.dash for t in fig.data if t.name.startswith("data (PhiFlow)")]
    assert len(data_dashes) == 2 and len(set(data_dashes)) == 2  # the two datasets' data tell apart


def test_an_uploaded_checkpoint_becomes_one_run_however_often_the_page_reruns(data_dir):
    """The uploader keeps its file across reruns; importing on each rerun made a new run each
    time the user touched any widget."""
    shipped = next(r for r in runs.list_runs() if r.shipped and "checkpoint" in r.paths)
    payload = Path(shipped.paths["checkpoint"]).read_bytes()
    before = len(runs.list_runs())
    at = _app().switch_page("app_pages/train.py").run()
    at.file_uploader(key="train_upload").set_value(("mine.pt", payload, "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert any("Loaded mine.pt" in s for s in _texts(at.success))
    at.run()
    at.run()
    assert len(runs.list_runs()) == before + 1
    assert any("Loaded mine.pt" in s for s in _texts(at.success))  # still said, not redone


def test_submitted_training_carries_the_symmetric_start_to_every_job(monkeypatch, tiny_dataset_path):
    from core.service import (
        queue,
        training,
    )

    submitted = []

    class Recorder:
        def submit(self, kind, params):
            submitted.append((kind, params))
            return f"job-{len(submitted)}"

    monkeypatch.setattr(queue, "runner", lambda: Recorder())
    ids = training.submit_training(tiny_dataset_path, ["convnet", "rsteer"], epochs=6, relaxed_hold=2)
    assert ids == ["job-1", "job-2"]
    assert [p["train_config"]["relaxed_hold"] for _, p in submitted] == [2, 2]
    assert [p["model_config"]["name"] for _, p in submitted] == ["convnet", "rsteer"]


def test_each_relaxed_model_keeps_its_own_alpha_unless_the_form_sets_one(monkeypatch, tiny_dataset_path):
    """An empty alpha field leaves RPP and CLCNN at their 1e-3 and RSteer at its 1e-5 (one
    RSteer value used to be sent to all of them); a number given applies to every relaxed model."""
    from core.models import model_spec
    from core.service import queue, training

    sent = []
    monkeypatch.setattr(queue, "submit", lambda kind, params: sent.append(params) or f"job-{len(sent)}")
    models = ["rsteer", "rpp", "convnet"]
    training.submit_training(tiny_dataset_path, models, epochs=1, max_train_windows=8)
    own = {p["model_config"]["name"]: p["model_config"]["alpha"] for p in sent}
    assert own == {m: model_spec(m).defaults.get("alpha", 0.0) for m in models}
    assert own["rpp"] == 1e-3 != own["rsteer"]
    sent.clear()
    training.submit_training(tiny_dataset_path, models, epochs=1, max_train_windows=8, alpha=0.01)
    assert {p["model_config"]["name"]: p["model_config"]["alpha"] for p in sent} == {
        "rsteer": 0.01, "rpp": 0.01, "convnet": 0.0
    }  # fmt: skip


def test_a_sweep_whose_symmetric_start_never_ends_is_refused_in_the_forms_words(monkeypatch):
    from core.service import (
        queue,
        sweeps,
    )

    monkeypatch.setattr(queue, "runner", lambda: pytest.fail("no job may start"))
    with pytest.raises(ValueError) as refused:
        sweeps.submit_sweep(levels=[0.0, 0.5], models=["rsteer"], train={"epochs": 3, "relaxed_hold": 3})
    assert str(refused.value).startswith("RSteer symmetric start (3) must be smaller than Epochs (3)")


def test_the_sweep_form_sends_its_symmetric_start_with_the_epochs(data_dir, monkeypatch):
    from core.service import (
        sweeps,
    )

    sent = []
    monkeypatch.setattr(sweeps, "submit_sweep", lambda **settings: sent.append(settings) or "job-1")
    at = _app().run()  # the landing page is the Symmetry page
    at.toggle(key="sym_setup").set_value(True).run()
    at.number_input(key="sym_hold").set_value(2)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert [s["train"] for s in sent] == [{"epochs": 4, "relaxed_hold": 2}]


def test_the_sweep_form_sends_its_training_seeds_and_breaking_patterns(data_dir, monkeypatch):
    from core.service import (
        sweeps,
    )

    sent = []
    monkeypatch.setattr(sweeps, "submit_sweep", lambda **settings: sent.append(settings) or "job-1")
    at = _app().run()
    at.toggle(key="sym_setup").set_value(True).run()
    at.number_input(key="sym_seeds").set_value(3)
    at.multiselect(key="sym_patterns").set_value(["all", "half_turn"])
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert [(s["seeds"], s["patterns"]) for s in sent] == [(3, ["all", "half_turn"])]


def test_a_symmetric_start_shows_in_rsteer_run_and_sweep_names_only():
    from core.names import run_label, sweep_config_label

    data = {"config": {"buoyancy_diff": 0.3}}
    held = {"epochs": 30, "relaxed_hold": 5}
    rsteer = {"model_config": {"name": "rsteer", "hidden": 32}, "train_config": held, "dataset": data}
    assert run_label(rsteer) == "RSteer 32 ch · 30 ep · symmetric start 5 ep · Δb 0.3"
    convnet = {**rsteer, "model_config": {"name": "convnet", "hidden": 32}}
    assert run_label(convnet) == "ConvNet 32 ch · 30 ep · Δb 0.3"  # the hold does nothing to it
    plain = {**rsteer, "train_config": {"epochs": 30, "relaxed_hold": 0}}
    assert run_label(plain) == "RSteer 32 ch · 30 ep · Δb 0.3"
    sweep = {"levels": [0, 0.5], "preset": "cpu", "train": held}
    assert sweep_config_label(sweep) == "sweep Δb 0, 0.5 · cpu · 30 ep · RSteer symmetric start 5 ep"
    assert sweep_config_label({**sweep, "train": {}}) == "sweep Δb 0, 0.5 · cpu"
    ten = {"levels": [round(0.1 * i, 1) for i in range(10)], "data": {"grid": 16, "frames": 24}}
    assert sweep_config_label(ten) == "sweep Δb 0-0.9 (10 levels) · cpu · 16² · 24 frames"


def test_both_forms_send_whether_the_models_see_the_smoke(data_dir, monkeypatch, tiny_dataset_path):
    from core.service import (
        queue,
        sweeps,
        training,
    )

    sent = []
    monkeypatch.setattr(sweeps, "submit_sweep", lambda **settings: sent.append(settings) or "job-1")
    at = _app().run()
    at.toggle(key="sym_setup").set_value(True).run()
    preset = training.training_defaults()["smoke"]
    assert at.checkbox(key="sym_smoke").value is preset
    at.checkbox(key="sym_smoke").set_value(not preset)
    at.button[0].click().run()
    assert not at.exception, at.exception
    options = sent[0]["model_options"]
    assert set(options) == set(sent[0]["models"]) and {o["smoke"] for o in options.values()} == {not preset}

    submitted = []

    class Recorder:
        def submit(self, kind, params):
            submitted.append(params)
            return f"job-{len(submitted)}"

    monkeypatch.setattr(queue, "runner", lambda: Recorder())
    training.submit_training(tiny_dataset_path, ["convnet", "e2cnn"], epochs=2, smoke=True)
    assert [p["model_config"]["smoke"] for p in submitted] == [True, True]


def test_a_sweep_record_resolves_its_presets_and_names_a_smoke_sweep():
    from core.names import sweep_label
    from core.sweep import SweepConfig
    from core.sweep.results import new_record

    config = SweepConfig(levels=(0.0, 0.5), models=("e2cnn",), model_options={"e2cnn": {"smoke": True}})
    record = new_record("sweep-x", config)
    resolved = record["resolved"]
    assert resolved["models"]["e2cnn"] == config.model_config("e2cnn").to_dict()
    assert resolved["train"] == config.train_config().to_dict()
    assert "buoyancy_diff" not in resolved["data"] and resolved["data"]["grid"] == config.data_config(0).grid
    assert sweep_label({**record, "status": "done"}) == "sweep Δb 0, 0.5 · cpu · E2CNN · with smoke"
    assert sweep_label({"config": config.to_dict(), "status": "done"}) == "sweep Δb 0, 0.5 · cpu · E2CNN"


def test_a_renamed_run_stays_picked_and_a_deleted_one_leaves_nothing_armed(
    data_dir, shipped, monkeypatch, tmp_path
):
    import shutil

    # Two runs of the user's own, with their dataset; the shipped copies hidden (same ids).
    for run in sorted((shipped / "runs").iterdir())[:2]:
        shutil.copytree(run, data_dir / "runs" / run.name)
    shutil.copytree(shipped / "datasets", data_dir / "datasets")
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    at = _app().switch_page("app_pages/train.py").run()
    picker = at.selectbox(key="train_run_pick")
    assert len(picker.options) == 2, picker.options
    target = picker.options[1]
    picker.set_value(target).run()
    run_id = next(r.id for r in runs.list_runs() if runs.run_titles([r])[0] == target)
    at.text_input(key=f"train_manage_label_{run_id}").input("lesson run").run()
    at.button(key="train_manage_rename").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_run_pick").value == "lesson run"
    assert any("Renamed" in t and "lesson run" in t for t in _texts(at.success)), _texts(at.success)

    at.checkbox(key=f"train_manage_sure_{run_id}").check().run()
    at.button(key="train_manage_delete").click().run()
    assert not at.exception, at.exception
    assert not (data_dir / "runs" / run_id).exists()
    picker = at.selectbox(key="train_run_pick")
    assert picker.options == [picker.value] and picker.value != "lesson run"
    assert any(t.startswith("Deleted lesson run") for t in _texts(at.success)), _texts(at.success)
    # The run shown now has its own confirmation, not ticked: one more click deletes nothing.
    assert not any(c.value for c in at.checkbox if str(c.key).startswith("train_manage_sure_"))
    assert at.button(key="train_manage_delete").disabled


def test_a_dataset_made_with_the_same_settings_is_found_not_made_again(tmp_data_dir, tiny_dataset_path):
    from dataclasses import replace

    from core.data import DataConfig
    from core.service import (
        datasets,
    )
    from tests.conftest import TINY_CONFIG

    config = DataConfig(**TINY_CONFIG)
    assert datasets.existing_dataset(config) == Path(tiny_dataset_path).name
    assert datasets.existing_dataset(replace(config, seed=config.seed + 1)) is None


class _WorkerNotStarted:
    """Stands for a job's worker process that has not started yet: its job stays queued."""

    pid = returncode = None

    def __init__(self, *args, **kwargs):
        pass

    def poll(self):
        return None

    def wait(self, timeout=None):
        import subprocess

        raise subprocess.TimeoutExpired("worker", timeout)


def test_a_double_click_on_start_training_starts_one_job(tmp_data_dir, tiny_dataset_path, monkeypatch):
    from core.service import (
        items,
        queue,
        training,
    )

    # Only the queue is tested: no worker process trains the 500 epochs.
    monkeypatch.setattr("core.jobs.runner.subprocess.Popen", _WorkerNotStarted)
    first = training.submit_training(tiny_dataset_path, ["convnet"], epochs=500, max_train_windows=8)
    other: list[str] = []
    try:
        with pytest.raises(queue.AlreadyQueued) as refused:
            training.submit_training(tiny_dataset_path, ["convnet"], epochs=500, max_train_windows=8)
        assert str(refused.value).startswith("Not started twice: train ConvNet 32 ch")
        assert "job-" not in str(refused.value)  # named, not an id
        live = [j.id for j in queue.list_jobs() if j.kind == "train" and not j.finished_state]
        epochs = {i: queue.runner().status(i).params["train_config"]["epochs"] for i in live}
        assert [i for i in live if epochs[i] == 500] == first
        # Its dataset is in use: deleting it is refused, the job named by what it does.
        with pytest.raises(ValueError) as refused:
            items.delete_item("dataset", Path(tiny_dataset_path).name)
        assert str(refused.value).startswith("It is in use: train ConvNet 32 ch")
        assert "job-" not in str(refused.value) and Path(tiny_dataset_path).is_file()
        # Other settings are other work.
        other = training.submit_training(tiny_dataset_path, ["convnet"], epochs=499, max_train_windows=8)
        assert len(other) == 1 and other != first
    finally:
        for job_id in first + other:
            queue.runner().cancel(job_id, grace_s=0)
            queue.runner()._procs.pop(job_id, None)


def test_windows_a_dataset_cannot_hold_are_refused_before_any_job_starts(monkeypatch, tiny_dataset_path):
    from core.service import (
        queue,
        sweeps,
        training,
    )
    from core.train.samples import SplitSpec, make_splits, min_frames

    monkeypatch.setattr(queue, "runner", lambda: pytest.fail("no job may start"))
    with pytest.raises(ValueError) as refused:  # the tiny dataset has 12 frames
        training.submit_training(tiny_dataset_path, ["convnet"], input_frames=4, rollout_steps=4)
    text = str(refused.value)
    assert text.startswith("dataset has 12 frames per simulation; Input frames 4 with Loss steps (K) 4")
    assert "lower Input frames or Loss steps" in text and "K=" not in text
    with pytest.raises(ValueError) as refused:
        sweeps.submit_sweep(levels=[0.0], data={"frames": 10})
    assert str(refused.value) == (
        "Frames per simulation must be at least 11 for ConvNet (2 inputs and 2 loss steps per "
        "window, and the validation and test-future blocks), got 10"
    )
    for f, k in ((1, 1), (2, 2), (3, 5)):  # the minimum is exact: one frame fewer is refused
        spec = SplitSpec(input_frames=f, steps=k, val_fraction=0.1)
        make_splits(2, min_frames(spec), spec)
        with pytest.raises(ValueError, match=f"need at least {min_frames(spec)} "):
            make_splits(2, min_frames(spec) - 1, spec)


def test_compare_leaves_out_runs_whose_dataset_was_deleted_and_names_no_hash(data_dir, shipped):
    import shutil

    run = next(p for p in sorted((shipped / "runs").iterdir()) if "convnet" in p.name)
    mine = data_dir / "runs" / "run-convnet-20261201-000000-0badda7a"
    shutil.copytree(run, mine)
    record = json.loads((mine / "run.json").read_text())
    record["run_id"] = mine.name
    record["dataset"]["path"] = str(data_dir / "datasets" / "smoke-0123456789ab.h5")  # deleted
    (mine / "run.json").write_text(json.dumps(record))
    at = _app().switch_page("app_pages/compare.py").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="cmp_dataset")
    assert box.options and not any("smoke-" in t for t in box.options), box.options  # shown as named
    assert any("1 run not listed: trained on a dataset that was deleted" in c for c in _texts(at.caption))
    row = next(r for r in runs.run_rows(runs.list_runs()) if r.id == mine.name)
    from core.names import data_config_label

    deleted = f"{data_config_label(record['dataset']['config'])} (deleted)"
    assert row.dataset == deleted and deleted.startswith("Δb "), row  # the Train page's table


def test_compare_sets_your_run_beside_the_shipped_ones_and_opens_on_a_run_sent_from_train(data_dir, shipped):
    import shutil

    run = next(p for p in sorted((shipped / "runs").iterdir()) if "rsteer" in p.name)
    mine = data_dir / "runs" / "run-rsteer-20261201-000000-0badda7b"
    shutil.copytree(run, mine)  # an own run trained on the shipped dataset
    record = json.loads((mine / "run.json").read_text())
    (mine / "run.json").write_text(json.dumps({**record, "run_id": mine.name, "label": "my lesson run"}))
    at = _app().switch_page("app_pages/compare.py").run()
    assert not at.exception, at.exception
    picked = at.multiselect(key=next(str(m.key) for m in at.multiselect if str(m.key).startswith("cmp_runs")))
    shipped_runs = len(list((shipped / "runs").iterdir()))
    assert picked.value[0] == "my lesson run" and len(picked.value) == 1 + shipped_runs, picked.value
    assert sum(v.endswith(" (shipped)") for v in picked.value) == shipped_runs
    table = next(d.value for d in at.dataframe if "persistence RMSE" in d.value.columns)
    assert list(table["run"]) == short_names(picked.value)
    assert list(table["run"])[0] == "my lesson run" and {"RSteer", "E2CNN", "ConvNet"} <= set(table["run"])

    # Train page, "Load this run's model" on a shipped ConvNet: Compare opens with it first.
    at.switch_page("app_pages/train.py").run()
    convnet = next(o for o in at.selectbox(key="train_run_pick").options if o.startswith("ConvNet"))
    at.selectbox(key="train_run_pick").set_value(convnet).run()
    at.button(key="train_load").click().run()
    assert not at.exception and any("ready to roll out" in s for s in _texts(at.success))
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, at.exception
    assert at.multiselect(key=picked.key).value[0] == convnet


def test_frame_by_frame_says_why_symmetric_data_has_no_ratio_panel(shipped):
    sweep = _figure4_sweep(shipped)
    levels = sorted({r["level"] for r in json.loads((sweep / "results.json").read_text())["rows"]})
    assert levels[0] == 0.0
    note = "exactly symmetric"
    assert any(note in n for n in sweeps.sweep_ee_by_frame(sweep, levels[0])["notes"])
    assert not any(note in n for n in sweeps.sweep_ee_by_frame(sweep, levels[-1])["notes"])


def test_accuracy_ratios_name_who_leads_each_split_and_what_symmetry_costs(shipped):
    sweep = _figure4_sweep(shipped)
    rows = [
        r
        for r in json.loads((sweep / "results.json").read_text())["rows"]
        if r.get("model_ee_mean") is not None
    ]
    out = sweep_ratios.sweep_accuracy_ratios(sweep)
    future = out["test-future"]
    assert sum(future["best"].values()) == len(future["levels"])
    top = max(future["levels"])
    e2cnn = next(r for r in rows if r["model"] == "e2cnn" and r["level"] == top)
    assert future["ratios"]["E2CNN"][-1] == pytest.approx(
        e2cnn["rmse_future"] / e2cnn["rmse_persistence_future"]
    )
    # one seed: the lowest means are counted, no ranking is claimed
    assert any(
        line.startswith("Lowest RMSE on test-domain (unseen buoyancy strengths) (of its")
        and "one seed: no spread measured" in line
        for line in out["summary"]
    )
    # E2CNN is the model measured exactly symmetric, so only it gets the cost sentence
    costs = [line for line in out["summary"] if "exactly equivariant" in line]
    assert len(costs) == 1 and "E2CNN" in costs[0]
    at = _app().run()
    assert not at.exception, at.exception
    keys = {str(c.key) for c in at.get("plotly_chart")}
    assert not keys & {"sym_accuracy_test-future", "sym_accuracy_test-domain"}  # drawn when opened
    at.session_state["sym_accuracy_open"] = True
    keys = {str(c.key) for c in at.run().get("plotly_chart")}
    assert {"sym_accuracy_test-future", "sym_accuracy_test-domain"} <= keys


def test_a_one_model_sweep_is_not_ranked_against_itself(shipped, tmp_path):
    sweep = _figure4_sweep(shipped)
    record = json.loads((sweep / "results.json").read_text())
    record["rows"] = [r for r in record["rows"] if r["model"] == "rsteer"]
    (tmp_path / "results.json").write_text(json.dumps(record))
    summary = sweep_ratios.sweep_accuracy_ratios(tmp_path)["summary"]
    assert not any(line.startswith("Lowest RMSE") for line in summary), summary
    assert any(
        line.startswith("Only RSteer in this sweep: on test-future (later frames) its RMSE / persistence is")
        for line in summary
    )


def test_a_sweep_left_running_by_a_dead_process_reads_interrupted_and_resumes(data_dir, monkeypatch):
    from core.service import (
        queue,
        sweeps,
    )
    from core.sweep import SweepConfig
    from core.sweep.results import new_record, write_results

    config = SweepConfig(levels=(0.0, 0.5), models=("convnet",))
    folder = data_dir / "sweeps" / "sweep-20260101-000000-dead0000"
    folder.mkdir(parents=True)
    write_results(folder, new_record(folder.name, config, engine="ray", address="127.0.0.1:6379"), [])
    submitted = []

    class Recorder:
        def submit(self, kind, params):
            submitted.append((kind, params))
            return "job-1"

        def list(self, limit=100):
            return []

    monkeypatch.setattr(queue, "runner", lambda: Recorder())
    at = _app().run()  # the shipped sweep is shown first: nothing of it can be resumed
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.label == "Resume this sweep"]
    at.session_state["sym_sweep__follow"] = folder.name
    at.run()
    assert at.selectbox(key="sym_sweep").value.endswith("(interrupted)")  # never "(running)" again
    at.button(key="sym_resume").click().run()
    assert not at.exception, at.exception
    assert submitted == [
        (
            "sweep",
            {
                "resume": folder.name,
                "sweep_config": config.to_dict(),
                "engine": "ray",
                "address": "127.0.0.1:6379",
            },
        )
    ]
    assert any("resumed" in s for s in _texts(at.success))
    write_results(folder, {**new_record(folder.name, config), "status": "done"}, [])
    with pytest.raises(ValueError, match="has finished"):
        sweeps.resume_sweep(folder.name)


# ------------------------------------------------------------- names are text

#: Names someone could give a run or dataset: a remote image, a live link, raw HTML, emphasis, math.
NAME_PAYLOADS = (
    "![x](http://127.0.0.1:9/pixel)",
    "[click](http://127.0.0.1:9)",
    "<img src=x onerror=alert(1)>",
    "**bold**",
    "$x$",
    "mail a@b.co or www.x.org",
)
#: More for the escapes themselves: a bare URL, Streamlit directives, an entity, code, a table,
#: a heading and a list.
MORE_PAYLOADS = ("see http://127.0.0.1:9/a_b_c", ":red[alarm] :material/home: &amp; `code` ~~gone~~ | # 1. x")
#: What any markdown or HTML renderer reads as markup (one of them unescaped is a fault).
_MARKUP = re.compile(r"[\[\]()!*_`#<>|~$&:\\]")


def _bare_markup(markdown: str) -> list[str]:
    """The markup characters of ``markdown`` that no backslash escapes."""
    return _MARKUP.findall(_ESCAPE.sub("", markdown))


def test_markdown_and_plotly_escapes_show_a_name_as_its_own_characters():
    import html

    from dashboard.text import markdown_text, plotly_text

    for name in NAME_PAYLOADS + MORE_PAYLOADS + ("a \\ b", "tab\tand\nline"):
        escaped = markdown_text(name)
        assert _bare_markup(escaped) == [], (name, escaped)
        assert _shown(escaped) == " ".join(name.split()), (name, escaped)  # the round trip
        # GFM links bare URLs and addresses in the text after escapes: none may be left to find
        assert not re.search(r"https?://|www\.|\w@\w", _ESCAPE.sub(r"\1", escaped), re.I), escaped
        drawn = plotly_text(name)
        assert not set("<>$%") & set(drawn) and "&" not in re.sub(r"&(amp|lt|gt|#37|#36);", "", drawn)
        assert html.unescape(drawn) == name
        assert re.fullmatch(r"[A-Za-z0-9._-]+\.pt", common.download_name(name, ".pt"))  # a plain file name
    # Every figure builder that names a series or a panel after a run escapes it.
    name = NAME_PAYLOADS[2]
    line = figures.line_figure({name: [1.0, 2.0]}, title=f"loss: {name}", xaxis_title="x", yaxis_title="y")
    panels = field_figures.rollout_figure(np.zeros((2, 2, 4, 4)), {name: np.zeros((2, 2, 4, 4))})
    bars = ee_figures.per_element_figure({name: {1: 0.1, 2: 0.2, 3: 0.3}})
    texts = [line.data[0].name, line.data[0].hovertemplate, line.layout.title.text, bars.data[0].name]
    texts += [a.text for a in panels.layout.annotations]
    assert not any("<img" in t for t in texts), texts
    assert line.data[0].name == plotly_text(name) and panels.layout.annotations[1].text == plotly_text(name)


def _own_runs_and_dataset(data_dir, shipped, monkeypatch, tmp_path) -> None:
    """Two of the shipped runs and the shipped dataset copied in as the user's own (the shipped
    copies hidden), so they can be renamed."""
    import shutil

    for run in sorted((shipped / "runs").iterdir())[:2]:
        shutil.copytree(run, data_dir / "runs" / run.name)
    shutil.copytree(shipped / "datasets", data_dir / "datasets")
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))


def _manage_label(at) -> str:
    return next(e.label for e in at.expander if e.label.startswith("Id, rename, delete: "))


def test_a_run_renamed_to_markdown_html_or_a_link_is_shown_as_text(data_dir, shipped, monkeypatch, tmp_path):
    from dashboard.text import markdown_text, plotly_text

    _own_runs_and_dataset(data_dir, shipped, monkeypatch, tmp_path)
    at = _app().switch_page("app_pages/train.py").run()
    listed = runs.list_runs()
    titles = runs.run_titles(listed)
    before = at.selectbox(key="train_run_pick").value
    run_id, other = listed[titles.index(before)].id, listed[1 - titles.index(before)].id
    other_title = titles[1 - titles.index(before)]
    for name in NAME_PAYLOADS:
        at.text_input(key=f"train_manage_label_{run_id}").input(name).run()
        at.button(key="train_manage_rename").click().run()
        assert not at.exception, at.exception
        assert at.selectbox(key="train_run_pick").value == name  # options are plain text
        label = _manage_label(at)  # a label renders links and images: escaped
        assert label == "Id, rename, delete: " + markdown_text(name), label
        assert _bare_markup(label.removeprefix("Id, rename, delete: ")) == [], label
        done = next(str(s.value) for s in at.success if _shown(str(s.value)).startswith("Renamed "))
        assert _shown(done) == f'Renamed {before} to "{name}".' and not _bare_markup(done.split(" to ")[-1])
        at.multiselect(key="train_overlay").set_value([name]).run()  # its loss curve, by name
        overlay = next(c for c in at.get("plotly_chart") if c.key == "train_overlay_chart")
        legend = [t.get("name") for t in json.loads(overlay.proto.spec)["data"]]
        assert plotly_text(name) in legend and "<img" not in overlay.proto.spec, legend
        before = name
    # A rename refused for quoting the other run's name quotes it as text, too.
    at.selectbox(key="train_run_pick").set_value(other_title).run()
    at.text_input(key=f"train_manage_label_{other}").input(before).run()
    at.button(key="train_manage_rename").click().run()
    refusal = next(str(e.value) for e in at.error if "already called" in _shown(str(e.value)))
    assert markdown_text(before) in refusal and _shown(refusal).endswith(f'already called "{before}".')


def test_a_dataset_renamed_to_markdown_html_or_a_link_is_shown_as_text(
    data_dir, shipped, monkeypatch, tmp_path
):
    from dashboard.text import markdown_text

    _own_runs_and_dataset(data_dir, shipped, monkeypatch, tmp_path)
    name_of = next(e.name for e in datasets.dataset_entries())
    at = _app().switch_page("app_pages/data.py").run()
    for name in NAME_PAYLOADS:
        at.text_input(key=f"data_manage_label_{name_of}").input(name).run()
        at.button(key="data_manage_rename").click().run()
        assert not at.exception, at.exception
        assert at.selectbox(key="data_choice").value == name
        label = _manage_label(at)
        assert label == "Id, rename, delete: " + markdown_text(name), label
        done = next(str(s.value) for s in at.success if _shown(str(s.value)).startswith("Renamed "))
        assert not _bare_markup(done.split(" to ")[-1]), done
    at.switch_page("app_pages/train.py").run()  # the dataset as the train form and runs table name it
    assert not at.exception and at.selectbox(key="train_dataset").value == NAME_PAYLOADS[-1]


def test_a_rejected_uploads_file_name_is_shown_as_text(data_dir):
    from dashboard.text import markdown_text

    at = _app().switch_page("app_pages/train.py").run()
    for name in ("[click](http://127.0.0.1:9).pt", "__bold__.pt"):
        upload = (name, b"not a checkpoint", "application/octet-stream")
        at.file_uploader(key="train_upload").set_value(upload).run()
        assert not at.exception, at.exception
        box = next(str(e.value) for e in at.error if "was rejected" in _shown(str(e.value)))
        assert markdown_text(repr(name)) in box and not _bare_markup(box), box
        assert "weights_only" not in _shown(box)


def test_a_job_title_names_the_width_its_model_is_built_with(data_dir):
    from core.jobs.kinds import KINDS

    assert KINDS["train"].title({"model_config": {"name": "convnet"}}) == "train ConvNet 32 ch"

    class Job:
        kind, params = "train", {"model_config": {"name": "rsteer", "input_frames": 2}, "data_path": ""}

    assert queue.job_title(Job()) == "train RSteer 32 ch · 2 frames in"
