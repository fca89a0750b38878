"""Gradient and perturbation saliency for Keras 3 models (definitions: :mod:`visualization.core.saliency`).

``VanillaGradient``, ``GradientXInput``, ``IntegratedGradients``, ``SmoothGrad`` (over any of the
gradient methods), ``GuidedBackprop``, ``Deconvolution``, ``GuidedGradCAM`` and ``Occlusion``; each has
``compute`` (a :class:`SaliencyResult`), ``generate_saliency`` (maps in ``[0, 1]``) and
``visualize_saliency`` (a matplotlib figure).

Inputs are channels-last, as Keras holds images: a numpy array or ``tf.Tensor`` of shape
``(N, H, W, C)`` or ``(H, W, C)``; an array ``baseline`` (Integrated Gradients, Occlusion) is
channels-last too (``(H, W, C)``, ``(N, H, W, C)`` or anything that broadcasts to them). The
attributions come back in the toolkit's one layout, channels-first ``(N, C, H, W)``, and the maps
``(N, H, W)``, so they compare directly with the PyTorch and Paddle results.

Example:
    >>> import numpy as np
    >>> from visualization.keras.saliency import IntegratedGradients, SmoothGrad
    >>> from visualization.keras.models import CatDogCNN
    >>> model = CatDogCNN(image_size=32)
    >>> sg = SmoothGrad(IntegratedGradients(model, n_steps=8), n_samples=4, seed=0)
    >>> x = np.random.rand(1, 32, 32, 3).astype("float32")   # channels last
    >>> sg.generate_saliency(x, target_class=0).shape
    (32, 32)
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..core import saliency as _core
from ..core.docs import for_framework
from ..core.image import resize_bilinear
from ._backend import BACKEND, nhwc
from ._saliency_backend import SALIENCY_BACKEND
from .cam_visualizer import GradCAM

__all__ = [
    "Deconvolution",
    "GradientXInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "IntegratedGradients",
    "Occlusion",
    "SaliencyResult",
    "SmoothGrad",
    "VanillaGradient",
]

SaliencyResult = _core.SaliencyResult


def _channels_last_doc(doc: str | None) -> str:
    """The Keras docstring, whose array baselines are channels-last."""
    text = for_framework(doc, "keras")
    return re.sub(
        r"broadcastable to ``\(C, H, W\)``(\s+)or ``\(N, C, H, W\)``",
        r"broadcastable to ``(H, W, C)``\1or ``(N, H, W, C)`` (channels last, as the input)",
        text,
    )


def channels_first_baseline(baseline: Any) -> Any:
    """A channels-last baseline (number, ``(..., H, W, C)`` array or tensor) in the core's channels-first
    layout, with the same broadcasting: ``(C,)`` stays one value per channel, ``(H, W, C)`` becomes
    ``(C, H, W)``, ``(N, H, W, C)`` becomes ``(N, C, H, W)``. Numbers pass unchanged."""
    if BACKEND.is_tensor(baseline):
        baseline = BACKEND.to_numpy(baseline)
    if isinstance(baseline, (int, float, np.number)) or baseline is None:
        return baseline
    b = np.asarray(baseline, dtype=np.float32)
    if b.ndim == 0 or b.ndim > 4:
        return b  # the core's check reports a shape that fits nothing
    if b.ndim == 4:
        return np.ascontiguousarray(b.transpose(0, 3, 1, 2))
    b = b.reshape((1,) * (3 - b.ndim) + b.shape)
    return np.ascontiguousarray(b.transpose(2, 0, 1))


class VanillaGradient(_core.VanillaGradient):
    __doc__ = for_framework(_core.VanillaGradient.__doc__, "keras")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class GradientXInput(_core.GradientXInput):
    __doc__ = for_framework(_core.GradientXInput.__doc__, "keras")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class IntegratedGradients(_core.IntegratedGradients):
    __doc__ = _channels_last_doc(_core.IntegratedGradients.__doc__)
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND

    def __init__(
        self,
        model: Any,
        baseline: Any = 0.0,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(model, channels_first_baseline(baseline), n_steps, method, internal_batch_size, progress)


class SmoothGrad(_core.SmoothGrad):
    __doc__ = for_framework(_core.SmoothGrad.__doc__, "keras")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class GuidedBackprop(_core.GuidedBackprop):
    __doc__ = for_framework(_core.GuidedBackprop.__doc__, "keras")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class Deconvolution(_core.Deconvolution):
    __doc__ = for_framework(_core.Deconvolution.__doc__, "keras")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class GuidedGradCAM(_core.GuidedGradCAM):
    __doc__ = for_framework(_core.GuidedGradCAM.__doc__, "keras")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND
    cam_class = GradCAM

    def _attribute(
        self, points: Any, target: Any, rows: np.ndarray | None = None, n: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        # The Grad-CAM part goes through GradCAM's public compute, which takes channels-last input.
        cam = self.cam.compute(nhwc(points), target)
        gp = self._gradients(points, cam.targets if cam.targets is not None else target)
        size = (int(gp.gradients.shape[-2]), int(gp.gradients.shape[-1]))
        resize = resize_bilinear if self.interpolate_mode == "bilinear" else _core.resize_nearest
        return gp.gradients * resize(cam.raw, size)[:, None], cam.outputs, cam.targets


class Occlusion(_core.Occlusion):
    __doc__ = _channels_last_doc(_core.Occlusion.__doc__)
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND

    def __init__(
        self,
        model: Any,
        window: Any = (15, 15),
        stride: Any = (8, 8),
        baseline: Any = 0.0,
        batch_size: int = 32,
        progress: bool = False,
    ) -> None:
        super().__init__(model, window, stride, channels_first_baseline(baseline), batch_size, progress)
