"""The class-activation-map template shared by every framework.

One call runs: capture (forward, and backward to the target layer only when the method needs
gradients) -> channel weights (a formula of :mod:`~visualization.core.cam_math`) -> weighted sum
over channels -> ReLU -> bilinear upsampling to the input size -> min-max normalization per image.

The framework-specific classes (``visualization.pytorch.cam_visualizer.GradCAM`` and the Paddle
twin) subclass these and only bind a :class:`~visualization.core.backend.Backend`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from . import augment, cam_math, outputs, tokens
from .backend import Backend, Capture, shape_text
from .errors import LayerOutputError, TargetError
from .image import normalize_maps, resize_bilinear
from .layers import resolve_layer
from .score_targets import normalize_target
from .targets import resolve_indices

logger = logging.getLogger("visualization")


@dataclass(frozen=True)
class CAMResult:
    """Everything one CAM computation produced, for users who want more than the heatmap.

    Attributes:
        method: the method's name, e.g. ``"Grad-CAM"``.
        layer_name: dotted name of the target layer (``"a + b"`` when several layers are fused).
        heatmaps: ``(N, H, W)`` maps at input resolution, each min-max normalized to ``[0, 1]``.
        raw: ``(N, h, w)`` maps at the layer's resolution after ReLU, before upsampling and
            normalization (for fused layers: the fused map at input resolution before normalization).
        weights: ``(N, C)`` channel weights, or ``(N, C, h, w)`` for methods that weigh every position
            (LayerCAM, HiResCAM, Eigen-Grad-CAM); all ones for Eigen-CAM (it weighs nothing: the map
            is a projection of the activations); ``None`` for fused layers (see ``layers``).
        targets: ``(N,)`` class index explained for each sample (``None`` for callable targets).
        outputs: the model's outputs for the unmodified input, ``(N, K)`` for a classifier.
        layers: the per-layer results that were fused (empty for one layer).
    """

    method: str
    layer_name: str
    heatmaps: np.ndarray
    raw: np.ndarray
    weights: np.ndarray | None
    targets: np.ndarray | None
    outputs: np.ndarray
    layers: tuple[CAMResult, ...] = ()


def _spatial_calls(backend: Backend, model: Any, x: Any) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` of every layer call with a spatial ``(N, C, h, w)`` output (``h * w > 1``), in the
    order in which the calls finished; layers that run more than once per forward pass are left out."""
    with backend.eval_mode(model):  # a traced forward in train mode would update BatchNorm statistics
        calls = [(n, s) for n, s in backend.trace_outputs(model, x) if s is not None and len(s) == 4]
    counts: dict[str, int] = {}
    for name, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    # h * w == 1 (a global pooling kept 4-D) has no spatial extent to explain
    return [(n, s) for n, s in calls if counts[n] == 1 and s[2] * s[3] > 1]


def auto_layer(backend: Backend, model: Any, x: Any) -> tuple[str, Any]:
    """The last layer (in execution order) whose output is a 4-D ``(N, C, h, w)`` tensor; for a model
    that ends in transformer blocks, the norm layer of the last block (:func:`tokens.transformer_layer`).

    Layers that run more than once per forward pass (a shared pooling module, say) are skipped:
    their output is ambiguous; so are ``1 x 1`` outputs (a global pooling kept 4-D).
    """
    size = (int(x.shape[-2]), int(x.shape[-1]))
    with backend.eval_mode(model):
        calls = backend.trace_outputs(model, x)
    counts: dict[str, int] = {}
    for name, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    chosen = tokens.transformer_layer([(n, s) for n, s in calls if counts[n] == 1], size)
    if chosen is not None:
        shape = dict(calls)[chosen]
        logger.info(
            "target_layer=None: the model ends in transformer blocks; using %r, the first norm layer of the last "
            "block (output %s; the norm after the last block feeds the head only through the pooled or class "
            "token, so its patch tokens get little or no gradient)",
            chosen,
            shape_text(shape) if shape else "?",
        )
        return resolve_layer(backend.named_layers(model), chosen)
    spatial = _spatial_calls(backend, model, x)
    if not spatial:
        raise LayerOutputError(
            "target_layer=None asks for the last layer with a spatial (N, C, h, w) output, but no "
            "sub-layer of this model produces one for this input. Pass the target layer explicitly."
        )
    heads = _prediction_heads(backend, model, x, spatial)
    if heads:
        spatial = spatial[: -len(heads)]
        name, shape = spatial[-1]
        logger.info(
            "target_layer=None: a dense-prediction model; using %r (output %s), the last layer before its "
            "prediction heads %s",
            name,
            shape_text(shape),
            [n for n, _ in heads],
        )
        return resolve_layer(backend.named_layers(model), name)
    if isinstance(model, outputs.SelectedOutput):
        spatial = _on_the_path(backend, model, x, spatial)
    name, shape = spatial[-1]
    logger.info("target_layer=None: using %r, the last layer with a spatial output %s", name, shape_text(shape))
    return resolve_layer(backend.named_layers(model), name)


def _on_the_path(
    backend: Backend, model: Any, x: Any, spatial: list[tuple[str, tuple[int, ...]]], tries: int = 8
) -> list[tuple[str, tuple[int, ...]]]:
    """``spatial`` without the trailing layers the selected output does not depend on (an auxiliary
    head that runs after the main branch, as in Paddle's GoogLeNet): each is checked, from the end,
    with one gradient capture of the predicted class's score."""
    import warnings

    named = dict(backend.named_layers(model))
    for keep in range(len(spatial), max(0, len(spatial) - tries), -1):
        name = spatial[keep - 1][0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cap = backend.capture(model, x, name, named[name], None, True)
        except Exception:  # not a class-score output: keep the plain rule
            return spatial
        if cap.gradients is not None and np.any(cap.gradients):
            if keep < len(spatial):
                logger.info(
                    "target_layer=None: %s do not reach the selected output (no gradient); skipped",
                    [n for n, _ in spatial[keep:]],
                )
            return spatial[:keep]
    return spatial


def _prediction_heads(
    backend: Backend, model: Any, x: Any, spatial: list[tuple[str, tuple[int, ...]]]
) -> list[tuple[str, tuple[int, ...]]]:
    """For a dense-prediction model (its output is not an ``(N, K)`` tensor: a segmentation map, detections):
    the trailing spatial layers that narrow the channels to at most half the width of the three layers
    before them (per-class logits, box regressions), which explain little beyond themselves; ``[]``
    for a classifier."""
    try:
        if backend.predict(model, x).ndim == 2:
            return []
    except Exception:  # a tuple, list or dict output: not a plain classifier
        pass
    keep = len(spatial)
    # a head narrows to the classes or the box coordinates: under half the width of the layers just before
    while keep > 1 and 2 * spatial[keep - 1][1][1] <= max(s[1] for _, s in spatial[max(0, keep - 4) : keep - 1]):
        keep -= 1
    return spatial[keep:]


def check_spatial_extent(backend: Backend, model: Any, x: Any, captures: Sequence[Capture]) -> None:
    """Raise :class:`LayerOutputError` if a captured layer's output is ``1 x 1``.

    Such a layer (a global pooling kept 4-D, say) has no spatial extent: every CAM of it is one value
    per image, which min-max normalization turns into an all-zero heatmap. The message names the last
    layer with a spatial output that ran before it (found with one extra traced forward pass, only
    on this error path). Maps of ``2 x 2`` and larger are legitimate and pass.
    """
    for cap in captures:
        shape = cap.activations.shape
        if shape[2] * shape[3] != 1:
            continue
        calls = backend.trace_outputs(model, x)
        end = next((i for i, (n, _) in enumerate(calls) if n == cap.layer_name), len(calls))
        before = {n for n, _ in calls[:end]}
        earlier = [(n, s) for n, s in _spatial_calls(backend, model, x) if n in before and n != cap.layer_name]
        if earlier:
            prev, prev_shape = earlier[-1]
            hint = (
                f"The last layer with a spatial output before it is {prev!r} (output {shape_text(prev_shape)}): "
                f"pass target_layer={prev!r}, or target_layer=None to pick the last spatial layer automatically."
            )
        else:
            hint = "No layer before it has a spatial output; choose a convolutional layer of a larger input."
        raise LayerOutputError(
            f"Layer {cap.layer_name!r} has no spatial extent: its output {shape_text(shape)} is 1 x 1 (h x w), "
            "so a class activation map of it is one number per image (an all-zero heatmap after "
            f"normalization). {hint}"
        )


class BaseCAM:
    """Template of a class activation map; subclasses define :meth:`channel_weights`.

    Args:
        model: the network (a ``torch.nn.Module`` or ``paddle.nn.Layer``, per adapter).
        target_layer: the layer object, its dotted name (``'conv3'``, ``'layer4.1'``), a list of
            those (their maps are fused, see below) or ``None`` for the last layer with a spatial
            output (chosen on the first call and logged).
        aug_smooth: average the maps of six views of the input (horizontal flip x zoom 0.9 / 1 / 1.1,
            each mapped back; :mod:`visualization.core.augment`). Six times the cost; steadier maps.
        eigen_smooth: replace the weighted channel sum by the first principal component of the
            weighted activations (:func:`~visualization.core.cam_math.eigen_projection`, centred, as
            pytorch-grad-cam defines this option), which drops the components that vary from channel
            to channel (noise).
        reshape_transform: how a token layer's output becomes ``(N, C, h, w)`` maps: ``None`` (decided
            from its shape and the input size, logged), ``"vit"``, ``"swin"`` or a callable
            (:mod:`visualization.core.tokens`).
        output: for a model that returns a tuple, list or dict: the key, the index or a callable that
            picks the part the target scores (:mod:`visualization.core.outputs`).

    Both options can also be given per call (``compute(x, aug_smooth=True)``). With several target
    layers one forward (and one backward) pass serves all of them; each layer's map is upsampled and
    normalized, then the maps are fused (:func:`~visualization.core.cam_math.fuse_maps`: their mean,
    or LayerCAM's tanh-scaled maximum for :class:`LayerCAM`).

    The model is run in eval mode during a call and every sub-layer's train/eval flag is restored
    afterwards. The captured activation is the layer's own output, as returned by its ``forward``:
    when an in-place activation such as ``ReLU(inplace=True)`` follows the layer, maps and gradients
    are those of the pre-activation output (the in-place op runs on a copy).
    """

    backend: ClassVar[Backend]
    #: Human-readable method name used in figure titles.
    method_name: ClassVar[str] = "CAM"
    #: Whether :meth:`channel_weights` needs ``d score / d activations``.
    needs_gradients: ClassVar[bool] = True
    #: How the maps of several target layers are fused (see :func:`cam_math.fuse_maps`).
    fusion: ClassVar[str] = "mean"

    def __init__(
        self,
        model: Any,
        target_layer: Any = None,
        *,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
        reshape_transform: Any = None,
        output: Any = None,
    ) -> None:
        self.backend.check_model(model)
        self.model = model
        self.aug_smooth = bool(aug_smooth)
        self.eigen_smooth = bool(eigen_smooth)
        #: Centre before the principal component (``eigen_projection``); EigenCAM / EigenGradCAM's ``center``.
        self.eigen_center = True
        self.reshape_transform = tokens.check_reshape(reshape_transform)
        self.output = outputs.check_output_spec(output)
        self._layouts: dict[tuple[str, tuple[int, ...]], tokens.TokenLayout] = {}
        self.target_layers: list[tuple[str, Any]] = []
        if target_layer is not None:
            items = list(target_layer) if isinstance(target_layer, (list, tuple)) else [target_layer]
            if not items:
                raise ValueError("target_layer is an empty list; pass a layer, a dotted name, a list of them or None.")
            named = self.backend.named_layers(model)
            self.target_layers = [resolve_layer(named, item) for item in items]
            names = [n for n, _ in self.target_layers]
            if len(set(names)) != len(names):
                raise ValueError(f"target_layer lists a layer twice: {names}; list each layer once.")

    @property
    def _net(self) -> Any:
        """The model, its output passed through ``output`` (:func:`outputs.wrap`)."""
        return outputs.wrap(self.model, self.output)

    @property
    def target_layer_name(self) -> str | None:
        """Dotted name of the target layer (``"a + b"`` for several), ``None`` until chosen."""
        return " + ".join(n for n, _ in self.target_layers) or None

    @property
    def target_layer(self) -> Any:
        """The target layer object (a list of them for several), ``None`` until chosen."""
        if not self.target_layers:
            return None
        layers = [layer for _, layer in self.target_layers]
        return layers[0] if len(layers) == 1 else layers

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target_layer={self.target_layer_name!r})"

    # ------------------------------------------------------------------ steps
    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        """``(N, C)`` weights of the captured channels, or ``(N, C, h, w)`` weights of every position."""
        raise NotImplementedError

    def compute(
        self, x: Any, target_class: Any = None, *, aug_smooth: bool | None = None, eigen_smooth: bool | None = None
    ) -> CAMResult:
        """Run the method on a batch and return a :class:`CAMResult` with every intermediate.

        ``target_class`` is ``None`` (the predicted class), an int, one int per sample, or a callable
        mapping the model's outputs to one score per sample. ``aug_smooth`` / ``eigen_smooth``
        override the constructor's choice for this call.
        """
        return self.compute_many(x, [target_class], aug_smooth=aug_smooth, eigen_smooth=eigen_smooth)[0]

    def compute_many(
        self,
        x: Any,
        targets: Sequence[Any],
        *,
        aug_smooth: bool | None = None,
        eigen_smooth: bool | None = None,
    ) -> list[CAMResult]:
        """One :class:`CAMResult` per entry of ``targets`` (each as in :meth:`compute`), sharing
        whatever work the method can share (Score-CAM runs its masked inputs once for all of them)."""
        if isinstance(targets, (str, bytes)) or not isinstance(targets, Sequence) or not targets:
            raise TargetError(f"targets must be a non-empty list of targets (one per map wanted); got {targets!r}.")
        aug = self.aug_smooth if aug_smooth is None else bool(aug_smooth)
        eigen = self.eigen_smooth if eigen_smooth is None else bool(eigen_smooth)
        targets = [normalize_target(t) for t in targets]
        xt = self.backend.prepare_input(self.model, x)
        with self.backend.eval_mode(self.model):
            if not self.target_layers:
                self.target_layers = [auto_layer(self.backend, self._net, xt)]
            if aug:
                return self._augmented(xt, targets, eigen)
            return self._compute_fused(xt, targets, eigen)

    def _compute_fused(self, xt: Any, targets: Sequence[Any], eigen: bool) -> list[CAMResult]:
        return [self._fuse(per_layer) for per_layer in self._compute_prepared(xt, targets, eigen)]

    def _compute_prepared(self, xt: Any, targets: Sequence[Any], eigen: bool) -> list[list[CAMResult]]:
        """``[target][layer]`` results; the default runs one capture per target for all layers."""
        out = []
        for target in targets:
            caps = self._capture(xt, target, self.needs_gradients)
            out.append([self._finish(xt, cap, self.channel_weights(cap, xt), eigen) for cap in caps])
        return out

    def _capture(self, xt: Any, target: Any, need_grad: bool) -> list[Capture]:
        """One :meth:`Backend.capture_many` pass over every target layer; a ``1 x 1`` layer is refused
        (:func:`check_spatial_extent`). Every method captures through here."""
        names = [n for n, _ in self.target_layers]
        layers = [layer for _, layer in self.target_layers]
        caps = [
            self._as_maps(xt, cap) for cap in self.backend.capture_many(self._net, xt, names, layers, target, need_grad)
        ]
        check_spatial_extent(self.backend, self._net, xt, caps)
        return caps

    def _layout(self, xt: Any, name: str, raw_shape: tuple[int, ...]) -> tokens.TokenLayout:
        """The layer's :class:`~visualization.core.tokens.TokenLayout` (decided once per layer and shape)."""
        key = (name, tuple(int(d) for d in raw_shape))
        if key not in self._layouts:
            size = (int(xt.shape[-2]), int(xt.shape[-1]))
            self._layouts[key] = tokens.resolve_layout(
                self.reshape_transform, key[1], size, name, self.backend, self.model
            )
        return self._layouts[key]

    def _as_maps(self, xt: Any, cap: Capture) -> Capture:
        """``cap`` with a token layer's activations and gradients as ``(N, C, h, w)`` maps (raw kept)."""
        layout = self._layout(xt, cap.layer_name, cap.activations.shape)
        if layout.kind == "nchw":
            return cap
        grads = None if cap.gradients is None else layout.to_nchw(cap.gradients, self.backend, self.model)
        return dataclasses.replace(
            cap,
            activations=layout.to_nchw(cap.activations, self.backend, self.model),
            gradients=grads,
            raw=cap.activations,
            owner=layout.owner(self.backend, self.model),
        )

    def _finish(self, xt: Any, cap: Capture, weights: np.ndarray, eigen: bool) -> CAMResult:
        weights = np.asarray(weights, dtype=np.float32)
        if eigen:
            w = weights[:, :, None, None] if weights.ndim == 2 else weights
            raw = cam_math.eigen_projection(w * cap.activations, center=self.eigen_center)
        elif weights.ndim == 2:
            raw = cam_math.weighted_sum(weights, cap.activations)
        else:
            raw = np.maximum((weights.astype(np.float64) * cap.activations).sum(axis=1), 0.0).astype(np.float32)
        size = tuple(int(d) for d in xt.shape[-2:])
        heatmaps = normalize_maps(resize_bilinear(raw, size))
        return CAMResult(self.method_name, cap.layer_name, heatmaps, raw, weights, cap.targets, cap.outputs)

    def _fuse(self, results: list[CAMResult]) -> CAMResult:
        if len(results) == 1:
            return results[0]
        stack = np.stack([r.heatmaps for r in results])
        fused = cam_math.fuse_maps(stack, self.fusion).astype(np.float32)
        first = results[0]
        return CAMResult(
            first.method,
            " + ".join(r.layer_name for r in results),
            normalize_maps(fused),
            fused,
            None,
            first.targets,
            first.outputs,
            tuple(results),
        )

    def _augmented(self, xt: Any, targets: Sequence[Any], eigen: bool) -> list[CAMResult]:
        # The class of each image is fixed on the unmodified input: a flipped or zoomed copy must
        # explain the same class, not whatever it happens to predict.
        scores = self.backend.predict(self._net, xt)
        fixed = [t if callable(t) else resolve_indices(t, scores) for t in targets]
        x_np = self.backend.to_numpy(xt)
        total: list[np.ndarray] = [np.zeros(x_np.shape[:1] + x_np.shape[2:]) for _ in targets]
        votes = np.zeros(x_np.shape[2:])
        base: list[CAMResult] = []
        for transform in augment.TRANSFORMS:
            xa = self.backend.from_numpy(self.model, transform.apply(x_np))
            results = self._compute_fused(xa, fixed, eigen)
            if not base:
                base = results  # TRANSFORMS starts with the identity
            for j, res in enumerate(results):
                back, valid = transform.invert(res.heatmaps.astype(np.float64))
                total[j] += back * valid
            votes += valid
        return [
            dataclasses.replace(res, heatmaps=normalize_maps((t / np.maximum(votes, 1e-12)).astype(np.float32)))
            for res, t in zip(base, total)
        ]

    def generate_cam(self, x: Any, target_class: Any = None, **options: Any) -> np.ndarray:
        """Heatmap(s) at input resolution in ``[0, 1]``: ``(H, W)`` for one image, ``(N, H, W)`` for a batch.

        One image means a 3-D ``(C, H, W)`` input or a batch of one. ``options``: ``aug_smooth``,
        ``eigen_smooth`` (as in :meth:`compute`).
        """
        heatmaps = self.compute(x, target_class, **options).heatmaps
        return heatmaps[0] if heatmaps.shape[0] == 1 else heatmaps

    def visualize_cam(
        self,
        x: Any,
        target_class: Any = None,
        original_image: Any = None,
        *,
        alpha: float = 0.5,
        cmap: str = "jet",
        class_names: Sequence[str] | None = None,
        sample: int = 0,
        **options: Any,
    ) -> Any:
        """Figure with three panels: the original image, the heatmap (with a colour bar) and the overlay.

        ``original_image`` is a PIL image or an RGB array (HWC or CHW, uint8 or float); without it the
        input itself is shown after min-max scaling. Only sample ``sample`` of a batch is drawn.
        ``options``: ``aug_smooth``, ``eigen_smooth``. Returns a matplotlib ``Figure``; nothing is shown.
        """
        from .plotting.figures import cam_figure, display_image_for

        result = self.compute(x, target_class, **options)
        _check_sample(sample, result.heatmaps.shape[0])
        image = display_image_for(self.backend, x, original_image, sample)
        return cam_figure(image, result, sample, alpha=alpha, cmap=cmap, class_names=class_names)


def _check_sample(sample: int, n: int) -> None:
    if not (isinstance(sample, int) and -n <= sample < n):
        raise IndexError(f"sample={sample!r} is not an index into a batch of {n} images (use 0..{n - 1}).")


def compare_cams(
    methods: Sequence[type[BaseCAM] | BaseCAM],
    model: Any,
    target_layer: Any,
    x: Any,
    original_image: Any = None,
    target_class: Any = None,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    class_names: Sequence[str] | None = None,
    max_images: int = 4,
) -> Any:
    """Shared body of the adapters' ``compare_cam_methods``: one row per image, one column per method.

    Each entry of ``methods`` is a CAM class (built on ``model`` and ``target_layer`` with default
    options) or a configured instance such as ``ScoreCAM(model, "layer4", top_k=64)`` (used as is,
    with its own target layer and options).
    """
    from .plotting.figures import cam_comparison_figure, display_image_for

    if not methods:
        raise ValueError("methods is empty; pass at least one CAM class or instance, e.g. [GradCAM, ScoreCAM].")
    cams = []
    for m in methods:
        if isinstance(m, BaseCAM):
            if m.model is not model:
                raise ValueError(f"{m!r} was built on another model; build it on the model passed here.")
            cams.append(m)
        elif isinstance(m, type) and issubclass(m, BaseCAM):
            cams.append(m(model, target_layer))
        else:
            raise TypeError(
                f"methods must hold CAM classes or instances (e.g. GradCAM or ScoreCAM(model, layer, top_k=32)); "
                f"got {m!r}."
            )
    results = [cam.compute(x, target_class) for cam in cams]
    n = min(results[0].heatmaps.shape[0], max_images)
    if original_image is not None and n > 1 and not isinstance(original_image, (list, tuple)):
        original_image = [original_image] + [None] * (n - 1)
    backend = cams[0].backend
    images = [
        display_image_for(
            backend, x, original_image[i] if isinstance(original_image, (list, tuple)) else original_image, i
        )
        for i in range(n)
    ]
    return cam_comparison_figure(images, results, alpha=alpha, cmap=cmap, class_names=class_names)
