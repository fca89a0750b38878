"""Filters, feature maps and gradients of Keras 3 models: ``CNNLayerVisualizer``."""

from __future__ import annotations

from ..core import layer_viz as _core
from ..core.docs import for_framework
from ._backend import BACKEND

__all__ = ["CNNLayerVisualizer", "GradientResult"]

GradientResult = _core.GradientResult


class CNNLayerVisualizer(_core.CNNLayerVisualizer):
    __doc__ = for_framework(_core.CNNLayerVisualizer.__doc__, "keras")
    backend = BACKEND
