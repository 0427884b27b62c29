"""The noise stream: same sample for the same index whatever the chunking, and the right statistics."""

from __future__ import annotations

import numpy as np
import pytest

from core.noise import (NOISE_TYPES, IntegerMatrix, NoiseSpec, gaussian_covariance, mix, noise_graph,
                        noise_samples, pink_filter, pink_matrix, correlating_matrix, training_statistics)

MEAN_IMAGE = np.linspace(0, 1, 784).reshape(28, 28)
# A training set whose mean is MEAN_IMAGE (to 8-bit precision) and whose pixels vary together in two patterns.
_RNG = np.random.default_rng(5)
_PATTERNS = np.stack([np.sin(np.linspace(0, 3, 784)), np.cos(np.linspace(0, 7, 784))])
TRAIN = np.clip(np.rint((MEAN_IMAGE.reshape(1, -1) + 0.08 * _RNG.standard_normal((4000, 2)) @ _PATTERNS) * 255),
                0, 255).astype(np.uint8).reshape(-1, 28, 28)


# (first start, chunk size, chunks): sizes that are not multiples of each other, starts aligned to none of them.
CHUNKINGS = [(3, 1, 4), (11, 7, 4), (123, 250, 3), (333, 4096, 1)]


@pytest.mark.parametrize("kind", list(NOISE_TYPES))
def test_sample_depends_only_on_seed_and_index(kind: str) -> None:
    """Bit for bit: a float32 matrix product of the whole batch once made data noise depend on the chunk."""
    spec = NoiseSpec(kind, 0.3, seed=7)
    whole = noise_samples(spec, 0, 600, TRAIN)
    assert np.array_equal(noise_samples(spec, 250, 350, TRAIN), whole[250:])
    assert np.array_equal(noise_samples(spec, 0, 5, TRAIN), whole[:5])
    assert not np.array_equal(noise_samples(NoiseSpec(kind, 0.3, seed=8), 0, 5, TRAIN), whole[:5])
    assert whole.min() >= 0.0 and whole.max() <= 1.0 and whole.dtype == np.float32
    uninterrupted = noise_samples(spec, 0, 333 + 4096, TRAIN)
    assert np.array_equal(uninterrupted[:600], whole)
    for first, size, chunks in CHUNKINGS:
        for start in range(first, first + size * chunks, size):
            chunk = noise_samples(spec, start, size, TRAIN)
            assert np.array_equal(chunk, uninterrupted[start : start + size]), (start, size)


@pytest.mark.parametrize("kind", list(NOISE_TYPES))
def test_traced_graph_gives_the_eager_stream(kind: str) -> None:
    """The Analyzer draws the noise inside tf.function, where Grappler rewrites the graph: no rewrite (a fused
    multiply–add, another product kernel) may change a bit of any sample."""
    import tensorflow as tf

    signature = [tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int64),
                 tf.TensorSpec([], tf.float32)]  # as in core.reverse_correlation.Analyzer
    traced = tf.function(noise_graph(kind, TRAIN), input_signature=signature)
    eager = noise_samples(NoiseSpec(kind, 0.3, seed=7), 0, 700, TRAIN).reshape(700, -1)
    for start, count in ((0, 700), (123, 250), (5, 1), (411, 289)):
        rows = traced(np.int64(start), np.int32(count), np.int64(7), np.float32(0.3)).numpy()
        assert np.array_equal(rows, eager[start : start + count]), (start, count)


def _philox_stream(seed: int, start: int, count: int, uniform: bool = False) -> np.ndarray:
    """The documented stream: sample i is Philox counter i · 196 of the seed (as standard normal floats), or
    i · 49 for uniform noise, whose 8-bit grey levels are the bytes of 196 32-bit words."""
    import tensorflow as tf

    philox = tf.random.Algorithm.PHILOX.value
    if uniform:
        words = tf.raw_ops.StatelessRandomUniformFullIntV2(
            shape=[count, 196], key=np.array([seed], np.uint64), counter=np.array([start * 49, 0], np.uint64),
            alg=philox, dtype=tf.uint32).numpy()
        return words.view(np.uint8).reshape(count, 784)
    return tf.raw_ops.StatelessRandomNormalV2(
        shape=[count, 784], key=np.array([seed], np.uint64), counter=np.array([start * 196, 0], np.uint64),
        alg=philox).numpy()


@pytest.mark.parametrize("kind", list(NOISE_TYPES))
def test_noise_is_its_definition_computed_independently(kind: str) -> None:
    """Rebuilt in numpy from the Philox stream: elementwise float32 steps, each rounded once, and for correlated
    noise the product of the white grid (2⁻⁶) with the integer matrix, done by numpy's BLAS in float64 instead of
    TensorFlow's in float32, in another order. Whole numbers below 2²⁴ agree in any order and either precision; a
    rounded product would not, to the bit."""
    sigma, start, count = np.float32(0.3), 57, 300
    drawn = noise_samples(NoiseSpec(kind, float(sigma), seed=7), start, count, TRAIN).reshape(count, -1)
    if kind == "uniform":
        grey = _philox_stream(7, start, count, uniform=True)
        assert np.array_equal(drawn, grey.astype(np.float32) * np.float32(1 / 255))
        return
    white = _philox_stream(7, start, count)
    shaped = white
    if kind in ("pink", "data"):
        matrix = IntegerMatrix.of(pink_matrix() if kind == "pink" else training_statistics(TRAIN)[1])
        assert np.array_equal(matrix.integers, np.rint(matrix.integers))
        assert np.abs(matrix.integers).sum(axis=0).max() < 2**15
        grid = np.rint(np.clip(white, -8, 8) * 2.0**6).astype(np.float64)
        product = grid @ matrix.integers  # whole numbers below 2^24: the same in float64 as in float32
        assert np.abs(product).max() < 2**24
        shaped = np.ldexp(product, -6 - matrix.exponent).astype(np.float32)
    centre = training_statistics(TRAIN)[0].reshape(1, -1) if kind in ("base", "data") else np.float32(0.5)
    expected = np.clip(centre + sigma * shaped, 0.0, 1.0)
    assert expected.dtype == np.float32 and np.array_equal(drawn, expected)


def test_statistics_of_each_type() -> None:
    uniform = noise_samples(NoiseSpec("uniform"), 0, 2000)
    assert uniform.mean() == pytest.approx(0.5, abs=0.01) and uniform.std() == pytest.approx(12**-0.5, abs=0.01)
    gaussian = noise_samples(NoiseSpec("gaussian", 0.1), 0, 2000)
    assert gaussian.mean() == pytest.approx(0.5, abs=0.01) and gaussian.std() == pytest.approx(0.1, abs=0.01)
    base = noise_samples(NoiseSpec("base", 0.05), 0, 2000, TRAIN)
    inner = (MEAN_IMAGE > 0.2) & (MEAN_IMAGE < 0.8)  # away from the clipping
    assert np.allclose(base.mean(axis=0)[inner], MEAN_IMAGE[inner], atol=0.01)


def test_data_noise_has_the_training_sets_mean_and_covariance() -> None:
    noise = noise_samples(NoiseSpec("data", 0.1), 0, 4000, TRAIN).reshape(4000, -1)
    pixels = TRAIN.reshape(len(TRAIN), -1) / 255.0
    inner = ((MEAN_IMAGE > 0.3) & (MEAN_IMAGE < 0.7)).ravel()  # away from the clipping
    assert np.allclose(noise.mean(axis=0)[inner], pixels.mean(axis=0)[inner], atol=0.01)
    scale = 0.1 / np.sqrt(np.trace(np.cov(pixels, rowvar=False)) / 784)  # σ = 0.1 per pixel on average
    expected = np.cov(pixels[:, inner], rowvar=False) * scale**2
    assert np.allclose(np.cov(noise[:, inner], rowvar=False), expected, atol=0.002)


def _neighbour_correlation(images: np.ndarray) -> float:
    centred = images - images.mean()
    return float((centred[:, :, 1:] * centred[:, :, :-1]).mean() / centred.var())


def test_pink_noise_is_the_full_2d_filter_of_its_white_stream() -> None:
    """Pink noise is an exact product with a 784×784 matrix held in whole numbers; it must equal the full complex
    2-D filter of its white stream, to the white grid (2⁻⁷ at most per value) and the whole numbers' rounding."""
    import tensorflow as tf

    # Gaussian noise of tiny σ is 0.5 + σ·white, never clipped: it gives back the white stream pink noise filters.
    white = (noise_samples(NoiseSpec("gaussian", 0.001, seed=4), 0, 200) - 0.5) / 0.001
    full = tf.math.real(tf.signal.ifft2d(tf.signal.fft2d(tf.complex(white, 0.0)) * pink_filter())).numpy()
    pink = noise_samples(NoiseSpec("pink", 0.15, seed=4), 0, 200)
    column_sums = np.abs(pink_matrix()).sum(axis=0).max()
    rounded_off = np.abs(correlating_matrix("pink") - pink_matrix()).sum(axis=0).max()
    bound = 0.15 * (2.0**-7 * column_sums + 6.0 * rounded_off) + 1e-6  # |white| < 6; float32 rounding
    off = np.abs(pink - np.clip(0.5 + 0.15 * full, 0.0, 1.0))
    assert off.max() <= bound and off.max() < 2 / 255  # two grey levels at most,
    assert np.sqrt(np.mean(off**2)) < 1 / 255 / 4  # a quarter of one typically


@pytest.mark.parametrize("kind", ["pink", "data"])
def test_whole_numbers_hold_the_matrix_and_give_the_noises_covariance(kind: str) -> None:
    """The whole numbers hold the filter (or covariance root) to 1 %; Stein's Σ is made from them, the matrix the
    noise is really drawn with."""
    matrix = pink_matrix() if kind == "pink" else training_statistics(TRAIN)[1].astype(np.float64)
    held = correlating_matrix(kind, TRAIN)
    assert np.linalg.norm(held - matrix) <= 1e-2 * np.linalg.norm(matrix)
    assert np.allclose(gaussian_covariance(kind, 0.25, TRAIN), np.float32(0.25) ** 2 * held.T @ held)


def test_pink_noise_is_spatially_correlated_white_is_not() -> None:
    pink = noise_samples(NoiseSpec("pink", 0.15), 0, 500)
    white = noise_samples(NoiseSpec("gaussian", 0.15), 0, 500)
    assert _neighbour_correlation(pink) > 0.5 and abs(_neighbour_correlation(white)) < 0.05
    assert pink_filter()[0, 0] == 0.0 and np.mean(pink_filter() ** 2) == pytest.approx(1.0)


def test_mix_ends() -> None:
    signal, noise = np.ones(4), np.zeros(4)
    assert np.array_equal(mix(signal, noise, 0.0), noise) and np.array_equal(mix(signal, noise, 1.0), signal)
    assert np.allclose(mix(signal, noise, 0.7), 0.7)


@pytest.mark.parametrize("bad", [dict(kind="plaid"), dict(sigma=-0.1), dict(sigma=2.0), dict(seed=-1)])
def test_bad_specs_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        NoiseSpec(**bad)
