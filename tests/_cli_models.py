"""Model factories importable as ``tests._cli_models:NAME`` by the CLI tests."""

from __future__ import annotations

import torch

from visualization.pytorch.models import CatDogCNN


def tiny_catdog() -> torch.nn.Module:
    torch.manual_seed(0)
    return CatDogCNN(num_classes=2, image_size=32)


def not_a_model() -> object:
    return {"conv1": "nope"}


def tiny_catdog_paddle():  # paddle is imported only when this factory is used
    import paddle

    from visualization.paddle.models import CatDogCNN as PaddleCatDogCNN

    paddle.seed(0)
    return PaddleCatDogCNN(num_classes=2, image_size=32)


def random_catdog() -> torch.nn.Module:
    """Other weights on every call (no seed): what the Ray engine must not let each actor redraw."""
    return CatDogCNN(num_classes=2, image_size=32)


def tiny_catdog_paddle_twin():  # the torch tiny_catdog's weights, converted: same numbers in both frameworks
    import paddle

    from visualization.convert import torch_to_paddle_state_dict
    from visualization.paddle.models import CatDogCNN as PaddleCatDogCNN

    model = PaddleCatDogCNN(num_classes=2, image_size=32)
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in torch_to_paddle_state_dict(tiny_catdog().state_dict(), model).items()})
    return model


def slow_catdog() -> torch.nn.Module:
    """``tiny_catdog`` (same weights) whose forward pass takes 0.25 s: a batch is long enough to interrupt."""
    import time

    model = tiny_catdog()
    forward = model.forward

    def slow_forward(x):
        time.sleep(0.25)
        return forward(x)

    model.forward = slow_forward
    return model
