"""Any chart in words, for a screen reader: what is plotted against what, and its values.

Streamlit gives a Plotly chart the text of its ``alt`` as its accessible name; without one a screen reader reads
the chart's ticks and titles as a jumble ("0.2 0.3 … epoch 1 2 3"). The pictures, fed-back matrices and stimulus
strips have descriptions made for them (``Picture.alt``, ``plots.matrix_alt``, ``plots.strip_alt``); this module
reads every other figure (curves, bars, confusion heatmaps, grids of tiles) from the figure itself, so a new chart
is described without anyone remembering to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from core.plots import matrix_alt, scale_end_text

if TYPE_CHECKING:
    import plotly.graph_objects as go

MOST_VALUES = 40  # a bar chart with more is summed up (lowest, highest), not read out in full
MOST_TITLES = 12  # a grid with more tiles names the first ten and the last


def _text(title: Any) -> str:
    """A Plotly title (an object, a string or None) as plain text, line breaks as spaces."""
    text = getattr(title, "text", title)
    return " ".join(str(text).replace("<br>", " ").split()) if text else ""


def _axis(layout: Any, name: str) -> Any:
    """``layout.xaxis2`` for a trace's ``x2``; ``layout.xaxis`` for ``x`` or none."""
    return layout[f"{name[0]}axis{name[1:]}"]


def _value_text(value: float, axis: Any) -> str:
    """A value as its axis writes it: percent where the axis ticks are percent, else three significant digits."""
    if not np.isfinite(value):
        return "none"
    if "%" in (axis.tickformat or ""):
        return f"{value:.1%}"
    if abs(value) >= 1000 and float(value).is_integer():
        return f"{value:,.0f}"  # a sample count: "2,000", not "2e+03"
    return f"{value:.3g}".replace("-", "−")


def _names(values: Sequence[Any]) -> str:
    """Titles in a list: all of them, or the first few and the last when there are many."""
    names = [_text(value) for value in values]
    if len(names) > MOST_TITLES:
        names = [*names[: MOST_TITLES - 2], "…", names[-1]]
    return ", ".join(names)


def _panel_title(layout: Any, x_axis: Any, y_axis: Any) -> str:
    """The subplot title over a panel: an annotation on the paper at the panel's top, within its width."""
    low, high = x_axis.domain or (0.0, 1.0)
    top = (y_axis.domain or (0.0, 1.0))[1]
    for note in layout.annotations or ():
        if (note.xref == "paper" and note.yref == "paper" and abs((note.y or 0) - top) < 0.02
                and low <= (note.x or 0) <= high):
            return _text(note.text)
    return ""


def _curve_words(trace: Any, x_axis: Any, y_axis: Any) -> str:
    """One curve: where it starts and ends, and its highest point where that is neither (where it first gets
    there)."""
    x, y = np.asarray(trace.x, dtype=float), np.asarray(trace.y, dtype=float)
    kept = np.isfinite(x) & np.isfinite(y)
    x, y = x[kept], y[kept]
    name = f"{_text(trace.name)}: " if _text(trace.name) else ""
    if len(y) == 0:
        return ""
    if len(y) == 1:
        return f"{name}{_value_text(y[0], y_axis)} at {_value_text(x[0], x_axis)}"
    words = (f"{name}from {_value_text(y[0], y_axis)} at {_value_text(x[0], x_axis)} to "
             f"{_value_text(y[-1], y_axis)} at {_value_text(x[-1], x_axis)}")
    top = int(np.argmax(y))
    if 0 < top < len(y) - 1:  # argmax: where it first gets there
        words += f", highest {_value_text(y[top], y_axis)} first at {_value_text(x[top], x_axis)}"
    return words


def _bar_words(trace: Any, category_axis: Any, value_axis: Any) -> str:
    """One set of bars: each category's value (as the bar's own label writes it, where it has one)."""
    sideways = trace.orientation == "h"
    categories = list(trace.y if sideways else trace.x)
    values = np.asarray(trace.x if sideways else trace.y, dtype=float)
    labels = trace.text if isinstance(trace.text, (list, tuple)) and len(trace.text) == len(values) else None
    name = f"{_text(trace.name)}: " if _text(trace.name) else ""
    if len(values) > MOST_VALUES:
        low, high = int(np.nanargmin(values)), int(np.nanargmax(values))
        return (f"{name}{len(values)} bars, lowest {_value_text(values[low], value_axis)} ({categories[low]}), "
                f"highest {_value_text(values[high], value_axis)} ({categories[high]})")
    shown = labels if labels is not None else [_value_text(v, value_axis) for v in values]
    return name + ", ".join(f"{category} {value}" for category, value in zip(categories, shown))


def _grid_words(layout: Any, heatmap: Any) -> str:
    """A grid of titled tiles drawn as one heatmap (``plots.tiled_heatmap``): the tiles and the colour scale."""
    titles = [note.text for note in layout.annotations or () if note.xref in (None, "x")]
    z = np.asarray(heatmap.z, dtype=float)
    low = heatmap.zmin if heatmap.zmin is not None else np.nanmin(z)
    high = heatmap.zmax if heatmap.zmax is not None else np.nanmax(z)
    colour = _text(heatmap.colorbar.title) or "value"
    return (f"{len(titles)} images: {_names(titles)}. Colour: {colour}, from {scale_end_text(low)} to "
            f"{scale_end_text(high)}.")


def _matrix_words(heatmap: Any, x_axis: Any, y_axis: Any) -> str:
    """A matrix with named rows and columns (a confusion matrix as row fractions): each row's largest cell."""
    return matrix_alt(np.asarray(heatmap.z, dtype=float), [str(v) for v in heatmap.y], [str(v) for v in heatmap.x],
                      _text(y_axis.title) or "rows", _text(x_axis.title) or "columns")


def figure_alt(figure: go.Figure) -> str:
    """The figure in words: for each panel, what it plots against what, then each curve, set of bars or matrix."""
    layout = figure.layout
    panels: dict[tuple[str, str], list[Any]] = {}
    legend_lines = []
    for trace in figure.data:
        x = getattr(trace, "x", None)
        if trace.type == "scatter" and (x is None or not np.isfinite(np.asarray(x, dtype=float)).any()):
            if _text(trace.name) and trace.showlegend is not False:  # a legend entry for a line drawn as a
                # shape (a threshold), or an outline with nothing to outline; not a halo under one
                legend_lines.append(_text(trace.name))
            continue
        panels.setdefault((trace.xaxis or "x", trace.yaxis or "y"), []).append(trace)
    sentences = []
    for (x_name, y_name), traces in panels.items():
        x_axis, y_axis = _axis(layout, x_name), _axis(layout, y_name)
        heatmaps = [trace for trace in traces if trace.type == "heatmap"]
        if heatmaps and heatmaps[0].x is not None and heatmaps[0].y is not None:
            sentences.append(_matrix_words(heatmaps[0], x_axis, y_axis))
            continue
        if heatmaps:
            # the outlines, not their halos nor the veils over faded panels (drawn without a legend entry)
            outlined = sorted({_text(t.name) for t in traces if t.type == "scatter" and _text(t.name)
                               and t.showlegend is not False})
            sentences.append(_grid_words(layout, heatmaps[0]) + (f" Outlined: {'; '.join(outlined)}." if outlined
                                                                  else ""))
            continue
        bars = [trace for trace in traces if trace.type == "bar"]
        sideways = bool(bars) and bars[0].orientation == "h"
        category_axis, value_axis = (y_axis, x_axis) if sideways else (x_axis, y_axis)
        title = _panel_title(layout, x_axis, y_axis)
        what = _text(value_axis.title) or title or "value"
        against = _text(category_axis.title)
        heading = f"{title}: " if title and title != what else ""
        if bars:
            words = "; ".join(_bar_words(trace, category_axis, value_axis) for trace in bars)
            sentences.append(f"{heading}bar chart of {what}" + (f" by {against}" if against else "") + f": {words}.")
        curves = [words for trace in traces if trace.type == "scatter"
                  if (words := _curve_words(trace, x_axis, y_axis))]
        if curves and not bars:
            sentences.append(f"{heading}{what} against {against or 'x'}: {'; '.join(curves)}.")
    if legend_lines:
        sentences.append(f"A line marks {'; '.join(legend_lines)}.")
    if not sentences:  # a chart with no values yet (a run stopped before its first snapshot): the alt was empty
        sentences.append(_empty_words(layout))
    return " ".join(sentence[:1].upper() + sentence[1:] for sentence in sentences)


def _empty_words(layout: Any) -> str:
    """A chart without values, by its axes where they are titled."""
    what, against = _text(layout.yaxis.title), _text(layout.xaxis.title)
    return f"{what} against {against}: no values yet." if what and against else "A chart with no values yet."
