"""Datasets, models and analysis engines, loaded once per server and shared; their status panels and the
friendly messages a page shows instead of a traceback.

A model a visitor trained lives in that visitor's session only (``ui.session_models``); every other model comes
from the server's cache, checked against its SHA-256.
"""

from __future__ import annotations

import gc
import os
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st

from core.config import CLASS_NAMES, DATA_DIR_ENV, DATASET_TITLES, models_dir
from core.data import DataUnavailableError, IdxFormatError
from core.models import ARCHITECTURES
from core.pacing import CHUNK_SECONDS
from core.runs import RunStore
from ui import session_models

CHUNK = 1024  # small batches keep the server's peak memory low; throughput is flat above ~1k here
# Engines kept for every session: an analyzer (one model and noise type) is ~40 MB with its traced graphs, ~70 MB
# once it has traced the gradient ones; a receptive-field engine about as much. A class works on a few model × noise
# pairs at once (Compare: the four models); one more pair is built and traced again in 0.2-1.5 s here (GEMM 194),
# several times that on a slow machine. Sixteen and eight held a long varied day's server at 2.4 GB and rising
# after 32 minutes, near Community Cloud's ~2.7 GB (bench/soak.py).
ANALYZERS_KEPT = 8
STA_ENGINES_KEPT = 4
_IMPORT_LOCK = threading.Lock()
_TENSORFLOW_READY = threading.Event()


def load_tensorflow() -> None:
    """Import TensorFlow and Keras once, one session at a time, before any page needs them.

    ``core`` imports them where they are first used. On a fresh server ten sessions opening different pages did so
    at the same moment from different modules; Python's import machinery found a deadlock among the half-loaded
    modules and every later import of TensorFlow failed (``Registering two gradient with name 'ReduceDataset'``)
    until the server restarted.
    """
    if _TENSORFLOW_READY.is_set():  # not sys.modules: a module is listed there while it is still half-loaded
        return
    with _IMPORT_LOCK:
        import keras.saving  # noqa: F401 - also imports tensorflow
        import tensorflow  # noqa: F401

        _TENSORFLOW_READY.set()


@st.cache_resource(show_spinner="Loading the dataset…")
def dataset(name: str):
    from core.data import load_dataset

    return load_dataset(name)


@st.cache_resource(show_spinner="Computing the covariance of the stimuli (test image and noise)…", max_entries=4)
def input_covariance(dataset_name: str, ratio: float, noise: str, sigma: float):
    """Σ of r·test image + (1 − r)·noise, the stimuli of this dataset's runs (a second to compute; kept)."""
    from core import readout

    data = dataset(dataset_name)
    return readout.input_covariance(ratio, data.test_images,
                                    readout.noise_covariance(noise, sigma, data.train_images))


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def model(arch: str, dataset_name: str, sha256: str):
    """The cached model; keyed by its hash so a newly published file is picked up at once. What was loaded is
    checked against that hash: a publish landing in between kept the new model under the old hash for everyone."""
    from core.store import ModelChanging, load_model

    loaded, record = load_model(arch, dataset_name)
    if record["sha256"] != sha256:  # not kept under the hash the page saw
        raise ModelChanging(f"{arch}-{dataset_name} was replaced while it loaded")
    return loaded


def server_model_or_note(arch: str, dataset_name: str, sha256: str) -> Any | None:
    """The server's model under the hash the page saw, or None with a note: a publish can land between the look and
    the load (it is drawn at the next change; it was an error box on Compare), or the file does not load as the
    registered network."""
    from core.store import CacheDamagedError, ModelChanging

    try:
        return model(arch, dataset_name, sha256)
    except ModelChanging:
        st.info("This model is being replaced on the server right now: it is drawn at the next change.")
    except CacheDamagedError:
        st.warning("This model is damaged (it does not load as the registered network): train it again on the "
                   "Models page.")
    return None


@st.cache_resource(show_spinner="Preparing the noise → model graph…", max_entries=ANALYZERS_KEPT)
def _shared_analyzer(arch: str, dataset_name: str, noise: str, sha256: str):
    from core.reverse_correlation import Analyzer

    return Analyzer(model(arch, dataset_name, sha256), dataset(dataset_name), noise, chunk_size=CHUNK,
                    chunk_seconds=CHUNK_SECONDS)


def analyzer(arch: str, dataset_name: str, noise: str, model_id: str):
    """The stimulus → model → sums engine for a model: shared by all sessions, or this session's own."""
    own = session_models.get(arch, dataset_name)
    if own is not None and own.model_id == model_id:
        return own.analyzer(noise, lambda: dataset(dataset_name), CHUNK)
    return _shared_analyzer(arch, dataset_name, noise, model_id)


@st.cache_resource
def runs() -> RunStore:
    """Analysis runs shared by every session of this server (single-flight per setting)."""
    return RunStore()


def data_or_stop(name: str):
    """The dataset, or a friendly panel explaining how to provide it (then the page stops)."""
    try:
        data = dataset(name)
    except DataUnavailableError as err:
        st.error(f"**{DATASET_TITLES[name]} is not available on this machine.**", icon="📂")
        st.markdown(
            f"Noise Lens reads the four standard IDX files from the folder named by `{DATA_DIR_ENV}`, "
            "then from Keras's cache (`~/.keras/datasets`), then tries to download them.\n\n"
            f"- Offline: `export {DATA_DIR_ENV}=/path/to/datasets` with `mnist/` and `fashion-mnist/` inside, "
            "then restart the app.\n- Online: restart once with internet access; Keras caches the files.")
        with st.expander("What was tried"):
            st.code(str(err), language=None)
        st.stop()
    except IdxFormatError as err:
        st.error(f"A data file is damaged: {err}. Replace it and restart the app.", icon="📂")
        st.stop()
    for reason in data.passed_over:  # a mistyped NOISELENS_DATA_DIR fell through to Keras's cache without a word
        st.warning(f"{DATASET_TITLES[name]} was read from the {data.source}, not from the folder asked for: "
                   f"{reason}. Fix the setting and restart the app.", icon="📂")
    return data


def model_status(arch: str, dataset_name: str):
    """The server's cached model for this pair, checked against its recorded hash."""
    from core.store import inspect_model

    return inspect_model(arch, dataset_name)


def model_status_panel(arch: str, dataset_name: str) -> None:
    """The sidebar's line about the model the pages use: this session's own, or the server's."""
    own = session_models.get(arch, dataset_name)
    model = f"{ARCHITECTURES[arch].title} · {DATASET_TITLES[dataset_name]}"  # as the sidebar's radios name them
    if own is not None:
        st.success(f"**{model}**: {own.description}. Only you see it; it is gone when you close "
                   "the tab.", icon="🧪")
        return
    status = model_status(arch, dataset_name)
    meta = status.metadata or {}
    if status.usable:
        origin = "shipped with Noise Lens" if meta.get("origin") == "shipped" else "published on this server"
        st.success(f"**{model}**: {origin}, test accuracy {meta['test_accuracy']:.2%}", icon="✅")
        return
    if status.state == "damaged":
        st.error(f"The cached model is damaged and will not be used: {damage_without_paths(status)}", icon="⚠️")
    else:
        st.info(f"**{model}** is not trained yet.", icon="ℹ️")
    st.page_link("pages/models.py", label="Train it on the Models page", icon="🏋️")


def damage_without_paths(status: Any) -> str:
    """What is wrong with a damaged model, naming its file but not the server's folders."""
    return without_server_folders(str(status.problem))


def without_server_folders(text: str) -> str:
    """A cache message naming its files within the models folder, not the server's folders above it."""
    return text.replace(f"{models_dir()}{os.sep}", "")


def model_or_stop(arch: str, dataset_name: str) -> tuple[Any, dict]:
    """The model the pages use (this session's own, else the server's) and its metadata, whose ``sha256``
    identifies it; or an offer to train it (then the page stops)."""
    own = session_models.get(arch, dataset_name)
    if own is not None:
        return own.model, own.metadata
    from core.store import CacheDamagedError, ModelChanging

    for _ in range(2):  # a second look when a publish replaced the model between the look and the load
        status = model_status(arch, dataset_name)
        meta = status.metadata or {}
        problem = "is damaged" if status.state == "damaged" else "is not trained yet"
        if not status.usable:
            break
        try:
            return model(arch, dataset_name, meta["sha256"]), meta
        except ModelChanging:
            problem = "is being replaced (reload the page in a moment)"
        except CacheDamagedError:  # its hash matches its record, yet it does not load as the registered network
            problem = "is damaged (it does not load as the registered network)"
            break
    st.warning(f"The {ARCHITECTURES[arch].title} model for {DATASET_TITLES[dataset_name]} {problem}.", icon="🏋️")
    st.page_link("pages/models.py", label="Train it on the Models page", icon="🏋️")
    st.stop()


def class_names(dataset_name: str) -> tuple[str, ...]:
    return CLASS_NAMES[dataset_name]


def friendly(action: Callable[[], Any], what: str) -> Any:
    """Run ``action``; a user-caused problem becomes one sentence in ``st.error`` instead of a traceback."""
    try:
        return action()
    except (ValueError, LookupError, OSError) as err:
        st.error(f"Could not {what}: {err}")
        return None


def release_training_graphs() -> None:
    """After training, what Streamlit did after every run: drop Keras's global state and TensorFlow's kernel
    cache, which still hold the finished training's graphs."""
    import keras

    keras.backend.clear_session()


_SETTLE_LOCK = threading.Lock()
_SETTLED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine → its graph variants settled so far


def settle_heap(engine: Any, variant: Hashable) -> None:
    """Once per analysis engine and traced graph variant, exempt everything alive from the cyclic garbage collector.

    Streamlit runs a full collection after every script run. Over the ~400,000 long-lived objects of
    TensorFlow, Keras and the traced graphs it took 0.14 s, which a student feels as lag on the next slider
    move; once they are frozen it takes under a millisecond. Frozen objects are freed by reference counting only,
    and an engine's traced graphs hold reference cycles: an engine frozen while alive and later evicted from the
    shared cache was never freed, so a long day's server grew by every eviction. Hence the thaw and full
    collection before each freeze, and a freeze per engine object (one rebuilt after eviction is settled again)
    rather than per setting.
    """
    with _SETTLE_LOCK:
        settled = _SETTLED.setdefault(engine, set())
        if variant in settled:
            return
        settled.add(variant)
        _collect_and_freeze()


def collect_frozen_garbage() -> None:
    """Free what ended sessions left in the frozen heap (reference counting does not free a cycle; nor does a
    plain collection, which skips frozen objects), and freeze the rest again: a full collection, a second or so."""
    with _SETTLE_LOCK:
        _collect_and_freeze()


def _collect_and_freeze() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def list_models():
    """Every model file the server has, with its state."""
    from core.store import list_models as every_model

    return every_model()
