"""Token layers in Keras: a layer that outputs a token sequence ``(N, 1 + h*w, C)`` (ViT-style, with a
class token) or ``(N, h*w, C)`` (flattened, Swin-style) is read as ``(N, C, h, w)`` maps by the core's
:mod:`~visualization.core.tokens`, as in PyTorch. Keras's token tensors are already channels-last, so
the adapter passes them on unchanged (only 4-D outputs are transposed).

Oracle: the same tiny patch-embedding network in torch and Keras from one weight dict (a 4x4 patch
convolution, optional class token, LayerNorm, mean of the patch tokens, linear head). Every CAM method
at the LayerNorm must agree with torch within 1e-5, with the layout decided automatically and when
named (``"vit"`` / ``"swin"``).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

from visualization.keras import cam_visualizer as kc
from visualization.pytorch import cam_visualizer as pc

SIZE, PATCH, DIM, CLASSES = 16, 4, 6, 3
METHODS = ("GradCAM", "GradCAMPlusPlus", "XGradCAM", "LayerCAM", "HiResCAM", "EigenCAM", "ScoreCAM", "AblationCAM")


class TorchTokens(torch.nn.Module):
    def __init__(self, cls_token: bool) -> None:
        super().__init__()
        self.embed = torch.nn.Conv2d(3, DIM, PATCH, stride=PATCH)
        self.cls = torch.nn.Parameter(torch.zeros(1, 1, DIM)) if cls_token else None
        self.norm = torch.nn.LayerNorm(DIM)
        self.head = torch.nn.Linear(DIM, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x).flatten(2).transpose(1, 2)  # (N, h*w, C), row by row
        if self.cls is not None:
            t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1)
        t = self.norm(t)
        patches = t[:, 1:] if self.cls is not None else t
        return self.head(torch.relu(patches).mean(dim=1))


class ClassToken(keras.layers.Layer):
    """Prepends a learned class token to a token sequence."""

    def build(self, shape):
        self.cls = self.add_weight(shape=(1, 1, shape[-1]), initializer="zeros", name="cls")

    def call(self, t):
        return tf.concat([tf.tile(self.cls, [tf.shape(t)[0], 1, 1]), t], axis=1)


class KerasTokens(keras.Model):
    def __init__(self, cls_token: bool) -> None:
        super().__init__(name="tokens")
        self.embed = keras.layers.Conv2D(DIM, PATCH, strides=PATCH, name="embed")
        self.cls = ClassToken(name="cls") if cls_token else None
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")
        self.head = keras.layers.Dense(CLASSES, name="head")

    def call(self, x):
        e = self.embed(x)
        t = tf.reshape(e, (-1, e.shape[1] * e.shape[2], DIM))  # (N, h*w, C), row by row as torch
        if self.cls is not None:
            t = self.cls(t)
        t = self.norm(t)
        patches = t[:, 1:] if self.cls is not None else t
        return self.head(tf.reduce_mean(tf.nn.relu(patches), axis=1))


def _pair(cls_token: bool) -> tuple[TorchTokens, KerasTokens]:
    rng = np.random.default_rng(7)
    tm = TorchTokens(cls_token).eval()
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.from_numpy(rng.normal(0, 0.5, tuple(p.shape)).astype(np.float32)))
    km = KerasTokens(cls_token)
    km(np.zeros((1, SIZE, SIZE, 3), np.float32))
    km.embed.set_weights([tm.embed.weight.detach().numpy().transpose(2, 3, 1, 0), tm.embed.bias.detach().numpy()])
    if cls_token:
        km.cls.set_weights([tm.cls.detach().numpy()])
    km.norm.set_weights([tm.norm.weight.detach().numpy(), tm.norm.bias.detach().numpy()])
    km.head.set_weights([tm.head.weight.detach().numpy().T, tm.head.bias.detach().numpy()])
    return tm, km


@pytest.fixture(scope="module", params=[True, False], ids=["vit", "flat"])
def models(request):
    tm, km = _pair(request.param)
    x = np.random.default_rng(3).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    xt, xk = torch.from_numpy(x), np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(km(xk).numpy(), tm(xt).detach().numpy(), atol=1e-5)
    return request.param, tm, km, xt, xk


@pytest.mark.parametrize("method", METHODS)
def test_token_layer_maps_equal_torch(models, method):
    _, tm, km, xt, xk = models
    kwargs = {"batch_size": 8} if method in ("ScoreCAM", "AblationCAM") else {}
    a = getattr(pc, method)(tm, "norm", **kwargs).compute(xt, [0, 2])
    b = getattr(kc, method)(km, "norm", **kwargs).compute(xk, [0, 2])
    assert a.heatmaps.shape == b.heatmaps.shape == (2, SIZE, SIZE)
    np.testing.assert_allclose(b.heatmaps, a.heatmaps, atol=1e-5)
    np.testing.assert_allclose(b.raw, a.raw, atol=1e-5 * max(1.0, float(np.abs(a.raw).max())))


def test_named_layout_equals_automatic(models):
    cls_token, tm, km, xt, xk = models
    auto = kc.GradCAM(km, "norm").generate_cam(xk, 1)
    named = kc.GradCAM(km, "norm", reshape_transform="vit" if cls_token else "swin").generate_cam(xk, 1)
    np.testing.assert_array_equal(auto, named)
    ref = pc.GradCAM(tm, "norm", reshape_transform="vit" if cls_token else "swin").generate_cam(xt, 1)
    np.testing.assert_allclose(named, ref, atol=1e-5)
