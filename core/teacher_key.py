"""The teacher key: who may change what every session on a shared server sees (the cached models).

The deployer sets a key in Streamlit's secrets (``teacher_key``) or in the environment variable
``NOISELENS_TEACHER_KEY``; a visitor who types it may replace or restore a server-wide model, and everyone else
trains only for their own session. With no key configured nobody changes server-wide models from the app; the
command line (``python -m core train``) stays the tool of whoever owns the machine and its files.

The connection's address is deliberately not used to guess a local owner: behind Streamlit Community Cloud's
proxy, or any reverse proxy, every connection arrives from 127.0.0.1 and would look local.

The key is a secret: nothing here logs, formats or returns it except ``configured_key`` to its caller, and the
UI must never echo it back (use a password field, and do not put it in the URL or in session-visible text).
"""

from __future__ import annotations

import hmac
import os
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

TEACHER_KEY_ENV = "NOISELENS_TEACHER_KEY"
SECRETS_NAME = "teacher_key"  # the name the UI reads in st.secrets

WRONG_KEYS_PER_WINDOW = 5  # wrong keys the whole server takes in any window of WRONG_KEY_WINDOW seconds
WRONG_KEY_WINDOW = 60.0  # seconds: 5 a minute is 7,200 guesses a day, where a script could try thousands a minute


def configured_key(secrets_value: Any | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The key in force: the secrets value, else the environment variable; empty or blank means none.

    A number written unquoted in secrets.toml (``teacher_key = 1234``) counts as its digits, so the deployer's
    key works as typed rather than silently disabling the teacher controls.
    """
    env = os.environ if environ is None else environ
    for candidate in (secrets_value, env.get(TEACHER_KEY_ENV)):
        text = _as_text(candidate)
        if text:
            return text
    return None


def key_matches(given: Any, configured: str | None) -> bool:
    """Whether a typed key equals the configured one, compared in constant time; False when none is configured.

    Both sides are trimmed (a pasted key often brings a newline) and NFC-normalised (the same accented letter can
    arrive composed or decomposed). Never raises: odd input, such as a lone surrogate, just does not match.
    """
    expected = _as_text(configured)
    offered = _as_text(given)
    if not expected or offered is None:
        return False
    try:
        return hmac.compare_digest(offered.encode("utf-8"), expected.encode("utf-8"))
    except (UnicodeError, TypeError, ValueError):
        return False


def _as_text(value: Any) -> str | None:
    """A trimmed, NFC-normalised string, or None for anything that is not text (or a plain number) or is blank."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


class WrongKeyBudget:
    """At most ``most`` wrong keys in any ``window`` seconds, counted over the whole server, not per visitor.

    A new tab is a new session, so a limit per session stops nobody who scripts guesses. While the budget is spent
    no key is compared at all, the right one included (answering "right" then would let guessing go on); a teacher
    who was already let in stays in (the page remembers the verdict for the key in the field). A dozen lines, kept
    here rather than a rate-limit package: those run timer threads and read the wall clock.
    """

    def __init__(self, most: int = WRONG_KEYS_PER_WINDOW, window: float = WRONG_KEY_WINDOW,
                 clock: Callable[[], float] = time.monotonic):
        self.most, self.window, self._clock = most, window, clock
        self._wrong: deque[float] = deque()  # times of the wrong keys still inside the window
        self._lock = threading.Lock()  # every session's thread checks keys against the one budget

    def wait_seconds(self) -> float:
        """Seconds until a key may be compared again; 0 when it may be now."""
        with self._lock:
            now = self._clock()
            self._drop_old(now)
            return 0.0 if len(self._wrong) < self.most else self._wrong[0] + self.window - now

    def take(self) -> float | None:
        """Reserve a wrong key's place before comparing a key, so two sessions cannot both take the last one (a
        review compared 41 keys against a budget of 5 when the comparison let other threads in): its token, or
        None when the budget is spent. ``give_back`` it if the key was right."""
        with self._lock:
            now = self._clock()
            self._drop_old(now)
            if len(self._wrong) >= self.most:
                return None
            self._wrong.append(now)
            return now

    def give_back(self, token: float) -> None:
        with self._lock:
            if token in self._wrong:
                self._wrong.remove(token)

    def _drop_old(self, now: float) -> None:
        while self._wrong and self._wrong[0] <= now - self.window:
            self._wrong.popleft()

    def clear(self) -> None:
        with self._lock:
            self._wrong.clear()


WRONG_KEYS = WrongKeyBudget()
"""The server's one budget of wrong teacher keys (every session checks keys in this process)."""
