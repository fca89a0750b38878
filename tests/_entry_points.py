"""Every public entry point that takes an input tensor, as one table for both frameworks.

``entry_points(fw)`` maps a name to ``call(models, x) -> numpy array`` where ``models`` is a
:class:`ViewModels` of that framework. The models use ``view`` both on their input and on a
convolution's output (as the seed tutorial's ``CatDogCNN`` does with ``x.view(x.size(0), -1)``), so
any tensor layout that is not plain contiguous reaching them makes the call fail.
Used by ``test_tensor_layouts`` (issue 18: any layout works) and ``test_reliability_probe``
(issue 19: gradients inside ``torch.inference_mode()`` / ``paddle.no_grad()``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import paddle
import torch

from visualization.core.cam import BaseCAM
from visualization.paddle import cam_visualizer as pd_cam
from visualization.paddle import layer_visualizer as pd_layers
from visualization.paddle import metrics as pd_metrics
from visualization.paddle import saliency as pd_sal
from visualization.pytorch import cam_visualizer as pt_cam
from visualization.pytorch import layer_visualizer as pt_layers
from visualization.pytorch import metrics as pt_metrics
from visualization.pytorch import saliency as pt_sal

SIZE = 16  # input side; two 2x2 poolings leave 4 x 4
CAM_CLASSES = tuple(
    n for n in pt_cam.__all__ if isinstance(getattr(pt_cam, n), type) and issubclass(getattr(pt_cam, n), BaseCAM)
)
MODULES = {
    "torch": (pt_cam, pt_sal, pt_metrics, pt_layers),
    "paddle": (pd_cam, pd_sal, pd_metrics, pd_layers),
}


# ----------------------------------------------------------------------------- models
class TorchViewCNN(torch.nn.Module):
    """Input centred through a view, conv -> ReLU -> pool -> conv -> ReLU -> pool -> view -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(6, 8, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(8 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.view(x.size(0), -1).mean(dim=1).view(-1, 1, 1, 1)
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(x.view(x.size(0), -1))


class TorchViewGap(torch.nn.Module):
    """Input centred through a view, conv -> ReLU -> global average pool -> view -> linear (for classic CAM)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.gap = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.view(x.size(0), -1).mean(dim=1).view(-1, 1, 1, 1)
        x = self.gap(self.relu(self.conv(x)))
        return self.fc(x.view(x.size(0), -1))


class PaddleViewCNN(paddle.nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = paddle.nn.Conv2D(3, 6, 3, padding=1)
        self.conv2 = paddle.nn.Conv2D(6, 8, 3, padding=1)
        self.pool = paddle.nn.MaxPool2D(2)
        self.fc = paddle.nn.Linear(8 * 4 * 4, 3)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = x - x.view([x.shape[0], -1]).mean(axis=1).view([-1, 1, 1, 1])
        x = self.pool(paddle.nn.functional.relu(self.conv1(x)))
        x = self.pool(paddle.nn.functional.relu(self.conv2(x)))
        return self.fc(x.view([x.shape[0], -1]))


class PaddleViewGap(paddle.nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 6, 3, padding=1)
        self.relu = paddle.nn.ReLU()
        self.gap = paddle.nn.AdaptiveAvgPool2D(1)
        self.fc = paddle.nn.Linear(6, 3)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = x - x.view([x.shape[0], -1]).mean(axis=1).view([-1, 1, 1, 1])
        x = self.gap(self.relu(self.conv(x)))
        return self.fc(x.view([x.shape[0], -1]))


@dataclass
class ViewModels:
    cnn: Any  # every method explains conv2
    gap: Any  # classic CAM explains relu


def view_models(framework: str) -> ViewModels:
    """Seeded models in eval mode (torch and Paddle draw their own weights: no parity is claimed here)."""
    if framework == "torch":
        torch.manual_seed(0)
        return ViewModels(TorchViewCNN().eval(), TorchViewGap().eval())
    paddle.seed(0)
    cnn, gap = PaddleViewCNN(), PaddleViewGap()
    cnn.eval()
    gap.eval()
    return ViewModels(cnn, gap)


# ----------------------------------------------------------------------------- entry points
Call = Callable[[ViewModels, Any], np.ndarray]


def entry_points(framework: str, *, aug_smooth: bool = True) -> dict[str, Call]:
    """``name -> call(models, x)`` for every public entry point; ``aug_smooth`` adds each CAM class with it."""
    cam, sal, metrics, layers = MODULES[framework]

    def cam_call(name: str, aug: bool) -> Call:
        def call(m: ViewModels, x: Any) -> np.ndarray:
            model, layer = (m.gap, "relu") if name == "CAM" else (m.cnn, "conv2")
            return getattr(cam, name)(model, layer).generate_cam(x, 1, aug_smooth=aug)

        return call

    table: dict[str, Call] = {}
    for name in CAM_CLASSES:
        table[name] = cam_call(name, False)
        if aug_smooth:
            table[f"{name}+aug_smooth"] = cam_call(name, True)
    table.update(
        {
            "VanillaGradient": lambda m, x: sal.VanillaGradient(m.cnn).compute(x, 1).attributions,
            "GradientXInput": lambda m, x: sal.GradientXInput(m.cnn).compute(x, 1).attributions,
            "IntegratedGradients": lambda m, x: sal.IntegratedGradients(m.cnn, n_steps=4).compute(x, 1).attributions,
            "SmoothGrad": lambda m, x: sal.SmoothGrad(sal.VanillaGradient(m.cnn), n_samples=3, seed=0)
            .compute(x, 1)
            .attributions,
            "GuidedBackprop": lambda m, x: sal.GuidedBackprop(m.cnn).compute(x, 1).attributions,
            "Deconvolution": lambda m, x: sal.Deconvolution(m.cnn).compute(x, 1).attributions,
            "GuidedGradCAM": lambda m, x: sal.GuidedGradCAM(m.cnn, "conv2").compute(x, 1).attributions,
            "Occlusion": lambda m, x: sal.Occlusion(m.cnn, window=(4, 4), stride=(4, 4)).compute(x, 1).attributions,
            "deletion_curve": lambda m, x: metrics.deletion_curve(
                m.cnn, x, cam.GradCAM(m.cnn, "conv2"), 1, n_steps=4
            ).scores,
            "insertion_curve": lambda m, x: metrics.insertion_curve(
                m.cnn, x, cam.GradCAM(m.cnn, "conv2"), 1, n_steps=4
            ).scores,
            "average_drop_increase": lambda m, x: metrics.average_drop_increase(
                m.cnn, x, cam.GradCAM(m.cnn, "conv2"), 1
            ).explained,
            "road": lambda m, x: metrics.road(m.cnn, x, cam.GradCAM(m.cnn, "conv2"), 1, percentiles=(20, 60)).morf,
            "batched_probabilities": lambda m, x: metrics.batched_probabilities(m.cnn, x, 1)[0],
            "get_feature_maps": lambda m, x: layers.CNNLayerVisualizer(m.cnn).get_feature_maps(x, "conv2"),
            "get_gradients": lambda m, x: layers.CNNLayerVisualizer(m.cnn).get_gradients(x, 1, "conv2").gradients,
        }
    )
    return table
