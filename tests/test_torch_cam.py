"""CAM numbers on the PyTorch side: analytic oracle, independent implementations, reference loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from visualization.core.image import normalize_maps, resize_bilinear
from visualization.pytorch.cam_visualizer import GradCAM, GradCAMPlusPlus, ScoreCAM
from visualization.pytorch.models import CatDogCNN

from ._torch_nets import GapNet, SmallNet, seeded


@pytest.fixture
def gapnet():
    return seeded(GapNet())


@pytest.fixture
def x4():
    return torch.rand(4, 3, 9, 11, generator=torch.Generator().manual_seed(3))


def _classic_cam(model: GapNet, x: torch.Tensor, cls: np.ndarray) -> np.ndarray:
    """Zhou et al. (2016) CAM: class weights of the linear layer times the conv maps, summed."""
    with torch.no_grad():
        a = model.conv(x).numpy()
    w = model.fc.weight.detach().numpy()[cls]  # (N, C)
    return np.einsum("nc,nchw->nhw", w, a)


def test_gradcam_equals_classic_cam_on_gap_linear(gapnet, x4):
    cls = np.array([0, 1, 2, 3])
    res = GradCAM(gapnet, "conv").compute(x4, cls)
    hw = x4.shape[2] * x4.shape[3]
    # dS/dA_k(i,j) = W[c, k] / (h w) everywhere, so Grad-CAM's weight is exactly that
    np.testing.assert_allclose(res.weights, gapnet.fc.weight.detach().numpy()[cls] / hw, rtol=1e-5, atol=1e-8)
    classic = np.maximum(_classic_cam(gapnet, x4, cls), 0) / hw
    np.testing.assert_allclose(res.raw, classic, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res.heatmaps, normalize_maps(resize_bilinear(classic, (9, 11))), atol=1e-5)
    np.testing.assert_array_equal(res.targets, cls)


def test_gradcampp_closed_form_on_gap_linear(gapnet, x4):
    # Constant gradient gamma_k = W[c, k] / hw per channel, so alpha = 1 / (2 + sum(A_k) gamma_k) and
    # w_k = hw * alpha * relu(gamma_k).
    cls = np.array([2, 2, 0, 1])
    res = GradCAMPlusPlus(gapnet, gapnet.conv).compute(x4, cls)
    with torch.no_grad():
        a = gapnet.conv(x4).numpy().astype(np.float64)
    hw = a.shape[2] * a.shape[3]
    gamma = gapnet.fc.weight.detach().numpy().astype(np.float64)[cls] / hw
    expected = hw * np.maximum(gamma, 0) / (2 + a.sum(axis=(2, 3)) * gamma)
    np.testing.assert_allclose(res.weights, expected, rtol=1e-4, atol=1e-9)


def test_gradcam_matches_captum_layergradcam():
    captum_attr = pytest.importorskip("captum.attr")
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=1)
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    for layer in ("conv2", "conv3"):
        ours = GradCAM(model, layer).compute(x, [0, 1, 2])
        ref = captum_attr.LayerGradCam(model, getattr(model, layer)).attribute(
            x, target=[0, 1, 2], relu_attributions=True
        )
        ref = ref.detach().numpy()[:, 0]
        # captum sums in float32, we in float64: compare relative to the map's scale
        np.testing.assert_allclose(ours.raw, ref, rtol=0, atol=1e-5 * float(ref.max()))
        np.testing.assert_allclose(ours.heatmaps, normalize_maps(resize_bilinear(ref, (16, 16))), atol=1e-5)


def _gradients(model, layer, x, cls):
    """Independent path: activations and d score / d activations with a retained-grad forward hook."""
    store = {}

    def hook(m, i, o):
        o.retain_grad()
        store["a"] = o

    h = layer.register_forward_hook(hook)
    try:
        xr = x.clone().requires_grad_(True)
        out = model(xr)
        out[torch.arange(len(cls)), torch.as_tensor(cls)].sum().backward()
    finally:
        h.remove()
        model.zero_grad(set_to_none=True)
    return store["a"].detach().double().numpy(), store["a"].grad.double().numpy()


def test_gradcampp_matches_paper_formula_written_in_torch():
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=2)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    cls = [1, 2]
    a, g = _gradients(model, model.conv3, x, cls)
    # Eq. 19 of Chattopadhyay et al. written out independently
    num = g**2
    den = 2 * g**2 + a.sum(axis=(2, 3), keepdims=True) * g**3
    alpha = np.divide(num, den, out=np.zeros_like(num), where=den != 0)
    w = (alpha * np.maximum(g, 0)).sum(axis=(2, 3))
    ours = GradCAMPlusPlus(model, "conv3").compute(x, cls)
    np.testing.assert_allclose(ours.weights, w, rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(ours.raw, np.maximum(np.einsum("nc,nchw->nhw", w, a), 0), rtol=1e-4, atol=1e-8)


def test_torchcam_gradcampp_differs_exactly_as_documented():
    """torchcam 0.5.0's in-place division acts on a copy, so its alpha is g^2 (documented in our docstring)."""
    torchcam = pytest.importorskip("torchcam.methods")
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=2)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    a, g = _gradients(model, model.conv3, x, [1])
    with torchcam.GradCAMpp(model, "conv3") as extractor:
        out = model(x)
        ref = extractor(1, out, normalized=False)[0].detach().numpy()
    torchcam_reading = np.maximum(np.einsum("nc,nchw->nhw", (g**2 * np.maximum(g, 0)).sum(axis=(2, 3)), a), 0)
    np.testing.assert_allclose(ref, torchcam_reading, rtol=1e-4, atol=1e-9)
    ours = GradCAMPlusPlus(model, "conv3").compute(x, 1)
    assert not np.allclose(normalize_maps(ours.raw), normalize_maps(ref), atol=1e-3)


def _scorecam_reference(model, layer, x, cls):
    """One masked forward per channel, straight from the paper and the authors' code."""
    store = {}
    h = layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o.detach()))
    with torch.no_grad():
        model(x)
    h.remove()
    a = store["a"]
    n, c = a.shape[:2]
    w = np.zeros((n, c))
    with torch.no_grad():
        for i in range(n):
            for k in range(c):
                up = F.interpolate(a[i : i + 1, k : k + 1], size=x.shape[-2:], mode="bilinear", align_corners=False)
                if up.max() == up.min():
                    continue
                mask = (up - up.min()) / (up.max() - up.min())
                w[i, k] = torch.softmax(model(x[i : i + 1] * mask), dim=1)[0, cls[i]].item()
    return a.double().numpy(), w


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_scorecam_matches_per_channel_reference(batch_size):
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=4)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    a, w = _scorecam_reference(model, model.conv2, x, [0, 2])
    ours = ScoreCAM(model, "conv2", batch_size=batch_size).compute(x, [0, 2])
    np.testing.assert_allclose(ours.weights, w, atol=2e-6)
    expected = normalize_maps(resize_bilinear(np.maximum(np.einsum("nc,nchw->nhw", w, a), 0), (16, 16)))
    np.testing.assert_allclose(ours.heatmaps, expected, atol=1e-5)


def test_scorecam_gives_constant_channels_zero_weight():
    model = seeded(CatDogCNN(num_classes=2, image_size=16), seed=4)
    with torch.no_grad():
        model.conv1.weight[:5] = 0.0  # channels 0..4 of conv1 become constant (the bias)
    ours = ScoreCAM(model, "conv1").compute(torch.rand(1, 3, 16, 16))  # predicted class: p > 0
    np.testing.assert_array_equal(ours.weights[0, :5], 0.0)
    assert (ours.weights[0, 5:] > 0).all()


def test_targets_none_int_list_and_callable_agree(gapnet, x4):
    cam = GradCAM(gapnet, "conv")
    with torch.no_grad():
        pred = gapnet(x4).argmax(1).numpy()
    by_none = cam.compute(x4)
    np.testing.assert_array_equal(by_none.targets, pred)
    by_list = cam.compute(x4, pred.tolist())
    np.testing.assert_allclose(by_none.heatmaps, by_list.heatmaps)
    by_int = cam.compute(x4, 2)
    by_callable = cam.compute(x4, lambda out: out[:, 2])
    np.testing.assert_allclose(by_int.raw, by_callable.raw, rtol=1e-6)
    assert by_callable.targets is None


def test_generate_cam_shapes_and_range(gapnet, x4):
    cam = GradCAM(gapnet, "conv")
    one = cam.generate_cam(x4[0], target_class=1)
    assert one.shape == (9, 11) and one.min() == 0.0 and one.max() == 1.0
    assert cam.generate_cam(x4[:1], 1).shape == (9, 11)
    batch = cam.generate_cam(x4, 1)
    assert batch.shape == (4, 9, 11)
    np.testing.assert_allclose(batch[0], one, atol=1e-6)


def test_auto_layer_is_last_spatial_layer_run_once(caplog):
    model = seeded(SmallNet())
    cam = GradCAM(model)  # resolved on the first call
    with caplog.at_level("INFO", logger="visualization"):
        cam.generate_cam(torch.rand(1, 3, 8, 8))
    assert cam.target_layer_name == "pool"
    assert "using 'pool'" in caplog.text
    catdog = CatDogCNN(image_size=16)
    c2 = GradCAM(catdog)
    c2.generate_cam(torch.rand(1, 3, 16, 16))
    assert c2.target_layer_name == "conv3"  # the shared 'pool' runs three times and is skipped


@pytest.mark.parametrize("cam_cls", [GradCAM, GradCAMPlusPlus, ScoreCAM])
def test_compute_many_equals_separate_computes(cam_cls):
    model = seeded(CatDogCNN(num_classes=3, image_size=16), seed=4)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    cam = cam_cls(model, "conv2")
    many = cam.compute_many(x, [None, [2, 0], 1])
    for got, target in zip(many, [None, [2, 0], 1]):
        one = cam.compute(x, target)
        np.testing.assert_array_equal(got.targets, one.targets)
        np.testing.assert_allclose(got.weights, one.weights, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(got.heatmaps, one.heatmaps, atol=1e-6)
    with pytest.raises(ValueError, match="non-empty list"):
        cam.compute_many(x, [])
