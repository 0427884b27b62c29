"""Noise stimuli, generated inside TensorFlow from one counter-based random stream.

Sample ``i`` of a stream is always the same 784 numbers for a given seed, to the bit: its Philox counter is
``i · 784/4``, every step after that is elementwise or exact products of whole numbers (``_exact_linear_map``). So a
run can be cut into chunks of any size, resumed, or grown from N to 2N with identical stimuli.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from core.config import IMAGE_SHAPE
from core.data import kept_while_alive

PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
_VALUES_PER_COUNTER = 4  # Philox yields four 32-bit words per counter step

NOISE_TYPES: dict[str, str] = {
    "uniform": "uniform on the 256 grey levels of [0, 1], independent pixels (the original study)",
    "gaussian": "Gaussian around 0.5 with adjustable σ, clipped to [0, 1]",
    "base": "the dataset's mean training image plus Gaussian noise of σ, clipped (Mangini & Biederman)",
    "pink": "1/f ('pink': amplitude falling as 1/frequency, like natural images) Gaussian noise around 0.5 scaled "
            "to σ, clipped: blobs instead of single pixels",
    "data": "Gaussian around the training images' mean, shaped like their pixel covariance and scaled so that the "
            "pixels' RMS standard deviation is σ (border pixels hardly vary), clipped: shaped like the data, yet "
            "with no class in it",
}
DEFAULT_SIGMA = 0.2
SIGMA_NOISE_TYPES = frozenset({"gaussian", "base", "pink", "data"})
# Noise types built around the training set (its mean image, its covariance).
DATA_NOISE_TYPES = frozenset({"base", "data"})


@dataclass(frozen=True)
class NoiseSpec:
    """What noise to draw: its type, σ where it applies, and the seed of its stream."""

    kind: str = "uniform"
    sigma: float = DEFAULT_SIGMA
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in NOISE_TYPES:
            raise ValueError(f"unknown noise type {self.kind!r}; choose one of {', '.join(NOISE_TYPES)}")
        if not 0.0 <= self.sigma <= 1.0:
            raise ValueError(f"σ must be between 0 and 1, got {self.sigma}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be between 0 and 2**32 - 1, got {self.seed}")

    @property
    def sigma_used(self) -> float | None:
        """σ as recorded: None for uniform noise, which has none."""
        return self.sigma if self.kind in SIGMA_NOISE_TYPES else None

    @property
    def label(self) -> str:
        """The noise type with its σ where it has one, as download names carry it: "gaussian0.2", "uniform"."""
        return self.kind + ("" if self.sigma_used is None else f"{self.sigma_used:g}")


def pink_filter() -> np.ndarray:
    """Amplitude spectrum 1/f on the 28×28 frequency grid, scaled so white input keeps unit variance."""
    fy = np.fft.fftfreq(IMAGE_SHAPE[0])[:, None]
    fx = np.fft.fftfreq(IMAGE_SHAPE[1])[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    amplitude = np.zeros_like(radius)
    amplitude[radius > 0] = 1.0 / radius[radius > 0]
    return (amplitude / np.sqrt(np.mean(amplitude**2))).astype(np.float32)


@lru_cache(maxsize=1)
def pink_matrix() -> np.ndarray:
    """The 784×784 matrix ``P`` with ``white @ P`` = each white image filtered circularly by ``pink_filter()``.

    ``P[j, k] = h[k − j]`` (indices mod 28 on both axes), ``h`` the filter's impulse response.
    """
    kernel = np.fft.ifft2(pink_filter().astype(np.float64)).real
    rows, columns = np.divmod(np.arange(PIXELS), IMAGE_SHAPE[1])
    matrix = kernel[(rows[None, :] - rows[:, None]) % IMAGE_SHAPE[0],
                    (columns[None, :] - columns[:, None]) % IMAGE_SHAPE[1]]
    matrix.setflags(write=False)  # cached and shared
    return matrix


# Correlated noise (pink, data) is ``white @ M`` for a fixed 784×784 matrix M. A float32 matrix product rounds
# differently with the batch shape and the CPU (blocking, FMA, SIMD width, summation order): sample i changed with
# the chunk it fell in. So the product is made exact, in float32 (an exact float64 one cost ~3× and, on a slow CPU,
# a quarter of LeNet's own pass): the white values are put on the grid 2^-6 (whole numbers of at most 2^9), and M
# is held as whole numbers times a power of two whose columns sum, in absolute value, to less than 2^15. Every
# product and every partial sum of ``grid @ integers`` is then a whole number below 2^24, exact in float32 in any
# order, so the product is the same bit for bit on every IEEE-754 CPU, and scaling by a power of two is exact.
# The whole numbers hold M to 0.4–0.6 % (relative, Frobenius; the residual held the same way would bring 10⁻⁴
# for another product's time); the noise's covariance is taken from them (``correlating_matrix``), so Stein's Σ is
# that of the noise actually drawn.
_WHITE_LIMIT = 8.0  # Box–Muller from u ≥ 1e-7 never exceeds 5.7: the clip changes nothing, it bounds the integers
_WHITE_BITS = 6
_COLUMN_SUM = 2**24 // int(_WHITE_LIMIT * 2**_WHITE_BITS)  # 2^15: the whole numbers' columns sum to less


@dataclass(frozen=True)
class IntegerMatrix:
    """A 784×784 matrix as whole numbers and a power of two, ``M ≈ integers · 2^-exponent``, whose columns sum (in
    absolute value) to less than 2^15: its product with the white grid is exact in float32 (see above)."""

    integers: np.ndarray
    exponent: int

    @classmethod
    def of(cls, matrix: np.ndarray) -> IntegerMatrix:
        matrix = np.asarray(matrix, np.float64)
        column_sum = float(np.abs(matrix).sum(axis=0).max())
        # rounding adds at most 1/2 per entry to a column's sum: keep room for it below 2^15
        exponent = int(np.floor(np.log2((_COLUMN_SUM - PIXELS) / column_sum))) if column_sum > 0 else 0
        integers = np.rint(np.ldexp(matrix, exponent))
        assert np.abs(integers).sum(axis=0).max() < _COLUMN_SUM  # exact sums in float32
        return cls(integers, exponent)

    def matrix(self) -> np.ndarray:
        """The matrix the whole numbers stand for (float64, exact): what the noise is really multiplied by."""
        return np.ldexp(self.integers, -self.exponent)


@lru_cache(maxsize=1)
def _pink_integer_matrix() -> IntegerMatrix:
    return IntegerMatrix.of(pink_matrix())


def correlating_matrix(kind: str, train_images: np.ndarray | None = None) -> np.ndarray:
    """The 784×784 matrix pink or data noise multiplies its white values by, as the whole numbers hold it."""
    if kind == "pink":
        return _pink_integer_matrix().matrix()
    if kind == "data" and train_images is not None:
        return _data_integer_matrix(train_images).matrix()
    raise ValueError(f"{kind!r} noise has no correlating matrix" + (" without the training images"
                                                                    if kind == "data" else ""))


def _exact_linear_map(matrix: IntegerMatrix) -> Callable[[Any], Any]:
    """TensorFlow code ``white -> white @ M`` in float32, exact on the white grid (see above): the same for every
    sample whatever the batch and the CPU."""
    import tensorflow as tf

    integers = tf.constant(matrix.integers, tf.float32)
    scale = 2.0 ** -(_WHITE_BITS + matrix.exponent)

    def apply(white: Any) -> Any:
        grid = tf.round(tf.clip_by_value(white, -_WHITE_LIMIT, _WHITE_LIMIT) * 2.0**_WHITE_BITS)
        return tf.matmul(grid, integers) * scale

    return apply


def _philox(op: Any, seed: Any, start: Any, count: Any) -> Any:
    """Rows ``start … start+count-1`` of the seeded stream, each row one 784-pixel sample."""
    import tensorflow as tf

    counter = tf.stack([tf.cast(start, tf.uint64) * (PIXELS // _VALUES_PER_COUNTER), tf.constant(0, tf.uint64)])
    return op(shape=tf.stack([tf.cast(count, tf.int32), PIXELS]), key=tf.reshape(tf.cast(seed, tf.uint64), [1]),
              counter=counter, alg=tf.random.Algorithm.PHILOX.value)


def _uniform_grey_levels(seed: Any, start: Any, count: Any) -> Any:
    """Uniform noise on the 256 grey levels k/255, like an 8-bit image.

    Each 32-bit Philox word gives four pixels, a quarter of the random-number work of float noise: it keeps
    noise generation a small fraction of the model's own cost.
    """
    import tensorflow as tf

    words_per_sample = PIXELS // 4
    counter = tf.stack([tf.cast(start, tf.uint64) * (words_per_sample // _VALUES_PER_COUNTER),
                        tf.constant(0, tf.uint64)])
    words = tf.raw_ops.StatelessRandomUniformFullIntV2(
        shape=tf.stack([tf.cast(count, tf.int32), words_per_sample]), key=tf.reshape(tf.cast(seed, tf.uint64), [1]),
        counter=counter, alg=tf.random.Algorithm.PHILOX.value, dtype=tf.uint32)
    grey = tf.reshape(tf.bitcast(words, tf.uint8), tf.stack([tf.cast(count, tf.int32), PIXELS]))
    return tf.cast(grey, tf.float32) * (1.0 / 255.0)


_STATISTICS: dict[int, tuple[np.ndarray, np.ndarray, IntegerMatrix]] = {}


def training_statistics(train_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean image and a covariance square root ``B`` (white @ B has the data's covariance, 1 per pixel on average).

    Computed once per training set (about a second) and kept while its images are.
    """
    mean, root, _ = _statistics(train_images)
    return mean, root


def _statistics(train_images: np.ndarray) -> tuple[np.ndarray, np.ndarray, IntegerMatrix]:
    return kept_while_alive(train_images, _STATISTICS, lambda: _computed_statistics(train_images))


def _computed_statistics(train_images: np.ndarray) -> tuple[np.ndarray, np.ndarray, IntegerMatrix]:
    pixels = train_images.reshape(len(train_images), PIXELS).astype(np.float32) / 255.0
    mean = pixels.mean(axis=0)
    centred = pixels - mean
    covariance = (centred.T @ centred).astype(np.float64) / max(len(pixels) - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    root = (eigenvectors * np.sqrt(eigenvalues)).T / np.sqrt(max(eigenvalues.mean(), 1e-12))
    root = root.astype(np.float32)
    return mean.reshape(IMAGE_SHAPE), root, IntegerMatrix.of(root)


def _data_integer_matrix(train_images: np.ndarray) -> IntegerMatrix:
    """The data noise's covariance root as whole numbers (kept with the training statistics)."""
    return _statistics(train_images)[2]


def gaussian_covariance(kind: str, sigma: float, train_images: np.ndarray | None = None) -> np.ndarray:
    """Σ of the Gaussian noise before clipping, (784, 784): σ²·MᵀM for ``white @ M`` (pink, data), σ²·I otherwise.

    Stein's lemma turns the model's input gradients into the regression kernel with it. Uniform noise has no
    Gaussian behind it, so it has no such Σ.
    """
    if kind not in SIGMA_NOISE_TYPES:
        raise ValueError(f"{kind!r} noise is not Gaussian: choose one of {', '.join(sorted(SIGMA_NOISE_TYPES))}")
    if kind == "data" and train_images is None:
        raise ValueError("data noise needs the training images")
    if kind not in ("pink", "data"):
        return float(np.float32(sigma)) ** 2 * np.eye(PIXELS)  # σ as the graph has it, in float32
    matrix = correlating_matrix(kind, train_images)  # the matrix the noise is really drawn with
    return float(np.float32(sigma)) ** 2 * (matrix.T @ matrix)


def noise_graph(kind: str, train_images: np.ndarray | None = None) -> Any:
    """TensorFlow code ``(start, count, seed, sigma) -> (count, 784)`` float32 noise in [0, 1].

    Only the noise type is fixed here; seed and σ are tensors, so one traced graph serves every value.
    ``base`` and ``data`` noise are built around ``train_images``.
    """
    import tensorflow as tf

    NoiseSpec(kind)  # validates the type
    normal = tf.raw_ops.StatelessRandomNormalV2
    centre: Any = 0.5  # gaussian and pink noise lie around mid-grey; base and data around the mean training image
    correlate = _exact_linear_map(_pink_integer_matrix()) if kind == "pink" else None
    if kind in DATA_NOISE_TYPES:
        if train_images is None:
            raise ValueError(f"{kind} noise needs the training images")
        mean_image = training_statistics(train_images)[0]
        centre = tf.constant(mean_image.reshape(1, PIXELS))
        if kind == "data":
            correlate = _exact_linear_map(_data_integer_matrix(train_images))

    def generate(start: Any, count: Any, seed: Any, sigma: Any) -> Any:
        # Besides the exact product every step is elementwise (Philox words, Box–Muller, one multiply, one add,
        # clip), each a separate kernel rounding each element once, whatever the batch. Nothing here is
        # XLA-compiled, so no multiply and add are fused into an FMA (tests/test_noise.py checks the traced graph).
        if kind == "uniform":
            return _uniform_grey_levels(seed, start, count)
        white = _philox(normal, seed, start, count)
        shaped = white if correlate is None else correlate(white)  # pink and data: one exact linear map
        return tf.clip_by_value(centre + sigma * shaped, 0.0, 1.0)

    return generate


def noise_samples(spec: NoiseSpec, start: int, count: int, train_images: np.ndarray | None = None) -> np.ndarray:
    """Noise images ``(count, 28, 28)`` as numpy, e.g. for a strip of example stimuli."""
    generate = noise_graph(spec.kind, train_images)
    return np.asarray(generate(start, count, spec.seed, np.float32(spec.sigma))).reshape(count, *IMAGE_SHAPE)


def mix(signal: np.ndarray, noise: np.ndarray, ratio: float) -> np.ndarray:
    """``x = r·signal + (1 − r)·noise`` (the original study's stimulus)."""
    return ratio * signal + (1.0 - ratio) * noise


def first_stimuli(spec: NoiseSpec, ratio: float, test_images: np.ndarray, train_images: np.ndarray | None = None,
                  count: int = 8) -> np.ndarray:
    """The stream's first ``count`` stimuli on the model's 0–1 scale: its noise mixed with the first test images,
    the run's own stimuli (to float rounding: the run mixes in float32). The pages' *Example stimuli* strip and
    ``analyze``'s ``example_stimuli.*`` both show these, so a strip saved by the command is the one on the page."""
    noise = noise_samples(spec, 0, count, train_images)
    return mix(test_images[:count] / 255.0, noise, ratio)
