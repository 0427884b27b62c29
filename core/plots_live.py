"""The light stand-ins a page draws while a run grows: the picture, the class-bias chart and the convergence
curve as plain HTML (inline PNGs and SVG), a few milliseconds on the server and a synchronous decode in the
browser, where Plotly figures cost a slow machine's browser tenths of a second each. The Plotly figures come back
with the complete picture, at the same size."""

from __future__ import annotations

import base64
import html

import numpy as np

from core import plots
from core.picture import Picture


def _data_url(content: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64," + base64.b64encode(content).decode("ascii")


LIVE_TILE = 140  # screen pixels of a panel in a phone's partial picture at most
# Screen pixels Plotly's vertical colour bar takes from a grid figure's width (its 1.02 offset, bar, ticks and title):
# 117-124 in Chromium at grids 660-940 px wide, by the width of the tick labels
COLOUR_BAR_ROOM = 120
COLOUR_BAR_THICKNESS = 30  # Plotly's default


def picture_html(shown: Picture, done: int, total: int, phone: bool = False) -> str:
    """A picture as it grows, for ``st.html``: its ten panels as tiny inline PNGs the browser scales up
    (pixelated), their titles, the colour scale, and "n of N stimuli" with a bar. Laid out where the final Plotly
    figure will put them (on a ``phone``, three across with titles on two lines), so the complete picture replaces
    it without a jump.

    One element, so one message per redraw and a few milliseconds of the server's time, where a Plotly figure of
    ten heatmaps costs a slow machine's browser 0.3-0.5 s. The images decode synchronously: the picture this
    replaces stays on screen until this one is painted (an ``st.image`` is fetched after it is mounted: a blank
    frame)."""
    tiles, ramp, (low, high) = shown.tiles()
    if phone:
        return _phone_picture_html(shown, tiles, ramp, (low, high), done, total)
    return _grid_picture_html(shown, tiles, ramp, (low, high), done, total)


def _progress_html(done: int, total: int, style: str = "") -> str:
    return (f'<div style="display:flex;align-items:center;gap:8px;font-size:13px;{style}">'
            f'<span>{done:,} of {total:,} stimuli</span>'
            f'<progress value="{done}" max="{total}" aria-label="stimuli so far" style="width:min(200px,40%)">'
            f'</progress></div>')


def _group(done: int, total: int, style: str, panels: str) -> str:
    # A screen reader hears the group's name and each panel's caption once (the tiles' alt text repeated them)
    return (f'<div role="group" aria-label="classification images so far, {done:,} of {total:,} stimuli" '
            f'style="{style}">{panels}</div>')


def _grid_picture_html(shown: Picture, tiles: list[bytes], ramp: bytes, scale: tuple[float, float], done: int,
                       total: int) -> str:
    """The desktop grid where ``plots.class_images_figure`` draws it: its mosaic, at the largest size that fits
    its height and its width less the colour bar, centred in its plot area; the colour bar upright beside it; the
    run's progress over the first row's titles (the final figure has no such line). Container units do the
    arithmetic in the browser, which alone knows the width (the live panels were 140 px where the final ones were
    99-148, and 33-56 px higher: each change ended in a jump)."""
    columns, rows = 5, int(np.ceil(len(tiles) / 5))
    height, margin = plots.grid_height(rows), plots.FIGURE_MARGIN
    wide = columns * (28 + plots.MOSAIC_GAP) - plots.MOSAIC_GAP  # the mosaic in image pixels
    tall = rows * (plots.TITLE_BAND + 28)
    inner = height - 2 * margin
    plot_width = f"(100cqw - {2 * margin + COLOUR_BAR_ROOM}px)"  # the plot area beside the colour bar
    unit = f"min({inner / tall:.4f}px, {plot_width} / {wide})"  # screen pixels per image pixel
    left = f"calc({margin}px + ({plot_width} - {wide} * var(--u)) / 2)"
    top = f"calc({margin}px + ({inner}px - {tall} * var(--u)) / 2)"
    caption_style = (f"box-sizing:border-box;height:calc({plots.TITLE_BAND} * var(--u));display:flex;"
                     "align-items:flex-end;justify-content:center;font-size:12px;line-height:14px;white-space:nowrap;"
                     "overflow:hidden")
    panels = "".join(
        f'<figure style="margin:0;min-width:0"><figcaption style="{caption_style};padding-bottom:calc(0.6 * var(--u))" '
        f'title="{html.escape(title)}"><span style="overflow:hidden;text-overflow:ellipsis">{html.escape(title)}'
        f'</span></figcaption><img decoding="sync" alt="" src="{_data_url(tile)}" style="display:block;'
        f'width:calc(28 * var(--u));height:calc(28 * var(--u));image-rendering:pixelated"></figure>'
        for title, tile in zip(shown.titles, tiles))
    grid = _group(done, total, f"position:absolute;left:{left};top:{top};display:grid;"
                  f"grid-template-columns:repeat({columns},calc(28 * var(--u)));"
                  f"column-gap:calc({plots.MOSAIC_GAP} * var(--u))", panels)
    low, high = (plots.scale_end_text(end) for end in scale)
    # Plotly's bar: at x = 1.02 of the plot area, then its 10-px padding on each side
    bar_left, bar_top, bar_height = f"calc({margin + 10}px + 1.02 * {plot_width})", margin + 10, inner - 20
    # the ramp runs low to high from left to right: turned a quarter about its top-left corner it runs upwards
    bar = (f'<img decoding="sync" alt="colour scale" src="{_data_url(ramp)}" style="position:absolute;'
           f'left:{bar_left};top:{bar_top + bar_height}px;width:{bar_height}px;height:{COLOUR_BAR_THICKNESS}px;'
           'transform:rotate(-90deg);transform-origin:0 0;image-rendering:pixelated">')
    label = f'position:absolute;left:calc({bar_left} + {COLOUR_BAR_THICKNESS + 4}px);font-size:12px;line-height:14px'
    ends = (f'<span style="{label};top:{bar_top - 7}px">{high}</span>'
            f'<span style="{label};top:{bar_top + bar_height - 7}px">{low}</span>')
    title = (f'<span style="position:absolute;left:calc({bar_left} + {COLOUR_BAR_THICKNESS + 40}px);top:{bar_top}px;'
             f'height:{bar_height}px;writing-mode:vertical-rl;transform:rotate(180deg);text-align:center;'
             f'font-size:14px">{html.escape(shown.colour_label)}</span>')
    where = _progress_html(done, total, f"position:absolute;left:{left};top:2px;white-space:nowrap")
    return (f'<div style="position:relative;height:{height}px;container-type:inline-size;--u:{unit}">'
            f'{grid}{bar}{ends}{title}{where}</div>')


def _phone_picture_html(shown: Picture, tiles: list[bytes], ramp: bytes, scale: tuple[float, float], done: int,
                        total: int) -> str:
    """A phone's partial picture: three across, titles on two lines, the colour scale and the progress under
    them, in the room the final figure takes."""
    columns, height = plots.PHONE_COLUMNS, plots.phone_grid_height(len(tiles))
    captions = ["<br>".join(html.escape(line) for line in plots.title_lines(title) if line) for title in shown.titles]
    caption_style = "font-size:11px;line-height:13px;height:26px;overflow:hidden"
    panels = "".join(
        f'<figure style="margin:0;min-width:0"><figcaption style="{caption_style};text-align:center" '
        f'title="{html.escape(title)}">{caption}</figcaption>'
        f'<img decoding="sync" alt="" src="{_data_url(tile)}" '
        f'style="display:block;width:100%;image-rendering:pixelated"></figure>'
        for title, caption, tile in zip(shown.titles, captions, tiles))
    low_text, high_text = (plots.scale_end_text(end) for end in scale)
    bar = (f'<div style="display:flex;align-items:center;gap:6px;font-size:12px;margin-top:6px">'
           f'<span>{low_text}</span><img decoding="sync" alt="colour scale" src="{_data_url(ramp)}" '
           f'style="width:min(240px,50%);height:12px;image-rendering:pixelated"><span>{high_text}</span>'
           f'<span>{html.escape(shown.colour_label)}</span></div>')
    grid = _group(done, total, f"display:grid;grid-template-columns:repeat({columns},minmax(0,{LIVE_TILE}px));"
                  "gap:8px 16px", panels)
    return (f'<div style="min-height:{height}px;max-width:{5 * (LIVE_TILE + 16)}px">{grid}{bar}'
            f'{_progress_html(done, total, "margin-top:4px")}</div>')


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
