"""Models a visitor trained from the app: used by that visitor's pages only, gone when the session ends.

On a shared server a visitor's training must not change what the rest of the class sees, so it is kept in the
session's memory (one model per architecture and dataset, a few MB each) and never written to ``cache/models``.
Publishing one server-wide needs the teacher key (the Models page).
"""

from __future__ import annotations

import uuid
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


@dataclass
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


def is_session_model(model_id: str) -> bool:
    """Whether a model id names a session's own model (not a file on the server)."""
    return model_id.startswith(_ID_PREFIX)


def get(arch: str, dataset: str) -> SessionModel | None:
    return st.session_state.get(_KEY, {}).get((arch, dataset))


def keep(arch: str, dataset: str, result: Any) -> SessionModel:
    """Use ``result`` for this session's pages from now on (replacing an earlier one of this session)."""
    models = st.session_state.setdefault(_KEY, {})
    models[(arch, dataset)] = SessionModel(arch, dataset, result)
    return models[(arch, dataset)]


def drop(arch: str, dataset: str) -> None:
    """Go back to the server's model."""
    st.session_state.get(_KEY, {}).pop((arch, dataset), None)
