"""Where a redraw's time goes when the server has a slow CPU to itself, as on Streamlit Community Cloud.

    sudo NOISELENS_DATA_DIR=../shared/datasets python bench/cloud_timeline.py [--cpus 0.5] [--repeats 7]

The Streamlit server (and, in turns with its redraws, the network alone) runs in a cgroup v1 ``cpu`` group held
to ``--cpus`` CPUs; this process and headless Chromium run outside it, as each student's browser runs on the
student's machine. Needs root and ``/sys/fs/cgroup/cpu`` (cgroup v1); says so and stops otherwise.

Each round times the network alone on N stimuli (pure inference at batches of 1,024 and 4,096, the faster, in a
process kept in the group: TensorFlow there picks its threads from the group's quota, as the server does), then
one redraw after a new seed, in the browser as ``bench/dashboard.py`` times it (press to the first frame painted
after the picture made from all N stimuli). The ratio of the two, round by round, is the issue's figure without
the drift of a machine whose speed changes by ~10 % within minutes. Beside it, from the server: its CPU per
change split into TensorFlow's threads (the network, the noise, the sums) and the rest (Streamlit and the page's
Python), against the network alone's CPU; and from timestamps the server writes (``bench/timeline/``), how long
after the press its script and the first chunk started, and how soon after the last chunk the complete picture
left.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from bench.dashboard import AWAIT_DONE, WATCH_REDRAW, first_with  # noqa: E402
from bench.provenance import command_line, core_version, machine_line  # noqa: E402
from core.config import DATA_DIR_ENV  # noqa: E402
from tests.browser import chromium, streamlit_server, wait_until_idle  # noqa: E402

CGROUPS = Path("/sys/fs/cgroup/cpu")
GROUP = CGROUPS / "noiselens_bench"
PERIOD_US = 10_000
TIMELINE = Path(__file__).resolve().parent / "timeline"
PURE_NOISE = "&r=0.0&estimator=softmax&part=noise"


def join(group: Path, pid: int) -> None:
    """Move process ``pid`` (all its threads) into ``group``; its children from now on are born there."""
    (group / "cgroup.procs").write_text(str(pid))


def held_group(cpus: float) -> Path:
    GROUP.mkdir(exist_ok=True)
    (GROUP / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (GROUP / "cpu.cfs_quota_us").write_text(str(round(cpus * PERIOD_US)))
    return GROUP


def network_worker(arch: str, n: int) -> None:
    """In the group: this machine's GEMM speed there, then, for each line on stdin, the network alone's seconds
    and CPU-seconds on ``n`` stimuli (the faster batch)."""
    from bench.provenance import gemm_gflops
    from bench.speed import InferenceBench
    from core.store import load_model

    print(f"{gemm_gflops():.1f}", flush=True)
    model = load_model(arch, "mnist")[0]
    benches = [InferenceBench(model, batch) for batch in (1024, 4096)]
    for _ in sys.stdin:
        timed = []
        for bench in benches:
            wall, cpu = time.perf_counter(), time.process_time()
            seconds = n / bench.rate(n)  # rate(n) runs whole batches: scaled to n images, as bench/dashboard.py
            scale = seconds / (time.perf_counter() - wall)
            timed.append((seconds, scale * (time.process_time() - cpu)))
        print(*min(timed), flush=True)


def thread_cpu(process: psutil.Process) -> dict[bool, float]:
    """CPU-seconds so far of TensorFlow's threads (True) and of the others (False)."""
    spent = collections.Counter()
    for thread in process.threads():
        try:
            name = Path(f"/proc/{process.pid}/task/{thread.id}/comm").read_text().strip()
        except OSError:
            continue
        spent[name.startswith("tf_")] += thread.user_time + thread.system_time
    return spent


def events_between(path: Path, start: float, end: float) -> list[tuple[str, float, float, list[str]]]:
    rows = []
    for line in path.read_text().splitlines():
        event, began, ended, *detail = line.split()
        if start <= float(began) <= end:
            rows.append((event, float(began), float(ended), detail))
    return rows


def one_redraw(page, server: psutil.Process, timeline: Path) -> dict[str, float]:
    """A new seed: the browser's times, the server's CPU and its timestamps, seconds after the press."""
    page.evaluate(WATCH_REDRAW, True)
    before = thread_cpu(server)
    page.locator('[data-testid="stNumberInputStepUp"]').first.click()
    page.evaluate(AWAIT_DONE, 120_000)
    pressed, pictures, whole, shown = page.evaluate(
        "[window.noiseLensPressed, window.noiseLensPictures, window.noiseLensWhole, window.noiseLensShown]")
    complete = first_with(pictures, shown, whole, None)
    wait_until_idle(page, charts=4)
    after = thread_cpu(server)
    pressed, complete = pressed / 1000, complete / 1000
    events = events_between(timeline, pressed - 0.1, complete)
    chunks = [e for e in events if e[0] == "chunk"]
    sent = [e for e in events if e[0] == "picture" and e[3][0] == e[3][1]]  # the picture from all N stimuli
    return {
        "first": pictures[0] / 1000 - pressed, "complete": complete - pressed,
        "tensorflow_cpu": after[True] - before[True], "other_cpu": after[False] - before[False],
        "script_start": min(e[1] for e in events if e[0] == "script") - pressed,
        "first_chunk": min(e[1] for e in chunks) - pressed,
        "chunks": len(chunks),
        "sent_after_last_chunk": sent[0][2] - max(e[2] for e in chunks) if sent else float("nan"),
        "painted_after_sent": complete - sent[0][2] if sent else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpus", type=float, default=0.5, help="CPUs the server's group may use (default 0.5)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--archs", nargs="+", default=["lenet", "alexnet"], choices=["lenet", "alexnet"])
    parser.add_argument("--noises", nargs="+", default=["uniform", "gaussian"])
    parser.add_argument("--network-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.network_worker:
        return network_worker(args.network_worker, args.n)
    if not (CGROUPS / "cgroup.procs").exists() or os.geteuid() != 0:
        sys.exit(f"this bench needs root and cgroup v1's cpu controller at {CGROUPS}; neither is here")
    data_dir = os.environ.get(DATA_DIR_ENV) or sys.exit(f"set {DATA_DIR_ENV} to the datasets folder")
    print(f"$ {command_line(__file__)}")
    print(f"code: commit {core_version()}")
    print(machine_line())
    group = held_group(args.cpus)
    timeline = Path(tempfile.mkdtemp()) / "timeline.txt"
    timeline.touch()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TIMELINE), os.environ.get("PYTHONPATH")]))
    os.environ["NOISELENS_TIMELINE"] = str(timeline)
    with contextlib.ExitStack() as stack:
        join(group, os.getpid())  # the server and the network's workers are born in the group ...
        url, process = stack.enter_context(streamlit_server(data_dir))
        workers = {arch: subprocess.Popen([sys.executable, __file__, "--network-worker", arch, "--n", str(args.n)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                   for arch in args.archs}
        join(CGROUPS, os.getpid())  # ... this process and the browser are not
        for worker in workers.values():
            stack.callback(worker.kill)
        gemm = [float(worker.stdout.readline()) for worker in workers.values()]
        print(f"inside the group ({args.cpus} CPU): float32 GEMM {', '.join(f'{g:.1f}' for g in gemm)} GFLOP/s")
        server = psutil.Process(process.pid)
        page = stack.enter_context(chromium()).new_page(viewport={"width": 1400, "height": 1000})
        for arch in args.archs:
            for noise in args.noises:
                page.goto(f"{url}/class_images?n={args.n}&arch={arch}&noise={noise}{PURE_NOISE}")
                wait_until_idle(page, charts=4)
                rounds = []
                for k in range(args.repeats + 2):  # two warm-ups: the first runs trace the chunk sizes' graphs
                    workers[arch].stdin.write("go\n")
                    workers[arch].stdin.flush()
                    network, network_cpu = map(float, workers[arch].stdout.readline().split())
                    time.sleep(1.0)
                    redraw = one_redraw(page, server, timeline)
                    if k >= 2:
                        rounds.append({**redraw, "network": network, "network_cpu": network_cpu,
                                       "ratio": redraw["complete"] / network})
                report(arch, noise, args.n, rounds)
    print(machine_line().replace("machine:", "machine at the end:"))


def report(arch: str, noise: str, n: int, rounds: list[dict[str, float]]) -> None:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    ratios = ", ".join(f"{r['ratio']:.2f}" for r in rounds)

    print(f"{arch}, {noise} noise (r = 0, softmax), N = {n:,}, medians of {len(rounds)} rounds: network alone "
          f"{median('network'):.2f} s ({median('network_cpu'):.2f} CPU-s); complete picture {median('complete'):.2f} s"
          f" = {median('ratio'):.2f} × the network alone (rounds: "
          f"{ratios}); first picture {median('first'):.2f} s")
    print(f"  server CPU per change, press to idle: TensorFlow's threads {median('tensorflow_cpu'):.2f} CPU-s, the "
          f"rest {median('other_cpu'):.2f}; after the press its script started in "
          f"{1000 * median('script_start'):.0f} ms, the first chunk in {1000 * median('first_chunk'):.0f} ms; "
          f"{median('chunks'):.0f} chunks; the complete picture left {1000 * median('sent_after_last_chunk'):.0f} "
          f"ms after the last chunk and was painted {1000 * median('painted_after_sent'):.0f} ms later")


if __name__ == "__main__":
    main()
