"""Metrics in PyTorch and PaddlePaddle give the same numbers on twin models with identical weights, and the
Paddle adapter leaves the model, its flags and the input as found.

Tolerance: every score, AUC, drop, correlation and SSIM agrees within ``ATOL = 1e-5`` absolute (scores
are probabilities in [0, 1]; logits of the tiny twins are O(1)). Randomized copies get bit-identical
weights in both frameworks (drawn in numpy, in the canonical layout).
"""

from __future__ import annotations

import inspect

import numpy as np
import paddle
import pytest
import torch

from visualization.core.errors import InvalidInputError
from visualization.paddle import metrics as pd
from visualization.paddle.cam_visualizer import GradCAM as PaddleGradCAM
from visualization.pytorch import metrics as pt
from visualization.pytorch.cam_visualizer import GradCAM as TorchGradCAM

from .twins import TWINS, make_twin

ATOL = 1e-5
H = W = 8
BOX = (2, 2, 6, 6)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one torch thread avoids spin-waiting on a machine shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_close(a: np.ndarray, b: np.ndarray, atol: float = ATOL) -> None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = float(np.abs(a - b).max(initial=0.0))
    assert err <= atol, f"max abs error {err:.3g} > {atol}"


def maps_for(twin, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *twin.input_shape[1:]))


class PaddleBoxModel(paddle.nn.Layer):
    """The Paddle twin of the torch tests' BoxModel: logits = [mean of x over BOX and channels, 0]."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = self.create_parameter([1], default_initializer=paddle.nn.initializer.Constant(1.0))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x0, y0, x1, y1 = BOX
        m = self.scale * x[:, :, y0:y1, x0:x1].mean(axis=[1, 2, 3])
        return paddle.stack([m, paddle.zeros_like(m)], axis=1)


def test_deletion_curve_by_hand_in_paddle() -> None:
    box = np.zeros((H, W))
    box[2:6, 2:6] = 1.0
    res = pd.deletion_curve(PaddleBoxModel(), paddle.ones([1, 3, H, W]), box, 0, n_steps=8, output="logit")
    np.testing.assert_allclose(res.scores[0], [1, 0.5, 0, 0, 0, 0, 0, 0, 0], atol=1e-7)
    assert res.auc[0] == pytest.approx(0.125)


@pytest.mark.parametrize("output", ["probability", "logit"])
@pytest.mark.parametrize("name", TWINS)
def test_deletion_and_insertion_curves(name: str, output: str) -> None:
    twin = make_twin(name)
    xt, xp = twin.inputs(3)
    maps = maps_for(twin, 3)
    targets = [0, 1, twin.num_classes - 1]
    for fn, baseline in (("deletion_curve", "zeros"), ("deletion_curve", "mean"), ("insertion_curve", "blur")):
        kwargs = {"n_steps": 6, "baseline": baseline, "blur_sigma": 1.5, "output": output, "batch_size": 5}
        a = getattr(pt, fn)(twin.torch_model, xt, maps, targets, **kwargs)
        b = getattr(pd, fn)(twin.paddle_model, xp, maps, targets, **kwargs)
        assert_close(a.scores, b.scores)
        assert_close(a.auc, b.auc)
        np.testing.assert_array_equal(a.targets, b.targets)
        np.testing.assert_array_equal(a.fractions, b.fractions)


@pytest.mark.parametrize("name", TWINS)
def test_curves_of_each_frameworks_gradcam(name: str) -> None:
    twin = make_twin(name)
    layer = twin.cam_layers[-1]
    xt, xp = twin.inputs(2)
    a = pt.insertion_curve(twin.torch_model, xt, TorchGradCAM(twin.torch_model, layer), n_steps=5)
    b = pd.insertion_curve(twin.paddle_model, xp, PaddleGradCAM(twin.paddle_model, layer), n_steps=5)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert_close(a.scores, b.scores)


@pytest.mark.parametrize("name", TWINS)
def test_average_drop_and_batched_probabilities(name: str) -> None:
    twin = make_twin(name)
    xt, xp = twin.inputs(3)
    maps = maps_for(twin, 3, seed=1)
    a = pt.average_drop_increase(twin.torch_model, xt, maps, 1)
    b = pd.average_drop_increase(twin.paddle_model, xp, maps, 1)
    assert_close(a.drop, b.drop)
    assert_close(a.explained, b.explained)
    np.testing.assert_array_equal(a.increase, b.increase)
    images = np.random.default_rng(2).standard_normal((7, *twin.input_shape)).astype(np.float32)
    for output in ("probability", "logit"):
        pa = pt.batched_probabilities(twin.torch_model, images, 0, batch_size=3, output=output)
        pb = pd.batched_probabilities(twin.paddle_model, images, 0, batch_size=3, output=output)
        assert_close(pa, pb)
    # a tensor of the framework works as well as numpy
    from_tensor = pd.batched_probabilities(twin.paddle_model, paddle.to_tensor(images), 0, batch_size=4)
    assert_close(from_tensor, pd.batched_probabilities(twin.paddle_model, images, 0))


@pytest.mark.parametrize("name", ["catdog", "resbn"])
def test_road(name: str) -> None:
    twin = make_twin(name)
    xt, xp = twin.inputs(2)
    maps = maps_for(twin, 2, seed=3)
    kwargs = {"percentiles": (20, 60), "noise": 0.05, "seed": 4, "batch_size": 3}
    a = pt.road(twin.torch_model, xt, maps, **kwargs)
    b = pd.road(twin.paddle_model, xp, maps, **kwargs)
    assert_close(a.morf, b.morf)
    assert_close(a.lerf, b.lerf)
    np.testing.assert_array_equal(a.targets, b.targets)


def _torch_layout(paddle_model: paddle.nn.Layer) -> dict[str, np.ndarray]:
    """The Paddle state dict in torch names and layouts (Linear weights transposed, BatchNorm stats renamed)."""
    linear = {f"{n}.weight" for n, m in paddle_model.named_sublayers() if isinstance(m, paddle.nn.Linear)}
    renames = {"_mean": "running_mean", "_variance": "running_var"}
    out = {}
    for key, value in paddle_model.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        arr = value.numpy()
        out[f"{prefix}.{renames.get(leaf, leaf)}"] = arr.T if key in linear else arr
    return out


@pytest.mark.parametrize("name", TWINS)
def test_randomized_copies_are_identical(name: str) -> None:
    twin = make_twin(name)
    layers = [n for n, m in twin.torch_model.named_modules() if n and list(m.parameters(recurse=False))]
    ta = pt.randomized_copy(twin.torch_model, layers, seed=5)
    pa = pd.randomized_copy(twin.paddle_model, layers, seed=5)
    theirs = _torch_layout(pa)
    for key, value in ta.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        np.testing.assert_array_equal(value.numpy(), theirs[key], err_msg=key)
        if key.rpartition(".")[2] in ("running_mean", "running_var"):
            np.testing.assert_array_equal(value.numpy(), twin.weights[key])  # statistics are kept
        else:
            assert not np.array_equal(value.numpy(), twin.weights[key]), key
    for key, value in _torch_layout(twin.paddle_model).items():  # the Paddle model itself is untouched
        np.testing.assert_array_equal(value, twin.weights[key])


@pytest.mark.parametrize("cascading", [True, False])
@pytest.mark.parametrize("name", TWINS)
def test_parameter_randomization(name: str, cascading: bool) -> None:
    twin = make_twin(name)
    layer = twin.cam_layers[-1]
    xt, xp = twin.inputs(2)
    a = pt.model_parameter_randomization(
        twin.torch_model, TorchGradCAM(twin.torch_model, layer), xt, cascading=cascading, seed=1
    )
    b = pd.model_parameter_randomization(
        twin.paddle_model, PaddleGradCAM(twin.paddle_model, layer), xp, cascading=cascading, seed=1
    )
    assert a.layers == b.layers and len(a.layers) >= 2
    assert_close(a.original_maps, b.original_maps)
    for field in ("spearman", "spearman_abs", "ssim"):
        assert_close(getattr(a, field), getattr(b, field))


def test_data_randomization_test() -> None:
    twin, other = make_twin("resbn"), make_twin("resbn", seed=7)
    xt, xp = twin.inputs(2)
    a = pt.data_randomization_test(twin.torch_model, other.torch_model, TorchGradCAM(twin.torch_model, "block"), xt)
    b = pd.data_randomization_test(twin.paddle_model, other.paddle_model, PaddleGradCAM(twin.paddle_model, "block"), xp)
    for field in ("spearman", "spearman_abs", "ssim", "maps", "other_maps"):
        assert_close(getattr(a, field), getattr(b, field))


def test_paddle_model_input_and_flags_are_left_as_found() -> None:
    twin = make_twin("resbn")
    model = twin.paddle_model
    model.train()
    try:
        _, xp = twin.inputs(2)
        x_before = xp.numpy().copy()
        maps = maps_for(twin, 2)
        pd.deletion_curve(model, xp, maps, n_steps=3)
        pd.insertion_curve(model, xp, PaddleGradCAM(model, "block"), n_steps=3)
        pd.average_drop_increase(model, xp, maps)
        pd.road(model, xp, maps, percentiles=(50,))
        pd.model_parameter_randomization(model, PaddleGradCAM(model, "block"), xp, layers=["fc", "block.conv2"])
        assert all(m.training for m in model.sublayers(include_self=True))
        assert all(p.grad is None for p in model.parameters())
        assert all(not m._forward_post_hooks and not m._forward_pre_hooks for m in model.sublayers(include_self=True))
        np.testing.assert_array_equal(xp.numpy(), x_before)
        for key, value in _torch_layout(model).items():  # BatchNorm statistics too: eval mode during the calls
            np.testing.assert_array_equal(value, twin.weights[key])
    finally:
        model.eval()


def test_public_api_is_identical_across_frameworks() -> None:
    assert pt.__all__ == pd.__all__
    bound = {n for n in pt.__all__ if getattr(pt, n).__module__ == pt.__name__}
    assert bound == {
        "average_drop_increase",
        "batched_probabilities",
        "data_randomization_test",
        "deletion_curve",
        "insertion_curve",
        "model_parameter_randomization",
        "randomized_copy",
        "road",
    }
    for name in pt.__all__:
        a, b = getattr(pt, name), getattr(pd, name)
        if name not in bound:
            assert a is b, name  # result classes and model-free functions: the very same object
            continue
        assert inspect.signature(a) == inspect.signature(b), name
        assert "visualization.paddle.metrics" in b.__doc__ and "import torch" not in b.__doc__, name
        assert "visualization.pytorch.metrics" in a.__doc__, name


def test_paddle_errors_are_clear() -> None:
    twin = make_twin("gap")
    _, xp = twin.inputs(1)
    with pytest.raises(InvalidInputError, match="another model"):
        pd.deletion_curve(twin.paddle_model, xp, TorchGradCAM(twin.torch_model, "conv"))
    with pytest.raises(InvalidInputError, match=r"maps of shape \(1, H, W\)"):
        pd.road(twin.paddle_model, xp, np.ones((3, 10, 10)))
