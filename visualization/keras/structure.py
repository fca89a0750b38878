"""The layers of a Keras model with output shapes, parameter counts and receptive fields: ``model_structure``."""

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

    ``x`` is an input batch, channels-last ``(N, H, W, C)`` (numpy array or ``tf.Tensor``), or the
    shape ``(C, H, W)`` of one zero image (channels first, as in the other frameworks). Output shapes
    are listed channels-first, ``C x H x W``, so the table reads like the PyTorch and Paddle ones. The
    model is called once eagerly with ``training=False``; nothing about it is changed.

    Parameters are the layers' variables without BatchNorm's moving mean and variance (torch keeps
    those as buffers), so the totals equal the torch twin's; ``model.count_params()`` includes them.
    A ``GlobalAveragePooling2D`` returns ``(N, C)`` where torch's ``AdaptiveAvgPool2d(1)`` returns
    ``(N, C, 1, 1)``, so its row reads ``-`` (not a map) instead of ``global``.

    Example:
        >>> import keras
        >>> from visualization.keras.structure import model_structure
        >>> L = keras.layers
        >>> net = keras.Sequential([keras.Input((64, 64, 3)), L.Conv2D(8, 7, strides=2, padding="same", name="conv"),
        ...                         L.MaxPooling2D(3, 2, padding="same", name="pool")])
        >>> s = model_structure(net, (3, 64, 64))
        >>> s.row("pool").field, s.row("pool").jump, s.total_params
        ((11, 11), (4, 4), 1184)
        >>> print(s.to_text())
        layer  type          output (C x H x W)  params  kernel/stride  receptive field  jump
        conv   Conv2D        8x32x32              1,184  7x7/2                        7     2
        pool   MaxPooling2D  8x16x16                  0  3x3/2                       11     4
        <BLANKLINE>
        Sequential (keras), input 3x64x64: 1,184 parameters (1,184 trainable)
    """
    return _core.model_structure(BACKEND, FACTS, model, x)
