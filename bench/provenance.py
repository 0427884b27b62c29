"""What a benchmark run measured: the exact command and the commit of the code, printed with every result."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def core_version(root: Path = ROOT) -> str:
    """The commit the measured code comes from (this checkout, or ``root``), flagged when core/ has uncommitted
    edits."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "core"], cwd=root, capture_output=True,
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


def gemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    """float32 matrix product speed of this machine through numpy (best of ``repeats``): printed beside every
    timing, so figures from a fast and a slow machine can be compared."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from core.cpus import user_blas_threads

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    # every core this process may use (a user's own count kept), as measured before the engine's process held
    # numpy's BLAS to one thread (core/cpus.py)
    threads = user_blas_threads() or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                      else os.cpu_count())
    with threadpool_limits(threads, user_api="blas"):
        a @ b
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def machine_line() -> str:
    """Cores, GEMM speed and load average, in one line."""
    return (f"machine: {os.cpu_count()} cores, float32 GEMM (numpy, 2048²) {gemm_gflops():.1f} GFLOP/s, "
            f"load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
