"""Activation maximization with PyTorch: analytic oracles, hand-computed regularizers, the transforms
against a numpy reference, determinism, the user's model left as found, and clear errors.

Models are tiny and runs are a few steps, so the whole file runs in seconds.
"""

from __future__ import annotations

import math
import warnings

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from visualization.core import activation_max as core
from visualization.core.errors import LayerNotFoundError, LayerOutputError, ModelTypeError
from visualization.pytorch._actmax_backend import BACKEND, TorchTensorOps
from visualization.pytorch.activation_maximization import ActivationMaximization, ObjectiveError


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine torch's OpenMP
    threads waiting for each other made a 12-step run 100x slower; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


OFF = {"jitter": 0, "scales": (1.0,), "rotations": (0.0,)}  # no random transformation
ON = {"jitter": 2, "scales": (0.9, 1.1), "rotations": (-15.0, 10.0)}


def small_cnn(seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Module:
    """conv -> BN -> ReLU -> conv -> ReLU -> GAP -> linear, seeded, eval mode."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 5, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(5, 4),
    )
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.2, 0.2)
        model[1].running_var.uniform_(0.5, 2.0)
    return model.to(dtype).eval()


def _ops(dtype: torch.dtype = torch.float32) -> TorchTensorOps:
    return TorchTensorOps(torch.device("cpu"), dtype)


# ---------------------------------------------------------------------------- analytic oracles
@pytest.mark.parametrize("stats", [None, ((0.4, 0.5, 0.6), (0.2, 0.25, 0.5))])
def test_logit_gradient_of_a_linear_model_is_its_weight_pattern(stats) -> None:
    """z_k = w_k . x_in with x_in = (sigmoid(theta) - mean) / std, so
    d z_k / d theta = w_k / std * sigmoid'(theta): the weight pattern, seen through the sigmoid."""
    h, w, k = 5, 4, 1
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * h * w, 3)).eval()
    mean, std = stats if stats else (None, None)
    am = ActivationMaximization(model, (h, w), mean=mean, std=std)
    theta = np.random.default_rng(1).standard_normal((1, 3, h, w)).astype(np.float32)
    plan = core.RenderPlan.make(h, w, "pixel", am.mean, am.std)
    ops = _ops()
    weights = ops.constant(core.Objective("class", None, k).weights((1, 3)))
    g = core.step_gradients(ops, model, None, theta, plan, None, weights, 0.0, 0.0)
    assert g.penalty is None
    pattern = model[1].weight.detach().numpy()[k].reshape(3, h, w)
    s = 1.0 / (1.0 + np.exp(-theta[0].astype(np.float64)))
    divisor = np.asarray(std, np.float64).reshape(3, 1, 1) if stats else 1.0
    np.testing.assert_allclose(g.objective[0], pattern / divisor * s * (1 - s), rtol=1e-5, atol=1e-7)
    values = g.values
    x_in = (s - (np.asarray(mean).reshape(3, 1, 1) if stats else 0.0)) / divisor
    expected = float((pattern * x_in).sum() + model[1].bias.detach().numpy()[k])
    assert values[0] == pytest.approx(expected, rel=1e-5)


def test_fft_and_transforms_gradient_matches_finite_differences() -> None:
    """The whole chain (spectrum -> colour basis -> sigmoid -> normalization -> rotation/zoom/shift ->
    model -> objective + TV + L2) differentiated by autograd agrees with central differences (float64)."""
    model = small_cnn(dtype=torch.float64)
    am = ActivationMaximization(model, (6, 7), mean=0.45, std=0.3)
    plan = core.RenderPlan.make(6, 7, "fft", am.mean, am.std)
    ops = _ops(torch.float64)
    theta = (np.random.default_rng(2).standard_normal(plan.param_shape(1)) * 0.3).astype(np.float64)
    grid = core.sampling_grid(core.Transform(1, -1, 1.1, 20.0), 6, 7)
    obj = core.Objective("neuron", "3", 2, (2, 3))
    weights = ops.constant(obj.weights((1, 5, 6, 7)))

    def functions(t: np.ndarray) -> tuple[float, float]:
        """(objective, penalty) at parameters ``t``."""
        with torch.no_grad():
            x01 = core.render(ops.constant(t), plan, ops)
            x = ops.grid_sample(core.to_input(x01, plan, ops), grid)
            value = core.objective_value(ops.forward(model, model[3], x), weights).sum()
            penalty = 0.7 * core.total_variation(x01).sum() + 0.3 * core.l2_penalty(x01).sum()
            return float(value), float(penalty)

    g = core.step_gradients(ops, model, model[3], theta, plan, grid, weights, 0.7, 0.3)
    assert g.values[0] == pytest.approx(functions(theta)[0], rel=1e-6)  # returned as float32
    rng = np.random.default_rng(3)
    for _ in range(12):
        idx = tuple(int(rng.integers(s)) for s in theta.shape)
        e = np.zeros_like(theta)
        e[idx] = 1e-6
        (v1, p1), (v0, p0) = functions(theta + e), functions(theta - e)
        assert g.objective[idx] == pytest.approx((v1 - v0) / 2e-6, rel=1e-4, abs=1e-8), idx
        assert g.penalty[idx] == pytest.approx((p1 - p0) / 2e-6, rel=1e-4, abs=1e-8), idx
    # the direction Adam follows: the objective's gradient at unit RMS (ascent), plus the penalty's
    unit = g.objective / np.sqrt(np.mean(g.objective**2))
    np.testing.assert_allclose(g.direction(), g.penalty - unit, rtol=1e-6)


# ---------------------------------------------------------------------------- regularizers by hand
def test_total_variation_by_hand() -> None:
    # 1 image, 1 channel, 3x3: positions (i, j) < (2, 2) have a lower and a right neighbour
    x = np.array([[[[0.0, 1.0, 3.0], [2.0, 2.0, 0.0], [1.0, 5.0, 4.0]]]])
    # (0,0): dv = 2, dh = 1 -> 5; (0,1): dv = 1, dh = 2 -> 5; (1,0): dv = -1, dh = 0 -> 1; (1,1): dv = 3, dh = -2 -> 13
    assert core.total_variation(x).tolist() == [5 + 5 + 1 + 13]
    two = np.concatenate([x, np.zeros_like(x)], axis=1)  # a flat second channel adds nothing
    assert core.total_variation(two).tolist() == [24.0]
    batch = np.concatenate([x, 2 * x])  # one value per image; doubling the image quadruples TV
    assert core.total_variation(batch).tolist() == [24.0, 96.0]
    assert core.total_variation(np.full((1, 3, 4, 4), 0.3)).tolist() == [0.0]


def test_l2_penalty_by_hand() -> None:
    x = np.array([[[[0.0, 1.0], [0.5, 0.75]]]])
    assert core.l2_penalty(x).tolist() == [0.25 + 0.25 + 0 + 0.0625]
    assert core.l2_penalty(np.full((2, 3, 2, 2), 0.5)).tolist() == [0.0, 0.0]


def test_regularizers_and_objective_are_the_same_code_in_torch() -> None:
    x = np.random.default_rng(0).random((2, 3, 5, 6))
    xt = torch.from_numpy(x)
    np.testing.assert_allclose(core.total_variation(xt).numpy(), core.total_variation(x), rtol=1e-12)
    np.testing.assert_allclose(core.l2_penalty(xt).numpy(), core.l2_penalty(x), rtol=1e-12)
    w = core.Objective("channel", "c", 1).weights(x.shape)
    np.testing.assert_allclose(core.objective_value(xt, torch.from_numpy(w)).numpy(), x[:, 1].mean(axis=(1, 2)))


def test_objective_weights() -> None:
    shape = (1, 3, 4, 5)
    assert core.Objective("channel", "l", 1).weights(shape)[0, 1].sum() == pytest.approx(1.0)
    neuron = core.Objective("neuron", "l", 2, (3, 1)).weights(shape)
    assert neuron[0, 2, 3, 1] == 1.0 and neuron.sum() == 1.0
    logit = core.Objective("class", None, 7).weights((1, 10))
    assert logit.shape == (1, 10) and logit[0, 7] == 1.0 and logit.sum() == 1.0


# ---------------------------------------------------------------------------- parameterization and transforms
def test_render_in_torch_equals_the_numpy_reference() -> None:
    rng = np.random.default_rng(4)
    for param in ("pixel", "fft"):
        plan = core.RenderPlan.make(7, 10, param, np.array([0.4, 0.5, 0.6], np.float32), np.full(3, 0.25, np.float32))
        theta = (rng.standard_normal(plan.param_shape(2)) * 0.5).astype(np.float32)
        ops = _ops()
        a = core.to_input(core.render(ops.constant(theta), plan, ops), plan, ops).numpy()
        b = core.to_input(core.render(theta, plan, core.NumpyOps()), plan, core.NumpyOps())
        np.testing.assert_allclose(a, b, atol=2e-6)


def test_fft_image_has_a_one_over_f_spectrum() -> None:
    """White parameters give an image whose amplitude falls as 1/f (natural-image statistics)."""
    plan = core.RenderPlan.make(64, 64, "fft")
    s = core.spectrum_scale(64, 64)
    assert s[0, 1] / s[0, 2] == pytest.approx(2.0) and s[0, 4] / s[0, 8] == pytest.approx(2.0)
    full = np.concatenate([s, s[:, 1:-1][:, ::-1]], axis=1)  # the other half of the Hermitian spectrum
    assert math.sqrt(float(np.mean(full.astype(np.float64) ** 2))) == pytest.approx(1.0, rel=1e-5)
    assert plan.param_shape(2) == (2, 3, 64, 33, 2)


def test_colour_basis_is_scaled_principal_axes() -> None:
    """Columns are orthogonal (principal axes of the RGB covariance), the first (luminance) of norm 1."""
    b = core.COLOR_BASIS.astype(np.float64)
    gram = b.T @ b
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=2e-4)
    assert gram[0, 0] == pytest.approx(1.0, abs=2e-4) and gram[0, 0] > gram[1, 1] > gram[2, 2] > 0
    assert np.all(b[:, 0] > 0)  # luminance: all three colours together


def test_grid_sample_in_torch_equals_the_numpy_reference() -> None:
    x = np.random.default_rng(5).random((2, 3, 9, 12)).astype(np.float32)
    for t in [core.Transform(2, -3), core.Transform(0, 0, 0.8, 0.0), core.Transform(-1, 4, 1.3, -25.0)]:
        grid = np.repeat(core.sampling_grid(t, 9, 12), 2, axis=0)
        a = _ops().grid_sample(torch.from_numpy(x), grid).numpy()
        np.testing.assert_allclose(a, core.NumpyOps().grid_sample(x, grid), atol=1e-6)


def test_integer_jitter_is_an_exact_shift_with_reflection() -> None:
    x = np.random.default_rng(6).random((1, 1, 5, 6))
    out = core.NumpyOps().grid_sample(x, core.sampling_grid(core.Transform(dy=1, dx=2), 5, 6))
    np.testing.assert_allclose(out[0, 0, 1:, 2:], x[0, 0, :-1, :-2], atol=1e-6)  # content moved down 1, right 2
    np.testing.assert_allclose(out[0, 0, 0, 2:], x[0, 0, 0, :-2], atol=1e-6)  # the row above is mirrored in
    np.testing.assert_allclose(out[0, 0, 1:, :2], x[0, 0, :-1, 1::-1], atol=1e-6)
    assert core.sampling_grid(core.Transform(), 5, 6) is None  # identity: no resampling at all


def test_rotation_by_90_degrees_about_the_centre() -> None:
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out = core.NumpyOps().grid_sample(x, core.sampling_grid(core.Transform(angle=90.0), 4, 4))
    np.testing.assert_allclose(out[0, 0], np.rot90(x[0, 0], k=-1), atol=1e-5)  # clockwise as displayed (rows down)


def test_adam_matches_the_formula_for_two_steps() -> None:
    opt, theta = core.Adam(lr=0.1), np.zeros(1, np.float64)
    opt.step(theta, np.array([2.0]))
    opt.step(theta, np.array([-1.0]))
    m = 0.9 * (0.1 * 2.0) + 0.1 * -1.0
    v = 0.999 * (0.001 * 4.0) + 0.001 * 1.0
    second = 0.1 * (m / (1 - 0.81)) / (math.sqrt(v / (1 - 0.999**2)) + 1e-8)
    first = 0.1 * 2.0 / (2.0 + 1e-8)
    assert theta[0] == pytest.approx(-first - second, rel=1e-12)


# ---------------------------------------------------------------------------- the optimization
@pytest.mark.parametrize(
    "objective",
    [{"class_index": 2}, {"layer": "3", "channel": 1}, {"layer": "0", "channel": 4, "neuron": "center"}],
    ids=["class", "channel", "neuron"],
)
@pytest.mark.parametrize("parameterization", ["pixel", "fft"])
def test_objective_increases(objective, parameterization) -> None:
    am = ActivationMaximization(small_cnn(), 12)
    r = am.maximize(**objective, steps=12, lr=0.1, parameterization=parameterization, **OFF)
    assert r.history.shape == (12,)
    assert np.all(np.diff(r.history) > 0), r.history  # no transformation: every step is an improvement
    assert r.value > r.history[-1]
    assert r.image.shape == (12, 12, 3) and r.image.dtype == np.float32
    assert 0.0 <= r.image.min() and r.image.max() <= 1.0
    assert r.input.shape == (3, 12, 12)


def test_result_input_reproduces_the_value() -> None:
    model = small_cnn()
    am = ActivationMaximization(model, 10, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4))
    r = am.maximize(class_index=1, steps=4, **ON)
    np.testing.assert_allclose(
        r.input, (r.image.transpose(2, 0, 1) - am.mean[:, None, None]) / am.std[:, None, None], atol=1e-5
    )
    with torch.no_grad():
        assert float(model(torch.from_numpy(r.input)[None])[0, 1]) == pytest.approx(r.value, rel=1e-5)
    assert r.objective == "class 1 logit" and r.layer_name is None and r.settings.steps == 4


def test_mean_and_std_on_the_0_255_scale_are_read_as_such() -> None:
    am = ActivationMaximization(small_cnn(), 8, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0))
    np.testing.assert_allclose(am.mean, 127 / 255, rtol=1e-6)
    np.testing.assert_allclose(am.std, 128 / 255, rtol=1e-6)


def test_same_seed_identical_different_seed_different() -> None:
    am = ActivationMaximization(small_cnn(), 10)
    kw = {"layer": "3", "channel": 2, "steps": 4, **ON}
    a, b, c = am.maximize(**kw, seed=7), am.maximize(**kw, seed=7), am.maximize(**kw, seed=8)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.history, b.history)
    assert np.abs(a.image - c.image).max() > 1e-3


def test_maximize_channels_equals_maximize_per_channel() -> None:
    am = ActivationMaximization(small_cnn(), 10)
    kw = {"steps": 3, "seed": 1, **ON}
    batch = am.maximize_channels("3", [0, 3, 4], batch_size=2, **kw)
    for r, c in zip(batch, [0, 3, 4]):
        single = am.maximize("3", channel=c, **kw)
        assert r.objective == single.objective
        np.testing.assert_allclose(r.image, single.image, atol=1e-5)
        np.testing.assert_allclose(r.history, single.history, rtol=1e-5, atol=1e-6)


def test_visualize_channels_and_visualize_return_figures() -> None:
    am = ActivationMaximization(small_cnn(), 8)
    fig = am.visualize_channels("3", channels=range(5), ncols=3, steps=2, batch_size=4)
    assert isinstance(fig, matplotlib.figure.Figure)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert [t.split()[0] for t in titles] == ["#0", "#1", "#2", "#3", "#4"]
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the last one blank
    r = am.maximize(class_index=0, steps=2)
    fig = am.visualize(r, class_names=["cat", "dog", "fish", "bird"])
    assert fig.axes[0].get_title() == "class 0 logit (cat)"


def test_unit_of_a_dense_layer() -> None:
    am = ActivationMaximization(small_cnn(), 8)
    r = am.maximize("7", channel=3, steps=5, lr=0.1, **OFF)
    assert r.objective == "unit 3 of '7'" and r.history[-1] > r.history[0]


def test_layer_object_and_early_stop() -> None:
    """A layer object works like its name; the forward pass ends at the layer (later layers never run)."""
    model = small_cnn()
    calls = []
    handle = model[7].register_forward_hook(lambda *a: calls.append(1))
    try:
        a = ActivationMaximization(model, 8).maximize(model[3], channel=1, steps=2)
        b = ActivationMaximization(model, 8).maximize("3", channel=1, steps=2)
    finally:
        handle.remove()
    np.testing.assert_array_equal(a.image, b.image)
    assert calls == []


def test_inplace_relu_after_the_layer_does_not_change_the_objective() -> None:
    """The objective is the layer's own output: a following ReLU(inplace=True) never runs on it."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(inplace=True), nn.Conv2d(2, 2, 1)).eval()
    with torch.no_grad():
        model[0].bias.fill_(-5.0)  # the channel is negative everywhere: after ReLU it would be dead
    r = ActivationMaximization(model, 8).maximize("0", channel=0, steps=3, **OFF)
    assert r.history.max() < -1.0 and np.all(np.diff(r.history) > 0)


def test_dead_objective_warns() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU()).eval()
    with torch.no_grad():
        model[0].bias.fill_(-50.0)
    am = ActivationMaximization(model, 8)
    with pytest.warns(RuntimeWarning, match=r"did not change over 3 steps for: channel 1 of '1' \(mean"):
        r = am.maximize("1", channel=1, steps=3, tv_weight=1.0)  # the image moves (TV), the objective cannot
    assert np.all(r.history == 0.0)
    with pytest.warns(RuntimeWarning, match=r"for: channel 0 of '1' .*; channel 1 of '1'"):
        am.maximize_channels("1", [0, 1], steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        am.maximize("0", channel=1, steps=2)  # the pre-ReLU output is alive


def test_progress_bar() -> None:
    r = ActivationMaximization(small_cnn(), 8).maximize(class_index=0, steps=3, progress=True)
    assert r.history.shape == (3,)


# ---------------------------------------------------------------------------- the user's world
class Exploding(nn.Module):
    """conv1 -> conv2, but forward fails before conv2 runs when ``fail`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 2, 3)
        self.fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.conv1(x)))
        if self.fail:
            raise RuntimeError("boom")
        return self.conv2(h).mean(dim=(2, 3))


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_model_is_left_as_found() -> None:
    model = small_cnn().train()  # the user left it in train mode (BatchNorm would update its statistics)
    model[1].eval()  # a mixed state must come back exactly
    model[0].weight.requires_grad_(False)  # a frozen parameter
    flags = {n: m.training for n, m in model.named_modules()}
    frozen = {n: p.requires_grad for n, p in model.named_parameters()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    am = ActivationMaximization(model, 8)
    with torch.no_grad():  # the caller's grad mode does not matter and comes back
        am.maximize(class_index=1, steps=2, **ON)
        assert not torch.is_grad_enabled()
    am.maximize("3", channel=0, neuron=(1, 1), steps=2, parameterization="pixel")
    am.visualize_channels("0", channels=[0, 1], steps=1)
    assert torch.is_grad_enabled()
    assert {n: m.training for n, m in model.named_modules()} == flags
    assert {n: p.requires_grad for n, p in model.named_parameters()} == frozen
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)
    assert _no_hooks(model)


def test_hooks_removed_and_flags_restored_after_an_exception() -> None:
    model = Exploding().train()
    model.fail = True
    am = ActivationMaximization(model, 8)
    for kw in ({"layer": "conv2", "channel": 0}, {"class_index": 0}):
        with pytest.raises(RuntimeError, match="boom"):
            am.maximize(**kw, steps=2)
        assert _no_hooks(model)
        assert all(m.training for m in model.modules())
    model.fail = False
    with torch.no_grad():
        r = am.maximize("conv2", channel=1, steps=2)
    assert r.history.shape == (2,) and _no_hooks(model) and all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------------------- clear errors
@pytest.fixture(scope="module")
def am() -> ActivationMaximization:
    return ActivationMaximization(small_cnn(), 8)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"layer": "conv9", "channel": 0}, LayerNotFoundError, r"No layer named 'conv9'.*Valid names are: '0', '1'"),
        (
            {"layer": "3", "channel": 5},
            ObjectiveError,
            r"channel=5 is out of range: layer '3'.s output has 5 channels.*0\.\.4",
        ),
        ({"layer": "3", "channel": -1}, ObjectiveError, r"channel=-1 is out of range"),
        (
            {"layer": "3", "channel": 0, "neuron": (8, 0)},
            ObjectiveError,
            r"neuron=\(8, 0\) is outside .* 8x8 .*rows 0\.\.7",
        ),
        ({"layer": "3", "channel": 0, "neuron": "middle"}, ObjectiveError, r"'center' or a \(row, col\)"),
        ({"layer": "3", "channel": 0, "neuron": (1.5, 2)}, ObjectiveError, r"pair of ints"),
        (
            {"class_index": 4},
            ObjectiveError,
            r"class_index=4 is out of range: the model's output has 4 classes.*0\.\.3",
        ),
        ({"class_index": 1.0}, ObjectiveError, r"class_index must be an int"),
        ({"class_index": 1, "layer": "3"}, ObjectiveError, r"layer, channel and neuron must be\s+left out"),
        ({"layer": "3"}, ObjectiveError, r"needs channel=c"),
        ({"channel": 2}, ObjectiveError, r"need the layer they belong to"),
        ({}, ObjectiveError, r"Nothing to maximize"),
        ({"layer": "7", "channel": 0, "neuron": "center"}, LayerOutputError, r"need a 4-D .* shape \(1, 4\)"),
        ({"layer": "6", "channel": 9}, ObjectiveError, r"out of range"),
        ({"class_index": 0, "steps": 0}, ValueError, r"steps must be an int >= 1; got 0"),
        ({"class_index": 0, "parameterization": "wavelet"}, ValueError, r"'pixel' or 'fft'; got 'wavelet'"),
        ({"class_index": 0, "scales": (0.0, 1.0)}, ValueError, r"scales must be a non-empty sequence of positive"),
        ({"class_index": 0, "rotations": ()}, ValueError, r"rotations must be a non-empty"),
        ({"class_index": 0, "lr": -1}, ValueError, r"lr must be positive"),
        ({"class_index": 0, "tv_weight": float("nan")}, ValueError, r"tv_weight must be a finite number"),
        ({"class_index": 0, "jitter": 1.5}, ValueError, r"jitter must be an int >= 0"),
    ],
)
def test_clear_errors(am, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        am.maximize(**{"steps": 1, **kwargs})


def test_constructor_errors() -> None:
    with pytest.raises(ModelTypeError, match=r"Expected a torch\.nn\.Module"):
        ActivationMaximization({"not": "a model"}, 8)
    with pytest.raises(ValueError, match=r"image_size must be an int or an \(H, W\) pair"):
        ActivationMaximization(small_cnn(), (8, 8, 3))
    with pytest.raises(ValueError, match=r"std must be positive"):
        ActivationMaximization(small_cnn(), 8, mean=0.5, std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match=r"mean must be one number or 3"):
        ActivationMaximization(small_cnn(), 8, mean=(0.5, 0.5))


def test_module_level_names() -> None:
    assert BACKEND.name == "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import visualization.pytorch.activation_maximization as mod
    assert set(mod.__all__) == {"ActivationMaximization", "MaximizationResult", "MaximizeSettings", "ObjectiveError"}
    assert "Example" in (mod.ActivationMaximization.__doc__ or "")
