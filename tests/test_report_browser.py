"""The HTML report, opened in a real headless Chromium: no console error, every image loads, a
control changes what is shown. Debian's chromium is driven by playwright (never its own browser)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from visualization.core.image import to_display_image
from visualization.models.imagenet import preprocess
from visualization.report.explain import ExplainJob, ImageInput, build_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    arr, crop = preprocess(data.chelsea())
    job = ExplainJob(
        model="efficientnet-lite0",
        frameworks=["torch", "paddle"],
        images=[ImageInput('chelsea <cat> & "friends".jpg', arr, to_display_image(crop))],
        methods=["gradcam", "gradcampp"],
        class_names=None,
        progress=False,
    )
    out, runs = build_report(job, tmp_path_factory.mktemp("rep") / "report")
    assert np.abs(runs[0].logits - runs[1].logits).max() < 1e-4
    return out


def test_report_files_are_self_contained_and_escaped(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "chelsea &lt;cat&gt; &amp; &quot;friends&quot;.jpg" in page or "chelsea &lt;cat&gt; &amp; &#x27;" in page
    assert "<cat>" not in page
    markup = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # plotly.js itself holds URL strings
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)  # nothing fetched from a network
    assert page.count("plotly.js v") == 1  # the plotting library embedded exactly once
    pngs = sorted(p.name for p in report_dir.glob("*.png"))
    assert pngs and all(f'data-file="{n}"' in page for n in pngs)
    assert not list(report_dir.parent.glob(".report.*"))  # no temporary folder left behind


def test_report_in_headless_chromium(report_dir, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            remote: list[str] = []
            page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
            page.goto((report_dir / "report.html").as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
            widths = page.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
            assert widths and min(widths) > 0
            explorer = page.locator(".js-plotly-plot[id^='torch-explorer']").first
            explorer.scroll_into_view_if_needed()
            visible = "id => document.getElementById(id).data.map(t => t.visible)"
            div_id = explorer.get_attribute("id")
            before = page.evaluate(visible, div_id)
            explorer.locator(".updatemenu-header").first.click()
            explorer.locator(".updatemenu-dropdown-button").nth(1).click()
            page.wait_for_timeout(300)
            after = page.evaluate(visible, div_id)
            assert before != after and after[0] is True and after.count(True) == 2
            fmap = page.locator(".js-plotly-plot[id^='torch-fmaps']").first
            fmap.scroll_into_view_if_needed()
            fid = fmap.get_attribute("id")
            fmap.locator(".updatemenu-button").nth(1).click()  # per-channel colour scale
            page.wait_for_timeout(300)
            assert page.evaluate("id => document.getElementById(id).data[0].zauto", fid) is True
            page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
            assert remote == []
        finally:
            browser.close()
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
