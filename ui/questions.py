"""Predict, then reveal: a lesson question before the figure that answers it, the measured answer beside the
student's, and how the class answered (server-wide counts, nothing about who answered)."""

from __future__ import annotations

import secrets

import pandas as pd
import streamlit as st

from core import lesson, plots_lesson
from core.lesson import Question
from ui import training
from ui.frame import draw_chart, on_a_phone


@st.cache_resource
def tally() -> lesson.AnswerTally:
    """The answers of every session on this server (counts only)."""
    return lesson.AnswerTally()


def ask(question: Question, options: tuple[str, ...], key: str) -> bool:
    """The question, before the figure that answers it; True once the student answered or asked to be shown.

    The first answer is the session's: it is counted once, and the question gives way to it.
    """
    token = st.session_state.setdefault("_lesson_token", secrets.token_hex(8))  # opaque, per tab, never shown

    shown = bool(st.session_state.get(f"shown-{key}"))

    def answered() -> None:
        choice = st.session_state.get(f"answer-{key}")
        if choice is not None and f"said-{key}" not in st.session_state and not shown:
            st.session_state[f"said-{key}"] = choice
            tally().record(key, token, choice, len(options))

    said = st.session_state.get(f"said-{key}")
    if said is None and not shown:
        # Pills, not a radio: a radio takes the option an arrow key moves to, so a keyboard user's first arrow
        # was their prediction; between pills the arrows move the focus and Space or Enter chooses
        st.pills(f"**Predict first.** {question.prompt}", range(len(options)), format_func=lambda i: options[i],
                 key=f"answer-{key}", on_change=answered)
        st.button("Just show me", key=f"show-{key}", on_click=lambda: st.session_state.update({f"shown-{key}": True}))
    elif said is None:  # the radio stayed under the answer, and a "prediction" made after it counted as right
        st.markdown(f"**{question.prompt}**  \nShown without a prediction: not counted in everyone's answers.")
    else:
        st.markdown(f"**{question.prompt}**  \nYour prediction: **{options[said]}**")
    return said is not None or shown


def verdict(question: Question, options: tuple[str, ...], key: str, right: int, measured: str) -> None:
    """The measured answer beside the student's."""
    choice = st.session_state.get(f"said-{key}")
    if choice is None:
        st.info(f"Measured: **{options[right]}**. {measured}")
    elif choice == right:
        st.success(f"You said **{options[choice]}**, and so says the measurement. {measured}")
    else:
        st.warning(f"You said **{options[choice]}**; measured: **{options[right]}**. {measured}")


def how_the_class_answered(question: Question, options: tuple[str, ...], key: str, right: int | None) -> None:
    with st.expander("How everyone answered"):  # not "the class": a class is a digit here
        counts = tally().counts(key, len(options))
        draw_chart(plots_lesson.answers_bar(counts, options, right, phone=on_a_phone()), key=f"answers-{key}")
        total = int(counts.sum())
        if right is None:
            measured = "The measured answer is shown after yours."
        elif counts[right]:
            measured = f"The measured answer, *{options[right]}*, is the green bar marked ✓."
        else:  # a green bar of length zero shows nothing
            measured = f"Nobody has chosen the measured answer yet: *{options[right]}*."
        st.caption(f"{total} answer{'' if total == 1 else 's'} from the sessions on this server (one per browser "
                   f"tab; counts only, nothing about who answered). {measured}")
        table = pd.DataFrame({"choice": options, "answers": counts})
        st.download_button("CSV of the answers", table.to_csv(index=False), f"lesson-{key.replace('/', '-')}.csv",
                           "text/csv", key=f"answers-csv-{key}", on_click="ignore")
        new_round(key)


def new_round(key: str) -> None:
    """Clearing a question's answers for every session is a server-wide change: it takes the teacher key."""
    if training.teacher_key() is None:
        st.caption("The counts last until the server restarts. With a teacher key set (README), the teacher can "
                   "clear them here for a new class.")
        return
    given = st.text_input("Teacher key, to clear these answers for a new class", type="password",
                          key="teacher-key")
    if given and training.teacher_unlocked(given):
        st.button("Clear these answers", key=f"clear-{key}", on_click=lambda: tally().clear(key))


