"""Receptive fields: what each convolutional unit responds to, read from noise (spike-triggered averages)."""

from typing import Any

import numpy as np
import streamlit as st

from core import plots_sta, sta
from core.link import PARAMS, SAMPLE_COUNTS, SEEDS
from core.models import ARCHITECTURES
from core.noise import DATA_NOISE_TYPES, DEFAULT_SIGMA, NOISE_TYPES, SIGMA_NOISE_TYPES, NoiseSpec
from core.runs import command_line
from ui import live, resources, session_models, streamlit_internals
from ui.controls import control_row, whole_number_input
from ui.frame import command_line_note, draw_chart, on_a_phone, start_page
from ui.link_sync import carry_settings_to_this_page

dataset_name, arch = start_page("Receptive fields", in_short=(
    "show the network pure noise and, for each unit inside it, average the bits of noise that made the unit "
    "respond, weighted by how strongly it did: the result is the pattern that unit looks for."))
data = resources.data_or_stop(dataset_name)
model, meta = resources.model_or_stop(arch, dataset_name)
STORED_RESULTS = 64  # each is under 1 MB (AlexNet's 128 units × 18 × 18 float64 is the largest part)

st.markdown(
    "Every convolutional unit looks at a small patch of the image, its **receptive field**. Show the network "
    "pure noise and average the patches each unit saw, weighting each by how strongly the unit answered: "
    "this **spike-triggered average** (STA) is the pattern that drives the unit, read from its behaviour "
    "alone (Borji & Lin, 2020; neuroscientists named it for a neuron's spikes, here a unit's activation). For the "
    "first layer the answer is known, since a unit there is a weighted sum of its pixels followed by a ReLU (which "
    "passes positive values and turns negative ones into 0): under Gaussian white noise its STA is proportional "
    "to its weights (under uniform noise, nearly so). The correlation between the two is the page's built-in "
    "check. Deeper units see larger fields and are no longer linear: "
    "their STAs show what they pick up from the layers below.")


@st.cache_resource(show_spinner="Preparing the noise → units graph…", max_entries=resources.STA_ENGINES_KEPT)
def sta_engine(arch: str, dataset_name: str, noise: str, sha256: str, _model) -> sta.STAEngine:
    """The compiled pass for one model and noise type, shared by every session."""
    return sta.STAEngine(_model, noise, data.train_images if noise in DATA_NOISE_TYPES else None)


@st.cache_resource(show_spinner=False)
def computed() -> dict:
    """STA results by (model sha256, noise, σ, seed, N), shared by every session of the server."""
    return {}


def run_key(spec: NoiseSpec, n: int) -> tuple:
    """A run's key in ``computed()``: asked before the run too, to know whether it will take long."""
    return arch, dataset_name, meta["sha256"], spec, n


def spike_triggered_averages(spec: NoiseSpec, n: int, place: Any) -> sta.STAResult:
    """The STAs of every convolutional layer, computed once per model and setting, with a progress bar in
    ``place``; a moved control ends the pass between chunks (nothing partial is stored)."""
    key = run_key(spec, n)
    store = computed()
    if key in store:
        return store[key]
    engine = sta_engine(arch, dataset_name, spec.kind, meta["sha256"], model)
    progress = place.progress(0.0, text="starting…")
    try:
        result = engine.run(spec, n, on_progress=lambda done: progress.progress(done / n, f"{done:,} of {n:,} stimuli"),
                            should_stop=streamlit_internals.rerun_waiting)
    except sta.STAStopped:
        live.make_way_for_the_waiting_rerun()
    if not session_models.is_session_model(meta["sha256"]):  # a session's own model must stay collectable
        resources.settle_heap(engine, "spike-triggered averages")
    progress.empty()
    while len(store) >= STORED_RESULTS:
        store.pop(next(iter(store)), None)
    store[key] = result
    return result


carry_settings_to_this_page()
fields = sta.receptive_fields(model)
layers = [f.layer for f in fields]
# The notes, the progress bar and the results each have one place whether shown or not: a block that moved up
# into the place of the next one kept that one's elements on screen, greyed, during a run (see live.Results).
layer_note = st.empty()
if st.session_state.get("layer", PARAMS["layer"].default) not in layers:
    layer_note.info(f"The {ARCHITECTURES[arch].title} network has no {st.session_state['layer']}; showing its last "
                    f"layer, {layers[-1]}.")
    st.session_state["layer"] = layers[-1]

first, second, third = control_row("sta", 3)
with first:
    layer = st.selectbox("Layer", layers, key="layer", bind="query-params",
                         help="Which convolutional layer's units to show. Deeper layers see larger patches: "
                         + ", ".join(f"{f.layer} {f.size[0]}×{f.size[1]} pixels" for f in fields) + ".")
    n = st.select_slider("Stimuli N (log scale)", SAMPLE_COUNTS, value=PARAMS["n"].default, key="n",
                         bind="query-params", help="How many noise stimuli to show the network.")
with second:
    noise = st.selectbox("Noise type", list(NOISE_TYPES), key="noise", bind="query-params",
                         help="\n".join(f"- **{k}**: {v}" for k, v in NOISE_TYPES.items()))
    sigma = st.slider("Noise σ", 0.05, 0.5, PARAMS["sigma"].default, 0.05, key="sigma", bind="query-params",
                      disabled=noise not in SIGMA_NOISE_TYPES,
                      help="Standard deviation of the Gaussian noise (for data noise the RMS over pixels).")
with third:
    seed = whole_number_input("Seed", SEEDS, "seed", "Same seed, same noise as on the other pages.")
noise_note = st.empty()
if noise not in sta.WHITE_NOISE_TYPES:
    noise_note.info(f"{noise.capitalize()} noise is {sta.NOT_WHITE_NOTE} (below). Uniform or Gaussian noise gives "
                    "the clean check.")

spec = NoiseSpec(noise, float(sigma) if noise in SIGMA_NOISE_TYPES else DEFAULT_SIGMA, int(seed))
progress_place = st.empty()
# A run above the live sizes takes seconds to minutes: the previous settings' grids and downloads leave meanwhile
results = live.Results(blank=int(n) > live.LIVE_N and run_key(spec, int(n)) not in computed())
result = resources.friendly(lambda: spike_triggered_averages(spec, int(n), progress_place),
                            "compute the receptive fields")
if result is None:
    st.stop()
field = result.field(layer)
centred = result.centred_sta(layer)
firing = result.firing_rate(layer)
kernels = sta.conv_kernels(model)
correlations = sta.weight_correlations(result.centred_sta("conv1"), kernels)
silent = int((firing == 0).sum())
first_firing = result.firing_rate("conv1")
# Download names carry the run (as the other pages'): two runs' files no longer share a name
stem = f"sta-{arch}-{dataset_name}-{spec.label}-N{result.n}-seed{spec.seed}"
rare, first_silent = int(((first_firing > 0) & (first_firing < 0.001)).sum()), int((first_firing == 0).sum())

with results.container():
    left, right = st.columns([3, 2] if layer != "conv1" else [1, 1])
    with left:
        st.header(f"{layer}: spike-triggered averages")
        draw_chart(plots_sta.units_figure(centred, [str(c) for c in range(len(centred))],
                                          columns=8, colorbar_title="STA (per unit)", phone=on_a_phone()),
                   key="sta_grid")
        st.caption(
            f"**{result.n:,} stimuli, {field.channels} units.** Each tile is one channel's unit at the centre of "
            f"the {field.map_shape[0]}×{field.map_shape[1]} map: the activation-weighted average of the "
            f"{field.size[0]}×{field.size[1]} input patch it sees (pixels {field.top}–"
            f"{field.top + field.size[0] - 1} down and across), minus the plain average patch. Red: the unit "
            "answers more when these pixels are brighter than average; blue: when they are darker. Each tile is "
            "scaled to its own strongest pixel, so compare patterns, not strengths; point at (or tap) a tile for its "
            "values."
            + (f" Grey tiles: {silent} units that never fired on this noise, so they have no average."
               if silent else ""))
        st.download_button("STAs (CSV)", sta.units_csv(result, layer, correlations if layer == "conv1" else None),
                           f"{stem}-{layer}.csv", "text/csv", key="sta_csv")
        st.download_button("STAs (NPY, before subtracting the mean patch)", sta.npy_bytes(result.sta(layer)),
                           f"{stem}-{layer}.npy", "application/octet-stream", key="sta_npy")
    with right:
        st.header("conv1: weights")
        draw_chart(plots_sta.units_figure(kernels, [str(c) for c in range(len(kernels))], columns=8,
                                          colorbar_title="weight (per unit)", phone=on_a_phone()),
                   key="weights_grid")
        st.caption(f"The first layer's {len(kernels)} kernels as the network learned them, on the same colour "
                   "scale and the same per-unit scaling. "
                   + ("The STA tile and the kernel at the same place in the two grids are the same unit's: "
                      if layer == "conv1" else "Set the layer to conv1 to compare each unit's STA with its kernel, at "
                      "the same place in the two grids: ")
                   + "under white noise they should look the same.")
        st.download_button("Weights (NPY)", sta.npy_bytes(kernels), f"weights-{arch}-{dataset_name}-conv1.npy",
                           "application/octet-stream", key="weights_npy")

    st.header("The built-in check: conv1 STA against its weights")
    draw_chart(plots_sta.correlation_bar(correlations, first_firing), key="correlations")
    st.caption(
        f"One bar per first-layer unit: the correlation of its STA with its weights over the "
        f"{kernels.shape[1]}×{kernels.shape[2]} pixels. Mean **{np.nanmean(correlations):.4f}**, lowest "
        f"{np.nanmin(correlations):.4f}. A ReLU unit under white noise has an STA proportional to its weights, so "
        "bars near 1 say the STA reads the unit correctly; they rise towards 1 as N grows. Correlated noise (pink, "
        "data) lowers them, and so does a unit that rarely fires: its STA averages only the few patches that woke "
        "it (point at or tap a bar for its firing rate)."
        + (f" Here {rare} of {len(correlations)} units fired on fewer than 0.1 % of the stimuli." if rare else "")
        + (f" {first_silent} never fired: no bar." if first_silent else ""))
    st.download_button("Correlations (CSV)", sta.check_csv(result, correlations),
                       f"{stem}-conv1-correlations.csv", "text/csv", key="correlations_csv")
    layers = sorted({"conv1", layer})  # the layer shown and conv1, the check's
    # A folder per set of layers: conv1's command, run after conv2's into one folder, rewrote its summary.json
    # without conv2 while sta_conv2.npy stayed beside it.
    command_line_note(command_line("sta", {"arch": arch, "dataset": dataset_name, "samples": result.n,
                                           "noise": noise, "sigma": spec.sigma_used, "seed": spec.seed},
                                   f"runs/{stem}-{'-'.join(layers)}", layers=layers))
