"""Significance of classification images: infoVal, and the pixel and cluster tests on smoothed z-maps.

*infoVal* (rcicr) asks whether a class image is more informative than one made from the same stimuli with random
responses: z = (‖CI‖ − median(ref)) / (1.4826 · MAD(ref)). A noise class image is a weighted sum of i.i.d. noise,
``CI_c = Σ_i a_ic · x_i``, so under random responses its covariance is ``G_cc · Σ`` (``G = AᵀA``, Σ the noise's
covariance) and ‖CI_c‖² is a generalised chi-square with weights ``G_cc · λ(Σ)``. The reference used here is
that law: per class image drawn from Σ's eigen-spectrum (20,000 draws, one set scaled by √G_cc for every class),
for the set matched to a scaled chi-square (Satterthwaite; within 1 % there, where ten classes give it ten times
the degrees of freedom — per class it is 6 % off in MAD for pink noise). ``simulated_reference`` (random responses
on real noise, as rcicr does) checks both in the tests. The set's law needs G's cross terms: zero-sum counts for
one-hot groupings, and for softmax and regression weights the run's cross-class products ``Σ_i w_ic·w_ik``
(``Sums.weight_products``); without them (centred logits are strongly coupled) its spread would be a third too
small.

The *pixel* and *cluster* tests (Stat4Ci; Chauvin et al. 2005) smooth each z-map with a Gaussian of σ pixels,
re-normalise it to unit variance under the null, and threshold it at p = 0.05 family-wise, two-sided. For noise
with independent pixels the thresholds come from random field theory on the 28 × 28 search region (expected
Euler characteristic, Worsley et al. 1996; cluster sizes, Friston et al. 1994), the pixel threshold never
above Bonferroni's. For correlated noise (pink, data) random field theory does not hold at this size: the smoothed
field is not the kernel's smoothness, nor stationary Gaussian-shaped (1/f noise has power on every scale and wraps
around the torus). On 600 null class images of pink noise (σ = 0.2, kernel σ = 1.5) the theory's pixel threshold
gives a family-wise rate of 1.8 % and its cluster size 14 %, instead of 5 % (tests/test_significance.py), so the
thresholds there are simulated from Gaussian fields with the noise's own correlation (5.0 % and 4.7 % on the same
maps). For white noise the theory holds, its pixel threshold a little strict at this size: on 40,000 simulated
null fields 3.3–3.4 % family-wise (conservative), the cluster test 4.9–5.0 %; on 600 null class images of real
noise (± 0.9 %) 4.5 % and 5.5 % (uniform), 4.2 % and 4.8 % (gaussian).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from cachetools import LRUCache, cached
from cachetools.keys import hashkey

from core.analysis import ClassImages, z_scores
from core.reverse_correlation import WEIGHT_ROWS, AnalysisState
from core.config import IMAGE_SHAPE
from core.noise import PIXELS

# scipy is imported inside the functions: it takes seconds to load, and core.link imports this module's constants.

ALPHA = 0.05  # family-wise, two-sided
INFOVAL_THRESHOLD = 1.96
# 1.96 is rcicr's cut: the test asks only "more informative than chance", so for a normal law it is one-sided
# p < 0.025 (the chart once said p < 0.05, which is two-sided, found by a review); infoVal is a robust z against the
# computed reference law, whose tail is not exactly normal, so the p is a guide, not exact.
# p ≈ 0.025 for independent pixels; the norm's law is skewed for pink and data noise (67 and 32 effective degrees
# of freedom), where a reviewer's exact null tail gave 0.046-0.049 above 1.96.
# in words a student reads (a review: "rcicr", an R package's name, said nothing); rcicr is named in the caption
INFOVAL_THRESHOLD_LABEL = f"{INFOVAL_THRESHOLD}: beyond chance (one-sided p ≈ 0.025; ≈ 0.05 for pink, data)"
MAD_SCALE = 1.4826  # MAD of a normal law × 1.4826 = its standard deviation
DEFAULT_SMOOTHING = 1.5  # pixels (σ of the Gaussian kernel)
DEFAULT_PRIMARY = 2.7  # the cluster test's primary threshold, as in Stat4Ci
#: The page's sliders. Below σ = 1 pixel the cluster test is too strict (family-wise rate 1.8 % at σ = 0.5).
SMOOTHING_CHOICES: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
PRIMARY_CHOICES: tuple[float, ...] = (2.3, 2.5, 2.7, 3.0, 3.3)
#: Noise types whose pixels are correlated: random field theory does not hold for them here (see above).
CORRELATED_NOISE = frozenset({"pink", "data"})
#: Groupings whose class images are weighted sums of the noise with known weights (not the gradient estimators).
TESTABLE_ESTIMATORS = ("truth", "predicted", "softmax", "regression")
SIMULATED_FIELDS = 10_000  # null fields behind a simulated threshold: its family-wise rate is within ±0.5 %
_CLUSTER_STRUCTURE = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)  # 4-connected pixels form a cluster


# --- infoVal --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NormReference:
    """Centre and spread of the norms of class images made with random responses."""

    median: float
    mad: float  # median absolute deviation (not yet scaled by 1.4826)

    def info_value(self, norm: float) -> float:
        return (norm - self.median) / (MAD_SCALE * self.mad)


def response_gram(state: AnalysisState, estimator: str) -> np.ndarray:
    """``G = AᵀA`` for the weights A that turn the noise into the ten centred class images; NaN where the run does
    not keep what is needed (empty classes; off-diagonal terms of softmax and regression weights in a run made
    before ``Sums.weight_products`` was kept).

    Averages: ``a_ic = w_ic/W_c − 1/n``, so G_ck = Σ_i w_ic·w_ik/(W_c·W_k) − 1/n (G_cc = 1/n_eff − 1/n).
    Regression kernels: ``a_ic = (z_ic − z̄_c)/(n − 1)``, so G_ck = (Σ_i z_ic·z_ik − n·z̄_c·z̄_k)/(n − 1)².
    Counted groupings (one-hot weights) have G = diag(1/n_c) − 1/n exactly, from the counts alone.
    """
    sums, rows = state.sums, WEIGHT_ROWS[estimator]
    n, total = sums.n, sums.weight_sum[rows]
    if estimator in ("truth", "predicted"):  # one-hot weights never share a stimulus
        products = np.diag(sums.weight_sq[rows])
    elif sums.weight_products is not None:
        products = sums.weight_products[rows, rows].copy()
    else:
        products = np.full((len(total), len(total)), np.nan)
    np.fill_diagonal(products, sums.weight_sq[rows])  # the diagonal as the per-class values have always had it
    with np.errstate(invalid="ignore", divide="ignore"):
        if estimator == "regression":
            gram = (products - np.outer(total, total) / n) / max(n - 1, 1) ** 2
        else:
            gram = products / np.outer(total, total) - 1.0 / n
    diagonal = np.diag(gram).copy()
    if estimator != "regression":
        diagonal = np.where(total > 0, diagonal, np.nan)
    gram = (gram + gram.T) / 2  # exactly symmetric (float rounding of the products)
    np.fill_diagonal(gram, diagonal)
    present = np.isfinite(diagonal)
    gram[~present] = np.nan
    gram[:, ~present] = np.nan
    return gram


def set_reference_kept(state: AnalysisState, estimator: str) -> bool:
    """Whether the run keeps what the set's infoVal needs: always for counted groupings; for softmax and
    regression weights the cross-class products (``Sums.weight_products``), which older runs lack."""
    return estimator in ("truth", "predicted") or state.sums.weight_products is not None


def analytic_reference(gram_trace: float, gram_square_trace: float, eigenvalues: np.ndarray) -> NormReference:
    """Median and MAD of ‖CI‖ when ‖CI‖² = Σ ν_m χ²₁ with ν the eigenvalues of G ⊗ Σ, by a scaled chi-square
    g·χ²_h with the same mean and variance (g = tr G² tr Σ² / (tr G tr Σ), h = mean / g)."""
    from scipy import optimize, stats

    mean = gram_trace * float(np.sum(eigenvalues))
    variance = 2.0 * gram_square_trace * float(np.sum(eigenvalues**2))
    if not (mean > 0 and variance > 0):  # no spread under the null: no law to compare with
        return NormReference(math.nan, math.nan)
    scale = variance / (2.0 * mean)
    dof = mean / scale
    median = math.sqrt(scale * stats.chi2.ppf(0.5, dof))

    def inside(deviation: float) -> float:  # P(|‖CI‖ − median| ≤ deviation) − ½
        upper = stats.chi2.cdf((median + deviation) ** 2 / scale, dof)
        lower = stats.chi2.cdf(max(median - deviation, 0.0) ** 2 / scale, dof)
        return upper - lower - 0.5

    return NormReference(median, optimize.brentq(inside, 0.0, median * 10 + 1e-12, xtol=median * 1e-10))


def spectrum_reference(weights: np.ndarray, draws: int = 20_000, seed: int = 0) -> NormReference:
    """The same law without the chi-square match: ‖CI‖² = Σ ν_m Z_m², drawn ``draws`` times (fixed seed)."""
    key = (np.asarray(weights, np.float64).tobytes(), draws, seed)
    if key not in _SPECTRUM_REFERENCES:
        rng = np.random.default_rng(seed)
        squares = np.empty(draws)
        for start in range(0, draws, 2_000):
            block = rng.standard_normal((min(2_000, draws - start), len(weights)), dtype=np.float32)
            squares[start : start + len(block)] = (block**2) @ np.asarray(weights, np.float32)
        if len(_SPECTRUM_REFERENCES) > 8:
            _SPECTRUM_REFERENCES.clear()
        _SPECTRUM_REFERENCES[key] = _median_and_mad(np.sqrt(squares))
    return _SPECTRUM_REFERENCES[key]


_SPECTRUM_REFERENCES: dict[tuple[bytes, int, int], NormReference] = {}


def _median_and_mad(norms: np.ndarray) -> NormReference:
    median = float(np.median(norms))
    return NormReference(median, float(np.median(np.abs(norms - median))))


def simulated_reference(noise: np.ndarray, responses: np.ndarray, permutations: int = 200,
                        seed: int = 0) -> tuple[list[NormReference], NormReference]:
    """rcicr's reference: the same stimuli ``noise`` (n, 784), their responses ``responses`` (n, K) — one-hot or
    weights — shuffled across stimuli ``permutations`` times; per class and for the set (Frobenius norm)."""
    rng = np.random.default_rng(seed)
    noise = np.asarray(noise, np.float32).reshape(len(noise), -1)  # float32: norms to 1e-6, half the time
    responses = np.asarray(responses, np.float32)
    per_class = np.empty((permutations, responses.shape[1]))
    overall = noise.mean(axis=0)
    totals = responses.sum(axis=0)
    orders = [rng.permutation(len(noise)) for _ in range(permutations)]
    for first in range(0, permutations, 50):  # fifty shuffles in one matrix product: many small ones crawl
        block = orders[first : first + 50]
        stacked = np.concatenate([responses[order].T for order in block])  # (50·K, n)
        with np.errstate(invalid="ignore", divide="ignore"):  # a class without answers has no image
            images = (stacked @ noise).reshape(len(block), -1, noise.shape[1]) / totals[None, :, None] - overall
        per_class[first : first + len(block)] = np.sqrt(np.sum(images**2, axis=2))
    return ([_median_and_mad(column) for column in per_class.T],
            _median_and_mad(np.sqrt(np.nansum(per_class**2, axis=1))))


@dataclass(frozen=True)
class InfoValues:
    """infoVal of each class image and of the set."""

    names: list[str]  # the classes, then "all classes"
    norms: np.ndarray  # ‖CI‖_F
    medians: np.ndarray  # median of the reference norms
    mads: np.ndarray
    values: np.ndarray  # z; NaN where not defined (empty class; a weighted set without its cross products)

    @property
    def significant(self) -> np.ndarray:
        return self.values > INFOVAL_THRESHOLD

    def table(self):  # -> pandas.DataFrame
        import pandas as pd

        return pd.DataFrame({"class image": self.names, "norm": self.norms, "reference_median": self.medians,
                             "reference_mad": self.mads, "infoVal": self.values,
                             f"above_{INFOVAL_THRESHOLD}": self.significant})


def info_values(state: AnalysisState, images: ClassImages, eigenvalues: np.ndarray,
                names: Sequence[str]) -> InfoValues:
    """infoVal of the noise class images against the reference law, Σ given by its ``eigenvalues``.

    The set's reference needs the classes' cross terms of G: exact for counted groupings (truth, predicted), from
    ``Sums.weight_products`` for softmax and regression weights; left out (NaN) for a run made without them.
    """
    if images.part != "noise":
        raise ValueError("infoVal is defined here for noise class images only")
    gram = response_gram(state, images.estimator)
    flat = images.centred.reshape(len(gram), PIXELS)
    norms = np.sqrt(np.sum(flat**2, axis=1))
    medians, mads = np.full(len(gram) + 1, np.nan), np.full(len(gram) + 1, np.nan)
    # A class that took every stimulus (or the same weight from each), and every class at N = 1, has G_cc = 0 up
    # to rounding (the tolerance covers float32 sums of softmax weights): its image is zero under any responses,
    # so there is no law to compare it with (seen at N = 1 from the CLI).
    spread = np.diag(gram)
    present = (np.isfinite(spread) & np.isfinite(norms) & (np.nan_to_num(spread) > 1e-5 / state.sums.n)
               & (state.sums.n >= 2))
    unit = spectrum_reference(np.clip(eigenvalues, 0.0, None))  # G_cc = 1; ‖CI_c‖ scales with √G_cc
    scale = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    medians[:-1] = np.where(present, scale * unit.median, np.nan)
    mads[:-1] = np.where(present, scale * unit.mad, np.nan)
    kept = gram[np.ix_(present, present)]
    set_norm = float(np.sqrt(np.sum(norms[present] ** 2)))
    if present.any() and np.isfinite(kept).all():
        reference = analytic_reference(float(np.trace(kept)), float(np.sum(kept * kept)), eigenvalues)
        medians[-1], mads[-1] = reference.median, reference.mad
    all_norms = np.append(np.where(present, norms, np.nan), set_norm)
    values = (all_norms - medians) / (MAD_SCALE * mads)
    return InfoValues([*names, "all classes"], all_norms, medians, mads, values)


# --- z-maps under the null ----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def smoothing_matrix(sigma: float) -> np.ndarray:
    """The 784 × 784 Gaussian smoothing of a 28 × 28 map (zero outside the image; symmetric)."""
    from scipy import ndimage

    basis = np.eye(PIXELS).reshape(PIXELS, *IMAGE_SHAPE)
    matrix = ndimage.gaussian_filter(basis, sigma, mode="constant", axes=(1, 2)).reshape(PIXELS, PIXELS)
    matrix.setflags(write=False)
    return matrix


def noise_correlation(covariance: np.ndarray) -> np.ndarray:
    """Correlation of the pixels; a pixel that never varies is left uncorrelated with unit variance."""
    sd = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    varies = sd > 1e-9 * max(float(sd.max()), 1e-300)
    safe = np.where(varies, sd, 1.0)
    correlation = covariance / np.outer(safe, safe)
    correlation[~varies] = 0.0
    correlation[:, ~varies] = 0.0
    correlation[np.diag_indices(PIXELS)] = 1.0
    return correlation


def smooth(z_maps: np.ndarray, sigma: float, correlation: np.ndarray | None = None) -> np.ndarray:
    """Smooth unit-variance z-maps and re-normalise them to unit variance under the null, pixel by pixel (the
    kernel loses weight at the border; correlated pixels add variance): ``K z / √diag(K R K)``."""
    kernel = smoothing_matrix(float(sigma))
    null_covariance = kernel @ kernel if correlation is None else kernel @ correlation @ kernel
    flat = np.nan_to_num(z_maps.reshape(-1, PIXELS)) @ kernel / np.sqrt(np.diag(null_covariance))
    return flat.reshape(z_maps.shape)


# --- thresholds -----------------------------------------------------------------------------------------------


def fwhm(sigma: float) -> float:
    return sigma * math.sqrt(8.0 * math.log(2.0))


def expected_euler(threshold: float, sigma: float, shape: tuple[int, int] = IMAGE_SHAPE) -> float:
    """E[Euler characteristic] of the excursion set above ``threshold`` of a smooth Gaussian field on a
    rectangle (Worsley et al. 1996): resels R0 = 1, R1 = half the perimeter / FWHM, R2 = area / FWHM²."""
    from scipy import stats

    width = fwhm(sigma)
    area, half_perimeter = shape[0] * shape[1], shape[0] + shape[1]
    decay = math.exp(-threshold**2 / 2.0)
    density = (stats.norm.sf(threshold),
               math.sqrt(4 * math.log(2)) / (2 * math.pi) * decay,
               4 * math.log(2) / (2 * math.pi) ** 1.5 * threshold * decay)
    return density[0] + half_perimeter / width * density[1] + area / width**2 * density[2]


def bonferroni_threshold(alpha: float = ALPHA, pixels: int = PIXELS) -> float:
    from scipy import stats

    return float(stats.norm.isf(alpha / (2 * pixels)))


def rft_threshold(sigma: float, alpha: float = ALPHA, shape: tuple[int, int] = IMAGE_SHAPE) -> float:
    """|z| above which a pixel is significant: E[EC] = α/2 in each tail."""
    from scipy import optimize

    return optimize.brentq(lambda t: expected_euler(t, sigma, shape) - alpha / 2, 1.0, 40.0)


def rft_cluster_size(primary: float, sigma: float, alpha: float = ALPHA,
                     shape: tuple[int, int] = IMAGE_SHAPE) -> int:
    """Fewest pixels a cluster above ``primary`` (or below −primary) needs (Friston et al. 1994, D = 2):
    P(max size ≥ k) = 1 − exp(−E[m] e^{−k/E[n]}) = α/2 per tail, with E[m] = area/FWHM² · 4 ln 2 (2π)^{-3/2}
    u e^{−u²/2} clusters and E[n] = area·P(Z > u)/E[m] pixels each. Counting the border's clusters too (the
    full E[EC]) gives 11 pixels instead of 12 at σ = 1.5 and a family-wise rate of 6.6 % instead of 4.6 %
    (6,000 simulated fields): Friston's area term is the better fit here."""
    from scipy import stats

    width = fwhm(sigma)
    area = shape[0] * shape[1]
    clusters = area / width**2 * 4 * math.log(2) / (2 * math.pi) ** 1.5 * primary * math.exp(-primary**2 / 2)
    mean_size = area * stats.norm.sf(primary) / clusters
    size = mean_size * (math.log(clusters) - math.log(-math.log(1 - alpha / 2)))
    return max(math.ceil(size), 1)


@dataclass(frozen=True)
class Thresholds:
    """What a smoothed, unit-variance z-map must pass, and where the numbers come from."""

    smoothing: float  # σ of the kernel, pixels
    pixel: float  # |z| threshold of the pixel test
    primary: float  # cluster-forming |z|
    cluster_size: int  # fewest pixels of a significant cluster
    method: str  # "random field theory" or "simulation"
    bonferroni: float
    field_theory: float  # the random-field pixel threshold (also shown where simulation is used)


def field_theory_thresholds(sigma: float, primary: float, alpha: float = ALPHA) -> Thresholds:
    theory, bonferroni = rft_threshold(sigma, alpha), bonferroni_threshold(alpha)
    return Thresholds(sigma, min(theory, bonferroni), primary, rft_cluster_size(primary, sigma, alpha),
                      "random field theory", bonferroni, theory)


def null_fields(correlation: np.ndarray | None, sigma: float, count: int, seed: int = 0) -> np.ndarray:
    """``count`` smoothed unit-variance Gaussian null maps (float32, (count, 28, 28)) with pixel correlation
    ``correlation`` (None: independent pixels): white noise through one matrix, root(R)·K / sd."""
    rng = np.random.default_rng(seed)
    kernel = smoothing_matrix(float(sigma))
    if correlation is None:
        transform, null_covariance = kernel, kernel @ kernel
    else:
        eigenvalues, eigenvectors = np.linalg.eigh(correlation)
        root = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))).T
        transform, null_covariance = root @ kernel, kernel @ correlation @ kernel
    transform = (transform / np.sqrt(np.diag(null_covariance))).astype(np.float32)
    maps = np.empty((count, PIXELS), np.float32)
    for start in range(0, count, 2_000):
        white = rng.standard_normal((min(2_000, count - start), PIXELS), dtype=np.float32)
        maps[start : start + len(white)] = white @ transform
    return maps.reshape(count, *IMAGE_SHAPE)


def largest_clusters(maps: np.ndarray, primary: float) -> np.ndarray:
    """Size of the largest cluster above ``primary`` or below −primary, map by map (one labelling for all)."""
    from scipy import ndimage

    structure = np.zeros((3, 3, 3), bool)
    structure[1] = _CLUSTER_STRUCTURE  # never across maps
    largest = np.zeros(len(maps), np.int64)
    for excursion in (maps > primary, maps < -primary):
        labels, count = ndimage.label(excursion, structure)
        if count == 0:
            continue
        sizes = np.bincount(labels.ravel())[1:]
        owner = np.zeros(count + 1, np.int64)
        owner[labels.ravel()] = np.repeat(np.arange(len(maps)), labels[0].size)  # the map each cluster lies in
        np.maximum.at(largest, owner[1:], sizes)
    return largest


def simulated_thresholds(correlation: np.ndarray | None, sigma: float, primary: float, alpha: float = ALPHA,
                         count: int = SIMULATED_FIELDS, seed: int = 0) -> Thresholds:
    """Thresholds with a family-wise rate of ``alpha`` on ``count`` simulated null maps."""
    maps = null_fields(correlation, sigma, count, seed)
    peaks = np.abs(maps.reshape(count, -1)).max(axis=1)
    pixel = float(np.quantile(peaks, 1 - alpha))
    largest = largest_clusters(maps, primary)
    # fewest pixels k with P(largest ≥ k) ≤ α
    size = int(np.quantile(largest, 1 - alpha, method="higher")) + 1
    return Thresholds(sigma, pixel, primary, size, "simulation", bonferroni_threshold(alpha),
                      rft_threshold(sigma, alpha))


@cached(LRUCache(maxsize=16), key=lambda fingerprint, correlation, sigma, primary: hashkey(fingerprint, sigma, primary),
        condition=threading.Condition())
def _simulated(fingerprint: bytes, correlation: np.ndarray, sigma: float, primary: float) -> Thresholds:
    """The simulation, once per noise correlation (by its fingerprint), σ and threshold, however many sessions ask
    at once (the others wait for it). Only the small result is kept: the 784² correlation each entry once held,
    4.9 MB, was kept for the server's lifetime."""
    return simulated_thresholds(correlation, sigma, primary)


def thresholds_for(noise_kind: str, covariance: np.ndarray, sigma: float, primary: float) -> Thresholds:
    """Random field theory for noise with independent pixels; simulation (cached) for correlated noise."""
    if noise_kind not in CORRELATED_NOISE:
        return field_theory_thresholds(sigma, primary)
    correlation = noise_correlation(covariance)
    fingerprint = correlation.tobytes()[::9973] + str(correlation.sum()).encode()  # cheap
    return _simulated(fingerprint, correlation, float(sigma), float(primary))


# --- the two tests ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignificantRegions:
    """The smoothed z-maps and what passed each test."""

    smoothed: np.ndarray  # (10, 28, 28), unit variance under the null
    pixel: np.ndarray  # (10, 28, 28) bool: |z| above the pixel threshold
    cluster: np.ndarray  # (10, 28, 28) bool: in a cluster above the primary threshold large enough
    thresholds: Thresholds

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        return self.pixel.reshape(len(self.pixel), -1).sum(axis=1), self.cluster.reshape(len(self.cluster), -1).sum(1)


def cluster_mask(smoothed: np.ndarray, primary: float, minimum: int) -> np.ndarray:
    """Pixels of clusters (above ``primary`` or below −primary) of at least ``minimum`` pixels, map by map."""
    from scipy import ndimage

    mask = np.zeros(smoothed.shape, bool)
    for index, image in enumerate(smoothed):
        for excursion in (image > primary, image < -primary):
            labels, count = ndimage.label(excursion, _CLUSTER_STRUCTURE)
            if count:
                sizes = np.bincount(labels.ravel())
                big = np.flatnonzero(sizes >= minimum)
                mask[index] |= np.isin(labels, big[big > 0])
    return mask


def apply_tests(unit_z: np.ndarray, thresholds: Thresholds,
                correlation: np.ndarray | None = None) -> SignificantRegions:
    """Smooth the unit-variance z-maps and apply the pixel and cluster tests."""
    smoothed = smooth(unit_z, thresholds.smoothing, correlation)
    finite = np.isfinite(unit_z).all(axis=(1, 2))[:, None, None]  # an empty class has no map
    pixel = (np.abs(smoothed) > thresholds.pixel) & finite
    cluster = cluster_mask(smoothed, thresholds.primary, thresholds.cluster_size) & finite
    return SignificantRegions(np.where(finite, smoothed, np.nan), pixel, cluster, thresholds)


def significant_regions(state: AnalysisState, images: ClassImages, noise_kind: str, covariance: np.ndarray,
                 sigma: float = DEFAULT_SMOOTHING, primary: float = DEFAULT_PRIMARY) -> SignificantRegions:
    """The pixel and cluster tests of a run's noise class images."""
    if images.part != "noise":
        raise ValueError("the pixel and cluster tests need the noise class images (part = noise)")
    thresholds = thresholds_for(noise_kind, covariance, sigma, primary)
    correlation = noise_correlation(covariance) if noise_kind in CORRELATED_NOISE else None
    return apply_tests(z_scores(state, images), thresholds, correlation)


def regions_table(regions: SignificantRegions, names: Sequence[str]):  # -> pandas.DataFrame
    """One row per pixel: class, row, column, smoothed z, and whether it passed each test."""
    import pandas as pd

    classes, rows, columns = np.indices(regions.smoothed.shape)
    return pd.DataFrame({"class": np.asarray(names)[classes.ravel()], "row": rows.ravel(), "column": columns.ravel(),
                         "smoothed_z": regions.smoothed.ravel(), "pixel_test": regions.pixel.ravel(),
                         "cluster_test": regions.cluster.ravel()})
