"""Metrics on the PyTorch side, each checked on a case with a known answer.

The faithfulness oracle is :class:`BoxModel`: its class-0 logit is the mean of the input over a box of
pixels (all channels), its class-1 logit is 0. A map that ranks exactly the box first must give the
lowest deletion AUC and the highest insertion AUC, and every curve is computable by hand.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity as skimage_ssim
from torch import nn

from visualization.core.errors import InvalidInputError, LayerNotFoundError, TargetError
from visualization.metrics import backend as metrics_backend
from visualization.metrics.faithfulness import area_under_curve, gaussian_blur, pixel_ranks, step_counts
from visualization.metrics.road import NEIGHBOURS
from visualization.pytorch import metrics as M
from visualization.pytorch.cam_visualizer import GradCAM, ScoreCAM
from visualization.pytorch.saliency import VanillaGradient

from ._torch_nets import SmallNet, seeded
from .twins import make_twin

ROOT = Path(__file__).resolve().parents[1]
H = W = 8
BOX = (2, 2, 6, 6)  # (x0, y0, x1, y1): rows 2..5, columns 2..5, 16 of the 64 pixels


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread avoids spin-waiting on a machine shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class BoxModel(nn.Module):
    """logits = [scale * mean of x over BOX and channels + offset, 0] (scale is a parameter: a model with weights)."""

    def __init__(self, scale: float = 1.0, offset: float = 0.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0, y0, x1, y1 = BOX
        m = self.scale * x[:, :, y0:y1, x0:x1].mean(dim=(1, 2, 3)) + self.offset
        return torch.stack([m, torch.zeros_like(m)], dim=1)


def box_map() -> np.ndarray:
    m = np.zeros((H, W))
    x0, y0, x1, y1 = BOX
    m[y0:y1, x0:x1] = 1.0
    return m


def ones_image(n: int = 1, value: float = 1.0) -> torch.Tensor:
    return torch.full((n, 3, H, W), value)


def trapezoid(values: list[float]) -> float:
    """Area under equally spaced values on [0, 1], written out."""
    dt = 1.0 / (len(values) - 1)
    return sum(dt * (a + b) / 2 for a, b in itertools.pairwise(values))


# ----------------------------------------------------------------------------- deletion / insertion
def test_deletion_curve_by_hand() -> None:
    """8 pixels per step: the box (16 pixels) is gone after two steps; the inverted map removes it last."""
    model = BoxModel()
    good = M.deletion_curve(model, ones_image(), box_map(), 0, n_steps=8, output="logit")
    np.testing.assert_allclose(good.fractions, np.arange(9) / 8)
    np.testing.assert_allclose(good.scores[0], [1, 0.5, 0, 0, 0, 0, 0, 0, 0], atol=1e-7)
    assert good.auc[0] == pytest.approx(trapezoid([1, 0.5, 0, 0, 0, 0, 0, 0, 0])) == pytest.approx(0.125)
    inverted = M.deletion_curve(model, ones_image(), 1 - box_map(), 0, n_steps=8, output="logit")
    np.testing.assert_allclose(inverted.scores[0], [1, 1, 1, 1, 1, 1, 1, 0.5, 0], atol=1e-7)
    assert inverted.auc[0] == pytest.approx(0.875)
    rand = np.random.default_rng(0).random((5, H, W))
    random = M.deletion_curve(model, ones_image(5), rand, 0, n_steps=8, output="logit")
    assert good.auc[0] < random.auc.min() and random.auc.max() < inverted.auc[0]
    assert good.kind == "deletion" and good.output == "logit" and good.targets.tolist() == [0]


def test_insertion_curve_by_hand_and_probability_output() -> None:
    model = BoxModel(scale=3.0)
    x = ones_image()
    good = M.insertion_curve(model, x, box_map(), 0, n_steps=8, baseline="zeros")
    logits = 3.0 * np.array([0, 0.5, 1, 1, 1, 1, 1, 1, 1])
    expected = 1 / (1 + np.exp(-logits))  # softmax([m, 0])[0]
    np.testing.assert_allclose(good.scores[0], expected, rtol=1e-6)
    assert good.auc[0] == pytest.approx(trapezoid(expected.tolist()), rel=1e-6)
    inverted = M.insertion_curve(model, x, 1 - box_map(), 0, n_steps=8, baseline="zeros")
    random = M.insertion_curve(model, x, np.random.default_rng(1).random((H, W)), 0, n_steps=8, baseline="zeros")
    assert good.auc[0] > random.auc[0] > inverted.auc[0]
    assert good.mean_auc == pytest.approx(float(good.auc[0]))


def test_blur_is_scipy_gaussian_filter_and_the_default_canvas() -> None:
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 11)).astype(np.float32)
    for sigma in (0.7, 2.0, 5.0):  # sigma 5: the kernel (31 taps) is wider than the image, mirrored repeatedly
        ref = np.stack([[gaussian_filter(c.astype(np.float64), sigma, truncate=3.0) for c in img] for img in x])
        np.testing.assert_allclose(gaussian_blur(x, sigma), ref, atol=1e-6)
    # the insertion canvas is the blurred image: step 0 scores the blurred image
    model = BoxModel()
    xt = torch.from_numpy(x[:, :, :H, :W].copy())
    res = M.insertion_curve(model, xt, np.stack([box_map()] * 2), 0, n_steps=4, blur_sigma=1.5, output="logit")
    blurred = gaussian_blur(x[:, :, :H, :W], 1.5)
    np.testing.assert_allclose(res.scores[:, 0], blurred[:, :, 2:6, 2:6].mean(axis=(1, 2, 3)), atol=1e-6)
    np.testing.assert_allclose(res.scores[:, -1], x[:, :, 2:6, 2:6].mean(axis=(1, 2, 3)), atol=1e-6)


def test_baselines_mean_number_and_array() -> None:
    model = BoxModel()
    x = torch.from_numpy(np.random.default_rng(3).random((2, 3, H, W)).astype(np.float32))
    full = M.deletion_curve(model, x, np.stack([box_map()] * 2), 0, n_steps=4, baseline="mean", output="logit")
    np.testing.assert_allclose(
        full.scores[:, 2:], np.broadcast_to(x.numpy().mean(axis=(1, 2, 3))[:, None], (2, 3)), atol=1e-6
    )
    const = M.deletion_curve(model, x, np.stack([box_map()] * 2), 0, n_steps=4, baseline=-2.0, output="logit")
    np.testing.assert_allclose(const.scores[:, -1], -2.0, atol=1e-6)
    arr = np.full((3, 1, 1), 0.25, np.float32)
    per_channel = M.deletion_curve(model, x, np.stack([box_map()] * 2), 0, n_steps=4, baseline=arr, output="logit")
    np.testing.assert_allclose(per_channel.scores[:, -1], 0.25, atol=1e-6)
    with pytest.raises(ValueError, match="baseline must be one of"):
        M.deletion_curve(model, x, np.stack([box_map()] * 2), baseline="noise")
    with pytest.raises(InvalidInputError, match="does not broadcast"):
        M.deletion_curve(model, x, np.stack([box_map()] * 2), baseline=np.zeros((2, 2)))


def test_curves_do_not_depend_on_batching_and_follow_targets() -> None:
    twin = make_twin("catdog")
    xt, _ = twin.inputs(3)
    maps = np.random.default_rng(4).random((3, 32, 32))
    a = M.deletion_curve(twin.torch_model, xt, maps, [0, 1, 0], n_steps=10, batch_size=7)
    b = M.deletion_curve(twin.torch_model, xt, maps, [0, 1, 0], n_steps=10, batch_size=64)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
    # step 0 of a deletion curve is the unmodified image: the softmax probability of each target
    probs = torch.softmax(twin.torch_model(xt), dim=1).detach().numpy()
    np.testing.assert_allclose(a.scores[:, 0], probs[np.arange(3), [0, 1, 0]], atol=1e-6)
    assert a.targets.tolist() == [0, 1, 0]
    predicted = M.deletion_curve(twin.torch_model, xt, maps, n_steps=4)
    assert predicted.targets.tolist() == probs.argmax(axis=1).tolist()


def test_explanation_forms_give_the_same_curve() -> None:
    twin = make_twin("catdog")
    model = twin.torch_model
    xt, _ = twin.inputs(2)
    cam = GradCAM(model, "conv3")
    maps = cam.generate_cam(xt, [1, 0])
    kwargs = {"n_steps": 8, "output": "logit"}
    ref = M.deletion_curve(model, xt, maps, [1, 0], **kwargs).scores
    seen = {}

    def explain(x: torch.Tensor, targets: np.ndarray) -> torch.Tensor:
        seen["targets"] = targets.tolist()
        return torch.from_numpy(cam.generate_cam(x, targets))

    for explanation in (cam, explain, torch.from_numpy(maps), maps[:, None], maps.tolist()):
        np.testing.assert_allclose(M.deletion_curve(model, xt, explanation, [1, 0], **kwargs).scores, ref, atol=1e-6)
    assert seen["targets"] == [1, 0]
    # a map at another resolution is resized bilinearly (a 2 x 2 block map covers the same pixels)
    coarse = np.zeros((1, 4, 4))
    coarse[0, 1:3, 1:3] = 1.0
    sal = M.deletion_curve(BoxModel(), ones_image(), coarse, 0, n_steps=8, output="logit")
    assert sal.scores[0, 2] == pytest.approx(0.0, abs=1e-7)
    # saliency methods are explanations too
    vg = VanillaGradient(model)
    assert M.insertion_curve(model, xt, vg, n_steps=4).scores.shape == (2, 5)


def test_curve_errors() -> None:
    model = BoxModel()
    x = ones_image()
    with pytest.raises(TargetError, match="callable target_class"):
        M.deletion_curve(model, x, box_map(), lambda out: out[:, 0])
    with pytest.raises(InvalidInputError, match=r"maps of shape \(1, H, W\)"):
        M.deletion_curve(model, x, np.ones((2, H, W)))
    with pytest.raises(InvalidInputError, match="NaN"):
        M.deletion_curve(model, x, np.full((H, W), np.nan))
    with pytest.raises(ValueError, match="n_steps"):
        M.deletion_curve(model, x, box_map(), n_steps=65)
    with pytest.raises(ValueError, match="output must be one of"):
        M.deletion_curve(model, x, box_map(), output="softmax")
    with pytest.raises(InvalidInputError, match="another model"):
        M.deletion_curve(model, x, GradCAM(make_twin("catdog").torch_model, "conv3"))
    with pytest.raises(InvalidInputError, match="callable explain"):
        M.deletion_curve(model, x, "box")
    with pytest.raises(TargetError, match="out of range"):
        M.batched_probabilities(model, x, 5)


def test_pixel_order_and_steps() -> None:
    assert pixel_ranks(np.array([[[3.0, 1.0], [3.0, 2.0]]])).tolist() == [[[0, 3], [1, 2]]]
    assert pixel_ranks(np.array([[[3.0, 1.0], [3.0, 2.0]]]), descending=False).tolist() == [[[2, 0], [3, 1]]]
    assert step_counts(64, 8).tolist() == list(range(0, 65, 8))
    assert area_under_curve(np.array([0.0, 0.25, 1.0]), np.array([[1.0, 1.0, 0.0]])).tolist() == [0.25 + 0.375]


# ----------------------------------------------------------------------------- average drop / increase
def test_average_drop_and_increase_by_hand() -> None:
    model = BoxModel(scale=1.0)
    x = ones_image(2, value=2.0)  # box mean 2: Y_0 = sigmoid(2), Y_1 = sigmoid(-2)
    keep = box_map()  # normalized: 1 on the box, 0 elsewhere: the box is intact
    half = np.where(box_map() > 0, 0.5, 0.0)
    half[0, 0] = 1.0  # normalized: 0.5 on the box
    res = M.average_drop_increase(model, x, np.stack([keep, half]), 0)
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    np.testing.assert_allclose(res.original, [sig(2), sig(2)], rtol=1e-6)
    np.testing.assert_allclose(res.explained, [sig(2), sig(1)], rtol=1e-6)
    np.testing.assert_allclose(res.drop, [0.0, (sig(2) - sig(1)) / sig(2)], atol=1e-7)
    assert res.increase.tolist() == [False, False]
    assert res.average_drop == pytest.approx(50 * (sig(2) - sig(1)) / sig(2), rel=1e-5)
    # class 1's probability rises when the box is dimmed: an increase in confidence, no drop
    up = M.average_drop_increase(model, x, np.stack([keep, half]), 1)
    assert up.increase.tolist() == [False, True] and up.increase_in_confidence == 50.0
    assert up.drop[1] == 0.0
    # a constant positive map keeps the image
    const = M.average_drop_increase(model, x, np.full((2, H, W), 0.3), 0)
    np.testing.assert_allclose(const.explained, const.original, rtol=1e-6)


# ----------------------------------------------------------------------------- ROAD
def test_imputation_reproduces_a_linear_ramp_exactly() -> None:
    rows, cols = np.mgrid[0:12, 0:10].astype(np.float64)
    ramp = np.stack([0.3 * rows - 0.7 * cols + 2.0, -1.1 * rows + 0.05 * cols, rows + cols])
    removed = np.zeros((12, 10), bool)
    removed[1:11, 1:9] = np.random.default_rng(5).random((10, 8)) < 0.7  # anywhere but the border
    removed[3:9, 2:8] = True  # and one large hole
    out = M.noisy_linear_imputation(np.where(removed, 100.0, ramp), removed, noise=0.0)
    np.testing.assert_allclose(out, ramp, atol=2e-5)  # float32 output of a float64 solve


def test_imputation_solves_the_neighbour_mean_equations() -> None:
    rng = np.random.default_rng(6)
    img = rng.standard_normal((2, 7, 9))
    removed = rng.random((7, 9)) < 0.5  # border pixels included: weights renormalized over in-image neighbours
    out = M.noisy_linear_imputation(img, removed, noise=0.0).astype(np.float64)
    np.testing.assert_array_equal(out[:, ~removed], img[:, ~removed].astype(np.float32))
    for r, c in zip(*np.nonzero(removed)):
        total, acc = 0.0, np.zeros(2)
        for dr, dc, w in NEIGHBOURS:
            if 0 <= r + dr < 7 and 0 <= c + dc < 9:
                total += w
                acc += w * out[:, r + dr, c + dc]
        np.testing.assert_allclose(out[:, r, c], acc / total, atol=1e-5)
    # the noise is one standard_normal((C, M)) block from the generator, added to the imputed values
    noisy = M.noisy_linear_imputation(img, removed, noise=0.5, rng=np.random.default_rng(9))
    draw = np.random.default_rng(9).standard_normal((2, int(removed.sum())))
    np.testing.assert_allclose(noisy[:, removed], out[:, removed] + 0.5 * draw, atol=1e-5)
    with pytest.raises(InvalidInputError, match="Every pixel"):
        M.noisy_linear_imputation(img, np.ones((7, 9), bool))


def test_road_by_hand() -> None:
    """A bright box on black: MoRF removes the box first and the imputation from black neighbours gives 0;
    LeRF removes black pixels and the box stays 1 (at 75 %, only the box is left and it fills the image)."""
    x = torch.from_numpy(np.broadcast_to(box_map(), (1, 3, H, W)).astype(np.float32).copy())
    model = BoxModel(offset=-0.5)  # the class-0 logit is the box mean - 0.5: class 0 wins while the box is bright
    res = M.road(model, x, box_map(), 0, percentiles=(25, 50, 75), noise=0.0, output="logit")
    np.testing.assert_allclose(res.morf, [[-0.5, -0.5, -0.5]], atol=1e-6)
    np.testing.assert_allclose(res.lerf, [[0.5, 0.5, 0.5]], atol=1e-6)
    assert res.gap == pytest.approx(1.0, abs=1e-6)
    assert res.morf_correct.tolist() == [[False, False, False]] and res.lerf_correct.tolist() == [[True, True, True]]
    bad = M.road(model, x, 1 - box_map(), 0, percentiles=(25, 50, 75), noise=0.0, output="logit")
    assert bad.gap < 0 < res.gap
    # the noise is seeded: the same seed, the same numbers
    a = M.road(BoxModel(), x, box_map(), 0, percentiles=(50,), noise=0.1, seed=3)
    b = M.road(BoxModel(), x, box_map(), 0, percentiles=(50,), noise=0.1, seed=3)
    np.testing.assert_array_equal(a.morf, b.morf)
    with pytest.raises(ValueError, match="percentiles"):
        M.road(BoxModel(), x, box_map(), percentiles=(50, 100))


# ----------------------------------------------------------------------------- localization
def test_pointing_game_hits_misses_and_tolerance() -> None:
    maps = np.zeros((4, 10, 10))
    maps[0, 3, 4] = 1.0  # inside box (2, 1, 5, 4): columns 2..4, rows 1..3
    maps[1, 3, 5] = 1.0  # column 5: just outside the half-open box, distance 1
    maps[2, 6, 4] = 1.0  # row 6: distance 3 below the box
    maps[3, 0, 0] = 1.0
    boxes = [(2, 1, 5, 4)] * 3 + [[(6, 6, 9, 9), (0, 0, 1, 1)]]  # image 3: two boxes, the second hit
    res = M.pointing_game(maps, boxes, tolerance=0)
    assert res.hits.tolist() == [True, False, False, True] and res.accuracy == 0.5
    assert res.points.tolist() == [[3, 4], [3, 5], [6, 4], [0, 0]]
    np.testing.assert_allclose(res.distances, [0, 1, 3, 0])
    assert M.pointing_game(maps, boxes, tolerance=1).hits.tolist() == [True, True, False, True]
    assert M.pointing_game(maps, boxes, tolerance=2.9).hits.tolist() == [True, True, False, True]
    assert M.pointing_game(maps, boxes, tolerance=3).hits.tolist() == [True, True, True, True]
    # masks instead of boxes, and one (H, W) map with its region
    masks = np.zeros((4, 10, 10), bool)
    masks[:, 1:4, 2:5] = True
    assert M.pointing_game(maps, masks).hits[:3].tolist() == [True, True, True]  # default tolerance 15
    assert M.pointing_game(maps[0], (2, 1, 5, 4), tolerance=0).hits.tolist() == [True]
    diagonal = np.zeros((10, 10))
    diagonal[6, 7] = 1.0  # nearest box pixel (3, 4): distance sqrt(18)
    assert M.pointing_game(diagonal, (2, 1, 5, 4), tolerance=4.2).hits.tolist() == [False]
    assert M.pointing_game(diagonal, (2, 1, 5, 4), tolerance=4.25).hits.tolist() == [True]
    with pytest.raises(InvalidInputError, match="one region per map"):
        M.pointing_game(maps, boxes[:3])
    with pytest.raises(InvalidInputError, match="x0 < x1"):
        M.pointing_game(maps[0], (5, 1, 2, 4))


def test_energy_pointing_game_by_hand() -> None:
    m = np.zeros((2, 6, 6))
    m[0, 1, 1], m[0, 5, 5] = 3.0, 1.0
    m[1] = 1.0
    out = M.energy_pointing_game(m, [(0, 0, 3, 3), (0, 0, 3, 3)])
    np.testing.assert_allclose(out, [0.75, 9 / 36])
    with pytest.raises(InvalidInputError, match="non-negative"):
        M.energy_pointing_game(-m, [(0, 0, 3, 3)] * 2)
    with pytest.warns(RuntimeWarning, match="all zero"):
        assert np.isnan(M.energy_pointing_game(np.zeros((6, 6)), (0, 0, 3, 3))[0])


# ----------------------------------------------------------------------------- complexity
def test_gini_and_entropy_known_values() -> None:
    n = 7 * 9
    one_hot = np.zeros((7, 9))
    one_hot[3, 4] = -2.5  # magnitudes count
    maps = np.stack([one_hot, np.full((7, 9), 0.4)])
    np.testing.assert_allclose(M.gini_index(maps), [1 - 1 / n, 0.0], atol=1e-12)
    np.testing.assert_allclose(M.entropy_complexity(maps), [0.0, math.log(n)], atol=1e-12)
    # Chalasani's form of the Gini index, written out, on random maps (and 4-D attributions)
    a = np.abs(np.random.default_rng(7).standard_normal((3, 2, 5, 5)))
    for row, g in zip(a.reshape(3, -1), M.gini_index(a)):
        s = np.sort(row)
        k = np.arange(1, s.size + 1)
        assert g == pytest.approx(1 - 2 * np.sum(s / s.sum() * (s.size - k + 0.5) / s.size))
    with pytest.warns(RuntimeWarning, match="all zero"):
        assert np.isnan(M.gini_index(np.zeros((3, 3)))[0])


# ----------------------------------------------------------------------------- sanity checks
def test_spearman_and_ssim_match_scipy_and_skimage() -> None:
    rng = np.random.default_rng(8)
    a = np.round(rng.random((3, 9, 9)), 1)  # many ties
    b = np.round(a + 0.3 * rng.standard_normal(a.shape), 1)
    ours = M.spearman_rank_correlation(a, b)
    for i in range(3):
        assert ours[i] == pytest.approx(spearmanr(a[i].ravel(), b[i].ravel()).statistic, abs=1e-12)
    norm = lambda m: (m - m.min()) / (m.max() - m.min())  # noqa: E731
    for i, s in enumerate(M.structural_similarity(a, b)):
        assert s == pytest.approx(skimage_ssim(norm(a[i]), norm(b[i]), data_range=1.0), abs=1e-12)
    const = np.zeros((1, 9, 9))
    assert M.spearman_rank_correlation(const, const).tolist() == [1.0]
    assert M.spearman_rank_correlation(const, a[:1]).tolist() == [0.0]
    assert M.structural_similarity(np.ones((5, 5)), np.ones((5, 5))).shape == (1,)  # 5 x 5: a 5 x 5 window


def edge_explainer(model: nn.Module, x: torch.Tensor, targets: np.ndarray) -> np.ndarray:
    """An 'explanation' that ignores the model: the gradient magnitude of the image (an edge detector)."""
    img = x.detach().numpy().mean(axis=1)
    gy, gx = np.gradient(img, axis=(1, 2))
    return np.hypot(gx, gy)


def test_parameter_randomization_breaks_gradcam_but_not_an_edge_detector() -> None:
    twin = make_twin("catdog")
    model = twin.torch_model
    xt, _ = twin.inputs(3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = M.model_parameter_randomization(model, GradCAM(model, "conv3"), xt, keep_maps=True)
    assert res.layers == ("fc2", "fc1", "conv3", "conv2", "conv1") and res.cascading
    assert res.spearman.shape == res.ssim.shape == (5, 3) and res.randomized_maps.shape == (5, 3, 32, 32)
    assert np.abs(res.spearman[-1]).max() < 0.5 and np.abs(res.spearman_abs[-1]).max() < 0.5
    assert np.abs(res.ssim[-1]).max() < 0.5
    np.testing.assert_allclose(res.original_maps, GradCAM(model, "conv3").generate_cam(xt, res.targets), atol=1e-6)
    edges = M.model_parameter_randomization(model, edge_explainer, xt)
    np.testing.assert_allclose(edges.spearman, 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(edges.spearman_abs, 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(edges.ssim, 1.0, rtol=0, atol=1e-12)
    for k, v in model.state_dict().items():  # the model itself was never touched
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    # independent randomization of one chosen layer; a layer without parameters is refused
    single = M.model_parameter_randomization(model, GradCAM(model, "conv3"), xt, layers=["fc2"], cascading=False)
    np.testing.assert_allclose(single.spearman[0], res.spearman[0], atol=1e-12)  # same seed, same first copy
    with pytest.raises(LayerNotFoundError, match="no parameters"):
        M.model_parameter_randomization(model, GradCAM(model, "conv3"), xt, layers=["pool"])
    with pytest.raises(InvalidInputError, match="needs an explainer"):
        M.model_parameter_randomization(model, res.original_maps, xt)


def test_randomization_rebinds_score_cam_and_saliency() -> None:
    twin = make_twin("gap")
    model = twin.torch_model
    xt, _ = twin.inputs(2)
    for explainer in (ScoreCAM(model, "relu", batch_size=3), VanillaGradient(model)):
        res = M.model_parameter_randomization(model, explainer, xt, 0)
        assert res.layers == ("fc", "conv") and res.spearman.shape == (2, 2)
        assert explainer.model is model  # the user's explainer is not re-bound in place


def test_randomized_copy_redraws_only_the_named_layers() -> None:
    model = seeded(SmallNet())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copy_a = M.randomized_copy(model, ["fc", "bn2"], seed=3)
    copy_b = M.randomized_copy(model, [model.bn2, "fc"], seed=3)
    state = copy_a.state_dict()
    for k, v in before.items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=0, atol=0)
        changed = k in ("fc.weight", "fc.bias", "bn2.weight", "bn2.bias")
        assert bool((state[k] != v).any()) == changed, k  # running statistics are kept
        torch.testing.assert_close(copy_b.state_dict()[k], state[k], rtol=0, atol=0)
    bound = 1 / math.sqrt(8)  # fc: 8 inputs
    assert float(state["fc.weight"].abs().max()) <= bound and float(state["fc.bias"].abs().max()) <= bound
    assert float(state["bn2.weight"].abs().max()) <= 1.0  # no fan-in: U(-1, 1)
    expected = metrics_backend.redraw_parameters("fc", [("weight", np.zeros((5, 8))), ("bias", np.zeros(5))], 3)
    np.testing.assert_array_equal(state["fc.weight"].numpy(), expected[0][1])
    assert model.training is False and copy_a is not model


def test_data_randomization_test() -> None:
    twin = make_twin("catdog")
    model = twin.torch_model
    xt, _ = twin.inputs(2)
    same = M.data_randomization_test(model, model, GradCAM(model, "conv3"), xt)
    np.testing.assert_allclose(same.spearman, 1.0)
    other = make_twin("catdog", seed=99).torch_model  # stands in for a model trained on random labels
    diff = M.data_randomization_test(model, other, GradCAM(model, "conv3"), xt, [0, 1])
    assert diff.targets.tolist() == [0, 1] and diff.other_maps.shape == (2, 32, 32)
    assert (diff.spearman < 0.9).all()
    with pytest.raises(InvalidInputError, match="same architecture"):
        M.data_randomization_test(model, BoxModel(), GradCAM(model, "conv3"), xt)


# ----------------------------------------------------------------------------- contract
def test_model_input_and_flags_are_left_as_found() -> None:
    model = seeded(SmallNet()).train()
    x = torch.randn(2, 3, 8, 8)
    x_before = x.clone()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    maps = np.random.default_rng(0).random((2, 8, 8))
    M.deletion_curve(model, x, maps, n_steps=4)
    M.insertion_curve(model, x, GradCAM(model, "conv2"), n_steps=4)
    M.average_drop_increase(model, x, maps)
    M.road(model, x, maps, percentiles=(50,))
    M.model_parameter_randomization(model, GradCAM(model, "conv2"), x, layers=["fc", "conv2"])
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)
    for k, v in model.state_dict().items():  # BatchNorm statistics too: eval mode during the calls
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)


def test_metrics_core_imports_no_framework() -> None:
    code = "import visualization.metrics, visualization.metrics.faithfulness, visualization.metrics.road, sys\n"
    code += "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'paddle'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def test_no_warning_on_the_happy_path() -> None:
    twin = make_twin("resbn")
    xt, _ = twin.inputs(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M.deletion_curve(twin.torch_model, xt, GradCAM(twin.torch_model, "block"), n_steps=5)
