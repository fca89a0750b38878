"""``cnnvis`` with ``--framework keras`` and ``--framework all``: the same commands, reports and messages as
for PyTorch and Paddle, with numbers that agree across the three frameworks.

Kept small: 32-pixel CatDogCNN twins (``tests/_cli_models.py``), one photo, one or two methods; the
EfficientNet-Lite0 runs use one photo (and 64 pixels where the command takes ``--input-size``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import visualization.cli as cli
from visualization.cli import main

from ._cli_models import tiny_catdog, tiny_catdog_keras

CATDOG = "tests._cli_models:tiny_catdog_keras"
_KERAS_EXPLAIN = ["explain", "--framework", "keras", "--model", CATDOG, "--input-size", "32", "--no-progress"]
_ALL_EXPLAIN = ["explain", "--framework", "all", "--model", "efficientnet-lite0", "--input-size", "64"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("img") / "cat photo.png"
    Image.fromarray((rng.random((40, 50, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _probabilities(page: str) -> list[float]:
    """The probabilities column of the report's predictions table, in order."""
    table = page[page.index('id="predictions"') :]
    table = table[: table.index("</table>")]
    return [float(v) for v in re.findall(r'<td class="num">([0-9.e-]+)</td></tr>', table)]


def test_layers_lists_keras_layer_names_and_channels_first_shapes(runner):
    res = runner.invoke(main, ["layers", "--framework", "keras", "--model", CATDOG, "--input-size", "32"])
    assert res.exit_code == 0, res.output
    rows = {line.split()[0]: line.split() for line in res.output.splitlines() if line.strip()}
    assert rows["conv1"][1] == "Conv2D" and rows["conv1"][2] == "32x32x32"  # C x H x W, as for torch
    assert rows["conv3"][2] == "128x8x8" and rows["pool3"][2] == "128x4x4"
    assert "relu2" in rows


def test_explain_keras_loads_weights_h5_into_the_users_model(runner, tmp_path, photo):
    """A random Keras CatDogCNN plus torch's tiny_catdog weights saved by Keras: the report's probabilities
    are the torch model's (so the file was read and every variable assigned)."""
    weights = tmp_path / "w.weights.h5"
    tiny_catdog_keras().save_weights(str(weights))
    out = tmp_path / "out"
    res = runner.invoke(
        main,
        [
            "explain",
            "--framework",
            "keras",
            "--model",
            "tests._cli_models:random_catdog_keras",
            "--weights",
            str(weights),
            "--input-size",
            "32",
            "--image",
            str(photo),
            "--method",
            "gradcam",
            "--layer",
            "conv3",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Keras: class activation maps at &#x27;conv3&#x27;" in page and "Keras 3." in page
    from visualization.models.imagenet import IMAGENET_MEAN, IMAGENET_STD
    from visualization.report.explain import load_images

    x = torch.from_numpy(load_images([photo], 32, IMAGENET_MEAN, IMAGENET_STD)[0].array[None])
    with torch.no_grad():
        probs = torch.softmax(tiny_catdog().eval()(x).double(), 1)[0].numpy()
    assert _probabilities(page) == pytest.approx(sorted(probs, reverse=True), abs=6e-5)  # 4 significant digits


@pytest.mark.parametrize(
    "args,message",
    [
        (["--weights", "{torch_weights}"], "PyTorch"),
        (["--layer", "conv4"], "Did you mean"),
        (["--input-size", "64"], "The model expects inputs of shape (N, 32, 32, 3)"),
        (["--target-type", "segmentation"], "with Keras only class targets"),
    ],
)
def test_keras_mistakes_are_one_message_and_exit_2(runner, tmp_path, photo, args, message):
    torch_weights = tmp_path / "w.pt"
    torch.save(tiny_catdog().state_dict(), torch_weights)
    args = [a.format(torch_weights=torch_weights) for a in args]
    res = runner.invoke(
        main,
        [*_KERAS_EXPLAIN, "--image", str(photo), "--method", "gradcam", "--out", str(tmp_path / "o"), *args],
    )
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()
    if "--weights" in args:  # says which framework the file belongs to and what to run instead
        assert "--framework torch" in res.output


def test_framework_all_needs_a_zoo_model(runner, photo, tmp_path):
    res = runner.invoke(main, ["explain", "--framework", "all", "--model", CATDOG, "--image", str(photo)])
    assert res.exit_code == 2 and "--framework all needs a zoo model" in res.output


@pytest.fixture
def one_feature_layer(monkeypatch):
    """The zoo's EfficientNet report with one feature-map figure instead of three (drawing figures is most of
    a report's time)."""
    from visualization.report.explain import ZOO_LAYERS

    monkeypatch.setitem(
        ZOO_LAYERS, "efficientnet-lite0", {**ZOO_LAYERS["efficientnet-lite0"], "features": ["_blocks.4"]}
    )


def test_explain_all_compares_three_frameworks(runner, tmp_path, one_feature_layer):
    """EfficientNet-Lite0 from the shipped weights in PyTorch, Paddle and Keras on one photo at 64 px: every
    pair's logits agree to 1e-4, and the report has one difference column per pair."""
    from skimage import data

    img = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(img)
    out = tmp_path / "all"
    res = runner.invoke(
        main,
        [*_ALL_EXPLAIN, "--image", str(img), "--method", "gradcam", "--out", str(out), "--no-progress"],
    )
    assert res.exit_code == 0, res.output
    diffs = dict(re.findall(r"Largest logit difference between (\w+ and \w+): ([0-9.e+-]+)", res.output))
    assert set(diffs) == {"PyTorch and PaddlePaddle", "PyTorch and Keras", "PaddlePaddle and Keras"}
    assert all(float(v) < 1e-4 for v in diffs.values()), diffs
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "PyTorch versus PaddlePaddle versus Keras" in page
    for pair in ("torch - paddle", "torch - keras", "paddle - keras"):
        assert f"max |{pair}|" in page
    row = re.search(r"<td>Grad-CAM heatmap \(predicted class\)</td>((?:<td[^>]*>[^<]*</td>){3})", page)
    assert row, "no Grad-CAM row in the comparison table"
    assert all(float(v) < 1e-3 for v in re.findall(r">([0-9.e+-]+)<", row.group(1))), row.group(1)
    for fw in ("torch", "paddle", "keras"):
        assert (out / f"{fw}_cams_0_chelsea_png.webp").is_file()


def test_demo_keras(runner, tmp_path, monkeypatch, one_feature_layer):
    """The demo in Keras (one photo here): the pretrained model sees the cat, as in PyTorch."""
    monkeypatch.setattr(cli, "DEMO_PHOTOS", ("chelsea",))
    out = tmp_path / "demo"
    res = runner.invoke(
        main, ["demo", "--framework", "keras", "--method", "gradcam", "--out", str(out), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text(encoding="utf-8")
    table = page[page.index('id="predictions"') :]
    top = re.search(
        r"<td>chelsea \(scikit-image, CC0\)</td><td class=\"num\">1</td><td class=\"num\">(\d+)</td>", table
    )
    assert top and int(top.group(1)) in range(281, 286), "the top-1 class is not a cat"
    assert "Keras: class activation maps at &#x27;_act1&#x27;" in page
    assert sorted(p.name for p in out.iterdir() if p.name != "report.html")[0].startswith("keras_")


def test_evaluate_keras_agrees_with_torch_on_twin_weights(tmp_path):
    """``cnnvis evaluate --framework keras``: on the torch model's weights, every cell of the table equals torch's
    but the sanity check's copy with every layer re-drawn (each framework draws those weights for its own
    parameter shapes, so that copy is another random network; measured: it differs, as expected)."""
    import csv
    import shutil

    from visualization.report.evaluate import EvaluateJob, evaluate

    pets = Path(__file__).resolve().parent / "data" / "pets"
    root = tmp_path / "pets"
    for kind in ("cats", "dogs"):
        (root / kind).mkdir(parents=True)
        for src in sorted((pets / kind).glob("*.jpg"))[:2]:
            shutil.copy(src, root / kind / src.name)
    tables = {}
    for fw, model in (("torch", "tests._cli_models:tiny_catdog"), ("keras", CATDOG)):
        job = EvaluateJob(
            model=model,
            framework=fw,
            methods=["gradcam", "eigencam"],
            layer="conv3",
            input_size=32,
            batch_size=3,
            progress=False,
            n_steps=8,
        )
        evaluate(job, root, tmp_path / fw)
        with open(tmp_path / fw / "metrics.csv", encoding="utf-8") as f:
            tables[fw] = {(r["method"], r["metric"]): r for r in csv.DictReader(f)}
    assert tables["torch"].keys() == tables["keras"].keys()
    compared = 0
    for key, row in tables["torch"].items():
        if key[1].startswith("random_all"):
            continue
        for col in ("n", "mean", "ci95_low", "ci95_high"):
            a, b = float(row[col]), float(tables["keras"][key][col])
            if np.isnan(a):
                assert np.isnan(b), (key, col)
                continue
            # metrics.csv keeps 6 significant digits; a bootstrap bound moves in the last one or two
            assert b == pytest.approx(a, rel=1e-4, abs=1e-5), (key, col)
            compared += 1
    assert compared >= 60


def test_images_dir_streams_keras_maps_equal_to_torch(runner, tmp_path):
    """``explain --framework keras --images-dir``: the per-image heatmaps equal the torch twin's."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((rng.random((36, 40, 3)) * 255).astype(np.uint8)).save(folder / f"img{i}.png")
    maps = {}
    for fw, model in (("torch", "tests._cli_models:tiny_catdog"), ("keras", CATDOG)):
        out = tmp_path / fw
        res = runner.invoke(
            main,
            [
                "explain",
                "--framework",
                fw,
                "--model",
                model,
                "--input-size",
                "32",
                "--images-dir",
                str(folder),
                "--layer",
                "conv3",
                "--method",
                "gradcam",
                "--batch-size",
                "2",
                "--out",
                str(out),
                "--no-progress",
            ],
        )
        assert res.exit_code == 0, res.output
        maps[fw] = {p.name: np.load(p)["gradcam"] for p in sorted((out / "heatmaps").glob("*.npz"))}
    assert len(maps["torch"]) == 3 and maps["torch"].keys() == maps["keras"].keys()
    for name, heat in maps["torch"].items():
        assert heat.shape == (32, 32) and np.ptp(heat) > 0.1  # a real map, not a constant
        np.testing.assert_allclose(maps["keras"][name], heat, atol=1e-5)
