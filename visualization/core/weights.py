"""Load a weights file into a model with one clear error for every way it can go wrong."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .backend import Backend
from .errors import WeightsFileError, check_state_dict_shapes

#: Keys under which training scripts commonly nest the state dict in a checkpoint.
_NESTED = ("state_dict", "model_state_dict", "model", "net")


def unwrap_state_dict(obj: Any) -> Mapping[str, Any] | None:
    """The ``{name: tensor}`` mapping inside ``obj`` (itself, or under a usual checkpoint key)."""
    if isinstance(obj, Mapping):
        if obj and all(hasattr(v, "shape") for v in obj.values()):
            return obj
        for key in _NESTED:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(hasattr(v, "shape") for v in inner.values()):
                return inner
    return None


def load_weights(backend: Backend, model: Any, path: str | Path) -> None:
    """Read ``path`` with the framework's safe loader, check every key and shape, then load.

    Nothing a weights file names is ever run: torch files are read with ``weights_only=True``,
    Paddle files with a restricted unpickler (:mod:`visualization.models.pdparams`) and Keras
    ``.weights.h5`` files with h5py, numeric datasets only (:mod:`visualization.keras._weights`). A
    refused file gets one message naming it, and never the advice to load it unsafely.

    Raises:
        WeightsFileError: the file is missing, unreadable, holds something other than tensors, or
            was written by another framework.
        StateDictMismatchError: keys are missing or unexpected, or shapes differ (all listed).
    """
    from ..models.checkpoint import UnsafeCheckpointError

    p = Path(path)
    saver = _SAVERS[backend.name]
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise WeightsFileError(f"Weights file {str(p)!r} {what}. Pass the path of a file saved with {saver}.")
    if p.stat().st_size == 0:
        raise WeightsFileError(f"Weights file {str(p)!r} is empty. Pass the path of a file saved with {saver}.")
    try:
        raw = backend.read_weights(str(p))
    except UnsafeCheckpointError as exc:
        raise WeightsFileError(_other_framework(p, backend.name, saver) or _refused(p, exc, saver)) from None
    except Exception as exc:  # the loaders raise many types for corrupt or foreign files
        other = _other_framework(p, backend.name, saver)
        if other is None and isinstance(exc, WeightsFileError):  # the reader's own message says it all
            raise WeightsFileError(str(exc)) from None
        text = "" if "weights_only" in str(exc) else f" ({type(exc).__name__}: {str(exc)[:300]})"
        raise WeightsFileError(
            other
            or f"Could not read {str(p)!r} as {backend.name} weights{text}. Expected a state dict saved with {saver}."
        ) from None
    state = unwrap_state_dict(raw)
    if state is None:
        raise WeightsFileError(
            _other_framework(p, backend.name, saver)
            or f"{str(p)!r} holds an object of type {type(raw).__name__}, not a state dict of tensors. "
            f"Save it with {saver}."
        )
    check_state_dict_shapes(
        {k: tuple(int(d) for d in v.shape) for k, v in state.items()},
        backend.state_shapes(model),
        f"The weights in {p.name} do not fit {type(model).__name__}",
        "Pass weights saved from the same architecture (same layer names and sizes); "
        "`cnnvis layers` lists the model's layers.",
    )
    backend.apply_weights(model, dict(state))


_SAVERS = {
    "torch": "torch.save(model.state_dict(), 'weights.pt')",
    "paddle": "paddle.save(model.state_dict(), 'weights.pdparams')",
    "keras": "model.save_weights('weights.weights.h5')",
}

_NAMES = {"torch": "PyTorch", "paddle": "PaddlePaddle", "keras": "Keras"}

#: How to turn a file of one framework (first) into weights of another (second).
_CONVERT = {
    ("paddle", "torch"): "convert it: paddle_to_torch_state_dict(load_state_dict_file(path), model) "
    "from visualization.convert.",
    ("torch", "paddle"): "convert it: torch_to_paddle_state_dict(load_state_dict_file(path), model) "
    "from visualization.convert.",
}
_NO_CONVERTER = (
    "load it into the same architecture in that framework and copy the arrays over by hand "
    "(Keras holds convolution kernels as (kh, kw, in, out) and Dense weights as (in, out))."
)


def _refused(p: Path, exc: BaseException, saver: str) -> str:
    """The one message for a weights file that names code: what was refused, and what to do instead."""
    return (
        f"Refused {str(p)!r}: it holds something other than tensors ({exc}). "
        f"Use a state dict saved with {saver}, from a source you trust."
    )


def _other_framework(p: Path, framework: str, saver: str) -> str | None:
    """A message if ``p`` is another framework's weights file (detected without running it)."""
    from ..models.checkpoint import UnsafeCheckpointError, load_state_dict
    from ..models.pdparams import detect_format

    found = detect_format(p)
    if found is None or found == framework:
        return None
    if found == "torch":  # a torch archive can still hold code: read it with the torch-free reader first
        try:
            load_state_dict(p)
        except UnsafeCheckpointError as exc:
            return _refused(p, exc, saver)
        except Exception:  # a damaged torch file is still the other framework's
            pass
    what = {
        "torch": "a PyTorch checkpoint",
        "paddle": "a PaddlePaddle state dict",
        "keras": "a Keras weights file (HDF5, or a .keras archive)",
    }[found]
    return f"{str(p)!r} is {what}, not {_NAMES[framework]} weights. Run with --framework {found}, or " + _CONVERT.get(
        (found, framework), _NO_CONVERTER
    )
