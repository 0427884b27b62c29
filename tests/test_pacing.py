"""Redraw pacing: a picture at once after a change, then a few a second, none just before the end."""

from __future__ import annotations

from core.pacing import RedrawPacing


def test_first_partial_picture_comes_at_once_when_the_run_will_take_a_while() -> None:
    pacing = RedrawPacing(started=0.0, every=0.25)
    assert pacing.due(now=0.04, done=100, total=10_000)  # 4 s to go at this speed


def test_a_run_about_to_end_draws_only_its_final_picture() -> None:
    """A fast machine: 10,000 stimuli in 0.1 s. No stutter of partial pictures."""
    pacing = RedrawPacing(started=0.0, every=0.25)
    assert not pacing.due(now=0.001, done=100, total=10_000)  # 0.099 s to go
    assert not pacing.due(now=0.1, done=10_000, total=10_000)  # done: the final picture is the caller's


def test_partial_pictures_are_spaced_by_the_interval() -> None:
    pacing = RedrawPacing(started=0.0, every=0.25, most=1_000)
    pacing.drawn(0.05)
    assert not pacing.due(now=0.2, done=500, total=10_000)
    assert pacing.due(now=0.31, done=800, total=10_000)
    pacing.drawn(0.32)
    assert not pacing.due(now=0.5, done=1_200, total=10_000)
    assert pacing.due(now=0.58, done=1_400, total=10_000)


def test_nothing_to_draw_before_the_first_chunk() -> None:
    assert not RedrawPacing(started=0.0).due(now=1.0, done=0, total=1_000)


def test_partial_pictures_take_only_their_share_of_the_time() -> None:
    """A slow machine: each partial picture took 0.3 s to draw. After the first, the next waits until drawing is
    back within 10 % of the time since the change."""
    pacing = RedrawPacing(started=0.0, every=0.25, share=0.1)
    assert pacing.due(now=0.1, done=100, total=10_000)
    pacing.drawn(0.4, seconds=0.3)
    assert not pacing.due(now=1.0, done=1_000, total=10_000)  # 0.3 s of 1.0 s spent drawing
    assert not pacing.due(now=2.9, done=3_000, total=10_000)
    assert pacing.due(now=3.1, done=3_100, total=10_000)  # 0.3 s of 3.1 s


def partial_pictures(seconds: float, chunk: int = 50, **pacing_options: float) -> list[float]:
    """When partial pictures are drawn in a run of 10,000 stimuli taking ``seconds``, checked after every chunk."""
    pacing, times = RedrawPacing(started=0.0, **pacing_options), []
    for done in range(chunk, 10_000, chunk):
        now = seconds * done / 10_000
        if pacing.due(now, done, 10_000):
            pacing.drawn(now)
            times.append(now)
    return times


def test_a_long_run_spreads_at_most_its_share_of_partial_pictures() -> None:
    """A slow machine: 10,000 stimuli in 10 s, checked after every 50-stimulus chunk. At most ``most`` partial
    pictures, spread over the run (not all in its first seconds); a 1-second run keeps the 0.25 s interval."""
    def drawn_at(seconds: float, most: int) -> list[float]:
        return partial_pictures(seconds, every=0.25, most=most)

    slow = drawn_at(10.0, most=10)
    assert 8 <= len(slow) <= 10 and slow[0] < 0.1 and slow[-1] > 8.0
    assert min(b - a for a, b in zip(slow, slow[1:])) >= 0.99
    assert len(drawn_at(1.0, most=10)) == 4  # 0.05, 0.3, 0.55, 0.8 s: every 0.25 s
    long = drawn_at(100.0, most=10)  # a run of minutes still moves at least once a second
    assert len(long) > 90 and max(b - a for a, b in zip(long, long[1:])) <= 1.01


def test_draw_if_due_draws_only_when_due_and_counts_the_drawing_time() -> None:
    """The pages' one way to draw a partial picture: the clock read before and after the drawing is what the
    share of drawing time is measured with."""
    ticks, drawn = iter([0.1, 0.4, 0.5]), []
    pacing = RedrawPacing(started=0.0, every=0.25, share=0.1)
    assert pacing.draw_if_due(100, 10_000, lambda: drawn.append(1), clock=lambda: next(ticks))
    assert drawn == [1] and pacing.last == 0.4 and abs(pacing.spent - 0.3) < 1e-9
    assert not pacing.draw_if_due(1_000, 10_000, lambda: drawn.append(2), clock=lambda: next(ticks))
    assert drawn == [1]  # 0.3 s of 0.5 s spent drawing: over the share


def test_a_one_second_run_gets_about_three_partial_pictures_by_default() -> None:
    """The issue asks for about 3-5 a second; four made a fast box's complete picture 3.5 % later than three."""
    drawn = partial_pictures(1.0, chunk=100)  # 10,000 stimuli in 1 s, chunks of 100, the default pacing
    assert len(drawn) == 3 and drawn[0] == 0.01
