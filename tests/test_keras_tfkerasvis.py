"""Agreement with an independent implementation: tf-keras-vis 0.8.7 on the same functional model.

tf-keras-vis builds a second ``keras.Model(model.inputs, [outputs, layer.output])`` and
differentiates it; we replace the layer's ``call`` for one eager call. Same model (the catdog Keras
twin, functional), same inputs, same targets (``CategoricalScore``). How tf-keras-vis defines each
method (read from its source, ``tf_keras_vis/{gradcam,gradcam_plus_plus,scorecam}.py``):

* **Grad-CAM**: ``ReLU(sum_k mean_ij(g_k) A_k)``, as ours. Its ``expand_cam`` upsamples with
  ``scipy.ndimage.zoom(order=1)`` (linear, corner-aligned grid); ours is bilinear with half-pixel
  centres (``torch``'s ``align_corners=False``, ``tf.image.resize``). Its ``normalize`` is
  ``(x - min) / (max - min + 1e-7)`` per image, ours divides by ``max - min``. So the raw maps
  (``expand_cam=False, normalize_cam=False``) are compared at 1e-5 relative, the normalized ones at
  1e-5 after the same normalization, and the upsampled ones after upsampling our raw map with the
  same ``zoom``. Measured here: raw maps differ by 3e-7 of their scale; our heatmaps differ from
  tf-keras-vis's upsampled ones by up to 0.06 at ``relu2`` (16 -> 32 px), only through the grid.
* **Grad-CAM++**: both use the exponential trick, ``alpha = g^2 / (2 g^2 + sum(A) g^3)`` (0 where
  ``g = 0``). tf-keras-vis then **normalizes alpha per channel** (``alpha / sum_ij alpha``), which
  the paper (Eq. 19) and we do not, and keeps the ``exp(S)`` factor in its weights (a per-image
  scale). The maps differ in definition, so both are checked against a numpy transcription of each
  definition on the same captured activations and gradients (ours from ``get_gradients``, which the
  torch parity suite checks): ours matches the paper's at 1e-5 relative; tf-keras-vis's raw map
  matches its definition at 2e-3 (measured 8e-4): its ``sum alpha`` includes positions with a
  negative gradient where ``2 + sum(A) g`` comes within 6e-4 of zero, which amplifies float32
  rounding (the paper's weights drop those positions through the ReLU). The two normalized maps
  differ by more than 1e-2 (definitions, not rounding).
* **Score-CAM**: both weight channel ``k`` by the softmax probability of the target for the input
  masked by the min-max normalized, upsampled ``A_k``, and take ``ReLU(sum_k w_k A_k)``. Differences:
  the upsampling grid (as above, now inside the method), the ``+1e-7`` in the mask's denominator,
  and a constant channel (tf-keras-vis: mask 0, weight ``p(zeros)``; ours: weight 0; it multiplies a
  constant map either way). At a layer with the input's resolution (``relu1``, 32 x 32: no
  upsampling) the raw maps agree at 1e-5 relative; at ``relu2`` (16 -> 32) they differ by ~1.4 % of
  the scale, through the masks' grid only.

What tf-keras-vis cannot run: subclassed models (``KerasResBN``): it needs ``layer.output``, a
symbolic tensor that only functional and Sequential models have (``test_tfkerasvis_needs_a_graph``);
ours reads the output through the layer's call (checked against torch in ``test_keras_parity``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.ndimage import zoom

with warnings.catch_warnings():  # tf-keras-vis imports zoom from scipy's deprecated namespace
    warnings.simplefilter("ignore", DeprecationWarning)
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

from visualization.keras import cam_visualizer as k_cam
from visualization.keras import layer_visualizer as k_lv

from .keras_twins import make_keras_twin
from .test_paddle_parity import assert_abs, assert_rel

pytestmark = [
    pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning"),  # tf-keras-vis passes a list
]
TARGETS = [1, 0, 1]
RAW = {"expand_cam": False, "normalize_cam": False}


def _setup():
    tw = make_keras_twin("catdog")
    return tw.keras_model, tw.inputs(3)[1]


def _theirs(cls, layer: str, **kwargs) -> np.ndarray:
    model, x = _setup()
    out = cls(model)(CategoricalScore(TARGETS), x, penultimate_layer=layer, seek_penultimate_conv_layer=False, **kwargs)
    return np.asarray(out, np.float64)


def _minmax(a: np.ndarray, eps: float = 0.0) -> np.ndarray:
    lo = a.min(axis=(1, 2), keepdims=True)
    return (a - lo) / (a.max(axis=(1, 2), keepdims=True) - lo + eps)


@pytest.mark.parametrize("layer", ["relu2", "conv3"])
def test_gradcam_agrees(layer: str) -> None:
    model, x = _setup()
    ours = k_cam.GradCAM(model, layer).compute(x, TARGETS)
    raw = _theirs(Gradcam, layer, **RAW)
    assert raw.max() > 0 and raw.shape == ours.raw.shape
    assert_rel(raw, ours.raw, rtol=1e-5)
    # their normalization (min-max + 1e-7) of the map at layer resolution
    assert_abs(_theirs(Gradcam, layer, expand_cam=False), _minmax(ours.raw, 1e-7))
    # their upsampling grid applied to our raw map gives their heatmap
    expanded = _theirs(Gradcam, layer)
    factor = (1, x.shape[1] / ours.raw.shape[1], x.shape[2] / ours.raw.shape[2])
    assert_abs(expanded, _minmax(zoom(ours.raw.astype(np.float64), factor, order=1), 1e-7), atol=1e-4)
    # ... while our half-pixel grid differs (by up to ~0.06): the one documented difference
    assert expanded.shape == ours.heatmaps.shape and np.abs(expanded - ours.heatmaps).max() > 1e-3


def _gradcampp_paper(acts: np.ndarray, grads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chattopadhyay et al. Eq. 19 with the exponential trick, channels-first numpy (float64)."""
    s = acts.sum(axis=(2, 3), keepdims=True)
    d2, d3 = grads**2, grads**3
    denom = 2 * d2 + s * d3
    alpha = np.divide(d2, denom, out=np.zeros_like(d2), where=denom != 0)
    w = (alpha * np.maximum(grads, 0)).sum(axis=(2, 3))
    return w, np.maximum(np.einsum("nk,nkhw->nhw", w, acts), 0)


def _gradcampp_tfkerasvis(acts: np.ndarray, grads: np.ndarray, score: np.ndarray) -> np.ndarray:
    """tf-keras-vis 0.8.7's definition transcribed: alpha normalized per channel, exp(S) kept."""
    e = np.exp(score)[:, None, None, None]
    d1 = e * grads
    d2, d3 = d1 * grads, d1 * grads * grads
    alpha = d2 / (2 * d2 + d3 * acts.sum(axis=(2, 3), keepdims=True) + (d2 == 0))
    total = alpha.sum(axis=(2, 3), keepdims=True)
    alpha = alpha / (total + (total == 0))
    w = (np.maximum(d1, 0) * alpha).sum(axis=(2, 3))
    return np.maximum(np.einsum("nk,nkhw->nhw", w, acts), 0)


def test_gradcampp_each_definition_on_the_same_gradients() -> None:
    model, x = _setup()
    layer = "relu2"  # post-ReLU: the well-conditioned case (see test_keras_parity)
    captured = k_lv.CNNLayerVisualizer(model).get_gradients(x, TARGETS, layer)
    acts, grads = captured.activations.astype(np.float64), captured.gradients.astype(np.float64)
    logits = np.asarray(model(x, training=False), np.float64)
    score = logits[np.arange(3), TARGETS]
    # tf-keras-vis agrees with its own definition computed from our captured tensors. Its sum of alpha
    # includes positions with a negative gradient, where 2 + sum(A) g comes within ~6e-4 of zero: its
    # float32 result carries that amplified rounding (measured 8e-4 of the scale), hence 2e-3 here.
    assert np.abs(2 + acts.sum(axis=(2, 3), keepdims=True) * grads).min() < 1e-2
    theirs = _theirs(GradcamPlusPlus, layer, **RAW)
    assert theirs.max() > 0
    assert_rel(theirs, _gradcampp_tfkerasvis(acts, grads, score), rtol=2e-3)
    # we agree with the paper's definition on the same tensors
    ours = k_cam.GradCAMPlusPlus(model, layer).compute(x, TARGETS)
    w, raw = _gradcampp_paper(acts, grads)
    assert_rel(w, ours.weights, rtol=1e-5)
    assert_rel(raw, ours.raw, rtol=1e-5)
    # and the definitions really differ (alpha / sum alpha): the normalized maps are not the same
    diff = np.abs(_minmax(theirs) - _minmax(ours.raw)).max()
    assert diff > 1e-2, diff


def test_scorecam_agrees_without_upsampling() -> None:
    model, x = _setup()
    ours = k_cam.ScoreCAM(model, "relu1", batch_size=64).compute(x, TARGETS)
    assert ours.raw.shape == x.shape[:3]  # relu1 has the input's resolution: no upsampling on either side
    raw = _theirs(Scorecam, "relu1", batch_size=64, **RAW)
    assert raw.max() > 0
    assert_rel(raw, ours.raw, rtol=1e-5)
    assert_abs(_theirs(Scorecam, "relu1", batch_size=64), _minmax(ours.raw, 1e-7))


def test_scorecam_differs_only_through_the_upsampling_grid() -> None:
    """At relu2 (16 -> 32 px) the masks are upsampled on different grids: the maps are close, not equal."""
    model, x = _setup()
    ours = k_cam.ScoreCAM(model, "relu2", batch_size=64).compute(x, TARGETS)
    raw = _theirs(Scorecam, "relu2", batch_size=64, **RAW)
    err = np.abs(raw - ours.raw).max() / np.abs(raw).max()
    assert 1e-4 < err < 0.05, err
    corr = np.corrcoef(raw.ravel(), ours.raw.ravel())[0, 1]
    assert corr > 0.99, corr  # measured 0.9989


def test_tfkerasvis_needs_a_graph() -> None:
    """tf-keras-vis cannot explain a subclassed model's inner layer: it builds a model from
    ``layer.output``, which a layer called only inside a subclassed ``call`` does not have."""
    tw = make_keras_twin("resbn")
    _, x = tw.inputs(1)
    with pytest.raises((AttributeError, ValueError)):
        Gradcam(tw.keras_model)(CategoricalScore([0]), x, penultimate_layer="bn2", seek_penultimate_conv_layer=False)
    res = k_cam.GradCAM(tw.keras_model, "block.bn2").compute(x, 0)  # ours reads it through the call
    assert res.heatmaps.max() > 0
