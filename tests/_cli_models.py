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
    model.set_state_dict(
        {k: paddle.to_tensor(v) for k, v in torch_to_paddle_state_dict(tiny_catdog().state_dict(), model).items()}
    )
    return model


class _SlowCatDog(CatDogCNN):
    """``CatDogCNN`` whose every forward pass appends a line to ``$CNNVIS_TEST_STARTED`` (so a test knows
    work has begun) and then sleeps ``$CNNVIS_TEST_SLEEP`` seconds: a run slow enough to interrupt."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import os
        import time

        marker = os.environ.get("CNNVIS_TEST_STARTED")
        if marker:
            with open(marker, "a", encoding="utf-8") as f:
                f.write(f"{x.shape[0]}\n")
        time.sleep(float(os.environ.get("CNNVIS_TEST_SLEEP", "0.05")))
        return super().forward(x)


def slow_catdog() -> torch.nn.Module:
    torch.manual_seed(0)
    return _SlowCatDog(num_classes=2, image_size=32)


def interrupting_catdog() -> torch.nn.Module:
    """A model whose forward raises KeyboardInterrupt, as Ctrl-C would in the middle of a run."""

    class Interrupting(CatDogCNN):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise KeyboardInterrupt

    return Interrupting(num_classes=2, image_size=32)


def interrupting_catdog_paddle():
    import paddle

    from visualization.paddle.models import CatDogCNN as PaddleCatDogCNN

    class Interrupting(PaddleCatDogCNN):
        def forward(self, x):
            raise KeyboardInterrupt

    paddle.seed(0)
    return Interrupting(num_classes=2, image_size=32)


def gap_net() -> torch.nn.Module:
    """conv -> relu -> 1x1 global pool -> linear: its 'gap' layer has no spatial extent."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )


def sleepy_catdog() -> torch.nn.Module:
    """``tiny_catdog`` (same weights) whose forward pass takes 0.25 s: a batch is long enough to interrupt."""
    import time

    model = tiny_catdog()
    forward = model.forward

    def slow_forward(x):
        time.sleep(0.25)
        return forward(x)

    model.forward = slow_forward
    return model


def _zoo(name: str, framework: str):
    """A twin of the zoo (``tests/zoo.py``), the same weights in both frameworks."""
    from .zoo import make

    z = make(name)
    return z.torch_model if framework == "torch" else z.paddle_model


def zoo_vit():
    return _zoo("vit", "torch")


def zoo_vit_paddle():
    return _zoo("vit", "paddle")


def zoo_swin():
    return _zoo("swin", "torch")


def zoo_googlenet_paddle():
    return _zoo("googlenet", "paddle")


def zoo_deeplab():
    return _zoo("deeplabv3", "torch")


def zoo_deeplab_paddle():
    return _zoo("deeplabv3", "paddle")


def zoo_detector():
    return _zoo("detector", "torch")


def zoo_detector_paddle():
    return _zoo("detector", "paddle")


def tiny_catdog_keras():  # tensorflow is imported only when this factory is used
    """``tiny_catdog``'s weights in the Keras CatDogCNN (channels-last): the same numbers as the torch model."""
    from visualization.keras.models import CatDogCNN as KerasCatDogCNN
    from visualization.keras.models import catdog_weights_from_torch

    model = KerasCatDogCNN(num_classes=2, image_size=32)
    model.set_weights(catdog_weights_from_torch(tiny_catdog().state_dict(), 32))
    return model


def random_catdog_keras():
    """The Keras CatDogCNN with Keras's own initial weights (what a user's factory returns before --weights)."""
    import keras

    from visualization.keras.models import CatDogCNN as KerasCatDogCNN

    keras.utils.set_random_seed(1)
    return KerasCatDogCNN(num_classes=2, image_size=32)
