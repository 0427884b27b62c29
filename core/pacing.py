"""When to redraw a picture that grows with its stimuli: soon after a change, then as often as the machine affords.

A student who moves a slider should see a picture at once and watch it sharpen; a fast machine, which finishes in
a blink, should get the final picture rather than a stutter of partial ones. Every partial picture costs the CPU
the model's pass needs (the figure on the server, its drawing in the browser): on a slow machine four a second
made a 10,000-stimulus change take six times as long. So partial pictures may take only a small share of the
time, and none is drawn when the final one is about to come.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

REDRAW_EVERY = 0.34  # seconds between partial pictures at most: about three a second on a fast machine (four a
# second made the complete picture 3.5 % later there: bench/results/ab_three_a_second_oneoff.log)
DRAW_SHARE = 0.3  # partial pictures may take this share of the time since the change (the server's part);
# at 0.1 a fast machine drew one partial picture in 2.5 s, which the browser never showed
CHUNK_SECONDS = 0.2  # a chunk through the model takes about this long, so a redraw fits between two
MOST_PARTIALS = 10  # partial pictures per run at most, spread over it: where the browser shares a slow CPU with
# the server each costs it about 0.2 s (measured at 0.5 CPU: 20 per 10,000-stimulus change made it 3.2 × the
# network alone); a fast machine, whose runs are short, keeps the every-interval
LONGEST_WAIT = 1.0  # seconds between redraws at most, however long the run: its bar and picture keep moving


@dataclass
class RedrawPacing:
    """Decides, after each chunk, whether to draw the partial picture (times from ``time.perf_counter``)."""

    started: float
    every: float = REDRAW_EVERY
    share: float = DRAW_SHARE
    most: int = MOST_PARTIALS
    longest: float = LONGEST_WAIT
    last: float | None = None
    spent: float = 0.0  # seconds spent drawing partial pictures so far

    def due(self, now: float, done: int, total: int) -> bool:
        """Draw now? Not when nothing or everything is done, nor when the rest, at the speed so far, takes less
        than half an interval, nor while drawing has had more than its share of the time; otherwise at once for
        the first partial picture, then at most every ``every`` seconds, and no more often than ``most`` spread
        over the run's expected length, unless that would leave more than ``longest`` seconds between two."""
        if done <= 0 or done >= total:
            return False
        elapsed = now - self.started
        if elapsed / done * (total - done) < self.every / 2:
            return False
        if self.last is None:
            return True
        interval = max(self.every, min(elapsed / done * total / self.most, self.longest))
        return now - self.last >= interval and self.spent <= self.share * elapsed

    def drawn(self, now: float, seconds: float = 0.0) -> None:
        """A partial picture was drawn, ending at ``now`` and taking ``seconds``."""
        self.last = now
        self.spent += seconds

    def draw_if_due(self, done: int, total: int, draw: Callable[[], object],
                    clock: Callable[[], float] = time.perf_counter) -> bool:
        """Call ``draw`` if a partial picture is ``due`` now, and count the time it took; whether it was called."""
        now = clock()
        if not self.due(now, done, total):
            return False
        draw()
        end = clock()
        self.drawn(end, end - now)
        return True
