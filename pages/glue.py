"""Streamlit glue, in one place: URL-bound controls, cached loaders, friendly errors.

Every control is bound to a query parameter (``bind="query-params"``), so a copied link reproduces the view,
seed included. Values in a link are checked here first, so a bad one is named on screen instead of silently
dropped.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from core.config import CLASS_NAMES, DATA_DIR_ENV, DATASET_TITLES, DATASETS
from core.data import DataUnavailableError, IdxFormatError
from core.models import ARCHITECTURES, SHIPPED_ARCHITECTURES
from core.noise import DEFAULT_SIGMA, NOISE_TYPES, SIGMA_NOISE_TYPES

SAMPLE_COUNTS = [100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000]
ESTIMATOR_LABELS = {
    "truth": "ground truth (original study)",
    "predicted": "model's prediction",
    "softmax": "softmax-weighted",
    "regression": "regression kernel",
}
SOURCE_LABELS = {"input": "whole input (the original's figure)", "noise": "noise part (the analysis)"}
CHUNK = 1024  # small batches keep the server's peak memory low; throughput is flat above ~1k here
LIVE_N = 10_000  # up to here a redraw is live (about a second); above it, progress, partial images and Stop
_STATE_SLOTS = 12  # analysis runs kept for reuse across reruns and sessions


# --- URL-bound controls ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One URL parameter: its default and how to check a value from a link."""

    default: Any
    parse: Callable[[str], Any]


def _choice(options: list[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"choose one of {', '.join(options)}")
        return text

    return parse


def _plain(number: float) -> str:
    """2147483647 as 2,147,483,647 rather than 2.14748e+09."""
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


def _number(low: float, high: float, kind: type = float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("must be a number") from None
        if not low <= value <= high:  # NaN fails this too
            raise ValueError(f"must be between {_plain(low)} and {_plain(high)}")
        return value if kind is float else int(value)  # as Streamlit's number input reads its link: 1.5 → 1

    return parse


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError("must be true or false")
    return text.lower() == "true"


def _sample_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if value not in SAMPLE_COUNTS:
        raise ValueError("must be one of 100, 200, 500, 1,000, … 1,000,000")
    return value


PARAMS: dict[str, Param] = {
    "dataset": Param("mnist", _choice(list(DATASETS))),
    "arch": Param("lenet", _choice(list(SHIPPED_ARCHITECTURES))),
    "n": Param(1_000, _sample_count),
    "r": Param(0.7, _number(0.0, 1.0)),
    "noise": Param("uniform", _choice(list(NOISE_TYPES))),
    "sigma": Param(DEFAULT_SIGMA, _number(0.05, 0.5)),
    "estimator": Param("truth", _choice(list(ESTIMATOR_LABELS))),
    "part": Param("input", _choice(list(SOURCE_LABELS))),
    "seed": Param(0, _number(0, 2**31 - 1, int)),
    "z": Param(False, _flag),
}


def _link_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) else str(value)


ANALYSIS_KEYS = ("n", "r", "noise", "sigma", "seed", "estimator", "part", "z")


def check_link() -> list[str]:
    """Validate the query parameters of the link and adopt them as the session's settings; return one note per
    value that was replaced by its default.

    Putting the values in session state, rather than leaving them to the URL binding, keeps them when the
    student opens another page: values a widget took from the link were dropped on the first page switch.
    """
    notes = []
    for key, param in PARAMS.items():
        raw = st.query_params.get(key)
        if raw is None:
            continue
        try:
            value = param.parse(raw)
        except (ValueError, TypeError) as err:
            st.session_state[key] = param.default
            notes.append(f"`{key}={raw}` in the link is not valid ({err}); using {_link_text(param.default)}.")
            continue
        st.session_state[key] = value
        if len(st.query_params.get_all(key)) > 1:
            notes.append(f"`{key}` appears {len(st.query_params.get_all(key))} times in the link; using the last, "
                         f"{_link_text(value)}.")
            st.query_params[key] = raw  # one value, before any widget binds to it: the link stays true
        elif type(value) is int and float(raw) != value:
            notes.append(f"`{key}={raw}` in the link is not a whole number; using {value}.")
    return notes


def show_link_notes() -> None:
    """Show, once per page view, which link values were ignored."""
    for note in st.session_state.pop("_link_notes", []):
        st.warning(note, icon="🔗")


def page(title: str) -> tuple[str, str]:
    """Start a page: make sure the entry script drew the navigation, then title, link notes, selection.

    With a ``pages/`` folder, the first run after the server starts may execute a page directly (Streamlit's
    legacy multipage mode) until ``st.navigation`` has been called once; rerunning through app.py fixes it.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
    st.title(title)
    show_link_notes()
    return selection()


# Streamlit dims every element the running script has not redrawn yet, starting 0.5 s into the run. A live redraw
# at N = 10,000 takes about a second, so the picture dimmed and snapped back on every move of a control, and in a
# browser without GPU compositing the fade took about 0.1 s of CPU from the redraw itself. From 1 s on, slow runs
# (large N, the Compare page) still dim; live ones stay steady. The selector is Streamlit's DOM, watched by the
# end-to-end test.
STEADY_REDRAWS_CSS = '[data-testid="stElementContainer"][data-stale="true"] { transition-delay: 1s !important; }'


def steady_live_redraws() -> None:
    """Dim stale elements only once a run has taken a second (see ``STEADY_REDRAWS_CSS``)."""
    st.html(f"<style>{STEADY_REDRAWS_CSS}</style>")


def remember_link_notes() -> None:
    if "_link_checked" not in st.session_state:
        st.session_state["_link_checked"] = True
        st.session_state["_link_notes"] = check_link()


@dataclass(frozen=True)
class Controls:
    """The analysis settings as plain values, read from the widgets."""

    n: int
    ratio: float
    noise: str
    sigma: float
    estimator: str
    part: str
    seed: int
    z_scores: bool

    @property
    def shows_z_scores(self) -> bool:
        """z-scores are defined for noise averages only; the toggle does nothing on whole-input averages."""
        return self.z_scores and self.part == "noise"


def note_page(url_path: str) -> None:
    """Called by app.py on every full run: remember that the student has just arrived at another page (read once,
    by ``carry_settings_to_this_page``; fragment reruns never pass here)."""
    if st.session_state.get("_page") != url_path:
        st.session_state["_page"] = url_path
        st.session_state["_arrived"] = True


def carry_settings_to_this_page() -> None:
    """Keep the session's settings, and their link, when the student opens another page.

    Streamlit 1.67 dropped values a widget took from the link on the first page switch, and the new page's
    link came without them. So the values are adopted here as this page's (re-set in session state, which
    widgets read), and on arrival at a page the missing ones are written back into its link, before the
    widgets bind to it (Streamlit forbids writing a bound parameter afterwards).
    """
    arrived = st.session_state.pop("_arrived", False)  # once per page visit (see ``note_page``)
    missing = {}
    for key in ANALYSIS_KEYS:
        if arrived and key in st.query_params:  # a link to this page (e.g. Home's "take the signal away") wins
            try:
                st.session_state[key] = PARAMS[key].parse(st.query_params[key])
                continue
            except (ValueError, TypeError):
                pass
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
            if arrived and key not in st.query_params and st.session_state[key] != PARAMS[key].default:
                missing[key] = _link_text(st.session_state[key])
    if missing:  # one change of the address, so one step in the browser's history
        st.query_params.update(missing)


def analysis_controls(show_display: bool = True) -> Controls:
    """Draw the analysis controls (bound to the URL) and return their values; settings that show nothing
    meaningful get a note under the controls, on every page that has them."""
    carry_settings_to_this_page()
    first, second, third = st.columns(3)
    with first:
        # Bound widgets write their option labels into the link, so the options are plain short values.
        n = st.select_slider("Samples N (log scale)", SAMPLE_COUNTS, value=PARAMS["n"].default, key="n",
                             bind="query-params",
                             help="How many noise stimuli to show the model. More samples, sharper images.")
        ratio = st.slider("Signal ratio r", 0.0, 1.0, PARAMS["r"].default, 0.05, key="r", bind="query-params",
                          help="x = r·test image + (1 − r)·noise. r = 0.7 as in the original; r = 0 is pure noise.")
    with second:
        noise = st.selectbox("Noise type", list(NOISE_TYPES), key="noise", bind="query-params",
                             help="\n".join(f"- **{k}**: {v}" for k, v in NOISE_TYPES.items()))
        sigma = st.slider("Noise σ", 0.05, 0.5, PARAMS["sigma"].default, 0.05, key="sigma", bind="query-params",
                          disabled=noise not in SIGMA_NOISE_TYPES,
                          help="Standard deviation of the Gaussian noise (gaussian, base, pink and data types).")
        seed = st.number_input("Seed", 0, 2**31 - 1, PARAMS["seed"].default, 1, key="seed", bind="query-params",
                               help="Same seed, same noise: a shared link shows exactly the same images.")
    with third:
        estimator = st.selectbox("Grouping (estimator)", list(ESTIMATOR_LABELS), key="estimator",
                                 bind="query-params",
                                 help="\n".join(f"- **{k}**: {v}" for k, v in ESTIMATOR_LABELS.items()))
        part = st.radio("Average", list(SOURCE_LABELS), key="part", bind="query-params", horizontal=True,
                        help="\n".join(f"- **{k}**: {v}" for k, v in SOURCE_LABELS.items()))
        z_scores = False
        if show_display:
            z_scores = st.toggle("Show z-scores", key="z", bind="query-params",
                                 help="Pixel-wise z-score of each noise class image: |z| > 3 is unlikely by chance.")
    if z_scores and part != "noise":
        st.info("z-scores are defined for noise averages: switch *Average* to the noise part to see them.")
    if ratio == 0 and estimator == "truth":
        st.info("At r = 0 the stimuli hold no test image, so grouping by the ground truth sorts pure noise by an "
                "unrelated label: ten averages of noise that mean nothing. Group by the model's prediction, "
                "softmax or regression to see what the model sees.")
    if ratio >= 1.0 and part == "noise":
        st.warning("At r = 1 no noise reaches the model, so the noise averages carry no information. "
                   "Lower r or average the whole input.")
    return Controls(int(n), float(ratio), noise, float(sigma), estimator, part, int(seed), bool(z_scores))


def sidebar() -> tuple[str, str]:
    """Shared sidebar: dataset and architecture (URL-bound), and that model's status."""
    with st.sidebar:
        dataset = st.selectbox("Dataset", list(DATASETS), key="dataset", bind="query-params",
                               help="mnist: handwritten digits; fashion_mnist: Zalando clothing photos.")
        arch = st.selectbox("Architecture", list(SHIPPED_ARCHITECTURES), key="arch", bind="query-params",
                            help="\n".join(f"- **{a}**: {ARCHITECTURES[a].summary}" for a in SHIPPED_ARCHITECTURES))
        model_status_panel(arch, dataset)
    st.session_state["_selection"] = (dataset, arch)
    return dataset, arch


def selection() -> tuple[str, str]:
    """The dataset and architecture chosen in the shared sidebar for this run."""
    return st.session_state.get("_selection", (PARAMS["dataset"].default, PARAMS["arch"].default))


# --- cached loaders ---------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the dataset…")
def dataset(name: str):
    from core.data import load_dataset

    return load_dataset(name)


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def model(arch: str, dataset_name: str, sha256: str):
    """The cached model; keyed by its hash so a retrained file is picked up at once."""
    from core.store import load_model

    return load_model(arch, dataset_name)[0]


@st.cache_resource(show_spinner="Preparing the noise → model graph…", max_entries=16)
def analyzer(arch: str, dataset_name: str, noise: str, sha256: str):
    from core.analysis import Analyzer

    return Analyzer(model(arch, dataset_name, sha256), dataset(dataset_name), noise, chunk_size=CHUNK)


class _RunStore:
    """Analysis runs shared by all sessions, so growing N continues where anyone stopped."""

    def __init__(self) -> None:
        self.states: OrderedDict[tuple, Any] = OrderedDict()
        self.locks: dict[tuple, threading.Lock] = {}
        self.guard = threading.Lock()

    def lock(self, key: tuple) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(key, threading.Lock())

    def get(self, key: tuple) -> Any:
        with self.guard:
            if key in self.states:
                self.states.move_to_end(key)
            return self.states.get(key)

    def put(self, key: tuple, state: Any) -> None:
        with self.guard:
            self.states[key] = state
            self.states.move_to_end(key)
            while len(self.states) > _STATE_SLOTS:
                self.states.popitem(last=False)


@st.cache_resource
def runs() -> _RunStore:
    return _RunStore()


# --- status and errors ------------------------------------------------------------------------------------


def data_or_stop(name: str):
    """The dataset, or a friendly panel explaining how to provide it (then the page stops)."""
    try:
        return dataset(name)
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


def model_status(arch: str, dataset_name: str):
    from core.store import inspect_model

    return inspect_model(arch, dataset_name)


def model_status_panel(arch: str, dataset_name: str) -> None:
    status = model_status(arch, dataset_name)
    meta = status.metadata or {}
    if status.usable:
        origin = "shipped with Noise Lens" if meta.get("origin") == "shipped" else "trained here"
        st.success(f"**{arch}-{dataset_name}**: {origin}, test accuracy {meta['test_accuracy']:.2%}", icon="✅")
        return
    if status.state == "damaged":
        st.error(f"The cached model is damaged and will not be used: {status.problem}", icon="⚠️")
    else:
        st.info(f"**{arch}-{dataset_name}** is not trained yet.", icon="ℹ️")
    st.page_link("pages/models.py", label="Train it on the Models page", icon="🏋️")


def model_or_stop(arch: str, dataset_name: str) -> tuple[Any, dict]:
    """The ready model and its metadata, or an offer to train it (then the page stops)."""
    status = model_status(arch, dataset_name)
    if not status.usable:
        problem = "is damaged" if status.state == "damaged" else "is not trained yet"
        st.warning(f"The {ARCHITECTURES[arch].title} model for {DATASET_TITLES[dataset_name]} {problem}.",
                   icon="🏋️")
        st.page_link("pages/models.py", label="Train it on the Models page", icon="🏋️")
        st.stop()
    meta = status.metadata or {}
    return model(arch, dataset_name, meta["sha256"]), meta


def class_names(dataset_name: str) -> tuple[str, ...]:
    return CLASS_NAMES[dataset_name]


# --- the analysis, live -----------------------------------------------------------------------------------


def run_analysis(arch: str, dataset_name: str, sha256: str, controls: Controls, progress: Any | None = None,
                 on_partial: Callable[[Any], None] | None = None, partial_every: float = 1.0,
                 stopped: bool = False):
    """Grow the shared run for these settings to N, drawing progress and partial results on the way.

    A control moved or Stop pressed ends the run between chunks (``rerun_waiting``) and starts the rerun at
    once; what was computed is kept. ``stopped`` shows what is there without computing more (if anything is).
    """
    import time

    settings = analysis_settings(controls)
    key = (arch, dataset_name, sha256, settings)
    store = runs()
    engine = analyzer(arch, dataset_name, controls.noise, sha256)
    last_draw = [time.perf_counter()]

    def report(state: Any) -> None:
        store.put(key, state)
        if progress is not None:
            progress.progress(min(state.n / controls.n, 1.0), text=f"{state.n:,} of {controls.n:,} stimuli")
        if on_partial is not None and time.perf_counter() - last_draw[0] > partial_every and state.n < controls.n:
            on_partial(state)
            last_draw[0] = time.perf_counter()

    kept = store.get(key)
    if stopped and kept is not None and kept.n > 0:
        return engine, kept.rewound_to(controls.n)
    with store.lock(key):
        state = engine.run(settings, controls.n, state=store.get(key), on_progress=report,
                           should_stop=rerun_waiting)
        if state.n > 0:  # a run cut short before its first chunk has nothing to keep or show
            store.put(key, state)
    if state.n < controls.n:
        make_way_for_the_waiting_rerun()
    settle_heap((arch, dataset_name, controls.noise, sha256, settings.ratio > 0))
    if progress is not None:
        progress.empty()
    return engine, state


def rerun_waiting() -> bool:
    """Whether this session has a rerun waiting: a control moved or a button pressed since this run began.

    Streamlit does not interrupt a fragment's run for the fragment's own widgets: their rerun waits until the run
    ends, so at N = 1,000,000 Stop, or a new seed, waited a minute. The analysis asks this between chunks.
    It reads a private field of Streamlit's; a test fails if a new Streamlit renames it.
    """
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    requests = getattr(get_script_run_ctx(), "script_requests", None)
    return getattr(getattr(requests, "_state", None), "name", None) in ("RERUN", "STOP")


def make_way_for_the_waiting_rerun() -> None:
    """End this run, cut short by ``rerun_waiting``, so the waiting rerun starts now and nothing stale is drawn.

    ``st.rerun`` folds into the waiting request, keeping the user's new widget values; a fragment-scoped one
    is what lets Streamlit end a fragment's run for it.
    """
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    st.rerun(scope="fragment" if ctx is not None and ctx.fragment_ids_this_run else "app")


def analysis_settings(controls: Controls):
    """The stimulus stream the controls describe (σ only where the noise type has one)."""
    from core.analysis import AnalysisSettings
    from core.noise import NoiseSpec

    sigma = controls.sigma if controls.noise in SIGMA_NOISE_TYPES else DEFAULT_SIGMA
    return AnalysisSettings(NoiseSpec(controls.noise, sigma, controls.seed), controls.ratio)


def shown_images(state: Any, images: Any, controls: Controls) -> tuple[np.ndarray, str]:
    """What a class-image picture shows, and its colour bar's label: z-scores (noise averages only), grey
    levels, or signed deviations and kernels."""
    from core.analysis import z_scores

    shown = z_scores(state, images) if controls.shows_z_scores else images.display
    return shown, colour_label(images, controls)


def colour_label(images: Any, controls: Controls) -> str:
    return "z-score" if controls.shows_z_scores else images.display_unit


def colour_scaling(images: Any, controls: Controls) -> dict[str, Any]:
    """How a class-image picture's colours are scaled, the same on screen and in the PNG: z-scores span at least
    ±3; averages leave scarce classes out of the scale."""
    z = controls.shows_z_scores
    return {"weights": images.weights if images.marks_scarce and not z else None, "least_limit": 3.0 if z else 0.0}


def class_images_figure(state: Any, images: Any, controls: Controls, names: tuple[str, ...], counts: bool = True,
                        height: int | None = None) -> tuple[Any, np.ndarray]:
    """The picture of a page, and the array it shows: values, colour bar, titles and scale chosen the same way on
    every page."""
    from core.plots import class_images_figure as figure

    shown, label = shown_images(state, images, controls)
    return figure(shown, panel_titles(names, images, counts), images.signed, label, height=height,
                  **colour_scaling(images, controls)), shown


def class_images_png(shown: np.ndarray, images: Any, controls: Controls, names: tuple[str, ...]) -> bytes:
    """The picture ``class_images_figure`` drew, as a PNG with the same titles, colours and colour scale."""
    from core.plots import class_grid_png

    return class_grid_png(shown, panel_titles(names, images), images.signed, label=colour_label(images, controls),
                          **colour_scaling(images, controls))


def scarce_classes(images: Any) -> np.ndarray:
    """The classes marked *too few*: predicted at all, yet behind under 1 % of the weight (only on pictures
    where ``ClassImages.marks_scarce``)."""
    from core.plots import scarce

    if not images.marks_scarce:
        return np.zeros(len(images.weights), bool)
    return scarce(images.weights) & ~np.asarray(images.empty, bool)


def panel_titles(names: tuple[str, ...], images: Any, counts: bool = True) -> list[str]:
    """Class names over the panels, with the samples or weight behind each (``counts``); empty classes and, on a
    diverging scale, scarce ones (saturated, left out of the colour scale) are marked. Without counts (small
    grids) only a * marks scarce classes."""
    titles = []
    for name, weight, empty, scarce_class in zip(names, images.weights, images.empty, scarce_classes(images)):
        if not counts:  # small grids: the name alone fits; blank panels and * are explained in the page's caption
            titles.append(f"{name}*" if scarce_class else name)
        elif empty:
            titles.append(f"{name}: never predicted")
        else:
            titles.append(f"{name} ({weight:,.0f}, too few)" if scarce_class else f"{name} ({weight:,.0f})")
    return titles


def ground_truth_preview(arch: str, dataset_name: str, sha256: str, controls: Controls):
    """For a live redraw of ground-truth images, their sums made without the model (about 40 ms for 10,000
    stimuli here, against 0.5–0.8 s through it), to draw before the model runs. None for other estimators, above
    ``LIVE_N``, or when the shared run already holds N stimuli."""
    from core.analysis import MODEL_FREE_ESTIMATORS

    if controls.estimator not in MODEL_FREE_ESTIMATORS or controls.n > LIVE_N:
        return None
    if stored_stimuli(arch, dataset_name, sha256, controls) >= controls.n:
        return None
    return analyzer(arch, dataset_name, controls.noise, sha256).ground_truth_run(analysis_settings(controls),
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


def stored_stimuli(arch: str, dataset_name: str, sha256: str, controls: Controls) -> int:
    """How many stimuli of this stream the shared run store already holds (any session may have run them)."""
    kept = runs().get((arch, dataset_name, sha256, analysis_settings(controls)))
    return 0 if kept is None else kept.n


def keep_tensorflow_warm() -> None:
    """Stop Streamlit calling ``keras.backend.clear_session()`` after every script run; keep its matplotlib cleanup.

    Streamlit does it for apps that build a model on every run. Ours are cached resources, and the call also
    empties TensorFlow's kernel cache, so each redraw began by rebuilding the analysis graph's kernels: 45–60 ms
    of every AlexNet redraw here. The one run that builds a model, training, clears Keras itself
    (``release_training_graphs``). Does nothing if Streamlit renames the hook (a test watches for that).
    """
    from streamlit.runtime.scriptrunner import script_runner

    cleanup = getattr(script_runner, "_clean_problem_modules", None)
    if cleanup is None or getattr(cleanup, "keeps_keras", False):
        return

    def clean_problem_modules() -> None:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    clean_problem_modules.keeps_keras = True  # type: ignore[attr-defined]
    script_runner._clean_problem_modules = clean_problem_modules


keep_tensorflow_warm()  # on import: every page imports this module, also a page run without app.py


def release_training_graphs() -> None:
    """After training, what Streamlit did after every run: drop Keras's global state and TensorFlow's kernel
    cache, which still hold the finished training's graphs."""
    import keras

    keras.backend.clear_session()


@st.cache_resource(show_spinner=False)
def settle_heap(engine_key: tuple) -> None:
    """Once per traced analysis graph, exempt everything loaded so far from the cyclic garbage collector.

    Streamlit runs a full collection after every script run. Over the ~400,000 long-lived objects of
    TensorFlow, Keras and the traced graphs it took 0.14 s, which a student feels as lag on the next slider
    move; once they are frozen it takes under a millisecond. Frozen objects are still freed by reference counting.
    """
    gc.collect()
    gc.freeze()


def example_stimuli(dataset_name: str, controls: Controls, count: int = 8) -> np.ndarray:
    """The first stimuli of the stream exactly as the model sees them."""
    from core.noise import mix, noise_samples

    data = dataset(dataset_name)
    noise = noise_samples(analysis_settings(controls).noise, 0, count, data.train_images)
    signal = data.test_images[:count] / 255.0
    return mix(signal, noise, controls.ratio)


def friendly(action: Callable[[], Any], what: str) -> Any:
    """Run ``action``; a user-caused problem becomes one sentence in ``st.error`` instead of a traceback."""
    try:
        return action()
    except (ValueError, LookupError, OSError) as err:
        st.error(f"Could not {what}: {err}")
        return None
