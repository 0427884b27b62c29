"""The chunks of every run on the server, computed a few at a time, the run that has had the least CPU first.

On a shared server every student's run sends its chunks to the same two cores. Taken in the order they came, one
student's 1,000,000-stimulus run (a minute on a fast machine, ten on a slow one) took half the CPU from every other
run for as long as it lasted: a classmate's 10,000-stimulus change took 2–5 times as long (``bench/fair_share.py``).
Here a free thread takes the waiting chunk whose run has had the least computing time so far ("least attained
service"), and holds back a more-served run's chunk while a less-served run is active (a chunk of its in the
model, or its next on the way): a fresh run goes before a long one, so a change completes about as soon as on an
idle server (after the long run's chunk already in the model), and the long run goes on in the time nobody else
needs. Runs that have had equal time share the CPU as before. Two threads, because two chunks at once (one in the
model, the next drawing its noise) keep two cores busy, and more at once only share the same cores, each holding a
chunk's activations.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

# Seconds a run counts as active after its chunk ends, unless it says it has finished: the time its thread takes to
# add the chunk's sums and draw a partial picture (0.05-0.3 s) before it sends the next. Only a run that has had
# less computing time than a waiting chunk's holds it back, so a lone run never waits for this.
GRACE_SECONDS = 0.3


class Run:
    """Whose chunks these are: one per run, so the pool can count the computing time each run has had."""

    __slots__ = ("__weakref__",)


@dataclass(order=True)
class _Waiting:
    service: float  # the owner's computing time when the chunk came (kept up to date while it waits)
    order: int
    owner: Run = field(compare=False)
    future: Future = field(compare=False)
    work: Callable[..., Any] = field(compare=False)
    args: tuple = field(compare=False)


class FairPool:
    """Runs submitted work on ``workers`` threads; a free thread takes the waiting chunk whose ``Run`` has had the
    least computing time (ties: the first submitted), unless a less-served run is active: it has a chunk in the
    model, or had one end under ``GRACE_SECONDS`` ago and has not said it ``finish``-ed (its next chunk is on its
    way: it adds the last one's sums, perhaps draws a picture, then sends it). ``Future.cancel`` drops a chunk that
    has not started, and the pool lets go of it at once (it holds its engine and model)."""

    def __init__(self, workers: int = 2, name: str = "noiselens-chunk",
                 clock: Callable[[], float] = time.perf_counter):
        self._clock = clock  # measures the computing time; the grace is always real time (time.monotonic)
        self._waiting: list[_Waiting] = []
        self._service: weakref.WeakKeyDictionary[Run, float] = weakref.WeakKeyDictionary()
        self._running: dict[Run, int] = {}  # chunks in the model now, by run
        self._ended: weakref.WeakKeyDictionary[Run, float] = weakref.WeakKeyDictionary()  # last chunk's end
        self._order = itertools.count()
        self._ready = threading.Condition()
        for number in range(workers):
            threading.Thread(target=self._serve, name=f"{name}-{number}", daemon=True).start()

    def submit(self, owner: Run, work: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._ready:
            self._waiting.append(_Waiting(self._service.get(owner, 0.0), next(self._order), owner, future, work,
                                          args))
            self._ready.notify_all()
        return future

    def finish(self, owner: Run) -> None:
        """The run sends no more chunks (it is complete or stopped): nothing waits for it, and its cancelled
        chunks are let go."""
        with self._ready:
            self._ended.pop(owner, None)
            self._ready.notify_all()

    def service(self, owner: Run) -> float:
        """Seconds of computing the run's chunks have had so far."""
        with self._ready:
            return self._service.get(owner, 0.0)

    def _next(self) -> _Waiting:
        with self._ready:
            while True:
                chosen, retry = self._may_start(time.monotonic())
                if chosen is not None:
                    break
                self._ready.wait(retry)
            self._waiting.remove(chosen)
            self._running[chosen.owner] = self._running.get(chosen.owner, 0) + 1
            return chosen

    def _may_start(self, now: float) -> tuple[_Waiting | None, float | None]:
        """The waiting chunk of the least-served run, or None and how long to wait at most (None: until woken).

        A long run's chunk started while a less-served run is between two chunks would hold a thread, and half
        the CPU, for its whole length: a freed thread idles for that moment instead (one chunk uses both cores)."""
        self._waiting = [waiting for waiting in self._waiting if not waiting.future.cancelled()]
        if not self._waiting:
            return None, None
        for waiting in self._waiting:  # a few chunks per run at most: a scan is cheaper than a heap kept fresh
            waiting.service = self._service.get(waiting.owner, 0.0)
        chosen = min(self._waiting)
        for owner, ended in list(self._ended.items()):
            if now - ended >= GRACE_SECONDS:
                del self._ended[owner]
        ahead = [owner for owner in (*self._running, *self._ended)
                 if self._service.get(owner, 0.0) < chosen.service]
        if not ahead:
            return chosen, None
        if any(owner in self._running for owner in ahead):
            return None, None  # a chunk's end wakes the threads
        return None, min(self._ended[owner] for owner in ahead) + GRACE_SECONDS - now

    def _serve(self) -> None:
        while True:
            chunk = self._next()
            if chunk.future.set_running_or_notify_cancel():
                started = self._clock()
                try:
                    result = chunk.work(*chunk.args)
                except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the future
                    self._count(chunk.owner, started)
                    chunk.future.set_exception(error)
                else:
                    self._count(chunk.owner, started)  # before the result: its run's next chunk is ordered by it
                    chunk.future.set_result(result)
            else:  # cancelled between its choice and now
                self._count(chunk.owner, self._clock())
            del chunk  # an idle thread holds nothing: the chunk's engine, model and run may go

    def _count(self, owner: Run, started: float) -> None:
        with self._ready:
            self._service[owner] = self._service.get(owner, 0.0) + self._clock() - started
            self._running[owner] -= 1
            if not self._running[owner]:
                del self._running[owner]
                self._ended[owner] = time.monotonic()
            self._ready.notify_all()  # a chunk held back for this one may start now
