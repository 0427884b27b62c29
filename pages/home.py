"""Home: what white-noise analysis is, and the original study's figures in one click."""

import numpy as np
import streamlit as st

from core import analysis, plots
from core.config import DATASET_TITLES
from core.link import default_controls, link_text
from core.models import ARCHITECTURES
from core.picture import picture
from ui import live, resources
from ui.frame import draw_chart, halves, on_a_phone, start_page

ORIGINAL = default_controls(n=1_000, ratio=0.7, noise="uniform", estimator="truth", part="input", seed=0)
# The link's values for step 2 of the walkthrough: the same noise stream, now alone and grouped by the model.
TAKE_THE_SIGNAL_AWAY = {"r": 0.0, "estimator": "predicted", "part": "noise", "n": 10_000, "noise": "uniform",
                        "seed": 0, "z": False}

dataset_name, arch = start_page("🔍 Noise Lens")
st.markdown("**What does a convolutional network *see* in white noise?**")  # a line, not a heading under the h1
data = resources.data_or_stop(dataset_name)

text, illustration = st.columns([3, 2])
with text:
    st.markdown(
        "Psychophysicists have long asked people to find a letter in pure noise, then **averaged the noise "
        "trials by the answer given**. The averages, called *classification images* (class images for short), "
        "show the template the observer was matching against (reverse correlation).\n\n"
        "The same trick works on a neural network. The original study fed 1,000 images of "
        "`0.7 · test image + 0.3 · uniform noise` to an AlexNet-style and a LeNet-style network, averaged them "
        "per class, and fed the ten averages back to the network. Borji & Lin (*White Noise Analysis of Neural "
        "Networks*, ICLR 2020) went further: they showed the model **pure noise**, grouped it by the model's own "
        "answer, and used the ten averages as templates to classify the real test images.\n\n"
        "New to this? Start with the **Lesson**: six short steps, each asking you to predict before it shows. "
        "Otherwise use the sidebar to choose the dataset and the network, then one of the pages listed there: "
        "**Classification images** (move the N slider and watch them sharpen), **Confusion heatmaps**, "
        "**Compare** (all four models at once) and **Models** (train your own).")
with illustration:
    first_noise = live.example_stimuli(dataset_name, default_controls(ratio=0.0, noise="uniform", seed=0), 1)[0]
    mixed = live.example_stimuli(dataset_name, ORIGINAL, 1)[0]  # the first stimulus of the original figure
    strip = np.stack([data.test_images[0] / 255.0, first_noise, mixed])
    strip_titles = ["test image", "uniform noise", "r = 0.7 mix"]
    draw_chart(plots.stimuli_strip(strip, strip_titles, phone=on_a_phone()), key="explain",
               alt=plots.strip_alt(strip_titles))
    st.caption("One stimulus of the original study: 70 % test image, 30 % uniform noise. With r = 0 the model "
               "sees only the noise.")

st.divider()
st.header("Reproduce the original figures")
st.caption(f"1,000 stimuli at r = 0.7 with uniform noise, grouped by the test image's true class, for the "
           f"{ARCHITECTURES[arch].title} network on {DATASET_TITLES[dataset_name]}.")
# A callback, not the button's return value: the request survives any rerun before the page draws it.
st.button("Reproduce in one click", type="primary", key="reproduce",
          on_click=lambda: st.session_state.update(reproduced=True))
if st.session_state.get("reproduced"):
    model, meta = resources.model_or_stop(arch, dataset_name)
    with st.spinner("Showing 1,000 stimuli to the model…"):
        _, state = live.run_analysis(arch, dataset_name, meta["sha256"], ORIGINAL)
    images = analysis.class_images(state, "truth", "input")
    names = resources.class_names(dataset_name)
    left, right = halves("original")
    with left:
        shown = picture(state, images, ORIGINAL.shows_z_scores, names, counts=False)
        draw_chart(shown.figure(height=plots.HALF_WIDTH_GRID, phone=on_a_phone()), key="orig-ci",
                   alt=shown.alt())
        st.caption("The ten averaged stimuli. The noise averages out; the class shape remains.")
    with right:
        fed_back = analysis.fed_back_matrix(model, images)
        draw_chart(plots.probability_heatmap(fed_back, names, names, "class image", "predicted class",
                                             narrow=True), key="orig-fb",
                   alt=plots.matrix_alt(fed_back, names, names, "class image", "predicted class"))
        st.caption(f"The original 10 × 10 figure: the model's softmax on each averaged image (rows). "
                   f"{analysis.self_classified(fed_back)}/10 are recognised as their own class.")
    # Short enough for a phone's line ("…: open Classification images at r = 0" ended in an ellipsis there)
    st.page_link("pages/class_images.py", label="Now take the signal away (r = 0)",
                 help="Opens Classification images with pure noise: r = 0, grouped by the model's answer.",
                 icon="➡️", query_params={key: link_text(value) for key, value in TAKE_THE_SIGNAL_AWAY.items()})
