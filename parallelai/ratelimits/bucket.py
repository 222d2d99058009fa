"""A token bucket with debt: capacity, refill rate, and how long a cost waits. Pure: the caller passes `now`.

A cost larger than the bucket (a 50,000-token prompt against a 1-second bucket of 30,000) is let
through once the bucket is full and leaves it in debt, so no request waits forever; the debt then
holds back whatever follows until the refill has paid it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    rate: float  # units per second (a per-minute limit / 60)
    capacity: float  # the most that may go at once: the burst the provider tolerates
    level: float  # units available at `at` (negative: in debt)
    at: float  # when `level` was true (monotonic seconds)

    @classmethod
    def full(cls, rate: float, capacity: float, now: float) -> TokenBucket:
        return cls(rate, capacity, capacity, now)

    def level_at(self, now: float) -> float:
        return min(self.capacity, self.level + self.rate * max(now - self.at, 0.0))

    def wait(self, cost: float, now: float) -> float:
        """Seconds until `cost` may be taken (0 now); an oversized cost needs a full bucket."""
        need = min(cost, self.capacity)
        missing = need - self.level_at(now)
        return max(missing / self.rate, 0.0) if self.rate > 0 else (0.0 if missing <= 0 else float("inf"))

    def take(self, cost: float, now: float) -> None:
        self.level, self.at = self.level_at(now) - cost, now

    def give_back(self, amount: float, now: float) -> None:
        """Return part of an estimate that turned out too high (or take more with a negative amount)."""
        self.level, self.at = min(self.capacity, self.level_at(now) + amount), now

    def cap_at(self, remaining: float, now: float) -> None:
        """The provider says only `remaining` is left: believe it when it is less than we thought."""
        self.level, self.at = min(self.level_at(now), remaining), now

    def retune(self, rate: float, capacity: float, now: float) -> None:
        """A new limit: keep what is available (within the new capacity), refill at the new rate."""
        self.level, self.at = min(self.level_at(now), capacity), now
        self.rate, self.capacity = rate, capacity
