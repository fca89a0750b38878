"""Keras twins of :mod:`tests.twins`: the same networks with the same seeded weights, for torch == keras parity.

The three twins cover the three ways Keras users build models: ``catdog`` is functional
(:class:`visualization.keras.models.CatDogCNN`), ``resbn`` is subclassed with a nested custom layer
and a nested ``Sequential`` (dotted names ``stem.1``, ``block.bn2`` as in torch), ``gap`` is a
``Sequential``. Weights come from the torch twin's dict and are mapped by hand here (conv kernels to
``(kh, kw, I, O)``, linear weights transposed, BatchNorm as gamma, beta, moving mean, moving
variance), independently of any converter in the library. BatchNorm uses torch's ``epsilon=1e-5``;
``padding="same"`` max-pooling of the odd 15 x 15 map equals torch's ``ceil_mode=True``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from visualization.keras.models import CatDogCNN, catdog_weights_from_torch

from .twins import SEED, Twin, make_twin

L = keras.layers


def _bn(name: str) -> keras.layers.Layer:
    return L.BatchNormalization(epsilon=1e-5, name=name)


class KerasBlock(keras.layers.Layer):
    """conv1 -> bn1 -> relu -> conv2 -> bn2 -> (+ input) -> relu, as the torch ``TorchBlock``."""

    def __init__(self, c: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.conv1 = L.Conv2D(c, 3, padding="same", use_bias=False, name="conv1")
        self.bn1 = _bn("bn1")
        self.relu = L.ReLU(name="relu")
        self.conv2 = L.Conv2D(c, 3, padding="same", use_bias=False, name="conv2")
        self.bn2 = _bn("bn2")

    def call(self, x, training=None):
        out = self.relu(self.bn1(self.conv1(x), training=training))
        out = self.bn2(self.conv2(out), training=training)
        return self.relu(out + x)


class KerasResBN(keras.Model):
    """Subclassed: stem (a nested Sequential named ``0``, ``1``, ``2``) -> pool -> block -> gap -> fc."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__(name="resbn")
        self.stem = keras.Sequential([L.Conv2D(6, 3, padding="same", name="0"), _bn("1"), L.ReLU(name="2")], name="stem")
        self.pool = L.MaxPooling2D(2, 2, padding="same", name="pool")
        self.block = KerasBlock(6, name="block")
        self.gap = L.GlobalAveragePooling2D(name="gap")
        self.fc = L.Dense(num_classes, name="fc")

    def call(self, x, training=None):
        x = self.block(self.pool(self.stem(x, training=training)), training=training)
        return self.fc(self.gap(x))


def keras_gap(num_classes: int = 4) -> keras.Model:
    """Sequential: conv -> relu -> global average pool -> fc (the classic CAM architecture)."""
    return keras.Sequential(
        [
            keras.Input((10, 10, 3)),
            L.Conv2D(5, 3, name="conv"),
            L.ReLU(name="relu"),
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(num_classes, name="fc"),
        ],
        name="gap_net",
    )


def _conv(w: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    out = [w[f"{key}.weight"].transpose(2, 3, 1, 0)]
    return out + ([w[f"{key}.bias"]] if f"{key}.bias" in w else [])


def _bn_weights(w: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    return [w[f"{key}.{leaf}"] for leaf in ("weight", "bias", "running_mean", "running_var")]


def _dense(w: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    return [np.ascontiguousarray(w[f"{key}.weight"].T), w[f"{key}.bias"]]


def _build(name: str, weights: dict[str, np.ndarray], input_shape: tuple[int, int, int]) -> keras.Model:
    if name == "catdog":
        model = CatDogCNN(image_size=input_shape[1])
        model.set_weights(catdog_weights_from_torch(weights, input_shape[1]))
        return model
    c, h, w = input_shape
    if name == "resbn":
        model = KerasResBN()
        model(np.zeros((1, h, w, c), np.float32))  # build
        stem, block = model.stem.layers, model.block
        stem[0].set_weights(_conv(weights, "stem.0"))
        stem[1].set_weights(_bn_weights(weights, "stem.1"))
        block.conv1.set_weights(_conv(weights, "block.conv1"))
        block.bn1.set_weights(_bn_weights(weights, "block.bn1"))
        block.conv2.set_weights(_conv(weights, "block.conv2"))
        block.bn2.set_weights(_bn_weights(weights, "block.bn2"))
        model.fc.set_weights(_dense(weights, "fc"))
        return model
    if name == "gap":
        model = keras_gap()
        model.get_layer("conv").set_weights(_conv(weights, "conv"))
        model.get_layer("fc").set_weights(_dense(weights, "fc"))
        return model
    raise KeyError(name)


@dataclass
class KerasTwin:
    """A torch twin (:class:`tests.twins.Twin`) and its Keras model with the same weights."""

    twin: Twin
    keras_model: keras.Model

    @property
    def torch_model(self):
        return self.twin.torch_model

    def inputs(self, n: int, seed: int = 0) -> tuple[object, np.ndarray]:
        """The same seeded batch as a torch tensor (N, C, H, W) and a channels-last numpy array (N, H, W, C)."""
        xt, _ = self.twin.inputs(n, seed)
        return xt, np.ascontiguousarray(xt.numpy().transpose(0, 2, 3, 1))

    def tf_inputs(self, n: int, seed: int = 0) -> tuple[object, tf.Tensor]:
        xt, xk = self.inputs(n, seed)
        return xt, tf.constant(xk)


@functools.cache
def make_keras_twin(name: str, seed: int = SEED) -> KerasTwin:
    """Twin ``name`` of :data:`tests.twins.TWINS` in torch and Keras (cached; tests must not change it)."""
    twin = make_twin(name, seed)
    return KerasTwin(twin, _build(name, twin.weights, twin.input_shape))
