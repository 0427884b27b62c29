"""Models: train, inspect and restore the networks behind the analysis."""

import pandas as pd
import streamlit as st

from core import plots
from core.config import DATASET_TITLES
from core.models import ARCHITECTURES, SHIPPED_ARCHITECTURES
from ui import controls as ui_controls, live, resources
from ui.frame import start_page

dataset_name, arch = start_page("Models")
data = resources.data_or_stop(dataset_name)
names = resources.class_names(dataset_name)
status = resources.model_status(arch, dataset_name)
meta = status.metadata or {}
spec = ARCHITECTURES[arch]

st.markdown(f"**{spec.title}** on **{DATASET_TITLES[dataset_name]}**: {spec.summary} ({spec.widths}"
            + (f", {meta['parameters']:,} parameters" if status.usable and "parameters" in meta else "") + ").")
if status.usable:
    origin = "shipped" if meta.get("origin") == "shipped" else "trained here"
    a, b, c, d = st.columns(4)
    a.metric("Test accuracy", f"{meta['test_accuracy']:.2%}")
    b.metric("Epochs", meta.get("epochs"))
    c.metric("Training time", f"{meta.get('training_seconds', 0):.0f} s")
    d.metric("Origin", origin, help="shipped: trained by the project and committed; trained here: on this machine")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(plots.confusion_heatmap(pd.DataFrame(meta["test_confusion"]).to_numpy(), names),
                        key="test-confusion")
        st.caption("Real test set (10,000 images): rows are the true class, columns the model's answer, as row "
                   "fractions. Off-diagonal cells are the classes the network mixes up.")
    with right:
        if meta.get("history"):
            st.plotly_chart(plots.training_figure(meta["history"]), key="history")
            st.caption("Loss and accuracy after each epoch, on the training batches and on the test set.")
elif status.state == "damaged":
    st.error(f"The cached model is damaged and is not used: {status.problem}. Train it again below.")
else:
    st.info("This model is not trained yet. Train it below: a LeNet-style epoch takes about 20 s here.")

st.subheader("Train")
with st.form("train"):
    a, b, c, d = st.columns(4)
    epochs = a.number_input("Epochs", 1, 50, 5, help="Passes over the 60,000 training images.")
    batch_size = b.select_slider("Batch size", [32, 64, 128, 256, 512], 128)
    seed = c.number_input("Seed", 0, 2**31 - 1, 0, help="Same seed, same training run.")
    augment = d.checkbox("Light augmentation", help="Random shifts of up to 8 % during training.")
    st.form_submit_button("Train" if not status.usable else "Retrain", type="primary",
                          on_click=lambda: st.session_state.update(train_request=True))

if st.session_state.pop("train_request", False):
    from core.store import TrainingInProgress, train_and_save

    bar = st.progress(0.0, text="starting…")
    chart = st.empty()
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_accuracy": []}

    def report(progress) -> None:
        done = ((progress.epoch - 1) * progress.batches + progress.batch) / (progress.epochs * progress.batches)
        if progress.epoch_done:
            history["loss"].append(progress.loss)
            history["accuracy"].append(progress.accuracy)
            history["val_accuracy"].append(progress.val_accuracy or float("nan"))
            chart.plotly_chart(plots.training_figure(history), key=f"live-{progress.epoch}")
        elif progress.batch % 25:
            return
        bar.progress(min(done, 1.0), text=f"epoch {progress.epoch}/{progress.epochs} · batch {progress.batch}/"
                                          f"{progress.batches} · loss {progress.loss:.3f} · accuracy "
                                          f"{progress.accuracy:.1%}")

    try:
        ready = train_and_save(arch, dataset_name, wait=False, on_progress=report, epochs=int(epochs),
                               seed=int(seed), batch_size=int(batch_size), augment=augment)
    except TrainingInProgress as err:
        st.warning(f"{err}. Wait for it to finish, then reload this page.")
    else:
        resources.release_training_graphs()
        bar.empty()
        st.success(f"Trained: test accuracy {ready.metadata['test_accuracy']:.2%} in "
                   f"{ready.metadata['training_seconds']:.0f} s. The analysis pages now use this model.")
        st.rerun()

from core.store import list_models, restore_shipped, shipped_backup_available  # noqa: E402

if shipped_backup_available(arch, dataset_name) and meta.get("origin") != "shipped":
    st.button("Restore the shipped default", key="restore",
              on_click=lambda: st.session_state.update(restore_request=True))
    if st.session_state.pop("restore_request", False):
        resources.friendly(lambda: restore_shipped(arch, dataset_name), "restore the shipped model")
        st.rerun()

st.subheader("Cached models")
rows = []
for entry in list_models():
    if entry.arch not in SHIPPED_ARCHITECTURES and entry.state == "missing":
        continue  # alexnet_original: trained from the command line only (see the caption)
    record = entry.metadata or {}
    rows.append({
        "model": f"{entry.arch}-{entry.dataset}",
        "status": entry.state,
        "test accuracy": record.get("test_accuracy"),
        "epochs": record.get("epochs"),
        "seed": record.get("seed"),
        "training s": record.get("training_seconds"),
        "parameters": record.get("parameters"),
        "size MB": (record.get("file_bytes") or 0) / 1e6 or None,
        "origin": record.get("origin"),
        "created": record.get("created"),
    })
st.dataframe(pd.DataFrame(rows), hide_index=True,
             column_config={"test accuracy": st.column_config.NumberColumn(format="percent")})
st.caption("Only files whose SHA-256 matches the record Noise Lens wrote beside them are ever loaded. The "
           "study's large AlexNet (`alexnet_original`: stride-1 pooling, 8.5 M parameters, about a minute an epoch "
           "here) is listed once trained from the command line: `python -m core train --arch alexnet_original "
           "--dataset mnist`.")
