"""The user's world is left as found, and bad input gets the same clear errors as on torch (Paddle side).

Mirrors ``test_torch_contract.py``; the error tests run the same mistake through both adapters and
require the same exception class and the same message.
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

from visualization.core.errors import (
    InvalidInputError,
    LayerNotFoundError,
    LayerOutputError,
    ModelTypeError,
    TargetError,
)
from visualization.paddle import cam_visualizer as pd_cam
from visualization.paddle import layer_visualizer as pd_lv
from visualization.paddle import models as pd_models
from visualization.paddle.cam_visualizer import GradCAM, GradCAMPlusPlus, ScoreCAM, compare_cam_methods
from visualization.paddle.layer_visualizer import CNNLayerVisualizer
from visualization.pytorch import cam_visualizer as pt_cam
from visualization.pytorch import layer_visualizer as pt_lv
from visualization.pytorch import models as pt_models

ROOT = Path(__file__).resolve().parents[1]
# every CAM class; CAM itself needs a GAP -> linear head and is checked on its own
ALL_CAMS = [getattr(pd_cam, n) for n in pd_cam.__all__ if n not in ("CAMResult", "compare_cam_methods")]
CAMS = [c for c in ALL_CAMS if c.__name__ != "CAM"]


class SmallNet(nn.Layer):
    """conv-bn-relu_ (in place, functional) then conv-bn + residual add -> ReLU layer, ceil-mode
    max-pool, dropout and a linear head: the Paddle counterpart of the torch contract's SmallNet."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2D(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2D(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2D(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2D(8)
        self.pool = nn.MaxPool2D(2, ceil_mode=True)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        h = F.relu_(self.bn1(self.conv1(x)))  # Paddle's in-place activation, right after the bn1 hook
        h = self.relu(self.bn2(self.conv2(h)) + h)
        h = self.pool(h)
        return self.fc(self.drop(F.adaptive_avg_pool2d(h, 1).flatten(1)))


def seeded(model: nn.Layer, seed: int = 0) -> nn.Layer:
    """Every parameter and BatchNorm statistic from ``seed`` (non-trivial running stats); eval mode."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.set_value((rng.standard_normal(p.shape) * 0.5).astype(np.float32))
    for m in model.sublayers():
        if isinstance(m, nn.BatchNorm2D):
            m._mean.set_value((rng.standard_normal(m._mean.shape) * 0.1).astype(np.float32))
            m._variance.set_value((rng.random(m._variance.shape) + 0.5).astype(np.float32))
    model.eval()
    return model


def rand(*shape: int, seed: int = 0, dtype: str = "float32") -> paddle.Tensor:
    return paddle.to_tensor(np.random.default_rng(seed).random(shape).astype(dtype))


def _no_hooks(model: nn.Layer) -> bool:
    return all(not m._forward_post_hooks and not m._forward_pre_hooks for m in model.sublayers(include_self=True))


def _tracer_train_mode() -> bool:
    # Layer.train()/eval() also flip this process-wide flag; the adapter must not touch it.
    return paddle.base.framework._dygraph_tracer()._train_mode


def _all_calls(model: nn.Layer, x: paddle.Tensor) -> None:
    """Every public entry point that runs the model."""
    v = CNNLayerVisualizer(model)
    v.get_feature_maps(x, "conv2")
    v.get_gradients(x, 1, "conv2")
    v.visualize_feature_maps(x, "conv2", max_maps=4)
    v.visualize_gradients(x, None, "conv2", max_maps=4)
    v.visualize_feature_maps_interactive(x, "conv1", max_maps=3)
    for cam in CAMS:
        cam(model, "conv2").generate_cam(x, 0)
    GradCAM(model).generate_cam(x)  # auto layer: hooks on every sub-layer
    compare_cam_methods(model, "conv2", x)


# ------------------------------------------------------------------ the user's world is left as found
@pytest.mark.parametrize("input_needs_grad", [False, True])
def test_model_parameters_flags_and_input_untouched(input_needs_grad: bool) -> None:
    model = seeded(SmallNet()).train()  # left in train mode by the user (the tracer too)
    model.bn1.training = False  # a mixed state must come back exactly (bn1.eval() would reset the tracer)
    model.conv1.weight.stop_gradient = True  # a frozen parameter
    tracer_mode = _tracer_train_mode()
    assert tracer_mode is True
    flags = {n: m.training for n, m in model.named_sublayers(include_self=True)}
    params = {n: p.numpy().copy() for n, p in model.named_parameters()}
    frozen = {n: p.stop_gradient for n, p in model.named_parameters()}  # BatchNorm statistics are frozen parameters
    assert frozen["conv1.weight"] and not frozen["conv2.weight"]
    buffers = {n: b.numpy().copy() for n, b in model.named_buffers()}
    x = rand(2, 3, 8, 8)
    x.stop_gradient = not input_needs_grad
    x_before = x.numpy().copy()
    _all_calls(model, x)
    assert {n: m.training for n, m in model.named_sublayers(include_self=True)} == flags
    assert _tracer_train_mode() == tracer_mode
    for n, p in model.named_parameters():
        assert p.grad is None, n
        np.testing.assert_array_equal(p.numpy(), params[n])
        assert p.stop_gradient is frozen[n], n
    for n, b in model.named_buffers():  # BatchNorm statistics: eval mode inside, so not updated
        np.testing.assert_array_equal(b.numpy(), buffers[n])
    np.testing.assert_array_equal(x.numpy(), x_before)
    assert x.stop_gradient is (not input_needs_grad) and x.grad is None
    assert _no_hooks(model)


def test_train_mode_model_is_explained_in_eval_mode() -> None:
    """Dropout and BatchNorm act as in eval mode: a model left in train mode gives the eval-mode map."""
    x = rand(2, 3, 8, 8, seed=3)
    expected = GradCAM(seeded(SmallNet()), "conv2").generate_cam(x, 1)
    model = seeded(SmallNet()).train()
    for _ in range(2):  # deterministic, although Dropout(0.5) is in train mode
        np.testing.assert_allclose(GradCAM(model, "conv2").generate_cam(x, 1), expected, rtol=0, atol=1e-6)
    assert all(m.training for m in model.sublayers(include_self=True))


def test_fully_frozen_model_still_gets_gradients() -> None:
    model = seeded(SmallNet())
    for p in model.parameters():
        p.stop_gradient = True
    res = GradCAM(model, "conv2").compute(rand(1, 3, 8, 8), 2)
    assert np.abs(res.weights).sum() > 0
    assert all(p.stop_gradient and p.grad is None for p in model.parameters())


def test_caller_grad_mode_is_restored() -> None:
    """Gradients are computed even under the caller's no_grad, and the caller's mode comes back."""
    model, x = seeded(SmallNet()), rand(1, 3, 8, 8)
    expected = GradCAM(model, "conv2").compute(x, 1).weights
    with paddle.no_grad():
        np.testing.assert_array_equal(GradCAM(model, "conv2").compute(x, 1).weights, expected)
        assert not paddle.is_grad_enabled()
    assert paddle.is_grad_enabled()
    with pytest.raises(RuntimeError, match="boom"):  # also after an exception past the hook
        GradCAM(Exploding(), "conv").compute(x[:, :, :8, :8], 0)
    assert paddle.is_grad_enabled()


class Exploding(nn.Layer):
    """Fails in ``forward`` after the target layer ran, from call number ``fail_from`` on."""

    def __init__(self, fail_from: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2D(3, 4, 3)
        self.fc = nn.Linear(4, 2)
        self.calls = 0
        self.fail_from = fail_from

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        self.calls += 1
        h = self.conv(x)  # the hook fires, then forward fails
        if self.calls >= self.fail_from:
            raise RuntimeError("boom after the target layer")
        return self.fc(h.mean(axis=[2, 3]))


@pytest.mark.parametrize("cam_cls", ALL_CAMS)
def test_hooks_removed_after_exception_in_forward(cam_cls) -> None:
    model = Exploding().train()
    with pytest.raises(RuntimeError, match="boom"):
        cam_cls(model, "conv").generate_cam(rand(1, 3, 8, 8), 0)
    with pytest.raises(RuntimeError, match="boom"):
        cam_cls(model).generate_cam(rand(1, 3, 8, 8), 0)  # auto layer: hooks on every sub-layer
    assert _no_hooks(model)
    assert model.training and model.conv.training and model.fc.training


def test_hooks_and_flags_after_exception_in_layer_visualizer_and_score_cam_masks() -> None:
    v = CNNLayerVisualizer(Exploding().train())
    with pytest.raises(RuntimeError, match="boom"):
        v.get_feature_maps(rand(1, 3, 8, 8), "conv")
    with pytest.raises(RuntimeError, match="boom"):
        v.get_gradients(rand(1, 3, 8, 8), 0, "conv")
    assert _no_hooks(v.model) and v.model.training
    model = Exploding(fail_from=2).train()  # the capture works, the first masked batch fails
    with pytest.raises(RuntimeError, match="boom"):
        ScoreCAM(model, "conv").generate_cam(rand(1, 3, 8, 8), 0)
    assert model.calls == 2 and _no_hooks(model)
    assert all(m.training for m in model.sublayers(include_self=True))


def test_inplace_activation_after_target_layer_gives_pre_activation_semantics() -> None:
    model = seeded(SmallNet())
    x = rand(2, 3, 8, 8, seed=1)
    v = CNNLayerVisualizer(model)
    with paddle.no_grad():
        pre_relu = model.bn1(model.conv1(x)).numpy()
        expected_out = model(x).numpy()
    maps = v.get_feature_maps(x, "bn1")  # bn1 is followed by F.relu_
    np.testing.assert_allclose(maps, pre_relu, rtol=1e-6, atol=1e-6)
    assert (maps < 0).any()  # the in-place ReLU did not reach the captured copy
    res = v.get_gradients(x, 3, "bn1")
    # independent gradient: a functional re-run from the pre-activation tensor
    a = paddle.to_tensor(pre_relu, stop_gradient=False)
    h = F.relu(a)
    h2 = F.relu(model.bn2(model.conv2(h)) + h)
    out = model.fc(F.adaptive_avg_pool2d(model.pool(h2), 1).flatten(1))
    (g,) = paddle.grad(out[:, 3].sum(), a)
    np.testing.assert_allclose(res.gradients, g.numpy(), rtol=1e-5, atol=1e-7)
    assert all(p.grad is None for p in model.parameters())  # paddle.grad above wrote none either
    # the whole pipeline runs through the in-place op
    np.testing.assert_allclose(GradCAM(model, "bn1").compute(x, 3).weights, g.numpy().mean(axis=(2, 3)), rtol=1e-5)
    for cam in (GradCAMPlusPlus, ScoreCAM):
        assert np.allclose(cam(model, "bn1").generate_cam(x, 3).reshape(2, -1).max(axis=1), 1.0)
    with paddle.no_grad():  # and the model still computes what it computed before
        np.testing.assert_allclose(model(x).numpy(), expected_out, rtol=0, atol=0)


def test_inplace_op_on_the_input_does_not_reach_the_callers_tensor() -> None:
    class EatsInput(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2D(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x: paddle.Tensor) -> paddle.Tensor:
            x = F.relu_(x)  # writes into the tensor the model was given
            return self.fc(self.conv(x).mean(axis=[2, 3]))

    x = paddle.to_tensor(np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32))
    before = x.numpy().copy()
    for cam in CAMS:
        cam(EatsInput(), "conv").generate_cam(x, 0)
    np.testing.assert_array_equal(x.numpy(), before)


def test_input_moves_to_model_dtype_and_3d_means_one_image() -> None:
    model = seeded(SmallNet())
    x64 = rand(3, 8, 8, dtype="float64")
    heat = GradCAM(model, "conv1").generate_cam(x64, 0)
    assert heat.shape == (8, 8) and heat.dtype == np.float32
    assert x64.dtype == paddle.float64
    np.testing.assert_allclose(heat, GradCAM(model, "conv1").generate_cam(x64.astype("float32"), 0), atol=1e-6)


# ------------------------------------------------------------------ bad input: same errors as torch
FRAMEWORKS = {
    "torch": (pt_cam, pt_lv, pt_models.CatDogCNN, lambda a: torch.from_numpy(a)),
    "paddle": (pd_cam, pd_lv, pd_models.CatDogCNN, lambda a: paddle.to_tensor(a)),
}


def _raise_in(framework: str, mistake) -> BaseException:
    cam, lv, catdog, tensor = FRAMEWORKS[framework]
    model = catdog(image_size=16)
    with pytest.raises(Exception) as info:
        mistake(cam, lv, model, tensor)
    return info.value


def _x(n: int = 2) -> np.ndarray:
    return np.random.default_rng(0).random((n, 3, 16, 16)).astype(np.float32)


def _with_inf() -> np.ndarray:
    a = _x(1)
    a[0, 1, 3, 4] = np.inf
    return a


MISTAKES = {
    "unknown layer": (LayerNotFoundError, lambda cam, lv, m, t: cam.GradCAM(m, "conv4")),
    "unknown layer (visualizer)": (
        LayerNotFoundError,
        lambda cam, lv, m, t: lv.CNNLayerVisualizer(m).get_feature_maps(t(_x()), "layer4.1"),
    ),
    "no spatial output": (LayerOutputError, lambda cam, lv, m, t: cam.GradCAM(m, "fc1").generate_cam(t(_x(1)))),
    "no spatial output (maps)": (
        LayerOutputError,
        lambda cam, lv, m, t: lv.CNNLayerVisualizer(m).get_feature_maps(t(_x(1)), "fc2"),
    ),
    "not a convolution": (LayerOutputError, lambda cam, lv, m, t: lv.CNNLayerVisualizer(m).get_conv_filters("fc1")),
    "shared layer": (LayerOutputError, lambda cam, lv, m, t: cam.GradCAM(m, "pool").generate_cam(t(_x(1)))),
    "target out of range": (TargetError, lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(_x()), 5)),
    "negative target": (TargetError, lambda cam, lv, m, t: cam.ScoreCAM(m, "conv3").generate_cam(t(_x()), [0, -1])),
    "wrong length": (
        TargetError,
        lambda cam, lv, m, t: cam.GradCAMPlusPlus(m, "conv3").generate_cam(t(_x()), [0, 1, 1]),
    ),
    "bool target": (TargetError, lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(_x()), True)),
    "callable, wrong shape": (
        TargetError,
        lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(_x()), lambda out: out.sum()),
    ),
    "callable in Score-CAM": (
        TargetError,
        lambda cam, lv, m, t: cam.ScoreCAM(m, "conv3").generate_cam(t(_x()), lambda out: out[:, 0]),
    ),
    "rank 2": (InvalidInputError, lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(_x()[0, 0]))),
    "rank 5": (InvalidInputError, lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(_x()[None]))),
    "4 channels": (
        InvalidInputError,
        lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(np.zeros((1, 4, 16, 16), np.float32))),
    ),
    "1 channel": (
        InvalidInputError,
        lambda cam, lv, m, t: lv.CNNLayerVisualizer(m).get_feature_maps(t(_x()[:, :1]), "conv1"),
    ),
    "NaN": (
        InvalidInputError,
        lambda cam, lv, m, t: cam.ScoreCAM(m, "conv3").generate_cam(t(np.full((1, 3, 16, 16), np.nan, np.float32))),
    ),
    "inf": (
        InvalidInputError,
        lambda cam, lv, m, t: lv.CNNLayerVisualizer(m).get_gradients(t(_with_inf()), 0, "conv1"),
    ),
    "integer input": (
        InvalidInputError,
        lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(np.zeros((1, 3, 16, 16), np.uint8))),
    ),
    "bad batch size": (ValueError, lambda cam, lv, m, t: cam.ScoreCAM(m, "conv3", batch_size=0)),
    "bad sample": (
        IndexError,
        lambda cam, lv, m, t: lv.CNNLayerVisualizer(m).visualize_feature_maps(t(_x()), "conv1", sample=3),
    ),
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_bad_input_gets_the_same_error_as_torch(case: str) -> None:
    expected_type, mistake = MISTAKES[case]
    err_torch, err_paddle = _raise_in("torch", mistake), _raise_in("paddle", mistake)
    assert type(err_paddle) is type(err_torch)
    assert isinstance(err_paddle, expected_type)
    assert str(err_paddle) == str(err_torch)


def test_error_messages_say_what_to_do() -> None:
    msg = str(_raise_in("paddle", MISTAKES["unknown layer"][1]))
    assert "'conv4'" in msg and "Did you mean" in msg and "'conv1'" in msg and "'fc2'" in msg
    msg = str(_raise_in("paddle", MISTAKES["no spatial output"][1]))
    assert "'fc1' must output a 4-D (N, C, h, w) tensor" in msg and "shape (1, 512)" in msg
    assert "out of range" in str(_raise_in("paddle", MISTAKES["target out of range"][1]))
    assert "expects 3 input channels" in str(_raise_in("paddle", MISTAKES["4 channels"][1]))
    with pytest.raises(LayerNotFoundError, match="not a sub-layer"):
        GradCAM(pd_models.CatDogCNN(image_size=16), nn.Conv2D(3, 3, 1))


def test_numpy_input_is_refused_with_the_paddle_conversion_hint() -> None:
    with pytest.raises(InvalidInputError, match=r"paddle tensor .* paddle\.to_tensor"):
        GradCAM(pd_models.CatDogCNN(image_size=16), "conv3").generate_cam(_x(1))
    with pytest.raises(InvalidInputError, match=r"paddle tensor"):  # a torch tensor is not a paddle one
        CNNLayerVisualizer(pd_models.CatDogCNN(image_size=16)).get_feature_maps(torch.from_numpy(_x(1)), "conv1")


def test_not_a_paddle_model() -> None:
    with pytest.raises(ModelTypeError, match=r"Expected a paddle\.nn\.Layer, got builtins\.dict"):
        GradCAM({"conv": 1}, "conv")
    with pytest.raises(ModelTypeError, match=r"got visualization\.pytorch\.models\.CatDogCNN"):
        ScoreCAM(pt_models.CatDogCNN(image_size=16), "conv3")  # a torch model given to the Paddle side
    with pytest.raises(TypeError):
        CNNLayerVisualizer(lambda x: x)


# ------------------------------------------------------------------ public API and imports
MODULE_PAIRS = [(pt_cam, pd_cam), (pt_lv, pd_lv), (pt_models, pd_models)]


def _public_callables(cls: type) -> dict[str, object]:
    """``__init__`` and public methods that the project defines on ``cls`` (not the framework's)."""
    out: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("visualization."):
            for name, obj in vars(klass).items():
                if (name == "__init__" or not name.startswith("_")) and callable(obj):
                    out[name] = obj
    return out


def _params(func: object) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


@pytest.mark.parametrize(("torch_mod", "paddle_mod"), MODULE_PAIRS, ids=lambda m: m.__name__.rpartition(".")[2])
def test_public_api_is_identical_across_frameworks(torch_mod, paddle_mod) -> None:
    assert torch_mod.__all__ == paddle_mod.__all__
    for name in torch_mod.__all__:
        a, b = getattr(torch_mod, name), getattr(paddle_mod, name)
        assert inspect.isclass(a) == inspect.isclass(b), name
        if not inspect.isclass(a):
            assert _params(a) == _params(b), name
            continue
        assert b.__doc__, name
        ma, mb = _public_callables(a), _public_callables(b)
        assert sorted(ma) == sorted(mb), name
        for meth in ma:
            assert _params(ma[meth]) == _params(mb[meth]), f"{name}.{meth}"


def test_paddle_classes_bind_the_paddle_backend() -> None:
    from visualization.core import cam as core_cam
    from visualization.paddle._backend import BACKEND, PaddleBackend

    assert isinstance(BACKEND, PaddleBackend) and BACKEND.name == "paddle"
    for cls in CAMS:
        assert issubclass(cls, core_cam.BaseCAM) and cls.backend is BACKEND
    assert CNNLayerVisualizer.backend is BACKEND


def _loaded_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return set(out.stdout.split())


def test_import_hygiene() -> None:
    paddle_side = _loaded_modules("import visualization.paddle.cam_visualizer, visualization.paddle.layer_visualizer")
    assert "paddle" in paddle_side and "torch" not in paddle_side
    light = _loaded_modules("import visualization.core.cam, visualization.convert")
    assert not {"torch", "paddle"} & light
