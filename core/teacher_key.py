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
import unicodedata
from collections.abc import Mapping
from typing import Any

TEACHER_KEY_ENV = "NOISELENS_TEACHER_KEY"
SECRETS_NAME = "teacher_key"  # the name the UI reads in st.secrets


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
