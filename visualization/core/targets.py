"""Turn a user's ``target_class`` into one class index per sample.

Accepted forms:

* ``None``: the class the model predicts for each sample (argmax of the scores);
* an ``int``: the same class for every sample;
* a sequence / 1-D array of ints: one class per sample;
* a callable ``f(outputs) -> (N,) tensor``: any scalar per sample (handled by the adapters,
  since it receives framework tensors).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .errors import TargetError


def resolve_indices(target: Any, scores: np.ndarray) -> np.ndarray:
    """Return an ``int64`` array of shape ``(N,)`` with one class index per sample.

    >>> resolve_indices(None, np.array([[0.1, 2.0], [3.0, -1.0]]))
    array([1, 0])
    >>> resolve_indices(1, np.zeros((2, 3)))
    array([1, 1])
    """
    if scores.ndim != 2:
        raise TargetError(
            f"Class targets need model outputs of shape (N, num_classes); the model returned shape "
            f"{tuple(scores.shape)}. Pass target_class as a callable that maps the outputs to one "
            "score per sample instead."
        )
    n, k = scores.shape
    if target is None:
        return scores.argmax(axis=1).astype(np.int64)
    if isinstance(target, (bool, np.bool_)):
        raise TargetError(f"target_class must be an int, a sequence of ints or None; got the bool {target!r}.")
    if isinstance(target, numbers.Integral):
        idx = np.full(n, int(target), dtype=np.int64)
    else:
        try:
            arr = np.asarray(target)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise TargetError(f"Could not read target_class {target!r} as class indices: {exc}") from exc
        if arr.ndim == 0 and np.issubdtype(arr.dtype, np.integer):
            idx = np.full(n, int(arr), dtype=np.int64)
        elif arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
            raise TargetError(
                f"target_class must be None, an int, or one int per sample; got {target!r} "
                f"(array of shape {arr.shape}, dtype {arr.dtype})."
            )
        elif arr.shape[0] != n:
            raise TargetError(
                f"target_class has {arr.shape[0]} entries but the batch has {n} samples; give one "
                "class index per sample, or a single int for all of them."
            )
        else:
            idx = arr.astype(np.int64)
    bad = (idx < 0) | (idx >= k)
    if bad.any():
        raise TargetError(
            f"target_class {idx[bad].tolist()} out of range: the model has {k} output classes, so "
            f"valid indices are 0..{k - 1}."
        )
    return idx
