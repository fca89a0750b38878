"""A model zoo of tiny twins: twelve architectures, each written once and built in PyTorch and Paddle.

Every architecture below is defined once against a small framework shim (:class:`_Torch`,
:class:`_Paddle`: layer constructors and the dozen tensor operations the models use), so the two
builds have the same layer names and, loaded from one numpy weight dict (:func:`tests.twins.numpy_weights`),
the same numbers. Widths and resolutions are tiny (32 px inputs, 8 to 32 channels): the zoo tests
every CAM method on every architecture in seconds. torchvision does not import with the CPU torch
wheel this project tests on, hence twins rather than torchvision's models.

``ZOO`` maps a name to a :class:`Spec`: the family it stands for, the output it returns and the
layer the automatic choice must pick (the conventional one: the last convolutional stage of a CNN,
``blocks.<last>.norm1`` of a ViT, the last block's ``norm1`` of a Swin).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import paddle
import torch

from .twins import load_paddle, load_torch, numpy_weights

IMAGE = (3, 32, 32)
NUM_CLASSES = 5


class _Torch:
    name = "torch"
    nn = torch.nn
    Module = torch.nn.Module
    Sequential = torch.nn.Sequential
    List = torch.nn.ModuleList

    def conv(self, cin, cout, k, s=1, p=0, d=1, g=1, bias=False):
        return torch.nn.Conv2d(cin, cout, k, s, p, d, g, bias=bias)

    def bn(self, c):
        return torch.nn.BatchNorm2d(c)

    def ln(self, c):
        return torch.nn.LayerNorm(c)

    def linear(self, i, o):
        return torch.nn.Linear(i, o)

    def act(self, kind):
        return {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "hswish": torch.nn.Hardswish, "silu": torch.nn.SiLU}[
            kind
        ]()

    def maxpool(self, k, s, p=0):
        return torch.nn.MaxPool2d(k, s, p)

    def identity(self):
        return torch.nn.Identity()

    def param(self, *shape):
        return torch.nn.Parameter(torch.zeros(*shape))

    def permute(self, x, *dims):
        return x.permute(*dims)

    def cat(self, xs, axis):
        return torch.cat(xs, axis)

    def softmax(self, x, axis):
        return torch.softmax(x, axis)

    def roll(self, x, shifts, axes):
        return torch.roll(x, shifts, axes)

    def mean(self, x, axes, keepdim=False):
        return x.mean(dim=axes, keepdim=keepdim)

    def interp(self, x, size):
        return torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def sigmoid(self, x):
        return torch.sigmoid(x)

    def const(self, arr, like):
        return torch.as_tensor(arr, dtype=like.dtype, device=like.device)

    def maxarg(self, x, axis):
        return x.max(dim=axis)


class _Paddle:
    name = "paddle"
    nn = paddle.nn
    Module = paddle.nn.Layer
    Sequential = paddle.nn.Sequential
    List = paddle.nn.LayerList

    def conv(self, cin, cout, k, s=1, p=0, d=1, g=1, bias=False):
        return paddle.nn.Conv2D(cin, cout, k, s, p, d, g, bias_attr=None if bias else False)

    def bn(self, c):
        return paddle.nn.BatchNorm2D(c)

    def ln(self, c):
        return paddle.nn.LayerNorm(c)

    def linear(self, i, o):
        return paddle.nn.Linear(i, o)

    def act(self, kind):
        return {"relu": paddle.nn.ReLU, "gelu": paddle.nn.GELU, "hswish": paddle.nn.Hardswish, "silu": paddle.nn.Silu}[
            kind
        ]()

    def maxpool(self, k, s, p=0):
        return paddle.nn.MaxPool2D(k, s, p)

    def identity(self):
        return paddle.nn.Identity()

    def param(self, *shape):
        return paddle.create_parameter(list(shape), "float32", default_initializer=paddle.nn.initializer.Constant(0.0))

    def permute(self, x, *dims):
        return x.transpose(list(dims))

    def cat(self, xs, axis):
        return paddle.concat(xs, axis)

    def softmax(self, x, axis):
        return paddle.nn.functional.softmax(x, axis)

    def roll(self, x, shifts, axes):
        return paddle.roll(x, shifts, axes)

    def mean(self, x, axes, keepdim=False):
        return x.mean(axis=list(axes), keepdim=keepdim)

    def interp(self, x, size):
        return paddle.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def sigmoid(self, x):
        return paddle.nn.functional.sigmoid(x)

    def const(self, arr, like):
        return paddle.to_tensor(arr, dtype=like.dtype, place=like.place)

    def maxarg(self, x, axis):
        return x.max(axis=axis), x.argmax(axis=axis)


FW = {"torch": _Torch(), "paddle": _Paddle()}


@functools.cache
def classes(fw_name: str) -> dict[str, type]:  # one closure per framework
    fw = FW[fw_name]

    def cbr(cin, cout, k=3, s=1, g=1, act="relu", d=1):
        return fw.Sequential(fw.conv(cin, cout, k, s, d * (k // 2), d, g), fw.bn(cout), fw.act(act))

    class Head(fw.Module):  # global average pool -> linear
        def __init__(self, c, k=NUM_CLASSES):
            super().__init__()
            self.fc = fw.linear(c, k)

        def forward(self, x):
            return self.fc(fw.mean(x, (2, 3)))

    class VGG(fw.Module):
        def __init__(self):
            super().__init__()
            self.features = fw.Sequential(
                *cbr(3, 8),
                fw.maxpool(2, 2),
                *cbr(8, 16),
                fw.maxpool(2, 2),
                *cbr(16, 16),
                *cbr(16, 16),
                fw.maxpool(2, 2),
            )
            self.classifier = Head(16)

        def forward(self, x):
            return self.classifier(self.features(x))

    class Bottleneck(fw.Module):
        def __init__(self, cin, mid, cout, s, g=1):
            super().__init__()
            self.conv1, self.bn1 = fw.conv(cin, mid, 1), fw.bn(mid)
            self.conv2, self.bn2 = fw.conv(mid, mid, 3, s, 1, 1, g), fw.bn(mid)
            self.conv3, self.bn3 = fw.conv(mid, cout, 1), fw.bn(cout)
            self.relu = fw.act("relu")
            self.down = fw.Sequential(fw.conv(cin, cout, 1, s), fw.bn(cout)) if (s != 1 or cin != cout) else None

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.down is None else self.down(x)))

    class ResNet(fw.Module):  # ResNet-50's bottleneck layout (groups > 1: ResNeXt)
        def __init__(self, groups=1):
            super().__init__()
            self.stem = cbr(3, 8, 3, 2)
            self.layer1 = Bottleneck(8, 8, 16, 1, groups)
            self.layer2 = Bottleneck(16, 8, 24, 2, groups)
            self.layer3 = Bottleneck(24, 8, 32, 2, groups)
            self.layer4 = Bottleneck(32, 16, 32, 1, groups)
            self.fc = Head(32)

        def forward(self, x):
            return self.fc(self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x))))))

    class ResNeXt(ResNet):
        def __init__(self):
            super().__init__(groups=4)

    class SE(fw.Module):
        def __init__(self, c, r=4, gate="sigmoid"):
            super().__init__()
            self.reduce, self.expand = fw.conv(c, c // r, 1, bias=True), fw.conv(c // r, c, 1, bias=True)
            self.act = fw.act("relu")

        def forward(self, x):
            return x * fw.sigmoid(self.expand(self.act(self.reduce(fw.mean(x, (2, 3), True)))))

    class MBConv(fw.Module):  # inverted residual: expand 1x1 -> depthwise 3x3 -> SE -> project 1x1
        def __init__(self, cin, cout, s, act, expand=3):
            super().__init__()
            mid = cin * expand
            self.expand = cbr(cin, mid, 1, act=act)
            self.dw = cbr(mid, mid, 3, s, g=mid, act=act)
            self.se = SE(mid)
            self.project = fw.Sequential(fw.conv(mid, cout, 1), fw.bn(cout))
            self.skip = s == 1 and cin == cout

        def forward(self, x):
            out = self.project(self.se(self.dw(self.expand(x))))
            return x + out if self.skip else out

    class MobileNetV3(fw.Module):
        act = "hswish"

        def __init__(self):
            super().__init__()
            a = self.act
            self.features = fw.Sequential(
                cbr(3, 8, 3, 2, act=a),
                MBConv(8, 8, 1, a),
                MBConv(8, 16, 2, a),
                MBConv(16, 16, 1, a),
                cbr(16, 32, 1, act=a),
            )
            self.classifier = Head(32)

        def forward(self, x):
            return self.classifier(self.features(x))

    class EfficientNet(MobileNetV3):  # MBConv + squeeze-excite with SiLU
        act = "silu"

    class DenseLayer(fw.Module):
        def __init__(self, cin, growth):
            super().__init__()
            self.norm, self.relu, self.conv = fw.bn(cin), fw.act("relu"), fw.conv(cin, growth, 3, 1, 1)

        def forward(self, x):
            return fw.cat([x, self.conv(self.relu(self.norm(x)))], 1)

    class DenseNet(fw.Module):
        def __init__(self):
            super().__init__()
            self.features = fw.Sequential(
                fw.conv(3, 8, 3, 2, 1),
                DenseLayer(8, 4),
                DenseLayer(12, 4),
                fw.conv(16, 16, 1),
                fw.maxpool(2, 2),
                DenseLayer(16, 4),
                DenseLayer(20, 4),
                fw.bn(24),
                fw.act("relu"),
            )
            self.classifier = Head(24)

        def forward(self, x):
            return self.classifier(self.features(x))

    class ShuffleUnit(fw.Module):  # ShuffleNetV2 unit: channel split, branch, concat, shuffle
        def __init__(self, c):
            super().__init__()
            h = c // 2
            self.branch = fw.Sequential(cbr(h, h, 1), fw.conv(h, h, 3, 1, 1, 1, h), fw.bn(h), cbr(h, h, 1))
            self.c = c

        def forward(self, x):
            h = self.c // 2
            out = fw.cat([x[:, :h], self.branch(x[:, h:])], 1)
            n, c, hh, ww = out.shape
            return fw.permute(out.reshape([n, 2, c // 2, hh, ww]), 0, 2, 1, 3, 4).reshape([n, c, hh, ww])

    class ShuffleNetV2(fw.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = cbr(3, 16, 3, 2)
            self.stage2 = fw.Sequential(cbr(16, 16, 3, 2), ShuffleUnit(16))
            self.stage3 = fw.Sequential(cbr(16, 24, 3, 2), ShuffleUnit(24))
            self.conv5 = cbr(24, 32, 1)
            self.fc = Head(32)

        def forward(self, x):
            return self.fc(self.conv5(self.stage3(self.stage2(self.conv1(x)))))

    class Inception(fw.Module):
        def __init__(self, cin, c):
            super().__init__()
            self.b1 = cbr(cin, c, 1)
            self.b2 = fw.Sequential(cbr(cin, c, 1), cbr(c, c, 3))
            self.b3 = fw.Sequential(fw.maxpool(3, 1, 1), cbr(cin, c, 1))

        def forward(self, x):
            return fw.cat([self.b1(x), self.b2(x), self.b3(x)], 1)

    class GoogLeNet(fw.Module):  # returns (logits, aux_logits) always, like Paddle's googlenet
        def __init__(self):
            super().__init__()
            self.stem = fw.Sequential(cbr(3, 8, 3, 2), fw.maxpool(2, 2))
            self.inception3 = Inception(8, 8)
            self.aux = Head(24)
            self.inception4 = fw.Sequential(fw.maxpool(2, 2), Inception(24, 8))
            self.fc = Head(24)

        def forward(self, x):
            a = self.inception3(self.stem(x))
            return self.fc(self.inception4(a)), self.aux(a)

    class Attention(fw.Module):
        def __init__(self, c, heads):
            super().__init__()
            self.heads, self.qkv, self.proj = heads, fw.linear(c, 3 * c), fw.linear(c, c)

        def forward(self, x):  # (B, T, C)
            b, t, c = x.shape
            qkv = fw.permute(self.qkv(x).reshape([b, t, 3, self.heads, c // self.heads]), 2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            att = fw.softmax(q @ fw.permute(k, 0, 1, 3, 2) * (c // self.heads) ** -0.5, -1)
            return self.proj(fw.permute(att @ v, 0, 2, 1, 3).reshape([b, t, c]))

    class Mlp(fw.Module):
        def __init__(self, c, ratio=2):
            super().__init__()
            self.fc1, self.act, self.fc2 = fw.linear(c, ratio * c), fw.act("gelu"), fw.linear(ratio * c, c)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    class Block(fw.Module):
        def __init__(self, c, heads, mlp=2):
            super().__init__()
            self.norm1, self.attn, self.norm2, self.mlp = fw.ln(c), Attention(c, heads), fw.ln(c), Mlp(c, mlp)

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class PatchEmbed(fw.Module):
        def __init__(self, c, patch):
            super().__init__()
            self.proj = fw.conv(3, c, patch, patch, bias=True)

        def forward(self, x):
            x = self.proj(x)
            n, c = x.shape[0], x.shape[1]
            return fw.permute(x.reshape([n, c, -1]), 0, 2, 1)

    class ViT(fw.Module):  # ViT/DeiT layout: class token first, blocks[i].norm1, final norm, head
        def __init__(self, dim=16, depth=2, heads=2, patch=8, image=IMAGE[1], num_classes=NUM_CLASSES, mlp=2):
            super().__init__()
            self.patch_embed = PatchEmbed(dim, patch)
            self.cls_token = fw.param(1, 1, dim)
            self.pos_embed = fw.param(1, 1 + (image // patch) ** 2, dim)
            self.blocks = fw.Sequential(*[Block(dim, heads, mlp) for _ in range(depth)])
            self.norm = fw.ln(dim)
            self.head = fw.linear(dim, num_classes)

        def forward(self, x):
            x = self.patch_embed(x)
            cls = self.cls_token.expand([x.shape[0], -1, -1])
            x = self.blocks(fw.cat([cls, x], 1) + self.pos_embed)
            return self.head(self.norm(x)[:, 0])

    class SwinBlock(fw.Module):  # window attention on (N, h, w, C) tokens, optionally shifted
        def __init__(self, c, heads, window, shift):
            super().__init__()
            self.norm1, self.attn, self.norm2, self.mlp = fw.ln(c), Attention(c, heads), fw.ln(c), Mlp(c)
            self.window, self.shift = window, shift

        def forward(self, x):
            n, h, w, c = x.shape
            s, ws = self.shift, self.window
            y = self.norm1(x)
            if s:
                y = fw.roll(y, (-s, -s), (1, 2))
            y = fw.permute(y.reshape([n, h // ws, ws, w // ws, ws, c]), 0, 1, 3, 2, 4, 5).reshape([-1, ws * ws, c])
            y = self.attn(y).reshape([n, h // ws, w // ws, ws, ws, c])
            y = fw.permute(y, 0, 1, 3, 2, 4, 5).reshape([n, h, w, c])
            if s:
                y = fw.roll(y, (s, s), (1, 2))
            x = x + y
            return x + self.mlp(self.norm2(x))

    class PatchMerging(fw.Module):
        def __init__(self, c):
            super().__init__()
            self.norm, self.reduction = fw.ln(4 * c), fw.linear(4 * c, 2 * c)

        def forward(self, x):
            x = fw.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
            return self.reduction(self.norm(x))

    class SwinStage(fw.Module):
        def __init__(self, c, heads, window, merge):
            super().__init__()
            self.downsample = PatchMerging(c // 2) if merge else fw.identity()
            self.blocks = fw.Sequential(SwinBlock(c, heads, window, 0), SwinBlock(c, heads, window, window // 2))

        def forward(self, x):
            return self.blocks(self.downsample(x))

    class Swin(fw.Module):  # timm's layout: NHWC tokens, layers[i].blocks[j].norm1, final norm, head
        def __init__(self):
            super().__init__()
            self.patch_embed = fw.conv(3, 16, 4, 4, bias=True)
            self.layers = fw.Sequential(SwinStage(16, 2, 4, False), SwinStage(32, 2, 2, True))
            self.norm = fw.ln(32)
            self.head = fw.linear(32, NUM_CLASSES)

        def forward(self, x):
            x = fw.permute(self.patch_embed(x), 0, 2, 3, 1)
            return self.head(fw.mean(self.norm(self.layers(x)), (1, 2)))

    class DeepLabV3(fw.Module):  # backbone (stride 8, dilated) -> ASPP -> 1x1 classifier -> upsample; dict output
        def __init__(self):
            super().__init__()
            self.backbone = fw.Sequential(cbr(3, 8, 3, 2), cbr(8, 16, 3, 2), cbr(16, 16, 3, 2), cbr(16, 16, 3, d=2))
            self.aspp1, self.aspp2, self.aspp3 = cbr(16, 8, 1), cbr(16, 8, 3, d=2), cbr(16, 8, 3, d=3)
            self.project = cbr(24, 16, 1)
            self.classifier = fw.conv(16, NUM_CLASSES, 1, bias=True)

        def forward(self, x):
            f = self.backbone(x)
            a = self.project(fw.cat([self.aspp1(f), self.aspp2(f), self.aspp3(f)], 1))
            return {"out": fw.interp(self.classifier(a), list(x.shape[-2:]))}

    class Detector(fw.Module):  # anchor-free (FCOS-like) at stride 8: per cell class logits + box distances
        def __init__(self):
            super().__init__()
            self.backbone = fw.Sequential(cbr(3, 8, 3, 2), cbr(8, 16, 3, 2), cbr(16, 16, 3, 2), cbr(16, 16, 3))
            self.cls_head = fw.conv(16, NUM_CLASSES, 3, 1, 1, bias=True)
            self.box_head = fw.conv(16, 4, 3, 1, 1, bias=True)

        def forward(self, x):
            f = self.backbone(x)
            n, _, h, w = f.shape
            stride = x.shape[-1] // w
            logits = fw.permute(self.cls_head(f), 0, 2, 3, 1).reshape([n, h * w, NUM_CLASSES])
            dist = fw.permute(self.box_head(f), 0, 2, 3, 1).reshape([n, h * w, 4]).exp() * stride
            ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
            centre = fw.const(np.stack([xs, ys, xs, ys], -1).reshape(1, h * w, 4) * stride + stride / 2, dist)
            sign = fw.const(np.array([-1.0, -1.0, 1.0, 1.0]), dist)
            boxes = centre + dist * sign
            scores, labels = fw.maxarg(fw.sigmoid(logits), 2)
            return [{"boxes": boxes[i], "labels": labels[i], "scores": scores[i]} for i in range(n)]

    return {
        "vgg": VGG,
        "resnet50": ResNet,
        "resnext": ResNeXt,
        "mobilenetv3": MobileNetV3,
        "efficientnet": EfficientNet,
        "densenet121": DenseNet,
        "shufflenetv2": ShuffleNetV2,
        "googlenet": GoogLeNet,
        "vit": ViT,
        "swin": Swin,
        "deeplabv3": DeepLabV3,
        "detector": Detector,
    }


@dataclass(frozen=True)
class Spec:
    family: str
    auto_layer: str  # the conventional layer the automatic choice must pick
    kind: str = "classifier"  # classifier | segmentation | detection
    output: Any = None  # the `output=` argument the model needs


ZOO = {
    "vgg": Spec("plain stack", "features"),
    "resnet50": Spec("residual bottleneck", "layer4"),
    "resnext": Spec("grouped convolutions", "layer4"),
    "mobilenetv3": Spec("depthwise bottleneck + SE", "features"),
    "efficientnet": Spec("MBConv + squeeze-excite", "features"),
    "densenet121": Spec("dense concatenation", "features"),
    "shufflenetv2": Spec("channel split + shuffle", "conv5"),
    "googlenet": Spec("multi-branch + aux logits (tuple)", "inception4", output=0),
    "vit": Spec("vision transformer", "blocks.1.norm1"),
    "swin": Spec("windowed transformer (NHWC)", "layers.1.blocks.1.norm1"),
    "deeplabv3": Spec("semantic segmentation (dict)", "project", kind="segmentation", output="out"),
    "detector": Spec("anchor-free detector (list of dicts)", "backbone", kind="detection"),
}


@dataclass
class ZooTwin:
    name: str
    spec: Spec
    torch_model: Any
    paddle_model: Any

    def inputs(self, n: int = 1, seed: int = 0) -> tuple[Any, Any]:
        x = np.random.default_rng(seed).standard_normal((n, *IMAGE)).astype(np.float32)
        return torch.from_numpy(x.copy()), paddle.to_tensor(x)


@functools.cache
def make(name: str, seed: int = 7) -> ZooTwin:
    """Both builds of ``name`` with one set of seeded weights, in eval mode (cached: do not modify)."""
    torch.manual_seed(0)
    tm, pm = classes("torch")[name](), classes("paddle")[name]()
    weights = numpy_weights(tm, seed)
    load_torch(tm, weights)
    load_paddle(pm, weights)
    tm.eval()
    pm.eval()
    return ZooTwin(name, ZOO[name], tm, pm)
