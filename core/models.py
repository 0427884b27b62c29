"""The two CNNs of the original study, declared as data, and how to train them.

Architectures are plain layer lists so that the registry is readable at a glance and a saved model never
needs custom objects or ``Lambda`` layers to load.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.config import IMAGE_SHAPE, NUM_CLASSES
from core.data import load_dataset, to_model_input

# Layer kinds a registry entry may use: a whitelist, so nothing executable can slip into a model file.
_ALLOWED_LAYERS = frozenset(
    {"Conv2D", "MaxPooling2D", "AveragePooling2D", "Flatten", "Dense", "Dropout", "BatchNormalization"}
)

LayerSpec = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Architecture:
    name: str
    title: str
    summary: str
    layers: tuple[LayerSpec, ...]
    shipped: bool = True

    @property
    def widths(self) -> str:
        """Filters per conv layer and units per hidden dense layer, read from the layers, for the Models page."""
        filters = [str(options["filters"]) for kind, options in self.layers if kind == "Conv2D"]
        units = [str(options["units"]) for kind, options in self.layers if kind == "Dense"][:-1]
        return f"{', '.join(filters)} filters; {', '.join(units)} hidden units"


ARCHITECTURES: dict[str, Architecture] = {
    "lenet": Architecture(
        name="lenet",
        title="LeNet-style",
        summary="2 conv (5×5) + 2 average-pool + 2 hidden dense + softmax",
        layers=(
            ("Conv2D", {"filters": 32, "kernel_size": 5, "padding": "same", "activation": "relu"}),
            ("AveragePooling2D", {"pool_size": 2}),
            ("Conv2D", {"filters": 64, "kernel_size": 5, "padding": "valid", "activation": "relu"}),
            ("AveragePooling2D", {"pool_size": 2}),
            ("Flatten", {}),
            ("Dense", {"units": 128, "activation": "relu"}),
            ("Dropout", {"rate": 0.3}),
            ("Dense", {"units": 84, "activation": "relu"}),
            ("Dense", {"units": NUM_CLASSES, "activation": "softmax"}),
        ),
    ),
    "alexnet": Architecture(
        name="alexnet",
        title="AlexNet-style",
        summary="3 × (conv 3×3 + max-pool) + 2 hidden dense + softmax",
        # 16 first-layer filters, not 32: on a CPU the full-size 28×28 maps of that layer cost a quarter of the
        # pass for 3 % of its arithmetic, and the dashboard's 1 s redraw needs that time (bench/layers.py).
        layers=(
            ("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": 2}),
            ("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same", "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": 2}),
            ("Conv2D", {"filters": 128, "kernel_size": 3, "padding": "same", "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": 2}),
            ("Flatten", {}),
            ("Dense", {"units": 256, "activation": "relu"}),
            ("Dropout", {"rate": 0.4}),
            ("Dense", {"units": 128, "activation": "relu"}),
            ("Dense", {"units": NUM_CLASSES, "activation": "softmax"}),
        ),
    ),
    # The original study's AlexNet: stride-1 pooling keeps the maps large (≈ 8.5M parameters, ≈ 55 s an
    # epoch on 2 CPU cores). Registered for completeness; too big to ship.
    "alexnet_original": Architecture(
        name="alexnet_original",
        title="AlexNet (original study, large)",
        summary="3 × (conv 3×3 + stride-1 max-pool) + 2 hidden dense + softmax, ≈ 8.5M parameters",
        layers=(
            ("Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": 2, "strides": 1, "padding": "same"}),
            ("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same", "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": 2, "strides": 1, "padding": "same"}),
            ("Conv2D", {"filters": 128, "kernel_size": 3, "padding": "same", "activation": "relu"}),
            ("MaxPooling2D", {"pool_size": 2, "strides": 1, "padding": "same"}),
            ("Flatten", {}),
            ("Dense", {"units": 84, "activation": "relu"}),
            ("Dense", {"units": 84, "activation": "relu"}),
            ("Dense", {"units": NUM_CLASSES, "activation": "softmax"}),
        ),
        shipped=False,
    ),
}

SHIPPED_ARCHITECTURES: tuple[str, ...] = tuple(a for a, spec in ARCHITECTURES.items() if spec.shipped)


def build_model(arch: str) -> Any:
    """A fresh, uncompiled Keras model for a registered architecture."""
    return build_layers(arch, ARCHITECTURES[arch].layers)


@functools.cache
def parameter_count(arch: str) -> int:
    """Weights of a registered architecture (a model built once to count them): the memory a training will take."""
    return int(build_model(arch).count_params())


def build_layers(name: str, specs: tuple[LayerSpec, ...]) -> Any:
    """A fresh, uncompiled Keras model from layer specs, only of the allowed kinds (benchmarks try variants)."""
    import keras

    layers = [keras.Input(shape=(*IMAGE_SHAPE, 1), name="image")]
    for kind, kwargs in specs:
        if kind not in _ALLOWED_LAYERS:
            raise ValueError(f"layer {kind} is not allowed in a registry entry")
        layers.append(getattr(keras.layers, kind)(**kwargs))
    return keras.Sequential(layers, name=name)


def registry_mismatch(model: Any, arch: str) -> str | None:
    """Why a loaded model is not the registered ``arch`` (its name, or its layers' kinds in order), else None: a
    file whose hash matches its record may still hold another network (the hash proves only that the two agree)."""
    if arch not in ARCHITECTURES:
        return f"{arch!r} is not a registered architecture"
    if getattr(model, "name", None) != arch:
        return f"the file holds a model named {getattr(model, 'name', None)!r}, not {arch!r}"
    kinds = [type(layer).__name__ for layer in model.layers]
    expected = [kind for kind, _ in ARCHITECTURES[arch].layers]
    return None if kinds == expected else f"its layers {kinds} are not the registered {expected}"


@dataclass(frozen=True)
class TrainProgress:
    """One report from training, for a progress bar or a live chart."""

    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based within the epoch
    batches: int
    loss: float
    accuracy: float
    epoch_done: bool = False
    val_accuracy: float | None = None


ProgressCallback = Callable[[TrainProgress], None]


@dataclass
class TrainingResult:
    model: Any
    history: dict[str, list[float]]
    test_accuracy: float
    confusion: np.ndarray  # (10, 10) counts, rows = true class, columns = predicted class
    seconds: float
    epochs_run: int
    settings: dict[str, Any] = field(default_factory=dict)


class TrainingCancelled(RuntimeError):
    """Raised when the caller asked training to stop before it finished."""


def confusion_matrix(true_labels: np.ndarray, predicted: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts with rows = true class and columns = predicted class."""
    flat = true_labels.astype(np.int64) * num_classes + predicted.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


_FORWARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its traced forward pass
_FORWARDS_LOCK = threading.Lock()


def _traced_forward(model: Any) -> Any:
    """The model's inference pass as one tf.function, shape-polymorphic in the batch, made once per model."""
    import tensorflow as tf

    with _FORWARDS_LOCK:
        if model not in _FORWARDS:
            owner = weakref.ref(model)  # the cache must not keep a session's own model alive

            def forward(batch: Any) -> Any:
                return owner()(batch, training=False)

            _FORWARDS[model] = tf.function(forward, autograph=False,  # no AutoGraph needed, as in the chunk step
                                           input_signature=[tf.TensorSpec([None, *IMAGE_SHAPE, 1], tf.float32)])
        return _FORWARDS[model]


def predict_probabilities(model: Any, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Softmax outputs for uint8 or float images, in batches, through one traced graph (no Keras predict loop).

    Traced rather than layer by layer, the 10,000 test images took 1.6× less time on a 2-core CPU, with the same
    outputs to the bit. The trace (about 0.1 s) is kept with the model, so repeated calls (the attack sweep, the
    digit page) pay it once.
    """
    x = to_model_input(images) if images.dtype == np.uint8 else images.astype(np.float32)
    if x.ndim == 3:
        x = x[..., None]
    forward = _traced_forward(model)
    outputs = [forward(x[i : i + batch_size]).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(outputs) if outputs else np.zeros((0, NUM_CLASSES), np.float32)


def evaluate(model: Any, images: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Accuracy and confusion matrix on a labelled set."""
    predicted = predict_probabilities(model, images).argmax(axis=1)
    return float((predicted == labels).mean()), confusion_matrix(labels, predicted)


def _make_callback(on_progress: ProgressCallback | None, should_stop: Callable[[], bool] | None,
                   epochs: int, batches: int, x_test: np.ndarray, y_test: np.ndarray) -> Any:
    """Reports progress, stops on request, and scores the test set after each finished epoch.

    Scoring here rather than through ``fit(validation_data=…)`` keeps the last epoch's predictions (the final
    model's), so ``train`` needs no second pass over the test set for its accuracy and confusion matrix, and a
    cancelled epoch is not scored at all.
    """
    import keras

    class _Reporter(keras.callbacks.Callback):
        epoch = 0
        cancelled = False

        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list[float]] = {}
            self.test_predicted: np.ndarray | None = None

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch + 1

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            if on_progress is not None:
                on_progress(TrainProgress(self.epoch, epochs, batch + 1, batches,
                                          float(logs.get("loss", np.nan)), float(logs.get("accuracy", np.nan))))
            if should_stop is not None and should_stop():
                self.cancelled = True
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if self.cancelled:  # the epoch was cut short and train() raises: nothing to score or report
                return
            probabilities = predict_probabilities(self.model, x_test)
            self.test_predicted = probabilities.argmax(axis=1)
            # Keras's sparse categorical cross-entropy: probabilities clipped to [1e-7, 1 - 1e-7].
            picked = np.clip(probabilities[np.arange(len(y_test)), y_test], 1e-7, 1 - 1e-7)
            logs = {**(logs or {}), "val_loss": float(-np.log(picked).mean()),
                    "val_accuracy": float((self.test_predicted == y_test).mean())}
            for key, value in logs.items():
                self.history.setdefault(key, []).append(float(value))
            if on_progress is not None:
                on_progress(TrainProgress(epoch + 1, epochs, batches, batches,
                                          float(logs.get("loss", np.nan)), float(logs.get("accuracy", np.nan)),
                                          epoch_done=True, val_accuracy=logs["val_accuracy"]))

    return _Reporter()


def _compiled(arch: str, steps: int) -> Any:
    """A fresh network with Adam on a cosine learning-rate decay over ``steps`` batches."""
    import keras

    model = build_model(arch)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=max(1, steps))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _training_batches(x_train: np.ndarray, y_train: np.ndarray, batch_size: int, seed: int, augment: bool) -> Any:
    """Shuffled (seeded) batches, lightly shifted when ``augment``."""
    import keras
    import tensorflow as tf

    pipeline = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(
        len(x_train), seed=seed, reshuffle_each_iteration=True
    ).batch(batch_size)
    if augment:
        shift = keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed)
        pipeline = pipeline.map(lambda x, y: (shift(x, training=True), y))
    return pipeline.prefetch(2)


def train(
    arch: str,
    dataset: str,
    epochs: int = 12,
    seed: int = 0,
    batch_size: int = 128,
    augment: bool = False,
    train_limit: int | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingResult:
    """Train one architecture with Adam and a cosine learning-rate decay; reproducible for a seed.

    ``train_limit`` trains on the first N training images (quick tests); the test set is always complete.
    """
    import keras

    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch size must be at least 1")
    data = load_dataset(dataset)
    x_train = to_model_input(data.train_images[:train_limit])
    y_train = data.train_labels[:train_limit].astype(np.int32)
    x_test = to_model_input(data.test_images)
    y_test = data.test_labels.astype(np.int32)

    keras.utils.set_random_seed(seed)
    batches = int(np.ceil(len(x_train) / batch_size))
    model = _compiled(arch, epochs * batches)
    pipeline = _training_batches(x_train, y_train, batch_size, seed, augment)

    reporter = _make_callback(on_progress, should_stop, epochs, batches, x_test, y_test)
    started = time.perf_counter()
    model.fit(pipeline, epochs=epochs, callbacks=[reporter], shuffle=False, verbose=0)
    seconds = time.perf_counter() - started
    if reporter.cancelled:
        raise TrainingCancelled(f"training of {arch} on {dataset} was stopped at epoch {reporter.epoch}")

    # A fresh uncompiled copy carries the weights without optimizer state: smaller file, nothing to unpickle.
    clean = build_model(arch)
    clean.set_weights(model.get_weights())
    # The last epoch's scoring saw these very weights: its predictions are the final model's.
    predicted = reporter.test_predicted
    accuracy, confusion = float((predicted == y_test).mean()), confusion_matrix(y_test, predicted)
    history = reporter.history
    return TrainingResult(
        model=clean,
        history=history,
        test_accuracy=accuracy,
        confusion=confusion,
        seconds=seconds,
        epochs_run=len(history.get("loss", [])),
        settings={"epochs": epochs, "seed": seed, "batch_size": batch_size, "augment": augment,
                  "train_limit": train_limit},
    )

