"""What the explorer server knows and computes: models per framework, images, jobs and the result cache.

No web framework is imported here: :mod:`visualization.serve.app` turns HTTP requests into calls of
:class:`Explorer` and its results into JSON. Every number comes from the library's public classes
(``cam_visualizer``, ``saliency``, ``activation_maximization``, ``layer_visualizer``, ``structure``),
called exactly as a user would call them, so a heatmap in the page *is* what ``generate_cam`` returns.

Concurrency (jobs and cache in :mod:`visualization.serve.jobs`). Each framework's model has one worker thread: hooks are registered on the model for one
call (a Keras layer's ``call`` is replaced for one eager call), so two calls on one model must not overlap;
TensorFlow runs eagerly on a worker thread as on the main one. Requests from any number of browser tabs become
:class:`Job` objects queued on that worker; a job asked for twice (same key) is run once and shared.
Results are cached per ``(framework, image, layer, method, class, ...)`` in a bounded LRU, so a second
look is instant. Long loops report progress and stop when cancelled through
:func:`visualization.core.progress.progress_callback`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import itertools
import logging
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import VisualizationError
from ..core.progress import progress_callback
from ..frameworks import CAM_METHODS, DISPLAY, METHOD_OPTIONS, Framework, get_frameworks
from .jobs import LRU, Job, JobCancelled

logger = logging.getLogger("visualization")

#: Saliency methods offered in the page -> (class name in ``saliency``, constructor options).
SALIENCY_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "gradient": ("VanillaGradient", {"abs": True}),
    "gradientxinput": ("GradientXInput", {}),
    "integratedgradients": ("IntegratedGradients", {"n_steps": 32}),
    "smoothgrad": ("SmoothGrad", {"n_samples": 16}),
    "guidedbackprop": ("GuidedBackprop", {}),
    "deconvolution": ("Deconvolution", {}),
    "guidedgradcam": ("GuidedGradCAM", {}),
    "occlusion": ("Occlusion", {}),
}
#: Methods that run many forward passes: they report progress and can be cancelled in the page.
SLOW_METHODS = {
    "scorecam",
    "fastscorecam",
    "ablationcam",
    "smoothgradcampp",
    "integratedgradients",
    "smoothgrad",
    "occlusion",
}
#: Upload limits: bytes of the file, and pixels of the decoded image (checked before decoding).
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
MAX_PIXELS = 40_000_000
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
MAX_STEPS = 512


class ExplorerError(VisualizationError, ValueError):
    """A request the explorer cannot serve (unknown image, method or layer; a bad upload): HTTP 400/404."""

    status = 400


class NotFound(ExplorerError):
    status = 404


class UploadError(ExplorerError):
    """An upload that is too large, not an image, or a decompression bomb."""


@dataclass
class ServeConfig:
    """What ``cnnvis serve`` was asked to show.

    ``models`` maps each framework (``'torch'``, ``'paddle'``, ``'keras'``) to a model spec (a zoo name or
    ``package.module:factory``); ``weights`` maps a framework to a weights file (a state dict, ``.pdparams``
    or ``.weights.h5``). Images are preprocessed once, channels-first; a Keras model gets them channels-last
    (:meth:`~visualization.frameworks.Framework.tensor`), and every map it returns is channels-first, as in
    the other frameworks, so the page shows the three side by side unchanged. ``photos`` are the
    bundled images ``(name, RGB array)``. ``mean`` / ``std`` are on the 0..255 scale.
    """

    models: dict[str, str]
    weights: dict[str, str | None] = field(default_factory=dict)
    layer: str | None = None
    input_size: int = 224
    mean: Sequence[float] = (123.675, 116.28, 103.53)
    std: Sequence[float] = (58.395, 57.12, 57.375)
    class_names: Sequence[str] | None = None
    photos: Sequence[tuple[str, np.ndarray]] = ()
    title: str = "cnnvis explorer"
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_pixels: int = MAX_PIXELS
    cache_entries: int = 256
    cache_bytes: int = 256 * 1024 * 1024
    max_uploads: int = 32


@dataclass
class ImageEntry:
    id: str
    name: str
    array: np.ndarray  # (3, S, S) float32, the network input
    display: np.ndarray  # (S, S, 3) uint8
    png: bytes
    uploaded: bool

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "uploaded": self.uploaded}


def encode_array(a: np.ndarray) -> dict[str, Any]:
    """float32 array -> ``{"shape", "dtype": "float32", "b64"}`` (little-endian bytes: exact, and small)."""
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "dtype": "float32", "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d: dict[str, Any]) -> np.ndarray:
    """The inverse of :func:`encode_array` (for tests and the benchmark)."""
    return np.frombuffer(base64.b64decode(d["b64"]), dtype="<f4").reshape(d["shape"])


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def decode_image(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS) -> Any:
    """Bytes of an uploaded image -> an RGB PIL image, refusing what is too big before decoding it.

    The header is read first: an image of more than ``max_pixels`` pixels (a decompression bomb
    declares a huge size in a small file) is refused without decoding a pixel. Only PNG, JPEG, WebP,
    GIF (first frame) and BMP are opened; the bytes never touch the file system.
    """
    from PIL import Image, UnidentifiedImageError

    from ..models.image_files import ImageFileError, open_rgb

    if not data:
        raise UploadError("The upload is empty; choose an image file (PNG, JPEG, WebP, GIF or BMP).")
    if len(data) > max_bytes:
        raise UploadError(f"The upload has {len(data):,} bytes; the limit is {max_bytes:,}.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as img:
                w, h = img.size
                if w < 1 or h < 1 or w * h > max_pixels:
                    raise UploadError(
                        f"The image is {w} x {h} pixels; the limit is {max_pixels:,} pixels. Resize it first."
                    )
            # Decode with the package's one image reader: EXIF orientation, 16-bit, transparency and CMYK
            # handled as for `cnnvis explain`.
            return open_rgb(io.BytesIO(data), hint="Use a PNG, JPEG, WebP, GIF or BMP file.", name="upload")
        except ImageFileError as exc:
            raise UploadError(str(exc)) from exc
        except UploadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UploadError(
                f"The image declares too many pixels (the limit is {max_pixels:,}); resize it first."
            ) from exc
        except (
            UnidentifiedImageError,
            OSError,
            SyntaxError,
            ValueError,
            EOFError,
        ) as exc:
            raise UploadError(
                f"Could not read the upload as an image ({type(exc).__name__}). Use a PNG, JPEG, WebP, GIF or BMP file."
            ) from exc


# ------------------------------------------------------------------------------------------ models
@dataclass
class ModelState:
    """One framework's model with what the page asks about it, built on its worker thread."""

    fw: Framework
    model: Any
    cam_layer: str
    layer_names: list[str]
    structure: Any


class Explorer:
    """Images, models, jobs and the cache behind one explorer server (see the module docstring)."""

    def __init__(self, config: ServeConfig) -> None:
        if not config.models:
            raise ExplorerError("No model to serve: give at least one framework's model.")
        self.config = config
        self.frameworks = list(config.models)
        # imported here, on one thread and Paddle first (Paddle cannot be loaded after TensorFlow); each
        # model is then built and run on its framework's own worker thread
        self._fws = dict(zip(self.frameworks, get_frameworks(self.frameworks)))
        self._workers = {name: ThreadPoolExecutor(1, thread_name_prefix=f"cnnvis-{name}") for name in self.frameworks}
        self._states: dict[str, ModelState] = {}
        self._images: OrderedDict[str, ImageEntry] = OrderedDict()
        self._images_lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._jobs_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.cache = LRU(config.cache_entries, config.cache_bytes)
        for name, rgb in config.photos:
            self._add(name, rgb, uploaded=False, image_id=_slug(name))

    # ------------------------------------------------------------------ images
    def _add(self, name: str, rgb: Any, uploaded: bool, image_id: str) -> ImageEntry:
        from ..models.imagenet import preprocess

        s = self.config.input_size
        arr, crop = preprocess(
            rgb, size=s, resize=round(s * 256 / 224), mean=tuple(self.config.mean), std=tuple(self.config.std)
        )
        display = np.asarray(crop.convert("RGB"), np.uint8)
        entry = ImageEntry(image_id, name, np.asarray(arr, np.float32), display, _png(display), uploaded)
        with self._images_lock:
            self._images[image_id] = entry
            uploads = [k for k, v in self._images.items() if v.uploaded]
            for k in uploads[: max(0, len(uploads) - self.config.max_uploads)]:
                del self._images[k]
        return entry

    def add_upload(self, data: bytes, filename: str | None) -> ImageEntry:
        """Decode an uploaded file safely (:func:`decode_image`) and keep it (in memory only)."""
        img = decode_image(data, self.config.max_upload_bytes, self.config.max_pixels)
        image_id = "u" + hashlib.sha256(data).hexdigest()[:16]
        with self._images_lock:
            existing = self._images.get(image_id)
        if existing is not None:
            return existing
        name = (filename or "upload")[:120]
        return self._add(name, img, uploaded=True, image_id=image_id)

    def image(self, image_id: str) -> ImageEntry:
        with self._images_lock:
            entry = self._images.get(str(image_id))
        if entry is None:
            raise NotFound("Unknown image (an upload is kept for a while only): choose or upload it again.")
        return entry

    def images(self) -> list[dict[str, Any]]:
        with self._images_lock:
            return [e.describe() for e in self._images.values()]

    # ------------------------------------------------------------------ models
    def _state(self, name: str) -> ModelState:
        """The framework's model (built on first use; call on its worker thread only)."""
        state = self._states.get(name)
        if state is not None:
            return state
        from ..core.cam import auto_layer
        from ..core.weights import load_weights
        from ..report.explain import ZOO_LAYERS, build_model

        fw = self._fws[name]
        spec = self.config.models[name]
        model = build_model(spec, fw)
        weights = self.config.weights.get(name)
        if weights:
            load_weights(fw.backend, model, weights)
        s = self.config.input_size
        structure = importlib.import_module(f"{fw.layers.__package__}.structure").model_structure(model, (3, s, s))
        layer = self.config.layer or ZOO_LAYERS.get(spec, {}).get("cam")
        if layer is None:
            x0 = fw.backend.prepare_input(model, fw.tensor(model, np.zeros((1, 3, s, s), np.float32)))
            layer = auto_layer(fw.backend, model, x0)[0]
        viz = fw.layers.CNNLayerVisualizer(model)
        if layer not in viz.layer_names():
            raise ExplorerError(f"No layer {layer!r} in the model; `cnnvis layers --model {spec}` lists them.")
        state = ModelState(fw, model, layer, viz.layer_names(), structure)
        self._states[name] = state
        return state

    def load(self, name: str) -> None:
        """Build ``name``'s model now (on its worker) instead of on the first request, so a wrong
        ``--model``, ``--weights`` or ``--layer`` is reported at start; re-raises what building raised."""
        self._workers[self._framework(name)].submit(self._state, name).result()

    def _framework(self, name: Any) -> str:
        name = str(name)
        if name not in self._workers:
            raise ExplorerError(f"Framework {name!r} is not served; choose from {self.frameworks}.")
        return name

    def info(self) -> dict[str, Any]:
        return {
            "title": self.config.title,
            "models": self.config.models,
            "frameworks": [{"name": f, "display": DISPLAY.get(f, f)} for f in self.frameworks],
            "input_size": self.config.input_size,
            "class_names": list(self.config.class_names) if self.config.class_names is not None else None,
            "cam_methods": list(CAM_METHODS),
            "saliency_methods": list(SALIENCY_METHODS),
            "slow_methods": sorted(SLOW_METHODS),
            "images": self.images(),
            "limits": {"upload_bytes": self.config.max_upload_bytes, "pixels": self.config.max_pixels},
        }

    # ------------------------------------------------------------------ jobs
    def submit(self, request: dict[str, Any]) -> Job:
        """Validate a request, answer it from the cache, join an identical queued job, or queue a new one."""
        kind = str(request.get("kind", ""))
        fw = self._framework(request.get("fw", self.frameworks[0]))
        builders: dict[
            str, Callable[[str, dict[str, Any]], tuple[tuple[Any, ...], Callable[[ModelState, Job], dict[str, Any]]]]
        ] = {
            "layers": self._req_layers,
            "predict": self._req_predict,
            "features": self._req_features,
            "filters": self._req_filters,
            "cam": self._req_cam,
            "saliency": self._req_saliency,
            "actmax": self._req_actmax,
        }
        if kind not in builders:
            raise ExplorerError(f"Unknown request kind {kind!r}; one of {sorted(builders)}.")
        key, work = builders[kind](fw, request)
        job_id = f"j{next(self._ids)}"
        hit = self.cache.get(key)
        if hit is not None:
            job = Job(job_id, key, kind, status="done", result=hit, cached=True)
            self._remember(job)
            return job
        with self._jobs_lock:
            for job in self._jobs.values():
                if job.key == key and not job.finished and not job.cancel_event.is_set():
                    job.watchers += 1
                    return job
            job = Job(job_id, key, kind)
            self._jobs[job_id] = job
            self._trim_jobs()
        job.future = self._workers[fw].submit(self._run, fw, job, work)
        return job

    def _remember(self, job: Job) -> None:
        with self._jobs_lock:
            self._jobs[job.id] = job
            self._trim_jobs()

    def _trim_jobs(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.finished]
        for k in finished[: max(0, len(finished) - 64)]:
            del self._jobs[k]

    def job(self, job_id: str) -> Job:
        with self._jobs_lock:
            job = self._jobs.get(str(job_id))
        if job is None:
            raise NotFound("Unknown job (finished jobs are forgotten after a while).")
        return job

    def cancel(self, job_id: str) -> Job:
        """One watcher gives up; the job stops when nobody waits for it any more."""
        job = self.job(job_id)
        with self._jobs_lock:
            job.watchers -= 1
            if job.watchers <= 0 and not job.finished:
                job.cancel_event.set()
                if job.future is not None and job.future.cancel():  # still queued: never runs
                    job.status = "cancelled"
        return job

    def _run(self, fw: str, job: Job, work: Callable[[ModelState, Job], dict[str, Any]]) -> None:
        if job.cancel_event.is_set():
            job.status = "cancelled"
            return
        job.status = "running"
        t0 = time.perf_counter()
        try:
            state = self._state(fw)
            with progress_callback(job.progress):
                result = work(state, job)
        except JobCancelled:
            job.status = "cancelled"
            return
        except (VisualizationError, ValueError, KeyError, IndexError, TypeError, RuntimeError) as exc:
            logger.info("job %s failed", job.id, exc_info=True)
            job.error = f"{type(exc).__name__}: {str(exc)[:600]}"
            job.status = "error"
            return
        job.seconds = time.perf_counter() - t0
        self.cache.put(job.key, result)
        job.result = result
        job.status = "done"

    def wait(self, job: Job, timeout: float) -> Job:
        """Block up to ``timeout`` seconds for ``job`` to finish (for callers without an event loop)."""
        end = time.monotonic() + timeout
        while not job.finished and time.monotonic() < end:
            time.sleep(0.005)
        return job

    def close(self) -> None:
        with self._jobs_lock:
            for job in self._jobs.values():
                job.cancel_event.set()
        for ex in self._workers.values():
            ex.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ request kinds
    def _x(self, state: ModelState, image: ImageEntry) -> Any:
        """The image as the framework's users hold it (channels-last for Keras): for public entry points
        only; a backend method takes it through ``backend.prepare_input``."""
        return state.fw.tensor(state.model, image.array[None])

    def _layer(self, request: dict[str, Any]) -> str | None:
        layer = request.get("layer")
        if layer is None or layer == "":
            return None
        if not isinstance(layer, str) or len(layer) > 300:
            raise ExplorerError("layer must be a dotted layer name.")
        return layer

    def _class(self, request: dict[str, Any]) -> int | None:
        c = request.get("cls")
        if c is None or c == "":
            return None
        names = self.config.class_names
        if isinstance(c, str) and not c.strip().lstrip("-").isdigit():
            if names is not None:
                lowered = [n.lower() for n in names]
                if c.strip().lower() in lowered:
                    return lowered.index(c.strip().lower())
            raise ExplorerError("Unknown class name; give a class index or one of the model's class names.")
        try:
            return int(c)
        except (TypeError, ValueError) as exc:
            raise ExplorerError("cls must be a class index or name.") from exc

    def _logits(self, state: ModelState, image: ImageEntry) -> np.ndarray:
        key = ("logits", state.fw.name, image.id)
        hit = self.cache.get(key)
        if hit is None:
            x = state.fw.backend.prepare_input(state.model, self._x(state, image))  # the adapter's layout
            hit = state.fw.backend.predict(state.model, x)[0]
            self.cache.put(key, hit)
        return hit

    def _target(self, state: ModelState, image: ImageEntry, cls: int | None) -> int:
        logits = self._logits(state, image)
        if cls is None:
            return int(np.argmax(logits))
        if not 0 <= cls < logits.shape[-1]:
            raise ExplorerError(
                f"Class {cls} is out of range: the model has {logits.shape[-1]} classes (0..{logits.shape[-1] - 1})."
            )
        return cls

    def _class_name(self, c: int) -> str:
        names = self.config.class_names
        return names[c] if names is not None and 0 <= c < len(names) else f"class {c}"

    def _req_layers(self, fw: str, request: dict[str, Any]) -> tuple[tuple[Any, ...], Callable]:
        def work(state: ModelState, job: Job) -> dict[str, Any]:
            rows = []
            for r in state.structure.rows:
                cells = r.cells()
                rows.append(
                    {
                        "name": r.name,
                        "call": r.call,
                        "type": r.type_name,
                        "leaf": r.is_leaf,
                        "shape": list(r.output_shape[1:]) if r.output_shape else None,
                        "params": r.params,
                        "kernel": cells[4],
                        "field": cells[5],
                        "jump": cells[6],
                        "map": bool(r.output_shape and len(r.output_shape) == 4),
                    }
                )
            return {"rows": rows, "summary": state.structure.summary(), "cam_layer": state.cam_layer}

        return ("layers", fw), work

    def _req_predict(self, fw: str, request: dict[str, Any]) -> tuple[tuple[Any, ...], Callable]:
        image = self.image(request.get("image"))

        def work(state: ModelState, job: Job) -> dict[str, Any]:
            z = self._logits(state, image).astype(np.float64)
            p = np.exp(z - z.max())
            p /= p.sum()
            top = np.argsort(-p)[:5]
            return {
                "top": [
                    {"index": int(c), "name": self._class_name(int(c)), "prob": float(p[c]), "logit": float(z[c])}
                    for c in top
                ],
                "predicted": int(top[0]),
                "classes": int(z.size),
            }

        return ("predict", fw, image.id), work

    def _req_features(self, fw: str, request: dict[str, Any]) -> tuple[tuple[Any, ...], Callable]:
        image = self.image(request.get("image"))
        layer = self._layer(request)
        if layer is None:
            raise ExplorerError("Choose a layer to see its feature maps.")

        def work(state: ModelState, job: Job) -> dict[str, Any]:
            maps = state.fw.layers.CNNLayerVisualizer(state.model).get_feature_maps(self._x(state, image), layer)[0]
            if maps.ndim == 1:
                maps = maps[:, None, None]
            elif maps.ndim != 3:
                raise ExplorerError(f"Layer {layer!r} gives an output of shape {maps.shape}, not a map per channel.")
            return {"layer": layer, "maps": encode_array(maps)}

        return ("features", fw, image.id, layer), work

    def _req_filters(self, fw: str, request: dict[str, Any]) -> tuple[tuple[Any, ...], Callable]:
        layer = self._layer(request)

        def work(state: ModelState, job: Job) -> dict[str, Any]:
            kernel = state.fw.layers.CNNLayerVisualizer(state.model).get_conv_filters(layer)
            return {"layer": layer, "filters": encode_array(kernel)}

        return ("filters", fw, layer), work

    def _req_cam(self, fw: str, request: dict[str, Any]) -> tuple[tuple[Any, ...], Callable]:
        image = self.image(request.get("image"))
        method = str(request.get("method", ""))
        if method not in CAM_METHODS:
            raise ExplorerError(f"Unknown CAM method {method!r}; one of {list(CAM_METHODS)}.")
        layer = self._layer(request)
        cls = self._class(request)

        def work(state: ModelState, job: Job) -> dict[str, Any]:
            target = self._target(state, image, cls)
            name = layer or state.cam_layer
            cam = state.fw.cam_classes[method](state.model, name, **METHOD_OPTIONS.get(method, {}))
            heatmap = cam.generate_cam(self._x(state, image), target)
            return {
                "heatmap": encode_array(heatmap),
                "method": type(cam).method_name if method != "fastscorecam" else "Score-CAM (top 40)",
                "layer": name,
                "target": target,
                "class_name": self._class_name(target),
            }

        # the class is resolved (predicted -> index) in the worker; 'None' keys the predicted class
        return ("cam", fw, image.id, layer, method, cls), work

    def _req_saliency(self, fw: str, request: dict[str, Any]) -> tuple[tuple[Any, ...], Callable]:
        image = self.image(request.get("image"))
        method = str(request.get("method", ""))
        if method not in SALIENCY_METHODS:
            raise ExplorerError(f"Unknown saliency method {method!r}; one of {list(SALIENCY_METHODS)}.")
        layer = self._layer(request)
        cls = self._class(request)

        def work(state: ModelState, job: Job) -> dict[str, Any]:
            target = self._target(state, image, cls)
            module = importlib.import_module(f"{state.fw.layers.__package__}.saliency")
            cls_name, options = SALIENCY_METHODS[method]
            if cls_name == "SmoothGrad":
                explainer = module.SmoothGrad(module.VanillaGradient(state.model, abs=True), **options)
            elif cls_name == "GuidedGradCAM":
                explainer = module.GuidedGradCAM(state.model, layer or state.cam_layer)
            else:
                explainer = getattr(module, cls_name)(state.model, **options)
            heatmap = explainer.generate_saliency(self._x(state, image), target)
            return {
                "heatmap": encode_array(heatmap),
                "method": explainer.method_name,
                "layer": None,
                "target": target,
                "class_name": self._class_name(target),
            }

        return ("saliency", fw, image.id, layer if method == "guidedgradcam" else None, method, cls), work

    def _req_actmax(self, fw: str, request: dict[str, Any]) -> tuple[tuple[Any, ...], Callable]:
        layer = self._layer(request)
        try:
            channel = int(request.get("channel", 0))
            steps = int(request.get("steps", 64))
        except (TypeError, ValueError) as exc:
            raise ExplorerError("channel and steps must be integers.") from exc
        if not 1 <= steps <= MAX_STEPS:
            raise ExplorerError(f"steps must be between 1 and {MAX_STEPS}.")

        def work(state: ModelState, job: Job) -> dict[str, Any]:
            module = importlib.import_module(f"{state.fw.layers.__package__}.activation_maximization")
            am = module.ActivationMaximization(
                state.model, image_size=self.config.input_size, mean=self.config.mean, std=self.config.std
            )
            res = am.maximize(layer=layer, channel=channel, steps=steps, seed=0)
            return {
                "image_png": base64.b64encode(_png(np.round(np.clip(res.image, 0, 1) * 255))).decode("ascii"),
                "history": [float(v) for v in res.history],
                "value": float(res.value),
                "objective": res.objective,
                "layer": res.layer_name,
            }

        return ("actmax", fw, layer, channel, steps), work


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.split(" ")[0].lower())[:40] or "photo"
