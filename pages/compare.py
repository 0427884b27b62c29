"""Compare: both architectures × both datasets under the same settings, as in the original README."""

import streamlit as st

from core import analysis, plots
from core.config import DATASET_TITLES, DATASETS
from core.link import Controls
from core.models import ARCHITECTURES, SHIPPED_ARCHITECTURES
from core.picture import picture
from core.runs import command_line
from ui import controls as ui_controls, live, resources
from ui.frame import command_line_note, draw_chart, halves, on_a_phone, start_page

start_page("Compare architectures and datasets")
st.caption("The same noise stream, seed and grouping for all four models (the sidebar's choice does not apply "
           "here). At r = 0 with uniform, gaussian or pink noise all four see exactly the same stimuli, so the "
           "differences come from the networks and the data they learned; at r > 0 each dataset mixes in its own "
           "test images (and base and data noise follow each dataset's images). A blank panel is a class the model "
           "never predicted; a * marks a class with under 1 % of the stimuli (of the total probability, for "
           "softmax grouping): mostly noise.")


@st.fragment
def grid() -> None:
    controls = ui_controls.analysis_controls()
    if controls.estimator in analysis.MODEL_FREE_ESTIMATORS:  # the caption's "differences come from the networks"
        st.info("Ground-truth grouping averages the stimuli by the test image's own label, without the network: "
                "both architectures show the same class images on a dataset, and only their fed-back matrices "
                "differ. Group by the network's answers (prediction, softmax, regression) to compare what the "
                "networks look for.")
    statuses = {(arch, dataset_name): resources.model_status(arch, dataset_name)
                for dataset_name in DATASETS for arch in SHIPPED_ARCHITECTURES}
    complete = all(live.stored_stimuli(arch, dataset_name, status.metadata["sha256"], controls) >= controls.n
                   for (arch, dataset_name), status in statuses.items() if status.usable)
    stopped, stop = live.stop_or_continue(
        controls, complete, "Large N: the four models run one after the other, each with its progress bar. Stop "
        "keeps what was computed and shows it; Continue goes on from there.")
    # The commands' place, emptied now: filled after the four runs, the last change's commands stood there, greyed
    # but selectable, for the minutes a large N takes (a reviewer copied `--samples 200` under N = 1,000,000)
    grid_box, command_slot = st.container(), st.empty()
    with grid_box:
        commands = draw_models(controls, statuses, stopped)
    if commands:
        with command_slot.container():
            command_line_note("\n".join(commands))
    if stop is not None:
        stop.empty()


def draw_models(controls: Controls, statuses: dict, stopped: bool) -> list[str]:
    """The four models' class images, fed-back matrices and template accuracies, run one after the other; the
    command of each model drawn."""
    commands = []
    for dataset_name in DATASETS:
        data = resources.data_or_stop(dataset_name)  # a friendly panel, and stop, if this dataset is missing
        names = resources.class_names(dataset_name)
        columns = halves(dataset_name, len(SHIPPED_ARCHITECTURES))
        for column, arch in zip(columns, SHIPPED_ARCHITECTURES):
            with column:
                st.header(f"{ARCHITECTURES[arch].title} · {DATASET_TITLES[dataset_name]}")
                status = statuses[arch, dataset_name]
                if not status.usable:
                    st.info("Not trained yet: train it on the Models page.")
                    continue
                sha256 = status.metadata["sha256"]
                if stopped and live.stored_stimuli(arch, dataset_name, sha256, controls) == 0:
                    st.info("Stopped before this model's run began. Press Continue to go on.")
                    continue
                model = resources.server_model_or_note(arch, dataset_name, sha256)
                if model is None:
                    continue
                progress = st.empty()  # "n of N stimuli" while this model's run takes a while
                engine, state = live.run_analysis(arch, dataset_name, sha256, controls, progress, stopped=stopped)
                images = analysis.class_images(state, controls.estimator, controls.part)
                shown = picture(state, images, controls.shows_z_scores, names, counts=False)
                draw_chart(shown.figure(height=plots.HALF_WIDTH_GRID, phone=on_a_phone()),
                           key=f"ci-{arch}-{dataset_name}", alt=shown.alt())
                fed_back = analysis.fed_back_matrix(model, images)
                draw_chart(plots.probability_heatmap(fed_back, names, names, "class image", "predicted class",
                                                     narrow=True), key=f"fb-{arch}-{dataset_name}",
                           alt=plots.matrix_alt(fed_back, names, names, "class image", "predicted class"))
                stopped_at = "" if state.n >= controls.n else f"Stopped at {state.n:,} of {controls.n:,} stimuli. "
                # the number Lesson step 6 asks about, whose "full page" this is
                template = analysis.template_classify(images, data.test_images, data.test_labels, engine.mean_image)
                st.caption(f"{stopped_at}{analysis.self_classified(fed_back)}/10 class images recognised as their own "
                           f"class; the ten images "
                           f"as templates classify **{template.accuracy:.2%}** of the test set "
                           f"({analysis.template_accuracy_context(controls.ratio, images.estimator, images.part)}); "
                           f"model test accuracy {status.metadata['test_accuracy']:.2%}.")
                stem = controls.file_stem(arch, dataset_name, state.n, images.part)
                commands.append(command_line("analyze", controls.record(arch, dataset_name, state.n, images.part),
                                             f"runs/compare-{stem}", z_scores=controls.shows_z_scores))
    return commands


grid()
