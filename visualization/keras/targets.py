"""Targets for Keras 3 models: class logit, softmax probability, segmentation mask, detection box.

Pass one as ``target_class`` to any CAM or saliency method (one object for the batch or a list, one per
sample); what each one scores is in :mod:`visualization.core.score_targets`. A target reads the model's
output in the toolkit's layout: a segmentation model's ``(N, H, W, K)`` output reaches it channels-first,
so :class:`SemanticSegmentationTarget` reads class ``k``'s ``(H, W)`` plane with an ``(H, W)`` mask, as in
PyTorch and Paddle.

Example:
    >>> import keras
    >>> import numpy as np
    >>> from visualization.keras.cam_visualizer import GradCAM
    >>> from visualization.keras.targets import SoftmaxTarget
    >>> model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, name="conv"),
    ...                           keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    >>> x = np.random.rand(1, 16, 16, 3).astype("float32")   # channels last
    >>> GradCAM(model, "conv").generate_cam(x, target_class=SoftmaxTarget(1)).shape
    (16, 16)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from ..core import score_targets as _core
from ..core.docs import for_framework

__all__ = ["ClassifierOutputTarget", "DetectionBoxTarget", "SemanticSegmentationTarget", "SoftmaxTarget"]


class _KerasOps(_core.TargetOps):
    def stack(self, scalars: Sequence[Any]) -> Any:
        return tf.stack(list(scalars))

    def softmax(self, logits: Any) -> Any:
        return tf.nn.softmax(logits, axis=0)

    def like(self, array: np.ndarray, tensor: Any) -> Any:
        return tf.constant(np.asarray(array), dtype=tensor.dtype)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return np.array(tensor)

    def total(self, tensor: Any) -> Any:
        return tf.reduce_sum(tensor)


OPS = _KerasOps()


class ClassifierOutputTarget(_core.ClassifierOutputTarget):
    __doc__ = for_framework(_core.ClassifierOutputTarget.__doc__, "keras")
    ops = OPS


class SoftmaxTarget(_core.SoftmaxTarget):
    __doc__ = for_framework(_core.SoftmaxTarget.__doc__, "keras")
    ops = OPS


class SemanticSegmentationTarget(_core.SemanticSegmentationTarget):
    __doc__ = for_framework(_core.SemanticSegmentationTarget.__doc__, "keras")
    ops = OPS


class DetectionBoxTarget(_core.DetectionBoxTarget):
    __doc__ = for_framework(_core.DetectionBoxTarget.__doc__, "keras")
    ops = OPS
