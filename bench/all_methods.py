"""Every visualization method of the package, in PyTorch, PaddlePaddle and Keras, priced in plain forward passes.

This module does the measuring for ``python -m bench`` (see :mod:`bench.__main__` for the command line).

What runs
    One network that every framework builds with the same shipped weights: EfficientNet-Lite0
    (``load_model("efficientnet-lite0", framework=...)``), explained at ``_act1``, the ReLU6 after the
    1x1 head convolution and right before global pooling, so that every CAM variant (plain ``CAM``
    included) applies there. The input is a real photo (scikit-image's ``chelsea``, then ``coffee``,
    ``astronaut``, ``rocket`` for larger batches) passed through :func:`visualization.models.preprocess`
    at the chosen size. ``--model catdogcnn`` swaps in the small tutorial CNN at ``conv3`` (random weights,
    seeded with 0 in each framework, so the frameworks do not hold the same numbers); it has no
    pooling-then-linear head, so ``CAM`` reports an error there.

    Each framework gets: the plain forward pass (eval mode, no gradient recording; for Keras an eager
    ``model(x, training=False)`` on the channels-last batch, outside any ``GradientTape``), each CAM class
    listed in :data:`visualization.frameworks.CAM_METHODS` (Score-CAM with ``top_k`` as in
    :data:`visualization.frameworks.METHOD_OPTIONS`; exact Score-CAM only with ``--full``, since at
    ``_act1`` it scores up to 1280 masked images), and each saliency class of ``visualization.<fw>.saliency``
    with small settings (:class:`Settings`). Each method explains the class the network predicts.

    On the PyTorch model and the same input the run also times the independent libraries that can be
    imported: torchcam, captum and pytorch-grad-cam, each only for the methods it has, with the same
    number of integration steps, noisy copies, occlusion patches and masks per pass as ours.

How it is measured
    After one untimed warm-up call, each of the ``--repeats`` timed calls of a method is paired with a
    timed plain forward pass right next to it (order alternating), and the table shows

        time/fwd = median over the pairs of (method time / forward time)

    where the forward pass belongs to the same framework, network, input and batch (:func:`paired_ratio`:
    whatever slows a stretch of the run slows both halves of a pair). A library's column pairs its calls
    with the PyTorch forward pass in the same way. The forward row shows the forward's own median time
    (:func:`bench._common.median_time`), taken before the methods.
    forward pass. Our objects are built once and then called; torchcam and pytorch-grad-cam extractors
    are opened and closed inside every timed call (they attach hooks for the lifetime of the object),
    captum's are built inside every call too (it is cheap).

    ``peak MiB`` is memory: after the timed calls, garbage is collected and the C heap's free pages are
    returned to the system (glibc ``malloc_trim``; without it a call would reuse pages an earlier call
    left behind and read as 0), then one more call runs while the process's resident memory high-water
    mark is watched (:func:`bench._common.peak_rss_delta_mb`: the mark is reset, the call runs, and the
    figure is the mark minus the resident memory just before the call). So it is the extra RAM a warm
    call touches at its busiest moment, not what stays allocated afterwards; memory a framework's own
    allocator keeps cached between calls is not counted again. The forward
    pass's figure is measured the same way and shown on its own row; a method's cell adds
    ``(method MiB / forward MiB)`` only when the forward pass needed at least 1 MiB, because a quotient
    of two figures near zero says nothing. Only the CPU is supported; :func:`peak_memory_mb` is the one
    place a GPU reading (the framework's maximum-allocated counter) would go.

Cells that carry no number: ``skipped (--full)``, ``n/a (not installed)`` (library not importable),
``-`` (the library has no such method), ``error: <exception>`` (details on stderr), ``not run``.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from visualization.core import saliency as _saliency
from visualization.frameworks import CAM_METHODS

from ._common import markdown_table, median_time, peak_rss_delta_mb

FRAMEWORKS = ("torch", "paddle", "keras")
#: framework -> its package under ``visualization``
PACKAGES = {"torch": "pytorch", "paddle": "paddle", "keras": "keras"}
#: network name for ``load_model`` -> the layer every CAM is computed at
NETWORKS = {"efficientnet-lite0": "_act1", "catdogcnn": "conv3"}
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
#: the saliency classes, in the order of visualization.core.saliency.METHODS
SALIENCY_METHODS = tuple(cls.__name__ for cls in _saliency.METHODS)
#: methods that only run with ``--full``
SLOW_METHODS = frozenset({"scorecam"})
LIBRARIES = ("torchcam", "captum", "pytorch-grad-cam")
#: library -> its distribution name (for the version in the header)
DISTRIBUTIONS = {"torchcam": "torchcam", "captum": "captum", "pytorch-grad-cam": "grad-cam"}
#: our method key -> torchcam extractor
TORCHCAM = {
    "gradcam": "GradCAM",
    "gradcampp": "GradCAMpp",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "smoothgradcampp": "SmoothGradCAMpp",
    "scorecam": "ScoreCAM",
}
#: our method key -> pytorch-grad-cam class
PYTORCH_GRAD_CAM = {  # pytorch-grad-cam happens to name these classes as we do
    key: CAM_METHODS[key]
    for key in (
        "gradcam",
        "gradcampp",
        "xgradcam",
        "layercam",
        "hirescam",
        "eigencam",
        "eigengradcam",
        "ablationcam",
        "scorecam",
    )
}
CAPTUM_METHODS = (*SALIENCY_METHODS, "gradcam")
NOT_INSTALLED = "n/a (not installed)"
SKIPPED = "skipped (--full)"
ABSENT = "-"
NOT_RUN = "not run"
NOT_AVAILABLE = "n/a (no such module)"


@dataclass(frozen=True)
class Settings:
    """What to run and with how much work per method."""

    model: str = "efficientnet-lite0"
    size: int = 224
    batch: int = 1
    repeats: int = 3
    warmup: int = 1
    threads: int = 2
    full: bool = False
    device: str = "cpu"
    ig_steps: int = 8  # Integrated Gradients: points on the path
    sg_samples: int = 4  # SmoothGrad: noisy copies per image
    occlusion_grid: int = 8  # Occlusion: patches per side (grid**2 patch positions)
    inner_batch: int = 8  # IG points / SmoothGrad copies per forward-backward pass
    occlusion_batch: int = 16  # occluded copies per forward pass
    mask_batch: int = 32  # Score-CAM masked images / Ablation-CAM copies per forward pass

    @classmethod
    def quick(cls, **overrides: Any) -> Settings:
        """Smoke-test settings: 64 px, one timed call, the fewest steps that still exercise batching."""
        base = cls(size=64, repeats=1, ig_steps=2, sg_samples=2, occlusion_grid=4, inner_batch=2, occlusion_batch=8)
        return replace(base, **overrides)

    @property
    def layer(self) -> str:
        return NETWORKS[self.model]

    @property
    def window(self) -> int:
        """Side of the square occlusion patch; the stride equals it, so patches tile the image."""
        return max(1, self.size // self.occlusion_grid)

    @property
    def patches(self) -> int:
        return ((self.size - self.window) // self.window + 1) ** 2

    def describe(self) -> str:
        return (
            f"Integrated Gradients {self.ig_steps} steps ({self.inner_batch} per pass), SmoothGrad {self.sg_samples} "
            f"noisy copies ({self.inner_batch} per pass), Occlusion {self.window} px patches at stride {self.window} "
            f"({self.patches} positions, {self.occlusion_batch} per pass), Score-CAM / Ablation-CAM "
            f"{self.mask_batch} images per pass"
        )


@dataclass(frozen=True)
class Method:
    key: str  # CLI name of a CAM ("gradcam") or a saliency class name
    label: str  # what the table shows


def methods(settings: Settings) -> list[Method]:
    """The table's method rows, in order: CAMs as in ``CAM_METHODS``, then the saliency methods."""
    from visualization.frameworks import CAM_METHODS, METHOD_OPTIONS

    rows = []
    for key, cls_name in CAM_METHODS.items():
        opts = METHOD_OPTIONS.get(key, {})
        extra = ", ".join(f"{k}={v}" for k, v in opts.items())
        rows.append(Method(key, f"{cls_name} ({extra})" if extra else cls_name))
    notes = {
        "IntegratedGradients": f"{settings.ig_steps} steps",
        "SmoothGrad": f"{settings.sg_samples} samples",
        "Occlusion": f"{settings.patches} patches",
    }
    rows += [Method(name, f"{name} ({notes[name]})" if name in notes else name) for name in SALIENCY_METHODS]
    return rows


@dataclass
class Result:
    """One measurement; ``note`` replaces the numbers when the call did not run."""

    seconds: float | None = None
    peak_mb: float | None = None
    note: str = ""
    ratio: float | None = None  # median of paired (method time / forward time); see paired_ratio


# ---------------------------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def set_threads(n: int, frameworks: Sequence[str]) -> str:
    """Intra-op threads for every framework; returns how paddle's and TensorFlow's were set (for the header).

    Paddle is imported before TensorFlow (the other order crashes the process, see :mod:`visualization.paddle`)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(n))  # read by paddle's oneDNN only if paddle is not loaded yet
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import torch

    torch.set_num_threads(n)
    notes = []
    if "paddle" not in frameworks:
        notes.append("paddle not run")
    else:
        import paddle

        setter = getattr(paddle, "set_num_threads", None) or getattr(paddle.base.core, "set_num_threads", None)
        if setter is None:
            notes.append(f"paddle OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
        else:
            setter(n)
            notes.append(f"paddle {n}")
    if "keras" in frameworks:
        import tensorflow as tf

        try:  # only possible before TensorFlow's runtime starts (the first op)
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(1)
            notes.append(f"tensorflow {n} (inter-op 1)")
        except RuntimeError:
            notes.append(f"tensorflow {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
    return ", ".join(notes)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def photos(size: int, batch: int) -> np.ndarray:
    """``(batch, 3, size, size)`` float32: the bundled photos, preprocessed for EfficientNet-Lite."""
    from skimage import data

    from visualization.models import preprocess

    resize = max(size, round(size * 256 / 224))  # the usual 256 -> 224 centre crop, scaled
    imgs = [preprocess(getattr(data, name)(), size=size, resize=resize)[0] for name in PHOTOS[: min(batch, 4)]]
    return np.stack([imgs[i % len(imgs)] for i in range(batch)]).astype(np.float32)


def release_free_memory() -> None:
    """Collect garbage and hand the C heap's free pages back to the system (glibc ``malloc_trim``), so that
    memory a call needs shows up as resident memory it adds instead of reusing pages freed by an earlier call."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the figure may then read low
        pass


def peak_memory_mb(fn: Callable[[], object], framework: str, device: str = "cpu") -> float | None:
    """Peak memory one call of ``fn`` adds, in MiB, on ``device`` (only ``"cpu"``: resident memory)."""
    if device != "cpu":
        raise NotImplementedError(
            f"peak memory on {device!r} for {framework}: only the CPU (resident memory) is measured here; "
            "a GPU figure would come from the framework's max-memory-allocated counter"
        )
    release_free_memory()
    return peak_rss_delta_mb(fn)


def paired_ratio(fn: Callable[[], object], forward: Callable[[], object], repeats: int) -> tuple[float, float]:
    """``(median method time, median of method time / forward time)`` with each timed call of ``fn`` next
    to a timed forward pass, in alternating order. A neighbour's load or a clock change that slows a
    stretch of the run then slows both halves of a pair, so the ratio stays put where a ratio of two
    separately taken medians would swing (on a busy 2-core machine by 30 % and more)."""
    times, ratios = [], []
    for i in range(repeats):
        pair = []
        for call in (fn, forward) if i % 2 == 0 else (forward, fn):
            t0 = time.perf_counter()
            call()
            pair.append((call is fn, time.perf_counter() - t0))
        t_fn = next(t for is_fn, t in pair if is_fn)
        t_fwd = next(t for is_fn, t in pair if not is_fn)
        times.append(t_fn)
        ratios.append(t_fn / t_fwd)
    return statistics.median(times), statistics.median(ratios)


def measure(
    fn: Callable[[], object],
    settings: Settings,
    framework: str,
    memory: bool = True,
    forward: Callable[[], object] | None = None,
) -> Result:
    """Median time over ``settings.repeats`` after ``settings.warmup`` calls (paired with ``forward`` when
    given, see :func:`paired_ratio`), then one call for peak memory."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # captum and torchcam warn on every call
        ratio = None
        if forward is None:
            seconds = median_time(fn, settings.repeats, warmup=settings.warmup)
        else:
            for _ in range(settings.warmup):
                fn()
            seconds, ratio = paired_ratio(fn, forward, settings.repeats)
        peak = peak_memory_mb(fn, framework, settings.device) if memory else None
    return Result(seconds, peak, ratio=ratio)


def _error(exc: BaseException) -> Result:
    return Result(note=f"error: {type(exc).__name__}")


def load_network(framework: str, settings: Settings) -> Any:
    from visualization.models import load_model

    if framework == "torch":
        import torch

        torch.manual_seed(0)
    elif framework == "paddle":
        import paddle

        paddle.seed(0)
    else:
        import keras

        keras.utils.set_random_seed(0)
    kwargs = {"image_size": settings.size} if settings.model == "catdogcnn" else {}
    model = load_model(settings.model, framework=framework, **kwargs)
    if framework != "keras":  # a Keras model has no mode: every call here passes training=False
        model.eval()
    return model


def _to_tensor(framework: str, array: np.ndarray) -> Any:
    """The batch as the framework's users hold it: ``(N, C, H, W)`` for torch and Paddle, a channels-last
    ``(N, H, W, C)`` ``tf.Tensor`` for Keras."""
    if framework == "torch":
        import torch

        return torch.from_numpy(array)
    if framework == "paddle":
        import paddle

        return paddle.to_tensor(array)
    import tensorflow as tf

    return tf.constant(np.ascontiguousarray(array.transpose(0, 2, 3, 1)))


def _no_grad(framework: str) -> Any:
    if framework == "torch":
        import torch

        return torch.no_grad()
    if framework == "paddle":
        import paddle

        return paddle.no_grad()
    return contextlib.nullcontext()  # TensorFlow records gradients only inside a GradientTape


def _call(framework: str, model: Any, x: Any) -> Any:
    """One plain forward pass (Keras: ``training=False``, as the toolkit calls the model)."""
    with _no_grad(framework):
        return model(x, training=False) if framework == "keras" else model(x)


def _predicted(framework: str, model: Any, x: Any) -> list[int]:
    out = _call(framework, model, x)
    return [int(i) for i in np.asarray(out.detach().numpy() if framework == "torch" else out.numpy()).argmax(1)]


# ---------------------------------------------------------------------------------------------- ours
def our_calls(framework: str, model: Any, x: Any, target: list[int], s: Settings) -> dict[str, Callable[[], object]]:
    """Method key -> a call of our implementation (objects built once, here)."""
    from visualization.frameworks import METHOD_OPTIONS, get_framework

    fw = get_framework(framework)
    objects: dict[str, Any] = {}
    for key, cls in fw.cam_classes.items():
        opts = dict(METHOD_OPTIONS.get(key, {}))
        if key in ("scorecam", "fastscorecam", "ablationcam"):
            opts["batch_size"] = s.mask_batch
        objects[key] = cls(model, s.layer, **opts)
    try:
        sal = importlib.import_module(f"visualization.{PACKAGES[framework]}.saliency")
    except ModuleNotFoundError as exc:  # a framework without the saliency module: its rows say so
        log(f"[{framework}] saliency: {exc}")
        return {key: (lambda obj=obj: obj.compute(x, target)) for key, obj in objects.items()}
    w = s.window
    objects.update(
        VanillaGradient=sal.VanillaGradient(model),
        GradientXInput=sal.GradientXInput(model),
        IntegratedGradients=sal.IntegratedGradients(model, n_steps=s.ig_steps, internal_batch_size=s.inner_batch),
        SmoothGrad=sal.SmoothGrad(sal.VanillaGradient(model), n_samples=s.sg_samples, batch_size=s.inner_batch),
        GuidedBackprop=sal.GuidedBackprop(model),
        Deconvolution=sal.Deconvolution(model),
        GuidedGradCAM=sal.GuidedGradCAM(model, s.layer, interpolate_mode="nearest"),  # nearest, as captum's
        Occlusion=sal.Occlusion(model, window=(w, w), stride=(w, w), batch_size=s.occlusion_batch),
    )
    return {key: (lambda obj=obj: obj.compute(x, target)) for key, obj in objects.items()}


def run_framework(
    framework: str, settings: Settings
) -> tuple[Result, dict[str, Result], tuple[Any, Any, list[int], Callable[[], None]]]:
    """The forward pass and every method of one framework. Also returns ``(model, x, target, forward)`` for
    the libraries' turn on the same model."""
    model = load_network(framework, settings)
    x = _to_tensor(framework, photos(settings.size, settings.batch))
    target = _predicted(framework, model, x)

    def forward() -> None:
        _call(framework, model, x)

    fwd = measure(forward, settings, framework)
    log(f"[{framework}] forward: {fwd.seconds * 1e3:.1f} ms, peak {_mib(fwd.peak_mb)} MiB")
    calls = our_calls(framework, model, x, target, settings)
    results: dict[str, Result] = {}
    for m in methods(settings):
        if m.key in SLOW_METHODS and not settings.full:
            results[m.key] = Result(note=SKIPPED)
            log(f"[{framework}] {m.label}: {SKIPPED}")
            continue
        if m.key not in calls:
            results[m.key] = Result(note=NOT_AVAILABLE)
            continue
        try:
            results[m.key] = r = measure(calls[m.key], settings, framework, forward=forward)
        except Exception as exc:  # one failing method must not end the run
            results[m.key] = _error(exc)
            log(f"[{framework}] {m.label}: {type(exc).__name__}: {exc}")
            continue
        log(f"[{framework}] {m.label}: {r.seconds * 1e3:.1f} ms ({r.ratio:.2f}x), peak {_mib(r.peak_mb)} MiB")
    return fwd, results, (model, x, target, forward)


# ---------------------------------------------------------------------------------------------- theirs
def _torchcam_calls(model: Any, x: Any, target: list[int], s: Settings) -> dict[str, Callable[[], object]]:
    from torchcam import methods as tcm

    shape = tuple(x.shape[1:])
    extra = {"SmoothGradCAMpp": {"num_samples": 4}, "ScoreCAM": {"batch_size": s.mask_batch}}  # ours: 4 / mask_batch

    def call(name: str) -> Callable[[], object]:
        def run() -> None:
            with getattr(tcm, name)(model, s.layer, input_shape=shape, **extra.get(name, {})) as extractor:
                extractor(target, model(x))

        return run

    return {key: call(name) for key, name in TORCHCAM.items()}


def _captum_calls(model: Any, x: Any, target: list[int], s: Settings) -> dict[str, Callable[[], object]]:
    import captum.attr as ca

    layer = model.get_submodule(s.layer)
    w = s.window
    sigma = 0.15 * float(x.max() - x.min())  # our SmoothGrad's noise level; captum wants an absolute deviation
    return {
        "VanillaGradient": lambda: ca.Saliency(model).attribute(x, target=target, abs=False),
        "GradientXInput": lambda: ca.InputXGradient(model).attribute(x, target=target),
        "IntegratedGradients": lambda: ca.IntegratedGradients(model).attribute(
            x, target=target, n_steps=s.ig_steps, internal_batch_size=s.inner_batch
        ),
        "SmoothGrad": lambda: ca.NoiseTunnel(ca.Saliency(model)).attribute(
            x,
            nt_type="smoothgrad",
            nt_samples=s.sg_samples,
            nt_samples_batch_size=s.inner_batch,
            stdevs=sigma,
            target=target,
            abs=False,
        ),
        "GuidedBackprop": lambda: ca.GuidedBackprop(model).attribute(x, target=target),
        "Deconvolution": lambda: ca.Deconvolution(model).attribute(x, target=target),
        "GuidedGradCAM": lambda: ca.GuidedGradCam(model, layer).attribute(x, target=target),
        "Occlusion": lambda: ca.Occlusion(model).attribute(
            x,
            sliding_window_shapes=(x.shape[1], w, w),
            strides=(x.shape[1], w, w),
            target=target,
            perturbations_per_eval=s.occlusion_batch,
        ),
        "gradcam": lambda: ca.LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True),
    }


def _pytorch_grad_cam_calls(model: Any, x: Any, target: list[int], s: Settings) -> dict[str, Callable[[], object]]:
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    layers = [model.get_submodule(s.layer)]
    targets = [ClassifierOutputTarget(c) for c in target]

    def call(name: str) -> Callable[[], object]:
        def run() -> None:
            with getattr(pgc, name)(model=model, target_layers=layers) as cam:
                if hasattr(cam, "batch_size"):  # Ablation-CAM's copies per pass, as ours
                    cam.batch_size = s.mask_batch
                cam(input_tensor=x, targets=targets)

        return run

    return {key: call(name) for key, name in PYTORCH_GRAD_CAM.items()}


_LIBRARY_CALLS = {
    "torchcam": _torchcam_calls,
    "captum": _captum_calls,
    "pytorch-grad-cam": _pytorch_grad_cam_calls,
}


def library_version(lib: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTIONS.get(lib, lib))
    except PackageNotFoundError:
        return None


def run_libraries(
    model: Any, x: Any, target: list[int], settings: Settings, forward: Callable[[], object] | None = None
) -> dict[str, dict[str, Result]]:
    """Library -> method key -> time of that library's implementation on the PyTorch model and input."""
    out: dict[str, dict[str, Result]] = {}
    keys = [m.key for m in methods(settings)]
    for lib, make in _LIBRARY_CALLS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                calls = make(model, x, target, settings)
        except Exception as exc:  # ImportError, or a dependency (opencv, torchvision) that fails to load
            log(f"[{lib}] not available: {type(exc).__name__}: {exc}")
            out[lib] = {k: Result(note=NOT_INSTALLED) for k in keys}
            continue
        res: dict[str, Result] = {}
        for m in methods(settings):
            if m.key not in calls:
                res[m.key] = Result(note=ABSENT)
            elif m.key in SLOW_METHODS and not settings.full:
                res[m.key] = Result(note=SKIPPED)
            else:
                try:
                    res[m.key] = r = measure(calls[m.key], settings, "torch", memory=False, forward=forward)
                    log(f"[{lib}] {m.label}: {r.seconds * 1e3:.1f} ms")
                except Exception as exc:
                    res[m.key] = _error(exc)
                    log(f"[{lib}] {m.label}: {type(exc).__name__}: {exc}")
        out[lib] = res
    return out


# ---------------------------------------------------------------------------------------------- table
def _mib(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def time_cell(r: Result | None, fwd: Result | None) -> str:
    if r is None or fwd is None:
        return NOT_RUN
    if r.note:
        return r.note
    if r.ratio is not None:
        return f"{r.ratio:.2f}x"
    assert r.seconds is not None and fwd.seconds is not None
    return f"{r.seconds / fwd.seconds:.2f}x"


def memory_cell(r: Result | None, fwd: Result | None) -> str:
    if r is None or fwd is None:
        return NOT_RUN
    if r.note:
        return r.note
    if r.peak_mb is None:
        return "n/a"
    if fwd.peak_mb is not None and fwd.peak_mb >= 1.0:
        return f"{r.peak_mb:.1f} ({r.peak_mb / fwd.peak_mb:.1f}x)"
    return f"{r.peak_mb:.1f}"


HEADER = [
    "method",
    *(f"{fw} time/fwd" for fw in FRAMEWORKS),
    *(f"{fw} peak MiB" for fw in FRAMEWORKS),
    "torchcam time/fwd",
    "captum time/fwd",
    "pytorch-grad-cam time/fwd",
]


def build_table(
    settings: Settings,
    forwards: dict[str, Result],
    ours: dict[str, dict[str, Result]],
    theirs: dict[str, dict[str, Result]],
) -> str:
    def fwd_time(fw: str) -> str:
        r = forwards.get(fw)
        return NOT_RUN if r is None or r.seconds is None else f"{r.seconds * 1e3:.1f} ms"

    def fwd_mem(fw: str) -> str:
        r = forwards.get(fw)
        return NOT_RUN if r is None else _mib(r.peak_mb)

    lib_note = "" if theirs else NOT_RUN
    rows: list[list[str]] = [
        [
            "forward (no grad), absolute",
            *(fwd_time(fw) for fw in FRAMEWORKS),
            *(fwd_mem(fw) for fw in FRAMEWORKS),
            *(lib_note or ABSENT for _ in LIBRARIES),
        ]
    ]
    torch_fwd = forwards.get("torch")
    for m in methods(settings):
        row = [m.label]
        row += [time_cell(ours.get(fw, {}).get(m.key), forwards.get(fw)) for fw in FRAMEWORKS]
        row += [memory_cell(ours.get(fw, {}).get(m.key), forwards.get(fw)) for fw in FRAMEWORKS]
        row += [time_cell(theirs[lib][m.key], torch_fwd) if theirs else NOT_RUN for lib in LIBRARIES]
        rows.append(row)
    return markdown_table(HEADER, rows)


def header(settings: Settings, frameworks: Sequence[str], paddle_threads: str) -> str:
    import torch

    versions = [f"torch {torch.__version__}"]
    if "paddle" in frameworks:
        import paddle

        versions.append(f"paddle {paddle.__version__}")
    if "keras" in frameworks:
        import keras
        import tensorflow as tf

        versions.append(f"keras {keras.__version__} (tensorflow {tf.__version__})")
    libs = ", ".join(f"{lib} {library_version(lib) or 'not installed'}" for lib in LIBRARIES)
    return (
        f"{', '.join(versions)}; threads: torch {torch.get_num_threads()}, {paddle_threads}; CPU: {cpu_name()}; "
        f"{settings.model} at {settings.layer}, {settings.size}x{settings.size}, batch {settings.batch}, "
        f"median of {settings.repeats} after {settings.warmup} warm-up; {libs}.\n"
        f"time/fwd = median over timed calls of (method time / time of a no-grad forward run next to it) "
        f"(same framework; libraries: torch forward; Keras: an eager model(x, training=False) on the "
        f"channels-last batch). "
        f"peak MiB = resident memory one warm call adds at its peak; (Nx) = method peak / forward peak "
        f"(only when the forward's peak is >= 1 MiB). "
        f"{settings.describe()}."
    )


def run(settings: Settings, frameworks: Sequence[str] = FRAMEWORKS, libraries: bool = True) -> str:
    """Measure everything and return the header and the Markdown table."""
    paddle_threads = set_threads(settings.threads, frameworks)
    forwards: dict[str, Result] = {}
    ours: dict[str, dict[str, Result]] = {}
    theirs: dict[str, dict[str, Result]] = {}
    for fw in FRAMEWORKS:
        if fw not in frameworks:
            continue
        forwards[fw], ours[fw], (model, x, target, forward) = run_framework(fw, settings)
        if fw == "torch" and libraries:
            theirs = run_libraries(model, x, target, settings, forward)
        del model, x, forward
    return header(settings, frameworks, paddle_threads) + "\n\n" + build_table(settings, forwards, ours, theirs)


_IMPORT_PROBE = """
import importlib, json, pkgutil, sys, time
t0 = time.perf_counter()
import visualization.keras as pkg
names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__))
for name in names:
    importlib.import_module(f"visualization.keras.{name}")
seconds = time.perf_counter() - t0
loaded = {top: top in sys.modules for top in ("tensorflow", "keras", "torch", "paddle")}
print(json.dumps({"modules": names, "loaded": loaded, "seconds": seconds}))
"""


def import_check(root: str | os.PathLike[str] | None = None) -> tuple[str, dict[str, Any]]:
    """Import ``visualization.keras`` and every module in it in a fresh interpreter and report which
    frameworks that loaded: ``(one line for the output, the raw facts)``. torch and paddle must not be."""
    import json
    import subprocess
    from pathlib import Path

    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    env = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, cwd=root, env=env, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"Import check FAILED: importing visualization.keras in a fresh process: {tail}", {}
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    loaded = facts["loaded"]
    clean = not loaded["torch"] and not loaded["paddle"]
    line = (
        f"Import check ({'ok' if clean else 'FAILED'}): `import visualization.keras` and its "
        f"{len(facts['modules'])} modules ({', '.join(facts['modules'])}) in a fresh process took "
        f"{facts['seconds']:.1f} s and loaded "
        + ", ".join(f"{top} {'yes' if on else 'no'}" for top, on in loaded.items())
        + "."
    )
    return line, facts
