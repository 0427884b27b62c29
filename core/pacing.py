"""When to redraw a picture that grows with its stimuli: soon after a change, then a few times a second.

A student who moves a slider should see a picture at once and watch it sharpen, on a slow laptop as on a fast
server; a fast machine, which finishes in a blink, should get the final picture rather than a stutter of partial
ones. Every partial picture costs the server a figure, so none is drawn when the final one is about to come.
"""

from __future__ import annotations

from dataclasses import dataclass

REDRAW_EVERY = 0.25  # seconds between partial pictures: about four a second
CHUNK_SECONDS = 0.2  # a chunk through the model takes about this long, so a redraw fits between two


@dataclass
class RedrawPacing:
    """Decides, after each chunk, whether to draw the partial picture (times from ``time.perf_counter``)."""

    started: float
    every: float = REDRAW_EVERY
    last: float | None = None

    def due(self, now: float, done: int, total: int) -> bool:
        """Draw now? Not when nothing or everything is done, nor when the rest, at the speed so far, takes less
        than half an interval; otherwise at once for the first partial picture, then every ``every`` seconds."""
        if done <= 0 or done >= total:
            return False
        remaining = (now - self.started) / done * (total - done)
        if remaining < self.every / 2:
            return False
        return self.last is None or now - self.last >= self.every

    def drawn(self, now: float) -> None:
        self.last = now
