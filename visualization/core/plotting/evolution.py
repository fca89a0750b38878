"""Feature maps as a 3-D surface and as an animation over training epochs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def surface_figure(fmap: np.ndarray, title: str, cmap: str = "viridis") -> Any:
    """A matplotlib 3-D surface of one ``(h, w)`` map: height and colour are the activation."""
    import matplotlib.pyplot as plt

    h, w = fmap.shape
    yy, xx = np.mgrid[0:h, 0:w]
    fig = plt.figure(figsize=(7.5, 6.0), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    surf = ax.plot_surface(xx, yy, fmap, cmap=cmap, linewidth=0, antialiased=True)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_zlabel("activation")
    ax.invert_yaxis()  # row 0 at the back, as in an image
    fig.colorbar(surf, ax=ax, shrink=0.6, pad=0.08, label="activation")
    ax.set_title(title)
    return fig


def surface_plotly(fmap: np.ndarray, title: str) -> Any:
    """The same surface as an interactive plotly figure (rotate, zoom, hover for values)."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Surface(
            z=fmap,
            colorscale="Viridis",
            colorbar={"title": {"text": "activation"}},
            hovertemplate="row %{y}, col %{x}<br>activation %{z:.4g}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title},
        scene={
            "xaxis_title": "column",
            "yaxis_title": "row",
            "zaxis_title": "activation",
            "yaxis": {"autorange": "reversed"},
        },
        width=700,
        height=620,
    )
    return fig


def animate_feature_maps(
    frames: Sequence[np.ndarray],
    path: str | Path,
    *,
    labels: Sequence[str] | None = None,
    title: str = "",
    fps: float = 2.0,
    cmap: str = "viridis",
) -> Path:
    """Write a GIF (matplotlib's Pillow writer) of how a grid of feature maps changes over time.

    ``frames`` is a sequence of ``(C, h, w)`` arrays, e.g. one snapshot of the same channels per
    training epoch; ``labels`` titles each frame (default ``"epoch i"``). One colour scale spans all
    frames so growth and decay are visible. Returns the path written.

    Example:
        >>> import tempfile, pathlib
        >>> frames = [np.random.default_rng(i).random((4, 8, 8)) for i in range(3)]
        >>> out = animate_feature_maps(frames, pathlib.Path(tempfile.mkdtemp()) / "maps.gif")
        >>> out.stat().st_size > 0
        True
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    if not frames:
        raise ValueError("frames is empty; pass at least one (C, h, w) snapshot.")
    shapes = {np.shape(f) for f in frames}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3:
        raise ValueError(f"every frame must be a (C, h, w) array of the same shape; got shapes {sorted(shapes)}.")
    stack = np.stack(frames).astype(np.float32)
    n, c = stack.shape[:2]
    labels = list(labels) if labels is not None else [f"epoch {i}" for i in range(n)]
    cols = int(np.ceil(np.sqrt(c)))
    rows = int(np.ceil(c / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.8 * cols + 0.8, 1.8 * rows + 0.7), squeeze=False, layout="constrained"
    )
    vmin, vmax = float(stack.min()), float(stack.max())
    images = []
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k < c:
            images.append(ax.imshow(stack[0, k], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest"))
            ax.set_title(f"ch {k}", fontsize=8)
        else:
            ax.axis("off")
    fig.colorbar(images[0], ax=axes, fraction=0.03, pad=0.02, label="activation")
    suptitle = fig.suptitle(f"{title} {labels[0]}".strip())

    def update(i: int) -> list[Any]:
        for k, im in enumerate(images):
            im.set_data(stack[i, k])
        suptitle.set_text(f"{title} {labels[i]}".strip())
        return images

    anim = FuncAnimation(fig, update, frames=n, interval=1000.0 / fps, blit=False)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part.gif")
    try:
        anim.save(tmp, writer=PillowWriter(fps=fps))
        tmp.replace(out)  # no half-written GIF if saving fails
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return out
