"""Filters, feature maps and gradients of Keras 3 models: ``CNNLayerVisualizer``.

Inputs are channels-last, ``(N, H, W, C)`` or ``(H, W, C)`` numpy arrays or ``tf.Tensor``. What comes
back is in the toolkit's one layout, as from the PyTorch and Paddle visualizers: filters
``(C_out, C_in, kh, kw)``, feature maps and gradients ``(N, C, h, w)``. Layers are named by their Keras
names (a nested model's layers by dotted path, ``"backbone.conv2"``); subclassed models work too, since
a layer's output is read through its call, not through ``layer.output``.

Example (the intermediate-model recipe of the Keras tutorials, and the same maps from the visualizer):
    >>> import keras
    >>> import numpy as np
    >>> from visualization.keras.layer_visualizer import CNNLayerVisualizer
    >>> from visualization.keras.models import CatDogCNN
    >>> model = CatDogCNN(image_size=32)
    >>> x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    >>> probe = keras.Model(model.input, model.get_layer("conv2").output)
    >>> maps = CNNLayerVisualizer(model).get_feature_maps(x, "conv2")
    >>> maps.shape, probe(x).shape
    ((2, 64, 16, 16), TensorShape([2, 16, 16, 64]))
    >>> bool(np.allclose(maps, np.transpose(probe(x), (0, 3, 1, 2)), atol=1e-6))
    True
"""

from __future__ import annotations

from ..core import layer_viz as _core
from ..core.docs import for_framework
from ._backend import BACKEND

__all__ = ["CNNLayerVisualizer", "GradientResult"]

GradientResult = _core.GradientResult


class CNNLayerVisualizer(_core.CNNLayerVisualizer):
    __doc__ = for_framework(_core.CNNLayerVisualizer.__doc__, "keras")
    backend = BACKEND
