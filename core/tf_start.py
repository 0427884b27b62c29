"""TensorFlow's start-up notes, held back where they hide a command's own lines.

TensorFlow 2.21 writes "oneDNN custom operations are on" and absl's "All log messages before
absl::InitializeLog() is called are written to STDERR" (twice each) to stderr while it is imported, before the
logging that ``TF_CPP_MIN_LOG_LEVEL`` sets up exists, so that setting no longer hides them. The command line
imports TensorFlow through :func:`import_tensorflow_quietly`, which drops such notes and passes every other line
of stderr on.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tempfile
from collections.abc import Mapping

# An absl INFO line (I + month and day, e.g. "I0000 00:00:…") and the notice absl puts before such early lines.
_INFO_LINE = re.compile(r"^I\d{4} ")
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def start_up_notes_hidden(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the user asked TensorFlow for no INFO lines (``TF_CPP_MIN_LOG_LEVEL`` 1 or more; core sets 2)."""
    level = environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip()
    return level.isdigit() and int(level) >= 1


def kept_lines(text: str) -> str:
    """``text`` without absl's early INFO lines and its notice about them; every other line as it was."""
    lines = text.splitlines(keepends=True)
    return "".join(line for line in lines if not (_INFO_LINE.match(line) or line.rstrip("\n") == _ABSL_NOTICE))


def import_quietly(module: str) -> None:
    """Import ``module`` with file descriptor 2 caught (C++ writes there, past ``sys.stderr``), then write what it
    wrote, less the start-up notes, to stderr; a failed import's traceback still reaches the user."""
    if module in sys.modules or not start_up_notes_hidden():
        importlib.import_module(module)
        return
    with tempfile.TemporaryFile() as caught:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            importlib.import_module(module)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            sys.stderr.write(kept_lines(caught.read().decode(errors="replace")))
            sys.stderr.flush()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without its start-up notes (see the module's docstring)."""
    import_quietly("tensorflow")
