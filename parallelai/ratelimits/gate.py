"""One provider account's rate gate: requests wait here until the account's limits let them go.

Every request of the account, from every run and task of the process, passes `admit()` before it
is sent and reports what came back with `observe()`. The gate keeps one token bucket per limit
it knows (requests, tokens, input tokens, output tokens per minute), learnt from the provider's
headers or seeded from settings, and refills it at a little under the published rate; its
capacity is half a second of that rate, because providers enforce "60 RPM" as about one request
a second and refuse bursts. A 429 pauses every admission until its retry-after, not just the
task that got it.

A gate that knows nothing yet (a fresh account, no seed) lets one request go and holds the rest
until that request's response headers arrive: they say what the limits are, where a burst of
everything at once would have been refused. An account whose responses carry no limits (a local
server) is never waited on after that first response.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from parallelai.ratelimits.account import Account
from parallelai.ratelimits.bucket import TokenBucket
from parallelai.ratelimits.ceiling import DEFAULT_MAX_RETRY_AFTER_S, beyond_ceiling
from parallelai.ratelimits.headers import Dimension, Reading, read_headers, requested_wait

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class GateState:
    """What a surface shows of a gate (`parallelai engines`, `/metrics`, the dashboard)."""

    account: Account
    limits: dict[Dimension, float]  # per minute, as learnt or seeded
    remaining: dict[Dimension, float]  # as the provider last reported it
    available: dict[Dimension, float]  # what the gate would let go right now
    paused_until: float | None  # epoch seconds, while a 429's retry-after runs
    learnt: bool  # a response (or a seed) has said what the limits are
    waiting: int
    admitted: int
    refused: int  # 429s reported back


@dataclass(slots=True)
class Ticket:
    """One admitted request: what it was charged, to settle once its real usage is known."""

    gate: RateGate
    input_tokens: float
    output_tokens: float
    probe: bool = False
    settled: bool = False

    def settle(self, input_tokens: float, output_tokens: float) -> None:
        """Correct the estimate charged at admission with what the provider counted."""
        if not self.settled:
            self.settled = True
            self.gate._settle(self, input_tokens, output_tokens)


class RateGate:
    def __init__(
        self,
        account: Account,
        *,
        seed: Mapping[Dimension, float] | None = None,
        utilisation: float = 0.98,
        burst_s: float = 0.5,
        max_pause_s: float = DEFAULT_MAX_RETRY_AFTER_S,
        default_pause_s: float = 1.0,
        probe: bool = True,
        probe_timeout_s: float = 10.0,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
    ) -> None:
        self.account = account
        self._utilisation, self._burst_s = utilisation, burst_s
        self._max_pause_s, self._default_pause_s = max_pause_s, default_pause_s
        self._clock, self._wall = clock, wall
        self._buckets: dict[Dimension, TokenBucket] = {}
        self._limits: dict[Dimension, float] = {}
        self._seeded: dict[Dimension, float] = {}
        self._published: set[Dimension] = set()  # limits the provider's headers gave: a seed yields
        self._remaining: dict[Dimension, float] = {}
        self._paused_until = -math.inf
        self._learnt = bool(seed) or not probe
        self._probe_started: float | None = None  # when the request sent to learn the limits went
        self._probe_timeout_s = probe_timeout_s
        self._lock = anyio.Lock()  # admissions go one at a time, first come first served
        self._changed: anyio.Event | None = None
        self._waiting = self._admitted = self._refused = 0
        self.seed(seed or {})

    def seed(self, limits: Mapping[Dimension, float]) -> None:
        """Limits known beforehand (settings, a documented tier); the provider's own headers win."""
        if not limits or limits == self._seeded:
            return
        self._seeded = dict(limits)
        now = self._clock()
        for dimension, per_minute in limits.items():
            if dimension not in self._published:
                self._set_limit(dimension, per_minute, now)
        self._learnt = True
        self._notify()

    # -- admission ------------------------------------------------------------------------------

    @asynccontextmanager
    async def admit(self, input_tokens: float = 0, output_tokens: float = 0) -> AsyncIterator[Ticket]:
        """Wait until the account may take one more request of about this many tokens; the body of
        the `async with` sends it. Leaving the block ends a probe that learnt nothing."""
        ticket = await self.acquire(input_tokens, output_tokens)
        try:
            yield ticket
        finally:
            self.release(ticket)

    async def acquire(self, input_tokens: float = 0, output_tokens: float = 0) -> Ticket:
        self._waiting += 1
        try:
            async with self._lock:
                while (wait := self._wait(input_tokens, output_tokens)) > 0:
                    await self._sleep(wait)
                return self._charge(input_tokens, output_tokens)
        finally:
            self._waiting -= 1

    async def until_open(self) -> None:
        """Wait while the account is paused by a 429's retry-after: for agents that send their own
        requests (a CLI agent), whose launch is all the gate can hold."""
        self._waiting += 1
        try:
            while (wait := self._paused_until - self._clock()) > 0:
                await self._sleep(wait)
        finally:
            self._waiting -= 1

    def release(self, ticket: Ticket) -> None:
        if ticket.probe and not self._learnt:
            self._probe_started = None  # it failed before any headers: the next request probes
            self._notify()

    def _wait(self, input_tokens: float, output_tokens: float) -> float:
        now = self._clock()
        if not self._learnt and self._probe_started is not None:
            if now - self._probe_started < self._probe_timeout_s:
                return self._probe_started + self._probe_timeout_s - now
            self._learnt = True  # the probe hangs: stop holding everyone for it
        waits = [self._paused_until - now]
        for dimension, cost in self._costs(input_tokens, output_tokens).items():
            if (bucket := self._buckets.get(dimension)) is not None:
                waits.append(bucket.wait(cost, now))
        return max(waits)

    def _charge(self, input_tokens: float, output_tokens: float) -> Ticket:
        now = self._clock()
        for dimension, cost in self._costs(input_tokens, output_tokens).items():
            if (bucket := self._buckets.get(dimension)) is not None:
                bucket.take(cost, now)
        self._admitted += 1
        probe = not self._learnt
        if probe:
            self._probe_started = now
        return Ticket(self, input_tokens, output_tokens, probe=probe)

    def _settle(self, ticket: Ticket, input_tokens: float, output_tokens: float) -> None:
        now = self._clock()
        charged = self._costs(ticket.input_tokens, ticket.output_tokens)
        actual = self._costs(input_tokens, output_tokens)
        for dimension in ("tokens", "input_tokens", "output_tokens"):
            if (bucket := self._buckets.get(dimension)) is not None:
                bucket.give_back(charged[dimension] - actual[dimension], now)

    @staticmethod
    def _costs(input_tokens: float, output_tokens: float) -> dict[Dimension, float]:
        return {
            "requests": 1.0,
            "tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }

    async def _sleep(self, seconds: float) -> None:
        """Until `seconds` pass or the gate changes (limits learnt, a pause), whichever comes first."""
        if self._changed is None:
            self._changed = anyio.Event()
        changed = self._changed
        with anyio.move_on_after(seconds):
            await changed.wait()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # -- what responses say ---------------------------------------------------------------------

    def observe(
        self,
        headers: Mapping[str, str],
        status: int = 200,
        *,
        retry_after_s: float | None = None,
        refused: bool | None = None,
    ) -> None:
        """Learn from one response: its rate-limit headers, and with a 429 (`refused`, unless the
        engine knows better: a spent budget is no rate limit) a pause of every admission for the
        provider's retry-after (`retry_after_s`, else read from the headers)."""
        now = self._clock()
        self._learn(read_headers(headers, self._wall()), now)
        if refused if refused is not None else status == 429:
            self._refused += 1
            wait = retry_after_s if retry_after_s is not None else requested_wait(headers, self._wall())
            self.pause(self._default_pause_s if wait is None else wait)
        self._learnt = True
        self._notify()

    def pause(self, seconds: float) -> None:
        """Hold every admission for `seconds`; a wait beyond the ceiling is not honoured (the task that
        got it fails, and so will the others that try, at once rather than after a day)."""
        if beyond_ceiling(seconds, self._max_pause_s):
            return
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._notify()

    def _learn(self, reading: Reading, now: float) -> None:
        for dimension, window in reading.items():
            per_minute = window.per_minute
            if per_minute is not None and per_minute > 0:
                self._published.add(dimension)
                self._set_limit(dimension, per_minute, now)
            if window.remaining is not None:
                self._remaining[dimension] = window.remaining
                if (bucket := self._buckets.get(dimension)) is not None:
                    bucket.cap_at(window.remaining, now)

    def _set_limit(self, dimension: Dimension, per_minute: float, now: float) -> None:
        rate = per_minute / 60.0 * self._utilisation
        capacity = rate * self._burst_s
        if dimension == "requests":
            capacity = max(capacity, 1.0)
        self._limits[dimension] = per_minute
        bucket = self._buckets.get(dimension)
        if bucket is None:
            self._buckets[dimension] = TokenBucket.full(rate, capacity, now)
        elif (bucket.rate, bucket.capacity) != (rate, capacity):
            bucket.retune(rate, capacity, now)

    # -- for surfaces ---------------------------------------------------------------------------

    def state(self) -> GateState:
        now, wall = self._clock(), self._wall()
        paused = self._paused_until - now
        return GateState(
            account=self.account,
            limits=dict(self._limits),
            remaining=dict(self._remaining),
            available={d: max(b.level_at(now), 0.0) for d, b in self._buckets.items()},
            paused_until=wall + paused if paused > 0 else None,
            learnt=self._learnt,
            waiting=self._waiting,
            admitted=self._admitted,
            refused=self._refused,
        )
