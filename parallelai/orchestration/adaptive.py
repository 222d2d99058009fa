"""The adaptive strategy's controller: how many attempts of each engine may run at once.

One limit per engine, because providers limit per account and model: one engine's refusals say
nothing about another's. The limit is learnt from what attempts report, AIMD-style:

- it starts at min(ceiling, 4) and grows by one per success — doubling every round — until the
  first refusal (slow start);
- a refusal (`rate_limited` or `overloaded`) halves it, remembers the concurrency just below the
  one refused (the knee: the refused attempt's place among the engine's running ones, less one)
  and pauses the engine's new attempts for the refusal's retry-after. Refusals of attempts
  admitted before that cut answer the old limit, not this one: they do not cut again;
- below the knee it grows back one per success; at or above the knee it probes one higher only
  after `PROBE_ROUNDS` rounds without a refusal (a round: as many successes as the limit), so a
  provider that refuses above a fixed concurrency sees one refusal per probe, not one per round.
  Each probe that holds halves the wait for the next (down to one round): a provider that allows
  more than the knee says is found in a few dozen rounds, not hundreds;
- it grows only while the engine uses all of it (a limit nobody tests says nothing), not while
  latency climbs (the moving average past twice the best seen), nor while the machine is busy,
  and never past the ceiling (`parallel`, the engine's own limit) or what the machine's memory
  leaves room for.

Pure decisions: no clock, no I/O. The scheduler passes `now` and the machine's reading, and
publishes each `Change` as a `concurrency.changed` event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from parallelai.models import ErrorKind, TaskResult
from parallelai.orchestration.machine import MachineReading

START_LIMIT = 4
PROBE_ROUNDS = 10  # rounds at the knee before trying one more: about 1 refusal per 10 rounds
LATENCY_CLIMB = 2.0  # the moving average over the best seen past which growth stops
LATENCY_WEIGHT = 0.2  # of the newest latency in the moving average
LATENCY_FLOOR_S = 0.05  # below this, differences are the event loop's noise, not the provider's
AGENT_BYTES = 256 * 2**20  # what one agent may take: a CLI assistant's process, conservatively
BUSY_LOAD_PER_CPU = 2.0  # every CPU with a queue of two: more agents would only wait for a CPU
REFUSALS = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED})


@dataclass(frozen=True, slots=True)
class Change:
    """An engine's limit moved from `old` (None at the start) to `new`, for `reason`."""

    engine: str
    old: int | None
    new: int
    reason: str


@dataclass(slots=True)
class _EngineLimit:
    limit: int
    ceiling: int
    knee: int | None = None  # the concurrency below the last one refused; None before any refusal
    epoch: int = 0  # counts the cuts: an attempt's refusal counts only if it began after the last
    credit: int = 0  # successes since the limit last changed
    probes: int = 0  # probes above the knee that held since the last refusal
    paused_until: float = 0.0
    latency: float | None = None  # moving average of successful attempts, seconds
    best_latency: float | None = None


@dataclass(frozen=True, slots=True)
class Headroom:
    """What the machine allows: at most `agents` running in all (None: no limit known), and
    whether it is too busy for more."""

    agents: int | None
    busy: bool


def headroom(reading: MachineReading, running: int) -> Headroom:
    """The machine's room for agents, with `running` of them at work already."""
    agents = None
    if reading.available_bytes is not None:
        agents = max(1, running + reading.available_bytes // AGENT_BYTES)
    return Headroom(agents, reading.load_per_cpu >= BUSY_LOAD_PER_CPU)


class AdaptiveConcurrency:
    """The limits of one run's engines; `ceilings` maps each engine to the most it may ever run."""

    def __init__(self, ceilings: Mapping[str, int]) -> None:
        self._engines = {
            engine: _EngineLimit(limit=min(ceiling, START_LIMIT), ceiling=ceiling)
            for engine, ceiling in ceilings.items()
        }

    def start(self) -> list[Change]:
        """The limits the run starts with."""
        return [
            Change(engine, None, state.limit, f"start at {state.limit}, at most {state.ceiling}")
            for engine, state in self._engines.items()
        ]

    def allowed(self, engine: str, now: float) -> int:
        """How many attempts of `engine` may run at `now`: its limit, or 0 while it is paused."""
        state = self._engines[engine]
        return 0 if now < state.paused_until else state.limit

    def epoch(self, engine: str) -> int:
        """To hand back to `observe` with the result of an attempt that starts now."""
        return self._engines[engine].epoch

    def limit(self, engine: str) -> int:
        return self._engines[engine].limit

    def pause_left(self, engine: str, now: float) -> float:
        return max(0.0, self._engines[engine].paused_until - now)

    def observe(
        self,
        engine: str,
        result: TaskResult,
        *,
        epoch: int,
        place: int,
        latency_s: float,
        now: float,
        machine: Headroom,
        saturated: bool,
    ) -> Change | None:
        """What an attempt of `engine` ended with `result` changes. It was admitted in `epoch` as
        the `place`-th of the engine's running attempts; `saturated` when as many attempts of the
        engine run now as its limit allows."""
        state = self._engines[engine]
        old = state.limit
        error = result.error
        if error is not None and error.kind in REFUSALS:
            if error.retry_after:
                state.paused_until = max(state.paused_until, now + error.retry_after)
            if epoch != state.epoch:
                return None  # it answers a limit already cut
            refused_at = min(old, place)
            state.knee = max(1, refused_at - 1)
            state.limit = max(1, refused_at // 2)
            state.epoch += 1
            state.credit = state.probes = 0
            pause = f"; paused {error.retry_after:g} s as asked" if error.retry_after else ""
            return Change(engine, old, state.limit, f"{error.kind} at {refused_at} running{pause}")
        cap = state.ceiling if machine.agents is None else min(state.ceiling, machine.agents)
        if old > cap:
            state.limit, state.credit = cap, 0
            return Change(engine, old, cap, f"machine memory holds {cap} agents")
        if error is not None:
            return None  # the agent's own failure: it says nothing about the provider's room
        state.credit += 1
        if _latency_climbs(state, latency_s) or machine.busy or old >= cap or not saturated:
            return None
        if state.knee is None:
            reason = "no refusal yet"
        elif old < state.knee:
            reason = f"back towards {state.knee}, the last limit that held"
        elif state.credit >= max(old, (PROBE_ROUNDS * old) >> state.probes):
            reason = f"probing: {state.credit} successes at {old} without a refusal"
            state.probes += 1
        else:
            return None
        state.limit, state.credit = old + 1, 0
        return Change(engine, old, state.limit, reason)


def _latency_climbs(state: _EngineLimit, latency_s: float) -> bool:
    """Fold `latency_s` into the moving average; whether it now stands well above the best seen."""
    average = (
        latency_s if state.latency is None else state.latency + LATENCY_WEIGHT * (latency_s - state.latency)
    )
    state.latency = average
    if state.best_latency is None or average < state.best_latency:
        state.best_latency = average
    return average > LATENCY_CLIMB * max(state.best_latency, LATENCY_FLOOR_S)


def engine_ceilings(
    engines: Iterable[str], max_parallel: int, per_engine: Mapping[str, int]
) -> dict[str, int]:
    """The most each engine may run at once: the run's `parallel`, or the engine's own lower limit."""
    return {engine: min(max_parallel, per_engine.get(engine, max_parallel)) for engine in engines}
