"""The Lesson: its steps as data, the answers derived from measurements, the answer tally, and every step in AppTest."""

from __future__ import annotations

import json
import re
import threading

import numpy as np
import pytest

from core import lesson
from core.lesson import STEPS, AnswerTally, step
from core.link import ANALYSIS_KEYS, PARAMS, default_controls, link_text
from tests.apptest import assert_clean, figure, open_page, plotly_array

# --- the steps as data -----------------------------------------------------------------------------------


def test_every_step_sets_every_analysis_control_to_a_value_its_link_keeps() -> None:
    for each in STEPS:
        assert set(each.settings) == set(ANALYSIS_KEYS), each.title
        for key, value in each.settings.items():
            assert PARAMS[key].parse(link_text(value)) == value, (each.title, key)
        default_controls(**each.control_values)  # every setting is a Controls field


def test_the_steps_follow_the_walkthrough() -> None:
    first, bias, sharpen, every_class, templates, models = STEPS
    assert (first.settings["r"], first.settings["estimator"], first.settings["part"], first.settings["n"]) == \
        (0.7, "truth", "input", 1_000)  # the original study's figure
    assert (bias.settings["r"], bias.settings["estimator"], bias.settings["part"]) == (0.0, "predicted", "noise")
    # step 3 is step 2's stream with ten times the stimuli: the picture before the answer is step 2's
    # ... shown as z-scores, the measure its answer is read from
    assert sharpen.settings == {**bias.settings, "n": 10 * bias.settings["n"], "z": True}
    assert every_class.settings == {**sharpen.settings, "estimator": "softmax", "z": False}  # same run, regrouped
    assert templates.settings == every_class.settings and models.settings == every_class.settings
    assert models.all_models and not any(s.all_models for s in STEPS[:-1])
    assert sum(s.question is not None for s in STEPS) >= 3
    assert len({s.question.key for s in STEPS if s.question}) == sum(s.question is not None for s in STEPS)


def test_the_convergence_caption_reads_the_curve_not_its_end_which_is_1_by_construction() -> None:
    """A teacher's review: "when it nears 1, more stimuli change the picture little" sat under a curve that ends at 1
    whatever happens and was still climbing steeply (0.79 at 5,000 of 10,000)."""
    counts = np.array([100, 200, 500, 1_000, 2_000, 5_000, 10_000])
    climbing = lesson.convergence_reading(counts, np.array([np.nan, 0.1, 0.2, 0.5, 0.6, 0.79, 1.0]))
    assert "1 by construction" in climbing and "At 5,000 stimuli it was **0.79**" in climbing
    assert "have not settled yet" in climbing and "nears 1" not in climbing
    settled = lesson.convergence_reading(counts, np.array([0.5, 0.7, 0.9, 0.95, 0.97, 0.99, 1.0]))
    assert "**0.99**" in settled and "mostly settled" in settled
    assert "it was" not in lesson.convergence_reading(np.array([10]), np.array([1.0]))  # no halfway point


def test_no_step_promises_what_some_shipped_model_does_not_show() -> None:
    """Step 4 said every class gets an image (4-6 of 10 do on three of the four models); step 6 promised clothes'
    silhouettes (blobs and speckle on screen)."""
    text = " ".join(f"{s.title} {s.text}" for s in STEPS)
    assert "Every class gets" not in text and "never picks gets an image" not in text and "silhouette" not in text
    assert "1 by construction" in STEPS[2].text


def test_step_numbers_from_a_link() -> None:
    assert [lesson.parse_step(str(k)) for k in range(1, 7)] == [1, 2, 3, 4, 5, 6]
    assert step(3) is STEPS[2]
    for bad in ("0", "7", "-1", "2.5", "three", ""):
        with pytest.raises(ValueError):
            PARAMS["step"].parse(bad)
    assert PARAMS["step"].default == 1


# --- answers from measurements ---------------------------------------------------------------------------


def test_the_class_bias_question_is_answered_by_the_measured_bias() -> None:
    question = step(2).question
    bias = np.array([3, 40, 5, 900, 2, 10, 0, 25, 15, 0], float)
    assert question.answer(bias) == 3
    assert question.answer(np.roll(bias, 4)) == 7
    assert question.answer(np.array([np.nan] * 9 + [1.0])) == 9  # a run without the model has NaN rows
    names = [f"c{i}" for i in range(10)]
    assert question.options(names) == tuple(names)


def test_sharper_noisier_or_the_same() -> None:
    answer = step(3).question.answer
    assert lesson.SHARPENING_CHOICES[answer(0.02, 0.20)] == "Sharper"
    assert lesson.SHARPENING_CHOICES[answer(0.20, 0.02)] == "Noisier"
    assert lesson.SHARPENING_CHOICES[answer(0.100, 0.105)] == "About the same"
    assert answer(0.0, 0.0) == 2


def test_significant_share_counts_clear_classes_only() -> None:
    z = np.zeros((10, 28, 28))
    z[0, :14] = 5.0  # half of class 0 stands out
    z[1] = -4.0  # all of class 1, but class 1 is scarce
    clear = np.array([True] + [False] + [True] * 8)
    assert lesson.significant_share(z, clear) == pytest.approx(0.5 / 9)
    assert lesson.significant_share(z, np.zeros(10, bool)) == 0.0


def test_bands_of_clear_classes_and_of_template_accuracy() -> None:
    assert [lesson.clear_classes_band(k) for k in (0, 3, 4, 6, 7, 9, 10)] == [0, 0, 1, 1, 2, 2, 3]
    with pytest.raises(ValueError):
        lesson.clear_classes_band(11)
    assert [lesson.accuracy_band(a) for a in (0.0, 0.1, 0.149, 0.15, 0.39, 0.4, 0.69, 0.7, 1.0)] == \
        [0, 0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError):
        lesson.accuracy_band(1.2)


def test_the_best_model_is_the_one_with_the_highest_measured_accuracy() -> None:
    assert lesson.best_model([0.31, 0.52, 0.44, np.nan]) == 1
    assert len(step(6).question.choices) == len(lesson.MODEL_CHOICES) == 4


# --- the answer tally ------------------------------------------------------------------------------------


def test_one_answer_per_session_per_question() -> None:
    tally = AnswerTally()
    assert tally.record("bias/mnist/lenet", "tab-a", 3, 10)
    assert not tally.record("bias/mnist/lenet", "tab-a", 5, 10)  # the first answer stands
    assert tally.record("bias/mnist/lenet", "tab-b", 5, 10)
    assert tally.record("sharpen/mnist/lenet", "tab-a", 0, 3)  # another question
    assert tally.counts("bias/mnist/lenet", 10).tolist() == [0, 0, 0, 1, 0, 1, 0, 0, 0, 0]
    assert tally.counts("sharpen/mnist/lenet", 3).tolist() == [1, 0, 0]
    assert tally.counts("template/mnist/lenet", 4).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        tally.record("bias/mnist/lenet", "tab-c", 10, 10)
    tally.clear("bias/mnist/lenet")
    assert tally.counts("bias/mnist/lenet", 10).sum() == 0 and tally.record("bias/mnist/lenet", "tab-a", 1, 10)


def test_the_tally_counts_every_answer_once_under_concurrent_sessions() -> None:
    tally, threads, sessions, repeats = AnswerTally(), 16, 200, 5
    start = threading.Barrier(threads)

    def answer(worker: int) -> None:
        start.wait()
        for _ in range(repeats):  # every session answers several times, from several threads
            for session in range(sessions):
                tally.record("q", f"s{session}", session % 3, 3)

    pool = [threading.Thread(target=answer, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert tally.counts("q", 3).tolist() == [67, 67, 66]  # 200 sessions, one answer each


def test_answers_are_counted_per_model_except_the_four_model_question() -> None:
    assert lesson.tally_key(step(2).question, "mnist", "lenet") == "bias/mnist/lenet"
    assert lesson.tally_key(step(2).question, "fashion_mnist", "lenet") != "bias/mnist/lenet"
    assert lesson.tally_key(step(6).question, "fashion_mnist", "alexnet") == "models"


def test_the_lesson_figures() -> None:
    from core import plots_lesson

    bars = plots_lesson.answers_bar(np.array([2, 0, 5]), ("a", "b", "c"), right=2).to_dict()["data"][0]
    assert plotly_array(bars["y"]).tolist() == [2, 0, 5] and bars["marker"]["color"][2] != bars["marker"]["color"][0]
    assert list(bars["text"]) == ["2", "0", "5 ✓ measured"]  # not by colour alone: green beside blue is 1.3:1
    for phone, axis in ((False, "xaxis"), (True, "yaxis")):  # both axes titled (a review found the choices' bare)
        layout = plots_lesson.answers_bar(np.array([2, 0, 5]), ("a", "b", "c"), phone=phone).layout
        assert layout[axis].title.text == "answer chosen"
    accuracy = plots_lesson.template_accuracy_bar([0.5, 0.25], ["x", "y"]).to_dict()["data"][0]
    assert plotly_array(accuracy["y"]).tolist() == [50.0, 25.0]


# --- the page, step by step ------------------------------------------------------------------------------


def charts(at) -> list[tuple[str, dict]]:
    """The page's Plotly charts, each named by what it shows: 'class images' for a grid of ten, else the title of
    its y axis (the fed-back matrix: 'class image'; the class bias: 'share of stimuli (%)'; the answers: 'answers')."""
    named = []
    for index in range(len(at.get("plotly_chart"))):
        spec = figure(at, index)
        title = spec["layout"].get("yaxis", {}).get("title", {}).get("text", "")
        named.append(("class images" if len(spec["layout"].get("annotations", [])) == 10 else title, spec))
    return named


def chart(at, name: str) -> dict:
    found = [spec for title, spec in charts(at) if title == name]
    assert found, (name, [title for title, _ in charts(at)])
    return found[0]


def count(at, name: str) -> int:
    return sum(title == name for title, _ in charts(at))


def assert_step_controls(at, number: int) -> None:
    """The step set the session's analysis controls and the link's, as its data says; a default is left out of the
    link, as on every page (the step wrote all eight)."""
    for key, value in step(number).settings.items():
        assert at.session_state[key] == value, key
        assert query(at, key) == (None if value == PARAMS[key].default else link_text(value)), key


def assert_full_page_link(at, number: int) -> None:
    """"This step on the full page" opens the step's page with the step's settings in its link."""
    from urllib.parse import parse_qsl

    (link,) = at.main.get("page_link")
    assert link.proto.page == step(number).full_page.removeprefix("pages/").removesuffix(".py")
    assert dict(parse_qsl(link.proto.query_string)) == {k: link_text(v) for k, v in step(number).settings.items()
                                                        if v != PARAMS[k].default}


def query(at, key: str) -> str | None:
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value


def verdict(at) -> str:
    """The measured answer beside the student's (success when they agree, warning when not)."""
    said = [box.value for box in [*at.success, *at.warning] if "You said" in box.value]
    assert len(said) == 1, said
    return said[0]


def answer(at, key: str, choice: int):
    at.button_group(key=key).set_value(choice).run()
    assert_clean(at)
    return at


def test_step_one_sets_the_original_figure_and_next_back_move_the_link(real_data_dir) -> None:
    at = open_page("pages/lesson.py")
    assert_clean(at)
    assert_step_controls(at, 1)
    assert_full_page_link(at, 1)
    assert count(at, "class images") == 1  # the averages, and the fed-back matrix beside them
    fed_back = plotly_array(chart(at, "class image")["data"][0]["z"])
    assert np.sum(fed_back.argmax(axis=1) == np.arange(10)) >= 9  # the original figure: recognised as themselves
    assert "Step 1 of 6" in at.get("progress")[0].proto.text
    at.button(key="next").click().run()
    assert_clean(at)
    assert query(at, "step") == "2" and at.session_state["r"] == 0.0 and at.session_state["estimator"] == "predicted"
    assert_step_controls(at, 2)
    assert_full_page_link(at, 2)
    assert "Step 2 of 6" in at.get("progress")[0].proto.text
    assert at.button_group(key="answer-bias/mnist/lenet").value is None  # asked, not answered
    assert count(at, "share of stimuli (%)") == 0 and count(at, "class images") == 0  # the answer stays hidden
    at.button(key="back").click().run()
    assert_clean(at)
    assert query(at, "step") in (None, "1")  # step 1 is the default: a link without step opens it
    assert_step_controls(at, 1)


@pytest.mark.slow
def test_a_bad_step_in_the_link_is_named_and_step_one_shown(real_data_dir) -> None:
    at = open_page("pages/lesson.py", step="9")
    assert_clean(at)
    assert any("step=9" in w.value and "between 1 and 6" in w.value for w in at.warning)
    assert_step_controls(at, 1)


@pytest.mark.slow
def test_step_two_asks_for_the_favourite_class_then_shows_the_measured_bias(real_data_dir, monkeypatch) -> None:
    monkeypatch.setenv("NOISELENS_TEACHER_KEY", "a phrase only the teacher knows")
    at = open_page("pages/lesson.py", step="2")
    assert_clean(at)
    assert_step_controls(at, 2)
    # the grouping in the menus' words, not the link's value (a review read "grouped by predicted")
    assert any(c.value.startswith("This step:") and "grouping: model's prediction," in c.value for c in at.caption)
    assert count(at, "share of stimuli (%)") == 0 and count(at, "class images") == 0
    assert plotly_array(chart(at, "answers")["data"][0]["y"]).tolist() == [0] * 10  # nobody answered yet
    answer(at, "answer-bias/mnist/lenet", 0)
    shares = plotly_array(chart(at, "share of stimuli (%)")["data"][0]["y"])
    assert shares.sum() == pytest.approx(100.0) and count(at, "class images") == 1
    measured = lesson.most_called_class(shares)
    assert shares[measured] > 20  # pure noise goes mostly to a few classes, not 10 % each
    # the favourite's panel, nearly blank, is said to be pale, not empty, when it took most of the stimuli
    pale = [c.value for c in at.caption if "looks pale" in c.value]
    assert len(pale) == (1 if shares[measured] > 50 else 0), (shares[measured], pale)
    said = verdict(at)
    assert (f"measured: **{measured}**" in said) if measured != 0 else said.startswith("You said **0**")
    assert plotly_array(chart(at, "answers")["data"][0]["y"])[0] == 1  # this session's answer, counted once
    # one answer, said once; a measured answer nobody chose has a green bar of length zero: named instead
    tallied = next(c.value for c in at.caption if "from the sessions on this server" in c.value)
    assert tallied.startswith("1 answer from")
    assert ("The measured answer, *0*, is the green bar marked ✓." in tallied) if measured == 0 else \
        (f"Nobody has chosen the measured answer yet: *{measured}*." in tallied), tallied
    assert not [r for r in at.button_group if r.key == "answer-bias/mnist/lenet"]  # the prediction stands, once
    assert any("Your prediction: **0**" in m.value for m in at.markdown)
    at.run()
    assert plotly_array(chart(at, "answers")["data"][0]["y"])[0] == 1
    at.text_input(key="teacher-key").input("a guess").run()  # a new round takes the teacher key
    assert "not right" in at.error[0].value and not [b for b in at.button if b.key.startswith("clear-")]
    at.text_input(key="teacher-key").input("a phrase only the teacher knows").run()
    at.button(key="clear-bias/mnist/lenet").click().run()
    assert plotly_array(chart(at, "answers")["data"][0]["y"]).tolist() == [0] * 10


@pytest.mark.slow
def test_step_three_shows_1000_stimuli_first_and_reveals_the_sharper_picture(real_data_dir) -> None:
    at = open_page("pages/lesson.py", step="3")
    assert_clean(at)
    assert_step_controls(at, 3)
    assert count(at, "class images") == 1 and count(at, "correlation with final images") == 0
    assert "first 1,000 stimuli" in " ".join(c.value for c in at.caption)
    assert "Blank panels: classes the network never chose" in " ".join(c.value for c in at.caption)  # the key
    at.button(key="show-sharpen/mnist/lenet").click().run()  # "just show me": revealed, nothing counted
    assert_clean(at)
    # and nothing to answer after the answer: a "prediction" made then counted as a right one (a teacher's review)
    assert "answer-sharpen/mnist/lenet" not in {group.key for group in at.button_group}
    assert any("Shown without a prediction" in m.value for m in at.markdown)
    assert count(at, "class images") == 2 and count(at, "correlation with final images") == 1
    measured = at.info[-1].value
    assert measured.startswith("Measured: **Sharper**")
    before, after = (float(x) for x in re.findall(r"\*\*([\d.]+)%\*\*", measured))
    assert after > before * lesson.SHARPENING_MARGIN
    assert plotly_array(chart(at, "answers")["data"][0]["y"]).tolist() == [0, 0, 0]
    # Both pictures as z-scores, the measure the answer is read from: in the stimulus's units the class behind most
    # stimuli looked blank beside a noisy small class that set the colour scale, and the picture did not show it
    grids = [spec for title, spec in charts(at) if title == "class images"]
    assert ["z-score" in json.dumps(spec["data"]) + json.dumps(spec["layout"]) for spec in grids] == [True, True]


@pytest.mark.slow
def test_step_four_reveals_softmax_images_for_every_class(real_data_dir) -> None:
    at = open_page("pages/lesson.py", step="4")
    assert_clean(at)
    assert_step_controls(at, 4)
    assert count(at, "class images") == 1  # grouped by the answer only
    answer(at, "answer-clear/mnist/lenet", 3)
    assert count(at, "class images") == 2
    softmax, predicted = (int(x) for x in re.findall(r"\*\*(\d+)\*\* of the ten.*against (\d+)", verdict(at))[0])
    assert softmax >= 7 and softmax > predicted  # softmax gives (nearly) every class an image


@pytest.mark.slow
def test_step_five_reveals_the_template_accuracy(real_data_dir) -> None:
    at = open_page("pages/lesson.py", step="5")
    assert_clean(at)
    assert_step_controls(at, 5)
    assert count(at, "class images") == 1 and count(at, "true class") == 0
    answer(at, "answer-template/mnist/lenet", 0)
    assert count(at, "true class") == 1 and count(at, "class image") == 1  # template confusion, fed-back matrix
    said = verdict(at)
    accuracy = float(re.findall(r"classify \*\*([\d.]+)%\*\*", said)[0]) / 100
    assert 0.15 < accuracy < 1.0  # well above chance
    assert lesson.ACCURACY_BANDS[lesson.accuracy_band(accuracy)][2] in said


@pytest.mark.slow
def test_step_six_compares_four_models_and_names_the_best(real_data_dir) -> None:
    from urllib.parse import parse_qsl

    at = open_page("pages/lesson.py", step="6")
    assert_clean(at)
    assert_step_controls(at, 6)
    assert_full_page_link(at, 6)
    assert count(at, "class images") == 4 and count(at, "template accuracy (%)") == 0
    # each grid says it has its own colour scale (four scales, unmarked, invited comparing shades: a review)
    assert sum("on their own colour scale" in c.value for c in at.caption) == 4
    answer(at, "answer-models", 0)
    accuracies = plotly_array(chart(at, "template accuracy (%)")["data"][0]["y"])
    assert accuracies.shape == (4,) and (accuracies > 10).all()
    best = step(6).question.choices[int(np.argmax(accuracies))]
    assert f"measured: **{best}**" in verdict(at)  # named as the panels are: "LeNet-style · Fashion-MNIST"
    assert best in {"LeNet-style · MNIST", "AlexNet-style · MNIST", "LeNet-style · Fashion-MNIST",
                    "AlexNet-style · Fashion-MNIST"}
    # The step's full page, Compare, shows the number the question is about, the same for each model (it showed
    # none: a teacher's review)
    (link,) = at.main.get("page_link")
    compare = open_page("pages/compare.py", **dict(parse_qsl(link.proto.query_string)))
    assert_clean(compare)
    shown = [float(x) for c in compare.caption for x in re.findall(r"classify \*\*([\d.]+)%\*\*", c.value)]
    assert np.allclose(shown, accuracies, atol=0.06)  # to the caption's 0.1 %; the panels' order is MODEL_CHOICES'


@pytest.mark.slow
def test_every_control_of_the_page_is_in_the_link_but_the_prediction_and_the_teacher_key(real_data_dir,
                                                                                          monkeypatch) -> None:
    """The step and the sidebar's model are bound to link parameters of their own names (and a link sets the
    step); the step's analysis settings are written to the link by the step (``assert_step_controls``). Only two
    controls stay out, on purpose: a student's prediction (a link carrying it would answer for whoever opens it)
    and the teacher key (a secret)."""
    from tests.test_digit import link_bindings, valued_widgets

    monkeypatch.setenv("NOISELENS_TEACHER_KEY", "a phrase only the teacher knows")
    at = open_page("pages/lesson.py", step="2")  # the default model: its step-2 run is shared with other tests
    assert_clean(at)
    assert_step_controls(at, 2)
    assert link_bindings(at) == {"step": "step", "dataset": "dataset", "arch": "arch",
                                 "answer-bias/mnist/lenet": None, "teacher-key": None}
    assert valued_widgets(at)["step"].value == 2  # (a link setting the model: tests/test_digit.py)


# --- the browser ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lesson_browser(real_data_dir):
    """One ``streamlit run app.py`` and one headless Chromium for this page's browser tests, each on its own page."""
    pytest.importorskip("playwright.sync_api")
    from tests.browser import chromium, streamlit_server

    with streamlit_server(real_data_dir) as (url, _), chromium() as browser:
        yield url, browser


PICTURE_HEIGHT = 1540  # px: README's Lesson picture holds the step, the question, the answer and both images


@pytest.mark.slow
def test_browser_step_three_predict_then_reveal(lesson_browser, tmp_path) -> None:
    """streamlit run app.py and headless Chromium on step 3's link: the 1,000-stimulus class images and the question
    first; answering reveals the 10,000-stimulus images beside them, the measured verdict and the convergence
    curve. Its screenshot is README's picture of the Lesson (written to NOISELENS_SCREENSHOTS when set)."""
    import os
    import time
    from pathlib import Path

    from tests.browser import wait_until_idle

    url, browser = lesson_browser
    with browser.new_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(f"{url}/lesson?step=3")
        wait_until_idle(page, 1)
        body = page.inner_text("body")
        assert "Step 3 of 6: Let the images sharpen" in body and "after the first 1,000 stimuli" in body
        assert "after 10,000 stimuli" not in body  # the answer stays hidden until the student predicts
        question = page.locator('[data-testid="stButtonGroup"]').filter(has_text="Predict first")
        assert "With 10× more stimuli" in question.inner_text()
        question.get_by_text("Sharper", exact=True).click()
        said = page.locator('[data-testid="stAlert"]').filter(has_text="You said")
        said.wait_for(timeout=240_000)
        wait_until_idle(page, 3)
        verdict = said.inner_text()
        assert "You said Sharper, and so says the measurement" in verdict, verdict
        before, after = (float(x) for x in re.findall(r"([\d.]+)% at", verdict))
        assert after > before * lesson.SHARPENING_MARGIN
        body = page.inner_text("body")
        assert "The same stream after 10,000 stimuli" in body and "Your prediction: Sharper" in body
        assert not page.locator('[data-testid="stException"]').count()
        # README's picture: the six steps, the step's text beside the question, its answer and the two class images.
        # At 1,000 px high it ended at the question (a reader found the picture short of what README says it shows).
        page.set_viewport_size({"width": 1400, "height": PICTURE_HEIGHT})
        page.mouse.move(5, PICTURE_HEIGHT - 5)  # off the charts: no Plotly toolbar over a picture
        page.locator("h1").first.evaluate("node => node.scrollIntoView({block: 'start'})")
        time.sleep(1)
        for shown in (said, page.get_by_text("The same stream after 10,000 stimuli").first):  # inside the picture
            box = shown.bounding_box()
            assert box and 0 <= box["y"] and box["y"] + box["height"] <= PICTURE_HEIGHT, box
        page.screenshot(path=str(Path(os.environ.get("NOISELENS_SCREENSHOTS") or tmp_path) / "lesson.png"))
        page.set_viewport_size({"width": 1400, "height": 1000})
        # The browser's Back from the step's full page: it came back to step 1 (Streamlit brings no parameter back
        # to a page it left, and the bound step fell to its default), which then set step 1's settings.
        page.get_by_role("link", name="This step on the full page").click()
        page.wait_for_url("**/class_images?**", timeout=60_000)
        wait_until_idle(page, 2)
        page.go_back()
        page.get_by_text("Step 3 of 6: Let the images sharpen").wait_for(timeout=60_000)
        wait_until_idle(page, 1)
        time.sleep(2)  # a run that would fall back to step 1 comes at once
        assert "Step 3 of 6: Let the images sharpen" in page.inner_text("body")
        assert not page.locator('[data-testid="stException"]').count()


def test_on_a_phone_the_lesson_bars_lie_sideways_with_their_labels_across() -> None:
    """Upright, the long answer labels stood on end under ~60 px of plot and the last one was cut off on a phone;
    the four models' names tilted over each other."""
    from core.plots_lesson import answers_bar, template_accuracy_bar

    choices = (lesson.ACCURACY_BANDS[0][2], lesson.ACCURACY_BANDS[3][2])  # the labels the lesson shows
    answers = answers_bar(np.array([3, 7]), choices, right=1, phone=True)
    bar = answers.data[0]
    assert bar.orientation == "h" and list(bar.x) == [3, 7]
    assert list(bar.text) == ["× 3", "× 7 ✓ measured"]  # beside a class named by a digit, "2 0" read as twenty
    assert list(bar.y) == ["Close to chance (under<br>15 %)", "Far better (over 70 %)"]
    assert answers.layout.yaxis.autorange == "reversed"  # the first choice on top, as the question lists them
    accuracy = template_accuracy_bar([0.42, 0.38], ["LeNet · MNIST", "AlexNet · Fashion-MNIST"], phone=True)
    assert accuracy.data[0].orientation == "h" and accuracy.layout.shapes[0].x0 == 10  # chance, upright
    assert answers_bar(np.array([3, 7]), choices).data[0].orientation is None  # upright on a wide screen
    wide = template_accuracy_bar([0.42, 0.38], ["LeNet · MNIST", "AlexNet · Fashion-MNIST"])
    # chance named in a legend under the chart, not grey on a bar, nor in the axis title, where it was cut off
    # ("template accuracy (%); dotted: chanc", a review)
    for figure in (accuracy, wide):
        assert not figure.layout.annotations and figure.layout.legend.y == 0.0 and figure.layout.showlegend
        assert [trace.name for trace in figure.data if trace.showlegend is not False] == ["chance (10 %)"]
    assert wide.layout.yaxis.title.text == "template accuracy (%)"


def test_a_link_the_step_overrides_is_named_and_defaults_leave_the_link(real_data_dir) -> None:
    """`/lesson?step=1&n=5000&r=0` became step 1's N = 1,000, r = 0.7 without a word, and every step wrote all eight
    analysis settings into the link, defaults included, where every other page leaves defaults out."""
    at = open_page("pages/lesson.py", step="1", n="5000", r="0.0", seed="0")
    assert_clean(at)
    notes = [info.value for info in at.info if "from the link" in info.value]
    assert notes == ["`n=5000`, `r=0.0` from the link are not used here: each step of the lesson sets its own "
                     "settings. On the full pages every setting is yours (*This step on the full page* opens this "
                     "step's)."]  # seed=0 is step 1's own: not named
    long = open_page("pages/lesson.py", step="2", r="0.2" + "0" * 3000 + "1")  # cut, as every link note cuts it
    [note] = [info.value for info in long.info if "from the link" in info.value]
    assert len(note) < 300 and "…" in note, len(note)
    assert_step_controls(at, 1)
    assert not set(at.query_params) & set(ANALYSIS_KEYS)  # step 1's settings are all defaults
    at.button(key="next").click().run()  # step 2: r = 0, grouped by the answer, the noise part
    assert_clean(at)
    assert_step_controls(at, 2)
    assert not [info.value for info in at.info if "from the link" in info.value]  # said once, on arrival
    for step in (3, 4, 3, 2):  # step 3's own settings (estimator, z) are in the link when Next or Back leaves it
        at.button(key="next" if step > int(at.query_params["step"][0]) else "back").click().run()
        assert_clean(at)
        assert_step_controls(at, step)
        assert not [info.value for info in at.info if "from the link" in info.value], step


@pytest.mark.slow
def test_browser_one_press_of_back_is_one_step_back(lesson_browser) -> None:
    """Each Next left two or three entries in the browser's history (the step, then its settings, each its own
    change of the address), so a class pressing the browser's Back saw nothing happen on the first press (a
    teacher's review): one entry per step now, and each Back is the step before, with its settings in the link."""
    from tests.browser import wait_until_idle

    def shown(page) -> str:
        return next(line for line in page.inner_text("body").splitlines() if line.startswith("Step "))

    url, browser = lesson_browser
    with browser.new_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(f"{url}/lesson")
        wait_until_idle(page, 1)
        entries = page.evaluate("history.length")
        for number in (2, 3, 4):
            page.get_by_role("button", name="Next ▶").click()
            page.get_by_text(f"Step {number} of 6").wait_for(timeout=120_000)
            wait_until_idle(page, 1)
            assert page.evaluate("history.length") == entries + number - 1, number
        assert "step=4&n=10000" in page.evaluate("location.search")  # the step and its settings
        for number in (3, 2, 1):
            page.go_back()
            page.get_by_text(f"Step {number} of 6").wait_for(timeout=120_000)
            wait_until_idle(page, 1)
            assert shown(page).startswith(f"Step {number} of 6")
        assert page.evaluate("location.search") == "" and not page.locator('[data-testid="stException"]').count()


@pytest.mark.slow
def test_browser_the_bottom_next_by_keyboard_takes_the_view_and_the_focus_to_the_top(lesson_browser) -> None:
    """Enter on the bottom Next scrolled the view up but left the focus on that button, off screen and soon the next
    step's own: a second Enter skipped a step unseen (an accessibility review). The focus goes to the step's radio."""
    from tests.browser import wait_until_idle

    url, browser = lesson_browser
    with browser.new_page(viewport={"width": 1400, "height": 700}) as page:
        page.goto(f"{url}/lesson")
        wait_until_idle(page, 1)
        page.locator(".st-key-next-bottom button").focus()
        assert page.evaluate('document.querySelector(\'[data-testid="stMain"]\').scrollTop') > 0  # it is below
        page.keyboard.press("Enter")
        page.get_by_text("Step 2 of 6").wait_for(timeout=120_000)
        wait_until_idle(page, 1)
        assert page.evaluate('document.querySelector(\'[data-testid="stMain"]\').scrollTop') == 0
        assert page.evaluate("document.activeElement.closest('.st-key-step') !== null")
        assert not page.locator('[data-testid="stException"]').count()


@pytest.mark.slow
def test_browser_arrow_keys_move_through_a_predictions_options_and_space_chooses(lesson_browser) -> None:
    """The prediction was a radio, which takes the option an arrow key moves to: a keyboard user's first arrow was
    counted as their prediction (an accessibility review). Arrows now only move the focus; Space chooses."""
    import time

    from tests.browser import wait_until_idle

    url, browser = lesson_browser
    with browser.new_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(f"{url}/lesson?step=2")
        wait_until_idle(page, 1)
        options = page.locator('[data-testid="stButtonGroup"] button')
        options.first.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        time.sleep(2)  # a rerun the arrows started would have come by now
        assert page.evaluate("document.activeElement.innerText") == "2"
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # ringed
        assert "Your prediction" not in page.inner_text("body") and options.count() == 10
        page.keyboard.press("Space")
        page.get_by_text("Your prediction: 2").wait_for(timeout=120_000)
        assert not page.locator('[data-testid="stException"]').count()


@pytest.mark.slow
def test_browser_next_pressed_at_once_after_a_page_link_is_its_own_step(lesson_browser) -> None:
    """A page link's history entries are folded into one until its addresses stop coming; Next pressed within
    those two seconds was folded in too, and Back skipped step 1 (a review): any click ends the folding."""
    from tests.browser import wait_until_idle

    url, browser = lesson_browser
    with browser.new_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(f"{url}/class_images?n=2000&seed=7")
        wait_until_idle(page, 4)
        entries = page.evaluate("history.length")
        page.locator('.st-key-app-navigation a').filter(has_text="Lesson").click()
        page.get_by_role("button", name="Next ▶").click()  # as soon as it is there
        page.get_by_text("Step 2 of 6").wait_for(timeout=120_000)
        wait_until_idle(page, 1)
        assert page.evaluate("history.length") == entries + 2
        page.go_back()
        page.get_by_text("Step 1 of 6").wait_for(timeout=120_000)
        page.go_back()
        page.wait_for_url("**/class_images?**")
        assert "seed=7" in page.url and not page.locator('[data-testid="stException"]').count()
