"""Numpy image helpers shared by every framework: resize, normalize, colorize, overlay.

The bilinear resize reproduces ``torch.nn.functional.interpolate(mode='bilinear',
align_corners=False)`` and Paddle's equivalent (half-pixel centres, edge clamping), so heatmaps
upsampled here match what either framework would produce.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from .errors import InvalidInputError


@lru_cache(maxsize=64)
def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output pixel: the two input neighbours and the weight of the second one."""
    scale = n_in / n_out
    src = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    for arr in (i0, i1, frac):
        arr.setflags(write=False)
    return i0, i1, frac


def resize_bilinear(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize the last two axes of ``maps`` to ``size = (H, W)`` bilinearly.

    Formula (per axis): output pixel ``i`` samples the input at ``s = (i + 0.5) * n_in / n_out - 0.5``
    (clamped at 0) and mixes the neighbours ``floor(s)`` and ``floor(s) + 1`` (clamped at the edge)
    with weights ``1 - frac(s)`` and ``frac(s)``. Rows, then columns; computed in float64 by gathers
    and element-wise blends (no BLAS call, whose threads would compete with the framework's).

    >>> resize_bilinear(np.array([[0.0, 1.0]]), (1, 4)).round(3).tolist()
    [[0.0, 0.25, 0.75, 1.0]]
    """
    maps = np.asarray(maps)
    h, w = maps.shape[-2:]
    H, W = int(size[0]), int(size[1])
    if (h, w) == (H, W):
        return maps.astype(np.float32, copy=True)
    x = maps.astype(np.float64)
    r0, r1, fr = _taps(h, H)
    x = x[..., r0, :] * (1.0 - fr)[:, None] + x[..., r1, :] * fr[:, None]
    c0, c1, fc = _taps(w, W)
    x = x[..., c0] * (1.0 - fc) + x[..., c1] * fc
    return x.astype(np.float32)


def normalize_maps(maps: np.ndarray) -> np.ndarray:
    """Min-max normalize each map over its last two axes to ``[0, 1]``.

    ``(m - min) / (max - min)``; a constant map (nothing to show) becomes all zeros.
    """
    maps = np.asarray(maps, dtype=np.float32)
    lo = maps.min(axis=(-2, -1), keepdims=True)
    hi = maps.max(axis=(-2, -1), keepdims=True)
    rng = hi - lo
    safe = np.where(rng > 0, rng, 1.0)
    out = (maps - lo) / safe
    return np.where(rng > 0, out, 0.0).astype(np.float32)


def to_display_image(image: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """Convert a PIL image, HWC/CHW array (uint8 or float) or a framework tensor's numpy value
    into a float ``(H, W, 3)`` RGB array in ``[0, 1]`` for display.

    Float arrays outside ``[0, 1]`` (e.g. a normalized network input) are min-max scaled.
    ``size=(H, W)`` resizes bilinearly.
    """
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL.Image without importing PIL
        arr = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    else:
        arr = np.asarray(image)
        if arr.ndim == 4 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=-1)
        if arr.ndim != 3:
            raise InvalidInputError(
                f"original_image must be an image of shape (H, W), (H, W, C) or (C, H, W); got shape "
                f"{arr.shape}. Pass a PIL image or a numpy array of one image."
            )
        if arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
            arr = np.transpose(arr, (1, 2, 0))
        if arr.shape[-1] == 1:
            arr = np.repeat(arr, 3, axis=-1)
        arr = arr[..., :3]
        if np.issubdtype(arr.dtype, np.integer):
            arr = arr.astype(np.float32) / 255.0
        else:
            arr = arr.astype(np.float32)
            if not np.isfinite(arr).all():
                raise InvalidInputError("original_image contains NaN or infinite values; pass a finite image.")
            if arr.min() < 0.0 or arr.max() > 1.0:
                arr = (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-12)
    if size is not None and arr.shape[:2] != tuple(size):
        arr = np.moveaxis(resize_bilinear(np.moveaxis(arr, -1, 0), size), 0, -1)
    return np.clip(arr, 0.0, 1.0)


def colorize(heatmap: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """Map a ``[0, 1]`` heatmap of shape ``(H, W)`` to RGB ``(H, W, 3)`` with a matplotlib colormap."""
    from matplotlib import colormaps

    return colormaps[cmap](np.clip(heatmap, 0.0, 1.0))[..., :3].astype(np.float32)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a colorized heatmap over an RGB image: ``(1 - alpha) * image + alpha * colorize(heatmap)``.

    The heatmap is resized to the image when their sizes differ.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}.")
    if heatmap.shape != image.shape[:2]:
        heatmap = resize_bilinear(heatmap, image.shape[:2])
    return ((1.0 - alpha) * image + alpha * colorize(heatmap, cmap)).astype(np.float32)
