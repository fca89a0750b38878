"""The model structure view: receptive fields with known answers, parameter counts of the twins, PyTorch and
Paddle tables identical, the model left alone, and the text / Markdown / HTML / CLI / report renderings."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch
from click.testing import CliRunner
from paddle import nn as pnn
from torch import nn as tnn

from visualization.cli import main
from visualization.core.structure import receptive_field, structure_html
from visualization.paddle.structure import model_structure as paddle_structure
from visualization.pytorch.structure import model_structure as torch_structure

from .twins import TWINS, make_twin


def _field(s, name: str, call: int = 1) -> tuple[object, object]:
    row = s.row(name, call)
    return (row.field if row.field_note == "" else row.field_note), row.jump


# ---------------------------------------------------------------- known answers, both frameworks
def _chain(fw: str, *specs: tuple[str, dict]) -> object:
    """A Sequential of ``('conv' | 'max' | 'avg' | 'adaptive' | 'up' | 'relu', kwargs)`` in ``fw``."""
    layers = []
    for kind, kw in specs:
        if fw == "torch":
            make = {
                "conv": lambda kw: tnn.Conv2d(kw.pop("c_in", 4), 4, **kw),
                "max": lambda kw: tnn.MaxPool2d(**kw),
                "avg": lambda kw: tnn.AvgPool2d(**kw),
                "adaptive": lambda kw: tnn.AdaptiveAvgPool2d(**kw),
                "up": lambda kw: tnn.Upsample(scale_factor=2),
                "relu": lambda kw: tnn.ReLU(),
            }
        else:
            make = {
                "conv": lambda kw: pnn.Conv2D(kw.pop("c_in", 4), 4, **kw),
                "max": lambda kw: pnn.MaxPool2D(**kw),
                "avg": lambda kw: pnn.AvgPool2D(**kw),
                "adaptive": lambda kw: pnn.AdaptiveAvgPool2D(**kw),
                "up": lambda kw: pnn.Upsample(scale_factor=2),
                "relu": lambda kw: pnn.ReLU(),
            }
        layers.append(make[kind](dict(kw)))
    return (tnn.Sequential if fw == "torch" else pnn.Sequential)(*layers)


def _structure(fw: str):
    return torch_structure if fw == "torch" else paddle_structure


FW = pytest.mark.parametrize("fw", ["torch", "paddle"])


@FW
def test_three_3x3_convolutions_see_7_pixels(fw):
    net = _chain(
        fw, ("conv", {"c_in": 3, "kernel_size": 3}), ("conv", {"kernel_size": 3}), ("conv", {"kernel_size": 3})
    )
    s = _structure(fw)(net, (3, 16, 16))
    assert [_field(s, n) for n in ("0", "1", "2")] == [((3, 3), (1, 1)), ((5, 5), (1, 1)), ((7, 7), (1, 1))]
    assert receptive_field([(3, 1, 1)] * 3) == (7, 1)


@FW
def test_resnet_stem_sees_11_pixels_with_jump_4(fw):
    net = _chain(
        fw,
        ("conv", {"c_in": 3, "kernel_size": 7, "stride": 2, "padding": 3}),
        ("max", {"kernel_size": 3, "stride": 2, "padding": 1}),
    )
    s = _structure(fw)(net, (3, 64, 64))
    assert _field(s, "0") == ((7, 7), (2, 2)) and _field(s, "1") == ((11, 11), (4, 4))
    assert s.row("1").output_shape == (1, 4, 16, 16) and s.row("0").geometry.label() == "7x7/2"


@FW
def test_dilation_non_square_kernels_avg_and_adaptive_pooling(fw):
    net = _chain(
        fw,
        ("conv", {"c_in": 3, "kernel_size": 3, "dilation": 2, "padding": 2}),  # 5
        ("conv", {"kernel_size": (3, 1), "padding": (1, 0)}),  # 7 x 5
        ("avg", {"kernel_size": 2}),  # stride defaults to the kernel: 8 x 6, jump 2
        ("relu", {}),  # pointwise: unchanged
        ("adaptive", {"output_size": 4}),  # 8 -> 4: a 2x2/2 window: 10 x 8, jump 4
        ("adaptive", {"output_size": 1}),  # the whole input
    )
    s = _structure(fw)(net, (3, 16, 16))
    assert _field(s, "0") == ((5, 5), (1, 1)) and s.row("0").geometry.label() == "3x3/1 d2"
    assert _field(s, "1") == ((7, 5), (1, 1)) and s.row("1").cells()[5] == "7x5"
    assert _field(s, "2") == ((8, 6), (2, 2)) and _field(s, "3") == ((8, 6), (2, 2))
    assert _field(s, "4") == ((10, 8), (4, 4))
    assert _field(s, "5") == ("global", None) and s.row("5").cells()[5:] == ["global", "-"]


@FW
def test_upsampling_makes_the_field_unknown(fw):
    net = _chain(fw, ("conv", {"c_in": 3, "kernel_size": 3}), ("up", {}), ("conv", {"kernel_size": 3}))
    s = _structure(fw)(net, (3, 8, 8))
    assert _field(s, "1") == ("unknown", None) and _field(s, "2") == ("unknown", None)
    assert s.row("2").cells()[5] == "?"


class TorchBranches(tnn.Module):
    """Two convolutions read the same tensor (a 3x3 and a 5x5), then a downsampling residual block whose
    shortcut (a 1x1/2 conv) runs last, as torchvision's ResNet runs ``downsample`` after the main path."""

    def __init__(self) -> None:
        super().__init__()
        self.a = tnn.Conv2d(3, 4, 3, padding=1)
        self.b = tnn.Conv2d(3, 4, 5, padding=2)
        self.main = tnn.Sequential(tnn.Conv2d(4, 4, 3, stride=2, padding=1), tnn.Conv2d(4, 4, 3, padding=1))
        self.down = tnn.Conv2d(4, 4, 1, stride=2)
        self.after = tnn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x) + self.b(x))
        return self.after(self.main(y) + self.down(y))


class PaddleBranches(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.a = pnn.Conv2D(3, 4, 3, padding=1)
        self.b = pnn.Conv2D(3, 4, 5, padding=2)
        self.main = pnn.Sequential(pnn.Conv2D(4, 4, 3, stride=2, padding=1), pnn.Conv2D(4, 4, 3, padding=1))
        self.down = pnn.Conv2D(4, 4, 1, stride=2)
        self.after = pnn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = paddle.nn.functional.relu(self.a(x) + self.b(x))
        return self.after(self.main(y) + self.down(y))


@FW
def test_branches_follow_the_tensors_and_a_residual_add_takes_the_larger_field(fw):
    s = _structure(fw)(TorchBranches() if fw == "torch" else PaddleBranches(), (3, 16, 16))
    assert _field(s, "a") == ((3, 3), (1, 1)) and _field(s, "b") == ((5, 5), (1, 1))  # not 3 + 4 = 7: a branch
    # y = relu(a + b): the larger field, 5; main: 5 + 2*1 = 7 (jump 2), then 7 + 2*2 = 11; shortcut: 5
    assert _field(s, "main.0") == ((7, 7), (2, 2)) and _field(s, "main.1") == ((11, 11), (2, 2))
    assert _field(s, "down") == ((5, 5), (2, 2))
    assert _field(s, "after") == ((11, 11), (2, 2))  # the sum sees what its deeper branch sees


# ---------------------------------------------------------------- twins: counts and identical tables
@pytest.mark.parametrize("name", TWINS)
def test_twin_parameter_counts_and_identical_tables(name):
    twin = make_twin(name)
    a = torch_structure(twin.torch_model, twin.input_shape)
    b = paddle_structure(twin.paddle_model, twin.input_shape)
    expected = sum(v.size for k, v in twin.weights.items() if "running" not in k)  # BatchNorm statistics are buffers
    assert a.total_params == b.total_params == a.trainable_params == b.trainable_params == expected
    assert {"catdog": 1_143_362, "resbn": 873, "gap": 164}[name] == expected
    assert len(a.rows) == len(b.rows) and a.input_shape == b.input_shape
    for ra, rb in zip(a.rows, b.rows):
        assert ra.cells()[:1] + ra.cells()[2:] == rb.cells()[:1] + rb.cells()[2:]
        if ra.is_leaf:  # the twins' own container classes are named differently
            assert ra.type_name.lower() == rb.type_name.lower()


def test_known_rows_of_the_twins():
    s = torch_structure(make_twin("catdog").torch_model, (3, 32, 32))
    assert s.repeated == ["pool"] and [r.label for r in s.rows if r.name == "pool"] == ["pool", "pool [2]", "pool [3]"]
    assert [_field(s, "pool", c) for c in (1, 2, 3)] == [((4, 4), (2, 2)), ((10, 10), (4, 4)), ((22, 22), (8, 8))]
    assert _field(s, "conv3") == ((18, 18), (4, 4)) and s.row("fc1").field_note == "not a map"
    r = torch_structure(make_twin("resbn").torch_model, (3, 15, 15))
    # conv 3 -> pool 2/2: 4, jump 2 -> block: 3x3 (8), 3x3 (12); the residual add keeps 12
    assert _field(r, "block.conv2") == ((12, 12), (2, 2)) and _field(r, "block") == ((12, 12), (2, 2))
    assert r.row("block").params == 672 and r.row("stem").params == 180 and not r.row("stem").is_leaf
    assert r.row("pool").output_shape == (1, 6, 8, 8)  # ceil_mode: 15 -> 8


@FW
def test_frozen_and_shared_parameters(fw):
    if fw == "torch":
        conv = tnn.Conv2d(3, 3, 3, padding=1)
        net = tnn.Sequential(conv, tnn.ReLU(), conv)  # one module (and its parameters) used twice
        conv.bias.requires_grad_(False)
    else:
        conv = pnn.Conv2D(3, 3, 3, padding=1)
        net = pnn.Sequential(conv, pnn.ReLU(), conv)
        conv.bias.stop_gradient = True
    s = _structure(fw)(net, (3, 8, 8))
    assert (s.total_params, s.trainable_params) == (84, 81)
    assert [r.label for r in s.rows] == ["0", "1", "0 [2]"] and _field(s, "0", 2) == ((5, 5), (1, 1))


# ---------------------------------------------------------------- the model is left alone
@FW
def test_tracing_leaves_flags_and_hooks_as_they_were(fw):
    twin = make_twin("resbn")
    if fw == "torch":
        net = type(twin.torch_model)()
        net.load_state_dict(twin.torch_model.state_dict())
        net.train()
        before = {k: v.clone() for k, v in net.state_dict().items()}
        torch_structure(net, (3, 15, 15))
        assert all(m.training for m in net.modules())
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
        assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # BatchNorm statistics too
        assert all(p.grad is None for p in net.parameters())
    else:
        net = type(twin.paddle_model)()
        net.set_state_dict(twin.paddle_model.state_dict())
        net.train()
        before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
        paddle_structure(net, (3, 15, 15))
        assert all(m.training for m in net.sublayers(include_self=True))
        assert all(not m._forward_post_hooks and not m._forward_pre_hooks for m in net.sublayers(include_self=True))
        assert all(np.array_equal(v.numpy(), before[k]) for k, v in net.state_dict().items())
        assert all(p.grad is None for p in net.parameters())


class TorchBroken(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = tnn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.conv(x)
        raise RuntimeError("boom")


def test_hooks_are_removed_when_forward_raises():
    net = TorchBroken()
    with pytest.raises(RuntimeError, match="boom"):
        torch_structure(net, (3, 8, 8))
    assert not net.conv._forward_hooks and not net.conv._forward_pre_hooks and net.training


def test_bad_inputs_get_clear_errors():
    with pytest.raises(TypeError, match=r"Expected a torch\.nn\.Module"):
        torch_structure(object(), (3, 8, 8))
    with pytest.raises(ValueError, match="must be positive"):
        torch_structure(tnn.Conv2d(3, 4, 3), (3, 0, 8))
    with pytest.raises(ValueError, match="expects 3 input channels"):
        torch_structure(tnn.Sequential(tnn.Conv2d(3, 4, 3)), (1, 8, 8))


# ---------------------------------------------------------------- renderings
def test_text_markdown_and_html():
    s = torch_structure(make_twin("catdog").torch_model, (3, 32, 32))
    text = s.to_text()
    header = "layer type output (C x H x W) params kernel/stride receptive field jump"
    assert text.splitlines()[0].split() == header.split()
    assert "fc1" in text and "fc1" not in s.to_text(spatial_only=True)
    assert text.splitlines()[-1] == "CatDogCNN (torch), input 3x32x32: 1,143,362 parameters (1,143,362 trainable)"
    md = s.to_markdown().splitlines()
    assert md[1] == "|---|---|---|---|---|---|---|" and "| conv3 | Conv2d | 128x8x8 | 73,856 | 3x3/1 | 18 | 4 |" in md
    page = structure_html(s)
    assert page.count("<tr") == len(s.rows) + 1 and '<td class="num">18</td>' in page and "<caption>" in page


def test_cli_layers_shows_receptive_fields():
    res = CliRunner().invoke(main, ["layers", "--model", "tests._cli_models:tiny_catdog", "--input-size", "32"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "receptive field" in lines[0] and "jump" in lines[0]
    assert next(line for line in lines if line.startswith("conv3")).split()[-2:] == ["18", "4"]
    assert "pool [3]" in res.output and "Ran more than once" in res.output and "fc1" not in res.output
    res = CliRunner().invoke(
        main, ["layers", "--model", "tests._cli_models:tiny_catdog", "--input-size", "32", "--all"]
    )
    assert "fc1" in res.output and "1,143,362 parameters" in res.output


def test_report_section(tmp_path):
    from visualization.frameworks import get_framework
    from visualization.report.explain import structure_section
    from visualization.report.html import HtmlReport

    twin = make_twin("resbn")
    for fw, model, x in (
        ("torch", twin.torch_model, twin.inputs(2)[0]),
        ("paddle", twin.paddle_model, twin.inputs(2)[1]),
    ):
        report = HtmlReport("r")
        structure_section(report, get_framework(fw), model, x)
        page = report.render()
        assert '<h2 id="model-structure">Model structure</h2>' in page and "<details>" in page
        assert "873 parameters" in page and "<td>block.relu [2]</td>" in page
