"""Figures of the Lesson page: how the class answered a question, and the four models' template accuracies."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.plots import LEGEND_UNDER

if TYPE_CHECKING:
    import plotly.graph_objects as go

ANSWER_COLOUR = "#4575b4"  # the bars of core.plots
RIGHT_COLOUR = "#1a9850"  # the measured answer, once revealed


def _wrapped(label: str, width: int = 24) -> str:
    """A long label on lines of at most ``width`` characters, for a phone's axis."""
    return "<br>".join(textwrap.wrap(label, width)) or label


def _sideways(fig: "go.Figure", count: int) -> "go.Figure":
    """A bar chart turned so its labels read across on the left: on a phone, upright bars tilted the long answer
    labels on end, left a plot ~60 px high and cut the last label off."""
    fig.update_traces(orientation="h", textposition="outside", cliponaxis=False)
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)  # the margins grow to hold the labels and the axis title
    return fig.update_layout(height=80 + 56 * count, margin=dict(l=10, r=30, t=10, b=10))


def answers_bar(counts: np.ndarray, choices: Sequence[str], right: int | None = None,
                phone: bool = False) -> "go.Figure":
    """Answers per choice; the measured answer's bar in green once the student has seen it (``right``). Sideways
    on a ``phone``."""
    import plotly.graph_objects as go

    colours = [RIGHT_COLOUR if index == right else ANSWER_COLOUR for index in range(len(choices))]
    counts = np.asarray(counts)
    # the measured answer named on its bar too: green beside blue is 1.3:1 in lightness, one colour to many eyes
    marks = [" ✓ measured" if index == right else "" for index in range(len(choices))]
    ticks = dict(rangemode="tozero", dtick=1 if int(np.max(counts, initial=0)) < 10 else None)
    if phone:
        labels = [_wrapped(choice) for choice in choices]
        # "× 0", not "0": beside a class named by a digit, "2 0" read as twenty (a phone review)
        fig = go.Figure(go.Bar(y=labels, x=counts, marker_color=colours,
                               text=[f"× {c}{mark}" for c, mark in zip(counts, marks)],
                               hovertemplate="%{y}: %{x} answers<extra></extra>"))
        fig.update_xaxes(title_text="answers", **ticks)
        fig.update_yaxes(type="category", autorange="reversed", title_text="answer chosen")  # the first on top, as
        # the question lists them
        return _sideways(fig, len(choices))
    fig = go.Figure(go.Bar(x=list(choices), y=counts, marker_color=colours,
                           text=[f"{c}{mark}" for c, mark in zip(counts, marks)],
                           hovertemplate="%{x}: %{y} answers<extra></extra>"))
    fig.update_layout(yaxis_title="answers", height=280, margin=dict(l=10, r=10, t=10, b=10))
    fig.update_xaxes(type="category", title_text="answer chosen")
    fig.update_yaxes(**ticks)
    return fig


CHANCE_LINE = dict(dash="dot", color="#555867", width=1.5)


def _chance_legend() -> "go.Scatter":
    """A legend entry for the chance line (drawn as a shape, which has none)."""
    import plotly.graph_objects as go

    return go.Scatter(x=[None], y=[None], mode="lines", line=CHANCE_LINE, hoverinfo="skip", name="chance (10 %)")


def template_accuracy_bar(accuracies: Sequence[float], labels: Sequence[str], phone: bool = False) -> "go.Figure":
    """Template accuracy of each model's noise averages on its own test set, against chance (10 %). Sideways on a
    ``phone``."""
    import plotly.graph_objects as go

    values = np.asarray(accuracies, dtype=float) * 100
    text = [f"{v:.1f} %" for v in values]
    if phone:
        fig = go.Figure(go.Bar(y=[_wrapped(label) for label in labels], x=values, text=text, showlegend=False,
                               marker_color=ANSWER_COLOUR, hovertemplate="%{y}: %{x:.1f} %<extra></extra>"))
        fig.add_vline(x=10, line=CHANCE_LINE)  # named in the legend: a label on the line sat on a bar
        fig.update_xaxes(title_text="template accuracy (%)", range=[0, 100])
        fig.update_yaxes(type="category", autorange="reversed")
        fig = _sideways(fig, len(labels)).add_trace(_chance_legend())
        return fig.update_layout(showlegend=True, legend=LEGEND_UNDER, height=fig.layout.height + 35, margin_b=45)
    fig = go.Figure(go.Bar(x=list(labels), y=values, text=text, showlegend=False,
                           marker_color=ANSWER_COLOUR, hovertemplate="%{x}: %{y:.1f} %<extra></extra>"))
    fig.add_hline(y=10, line=CHANCE_LINE)  # named in the legend: "chance" on the line sat, grey, on a bar, and
    # in the axis title it was cut off ("dotted: chanc", a review)
    fig.add_trace(_chance_legend())
    fig.update_layout(yaxis_title="template accuracy (%)", yaxis_range=[0, 100], height=330,
                      margin=dict(l=10, r=10, t=10, b=40), showlegend=True, legend=LEGEND_UNDER)
    fig.update_xaxes(type="category")
    return fig
