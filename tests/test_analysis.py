"""Estimators against a model whose answer is known, streaming invariants, and a real-model check."""

from __future__ import annotations

import numpy as np
import pytest

from core import analysis, reverse_correlation
from core.analysis import class_images
from core.reverse_correlation import AnalysisSettings, Analyzer
from core.data import Dataset
from core.noise import NoiseSpec
from tests.concurrency import at_once, slowly_counted


def synthetic_dataset(test_count: int = 500) -> Dataset:
    rng = np.random.default_rng(0)
    labels = np.arange(test_count) % 10
    images = rng.integers(0, 120, (test_count, 28, 28)).astype(np.uint8)
    for digit in range(10):  # a bright band per class, so classes differ
        images[labels == digit, 2 * digit : 2 * digit + 3, :] = 230
    return Dataset("mnist", rng.integers(0, 256, (100, 28, 28)).astype(np.uint8), np.arange(100) % 10,
                   images, labels.astype(np.uint8), "synthetic", 0.0, tuple(str(d) for d in range(10)))


def linear_softmax_model(kernel: np.ndarray, bias: np.ndarray):
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.layers[-1].set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return model


@pytest.fixture(scope="module")
def known_model():
    kernel = np.random.default_rng(42).normal(0, 0.12, (784, 10))
    bias = -0.5 * kernel.sum(axis=0)  # balances the classes under noise of mean 0.5
    return linear_softmax_model(kernel, bias), kernel


@pytest.fixture(scope="module")
def data() -> Dataset:
    return synthetic_dataset()


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_softmax_and_regression_recover_known_weights(known_model, data) -> None:
    model, kernel = known_model
    state = Analyzer(model, data, "uniform").run(AnalysisSettings(NoiseSpec("uniform", seed=1)), 20_000)
    truth = (kernel - kernel.mean(axis=1, keepdims=True)).T.reshape(10, 28, 28)
    for estimator in ("softmax", "regression"):
        images = class_images(state, estimator, "noise").centred
        correlations = [_correlation(images[c], truth[c]) for c in range(10)]
        assert min(correlations) >= 0.9, (estimator, correlations)
    predicted = class_images(state, "predicted", "noise").centred
    assert min(_correlation(predicted[c], truth[c]) for c in range(10)) >= 0.7


def test_result_does_not_depend_on_chunk_size(known_model, data) -> None:
    model, _ = known_model
    settings = AnalysisSettings(NoiseSpec("pink", 0.2, seed=3), ratio=0.4)
    a = Analyzer(model, data, "pink", chunk_size=1000).run(settings, 2500)
    b = Analyzer(model, data, "pink", chunk_size=333).run(settings, 2500)
    assert np.array_equal(a.sums.confusion, b.sums.confusion)
    assert np.allclose(a.sums.noise_weighted, b.sums.noise_weighted, rtol=1e-6, atol=1e-4)
    assert np.allclose(a.sums.signal_weighted, b.sums.signal_weighted, rtol=1e-6, atol=1e-4)
    assert np.allclose(a.sums.noise_sumsq, b.sums.noise_sumsq, rtol=1e-6)
    assert sorted(a.snapshots) == sorted(b.snapshots) == [100, 200, 500, 1000, 2000, 2500]


def test_chunks_computed_two_at_a_time_add_up_to_the_serial_sums_to_the_bit(known_model, data) -> None:
    """``run`` keeps two chunks in flight on two threads; it must add them in stimulus order, so its sums are the
    one-chunk-after-another sums exactly, snapshots included."""
    model, _ = known_model
    analyzer = Analyzer(model, data, "gaussian", chunk_size=300)
    settings = AnalysisSettings(NoiseSpec("gaussian", 0.2, seed=5), ratio=0.3)
    seen: list[int] = []
    piped = analyzer.run(settings, 2500, on_progress=lambda state: seen.append(state.n))
    serial, serial_at_1000 = analyzer.start(settings), None
    while serial.n < 2500:
        analyzer._add_chunk(serial.sums, settings, analyzer._next_chunk(serial.n, 2500, settings))
        serial_at_1000 = serial.sums.copy() if serial.n == 1000 else serial_at_1000
    assert seen == sorted(seen) and seen[0] == 100 and seen[-1] == 2500  # one report per chunk, in order
    for name in ("noise_weighted", "signal_weighted", "weight_sum", "weight_sq", "weight_products",
                 "noise_sumsq", "confusion"):
        assert np.array_equal(getattr(piped.sums, name), getattr(serial.sums, name)), name
    assert np.array_equal(piped.snapshots[1000].noise_weighted, serial_at_1000.noise_weighted)
    assert sorted(piped.snapshots) == [100, 200, 500, 1000, 2000, 2500]


def test_whole_input_images_are_the_mix_of_their_parts(known_model, data) -> None:
    """Whole-input averages are r·(Σ w·signal) + (1 − r)·(Σ w·noise): check them against the stimuli
    r·signal + (1 − r)·noise averaged directly, one by one, across a wrap of the test set."""
    from core.noise import mix, noise_samples

    model, _ = known_model
    settings = AnalysisSettings(NoiseSpec("uniform", seed=2), ratio=0.6)
    count = len(data.test_labels) + 200  # the stream wraps round the test set
    state = Analyzer(model, data, "uniform", chunk_size=128).run(settings, count)
    stimuli = mix(data.test_images[np.arange(count) % len(data.test_labels)] / 255.0,
                  noise_samples(settings.noise, 0, count, data.train_images), settings.ratio)
    labels = data.test_labels[np.arange(count) % len(data.test_labels)]
    truth = class_images(state, "truth", "input")
    for digit in range(10):
        assert np.allclose(truth.images[digit], stimuli[labels == digit].mean(axis=0), atol=1e-5)
    assert np.allclose(truth.baseline, stimuli.mean(axis=0), atol=1e-5)


def test_ground_truth_run_is_the_full_runs_truth_without_the_model(known_model, data) -> None:
    """The dashboard draws ground-truth images from a pass without the model, before the model's pass: they must
    be the model pass's images to the bit, and nothing that needs the model may come out of it."""
    model, _ = known_model
    engine = Analyzer(model, data, "uniform", chunk_size=256)
    for ratio in (0.6, 0.0):
        settings = AnalysisSettings(NoiseSpec("uniform", seed=4), ratio=ratio)
        free, full = engine.ground_truth_run(settings, 1200), engine.run(settings, 1200)
        for source in ("input", "noise"):
            a, b = class_images(free, "truth", source), class_images(full, "truth", source)
            assert np.array_equal(a.images, b.images) and np.array_equal(a.weights, b.weights)
        noise = class_images(free, "truth", "noise")
        assert np.array_equal(analysis.z_scores(free, noise), analysis.z_scores(full, noise))
        assert np.isnan(free.sums.noise_weighted[:10]).all() and not free.sums.confusion.any()
        for estimator in ("predicted", "softmax", "regression"):
            with pytest.raises(ValueError, match="need the model"):
                class_images(free, estimator, "noise")
        with pytest.raises(ValueError, match="without the model"):
            engine.run(settings, 2000, state=free)


def test_ground_truth_run_reports_its_growing_sums(known_model, data) -> None:
    """A slow machine draws the model-free preview as it grows: every chunk but the last is reported, with the
    sums so far, and reporting changes nothing in the result."""
    model, _ = known_model
    engine = Analyzer(model, data, "uniform", chunk_size=256)
    settings = AnalysisSettings(NoiseSpec("uniform", seed=4), ratio=0.7)
    seen: list[tuple[int, np.ndarray]] = []
    reported = engine.ground_truth_run(
        settings, 1200, on_progress=lambda state: seen.append((state.n, class_images(state, "truth", "input").images)))
    assert [n for n, _ in seen] == [100, 200, 450, 500, 750, 1000]  # chunks of 250 (SUM_BLOCK's), cut at the snapshots
    assert np.array_equal(class_images(engine.ground_truth_run(settings, 500), "truth", "input").images, seen[3][1],
                          equal_nan=True)
    quiet = engine.ground_truth_run(settings, 1200)
    assert np.array_equal(class_images(reported, "truth", "input").images,
                          class_images(quiet, "truth", "input").images)


def test_fewer_than_ten_samples(known_model, data) -> None:
    model, _ = known_model
    state = Analyzer(model, data, "uniform").run(AnalysisSettings(), 5)
    images = class_images(state, "predicted", "noise")
    assert state.n == 5 and images.empty.sum() >= 5
    assert np.isnan(images.images[images.empty]).all() and np.isfinite(images.images[~images.empty]).all()
    counts, _ = analysis.convergence(state, "softmax", "noise")
    assert list(counts) == [5]
    with pytest.raises(ValueError, match="at least 1"):
        Analyzer(model, data, "uniform").run(AnalysisSettings(), 0)


def test_ratio_one_averages_the_real_images(known_model, data) -> None:
    model, _ = known_model
    state = Analyzer(model, data, "uniform").run(AnalysisSettings(ratio=1.0), len(data.test_labels))
    images = class_images(state, "truth", "input")
    expected = np.stack([data.test_images[data.test_labels == c].mean(axis=0) / 255 for c in range(10)])
    assert np.allclose(images.images, expected, atol=1e-6)
    template = analysis.template_classify(images, data.test_images, data.test_labels,
                                          data.train_images.mean(axis=0) / 255)
    assert template.accuracy > 0.9


def test_template_classifier_picks_the_template_of_highest_cosine_similarity(known_model, data) -> None:
    """The classifier skips normalising the test images (it cannot change the argmax): check against cosine."""
    model, _ = known_model
    state = Analyzer(model, data, "uniform").run(AnalysisSettings(NoiseSpec(seed=6), ratio=0.3), 2000)
    mean_image = data.train_images.mean(axis=0) / 255
    tests = data.test_images.reshape(len(data.test_images), -1) / 255 - mean_image.reshape(1, -1)
    for estimator in ("truth", "softmax", "regression"):
        images = class_images(state, estimator, "noise")
        templates = images.images.reshape(10, -1) - images.images.reshape(10, -1).mean(axis=0)
        cosine = (tests @ templates.T) / np.outer(np.linalg.norm(tests, axis=1), np.linalg.norm(templates, axis=1))
        result = analysis.template_classify(images, data.test_images, data.test_labels, mean_image)
        assert np.array_equal(result.predictions, cosine.argmax(axis=1)), estimator
        assert result.accuracy == np.mean(cosine.argmax(axis=1) == data.test_labels)


def test_class_never_predicted_is_empty_not_zero(data) -> None:
    bias = np.zeros(10)
    bias[3] = 50.0  # the model always answers 3
    model = linear_softmax_model(np.zeros((784, 10)), bias)
    state = Analyzer(model, data, "uniform").run(AnalysisSettings(), 1000)
    images = class_images(state, "predicted", "noise")
    assert list(np.flatnonzero(~images.empty)) == [3]
    assert np.isnan(images.images[images.empty]).all()
    fed_back = analysis.fed_back_matrix(model, images)
    assert np.isnan(fed_back[images.empty]).all() and analysis.self_classified(fed_back) == 1
    template = analysis.template_classify(images, data.test_images, data.test_labels, data.test_images.mean(0))
    assert set(template.predictions) == {3}
    assert state.sums.weight_sum[:10].tolist() == [0, 0, 0, 1000, 0, 0, 0, 0, 0, 0]  # class bias
    softmax = class_images(state, "softmax", "noise")
    assert not softmax.empty.any()  # every class still gets a (tiny) weight


def test_cancel_then_resume_equals_one_run(known_model, data) -> None:
    model, _ = known_model
    analyzer = Analyzer(model, data, "gaussian", chunk_size=400)
    settings = AnalysisSettings(NoiseSpec("gaussian", 0.25, seed=9))
    seen: list[int] = []

    # Stop once 200 stimuli were reported: the run returns without the chunk already in flight (200–500).
    partial = analyzer.run(settings, 3000, on_progress=lambda state: seen.append(state.n),
                           should_stop=lambda: bool(seen) and seen[-1] >= 200)
    assert partial.n == 200 and not partial.complete  # 100 + 100: chunks end at checkpoints 100 and 200
    assert sorted(partial.snapshots) == [100, 200]
    resumed = analyzer.run(settings, 3000, state=partial)
    straight = analyzer.run(settings, 3000)
    assert resumed.complete and np.allclose(resumed.sums.noise_weighted, straight.sums.noise_weighted, atol=1e-4)


def test_a_stop_does_not_wait_for_the_chunks_in_flight(known_model, data, monkeypatch) -> None:
    """A moved slider stops the run: it must return while its chunks are still in the model, not after them."""
    import threading
    import time

    model, _ = known_model
    analyzer = Analyzer(model, data, "uniform", chunk_size=400)
    release, original = threading.Event(), analyzer._chunk_sums

    def slow_after_the_first(settings, start, count, with_model=True):
        if start > 0:
            release.wait(timeout=30)  # a chunk that would take 30 s
        return original(settings, start, count, with_model)

    monkeypatch.setattr(analyzer, "_chunk_sums", slow_after_the_first)
    stop_at = [float("inf")]
    started = time.perf_counter()

    def first_chunk_done(state) -> None:
        stop_at[0] = time.perf_counter() + 0.2  # the slider moves 0.2 s later

    state = analyzer.run(AnalysisSettings(), 3000, on_progress=first_chunk_done,
                         should_stop=lambda: time.perf_counter() >= stop_at[0])
    took = time.perf_counter() - started
    release.set()
    assert state.n == 100 and took < 10  # back about 0.2 s after the first chunk, not after the 30 s ones


def chunks_at_speed(model, data, monkeypatch, stimuli_per_second: float) -> list[tuple[int, int]]:
    """The chunks (start, count) a live run (``chunk_seconds`` 0.05) of 20,000 stimuli picks, in stimulus order,
    when the model pass costs ``1 / stimuli_per_second`` each: one chunk at a time, as on a saturated CPU, however
    many are in flight. The pass is not run, and the run's clock moves only with it (its sums are one stimulus's,
    whatever the count), so the speed is the one asked for on any CPU, however busy (real sleeps measured less
    than the speed asked for on a loaded machine, and the chunks came out smaller)."""
    import threading
    import types

    from core import reverse_correlation

    analyzer = Analyzer(model, data, "uniform", chunk_size=8192, chunk_seconds=0.05)
    settings = AnalysisSettings(NoiseSpec(seed=4))
    busy, chunks, clock = threading.Lock(), [], [0.0]
    sums = analyzer._chunk_sums(settings, 0, 1)  # their shapes; their values do not matter here

    def paced(settings, start, count, with_model=True):
        with busy:
            clock[0] += count / stimuli_per_second
            chunks.append((start, count))
        return {name: value.copy() for name, value in sums.items()}

    monkeypatch.setattr(analyzer, "_chunk_sums", paced)
    monkeypatch.setattr(reverse_correlation, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    analyzer.run(settings, 20_000)
    return sorted(chunks)  # threads may take the lock out of order


def test_live_chunks_take_about_chunk_seconds_at_the_measured_speed(known_model, data, monkeypatch) -> None:
    """A slow machine gets small chunks (a redraw fits between two), a fast one large ones (no stutter of tiny
    redraws): about ``chunk_seconds`` × the speed measured so far, here 0.05 s × 10,000 or 40,000 stimuli/s, moved
    down to the chunk-size ladder."""
    model, _ = known_model
    slow, fast = ([count for start, count in chunks_at_speed(model, data, monkeypatch, speed) if start >= 10_000]
                  for speed in (10_000, 40_000))
    assert set(slow[:-1]) <= {400, 500}, slow  # 500 at the nominal speed, less with overheads
    assert set(fast[:-1]) <= {1500, 2000}, fast  # 2,000 less overheads; the last one ends at N
    assert min(fast[:-1]) > 2 * max(slow)


def test_live_chunks_come_in_a_few_sizes_at_any_speed(known_model, data, monkeypatch) -> None:
    """Chunk sizes from ``CHUNK_LADDER`` only, however the speed falls, and each run fills the intervals between its
    checkpoints exactly: a traced graph keeps memory for every batch shape it meets (``bench/chunk_shapes.py``)."""
    model, _ = known_model
    sizes = set()
    for speed in (3_000, 4_321, 7_777, 12_345, 25_000):
        chunks = chunks_at_speed(model, data, monkeypatch, speed)
        assert sum(count for _, count in chunks) == 20_000
        ends = {start + count for start, count in chunks}
        assert set(reverse_correlation.checkpoint_series(20_000)) <= ends
        sizes |= {count for _, count in chunks}
    assert sizes <= set(reverse_correlation.CHUNK_LADDER), sorted(sizes)
    assert len(sizes) <= 10, sorted(sizes)
    assert reverse_correlation.on_chunk_ladder(1_023) == 1_000 and reverse_correlation.on_chunk_ladder(37) == 37


def test_growing_and_shrinking_reuse_earlier_work(known_model, data, monkeypatch) -> None:
    model, _ = known_model
    analyzer = Analyzer(model, data, "uniform", chunk_size=1000)
    settings = AnalysisSettings(NoiseSpec(seed=2))
    first = analyzer.run(settings, 2000)
    computed = []
    original = analyzer._chunk_sums
    monkeypatch.setattr(analyzer, "_chunk_sums", lambda s, start, count, with_model=True: (
        computed.append(count), original(s, start, count, with_model))[1])
    grown = analyzer.run(settings, 4000, state=first)
    assert sum(computed) == 2000  # only the new samples
    assert first.n == 2000  # the earlier state is left as it was
    direct = Analyzer(model, data, "uniform", chunk_size=1000).run(settings, 4000)
    assert np.allclose(grown.sums.noise_weighted, direct.sums.noise_weighted, atol=1e-4)
    computed.clear()
    shrunk = analyzer.run(settings, 1000, state=grown)
    assert computed == [] and shrunk.n == 1000
    with pytest.raises(ValueError, match="other settings"):
        analyzer.run(AnalysisSettings(NoiseSpec(seed=3)), 5000, state=grown)


def test_z_scores_are_standard_normal_without_an_effect(data) -> None:
    model = linear_softmax_model(np.zeros((784, 10)), np.zeros(10))
    state = Analyzer(model, data, "uniform").run(AnalysisSettings(), 5000)
    # Grouping by the signal's label is independent of the noise: z ~ N(0, 1) pixel by pixel.
    z = analysis.z_scores(state, class_images(state, "truth", "noise"))
    assert 0.9 < np.std(z) < 1.1 and abs(np.mean(z)) < 0.05
    # Equal logits give every sample the same weight: no response shaped these images, so there is no z-map (NaN),
    # and nothing for the tests to find.
    for estimator in ("softmax", "regression"):
        z = analysis.z_scores(state, class_images(state, estimator, "noise"))
        assert np.isnan(z).all()


@pytest.mark.parametrize("estimator", ["softmax", "regression"])
def test_barely_varying_responses_have_no_z_map_and_nothing_significant(data, estimator: str) -> None:
    """Logits of the order of 1 that vary by a hair (10⁻⁶) from stimulus to stimulus: the weights' variance from
    float32 sums is round-off, and dividing by it gave |z| of hundreds on every pixel (a reviewer's null model: 7 of
    10 softmax maps wholly "significant"). Those classes now have no map; the significance tests find nothing."""
    from core import significance

    kernel = np.random.default_rng(3).normal(0.0, 1e-7, (784, 10))
    model = linear_softmax_model(kernel, np.linspace(-2.0, 2.0, 10))
    state = Analyzer(model, data, "uniform").run(AnalysisSettings(), 10_000)
    images = class_images(state, estimator, "noise")
    z = analysis.z_scores(state, images)
    assert np.isnan(z).all()
    regions = significance.significant_regions(state, images, "uniform", np.eye(784) / 12.0)
    assert regions.pixel.sum() == 0 and regions.cluster.sum() == 0


def test_z_scores_of_a_class_that_took_most_stimuli_are_standard_normal() -> None:
    """The class mean is compared with the mean of all stimuli, its own among them: divided by σ/√n_eff alone, a
    class behind 85 % of the stimuli had a null spread of 0.38, so the picture's "|z| > 3" meant 8 null SDs."""
    from tests.test_significance import run_with_labels

    rng = np.random.default_rng(11)
    n = 4_000
    noise = rng.integers(0, 256, (n, 784)) / 255.0
    labels = np.where(rng.random(n) < 0.85, 8, rng.integers(0, 10, n))  # random responses, mostly 8
    state = run_with_labels(noise, labels)
    z = analysis.z_scores(state, class_images(state, "predicted", "noise"))
    assert 0.9 < np.std(z[8]) < 1.1 and 0.9 < np.nanstd(z) < 1.1


@pytest.mark.parametrize("noise", ["uniform", "gaussian", "base", "pink", "data"])
@pytest.mark.parametrize("n", [100, 1000])
def test_z_scores_stay_standard_normal_at_small_n(data, noise: str, n: int) -> None:
    """The pixel spread once came from every 16th stimulus: at n = 1,000 some pixels' variance went negative
    and their |z| reached 10⁵."""
    model = linear_softmax_model(np.zeros((784, 10)), np.zeros(10))
    state = Analyzer(model, data, noise).run(AnalysisSettings(NoiseSpec(noise, seed=5)), n)
    z = analysis.z_scores(state, class_images(state, "truth", "noise"))
    varying = np.abs(z) > 0  # data noise is constant on the pixels the training images never use
    assert 0.8 < np.std(z[varying]) < 1.2 and np.abs(z).max() < 7


def test_convergence_ends_at_the_current_count_even_between_snapshots(known_model, data) -> None:
    model, _ = known_model
    state = Analyzer(model, data, "uniform", chunk_size=256).run(AnalysisSettings(), 1500)  # snapshots end at 1,000
    counts, correlations = analysis.convergence(state, "softmax", "noise")
    assert counts.tolist() == [100, 200, 500, 1000, 1500] and correlations[-1] == pytest.approx(1.0)


def test_bad_estimator_and_source(known_model, data) -> None:
    model, _ = known_model
    state = Analyzer(model, data, "uniform").run(AnalysisSettings(), 100)
    with pytest.raises(ValueError, match="unknown estimator"):
        class_images(state, "median", "noise")
    with pytest.raises(ValueError, match="unknown averaged part"):
        class_images(state, "truth", "label")


@pytest.mark.slow  # tens of thousands of stimuli through a shipped model
def test_shipped_model_on_real_data(mnist) -> None:
    from core.store import load_model

    model, _ = load_model("lenet", "mnist")
    analyzer = Analyzer(model, mnist, "uniform")
    original = analyzer.run(AnalysisSettings(NoiseSpec(seed=0), ratio=0.7), 1000)
    drawn = class_images(original, "truth", "input")
    assert analysis.self_classified(analysis.fed_back_matrix(model, drawn)) == 10
    stimuli_accuracy = np.trace(original.sums.confusion) / original.n
    assert stimuli_accuracy > 0.9  # at r = 0.7 the digits still show through
    pure = analyzer.run(AnalysisSettings(NoiseSpec(seed=0)), 20_000)
    bias = pure.sums.weight_sum[:10] / pure.n
    assert bias.max() > 0.3  # uniform noise is called mostly one class
    softmax = class_images(pure, "softmax", "noise")
    template = analysis.template_classify(softmax, mnist.test_images, mnist.test_labels, analyzer.mean_image)
    assert template.accuracy > 0.2  # chance is 0.1


def test_display_follows_the_averaged_part(known_model, data) -> None:
    model, _ = known_model
    state = Analyzer(model, data, "uniform").run(AnalysisSettings(ratio=0.5), 500)
    noise = class_images(state, "truth", "noise")
    whole = class_images(state, "truth", "input")
    kernel = class_images(state, "regression", "input")
    assert noise.signed and np.array_equal(noise.display, noise.centred, equal_nan=True)
    assert not whole.signed and np.array_equal(whole.display, whole.images, equal_nan=True)
    assert kernel.signed
    csv = analysis.matrix_csv("true_class", ["a", "b"], ["x", "y"], np.array([[1, 2], [3, 4]]), "d")
    assert csv == "true_class,a,b\nx,1,2\ny,3,4\n"


@pytest.mark.parametrize("kind", ["gaussian", "pink"])
def test_gradient_kernel_is_sigma_times_the_known_weights(known_model, data, kind: str) -> None:
    """Stein's lemma on a linear model: ∂ logit/∂noise is (1 − r)·W (centred over classes) for every stimulus,
    so E[∇] is exact from any N and Σ·E[∇] is the regression kernel's limit. σ = 0.05: no pixel is clipped."""
    model, kernel = known_model
    sigma, ratio = 0.05, 0.3
    settings = AnalysisSettings(NoiseSpec(kind, sigma, seed=9), ratio, gradients=True)
    engine = Analyzer(model, data, kind)
    state = engine.run(settings, 300)
    centred = (kernel - kernel.mean(axis=1, keepdims=True)).T  # (10, 784)
    whitened = analysis.gradient_kernel(state, whitened=True).images.reshape(10, 784)
    assert np.allclose(whitened, (1 - ratio) * centred, rtol=1e-4, atol=1e-6)
    covariance = engine.noise_covariance(settings)
    stein = class_images(state, "gradient", "input")  # a kernel of the noise, whatever part is asked for
    assert stein.part == "noise" and stein.signed and not stein.marks_scarce
    assert np.allclose(stein.images.reshape(10, 784), (1 - ratio) * centred @ covariance, rtol=1e-4, atol=1e-9)
    # and the black-box regression kernel of the same stream converges to it
    black_box = Analyzer(model, data, kind).run(AnalysisSettings(NoiseSpec(kind, sigma, seed=9), ratio), 20_000)
    regression = class_images(black_box, "regression", "noise").images.reshape(10, 784)
    assert np.mean([_correlation(regression[c], stein.images[c]) for c in range(10)]) > 0.9


def small_convolutional_model(padding: str, size: int):
    """Untrained but real Keras layers: a first filter the Stein pass splits at, then pooling and a dense head."""
    import keras

    keras.utils.set_random_seed(4)
    return keras.Sequential([keras.Input((28, 28, 1)),
                             keras.layers.Conv2D(6, size, padding=padding, activation="relu"),
                             keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])


@pytest.mark.parametrize("padding, size", [("same", 5), ("valid", 3)])
@pytest.mark.parametrize("sparse_clipping", [1.0, 0.0])  # every chunk through the gathered, then the dense branch
def test_gradients_split_at_the_first_filter_equal_the_plain_backward_pass(
        data, monkeypatch: pytest.MonkeyPatch, padding: str, size: int, sparse_clipping: float) -> None:
    """Fᵀ once on the summed gradients, corrected at each clipped pixel, is the per-stimulus chain rule.

    σ = 0.4 clips about a fifth of the pixels, so a wrong patch offset or kernel flip shows in the sums.
    """
    model = small_convolutional_model(padding, size)
    assert reverse_correlation.first_filter(model) is not None
    settings = AnalysisSettings(NoiseSpec("gaussian", 0.4, seed=5), 0.3, gradients=True)
    monkeypatch.setattr(reverse_correlation, "SPARSE_CLIPPING", sparse_clipping)
    split = Analyzer(model, data, "gaussian").run(settings, 300)
    monkeypatch.setattr(reverse_correlation, "first_filter", lambda _model: None)
    plain = Analyzer(model, data, "gaussian").run(settings, 300)
    scale = np.abs(plain.sums.gradient).max()
    assert scale > 0
    assert np.allclose(split.sums.gradient, plain.sums.gradient, rtol=0, atol=2e-5 * scale)
    assert np.array_equal(split.sums.noise_weighted, plain.sums.noise_weighted)  # the same forward pass


def test_first_filter_splits_only_a_plain_one_channel_convolution() -> None:
    import keras

    strided = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, strides=2), keras.layers.Flatten(),
                                keras.layers.Dense(10, activation="softmax")])
    assert reverse_correlation.first_filter(strided) is None
    assert reverse_correlation.first_filter(linear_softmax_model(np.zeros((784, 10)), np.zeros(10))) is None
    model = small_convolutional_model("same", 5)
    split = reverse_correlation.first_filter(model)
    images = np.random.default_rng(1).uniform(size=(8, 28, 28, 1)).astype(np.float32)
    assert np.array_equal(split.after(split.filtered(images)).numpy(),
                          reverse_correlation.logits_function(model)(images).numpy())


def test_gradient_chunks_after_the_first_are_not_sized_below_their_fixed_cost(known_model, data) -> None:
    """A time budget shorter than a gradient chunk's set-up: only the run's first chunk (its first picture) is
    smaller than STEADY_GRADIENT_CHUNK, and not below 50 stimuli (below that its picture is rough and hardly sooner);
    the others hold at least STEADY_GRADIENT_CHUNK stimuli or end at a checkpoint."""
    model, _ = known_model
    engine = Analyzer(model, data, "gaussian", chunk_seconds=0.001)
    settings = AnalysisSettings(NoiseSpec("gaussian", 0.2, 2), gradients=True)
    engine.run(settings, 300)  # measures the speed the budget is taken at
    ends: list[int] = []
    engine.run(AnalysisSettings(NoiseSpec("gaussian", 0.2, 3), gradients=True), 700,
               on_progress=lambda state: ends.append(state.n))
    sizes = np.diff([0, *ends])
    checkpoints = set(reverse_correlation.checkpoint_series(700)) | {700}
    assert 50 <= sizes[0] < reverse_correlation.STEADY_GRADIENT_CHUNK
    steady = reverse_correlation.STEADY_GRADIENT_CHUNK
    assert all(size >= steady or end in checkpoints for size, end in zip(sizes[1:], ends[1:]))


def test_gradient_runs_need_gaussian_noise_and_keep_their_sums_through_snapshots(known_model, data) -> None:
    with pytest.raises(ValueError, match="Gaussian"):
        AnalysisSettings(NoiseSpec("uniform", seed=1), gradients=True)
    model, _ = known_model
    settings = AnalysisSettings(NoiseSpec("gaussian", 0.2, 2), gradients=True)
    state = Analyzer(model, data, "gaussian").run(settings, 700)
    earlier = state.rewound_to(500)  # the snapshot at 500 carries the gradient sums too
    assert earlier.n == 500 and earlier.sums.gradient is not None
    fresh = Analyzer(model, data, "gaussian", chunk_size=77).run(settings, 500)
    kept, remade = (class_images(run, "gradient", "noise").images for run in (earlier, fresh))
    # Other chunks, other float32 rounding: the last class, minus the sum of the other nine, carries theirs.
    assert np.allclose(kept, remade, rtol=0, atol=1e-5 * np.abs(remade).max())
    with pytest.raises(ValueError, match="gradients"):
        analysis.gradient_kernel(Analyzer(model, data, "gaussian").run(
            AnalysisSettings(NoiseSpec("gaussian", 0.2, 2)), 100))
    with pytest.raises(ValueError, match="black-box"):
        analysis.z_scores(state, class_images(state, "gradient", "noise"))


def test_gradient_runs_compute_one_chunk_at_a_time(known_model, data, monkeypatch) -> None:
    """A chunk in flight when a moved control stops the run keeps computing, taking the CPU from the next run's
    first picture: gradient runs, whose noise is a sliver of a chunk, keep one in flight, not two."""
    from concurrent.futures import ThreadPoolExecutor

    running, most = [0], [0]

    def counted(work):
        def run(*args):
            running[0] += 1
            most[0] = max(most[0], running[0])
            try:
                return work(*args)
            finally:
                running[0] -= 1
        return run

    class Counting:
        def submit(self, owner, work, *args):
            return pool.submit(counted(work), *args)

        def finish(self, owner):
            pass

    with ThreadPoolExecutor(max_workers=8) as pool:
        monkeypatch.setattr(reverse_correlation, "_CHUNK_THREADS", Counting())
        model, _ = known_model
        state = Analyzer(model, data, "gaussian", chunk_size=64).run(
            AnalysisSettings(NoiseSpec("gaussian", 0.2, 2), gradients=True), 1000)
    assert state.n == 1000 and most[0] == 1


def test_analyzers_of_one_dataset_share_one_copy_of_its_test_set(known_model) -> None:
    """Every model and noise type of a dataset reads the same test-set constants: one 7.8-MB copy, not one per
    analyzer, and none left once the dataset's images are gone."""
    import gc

    model, _ = known_model
    data = synthetic_dataset()
    first, second = Analyzer(model, data, "uniform"), Analyzer(model, data, "gaussian")
    assert first.test_set[0] is second.test_set[0] and first.test_set[1] is second.test_set[1]
    assert np.array_equal(first.test_set[0].numpy(), data.test_images.reshape(len(data.test_labels), -1))
    other = synthetic_dataset()  # equal images, another dataset: its own copy
    assert Analyzer(model, other, "uniform").test_set[0] is not first.test_set[0]

    key = id(data.test_images)
    del first, second, data
    gc.collect()
    assert key not in reverse_correlation._TEST_SETS


def test_a_lenet_run_holds_half_a_chunk_of_its_largest_activation_at_a_time(data) -> None:
    """LeNet's first convolution makes 28 × 28 × 32 floats per stimulus (100 MB for a chunk of 1,024); with two
    chunks in flight whole chunks made TensorFlow's pool, which the process keeps, peak at ~250 MB for this run.
    The model takes each chunk in two halves, one after the other: ~145 MB."""
    import tensorflow as tf

    from core.models import build_model

    engine = Analyzer(build_model("lenet"), data, "uniform", chunk_size=1024)
    engine.run(AnalysisSettings(NoiseSpec("uniform", seed=1)), 2048)  # traced, and the pool made
    tf.config.experimental.reset_memory_stats("CPU:0")
    engine.run(AnalysisSettings(NoiseSpec("uniform", seed=2)), 4096)
    assert tf.config.experimental.get_memory_info("CPU:0")["peak"] < 200 * 2**20


@pytest.mark.parametrize("count", [1, 2, 7])  # one stimulus stays whole; an odd count: halves of 3 and 4
def test_halves_give_the_logits_of_the_whole_chunk(count: int) -> None:
    import tensorflow as tf

    from core.models import build_model

    model = build_model("lenet")  # convolutions: a half of no images would fail
    halves = tf.function(lambda images: reverse_correlation._in_halves(model, images),
                         input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    images = tf.random.stateless_uniform((count, 28, 28, 1), seed=(1, 2))
    np.testing.assert_allclose(halves(images).numpy(), model(images).numpy(), rtol=1e-5, atol=1e-6)


def test_the_traced_graphs_never_go_through_autograph(monkeypatch, mnist) -> None:
    """A browser review crashed every gradient run of a long-lived server with ``tf___noise_gradients() takes 3
    positional arguments but 6 were given``: AutoGraph's cache of converted functions handed back
    ``_noise_gradients`` for ``_filtered_noise_gradients`` (it depended on what the server had run before; not
    reproduced in a fresh process). Nothing in these graphs needs AutoGraph (their branches are Python values
    fixed at trace time; the halves use ``tf.cond``), so none of them is converted: the chunk steps with and
    without gradients (LeNet: the first-filter split), the forward pass and the STA chunk, all traced afresh."""
    from tensorflow.python.autograph.impl import api

    from core import models, sta
    from core.store import load_model

    def refuse(*args, **kwargs):
        raise AssertionError(f"AutoGraph converted {args[0] if args else kwargs}")

    monkeypatch.setattr(api, "converted_call", refuse)
    lenet = load_model("lenet", "mnist")[0]
    for gradients in (False, True):
        Analyzer(lenet, mnist, "gaussian").run(AnalysisSettings(NoiseSpec("gaussian", 0.2, 1), 0.3,
                                                                gradients=gradients), 20)
    kernel = np.random.default_rng(1).normal(0, 0.1, (784, 10))
    models.predict_probabilities(linear_softmax_model(kernel, np.zeros(10)), mnist.test_images[:5])
    sta.STAEngine(lenet, "uniform", None, layers=["conv1"]).run(NoiseSpec("uniform", seed=1), 10)



def test_an_analyzer_keeps_the_noise_covariance_of_a_few_sigmas_only(known_model, data) -> None:
    """Each σ a shared analyzer met kept its 4.9-MB Σ for the server's lifetime; now a few, the same when made
    again."""
    from core.reverse_correlation import COVARIANCES_PER_ANALYZER

    analyzer = Analyzer(known_model[0], data, "gaussian")
    first = analyzer.noise_covariance(AnalysisSettings(NoiseSpec("gaussian", 0.05)))
    for step in range(2, 12):
        analyzer.noise_covariance(AnalysisSettings(NoiseSpec("gaussian", 0.05 * step)))
    assert len(analyzer._covariances) == COVARIANCES_PER_ANALYZER
    again = analyzer.noise_covariance(AnalysisSettings(NoiseSpec("gaussian", 0.05)))
    assert again is not first and np.array_equal(again, first)


def test_a_shared_analyzer_computes_a_sigma_once_for_sessions_asking_at_once(known_model, data, monkeypatch) -> None:
    """Every session's gradient run needs the analyzer's Σ for its σ: one computes it, the others wait for it."""
    calls: list[int] = []
    monkeypatch.setattr(reverse_correlation, "gaussian_covariance",
                        slowly_counted(calls, reverse_correlation.gaussian_covariance))
    analyzer = Analyzer(known_model[0], data, "gaussian")
    results = at_once(lambda: analyzer.noise_covariance(AnalysisSettings(NoiseSpec("gaussian", 0.35))))
    assert len(calls) == 1 and all(result is results[0] for result in results)


@pytest.mark.parametrize(("ratio", "estimator", "part", "in_sample"), [
    (0.0, "softmax", "noise", False), (0.7, "truth", "input", True), (0.7, "truth", "noise", False),
    (0.7, "softmax", "noise", True), (0.7, "gradient", "noise", True), (0.3, "regression", "input", True)])
def test_a_template_accuracy_is_in_sample_where_the_templates_have_seen_the_test_images(ratio, estimator, part,
                                                                                       in_sample) -> None:
    """At r > 0 the stimuli hold the first N test images: averages of the whole input, or noise grouped by the
    model's answers to them, have seen them; noise grouped by the true label has not (a review)."""
    from core.analysis import templates_in_sample

    assert templates_in_sample(ratio, estimator, part) is in_sample
