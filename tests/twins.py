"""Twin models: the same tiny networks in PyTorch and PaddlePaddle, loaded from one dict of numpy weights.

Each twin has the same dotted layer names in both frameworks. Weights are drawn once (seeded) in
torch's layout, then loaded into both models by :func:`load_torch` and :func:`load_paddle`. The
Paddle loader maps names and layouts by hand on purpose, independently of
``visualization.convert``, so that the converter can be tested against it.

Twins (``TWINS``):

* ``catdog``: the tutorial ``CatDogCNN`` at ``image_size=32``;
* ``resbn``: conv -> BatchNorm (non-trivial running statistics) -> in-place ReLU -> max-pool with
  ``ceil_mode=True`` -> a residual block (``out += identity``) -> global average pool -> linear;
  its input is 15x15 so that ``ceil_mode`` matters;
* ``gap``: conv -> ReLU -> global average pool -> linear (the classic CAM architecture).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import paddle
import torch

from visualization.paddle.models import CatDogCNN as PaddleCatDog
from visualization.pytorch.models import CatDogCNN as TorchCatDog

SEED = 1234


# ---------------------------------------------------------------------------- torch
class TorchBlock(torch.nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(c)
        self.relu = torch.nn.ReLU(inplace=True)
        self.conv2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x  # in-place residual add right after the hooked bn2 (as torchvision's ResNet does)
        return self.relu(out)


class TorchResBN(torch.nn.Module):
    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU(inplace=True)
        )
        self.pool = torch.nn.MaxPool2d(2, 2, ceil_mode=True)
        self.block = TorchBlock(6)
        self.gap = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(6, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.pool(self.stem(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


class TorchGap(torch.nn.Module):
    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 5, 3)
        self.relu = torch.nn.ReLU()
        self.gap = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(5, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.gap(self.relu(self.conv(x))), 1))


# ---------------------------------------------------------------------------- paddle
class PaddleBlock(paddle.nn.Layer):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = paddle.nn.Conv2D(c, c, 3, padding=1, bias_attr=False)
        self.bn1 = paddle.nn.BatchNorm2D(c)
        self.relu = paddle.nn.ReLU()  # Paddle's ReLU layer has no inplace flag
        self.conv2 = paddle.nn.Conv2D(c, c, 3, padding=1, bias_attr=False)
        self.bn2 = paddle.nn.BatchNorm2D(c)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + x
        return self.relu(out)


class PaddleResBN(paddle.nn.Layer):
    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.stem = paddle.nn.Sequential(
            paddle.nn.Conv2D(3, 6, 3, padding=1), paddle.nn.BatchNorm2D(6), paddle.nn.ReLU()
        )
        self.pool = paddle.nn.MaxPool2D(2, 2, ceil_mode=True)
        self.block = PaddleBlock(6)
        self.gap = paddle.nn.AdaptiveAvgPool2D(1)
        self.fc = paddle.nn.Linear(6, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.block(self.pool(self.stem(x)))
        return self.fc(paddle.flatten(self.gap(x), 1))


class PaddleGap(paddle.nn.Layer):
    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 5, 3)
        self.relu = paddle.nn.ReLU()
        self.gap = paddle.nn.AdaptiveAvgPool2D(1)
        self.fc = paddle.nn.Linear(5, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc(paddle.flatten(self.gap(self.relu(self.conv(x))), 1))


# ---------------------------------------------------------------------------- factory
@dataclass
class Twin:
    """One network in both frameworks with identical weights, plus what the tests need to drive it."""

    name: str
    torch_model: torch.nn.Module
    paddle_model: paddle.nn.Layer
    weights: dict[str, np.ndarray]  # torch names and layouts
    input_shape: tuple[int, int, int]  # (C, H, W)
    cam_layers: tuple[str, ...]  # layers with a spatial output to explain
    conv_layers: tuple[str, ...]
    num_classes: int

    def inputs(self, n: int, seed: int = 0) -> tuple[torch.Tensor, paddle.Tensor]:
        """The same seeded batch of ``n`` images as a torch and a Paddle tensor."""
        x = np.random.default_rng(seed).standard_normal((n, *self.input_shape)).astype(np.float32)
        return torch.from_numpy(x.copy()), paddle.to_tensor(x)


_BUILDERS = {
    "catdog": (
        lambda: TorchCatDog(image_size=32),
        lambda: PaddleCatDog(image_size=32),
        (3, 32, 32),
        ("conv2", "conv3"),
        ("conv1", "conv2", "conv3"),
    ),
    "resbn": (
        TorchResBN,
        PaddleResBN,
        (3, 15, 15),
        ("stem.1", "block.bn2", "block"),
        ("stem.0", "block.conv1", "block.conv2"),
    ),
    "gap": (TorchGap, PaddleGap, (3, 10, 10), ("conv", "relu"), ("conv",)),
}
TWINS = tuple(_BUILDERS)
#: ``(twin, layer)`` pairs whose layer has a spatial output worth explaining.
CAM_CASES = tuple((name, layer) for name, spec in _BUILDERS.items() for layer in spec[3])
#: ``(twin, layer)`` pairs of the 2-D convolutions.
CONV_CASES = tuple((name, layer) for name, spec in _BUILDERS.items() for layer in spec[4])


def numpy_weights(model: torch.nn.Module, seed: int = SEED) -> dict[str, np.ndarray]:
    """Seeded float32 weights for every entry of ``model.state_dict()`` (torch layout).

    Weights are scaled by ``1/sqrt(fan_in)`` so activations keep a sensible range through the net;
    BatchNorm gets random affine parameters and running statistics (variance in [0.5, 2]) so that
    eval-mode normalization is not the identity.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for key, t in model.state_dict().items():
        shape, leaf = tuple(t.shape), key.rpartition(".")[2]
        if leaf == "num_batches_tracked":
            continue
        if leaf == "running_var":
            arr = rng.uniform(0.5, 2.0, shape)
        elif leaf == "running_mean":
            arr = rng.normal(0.0, 0.3, shape)
        elif leaf == "weight" and len(shape) == 1:  # BatchNorm scale
            arr = rng.uniform(0.5, 1.5, shape)
        elif leaf == "weight":
            arr = rng.normal(0.0, 1.0, shape) / np.sqrt(np.prod(shape[1:]))
        else:  # biases
            arr = rng.normal(0.0, 0.1, shape)
        out[key] = arr.astype(np.float32)
    return out


def load_torch(model: torch.nn.Module, weights: dict[str, np.ndarray]) -> None:
    # strict: torch fills in the absent num_batches_tracked counters itself when loading a plain dict
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})


def load_paddle(model: paddle.nn.Layer, weights: dict[str, np.ndarray]) -> None:
    """Load torch-layout weights: transpose Linear weights, rename BatchNorm statistics."""
    linear = {f"{n}.weight" for n, m in model.named_sublayers() if isinstance(m, paddle.nn.Linear)}
    renames = {"running_mean": "_mean", "running_var": "_variance"}
    state = {}
    for key, arr in weights.items():
        prefix, _, leaf = key.rpartition(".")
        name = f"{prefix}.{renames.get(leaf, leaf)}" if prefix else leaf  # top-level parameters: no prefix
        state[name] = arr.T.copy() if key in linear else arr
    assert set(state) == set(model.state_dict()), sorted(set(state) ^ set(model.state_dict()))
    model.set_state_dict(state)


@functools.cache
def make_twin(name: str, seed: int = SEED) -> Twin:
    """Build twin ``name`` (one of :data:`TWINS`) in both frameworks with the same seeded weights, in eval mode.

    Cached: tests share one twin per name, so a test must not change the models it is given.
    """
    make_torch, make_paddle, input_shape, cam_layers, conv_layers = _BUILDERS[name]
    torch_model, paddle_model = make_torch(), make_paddle()
    weights = numpy_weights(torch_model, seed)
    load_torch(torch_model, weights)
    load_paddle(paddle_model, weights)
    torch_model.eval()
    paddle_model.eval()
    num_classes = int(torch_model(torch.zeros(1, *input_shape)).shape[1])
    return Twin(name, torch_model, paddle_model, weights, input_shape, cam_layers, conv_layers, num_classes)
