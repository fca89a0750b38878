"""``cnnvis evaluate``: the table's numbers equal direct calls of the metrics, and reruns reuse the cache."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from visualization.cli import main
from visualization.models.imagenet import IMAGENET_MEAN, IMAGENET_STD
from visualization.pytorch import metrics
from visualization.pytorch.cam_visualizer import GradCAM, LayerCAM
from visualization.report.evaluate import EvaluateJob, crop_boxes, evaluate
from visualization.report.explain import load_images

from ._cli_models import tiny_catdog

PETS = Path(__file__).resolve().parent / "data" / "pets"  # in the repository (see its README)
MODEL = "tests._cli_models:tiny_catdog"


@pytest.fixture
def pets(tmp_path) -> tuple[Path, Path]:
    """Two cats and two dogs from the sample (copied, in sub-folders) and a boxes CSV for three of them."""
    root = tmp_path / "pets"
    rows = ["filename,x0,y0,x1,y1"]
    for kind in ("cats", "dogs"):
        (root / kind).mkdir(parents=True)
        for src in sorted((PETS / kind).glob("*.jpg"))[:2]:
            shutil.copy(src, root / kind / src.name)
    from PIL import Image

    files = sorted(root.rglob("*.jpg"))
    for i, f in enumerate(files[:3]):
        w, h = Image.open(f).size
        name = f.relative_to(root).as_posix() if i % 2 else f.name  # both spellings are accepted
        rows.append(f"{name},{w * 0.25:.1f},{h * 0.2:.1f},{w * 0.75:.1f},{h * 0.8:.1f}")
    rows.append(f"{files[0].name},0,0,5,5")  # a second box for the first image
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root, boxes


def _job(boxes: Path, methods=("gradcam", "layercam"), model: str = MODEL, **kw) -> EvaluateJob:
    return EvaluateJob(
        model=model,
        methods=list(methods),
        layer="conv3",
        input_size=32,
        boxes=boxes,
        batch_size=3,
        tolerance=2.0,
        progress=False,
        **{"n_steps": 8, **kw},
    )


def _csv(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["method"], r["metric"]): r for r in csv.DictReader(f)}


def _direct(root: Path, boxes_csv: Path, cls: type) -> dict[str, np.ndarray]:
    """Every metric per image from direct calls of visualization.pytorch.metrics."""
    from PIL import Image

    from visualization.report.evaluate import read_boxes

    files = sorted(root.rglob("*.jpg"))
    x = np.stack([im.array for im in load_images(files, 32, IMAGENET_MEAN, IMAGENET_STD)])
    model = tiny_catdog()
    import torch

    xt = torch.from_numpy(x)
    res = cls(model, "conv3").compute(xt)
    maps, targets = res.heatmaps, res.targets
    drop = metrics.average_drop_increase(model, xt, maps, targets)
    raw = read_boxes(boxes_csv)
    pointing, energy = [], []
    for i, f in enumerate(files):
        b = raw.get(f.relative_to(root).as_posix()) or raw.get(f.name)
        if b:
            b = crop_boxes(b, Image.open(f).size, 32)
            pointing.append(float(metrics.pointing_game(maps[i], b, tolerance=2.0).hits[0]))
            energy.append(float(metrics.energy_pointing_game(maps[i], b)[0]))
    road = metrics.road(model, xt, maps, targets)
    cam = cls(model, "conv3")
    # The sanity columns through the public cascading test: its first step re-draws the classifier only,
    # its last step every layer (each layer's values depend on the seed and its name only).
    cascade = metrics.model_parameter_randomization(model, cam, xt, targets)
    return {
        "road_morf": road.morf.mean(axis=1),
        "road_lerf": road.lerf.mean(axis=1),
        "random_top_spearman": cascade.spearman[0],
        "random_all_spearman": cascade.spearman[-1],
        "random_all_ssim": cascade.ssim[-1],
        "deletion_auc": metrics.deletion_curve(model, xt, maps, targets, n_steps=8).auc,
        "insertion_auc": metrics.insertion_curve(model, xt, maps, targets, n_steps=8).auc,
        "average_drop": 100 * drop.drop,
        "increase": 100 * drop.increase.astype(float),
        "gini": metrics.gini_index(maps),
        "pointing": np.array(pointing),
        "energy_pointing": np.array(energy),
    }


def test_table_matches_direct_metric_calls_and_reruns_reuse_the_cache(pets, tmp_path):
    root, boxes = pets
    out = tmp_path / "eval"
    table = evaluate(_job(boxes), root, out)
    assert {p.name for p in out.iterdir()} == {"cache", "metrics.csv", "metrics.md", "paired.csv", "curves.png"}
    rows = _csv(out / "metrics.csv")
    directs = {}
    for method, cls in (("gradcam", GradCAM), ("layercam", LayerCAM)):
        direct = directs[method] = _direct(root, boxes, cls)
        for metric, values in direct.items():
            row = rows[method, metric]
            assert int(row["n"]) == len(values) == (3 if "pointing" in metric else 4)
            assert float(row["mean"]) == pytest.approx(values.mean(), rel=1e-4, abs=1e-6), (method, metric)
            if values.std() > 0:
                lo, hi = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
                assert float(row["ci95_low"]) == pytest.approx(lo, rel=1e-4, abs=1e-6)
                assert float(row["ci95_high"]) == pytest.approx(hi, rel=1e-4, abs=1e-6)
        curve = table.curves[method]
        assert curve["deletion"].shape == curve["insertion"].shape == (9,)
    # Paired comparison: the other method minus the better one, image by image, with its t-interval.
    with open(out / "paired.csv", newline="", encoding="utf-8") as f:
        paired = {r["metric"]: r for r in csv.DictReader(f)}
    assert set(paired) == {"deletion_auc", "insertion_auc", "road_morf", "road_lerf"}
    for metric, r in paired.items():
        lower = metric in ("deletion_auc", "road_morf")
        means = {m: directs[m][metric].mean() for m in directs}
        best = (min if lower else max)(means, key=means.__getitem__)
        assert r["best"] == best and r["method"] != best
        d = directs[r["method"]][metric] - directs[best][metric]
        # a difference of two close means: compare on the scale of the metric (the table stores float32 maps)
        assert float(r["mean_difference"]) == pytest.approx(d.mean(), abs=5e-5)
        lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        assert float(r["ci95_low"]) == pytest.approx(lo, abs=5e-5)
        assert float(r["ci95_high"]) == pytest.approx(hi, abs=5e-5)
    md = (out / "metrics.md").read_text(encoding="utf-8")
    assert "| gradcam |" in md and "insertion AUC (↑)" in md and "pointing game (↑)" in md
    assert "Paired against the best method" in md
    assert "ROAD MoRF (↓)" in md and "Spearman, all layers randomized (↓)" in md
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    cached = {p: p.stat().st_mtime_ns for p in (out / "cache").rglob("*.npz")}
    assert len(cached) == 8
    before = (out / "metrics.csv").read_bytes()
    evaluate(_job(boxes), root, out)
    assert {p: p.stat().st_mtime_ns for p in cached} == cached  # nothing recomputed
    assert (out / "metrics.csv").read_bytes() == before
    evaluate(_job(boxes, methods=("gradcam", "layercam", "xgradcam")), root, out)
    assert {p: p.stat().st_mtime_ns for p in cached} == cached  # only the new method ran
    assert len(list((out / "cache").rglob("xgradcam/*.npz"))) == 4
    evaluate(_job(boxes, methods=("gradcam",), n_steps=4), root, out)  # other settings: a new cache folder
    assert len(list((out / "cache").rglob("gradcam/*.npz"))) == 8


def test_sanity_columns_separate_a_class_agnostic_method(pets, tmp_path):
    # Re-drawing only the classifier cannot change Eigen-CAM (the first principal component of the
    # layer's activations, computed before the classifier): rank correlation exactly 1. Grad-CAM's
    # channel weights come from the classifier, so its map must change.
    root, boxes = pets
    table = evaluate(_job(boxes, methods=("eigencam", "gradcam"), road=False), root, tmp_path / "eval")
    assert table.value("eigencam", "random_top_spearman")["mean"] == pytest.approx(1.0, abs=1e-9)
    assert table.value("gradcam", "random_top_spearman")["mean"] < 0.9
    for method in ("eigencam", "gradcam"):
        assert table.value(method, "random_all_spearman")["mean"] < 0.9
        assert table.value(method, "road_morf")["n"] == 0  # --no-road: the column is left out
    md = (tmp_path / "eval" / "metrics.md").read_text(encoding="utf-8")
    assert "ROAD" not in md and "Spearman, classifier randomized (↓)" in md


def test_cli_evaluate_and_its_mistakes(pets, tmp_path):
    root, boxes = pets
    runner = CliRunner()
    base = ["evaluate", "--model", MODEL, "--layer", "conv3", "--input-size", "32", "--steps", "4", "--no-progress"]
    out = tmp_path / "o"
    res = runner.invoke(
        main,
        [
            *base,
            "--images-dir",
            str(root),
            "--boxes",
            str(boxes),
            "--method",
            "gradcam",
            "--limit",
            "2",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "2 images" in res.output and "| gradcam |" in res.output
    bad_boxes = tmp_path / "bad.csv"
    bad_boxes.write_text("x.jpg,1,2,3\n", encoding="utf-8")
    other = tmp_path / "other.csv"
    other.write_text("nothing.jpg,1,2,3,4\n", encoding="utf-8")
    for args, message in [
        (["--images-dir", str(tmp_path / "missing")], "is not a folder"),
        (["--images-dir", str(root), "--boxes", str(bad_boxes)], "line 1 should be 'filename,x0,y0,x1,y1'"),
        (["--images-dir", str(root), "--boxes", str(other)], "No image of"),
        (["--images-dir", str(root), "--method", "lime"], "Unknown method 'lime'"),
    ]:
        res = runner.invoke(main, [*base, *args, "--out", str(tmp_path / "bad")])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output and "Traceback" not in res.output
        assert not (tmp_path / "bad").exists()


def test_torch_and_paddle_tables_agree_on_twin_weights(pets, tmp_path):
    # The whole pipeline (CAMs, curves, ROAD's seeded imputation, the randomized copies whose values are
    # drawn per layer name) on the same weights in both frameworks: every cell of the table agrees.
    root, boxes = pets
    tables = {}
    for fw, model in (("torch", MODEL), ("paddle", "tests._cli_models:tiny_catdog_paddle_twin")):
        job = _job(boxes, methods=("gradcam", "eigencam"), model=model, framework=fw)
        evaluate(job, root, tmp_path / fw)
        tables[fw] = _csv(tmp_path / fw / "metrics.csv")
    assert tables["torch"].keys() == tables["paddle"].keys()
    for key, row in tables["torch"].items():
        other = tables["paddle"][key]
        for col in ("n", "mean", "ci95_low", "ci95_high"):
            a, b = float(row[col]), float(other[col])
            if np.isnan(a):
                assert np.isnan(b), (key, col)
                continue
            # metrics.csv keeps 6 significant digits; the frameworks agree to that (measured: identical strings
            # in all but one cell, which differs in the last digit)
            assert b == pytest.approx(a, rel=2e-5, abs=2e-6), (key, col)
