"""One training at a time per server process: a first-come, first-served gate with a rough wait estimate.

On a shared deployment every session runs in the same process on the same few cores. Thirty visitors starting
thirty trainings would each get a thirtieth of the CPU and all finish late (and the dashboard would stall), so
trainings queue: a caller takes a ticket, waits for its turn, trains, and releases. The queue is in memory: it
orders the sessions of one Streamlit server, not separate processes (the CLI and ``core.store``'s file lock
handle those).

A waiting caller polls ``wait_for_turn(ticket, timeout)`` in a loop, so the Streamlit script thread wakes up
regularly to redraw its place and estimate and to notice a Cancel. A session that goes away without releasing
cannot block the queue: a waiting ticket whose owner has not polled for ``abandon_after`` seconds is dropped, so
is a ticket whose turn came but whose owner never ``claim``-ed it to train (its tab closed in between: a class
review found one student's closed tab keeping everyone's trainings waiting until the server restarted), and the
claimed ticket is released in the caller's ``finally``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

VISITOR_MAX_EPOCHS = 5
"""Most epochs a visitor may ask for: everyone behind holds their place while it runs, so a queue cannot be held
for hours. Five LeNet epochs on 60,000 images take about 2 minutes on a fast 2-core machine (10 or more on a slow
one); the shipped models' 12–20 epochs are the owner's to train with ``python -m core train``."""

FULL_EPOCH_IMAGES = 60_000  # one epoch over the whole MNIST / Fashion-MNIST training set

#: Seconds per (epoch × training image) before this process has timed a training of its own: twice what a fast
#: 2-core machine takes (LeNet ~20 s, AlexNet ~25 s, the original AlexNet ~55 s per 60,000-image epoch), to
#: leave room for loading data and evaluating. A slow machine is 3–8× slower still: the estimate is rough.
DEFAULT_SECONDS_PER_IMAGE_EPOCH: dict[str, float] = {
    "lenet": 2 * 20 / FULL_EPOCH_IMAGES,
    "alexnet": 2 * 25 / FULL_EPOCH_IMAGES,
    "alexnet_original": 2 * 55 / FULL_EPOCH_IMAGES,
}

#: A training smaller than this (epochs × images) is not timed: loading data and evaluating on the 10,000 test
#: images would dominate it and make a full training look many times slower than it is.
MIN_TIMED_WORK = 30_000

ABANDON_AFTER_SECONDS = 60.0  # a waiting ticket nobody polled for this long is dropped


class TicketClosed(RuntimeError):
    """The ticket was cancelled, expired or released: it will never get a turn."""


@dataclass(frozen=True)
class TrainingRequest:
    """What a ticket will train: enough to describe it to the others in the queue and to estimate its length."""

    arch: str
    dataset: str
    epochs: int
    train_images: int

    @property
    def work(self) -> int:
        """Epochs × training images: the unit the time estimate scales with."""
        return max(1, self.epochs) * max(1, self.train_images)


WAITING, RUNNING, DONE, CANCELLED, EXPIRED = "waiting", "running", "done", "cancelled", "expired"


@dataclass(eq=False)
class Ticket:
    """One caller's place in a ``TrainingQueue``; its fields change only under the queue's lock."""

    id: int
    request: TrainingRequest
    state: str = WAITING
    last_seen: float = 0.0  # queue clock at the owner's last poll
    started: float | None = None  # queue clock when its turn came
    claimed: bool = False  # its owner has begun training (``claim``): from then on only ``release`` frees the slot
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _pollers: int = field(default=0, repr=False)  # threads blocked in wait_for_turn right now

    def should_stop(self) -> bool:
        """Pass as ``should_stop`` to ``core.models.train``: true once the running ticket was cancelled."""
        return self._stop.is_set()


@dataclass(frozen=True)
class QueueStatus:
    """What a waiting caller shows: its place, the estimated wait and how long its own training may take."""

    state: str
    ahead: int  # trainings ahead of this one (the running one included); 0 when it is this one's turn
    wait_seconds: float  # rough estimate until this ticket's turn
    run_seconds: float  # rough estimate of this ticket's own training
    measured: bool  # whether the estimate for this architecture comes from a training timed in this process


class TrainingQueue:
    """A thread-safe FIFO that lets one ticket run at a time; the others wait, can see their place, and cancel."""

    def __init__(self, abandon_after: float = ABANDON_AFTER_SECONDS,
                 default_rates: dict[str, float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._abandon_after = abandon_after
        self._defaults = dict(DEFAULT_SECONDS_PER_IMAGE_EPOCH if default_rates is None else default_rates)
        self._clock = clock
        self._measured: dict[str, float] = {}
        self._changed = threading.Condition()
        self._waiting: deque[Ticket] = deque()
        self._running: Ticket | None = None
        self._ids = itertools.count(1)

    # --- taking, waiting, leaving ------------------------------------------------------------------------------

    def take(self, request: TrainingRequest) -> Ticket:
        """Join the back of the queue. Release the ticket in a ``finally`` whatever happens next."""
        with self._changed:
            ticket = Ticket(next(self._ids), request, last_seen=self._clock())
            self._waiting.append(ticket)
            self._changed.notify_all()
            return ticket

    def wait_for_turn(self, ticket: Ticket, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True once it is this ticket's turn (it is then running).

        Each call counts as a sign of life. Raises ``TicketClosed`` if the ticket was cancelled, expired or released.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            ticket._pollers += 1
            try:
                while True:
                    ticket.last_seen = self._clock()
                    self._drop_abandoned()
                    if ticket.state == RUNNING:
                        return True
                    if ticket.state != WAITING:
                        raise TicketClosed(f"training ticket {ticket.id} was {ticket.state}")
                    if self._running is None and self._waiting and self._waiting[0] is ticket:
                        self._start(ticket)
                        return True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    # Wake at least every few seconds to look for abandoned tickets ahead, which nobody notifies.
                    self._changed.wait(min(remaining, max(0.05, self._abandon_after / 4)))
            finally:
                ticket._pollers -= 1
                ticket.last_seen = self._clock()

    def claim(self, ticket: Ticket) -> None:
        """Its owner begins training now, in a ``try`` whose ``finally`` releases it. Raises ``TicketClosed`` if the
        turn lapsed first (``_drop_abandoned``)."""
        with self._changed:
            if ticket.state != RUNNING:
                raise TicketClosed(f"training ticket {ticket.id} was {ticket.state}")
            ticket.claimed = True

    def cancel(self, ticket: Ticket) -> None:
        """A waiting ticket leaves the queue; the running one is asked to stop (its owner still releases it)."""
        with self._changed:
            if ticket.state == WAITING:
                self._remove(ticket, CANCELLED)
            elif ticket.state == RUNNING:
                ticket._stop.set()
            self._changed.notify_all()

    def release(self, ticket: Ticket, *, completed: bool = False) -> None:
        """Give up the ticket, in any state; safe to call twice. ``completed=True`` after a training that finished
        lets its wall-clock time improve the estimates for that architecture."""
        with self._changed:
            if ticket.state == RUNNING:
                if completed and not ticket._stop.is_set() and ticket.started is not None:
                    self._measure(ticket.request, self._clock() - ticket.started)
                ticket.state = DONE
                self._running = None
            elif ticket.state == WAITING:
                self._remove(ticket, CANCELLED)
            self._changed.notify_all()

    # --- what a waiting caller shows ---------------------------------------------------------------------------

    def status(self, ticket: Ticket) -> QueueStatus:
        """Place and estimated wait of a ticket; reading it also counts as a sign of life."""
        with self._changed:
            ticket.last_seen = self._clock()
            self._drop_abandoned()
            run_seconds = self.estimate_seconds(ticket.request)
            measured = ticket.request.arch in self._measured
            if ticket.state != WAITING:
                return QueueStatus(ticket.state, 0, 0.0, run_seconds, measured)
            ahead = list(itertools.takewhile(lambda other: other is not ticket, self._waiting))
            wait = sum(self.estimate_seconds(other.request) for other in ahead)
            if self._running is not None:
                ahead.insert(0, self._running)
                wait += self._remaining_seconds(self._running)
            return QueueStatus(WAITING, len(ahead), wait, run_seconds, measured)

    def lineup(self) -> tuple[TrainingRequest, ...]:
        """The running training (if any) then the waiting ones, in order: for a page to show before joining."""
        with self._changed:
            self._drop_abandoned()
            running = () if self._running is None else (self._running.request,)
            return running + tuple(ticket.request for ticket in self._waiting)

    def estimate_seconds(self, request: TrainingRequest) -> float:
        """Rough length of a training: the measured (or default) seconds per epoch-image times its size."""
        with self._changed:
            fallback = max(self._defaults.values(), default=2 * 55 / FULL_EPOCH_IMAGES)
            rate = self._measured.get(request.arch, self._defaults.get(request.arch, fallback))
            return rate * request.work

    # --- inside the lock ----------------------------------------------------------------------------------------

    def _start(self, ticket: Ticket) -> None:
        self._waiting.popleft()
        ticket.state = RUNNING
        ticket.started = self._clock()
        self._running = ticket

    def _remove(self, ticket: Ticket, state: str) -> None:
        self._waiting.remove(ticket)
        ticket.state = state

    def _drop_abandoned(self) -> None:
        """Drop waiting tickets whose owner stopped polling (the session went away without its ``finally``), and
        a running one whose owner never claimed it.

        A claimed ticket never expires: its owner's thread is the one training, so the cores really are busy until
        that thread reaches its ``finally``; freeing the slot early would run two trainings at once.
        """
        now = self._clock()

        def stale(ticket: Ticket) -> bool:
            return ticket._pollers == 0 and now - ticket.last_seen > self._abandon_after

        dropped = [t for t in self._waiting if stale(t)]
        for ticket in dropped:
            self._remove(ticket, EXPIRED)
        if self._running is not None and not self._running.claimed and stale(self._running):
            self._running.state = EXPIRED
            self._running = None
            dropped.append(None)
        if dropped:
            self._changed.notify_all()

    def _remaining_seconds(self, running: Ticket) -> float:
        total = self.estimate_seconds(running.request)
        elapsed = self._clock() - (running.started or self._clock())
        # Past its estimate a training is still running: say "a little longer", never "0 s".
        return max(total - elapsed, 0.1 * total)

    def _measure(self, request: TrainingRequest, seconds: float) -> None:
        if request.work < MIN_TIMED_WORK or seconds <= 0:
            return
        rate = seconds / request.work
        previous = self._measured.get(request.arch)
        # Average with the last measurement: one training on a briefly busy machine should not double the estimate.
        self._measured[request.arch] = rate if previous is None else (previous + rate) / 2


#: The one queue of this server process, shared by every Streamlit session.
TRAINING_QUEUE = TrainingQueue()
