"""Constants shared by the whole project: paths, dataset names, class names."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Environment variable naming a directory with ``mnist/`` and ``fashion-mnist/`` IDX folders.
DATA_DIR_ENV = "NOISELENS_DATA_DIR"
#: Environment variable that moves the model cache (tests point it at a temporary folder).
CACHE_DIR_ENV = "NOISELENS_CACHE_DIR"

DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist")

#: Folder name of each dataset inside ``NOISELENS_DATA_DIR`` (the authors' spelling, with a hyphen).
DATASET_FOLDERS: dict[str, str] = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}

DATASET_TITLES: dict[str, str] = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}

NUM_CLASSES = 10
IMAGE_SHAPE: tuple[int, int] = (28, 28)


def cache_dir() -> Path:
    """Root of the cache: ``cache/`` in the project unless ``NOISELENS_CACHE_DIR`` moves it."""
    override = os.environ.get(CACHE_DIR_ENV)
    return Path(override) if override else PROJECT_ROOT / "cache"


def models_dir() -> Path:
    return cache_dir() / "models"
