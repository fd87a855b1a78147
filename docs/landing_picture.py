"""Remake docs/landing.png, README's picture of the landing page, from the shipped assets.

    python docs/landing_picture.py [--out docs/landing.png] [--width 1280] [--height 1280]

Starts the dashboard on a fresh data directory (dashboard.e2e), opens it in headless Chromium,
waits for the Figure-4 plot and saves a screenshot of the top of the page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import e2e  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "landing.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1280)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        assets = e2e.shipped_or_quick_assets(Path(tmp) / "scratch")
        browser = e2e.launch_chromium(pw)
        with e2e.streamlit_server(Path(tmp) / "data", assets) as (url, proc):
            e2e.wait_healthy(url, proc=proc)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(url)
            e2e.wait_idle(page)
            e2e.wait_plots(page, 1)
            page.wait_for_timeout(1000)  # plotly's first transition
            page.screenshot(path=str(args.out))
        browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
