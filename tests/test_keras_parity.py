"""PyTorch vs Keras: every CAM method, the layer visualizer and ``compare_cam_methods`` give the same
numbers on twin models with identical weights (:mod:`tests.keras_twins`).

The checks and tolerances of ``test_paddle_parity`` and ``test_cam_family_parity``, run against the
Keras twins: heatmaps (normalized to [0, 1]) within ``ATOL = 1e-5`` absolute; raw arrays
(activations, gradients, channel weights, raw maps, logits) within ``RTOL = 1e-4`` of the torch
array's largest magnitude. The Keras side is fed channels-last arrays, as Keras users hold them;
everything it returns is in the toolkit's one layout, so the arrays are compared directly.

Ill-conditioned cases (the same set as the Paddle suite, for the same reason: Grad-CAM++ and Smooth
Grad-CAM++ divide by ``2 g^2 + (sum A) g^3``, XGrad-CAM by ``sum A``, on pre-activation layers where
that is close to zero) are compared with a float64 run of the torch twin. Measured on the catdog
twin, batch 3, per-sample targets (max |heatmap difference|)::

    method                 layer   torch-keras  torch-float64  keras-float64
    GradCAMPlusPlus        conv2   9.0e-05      2.3e-05        7.5e-05
    GradCAMPlusPlus        conv3   1.5e-05      1.7e-05        2.0e-06
    SmoothGradCAMPlusPlus  conv2   4.1e-04      2.8e-04        1.3e-04
    SmoothGradCAMPlusPlus  conv3   4.3e-05      1.3e-05        3.0e-05

With the defaults (``n_samples=4``, seed 0), batch 1, predicted class, at conv2: Grad-CAM++ torch-keras
1.1e-4 (torch-float64 3.1e-5, keras-float64 9.4e-5); Smooth Grad-CAM++ torch-keras 3.9e-4
(torch-float64 1.5e-3, keras-float64 1.1e-3). Torch is as far from float64 as Keras is, and the
activations and gradients those maps are computed from agree within 7e-7 relative at conv2
(``test_gradients`` checks 1e-4); ``2 + (sum A) g`` falls to 6.3e-3 there for a positive gradient, an
amplification of ~300. So the difference is float32 rounding amplified by the formula, not a
difference of definition. Smooth Grad-CAM++'s noise is drawn by the
core in its channels-first layout from the same seed, so both frameworks see the same noisy copies;
``test_smooth_gradcampp_noise_is_the_same`` checks that on a well-conditioned layer at 1e-5.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from visualization.keras import cam_visualizer as k_cam
from visualization.keras import layer_visualizer as k_lv
from visualization.pytorch import cam_visualizer as pt_cam
from visualization.pytorch import layer_visualizer as pt_lv

from .keras_twins import make_keras_twin
from .test_paddle_parity import BATCHES, METHODS, TARGETS, assert_abs, assert_rel, target_for
from .twins import CAM_CASES, CONV_CASES

NEW_METHODS = ("XGradCAM", "LayerCAM", "HiResCAM", "EigenCAM", "EigenGradCAM", "SmoothGradCAMPlusPlus", "AblationCAM")
ALL_METHODS = METHODS + NEW_METHODS
PRE_ACTIVATION = {
    ("catdog", "conv2"),
    ("catdog", "conv3"),
    ("resbn", "stem.1"),
    ("resbn", "block.bn2"),
    ("gap", "conv"),
}
ILL_CONDITIONED = {("GradCAMPlusPlus", "catdog", "conv2"), ("GradCAMPlusPlus", "catdog", "conv3")}
ILL_CONDITIONED |= {(m, n, lay) for m in ("XGradCAM", "SmoothGradCAMPlusPlus") for n, lay in PRE_ACTIVATION}
ILL_CONDITIONED.add(("AblationCAM", "catdog", "conv3"))  # (y - y_k) / y of nearly equal logits
# batch sizes that still give several chunks per call on catdog's 64 and 128 channels
KWARGS = {"SmoothGradCAMPlusPlus": {"n_samples": 3, "seed": 5}, "AblationCAM": {"batch_size": 48}}
KWARGS["ScoreCAM"] = {"batch_size": 80}
# Score-CAM on catdog is the slow case (one forward pass per channel and image): the target kinds are
# resolved before the method runs (checked on every other method), so it runs two of the six combinations.
FULL_GRID = [(n, t) for n in BATCHES for t in TARGETS]
SLOW_GRID = [(1, "none"), (3, "per_sample")]


def _pair(method: str, name: str, layer, **extra):
    tw = make_keras_twin(name)
    kw = {**KWARGS.get(method, {}), **extra}
    return getattr(pt_cam, method)(tw.torch_model, layer, **kw), getattr(k_cam, method)(tw.keras_model, layer, **kw)


def _same(a, b) -> None:
    assert a.method == b.method and a.layer_name == b.layer_name
    np.testing.assert_array_equal(a.targets, b.targets)
    assert a.heatmaps.shape == b.heatmaps.shape
    assert a.heatmaps.max() > 0  # not a degenerate all-zero map, so the comparison means something
    assert_abs(a.heatmaps, b.heatmaps)
    assert_rel(a.raw, b.raw)
    if a.weights is not None:
        assert_rel(a.weights, b.weights)
    assert_rel(a.outputs, b.outputs)


# ---------------------------------------------------------------------------- the twins themselves
@pytest.mark.parametrize("name", ["catdog", "resbn", "gap"])
def test_twins_give_the_same_logits(name: str) -> None:
    tw = make_keras_twin(name)
    xt, xk = tw.inputs(3)
    assert_rel(tw.torch_model(xt).detach().numpy(), np.asarray(tw.keras_model(xk, training=False)), rtol=1e-5)


# ---------------------------------------------------------------------------- layer visualizer
@pytest.mark.parametrize(("name", "layer"), CONV_CASES)
def test_conv_filters_identical(name: str, layer: str) -> None:
    tw = make_keras_twin(name)
    a = pt_lv.CNNLayerVisualizer(tw.torch_model).get_conv_filters(layer)
    b = k_lv.CNNLayerVisualizer(tw.keras_model).get_conv_filters(layer)
    np.testing.assert_array_equal(a, b)  # (C_out, C_in, kh, kw) on both sides, copied: bit-identical
    np.testing.assert_array_equal(b, tw.twin.weights[f"{layer}.weight"])


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize(("name", "layer"), CAM_CASES)
def test_feature_maps(name: str, layer: str, n: int) -> None:
    tw = make_keras_twin(name)
    xt, xk = tw.inputs(n)
    a = pt_lv.CNNLayerVisualizer(tw.torch_model).get_feature_maps(xt, layer)
    b = k_lv.CNNLayerVisualizer(tw.keras_model).get_feature_maps(xk, layer)
    assert a.shape[0] == n and a.ndim == 4
    assert_rel(a, b)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize(("name", "layer"), CAM_CASES)
def test_gradients(name: str, layer: str, n: int, target: str) -> None:
    tw = make_keras_twin(name)
    xt, xk = tw.inputs(n)
    tc = target_for(target, n, tw.twin.num_classes)
    a = pt_lv.CNNLayerVisualizer(tw.torch_model).get_gradients(xt, tc, layer)
    b = k_lv.CNNLayerVisualizer(tw.keras_model).get_gradients(xk, tc, layer)
    assert a.layer_name == b.layer_name == layer
    np.testing.assert_array_equal(a.targets, b.targets)
    assert np.abs(a.gradients).max() > 0  # a real gradient reached the layer
    for field in ("activations", "gradients", "channel_weights", "magnitude"):
        assert_rel(getattr(a, field), getattr(b, field))


def test_gradients_callable_target() -> None:
    tw = make_keras_twin("resbn")
    xt, xk = tw.inputs(3)
    a = pt_lv.CNNLayerVisualizer(tw.torch_model).get_gradients(xt, lambda out: out[:, 2] - out[:, 0], "block")
    b = k_lv.CNNLayerVisualizer(tw.keras_model).get_gradients(xk, lambda out: out[:, 2] - out[:, 0], "block")
    assert a.targets is None and b.targets is None
    assert_rel(a.gradients, b.gradients)


# ---------------------------------------------------------------------------- CAM methods
CORE_CASES = [(m, n, lay) for m in METHODS for n, lay in CAM_CASES if (m, n, lay) not in ILL_CONDITIONED]
NEW_CASES = [(m, n, lay) for m in NEW_METHODS for n, lay in CAM_CASES if (m, n, lay) not in ILL_CONDITIONED]


@pytest.mark.parametrize(
    ("method", "name", "layer", "n", "target"),
    [(*case, n, t) for case in CORE_CASES for n, t in (SLOW_GRID if case[:2] == ("ScoreCAM", "catdog") else FULL_GRID)],
)
def test_cam_methods(method: str, name: str, layer: str, n: int, target: str) -> None:
    tw = make_keras_twin(name)
    xt, xk = tw.inputs(n)
    tc = target_for(target, n, tw.twin.num_classes)
    cam_t, cam_k = _pair(method, name, layer)
    a, b = cam_t.compute(xt, tc), cam_k.compute(xk, tc)
    assert a.heatmaps.shape == (n, *tw.twin.input_shape[1:])
    _same(a, b)


@pytest.mark.parametrize(("n", "target"), [(1, "none"), (3, "per_sample")])
@pytest.mark.parametrize(("method", "name", "layer"), NEW_CASES)
def test_new_cam_methods_agree(method: str, name: str, layer: str, n: int, target: str) -> None:
    tw = make_keras_twin(name)
    xt, xk = tw.inputs(n)
    tc = target_for(target, n, tw.twin.num_classes)
    cam_t, cam_k = _pair(method, name, layer)
    _same(cam_t.compute(xt, tc), cam_k.compute(xk, tc))


@pytest.mark.parametrize(("method", "name", "layer"), sorted(ILL_CONDITIONED))
def test_ill_conditioned_cases_against_float64(method: str, name: str, layer: str) -> None:
    """Both frameworks against a float64 run of the torch twin, at the precision the formula allows."""
    tw = make_keras_twin(name)
    xt, xk = tw.inputs(3)
    tc = target_for("per_sample", 3, tw.twin.num_classes)
    cam_t, cam_k = _pair(method, name, layer)
    ref = getattr(pt_cam, method)(copy.deepcopy(tw.torch_model).double(), layer, **KWARGS.get(method, {}))
    ref = ref.compute(xt.double(), tc)
    a, b = cam_t.compute(xt, tc), cam_k.compute(xk, tc)
    np.testing.assert_array_equal(a.targets, b.targets)
    for res in (a, b):
        assert_abs(res.heatmaps, ref.heatmaps, atol=1e-3)
        if method == "GradCAMPlusPlus":
            assert_rel(res.weights, ref.weights, rtol=2e-3)
    assert_abs(a.heatmaps, b.heatmaps, atol=1e-3)


def test_smooth_gradcampp_noise_is_the_same() -> None:
    """The noisy copies are the same in both frameworks (a transposed noise layout would move the map)."""
    cam_t, cam_k = _pair("SmoothGradCAMPlusPlus", "resbn", "stem.2", n_samples=4, seed=3, noise_level=0.5)
    xt, xk = make_keras_twin("resbn").inputs(2)
    a, b = cam_t.compute(xt, [0, 2]), cam_k.compute(xk, [0, 2])
    _same(a, b)
    plain = _pair("GradCAMPlusPlus", "resbn", "stem.2")[1].compute(xk, [0, 2])
    assert np.abs(plain.heatmaps - b.heatmaps).max() > 1e-2  # the noise does change the map


def test_generate_cam_single_image_and_3d_input() -> None:
    tw = make_keras_twin("gap")
    xt, xk = tw.inputs(1)
    a = pt_cam.GradCAM(tw.torch_model, "relu").generate_cam(xt[0], 1)  # (C, H, W): one image
    b = k_cam.GradCAM(tw.keras_model, "relu").generate_cam(xk[0], 1)  # (H, W, C): one image
    assert a.shape == b.shape == tw.twin.input_shape[1:]
    assert_abs(a, b)


@pytest.mark.parametrize("method", METHODS)
def test_auto_layer_is_the_same(method: str) -> None:
    # On catdog the choices differ by design: the Keras CatDogCNN has its own pool1..pool3 layers, so the
    # last 4-D output is pool3's, while the torch twin's shared ``pool`` runs three times and is skipped
    # (conv3). On resbn, Keras's GlobalAveragePooling2D outputs (N, C), torch's (N, C, 1, 1) counts as
    # spatial. The gap twin has the same candidates in both.
    tw = make_keras_twin("gap")
    xt, xk = tw.inputs(2)
    cam_t, cam_k = _pair(method, "gap", None)
    a, b = cam_t.compute(xt, [0, 3]), cam_k.compute(xk, [0, 3])
    assert cam_t.target_layer_name == cam_k.target_layer_name == "relu"
    _same(a, b)
    catdog = k_cam.GradCAM(make_keras_twin("catdog").keras_model)
    catdog.generate_cam(make_keras_twin("catdog").inputs(1)[1])
    assert catdog.target_layer_name == "pool3"


def test_gap_gradcam_equals_classic_cam() -> None:
    """Analytic oracle: after conv -> ReLU -> global average pool -> dense, the gradient of logit c
    with respect to the ReLU output is ``W[c] / (h w)`` everywhere, so Grad-CAM is classic CAM."""
    tw = make_keras_twin("gap")
    _, xk = tw.inputs(3)
    res = k_cam.GradCAM(tw.keras_model, "relu").compute(xk, [0, 1, 3])
    w = tw.twin.weights["fc.weight"][[0, 1, 3]]  # torch layout (classes, channels)
    h, wd = res.raw.shape[1:]
    assert_rel(res.weights, w / (h * wd), rtol=1e-6)
    # the classic CAM from the ReLU maps, computed here independently (numpy convolution, NHWC)
    k = tw.twin.weights["conv.weight"]  # (O, I, 3, 3)
    windows = np.lib.stride_tricks.sliding_window_view(xk, (3, 3), axis=(1, 2))  # (N, h, w, I, 3, 3)
    acts = np.maximum(np.einsum("nhwiab,oiab->nohw", windows, k) + tw.twin.weights["conv.bias"][:, None, None], 0)
    classic = np.maximum(np.einsum("nc,nchw->nhw", w, acts), 0.0) / (h * wd)
    assert_rel(res.raw, classic, rtol=1e-5)


@pytest.mark.parametrize(("name", "layer"), [("gap", "relu"), ("resbn", "block")])
def test_classic_cam_agrees(name: str, layer: str) -> None:
    tw = make_keras_twin(name)
    xt, xk = tw.inputs(3)
    cam_t, cam_k = _pair("CAM", name, layer)
    _same(cam_t.compute(xt, [0, 1, 2]), cam_k.compute(xk, [0, 1, 2]))


def test_classic_cam_refuses_the_same_models() -> None:
    tw = make_keras_twin("catdog")
    xt, xk = tw.inputs(1)
    errors = []
    for cam, x in ((pt_cam.CAM(tw.torch_model, "conv3"), xt), (k_cam.CAM(tw.keras_model, "conv3"), xk)):
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
    tw = make_keras_twin(name)
    xt, xk = tw.inputs(2)
    cam_t, cam_k = _pair(method, name, layer, **options)
    a, b = cam_t.compute(xt, [1, 0]), cam_k.compute(xk, [1, 0])
    _same(a, b)
    assert len(a.layers) == len(b.layers)
    for pa, pb in zip(a.layers, b.layers):
        _same(pa, pb)


def test_compare_cam_methods_draws_the_same_maps() -> None:
    tw = make_keras_twin("catdog")
    xt, xk = tw.inputs(2)
    figs = [
        pt_cam.compare_cam_methods(tw.torch_model, "conv3", xt, methods=[pt_cam.GradCAM, pt_cam.LayerCAM]),
        k_cam.compare_cam_methods(tw.keras_model, "conv3", xk, methods=[k_cam.GradCAM, k_cam.LayerCAM]),
    ]
    titles = [[ax.get_title() for ax in f.axes] for f in figs]
    assert titles[0] == titles[1] and "Grad-CAM" in titles[0]
    overlays = [[np.asarray(im.get_array(), np.float64) for ax in f.axes for im in ax.get_images()] for f in figs]
    assert len(overlays[0]) == len(overlays[1]) == 6  # per image: the input, then one overlay per method
    for p, q in zip(*overlays):
        assert p.shape == q.shape == (32, 32, 3) and p.max() > 0.5
        # colormapped heatmaps that agree within 1e-5: a pixel may fall into the neighbouring colormap
        # bin (measured: one pixel of 6144, by 0.007), nothing more
        diff = np.abs(p - q)
        assert diff.max() <= 0.02 and diff.mean() <= 1e-4, (diff.max(), diff.mean())
