"""What a benchmark run measured: the exact command and the commit of the code, printed with every result."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def core_version() -> str:
    """The commit the measured code comes from, flagged when core/ has uncommitted edits."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "core"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return head + (" + uncommitted changes in core/" if dirty else "")


def command_line(script: str) -> str:
    """The command that reproduces this run, data folder included."""
    env = os.environ.get("NOISELENS_DATA_DIR")
    prefix = f"NOISELENS_DATA_DIR={shlex.quote(env)} " if env else ""
    words = [os.path.relpath(script, os.getcwd()), *sys.argv[1:]]
    return prefix + "python " + " ".join(shlex.quote(a) for a in words)
