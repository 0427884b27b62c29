"""The model cache: ``cache/models/<arch>-<dataset>.keras`` plus a JSON record of how it was made.

A model file is served only if its sha256 matches the record this project wrote beside it, so a damaged or
foreign file is never deserialised. Writes are atomic (temp file + rename) and training is guarded by a file
lock, so two sessions asking for the same model train it once.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from core.config import DATASETS, NUM_CLASSES, models_dir
from core.models import ARCHITECTURES, ProgressCallback, TrainingResult, registry_mismatch, train

log = logging.getLogger(__name__)

SHIPPED_BACKUP = ".shipped"  # where a shipped default waits while a retrained model replaces it


class CacheDamagedError(RuntimeError):
    """A cached model exists but fails its hash check or does not load."""


class ModelChanging(CacheDamagedError):
    """The model file was replaced while it was loaded (a publish landing in between): not damaged."""


class ModelMissingError(LookupError):
    """No usable cached model for this architecture and dataset."""


class TrainingInProgress(RuntimeError):
    """Another session or process is training this model right now."""


def model_key(arch: str, dataset: str) -> str:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return f"{arch}-{dataset}"


def model_path(arch: str, dataset: str) -> Path:
    return models_dir() / f"{model_key(arch, dataset)}.keras"


def metadata_path(arch: str, dataset: str) -> Path:
    return models_dir() / f"{model_key(arch, dataset)}.json"


def _lock(arch: str, dataset: str) -> FileLock:
    models_dir().mkdir(parents=True, exist_ok=True)
    return FileLock(str(models_dir() / f"{model_key(arch, dataset)}.lock"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Write through a temporary file in the same folder, then rename, so readers never see half a file; the file
    and then the folder are synced, so a power cut cannot leave a renamed but empty model or backup behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from other users of a shared server
        _sync(tmp)
        os.replace(tmp, path)
        try:  # best effort: Windows cannot open a folder, and some network and FUSE file systems refuse its sync
            _sync(path.parent)
        except OSError as err:
            if err.errno not in FOLDER_SYNC_UNSUPPORTED:
                raise
    finally:
        tmp.unlink(missing_ok=True)


FOLDER_SYNC_UNSUPPORTED = frozenset({errno.EINVAL, errno.EACCES, errno.EPERM, errno.EBADF, errno.EISDIR,
                                     errno.ENOTSUP})


def _sync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def check_writable() -> None:
    """Raise ``OSError`` now when the models folder cannot be written, not after a training that would be lost."""
    probe = models_dir() / ".write-probe.json"  # .gitignore's cache/models/.*.json: a killed train leaves nothing
    atomic_write_text(probe, "")
    probe.unlink(missing_ok=True)  # two trainings started at once share the name


@dataclass(frozen=True)
class ModelStatus:
    arch: str
    dataset: str
    state: str  # "ok", "missing" or "damaged"
    metadata: dict[str, Any] | None
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.state == "ok"


# The record's fields the pages and the command line read, by type (a reviewer's record without test_accuracy
# passed the hash check and broke the Models page with Streamlit's own error box).
_RECORD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "sha256": str, "test_accuracy": (int, float), "parameters": int, "file_bytes": int,
    "training_seconds": (int, float), "test_confusion": list, "history": dict}


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _record_problem(record: Any) -> str | None:
    """What is wrong with a record's fields for the pages that draw them (None: nothing). A history that was a
    list, or held text, passed the type check and broke the Models page's chart (a reviewer)."""
    if not isinstance(record, dict) or "sha256" not in record:
        return "metadata has no sha256"
    for field, kinds in _RECORD_FIELDS.items():  # what the pages read: a record without them broke a page
        if not isinstance(record.get(field), kinds) or isinstance(record.get(field), bool):
            return f"metadata has no valid {field}"
    if not all(isinstance(name, str) and _numbers(values) for name, values in record["history"].items()):
        return "metadata's history is not lists of numbers"
    confusion = record["test_confusion"]
    if len(confusion) != NUM_CLASSES or not all(_numbers(row) and len(row) == NUM_CLASSES for row in confusion):
        return f"metadata's test_confusion is not {NUM_CLASSES} × {NUM_CLASSES} numbers"
    return None


def read_metadata(arch: str, dataset: str) -> dict[str, Any] | None:
    return _read_record(metadata_path(arch, dataset), arch, dataset)


def _read_record(path: Path, arch: str, dataset: str) -> dict[str, Any] | None:
    """The record at ``path`` (None when there is none); a damaged or foreign one raises ``CacheDamagedError``."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CacheDamagedError(f"{path}: unreadable metadata ({err})") from err
    if problem := _record_problem(record):
        raise CacheDamagedError(f"{path}: {problem}")
    if (record.get("architecture", arch), record.get("dataset", dataset)) != (arch, dataset):
        raise CacheDamagedError(f"{path}: metadata is for {record.get('architecture')}-{record.get('dataset')}")
    return record


def inspect_model(arch: str, dataset: str) -> ModelStatus:
    """State of one cached model, checked against its recorded hash, without loading it. A mismatch is looked at
    again shortly: a publish replaces the file, then its record (each atomically), and a page that read between
    the two called the model damaged (a reviewer: once in 596 looks during 10 saves)."""
    status = _inspected(arch, dataset)
    for _ in range(REPLACEMENT_LOOKS):
        if status.state != "damaged":
            break
        time.sleep(REPLACEMENT_PAUSE)
        status = _inspected(arch, dataset)
    return status


REPLACEMENT_LOOKS = 2  # more looks at a model that seemed damaged, REPLACEMENT_PAUSE apart
REPLACEMENT_PAUSE = 0.05  # seconds: a record is written in milliseconds after its model file


def _inspected(arch: str, dataset: str, folder: Path | None = None) -> ModelStatus:
    """The pair in ``folder`` (the cache's models folder unless given: the shipped backup's is another)."""
    folder = folder or models_dir()
    path = folder / model_path(arch, dataset).name
    try:
        record = _read_record(folder / metadata_path(arch, dataset).name, arch, dataset)
    except CacheDamagedError as err:
        return ModelStatus(arch, dataset, "damaged", None, str(err))
    if not path.is_file():
        return ModelStatus(arch, dataset, "missing", record, None if record is None else f"{path} is missing")
    if record is None:
        return ModelStatus(arch, dataset, "damaged", None, f"{path} has no metadata written by Noise Lens")
    actual = sha256_file(path)
    if actual != record["sha256"]:
        return ModelStatus(arch, dataset, "damaged", record,
                           f"{path}: sha256 {actual[:12]}… does not match the recorded {record['sha256'][:12]}…")
    return ModelStatus(arch, dataset, "ok", record)


def list_models() -> list[ModelStatus]:
    return [inspect_model(a, d) for a in ARCHITECTURES for d in DATASETS]


def load_model(arch: str, dataset: str) -> tuple[Any, dict[str, Any]]:
    """Load a cached model whose hash matches its metadata; anything else raises.

    The bytes loaded are the bytes hashed: a private copy is checked and loaded, so a publish landing between the
    look and the load cannot put another model under this record (a reviewer's reading of the old path-twice
    load). A copy that no longer matches is the file being replaced: looked at again, ``REPLACEMENT_LOOKS`` times."""
    import keras

    path = model_path(arch, dataset)
    for _ in range(REPLACEMENT_LOOKS + 1):
        status = inspect_model(arch, dataset)
        if status.state == "missing":
            raise ModelMissingError(f"no cached model {model_key(arch, dataset)}")
        if status.state == "damaged":
            raise CacheDamagedError(status.problem)
        record = status.metadata or {}
        with tempfile.TemporaryDirectory(prefix="noiselens-model-") as private:
            copy = Path(private) / path.name
            shutil.copyfile(path, copy)
            if sha256_file(copy) != record["sha256"]:
                continue
            try:
                model = keras.saving.load_model(copy, compile=False, safe_mode=True)
            except Exception as err:  # noqa: BLE001 - any load failure means the file cannot be served
                raise CacheDamagedError(f"{path}: does not load ({type(err).__name__}: {err})") from err
        if problem := registry_mismatch(model, arch):
            raise CacheDamagedError(f"{path}: not the registered {arch} network: {problem}")
        return model, record
    raise ModelChanging(f"{path}: kept changing while it was loaded; try again")


def _library_versions() -> dict[str, str]:
    import keras
    import numpy
    import tensorflow

    return {"python": platform.python_version(), "keras": keras.__version__,
            "tensorflow": tensorflow.__version__, "numpy": numpy.__version__}


def save_model(result: TrainingResult, arch: str, dataset: str, origin: str = "trained here") -> dict[str, Any]:
    """Write model then metadata atomically; the hash ties the two together."""
    path = model_path(arch, dataset)
    atomic_write(path, lambda tmp: result.model.save(tmp))
    record = {
        "architecture": arch,
        "dataset": dataset,
        "epochs": result.epochs_run,
        "seed": result.settings.get("seed"),
        "batch_size": result.settings.get("batch_size"),
        "augment": result.settings.get("augment"),
        "train_limit": result.settings.get("train_limit"),
        "test_accuracy": result.test_accuracy,
        "test_confusion": result.confusion.tolist(),
        "history": result.history,
        "training_seconds": round(result.seconds, 2),
        "parameters": int(result.model.count_params()),
        "versions": _library_versions(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "origin": origin,
        "file_bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }
    atomic_write_text(metadata_path(arch, dataset), json.dumps(record, indent=2) + "\n")
    return record


def _back_up_shipped(arch: str, dataset: str) -> None:
    """Keep the shipped default aside before a retrained model replaces it, so it can be restored. A damaged copy
    is not kept (reading its record first made a damaged record stop the very retraining that rebuilds it)."""
    status = inspect_model(arch, dataset)
    if status.state != "ok" or (status.metadata or {}).get("origin") != "shipped":
        return
    backup = models_dir() / SHIPPED_BACKUP
    backup.mkdir(exist_ok=True)
    for source in (model_path(arch, dataset), metadata_path(arch, dataset)):
        atomic_write(backup / source.name, lambda tmp, src=source: shutil.copyfile(src, tmp))


def shipped_backup_available(arch: str, dataset: str) -> bool:
    """A whole, matching backup pair (a crash between its two copies left a model without its record)."""
    return _inspected(arch, dataset, models_dir() / SHIPPED_BACKUP).usable


def restore_shipped(arch: str, dataset: str) -> dict[str, Any]:
    """Put the shipped default back after a retrain. The backup pair is checked before anything is written: a
    damaged or half-written backup overwrote the good live model first and was found wanting after (a reviewer)."""
    backup = models_dir() / SHIPPED_BACKUP
    with _lock(arch, dataset):
        saved = _inspected(arch, dataset, backup)
        if saved.state == "missing" and saved.metadata is None:
            raise ModelMissingError(f"no shipped default saved for {model_key(arch, dataset)}")
        if not saved.usable:  # half a pair, or a pair that does not match
            raise CacheDamagedError(f"the saved shipped default is damaged, so nothing was changed: {saved.problem}")
        for target in (model_path(arch, dataset), metadata_path(arch, dataset)):  # the record last, as save_model
            atomic_write(target, lambda tmp, src=backup / target.name: shutil.copyfile(src, tmp))
    status = inspect_model(arch, dataset)
    if not status.usable:
        raise CacheDamagedError(status.problem)
    return status.metadata or {}


@dataclass
class ModelReady:
    model: Any
    metadata: dict[str, Any]
    trained_now: bool
    rebuilt_because: str | None = None


@contextmanager
def _replacing(arch: str, dataset: str, wait: bool) -> Iterator[None]:
    """Hold the model's lock with the shipped default set aside, to replace the cached copy.

    With ``wait=False`` a second caller gets ``TrainingInProgress`` at once instead of replacing it again later.
    """
    lock = _lock(arch, dataset)
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        raise TrainingInProgress(f"{model_key(arch, dataset)} is being trained by another session") from None
    try:
        _back_up_shipped(arch, dataset)
        yield
    finally:
        lock.release()


def train_and_save(arch: str, dataset: str, *, origin: str = "trained here", wait: bool = True,
                   on_progress: ProgressCallback | None = None,
                   should_stop: Callable[[], bool] | None = None, **train_kwargs: Any) -> ModelReady:
    """Train under the model's lock and replace the cached copy.

    With ``wait=False`` a second caller gets ``TrainingInProgress`` at once instead of training again later.
    """
    with _replacing(arch, dataset, wait):
        result = train(arch, dataset, on_progress=on_progress, should_stop=should_stop, **train_kwargs)
        record = save_model(result, arch, dataset, origin=origin)
        return ModelReady(result.model, record, trained_now=True)


def ensure_model(arch: str, dataset: str, *, on_progress: ProgressCallback | None = None,
                 should_stop: Callable[[], bool] | None = None, **train_kwargs: Any) -> ModelReady:
    """Load the cached model, or train it once if missing or damaged (a damaged file is reported, never served)."""
    try:
        model, record = load_model(arch, dataset)
        return ModelReady(model, record, trained_now=False)
    except ModelMissingError:
        reason = None
    except CacheDamagedError as err:
        reason = str(err)
        log.warning("damaged model cache, rebuilding: %s", reason)
    with _lock(arch, dataset):
        # Another process may have trained it while we waited for the lock.
        try:
            model, record = load_model(arch, dataset)
            return ModelReady(model, record, trained_now=False, rebuilt_because=reason)
        except (ModelMissingError, CacheDamagedError):
            pass
        result = train(arch, dataset, on_progress=on_progress, should_stop=should_stop, **train_kwargs)
        record = save_model(result, arch, dataset)
        return ModelReady(result.model, record, trained_now=True, rebuilt_because=reason)


def publish_model(result: TrainingResult, arch: str, dataset: str, *, origin: str = "published from the app",
                  wait: bool = True) -> dict[str, Any]:
    """Make a model trained in one session the server-wide cached copy (the UI lets only the teacher do this).

    The shipped default is kept aside first, so ``restore_shipped`` can put it back; ``wait=False`` raises
    ``TrainingInProgress`` at once if another session or process holds the model's lock.
    """
    if getattr(result.model, "name", arch) != arch:  # a UI slip must not put one network under another's name
        raise ValueError(f"the model is {result.model.name!r}, not {arch!r}")
    with _replacing(arch, dataset, wait):
        return save_model(result, arch, dataset, origin=origin)
