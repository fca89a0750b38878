"""``cnnvis explain`` on transformers, tuple outputs, segmentation and detection (the zoo's twins)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from visualization.cli import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def photo(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "street.png"
    Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _explain(runner, model, photo, out, *args, framework="torch"):
    return runner.invoke(
        main,
        [
            "explain",
            "--model",
            f"tests._cli_models:{model}",
            "--framework",
            framework,
            "--input-size",
            "32",
            "--no-progress",
            "--image",
            str(photo),
            "--out",
            str(out),
            *args,
        ],
    )


@pytest.mark.parametrize(("model", "reshape"), [("zoo_vit", "vit"), ("zoo_swin", "auto"), ("zoo_vit_paddle", "auto")])
def test_transformer_report(runner, photo, tmp_path, model, reshape):
    fw = "paddle" if model.endswith("paddle") else "torch"
    res = _explain(
        runner,
        model,
        photo,
        tmp_path / "o",
        "--reshape",
        reshape,
        "--method",
        "gradcam",
        "--method",
        "ablationcam",
        framework=fw,
    )
    assert res.exit_code == 0, res.output
    page = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "Grad-CAM" in page and "Ablation-CAM" in page and ".norm1" in page


def test_tuple_output_needs_output(runner, photo, tmp_path):
    bad = _explain(runner, "zoo_googlenet_paddle", photo, tmp_path / "a", "--method", "gradcam", framework="paddle")
    assert bad.exit_code == 2 and "a tuple of 2" in bad.output and "output=" in bad.output
    good = _explain(
        runner,
        "zoo_googlenet_paddle",
        photo,
        tmp_path / "b",
        "--output",
        "0",
        "--method",
        "gradcam",
        framework="paddle",
    )
    assert good.exit_code == 0, good.output


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_segmentation_report_shows_the_mask(runner, photo, tmp_path, framework):
    model = "zoo_deeplab" if framework == "torch" else "zoo_deeplab_paddle"
    res = _explain(
        runner,
        model,
        photo,
        tmp_path / "s",
        "--output",
        "out",
        "--target-type",
        "segmentation",
        "--method",
        "gradcam",
        "--method",
        "scorecam",
        framework=framework,
    )
    assert res.exit_code == 0, res.output
    page = (tmp_path / "s" / "report.html").read_text(encoding="utf-8")
    assert "pixels predicted as that category" in page and "scorecam" in page
    assert f"{framework}_segmentation_0.webp" in page


def test_box_report_and_both_frameworks(runner, photo, tmp_path):
    res = _explain(
        runner,
        "zoo_detector",
        photo,
        tmp_path / "d",
        "--target-type",
        "box",
        "--box",
        "4,4,20,20",
        "--method",
        "gradcam",
        "--method",
        "eigencam",
    )
    assert res.exit_code == 0, res.output
    page = (tmp_path / "d" / "report.html").read_text(encoding="utf-8")
    assert "torch_box_0.webp" in page and "IoU at least 0.5" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target-type", "box"], "needs detections"),
        (["--target-type", "segmentation"], "needs a segmentation output"),
        (["--category", "2"], "--category goes with --target-type segmentation"),
        (["--target-type", "box", "--box", "5,5,1,1"], "x1 < x2"),
        (["--reshape", "vit", "--layer", "conv3"], "expects a ViT token sequence"),
    ],
)
def test_dense_mistakes_are_clear(runner, photo, tmp_path, args, message):
    res = _explain(runner, "tiny_catdog", photo, tmp_path / "x", "--method", "gradcam", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output
