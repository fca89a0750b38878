"""Saliency in PyTorch and Keras 3 gives the same numbers on twin models with identical weights, and the
Keras adapter leaves the model, its input and TensorFlow's Relu gradient as found.

Tolerance (as ``tests/test_saliency_paddle.py``): attributions have arbitrary scale, so
``max|a - b| <= RTOL * scale`` with the scale the largest torch attribution; for Occlusion (a difference
of two scores) the scale is the largest score magnitude. Keras inputs are the same images channels-last;
attributions come back channels-first in both frameworks.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from tensorflow.python.framework import ops as tf_ops

from visualization.core import saliency as core
from visualization.core.errors import InvalidInputError, ModelTypeError, TargetError
from visualization.core.saliency import METHODS as SALIENCY_CLASSES
from visualization.keras import _saliency_backend as k_backend
from visualization.keras import saliency as ks
from visualization.keras import targets as kt_targets
from visualization.pytorch import saliency as pt
from visualization.pytorch import targets as pt_targets

from .keras_twins import make_keras_twin
from .twins import TWINS

RTOL = 1e-5
METHODS = tuple(cls.__name__ for cls in SALIENCY_CLASSES)
L = keras.layers


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
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
    """``method`` of ``module`` (pt or ks) with options that exercise batching and non-defaults."""
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


# ----------------------------------------------------------------------------- parity
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", TWINS)
def test_torch_and_keras_agree(name: str, method: str) -> None:
    """Every method on every twin, for the three kinds of target (one call each, on the same images)."""
    twin = make_keras_twin(name)
    n = 2 if method == "Occlusion" else 3  # Occlusion runs a forward pass per patch: fewer images
    xt, xk = twin.inputs(n)
    k = twin.twin.num_classes
    kinds = (None, 0, [(i + 1) % k for i in range(n)])
    for tc in kinds[::2] if method == "Occlusion" else kinds:  # Occlusion: the int target is the list's case
        a = make(pt, method, twin.torch_model, twin.twin.cam_layers[0]).compute(xt, tc)
        b = make(ks, method, twin.keras_model, twin.twin.cam_layers[0]).compute(xk, tc)
        assert a.method == b.method
        np.testing.assert_array_equal(a.targets, b.targets)
        assert b.attributions.shape == (n, *twin.twin.input_shape) and a.attributions.dtype == b.attributions.dtype
        assert np.abs(a.attributions).max() > 0
        assert_rel(a.outputs, b.outputs)
        scale = float(np.abs(a.outputs).max()) if method == "Occlusion" else None
        assert_rel(a.attributions, b.attributions, scale=scale)


@pytest.mark.parametrize("method", ["VanillaGradient", "IntegratedGradients", "Occlusion", "GuidedGradCAM"])
def test_callable_and_object_targets_agree(method: str) -> None:
    twin = make_keras_twin("resbn")
    xt, xk = twin.tf_inputs(2)  # a tf.Tensor works as well as numpy
    a = make(pt, method, twin.torch_model, "block").compute(xt, lambda out: out[:, 2] - out[:, 0])
    b = make(ks, method, twin.keras_model, "block").compute(xk, lambda out: out[:, 2] - out[:, 0])
    assert a.targets is None and b.targets is None
    scale = float(np.abs(a.outputs).max()) if method == "Occlusion" else None
    assert_rel(a.attributions, b.attributions, scale=scale)


def test_channels_last_baselines_agree() -> None:
    """An (H, W, C) baseline array in Keras is the (C, H, W) one in torch; a per-channel (C,) one too."""
    twin = make_keras_twin("catdog")
    xt, xk = twin.inputs(2)
    base = np.random.default_rng(4).random((3, 32, 32)).astype(np.float32)
    a = pt.IntegratedGradients(twin.torch_model, baseline=base, n_steps=4).compute(xt, 1)
    b = ks.IntegratedGradients(twin.keras_model, baseline=base.transpose(1, 2, 0), n_steps=4).compute(xk, 1)
    assert_rel(a.attributions, b.attributions)
    per_channel = np.array([0.1, -0.2, 0.3], np.float32)
    a = pt.Occlusion(twin.torch_model, (8, 8), (8, 8), baseline=per_channel[:, None, None]).compute(xt, 0)
    b = ks.Occlusion(twin.keras_model, (8, 8), (8, 8), baseline=tf.constant(per_channel)).compute(xk, 0)
    assert_rel(a.attributions, b.attributions, scale=float(np.abs(a.outputs).max()))


def test_smoothgrad_noise_generate_and_figure() -> None:
    twin = make_keras_twin("gap")
    xt, xk = twin.inputs(2)
    a = pt.SmoothGrad(pt.VanillaGradient(twin.torch_model), n_samples=6, seed=9, batch_size=5).noisy_inputs(xt)
    b = ks.SmoothGrad(ks.VanillaGradient(twin.keras_model), n_samples=6, seed=9, batch_size=5).noisy_inputs(xk)
    np.testing.assert_array_equal(a, b)  # the core's layout in both
    twin = make_keras_twin("catdog")
    xt, xk = twin.inputs(1)
    a = pt.GuidedBackprop(twin.torch_model).generate_saliency(xt[0], 1)
    b = ks.GuidedBackprop(twin.keras_model).generate_saliency(xk[0], 1)  # one (H, W, C) image
    assert a.shape == b.shape == (32, 32)
    np.testing.assert_allclose(a, b, atol=1e-5)
    fig = ks.Occlusion(twin.keras_model, window=(8, 8), stride=(8, 8)).visualize_saliency(xk, 0)
    assert [ax.get_title() for ax in fig.axes][:2] == ["Original", "saliency: max |a| over channels"]


# ----------------------------------------------------------------------------- Keras' ReLUs
class TorchReluNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 5, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(5, 6, 3, padding=1)
        self.fc = torch.nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(h.mean(dim=(2, 3)))


class SubclassedRelu(keras.Model):
    """The ReLUs as raw TensorFlow / Keras function calls inside a subclassed model's call."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self.style = style
        self.conv1 = L.Conv2D(5, 3, padding="same")
        self.conv2 = L.Conv2D(6, 3, padding="same")
        self.fc = L.Dense(4)

    def call(self, x, training=None):
        act = tf.nn.relu if self.style == "tf.nn.relu" else keras.ops.relu
        h = act(self.conv2(act(self.conv1(x))))
        return self.fc(tf.reduce_mean(h, axis=(1, 2)))


def _keras_relu_net(style: str, weights: dict) -> keras.Model:
    if style in ("tf.nn.relu", "keras.ops.relu"):
        model = SubclassedRelu(style)
        model(np.zeros((1, 7, 7, 3), np.float32))
        convs, fc = (model.conv1, model.conv2), model.fc
    else:
        act = {"layer": lambda: L.ReLU(), "Activation": lambda: L.Activation("relu")}.get(style)
        inner = "relu" if style == "activation=" else None
        layers = [keras.Input((7, 7, 3)), L.Conv2D(5, 3, padding="same", activation=inner)]
        layers += [act()] if act else []
        layers += [L.Conv2D(6, 3, padding="same", activation=inner)] + ([act()] if act else [])
        layers += [L.GlobalAveragePooling2D(), L.Dense(4)]
        model = keras.Sequential(layers)
        convs = [la for la in model.layers if isinstance(la, L.Conv2D)]
        fc = model.layers[-1]
    for conv, key in zip(convs, ("conv1", "conv2")):
        conv.set_weights([weights[f"{key}.weight"].transpose(2, 3, 1, 0), weights[f"{key}.bias"]])
    fc.set_weights([weights["fc.weight"].T, weights["fc.bias"]])
    return model


@pytest.mark.parametrize("style", ["layer", "Activation", "activation=", "tf.nn.relu", "keras.ops.relu"])
def test_every_relu_spelling_is_modified(style: str) -> None:
    """Each Keras spelling gives the torch number (checked against captum in the torch tests)."""
    from .twins import load_torch, numpy_weights

    tm = TorchReluNet().eval()
    weights = numpy_weights(tm, seed=3)
    load_torch(tm, weights)
    km = _keras_relu_net(style, weights)
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 7)).astype(np.float32)
    xk = x.transpose(0, 2, 3, 1)
    for method in ("GuidedBackprop", "Deconvolution"):
        a = getattr(pt, method)(tm).compute(torch.from_numpy(x), [1, 3])
        b = getattr(ks, method)(km).compute(xk, [1, 3])
        assert_rel(a.attributions, b.attributions)
        plain = pt.VanillaGradient(tm).compute(torch.from_numpy(x), [1, 3]).attributions
        assert not np.allclose(a.attributions, plain, rtol=1e-3)  # the modification matters here


def test_no_relu_warns() -> None:
    model = keras.Sequential([keras.Input((6, 6, 3)), L.Conv2D(2, 3, activation="tanh"), L.Flatten(), L.Dense(3)])
    with pytest.warns(RuntimeWarning, match="depends on no ReLU"):
        ks.Deconvolution(model).compute(np.random.rand(1, 6, 6, 3).astype(np.float32), 1)


# ----------------------------------------------------------------------------- contract
class SmallNet(keras.Model):
    """conv-bn-relu, conv-bn + residual -> ReLU, dropout, GAP, dense; ``fail_from`` raises in the n-th call."""

    def __init__(self, fail_from: int | None = None) -> None:
        super().__init__()
        self.conv1, self.bn1 = L.Conv2D(8, 3, padding="same", name="conv1"), L.BatchNormalization(name="bn1")
        self.conv2, self.bn2 = L.Conv2D(8, 3, padding="same", name="conv2"), L.BatchNormalization(name="bn2")
        self.drop, self.fc, self.relu = L.Dropout(0.5), L.Dense(5), L.ReLU()
        self.calls, self.fail_from = 0, None
        self(np.zeros((1, 8, 8, 3), np.float32))  # build
        self.fail_from = fail_from

    def call(self, x, training=None):
        self.calls += 1
        h = tf.nn.relu(self.bn1(self.conv1(x), training=training))
        h = self.relu(self.bn2(self.conv2(h), training=training) + h)
        if self.fail_from is not None and self.calls >= self.fail_from:
            raise RuntimeError("boom after the ReLUs")
        return self.fc(self.drop(tf.reduce_mean(h, axis=(1, 2)), training=training))


def _every_method(model) -> list[core.BaseSaliency]:
    return [
        ks.VanillaGradient(model, batch_size=1),
        ks.GradientXInput(model, batch_size=1),
        ks.IntegratedGradients(model, n_steps=3, internal_batch_size=2),
        ks.SmoothGrad(ks.GuidedBackprop(model), n_samples=2),
        ks.GuidedBackprop(model, batch_size=1),
        ks.Deconvolution(model, batch_size=1),
        ks.GuidedGradCAM(model, "conv2"),
        ks.Occlusion(model, window=(4, 4), stride=(4, 4), batch_size=3),
    ]


def _relu_gradient():
    return tf_ops._gradient_registry._registry["Relu"]


def test_model_input_and_tensorflow_left_as_found() -> None:
    model = SmallNet()
    model.conv1.trainable = False
    flags = {w.path: w.trainable for w in model.weights}
    state = [w.numpy().copy() for w in model.weights]
    relu = _relu_gradient()
    x = tf.constant(np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32))
    x_before = x.numpy().copy()
    results = [m.compute(x, 1).attributions for m in _every_method(model)]
    assert all(np.abs(r).max() > 0 for r in results)
    assert {w.path: w.trainable for w in model.weights} == flags
    for w, before in zip(model.weights, state):  # BatchNorm statistics too: training=False in every call
        np.testing.assert_array_equal(w.numpy(), before, err_msg=w.path)
    np.testing.assert_array_equal(x.numpy(), x_before)
    assert "call" not in vars(model) and all("call" not in vars(la) for la in model._flatten_layers())
    assert _relu_gradient() is relu


@pytest.mark.parametrize("fail_from", [1, 2])  # 2: the first forward works, a later one fails
def test_nothing_left_installed_after_exception(fail_from: int) -> None:
    model = SmallNet(fail_from)
    relu = _relu_gradient()
    for method in _every_method(model):
        model.calls = 0
        with pytest.raises(RuntimeError, match="boom"):
            method.compute(np.random.rand(2, 8, 8, 3).astype(np.float32), 0)
        assert _relu_gradient() is relu
        assert all("call" not in vars(la) for la in model._flatten_layers())
    x = tf.constant([-1.0, 2.0])  # TensorFlow's relu gradient behaves normally afterwards
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.nn.relu(x) * tf.constant([1.0, -3.0]))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0.0, -3.0])


def test_smoothgrad_refuses_a_method_of_the_other_framework() -> None:
    twin = make_keras_twin("gap")
    with pytest.raises(ModelTypeError, match=r"visualization\.keras\.saliency"):
        ks.SmoothGrad(pt.VanillaGradient(twin.torch_model))


def test_bad_input_is_explained() -> None:
    twin = make_keras_twin("gap")
    _, xk = twin.inputs(1)
    with pytest.raises(InvalidInputError, match="channels-last"):
        ks.VanillaGradient(twin.keras_model).compute(xk.transpose(0, 3, 1, 2), 0)
    with pytest.raises(TargetError, match="one score per sample"):
        ks.VanillaGradient(twin.keras_model).compute(xk, lambda out: out)


# ----------------------------------------------------------------------------- targets
def test_target_objects_agree_with_torch() -> None:
    from visualization.keras.cam_visualizer import GradCAM as KG
    from visualization.pytorch.cam_visualizer import GradCAM as TG

    twin = make_keras_twin("catdog")
    xt, xk = twin.inputs(2)
    for make_target in (lambda m: m.SoftmaxTarget(1), lambda m: [m.SoftmaxTarget(0), m.ClassifierOutputTarget(1)]):
        a = TG(twin.torch_model, "conv3").compute(xt, make_target(pt_targets))
        b = KG(twin.keras_model, "conv3").compute(xk, make_target(kt_targets))
        assert_rel(a.raw, b.raw)


def test_segmentation_target_reads_channels_first_planes() -> None:
    """A (N, H, W, K) segmentation output: the mask scores class k's (H, W) plane, as torch's (N, K, H, W)."""
    conv = torch.nn.Conv2d(3, 2, 3, padding=1)
    tm = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.Conv2d(2, 4, 1)).eval()
    km = keras.Sequential([keras.Input((6, 6, 3)), L.Conv2D(2, 3, padding="same", name="c1"), L.ReLU(), L.Conv2D(4, 1)])
    for k_layer, t_layer in ((km.layers[0], tm[0]), (km.layers[2], tm[2])):
        k_layer.set_weights([t_layer.weight.detach().numpy().transpose(2, 3, 1, 0), t_layer.bias.detach().numpy()])
    mask = np.zeros((6, 6), np.float32)
    mask[1:4, 2:5] = 1.0
    x = np.random.default_rng(2).random((1, 3, 6, 6)).astype(np.float32)
    a = pt.VanillaGradient(tm).compute(torch.from_numpy(x), pt_targets.SemanticSegmentationTarget(3, mask))
    b = ks.VanillaGradient(km).compute(x.transpose(0, 2, 3, 1), kt_targets.SemanticSegmentationTarget(3, mask))
    assert_rel(a.attributions, b.attributions)


# ----------------------------------------------------------------------------- public API
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
    from visualization.keras._backend import BACKEND

    assert pt.__all__ == ks.__all__
    for name in pt.__all__:
        a, b = getattr(pt, name), getattr(ks, name)
        if name == "SaliencyResult":
            assert a is b is core.SaliencyResult
            continue
        assert issubclass(b, getattr(core, name)) and b.backend is BACKEND
        assert b.saliency_backend is k_backend.SALIENCY_BACKEND
        assert "import torch" not in b.__doc__
        ma, mb = _public_callables(a), _public_callables(b)
        assert sorted(ma) == sorted(mb), name
        for meth in ma:
            assert _params(ma[meth]) == _params(mb[meth]), f"{name}.{meth}"
    assert pt_targets.__all__ == kt_targets.__all__
