"""Models: inspect the network behind the analysis, train your own, and (with the teacher key) share it."""

import pandas as pd
import streamlit as st

from core import plots
from core.config import DATASET_TITLES
from core.models import ARCHITECTURES, SHIPPED_ARCHITECTURES
from core.training_queue import VISITOR_MAX_EPOCHS, TicketClosed
from ui import resources, session_models, training
from ui.frame import draw_chart, on_a_phone, start_page

TRAIN_IMAGES = [2_000, 5_000, 10_000, 30_000, 60_000]

dataset_name, arch = start_page("Models")
data = resources.data_or_stop(dataset_name)
names = resources.class_names(dataset_name)
own = session_models.get(arch, dataset_name)
status = resources.model_status(arch, dataset_name)
meta = own.metadata if own else (status.metadata or {}) if status.usable else {}
spec = ARCHITECTURES[arch]

st.markdown(f"**{spec.title}** on **{DATASET_TITLES[dataset_name]}**: {spec.summary} ({spec.widths}"
            + (f", {meta['parameters']:,} parameters" if "parameters" in meta else "") + ").")
st.caption("In words: a *conv* layer is a bank of small pattern detectors slid over the image; a *pool* shrinks "
           "the image, keeping the average (or the largest) value of each 2 × 2 patch; *dense* layers combine "
           "everything found; *softmax* turns the ten scores into ten probabilities that add up to 1.")
if meta:
    origin = {"shipped": "shipped", "your model": "yours"}.get(meta.get("origin"), "published here")
    a, b, c, d = st.columns(4)
    a.metric("Test accuracy", f"{meta['test_accuracy']:.2%}")
    b.metric("Epochs", meta.get("epochs"))
    c.metric("Training time", f"{meta.get('training_seconds', 0):.0f} s")
    d.metric("Origin", origin, help="shipped: trained by the project and committed; yours: trained in this "
             "browser tab, used by your pages only; published here: shared on this server with the teacher key")
    # One under the other at full width: at half width the confusion matrix's cell numbers were about 7 px high.
    draw_chart(plots.confusion_heatmap(pd.DataFrame(meta["test_confusion"]).to_numpy(), names,
                                       phone=on_a_phone()),
               key="test-confusion")
    st.caption("Real test set (10,000 images): rows are the true class, columns the model's answer, as row "
               "fractions. Off-diagonal cells are the classes the network mixes up.")
    if meta.get("history"):
        draw_chart(plots.training_figure(meta["history"], phone=on_a_phone()), key="history")
        st.caption("Loss and accuracy after each epoch, on the training batches and on the test set.")
elif status.state == "damaged":
    st.error(f"The server's model is damaged and is not used: {resources.damage_without_paths(status)}. Train one "
             "below.")
else:
    st.info("The server has no model for this pair yet. Train one below: it is yours until you close the tab.")
if own:
    st.button("Use the server's model again", key="drop-own", on_click=lambda: session_models.drop(arch, dataset_name))

st.header("Train your own")
st.caption(f"Your model is used by your pages only, never by the other visitors, and is gone when you close the tab. "
           f"One training runs at a time on this server; up to {VISITOR_MAX_EPOCHS} epochs each, so nobody waits "
           f"for hours. A LeNet-style epoch over 60,000 images takes 20 s to a few minutes, depending on the machine. "
           f"All visitors' models together may use {session_models.SERVER_MEGABYTES:,} MB of the server's memory "
           f"(about {session_models.models_that_fit(arch)} models of this size).")
TRAINING_SEEDS = (0, 2**31 - 1)


def train_if_the_numbers_hold() -> None:
    """Train pressed (form callback): queue the training, or say which typed number is out of range."""
    epochs, seed = st.session_state["train-epochs"], st.session_state["train-seed"]
    wrong = []
    if not 1 <= epochs <= VISITOR_MAX_EPOCHS:
        wrong.append(f"Epochs {epochs:,} is not 1 to {VISITOR_MAX_EPOCHS}")
    if not TRAINING_SEEDS[0] <= seed <= TRAINING_SEEDS[1]:
        wrong.append(f"Seed {seed:,} is not {TRAINING_SEEDS[0]} to {TRAINING_SEEDS[1]:,}")
    if wrong:
        st.session_state["_train_refused"] = f"{'; '.join(wrong)}: nothing was trained. Change it and press Train."
        return
    training.request_training(arch, dataset_name, {
        "epochs": epochs, "train_limit": st.session_state["train-images"],
        "batch_size": st.session_state["train-batch"], "seed": seed, "augment": st.session_state["train-augment"]})


with st.form("train"):
    a, b, c, d, e = st.columns(5)
    # No bounds in the boxes: a number typed outside them stayed in the box, in red, and Train did nothing, with the
    # reason only in a tooltip (a review). The Train button checks them, and says.
    a.number_input("Epochs", value=2, step=1, key="train-epochs",
                   help=f"Passes over the training images: 1 to {VISITOR_MAX_EPOCHS}.")
    b.select_slider("Training images", TRAIN_IMAGES, 10_000, key="train-images",
                    format_func="{:,}".format,  # "60,000", not "60000" (not in the link: its labels are free)
                    help="How many of the 60,000 training images to use (the first ones): fewer train faster, "
                         "more learn better.")
    c.select_slider("Batch size", [32, 64, 128, 256, 512], 128, key="train-batch",
                    help="How many training images the network looks at before each small change of its weights: "
                         "smaller, more changes per epoch and slower.")
    d.number_input("Seed", value=0, step=1, key="train-seed",
                   help=f"Same seed, same training run: 0 to {TRAINING_SEEDS[1]:,}.")
    e.checkbox("Random shifts", key="train-augment",  # "Light augmentation" was cut off at 1280 px
               help="Each training image moved at random by up to about 2 pixels (8 % of its width) each "
                    "way, so the network learns that a small shift does not change the class.")
    st.form_submit_button("Train", type="primary", on_click=train_if_the_numbers_hold)
if refusal := st.session_state.pop("_train_refused", None):
    st.error(refusal)


LAPSED = "Your place in the queue lapsed. Press Train again."


def train_now(ticket) -> None:
    """Train in this run, with progress; Cancel (or any other click) ends it and frees the queue."""
    cancel = st.empty()
    cancel.button("Cancel training", key="cancel-training", on_click=training.cancel_by_the_student)
    bar, chart = st.progress(0.0, text="starting…"), st.empty()
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_accuracy": []}
    phone = on_a_phone()

    def report(progress) -> None:
        done = ((progress.epoch - 1) * progress.batches + progress.batch) / (progress.epochs * progress.batches)
        if progress.epoch_done:
            for key, value in (("loss", progress.loss), ("accuracy", progress.accuracy),
                               ("val_accuracy", progress.val_accuracy or float("nan"))):
                history[key].append(value)
            draw_chart(plots.training_figure(history, phone=phone), chart, key=f"live-{progress.epoch}")
        elif progress.batch % 25:
            return
        bar.progress(min(done, 1.0), text=f"epoch {progress.epoch}/{progress.epochs} · batch {progress.batch}/"
                                          f"{progress.batches} · loss {progress.loss:.3f} · accuracy "
                                          f"{progress.accuracy:.1%}")

    try:
        trained = training.train_in_session(ticket, report)
    except (TicketClosed, training.NoRoom) as refused:
        cancel.empty()
        bar.empty()
        st.warning(LAPSED if isinstance(refused, TicketClosed) else training.no_room_note())
        return
    resources.release_training_graphs()
    st.session_state["_trained_note"] = f"Trained: {trained.description}. Your pages now use it."
    st.rerun()


@st.fragment(run_every=1.0)
def waiting_in_line(ticket) -> None:
    """Redraw the place in the queue every second; when the turn comes, train in a full run of the page."""
    if training.pending_ticket() is not ticket:  # Cancel, in this fragment: the page without it (it said "lapsed")
        st.rerun(scope="app")
    try:
        if training.my_turn(ticket):
            st.rerun(scope="app")
    except TicketClosed:
        st.warning(LAPSED)
        return
    st.info(training.queue_note(ticket), icon="⏳")
    st.button("Cancel", key="cancel-waiting", on_click=training.cancel_by_the_student)


if note := st.session_state.pop("_trained_note", None):
    st.success(note)
if training.cancelled():
    st.info("Training cancelled: the next in line goes ahead.")
if training.no_room():
    st.warning(training.no_room_note())
if (ticket := training.pending_ticket()) is not None:
    try:
        turn = ticket.state == "running" or training.my_turn(ticket)
    except TicketClosed:
        turn = None
        st.warning(LAPSED)
    if turn:
        train_now(ticket)
    elif turn is not None:
        waiting_in_line(ticket)

st.header("The server's model (teacher)")
if training.teacher_key() is None:
    st.info("No teacher key is set on this server, so nobody changes the server's models from the app; every "
            "visitor's training stays in their own tab. The owner of the machine trains shared models with "
            "`python -m core train`, or sets a key (README: *Streamlit Community Cloud*).", icon="🔒")
elif given := st.text_input("Teacher key", type="password", key="teacher-key",
                            help="Set by whoever deployed this app. It unlocks publishing and restoring."):
    if training.teacher_unlocked(given):
        from core.store import shipped_backup_available

        # Callbacks, not the buttons' return values: the request survives any rerun before the page draws it.
        if own:
            st.button("Publish your model for everyone", key="publish",
                      on_click=lambda: training.publish_own(arch, dataset_name))
        restorable = shipped_backup_available(arch, dataset_name) and (status.metadata or {}).get("origin") != "shipped"
        if restorable:
            st.button("Restore the shipped default", key="restore",
                      on_click=lambda: training.restore_default(arch, dataset_name))
        if not own and not restorable:  # else the right key showed nothing, and looked like no answer
            st.success("Key accepted. Train a model above to publish it for everyone.", icon="🔓")
training.show_teacher_note()

st.header("Models on this server")
rows = []
for entry in resources.list_models():
    if entry.arch not in SHIPPED_ARCHITECTURES and entry.state == "missing":
        continue  # alexnet_original: trained from the command line only (see the caption)
    record = entry.metadata or {}
    # named as the sidebar names them; the file's name (cache/models/) for whoever looks after the server
    rows.append({"model": f"{ARCHITECTURES[entry.arch].title} · {DATASET_TITLES[entry.dataset]}",
                 "file": f"{entry.arch}-{entry.dataset}", "status": entry.state,
                 "test accuracy": record.get("test_accuracy"), "epochs": record.get("epochs"),
                 "seed": record.get("seed"), "training s": record.get("training_seconds"),
                 "parameters": record.get("parameters"), "size MB": (record.get("file_bytes") or 0) / 1e6 or None,
                 "origin": record.get("origin"), "created": record.get("created")})
table = pd.DataFrame(rows)
table["created"] = pd.to_datetime(table["created"], utc=True, errors="coerce")  # ISO text in the record
# the counts and times as the metrics above write them (a review found 268710 and 1.1099 here)
st.dataframe(table, hide_index=True, column_config={
    "test accuracy": st.column_config.NumberColumn(format="percent"),
    "training s": st.column_config.NumberColumn(format="%.0f"),
    "parameters": st.column_config.NumberColumn(format="localized"),
    "size MB": st.column_config.NumberColumn(format="%.1f"),
    "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
st.caption("Only files whose SHA-256 matches the record Noise Lens wrote beside them are ever loaded. The "
           "study's large AlexNet (`alexnet_original`: stride-1 pooling, 8.5 M parameters, about a minute an epoch "
           "here) is listed once trained from the command line: `python -m core train --arch alexnet_original "
           "--dataset mnist`.")
