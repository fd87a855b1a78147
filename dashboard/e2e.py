"""Driving the real dashboard in a real browser: shared by the end-to-end test and the benchmark.

Starts ``streamlit run dashboard/app.py`` on a free port with its own data directory,
waits for ``/_stcore/health``, launches Debian's Chromium through Playwright, and
waits for a page's script to finish. No Streamlit import: this runs in the test process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = ("symmetry", "data", "train", "compare")


def free_port() -> int:
    """Return a TCP port on localhost that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout_s: float = 60.0, proc: subprocess.Popen | None = None) -> float:
    """Poll ``url/_stcore/health`` until it answers ``ok``; return the seconds waited.

    Raises RuntimeError if the server process exits or ``timeout_s`` passes.
    """
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}/_stcore/health did not answer ok within {timeout_s} s")


@contextlib.contextmanager
def streamlit_server(
    data_dir: Path, assets_dir: Path | None = None, log_path: Path | None = None, script: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run the dashboard on a free localhost port; yield ``(base url, process)``.

    ``data_dir`` becomes APPROXSYM_DATA_DIR (and ``assets_dir``, if given,
    APPROXSYM_ASSETS_DIR). The server's output goes to ``log_path``. The process
    (and only it) is terminated on exit. ``script``: another
    Streamlit script to serve instead of dashboard/app.py (the benchmark's floor).
    """
    port = free_port()
    env = dict(os.environ, APPROXSYM_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    if assets_dir is not None:
        env["APPROXSYM_ASSETS_DIR"] = str(assets_dir)
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script or "dashboard/app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.fileWatcherType",  # the dashboard's own config says so; a floor script has none
        "none",
    ]
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if log_path:
            log.close()


def launch_chromium(playwright):
    """Launch Debian's Chromium headless via Playwright (no browser download)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def wait_idle(page, timeout_ms: float = 60_000) -> None:
    """Wait until the app's script has run and stopped (``data-test-script-state="notRunning"``).

    A short pause first lets a just-triggered rerun flip the state to running.
    """
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_timeout(150)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)


def click_until(page, button, done, attempts: int = 3, timeout_ms: float = 20_000) -> int:
    """Click the locator ``button`` until the locator ``done`` is shown; return the clicks it took.

    Streamlit's page can drop a click that lands while the script reruns (a fragment's timer,
    a text box committing its value), and a dropped click shows nothing: so each click waits
    for the script to be idle first, and is repeated only when ``done`` has not appeared
    within ``timeout_ms`` and the button is still there (a click that took effect may have
    moved it away: a renamed item's expander opens closed). For buttons whose second click does
    no harm (Rename, Load).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for n in range(1, attempts + 1):
        wait_idle(page)
        if n > 1 and not button.is_visible():  # the last click took effect: only its note is late
            done.first.wait_for(timeout=timeout_ms)
            return n - 1
        button.click()
        try:
            done.first.wait_for(timeout=timeout_ms)
            return n
        except PlaywrightTimeout:
            if n == attempts:
                raise
    return attempts


def wait_plots(page, count: int = 1, timeout_ms: float = 60_000) -> int:
    """Wait until at least ``count`` plotly charts are drawn; return how many there are."""
    drawn = (
        "n => Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".filter(p => p.querySelector('.main-svg')).length >= n"
    )
    page.wait_for_function(drawn, arg=count, timeout=timeout_ms)
    return page.locator(".js-plotly-plot").count()


def exceptions_shown(page) -> list[str]:
    """Texts of any exception boxes on the page (empty when all is well)."""
    return [t.strip()[:500] for t in page.locator('[data-testid="stException"]').all_inner_texts()]


def shipped_or_quick_assets(scratch: Path) -> Path:
    """The shipped assets folder if it holds a dataset, runs and a sweep; else quick ones.

    Quick assets (``python -m core.assets --quick``: grid 16, 1 epoch, real PhiFlow data
    and real training) are built under ``scratch`` in a separate process with its own
    data directory, so the tests work before the real assets are generated.
    """
    from core.store.paths import assets_dir

    shipped = assets_dir()
    if all(
        (shipped / sub).is_dir() and any((shipped / sub).iterdir()) for sub in ("datasets", "runs", "sweeps")
    ):
        return shipped
    out = Path(scratch) / "quick-assets"
    if not (out / "sweeps").is_dir():
        env = dict(os.environ, APPROXSYM_DATA_DIR=str(Path(scratch) / "quick-data"))
        subprocess.run(
            [sys.executable, "-m", "core.assets", "--quick", "--out", str(out)],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return out


#: Texts a person must read whole, and the box each must fit in: metric labels and values and button
#: labels (Streamlit cuts them with "…"), and each plot's legend entries, titles and panel titles.
_CUT_TEXTS_JS = """
() => {
  const cut = [];
  const overflows = el => el.scrollWidth > el.clientWidth + 1;
  for (const sel of ['[data-testid="stMetricLabel"]', '[data-testid="stMetricValue"]']) {
    for (const el of document.querySelectorAll(sel)) {
      if ([el, ...el.querySelectorAll('*')].some(overflows) || el.innerText.includes('…'))
        cut.push(`metric cut: ${el.innerText.trim()}`);
    }
  }
  // a table wider than its box hides columns behind a sideways scroll
  for (const table of document.querySelectorAll('[data-testid="stDataFrame"]')) {
    const scroller = table.querySelector('.dvn-scroller');
    if (scroller && scroller.scrollWidth > scroller.clientWidth + 1)
      cut.push(`table cut: ${scroller.scrollWidth} px of columns in a ${scroller.clientWidth}-px box`);
  }
  for (const button of document.querySelectorAll('button')) {
    if ([button, ...button.querySelectorAll('*')].some(overflows))
      cut.push(`button cut: ${button.innerText.trim()}`);
  }
  const meet = (a, b) =>
    a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const outside = (r, box) =>
    r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1;
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const svg = plot.querySelector('.main-svg');
    if (!svg) continue;
    const box = svg.getBoundingClientRect();
    const title = plot.querySelector('.gtitle')?.textContent || '(untitled plot)';
    for (const t of plot.querySelectorAll('.legendtext, .gtitle, .annotation-text, .g-xtitle, .g-ytitle')) {
      const r = t.getBoundingClientRect();
      if (r.width > 0 && outside(r, box)) cut.push(`outside its plot "${title}": ${t.textContent}`);
    }
    // a legend entry drawn over the axes' titles or tick labels, or the plot's title, hides both
    const axisTexts = '.g-xtitle text, .g-ytitle text, .xtick text, .ytick text, .gtitle';
    const texts = [...plot.querySelectorAll(axisTexts)];
    for (const t of plot.querySelectorAll('.legend .legendtext')) {
      const r = t.getBoundingClientRect();
      if (r.width === 0) continue;
      for (const o of texts) {
        if (meet(r, o.getBoundingClientRect()))
          cut.push(`legend entry over "${o.textContent}" in "${title}": ${t.textContent}`);
      }
    }
    const legend = plot.querySelector('.legend .bg');
    if (!legend) continue;
    const shown = legend.getBoundingClientRect();
    for (const t of plot.querySelectorAll('.legend .legendtext')) {
      const r = t.getBoundingClientRect();
      if (r.width > 0 && outside(r, shown)) cut.push(`legend entry cut in "${title}": ${t.textContent}`);
    }
  }
  return cut;
}
"""


def cut_texts(page) -> list[str]:
    """What the page shows cut: metric labels or values that overflow their box or end in "…",
    tables whose columns do not fit their box, button labels that overflow, and plot legend
    entries, titles or panel titles outside their plot (or, for a legend entry, outside the
    legend's visible box, or drawn over an axis title, a tick label or the plot's title). Returns
    one line per cut text; empty when all fit."""
    return page.evaluate(_CUT_TEXTS_JS)
