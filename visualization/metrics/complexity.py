r"""Sparseness and complexity of a map: is the explanation concentrated on few pixels? (No model needed.)

* :func:`gini_index` (Chalasani et al., "Concise explanations of neural networks using adversarial
  training", ICML 2020): 0 for a uniform map, :math:`1 - 1/n` for a single pixel. Higher is sparser.
* :func:`entropy_complexity` (Bhatt et al., "Evaluating and aggregating feature-based model
  explanations", IJCAI 2020): the entropy of the map's fractional contributions, 0 for a single
  pixel, :math:`\ln n` for a uniform map. Lower is simpler.

Both use the magnitudes :math:`|a_i|` of every entry of a map (a map ``(H, W)``, or an attribution
``(C, H, W)``): the first axis of a 3-D or 4-D array is the batch, a 2-D array is one map. Quantus calls
them ``Sparseness`` and ``Complexity``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..core.backend import shape_text
from ..core.errors import InvalidInputError


def _magnitudes(maps: Any) -> np.ndarray:
    arr = np.asarray(maps, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim not in (3, 4) or arr[0].size == 0:
        raise InvalidInputError(
            f"Expected maps (N, H, W), attributions (N, C, H, W) or one map (H, W); got shape {shape_text(arr.shape)}."
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError("The maps contain NaN or infinite values.")
    flat = np.abs(arr.reshape(arr.shape[0], -1))
    if (flat.sum(axis=1) == 0).any():
        warnings.warn(
            f"{int((flat.sum(axis=1) == 0).sum())} map(s) are all zero; their sparseness and complexity are "
            "undefined (NaN).",
            RuntimeWarning,
            stacklevel=3,
        )
    return flat


def gini_index(maps: Any) -> np.ndarray:
    r"""Gini index of each map (Chalasani et al., ICML 2020, https://arxiv.org/abs/1810.06583).

    With the magnitudes sorted increasingly, :math:`a_{(1)} \le \dots \le a_{(n)}`,

    .. math:: G(a) = 1 - 2 \sum_{k=1}^{n} \frac{a_{(k)}}{\lVert a \rVert_1}\, \frac{n - k + \tfrac12}{n}
              = \frac{\sum_{k=1}^{n} (2k - n - 1)\, a_{(k)}}{n\, \lVert a \rVert_1}

    (Hurley & Rickard's form of the Gini index). A constant map scores 0, a map with one non-zero pixel
    :math:`1 - 1/n`; an all-zero map NaN (with a warning).

    Args:
        maps: ``(N, H, W)``, ``(N, C, H, W)`` or one ``(H, W)`` map; magnitudes are used.

    Returns:
        ``(N,)`` float64 in :math:`[0, 1 - 1/n]`.

    Example:
        >>> one_hot = np.zeros((4, 4)); one_hot[1, 2] = 5.0
        >>> gini_index(np.stack([one_hot, np.ones((4, 4))])).tolist()
        [0.9375, 0.0]
    """
    a = np.sort(_magnitudes(maps), axis=1)
    n = a.shape[1]
    k = np.arange(1, n + 1, dtype=np.float64)
    total = a.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((2 * k - n - 1) * a).sum(axis=1) / (n * total)


def entropy_complexity(maps: Any) -> np.ndarray:
    r"""Entropy-based complexity of each map (Bhatt et al., IJCAI 2020, https://arxiv.org/abs/2005.00631).

    .. math:: P(i) = \frac{|a_i|}{\sum_j |a_j|}, \qquad \mu_C(a) = -\sum_{i} P(i) \ln P(i)

    with :math:`0 \ln 0 = 0` (natural logarithm). One non-zero pixel scores 0, a constant map
    :math:`\ln n`; an all-zero map NaN (with a warning).

    Args:
        maps: ``(N, H, W)``, ``(N, C, H, W)`` or one ``(H, W)`` map; magnitudes are used.

    Returns:
        ``(N,)`` float64 in :math:`[0, \ln n]`.

    Example:
        >>> one_hot = np.zeros((4, 4)); one_hot[1, 2] = 5.0
        >>> entropy_complexity(np.stack([one_hot, np.ones((4, 4))])).round(6).tolist()
        [0.0, 2.772589]
    """
    a = _magnitudes(maps)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = a / a.sum(axis=1, keepdims=True)
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        out = 0.0 - terms.sum(axis=1)  # 0.0 - x: no -0.0 for a one-pixel map
    return np.where(a.sum(axis=1) > 0, out, np.nan)
