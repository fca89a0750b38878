"""Targets for PyTorch models: class logit, softmax probability, segmentation mask, detection box.

Pass one as ``target_class`` to any CAM method (one object for the batch or a list, one per sample);
what each one scores is in :mod:`visualization.core.score_targets`.

Example:
    >>> import torch
    >>> from visualization.pytorch.cam_visualizer import GradCAM
    >>> from visualization.pytorch.targets import SoftmaxTarget
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> GradCAM(model, "0").generate_cam(torch.rand(1, 3, 16, 16), target_class=SoftmaxTarget(1)).shape
    (16, 16)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..core import score_targets as _core
from ..core.docs import for_framework

__all__ = ["ClassifierOutputTarget", "DetectionBoxTarget", "SemanticSegmentationTarget", "SoftmaxTarget"]


class _TorchOps(_core.TargetOps):
    def stack(self, scalars: Sequence[Any]) -> Any:
        return torch.stack(list(scalars))

    def softmax(self, logits: Any) -> Any:
        return torch.softmax(logits, dim=0)

    def like(self, array: np.ndarray, tensor: Any) -> Any:
        return torch.as_tensor(array, device=tensor.device, dtype=tensor.dtype)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return tensor.detach().cpu().numpy()


OPS = _TorchOps()


class ClassifierOutputTarget(_core.ClassifierOutputTarget):
    __doc__ = for_framework(_core.ClassifierOutputTarget.__doc__, "torch")
    ops = OPS


class SoftmaxTarget(_core.SoftmaxTarget):
    __doc__ = for_framework(_core.SoftmaxTarget.__doc__, "torch")
    ops = OPS


class SemanticSegmentationTarget(_core.SemanticSegmentationTarget):
    __doc__ = for_framework(_core.SemanticSegmentationTarget.__doc__, "torch")
    ops = OPS


class DetectionBoxTarget(_core.DetectionBoxTarget):
    __doc__ = for_framework(_core.DetectionBoxTarget.__doc__, "torch")
    ops = OPS
