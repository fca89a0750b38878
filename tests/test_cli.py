"""``cnnvis``: help, layer listing, a small explain run, and one clear message (exit 2) per mistake."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from visualization.cli import main

from ._cli_models import tiny_catdog


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def photo(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "cat photo.png"
    Image.fromarray((rng.random((40, 50, 3)) * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def weights(tmp_path) -> Path:
    path = tmp_path / "w.pt"
    torch.save(tiny_catdog().state_dict(), path)
    return path


def _explain(runner, *args):
    return runner.invoke(
        main, ["explain", "--model", "tests._cli_models:tiny_catdog", "--input-size", "32", "--no-progress", *args]
    )


def test_help_explains_every_command_with_an_example(runner):
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0 and "cnnvis demo" in top.output
    for cmd in ("demo", "explain", "layers"):
        res = runner.invoke(main, [cmd, "--help"])
        assert res.exit_code == 0 and "Example: cnnvis " + cmd in res.output


def test_layers_lists_shapes(runner):
    res = runner.invoke(main, ["layers", "--model", "tests._cli_models:tiny_catdog", "--input-size", "32"])
    assert res.exit_code == 0, res.output
    assert "conv3" in res.output and "128x8x8" in res.output and "Conv2d" in res.output
    assert "Ran more than once" in res.output and "pool" in res.output


def test_explain_writes_a_report(runner, tmp_path, photo, weights):
    out = tmp_path / "out"
    res = _explain(
        runner,
        "--weights",
        str(weights),
        "--image",
        str(photo),
        "--method",
        "gradcam",
        "--method",
        "scorecam",
        "--layer",
        "conv3",
        "--out",
        str(out),
    )
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "cat photo.png" in page and "Grad-CAM" in page and "Score-CAM" in page
    again = _explain(runner, "--image", str(photo), "--method", "gradcam", "--out", str(out))
    assert again.exit_code == 2 and "--force" in again.output
    forced = _explain(runner, "--image", str(photo), "--method", "gradcam", "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--image", "missing.jpg"], "does not exist"),
        (["--image", "{corrupt}"], "Could not read the image"),
        (["--image", "{photo}", "--layer", "conv4"], "Did you mean"),
        (["--image", "{photo}", "--layer", "fc1"], "must output a 4-D"),
        (["--image", "{photo}", "--method", "lime"], "Unknown method 'lime'"),
        (["--image", "{photo}", "--target", "7"], "out of range"),
        (["--image", "{photo}", "--weights", "{badweights}"], "missing keys"),
        (["--image", "{photo}", "--weights", "{corrupt}"], "Could not read"),
        (["--image", "{photo}", "--input-size", "64"], "The model failed on the input"),
        (["--image", "{photo}", "--mean", "1,2"], "three comma-separated numbers"),
    ],
)
def test_bad_input_is_one_message_and_exit_2(runner, tmp_path, photo, args, message):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff not really a jpeg")
    bad = tmp_path / "bad.pt"
    sd = tiny_catdog().state_dict()
    sd["extra.weight"] = sd.pop("fc2.weight")
    torch.save(sd, bad)
    args = [a.format(photo=photo, corrupt=corrupt, badweights=bad) for a in args]
    res = _explain(runner, *args, "--out", str(tmp_path / "o"))
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_unknown_model_and_non_model_factory(runner, photo, tmp_path):
    res = runner.invoke(main, ["explain", "--model", "resnet9000", "--image", str(photo), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "available models" in res.output
    res = runner.invoke(main, ["layers", "--model", "tests._cli_models:not_a_model"])
    assert res.exit_code == 2 and "Expected a torch.nn.Module" in res.output
    res = runner.invoke(main, ["layers", "--model", "no_such_module:build"])
    assert res.exit_code == 2 and "Could not load the model factory" in res.output


def test_report_leaves_a_train_mode_model_untouched(tmp_path, photo):
    """The pipeline traces the model (auto layer, three depths): BatchNorm statistics must not move."""
    from visualization.models.imagenet import IMAGENET_MEAN, IMAGENET_STD
    from visualization.report.explain import ExplainJob, build_report, load_images

    from ._torch_nets import SmallNet, seeded

    model = seeded(SmallNet()).train()
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    import tests._cli_models as factories

    factories.small_train_mode = lambda: model
    job = ExplainJob(
        model="tests._cli_models:small_train_mode",
        frameworks=["torch"],
        images=load_images([photo], 16, IMAGENET_MEAN, IMAGENET_STD),
        methods=["gradcam"],
        progress=False,
    )
    build_report(job, tmp_path / "r")
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, buffers[k], rtol=0, atol=0)
