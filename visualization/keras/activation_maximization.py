"""Activation maximization for Keras 3 models: ``ActivationMaximization`` (class logits, channels, neurons).

Layers are named as in :mod:`visualization.keras` (Keras layer names, nested ones by dotted path); a
channel is the last axis of a Keras feature map. ``result.image`` is ``(H, W, 3)`` in ``[0, 1]`` and
``result.input`` the channels-first ``(3, H, W)`` model input, as in PyTorch and Paddle.

Example:
    >>> import keras
    >>> from visualization.keras.activation_maximization import ActivationMaximization
    >>> model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3), keras.layers.ReLU(),
    ...                           keras.layers.Conv2D(2, 3, name="top")])
    >>> result = ActivationMaximization(model, image_size=16).maximize("top", channel=1, steps=5)
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
    __doc__ = for_framework(_core.ActivationMaximization.__doc__, "keras")
    backend = BACKEND
