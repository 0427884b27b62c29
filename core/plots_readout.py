"""Figures of the whitened-kernel page: accuracy against the ridge strength."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.plots import LEGEND_UNDER

if TYPE_CHECKING:
    import plotly.graph_objects as go

# The three accuracies, one colour each, the same in the curve and in the page's text.
ACCURACY_SERIES = {"raw_template": ("raw kernel, template rule", "#888888"),
                   "whitened_template": ("whitened kernel, template rule", "#1f77b4"),
                   "readout": ("linear read-out", "#d62728")}


def ridge_curve(ridges: Sequence[float], accuracies: dict[str, np.ndarray], chosen: float,
                model_accuracy: float | None = None) -> "go.Figure":
    """Test accuracy of each rule against the ridge strength (categorical axis: 0 has no place on a log one)."""
    import plotly.graph_objects as go

    labels = [f"{r:g}" for r in ridges]
    fig = go.Figure()
    # The raw kernel's line dashed and drawn last: under white noise the whitened kernel's lies exactly on it (the
    # template rule ignores scale), and drawn first it was hidden; the legend keeps the series' order.
    for key in sorted(accuracies, key=lambda key: key == "raw_template"):
        name, colour = ACCURACY_SERIES[key]
        fig.add_trace(go.Scatter(x=labels, y=100 * np.asarray(accuracies[key]), mode="lines+markers", name=name,
                                 line={"color": colour, "dash": "dash" if key == "raw_template" else "solid"},
                                 legendrank=1 + list(ACCURACY_SERIES).index(key),
                                 hovertemplate="λ = %{x}: %{y:.1f} %<extra>" + name + "</extra>"))
    # Under the line on the left: at its default place (above, on the right) it lay on a read-out falling to chance
    fig.add_hline(y=10, line_dash="dot", line_color="grey", annotation_text="chance", annotation_position="bottom left")
    if model_accuracy is not None:  # labelled on the left: on the right it lay on "λ chosen" when λ was the largest
        fig.add_hline(y=100 * model_accuracy, line_dash="dash", line_color="black", annotation_text="the network",
                      annotation_position="bottom left")
    # Named: a plain grey line was taken for the raw kernel's
    fig.add_vline(x=labels.index(f"{chosen:g}"), line_color="#bbbbbb", line_dash="dot", annotation_text="λ chosen",
                  annotation_position="top", annotation_font_color="#888888")
    fig.update_layout(xaxis_title="ridge strength λ (× mean pixel variance)", yaxis_title="test accuracy (%)",
                      yaxis_range=[0, 100], height=360, margin=dict(l=10, r=10, t=30, b=10),
                      legend=LEGEND_UNDER)
    fig.update_xaxes(type="category")
    return fig
