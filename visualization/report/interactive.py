"""Plotly views for the report: a CAM explorer with method/class buttons and an opacity slider."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np


def _photo_data_uri(image: np.ndarray) -> str:
    """The photo under the heatmaps as a lossy WebP data URI (quality 90: a tenth of a PNG's size)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).save(buf, format="WEBP", quality=90)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def cam_explorer(image: np.ndarray, layers: Sequence[tuple[str, np.ndarray]], title: str, grid: int = 56) -> Any:
    """One photo under switchable heatmaps.

    ``layers`` is ``[(label, heatmap (H, W) in [0, 1]), ...]``. Each heatmap is averaged down to
    ``grid x grid`` cells (a 224 px map becomes 4 x 4 px cells, drawn smoothed) so the page stays
    small. Buttons choose the label, a slider the heatmap's opacity; the hover shows the value.
    """
    import plotly.graph_objects as go

    h, w = image.shape[:2]
    fig = go.Figure(go.Image(source=_photo_data_uri(image), hoverinfo="skip"))
    for i, (label, heat) in enumerate(layers):
        fy, fx = max(1, heat.shape[0] // grid), max(1, heat.shape[1] // grid)
        small = heat[: heat.shape[0] // fy * fy, : heat.shape[1] // fx * fx]
        small = small.reshape(small.shape[0] // fy, fy, small.shape[1] // fx, fx).mean(axis=(1, 3))
        fig.add_trace(
            go.Heatmap(
                z=np.round(small, 3),
                x0=(w / small.shape[1]) / 2 - 0.5,
                dx=w / small.shape[1],
                y0=(h / small.shape[0]) / 2 - 0.5,
                dy=h / small.shape[0],
                zmin=0.0,
                zmax=1.0,
                colorscale="Jet",
                opacity=0.5,
                zsmooth="best",
                visible=i == 0,
                name=label,
                colorbar={"title": {"text": "relevance"}},
                hovertemplate=f"{label}<br>x %{{x:.0f}}, y %{{y:.0f}}<br>relevance %{{z:.2f}}<extra></extra>",
            )
        )
    n = len(layers)
    buttons = [
        {"label": label, "method": "restyle", "args": [{"visible": [True] + [j == i for j in range(n)]}]}
        for i, (label, _) in enumerate(layers)
    ]
    opacity_steps = [
        {"label": f"{v:.1f}", "method": "restyle", "args": [{"opacity": v}, list(range(1, n + 1))]}
        for v in np.round(np.linspace(0.0, 1.0, 11), 1)
    ]
    fig.update_layout(
        title={"text": title, "y": 0.98, "yanchor": "top"},
        updatemenus=[
            {
                "type": "dropdown",
                "buttons": buttons,
                "x": 0.0,
                "y": 1.01,
                "xanchor": "left",
                "yanchor": "bottom",
                "active": 0,
            }
        ],
        sliders=[
            {"active": 5, "currentvalue": {"prefix": "heatmap opacity "}, "pad": {"t": 30}, "steps": opacity_steps}
        ],
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
        width=560,
        height=640,
        margin={"l": 10, "r": 10, "t": 110, "b": 10},
    )
    return fig
