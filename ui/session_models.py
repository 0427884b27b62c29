"""Models a visitor trained from the app: used by that visitor's pages only, gone when the session ends.

On a shared server a visitor's training must not change what the rest of the class sees, so it is kept in the
session's memory (one model per architecture and dataset, a few MB each) and never written to ``cache/models``.
Publishing one server-wide needs the teacher key (the Models page).

Every tab is a session, so the server also bounds what all visitors' models hold together (``room_for``): thirty
students training four models each would otherwise take ~2.5 GB, past a Community Cloud app's memory.
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from cachetools import LRUCache

from core.pacing import CHUNK_SECONDS

_KEY = "_session_models"
_ID_PREFIX = "session-"
# Analysis engines a visitor's own model keeps, the last noise types used: one per noise type came to ~85 MB a model
# (a reviewer), four models a tab, and every tab a session. Another noise type again is traced anew (a second or so).
ANALYZERS_PER_MODEL = 2

SERVER_MEGABYTES = 1_000  # what all visitors' models together may hold (2.7 GB Cloud limit, ~1 GB for the rest)
# A visitor's model kept with two engines took 9–18 MB (LeNet) and 10–27 MB (AlexNet) of RSS each, beyond the first
# (bench/results/visitor_models_oneoff.log); reckoned as 25 MB and its weights with Adam's two moments, 12 bytes a
# parameter (3 MB for LeNet, 5 for AlexNet, 100 for the study's large AlexNet): about 35 models in 1,000 MB.
MODEL_BASE_MEGABYTES = 25
BYTES_PER_PARAMETER = 12

_HELD: weakref.WeakSet = weakref.WeakSet()  # every session's models, alive until their session is collected
_HELD_LOCK = threading.Lock()
# A full collection (0.15 s to a second, every thread stalled) at most this often, however often Train is refused
COLLECT_EVERY = 30.0
_last_collection = -COLLECT_EVERY


@dataclass(eq=False)  # by identity: the server's set of every session's models holds it weakly
class SessionModel:
    """A model trained in this session, with the record the pages show and its analysis engines."""

    arch: str
    dataset: str
    result: Any  # core.models.TrainingResult
    model_id: str = field(default_factory=lambda: f"{_ID_PREFIX}{uuid.uuid4().hex}")
    _analyzers: LRUCache = field(default_factory=lambda: LRUCache(maxsize=ANALYZERS_PER_MODEL))

    @property
    def model(self) -> Any:
        return self.result.model

    @property
    def megabytes(self) -> float:
        """What keeping this model is reckoned to hold in memory (see ``MODEL_BASE_MEGABYTES``)."""
        return footprint_megabytes(int(self.model.count_params()))

    @property
    def metadata(self) -> dict[str, Any]:
        result = self.result
        return {"sha256": self.model_id, "origin": "your model", "epochs": result.epochs_run,
                "test_accuracy": result.test_accuracy, "test_confusion": result.confusion.tolist(),
                "history": result.history, "training_seconds": round(result.seconds, 2),
                "parameters": int(result.model.count_params()), **{f"setting_{k}": v for k, v in
                                                                  result.settings.items()}}

    @property
    def description(self) -> str:
        epochs = self.result.epochs_run
        # two decimals, as the Models page's metric (53.25 % there, 53.2 % here)
        return f"your model, {epochs} epoch{'s' if epochs != 1 else ''}, {self.result.test_accuracy:.2%}"

    def analyzer(self, noise: str, data: Callable[[], Any], chunk_size: int) -> Any:
        """This model's engine for a noise type, kept for the last ``ANALYZERS_PER_MODEL`` noise types used."""
        if noise not in self._analyzers:
            from core.reverse_correlation import Analyzer

            self._analyzers[noise] = Analyzer(self.model, data(), noise, chunk_size=chunk_size,
                                              chunk_seconds=CHUNK_SECONDS)
        return self._analyzers[noise]


def footprint_megabytes(parameters: int) -> float:
    """Memory a visitor's model of this many parameters is reckoned to hold once trained and analysed."""
    return MODEL_BASE_MEGABYTES + parameters * BYTES_PER_PARAMETER / 1e6


def models_that_fit(arch: str) -> int:
    """How many visitors' models of ``arch`` the server's ``SERVER_MEGABYTES`` hold (the Models page says so)."""
    from core.models import parameter_count

    return int(SERVER_MEGABYTES // footprint_megabytes(parameter_count(arch)))


def held_megabytes() -> float:
    """What every session's models hold together; an ended session's count until the collector frees them."""
    with _HELD_LOCK:
        return sum(model.megabytes for model in list(_HELD))


def room_for(arch: str, dataset: str) -> bool:
    """Whether this session may keep one more model of ``arch`` within ``SERVER_MEGABYTES`` (the one it would
    replace, of the same architecture and dataset, does not count)."""
    from core.models import parameter_count

    replaced = get(arch, dataset)
    needed = footprint_megabytes(parameter_count(arch)) - (replaced.megabytes if replaced is not None else 0.0)
    if held_megabytes() + needed <= SERVER_MEGABYTES:
        return True
    global _last_collection
    with _HELD_LOCK:
        collect = time.monotonic() - _last_collection >= COLLECT_EVERY
        if collect:
            _last_collection = time.monotonic()
    if collect:  # models of sessions that ended, in reference cycles, maybe frozen (settle_heap)
        from ui.resources import collect_frozen_garbage

        collect_frozen_garbage()
    return held_megabytes() + needed <= SERVER_MEGABYTES


def is_session_model(model_id: str) -> bool:
    """Whether a model id names a session's own model (not a file on the server)."""
    return model_id.startswith(_ID_PREFIX)


def get(arch: str, dataset: str) -> SessionModel | None:
    return st.session_state.get(_KEY, {}).get((arch, dataset))


def keep(arch: str, dataset: str, result: Any) -> SessionModel:
    """Use ``result`` for this session's pages from now on (replacing an earlier one of this session)."""
    models = st.session_state.setdefault(_KEY, {})
    models[(arch, dataset)] = kept = SessionModel(arch, dataset, result)
    with _HELD_LOCK:
        _HELD.add(kept)
    return kept


def drop(arch: str, dataset: str) -> None:
    """Go back to the server's model."""
    st.session_state.get(_KEY, {}).pop((arch, dataset), None)
