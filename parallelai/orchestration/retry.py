"""Retry timing: exponential backoff with full jitter, never shorter than the engine's retry-after,
and the ceiling on a retry-after worth waiting for."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from parallelai.ratelimits.ceiling import DEFAULT_MAX_RETRY_AFTER_S, beyond_ceiling


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 60.0
    # The longest retry-after waited out. A rate limit asking for longer (a spent daily quota, `inf`)
    # fails its task (`outcome.py`); any other hint is cut down to it (a busy server comes back).
    max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S

    def refuses(self, retry_after_s: float | None) -> bool:
        """Whether the provider's requested wait is beyond the ceiling."""
        return beyond_ceiling(retry_after_s, self.max_retry_after_s)

    def delay(self, failed_attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait after attempt `failed_attempt` (1-based) failed."""
        ceiling = min(self.cap_s, self.base_s * 2 ** (failed_attempt - 1))
        # Full jitter spreads a burst of failures (429s from one provider) over the window.
        jittered = rng.uniform(ceiling / 2, ceiling)
        hint = min(retry_after_s, self.max_retry_after_s) if retry_after_s is not None else 0.0
        return max(jittered, hint if math.isfinite(hint) else self.max_retry_after_s)
