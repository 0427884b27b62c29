"""Every page through Streamlit's AppTest: renders without exception, and a control changes the figure."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT

APP = str(PROJECT_ROOT / "app.py")
TIMEOUT = 240  # the first run imports TensorFlow and traces the analysis graph
PAGES = ["pages/home.py", "pages/models.py", "pages/class_images.py", "pages/confusion.py", "pages/compare.py"]


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(page)
    at.run()
    return at


def figure(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def figure_data(at: AppTest, index: int = 0) -> list:
    return figure(at, index)["data"]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page: str, real_data_dir) -> None:
    at = open_page(page)
    assert_clean(at)
    assert at.title[0].value


def test_class_images_redraw_when_a_control_moves(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="500", r="0.0", estimator="predicted", part="noise")
    assert_clean(at)
    before = figure_data(at)
    assert len(before) == 1 and len(figure(at)["layout"]["annotations"]) == 10  # ten titled class images
    at.select_slider(key="n").set_value(2000).run()
    assert_clean(at)
    after = figure_data(at)
    assert after != before
    at.selectbox(key="estimator").set_value("softmax").run()
    assert_clean(at)
    assert figure_data(at) != after
    at.toggle(key="z").set_value(True).run()
    assert_clean(at)


@pytest.mark.parametrize(("page", "seed"), [("pages/class_images.py", "424242"), ("pages/confusion.py", "434343")])
def test_ground_truth_picture_drawn_before_the_model_is_the_final_one(page: str, seed: str, real_data_dir) -> None:
    """A new stream's ground-truth images (and their fed-back matrix) are drawn from the pass without the model;
    once the model's run is stored, the same view is drawn from that run: the two figures must be identical.
    Each page gets a seed of its own: runs are shared by every session of the process."""
    at = open_page(page, n="1000", seed=seed)
    assert_clean(at)
    first = figure_data(at)
    at.run()  # the shared run now holds these stimuli: no preview
    assert_clean(at)
    assert figure_data(at) == first


def test_confusion_heatmap_redraws(real_data_dir) -> None:
    at = open_page("pages/confusion.py", n="500")
    assert_clean(at)
    before = figure_data(at)
    at.slider(key="r").set_value(0.3).run()
    assert_clean(at)
    assert figure_data(at) != before


def colour_bar_title(at: AppTest, index: int = 0) -> str:
    return figure_data(at, index)[0]["colorbar"]["title"]["text"]


def test_compare_shows_and_labels_z_scores_like_the_class_images_page(real_data_dir) -> None:
    at = open_page("pages/compare.py", n="100", r="0.0", estimator="predicted", part="noise")
    assert_clean(at)
    assert colour_bar_title(at) == "Δ from mean stimulus"
    before = figure_data(at)
    at.toggle(key="z").set_value(True).run()
    assert_clean(at)
    assert colour_bar_title(at) == "z-score" and figure_data(at) != before
    at.radio(key="part").set_value("input").run()  # z-scores exist for noise averages only: say so
    assert_clean(at)
    assert colour_bar_title(at) == "pixel value" and "z-scores are defined for noise averages" in at.info[0].value


def test_noise_averages_at_r_1_get_a_warning_on_the_confusion_page(real_data_dir) -> None:
    at = open_page("pages/confusion.py", n="100", r="1.0", part="noise")
    assert not at.exception
    assert any("At r = 1 no noise reaches the model" in w.value for w in at.warning)


def test_a_repeated_link_value_is_named_and_the_last_one_used(real_data_dir) -> None:
    at = open_page("pages/class_images.py", seed=["5", "9"], r=["0.5", "0.2"])
    assert not at.exception
    notes = [w.value for w in at.warning]
    assert "`seed` appears 2 times in the link; using the last, 9." in notes
    assert "`r` appears 2 times in the link; using the last, 0.2." in notes
    assert at.number_input(key="seed").value == 9 and at.slider(key="r").value == 0.2


def test_captions_follow_the_grouping_and_the_display(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="500", r="0.0", estimator="regression", part="noise")
    assert_clean(at)
    caption = at.caption[0].value
    assert "first-order kernel" in caption and "Σ logit²" in caption and "average of the" not in caption
    at.selectbox(key="estimator").set_value("softmax").run()
    at.toggle(key="z").set_value(True).run()
    caption = at.caption[0].value
    assert "total probability" in caption and "z-scores" in caption and "|z| > 3" in caption
    assert figure(at)["data"][0]["zmax"] >= 3  # chance-level z-scores look pale, not as strong as real effects
    at.selectbox(key="estimator").set_value("truth").run()
    at.toggle(key="z").set_value(False).run()
    at.slider(key="r").set_value(0.7).run()
    assert "hold no class" in at.caption[0].value and "pushed the model" not in at.caption[0].value


def test_ground_truth_grouping_of_pure_noise_is_flagged(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="100", r="0.0")
    assert not at.exception
    assert any("grouping by the ground truth sorts pure noise" in note.value for note in at.info)


def test_panel_titles_mark_empty_and_scarce_classes() -> None:
    from core.analysis import ClassImages
    from pages import glue

    def images(estimator: str = "predicted", source: str = "noise") -> ClassImages:
        return ClassImages(estimator, source, np.zeros((10, 28, 28)), np.zeros((28, 28)),
                           weights=np.array([4000.0, 3000, 2000, 900, 50, 30, 15, 3, 2, 0]),
                           empty=np.array([False] * 9 + [True]), n=10_000)

    names = tuple("0123456789")
    titles = glue.panel_titles(names, images())
    assert titles[0] == "0 (4,000)" and titles[7] == "7 (3, too few)" and titles[9] == "9: never predicted"
    assert glue.panel_titles(names, images(), counts=False)[7:] == ["7*", "8*", "9"]  # the caption explains them
    grey = images(source="input")  # whole-input averages are on a grey scale, which does not saturate: no mark
    assert glue.panel_titles(names, grey)[7] == "7 (3)"
    kernels = images(estimator="regression")  # every stimulus feeds every kernel
    assert glue.panel_titles(names, kernels)[7] == "7 (3)"


def test_bad_link_values_fall_back_with_a_note(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="12345", r="banana", noise="plaid", seed="7")
    assert not at.exception
    notes = " ".join(w.value for w in at.warning)
    assert "n=12345" in notes and "r=banana" in notes and "noise=plaid" in notes
    assert at.select_slider(key="n").value == 1000 and at.number_input(key="seed").value == 7


def test_a_bad_link_value_is_named_in_plain_words_and_really_replaced(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="abc", seed="1.5", z="maybe", sigma="9")
    assert not at.exception
    notes = " ".join(w.value for w in at.warning)
    assert "`n=abc` in the link is not valid (must be a whole number); using 1000." in notes
    assert "`seed=1.5` in the link is not a whole number; using 1." in notes
    assert "`z=maybe` in the link is not valid (must be true or false); using false." in notes
    assert "`sigma=9` in the link is not valid (must be between 0.05 and 0.5); using 0.2." in notes
    assert "int()" not in notes and at.number_input(key="seed").value == 1  # the note's value is the one used


def test_home_reproduces_the_original_figure(real_data_dir) -> None:
    at = open_page("pages/home.py")
    at.button(key="reproduce").click().run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 3  # explanation strip, class images, fed-back heatmap
    assert "10/10" in " ".join(c.value for c in at.caption)


def test_fashion_and_alexnet_from_the_sidebar(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="200")
    at.selectbox(key="dataset").set_value("fashion_mnist").run()
    at.selectbox(key="arch").set_value("alexnet").run()
    assert_clean(at)
    assert "Ankle boot" in json.dumps(json.loads(at.get("plotly_chart")[0].proto.spec)["layout"])


def test_missing_data_shows_a_friendly_panel(tmp_path, monkeypatch) -> None:
    from core.data import load_dataset

    monkeypatch.setenv("NOISELENS_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr("core.data._SOURCES", __import__("core.data").data._SOURCES[:2])  # no network here
    from pages import glue

    load_dataset.cache_clear()
    glue.dataset.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.switch_page("pages/class_images.py")
        at.run()
    finally:
        load_dataset.cache_clear()
        glue.dataset.clear()
    assert not at.exception
    assert "not available" in at.error[0].value
    assert any("NOISELENS_DATA_DIR" in m.value for m in at.markdown)


def test_missing_model_offers_training(temp_cache, real_data_dir) -> None:
    at = open_page("pages/class_images.py")
    assert not at.exception
    assert "not trained yet" in " ".join(w.value for w in at.warning)


def test_interrupted_run_keeps_its_work_and_stop_shows_it(real_data_dir) -> None:
    """A rerun (Stop, or a control moved) interrupts between chunks; the partial sums stay and are reused."""
    from core.store import inspect_model
    from pages import glue

    class Interrupted(Exception):
        pass

    class InterruptingBar:
        calls = 0

        def progress(self, *args, **kwargs) -> None:
            InterruptingBar.calls += 1
            if InterruptingBar.calls == 3:
                raise Interrupted  # what Streamlit's StopException does at the next st call

        def empty(self) -> None:
            pass

    controls = glue.Controls(n=20_000, ratio=0.0, noise="uniform", sigma=0.2, estimator="softmax",
                             part="noise", seed=4242, z_scores=False)
    sha = inspect_model("lenet", "mnist").metadata["sha256"]
    with pytest.raises(Interrupted):
        glue.run_analysis("lenet", "mnist", sha, controls, InterruptingBar())
    _, partial = glue.run_analysis("lenet", "mnist", sha, controls, stopped=True)
    assert partial.n == 500  # chunks end at the checkpoints 100, 200 and 500
    _, done = glue.run_analysis("lenet", "mnist", sha, controls)
    assert done.n == 20_000 and sorted(done.snapshots)[:3] == [100, 200, 500]


def test_a_complete_run_offers_neither_stop_nor_continue(real_data_dir) -> None:
    """Stop is for a run in progress (pressed in a real browser in test_e2e); once N stimuli are in, it goes."""
    at = open_page("pages/class_images.py", n="20000")
    assert_clean(at)
    keys = {button.key for button in at.button}
    assert "stop" not in keys and "continue" not in keys and not at.info


def test_compare_can_be_stopped_and_continued(real_data_dir) -> None:
    """Compare runs four models one after the other; stopped, it shows what is stored and computes nothing."""
    from pages import glue

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    link = {"n": "20000", "r": "0.0", "estimator": "softmax", "part": "noise", "seed": "31337"}
    for key, value in link.items():
        at.query_params[key] = value
    at.session_state["stopped_at"] = glue.Controls(n=20_000, ratio=0.0, noise="uniform", sigma=0.2,
                                                   estimator="softmax", part="noise", seed=31337, z_scores=False)
    at.switch_page("pages/compare.py")
    at.run()
    assert_clean(at)
    assert [i.value for i in at.info] == ["Stopped before this model's run began. Press Continue to go on."] * 4
    assert not at.get("plotly_chart") and {b.key for b in at.button} >= {"continue"}
    at.button(key="continue").click().run(timeout=300)
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 8 and not at.info
    assert not {"stop", "continue"} & {b.key for b in at.button}  # complete: nothing to stop or continue


def test_a_run_cut_short_before_its_first_chunk_is_not_kept(real_data_dir, monkeypatch) -> None:
    """A rerun already waiting when the analysis starts ends it at once: an empty state must not be stored,
    or Stop would then try to draw images of zero stimuli."""
    from core.store import inspect_model
    from pages import glue

    monkeypatch.setattr(glue, "rerun_waiting", lambda: True)
    controls = glue.Controls(n=20_000, ratio=0.0, noise="uniform", sigma=0.2, estimator="softmax",
                             part="noise", seed=515151, z_scores=False)
    sha = inspect_model("lenet", "mnist").metadata["sha256"]
    _, state = glue.run_analysis("lenet", "mnist", sha, controls)
    assert state.n == 0 and glue.runs().get(("lenet", "mnist", sha, glue.analysis_settings(controls))) is None


def test_rerun_waiting_reads_streamlits_pending_request(monkeypatch) -> None:
    """``glue.rerun_waiting`` reads a private field of Streamlit's request queue: this fails if it is renamed."""
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData, ScriptRequests

    from pages import glue

    requests = ScriptRequests()
    context = type("Context", (), {"script_requests": requests})()
    monkeypatch.setattr("streamlit.runtime.scriptrunner_utils.script_run_context.get_script_run_ctx",
                        lambda *args, **kwargs: context)
    assert not glue.rerun_waiting()
    requests.request_rerun(RerunData(fragment_id_queue=["explorer"]))  # a control inside a fragment moved
    assert glue.rerun_waiting()


def test_models_page_trains_a_missing_model(temp_cache, real_data_dir, monkeypatch) -> None:
    """The Train button runs a real (one-epoch) training and the page then shows the new model; Keras state left
    by the training is cleared once (Streamlit's own after-run clearing is off)."""
    import keras

    from core.store import inspect_model

    clear_session, cleared = keras.backend.clear_session, []
    monkeypatch.setattr(keras.backend, "clear_session", lambda: cleared.append(clear_session()))
    at = open_page("pages/models.py")
    assert "not trained yet" in " ".join(i.value for i in at.info)
    at.number_input[0].set_value(1)
    at.button[0].click().run(timeout=600)
    assert_clean(at)
    status = inspect_model("lenet", "mnist")
    assert status.usable and status.metadata["origin"] == "trained here" and status.metadata["epochs"] == 1
    assert any(m.label == "Test accuracy" for m in at.metric)
    assert status.metadata["test_accuracy"] > 0.95
    assert len(cleared) == 1


def test_models_page_says_the_layer_widths_and_parameters(real_data_dir) -> None:
    at = open_page("pages/models.py", arch="alexnet")
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "16, 64, 128 filters; 256, 128 hidden units, 412,650 parameters" in text


def test_streamlit_keeps_keras_and_tensorflow_warm_between_runs(real_data_dir, monkeypatch) -> None:
    """Streamlit calls keras.backend.clear_session() after every run; that emptied TensorFlow's kernel cache, so
    every redraw rebuilt the analysis graph's kernels (45–60 ms of an AlexNet redraw). pages/glue.py stops it."""
    import keras

    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: cleared.append(args))
    at = open_page("pages/class_images.py", n="200")
    at.number_input(key="seed").increment().run()
    assert_clean(at)
    assert cleared == []
