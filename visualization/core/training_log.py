"""Watch a CNN while it trains: TensorBoard (or VisualDL) event files written by one logger.

``visualization.pytorch.tensorboard.VisualizationLogger`` and its Paddle and Keras twins subclass
:class:`VisualizationLogger` and bind their backend, their model facts
(``visualization.<framework>._structure``) and their ``GradCAM``. Everything else is here and is
framework-free: which layers to look at, the image grids, the statistics and the event writers.

What one call of :meth:`VisualizationLogger.log_epoch` writes (``<...>`` = a layer or parameter name):

================================  ==========  ============================================================
tag                               kind        what
================================  ==========  ============================================================
``<name>`` of ``scalars``          scalar      what the training loop passes (loss, accuracy, ...)
``filters/<conv>``                image       kernels: RGB tiles for a 3-channel convolution, otherwise
                                              a grid (one row per filter, one column per input channel)
``feature_maps/<layer>/<probe>``  image       the first ``max_maps`` channels for each probe image
``gradcam/<probe>``               image       Grad-CAM of ``cam_layer`` over the probe image, class named
``weights/<parameter>``           histogram   every parameter (BatchNorm running statistics excluded)
``activations/<layer>``           histogram   outputs of the feature and ReLU layers for the probes
``dead_relu/<layer>``             scalar      share of dead ReLU units (below)
``structure`` (first call)        text        the :mod:`~visualization.core.structure` table
graph (first call, PyTorch)       graph       ``tensorboardX``'s ``add_graph`` (``torch.jit.trace``)
================================  ==========  ============================================================

Dead ReLU units. A unit is one element ``(c, y, x)`` of a layer's output for one image. For the
probe images ``n = 1..N`` the share of dead units of a layer is::

    dead = (1 / U) * sum_u [ max_n a[n, u] <= 0 ]

over its ``U`` units: a unit is dead when the ReLU gives 0 for every probe image. A layer listed
in ``relu_layers`` is a ReLU itself (its output is ``>= 0``, so ``<= 0`` means ``== 0``) or the layer
right before a functional ``relu`` (its output is the ReLU's input, and ``<= 0`` is what the ReLU
turns into 0). A layer that runs several times per forward pass pools the units of all its calls.
A dead unit gets no gradient through the ReLU for these images; a share that grows towards 1
during training usually means a too-large learning rate.

The model is left as it was: every forward pass runs in eval mode with each layer's flag restored
(Keras: ``training=False``), without recording a graph (Grad-CAM differentiates with respect to the
target layer's output only, with ``torch.autograd.grad`` / ``paddle.grad`` / ``tf.GradientTape``), so
parameters, their ``.grad``, BatchNorm statistics and random-number state are untouched when the
logger is called in the middle of training.
"""

from __future__ import annotations

import abc
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .backend import Backend
from .errors import LayerOutputError, VisualizationError
from .image import colorize, normalize_maps, overlay, to_display_image
from .layers import resolve_layer
from .structure import ModelFacts, model_structure

logger = logging.getLogger("visualization")

#: Writers the logger can write with: ``tensorboardx`` (TensorBoard event files) or ``visualdl``.
WRITERS = ("tensorboardx", "visualdl")
_TAG_CHARS = re.compile(r"[^-/\w.]")


class MissingWriterError(VisualizationError, ImportError):
    """The package that writes the event files is not installed."""


# ---------------------------------------------------------------------------------------- pure math
def dead_unit_fraction(outputs: Sequence[np.ndarray] | np.ndarray) -> float:
    """Share of units that are ``<= 0`` for every image: ``mean_u [max_n a[n, u] <= 0]``.

    ``outputs`` is one array ``(N, ...)`` or a list of them (one per call of the layer; their units
    are pooled). See the module docstring for the definition.

    >>> a = np.array([[[0.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [2.0, 0.0]]])   # 2 images, 4 units
    >>> dead_unit_fraction(a)                                               # units (0, 0), (1, 1)
    0.5
    >>> dead_unit_fraction([a, np.ones((2, 4))])                             # 2 dead of 8
    0.25
    """
    arrays = [outputs] if isinstance(outputs, np.ndarray) else list(outputs)
    dead = units = 0
    for a in arrays:
        top = np.asarray(a).reshape(len(a), -1).max(axis=0)
        dead += int((top <= 0).sum())
        units += top.size
    if units == 0:
        raise ValueError("dead_unit_fraction needs at least one unit (an empty output was given).")
    return dead / units


def _tile(images: np.ndarray, cols: int, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """``(n, h, w, 3)`` images in ``[0, 1]`` as one ``(H, W, 3)`` grid with ``pad`` pixels of ``fill`` between."""
    n, h, w, _ = images.shape
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), fill, np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = images[i]
    return grid


def _upscale(images: np.ndarray, min_side: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``(n, h, w, 3)`` by an integer factor so small tiles stay visible."""
    f = max(1, math.ceil(min_side / max(1, min(images.shape[1:3]))))
    return images.repeat(f, axis=1).repeat(f, axis=2) if f > 1 else images


def filter_grid(kernel: np.ndarray, max_filters: int = 16, max_channels: int = 8) -> np.ndarray:
    """A convolution's kernels ``(C_out, C_in, kh, kw)`` as one RGB image ``(H, W, 3)`` in ``[0, 1]``.

    With 3 input channels each of the first ``max_filters`` filters is one colour tile, min-max scaled
    per filter (as ``CNNLayerVisualizer.visualize_conv_filters(mode='rgb')`` draws them). Otherwise one
    row per filter and one column per input channel (up to ``max_channels``), blue < 0 < red on one
    scale symmetric about zero for the whole grid.

    >>> filter_grid(np.random.default_rng(0).normal(size=(4, 3, 3, 3))).shape     # 4 RGB tiles in a row
    (40, 154, 3)
    >>> filter_grid(np.ones((2, 5, 3, 3)), max_channels=4).shape                   # 2 rows x 4 columns
    (78, 154, 3)
    """
    k = np.asarray(kernel, np.float32)[:max_filters]
    n = k.shape[0]
    if k.shape[1] == 3:
        rgb = normalize_maps(k.reshape(n, 3, -1)[:, None]).reshape(k.shape)  # per-filter min-max
        tiles = _upscale(np.transpose(rgb, (0, 2, 3, 1)), 36)
        return _tile(tiles, cols=min(n, 8), pad=2, fill=0.3)
    c = min(max_channels, k.shape[1])
    k = k[:, :c]
    vmax = float(np.abs(k).max()) or 1.0
    tiles = colorize(0.5 + 0.5 * k.reshape(n * c, *k.shape[2:]) / vmax, "RdBu_r")
    return _tile(_upscale(tiles, 36), cols=c, pad=2, fill=0.3)


def feature_map_grid(maps: np.ndarray, max_maps: int = 16) -> np.ndarray:
    """The first ``max_maps`` channels of one image's ``(C, h, w)`` feature maps as a viridis grid
    ``(H, W, 3)`` in ``[0, 1]`` on one colour scale (min to max of the channels shown), so channels compare.

    >>> feature_map_grid(np.arange(32.0).reshape(2, 4, 4)).shape                   # 2 tiles of 4x4, upscaled
    (50, 99, 3)
    """
    m = np.asarray(maps, np.float32)[:max_maps]
    lo, hi = float(m.min()), float(m.max())
    scaled = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    tiles = _upscale(colorize(scaled.reshape(-1, *m.shape[1:]), "viridis"), 48)
    return _tile(tiles, cols=math.ceil(math.sqrt(len(m))))


def captioned(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` ``(H, W, 3)`` in ``[0, 1]`` with a white strip below it that holds ``text``."""
    from PIL import Image, ImageDraw, ImageFont

    h, w, _ = image.shape
    font: Any = ImageFont.load_default()
    for size in range(16, 8, -1):  # the largest size that fits (Pillow >= 10.1 with FreeType scales its font)
        try:
            font = ImageFont.load_default(size=size)
        except (TypeError, OSError):
            break
        if font.getbbox(text)[2] <= w - 8:
            break
    strip = int(font.getbbox("Ag")[3]) + 6
    canvas = Image.new("RGB", (w, h + strip), "white")
    canvas.paste(Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8)), (0, 0))
    ImageDraw.Draw(canvas).text((4, h + 2), text, fill=(20, 20, 20), font=font)
    return np.asarray(canvas, np.float32) / 255.0


def tag_name(text: str) -> str:
    """``text`` with every character TensorBoard does not allow in a tag replaced by ``_``.

    >>> tag_name("cat photo (1).jpg")
    'cat_photo__1_.jpg'
    """
    return _TAG_CHARS.sub("_", str(text)) or "_"


# ---------------------------------------------------------------------------------------- writers
class EventWriter(abc.ABC):
    """The few calls the logger makes, over tensorboardX's ``SummaryWriter`` or VisualDL's ``LogWriter``.

    Images are ``(H, W, 3)`` float arrays in ``[0, 1]``.
    """

    #: The underlying writer object (``tensorboardX.SummaryWriter`` / ``visualdl.LogWriter``).
    raw: Any

    @abc.abstractmethod
    def scalar(self, tag: str, value: float, step: int) -> None: ...

    @abc.abstractmethod
    def image(self, tag: str, image: np.ndarray, step: int) -> None: ...

    @abc.abstractmethod
    def histogram(self, tag: str, values: np.ndarray, step: int) -> None: ...

    @abc.abstractmethod
    def text(self, tag: str, text: str, step: int) -> None: ...

    @abc.abstractmethod
    def flush(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class TensorboardXWriter(EventWriter):
    """TensorBoard event files through ``tensorboardX`` (no TensorFlow needed).

    tensorboardX imports torch when torch is installed (for its own ``add_graph``), also when the
    logger serves a Paddle model; on a machine without torch it works without it.
    """

    def __init__(self, log_dir: str) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError as exc:
            raise MissingWriterError(
                "writer='tensorboardx' needs the tensorboardX package, which is not installed. Install it "
                "with: pip install 'cnn-visualization[tensorboard]' (or pip install tensorboardX tensorboard)."
            ) from exc
        self.raw = SummaryWriter(logdir=log_dir)

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.raw.add_scalar(tag, float(value), step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self.raw.add_image(tag, np.clip(image, 0.0, 1.0), step, dataformats="HWC")

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        self.raw.add_histogram(tag, np.asarray(values, np.float32).ravel(), step)

    def text(self, tag: str, text: str, step: int) -> None:
        self.raw.add_text(tag, text, step)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.close()


class VisualDLWriter(EventWriter):
    """VisualDL log files (``visualdl --logdir DIR`` shows them), through ``visualdl.LogWriter``.

    Checked with visualdl 2.5.3: ``pip install visualdl`` keeps the installed paddlepaddle, torch,
    numpy and protobuf. VisualDL's own ``add_graph`` fails on Paddle 3 (it expects the ``.pdmodel``
    file that ``paddle.jit.save`` no longer writes), so no graph is written.
    """

    def __init__(self, log_dir: str) -> None:
        try:
            from visualdl import LogWriter
        except ImportError as exc:
            raise MissingWriterError(
                "writer='visualdl' needs the visualdl package, which is not installed. Install it with: "
                "pip install 'cnn-visualization[visualdl]' (or pip install visualdl), or use writer='tensorboardx'."
            ) from exc
        self.raw = LogWriter(logdir=log_dir)

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.raw.add_scalar(tag=tag, value=float(value), step=step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self.raw.add_image(tag=tag, img=(np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8), step=step)

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        self.raw.add_histogram(tag=tag, values=np.asarray(values, np.float32).ravel(), step=step, buckets=30)

    def text(self, tag: str, text: str, step: int) -> None:
        self.raw.add_text(tag=tag, text_string=text, step=step)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.close()


def open_writer(kind: str, log_dir: str | Path) -> EventWriter:
    """An :class:`EventWriter` of ``kind`` (one of :data:`WRITERS`) writing into ``log_dir`` (the writer
    creates it once its package has been imported, so a missing package leaves no empty folder)."""
    key = str(kind).lower().replace("_", "").replace("-", "")
    if key not in WRITERS:
        raise ValueError(f"writer must be one of {', '.join(map(repr, WRITERS))}; got {kind!r}.")
    return TensorboardXWriter(str(log_dir)) if key == "tensorboardx" else VisualDLWriter(str(log_dir))


# ---------------------------------------------------------------------------------------- logger
class VisualizationLogger:
    """Write filters, feature maps, Grad-CAM overlays, weight and activation histograms, the share of
    dead ReLU units, scalars, the model structure and (PyTorch) the graph to TensorBoard while training.

    Args:
        model: the network being trained (``torch.nn.Module`` / ``paddle.nn.Layer``).
        log_dir: the run's folder (created); point ``tensorboard --logdir`` at it or at its parent.
        probe_images: fixed images ``(N, C, H, W)`` (normalized like the training data) whose feature
            maps, Grad-CAM and activations are logged; can also be given per call.
        display_images: how to show each probe in the Grad-CAM overlay (PIL images or RGB arrays);
            default: the probe inputs min-max scaled.
        probe_names: names for the tags (``gradcam/<name>``); default ``probe_0``, ``probe_1``, ...
        filter_layers: convolutions whose kernels are logged; default: the first convolution.
        feature_layers: layers whose outputs are logged; default: up to three layers at an early, a
            middle and a late resolution (the last layer of each).
        cam_layer: Grad-CAM's target layer; ``None``: the last layer with a spatial output.
        relu_layers: layers whose dead units are counted (see the module docstring); default: every
            ``ReLU``/``ReLU6`` layer. Name the layers before a functional ``relu`` for models that use one.
        target_classes: Grad-CAM's class: ``None`` (predicted), an int, or one int per probe image.
        class_names: names of the classes, for the Grad-CAM caption.
        max_filters, max_channels, max_maps: how many filters, input channels per filter and feature
            map channels an image shows.
        writer: ``'tensorboardx'`` (TensorBoard event files) or ``'visualdl'`` (VisualDL log files).

    Every forward pass runs in eval mode without a graph (Grad-CAM differentiates only with respect
    to the target layer), so the model's train/eval flags, parameters, ``.grad`` and BatchNorm
    statistics are as before after every call. Use it as a context manager or call :meth:`close`.

    Example:
        >>> import tempfile
        >>> import torch
        >>> from visualization.pytorch.tensorboard import VisualizationLogger
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        ...                           torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> with VisualizationLogger(net, tempfile.mkdtemp(), torch.rand(2, 3, 16, 16), feature_layers=["0"]) as board:
        ...     tags = board.log_epoch(0, scalars={"loss": 0.7})      # then after each epoch: log_epoch(epoch, ...)
        >>> for tag in sorted(tags):
        ...     print(tag)
        activations/0
        activations/1
        dead_relu/1
        feature_maps/0/probe_0
        feature_maps/0/probe_1
        filters/0
        gradcam/probe_0
        gradcam/probe_1
        loss
        structure
        weights/0.bias
        weights/0.weight
        weights/4.bias
        weights/4.weight
    """

    backend: ClassVar[Backend]
    facts: ClassVar[ModelFacts]
    #: The framework's ``GradCAM`` class (bound by the adapter module).
    gradcam_class: ClassVar[type]

    def __init__(
        self,
        model: Any,
        log_dir: str | Path,
        probe_images: Any = None,
        *,
        display_images: Sequence[Any] | None = None,
        probe_names: Sequence[str] | None = None,
        filter_layers: Sequence[str] | None = None,
        feature_layers: Sequence[str] | None = None,
        cam_layer: Any = None,
        relu_layers: Sequence[str] | None = None,
        target_classes: Any = None,
        class_names: Sequence[str] | None = None,
        max_filters: int = 16,
        max_channels: int = 8,
        max_maps: int = 16,
        writer: str = "tensorboardx",
    ) -> None:
        self.backend.check_model(model)
        for label, value in (("max_filters", max_filters), ("max_channels", max_channels), ("max_maps", max_maps)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{label} must be a positive int; got {value!r}.")
        self.model = model
        self.log_dir = Path(log_dir)
        self.probe_images = probe_images
        self.display_images = list(display_images) if display_images is not None else None
        self.probe_names = [tag_name(n) for n in probe_names] if probe_names is not None else None
        self.target_classes = target_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.max_filters, self.max_channels, self.max_maps = int(max_filters), int(max_channels), int(max_maps)
        named = self.backend.named_layers(model)
        # resolve every name now: a typo fails here, with close matches, before any file is written
        self.filter_layers = [resolve_layer(named, n)[0] for n in filter_layers] if filter_layers is not None else None
        for name in self.filter_layers or []:
            if self.backend.conv_kernel(dict(named)[name]) is None:
                raise LayerOutputError(
                    f"filter_layers names {name!r}, a {type(dict(named)[name]).__name__}, not a 2-D convolution. "
                    f"Convolutions of this model: {[n for n, m in named if self.backend.conv_kernel(m) is not None][:20]}."
                )
        if self.filter_layers is None:
            first = next((n for n, m in named if self.backend.conv_kernel(m) is not None), None)
            self.filter_layers = [first] if first is not None else []
        self.feature_layers = (
            [resolve_layer(named, n)[0] for n in feature_layers] if feature_layers is not None else None
        )
        self.cam_layer = resolve_layer(named, cam_layer)[0] if cam_layer is not None else None
        if relu_layers is not None:
            self.relu_layers = [resolve_layer(named, n)[0] for n in relu_layers]
        else:
            self.relu_layers = [n for n, m in named if self.facts.is_relu(m)]
        self._cam: Any = None
        self._first_epoch = True
        self.writer = open_writer(writer, self.log_dir)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__}, log_dir={str(self.log_dir)!r})"

    def __enter__(self) -> VisualizationLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ helpers
    def _input(self, probe_images: Any) -> Any:
        x = self.probe_images if probe_images is None else probe_images
        if x is None:
            raise ValueError(
                "No probe images: pass probe_images=... to VisualizationLogger(...) or to this call "
                "(a batch (N, C, H, W) normalized like the training data)."
            )
        return self.backend.prepare_input(self.model, x)

    def _names(self, n: int) -> list[str]:
        if self.probe_names is not None and len(self.probe_names) == n:
            return list(self.probe_names)
        return [f"probe_{i}" for i in range(n)]

    def _displays(self, x_np: np.ndarray) -> list[np.ndarray]:
        """The probe images as RGB, at least 224 pixels on the short side (so the caption fits)."""
        h, w = x_np.shape[-2:]
        f = max(1, math.ceil(224 / min(h, w)))
        size = (h * f, w * f)
        if self.display_images is not None and len(self.display_images) == len(x_np):
            return [to_display_image(im, size=size) for im in self.display_images]
        return [to_display_image(im, size=size) for im in x_np]

    def _feature_layers(self, x: Any) -> list[str]:
        if self.feature_layers is None:
            self.feature_layers = _auto_depths(self.backend, self.model, x[:1])
        return self.feature_layers

    # ------------------------------------------------------------------------------ plain data
    def dead_relu_fractions(self, probe_images: Any = None) -> dict[str, float]:
        """``{layer: share of dead units}`` for ``relu_layers`` on the probe images (see the module docstring)."""
        x = self._input(probe_images)
        outs = self.facts.capture_outputs(self.model, x, self.relu_layers)
        return {n: dead_unit_fraction(a) for n, a in outs.items() if a}

    # ------------------------------------------------------------------------------ logging
    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> list[str]:
        """Write each ``{tag: value}`` as a scalar at ``step`` (e.g. ``{'loss/train': 0.41}``)."""
        step = _check_step(step)
        tags = []
        for tag, value in scalars.items():
            self.writer.scalar(tag_name(tag), float(value), step)
            tags.append(tag_name(tag))
        return tags

    def log_filters(self, step: int) -> list[str]:
        """Write ``filters/<conv>``: the kernels of each of ``filter_layers`` (see :func:`filter_grid`)."""
        step = _check_step(step)
        named = dict(self.backend.named_layers(self.model))
        tags = []
        for name in self.filter_layers or []:
            kernel = self.backend.conv_kernel(named[name])
            self.writer.image(
                f"filters/{tag_name(name)}", filter_grid(kernel, self.max_filters, self.max_channels), step
            )
            tags.append(f"filters/{tag_name(name)}")
        return tags

    def log_weight_histograms(self, step: int) -> list[str]:
        """Write ``weights/<parameter>``: a histogram of every parameter."""
        step = _check_step(step)
        tags = []
        for name, values in self.facts.parameter_arrays(self.model):
            self.writer.histogram(f"weights/{tag_name(name)}", values, step)
            tags.append(f"weights/{tag_name(name)}")
        return tags

    def log_activations(self, step: int, probe_images: Any = None) -> list[str]:
        """Write feature-map grids, activation histograms and dead-ReLU shares from one forward pass."""
        step = _check_step(step)
        x = self._input(probe_images)
        return self._log_outputs(step, x)

    def _log_outputs(self, step: int, x: Any) -> list[str]:
        features = self._feature_layers(x)
        names = list(dict.fromkeys([*features, *self.relu_layers]))
        outs = self.facts.capture_outputs(self.model, x, names)
        probe_names = self._names(int(self.backend.tensor_facts(x)[0][0]))
        tags = []
        for name in features:
            maps = outs[name][0] if outs[name] else None  # a layer that runs twice: its first call
            if maps is None or maps.ndim != 4:
                logger.info("feature_layers: %r gives no (N, C, h, w) map; only its histogram is logged", name)
                continue
            for i, probe in enumerate(probe_names):
                tag = f"feature_maps/{tag_name(name)}/{probe}"
                self.writer.image(tag, feature_map_grid(maps[i], self.max_maps), step)
                tags.append(tag)
        for name in names:
            if outs[name]:
                self.writer.histogram(
                    f"activations/{tag_name(name)}", np.concatenate([a.ravel() for a in outs[name]]), step
                )
                tags.append(f"activations/{tag_name(name)}")
        for name in self.relu_layers:
            if outs[name]:
                self.writer.scalar(f"dead_relu/{tag_name(name)}", dead_unit_fraction(outs[name]), step)
                tags.append(f"dead_relu/{tag_name(name)}")
        return tags

    def log_gradcam(self, step: int, probe_images: Any = None, target_class: Any = None) -> list[str]:
        """Write ``gradcam/<probe>``: Grad-CAM of ``cam_layer`` over each probe image, captioned with the
        class explained and its softmax probability. ``target_class`` overrides ``target_classes``."""
        return self._log_gradcam(_check_step(step), self._input(probe_images), target_class)

    def _log_gradcam(self, step: int, x: Any, target_class: Any = None) -> list[str]:
        if self._cam is None:
            self._cam = self.gradcam_class(self.model, self.cam_layer)
        target = self.target_classes if target_class is None else target_class
        x_np = self.backend.to_numpy(x)
        # GradCAM is a public entry point: it takes the input as a user holds it (channels-last for Keras)
        result = self._cam.compute(self.backend.user_tensor(self.model, x_np), target)
        tags = []
        for i, (name, image) in enumerate(zip(self._names(len(x_np)), self._displays(x_np))):
            cls = int(result.targets[i]) if result.targets is not None else None
            label = (
                "score"
                if cls is None
                else (self.class_names[cls] if self.class_names and cls < len(self.class_names) else f"class {cls}")
            )
            caption = f"Grad-CAM '{result.layer_name}': {label}"
            if cls is not None and result.outputs.ndim == 2:
                z = result.outputs[i].astype(np.float64)
                p = np.exp(z - z.max())
                caption += f" (p={p[cls] / p.sum():.2f})"
            self.writer.image(f"gradcam/{name}", captioned(overlay(image, result.heatmaps[i]), caption), step)
            tags.append(f"gradcam/{name}")
        return tags

    def log_structure(self, step: int = 0, probe_images: Any = None) -> list[str]:
        """Write ``structure``: the layer table (output shapes, parameters, receptive fields) as Markdown."""
        return self._log_structure(_check_step(step), self._input(probe_images))

    def _log_structure(self, step: int, x: Any) -> list[str]:
        first = self.backend.user_tensor(self.model, self.backend.to_numpy(x)[:1])
        s = model_structure(self.backend, self.facts, self.model, first)
        self.writer.text("structure", s.to_markdown(), step)
        return ["structure"]

    def log_graph(self, probe_images: Any = None) -> bool:
        """Write the model's graph (PyTorch with ``writer='tensorboardx'``, traced on the first probe image).

        Returns ``False`` where no graph can be written: tensorboardX builds graphs with
        ``torch.jit.trace`` only, and VisualDL's graph export fails on Paddle 3; :meth:`log_structure`
        gives the layer table instead.
        """
        return self._log_graph(self._input(probe_images))

    def _log_graph(self, x: Any) -> bool:
        if not isinstance(self.writer, TensorboardXWriter):
            logger.info("log_graph: the %s writer gets no graph", type(self.writer).__name__)
            return False
        written = self.facts.write_graph(self.writer.raw, self.model, x[:1])
        if not written:
            logger.info(
                "log_graph: %s models have no graph TensorBoard can read; see the 'structure' text", self.facts.name
            )
        return written

    def log_epoch(self, epoch: int, probe_images: Any = None, scalars: Mapping[str, float] | None = None) -> list[str]:
        """Everything at step ``epoch``: scalars, filters, weight histograms, feature maps, activation
        histograms, dead-ReLU shares and Grad-CAM; on the first call also the structure and the graph.
        Returns the tags written (the graph, which has none, is left out)."""
        step = _check_step(epoch)
        x = self._input(probe_images)
        tags = self.log_scalars(step, scalars or {})
        tags += self.log_filters(step)
        tags += self.log_weight_histograms(step)
        tags += self._log_outputs(step, x)
        tags += self._log_gradcam(step, x)
        if self._first_epoch:
            tags += self._log_structure(step, x)
            self._log_graph(x)
            self._first_epoch = False
        self.writer.flush()
        return tags

    def flush(self) -> None:
        """Write what is buffered to disk."""
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event files (the logger cannot be used afterwards)."""
        self.writer.close()


def _check_step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
        raise ValueError(f"step (epoch) must be an int >= 0; got {step!r}.")
    return int(step)


def _auto_depths(backend: Backend, model: Any, x: Any) -> list[str]:
    """Up to three layers at an early, a middle and a late resolution (the last layer of each)."""
    with backend.eval_mode(model):
        calls = backend.trace_outputs(model, x)
    counts: dict[str, int] = {}
    for name, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    by_res: dict[tuple[int, int], str] = {}
    for name, shape in calls:
        if shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1 and counts[name] == 1:
            by_res[shape[2], shape[3]] = name
    res = list(by_res)
    if not res:
        return []
    picks = [res[min(1, len(res) - 1)], res[len(res) // 2], res[-1]]
    return list(dict.fromkeys(by_res[r] for r in picks))
