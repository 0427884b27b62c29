"""White-noise analysis: what a reverse-correlation run's sums say (``core.reverse_correlation`` keeps them).

The estimators' class images and kernels, their z-scores, the fed-back matrix and template accuracy, all from the
sums alone: switching estimator or averaged part never re-runs the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.config import IMAGE_SHAPE, NUM_CLASSES
from core.noise import PIXELS
from core.reverse_correlation import ONES_ROW, WEIGHT_ROWS, AnalysisSettings, AnalysisState, Sums


@dataclass(frozen=True)
class Term:
    """One word of the shared vocabulary: a short label for menus and an explanation for help and captions."""

    label: str
    explanation: str
    grouping: str = ""  # for averages: how the stimuli behind a panel were chosen
    weight_unit: str = ""  # what the number in a panel's title counts


ESTIMATORS: dict[str, Term] = {
    "truth": Term("ground truth (original study)",
                  "each stimulus averaged into the class of the test image inside it: needs no network (the "
                  "original study)",
                  "grouped by the true class of their test image", "stimuli"),
    "predicted": Term("model's prediction", "each stimulus averaged into the class the network answered",
                      "grouped by the model's prediction", "stimuli"),
    "softmax": Term("softmax-weighted",
                    "each stimulus averaged into every class, weighted by the network's probability for it",
                    "each counted towards every class by the model's probability for it", "total probability"),
    "regression": Term("regression kernel",
                       "the noise correlated with each class's centred score (logit): the first-order kernel",
                       weight_unit="Σ logit²"),
    "gradient": Term("gradient kernel (Stein, white-box)",
                     "the regression kernel from the network's own input gradients, Σ·E[∇ logit] (Stein's lemma): "
                     "needs the network's gradients (white-box) and Gaussian-family noise",
                     weight_unit="stimuli"),
}
#: Kernels, not averages: every stimulus feeds every class (signed, never scarce, in covariance units).
KERNEL_ESTIMATORS = frozenset({"regression", "gradient"})
#: Estimators that need the model's input gradients: a run made with them costs a backward pass per class (nine).
GRADIENT_ESTIMATORS = frozenset({"gradient"})
#: The most stimuli a page runs the gradient kernel on: it converges from 20-200 (bench/stein.py), and a link
#: asking for 1,000,000 kept a shared server's two cores busy for half an hour (a reviewer).
GRADIENT_MOST_SAMPLES = 20_000
# Grouped by the label of the signal image: these class images need the stimuli and the labels, not the model.
MODEL_FREE_ESTIMATORS = frozenset({"truth"})
#: Why noise averages at r = 1 mean nothing, as the page and the command line both say it.
NO_NOISE_AT_FULL_SIGNAL = "At r = 1 no noise reaches the model, so the noise averages carry no information."
#: Where a template accuracy is in-sample (``templates_in_sample``), as the pages and the CLI say it.
IN_SAMPLE = ("in-sample: at r > 0 the first N test images are mixed into the stimuli, and the templates are then "
             "scored on those same images")
#: The part of each stimulus that is averaged (one word everywhere: code, link, page and CLI).
PARTS: dict[str, Term] = {
    "input": Term("whole input (the original's figure)",
                  "the whole stimulus, r·test image + (1 − r)·noise (what the original study drew)"),
    "noise": Term("noise part (the analysis)", "only the noise in each stimulus: what the network's answers can "
                  "reveal (at r = 0 the same as the whole)"),
}


# --- from sums to classification images ------------------------------------------------------------------


@dataclass(frozen=True)
class ClassImages:
    """Ten classification images in input units, and what stands behind each."""

    estimator: str
    part: str
    images: np.ndarray  # (10, 28, 28); NaN for an empty class
    baseline: np.ndarray  # (28, 28): the same quantity averaged over all samples (zeros for regression)
    weights: np.ndarray  # (10,): samples (or probability mass, or Σ logit²) behind each class
    empty: np.ndarray  # (10,) bool: classes with no sample, e.g. never predicted
    n: int
    unit: str = ""  # what the values are, where the estimator alone does not say (the whitened gradient kernel)

    @property
    def centred(self) -> np.ndarray:
        """Deviation from the average stimulus: what the model's decision added. Centred at zero."""
        return self.images - self.baseline

    @property
    def signed(self) -> bool:
        """Noise averages and kernels are deviations (diverging scale); whole-input averages are stimuli (grey)."""
        return self.part == "noise" or self.estimator in KERNEL_ESTIMATORS

    @property
    def display(self) -> np.ndarray:
        """What to draw: the deviation for signed images, the averaged stimulus otherwise."""
        return self.centred if self.signed else self.images

    @property
    def marks_scarce(self) -> bool:
        """Averages on a diverging scale: a class behind few samples is mostly noise, left out of the colour scale
        and marked. Not kernels: every stimulus feeds every class's regression kernel."""
        return self.signed and self.estimator not in KERNEL_ESTIMATORS

    @property
    def display_unit(self) -> str:
        """What the values of ``display`` are, for a colour bar."""
        if not self.signed:
            return "pixel value"
        if self.unit:
            return self.unit
        return "covariance" if self.estimator in KERNEL_ESTIMATORS else "Δ pixel value from the mean stimulus"


def _part_sums(sums: Sums, settings: AnalysisSettings, part: str) -> np.ndarray:
    """Σ w·(averaged part) for every weight row: the noise, or the whole input r·signal + (1 − r)·noise."""
    if part not in PARTS:
        raise ValueError(f"unknown averaged part {part!r}; choose one of {', '.join(PARTS)}")
    if part == "noise" or sums.signal_weighted is None:  # at r = 0 the input is the noise
        return sums.noise_weighted
    r = settings.ratio
    return r * sums.signal_weighted + (1.0 - r) * sums.noise_weighted


def templates_in_sample(ratio: float, estimator: str, part: str) -> bool:
    """At r > 0 the stimuli hold the first N test images, and the template accuracy is scored on the test set: the
    templates have seen those images when they average the whole input, or group the noise by the model's answers
    to them. Noise grouped by the true label is independent of the images (a review found it marked too)."""
    return ratio > 0.0 and not (part == "noise" and estimator in MODEL_FREE_ESTIMATORS)


def template_accuracy_context(ratio: float, estimator: str, part: str) -> str:
    """What a template accuracy is read against: chance, and where it is so that it is in-sample."""
    return "chance 10%" + (f"; {IN_SAMPLE}" if templates_in_sample(ratio, estimator, part) else "")


def class_images(state: AnalysisState, estimator: str, part: str, sums: Sums | None = None) -> ClassImages:
    """The ten classification images for one estimator and averaged part."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    if state.model_free and estimator not in MODEL_FREE_ESTIMATORS:
        raise ValueError(f"the {estimator!r} class images need the model; this run was made without it")
    sums = state.sums if sums is None else sums
    if sums.n < 1:
        raise ValueError("no samples yet")
    if estimator in GRADIENT_ESTIMATORS:
        return gradient_kernel(state, sums)
    rows = WEIGHT_ROWS[estimator]
    summed = _part_sums(sums, state.settings, part)
    weighted, mean = summed[rows], summed[ONES_ROW] / sums.n
    weight = sums.weight_sum[rows]
    if estimator == "regression":
        # cov(z_c, x_p) = (Σ z_c x_p − Σ z_c · Σ x_p / n) / (n − 1)
        kernel = (weighted - np.outer(weight, mean)) / max(sums.n - 1, 1)
        # One stimulus has no covariance: what the line above leaves is float32 round-off (1e-6), which the
        # template rule would normalise into templates and score above chance. Every class is empty instead.
        return ClassImages(estimator, part, kernel.reshape(NUM_CLASSES, *IMAGE_SHAPE), np.zeros(IMAGE_SHAPE),
                           sums.weight_sq[rows], np.full(NUM_CLASSES, sums.n < 2), sums.n)
    empty = weight <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        averages = weighted / weight[:, None]
    averages[empty] = np.nan
    return ClassImages(estimator, part, averages.reshape(NUM_CLASSES, *IMAGE_SHAPE), mean.reshape(IMAGE_SHAPE),
                       weight, empty, sums.n)


def gradient_kernel(state: AnalysisState, sums: Sums | None = None, whitened: bool = False) -> ClassImages:
    """The Stein estimator: Σ·E[∂ logit/∂noise], the first-order kernel the regression estimator measures from the
    outside, here from the model's own gradients (white-box); ``whitened``: E[∂ logit/∂noise] itself, the kernel
    with the noise's correlations taken out.

    Exact for the Gaussian before clipping; the regression kernel is of the clipped noise, so the two differ where
    clipping is frequent. Only the noise part has a Gaussian behind it: these are kernels of the noise.
    """
    sums = state.sums if sums is None else sums
    if sums.gradient is None:
        raise ValueError("the gradient kernel needs a run made with the model's gradients (gradients=True)")
    if sums.n < 1:
        raise ValueError("no samples yet")
    kernel = (sums.gradient if whitened else sums.stein) / sums.n
    return ClassImages("gradient", "noise", kernel.reshape(NUM_CLASSES, *IMAGE_SHAPE), np.zeros(IMAGE_SHAPE),
                       np.full(NUM_CLASSES, float(sums.n)), np.zeros(NUM_CLASSES, bool), sums.n,
                       "logit per unit of noise" if whitened else "")


@dataclass(frozen=True)
class RegressionMeans:
    """The means a regression kernel leaves out, for a linear read-out's intercept (core/readout.py)."""

    logits: np.ndarray  # (10,): mean centred logits
    noise: np.ndarray  # (784,): mean noise
    stimulus: np.ndarray  # (784,): mean whole input r·signal + (1 − r)·noise, on the 0–1 scale


def regression_means(state: AnalysisState, sums: Sums | None = None) -> RegressionMeans:
    """Mean centred logits, mean noise and mean stimulus of a run made with the model."""
    if state.model_free:
        raise ValueError("the regression means need the model; this run was made without it")
    sums = state.sums if sums is None else sums
    if sums.n < 1:
        raise ValueError("no samples yet")
    stimulus = _part_sums(sums, state.settings, "input")[ONES_ROW] / sums.n
    return RegressionMeans(sums.weight_sum[WEIGHT_ROWS["regression"]] / sums.n, sums.noise_weighted[ONES_ROW] / sums.n,
                           stimulus)


#: Weights that vary by less than this share of their second moment (Var w / E[w²] = 1 − n_eff/n) are taken as
#: not varying: from float32 sums per block that share is round-off below about 1e-6, and a model that ignored
#: its input got z-maps with |z| up to 300 from it, every pixel "significant" (a reviewer's null model).
FLAT_RESPONSES = 1e-5


def weight_variance_share(sums: Sums, estimator: str) -> np.ndarray:
    """(10,): Var(w) / E[w²] of each class's weights over the stimuli, NaN where they do not vary (below
    ``FLAT_RESPONSES``) or are all zero: a class image that no response could have shaped."""
    rows = WEIGHT_ROWS[estimator]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = 1.0 - sums.weight_sum[rows] ** 2 / (sums.n * sums.weight_sq[rows])
    return np.where(share > FLAT_RESPONSES, share, np.nan)


def z_scores(state: AnalysisState, images: ClassImages, sums: Sums | None = None) -> np.ndarray:
    """Pixel-wise z-scores of the noise class images, standard normal under random responses.

    Averages: (mean_c − mean) / (σ_pixel·√(1/n_eff − 1/n)), n_eff = (Σw)² / Σw²: the class mean is compared with
    the mean of all stimuli, its own among them (dividing by σ_pixel/√n_eff alone gave a class that took 85 % of
    the stimuli a null spread of 0.38, so "|z| > 3" meant 8 null SDs there). Regression: r·√n, r the correlation of
    the centred logit with the pixel. NaN for a class whose weights do not vary (``weight_variance_share``).
    σ_pixel comes from all n stimuli: from every 16th, as it once was, E[x²] − E[x]² went negative for some
    pixels at n = 1,000 and their |z| reached 10⁵.
    """
    if images.part != "noise":
        raise ValueError("z-scores are defined for noise averages only")
    if images.estimator in GRADIENT_ESTIMATORS:
        raise ValueError("z-scores are defined for the black-box estimators only")
    sums = state.sums if sums is None else sums
    n = sums.n
    mean = sums.noise_weighted[ONES_ROW] / n
    pixel_sd = np.sqrt(np.maximum(sums.noise_sumsq / n - mean**2, 1e-12)).reshape(IMAGE_SHAPE)
    rows = WEIGHT_ROWS[images.estimator]
    share = weight_variance_share(sums, images.estimator)
    if images.estimator == "regression":
        z_sd = np.sqrt(share * sums.weight_sq[rows] / n)  # Var(z) = E[z²] − E[z]² = share · E[z²]
        correlation = images.images / (z_sd[:, None, None] * pixel_sd)
        return correlation * math.sqrt(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = sums.weight_sum[rows] ** 2 / sums.weight_sq[rows]
        return images.centred / (pixel_sd * np.sqrt(share / n_eff)[:, None, None])  # share/n_eff = 1/n_eff − 1/n


# --- what the class images tell ------------------------------------------------------------------------


def rescale_to_input(images: np.ndarray) -> np.ndarray:
    """Stretch each image to [0, 1] (the model's input range); a flat or empty image becomes mid-grey."""
    flat = np.nan_to_num(images.reshape(len(images), -1), nan=0.0)
    low = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - low
    scaled = np.where(span > 0, (flat - low) / np.where(span > 0, span, 1.0), 0.5)
    return scaled.reshape(images.shape).astype(np.float32)


def fed_back_matrix(model: Any, images: ClassImages) -> np.ndarray:
    """Softmax of the model on each rescaled class image: rows = class image, columns = predicted class.

    Rows of empty classes are NaN. Self-classification is the number of rows whose maximum is on the diagonal.
    """
    probabilities = np.asarray(model(rescale_to_input(images.images)[..., None], training=False), np.float64)
    probabilities[images.empty] = np.nan
    return probabilities


def self_classified(fed_back: np.ndarray) -> int:
    """How many class images the model assigns to their own class."""
    valid = ~np.isnan(fed_back).any(axis=1)
    return int(np.sum(np.argmax(np.nan_to_num(fed_back, nan=-1.0), axis=1)[valid] == np.arange(NUM_CLASSES)[valid]))


@dataclass(frozen=True)
class TemplateResult:
    accuracy: float
    confusion: np.ndarray  # (10, 10) counts: true class × template-predicted class
    predictions: np.ndarray


def template_classify(images: ClassImages, test_images: np.ndarray, test_labels: np.ndarray,
                      mean_image: np.ndarray) -> TemplateResult:
    """Use the class images as templates: cosine similarity of each centred test image to each centred template.

    Test images are centred on the mean training image; templates on their mean over the non-empty classes, so
    only what tells the classes apart is compared. A test image's own length scales its ten similarities alike
    and cannot change the nearest template, so it is not divided out: normalising 10,000 float64 images took
    ~50 ms of every redraw.
    """
    from core.models import confusion_matrix

    valid = ~images.empty
    templates = images.images.reshape(NUM_CLASSES, PIXELS)
    if not valid.any():
        raise ValueError("no class has a classification image yet")
    templates = templates - templates[valid].mean(axis=0)
    templates = np.nan_to_num(templates / np.maximum(np.linalg.norm(templates, axis=1, keepdims=True), 1e-12))
    # (x/255 − m)·t = x·(t/255) − m·t: the uint8 pixels go into one float32 product, with no centred copy
    pixels = test_images.reshape(len(test_images), PIXELS).astype(np.float32)
    offsets = np.asarray(mean_image, np.float64).reshape(PIXELS) @ templates.T
    similarity = pixels @ (templates.T / 255.0).astype(np.float32) - offsets
    similarity[:, ~valid] = -np.inf
    predictions = similarity.argmax(axis=1)
    return TemplateResult(float(np.mean(predictions == test_labels)), confusion_matrix(test_labels, predictions),
                          predictions)


def convergence(state: AnalysisState, estimator: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean correlation, over classes, of the class images at each snapshot with the current ones; the current
    count is the last point (1 by construction), also for a run stopped between snapshots."""
    final = class_images(state, estimator, part).centred.reshape(NUM_CLASSES, -1)
    counts, correlations = [], []
    points = {**state.snapshots, state.n: state.sums}
    for n in sorted(points):
        earlier = class_images(state, estimator, part, points[n]).centred.reshape(NUM_CLASSES, -1)
        per_class = [np.corrcoef(a, b)[0, 1] for a, b in zip(earlier, final)
                     if np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and a.std() > 0 and b.std() > 0]
        counts.append(n)
        correlations.append(float(np.mean(per_class)) if per_class else np.nan)
    return np.asarray(counts), np.asarray(correlations)


def convergence_csv(counts: np.ndarray, correlations: np.ndarray) -> str:
    """The page's convergence curve as the command line's ``convergence.csv``: stimuli so far, and the mean
    correlation over classes of the class images then with the final ones (empty where undefined)."""
    rows = (f"{n},{'' if np.isnan(r) else f'{r:.6f}'}" for n, r in zip(counts, correlations))
    return "n,mean_correlation_with_final\n" + "\n".join(rows) + "\n"


def fed_back_csv(names: Sequence[str], fed_back: np.ndarray) -> str:
    """The fed-back softmax matrix as the command line's ``fed_back.csv`` and the page's download both write it."""
    return matrix_csv("class_image", [f"p_{name}" for name in names], names, fed_back, ".6f")


def confusion_csv(names: Sequence[str], confusion: np.ndarray) -> str:
    """A confusion matrix of counts, true class × predicted, as ``template_confusion.csv`` (the template
    classifier's) and ``stimulus_confusion.csv`` (the model's on the stimuli) are written."""
    return matrix_csv("true_class", [f"pred_{name}" for name in names], names, confusion, "d")


def matrices_csvs(names: Sequence[str], state: AnalysisState, fed_back: np.ndarray,
                  template_confusion: np.ndarray) -> dict[str, str]:
    """The command line's CSV files of one run, by name, in the pages' order: one function, so a page's ZIP and the
    command's folder cannot drift apart. The stimuli's confusion only where the stimuli hold a test image (r > 0)."""
    files = {"fed_back.csv": fed_back_csv(names, fed_back)}
    if state.stimulus_accuracy is not None and not state.model_free:
        files["stimulus_confusion.csv"] = confusion_csv(names, state.sums.confusion)
    return files | {"template_confusion.csv": confusion_csv(names, template_confusion)}


def matrix_csv(corner: str, column_names: Sequence[str], row_names: Sequence[str], matrix: np.ndarray,
               value_format: str) -> str:
    """A labelled 10 × 10 matrix as CSV, ``corner`` naming what the rows are."""
    import pandas as pd

    table = pd.DataFrame(matrix, index=pd.Index(list(row_names), name=corner), columns=list(column_names))
    return table.to_csv(float_format=f"%{value_format}" if value_format != "d" else None, na_rep="nan",
                        lineterminator="\n")
