"""The layers of a PaddlePaddle model with output shapes, parameter counts and receptive fields: ``model_structure``."""

from __future__ import annotations

from typing import Any

from ..core import structure as _core
from ._backend import BACKEND
from ._structure import FACTS

__all__ = ["ModelStructure", "model_structure"]

ModelStructure = _core.ModelStructure


def model_structure(model: Any, x: Any = (3, 224, 224)) -> ModelStructure:
    """Trace one forward pass of ``model`` and list every layer call with its output shape, parameter
    count, kernel/stride, receptive field and jump (see :mod:`visualization.core.structure` for the
    formula ``r_out = r_in + (k - 1) * d * j_in``, ``j_out = j_in * s`` and the rules at branches).

    ``x`` is an input batch (a tensor) or the shape ``(C, H, W)`` of one zero image. The model runs in
    eval mode without gradients; its flags are restored and no hook stays behind.

    Example:
        >>> import paddle
        >>> from visualization.paddle.structure import model_structure
        >>> net = paddle.nn.Sequential(paddle.nn.Conv2D(3, 8, 7, stride=2, padding=3), paddle.nn.MaxPool2D(3, 2, 1))
        >>> s = model_structure(net, (3, 64, 64))
        >>> s.row("1").field, s.row("1").jump, s.total_params
        ((11, 11), (4, 4), 1184)
        >>> print(s.to_text())
        layer  type       output (C x H x W)  params  kernel/stride  receptive field  jump
        0      Conv2D     8x32x32              1,184  7x7/2                        7     2
        1      MaxPool2D  8x16x16                  0  3x3/2                       11     4
        <BLANKLINE>
        Sequential (paddle), input 3x64x64: 1,184 parameters (1,184 trainable)
    """
    return _core.model_structure(BACKEND, FACTS, model, x)
