"""Class activation maps for Keras 3 models (TensorFlow backend): the whole CAM family and ``compare_cam_methods``.

Gradient-based: ``GradCAM``, ``GradCAMPlusPlus``, ``XGradCAM``, ``LayerCAM``, ``HiResCAM``,
``EigenGradCAM``, ``SmoothGradCAMPlusPlus``; from the classifier's weights: ``CAM``; from the
activations alone: ``EigenCAM``; by perturbation: ``ScoreCAM`` (exact or fast ``top_k``) and
``AblationCAM``. Every class takes ``aug_smooth`` and ``eigen_smooth`` and one or several target
layers; the formulas are in each class's docstring (the framework-free core,
``visualization.core.cam_methods`` and ``visualization.core.cam_perturbation``).

Inputs are channels-last, ``(N, H, W, C)`` or ``(H, W, C)`` numpy arrays or ``tf.Tensor``; layers are
Keras layer names (dotted paths into nested models) or layer objects. Results are the same arrays as
on the PyTorch and Paddle sides: heatmaps ``(N, H, W)`` in [0, 1], raw maps ``(N, h, w)``, channel
weights ``(N, C)``; so the three frameworks' results compare directly.

Example:
    >>> import numpy as np
    >>> from visualization.keras.cam_visualizer import GradCAM
    >>> from visualization.keras.models import CatDogCNN
    >>> model = CatDogCNN(image_size=32)
    >>> x = np.random.rand(1, 32, 32, 3).astype("float32")   # channels last, as Keras holds images
    >>> GradCAM(model, model.get_layer("conv3")).generate_cam(x, target_class=0).shape
    (32, 32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core import cam as _core
from ..core import cam_methods as _methods
from ..core import cam_perturbation as _perturbation
from ..core.docs import for_framework
from ._backend import BACKEND

__all__ = [
    "CAM",
    "AblationCAM",
    "CAMResult",
    "EigenCAM",
    "EigenGradCAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "HiResCAM",
    "LayerCAM",
    "ScoreCAM",
    "SmoothGradCAMPlusPlus",
    "XGradCAM",
    "compare_cam_methods",
]

CAMResult = _core.CAMResult


class CAM(_methods.CAM):
    __doc__ = for_framework(_methods.CAM.__doc__, "keras")
    backend = BACKEND


class GradCAM(_methods.GradCAM):
    __doc__ = for_framework(_methods.GradCAM.__doc__, "keras")
    backend = BACKEND


class GradCAMPlusPlus(_methods.GradCAMPlusPlus):
    __doc__ = for_framework(_methods.GradCAMPlusPlus.__doc__, "keras")
    backend = BACKEND


class XGradCAM(_methods.XGradCAM):
    __doc__ = for_framework(_methods.XGradCAM.__doc__, "keras")
    backend = BACKEND


class LayerCAM(_methods.LayerCAM):
    __doc__ = for_framework(_methods.LayerCAM.__doc__, "keras")
    backend = BACKEND


class HiResCAM(_methods.HiResCAM):
    __doc__ = for_framework(_methods.HiResCAM.__doc__, "keras")
    backend = BACKEND


class EigenCAM(_methods.EigenCAM):
    __doc__ = for_framework(_methods.EigenCAM.__doc__, "keras")
    backend = BACKEND


class EigenGradCAM(_methods.EigenGradCAM):
    __doc__ = for_framework(_methods.EigenGradCAM.__doc__, "keras")
    backend = BACKEND


class SmoothGradCAMPlusPlus(_methods.SmoothGradCAMPlusPlus):
    __doc__ = for_framework(_methods.SmoothGradCAMPlusPlus.__doc__, "keras")
    backend = BACKEND


class ScoreCAM(_perturbation.ScoreCAM):
    __doc__ = for_framework(_perturbation.ScoreCAM.__doc__, "keras")
    backend = BACKEND


class AblationCAM(_perturbation.AblationCAM):
    __doc__ = for_framework(_perturbation.AblationCAM.__doc__, "keras")
    backend = BACKEND


def compare_cam_methods(
    model: Any,
    target_layer: Any,
    input_tensor: Any,
    original_image: Any = None,
    target_class: Any = None,
    methods: Sequence[type[_core.BaseCAM] | _core.BaseCAM] | None = None,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    class_names: Sequence[str] | None = None,
    max_images: int = 4,
) -> Any:
    """One figure with CAM methods side by side (one row per image, up to ``max_images``).

    ``methods`` is a list of CAM classes of this module (built on ``model`` and ``target_layer``)
    and/or configured instances (``ScoreCAM(model, "conv3", top_k=16)``, ``GradCAM(model, "conv3",
    aug_smooth=True)``); it defaults to ``[GradCAM, GradCAMPlusPlus, ScoreCAM]``. Each explains
    ``target_class`` (``None``: the predicted class). Returns a matplotlib ``Figure``.

    Example:
        >>> import numpy as np
        >>> from visualization.keras.models import CatDogCNN
        >>> model = CatDogCNN(image_size=32)
        >>> x = np.random.rand(1, 32, 32, 3).astype("float32")
        >>> fig = compare_cam_methods(model, "conv3", x, methods=[GradCAM, XGradCAM, LayerCAM])
        >>> [ax.get_title() for ax in fig.axes[1:4]]
        ['Grad-CAM', 'XGrad-CAM', 'LayerCAM']
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
