"""Gradient and perturbation saliency for PaddlePaddle models (definitions: :mod:`visualization.core.saliency`).

``VanillaGradient``, ``GradientXInput``, ``IntegratedGradients``, ``SmoothGrad`` (over any of the
gradient methods), ``GuidedBackprop``, ``Deconvolution``, ``GuidedGradCAM`` and ``Occlusion``; each has
``compute`` (a :class:`SaliencyResult`), ``generate_saliency`` (maps in ``[0, 1]``) and
``visualize_saliency`` (a matplotlib figure).

Example:
    >>> import paddle
    >>> from visualization.paddle.saliency import IntegratedGradients, SmoothGrad
    >>> from visualization.paddle.models import CatDogCNN
    >>> model = CatDogCNN(image_size=32)
    >>> sg = SmoothGrad(IntegratedGradients(model, n_steps=8), n_samples=4, seed=0)
    >>> sg.generate_saliency(paddle.rand([1, 3, 32, 32]), target_class=0).shape
    (32, 32)
"""

from __future__ import annotations

from ..core import saliency as _core
from ..core.docs import for_framework
from ._backend import BACKEND
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


class VanillaGradient(_core.VanillaGradient):
    __doc__ = for_framework(_core.VanillaGradient.__doc__, "paddle")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class GradientXInput(_core.GradientXInput):
    __doc__ = for_framework(_core.GradientXInput.__doc__, "paddle")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class IntegratedGradients(_core.IntegratedGradients):
    __doc__ = for_framework(_core.IntegratedGradients.__doc__, "paddle")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class SmoothGrad(_core.SmoothGrad):
    __doc__ = for_framework(_core.SmoothGrad.__doc__, "paddle")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class GuidedBackprop(_core.GuidedBackprop):
    __doc__ = for_framework(_core.GuidedBackprop.__doc__, "paddle")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class Deconvolution(_core.Deconvolution):
    __doc__ = for_framework(_core.Deconvolution.__doc__, "paddle")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND


class GuidedGradCAM(_core.GuidedGradCAM):
    __doc__ = for_framework(_core.GuidedGradCAM.__doc__, "paddle")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND
    cam_class = GradCAM


class Occlusion(_core.Occlusion):
    __doc__ = for_framework(_core.Occlusion.__doc__, "paddle")
    backend = BACKEND
    saliency_backend = SALIENCY_BACKEND
