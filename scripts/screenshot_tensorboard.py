"""Screenshot TensorBoard showing what ``VisualizationLogger`` wrote (for docs/03-feature-map-analysis.md).

    python scripts/screenshot_tensorboard.py                       # train, then screenshot (~3 min on 2 cores)
    python scripts/screenshot_tensorboard.py --logdir out/tb_demo  # screenshot event files you already have

Without ``--logdir`` it first runs the PyTorch cat-vs-dog example with ``--tensorboard`` (pretrained
EfficientNet-Lite0 with a new head, on the 48 pet photos in tests/data/pets, or ``--data-dir``). Then it starts
``tensorboard --logdir DIR --host 127.0.0.1`` on a free loopback port, opens the time-series dashboard
filtered to the Grad-CAM and feature-map images in Debian's headless Chromium (never a browser that
playwright downloads), saves the PNG with a reduced palette (small enough for the repository) and
stops the TensorBoard process it started.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PETS = ROOT / "tests" / "data" / "pets"  # in the repository; --data-dir for a larger set


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(out: Path, data_dir: Path) -> Path:
    """The example run whose event files are shown; returns the TensorBoard folder."""
    logdir = out / "runs"
    cmd = [sys.executable, "examples/pytorch/cat_dog_classifier.py", "--data-dir", str(data_dir)]
    cmd += ["--image-size", "160", "--epochs", "4", "--cam-layer", "_blocks.15"]
    cmd += ["--out", str(out / "example"), "--tensorboard", str(logdir / "efficientnet_head")]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return logdir


def wait_until_up(url: str, proc: subprocess.Popen, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tensorboard exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"tensorboard did not answer at {url} within {timeout_s:.0f} s")


def screenshot(logdir: Path, png: Path, tag_filter: str, width: int, height: int) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--load_fast", "false", "--reload_interval", "0"]
    tb = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/data/runs", tb)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(f"{base}/?darkMode=false#timeseries")
            tags = page.locator("input[placeholder='Filter tags (regex)']:visible").first
            tags.wait_for(timeout=60_000)
            page.locator("button[aria-label='Close side pane']").click()  # the settings pane
            page.locator("button[data-value='image']").click()  # image cards only
            tags.fill(tag_filter)
            tags.press("Escape")  # close the list of matching tags
            page.mouse.click(width - 40, height - 40)
            page.wait_for_selector("image-card img", timeout=60_000)
            page.wait_for_timeout(4000)  # the image cards load one after another
            tmp = png.with_suffix(".full.png")
            page.screenshot(path=str(tmp))
            browser.close()
    finally:
        tb.terminate()
        tb.wait(timeout=30)
    with Image.open(tmp) as img:  # 256 colours: a screenshot of a web page loses nothing visible
        img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    tmp.unlink()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logdir", type=Path, help="event files to show (default: train first, into --work)")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "tb_screenshot", help="where the training run goes")
    ap.add_argument("--data-dir", type=Path, default=PETS, help="cats/ and dogs/ photos for the training run")
    ap.add_argument("--png", type=Path, default=ROOT / "docs" / "images" / "tensorboard_images.png")
    ap.add_argument("--filter", default="gradcam|feature_maps/_blocks.2/", help="TensorBoard tag filter (a regex)")
    ap.add_argument("--size", default="1280x900", help="browser window, WIDTHxHEIGHT")
    args = ap.parse_args(argv)
    logdir = args.logdir or train(args.work, args.data_dir)
    width, height = (int(v) for v in args.size.split("x"))
    args.png.parent.mkdir(parents=True, exist_ok=True)
    screenshot(logdir, args.png, args.filter, width, height)
    print(f"{args.png}: {args.png.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
