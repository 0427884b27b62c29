"""Confusion heatmaps: the original study's fed-back matrix, the stimuli's confusion, the template classifier."""

import streamlit as st

from core import analysis, plots, reverse_correlation
from core.link import Controls
from core.runs import command_line, csv_zip
from ui import controls as ui_controls, live, resources
from ui.frame import command_line_note, draw_chart, on_a_phone, start_page

dataset_name, arch = start_page("Confusion heatmaps")
data = resources.data_or_stop(dataset_name)
model, meta = resources.model_or_stop(arch, dataset_name)
names = resources.class_names(dataset_name)


def fed_back_heatmap(images: analysis.ClassImages) -> None:
    """The original's figure: the class images shown back to the model."""
    st.header("Fed-back softmax matrix (the original study's figure)")
    fed_back = analysis.fed_back_matrix(model, images)
    draw_chart(plots.probability_heatmap(fed_back, names, names, "class image", "predicted class",
                                         phone=on_a_phone()), key="fed_back",
               alt=plots.matrix_alt(fed_back, names, names, "class image", "predicted class"))
    st.caption(f"Each row is one class image, stretched to the 0–1 input range and shown back to the model; "
               f"the cells are the model's softmax. A dark diagonal (probabilities near 1) means the model "
               f"recognises its own classification images: **{analysis.self_classified(fed_back)}/10** here."
               + (" Empty rows: classes the model never predicted." if images.empty.any() else "")
               + plots.tie_note(fed_back))


@st.fragment
def heatmaps() -> None:
    # At live sizes the widgets are redrawn after the run (ui.controls.controls_drawn_after).
    with ui_controls.controls_drawn_after(lambda controls: controls.n <= live.LIVE_N, show_display=False) as controls:
        _heatmaps(controls)


def _heatmaps(controls: Controls) -> None:
    """The fed-back matrix, then the stimuli's and the test set's confusion matrices."""
    progress = st.empty()  # "n of N stimuli" while the run takes a while, at any N
    # Ground-truth class images need no model: their fed-back matrix (ten images through it) comes first.
    preview = live.ground_truth_preview(arch, dataset_name, meta["sha256"], controls)
    # Its place is there, blank, without a preview too: the results' container moved up into it kept the preview's
    # matrix on screen, greyed, for the whole of a long run.
    early = st.container() if preview is not None else st.empty()
    if preview is not None:
        with early:
            fed_back_heatmap(analysis.class_images(preview, controls.estimator, controls.part))
    # blank during a long run: the previous settings' matrices and command are not this run's
    results = live.Results(blank=live.runs_long(arch, dataset_name, meta["sha256"], controls))
    engine, state = live.run_analysis(arch, dataset_name, meta["sha256"], controls, progress)
    with results.container():
        _matrices(controls, engine, state, fed_back=preview is None)


def _matrices(controls: Controls, engine: reverse_correlation.Analyzer, state: reverse_correlation.AnalysisState,
              fed_back: bool) -> None:
    """The fed-back matrix (unless drawn before the run), the stimuli's and the test set's confusion matrices."""
    images = analysis.class_images(state, controls.estimator, controls.part)
    if fed_back:
        fed_back_heatmap(images)

    # One under the other at the column's full width: side by side their cell numbers were ~5 px high.
    st.header("Stimuli: true class × predicted")
    if state.stimulus_accuracy is not None:
        accuracy = state.stimulus_accuracy
        draw_chart(plots.confusion_heatmap(state.sums.confusion, names, phone=on_a_phone()), key="stimuli")
        st.caption(f"Rows: the true class of the test image mixed into the stimulus; columns: the model's answer "
                   f"(each row adds up to 1). At r = {controls.ratio:.2f} the model is right on **{accuracy:.1%}** of "
                   f"{state.n:,} stimuli.")
    else:
        st.info("At r = 0 the stimuli contain no test image, so there is no true class to compare with. "
                "Raise r to see how noise confuses the model.")
    st.header("Template classifier: test set")
    template = analysis.template_classify(images, data.test_images, data.test_labels, engine.mean_image)
    draw_chart(plots.confusion_heatmap(template.confusion, names, column_title="template class",
                                       phone=on_a_phone()), key="template")
    st.caption(f"Each of the 10,000 real test images is given the class whose classification image it "
               f"resembles most (cosine similarity after centring). Accuracy **{template.accuracy:.2%}** "
               f"({analysis.template_accuracy_context(controls.ratio, images.estimator, images.part)}): "
               + ("with ground-truth grouping the class images are averages by the true label, made without the "
                  "model, so this measures the data's class averages, not the model; group by its answers to see "
                  "how much of its knowledge they capture." if controls.estimator in analysis.MODEL_FREE_ESTIMATORS
                  else "how much of the model's knowledge the class images capture."))
    record = controls.record(arch, dataset_name, state.n, images.part)
    stem = f"confusion-{controls.file_stem(arch, dataset_name, state.n, images.part)}"

    def csvs() -> bytes:  # made on the click, in Streamlit's thread: the page's redraw does not wait for it
        fed_back = analysis.fed_back_matrix(model, images)
        return csv_zip(analysis.matrices_csvs(names, state, fed_back, template.confusion))

    st.download_button("CSVs of the matrices (ZIP)", csvs, f"{stem}.zip", "application/zip", key="csv",
                       on_click="ignore", help="The command line's files: fed_back.csv, stimulus_confusion.csv "
                       "(r > 0: counts, the mixed-in test image's class × the model's answer) and "
                       "template_confusion.csv (counts)")
    command_line_note(command_line("analyze", record, f"runs/{stem}"))


heatmaps()
