"""The cat-vs-dog tutorial scripts, run as a user runs them (``python examples/<fw>/cat_dog_classifier.py ...``
from the repository root), in the three frameworks (PyTorch, PaddlePaddle, Keras), plus the data helpers they
stand on.

The frameworks run side by side, one thread each, in their own processes (so Keras's TensorFlow never
meets Paddle in one process). They start from the same seeded weights and see the same input arrays and
batch order, so their numbers must agree too.

The data are the 48 Oxford-IIIT Pet photos kept in ``tests/data/pets`` (24 cats, 24 dogs), so a fresh
clone runs these tests as they are. The pretrained-head run uses ``--image-size 224 --epochs 5`` (19 + 19
images to train, 5 + 5 to validate). Over seeds 0-29 that setting scored 0.983 on average and 0.900 at
worst (one of ten wrong; the same procedure with the features computed once, which reproduces the
script's numbers exactly); seed 0, the one tested, scores 1.000, so ``>= 0.9`` has a margin of one
mistake. At 128 px the worst seed fell to 0.800 and seed 0 to 0.800, which is why the test runs at
224. ``--cam-layer _blocks.10`` keeps Score-CAM to 112 forward passes per image. The Keras script, from the
same shipped weights, scored 1.000 on seed 0 as well, and over seeds 0-4 the same accuracy as PyTorch at every
seed (1.0, 1.0, 0.9, 1.0, 1.0) with per-epoch losses within 5e-5 relative of PyTorch's.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visualization import tutorial
from visualization.datasets import (
    DatasetError,
    list_image_folder,
    load_batch,
    sort_oxford_pets,
    stratified_split,
)

REPO = Path(__file__).resolve().parents[1]
PETS = REPO / "tests" / "data" / "pets"  # 48 Oxford-IIIT Pet photos kept in the repository (see its README)
SCRIPTS = {
    "torch": "examples/pytorch/cat_dog_classifier.py",
    "paddle": "examples/paddle/cat_dog_classifier.py",
    "keras": "examples/keras/cat_dog_classifier.py",
}
CHECKPOINT = {"torch": ".pt", "paddle": ".pdparams", "keras": ".weights.h5"}
CAM_PNGS = [f"{m}_{c}.png" for m in ("gradcam", "gradcamplusplus", "scorecam") for c in ("cats", "dogs")]


@pytest.fixture(scope="module")
def pets() -> Path:
    if not (PETS / "cats").is_dir() or not (PETS / "dogs").is_dir():
        pytest.fail(f"the in-repository pet photos are missing: expected {PETS}/cats and {PETS}/dogs")
    return PETS


def run_all(tmp_path: Path, *args: str) -> dict[str, tuple[str, Path]]:
    """Run the three scripts with the same arguments at once; return ``{framework: (stdout, out_dir)}``."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MPLBACKEND": "Agg",
    }
    procs = {}
    for fw, script in SCRIPTS.items():
        out = tmp_path / fw
        log = (tmp_path / f"{fw}.stdout").open("w"), (tmp_path / f"{fw}.stderr").open("w")
        cmd = [sys.executable, script, *args, "--out", str(out)]
        procs[fw] = (subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log[0], stderr=log[1]), log, out)
    results = {}
    for fw, (proc, log, out) in procs.items():
        code = proc.wait(timeout=600)
        for f in log:
            f.close()
        stdout = (tmp_path / f"{fw}.stdout").read_text()
        stderr = (tmp_path / f"{fw}.stderr").read_text()
        assert code == 0, (
            f"{SCRIPTS[fw]} exited with {code}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}"
        )
        results[fw] = (stdout, out)
    return results


def last_value(stdout: str, key: str) -> float:
    """The float of the required last line ``<key>=<float>``."""
    last = stdout.strip().splitlines()[-1]
    m = re.fullmatch(rf"{key}=(\S+)", last)
    assert m, f"the last line must be '{key}=<float>'; got {last!r}"
    return float(m.group(1))


def gif_frames(path: Path) -> int:
    with Image.open(path) as gif:
        return gif.n_frames


def check_common_files(out: Path, fw: str, model: str, epochs: int) -> None:
    assert (out / f"{model}{CHECKPOINT[fw]}").stat().st_size > 10_000
    for name in [*CAM_PNGS, "compare_cam_methods.png"]:
        with Image.open(out / name) as img:
            assert img.format == "PNG" and min(img.size) >= 300, name
    surface = next(out.glob("surface_*.png"))
    html = surface.with_suffix(".html").read_text(encoding="utf-8")
    assert len(html) > 1_000_000 and '<script src="https://cdn.plot.ly' not in html  # plotly.js embedded
    (gif,) = out.glob("training_*.gif")
    assert gif_frames(gif) == epochs + 1  # before training, then after each epoch
    run = json.loads((out / "run.json").read_text())
    assert run["framework"] == fw and run["classes"] == ["cats", "dogs"] and len(run["history"]) == epochs


# ---------------------------------------------------------------- the scripts, as a user runs them
def test_pretrained_head_separates_cats_from_dogs_in_every_framework(pets, tmp_path):
    epochs = 5
    runs = run_all(
        tmp_path, "--data-dir", str(pets), "--image-size", "224", "--epochs", str(epochs), "--cam-layer", "_blocks.10"
    )
    acc = {}
    for fw, (stdout, out) in runs.items():
        acc[fw] = last_value(stdout, "val_accuracy")
        assert acc[fw] >= 0.9, f"{fw}: a linear head on pretrained features should exceed 0.9, got {acc[fw]}"
        check_common_files(out, fw, "efficientnet-lite0", epochs)
        assert (out / "filters__conv_stem.png").is_file()
        assert (out / "training_gradcam__blocks.10.gif").is_file()
        assert "features are frozen" in stdout  # the summary says why Grad-CAM is animated
        run = json.loads((out / "run.json").read_text())
        assert run["train_counts"] == {"cats": 19, "dogs": 19} and run["val_counts"] == {"cats": 5, "dogs": 5}
    # same weights, inputs and batch order: the frameworks agree to float precision
    hist = {fw: json.loads((out / "run.json").read_text())["history"] for fw, (_, out) in runs.items()}
    assert acc["torch"] == acc["paddle"] == acc["keras"]
    for fw in ("paddle", "keras"):
        np.testing.assert_allclose(
            [h["loss"] for h in hist[fw]], [h["loss"] for h in hist["torch"]], rtol=1e-4, atol=1e-5, err_msg=fw
        )


def test_small_cnn_from_scratch_trains_in_every_framework(pets, tmp_path):
    epochs = 2
    runs = run_all(
        tmp_path,
        "--data-dir",
        str(pets),
        "--model",
        "catdogcnn",
        "--image-size",
        "64",
        "--limit",
        "20",
        "--epochs",
        str(epochs),
        "--batch-size",
        "8",
    )
    losses = {}
    for fw, (stdout, out) in runs.items():
        acc = last_value(stdout, "val_accuracy")
        assert math.isfinite(acc) and 0.0 <= acc <= 1.0
        assert acc * 8 == round(acc * 8)  # 8 validation images (4 per class)
        check_common_files(out, fw, "catdogcnn", epochs)
        for name in ("filters_conv1.png", "filters_conv2.png", "filters_conv3.png", "feature_maps_conv3.png"):
            assert (out / name).is_file(), name
        assert (out / "training_feature_maps_conv2.gif").is_file()
        run = json.loads((out / "run.json").read_text())
        assert run["train_counts"] == {"cats": 16, "dogs": 16} and run["val_counts"] == {"cats": 4, "dogs": 4}
        losses[fw] = [h["loss"] for h in run["history"]]
        assert all(math.isfinite(v) and v > 0 for v in losses[fw])
    for fw in ("paddle", "keras"):
        np.testing.assert_allclose(losses[fw], losses["torch"], rtol=1e-3, err_msg=fw)


def test_without_data_the_demo_judges_the_bundled_photos(tmp_path):
    runs = run_all(tmp_path)
    probs = {}
    for fw, (stdout, out) in runs.items():
        assert last_value(stdout, "demo_accuracy") == 1.0  # chelsea is a cat; coffee, astronaut, rocket neither
        assert "sort_oxford_pets" in stdout and "Kaggle" in stdout  # says how to get a real data set
        photos = {p["name"]: p for p in json.loads((out / "run.json").read_text())["photos"]}
        assert photos["chelsea"]["verdict"] == "cat" and photos["chelsea"]["p_cat"] > 0.8
        assert all(photos[n]["p_cat"] + photos[n]["p_dog"] < 0.1 for n in ("coffee", "astronaut", "rocket"))
        for name in ("chelsea", "coffee", "astronaut", "rocket", "cat_vs_dog"):
            assert (out / f"gradcam_{name}.png").is_file()
        probs[fw] = [[p["p_cat"], p["p_dog"]] for p in photos.values()]
    for fw in ("paddle", "keras"):
        np.testing.assert_allclose(probs[fw], probs["torch"], atol=1e-4, err_msg=fw)


def test_keras_script_logs_its_training_to_tensorboard(pets, tmp_path):
    """``--tensorboard DIR`` in the Keras script: every epoch's loss and accuracies as the printed history,
    the probe images' feature maps and Grad-CAM from step 0 (before training) on."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    out, board = tmp_path / "out", tmp_path / "tb"
    args = ["--data-dir", str(pets), "--model", "catdogcnn", "--image-size", "32", "--limit", "6", "--epochs", "2"]
    cmd = [sys.executable, SCRIPTS["keras"], *args, "--batch-size", "4", "--out", str(out), "--tensorboard", str(board)]
    proc = subprocess.run(cmd, cwd=REPO, env={**env, "MPLBACKEND": "Agg"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"tensorboard --logdir {board}" in proc.stdout
    history = json.loads((out / "run.json").read_text())["history"]
    acc = EventAccumulator(str(board), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    logged = [(e.step, e.value) for e in acc.Scalars("loss/train")]
    assert [step for step, _ in logged] == [1, 2]
    np.testing.assert_allclose([v for _, v in logged], [h["loss"] for h in history], rtol=1e-6)
    val = [e.value for e in acc.Scalars("accuracy/val")]
    np.testing.assert_allclose(val, [h["val_accuracy"] for h in history], rtol=1e-6)
    cat, dog = json.loads((out / "run.json").read_text())["probe_images"]  # tags are named after the probe files
    for tag in (f"gradcam/{cat}", f"gradcam/{dog}", f"feature_maps/conv2/{cat}", "filters/conv1"):
        assert [e.step for e in acc.Images(tag)] == [0, 1, 2], tag


# ---------------------------------------------------------------- the data helpers (fast, in-process)
def test_oxford_pet_species_follow_the_case_of_the_file_name(pets, tmp_path):
    """The rule the README gives (capitalised breed = cat) reproduces the sample's own cats/dogs sorting."""
    flat = tmp_path / "images"
    flat.mkdir()
    for f in list_image_folder(pets).paths:
        (flat / f.name).symlink_to(f)
    assert sort_oxford_pets(flat, tmp_path / "sorted") == {"cats": 24, "dogs": 24}
    for cls in ("cats", "dogs"):
        assert sorted(p.name for p in (tmp_path / "sorted" / cls).iterdir()) == sorted(
            p.name for p in (pets / cls).iterdir()
        )


def test_split_is_stratified_seeded_and_disjoint(pets):
    folder = list_image_folder(pets)
    train, val = stratified_split(folder, 0.2, seed=3)
    assert val.counts() == {"cats": 5, "dogs": 5} and len(train) + len(val) == 48
    assert not set(train.paths) & set(val.paths)
    assert stratified_split(folder, 0.2, seed=3)[1].paths == val.paths
    assert stratified_split(folder, 0.2, seed=4)[1].paths != val.paths


def test_batches_use_the_model_normalization(pets):
    path = list_image_folder(pets).paths[0]
    x_eff, crops = load_batch([path], 64, "efficientnet-lite0")
    x_cnn, _ = load_batch([path], 64, "catdogcnn")
    rgb = np.asarray(crops[0], np.float32).transpose(2, 0, 1)
    np.testing.assert_allclose(x_eff[0], (rgb - 127.0) / 128.0, atol=1e-6)
    mean, std = np.array([123.675, 116.28, 103.53])[:, None, None], np.array([58.395, 57.12, 57.375])[:, None, None]
    np.testing.assert_allclose(x_cnn[0], (rgb - mean) / std, atol=1e-5)
    flipped, _ = load_batch([path], 64, "catdogcnn", flip=[True])
    np.testing.assert_array_equal(flipped[0], x_cnn[0][:, :, ::-1])


def test_unusable_folders_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_image_folder(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no class subfolders"):
        list_image_folder(tmp_path)
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    Image.new("RGB", (8, 8)).save(tmp_path / "dogs" / "a.png")
    with pytest.raises(DatasetError, match=r"cats.*holds no images"):
        list_image_folder(tmp_path)
    Image.new("RGB", (8, 8)).save(tmp_path / "cats" / "b.JPG")
    assert list_image_folder(tmp_path).counts() == {"cats": 1, "dogs": 1}
    with pytest.raises(DatasetError, match="at least 2"):
        stratified_split(list_image_folder(tmp_path), 0.5)
    with pytest.raises(DatasetError, match="classes"):
        list_image_folder(tmp_path, classes=["cat", "dog"])


def test_the_scripts_take_the_same_options_and_start_from_the_same_weights():
    args = tutorial.parse_args("paddle", ["--data-dir", "d", "--model", "catdogcnn", "--image-size", "64"])
    assert (args.lr, args.cam_layer, str(args.out)) == (1e-3, "conv3", "out/cat_dog_paddle")
    flags = {fw: sorted(a.option_strings[-1] for a in tutorial.build_parser(fw)._actions) for fw in SCRIPTS}
    assert flags["torch"] == flags["paddle"] == flags["keras"]
    assert str(tutorial.parse_args("keras", ["--data-dir", "d"]).out) == "out/cat_dog_keras"
    w1, w2 = (tutorial.initial_weights("catdogcnn", 2, 64, seed=0) for _ in range(2))
    assert w1["fc1.weight"].shape == (512, 128 * 8 * 8) and all(np.array_equal(w1[k], w2[k]) for k in w1)
    with pytest.raises(SystemExit):
        tutorial.parse_args("torch", ["--data-dir", "d", "--model", "catdogcnn", "--image-size", "60"])
