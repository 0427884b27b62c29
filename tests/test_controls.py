"""The controls and the shared sidebar: notes under settings that show nothing meaningful, the sidebar's
dataset and architecture (ui/controls.py)."""

from __future__ import annotations

import json

from tests.apptest import assert_clean, open_page


def test_noise_averages_at_r_1_get_a_warning_on_the_confusion_page(real_data_dir) -> None:
    at = open_page("pages/confusion.py", n="100", r="1.0", part="noise")
    assert not at.exception
    assert any("At r = 1 no noise reaches the model" in w.value for w in at.warning)


def test_ground_truth_grouping_of_pure_noise_is_flagged(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="100", r="0.0")
    assert not at.exception
    assert any("grouping by the ground truth sorts pure noise" in note.value for note in at.info)


def test_fashion_and_alexnet_from_the_sidebar(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="200")
    at.radio(key="dataset").set_value("fashion_mnist").run()
    at.radio(key="arch").set_value("alexnet").run()
    assert_clean(at)
    assert "Ankle boot" in json.dumps(json.loads(at.get("plotly_chart")[0].proto.spec)["layout"])


def _deferred_controls_script() -> None:
    """A page that runs its analysis inside ``controls_drawn_after``, deferring the widgets up to N = 10,000."""
    import streamlit as st

    from ui import controls

    with controls.controls_drawn_after(lambda chosen: chosen.n <= 10_000) as chosen:
        st.session_state.setdefault("_events", []).append(("run", chosen.seed, chosen.estimator))


def _recording_widgets(monkeypatch) -> None:
    """Record each drawing of the eight widgets in the session's event list, next to the runs."""
    import streamlit as st

    import ui.controls

    original = ui.controls._widgets

    def widgets(show_display: bool):
        chosen = original(show_display)
        st.session_state.setdefault("_events", []).append(("widgets", chosen.seed, chosen.estimator))
        return chosen

    monkeypatch.setattr(ui.controls, "_widgets", widgets)


def test_widgets_come_after_the_run_once_their_values_are_known(monkeypatch) -> None:
    """First run: the widgets have no values yet, so they come first. Reruns: after the run, with the values the run
    used, and the notes before it (the gradient kernel's refusal for uniform noise). Above ``defer``'s limit they
    come first again."""
    from streamlit.testing.v1 import AppTest

    _recording_widgets(monkeypatch)
    at = AppTest.from_function(_deferred_controls_script, default_timeout=60)
    at.run()
    assert at.session_state["_events"] == [("widgets", 0, "truth"), ("run", 0, "truth")]
    at.session_state["_events"] = []
    at.number_input(key="seed").increment()
    at.selectbox(key="estimator").set_value("gradient").run()  # uniform noise: the regression kernel runs
    assert at.session_state["_events"] == [("run", 1, "regression"), ("widgets", 1, "gradient")]
    assert any("Showing the black-box regression kernel instead" in w.value for w in at.warning)
    at.session_state["_events"] = []
    at.select_slider(key="n").set_value(100_000).run()
    assert at.session_state["_events"] == [("widgets", 1, "gradient"), ("run", 1, "regression")]
    assert not at.exception


def test_a_widget_that_disagrees_with_the_stored_value_reruns_the_page(monkeypatch) -> None:
    """If a widget returns another value than the one read before the run, the run is done again with the widget's."""
    import dataclasses

    from streamlit.testing.v1 import AppTest

    import ui.controls

    _recording_widgets(monkeypatch)
    original, misread = ui.controls._stored, [True]

    def stored(show_display: bool):
        chosen = original(show_display)
        if chosen is not None and misread[0]:
            misread[0] = False
            return dataclasses.replace(chosen, seed=chosen.seed + 7)
        return chosen

    monkeypatch.setattr(ui.controls, "_stored", stored)
    at = AppTest.from_function(_deferred_controls_script, default_timeout=60)
    at.run()
    at.session_state["_events"] = []
    at.run()
    assert at.session_state["_events"] == [("run", 7, "truth"), ("widgets", 0, "truth"), ("run", 0, "truth"),
                                           ("widgets", 0, "truth")]
    assert not at.exception


def test_a_seed_typed_out_of_range_becomes_the_nearest_with_a_note(real_data_dir) -> None:
    """Streamlit's own bounds kept 3,000,000,000 in the box (red) while the picture, link and command stayed on the
    old seed. The seed becomes the nearest in range, everywhere, and a note says so (once)."""
    at = open_page("pages/class_images.py", n="100", r="0.0", estimator="predicted", part="noise", seed="7")
    at.number_input(key="seed").set_value(3_000_000_000).run()
    assert_clean(at)
    assert at.number_input(key="seed").value == 2**31 - 1 and at.query_params["seed"] == str(2**31 - 1)
    assert [w.value for w in at.warning] == ["Seed 3,000,000,000 is outside 0 to 2,147,483,647: using 2,147,483,647."]
    assert f"--seed {2**31 - 1}" in at.code[0].value
    at.number_input(key="seed").set_value(-5).run()
    assert at.number_input(key="seed").value == 0 and "using 0." in at.warning[0].value
    at.number_input(key="seed").set_value(12).run()
    assert_clean(at)
    assert not at.warning and at.query_params["seed"] == "12"


def test_the_gradient_kernel_runs_on_at_most_its_page_limit() -> None:
    """A link asking for 1,000,000 gradient stimuli kept a shared server's two cores busy for half an hour (a
    reviewer); the kernel converges from a few hundred. The page runs it on GRADIENT_MOST_SAMPLES; other
    estimators, and the regression kernel standing in for it under uniform noise, keep their N."""
    from core.analysis import GRADIENT_MOST_SAMPLES
    from core.link import Controls
    from ui.controls import _effective

    def controls(estimator: str, noise: str = "gaussian", n: int = 1_000_000) -> Controls:
        return Controls(n, 0.0, noise, 0.2, estimator, "noise", 0, False)

    assert _effective(controls("gradient")).n == GRADIENT_MOST_SAMPLES == 20_000
    assert _effective(controls("gradient", n=5_000)).n == 5_000
    assert _effective(controls("regression")).n == 1_000_000
    assert _effective(controls("gradient", noise="uniform")) == controls("regression", noise="uniform")


def test_the_page_says_when_the_gradient_kernel_runs_on_fewer_stimuli_than_n(real_data_dir) -> None:
    """The note under the controls (Whitened kernels: that page sends the gradient grouping elsewhere, so nothing
    runs here)."""
    at = open_page("pages/kernels.py", n="50000", r="0.0", noise="gaussian", estimator="gradient", part="noise")
    assert_clean(at)
    assert any("it is run on 20,000 stimuli here, not 50,000" in info.value for info in at.info)
    at = open_page("pages/kernels.py", n="20000", r="0.0", noise="gaussian", estimator="gradient", part="noise")
    assert not any("stimuli here, not" in info.value for info in at.info)
