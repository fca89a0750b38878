"""Bad and unusual input on the Keras side: clear errors for what cannot work, any memory layout for what can.

The Keras rows of ``test_paddle_contract``'s mistakes table and of ``test_tensor_layouts``: Keras
takes channels-last ``(N, H, W, C)`` / ``(H, W, C)`` numpy arrays or ``tf.Tensor``; a channels-first
array, an integer or NaN image, a torch tensor or a model of another framework gets an error that
says what was expected, what came and what to do, of the same class as the torch side raises for the
same mistake. Transposed, Fortran-ordered, strided, reversed and read-only arrays give exactly what a
plain contiguous copy gives, and stay as they were.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

from visualization.core.errors import (
    InvalidInputError,
    LayerNotFoundError,
    LayerOutputError,
    ModelTypeError,
    TargetError,
)
from visualization.keras import cam_visualizer as k_cam
from visualization.keras import layer_visualizer as k_lv
from visualization.keras import models as k_models
from visualization.pytorch import cam_visualizer as pt_cam
from visualization.pytorch import layer_visualizer as pt_lv
from visualization.pytorch import models as pt_models

L = keras.layers
SIZE = 16
RNG = np.random.default_rng(11)
NCHW = RNG.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
BIG = RNG.standard_normal((2, 2 * SIZE, 2 * SIZE, 3)).astype(np.float32)


def _x(n: int = 2) -> np.ndarray:
    """Channels-first, as the torch side takes it; the Keras side gets the transpose."""
    return np.random.default_rng(0).random((n, 3, SIZE, SIZE)).astype(np.float32)


def _with_inf() -> np.ndarray:
    a = _x(1)
    a[0, 1, 3, 4] = np.inf
    return a


def _catdog(framework: str):
    if framework == "torch":
        torch.manual_seed(0)
        return pt_models.CatDogCNN(image_size=SIZE).eval()
    keras.utils.set_random_seed(0)
    return k_models.CatDogCNN(image_size=SIZE)


FRAMEWORKS = {
    # (cam module, layer module, input maker from a channels-first array)
    "torch": (pt_cam, pt_lv, torch.from_numpy),
    "keras": (k_cam, k_lv, lambda a: np.ascontiguousarray(np.moveaxis(a, -3, -1)) if a.ndim >= 3 else a),
}
# the same mistake in both frameworks: (expected class, mistake(cam, lv, model, t)); catdog's fc1 and
# fc2 and the convolutions carry the same names on both sides
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
    "target out of range": (TargetError, lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(_x()), 5)),
    "negative target": (TargetError, lambda cam, lv, m, t: cam.ScoreCAM(m, "conv3").generate_cam(t(_x()), [0, -1])),
    "wrong length": (
        TargetError,
        lambda cam, lv, m, t: cam.GradCAMPlusPlus(m, "conv3").generate_cam(t(_x()), [0, 1, 1]),
    ),
    "bool target": (TargetError, lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(_x()), True)),
    "callable in Score-CAM": (
        TargetError,
        lambda cam, lv, m, t: cam.ScoreCAM(m, "conv3").generate_cam(t(_x()), lambda out: out[:, 0]),
    ),
    "rank 2": (InvalidInputError, lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(_x()[0, 0]))),
    "rank 5": (InvalidInputError, lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(_x()[None]))),
    "4 channels": (
        InvalidInputError,
        lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(np.zeros((1, 4, SIZE, SIZE), np.float32))),
    ),
    "1 channel": (
        InvalidInputError,
        lambda cam, lv, m, t: lv.CNNLayerVisualizer(m).get_feature_maps(t(_x()[:, :1]), "conv1"),
    ),
    "NaN": (
        InvalidInputError,
        lambda cam, lv, m, t: cam.ScoreCAM(m, "conv3").generate_cam(t(np.full((1, 3, SIZE, SIZE), np.nan, np.float32))),
    ),
    "inf": (
        InvalidInputError,
        lambda cam, lv, m, t: lv.CNNLayerVisualizer(m).get_gradients(t(_with_inf()), 0, "conv1"),
    ),
    "integer input": (
        InvalidInputError,
        lambda cam, lv, m, t: cam.GradCAM(m, "conv3").generate_cam(t(np.zeros((1, 3, SIZE, SIZE), np.uint8))),
    ),
    "bad batch size": (ValueError, lambda cam, lv, m, t: cam.ScoreCAM(m, "conv3", batch_size=0)),
    "bad sample": (
        IndexError,
        lambda cam, lv, m, t: lv.CNNLayerVisualizer(m).visualize_feature_maps(t(_x()), "conv1", sample=3),
    ),
}

# Input messages name the layout each framework takes; layer messages the framework's layer names.
SAME_MESSAGE = {
    "target out of range",
    "negative target",
    "wrong length",
    "bool target",
    "callable in Score-CAM",
    "bad batch size",
    "bad sample",
}


def _raise_in(framework: str, mistake) -> BaseException:
    cam, lv, tensor = FRAMEWORKS[framework]
    with pytest.raises(Exception) as info:
        mistake(cam, lv, _catdog(framework), tensor)
    return info.value


@pytest.mark.parametrize("case", list(MISTAKES))
def test_bad_input_gets_the_same_error_class_as_torch(case: str) -> None:
    expected_type, mistake = MISTAKES[case]
    err_torch, err_keras = _raise_in("torch", mistake), _raise_in("keras", mistake)
    assert type(err_keras) is type(err_torch)
    assert isinstance(err_keras, expected_type)
    if case in SAME_MESSAGE:  # nothing framework-specific to say: word for word the torch message
        assert str(err_keras) == str(err_torch)


def test_error_messages_say_what_to_do() -> None:
    msg = str(_raise_in("keras", MISTAKES["unknown layer"][1]))
    assert "'conv4'" in msg and "Did you mean" in msg and "'conv1'" in msg and "'fc2'" in msg
    msg = str(_raise_in("keras", MISTAKES["no spatial output"][1]))
    assert "'fc1' must output a 4-D (N, h, w, C) tensor" in msg and "shape (1, 512)" in msg
    assert "out of range" in str(_raise_in("keras", MISTAKES["target out of range"][1]))
    msg = str(_raise_in("keras", MISTAKES["4 channels"][1]))
    assert "expects 3 input channels" in msg and "(N, H, W, C)" in msg
    msg = str(_raise_in("keras", MISTAKES["integer input"][1]))
    assert "floating-point" in msg and "astype('float32')" in msg
    assert "NaN or infinite" in str(_raise_in("keras", MISTAKES["NaN"][1]))
    assert "NaN or infinite" in str(_raise_in("keras", MISTAKES["inf"][1]))
    msg = str(_raise_in("keras", MISTAKES["rank 5"][1]))
    assert "(N, H, W, C) or (H, W, C)" in msg and "(1, 2, 16, 16, 3)" in msg


@pytest.mark.parametrize("as_tensor", [False, True])
def test_channels_first_input_says_keras_wants_channels_last(as_tensor: bool) -> None:
    model = _catdog("keras")
    x = _x(2)  # (N, C, H, W) as a torch user holds it
    x = tf.constant(x) if as_tensor else x
    for call in (
        lambda: k_cam.GradCAM(model, "conv3").generate_cam(x, 0),
        lambda: k_lv.CNNLayerVisualizer(model).get_feature_maps(x, "conv1"),
    ):
        with pytest.raises(InvalidInputError) as info:
            call()
        msg = str(info.value)
        assert "(2, 3, 16, 16)" in msg and "channels-last (N, H, W, C)" in msg
        assert "np.transpose(x, (0, 2, 3, 1))" in msg


def test_channels_first_input_to_a_model_without_a_known_convolution() -> None:
    """A model whose first convolution is not built yet still has a declared input shape to check against."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.SeparableConv2D(4, 3, name="conv")(inputs)  # not a Conv2D: its input channels are not read
    model = keras.Model(inputs, L.Dense(2)(L.GlobalAveragePooling2D()(x)))
    with pytest.raises(
        InvalidInputError,
        match=r"expects inputs of shape \(N, 16, 16, 3\).*got shape \(1, 3, 16, 16\)\. It looks channels-first",
    ):
        k_cam.GradCAM(model, "conv").generate_cam(_x(1), 0)
    with pytest.raises(
        InvalidInputError, match=r"expects inputs of shape \(N, 16, 16, 3\).*got shape \(8, 8, 3\)\. Resize"
    ):
        k_lv.CNNLayerVisualizer(model).get_feature_maps(np.zeros((8, 8, 3), np.float32), "conv")


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.rand(1, SIZE, SIZE, 3), r"numpy array or tf\.Tensor .*got torch\.Tensor"),
        ([[[0.0] * 3] * SIZE] * SIZE, r"numpy array or tf\.Tensor .*got builtins\.list.*np\.asarray"),
        ("cat.png", r"numpy array or tf\.Tensor .*got builtins\.str"),
    ],
    ids=["torch tensor", "list", "path"],
)
def test_other_objects_are_refused_with_a_conversion_hint(x, match: str) -> None:
    model = _catdog("keras")
    with pytest.raises(InvalidInputError, match=match):
        k_cam.GradCAM(model, "conv3").generate_cam(x)
    with pytest.raises(ValueError, match=match):  # InvalidInputError is a ValueError
        k_lv.CNNLayerVisualizer(model).get_gradients(x, 0, "conv1")


def test_not_a_keras_model() -> None:
    with pytest.raises(ModelTypeError, match=r"Expected a keras\.Model .*got builtins\.dict"):
        k_cam.GradCAM({"conv": 1}, "conv")
    with pytest.raises(ModelTypeError, match=r"got visualization\.pytorch\.models\.CatDogCNN"):
        k_cam.ScoreCAM(pt_models.CatDogCNN(image_size=SIZE), "conv3")  # a torch model given to the Keras side
    with pytest.raises(ModelTypeError, match=r"keras\.Model"):
        k_lv.CNNLayerVisualizer(lambda x: x)
    with pytest.raises(ModelTypeError, match=r"Expected a torch\.nn\.Module"):
        pt_cam.GradCAM(_catdog("keras"), "conv3")  # and the other way round


def test_layer_object_of_another_model_is_refused() -> None:
    with pytest.raises(LayerNotFoundError, match="not a sub-layer"):
        k_cam.GradCAM(_catdog("keras"), L.Conv2D(3, 1))


# ------------------------------------------------------------------ memory layouts
LAYOUTS = {
    "transposed_nchw": lambda: NCHW.transpose(0, 2, 3, 1),  # np.transpose of a torch-style batch: a strided view
    "fortran_order": lambda: np.asfortranarray(NCHW.transpose(0, 2, 3, 1)),
    "strided_slice": lambda: BIG[:, ::2, ::2, :],
    "reversed_width": lambda: np.ascontiguousarray(NCHW.transpose(0, 2, 3, 1))[:, :, ::-1],
    "read_only": lambda: _read_only(NCHW.transpose(0, 2, 3, 1)),
    "one_hwc_image_view": lambda: NCHW[0].transpose(1, 2, 0),
    "tensor_of_a_view": lambda: tf.constant(NCHW.transpose(0, 2, 3, 1)),
    "float64": lambda: NCHW.transpose(0, 2, 3, 1).astype(np.float64),
}


def _read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


def _entries() -> dict:
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            L.Conv2D(6, 3, padding="same", name="conv1"),
            L.ReLU(name="relu1"),
            L.MaxPooling2D(2, name="pool"),
            L.Conv2D(8, 3, padding="same", name="conv2"),
            L.ReLU(name="relu2"),
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(3, name="fc"),
        ],
        name="small",
    )
    keras.utils.set_random_seed(3)
    model.set_weights(
        [
            np.random.default_rng(i).standard_normal(w.shape).astype(np.float32) * 0.3
            for i, w in enumerate(model.get_weights())
        ]
    )

    def cam_entry(cls):
        return lambda x: cls(model, "relu2").compute(x, 1).heatmaps

    out = {
        name: cam_entry(getattr(k_cam, name))
        for name in k_cam.__all__
        if name not in ("CAMResult", "compare_cam_methods")
    }
    out["feature_maps"] = lambda x: k_lv.CNNLayerVisualizer(model).get_feature_maps(x, "conv1")
    out["gradients"] = lambda x: k_lv.CNNLayerVisualizer(model).get_gradients(x, 2, "conv2").gradients
    return out


ENTRIES = _entries()


def test_the_layouts_are_what_they_claim() -> None:
    assert not LAYOUTS["transposed_nchw"]().flags.c_contiguous
    assert LAYOUTS["fortran_order"]().flags.f_contiguous and not LAYOUTS["fortran_order"]().flags.c_contiguous
    assert not LAYOUTS["strided_slice"]().flags.c_contiguous
    assert LAYOUTS["reversed_width"]().strides[2] < 0
    assert not LAYOUTS["read_only"]().flags.writeable


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_every_entry_point_accepts_every_layout(entry: str) -> None:
    call = ENTRIES[entry]
    for layout, make in LAYOUTS.items():
        x = make()
        values = np.array(x, copy=True)
        strides, writeable = (x.strides, x.flags.writeable) if isinstance(x, np.ndarray) else (None, None)
        got = np.asarray(call(x))
        expected = np.asarray(call(np.ascontiguousarray(values, dtype=np.float32)))
        if layout == "float64":  # the model's dtype: the float64 values are rounded to float32 once
            np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=f"{entry} on {layout}")
        else:
            np.testing.assert_array_equal(got, expected, err_msg=f"{entry} on {layout}")
        assert np.isfinite(got).all() and np.abs(got).max() > 0
        np.testing.assert_array_equal(np.asarray(x), values)  # the caller's array is left as found
        if isinstance(x, np.ndarray):
            assert x.strides == strides and x.flags.writeable == writeable, layout
