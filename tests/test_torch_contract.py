"""The user's world is left as found, and bad input gets a clear error (PyTorch side)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from visualization.core.errors import (
    InvalidInputError,
    LayerNotFoundError,
    LayerOutputError,
    ModelTypeError,
    TargetError,
)
from visualization.pytorch import cam_visualizer as pt_cam
from visualization.pytorch.cam_visualizer import GradCAM, GradCAMPlusPlus, ScoreCAM, compare_cam_methods
from visualization.pytorch.layer_visualizer import CNNLayerVisualizer
from visualization.pytorch.models import CatDogCNN

from ._torch_nets import SmallNet, seeded

# every CAM class; CAM itself needs a GAP -> linear head and is checked on its own
ALL_CAMS = [getattr(pt_cam, n) for n in pt_cam.__all__ if n not in ("CAMResult", "compare_cam_methods")]
CAMS = [c for c in ALL_CAMS if c.__name__ != "CAM"]


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules())


def _all_calls(model, x):
    """Every public entry point that runs the model."""
    v = CNNLayerVisualizer(model)
    v.get_feature_maps(x, "conv2")
    v.get_gradients(x, 1, "conv2")
    v.visualize_feature_maps(x, "conv2", max_maps=4)
    v.visualize_gradients(x, None, "conv2", max_maps=4)
    v.visualize_feature_maps_interactive(x, "conv1", max_maps=3)
    for cam in CAMS:
        cam(model, "conv2").generate_cam(x, 0)
    GradCAM(model).generate_cam(x)  # auto layer: traces every module
    compare_cam_methods(model, "conv2", x)


def test_model_parameters_flags_and_input_untouched():
    model = seeded(SmallNet()).train()
    model.bn1.eval()  # a mixed state must come back exactly
    model.conv1.weight.requires_grad_(False)
    flags = {n: m.training for n, m in model.named_modules()}
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    x = torch.rand(2, 3, 8, 8)
    x_before = x.clone()
    _all_calls(model, x)
    assert {n: m.training for n, m in model.named_modules()} == flags
    for n, p in model.named_parameters():
        assert p.grad is None, n
        torch.testing.assert_close(p.detach(), params[n], rtol=0, atol=0)
    assert model.conv1.weight.requires_grad is False
    assert all(p.requires_grad for n, p in model.named_parameters() if n != "conv1.weight")
    for n, b in model.named_buffers():  # BatchNorm statistics: eval mode inside, so not updated
        torch.testing.assert_close(b, buffers[n], rtol=0, atol=0)
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)
    assert not x.requires_grad and x.grad is None
    assert _no_hooks(model)


def test_fully_frozen_model_still_gets_gradients():
    model = seeded(SmallNet())
    for p in model.parameters():
        p.requires_grad_(False)
    res = GradCAM(model, "conv2").compute(torch.rand(1, 3, 8, 8), 2)
    assert np.abs(res.weights).sum() > 0


class Exploding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        self.conv(x)  # the hook fires, then forward fails
        raise RuntimeError("boom after the target layer")


@pytest.mark.parametrize("cam_cls", ALL_CAMS)
def test_hooks_removed_after_exception_in_forward(cam_cls):
    model = Exploding().train()
    with pytest.raises(RuntimeError, match="boom"):
        cam_cls(model, "conv").generate_cam(torch.rand(1, 3, 8, 8), 0)
    with pytest.raises(RuntimeError, match="boom"):
        cam_cls(model).generate_cam(torch.rand(1, 3, 8, 8), 0)  # auto layer: hooks on every module
    assert _no_hooks(model)
    assert model.training and model.conv.training


def test_inplace_relu_after_target_layer_gives_pre_activation_semantics():
    model = seeded(SmallNet())
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    v = CNNLayerVisualizer(model)
    with torch.no_grad():
        pre_relu = model.bn1(model.conv1(x))
        expected_out = model(x)
    maps = v.get_feature_maps(x, "bn1")  # bn1 is followed by ReLU(inplace=True)
    np.testing.assert_allclose(maps, pre_relu.numpy(), rtol=1e-6, atol=1e-6)
    assert (maps < 0).any()  # the in-place ReLU did not reach the captured copy
    res = v.get_gradients(x, 3, "bn1")
    # independent gradient: a functional re-run from the pre-activation tensor
    a = pre_relu.clone().requires_grad_(True)
    h = torch.relu(a)
    h2 = torch.relu(model.bn2(model.conv2(h)) + h)
    out = model.fc(torch.nn.functional.adaptive_avg_pool2d(model.pool(h2), 1).flatten(1))
    (g,) = torch.autograd.grad(out[:, 3].sum(), a)
    np.testing.assert_allclose(res.gradients, g.numpy(), rtol=1e-5, atol=1e-7)
    with torch.no_grad():  # and the model still computes what it computed before
        torch.testing.assert_close(model(x), expected_out)


def test_input_moves_to_model_dtype_and_3d_means_one_image():
    model = seeded(SmallNet())
    x64 = torch.rand(3, 8, 8, dtype=torch.float64)
    heat = GradCAM(model, "conv1").generate_cam(x64, 0)
    assert heat.shape == (8, 8) and heat.dtype == np.float32
    assert x64.dtype == torch.float64


# ------------------------------------------------------------------ bad input
def test_unknown_layer_lists_close_matches_and_valid_names():
    model = CatDogCNN(image_size=16)
    with pytest.raises(LayerNotFoundError) as info:
        GradCAM(model, "conv4")
    msg = str(info.value)
    assert "'conv4'" in msg and "Did you mean" in msg and "'conv1'" in msg and "'fc2'" in msg
    with pytest.raises(KeyError):
        CNNLayerVisualizer(model).get_feature_maps(torch.rand(1, 3, 16, 16), "layer4.1")
    with pytest.raises(LayerNotFoundError, match="not a sub-layer"):
        GradCAM(model, nn.Conv2d(3, 3, 1))


def test_layer_without_spatial_output():
    model = CatDogCNN(image_size=16)
    with pytest.raises(LayerOutputError, match=r"'fc1' must output a 4-D .* shape \(1, 512\)"):
        GradCAM(model, "fc1").generate_cam(torch.rand(1, 3, 16, 16))
    with pytest.raises(LayerOutputError, match="not a 2-D convolution"):
        CNNLayerVisualizer(model).visualize_conv_filters("fc1")
    with pytest.raises(LayerOutputError, match="ran more than once"):
        GradCAM(model, "pool").generate_cam(torch.rand(1, 3, 16, 16))
    with pytest.raises(LayerOutputError, match="mode='rgb' needs kernels with 3 input channels"):
        CNNLayerVisualizer(model).visualize_conv_filters("conv2", mode="rgb")


def test_bad_targets():
    model = CatDogCNN(image_size=16)
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(TargetError, match=r"out of range.*2 output classes"):
        GradCAM(model, "conv3").generate_cam(x, 5)
    with pytest.raises(TargetError, match="3 entries but the batch has 2"):
        GradCAMPlusPlus(model, "conv3").generate_cam(x, [0, 1, 1])
    with pytest.raises(TargetError, match="one score per sample"):
        GradCAM(model, "conv3").generate_cam(x, lambda out: out.sum())
    with pytest.raises(TargetError, match="callable target_class is not supported"):
        ScoreCAM(model, "conv3").generate_cam(x, lambda out: out[:, 0])


@pytest.mark.parametrize(
    "x,match",
    [
        (torch.rand(3, 16), r"shape \(N, C, H, W\) or \(C, H, W\); got shape \(3, 16\)"),
        (torch.rand(1, 1, 3, 16, 16), r"got shape \(1, 1, 3, 16, 16\)"),
        (torch.rand(1, 4, 16, 16), "expects 3 input channels; the input of shape .* has 4"),
        (torch.full((1, 3, 16, 16), float("nan")), "NaN or infinite"),
        (torch.ones(1, 3, 16, 16).index_fill(2, torch.tensor([0]), float("inf")), "NaN or infinite"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), "floating-point input"),
        (np.zeros((1, 3, 16, 16), np.float32), r"torch tensor .* torch\.from_numpy"),
    ],
)
def test_bad_input_tensors(x, match):
    model = CatDogCNN(image_size=16)
    with pytest.raises(InvalidInputError, match=match):
        GradCAM(model, "conv3").generate_cam(x)
    with pytest.raises(ValueError):  # InvalidInputError is a ValueError
        CNNLayerVisualizer(model).get_feature_maps(x, "conv1")


def test_not_a_torch_model():
    with pytest.raises(ModelTypeError, match=r"Expected a torch\.nn\.Module, got builtins\.dict"):
        GradCAM({"conv": 1}, "conv")
    with pytest.raises(TypeError):
        CNNLayerVisualizer(lambda x: x)


def test_bad_counts():
    v = CNNLayerVisualizer(CatDogCNN(image_size=16))
    with pytest.raises(ValueError, match="max_filters must be a positive int"):
        v.visualize_conv_filters("conv1", max_filters=0)
    with pytest.raises(ValueError, match="batch_size"):
        ScoreCAM(v.model, "conv3", batch_size=0)
    with pytest.raises(IndexError, match="sample=3"):
        v.visualize_feature_maps(torch.rand(2, 3, 16, 16), "conv1", sample=3)


# ------------------------------------------------------------------ public API and imports
def test_seed_import_paths():
    import visualization
    from visualization.pytorch import cam_visualizer, layer_visualizer

    assert visualization.__version__
    assert set(cam_visualizer.__all__) >= {"GradCAM", "GradCAMPlusPlus", "ScoreCAM", "compare_cam_methods"}
    assert "CNNLayerVisualizer" in layer_visualizer.__all__
    for cls in CAMS:
        assert cls.__doc__ and "Example" in cls.__doc__
        assert issubclass(cls, __import__("visualization.core.cam", fromlist=["BaseCAM"]).BaseCAM)


def _loaded_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_core_imports_no_framework_and_torch_side_no_paddle():
    core = _loaded_modules(
        "import visualization, visualization.core.cam, visualization.core.layer_viz, visualization.core.image"
    )
    assert not {"torch", "paddle", "matplotlib", "plotly"} & core
    torch_side = _loaded_modules("import visualization.pytorch.cam_visualizer, visualization.pytorch.layer_visualizer")
    assert "torch" in torch_side and "paddle" not in torch_side


def test_works_inside_callers_no_grad_and_restores_grad_mode():
    model = seeded(SmallNet())
    x = torch.rand(2, 3, 8, 8)
    outside = GradCAM(model, "conv2").compute(x, 1)
    with torch.no_grad():
        inside = GradCAM(model, "conv2").compute(x, 1)
        assert not torch.is_grad_enabled()
    np.testing.assert_allclose(inside.weights, outside.weights, rtol=1e-6)
    assert np.abs(inside.weights).sum() > 0
    assert torch.is_grad_enabled()


def test_model_writing_into_its_input_does_not_touch_the_callers_tensor():
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    x = torch.randn(1, 3, 8, 8)
    before = x.clone()
    GradCAM(model, "1").generate_cam(x, 0)
    CNNLayerVisualizer(model).get_feature_maps(x, "1")
    torch.testing.assert_close(x, before, rtol=0, atol=0)


def test_auto_layer_skips_one_by_one_outputs():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    cam = GradCAM(model)
    cam.generate_cam(torch.rand(1, 3, 8, 8))
    assert cam.target_layer_name == "1"  # the ReLU's 6x6 output, not the 1x1 pooled one


class Detour(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Conv2d(3, 2, 3)
        self.unused = nn.Conv2d(3, 2, 3)

    def forward(self, x):
        self.unused(x)  # runs, but the output ignores it
        return self.used(x).mean(dim=(2, 3))


def test_layer_off_the_output_path_warns():
    with pytest.warns(RuntimeWarning, match="does not depend on layer 'unused'"):
        res = GradCAM(Detour(), "unused").compute(torch.rand(1, 3, 6, 6), 0)
    assert not res.weights.any()
