"""Figures of the significance tests: class images with their significant regions outlined, and infoVal bars.

The outlines follow pixel edges (no interpolated contour can claim a pixel that did not pass), drawn over the same
tiled heatmap as every other class-image grid (``core.plots``), so colours and layout match the other pages.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.plots import (FADE, LEGEND_UNDER, PHONE_COLUMNS, class_grid_png, class_images_figure, mosaic,
                        titled_png, veil_boxes)
from core.significance import INFOVAL_THRESHOLD, INFOVAL_THRESHOLD_LABEL, InfoValues

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: How each test's regions are outlined, on screen and in the PNG.
OUTLINES = {"pixel": ("pixel test", "black", "solid"), "cluster": ("cluster test", "#00a651", "dot")}
_COLUMNS = 5


def outline_segments(mask: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Edges between pixels inside and outside ``mask`` (rows, columns), as (x0, y0, x1, y1) in pixel units,
    pixel (r, c) spanning [c − ½, c + ½] × [r − ½, r + ½]."""
    padded = np.pad(np.asarray(mask, bool), 1)
    segments = []
    rows, columns = np.nonzero(padded[1:-1, :-1] != padded[1:-1, 1:])  # between column c − 1 and c
    segments += [(c - 0.5, r - 0.5, c - 0.5, r + 0.5) for r, c in zip(rows, columns)]
    rows, columns = np.nonzero(padded[:-1, 1:-1] != padded[1:, 1:-1])  # between row r − 1 and r
    segments += [(c - 0.5, r - 0.5, c + 0.5, r - 0.5) for r, c in zip(rows, columns)]
    return segments


def _outline_trace(masks: np.ndarray, name: str, colour: str, dash: str, columns: int = _COLUMNS) -> "go.Scatter":
    import plotly.graph_objects as go

    _, corners = mosaic(np.zeros(masks.shape, np.float32), columns)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for mask, (left, top) in zip(masks, corners):
        for x0, y0, x1, y1 in outline_segments(mask):
            xs += [left + x0, left + x1, None]
            ys += [top + y0, top + y1, None]
    return go.Scatter(x=xs, y=ys, mode="lines", name=name, hoverinfo="skip",
                      line=dict(color=colour, width=2 if dash == "solid" else 2.5, dash=dash))


def _veil_trace(faded: np.ndarray, tile_shape: tuple[int, ...], columns: int) -> "go.Scatter":
    """White (``FADE``) over the ``faded`` panels, as ``class_images_figure`` veils them, but as a trace drawn
    before the outlines: its veils are shapes, which lie over every trace, and would wash the outlines too."""
    import plotly.graph_objects as go

    _, corners = mosaic(np.zeros((len(faded), *tile_shape), np.float32), columns)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for x0, x1, y0, y1 in veil_boxes(corners, tile_shape, faded):
        xs += [x0, x1, x1, x0, x0, None]
        ys += [y0, y0, y1, y1, y0, None]
    return go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor=f"rgba(255,255,255,{FADE})", line_width=0,
                      hoverinfo="skip", showlegend=False, name="too few")


def significance_figure(values: np.ndarray, titles: Sequence[str], colour_label: str, pixel: np.ndarray,
                        cluster: np.ndarray, least_limit: float = 0.0, weights: np.ndarray | None = None,
                        phone: bool = False, faded: np.ndarray | None = None) -> "go.Figure":
    """Signed class images (or z-maps) with the pixel test's regions outlined solid black and the cluster test's
    dotted green; on a ``phone`` three across, as ``class_images_figure`` lays them out there. ``faded`` panels
    (classes behind too few stimuli) are washed as on the Classification images page, their outlines not."""
    import plotly.graph_objects as go

    figure = class_images_figure(values, titles, True, colour_label, weights=weights, least_limit=least_limit,
                                 phone=phone)
    columns = PHONE_COLUMNS if phone else _COLUMNS
    if faded is not None and np.any(faded):
        figure.add_trace(_veil_trace(faded, values.shape[1:], columns))
    for masks, key in ((cluster, "cluster"), (pixel, "pixel")):
        outline = _outline_trace(masks, *OUTLINES[key], columns=columns)
        # a white halo under each outline: black on the scale's darkest blue and red was 1.6:1, the green dots on
        # its middle tones 1.1-1.9:1, where the significant pixels are (an accessibility review)
        figure.add_trace(go.Scatter(outline).update(name=f"{outline.name} halo", showlegend=False, line_dash="solid",
                                                    line_color="white", line_width=outline.line.width + 2.5))
        figure.add_trace(outline)
    if phone:  # the colour bar is under the grid there: the legend goes under it
        return figure.update_layout(showlegend=True, legend=LEGEND_UNDER, height=figure.layout.height + 35,
                                    margin_b=figure.layout.margin.b + 35)
    return figure.update_layout(showlegend=True, legend=dict(orientation="h", yanchor="top", y=0.0, x=0.0))


def outlined_pixels_text(names: Sequence[str], pixel: np.ndarray, cluster: np.ndarray) -> str:
    """How many pixels each test outlines in each class image, in words (for a screen reader, with the figure's
    own description): the outlines themselves cannot be read out."""
    counts = "; ".join(f"{name}: {int(p)}, {int(c)}" for name, p, c in zip(names, pixel, cluster))
    return f"Pixels outlined per class image (pixel test, cluster test): {counts}."


def info_value_figure(info: InfoValues, phone: bool = False) -> "go.Figure":
    """infoVal per class image and for the set, with the 1.96 line: bars above it are more informative than
    class images from random responses. Sideways on a ``phone``: eleven names under a 340-px plot ("all classes",
    Fashion-MNIST's "Ankle boot") stood on end."""
    import plotly.graph_objects as go

    colours = ["#08519c" if s else "#9ecae1" for s in info.significant]
    threshold = dict(color="#d62728", dash="dash")
    names, values = list(info.names), np.nan_to_num(info.values, nan=0.0)
    value, name = ("x", "y") if phone else ("y", "x")
    sideways = dict(orientation="h") if phone else {}
    figure = go.Figure(go.Bar(**{name: names, value: values}, **sideways, marker_color=colours, showlegend=False,
                              customdata=np.stack([info.norms, info.medians], axis=1),
                              hovertemplate=f"%{{{name}}}: infoVal %{{{value}:.2f}}<br>‖CI‖ %{{customdata[0]:.4f}}, "
                                            "reference median %{customdata[1]:.4f}<extra></extra>"))
    if phone:
        figure.add_vline(x=INFOVAL_THRESHOLD, line=threshold)
    else:
        figure.add_hline(y=INFOVAL_THRESHOLD, line=threshold)
    # The line's label in a legend under the plot, clear of the bars and of Plotly's toolbar: written on the line
    # it covered the last bars on a narrow screen.
    # On a phone in two lines: in one, 362 px in a 326-px chart, its end was cut off.
    label = INFOVAL_THRESHOLD_LABEL.replace(" (", "<br>(", 1) if phone else INFOVAL_THRESHOLD_LABEL
    figure.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=threshold, hoverinfo="skip", name=label))
    figure.update_layout(height=110 + 22 * len(names) if phone else 320, margin=dict(l=10, r=10, t=30, b=10),
                         plot_bgcolor="white", showlegend=True, legend=LEGEND_UNDER)
    figure.update_layout({f"{name}axis": dict(type="category", **(dict(autorange="reversed") if phone else {})),
                          f"{value}axis_title": "infoVal (z)", f"{name}axis_title": "class image"})
    # (on a phone the first class on top)
    return figure


def significance_png(values: np.ndarray, titles: Sequence[str], label: str, pixel: np.ndarray,
                     cluster: np.ndarray, least_limit: float = 0.0, weights: np.ndarray | None = None,
                     scale: int = 6, title: str = "", faded: np.ndarray | None = None) -> bytes:
    """The PNG grid of ``core.plots.class_grid_png`` (``weights``: scarce classes left out of the colour scale;
    ``faded`` panels washed) with the two tests' outlines drawn on it, a legend for them, and ``title`` above
    it."""
    from PIL import Image, ImageDraw

    canvas = Image.open(io.BytesIO(class_grid_png(values, titles, True, scale, weights, label,
                                                  least_limit, faded))).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    cell, band, gap = 28 * scale, 16, 8  # class_grid_png's layout
    lines = []  # (ends, colour, width) of every outline's segments
    for masks, key in ((cluster, "cluster"), (pixel, "pixel")):
        _, colour, dash = OUTLINES[key]
        for index, mask in enumerate(masks):
            left, top = gap + (index % 5) * (cell + gap), gap + (index // 5) * (cell + band + gap) + band
            for x0, y0, x1, y1 in outline_segments(mask):
                ends = [(left + (x + 0.5) * scale, top + (y + 0.5) * scale) for x, y in ((x0, y0), (x1, y1))]
                lines.append((ends, colour, 1 if dash == "solid" else 2))
    for ends, _, width in lines:  # the figure's white halos first, then the outlines over them
        draw.line(ends, fill="white", width=width + 2)
    for ends, colour, width in lines:
        draw.line(ends, fill=colour, width=width)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return titled_png(buffer.getvalue(), title, legend=[(f"{name} (outlines what it finds significant)", colour)
                                                 for name, colour, _ in (OUTLINES["pixel"], OUTLINES["cluster"])])
