"""Screenshot ``cnnvis serve`` (the default: pretrained EfficientNet-Lite0, both frameworks, the bundled
photos) in Debian's headless Chromium, for the README.

Usage: python scripts/screenshot_serve.py docs/images/serve.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright
from skimage import data

from visualization.cli import DEMO_PHOTOS
from visualization.models import imagenet_class_names
from visualization.models.imagenet import MEAN, STD
from visualization.serve.app import running_server
from visualization.serve.session import Explorer, ServeConfig

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SETTLED = "() => window.cnnvis && window.cnnvis.ready && window.cnnvis.pending === 0"


def main(png: str) -> None:
    config = ServeConfig(
        models={"torch": "efficientnet-lite0", "paddle": "efficientnet-lite0"},
        mean=MEAN,
        std=STD,
        class_names=imagenet_class_names(),
        photos=[(f"{n} (scikit-image, CC0)", getattr(data, n)()) for n in DEMO_PHOTOS],
        title="cnnvis explorer: efficientnet-lite0",
    )
    with running_server(Explorer(config)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1180})
        page.goto(url)
        page.wait_for_function(SETTLED, timeout=300_000)
        for m in ("gradcampp", "layercam", "eigencam"):
            page.check(f"input[value='{m}']")
        page.wait_for_function(SETTLED, timeout=300_000)
        page.evaluate("window.cnnvis.selectLayer('_blocks.4')")
        page.wait_for_function(SETTLED, timeout=300_000)
        page.click("#fmaps .cell[data-channel='5']")
        page.wait_for_timeout(800)
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=png)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1])
