"""No code from a weights file, ever (issue #17, part 1).

Every reader of weights is fed a pickle whose ``__reduce__`` runs a command, in every format it
reads (torch zip, torch legacy, a plain pickle, Paddle ``.pdparams`` / ``.pdopt`` in pickle protocols
2, 3 and 4, ``paddle.save`` itself): the command must not run, and ``cnnvis`` must end with exit
status 2 and one message that names the file, says it holds something other than tensors and does not
advise loading it unsafely. The restricted Paddle reader must also read back, bit for bit, everything
``paddle.save`` writes for a state dict (model, optimizer, nested checkpoint, every protocol).
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from visualization.cli import main
from visualization.convert import load_state_dict_file
from visualization.core.errors import WeightsFileError
from visualization.models.checkpoint import CheckpointFormatError, UnsafeCheckpointError, load_state_dict
from visualization.models.pdparams import PaddleUnpickler, detect_format, load_pdparams

from ._cli_models import tiny_catdog, tiny_catdog_paddle

FACTORY = {"torch": "tests._cli_models:tiny_catdog", "paddle": "tests._cli_models:tiny_catdog_paddle"}


def _explain(framework: str, *args: str):
    """``cnnvis explain`` on the tiny cat/dog model of ``framework``, Grad-CAM only, no progress bar."""
    head = ["explain", "--framework", framework, "--model", FACTORY[framework], "--input-size", "32"]
    return CliRunner().invoke(main, [*head, "--method", "gradcam", "--no-progress", *args])


class _System:
    """Unpickling this runs ``os.system(command)``: the trick of the issue."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Exec:
    """Unpickling this runs Python code through ``builtins.exec``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def _payloads(marker: Path) -> dict[str, object]:
    """Malicious objects, each of which creates ``marker`` when unpickled."""
    return {
        "os.system": _System(f"touch '{marker}'"),
        "exec": _Exec(f"open({str(marker)!r}, 'w').close()"),
    }


def _write(kind: str, path: Path, evil: object) -> Path:
    """Write ``evil`` inside an otherwise plausible state dict, in the file format ``kind``."""
    good = {"conv1.weight": np.ones((2, 3, 3, 3), np.float32)}
    if kind == "torch-zip":
        torch.save({"conv1.weight": torch.ones(2, 3, 3, 3), "fc.weight": evil}, path)
    elif kind == "torch-legacy":
        torch.save(
            {"conv1.weight": torch.ones(2, 3, 3, 3), "fc.weight": evil}, path, _use_new_zipfile_serialization=False
        )
    elif kind.startswith("pickle-p"):
        path.write_bytes(pickle.dumps({**good, "fc.weight": evil}, protocol=int(kind[-1])))
    elif kind == "pdparams-name-table":  # hidden in paddle.save's bookkeeping entry
        path.write_bytes(pickle.dumps({**good, "StructuredToParameterName@@": {"conv1.weight": evil}}, protocol=4))
    elif kind == "paddle.save":
        paddle.save({"fc.weight": evil}, str(path))
    else:
        raise AssertionError(kind)
    return path


KINDS = ["torch-zip", "torch-legacy", "pickle-p2", "pickle-p3", "pickle-p4", "pdparams-name-table", "paddle.save"]
SUFFIX = {"torch-zip": ".pt", "torch-legacy": ".pth"}


def _evil_files(tmp_path: Path) -> list[tuple[str, Path, Path]]:
    """(label, file, marker) for every format x payload; the suffix is the one a user would see."""
    out = []
    for kind in KINDS:
        for name, _ in _payloads(tmp_path / "m").items():
            marker = tmp_path / f"PWNED-{kind}-{name}"
            evil = _payloads(marker)[name]
            suffix = SUFFIX.get(kind, ".pdopt" if kind == "pickle-p3" else ".pdparams")
            out.append((f"{kind}/{name}", _write(kind, tmp_path / f"evil-{kind}-{name}{suffix}", evil), marker))
    return out


def _assert_refused_message(text: str, path: Path) -> None:
    assert "Traceback" not in text
    assert "weights_only" not in text and "unsafe" not in text.lower().replace("unsafecheckpointerror", "")
    assert path.name in text
    assert "holds something other than tensors" in text


# ---------------------------------------------------------------- cnnvis --weights, both frameworks
@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_cnnvis_refuses_every_payload_without_running_it(tmp_path, framework):
    photo = tmp_path / "cat.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photo)
    cases = _evil_files(tmp_path)
    for label, path, marker in cases:
        out = tmp_path / f"out-{marker.name}"
        res = _explain(framework, "--weights", str(path), "--image", str(photo), "--out", str(out))
        assert not marker.exists(), f"{framework} {label}: the payload ran"
        assert res.exit_code == 2, (label, res.output)
        assert res.output.count("Error:") == 1, (label, res.output)
        _assert_refused_message(res.output, path)
        assert not out.exists(), label  # nothing half-written
    assert len(cases) == 14


def test_cnnvis_images_dir_refuses_a_payload_before_any_batch(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photos / "a.png")
    marker = tmp_path / "PWNED"
    path = _write("pickle-p4", tmp_path / "evil.pdparams", _System(f"touch '{marker}'"))
    res = _explain("paddle", "--weights", str(path), "--images-dir", str(photos), "--out", str(tmp_path / "o"))
    assert not marker.exists() and res.exit_code == 2, res.output
    _assert_refused_message(res.output, path)


# ---------------------------------------------------------------- the library's readers
def test_every_reader_refuses_every_payload(tmp_path):
    """load_pdparams, the torch-free checkpoint reader, convert.load_state_dict_file and both backends."""
    from visualization.paddle._backend import BACKEND as PADDLE
    from visualization.pytorch._backend import BACKEND as TORCH

    readers = {
        "load_pdparams": load_pdparams,
        "load_state_dict": load_state_dict,
        "load_state_dict_file": load_state_dict_file,
        "torch backend": TORCH.read_weights,
        "paddle backend": PADDLE.read_weights,
    }
    n = 0
    for label, path, marker in _evil_files(tmp_path):
        for name, read in readers.items():
            with pytest.raises((UnsafeCheckpointError, CheckpointFormatError, WeightsFileError, RuntimeError)) as info:
                read(str(path))
            assert not marker.exists(), f"{name} ran the payload of {label}"
            assert "weights_only=False" not in str(info.value) and "weights_only` set to `False" not in str(info.value)
            n += 1
    assert n == 70


def test_torch_backend_drops_torchs_advice_to_load_unsafely(tmp_path):
    from visualization.pytorch._backend import BACKEND as TORCH

    path = _write("torch-zip", tmp_path / "evil.pt", _System(f"touch '{tmp_path / 'x'}'"))
    with pytest.raises(UnsafeCheckpointError) as info:
        TORCH.read_weights(str(path))
    assert "'posix.system'" in str(info.value) and "weights_only" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # torch's text is not chained either


@pytest.mark.parametrize(
    "payload,why",
    [
        # numpy globals a state dict never needs
        (b"\x80\x04cnumpy\nload\n.", "numpy.load"),
        (b"\x80\x04cnumpy.testing._private.utils\nrunstring\n.", "runstring"),
        # allowed globals called with arguments outside their narrow use
        (pickle.dumps(np.array(["text"])), "dtype 'U4'"),
        (pickle.dumps(np.array([None], dtype=object)), "dtype 'O8'"),
        (pickle.dumps(np.zeros(2, dtype=[("a", "<f4")])), "'V4'"),
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.", "_codecs.encode"),
        (b"\x80\x02cnumpy._core.multiarray\n_reconstruct\nK\x01K\x00\x85C\x01b\x87R.", "other than an ndarray"),
        (b"\x80\x02cnumpy\ndtype\n.", "bare"),
    ],
)
def test_restricted_paddle_unpickler_admits_only_what_a_state_dict_needs(payload, why):
    with pytest.raises((UnsafeCheckpointError, CheckpointFormatError)) as info:
        load_pdparams(io.BytesIO(payload))
    assert why in str(info.value)


def test_restricted_paddle_unpickler_checks_bytes_against_shape():
    raw = pickle.dumps({"w": np.arange(6, dtype=np.float32)}, protocol=4)
    # claim 7 elements for 6 floats' worth of bytes
    forged = raw.replace(b"K\x06\x85", b"K\x07\x85")
    assert forged != raw
    with pytest.raises(CheckpointFormatError, match="needs 28 bytes"):
        load_pdparams(io.BytesIO(forged))
    with pytest.raises(CheckpointFormatError, match="not a Paddle state dict"):
        load_pdparams(io.BytesIO(raw[:40]))
    assert PaddleUnpickler(io.BytesIO(pickle.dumps([1, "a", 2.5]))).load() == [1, "a", 2.5]


# ---------------------------------------------------------------- what paddle.save writes, read bit for bit
def _same(mine, ref) -> None:
    assert type(mine) is type(ref) or (isinstance(mine, dict) and isinstance(ref, dict)), (type(mine), type(ref))
    if isinstance(ref, np.ndarray):
        assert mine.dtype == ref.dtype and mine.shape == ref.shape and mine.tobytes() == ref.tobytes()
    elif isinstance(ref, dict):
        assert list(mine) == list(ref)
        for k in ref:
            _same(mine[k], ref[k])
    else:
        assert mine == ref


def _train_two_steps(model, params=None):
    sched = paddle.optimizer.lr.StepDecay(0.1, 1)
    opt = paddle.optimizer.Adam(learning_rate=sched, parameters=params or model.parameters())
    for _ in range(2):
        model(paddle.rand([2, 3, 32, 32])).sum().backward()
        opt.step()
        opt.clear_grad()
        sched.step()
    return opt


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_reads_what_paddle_save_writes_bit_exact(tmp_path, protocol):
    paddle.seed(1)
    model = tiny_catdog_paddle()
    opt = _train_two_steps(model)
    files = {
        "catdog.pdparams": model.state_dict(),  # what examples/paddle/cat_dog_classifier.py writes
        "catdog.pdopt": opt.state_dict(),  # moments, beta powers and the LR scheduler's plain dict
        "half.pdparams": {"w": paddle.to_tensor(np.arange(4), dtype="float16"), "b": paddle.to_tensor([True])},
        "nested.pdparams": {"model": model.state_dict(), "epoch": 3, "note": "tuple((name, array)) inside"},
    }
    for name, obj in files.items():
        path = tmp_path / name
        paddle.save(obj, str(path), protocol=protocol)
        ref = paddle.load(str(path), return_numpy=True)  # our own file: trusted
        _same(load_pdparams(path), ref)
        assert detect_format(path) == "paddle"
    assert load_pdparams(tmp_path / "catdog.pdopt")["LR_Scheduler"] == {
        "last_epoch": 2,
        "last_lr": pytest.approx(0.001),
    }


def test_reads_efficientnet_checkpoint_bit_exact_and_loads_it(tmp_path):
    """The tutorial's EfficientNet-Lite0 checkpoint (bfloat16-free float32, BatchNorm statistics included)."""
    from visualization.models import load_model

    model = load_model("efficientnet-lite0", "paddle", num_classes=2)
    path = tmp_path / "efficientnet-lite0.pdparams"
    paddle.save(model.state_dict(), str(path))
    mine = load_pdparams(path)
    sd = model.state_dict()
    assert list(mine) == list(sd) and len(sd) > 200
    for k, v in sd.items():
        assert mine[k].tobytes() == v.numpy().tobytes(), k
    twin = load_model("efficientnet-lite0", "paddle", num_classes=2, pretrained=True)
    twin.set_state_dict(mine)
    x = paddle.rand([1, 3, 224, 224])
    assert np.array_equal(model(x).numpy(), twin(x).numpy())


def test_slices_of_big_arrays_are_joined_like_paddle_load(tmp_path):
    """Protocols 2 and 3 cut arrays over 1 GiB into ``key@@.i`` slices; the same layout, built small."""
    w = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    saved = {
        "w@@.0": w.ravel()[:10],
        "w@@.1": w.ravel()[10:],
        "b": np.ones(2, np.float32),
        "UnpackBigParamInfor@@": {"w": {"OriginShape": (2, 3, 4), "slices": ["w@@.0", "w@@.1"]}},
        "StructuredToParameterName@@": {"w": "linear_0.w_0", "b": "linear_0.b_0"},
    }
    path = tmp_path / "big.pdparams"
    path.write_bytes(pickle.dumps(saved, protocol=2))
    mine = load_pdparams(path)
    ref = paddle.load(str(path), return_numpy=True)
    assert sorted(mine) == sorted(ref) == ["b", "w"]
    assert np.array_equal(mine["w"], w) and np.array_equal(ref["w"], w)


def test_numpy_1_module_names_are_read(tmp_path):
    """Files written under numpy 1.x name numpy.core.multiarray (numpy 2: numpy._core.multiarray)."""
    arrays = {"f": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "z": np.array(2.5), "e": np.zeros((0, 3), np.int8)}
    raw = pickle.dumps(arrays, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in raw
    out = load_pdparams(io.BytesIO(raw))
    for k, v in arrays.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape and np.array_equal(out[k], v)


# ---------------------------------------------------------------- good files still load; the other framework's file
def test_cnnvis_loads_a_real_pdparams_and_names_the_other_frameworks_file(tmp_path):
    photo = tmp_path / "cat.png"
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(photo)
    good = tmp_path / "w.pdparams"
    paddle.save(tiny_catdog_paddle().state_dict(), str(good))
    pt = tmp_path / "w.pt"
    torch.save(tiny_catdog().state_dict(), pt)

    def run(framework, weights, out):
        return _explain(framework, "--weights", str(weights), "--image", str(photo), "--out", str(tmp_path / out))

    ok = run("paddle", good, "ok")
    assert ok.exit_code == 0, ok.output
    wrong = run("torch", good, "w1")
    assert (
        wrong.exit_code == 2 and "is a PaddlePaddle state dict" in wrong.output and "--framework paddle" in wrong.output
    )
    wrong = run("paddle", pt, "w2")
    assert wrong.exit_code == 2 and "is a PyTorch checkpoint" in wrong.output and "--framework torch" in wrong.output
    # and the conversion the message names works, without either framework's loader
    from visualization.convert import torch_to_paddle_state_dict

    model = tiny_catdog_paddle()
    model.set_state_dict(torch_to_paddle_state_dict(load_state_dict_file(pt), model))
