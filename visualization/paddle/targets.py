"""Targets for PaddlePaddle models: class logit, softmax probability, segmentation mask, detection box.

Pass one as ``target_class`` to any CAM method (one object for the batch or a list, one per sample);
what each one scores is in :mod:`visualization.core.score_targets`.

Example:
    >>> import paddle
    >>> from visualization.paddle.cam_visualizer import GradCAM
    >>> from visualization.paddle.targets import SoftmaxTarget
    >>> model = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.ReLU(),
    ...                              paddle.nn.AdaptiveAvgPool2D(1), paddle.nn.Flatten(), paddle.nn.Linear(4, 2))
    >>> GradCAM(model, "0").generate_cam(paddle.rand([1, 3, 16, 16]), target_class=SoftmaxTarget(1)).shape
    (16, 16)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import paddle

from ..core import score_targets as _core
from ..core.docs import for_framework

__all__ = ["ClassifierOutputTarget", "DetectionBoxTarget", "SemanticSegmentationTarget", "SoftmaxTarget"]


class _PaddleOps(_core.TargetOps):
    def stack(self, scalars: Sequence[Any]) -> Any:
        return paddle.stack(list(scalars))

    def softmax(self, logits: Any) -> Any:
        return paddle.nn.functional.softmax(logits, axis=0)

    def like(self, array: np.ndarray, tensor: Any) -> Any:
        return paddle.to_tensor(array, dtype=tensor.dtype, place=tensor.place)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return tensor.detach().cpu().numpy()


OPS = _PaddleOps()


class ClassifierOutputTarget(_core.ClassifierOutputTarget):
    __doc__ = for_framework(_core.ClassifierOutputTarget.__doc__, "paddle")
    ops = OPS


class SoftmaxTarget(_core.SoftmaxTarget):
    __doc__ = for_framework(_core.SoftmaxTarget.__doc__, "paddle")
    ops = OPS


class SemanticSegmentationTarget(_core.SemanticSegmentationTarget):
    __doc__ = for_framework(_core.SemanticSegmentationTarget.__doc__, "paddle")
    ops = OPS


class DetectionBoxTarget(_core.DetectionBoxTarget):
    __doc__ = for_framework(_core.DetectionBoxTarget.__doc__, "paddle")
    ops = OPS
