"""``--engine ray``: the streaming run on a local Ray instance with two workers gives the local engine's outputs."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from visualization.cli import main
from visualization.report.ray_engine import ray_explain
from visualization.report.stream import StreamJob, stream_explain

ray = pytest.importorskip("ray")

TORCH_MODEL = "tests._cli_models:tiny_catdog"


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance with two CPUs for the whole module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    assert ray.cluster_resources()["CPU"] == 2
    yield
    ray.shutdown()


@pytest.fixture
def folder(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    for i in range(7):
        Image.fromarray((rng.random((40, 50, 3)) * 255).astype(np.uint8)).save(root / f"im{i}.png")
    Image.fromarray((rng.random((36, 36, 3)) * 255).astype(np.uint8)).save(root / "sub" / "deep one.png")
    return root


def _job(model: str = TORCH_MODEL, **kw) -> StreamJob:
    kw.setdefault("methods", ["gradcam", "gradcampp"])
    kw.setdefault("batch_size", 3)
    return StreamJob(model=model, input_size=32, progress=False, **kw)


def _index(out: Path) -> list[dict[str, str]]:
    with open(out / "index.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def assert_same_outputs(a: Path, b: Path) -> None:
    """Same index (probabilities to 1e-6), same files, heatmaps to float32 rounding, overlays to one grey level."""
    ia, ib = _index(a), _index(b)
    assert [r["image"] for r in ia] == [r["image"] for r in ib]
    for ra, rb in zip(ia, ib):
        assert abs(float(ra.pop("probability")) - float(rb.pop("probability"))) <= 2e-6
        assert ra == rb
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    for rel in files:
        if rel.endswith(".npz"):
            with np.load(a / rel) as za, np.load(b / rel) as zb:
                assert za.files == zb.files
                for key in za.files:
                    np.testing.assert_allclose(za[key], zb[key], atol=1e-5)
        elif rel.endswith(".png"):
            pa = np.asarray(Image.open(a / rel), np.int16)
            pb = np.asarray(Image.open(b / rel), np.int16)
            assert pa.shape == pb.shape and np.abs(pa - pb).max() <= 1


def test_two_ray_workers_match_the_local_engine_torch(folder, tmp_path):
    local = stream_explain(_job(), folder, tmp_path / "local")
    seen: list[str] = []
    remote = ray_explain(_job(), folder, tmp_path / "ray", workers=2, on_batch=seen.extend)
    assert (remote.total, remote.processed, remote.skipped) == (local.total, local.processed, local.skipped) == (8, 8, 0)
    assert seen == remote.finished == local.finished  # folder order, as the local engine
    assert_same_outputs(tmp_path / "local", tmp_path / "ray")


def test_two_ray_workers_match_the_local_engine_paddle(folder, tmp_path):
    job = _job("tests._cli_models:tiny_catdog_paddle", framework="paddle", methods=["gradcam"], batch_size=4)
    stream_explain(job, folder, tmp_path / "local")
    ray_explain(job, folder, tmp_path / "ray", workers=2)
    assert_same_outputs(tmp_path / "local", tmp_path / "ray")


def test_every_actor_explains_the_drivers_model(tmp_path):
    # A factory without a seed draws new weights on every call. Six copies of one photo, one per batch,
    # spread over two actors: they can only get one heatmap if both actors hold the driver's weights.
    root = tmp_path / "same"
    root.mkdir()
    photo = (np.random.default_rng(2).random((32, 32, 3)) * 255).astype(np.uint8)
    for i in range(6):
        Image.fromarray(photo).save(root / f"copy{i}.png")
    job = _job("tests._cli_models:random_catdog", methods=["gradcam"], batch_size=1)
    ray_explain(job, root, tmp_path / "out", workers=2)
    maps = []
    for i in range(6):
        with np.load(tmp_path / "out" / "heatmaps" / f"copy{i}.png.npz") as z:
            maps.append(z["gradcam"])
    assert maps[0].std() > 0
    for m in maps[1:]:
        np.testing.assert_allclose(m, maps[0], atol=1e-6)


def test_a_run_interrupted_on_one_engine_resumes_on_the_other(folder, tmp_path):
    stream_explain(_job(), folder, tmp_path / "full")

    class Interrupt(Exception):
        pass

    def stop(names):
        raise Interrupt(names)

    out = tmp_path / "mixed"
    with pytest.raises(Interrupt):
        stream_explain(_job(), folder, out, on_batch=stop)
    first = {p.name: p.stat().st_mtime_ns for p in (out / "heatmaps").iterdir()}
    resumed = ray_explain(_job(), folder, out, workers=2)
    assert (resumed.processed, resumed.skipped) == (5, 3)
    assert {n: (out / "heatmaps" / n).stat().st_mtime_ns for n in first} == first  # not redone
    assert_same_outputs(tmp_path / "full", out)
    assert ray_explain(_job(), folder, out, workers=2).processed == 0


def test_cli_engine_ray_and_its_errors(folder, tmp_path):
    runner = CliRunner()
    base = ["explain", "--model", TORCH_MODEL, "--input-size", "32", "--no-progress", "--method", "gradcam"]
    out = tmp_path / "o"
    args = [*base, "--images-dir", str(folder), "--engine", "ray", "--workers", "2", "--out", str(out)]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "8 image(s) explained, 0 already done" in res.output
    assert len(_index(out)) == 8

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "im3.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    for extra, message in [
        (["--images-dir", str(folder), "--workers", "2"], "belong to --engine ray"),
        (["--image", str(folder / "im0.png"), "--engine", "ray"], "use them with --images-dir"),
        (["--images-dir", str(folder), "--engine", "ray", "--layer", "conv9"], "Did you mean"),
        (["--images-dir", str(broken), "--engine", "ray", "--batch-size", "2"], "Could not read the image"),
    ]:
        bad = tmp_path / "bad"
        res = runner.invoke(main, [*base, *extra, "--out", str(bad)])
        assert res.exit_code == 2, (extra, res.output)
        assert message in res.output and "Traceback" not in res.output, res.output
        if "--layer" in extra or "--workers" in extra:
            assert not bad.exists()  # refused before anything was written
    # The broken image stopped its batch; the batches finished before it are kept for the rerun.
    assert all(r["image"] not in {"im2.png", "im3.png"} for r in _index(tmp_path / "bad"))
