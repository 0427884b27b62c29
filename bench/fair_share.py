"""A student's change beside a classmate's long run: how much later it completes, before and with the fair pool.

    NOISELENS_DATA_DIR=../shared/datasets python bench/fair_share.py [--repeats 7] [--arch lenet] [--quick]

In one process, as on the server, the shipped model on MNIST with uniform noise. The measured run is the page's
(N = 10,000, a new seed each time, chunks sized to the measured speed). It is timed alone and beside a run of
1,000,000 stimuli another visitor started (running from 11 s before the change on, past ``LONG_RUN_SECONDS``, as
such a run is most of its time), in turns with the engine as it was before ``core.fair_pool`` (a pool of 8 threads
taking every chunk in the order it came, a long run's chunks as long as any) and as it is (``FairPool``, the run
that has had the least computing time first, and a long run's chunks a quarter as long). It prints medians, each
way's ratio beside / alone (from the same round), the two ways' alone times (a lone run must not be slower), and
how fast the long run went meanwhile. This
machine is noisy (±20 % from one run to the next), so compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.provenance import command_line, core_version, machine_line  # noqa: E402

class FirstCome:
    """The engine's pool before the fair one: a plain thread pool, chunks in the order they came."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bench-first-come")

    def submit(self, owner: Any, work: Any, *args: Any) -> Any:
        return self._pool.submit(work, *args)

    def finish(self, owner: Any) -> None:
        pass


class LongRun:
    """Another visitor's long run on its own thread, stopped on request; counts its stimuli as it goes."""

    def __init__(self, engine: Any, n: int) -> None:
        from core.noise import NoiseSpec
        from core.reverse_correlation import AnalysisSettings

        self._stop = threading.Event()
        self.progress: list[tuple[float, int]] = []
        settings = AnalysisSettings(NoiseSpec("uniform", seed=987_654))
        self._thread = threading.Thread(target=engine.run, args=(settings, n), daemon=True, kwargs={
            "on_progress": lambda state: self.progress.append((time.perf_counter(), state.n)),
            "should_stop": self._stop.is_set})

    def __enter__(self) -> LongRun:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    def done_by(self, moment: float) -> int:
        return max((n for t, n in self.progress if t <= moment), default=0)

    def stimuli_per_second(self, start: float, end: float) -> float:
        """Stimuli the long run finished between the two moments, per second."""
        return (self.done_by(end) - self.done_by(start)) / (end - start)


def timed_change(engine: Any, n: int, seed: int) -> float:
    from core.noise import NoiseSpec
    from core.reverse_correlation import AnalysisSettings

    started = time.perf_counter()
    engine.run(AnalysisSettings(NoiseSpec("uniform", seed=seed)), n)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run with tiny N (numbers are meaningless)")
    parser.add_argument("--repeats", type=int, default=7, help="rounds of the three ways, in turns")
    parser.add_argument("--arch", default="lenet", choices=("lenet", "alexnet"))
    args = parser.parse_args(argv)
    from core import reverse_correlation
    from core.data import load_dataset
    from core.pacing import CHUNK_SECONDS
    from core.reverse_correlation import Analyzer
    from core.store import load_model

    from core.reverse_correlation import LONG_RUN_SECONDS

    # The long run is timed once it is past LONG_RUN_SECONDS, as a run of a million mostly is.
    n, long_n, settle = (1_000, 50_000, 0.2) if args.quick else (10_000, 1_000_000, LONG_RUN_SECONDS + 1.0)
    repeats = 1 if args.quick else args.repeats
    print(f"{command_line(__file__)} | core {core_version()}")
    print(machine_line())
    model, _ = load_model(args.arch, "mnist")
    # The page's engine: chunks sized to the measured speed. One for the change, one for the long run (another
    # visitor may well use another noise type or model; the chunks meet in the pool either way).
    change, other = (Analyzer(model, load_dataset("mnist"), "uniform", chunk_size=4000, chunk_seconds=CHUNK_SECONDS)
                     for _ in range(2))
    for engine in (change, other):  # traced, and the chunk sizes learnt
        timed_change(engine, n, 1)
    fair, late = reverse_correlation._CHUNK_THREADS, reverse_correlation.LONG_RUN_SECONDS
    # The engine before core.fair_pool (chunks in the order they came, a long run's as long as the others') and now.
    pools = {"before": (FirstCome(), float("inf")), "now": (fair, late)}
    alone: dict[str, list[float]] = {way: [] for way in pools}
    beside: dict[str, list[float]] = {way: [] for way in pools}
    long_speed: dict[str, list[float]] = {way: [] for way in pools}
    try:
        for round_ in range(repeats):
            for way in (pools if round_ % 2 else reversed(pools)):  # in turns: neither goes first every round
                reverse_correlation._CHUNK_THREADS, reverse_correlation.LONG_RUN_SECONDS = pools[way]
                alone[way].append(timed_change(change, n, 1000 + round_ * 10 + len(alone[way])))
                with LongRun(other, long_n) as long_run:
                    time.sleep(settle)
                    start = time.perf_counter()
                    beside[way].append(timed_change(change, n, 2000 + round_ * 10 + len(beside[way])))
                    long_speed[way].append(long_run.stimuli_per_second(start, start + beside[way][-1]))
            print(f"round {round_ + 1}: " + ", ".join(
                f"{way}: alone {alone[way][-1]:.2f} s, beside {beside[way][-1]:.2f} s "
                f"({beside[way][-1] / alone[way][-1]:.2f}×)" for way in pools), flush=True)
    finally:
        reverse_correlation._CHUNK_THREADS, reverse_correlation.LONG_RUN_SECONDS = fair, late
    print(f"\n{args.arch}-mnist, uniform noise, the change N = {n:,} beside a run of {long_n:,} (medians of "
          f"{repeats}):")
    lone = [f / c for f, c in zip(alone["now"], alone["before"])]
    print("  before: chunks in the order they came (a pool of 8 threads), a long run's chunks as long as any;\n"
          f"  now: core.fair_pool, a run's chunks a quarter as long after {late:.0f} s")
    print(f"  alone: before {statistics.median(alone['before']):.2f} s, now {statistics.median(alone['now']):.2f} s "
          f"(now / before {statistics.median(lone):.2f}, range {min(lone):.2f}–{max(lone):.2f})")
    for way in pools:
        ratio = [b / a for b, a in zip(beside[way], alone[way])]
        print(f"  beside the long run, {way}: {statistics.median(beside[way]):.2f} s, {statistics.median(ratio):.2f}× "
              f"alone (range {min(ratio):.2f}–{max(ratio):.2f}); the long run meanwhile "
              f"{statistics.median(long_speed[way]):,.0f} stimuli/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
