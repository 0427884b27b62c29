"""Training from the app on a shared server: one training at a time, the visitor's model kept in the session,
and server-wide changes only with the teacher key.

The queue's ticket lives in the session while it waits, so the page can redraw its place every second (a
fragment with ``run_every``) and offer Cancel; a session that goes away stops polling and its ticket expires.
"""

from __future__ import annotations

import hmac
import math
from typing import Any

import streamlit as st

from core.teacher_key import SECRETS_NAME, WRONG_KEYS, configured_key, key_matches
from core.training_queue import TRAINING_QUEUE, TicketClosed, TrainingRequest
from ui import resources, session_models

_TICKET = "_training_ticket"
_SETTINGS = "_training_settings"
_CANCELLED = "_training_cancelled"
_KEY_VERDICT = "_teacher_key_verdict"
_NO_ROOM = "_training_no_room"


class NoRoom(RuntimeError):
    """The visitors' models on this server already hold ``session_models.SERVER_MEGABYTES``."""


def teacher_key() -> str | None:
    """The key the deployer set (``st.secrets["teacher_key"]``, else ``NOISELENS_TEACHER_KEY``), or None."""
    try:
        secret = st.secrets.get(SECRETS_NAME)
    except Exception:  # noqa: BLE001 - no secrets file at all is the common case, not an error
        secret = None
    return configured_key(secret)


def teacher_unlocked(given: str) -> bool:
    """Whether the key typed in a teacher field unlocks its buttons; says under the field why not.

    The field keeps its text over every run of the page, so the verdict for that text is remembered: a wrong key
    left in the field counts once against the server's budget of wrong keys (``WRONG_KEYS``), and a teacher who
    was let in stays in while others' guesses have spent it. While it is spent, no new key is compared.
    """
    configured = teacher_key()
    if configured is None or not given.strip():  # blanks are no guess: they spend nothing
        return False
    # Keyed by the configured key, so a key changed in the secrets is checked anew; a digest, not the text.
    typed = hmac.new(configured.encode("utf-8"), given.encode("utf-8", "surrogatepass"), "sha256").hexdigest()
    remembered = st.session_state.get(_KEY_VERDICT)
    if remembered is not None and remembered[0] == typed:
        right = remembered[1]
    elif (token := WRONG_KEYS.take()) is None:
        st.error(f"Too many wrong keys were tried on this server in the last minute, so no key is checked for "
                 f"the next {math.ceil(WRONG_KEYS.wait_seconds())} s. Type it again then.")
        return False
    else:
        right = key_matches(given, configured)
        if right:
            WRONG_KEYS.give_back(token)
        st.session_state[_KEY_VERDICT] = (typed, right)
    if not right:
        st.error("That key is not right.")
    return right


def request_training(arch: str, dataset: str, settings: dict[str, Any]) -> None:
    """Join the queue (button callback); the page's waiting fragment takes it from here."""
    cancel_request()
    if not session_models.room_for(arch, dataset):
        st.session_state[_NO_ROOM] = True
        return
    request = TrainingRequest(arch, dataset, int(settings["epochs"]), int(settings["train_limit"]))
    st.session_state[_TICKET] = TRAINING_QUEUE.take(request)
    st.session_state[_SETTINGS] = settings


def cancel_request() -> None:
    ticket = st.session_state.pop(_TICKET, None)
    if ticket is not None:
        TRAINING_QUEUE.cancel(ticket)
        TRAINING_QUEUE.release(ticket)


def cancel_by_the_student() -> None:
    """Cancel pressed (button callback): give up the place, and say so on the next run."""
    cancel_request()
    st.session_state[_CANCELLED] = True


def cancelled() -> bool:
    """Whether the student has just cancelled a training (read once)."""
    return bool(st.session_state.pop(_CANCELLED, False))


def no_room() -> bool:
    """Whether the last Train was refused for want of memory for one more visitor's model (read once)."""
    return bool(st.session_state.pop(_NO_ROOM, False))


def no_room_note() -> str:
    held = session_models.held_megabytes()
    return (f"No room for one more model on this server: visitors' models already hold about {held:,.0f} MB, and "
            f"{session_models.SERVER_MEGABYTES:,} MB is their limit, so that the dashboard keeps running for "
            f"everyone. Each is freed a few minutes after its tab closes; try again later. Nothing else changed.")


def pending_ticket() -> Any | None:
    return st.session_state.get(_TICKET)


def queue_note(ticket: Any) -> str:
    """'2 trainings ahead of yours, about 3 minutes' for a waiting ticket."""
    status = TRAINING_QUEUE.status(ticket)
    ahead = f"{status.ahead} training{'s' if status.ahead != 1 else ''} ahead of yours"
    minutes = status.wait_seconds / 60
    wait = f"about {minutes:.0f} minute{'s' if round(minutes) != 1 else ''}" if minutes >= 1 else "under a minute"
    return f"{ahead}, {wait} (a rough estimate{'' if status.measured else ' until one has been timed here'})."


def my_turn(ticket: Any) -> bool:
    """Whether the waiting ticket may train now (a short look, so the page can redraw)."""
    try:
        return TRAINING_QUEUE.wait_for_turn(ticket, timeout=0.2)
    except TicketClosed:
        st.session_state.pop(_TICKET, None)
        raise


def train_in_session(ticket: Any, on_progress: Any) -> Any:
    """Train the ticket's request now and keep the model in this session only; the queue is freed in any case.
    Raises ``TicketClosed`` if the turn lapsed first, ``NoRoom`` if visitors' models took the memory meanwhile."""
    from core.models import train

    settings = st.session_state.pop(_SETTINGS)
    request = ticket.request
    if not session_models.room_for(request.arch, request.dataset):  # others' models came while this one waited
        cancel_request()
        raise NoRoom
    completed = False
    try:
        TRAINING_QUEUE.claim(ticket)  # TicketClosed if the turn lapsed before this run came to train
        result = train(request.arch, request.dataset, on_progress=on_progress, should_stop=ticket.should_stop,
                       **settings)
        completed = True
    finally:
        # The queue first: when the tab has closed, Streamlit's calls raise here, and one that came before the
        # release left the slot taken for the server's lifetime.
        TRAINING_QUEUE.release(ticket, completed=completed)
        st.session_state.pop(_TICKET, None)
    return session_models.keep(request.arch, request.dataset, result)


def _teacher_note(kind: str, text: str) -> None:
    st.session_state["_teacher_note"] = (kind, text)


def show_teacher_note() -> None:
    """The outcome of the last publish or restore, once."""
    if note := st.session_state.pop("_teacher_note", None):
        getattr(st, note[0])(note[1])


def publish_own(arch: str, dataset: str) -> None:
    """Button callback: make this session's model the server's (the page shows it only behind the key)."""
    from core.store import publish_model

    own = session_models.get(arch, dataset)
    if own is None:
        return
    try:
        record = publish_model(own.result, arch, dataset, wait=False)
    except (ValueError, OSError, RuntimeError) as err:
        _teacher_note("error", f"Could not publish the model: {err}")
        return
    session_models.drop(arch, dataset)
    _teacher_note("success", f"Published: every visitor's pages now use this model ({record['test_accuracy']:.2%}).")


def restore_default(arch: str, dataset: str) -> None:
    """Button callback: put the shipped default back for everyone."""
    from core.store import restore_shipped

    try:
        record = restore_shipped(arch, dataset)
    except (LookupError, OSError, RuntimeError) as err:
        _teacher_note("error", f"Could not restore the shipped model: {resources.without_server_folders(str(err))}")
        return
    _teacher_note("success", f"Restored the shipped model ({record['test_accuracy']:.2%}) for everyone.")
