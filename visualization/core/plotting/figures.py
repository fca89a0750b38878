"""Matplotlib figures. Built with ``pyplot.figure`` so that ``plt.show()`` (as in the tutorial)
displays them; nothing here calls ``show()`` or changes ``rcParams``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..image import normalize_maps, overlay, resize_bilinear, to_display_image

if TYPE_CHECKING:
    from ..backend import Backend
    from ..cam import CAMResult
    from ..layer_viz import GradientResult


def _pyplot() -> Any:
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


def _blank(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def display_image_for(backend: Backend, x: Any, original_image: Any, sample: int) -> np.ndarray:
    """RGB ``(H, W, 3)`` image in ``[0, 1]`` to draw under a heatmap of sample ``sample`` of ``x``."""
    if original_image is not None:
        return to_display_image(original_image)
    arr = backend.to_numpy(x)
    if arr.ndim == 4:
        arr = arr[sample]
    return to_display_image(arr)


def _class_label(result: CAMResult, sample: int, class_names: Sequence[str] | None) -> str:
    if result.targets is None:
        return "custom target"
    c = int(result.targets[sample])
    label = f"class {c}"
    if class_names is not None and 0 <= c < len(class_names):
        label += f" ({class_names[c]})"
    out = result.outputs
    if out.ndim == 2:
        z = out[sample].astype(np.float64)
        p = np.exp(z - z.max())
        label += f", p={p[c] / p.sum():.2f}"
    return label


def cam_figure(
    image: np.ndarray,
    result: CAMResult,
    sample: int,
    *,
    alpha: float,
    cmap: str,
    class_names: Sequence[str] | None,
) -> Any:
    """Original | heatmap with colour bar | overlay, for one sample."""
    plt = _pyplot()
    heat = result.heatmaps[sample]
    heat_img = resize_bilinear(heat, image.shape[:2]) if heat.shape != image.shape[:2] else heat
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), layout="constrained")
    axes[0].imshow(image)
    axes[0].set_title("Original")
    im = axes[1].imshow(heat_img, cmap=cmap, vmin=0.0, vmax=1.0)
    axes[1].set_title(f"{result.method} heatmap")
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.02, label="relevance (normalized)")
    axes[2].imshow(overlay(image, heat_img, alpha=alpha, cmap=cmap))
    axes[2].set_title("Overlay")
    for ax in axes:
        _blank(ax)
    fig.suptitle(f"{result.method} at '{result.layer_name}' for {_class_label(result, sample, class_names)}")
    return fig


def cam_comparison_figure(
    images: Sequence[np.ndarray],
    results: Sequence[CAMResult],
    *,
    alpha: float,
    cmap: str,
    class_names: Sequence[str] | None,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Any:
    """One row per image: the image, then one overlay per method, and one shared colour bar.

    When the methods looked at different layers, each column title names its layer."""
    plt = _pyplot()
    n, m = len(images), len(results)
    same_layer = len({r.layer_name for r in results}) == 1
    fig, axes = plt.subplots(
        n, m + 1, figsize=(3.2 * (m + 1) + 0.8, 3.2 * n + 0.6), layout="constrained", squeeze=False
    )
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(Normalize(0.0, 1.0), cmap)
    for i, image in enumerate(images):
        axes[i, 0].imshow(image)
        axes[i, 0].set_title(_class_label(results[0], i, class_names), fontsize=9)
        axes[i, 0].set_ylabel(row_labels[i] if row_labels is not None else f"image {i}")
        for j, res in enumerate(results, start=1):
            heat = res.heatmaps[i]
            if heat.shape != image.shape[:2]:
                heat = resize_bilinear(heat, image.shape[:2])
            axes[i, j].imshow(overlay(image, heat, alpha=alpha, cmap=cmap))
            if i == 0:
                axes[i, j].set_title(res.method if same_layer else f"{res.method}\n'{res.layer_name}'")
        for ax in axes[i]:
            _blank(ax)
    fig.colorbar(mappable, ax=axes[:, 1:], fraction=0.03, pad=0.01, label="relevance (normalized)")
    fig.suptitle(title or (f"CAM methods at '{results[0].layer_name}'" if same_layer else "CAM methods"))
    return fig


def filter_figure(kernel: np.ndarray, layer_name: str, max_filters: int, mode: str, max_channels: int) -> Any:
    """Grid of convolution kernels (see ``CNNLayerVisualizer.visualize_conv_filters``)."""
    plt = _pyplot()
    n = min(max_filters, kernel.shape[0])
    k = kernel[:n]
    title = f"Filters of '{layer_name}' {kernel.shape[0]}x{kernel.shape[1]}x{kernel.shape[2]}x{kernel.shape[3]}"
    if mode == "rgb":
        rows, cols = _grid(n)
        fig, axes = plt.subplots(
            rows, cols, figsize=(1.6 * cols + 0.4, 1.6 * rows + 0.6), layout="constrained", squeeze=False
        )
        rgb = normalize_maps(k.reshape(n, -1, 1)).reshape(k.shape)  # per-filter min-max over all channels
        for idx, ax in enumerate(axes.flat):
            _blank(ax)
            if idx < n:
                ax.imshow(np.transpose(rgb[idx], (1, 2, 0)), interpolation="nearest")
                ax.set_title(f"#{idx}", fontsize=8)
            else:
                ax.axis("off")
        fig.suptitle(title + " (RGB, scaled per filter)")
        return fig
    if mode == "mean":
        maps = k.mean(axis=1)
        rows, cols = _grid(n)
        fig, axes = plt.subplots(
            rows, cols, figsize=(1.6 * cols + 1.0, 1.6 * rows + 0.6), layout="constrained", squeeze=False
        )
        vmax = float(np.abs(maps).max()) or 1.0
        im = None
        for idx, ax in enumerate(axes.flat):
            _blank(ax)
            if idx < n:
                im = ax.imshow(maps[idx], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
                ax.set_title(f"#{idx}", fontsize=8)
            else:
                ax.axis("off")
        fig.colorbar(im, ax=axes, fraction=0.04, pad=0.02, label="mean weight over input channels")
        fig.suptitle(title)
        return fig
    # mode == "channels"
    c = min(max_channels, k.shape[1])
    fig, axes = plt.subplots(n, c, figsize=(1.2 * c + 1.2, 1.2 * n + 0.6), layout="constrained", squeeze=False)
    vmax = float(np.abs(k[:, :c]).max()) or 1.0
    im = None
    for i in range(n):
        for j in range(c):
            ax = axes[i, j]
            _blank(ax)
            im = ax.imshow(k[i, j], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
            if i == 0:
                ax.set_title(f"in {j}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"#{i}", fontsize=8)
    fig.colorbar(im, ax=axes, fraction=0.04, pad=0.02, label="weight")
    fig.suptitle(title + f" (first {c} input channels)")
    return fig


def feature_map_figure(
    fmap: np.ndarray, channels: np.ndarray, layer_name: str, *, shared_scale: bool, cmap: str
) -> Any:
    """Grid of channel maps with channel indices and colour bar(s)."""
    plt = _pyplot()
    n = len(channels)
    rows, cols = _grid(n)
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.0 * cols + 1.0, 2.0 * rows + 0.6), layout="constrained", squeeze=False
    )
    sel = fmap[channels]
    vmin, vmax = float(sel.min()), float(sel.max())
    im = None
    for idx, ax in enumerate(axes.flat):
        _blank(ax)
        if idx >= n:
            ax.axis("off")
            continue
        ch = int(channels[idx])
        kw = {"vmin": vmin, "vmax": vmax} if shared_scale else {}
        im = ax.imshow(fmap[ch], cmap=cmap, interpolation="nearest", **kw)
        ax.set_title(f"ch {ch}", fontsize=9)
        if not shared_scale:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    if shared_scale:
        fig.colorbar(im, ax=axes, fraction=0.03, pad=0.02, label="activation")
    c, h, w = fmap.shape
    fig.suptitle(f"Feature maps of '{layer_name}' ({n} of {c} channels, {h}x{w})")
    return fig


def gradient_figure(res: GradientResult, sample: int, max_maps: int) -> Any:
    """Gradient magnitude, per-channel weights (bar chart) and the strongest channels' gradient maps."""
    plt = _pyplot()
    g = res.gradients[sample]
    w = res.channel_weights[sample]
    c = g.shape[0]
    top = np.argsort(-np.abs(w), kind="stable")[: min(max_maps, c)]
    rows, cols = _grid(len(top))
    fig = plt.figure(figsize=(max(10.0, 2.0 * cols + 5.0), 3.2 + 2.0 * rows), layout="constrained")
    outer = fig.add_gridspec(2, 2, height_ratios=[1.0, float(rows) * 0.9], width_ratios=[1.0, 2.2])
    ax_mag = fig.add_subplot(outer[0, 0])
    im = ax_mag.imshow(res.magnitude[sample], cmap="magma", interpolation="nearest")
    fig.colorbar(im, ax=ax_mag, fraction=0.046, pad=0.02, label="||dS/dA||")
    ax_mag.set_title("gradient magnitude")
    _blank(ax_mag)
    ax_bar = fig.add_subplot(outer[0, 1])
    colors = np.where(w >= 0, "tab:red", "tab:blue")
    ax_bar.bar(np.arange(c), w, color=colors, width=1.0 if c > 64 else 0.8)
    ax_bar.axhline(0.0, color="black", linewidth=0.6)
    ax_bar.set_xlabel("channel")
    ax_bar.set_ylabel("mean gradient (weight)")
    ax_bar.set_title(f"channel weights (top {len(top)} by |weight| shown below)")
    inner = outer[1, :].subgridspec(rows, cols)
    vmax = float(np.abs(g[top]).max()) or 1.0
    im2 = None
    axes = []
    for idx, ch in enumerate(top):
        ax = fig.add_subplot(inner[idx // cols, idx % cols])
        axes.append(ax)
        im2 = ax.imshow(g[ch], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_title(f"ch {int(ch)}  w={w[ch]:+.2e}", fontsize=8)
        _blank(ax)
    fig.colorbar(im2, ax=axes, fraction=0.03, pad=0.02, label="dS/dA")
    target = "custom target" if res.targets is None else f"class {int(res.targets[sample])}"
    fig.suptitle(f"Gradient of the {target} score at '{res.layer_name}'")
    return fig
