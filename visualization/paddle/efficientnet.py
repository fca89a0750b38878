"""EfficientNet-Lite0 for PaddlePaddle, loading the same ImageNet weights as the PyTorch twin (no torch needed).

Same architecture and dotted layer names as :mod:`visualization.pytorch.efficientnet` (see
:mod:`visualization.models.efficientnet_spec`). The torch checkpoint is read by the numpy reader
:mod:`visualization.models.checkpoint` and converted by :func:`visualization.convert.torch_to_paddle_state_dict`:
``Linear`` weights are transposed to Paddle's ``(in, out)``, BatchNorm ``running_mean`` /
``running_var`` become ``_mean`` / ``_variance``, ``num_batches_tracked`` is dropped. Paddle's
``Conv2D(padding='SAME')`` is TensorFlow's rule, and its BatchNorm momentum is ``1 - torch momentum``.

Example:
    >>> import paddle
    >>> from visualization.models.imagenet import preprocess
    >>> from skimage.data import chelsea
    >>> model = efficientnet_lite0(pretrained=True)
    >>> x, _ = preprocess(chelsea())
    >>> int(model(paddle.to_tensor(x[None])).argmax()) in range(281, 286)  # a cat class
    True
"""

from __future__ import annotations

import paddle
from paddle import nn

from ..convert import torch_to_paddle_state_dict
from ..models import efficientnet_spec as spec

__all__ = ["EfficientNetLite0", "MBConvBlock", "efficientnet_lite0"]


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2D:
    # 'SAME' = TensorFlow padding: ceil(n / stride) outputs, the odd pixel of padding after.
    return nn.Conv2D(in_channels, out_channels, kernel, stride, padding="SAME", groups=groups, bias_attr=False)


def _bn(channels: int) -> nn.BatchNorm2D:
    return nn.BatchNorm2D(channels, momentum=spec.BN_MOMENTUM_PADDLE, epsilon=spec.BN_EPS)


class MBConvBlock(nn.Layer):
    """Inverted residual without squeeze-excite: [expand 1x1] -> depthwise kxk -> project 1x1 (+ input)."""

    def __init__(self, block: spec.BlockSpec) -> None:
        super().__init__()
        self.residual = block.residual
        self.has_expand = block.expand != 1
        hidden = block.hidden
        if self.has_expand:
            self._expand_conv = _conv(block.in_channels, hidden, 1)
            self._bn0 = _bn(hidden)
            self._act0 = nn.ReLU6()
        self._depthwise_conv = _conv(hidden, hidden, block.kernel, block.stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._act1 = nn.ReLU6()
        self._project_conv = _conv(hidden, block.out_channels, 1)
        self._bn2 = _bn(block.out_channels)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = self._act0(self._bn0(self._expand_conv(x))) if self.has_expand else x
        out = self._act1(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))  # linear bottleneck: no activation
        return out + x if self.residual else out


class EfficientNetLite0(nn.Layer):
    """EfficientNet-Lite0 (4.7 M parameters), layer for layer the PyTorch twin.

    ``forward`` returns logits ``(N, num_classes)``; :meth:`forward_features` the pooled 1280-d
    features. Pooling is done in ``forward`` so that ``target_layer=None`` picks the head ``_act1``.
    """

    def __init__(self, num_classes: int = spec.NUM_CLASSES) -> None:
        super().__init__()
        self._conv_stem = _conv(3, spec.STEM_CHANNELS, 3, 2)
        self._bn0 = _bn(spec.STEM_CHANNELS)
        self._act0 = nn.ReLU6()
        self._blocks = nn.LayerList([MBConvBlock(b) for b in spec.BLOCKS])
        self._conv_head = _conv(spec.BLOCKS[-1].out_channels, spec.HEAD_CHANNELS, 1)
        self._bn1 = _bn(spec.HEAD_CHANNELS)
        self._act1 = nn.ReLU6()
        self._dropout = nn.Dropout(spec.DROPOUT)
        self._fc = nn.Linear(spec.HEAD_CHANNELS, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self._act0(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._act1(self._bn1(self._conv_head(x)))
        return x.mean(axis=[2, 3])

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self._fc(self._dropout(self.forward_features(x)))


def efficientnet_lite0(pretrained: bool = True, num_classes: int = spec.NUM_CLASSES) -> EfficientNetLite0:
    """Build EfficientNet-Lite0; with ``pretrained`` load the shipped ImageNet weights (in eval mode).

    With ``num_classes != 1000`` and ``pretrained``, every layer but the new ``_fc`` is pretrained.
    """
    model = EfficientNetLite0(num_classes)
    if pretrained:
        # Without a model the converter transposes every 2-D weight, which here is exactly _fc.weight;
        # keys and shapes are checked below, allowing only a missing head.
        weights = torch_to_paddle_state_dict(spec.pretrained_state_dict(num_classes))
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if num_classes != spec.NUM_CLASSES:
            expected = {k: s for k, s in expected.items() if not k.startswith("_fc.")}
        got = {k: tuple(v.shape) for k, v in weights.items()}
        if got != expected:
            diff = sorted(set(got.items()) ^ set(expected.items()))
            raise RuntimeError(f"checkpoint does not fit the Paddle EfficientNetLite0; differing (key, shape): {diff}")
        if num_classes != spec.NUM_CLASSES:  # keep the fresh head; saying so avoids Paddle's "Skip loading" warnings
            weights.update({k: v for k, v in model.state_dict().items() if k.startswith("_fc.")})
        model.set_state_dict(weights)
        model.eval()
    return model
