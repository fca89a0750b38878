"""EfficientNet-Lite0 for Keras 3, loading the same ImageNet weights as the PyTorch twin (no torch, no download).

Same architecture and dotted layer names as :mod:`visualization.pytorch.efficientnet` (see
:mod:`visualization.models.efficientnet_spec`): ``_conv_stem``, ``_blocks.0`` .. ``_blocks.15`` (each with
``_expand_conv``, ``_depthwise_conv``, ``_project_conv``, ``_bn0``..``_bn2``, ``_act0``, ``_act1``),
``_conv_head``, ``_bn1``, ``_act1``, ``_dropout``, ``_fc``; so ``--layer _blocks.15`` means the same
layer in every framework. Keras's ``padding="same"`` is TensorFlow's ``'SAME'`` rule the weights were
trained with. The torch checkpoint is read by the numpy reader :mod:`visualization.models.checkpoint`
and mapped by :func:`weights_from_torch`: convolution kernels ``(O, I, kh, kw)`` become
``(kh, kw, I, O)``, depthwise kernels ``(C, 1, kh, kw)`` become ``(kh, kw, C, 1)``, the ``Linear``
weight is transposed, BatchNorm gives gamma, beta, moving mean and moving variance, and
``num_batches_tracked`` (a torch counter) is dropped.

Inputs are channels-last ``(N, H, W, 3)``, preprocessed as the torch twin's (``preprocess(image)[0]``
is channels-first: transpose it with ``.transpose(1, 2, 0)``).

Example:
    >>> import numpy as np
    >>> from visualization.models.imagenet import preprocess
    >>> from skimage.data import chelsea
    >>> model = efficientnet_lite0(pretrained=True)
    >>> x, _ = preprocess(chelsea())
    >>> int(np.argmax(model(x.transpose(1, 2, 0)[None])))  # 282 'tiger cat', then 285 'Egyptian cat'
    282
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from ..models import efficientnet_spec as spec

__all__ = ["EfficientNetLite0", "MBConvBlock", "efficientnet_lite0", "weights_from_torch"]

L = keras.layers


def _conv(filters: int, kernel: int, stride: int = 1, name: str = "") -> keras.layers.Conv2D:
    return L.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)


def _bn(name: str) -> keras.layers.BatchNormalization:
    return L.BatchNormalization(momentum=spec.BN_MOMENTUM_PADDLE, epsilon=spec.BN_EPS, name=name)


class MBConvBlock(keras.layers.Layer):
    """Inverted residual without squeeze-excite: [expand 1x1] -> depthwise kxk -> project 1x1 (+ input)."""

    def __init__(self, block: spec.BlockSpec, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", block.name), **kwargs)
        self.residual = block.residual
        self.has_expand = block.expand != 1
        if self.has_expand:
            self._expand_conv = _conv(block.hidden, 1, name="_expand_conv")
            self._bn0 = _bn("_bn0")
            self._act0 = L.ReLU(max_value=6.0, name="_act0")
        self._depthwise_conv = L.DepthwiseConv2D(
            block.kernel, block.stride, padding="same", use_bias=False, name="_depthwise_conv"
        )
        self._bn1 = _bn("_bn1")
        self._act1 = L.ReLU(max_value=6.0, name="_act1")
        self._project_conv = _conv(block.out_channels, 1, name="_project_conv")
        self._bn2 = _bn("_bn2")

    def call(self, x: Any, training: bool | None = None) -> Any:
        out = x
        if self.has_expand:
            out = self._act0(self._bn0(self._expand_conv(out), training=training))
        out = self._act1(self._bn1(self._depthwise_conv(out), training=training))
        out = self._bn2(self._project_conv(out), training=training)  # linear bottleneck: no activation
        return out + x if self.residual else out


class EfficientNetLite0(keras.Model):
    """EfficientNet-Lite0 (4.7 M parameters), layer for layer the PyTorch twin, channels-last.

    ``call`` returns logits ``(N, num_classes)``; :meth:`forward_features` the pooled 1280-d features
    (for a linear probe). Pooling is done in ``call`` rather than by a layer, so that the last layer
    with a spatial output (what ``target_layer=None`` picks) is the head ``_act1``. A subclassed
    model: read intermediate outputs with the toolkit (``LayerVisualizer``), not with
    ``keras.Model(model.inputs, layer.output)``.
    """

    def __init__(self, num_classes: int = spec.NUM_CLASSES, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", "efficientnet_lite0"), **kwargs)
        self.num_classes = num_classes
        self._conv_stem = _conv(spec.STEM_CHANNELS, 3, 2, name="_conv_stem")
        self._bn0 = _bn("_bn0")
        self._act0 = L.ReLU(max_value=6.0, name="_act0")
        self._blocks = [MBConvBlock(b) for b in spec.BLOCKS]  # layer names "_blocks.0" .. "_blocks.15"
        self._conv_head = _conv(spec.HEAD_CHANNELS, 1, name="_conv_head")
        self._bn1 = _bn("_bn1")
        self._act1 = L.ReLU(max_value=6.0, name="_act1")
        self._dropout = L.Dropout(spec.DROPOUT, name="_dropout")
        self._fc = L.Dense(num_classes, name="_fc")

    def forward_features(self, x: Any, training: bool | None = None) -> Any:
        x = self._act0(self._bn0(self._conv_stem(x), training=training))
        for block in self._blocks:
            x = block(x, training=training)
        x = self._act1(self._bn1(self._conv_head(x), training=training))
        return keras.ops.mean(x, axis=(1, 2))

    def call(self, x: Any, training: bool | None = None) -> Any:
        return self._fc(self._dropout(self.forward_features(x, training=training), training=training))

    def get_config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EfficientNetLite0:
        return cls(**config)


def _layer_weights(prefix: str, layer: Any, state: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The torch arrays of one layer, in the order of ``layer.get_weights()``."""
    if isinstance(layer, L.BatchNormalization):
        return [state[f"{prefix}.{leaf}"] for leaf in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, L.DepthwiseConv2D):  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        return [state[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
    if isinstance(layer, L.Conv2D):  # (O, I, kh, kw) -> (kh, kw, I, O)
        return [state[f"{prefix}.weight"].transpose(2, 3, 1, 0)]
    if isinstance(layer, L.Dense):  # (out, in) -> (in, out)
        return [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
    return []


def _named_layers(model: EfficientNetLite0) -> list[tuple[str, Any]]:
    """``(torch dotted name, layer)`` for every layer that holds weights."""
    out: list[tuple[str, Any]] = []
    for layer in (model._conv_stem, model._bn0, *model._blocks, model._conv_head, model._bn1, model._fc):
        if isinstance(layer, MBConvBlock):
            names = ("_expand_conv", "_bn0", "_depthwise_conv", "_bn1", "_project_conv", "_bn2")
            out += [(f"{layer.name}.{n}", getattr(layer, n)) for n in names if hasattr(layer, n)]
        else:
            out.append((layer.name, layer))
    return out


def weights_from_torch(model: EfficientNetLite0, state: Mapping[str, Any]) -> set[str]:
    """Load a torch-named EfficientNet-Lite0 state dict (numpy arrays) into a built Keras ``model``.

    Every shape is checked before anything is assigned, so a state dict that does not fit leaves the
    model as it was. ``_fc`` is skipped when ``state`` has no ``_fc.*`` keys (a new head). Returns the
    keys used; a key that is neither used nor a ``num_batches_tracked`` counter is an error.

    Raises:
        RuntimeError: a key is missing or left over, or a shape does not fit (all listed).
    """
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}
    skip_head = not any(k.startswith("_fc.") for k in arrays)
    plan: list[tuple[Any, list[np.ndarray]]] = []
    used: set[str] = set()
    problems: list[str] = []
    for prefix, layer in _named_layers(model):
        if skip_head and prefix == "_fc":
            continue
        try:
            new = _layer_weights(prefix, layer, arrays)
        except KeyError as exc:
            problems.append(f"missing {exc.args[0]!r}")
            continue
        used.update(k for k in arrays if k.startswith(prefix + ".") and k.count(".") == prefix.count(".") + 1)
        have = [tuple(w.shape) for w in layer.get_weights()]
        got = [tuple(w.shape) for w in new]
        if have != got:
            problems.append(f"{prefix}: the layer has shapes {have}, the state dict gives {got}")
        plan.append((layer, new))
    left = sorted(k for k in arrays if k not in used and not k.endswith(".num_batches_tracked"))
    if left:
        problems.append(f"unexpected keys {left}")
    if problems:
        raise RuntimeError("checkpoint does not fit the Keras EfficientNetLite0: " + "; ".join(problems))
    for layer, new in plan:
        layer.set_weights([np.ascontiguousarray(w) for w in new])
    return used


def efficientnet_lite0(pretrained: bool = True, num_classes: int = spec.NUM_CLASSES) -> EfficientNetLite0:
    """Build EfficientNet-Lite0 (built for any input size); with ``pretrained`` load the shipped ImageNet weights.

    With ``num_classes != 1000`` and ``pretrained``, every layer but the new ``_fc`` is pretrained.
    Keras layers hold no eval mode: call the model with ``training=False`` (the toolkit always does).
    """
    model = EfficientNetLite0(num_classes)
    model(np.zeros((1, 32, 32, 3), np.float32), training=False)  # builds every layer (any input size works)
    if pretrained:
        weights_from_torch(model, spec.pretrained_state_dict(num_classes))
    return model
