"""Launch staggering: CLIs that share files at start-up are started one interval apart."""

from __future__ import annotations

import math
import time

import anyio


class LaunchStagger:
    """Lets one launch through every `interval_s` seconds; the rest queue in arrival order."""

    def __init__(self) -> None:
        self._lock = anyio.Lock()
        self._last = -math.inf

    async def wait(self, interval_s: float) -> None:
        if interval_s <= 0:
            return
        async with self._lock:
            delay = self._last + interval_s - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
            self._last = time.monotonic()
