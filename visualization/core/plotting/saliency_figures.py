"""Matplotlib figures for the saliency methods (:mod:`visualization.core.saliency`).

Built with ``pyplot`` so that ``plt.show()`` displays them; nothing here calls ``show()`` or changes
``rcParams``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..image import colorize, resize_bilinear

if TYPE_CHECKING:
    from ..saliency import SaliencyResult


def _class_label(result: SaliencyResult, sample: int, class_names: Sequence[str] | None) -> str:
    """``class 3 (cat), p=0.91`` for the explained class of ``sample``, or ``custom target``."""
    if result.targets is None:
        return "custom target"
    c = int(result.targets[sample])
    label = f"class {c}"
    if class_names is not None and 0 <= c < len(class_names):
        label += f" ({class_names[c]})"
    if result.outputs.ndim == 2:
        z = result.outputs[sample].astype(np.float64)
        p = np.exp(z - z.max())
        label += f", p={p[c] / p.sum():.2f}"
    return label


def clip_for_display(heat: np.ndarray, percentile: float) -> np.ndarray:
    """``heat`` (in ``[0, 1]``) divided by its ``percentile``-th percentile and clipped to ``[0, 1]``, so
    that a few extreme pixels (common in gradient maps) do not make the rest invisible; 100 keeps it."""
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"clip_percentile must be in (0, 100]; got {percentile}.")
    top = float(np.percentile(heat, percentile)) if percentile < 100.0 else float(heat.max())
    return np.clip(heat / top, 0.0, 1.0).astype(np.float32) if top > 0 else np.zeros_like(heat)


def weighted_overlay(image: np.ndarray, heat: np.ndarray, alpha: float, cmap: str) -> np.ndarray:
    """The heat's colours over the image with opacity ``alpha * heat``: where the map is 0 the photo shows
    unchanged (a plain blend would darken it with the colormap's low end)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}.")
    a = (alpha * heat)[..., None]
    return ((1.0 - a) * image + a * colorize(heat, cmap)).astype(np.float32)


def saliency_figure(
    image: np.ndarray,
    result: SaliencyResult,
    sample: int,
    *,
    alpha: float,
    cmap: str,
    class_names: Sequence[str] | None,
    clip_percentile: float = 99.5,
) -> Any:
    """Original | saliency map | signed sum over channels | overlay, for one sample.

    The saliency map is :func:`~visualization.core.saliency.saliency_maps` (max |a| over channels,
    min-max normalized) and, for display only, scaled by :func:`clip_for_display`; the signed panel's
    symmetric colour range is the same percentile of its absolute values.
    """
    import matplotlib.pyplot as plt

    from ..saliency import saliency_maps

    attr = result.attributions[sample]
    heat = clip_for_display(saliency_maps(attr[None])[0], clip_percentile)
    signed = attr.astype(np.float64).sum(axis=0)
    if heat.shape != image.shape[:2]:
        heat = resize_bilinear(heat, image.shape[:2])
    clipped = f" (clipped at the {clip_percentile:g}th percentile)" if clip_percentile < 100 else ""
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.6), layout="constrained")
    axes[0].imshow(image)
    axes[0].set_title("Original")
    im = axes[1].imshow(heat, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    axes[1].set_title("saliency: max |a| over channels")
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.02, label="normalized" + clipped)
    absolute = np.abs(signed)
    vmax = float(np.percentile(absolute, clip_percentile)) if clip_percentile < 100 else float(absolute.max())
    vmax = vmax or float(absolute.max()) or 1.0
    im2 = axes[2].imshow(signed, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    axes[2].set_title("signed: sum of a over channels")
    fig.colorbar(im2, ax=axes[2], fraction=0.046, pad=0.02, format="%.1e", label="attribution" + clipped)
    axes[3].imshow(weighted_overlay(image, heat, alpha, cmap))
    axes[3].set_title("Overlay")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{result.method} for {_class_label(result, sample, class_names)}")
    return fig
