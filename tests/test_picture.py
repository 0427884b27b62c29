"""The picture policy: what a class-image picture shows, the same on screen, in the PNG and in the CLI."""

from __future__ import annotations

import numpy as np


def test_panel_titles_mark_empty_and_scarce_classes() -> None:
    from core.analysis import ClassImages
    from core.picture import panel_titles

    def images(estimator: str = "predicted", source: str = "noise") -> ClassImages:
        return ClassImages(estimator, source, np.zeros((10, 28, 28)), np.zeros((28, 28)),
                           weights=np.array([4000.0, 3000, 2000, 900, 50, 30, 15, 3, 2, 0]),
                           empty=np.array([False] * 9 + [True]), n=10_000)

    names = tuple("0123456789")
    titles = panel_titles(names, images())
    assert titles[0] == "0 (4,000)" and titles[7] == "7 (3, too few)" and titles[9] == "9: never predicted"
    assert panel_titles(names, images(), counts=False)[7:] == ["7*", "8*", "9"]  # the caption explains them
    grey = images(source="input")  # whole-input averages are on a grey scale, which does not saturate: no mark
    assert panel_titles(names, grey)[7] == "7 (3)"
    kernels = images(estimator="regression")  # every stimulus feeds every kernel
    assert panel_titles(names, kernels)[7] == "7 (3)"


def test_scarce_panels_are_drawn_faded_in_the_figure_the_live_tiles_and_the_png() -> None:
    """Panels behind too few stimuli are mostly noise yet were the most saturated of the picture: a reviewer saw
    students read them as the strongest. They are washed towards white in every rendering, the others untouched."""
    import io

    from PIL import Image

    from core.picture import Picture
    from core.plots import FADE, diverging_rgb

    values = np.random.default_rng(0).normal(0.0, 0.1, (10, 28, 28))
    scarce = np.zeros(10, bool)
    scarce[[2, 9]] = True
    shown = Picture(values, [str(c) for c in range(10)], "Δ", True, None, 0.0, scarce)

    veils = shown.figure().layout.shapes
    assert len(veils) == 2 and all(veil.fillcolor == f"rgba(255,255,255,{FADE})" for veil in veils)
    tiles, _, (_, high) = shown.tiles()
    plain = diverging_rgb(values, high).astype(float)
    drawn = [np.asarray(Image.open(io.BytesIO(tile)).convert("RGB"), float) for tile in tiles]
    assert np.array_equal(drawn[0], plain[0])  # a well-filled panel as it was
    assert np.allclose(drawn[2], plain[2] + FADE * (255 - plain[2]), atol=1)  # a scarce one washed out
    faded_png = np.asarray(Image.open(io.BytesIO(shown.png(scale=1))).convert("L"), float)
    plain_png = np.asarray(Image.open(io.BytesIO(Picture(values, shown.titles, "Δ", True, None, 0.0,
                                                         np.zeros(10, bool)).png(scale=1))).convert("L"), float)
    assert (faded_png >= plain_png).all() and (faded_png > plain_png).any()
