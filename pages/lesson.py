"""Lesson: the classroom walkthrough inside the app. Each step sets the controls, asks, then shows the measurement."""

import numpy as np
import pandas as pd
import streamlit as st

from core import analysis, lesson, plots, plots_lesson
from core.config import DATASET_TITLES
from core.lesson import STEP_COUNT, STEPS, Step
from core.link import ANALYSIS_KEYS, PARAMS, as_code, default_controls, link_text
from core.models import ARCHITECTURES
from core.picture import picture, scarce_classes
from ui import live, resources, streamlit_internals
from ui.questions import ask, how_the_class_answered, verdict
from ui.frame import draw_chart, on_a_phone, start_page

dataset_name, arch = start_page("Lesson", set_by_the_page=ANALYSIS_KEYS)
names = resources.class_names(dataset_name)
# The small grids carry no counts in their titles: what a blank panel and a * mean, said under each of them.
PANEL_KEY = ("Blank panels: classes the network never chose; * marks classes that got under 1 % of the stimuli, "
             "drawn faded: mostly noise.")


def go_to(number: int) -> None:
    """Back / Next (a callback, before the run): the step's settings go into the link with the step, in one change.
    The bound step widget wrote the step, then ``set_the_controls`` the settings: two or three entries in the
    browser's history per step, so its Back button seemed to do nothing on the first press (a teacher's review)."""
    st.session_state["step"] = number
    streamlit_internals.stage_in_the_link({key: None if value == PARAMS[key].default else link_text(value)
                                           for key, value in STEPS[number - 1].settings.items()})


def set_the_controls(step: Step, arrived: bool) -> None:
    """The step's settings become the session's (so they follow the student to the full pages) and the link's,
    those at their defaults left out as on every page (all eight were written out). A value the link brought on
    ``arrived`` that the step sets otherwise is named: it was dropped without a word. (Between steps the link holds
    the step before's settings, which the lesson wrote itself: naming those told a class, at every Next from
    step 3, that a link they never used was ignored.)"""
    changed, dropped, unused = {}, [], []
    for key in ANALYSIS_KEYS:
        value, in_link = step.settings[key], st.query_params.get(key)
        st.session_state[key] = value
        if arrived and in_link is not None and PARAMS[key].parsed(in_link) != value:
            unused.append(f"`{key}={as_code(in_link)}`")
        if value != PARAMS[key].default and in_link != link_text(value):
            changed[key] = link_text(value)
        elif value == PARAMS[key].default and in_link is not None:
            dropped.append(key)
    if changed:  # one change of the address, so one step in the browser's history
        st.query_params.update(changed)
    for key in dropped:  # rare: a link that set a value this step leaves at its default
        del st.query_params[key]
    if unused:
        st.info(f"{', '.join(unused)} from the link {'is' if len(unused) == 1 else 'are'} not used here: each step of "
                f"the lesson sets its own settings. On the full pages every setting is yours (*This step on the full "
                f"page* opens this step's).")


def step_picker() -> tuple[Step, bool]:
    """Progress, Back / Next and the step's number (bound to the link: ``step=3``); and whether the student has just
    arrived at the page."""
    arrived = st.session_state.pop("_arrived", False)
    if arrived:  # a page arrival: a link, the sidebar, the browser's Back button
        # The step in the link, else where the student was. Back from a full page came without any parameter
        # (Streamlit drops a page's bound ones as it leaves it), and the bound step, which follows the link on a
        # page's first run whatever session state says, fell to 1 with its settings: the link gets the step first.
        in_link = PARAMS["step"].parsed(st.query_params["step"]) if "step" in st.query_params else None
        number = in_link or st.session_state.get("_lesson_step", PARAMS["step"].default)
        if in_link is None and number != PARAMS["step"].default:
            st.query_params["step"] = link_text(number)
            streamlit_internals.seed_widgets_from_the_link_as_it_is_now()
        st.session_state["step"] = number
    # On a phone the six titles wrapped into ragged pairs, half a screen before the step began: numbers only there
    # (the progress line under them names the step).
    number = st.radio("Step", list(range(1, STEP_COUNT + 1)), key="step", bind="query-params", horizontal=True,
                      captions=None if on_a_phone() else [s.title for s in STEPS], label_visibility="collapsed")
    st.session_state["_lesson_step"] = number
    st.progress(number / STEP_COUNT, text=f"Step {number} of {STEP_COUNT}: {STEPS[number - 1].title}")
    with st.container(horizontal=True):  # side by side on a phone too, where columns stack
        st.button("◀ Back", key="back", disabled=number == 1, on_click=go_to, args=(number - 1,))
        st.button("Next ▶", key="next", type="primary", disabled=number == STEP_COUNT, on_click=go_to,
                  args=(number + 1,))
    return STEPS[number - 1], arrived


def numbers_download(step_number: int, table: pd.DataFrame) -> None:
    st.download_button("CSV of this step's numbers", table.to_csv(index=False),
                       f"lesson-step{step_number}-{arch}-{dataset_name}.csv", "text/csv", key="step-csv",
                       on_click="ignore")


def class_image_figure(state, images, key: str, counts: bool = True, z_scores: bool = False) -> None:
    """At the step column's full width: half of it left tiles of 15-30 px and titles printed over each other."""
    shown = picture(state, images, z_scores, names, counts=counts)
    draw_chart(shown.figure(phone=on_a_phone(), narrow=True), key=key, config={"displaylogo": False},
               alt=shown.alt())


def clear_classes(images: analysis.ClassImages) -> np.ndarray:
    """Classes with an image worth the name: predicted at all and behind at least 1 % of the weight."""
    return ~np.asarray(images.empty, bool) & ~scarce_classes(images)


def run(step: Step, model_arch: str = arch, model_dataset: str = dataset_name):
    """The shared run for this step's settings (any session may already have made it)."""
    model, meta = resources.model_or_stop(model_arch, model_dataset)
    controls = default_controls(**step.control_values)
    engine, state = live.run_analysis(model_arch, model_dataset, meta["sha256"], controls, st.empty())
    return model, engine, state


def original_figure(step: Step) -> None:
    model, _, state = run(step)
    images = analysis.class_images(state, "truth", "input")
    fed_back = analysis.fed_back_matrix(model, images)
    # One above the other, each the column's width: side by side, the matrix's numbers were 5 px high on a
    # 1400-px screen, and this is the first thing a class sees
    class_image_figure(state, images, "l1-images", counts=False)
    st.caption(f"The ten averages of {state.n:,} stimuli, grouped by the true class of their test image.")
    draw_chart(plots.probability_heatmap(fed_back, names, names, "class image", "predicted class",
                                         phone=on_a_phone()), key="l1-fed-back",
               alt=plots.matrix_alt(fed_back, names, names, "class image", "predicted class"))
    st.caption(f"The original figure: the network's softmax on each average (rows). "
               f"**{analysis.self_classified(fed_back)}/10** are recognised as their own class.")
    numbers_download(1, pd.DataFrame(fed_back, index=names, columns=names).rename_axis("class image").reset_index())


def class_bias_question(step: Step, key: str) -> None:
    question, options = step.question, step.question.options(names)
    numbers = [f"#{i + 1}" for i in range(8)]
    draw_chart(plots.stimuli_strip(live.example_stimuli(dataset_name, default_controls(**step.control_values)),
                                   numbers, phone=on_a_phone()), key="l2-stimuli", alt=plots.strip_alt(numbers))
    st.caption("The first stimuli of the stream: uniform noise, nothing else. The network must still answer.")
    revealed = ask(question, options, key)
    _, _, state = run(step)
    right = question.answer(state.class_bias)
    if revealed:
        share = state.class_bias[right] / state.n
        verdict(question, options, key, right, f"The network called **{share:.0%}** of {state.n:,} noise images "
                f"*{options[right]}* (1 in 10 if it had no favourite).")
        draw_chart(plots.bias_bar(state.class_bias, names, state.n), key="l2-bias")
        st.caption("How often the network called a noise image each class: its default guesses.")
        images = analysis.class_images(state, "predicted", "noise")
        class_image_figure(state, images, "l2-images", counts=False)
        # Its favourite's panel looks nearly blank, which a class read as "nothing there" (a class review)
        pale = (f" *{options[right]}* looks pale: it took {share:.0%} of the stimuli, so the average noise is mostly "
                f"its own and its panel differs little from it. Step 3 measures every panel against its noise."
                if share > 0.5 else "")
        st.caption(f"The noise averaged by the network's answer; red = brighter than the average noise, blue = "
                   f"darker. {PANEL_KEY}{pale}")
        numbers_download(2, pd.DataFrame({"class": names, "stimuli": state.class_bias.astype(int)}))
    how_the_class_answered(question, options, key, right if revealed else None)


def sharpening_question(step: Step, key: str) -> None:
    question, options = step.question, step.question.options(names)
    _, _, state = run(step)
    before = state.rewound_to(state.n // 10)
    shares = []
    for moment in (before, state):
        images = analysis.class_images(moment, "predicted", "noise")
        shares.append(lesson.significant_share(analysis.z_scores(moment, images), clear_classes(images)))
    right = question.answer(*shares)
    # As z-scores, the measure the answer is read from: in the stimulus's own units the class behind most stimuli
    # looked blank (the average stimulus is mostly its own) beside a noisy small class that set the colour scale.
    z_scores = step.settings["z"]
    class_image_figure(before, analysis.class_images(before, "predicted", "noise"), "l3-before", counts=False,
                       z_scores=z_scores)
    st.caption(f"The class images after the first {before.n:,} stimuli (step 2's), as z-scores: how many standard "
               f"errors each pixel lies above (red) or below (blue) the average noise, so that every panel is measured "
               f"against its own noise level; |z| > 3, the deepest colours, is rare by chance. {PANEL_KEY}")
    revealed = ask(question, options, key)
    if revealed:
        class_image_figure(state, analysis.class_images(state, "predicted", "noise"), "l3-after", counts=False,
                           z_scores=z_scores)
        st.caption(f"The same stream after {state.n:,} stimuli, as z-scores (mind the colour bar: it spans at least "
                   f"±3).")
        verdict(question, options, key, right, f"Pixels standing out of the noise (|z| > 3) in the clear class "
                f"images: **{shares[0]:.1%}** at {before.n:,} stimuli, **{shares[1]:.1%}** at {state.n:,} "
                f"(chance alone: about {lesson.CHANCE_BEYOND_3_SIGMA:.1%}).")
        counts, correlations = analysis.convergence(state, "predicted", "noise")
        draw_chart(plots.convergence_figure(counts, correlations), key="l3-convergence")
        st.caption(lesson.convergence_reading(counts, correlations))
        numbers_download(3, pd.DataFrame({"stimuli": [before.n, state.n], "significant_share": shares}))
    how_the_class_answered(question, options, key, right if revealed else None)


def every_class_question(step: Step, key: str) -> None:
    question, options = step.question, step.question.options(names)
    _, _, state = run(step)
    predicted = analysis.class_images(state, "predicted", "noise")
    softmax = analysis.class_images(state, "softmax", "noise")
    right = question.answer(int(clear_classes(softmax).sum()))
    class_image_figure(state, predicted, "l4-predicted")
    st.caption(f"Grouped by the answer ({int(clear_classes(predicted).sum())} clear classes): the number in "
               "brackets is how many stimuli stand behind each image.")
    revealed = ask(question, options, key)
    if revealed:
        class_image_figure(state, softmax, "l4-softmax")
        st.caption("Grouped by softmax: the number in brackets is the network's probability for the class, added up "
                   "over all the stimuli (the ten add up to N).")
        verdict(question, options, key, right, f"**{int(clear_classes(softmax).sum())}** of the ten softmax class "
                f"images are clear, against {int(clear_classes(predicted).sum())} grouped by the answer.")
        numbers_download(4, pd.DataFrame({"class": names, "predicted_weight": predicted.weights,
                                          "softmax_weight": softmax.weights}))
    how_the_class_answered(question, options, key, right if revealed else None)


def template_question(step: Step, key: str) -> None:
    question, options = step.question, step.question.options(names)
    model, engine, state = run(step)
    data = resources.data_or_stop(dataset_name)
    images = analysis.class_images(state, "softmax", "noise")
    template = analysis.template_classify(images, data.test_images, data.test_labels, engine.mean_image)
    right = question.answer(template.accuracy)
    class_image_figure(state, images, "l5-templates", counts=False)
    st.caption("The ten templates: step 4's softmax class images.")
    revealed = ask(question, options, key)
    if revealed:
        network = resources.model_or_stop(arch, dataset_name)[1]["test_accuracy"]
        verdict(question, options, key, right, f"The templates classify **{template.accuracy:.1%}** of the 10,000 "
                f"test images correctly (chance 10%); the network itself {network:.1%}.")
        # one above the other, as in step 1: side by side, their numbers were too small to read
        draw_chart(plots.confusion_heatmap(template.confusion, names, column_title="template class",
                                           phone=on_a_phone()), key="l5-template")
        st.caption("Rows: the true class of the test image; columns: the template it resembles most.")
        fed_back = analysis.fed_back_matrix(model, images)
        draw_chart(plots.probability_heatmap(fed_back, names, names, "class image", "predicted class",
                                             phone=on_a_phone()), key="l5-fed-back",
                   alt=plots.matrix_alt(fed_back, names, names, "class image", "predicted class"))
        st.caption(f"The templates fed back to the network: **{analysis.self_classified(fed_back)}/10** are "
                   "recognised as their own class." + plots.tie_note(fed_back))
        numbers_download(5, pd.DataFrame(template.confusion, index=names, columns=names)
                         .rename_axis("true class").reset_index())
    how_the_class_answered(question, options, key, right if revealed else None)


def four_models_question(step: Step, key: str) -> None:
    question, options = step.question, step.question.options(names)
    revealed = ask(question, options, key)
    accuracies = []
    titles = [f"{ARCHITECTURES[a].title} · {DATASET_TITLES[d]}" for a, d in lesson.MODEL_CHOICES]
    # One under another at the column's full width: in pairs side by side, long class names overlapped. On a phone
    # in tabs: one under another, the four grids took 2,900 px below the question that compares them.
    places = st.tabs(titles) if on_a_phone() else [st.container() for _ in titles]
    for place, title, (model_arch, model_dataset) in zip(places, titles, lesson.MODEL_CHOICES):
        with place:
            if not on_a_phone():
                st.markdown(f"**{title}**")
            data = resources.data_or_stop(model_dataset)
            _, engine, state = run(step, model_arch, model_dataset)
            images = analysis.class_images(state, "softmax", "noise")
            shown = picture(state, images, False, resources.class_names(model_dataset), counts=False)
            draw_chart(shown.figure(phone=on_a_phone()), key=f"l6-{model_arch}-{model_dataset}",
                       alt=shown.alt())
            # each grid has its own colour scale, and step 3's * note was three steps back (a review)
            st.caption(f"{title}: softmax noise averages of {state.n:,} stimuli, on their own colour scale "
                       "(compare the shapes, not the shades)"
                       + ("; * marks a class behind under 1 % of the weight, too few to trust."
                          if shown.scarce.any() else "."))
            accuracies.append(analysis.template_classify(images, data.test_images, data.test_labels,
                                                         engine.mean_image).accuracy)
    right = question.answer(accuracies)
    if revealed:
        verdict(question, options, key, right, "Template accuracies: " + ", ".join(
            f"{label} {value:.1%}" for label, value in zip(options, accuracies)) + " (chance 10%).")
        draw_chart(plots_lesson.template_accuracy_bar(accuracies, options, phone=on_a_phone()), key="l6-accuracy")
        st.caption("Each model's softmax noise averages used as templates on its own 10,000 test images.")
        numbers_download(6, pd.DataFrame({"model": options, "template_accuracy": accuracies}))
    how_the_class_answered(question, options, key, right if revealed else None)


SHOW = {1: original_figure, 2: class_bias_question, 3: sharpening_question, 4: every_class_question,
        5: template_question, 6: four_models_question}

step, arrived = step_picker()
number = STEPS.index(step) + 1
set_the_controls(step, arrived)
text, figures = st.columns([2, 5])
with text:
    st.header(f"{number}. {step.title}")
    st.markdown(step.text)
    where = "" if step.all_models else f" {ARCHITECTURES[arch].title} on {DATASET_TITLES[dataset_name]} (sidebar)."
    grouping = analysis.ESTIMATORS[step.settings["estimator"]].label  # the menus' words, not the link's value
    st.caption(f"This step: N = {step.settings['n']:,}, r = {step.settings['r']:g}, {step.settings['noise']} noise, "
               f"grouping: {grouping}, seed {step.settings['seed']}.{where}")  # "grouped by softmax-weighted" read
    # badly (a review): the menu's words after a colon
    st.page_link(step.full_page, label="This step on the full page", icon="➡️",
                 query_params={key: link_text(value) for key, value in step.settings.items()
                               if key in ANALYSIS_KEYS and value != PARAMS[key].default})
    st.caption(f"{step.full_page_title}, with every control: the same settings, yours to change.")
with figures:
    if step.question is None:
        SHOW[number](step)
    else:
        SHOW[number](step, lesson.tally_key(step.question, dataset_name, arch))
if number < STEP_COUNT:  # on a phone a step is 4-6 screens long, and Next was only at its top
    st.button(f"Next: {number + 1}. {STEPS[number].title} ▶", key="next-bottom", type="primary", on_click=go_to,
              args=(number + 1,))
