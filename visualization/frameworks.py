"""Pick a framework's public modules by name, importing only that framework.

Example:
    >>> fw = get_framework("torch")
    >>> fw.cam_classes["gradcam"].__name__
    'GradCAM'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .core.backend import Backend
from .core.errors import VisualizationError

#: Method names accepted on the command line -> class names in ``cam_visualizer``.
CAM_METHODS = {
    "gradcam": "GradCAM",
    "gradcampp": "GradCAMPlusPlus",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "hirescam": "HiResCAM",
    "eigencam": "EigenCAM",
    "eigengradcam": "EigenGradCAM",
    "smoothgradcampp": "SmoothGradCAMPlusPlus",
    "cam": "CAM",
    "ablationcam": "AblationCAM",
    "scorecam": "ScoreCAM",
    "fastscorecam": "ScoreCAM",
}
#: Constructor options that distinguish a command-line method from its class's defaults.
METHOD_OPTIONS: dict[str, dict[str, Any]] = {"fastscorecam": {"top_k": 40}}
#: What ``cnnvis explain`` and ``cnnvis demo`` run when no ``--method`` is given: every method that
#: works at any layer in a few forward passes (CAM needs a GAP -> linear head; exact Score-CAM and
#: Smooth Grad-CAM++ are slower: ask for them by name).
DEFAULT_METHODS = ("gradcam", "gradcampp", "xgradcam", "layercam", "hirescam", "eigencam", "ablationcam", "fastscorecam")
#: Human-readable framework names.
DISPLAY = {"torch": "PyTorch", "paddle": "PaddlePaddle", "keras": "Keras"}
_PACKAGES = {
    "torch": "pytorch",
    "pytorch": "pytorch",
    "paddle": "paddle",
    "paddlepaddle": "paddle",
    "keras": "keras",
    "tensorflow": "keras",
    "tf": "keras",
}
_CANONICAL = {"pytorch": "torch", "paddle": "paddle", "keras": "keras"}


class UnknownFrameworkError(VisualizationError, ValueError):
    """A framework name other than torch / paddle / keras."""


@dataclass(frozen=True)
class Framework:
    """One framework's entry points: its backend, CAM classes and layer visualizer."""

    name: str
    backend: Backend
    cams: ModuleType
    layers: ModuleType
    cam_classes: dict[str, type] = field(default_factory=dict)

    @property
    def display(self) -> str:
        return DISPLAY[self.name]

    def version(self) -> str:
        return str(importlib.import_module(self.name).__version__)

    def tensor(self, model: Any, array: Any) -> Any:
        """numpy ``(N, C, H, W)`` -> a tensor on the model's device."""
        return self.backend.user_tensor(model, array)


def get_framework(name: str) -> Framework:
    """``'torch'``/``'pytorch'``, ``'paddle'``/``'paddlepaddle'`` or ``'keras'``/``'tensorflow'`` (imports
    that framework only)."""
    package = _PACKAGES.get(str(name).strip().lower())
    if package is None:
        raise UnknownFrameworkError(f"Unknown framework {name!r}; use 'torch', 'paddle' or 'keras'.")
    cams = importlib.import_module(f"visualization.{package}.cam_visualizer")
    layers = importlib.import_module(f"visualization.{package}.layer_visualizer")
    backend = importlib.import_module(f"visualization.{package}._backend").BACKEND
    canonical = _CANONICAL[package]
    classes = {key: getattr(cams, cls) for key, cls in CAM_METHODS.items()}
    return Framework(canonical, backend, cams, layers, classes)
