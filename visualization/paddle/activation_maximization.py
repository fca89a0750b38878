"""Activation maximization for PaddlePaddle models: ``ActivationMaximization`` (class logits, channels, neurons).

Example:
    >>> import paddle
    >>> from visualization.paddle.activation_maximization import ActivationMaximization
    >>> model = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.ReLU(), paddle.nn.Conv2D(4, 2, 3))
    >>> result = ActivationMaximization(model, image_size=16).maximize("2", channel=1, steps=5)
    >>> result.image.shape, float(result.image.min()) >= 0.0, float(result.image.max()) <= 1.0
    ((16, 16, 3), True, True)
"""

from __future__ import annotations

from ..core import activation_max as _core
from ..core.docs import for_framework
from ._actmax_backend import BACKEND

__all__ = ["ActivationMaximization", "MaximizationResult", "MaximizeSettings", "ObjectiveError"]

MaximizationResult = _core.MaximizationResult
MaximizeSettings = _core.MaximizeSettings
ObjectiveError = _core.ObjectiveError


class ActivationMaximization(_core.ActivationMaximization):
    __doc__ = for_framework(_core.ActivationMaximization.__doc__, "paddle")
    backend = BACKEND
