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

    Raises:
        WeightsFileError: the file is missing, unreadable, or holds no state dict.
        StateDictMismatchError: keys are missing or unexpected, or shapes differ (all listed).
    """
    p = Path(path)
    saver = (
        "torch.save(model.state_dict(), 'weights.pt')"
        if backend.name == "torch"
        else ("paddle.save(model.state_dict(), 'weights.pdparams')")
    )
    if not p.is_file():
        raise WeightsFileError(f"Weights file {str(p)!r} does not exist. Pass the path of a file saved with {saver}.")
    try:
        raw = backend.read_weights(str(p))
    except Exception as exc:  # the loaders raise many types for corrupt or foreign files
        raise WeightsFileError(
            f"Could not read {str(p)!r} as {backend.name} weights ({type(exc).__name__}: {str(exc)[:300]}). "
            f"Expected a state dict saved with {saver}; whole pickled models are refused for safety."
        ) from exc
    state = unwrap_state_dict(raw)
    if state is None:
        raise WeightsFileError(
            f"{str(p)!r} holds a {type(raw).__name__}, not a state dict of tensors. Save it with {saver}."
        )
    check_state_dict_shapes(
        {k: tuple(int(d) for d in v.shape) for k, v in state.items()},
        backend.state_shapes(model),
        f"The weights in {p.name} do not fit {type(model).__name__}",
        "Pass weights saved from the same architecture (same layer names and sizes); "
        "`cnnvis layers` lists the model's layers.",
    )
    backend.apply_weights(model, dict(state))
