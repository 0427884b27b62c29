"""MNIST and Fashion-MNIST, offline first.

Sources are tried in order: the IDX folder named by ``NOISELENS_DATA_DIR``, Keras's own dataset cache, and
finally Keras's downloader. Every file is validated, and each dataset is parsed once per process.
"""

from __future__ import annotations

import functools
import gzip
import os
import threading
import time
import weakref
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from core.config import CLASS_NAMES, DATA_DIR_ENV, DATASET_FOLDERS, DATASETS, IMAGE_SHAPE

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# IDX magic: two zero bytes, the element type (0x08 = unsigned byte), then the number of dimensions.
_IDX_UBYTE = 0x08


class IdxFormatError(ValueError):
    """A data file exists but is not a valid IDX file of the expected shape."""


class DataUnavailableError(RuntimeError):
    """No source could provide a dataset; the message lists every attempt and how to fix it."""


Derived = TypeVar("Derived")


_BUILDING: set[tuple[int, int]] = set()  # (id of the cache, id of the array) being built by some thread
_BUILT = threading.Condition()


def kept_while_alive(array: np.ndarray, cache: dict[int, Derived], build: Callable[[], Derived]) -> Derived:
    """``build()`` once per array, kept in ``cache`` until the array is freed: what is derived from a dataset's
    arrays (its statistics, its TensorFlow copy) is made once for all its users without pinning the dataset. Keyed
    by ``id``; the entry goes when the array does, before its id can be reused.

    Once, even when many threads ask at the same moment: the others wait for the first one's result. Six sessions
    of a soak test opening data noise together each built the training statistics (~400 MB of float copies of the
    60,000 images, seconds of CPU each), and the server sat at 3.9 GB for 40 seconds.
    """
    key = id(array)
    building = (id(cache), key)
    with _BUILT:
        while building in _BUILDING:
            _BUILT.wait()
        if key in cache:
            return cache[key]
        _BUILDING.add(building)
    try:
        derived = build()
        with _BUILT:
            cache[key] = derived
        weakref.finalize(array, cache.pop, key, None)
        return derived
    finally:
        with _BUILT:
            _BUILDING.discard(building)
            _BUILT.notify_all()


@dataclass(frozen=True)
class Dataset:
    """One dataset as uint8 arrays, shaped like ``keras.datasets.*.load_data()``."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    load_seconds: float
    class_names: tuple[str, ...] = field(default=())
    # Sources the user asked for that failed before ``source`` answered: a mistyped NOISELENS_DATA_DIR fell
    # through to Keras's cache without a word (a review), so the caller says so.
    passed_over: tuple[str, ...] = ()

    def as_keras_tuple(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        return (self.train_images, self.train_labels), (self.test_images, self.test_labels)


def read_idx(path: Path, expected_ndim: int) -> np.ndarray:
    """Parse one IDX file (gzipped or not) into a uint8 array, naming the file in every error."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:  # zlib: a damaged deflate stream (1 flip in 6)
        raise IdxFormatError(f"{path}: cannot be read ({err}); the file is truncated or not gzip") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IdxFormatError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    if raw[2] != _IDX_UBYTE:
        raise IdxFormatError(f"{path}: element type 0x{raw[2]:02x}, expected unsigned bytes (0x08)")
    ndim = raw[3]
    if ndim != expected_ndim:
        raise IdxFormatError(f"{path}: {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f"{path}: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_bytes = int(np.prod(shape))
    if len(raw) - header != expected_bytes:
        raise IdxFormatError(
            f"{path}: header promises {expected_bytes:,} bytes of data for shape {shape}, "
            f"file holds {len(raw) - header:,} (truncated or padded)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def validate_split(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    """Check that images and labels agree in count, size and label range."""
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise IdxFormatError(f"{where}: images have shape {images.shape}, expected (N, 28, 28)")
    if images.shape[0] == 0:  # valid headers counting 0 images: every run with r > 0 divided by the test count
        raise IdxFormatError(f"{where}: the files hold no images")
    if labels.shape != (images.shape[0],):
        raise IdxFormatError(f"{where}: {images.shape[0]:,} images but {labels.shape[0]:,} labels")
    if labels.size and labels.max() > 9:
        raise IdxFormatError(f"{where}: label {int(labels.max())} outside 0-9")


def load_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    """Read the four standard IDX files of one dataset folder."""
    arrays: dict[str, np.ndarray] = {}
    missing = []
    for key, stem in IDX_FILES.items():
        path = _find_idx(folder, stem)
        if path is None:
            missing.append(stem)
            continue
        arrays[key] = read_idx(path, expected_ndim=3 if key.endswith("images") else 1)
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)} (.gz or plain)")
    validate_split(arrays["train_images"], arrays["train_labels"], f"{folder} (train)")
    validate_split(arrays["test_images"], arrays["test_labels"], f"{folder} (t10k)")
    return arrays


def keras_datasets_dir() -> Path:
    """Where Keras caches downloads: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


class _NotAskedFor(FileNotFoundError):
    """A source nobody configured: listed when nothing loads, not worth a warning when another source does."""


def _from_data_dir(name: str) -> dict[str, np.ndarray]:
    root = os.environ.get(DATA_DIR_ENV)
    if not root:
        raise _NotAskedFor(f"{DATA_DIR_ENV} is not set")
    folder = Path(root) / DATASET_FOLDERS[name]
    if not folder.is_dir():
        raise FileNotFoundError(f"{DATA_DIR_ENV}={root}: no folder {folder}")
    try:
        return load_idx_folder(folder)
    except FileNotFoundError as err:  # named by the setting, as the folder's absence is
        raise FileNotFoundError(f"{DATA_DIR_ENV}={root}: {err}") from err


def _from_keras_cache(name: str) -> dict[str, np.ndarray]:
    root = keras_datasets_dir()
    if name == "mnist":
        npz = root / "mnist.npz"
        if not npz.is_file():
            raise FileNotFoundError(f"{npz} not found")
        # allow_pickle=False: the file holds plain arrays; never unpickle a downloaded file.
        with np.load(npz, allow_pickle=False) as archive:
            arrays = {
                "train_images": archive["x_train"],
                "train_labels": archive["y_train"],
                "test_images": archive["x_test"],
                "test_labels": archive["y_test"],
            }
        validate_split(arrays["train_images"], arrays["train_labels"], f"{npz} (train)")
        validate_split(arrays["test_images"], arrays["test_labels"], f"{npz} (test)")
        return arrays
    return load_idx_folder(root / "fashion-mnist")


def _from_keras_download(name: str) -> dict[str, np.ndarray]:
    import keras  # deferred: importing Keras starts TensorFlow (seconds)

    loader = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    arrays = {"train_images": x_train, "train_labels": y_train, "test_images": x_test, "test_labels": y_test}
    validate_split(x_train, y_train, "Keras download (train)")
    validate_split(x_test, y_test, "Keras download (test)")
    return arrays


_SOURCES = (
    ("NOISELENS_DATA_DIR", _from_data_dir),
    ("Keras cache", _from_keras_cache),
    ("Keras download", _from_keras_download),
)


@functools.lru_cache(maxsize=None)
def load_dataset(name: str) -> Dataset:
    """Load a dataset from the first source that has it; parsed once per process."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    tried: list[str] = []
    passed_over: list[str] = []
    started = time.perf_counter()
    for label, source in _SOURCES:
        try:
            arrays = source(name)
        except IdxFormatError:
            # A damaged file in a source the user pointed us at must be fixed, not silently skipped.
            raise
        except Exception as err:  # noqa: BLE001 - every failure becomes one line of the final message
            tried.append(f"  - {label}: {err}")
            # only the folder the user named: an empty Keras cache before a download is the normal first run
            if source is _from_data_dir and not isinstance(err, _NotAskedFor):
                passed_over.append(str(err))  # names the setting
            continue
        for array in arrays.values():
            array.setflags(write=False)
        return Dataset(
            name=name,
            source=label,
            load_seconds=time.perf_counter() - started,
            class_names=CLASS_NAMES[name],
            passed_over=tuple(passed_over),
            **arrays,
        )
    raise DataUnavailableError(
        f"Could not load {name}. Tried:\n"
        + "\n".join(tried)
        + f"\nFix: set {DATA_DIR_ENV} to a folder holding {DATASET_FOLDERS[name]}/ with the four IDX files "
        "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
        "t10k-labels-idx1-ubyte[.gz]), or connect to the internet once so Keras downloads and caches it."
    )


def load_data(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Same shape as ``keras.datasets.<name>.load_data()``."""
    return load_dataset(name).as_keras_tuple()


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], the models' input convention."""
    return (images.astype(np.float32) / 255.0)[..., None]
