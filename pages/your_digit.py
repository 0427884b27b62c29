"""Your digit: draw (or upload) a digit, see it as MNIST would have made it, and ask the network and the class
images what it is; then mix in noise and blend in a class image until the network changes its mind."""

import hashlib

import numpy as np
import streamlit as st

from core import analysis, digit, plots
from core.attack import blend
from core.config import DATASET_TITLES
from core.link import PARAMS, as_code
from core.models import predict_probabilities
from core.noise import mix, noise_samples
from core.plots_digit import answers_figure, sweep_figure
from ui import controls as ui_controls, live, resources, streamlit_internals
from ui.frame import draw_chart, on_a_phone, start_page
from ui.link_sync import kept_in_session

CANVAS_SIDE = 280  # ten screen pixels per MNIST pixel
ANSWERS_MIN_WIDTH = 420  # pixels: the strip's five titles and the two bar charts side by side need about this
STROKE = 20  # a 2-pixel stroke once fitted into MNIST's 20 × 20 box, like its pen strokes
# MIME types, not extensions: the browser's file picker offers these, and Streamlit does not raise on another name
# (a traceback); core.digit checks what the bytes are, whatever the name says. GIF and WebP, the pictures a browser
# saves, are let through to be named ("This is a GIF image; …"): refused by the widget, they got a red icon with its
# reason on hover, and the page kept its last message (a review). Not more: the widget lists the types under its
# label. Not HEIC: iOS sends a photo as JPEG to a page that does not ask for HEIC (not tried here).
UPLOAD_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"]

dataset_name, arch = start_page("Your digit")
data = resources.data_or_stop(dataset_name)
model, meta = resources.model_or_stop(arch, dataset_name)
names = resources.class_names(dataset_name)
THING = "digit" if dataset_name == "mnist" else "piece of clothing"  # what to draw: Fashion-MNIST has no digits


def drawn_bytes() -> bytes | None:
    """The canvas as PNG bytes (None before the first stroke); without the component, a note and None."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except ImportError:
        st.warning("The drawing canvas (the streamlit-drawable-canvas package) is not installed here: upload a "
                   "picture instead.")
        return None
    # the canvas's hidden toolbar took a stroke begun in the square's top right corner (before a hover)
    st.html(streamlit_internals.CANVAS_TOOLBAR_OUT_OF_THE_WAY, unsafe_allow_javascript=True)
    # A fresh key is a fresh, empty square: the canvas's own Clear sits in a toolbar shown on hover, which a touch
    # screen never shows, so a phone had no way to start again.
    key = f"canvas-{st.session_state.get('canvas_clearings', 0)}"
    if key not in st.session_state:  # a square drawn anew (the upload chosen, or another page opened, since)
        # ... starts with the student's drawing: it was lost on the way back (a review). Handed over once, as the
        # canvas loads it again whenever it changes.
        st.session_state["_canvas_restored"] = st.session_state.get("_your_drawing")
    restored = st.session_state.get("_canvas_restored")
    result = st_canvas(stroke_width=STROKE, stroke_color="#ffffff", background_color="#000000",
                       height=CANVAS_SIDE, width=CANVAS_SIDE, drawing_mode="freedraw", update_streamlit=True,
                       return_image_data=True, initial_drawing=None if restored is None else restored[0], key=key)
    try:  # the canvas's state comes from the browser as a data URL: a hand-made message can be anything
        raw = result.image_bytes
    except (ValueError, TypeError, AttributeError):  # no ";base64,", not base64, not text
        st.error("The drawing did not arrive whole: press *Clear the square* and draw again.")
        return None
    if raw is not None and isinstance(result.json_data, dict):
        st.session_state["_your_drawing"] = (result.json_data, raw)
        return raw
    return None if restored is None else restored[1]  # a restored square sends nothing until the next stroke


def clear_the_square() -> None:
    st.session_state["canvas_clearings"] = st.session_state.get("canvas_clearings", 0) + 1
    for kept in ("_your_drawing", "_canvas_restored"):
        st.session_state.pop(kept, None)


def uploaded_bytes() -> bytes | None:
    """The picture uploaded, or the one uploaded before: the uploader is empty again when it is drawn anew (after
    a drawing, or another page), and the picture was lost (a review)."""
    upload = st.file_uploader(f"A PNG or JPEG picture of one digit (at most {digit.MAX_UPLOAD_MB} MB and "
                              f"{digit.MAX_SIDE:,} pixels a side)", type=UPLOAD_TYPES, key="upload",
                              max_upload_size=digit.MAX_UPLOAD_MB, on_change=forget_a_removed_upload)
    if upload is not None:
        raw = upload.getvalue()  # kept in memory by Streamlit, dropped with the session
        st.session_state["_your_upload"] = (upload.name, raw)
        return raw
    if (kept := st.session_state.get("_your_upload")) is None:
        return None
    name, raw = kept
    shown, forget = st.columns([4, 1], vertical_alignment="center")
    shown.caption(f"Your picture `{as_code(name)}`, uploaded before: upload another to replace it.")
    forget.button("Forget it", key="forget_upload", on_click=forget_a_removed_upload, args=(True,))
    return raw


def forget_a_removed_upload(always: bool = False) -> None:
    """The uploader's × (or *Forget it*) forgets the picture; an uploader drawn anew, empty, does not."""
    if always or st.session_state.get("upload") is None:
        st.session_state.pop("_your_upload", None)


def your_digit() -> np.ndarray | None:
    """The 28 × 28 digit from the canvas or the upload, or None with a message saying why not."""
    # No format_func: the browser writes the option's label into the link, and the link reads values.
    how = st.radio("Your digit: draw it, or upload a picture", ["draw", "upload"], key="digit_input",
                   bind="query-params", horizontal=True,
                   help="The drawing and the picture stay in this browser tab: they are not in the link, not "
                        "written to disk, and gone when the tab closes.")
    raw = drawn_bytes() if how == "draw" else uploaded_bytes()
    if how == "draw":  # under the square: the canvas's toolbar floats over whatever is just above it
        st.button("Clear the square", key="clear_square", on_click=clear_the_square)
        st.caption("With a mouse, the toolbar that appears over the square's top corner undoes and redoes a "
                   "stroke.")  # the box below says how to draw (the two said it twice, a review)
    if raw is None:
        then = (" Then *s* mixes it with noise, and *γ* blends class k's class image into it until the network "
                "changes its mind.")  # the sliders stood there unexplained till a drawing (a review)
        st.info(f"Draw a {THING} in the black square (white ink, mouse or finger), as large as the square allows."
                + then if how == "draw" else f"Upload a picture of a {THING}: dark on light or light on dark." + then)
        return None
    made = digit_from(raw, least_extent=digit.DOT_EXTENT if how == "draw" else 0.0)
    if isinstance(made, digit.DotOnly):  # a click on the square: a blob the network would still read (a review)
        st.info(f"That is only a dot: blown up to a {THING}'s size it would be a blob, which the network would "
                f"still read as some {THING}. Draw a whole {THING}, as large as the square allows.")
    elif isinstance(made, digit.BlankDrawing):
        st.info(f"There is no {THING} yet: draw one (or upload a picture of one)." if how == "draw" else
                f"This picture is one flat shade: there is no {THING} in it. Upload a picture of a {THING}, dark "
                "on light or light on dark.")
    elif isinstance(made, digit.ImageRejected):
        st.error(f"Cannot use this picture. {made}")
    else:
        return made
    return None


def digit_from(raw: bytes, least_extent: float = 0.0) -> np.ndarray | digit.ImageRejected:
    """The 28 × 28 digit made of these bytes, or why not, decoded once per picture: every slider move reran the
    decoding (0.2 s for a 4,000² PNG, and an upload's worst case for each move)."""
    def make() -> np.ndarray | digit.ImageRejected:
        try:
            return digit.mnist_digit(digit.decode_image(raw), least_extent)
        except digit.ImageRejected as why:  # a fresh one: the raised one's traceback holds the frames and the bytes
            return type(why)(str(why))

    return kept_in_session("_decoded_digits", (hashlib.sha256(raw).digest(), least_extent), make)


def mixing_controls() -> tuple[float, int, float]:
    first, second, third = ui_controls.control_row("digit", 3)
    # s, not r: the templates' own signal ratio r is a slider too (in the settings above), and a different thing.
    share = first.slider("Your digit's share s", 0.0, 1.0, PARAMS["digit_r"].default, 0.05, key="digit_r",
                         bind="query-params", help="x = s·your digit + (1 − s)·noise: the first stimulus of the "
                                                   "noise stream set above (noise type, σ, seed). Not the signal "
                                                   "ratio r in the settings above, which says how much of the test "
                                                   "images went into the class images.")
    with second:
        target = ui_controls.whole_number_input("Blend in class k", (0, 9), "target", ui_controls.class_help(
            "The class whose class image γ blends into your digit.", names))
    gamma = third.slider("Fool the network: γ", 0.0, 1.0, PARAMS["digit_gamma"].default, 0.01, key="digit_gamma",
                         bind="query-params", help="x' = (1 − γ)·x + γ·class image of k (stretched to 0–1)")
    return float(share), int(target), float(gamma)


def gamma_sweep(mixed: np.ndarray, template: np.ndarray, target: int) -> digit.FlipSweep:
    """The γ sweep, kept in this session only (it is made from the student's drawing, so never in a server-wide
    cache): moving the γ slider redraws without a new sweep."""
    key = (meta["sha256"], hashlib.sha256(mixed.tobytes() + template.tobytes()).hexdigest(), target)
    return kept_in_session("_digit_sweeps", key, lambda: digit.flip_sweep(model, mixed, template, target))


def class_images_are(estimator: str) -> str:
    """What the templates are, by how they were grouped: only a grouping by the network's answers holds what the
    network looks for; ground-truth averages are the test images' own (no network in them)."""
    if estimator in analysis.MODEL_FREE_ESTIMATORS:
        return ("The class images here are averages of the stimuli grouped by the test images' true labels, made "
                "without the network: where they agree with it, your drawing looks like that class's images. Group "
                "by the network's answers (prediction, softmax, regression) to see what the network looks for")
    return ("The class images come from the network's own answers to the stimuli: where they agree with the "
            "network on your drawing, they hold what the network looks for")


def waiting_for_a_drawing(images: analysis.ClassImages, estimator: str) -> None:
    """Before the first stroke, the ten class images the drawing will be matched against. Besides giving the
    student something to compare with, it loads the browser's Plotly code with the page: loaded at the first
    stroke instead, it held back the first answer by about a second (two to three on a slow machine)."""
    st.markdown(f"**The ten class images your {THING} will be compared with**")
    # two rows of five: in one row of ten Fashion-MNIST's names ("T-shirt/top", "Ankle boot") ran into each other
    draw_chart(plots.stimuli_strip(digit.class_templates(images), names, columns=5, height=260,
                                   phone=on_a_phone()),
               key="templates", alt=plots.strip_alt(names))
    st.caption(f"Each stretched to the 0–1 range. {class_images_are(estimator)} (settings in the box at the top). "
               f"Once you draw, the network's answer and the best-matching class image appear here.")


@st.fragment
def digit_page() -> None:
    settings, notes = st.expander("Settings of the class images (templates) and of the noise used below",
                                  expanded=False), st.container()
    with settings:
        controls = ui_controls.analysis_controls(show_display=False, notes=notes)  # the notes where they are seen
    progress = live.progress_bar(controls)  # its place kept at every N: the blocks below keep theirs
    engine, state = live.run_analysis(arch, dataset_name, meta["sha256"], controls, progress)
    images = analysis.class_images(state, controls.estimator, controls.part)
    # Always a place, filled or not: a note above the square only for Fashion-MNIST moved the square down one place
    # in the page, and the browser drew it anew, empty, while the answer still came from the drawing (a review).
    with st.container():
        if dataset_name != "mnist":
            st.info(f"The model reads {DATASET_TITLES[dataset_name]} ({', '.join(names[:3])}, …): draw one of "
                    f"those, or switch the dataset to {DATASET_TITLES['mnist']} in the sidebar for digits.")

    share, target, gamma = mixing_controls()
    # A row that wraps: the square keeps its full width beside the answers where there is room, and goes above
    # them where there is not (in columns of 1:2 a 1280-pixel laptop with the sidebar open cut off its right edge).
    row = st.container(horizontal=True, gap="medium")
    left, right = row.container(width=CANVAS_SIDE + 20), row.container(width="stretch", key="digit_answers")
    # Streamlit squeezes a stretching child rather than wrapping it: below this width the answers go under (the
    # flex item is the wrapper around the keyed block).
    st.html(f"<style>div:has(> .st-key-digit_answers) {{ min-width: min(100%, {ANSWERS_MIN_WIDTH}px) }}</style>")
    with left:
        drawn = your_digit()
    if drawn is None:
        with right:
            waiting_for_a_drawing(images, controls.estimator)
        return
    noise = noise_samples(controls.settings.noise, 0, 1, data.train_images)[0]
    mixed = mix(drawn, noise, share).astype(np.float32)
    template = digit.class_template(images, target)
    attacked = blend(mixed, template, gamma)
    probabilities = predict_probabilities(model, attacked[None])[0]
    cosines = digit.template_cosines(attacked, images, engine.mean_image)
    network, templates = int(probabilities.argmax()), digit.template_class(cosines)

    no_template = bool(images.empty[target])  # a class never predicted has no image: flat grey stands in
    with right:
        st.markdown("**What the model sees**")
        steps = ["your digit (28 × 28)", "the noise", f"mixed (s = {share:.2f})",
                 f"class {target}: no image" if no_template else f"class image {target}", f"γ = {gamma:.2f}: the input"]
        draw_chart(plots.stimuli_strip(np.stack([drawn, noise, mixed, template, attacked]), steps,
                                       phone=on_a_phone()), key="strip", alt=plots.strip_alt(steps))
        st.caption("Your digit as MNIST's were made: cropped to the ink, fitted into 20 × 20 pixels keeping its "
                   "shape, and moved so that its centre of mass sits at the centre of the 28 × 28 field. Then it "
                   "is mixed with the first stimulus of the noise stream (x = s·digit + (1 − s)·noise) and "
                   f"blended with class {target}'s classification image (x' = (1 − γ)·x + γ·image). The last tile "
                   f"is what the network and the templates are asked about.")
        st.markdown("**The network and its templates**")
        draw_chart(answers_figure(probabilities, cosines, names, phone=on_a_phone()), key="answers")
    agree = "agree" if network == templates else "disagree"
    st.markdown(f"The network's softmax (blue bars, its answer red): it says **{names[network]}** "
                f"({probabilities[network]:.0%}). The cosine similarity of the same input to each of the ten "
                f"classification images (grey bars; both centred, as the Confusion page's template classifier does): "
                f"the best match is **{names[templates]}** ({cosines[templates]:.2f}). They **{agree}**. "
                f"{class_images_are(controls.estimator)} ({state.n:,} stimuli, "
                f"{analysis.ESTIMATORS[controls.estimator].label}; their settings are in the box at the top). "
                "The bars are numbered where they win or come close; point at (or tap) any bar for its value.")

    st.header(f"Fool the network with the class image of {names[target]}")
    if no_template:
        why = (f"the network never chose it in the {state.n:,} stimuli" if controls.estimator == "predicted" else
               f"none of the {state.n:,} stimuli was grouped into it")
        st.warning(f"{names[target]} has no class image at these settings ({why}), so flat grey stands in and the "
                   f"sweep below blends grey, not a class image. Pick another class k, or more stimuli or another "
                   f"grouping in the settings at the top.")
    sweep = gamma_sweep(mixed, template, target)
    draw_chart(sweep_figure(sweep, names, gamma), key="sweep")
    flip, hit = sweep.flip_gamma(), sweep.target_gamma()
    own = names[sweep.first_answer]
    if flip is not None and hit is not None and flip == hit and target != sweep.first_answer:
        said = f"At γ = **{flip:.3f}** the network's answer turns from **{own}** to **{names[target]}**."
    else:
        said = (f"The network leaves **{own}** at γ = **{flip:.3f}**" if flip is not None
                else f"The network says **{own}** all the way to γ = 1")
        said += (f" and first says **{names[target]}** at γ = **{hit:.3f}**." if hit is not None and target !=
                 sweep.first_answer else "." if target != sweep.first_answer else
                 f"; {names[target]} is its answer already, so pick another class k to fool it.")
    st.markdown(f"{said} The curves are the softmax of the input's own answer and of class {target} as the "
                f"class image is blended in, on {len(sweep.gammas)} values of γ from 0 to 1 (one batched pass); the "
                f"dashed line is the first γ where the answer changes, the dotted one your slider. A class image "
                f"that takes over at a small γ carries what the network responds to for that class.")

    st.caption("The drawing is not in the link (it stays in this tab): every other setting is.")
    left, right = st.columns(2)
    stem = f"your-digit-{arch}-{dataset_name}-s{share:g}-k{target}-gamma{gamma:g}"
    left.download_button("CSV: softmax and template match", digit.answers_table(probabilities, cosines, names)
                         .to_csv(index=False, float_format="%.5f", lineterminator="\n"), f"{stem}.csv", "text/csv",
                         key="csv-answers", on_click="ignore")
    right.download_button("CSV: the γ sweep", lambda: digit.sweep_table(sweep, names).to_csv(
        index=False, float_format="%.5f", lineterminator="\n"), f"{stem}-sweep.csv", "text/csv",
        key="csv-sweep", on_click="ignore")


digit_page()
