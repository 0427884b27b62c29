"""IDX parsing and the three data sources: synthetic files for the edge cases, real data for known facts."""

from __future__ import annotations

import gzip
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest

from core import data
from core.config import DATA_DIR_ENV
from core.data import DataUnavailableError, IdxFormatError, load_dataset, read_idx
from tests.concurrency import at_once, slowly_counted


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_dataset(folder: Path, n_train: int = 20, n_test: int = 10, compress: bool = True) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)), compress)
    write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, n_train), compress)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)), compress)
    write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n_test), compress)


@pytest.fixture
def isolated_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real data, an empty Keras home, and no network: the downloader is the one external part we replace."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def offline(name: str) -> None:
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(data, "_SOURCES", (*data._SOURCES[:2], ("Keras download", offline)))
    load_dataset.cache_clear()
    yield tmp_path
    load_dataset.cache_clear()


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path: Path, compress: bool) -> None:
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    path = write_idx(tmp_path / "x-idx3-ubyte", images, compress)
    assert np.array_equal(read_idx(path, expected_ndim=3), images)


@pytest.mark.parametrize(
    "payload, problem",
    [
        (b"\x08\x03\x00\x00" + bytes(100), "bad magic"),
        (bytes([0, 0, 0x0D, 3]) + bytes(12), "element type"),
        (bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + bytes(5), "1 dimensions, expected 3"),
        (bytes([0, 0, 8, 3]) + b"".join((d).to_bytes(4, "big") for d in (2, 28, 28)) + bytes(100), "truncated"),
        (b"", "bad magic"),
    ],
)
def test_foreign_or_truncated_file_names_itself(tmp_path: Path, payload: bytes, problem: str) -> None:
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(payload)
    with pytest.raises(IdxFormatError) as caught:
        read_idx(path, expected_ndim=3)
    assert str(path) in str(caught.value) and problem in str(caught.value)


def test_truncated_gzip_is_reported(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((4, 28, 28)))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(IdxFormatError, match="truncated or not gzip"):
        read_idx(path, expected_ndim=3)


def test_a_damaged_deflate_stream_is_reported_as_that_file(tmp_path: Path) -> None:
    """zlib.error, not OSError: about 1 single-bit flip in 6 of a gzipped IDX file raised it past read_idx, and the
    folder was passed over for Keras's cache with "fix the setting" (a reviewer)."""
    rng = np.random.default_rng(0)  # sparse ink, as in MNIST: a Huffman-coded stream (random bytes are stored)
    images = (rng.random((20, 28, 28)) < 0.2) * rng.integers(0, 256, (20, 28, 28))
    path = write_idx(tmp_path / "x-idx3-ubyte", images)
    good = path.read_bytes()
    zlib_errors = 0
    for bit in range(8 * 20, 8 * 220, 7):  # flips inside the deflate stream
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            gzip.decompress(bytes(flipped))
        except zlib.error:
            zlib_errors += 1
        except (OSError, EOFError):
            pass
        else:
            continue
        path.write_bytes(bytes(flipped))
        with pytest.raises(IdxFormatError, match="x-idx3-ubyte.gz: cannot be read"):
            read_idx(path, expected_ndim=3)
    assert zlib_errors > 0  # the case the test is about did occur


def test_files_holding_no_images_are_refused(tmp_path: Path) -> None:
    """Valid headers counting 0 images loaded without a word; every run with r > 0 then divided by the count."""
    folder = tmp_path / "mnist"
    write_dataset(folder)
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((0, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(0))
    with pytest.raises(IdxFormatError, match="hold no images"):
        data.load_idx_folder(folder)


def test_count_mismatch_and_label_range(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    write_dataset(folder)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(19))
    with pytest.raises(IdxFormatError, match="20 images but 19 labels"):
        data.load_idx_folder(folder)
    write_idx(folder / "train-labels-idx1-ubyte", np.full(20, 12))
    with pytest.raises(IdxFormatError, match="label 12 outside 0-9"):
        data.load_idx_folder(folder)


def test_data_dir_is_first_source_gz_or_plain(isolated_sources: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dataset(isolated_sources / "data" / "mnist", compress=True)
    write_dataset(isolated_sources / "data" / "fashion-mnist", n_train=30, compress=False)
    monkeypatch.setenv(DATA_DIR_ENV, str(isolated_sources / "data"))
    mnist = load_dataset("mnist")
    fashion = load_dataset("fashion_mnist")
    assert mnist.source == DATA_DIR_ENV and mnist.train_images.shape == (20, 28, 28)
    assert fashion.train_images.shape == (30, 28, 28) and fashion.class_names[9] == "Ankle boot"
    assert load_dataset("mnist") is mnist  # parsed once per process
    (x_train, y_train), (x_test, y_test) = data.load_data("mnist")
    assert x_train.dtype == np.uint8 and y_test.dtype == np.uint8 and x_test.shape == (10, 28, 28)


def test_keras_cache_is_second_source(isolated_sources: Path) -> None:
    cache = isolated_sources / "keras-home" / "datasets"
    cache.mkdir(parents=True)
    rng = np.random.default_rng(1)
    np.savez(cache / "mnist.npz", x_train=rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 12, dtype=np.uint8), x_test=np.zeros((4, 28, 28), np.uint8),
             y_test=np.zeros(4, np.uint8))
    write_dataset(cache / "fashion-mnist")
    assert load_dataset("mnist").source == "Keras cache"
    assert load_dataset("fashion_mnist").source == "Keras cache"
    assert load_dataset("mnist").passed_over == ()  # NOISELENS_DATA_DIR unset: nothing asked for was passed over


def test_an_empty_keras_cache_before_a_download_is_no_warning(isolated_sources: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """README's first run: nothing set, the cache empty, Keras downloads. A review found every page telling the
    user to fix a setting they never made (the cache's miss was counted as passed over)."""
    def downloaded(name: str) -> dict:
        write_dataset(isolated_sources / "downloaded" / name)
        return data.load_idx_folder(isolated_sources / "downloaded" / name)

    monkeypatch.setattr(data, "_SOURCES", (*data._SOURCES[:2], ("Keras download", downloaded)))
    fashion = load_dataset("fashion_mnist")
    assert fashion.source == "Keras download" and fashion.passed_over == ()


def test_a_data_dir_that_fails_is_named_when_another_source_answers(isolated_sources: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture) -> None:
    """A mistyped NOISELENS_DATA_DIR fell through to Keras's cache without a word (a review): the dataset says
    which source it passed over, for the CLI's warning and the page's."""
    cache = isolated_sources / "keras-home" / "datasets"
    write_dataset(cache / "fashion-mnist")
    monkeypatch.setenv(DATA_DIR_ENV, str(isolated_sources / "typo"))
    fashion = load_dataset("fashion_mnist")
    assert fashion.source == "Keras cache"
    assert len(fashion.passed_over) == 1 and fashion.passed_over[0].startswith(f"{DATA_DIR_ENV}=")
    assert "typo" in fashion.passed_over[0]
    from core.cli import _dataset  # the command line says it on stderr, naming the source it read instead

    _dataset("fashion_mnist")
    warning = capsys.readouterr().err
    assert "warning: NOISELENS_DATA_DIR=" in warning and "read fashion_mnist from the Keras cache instead" in warning


def test_every_failed_source_is_listed_with_the_fix(isolated_sources: Path) -> None:
    with pytest.raises(DataUnavailableError) as caught:
        load_dataset("fashion_mnist")
    message = str(caught.value)
    for expected in ("NOISELENS_DATA_DIR is not set", "Keras cache", "no network", "set NOISELENS_DATA_DIR",
                     "connect to the internet once"):
        assert expected in message


def test_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar")


# --- real data -----------------------------------------------------------------------------------------


def test_mnist_known_facts(mnist) -> None:
    assert mnist.train_images.shape == (60_000, 28, 28) and mnist.test_images.shape == (10_000, 28, 28)
    assert mnist.train_images.dtype == np.uint8 and mnist.train_labels.dtype == np.uint8
    assert mnist.train_images.mean() / 255 == pytest.approx(0.1307, abs=5e-5)
    assert list(np.bincount(mnist.train_labels)[:3]) == [5923, 6742, 5958]
    assert np.bincount(mnist.test_labels).sum() == 10_000
    assert mnist.source == DATA_DIR_ENV
    print(f"mnist load {mnist.load_seconds:.2f} s")


def test_fashion_known_facts(fashion) -> None:
    assert fashion.train_images.shape == (60_000, 28, 28) and fashion.test_images.shape == (10_000, 28, 28)
    assert list(np.bincount(fashion.train_labels)) == [6000] * 10
    assert list(np.bincount(fashion.test_labels)) == [1000] * 10
    assert fashion.train_images.mean() / 255 == pytest.approx(0.2860, abs=5e-5)
    assert fashion.class_names == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                   "Sneaker", "Bag", "Ankle boot")


def test_damaged_real_idx_gives_clear_error(real_data_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "data" / "mnist"
    shutil.copytree(real_data_dir / "mnist", copy)
    damaged = copy / "t10k-images-idx3-ubyte.gz"
    # A gzip that decompresses cleanly but holds fewer images than its header promises.
    damaged.write_bytes(gzip.compress(gzip.decompress(damaged.read_bytes())[:-784 * 3]))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    load_dataset.cache_clear()
    try:
        with pytest.raises(IdxFormatError) as caught:
            load_dataset("mnist")
    finally:
        load_dataset.cache_clear()
    assert "t10k-images-idx3-ubyte.gz" in str(caught.value) and "truncated" in str(caught.value)


def test_what_is_derived_from_an_array_is_built_once_when_many_sessions_ask_at_once() -> None:
    """Sessions reaching the same dataset's statistics at once (from different pages and models) wait for one build
    instead of each making its own (six copies once held the server at 3.9 GB); the entry still goes with the
    array."""
    import gc

    from core.data import kept_while_alive

    array, cache, builds = np.zeros(3), {}, []
    results = at_once(lambda: kept_while_alive(array, cache, slowly_counted(builds, object)))
    assert len(builds) == 1 and len(results) == 8 and all(result is results[0] for result in results)
    del array
    gc.collect()
    assert cache == {}
