"""Which symmetry is left, on the pages (issue 27): the Data page's breaking pattern and plume
picture, the data's per-rotation EE and named symmetry, the Compare page's models beside the data,
the relaxed-weight spectrum (RGroup's too) and the landing page's pattern lesson."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.pattern_lesson import LESSON_KEY
from tests.conftest import TINY_CONFIG

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def data_dir(tmp_path, monkeypatch, shipped):
    """A fresh, empty data directory for the app, with the shipped assets beside it less the
    shipped pattern sweep (the lesson tests bring their own, or none)."""
    import shutil

    d, assets = tmp_path / "data", tmp_path / "assets"
    shutil.copytree(shipped, assets, ignore=shutil.ignore_patterns("*.h5"))
    for h5 in (shipped / "datasets").glob("*.h5"):
        (assets / "datasets" / h5.name).symlink_to(h5)
    for sweep in (assets / "sweeps").iterdir():
        if json.loads((sweep / "results.json").read_text())["config"].get("preset") == "patterns":
            shutil.rmtree(sweep)
    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(d))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(assets))
    return d


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


def _chart(at: AppTest, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.key == key).proto.spec)


def _values(values) -> list[float]:
    """A figure's x or y as a list: plotly writes numpy arrays as base64 ``{"dtype", "bdata"}``."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def _markdown(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.markdown).replace("\\", "").replace("\u2060", "")


# ------------------------------------------------------------------ Data page


def _plume_labels(at: AppTest) -> list[str]:
    """The four plumes' strength labels of the form's picture, plume 0 first."""
    return [t["text"][0] for t in _chart(at, "gen_pattern")["data"]]


def _arrow_lengths(at: AppTest) -> list[float]:
    """The four buoyancy arrows' lengths in the form's picture, plume 0 first."""
    arrows = _chart(at, "gen_pattern")["layout"]["annotations"]
    return [round(abs(a["x"] - a["ax"]) + abs(a["y"] - a["ay"]), 6) for a in arrows]


def test_data_page_pattern_reaches_the_job_and_the_picture_follows_dial_and_pattern(data_dir, monkeypatch):
    from core.service import queue

    submitted = []

    def record(kind, params):
        submitted.append((kind, params))
        return "job-test"

    monkeypatch.setattr(queue, "submit", record)
    at = _app().switch_page("app_pages/data.py").run()
    assert not at.exception, at.exception
    assert _plume_labels(at) == ["×1", "×1.6", "×2.2", "×2.8"]  # the default: every rotation broken
    at.radio(key="gen_breaking").set_value("half_turn").run()
    assert _plume_labels(at) == ["×1", "×1.6", "×1", "×1.6"]  # opposite plumes equal, before generating
    lengths = _arrow_lengths(at)
    assert lengths[0] == lengths[2] < lengths[1] == lengths[3]
    at.slider(key="gen_diff").set_value(0.2).run()
    assert _plume_labels(at) == ["×1", "×1.2", "×1", "×1.2"]  # the arrows follow the dial
    at.radio(key="gen_breaking").set_value("one_plume").run()
    assert _plume_labels(at) == ["×1.2", "×1", "×1", "×1"]
    at.radio(key="gen_breaking").set_value("half_turn").run()
    next(b for b in at.button if b.label == "Generate").click().run()
    assert not at.exception, at.exception
    assert submitted, [str(e.value) for e in at.error]
    kind, params = submitted[-1]
    assert kind == "data" and params["data_config"]["breaking"] == "half_turn"
    assert params["data_config"]["buoyancy_diff"] == pytest.approx(0.2)


def test_a_bad_breaking_pattern_is_named_in_the_forms_words():
    from core.service import datasets

    config = datasets.dataset_config(buoyancy_diff=0.6, breaking="half_turn")
    assert config.strength_factors() == (1, 1.6, 1, 1.6)
    with pytest.raises(ValueError, match="^Breaking pattern must be one of all, half_turn, one_plume"):
        datasets.dataset_config(buoyancy_diff=0.6, breaking="twist")


def test_data_page_names_the_pattern_and_the_symmetry_left_for_four_tiny_datasets(data_dir):
    from core.data import DataConfig, ensure_dataset
    from core.service import datasets
    from core.service.symmetry_view import pattern_words

    made = {}
    for name, settings in {
        "half_turn": {"buoyancy_diff": 0.6, "breaking": "half_turn"},
        "all": {"buoyancy_diff": 0.6},
        "one_plume": {"buoyancy_diff": 0.6, "breaking": "one_plume"},
        "none": {"buoyancy_diff": 0.0},
    }.items():
        config = DataConfig(**{**TINY_CONFIG, "sims": 1, "frames": 8, **settings})
        made[name] = ensure_dataset(config).name
    titles = {e.name: e.label for e in datasets.dataset_entries()}
    at = _app().switch_page("app_pages/data.py").run()
    assert not at.exception, at.exception
    expected = {"half_turn": "This data keeps half-turns", "all": "This data keeps no rotation"}
    expected["one_plume"], expected["none"] = expected["all"], "This data keeps all rotations"
    for name, sentence in expected.items():
        at.selectbox(key="data_choice").set_value(titles[made[name]]).run()
        assert not at.exception, at.exception
        shown = _markdown(at)
        assert sentence in shown, shown
        words = pattern_words("all" if name == "none" else name)  # Δb 0 is made with the ramp
        assert f"Breaking pattern: {words}." in shown, shown
        others = [s for s in expected.values() if s != sentence]
        assert not any(s in shown for s in others), shown
        table = next(d.value for d in at.dataframe if "data EE" in d.value.columns)
        assert list(table.columns) == ["data EE", "90°", "180°", "270°"]
        if name == "half_turn":  # its 180° one-step error is round-off, beside real 90° and 270°
            one_step = table.iloc[0]
            assert one_step["180°"] <= 1e-9 * one_step["90°"] and one_step["270°"] > 0
    assert any("at most 1e-05" in str(c.value) and "5%" in str(c.value) for c in at.caption)


# --------------------------------------------------------------- Compare page


def test_compare_page_names_e2cnn_keeping_all_rotations_beside_the_data(data_dir):
    at = _app().switch_page("app_pages/compare.py").run()
    assert not at.exception, at.exception
    shown = _markdown(at)
    e2cnn = [line for line in shown.splitlines() if line.startswith("- E2CNN")]
    assert e2cnn and all("keeps all rotations" in line for line in e2cnn), shown
    assert "- The data keeps no rotation" in shown, shown  # the shipped data: the ramp pattern
    traces = _chart(at, "cmp_kept")["data"]
    names = [t["name"] for t in traces]
    assert "data" in names and any(n.startswith("E2CNN") for n in names), names
    data = next(t for t in traces if t["name"] == "data")
    assert list(data["x"]) == ["90°", "180°", "270°"] and min(_values(data["y"])) > 0
    # the shipped RSteer run: its relaxed-weight spectrum, with what it means
    keys = {str(c.key) for c in at.get("plotly_chart")}
    assert any(k.startswith("cmp_relax_spectrum_RSteer") for k in keys), keys
    assert any("energy in the ±i pair breaks half-turns too" in str(c.value) for c in at.caption)


def test_rgroup_relaxed_weights_split_into_c4_irreps_and_reach_the_compare_view():
    import torch

    from core.models import build_model
    from core.service.comparison import relaxation_maps

    model = build_model("rgroup", hidden=8, layers=2)
    assert all(layer["irrep_energy"]["trivial"] == pytest.approx(1.0) for layer in model.relaxation_summary())
    with torch.no_grad():
        model.convs[0].relaxed_weights.copy_(torch.tensor([[1.5, 0.5, 1.5, 0.5]] * 3))  # sign only
        model.convs[1].relaxed_weights.copy_(torch.tensor([[1.5, 1.0, 0.5, 1.0]] * 3))  # ±i pair only
    first, second = model.relaxation_summary()
    assert first["irrep_energy"]["rotation"] == pytest.approx(0.0, abs=1e-15)
    assert first["irrep_energy"]["sign"] == pytest.approx(0.25 / (0.25 + 1.0))
    assert second["irrep_energy"]["sign"] == pytest.approx(0.0, abs=1e-15)
    assert second["irrep_energy"]["rotation"] == pytest.approx(0.5 / (0.5 + 4.0))
    maps = relaxation_maps(model)
    assert [m["deviation"] for m in maps] == [None, None] and maps[0]["irrep_energy"] == first["irrep_energy"]


# ------------------------------------------------------------- landing lesson


def _row(pattern: str, level: float, model: str, data: tuple, ee: tuple, size: float = 0.1) -> dict:
    per = dict(zip(("90", "180", "270"), ee, strict=True))
    mean = sum(ee) / 3
    return {
        "level": level,
        "model": model,
        "breaking": pattern,
        "seed": 0,
        "status": "done",
        "data_ee_one_step": sum(data) / 3,
        "data_ee_by_element": dict(zip(("90", "180", "270"), data, strict=True)),
        "model_ee_by_element": per,
        "model_ee_mean": mean,
        "model_ee_relative": mean / size,
        **{f"model_ee_{k}": v for k, v in per.items()},
    }


def _pattern_sweep(data_dir: Path) -> Path:
    half, every = (2e-3, 1e-17, 2e-3), (2e-3, 3e-3, 2.5e-3)
    rows = []
    for level, f in ((0.3, 0.5), (0.6, 1.0)):
        for pattern, data in (("half_turn", half), ("all", every)):
            d = tuple(f * v for v in data)
            rows.append(_row(pattern, level, "convnet", d, (3e-3, 2e-3, 3e-3)))
            rows.append(_row(pattern, level, "e2cnn", d, (6e-10, 6e-10, 6e-10)))
            relaxed = (1.5e-3, 2e-11, 1.4e-3) if pattern == "half_turn" else (1.5e-3, 2e-3, 1.4e-3)
            rows.append(_row(pattern, level, "rsteer", d, tuple(f * v for v in relaxed)))
    folder = data_dir / "sweeps" / "sweep-20261206-000000-0badda7c"
    folder.mkdir(parents=True)
    config = {
        "levels": [0.3, 0.6],
        "models": ["convnet", "e2cnn", "rsteer"],
        "patterns": ["all", "half_turn"],
    }
    (folder / "results.json").write_text(json.dumps({"config": config, "status": "done", "rows": rows}))
    return folder


def test_landing_lesson_says_no_pattern_sweep_until_one_exists(data_dir):
    at = _app().run()
    assert not at.exception, at.exception
    assert any("Break the symmetry two ways" in e.label for e in at.expander)
    assert not any("No pattern sweep" in str(i.value) for i in at.info)  # closed: nothing drawn
    at.session_state[LESSON_KEY] = True  # the person opens it
    at.run()
    assert any("No pattern sweep is available yet" in str(i.value) for i in at.info)
    assert not any(str(c.key).startswith("lesson_bars") for c in at.get("plotly_chart"))


def test_landing_lesson_shows_each_pattern_data_beside_models_with_named_symmetries(data_dir, shipped):
    import shutil

    folder = _pattern_sweep(data_dir)
    # the half-turn RSteer run is here (a copy of the shipped one), the other pattern's is not
    run = next(p for p in sorted((shipped / "runs").iterdir()) if "rsteer" in p.name)
    mine = data_dir / "runs" / "run-rsteer-20261206-000000-0badda7d"
    shutil.copytree(run, mine)
    record = json.loads((mine / "run.json").read_text())
    (mine / "run.json").write_text(json.dumps({**record, "run_id": mine.name}))
    sweep = json.loads((folder / "results.json").read_text())
    for row in sweep["rows"]:
        if row["model"] == "rsteer":
            row["run_id"] = (
                mine.name if row["breaking"] == "half_turn" else "run-rsteer-20261206-000000-0badda7e"
            )
    (folder / "results.json").write_text(json.dumps(sweep))
    at = _app()
    at.session_state[LESSON_KEY] = True  # opened
    at.run()
    assert not at.exception, at.exception
    assert not any("No pattern sweep" in str(i.value) for i in at.info)
    assert at.select_slider(key="lesson_level").value == 0.6
    half = _chart(at, "lesson_bars_half_turn")
    assert half["layout"]["title"]["text"] == "half-turn kept"
    names = [t["name"] for t in half["data"]]
    assert names == ["ConvNet", "E2CNN", "RSteer", "data"], names
    assert _values(half["data"][3]["y"]) == pytest.approx([2e-3, 1e-17, 2e-3], abs=0)
    every = _chart(at, "lesson_bars_all")
    assert every["layout"]["title"]["text"] == "all rotations broken"
    shown = _markdown(at)
    for sentence in (
        "RSteer keeps half-turns",
        "The data keeps half-turns",
        "RSteer keeps no rotation",
        "The data keeps no rotation",
        "E2CNN keeps all rotations",
        "ConvNet keeps no rotation",
    ):
        assert sentence in shown, (sentence, shown)
    assert shown.count("- E2CNN keeps all rotations") == 2  # at every pattern
    # Figure 4 per rotation: one line per model and rotation over the levels, per pattern
    at.toggle(key="lesson_fig4").set_value(True).run()
    assert not at.exception, at.exception
    fig4 = _chart(at, "lesson_fig4_half_turn")
    line = next(t for t in fig4["data"] if t.get("name") == "RSteer 180°")
    assert _values(line["x"]) == pytest.approx([0.5e-17, 1e-17], abs=0)
    assert _values(line["y"]) == pytest.approx([1e-11, 2e-11], abs=0)
    # the relaxed run's weight spectrum where its run is here, and nothing where it is not
    keys = {str(c.key) for c in at.get("plotly_chart")}
    assert "lesson_spectrum_half_turn_RSteer" in keys and "lesson_spectrum_all_RSteer" not in keys, keys
    assert any("energy in the ±i pair breaks half-turns" in str(c.value) for c in at.caption)
