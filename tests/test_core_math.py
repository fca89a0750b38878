"""Golden values for the framework-free formulas: weights, resize, normalization, targets."""

from __future__ import annotations

import numpy as np
import pytest

from visualization.core import cam_math
from visualization.core.errors import LayerNotFoundError, TargetError
from visualization.core.image import normalize_maps, overlay, resize_bilinear, to_display_image
from visualization.core.layers import resolve_layer
from visualization.core.targets import resolve_indices


def test_gradcam_weights_are_spatial_means():
    g = np.array([[[[1.0, 2.0], [3.0, 6.0]], [[-1.0, -1.0], [0.0, 2.0]]]])
    np.testing.assert_allclose(cam_math.gradcam_weights(g), [[3.0, 0.0]])


def test_gradcampp_weights_golden_by_hand():
    # One channel, 2x2. sum(A) = 4.  Position by position (alpha = g^2 / (2 g^2 + 4 g^3)):
    #   g = 1   -> 1 / (2 + 4)       = 1/6,   times relu(1)  -> 1/6
    #   g = 0.5 -> .25 / (.5 + .5)   = 1/4,   times relu(.5) -> 1/8
    #   g = 0   -> denominator 0     -> alpha 0
    #   g = -1  -> 1 / (2 - 4) = -1/2, times relu(-1) = 0   -> 0
    a = np.array([[[[1.0, 1.0], [1.0, 1.0]]]])
    g = np.array([[[[1.0, 0.5], [0.0, -1.0]]]])
    np.testing.assert_allclose(cam_math.gradcampp_weights(a, g), [[1 / 6 + 1 / 8]], rtol=1e-12)


def test_weighted_sum_applies_relu_per_position():
    a = np.array([[[[1.0, 2.0]], [[3.0, 0.0]]]])  # (1, 2, 1, 2)
    w = np.array([[1.0, -1.0]])
    np.testing.assert_allclose(cam_math.weighted_sum(w, a), [[[0.0, 2.0]]])
    np.testing.assert_allclose(cam_math.weighted_sum(w, a, relu=False), [[[-2.0, 2.0]]])


def test_resize_bilinear_golden_and_identity():
    np.testing.assert_allclose(resize_bilinear(np.array([[0.0, 1.0]]), (1, 4)), [[0.0, 0.25, 0.75, 1.0]])
    x = np.random.default_rng(0).random((2, 3, 5, 7)).astype(np.float32)
    np.testing.assert_array_equal(resize_bilinear(x, (5, 7)), x)


@pytest.mark.parametrize("src,dst", [((7, 7), (224, 224)), ((3, 5), (17, 9)), ((28, 28), (14, 20)), ((1, 1), (4, 4))])
def test_resize_bilinear_matches_torch_interpolate(src, dst):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((2, 3, *src)).astype(np.float32)
    # torch in float64: its float32 path rounds the scale (28/20 is not exact) and drifts by ~3e-6
    ref = torch.nn.functional.interpolate(torch.from_numpy(x).double(), size=dst, mode="bilinear", align_corners=False)
    np.testing.assert_allclose(resize_bilinear(x, dst), ref.numpy(), atol=5e-7)


def test_normalize_maps_range_and_constant_maps():
    maps = np.stack([np.array([[1.0, 3.0], [2.0, 5.0]]), np.full((2, 2), 7.0)])
    out = normalize_maps(maps)
    np.testing.assert_allclose(out[0], [[0.0, 0.5], [0.25, 1.0]])
    np.testing.assert_array_equal(out[1], np.zeros((2, 2)))


def test_targets_resolution_and_errors():
    scores = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]])
    np.testing.assert_array_equal(resolve_indices(None, scores), [1, 0])
    np.testing.assert_array_equal(resolve_indices(2, scores), [2, 2])
    np.testing.assert_array_equal(resolve_indices([0, 2], scores), [0, 2])
    np.testing.assert_array_equal(resolve_indices(np.array([1, 1]), scores), [1, 1])
    with pytest.raises(TargetError, match=r"out of range.*0\.\.2"):
        resolve_indices(3, scores)
    with pytest.raises(TargetError, match="out of range"):
        resolve_indices(-1, scores)
    with pytest.raises(TargetError, match="3 entries but the batch has 2"):
        resolve_indices([0, 1, 2], scores)
    with pytest.raises(TargetError, match="bool"):
        resolve_indices(True, scores)
    with pytest.raises(TargetError, match="one int per sample"):
        resolve_indices([0.5, 1.0], scores)
    with pytest.raises(TargetError, match=r"shape \(N, num_classes\)"):
        resolve_indices(0, np.zeros((2, 3, 4)))


def test_resolve_layer_names_objects_and_close_matches():
    a, b = object(), object()
    layers = [("features.conv1", a), ("features.conv2", b)]
    assert resolve_layer(layers, "features.conv2") == ("features.conv2", b)
    assert resolve_layer(layers, a) == ("features.conv1", a)
    with pytest.raises(LayerNotFoundError) as info:
        resolve_layer(layers, "features.conv3")
    msg = str(info.value)
    assert "Did you mean" in msg and "'features.conv1'" in msg and "Valid names" in msg
    assert isinstance(info.value, KeyError)
    with pytest.raises(LayerNotFoundError, match="not a sub-layer"):
        resolve_layer(layers, object())


def test_display_image_and_overlay():
    chw = np.zeros((3, 4, 6), np.uint8)
    chw[0] = 255
    img = to_display_image(chw)
    assert img.shape == (4, 6, 3)
    np.testing.assert_array_equal(img[..., 0], 1.0)
    normalized = np.array([[[-2.0, 2.0]]] * 3)  # a normalized network input: rescaled to [0, 1]
    np.testing.assert_allclose(to_display_image(normalized)[0, :, 0], [0.0, 1.0])
    heat = np.zeros((4, 6), np.float32)
    out = overlay(img, heat, alpha=0.0)
    np.testing.assert_array_equal(out, img)
    with pytest.raises(ValueError, match="alpha"):
        overlay(img, heat, alpha=1.5)
