"""Analysis runs shared by every session of the server: one computation per distinct setting.

When thirty students open the same link at once, the first session runs the model and the other 29 wait for that
run and reuse it (single-flight), watching its progress; different links run side by side. Runs are kept in a
small LRU, so growing N continues where anyone stopped and a seed seen before redraws without the model.
"""

from __future__ import annotations

import io
import shlex
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from core.reverse_correlation import AnalysisSettings, AnalysisState, RunProgressCallback

RUN_SLOTS = 12  # analysis runs kept for reuse across reruns and sessions
_FOLLOW_EVERY = 0.1  # seconds between a waiting session's looks at the leader's progress


def csv_zip(files: dict[str, str]) -> bytes:
    """The command line's CSV files of one view in one ZIP, under their own names: one download, and each file the
    same bytes as the command's (the page once wrote two tables into one file, which no CSV reader takes whole).
    Dated 1980-01-01, so the same tables make the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), text,
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def settings_line(record: dict[str, Any]) -> str:
    """The settings a result came from, in one line (a run's record: ``core.link.Controls.record`` for a page, the
    command line's own for ``python -m core``), so a printed line or a saved picture still says what it shows."""
    sigma = "" if record.get("sigma") is None else f" (σ {record['sigma']:g})"
    grouping = (f", {record['estimator']} grouping of the {record['part']} part" if "estimator" in record else "")
    ratio = f", r = {record['ratio']:g}" if "ratio" in record else ""
    return (f"{record['arch']}-{record['dataset']}, N = {record['samples']:,}{ratio}, "
            f"{record['noise']} noise{sigma}{grouping}, seed {record['seed']}")


def command_line(command: str, record: dict[str, Any], out: str, **options: Any) -> str:
    """The ``python -m core`` command that recomputes ``record``'s run, every setting spelled out: the command line's
    defaults are not the page's (10,000 pure-noise stimuli grouped by prediction against 1,000 at r = 0.7 by the
    truth), and a link leaves the page's out, so a command built from a link computed something else. ``options``:
    the command's own settings (``ridge``, ``subset``, ``layers``, ``z_scores``: a switch, given alone when true);
    None leaves a setting out."""
    words = ["python", "-m", "core", command]
    for name, value in {**record, **options}.items():
        flag = f"--{name.replace('_', '-')}"
        if value is None or value is False:
            continue
        if value is True:
            words.append(flag)
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        words += [flag, *(f"{v:g}" if isinstance(v, float) else str(v) for v in values)]
    return shlex.join([*words, "--out", out])


@dataclass(frozen=True)
class RunKey:
    """What makes two runs the same stimuli through the same network."""

    arch: str
    dataset: str
    model_id: str  # the model file's SHA-256, or a session model's own id
    settings: AnalysisSettings


class Engine(Protocol):
    def start(self, settings: AnalysisSettings) -> AnalysisState: ...

    def run(self, settings: AnalysisSettings, n_samples: int, state: AnalysisState | None = None,
            on_progress: RunProgressCallback | None = None,
            should_stop: Callable[[], bool] | None = None) -> AnalysisState: ...


class RunStore:
    """A thread-safe LRU of runs with one lock per run: whoever holds it computes, the others follow."""

    def __init__(self, slots: int = RUN_SLOTS) -> None:
        self.slots = slots
        self.stimuli_computed = 0  # through the model, by every session: what single-flight saves
        self._states: OrderedDict[RunKey, AnalysisState] = OrderedDict()
        self._locks: dict[RunKey, threading.Lock] = {}
        self._users: dict[RunKey, int] = {}  # sessions in ``grow`` for a key: its lock goes when none is and the
        # key holds no run (a run cut short before its first chunk left its lock behind for the server's lifetime)
        self._guard = threading.Lock()

    def get(self, key: RunKey) -> AnalysisState | None:
        with self._guard:
            if key in self._states:
                self._states.move_to_end(key)
            return self._states.get(key)

    def stored_stimuli(self, key: RunKey) -> int:
        kept = self.get(key)
        return 0 if kept is None else kept.n

    def put(self, key: RunKey, state: AnalysisState) -> None:
        with self._guard:
            self._states[key] = state
            self._states.move_to_end(key)
            while len(self._states) > self.slots:
                evicted, _ = self._states.popitem(last=False)
                if not self._users.get(evicted):
                    self._locks.pop(evicted, None)

    def _enter(self, key: RunKey) -> threading.Lock:
        """The key's lock, counting this session as its user until ``_leave``."""
        with self._guard:
            self._users[key] = self._users.get(key, 0) + 1
            return self._locks.setdefault(key, threading.Lock())

    def _leave(self, key: RunKey) -> None:
        with self._guard:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                if key not in self._states:
                    self._locks.pop(key, None)

    def held_locks(self) -> int:
        """Locks the store holds: one per kept run, and one per key some session is computing or waiting for."""
        with self._guard:
            return len(self._locks)

    def grow(self, key: RunKey, engine: Engine, n_samples: int, on_progress: RunProgressCallback | None = None,
             should_stop: Callable[[], bool] | None = None) -> AnalysisState:
        """The run for ``key`` grown to ``n_samples`` stimuli, computed once however many sessions ask.

        A session that finds the run being computed waits for it, reporting the leader's progress, and then
        reuses it; if ``should_stop`` turns true while it waits, it returns what is stored so far. A run cut short
        before its first chunk is not kept (there is nothing to show of it).
        """
        lock = self._enter(key)
        try:
            return self._grow_holding(key, lock, engine, n_samples, on_progress, should_stop)
        finally:
            self._leave(key)

    def _grow_holding(self, key: RunKey, lock: threading.Lock, engine: Engine, n_samples: int,
                      on_progress: RunProgressCallback | None,
                      should_stop: Callable[[], bool] | None) -> AnalysisState:
        shown = -1
        while not lock.acquire(timeout=_FOLLOW_EVERY):
            kept = self.get(key)
            if kept is not None and kept.n != shown and on_progress is not None:
                shown = kept.n
                on_progress(kept)
            if should_stop is not None and should_stop():
                return kept.rewound_to(n_samples) if kept is not None else engine.start(key.settings)
        try:
            kept = self.get(key)
            counted = [0 if kept is None else kept.rewound_to(n_samples).n]  # where the run resumes

            def report(state: AnalysisState) -> None:
                with self._guard:
                    self.stimuli_computed += state.n - counted[0]
                counted[0] = state.n
                # A copy: the run goes on adding to ``state`` while followers draw what is stored.
                self.put(key, replace(state, sums=state.sums.copy(), snapshots=dict(state.snapshots)))
                if on_progress is not None:
                    on_progress(state)

            state = engine.run(key.settings, n_samples, state=kept, on_progress=report, should_stop=should_stop)
            if state.n > 0:
                self.put(key, state)
            return state
        finally:
            lock.release()
