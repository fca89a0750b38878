"""Saliency numbers on the PyTorch side: captum 0.9 on the same tiny models, analytic oracles, and the
contract (nothing left installed, flags restored, no parameter ``.grad``, input unchanged).

Tolerances: attributions have arbitrary scale, so they are compared relative to the largest magnitude
of the reference: ``max|a - b| <= RTOL * max|b|``. Occlusion attributions are differences of two
scores, so float32 cancellation is measured against the scores' scale, and its definition is
checked exactly (to float32 output rounding) on a float64 copy of the model.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from visualization.core import saliency as core
from visualization.core.errors import InvalidInputError, TargetError
from visualization.core.image import resize_bilinear
from visualization.pytorch.cam_visualizer import GradCAM
from visualization.pytorch.models import CatDogCNN
from visualization.pytorch.saliency import (
    Deconvolution,
    GradientXInput,
    GuidedBackprop,
    GuidedGradCAM,
    IntegratedGradients,
    Occlusion,
    SmoothGrad,
    VanillaGradient,
)

from ._torch_nets import SmallNet, seeded
from .twins import load_torch, numpy_weights

captum_attr = pytest.importorskip("captum.attr")
# captum warns on every call that it sets requires_grad and installs ReLU hooks
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum")
RTOL = 1e-5
ROOT = Path(__file__).resolve().parents[1]


def assert_rel(ours: np.ndarray, ref, rtol: float = RTOL, scale: float | None = None) -> None:
    ref = ref.detach().double().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref, np.float64)
    ours = np.asarray(ours, np.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    scale = float(np.abs(ref).max()) if scale is None else scale
    err = float(np.abs(ours - ref).max())
    assert scale > 0 and err <= rtol * scale, f"max abs error {err:.3g} > {rtol} x scale {scale:.3g}"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread avoids spin-waiting on a machine shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- models
class ModuleReLUCatDog(nn.Module):
    """``CatDogCNN`` (which calls ``F.relu``) rewired with ``nn.ReLU`` modules, the only ReLUs captum's
    Guided Backprop / Deconvolution change. Shares its layers and weights."""

    def __init__(self, src: nn.Module) -> None:
        super().__init__()
        self.src = src
        self.r1, self.r2, self.r3, self.r4 = nn.ReLU(), nn.ReLU(), nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.src
        x = m.pool(self.r1(m.conv1(x)))
        x = m.pool(self.r2(m.conv2(x)))
        x = m.pool(self.r3(m.conv3(x)))
        return m.fc2(self.r4(m.fc1(torch.flatten(x, 1))))


class ReluStyles(nn.Module):
    """conv -> relu -> conv -> relu -> pool -> linear, the ReLU spelled in one of many ways."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self.style = style
        self.conv1 = nn.Conv2d(3, 5, 3, padding=1)
        self.conv2 = nn.Conv2d(5, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)
        self.act1 = nn.ReLU(inplace=style == "module_inplace")
        self.act2 = nn.ReLU(inplace=style == "module_inplace")

    def relu(self, h: torch.Tensor, i: int) -> torch.Tensor:
        s = self.style
        if s in ("module", "module_inplace"):
            return (self.act1 if i == 1 else self.act2)(h)
        if s == "F.relu":
            return F.relu(h)
        if s == "F.relu_inplace":
            return F.relu(h, inplace=True)
        if s == "F.relu_":
            return F.relu_(h)
        if s == "torch.relu":
            return torch.relu(h)
        if s == "torch.relu_side_effect":  # only the in-place side effect is used, not the return value
            torch.relu_(h)
            return h
        if s == "Tensor.relu":
            return h.relu()
        assert s == "Tensor.relu_"
        return h.relu_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv1(x), 1)
        h = self.relu(self.conv2(h), 2)
        return self.fc(h.mean(dim=(2, 3)))


STYLES = (
    "module_inplace",
    "F.relu",
    "F.relu_inplace",
    "F.relu_",
    "torch.relu",
    "torch.relu_side_effect",
    "Tensor.relu",
    "Tensor.relu_",
)


def styled(style: str) -> nn.Module:
    return seeded(ReluStyles(style), seed=7)


@pytest.fixture(scope="module")
def catdog():
    """The tutorial CNN (it calls F.relu) at 16 x 16 with the twins' seeded weights, its nn.ReLU twin, 3 images."""
    model = CatDogCNN(num_classes=3, image_size=16)
    load_torch(model, numpy_weights(model))
    model.eval()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32))
    return model, ModuleReLUCatDog(model).eval(), x


TARGETS = [0, 1, 1]


# ----------------------------------------------------------------------------- captum agreement
@pytest.mark.parametrize("absolute", [True, False])
def test_vanilla_gradient_matches_captum_saliency(catdog, absolute: bool) -> None:
    model, _, x = catdog
    res = VanillaGradient(model, abs=absolute).compute(x, TARGETS)
    ref = captum_attr.Saliency(model).attribute(x, target=TARGETS, abs=absolute)
    assert_rel(res.attributions, ref)
    np.testing.assert_array_equal(res.targets, TARGETS)
    assert res.method == "Vanilla Gradient" and res.attributions.dtype == np.float32
    assert (res.attributions >= 0).all() == absolute


def test_gradient_x_input_matches_captum(catdog) -> None:
    model, _, x = catdog
    res = GradientXInput(model, batch_size=2).compute(x, TARGETS)  # two chunks
    assert_rel(res.attributions, captum_attr.InputXGradient(model).attribute(x, target=TARGETS))


@pytest.mark.parametrize("method", core.IG_METHODS)
def test_integrated_gradients_matches_captum(catdog, method: str) -> None:
    model, _, x = catdog
    baseline = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)) - 0.5  # non-zero
    ig = IntegratedGradients(model, baseline=baseline, n_steps=7, method=method, internal_batch_size=4)
    ref = captum_attr.IntegratedGradients(model).attribute(
        x, baselines=baseline, target=TARGETS, n_steps=7, method=method
    )
    assert_rel(ig.compute(x, TARGETS).attributions, ref)


def test_integrated_gradients_per_sample_numpy_baseline_matches_captum(catdog) -> None:
    model, _, x = catdog
    baseline = np.random.default_rng(2).uniform(-1, 1, x.shape).astype(np.float32)  # one per image
    ours = IntegratedGradients(model, baseline=baseline, n_steps=5, method="gausslegendre").compute(x, TARGETS)
    ref = captum_attr.IntegratedGradients(model).attribute(
        x, baselines=torch.from_numpy(baseline), target=TARGETS, n_steps=5, method="gausslegendre"
    )
    assert_rel(ours.attributions, ref)


def test_integration_tables_are_captums() -> None:
    from captum.attr._utils.approximation_methods import approximation_parameters

    for method in core.IG_METHODS:
        sizes, alphas = approximation_parameters(method)
        a, w = core.integration_nodes(method, 9)
        np.testing.assert_allclose(a, alphas(9), rtol=0, atol=1e-7)  # captum's riemann alphas are float32
        np.testing.assert_allclose(w, sizes(9), rtol=1e-12)
    assert core.integration_nodes("riemann_trapezoid", 4)[1].sum() == pytest.approx(0.75)  # captum's 1 - 1/n


@pytest.mark.parametrize("interpolate_mode", ["nearest", "bilinear"])
def test_guided_gradcam_matches_captum(catdog, interpolate_mode: str) -> None:
    model, module_relu, x = catdog
    ours = GuidedGradCAM(model, "conv2", interpolate_mode=interpolate_mode).compute(x, TARGETS)
    ref = captum_attr.GuidedGradCam(module_relu, model.conv2).attribute(
        x, target=TARGETS, interpolate_mode=interpolate_mode
    )
    assert_rel(ours.attributions, ref)


def test_guided_gradcam_is_guided_backprop_times_upsampled_raw_gradcam(catdog) -> None:
    model, _, x = catdog
    cam = GradCAM(model, "conv3").compute(x, TARGETS)
    gb = GuidedBackprop(model).compute(x, TARGETS).attributions
    ours = GuidedGradCAM(model, "conv3").compute(x, TARGETS).attributions
    assert_rel(ours, gb * resize_bilinear(cam.raw, (16, 16))[:, None])


def test_resize_nearest_matches_torch() -> None:
    rng = np.random.default_rng(0)
    for (h, w), size in [((4, 4), (16, 16)), ((7, 5), (224, 223)), ((3, 6), (10, 7)), ((5, 5), (5, 5))]:
        maps = rng.standard_normal((2, h, w)).astype(np.float32)
        ref = F.interpolate(torch.from_numpy(maps)[:, None], size=size, mode="nearest")[:, 0].numpy()
        np.testing.assert_array_equal(core.resize_nearest(maps, size), ref)


@pytest.mark.parametrize(("window", "stride", "baseline"), [((5, 5), (4, 4), 0.0), ((2, 6, 6), (1, 4, 5), 0.5)])
def test_occlusion_matches_captum(catdog, window, stride, baseline) -> None:
    model, _, x = catdog
    w3 = window if len(window) == 3 else (3, *window)
    s3 = stride if len(stride) == 3 else (1, *stride)
    # float64: the definitions agree to the float32 rounding of our output
    x = x[:2]
    cls = TARGETS[:2]
    m64, x64 = copy.deepcopy(model).double(), x.double()
    ours = Occlusion(m64, window=window, stride=stride, baseline=baseline, batch_size=13).compute(x64, cls)
    ref = captum_attr.Occlusion(m64).attribute(
        x64, sliding_window_shapes=w3, strides=s3, baselines=baseline, target=cls, perturbations_per_eval=16
    )
    assert_rel(ours.attributions, ref, rtol=1e-6)
    # float32: both take differences of scores, so rounding is relative to the scores
    res = Occlusion(model, window=window, stride=stride, baseline=baseline, batch_size=13).compute(x, cls)
    ref32 = captum_attr.Occlusion(model).attribute(
        x, sliding_window_shapes=w3, strides=s3, baselines=baseline, target=cls, perturbations_per_eval=16
    )
    assert_rel(res.attributions, ref32, scale=float(np.abs(res.outputs).max()))


def test_occlusion_covers_the_border_like_captum() -> None:
    """Stride 3 does not divide 10 - 4: the last window is cut at the border, every pixel is covered."""
    occ = Occlusion(seeded(SmallNet()), window=(4, 4), stride=(3, 3))
    plan = occ.plan((1, 3, 10, 10))
    assert plan.grid == (1, 3, 3)
    assert plan.boxes[:, 1].tolist()[::3] == [[0, 4], [3, 7], [6, 10]]
    assert sorted({tuple(b) for b in plan.boxes[:, 2].tolist()}) == [(0, 4), (3, 7), (6, 10)]


# ----------------------------------------------------------------------------- guided backprop / deconvolution
@pytest.mark.parametrize("cls", [GuidedBackprop, Deconvolution])
def test_functional_relu_network_matches_captum_on_module_equivalent(catdog, cls) -> None:
    """catdog calls F.relu, which captum cannot see; ours changes it exactly as captum changes nn.ReLU."""
    model, module_relu, x = catdog
    ref = getattr(captum_attr, cls.__name__)(module_relu).attribute(x, target=TARGETS)
    assert_rel(cls(model).compute(x, TARGETS).attributions, ref)
    plain = VanillaGradient(model).compute(x, TARGETS).attributions
    assert not np.allclose(ref.numpy(), plain, rtol=1e-3)  # the modification matters here


@pytest.mark.parametrize("cls", [GuidedBackprop, Deconvolution])
@pytest.mark.parametrize("style", STYLES)
def test_every_relu_spelling_is_modified(style: str, cls) -> None:
    model = styled(style)
    reference = copy.deepcopy(model)
    reference.style = "module"  # the same weights with nn.ReLU modules, which captum hooks
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(4)) - 0.5
    ref = getattr(captum_attr, cls.__name__)(reference).attribute(x, target=[1, 3])
    assert_rel(cls(model).compute(x, [1, 3]).attributions, ref)
    with torch.no_grad():  # the model still computes what it computed (in-place semantics kept)
        torch.testing.assert_close(model(x), reference(x))


def test_inplace_relu_network_with_batchnorm_and_residual_matches_captum() -> None:
    model = seeded(SmallNet())  # one nn.ReLU(inplace=True) used twice, BatchNorm, residual add, dropout
    reference = copy.deepcopy(model)
    reference.relu = nn.ReLU()  # captum's hooks need an out-of-place ReLU
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    for cls in (GuidedBackprop, Deconvolution):
        ref = getattr(captum_attr, cls.__name__)(reference).attribute(x, target=[0, 4])
        assert_rel(cls(model).compute(x, [0, 4]).attributions, ref)


def test_guided_backprop_without_relu_warns_and_equals_gradient() -> None:
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    x = torch.rand(1, 3, 8, 8)
    with pytest.warns(RuntimeWarning, match="called no ReLU"):
        gb = GuidedBackprop(model).compute(x, 1).attributions
    np.testing.assert_array_equal(gb, VanillaGradient(model).compute(x, 1).attributions)


# ----------------------------------------------------------------------------- smoothgrad
def _manual_smoothgrad(method, noisy: np.ndarray, targets, squared: bool = False) -> np.ndarray:
    """Average of ``method`` over the given noisy copies, one copy at a time."""
    out = []
    for i in range(noisy.shape[0]):
        a = [method.compute(torch.from_numpy(c[None]), [targets[i]]).attributions[0] for c in noisy[i]]
        a = np.stack(a).astype(np.float64)
        out.append((a**2 if squared else a).mean(axis=0))
    return np.stack(out)


@pytest.mark.parametrize("squared", [False, True])
def test_smoothgrad_is_the_mean_over_its_noisy_inputs(catdog, squared: bool) -> None:
    model, _, x = catdog
    sg = SmoothGrad(VanillaGradient(model), n_samples=5, noise_level=0.2, seed=3, squared=squared, batch_size=4)
    noisy = sg.noisy_inputs(x)
    assert noisy.shape == (3, 5, 3, 16, 16) and noisy.dtype == np.float32
    res = sg.compute(x, TARGETS)
    assert_rel(res.attributions, _manual_smoothgrad(VanillaGradient(model), noisy, TARGETS, squared))
    # captum's base method on the very same noisy copies, averaged by hand
    sal = captum_attr.Saliency(model)
    ref = np.stack(
        [
            np.mean(
                [
                    (sal.attribute(torch.from_numpy(c[None]), target=TARGETS[i], abs=False)[0].double().numpy())
                    ** (2 if squared else 1)
                    for c in noisy[i]
                ],
                axis=0,
            )
            for i in range(3)
        ]
    )
    assert_rel(res.attributions, ref)
    assert res.method == ("SmoothGrad² (Vanilla Gradient)" if squared else "SmoothGrad (Vanilla Gradient)")
    np.testing.assert_array_equal(res.targets, TARGETS)


def test_smoothgrad_noise_definition(catdog) -> None:
    _, _, x = catdog
    sg = SmoothGrad(VanillaGradient(catdog[0]), n_samples=40, noise_level=0.1, seed=11, batch_size=7)
    noisy = sg.noisy_inputs(x).astype(np.float64)
    xs = x.numpy().astype(np.float64)
    eps = np.random.default_rng(11).standard_normal((3 * 40, 3, 16, 16)).reshape(3, 40, 3, 16, 16)
    sigma = 0.1 * (xs.reshape(3, -1).max(1) - xs.reshape(3, -1).min(1))
    np.testing.assert_allclose(noisy, xs[:, None] + sigma[:, None, None, None, None] * eps, rtol=0, atol=1e-5)
    # image-major noise: image 0's copies do not depend on the rest of the batch
    np.testing.assert_array_equal(sg.noisy_inputs(x[:1])[0], sg.noisy_inputs(x)[0])
    assert not np.array_equal(SmoothGrad(sg.method, n_samples=40, seed=12).noisy_inputs(x[:1]), noisy[:1])


def test_smoothgrad_over_integrated_gradients_with_per_image_baseline(catdog) -> None:
    model, _, x = catdog
    baseline = np.random.default_rng(5).uniform(-0.5, 0.5, x.shape).astype(np.float32)
    ig = IntegratedGradients(model, baseline=baseline, n_steps=4, method="riemann_right", internal_batch_size=3)
    sg = SmoothGrad(ig, n_samples=3, noise_level=0.1, seed=0, batch_size=4)
    noisy = sg.noisy_inputs(x)
    expected = np.stack(
        [
            np.mean(
                [
                    IntegratedGradients(model, baseline=baseline[i], n_steps=4, method="riemann_right")
                    .compute(torch.from_numpy(c[None]), TARGETS[i])
                    .attributions[0]
                    for c in noisy[i]
                ],
                axis=0,
            )
            for i in range(3)
        ]
    )
    assert_rel(sg.compute(x, TARGETS).attributions, expected)


def test_smoothgrad_over_gradient_x_input_and_guided_backprop(catdog) -> None:
    model, module_relu, x = catdog
    for inner, ref_cls, ref_model in [
        (GradientXInput(model), captum_attr.InputXGradient, model),
        (GuidedBackprop(model), captum_attr.GuidedBackprop, module_relu),
    ]:
        sg = SmoothGrad(inner, n_samples=3, seed=1, batch_size=5)
        noisy = sg.noisy_inputs(x[:2])
        ref = np.stack(
            [
                np.mean(
                    [
                        ref_cls(ref_model).attribute(torch.from_numpy(c[None]), target=TARGETS[i])[0].detach().numpy()
                        for c in noisy[i]
                    ],
                    axis=0,
                )
                for i in range(2)
            ]
        )
        assert_rel(sg.compute(x[:2], TARGETS[:2]).attributions, ref)


# ----------------------------------------------------------------------------- analytic oracles
def _linear(seed: int = 0) -> tuple[nn.Module, np.ndarray]:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 5, 3))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(3, 90, generator=g))
        model[1].bias.copy_(torch.randn(3, generator=g))
    return model.eval(), model[1].weight.detach().numpy().reshape(3, 3, 6, 5).astype(np.float64)


def test_linear_model_oracles() -> None:
    """S = w . x + b: the gradient is w, Gradient x Input is w * x, IG is (x - x') * w for every exact rule
    (captum's trapezoid weights sum to 1 - 1/n), and 1x1x1 occlusion with baseline x' is (x - x') * w too."""
    model, w = _linear()
    x = torch.randn(2, 3, 6, 5, generator=torch.Generator().manual_seed(1))
    xs = x.numpy().astype(np.float64)
    cls = [2, 0]
    assert_rel(VanillaGradient(model).compute(x, cls).attributions, w[cls])
    assert_rel(GradientXInput(model).compute(x, cls).attributions, w[cls] * xs)
    baseline = 0.3
    exact = (xs - baseline) * w[cls]
    for method in ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle"):
        assert_rel(IntegratedGradients(model, baseline, n_steps=3, method=method).compute(x, cls).attributions, exact)
    trap = IntegratedGradients(model, baseline, n_steps=4, method="riemann_trapezoid").compute(x, cls)
    assert_rel(trap.attributions, exact * 0.75)
    occ = Occlusion(model, window=(1, 1, 1), stride=1, baseline=baseline, batch_size=64).compute(x, cls)
    assert_rel(occ.attributions, exact, rtol=1e-4)
    # a window over all channels gives every channel of a pixel the pixel's total
    occ3 = Occlusion(model, window=(1, 1), stride=1, baseline=baseline, batch_size=64).compute(x, cls)
    assert_rel(occ3.attributions, np.broadcast_to(exact.sum(axis=1, keepdims=True), exact.shape), rtol=1e-4)


def _score_gap(model: nn.Module, x: torch.Tensor, baseline: torch.Tensor, cls: list[int]) -> np.ndarray:
    with torch.no_grad():
        rows = torch.arange(len(cls))
        fx = model(x)[rows, torch.tensor(cls)].double().numpy()
        fb = model(baseline.expand_as(x))[rows, torch.tensor(cls)].double().numpy()
    return fx - fb


def test_integrated_gradients_completeness(catdog) -> None:
    """sum(IG) = S(x) - S(x'): to quadrature accuracy on a smooth network (Gauss-Legendre converges
    fast there), and converging on the ReLU network, whose integrand has kinks."""
    torch.manual_seed(0)
    smooth = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    baseline = torch.full((1, 3, 10, 10), 0.1)
    res = IntegratedGradients(smooth, baseline, n_steps=12).compute(x, [0, 2])
    np.testing.assert_allclose(
        res.attributions.reshape(2, -1).sum(1, dtype=np.float64), _score_gap(smooth, x, baseline, [0, 2]), rtol=1e-4
    )
    model, _, x = catdog
    baseline = torch.full((1, 3, 16, 16), -0.2)
    gap = _score_gap(model, x, baseline, TARGETS)
    errors = [
        np.abs(
            IntegratedGradients(model, baseline, n, "riemann_middle")
            .compute(x, TARGETS)
            .attributions.reshape(3, -1)
            .sum(1)
            - gap
        ).max()
        for n in (4, 64)
    ]
    assert errors[1] < errors[0] / 4 and errors[1] < 0.02 * np.abs(gap).max()


# ----------------------------------------------------------------------------- API behaviour
def test_targets_none_int_list_and_callable(catdog) -> None:
    model, _, x = catdog
    vg = VanillaGradient(model, batch_size=2)
    with torch.no_grad():
        pred = model(x).argmax(1).numpy()
    by_none = vg.compute(x)
    np.testing.assert_array_equal(by_none.targets, pred)
    assert_rel(by_none.outputs, model(x).detach())  # chunks of 2: batch-dependent float rounding
    np.testing.assert_array_equal(vg.compute(x, pred.tolist()).attributions, by_none.attributions)
    by_int, by_call = vg.compute(x, 1), vg.compute(x, lambda out: out[:, 1])
    assert by_call.targets is None
    assert_rel(by_call.attributions, by_int.attributions, rtol=1e-6)
    for method in (IntegratedGradients(model, n_steps=3), Occlusion(model, window=(8, 8), stride=(4, 4))):
        a, b = method.compute(x, 0), method.compute(x, lambda out: out[:, 0])
        assert b.targets is None
        assert_rel(b.attributions, a.attributions, rtol=1e-5)
    with pytest.raises(TargetError, match="out of range"):
        vg.compute(x, 7)
    with pytest.raises(TargetError, match="3 samples"):
        vg.compute(x, [0, 1])
    with pytest.raises(TargetError, match="one score per sample"):
        vg.compute(x, lambda out: out)


def test_generate_saliency_shapes_and_range(catdog) -> None:
    model, _, x = catdog
    methods = (VanillaGradient(model), Occlusion(model, window=(6, 6), stride=(4, 4)), GuidedGradCAM(model, "conv2"))
    for method in methods:
        one = method.generate_saliency(x[0], 1)  # (C, H, W): one image
        assert one.shape == (16, 16) and one.min() == 0.0 and one.max() == 1.0
        batch = method.generate_saliency(x, 1)
        assert batch.shape == (3, 16, 16)
        np.testing.assert_allclose(batch[0], one, atol=1e-5)
    res = VanillaGradient(model).compute(x, 1)
    expected = np.abs(res.attributions).max(axis=1)
    lo, hi = expected.min(axis=(1, 2), keepdims=True), expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(VanillaGradient(model).generate_saliency(x, 1), (expected - lo) / (hi - lo), atol=1e-6)


def test_visualize_saliency_figure(catdog) -> None:
    model, _, x = catdog
    img = np.random.default_rng(0).random((16, 16, 3))
    fig = IntegratedGradients(model, n_steps=4).visualize_saliency(x, 1, img, class_names=["cat", "dog"], sample=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["Original", "saliency: max |a| over channels", "signed: sum of a over channels", "Overlay"]
    assert "Integrated Gradients for class 1 (dog)" in fig._suptitle.get_text()
    with pytest.raises(IndexError, match="sample=3"):
        VanillaGradient(model).visualize_saliency(x, 1, sample=3)


def test_bad_arguments_get_clear_errors(catdog) -> None:
    model, _, x = catdog
    with pytest.raises(ValueError, match="method must be one of"):
        IntegratedGradients(model, method="simpson")
    with pytest.raises(ValueError, match="n_steps must be an int >= 2"):
        IntegratedGradients(model, n_steps=1, method="riemann_left")
    with pytest.raises(InvalidInputError, match=r"baseline of shape \(2, 3, 16, 16\)"):
        IntegratedGradients(model, baseline=np.zeros((2, 3, 16, 16))).compute(x, 0)
    with pytest.raises(InvalidInputError, match="larger than the input"):
        Occlusion(model, window=(20, 4)).compute(x, 0)
    with pytest.raises(InvalidInputError, match="exceeds the window"):
        Occlusion(model, window=(4, 4), stride=(5, 5)).compute(x, 0)
    with pytest.raises(ValueError, match="window must hold positive ints"):
        Occlusion(model, window=(0, 4))
    with pytest.raises(TypeError, match="gradient method instance"):
        SmoothGrad(Occlusion(model))
    with pytest.raises(ValueError, match="n_samples"):
        SmoothGrad(VanillaGradient(model), n_samples=0)
    with pytest.raises(ValueError, match="interpolate_mode"):
        GuidedGradCAM(model, "conv2", interpolate_mode="bicubic")


# ----------------------------------------------------------------------------- contract
def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules())


def _every_method(model: nn.Module) -> list[core.BaseSaliency]:
    """Every method, each running more than one forward pass on a batch of two."""
    return [
        VanillaGradient(model, batch_size=1),
        GradientXInput(model, batch_size=1),
        IntegratedGradients(model, n_steps=3, internal_batch_size=2),
        SmoothGrad(GuidedBackprop(model), n_samples=2),
        GuidedBackprop(model, batch_size=1),
        Deconvolution(model, batch_size=1),
        GuidedGradCAM(model, "conv2"),
        Occlusion(model, window=(4, 4), stride=(4, 4), batch_size=3),
    ]


RELU_FUNCTIONS = (F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_)


def test_model_flags_parameters_and_input_untouched() -> None:
    model = seeded(SmallNet()).train()
    model.bn1.eval()  # a mixed state must come back exactly
    model.conv1.weight.requires_grad_(False)
    flags = {n: m.training for n, m in model.named_modules()}
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    x = torch.rand(2, 3, 8, 8)
    x_before = x.clone()
    for method in _every_method(model):
        method.compute(x, 1)
        assert torch.overrides._get_current_function_mode_stack() == []
    assert {n: m.training for n, m in model.named_modules()} == flags
    for n, p in model.named_parameters():
        assert p.grad is None, n
        torch.testing.assert_close(p.detach(), params[n], rtol=0, atol=0)
    assert [n for n, p in model.named_parameters() if not p.requires_grad] == ["conv1.weight"]
    for n, b in model.named_buffers():  # BatchNorm statistics: eval mode inside, so not updated
        torch.testing.assert_close(b, buffers[n], rtol=0, atol=0)
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)
    assert not x.requires_grad and x.grad is None
    assert _no_hooks(model) and model.relu.inplace
    assert (F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_) == RELU_FUNCTIONS
    assert torch.is_grad_enabled()


def test_works_inside_no_grad_and_on_a_frozen_model(catdog) -> None:
    model, _, x = catdog
    frozen = copy.deepcopy(model).requires_grad_(False)
    expected = GuidedBackprop(model).compute(x, TARGETS).attributions
    with torch.no_grad():
        got = GuidedBackprop(frozen).compute(x, TARGETS).attributions
        assert not torch.is_grad_enabled()
    np.testing.assert_array_equal(got, expected)


class Exploding(nn.Module):
    """Fails inside ``forward`` after its ReLUs ran, on call ``fail_from`` and later."""

    def __init__(self, fail_from: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 3)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(4, 2)
        self.calls, self.fail_from = 0, fail_from

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        h = self.relu(self.conv2(F.relu(self.conv1(x))))
        if self.calls >= self.fail_from:
            raise RuntimeError("boom after a ReLU")
        return self.fc(h.mean(dim=(2, 3)))


@pytest.mark.parametrize("fail_from", [1, 2])  # 2: the first forward works, a later (batched) one fails
def test_nothing_left_installed_after_exception_in_forward(fail_from: int) -> None:
    model = Exploding(fail_from).train()
    for method in _every_method(model):
        model.calls = 0
        with pytest.raises(RuntimeError, match="boom"):
            method.compute(torch.rand(2, 3, 8, 8), 0)
        assert torch.overrides._get_current_function_mode_stack() == []
        assert _no_hooks(model)
        assert all(m.training for m in model.modules())
        assert all(p.grad is None for p in model.parameters())
        assert torch.is_grad_enabled()
    assert (F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_) == RELU_FUNCTIONS
    x = torch.rand(1, 3, 4, 4, requires_grad=True)  # plain torch calls behave normally afterwards
    (g,) = torch.autograd.grad(F.relu(x - 0.5).sum(), x)
    torch.testing.assert_close(g, (x > 0.5).float())


def _loaded_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return set(out.stdout.split())


def test_import_hygiene() -> None:
    core_side = _loaded_modules("import visualization.core.saliency, visualization.core.plotting.saliency_figures")
    assert not {"torch", "paddle", "matplotlib"} & core_side
    torch_side = _loaded_modules("import visualization.pytorch.saliency")
    assert "torch" in torch_side and "paddle" not in torch_side
