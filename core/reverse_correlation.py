"""The reverse-correlation experiment: noise stimuli streamed through a model, the response-weighted sums kept.

One pass accumulates, inside the TensorFlow graph, the weighted pixel sums of every grouping at once (ground-truth
one-hot, predicted one-hot, softmax probabilities, centred logits; with gradients, the Stein sums), so switching
estimator or averaged part never re-runs the model; ``core.analysis`` turns the sums into class images. Only sums
are kept: memory does not grow with N.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from cachetools import LRUCache, cachedmethod
from cachetools.keys import hashkey

from core.config import IMAGE_SHAPE, NUM_CLASSES
from core.data import Dataset, kept_while_alive
from core.fair_pool import FairPool, Run
from core.noise import PIXELS, SIGMA_NOISE_TYPES, NoiseSpec, gaussian_covariance, noise_graph

GRADIENT_CHUNK = 250  # stimuli per chunk of a gradient run: nine backward passes hold nine times the activations
MIN_CHUNK = 256  # the smallest chunk a time budget may ask for (tiny ones pay overheads)
# The smallest gradient chunk, the first one's included: at half a CPU a chunk of 10 stimuli took 0.14-0.18 s, of
# 50 0.31-0.32 s, of 100 0.48-0.52 s (LeNet and AlexNet, MNIST), so a smaller first picture comes little sooner, and
# rough: bench/stein.py's AlexNet kernels correlate 0.61-0.87 with their converged form at 10-20 stimuli, 0.85-0.94
# at 50, where both LeNets' have converged (0.95 at 20-30). A fast machine's first chunk is 100 anyway.
MIN_GRADIENT_CHUNK = 50
# A gradient chunk's fixed cost (its backward passes' set-up) was about 0.12 s at half a CPU, so 20-stimulus chunks
# were mostly overhead and made a slow machine's 200-stimulus run 2.0-2.3 s instead of 0.85-1.0 s (and the
# speed they measured shrank the next chunks further). Only a run's first chunk, which brings its first picture,
# may be smaller than this.
STEADY_GRADIENT_CHUNK = 100
# The sizes a time budget picks a chunk from: multiples of 50 (so every interval between checkpoints, all multiples
# of 100, is filled exactly), about 1.3× apart. Each batch shape a traced graph meets keeps cached kernels and
# buffers in TensorFlow for the process's lifetime: 300 chunks of any size (256-1,024 stimuli; 50-256 with
# gradients) grew one analyzer by 127-169 MB, the same chunks on the ladder by 9-47 MB (``bench/chunk_shapes.py``);
# a server's analyzers met a new size at nearly every chunk, as the speed they are sized by moved.
CHUNK_LADDER = tuple(sorted({50 * m for m in range(1, 7)}
                            | {int(d * 10 ** k) for k in range(2, 7) for d in (1, 1.5, 2, 2.5, 3, 4, 5, 7.5)}))
# A float32 sum over a chunk rounds by the chunk's length (a matrix product adds in blocks of its own choosing), so
# the page, whose chunks follow the machine's speed, and the command line, with fixed ones, differed in the seventh
# digit, and a test image at a near-tie changed class between them (one in 10,000, found by a review). The weighted
# sums are taken per block of SUM_BLOCK stimuli instead (a block's float32 sums are the same in any chunk: checked
# by tests/test_stream_resume.py) and the blocks added in float64 in stimulus order: with chunks of whole blocks (the
# ladder's and the checkpoints' sizes are multiples of it, fixed chunks are cut to them), every chunking gives the
# same sums to the bit. It costs the engine 3-10 % (20-50 ms per 10,000 stimuli on a fast 2-core box:
# bench/results/ab_sum_blocks_engine_oneoff.log). The gradient sums, taken inside the backward pass, still round
# by chunk.
SUM_BLOCK = 50
# Row blocks of the accumulated weight matrix; the last row is all ones (plain pixel sums).
WEIGHT_ROWS = {name: slice(block * NUM_CLASSES, (block + 1) * NUM_CLASSES)
         for block, name in enumerate(("predicted", "truth", "softmax", "regression"))}
ONES_ROW = 4 * NUM_CLASSES
WEIGHT_ROW_COUNT = ONES_ROW + 1
DEFAULT_CHUNK = 4000  # whole blocks of SUM_BLOCK
COVARIANCES_PER_ANALYZER = 3  # noise Σ (4.9 MB each) an analyzer keeps for the Stein kernel, by σ
STOP_POLL = 0.01  # seconds between looks at ``should_stop`` while a chunk is in flight
PIPELINE_DEPTH = 2  # chunks computed at once by ``Analyzer.run``: one in the model, one drawing its noise
# Gradient runs keep one: their noise is a sliver of a chunk's time, and a chunk in flight when a moved control stops
# the run keeps computing. At half a CPU a second one made the next run's first chunk land 0.53-0.74 s after the
# stop instead of 0.41-0.54 s; a 500-stimulus run took as long either way.
GRADIENT_PIPELINE_DEPTH = 1
# A run still going after this many seconds (N of 100,000 or more; a slow machine's 10,000 take 4-6 s) sizes its
# chunks for a quarter of ``chunk_seconds``: a classmate's change waits for the long run's chunks already in the
# model (the fair pool holds back the rest), and shorter ones made that wait shorter (bench/fair_share.py).
LONG_RUN_SECONDS = 10.0
LATE_CHUNK_SHARE = 0.25
# Shared by every run of the process, the run that has had the least CPU first (core.fair_pool): one student's long
# run no longer halves everyone's speed. Threads kept: a thread's first TensorFlow call costs about 10 ms more
# (measured with a 20-stimulus gradient chunk), which a pool per run paid at every change.
_CHUNK_THREADS = FairPool(workers=PIPELINE_DEPTH)


def on_chunk_ladder(size: int) -> int:
    """The largest of ``CHUNK_LADDER`` not above ``size``; ``size`` itself below the ladder (the few stimuli left
    of a run whose length is not a multiple of 50)."""
    return max((step for step in CHUNK_LADDER if step <= size), default=size)


def checkpoint_series(limit: int) -> list[int]:
    """Sample counts 100, 200, 500, 1000, … below ``limit``: where snapshots are kept for convergence."""
    points, decade = [], 100
    while decade < limit:
        points.extend(p for p in (decade, 2 * decade, 5 * decade) if p < limit)
        decade *= 10
    return points


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything that defines a stimulus stream except its length."""

    noise: NoiseSpec = NoiseSpec()
    ratio: float = 0.0
    gradients: bool = False  # also sum the model's input gradients (the Stein estimator); Gaussian noise only

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio <= 1.0:
            raise ValueError(f"signal ratio r must be between 0 and 1, got {self.ratio}")
        if self.gradients and self.noise.kind not in SIGMA_NOISE_TYPES:
            raise ValueError(f"the gradient estimator needs Gaussian-family noise "
                             f"({', '.join(sorted(SIGMA_NOISE_TYPES))}), not {self.noise.kind!r}")


@dataclass
class Sums:
    """Sufficient statistics after ``n`` stimuli."""

    n: int
    noise_weighted: np.ndarray  # (41, 784): Σ_i w_i · noise_i for every weight row
    weight_sum: np.ndarray  # (41,)
    weight_sq: np.ndarray  # (41,): Σ w², for the effective sample size of weighted averages
    noise_sumsq: np.ndarray  # (784,): Σ noise² over all stimuli, for the z-scores' pixel spread
    # (41, 784): Σ_i w_i · signal_i, the test-image part of each stimulus on the 0–1 scale, for whole-input
    # averages. None when r = 0: the input is then the noise itself.
    signal_weighted: np.ndarray | None
    confusion: np.ndarray  # (10, 10): true class × predicted class on the stimuli
    # Runs with gradients only (else None): (10, 784) Σ_i ∂(centred logit)/∂noise_i, the Stein estimator's sum, and
    # the same sum times the noise's covariance Σ, which makes it comparable with the regression kernel.
    gradient: np.ndarray | None = None
    stein: np.ndarray | None = None
    # (41, 41): Σ_i w_i·w_iᵀ over the weight rows, whose diagonal is ``weight_sq``: the cross-class products a
    # weighted grouping's set infoVal needs (core/significance.py). None in Sums made before it was kept.
    weight_products: np.ndarray | None = None

    @classmethod
    def empty(cls, with_signal: bool = True, with_gradients: bool = False) -> Sums:
        signal_weighted = np.zeros((WEIGHT_ROW_COUNT, PIXELS)) if with_signal else None
        gradient = np.zeros((NUM_CLASSES, PIXELS)) if with_gradients else None
        stein = np.zeros((NUM_CLASSES, PIXELS)) if with_gradients else None
        return cls(0, np.zeros((WEIGHT_ROW_COUNT, PIXELS)), np.zeros(WEIGHT_ROW_COUNT), np.zeros(WEIGHT_ROW_COUNT),
                   np.zeros(PIXELS), signal_weighted, np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64), gradient, stein,
                   np.zeros((WEIGHT_ROW_COUNT, WEIGHT_ROW_COUNT)))

    def copy(self) -> Sums:
        def copied(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array.copy()

        return Sums(self.n, self.noise_weighted.copy(), self.weight_sum.copy(), self.weight_sq.copy(),
                    self.noise_sumsq.copy(), copied(self.signal_weighted), self.confusion.copy(),
                    copied(self.gradient), copied(self.stein), copied(self.weight_products))


@dataclass
class AnalysisState:
    """A resumable run: the sums now, plus snapshots at checkpoint counts for the convergence curve."""

    settings: AnalysisSettings
    sums: Sums
    snapshots: dict[int, Sums] = field(default_factory=dict)
    target: int = 0
    seconds: float = 0.0
    # Made without the model (``Analyzer.ground_truth_run``): only MODEL_FREE_ESTIMATORS' rows and the plain pixel
    # sums are filled; the model's rows are NaN and the stimulus confusion is empty.
    model_free: bool = False

    @property
    def n(self) -> int:
        return self.sums.n

    @property
    def class_bias(self) -> np.ndarray:
        """How many stimuli the model called each class (NaN rows for a run made without the model)."""
        return self.sums.weight_sum[WEIGHT_ROWS["predicted"]]

    @property
    def stimulus_accuracy(self) -> float | None:
        """Share of stimuli the model gave their test image's class; None at r = 0, where there is no such class."""
        if self.settings.ratio == 0 or self.n == 0:
            return None
        return float(np.trace(self.sums.confusion) / self.n)

    @property
    def complete(self) -> bool:
        return self.sums.n >= self.target

    def rewound_to(self, n_samples: int) -> AnalysisState:
        """The latest state at or below ``n_samples``, so a shorter request reuses earlier work."""
        usable = [n for n in self.snapshots if n <= n_samples]
        if self.sums.n <= n_samples:
            return self
        if not usable:
            return AnalysisState(self.settings, Sums.empty(with_signal=self.sums.signal_weighted is not None,
                                                           with_gradients=self.sums.gradient is not None))
        start = max(usable)
        kept = {n: s for n, s in self.snapshots.items() if n <= start}
        return AnalysisState(self.settings, self.snapshots[start].copy(), kept, seconds=0.0)


#: Called after every chunk with the growing run (a progress bar, a partial picture).
RunProgressCallback = Callable[[AnalysisState], None]


def logits_function(model: Any) -> Callable[[Any], Any]:
    """Pre-softmax outputs: read from the last Dense layer when it ends in softmax, else log-probabilities."""
    return _logits_of_layers(model, model.layers)


def _logits_of_layers(model: Any, layers: Sequence[Any]) -> Callable[[Any], Any]:
    """``layers`` (the model's, or its tail) run in turn, with the softmax of a last Dense layer left off."""
    import keras
    import tensorflow as tf

    last = model.layers[-1]
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax":
        body = [layer for layer in layers if layer is not last]

        def logits(x: Any) -> Any:
            for layer in body:
                x = layer(x, training=False)
            return tf.matmul(x, last.kernel) + last.bias

        return logits

    def log_probabilities(x: Any) -> Any:
        if list(layers) == list(model.layers):
            x = model(x, training=False)
        else:
            for layer in layers:
                x = layer(x, training=False)
        return tf.math.log(tf.maximum(x, 1e-30))

    return log_probabilities


@dataclass(frozen=True)
class FirstFilter:
    """A model whose first layer is a plain convolution of the one-channel image, split at that filter.

    The Stein estimator needs Σ over a chunk of each class's input gradient. The filter's transpose is linear and
    the same for every stimulus, so it can be applied once per class to the chunk's summed output gradients
    instead of once per stimulus and class; only clipped pixels, whose gradient is dropped, need it per stimulus.
    On a CPU that transpose (many channels back to one) was half of LeNet's backward passes.
    """

    kernel: Any  # (size, size, 1, channels)
    padding: str  # "SAME" or "VALID", stride 1
    after: Callable[[Any], Any]  # the filter's output (before its bias) -> logits, as ``logits_function``

    def filtered(self, images: Any) -> Any:
        import tensorflow as tf

        return tf.nn.convolution(images, tf.convert_to_tensor(self.kernel), strides=1, padding=self.padding,
                                 data_format="NHWC")


def first_filter(model: Any) -> FirstFilter | None:
    """The split of ``model`` at its first layer, when that is a stride-1 ``Conv2D`` on one channel, else None."""
    import keras

    first = model.layers[0]
    if not (type(first) is keras.layers.Conv2D  # a subclass may change its call
            and tuple(first.strides) == (1, 1) and tuple(first.dilation_rate) == (1, 1)
            and first.groups == 1 and first.data_format == "channels_last"
            and first.padding in ("same", "valid") and int(first.kernel.shape[2]) == 1):
        return None
    rest = _logits_of_layers(model, model.layers[1:])

    def after(filtered: Any) -> Any:  # Keras's Conv2D.call after its convolution: bias, then activation
        if first.use_bias:
            filtered = filtered + first.bias[None, None, None, :]
        return rest(first.activation(filtered))

    return FirstFilter(first.kernel, first.padding.upper(), after)


def _weights(truth_hot: Any, logits: Any | None) -> dict[str, Any]:
    """The weight rows of one chunk (see ``WEIGHT_ROWS``); without the model its rows are NaN."""
    import tensorflow as tf

    if logits is None:
        predicted_hot = probs = centred = tf.fill(tf.shape(truth_hot), np.float32(np.nan))
    else:
        probs = tf.nn.softmax(logits)
        predicted_hot = tf.one_hot(tf.argmax(logits, axis=1, output_type=tf.int32), NUM_CLASSES)
        centred = logits - tf.reduce_mean(logits, axis=1, keepdims=True)
    weights = tf.concat([predicted_hot, truth_hot, probs, centred, tf.ones_like(truth_hot[:, :1])], axis=1)
    return {"weights": weights, "predicted_hot": predicted_hot}


def _all_classes(first_nine: list[Any]) -> Any:
    """(10, 784) from the first nine classes' gradients: centred logits sum to zero over the classes, so do their
    gradients, and the last class's is minus the sum of the others. A backward pass per class is most of a
    gradient run's time (each costs more than the forward pass), so this saves a tenth of it."""
    import tensorflow as tf

    nine = tf.stack(first_nine)
    return tf.concat([nine, -tf.reduce_sum(nine, axis=0, keepdims=True)], axis=0)


def _noise_gradients(tape: Any, totals: list[Any], noise: Any) -> Any:
    """(10, 784): Σ over the chunk of each centred logit's gradient with respect to the Gaussian behind the noise.

    Each class's logits are summed over the chunk first, so this is one backward pass per class, not a Jacobian
    per stimulus (nine, in fact: ``_all_classes``). A clipped pixel (exactly 0 or 1) passes no gradient back to
    its Gaussian value.
    """
    import tensorflow as tf

    inside = tf.cast((noise > 0.0) & (noise < 1.0), tf.float32)
    return _all_classes([tf.reduce_sum(tape.gradient(total, noise) * inside, axis=0) for total in totals[:-1]])


#: Above this share of clipped pixels in a chunk, the filter's transpose runs per stimulus after all. Gathering
#: patches broke even with it at about 30 % clipped for LeNet's 32 5×5 filters and 5–10 % for AlexNet's 16 3×3
#: (a probe on a 2-core CPU); gaussian noise at σ = 0.2 clips 1 %, data noise about 40 %.
SPARSE_CLIPPING = 0.05


def _filtered_noise_gradients(tape: Any, totals: list[Any], filtered: Any, split: FirstFilter, noise: Any,
                              scale: Any) -> Any:
    """As ``_noise_gradients``, taking each class's gradient only down to the first filter's output.

    Σ_i inside_i ⊙ Fᵀ(δ_i) = Fᵀ(Σ_i δ_i) − Σ_i outside_i ⊙ Fᵀ(δ_i): the transpose Fᵀ runs once on the summed
    gradients, and per stimulus only at its clipped pixels (a gathered patch each). ``scale`` is ∂stimulus/∂noise.
    """
    import tensorflow as tf

    count = tf.shape(noise)[0]
    height, width = IMAGE_SHAPE
    kernel = tf.convert_to_tensor(split.kernel)
    size = int(kernel.shape[0])
    clipped = tf.reshape((noise <= 0.0) | (noise >= 1.0), (-1, height, width))
    inside = 1.0 - tf.cast(tf.reshape(clipped, (-1, PIXELS)), tf.float32)
    where = tf.where(clipped)  # (M, 3): stimulus, row, column of each clipped pixel
    sparse = tf.cast(tf.shape(where)[0], tf.float32) <= SPARSE_CLIPPING * tf.cast(count * PIXELS, tf.float32)
    # The patch of the padded output gradient that the transpose reads for pixel (y, x) starts at (y, x) and
    # pairs with the kernel flipped in both directions, for "SAME" as for "VALID" padding.
    out_height, out_width = (height, width) if split.padding == "SAME" else (height - size + 1, width - size + 1)
    top, left = ((size - 1) // 2, (size - 1) // 2) if split.padding == "SAME" else (0, 0)
    pads = [[0, 0], [size - 1 - top, height + top - out_height], [size - 1 - left, width + left - out_width], [0, 0]]
    offsets = tf.constant([[0, u, v] for u in range(size) for v in range(size)], tf.int64)  # (size², 3)
    # (M, size², 3) indices, made only where they are used: with data noise M is about 40 % of the chunk's pixels.
    patches = tf.cond(sparse, lambda: where[:, None, :] + offsets[None],
                      lambda: tf.zeros((0, size * size, 3), tf.int64))
    flipped = tf.reshape(kernel[::-1, ::-1, 0, :], (size * size, -1))
    pixel = where[:, 1] * width + where[:, 2]

    def transpose(delta: Any, images: Any) -> Any:
        return tf.nn.conv2d_transpose(delta, kernel, tf.stack([images, height, width, 1]), 1, split.padding)

    def one_class(total: Any) -> Any:
        delta = tape.gradient(total, filtered)  # (count, out_height, out_width, channels)

        def gathered() -> Any:
            whole = tf.reshape(transpose(tf.reduce_sum(delta, axis=0, keepdims=True), 1), (PIXELS,))
            at_clipped = tf.reduce_sum(tf.gather_nd(tf.pad(delta, pads), patches) * flipped, axis=[1, 2])
            return whole - tf.math.unsorted_segment_sum(at_clipped, pixel, PIXELS)

        def per_stimulus() -> Any:
            return tf.reduce_sum(tf.reshape(transpose(delta, count), (-1, PIXELS)) * inside, axis=0)

        return tf.cond(sparse, gathered, per_stimulus)

    return scale * _all_classes([one_class(total) for total in totals[:-1]])


def _in_blocks(rows: Any) -> Any:
    """(count, m) → (blocks, SUM_BLOCK, m), the last block filled up with zero rows (which add exact zeros)."""
    import tensorflow as tf

    count = tf.shape(rows)[0]

    def filled() -> Any:
        return tf.pad(rows, [[0, (count + SUM_BLOCK - 1) // SUM_BLOCK * SUM_BLOCK - count], [0, 0]])

    # whole blocks (every chunk but a run's last few stimuli) are reshaped without a copy
    return tf.reshape(tf.cond(count % SUM_BLOCK == 0, lambda: rows, filled), (-1, SUM_BLOCK, rows.shape[1]))


def _add_in_order(total: np.ndarray, blocks: np.ndarray) -> None:
    """``total`` += each block's sum in turn, in float64: the same additions in the same order however the blocks
    were chunked (``np.sum`` would pair them up by the chunk's length)."""
    for block in blocks:
        total += block


def _in_halves(logits_of: Any, images: Any) -> Any:
    """The model on a chunk's first half, then on its second: the largest activation (LeNet's first convolution,
    28 × 28 × 32 floats per stimulus) is held for half a chunk at a time. With two chunks in flight, whole chunks
    made TensorFlow's pool, kept for the process, peak at 298 MB."""
    import tensorflow as tf

    count = tf.shape(images)[0]

    def halves() -> Any:
        first = logits_of(images[: count // 2])
        with tf.control_dependencies([first]):  # the second half starts when the first is done
            second = logits_of(images[count // 2 :])
        return tf.concat([first, second], axis=0)

    # a chunk of one stimulus (a run's remainder can be) stays whole: a convolution over no images fails
    return tf.cond(count >= 2, halves, lambda: logits_of(images))


def _chunk_step(generate: Any, logits_of: Any | None, signal: Any, labels: Any, with_signal: bool,
                gradients: bool = False, split: FirstFilter | None = None) -> Any:
    """The traced graph for one chunk: stimuli in, weighted sums out. At r = 0 it skips gathering and mixing the
    test images; without ``logits_of`` it fills only the ground-truth and plain sums; with ``gradients`` it also
    sums the model's input gradients (the Stein estimator), taken down to ``split``'s first filter where given."""
    import tensorflow as tf

    test_count = int(labels.shape[0])

    # autograph=False: every branch below is a Python value fixed at trace time (the halves use tf.cond), and
    # AutoGraph's cache of converted functions once handed a long-lived server ``_noise_gradients`` in place of
    # ``_filtered_noise_gradients``, failing every gradient run from then on.
    @tf.function(
        input_signature=[tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int64),
                         tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32)],
        reduce_retracing=True, autograph=False,
    )
    def step(start: Any, count: Any, seed: Any, sigma: Any, ratio: Any) -> dict[str, Any]:
        noise = generate(start, count, seed, sigma)
        index = (start + tf.range(tf.cast(count, tf.int64))) % test_count
        tape = tf.GradientTape(persistent=True, watch_accessed_variables=False) if gradients else nullcontext()
        with tape:
            if gradients and split is None:
                tape.watch(noise)
            stimulus = noise
            if with_signal:  # r·signal + (1 − r)·noise, the 1/255 of the uint8 pixels folded into r
                pixels = tf.cast(tf.gather(signal, index), tf.float32)
                stimulus = (1.0 - ratio) * noise + (ratio / 255.0) * pixels
            images = tf.reshape(stimulus, (-1, *IMAGE_SHAPE, 1))
            if gradients and split is not None:
                filtered = split.filtered(images)
                tape.watch(filtered)
                logits = split.after(filtered)
            else:
                logits = None if logits_of is None else _in_halves(logits_of, images)
            if gradients:  # each class's centred logits summed over the chunk, on the tape
                centred = logits - tf.reduce_mean(logits, axis=1, keepdims=True)
                totals = tf.unstack(tf.reduce_sum(centred, axis=0), num=NUM_CLASSES)
        truth_hot = tf.one_hot(tf.gather(labels, index), NUM_CLASSES)
        rows = _weights(truth_hot, logits)
        weights, noise_blocks = _in_blocks(rows["weights"]), _in_blocks(noise)  # sums per block: see SUM_BLOCK
        products = tf.matmul(weights, weights, transpose_a=True)
        sums = {
            "noise_weighted": tf.matmul(weights, noise_blocks, transpose_a=True),
            # from the products, whose rows times the ones row are Σ w: a reduction over a block's stimuli (the
            # middle axis) rounded by the number of blocks in the chunk
            "weight_sum": products[:, :, ONES_ROW],
            "weight_sq": tf.linalg.diag_part(products),
            "weight_products": products,
            "noise_sumsq": tf.reduce_sum(tf.square(noise_blocks), axis=1),
        }
        if logits is not None:  # whole numbers, exact in float32 whatever the order
            sums["confusion"] = tf.matmul(truth_hot, rows["predicted_hot"], transpose_a=True)
        if with_signal:  # whole-input averages are r·(Σ w·signal) + (1 − r)·(Σ w·noise)
            sums["signal_weighted"] = tf.matmul(weights, _in_blocks(pixels), transpose_a=True) * (1.0 / 255.0)
        if gradients:
            sums["gradient"] = (_noise_gradients(tape, totals, noise) if split is None else
                                _filtered_noise_gradients(tape, totals, filtered, split, noise,
                                                          (1.0 - ratio) if with_signal else 1.0))
        return sums

    return step


_TEST_SETS: dict[int, tuple[Any, Any]] = {}


def shared_test_set(data: Dataset) -> tuple[Any, Any]:
    """The test images (uint8: 4× less memory than float) and labels as TensorFlow constants, one copy per dataset
    for all its analyzers. Each analyzer held its own, 7.8 MB per model and noise type: about 100 MB of a server
    that had shown both datasets. The copy goes when the dataset's images do."""
    import tensorflow as tf

    return kept_while_alive(data.test_images, _TEST_SETS, lambda: (
        tf.constant(data.test_images.reshape(len(data.test_labels), PIXELS)),
        tf.constant(data.test_labels.astype(np.int32))))


class Analyzer:
    """The compiled stimulus → model → sums graph for one model, dataset and noise type."""

    def __init__(self, model: Any, data: Dataset, noise_kind: str, chunk_size: int = DEFAULT_CHUNK,
                 chunk_seconds: float | None = None):
        """``chunk_seconds``: size each chunk to take about this long at the speed measured so far (up to
        ``chunk_size``), so a live picture can be redrawn between chunks on a slow machine as on a fast one. Its
        sums are those of fixed chunks to the bit (``SUM_BLOCK``), but for the gradient sums, which match to
        float32 rounding; leave it None for bit-exact reruns of those too (the CLI)."""
        if chunk_size < 1:
            raise ValueError("chunk size must be at least 1")
        self.chunk_size = chunk_size
        self.chunk_seconds = chunk_seconds
        self._speeds: dict[bool, float] = {}  # stimuli per second through the model, without and with gradients
        self.mean_image = data.train_images.mean(axis=0) / 255.0
        self.test_set = shared_test_set(data)
        signal, labels = self.test_set
        generate = noise_graph(noise_kind, data.train_images)
        logits_of = logits_function(model)
        split = first_filter(model)
        # Traced on first use only: most analyzers never run the gradient graphs.
        self._steps = {(with_signal, with_model, gradients): _chunk_step(
            generate, logits_of if with_model else None, signal, labels, with_signal, gradients, split)
            for with_signal in (False, True) for with_model in (False, True)
            for gradients in ((False, True) if with_model else (False,))}
        self._train_images = data.train_images
        # Σ (4.9 MB) for the last σ values used: one per σ ever seen, kept for the server's lifetime, reached
        # hundreds of MB over the sixteen shared analyzers.
        self._covariances: LRUCache = LRUCache(maxsize=COVARIANCES_PER_ANALYZER)
        # An analyzer serves every session's thread: one computes a Σ, the others asking for it wait for that one.
        self._covariances_ready = threading.Condition()

    def start(self, settings: AnalysisSettings) -> AnalysisState:
        return AnalysisState(settings, Sums.empty(with_signal=settings.ratio > 0, with_gradients=settings.gradients))

    def noise_covariance(self, settings: AnalysisSettings) -> np.ndarray:
        """Σ of the Gaussian behind this run's noise (before clipping), kept per σ."""
        return self._covariance_at(settings.noise.kind, float(np.float32(settings.noise.sigma)))

    @cachedmethod(lambda self: self._covariances, key=lambda self, kind, sigma: hashkey(kind, sigma),
                  condition=lambda self: self._covariances_ready)
    def _covariance_at(self, kind: str, sigma: float) -> np.ndarray:
        return gaussian_covariance(kind, sigma, self._train_images)

    def _chunk_sums(self, settings: AnalysisSettings, start: int, count: int,
                    with_model: bool = True) -> dict[str, np.ndarray]:
        """The sums of stimuli ``start`` … ``start + count − 1`` alone: safe to compute on another thread."""
        step = self._steps[settings.ratio > 0, with_model, settings.gradients and with_model]
        return {name: value.numpy() for name, value in
                step(np.int64(start), np.int32(count), np.int64(settings.noise.seed),
                     np.float32(settings.noise.sigma), np.float32(settings.ratio)).items()}

    def _add_sums(self, sums: Sums, settings: AnalysisSettings, out: dict[str, np.ndarray], count: int,
                  with_model: bool = True) -> None:
        """Add one chunk's sums; chunks must be added in stimulus order for the same sums to the bit."""
        _add_in_order(sums.noise_weighted, out["noise_weighted"])
        _add_in_order(sums.weight_sum, out["weight_sum"])
        _add_in_order(sums.weight_sq, out["weight_sq"])
        if sums.weight_products is not None:
            _add_in_order(sums.weight_products, out["weight_products"])
        _add_in_order(sums.noise_sumsq, out["noise_sumsq"])
        if with_model:
            sums.confusion += np.rint(out["confusion"]).astype(np.int64)
        if sums.signal_weighted is not None:
            _add_in_order(sums.signal_weighted, out["signal_weighted"])
        if sums.gradient is not None and with_model:
            sums.gradient += out["gradient"]
            sums.stein += out["gradient"] @ self.noise_covariance(settings)  # Σ symmetric: (Σ·g)ᵀ = gᵀ·Σ
        sums.n += count

    def _add_chunk(self, sums: Sums, settings: AnalysisSettings, count: int, with_model: bool = True) -> None:
        self._add_sums(sums, settings, self._chunk_sums(settings, sums.n, count, with_model), count, with_model)

    def ground_truth_run(self, settings: AnalysisSettings, n_samples: int,
                         on_progress: RunProgressCallback | None = None) -> AnalysisState:
        """The same stimuli grouped by their signal's label, without the model: the ground-truth class images.

        Generating the noise is a few per cent of a pass through the model, so the dashboard draws the original
        study's figure from this first and runs the model after it. Only ``class_images(…, "truth", …)`` and
        its z-scores may be taken from the result. ``on_progress`` sees the state after every chunk (a partial
        picture on a slow machine, where 10,000 stimuli take a few tenths of a second even without the model).
        """
        if n_samples < 1:
            raise ValueError(f"the number of samples must be at least 1, got {n_samples}")
        state = replace(self.start(settings), target=n_samples, model_free=True)
        while state.n < n_samples:  # the chunks of ``run``: the same sums, to the last bit
            self._add_chunk(state.sums, settings, self._next_chunk(state.n, n_samples, settings), with_model=False)
            if on_progress is not None and state.n < n_samples:
                on_progress(state)
        return state

    def _next_chunk(self, done: int, n_samples: int, settings: AnalysisSettings, first: bool = True,
                    late: bool = False) -> int:
        """Stimuli in the next chunk: up to the chunk size (smaller with gradients), never across a checkpoint;
        ``first``: the run's first chunk, which may be the smallest; ``late``: a long run's, sized shorter."""
        boundary = next((p for p in checkpoint_series(n_samples) if p > done), n_samples)
        size = min(self.chunk_size, GRADIENT_CHUNK) if settings.gradients else self.chunk_size
        if self.chunk_seconds is None:  # fixed chunks, whole blocks of SUM_BLOCK where they can be
            return min(size - size % SUM_BLOCK if size >= SUM_BLOCK else size, boundary - done)
        speed = self._speeds.get(settings.gradients)
        if speed is not None:
            smallest = (MIN_GRADIENT_CHUNK if first else STEADY_GRADIENT_CHUNK) if settings.gradients else MIN_CHUNK
            seconds = self.chunk_seconds * (LATE_CHUNK_SHARE if late else 1.0)
            size = max(smallest, min(size, int(speed * seconds)))
        return on_chunk_ladder(min(size, boundary - done))

    def _measure(self, settings: AnalysisSettings, count: int, seconds: float) -> None:
        """Keep a smoothed speed of the model pass, for ``chunk_seconds`` (a few stimuli say more about overheads)."""
        if self.chunk_seconds is None or seconds <= 0 or count < (MIN_GRADIENT_CHUNK if settings.gradients else
                                                                   MIN_CHUNK):
            return
        measured = count / seconds
        earlier = self._speeds.get(settings.gradients, measured)
        self._speeds[settings.gradients] = 0.5 * (earlier + measured)

    def run(self, settings: AnalysisSettings, n_samples: int, state: AnalysisState | None = None,
            on_progress: RunProgressCallback | None = None,
            should_stop: Callable[[], bool] | None = None) -> AnalysisState:
        """Grow (or rewind) ``state`` to ``n_samples`` stimuli; chunking never changes the stimuli. When
        ``should_stop`` turns true the run returns at once with the chunks added so far, in stimulus order."""
        if n_samples < 1:
            raise ValueError(f"the number of samples must be at least 1, got {n_samples}")
        if state is not None and state.settings != settings:
            raise ValueError("cannot resume a run made with other settings")
        if state is not None and state.model_free:
            raise ValueError("cannot resume a run made without the model")
        if state is None:
            state = self.start(settings)
        else:  # work on a copy: the caller's state stays as it was (another session may be showing it)
            earlier = state.rewound_to(n_samples)
            state = replace(earlier, sums=earlier.sums.copy(), snapshots=dict(earlier.snapshots))
        state = replace(state, target=n_samples)
        checkpoints = checkpoint_series(n_samples)
        started = time.perf_counter()
        # Two chunks in flight: while one is in the model, the next one's noise is drawn and the last one's sums
        # are copied out and drawn by ``on_progress`` (measured: 1–14 % less time for 10,000 stimuli on 2 cores).
        # The first chunk goes alone, so the first partial picture does not share the CPU with the second.
        in_flight: deque[tuple[int, Future[dict[str, np.ndarray]]]] = deque()
        owner = Run()  # the pool counts this run's computing time, to put fresher runs first
        first = planned = state.n
        steady = GRADIENT_PIPELINE_DEPTH if settings.gradients else PIPELINE_DEPTH
        try:
            while state.n < n_samples and not (should_stop is not None and should_stop()):
                depth = 1 if state.n == first else steady
                while planned < n_samples and len(in_flight) < depth:
                    count = self._next_chunk(planned, n_samples, settings, first=planned == first,
                                             late=time.perf_counter() - started > LONG_RUN_SECONDS)
                    future = _CHUNK_THREADS.submit(owner, self._chunk_sums, settings, planned, count)
                    in_flight.append((count, future))
                    planned += count
                count, future = in_flight[0]
                out = _result_unless_stopped(future, should_stop)
                if out is None:  # stopped: the chunks in flight are dropped, not waited for
                    break
                in_flight.popleft()
                self._add_sums(state.sums, settings, out, count)
                # The run's throughput so far: with two chunks in flight each one's own wall time says little.
                self._measure(settings, state.n - first, time.perf_counter() - started)
                if state.n in checkpoints or state.n == n_samples:
                    state.snapshots[state.n] = state.sums.copy()
                if on_progress is not None:
                    on_progress(state)
        finally:  # chunks in flight are not waited for here either (``on_progress`` raised: the page's run ended)
            for _, future in in_flight:
                future.cancel()  # only those not yet started; the others finish and are dropped
            _CHUNK_THREADS.finish(owner)  # no chunk of this run will come: the pool holds nothing back for it
        state.seconds += time.perf_counter() - started
        return state


def _result_unless_stopped(future: Future[Any], should_stop: Callable[[], bool] | None) -> Any | None:
    """The chunk's result, or None as soon as ``should_stop`` turns true: a moved slider's new run should not
    wait for two chunks it will not use (up to 0.4 s on a slow machine)."""
    if should_stop is None:
        return future.result()
    while not should_stop():
        try:
            return future.result(timeout=STOP_POLL)
        except TimeoutError:
            continue
    return None
