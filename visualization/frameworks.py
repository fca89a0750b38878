"""Pick a framework's public modules by name, importing only that framework.

Example:
    >>> fw = get_framework("torch")
    >>> fw.cam_classes["gradcam"].__name__
    'GradCAM'
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
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
DEFAULT_METHODS = (
    "gradcam",
    "gradcampp",
    "xgradcam",
    "layercam",
    "hirescam",
    "eigencam",
    "ablationcam",
    "fastscorecam",
)
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
#: Every framework, in the order reports show them.
ALL = ("torch", "paddle", "keras")
#: Command-line choices that name several frameworks.
GROUPS = {"both": ("torch", "paddle"), "all": ALL}


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
        version = str(importlib.import_module(self.name).__version__)
        if self.name == "keras":  # the backend's version matters as much as Keras's own
            version += f" (TensorFlow {importlib.import_module('tensorflow').__version__})"
        return version

    def tensor(self, model: Any, array: Any) -> Any:
        """numpy ``(N, C, H, W)`` -> the tensor the framework's public entry points take, on the model's
        device (channels-last ``(N, H, W, C)`` for Keras)."""
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


def expand(choice: str) -> list[str]:
    """A command-line ``--framework`` value as framework names: ``'both'`` is torch and Paddle, ``'all'``
    adds Keras; any other value is one framework."""
    return list(GROUPS.get(choice, (choice,)))


def get_frameworks(names: Sequence[str]) -> list[Framework]:
    """:func:`get_framework` for each name, in the order given, but imported Paddle first: Paddle cannot
    be loaded after TensorFlow in one process (see :mod:`visualization.paddle`).

    Example:
        >>> [fw.name for fw in get_frameworks(["torch"])]
        ['torch']
    """
    canonical = [_CANONICAL.get(_PACKAGES.get(str(n).strip().lower(), ""), n) for n in names]
    loaded = {n: get_framework(n) for n in sorted(set(canonical), key=lambda n: n != "paddle")}
    return [loaded[n] for n in canonical]
