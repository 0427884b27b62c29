"""The light stand-ins a page draws while a run grows: the picture, the class-bias chart and the convergence
curve as plain HTML (inline PNGs and SVG), a few milliseconds on the server and a synchronous decode in the
browser, where Plotly figures cost a slow machine's browser tenths of a second each. The Plotly figures come back
with the complete picture, at the same size."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core import plots
from core.config import IMAGE_SHAPE
from core.picture import Picture


def _data_url(content: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64," + base64.b64encode(content).decode("ascii")


# Screen pixels Plotly's upright colour bar takes from a grid figure's width (its 1.02 offset, bar, ticks and title):
# 117-124 in Chromium at grids 660-940 px wide, by the width of the tick labels
COLOUR_BAR_ROOM = 120
COLOUR_BAR_THICKNESS = {"right": 30, "under": 14}  # Plotly's default; plots.colour_bar_under's
# The ramp's 64 colours stretched smoothly, as Plotly's gradient (pixelated, they were bands), in Plotly's 1-px
# outline (its default outline colour): side by side in Chromium, the live bar was the one that looked different.
RAMP_STYLE = "outline:1px solid #444"


@dataclass(frozen=True)
class MosaicLayout:
    """Where ``plots.class_images_figure`` draws its mosaic, in its own numbers: panels across, the figure's height
    and margins, the colour bar's side, and how the titles are set."""

    columns: int
    height: int
    margin: tuple[int, int, int, int]  # left, right, top, bottom
    colour_bar: str  # "right" (beside, taking COLOUR_BAR_ROOM of the width) or "under" (in the bottom margin)
    title_size: int
    two_line_titles: bool

    @classmethod
    def of(cls, count: int, phone: bool) -> MosaicLayout:
        if phone:
            m = plots.PHONE_MARGIN
            return cls(plots.PHONE_COLUMNS, plots.phone_grid_height(count), (m["l"], m["r"], m["t"], m["b"]),
                       "under", 11, True)
        rows = 2  # class_images_figure's default: two rows, as many columns as they need
        return cls(int(np.ceil(count / rows)), plots.grid_height(rows), (plots.FIGURE_MARGIN,) * 4, "right", 12, False)


def picture_html(shown: Picture, done: int, total: int, phone: bool = False) -> str:
    """A picture as it grows, for ``st.html``: its ten panels as tiny inline PNGs the browser scales up
    (pixelated), their titles, the colour scale, and "n of N stimuli" with a bar, laid out where the final Plotly
    figure puts them (on a ``phone``, three across with titles on two lines and the colour bar under them), so the
    complete picture replaces it without a jump.

    One element, so one message per redraw and a few milliseconds of the server's time, where a Plotly figure of
    ten heatmaps costs a slow machine's browser 0.3-0.5 s. The images decode synchronously: the picture this
    replaces stays on screen until this one is painted (an ``st.image`` is fetched after it is mounted: a blank
    frame)."""
    tiles, ramp, scale = shown.tiles()
    layout = MosaicLayout.of(len(tiles), phone)
    side = IMAGE_SHAPE[1]
    wide = layout.columns * (side + plots.MOSAIC_GAP) - plots.MOSAIC_GAP  # the mosaic, in image pixels
    tall = int(np.ceil(len(tiles) / layout.columns)) * (plots.TITLE_BAND + side)
    (m_left, m_right, m_top, m_bottom), room = layout.margin, COLOUR_BAR_ROOM if layout.colour_bar == "right" else 0
    inner = layout.height - m_top - m_bottom  # the plot area's height
    plot_width = f"(100cqw - {m_left + m_right + room}px)"  # and its width, beside an upright colour bar
    unit = f"min({inner / tall:.4f}px, {plot_width} / {wide})"  # screen pixels per image pixel, as Plotly fits it
    left = f"calc({m_left}px + ({plot_width} - {wide} * var(--u)) / 2)"
    top = f"calc({m_top}px + ({inner}px - {tall} * var(--u)) / 2)"
    # A screen reader hears the group's name and each panel's caption once (the tiles' alt text repeated them)
    grid = (f'<div role="group" aria-label="classification images so far, {done:,} of {total:,} stimuli" '
            f'style="position:absolute;left:{left};top:{top};display:grid;'
            f'grid-template-columns:repeat({layout.columns},calc({side} * var(--u)));'
            f'column-gap:calc({plots.MOSAIC_GAP} * var(--u))">{_panels_html(shown.titles, tiles, layout)}</div>')
    where = (f'<div style="position:absolute;left:{left};top:2px;white-space:nowrap;display:flex;align-items:center;'
             f'gap:8px;font-size:13px"><span>{done:,} of {total:,} stimuli</span><progress value="{done}" '
             f'max="{total}" aria-label="stimuli so far" style="width:min(200px,40cqw)"></progress></div>')
    colour_bar = _colour_bar_html(layout, plot_width, inner, ramp, scale, shown.colour_label)
    return (f'<div style="position:relative;height:{layout.height}px;container-type:inline-size;--u:{unit}">'
            f'{grid}{colour_bar}{where}</div>')


def _panels_html(titles: Sequence[str], tiles: Sequence[bytes], layout: MosaicLayout) -> str:
    """Each panel: its title at the foot of a band of TITLE_BAND image pixels, 0.6 above the panel as Plotly puts
    it (Streamlit's CSS is border-box: the padding lies inside the band), then its tile, sized in ``--u``."""
    side = IMAGE_SHAPE[1]
    caption_style = (f"box-sizing:border-box;height:calc({plots.TITLE_BAND} * var(--u));color:{plots.PLOT_TEXT_COLOUR};"
                     "padding-bottom:calc(0.6 * var(--u));display:flex;flex-direction:column;justify-content:flex-end;"
                     f"align-items:center;font-size:{layout.title_size}px;line-height:{layout.title_size + 2}px;"
                     "white-space:nowrap;overflow:hidden")
    line_style = "max-width:100%;overflow:hidden;text-overflow:ellipsis"
    panels = []
    for title, tile in zip(titles, tiles):
        lines = [line for line in plots.title_lines(title) if line] if layout.two_line_titles else [title]
        caption = "".join(f'<span style="{line_style}">{html.escape(line)}</span>' for line in lines)
        panels.append(f'<figure style="margin:0;min-width:0"><figcaption style="{caption_style}" '
                      f'title="{html.escape(title)}">{caption}</figcaption><img decoding="sync" alt="" '
                      f'src="{_data_url(tile)}" style="display:block;width:calc({side} * var(--u));'
                      f'height:calc({side} * var(--u));image-rendering:pixelated"></figure>')
    return "".join(panels)


def _colour_bar_html(layout: MosaicLayout, plot_width: str, inner: int, ramp: bytes, scale: tuple[float, float],
                     title: str) -> str:
    """The colour bar where Plotly draws it: upright at 1.02 of the plot area's width, or lying 0.02 of its height
    under it (then titled above), each inside its padding; ticked where the figure ticks it
    (``plots.colour_ticks``), so its labels stay put when the figure replaces it."""
    low, high = scale
    m_left, _, m_top, _ = layout.margin
    pad, thickness = plots.COLOUR_BAR_PAD, COLOUR_BAR_THICKNESS[layout.colour_bar]
    text = f"position:absolute;font-size:12px;line-height:14px;white-space:nowrap;color:{plots.PLOT_TEXT_COLOUR}"
    upright = layout.colour_bar == "right"
    # the bar's length in screen pixels, as the figure ticks it: upright, the plot area's height less the padding
    # (plots.upright_colour_bar_length); lying, a phone's, whose width the browser decides
    length_px = inner - 2 * pad if upright else plots.phone_colour_bar_length()
    ticks = plots.colour_ticks(low, high, length_px, upright)
    # each tick as a fraction of the bar from its low end, and its label
    marks = [((tick - low) / (high - low), plots.tick_text(tick, ticks)) for tick in ticks]
    if upright:
        x, y, length = f"calc({m_left + pad}px + 1.02 * {plot_width})", m_top + pad, length_px
        # the ramp runs low to high from left to right: turned a quarter about its top-left corner it runs upwards
        bar = (f'<img decoding="sync" alt="colour scale" src="{_data_url(ramp)}" style="position:absolute;'
               f'left:{x};top:{y + length}px;width:{length}px;height:{thickness}px;transform:rotate(-90deg);'
               f'transform-origin:0 0;{RAMP_STYLE}">')
        label = f"{text};left:calc({x} + {thickness + 4}px)"
        labels = "".join(f'<span style="{label};top:{y + (1 - at) * length - 7:.1f}px">{tick}</span>'
                         for at, tick in marks)
        return (f'{bar}{labels}<span style="{text};left:calc({x} + {thickness + 40}px);top:{y}px;'
                f'height:{length}px;writing-mode:vertical-rl;transform:rotate(180deg);text-align:center;'
                f'font-size:14px">{html.escape(title)}</span>')
    y = round(m_top + 1.02 * inner) + pad + 14  # under the plot area, below its title's line
    x, length = f"{m_left + pad}px", f"({plot_width} - {2 * pad}px)"
    labels = "".join(f'<span style="{text};left:calc({x} + {at:.4f} * {length});top:{y + thickness + 2}px;'
                     f'transform:translateX(-50%)">{tick}</span>' for at, tick in marks)
    return (f'<span style="{text};left:{x};width:calc{length};top:{y - 15}px;text-align:center">'
            f'{html.escape(title)}</span><img decoding="sync" alt="colour scale" src="{_data_url(ramp)}" '
            f'style="position:absolute;left:{x};top:{y}px;width:calc{length};height:{thickness}px;'
            f'{RAMP_STYLE}">{labels}')


LIVE_CHART_HEIGHT = 300  # the Plotly charts' height: their light stand-ins take the same room


def bias_html(counts: np.ndarray, names: tuple[str, ...] | list[str], total: int) -> str:
    """The class-bias chart while a run grows: one CSS bar per class, its share written above it. A Plotly
    figure redrawn every few seconds cost a slow machine's browser about a second of the network's CPU per
    10,000-stimulus change; the Plotly chart comes back with the complete picture."""
    share = np.asarray(counts, float) / max(total, 1)
    top = max(float(share.max(initial=0.0)), 1e-12)
    shares = [f"{plots.share_text(100 * value)}%" for value in share]
    bars = "".join(
        f'<div style="flex:1;min-width:0;display:flex;flex-direction:column;justify-content:flex-end;'
        f'align-items:center;height:100%"><span style="font-size:11px">{html.escape(text)}</span>'
        f'<div style="width:70%;height:{(LIVE_CHART_HEIGHT - 60) * value / top:.0f}px;background:#4575b4"></div>'
        f'<span style="font-size:11px;max-width:100%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap">'
        f'{html.escape(name)}</span></div>' for name, value, text in zip(names, share, shares))
    # role="img": a label on a plain div is read by no screen reader; this one carries the numbers
    spoken = ", ".join(f"{name} {text}" for name, text in zip(names, shares))
    return (f'<div style="font-size:12px">share of the {total:,} stimuli so far given each class</div>'
            f'<div style="height:{LIVE_CHART_HEIGHT - 18}px;display:flex;align-items:flex-end;gap:4px" role="img" '
            f'aria-label="{html.escape(f"share of the stimuli given each class: {spoken}")}">{bars}</div>')


def convergence_html(counts: np.ndarray, correlations: np.ndarray) -> str:
    """The convergence curve while a run grows, as the Plotly chart draws it (log n across, correlation with the
    current images up to 1): an SVG in an ``<img>``, which the page's HTML sanitiser lets through as it does the
    picture's PNGs."""
    width, height, left, bottom, pad = 600, LIVE_CHART_HEIGHT, 44, 36, 12
    counts, correlations = np.asarray(counts, float), np.asarray(correlations, float)
    # The axis spans the snapshots, first to last, as the Plotly chart's does (not from n = 1: the curve sat in its
    # right third); snapshots without a correlation yet are left out of the line only, so the axis stays put.
    positive = counts[counts > 0]
    first, last = (float(positive.min()), float(positive.max())) if positive.size else (1.0, 10.0)
    kept = np.isfinite(correlations) & (counts > 0)
    counts, correlations = counts[kept], correlations[kept]
    low = min(0.0, float(correlations.min(initial=0.0)))
    span = np.log10(last) - np.log10(first) or 1.0
    x = left + (np.log10(counts) - np.log10(first)) / span * (width - left - pad)
    y = pad + (1.02 - correlations) / (1.02 - low) * (height - bottom - pad)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y))
    dots = "".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="#1f77b4"/>' for a, b in zip(x, y))
    zero, one = (pad + (1.02 - v) / (1.02 - low) * (height - bottom - pad) for v in (max(low, 0.0), 1.0))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12"><line x1="{left}" y1="{one:.1f}" x2="{width - pad}" y2="{one:.1f}" stroke="#ddd"/>'
           f'<line x1="{left}" y1="{zero:.1f}" x2="{width - pad}" y2="{zero:.1f}" stroke="#ddd"/>'
           f'<text x="{left - 6}" y="{one + 4:.1f}" text-anchor="end">1</text>'
           f'<text transform="translate(12,{(one + zero) / 2:.1f}) rotate(-90)" text-anchor="middle">'
           f'correlation</text>'
           f'<text x="{left - 6}" y="{zero + 4:.1f}" text-anchor="end">{max(low, 0.0):g}</text>'
           f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points}"/>{dots}'
           f'<text x="{(width + left) / 2:.0f}" y="{height - 8}" text-anchor="middle">stimuli so far (log scale): '
           f'{int(positive.max(initial=0)):,}</text></svg>')
    return (f'<img decoding="sync" alt="convergence: correlation with the current images against stimuli" '
            f'src="{_data_url(svg.encode(), "image/svg+xml")}" '
            f'style="display:block;width:100%;height:{LIVE_CHART_HEIGHT}px">')
