"""Attack: blend a class's classification image into noise or test images and watch the model follow it."""

from typing import Any

import numpy as np
import streamlit as st

from core import analysis, attack, plots
from core.attack import REFERENCE_RUN, TEMPLATES
from core.link import ATTACK_GAMMAS, PARAMS, Controls, link_text
from core.plots_attack import accuracy_figure, curve_name, success_figure
from core.runs import command_line
from ui import controls as ui_controls, live, resources
from ui.frame import command_line_note, draw_chart, on_a_phone, start_page
from ui.link_sync import is_kept_in_session, kept_in_session

SWEEPS = "_attack_curves"  # this session's γ sweeps (ui.link_sync.kept_in_session)

dataset_name, arch = start_page("Attack", in_short=(
    "paint a faint copy of a class image onto an input and see whether the network changes its answer to that "
    "class. If the noise averages steer it as well as the real class averages do, they hold what the network "
    "looks for."))
data = resources.data_or_stop(dataset_name)
model, meta = resources.model_or_stop(arch, dataset_name)
names = resources.class_names(dataset_name)


def attack_controls() -> tuple[int, float, int]:
    """The target class and γ of the example images, and the inputs per source of the sweep (all in the link)."""
    first, second, third = ui_controls.control_row("attack", 3)
    with first:
        target = ui_controls.whole_number_input("Target class k", (0, 9), "target", ui_controls.class_help(
            "The class whose template is blended into the example images below (the curves average over all ten).",
            names))
    # Labels short enough for one line in half a phone's width: on two, they pushed their widget below its neighbour
    gamma = second.select_slider("Blend weight γ", ATTACK_GAMMAS, PARAMS["gamma"].default, key="gamma",
                                 bind="query-params", format_func=link_text,  # the link's own text: "1", not "1.0"
                                 help="For the example images: x' = (1 − γ)·input + γ·template of class k")
    subset = third.select_slider("Inputs per source", attack.SUBSETS, PARAMS["subset"].default, key="subset",
                                 bind="query-params",
                                 help="How many noise inputs, and as many test images, to attack. Each input goes "
                                      "through the model 180 times (9 blend weights × 10 targets × 2 template "
                                      "sets): more inputs, smoother curves, longer wait.")
    return int(target), float(gamma), int(subset)


def sweep(images: analysis.ClassImages, inputs: tuple, key: tuple, place: Any) -> attack.AttackCurves:
    """The γ sweep, kept in the session for its settings: moving γ or the target redraws only the examples. Its
    progress bar goes in ``place``."""
    def make() -> attack.AttackCurves:
        bar = place.progress(0.0, text="blending the templates into the inputs…")
        means = attack.class_mean_images(data.train_images, data.train_labels)
        curves = attack.attack_sweep(model, images.images, means, *inputs,
                                     on_progress=lambda done: bar.progress(done, text=f"γ sweep: {done:.0%}"))
        bar.empty()
        return curves

    return kept_in_session(SWEEPS, key, make)


def example_strips(images: analysis.ClassImages, inputs: tuple, target: int, gamma: float) -> None:
    """The first attacked inputs of each source at the chosen γ and target, titled with the model's answer."""
    noise, tests, _ = inputs
    templates = attack.attack_templates(images.images, attack.class_mean_images(data.train_images,
                                                                                data.train_labels))
    found = attack.attack_examples(model, templates, noise, tests, target, gamma)
    for template, strip, answer in zip(TEMPLATES, found.blends, found.answers):
        titles = [f"{'noise' if j < attack.EXAMPLES else 'test'} → {names[a]}" + (" ✓" if a == target else "")
                  for j, a in enumerate(answer)]
        # each tile says its source: "left" and "right" were rows on a phone
        st.markdown(f"**{curve_name(template)}** blended into noise and into test images")
        draw_chart(plots.stimuli_strip(strip, titles, phone=on_a_phone()), key=f"examples-{template}",
                   alt=plots.strip_alt(titles))


@st.fragment
def attack_page() -> None:
    controls = ui_controls.analysis_controls(show_display=False)
    target, gamma, subset = attack_controls()
    st.button("Use the reference run: 200,000 pure uniform-noise stimuli, softmax-weighted, noise part, 500 inputs "
              "per source", icon="🎯", key="reference", on_click=lambda: st.session_state.update(REFERENCE_RUN))
    stored = live.stored_stimuli(arch, dataset_name, meta["sha256"], controls)
    stopped, stop = live.stop_or_continue(
        controls, stored >= controls.n, "Large N (the reference run's 200,000 stimuli take about a minute on a slow "
        "machine): Stop sweeps with the stimuli computed so far; Continue goes on from there.")
    if stopped and stored == 0:
        st.info("Stopped before the run began. Press Continue to go on.")
        return
    progress = live.progress_bar(controls)
    # Curves to be computed anew blank the previous ones until they are drawn, at every N: even a live-sized run's
    # sweep takes seconds here and 15 s or more on a slow machine (the reference run's, a minute). Settings already
    # swept (moving γ or the target) redraw in place, with no blank frame.
    shown = min(stored, controls.n) if stopped else controls.n
    ready = stored >= shown and is_kept_in_session(SWEEPS, sweep_key(controls, shown, subset))
    results = live.Results(blank=not ready)
    _, state = live.run_analysis(arch, dataset_name, meta["sha256"], controls, progress, stopped=stopped)
    if stop is not None:
        stop.empty()
    images = analysis.class_images(state, controls.estimator, controls.part)
    try:
        inputs = attack.attack_inputs(controls.settings.noise, data.train_images, data.test_images,
                                      data.test_labels, subset, subset)
    except ValueError as err:
        results.place.error(f"Cannot build the attack's inputs: {err}")
        return
    curves = sweep(images, inputs, sweep_key(controls, images.n, subset), results.place)
    with results.container():
        attack_results(controls, images, inputs, curves, (target, gamma, subset))


def sweep_key(controls: Controls, n: int, subset: int) -> tuple:
    """What the γ sweep's curves depend on (not the examples' target and γ)."""
    return arch, dataset_name, meta["sha256"], controls.settings, n, controls.estimator, controls.part, subset


def attack_results(controls: Controls, images: analysis.ClassImages, inputs: tuple, curves: attack.AttackCurves,
                   chosen: tuple[int, float, int]) -> None:
    """The curves of the γ sweep, the examples at the chosen target and γ, and the downloads."""
    target, gamma, subset = chosen
    if images.n < controls.n:
        st.info(f"Stopped at {images.n:,} of {controls.n:,} stimuli: the curves below use class images averaged "
                f"over these. Press Continue to go on.")
    g = ATTACK_GAMMAS.index(0.5)

    st.header("Targeted success rate against γ")
    draw_chart(success_figure(curves), key="success")
    empty = [names[k] for k in np.flatnonzero(images.empty)]
    # In four parts, not one paragraph of ~250 words (a teacher's review): what is plotted, how to read it, the
    # numbers, and why the curves start where they do
    st.markdown(
        f"Each input is blended with the template of a target class k, `x' = (1 − γ)·input + γ·template_k`, and "
        f"the curve shows the share of the blends the model calls k, averaged over the ten targets "
        f"({subset:,} {controls.noise}-noise inputs and the first {subset:,} test images, each blended with every "
        f"target; dotted: chance, 10%).")
    st.markdown(
        f"Solid lines use the **classification images** of the controls above ({images.n:,} stimuli, "
        f"{analysis.ESTIMATORS[controls.estimator].label}, {analysis.PARTS[controls.part].label}), dashed lines the "
        f"**class-mean images** (the mean training image of each class), both stretched to the 0–1 input range. "
        f"Red: the inputs are pure noise; blue: real test images, which resist until their own image is "
        f"outweighed. A solid curve that climbs as fast as the dashed one means the noise averages carry what the "
        f"model responds to.")
    st.markdown(
        f"At γ = 0.5 here: class images {curves.targeted('class_images', 'noise')[g]:.0%} on noise, "
        f"{curves.targeted('class_images', 'test')[g]:.0%} on test images; class means "
        f"{curves.targeted('class_means', 'noise')[g]:.0%} and {curves.targeted('class_means', 'test')[g]:.0%}; "
        f"on the test images not already of class k (the usual targeted rate) "
        f"{curves.targeted_on_others('class_images')[g]:.0%} and {curves.targeted_on_others('class_means')[g]:.0%}."
        + (f" No class image for {', '.join(empty)} (never predicted): flat grey stands in." if empty else ""))
    with st.expander("Why every curve starts at 10 %"):
        st.markdown(
            "At γ = 0 every curve starts at exactly 10% whatever the model: each input is given one class, so the "
            "ten targets' shares add up to 1 (per target it is the model's base rate, in the per-target CSV). At "
            "γ = 1 the input *is* the template, so the rate is the share of templates the model gives their own "
            "class. On test images a tenth of the blends for target k are of a test image of class k, which the "
            "model already calls k: about 10% of each blue curve needs no attack (the usual targeted rate leaves "
            "those inputs out).")
    if controls.ratio > 0 and (controls.estimator == "truth" or controls.part == "input"):
        st.info("These class images average the test images themselves (ground-truth grouping or the whole "
                "input at r > 0), so they are close to the class means. The attack asks more of noise averages: "
                "press *Use the reference run* above.")

    st.header("Untargeted: test accuracy against γ")
    draw_chart(accuracy_figure(curves), key="accuracy")
    st.markdown("The same blends of the test images, scored against their true labels: how fast a template "
                "drowns the image. The curves fall from the model's accuracy at γ = 0 to about 10% at γ = 1, where "
                "every input is the template and only the test images of its class can be right. The γ at which a "
                "curve crosses half the starting accuracy is where the template starts to win.")

    named = "" if names[target] == str(target) else f" ({names[target]})"  # MNIST's names are the digits
    st.header(f"Examples at γ = {gamma:.1f}, target {target}{named}")
    example_strips(images, inputs, target, gamma)
    st.caption("Each picture is one attacked input on the model's 0–1 scale; its title is the model's answer (✓: "
               "the target). Move γ and the target class above: the curves stay, only these are redrawn.")

    st.header("Downloads")
    stem = f"attack-{controls.file_stem(arch, dataset_name, images.n, images.part)}-subset{subset}"
    left, right = st.columns(2)
    left.download_button("CSV of the curves", attack.curves_csv(curves), f"{stem}.csv", "text/csv", key="csv",
                         on_click="ignore")
    right.download_button("CSV per target class", lambda: attack.per_target_table(curves, names).to_csv(
        index=False, float_format="%.4f", lineterminator="\n"), f"{stem}-per-target.csv", "text/csv",
        key="csv-targets", on_click="ignore")
    record = controls.record(arch, dataset_name, images.n, images.part)
    command_line_note(command_line("attack", record, f"runs/{stem}-k{target}-gamma{gamma:g}", subset=subset,
                                   target=target, gamma=gamma))


attack_page()
