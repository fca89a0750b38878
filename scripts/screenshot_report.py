"""Screenshot a cnnvis report in Debian's headless Chromium (for the README).

Usage: python scripts/screenshot_report.py out/demo/report.html docs/images/report.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main(report: str, png: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(Path(report).resolve().as_uri())
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
        page.locator("h2[id*='class-activation-maps']").first.scroll_into_view_if_needed()
        page.evaluate("document.querySelector(\"h2[id*='class-activation-maps']\").scrollIntoView()")
        page.wait_for_timeout(500)
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=png)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
