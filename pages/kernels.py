"""Whitened kernels: the regression kernel with the noise's own correlations taken out, and the network's linear
read-out under that noise."""

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core import plots, plots_readout, readout, reverse_correlation
from core.analysis import GRADIENT_ESTIMATORS
from core.link import PARAMS, Controls, link_text
from core.runs import command_line
from ui import controls as ui_controls, live, resources
from ui.frame import command_line_note, draw_chart, halves, on_a_phone, start_page
from ui.link_sync import kept_in_session

dataset_name, arch = start_page("Whitened kernels", in_short=(
    "the regression kernel shows which pixels push each class's score up or down. Where neighbouring noise "
    "pixels move together (pink or data noise), that picture is blurred by the noise itself; *whitening* undoes "
    "the blur, and the result can classify real images as a simple linear model would."))
data = resources.data_or_stop(dataset_name)
model, meta = resources.model_or_stop(arch, dataset_name)
names = resources.class_names(dataset_name)


def use_the_kernel() -> None:
    st.session_state.update(estimator="regression", part="noise")


def covariance_of(controls) -> readout.NoiseCovariance:
    """Σ of the noise, measured with a progress bar the first time this server needs it (kept in memory)."""
    sigma = controls.settings.noise.sigma
    if not readout.covariance_is_ready(controls.noise, sigma, data.train_images):
        bar = st.progress(0.0, text="measuring the noise covariance (once per noise type and σ on this server)…")
        covariance = readout.noise_covariance(controls.noise, sigma, data.train_images,
                                              on_progress=lambda done: bar.progress(done))
        bar.empty()
        return covariance
    return readout.noise_covariance(controls.noise, sigma, data.train_images)


def kernel_csv(raw: np.ndarray, whitened: np.ndarray, intercept: np.ndarray) -> str:
    """One row per class and pixel: raw kernel, whitened kernel; the read-out's intercept per class."""
    rows, columns = np.divmod(np.arange(784), 28)
    table = pd.DataFrame({"class": np.repeat(list(names), 784), "row": np.tile(rows, 10),
                          "column": np.tile(columns, 10), "raw_kernel": raw.reshape(-1),
                          "whitened_kernel": whitened.reshape(-1), "intercept": np.repeat(intercept, 784)})
    return table.to_csv(index=False, float_format="%.6g", lineterminator="\n")


@st.fragment
def kernels() -> None:
    controls = ui_controls.analysis_controls(show_display=False, explains_full_signal=True)
    ridge = st.select_slider("Ridge strength λ", readout.RIDGE_CHOICES, value=PARAMS["ridge"].default, key="ridge",
                             bind="query-params", format_func=link_text,
                             help="Σ + λ·s·I is inverted instead of Σ (s: the noise's mean pixel variance). "
                                  "0 is plain least squares; a larger λ trusts less the directions in which the "
                                  "noise hardly varies, and pulls the read-out towards the class bias.")
    regression_of_the_noise = controls.estimator == "regression" and controls.part == "noise"
    if controls.estimator in GRADIENT_ESTIMATORS:  # _effective kept it: the noise is Gaussian
        st.info("The gradient kernel needs no whitening here: its whitened form, E[∇ logit] from the model's own "
                "gradients, is on the Classification images page, beside Σ·E[∇ logit]. This page whitens the "
                "black-box kernel, (Σ + λ·s·I)⁻¹ · Cov(noise, logits), which needs the regression sums.")
        st.page_link("pages/class_images.py", label="The gradient kernel, whitened: Classification images",
                     icon="➡️")
    elif not regression_of_the_noise:
        st.info("A whitened kernel is a regression of the logits on the **noise**: it needs the regression sums "
                "(*Grouping* = regression) and the noise part (*Averaged part* = noise). Averages grouped by a "
                "label, or averages of the whole input, have no Σ⁻¹ to apply.")
    if not regression_of_the_noise:  # either note above: one switch
        st.button("Switch to the regression kernel of the noise part", on_click=use_the_kernel, key="use_kernel")
        return
    if controls.ratio >= 1.0:
        st.warning("At r = 1 no noise reaches the model: there is nothing to regress the logits on. Lower r.")
        return
    progress = live.progress_bar(controls)
    # blank during a long run: the previous settings' results and downloads are not this run's
    results = live.Results(blank=live.runs_long(arch, dataset_name, meta["sha256"], controls))
    engine, state = live.run_analysis(arch, dataset_name, meta["sha256"], controls, progress)
    with results.container():
        kernel_results(controls, ridge, engine, state)


def kernel_results(controls: Controls, ridge: float, engine: reverse_correlation.Analyzer,
                   state: reverse_correlation.AnalysisState) -> None:
    """The raw and whitened kernels, the accuracies of their rules against λ, and the downloads."""
    covariance = covariance_of(controls)
    raw = readout.raw_kernel(state)
    fitted = readout.linear_readout(state, covariance, ridge)
    whitened = readout.whitened_images(raw, fitted)

    left, right = halves("kernels")
    with left:
        st.header("Raw kernel (black box)")
        draw_chart(plots.class_images_figure(raw.images, names, True, "covariance",
                                             height=plots.HALF_WIDTH_GRID, phone=on_a_phone()), key="raw")
        st.caption("Cov(noise, centred logit) per class: the regression class images. For a linear network "
                   "this is Σ·W, the weights W seen through the noise's own correlations: under pink or data "
                   "noise it is smeared into blobs whatever the network does.")
    with right:
        st.header("Whitened kernel")
        draw_chart(plots.class_images_figure(whitened.images, names, True, "logit per unit input",
                                             height=plots.HALF_WIDTH_GRID, phone=on_a_phone()), key="whitened")
        st.caption(f"(Σ + λ·s·I)⁻¹ · raw kernel, λ = {ridge:g}: the least-squares weights of each logit on the "
                   "pixels, in logit per unit of input. Red pixels raise the class's logit, blue ones lower it. "
                   "Under white noise (uniform, gaussian) it is the raw kernel rescaled; under correlated noise "
                   "(pink, data) it is sharper, and noisier where the noise hardly varies. Base noise, clipped "
                   "unevenly over the dark and bright pixels of its mean image, varies more at some pixels than at "
                   "others: each pixel is rescaled on its own.")

    fitted_accuracy = readout.fitted_readout_accuracy(fitted, data.train_images, data.train_labels, data.test_images,
                                                      data.test_labels)
    # the metrics' quantity named above them: their labels are rules, not quantities (a teacher's review)
    st.subheader("Accuracy on the 10,000 real test images")
    # The three rules' metrics sit in one column, which holds the progress bar while the accuracies are made: the row
    # keeps the height of the two metrics beside it (a bar above the row moved everything under it down and up).
    rules, fourth, fifth = st.columns([3, 1, 1])
    fourth.metric("Fitted intercepts", f"{fitted_accuracy:.2%}")
    fifth.metric("The network", f"{meta['test_accuracy']:.2%}" if "test_accuracy" in meta else "–")
    place = rules.empty()
    curves = ridge_accuracies(controls, engine, state, covariance, place)
    chosen = {key: values[readout.RIDGE_CHOICES.index(ridge)] for key, values in curves.items()}
    first, second, third = place.container().columns(3)
    # short labels: at 1024 px "Raw kernel, template rule" was cut off (the caption says what the rules are)
    # two decimals, as the command line prints them: one decimal of 0.3025 read "30.2%" against its "30.25%"
    first.metric("Raw template", f"{chosen['raw_template']:.2%}")
    second.metric("Whitened template", f"{chosen['whitened_template']:.2%}")
    third.metric("Linear read-out", f"{chosen['readout']:.2%}")
    st.caption("*Template rule*: each image gets the class whose kernel "
               "it resembles most (cosine similarity after centring, as on the other pages). *Linear read-out*: "
               "argmax over classes of whitened kernel · image + intercept, the answer of the network's best "
               "linear approximation under this noise; the intercept makes it right on average over the stimuli, "
               "so it carries the model's class bias on noise. *Fitted intercepts*: the same weights, with the "
               f"ten intercepts fitted on the first {readout.INTERCEPT_FIT_IMAGES:,} training images (maximum "
               "likelihood) instead: how well the noise's weights separate real images once that bias is gone.")
    if controls.ratio > 0:
        whole_input(state, controls, ridge)
    st.header("Accuracy against the ridge strength")
    draw_chart(plots_readout.ridge_curve(readout.RIDGE_CHOICES, {k: np.array(v) for k, v in curves.items()},
                                         ridge, meta.get("test_accuracy")), key="ridge_curve")
    st.caption(f"{state.n:,} stimuli, Σ {covariance.how}, condition number "
               + ("∞ (some directions never vary: λ = 0 gives them zero weight)" if np.isinf(covariance.condition)
                  else f"{covariance.condition:,.0f}"
                  + (" (at λ = 0 the directions the noise hardly varies in, such as pink noise's overall "
                     "brightness, are divided by almost nothing: a little ridge recovers the weights far better)"
                     if covariance.condition > 1e3 and ridge == 0 else ""))
               + ". The dashed grey line is the raw kernel (λ does not touch it); the dotted vertical one marks the "
               "λ chosen above. "
               + ("This noise is white (Σ a multiple of the identity), so the whitened kernel is the raw one "
                  "rescaled and the template rule, blind to scale, gives both the same accuracy: the blue line "
                  "lies under the grey one. Under pink or data noise it need not. "
                  if np.isclose(covariance.condition, 1.0) else
                  "Where the whitened curve rises above it, the noise's covariance (its correlations, or its "
                  "unequal pixel variances) was hiding part of the network's template. ")
               + "Too small a λ lets the estimation noise in the rarely-varying directions through; too large a λ "
               "turns the whitened kernel back into the raw one.")

    stem = (f"{arch}-{dataset_name}-{controls.noise_label}-N{state.n}-r{controls.ratio:g}-seed{controls.seed}"
            f"-ridge{ridge:g}")
    a, b = st.columns(2)
    a.download_button("CSV of both kernels", lambda: kernel_csv(raw.images, whitened.images, fitted.intercept),
                      f"{stem}-kernels.csv", "text/csv", key="kernels_csv", on_click="ignore")
    stimuli_covariance = input_covariance(controls) if controls.ratio > 0 else None  # kept: made above

    def accuracies_csv() -> str:
        """The ridge curve's accuracies; at r > 0 also the whole-input read-out's at each λ (made on the click, in
        Streamlit's own thread: only pure functions here)."""
        table = {"ridge": readout.RIDGE_CHOICES, **curves, "readout_fitted_intercepts": [
            readout.fitted_readout_accuracy(readout.linear_readout(state, covariance, value), data.train_images,
                                            data.train_labels, data.test_images, data.test_labels)
            for value in readout.RIDGE_CHOICES]}
        if stimuli_covariance is not None:
            table["input_readout_in_sample"] = readout.input_readout_accuracies(
                state, stimuli_covariance, readout.RIDGE_CHOICES, data.test_images, data.test_labels)
        return pd.DataFrame(table).to_csv(index=False, lineterminator="\n")

    b.download_button("CSV of the accuracies", accuracies_csv, f"{stem}-accuracies.csv", "text/csv",
                      key="curve_csv", on_click="ignore")
    command_line_note(command_line("analyze", controls.record(arch, dataset_name, state.n, controls.part),
                                   f"runs/{stem}", ridge=ridge))


def ridge_accuracies(controls: Controls, engine: reverse_correlation.Analyzer,
                     state: reverse_correlation.AnalysisState, covariance: readout.NoiseCovariance,
                     place: Any) -> dict[str, list[float]]:
    """The three rules' test accuracies at every λ of the curve (each point one whitening and the 10,000 test images:
    seconds in all), kept in the session for the run, so moving λ only redraws; while they are made, a progress bar
    in ``place``."""
    def make() -> dict[str, list[float]]:
        bar = place.progress(0.0, text="accuracy on the 10,000 test images at each λ…")
        curves = {name: [] for name in plots_readout.ACCURACY_SERIES}
        for done, value in enumerate(readout.RIDGE_CHOICES, start=1):
            accuracies = readout.readout_accuracies(state, covariance, value, data.test_images, data.test_labels,
                                                    engine.mean_image)
            for name in curves:
                curves[name].append(getattr(accuracies, name))
            bar.progress(done / len(readout.RIDGE_CHOICES), text=f"accuracy on the 10,000 test images: λ = {value:g}")
        return curves

    return kept_in_session("_ridge_accuracies", (arch, dataset_name, meta["sha256"], controls.settings, state.n), make)


def input_covariance(controls):
    """Σ of this run's whole stimuli, r·test image + (1 − r)·noise (kept by the server)."""
    return resources.input_covariance(dataset_name, controls.ratio, controls.noise, controls.settings.noise.sigma)


def whole_input(state, controls, ridge: float) -> None:
    """At r > 0: the logits regressed on the whole stimulus, images and noise, instead of on the noise alone."""
    accuracy = readout.input_readout_accuracies(state, input_covariance(controls), (ridge,), data.test_images,
                                                data.test_labels)[0]
    left, right = st.columns([1, 4])
    left.metric("Whole-input read-out", f"{accuracy:.2%}")
    right.caption(f"The logits regressed on the whole stimulus x = {controls.ratio:g}·image + "
                  f"{1 - controls.ratio:g}·noise, (Σ_x + λ·s·I)⁻¹·Cov(x, logits), where Σ_x = r²·Cov(images) + "
                  "(1 − r)²·Σ_noise: the network's best linear approximation over stimuli that hold real images, "
                  "not over noise alone, so it reads images as the network does much more closely. Here the "
                  "images in the stimuli are the test images it is scored on (their labels are never used, only "
                  "the network's answers), so the figure is in-sample; `bench/science.py` measures it with "
                  "training images in the stimuli.")


kernels()
