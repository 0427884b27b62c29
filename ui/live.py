"""The analysis, live: grow the shared run for the page's settings, drawing progress and partial pictures, and
let Stop or any moved control end it between chunks (what was computed is kept)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from core.analysis import MODEL_FREE_ESTIMATORS
from core.link import Controls
from core.runs import RunKey
from ui import resources, session_models, streamlit_internals

LIVE_N = 10_000  # up to here a redraw is live (about a second); above it, progress, partial images and Stop


def run_key(arch: str, dataset_name: str, model_id: str, controls: Controls) -> RunKey:
    return RunKey(arch, dataset_name, model_id, controls.settings)


def stored_stimuli(arch: str, dataset_name: str, model_id: str, controls: Controls) -> int:
    """How many stimuli of this stream the shared run store already holds (any session may have run them)."""
    return resources.runs().stored_stimuli(run_key(arch, dataset_name, model_id, controls))


def run_analysis(arch: str, dataset_name: str, model_id: str, controls: Controls, progress: Any | None = None,
                 on_partial: Callable[[Any], None] | None = None, partial_every: float = 1.0,
                 stopped: bool = False):
    """Grow the shared run for these settings to N, once for every session that asks, drawing progress and
    partial results on the way. ``stopped`` shows what is there without computing more (if anything is)."""
    key = run_key(arch, dataset_name, model_id, controls)
    store = resources.runs()
    engine = resources.analyzer(arch, dataset_name, controls.noise, model_id)
    last_draw = [time.perf_counter()]

    def report(state: Any) -> None:
        if progress is not None:
            progress.progress(min(state.n / controls.n, 1.0), text=f"{state.n:,} of {controls.n:,} stimuli")
        if on_partial is not None and time.perf_counter() - last_draw[0] > partial_every and state.n < controls.n:
            on_partial(state)
            last_draw[0] = time.perf_counter()

    kept = store.get(key)
    if stopped and kept is not None and kept.n > 0:
        return engine, kept.rewound_to(controls.n)
    state = store.grow(key, engine, controls.n, on_progress=report,
                       should_stop=streamlit_internals.rerun_waiting)
    if state.n < controls.n:
        make_way_for_the_waiting_rerun()
    if not session_models.is_session_model(model_id):  # a session's own model must stay collectable when it ends
        resources.settle_heap((arch, dataset_name, controls.noise, model_id, controls.ratio > 0))
    if progress is not None:
        progress.empty()
    return engine, state


def make_way_for_the_waiting_rerun() -> None:
    """End this run, cut short by ``rerun_waiting``, so the waiting rerun starts now and nothing stale is drawn.

    ``st.rerun`` folds into the waiting request, keeping the user's new widget values; a fragment-scoped one
    is what lets Streamlit end a fragment's run for it.
    """
    st.rerun(scope="fragment" if streamlit_internals.in_fragment_run() else "app")


def ground_truth_preview(arch: str, dataset_name: str, model_id: str, controls: Controls):
    """For a live redraw of ground-truth images, their sums made without the model (about 40 ms for 10,000
    stimuli here, against 0.5–0.8 s through it), to draw before the model runs. None for other estimators, above
    ``LIVE_N``, or when the shared run already holds N stimuli."""
    if controls.estimator not in MODEL_FREE_ESTIMATORS or controls.n > LIVE_N:
        return None
    if stored_stimuli(arch, dataset_name, model_id, controls) >= controls.n:
        return None
    return resources.analyzer(arch, dataset_name, controls.noise, model_id).ground_truth_run(controls.settings,
                                                                                           controls.n)


def stop_or_continue(controls: Controls, complete: bool, note: str) -> tuple[bool, Any | None]:
    """Above the live range: Stop while the run is in progress, Continue once it was stopped, and ``note``.

    Returns whether the view is stopped (show what is stored, compute nothing) and the Stop button's slot, to
    empty when the run completes: nothing is left to stop then.
    """
    if controls.n <= LIVE_N:
        return False, None
    stopped = st.session_state.get("stopped_at") == controls and not complete
    button, caption = st.columns([1, 6])
    stop = None
    if stopped:
        button.button("Continue", key="continue", on_click=lambda: st.session_state.pop("stopped_at", None))
    elif not complete:
        stop = button.empty()
        stop.button("Stop", key="stop", on_click=lambda: st.session_state.update(stopped_at=controls))
    caption.caption(note)
    return stopped, stop


def example_stimuli(dataset_name: str, controls: Controls, count: int = 8) -> np.ndarray:
    """The first stimuli of the stream exactly as the model sees them."""
    from core.noise import mix, noise_samples

    data = resources.dataset(dataset_name)
    noise = noise_samples(controls.settings.noise, 0, count, data.train_images)
    signal = data.test_images[:count] / 255.0
    return mix(signal, noise, controls.ratio)
