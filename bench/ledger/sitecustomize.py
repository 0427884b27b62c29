"""A memory ledger inside a Streamlit server started by ``bench/soak.py --ledger``: where its RSS goes, over a day.

RSS alone cannot say whether a long-lived server's growth is Python and NumPy data still referenced (a cache that
fills, sessions that stay), glibc's free-but-kept heap, or native memory outside it (TensorFlow's pools, graphs).
Python imports this file at start-up when its folder is on ``PYTHONPATH``; if ``NOISELENS_LEDGER`` names a file
and the process is the Streamlit server, it starts ``tracemalloc`` and a thread that appends, every
``NOISELENS_LEDGER_SECONDS`` (60), one JSON line: RSS, glibc's ``mallinfo2`` (in use, free, mmapped), the bytes
``tracemalloc`` traces (Python objects and NumPy arrays, by the line that allocated them), TensorFlow's CPU
allocator, live sessions and threads; and, from the second line on, the twelve allocation sites (the first frame
in this project, else the first frame) whose traced bytes grew most since the first line. Tracing costs: each
snapshot stops the server for seconds and holds hundreds of MB while it is read; ``NOISELENS_LEDGER_TRACE=0``
keeps only the figures that cost nothing (RSS, glibc's heap, TensorFlow's allocator, sessions).
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
import time
import tracemalloc

FRAMES = 6
GROWERS = 12


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]


def _glibc_heap() -> dict[str, int]:
    """glibc's own account: bytes handed out (in use), free but kept in its arenas, and in its own mmaps."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {"malloc_in_use": info.uordblks + info.hblkhd, "malloc_free_kept": info.fordblks,
            "malloc_mmapped": info.hblkhd}


def _resident() -> dict[str, int]:
    """RSS, and its anonymous part (heaps, pools) apart from mapped files (the libraries' code)."""
    fields = {"VmRSS": "rss", "RssAnon": "rss_anon", "RssFile": "rss_file"}
    resident = {}
    with open("/proc/self/status") as status:
        for row in status:
            name, _, value = row.partition(":")
            if name in fields:
                resident[fields[name]] = int(value.split()[0]) * 1024
    return resident


def _site(frames: tuple, root: str) -> str:
    """The allocation's first frame in this project (what holds it), else its innermost frame."""
    for filename, lineno in frames:
        if filename.startswith(root):
            return f"{os.path.relpath(filename, root)}:{lineno}"
    filename, lineno = frames[0]
    return f"{filename.rsplit('site-packages/', 1)[-1]}:{lineno}"


def _by_site(snapshot: tracemalloc.Snapshot, root: str) -> dict[str, int]:
    """Traced bytes per allocation site. Reads the snapshot's raw tuples (domain, size, frames, …): its ``Trace``
    objects are built one by one and take a minute for the ~2 million allocations a warm server holds."""
    sizes: dict[str, int] = {}
    sites: dict[int, str] = {}  # tracemalloc shares one frames tuple between equal tracebacks
    for raw in snapshot.traces._traces:
        frames = raw[2]
        if frames[0][0] == __file__:
            continue  # the ledger's own working memory
        site = sites.get(id(frames))
        if site is None:
            site = sites[id(frames)] = _site(frames, root)
        sizes[site] = sizes.get(site, 0) + raw[1]
    return sizes


def _sessions_and_threads() -> dict[str, int]:
    counts = {"threads": threading.active_count()}
    runtime = sys.modules.get("streamlit.runtime")
    if runtime is None or not runtime.Runtime.exists():
        return counts
    try:
        sessions = runtime.Runtime.instance()._session_mgr
        counts["sessions"] = len(sessions.list_sessions())  # kept for reconnecting too: up to 128, for 2 minutes
        counts["connected"] = len(sessions.list_active_sessions())
    except AttributeError:  # Streamlit's internals moved: the ledger goes on without
        pass
    return counts


def _tensorflow_allocator() -> dict[str, int]:
    module = sys.modules.get("tensorflow")
    if module is None:
        return {}
    try:
        info = module.config.experimental.get_memory_info("CPU:0")
    except Exception:  # not every build reports the CPU allocator
        return {}
    return {"tf_current": info["current"], "tf_peak": info["peak"]}


def _write(path: str, seconds: float, root: str) -> None:
    started = time.time()
    first: dict[str, int] | None = None
    while True:
        time.sleep(seconds)
        # The process's own figures first: a snapshot holds a tuple per allocation (hundreds of MB) until dropped.
        line = {"minute": round((time.time() - started) / 60, 1), **_resident(), **_glibc_heap(),
                **_tensorflow_allocator(), **_sessions_and_threads()}
        if tracemalloc.is_tracing():
            sites = _by_site(tracemalloc.take_snapshot(), root)
            line.update(traced=sum(sites.values()), tracemalloc_itself=tracemalloc.get_tracemalloc_memory())
            if first is None:
                first = sites
            else:
                growth = {site: size - first.get(site, 0) for site, size in sites.items()}
                line["grew_most"] = sorted(([site, size] for site, size in growth.items() if size > 0),
                                           key=lambda pair: -pair[1])[:GROWERS]
        with open(path, "a") as ledger:
            ledger.write(json.dumps(line) + "\n")


def _start() -> None:
    path = os.environ.get("NOISELENS_LEDGER")
    with open("/proc/self/cmdline", "rb") as cmdline:
        command = cmdline.read().split(b"\0")
    if not path or b"streamlit" not in command or b"run" not in command:
        return
    if os.environ.get("NOISELENS_LEDGER_TRACE", "1") != "0":  # "0": RSS and glibc's heap only, at no cost
        tracemalloc.start(FRAMES)
    root = os.path.abspath(os.getcwd()) + os.sep
    seconds = float(os.environ.get("NOISELENS_LEDGER_SECONDS", "60"))
    threading.Thread(target=_write, args=(path, seconds, root), daemon=True, name="memory-ledger").start()


_start()
