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

from . import cam_math
from .backend import Backend, Capture, check_batch_size, shape_text
from .errors import LayerOutputError, TargetError
from .image import normalize_maps, resize_bilinear
from .layers import resolve_layer
from .targets import resolve_indices

logger = logging.getLogger("visualization")


@dataclass(frozen=True)
class CAMResult:
    """Everything one CAM computation produced, for users who want more than the heatmap.

    Attributes:
        method: the method's name, e.g. ``"Grad-CAM"``.
        layer_name: dotted name of the target layer.
        heatmaps: ``(N, H, W)`` maps at input resolution, each min-max normalized to ``[0, 1]``.
        raw: ``(N, h, w)`` maps at the layer's resolution after ReLU, before upsampling and normalization.
        weights: ``(N, C)`` channel weights.
        targets: ``(N,)`` class index explained for each sample (``None`` for callable targets).
        outputs: the model's outputs for the unmodified input, ``(N, K)`` for a classifier.
    """

    method: str
    layer_name: str
    heatmaps: np.ndarray
    raw: np.ndarray
    weights: np.ndarray
    targets: np.ndarray | None
    outputs: np.ndarray


def auto_layer(backend: Backend, model: Any, x: Any) -> tuple[str, Any]:
    """The last layer (in execution order) whose output is a 4-D ``(N, C, h, w)`` tensor.

    Layers that run more than once per forward pass (a shared pooling module, say) are skipped:
    their output is ambiguous; so are ``1 x 1`` outputs (a global pooling kept 4-D).
    """
    with backend.eval_mode(model):  # a traced forward in train mode would update BatchNorm statistics
        calls = [(n, s) for n, s in backend.trace_outputs(model, x) if s is not None and len(s) == 4]
    counts: dict[str, int] = {}
    for name, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    # h * w == 1 (a global pooling kept 4-D) has no spatial extent to explain
    spatial = [(n, s) for n, s in calls if counts[n] == 1 and s[2] * s[3] > 1]
    if not spatial:
        raise LayerOutputError(
            "target_layer=None asks for the last layer with a spatial (N, C, h, w) output, but no "
            "sub-layer of this model produces one for this input. Pass the target layer explicitly."
        )
    name, shape = spatial[-1]
    logger.info("target_layer=None: using %r, the last layer with a spatial output %s", name, shape_text(shape))
    return resolve_layer(backend.named_layers(model), name)


class BaseCAM:
    """Template of a class activation map; subclasses define :meth:`channel_weights`.

    Args:
        model: the network (a ``torch.nn.Module`` or ``paddle.nn.Layer``, per adapter).
        target_layer: the layer object, its dotted name (``'conv3'``, ``'layer4.1'``) or ``None`` for
            the last layer with a spatial output (chosen on the first call and logged).

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

    def __init__(self, model: Any, target_layer: Any = None) -> None:
        self.backend.check_model(model)
        self.model = model
        self.target_layer_name: str | None = None
        self.target_layer: Any = None
        if target_layer is not None:
            self.target_layer_name, self.target_layer = resolve_layer(self.backend.named_layers(model), target_layer)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target_layer={self.target_layer_name!r})"

    # ------------------------------------------------------------------ steps
    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        """``(N, C)`` weights of the captured channels (see subclasses for the formula)."""
        raise NotImplementedError

    def compute(self, x: Any, target_class: Any = None) -> CAMResult:
        """Run the method on a batch and return a :class:`CAMResult` with every intermediate.

        ``target_class`` is ``None`` (the predicted class), an int, one int per sample, or a callable
        mapping the model's outputs to one score per sample.
        """
        return self.compute_many(x, [target_class])[0]

    def compute_many(self, x: Any, targets: Sequence[Any]) -> list[CAMResult]:
        """One :class:`CAMResult` per entry of ``targets`` (each as in :meth:`compute`), sharing
        whatever work the method can share (Score-CAM runs its masked inputs once for all of them)."""
        if isinstance(targets, (str, bytes)) or not isinstance(targets, Sequence) or not targets:
            raise TargetError(f"targets must be a non-empty list of targets (one per map wanted); got {targets!r}.")
        xt = self.backend.prepare_input(self.model, x)
        with self.backend.eval_mode(self.model):
            if self.target_layer is None:
                self.target_layer_name, self.target_layer = auto_layer(self.backend, self.model, xt)
            return self._compute_prepared(xt, targets)

    def _compute_prepared(self, xt: Any, targets: Sequence[Any]) -> list[CAMResult]:
        out = []
        for target in targets:
            cap = self.backend.capture(
                self.model, xt, self.target_layer_name, self.target_layer, target, self.needs_gradients
            )
            out.append(self._finish(xt, cap, np.asarray(self.channel_weights(cap, xt), dtype=np.float32)))
        return out

    def _finish(self, xt: Any, cap: Capture, weights: np.ndarray) -> CAMResult:
        raw = cam_math.weighted_sum(weights, cap.activations)
        size = tuple(int(d) for d in xt.shape[-2:])
        heatmaps = normalize_maps(resize_bilinear(raw, size))
        return CAMResult(self.method_name, cap.layer_name, heatmaps, raw, weights, cap.targets, cap.outputs)

    def generate_cam(self, x: Any, target_class: Any = None) -> np.ndarray:
        """Heatmap(s) at input resolution in ``[0, 1]``: ``(H, W)`` for one image, ``(N, H, W)`` for a batch.

        One image means a 3-D ``(C, H, W)`` input or a batch of one.
        """
        heatmaps = self.compute(x, target_class).heatmaps
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
    ) -> Any:
        """Figure with three panels: the original image, the heatmap (with a colour bar) and the overlay.

        ``original_image`` is a PIL image or an RGB array (HWC or CHW, uint8 or float); without it the
        input itself is shown after min-max scaling. Only sample ``sample`` of a batch is drawn.
        Returns a matplotlib ``Figure``; nothing is shown.
        """
        from .plotting.figures import cam_figure, display_image_for

        result = self.compute(x, target_class)
        _check_sample(sample, result.heatmaps.shape[0])
        image = display_image_for(self.backend, x, original_image, sample)
        return cam_figure(image, result, sample, alpha=alpha, cmap=cmap, class_names=class_names)


def _check_sample(sample: int, n: int) -> None:
    if not (isinstance(sample, int) and -n <= sample < n):
        raise IndexError(f"sample={sample!r} is not an index into a batch of {n} images (use 0..{n - 1}).")


class GradCAM(BaseCAM):
    r"""Grad-CAM (Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391).

    .. math::
        w_k = \frac{1}{hw} \sum_{i,j} \frac{\partial S}{\partial A_k(i,j)}, \qquad
        L = \mathrm{ReLU}\Big(\sum_k w_k A_k\Big)

    with :math:`S` the target class's score before softmax and :math:`A` the target layer's output.
    Only the part of the network after the target layer is differentiated.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import GradCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> GradCAM(model, "0").generate_cam(torch.rand(1, 3, 16, 16), target_class=1).shape
        (16, 16)
    """

    method_name = "Grad-CAM"

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        assert capture.gradients is not None
        return cam_math.gradcam_weights(capture.gradients)


class GradCAMPlusPlus(BaseCAM):
    r"""Grad-CAM++ (Chattopadhyay et al., WACV 2018, https://arxiv.org/abs/1710.11063).

    .. math::
        \alpha_k(i,j) = \frac{g_k(i,j)^2}{2 g_k(i,j)^2 + \sum_{a,b} A_k(a,b)\, g_k(i,j)^3}, \quad
        w_k = \sum_{i,j} \alpha_k(i,j)\, \mathrm{ReLU}(g_k(i,j)), \quad
        L = \mathrm{ReLU}\Big(\sum_k w_k A_k\Big)

    with :math:`g = \partial S / \partial A` (the paper's Eq. 19 under its exponential-score trick).
    See :func:`visualization.core.cam_math.gradcampp_weights` for how torchcam's reading differs.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import GradCAMPlusPlus
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> GradCAMPlusPlus(model, "0").generate_cam(torch.rand(2, 3, 16, 16)).shape
        (2, 16, 16)
    """

    method_name = "Grad-CAM++"

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        assert capture.gradients is not None
        return cam_math.gradcampp_weights(capture.activations, capture.gradients)


class ScoreCAM(BaseCAM):
    r"""Score-CAM (Wang et al., CVPR-W 2020, https://arxiv.org/abs/1910.01279).

    .. math::
        M_k = \frac{U(A_k) - \min U(A_k)}{\max U(A_k) - \min U(A_k)}, \quad
        w_k = \mathrm{softmax}\big(f(x \odot M_k)\big)_c, \quad
        L = \mathrm{ReLU}\Big(\sum_k w_k A_k\Big)

    with :math:`U` bilinear upsampling to the input size and :math:`f` the model. This follows the
    authors' released code: the weight is the target class's softmax probability for the masked
    input, without subtracting a baseline and without a softmax across channels; constant maps get
    weight 0 and cost no forward pass. (torchcam 0.5.0 instead normalizes before upsampling and uses
    a softmax over channels of the masked logits.)

    Args:
        model: the network.
        target_layer: layer object, dotted name or ``None`` (auto).
        batch_size: masked inputs per forward pass (all of them run under no-grad).
        progress: show a tqdm progress bar over the batches.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import ScoreCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> ScoreCAM(model, "0", batch_size=8).generate_cam(torch.rand(1, 3, 16, 16), 0).shape
        (16, 16)
    """

    method_name = "Score-CAM"
    needs_gradients = False

    def __init__(self, model: Any, target_layer: Any = None, batch_size: int = 32, progress: bool = False) -> None:
        super().__init__(model, target_layer)
        self.batch_size = check_batch_size(batch_size)
        self.progress = bool(progress)

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        if capture.targets is None:
            raise TargetError(_SCORECAM_TARGETS)
        return self.backend.masked_scores(
            self.model, x, capture.activations, capture.targets[:, None], self.batch_size, self.progress
        )[:, 0]

    def _compute_prepared(self, xt: Any, targets: Sequence[Any]) -> list[CAMResult]:
        cap = self.backend.capture(self.model, xt, self.target_layer_name, self.target_layer, None, False)
        if any(callable(t) for t in targets):
            raise TargetError(_SCORECAM_TARGETS)
        idx = np.stack([resolve_indices(t, cap.outputs) for t in targets], axis=1)  # (N, T)
        scores = self.backend.masked_scores(self.model, xt, cap.activations, idx, self.batch_size, self.progress)
        return [
            self._finish(xt, dataclasses.replace(cap, targets=idx[:, j]), scores[:, j]) for j in range(len(targets))
        ]


_SCORECAM_TARGETS = (
    "Score-CAM weighs channels by the softmax probability of a class, so it needs class "
    "indices; a callable target_class is not supported. Pass None, an int or one int per sample."
)


def compare_cams(
    methods: Sequence[type[BaseCAM]],
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
    """Shared body of the adapters' ``compare_cam_methods``: one row per image, one column per method."""
    from .plotting.figures import cam_comparison_figure, display_image_for

    if not methods:
        raise ValueError("methods is empty; pass at least one CAM class, e.g. [GradCAM, ScoreCAM].")
    results = [m(model, target_layer).compute(x, target_class) for m in methods]
    n = min(results[0].heatmaps.shape[0], max_images)
    if original_image is not None and n > 1 and not isinstance(original_image, (list, tuple)):
        original_image = [original_image] + [None] * (n - 1)
    backend = methods[0].backend
    images = [
        display_image_for(
            backend, x, original_image[i] if isinstance(original_image, (list, tuple)) else original_image, i
        )
        for i in range(n)
    ]
    return cam_comparison_figure(images, results, alpha=alpha, cmap=cmap, class_names=class_names)
