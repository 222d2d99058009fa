"""Retry timing: exponential backoff with full jitter, never shorter than the engine's retry-after."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 60.0

    def delay(self, failed_attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait after attempt `failed_attempt` (1-based) failed."""
        ceiling = min(self.cap_s, self.base_s * 2 ** (failed_attempt - 1))
        # Full jitter spreads a burst of failures (429s from one provider) over the window.
        jittered = rng.uniform(ceiling / 2, ceiling)
        return max(jittered, retry_after_s or 0.0)
