"""Speed and memory of the white-noise analysis pipeline.

Run from the project root:

    NOISELENS_DATA_DIR=/work/shared/datasets python bench/speed.py [--quick]

Three measurements, all in one process so they share the machine's state:

1. Pipeline efficiency: images/s of ``Analyzer.run`` (noise generation + model + all sums) against the same
   model's pure inference (a ``tf.function`` around ``model(x, training=False)`` on a constant batch of 4096).
   Measurements are interleaved and repeated; the table shows the median and the best of the repeats, the ratio
   of the best (least disturbed) runs, and the median of the per-repeat ratios (pipeline run / the inference run
   just before it), which cancels slow drift of the machine's speed. Goal: ratio ≥ 0.95.
2. Speed-up over the original study's style: a Python loop building one noisy image at a time with numpy,
   ``model.predict(batch_size=32)``, then averaging by class in Python.
3. Peak RSS growth from N = 20,000 to N = 1,000,000 (fresh runs, one after the other, in one child process
   that does nothing else, so the other measurements' peaks cannot hide the growth). Goal: ≤ 100 MB.

``--quick`` is a smoke run for the test suite: every step above at the smallest sizes that still cross a snapshot
point and take more than one batch (N = 1,024, inference batch 512, one repeat); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.provenance import command_line, core_version  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

INFERENCE_BATCH = 4096
ORIGINAL_TIME_LIMIT = 180.0  # seconds: above this the original style is measured at a smaller N




def _load(arch: str, dataset: str) -> tuple[Any, str]:
    """The shipped model, or (for speed only the shape matters) an untrained one if none is cached."""
    from core.models import build_model
    from core.store import CacheDamagedError, ModelMissingError, load_model

    try:
        model, _ = load_model(arch, dataset)
        return model, "cached"
    except (ModelMissingError, CacheDamagedError) as err:
        return build_model(arch), f"UNTRAINED ({type(err).__name__}); speed only"


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def _vm_hwm_mb() -> float:
    """Peak RSS of this process image (/proc VmHWM): unlike ru_maxrss it does not inherit the parent's peak."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _other_cpu_ticks() -> dict[int, int]:
    """CPU clock ticks used so far by every other process (not this one nor its children), by pid."""
    me = os.getpid()
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:  # our own children (the RSS child) are not contention
            continue
        ticks[int(entry)] = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


class Contention:
    """How busy the rest of the machine was during a section: other processes' CPU use in cores.

    Processes that ended during the section are not counted, so this is a lower bound.
    """

    def __init__(self) -> None:
        self.ticks, self.wall = _other_cpu_ticks(), time.perf_counter()

    def report(self) -> str:
        now = _other_cpu_ticks()
        used = sum(t - self.ticks.get(pid, 0) for pid, t in now.items()) / os.sysconf("SC_CLK_TCK")
        cores = used / max(time.perf_counter() - self.wall, 1e-9)
        note = "quiet" if cores < 0.1 else "CONTENDED: rates are pessimistic, prefer the best column"
        return (f"other processes used ≥ {cores:.2f} of {os.cpu_count()} cores on average during this section "
                f"({note})")


# --- the three kinds of runs ---------------------------------------------------------------------------


class InferenceBench:
    """Pure model throughput: one traced call on a constant (batch, 28, 28, 1) float32 batch (4096 unless told)."""

    def __init__(self, model: Any, batch: int = INFERENCE_BATCH):
        import tensorflow as tf

        self.batch = batch
        x = tf.constant(np.random.default_rng(0).random((batch, 28, 28, 1), dtype=np.float32))

        @tf.function
        def infer() -> Any:
            return model(x, training=False)

        self._infer = infer
        self._infer().numpy()  # trace

    def rate(self, n: int) -> float:
        calls = max(1, round(n / self.batch))
        started = time.perf_counter()
        for _ in range(calls):
            self._infer().numpy()
        return calls * self.batch / (time.perf_counter() - started)


class PipelineBench:
    """``Analyzer.run`` from scratch; the graph is traced by a warm-up run first."""

    def __init__(self, model: Any, data: Any, warmup: int):
        from core.reverse_correlation import AnalysisSettings, Analyzer
        from core.noise import NoiseSpec

        self.analyzer = Analyzer(model, data, "uniform")
        self.settings = {r: AnalysisSettings(NoiseSpec("uniform", seed=0), ratio=r) for r in (0.0, 0.7)}
        for settings in self.settings.values():
            self.analyzer.run(settings, warmup)

    def rate(self, n: int, ratio: float) -> float:
        started = time.perf_counter()
        state = self.analyzer.run(self.settings[ratio], n)
        seconds = time.perf_counter() - started
        assert state.n == n
        return n / seconds


def original_style(model: Any, data: Any, n: int, seed: int = 0) -> tuple[float, np.ndarray]:
    """The original study's loop: one numpy image at a time, ``predict(batch_size=32)``, class means in Python.

    Returns (images/s, class images averaged by predicted class).
    """
    np.random.seed(seed)
    test = data.test_images
    started = time.perf_counter()
    stimuli = []
    for i in range(n):
        stimuli.append(0.7 * test[i % 10000] / 255 + 0.3 * np.random.rand(28, 28))
    x = np.stack(stimuli)[..., None]
    predictions = model.predict(x, batch_size=32, verbose=0)
    labels = np.argmax(predictions, axis=1)
    sums = [np.zeros((28, 28)) for _ in range(10)]
    counts = [0] * 10
    for image, label in zip(stimuli, labels):
        sums[label] += image
        counts[label] += 1
    means = [s / c if c else s * np.nan for s, c in zip(sums, counts)]
    seconds = time.perf_counter() - started
    return n / seconds, np.stack(means)


def rss_child(small: int, large: int) -> None:
    """Peak RSS after a run of ``small`` samples, then after a fresh run of ``large``; one JSON line."""
    from core.reverse_correlation import AnalysisSettings, Analyzer
    from core.data import load_dataset
    from core.noise import NoiseSpec

    model, _ = _load("lenet", "mnist")
    analyzer = Analyzer(model, load_dataset("mnist"), "uniform")
    settings = AnalysisSettings(NoiseSpec("uniform", seed=1))
    state = analyzer.run(settings, small)
    del state
    gc.collect()
    before, before_hwm = _max_rss_mb(), _vm_hwm_mb()
    started = time.perf_counter()
    state = analyzer.run(settings, large)
    seconds = time.perf_counter() - started
    print(json.dumps({"before_mb": before, "after_mb": _max_rss_mb(), "before_hwm": before_hwm,
                      "after_hwm": _vm_hwm_mb(), "rate": large / seconds, "snapshots": len(state.snapshots)}))


# --- report --------------------------------------------------------------------------------------------


def _fmt_rate(value: float) -> str:
    return f"{value:>10,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run with tiny N (numbers are meaningless)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of each interleaved measurement")
    parser.add_argument("--rss-child", nargs=2, type=int, metavar=("SMALL", "LARGE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        rss_child(*args.rss_child)
        return 0

    sys.stdout.reconfigure(line_buffering=True)
    quick = args.quick
    # --quick: the smallest sizes that still run every step: two inference calls, pipeline runs and warm-ups that
    # cross a snapshot point (100, 200, 500, …), two predict batches of 32, an RSS child with two fresh runs.
    n_pipe = 1_024 if quick else 100_000
    inference_batch = 512 if quick else INFERENCE_BATCH
    repeats = args.repeats or (1 if quick else 5)
    warmup = 200 if quick else 10_000
    n_original = 64 if quick else 100_000
    rss_small, rss_large = (200, 1_000) if quick else (20_000, 1_000_000)
    archs = ("lenet", "alexnet")

    print(f"$ {command_line(__file__)}")
    print(f"code: commit {core_version()}")
    # The RSS child runs first, while this process is still small: Linux carries a process's peak RSS across
    # fork + exec into the child's ru_maxrss, so a child started after the big runs below would report their peak.
    contention = Contention()
    child = subprocess.run([sys.executable, __file__, "--rss-child", str(rss_small), str(rss_large)],
                           capture_output=True, text=True, check=False)
    rss_contention = contention.report()
    rss, rss_error = None, child.stdout + child.stderr
    if child.returncode == 0:
        rss = json.loads(child.stdout.strip().splitlines()[-1])
    import keras
    import tensorflow as tf

    from core.cpus import available_cpus
    from core.data import load_dataset

    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores, "
          f"intra-op threads {os.environ.get('TF_NUM_INTRAOP_THREADS') or 'default'} (CPUs this process may use: "
          f"{available_cpus():g})"
          + ("   [--quick: tiny N, numbers are meaningless]" if quick else ""))
    data = load_dataset("mnist")
    models, notes = {}, {}
    for arch in archs:
        models[arch], notes[arch] = _load(arch, "mnist")
        print(f"  model {arch}-mnist: {notes[arch]}")

    # 1. pipeline vs pure inference, interleaved -------------------------------------------------------------
    print(f"\n1. Analyzer.run vs pure inference (batch {inference_batch:,}), N = {n_pipe:,}, uniform noise; "
          f"{repeats} interleaved repeats (rates in images/s)")
    infer = {a: InferenceBench(models[a], inference_batch) for a in archs}
    pipe = {a: PipelineBench(models[a], data, warmup) for a in archs}
    rates: dict[tuple[str, str], list[float]] = {}
    contention = Contention()
    for _ in range(repeats):
        for arch in archs:
            rates.setdefault((arch, "inference"), []).append(infer[arch].rate(n_pipe))
            rates.setdefault((arch, "r=0"), []).append(pipe[arch].rate(n_pipe, 0.0))
            rates.setdefault((arch, "r=0.7"), []).append(pipe[arch].rate(n_pipe, 0.7))
    header = (f"   {'arch':<8} {'run':<16} {'median':>10} {'best':>10}   {'ratio best/best':>15}       "
              f"{'paired ratio':>12}")
    print(header)
    print("   " + "-" * (len(header) - 3))
    for arch in archs:
        inf = rates[(arch, "inference")]
        print(f"   {arch:<8} {'pure inference':<16} {_fmt_rate(statistics.median(inf))} {_fmt_rate(max(inf))}")
        for r in ("r=0", "r=0.7"):
            got = rates[(arch, r)]
            ratio_best = max(got) / max(inf)
            # each repeat's pipeline run against the inference run just before it: drift cancels out
            paired = statistics.median(g / i for g, i in zip(got, inf))
            flag = "ok" if ratio_best >= 0.95 else "BELOW"
            flag_paired = "ok" if paired >= 0.95 else "BELOW"
            print(f"   {arch:<8} {'pipeline ' + r:<16} {_fmt_rate(statistics.median(got))} {_fmt_rate(max(got))}"
                  f"   {ratio_best:>15.3f} {flag:<5} {paired:>12.3f} {flag_paired}")
    print("   goal: ratio ≥ 0.95. 'paired ratio' = median over repeats of pipeline / the inference run measured just "
          "before it.")
    print("   all runs: " + "; ".join(f"{a} {r}: " + ", ".join(f"{v:,.0f}" for v in vals)
                                      for (a, r), vals in rates.items()))
    print("   " + contention.report())

    # 2. the original study's style --------------------------------------------------------------------------
    print("\n2. Speed-up over the original study's style (r = 0.7, numpy loop + predict(batch_size=32) + "
          "Python class means)")
    original_n: dict[str, int] = {}
    for arch in archs:
        original_n[arch] = n_original
        if not quick:  # a short probe decides whether the full N fits in the time limit
            probe_rate, _ = original_style(models[arch], data, 5_000)
            if n_original / probe_rate > ORIGINAL_TIME_LIMIT:
                original_n[arch] = 20_000
    original_repeats = 1 if quick else 2
    contention = Contention()
    original: dict[str, list[float]] = {arch: [] for arch in archs}
    for _ in range(original_repeats):  # interleaved; the best run of the original style is the fair baseline
        for arch in archs:
            original[arch].append(original_style(models[arch], data, original_n[arch])[0])
    print(f"   {'arch':<8} {'original N':>10} {'original img/s':>15} {'pipeline r=0.7 img/s':>21} {'speed-up':>9}")
    for arch in archs:
        rate, n = max(original[arch]), original_n[arch]
        ours = max(rates[(arch, "r=0.7")])
        note = "" if n == n_original else (f"   (measured at N = {n:,}: full N would exceed "
                                           f"{ORIGINAL_TIME_LIMIT:.0f} s; rates comparable)")
        print(f"   {arch:<8} {n:>10,} {_fmt_rate(rate):>15} {_fmt_rate(ours):>21} {ours / rate:>8.1f}×{note}")
    print(f"   (original: best of {original_repeats} interleaved runs; pipeline: best of the r=0.7 runs above at "
          f"N = {n_pipe:,})")
    print("   " + contention.report())

    # 3. peak RSS: measured first (the child is started before this process grows), reported last --------
    print(f"\n3. Peak RSS growth, lenet, uniform r=0, one fresh child process: run N = {rss_small:,}, then a fresh "
          f"run of N = {rss_large:,}")
    if rss is None:
        print("   RSS child failed:\n" + rss_error)
        return 1
    growth = rss["after_mb"] - rss["before_mb"]
    print(f"   ru_maxrss after N = {rss_small:>9,}: {rss['before_mb']:8.1f} MB   (VmHWM {rss['before_hwm']:.1f} MB)")
    print(f"   ru_maxrss after N = {rss_large:>9,}: {rss['after_mb']:8.1f} MB   (VmHWM {rss['after_hwm']:.1f} MB; "
          f"{rss['rate']:,.0f} images/s, {rss['snapshots']} snapshots kept)")
    print(f"   growth: {growth:.1f} MB (VmHWM: {rss['after_hwm'] - rss['before_hwm']:.1f} MB)   "
          f"{'ok' if growth <= 100 else 'ABOVE 100 MB'} (goal ≤ 100 MB)")
    print("   " + rss_contention)
    return 0


if __name__ == "__main__":
    sys.exit(main())
