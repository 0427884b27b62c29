"""Server-side timestamps for ``bench/cloud_timeline.py``: when a script run, each chunk and each picture begin
and end, in wall-clock seconds (``time.time``, the clock the browser's ``Date.now`` reads on the same machine).

Python imports this file at start-up when its folder is on ``PYTHONPATH``; only if ``NOISELENS_TIMELINE`` names a
file does it do anything: a thread waits for the app's modules to be imported, then wraps four functions, each
call appending one line ``event start end detail``. The wrappers cost a few microseconds a call.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time

_WANTED = ("core.reverse_correlation", "core.plots_live", "core.pacing", "streamlit.runtime.scriptrunner.script_runner")


def _timed(log, event: str, function, detail=lambda args, result: ""):
    """``function`` logging each call as ``event`` with ``detail(args, result)``; a detail of None logs nothing."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.time()
        result = function(*args, **kwargs)
        log(event, start, detail(args, result))
        return result
    return wrapper


def _install(path: str) -> None:
    lock, out = threading.Lock(), open(path, "a", buffering=1)

    def log(event: str, start: float, detail: str | None) -> None:
        if detail is not None:
            with lock:
                out.write(f"{event} {start:.4f} {time.time():.4f} {detail}\n")

    while not all(name in sys.modules for name in _WANTED):
        time.sleep(0.05)
    time.sleep(0.5)  # the modules' own imports finish
    analyzer = sys.modules["core.reverse_correlation"].Analyzer
    analyzer._chunk_sums = _timed(log, "chunk", analyzer._chunk_sums, lambda a, _: f"{a[2]} {a[3]}")
    pacing = sys.modules["core.pacing"].RedrawPacing
    pacing.draw_if_due = _timed(log, "partial", pacing.draw_if_due,  # a call that drew nothing is no event
                                 lambda a, drawn: f"{a[1]}" if drawn else None)
    live = sys.modules["core.plots_live"]
    live.picture_html = _timed(log, "picture", live.picture_html, lambda a, _: f"{a[1]} {a[2]}")
    runner = sys.modules["streamlit.runtime.scriptrunner.script_runner"].ScriptRunner
    runner._run_script = _timed(log, "script", runner._run_script)


if os.environ.get("NOISELENS_TIMELINE"):
    threading.Thread(target=_install, args=(os.environ["NOISELENS_TIMELINE"],), name="timeline", daemon=True).start()
