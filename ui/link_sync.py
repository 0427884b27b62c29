"""The link and the session's settings, kept in step: a shared link sets the view, and the settings follow the
student from page to page (with the page's address updated to match)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable
from typing import TypeVar

import streamlit as st

from core.link import (ANALYSIS_KEYS, PARAMS, as_code, is_tracking_parameter, shorter,
                       unknown_parameter_note)
from ui import streamlit_internals

T = TypeVar("T")


def check_link() -> dict[str, str]:
    """Validate the query parameters of the link and adopt them as the session's settings; return, by parameter, a
    note for each value that was replaced.

    Putting the values in session state, rather than leaving them to the URL binding, keeps them when the
    student opens another page: values a widget took from the link were dropped on the first page switch. The
    address is repaired to match, in one change (one step in the browser's history), before any widget binds to
    it: a bad value leaves it (a page with no widget bound to it, Home, kept it, and a link copied from there
    repeated the note), a repeated one keeps its last value (a slider seeded itself from the repeats, failed, and
    Streamlit dropped the parameter), a number that is not whole shows the whole number used, and a whole number
    written another way (``n=200.0``, ``gamma=1.0``) is written as its widget writes it (a select slider dropped it,
    and a copied link lost it). Other values stay as they came (``r=0.0`` reads fine): each rewrite is a step in
    the browser's history.
    """
    arrived = {key: st.query_params.get_all(key) for key in st.query_params}
    notes: dict[str, str] = {}
    link = dict(arrived)
    # a mistyped name ("N=5000", "n5000") did nothing, without a word; named in the link's order
    for key in [key for key in arrived if key not in PARAMS]:
        if not is_tracking_parameter(key):
            notes[key] = unknown_parameter_note(key, arrived[key][-1])
        del link[key]
    for key, param in PARAMS.items():
        raw = st.query_params.get(key)
        if raw is None:
            continue
        try:
            value = param.parse(raw)
        except (ValueError, TypeError) as err:
            st.session_state[key] = param.default
            repeated = f", the last of its {len(arrived[key])}," if len(arrived[key]) > 1 else ""
            notes[key] = (f"`{key}={as_code(raw)}`{repeated} in the link is not valid ({shorter(str(err))}); using "
                          f"{param.written(param.default)}.")
            del link[key]  # a default is never in the link
            continue
        st.session_state[key] = value
        if len(arrived[key]) > 1:
            notes[key] = (f"`{key}` appears {len(arrived[key])} times in the link; using the last, "
                          f"{param.written(value)}.")
            link[key] = [raw]
        elif type(value) in (int, float) and float(raw) != value:
            cut = type(value) is int and value == int(float(raw))  # seed=1.5 → 1; n=150 → 200 is a step
            how = "not a whole number" if cut else "between the slider's steps"
            notes[key] = f"`{key}={as_code(raw)}` in the link is {how}; using {param.written(value)}."
            link[key] = [param.written(value)]
        elif (type(value) in (int, str) or param.exact) and param.written(value) != raw:  # n=200.0, gamma=1.0: a
            link[key] = [param.written(value)]  # select slider drops text other than its own, a radio a choice
            # ("fashion_mnist") other than the name it shows ("Fashion-MNIST"); r=0.0 reads fine and stays
    if link != arrived:
        st.query_params.from_dict(link)
        streamlit_internals.seed_widgets_from_the_link_as_it_is_now()  # not from the link as it arrived
    return notes


def repair_an_old_entry_of_the_history() -> None:
    """After Back or Forward, write the address's values as the widgets write them, before they bind to it.

    The entry may be the link as it first came, before ``check_link`` rewrote it (a step of its own in the
    history): a choice by its code name (``dataset=fashion_mnist``), ``n=200.0``. A widget seeds itself there
    from the address alone and took its default for text it does not write itself: Back after an old link showed
    MNIST and LeNet-style (a review). After Back or Forward Streamlit replaces the entry, so this adds none; a bad
    value was named when the link came and is left to the widget, which drops it."""
    if not streamlit_internals.came_by_back_or_forward():
        return
    repaired = {}
    for key in st.query_params:
        raw = st.query_params.get_all(key)
        value = PARAMS[key].parsed(raw[-1]) if key in PARAMS else None
        if value is not None and (len(raw) > 1 or PARAMS[key].written(value) != raw[-1]):
            repaired[key] = PARAMS[key].written(value)
    if repaired:  # (st.query_params refuses a parameter a widget of the last run was bound to)
        streamlit_internals.rewrite_the_link_in_place(repaired)


def remember_link_notes() -> None:
    """On a session's first run, adopt its link and keep the notes for the page to show."""
    if "_link_checked" not in st.session_state:
        st.session_state["_link_checked"] = True
        st.session_state["_link_notes"] = check_link()


def show_link_notes(set_by_the_page: Collection[str] = ()) -> None:
    """Show, once per page view, which link values were ignored. A page that sets ``set_by_the_page`` itself (the
    Lesson's steps set the analysis controls) says so instead of naming a value it does not use: "using 1000"
    under a step that runs 10,000 stimuli."""
    for key, note in st.session_state.pop("_link_notes", {}).items():
        if key in set_by_the_page:
            note = note.rsplit("; ", 1)[0] + "; this step of the lesson sets its own."
        st.warning(note, icon="🔗")


def note_page(url_path: str) -> None:
    """Called by app.py on every full run: remember that the student has just arrived at another page (read once,
    by ``carry_settings_to_this_page``; fragment reruns never pass here)."""
    if st.session_state.get("_page") != url_path:
        st.session_state["_page"] = url_path
        st.session_state["_arrived"] = True


def carry_settings_to_this_page() -> None:
    """Keep the session's settings, and their link, when the student opens another page.

    Streamlit 1.67 dropped values a widget took from the link on the first page switch, and the new page's
    link came without them. So the values are adopted here as this page's (re-set in session state, which
    widgets read), and on arrival at a page the missing ones are written back into its link, before the
    widgets bind to it (Streamlit forbids writing a bound parameter afterwards).

    On arrival a value in the link as the browser sent it wins: a link to this page (Home's "take the signal
    away"), or the browser's Back or Forward to an entry of the history. Streamlit drops from ``st.query_params``
    the parameters bound to the last page's widgets, and after Back its widgets took the defaults where the
    address said otherwise (a teacher's review): here every page's ``n`` is the same ``n``. After Back or
    Forward a setting the entry leaves out is at its default, as it was there: the session's later value was shown
    and written into the old entry (a second reader).
    """
    arrived = st.session_state.pop("_arrived", False)  # once per page visit (see ``note_page``)
    # A fragment's rerun stays on its page, where the widgets keep their values. Re-set there, a value would be
    # sent back to the browser as the script's own: a widget drawn after a run (ui.controls.controls_drawn_after)
    # would then put back the value from before a press made during the run, and the press would be lost.
    in_fragment = streamlit_internals.in_fragment_run()
    sent = streamlit_internals.link_as_the_browser_sent_it() if arrived else {}
    by_history = arrived and streamlit_internals.came_by_back_or_forward()
    missing = {}
    for key in ANALYSIS_KEYS:
        in_link = PARAMS[key].parsed(sent[key][-1]) if key in sent else None
        if in_link is not None:
            st.session_state[key] = in_link
            if key not in st.query_params:  # dropped by Streamlit: bound to a widget of the last page
                missing[key] = PARAMS[key].written(in_link)
            continue
        if by_history:  # the entry left it out: it was at its default there, whatever the student set since
            st.session_state.pop(key, None)
            continue
        if key in st.session_state:
            if not in_fragment:
                st.session_state[key] = st.session_state[key]
            if arrived and key not in st.query_params and st.session_state[key] != PARAMS[key].default:
                missing[key] = PARAMS[key].written(st.session_state[key])
    if missing:  # one change of the address, so one step in the browser's history
        st.query_params.update(missing)
        # the widgets, which after Back or Forward take their value from the link or else their default, see it
        streamlit_internals.seed_widgets_from_the_link_as_it_is_now()


def is_kept_in_session(name: str, key: Hashable) -> bool:
    """Whether ``kept_in_session(name, key, …)`` would return at once: a page that blanks its results while they are
    made asks before making them."""
    return key in st.session_state.get(name, {})


def kept_in_session(name: str, key: Hashable, make: Callable[[], T], keep: int = 4) -> T:
    """``make()`` for ``key``, kept in this session's ``name`` beside the last few others: moving a control the
    result does not depend on (γ, λ, the target) redraws without making it again, and coming back to a setting
    just left finds it."""
    memo = st.session_state.setdefault(name, {})
    if key not in memo:
        memo[key] = make()
        while len(memo) > keep:  # a few to come back to, not every one ever tried
            memo.pop(next(iter(memo)))
    return memo[key]
