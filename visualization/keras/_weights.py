"""Keras weights files read with h5py only, keyed the way Keras itself lays them out.

A Keras 3 ``.weights.h5`` file (``model.save_weights("w.weights.h5")``) is plain HDF5: one group per
layer, found by walking the model (``layers/conv2d/vars``, ``block/bn1/vars``, ...), holding the
layer's variables as datasets ``0``, ``1``, ... in the order of ``layer.weights``. Those dataset paths
are the keys here, on both sides:

* :func:`read_weights_h5` returns ``{"layers/conv2d/vars/0": array, ...}`` from a file, reading only
  numeric datasets. Nothing is unpickled, no class is looked up, no config is read;
* :func:`state_shapes` gives the same keys for a model: the model writes its own weights to a
  temporary file with ``save_weights`` (the one place that knows Keras's walk), which is read back;
* :func:`apply_weights` writes the (already checked) arrays into that template file and lets
  ``model.load_weights`` assign them from the toolkit's own file; should that fail, the model's
  previous weights are loaded back from a second copy.

A ``.keras`` archive (``model.save("m.keras")``) is a zip holding ``model.weights.h5`` in the same
layout; only that member is read (its ``config.json``, which names classes to build, is ignored).

Example:
    >>> import keras, numpy as np, tempfile, os
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="fc")])
    >>> sorted(state_shapes(model).items())
    [('layers/dense/vars/0', (4, 2)), ('layers/dense/vars/1', (2,))]
    >>> path = os.path.join(tempfile.mkdtemp(), "w.weights.h5")
    >>> model.save_weights(path)
    >>> {k: v.shape for k, v in read_weights_h5(path).items()}
    {'layers/dense/vars/0': (4, 2), 'layers/dense/vars/1': (2,)}
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import h5py
import numpy as np

from ..core.errors import InvalidInputError, WeightsFileError

__all__ = ["apply_weights", "read_weights_h5", "state_shapes"]

SAVER = "model.save_weights('w.weights.h5')"
#: The weights member of a ``.keras`` archive.
ARCHIVE_WEIGHTS = "model.weights.h5"
#: Largest ``model.weights.h5`` read out of a ``.keras`` archive into memory (bytes).
MAX_ARCHIVE_MEMBER = 4 << 30


def read_weights_h5(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The variables of a Keras 3 ``.weights.h5`` file (or of a ``.keras`` archive's weights) as arrays.

    Keys are the dataset paths (``"layers/conv2d/vars/0"``), in file order; arrays are copies with
    the saved dtype and shape.

    Raises:
        WeightsFileError: not HDF5 (nor a ``.keras`` archive), a Keras 2 / tf.keras HDF5 file, an HDF5
            file that holds anything but Keras variables, or one with no variables at all.
    """
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        with _archive_weights(path) as handle, h5py.File(handle, "r") as f:
            return _read(f, path)
    if not h5py.is_hdf5(path):
        raise WeightsFileError(
            f"{path!r} is not an HDF5 file, so not Keras weights. Expected a file saved with {SAVER}."
        )
    with h5py.File(path, "r") as f:
        return _read(f, path)


@contextmanager
def _archive_weights(path: str) -> Iterator[io.BytesIO]:
    with zipfile.ZipFile(path) as z:
        try:
            info = z.getinfo(ARCHIVE_WEIGHTS)
        except KeyError:
            raise WeightsFileError(
                f"{path!r} is a zip archive without {ARCHIVE_WEIGHTS!r}, so neither a Keras weights file nor "
                f"a .keras model. Expected a file saved with {SAVER}."
            ) from None
        if info.file_size > MAX_ARCHIVE_MEMBER:
            raise WeightsFileError(
                f"{path!r}: its {ARCHIVE_WEIGHTS} unpacks to {info.file_size} bytes, more than the "
                f"{MAX_ARCHIVE_MEMBER} read into memory. Save the weights alone with {SAVER}."
            )
        data = z.read(info)
    if not data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise WeightsFileError(f"{path!r}: its {ARCHIVE_WEIGHTS} is not HDF5. Expected a file saved with {SAVER}.")
    yield io.BytesIO(data)


def _read(f: h5py.File, path: str) -> dict[str, np.ndarray]:
    if "layer_names" in f.attrs or "model_weights" in f:
        raise WeightsFileError(
            f"{path!r} is a Keras 2 / tf.keras HDF5 file (layer_names / model_weights at its root), not a Keras 3 "
            "weights file. Load it into the model once with Keras (model.load_weights(path) reads these "
            f"weights by layer name), then save it with {SAVER}."
        )
    out: dict[str, np.ndarray] = {}
    other: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            parts = name.split("/")
            numeric = obj.dtype.kind in "fiub" and obj.dtype.fields is None
            if obj.external or obj.is_virtual:  # data kept in other files: never read
                other.append(f"{name} (stored outside the file)")
            elif len(parts) >= 2 and parts[-2] == "vars" and parts[-1].isdigit() and numeric:
                out[name] = np.array(obj[()], copy=True)
            else:
                other.append(f"{name} ({obj.dtype}, shape {obj.shape})")
        elif not isinstance(obj, h5py.Group):  # a named datatype: Keras never writes one
            other.append(name)

    f.visititems(visit)
    if other:
        shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
        raise WeightsFileError(
            f"{path!r} is HDF5 but holds data that is not a Keras variable: {shown}. A Keras weights file "
            f"has numeric datasets only, at <layer>/vars/<index>. Expected a file saved with {SAVER}."
        )
    if not out:
        raise WeightsFileError(
            f"{path!r} is HDF5 but holds no Keras variables (no <layer>/vars/<index> datasets). "
            f"Expected a file saved with {SAVER} from a built model."
        )
    return out


@contextmanager
def _saved(model: Any) -> Iterator[str]:
    """A temporary ``.weights.h5`` file of ``model``'s current weights (removed afterwards)."""
    if not getattr(model, "built", False):
        raise InvalidInputError(
            f"The Keras model {getattr(model, 'name', type(model).__name__)!r} is not built, so it has no weights "
            "to load into yet. Call it once on a batch (model(x)) or build it (model.build((None, H, W, C))) first."
        )
    folder = tempfile.mkdtemp(prefix="cnnvis-keras-")
    try:
        path = os.path.join(folder, "model.weights.h5")
        with _quiet():
            model.save_weights(path)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def state_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """``{dataset path: shape}`` of ``model``'s variables, keyed as in its ``.weights.h5`` file."""
    with _saved(model) as path:
        return {k: tuple(int(d) for d in v.shape) for k, v in read_weights_h5(path).items()}


def apply_weights(model: Any, state: Mapping[str, Any]) -> None:
    """Assign ``state`` (keys and shapes already checked against :func:`state_shapes`) to ``model``.

    The arrays go into a copy of the model's own weights file, which ``model.load_weights`` then reads;
    if that fails, the weights it had are loaded back before the error is raised.
    """
    with _saved(model) as original:
        update = os.path.join(os.path.dirname(original), "update.weights.h5")
        shutil.copyfile(original, update)
        with h5py.File(update, "r+") as f:
            for key, value in state.items():
                dataset = f[key]
                dataset[...] = np.asarray(value).astype(dataset.dtype, copy=False)
        try:
            with _quiet():
                model.load_weights(update)
        except BaseException:
            with _quiet():
                model.load_weights(original)
            raise


@contextmanager
def _quiet() -> Iterator[None]:
    """Keras 3.15's h5 store converts each variable with ``np.array(v)``, which numpy 2 warns about."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "__array__ implementation doesn't accept a copy", DeprecationWarning)
        yield
