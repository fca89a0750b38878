"""Activation maximization with Keras 3: the same numbers as PyTorch on the twin models, and the user's
model left as found.

Parity tolerance (as ``tests/test_actmax_paddle.py``): images (in [0, 1]) agree within ``ATOL = 1e-5``;
objective values and model inputs are compared relative to the largest magnitude of the torch array.
Both frameworks get the very same random draws and the same numpy Adam; only the gradients come from
each framework.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

from visualization.core import activation_max as core
from visualization.core.errors import LayerNotFoundError, ModelTypeError
from visualization.keras import activation_maximization as k_am
from visualization.keras._actmax_backend import KerasTensorOps
from visualization.pytorch import activation_maximization as pt_am

from .keras_twins import make_keras_twin
from .twins import TWINS

ATOL = 1e-5
RTOL = 1e-5
OFF = {"jitter": 0, "scales": (1.0,), "rotations": (0.0,)}
ON = {"jitter": 3, "scales": (0.8, 1.2), "rotations": (-20.0, 15.0)}
L = keras.layers


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_rel(a: np.ndarray, b: np.ndarray, rtol: float = RTOL, floor: float = 1e-6) -> None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    scale = max(float(np.abs(a).max(initial=0.0)), floor)
    err = float(np.abs(a - b).max(initial=0.0))
    assert err <= rtol * scale, f"max abs error {err:.3g} > {rtol} x scale {scale:.3g}"


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
    twin = make_keras_twin(name)
    obj = OBJECTIVES[name][kind]
    kw = {
        "steps": 5,
        "parameterization": parameterization,
        "seed": 3,
        "tv_weight": 0.5,
        "l2_weight": 0.5,
        **(ON if transforms == "on" else OFF),
    }
    size = twin.twin.input_shape[1:]
    a = pt_am.ActivationMaximization(twin.torch_model, size, mean=0.5, std=0.25).maximize(**obj, **kw)
    b = k_am.ActivationMaximization(twin.keras_model, size, mean=0.5, std=0.25).maximize(**obj, **kw)
    assert a.objective == b.objective and a.layer_name == b.layer_name and a.settings == b.settings
    err = float(np.abs(a.image - b.image).max())
    assert err <= ATOL, f"images differ by {err:.3g}"
    assert float(np.abs(a.image - 0.5).max()) > 1e-3  # the image did move
    np.testing.assert_allclose(a.input, b.input, rtol=0, atol=ATOL / 0.25)
    scale = max(float(np.abs(a.history).max()), abs(a.value))
    assert_rel(a.history, b.history, floor=scale)
    assert_rel(np.array([a.value]), np.array([b.value]), floor=scale)


def test_visualize_channels_parity() -> None:
    twin = make_keras_twin("resbn")
    kw = {"channels": [0, 5], "steps": 3, "seed": 2, "batch_size": 2}
    a = pt_am.ActivationMaximization(twin.torch_model, 15).maximize_channels("block", **kw)
    b = k_am.ActivationMaximization(twin.keras_model, 15).maximize_channels("block", **kw)
    for ra, rb in zip(a, b):
        assert float(np.abs(ra.image - rb.image).max()) <= ATOL
        assert_rel(ra.history, rb.history)
    fig = k_am.ActivationMaximization(twin.keras_model, 15).visualize_channels("block", **kw)
    assert [ax.get_title().split()[0] for ax in fig.axes if ax.get_title()] == ["#0", "#5"]


def test_primitives_equal_the_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    ops, ref = KerasTensorOps(tf.float32), core.NumpyOps()
    for param in ("pixel", "fft"):
        plan = core.RenderPlan.make(7, 10, param, np.array([0.4, 0.5, 0.6], np.float32), np.full(3, 0.25, np.float32))
        theta = (rng.standard_normal(plan.param_shape(2)) * 0.5).astype(np.float32)
        a = ops.numpy(core.to_input(core.render(ops.constant(theta), plan, ops), plan, ops))
        np.testing.assert_allclose(a, core.to_input(core.render(theta, plan, ref), plan, ref), atol=2e-6)
    x = rng.random((2, 3, 9, 12)).astype(np.float32)
    for t in [core.Transform(2, -3), core.Transform(-1, 4, 1.3, -25.0)]:
        grid = np.repeat(core.sampling_grid(t, 9, 12), 2, axis=0)
        np.testing.assert_allclose(
            ops.numpy(ops.grid_sample(ops.constant(x), grid)), ref.grid_sample(x, grid), atol=1e-6
        )
    xk = ops.constant(x)
    np.testing.assert_allclose(ops.numpy(core.total_variation(xk)), core.total_variation(x), rtol=1e-5)
    np.testing.assert_allclose(ops.numpy(core.l2_penalty(xk)), core.l2_penalty(x), rtol=1e-5)


def test_gradients_of_the_primitives_match_torch() -> None:
    """The fft rendering and the sampler differentiate as torch's irfft2 and grid_sample do."""
    rng = np.random.default_rng(1)
    plan = core.RenderPlan.make(6, 8, "fft", None, None)
    theta = (rng.standard_normal(plan.param_shape(1)) * 0.5).astype(np.float32)
    grid = core.sampling_grid(core.Transform(1, -2, 1.1, 12.0), 6, 8)
    weights = rng.standard_normal((1, 3, 6, 8)).astype(np.float32)
    pt_ops = pt_am.BACKEND.tensor_ops(torch.nn.Linear(1, 1))
    grads = []
    for ops in (pt_ops, KerasTensorOps(tf.float32)):
        with ops.recording():
            var = ops.variable(theta)
            x = ops.grid_sample(core.render(var, plan, ops), grid)
            grads.append(ops.gradient(core.objective_value(x, ops.constant(weights)).sum(), var))
    assert_rel(grads[0], grads[1])


# ---------------------------------------------------------------------------- the user's world
class SmallNet(keras.Model):
    """conv -> BN -> relu -> conv -> dropout -> GAP -> dense; ``fail`` raises before conv2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn = L.Conv2D(6, 3, padding="same", name="conv1"), L.BatchNormalization(name="bn")
        self.conv2 = L.Conv2D(5, 3, padding="same", name="conv2")
        self.drop, self.fc = L.Dropout(0.5, name="drop"), L.Dense(4, name="fc")
        self.fail = False
        self(np.zeros((1, 8, 8, 3), np.float32))

    def call(self, x, training=None):
        h = tf.nn.relu(self.bn(self.conv1(x), training=training))
        if self.fail:
            raise RuntimeError("boom")
        h = self.drop(self.conv2(h), training=training)
        return self.fc(tf.reduce_mean(h, axis=(1, 2)))


def test_model_is_left_as_found() -> None:
    model = SmallNet()
    model.conv1.trainable = False
    flags = {w.path: w.trainable for w in model.weights}
    state = [w.numpy().copy() for w in model.weights]
    am = k_am.ActivationMaximization(model, 8)
    r1 = am.maximize(class_index=1, steps=2, **ON)
    r2 = am.maximize("conv2", channel=0, neuron=(1, 1), steps=3, parameterization="pixel", tv_weight=0.0, **OFF)
    am.visualize_channels("conv1", channels=[0, 1], steps=1)
    assert r1.history.shape == (2,) and np.all(np.diff(r2.history) > 0)  # no transformation: it climbs
    assert {w.path: w.trainable for w in model.weights} == flags
    for w, before in zip(model.weights, state):  # BatchNorm statistics too: training=False
        np.testing.assert_array_equal(w.numpy(), before, err_msg=w.path)
    assert all("call" not in vars(la) for la in model._flatten_layers())


def test_calls_restored_after_an_exception() -> None:
    model = SmallNet()
    model.fail = True
    am = k_am.ActivationMaximization(model, 8)
    for kw in ({"layer": "conv2", "channel": 0}, {"class_index": 0}):
        with pytest.raises(RuntimeError, match="boom"):
            am.maximize(**kw, steps=2)
        assert all("call" not in vars(la) for la in model._flatten_layers())
    model.fail = False
    r = am.maximize("conv2", channel=1, steps=2)
    assert r.history.shape == (2,) and all("call" not in vars(la) for la in model._flatten_layers())


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
    for am in (pt_am.ActivationMaximization(TorchNet().eval(), 8), k_am.ActivationMaximization(SmallNet(), 8)):
        with pytest.raises((core.ObjectiveError, LayerNotFoundError, ValueError)) as info:
            am.maximize(**kwargs, steps=1)
        errors.append(info.value)
    assert type(errors[0]) is type(errors[1])
    assert str(errors[0]) == str(errors[1])


def test_same_public_api_as_torch() -> None:
    import inspect

    assert k_am.__all__ == pt_am.__all__
    for name in pt_am.__all__:
        a, b = getattr(pt_am, name), getattr(k_am, name)
        if name == "ActivationMaximization":
            for meth in ("__init__", "maximize", "maximize_channels", "visualize_channels", "visualize"):
                assert inspect.signature(getattr(a, meth)) == inspect.signature(getattr(b, meth)), meth
            assert "import torch" not in (b.__doc__ or "")
        else:
            assert a is b
    with pytest.raises(ModelTypeError, match=r"Expected a keras\.Model"):
        k_am.ActivationMaximization(object(), 8)


def test_keras_modules_load_neither_torch_nor_paddle() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys, visualization.keras.saliency, visualization.keras.activation_maximization, "
        "visualization.keras.metrics, visualization.keras.targets; print(' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    loaded = set(out.stdout.split())
    assert "tensorflow" in loaded and "keras" in loaded
    assert "torch" not in loaded and "paddle" not in loaded
