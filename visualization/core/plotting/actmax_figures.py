"""Matplotlib figures of activation maximization: a grid of channel images and one result with its
objective curve. Built with ``pyplot`` so ``plt.show()`` displays them; nothing is shown here and
``rcParams`` are not changed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..activation_max import MaximizationResult


def _pyplot() -> Any:
    import matplotlib.pyplot as plt

    return plt


def _title(result: MaximizationResult, class_names: Sequence[str] | None) -> str:
    title = result.objective
    if class_names is not None and result.layer_name is None and result.objective.startswith("class "):
        k = int(result.objective.split()[1])
        if 0 <= k < len(class_names):
            title = f"{title} ({class_names[k]})"
    return title


def channel_grid_figure(results: Sequence[MaximizationResult], ncols: int) -> Any:
    """One image per result (one channel each), ``ncols`` per row, titled ``#c`` and the final objective.

    Example:
        >>> import numpy as np
        >>> from visualization.core.activation_max import MaximizationResult, MaximizeSettings
        >>> r = MaximizationResult(np.zeros((8, 8, 3)), np.zeros((3, 8, 8)), np.zeros(2), 1.5,
        ...                        "channel 3 of 'conv' (mean activation)", "conv", MaximizeSettings())
        >>> fig = channel_grid_figure([r, r], ncols=8)
        >>> [ax.get_title() for ax in fig.axes], fig.get_suptitle()
        (['#3  1.5', '#3  1.5'], "Channels of 'conv' maximized (mean activation after 256 steps)")
    """
    plt = _pyplot()
    n = len(results)
    cols = max(1, min(ncols, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.7 * cols + 0.3, 1.85 * rows + 0.6), layout="constrained", squeeze=False
    )
    for idx, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if idx >= n:
            ax.axis("off")
            continue
        r = results[idx]
        ax.imshow(r.image, interpolation="bilinear")
        channel = r.objective.split()[1]
        ax.set_title(f"#{channel}  {r.value:.3g}", fontsize=8)
    first = results[0]
    fig.suptitle(
        f"Channels of {first.layer_name!r} maximized (mean activation after {first.settings.steps} steps)",
        fontsize=10,
    )
    return fig


def maximization_figure(result: MaximizationResult, class_names: Sequence[str] | None = None) -> Any:
    """The image next to the objective over the optimization steps."""
    plt = _pyplot()
    fig, (ax_img, ax_curve) = plt.subplots(1, 2, figsize=(9.0, 4.0), layout="constrained")
    ax_img.imshow(result.image, interpolation="bilinear")
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    ax_img.set_title(_title(result, class_names), fontsize=10)
    ax_curve.plot(range(1, len(result.history) + 1), result.history, lw=1.0, label="per step (random transform)")
    ax_curve.axhline(result.value, color="C1", ls="--", lw=1.0, label=f"final image: {result.value:.3g}")
    ax_curve.set_xlabel("step")
    ax_curve.set_ylabel("objective")
    ax_curve.legend(fontsize=8)
    s = result.settings
    fig.suptitle(f"Activation maximization ({s.parameterization}, lr={s.lr}, seed={s.seed})", fontsize=10)
    return fig
