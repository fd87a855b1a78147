"""End to end, in a real browser: start the dashboard, visit every page, generate a tiny
dataset and train a tiny model through the UI, and check that plots appear and no
exception is shown. Screenshots go to test-output/e2e/ (git-ignored).

Each test has its own server and data directory, and makes what it needs: either runs
alone (``-k``) or in any order.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import e2e

OUT = e2e.PROJECT_ROOT / "test-output" / "e2e"
TIMEOUT_MS = 60_000
JOB_TIMEOUT_MS = 120_000

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """The shipped assets (or quick ones, made once for the module)."""
    return e2e.shipped_or_quick_assets(tmp_path_factory.mktemp("e2e-assets"))


@pytest.fixture
def browser_page(tmp_path_factory, assets, request):
    """A Chromium page on a fresh dashboard server with its own empty data directory."""
    if not e2e.CHROMIUM.exists():
        pytest.skip(f"{e2e.CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    data = tmp_path_factory.mktemp("e2e-data")
    log = OUT / f"server-{request.node.name[:40]}.log"
    with e2e.streamlit_server(data, assets, log_path=log) as (url, proc):
        e2e.wait_healthy(url, proc=proc)
        with sync_playwright() as pw:
            browser = e2e.launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.set_default_timeout(TIMEOUT_MS)
            yield url, page, data
            browser.close()


def _visit(page, url: str, path: str) -> None:
    page.goto(f"{url}/{path}")
    e2e.wait_idle(page)


def _check_clean(page, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    assert e2e.exceptions_shown(page) == [], f"{name}: exception shown"
    injected = page.locator(f'a[href^="{PAYLOAD_HOST}"], img[src^="{PAYLOAD_HOST}"]')
    assert injected.count() == 0, f"{name}: a name became a link or an image"


#: The run's new name: a markdown link and a remote image, which must stay text.
PAYLOAD_HOST = "http://127.0.0.1:9"
NEW_NAME = f"lesson [run]({PAYLOAD_HOST}/x) ![p]({PAYLOAD_HOST}/pixel)"


def _as_shown(text: str) -> re.Pattern:
    """``text`` as the page shows it: the invisible word joiners that keep a URL in a name from
    becoming a link (dashboard.text) may sit between any two characters."""
    return re.compile("\u2060?".join(re.escape(ch) for ch in text))


def _pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the select box labelled ``label``."""
    box = page.get_by_label(label, exact=True)
    box.click()
    box.press_sequentially(option)  # filters the options; Enter takes the highlighted one
    page.get_by_role("option", name=option, exact=True).wait_for()
    box.press("Enter")
    _wait_value(page, label, option)


def _wait_value(page, label: str, value: str) -> None:
    """Wait until the box labelled ``label`` shows ``value``: a choice made by the app (following a
    new or renamed item) lands with a rerun that may start after the note announcing it."""
    page.wait_for_function(
        "([label, value]) => document.querySelector(`input[aria-label='${label}']`)?.value === value",
        arg=[label, value],
    )


def _number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Tab")


#: What a raw id looks like: dataset hashes, run/sweep/job ids with their timestamps.
RAW_ID = re.compile(r"smoke-[0-9a-f]{12}|(run|sweep|job)-[a-z0-9-]*\d{8}-\d{6}|·[0-9a-f]{8}\b")


def _no_raw_ids(page, name: str) -> None:
    """No visible text on the page names a dataset, run, sweep or job by its hash or timestamp id."""
    text = page.locator("body").inner_text()
    found = sorted({m.group(0) for m in RAW_ID.finditer(text)})
    assert not found, f"{name}: raw ids shown: {found}"
    assert "Page not found" not in text, f"{name}: 'Page not found' shown"


def test_every_page_and_a_tiny_generate_train_cycle(browser_page):
    url, page, data = browser_page
    try:
        _cycle(url, page, data)
    except BaseException:
        page.screenshot(path=str(OUT / "failure.png"), full_page=True)
        raise


def _cycle(url, page, data) -> None:
    # 1. landing page: the guided start and the shipped Figure-4 plot, at / and at /symmetry
    for path, name in (("", "1-symmetry"), ("symmetry", "1-symmetry-direct")):
        _visit(page, url, path)
        assert e2e.wait_plots(page, 1) >= 1
        page.get_by_text("Three steps for a lesson").first.wait_for()
        _no_raw_ids(page, name)
        _check_clean(page, name)
    # ... and Figure 4 taken apart frame by frame, for the shipped runs
    page.get_by_text("Frame by frame: where does a model break symmetry?").first.click()
    e2e.wait_idle(page)
    assert e2e.wait_plots(page, 2) >= 2
    page.locator(".js-plotly-plot").nth(1).scroll_into_view_if_needed()
    _no_raw_ids(page, "1-symmetry-frames")
    _check_clean(page, "1-symmetry-frames")

    # 2. data page: generate a tiny dataset (one simulation per orientation, the default)
    _visit(page, url, "data")
    if not page.get_by_label("Grid", exact=True).is_visible():
        page.get_by_text("Generate a new dataset").click()
        page.get_by_label("Grid", exact=True).wait_for()
        page.wait_for_timeout(500)  # let the expander finish opening before clicking inside it
    _pick(page, "Grid", "16")
    _number(page, "Frames", 16)
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_text("Generation started").wait_for()
    page.get_by_text(re.compile(r"Finished: .* is shown below")).wait_for(timeout=JOB_TIMEOUT_MS)
    e2e.wait_idle(page)
    assert e2e.wait_plots(page, 2) >= 2
    _wait_value(page, "Dataset", "Δb 0.6 · 16² · 1 sim × 16 frames")  # the new dataset is shown
    _no_raw_ids(page, "2-data")
    _check_clean(page, "2-data")

    # 3. train page: one ConvNet for one epoch on that dataset, until done; then load it
    _visit(page, url, "train")
    _number(page, "Epochs", 1)
    page.get_by_text("Advanced settings").click()  # the expert settings wait behind it
    _number(page, "Max training windows", 8)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(re.compile(r"Started 1 training job")).wait_for()
    try:  # the live card, if the tiny job is still running when the page looks
        page.get_by_text(re.compile(r"train ConvNet 32 ch .*elapsed")).first.wait_for(timeout=15_000)
        page.screenshot(path=str(OUT / "3-train-running.png"), full_page=True)
    except Exception:  # already finished: nothing live to show
        pass
    _wait_run_done(data)
    _visit(page, url, "train")
    picked = page.get_by_label("Look at a run", exact=True).input_value()
    assert picked == "ConvNet 32 ch · 2 frames in · with smoke · 1 ep · Δb 0.6", picked
    assert e2e.wait_plots(page, 1) >= 1  # its loss curve
    e2e.click_until(
        page,
        page.get_by_role("button", name="Load this run's model"),
        page.get_by_text(re.compile(r"Loaded: ConvNet with [\d,]+ parameters")),
    )
    e2e.wait_idle(page)
    _no_raw_ids(page, "3-train")
    _check_clean(page, "3-train")
    # renamed (to a name holding a markdown link and image), the run stays picked under its new
    # name in the browser (not the old text over another run's details), the page says what was
    # done, and the name reads as its characters everywhere: no link, no image (_check_clean)
    page.get_by_text(re.compile(r"^Id, rename, delete: ConvNet")).click()
    name_box = page.get_by_label("New name", exact=True)
    name_box.fill(NEW_NAME)
    name_box.press("Enter")  # commits the text before the click (a click may only commit it)
    e2e.click_until(
        page,
        page.get_by_role("button", name="Rename", exact=True),
        page.get_by_text(_as_shown(f'to "{NEW_NAME}"')),
    )
    e2e.wait_idle(page)
    _wait_value(page, "Look at a run", NEW_NAME)
    page.get_by_text(_as_shown(f"Id, rename, delete: {NEW_NAME}")).wait_for()
    _check_clean(page, "3-train-renamed")

    # 4. compare page: it opens on the dataset of the person's newest run (the one just trained);
    # then the shipped runs, then back to the new one-simulation dataset (no test-domain split)
    _visit(page, url, "compare")
    _wait_value(page, "Dataset", "Δb 0.6 · 16² · 1 sim × 16 frames: 1 run")
    page.get_by_label("Dataset", exact=True).click()
    page.get_by_role("option", name=re.compile(r"shipped")).first.click()
    e2e.wait_idle(page)
    assert e2e.wait_plots(page, 4) >= 4
    page.get_by_text("test-domain (unseen buoyancy strengths)", exact=True).click()
    e2e.wait_idle(page)
    assert e2e.wait_plots(page, 4) >= 4
    _no_raw_ids(page, "4-compare")
    _check_clean(page, "4-compare")
    _pick(page, "Dataset", "Δb 0.6 · 16² · 1 sim × 16 frames: 1 run")
    e2e.wait_idle(page)
    assert e2e.wait_plots(page, 2) >= 2
    page.get_by_text("test-domain (unseen buoyancy strengths) needs a dataset with 2 or more").wait_for()
    _no_raw_ids(page, "4-compare-one-sim")
    _check_clean(page, "4-compare-one-sim")

    # 5. sweep form: a level outside the Data page's 0..1 is refused with a clear message
    _visit(page, url, "symmetry")
    page.get_by_text("Set up a new sweep").click()
    page.get_by_label("Buoyancy differences", exact=True).wait_for()
    page.get_by_label("Buoyancy differences", exact=True).fill("0, 5")
    page.get_by_role("button", name="Start sweep").click()
    page.get_by_text(re.compile(r"5 is outside 0..1")).wait_for()
    _check_clean(page, "5-sweep-form")

    # a bad upload is rejected with a clear message, not a traceback, and adds no run
    _visit(page, url, "train")
    runs_before = sorted(p.name for p in (data / "runs").iterdir())
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "bad.pt", "mimeType": "application/octet-stream", "buffer": b"not a checkpoint"}]
    )
    page.get_by_text("was rejected").wait_for()
    e2e.wait_idle(page)
    assert sorted(p.name for p in (data / "runs").iterdir()) == runs_before
    _check_clean(page, "6-bad-upload")

    # 6. every page opens directly, also on a 1024-px-wide screen
    page.set_viewport_size({"width": 1024, "height": 3200})  # tall: Streamlit scrolls inside
    for path in e2e.PAGES:
        _visit(page, url, path)
        assert e2e.wait_plots(page, 1) >= 1
        _no_raw_ids(page, f"7-{path}-1024")
        _check_clean(page, f"7-{path}-1024")
    page.set_viewport_size({"width": 1400, "height": 2400})


def _wait_run_done(data: Path, timeout_s: float = JOB_TIMEOUT_MS / 1000) -> None:
    import time

    from core.store.registry import Registry

    reg = Registry(data / "registry.sqlite")
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        jobs = [j for j in reg.list_jobs() if j.kind == "train"]
        if jobs and jobs[0].finished_state:
            assert jobs[0].status == "done", f"training job ended {jobs[0].status}: {jobs[0].error}"
            return
        time.sleep(0.5)
    raise AssertionError("training job did not finish in time")


@pytest.fixture
def page_with_a_dataset(browser_page, tiny_dataset_path):
    """:func:`browser_page` with the tiny test dataset in its data directory."""
    import shutil

    url, page, data = browser_page
    (data / "datasets").mkdir(parents=True, exist_ok=True)
    shutil.copy2(tiny_dataset_path, data / "datasets" / tiny_dataset_path.name)
    return url, page, data


def test_a_killed_worker_frees_its_slot_and_resumes_from_the_page(page_with_a_dataset, monkeypatch):
    """kill -9 a real training worker while the dashboard runs: the page's poll marks it
    interrupted within seconds (freeing the slot), and its Resume button finishes the run."""
    import json
    import os
    import signal
    import time

    from core.jobs import JobRunner
    from core.models import ModelConfig
    from core.store.registry import Registry
    from core.train.trainer import TrainConfig

    url, page, data = page_with_a_dataset
    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(data))
    registry = Registry(data / "registry.sqlite")
    dataset = next(p for p in (data / "datasets").glob("*.h5"))
    train = TrainConfig(
        epochs=60, batch_size=8, rollout_steps=2, eval_steps=3, max_train_windows=8, patience=60
    )
    model = ModelConfig.for_model("convnet", hidden=8, layers=2)
    params = {"data_path": str(dataset), "model_config": model.to_dict(), "train_config": train.to_dict()}
    job_id = JobRunner(registry).submit("train", params)
    deadline = time.time() + 90
    while (registry.get_job(job_id).epoch or 0) < 1 and time.time() < deadline:
        time.sleep(0.2)
    job = registry.get_job(job_id)
    assert job.epoch, "the worker never finished an epoch"
    os.killpg(job.pid, signal.SIGKILL)
    killed = time.time()
    _visit(page, url, "train")  # the page's job poll is the only one looking
    while registry.get_job(job_id).status == "running" and time.time() - killed < 10:
        time.sleep(0.2)
    assert registry.get_job(job_id).status == "interrupted", "slot not freed within 10 s"
    page.get_by_role("button", name="Resume").first.wait_for(timeout=30_000)
    _check_clean(page, "7-interrupted")
    page.get_by_role("button", name="Resume").first.click()
    deadline = time.time() + 120
    while time.time() < deadline:
        resumed = [j for j in registry.list_jobs() if j.kind == "resume"]
        if resumed and resumed[0].finished_state:
            break
        time.sleep(0.5)
    assert resumed and resumed[0].status == "done", resumed and resumed[0].error
    run = json.loads((data / "runs" / job.run_id / "run.json").read_text())
    assert run["status"] == "done" and run["resumed_from_epoch"] >= 1


def test_at_1024_px_no_number_or_legend_entry_is_cut(browser_page):
    """A projector's 1024-px screen: the Data page's metrics, every table's columns and every legend
    entry, plot title and panel title on the landing, Data, Train, Compare and Table 1 pages are
    whole (no "…", nothing outside its box or under another text), for the shipped assets."""
    url, page, data = browser_page
    title = _readme_cli_dataset_and_a_run_on_it(data)
    page.set_viewport_size({"width": 1024, "height": 3200})  # tall: Streamlit scrolls inside
    _visit(page, url, "data")
    page.get_by_label("Dataset", exact=True).click()
    page.get_by_role("option", name=title).wait_for()  # the README's dataset is listed
    page.keyboard.press("Escape")
    _visit(page, url, "compare")  # a run whose dataset is gone is not offered here, but counted
    page.get_by_label("Dataset", exact=True).click()
    page.get_by_role("option", name=f"{title}: 1 run").wait_for()
    page.keyboard.press("Escape")
    assert "trained on a dataset that was" not in page.locator("body").inner_text()
    cut = {}
    for path, plots in (("", 1), ("data", 3), ("train", 1), ("compare", 4), ("table1", 0)):
        _visit(page, url, path)
        e2e.wait_plots(page, plots)
        if path == "compare":  # it opens on the person's run (the README's); the shipped ones, please
            page.get_by_label("Dataset", exact=True).click()
            page.get_by_role("option", name=re.compile(r"shipped")).first.click()
            e2e.wait_idle(page)
            e2e.wait_plots(page, plots)
        if not path:  # the landing's expanders draw their plots only once opened: open both
            for label in ("Accuracy per level", "Lesson: Break the symmetry"):
                page.get_by_text(label).first.click()
                e2e.wait_idle(page)
            e2e.wait_plots(page, plots + 2 + 3)  # two accuracy plots, three lesson panels
        page.wait_for_timeout(500)  # plotly lays out its legends after the first draw
        name = path or "landing"
        page.screenshot(path=str(OUT / f"8-{name}-1024-fit.png"), full_page=True)
        assert e2e.exceptions_shown(page) == [], name
        cut.update({f"{name}: {line}": 1 for line in e2e.cut_texts(page)})
    assert not cut, "cut at 1024 px:\n" + "\n".join(cut)


def _readme_cli_dataset_and_a_run_on_it(data: Path) -> str:
    """Run README's ``python -m core.data ... --out smoke`` line as written (into the server's
    data directory), then a one-epoch CLI training on ``smoke``; return the dataset's title as
    the Data page lists it."""
    readme = (e2e.PROJECT_ROOT / "README.md").read_text()
    line = next(row.strip() for row in readme.splitlines() if row.strip().startswith("python -m core.data"))
    assert line.endswith("--out smoke"), line
    env = dict(os.environ, APPROXSYM_DATA_DIR=str(data))
    argv = [sys.executable, *shlex.split(line)[1:]]
    subprocess.run(argv, cwd=e2e.PROJECT_ROOT, env=env, check=True, capture_output=True, timeout=300)
    train = "-m core.train --data smoke --model convnet --epochs 1 --max-train-windows 8 --eval-steps 2"
    run = {"cwd": e2e.PROJECT_ROOT, "env": env, "check": True, "capture_output": True, "timeout": 300}
    subprocess.run([sys.executable, *train.split()], **run)
    assert (data / "datasets" / "smoke.h5").is_file()
    from core.data import DataConfig
    from core.names import data_config_label

    config = DataConfig(buoyancy_diff=0.2, grid=32, frames=20, sims=1)
    return data_config_label(config.to_dict())
