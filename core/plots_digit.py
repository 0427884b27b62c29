"""Figures of the "Your digit" page: the network's answer beside the templates' answer, and the γ sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.digit import FlipSweep
from core.plots import LEGEND_UNDER

if TYPE_CHECKING:
    import plotly.graph_objects as go

NETWORK_COLOUR = "#4575b4"  # the bias bar's blue: the network's own answers
TEMPLATE_COLOUR = "#7f7f7f"
WINNER_COLOUR = "#d62728"  # the class each side picks


LABEL_SHARE = 0.5  # a bar is numbered when it reaches this share of the winner's value (the contenders)


def _bars(values: np.ndarray, names: Sequence[str], colour: str, text_format: str) -> "go.Bar":
    """One panel's ten bars, the winner red, numbered only where a number says something: the winner and the bars
    within ``LABEL_SHARE`` of it. Twenty numbers in two 200-pixel panels were shrunk by Plotly to fit their bars,
    to 7-10 px at 1280 px, nine of them "0.00"; the rest are a point or a tap away."""
    import plotly.graph_objects as go

    values = np.asarray(values, float)
    winner = int(np.nanargmax(values)) if np.isfinite(values).any() else -1
    colours = [WINNER_COLOUR if k == winner else colour for k in range(len(values))]
    shown = np.nan_to_num(values, nan=0.0)
    best = values[winner] if winner >= 0 else np.nan
    # "–", not "no image": seven of those in a row ran into each other (the page names the classes with no image)
    text = ["–" if not np.isfinite(v) else
            format(v, text_format) if k == winner or (best > 0 and v >= LABEL_SHARE * best) else ""
            for k, v in enumerate(values)]
    return go.Bar(x=list(names), y=shown.tolist(), text=text, textposition="outside", marker_color=colours,
                  constraintext="none", cliponaxis=False,  # the font size given, not shrunk to the bar's width
                  hovertemplate="%{x}: %{y:.3f}<extra></extra>", showlegend=False)


def answers_figure(probabilities: np.ndarray, cosines: np.ndarray, names: Sequence[str],
                   phone: bool = False) -> "go.Figure":
    """Two panels side by side (on a ``phone`` one above the other: side by side there, their titles ran into each
    other and the bars' numbers shrank to 5 px): the network's softmax, and the cosine match to each class image;
    each side's choice in red."""
    from plotly.subplots import make_subplots

    red = f"<span style='color:{WINNER_COLOUR}'>red</span>"
    # short: the chart has two thirds of the page, and a longer title was cut off there
    titles = (f"network: softmax ({red}: answer)", f"class images: cosine ({red}: best)")
    fig = (make_subplots(rows=2, cols=1, vertical_spacing=0.14, subplot_titles=titles) if phone else
           make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=titles))
    second = dict(row=2, col=1) if phone else dict(row=1, col=2)
    fig.add_trace(_bars(probabilities, names, NETWORK_COLOUR, ".2f"), row=1, col=1)
    fig.add_trace(_bars(cosines, names, TEMPLATE_COLOUR, ".2f"), **second)
    finite = np.asarray(cosines, float)[np.isfinite(cosines)]
    low = min(0.0, float(finite.min()) if len(finite) else 0.0)
    high = max(0.05, float(finite.max()) if len(finite) else 0.05)
    fig.update_yaxes(range=[0, 1.12], title_text="probability", row=1, col=1)
    # Side by side, the right panel's axis title lies over the left panel's last bars and their numbers (Plotly
    # keeps no room for it between the two): its own title names it there
    fig.update_yaxes(range=[low * 1.25, high * 1.25], title_text="cosine similarity" if phone else None, **second)
    fig.update_xaxes(type="category")
    fig.update_traces(textfont_size=11 if phone else 12)
    if phone:
        fig.update_xaxes(automargin=True)
        fig.update_yaxes(automargin=True)
    fig.update_layout(height=560 if phone else 330, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def sweep_figure(sweep: FlipSweep, names: Sequence[str], gamma: float) -> "go.Figure":
    """Softmax of the input's own class and of the target along γ, the flip marked, the slider's γ dotted."""
    import plotly.graph_objects as go

    fig = go.Figure()
    own, target = sweep.first_answer, sweep.target
    shown = [(own, NETWORK_COLOUR, f"{names[own]} (the answer at γ = 0)")]
    if target != own:
        shown.append((target, WINNER_COLOUR, f"{names[target]} (the blended class)"))
    for k, colour, label in shown:
        fig.add_trace(go.Scatter(x=sweep.gammas.tolist(), y=sweep.probabilities[:, k].tolist(), mode="lines",
                                 name=label, line=dict(color=colour),
                                 hovertemplate=f"{names[k]}<br>γ = %{{x:.3f}}<br>p = %{{y:.3f}}<extra></extra>"))
    flip = sweep.flip_gamma()
    if flip is not None:
        # Above the plot: beside the line at the top it lay on the answer's curve, still near 1 just before the flip
        fig.add_vline(x=flip, line=dict(color="black", dash="dash"), annotation_text=f"flips at γ = {flip:.3f}",
                      annotation_position="top")
    fig.add_vline(x=gamma, line=dict(color="grey", dash="dot"))
    fig.update_layout(xaxis_title="blend weight γ of the class image", yaxis_title="softmax", height=330,
                      yaxis_range=[0, 1.02], margin=dict(l=10, r=10, t=30, b=10),
                      legend=LEGEND_UNDER)
    return fig
