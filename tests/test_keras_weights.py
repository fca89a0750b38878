"""Keras weights files through ``visualization.core.weights.load_weights``: h5py only, one clear error each way.

Files are written by Keras itself (``save_weights``, ``model.save``), by torch and Paddle, and by hand
with h5py. After every error the model's weights are the ones it had.
"""

from __future__ import annotations

import pickle
import zipfile

import h5py
import numpy as np
import paddle
import pytest
import torch

from visualization.core.errors import InvalidInputError, StateDictMismatchError, WeightsFileError
from visualization.core.weights import load_weights
from visualization.models.pdparams import detect_format

keras = pytest.importorskip("keras")
# Keras 3.15's own save_weights / save, called by the tests to write files, trip a numpy 2 deprecation
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

from visualization.keras._backend import BACKEND  # noqa: E402
from visualization.keras._weights import read_weights_h5, state_shapes  # noqa: E402
from visualization.keras.models import CatDogCNN  # noqa: E402
from visualization.paddle._backend import BACKEND as PADDLE  # noqa: E402
from visualization.pytorch._backend import BACKEND as TORCH  # noqa: E402

from ._cli_models import tiny_catdog, tiny_catdog_paddle  # noqa: E402
from .keras_twins import KerasResBN, make_keras_twin  # noqa: E402


def _fresh(name: str):
    """An untrained Keras model of twin ``name``'s architecture (built), different from the twin."""
    keras.utils.set_random_seed(1)
    if name == "catdog":
        return CatDogCNN(image_size=32)
    model = KerasResBN()
    model(np.zeros((1, 15, 15, 3), np.float32))
    return model


def _values(model) -> list[np.ndarray]:
    return [w.copy() for w in model.get_weights()]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture
def fresh_catdog():
    """A fresh CatDogCNN that the test expects to be left exactly as it was."""
    model = _fresh("catdog")
    before = _values(model)
    yield model
    assert _same(_values(model), before)


@pytest.mark.parametrize("name", ["catdog", "resbn"])
def test_round_trip_gives_the_twins_outputs(tmp_path, name):
    twin = make_keras_twin(name)
    path = tmp_path / f"{name}.weights.h5"
    twin.keras_model.save_weights(path)
    model = _fresh(name)
    _, x = twin.inputs(2)
    assert np.abs(model(x).numpy() - twin.keras_model(x).numpy()).max() > 1e-3  # really different before
    load_weights(BACKEND, model, path)
    assert _same(_values(model), _values(twin.keras_model))
    np.testing.assert_array_equal(model(x, training=False).numpy(), twin.keras_model(x, training=False).numpy())
    # keys are the file's own dataset paths, on both sides
    assert set(read_weights_h5(path)) == set(state_shapes(model))
    if name == "resbn":
        assert state_shapes(model)["block/bn2/vars/3"] == (6,)  # the moving variance


def test_a_dot_keras_archive_is_read_without_its_config(tmp_path):
    twin = make_keras_twin("catdog")
    saved = tmp_path / "saved.keras"
    twin.keras_model.save(saved)
    path = tmp_path / "catdog.keras"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(path, "w") as dst:
        for member in src.namelist():  # a config that names code: never looked at
            bad = b'{"module": "os", "class_name": "system", "config": "touch PWNED"}'
            dst.writestr(member, bad if member == "config.json" else src.read(member))
    model = _fresh("catdog")
    load_weights(BACKEND, model, path)
    assert _same(_values(model), _values(twin.keras_model))


def test_wrong_shapes_are_listed_and_nothing_is_assigned(tmp_path):
    path = tmp_path / "small.weights.h5"
    CatDogCNN(image_size=16, num_classes=3).save_weights(path)
    model = _fresh("catdog")
    before = _values(model)
    with pytest.raises(StateDictMismatchError) as info:
        load_weights(BACKEND, model, path)
    text = str(info.value)
    assert "do not fit CatDogCNN" in text
    assert "shape mismatch for 'layers/dense/vars/0': weights (512, 512), model expects (2048, 512)" in text
    assert "shape mismatch for 'layers/dense_1/vars/1': weights (3,), model expects (2,)" in text
    assert [k for k, _, _ in info.value.mismatched] == [
        "layers/dense/vars/0",
        "layers/dense_1/vars/0",
        "layers/dense_1/vars/1",
    ]
    assert _same(_values(model), before)


def test_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "cut.weights.h5"
    make_keras_twin("catdog").keras_model.save_weights(path)
    with h5py.File(path, "r+") as f:
        del f["layers/conv2d_2/vars/1"]
        f["layers/conv2d_2/vars/7"] = np.zeros(3, np.float32)
    model = _fresh("catdog")
    before = _values(model)
    with pytest.raises(StateDictMismatchError) as info:
        load_weights(BACKEND, model, path)
    assert info.value.missing == ["layers/conv2d_2/vars/1"]
    assert info.value.unexpected == ["layers/conv2d_2/vars/7"]
    assert _same(_values(model), before)
    # another architecture's file: everything is named
    other = tmp_path / "resbn.weights.h5"
    make_keras_twin("resbn").keras_model.save_weights(other)
    with pytest.raises(StateDictMismatchError, match=r"missing keys .*layers/conv2d/vars/0.*\n.*unexpected keys"):
        load_weights(BACKEND, model, other)
    assert _same(_values(model), before)


def test_torch_and_paddle_files_are_named_for_keras(tmp_path):
    pt = tmp_path / "w.pt"
    torch.save(tiny_catdog().state_dict(), pt)
    legacy = tmp_path / "w.pth"
    torch.save(tiny_catdog().state_dict(), legacy, _use_new_zipfile_serialization=False)
    pd = tmp_path / "w.pdparams"
    paddle.save(tiny_catdog_paddle().state_dict(), str(pd))
    model = _fresh("catdog")
    before = _values(model)
    for path, what, flag in (
        (pt, "is a PyTorch checkpoint", "--framework torch"),
        (legacy, "is a PyTorch checkpoint", "--framework torch"),
        (pd, "is a PaddlePaddle state dict", "--framework paddle"),
    ):
        with pytest.raises(WeightsFileError) as info:
            load_weights(BACKEND, model, path)
        text = str(info.value)
        assert what in text and "not Keras weights" in text and flag in text and path.name in text, text
    assert _same(_values(model), before)


def test_an_h5_file_given_to_torch_or_paddle_is_named(tmp_path):
    path = tmp_path / "catdog.weights.h5"
    make_keras_twin("catdog").keras_model.save_weights(path)
    archive = tmp_path / "catdog.keras"
    make_keras_twin("catdog").keras_model.save(archive)
    assert detect_format(path) == detect_format(archive) == "keras"
    for backend, model, name in (
        (TORCH, tiny_catdog(), "PyTorch"),
        (PADDLE, tiny_catdog_paddle(), "PaddlePaddle"),
    ):
        before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
        for p in (path, archive):
            with pytest.raises(WeightsFileError) as info:
                load_weights(backend, model, p)
            text = str(info.value)
            assert "is a Keras weights file" in text and f"not {name} weights" in text, text
            assert "--framework keras" in text
        assert all(np.array_equal(v.numpy(), before[k]) for k, v in model.state_dict().items())


def test_non_hdf5_files(tmp_path, fresh_catdog):
    text_file = tmp_path / "notes.weights.h5"
    text_file.write_text("not weights\n")
    with pytest.raises(WeightsFileError, match=r"is not an HDF5 file, so not Keras weights.*save_weights"):
        load_weights(BACKEND, fresh_catdog, text_file)
    plain_zip = tmp_path / "data.zip"
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    # a zip without model.weights.h5 is what torch writes: named as such, never opened as Keras
    with pytest.raises(WeightsFileError, match="PyTorch checkpoint, not Keras weights"):
        load_weights(BACKEND, fresh_catdog, plain_zip)
    with pytest.raises(WeightsFileError, match="does not exist"):
        load_weights(BACKEND, fresh_catdog, tmp_path / "missing.weights.h5")


def test_hdf5_files_that_hold_other_things(tmp_path, fresh_catdog):
    images = tmp_path / "images.h5"
    with h5py.File(images, "w") as f:
        f["train/images"] = np.zeros((4, 8, 8, 3), np.uint8)
        f["train/labels"] = np.arange(4)
    with pytest.raises(WeightsFileError, match=r"not a Keras variable: train/images \(uint8, shape \(4, 8, 8, 3\)\)"):
        load_weights(BACKEND, fresh_catdog, images)
    strings = tmp_path / "strings.weights.h5"
    with h5py.File(strings, "w") as f:
        f["layers/conv2d/vars/0"] = np.array([b"os.system", b"touch PWNED"])
    with pytest.raises(WeightsFileError, match=r"not a Keras variable: layers/conv2d/vars/0 \(\|S11"):
        load_weights(BACKEND, fresh_catdog, strings)
    empty = tmp_path / "empty.weights.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("layers/conv2d/vars")
    with pytest.raises(WeightsFileError, match="holds no Keras variables"):
        load_weights(BACKEND, fresh_catdog, empty)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(8, dtype=np.float32).tobytes())
    external = tmp_path / "external.weights.h5"
    with h5py.File(external, "w") as f:  # a "weight" whose bytes are another file on this machine
        f.create_dataset("layers/conv2d/vars/0", shape=(8,), dtype="<f4", external=[(str(secret), 0, 32)])
    with pytest.raises(WeightsFileError, match=r"layers/conv2d/vars/0 \(stored outside the file\)"):
        load_weights(BACKEND, fresh_catdog, external)
    legacy = tmp_path / "tf_keras.h5"
    with h5py.File(legacy, "w") as f:
        f.attrs["layer_names"] = [b"conv1"]
        f["conv1/conv1/kernel:0"] = np.zeros((3, 3, 3, 32), np.float32)
    with pytest.raises(WeightsFileError, match=r"Keras 2 / tf\.keras HDF5 file.*model\.load_weights\(path\)"):
        load_weights(BACKEND, fresh_catdog, legacy)


def test_pickled_payloads_are_never_run(tmp_path, fresh_catdog):
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for i, protocol in enumerate((2, 4)):
        path = tmp_path / f"evil{i}.weights.h5"
        path.write_bytes(pickle.dumps({"layers/conv2d/vars/0": Evil()}, protocol=protocol))
        with pytest.raises(WeightsFileError, match="not an HDF5 file"):
            load_weights(BACKEND, fresh_catdog, path)
    assert not marker.exists()


def test_an_unbuilt_model_gets_told_to_build(tmp_path):
    path = tmp_path / "w.weights.h5"
    make_keras_twin("resbn").keras_model.save_weights(path)
    with pytest.raises(InvalidInputError, match=r"not built.*model\(x\)"):
        load_weights(BACKEND, KerasResBN(), path)


def test_a_failed_assignment_restores_the_old_weights(tmp_path, monkeypatch):
    """If Keras fails half-way through loading, the weights the model had are loaded back."""
    from visualization.keras import _weights

    path = tmp_path / "w.weights.h5"
    make_keras_twin("catdog").keras_model.save_weights(path)
    model = _fresh("catdog")
    before = _values(model)
    real = type(model).load_weights
    calls = []

    def flaky(self, filepath, *args, **kwargs):
        calls.append(str(filepath))
        real(self, filepath, *args, **kwargs)  # assigns the new weights ...
        if len(calls) == 1:
            raise OSError("disk went away")  # ... and then fails

    monkeypatch.setattr(type(model), "load_weights", flaky)
    with pytest.raises(OSError, match="disk went away"):
        _weights.apply_weights(model, read_weights_h5(path))
    assert len(calls) == 2 and _same(_values(model), before)


def test_the_backend_keys_weights_like_the_file():
    """KerasBackend.state_shapes / apply_weights are this module's: the keys a .weights.h5 file holds."""
    model = make_keras_twin("gap").keras_model
    assert (
        BACKEND.state_shapes(model)
        == state_shapes(model)
        == {
            "layers/conv2d/vars/0": (3, 3, 3, 5),
            "layers/conv2d/vars/1": (5,),
            "layers/dense/vars/0": (5, 4),
            "layers/dense/vars/1": (4,),
        }
    )


def test_the_torch_free_reader_names_a_keras_file(tmp_path):
    """visualization.convert reads torch and Paddle state dicts; a Keras .weights.h5 is named, not misread."""
    from visualization.convert import load_state_dict_file
    from visualization.models.checkpoint import CheckpointFormatError

    path = tmp_path / "w.weights.h5"
    make_keras_twin("gap").keras_model.save_weights(path)
    before = path.read_bytes()
    with pytest.raises(CheckpointFormatError, match=r"Keras weights file \(HDF5\).*model\.load_weights"):
        load_state_dict_file(path)
    assert path.read_bytes() == before
