"""Read a PaddlePaddle ``.pdparams`` / ``.pdopt`` file into numpy arrays **without Paddle**, and
without running foreign code.

``paddle.save(layer.state_dict(), path)`` (and ``paddle.save(optimizer.state_dict(), path)``) writes
one pickle (protocol 2, 3 or 4; 4 by default) of a dict whose values are numpy arrays, plus two
bookkeeping entries: ``'StructuredToParameterName@@'`` (structured name -> parameter name) and, for
protocols 2 and 3 and arrays over 1 GiB, ``'UnpackBigParamInfor@@'`` with the slices an array was
cut into. An optimizer's dict also holds plain data (``'LR_Scheduler': {'last_epoch': 2, ...}``).
A dict that nests tensors (``{'model': sd, 'epoch': 3}``) is pickled with each tensor as
``tuple((name, array))``. The globals such files name are, checked on Paddle 3.3.1 / numpy 2::

    numpy._core.multiarray._reconstruct   (numpy.core.multiarray with numpy 1.x)
    numpy.ndarray, numpy.dtype
    _codecs.encode, __builtin__.bytes     (protocol 2 only: how it writes bytes)
    builtins.tuple                        (only for nested tensors)

and ``paddle.load`` unpickles them with ``pickle.load``: a file whose pickle names ``os.system``
runs it. :class:`PaddleUnpickler` resolves exactly the globals above (plus ``collections.OrderedDict``
and numpy's scalar constructor), each to a local stand-in that only records its arguments, and
refuses every other one with :class:`~visualization.models.checkpoint.UnsafeCheckpointError` before
anything is called. Arrays are rebuilt with ``np.frombuffer`` from the pickled bytes after checking
the dtype (booleans, integers, floats, complex; no objects, no records) and that the byte count
matches the shape. Nothing from Paddle is imported.

Example:
    >>> import io, pickle, numpy as np
    >>> raw = pickle.dumps({"fc.weight": np.eye(2, dtype=np.float32), "StructuredToParameterName@@": {}})
    >>> load_pdparams(io.BytesIO(raw))["fc.weight"]
    array([[1., 0.],
           [0., 1.]], dtype=float32)
"""

from __future__ import annotations

import io
import math
import os
import pickle
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np

from .checkpoint import CheckpointFormatError, UnsafeCheckpointError

__all__ = ["PaddleUnpickler", "load_pdparams"]

#: Bookkeeping keys ``paddle.save`` adds to a state dict (``paddle.load`` removes them too).
NAME_TABLE = "StructuredToParameterName@@"
BIG_PARAM_INFO = "UnpackBigParamInfor@@"  # sic: Paddle's spelling

#: dtype codes a tensor can have (numpy ``dtype.str`` without the byte order).
_DTYPES = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"})
_NUMPY_CORE = ("numpy._core.multiarray", "numpy.core.multiarray")


def _refuse(what: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f"{what}; a Paddle state dict holds only numpy arrays, dicts, lists, strings and numbers"
    )


class _Sealed:
    """Base of the stand-ins: the pickle's BUILD opcode reaches only :meth:`__setstate__` defined here."""

    def __setstate__(self, state: Any) -> None:
        raise _refuse(f"the pickle tried to set the state of a {type(self).__name__.lstrip('_')}")


class _NdarrayType(_Sealed):
    """Stand-in for the class ``numpy.ndarray`` (only ever passed to ``_reconstruct``)."""


class _Dtype(_Sealed):
    """Stand-in for ``numpy.dtype(code, align, copy)``; its BUILD state sets the byte order."""

    def __init__(self, code: Any, align: Any = False, copy: Any = False) -> None:
        if not (isinstance(code, str) and code in _DTYPES):
            raise _refuse(f"the pickle holds an array of dtype {code!r}")
        self.dtype = np.dtype(code)

    def __setstate__(self, state: Any) -> None:
        # (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
        ok = (
            isinstance(state, tuple)
            and len(state) in (8, 9)
            and state[0] in (3, 4)
            and state[1] in ("<", ">", "|", "=")
            and state[2] is None
            and state[3] is None
            and state[4] is None
            and (len(state) == 8 or state[8] is None)
        )
        if not ok:
            raise _refuse(f"the pickle holds a structured or unusual dtype ({self.dtype.str}, state {state!r:.80})")
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


class _Array(_Sealed):
    """What ``_reconstruct(ndarray, (0,), b'b')`` returns; the BUILD state brings shape, dtype and bytes."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        # (version, shape, dtype, is_fortran, raw bytes); version 1 (numpy >= 1.?) or the older 4-tuple.
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise CheckpointFormatError(f"malformed array in the Paddle file (state {state!r:.80})")
        shape, dtype, fortran, raw = state
        if not isinstance(dtype, _Dtype):
            raise _refuse("the pickle built an array from something other than a plain dtype")
        if not (
            isinstance(shape, tuple)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
            and isinstance(fortran, bool)
            and isinstance(raw, bytes | bytearray)
        ):
            raise CheckpointFormatError(f"malformed array in the Paddle file (shape {shape!r:.80})")
        count = math.prod(shape)
        if len(raw) != count * dtype.dtype.itemsize:
            raise CheckpointFormatError(
                f"array of shape {shape} and dtype {dtype.dtype} needs {count * dtype.dtype.itemsize} bytes; "
                f"the file holds {len(raw)}"
            )
        flat = np.frombuffer(raw, dtype=dtype.dtype, count=count)
        self.array = np.array(flat.reshape(shape, order="F" if fortran else "C"), order="C")


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> _Array:
    """Local replacement for ``numpy._core.multiarray._reconstruct``: an empty array stand-in."""
    if not isinstance(cls, _NdarrayType):
        raise _refuse("the pickle asked numpy to reconstruct something other than an ndarray")
    return _Array()


def _scalar(dtype: Any, raw: Any = None) -> Any:
    """Local replacement for ``numpy._core.multiarray.scalar`` (a numpy number, e.g. a learning rate)."""
    if not (isinstance(dtype, _Dtype) and isinstance(raw, bytes) and len(raw) == dtype.dtype.itemsize):
        raise _refuse("the pickle holds a numpy scalar that is not a plain number")
    return np.frombuffer(raw, dtype=dtype.dtype)[0]


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """``_codecs.encode``, which protocol 2 uses to write bytes, for the latin-1 case only."""
    if not (isinstance(text, str) and encoding in ("latin1", "latin-1")):
        raise _refuse(f"the pickle called _codecs.encode with {encoding!r}")
    return text.encode("latin1")


def _bytes(*args: Any) -> bytes:
    """``bytes()``, which protocol 2 writes for empty bytes (the data of an empty array)."""
    if args:
        raise _refuse("the pickle called bytes() with arguments")
    return b""


def _tuple(items: Any = ()) -> tuple:
    """``builtins.tuple``, which Paddle uses as ``tuple((name, array))`` for tensors in nested dicts."""
    if not isinstance(items, tuple | list):
        raise _refuse("the pickle called tuple() on something other than a tuple")
    return tuple(items)


_ALLOWED: dict[tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _reconstruct for m in _NUMPY_CORE},
    **{(m, "scalar"): _scalar for m in _NUMPY_CORE},
    ("numpy", "ndarray"): _NdarrayType(),
    ("numpy", "dtype"): _Dtype,
    ("_codecs", "encode"): _encode,
    ("builtins", "tuple"): _tuple,
    ("builtins", "bytes"): _bytes,
    ("collections", "OrderedDict"): OrderedDict,
}


class PaddleUnpickler(pickle.Unpickler):
    """Unpickler that admits only what a Paddle state dict needs (see the module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 2 writes Python 2's module name; pickle's own find_class renames it, ours must too.
        found = _ALLOWED.get(("builtins" if module == "__builtin__" else module, name))
        if found is None:
            raise UnsafeCheckpointError(
                f"the pickle names '{module}.{name}', which a state dict of tensors never does; "
                "nothing in the file was run"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointFormatError("the pickle refers to external objects (a persistent id): not a Paddle file")


def load_pdparams(file: str | os.PathLike | BinaryIO) -> dict[str, Any]:
    """Read a ``.pdparams`` / ``.pdopt`` file (or a binary file object) as ``{name: numpy array, ...}``.

    Returns what ``paddle.load(path, return_numpy=True)`` returns for a state dict, without running
    anything the file names: arrays bit-exact with their saved dtype and shape (contiguous, writable),
    plain data (an optimizer's ``'LR_Scheduler'`` dict) as it was, arrays cut into slices by protocols
    2 and 3 joined again, the bookkeeping key ``'StructuredToParameterName@@'`` removed, and tensors
    of nested dicts (pickled as ``(name, array)``) as arrays.

    Raises:
        UnsafeCheckpointError: the pickle names anything but numpy arrays, dtypes and plain containers.
        CheckpointFormatError: not a pickle, truncated, or an array whose bytes do not fit its shape.
    """
    if isinstance(file, str | os.PathLike):
        with open(file, "rb") as f:
            data = f.read()
    else:
        data = file.read()
    stream = io.BytesIO(data)
    try:
        obj = PaddleUnpickler(stream).load()
    except (UnsafeCheckpointError, CheckpointFormatError):
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise CheckpointFormatError(f"not a Paddle state dict pickle ({type(exc).__name__}: {str(exc)[:200]})") from exc
    except RecursionError as exc:
        raise CheckpointFormatError("the pickle nests too deeply to be a state dict") from exc
    if stream.tell() != len(data):  # e.g. torch's legacy format: several pickles, then raw storages
        raise CheckpointFormatError("not a Paddle state dict pickle (more data follows the first pickle)")
    obj = _resolve(obj)
    if isinstance(obj, dict):
        obj = _join_big_params(obj)
        obj.pop(NAME_TABLE, None)
    return obj


def _resolve(obj: Any) -> Any:
    """Replace every array stand-in (and Paddle's ``(name, array)`` tensor tuples) by numpy arrays."""
    if isinstance(obj, _Array):
        if obj.array is None:
            raise CheckpointFormatError("an array in the Paddle file has no data")
        return obj.array
    if isinstance(obj, _Sealed) or callable(obj):
        raise _refuse(f"the pickle left a bare {getattr(obj, '__name__', type(obj).__name__).lstrip('_')} in the data")
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v)) for k, v in obj.items())
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], str) and isinstance(obj[1], _Array):
        return _resolve(obj[1])
    if isinstance(obj, list | tuple):
        return type(obj)(_resolve(v) for v in obj)
    return obj


def _join_big_params(obj: dict[str, Any]) -> dict[str, Any]:
    """Undo ``paddle.save``'s slicing of arrays over 1 GiB (protocols 2 and 3)."""
    info = obj.pop(BIG_PARAM_INFO, None)
    if info is None:
        return obj
    if not isinstance(info, dict):
        raise CheckpointFormatError(f"malformed {BIG_PARAM_INFO!r} entry in the Paddle file")
    for key, spec in info.items():
        try:
            parts = [obj.pop(name) for name in spec["slices"]]
            obj[key] = np.concatenate(parts).reshape(tuple(spec["OriginShape"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointFormatError(f"array {key!r} was saved in slices that do not fit together ({exc})") from exc
    return obj


def detect_format(path: str | os.PathLike) -> str | None:
    """``'torch'``, ``'paddle'``, ``'keras'`` or ``None``: which framework wrote this weights file, read safely.

    An HDF5 file, or a zip archive holding ``model.weights.h5`` (a ``.keras`` model), is a Keras
    file; any other zip archive, or a pickle stream that starts with torch's legacy magic number, is a
    torch file; a pickle that :func:`load_pdparams` reads into a dict holding arrays is a Paddle file.
    Used to turn "cannot read" into "this is the other framework's file" (nothing the file names is
    ever called).
    """
    import zipfile

    from .checkpoint import LEGACY_MAGIC, RestrictedUnpickler

    if _is_hdf5(path):
        return "keras"
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                return "keras" if "model.weights.h5" in z.namelist() else "torch"
        with open(path, "rb") as f:
            try:
                if RestrictedUnpickler(f).load() == LEGACY_MAGIC:
                    return "torch"
            except Exception:  # not a torch header: try Paddle next
                pass
        obj = load_pdparams(path)
    except Exception:  # unreadable by both safe readers
        return None
    values = obj.values() if isinstance(obj, dict) else ()
    inner = [v.values() for v in values if isinstance(v, dict)]
    if any(isinstance(v, np.ndarray) for vs in (values, *inner) for v in vs):
        return "paddle"
    return None


#: The HDF5 signature; the superblock starts at byte 0, 512, 1024, 2048, ... of the file.
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file (Keras's weights format), from its signature alone."""
    try:
        with open(path, "rb") as f:
            offset = 0
            while True:
                f.seek(offset)
                head = f.read(len(_HDF5_SIGNATURE))
                if len(head) < len(_HDF5_SIGNATURE):
                    return False
                if head == _HDF5_SIGNATURE:
                    return True
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False
