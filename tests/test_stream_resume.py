"""On real data with a shipped model: resuming, growing and re-chunking a run give an uninterrupted run's sums, to
the bit where the model's outputs do not depend on the batch.

The stimuli are bit-exact whatever the chunking (tests/test_noise.py). The weighted sums are float32 products per
block of ``SUM_BLOCK`` stimuli, added in float64 in stimulus order (core/reverse_correlation.py), and every chunk is
whole blocks, so a re-chunked run makes the same additions in the same order: the same sums to the bit, as long as the
model gives a stimulus the same outputs in any batch. On this CPU it does (``batch_invariant`` checks it; the first
review found a test image changing class between the page and the command line without the blocks). On a CPU whose
kernels round by the batch, the float32 bound applies instead: in any summation order, with or without FMA, a
float32 dot product of k terms is within γ_k·Σ|wᵢxᵢ| of the exact value, γ_k = k·u/(1 − k·u), u = 2⁻²⁴ (Higham,
Accuracy and Stability of Numerical Algorithms, §3.1). Noise and signal lie in [0, 1], so Σ|wᵢxᵢ| ≤ Σ|wᵢ| ≤
√(n·Σwᵢ²) (Cauchy–Schwarz), and each run records Σwᵢ². Tolerance: |a − b| ≤ 2·γ_{k+1}·√(n·Σwᵢ²) with k = 1000,
the largest chunk. The confusion matrix is compared exactly either way: an argmax flips only if the top two logits
tie to a rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.reverse_correlation import AnalysisSettings, AnalysisState, Analyzer, Sums
from core.noise import NoiseSpec

N = 2000
LARGE, SMALL = 1000, 384  # chunk sizes; the engine cuts 384 to 350 (whole blocks), which cuts across 1,000s


def _gamma(k: int) -> float:
    return k * 2.0**-24 / (1 - k * 2.0**-24)


def assert_same_sums(a: Sums, b: Sums, largest_chunk: int, exact: bool) -> None:
    """Equal to the bit (``exact``), else up to float32 rounding inside chunks of at most ``largest_chunk`` stimuli
    (see the module docstring)."""
    assert a.n == b.n
    assert np.array_equal(a.confusion, b.confusion)
    if exact:
        for name in ("noise_weighted", "weight_sum", "weight_sq", "weight_products", "noise_sumsq", "signal_weighted"):
            mine, theirs = getattr(a, name), getattr(b, name)
            assert (mine is None and theirs is None) or np.array_equal(mine, theirs, equal_nan=True), name
        return
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


def assert_same_run(a: AnalysisState, b: AnalysisState, largest_chunk: int, exact: bool) -> None:
    """The same final sums, and the same sums at every convergence snapshot both runs kept."""
    assert a.n == b.n == N and a.complete and b.complete
    assert_same_sums(a.sums, b.sums, largest_chunk, exact)
    shared = sorted(set(a.snapshots) & set(b.snapshots))
    assert shared == [100, 200, 500, 1000, 2000]
    for n in shared:
        assert_same_sums(a.snapshots[n], b.snapshots[n], largest_chunk, exact)


@pytest.fixture(scope="module")
def lenet():
    from core.store import load_model

    model, _ = load_model("lenet", "mnist")
    return model


@pytest.fixture(scope="module")
def batch_invariant(lenet) -> bool:
    """Whether this CPU's kernels give LeNet's logits for a stimulus whatever the batch it is in (of two or more:
    the halves of a chunk of SUM_BLOCK are 25)."""
    from core.reverse_correlation import logits_function

    logits = logits_function(lenet)
    images = np.random.default_rng(0).random((1000, 28, 28, 1), dtype=np.float32)
    whole = logits(images).numpy()
    return all(np.array_equal(whole, np.concatenate([logits(images[i:i + size]).numpy()
                                                      for i in range(0, 1000, size)])) for size in (25, 350, 500))


# The data-noise stream with signal exercises every step (exact linear map, mixing); pure uniform noise is the
# thorough second case.
@pytest.mark.parametrize("settings", [AnalysisSettings(NoiseSpec("data", 0.2, seed=11), ratio=0.3),
                                      pytest.param(AnalysisSettings(NoiseSpec("uniform", seed=12)),
                                                   marks=pytest.mark.slow)],
                         ids=["data-noise-with-signal", "uniform-noise"])
def test_resumed_grown_and_rechunked_runs_equal_one_run(mnist, lenet, batch_invariant: bool,
                                                        settings: AnalysisSettings) -> None:
    kind = settings.noise.kind
    large, small = Analyzer(lenet, mnist, kind, chunk_size=LARGE), Analyzer(lenet, mnist, kind, chunk_size=SMALL)
    straight = large.run(settings, N)

    # Stopped mid-stream after four chunks (100, 100, 300, 350, SMALL cut to whole blocks: n = 850), resumed with
    # the other chunk size.
    reported: list[int] = []
    stopped = small.run(settings, N, on_progress=lambda state: reported.append(state.n),
                        should_stop=lambda: len(reported) >= 4)
    assert stopped.n == 850 and not stopped.complete
    resumed = large.run(settings, N, state=stopped)
    assert stopped.n == 850  # the caller's state is left as it was
    assert_same_run(resumed, straight, LARGE, batch_invariant)

    # N grown from a finished shorter run, whose last chunk ended off the uninterrupted run's chunk boundaries.
    shorter = small.run(settings, 1100)
    grown = small.run(settings, N, state=shorter)
    assert shorter.n == 1100
    assert_same_run(grown, straight, LARGE, batch_invariant)

    assert_same_run(small.run(settings, N), straight, LARGE, batch_invariant)


def test_the_page_s_chunks_give_the_command_line_s_sums(mnist, lenet, batch_invariant: bool) -> None:
    """The dashboard sizes its chunks by the measured speed, the command line keeps fixed ones: their numbers must
    agree (a review found a test image changing class between them), to the bit where the model allows it."""
    from core.pacing import CHUNK_SECONDS

    settings, n = AnalysisSettings(NoiseSpec("uniform", seed=1)), 5_000  # the command line's 2,000-5,000 is one chunk
    command_line = Analyzer(lenet, mnist, "uniform").run(settings, n)
    page = Analyzer(lenet, mnist, "uniform", chunk_size=1024, chunk_seconds=CHUNK_SECONDS)
    page.run(settings, 300)  # a speed measured: later chunks follow it
    shown = page.run(settings, n, state=page.run(settings, 500))
    assert_same_sums(shown.sums, command_line.sums, 4_096, batch_invariant)
