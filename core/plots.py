"""Figures, with one colour convention everywhere.

Signed images (noise averages minus their mean, kernels, z-scores) use one diverging scale centred at zero;
probabilities and counts use one sequential scale.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

DIVERGING = "RdBu_r"  # blue = darker than average, red = brighter than average
SEQUENTIAL = "Blues"
GREY = "gray"
_LEVELS = 256  # colours in the PNG's lookup table of the diverging scale


@functools.cache
def _diverging_table() -> np.ndarray:
    """The diverging scale as 256 RGB rows, sampled by Plotly itself so the PNG matches the screen."""
    from plotly.colors import sample_colorscale, unlabel_rgb

    colours = sample_colorscale(DIVERGING, np.linspace(0.0, 1.0, _LEVELS), colortype="rgb")
    return np.rint(np.array([unlabel_rgb(colour) for colour in colours])).astype(np.uint8)


SCARCE_SHARE = 0.01  # classes backed by less of the total weight than this are mostly noise


def scarce(weights: np.ndarray) -> np.ndarray:
    """Classes backed by under ``SCARCE_SHARE`` of the total weight (e.g. predicted twice in 10,000 stimuli)."""
    magnitude = np.abs(np.nan_to_num(np.asarray(weights, dtype=float)))
    total = magnitude.sum()
    return magnitude / total < SCARCE_SHARE if total > 0 else np.zeros(len(magnitude), bool)


def symmetric_limit(images: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Colour limit that puts zero at the centre of the diverging scale.

    Scarce classes are left out: a class seen twice is pure noise and would otherwise wash out every
    well-measured image. Their pixels simply saturate (the page marks them).
    """
    few = None if weights is None else scarce(weights)
    if few is not None and not few.all():
        images = images[~few]
    finite = np.abs(images[np.isfinite(images)])
    return float(np.percentile(finite, 99.5)) if finite.size and finite.max() > 0 else 1.0


def diverging_rgb(image: np.ndarray, limit: float) -> np.ndarray:
    """Map values in [−limit, limit] to RdBu_r colours; NaN becomes light grey."""
    position = np.clip((np.nan_to_num(image) / limit + 1.0) / 2.0, 0.0, 1.0)
    rgb = _diverging_table()[np.rint(position * (_LEVELS - 1)).astype(int)]
    rgb[np.isnan(image)] = 200
    return rgb


def colour_range(images: np.ndarray, signed: bool, weights: np.ndarray | None = None,
                 least_limit: float = 0.0) -> tuple[float, float]:
    """The ends of a class-image picture's colour scale, the same on screen and in the PNG: ±limit around zero
    when ``signed`` (at least ±``least_limit``), else the images' own range."""
    if signed:
        limit = max(symmetric_limit(images, weights), least_limit)
        return -limit, limit
    finite = images[np.isfinite(images)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


def picture_rgb(values: np.ndarray, signed: bool, low: float, high: float) -> np.ndarray:
    """RGB pixels of a class-image picture: the diverging scale at ±``high`` when ``signed``, else grey from
    ``low`` to ``high``."""
    if signed:
        return diverging_rgb(values, high)
    grey = np.clip((np.nan_to_num(values, nan=low) - low) / max(high - low, 1e-12) * 255, 0, 255)
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)


# How far the panels of classes behind too few stimuli are washed towards white: their averages are mostly noise,
# saturated on the shared scale, and a student read them as the strongest panels of the picture.
FADE = 0.6


def _fades(faded: np.ndarray | None, count: int) -> np.ndarray:
    """Which of ``count`` panels to fade: none unless given."""
    return np.zeros(count, bool) if faded is None else np.asarray(faded, bool)


def faded_rgb(rgb: np.ndarray, fade: bool) -> np.ndarray:
    """``rgb`` washed towards white by ``FADE`` where ``fade``, else as it is."""
    return (rgb + FADE * (255.0 - rgb)).astype(np.uint8) if fade else rgb


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


RAMP_STEPS = 64  # colours in a live picture's colour ramp: the browser stretches it to its width


def _blank_where_undefined(rgb: np.ndarray, image: np.ndarray) -> np.ndarray:
    """RGBA: the pixels of an undefined image (a class never predicted) see-through, as the Plotly figure leaves
    them; the live picture had grey tiles there that the final one replaced by blank space (a review)."""
    alpha = np.where(np.isnan(image), 0, 255).astype(np.uint8)
    return np.concatenate([rgb, alpha[..., None]], axis=2)


def class_tiles_png(images: np.ndarray, signed: bool, weights: np.ndarray | None = None,
                    least_limit: float = 0.0,
                    faded: np.ndarray | None = None) -> tuple[list[bytes], bytes, tuple[float, float]]:
    """Each class image as a PNG of one pixel per image pixel, the colour ramp, and the scale's ends.

    For pictures redrawn a few times a second while a run grows: the browser scales the tiles up (pixelated),
    so making all eleven costs about 3 ms here instead of class_grid_png's 8 ms at scale 5 (30 ms on a slow
    machine), and the browser decodes 35 KB of HTML instead of a 44 KB PNG plus two more messages. Same colours
    and colour range as the figure and the PNG download."""
    low, high = colour_range(images, signed, weights, least_limit)
    tiles = [_png(_blank_where_undefined(faded_rgb(picture_rgb(image, signed, low, high), fade), image))
             for image, fade in zip(images, _fades(faded, len(images)))]
    ramp = _png(picture_rgb(np.linspace(low, high, RAMP_STEPS)[None, :], signed, low, high))
    return tiles, ramp, (low, high)


# Pillow's built-in font has no Greek letters and no minus sign.
_PNG_TEXT = str.maketrans({"Δ": "delta", "σ": "sigma", "−": "-", "²": "^2"})


def class_grid_png(images: np.ndarray, titles: Sequence[str], signed: bool = True, scale: int = 6,
                   weights: np.ndarray | None = None, label: str = "", least_limit: float = 0.0,
                   faded: np.ndarray | None = None) -> bytes:
    """A 2 × 5 PNG grid of class images over its colour scale: diverging colours for signed images, grey for
    stimuli. ``titles`` are written as given (the caller marks empty or scarce classes); ``weights`` and
    ``least_limit`` scale the colours as ``colour_range`` does for the dashboard's figure."""
    from PIL import Image, ImageDraw

    cell, band, gap, bar = 28 * scale, 16, 8, 12
    grid_bottom = 2 * (cell + band + gap) + gap
    canvas = Image.new("RGB", (5 * (cell + gap) + gap, grid_bottom + bar + 2 * band), "white")
    draw = ImageDraw.Draw(canvas)
    low, high = colour_range(images, signed, weights, least_limit)

    def colours(values: np.ndarray) -> np.ndarray:
        return picture_rgb(values, signed, low, high)

    for index, (image, title, fade) in enumerate(zip(images, titles, _fades(faded, len(images)))):
        x, y = gap + (index % 5) * (cell + gap), gap + (index // 5) * (cell + band + gap)
        draw.text((x, y), title.translate(_PNG_TEXT), fill="black")
        rgb = faded_rgb(colours(image), fade)
        rgb[np.isnan(image)] = 255  # a class never predicted: blank, as on screen (it was a grey, or black, square)
        canvas.paste(Image.fromarray(rgb).resize((cell, cell), Image.NEAREST), (x, y + band))
    # the colour scale under the middle three columns: its ends (and 0 when signed) below it, then its label
    left, width = gap + cell + gap, 3 * cell + 2 * gap
    ramp = np.repeat(np.linspace(low, high, width)[None, :], bar, axis=0)
    canvas.paste(Image.fromarray(colours(ramp)), (left, grid_bottom))
    ticks = [(low, 0.0), (high, 1.0)] + ([(0.0, 0.5)] if signed else [])
    for value, where in ticks:
        text = f"{value:.3g}".translate(_PNG_TEXT)
        draw.text((left + where * (width - draw.textlength(text)), grid_bottom + bar + 1), text, fill="black")
    text = label.translate(_PNG_TEXT)
    draw.text((left + (width - draw.textlength(text)) / 2, grid_bottom + bar + band), text, fill="black")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def stimuli_strip_png(images: np.ndarray, titles: Sequence[str], scale: int = 4) -> bytes:
    """Stimuli in one row on the fixed grey scale of the page's strip (0 black, 1 white), each titled."""
    from PIL import Image, ImageDraw

    cell, band, gap = 28 * scale, 16, 8
    canvas = Image.new("RGB", (len(images) * (cell + gap) + gap, cell + band + 2 * gap), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (image, title) in enumerate(zip(images, titles)):
        x = gap + index * (cell + gap)
        draw.text((x, gap), title.translate(_PNG_TEXT), fill="black")
        grey = Image.fromarray(picture_rgb(image, False, 0.0, 1.0)).resize((cell, cell), Image.NEAREST)
        canvas.paste(grey, (x, gap + band))
    return _png(np.asarray(canvas))


def titled_png(content: bytes, title: str = "", legend: Sequence[tuple[str, str]] = ()) -> bytes:
    """The PNG ``content`` with ``title`` in a band above it and ``legend`` (label, colour) as short coloured lines
    in a band below: a figure saved on its own still says what made it and what its marks mean."""
    from PIL import Image, ImageDraw

    band, gap = 18, 8
    picture = Image.open(io.BytesIO(content)).convert("RGB")
    top, bottom = (band if title else 0), (band if legend else 0)
    canvas = Image.new("RGB", (picture.width, picture.height + top + bottom), "white")
    canvas.paste(picture, (0, top))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((gap, 4), title.translate(_PNG_TEXT), fill="black")
    x, y = gap, top + picture.height + band // 2
    for label, colour in legend:
        draw.line([(x, y), (x + 24, y)], fill=colour, width=2)
        text = label.translate(_PNG_TEXT)
        draw.text((x + 30, y - 6), text, fill="black")
        x += 30 + int(draw.textlength(text)) + 2 * gap
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


# --- Plotly figures for the dashboard -------------------------------------------------------------------


# The figures' text colour on this app's light theme: Streamlit's Plotly theme writes rgb(128, 132, 149), 3.7:1 on
# white, which ui.frame.PLOT_TEXT_CONTRAST_CSS darkens to this (7:1); the live picture's HTML writes it too.
PLOT_TEXT_COLOUR = "#555867"
MOSAIC_GAP = 2  # image pixels between two panels of a mosaic
TITLE_BAND = 8  # image pixels above each row of a mosaic, for the panels' titles
FIGURE_MARGIN = 10  # a mosaic figure's margins on every side, screen pixels


def grid_height(rows: int = 2) -> int:
    """A class-image grid's default height in screen pixels (``rows`` of panels, titles and margins)."""
    return 170 * rows + 60


def mosaic(images: np.ndarray, columns: int, gap: int = MOSAIC_GAP,
           title_band: int = TITLE_BAND) -> tuple[np.ndarray, np.ndarray]:
    """Tile images on one NaN canvas (NaN draws as background), a title band above each row.

    Returns the canvas and, for each tile, the (column, row) of its top-left pixel. The dashboard draws the
    mosaic as one heatmap: one trace for the browser to redraw instead of ten subplots with linked axes.
    """
    count, height, width = images.shape
    rows = int(np.ceil(count / columns))
    canvas = np.full((rows * (title_band + height), columns * (width + gap) - gap), np.nan, dtype=images.dtype)
    corners = np.zeros((count, 2), dtype=int)
    for index, image in enumerate(images):
        left = (index % columns) * (width + gap)
        top = (index // columns) * (title_band + height) + title_band
        canvas[top : top + height, left : left + width] = image
        corners[index] = left, top
    return canvas, corners


def veil_boxes(corners: np.ndarray, tile_shape: tuple[int, ...], faded: np.ndarray | None
               ) -> list[tuple[float, float, float, float]]:
    """(x0, x1, y0, y1) over each ``faded`` tile of a ``mosaic`` (its ``corners``), edge to edge of its pixels."""
    height, width = tile_shape
    return [(left - 0.5, left + width - 0.5, top - 0.5, top + height - 0.5)
            for (left, top), fade in zip(corners, _fades(faded, len(corners))) if fade]


def tiled_heatmap(images: np.ndarray, titles: Sequence[str], columns: int, colour: dict, height: int,
                  value_format: str = ".4f", title_size: int = 12,
                  faded: np.ndarray | None = None, title_band: int = TITLE_BAND) -> "go.Figure":
    """Images side by side as one heatmap, each titled; hover gives the pixel inside its own image. ``faded``
    tiles are veiled in white (``FADE``), as ``faded_rgb`` washes them in the PNGs."""
    import plotly.graph_objects as go

    # float32: half the bytes sent
    canvas, corners = mosaic(np.asarray(images, dtype=np.float32), columns, title_band=title_band)
    tile_height, tile_width = images.shape[1:]
    in_tile = np.stack(np.indices((tile_height, tile_width))[::-1], axis=-1)  # (x, y) of each pixel of a tile
    pixel = np.full((*canvas.shape, 2), -1, dtype=np.int8)  # (x, y) inside the tile under the cursor
    for left, top in corners:
        pixel[top : top + tile_height, left : left + tile_width] = in_tile
    titles_above = [dict(x=left + (tile_width - 1) / 2, y=top - 0.6, text=title, showarrow=False, yanchor="bottom",
                         font={"size": title_size}) for (left, top), title in zip(corners, titles)]
    veils = [dict(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, fillcolor=f"rgba(255,255,255,{FADE})", line_width=0,
                  layer="above")
             for x0, x1, y0, y1 in veil_boxes(corners, images.shape[1:], faded)]
    # One layout, not ten add_annotation calls: Plotly validates per call, 12 ms of every redraw.
    return go.Figure(
        go.Heatmap(z=canvas, customdata=pixel, hoverongaps=False, **colour,
                   hovertemplate=f"pixel (%{{customdata[0]}}, %{{customdata[1]}}): "
                                 f"%{{z:{value_format}}}<extra></extra>"),
        layout=dict(annotations=titles_above, shapes=veils, height=height,
                    margin=dict(l=FIGURE_MARGIN, r=FIGURE_MARGIN, t=FIGURE_MARGIN, b=FIGURE_MARGIN),
                    plot_bgcolor="white",
                    xaxis=dict(visible=False, constrain="domain"),
                    yaxis=dict(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")))


# A horizontal legend at the foot of the figure, under the axis title: at the top, Plotly's toolbar (shown while
# the pointer is over a chart) covered its last entries.
LEGEND_UNDER = dict(orientation="h", x=0.0, xanchor="left", yref="container", y=0.0, yanchor="bottom")


def colour_bar(title: str, size: int | None = None, side: str = "right") -> dict:
    """A colour bar titled along its side (under it when horizontal): above it, Plotly's toolbar covered the title
    whenever the pointer was over the chart."""
    return {"title": {"text": title, "side": side, **({"font": {"size": size}} if size else {})}}


COLOUR_BAR_PAD = 10  # Plotly's padding around a colour bar, each side


def colour_ticks(low: float, high: float, length: float, upright: bool = True) -> list[float]:
    """The ticks of a colour bar ``length`` screen pixels long from ``low`` to ``high``, by Plotly's own rule (one
    per 40 px upright or 80 px lying, 5 to 10 in all, rounded up to a step of 2, 5 or 10 × 10^k). The class-image
    figure sets them itself so that the live picture's bar, drawn in HTML, writes the same ones: it wrote only the
    scale's ends, and the labels jumped when the figure replaced it."""
    span = high - low
    if not (np.isfinite(span) and span > 0):
        return []
    rough = span / (min(max(length / (40 if upright else 80), 4), 9) + 1)
    base = 10.0 ** np.floor(np.log10(rough))
    step = base * next(m for m in (2, 5, 10) if m >= rough / base * (1 - 1e-9))
    first, last = np.ceil(low / step - 1e-9), np.floor(high / step + 1e-9)
    return [float(k * step) for k in np.arange(first, last + 1)]


def tick_text(value: float, ticks: Sequence[float]) -> str:
    """A tick's label as Plotly writes it: the step's decimals, trailing zeros dropped, a true minus ("−0.02", "0",
    "0.4", "−6")."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    text = f"{value:.{max(0, int(-np.floor(np.log10(step) + 1e-9)))}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "0", "") else text.replace("-", "−")


def ticked(bar: dict, low: float, high: float, length: float, upright: bool) -> dict:
    """``bar`` with the ticks ``colour_ticks`` chooses, and their labels."""
    ticks = colour_ticks(low, high, length, upright)
    return {**bar, "tickvals": ticks, "ticktext": [tick_text(tick, ticks) for tick in ticks]} if ticks else bar


# Height of a 2 × 5 grid in half a wide page (Home, Compare): there the column's width would otherwise bind, leaving
# the grid small under a full-height colour bar, its second row's titles over the first row's images.
HALF_WIDTH_GRID = 250


# A phone's page is ~360 px wide: a 2 × 5 grid there had ~40-px panels under a full-height colour bar, their titles
# running into each other. Phones get three panels across, titles on two lines and the colour bar underneath.
PHONE_COLUMNS = 3
PHONE_STRIP_COLUMNS = 4  # example strips: eight stimuli in two rows, their titles apart
_PHONE_WIDTH = 340  # screen pixels the figure's plot area spans on a phone (390-px screen less the page's padding)


def title_lines(title: str) -> tuple[str, str]:
    """A panel title as two lines, class name first: "2 (8, too few)" → ("2", "(8, too few)"),
    "1: never predicted" → ("1", "never predicted"). A title without a count stays one line."""
    for separator, kept in ((" (", "("), (": ", "")):
        name, found, rest = title.partition(separator)
        if found:
            return name, kept + rest
    return title, ""


def colour_bar_under(title: str, side: str = "top") -> dict:
    """A colour bar lying under a phone's mosaic (``PHONE_MARGIN`` holds it), giving the panels the width it took
    beside them. Titled above the bar: under it, Plotly put the title on the tick labels' row for some ranges (between
    "0.4" and "0.5" for Fashion-MNIST at r = 0.3)."""
    return dict(colour_bar(title, 12, side=side), orientation="h", thickness=14, x=0.5, xanchor="center",
                y=-0.02, yanchor="top")


PHONE_MARGIN = dict(l=4, r=4, t=8, b=90)  # a phone mosaic's margins: its colour bar below
NARROW_TITLE_BAND = 13  # image pixels above each row of a narrow grid: two lines of 11-px type


def phone_title(title: str) -> str:
    """``title_lines`` for a Plotly annotation."""
    return "<br>".join(line for line in title_lines(title) if line)


def phone_screen_scale(columns: int, tile: int = 28) -> float:
    """Screen pixels per image pixel in a phone's mosaic of ``columns`` square tiles (the axes keep pixels square,
    so the phone's width decides)."""
    return _PHONE_WIDTH / (columns * (tile + 2) - 2)  # mosaic's 2-pixel gap


def upright_colour_bar_length(height: int) -> int:
    """Screen pixels of the upright colour bar beside a grid figure ``height`` tall: the plot area's height less
    Plotly's padding at both ends."""
    return height - 2 * FIGURE_MARGIN - 2 * COLOUR_BAR_PAD


def phone_colour_bar_length() -> int:
    """Screen pixels of the colour bar under a phone's grid: the plot area's width (``_PHONE_WIDTH`` on a 390-px
    screen) less Plotly's padding; on any phone (320-430 px) its ticks are the same."""
    return _PHONE_WIDTH - 2 * COLOUR_BAR_PAD


def phone_grid_height(count: int, columns: int = PHONE_COLUMNS, below: int = 96, tile: int = 28,
                      title_band: int = TITLE_BAND) -> int:
    """Height of a phone's mosaic figure: ``count`` panels ``columns`` across at the phone's width, a title band
    over each row, and ``below`` pixels (the colour bar) under them."""
    rows = int(np.ceil(count / columns))
    return round(rows * (tile + title_band) * phone_screen_scale(columns, tile)) + PHONE_MARGIN["t"] + below


def class_images_figure(images: np.ndarray, titles: Sequence[str], signed: bool, colorbar_title: str,
                        rows: int = 2, weights: np.ndarray | None = None, height: int | None = None,
                        least_limit: float = 0.0, faded: np.ndarray | None = None,
                        phone: bool = False, narrow: bool = False) -> "go.Figure":
    """Ten class images in a grid, sharing one colour axis (diverging at zero when ``signed``, spanning at least
    ±``least_limit``: z-scores use 3, so chance-level maps look pale instead of as strong as real effects).
    ``phone`` lays them out for a phone's width (``PHONE_COLUMNS``), whatever ``rows`` and ``height`` say;
    ``narrow``, for a column beside text (the Lesson's), puts a title's count under its class name: on one line,
    "T-shirt/top: never predicted" ran into "Trouser (1, too few)" at 1280 px."""
    low, high = colour_range(images, signed, weights, least_limit)  # unsigned: the images' range, as Plotly's own
    colour = dict(colorscale=DIVERGING, zmin=low, zmax=high, zmid=0.0) if signed else dict(colorscale=GREY)
    if phone:
        colour["colorbar"] = ticked(colour_bar_under(colorbar_title), low, high, phone_colour_bar_length(), False)
        figure = tiled_heatmap(images, [phone_title(title) for title in titles], PHONE_COLUMNS, colour,
                               phone_grid_height(len(images)), title_size=11, faded=faded)
        return figure.update_layout(margin=PHONE_MARGIN)
    compact = height is not None and height <= HALF_WIDTH_GRID  # smaller type, so long class names fit
    colour["colorbar"] = ticked(colour_bar(colorbar_title, 11 if compact else 14), low, high,
                                upright_colour_bar_length(height or grid_height(rows)), True)
    if narrow:
        titles = [phone_title(title) for title in titles]
    return tiled_heatmap(images, titles, int(np.ceil(len(images) / rows)), colour, height or grid_height(rows),
                         title_size=10 if compact else 11 if narrow else 12, faded=faded,
                         title_band=NARROW_TITLE_BAND if narrow else TITLE_BAND)


def cell_numbers(matrix: np.ndarray, decimals: int = 2, most: int = 4, short: bool = False) -> list[list[str]]:
    """The numbers written in a matrix's cells, blank where there is none. A row whose largest value reads the same
    as a smaller one gets more decimals (up to ``most``), so the cell the network chose stands out: two cells of a
    fed-back row read 0.27 in the Lesson's step 5, a tie the count beside them had broken (a teacher's review).
    ``short`` (a phone's 26-px cells): ".61" for 0.61 and nothing for a value that reads as zero, so the type can be
    11 px, not 9, and the few real confusions stand out among the blanks."""
    rows = []
    for row in np.asarray(matrix, dtype=float):
        places = decimals
        if np.isfinite(row).any():
            top = np.nanmax(row)
            while places < most and any(f"{v:.{places}f}" == f"{top:.{places}f}" for v in row[row < top]):
                places += 1
        texts = [f"{v:.{places}f}" if np.isfinite(v) else "" for v in row]
        if short:
            texts = ["" if text and float(text) == 0 else text.removeprefix("0") for text in texts]
        rows.append(texts)
    return rows


def tie_note(matrix: np.ndarray, decimals: int = 2) -> str:
    """A caption's sentence where ``cell_numbers`` gave a row more decimals (a near-tie), else nothing: a row with
    three decimals among rows of two looked like a mistake (a review)."""
    longest = max((len(text.split(".")[-1]) for row in cell_numbers(matrix, decimals) for text in row if text),
                  default=decimals)
    return (" A row whose largest cell would read the same as another gets more decimals, so the network's choice "
            "shows." if longest > decimals else "")


def matrix_alt(matrix: np.ndarray, row_names: Sequence[str], column_names: Sequence[str], row_title: str,
               column_title: str) -> str:
    """A heatmap in words, for a screen reader (the chart's own text reads as a jumble of ticks): for each row, the
    column it gives most to."""
    rows = [(row, column_names[int(np.nanargmax(values))], float(np.nanmax(values)))
            for row, values in zip(row_names, np.asarray(matrix, float)) if np.isfinite(values).any()]
    kept = sum(row == column for row, column, _ in rows)
    largest = ", ".join(f"{row} → {column} ({value:.0%})" for row, column, value in rows)
    return (f"Heatmap, {row_title} (rows) against {column_title} (columns); {kept} of {len(rows)} rows have their "
            f"largest share on their own class. Largest per row: {largest}.")


def strip_alt(titles: Sequence[str]) -> str:
    """A strip of stimuli in words: how many, and each one's title."""
    return f"{len(titles)} grey-level images (black 0, white 1): {', '.join(titles)}."


def probability_heatmap(matrix: np.ndarray, row_names: Sequence[str], column_names: Sequence[str],
                        row_title: str, column_title: str, colour_title: str = "probability", phone: bool = False,
                        narrow: bool = False) -> "go.Figure":
    """A 10 × 10 matrix of probabilities (or row fractions), values written in the cells. On a ``phone``, or in a
    ``narrow`` column (Compare's halves), the colour bar lies under the matrix: beside it, it left cells of ~25 px
    whose numbers Plotly shrank to ~5 px; and the numbers are short (``cell_numbers``) and 11 px, not 9."""
    import plotly.graph_objects as go

    bar = colour_bar(colour_title)
    phone = phone or narrow
    if phone:  # at the figure's foot, under the axis title and the (perhaps tilted) class names
        # titled under the bar: above it, the title ran into the bar (the axis title is above it)
        bar = dict(colour_bar_under(colour_title, side="bottom"), thickness=12, yref="container", y=0.0,
                   yanchor="bottom")
    fig = go.Figure(go.Heatmap(
        z=matrix, x=list(column_names), y=list(row_names), zmin=0.0, zmax=1.0, colorscale=SEQUENTIAL,
        text=cell_numbers(matrix, short=phone), texttemplate="%{text}", colorbar=bar,
        textfont_size=11 if phone else None,
        hovertemplate=f"{row_title} %{{y}}<br>{column_title} %{{x}}<br>%{{z:.3f}}<extra></extra>"))
    fig.update_layout(xaxis_title=column_title, yaxis_title=row_title, height=520 if phone else 460,
                      margin=PHONE_MARGIN if phone else dict(l=10, r=10, t=30, b=10))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return fig


def confusion_heatmap(counts: np.ndarray, class_names: Sequence[str], row_title: str = "true class",
                      column_title: str = "predicted class", phone: bool = False) -> "go.Figure":
    """Counts shown as row fractions, so each row reads 'of the images of this class, how many went where'."""
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        fractions = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)
    return probability_heatmap(fractions, class_names, class_names, row_title, column_title,
                               colour_title="fraction of row", phone=phone)


def scale_end_text(value: float) -> str:
    """An end of a colour scale in words and live pictures as the figure's colour bar writes its ticks: two
    significant digits and a true minus sign (read "minus"; the live scale read "-0.0484" against "−0.04")."""
    return f"{value:.2g}".replace("-", "−")


def share_text(percent: float) -> str:
    """A bar's share in %, one decimal; a class chosen a few times in 10,000 is "<0.1", not "0.0" as if never."""
    return "<0.1" if 0 < percent < 0.05 else f"{percent:.1f}"


def bias_bar(counts: np.ndarray, class_names: Sequence[str], total: int) -> "go.Figure":
    """How often the stimuli are called each class: the model's bias under noise."""
    import plotly.graph_objects as go

    share = counts / max(total, 1)
    # Labels level and above the bars: inside, Plotly turned them on end in narrow bars and not in wide ones; at
    # 11 px, not shrunk to the bars' width (to 8-10 px on a phone); percent as the axis says, without a % sign
    # that made neighbours touch on a phone
    fig = go.Figure(go.Bar(x=list(class_names), y=share * 100, text=[share_text(v) for v in share * 100],
                           textangle=0, textposition="outside", cliponaxis=False, constraintext="none",
                           textfont_size=11,
                           marker_color="#4575b4", hovertemplate="%{x}: %{y:.2f} %<extra></extra>"))
    fig.update_layout(yaxis_title="share of stimuli (%)", xaxis_title="predicted class", height=300,
                      margin=dict(l=10, r=10, t=10, b=10))
    fig.update_xaxes(type="category")
    return fig


def convergence_figure(counts: np.ndarray, correlations: np.ndarray) -> "go.Figure":
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=counts, y=correlations, mode="lines+markers",
                               hovertemplate="N = %{x:,}<br>correlation %{y:.3f}<extra></extra>"))
    fig.update_layout(xaxis_title="stimuli so far (log scale)", yaxis_title="correlation with final images",
                      xaxis_type="log", yaxis_range=[min(0.0, float(np.nanmin(correlations, initial=0))), 1.02],
                      height=300, margin=dict(l=10, r=10, t=10, b=10))
    # Ticks at the snapshots, written whole: Plotly's own log ticks read "100, 2, 5, 1000, 2, 5" at small N.
    ticks = [int(n) for n in np.asarray(counts) if n > 0]
    fig.update_xaxes(tickvals=ticks, ticktext=[sample_count_label(n) for n in ticks])
    if len(ticks) < 2:  # a lone dot at 1 says nothing: say when there will be a curve
        fig.add_annotation(text="one point only, at the final N: a curve needs N above 100",
                           xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False)
    return fig


def sample_count_label(n: int) -> str:
    """A sample count as a short tick label: 500, 2k, 50k, 1M."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g}{suffix}"
    return f"{n:,}"


def stimuli_strip(images: np.ndarray, titles: Sequence[str], columns: int | None = None,
                  height: int = 150, phone: bool = False) -> "go.Figure":
    """Example stimuli as the model sees them, on the fixed [0, 1] grey scale; one row unless ``columns``. On a
    ``phone`` at most ``PHONE_STRIP_COLUMNS`` across: eight in a row had titles over each other."""
    grey = dict(colorscale=GREY, zmin=0.0, zmax=1.0, showscale=False)
    columns = columns or len(images)
    if not phone:
        return tiled_heatmap(images, titles, columns, grey, height=height, value_format=".2f")
    rows = int(np.ceil(len(images) / min(columns, PHONE_STRIP_COLUMNS)))
    columns = int(np.ceil(len(images) / rows))  # rows as full as they can be: five stimuli are 3 + 2, not 4 + 1
    figure = tiled_heatmap(images, [phone_title(title) for title in titles], columns, grey,
                           height=phone_grid_height(len(images), columns, below=8), value_format=".2f",
                           title_size=11)
    return figure.update_layout(margin=dict(PHONE_MARGIN, b=4))  # no colour bar under a strip


TRAINING_COLOURS = {"training": "#1f77b4", "test": "#ff7f0e"}  # the same in the live chart and the final one


def accuracy_floor(history: dict[str, list[float]], step: float = 0.05, margin: float = 0.02) -> float:
    """The accuracy axis's lower end: the multiple of ``step`` at least ``margin`` below the lowest accuracy."""
    accuracies = [v for key in ("accuracy", "val_accuracy") for v in history.get(key, []) if np.isfinite(v)]
    return max(0.0, float(np.floor((min(accuracies, default=0.0) - margin) / step)) * step)


def training_figure(history: dict[str, list[float]], phone: bool = False) -> "go.Figure":
    """Loss and accuracy per epoch, training and test; on a ``phone`` one above the other (side by side there, a
    dozen epoch ticks crowded each ~150-px axis)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    shape = (2, 1) if phone else (1, 2)
    fig = make_subplots(*shape, subplot_titles=["loss", "accuracy"], vertical_spacing=0.16)
    in_legend: set[str] = set()  # each split once, on its first curve drawn (live, test loss is not there yet)
    for key, name, plot in (("loss", "training", 1), ("val_loss", "test", 1), ("accuracy", "training", 2),
                            ("val_accuracy", "test", 2)):
        values = history.get(key, [])
        row, col = (plot, 1) if phone else (1, plot)
        if values:  # a colour per split, not per trace: a history without a series shifted the colours
            # one legend entry per split, as the colours are (four entries in two colours read as a puzzle)
            fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=values, mode="lines+markers",
                                     line_color=TRAINING_COLOURS[name], marker_color=TRAINING_COLOURS[name],
                                     name=f"{name} images", legendgroup=name, showlegend=name not in in_legend,
                                     meta=f"{name} {key.replace('val_', '')}",
                                     hovertemplate=f"{name} {key.replace('val_', '')}: %{{y:.4g}}, epoch %{{x}}"
                                                   "<extra></extra>"), row=row, col=col)
            in_legend.add(name)
    fig.update_xaxes(title_text="epoch", dtick=1, tick0=1)  # whole epochs: one epoch was ticked 0.5 and 1.5
    if phone:  # one "epoch" under the lower plot: the upper one's ran into the title "accuracy"
        fig.update_xaxes(title_text=None, row=1, col=1)
    # Fixed ranges: after one epoch autoscaling drew a single point on (or past) the plot's edge. Accuracy from the
    # 5 % step below its lowest point: from zero, 91-99 % were two flat lines along the top.
    losses = [v for key in ("loss", "val_loss") for v in history.get(key, []) if np.isfinite(v)]
    fig.update_yaxes(range=[0, 1.1 * max(losses, default=1.0)], title_text="cross-entropy", row=1, col=1)
    fig.update_yaxes(range=[accuracy_floor(history), 1.02], tickformat=".0%", title_text="images classified right",
                     row=shape[0], col=shape[1])  # the axis had no title (a teacher's review)
    # the legend under the plots: on the right it took a third of a phone's width from them
    fig.update_layout(height=600 if phone else 330, legend=LEGEND_UNDER,
                      margin=dict(l=10, r=10, t=30, b=10))
    return fig
