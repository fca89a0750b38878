"""PyTorch vs PaddlePaddle for the whole CAM family and its options, on twins with identical weights.

Tolerances as in ``test_paddle_parity``: heatmaps within 1e-5 absolute, raw arrays within 1e-4 of
their scale. Formulas that divide by a sum of activations (XGrad-CAM, Smooth Grad-CAM++) amplify
float32 rounding where that sum is close to zero (pre-activation layers), and Ablation-CAM
subtracts nearly equal logits; those cases are compared with a float64 run of the torch twin at the
precision the formula allows (``ILL_CONDITIONED``).
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest

from visualization.paddle import cam_visualizer as pd_cam
from visualization.pytorch import cam_visualizer as pt_cam

from .test_paddle_parity import assert_abs, assert_rel, target_for
from .twins import CAM_CASES, make_twin

NEW_METHODS = (
    "XGradCAM",
    "LayerCAM",
    "HiResCAM",
    "EigenCAM",
    "EigenGradCAM",
    "SmoothGradCAMPlusPlus",
    "AblationCAM",
)
# layers whose output is pre-activation, where sum_ij A_k(i, j) can be ~0 for some channel
PRE_ACTIVATION = {
    ("catdog", "conv2"),
    ("catdog", "conv3"),
    ("resbn", "stem.1"),
    ("resbn", "block.bn2"),
    ("gap", "conv"),
}
ILL_CONDITIONED = {(m, n, lay) for m in ("XGradCAM", "SmoothGradCAMPlusPlus") for n, lay in PRE_ACTIVATION}
# Ablation-CAM's weight (y - y_k) / y subtracts two nearly equal float32 logits: at catdog's conv3
# (128 channels) zeroing one channel moves the logit by ~1e-3 of its value, so float32 rounding of
# the logits (different kernels in each framework) reaches ~1e-5 in the normalized heatmap.
ILL_CONDITIONED.add(("AblationCAM", "catdog", "conv3"))
CASES = [(m, n, lay) for m in NEW_METHODS for n, lay in CAM_CASES if (m, n, lay) not in ILL_CONDITIONED]
KWARGS = {"SmoothGradCAMPlusPlus": {"n_samples": 3, "seed": 5}, "AblationCAM": {"batch_size": 5}}


def _pair(method: str, twin, layer, **extra):
    kw = {**KWARGS.get(method, {}), **extra}
    return getattr(pt_cam, method)(twin.torch_model, layer, **kw), getattr(pd_cam, method)(
        twin.paddle_model, layer, **kw
    )


def _same(a, b) -> None:
    assert a.method == b.method and a.layer_name == b.layer_name
    np.testing.assert_array_equal(a.targets, b.targets)
    assert a.heatmaps.max() > 0  # not a degenerate all-zero map, so the comparison means something
    assert_abs(a.heatmaps, b.heatmaps)
    assert_rel(a.raw, b.raw)
    if a.weights is not None:
        assert_rel(a.weights, b.weights)


@pytest.mark.parametrize(("n", "target"), [(1, "none"), (3, "per_sample")])
@pytest.mark.parametrize(("method", "name", "layer"), CASES)
def test_new_cam_methods_agree(method: str, name: str, layer: str, n: int, target: str) -> None:
    twin = make_twin(name)
    xt, xp = twin.inputs(n)
    tc = target_for(target, n, twin.num_classes)
    cam_t, cam_p = _pair(method, twin, layer)
    _same(cam_t.compute(xt, tc), cam_p.compute(xp, tc))


@pytest.mark.parametrize(("method", "name", "layer"), sorted(ILL_CONDITIONED))
def test_ill_conditioned_cases_against_float64(method: str, name: str, layer: str) -> None:
    twin = make_twin(name)
    xt, xp = twin.inputs(3)
    tc = target_for("per_sample", 3, twin.num_classes)
    cam_t, cam_p = _pair(method, twin, layer)
    ref = getattr(pt_cam, method)(copy.deepcopy(twin.torch_model).double(), layer, **KWARGS.get(method, {}))
    ref = ref.compute(xt.double(), tc)
    a, b = cam_t.compute(xt, tc), cam_p.compute(xp, tc)
    for res in (a, b):
        assert_abs(res.heatmaps, ref.heatmaps, atol=1e-3)
    assert_abs(a.heatmaps, b.heatmaps, atol=1e-3)


@pytest.mark.parametrize(("name", "layer"), [("gap", "relu"), ("resbn", "block")])
def test_classic_cam_agrees(name: str, layer: str) -> None:
    twin = make_twin(name)
    xt, xp = twin.inputs(3)
    cam_t, cam_p = _pair("CAM", twin, layer)
    _same(cam_t.compute(xt, [0, 1, 2]), cam_p.compute(xp, [0, 1, 2]))


def test_classic_cam_refuses_the_same_models() -> None:
    twin = make_twin("catdog")
    xt, xp = twin.inputs(1)
    errors = []
    for cam, x in ((pt_cam.CAM(twin.torch_model, "conv3"), xt), (pd_cam.CAM(twin.paddle_model, "conv3"), xp)):
        with pytest.raises(Exception) as info:
            cam.compute(x)
        errors.append(type(info.value))
    assert errors[0] is errors[1]


@pytest.mark.parametrize(
    ("method", "name", "layer", "options"),
    [
        ("GradCAM", "catdog", "conv3", {"aug_smooth": True}),
        ("ScoreCAM", "resbn", "block", {"aug_smooth": True, "top_k": 3}),
        ("GradCAMPlusPlus", "resbn", "block", {"eigen_smooth": True}),
        ("AblationCAM", "catdog", "conv2", {"eigen_smooth": True}),
        ("GradCAM", "catdog", ["conv2", "conv3"], {}),
        ("LayerCAM", "resbn", ["stem.1", "block"], {}),
        ("ScoreCAM", "catdog", ["conv2", "conv3"], {"top_k": 8}),
    ],
)
def test_options_agree(method: str, name: str, layer, options: dict) -> None:
    twin = make_twin(name)
    xt, xp = twin.inputs(2)
    cam_t, cam_p = _pair(method, twin, layer, **options)
    a, b = cam_t.compute(xt, [1, 0]), cam_p.compute(xp, [1, 0])
    _same(a, b)
    for pa, pb in zip(a.layers, b.layers):
        _same(pa, pb)


def test_ablation_cam_chooses_the_same_shortcut(caplog) -> None:
    """resbn's ``block.bn2`` has a residual add after it: both frameworks detect that the stand-in
    is not valid there and broadcast the skip instead."""
    twin = make_twin("resbn")
    xt, xp = twin.inputs(1)
    logs = []
    for cam, x in zip(_pair("AblationCAM", twin, "block.bn2"), (xt, xp)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="visualization"):
            cam.compute(x, 1)
        logs.append(caplog.text.split("(")[-1])
        assert "forward" not in cam.target_layer.__dict__  # the skipped layer's forward is restored
    assert logs[0] == logs[1] and "broadcast" in logs[0]
