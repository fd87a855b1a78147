"""The run tracker on the pages (AppTest): filters by origin and text, the person's own item
opened first, notes and tags, loss per step with smoothing, the settings diff on Compare."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.service import datasets, runs

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


#: A backslash before ASCII punctuation, as CommonMark reads it: the character itself.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def _shown(markdown) -> str:
    """The text an escaped markdown string shows (tests/test_dashboard.py's reading)."""
    return _ESCAPE.sub(r"\1", str(markdown)).replace("\u2060", "")


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


def _copy_run(shipped: Path, data_dir: Path, index: int = 0, new_id: str | None = None) -> Path:
    """One shipped run copied in as the person's own (under ``new_id`` if given)."""
    source = sorted((shipped / "runs").iterdir())[index]
    target = data_dir / "runs" / (new_id or source.name)
    shutil.copytree(source, target)
    return target


def _runs_table(at):
    """The runs table's data, after checking that "All columns" shows the tags, origin and note
    (the short view shows the tags once a run has some)."""
    table = next(d for d in at.dataframe if "tags" in d.value.columns)
    if table.value["tags"].astype(bool).any():
        assert "tags" in table.proto.column_order, list(table.proto.column_order)
    at.toggle(key="train_runs_all").set_value(True).run()
    table = next(d for d in at.dataframe if "tags" in d.value.columns)
    shown = list(table.proto.column_order)
    assert {"tags", "from", "note"} <= set(shown), shown  # not left out of view
    return table.value


def _save_button(at):
    return next(b for b in at.button if b.label == "Save notes and tags")


def test_notes_and_tags_are_saved_shown_in_the_runs_table_and_found_by_the_filter(data_dir, shipped):
    folder = _copy_run(shipped, data_dir, new_id="run-mine-20990101-000000-abcdef12")
    run_id = folder.name
    at = _app().switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    listed = runs.list_runs()
    # the picker opens on the person's own run, not the first shipped one
    assert at.selectbox(key="train_run_pick").value == runs.run_titles(listed)[0]
    at.text_input(key=f"train_notes_tags_{run_id}").input("baseline, lesson-1")
    at.text_area(key=f"train_notes_note_{run_id}").input("first try: default settings")
    _save_button(at).click().run()
    assert not at.exception, at.exception
    record = json.loads((folder / "run.json").read_text())
    assert record["tags"] == ["baseline", "lesson-1"] and record["note"] == "first try: default settings"
    assert any("Saved 2 tags and a note of 27 characters." in _shown(s.value) for s in at.success)
    table = _runs_table(at)
    mine = table[table["id"] == run_id].iloc[0]
    assert mine["tags"] == "baseline, lesson-1" and mine["from"] == "yours"
    assert mine["note"] == "first try: default settings"

    # a refused edit says what was wrong, keeps what was typed and what was saved
    before = (folder / "run.json").read_bytes()
    at.text_input(key=f"train_notes_tags_{run_id}").input("baseline, bad/tag")
    _save_button(at).click().run()
    errors = [_shown(e.value) for e in at.error]
    assert "Not saved. Tags: 'bad/tag' holds '/'; a tag is one word of letters, digits" in errors[0], errors
    assert (folder / "run.json").read_bytes() == before
    assert at.text_input(key=f"train_notes_tags_{run_id}").value == "baseline, bad/tag"

    # the text filter finds the run by its tag; the group filter by where it came from
    at.text_input(key="train_filter_text").input("lesson-1").run()
    assert list(_runs_table(at)["id"]) == [run_id]
    assert len(at.selectbox(key="train_run_pick").options) == 1
    at.text_input(key="train_filter_text").input("").run()
    assert at.selectbox(key="train_filter_group").options == ["all", "yours", "shipped"]
    at.selectbox(key="train_filter_group").set_value("shipped").run()
    shown = _runs_table(at)
    assert run_id not in set(shown["id"]) and len(shown) == len(listed) - 1


def test_a_shipped_runs_notes_are_read_only_and_say_so(data_dir):
    at = _app().switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    assert any("notes and tags are read-only" in _shown(c.value) for c in at.caption)
    assert not [b for b in at.button if b.label == "Save notes and tags"]


def test_the_loss_is_drawn_per_step_with_a_smoothing_slider(data_dir, shipped):
    folder = _copy_run(shipped, data_dir)
    history = json.loads((folder / "history.json").read_text())
    for i, epoch in enumerate(history):  # as this version's trainer records them
        epoch["batch_losses"] = [epoch["train_loss"] * (1.5 if (i + k) % 2 else 0.5) for k in range(4)]
    (folder / "history.json").write_text(json.dumps(history))
    at = _app().switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception

    def traces():
        chart = next(c for c in at.get("plotly_chart") if c.key == "train_run_loss_chart")
        spec = json.loads(chart.proto.spec)
        return spec, {t["name"]: t["y"] for t in spec["data"]}

    spec, lines = traces()
    assert spec["layout"]["xaxis"]["title"]["text"] == "step"
    raw, smoothed = lines["train (per step), raw"], lines["train (per step), smoothed"]
    assert len(raw) == 4 * len(history) and smoothed != raw
    assert len(lines["validation"]) == len(history)
    at.slider(key="train_run_loss_smoothing").set_value(0.0).run()
    _, lines = traces()
    assert lines["train (per step), smoothed"] == lines["train (per step), raw"]


def _timed_copy(source: Path, target: Path, when: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    os.utime(target, (when, when))


def test_data_page_and_train_form_open_on_the_persons_dataset_not_the_newest_sweeps(data_dir, shipped):
    source = next((shipped / "datasets").iterdir())
    _timed_copy(source, data_dir / "datasets" / "mine.h5", 1_000_000_000)
    _timed_copy(source, data_dir / "datasets" / "smoke-row.h5", 2_000_000_000)  # newer: a sweep's
    sweep = data_dir / "sweeps" / "sweep-20990101-000000-abcdef12"
    sweep.mkdir(parents=True)
    record = {"label": "my sweep", "status": "done", "config": {"levels": [0.3], "models": ["convnet"]}}
    record["rows"] = [{"run_id": "run-gone", "dataset": "smoke-row.h5"}]
    (sweep / "results.json").write_text(json.dumps(record))
    labels = {e.name: e.label for e in datasets.dataset_entries()}

    at = _app().switch_page("app_pages/data.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="data_choice").value == labels["mine.h5"]
    assert at.selectbox(key="data_filter_group").options == ["all", "yours", "my sweep", "shipped"]
    at.selectbox(key="data_filter_group").set_value("my sweep").run()
    assert at.selectbox(key="data_choice").options == [labels["smoke-row.h5"]]
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_dataset").value == labels["mine.h5"]


def test_compare_shows_the_settings_that_differ_and_says_when_none_do(data_dir, shipped):
    copy = _copy_run(shipped, data_dir, new_id="run-copy-20990101-000000-abcdef12")
    at = _app().switch_page("app_pages/compare.py").run()
    assert not at.exception, at.exception
    picked = next(m for m in at.multiselect if str(m.key).startswith("cmp_runs"))
    assert len(picked.value) >= 2
    table = next(d.value for d in at.dataframe if "setting" in d.value.columns)
    assert "model.name" in list(table["setting"])  # shipped ConvNet, E2CNN, RSteer differ in model
    assert all(len(str(c)) < 20 for c in table.columns)  # short run names as columns
    # the person's copy beside its shipped original: the same settings
    mine_listed = [r for r in runs.list_runs() if r.id == copy.name]
    titles = runs.run_titles(runs.list_runs())
    mine = titles[[r.id for r in runs.list_runs()].index(copy.name)]
    original = f"{mine} (shipped)"
    assert mine_listed and original in picked.options
    at.multiselect(key=picked.key).set_value([mine, original]).run()
    assert not at.exception, at.exception
    assert any("No settings differ" in _shown(c.value) for c in at.caption)
    # the group filter narrows the choice, keeping what is picked
    at.selectbox(key="cmp_filter_group").set_value("yours").run()
    options = at.multiselect(key=picked.key).options
    assert set(options) == {mine, original}


def test_a_loss_curve_of_one_step_is_drawn_as_a_point():
    from dashboard.tracking_figures import loss_curve_figure

    one = {"train (per step)": ([1], [2.0]), "validation": ([1], [1.5])}
    fig = loss_curve_figure(one, {"train (per step)": ([1], [2.0])}, title="t", x_title="step", y_title="y")
    smoothed = next(t for t in fig.data if t.name == "train (per step), smoothed")
    assert "markers" in smoothed.mode  # a line through one point draws nothing
    many = {"train (per step)": ([1, 2, 3], [2.0, 1.0, 1.5])}
    fig = loss_curve_figure(many, many, title="t", x_title="step", y_title="y")
    assert [t.mode for t in fig.data] == ["lines", "lines"] and fig.data[0].opacity < 1  # the raw line faint
