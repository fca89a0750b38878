"""The HTML report, opened in a real headless Chromium: no console error, every image loads, a
control changes what is shown. Debian's chromium is driven by playwright (never its own browser).

The browser test opens the README's main job itself (``cnnvis demo --framework both``: four photos,
eight methods, both frameworks), so the size limit and the browser checks apply to what a user gets. The
small report (one photo, Grad-CAM) runs all three frameworks, PyTorch, PaddlePaddle and Keras, and is
opened in the browser too.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from visualization.cli import main
from visualization.core.image import to_display_image
from visualization.models.imagenet import preprocess
from visualization.report.explain import ExplainJob, ImageInput, build_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MAX_DEMO_BYTES = 5_000_000  # the demo report was 20.8 MB with PNG figures and plain plotly.js


def payload(page: str, element_id: str) -> str:
    """The text of one of the page's gzip+base64 data blocks."""
    m = re.search(rf'<script id="{element_id}" type="application/gzip\+base64">([A-Za-z0-9+/=]+)</script>', page)
    assert m, f"no {element_id} block in the page"
    return gzip.decompress(base64.b64decode(m.group(1))).decode("utf-8")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    arr, crop = preprocess(data.chelsea())
    job = ExplainJob(
        model="efficientnet-lite0",
        frameworks=["torch", "paddle", "keras"],
        images=[ImageInput('chelsea <cat> & "friends".jpg', arr, to_display_image(crop))],
        methods=["gradcam"],
        class_names=None,
        progress=False,
    )
    out, runs = build_report(job, tmp_path_factory.mktemp("rep") / "report")
    assert [r.framework for r in runs] == ["torch", "paddle", "keras"]
    return out


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    """The README's main job, run as the CLI runs it."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    res = CliRunner().invoke(main, ["demo", "--framework", "both", "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert float(re.search(r"PaddlePaddle: ([0-9.e+-]+)", res.output).group(1)) < 1e-4  # logits agree
    return out


def test_report_files_are_self_contained_and_escaped(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "chelsea &lt;cat&gt; &amp; &quot;friends&quot;.jpg" in page or "chelsea &lt;cat&gt; &amp; &#x27;" in page
    assert "<cat>" not in page
    markup = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # plotly.js itself holds URL strings
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)  # nothing fetched from a network
    assert not list(report_dir.parent.glob(".report.*"))  # no temporary folder left behind


def test_three_framework_report_compares_every_pair(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert '<h2 id="pytorch-versus-paddlepaddle-versus-keras">PyTorch versus PaddlePaddle versus Keras</h2>' in page
    head = "".join(f"<th>max |{pair}|</th>" for pair in ("torch - paddle", "torch - keras", "paddle - keras"))
    assert f"<th>quantity</th>{head}" in page
    logits = re.search(r"<tr><td>logits</td>((?:<td class=\"num\">[^<]+</td>){3})</tr>", page)
    assert logits and all(float(v) < 1e-4 for v in re.findall(r">([^<]+)<", logits.group(1))), logits
    assert "<th>PyTorch ms</th><th>PaddlePaddle ms</th><th>Keras ms</th>" in page
    files = {p.name.split("_")[0] for p in report_dir.iterdir() if p.suffix == ".webp"}
    assert files == {"torch", "paddle", "keras"}


def test_three_framework_report_in_headless_chromium(report_dir, tmp_path):
    """The small report with its three frameworks: no console error, every image decodes, nothing remote."""
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
            page.wait_for_function("document.body.dataset.plotsReady === 'true'", timeout=120_000)
            widths = page.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) == len(list(report_dir.glob("*.webp"))) and min(widths) > 0
            table = page.locator("#pytorch-versus-paddlepaddle-versus-keras + p + table")
            assert table.locator("th").all_inner_texts()[1:4] == [
                "max |torch - paddle|",
                "max |torch - keras|",
                "max |paddle - keras|",
            ]
            assert remote == []
        finally:
            browser.close()
    assert errors == []


def test_demo_report_is_light_and_holds_everything_once(demo_dir):
    page_path = demo_dir / "report.html"
    page = page_path.read_text(encoding="utf-8")
    assert page_path.stat().st_size <= MAX_DEMO_BYTES, f"report.html is {page_path.stat().st_size / 1e6:.1f} MB"
    assert page.count('id="cnnvis-plotlyjs"') == 1 and "plotly.js v" in payload(page, "cnnvis-plotlyjs")
    figures = json.loads(payload(page, "cnnvis-figures"))
    divs = re.findall(r'<div id="([a-z0-9-]+)" class="plotly-graph-div"', page)
    assert divs == [f["id"] for f in figures] and len(divs) == 5  # every-channel view + one explorer per photo
    files = sorted(p.name for p in demo_dir.iterdir() if p.name != "report.html")
    assert len(files) == 18 and all(n.endswith(".webp") for n in files)  # 9 figures per framework
    assert all(f'data-file="{n}"' in page for n in files)
    for n in files:  # each embedded figure is the file written beside the page
        data = (demo_dir / n).read_bytes()
        assert base64.b64encode(data).decode("ascii") in page
        with Image.open(demo_dir / n) as im:
            assert im.format == "WEBP" and 500 <= im.size[0] <= 1600


def test_report_in_headless_chromium(demo_dir, tmp_path):
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
            page.goto((demo_dir / "report.html").as_uri())
            page.wait_for_function("document.body.dataset.plotsReady === 'true'", timeout=120_000)
            assert page.evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length") >= 5
            widths = page.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) == 18 and min(widths) >= 500
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
