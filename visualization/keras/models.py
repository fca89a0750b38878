"""Small reference networks for Keras 3: the tutorial's ``CatDogCNN``."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = ["CatDogCNN", "catdog_weights_from_torch"]


class CatDogCNN(keras.Model):
    """The tutorial's three-block CNN: (conv 3x3 -> ReLU -> max-pool 2) x 3 -> fc1 -> ReLU -> fc2.

    A functional model (so ``keras.Model(model.input, model.get_layer("conv2").output)`` works, as
    in the seed tutorial) whose layers ``conv1``, ``conv2``, ``conv3``, ``fc1``, ``fc2`` carry the names
    of the PyTorch and Paddle twins. The ReLUs are their own layers (``relu1``..``relu3``), so
    ``conv3`` is read before its ReLU as in the twins; the three poolings are ``pool1``..``pool3``
    (the twins share one ``pool`` module). Inputs are channels-last ``(N, H, W, 3)``; ``image_size``
    (a multiple of 8) fixes the input size ``fc1`` expects. Weights of the PyTorch twin load with
    :func:`catdog_weights_from_torch`.

    Example:
        >>> import numpy as np
        >>> CatDogCNN(image_size=32)(np.zeros((2, 32, 32, 3), "float32")).shape
        TensorShape([2, 2])
    """

    def __init__(self, num_classes: int = 2, image_size: int = 224, **kwargs: Any) -> None:
        if image_size % 8 or image_size < 8:
            raise ValueError(f"image_size must be a positive multiple of 8 (three 2x2 poolings); got {image_size}.")
        layers = keras.layers
        inputs = keras.Input((image_size, image_size, 3), name="image")
        x = inputs
        for i, width in enumerate((32, 64, 128), start=1):
            x = layers.Conv2D(width, 3, padding="same", name=f"conv{i}")(x)
            x = layers.ReLU(name=f"relu{i}")(x)
            x = layers.MaxPooling2D(2, 2, name=f"pool{i}")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(512, name="fc1")(x)
        x = layers.ReLU(name="relu4")(x)
        outputs = layers.Dense(num_classes, name="fc2")(x)
        super().__init__(inputs, outputs, name=kwargs.pop("name", "catdog_cnn"), **kwargs)
        self.num_classes = num_classes
        self.image_size = image_size

    def get_config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "image_size": self.image_size, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CatDogCNN:
        return cls(**config)


def catdog_weights_from_torch(state: dict[str, Any], image_size: int) -> list[np.ndarray]:
    """The PyTorch ``CatDogCNN`` state dict as the Keras model's weight list (``model.set_weights``).

    Conv kernels ``(O, I, kh, kw)`` become ``(kh, kw, I, O)``; Linear weights ``(O, I)`` become
    ``(I, O)``. ``fc1`` also has its input rows reordered: torch flattens the last feature map in
    ``(C, h, w)`` order, Keras's ``Flatten`` in ``(h, w, C)`` order.

    Example:
        >>> import torch
        >>> from visualization.pytorch.models import CatDogCNN as TorchCatDog
        >>> t = TorchCatDog(image_size=16).eval()
        >>> k = CatDogCNN(image_size=16)
        >>> k.set_weights(catdog_weights_from_torch(t.state_dict(), 16))
        >>> x = np.random.default_rng(0).random((1, 16, 16, 3), dtype=np.float32)
        >>> ref = t(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy()
        >>> bool(np.abs(k(x).numpy() - ref).max() < 1e-5)
        True
    """
    arr = {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, np.float32) for k, v in state.items()}
    side = image_size // 8
    out: list[np.ndarray] = []
    for i in (1, 2, 3):
        out += [arr[f"conv{i}.weight"].transpose(2, 3, 1, 0), arr[f"conv{i}.bias"]]
    fc1 = arr["fc1.weight"]  # (512, C*h*w) in (C, h, w) order
    fc1 = fc1.reshape(fc1.shape[0], 128, side, side).transpose(0, 2, 3, 1).reshape(fc1.shape[0], -1)
    out += [np.ascontiguousarray(fc1.T), arr["fc1.bias"], np.ascontiguousarray(arr["fc2.weight"].T), arr["fc2.bias"]]
    return out
