"""Tiny PyTorch networks for the torch tests (seeded, CPU, milliseconds per call)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GapNet(nn.Module):
    """conv -> global average pool -> linear: the analytic oracle where Grad-CAM equals classic CAM."""

    def __init__(self, channels: int = 6, classes: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class SmallNet(nn.Module):
    """conv-bn-relu(inplace) x2 with a residual add, dropout and a linear head."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)) + h)
        h = self.pool(h)
        return self.fc(self.drop(F.adaptive_avg_pool2d(h, 1).flatten(1)))


def seeded(model: nn.Module, seed: int = 0) -> nn.Module:
    """Re-initialize every parameter and BatchNorm statistic from ``seed`` (non-trivial running stats)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()
