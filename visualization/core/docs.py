"""Docstrings shared by the adapters: the core writes each example once (in PyTorch spelling) and
:func:`for_framework` renders it for Paddle, so ``help(visualization.paddle.cam_visualizer.GradCAM)``
shows Paddle code. The test suite runs both renderings as doctests."""

from __future__ import annotations

import re

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
