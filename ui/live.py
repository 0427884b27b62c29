"""The analysis, live: grow the shared run for the page's settings, drawing progress and partial pictures, and
let Stop or any moved control end it between chunks (what was computed is kept)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from core.analysis import MODEL_FREE_ESTIMATORS
from core.link import Controls
from core.pacing import RedrawPacing
from core.runs import RunKey
from ui import resources, session_models, streamlit_internals
from ui.frame import draw_chart

# Above this, a run offers Stop (and Continue), pages show a progress bar, and ground-truth images are not
# previewed without the model. Partial pictures are drawn at every N, paced by ``core.pacing``.
LIVE_N = 10_000


def run_key(arch: str, dataset_name: str, model_id: str, controls: Controls) -> RunKey:
    return RunKey(arch, dataset_name, model_id, controls.settings)


def stored_stimuli(arch: str, dataset_name: str, model_id: str, controls: Controls) -> int:
    """How many stimuli of this stream the shared run store already holds (any session may have run them)."""
    return resources.runs().stored_stimuli(run_key(arch, dataset_name, model_id, controls))


def run_analysis(arch: str, dataset_name: str, model_id: str, controls: Controls, progress: Any | None = None,
                 on_partial: Callable[[Any], None] | None = None, stopped: bool = False):
    """Grow the shared run for these settings to N, once for every session that asks, drawing progress and
    partial results on the way. ``stopped`` shows what is there without computing more (if anything is).

    The model's pass runs in a worker thread while this (the script's) thread draws: a partial picture then costs
    the pass no time, only a little CPU. Partial pictures are paced by ``core.pacing`` (the first at once unless
    the run is about to end, then a few a second) and drawn from the store's copy of the run, never from the
    state the worker is adding to. A moved control stops the worker at its next chunk.
    """
    key = run_key(arch, dataset_name, model_id, controls)
    store = resources.runs()
    engine = resources.analyzer(arch, dataset_name, controls.noise, model_id)
    kept = store.get(key)
    if stopped and kept is not None and kept.n > 0:
        if progress is not None:  # its "starting…" stood over the stopped view for as long as it was shown
            progress.empty()
        return engine, kept.rewound_to(controls.n)
    state = _grow_while_drawing(key, engine, controls.n, progress, on_partial)
    if state.n < controls.n:
        make_way_for_the_waiting_rerun()
    if not session_models.is_session_model(model_id):  # a session's own model must stay collectable when it ends
        traced = (controls.ratio > 0, controls.estimator not in MODEL_FREE_ESTIMATORS, controls.settings.gradients)
        resources.settle_heap(engine, traced)
    if progress is not None:
        progress.empty()
    return engine, state


def _grow_while_drawing(key: RunKey, engine: Any, n_samples: int, progress: Any | None,
                        on_partial: Callable[[Any], None] | None):
    """``RunStore.grow`` in a worker thread; this thread draws progress and partial pictures until it ends."""
    store = resources.runs()
    stop, changed = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:  # no Streamlit calls in here: this thread has no script context
        try:
            outcome["state"] = store.grow(key, engine, n_samples, on_progress=lambda _: changed.set(),
                                          should_stop=stop.is_set)
        except BaseException as error:  # handed to the script thread, which raises it
            outcome["error"] = error
        finally:
            changed.set()

    worker = threading.Thread(target=work, name="noise-lens-run", daemon=True)
    pacing, shown = RedrawPacing(time.perf_counter()), 0

    def draw(partial: Any) -> None:
        if progress is not None:
            progress.progress(min(partial.n / n_samples, 1.0), text=f"{partial.n:,} of {n_samples:,} stimuli")
        if on_partial is not None:
            on_partial(partial)

    if streamlit_internals.rerun_waiting():  # a control moved before the run began: no chunk at all
        stop.set()
    worker.start()
    try:
        while worker.is_alive():
            changed.wait(timeout=pacing.every / 2)
            changed.clear()
            if streamlit_internals.rerun_waiting():
                stop.set()
            partial = store.get(key)
            if partial is None or partial.n == shown or not worker.is_alive():
                continue
            if pacing.draw_if_due(partial.n, n_samples, lambda: draw(partial.rewound_to(n_samples))):
                shown = partial.n
    finally:  # also when Streamlit ends this script run early: the worker stops at its next chunk
        if worker.is_alive():
            stop.set()
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["state"]


def make_way_for_the_waiting_rerun() -> None:
    """End this run, cut short by ``rerun_waiting``, so the waiting rerun starts now and nothing stale is drawn.

    ``st.rerun`` folds into the waiting request, keeping the user's new widget values; a fragment-scoped one
    is what lets Streamlit end a fragment's run for it.
    """
    streamlit_internals.rerun_this_run()


def ground_truth_preview(arch: str, dataset_name: str, model_id: str, controls: Controls,
                         on_partial: Callable[[Any], None] | None = None):
    """For a live redraw of ground-truth images, their sums made without the model (about 40 ms for 10,000
    stimuli on a fast machine, 0.2–0.3 s on a slow one, against 0.5–6 s through it), to draw before the model
    runs; ``on_partial`` draws the growing sums on the way, paced like the model's run (the first chunk at once).
    None for other estimators, above ``LIVE_N``, or when the shared run already holds N stimuli."""
    if controls.estimator not in MODEL_FREE_ESTIMATORS or controls.n > LIVE_N:
        return None
    if stored_stimuli(arch, dataset_name, model_id, controls) >= controls.n:
        return None
    pacing = RedrawPacing(time.perf_counter())

    def partial(state: Any) -> None:
        if on_partial is not None:
            pacing.draw_if_due(state.n, controls.n, lambda: on_partial(state))

    return resources.analyzer(arch, dataset_name, controls.noise, model_id).ground_truth_run(
        controls.settings, controls.n, on_progress=partial)


def stop_or_continue(controls: Controls, complete: bool, note: str) -> tuple[bool, Any | None]:
    """Above the live range: Stop while the run is in progress, Continue once it was stopped, and ``note``.

    Returns whether the view is stopped (show what is stored, compute nothing) and the Stop button's slot, to
    empty when the run completes: nothing is left to stop then.
    """
    # The button and its note in one slot, emptied together when the run completes. The slot is there (blank,
    # taking no room) when they are not: a block that moved up into the place of the page's next one would keep
    # that one's elements on screen, greyed, below its own (Streamlit's browser side reuses a replaced block's
    # children), e.g. the previous run's downloads for the whole of a long run.
    slot = st.empty()
    if controls.n <= LIVE_N or complete:  # complete: nothing to stop or continue, and a note about Stop with no
        return False, None  # Stop button only puzzles
    stopped = st.session_state.get("stopped_at") == controls
    button, caption = slot.container().columns([1, 6])
    # One button whose label and action change, not two: a widget's identity is its key, and Streamlit kept a
    # Continue of another key on screen (greyed) under the Stop of the continued run until that run ended,
    # seconds to minutes later, however it was replaced.
    if stopped:
        button.button("Continue", key="stop_or_continue", on_click=lambda: st.session_state.pop("stopped_at", None))
    else:
        button.button("Stop", key="stop_or_continue", on_click=lambda: st.session_state.update(stopped_at=controls))
    caption.caption(note)
    return stopped, None if stopped else slot


def progress_bar(controls: Controls) -> Any | None:
    """A long run's progress bar, for ``run_analysis`` (None at live sizes, whose picture says enough). Its place is
    kept, blank, at every N, so that what follows keeps its place (see ``Results``)."""
    place = st.empty()
    if controls.n <= LIVE_N:
        return None
    place.progress(0.0, text="starting…")
    return place


def runs_long(arch: str, dataset_name: str, model_id: str, controls: Controls) -> bool:
    """Whether these settings start a run above the live sizes (seconds to minutes)."""
    return controls.n > LIVE_N and stored_stimuli(arch, dataset_name, model_id, controls) < controls.n


class Results:
    """Where a page's results go, made before its run. ``blank``: the place shows nothing until they are drawn.

    Greyed, the previous settings' results stayed there for the minutes a long run takes, their download buttons
    giving the previous run's files. A blank place holds an element until the results come: a container sent at
    once would inherit the old one's elements (Streamlit sends only the last of two queued deltas for one place,
    and its browser keeps a replaced block's children). Without ``blank`` the results are redrawn in place.
    """

    def __init__(self, blank: bool) -> None:
        self.blank = blank
        self.place = st.empty() if blank else st.container()  # the sweep of Attack shows its progress bar here

    def container(self) -> Any:
        """The container to draw the results in, once they are ready."""
        return self.place.container() if self.blank else self.place


class Slot:
    """A place on the page that keeps showing what it showed until something new is drawn there, which then
    replaces it in place. ``st.empty()`` blanks the old element the moment it is created: a redraw would show
    nothing until its new element is ready (for a picture, a blank frame at every change)."""

    def __init__(self, container: Any) -> None:
        self._at = container  # the container until the first drawing, then the element drawn last

    def draw(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``st.<method>(*args, **kwargs)`` in this place, e.g. ``slot.draw("plotly_chart", figure, key=…)``; a
        chart through ``frame.draw_chart``, which describes it for a screen reader as every chart is."""
        if method == "plotly_chart":
            (figure,) = args
            self._at = draw_chart(figure, self._at, **kwargs)
        else:
            self._at = getattr(self._at, method)(*args, **kwargs)
        return self._at


def example_stimuli(dataset_name: str, controls: Controls, count: int = 8) -> np.ndarray:
    """The first stimuli of the stream exactly as the model sees them."""
    from core.noise import first_stimuli

    data = resources.dataset(dataset_name)
    return first_stimuli(controls.settings.noise, controls.ratio, data.test_images, data.train_images, count)
