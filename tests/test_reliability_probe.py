"""Issue 19: three silent or raw failures found by a reliability probe, in both frameworks.

1. An explicit target layer whose output is ``1 x 1`` (a global pooling kept 4-D) gives a clear
   :class:`LayerOutputError` naming the last spatial layer before it, for every CAM class; ``2 x 2``
   maps still work.
2. Gradient methods run inside ``torch.inference_mode()`` (and ``torch.no_grad()`` / ``paddle.no_grad()``)
   and give the same numbers as outside.
3. Ctrl-C in ``cnnvis`` exits with status 130 and leaves no partial file in the output folder.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from visualization.cli import EXIT_INTERRUPTED, main
from visualization.core.errors import GradientModeError, LayerOutputError, VisualizationError
from visualization.paddle import cam_visualizer as pd_cam
from visualization.pytorch import cam_visualizer as pt_cam
from visualization.pytorch import metrics as pt_cam_metrics

from ._entry_points import CAM_CLASSES, SIZE, TorchViewCNN, entry_points, view_models
from .twins import make_twin

FRAMEWORKS = {"torch": pt_cam, "paddle": pd_cam}
REPO = Path(__file__).resolve().parents[1]


def _model_and_input(framework: str, size: int = 10):
    twin = make_twin("gap")
    x_t, x_p = twin.inputs(2, seed=3)
    if size != 10:
        x_np = np.random.default_rng(3).standard_normal((2, 3, size, size)).astype(np.float32)
        x_t, x_p = torch.from_numpy(x_np.copy()), paddle.to_tensor(x_np)
    return (twin.torch_model, x_t) if framework == "torch" else (twin.paddle_model, x_p)


# ----------------------------------------------------------------------------- 1. a 1 x 1 target layer
def test_every_cam_class_is_listed() -> None:
    assert len(CAM_CLASSES) == 11 and "ScoreCAM" in CAM_CLASSES and "CAM" in CAM_CLASSES


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("method", CAM_CLASSES)
def test_one_by_one_layer_is_refused_with_the_spatial_layer_before_it(framework: str, method: str) -> None:
    model, x = _model_and_input(framework)
    cam = getattr(FRAMEWORKS[framework], method)(model, "gap")
    with pytest.raises(LayerOutputError) as info:
        cam.generate_cam(x, 0)
    msg = str(info.value)
    assert isinstance(info.value, (VisualizationError, ValueError))
    assert "'gap' has no spatial extent" in msg and "(2, 5, 1, 1) is 1 x 1 (h x w)" in msg
    # the twin runs conv -> relu -> gap: relu is the last spatial layer before gap, 8 x 8 for a 10 x 10 input
    assert "before it is 'relu' (output (2, 5, 8, 8))" in msg and "target_layer='relu'" in msg
    # the advice works: the named layer gives a real map
    fixed = getattr(FRAMEWORKS[framework], method)(model, "relu").compute(x, 0)
    assert fixed.raw.shape == (2, 8, 8) and fixed.heatmaps.shape == (2, 10, 10)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_one_by_one_layer_in_a_list_of_layers_is_refused(framework: str) -> None:
    model, x = _model_and_input(framework)
    with pytest.raises(LayerOutputError, match="'gap' has no spatial extent"):
        FRAMEWORKS[framework].GradCAM(model, ["relu", "gap"]).generate_cam(x, 0, aug_smooth=True)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("method", CAM_CLASSES)
def test_two_by_two_layer_is_still_explained(framework: str, method: str) -> None:
    model, x = _model_and_input(framework, size=4)  # conv 3x3 without padding: 4 x 4 -> 2 x 2
    result = getattr(FRAMEWORKS[framework], method)(model, "relu").compute(x, 1)
    assert result.raw.shape == (2, 2, 2) and result.heatmaps.shape == (2, 4, 4)
    assert np.isfinite(result.heatmaps).all()
    # at least one image has a non-constant map (a 1 x 1 layer could never give one)
    assert (result.heatmaps.reshape(2, -1).max(axis=1) == 1.0).any()


def test_cli_names_the_one_by_one_layer_once_for_all_methods(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "out"
    args = ["explain", "--model", "tests._cli_models:gap_net", "--image", str(photo), "--layer", "2"]
    args += ["--input-size", "16", "--method", "gradcam", "--method", "layercam", "--method", "eigencam"]
    res = CliRunner().invoke(main, [*args, "--out", str(out), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert res.output.count("has no spatial extent") == 1  # one reason, said once
    assert "Grad-CAM, LayerCAM, Eigen-CAM:" in res.output and "target_layer='1'" in res.output
    assert "Traceback" not in res.output and not out.exists()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_automatic_choice_still_skips_the_one_by_one_layer(framework: str) -> None:
    model, x = _model_and_input(framework)
    cam = FRAMEWORKS[framework].GradCAM(model)
    cam.generate_cam(x, 0)
    assert cam.target_layer_name == "relu"


# ----------------------------------------------------------------------------- 2. caller's grad mode
def _contiguous_input(framework: str, n: int = 2):
    x = np.random.default_rng(7).standard_normal((n, 3, SIZE, SIZE)).astype(np.float32)
    return torch.from_numpy(x) if framework == "torch" else paddle.to_tensor(x)


TORCH_ENTRIES = entry_points("torch")
PADDLE_ENTRIES = entry_points("paddle")


@pytest.mark.parametrize("entry", TORCH_ENTRIES)
def test_torch_entry_points_run_inside_inference_mode(entry: str) -> None:
    """Every entry point, gradient paths included, gives inside ``torch.inference_mode()`` (on an
    inference-tensor input) exactly what it gives outside, and leaves the caller in inference mode."""
    models = view_models("torch")
    x = _contiguous_input("torch")
    expected = np.asarray(TORCH_ENTRIES[entry](models, x))
    with torch.inference_mode():
        xi = x.clone()
        assert xi.is_inference()
        got = np.asarray(TORCH_ENTRIES[entry](models, xi))
        assert torch.is_inference_mode_enabled() and not torch.is_grad_enabled()
    np.testing.assert_array_equal(got, expected)
    assert all(p.grad is None and not p.is_inference() for p in models.cnn.parameters())


@pytest.mark.parametrize("entry", ["GradCAM", "ScoreCAM", "SmoothGradCAMPlusPlus", "IntegratedGradients", "get_gradients"])
def test_torch_entry_points_run_inside_no_grad(entry: str) -> None:
    models = view_models("torch")
    x = _contiguous_input("torch")
    expected = np.asarray(TORCH_ENTRIES[entry](models, x))
    with torch.no_grad():
        got = np.asarray(TORCH_ENTRIES[entry](models, x))
        assert not torch.is_grad_enabled()
    np.testing.assert_array_equal(got, expected)


def test_torch_sanity_check_and_activation_maximization_run_inside_inference_mode() -> None:
    from visualization.pytorch.activation_maximization import ActivationMaximization

    models = view_models("torch")
    x = _contiguous_input("torch", 1)

    def run(xx):
        res = pt_cam_metrics.model_parameter_randomization(models.cnn, pt_cam.GradCAM(models.cnn, "conv2"), xx, 1)
        am = ActivationMaximization(models.cnn, image_size=SIZE).maximize(layer="conv2", channel=3, steps=3, seed=0)
        return res.spearman, am.image

    expected = run(x)
    with torch.inference_mode():
        got = run(x.clone())
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    assert expected[0].shape == (3, 1) and np.isfinite(expected[0]).all()  # fc, conv2, conv1 in cascade


def test_torch_model_made_inside_inference_mode_gets_a_clear_error() -> None:
    """Parameters created inside inference mode cannot be recorded through; the error says so and what to do."""
    with torch.inference_mode():
        torch.manual_seed(0)
        model = TorchViewCNN().eval()
        x = torch.rand(1, 3, SIZE, SIZE)
        with pytest.raises(GradientModeError) as info:
            pt_cam.GradCAM(model, "conv2").generate_cam(x, 0)
        # methods without gradients still run there
        assert pt_cam.EigenCAM(model, "conv2").generate_cam(x, 0).shape == (SIZE, SIZE)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, VisualizationError)
    msg = str(info.value)
    assert "inference tensors" in msg and "outside torch.inference_mode()" in msg and "torch.no_grad()" in msg


@pytest.mark.parametrize("entry", PADDLE_ENTRIES)
def test_paddle_entry_points_run_inside_no_grad(entry: str) -> None:
    """Paddle has no inference mode; inside ``paddle.no_grad()`` every entry point gives what it gives
    outside, and the caller's grad mode is off again after the call."""
    models = view_models("paddle")
    x = _contiguous_input("paddle")
    expected = np.asarray(PADDLE_ENTRIES[entry](models, x))
    with paddle.no_grad():
        got = np.asarray(PADDLE_ENTRIES[entry](models, x))
        assert not paddle.is_grad_enabled()
    assert paddle.is_grad_enabled()
    np.testing.assert_array_equal(got, expected)


# ----------------------------------------------------------------------------- 3. Ctrl-C in cnnvis
def _photos(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray((rng.random((40, 50, 3)) * 255).astype(np.uint8)).save(folder / f"im{i}.png")
    return folder


def _leftovers(root: Path) -> list[str]:
    """Hidden temporary files or folders (``.name.*``: atomic writes in progress) anywhere under ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(".*"))


@pytest.mark.parametrize(
    "framework,model", [("torch", "interrupting_catdog"), ("paddle", "interrupting_catdog_paddle")]
)
@pytest.mark.parametrize("mode", ["--image", "--images-dir"])
def test_ctrl_c_in_explain_exits_130_in_process(tmp_path: Path, framework: str, model: str, mode: str) -> None:
    photos = _photos(tmp_path / "photos", 2)
    out = tmp_path / "out"
    source = str(photos / "im0.png") if mode == "--image" else str(photos)
    res = CliRunner().invoke(
        main,
        ["explain", "--framework", framework, "--model", f"tests._cli_models:{model}", "--input-size", "32",
         "--no-progress", mode, source, "--out", str(out)],
    )
    assert res.exit_code == EXIT_INTERRUPTED == 130, res.output
    assert "Interrupted (Ctrl-C)" in res.output and "Aborted!" not in res.output
    if mode == "--image":
        assert not out.exists()  # a report appears only when whole
    else:
        assert not list(out.rglob("*.npz")) and not (out / "index.csv").exists()
    assert _leftovers(tmp_path) == []


def test_ctrl_c_keeps_the_previous_report_with_force(tmp_path: Path) -> None:
    photo = _photos(tmp_path / "photos", 1) / "im0.png"
    out = tmp_path / "out"
    base = ["explain", "--input-size", "32", "--no-progress", "--method", "gradcam", "--image", str(photo)]
    done = CliRunner().invoke(main, [*base, "--model", "tests._cli_models:tiny_catdog", "--out", str(out)])
    assert done.exit_code == 0, done.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    res = CliRunner().invoke(
        main, [*base, "--model", "tests._cli_models:interrupting_catdog", "--out", str(out), "--force"]
    )
    assert res.exit_code == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and _leftovers(tmp_path) == []


def test_ctrl_c_in_layers_exits_130() -> None:
    res = CliRunner().invoke(main, ["layers", "--model", "tests._cli_models:interrupting_catdog", "--input-size", "32"])
    assert res.exit_code == 130 and "Interrupted (Ctrl-C)" in res.output


def _cnnvis(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "visualization.cli", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_sigint_to_a_streaming_run_exits_130_and_leaves_complete_files_that_resume(tmp_path: Path) -> None:
    """A real process gets SIGINT while it streams a folder: status 130, no temporary file, every
    ``.npz`` listed in ``index.csv`` and loadable, and running again finishes the rest."""
    photos = _photos(tmp_path / "photos", 6)
    out = tmp_path / "out"
    args = ["explain", "--model", "tests._cli_models:slow_catdog", "--input-size", "32", "--no-progress",
            "--method", "gradcam", "--images-dir", str(photos), "--batch-size", "1", "--out", str(out)]
    proc = _cnnvis(args, {"CNNVIS_TEST_SLEEP": "0.4"})
    try:
        _wait_for(out / "index.csv", proc)  # the first batch is written; the run is busy with the next
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Interrupted (Ctrl-C)" in err and "Traceback" not in err and "Aborted!" not in err
    assert _leftovers(tmp_path) == []
    with open(out / "index.csv", newline="", encoding="utf-8") as f:
        listed = [r["image"] for r in csv.DictReader(f)]
    npz = sorted(p.name for p in (out / "heatmaps").glob("*.npz"))
    assert 1 <= len(listed) < 6 and npz == sorted(f"{name}.npz" for name in listed)
    for name in npz:
        with np.load(out / "heatmaps" / name) as z:
            assert z["gradcam"].shape == (32, 32)

    rerun = _cnnvis(args, {"CNNVIS_TEST_SLEEP": "0"})
    stdout, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"{6 - len(listed)} image(s) explained, {len(listed)} already done" in stdout + err


def test_sigint_to_a_report_run_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    photo = _photos(tmp_path / "photos", 1) / "im0.png"
    out, started = tmp_path / "out", tmp_path / "started"
    args = ["explain", "--model", "tests._cli_models:slow_catdog", "--input-size", "32", "--no-progress",
            "--image", str(photo), "--out", str(out)]
    proc = _cnnvis(args, {"CNNVIS_TEST_STARTED": str(started), "CNNVIS_TEST_SLEEP": "0.4"})
    try:
        _wait_for(started, proc)  # the model has run once: the report is being computed
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Interrupted (Ctrl-C)" in err and "Traceback" not in err
    assert not out.exists() and _leftovers(tmp_path) == []
