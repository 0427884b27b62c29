"""The widgets: the shared sidebar (dataset, architecture) and the analysis controls, each bound to the link."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import streamlit as st

from core.analysis import ESTIMATORS, GRADIENT_ESTIMATORS, GRADIENT_MOST_SAMPLES, NO_NOISE_AT_FULL_SIGNAL, PARTS
from core.config import DATASETS
from core.link import ANALYSIS_KEYS, PARAMS, SAMPLE_COUNTS, SEEDS, Controls
from core.models import ARCHITECTURES, SHIPPED_ARCHITECTURES
from core.noise import NOISE_TYPES, SIGMA_NOISE_TYPES
from ui import streamlit_internals
from ui.link_sync import carry_settings_to_this_page


def class_help(text: str, names: list[str] | tuple[str, ...]) -> str:
    """A class picker's help: what it does, and the classes' names where they are not their numbers (Fashion-MNIST;
    MNIST's "0: 0, 1: 1, …" said nothing, a review)."""
    if all(name == str(k) for k, name in enumerate(names)):
        return text
    return text + "\n\n" + "\n".join(f"- **{k}**: {name}" for k, name in enumerate(names))


def _help(table: dict) -> str:
    """Each option's value and what it does (a term's explanation: its label alone repeated the menu, a review)."""
    return "\n".join(f"- **{key}**: {getattr(value, 'explanation', value)}" for key, value in table.items())


CONTROLS_KEY = "analysis_controls"  # the container of the eight widgets, for the CSS that lays them out
CONTROL_ROW_PREFIX = "control_row-"  # the same for a page's own row of controls (``control_row``)


def control_row(name: str, count: int) -> list:
    """``st.columns(count)`` for a page's own row of controls, two across on a phone as the analysis controls are
    (``ui.frame.PHONE_CONTROLS_CSS``), not stacked one per row below them."""
    with st.container(key=CONTROL_ROW_PREFIX + name):
        return st.columns(count)


def analysis_controls(show_display: bool = True, explains_full_signal: bool = False,
                      notes: Any | None = None) -> Controls:
    """Draw the analysis controls (bound to the URL) and return their values; settings that show nothing
    meaningful get a note under the controls, on every page that has them, or in ``notes`` (a container: Your
    digit keeps its controls in a closed expander, where the notes went unseen). ``explains_full_signal``: the
    page says itself what r = 1 leaves it to show (two notes saying the same thing stacked up)."""
    carry_settings_to_this_page()
    with st.container(key=CONTROLS_KEY):  # as controls_drawn_after's: two across on a phone (ui.frame)
        chosen = _widgets(show_display)
    with notes if notes is not None else contextlib.nullcontext():
        _explain(chosen, explains_full_signal)
    return _effective(chosen)


@contextlib.contextmanager
def controls_drawn_after(defer: Callable[[Controls], bool], show_display: bool = True) -> Iterator[Controls]:
    """The analysis controls' values, for a page run in the ``with`` block; the widgets drawn after it when
    ``defer(values)`` says so and their values are known beforehand (from session state: every rerun after the
    page's first), otherwise before it, as ``analysis_controls`` draws them. The notes come before the run
    either way.

    Re-rendering the eight widgets is a fifth of a second of a slow machine's CPU at every change, taken from the
    network's pass when the browser shares the machine; until they are redrawn the browser shows the ones it has,
    which hold the student's values and can be moved. Same place, keyed container, either way: a widget that moved
    between containers would be built anew. If the widgets disagree with the values read before them (a value
    a widget would not take), the run starts again with theirs."""
    carry_settings_to_this_page()
    widgets, notes = st.container(key=CONTROLS_KEY), st.container()
    chosen = _stored(show_display)
    deferred = chosen is not None and defer(_effective(chosen))
    if not deferred:
        with widgets:
            chosen = _widgets(show_display)
    with notes:
        _explain(chosen)
    try:
        yield _effective(chosen)
    finally:  # also when the run ends early: the widgets must be there
        # Their values are the ones this run began with; the browser keeps a newer one the student has set since,
        # as long as fragment reruns do not re-set them in session state (ui.link_sync.carry_settings_to_this_page).
        if deferred:
            with widgets:
                if _widgets(show_display) != chosen:
                    streamlit_internals.rerun_this_run()


def _stored(show_display: bool) -> Controls | None:
    """The values the widgets will return, read from session state; None until every one of them has a value."""
    keys = ANALYSIS_KEYS if show_display else tuple(key for key in ANALYSIS_KEYS if key != "z")
    if any(key not in st.session_state for key in keys):
        return None
    state = st.session_state
    return Controls(int(state["n"]), float(state["r"]), state["noise"], float(state["sigma"]), state["estimator"],
                    state["part"], int(state["seed"]), bool(state["z"]) if show_display else False)


def _widgets(show_display: bool) -> Controls:
    """The eight widgets in four columns of two (sampling, noise, grouping, the seed): in three columns they took a
    third row, which pushed the second row of class images below a 1280 × 720 or 1366 × 768 laptop's screen, so a
    student moving a slider watched half the picture. Their values as chosen."""
    first, second, third, fourth = st.columns(4)
    with first:
        # Bound widgets write their option labels into the link, so the options are plain short values.
        n = st.select_slider("Stimuli N (log scale)", SAMPLE_COUNTS, value=PARAMS["n"].default, key="n",
                             bind="query-params",
                             help="How many stimuli to show the model (each r·test image + (1 − r)·noise). More "
                                  "stimuli: less noise in the class images.")
        ratio = st.slider("Signal ratio r", 0.0, 1.0, PARAMS["r"].default, 0.05, key="r", bind="query-params",
                          help="x = r·test image + (1 − r)·noise. r = 0.7 as in the original; r = 0 is pure noise.")
    with second:
        noise = st.selectbox("Noise type", list(NOISE_TYPES), key="noise", bind="query-params",
                             help=_help(NOISE_TYPES))
        sigma = st.slider("Noise σ", 0.05, 0.5, PARAMS["sigma"].default, 0.05, key="sigma", bind="query-params",
                          disabled=noise not in SIGMA_NOISE_TYPES,
                          help="How strong the noise is: its standard deviation on the 0–1 pixel scale (0.2: a "
                               "typical pixel lies about ±0.2 from its mean), for the gaussian, base, pink and data "
                               "types; for data noise, the average over the pixels.")
    with third:
        estimator = st.selectbox("Grouping (estimator)", list(ESTIMATORS), key="estimator", bind="query-params",
                                 help=_help(ESTIMATORS))
        # Never disabled: the gradient kernel is the noise's whatever this says (_explain says so). Disabled by the
        # rerun a choice of the gradient grouping starts, a click on it made in that moment changed the link and
        # not the page (a reviewer, 6 of 6 at 0.1 s): the link then shared another picture.
        part = st.radio("Averaged part", list(PARTS), key="part", bind="query-params", horizontal=True,
                        help=_help(PARTS))
    with fourth:
        seed = whole_number_input("Seed", SEEDS, "seed",
                                  "Same seed, same noise: a shared link shows exactly the same images. A whole "
                                  "number from 0 to 2,147,483,647; press Enter to apply it.", note_here=False)
        z_scores = False
        if show_display:
            z_scores = st.toggle("Show z-scores", key="z", bind="query-params",
                                 help="Redraw each noise class image as z-scores: how many standard errors (the "
                                      "wobble noise alone would cause) each pixel lies above (red) or below (blue) "
                                      "the average stimulus. |z| > 3 happens by chance at about 2 of a panel's 784 "
                                      "pixels.")
    return Controls(int(n), float(ratio), noise, float(sigma), estimator, part, int(seed), bool(z_scores))


_RANGE_NOTE = "_range_note"  # session state: the note on a number just brought into its range, shown once


def whole_number_input(label: str, bounds: tuple[int, int], key: str, help: str, note_here: bool = True) -> int:
    """A number box for a whole number within ``bounds``, bound to the link. One typed outside them becomes the
    nearest, with a note (here, or under the analysis controls). With the bounds in the widget, Streamlit kept the
    typed number in the box, in red, while the page, the link and the command went on with the old one: the page
    showed a seed it was not drawing, an attack target it was not using."""
    value = st.number_input(label, value=PARAMS[key].default, step=1, key=key, bind="query-params",
                            on_change=_keep_in_range, args=(key, label, bounds), help=help)
    if note_here and (note := st.session_state.pop(_RANGE_NOTE, None)):
        st.warning(note)
    return int(value)


def _keep_in_range(key: str, label: str, bounds: tuple[int, int]) -> None:
    typed, (lowest, highest) = st.session_state[key], bounds
    if typed is not None and not lowest <= typed <= highest:
        st.session_state[key] = min(max(int(typed), lowest), highest)
        st.session_state[_RANGE_NOTE] = (f"{label} {int(typed):,} is outside {lowest} to {highest:,}: using "
                                         f"{st.session_state[key]:,}.")


def _explain(chosen: Controls, explains_full_signal: bool = False) -> None:
    """A note under the controls for each setting that shows nothing meaningful, or not what it says."""
    if note := st.session_state.pop(_RANGE_NOTE, None):
        st.warning(note)
    ratio, noise, estimator, part = chosen.ratio, chosen.noise, chosen.estimator, chosen.part
    if chosen.z_scores and part != "noise":
        st.info("z-scores are defined for noise averages: switch *Averaged part* to the noise part to see them.")
    if ratio == 0 and estimator == "truth":
        st.info("At r = 0 the stimuli hold no test image, so grouping by the ground truth sorts pure noise by an "
                "unrelated label: ten averages of noise that mean nothing. Group by the model's prediction, "
                "softmax or regression to see what the model sees.")
    effective = _effective(chosen)  # what _effective changes, said here
    if effective.estimator != estimator:
        st.warning(f"The gradient kernel rests on Stein's lemma, which holds for Gaussian noise; {noise} noise is not "
                   f"Gaussian. Showing the black-box regression kernel instead: pick gaussian, base, pink or data "
                   f"noise for the gradient kernel.")
    if effective.n != chosen.n:
        st.info(f"The gradient kernel converges from a few hundred stimuli, and each costs nine backward passes: "
                f"it is run on {effective.n:,} stimuli here, not {chosen.n:,} (the command line takes any number).")
    if effective.estimator in GRADIENT_ESTIMATORS and part != "noise":
        st.info("The gradient kernel is a kernel of the noise (only the noise has a Gaussian behind it): it is "
                "shown for the noise part whatever *Averaged part* says.")
    if ratio >= 1.0 and part == "noise" and not explains_full_signal:
        st.warning(f"{NO_NOISE_AT_FULL_SIGNAL} Lower r or average the whole input.")


def _effective(chosen: Controls) -> Controls:
    """The settings the analysis runs with: the gradient kernel needs Gaussian noise, so for other noise types the
    black-box regression kernel stands in, and it runs on at most ``GRADIENT_MOST_SAMPLES`` stimuli (``_explain``
    says so)."""
    if chosen.estimator in GRADIENT_ESTIMATORS and chosen.noise not in SIGMA_NOISE_TYPES:
        return dataclasses.replace(chosen, estimator="regression")
    if chosen.estimator in GRADIENT_ESTIMATORS and chosen.n > GRADIENT_MOST_SAMPLES:
        return dataclasses.replace(chosen, n=GRADIENT_MOST_SAMPLES)
    return chosen


def sidebar_selectors() -> tuple[str, str]:
    """Dataset and architecture (URL-bound), drawn in the sidebar; remembered for the page of this run."""
    # Two choices each, so radio buttons: one tap, and on a phone's sidebar a tap on a select box's field closed
    # its list at once (only its small arrow opened it; headless Chromium with touch, Streamlit 1.67).
    with st.sidebar:
        # Shown by name, not code ("fashion_mnist" in the sidebar beside "Fashion-MNIST" on the page, a teacher's
        # review); the radio writes the name it shows into the link, as ``PARAMS[…].written`` does.
        dataset = st.radio("Dataset", list(DATASETS), key="dataset", bind="query-params", horizontal=True,
                           format_func=PARAMS["dataset"].written,
                           help="MNIST: handwritten digits; Fashion-MNIST: Zalando's photos of clothing.")
        arch = st.radio("Architecture", list(SHIPPED_ARCHITECTURES), key="arch", bind="query-params",
                        horizontal=True, format_func=PARAMS["arch"].written,
                        help="\n".join(f"- **{ARCHITECTURES[a].title}**: {ARCHITECTURES[a].summary}"
                                        for a in SHIPPED_ARCHITECTURES))
    st.session_state["_selection"] = (dataset, arch)
    return dataset, arch


def selection() -> tuple[str, str]:
    """The dataset and architecture chosen in the shared sidebar for this run."""
    return st.session_state.get("_selection", (PARAMS["dataset"].default, PARAMS["arch"].default))
