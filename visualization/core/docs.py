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
    """``doc`` with its PyTorch example rewritten for ``framework`` (``"torch"``, ``"paddle"`` or ``"keras"``).

    A Keras example differs in more than spelling (channels-last inputs, layers built differently), so
    for ``"keras"`` the example lines are dropped and the prose points to the Keras module's own
    examples (its module docstring and ``docs/``)."""
    if doc is None or framework == "torch":
        return doc
    if framework == "keras":
        return _without_examples(doc)
    if framework != "paddle":
        raise ValueError(f"unknown framework {framework!r}")
    for old, new in _PADDLE:
        doc = doc.replace(old, new)
    return _RAND.sub(lambda m: f"paddle.rand([{m.group(1)}])", doc)


def _without_examples(doc: str) -> str:
    """``doc`` with its doctest lines (``>>>``, ``...`` and their expected output) removed, and an
    ``Example:`` heading left empty by that replaced by a pointer to the Keras examples."""
    out: list[str] = []
    in_example = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(">>>") or (in_example and stripped.startswith("...")):
            in_example = True
            continue
        if in_example and stripped:
            continue  # expected output of the dropped example
        in_example = False
        out.append(line)
    text = "\n".join(out)
    note = (
        "(PyTorch example omitted for Keras: see the visualization.keras module docstrings; inputs are (N, H, W, C).)"
    )
    return re.sub(r"(Examples?:)\n(\s*)(?=\n|$)", lambda m: f"{m.group(1)}\n{m.group(2)}    {note}\n", text)


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
