"""The chunk pool shared by every run: the run that has had the least computing time goes first."""

from __future__ import annotations

import gc
import threading

import pytest

from core.fair_pool import FairPool, Run


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def blocked_pool(clock: FakeClock) -> tuple[FairPool, threading.Event]:
    """One worker, held by a first chunk until the event is set, so the chunks after it queue."""
    pool, gate = FairPool(workers=1, clock=clock), threading.Event()
    pool.submit(Run(), gate.wait)
    return pool, gate


def with_a_long_run(workers: int) -> tuple[FairPool, Run, Run]:
    """A pool whose first run has had 10 s of computing (a classmate's long run), and a fresh run."""
    clock = FakeClock()
    pool = FairPool(workers=workers, clock=clock)
    long_run, fresh = Run(), Run()

    def ten_seconds() -> None:
        clock.now += 10.0

    pool.submit(long_run, ten_seconds).result(timeout=5)
    return pool, long_run, fresh


def test_a_fresh_run_goes_before_a_run_that_has_had_the_cpu() -> None:
    """A student's 10,000-stimulus change beside a classmate's long run: the change's chunks are taken first, though
    the long run's was waiting before them."""
    pool, long_run, fresh = with_a_long_run(1)
    assert pool.service(long_run) == pytest.approx(10.0) and pool.service(fresh) == 0.0
    gate = threading.Event()
    pool.submit(Run(), gate.wait)  # the one worker is busy; what follows queues
    done: list[str] = []
    futures = [pool.submit(long_run, done.append, "long"), pool.submit(fresh, done.append, "fresh 1"),
               pool.submit(fresh, done.append, "fresh 2")]
    gate.set()
    for future in futures:
        future.result(timeout=5)
    assert done == ["fresh 1", "fresh 2", "long"]


def test_runs_with_equal_time_go_in_the_order_they_came() -> None:
    clock = FakeClock()
    pool, gate = blocked_pool(clock)
    done: list[int] = []
    futures = [pool.submit(Run(), done.append, number) for number in range(5)]
    gate.set()
    for future in futures:
        future.result(timeout=5)
    assert done == list(range(5))


def test_the_order_follows_the_time_runs_have_had_while_their_chunks_waited() -> None:
    """A run's chunk queued when the run had no time yet waits behind a fresher run once its first chunk ran."""
    clock = FakeClock()
    pool, gate = blocked_pool(clock)
    first, second, done = Run(), Run(), []

    def timed(name: str, seconds: float) -> None:
        done.append(name)
        clock.now += seconds

    futures = [pool.submit(first, timed, "first a", 5.0), pool.submit(first, timed, "first b", 5.0),
               pool.submit(second, timed, "second a", 1.0), pool.submit(second, timed, "second b", 1.0)]
    gate.set()
    for future in futures:
        future.result(timeout=5)
    assert done == ["first a", "second a", "second b", "first b"]


def test_a_cancelled_chunk_is_not_computed_and_errors_reach_the_caller() -> None:
    clock = FakeClock()
    pool, gate = blocked_pool(clock)
    done: list[str] = []
    dropped = pool.submit(Run(), done.append, "dropped")
    assert dropped.cancel()

    def fails() -> None:
        raise ValueError("a chunk's error")

    failing = pool.submit(Run(), fails)
    kept = pool.submit(Run(), done.append, "kept")
    gate.set()
    kept.result(timeout=5)
    with pytest.raises(ValueError, match="a chunk's error"):
        failing.result(timeout=5)
    assert done == ["kept"] and dropped.cancelled()


def test_a_finished_run_leaves_nothing_behind() -> None:
    """A server runs thousands of runs a day: their computing times go with them."""
    pool = FairPool(workers=1)
    run = Run()
    pool.submit(run, sum, [1, 2]).result(timeout=5)
    assert len(pool._service) == 1
    del run
    gc.collect()
    assert len(pool._service) == 0


def test_every_run_of_the_analysis_engine_goes_through_one_shared_fair_pool() -> None:
    from core import reverse_correlation

    assert isinstance(reverse_correlation._CHUNK_THREADS, FairPool)


def test_a_long_runs_chunk_waits_while_a_fresher_run_has_one_in_the_model() -> None:
    """With two threads, a fresh run's one chunk in the model leaves the other thread free; a long run's chunk
    started there would hold half the CPU for its whole length, so it waits for the fresh run's next chunk to come
    and go. Runs that have had the same time are not held back."""
    pool, long_run, fresh = with_a_long_run(2)
    in_the_model, started_long = threading.Event(), threading.Event()
    fresh_chunk = pool.submit(fresh, in_the_model.wait)
    long_chunk = pool.submit(long_run, started_long.set)
    assert not started_long.wait(0.3)  # a thread is free, yet the long run's chunk waits
    in_the_model.set()
    fresh_chunk.result(timeout=5)
    long_chunk.result(timeout=5)
    assert started_long.is_set()

    first, second, both_in = Run(), Run(), threading.Barrier(2, timeout=5)
    equal = [pool.submit(first, both_in.wait), pool.submit(second, both_in.wait)]
    for future in equal:
        future.result(timeout=5)  # both in the model at once, or the barrier breaks


def test_a_long_run_waits_while_a_fresher_run_is_between_two_chunks() -> None:
    """A run with one chunk in flight at a time (a gradient run; any run's first chunk) sends its next a moment after
    the last ends: a long run's chunk started in that moment took a thread and half the CPU (a review found 64 long
    chunks started during a 31-chunk gradient run, 1.53× its time alone). Once the run says it has finished, the
    long run goes on at once, not after the grace."""
    pool, long_run, fresh = with_a_long_run(2)
    started: list[str] = []
    pool.submit(fresh, started.append, "fresh 0").result(timeout=5)  # in the model first, then between chunks
    held = [pool.submit(long_run, started.append, f"long {k}") for k in range(3)]
    for k in range(1, 6):
        pool.submit(fresh, started.append, f"fresh {k}").result(timeout=5)  # one at a time, as a gradient run
    assert started == [f"fresh {k}" for k in range(6)]  # no long chunk slipped in between
    pool.finish(fresh)
    for future in held:
        future.result(timeout=0.2)  # well inside the grace: finish let them go


def test_a_cancelled_chunk_is_let_go_at_once() -> None:
    """A stopped run's chunks hold its engine and model: a worker kept the last cancelled one until its next chunk,
    and a cancelled chunk of a long run waited in the queue until it was the least-served (a review)."""
    import weakref

    clock = FakeClock()
    pool, gate = blocked_pool(clock)

    class Engine:
        def compute(self) -> None:
            pass

    engine = Engine()
    alive = weakref.ref(engine)
    run = Run()
    future = pool.submit(run, engine.compute)
    del engine
    assert future.cancel()
    pool.finish(run)
    gate.set()
    pool.submit(Run(), sum, [1]).result(timeout=5)
    gc.collect()
    assert alive() is None and not pool._waiting
