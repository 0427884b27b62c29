"""Architectures, training and the shipped models, checked on the real test sets."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import DATASETS
from core.models import (ARCHITECTURES, SHIPPED_ARCHITECTURES, TrainingCancelled, build_model,
                         confusion_matrix, evaluate, train)
from core.store import inspect_model, load_model, model_path

# Targets of the foundation issue: MNIST >= 99.0 % for both; Fashion >= 90.0 % (lenet), >= 90.5 % (alexnet).
TARGETS = {("lenet", "mnist"): 0.990, ("alexnet", "mnist"): 0.990,
           ("lenet", "fashion_mnist"): 0.900, ("alexnet", "fashion_mnist"): 0.905}


def _layer_kinds(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_lenet_and_alexnet_follow_the_original_study() -> None:
    lenet, alexnet = _layer_kinds(build_model("lenet")), _layer_kinds(build_model("alexnet"))
    assert lenet.count("Conv2D") == 2 and lenet.count("AveragePooling2D") == 2 and "MaxPooling2D" not in lenet
    assert alexnet.count("Conv2D") == 3 and alexnet.count("MaxPooling2D") == 3
    for kinds in (lenet, alexnet):
        assert kinds.count("Dense") == 3  # two hidden + softmax output
        assert "Lambda" not in kinds


def test_widths_are_read_from_the_layers() -> None:
    assert ARCHITECTURES["alexnet"].widths == "16, 64, 128 filters; 256, 128 hidden units"
    assert ARCHITECTURES["lenet"].widths == "32, 64 filters; 128, 84 hidden units"


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_input_output_and_size(arch: str) -> None:
    model = build_model(arch)
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    out = np.asarray(model(np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)))
    assert out.shape == (3, 10) and np.allclose(out.sum(axis=1), 1.0, atol=1e-5)
    if arch in SHIPPED_ARCHITECTURES:
        assert model.count_params() <= 1_000_000


def test_confusion_matrix_counts() -> None:
    matrix = confusion_matrix(np.array([0, 0, 1, 9]), np.array([0, 1, 1, 2]))
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 1] == 1 and matrix[9, 2] == 1
    assert matrix.sum() == 4


def test_short_real_training_beats_chance_and_reports_progress(mnist) -> None:
    reports = []
    # 16 batches of 128 real digits: seconds on a slow machine, and well above chance already
    result = train("lenet", "mnist", epochs=1, seed=3, train_limit=2048, on_progress=reports.append)
    assert result.test_accuracy > 0.50  # chance is 0.10
    assert result.confusion.sum() == 10_000 and result.confusion.shape == (10, 10)
    assert reports[0].epoch == 1 and reports[0].batch == 1 and reports[-1].epoch_done
    assert reports[-1].val_accuracy == pytest.approx(result.test_accuracy, abs=0.01)
    assert set(result.history) >= {"loss", "accuracy", "val_accuracy"}
    assert getattr(result.model, "optimizer", None) is None  # saved models carry no optimizer state


@pytest.mark.slow  # two trainings, each scored on the whole test set
def test_training_is_reproducible_for_a_seed(mnist) -> None:
    # Four batches: enough for the seeded initialisation, shuffling and dropout to all shape the weights.
    first = train("lenet", "mnist", epochs=1, seed=11, train_limit=512)
    second = train("lenet", "mnist", epochs=1, seed=11, train_limit=512)
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        assert np.allclose(a, b, atol=1e-6)


def test_training_can_be_cancelled(mnist) -> None:
    """By the queue's own ticket, as the Models page passes it: Cancel on a running training stops it."""
    from core.training_queue import TrainingQueue, TrainingRequest

    queue = TrainingQueue()
    ticket = queue.take(TrainingRequest("lenet", "mnist", epochs=3, train_images=2048))
    assert queue.wait_for_turn(ticket, 0)
    queue.cancel(ticket)
    with pytest.raises(TrainingCancelled):
        train("lenet", "mnist", epochs=3, train_limit=2048, should_stop=ticket.should_stop)


@pytest.mark.slow  # an AlexNet training
def test_augmented_training_runs(mnist) -> None:
    result = train("alexnet", "mnist", epochs=1, seed=0, train_limit=2048, augment=True)
    assert result.test_accuracy > 0.3 and result.settings["augment"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", SHIPPED_ARCHITECTURES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_shipped_model_meets_its_target(arch: str, dataset: str, real_data_dir) -> None:
    from core.data import load_dataset

    status = inspect_model(arch, dataset)
    assert status.state == "ok", status.problem
    assert model_path(arch, dataset).stat().st_size <= 2_000_000
    model, meta = load_model(arch, dataset)
    assert meta["origin"] == "shipped" and meta["train_limit"] is None
    registered = build_model(arch)  # the shipped file was trained from the registry's current layers
    assert _layer_kinds(model) == _layer_kinds(registered)
    assert [tuple(w.shape) for w in model.weights] == [tuple(w.shape) for w in registered.weights]
    assert meta["parameters"] == registered.count_params()
    data = load_dataset(dataset)
    accuracy, confusion = evaluate(model, data.test_images, data.test_labels)
    assert accuracy >= TARGETS[(arch, dataset)]
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=1e-3)
    assert confusion.sum() == 10_000
