"""Figures of the Lesson page: how the class answered a question, and the four models' template accuracies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

ANSWER_COLOUR = "#4575b4"  # the bars of core.plots
RIGHT_COLOUR = "#1a9850"  # the measured answer, once revealed


def answers_bar(counts: np.ndarray, choices: Sequence[str], right: int | None = None) -> "go.Figure":
    """Answers per choice; the measured answer's bar in green once the student has seen it (``right``)."""
    import plotly.graph_objects as go

    colours = [RIGHT_COLOUR if index == right else ANSWER_COLOUR for index in range(len(choices))]
    fig = go.Figure(go.Bar(x=list(choices), y=np.asarray(counts), marker_color=colours, text=list(np.asarray(counts)),
                           hovertemplate="%{x}: %{y} answers<extra></extra>"))
    fig.update_layout(yaxis_title="answers", height=280, margin=dict(l=10, r=10, t=10, b=10))
    fig.update_xaxes(type="category")
    fig.update_yaxes(rangemode="tozero", dtick=1 if int(np.max(counts, initial=0)) < 10 else None)
    return fig


def template_accuracy_bar(accuracies: Sequence[float], labels: Sequence[str]) -> "go.Figure":
    """Template accuracy of each model's noise averages on its own test set, against chance (10 %)."""
    import plotly.graph_objects as go

    values = np.asarray(accuracies, dtype=float) * 100
    fig = go.Figure(go.Bar(x=list(labels), y=values, text=[f"{v:.1f} %" for v in values],
                           marker_color=ANSWER_COLOUR, hovertemplate="%{x}: %{y:.1f} %<extra></extra>"))
    fig.add_hline(y=10, line_dash="dot", annotation_text="chance", annotation_position="top left")
    fig.update_layout(yaxis_title="template accuracy (%)", yaxis_range=[0, 100], height=300,
                      margin=dict(l=10, r=10, t=10, b=10))
    fig.update_xaxes(type="category")
    return fig
