"""Token layers (``reshape_transform``), target objects, the ``output`` argument and their errors,
in PyTorch and Paddle on the zoo's twins (``tests/zoo.py``)."""

from __future__ import annotations

import logging

import numpy as np
import paddle
import pytest
import torch

from visualization.core import tokens
from visualization.core.errors import LayerOutputError, TargetError
from visualization.paddle import cam_visualizer as pd_cam
from visualization.paddle import targets as pd_targets
from visualization.paddle.layer_visualizer import CNNLayerVisualizer as PaddleViz
from visualization.pytorch import cam_visualizer as pt_cam
from visualization.pytorch import targets as pt_targets
from visualization.pytorch._backend import BACKEND as TORCH
from visualization.pytorch.layer_visualizer import CNNLayerVisualizer as TorchViz

from ._entry_points import CAM_CLASSES
from .zoo import make

FRAMEWORKS = ("torch", "paddle")


def _fw(framework: str, name: str):
    z = make(name)
    xt, xp = z.inputs(2, seed=4)
    if framework == "torch":
        return pt_cam, pt_targets, z.torch_model, xt
    return pd_cam, pd_targets, z.paddle_model, xp


def _vit_callable(framework: str):
    """pytorch-grad-cam's ViT reshape_transform, written for each framework's tensors."""
    if framework == "torch":
        return lambda t: t[:, 1:, :].reshape(t.shape[0], 4, 4, t.shape[2]).permute(0, 3, 1, 2)
    return lambda t: t[:, 1:, :].reshape([t.shape[0], 4, 4, t.shape[2]]).transpose([0, 3, 1, 2])


def _state(model) -> dict[str, np.ndarray]:
    return {
        k: np.array(v.detach().cpu().numpy() if hasattr(v, "detach") else v.numpy())
        for k, v in model.state_dict().items()
    }


# ----------------------------------------------------------------------------- token layers
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("method", ["GradCAM", "ScoreCAM", "AblationCAM", "LayerCAM"])
def test_vit_reshape_auto_string_and_callable_agree(framework, method):
    cam_mod, _, model, x = _fw(framework, "vit")
    maps = [
        getattr(cam_mod, method)(model, "blocks.1.norm1", reshape_transform=spec).compute(x, 2).heatmaps
        for spec in (None, "vit", _vit_callable(framework))
    ]
    assert maps[0].std() > 0.01
    np.testing.assert_allclose(maps[1], maps[0], atol=1e-6)
    np.testing.assert_allclose(maps[2], maps[0], atol=1e-6)


def test_gradients_flow_through_the_reshape():
    """Grad-CAM's weights on a ViT are the mean over patch tokens of the raw token gradient."""
    z = make("vit")
    x = z.inputs(1)[0]
    layer = z.torch_model.blocks[1].norm1
    cap = TORCH.capture(z.torch_model, x, "blocks.1.norm1", layer, 3, True)
    assert cap.gradients.shape == (1, 17, 16)  # raw tokens, class token first
    expected = cap.gradients[:, 1:, :].mean(axis=1)
    res = pt_cam.GradCAM(z.torch_model, layer).compute(x, 3)
    np.testing.assert_allclose(res.weights, expected, rtol=1e-5, atol=1e-8)
    assert res.raw.shape == (1, 4, 4)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_swin_reshape_and_the_log(framework, caplog):
    cam_mod, _, model, x = _fw(framework, "swin")
    with caplog.at_level(logging.INFO, logger="visualization"):
        auto = cam_mod.GradCAM(model).compute(x, 1)
    assert "layers.1.blocks.1.norm1" in caplog.text and "Swin-style channels-last tokens on a 4 x 4 grid" in caplog.text
    given = cam_mod.GradCAM(model, "layers.1.blocks.1.norm1", reshape_transform="swin").compute(x, 1)
    np.testing.assert_allclose(given.heatmaps, auto.heatmaps, atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_vit_auto_layer_is_logged(framework, caplog):
    cam_mod, _, model, x = _fw(framework, "vit")
    with caplog.at_level(logging.INFO, logger="visualization"):
        cam = cam_mod.GradCAM(model)
        cam.compute(x)
    assert cam.target_layer_name == "blocks.1.norm1"
    assert "transformer blocks" in caplog.text and "1 class token + 4 x 4 patch tokens" in caplog.text


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_feature_map_views_read_tokens(framework):
    viz_cls = TorchViz if framework == "torch" else PaddleViz
    _, _, model, x = _fw(framework, "vit")
    viz = viz_cls(model)
    maps = viz.get_feature_maps(x, "blocks.1.norm1")
    assert maps.shape == (2, 16, 4, 4)
    explicit = viz_cls(model, reshape_transform=_vit_callable(framework)).get_feature_maps(x, "blocks.1.norm1")
    np.testing.assert_array_equal(maps, explicit)
    grads = viz.get_gradients(x, 1, "blocks.1.norm1")
    assert grads.gradients.shape == (2, 16, 4, 4) and grads.activations.shape == (2, 16, 4, 4)
    assert viz.visualize_feature_maps(x, "blocks.1.norm1", max_maps=4) is not None


def test_token_maps_agree_across_frameworks():
    z = make("vit")
    xt, xp = z.inputs(2, seed=4)
    a = TorchViz(z.torch_model).get_gradients(xt, 1, "blocks.1.norm1")
    b = PaddleViz(z.paddle_model).get_gradients(xp, 1, "blocks.1.norm1")
    np.testing.assert_allclose(a.gradients, b.gradients, atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_reshape_that_does_not_fit_is_refused_and_the_model_is_unchanged(framework):
    cam_mod, _, model, x = _fw(framework, "swin")
    before = _state(model)
    with pytest.raises(
        LayerOutputError, match=r"\(2, 4, 4, 32\).*reshape_transform='vit' expects a ViT token sequence"
    ):
        cam_mod.GradCAM(model, "layers.1.blocks.1.norm1", reshape_transform="vit").compute(x)
    vit = _fw(framework, "vit")
    with pytest.raises(LayerOutputError, match=r"\(2, 17, 16\).*reshape_transform='swin' expects Swin-style tokens"):
        vit[0].GradCAM(vit[2], "blocks.1.norm1", reshape_transform="swin").compute(vit[3])
    with pytest.raises(LayerOutputError, match=r"it must return a tensor \(N, C, h, w\)"):
        vit[0].GradCAM(vit[2], "blocks.1.norm1", reshape_transform=lambda t: t).compute(vit[3])
    after = _state(model)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    if framework == "torch":
        assert not any(m._forward_hooks for m in model.modules())
    else:
        assert not any(m._forward_post_hooks for m in model.sublayers(include_self=True))


def test_undecidable_tokens_and_bad_specs():
    with pytest.raises(LayerOutputError, match=r"neither 7 - 1 .* nor 7 .* tokens form a grid"):
        tokens.resolve_layout(None, (1, 7, 8), (32, 32), "odd")
    with pytest.raises(ValueError, match="reshape_transform must be None"):
        pt_cam.GradCAM(make("vit").torch_model, reshape_transform="deit")
    assert tokens.resolve_layout(None, (1, 8, 4, 4), (32, 32), "conv").kind == "nchw"
    assert tokens.resolve_layout(None, (1, 4, 4, 96), (32, 32), "swin").kind == "swin"
    assert tokens.resolve_layout(None, (1, 197, 768), (224, 224), "vit").grid == (14, 14)
    assert tokens.resolve_layout(None, (1, 1 + 14 * 21, 8), (224, 336), "vit").grid == (14, 21)


# ----------------------------------------------------------------------------- targets
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("method", ["GradCAM", "ScoreCAM", "AblationCAM", "CAM"])
def test_classifier_output_target_is_the_class_index(framework, method):
    cam_mod, tg, model, x = _fw(framework, "resnet50")
    cam = getattr(cam_mod, method)(model, "layer4")
    a = cam.compute(x, [1, 3])
    b = cam.compute(x, [tg.ClassifierOutputTarget(1), tg.ClassifierOutputTarget(3)])
    c = cam.compute(x, tg.ClassifierOutputTarget(3))
    np.testing.assert_array_equal(a.heatmaps, b.heatmaps)
    np.testing.assert_array_equal(b.targets, [1, 3])
    np.testing.assert_array_equal(c.heatmaps[1], b.heatmaps[1])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_softmax_target_matches_a_callable(framework):
    cam_mod, tg, model, x = _fw(framework, "resnet50")
    if framework == "torch":
        fn = lambda out: torch.softmax(out, 1)[:, 2]  # noqa: E731
    else:
        fn = lambda out: paddle.nn.functional.softmax(out, 1)[:, 2]  # noqa: E731
    cam = cam_mod.GradCAM(model, "layer4")
    np.testing.assert_allclose(cam.compute(x, tg.SoftmaxTarget(2)).heatmaps, cam.compute(x, fn).heatmaps, atol=1e-6)
    per_sample = cam.compute(x, [tg.SoftmaxTarget(2), tg.SoftmaxTarget(0)]).heatmaps
    np.testing.assert_allclose(per_sample[1], cam.compute(x, tg.SoftmaxTarget(0)).heatmaps[1], atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_segmentation_target_is_the_masked_logit_sum(framework):
    cam_mod, tg, model, x = _fw(framework, "deeplabv3")
    mask = np.zeros((32, 32), bool)
    mask[8:20, 4:16] = True
    m = torch.from_numpy(mask).float() if framework == "torch" else paddle.to_tensor(mask.astype("float32"))
    cam = cam_mod.GradCAM(model, "project", output="out")
    got = cam.compute(x, tg.SemanticSegmentationTarget(3, mask)).heatmaps
    want = cam.compute(
        x, lambda out: (out[:, 3] * m).sum((1, 2)) if framework == "torch" else (out[:, 3] * m).sum([1, 2])
    )
    np.testing.assert_allclose(got, want.heatmaps, atol=1e-6)
    with pytest.raises(TargetError, match=r"mask has shape \(16, 16\) but the output's maps are \(32, 32\)"):
        cam.compute(x, tg.SemanticSegmentationTarget(3, np.ones((16, 16))))
    with pytest.raises(TargetError, match="needs a segmentation output"):
        cam_mod.GradCAM(_fw(framework, "resnet50")[2], "layer4").compute(x, tg.SemanticSegmentationTarget(0, mask))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_box_target_scores_the_matching_detection(framework):
    cam_mod, tg, model, x = _fw(framework, "detector")
    det = model(x[:1])[0]
    to_np = (lambda t: t.detach().numpy()) if framework == "torch" else (lambda t: t.numpy())
    scores, boxes, labels = to_np(det["scores"]), to_np(det["boxes"]), to_np(det["labels"])
    j = int(scores.argmax())
    target = tg.DetectionBoxTarget([int(labels[j])], boxes[j : j + 1] + 0.5, iou_threshold=0.5)
    assert float(to_np(target.score(det))) == pytest.approx(float(scores[j]))
    cam = cam_mod.GradCAM(model, "backbone")
    got = cam.compute(x[:1], target)
    want = cam.compute(x[:1], lambda out: out[0]["scores"][j : j + 1])
    np.testing.assert_allclose(got.heatmaps, want.heatmaps, atol=1e-6)
    far = tg.DetectionBoxTarget([int(labels[j])], [[-100, -100, -90, -90]])
    assert float(to_np(far.score(det))) == 0.0  # nothing matches: 0, not an error
    with pytest.raises(TargetError, match=r"needs detections.*a tensor of shape \(5\) per sample.*classifier"):
        cam_mod.GradCAM(_fw(framework, "resnet50")[2], "layer4").compute(x, target)


# ----------------------------------------------------------------------------- output=
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_tuple_and_dict_outputs_need_output_and_say_what_came_back(framework):
    cam_mod, _, model, x = _fw(framework, "googlenet")
    before = _state(model)
    with pytest.raises(
        TargetError, match=r"returned a tuple of 2 \[a tensor of shape \(2, 5\); a tensor of shape \(2, 5\)\].*output="
    ):
        cam_mod.GradCAM(model, "inception4").compute(x, 0)
    with pytest.raises(TargetError, match=r"output=2 is not an index.*a tuple of 2"):
        cam_mod.GradCAM(model, "inception4", output=2).compute(x, 0)
    main = cam_mod.GradCAM(model, "inception4", output=0).compute(x, 0)
    aux = cam_mod.GradCAM(model, "inception3", output=1).compute(x, 0)
    assert main.outputs.shape == aux.outputs.shape == (2, 5)
    seg = _fw(framework, "deeplabv3")
    with pytest.raises(TargetError, match=r"output='logits' is not a key.*Its keys are \['out'\]"):
        seg[0].GradCAM(seg[2], "project", output="logits").compute(seg[3])
    with pytest.raises(TypeError, match="output must be None, a key"):
        cam_mod.GradCAM(model, output=1.5)
    after = _state(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_paddle_layer_norms_are_restored_after_a_gradient_call():
    """The Paddle adapter runs every LayerNorm as a composite formula during a gradient call (Paddle
    3.3.1's kernel gives wrong input gradients there) and gives each its own forward back after."""
    model = make("vit").paddle_model
    norms = [m for m in model.sublayers() if isinstance(m, paddle.nn.LayerNorm)]
    x = make("vit").inputs(1)[1]
    pd_cam.GradCAM(model, "blocks.1.norm1").compute(x)
    with pytest.raises(TargetError):
        pd_cam.GradCAM(model, "blocks.1.norm1").compute(x, lambda out: out)  # wrong shape: raises mid-call
    assert norms and all("forward" not in m.__dict__ for m in norms)


@pytest.mark.parametrize("module", [pt_cam, pd_cam], ids=["torch", "paddle"])
def test_every_cam_class_takes_reshape_transform_and_output(module):
    """A class with its own __init__ (EigenCAM's `center`, Score-CAM's `top_k`, ...) must still pass both on."""
    import inspect

    for name in CAM_CLASSES:
        cls = getattr(module, name)
        params = inspect.signature(cls.__init__).parameters
        assert {"reshape_transform", "output"} <= set(params), name
        cam = cls(torch_or_paddle_dummy(module), None, reshape_transform="vit", output=0)
        assert cam.reshape_transform == "vit" and cam.output == 0, name


def torch_or_paddle_dummy(module):
    if module is pt_cam:
        return torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    return paddle.nn.Sequential(paddle.nn.Conv2D(3, 2, 3), paddle.nn.AdaptiveAvgPool2D(1), paddle.nn.Flatten())
