r"""Localization metrics: does the map point at the object? (No model needed: maps against annotations.)

* :func:`pointing_game` (Zhang et al., "Top-down neural attention by excitation backprop", IJCV 2018):
  a hit when the map's maximum falls on the object, up to a tolerance in pixels.
* :func:`energy_pointing_game` (Wang et al., Score-CAM, CVPR-W 2020): the share of the map's energy
  that falls inside the object.

Regions are given per image as a box ``(x0, y0, x1, y1)``, a list of boxes (the object may appear
several times), or a boolean mask ``(H, W)``; for a batch, an ``(N, H, W)`` mask array or a sequence
of ``N`` such per-image entries. Boxes are in pixel coordinates of the map, **half-open**: pixel
``(row, column)`` is inside when ``x0 <= column < x1`` and ``y0 <= row < y1`` (``mask[y0:y1, x0:x1]``).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.backend import shape_text
from ..core.errors import InvalidInputError


@dataclass(frozen=True)
class PointingResult:
    """Pointing game outcome.

    Attributes:
        hits: ``(N,)`` bool, whether each map's maximum hit its region (within the tolerance).
        points: ``(N, 2)`` int64 ``(row, column)`` of each map's maximum (the first in raster order).
        distances: ``(N,)`` float64 Euclidean distance in pixels from the maximum to the nearest region pixel.
        accuracy: hits / (hits + misses).
    """

    hits: np.ndarray
    points: np.ndarray
    distances: np.ndarray
    accuracy: float


def _maps_batch(maps: Any) -> tuple[np.ndarray, bool]:
    arr = np.asarray(maps, dtype=np.float64)
    if arr.ndim not in (2, 3) or arr.shape[-1] == 0 or arr.shape[-2] == 0:
        raise InvalidInputError(
            f"Expected maps of shape (N, H, W) or (H, W) for one image; got shape {shape_text(arr.shape)}."
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError("The maps contain NaN or infinite values.")
    return (arr[None], True) if arr.ndim == 2 else (arr, False)


def _box_mask(box: Any, size: tuple[int, int]) -> np.ndarray:
    vals = np.asarray(box, dtype=np.float64)
    x0, y0, x1, y1 = vals
    if not np.isfinite(vals).all() or x1 <= x0 or y1 <= y0:
        raise InvalidInputError(
            f"A box must be (x0, y0, x1, y1) with x0 < x1 and y0 < y1 (half-open pixel coordinates); got {box!r}."
        )
    h, w = size
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    mask = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
    if not mask.any():
        raise InvalidInputError(f"The box {box!r} covers no pixel of the {h} x {w} map; check its coordinates.")
    return mask


def region_mask(region: Any, size: tuple[int, int]) -> np.ndarray:
    """One image's region as a bool ``(H, W)`` mask: a box, a list or ``(K, 4)`` array of boxes, or a mask.

    >>> region_mask((1, 0, 3, 2), (3, 4)).astype(int).tolist()
    [[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    """
    arr = np.asarray(region)
    if arr.dtype == bool or (arr.ndim == 2 and arr.shape == tuple(size) and arr.shape[-1] != 4):
        if arr.shape != tuple(size):
            raise InvalidInputError(
                f"A region mask must have the map's shape {shape_text(size)}; got {shape_text(arr.shape)}."
            )
        mask = arr.astype(bool)
        if not mask.any():
            raise InvalidInputError("A region mask is all False; every image needs a non-empty region.")
        return mask
    if arr.ndim == 1 and arr.shape[0] == 4:
        return _box_mask(arr, size)
    if arr.ndim == 2 and arr.shape[1] == 4 and arr.shape[0] >= 1:
        return np.logical_or.reduce([_box_mask(b, size) for b in arr])
    raise InvalidInputError(
        f"Expected a region as a box (x0, y0, x1, y1), a list of boxes or a bool mask {shape_text(size)}; got "
        f"an array of shape {shape_text(arr.shape)}."
    )


def _region_masks(regions: Any, n: int, size: tuple[int, int], single: bool) -> np.ndarray:
    """``(N, H, W)`` bool masks from the ``regions`` of :mod:`this module <visualization.metrics.localization>`."""
    if single:
        return region_mask(regions, size)[None]
    if isinstance(regions, (str, bytes)) or not isinstance(regions, (Sequence, np.ndarray)):
        raise InvalidInputError(
            f"Expected one region per image (a sequence of {n} boxes, box lists or masks, or an (N, H, W) mask "
            f"array); got {type(regions).__name__}."
        )
    if len(regions) != n:
        raise InvalidInputError(
            f"Expected one region per map: {n} maps but {len(regions)} regions. For a single (H, W) map pass its "
            "region directly; for a batch, a sequence of one entry (box, list of boxes or mask) per map."
        )
    as_masks = isinstance(regions, np.ndarray) and regions.ndim == 3 and regions.shape[1:] == tuple(size)
    return np.stack([region_mask(r.astype(bool) if as_masks else r, size) for r in regions])


def pointing_game(maps: Any, regions: Any, tolerance: float = 15.0) -> PointingResult:
    r"""Pointing game (Zhang et al., "Top-down neural attention by excitation backprop", IJCV 2018,
    https://arxiv.org/abs/1608.00507).

    A map *hits* when its maximum point :math:`p^* = \arg\max_p M(p)` (the first in raster order if
    several pixels share the maximum) lies within ``tolerance`` pixels of the annotated region
    :math:`R`:

    .. math:: \text{hit} = \big[\min_{q \in R} \lVert p^* - q \rVert_2 \le \tau\big], \qquad
              \text{accuracy} = \frac{\#\text{hits}}{\#\text{hits} + \#\text{misses}}

    The paper uses :math:`\tau = 15` pixels on 224 x 224 images (scale it with your resolution);
    ``tolerance=0`` asks for the maximum to fall inside the region.

    Args:
        maps: ``(N, H, W)`` maps, or ``(H, W)`` for one image (any real values).
        regions: per image a box ``(x0, y0, x1, y1)``, boxes, or a bool mask (see the module docstring).
        tolerance: :math:`\tau` in pixels, ``>= 0``.

    Example:
        >>> m = np.zeros((2, 8, 8)); m[0, 2, 3] = 1.0; m[1, 7, 7] = 1.0
        >>> res = pointing_game(m, [(2, 1, 5, 4), (2, 1, 5, 4)], tolerance=0)
        >>> res.hits.tolist(), res.accuracy
        ([True, False], 0.5)
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not tolerance >= 0:
        raise ValueError(f"tolerance must be a number of pixels >= 0; got {tolerance!r}.")
    arr, single = _maps_batch(maps)
    n, h, w = arr.shape
    masks = _region_masks(regions, n, (h, w), single)
    flat = arr.reshape(n, -1).argmax(axis=1)
    points = np.stack(np.divmod(flat, w), axis=1).astype(np.int64)
    distances = np.empty(n)
    for i in range(n):
        rr, cc = np.nonzero(masks[i])
        distances[i] = np.sqrt(((rr - points[i, 0]) ** 2 + (cc - points[i, 1]) ** 2).min())
    hits = distances <= float(tolerance)
    return PointingResult(hits, points, distances, float(hits.mean()))


def energy_pointing_game(maps: Any, regions: Any) -> np.ndarray:
    r"""Energy-based pointing game (Wang et al., Score-CAM, CVPR-W 2020, https://arxiv.org/abs/1910.01279).

    The share of the map's energy that falls inside the region :math:`R`:

    .. math:: \text{Proportion} = \frac{\sum_{p \in R} M(p)}{\sum_{p} M(p)}

    The maps must be non-negative (CAM heatmaps are; for signed attributions pass ``np.abs(m)`` or
    ``np.maximum(m, 0)``). The paper averages the proportion over images. A map of zeros has no energy
    to place: its proportion is NaN, with a warning.

    Args:
        maps: ``(N, H, W)`` or ``(H, W)`` non-negative maps.
        regions: as in :func:`pointing_game`.

    Returns:
        ``(N,)`` float64 proportions in ``[0, 1]``.

    Example:
        >>> m = np.zeros((4, 4)); m[0, 0] = 3.0; m[3, 3] = 1.0
        >>> energy_pointing_game(m, (0, 0, 2, 2)).tolist()
        [0.75]
    """
    arr, single = _maps_batch(maps)
    if (arr < 0).any():
        raise InvalidInputError(
            "The energy-based pointing game needs non-negative maps (energy); these have negative values. Pass "
            "np.abs(maps) or np.maximum(maps, 0), or min-max normalized maps."
        )
    n, h, w = arr.shape
    masks = _region_masks(regions, n, (h, w), single)
    total = arr.sum(axis=(1, 2))
    inside = np.where(masks, arr, 0.0).sum(axis=(1, 2))
    if (total == 0).any():
        warnings.warn(
            f"{int((total == 0).sum())} map(s) are all zero, so their energy proportion is undefined (NaN).",
            RuntimeWarning,
            stacklevel=2,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)
