"""The training queue: first come first served, one at a time, places and estimates, cancel, expiry, release."""

from __future__ import annotations

import threading
import time

import pytest

from core.training_queue import (
    CANCELLED,
    DONE,
    EXPIRED,
    RUNNING,
    TRAINING_QUEUE,
    VISITOR_MAX_EPOCHS,
    WAITING,
    QueueStatus,
    TicketClosed,
    TrainingQueue,
    TrainingRequest,
)

LENET = TrainingRequest("lenet", "mnist", epochs=2, train_images=60_000)
ALEXNET = TrainingRequest("alexnet", "fashion_mnist", epochs=1, train_images=10_000)


class FakeClock:
    """The queue's notion of time, moved by hand so expiry and timing need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wait_until_turn(queue: TrainingQueue, ticket, poll: float = 0.01) -> None:
    """The loop a Streamlit script runs: wake up regularly until the turn comes."""
    while not queue.wait_for_turn(ticket, poll):
        queue.status(ticket)


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=20)
        assert not thread.is_alive(), "a queue thread hung"


def test_turns_come_in_the_order_tickets_were_taken() -> None:
    queue = TrainingQueue()
    tickets = [queue.take(LENET) for _ in range(5)]
    started: list[int] = []

    def run(ticket) -> None:
        try:
            _wait_until_turn(queue, ticket)
            started.append(ticket.id)
            time.sleep(0.01)
        finally:
            queue.release(ticket)

    # Threads start in reverse order; the queue, not the scheduler, decides who goes first.
    threads = [threading.Thread(target=run, args=(t,)) for t in reversed(tickets)]
    for thread in threads:
        thread.start()
    _join(threads)
    assert started == [t.id for t in tickets]


def test_only_one_training_runs_at_a_time_among_many_threads() -> None:
    queue = TrainingQueue()
    guard = threading.Lock()
    running = 0
    most = 0
    finished = 0

    def visitor() -> None:
        nonlocal running, most, finished
        ticket = queue.take(LENET)
        try:
            _wait_until_turn(queue, ticket, poll=0.005)
            with guard:
                running += 1
                most = max(most, running)
            time.sleep(0.005)
            with guard:
                running -= 1
                finished += 1
        finally:
            queue.release(ticket, completed=True)

    threads = [threading.Thread(target=visitor) for _ in range(12)]
    for thread in threads:
        thread.start()
    _join(threads)
    assert (most, finished, running) == (1, 12, 0)
    assert queue.lineup() == ()


def test_waiters_learn_their_place_and_a_positive_estimate() -> None:
    queue = TrainingQueue(clock=FakeClock())  # a still clock: the running job's remaining time is the same for both
    first, second, third = (queue.take(r) for r in (LENET, ALEXNET, LENET))
    assert queue.wait_for_turn(first, 0)
    assert not queue.wait_for_turn(second, 0.01)

    assert queue.status(first) == QueueStatus(RUNNING, 0, 0.0, queue.estimate_seconds(LENET), False)
    two, three = queue.status(second), queue.status(third)
    assert (two.state, two.ahead, three.ahead) == (WAITING, 1, 2)
    assert 0 < two.wait_seconds < three.wait_seconds
    assert three.wait_seconds == pytest.approx(two.wait_seconds + queue.estimate_seconds(ALEXNET))
    assert two.run_seconds > 0 and not two.measured
    assert queue.lineup() == (LENET, ALEXNET, LENET)


def test_default_estimate_is_conservative_and_grows_with_the_work() -> None:
    queue = TrainingQueue()
    one_epoch = queue.estimate_seconds(TrainingRequest("lenet", "mnist", 1, 60_000))
    assert 20 <= one_epoch <= 120  # ~20 s on a fast 2-core machine, allowing for loading and evaluating
    assert queue.estimate_seconds(TrainingRequest("lenet", "mnist", 3, 60_000)) == pytest.approx(3 * one_epoch)
    assert queue.estimate_seconds(TrainingRequest("alexnet", "mnist", 1, 60_000)) > one_epoch
    assert queue.estimate_seconds(TrainingRequest("unknown", "mnist", 1, 60_000)) >= one_epoch


def test_a_finished_training_refines_the_estimate_for_its_architecture() -> None:
    clock = FakeClock()
    queue = TrainingQueue(clock=clock)
    tiny = queue.take(TrainingRequest("lenet", "mnist", 1, 512))
    assert queue.wait_for_turn(tiny, 0)
    clock.now += 9.0  # mostly loading and evaluating: too small to time
    queue.release(tiny, completed=True)
    assert not queue.status(tiny).measured

    queue = TrainingQueue(clock=clock)
    full = queue.take(LENET)
    assert queue.wait_for_turn(full, 0)
    clock.now += 30.0
    queue.release(full, completed=True)
    assert queue.estimate_seconds(LENET) == pytest.approx(30.0)
    assert queue.estimate_seconds(TrainingRequest("lenet", "mnist", 1, 60_000)) == pytest.approx(15.0)
    assert queue.status(full).measured

    big_alexnet = TrainingRequest("alexnet", "mnist", 1, 60_000)
    failed, leaving = queue.take(big_alexnet), queue.take(big_alexnet)
    before = queue.estimate_seconds(big_alexnet)
    queue.release(leaving)  # a waiting ticket released: nothing timed
    assert queue.wait_for_turn(failed, 0)
    clock.now += 500.0
    queue.release(failed)  # not completed: a crash or a stop says nothing about speed
    assert queue.estimate_seconds(big_alexnet) == before


def test_running_ticket_past_its_estimate_still_shows_a_wait() -> None:
    clock = FakeClock()
    queue = TrainingQueue(clock=clock)
    first, second = queue.take(LENET), queue.take(LENET)
    assert queue.wait_for_turn(first, 0)
    queue.claim(first)  # training
    clock.now += 10 * queue.estimate_seconds(LENET)
    assert queue.status(second).wait_seconds > 0


def test_cancelled_waiting_ticket_leaves_and_the_others_move_up() -> None:
    queue = TrainingQueue()
    running, second, third, fourth = (queue.take(LENET) for _ in range(4))
    assert queue.wait_for_turn(running, 0)
    queue.cancel(second)
    assert second.state == CANCELLED
    with pytest.raises(TicketClosed, match="cancelled"):
        queue.wait_for_turn(second, 0)
    assert (queue.status(third).ahead, queue.status(fourth).ahead) == (1, 2)
    assert len(queue.lineup()) == 3
    queue.release(running)
    assert queue.wait_for_turn(third, 0) and not queue.wait_for_turn(fourth, 0)


def test_cancel_reaches_a_thread_blocked_waiting() -> None:
    queue = TrainingQueue()
    running, waiting = queue.take(LENET), queue.take(LENET)
    assert queue.wait_for_turn(running, 0)
    outcome: list[str] = []

    def wait() -> None:
        try:
            queue.wait_for_turn(waiting, 30)
            outcome.append("turn")
        except TicketClosed:
            outcome.append("closed")

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.05)
    queue.cancel(waiting)
    _join([thread])
    assert outcome == ["closed"]


def test_cancelling_the_running_ticket_asks_its_training_to_stop() -> None:
    queue = TrainingQueue()
    running, waiting = queue.take(LENET), queue.take(LENET)
    assert queue.wait_for_turn(running, 0)
    assert not running.should_stop()
    queue.cancel(running)
    assert running.should_stop() and running.state == RUNNING
    # The cores stay busy until the training notices and its owner releases: nobody else starts meanwhile.
    assert not queue.wait_for_turn(waiting, 0.01)
    queue.release(running, completed=True)
    assert running.state == DONE and queue.wait_for_turn(waiting, 0)
    assert not queue.status(waiting).measured  # a stopped training is not timed


def test_a_fresh_ticket_s_should_stop_is_false_and_train_takes_one() -> None:
    """That ``train`` stops when the ticket says so: tests/test_models.py::test_training_can_be_cancelled."""
    import inspect

    from core.models import train

    assert "should_stop" in inspect.signature(train).parameters
    ticket = TrainingQueue().take(LENET)
    assert callable(ticket.should_stop) and ticket.should_stop() is False


def test_abandoned_waiting_ticket_expires_and_frees_its_place() -> None:
    clock = FakeClock()
    queue = TrainingQueue(abandon_after=60, clock=clock)
    running, abandoned, patient = (queue.take(LENET) for _ in range(3))
    assert queue.wait_for_turn(running, 0)
    queue.claim(running)
    clock.now += 40
    assert queue.status(patient).ahead == 2  # the patient one polls; the abandoned one does not
    clock.now += 30
    assert queue.status(patient).ahead == 1
    assert abandoned.state == EXPIRED
    with pytest.raises(TicketClosed, match="expired"):
        queue.wait_for_turn(abandoned, 0)
    queue.release(running)
    assert queue.wait_for_turn(patient, 0)


def test_abandoned_ticket_at_the_head_does_not_hold_up_the_queue() -> None:
    clock = FakeClock()
    queue = TrainingQueue(abandon_after=60, clock=clock)
    abandoned, patient = queue.take(LENET), queue.take(LENET)
    assert not queue.wait_for_turn(patient, 0)  # the head's turn has come, but its owner never claims it
    clock.now += 61
    assert queue.wait_for_turn(patient, 0) and abandoned.state == EXPIRED


def test_a_ticket_blocked_in_wait_for_turn_never_expires() -> None:
    clock = FakeClock()
    queue = TrainingQueue(abandon_after=60, clock=clock)
    running, waiting = queue.take(LENET), queue.take(LENET)
    assert queue.wait_for_turn(running, 0)
    queue.claim(running)
    thread = threading.Thread(target=queue.wait_for_turn, args=(waiting, 0.5))
    thread.start()
    time.sleep(0.05)
    clock.now += 1000  # its owner is inside a long wait, not gone
    assert len(queue.lineup()) == 2 and waiting.state == WAITING
    _join([thread])
    queue.release(running)
    assert queue.wait_for_turn(waiting, 0)


def test_a_turn_its_owner_never_claims_lapses_and_the_next_one_trains() -> None:
    """The turn came (the page's waiting fragment saw it and asked for a full run to train in), but the tab closed
    before that run claimed it: the others must not wait for a training that never starts."""
    clock = FakeClock()
    queue = TrainingQueue(abandon_after=60, clock=clock)
    gone, next_one = queue.take(LENET), queue.take(LENET)
    assert queue.wait_for_turn(gone, 0) and gone.state == RUNNING
    clock.now += 59
    assert not queue.wait_for_turn(next_one, 0)  # still within its owner's time to claim it
    clock.now += 2
    assert queue.wait_for_turn(next_one, 0) and gone.state == EXPIRED
    with pytest.raises(TicketClosed, match="expired"):
        queue.claim(gone)  # a run that comes back too late is told, and trains nothing
    queue.claim(next_one)
    clock.now += 1000  # a claimed training is never cut short, however long it takes
    assert queue.lineup() == (LENET,) and next_one.state == RUNNING


def test_release_in_finally_frees_the_queue_when_training_raises() -> None:
    queue = TrainingQueue()
    crashing, next_one = queue.take(LENET), queue.take(LENET)

    def crashing_session() -> None:
        completed = False
        try:
            _wait_until_turn(queue, crashing)
            raise RuntimeError("out of memory")
        finally:
            queue.release(crashing, completed=completed)

    with pytest.raises(RuntimeError, match="out of memory"):
        crashing_session()
    assert crashing.state == DONE
    assert queue.wait_for_turn(next_one, 0)
    queue.release(crashing)  # twice is harmless
    assert queue.lineup() == (LENET,)


def test_releasing_a_waiting_ticket_gives_up_its_place() -> None:
    queue = TrainingQueue()
    running, leaving, staying = (queue.take(LENET) for _ in range(3))
    assert queue.wait_for_turn(running, 0)
    queue.release(leaving)  # e.g. the page reran while waiting and its finally ran
    assert leaving.state == CANCELLED and queue.status(staying).ahead == 1


def test_one_shared_queue_and_a_short_visitor_limit() -> None:
    assert isinstance(TRAINING_QUEUE, TrainingQueue)
    assert VISITOR_MAX_EPOCHS == 5
