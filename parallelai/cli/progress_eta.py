"""When a run will be done, from the throughput observed so far: the `run` progress and `watch`.

The rate is taken over the latest finishes (a window), not the whole run, so a run that speeds up
once its slow first tasks are done, or slows down when a provider starts limiting it, is
estimated from how it goes now; and it is measured up to now, so an ETA grows while nothing
finishes instead of standing still. No estimate before a few tasks have finished: the first
ones say little about the rest.
"""

from __future__ import annotations

from collections import deque

MIN_FINISHED = 3
WINDOW = 50


class Eta:
    """Feed it each task's end (`finished`); ask it for the seconds left (`estimate`)."""

    def __init__(self, origin: float, *, min_finished: int = MIN_FINISHED, window: int = WINDOW) -> None:
        """`origin`: when the work being measured began (epoch seconds, like events' `at`)."""
        self._origin = origin
        self._min = min_finished
        self._ends: deque[float] = deque(maxlen=window)
        self._count = 0

    def finished(self, at: float) -> None:
        if len(self._ends) == self._ends.maxlen:
            # The finish leaving the window is where the window's time now starts.
            self._origin = self._ends[0]
        self._ends.append(at)
        self._count += 1

    @property
    def observed(self) -> int:
        return self._count

    def rate(self, now: float) -> float | None:
        """Tasks finished per second over the window, up to `now`; None before MIN_FINISHED."""
        if self._count < self._min:
            return None
        elapsed = max(now, self._ends[-1]) - self._origin
        return len(self._ends) / elapsed if elapsed > 0 else None

    def estimate(self, remaining: int, now: float) -> float | None:
        """Seconds until `remaining` more tasks have finished at the current rate, or None."""
        if remaining <= 0:
            return 0.0
        rate = self.rate(now)
        return remaining / rate if rate else None


def duration(seconds: float) -> str:
    """`<1s`, `42s`, `3m 05s`, `2h 07m`: as precise as a person needs, no more."""
    if seconds < 0.5:
        return "<1s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m {rest:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def eta_text(eta: Eta, remaining: int, now: float) -> str:
    """`ETA 3m 05s`; `ETA …` until enough tasks have finished to tell; empty once all are done."""
    if remaining <= 0:
        return ""
    left = eta.estimate(remaining, now)
    return "ETA …" if left is None else f"ETA {duration(left)}"
