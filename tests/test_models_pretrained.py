"""The pretrained EfficientNet-Lite0 in both frameworks, its torch-free checkpoint reader and the model registry.

Photos are scikit-image's CC0 images; class 285 is 'Egyptian cat', 281-285 are the cat classes.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visualization.models import (
    CAT_CLASSES,
    DOG_CLASSES,
    UnknownModelError,
    available_models,
    imagenet_class_names,
    load_model,
    preprocess,
)
from visualization.models.checkpoint import (
    RestrictedUnpickler,
    UnsafeCheckpointError,
    efficientnet_lite0_path,
    load_state_dict,
)

skdata = pytest.importorskip("skimage.data")

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
REPO = Path(__file__).resolve().parents[1]
PARITY_ATOL = 1e-4


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    """The four photos, preprocessed: (4, 3, 224, 224) float32."""
    return np.stack([preprocess(getattr(skdata, name)())[0] for name in PHOTOS])


@pytest.fixture(scope="module")
def torch_model():
    pytest.importorskip("torch")
    return load_model("efficientnet-lite0", framework="torch")


@pytest.fixture(scope="module")
def torch_logits(torch_model, batch) -> np.ndarray:
    import torch

    with torch.no_grad():
        return torch_model(torch.from_numpy(batch)).numpy()


@pytest.fixture(scope="module")
def paddle_logits(batch) -> np.ndarray:
    paddle = pytest.importorskip("paddle")
    model = load_model("efficientnet-lite0", framework="paddle")
    with paddle.no_grad():
        return model(paddle.to_tensor(batch)).numpy()


# ---------------------------------------------------------------------------- checkpoint reader
def test_reader_is_bit_exact_against_torch_load():
    torch = pytest.importorskip("torch")
    path = efficientnet_lite0_path()
    ours = load_state_dict(path)
    ref = torch.load(path, weights_only=True)
    assert isinstance(ours, OrderedDict)
    assert list(ours) == list(ref)
    for key, tensor in ref.items():
        want = tensor.numpy()
        got = ours[key]
        assert got.dtype == want.dtype and got.shape == want.shape, key
        assert got.flags.c_contiguous
        assert got.tobytes() == np.ascontiguousarray(want).tobytes(), key


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_reader_handles_views_dtypes_and_both_formats(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    saved = {
        "transposed": base.t(),  # non-contiguous strides
        "offset": base[1:, 2:],  # storage offset + strides
        "half": base.half(),
        "long": torch.tensor(7),  # 0-d
        "empty": torch.zeros(0, 3),
        "bool": base > 10,
    }
    path = tmp_path / "sd.pth"
    torch.save(saved, path, _use_new_zipfile_serialization=zip_format)
    got = load_state_dict(path)
    for key, tensor in saved.items():
        np.testing.assert_array_equal(got[key], tensor.numpy(), err_msg=key)
        assert got[key].dtype == tensor.numpy().dtype and got[key].shape == tuple(tensor.shape)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"weight": _Evil(marker)}, protocol=2)
    with pytest.raises(UnsafeCheckpointError, match=r"refusing to load global '(posix|nt|os)\.system'"):
        RestrictedUnpickler(io.BytesIO(payload)).load()
    # The same payload as the state-dict pickle of a legacy checkpoint file.
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(payload)
    with pytest.raises(UnsafeCheckpointError, match=r"only collections\.OrderedDict"):
        load_state_dict(path)
    assert not marker.exists()
    # BUILD (set attributes) on an admitted stand-in, e.g. to make torch.FloatStorage read as dtype 'O'.
    build = b"\x80\x02ctorch\nFloatStorage\n}X\x05\x00\x00\x00dtypeX\x01\x00\x00\x00Osb."
    with pytest.raises(UnsafeCheckpointError, match="tried to set the state"):
        RestrictedUnpickler(io.BytesIO(build)).load()


def test_reader_rejects_non_checkpoint(tmp_path):
    path = tmp_path / "not.pth"
    path.write_bytes(pickle.dumps([1, 2, 3]) * 3)
    with pytest.raises(ValueError, match="not a torch checkpoint"):
        load_state_dict(path)
    path.write_bytes(b"definitely not a pickle")
    with pytest.raises(ValueError, match="not a torch checkpoint"):
        load_state_dict(path)


# ---------------------------------------------------------------------------- architecture
def test_torch_state_dict_matches_checkpoint_and_paddle_names(torch_model):
    paddle = pytest.importorskip("paddle")
    from visualization.paddle.efficientnet import EfficientNetLite0 as PaddleNet

    ckpt = load_state_dict(efficientnet_lite0_path())
    assert {k: v.shape for k, v in ckpt.items()} == {k: tuple(v.shape) for k, v in torch_model.state_dict().items()}
    torch_names = [n for n, _ in torch_model.named_modules() if n]
    paddle_names = [n for n, _ in PaddleNet().named_sublayers()]
    assert torch_names == paddle_names
    assert isinstance(PaddleNet()._bn1, paddle.nn.BatchNorm2D)


# ---------------------------------------------------------------------------- predictions
def test_chelsea_is_a_cat_in_both_frameworks(torch_logits, paddle_logits):
    names = imagenet_class_names()
    assert names[285] == "Egyptian cat" and len(names) == len(set(names)) == 1000
    for logits in (torch_logits, paddle_logits):
        top3 = np.argsort(-logits[0])[:3]
        assert top3[0] in CAT_CLASSES, [names[i] for i in top3]
        assert 285 in top3
    assert np.argmax(torch_logits[1]) == 967  # coffee: espresso


def test_torch_and_paddle_logits_agree(torch_logits, paddle_logits):
    assert np.abs(torch_logits - paddle_logits).max() <= PARITY_ATOL


def test_paddle_loads_weights_where_torch_cannot_be_imported(tmp_path, torch_logits):
    pytest.importorskip("paddle")
    script = textwrap.dedent(
        f"""
        import sys

        class BlockTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
                return None

        sys.meta_path.insert(0, BlockTorch())
        import numpy as np
        import visualization.models as vm
        assert "torch" not in sys.modules and "paddle" not in sys.modules, "importing visualization.models loaded a framework"
        from skimage.data import chelsea
        import paddle
        model = vm.load_model("efficientnet-lite0", framework="paddle")
        x, _ = vm.preprocess(chelsea())
        with paddle.no_grad():
            np.save({str(tmp_path / "logits.npy")!r}, model(paddle.to_tensor(x[None])).numpy()[0])
        assert "torch" not in sys.modules
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    logits = np.load(tmp_path / "logits.npy")
    assert np.abs(logits - torch_logits[0]).max() <= PARITY_ATOL


def test_gradcam_on_a_late_block(torch_model, batch):
    pytest.importorskip("torch")
    import torch

    from visualization.pytorch.cam_visualizer import GradCAM

    heatmap = GradCAM(torch_model, "_blocks.15").generate_cam(torch.from_numpy(batch[:1]), target_class=285)
    assert heatmap.shape == (224, 224)
    assert np.isfinite(heatmap).all() and heatmap.min() >= 0.0 and heatmap.max() <= 1.0


# ---------------------------------------------------------------------------- registry and helpers
def test_registry_errors_and_variants():
    assert available_models() == ["catdogcnn", "efficientnet-lite0"]
    with pytest.raises(UnknownModelError, match=r"unknown model 'resnet50'.*catdogcnn, efficientnet-lite0"):
        load_model("resnet50")
    with pytest.raises(UnknownModelError, match="unknown framework 'jax'"):
        load_model("efficientnet-lite0", framework="jax")
    with pytest.raises(ValueError, match="no pretrained weights"):
        load_model("catdogcnn", framework="torch", pretrained=True)


def test_new_head_keeps_pretrained_features(torch_model):
    import torch

    model = load_model("EfficientNet_Lite0", framework="torch", num_classes=2)
    assert model._fc.weight.shape == (2, 1280)
    assert torch.equal(model._conv_head.weight, torch_model._conv_head.weight)
    catdog = load_model("catdogcnn", framework="torch", image_size=32)
    assert catdog(torch.zeros(1, 3, 32, 32)).shape == (1, 2)


def test_new_head_in_paddle():
    pytest.importorskip("paddle")
    model = load_model("efficientnet-lite0", framework="paddle", num_classes=2)
    assert tuple(model._fc.weight.shape) == (1280, 2)
    assert not model.training


def test_preprocess_inputs(tmp_path):
    arr = skdata.chelsea()
    path = tmp_path / "cat.png"
    Image.fromarray(arr).save(path)
    x_arr, crop = preprocess(arr)
    x_path, _ = preprocess(path)
    x_pil, _ = preprocess(Image.fromarray(arr).convert("RGBA"))
    assert x_arr.shape == (3, 224, 224) and x_arr.dtype == np.float32 and crop.size == (224, 224)
    np.testing.assert_array_equal(x_arr, x_path)
    np.testing.assert_array_equal(x_arr, x_pil)
    assert -1.0 <= x_arr.min() and x_arr.max() <= 1.0
    gray, _ = preprocess(skdata.camera(), size=64, resize=80)
    assert gray.shape == (3, 64, 64)
    assert list(CAT_CLASSES) == [281, 282, 283, 284, 285] and len(DOG_CLASSES) == 118
    with pytest.raises(TypeError, match="uint8"):
        preprocess(arr.astype(np.float64))
