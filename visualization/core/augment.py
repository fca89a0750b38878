"""Test-time augmentation for ``aug_smooth``: flip and zoom the input, explain, map back, average.

Every transform keeps the input's size, so models with a fixed input size (a flattening classifier
head) accept the augmented copies too: a zoom by ``s`` resamples the image about its centre
(``s > 1`` magnifies and crops, ``s < 1`` shrinks and fills the border with the edge pixels). The
heatmap of an augmented copy is mapped back with the inverse transform; parts of the original image
that a copy did not show (the border cropped by a zoom-in) do not vote for that copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Transform:
    """A horizontal flip (or not) followed by a zoom about the image centre by ``scale``."""

    flip: bool
    scale: float

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Transform images ``(..., H, W)``."""
        out = x[..., ::-1] if self.flip else x
        return zoom(out, self.scale)[0] if self.scale != 1.0 else np.ascontiguousarray(out)

    def invert(self, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map heatmaps ``(..., H, W)`` of transformed images back; returns ``(maps, valid)`` where
        ``valid`` ``(H, W)`` is 1 where the transformed image showed that part of the original."""
        if self.scale != 1.0:
            maps, valid = zoom(maps, 1.0 / self.scale)
        else:
            valid = np.ones(maps.shape[-2:])
        if self.flip:
            maps, valid = maps[..., ::-1], valid[..., ::-1]
        return maps, valid


#: Horizontal flips times zooms of 0.9, 1 and 1.1: six views of every image.
TRANSFORMS = tuple(Transform(flip, scale) for flip in (False, True) for scale in (1.0, 1.1, 0.9))


def zoom(x: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Resample ``x`` ``(..., H, W)`` about its centre, keeping its size; returns ``(out, valid)``.

    Output pixel :math:`p` samples the input at :math:`(p - c) / s + c` with :math:`c = (n - 1) / 2`
    per axis, bilinearly, clamped at the edges. ``valid`` is 1 where that point lies inside the input.

    >>> out, valid = zoom(np.arange(5.0)[None, :].repeat(5, 0), 2.0)
    >>> out[0].tolist(), valid[0].tolist()
    ([1.0, 1.5, 2.0, 2.5, 3.0], [1.0, 1.0, 1.0, 1.0, 1.0])
    """
    h, w = x.shape[-2:]
    rows, rvalid = _axis(h, scale)
    cols, cvalid = _axis(w, scale)
    (r0, r1, rf), (c0, c1, cf) = rows, cols
    xr = x[..., r0, :] * (1.0 - rf)[:, None] + x[..., r1, :] * rf[:, None]
    out = xr[..., c0] * (1.0 - cf) + xr[..., c1] * cf
    return out, np.outer(rvalid, cvalid)


def _axis(n: int, scale: float) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    c = (n - 1) / 2.0
    src = (np.arange(n) - c) / scale + c
    valid = ((src >= -1e-9) & (src <= n - 1 + 1e-9)).astype(np.float64)
    src = np.clip(src, 0.0, n - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    return (lo, hi, src - lo), valid
