"""Small reference networks for PaddlePaddle: the tutorial's ``CatDogCNN``."""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

__all__ = ["CatDogCNN"]


class CatDogCNN(nn.Layer):
    """The tutorial's three-block CNN: (conv 3x3 -> ReLU -> max-pool 2) x 3 -> fc1 -> ReLU -> fc2.

    Layer names ``conv1``, ``conv2``, ``conv3``, ``pool``, ``fc1``, ``fc2`` are the same in the PyTorch
    twin. ``image_size`` (a multiple of 8) sets the input size that ``fc1`` expects: the tutorial
    uses 224 (``fc1`` then has 51 M weights); tests use smaller images. Weights of the PyTorch twin
    load with :func:`visualization.convert.torch_to_paddle_state_dict` (Linear weights are stored
    transposed in Paddle).

    Example:
        >>> CatDogCNN(image_size=32)(paddle.zeros([2, 3, 32, 32])).shape
        paddle.Size([2, 2])
    """

    def __init__(self, num_classes: int = 2, image_size: int = 224) -> None:
        super().__init__()
        if image_size % 8 or image_size < 8:
            raise ValueError(f"image_size must be a positive multiple of 8 (three 2x2 poolings); got {image_size}.")
        self.conv1 = nn.Conv2D(3, 32, 3, padding=1)
        self.conv2 = nn.Conv2D(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2D(64, 128, 3, padding=1)
        self.pool = nn.MaxPool2D(2, 2)
        side = image_size // 8
        self.fc1 = nn.Linear(128 * side * side, 512)
        self.fc2 = nn.Linear(512, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = self.pool(F.relu(self.conv3(x)))
        x = paddle.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)
