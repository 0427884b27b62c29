"""The whitened kernel and the network's linear read-out under noise.

The regression class images are ``C = Cov(noise, logits)``. Under correlated noise (``pink``, ``data``) C mixes
the network's template with the noise's own correlations: C = Σ·W for a linear network ``logits = W·x + b``.
Whitening, ``K = (Σ + λ·s·I)⁻¹·C``, is least-squares regression of the logits on the noise and recovers W; the
ridge λ (relative to ``s``, the mean pixel variance) tames directions in which the noise hardly varies. With the
mean logits and the mean stimulus it gives an intercept, and ``argmax_k (K_k·x + b_k)`` is the answer of the
network's best linear approximation under that noise. That intercept is fitted on the stimuli, so it carries
the network's class bias on noise; ``fitted_intercept`` instead chooses the ten intercepts (and one common scale,
which changes no answer) by maximum likelihood on labelled training images, keeping the noise's weights.

Σ is the covariance of the noise as the network received it, after clipping to [0, 1]: exact for independent
pixels (``uniform``, ``gaussian``, ``base``), measured once per noise type and σ from a fixed sample for ``pink``
and ``data`` (clipping a correlated Gaussian has no handy closed form).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from cachetools import LRUCache, cached

from core.analysis import ClassImages, class_images, regression_means, template_classify
from core.reverse_correlation import AnalysisState, Sums
from core.config import IMAGE_SHAPE, NUM_CLASSES
from core.noise import DATA_NOISE_TYPES, NOISE_TYPES, PIXELS, noise_graph, training_statistics

#: Ridge strengths offered (relative to the mean pixel variance of the noise); 0 is plain least squares.
RIDGE_CHOICES: tuple[float, ...] = (0.0, 0.001, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
DEFAULT_RIDGE = 0.1
#: Stimuli behind a measured covariance. Pink noise is stationary, so every one of its 784 lags is averaged over
#: all positions and a few thousand stimuli suffice; data noise is not, and each entry needs its own samples.
COVARIANCE_SAMPLES = {"pink": 4_096, "data": 32_768}
_COVARIANCE_SEED = 2**32 - 1  # any seed serves: Σ is a property of the noise type, not of one stream
_CHUNK = 4096


@dataclass(frozen=True)
class NoiseCovariance:
    """Mean and covariance of one noise type at one σ, with its eigendecomposition for the ridge solves."""

    mean: np.ndarray  # (784,)
    covariance: np.ndarray  # (784, 784)
    eigenvalues: np.ndarray  # (784,), ascending, ≥ 0
    eigenvectors: np.ndarray  # (784, 784), columns
    how: str  # "exact" or "measured from N stimuli"

    @property
    def scale(self) -> float:
        """Mean pixel variance: the unit of the ridge strength."""
        return float(max(np.mean(self.eigenvalues), 1e-12))

    @property
    def condition(self) -> float:
        """Largest over smallest eigenvalue (inf when the noise never varies along some direction)."""
        smallest = float(self.eigenvalues[0])
        return math.inf if smallest <= 1e-12 * float(self.eigenvalues[-1]) else float(self.eigenvalues[-1]) / smallest


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))


def clipped_normal_moments(centre: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of clip(centre + σ·ε, 0, 1), ε standard normal, pixel by pixel (exact)."""
    centre = np.asarray(centre, np.float64)
    if sigma <= 0:
        return np.clip(centre, 0.0, 1.0), np.zeros_like(centre)
    a, b = (0.0 - centre) / sigma, (1.0 - centre) / sigma
    pdf_a, pdf_b = np.exp(-a**2 / 2) / math.sqrt(2 * math.pi), np.exp(-b**2 / 2) / math.sqrt(2 * math.pi)
    cdf_a, cdf_b = _normal_cdf(a), _normal_cdf(b)
    inside = cdf_b - cdf_a
    # E[ε; a<ε<b] = φ(a) − φ(b), E[ε²; a<ε<b] = Φ(b) − Φ(a) + a·φ(a) − b·φ(b); above 1 the value is 1
    first = centre * inside + sigma * (pdf_a - pdf_b) + (1.0 - cdf_b)
    second = (centre**2 * inside + 2 * centre * sigma * (pdf_a - pdf_b)
              + sigma**2 * (inside + a * pdf_a - b * pdf_b) + (1.0 - cdf_b))
    return first, np.maximum(second - first**2, 0.0)


def _exact_moments(kind: str, sigma: float, train_images: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (diagonal) covariance of the noise types with independent pixels."""
    if kind == "uniform":  # the 256 grey levels k/255
        levels = np.arange(256) / 255.0
        return np.full(PIXELS, levels.mean()), np.diag(np.full(PIXELS, levels.var()))
    centre = np.full(PIXELS, 0.5)
    if kind == "base":
        centre = training_statistics(train_images)[0].reshape(PIXELS).astype(np.float64)
    mean, variance = clipped_normal_moments(centre, sigma)
    return mean, np.diag(variance)


def _measured_moments(kind: str, sigma: float, train_images: np.ndarray | None, samples: int,
                      on_progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of ``samples`` stimuli of the project's own noise stream, summed in float64."""
    generate = noise_graph(kind, train_images)
    total, outer, done = np.zeros(PIXELS), np.zeros((PIXELS, PIXELS)), 0
    reference = None  # a rough mean, subtracted before the float32 product so that nothing cancels
    while done < samples:
        count = min(_CHUNK, samples - done)
        chunk = np.asarray(generate(np.int64(done), np.int32(count), np.int64(_COVARIANCE_SEED), np.float32(sigma)))
        if reference is None:
            reference = chunk.mean(axis=0)
        shifted = chunk - reference
        total += shifted.sum(axis=0, dtype=np.float64)
        outer += shifted.T @ shifted  # float32 within a chunk, float64 across chunks
        done += count
        if on_progress is not None:
            on_progress(done / samples)
    shift = total / samples
    covariance = (outer - samples * np.outer(shift, shift)) / (samples - 1)
    mean = reference + shift
    if kind == "pink":  # stationary on the torus (centre 0.5 everywhere, clipping pixelwise): average each lag
        covariance = _circulant_average(covariance)
        mean = np.full(PIXELS, mean.mean())
    return mean, covariance


def _circulant_average(covariance: np.ndarray) -> np.ndarray:
    """The circulant matrix whose every lag (dy, dx) mod 28 holds the mean of that lag's entries."""
    rows, columns = np.divmod(np.arange(PIXELS), IMAGE_SHAPE[1])
    lag = (((rows[None, :] - rows[:, None]) % IMAGE_SHAPE[0]) * IMAGE_SHAPE[1]
           + (columns[None, :] - columns[:, None]) % IMAGE_SHAPE[1])
    per_lag = np.bincount(lag.ravel(), covariance.ravel(), PIXELS) / np.bincount(lag.ravel(), minlength=PIXELS)
    return per_lag[lag]


# Σ and its eigenvectors are 784² float64 each (~10 MB an entry), one per noise type, σ, training set and sample
# count: a long-lived server kept every one it met for its lifetime (with the σ's own Σ in the analyzer and its
# correlation in core.significance, ~17 MB per σ a link asked for). Kept: the few a class is using; another is
# measured again (seconds, with its progress bar).
COVARIANCES_KEPT = 12
_COVARIANCES: LRUCache = LRUCache(maxsize=COVARIANCES_KEPT)
# The cache is shared by every session's thread; while one measures a Σ, the others asking for it wait for it
# instead of measuring their own (a class opening one link would otherwise measure it once per student).
_COVARIANCES_LOCK = threading.Condition()


def _cache_key(kind: str, sigma: float, train_images: np.ndarray | None,
               samples: int | None) -> tuple[str, float, int, int]:
    if kind not in NOISE_TYPES:
        raise ValueError(f"unknown noise type {kind!r}; choose one of {', '.join(NOISE_TYPES)}")
    if kind in DATA_NOISE_TYPES and train_images is None:
        raise ValueError(f"{kind} noise needs the training images")
    sigma = 0.0 if kind == "uniform" else float(np.float32(sigma))
    return kind, sigma, id(train_images) if kind in DATA_NOISE_TYPES else 0, samples or COVARIANCE_SAMPLES.get(kind, 0)


def covariance_is_ready(kind: str, sigma: float, train_images: np.ndarray | None = None,
                        samples: int | None = None) -> bool:
    """Whether ``noise_covariance`` answers at once (exact, or measured earlier in this process)."""
    key = _cache_key(kind, sigma, train_images, samples)
    with _COVARIANCES_LOCK:
        return key in _COVARIANCES or kind not in COVARIANCE_SAMPLES


def noise_covariance(kind: str, sigma: float, train_images: np.ndarray | None = None, samples: int | None = None,
                     on_progress: Callable[[float], None] | None = None) -> NoiseCovariance:
    """Σ of the clipped noise, computed once per noise type, σ, training set and sample count (kept in memory);
    measuring it (pink, data) takes seconds, reported to ``on_progress`` as the share done. A session asking while
    another measures it waits for that one, without progress."""
    return _kept_covariance(kind, sigma, train_images, samples, on_progress)[1]


@cached(_COVARIANCES, key=lambda kind, sigma, train_images, samples, on_progress: _cache_key(kind, sigma, train_images,
                                                                                           samples),
        condition=_COVARIANCES_LOCK)
def _kept_covariance(kind: str, sigma: float, train_images: np.ndarray | None, samples: int | None,
                     on_progress: Callable[[float], None] | None) -> tuple[np.ndarray | None, NoiseCovariance]:
    """The cache's entry: the training images are kept in it so that their id cannot be reused by another array."""
    kind, sigma, _, samples = _cache_key(kind, sigma, train_images, samples)
    if kind in COVARIANCE_SAMPLES:
        mean, covariance = _measured_moments(kind, sigma, train_images, samples, on_progress)
        how = f"measured from {samples:,} stimuli"
    else:
        mean, covariance = _exact_moments(kind, sigma, train_images)
        how = "exact"
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    return train_images, NoiseCovariance(mean, covariance, np.clip(eigenvalues, 0.0, None), eigenvectors, how)


def whiten(kernel: np.ndarray, covariance: NoiseCovariance, ridge: float) -> np.ndarray:
    """``(Σ + ridge·s·I)⁻¹ · kernel`` for kernels ``(k, 784)``; ridge 0 is the pseudo-inverse (zero variance
    directions get zero weight)."""
    if ridge < 0:
        raise ValueError(f"the ridge strength must be ≥ 0, got {ridge}")
    shrunk = covariance.eigenvalues + ridge * covariance.scale
    inverse = np.where(shrunk > 1e-10 * covariance.eigenvalues[-1], 1.0 / np.maximum(shrunk, 1e-300), 0.0)
    flat = np.asarray(kernel, np.float64).reshape(len(kernel), PIXELS)
    return ((flat @ covariance.eigenvectors) * inverse) @ covariance.eigenvectors.T


@dataclass(frozen=True)
class LinearReadout:
    """The network's best linear approximation under the noise: logits ≈ weights · x + intercept, x in [0, 1]."""

    weights: np.ndarray  # (10, 784): the whitened kernel, in logit units per unit of input
    intercept: np.ndarray  # (10,)

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Approximate (centred) logits of images given as uint8 0–255 or floats in [0, 1], any leading shape."""
        scale = 1.0 / 255.0 if np.asarray(images).dtype == np.uint8 else 1.0
        pixels = np.asarray(images, np.float32).reshape(len(images), PIXELS) * np.float32(scale)
        return pixels @ self.weights.T.astype(np.float32) + self.intercept.astype(np.float32)

    def classify(self, images: np.ndarray) -> np.ndarray:
        return self.logits(images).argmax(axis=1)


def raw_kernel(state: AnalysisState, sums: Sums | None = None) -> ClassImages:
    """The black-box kernel Cov(noise, centred logits): the regression class images of the noise part."""
    return class_images(state, "regression", "noise", sums)


def linear_readout(state: AnalysisState, covariance: NoiseCovariance, ridge: float,
                   sums: Sums | None = None) -> LinearReadout:
    """Whitened kernel and intercept from a run's sums.

    The noise enters the stimulus as (1 − r)·noise, so the weights on the input are K / (1 − r); the intercept
    makes the read-out's mean equal the mean (centred) logits at the mean stimulus.
    """
    ratio = state.settings.ratio
    if ratio >= 1.0:
        raise ValueError("at r = 1 the stimuli hold no noise: there is nothing to regress on")
    weights = whiten(raw_kernel(state, sums).images.reshape(NUM_CLASSES, PIXELS), covariance, ridge) / (1.0 - ratio)
    return _through_the_means(weights, state, sums)


def _through_the_means(weights: np.ndarray, state: AnalysisState, sums: Sums | None) -> LinearReadout:
    """The read-out with ``weights`` whose intercept puts the mean stimulus at the mean (centred) logits."""
    means = regression_means(state, sums)
    return LinearReadout(weights, means.logits - weights @ means.stimulus)


def input_covariance(ratio: float, signal_images: np.ndarray, noise: NoiseCovariance) -> NoiseCovariance:
    """Σ of the whole stimulus x = r·signal + (1 − r)·noise: r²·Cov(signal) + (1 − r)²·Σ_noise, because the
    stream draws its noise independently of the image it mixes in. ``signal_images``: the images the stream
    cycles through (uint8 0–255), on the model's 0–1 scale."""
    pixels = np.asarray(signal_images, np.float64).reshape(len(signal_images), PIXELS) / 255.0
    signal_mean = pixels.mean(axis=0)
    centred = pixels - signal_mean
    covariance = ratio**2 * (centred.T @ centred) / max(len(pixels) - 1, 1) + (1.0 - ratio) ** 2 * noise.covariance
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    return NoiseCovariance(ratio * signal_mean + (1.0 - ratio) * noise.mean, covariance,
                           np.clip(eigenvalues, 0.0, None), eigenvectors,
                           f"r²·Cov of {len(pixels):,} signal images + (1 − r)²·Σ noise ({noise.how})")


def input_readout(state: AnalysisState, covariance: NoiseCovariance, ridge: float,
                  sums: Sums | None = None) -> LinearReadout:
    """The network's best linear approximation over the whole stimuli: least squares of the centred logits on the
    input x, ``(Σ_x + λ·s·I)⁻¹·Cov(x, logits)`` with Σ_x from ``input_covariance``.

    At r = 0 this is ``linear_readout``. With images mixed in it is fitted where the network is used, around real
    images, rather than around noise only: a linear surrogate of the network on that stimulus distribution."""
    kernel = class_images(state, "regression", "input", sums).images.reshape(NUM_CLASSES, PIXELS)
    return _through_the_means(whiten(kernel, covariance, ridge), state, sums)


def input_readout_accuracies(state: AnalysisState, covariance: NoiseCovariance, ridges: Sequence[float],
                             images: np.ndarray, labels: np.ndarray) -> list[float]:
    """Accuracy of the whole-input read-out at each ridge strength: the column the Kernels page's accuracies CSV
    adds at r > 0."""
    return [float(np.mean(input_readout(state, covariance, ridge).classify(images) == labels)) for ridge in ridges]


def fitted_intercept(weights: np.ndarray, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Intercepts b for the read-out ``argmax_k (K_k·x + b_k)`` fitted on labelled (training) images.

    Maximum likelihood of softmax(s·K·x + b) over b and one common scale s (the scale only sets how sharp the
    softmax is; the weights' directions and their relative sizes stay the noise's). Returned as b / s, in the
    read-out's units. Eleven numbers from the images: the read-out's ranking of classes per pixel pattern is still
    the network's under noise, only its offsets per class are set by real images instead of by the noise.
    """
    from scipy.optimize import minimize

    scale = 1.0 / 255.0 if np.asarray(images).dtype == np.uint8 else 1.0
    pixels = np.asarray(images, np.float32).reshape(len(images), PIXELS) * np.float32(scale)
    scores = (pixels @ np.asarray(weights, np.float32).reshape(NUM_CLASSES, PIXELS).T).astype(np.float64)
    spread = float(max(scores.std(), 1e-12))
    scores /= spread
    labels = np.asarray(labels)
    truth = np.eye(NUM_CLASSES)[labels]

    def loss(parameters: np.ndarray) -> tuple[float, np.ndarray]:
        z = parameters[0] * scores + parameters[1:]
        z -= z.max(axis=1, keepdims=True)
        log_total = np.log(np.exp(z).sum(axis=1))
        error = (np.exp(z - log_total[:, None]) - truth) / len(labels)
        return (float(np.mean(log_total - z[np.arange(len(labels)), labels])),
                np.concatenate([[np.sum(error * scores)], error.sum(axis=0)]))

    fitted = minimize(loss, np.r_[1.0, np.zeros(NUM_CLASSES)], jac=True, method="L-BFGS-B",
                      bounds=[(1e-6, None)] + [(None, None)] * NUM_CLASSES).x
    intercept = fitted[1:] / fitted[0] * spread
    return intercept - intercept.mean()


#: The read-out's intercepts are fitted on the first this many training images (never the test set): on the page,
#: on the command line and in bench/science.py alike.
INTERCEPT_FIT_IMAGES = 10_000


def with_fitted_intercept(readout: LinearReadout, images: np.ndarray, labels: np.ndarray) -> LinearReadout:
    """The same weights with ``fitted_intercept`` on the given (training) images."""
    return replace(readout, intercept=fitted_intercept(readout.weights, images, labels))


def whitened_images(raw: ClassImages, readout: LinearReadout) -> ClassImages:
    """The whitened kernel as class images (same estimator and part), for the template rule and the pictures."""
    return replace(raw, images=readout.weights.reshape(NUM_CLASSES, *IMAGE_SHAPE))


@dataclass(frozen=True)
class ReadoutAccuracies:
    """Accuracy on the real test set of the raw kernel and the whitened kernel as templates, and of the read-out."""

    raw_template: float
    whitened_template: float
    readout: float
    readout_predictions: np.ndarray
    fitted_readout: float | None = None  # the read-out with intercepts fitted on training images, when given


def readout_accuracies(state: AnalysisState, covariance: NoiseCovariance, ridge: float, test_images: np.ndarray,
                       test_labels: np.ndarray, mean_image: np.ndarray, sums: Sums | None = None,
                       fit_images: np.ndarray | None = None,
                       fit_labels: np.ndarray | None = None) -> ReadoutAccuracies:
    """The accuracies of one run at one ridge strength; with ``fit_images`` (training images, never the test set)
    also the read-out's with intercepts fitted on them."""
    raw = raw_kernel(state, sums)
    readout = linear_readout(state, covariance, ridge, sums)
    predictions = readout.classify(test_images)
    fitted = None
    if fit_images is not None:
        refitted = with_fitted_intercept(readout, fit_images, fit_labels)
        fitted = float(np.mean(refitted.classify(test_images) == test_labels))
    return ReadoutAccuracies(
        template_classify(raw, test_images, test_labels, mean_image).accuracy,
        template_classify(whitened_images(raw, readout), test_images, test_labels, mean_image).accuracy,
        float(np.mean(predictions == test_labels)), predictions, fitted)


def fitted_readout_accuracy(readout: LinearReadout, train_images: np.ndarray, train_labels: np.ndarray,
                            test_images: np.ndarray, test_labels: np.ndarray) -> float:
    """Test accuracy of ``readout`` with its intercepts fitted on the first ``INTERCEPT_FIT_IMAGES`` training
    images: how well the noise's weights separate real images once the class bias on noise is gone."""
    fitted = with_fitted_intercept(readout, train_images[:INTERCEPT_FIT_IMAGES], train_labels[:INTERCEPT_FIT_IMAGES])
    return float(np.mean(fitted.classify(test_images) == test_labels))


def kernel_correlation(kernel: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Pearson correlation of each kernel row with the reference row (e.g. a linear model's true weights)."""
    a = np.asarray(kernel, np.float64).reshape(len(kernel), -1)
    b = np.asarray(reference, np.float64).reshape(len(reference), -1)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)
