"""Classification images: what the model's decisions add to the noise, class by class."""

import functools
import io
import json
import time

import numpy as np
import streamlit as st

from core import analysis, plots, plots_live
from core.analysis import GRADIENT_ESTIMATORS
from core.link import Controls
from core.picture import Picture, picture, picture_caption, png_title
from core.plots import titled_png
from core.runs import command_line, csv_zip, settings_line
from ui import controls as ui_controls, live, resources
from ui.frame import command_line_note, draw_chart, on_a_phone, start_page, wide_picture

CHARTS_EVERY = 2.0  # seconds between redraws of the bias and convergence charts while a run grows

dataset_name, arch = start_page("Classification images")
data = resources.data_or_stop(dataset_name)
model, meta = resources.model_or_stop(arch, dataset_name)
names = resources.class_names(dataset_name)


def class_picture(state, controls: Controls) -> tuple[analysis.ClassImages, Picture]:
    """The ten class images for the chosen grouping and their picture: averages, kernels or z-scores."""
    images = analysis.class_images(state, controls.estimator, controls.part)
    return images, picture(state, images, controls.shows_z_scores, names)


def draw_picture(shown: Picture, n: int, total: int, slot: live.Slot, draw: int = 0, partial: bool = False) -> None:
    """``shown`` (made from ``n`` of ``total`` stimuli) in ``slot``, in place of the picture before (``draw``
    numbers the redraws of one page run, so each Plotly figure has a key of its own).

    A partial picture is light HTML (``plots_live.picture_html``: a few milliseconds on the server, a synchronous
    decode in the browser, "n of N stimuli" under it); the final picture is the Plotly figure, whose pixels tell
    their values on hover."""
    if partial:
        slot.draw("html", plots_live.picture_html(shown, n, total, phone=on_a_phone()))
    else:
        slot.draw("plotly_chart", shown.figure(phone=on_a_phone()), key=f"ci-{draw}", config={"displaylogo": False},
                  alt=shown.alt())


@st.fragment
def explorer() -> None:
    # At live sizes the widgets are redrawn after the run (ui.controls.controls_drawn_after): the first picture and
    # the network's pass do not wait for the browser to re-render them.
    with ui_controls.controls_drawn_after(lambda controls: controls.n <= live.LIVE_N) as controls:
        _explore(controls)


def _explore(controls: Controls) -> None:
    """The page below the controls: the picture, growing with the run, its charts, examples and downloads."""
    complete = live.stored_stimuli(arch, dataset_name, meta["sha256"], controls) >= controls.n
    stopped, stop = live.stop_or_continue(
        controls, complete, "Large N: Stop keeps what was computed; moving a control changes course, and work "
        "done so far is reused when you come back.")
    # One path for every N: the picture is drawn from the first chunk of stimuli on and redrawn in place as the
    # sums grow, the charts under it follow; the old picture stays until the new one replaces it.
    progress = st.empty()
    # Slots keep the old picture, caption and charts on screen until new ones replace them. The browser test and
    # bench/dashboard.py find the picture by its container's key.
    target, caption = live.Slot(wide_picture()), live.Slot(st.container())
    left, right = st.columns(2)
    left.header("Class bias")
    bias = live.Slot(left.container())
    left.caption("How often the model called a stimulus each class."
                 + (" Pure noise often goes mostly to one or two classes: the model's default guesses."
                    if controls.ratio == 0 else ""))
    right.header("Convergence")
    curve = live.Slot(right.container())
    right.caption("Correlation of the class images after n stimuli with the current ones. The last point is 1 by "
                  "construction, and even pure noise would give √(n/N), 0.71 at half way (the early sums are part "
                  "of the late ones), so read the slope: a curve already flat and above 0.9 well before the end "
                  "means more stimuli will change the picture little.")
    draws, charts_drawn, first_partial = iter(range(1_000_000)), [time.perf_counter()], []

    def charts(state, final: bool) -> None:
        """The bias and convergence charts: Plotly with the final picture; while the run grows, light HTML every
        CHARTS_EVERY seconds, the first not with the first partial picture (a Plotly figure redrawn there cost a
        slow machine's browser about a second of the network's CPU per change) but with the second when the rest
        of the run, at its speed between the two, takes longer than CHARTS_EVERY: the previous settings' charts
        stood unmarked under a new picture for two seconds (a review). A short run gets only its final charts."""
        now = time.perf_counter()
        early = False
        if not final and not first_partial:
            first_partial.append((now, state.n))
        elif not final and len(first_partial) == 1:
            (then, done) = first_partial[0]
            first_partial.append((now, state.n))
            speed = (state.n - done) / max(now - then, 1e-9)
            early = (controls.n - state.n) / max(speed, 1e-9) > CHARTS_EVERY
        if final or now - charts_drawn[0] >= CHARTS_EVERY or early:
            charts_drawn[0] = now
            counts, correlations = analysis.convergence(state, controls.estimator, controls.part)
            if not final:
                bias.draw("html", plots_live.bias_html(state.class_bias, names, state.n))
                curve.draw("html", plots_live.convergence_html(counts, correlations))
                return
            number = next(draws)
            bias.draw("plotly_chart", plots.bias_bar(state.class_bias, names, state.n), key=f"bias-{number}")
            curve.draw("plotly_chart", plots.convergence_figure(counts, correlations), key=f"convergence-{number}")

    captioned = [False]

    def draw(state, final: bool = False, drawn: tuple | None = None) -> tuple[analysis.ClassImages, Picture]:
        """The picture: light HTML while the run grows, the Plotly figure at the end, and its caption with the
        first and the final picture (the HTML says how far the run is; one message per partial picture).
        ``drawn``: the class images and picture of ``state`` when they are already made."""
        drawn = drawn or class_picture(state, controls)
        draw_picture(drawn[1], state.n, controls.n, target, next(draws), partial=not final)
        if final or not captioned[0]:
            caption.draw("caption", picture_caption(state.n if final else None, drawn[1], controls))
            captioned[0] = True
        return drawn

    # Ground-truth images need no model: their final picture is drawn before the model runs (the model's run adds
    # the charts, which need its answers), so it is not drawn again. Its light HTML comes first: on a slow machine
    # the Plotly figure takes the browser about half a second more.
    preview = live.ground_truth_preview(arch, dataset_name, meta["sha256"], controls, on_partial=draw)
    if preview is not None:
        draw(preview, final=True, drawn=draw(preview))

    def partial(state) -> None:
        if preview is None:
            draw(state)
        charts(state, final=False)

    # Below the charts, blank during a long run: the previous settings' examples and downloads are not this run's.
    below = live.Results(blank=not stopped and live.runs_long(arch, dataset_name, meta["sha256"], controls))
    # The partial pictures say how far the run is; with a preview (already final) a progress bar does.
    engine, state = live.run_analysis(arch, dataset_name, meta["sha256"], controls,
                                      progress if preview is not None else None, on_partial=partial,
                                      stopped=stopped)
    if stop is not None:
        stop.empty()
    if state.n < controls.n:  # in the progress bar's place, under Continue: a continued run clears it at once
        progress.info(f"Stopped at {state.n:,} of {controls.n:,} stimuli. Press Continue to go on.")
    if preview is not None and state.n == preview.n:
        images, shown = class_picture(state, controls)
    else:  # the complete picture at once, as light as the partial ones; then its Plotly figure, for the hover
        images, shown = draw(state, final=True, drawn=draw(state))
    charts(state, final=True)
    with below.container():
        _below_the_charts(state, controls, images, shown, engine.mean_image)


def _below_the_charts(state, controls: Controls, images: analysis.ClassImages, shown: Picture,
                      mean_image: np.ndarray) -> None:
    """The whitened kernel (gradient grouping), the first stimuli of the stream and the downloads."""
    if controls.estimator in GRADIENT_ESTIMATORS:
        whitened_kernel(state)

    st.header("Example stimuli")
    examples = live.example_stimuli(dataset_name, controls)
    numbers = [f"#{i + 1}" for i in range(len(examples))]
    draw_chart(plots.stimuli_strip(examples, numbers, phone=on_a_phone()), key="strip",
               alt=plots.strip_alt(numbers))
    st.caption(f"The first stimuli of this stream: {controls.ratio:g} · test image + "
               f"{1 - controls.ratio:.3g} · {controls.noise} noise, on the model's 0–1 input scale.")  # as Home
    # and the Lesson write it (0.7 · test image), not "0.70 × test image" (a review)

    st.header("Downloads")
    download_buttons(images, shown, state, controls, mean_image)


def whitened_kernel(state) -> None:
    """E[∂ logit/∂noise]: the gradient kernel with the noise's own correlations taken out."""
    st.header("Whitened kernel: E[∇ logit]")
    whitened = analysis.gradient_kernel(state, whitened=True)
    shown = picture(state, whitened, False, names)
    draw_chart(shown.figure(phone=on_a_phone()), key="whitened", config={"displaylogo": False},
               alt=shown.alt())
    st.caption("The average gradient of each class's centred logit with respect to the noise: how much the logit "
               "moves per unit of noise in each pixel, with the noise's correlations taken out. The picture above is "
               "this times the noise's covariance Σ (Stein's lemma), which is what the black-box regression kernel "
               "measures: for gaussian and base noise (white before their clipping: Σ = σ²·I) the two differ only by "
               "the factor σ², for pink and data noise Σ "
               "blurs this picture into the one above, in the noise's own shapes.")


def download_buttons(images, shown: Picture, state, controls: Controls, mean_image: np.ndarray) -> None:
    """PNG, NPZ and CSV of what is on screen, made when a button is pressed.

    Building them with the page (fed-back matrix, template classifier, compression, PNG) took about 0.1 s of
    every redraw, on the CPU the browser needs to draw the new picture. Streamlit runs a callable ``data`` in its
    own thread on the click; ``on_click="ignore"`` keeps that click from rerunning the page.
    """
    record = controls.record(arch, dataset_name, state.n, images.part)
    stem = controls.file_stem(arch, dataset_name, state.n, images.part)  # the gradient kernel's is the noise

    @functools.cache
    def matrices() -> tuple[np.ndarray, np.ndarray]:
        fed_back = analysis.fed_back_matrix(model, images)
        template = analysis.template_classify(images, data.test_images, data.test_labels, mean_image).confusion
        return fed_back, template

    def npz() -> bytes:
        fed_back, template_confusion = matrices()
        buffer = io.BytesIO()
        # At r = 0 no test image is in the stimuli: there is no true class, so no stimulus confusion either.
        extra = {"stimulus_confusion": state.sums.confusion} if controls.ratio > 0 else {}
        if controls.estimator in GRADIENT_ESTIMATORS:  # the second grid the page draws (the CLI's gradient_whitened)
            extra["gradient_whitened"] = analysis.gradient_kernel(state, whitened=True).images.astype(np.float32)
        np.savez_compressed(buffer, class_images=images.images.astype(np.float32),
                            shown=shown.values.astype(np.float32), weights=images.weights, fed_back=fed_back,
                            template_confusion=template_confusion,
                            class_bias=state.class_bias, **extra,
                            # What made these arrays, as the command line's summary.json records it (a string: no
                            # pickle needed to read it back)
                            settings=np.array(json.dumps({**record, "model_sha256": meta["sha256"],
                                                          "model_origin": meta.get("origin")})))
        return buffer.getvalue()

    def csvs() -> bytes:  # the command line's files
        return csv_zip(analysis.matrices_csvs(names, state, *matrices()))

    def png() -> bytes:  # titled with its settings, as the command line's class_images.png is
        return titled_png(shown.png(), png_title(settings_line(record), images.estimator, controls.shows_z_scores))

    a, b, c = st.columns(3)
    a.download_button("PNG of the grid", png, f"{stem}.png", "image/png", key="png", on_click="ignore")
    b.download_button("NPZ of the arrays", npz, f"{stem}.npz", "application/octet-stream", key="npz",
                      on_click="ignore")
    c.download_button("CSVs of the matrices (ZIP)", csvs, f"{stem}-matrices.zip", "application/zip", key="csv",
                      on_click="ignore")
    command_line_note(command_line("analyze", record, f"runs/{stem}", z_scores=controls.shows_z_scores))


explorer()
