"""Significance: which class images, and which of their pixels, differ from what random responses draw."""

import numpy as np
import streamlit as st

from core import analysis, plots_significance, readout, reverse_correlation, significance
from core.link import PARAMS, Controls, link_text
from core.picture import Z_LEAST_LIMIT, panel_titles, scarce_classes
from core.plots_alt import figure_alt
from core.runs import command_line, settings_line
from ui import controls as ui_controls, live, resources
from ui.frame import command_line_note, draw_chart, on_a_phone, start_page

dataset_name, arch = start_page("Significance", in_short=(
    "chance alone draws patterns in class images. These tests ask, for each class image and each pixel, whether "
    "its pattern is stronger than random answers would make it: outlined regions are the ones chance does not "
    "explain."))
data = resources.data_or_stop(dataset_name)
model, meta = resources.model_or_stop(arch, dataset_name)
names = resources.class_names(dataset_name)


def use_the_noise_part() -> None:
    st.session_state.update(part="noise")


def use_the_models_answers_on_pure_noise() -> None:
    """Pure noise, softmax-weighted (Borji & Lin's answer grouping, every class given weight): the noise part alone
    grouped by the ground truth is independent of the label, so the tests would find only false alarms (a review
    followed the plain switch there and found nothing)."""
    st.session_state.update(part="noise", estimator="softmax", r=0.0)


def covariance_of(controls) -> readout.NoiseCovariance:
    """Σ of the noise (the Whitened kernels page's, shared), measured with a progress bar the first time."""
    sigma = controls.settings.noise.sigma
    if readout.covariance_is_ready(controls.noise, sigma, data.train_images):
        return readout.noise_covariance(controls.noise, sigma, data.train_images)
    bar = st.progress(0.0, text="measuring the noise covariance (once per noise type and σ on this server)…")
    covariance = readout.noise_covariance(controls.noise, sigma, data.train_images,
                                          on_progress=lambda done: bar.progress(done))
    bar.empty()
    return covariance


def method_note(thresholds: significance.Thresholds, noise: str) -> str:
    t = thresholds
    if t.method == "simulation":
        how = (f"**{noise}** noise has correlated pixels, for which random field theory does not hold on a 28 × 28 "
               f"image (its pixel threshold, |z| > {t.field_theory:.2f}, would find too little, its cluster size "
               f"too much), so both thresholds were simulated: 10,000 Gaussian null maps with this noise's own "
               f"pixel correlations, smoothed the same way.")
    else:
        fwhm = f"FWHM = {significance.fwhm(t.smoothing):.2f} pixels"
        pixel = (f"The pixel threshold is random field theory's for a smooth Gaussian field on the 28 × 28 image "
                 f"({fwhm}; Bonferroni's {t.bonferroni:.2f} would be stricter)" if t.pixel == t.field_theory else
                 f"The pixel threshold is Bonferroni's, lower here than random field theory's {t.field_theory:.2f} "
                 f"for a smooth Gaussian field ({fwhm})")  # the rule and its two numbers repeated the one used
        how = f"{pixel}; the cluster size is random field theory's too (Friston et al., 1994)."
    return (f"**Pixel test:** |z| > **{t.pixel:.2f}**. **Cluster test:** at least **{t.cluster_size} pixels** "
            f"beyond |z| = {t.primary:g}. Both at p = 0.05 family-wise per image, two-sided. {how}")


@st.fragment
def tests() -> None:
    controls = ui_controls.analysis_controls(show_display=False, explains_full_signal=True)
    left, right = ui_controls.control_row("tests", 2)
    smoothing = left.select_slider(
        "Smoothing σ (pixels)", significance.SMOOTHING_CHOICES, value=PARAMS["smooth"].default, key="smooth",
        bind="query-params", format_func=link_text,
        help="σ of the Gaussian that smooths each z-map before the tests. Larger σ finds broad regions and "
             "misses fine ones; it also lowers the thresholds (fewer independent regions to test).")
    primary = right.select_slider(
        "Cluster-forming threshold |z|", significance.PRIMARY_CHOICES, value=PARAMS["primary"].default,
        key="primary", bind="query-params", format_func=link_text,
        help="The cluster test looks at connected regions beyond ±this z. Lower: larger, weaker regions "
             "(which then must be larger to count). 2.7 as in Stat4Ci.")
    if controls.part != "noise":
        st.info("The tests compare the **noise** class images with those that random responses would give; "
                "whole-input averages contain the test images themselves, whose spread is not the noise's. "
                "Switch *Averaged part* to the noise part.")
        if controls.estimator in analysis.MODEL_FREE_ESTIMATORS:
            st.button("Switch to pure noise grouped by the model's answers (r = 0, softmax, noise part)",
                      on_click=use_the_models_answers_on_pure_noise, key="use_noise")
        else:
            st.button("Switch to the noise part", on_click=use_the_noise_part, key="use_noise")
        return
    if controls.ratio >= 1.0:
        st.warning("At r = 1 no noise reaches the model: the noise class images carry nothing to test. Lower r.")
        return
    if controls.estimator not in significance.TESTABLE_ESTIMATORS:
        st.info(f"The tests need class images that are weighted sums of the noise: choose one of "
                f"{', '.join(significance.TESTABLE_ESTIMATORS)} as the *Grouping*.")
        return
    progress = live.progress_bar(controls)
    # blank during a long run: the previous settings' results and downloads are not this run's
    results = live.Results(blank=live.runs_long(arch, dataset_name, meta["sha256"], controls))
    _, state = live.run_analysis(arch, dataset_name, meta["sha256"], controls, progress)
    with results.container():
        significance_results(controls, state, smoothing, primary)


def significance_results(controls: Controls, state: reverse_correlation.AnalysisState, smoothing: float,
                         primary: float) -> None:
    """The class images with their significant regions, the smoothed z-maps, infoVal, and the downloads."""
    images = analysis.class_images(state, controls.estimator, "noise")
    covariance = covariance_of(controls)
    with st.spinner("Finding the thresholds (simulated once per noise, σ and threshold on this server)…"):
        regions = significance.significant_regions(state, images, controls.noise, covariance.covariance,
                                                   smoothing, primary)
    info = significance.info_values(state, images, covariance.eigenvalues, names)
    pixel_counts, cluster_counts = regions.counts()
    titles = panel_titles(names, images)

    outlined = plots_significance.outlined_pixels_text(names, pixel_counts, cluster_counts)
    st.header("Where the class images differ from chance")
    scarce = scarce_classes(images)  # faded, as on the Classification images page
    figure = plots_significance.significance_figure(
        images.display, titles, images.display_unit, regions.pixel, regions.cluster,
        weights=images.weights if images.marks_scarce else None, phone=on_a_phone(), faded=scarce)
    draw_chart(figure, key="regions", alt=f"{figure_alt(figure)} {outlined}")
    truth_note = (" Grouped by the ground truth, the noise is independent of the label, so every region found "
                  "here is a false alarm: a built-in check (each test alone in about 1 image in 20, so one or two "
                  "of the ten may show one)."
                  if controls.estimator == "truth" else "")
    st.caption(f"The {state.n:,} stimuli's noise class images, as on the *Classification images* page (number in "
               f"brackets: {analysis.ESTIMATORS[controls.estimator].weight_unit}). "
               "**Solid black** outlines pixels whose smoothed z-score passes the pixel test; **dotted green** "
               "outlines clusters that pass the cluster test. Both control the chance of *any* false region "
               "in an image at 5 %: what is outlined is unlikely to be noise, what is not may still be real but "
               f"too weak for {state.n:,} stimuli.{truth_note}"
               + (" Panels marked *too few* (faded) rest on very few stimuli." if scarce.any() else ""))
    st.markdown(method_note(regions.thresholds, controls.noise))

    st.header("Smoothed z-maps")
    figure = plots_significance.significance_figure(
        regions.smoothed, titles, "smoothed z", regions.pixel, regions.cluster, least_limit=Z_LEAST_LIMIT,
        phone=on_a_phone(), faded=scarce)
    draw_chart(figure, key="z_maps", alt=f"{figure_alt(figure)} {outlined}")
    pixels = "pixel" if smoothing == 1 else "pixels"
    st.caption(f"What the tests look at: each z-map (how many standard errors a pixel lies from the mean "
               f"stimulus) smoothed with a Gaussian of σ = {smoothing:g} {pixels} and scaled back to unit variance "
               f"under the null, pixel by pixel (less weight reaches the border; correlated noise adds variance). "
               f"Red = brighter than the mean stimulus, blue = darker."
               + (" Panels marked *too few* are faded, as above." if scarce.any() else ""))

    st.header("infoVal: is each class image more than chance?")
    draw_chart(plots_significance.info_value_figure(info, phone=on_a_phone()), key="infoval")
    numbers = info.table().assign(pixel_test_pixels=list(pixel_counts) + [int(pixel_counts.sum())],
                                  cluster_test_pixels=list(cluster_counts) + [int(cluster_counts.sum())])
    shown = numbers.copy()  # the CSV keeps the numbers (a review found "47.74" where the JSON has 47.7371…)
    # A class no stimulus went to has no image, so no infoVal: the table said "None" (a class review)
    shown["infoVal"] = [f"{value:.2f}" if np.isfinite(value) else "— (no stimuli)" for value in shown["infoVal"]]
    # Under the chart at the page's width (beside it, the columns were cut off); the CSV keeps the plain names.
    st.dataframe(shown[["class image", "infoVal", "pixel_test_pixels", "cluster_test_pixels"]], hide_index=True,
                 height="content", column_config={
                     "infoVal": st.column_config.TextColumn("infoVal (z)"),
                     # short on a phone: the long headers made the table scroll sideways, its last column unseen
                     "pixel_test_pixels": st.column_config.NumberColumn(
                         "pixel test" if on_a_phone() else "pixels passing the pixel test (of 784 per image)",
                         help="pixels passing the pixel test", format="localized"),
                     "cluster_test_pixels": st.column_config.NumberColumn(
                         "clusters" if on_a_phone() else "pixels in significant clusters (of 784 per image)",
                         help="pixels in significant clusters", format="localized")})
    if not significance.set_reference_kept(state, controls.estimator):
        set_note = (" The set's value needs the classes' cross products of the weights, which this run (made "
                    "before they were kept) lacks: it is left out.")
    elif controls.estimator in ("softmax", "regression"):
        set_note = (f" For the set (*all classes*) the {controls.estimator} weights of one stimulus couple the "
                    f"ten images, so its reference takes the classes' cross products of the weights into account "
                    f"(Σ over the stimuli of w_c·w_k, kept by the run).")
    else:
        set_note = ""
    if np.isfinite(info.values[-1]) and not info.significant[-1] and info.significant[:-1].any():
        set_note += (" The set's bar pools the ten images' norms, and an image made from few stimuli has a large "
                     "norm by chance alone, so a few small classes can hide the ones that stand out: read the "
                     "classes one by one.")
    st.caption(f"infoVal asks whether a class image is stronger overall than ones made from random answers: "
               f"about 0 is what random answers give, above 1.96 (the dashed line) it is more than chance. As in "
               f"rcicr (an R package for reverse correlation), infoVal = (‖CI‖ − median of the reference) / "
               f"(1.4826 × its MAD, the median absolute deviation): the norm of a class "
               f"image measured against class images made from the same number of stimuli with random responses "
               f"(the same class counts or weights). The reference is computed, not simulated: such an image is "
               f"a weighted sum of the noise, so its squared norm follows a generalised chi-square law fixed by "
               f"the noise's covariance Σ ({covariance.how}). A bar past the dashed line (1.96, rcicr's threshold: "
               f"one-sided p ≈ 0.025 if the law were normal) marks an image more informative than chance; a bar near "
               f"0, one like those random answers give.{set_note}")

    st.header("Downloads")
    stem = f"{controls.file_stem(arch, dataset_name, state.n, 'noise')}-smooth{smoothing:g}-primary{primary:g}"
    a, b, c = st.columns(3)
    a.download_button("CSV of infoVal and counts", numbers.to_csv(index=False, lineterminator="\n"),
                      f"{stem}-infoval.csv", "text/csv", key="csv_infoval", on_click="ignore")
    b.download_button("CSV of the maps", lambda: significance.regions_table(regions, names).to_csv(
        index=False, float_format="%.4f", lineterminator="\n"), f"{stem}-maps.csv", "text/csv", key="csv_maps",
        on_click="ignore")
    title = (f"{settings_line(controls.record(arch, dataset_name, state.n, images.part))}; smoothing "
             f"{smoothing:g} px, primary |z| {primary:g}")  # as the command line's significance.png
    c.download_button("PNG of the outlined images", lambda: plots_significance.significance_png(
        images.display, titles, images.display_unit, regions.pixel, regions.cluster,
        weights=images.weights if images.marks_scarce else None, title=title, faded=scarce_classes(images)),
        f"{stem}.png", "image/png", key="png", on_click="ignore")
    command_line_note(command_line("analyze", controls.record(arch, dataset_name, state.n, images.part),
                                   f"runs/{stem}", smooth=smoothing, primary=primary))


tests()
