"""Docstrings shared by the adapters: the core writes each example once (in PyTorch spelling) and
:func:`for_framework` renders it for Paddle, so ``help(visualization.paddle.cam_visualizer.GradCAM)``
shows Paddle code. The test suite runs both renderings as doctests."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any

_PADDLE = [
    ("visualization.pytorch", "visualization.paddle"),
    ("import torch", "import paddle"),
    ("torch.nn.Conv2d", "paddle.nn.Conv2D"),
    ("torch.nn.AdaptiveAvgPool2d", "paddle.nn.AdaptiveAvgPool2D"),
    ("torch.nn.", "paddle.nn."),
]
_RAND = re.compile(r"torch\.rand\(([^()]*)\)")


def for_framework(doc: str | None, framework: str) -> str | None:
    """``doc`` with its PyTorch example rewritten for ``framework`` (``"torch"`` or ``"paddle"``)."""
    if doc is None or framework == "torch":
        return doc
    if framework != "paddle":
        raise ValueError(f"unknown framework {framework!r}")
    for old, new in _PADDLE:
        doc = doc.replace(old, new)
    return _RAND.sub(lambda m: f"paddle.rand([{m.group(1)}])", doc)


def bind_backend(function: Callable[..., Any], backend: Any, framework: str, module: str) -> Callable[..., Any]:
    """``function(backend, *args, **kwargs)`` of the core as a public function of an adapter module.

    The result takes the same arguments without ``backend`` (``inspect.signature`` and ``help`` show
    them), belongs to ``module`` and carries the docstring rendered for ``framework``.

    >>> def area(backend, w, h=2):
    ...     '''Area (``import torch`` here).'''
    ...     return backend * w * h
    >>> bound = bind_backend(area, 10, "paddle", "demo")
    >>> bound(3), str(inspect.signature(bound)), bound.__doc__
    (60, '(w, h=2)', 'Area (``import paddle`` here).')
    """

    @functools.wraps(function)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return function(backend, *args, **kwargs)

    signature = inspect.signature(function)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
    bound.__doc__ = for_framework(function.__doc__, framework)
    bound.__module__ = module
    del bound.__wrapped__  # inspect must not unwrap to the core signature
    return bound
