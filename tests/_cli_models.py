"""Model factories importable as ``tests._cli_models:NAME`` by the CLI tests."""

from __future__ import annotations

import torch

from visualization.pytorch.models import CatDogCNN


def tiny_catdog() -> torch.nn.Module:
    torch.manual_seed(0)
    return CatDogCNN(num_classes=2, image_size=32)


def not_a_model() -> object:
    return {"conv1": "nope"}
