"""Figures of the CI-injection attack: success and accuracy against γ, on screen (Plotly) and as a PNG (PIL)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from core.attack import SOURCES, TEMPLATES, AttackCurves
from core.plots import LEGEND_UNDER

if TYPE_CHECKING:
    import plotly.graph_objects as go

CHANCE = 0.1
# Colour says the input source, the dash says the template set: the pairs to compare sit in one colour.
SOURCE_COLOURS = {"noise": "#d62728", "test": "#1f77b4"}
TEMPLATE_DASHES = {"class_images": "solid", "class_means": "dash"}
_SHORT = {"class_images": "class images", "class_means": "class means"}


def curve_name(template: str, source: str | None = None) -> str:
    return _SHORT[template] + ("" if source is None else f" → {SOURCES[source]}")


def _line_figure(curves: AttackCurves, series: list[tuple[str, str, np.ndarray, str]], y_title: str,
                 chance: bool) -> "go.Figure":
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, colour, values, dash in series:
        # plain lists: eleven points need no binary array encoding, and the page's numbers stay readable
        fig.add_trace(go.Scatter(x=curves.gammas.tolist(), y=np.asarray(values).tolist(), mode="lines+markers",
                                 name=name, line=dict(color=colour, dash=dash),
                                 hovertemplate=f"{name}<br>γ = %{{x:.1f}}<br>%{{y:.1%}}<extra></extra>"))
    if chance:
        fig.add_hline(y=CHANCE, line=dict(color="grey", dash="dot"), annotation_text="chance 10%",
                      annotation_position="bottom right")
    fig.update_layout(xaxis_title="blend weight γ of the template", yaxis_title=y_title, yaxis_range=[0, 1.02],
                      yaxis_tickformat=".0%", height=380, margin=dict(l=10, r=10, t=10, b=10),
                      legend=LEGEND_UNDER)
    fig.update_xaxes(dtick=0.1)
    return fig


def success_figure(curves: AttackCurves) -> "go.Figure":
    """Four curves: targeted success rate against γ for each template set and input source, chance at 10%."""
    series = [(curve_name(t, s), SOURCE_COLOURS[s], curves.targeted(t, s), TEMPLATE_DASHES[t])
              for t in TEMPLATES for s in SOURCES]
    return _line_figure(curves, series, "targeted success rate", chance=True)


def accuracy_figure(curves: AttackCurves) -> "go.Figure":
    """Test accuracy against γ (A = test images), one curve per template set."""
    series = [(curve_name(t), SOURCE_COLOURS["test"], curves.untargeted(t), TEMPLATE_DASHES[t]) for t in TEMPLATES]
    return _line_figure(curves, series, "test accuracy", chance=True)


def curves_png(curves: AttackCurves, title: str = "") -> bytes:
    """The success and accuracy panels side by side as a PNG, drawn with PIL (no Plotly image export needed)."""
    from PIL import Image, ImageDraw

    panel, pad, gap = 360, 44, 30
    width, height = 2 * (panel + pad) + gap + 10, panel + 2 * pad + 60
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((pad, 6), title, fill="black")
    rgb = {s: tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for s, c in SOURCE_COLOURS.items()}
    panels = [("targeted success rate", [(t, s, curves.targeted(t, s)) for t in TEMPLATES for s in SOURCES]),
              ("test accuracy (A = test images)", [(t, "test", curves.untargeted(t)) for t in TEMPLATES])]
    for p, (label, series) in enumerate(panels):
        left, top = pad + p * (panel + pad + gap), pad
        to_x = lambda g: left + g * panel  # noqa: E731
        to_y = lambda v: top + (1 - v) * panel  # noqa: E731
        draw.rectangle([left, top, left + panel, top + panel], outline="black")
        for tick in np.linspace(0, 1, 6):
            draw.line([to_x(tick), top + panel, to_x(tick), top + panel + 4], fill="black")
            draw.text((to_x(tick) - 8, top + panel + 6), f"{tick:.1f}", fill="black")
            draw.line([left - 4, to_y(tick), left, to_y(tick)], fill="black")
            draw.text((left - 30, to_y(tick) - 5), f"{tick:.1f}", fill="black")
        draw.text((left + panel / 2 - 30, top + panel + 20), "gamma", fill="black")
        draw.text((left, top - 14), label, fill="black")
        _dashed(draw, [(to_x(0), to_y(CHANCE)), (to_x(1), to_y(CHANCE))], (128, 128, 128), 2, 4)
        for template, source, values in series:
            points = [(to_x(g), to_y(v)) for g, v in zip(curves.gammas, values)]
            if TEMPLATE_DASHES[template] == "solid":
                draw.line(points, fill=rgb[source], width=2)
            else:
                _dashed(draw, points, rgb[source], 6, 4)
            for x, y in points:
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=rgb[source])
    legend_top = pad + panel + 40
    for index, (template, source) in enumerate((t, s) for t in TEMPLATES for s in SOURCES):
        x, y = pad + (index % 2) * 300, legend_top + (index // 2) * 16
        segment = [(x, y + 6), (x + 30, y + 6)]
        if TEMPLATE_DASHES[template] == "solid":
            draw.line(segment, fill=rgb[source], width=2)
        else:
            _dashed(draw, segment, rgb[source], 6, 4)
        draw.text((x + 36, y), curve_name(template, source).replace("→", "->"), fill="black")
    draw.text((pad, legend_top + 34), f"dotted: chance 10%; {curves.noise_count} noise inputs, "
                                      f"{curves.test_count} test images", fill="black")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def _dashed(draw, points: list[tuple[float, float]], colour: tuple, dash: float, space: float) -> None:
    """A dashed polyline (PIL draws only solid ones)."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = float(np.hypot(x1 - x0, y1 - y0))
        position = 0.0
        while position < length:
            end = min(position + dash, length)
            draw.line([(x0 + (x1 - x0) * position / length, y0 + (y1 - y0) * position / length),
                       (x0 + (x1 - x0) * end / length, y0 + (y1 - y0) * end / length)], fill=colour, width=2)
            position += dash + space
