"""Activation maximization with PaddlePaddle: the same numbers as PyTorch on the twin models, and
the user's model left as found.

Parity tolerance: images (in [0, 1]) agree within ``ATOL = 1e-5``; objective values and model inputs
have arbitrary scale and are compared relative to the largest magnitude of the torch array. Both
frameworks get the very same random draws (numpy, from the seed) and the same numpy Adam; only the
gradients come from each framework, so the two runs differ by float32 rounding only.
"""

from __future__ import annotations

import itertools

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
from paddle import nn

from visualization.core import activation_max as core
from visualization.core.errors import LayerNotFoundError, ModelTypeError
from visualization.paddle import activation_maximization as pd_am
from visualization.paddle._actmax_backend import PaddleTensorOps
from visualization.pytorch import activation_maximization as pt_am

from .twins import TWINS, make_twin


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine torch's OpenMP
    threads waiting for each other made a 12-step run 100x slower; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


ATOL = 1e-5
RTOL = 1e-5
OFF = {"jitter": 0, "scales": (1.0,), "rotations": (0.0,)}
ON = {"jitter": 3, "scales": (0.8, 1.2), "rotations": (-20.0, 15.0)}


def assert_rel(a: np.ndarray, b: np.ndarray, rtol: float = RTOL, floor: float = 1e-6) -> None:
    """``a`` and ``b`` agree relative to the scale of ``a`` (at least ``floor``)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    scale = max(float(np.abs(a).max(initial=0.0)), floor)
    err = float(np.abs(a - b).max(initial=0.0))
    assert err <= rtol * scale, f"max abs error {err:.3g} > {rtol} x scale {scale:.3g}"


#: per twin: a class logit, a channel's mean, a neuron (of a channel alive at the start, so the objective moves)
OBJECTIVES = {
    "catdog": (
        {"class_index": 1},
        {"layer": "conv2", "channel": 1},
        {"layer": "conv3", "channel": 2, "neuron": "center"},
    ),
    "resbn": (
        {"class_index": 2},
        {"layer": "stem.1", "channel": 1},
        {"layer": "block", "channel": 2, "neuron": "center"},
    ),
    "gap": ({"class_index": 3}, {"layer": "conv", "channel": 1}, {"layer": "relu", "channel": 3, "neuron": (4, 4)}),
}
assert set(OBJECTIVES) == set(TWINS)
#: every (objective kind, parameterization, transforms) combination once, the twins taking turns
CASES = [
    (TWINS[i % len(TWINS)], kind, param, transforms)
    for i, (kind, param, transforms) in enumerate(itertools.product(range(3), ("pixel", "fft"), ("on", "off")))
]


@pytest.mark.parametrize(
    ("name", "kind", "parameterization", "transforms"),
    CASES,
    ids=[f"{n}-{('class', 'channel', 'neuron')[k]}-{p}-transforms_{t}" for n, k, p, t in CASES],
)
def test_parity_with_torch(name: str, kind: int, parameterization: str, transforms: str) -> None:
    twin = make_twin(name)
    obj = OBJECTIVES[name][kind]
    kw = {
        "steps": 5,
        "parameterization": parameterization,
        "seed": 3,
        "tv_weight": 0.5,
        "l2_weight": 0.5,
        **(ON if transforms == "on" else OFF),
    }
    size = twin.input_shape[1:]
    a = pt_am.ActivationMaximization(twin.torch_model, size, mean=0.5, std=0.25).maximize(**obj, **kw)
    b = pd_am.ActivationMaximization(twin.paddle_model, size, mean=0.5, std=0.25).maximize(**obj, **kw)
    assert a.objective == b.objective and a.layer_name == b.layer_name and a.settings == b.settings
    err = float(np.abs(a.image - b.image).max())
    assert err <= ATOL, f"images differ by {err:.3g}"
    assert float(np.abs(a.image - 0.5).max()) > 1e-3  # the image did move
    np.testing.assert_allclose(a.input, b.input, rtol=0, atol=ATOL / 0.25)  # (image - 0.5) / 0.25
    scale = max(float(np.abs(a.history).max()), abs(a.value))
    assert_rel(a.history, b.history, floor=scale)
    assert_rel(np.array([a.value]), np.array([b.value]), floor=scale)


def test_visualize_channels_parity() -> None:
    twin = make_twin("resbn")
    kw = {"channels": [0, 5], "steps": 3, "seed": 2, "batch_size": 2}
    a = pt_am.ActivationMaximization(twin.torch_model, 15).maximize_channels("block", **kw)
    b = pd_am.ActivationMaximization(twin.paddle_model, 15).maximize_channels("block", **kw)
    for ra, rb in zip(a, b):
        assert float(np.abs(ra.image - rb.image).max()) <= ATOL
        assert_rel(ra.history, rb.history)
    fig = pd_am.ActivationMaximization(twin.paddle_model, 15).visualize_channels("block", **kw)
    assert [ax.get_title().split()[0] for ax in fig.axes if ax.get_title()] == ["#0", "#5"]


def test_primitives_equal_the_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    ops, ref = PaddleTensorOps(paddle.CPUPlace(), paddle.float32), core.NumpyOps()
    for param in ("pixel", "fft"):
        plan = core.RenderPlan.make(7, 10, param, np.array([0.4, 0.5, 0.6], np.float32), np.full(3, 0.25, np.float32))
        theta = (rng.standard_normal(plan.param_shape(2)) * 0.5).astype(np.float32)
        a = core.to_input(core.render(ops.constant(theta), plan, ops), plan, ops).numpy()
        np.testing.assert_allclose(a, core.to_input(core.render(theta, plan, ref), plan, ref), atol=2e-6)
    x = rng.random((2, 3, 9, 12)).astype(np.float32)
    for t in [core.Transform(2, -3), core.Transform(-1, 4, 1.3, -25.0)]:
        grid = np.repeat(core.sampling_grid(t, 9, 12), 2, axis=0)
        np.testing.assert_allclose(
            ops.grid_sample(paddle.to_tensor(x), grid).numpy(), ref.grid_sample(x, grid), atol=1e-6
        )
    xp = paddle.to_tensor(x)
    np.testing.assert_allclose(core.total_variation(xp).numpy(), core.total_variation(x), rtol=1e-5)
    np.testing.assert_allclose(core.l2_penalty(xp).numpy(), core.l2_penalty(x), rtol=1e-5)


# ---------------------------------------------------------------------------- the user's world
class SmallNet(nn.Layer):
    """conv -> BN -> in-place ReLU -> conv -> dropout -> GAP -> linear; ``fail`` raises before conv2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2D(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2D(6)
        self.conv2 = nn.Conv2D(6, 5, 3, padding=1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(5, 4)
        self.fail = False

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        h = F.relu_(self.bn(self.conv1(x)))
        if self.fail:
            raise RuntimeError("boom")
        h = self.drop(self.conv2(h))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


def _no_hooks(model: nn.Layer) -> bool:
    return all(not m._forward_post_hooks and not m._forward_pre_hooks for m in model.sublayers(include_self=True))


def _tracer_train_mode() -> bool:
    return paddle.base.framework._dygraph_tracer()._train_mode


def test_model_is_left_as_found() -> None:
    paddle.seed(0)
    model = SmallNet()
    model.train()
    model.bn.training = False  # a mixed state must come back exactly (bn.eval() would reset the tracer)
    model.conv1.weight.stop_gradient = True  # a frozen parameter
    tracer = _tracer_train_mode()
    flags = {n: m.training for n, m in model.named_sublayers(include_self=True)}
    frozen = {n: p.stop_gradient for n, p in model.named_parameters()}
    params = {n: p.numpy().copy() for n, p in model.named_parameters()}
    buffers = {n: b.numpy().copy() for n, b in model.named_buffers()}
    am = pd_am.ActivationMaximization(model, 8)
    with paddle.no_grad():  # the caller's grad mode does not matter and comes back
        r1 = am.maximize(class_index=1, steps=2, **ON)
        assert not paddle.is_grad_enabled()
    r2 = am.maximize("conv2", channel=0, neuron=(1, 1), steps=3, parameterization="pixel", tv_weight=0.0, **OFF)
    am.visualize_channels("conv1", channels=[0, 1], steps=1)
    assert paddle.is_grad_enabled()
    assert r1.history.shape == (2,) and np.all(np.diff(r2.history) > 0)  # no transformation: it climbs
    assert {n: m.training for n, m in model.named_sublayers(include_self=True)} == flags
    assert _tracer_train_mode() == tracer
    for n, p in model.named_parameters():
        assert p.grad is None, n
        assert p.stop_gradient is frozen[n], n
        np.testing.assert_array_equal(p.numpy(), params[n])
    for n, b in model.named_buffers():  # eval mode inside: BatchNorm statistics not updated
        np.testing.assert_array_equal(b.numpy(), buffers[n])
    assert _no_hooks(model)


def test_hooks_removed_and_flags_restored_after_an_exception() -> None:
    model = SmallNet()
    model.train()
    model.fail = True
    am = pd_am.ActivationMaximization(model, 8)
    for kw in ({"layer": "conv2", "channel": 0}, {"class_index": 0}):
        with pytest.raises(RuntimeError, match="boom"):
            am.maximize(**kw, steps=2)
        assert _no_hooks(model)
        assert all(m.training for m in model.sublayers(include_self=True))
        assert paddle.is_grad_enabled()
    model.fail = False
    r = am.maximize("conv2", channel=1, steps=2)
    assert r.history.shape == (2,) and _no_hooks(model) and all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------------------- one API
@pytest.mark.parametrize(
    "kwargs",
    [
        {"layer": "conv9", "channel": 0},
        {"layer": "conv2", "channel": 5},
        {"layer": "conv2", "channel": 0, "neuron": (9, 0)},
        {"class_index": 4},
        {"class_index": 1, "layer": "conv2"},
        {"layer": "fc", "channel": 0, "neuron": "center"},
        {},
    ],
)
def test_same_errors_as_torch(kwargs) -> None:
    import torch

    class TorchNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 6, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(6)
            self.conv2 = torch.nn.Conv2d(6, 5, 3, padding=1)
            self.drop = torch.nn.Dropout(0.5)
            self.fc = torch.nn.Linear(5, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.drop(self.conv2(torch.relu(self.bn(self.conv1(x)))))
            return self.fc(h.mean(dim=(2, 3)))

    errors = []
    for am in (pt_am.ActivationMaximization(TorchNet().eval(), 8), pd_am.ActivationMaximization(SmallNet(), 8)):
        with pytest.raises((core.ObjectiveError, LayerNotFoundError, ValueError)) as info:
            am.maximize(**kwargs, steps=1)
        errors.append(info.value)
    assert type(errors[0]) is type(errors[1])
    assert str(errors[0]) == str(errors[1])


def test_same_public_api_as_torch() -> None:
    import inspect

    assert pd_am.__all__ == pt_am.__all__
    for name in pt_am.__all__:
        a, b = getattr(pt_am, name), getattr(pd_am, name)
        if name == "ActivationMaximization":
            for meth in ("__init__", "maximize", "maximize_channels", "visualize_channels", "visualize"):
                assert inspect.signature(getattr(a, meth)) == inspect.signature(getattr(b, meth)), meth
            assert "import paddle" in (b.__doc__ or "") and "torch" not in (b.__doc__ or "")
        else:
            assert a is b
    with pytest.raises(ModelTypeError, match=r"Expected a paddle\.nn\.Layer"):
        pd_am.ActivationMaximization(object(), 8)
