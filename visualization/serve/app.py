"""The explorer's HTTP routes (Starlette) and the server runner (uvicorn).

Routes (everything the page loads comes from here; nothing from a network):

- ``GET /`` the page; ``GET /static/{name}`` its script, style sheet and plotly.js (from the plotly
  package), looked up in a fixed table: no part of a request ever becomes a file path.
- ``GET /api/info`` the model, frameworks, methods, class names and images.
- ``POST /api/images`` an uploaded image as the raw request body (size-limited while it streams in,
  decoded in memory by :func:`visualization.serve.session.decode_image`); ``GET /api/images/{id}.png``.
- ``POST /api/run`` a JSON request (``kind``: layers, predict, features, filters, cam, saliency,
  actmax) -> a job; the answer waits up to ``wait`` seconds, so a quick one comes back done.
- ``GET /api/jobs/{id}?wait=s`` the job's progress or result (long-poll); ``DELETE`` cancels it.

Heatmaps, feature maps and filters travel as little-endian float32 in base64: the page draws
exactly the numbers the library returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .jobs import Job
from .session import Explorer, ExplorerError, UploadError

#: Content Security Policy of every response: scripts, styles and connections from this server only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
MAX_WAIT_S = 20.0
MAX_JSON_BYTES = 64 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once from the package (and plotly.js from the plotly package)."""
    import plotly.offline

    folder = resources.files("visualization.serve") / "static"
    types = {
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
    }
    files = {}
    for name in ("index.html", "app.js", "style.css"):
        files[name] = ((folder / name).read_bytes(), types[name[name.rfind(".") :]])
    files["plotly.min.js"] = (plotly.offline.get_plotlyjs().encode("utf-8"), types[".js"])
    return files


class SecurityHeaders:
    """Adds the CSP and friends to every response; refuses requests for other hosts (DNS rebinding)
    and cross-site writes (an ``Origin`` that is not this server)."""

    def __init__(self, app: ASGIApp, allowed_hosts: set[str] | None) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self.allowed_hosts is not None and hostname.lower() not in self.allowed_hosts:
            await JSONResponse({"error": "Unknown Host header."}, status_code=421)(scope, receive, send)
            return
        origin = headers.get("origin")
        if scope["method"] not in ("GET", "HEAD") and origin is not None and origin != f"http://{host}":
            await JSONResponse({"error": "Cross-origin request refused."}, status_code=403)(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"cache-control", b"no-store"),
                ]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error(exc: Exception) -> JSONResponse:
    status = getattr(exc, "status", 400)
    return JSONResponse({"error": str(exc)}, status_code=status)


async def _await_job(job: Job, wait: float) -> None:
    """Wait up to ``wait`` seconds for ``job`` (never cancelling it: other tabs may wait for it too)."""
    if job.finished or wait <= 0:
        return
    end = time.monotonic() + min(wait, MAX_WAIT_S)
    if job.future is not None:
        with contextlib.suppress(asyncio.TimeoutError, Exception):  # the job's own error is in the job
            await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(job.future)), timeout=max(0.0, end - time.monotonic())
            )
    while not job.finished and time.monotonic() < end:  # a job that another request queued
        await asyncio.sleep(0.01)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, read as it streams in; ``None`` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _wait_param(request: Request, default: float) -> float:
    try:
        return max(0.0, min(float(request.query_params.get("wait", default)), MAX_WAIT_S))
    except ValueError:
        return default


def create_app(explorer: Explorer, host: str = "127.0.0.1") -> Starlette:
    """The Starlette application around ``explorer``. Bound to a loopback ``host``, only requests
    addressed to a loopback name are answered."""
    static = _static_files()
    # compressed once here (plotly.js: 4.8 MB -> 1.4 MB); API answers are not compressed: base64 floats
    # shrink by a quarter only, and gzip costs more time than the bytes it saves on a local connection
    packed = {name: gzip.compress(body, 6) for name, (body, _) in static.items() if len(body) > 2048}

    async def index(request: Request) -> Response:
        body, ctype = static["index.html"]
        return Response(body, media_type=ctype)

    async def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        item = static.get(name)
        if item is None:
            return JSONResponse({"error": "Not found."}, status_code=404)
        if "gzip" in request.headers.get("accept-encoding", "") and name in packed:
            return Response(
                packed[name], media_type=item[1], headers={"content-encoding": "gzip", "vary": "Accept-Encoding"}
            )
        return Response(item[0], media_type=item[1])

    async def info(request: Request) -> Response:
        return JSONResponse(explorer.info())

    async def images(request: Request) -> Response:
        return JSONResponse({"images": explorer.images()})

    async def upload(request: Request) -> Response:
        body = await _read_limited(request, explorer.config.max_upload_bytes)
        if body is None:
            return JSONResponse(
                {"error": f"The upload is larger than {explorer.config.max_upload_bytes:,} bytes."}, status_code=413
            )
        name = unquote(request.headers.get("x-filename", "upload"))[:120]
        try:
            entry = await asyncio.to_thread(explorer.add_upload, body, name)
        except UploadError as exc:
            return _error(exc)
        return JSONResponse(entry.describe())

    async def image_png(request: Request) -> Response:
        try:
            entry = explorer.image(request.path_params["image_id"])
        except ExplorerError as exc:
            return _error(exc)
        return Response(entry.png, media_type="image/png")

    async def run(request: Request) -> Response:
        body = await _read_limited(request, MAX_JSON_BYTES)
        if body is None:
            return JSONResponse({"error": "Request too large."}, status_code=413)
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise ExplorerError("The request must be a JSON object.")
            job = explorer.submit(payload)
        except (ExplorerError, json.JSONDecodeError) as exc:
            return _error(exc)
        await _await_job(job, _wait_param(request, 5.0))
        return JSONResponse(job.to_json())

    async def job_status(request: Request) -> Response:
        try:
            job = explorer.job(request.path_params["job_id"])
        except ExplorerError as exc:
            return _error(exc)
        if request.method == "DELETE":
            return JSONResponse(explorer.cancel(job.id).to_json())
        await _await_job(job, _wait_param(request, 0.0))
        return JSONResponse(job.to_json())

    routes = [
        Route("/", index),
        Route("/static/{name}", static_file),
        Route("/api/info", info),
        Route("/api/images", images, methods=["GET"]),
        Route("/api/images", upload, methods=["POST"]),
        Route("/api/images/{image_id}.png", image_png),
        Route("/api/run", run, methods=["POST"]),
        Route("/api/jobs/{job_id}", job_status, methods=["GET", "DELETE"]),
    ]
    allowed = {"127.0.0.1", "localhost", "[::1]", "::1"} if is_loopback(host) else None
    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders, allowed_hosts=allowed)],
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(explorer: Explorer, host: str) -> Any:
    import uvicorn

    app = create_app(explorer, host)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


@contextlib.contextmanager
def running_server(explorer: Explorer, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``explorer`` from a background thread for the ``with`` block; yields the URL (tests, benchmarks)."""
    sock = bind(host, port)
    server = make_server(explorer, host)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="cnnvis-serve")
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            raise RuntimeError("the explorer server did not start")
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        explorer.close()


def serve_forever(explorer: Explorer, sock: socket.socket, host: str) -> None:
    """Serve until Ctrl-C (the CLI's entry point)."""
    server = make_server(explorer, host)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        explorer.close()
