"""Model registry for the three frameworks, plus the ImageNet helpers. Importing it loads no framework.

``load_model(name, framework)`` imports the chosen framework only when called:

=====================  ==========================================================  ==================
name                   what                                                        pretrained weights
=====================  ==========================================================  ==================
``efficientnet-lite0``  EfficientNet-Lite0, ImageNet (1000 classes), 4.7 M params  yes (shipped, no download)
``catdogcnn``           the tutorial's three-block CNN (2 classes)                 no
=====================  ==========================================================  ==================

Example:
    >>> from visualization.models import available_models, load_model, preprocess, imagenet_class_names
    >>> available_models()
    ['catdogcnn', 'efficientnet-lite0']
    >>> model = load_model("efficientnet-lite0", framework="torch")          # doctest: +SKIP
    >>> model = load_model("efficientnet-lite0", framework="paddle", num_classes=2)  # new head  # doctest: +SKIP
    >>> model = load_model("efficientnet-lite0", framework="keras")  # channels-last inputs  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..core.errors import VisualizationError
from .imagenet import CAT_CLASSES, DOG_CLASSES, MEAN, STD, imagenet_class_names, preprocess

__all__ = [
    "CAT_CLASSES",
    "DOG_CLASSES",
    "MEAN",
    "STD",
    "UnknownModelError",
    "available_models",
    "imagenet_class_names",
    "load_model",
    "preprocess",
]

FRAMEWORKS = {
    "torch": "pytorch",
    "pytorch": "pytorch",
    "paddle": "paddle",
    "paddlepaddle": "paddle",
    "keras": "keras",
    "tensorflow": "keras",
}


class UnknownModelError(VisualizationError, ValueError):
    """A model name or framework that the registry does not know (the message lists the known ones)."""


@dataclass(frozen=True)
class _Entry:
    module: str  # under visualization.<pytorch|paddle|keras>
    factory: str  # attribute of that module, called with num_classes (and pretrained, if it has weights)
    has_weights: bool
    description: str


_REGISTRY = {
    "efficientnet-lite0": _Entry("efficientnet", "efficientnet_lite0", True, "EfficientNet-Lite0, ImageNet-1k"),
    "catdogcnn": _Entry("models", "CatDogCNN", False, "tutorial CNN, 2 classes"),
}


def available_models() -> list[str]:
    """Names accepted by :func:`load_model`, sorted."""
    return sorted(_REGISTRY)


def load_model(
    name: str = "efficientnet-lite0",
    framework: str = "torch",
    pretrained: bool | None = None,
    num_classes: int | None = None,
    **kwargs: Any,
) -> Any:
    """Build a registered model for ``framework`` (``'torch'``, ``'paddle'`` or ``'keras'``).

    Args:
        name: one of :func:`available_models` (case and ``-``/``_`` do not matter).
        framework: ``'torch'`` / ``'pytorch'``, ``'paddle'`` / ``'paddlepaddle'`` or ``'keras'`` /
            ``'tensorflow'`` (Keras 3 on TensorFlow; its models take channels-last inputs).
        pretrained: load the shipped weights (the model is then in eval mode). ``None``: yes if the
            model has weights. ``True`` for a model without weights is an error.
        num_classes: classifier size; ``None`` keeps the model's own (1000 for ImageNet models).
            A pretrained model with another size gets a new, untrained classifier.
        **kwargs: passed to the model's constructor (e.g. ``image_size`` for ``catdogcnn``).

    Raises:
        UnknownModelError: unknown ``name`` or ``framework``; the message lists the valid ones.
        ValueError: ``pretrained=True`` for a model without weights.
    """
    key = name.strip().lower().replace("_", "-")
    entry = _REGISTRY.get(key)
    if entry is None:
        raise UnknownModelError(f"unknown model {name!r}; available models: {', '.join(available_models())}")
    package = FRAMEWORKS.get(framework.strip().lower())
    if package is None:
        raise UnknownModelError(f"unknown framework {framework!r}; use 'torch', 'paddle' or 'keras'")
    if pretrained and not entry.has_weights:
        raise ValueError(f"model {key!r} has no pretrained weights; call load_model({key!r}, pretrained=False)")
    factory = getattr(importlib.import_module(f"visualization.{package}.{entry.module}"), entry.factory)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if entry.has_weights:
        kwargs["pretrained"] = True if pretrained is None else pretrained
    return factory(**kwargs)
