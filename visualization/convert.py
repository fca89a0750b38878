"""Convert state dicts between PyTorch and PaddlePaddle, so one set of weights runs in both.

The two frameworks store the same network almost identically; three things differ:

* ``Linear`` weights are ``(out, in)`` in torch and ``(in, out)`` in Paddle: they are transposed.
  Convolution kernels are ``(out, in, kh, kw)`` in both and are copied as they are.
* BatchNorm statistics are ``running_mean`` / ``running_var`` in torch and ``_mean`` / ``_variance``
  in Paddle: they are renamed.
* torch's ``num_batches_tracked`` counter has no Paddle counterpart: it is dropped. (torch's
  ``load_state_dict`` fills in a missing counter when loading a plain dict, so the result of
  :func:`paddle_to_torch_state_dict` loads with ``strict=True``.)

Values may be torch tensors, Paddle tensors or numpy arrays; **the result always holds numpy
arrays** (contiguous copies, dtype kept), which both frameworks load directly::

    paddle_model.set_state_dict(torch_to_paddle_state_dict(torch_model.state_dict(), paddle_model))
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in
                                 paddle_to_torch_state_dict(paddle_model.state_dict(), torch_model).items()})

Only the target model can tell a ``Linear`` weight from another 2-D weight (an embedding table,
say), so pass it: its layer types decide what is transposed, and the converted dict is checked
against its keys and shapes (a :class:`StateDictMismatchError` lists every missing, unexpected
and mis-shaped key). Without a model, every 2-D tensor whose name ends in ``weight`` is treated
as a ``Linear`` weight, which is right for plain CNNs.

To convert a weights *file*, read it with :func:`load_state_dict_file`: it reads torch files
(zip or legacy) and Paddle ``.pdparams`` / ``.pdopt`` with restricted unpicklers that admit only
arrays and plain data, so a file that names code (``os.system``...) is refused before anything runs::

    paddle_model.set_state_dict(torch_to_paddle_state_dict(load_state_dict_file("w.pt"), paddle_model))

Importing this module loads neither framework; a framework is only touched through the objects
passed in.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from .core.errors import ModelTypeError, StateDictMismatchError, check_state_dict_shapes

__all__ = [
    "StateDictMismatchError",
    "load_state_dict_file",
    "paddle_to_torch_state_dict",
    "torch_to_paddle_state_dict",
]

# torch name suffix -> Paddle name suffix for BatchNorm statistics.
_BN_TORCH_TO_PADDLE = {"running_mean": "_mean", "running_var": "_variance"}
_BN_PADDLE_TO_TORCH = {v: k for k, v in _BN_TORCH_TO_PADDLE.items()}
_DROPPED_TORCH = ("num_batches_tracked",)


def torch_to_paddle_state_dict(state_dict: Mapping[str, Any], paddle_model: Any = None) -> dict[str, np.ndarray]:
    """Convert a torch ``state_dict`` to Paddle names and layouts (numpy arrays).

    Args:
        state_dict: ``{name: tensor or array}`` as returned by ``torch_model.state_dict()``.
        paddle_model: the ``paddle.nn.Layer`` that will load the result. Recommended: its ``Linear``
            layers decide which weights are transposed, and keys and shapes are checked against its
            ``state_dict()``. Without it every 2-D ``*weight`` is transposed and nothing is checked.

    Returns:
        ``{paddle_name: numpy array}``, ready for ``paddle_model.set_state_dict``.

    Raises:
        StateDictMismatchError: the result does not fit ``paddle_model`` (lists every problem).
        ModelTypeError: ``paddle_model`` is not a ``paddle.nn.Layer``.

    Example:
        >>> import numpy as np
        >>> sd = {"fc.weight": np.zeros((2, 5)), "bn.running_var": np.ones(3), "bn.num_batches_tracked": np.array(7)}
        >>> {k: v.shape for k, v in torch_to_paddle_state_dict(sd).items()}
        {'fc.weight': (5, 2), 'bn._variance': (3,)}
    """
    linear = _linear_weight_names(paddle_model, "paddle") if paddle_model is not None else None
    out: dict[str, np.ndarray] = {}
    for key, value in state_dict.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in _DROPPED_TORCH:
            continue
        if leaf in _BN_TORCH_TO_PADDLE:
            key = f"{prefix}.{_BN_TORCH_TO_PADDLE[leaf]}" if prefix else _BN_TORCH_TO_PADDLE[leaf]
        out[key] = _convert_value(key, _as_numpy(value), linear)
    if paddle_model is not None:
        _check_against(out, _target_shapes(paddle_model.state_dict()), "Paddle", "torch_to_paddle_state_dict")
    return out


def paddle_to_torch_state_dict(state_dict: Mapping[str, Any], torch_model: Any = None) -> dict[str, np.ndarray]:
    """Convert a Paddle ``state_dict`` to torch names and layouts (numpy arrays).

    Args:
        state_dict: ``{name: tensor or array}`` as returned by ``paddle_model.state_dict()``.
        torch_model: the ``torch.nn.Module`` that will load the result. Recommended: its ``Linear``
            layers decide which weights are transposed, and keys and shapes are checked against its
            ``state_dict()`` (``num_batches_tracked`` excepted). Without it every 2-D ``*weight`` is
            transposed and nothing is checked.

    Returns:
        ``{torch_name: numpy array}``; load it with
        ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in result.items()})``.

    Raises:
        StateDictMismatchError: the result does not fit ``torch_model`` (lists every problem).
        ModelTypeError: ``torch_model`` is not a ``torch.nn.Module``.
    """
    linear = _linear_weight_names(torch_model, "torch") if torch_model is not None else None
    out: dict[str, np.ndarray] = {}
    for key, value in state_dict.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in _BN_PADDLE_TO_TORCH:
            key = f"{prefix}.{_BN_PADDLE_TO_TORCH[leaf]}" if prefix else _BN_PADDLE_TO_TORCH[leaf]
        out[key] = _convert_value(key, _as_numpy(value), linear)
    if torch_model is not None:
        expected = {
            k: s
            for k, s in _target_shapes(torch_model.state_dict()).items()
            if k.rpartition(".")[2] not in _DROPPED_TORCH
        }
        _check_against(out, expected, "torch", "paddle_to_torch_state_dict")
    return out


def load_state_dict_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a torch or Paddle weights file into ``{name: numpy array}``, without either framework.

    Torch files (zip or legacy format) go through :func:`visualization.models.checkpoint.load_state_dict`,
    everything else through :func:`visualization.models.pdparams.load_pdparams`; both admit only arrays
    and plain data and never call what a file names.

    Raises:
        UnsafeCheckpointError: the file names code or objects a state dict never holds.
        CheckpointFormatError: neither a torch checkpoint nor a Paddle state dict pickle (a Keras
            ``.weights.h5`` file is named as such).
    """
    from .models.checkpoint import CheckpointFormatError, load_state_dict
    from .models.pdparams import detect_format, load_pdparams

    found = detect_format(path)
    if found == "torch":
        return dict(load_state_dict(path))
    if found == "keras":
        # its arrays are keyed by Keras's own h5 layout, not by torch/Paddle names: no converter maps them
        raise CheckpointFormatError(
            f"{os.fspath(path)!r} is a Keras weights file (HDF5), not a torch or Paddle state dict. Load it into "
            "the Keras model with model.load_weights(path), or pass it to cnnvis with --framework keras."
        )
    return load_pdparams(path)


# ---------------------------------------------------------------------------- helpers
def _as_numpy(value: Any) -> np.ndarray:
    """A numpy copy of a torch tensor, a Paddle tensor or an array-like, without importing a framework.

    A framework can only have produced a tensor if it is already imported, so ``sys.modules`` is
    enough to recognize one.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    paddle = sys.modules.get("paddle")
    if paddle is not None and isinstance(value, paddle.Tensor):
        return value.detach().cpu().numpy().copy()
    return np.array(value, copy=True)


def _convert_value(key: str, arr: np.ndarray, linear: set[str] | None) -> np.ndarray:
    """Transpose ``arr`` if ``key`` is a Linear weight (known from the model, else guessed)."""
    is_linear = key in linear if linear is not None else (arr.ndim == 2 and key.endswith("weight"))
    return np.ascontiguousarray(arr.T) if is_linear else arr


def _linear_weight_names(model: Any, framework: str) -> set[str]:
    """``'<layer>.weight'`` for every Linear layer of a torch or Paddle ``model``."""
    if framework == "torch":
        import torch

        if not isinstance(model, torch.nn.Module):
            raise ModelTypeError(
                f"torch_model must be a torch.nn.Module; got {type(model).__module__}.{type(model).__qualname__}."
            )
        layers, linear_type = model.named_modules(), torch.nn.Linear
    else:
        import paddle

        if not isinstance(model, paddle.nn.Layer):
            raise ModelTypeError(
                f"paddle_model must be a paddle.nn.Layer; got {type(model).__module__}.{type(model).__qualname__}."
            )
        layers, linear_type = model.named_sublayers(include_self=True), paddle.nn.Linear
    return {f"{name}.weight" if name else "weight" for name, layer in layers if isinstance(layer, linear_type)}


def _target_shapes(state_dict: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(int(s) for s in v.shape) for k, v in state_dict.items()}


def _check_against(
    converted: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]], side: str, func: str
) -> None:
    """Raise :class:`StateDictMismatchError` listing every difference between the two key/shape sets."""
    check_state_dict_shapes(
        {k: tuple(int(d) for d in v.shape) for k, v in converted.items()},
        expected,
        f"{func}: the converted state dict does not fit the {side} model",
        "Check that both models have the same architecture and the same layer names.",
    )
