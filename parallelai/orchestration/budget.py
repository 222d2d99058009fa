"""A run's spending against its limits: cost and tokens so far, what the tasks in flight are
expected to spend, and when a limit is reached.

A budget must hold while tasks run in parallel, so spending is reserved before it happens: a task
is admitted only if what the run has spent, plus the estimates of the tasks in flight, plus its
own estimate fits the limits. A task's estimate is the mean of what the finished attempts on its
engine spent. Before an engine has finished one, nothing is known of its prices (an answer may
cost a hundredth of a cent or a dollar), so one attempt per engine runs alone as a probe: the
blind overshoot is at most one task per engine. The budget is then overshot only by how far the
tasks in flight when it was reached spend past their estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from parallelai.models import RunLimits, Usage

_NOTHING = Usage()


@dataclass(frozen=True, slots=True)
class Overrun:
    """A limit the spending has reached, and how to say so."""

    limit: Literal["cost", "tokens"]
    spent: float
    maximum: float
    reason: str
    next_task: Usage | None = None  # set when the run stops because the next task would pass the limit


@dataclass(frozen=True, slots=True)
class Reservation:
    """What an admitted task is expected to spend; given back when its attempt ends."""

    engine: str
    usage: Usage
    probe: bool = False  # the engine's first attempt, admitted without an estimate


UNLIMITED = Reservation("", _NOTHING)


class Budget:
    def __init__(self, limits: RunLimits, spent: Usage | None = None) -> None:
        self._limits = limits
        self.spent = spent or Usage()  # a resumed run starts from what it had already spent
        self._limited = limits.max_cost_usd is not None or limits.max_tokens is not None
        self._reserved = Usage()
        self._observed: dict[str, tuple[int, Usage]] = {}  # engine -> (attempts, what they spent)
        self._probing: set[str] = set()
        self._refused: Usage | None = None  # the last estimate that did not fit

    def reserve(self, engine: str) -> Reservation | None:
        """Reserve what a task on `engine` is expected to spend; None when it does not fit."""
        if not self._limited:
            return UNLIMITED
        estimate = self.estimate(engine)
        if estimate is None:
            if engine in self._probing:
                return None
            self._probing.add(engine)
            return Reservation(engine, _NOTHING, probe=True)
        if self._passes(self.spent + self._reserved + estimate) is not None:
            self._refused = estimate
            return None
        self._reserved = self._reserved + estimate
        return Reservation(engine, estimate)

    def release(self, reservation: Reservation) -> None:
        """The reserved task's attempt ended (what it spent was `add`ed before)."""
        if reservation.probe:
            self._probing.discard(reservation.engine)
        elif reservation is not UNLIMITED:
            self._reserved = _minus(self._reserved, reservation.usage)

    def estimate(self, engine: str) -> Usage | None:
        """The mean spending of the finished attempts on `engine`; None before any."""
        observed = self._observed.get(engine)
        if observed is None:
            return None
        count, total = observed
        return Usage(
            input_tokens=math.ceil(total.input_tokens / count),
            output_tokens=math.ceil(total.output_tokens / count),
            cost_usd=total.cost_usd / count,
        )

    def add(self, usage: Usage, engine: str | None = None) -> Overrun | None:
        """Count `usage` (an attempt on `engine`, which it teaches the estimate); the limit reached,
        if the run is now at or past one (cost is checked first)."""
        self.spent = self.spent + usage
        if engine is not None and (usage.total_tokens or usage.cost_usd):
            # An attempt cut off before it spent anything says nothing about what an answer costs.
            count, total = self._observed.get(engine, (0, _NOTHING))
            self._observed[engine] = (count + 1, total + usage)
        limit = self._reached(self.spent)
        return self._describe(limit, None) if limit is not None else None

    def refusal(self) -> Overrun | None:
        """Why no more task fits, once one was refused: the limit its estimate would pass."""
        if self._refused is None:
            return None
        limit = self._passes(self.spent + self._reserved + self._refused)
        return self._describe(limit, self._refused) if limit is not None else None

    def final(self, overrun: Overrun) -> str:
        """How the run's stop at `overrun` reads once the run has ended: with what it truly spent
        (the tasks in flight then were paid for too)."""
        return self._describe(overrun.limit, overrun.next_task).reason

    def _reached(self, usage: Usage) -> Literal["cost", "tokens"] | None:
        """The limit `usage` is at or past (no task may start then)."""
        limits = self._limits
        if limits.max_cost_usd is not None and usage.cost_usd >= limits.max_cost_usd:
            return "cost"
        if limits.max_tokens is not None and usage.total_tokens >= limits.max_tokens:
            return "tokens"
        return None

    def _passes(self, usage: Usage) -> Literal["cost", "tokens"] | None:
        """The limit `usage` goes past (spending exactly up to a limit fits it)."""
        limits = self._limits
        if limits.max_cost_usd is not None and usage.cost_usd > limits.max_cost_usd:
            return "cost"
        if limits.max_tokens is not None and usage.total_tokens > limits.max_tokens:
            return "tokens"
        return None

    def _describe(self, limit: Literal["cost", "tokens"], next_task: Usage | None) -> Overrun:
        spent, limits = self.spent, self._limits
        if limit == "cost":
            assert limits.max_cost_usd is not None
            reason = f"budget reached: spent ${spent.cost_usd:.4f} of ${limits.max_cost_usd:.4f}"
            if next_task is not None:
                reason += f"; the next task would cost about ${next_task.cost_usd:.4f} more"
            return Overrun("cost", spent.cost_usd, limits.max_cost_usd, reason, next_task)
        assert limits.max_tokens is not None
        reason = f"budget reached: used {spent.total_tokens} of {limits.max_tokens} tokens"
        if next_task is not None:
            reason += f"; the next task would use about {next_task.total_tokens} more"
        return Overrun("tokens", spent.total_tokens, limits.max_tokens, reason, next_task)


def _minus(a: Usage, b: Usage) -> Usage:
    return Usage(
        input_tokens=a.input_tokens - b.input_tokens,
        output_tokens=a.output_tokens - b.output_tokens,
        cost_usd=a.cost_usd - b.cost_usd,
    )
