"""Responsiveness and memory of ``cnnvis serve``: click-to-picture time against the library call, and the
server's resident memory idle and after 100 different requests.

Run: ``python -m bench.bench_serve`` (``--model efficientnet-lite0``, ``--trials 8``, ``--requests 100``,
``--framework torch``). Needs the ``serve`` extra, playwright and Debian's chromium.

* The server is ``cnnvis serve`` in a subprocess (``--port 0``), so its memory is its own: resident memory
  (``VmRSS`` of ``/proc/PID/status``) once it prints its URL (the model and its structure are loaded then),
  once the page has loaded (predictions, first Grad-CAM), after ``--requests`` different requests
  (Grad-CAM for one class after another, the other gradient CAM methods, feature maps and filters of
  many layers: every one a cache miss) and its peak (``VmHWM``).
* Click to picture: in Chromium, the time from ticking the Grad-CAM box (on a class not asked for yet, so
  nothing is cached) to the panel holding the drawn map, measured in the page with ``performance.now()``.
  The library call is ``GradCAM(model, layer).generate_cam(x, c)`` on the same photo, in this process;
  each trial runs the library call and the click one after the other, so both see the same machine load.
  The ratio is the median click time over the median library time, and the fastest over the fastest
  (the runs least disturbed by other work). On a shared machine the load swings
  both, so the server's own time for the same call (the job's ``seconds``) is given too, with the
  difference: what HTTP, JSON, decoding and drawing add.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ._common import markdown_table

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SETTLED = "() => window.cnnvis && window.cnnvis.ready && window.cnnvis.pending === 0"
CLICK_JS = """async ([cls]) => {
  const box = document.querySelector("input[value='gradcam']");
  if (box.checked) box.click();
  window.cnnvis.chooseClass(cls);
  const t0 = performance.now();
  box.click();
  let panel;
  while (!(panel = document.querySelector(".panel[data-method='gradcam'][data-status='done']"))) {
    await new Promise((r) => requestAnimationFrame(r));
  }
  return [(performance.now() - t0) / 1000, Number(panel.dataset.seconds)];
}"""


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def library_call(model_name: str, size: int):
    """``generate_cam`` as a user would call it, on the page's first photo, ready to time."""
    import torch
    from skimage import data

    from visualization.models import load_model
    from visualization.models.imagenet import MEAN, STD, preprocess
    from visualization.pytorch.cam_visualizer import GradCAM
    from visualization.report.explain import ZOO_LAYERS

    model = load_model(model_name, framework="torch")
    arr, _ = preprocess(data.chelsea(), size=size, resize=round(size * 256 / 224), mean=MEAN, std=STD)
    x = torch.from_numpy(arr[None])
    cam = GradCAM(model, ZOO_LAYERS[model_name]["cam"])

    def call(c: int) -> float:
        t0 = time.perf_counter()
        cam.generate_cam(x, c)
        return time.perf_counter() - t0

    call(0)
    return call


def many_requests(url: str, n: int, layers: list[str]) -> float:
    """``n`` different requests (each a cache miss); returns their total wall time."""
    import httpx

    reqs: list[dict] = []
    methods = ["gradcampp", "xgradcam", "layercam", "hirescam", "eigencam"]
    for i, layer in enumerate(layers):
        reqs.append({"kind": "features", "fw": "torch", "image": "coffee", "layer": layer})
        reqs.append({"kind": "filters", "fw": "torch", "layer": layer})
        reqs.append({"kind": "cam", "fw": "torch", "image": "astronaut", "method": methods[i % len(methods)], "cls": i})
    c = 500
    while len(reqs) < n:
        reqs.append({"kind": "cam", "fw": "torch", "image": "rocket", "method": "gradcam", "cls": c})
        c += 1
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=300) as client:
        for req in reqs[:n]:
            job = client.post("/api/run?wait=20", json=req).json()
            assert job.get("status") in ("done", "error"), job
            assert not job.get("cached"), req
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--requests", type=int, default=100)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-c", "from visualization.cli import run; run()", "serve", "--model", args.model]
    proc = subprocess.Popen(
        [*cmd, "--framework", "torch", "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        url = proc.stdout.readline().split()[3]
        time.sleep(1.0)
        idle = rss_mb(proc.pid)
        call = library_call(args.model, 224)
        lib, click, inside = [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(url)
            page.wait_for_function(SETTLED, timeout=600_000)
            loaded = rss_mb(proc.pid)
            for i in range(args.trials):
                cls = 10 + i  # a class not asked for yet: no cache hit
                lib.append(call(cls))
                seconds, job_seconds = page.evaluate(CLICK_JS, [cls])
                click.append(seconds)
                inside.append(job_seconds)
                print(
                    f"trial {i}: library {lib[-1] * 1000:.0f} ms here, {job_seconds * 1000:.0f} ms in the server; "
                    f"click to picture {seconds * 1000:.0f} ms",
                    file=sys.stderr,
                )
            layers = page.evaluate(
                "() => window.cnnvis.state.rows.filter(r => r.map && r.shape[1] > 1).map(r => r.name)"
            )
            browser.close()
        step = max(1, len(layers) // 30)
        seconds = many_requests(url, args.requests, layers[::step][:30])
        after = rss_mb(proc.pid)
        peak = rss_mb(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(30)
    med_lib, med_click, med_inside = statistics.median(lib), statistics.median(click), statistics.median(inside)
    overhead = statistics.median(np.array(click) - np.array(inside))
    print(f"## cnnvis serve: {args.model}, PyTorch, 224 x 224, {args.trials} trials, {os.cpu_count()} CPUs\n")
    print(
        markdown_table(
            ["measure", "value"],
            [
                ["library GradCAM.generate_cam, median ms", f"{med_lib * 1000:.0f}"],
                ["click to picture in Chromium, median ms", f"{med_click * 1000:.0f}"],
                ["ratio click / library here, medians (target < 1.5)", f"{med_click / med_lib:.2f}x"],
                ["fastest click / fastest library call (ms)", f"{min(click) * 1000:.0f} / {min(lib) * 1000:.0f}"],
                ["ratio of the fastest (least disturbed by other load)", f"{min(click) / min(lib):.2f}x"],
                ["the same library call inside the server (the job's own time), median ms", f"{med_inside * 1000:.0f}"],
                ["ratio click / that call", f"{med_click / med_inside:.2f}x"],
                ["what the server and the page add (click - call), median ms", f"{overhead * 1000:.0f}"],
                ["server RSS idle after start, model loaded (MiB)", f"{idle:.0f}"],
                ["server RSS with the page loaded (MiB)", f"{loaded:.0f}"],
                [f"server RSS after {args.requests} more different requests (MiB)", f"{after:.0f}"],
                ["server peak RSS (MiB)", f"{peak:.0f}"],
                [f"{args.requests} requests, total s", f"{seconds:.1f}"],
            ],
        )
    )
    print(f"\nclick / library here, per trial: {np.round(np.array(click) / np.array(lib), 2).tolist()}")
    print(f"click / the server's call, per trial: {np.round(np.array(click) / np.array(inside), 2).tolist()}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
