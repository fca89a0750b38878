"""Training-time visualization: the cat-vs-dog examples with ``--tensorboard DIR`` in both frameworks (event
files read back with TensorBoard's own reader), and ``VisualizationLogger`` in-process: the model left as it
was in the middle of training, dead-ReLU shares with known answers, torch and Paddle writing the same
images, VisualDL for Paddle, one clear error per mistake."""

from __future__ import annotations

import inspect
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import visualization.paddle.tensorboard as pd_tb
import visualization.pytorch.tensorboard as pt_tb
from visualization.core.errors import LayerNotFoundError, LayerOutputError
from visualization.core.training_log import tag_name

from .test_examples import PETS, REPO, SCRIPTS
from .twins import PaddleResBN, TorchResBN, load_paddle, load_torch, make_twin, numpy_weights

LOGGERS = {"torch": pt_tb.VisualizationLogger, "paddle": pd_tb.VisualizationLogger}
EPOCHS = 2


def events(log_dir: Path) -> EventAccumulator:
    """Every event of a run folder (size_guidance 0: keep all, not TensorBoard's sample of a few)."""
    acc = EventAccumulator(
        str(log_dir),
        size_guidance={"images": 0, "scalars": 0, "histograms": 0, "tensors": 0, "compressedHistograms": 0},
    )
    acc.Reload()
    return acc


def image_at(acc: EventAccumulator, tag: str, step: int) -> np.ndarray:
    (ev,) = [e for e in acc.Images(tag) if e.step == step]
    return np.asarray(Image.open(io.BytesIO(ev.encoded_image_string)).convert("RGB"))


# ---------------------------------------------------------------- the examples, as a user runs them
@pytest.fixture(scope="module")
def example_runs(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Both scripts at once (one thread each), CatDogCNN from scratch on 10 images per class at 32x32."""
    if not (PETS / "cats").is_dir():
        pytest.fail(f"the in-repository pet photos are missing: expected {PETS}/cats and {PETS}/dogs")
    tmp = tmp_path_factory.mktemp("tb_examples")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    args = ["--data-dir", str(PETS), "--model", "catdogcnn", "--image-size", "32", "--limit", "10"]
    args += ["--epochs", str(EPOCHS), "--batch-size", "8"]
    procs = {}
    for fw, script in SCRIPTS.items():
        out, board = tmp / fw, tmp / f"tb_{fw}"
        cmd = [sys.executable, script, *args, "--out", str(out), "--tensorboard", str(board)]
        log = (tmp / f"{fw}.log").open("w")
        procs[fw] = (subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), log, out, board)
    runs = {}
    for fw, (proc, log, out, board) in procs.items():
        code = proc.wait(timeout=600)
        log.close()
        text = (tmp / f"{fw}.log").read_text()
        assert code == 0, f"{SCRIPTS[fw]} exited with {code}\n{text[-3000:]}"
        assert f"tensorboard --logdir {board}" in text
        runs[fw] = (out, board)
    return runs


@pytest.mark.parametrize("fw", ["torch", "paddle"])
def test_examples_log_every_tag_at_every_step(example_runs, fw):
    out, board = example_runs[fw]
    run = json.loads((out / "run.json").read_text())
    probes = [tag_name(n) for n in run["probe_images"]]
    acc = events(board)
    tags = acc.Tags()
    every = list(range(EPOCHS + 1))  # step 0 is before training
    images = [f"filters/{c}" for c in ("conv1", "conv2", "conv3")]
    images += [f"feature_maps/{c}/{p}" for c in ("conv1", "conv2", "conv3") for p in probes]
    images += [f"gradcam/{p}" for p in probes]
    assert sorted(tags["images"]) == sorted(images)
    for tag in images:
        assert [e.step for e in acc.Images(tag)] == every, tag
    histograms = [
        f"weights/{layer}.{p}" for layer in ("conv1", "conv2", "conv3", "fc1", "fc2") for p in ("weight", "bias")
    ]
    histograms += [f"activations/{layer}" for layer in ("conv1", "conv2", "conv3", "fc1")]
    assert sorted(tags["histograms"]) == sorted(histograms)
    for tag in histograms:
        assert [e.step for e in acc.Histograms(tag)] == every, tag
    dead = [f"dead_relu/{layer}" for layer in ("conv1", "conv2", "conv3", "fc1")]
    training = ["loss/train", "accuracy/train", "accuracy/val"]
    assert sorted(tags["scalars"]) == sorted(dead + training)
    for tag in dead:
        values = acc.Scalars(tag)
        assert [e.step for e in values] == every and all(0.0 <= e.value <= 1.0 for e in values), tag
    for tag in training:
        assert [e.step for e in acc.Scalars(tag)] == every[1:], tag
    np.testing.assert_allclose(
        [e.value for e in acc.Scalars("loss/train")], [h["loss"] for h in run["history"]], rtol=1e-6
    )
    assert tags["tensors"] == ["structure/text_summary"]
    (text,) = acc.Tensors("structure/text_summary")
    table = text.tensor_proto.string_val[0].decode()
    assert text.step == 0 and "| conv3 |" in table and "receptive field" in table and "128x4x4" in table
    assert tags["graph"] is (fw == "torch")  # tensorboardX traces torch models only
    with Image.open(io.BytesIO(acc.Images(f"gradcam/{probes[0]}")[0].encoded_image_string)) as img:
        assert min(img.size) >= 224  # upscaled so the caption fits


def test_examples_log_the_same_numbers_in_both_frameworks(example_runs):
    """Same seeded weights and probe images: the images at step 0 and the dead-ReLU shares agree."""
    acc = {fw: events(board) for fw, (_, board) in example_runs.items()}
    for tag in ("filters/conv1", "filters/conv2"):
        a, b = (image_at(acc[fw], tag, 0).astype(int) for fw in ("torch", "paddle"))
        assert a.shape == b.shape and np.abs(a - b).max() <= 1, tag
    for layer in ("conv1", "conv2", "conv3", "fc1"):
        a, b = (acc[fw].Scalars(f"dead_relu/{layer}")[0].value for fw in ("torch", "paddle"))
        assert a == pytest.approx(b, abs=1e-3), layer


# ---------------------------------------------------------------- the logger in-process
def _resbn(fw: str):
    """A fresh ResBN twin (BatchNorm, a shared in-place ReLU, a residual add) in train mode."""
    weights = numpy_weights(TorchResBN())
    if fw == "torch":
        model = TorchResBN()
        load_torch(model, weights)
    else:
        model = PaddleResBN()
        load_paddle(model, weights)
    return model.train()


def _snapshot(fw: str, model) -> dict[str, object]:
    if fw == "torch":
        return {
            "state": {k: v.clone() for k, v in model.state_dict().items()},
            "grads": {n: p.grad.clone() for n, p in model.named_parameters()},
            "flags": [m.training for m in model.modules()],
            "rng": torch.get_rng_state(),
        }
    return {
        "state": {k: v.numpy().copy() for k, v in model.state_dict().items()},
        "grads": {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None},
        "flags": [m.training for m in model.sublayers(include_self=True)],
    }


def _hooks(fw: str, model) -> int:
    if fw == "torch":
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    return sum(len(m._forward_post_hooks) + len(m._forward_pre_hooks) for m in model.sublayers(include_self=True))


@pytest.mark.filterwarnings("ignore:When training, we now always track:UserWarning")  # Paddle's BatchNorm in train mode
@pytest.mark.parametrize("fw", ["torch", "paddle"])
def test_logging_mid_training_leaves_the_model_as_it_was(fw, tmp_path):
    model = _resbn(fw)
    x = np.random.default_rng(0).standard_normal((4, 3, 15, 15)).astype(np.float32)
    if fw == "torch":
        xt = torch.from_numpy(x)
        torch.nn.functional.cross_entropy(model(xt), torch.tensor([0, 1, 2, 0])).backward()
    else:
        xt = paddle.to_tensor(x)
        paddle.nn.functional.cross_entropy(model(xt), paddle.to_tensor([0, 1, 2, 0])).backward()
    model.block.bn1.training = False  # a mixed state must come back mixed
    before = _snapshot(fw, model)
    with LOGGERS[fw](model, tmp_path / "run", xt[:2], feature_layers=["stem", "block"]) as board:
        tags = board.log_epoch(3, scalars={"loss": 1.5})
        assert board.log_graph() is (fw == "torch")
    after = _snapshot(fw, model)
    assert after["flags"] == before["flags"] and _hooks(fw, model) == 0
    assert sorted(after["grads"]) == sorted(before["grads"]) and len(before["grads"]) == 12  # every weight and bias
    for key in ("state", "grads"):
        for name, value in before[key].items():
            np.testing.assert_array_equal(np.asarray(after[key][name]), np.asarray(value), err_msg=f"{key} {name}")
    if fw == "torch":
        assert torch.equal(after["rng"], before["rng"])
    # the shared in-place ReLU runs twice per forward pass; BatchNorm statistics are not weights
    assert {"dead_relu/stem.2", "dead_relu/block.relu", "gradcam/probe_1", "structure"} <= set(tags)
    assert not any("running" in t or "_mean" in t or "_variance" in t for t in tags)


@pytest.mark.parametrize("fw", ["torch", "paddle"])
def test_dead_relu_share_has_the_known_value(fw, tmp_path):
    """1x1 conv with zero weights and biases (-1, 0, 1, 2): channel 0 is dead after the ReLU, channel 1 is
    exactly 0 (dead too), channels 2 and 3 live -> 0.5, for the ReLU layer and for the conv before it."""
    if fw == "torch":
        conv = torch.nn.Conv2d(3, 4, 1)
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias.copy_(torch.tensor([-1.0, 0.0, 1.0, 2.0]))
        model = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        x = torch.rand(3, 3, 6, 6)
    else:
        conv = paddle.nn.Conv2D(3, 4, 1)
        conv.weight.set_value(np.zeros((4, 3, 1, 1), np.float32))
        conv.bias.set_value(np.array([-1.0, 0.0, 1.0, 2.0], np.float32))
        model = paddle.nn.Sequential(conv, paddle.nn.ReLU(), paddle.nn.AdaptiveAvgPool2D(1), paddle.nn.Flatten())
        x = paddle.rand([3, 3, 6, 6])
    with LOGGERS[fw](model, tmp_path / "a", x) as board:
        assert board.relu_layers == ["1"] and board.dead_relu_fractions() == {"1": 0.5}
    with LOGGERS[fw](model, tmp_path / "b", x, relu_layers=["0"]) as board:
        assert board.dead_relu_fractions() == {"0": 0.5}


def test_torch_and_paddle_write_the_same_images(tmp_path):
    twin = make_twin("catdog")
    xs = twin.inputs(2)
    accs = {}
    for fw, model, x in (("torch", twin.torch_model, xs[0]), ("paddle", twin.paddle_model, xs[1])):
        with LOGGERS[fw](model, tmp_path / fw, x, feature_layers=["conv2"], filter_layers=["conv1", "conv2"]) as board:
            board.log_epoch(0)
        accs[fw] = events(tmp_path / fw)
    assert accs["torch"].Tags()["images"] == accs["paddle"].Tags()["images"]
    for tag in accs["torch"].Tags()["images"]:
        a, b = (image_at(accs[fw], tag, 0).astype(int) for fw in ("torch", "paddle"))
        assert a.shape == b.shape, tag
        # where a heatmap value differs by ~1e-6 across a colour-map bin, jet's step (halved by the overlay's
        # alpha) shows in a few pixels of the Grad-CAM overlays; the caption text is the same
        diff = np.abs(a - b)
        assert diff.max() <= (3 if tag.startswith("gradcam/") else 1) and (diff > 1).mean() < 1e-3, tag


def test_paddle_logger_writes_visualdl_logs(tmp_path):
    from visualdl import LogReader

    twin = make_twin("gap")
    with pd_tb.VisualizationLogger(twin.paddle_model, tmp_path, twin.inputs(2)[1], writer="visualdl") as board:
        board.log_epoch(0, scalars={"loss": 1.0})
        board.log_epoch(1, scalars={"loss": 0.5})
        assert board.log_graph() is False
    (log,) = list(tmp_path.iterdir())
    reader = LogReader(file_path=str(log))
    tags = reader.get_tags()
    assert {"loss", "dead_relu/relu"} <= set(tags["scalar"])
    assert {"filters/conv", "feature_maps/relu/probe_0", "gradcam/probe_1"} <= set(tags["image"])
    assert {"weights/conv.weight", "activations/relu"} <= set(tags["histogram"])
    assert [r.value for r in reader.get_data("scalar", "loss")] == [1.0, 0.5]
    assert [r.id for r in reader.get_data("image", "gradcam/probe_0")] == [0, 1]


def test_both_loggers_have_the_same_api():
    assert pt_tb.__all__ == pd_tb.__all__ == ["VisualizationLogger"]
    a, b = pt_tb.VisualizationLogger, pd_tb.VisualizationLogger
    for name in ("__init__", "log_epoch", "log_scalars", "log_filters", "log_weight_histograms", "log_activations"):
        assert inspect.signature(getattr(a, name)) == inspect.signature(getattr(b, name)), name
    assert "import paddle" in b.__doc__ and "import torch" not in b.__doc__


def test_mistakes_get_one_clear_error_and_write_nothing(tmp_path):
    twin = make_twin("catdog")
    model, x = twin.torch_model, twin.inputs(1)[0]
    log_dir = tmp_path / "run"
    Logger = pt_tb.VisualizationLogger
    with pytest.raises(LayerNotFoundError, match="conv3"):
        Logger(model, log_dir, x, feature_layers=["conv4"])
    with pytest.raises(LayerOutputError, match=r"not a 2-D convolution.*conv1"):
        Logger(model, log_dir, x, filter_layers=["fc1"])
    with pytest.raises(ValueError, match="writer must be one of"):
        Logger(model, log_dir, x, writer="wandb")
    with pytest.raises(ValueError, match="max_maps must be a positive int"):
        Logger(model, log_dir, x, max_maps=0)
    assert not log_dir.exists()  # nothing written before the arguments are known to be good
    with Logger(model, log_dir) as board:
        with pytest.raises(ValueError, match="No probe images"):
            board.log_activations(0)
        with pytest.raises(ValueError, match="step"):
            board.log_filters(-1)
