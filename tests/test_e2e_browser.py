"""End to end, in a real browser: start the dashboard, visit every page, generate a tiny
dataset and train a tiny model through the UI, and check that plots appear and no
exception is shown. Screenshots go to test-output/e2e/ (git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboard import e2e

OUT = e2e.PROJECT_ROOT / "test-output" / "e2e"
TIMEOUT_MS = 60_000
JOB_TIMEOUT_MS = 120_000

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    """A Chromium page on a fresh dashboard server with its own empty data directory."""
    if not e2e.CHROMIUM.exists():
        pytest.skip(f"{e2e.CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    data = tmp_path_factory.mktemp("e2e-data")
    assets = e2e.shipped_or_quick_assets(tmp_path_factory.mktemp("e2e-assets"))
    with e2e.streamlit_server(data, assets, log_path=OUT / "server.log") as (url, proc):
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


def _pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the select box labelled ``label``."""
    box = page.get_by_label(label, exact=True)
    box.click()
    box.press_sequentially(option)  # filters the options; Enter takes the highlighted one
    page.get_by_role("option", name=option, exact=True).wait_for()
    box.press("Enter")
    page.wait_for_function(
        "([label, option]) => document.querySelector(`input[aria-label='${label}']`).value === option",
        arg=[label, option],
    )


def _number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Tab")


def test_every_page_and_a_tiny_generate_train_cycle(browser_page):
    url, page, data = browser_page
    try:
        _cycle(url, page, data)
    except BaseException:
        page.screenshot(path=str(OUT / "failure.png"), full_page=True)
        raise


def _cycle(url, page, data) -> None:

    # 1. landing page: the shipped Figure-4 plot
    _visit(page, url, "")
    assert e2e.wait_plots(page, 1) >= 1
    page.get_by_text("Approximate equivariance").first.wait_for()
    _check_clean(page, "1-symmetry")

    # 2. data page: generate a tiny dataset in the background, then see it drawn
    _visit(page, url, "data")
    if not page.get_by_label("Grid", exact=True).is_visible():
        page.get_by_text("Generate a new dataset").click()
        page.get_by_label("Grid", exact=True).wait_for()
        page.wait_for_timeout(500)  # let the expander finish opening before clicking inside it
    _pick(page, "Grid", "16")
    _number(page, "Frames", 16)
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_text("Generation started").wait_for()
    page.get_by_text(re.compile(r"Job .* finished")).wait_for(timeout=JOB_TIMEOUT_MS)
    e2e.wait_idle(page)
    assert e2e.wait_plots(page, 2) >= 2
    (made,) = list((data / "datasets").glob("*.h5"))
    assert page.get_by_label("Dataset", exact=True).input_value() == made.name  # the new one is shown
    _check_clean(page, "2-data")

    # 3. train page: one ConvNet for one epoch on that dataset, until done
    _visit(page, url, "train")
    _number(page, "Epochs", 1)
    _number(page, "Max training windows", 8)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(re.compile(r"Started 1 job")).wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    # the tables are canvas grids (no DOM text): ask the registry when the job is done,
    # then check that the page lists the new run after a reload
    _wait_run_done(data)
    _visit(page, url, "train")
    picked = page.get_by_label("Look at a run", exact=True).input_value()
    assert picked.startswith("convnet · run-convnet-"), picked
    assert e2e.wait_plots(page, 1) >= 1  # its loss curve
    _check_clean(page, "3-train")

    # 4. compare page: the new run beside the shipped ones
    _visit(page, url, "compare")
    assert e2e.wait_plots(page, 4) >= 4
    _check_clean(page, "4-compare")

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

    # a refresh keeps the jobs (they come from the SQLite registry, not the session)
    _visit(page, url, "train")
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    assert page.get_by_label("Look at a run", exact=True).input_value().startswith("convnet · run-convnet-")
    _check_clean(page, "5-train-after-refresh")


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
