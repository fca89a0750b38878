"""Saliency in PyTorch and PaddlePaddle gives the same numbers on twin models with identical weights,
and the Paddle adapter leaves the model and Paddle's own functions as found.

Tolerance: attributions have arbitrary scale, so ``max|a - b| <= RTOL * scale`` with the scale the
largest torch attribution; for Occlusion (a difference of two scores, each computed by a different
framework) the scale is the largest score magnitude.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
import torch
from paddle import nn
from paddle.nn.functional import relu as imported_relu  # bound at import: cannot be reached (see below)

from visualization.core import saliency as core
from visualization.core.errors import ModelTypeError
from visualization.core.saliency import METHODS as SALIENCY_CLASSES
from visualization.paddle import _saliency_backend as pd_backend
from visualization.paddle import saliency as pd
from visualization.pytorch import saliency as pt

from .twins import TWINS, make_twin

RTOL = 1e-5
ROOT = Path(__file__).resolve().parents[1]
METHODS = tuple(cls.__name__ for cls in SALIENCY_CLASSES)
TARGETS = ("none", "int", "per_sample")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one torch thread avoids spin-waiting on a machine shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_rel(a: np.ndarray, b: np.ndarray, rtol: float = RTOL, scale: float | None = None) -> None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = float(np.abs(a).max()) if scale is None else scale
    err = float(np.abs(a - b).max())
    assert scale > 0 and err <= rtol * scale, f"max abs error {err:.3g} > {rtol} x scale {scale:.3g}"


def make(module, method: str, model, cam_layer: str):
    """``method`` of ``module`` (pt or pd) with options that exercise batching and non-defaults."""
    if method == "VanillaGradient":
        return module.VanillaGradient(model, abs=False, batch_size=2)
    if method == "IntegratedGradients":
        return module.IntegratedGradients(
            model, baseline=0.25, n_steps=5, method="riemann_trapezoid", internal_batch_size=4
        )
    if method == "SmoothGrad":
        inner = module.IntegratedGradients(model, n_steps=3, method="gausslegendre")
        return module.SmoothGrad(inner, n_samples=3, noise_level=0.2, seed=5, batch_size=4)
    if method == "GuidedGradCAM":
        return module.GuidedGradCAM(model, cam_layer, interpolate_mode="bilinear")
    if method == "Occlusion":
        return module.Occlusion(model, window=(4, 4), stride=(3, 3), baseline=-0.5, batch_size=7)
    return getattr(module, method)(model)


def target_for(kind: str, n: int, num_classes: int):
    if kind == "none":
        return None
    if kind == "int":
        return 0
    return [(i + 1) % num_classes for i in range(n)]


# ----------------------------------------------------------------------------- parity
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", TWINS)
def test_torch_and_paddle_agree(name: str, method: str, target: str) -> None:
    twin = make_twin(name)
    xt, xp = twin.inputs(3)
    tc = target_for(target, 3, twin.num_classes)
    a = make(pt, method, twin.torch_model, twin.cam_layers[0]).compute(xt, tc)
    b = make(pd, method, twin.paddle_model, twin.cam_layers[0]).compute(xp, tc)
    assert a.method == b.method
    np.testing.assert_array_equal(a.targets, b.targets)
    assert a.attributions.shape == (3, *twin.input_shape) and a.attributions.dtype == b.attributions.dtype
    assert np.abs(a.attributions).max() > 0  # a real attribution, so the comparison means something
    assert_rel(a.outputs, b.outputs)
    scale = float(np.abs(a.outputs).max()) if method == "Occlusion" else None
    assert_rel(a.attributions, b.attributions, scale=scale)


@pytest.mark.parametrize("method", ["VanillaGradient", "IntegratedGradients", "Occlusion", "GuidedGradCAM"])
def test_callable_target_agrees(method: str) -> None:
    twin = make_twin("resbn")
    xt, xp = twin.inputs(2)
    a = make(pt, method, twin.torch_model, "block").compute(xt, lambda out: out[:, 2] - out[:, 0])
    b = make(pd, method, twin.paddle_model, "block").compute(xp, lambda out: out[:, 2] - out[:, 0])
    assert a.targets is None and b.targets is None
    scale = float(np.abs(a.outputs).max()) if method == "Occlusion" else None
    assert_rel(a.attributions, b.attributions, scale=scale)


def test_smoothgrad_noise_is_identical_in_both_frameworks() -> None:
    twin = make_twin("gap")
    xt, xp = twin.inputs(2)
    a = pt.SmoothGrad(pt.VanillaGradient(twin.torch_model), n_samples=6, seed=9, batch_size=5).noisy_inputs(xt)
    b = pd.SmoothGrad(pd.VanillaGradient(twin.paddle_model), n_samples=6, seed=9, batch_size=5).noisy_inputs(xp)
    np.testing.assert_array_equal(a, b)


def test_generate_saliency_and_figure_agree() -> None:
    twin = make_twin("catdog")
    xt, xp = twin.inputs(1)
    a = pt.GuidedBackprop(twin.torch_model).generate_saliency(xt[0], 1)
    b = pd.GuidedBackprop(twin.paddle_model).generate_saliency(xp[0], 1)
    assert a.shape == b.shape == (32, 32)
    np.testing.assert_allclose(a, b, atol=1e-5)
    fig = pd.Occlusion(twin.paddle_model, window=(8, 8), stride=(8, 8)).visualize_saliency(xp, 0)
    assert [ax.get_title() for ax in fig.axes][:4] == [
        "Original",
        "saliency: max |a| over channels",
        "signed: sum of a over channels",
        "Overlay",
    ]


# ----------------------------------------------------------------------------- Paddle's ReLUs
class ReluStyles(nn.Layer):
    """conv -> relu -> conv -> relu -> mean -> linear, the ReLU spelled in one of several ways."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self.style = style
        self.conv1 = nn.Conv2D(3, 5, 3, padding=1)
        self.conv2 = nn.Conv2D(5, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)
        self.act1, self.act2 = nn.ReLU(), nn.ReLU()

    def relu(self, h: paddle.Tensor, i: int) -> paddle.Tensor:
        s = self.style
        if s == "layer":
            return (self.act1 if i == 1 else self.act2)(h)
        if s == "F.relu":
            return F.relu(h)
        if s == "F.relu_":
            return F.relu_(h)
        if s == "F.relu_side_effect":  # only the in-place side effect is used
            F.relu_(h)
            return h
        assert s == "activation.relu"
        return paddle.nn.functional.activation.relu(h)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        h = self.relu(self.conv1(x), 1)
        h = self.relu(self.conv2(h), 2)
        return self.fc(h.mean(axis=[2, 3]))


class TorchReluNet(torch.nn.Module):
    """The torch twin of ``ReluStyles`` with ``nn.ReLU`` modules."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 5, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(5, 6, 3, padding=1)
        self.fc = torch.nn.Linear(6, 4)
        self.relu = torch.nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.fc(h.mean(dim=(2, 3)))


def _relu_pair(style: str) -> tuple[torch.nn.Module, nn.Layer]:
    from .twins import load_paddle, load_torch, numpy_weights

    tm = TorchReluNet().eval()
    weights = numpy_weights(tm, seed=3)
    load_torch(tm, weights)
    pm = ReluStyles(style)
    load_paddle(pm, weights)
    pm.eval()
    return tm, pm


@pytest.mark.parametrize("method", ["GuidedBackprop", "Deconvolution"])
@pytest.mark.parametrize("style", ["layer", "F.relu", "F.relu_", "F.relu_side_effect", "activation.relu"])
def test_every_reachable_relu_is_modified(style: str, method: str) -> None:
    """Each Paddle spelling gives the torch number (checked against captum in the torch tests)."""
    tm, pm = _relu_pair(style)
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 7)).astype(np.float32)
    a = getattr(pt, method)(tm).compute(torch.from_numpy(x), [1, 3])
    b = getattr(pd, method)(pm).compute(paddle.to_tensor(x), [1, 3])
    assert_rel(a.attributions, b.attributions)
    plain = pt.VanillaGradient(tm).compute(torch.from_numpy(x), [1, 3]).attributions
    assert not np.allclose(a.attributions, plain, rtol=1e-3)  # the modification matters here
    with paddle.no_grad():  # the model computes what it computed (in-place semantics kept)
        assert_rel(tm(torch.from_numpy(x)).detach().numpy(), pm(paddle.to_tensor(x)).numpy())


class ImportedRelu(nn.Layer):
    """Calls ``relu`` bound by ``from paddle.nn.functional import relu``: the swap cannot reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2D(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc(imported_relu(self.conv(x)).mean(axis=[2, 3]))


def test_relu_bound_at_import_is_reported() -> None:
    model = ImportedRelu()
    assert pd_backend.unreachable_relus(model) == ["ImportedRelu.forward uses 'imported_relu'"]
    assert pd_backend.unreachable_relus(ReluStyles("F.relu")) == []
    x = paddle.rand([1, 3, 6, 6])
    with pytest.warns(RuntimeWarning) as record:
        pd.GuidedBackprop(model).compute(x, 0)
    messages = [str(w.message) for w in record]
    assert any("ImportedRelu.forward uses 'imported_relu', a name bound to paddle" in m for m in messages)
    assert any("called no ReLU" in m for m in messages)  # its only ReLU was not reached


def test_no_relu_warns() -> None:
    model = nn.Sequential(nn.Conv2D(3, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    with pytest.warns(RuntimeWarning, match="called no ReLU"):
        pd.Deconvolution(model).compute(paddle.rand([1, 3, 6, 6]), 1)


# ----------------------------------------------------------------------------- contract
RELU_FUNCTIONS = (F.relu, F.relu_, paddle.nn.functional.activation.relu, paddle.nn.functional.activation.relu_)


def _relu_functions() -> tuple:
    return (F.relu, F.relu_, paddle.nn.functional.activation.relu, paddle.nn.functional.activation.relu_)


def _no_hooks(model: nn.Layer) -> bool:
    return all(not m._forward_post_hooks and not m._forward_pre_hooks for m in model.sublayers(include_self=True))


class SmallNet(nn.Layer):
    """conv-bn-relu_ (in place) then conv-bn + residual -> ReLU layer, dropout, a linear head."""

    def __init__(self, fail_from: int | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2D(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2D(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2D(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2D(8)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 5)
        self.calls, self.fail_from = 0, fail_from

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        self.calls += 1
        h = F.relu_(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)) + h)
        if self.fail_from is not None and self.calls >= self.fail_from:
            raise RuntimeError("boom after the ReLUs")
        return self.fc(self.drop(F.adaptive_avg_pool2d(h, 1).flatten(1)))


def _every_method(model: nn.Layer) -> list[core.BaseSaliency]:
    """Every method, each running more than one forward pass on a batch of two."""
    return [
        pd.VanillaGradient(model, batch_size=1),
        pd.GradientXInput(model, batch_size=1),
        pd.IntegratedGradients(model, n_steps=3, internal_batch_size=2),
        pd.SmoothGrad(pd.GuidedBackprop(model), n_samples=2),
        pd.GuidedBackprop(model, batch_size=1),
        pd.Deconvolution(model, batch_size=1),
        pd.GuidedGradCAM(model, "conv2"),
        pd.Occlusion(model, window=(4, 4), stride=(4, 4), batch_size=3),
    ]


def test_model_flags_parameters_input_and_paddle_functions_untouched() -> None:
    paddle.seed(0)
    model = SmallNet()
    model.train()
    model.bn1.eval()
    model.conv1.weight.stop_gradient = True
    flags = {n: m.training for n, m in model.named_sublayers(include_self=True)}
    frozen = {n: p.stop_gradient for n, p in model.named_parameters()}
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    x = paddle.rand([2, 3, 8, 8])
    x_before = x.numpy().copy()
    for method in _every_method(model):
        method.compute(x, 1)
    assert {n: m.training for n, m in model.named_sublayers(include_self=True)} == flags
    for p in model.parameters():
        assert p.grad is None, p.name
    assert {n: p.stop_gradient for n, p in model.named_parameters()} == frozen
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k], err_msg=k)
    np.testing.assert_array_equal(x.numpy(), x_before)
    assert x.stop_gradient and x.grad is None
    assert _no_hooks(model)
    assert _relu_functions() == RELU_FUNCTIONS
    assert paddle.is_grad_enabled()


@pytest.mark.parametrize("fail_from", [1, 2])  # 2: the first forward works, a later (batched) one fails
def test_nothing_left_installed_after_exception_in_forward(fail_from: int) -> None:
    model = SmallNet(fail_from)
    model.train()
    for method in _every_method(model):
        model.calls = 0
        with pytest.raises(RuntimeError, match="boom"):
            method.compute(paddle.rand([2, 3, 8, 8]), 0)
        assert _relu_functions() == RELU_FUNCTIONS
        assert _no_hooks(model)
        assert all(m.training for m in model.sublayers(include_self=True))
        assert all(p.grad is None for p in model.parameters())
        assert paddle.is_grad_enabled()
    x = paddle.to_tensor([-1.0, 2.0], stop_gradient=False)  # Paddle's relu behaves normally afterwards
    (g,) = paddle.grad(F.relu(x).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [0.0, 1.0])


def test_works_inside_no_grad() -> None:
    twin = make_twin("gap")
    _, xp = twin.inputs(2)
    expected = pd.IntegratedGradients(twin.paddle_model, n_steps=4).compute(xp, 1).attributions
    with paddle.no_grad():
        got = pd.IntegratedGradients(twin.paddle_model, n_steps=4).compute(xp, 1).attributions
        assert not paddle.is_grad_enabled()
    np.testing.assert_array_equal(got, expected)


def test_smoothgrad_refuses_a_method_of_the_other_framework() -> None:
    twin = make_twin("gap")
    with pytest.raises(ModelTypeError, match=r"visualization\.paddle\.saliency"):
        pd.SmoothGrad(pt.VanillaGradient(twin.torch_model))


# ----------------------------------------------------------------------------- public API and imports
def _public_callables(cls: type) -> dict[str, object]:
    out: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("visualization."):
            for name, obj in vars(klass).items():
                if (name == "__init__" or not name.startswith("_")) and callable(obj):
                    out[name] = obj
    return out


def _params(func: object) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


def test_public_api_is_identical_across_frameworks() -> None:
    from visualization.paddle._backend import BACKEND

    assert pt.__all__ == pd.__all__
    for name in pt.__all__:
        a, b = getattr(pt, name), getattr(pd, name)
        if name == "SaliencyResult":
            assert a is b is core.SaliencyResult
            continue
        assert issubclass(b, getattr(core, name)) and b.backend is BACKEND
        assert b.saliency_backend is pd_backend.SALIENCY_BACKEND
        assert "import paddle" in b.__doc__ and "import torch" not in b.__doc__
        ma, mb = _public_callables(a), _public_callables(b)
        assert sorted(ma) == sorted(mb), name
        for meth in ma:
            assert _params(ma[meth]) == _params(mb[meth]), f"{name}.{meth}"


def test_import_hygiene() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import visualization.paddle.saliency, sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    loaded = set(out.stdout.split())
    assert "paddle" in loaded and "torch" not in loaded
