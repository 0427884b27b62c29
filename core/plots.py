"""Figures, with one colour convention everywhere.

Signed images (noise averages minus their mean, kernels, z-scores) use one diverging scale centred at zero;
probabilities and counts use one sequential scale.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

DIVERGING = "RdBu_r"  # blue = darker than average, red = brighter than average
SEQUENTIAL = "Blues"
GREY = "gray"
# Anchor colours of RdBu_r (ColorBrewer), for the PNG renderer that runs without Plotly.
_DIVERGING_STOPS = np.array(
    [[5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
     [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31]], dtype=np.float64)


def symmetric_limit(images: np.ndarray) -> float:
    """Colour limit so that zero sits at the centre of the diverging scale."""
    finite = np.abs(images[np.isfinite(images)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def diverging_rgb(image: np.ndarray, limit: float) -> np.ndarray:
    """Map values in [−limit, limit] to RdBu_r colours; NaN becomes light grey."""
    position = np.clip((np.nan_to_num(image) / limit + 1.0) / 2.0, 0.0, 1.0) * (len(_DIVERGING_STOPS) - 1)
    low = np.floor(position).astype(int).clip(0, len(_DIVERGING_STOPS) - 2)
    frac = (position - low)[..., None]
    rgb = _DIVERGING_STOPS[low] * (1 - frac) + _DIVERGING_STOPS[low + 1] * frac
    rgb[np.isnan(image)] = 200
    return rgb.astype(np.uint8)


def class_grid_png(images: np.ndarray, titles: Sequence[str], signed: bool = True, scale: int = 6) -> bytes:
    """A 2 × 5 PNG grid of class images: diverging colours for signed images, grey for stimuli."""
    from PIL import Image, ImageDraw

    cell, label = 28 * scale, 16
    canvas = Image.new("RGB", (5 * (cell + 8) + 8, 2 * (cell + label + 8) + 8), "white")
    draw = ImageDraw.Draw(canvas)
    limit = symmetric_limit(images)
    finite = images[np.isfinite(images)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    for index, (image, title) in enumerate(zip(images, titles)):
        if signed:
            rgb = diverging_rgb(image, limit)
        else:
            grey = np.clip((np.nan_to_num(image, nan=low) - low) / max(high - low, 1e-12) * 255, 0, 255)
            rgb = np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)
        tile = Image.fromarray(rgb).resize((cell, cell), Image.NEAREST)
        x, y = 8 + (index % 5) * (cell + 8), 8 + (index // 5) * (cell + label + 8)
        draw.text((x, y), title if np.isfinite(image).all() else f"{title} (empty)", fill="black")
        canvas.paste(tile, (x, y + label))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()
