"""Noise stimuli, generated inside TensorFlow from one counter-based random stream.

Sample ``i`` of a stream is always the same 784 numbers for a given seed: its Philox counter is ``i · 784/4``.
So a run can be cut into chunks of any size, resumed, or grown from N to 2N with identical stimuli.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.config import IMAGE_SHAPE

PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
_VALUES_PER_COUNTER = 4  # Philox yields four 32-bit words per counter step

NOISE_TYPES: dict[str, str] = {
    "uniform": "uniform on the 256 grey levels of [0, 1], independent pixels (the original study)",
    "gaussian": "Gaussian around 0.5 with adjustable σ, clipped to [0, 1]",
    "base": "the dataset's mean training image plus Gaussian noise of σ, clipped (Mangini & Biederman)",
    "pink": "1/f ('pink') Gaussian noise around 0.5 scaled to σ, clipped: blobs instead of single pixels",
    "data": "Gaussian with the training images' mean and pixel covariance, scaled to σ per pixel, clipped: "
            "shaped like the data, yet with no class in it",
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


def pink_filter() -> np.ndarray:
    """Amplitude spectrum 1/f on the 28×28 frequency grid, scaled so white input keeps unit variance."""
    fy = np.fft.fftfreq(IMAGE_SHAPE[0])[:, None]
    fx = np.fft.fftfreq(IMAGE_SHAPE[1])[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    amplitude = np.zeros_like(radius)
    amplitude[radius > 0] = 1.0 / radius[radius > 0]
    return (amplitude / np.sqrt(np.mean(amplitude**2))).astype(np.float32)


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


_STATISTICS: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def training_statistics(train_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean image and a covariance square root ``B`` (white @ B has the data's covariance, 1 per pixel on average).

    Computed once per training set (about a second) and kept for the process.
    """
    key = id(train_images)
    if key not in _STATISTICS:
        pixels = train_images.reshape(len(train_images), PIXELS).astype(np.float32) / 255.0
        mean = pixels.mean(axis=0)
        centred = pixels - mean
        covariance = (centred.T @ centred).astype(np.float64) / max(len(pixels) - 1, 1)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        eigenvalues = np.clip(eigenvalues, 0.0, None)
        root = (eigenvectors * np.sqrt(eigenvalues)).T / np.sqrt(max(eigenvalues.mean(), 1e-12))
        # The array itself is kept in the entry so that its id cannot be reused by another array.
        _STATISTICS[key] = (train_images, mean.reshape(IMAGE_SHAPE), root.astype(np.float32))
    _, mean, root = _STATISTICS[key]
    return mean, root


def noise_graph(kind: str, train_images: np.ndarray | None = None) -> Any:
    """TensorFlow code ``(start, count, seed, sigma) -> (count, 784)`` float32 noise in [0, 1].

    Only the noise type is fixed here; seed and σ are tensors, so one traced graph serves every value.
    ``base`` and ``data`` noise are built around ``train_images``.
    """
    import tensorflow as tf

    NoiseSpec(kind)  # validates the type
    normal = tf.raw_ops.StatelessRandomNormalV2
    if kind in DATA_NOISE_TYPES:
        if train_images is None:
            raise ValueError(f"{kind} noise needs the training images")
        mean_image, root = training_statistics(train_images)
        base = tf.constant(mean_image.reshape(1, PIXELS))
        covariance_root = tf.constant(root)
    # The 1/f filter is real and symmetric, so a real image stays real: the half spectrum of rfft2d is enough.
    half_amplitude = tf.constant(pink_filter()[:, : IMAGE_SHAPE[1] // 2 + 1], tf.complex64)

    def generate(start: Any, count: Any, seed: Any, sigma: Any) -> Any:
        if kind == "uniform":
            return _uniform_grey_levels(seed, start, count)
        white = _philox(normal, seed, start, count)
        if kind == "gaussian":
            return tf.clip_by_value(0.5 + sigma * white, 0.0, 1.0)
        if kind == "base":
            return tf.clip_by_value(base + sigma * white, 0.0, 1.0)
        if kind == "data":
            return tf.clip_by_value(base + sigma * tf.matmul(white, covariance_root), 0.0, 1.0)
        images = tf.reshape(white, (-1, *IMAGE_SHAPE))
        shaped = tf.signal.irfft2d(tf.signal.rfft2d(images) * half_amplitude, fft_length=IMAGE_SHAPE)
        return tf.clip_by_value(0.5 + sigma * tf.reshape(shaped, (-1, PIXELS)), 0.0, 1.0)

    return generate


def noise_samples(spec: NoiseSpec, start: int, count: int, train_images: np.ndarray | None = None) -> np.ndarray:
    """Noise images ``(count, 28, 28)`` as numpy, e.g. for a strip of example stimuli."""
    generate = noise_graph(spec.kind, train_images)
    return np.asarray(generate(start, count, spec.seed, np.float32(spec.sigma))).reshape(count, *IMAGE_SHAPE)


def mix(signal: np.ndarray, noise: np.ndarray, ratio: float) -> np.ndarray:
    """``x = r·signal + (1 − r)·noise`` (the original study's stimulus)."""
    return ratio * signal + (1.0 - ratio) * noise
