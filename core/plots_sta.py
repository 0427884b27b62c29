"""Pictures of receptive fields: unit grids on the one diverging scale, and the STA–weight correlations."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.plots import (DIVERGING, PHONE_MARGIN, colour_bar, colour_bar_under, diverging_rgb, mosaic,
                        phone_grid_height, phone_screen_scale, tiled_heatmap)

if TYPE_CHECKING:
    import plotly.graph_objects as go

SILENT_GREY = "rgb(200,200,200)"  # the PNG's grey for a unit with no average (core.plots.diverging_rgb's NaN)


def per_unit_scaled(images: np.ndarray) -> np.ndarray:
    """Each image divided by its own largest |value|, so weak and strong units show their patterns alike."""
    peak = np.nanmax(np.abs(images.reshape(len(images), -1)), axis=1, initial=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(peak[:, None, None] > 0, images / peak[:, None, None], np.nan)


def units_grid_png(images: np.ndarray, titles: Sequence[str] | None = None, columns: int = 16, cell: int = 48) -> bytes:
    """A PNG grid of per-unit-scaled signed images (diverging colours, NaN grey), one cell per unit, titled by
    ``titles`` or the unit's number."""
    from PIL import Image, ImageDraw

    scaled = per_unit_scaled(images)
    band, gap = 12, 4
    rows = math.ceil(len(images) / columns)
    canvas = Image.new("RGB", (columns * (cell + gap) + gap, rows * (cell + band + gap) + gap), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (image, title) in enumerate(zip(scaled, titles or [str(i) for i in range(len(images))])):
        x, y = gap + (index % columns) * (cell + gap), gap + (index // columns) * (cell + band + gap)
        draw.text((x, y), title, fill="black")
        canvas.paste(Image.fromarray(diverging_rgb(image, 1.0)).resize((cell, cell), Image.NEAREST), (x, y + band))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


PHONE_UNIT_COLUMNS = 6  # a phone's unit grids: tiles of ~50 px, 64 conv2 units in eleven rows


def units_figure(images: np.ndarray, titles: Sequence[str], columns: int = 8, colorbar_title: str = "",
                 phone: bool = False) -> "go.Figure":
    """The page's grid: per-unit-scaled signed images on the one diverging scale, each titled. On a ``phone``
    ``PHONE_UNIT_COLUMNS`` across with the colour bar underneath: eight across beside it left tiles of ~26 px."""
    scaled = per_unit_scaled(images)
    colour = {"colorscale": DIVERGING, "zmin": -1.0, "zmax": 1.0, "zmid": 0.0}
    band = 8  # image pixels of title over each row
    if phone:
        columns, tile = PHONE_UNIT_COLUMNS, images.shape[1]
        # the band holds a 10-px title on the screen: 8 image pixels of a 5 × 5 conv1 tile were ~70 px
        band = math.ceil(16 / phone_screen_scale(columns, tile))
        figure = tiled_heatmap(scaled, titles, columns, dict(colour, colorbar=colour_bar_under(colorbar_title)),
                               height=phone_grid_height(len(images), columns, tile=tile, title_band=band),
                               value_format=".2f", title_size=10, title_band=band).update_layout(margin=PHONE_MARGIN)
    else:
        figure = tiled_heatmap(scaled, titles, columns, dict(colour, colorbar=colour_bar(colorbar_title)),
                               height=90 * math.ceil(len(images) / columns) + 40, value_format=".2f", title_size=10)
    # A unit that never fired has no average (NaN): a grey tile, as in the PNG, where a gap would look like a
    # missing plot. Behind the heatmap, whose NaN cells are see-through.
    height, width = images.shape[1:]
    silent = [dict(type="rect", x0=left - 0.5, x1=left + width - 0.5, y0=top - 0.5, y1=top + height - 0.5,
                   fillcolor=SILENT_GREY, line_width=0, layer="below")
              for (left, top), tile in zip(mosaic(scaled, columns, title_band=band)[1], scaled)
              if np.isnan(tile).all()]
    return figure.update_layout(shapes=silent) if silent else figure


def correlation_bar(correlations: np.ndarray, firing_rate: np.ndarray) -> "go.Figure":
    """Each first-layer unit's STA–weight correlation; hover adds how often the unit fired."""
    import plotly.graph_objects as go

    units = np.arange(len(correlations))
    fig = go.Figure(go.Bar(x=units.tolist(), y=correlations.tolist(), customdata=firing_rate.tolist(),
                           marker_color="#4575b4",
                           hovertemplate="unit %{x}: correlation %{y:.4f}, fired on %{customdata:.1%} of stimuli"
                                         "<extra></extra>"))
    fig.update_layout(yaxis_title="correlation of STA with weights", xaxis_title="conv1 unit", height=280,
                      yaxis_range=[min(0.0, float(np.nanmin(correlations, initial=0.0))) - 0.05, 1.05],
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig
