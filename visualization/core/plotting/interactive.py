"""Plotly figures (plotly is imported only when one of these is called)."""

from __future__ import annotations

from typing import Any

import numpy as np


def feature_maps_plotly(fmap: np.ndarray, layer_name: str) -> Any:
    """Browse the channels of one ``(C, h, w)`` feature map.

    One heatmap trace per channel, one visible at a time, chosen with a slider; the hover shows
    row, column and value; two buttons switch between a colour scale shared by all channels (so
    channels compare) and a scale fitted to each channel.
    """
    import plotly.graph_objects as go

    c, h, w = fmap.shape
    gmin, gmax = float(fmap.min()), float(fmap.max())
    fig = go.Figure()
    for ch in range(c):
        fig.add_trace(
            go.Heatmap(
                z=fmap[ch],
                zmin=gmin,
                zmax=gmax,
                zauto=False,
                colorscale="Viridis",
                visible=ch == 0,
                name=f"channel {ch}",
                hovertemplate=f"channel {ch}<br>row %{{y}}, col %{{x}}<br>value %{{z:.4g}}<extra></extra>",
                colorbar={"title": {"text": "activation"}},
            )
        )
    steps = [
        {
            "method": "update",
            "label": str(ch),
            "args": [
                {"visible": [i == ch for i in range(c)]},
                {"title": {"text": f"'{layer_name}' channel {ch} of {c} ({h}x{w})"}},
            ],
        }
        for ch in range(c)
    ]
    fig.update_layout(
        title={"text": f"'{layer_name}' channel 0 of {c} ({h}x{w})"},
        sliders=[{"active": 0, "currentvalue": {"prefix": "channel "}, "pad": {"t": 40}, "steps": steps}],
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "x": 0.0,
                "y": 1.12,
                "xanchor": "left",
                "buttons": [
                    {
                        "label": "shared colour scale",
                        "method": "restyle",
                        "args": [{"zauto": [False] * c, "zmin": [gmin] * c, "zmax": [gmax] * c}],
                    },
                    {"label": "per-channel scale", "method": "restyle", "args": [{"zauto": [True] * c}]},
                ],
            }
        ],
        yaxis={"autorange": "reversed", "scaleanchor": "x", "title": "row"},
        xaxis={"title": "column"},
        width=640,
        height=640,
    )
    return fig
