"""``cnnvis serve``: the explorer server, driven in Debian's Chromium through playwright, with the numbers
behind every picture checked against the library's public API (the map shown is the map
``generate_cam`` returns), plus the server's safety rules over plain HTTP.

Tiny twin models (``tests._cli_models``: the same weights in PyTorch, Paddle and Keras) keep it fast.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from visualization.models.imagenet import IMAGENET_MEAN, IMAGENET_STD, preprocess  # noqa: E402
from visualization.serve.app import is_loopback, running_server  # noqa: E402
from visualization.serve.session import (  # noqa: E402
    Explorer,
    ServeConfig,
    UploadError,
    decode_array,
    decode_image,
)

from .test_report_browser import ARGS, CHROMIUM  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32
TORCH_MODEL = "tests._cli_models:tiny_catdog"
PADDLE_MODEL = "tests._cli_models:tiny_catdog_paddle_twin"
TOL = 1e-6
PET = sorted((ROOT / "tests/data/pets").rglob("*.jpg"))[0]


def tiny_config(**kw) -> ServeConfig:
    options = dict(
        models={"torch": TORCH_MODEL, "paddle": PADDLE_MODEL},
        input_size=SIZE,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        class_names=["cat", "dog"],
        photos=[("chelsea (scikit-image, CC0)", data.chelsea())],
        title="cnnvis explorer: tiny",
        max_upload_bytes=1_000_000,
    )
    options.update(kw)
    return ServeConfig(**options)


@pytest.fixture(scope="module")
def server():
    explorer = Explorer(tiny_config())
    with running_server(explorer) as url:
        yield explorer, url


@pytest.fixture(scope="module")
def refs():
    """The same networks, built independently of the server, and the library's classes for each framework."""
    import paddle
    import torch

    from tests import _cli_models
    from visualization.paddle import cam_visualizer as pcam
    from visualization.paddle import layer_visualizer as play
    from visualization.paddle import saliency as psal
    from visualization.pytorch import cam_visualizer as tcam
    from visualization.pytorch import layer_visualizer as tlay
    from visualization.pytorch import saliency as tsal

    return {
        "torch": (_cli_models.tiny_catdog().eval(), torch.from_numpy, tcam, tlay, tsal),
        "paddle": (_cli_models.tiny_catdog_paddle_twin(), paddle.to_tensor, pcam, play, psal),
    }


def model_input(rgb) -> np.ndarray:
    arr, _ = preprocess(rgb, size=SIZE, resize=round(SIZE * 256 / 224), mean=IMAGENET_MEAN, std=IMAGENET_STD)
    return arr[None]


def ref_cam(refs, fw: str, x: np.ndarray, method_cls: str, cls: int, layer: str = "conv3") -> np.ndarray:
    model, tensor, cams, _, _ = refs[fw]
    return getattr(cams, method_cls)(model, layer).generate_cam(tensor(x), cls)


def finished(c, req: dict) -> dict:
    """POST a request and wait (a bounded number of long polls) until its job is finished."""
    job = c.post("/api/run?wait=20", json=req).json()
    for _ in range(15):
        if job.get("status") not in ("queued", "running"):
            break
        job = c.get(f"/api/jobs/{job['id']}?wait=20").json()
    return job


# ------------------------------------------------------------------------------------ the browser
def _panel_map(page, method: str) -> tuple[np.ndarray, int]:
    sel = f".panel[data-method='{method}'][data-status='done']"
    page.wait_for_selector(sel, timeout=60_000)
    key = page.get_attribute(sel, "data-key")
    values = page.evaluate("k => Array.from(window.cnnvis.maps[k].data)", key)
    shape = page.evaluate("k => window.cnnvis.maps[k].shape", key)
    return np.asarray(values, np.float32).reshape(shape), int(page.get_attribute(sel, "data-target"))


def _settle(page) -> None:
    page.wait_for_function("() => window.cnnvis && window.cnnvis.ready && window.cnnvis.pending === 0", timeout=60_000)


def test_explorer_in_headless_chromium(server, refs, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    _, url = server
    chelsea = model_input(data.chelsea())
    errors: list[str] = []
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None)
            page.goto(url)
            _settle(page)

            # predictions: both classes of the tiny model, in the library's order
            logits = refs["torch"][0](refs["torch"][1](chelsea)).detach().numpy()[0]
            rows = page.locator("#predictions tr")
            assert rows.count() == 2
            assert [int(rows.nth(i).get_attribute("data-index")) for i in range(2)] == list(np.argsort(-logits))
            pred = int(np.argmax(logits))

            # the default panel: Grad-CAM of the predicted class at the model's last spatial layer
            heat, target = _panel_map(page, "gradcam")
            assert target == pred
            assert np.abs(heat - ref_cam(refs, "torch", chelsea, "GradCAM", pred)).max() <= TOL

            # upload a photo (the file chooser), then it is the image explained
            photo = tmp_path / "coffee <b>&amp;.png"
            Image.fromarray(data.coffee()).save(photo, format="PNG", compress_level=9)
            assert photo.stat().st_size < 1_000_000
            page.set_input_files("#upload", str(photo))
            page.wait_for_selector("#images button.selected[data-id^='u']", timeout=30_000)
            _settle(page)
            assert page.locator("img[src='x'], b").count() == 0  # the file name is text, never markup
            assert page.get_attribute("#images button.selected", "title") == photo.name
            coffee = model_input(data.coffee())
            heat, target = _panel_map(page, "gradcam")
            assert np.abs(heat - ref_cam(refs, "torch", coffee, "GradCAM", target)).max() <= TOL

            # several methods side by side, one opacity slider for all
            for m in ("gradcampp", "scorecam", "gradient"):
                page.check(f"input[value='{m}']")
            _settle(page)
            assert page.locator(".panel").count() == 4
            for method, cls in (("gradcampp", "GradCAMPlusPlus"), ("scorecam", "ScoreCAM")):
                heat, target = _panel_map(page, method)
                assert np.abs(heat - ref_cam(refs, "torch", coffee, cls, target)).max() <= TOL, method
            heat, target = _panel_map(page, "gradient")
            model, tensor, _, _, sal = refs["torch"]
            assert np.abs(heat - sal.VanillaGradient(model, abs=True).generate_saliency(tensor(coffee), target)).max() <= TOL
            page.locator("#opacity").fill("0.8")
            assert set(page.eval_on_selector_all(".panel canvas.heat", "cs => cs.map(c => c.style.opacity)")) == {"0.8"}

            # another class: the runner-up from the menu, then by name
            page.uncheck("input[value='scorecam']")
            page.uncheck("input[value='gradient']")
            other = int(page.locator("#class-select option").nth(2).get_attribute("value"))
            page.select_option("#class-select", str(other))
            heat, target = _panel_map(page, "gradcam")
            assert target == other
            assert np.abs(heat - ref_cam(refs, "torch", coffee, "GradCAM", other)).max() <= TOL
            page.fill("#class-input", "dog")
            page.dispatch_event("#class-input", "change")
            _settle(page)
            heat, target = _panel_map(page, "gradcam")
            assert target == 1 and np.abs(heat - ref_cam(refs, "torch", coffee, "GradCAM", 1)).max() <= TOL

            # the layer tree: click conv2 -> its feature maps (every channel) and filters
            page.click(".tree .node[data-layer='conv2']")
            _settle(page)
            fkey = page.evaluate("Object.keys(window.cnnvis.maps).find(k => k.startsWith('features|torch|') && k.endsWith('|conv2'))")
            got = np.asarray(page.evaluate("k => Array.from(window.cnnvis.maps[k].data)", fkey), np.float32)
            viz = refs["torch"][3].CNNLayerVisualizer(model)
            want = viz.get_feature_maps(tensor(coffee), "conv2")[0]
            assert np.abs(got.reshape(want.shape) - want).max() <= TOL
            assert page.locator("#fmaps .cell").count() == min(64, want.shape[0])
            page.fill("#channel", str(want.shape[0] - 1))  # the last channel is reachable
            page.dispatch_event("#channel", "change")
            page.wait_for_selector(f"#fmaps .cell.selected[data-channel='{want.shape[0] - 1}']")
            z = page.evaluate("document.getElementById('fmap-plot').data[0].z")
            assert np.abs(np.asarray(z, np.float32) - want[-1]).max() <= TOL  # the hover values
            assert page.locator("#filters .cell").count() == viz.get_conv_filters("conv2").shape[0]

            # activation maximization with progress
            page.fill("#am-channel", "3")
            page.fill("#am-steps", "8")
            page.click("#am-run")
            page.wait_for_selector("#am-result img", timeout=60_000)
            assert "channel 3" in page.text_content("#am-result")

            # the framework switch: the same numbers come from Paddle's classes
            page.click("#fw-switch input[value='paddle']")
            _settle(page)
            heat, target = _panel_map(page, "gradcam")
            paddle_ref = ref_cam(refs, "paddle", coffee, "GradCAM", 1)
            assert target == 1 and np.abs(heat - paddle_ref).max() <= TOL
            assert np.abs(heat - ref_cam(refs, "torch", coffee, "GradCAM", 1)).max() <= 1e-5  # the twin agrees
            assert page.get_attribute(".panel[data-method='gradcam']", "data-key").startswith("paddle|")
            page.screenshot(path=str(tmp_path / "explorer.png"), full_page=False)
        finally:
            browser.close()
    assert errors == []
    assert outside == []


def test_two_tabs_at_once_get_their_own_answers(server, refs):
    sync_api = pytest.importorskip("playwright.sync_api")
    _, url = server
    chelsea = model_input(data.chelsea())
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            a, b = browser.new_page(), browser.new_page()
            for page in (a, b):
                page.goto(url)
            for page in (a, b):
                _settle(page)
            # at the same time: tab A asks for class 0 with Ablation-CAM, tab B for class 1 in Paddle
            b.evaluate("window.cnnvis.switchFramework('paddle')")
            a.check("input[value='ablationcam']")
            a.evaluate("window.cnnvis.chooseClass(0)")
            b.evaluate("window.cnnvis.chooseClass(1)")
            for page in (a, b):
                _settle(page)
            heat, target = _panel_map(a, "ablationcam")
            assert target == 0 and np.abs(heat - ref_cam(refs, "torch", chelsea, "AblationCAM", 0)).max() <= TOL
            heat, target = _panel_map(b, "gradcam")
            assert target == 1 and np.abs(heat - ref_cam(refs, "paddle", chelsea, "GradCAM", 1)).max() <= TOL
        finally:
            browser.close()


# ------------------------------------------------------------------------------------ over HTTP
def test_cache_and_shared_jobs(server):
    _, url = server
    with httpx.Client(base_url=url, timeout=60) as c:
        req = {"kind": "cam", "fw": "torch", "image": "chelsea", "method": "xgradcam", "cls": 0}
        first = finished(c, req)
        again = finished(c, req)
    assert first["status"] == again["status"] == "done"
    assert not first["cached"] and again["cached"]
    assert again["result"]["heatmap"] == first["result"]["heatmap"]


def test_long_work_reports_progress_and_can_be_cancelled(monkeypatch):
    monkeypatch.setenv("CNNVIS_TEST_SLEEP", "0.4")
    explorer = Explorer(tiny_config(models={"torch": "tests._cli_models:slow_catdog"}))
    with running_server(explorer) as url, httpx.Client(base_url=url, timeout=60) as c:
        job = c.post("/api/run?wait=0", json={"kind": "cam", "fw": "torch", "image": "chelsea", "method": "scorecam"}).json()
        seen = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            state = c.get(f"/api/jobs/{job['id']}?wait=0.2").json()
            seen.append(state["progress"]["done"])
            if state["progress"]["total"] and state["progress"]["done"] >= 1:
                break
        assert state["status"] == "running" and state["progress"]["desc"] == "Score-CAM"
        assert c.delete(f"/api/jobs/{job['id']}").status_code == 200
        final = c.get(f"/api/jobs/{job['id']}?wait=10").json()
        assert final["status"] == "cancelled"
        assert state["progress"]["done"] < state["progress"]["total"]
        # the worker is free again and the model is as it was (no hook left behind)
        done = finished(c, {"kind": "cam", "fw": "torch", "image": "chelsea", "method": "gradcam"})
        assert done["status"] == "done"
    model = explorer._states["torch"].model
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


_OPEN_WATCH: list[list[str]] = []


def _audit(event: str, args: tuple) -> None:
    if _OPEN_WATCH and event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and set(mode) & set("wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        ):
            for watch in _OPEN_WATCH:
                watch.append(str(path))


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one only acts while a test watches


def _png_header_bomb(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width x height`` pixels (a decompression bomb's trick)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    raw = bytearray(buf.getvalue())
    ihdr = raw[12:29]  # b"IHDR" + 13 bytes of data
    ihdr[4:12] = struct.pack(">II", width, height)
    raw[12:29] = ihdr
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(raw)


def test_uploads_are_checked_before_decoding(server):
    _, url = server
    with pytest.raises(UploadError, match="pixels"):
        decode_image(_png_header_bomb(100_000, 100_000))
    with pytest.raises(UploadError):
        decode_image(b"GIF89a" + b"\0" * 20)
    with pytest.raises(UploadError):  # a format we do not open, even though Pillow could
        decode_image(b"%PDF-1.4\n")
    writes: list[str] = []
    _OPEN_WATCH.append(writes)  # every file opened for writing, by any thread, while the uploads run
    try:
        _uploads(url)
    finally:
        _OPEN_WATCH.remove(writes)
    assert writes == []  # uploads are decoded in memory: nothing is written anywhere


def _uploads(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.post("/api/images", content=_png_header_bomb(60_000, 60_000)).status_code == 400
        assert c.post("/api/images", content=b"\0" * 1_200_000).status_code == 413  # over max_upload_bytes
        buf = io.BytesIO()
        Image.fromarray(data.astronaut()).save(buf, format="JPEG")
        r = c.post("/api/images", content=buf.getvalue(), headers={"x-filename": "%3Cscript%3E.jpg"})
        assert r.status_code == 200 and r.json()["name"] == "<script>.jpg" and r.json()["uploaded"]
        assert c.get(f"/api/images/{r.json()['id']}.png").headers["content-type"] == "image/png"


def test_no_request_path_reaches_the_file_system(server):
    _, url = server
    with httpx.Client(base_url=url, timeout=30) as c:
        for path in ("/static/..%2Fsession.py", "/static/../app.py", "/static/session.py", "/api/images/..%2F..%2Fx.png"):
            assert c.get(path).status_code == 404, path
        r = c.post("/api/run", json={"kind": "features", "fw": "torch", "image": "../../etc/passwd", "layer": "conv1"})
        assert r.status_code == 404
        assert c.post("/api/run", content=b"{" + b" " * 70_000 + b"}").status_code == 413
        r = c.post("/api/run", json={"kind": "cam", "fw": "torch", "image": "chelsea", "method": "os.system"})
        assert r.status_code == 400 and "Unknown CAM method" in r.json()["error"]
        page = c.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert c.get("/", headers={"host": "attacker.example"}).status_code == 421  # DNS rebinding
        assert c.post("/api/run", json={"kind": "layers"}, headers={"origin": "http://attacker.example"}).status_code == 403
    js = (ROOT / "visualization/serve/static/app.js").read_text(encoding="utf-8")
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "eval(" not in js


def test_cli_serve_prints_the_url_and_binds_loopback(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from visualization.cli import run; run()", "serve", "--model", TORCH_MODEL,
         "--input-size", "32", "--port", "0", "--image", str(PET)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("cnnvis explorer on http://127.0.0.1:"), line
        url = line.split()[3]
        with httpx.Client(base_url=url, timeout=60) as c:
            info = c.get("/api/info").json()
            assert [f["name"] for f in info["frameworks"]] == ["torch"]
            assert info["images"][0]["name"] == PET.name
            assert {im["id"] for im in info["images"][1:]} == {"chelsea", "coffee", "astronaut", "rocket"}
            job = finished(c, {"kind": "predict", "fw": "torch", "image": "rocket"})
            assert job["status"] == "done" and len(job["result"]["top"]) == 2
    finally:
        proc.terminate()
        proc.wait(20)


def test_progress_callback_stops_a_library_call(refs):
    from visualization.core.progress import progress_callback

    class Stop(Exception):
        pass

    def stop_at_second(desc, done, total):
        if done == 1:
            raise Stop

    model, tensor, cams, _, _ = refs["torch"]
    x = tensor(model_input(data.chelsea()))
    with progress_callback(stop_at_second), pytest.raises(Stop):
        cams.ScoreCAM(model, "conv3", batch_size=8).generate_cam(x, 0)
    assert all(not m._forward_hooks for m in model.modules())
    assert cams.ScoreCAM(model, "conv3", batch_size=8).generate_cam(x, 0).shape == (SIZE, SIZE)  # runs again


def test_decode_array_round_trip():
    from visualization.serve.session import encode_array

    a = np.random.default_rng(0).random((3, 5, 7), dtype=np.float32)
    assert np.array_equal(decode_array(encode_array(a)), a)


def test_default_efficientnet_over_http():
    """The default model: the page's numbers for the pretrained EfficientNet-Lite0 are the library's."""
    import torch

    from visualization.models import imagenet_class_names, load_model
    from visualization.models.imagenet import MEAN, STD
    from visualization.pytorch.cam_visualizer import GradCAM

    config = ServeConfig(
        models={"torch": "efficientnet-lite0"},
        mean=MEAN,
        std=STD,
        class_names=imagenet_class_names(),
        photos=[("chelsea", data.chelsea())],
    )
    with running_server(Explorer(config)) as url, httpx.Client(base_url=url, timeout=120) as c:
        top = finished(c, {"kind": "predict", "fw": "torch", "image": "chelsea"})["result"]
        assert 281 <= top["predicted"] <= 285 and top["top"][0]["name"] == imagenet_class_names()[top["predicted"]]
        result = finished(c, {"kind": "cam", "fw": "torch", "image": "chelsea", "method": "gradcam"})["result"]
    assert result["layer"] == "_act1" and result["target"] == top["predicted"]
    arr, _ = preprocess(data.chelsea(), mean=MEAN, std=STD)
    want = GradCAM(load_model("efficientnet-lite0"), "_act1").generate_cam(torch.from_numpy(arr[None]), top["predicted"])
    assert np.abs(decode_array(result["heatmap"]) - want).max() <= TOL


def test_page_drop_progress_and_cancel(monkeypatch):
    """Drag and drop an image; a slow method shows its progress in the page and its Cancel button stops it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    monkeypatch.setenv("CNNVIS_TEST_SLEEP", "0.05")
    explorer = Explorer(tiny_config(models={"torch": "tests._cli_models:slow_catdog"}))
    buf = io.BytesIO()
    Image.fromarray(data.rocket()).save(buf, format="JPEG")
    errors: list[str] = []
    with running_server(explorer) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            _settle(page)
            transfer = page.evaluate_handle(
                """(b64) => { const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                   const dt = new DataTransfer(); dt.items.add(new File([bytes], "dropped.jpg", { type: "image/jpeg" }));
                   return dt; }""",
                __import__("base64").b64encode(buf.getvalue()).decode("ascii"),
            )
            page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
            page.wait_for_selector("#images button.selected[title='dropped.jpg']", timeout=30_000)
            _settle(page)
            monkeypatch.setenv("CNNVIS_TEST_SLEEP", "1.0")
            page.check("input[value='scorecam']")
            panel = ".panel[data-method='scorecam']"
            page.wait_for_selector(f"{panel} progress:not([hidden])", timeout=30_000)
            page.wait_for_selector(f"{panel} .cap:has-text('Score-CAM')", timeout=30_000)  # running, with progress
            page.click(f"{panel} button")
            page.wait_for_selector(f"{panel}[data-status='cancelled']", timeout=30_000)
        finally:
            browser.close()
    assert errors == []


def test_the_cache_is_bounded_in_entries_and_bytes():
    from visualization.serve.jobs import LRU

    cache = LRU(3, max_bytes=10_000)
    for i in range(5):
        cache.put(i, {"b64": "x" * 1000})
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) is not None
    cache.put("big", {"b64": "x" * 9_500})
    assert len(cache) == 1 and cache.bytes <= 10_000 + 200 and cache.get("big") is not None


def test_cli_serve_warns_before_listening_beyond_loopback(monkeypatch):
    """--host other than loopback: a warning first (binding is stubbed out: tests listen on 127.0.0.1 only)."""
    from click.testing import CliRunner

    from visualization.cli import main
    from visualization.serve import app

    def refuse(host, port):
        raise OSError(f"not binding {host} in a test")

    monkeypatch.setattr(app, "bind", refuse)
    res = CliRunner().invoke(main, ["serve", "--model", TORCH_MODEL, "--host", "0.0.0.0", "--port", "0"])
    assert res.exit_code == 2
    assert "Warning: --host 0.0.0.0 makes the explorer reachable from other machines" in res.output
    assert "Could not listen on 0.0.0.0:0" in res.output
    res = CliRunner().invoke(main, ["serve", "--model", TORCH_MODEL, "--framework", "both"])
    assert res.exit_code == 2 and "--paddle-model" in res.output


def test_cli_serve_reports_a_wrong_layer_before_serving():
    from click.testing import CliRunner

    from visualization.cli import main

    res = CliRunner().invoke(main, ["serve", "--model", TORCH_MODEL, "--input-size", "32", "--layer", "conv9", "--port", "0"])
    assert res.exit_code == 2 and "No layer 'conv9'" in res.output and "http://" not in res.output


# ------------------------------------------------------------------------------------ Keras
KERAS_MODEL = "tests._cli_models:tiny_catdog_keras"


@pytest.fixture(scope="module")
def keras_ref():
    """The Keras twin of the tiny model (the torch weights, channels-last), built apart from the server."""
    from tests import _cli_models
    from visualization.keras import cam_visualizer

    return _cli_models.tiny_catdog_keras(), cam_visualizer


def test_the_page_switches_to_keras(refs, keras_ref, tmp_path):
    """Three frameworks in one page: the switch offers Keras, and what it shows comes from the Keras classes on
    channels-last input, laid out channels-first like the other two (so the torch twin's maps match)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    explorer = Explorer(tiny_config(models={"torch": TORCH_MODEL, "paddle": PADDLE_MODEL, "keras": KERAS_MODEL}))
    chelsea = model_input(data.chelsea())
    kmodel, kcams = keras_ref
    errors: list[str] = []
    with running_server(explorer) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            _settle(page)
            labels = [t.strip() for t in page.locator("#fw-switch label").all_text_contents()]
            assert labels == ["PyTorch", "PaddlePaddle", "Keras"]
            page.click("#fw-switch input[value='keras']")
            _settle(page)
            assert page.is_checked("#fw-switch input[value='keras']")
            # the predictions' order is the torch twin's
            logits = refs["torch"][0](refs["torch"][1](chelsea)).detach().numpy()[0]
            rows = page.locator("#predictions tr")
            assert [int(rows.nth(i).get_attribute("data-index")) for i in range(2)] == list(np.argsort(-logits))
            # Grad-CAM at the CAM layer kept from PyTorch (conv3: Keras has the same name), from the Keras class
            heat, target = _panel_map(page, "gradcam")
            key = page.get_attribute(".panel[data-method='gradcam']", "data-key")
            assert key.startswith("keras|chelsea|conv3|"), key
            want = kcams.GradCAM(kmodel, "conv3").generate_cam(chelsea.transpose(0, 2, 3, 1), target)
            assert target == int(np.argmax(logits)) and np.abs(heat - want).max() <= TOL
            assert np.abs(heat - ref_cam(refs, "torch", chelsea, "GradCAM", target)).max() <= 1e-5  # the twin agrees
            # the layer tree has Keras's layer names; conv2's feature maps are channels-first and the torch twin's
            assert page.locator(".tree .node[data-layer='pool3']").count() == 1
            page.click(".tree .node[data-layer='conv2']")
            _settle(page)
            fkey = page.evaluate(
                "Object.keys(window.cnnvis.maps).find(k => k.startsWith('features|keras|') && k.endsWith('|conv2'))"
            )
            got = np.asarray(page.evaluate("k => Array.from(window.cnnvis.maps[k].data)", fkey), np.float32)
            torch_maps = (
                refs["torch"][3]
                .CNNLayerVisualizer(refs["torch"][0])
                .get_feature_maps(refs["torch"][1](chelsea), "conv2")[0]
            )
            assert np.abs(got.reshape(torch_maps.shape) - torch_maps).max() <= 1e-5
            assert page.locator("#filters .cell").count() == torch_maps.shape[0]
            page.screenshot(path=str(tmp_path / "explorer_keras.png"), full_page=False)
        finally:
            browser.close()
    assert errors == []


def test_cli_serves_a_keras_model_alone():
    """``cnnvis serve --framework keras``: the Keras model only, its numbers the torch twin's (channels-first)."""
    import torch

    from tests import _cli_models
    from visualization.pytorch.cam_visualizer import GradCAM

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from visualization.cli import run; run()",
            "serve",
            "--framework",
            "keras",
            "--model",
            KERAS_MODEL,
            "--input-size",
            "32",
            "--port",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("cnnvis explorer on http://127.0.0.1:"), line
        with httpx.Client(base_url=line.split()[3], timeout=60) as c:
            assert c.get("/api/info").json()["frameworks"] == [{"name": "keras", "display": "Keras"}]
            layers = finished(c, {"kind": "layers", "fw": "keras"})["result"]
            assert layers["cam_layer"] == "pool3" and {"conv3", "pool3"} <= {r["name"] for r in layers["rows"]}
            conv3 = next(r for r in layers["rows"] if r["name"] == "conv3")
            assert conv3["shape"] == [128, 8, 8]  # channels-first, as for torch and Paddle
            top = finished(c, {"kind": "predict", "fw": "keras", "image": "coffee"})["result"]
            cam = finished(
                c, {"kind": "cam", "fw": "keras", "image": "coffee", "method": "gradcam", "layer": "conv3", "cls": 0}
            )
            assert (
                finished(c, {"kind": "predict", "fw": "torch", "image": "coffee"}).get("status") is None
            )  # not served
    finally:
        proc.terminate()
        proc.wait(20)
    model = _cli_models.tiny_catdog().eval()
    x = torch.from_numpy(model_input(data.coffee()))
    logits = model(x).detach().numpy()[0]
    assert top["predicted"] == int(np.argmax(logits))
    assert abs(top["top"][0]["logit"] - float(logits.max())) <= 1e-4 * max(1.0, abs(float(logits.max())))
    want = GradCAM(model, "conv3").generate_cam(x, 0)
    assert cam["status"] == "done" and np.abs(decode_array(cam["result"]["heatmap"]) - want).max() <= 1e-5


def test_cli_serve_all_frameworks_on_efficientnet(monkeypatch):
    """``cnnvis serve --framework all`` with the pretrained zoo model (at 64 px, to be quick): three frameworks
    in one process (Paddle imported before TensorFlow), and the Keras heatmap over HTTP equals torch's."""
    from click.testing import CliRunner

    from visualization.cli import main
    from visualization.serve import app

    seen: dict = {}

    def serve_here(explorer, sock, host):  # instead of serving forever: ask the running explorer, then stop
        sock.close()
        with running_server(explorer) as url, httpx.Client(base_url=url, timeout=120) as c:
            seen["info"] = c.get("/api/info").json()
            seen["predict"] = {
                fw: finished(c, {"kind": "predict", "fw": fw, "image": "chelsea"})["result"]
                for fw in ("torch", "keras")
            }
            cls = seen["predict"]["torch"]["predicted"]
            seen["cam"] = {
                fw: finished(c, {"kind": "cam", "fw": fw, "image": "chelsea", "method": "gradcam", "cls": cls})
                for fw in ("torch", "paddle", "keras")
            }

    monkeypatch.setattr(app, "serve_forever", serve_here)
    res = CliRunner().invoke(main, ["serve", "--framework", "all", "--input-size", "64", "--port", "0"])
    assert res.exit_code == 0, res.output
    assert [f["name"] for f in seen["info"]["frameworks"]] == ["torch", "paddle", "keras"]
    assert seen["predict"]["keras"]["predicted"] == seen["predict"]["torch"]["predicted"]
    heat = {}
    for fw, job in seen["cam"].items():
        assert job["status"] == "done" and job["result"]["layer"] == "_act1", (fw, job)
        heat[fw] = decode_array(job["result"]["heatmap"])
    assert heat["torch"].shape == heat["keras"].shape == (64, 64)
    assert heat["torch"].max() > 0.5  # a real map, not an empty one
    assert np.abs(heat["keras"] - heat["torch"]).max() <= 1e-4
    assert np.abs(heat["paddle"] - heat["torch"]).max() <= 1e-4


def test_cli_serve_keras_options_are_checked():
    from click.testing import CliRunner

    from visualization.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["serve", "--model", TORCH_MODEL, "--framework", "all", "--paddle-model", PADDLE_MODEL])
    assert res.exit_code == 2 and "--keras-model" in res.output and "same network in Keras" in res.output
    res = runner.invoke(main, ["serve", "--model", TORCH_MODEL, "--framework", "torch", "--keras-model", KERAS_MODEL])
    assert res.exit_code == 2 and "use --framework all" in res.output
