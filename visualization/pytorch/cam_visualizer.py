"""Class activation maps for PyTorch models: ``GradCAM``, ``GradCAMPlusPlus``, ``ScoreCAM``, ``compare_cam_methods``.

Example:
    >>> import torch
    >>> from visualization.pytorch.cam_visualizer import GradCAM
    >>> from visualization.pytorch.models import CatDogCNN
    >>> model = CatDogCNN(image_size=32)
    >>> GradCAM(model, model.conv3).generate_cam(torch.rand(1, 3, 32, 32), target_class=0).shape
    (32, 32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core import cam as _core
from ..core.docs import for_framework
from ._backend import BACKEND

__all__ = ["CAMResult", "GradCAM", "GradCAMPlusPlus", "ScoreCAM", "compare_cam_methods"]

CAMResult = _core.CAMResult


class GradCAM(_core.GradCAM):
    __doc__ = for_framework(_core.GradCAM.__doc__, "torch")
    backend = BACKEND


class GradCAMPlusPlus(_core.GradCAMPlusPlus):
    __doc__ = for_framework(_core.GradCAMPlusPlus.__doc__, "torch")
    backend = BACKEND


class ScoreCAM(_core.ScoreCAM):
    __doc__ = for_framework(_core.ScoreCAM.__doc__, "torch")
    backend = BACKEND


def compare_cam_methods(
    model: Any,
    target_layer: Any,
    input_tensor: Any,
    original_image: Any = None,
    target_class: Any = None,
    methods: Sequence[type[_core.BaseCAM]] | None = None,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    class_names: Sequence[str] | None = None,
    max_images: int = 4,
) -> Any:
    """One figure with the CAM methods side by side (one row per image, up to ``max_images``).

    ``methods`` defaults to ``[GradCAM, GradCAMPlusPlus, ScoreCAM]``; each explains ``target_class``
    (``None``: the predicted class) at ``target_layer``. Returns a matplotlib ``Figure``.

    Example:
        >>> import torch
        >>> from visualization.pytorch.models import CatDogCNN
        >>> model = CatDogCNN(image_size=32)
        >>> fig = compare_cam_methods(model, "conv3", torch.rand(1, 3, 32, 32))
        >>> [ax.get_title() for ax in fig.axes[1:4]]
        ['Grad-CAM', 'Grad-CAM++', 'Score-CAM']
    """
    return _core.compare_cams(
        list(methods) if methods is not None else [GradCAM, GradCAMPlusPlus, ScoreCAM],
        model,
        target_layer,
        input_tensor,
        original_image,
        target_class,
        alpha=alpha,
        cmap=cmap,
        class_names=class_names,
        max_images=max_images,
    )
