"""One attempt's call into its engine: under the task's deadline, stoppable on request, and what
the engine emits along the way turned into bus events.

An agent that sends its own requests (a CLI agent: `rate_account` names its provider account)
waits, before it starts, while that account's rate gate is paused by a 429 — one another engine
met, or another agent reported — and its own rate-limit reports pause the gate in turn. API
engines pace each request at the gate themselves (engines/_http/gating.py)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import anyio

from parallelai.engines.base import (
    Activity,
    Engine,
    EngineEvent,
    EngineRequest,
    RateLimitSignal,
    TextDelta,
    UsageReport,
    rate_account,
)
from parallelai.events import Event, RateLimited, TaskActivity, TaskOutput, TaskUsage
from parallelai.models import ErrorKind, TaskError, TaskResult
from parallelai.ratelimits import RateGate, gate_for


class StopHandle:
    """The cancel scope of what a task is doing now (an engine call, a wait to retry), and the
    reason when we, not its deadline, cancelled it. Whoever opens the scope sets `scope` inside
    it and clears it on the way out."""

    __slots__ = ("reason", "scope")

    def __init__(self) -> None:
        self.scope: anyio.CancelScope | None = None
        self.reason: str | None = None

    @property
    def active(self) -> bool:
        return self.scope is not None

    def stop(self, reason: str) -> None:
        assert self.scope is not None
        # A deadline that fired first has already cancelled the scope: the attempt timed out.
        if not self.scope.cancel_called:
            self.reason = reason
        self.scope.cancel()


async def call_engine(
    engine: Engine,
    request: EngineRequest,
    handle: StopHandle,
    emit: Callable[[EngineEvent], None],
) -> TaskResult:
    """The engine's result, or the timeout or cancel that ended the call; never raises for an
    engine's own failure (an engine bug is recorded as data, never raised into the run)."""
    started = time.monotonic()
    result: TaskResult | None = None
    timeout = request.options.timeout
    # One scope for both ways an attempt is stopped: its deadline, or `StopHandle.stop` (which
    # leaves a reason behind; a cancel without one is the deadline's).
    deadline = anyio.current_time() + timeout if timeout is not None else math.inf
    account = rate_account(engine, request)
    gate = gate_for(account) if account is not None else None
    with anyio.CancelScope(deadline=deadline) as scope:
        handle.scope = scope
        try:
            if gate is not None:
                await gate.until_open()  # inside the scope: the task's timeout covers the wait
                emit = _pausing(gate, emit)
            result = await engine.run(request, emit)
        except Exception as error:
            result = TaskResult(
                error=TaskError(kind=ErrorKind.INTERNAL, message=f"{type(error).__name__}: {error}")
            )
    handle.scope = None
    elapsed = time.monotonic() - started
    if result is not None:
        return result if result.duration_s else result.model_copy(update={"duration_s": elapsed})
    if handle.reason is None and timeout is not None:
        message = f"timed out after {timeout:g}s; the agent's process tree was stopped"
        return TaskResult(duration_s=elapsed, error=TaskError(kind=ErrorKind.TIMEOUT, message=message))
    reason = handle.reason or "cancelled by request"
    return TaskResult(duration_s=elapsed, error=TaskError(kind=ErrorKind.CANCELLED, message=reason))


def _pausing(gate: RateGate, emit: Callable[[EngineEvent], None]) -> Callable[[EngineEvent], None]:
    """`emit`, and a rate-limit report with a wait pauses the account's gate for it."""

    def relay(event: EngineEvent) -> None:
        if isinstance(event, RateLimitSignal) and event.retry_after_s is not None:
            gate.pause(event.retry_after_s)
        emit(event)

    return relay


def bus_event(run_id: str, task_id: str, engine: str, event: EngineEvent) -> Event | None:
    """What an engine's event is on the bus (None for one the bus does not carry)."""
    match event:
        case TextDelta(text=text):
            return TaskOutput(run_id=run_id, task_id=task_id, text=text)
        case Activity(kind=kind, detail=detail):
            return TaskActivity(run_id=run_id, task_id=task_id, kind=kind, detail=detail)
        case UsageReport(usage=usage):
            return TaskUsage(run_id=run_id, task_id=task_id, usage=usage)
        case RateLimitSignal(retry_after_s=retry_after):
            return RateLimited(run_id=run_id, task_id=task_id, engine=engine, retry_after_s=retry_after)
    return None
