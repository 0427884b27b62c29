"""What a class-image picture shows: values, panel titles, colour label and scale, and the scarce panels.

One policy for the screen, the downloaded PNG and ``python -m core analyze``, so the three cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis import ESTIMATORS, GRADIENT_ESTIMATORS, KERNEL_ESTIMATORS, PARTS, ClassImages, z_scores
from core.reverse_correlation import AnalysisState
from core.link import Controls
from core.plots import (class_grid_png, class_images_figure, class_tiles_png, colour_range, scale_end_text,
                        scarce)

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
    scarce: np.ndarray  # (10,) bool: panels marked *too few*, drawn faded
    dominant: tuple[str, float] | None = None  # a class behind most of an average picture's weight, and its share

    def figure(self, height: int | None = None, phone: bool = False, narrow: bool = False) -> Any:
        return class_images_figure(self.values, self.titles, self.signed, self.colour_label, height=height,
                                   weights=self.scale_weights, least_limit=self.least_limit, faded=self.scarce,
                                   phone=phone, narrow=narrow)

    def alt(self) -> str:
        """The picture in words, for a screen reader (the chart's own text reads as a jumble of ticks and titles)."""
        low, high = colour_range(self.values, self.signed, self.scale_weights, self.least_limit)
        scale = "blue (below) through white to red (above)" if self.signed else "black to white"
        return (f"{len(self.titles)} class images, one per class: {', '.join(self.titles)}. Colour: "
                f"{self.colour_label}, {scale}, from {scale_end_text(low)} to {scale_end_text(high)}.")

    def tiles(self) -> tuple[list[bytes], bytes, tuple[float, float]]:
        """One-pixel-per-pixel PNGs of the panels and of the colour ramp, and the scale's ends: the live
        partial pictures, which the browser scales up."""
        return class_tiles_png(self.values, self.signed, self.scale_weights, self.least_limit, self.scarce)

    def png(self, scale: int = 6) -> bytes:
        """The PNG of the download and the CLI."""
        return class_grid_png(self.values, self.titles, self.signed, scale, label=self.colour_label,
                              weights=self.scale_weights, least_limit=self.least_limit, faded=self.scarce)


def png_title(settings: str, estimator: str, z_scores: bool) -> str:
    """The title of a picture's PNG (the page's download and the CLI's class_images.png, the same bytes): its
    settings, and what the number in brackets over each panel counts (a review found it without a unit)."""
    return settings + ("; z-scores" if z_scores else "") + f"; (n): {ESTIMATORS[estimator].weight_unit}"


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
                   Z_LEAST_LIMIT if shows_z_scores else 0.0, scarce_classes(images),
                   dominant_class(images, names) if scale_weights is not None else None)


def dominant_class(images: ClassImages, names: Sequence[str]) -> tuple[str, float] | None:
    """The class behind more than half of the weight, with its share: its average deviation from the mean stimulus
    is small by construction (that mean is mostly its own stimuli), so its panel looks pale on the shared scale."""
    shares = np.asarray(images.weights, np.float64) / max(float(np.sum(images.weights)), 1e-300)
    k = int(np.argmax(shares))
    return (names[k], float(shares[k])) if shares[k] > 0.5 else None


# A panel's bracket number in a student's words where its short name misleads: "total probability" above 4,558
# read as a probability (a review).
BRACKET_WORDS = {"total probability": "the network's probability for the class, added up over the stimuli (the ten "
                                      "add up to N)",
                 "Σ logit²": "how much the class's centred score varied over the stimuli, Σ logit²"}


def picture_caption(n: int | None, shown: Picture, controls: Controls) -> str:
    """What the panels are, what the bracketed numbers count, and how to read the colours (the page's caption);
    ``n``, the stimuli behind the picture, leads it (None while a run grows: the live picture counts them)."""
    z = controls.shows_z_scores
    if controls.estimator == "regression":
        what = ("Each panel is one class's first-order kernel: the covariance of its centred logit with each pixel "
                f"of the {PARTS[controls.part].label} (number in brackets: Σ logit²).")
    elif controls.estimator in GRADIENT_ESTIMATORS:
        what = ("Each panel is one class's first-order kernel of the noise, Σ·E[∇ logit], from the model's own "
                "input gradients (white-box; Stein's lemma): the same quantity as the regression kernel, from far "
                "fewer stimuli. Exact for the Gaussian before clipping; pixels clipped at 0 or 1 bend it, so it is "
                "approximate where the noise is often clipped (large σ, base noise on dark pixels).")
    else:
        term = ESTIMATORS[controls.estimator]
        unit = BRACKET_WORDS.get(term.weight_unit, term.weight_unit)
        what = (f"Each panel is the average of the {PARTS[controls.part].label} over the stimuli "
                f"{term.grouping} (number in brackets: {unit}).")
    if z and controls.estimator == "regression":
        reading = ("Shown as z-scores: each pixel's correlation with the logit times √n; |z| > 3 happens by chance "
                   "for about 2 of a panel's 784 pixels.")
    elif z:
        reading = ("Shown as z-scores: how many standard errors (the wobble noise alone would cause) each pixel "
                   "lies above (red) or below (blue) the average stimulus; |z| > 3 happens by chance for about 2 of "
                   "a panel's 784 pixels.")
    elif not shown.signed:
        reading = "Grey scale stretched to the images' own range: the original study's figure."
    elif controls.estimator == "truth":
        reading = ("The noise is drawn independently of the test image, so these panels hold no class: they show "
                   "what chance alone draws, a baseline for the model's groupings.")
    elif controls.estimator in KERNEL_ESTIMATORS:  # covariances, not averages: no "average stimulus" to compare
        reading = ("Red = pixels whose brightness goes with a higher logit for the class, blue = with a lower one: "
                   "the pixels that push the model towards that class or away from it.")
    else:
        reading = ("Red = brighter than the average stimulus, blue = darker: the pixels that pushed the model "
                   "towards that class.")
    few = ""
    if shown.scarce.any():
        few = (" Panels marked *too few* (faded) rest on under 1 % of the total"
               + (": their z-scores allow for that, but with so few stimuli most pixels stay near chance and the "
                  "map looks speckled; the Significance page tests whether any region of it is beyond chance."
                  if z else ": mostly noise"
                  ", so they saturate and are left out of the colour scale."))
    pale = ""
    if shown.dominant is not None:
        name, share = shown.dominant
        unit = ESTIMATORS[controls.estimator].weight_unit  # softmax: the share of the total probability
        # softmax: a share of the probability, not of the answers Class bias counts (two numbers for one class
        # beside each other puzzled a review)
        of_what = {"total probability": "total probability (not of the answers)"}.get(unit, unit)
        pale = (f" Class {name} took {100 * share:.0f} % of the {of_what}, so the "
                f"average stimulus is mostly its own: its panel lies close to it by construction and looks pale (its "
                f"pattern is the others' together, reversed and scaled down), though it is the best measured of the "
                f"ten. *Show z-scores* measures every panel against its own noise level.")
    return (f"**{n:,} stimuli.** " if n is not None else "") + f"{what} {reading}{few}{pale}"
