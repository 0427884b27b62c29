"""On real data with a shipped model: resuming, growing and re-chunking a run give an uninterrupted run's sums.

The stimuli are bit-exact whatever the chunking (tests/test_noise.py); the sums cannot be. Within a chunk of k
stimuli each sum is a float32 dot product over the chunk, whose rounding depends on k, on where the chunk starts and on
the CPU's kernels; the chunks' sums are then added in float64. In any summation order, with or without FMA, a float32
dot product of k terms is within γ_k·Σ|wᵢxᵢ| of the exact value, γ_k = k·u/(1 − k·u), u = 2⁻²⁴ (Higham, Accuracy
and Stability of Numerical Algorithms, §3.1). Noise and signal lie in [0, 1], so Σ|wᵢxᵢ| ≤ Σ|wᵢ| ≤ √(n·Σwᵢ²)
(Cauchy–Schwarz), and each run records Σwᵢ². Tolerance: |a − b| ≤ 2·γ_{k+1}·√(n·Σwᵢ²) with k = 1000, the largest
chunk: both runs may err by the bound, and k + 1 covers the one extra rounding of the squares and of the signal's
1/255; 2·γ_1001 ≈ 1.2·10⁻⁴. The float64 additions of chunks (~2⁻⁵³ each) are far below it. The model's
outputs may also change in their last bits with the batch: measured here, every difference stays under 0.2 % of the
tolerance. The confusion matrix is compared exactly: an argmax flips only if the top two logits tie to a rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis import AnalysisSettings, AnalysisState, Analyzer, Sums
from core.noise import NoiseSpec

N = 2000
LARGE, SMALL = 1000, 384  # chunk sizes; neither divides the other, and 384 cuts across the checkpoints' chunks


def _gamma(k: int) -> float:
    return k * 2.0**-24 / (1 - k * 2.0**-24)


def assert_same_sums(a: Sums, b: Sums, largest_chunk: int) -> None:
    """Equal up to float32 rounding inside chunks of at most ``largest_chunk`` stimuli (see the module docstring)."""
    assert a.n == b.n
    assert np.array_equal(a.confusion, b.confusion)
    slack = 2 * _gamma(largest_chunk + 1)
    weight_sq = np.maximum(a.weight_sq, b.weight_sq)
    abs_weights = np.sqrt(a.n * weight_sq)  # bounds Σ|wᵢ| of each weight row
    assert np.all(np.abs(a.noise_weighted - b.noise_weighted) <= slack * abs_weights[:, None])
    assert np.all(np.abs(a.weight_sum - b.weight_sum) <= slack * abs_weights)
    assert np.all(np.abs(a.weight_sq - b.weight_sq) <= slack * weight_sq)
    assert np.all(np.abs(a.noise_sumsq - b.noise_sumsq) <= slack * a.n)
    assert (a.signal_weighted is None) == (b.signal_weighted is None)
    if a.signal_weighted is not None:
        assert np.all(np.abs(a.signal_weighted - b.signal_weighted) <= slack * abs_weights[:, None])


def assert_same_run(a: AnalysisState, b: AnalysisState, largest_chunk: int) -> None:
    """The same final sums, and the same sums at every convergence snapshot both runs kept."""
    assert a.n == b.n == N and a.complete and b.complete
    assert_same_sums(a.sums, b.sums, largest_chunk)
    shared = sorted(set(a.snapshots) & set(b.snapshots))
    assert shared == [100, 200, 500, 1000, 2000]
    for n in shared:
        assert_same_sums(a.snapshots[n], b.snapshots[n], largest_chunk)


@pytest.fixture(scope="module")
def lenet():
    from core.store import load_model

    model, _ = load_model("lenet", "mnist")
    return model


# The data-noise stream with signal exercises every step (exact linear map, mixing); pure uniform noise is the
# thorough second case.
@pytest.mark.parametrize("settings", [AnalysisSettings(NoiseSpec("data", 0.2, seed=11), ratio=0.3),
                                      pytest.param(AnalysisSettings(NoiseSpec("uniform", seed=12)),
                                                   marks=pytest.mark.slow)],
                         ids=["data-noise-with-signal", "uniform-noise"])
def test_resumed_grown_and_rechunked_runs_equal_one_run(mnist, lenet, settings: AnalysisSettings) -> None:
    kind = settings.noise.kind
    large, small = Analyzer(lenet, mnist, kind, chunk_size=LARGE), Analyzer(lenet, mnist, kind, chunk_size=SMALL)
    straight = large.run(settings, N)

    # Stopped mid-stream after four chunks (100, 100, 300, 384: n = 884), resumed with the other chunk size.
    reported: list[int] = []
    stopped = small.run(settings, N, on_progress=lambda state: reported.append(state.n),
                        should_stop=lambda: len(reported) >= 4)
    assert stopped.n == 884 and not stopped.complete
    resumed = large.run(settings, N, state=stopped)
    assert stopped.n == 884  # the caller's state is left as it was
    assert_same_run(resumed, straight, LARGE)

    # N grown from a finished shorter run, whose last chunk ended off the uninterrupted run's chunk boundaries.
    shorter = small.run(settings, 1100)
    grown = small.run(settings, N, state=shorter)
    assert shorter.n == 1100
    assert_same_run(grown, straight, LARGE)

    assert_same_run(small.run(settings, N), straight, LARGE)
