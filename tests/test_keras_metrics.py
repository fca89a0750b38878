"""Metrics in PyTorch and Keras 3 give the same numbers on twin models with identical weights, and the Keras
adapter leaves the model and the input as found.

Tolerance (as ``tests/test_metrics_paddle.py``): every score, AUC, drop, correlation and SSIM agrees within
``ATOL = 1e-5`` absolute. Randomized copies get identical weights in both frameworks (drawn in numpy, in the
canonical layout). Keras inputs are the same images channels-last.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

from visualization.core.errors import InvalidInputError
from visualization.keras import metrics as km
from visualization.keras._metrics_backend import METRICS_BACKEND, copy_model
from visualization.keras.cam_visualizer import GradCAM as KerasGradCAM
from visualization.pytorch import metrics as pt
from visualization.pytorch._metrics_backend import METRICS_BACKEND as TORCH_METRICS
from visualization.pytorch.cam_visualizer import GradCAM as TorchGradCAM

from .keras_twins import make_keras_twin
from .twins import TWINS

ATOL = 1e-5
H = W = 8
BOX = (2, 2, 6, 6)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
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
    return np.random.default_rng(seed).random((n, *twin.twin.input_shape[1:]))


class BoxModel(keras.Model):
    """logits = [scale * mean of x over BOX and channels, 0]."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = self.add_weight(shape=(1,), initializer="ones", name="scale")

    def call(self, x, training=None):
        x0, y0, x1, y1 = BOX
        m = self.scale * tf.reduce_mean(x[:, y0:y1, x0:x1, :], axis=(1, 2, 3))
        return tf.stack([m, tf.zeros_like(m)], axis=1)


def test_deletion_curve_by_hand_in_keras() -> None:
    box = np.zeros((H, W))
    box[2:6, 2:6] = 1.0
    res = km.deletion_curve(BoxModel(), np.ones((1, H, W, 3), np.float32), box, 0, n_steps=8, output="logit")
    np.testing.assert_allclose(res.scores[0], [1, 0.5, 0, 0, 0, 0, 0, 0, 0], atol=1e-7)
    assert res.auc[0] == pytest.approx(0.125)


@pytest.mark.parametrize("name", TWINS)
def test_deletion_and_insertion_curves(name: str) -> None:
    twin = make_keras_twin(name)
    xt, xk = twin.inputs(3)
    maps = maps_for(twin, 3)
    targets = [0, 1, twin.twin.num_classes - 1]
    cases = (("deletion_curve", "zeros", "probability"), ("deletion_curve", "mean", "logit"))
    cases += (("insertion_curve", "blur", "probability"), ("insertion_curve", "blur", "logit"))
    for fn, baseline, output in cases:
        kwargs = {"n_steps": 6, "baseline": baseline, "blur_sigma": 1.5, "output": output, "batch_size": 5}
        a = getattr(pt, fn)(twin.torch_model, xt, maps, targets, **kwargs)
        b = getattr(km, fn)(twin.keras_model, xk, maps, targets, **kwargs)
        assert_close(a.scores, b.scores)
        assert_close(a.auc, b.auc)
        np.testing.assert_array_equal(a.targets, b.targets)
        np.testing.assert_array_equal(a.fractions, b.fractions)


@pytest.mark.parametrize("name", TWINS)
def test_curves_of_each_frameworks_gradcam(name: str) -> None:
    twin = make_keras_twin(name)
    layer = twin.twin.cam_layers[-1]
    xt, xk = twin.inputs(2)
    a = pt.insertion_curve(twin.torch_model, xt, TorchGradCAM(twin.torch_model, layer), n_steps=5)
    b = km.insertion_curve(twin.keras_model, xk, KerasGradCAM(twin.keras_model, layer), n_steps=5)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert_close(a.scores, b.scores)


@pytest.mark.parametrize("name", TWINS)
def test_average_drop_and_batched_probabilities(name: str) -> None:
    twin = make_keras_twin(name)
    xt, xk = twin.inputs(3)
    maps = maps_for(twin, 3, seed=1)
    a = pt.average_drop_increase(twin.torch_model, xt, maps, 1)
    b = km.average_drop_increase(twin.keras_model, xk, maps, 1)
    assert_close(a.drop, b.drop)
    assert_close(a.explained, b.explained)
    np.testing.assert_array_equal(a.increase, b.increase)
    images = np.random.default_rng(2).standard_normal((7, *twin.twin.input_shape)).astype(np.float32)
    channels_last = images.transpose(0, 2, 3, 1)
    for output in ("probability", "logit"):
        pa = pt.batched_probabilities(twin.torch_model, images, 0, batch_size=3, output=output)
        pb = km.batched_probabilities(twin.keras_model, channels_last, 0, batch_size=3, output=output)
        assert_close(pa, pb)
    # a tf.Tensor works as well as numpy
    from_tensor = km.batched_probabilities(twin.keras_model, tf.constant(channels_last), 0, batch_size=4)
    assert_close(from_tensor, km.batched_probabilities(twin.keras_model, channels_last, 0))


@pytest.mark.parametrize("name", ["catdog", "resbn"])
def test_road(name: str) -> None:
    twin = make_keras_twin(name)
    xt, xk = twin.inputs(2)
    maps = maps_for(twin, 2, seed=3)
    kwargs = {"percentiles": (20, 60), "noise": 0.05, "seed": 4, "batch_size": 3}
    a = pt.road(twin.torch_model, xt, maps, **kwargs)
    b = km.road(twin.keras_model, xk, maps, **kwargs)
    assert_close(a.morf, b.morf)
    assert_close(a.lerf, b.lerf)
    np.testing.assert_array_equal(a.targets, b.targets)


def _canonical(model) -> dict[str, list[np.ndarray]]:
    """Every parameter layer's own parameters in the canonical (torch) layout, by dotted name."""
    out = {}
    for name, layer in METRICS_BACKEND.base.named_layers(model):
        params = METRICS_BACKEND.own_parameters(layer)
        if params:
            out[name] = [value for _, value in params]
    return out


def _torch_canonical(model) -> dict[str, list[np.ndarray]]:
    out = {}
    for name, layer in TORCH_METRICS.base.named_layers(model):
        params = TORCH_METRICS.own_parameters(layer)
        if params:
            out[name] = [value for _, value in params]
    return out


@pytest.mark.parametrize("name", TWINS)
def test_randomized_copies_are_identical(name: str) -> None:
    """Functional (catdog), subclassed (resbn) and Sequential (gap) models: the same draws as torch."""
    twin = make_keras_twin(name)
    before = [w.numpy().copy() for w in twin.keras_model.weights]
    theirs = _torch_canonical(twin.torch_model)
    assert _canonical(twin.keras_model).keys() == theirs.keys()
    for name_, values in _canonical(twin.keras_model).items():  # the canonical layout is torch's
        for a, b in zip(theirs[name_], values):
            np.testing.assert_array_equal(a, b, err_msg=name_)
    layers = list(theirs)
    ta = pt.randomized_copy(twin.torch_model, layers, seed=5)
    ka = km.randomized_copy(twin.keras_model, layers, seed=5)
    assert ka is not twin.keras_model and isinstance(ka, type(twin.keras_model))
    drawn, torch_drawn = _canonical(ka), _torch_canonical(ta)
    for name_ in layers:
        for a, b, old in zip(torch_drawn[name_], drawn[name_], theirs[name_]):
            np.testing.assert_array_equal(a, b, err_msg=name_)
            assert not np.array_equal(b, old), name_
    for w, old in zip(twin.keras_model.weights, before):  # the Keras model itself is untouched
        np.testing.assert_array_equal(w.numpy(), old, err_msg=w.path)
    stats = [w for w in ka.weights if "moving" in w.path]  # BatchNorm statistics are kept
    originals = {w.path: w.numpy() for w in twin.keras_model.weights if "moving" in w.path}
    assert len(stats) == len(originals)
    for w, (_, value) in zip(stats, originals.items()):
        np.testing.assert_array_equal(w.numpy(), value)


@pytest.mark.parametrize("name", TWINS)
def test_parameter_randomization(name: str) -> None:
    twin = make_keras_twin(name)
    layer = twin.twin.cam_layers[-1]
    xt, xk = twin.inputs(2)
    for cascading in (True, False):
        a = pt.model_parameter_randomization(
            twin.torch_model, TorchGradCAM(twin.torch_model, layer), xt, cascading=cascading, seed=1
        )
        b = km.model_parameter_randomization(
            twin.keras_model, KerasGradCAM(twin.keras_model, layer), xk, cascading=cascading, seed=1
        )
        assert a.layers == b.layers and len(a.layers) >= 2
        assert_close(a.original_maps, b.original_maps)
        for field in ("spearman", "spearman_abs", "ssim"):
            assert_close(getattr(a, field), getattr(b, field))


def test_data_randomization_test() -> None:
    twin, other = make_keras_twin("resbn"), make_keras_twin("resbn", seed=7)
    xt, xk = twin.inputs(2)
    a = pt.data_randomization_test(twin.torch_model, other.torch_model, TorchGradCAM(twin.torch_model, "block"), xt)
    b = km.data_randomization_test(twin.keras_model, other.keras_model, KerasGradCAM(twin.keras_model, "block"), xk)
    for field in ("spearman", "spearman_abs", "ssim", "maps", "other_maps"):
        assert_close(getattr(a, field), getattr(b, field))


def test_model_and_input_are_left_as_found() -> None:
    twin = make_keras_twin("resbn")
    model = twin.keras_model
    flags = {w.path: w.trainable for w in model.weights}
    state = [w.numpy().copy() for w in model.weights]
    _, xk = twin.tf_inputs(2)
    x_before = xk.numpy().copy()
    maps = maps_for(twin, 2)
    km.deletion_curve(model, xk, maps, n_steps=3)
    km.insertion_curve(model, xk, KerasGradCAM(model, "block"), n_steps=3)
    km.average_drop_increase(model, xk, maps)
    km.road(model, xk, maps, percentiles=(50,))
    km.model_parameter_randomization(model, KerasGradCAM(model, "block"), xk, layers=["fc", "block.conv2"])
    assert {w.path: w.trainable for w in model.weights} == flags
    for w, before in zip(model.weights, state):  # BatchNorm statistics too: training=False in every call
        np.testing.assert_array_equal(w.numpy(), before, err_msg=w.path)
    np.testing.assert_array_equal(xk.numpy(), x_before)
    assert all("call" not in vars(la) for la in model._flatten_layers())


class PositionalNet(keras.Model):
    """Subclassed, built with a positional argument (Keras' recorded config misses it) and a Dropout."""

    def __init__(self, k=3) -> None:
        super().__init__()
        self.conv = keras.layers.Conv2D(4, 3)
        self.bn = keras.layers.BatchNormalization()
        self.drop = keras.layers.Dropout(0.5)
        self.head = keras.layers.Dense(k)

    def call(self, x, training=None):
        h = self.drop(self.bn(self.conv(x), training=training), training=training)
        return self.head(tf.reduce_mean(h, axis=(1, 2)))


def test_copy_model_is_exact_and_independent() -> None:
    x = np.random.default_rng(0).random((2, 6, 6, 3)).astype(np.float32)
    sequential = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(2, 3), keras.layers.Flatten()])
    sequential.add(keras.layers.Dense(3))
    sequential.compile(optimizer="adam", loss="mse")
    sequential.fit(x, np.zeros((2, 3), np.float32), verbose=0)  # optimizer state, traced functions
    sequential.predict(x, verbose=0)
    positional = PositionalNet(5)
    positional(x)
    for model in (sequential, positional):
        before = [w.numpy().copy() for w in model.weights]
        clone = copy_model(model)
        assert type(clone) is type(model)
        assert [n for n, _ in METRICS_BACKEND.base.named_layers(clone)] == [
            n for n, _ in METRICS_BACKEND.base.named_layers(model)
        ]
        np.testing.assert_array_equal(np.asarray(clone(x, training=False)), np.asarray(model(x, training=False)))
        for w in clone.weights:
            w.assign(np.full(w.shape, 0.5, np.float32))
        for w, old in zip(model.weights, before):
            np.testing.assert_array_equal(w.numpy(), old)  # the copy has its own variables
        assert not np.allclose(np.asarray(clone(x, training=False)), np.asarray(model(x, training=False)))


def test_a_model_that_cannot_be_copied_is_refused() -> None:
    import threading

    class Opaque(keras.Model):
        def __init__(self, layer_list) -> None:  # an argument Keras cannot record
            super().__init__()
            self.body = layer_list[0]
            self.lock = threading.Lock()  # and an attribute that cannot be deep-copied

        def call(self, x):
            return self.body(x)

    opaque = Opaque([keras.layers.Dense(2)])
    opaque(np.zeros((1, 4), np.float32))
    before = [w.numpy().copy() for w in opaque.weights]
    with pytest.raises(TypeError, match="Randomization tests work on a copy"):
        km.randomized_copy(opaque, [opaque.body.name])
    for w, old in zip(opaque.weights, before):
        np.testing.assert_array_equal(w.numpy(), old)


def test_public_api_is_identical_across_frameworks() -> None:
    assert pt.__all__ == km.__all__
    bound = {n for n in pt.__all__ if getattr(pt, n).__module__ == pt.__name__}
    for name in pt.__all__:
        a, b = getattr(pt, name), getattr(km, name)
        if name not in bound:
            assert a is b, name
            continue
        assert inspect.signature(a) == inspect.signature(b), name
        assert b.__module__ == km.__name__ and "import torch" not in b.__doc__, name


def test_keras_errors_are_clear() -> None:
    twin = make_keras_twin("gap")
    _, xk = twin.inputs(1)
    with pytest.raises(InvalidInputError, match="another model"):
        km.deletion_curve(twin.keras_model, xk, TorchGradCAM(twin.torch_model, "conv"))
    with pytest.raises(InvalidInputError, match=r"maps of shape \(1, H, W\)"):
        km.road(twin.keras_model, xk, np.ones((3, 10, 10)))
    with pytest.raises(InvalidInputError, match=r"\(M, H, W, C\)"):
        km.batched_probabilities(twin.keras_model, xk[0], 0)
