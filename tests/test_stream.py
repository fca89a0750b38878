"""Streaming ``cnnvis explain --images-dir``: per-image files, an index per batch, and resuming after an interruption."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from visualization.cli import main
from visualization.report.stream import StreamJob, iter_images, output_name, stream_explain

MODEL = "tests._cli_models:tiny_catdog"


@pytest.fixture
def folder(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    for i in range(5):
        Image.fromarray((rng.random((40, 50, 3)) * 255).astype(np.uint8)).save(root / f"im{i}.png")
    Image.fromarray((rng.random((36, 36, 3)) * 255).astype(np.uint8)).save(root / "sub" / "deep one.png")
    (root / "notes.txt").write_text("not an image", encoding="utf-8")
    return root


def _job(**kw) -> StreamJob:
    return StreamJob(model=MODEL, methods=["gradcam", "gradcampp"], input_size=32, batch_size=2, progress=False, **kw)


class Interrupt(Exception):
    pass


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_listing_is_sorted_recursive_and_lazy(folder):
    it = iter_images(folder)
    assert next(it).name == "im0.png"  # a generator: nothing listed beyond what is asked for
    names = [output_name(folder, p) for p in iter_images(folder)]
    assert names == ["im0.png", "im1.png", "im2.png", "im3.png", "im4.png", "sub__deep_one.png"]


def test_interrupted_run_resumes_without_recomputing_and_matches_a_full_run(folder, tmp_path):
    full = stream_explain(_job(), folder, tmp_path / "full")
    assert (full.total, full.processed, full.skipped) == (6, 6, 0)

    out = tmp_path / "resumed"

    def stop_after_first(names):
        raise Interrupt(names)

    with pytest.raises(Interrupt):
        stream_explain(_job(), folder, out, on_batch=stop_after_first)
    with open(out / "index.csv", newline="", encoding="utf-8") as f:
        assert [r["image"] for r in csv.DictReader(f)] == ["im0.png", "im1.png"]
    first = {p: p.stat().st_mtime_ns for p in (out / "heatmaps").iterdir()}
    assert len(first) == 2

    seen: list[str] = []
    resumed = stream_explain(_job(), folder, out, on_batch=seen.extend)
    assert (resumed.processed, resumed.skipped) == (4, 2)
    assert seen == ["im2.png", "im3.png", "im4.png", "sub__deep_one.png"]
    assert {p: p.stat().st_mtime_ns for p in first} == first  # finished images were not rewritten
    assert _outputs(out) == _outputs(tmp_path / "full")  # bit-identical files, no temporary left behind

    with np.load(out / "heatmaps" / "im3.png.npz") as z:
        assert sorted(z.files) == ["gradcam", "gradcampp"]
        assert z["gradcam"].shape == (32, 32) and 0.0 <= z["gradcam"].min() and z["gradcam"].max() <= 1.0
    assert Image.open(out / "overlays" / "im3.png.png").size == (64, 32)  # one tile per method

    again = stream_explain(_job(), folder, out)
    assert (again.processed, again.skipped) == (0, 6)
    forced = stream_explain(_job(force=True), folder, out)
    assert forced.processed == 6 and _outputs(out) == _outputs(tmp_path / "full")


def test_cli_images_dir(folder, tmp_path):
    runner = CliRunner()
    base = ["explain", "--model", MODEL, "--input-size", "32", "--no-progress", "--method", "gradcam"]
    out = tmp_path / "o"
    res = runner.invoke(main, [*base, "--images-dir", str(folder), "--batch-size", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "6 image(s) explained, 0 already done" in res.output
    res = runner.invoke(main, [*base, "--images-dir", str(folder), "--out", str(out)])
    assert res.exit_code == 0 and "0 image(s) explained, 6 already done" in res.output

    for args, message in [
        (["--images-dir", str(folder), "--image", str(folder / "im0.png")], "not both"),
        (["--images-dir", str(tmp_path / "missing")], "is not a folder"),
        ([], "--images-dir DIR"),
        (["--images-dir", str(folder), "--framework", "both"], "--framework torch"),
        (["--images-dir", str(folder), "--layer", "conv9"], "Did you mean"),
    ]:
        res = runner.invoke(main, [*base, *args, "--out", str(tmp_path / "bad")])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output and "Traceback" not in res.output
        assert not (tmp_path / "bad").exists()  # nothing written on a mistake


def test_console_script_finds_a_factory_in_the_current_directory(folder, tmp_path):
    # `cnnvis` is a console script whose sys.path starts at its bin/ folder; --model mymodel:make must
    # still be found in the folder the user runs it from, as the error message promises.
    import os
    import subprocess
    import sys

    script = Path(sys.executable).with_name("cnnvis")
    if not script.exists():
        pytest.skip("the cnnvis console script is not installed next to this Python")
    work = tmp_path / "project"
    work.mkdir()
    (work / "mymodel.py").write_text(
        "import torch\nfrom visualization.pytorch.models import CatDogCNN\n\n\n"
        "def make():\n    torch.manual_seed(0)\n    return CatDogCNN(num_classes=2, image_size=32)\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run(
        [str(script), "explain", "--model", "mymodel:make", "--images-dir", str(folder), "--input-size", "32",
         "--method", "gradcam", "--no-progress", "--out", str(tmp_path / "o")],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "6 image(s) explained" in res.stdout


def test_engine_ray_without_ray_installed_says_how_to_install_it(folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when Ray is not installed
    res = CliRunner().invoke(
        main,
        ["explain", "--model", MODEL, "--input-size", "32", "--images-dir", str(folder), "--engine", "ray",
         "--no-progress", "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert res.exit_code == 2 and 'pip install "cnn-visualization[ray]"' in res.output, res.output
    assert not (tmp_path / "o").exists()
