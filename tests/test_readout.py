"""The whitened kernel and the linear read-out, on a linear model whose weights are known: logits = W·x + b."""

from __future__ import annotations

import numpy as np
import pytest

from core import readout
from core.analysis import regression_means
from core.reverse_correlation import AnalysisSettings, Analyzer
from core.noise import NoiseSpec, noise_samples
from tests.concurrency import at_once, slowly_counted


@pytest.fixture(scope="module")
def centroid_model(mnist):
    """A nearest-class-mean classifier as a Keras linear model: W_k = μ_k, b_k = −|μ_k|²/2 (about 82 % on MNIST).

    Its weights are digit-shaped, so pink noise smears them visibly in the raw kernel."""
    import keras

    pixels = mnist.train_images.reshape(-1, 784).astype(np.float32) / 255.0
    means = np.stack([pixels[mnist.train_labels == k].mean(axis=0) for k in range(10)])
    weights, bias = 5.0 * means, -2.5 * (means**2).sum(axis=1)  # × 5: a few logits between classes
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.layers[-1].set_weights([weights.T, bias])
    return model, weights, bias


def _run(model, data, kind: str, n: int, ratio: float = 0.0, sigma: float = 0.2):
    settings = AnalysisSettings(NoiseSpec(kind, sigma, 0), ratio)
    return Analyzer(model, data, kind).run(settings, n)


def _centred(weights: np.ndarray) -> np.ndarray:
    """The read-out fits centred logits (each minus the mean over classes): it recovers W minus its class mean."""
    return weights - weights.mean(axis=0)


def test_clipped_normal_moments_match_sampling() -> None:
    rng = np.random.default_rng(0)
    centre = np.array([0.5, 0.05, 0.9, 0.0])
    samples = np.clip(centre + 0.3 * rng.standard_normal((400_000, 4)), 0, 1)
    mean, variance = readout.clipped_normal_moments(centre, 0.3)
    np.testing.assert_allclose(mean, samples.mean(axis=0), atol=2e-3)
    np.testing.assert_allclose(variance, samples.var(axis=0), rtol=1e-2)
    zero_mean, zero_variance = readout.clipped_normal_moments(centre, 0.0)
    np.testing.assert_array_equal(zero_variance, 0.0)


@pytest.mark.parametrize("kind", ["uniform", "gaussian", "pink"])
def test_covariance_matches_the_noise_stream(kind: str) -> None:
    """Σ (exact, or measured with its own seed) against the covariance of other stimuli of the stream."""
    covariance = readout.noise_covariance(kind, 0.2)
    stimuli = noise_samples(NoiseSpec(kind, 0.2, 7), 0, 4_000).reshape(4_000, 784).astype(np.float64)
    assert abs(covariance.mean.mean() - stimuli.mean()) < 2e-3
    sampled = np.cov(stimuli, rowvar=False)
    np.testing.assert_allclose(np.diag(covariance.covariance).mean(), np.diag(sampled).mean(), rtol=0.02)
    if kind == "pink":  # neighbours are strongly correlated; the measured lag averages agree with fresh samples
        neighbour = np.array([covariance.covariance[p, p + 1] for p in range(0, 780, 28)])
        sampled_neighbour = np.array([sampled[p, p + 1] for p in range(0, 780, 28)])
        assert neighbour.mean() > 0.5 * np.diag(covariance.covariance).mean()
        assert abs(neighbour.mean() - sampled_neighbour.mean()) < 0.03 * np.diag(sampled).mean()
    else:
        assert np.count_nonzero(covariance.covariance - np.diag(np.diag(covariance.covariance))) == 0


def test_ridge_shrinks_and_zero_is_least_squares() -> None:
    rng = np.random.default_rng(1)
    basis = rng.standard_normal((784, 784))
    sigma = basis @ basis.T / 784 + 0.1 * np.eye(784)
    values, vectors = np.linalg.eigh(sigma)
    covariance = readout.NoiseCovariance(np.zeros(784), sigma, values, vectors, "test")
    kernel = rng.standard_normal((10, 784))
    np.testing.assert_allclose(readout.whiten(kernel, covariance, 0.0), np.linalg.solve(sigma, kernel.T).T,
                               rtol=1e-6, atol=1e-8)
    norms = [np.linalg.norm(readout.whiten(kernel, covariance, ridge)) for ridge in (0.0, 0.1, 1.0, 10.0)]
    assert all(a > b for a, b in zip(norms, norms[1:]))  # stronger ridge, smaller weights
    large = readout.whiten(kernel, covariance, 1e6)  # → kernel / (λ·s): the raw kernel's direction
    assert readout.kernel_correlation(large, kernel).min() > 0.999
    with pytest.raises(ValueError, match="ridge"):
        readout.whiten(kernel, covariance, -1.0)


def test_whitening_ignores_directions_without_variance() -> None:
    """Data-like noise never varies in the corners; at ridge 0 those pixels get zero weight, not infinity."""
    sigma = np.diag(np.r_[np.zeros(10), np.ones(774)])
    values, vectors = np.linalg.eigh(sigma)
    covariance = readout.NoiseCovariance(np.zeros(784), sigma, values, vectors, "test")
    whitened = readout.whiten(np.ones((10, 784)), covariance, 0.0)
    assert np.all(np.isfinite(whitened)) and covariance.condition == np.inf
    np.testing.assert_array_equal(whitened[:, :10], 0.0)


@pytest.mark.slow
def test_gaussian_whitened_kernel_recovers_weights_and_accuracy(centroid_model, mnist) -> None:
    """White noise: raw and whitened kernel both recover W; the read-out answers as the model does."""
    model, weights, bias = centroid_model
    # Chance correlations of N stimuli with W add an error of about √(784/N) to the kernel: 0.09 at 100,000
    state = _run(model, mnist, "gaussian", 100_000)
    covariance = readout.noise_covariance("gaussian", 0.2)
    fitted = readout.linear_readout(state, covariance, 0.0)
    assert readout.kernel_correlation(fitted.weights, _centred(weights)).min() > 0.99
    # The intercept: mean logit minus the weights at the mean stimulus, from the run's sums
    means = regression_means(state)
    np.testing.assert_allclose(fitted.intercept, means.logits - fitted.weights @ means.stimulus)
    own = np.argmax(mnist.test_images.reshape(-1, 784) / 255.0 @ weights.T + bias, axis=1)
    own_accuracy = float(np.mean(own == mnist.test_labels))
    assert 0.75 < own_accuracy < 0.9
    predictions = fitted.classify(mnist.test_images)
    assert np.mean(predictions == own) > 0.98
    assert abs(float(np.mean(predictions == mnist.test_labels)) - own_accuracy) < 0.01


@pytest.fixture(scope="module")
def random_linear_model():
    """A linear model with white random weights: pink noise smears them in the raw kernel beyond recognition."""
    import keras

    weights = np.random.default_rng(0).standard_normal((10, 784)).astype(np.float32)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.layers[-1].set_weights([weights.T, np.zeros(10, np.float32)])
    return model, weights


@pytest.mark.slow
def test_pink_whitened_kernel_recovers_weights_the_raw_one_does_not(random_linear_model, mnist) -> None:
    """Pink noise smears the raw kernel (Σ·W); whitening undoes it. The chance correlations of N stimuli leave an
    error of about √(Σᵢ s/λᵢ / N) in the whitened kernel (Σᵢ s/λᵢ ≈ 1,250 for clipped pink noise at σ = 0.5): at
    200,000 stimuli the correlation is about 0.994 (0.988 at 100,000 in one run, 0.978 at 50,000)."""
    model, weights = random_linear_model
    state = _run(model, mnist, "pink", 200_000, sigma=0.5)
    covariance = readout.noise_covariance("pink", 0.5)
    raw = readout.raw_kernel(state).images.reshape(10, 784)
    target = _centred(weights)
    whitened_r = readout.kernel_correlation(readout.linear_readout(state, covariance, 0.0).weights, target)
    raw_r = readout.kernel_correlation(raw, target)
    assert whitened_r.min() > 0.99, whitened_r
    assert raw_r.max() < 0.6, raw_r  # about 0.42


def test_readout_rescales_the_noise_part_by_one_minus_r(centroid_model, mnist) -> None:
    """At r > 0 the noise enters as (1 − r)·noise: the read-out's weights on the input are still W."""
    model, weights, _ = centroid_model
    state = _run(model, mnist, "gaussian", 20_000, ratio=0.5)
    fitted = readout.linear_readout(state, readout.noise_covariance("gaussian", 0.2), 0.0)
    slope = np.sum(fitted.weights * _centred(weights)) / np.sum(_centred(weights) ** 2)
    assert abs(slope - 1.0) < 0.05
    with pytest.raises(ValueError, match="r = 1"):
        readout.linear_readout(_run(model, mnist, "gaussian", 100, ratio=1.0),
                               readout.noise_covariance("gaussian", 0.2), 0.0)


def test_input_readout_recovers_the_weights_over_images_mixed_with_noise(centroid_model, mnist) -> None:
    """Least squares of the logits on the whole stimulus, signal and noise: for a linear network its weights are
    W again (the directions in which only the noise varies are as noisy as the noise kernel at this N, so the
    test is the slope and the answers on real images, not a pixel correlation); at r = 0 it is the noise
    read-out."""
    model, weights, bias = centroid_model
    noise = readout.noise_covariance("gaussian", 0.2)
    state = _run(model, mnist, "gaussian", 20_000, ratio=0.5)
    covariance = readout.input_covariance(0.5, mnist.test_images, noise)
    fitted = readout.input_readout(state, covariance, 0.0)
    slope = np.sum(fitted.weights * _centred(weights)) / np.sum(_centred(weights) ** 2)
    assert abs(slope - 1.0) < 0.02, slope  # 0.9995 in one run
    own = (mnist.test_images.reshape(-1, 784) / 255.0 @ weights.T + bias).argmax(axis=1)
    answers = fitted.classify(mnist.test_images)
    assert np.mean(answers == own) > 0.94  # 0.957: the network's own answers, not just its accuracy
    assert abs(np.mean(answers == mnist.test_labels) - np.mean(own == mnist.test_labels)) < 0.02
    # the Kernels page's accuracies CSV: the same read-out at each λ, a heavy ridge pulling it towards the raw kernel
    column = readout.input_readout_accuracies(state, covariance, (0.0, 1e6), mnist.test_images, mnist.test_labels)
    assert column[0] == np.mean(answers == mnist.test_labels)
    assert column[1] == np.mean(readout.input_readout(state, covariance, 1e6).classify(mnist.test_images)
                                == mnist.test_labels) != column[0]
    pure = _run(model, mnist, "gaussian", 2_000)
    np.testing.assert_allclose(readout.input_readout(pure, readout.input_covariance(0.0, mnist.test_images, noise),
                                                     0.01).weights,
                               readout.linear_readout(pure, noise, 0.01).weights, rtol=1e-6, atol=1e-9)


def test_kernels_page_sends_the_gradient_grouping_to_its_whitened_kernel(real_data_dir) -> None:
    """With Gaussian noise the gradient kernel exists and is whitened already (E[∇ logit], on Classification
    images): the page says so and links there, instead of calling it a label grouping with no Σ⁻¹."""
    from tests.apptest import assert_clean, open_page

    at = open_page("pages/kernels.py", n="1000", r="0.0", noise="gaussian", estimator="gradient", part="noise")
    assert_clean(at)
    assert any("needs no whitening here" in info.value for info in at.info), [info.value for info in at.info]
    assert not any("label" in info.value for info in at.info) and not at.get("plotly_chart")
    assert at.button(key="use_kernel") is not None


@pytest.mark.slow  # the ridge curve: 10,000 test images at every λ
def test_the_ridge_curve_warns_of_lambda_zero_where_the_noise_hardly_varies(real_data_dir) -> None:
    """Pink noise at σ 0.1 has almost no overall brightness to vary (Σ's condition number ~10⁷): at λ = 0 the
    whitened kernel correlated 0.25 with a linear model's weights, 0.89 at λ = 0.1 (a reviewer). The page says so
    at λ = 0, and not once λ > 0."""
    from tests.apptest import assert_clean, open_page

    at = open_page("pages/kernels.py", n="1000", r="0.0", noise="pink", sigma="0.1", estimator="regression",
                   part="noise", ridge="0")
    assert_clean(at)
    assert any("divided by almost nothing" in caption.value for caption in at.caption)
    at.select_slider(key="ridge").set_value(0.1).run()
    assert_clean(at)
    assert not any("divided by almost nothing" in caption.value for caption in at.caption)
    assert any("condition number" in caption.value for caption in at.caption)


@pytest.mark.slow
def test_kernels_page_explains_then_switches_to_the_kernel(real_data_dir) -> None:
    """Default link (ground-truth averages of the whole input): a message and a switch; then both kernels, the
    accuracies and the ridge curve; moving λ redraws the whitened kernel and leaves the raw one."""
    from tests.apptest import assert_clean, figure_data, open_page

    at = open_page("pages/kernels.py", n="1000", r="0.0", noise="gaussian")
    assert_clean(at)
    assert any("needs the regression sums" in info.value for info in at.info) and not at.get("plotly_chart")
    at.button(key="use_kernel").click().run()
    assert_clean(at)
    assert at.query_params["estimator"] == "regression" and at.query_params["part"] == "noise"
    assert len(at.get("plotly_chart")) == 3
    metrics = {m.label: float(m.value.rstrip("%")) for m in at.metric}
    assert 15 < metrics["Linear read-out"] <= 100 and 15 < metrics["Whitened template"] <= 100
    # the same weights with intercepts fitted on training images lose the class bias the noise gave them
    assert metrics["Linear read-out"] - 2 <= metrics["Fitted intercepts"] <= 100
    curve = figure_data(at, 2)
    assert [trace["name"] for trace in sorted(curve, key=lambda trace: trace["legendrank"])] == [
        "raw kernel, template rule", "whitened kernel, template rule", "linear read-out"]
    # under white noise the whitened line lies exactly on the raw one: the raw one is drawn over it, dashed
    assert curve[-1]["name"] == "raw kernel, template rule" and curve[-1]["line"]["dash"] == "dash"
    assert curve[-1]["y"] == curve[0]["y"] and any("lies under the grey one" in c.value for c in at.caption)
    raw, whitened = figure_data(at, 0), figure_data(at, 1)
    at.select_slider(key="ridge").set_value(10.0).run()
    assert_clean(at)
    assert figure_data(at, 0) == raw and figure_data(at, 1) != whitened


@pytest.mark.slow
def test_kernels_page_refuses_r_one_and_reads_ridge_from_the_link(real_data_dir) -> None:
    from tests.apptest import assert_clean, open_page

    at = open_page("pages/kernels.py", n="100", r="1.0", estimator="regression", part="noise", ridge="0.3")
    assert_clean(at)
    assert [w.value for w in at.warning if "r = 1" in w.value] == [  # one note, not the controls' too
        "At r = 1 no noise reaches the model: there is nothing to regress the logits on. Lower r."]
    assert at.select_slider(key="ridge").value == 0.3


@pytest.mark.slow
def test_kernels_page_adds_the_whole_input_readout_when_images_are_mixed_in(real_data_dir) -> None:
    """At r > 0 the page also regresses the logits on the whole stimulus; it reads real images far better than
    the noise read-out (the network's own answers on the images it was fitted on); at r = 0 it is not offered."""
    from tests.apptest import assert_clean, open_page

    at = open_page("pages/kernels.py", n="2000", r="0.9", noise="gaussian", estimator="regression", part="noise")
    assert_clean(at)
    metrics = {m.label: float(m.value.rstrip("%")) for m in at.metric}
    # 73.6 against 14.1 % in one run: at r = 0.9 the noise part is small, and the images carry the read-out
    assert metrics["Whole-input read-out"] > metrics["Linear read-out"] + 20 and metrics["Whole-input read-out"] > 70
    assert any("in-sample" in caption.value for caption in at.caption)
    at = open_page("pages/kernels.py", n="1000", r="0.0", noise="gaussian", estimator="regression", part="noise")
    assert_clean(at)
    assert "Whole-input read-out" not in {m.label for m in at.metric}


@pytest.mark.slow
@pytest.mark.parametrize("ratio", ["0", "0.9"])
def test_cli_analyze_writes_the_whitened_kernel_and_readout(ratio: str, tmp_path, real_data_dir) -> None:
    import json
    import subprocess
    import sys

    from core.config import PROJECT_ROOT

    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "core", "analyze", "--arch", "lenet", "--dataset", "mnist",
                           "--samples", "2000", "--ratio", ratio, "--noise", "gaussian", "--estimator", "regression",
                           "--ridge", "0.3", "--out", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "linear read-out" in done.stdout
    kernel = np.load(out / "whitened_kernel.npy")
    assert kernel.shape == (10, 28, 28) and np.load(out / "readout_intercept.npy").shape == (10,)
    whitened = json.loads((out / "summary.json").read_text())["whitened"]
    assert whitened["ridge"] == 0.3 and whitened["covariance"] == "exact"
    # White noise: whitening only rescales the kernel, so the template rule gives the raw kernel's answer
    assert whitened["whitened_template_accuracy"] == pytest.approx(whitened["raw_kernel_template_accuracy"])
    assert 0.1 < whitened["readout_accuracy"] <= 1.0
    whole = whitened["input_readout_accuracy_in_sample"]  # images in the stimuli: the whole-input read-out too
    if ratio == "0":
        assert whole is None and not (out / "input_readout_weights.npy").exists()
    else:
        assert whole > whitened["readout_accuracy"] + 0.2 and "whole-input read-out" in done.stdout
        assert np.load(out / "input_readout_weights.npy").shape == (10, 28, 28)
    # Σ of gaussian noise is diagonal and uniform: the whitened kernel is the raw one over (variance · (1 + λ))
    raw = np.load(out / "class_images.npy")
    assert readout.kernel_correlation(kernel.reshape(10, -1), raw.reshape(10, -1)).min() > 0.9999


def test_fitted_intercept_recovers_known_offsets() -> None:
    """Labels drawn from softmax(W·x + b): the fitted intercepts are b (up to a common shift), the scale 1."""
    rng = np.random.default_rng(3)
    weights = rng.standard_normal((10, 784)) * 0.05
    images = rng.random((12_000, 784), dtype=np.float32)
    offsets = np.linspace(-2.0, 2.0, 10)
    logits = images @ weights.T + offsets
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    labels = (probabilities.cumsum(axis=1) > rng.random((len(images), 1))).argmax(axis=1)
    fitted = readout.fitted_intercept(weights, images, labels)
    np.testing.assert_allclose(fitted, offsets - offsets.mean(), atol=0.2)  # ±0.15 at 12,000 images
    # uint8 images are read on the 0–1 scale, as by LinearReadout.logits
    as_bytes = np.round(images * 255).astype(np.uint8)
    np.testing.assert_allclose(readout.fitted_intercept(weights, as_bytes, labels), fitted, atol=0.02)


def test_fitted_intercept_removes_a_class_bias(centroid_model, mnist) -> None:
    """The centroid model's weights with a wrong intercept (+100 logits for class 1, more than the spread
    of its own intercepts) lose most of their accuracy; intercepts fitted on 5,000 training images bring it back to the
    model's own (about 82 %)."""
    _, weights, bias = centroid_model
    biased = readout.LinearReadout(weights.astype(np.float64), bias + 100.0 * (np.arange(10) == 1))
    own = float(np.mean(readout.LinearReadout(weights, bias).classify(mnist.test_images) == mnist.test_labels))
    wrong = float(np.mean(biased.classify(mnist.test_images) == mnist.test_labels))
    refitted = readout.with_fitted_intercept(biased, mnist.train_images[:5000], mnist.train_labels[:5000])
    right = float(np.mean(refitted.classify(mnist.test_images) == mnist.test_labels))
    assert wrong < own - 0.3 and right > own - 0.02, (own, wrong, right)
    np.testing.assert_array_equal(refitted.weights, biased.weights)


def test_noise_covariances_kept_are_bounded() -> None:
    """Each σ seen kept ~10 MB for the server's lifetime (a soak test reached 3.5 GB): the cache keeps a few and
    measures again what it dropped, to the same numbers."""
    from core import readout

    first = readout.noise_covariance("gaussian", 0.05)
    for step in range(2, readout.COVARIANCES_KEPT + 4):
        readout.noise_covariance("gaussian", 0.05 * step / 2)
    assert len(readout._COVARIANCES) == readout.COVARIANCES_KEPT
    again = readout.noise_covariance("gaussian", 0.05)
    assert again is not first and np.array_equal(again.covariance, first.covariance)


def test_a_noise_covariance_asked_for_by_many_sessions_at_once_is_computed_once(monkeypatch) -> None:
    """A class opening the Significance page together: one session measures Σ, the others wait for it."""
    calls: list[int] = []
    monkeypatch.setattr(readout, "_exact_moments", slowly_counted(calls, readout._exact_moments))
    results = at_once(lambda: readout.noise_covariance("gaussian", 0.4321))
    assert len(calls) == 1 and all(result is results[0] for result in results)
