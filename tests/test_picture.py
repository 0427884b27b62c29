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
