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


def test_a_class_behind_most_stimuli_is_explained_as_pale() -> None:
    """On pure noise one class often takes most stimuli (8: 84 % for LeNet-MNIST); its average lies close to the
    mean stimulus by construction and looked blank beside noisy small classes, with nothing saying why."""
    import dataclasses

    from core.analysis import ClassImages
    from core.link import Controls
    from core.picture import dominant_class, picture, picture_caption

    rng = np.random.default_rng(0)
    weights = np.array([40.0, 0, 112, 142, 0, 60, 0, 50, 8553, 43])
    deviations = rng.normal(0.0, 0.05, (10, 28, 28))
    # the dominant class's deviation is the others' together, reversed and scaled down: the mean's identity
    deviations[8] = -np.tensordot(np.delete(weights, 8), np.delete(deviations, 8, axis=0), axes=1) / weights[8]
    images = ClassImages("predicted", "noise", deviations, np.zeros((28, 28)), weights, weights == 0, 9000)
    names = tuple("0123456789")
    assert dominant_class(images, names) == ("8", weights[8] / weights.sum())
    assert np.abs(deviations[8]).mean() < 0.2 * np.abs(deviations[3]).mean()  # pale indeed
    controls = Controls(9000, 0.0, "uniform", 0.2, "predicted", "noise", 0, False)
    caption = picture_caption(9000, picture(None, images, False, names), controls)
    assert "Class 8 took 95 % of the stimuli" in caption and "looks pale" in caption
    softmax = dataclasses.replace(controls, estimator="softmax")  # weights are probability there, not stimuli
    assert "Class 8 took 95 % of the total probability (not of the answers)" in picture_caption(
        9000, picture(None, dataclasses.replace(images, estimator="softmax"), False, names), softmax)
    balanced = dataclasses.replace(images, weights=np.full(10, 900.0), empty=np.zeros(10, bool))
    assert dominant_class(balanced, names) is None
    assert picture(None, balanced, False, names).dominant is None
    grey = dataclasses.replace(images, part="input")  # the images themselves on a grey scale: nothing pale
    assert picture(None, grey, False, names).dominant is None


def test_a_kernel_s_colours_are_read_as_its_sign_not_as_brighter_than_the_average_stimulus() -> None:
    """A kernel is a covariance with the logit (regression, gradient): there is no average stimulus to be brighter
    than, which the caption once said of it (found by a review)."""
    from core.analysis import ClassImages
    from core.link import Controls
    from core.picture import picture, picture_caption

    kernels = np.random.default_rng(1).normal(0.0, 1.0, (10, 28, 28))
    names = tuple("0123456789")
    for estimator in ("regression", "gradient"):
        images = ClassImages(estimator, "noise", kernels, np.zeros((28, 28)), np.ones(10), np.zeros(10, bool), 1000)
        controls = Controls(1000, 0.0, "gaussian", 0.2, estimator, "noise", 0, False)
        caption = picture_caption(1000, picture(None, images, False, names), controls)
        assert "goes with a higher logit" in caption and "average stimulus" not in caption, caption
    averages = Controls(1000, 0.0, "uniform", 0.2, "predicted", "noise", 0, False)
    images = ClassImages("predicted", "noise", kernels * 0.01, np.zeros((28, 28)), np.full(10, 100.0),
                         np.zeros(10, bool), 1000)
    assert "brighter than the average stimulus" in picture_caption(1000, picture(None, images, False, names),
                                                                   averages)
