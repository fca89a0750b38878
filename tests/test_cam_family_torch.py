"""The CAM family beyond Grad-CAM (PyTorch side): analytic oracles, independent re-implementations in
the tests, and agreement with torchcam where it implements the same definition."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from visualization.core import augment, cam_math
from visualization.core.errors import LayerOutputError, TargetError
from visualization.core.image import normalize_maps, resize_bilinear
from visualization.pytorch.cam_visualizer import (
    CAM,
    AblationCAM,
    EigenCAM,
    EigenGradCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    SmoothGradCAMPlusPlus,
    XGradCAM,
    compare_cam_methods,
)
from visualization.pytorch.models import CatDogCNN

from ._torch_nets import GapNet, SmallNet, seeded
from .twins import make_twin


def _x(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _acts_and_grads(model, layer, x, cls):
    """Independent path: activations and d score / d activations with a retained-grad forward hook."""
    store = {}

    def hook(m, i, o):
        o.retain_grad()
        store["a"] = o

    h = layer.register_forward_hook(hook)
    try:
        out = model(x.clone().requires_grad_(True))
        out[torch.arange(len(cls)), torch.as_tensor(cls)].sum().backward()
    finally:
        h.remove()
        model.zero_grad(set_to_none=True)
    return store["a"].detach().double().numpy(), store["a"].grad.double().numpy()


class GapMLP(nn.Module):
    """conv -> ReLU -> global average pool -> tanh MLP: the gradient at ``relu`` is the same at every
    position but depends on the input (through tanh), so noise changes it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(self.relu(self.conv(x)).mean(dim=(2, 3)))))


class ReluNet(nn.Module):
    """Two conv + ReLU modules (post-ReLU layers: sums of activations are positive) and an MLP head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.relu2 = nn.ReLU()
        self.fc1 = nn.Linear(8 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        h = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc2(torch.relu(self.fc1(h.flatten(1))))


class CatSkip(nn.Module):
    """A concatenation skip around ``conv2``: the ablation shortcuts cannot broadcast it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.conv1(x))
        return self.fc(torch.cat([h, torch.relu(self.conv2(h))], dim=1).mean(dim=(2, 3)))


# ---------------------------------------------------------------------------- CAM
def test_cam_is_the_classifier_row_and_equals_gradcam_times_hw():
    model = seeded(GapNet())
    x = _x(3)
    res = CAM(model, "conv").compute(x, [0, 1, 3])
    w = model.fc.weight.detach().numpy()
    np.testing.assert_allclose(res.weights, w[[0, 1, 3]], rtol=0, atol=0)
    grad = GradCAM(model, "conv").compute(x, [0, 1, 3])
    np.testing.assert_allclose(res.raw, grad.raw * 16 * 16, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(res.heatmaps, grad.heatmaps, atol=1e-5)


def test_cam_finds_the_classifier_and_refuses_other_structures():
    with pytest.raises(LayerOutputError, match="fully connected layer with"):
        CAM(CatDogCNN(image_size=32), "conv3").compute(_x(1, 32))
    # SmallNet: bn2 + residual + ReLU + max-pool between conv2 and the pooled classifier input
    with pytest.raises(LayerOutputError, match=r"W \. GAP"):
        CAM(seeded(SmallNet()), "conv2").compute(_x(1, 8))
    with pytest.raises(TargetError, match="class indices"):
        CAM(seeded(GapNet()), "conv").compute(_x(1), lambda out: out[:, 0])
    with pytest.raises(LayerOutputError, match="not a fully connected"):
        CAM(seeded(GapNet()), "conv", fc_layer="conv")


# ---------------------------------------------------------------------------- XGrad-CAM, LayerCAM, HiResCAM
def test_xgradcam_layercam_hirescam_match_their_formulas():
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=3)
    x = _x(2)
    cls = [2, 0]
    a, g = _acts_and_grads(model, model.conv2, x, cls)
    xw = (a * g).sum(axis=(2, 3)) / a.sum(axis=(2, 3))
    expected = {
        XGradCAM: np.maximum(np.einsum("nc,nchw->nhw", xw, a), 0),
        LayerCAM: np.maximum((np.maximum(g, 0) * a).sum(axis=1), 0),
        HiResCAM: np.maximum((g * a).sum(axis=1), 0),
    }
    for cls_, ref in expected.items():
        res = cls_(model, "conv2").compute(x, cls)
        np.testing.assert_allclose(res.raw, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_hirescam_equals_gradcam_when_gradients_are_constant_over_positions():
    model = seeded(GapNet())
    x = _x(2)
    a, b = HiResCAM(model, "conv").compute(x, 1), GradCAM(model, "conv").compute(x, 1)
    np.testing.assert_allclose(a.raw, b.raw, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(("ours", "theirs"), [(XGradCAM, "XGradCAM"), (LayerCAM, "LayerCAM")])
def test_matches_torchcam(ours, theirs):
    torchcam = pytest.importorskip("torchcam.methods")
    # post-ReLU layers: XGrad-CAM divides by the sum of a channel's activations, which on a
    # pre-activation layer can be ~0 and amplify float32 rounding (torchcam sums in float32)
    model = seeded(ReluNet(), seed=4)
    x = _x(2, seed=3)
    for layer in ("relu1", "relu2"):
        with getattr(torchcam, theirs)(model, layer) as extractor:
            out = model(x)
            ref = extractor(1, out, normalized=False)[0].detach().numpy()
        res = ours(model, layer).compute(x, 1)
        assert ref.max() > 0
        np.testing.assert_allclose(res.raw, ref, rtol=0, atol=1e-5 * ref.max())


def test_layercam_fuses_layers_with_tanh_max():
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=4)
    x = _x(2)
    fused = LayerCAM(model, ["conv1", "conv3"]).compute(x, 1)
    single = [LayerCAM(model, layer).compute(x, 1) for layer in ("conv1", "conv3")]
    stack = np.stack([r.heatmaps.astype(np.float64) for r in single])  # each already in [0, 1]
    ref = np.tanh(2.0 * stack).max(axis=0)
    np.testing.assert_allclose(fused.heatmaps, normalize_maps(ref.astype(np.float32)), atol=1e-5)
    assert fused.layer_name == "conv1 + conv3" and fused.weights is None
    assert [r.layer_name for r in fused.layers] == ["conv1", "conv3"]


# ---------------------------------------------------------------------------- several layers
def test_several_layers_one_pass_and_mean_fusion():
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=5)
    x = _x(2)
    calls = []
    handle = model.register_forward_hook(lambda *a: calls.append(1))
    try:
        fused = GradCAM(model, ["conv2", model.conv3]).compute(x, [0, 2])
    finally:
        handle.remove()
    assert len(calls) == 1  # one forward (and one backward) for both layers
    singles = [GradCAM(model, layer).compute(x, [0, 2]) for layer in ("conv2", "conv3")]
    for part, single in zip(fused.layers, singles):
        np.testing.assert_allclose(part.weights, single.weights, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(fused.raw, (singles[0].heatmaps + singles[1].heatmaps) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="twice"):
        GradCAM(model, ["conv2", "conv2"])
    with pytest.raises(ValueError, match="empty"):
        GradCAM(model, [])


# ---------------------------------------------------------------------------- Eigen-CAM, eigen_smooth
def _first_component(m: np.ndarray, center: bool) -> np.ndarray:
    """Independent route: the top eigenvector of M^T M (of the covariance if centred), not an SVD,
    signed to agree with the mean activation."""
    mean = m.mean(axis=0)
    mm = m - mean if center else m
    vals, vecs = np.linalg.eigh(mm.T @ mm)
    v = vecs[:, np.argmax(vals)]
    return mm @ (v if v @ mean >= 0 else -v)


def _eigen_ref(weighted: np.ndarray, center: bool = False) -> np.ndarray:
    out = []
    for w in weighted:
        c, h, ww = w.shape
        out.append(np.maximum(_first_component(w.reshape(c, -1).T.astype(np.float64), center), 0).reshape(h, ww))
    return np.stack(out)


def test_eigencam_and_eigen_smooth_are_first_principal_components():
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=6)
    x = _x(2)
    a, g = _acts_and_grads(model, model.conv3, x, [1, 1])
    eig = EigenCAM(model, "conv3").compute(x, 1)
    np.testing.assert_allclose(eig.raw, _eigen_ref(a), rtol=1e-3, atol=1e-4 * eig.raw.max())
    centred = EigenCAM(model, "conv3", center=True).compute(x, 1)
    np.testing.assert_allclose(centred.raw, _eigen_ref(a, True), rtol=1e-3, atol=1e-4 * centred.raw.max())
    egc = EigenGradCAM(model, "conv3").compute(x, 1)  # centred by default, as its definer (pytorch-grad-cam)
    np.testing.assert_allclose(egc.raw, _eigen_ref(a * g, True), rtol=1e-3, atol=1e-4 * egc.raw.max())
    egc_u = EigenGradCAM(model, "conv3", center=False).compute(x, 1)
    np.testing.assert_allclose(egc_u.raw, _eigen_ref(a * g), rtol=1e-3, atol=1e-4 * egc_u.raw.max())
    np.testing.assert_allclose(HiResCAM(model, "conv3", eigen_smooth=True).compute(x, 1).raw, egc.raw, atol=1e-7)
    gw = (g.mean(axis=(2, 3)))[:, :, None, None]
    smoothed = GradCAM(model, "conv3").compute(x, 1, eigen_smooth=True)
    np.testing.assert_allclose(smoothed.raw, _eigen_ref(gw * a, True), rtol=1e-3, atol=1e-4 * smoothed.raw.max())


def test_eigen_projection_of_rank_one_activations_is_the_spatial_pattern():
    """Known answer: every channel a positive multiple of one map P. Uncentred (the paper), the map is P
    itself times |loadings|; centred, only the part of P above its mean survives."""
    rng = np.random.default_rng(0)
    pattern = rng.random((5, 6))
    loadings = rng.random(7) + 0.5
    acts = (loadings[:, None, None] * pattern)[None]
    np.testing.assert_allclose(
        cam_math.eigen_projection(acts)[0], pattern * np.linalg.norm(loadings), rtol=1e-5, atol=1e-6
    )
    centred = pattern - pattern.mean()
    np.testing.assert_allclose(
        cam_math.eigen_projection(acts, center=True)[0],
        np.maximum(centred, 0) * np.linalg.norm(loadings),
        rtol=1e-5,
        atol=1e-6,
    )


def test_eigen_projection_finds_the_object_on_signed_maps():
    """Known answer on a signed (pre-activation) layer: the background is a weak negative response in
    every channel; the object a strong response along one direction, positive in two channels and
    negative in the others, so that its channel sum is *below* the background's. The paper's uncentred
    projection, signed by the mean activation, puts the object on top. The package's rule before
    issue #17 (centred, signed to correlate with the channel sum) put the background on top."""
    c, h, w = 8, 8, 8
    obj = np.zeros((h, w), bool)
    obj[2:5, 3:6] = True
    direction = np.array([5.0, 4.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0])
    acts = np.full((c, h, w), -1.0) + np.random.default_rng(1).normal(0, 0.05, (c, h, w))
    acts[:, obj] += 4 * direction[:, None]
    assert acts[:, obj].sum(axis=0).max() < acts[:, ~obj].sum(axis=0).min()  # the trap: object's sum is lower
    raw = cam_math.eigen_projection(acts[None])[0]
    assert raw[obj].min() > 10 * raw[~obj].max()  # the object stands out
    m = acts.reshape(c, -1).T
    _, _, vt = np.linalg.svd(m, full_matrices=False)
    v = vt[0] if vt[0] @ m.mean(axis=0) >= 0 else -vt[0]  # the rule: v1 agrees with the mean activation
    np.testing.assert_allclose(raw.ravel(), np.maximum(m @ v, 0), rtol=1e-5, atol=1e-6)
    # before #17: centred, sign by correlation with the channel sum -> the object scores 0
    centred = m - m.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    old = centred @ vt[0]
    total = m.sum(axis=1)
    old = np.maximum(old if np.corrcoef(old, total)[0, 1] >= 0 else -old, 0).reshape(h, w)
    assert old[obj].max() == 0 and old[~obj].max() > 0


# ---------------------------------------------------------------------------- Smooth Grad-CAM++
def test_smooth_gradcampp_without_noise_is_gradcampp():
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=7)
    x = _x(2)
    a = SmoothGradCAMPlusPlus(model, "conv3", n_samples=1, noise_level=0.0).compute(x, [1, 2])
    b = GradCAMPlusPlus(model, "conv3").compute(x, [1, 2])
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-4, atol=1e-9)


def test_smooth_gradcampp_averages_derivatives_over_seeded_noise():
    model = seeded(GapMLP(), seed=2)
    x = _x(2)
    cam = SmoothGradCAMPlusPlus(model, "relu", n_samples=5, noise_level=0.2, seed=3, batch_size=4)
    res = cam.compute(x, [0, 2])
    noise = cam.noise(x.numpy())
    a, _ = _acts_and_grads(model, model.relu, x, [0, 2])
    gs = np.stack([_acts_and_grads(model, model.relu, x + torch.from_numpy(e), [0, 2])[1] for e in noise])
    g1, g2, g3 = gs.mean(0), (gs**2).mean(0), (gs**3).mean(0)
    alpha = g2 / (2 * g2 + a.sum(axis=(2, 3), keepdims=True) * g3)
    np.testing.assert_allclose(res.weights, (alpha * np.maximum(g1, 0)).sum(axis=(2, 3)), rtol=1e-4)
    again = SmoothGradCAMPlusPlus(model, "relu", n_samples=5, noise_level=0.2, seed=3).compute(x, [0, 2])
    np.testing.assert_array_equal(res.weights, again.weights)  # seeded: the same every time
    other = SmoothGradCAMPlusPlus(model, "relu", n_samples=5, noise_level=0.2, seed=4).compute(x, [0, 2])
    assert not np.allclose(res.weights, other.weights)


def test_smooth_gradcampp_matches_torchcam_on_the_same_noise():
    """torchcam draws its own noise: hand it ours. With one sample and gradients constant over
    positions, its weight formula and the paper's coincide (see our docstring). Its map multiplies
    the weights with the last noisy copy's activations, ours with the clean input's, so the channel
    weights are what is compared."""
    torchcam = pytest.importorskip("torchcam.methods")
    model = seeded(GapMLP(), seed=2)
    x = _x(1, seed=4)
    ours = SmoothGradCAMPlusPlus(model, "relu", n_samples=1, noise_level=0.3, seed=11)
    noise = torch.from_numpy(ours.noise(x.numpy())[0])

    class Fixed:
        def sample(self, size):
            assert tuple(size) == tuple(noise.shape)
            return noise

    with torchcam.SmoothGradCAMpp(model, "relu", num_samples=1) as extractor:
        extractor._distrib = Fixed()
        model(x)
        # torchcam adds eps = 1e-8 to the denominator 2 g^2 + ...; with gradients ~1e-3 (a mean over
        # 256 positions) that alone moves the weights by 0.3 %, so its formula is evaluated without it
        ref = extractor._get_weights(2, None, eps=0.0)[0].detach().numpy()
    res = ours.compute(x, 2)
    assert np.abs(ref).max() > 0
    np.testing.assert_allclose(res.weights, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


# ---------------------------------------------------------------------------- Ablation-CAM
def _ablation_reference(model, layer, x, cls):
    """One full forward per channel with that channel zeroed by a hook: the definition, slowly."""
    with torch.no_grad():
        store = {}
        h = layer.register_forward_hook(lambda m, i, o: store.setdefault("a", o.clone()))
        y = model(x)[0, cls].item()
        h.remove()
        c = store["a"].shape[1]
        scores = []
        for k in range(c):

            def zero(m, i, o, k=k):
                o = o.clone()
                o[:, k] = 0
                return o

            h = layer.register_forward_hook(zero)
            try:
                scores.append(model(x)[0, cls].item())
            finally:
                h.remove()
    return (y - np.array(scores)) / y


@pytest.mark.parametrize(
    ("make", "layer", "mode"),
    [
        (lambda: seeded(CatDogCNN(num_classes=3, image_size=16), seed=8), "conv3", "stand-in"),
        (lambda: seeded(SmallNet(), seed=8), "conv2", "single"),  # residual "+ h" around conv2: broadcast
        (lambda: seeded(CatSkip(), seed=8), "conv2", "full"),  # concatenation around conv2
    ],
)
def test_ablation_cam_shortcuts_agree_with_full_passes_and_the_definition(make, layer, mode, caplog):
    model = make()
    x = _x(1, 16, seed=9)  # the stand-in (8 x 8) differs from the image
    with caplog.at_level(logging.INFO, logger="visualization"):
        fast = AblationCAM(model, layer, batch_size=3).compute(x, 1)
    full = AblationCAM(model, layer, batch_size=3, strategy="full").compute(x, 1)
    np.testing.assert_allclose(fast.heatmaps, full.heatmaps, atol=1e-5)
    ref = _ablation_reference(model, dict(model.named_modules())[layer], x, 1)
    live = np.abs(fast.weights[0]) > 0
    np.testing.assert_allclose(fast.weights[0][live], ref[live], rtol=1e-3, atol=1e-5)
    expected_log = {"stand-in": "downscaled stand-in", "single": "broadcast", "full": "full forward pass"}[mode]
    assert expected_log in caplog.text


def test_ablation_cam_restores_the_layer_forward_even_after_an_exception():
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=8)
    x = _x(1, 16)
    AblationCAM(model, "conv3", batch_size=8).compute(x, 1)
    assert "forward" not in model.conv3.__dict__

    def boom(*args):
        raise RuntimeError("boom in the tail")

    model.fc2.register_forward_pre_hook(lambda m, inp: boom() if inp[0].shape[0] > 1 else None)
    with pytest.raises(RuntimeError, match="boom"):
        AblationCAM(model, "conv3", batch_size=8, strategy="full").compute(x, 1)
    assert "forward" not in model.conv3.__dict__


def test_ablation_cam_skips_dead_channels_and_checks_targets():
    model = seeded(ReluNet(), seed=8)
    x = _x(2, 16)
    res = AblationCAM(model, "relu2").compute(x, [0, 2])
    acts = _acts_and_grads(model, model.relu2, x, [0, 2])[0]
    dead = (acts == 0).all(axis=(2, 3))
    assert dead.any() and (~dead).any()
    assert (res.weights[dead] == 0).all() and (res.weights[~dead] != 0).mean() > 0.9
    with pytest.raises(TargetError, match="class indices"):
        AblationCAM(model, "relu2").compute(x, lambda out: out[:, 0])
    with pytest.raises(ValueError, match="strategy"):
        AblationCAM(model, "relu2", strategy="fast")


# ---------------------------------------------------------------------------- fast Score-CAM
def test_scorecam_top_k_scores_only_k_channels_and_fills_the_rest_with_their_minimum():
    twin = make_twin("catdog")  # weights scaled by fan-in: softmax scores that are not saturated
    model = twin.torch_model
    x, _ = twin.inputs(1)
    exact = ScoreCAM(model, "conv3", batch_size=64).compute(x, 1)
    c = exact.weights.shape[1]
    assert exact.weights.std() > 1e-3
    np.testing.assert_array_equal(ScoreCAM(model, "conv3", batch_size=64, top_k=c).compute(x, 1).weights, exact.weights)
    seen = []
    handle = model.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].shape[0]))
    try:
        fast = ScoreCAM(model, "conv3", batch_size=64, top_k=8).compute(x, 1)
    finally:
        handle.remove()
    assert sum(seen) == 1 + 8  # the capture, then 8 masked copies
    acts = _acts_and_grads(model, model.conv3, x, [1])[0][0]
    top = np.argsort(-np.maximum(acts, 0).reshape(c, -1).sum(axis=1), kind="stable")[:8]
    np.testing.assert_allclose(fast.weights[0][top], exact.weights[0][top], rtol=1e-5)
    rest = np.setdiff1d(np.arange(c), top)
    np.testing.assert_allclose(fast.weights[0][rest], exact.weights[0][top].min(), rtol=1e-5)


# ---------------------------------------------------------------------------- aug_smooth
def test_zoom_is_an_exact_resampling_of_a_linear_ramp():
    ramp = np.tile(np.arange(9.0), (9, 1))
    out, valid = augment.zoom(ramp, 1.5)
    np.testing.assert_allclose(out[0], (np.arange(9) - 4) / 1.5 + 4)
    assert valid.all()
    out, valid = augment.zoom(ramp, 0.5)  # shrinking reads outside the image: clamped and not valid
    assert valid[4, 4] == 1 and valid[4, 0] == 0 and out[4, 0] == 0.0


def test_aug_smooth_averages_the_mapped_back_views_and_keeps_the_class():
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=11)
    x = _x(2)
    cam = GradCAM(model, "conv3")
    res = cam.compute(x, None, aug_smooth=True)
    plain = cam.compute(x, None)
    np.testing.assert_array_equal(res.targets, plain.targets)  # class fixed on the unmodified image
    x_np = x.numpy()
    total, votes = 0.0, 0.0
    for flip in (False, True):
        for scale in (1.0, 1.1, 0.9):
            view = x_np[..., ::-1] if flip else x_np
            if scale != 1.0:
                view = augment.zoom(view, scale)[0]
            heat = cam.compute(torch.from_numpy(np.ascontiguousarray(view, np.float32)), plain.targets).heatmaps
            back, valid = (
                augment.zoom(heat.astype(np.float64), 1.0 / scale) if scale != 1.0 else (heat, np.ones((16, 16)))
            )
            if flip:
                back, valid = back[..., ::-1], valid[..., ::-1]
            total = total + back * valid
            votes = votes + valid
    np.testing.assert_allclose(res.heatmaps, normalize_maps((total / votes).astype(np.float32)), atol=1e-5)
    assert not np.allclose(res.heatmaps, plain.heatmaps, atol=1e-3)


def test_aug_smooth_is_a_constructor_option_on_every_method():
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=12)
    x = _x(1)
    for cls, kw in ((GradCAM, {}), (XGradCAM, {}), (ScoreCAM, {"top_k": 4}), (EigenCAM, {}), (AblationCAM, {})):
        a = cls(model, "conv2", aug_smooth=True, **kw).compute(x, 0)
        b = cls(model, "conv2", **kw).compute(x, 0, aug_smooth=True)
        np.testing.assert_array_equal(a.heatmaps, b.heatmaps)


# ---------------------------------------------------------------------------- compare_cam_methods
def test_compare_cam_methods_takes_classes_and_configured_instances():
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=13)
    x = _x(2)
    fig = compare_cam_methods(
        model, "conv3", x, methods=[GradCAM, LayerCAM, ScoreCAM(model, "conv3", top_k=4), AblationCAM]
    )
    titles = [ax.get_title() for ax in fig.axes]
    for name in ("Grad-CAM", "LayerCAM", "Score-CAM (top 4)", "Ablation-CAM"):
        assert name in titles
    mixed = compare_cam_methods(model, "conv3", x, methods=[GradCAM, GradCAM(model, "conv2")])
    assert [ax.get_title() for ax in mixed.axes[1:3]] == ["Grad-CAM\n'conv3'", "Grad-CAM\n'conv2'"]
    with pytest.raises(TypeError, match="CAM classes or instances"):
        compare_cam_methods(model, "conv3", x, methods=["gradcam"])
    with pytest.raises(ValueError, match="another model"):
        compare_cam_methods(model, "conv3", x, methods=[GradCAM(seeded(CatDogCNN(3, 16)), "conv3")])


def test_resize_helper_matches_torch_bilinear():
    """The upsampling every CAM uses is torch's bilinear with align_corners=False."""
    maps = np.random.default_rng(0).random((2, 5, 7)).astype(np.float32)
    ref = F.interpolate(torch.from_numpy(maps)[:, None], size=(16, 16), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(resize_bilinear(maps, (16, 16)), ref[:, 0].numpy(), atol=1e-6)
