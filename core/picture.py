"""What a class-image picture shows: values, panel titles, colour label and scale, and the scarce panels.

One policy for the screen, the downloaded PNG and ``python -m core analyze``, so the three cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis import AnalysisState, ClassImages, z_scores
from core.plots import class_grid_png, class_images_figure, scarce

Z_LEAST_LIMIT = 3.0  # z-scores span at least ±3: chance-level maps look pale, not as strong as real effects


@dataclass(frozen=True)
class Picture:
    """Ten panels ready to draw."""

    values: np.ndarray  # (10, 28, 28): z-scores, grey levels, or signed deviations and kernels
    titles: list[str]
    colour_label: str
    signed: bool  # diverging scale centred at zero, else grey
    scale_weights: np.ndarray | None  # classes left out of the colour scale are scarce in these weights
    least_limit: float
    scarce: np.ndarray  # (10,) bool: panels marked *too few*

    def figure(self, height: int | None = None) -> Any:
        return class_images_figure(self.values, self.titles, self.signed, self.colour_label, height=height,
                                   weights=self.scale_weights, least_limit=self.least_limit)

    def png(self) -> bytes:
        return class_grid_png(self.values, self.titles, self.signed, label=self.colour_label,
                              weights=self.scale_weights, least_limit=self.least_limit)


def scarce_classes(images: ClassImages) -> np.ndarray:
    """The classes marked *too few*: predicted at all, yet behind under 1 % of the weight (only on pictures
    where ``ClassImages.marks_scarce``)."""
    if not images.marks_scarce:
        return np.zeros(len(images.weights), bool)
    return scarce(images.weights) & ~np.asarray(images.empty, bool)


def panel_titles(names: Sequence[str], images: ClassImages, counts: bool = True) -> list[str]:
    """Class names over the panels, with the samples or weight behind each (``counts``); empty classes and, on a
    diverging scale, scarce ones (saturated, left out of the colour scale) are marked. Without counts (small
    grids) only a * marks scarce classes."""
    titles = []
    for name, weight, empty, scarce_class in zip(names, images.weights, images.empty, scarce_classes(images)):
        if not counts:  # small grids: the name alone fits; blank panels and * are explained in the page's caption
            titles.append(f"{name}*" if scarce_class else name)
        elif empty:
            titles.append(f"{name}: never predicted")
        else:
            titles.append(f"{name} ({weight:,.0f}, too few)" if scarce_class else f"{name} ({weight:,.0f})")
    return titles


def picture(state: AnalysisState, images: ClassImages, shows_z_scores: bool, names: Sequence[str],
            counts: bool = True) -> Picture:
    """The picture of ``images``: z-scores (noise averages only) or the images' own display values, titled and
    scaled the same way on every page, in the PNG and in the CLI's PNG. Averages leave scarce classes out of
    the colour scale; z-scores span at least ±3."""
    if shows_z_scores:
        values, label = z_scores(state, images), "z-score"
    else:
        values, label = images.display, images.display_unit
    scale_weights = images.weights if images.marks_scarce and not shows_z_scores else None
    return Picture(values, panel_titles(names, images, counts), label, images.signed, scale_weights,
                   Z_LEAST_LIMIT if shows_z_scores else 0.0, scarce_classes(images))
