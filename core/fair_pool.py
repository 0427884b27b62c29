"""The chunks of every run on the server, computed a few at a time, the run that has had the least CPU first.

On a shared server every student's run sends its chunks to the same two cores. Taken in the order they came, one
student's 1,000,000-stimulus run (a minute on a fast machine, ten on a slow one) took half the CPU from every other
run for as long as it lasted: a classmate's 10,000-stimulus change took 2–5 times as long (``bench/fair_share.py``).
Here a free thread takes the waiting chunk whose run has had the least computing time so far ("least attained
service"), and holds back a more-served run's chunk while a less-served run has one in the model (its next comes a
moment later): a fresh run goes before a long one, so a change completes about as soon as on an idle server (after
the long run's chunk already in the model), and the long run goes on in the time nobody else needs. Runs that
have had equal time share the CPU as before. Two threads, because two chunks at once (one in the model, the next
drawing its noise) keep two cores busy, and more at once only share the same cores, each holding a chunk's
activations.
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
    least computing time (ties: the first submitted), unless a less-served run has a chunk in the model.
    ``Future.cancel`` drops a chunk that has not started."""

    def __init__(self, workers: int = 2, name: str = "noiselens-chunk",
                 clock: Callable[[], float] = time.perf_counter):
        self._clock = clock
        self._waiting: list[_Waiting] = []
        self._service: weakref.WeakKeyDictionary[Run, float] = weakref.WeakKeyDictionary()
        self._running: dict[Run, int] = {}  # chunks in the model now, by run
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

    def service(self, owner: Run) -> float:
        """Seconds of computing the run's chunks have had so far."""
        with self._ready:
            return self._service.get(owner, 0.0)

    def _next(self) -> _Waiting:
        with self._ready:
            while (chosen := self._may_start()) is None:
                self._ready.wait()
            self._waiting.remove(chosen)
            self._running[chosen.owner] = self._running.get(chosen.owner, 0) + 1
            return chosen

    def _may_start(self) -> _Waiting | None:
        """The waiting chunk of the least-served run, unless a less-served run has a chunk in the model: its next
        chunk comes in a moment, and a long run's chunk started now would hold a thread (and half the CPU) for
        its whole length. A freed thread may idle for that moment; a lone run's one chunk uses both cores."""
        if not self._waiting:
            return None
        for waiting in self._waiting:  # a few chunks per run at most: a scan is cheaper than a heap kept fresh
            waiting.service = self._service.get(waiting.owner, 0.0)
        chosen = min(self._waiting)
        if chosen.owner in self._running or all(chosen.service <= self._service.get(owner, 0.0)
                                                for owner in self._running):
            return chosen
        return None

    def _serve(self) -> None:
        while True:
            chunk = self._next()
            if not chunk.future.set_running_or_notify_cancel():  # cancelled while it waited
                self._count(chunk.owner, self._clock())
                continue
            started = self._clock()
            try:
                result = chunk.work(*chunk.args)
            except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the future
                self._count(chunk.owner, started)
                chunk.future.set_exception(error)
            else:
                self._count(chunk.owner, started)  # before the result: its run's next chunk is ordered by it
                chunk.future.set_result(result)
            del chunk  # the owner may go: its entry in ``_service`` goes with it

    def _count(self, owner: Run, started: float) -> None:
        with self._ready:
            self._service[owner] = self._service.get(owner, 0.0) + self._clock() - started
            self._running[owner] -= 1
            if not self._running[owner]:
                del self._running[owner]
            self._ready.notify_all()  # a chunk held back for this one may start now
