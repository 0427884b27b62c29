"""The CPUs this process may use, TensorFlow's thread count to match them, and glibc's heaps and mappings.

A server on a shared CPU (Streamlit Community Cloud, a container) sees all the host's cores but may be held by a
cgroup quota to a fraction of them. TensorFlow starts one thread per core it sees; under a quota of half a CPU its
two threads and the engine's two chunks in flight took 7–10 % longer for 10,000 stimuli than one thread each, and
8 % longer at one CPU (LeNet, `bench/results/threads_under_quota_oneoff.log`). At 1.5 CPUs, and on whole cores, one
thread is 40–100 % slower, so the count is the allowed CPUs rounded up, and changes only under a quota. No
TensorFlow import here: the environment must be set before TensorFlow starts.

A server runs each rerun in a new thread, and glibc gives threads heaps of their own (up to 8 per core): memory
freed in one stays with it. Held to two, the server of one A/B of two soaks on the same walks stayed 36–231 MB
smaller (median 109) at no cost in speed; but the next such run of the same code read as high as the default did,
so the gain is within the ~100 MB that two runs differ by (`bench/results/soak_heaps_ab_oneoff.log`). It stays:
it costs nothing and bounds the heaps a long day's threads can spread over.

glibc also raises its mmap threshold (128 KB at start) to every mapped block freed, up to 32 MB, so a server's noise
chunks and network activations soon come from the heap, and freed space between long-lived blocks stays there. Kept
at 128 KB, two soaks on the same walks ended an hour with 133 against 575 MB free but kept and RSS 306 MB lower (peak
1,769 against 2,152 MB), for 1–3 % more time in the engine alone (`bench/results/soak_mmap_threshold_ab_oneoff.log`)
and about 4 % in the browser (`ab_mmap_threshold_oneoff.log`); likely the page faults of arrays mapped afresh.
"""

from __future__ import annotations

import ctypes
import math
import os
from collections.abc import MutableMapping
from pathlib import Path

#: TensorFlow reads these when it starts its thread pools; a value already set (by the user) is kept.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
_CHOSEN_HERE: set[str] = set()  # the variables ``fit_tensorflow_to_the_cpus`` set in this process's environment


def cgroup_cpus(controllers: str, path: str, mounts: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPUs one line of ``/proc/self/cgroup`` allows (its quota over its period), or None without a quota."""
    relative = path.lstrip("/")
    if controllers == "":  # cgroup v2: cpu.max holds "max 100000" or "50000 100000"
        for root in (mounts, mounts / "unified"):
            limit = Path(root, relative, "cpu.max")
            if limit.exists():
                quota, period = limit.read_text().split()
                return None if quota == "max" else float(quota) / float(period)
    elif "cpu" in controllers.split(","):  # cgroup v1, mounted as "cpu" or "cpu,cpuacct"
        for mount in (controllers, "cpu"):
            folder = Path(mounts, mount, relative)
            if (folder / "cpu.cfs_quota_us").exists():
                quota = float((folder / "cpu.cfs_quota_us").read_text())
                return quota / float((folder / "cpu.cfs_period_us").read_text()) if quota > 0 else None
    return None


def available_cpus(cgroups: Path = Path("/proc/self/cgroup"), mounts: Path = Path("/sys/fs/cgroup")) -> float:
    """The CPUs this process and its children may use: its affinity, capped by its cgroups' CPU quotas."""
    try:
        lines = cgroups.read_text().splitlines()
    except OSError:  # not Linux, or no /proc: the affinity alone
        lines = []
    quotas = [cgroup_cpus(*line.split(":", 2)[1:], mounts) for line in lines if line.count(":") >= 2]
    return min([float(len(os.sched_getaffinity(0))), *(q for q in quotas if q is not None)])


def tensorflow_threads(cpus: float, cores: int) -> int | None:
    """TensorFlow's thread count for ``cpus`` allowed on ``cores`` seen: the allowed CPUs rounded up under a quota
    (measured: one thread at 0.5 and 1.0 CPU, two at 1.5, where one took 40 % longer), None (TensorFlow's own
    default, one per core) without one."""
    return None if cpus >= cores else max(1, math.ceil(cpus - 1e-9))


def fit_tensorflow_to_the_cpus(environ: MutableMapping[str, str] = os.environ,
                               cgroups: Path = Path("/proc/self/cgroup"),
                               mounts: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Set TensorFlow's thread counts for this process's CPU quota, unless already set; the count, or None."""
    if not hasattr(os, "sched_getaffinity"):  # macOS, Windows: no cgroups, TensorFlow's default
        return None
    threads = tensorflow_threads(available_cpus(cgroups, mounts), len(os.sched_getaffinity(0)))
    if threads is not None:
        for name in THREAD_VARIABLES:
            if name not in environ:
                environ[name] = str(threads)
                if environ is os.environ:
                    _CHOSEN_HERE.add(name)
    return threads


#: OpenBLAS reads this when it loads (scipy's, loaded later); numpy's, already loaded, is set through threadpoolctl.
BLAS_VARIABLE = "OPENBLAS_NUM_THREADS"
#: Any of these set by the user is their choice of BLAS threads, kept (OpenBLAS also reads OMP's and GOTO's).
USER_BLAS_VARIABLES = (BLAS_VARIABLE, "OMP_NUM_THREADS", "GOTO_NUM_THREADS", "MKL_NUM_THREADS")


def user_blas_threads(environ: MutableMapping[str, str] = os.environ) -> int | None:
    """The BLAS thread count the user set (not this process), if any."""
    for name in USER_BLAS_VARIABLES:
        if name in environ and not (environ is os.environ and name in _CHOSEN_HERE):
            try:
                return max(1, int(environ[name]))
            except ValueError:
                continue
    return None


def one_blas_thread(environ: MutableMapping[str, str] = os.environ) -> bool:
    """numpy's and scipy's BLAS to one thread, unless the user chose a count; whether this set it.

    After a product its threads spin for a while waiting for the next, on the cores TensorFlow needs: one 10 × 784
    by 784 × 784 product between two chunks (the Stein kernel's Σ, once per chunk) made the next AlexNet gradient
    chunk take 116 ms instead of 68; a 200-stimulus gradient run took 186–214 ms against 150–182 with one thread,
    10,000 black-box stimuli 4–6 % longer (``bench/results/blas_threads_oneoff.log``). numpy's products here are
    small; the model's pass has TensorFlow's threads."""
    if any(name in environ for name in USER_BLAS_VARIABLES):
        return False
    environ[BLAS_VARIABLE] = "1"
    if environ is os.environ:
        _CHOSEN_HERE.add(BLAS_VARIABLE)
        import numpy  # noqa: F401 - its BLAS loaded, so the limit below reaches it

        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # an environment from before it was required: numpy keeps its threads, nothing breaks
            return True
        threadpool_limits(1, user_api="blas")
    return True


def environment_for_a_child() -> dict[str, str]:
    """This process's environment without the thread counts it chose for itself: a server started by a bench
    may run under another quota (the slow-machine emulations hold the server, not the bench), and must choose its
    own; counts the user set are passed on."""
    return {name: value for name, value in os.environ.items() if name not in _CHOSEN_HERE}


MALLOC_ARENAS = 2  # glibc's heaps at most; it makes up to 8 per core, one per thread that meets a locked one
_M_ARENA_MAX = -8  # mallopt's number for it (malloc.h)


def _mallopt(option: int, value: int) -> bool:
    """glibc's ``mallopt``; False where it refused, or on another C library (macOS, musl)."""
    try:
        return bool(ctypes.CDLL(None).mallopt(option, value))
    except (OSError, AttributeError):
        return False


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS, environ: MutableMapping[str, str] = os.environ) -> bool:
    """Hold glibc to ``arenas`` heaps from now on, unless the user set ``MALLOC_ARENA_MAX``; whether it was done
    (not on another C library). A server runs every rerun in a new thread: each may take a heap of its own, and
    memory freed in one is kept there for that heap only."""
    return "MALLOC_ARENA_MAX" not in environ and _mallopt(_M_ARENA_MAX, arenas)


MMAP_THRESHOLD = 128 * 1024  # bytes: glibc's own starting value, kept from then on
_M_MMAP_THRESHOLD = -3  # mallopt's number for it (malloc.h)


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD, environ: MutableMapping[str, str] = os.environ) -> bool:
    """Give every block of ``threshold`` bytes or more its own mapping, returned to the system when freed, unless
    the user set ``MALLOC_MMAP_THRESHOLD_``; whether it was done. glibc starts there but raises the threshold to
    each mapped block freed (up to 32 MB): after the first chunks, arrays up to the largest freed so far come from
    the heap, where long-lived ones among them keep the freed space around them from going back."""
    return "MALLOC_MMAP_THRESHOLD_" not in environ and _mallopt(_M_MMAP_THRESHOLD, threshold)
