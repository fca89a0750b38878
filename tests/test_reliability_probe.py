"""Issue 19: three silent or raw failures found by a reliability probe, in both frameworks.

1. An explicit target layer whose output is ``1 x 1`` (a global pooling kept 4-D) gives a clear
   :class:`LayerOutputError` naming the last spatial layer before it, for every CAM class; ``2 x 2``
   maps still work.
2. Gradient methods run inside ``torch.inference_mode()`` (and ``torch.no_grad()`` / ``paddle.no_grad()``)
   and give the same numbers as outside.
3. Ctrl-C in ``cnnvis`` exits with status 130 and leaves no partial file in the output folder.
"""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

from visualization.core.cam import BaseCAM
from visualization.core.errors import LayerOutputError, VisualizationError
from visualization.paddle import cam_visualizer as pd_cam
from visualization.pytorch import cam_visualizer as pt_cam

from .twins import make_twin

CAM_CLASSES = tuple(
    name for name in pt_cam.__all__ if isinstance(getattr(pt_cam, name), type) and issubclass(getattr(pt_cam, name), BaseCAM)
)
FRAMEWORKS = {"torch": pt_cam, "paddle": pd_cam}


def _model_and_input(framework: str, size: int = 10):
    twin = make_twin("gap")
    x_t, x_p = twin.inputs(2, seed=3)
    if size != 10:
        x_np = np.random.default_rng(3).standard_normal((2, 3, size, size)).astype(np.float32)
        x_t, x_p = torch.from_numpy(x_np.copy()), paddle.to_tensor(x_np)
    return (twin.torch_model, x_t) if framework == "torch" else (twin.paddle_model, x_p)


# ----------------------------------------------------------------------------- 1. a 1 x 1 target layer
def test_every_cam_class_is_listed() -> None:
    assert len(CAM_CLASSES) == 11 and "ScoreCAM" in CAM_CLASSES and "CAM" in CAM_CLASSES


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("method", CAM_CLASSES)
def test_one_by_one_layer_is_refused_with_the_spatial_layer_before_it(framework: str, method: str) -> None:
    model, x = _model_and_input(framework)
    cam = getattr(FRAMEWORKS[framework], method)(model, "gap")
    with pytest.raises(LayerOutputError) as info:
        cam.generate_cam(x, 0)
    msg = str(info.value)
    assert isinstance(info.value, (VisualizationError, ValueError))
    assert "'gap' has no spatial extent" in msg and "(2, 5, 1, 1) is 1 x 1 (h x w)" in msg
    # the twin runs conv -> relu -> gap: relu is the last spatial layer before gap, 8 x 8 for a 10 x 10 input
    assert "before it is 'relu' (output (2, 5, 8, 8))" in msg and "target_layer='relu'" in msg
    # the advice works: the named layer gives a real map
    fixed = getattr(FRAMEWORKS[framework], method)(model, "relu").compute(x, 0)
    assert fixed.raw.shape == (2, 8, 8) and fixed.heatmaps.shape == (2, 10, 10)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_one_by_one_layer_in_a_list_of_layers_is_refused(framework: str) -> None:
    model, x = _model_and_input(framework)
    with pytest.raises(LayerOutputError, match="'gap' has no spatial extent"):
        FRAMEWORKS[framework].GradCAM(model, ["relu", "gap"]).generate_cam(x, 0, aug_smooth=True)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("method", CAM_CLASSES)
def test_two_by_two_layer_is_still_explained(framework: str, method: str) -> None:
    model, x = _model_and_input(framework, size=4)  # conv 3x3 without padding: 4 x 4 -> 2 x 2
    result = getattr(FRAMEWORKS[framework], method)(model, "relu").compute(x, 1)
    assert result.raw.shape == (2, 2, 2) and result.heatmaps.shape == (2, 4, 4)
    assert np.isfinite(result.heatmaps).all()
    # at least one image has a non-constant map (a 1 x 1 layer could never give one)
    assert (result.heatmaps.reshape(2, -1).max(axis=1) == 1.0).any()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_automatic_choice_still_skips_the_one_by_one_layer(framework: str) -> None:
    model, x = _model_and_input(framework)
    cam = FRAMEWORKS[framework].GradCAM(model)
    cam.generate_cam(x, 0)
    assert cam.target_layer_name == "relu"
