"""TensorFlow's thread count follows the CPU quota a shared cloud CPU imposes, and only that."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cpus import THREAD_VARIABLES, available_cpus, cgroup_cpus, fit_tensorflow_to_the_cpus, tensorflow_threads


def test_the_allowed_cpus_rounded_up_under_a_quota_and_the_default_without() -> None:
    assert tensorflow_threads(0.5, 2) == 1  # Community Cloud-like: half a CPU of a 2-core host
    assert tensorflow_threads(0.1, 8) == 1
    assert tensorflow_threads(1.0, 2) == 1
    assert tensorflow_threads(1.5, 2) == 2  # one thread took 40 % longer there
    assert tensorflow_threads(3.0, 4) == 3
    assert tensorflow_threads(2.5, 8) == 3
    assert tensorflow_threads(2.0, 2) is None  # whole cores: TensorFlow's own one per core
    assert tensorflow_threads(4.0, 2) is None  # a quota above the cores changes nothing


def half_a_cpu(tmp_path: Path) -> tuple[Path, Path]:
    """A /proc/self/cgroup and a cgroup v1 mount holding the process to half a CPU, as the slow-machine
    emulation's ``cpu.cfs_quota_us`` 5000 / ``cpu.cfs_period_us`` 10000 does."""
    folder = tmp_path / "mounts" / "cpu,cpuacct" / "slow"
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text("5000\n")
    (folder / "cpu.cfs_period_us").write_text("10000\n")
    cgroups = tmp_path / "cgroup"
    cgroups.write_text("4:memory:/other\n2:cpu,cpuacct:/slow\n0::/\n")
    return cgroups, tmp_path / "mounts"


def test_under_half_a_cpu_tensorflow_gets_one_thread_unless_the_user_chose(tmp_path: Path) -> None:
    cgroups, mounts = half_a_cpu(tmp_path)
    assert available_cpus(cgroups, mounts) == 0.5
    environ: dict[str, str] = {}
    assert fit_tensorflow_to_the_cpus(environ, cgroups, mounts) == 1
    assert environ == {name: "1" for name in THREAD_VARIABLES}
    chosen = {"TF_NUM_INTRAOP_THREADS": "2"}
    fit_tensorflow_to_the_cpus(chosen, cgroups, mounts)
    assert chosen["TF_NUM_INTRAOP_THREADS"] == "2"  # the user's setting stands


def test_without_a_quota_tensorflow_keeps_its_default(tmp_path: Path) -> None:
    cgroups, mounts = half_a_cpu(tmp_path)
    (mounts / "cpu,cpuacct" / "slow" / "cpu.cfs_quota_us").write_text("-1\n")
    assert available_cpus(cgroups, mounts) == len(os.sched_getaffinity(0))
    environ: dict[str, str] = {}
    assert fit_tensorflow_to_the_cpus(environ, cgroups, mounts) is None and environ == {}
    assert available_cpus(tmp_path / "no such file", mounts) == len(os.sched_getaffinity(0))


def test_a_server_started_by_a_bench_chooses_its_own_thread_count(monkeypatch) -> None:
    """The emulations hold the server, not the bench, to half a CPU: a count this process chose is not passed on
    to a child; one the user set is."""
    from core import cpus

    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "recorded")  # so that the count set below is undone afterwards:
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS")  # a later test's server must not inherit it
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "3")  # the user's
    monkeypatch.setattr(cpus, "_CHOSEN_HERE", set())
    monkeypatch.setattr(cpus, "available_cpus", lambda cgroups, mounts: 0.5)
    assert fit_tensorflow_to_the_cpus() == 1
    assert os.environ["TF_NUM_INTRAOP_THREADS"] == "1" and os.environ["TF_NUM_INTEROP_THREADS"] == "3"
    child = cpus.environment_for_a_child()
    assert "TF_NUM_INTRAOP_THREADS" not in child and child["TF_NUM_INTEROP_THREADS"] == "3"


def test_the_cpu_quota_of_a_cgroup_is_read_in_v1_and_v2(tmp_path: Path) -> None:
    """A cgroup quota (v1 or v2) is read as the CPUs it allows: the app's thread count follows it, and the
    slow-machine emulation's least time for the CPU spent is taken on that half CPU, not on the machine's two."""
    slow = tmp_path / "cpu" / "noiselens_slow"
    slow.mkdir(parents=True)
    (slow / "cpu.cfs_quota_us").write_text("5000\n")
    (slow / "cpu.cfs_period_us").write_text("10000\n")
    assert cgroup_cpus("cpu", "/noiselens_slow", tmp_path) == 0.5
    (slow / "cpu.cfs_quota_us").write_text("-1\n")  # no quota
    assert cgroup_cpus("cpu", "/noiselens_slow", tmp_path) is None
    unified = tmp_path / "unified" / "slow"
    unified.mkdir(parents=True)
    (unified / "cpu.max").write_text("50000 100000\n")
    assert cgroup_cpus("", "/slow", tmp_path) == 0.5
    (unified / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpus("", "/slow", tmp_path) is None
    assert cgroup_cpus("memory", "/slow", tmp_path) is None


HEAPS_OF_EIGHT_THREADS = """
import ctypes, sys, threading
{before}
barrier = threading.Barrier(9)
def hold() -> None:
    kept = [bytearray(4096) for _ in range(100)]  # malloc from this thread: glibc gives it a heap
    barrier.wait()
    barrier.wait()
threads = [threading.Thread(target=hold) for _ in range(8)]
for thread in threads:
    thread.start()
barrier.wait()
sys.stderr.flush()
ctypes.CDLL(None).malloc_stats()  # one "Arena n:" block per heap, on stderr
barrier.wait()
"""


def fresh_python(script: str, environ: dict[str, str] | None, unset: str) -> subprocess.CompletedProcess:
    """``script`` in a fresh process (glibc's settings are per process), in ``environ`` or in ours without
    ``unset``, the variable under test."""
    from core.config import PROJECT_ROOT

    return subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT,
                          env=environ or {k: v for k, v in os.environ.items() if k != unset},
                          capture_output=True, text=True, timeout=60, check=True)


def heaps_of_eight_threads(before: str, environ: dict[str, str] | None = None) -> int:
    """glibc's heaps in a fresh process after eight threads have each allocated and are all still alive."""
    done = fresh_python(HEAPS_OF_EIGHT_THREADS.format(before=before), environ, "MALLOC_ARENA_MAX")
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_the_server_holds_glibc_to_two_heaps_unless_the_user_chose() -> None:
    """Every rerun runs in a thread of its own: without the limit glibc gives threads heaps of their own (here up
    to 8 per core), each keeping the memory freed in it. Importing core sets the limit; a user's
    MALLOC_ARENA_MAX is left to glibc."""
    from core.cpus import limit_malloc_arenas

    assert heaps_of_eight_threads("") >= 5
    assert heaps_of_eight_threads("import core") <= 2
    assert heaps_of_eight_threads("import core", {**os.environ, "MALLOC_ARENA_MAX": "4"}) == 4
    assert not limit_malloc_arenas(environ={"MALLOC_ARENA_MAX": "4"})


MAPPED_AFTER_A_FREE = """
import ctypes
{before}
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
first = bytearray(1 << 20)  # mapped: over glibc's starting threshold of 128 KB
del first  # without a fixed threshold this raises glibc's to 1 MB
mapped = libc.mallinfo2().hblkhd
second = bytearray(1 << 20)
print(libc.mallinfo2().hblkhd - mapped >= 1 << 20)
"""


def mapped_after_a_free(before: str, environ: dict[str, str] | None = None) -> bool:
    """Whether a fresh process's second 1-MB block, allocated after the first was freed, has a mapping of its own."""
    done = fresh_python(MAPPED_AFTER_A_FREE.format(before=before), environ, "MALLOC_MMAP_THRESHOLD_")
    return done.stdout.strip() == "True"


def test_large_blocks_keep_mappings_of_their_own_unless_the_user_chose() -> None:
    """glibc raises its mmap threshold to every mapped block freed, so a server's arrays up to 32 MB soon come from
    the heap and strand freed space there; importing core keeps the threshold at 128 KB. A user's
    MALLOC_MMAP_THRESHOLD_ is left to glibc."""
    from core.cpus import fix_mmap_threshold

    assert not mapped_after_a_free("")
    assert mapped_after_a_free("import core")
    assert not mapped_after_a_free("import core", {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(4 << 20)})
    assert not fix_mmap_threshold(environ={"MALLOC_MMAP_THRESHOLD_": "65536"})


BLAS_THREADS = """
import numpy
{before}
import scipy.linalg  # a BLAS loaded after core: scipy's own
from threadpoolctl import threadpool_info
print(sorted(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"))
"""


def blas_threads(before: str, environ: dict[str, str] | None = None) -> list[int]:
    """The thread counts of numpy's and scipy's BLAS in a fresh process, numpy imported before ``before``."""
    return json.loads(fresh_python(BLAS_THREADS.format(before=before), environ, "OPENBLAS_NUM_THREADS").stdout)


def test_numpy_s_blas_gets_one_thread_beside_tensorflow_unless_the_user_chose() -> None:
    """Its threads spin after each product on the cores the next chunk needs (a 200-stimulus gradient run took 186
    ms against 150): importing core holds numpy's BLAS, loaded before it as in a Streamlit server, and scipy's,
    loaded after, to one thread; a user's OPENBLAS_NUM_THREADS is left alone."""
    from core.cpus import one_blas_thread

    if os.cpu_count() < 2:
        pytest.skip("one core: BLAS has one thread anyway")
    assert min(blas_threads("")) >= 2
    assert blas_threads("import core") == [1, 1]
    assert blas_threads("import core", {**os.environ, "OPENBLAS_NUM_THREADS": "2"}) == [2, 2]
    assert not one_blas_thread(environ={"OPENBLAS_NUM_THREADS": "3"})
    assert not one_blas_thread(environ={"OMP_NUM_THREADS": "2"})  # OpenBLAS reads it too (a review)
    chosen: dict[str, str] = {}
    assert one_blas_thread(environ=chosen) and chosen == {"OPENBLAS_NUM_THREADS": "1"}


def test_the_bench_s_gemm_figure_uses_every_core_in_a_process_that_holds_blas_to_one(monkeypatch) -> None:
    """The GEMM speed printed beside every timing compares machines: it is measured on every core, as before the
    engine's process held numpy's BLAS to one thread."""
    import threadpoolctl

    from bench.provenance import gemm_gflops

    asked = []
    real = threadpoolctl.threadpool_limits

    def spy(limits=None, user_api=None):
        asked.append((limits, user_api))
        return real(limits, user_api=user_api)

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", spy)
    assert gemm_gflops(size=256, repeats=1) > 0
    assert asked == [(len(os.sched_getaffinity(0)), "blas")]  # the cores it may use (taskset), not the host's
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's count is kept
    gemm_gflops(size=256, repeats=1)
    assert asked[-1] == (1, "blas")
