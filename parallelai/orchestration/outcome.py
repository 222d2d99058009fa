"""What the end of an attempt means for its task, and the end of a run for the run.

Pure decisions: they read only what they are given (no clock, no store, no event loop), so every
path through them is a plain unit test. The scheduler applies a `Decision` in one transition
that persists it and publishes its `events`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from parallelai.events import Event, TaskRetrying, TaskStateChanged
from parallelai.models import EngineSpec, ErrorKind, RunState, Task, TaskError, TaskResult, TaskState
from parallelai.orchestration.retry import Backoff
from parallelai.ratelimits.ceiling import describe_wait


@dataclass(frozen=True, slots=True)
class Retry:
    """When a `retrying` task is ready again, and the failure it waits out."""

    delay_s: float
    at: float  # epoch seconds: the deciding moment plus the delay
    error: TaskError


@dataclass(frozen=True, slots=True)
class Decision:
    """A task's next state, why, and what follows from it.

    Entering `succeeded` makes the task's output available to its dependents; every other
    consequence is spelled out here.
    """

    state: TaskState
    reason: str | None = None
    error_kind: ErrorKind | None = None
    reused: bool = False  # the result came from the cache
    retry: Retry | None = None  # set with `retrying`
    skip_dependents: bool = False  # the task ended without its output: nothing downstream can run
    stop_run: str | None = None  # fail-fast: why no other task may start or go on running
    move_to: EngineSpec | None = None  # set with `retrying`: the next attempt runs on this fallback

    @property
    def retry_at(self) -> float | None:
        return self.retry.at if self.retry is not None else None

    def events(self, run_id: str, task_id: str, attempt: int, at: float) -> list[Event]:
        """What every client is told of the change, made at `at`: the new state, and with a
        retry, its wait."""
        retry = self.retry
        changed = TaskStateChanged(
            at=at,
            run_id=run_id,
            task_id=task_id,
            state=self.state,
            attempt=attempt,
            reason=self.reason,
            error_kind=self.error_kind,
            reused=self.reused,
            retry_at=retry.at if retry is not None else None,
        )
        if retry is None:
            return [changed]
        waiting = TaskRetrying(
            at=at,
            run_id=run_id,
            task_id=task_id,
            attempt=attempt,
            delay_s=retry.delay_s,
            error_kind=retry.error.kind,
            message=retry.error.message,
        )
        return [changed, waiting]


# The decisions every task goes through, built once: a run of thousands of tasks allocates none.
PENDING = Decision(TaskState.PENDING)
RUNNING = Decision(TaskState.RUNNING)
SUCCEEDED = Decision(TaskState.SUCCEEDED)
REUSED = Decision(TaskState.SUCCEEDED, "reused from cache", reused=True)
CANCELLED_BY_REQUEST = Decision(TaskState.CANCELLED, "cancelled by request", skip_dependents=True)
_INTERRUPTED = Decision(TaskState.INTERRUPTED, "its process stopped mid-attempt")


def after_attempt(
    task: Task,
    attempt: int,
    result: TaskResult,
    *,
    stopping: bool,
    fail_fast: bool,
    backoff: Backoff,
    rng: random.Random,
    now: float,
    fallback: EngineSpec | None = None,
    tries_here: int | None = None,
) -> Decision:
    """What follows attempt number `attempt` (1-based) of `task`, which ended with `result`.

    `result` is what the engine call returned: the engine's own result, or the timeout or the
    cancel that cut the attempt off (`ErrorKind.TIMEOUT`, `ErrorKind.CANCELLED`). A retryable
    failure is retried while the task has retries left and the run is not `stopping` (a budget
    reached, fail-fast or a cancel: no new attempt may start); `rng` is drawn from only then.
    With `fail_fast`, a failure stops the run; a cancel never does.

    With a `fallback` engine, a task its engine refuses for good moves there at once (`move_to`):
    overloaded, or rate-limited or unreachable (`transient`) with its retries on this engine used
    up (`tries_here` of them; default `attempt`), or rate-limited beyond the Retry-After ceiling.
    """
    error = result.error
    if error is None:
        return REUSED if result.reused else SUCCEEDED
    if error.kind is ErrorKind.CANCELLED:
        return Decision(TaskState.CANCELLED, error.message, skip_dependents=True)
    tries = attempt if tries_here is None else tries_here
    if fallback is not None and not stopping and _refused_for_good(error, tries, task, backoff):
        reason = f"moved to {fallback} after: {error.kind}: {error.message}"
        return Decision(
            TaskState.RETRYING, reason, error.kind, retry=Retry(0.0, now, error), move_to=fallback
        )
    if error.kind is ErrorKind.RATE_LIMITED and backoff.refuses(error.retry_after):
        hint = describe_wait(error.retry_after) if error.retry_after is not None else "?"
        return Decision(
            TaskState.FAILED,
            f"{error.kind}: {error.message} (the provider asks to wait {hint}, beyond the "
            f"{backoff.max_retry_after_s:g} s ceiling on a retry-after: not waited out)",
            error.kind,
            skip_dependents=True,
            stop_run=f"fail-fast: task {task.id} failed" if fail_fast else None,
        )
    if error.kind.retryable and tries <= task.options.retries and not stopping:
        delay = backoff.delay(tries, error.retry_after, rng)
        reason = f"attempt {attempt} failed ({error.kind}: {error.message}); retrying in {delay:.1f}s"
        return Decision(TaskState.RETRYING, reason, error.kind, retry=Retry(delay, now + delay, error))
    return Decision(
        TaskState.FAILED,
        f"{error.kind}: {error.message}",
        error.kind,
        skip_dependents=True,
        stop_run=f"fail-fast: task {task.id} failed" if fail_fast else None,
    )


# What moves a task to its fallback engine; a failure of the task itself (bad request, auth,
# a non-zero exit, a timeout) would fail there too, so it never does.
_FAILOVER_KINDS = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED, ErrorKind.TRANSIENT})


def _refused_for_good(error: TaskError, tries: int, task: Task, backoff: Backoff) -> bool:
    """Whether the engine will not take the task soon: overloaded now, beyond the Retry-After
    ceiling, or still refusing (rate limit, outage) once the task's retries on it are used up."""
    if error.kind not in _FAILOVER_KINDS:
        return False
    if error.kind is ErrorKind.OVERLOADED:
        return True
    if error.kind is ErrorKind.RATE_LIMITED and backoff.refuses(error.retry_after):
        return True
    return tries > task.options.retries


def attempt_state(result: TaskResult) -> TaskState:
    """How an attempt ended, for its own record (a timed-out attempt failed; a retry is a new attempt)."""
    error = result.error
    if error is None:
        return TaskState.SUCCEEDED
    return TaskState.CANCELLED if error.kind is ErrorKind.CANCELLED else TaskState.FAILED


def after_interruption(state: TaskState) -> Decision | None:
    """What a task in `state` becomes when its run stops unfinished (its process is going away);
    None when it stays as it is."""
    new = state.after_interruption
    if new is state:
        return None
    return _INTERRUPTED if new is TaskState.INTERRUPTED else Decision(new)


def final_run_state(
    counts: Mapping[TaskState, int],
    *,
    cancelled: bool,
    done: bool,
    gates_done: bool = True,
    gate_failed: bool = False,
) -> RunState:
    """A run's state once it stops, from how many of its tasks ended in each state; `done` when
    every task has ended, false when the run was torn down with some unfinished. With every task
    succeeded, the gates decide: one that failed fails the run, and a run torn down before they
    all ran is interrupted (they run on resume)."""
    if cancelled:
        return RunState.CANCELLED
    if counts.get(TaskState.SUCCEEDED, 0) == sum(counts.values()):
        if not gates_done:
            return RunState.INTERRUPTED
        return RunState.FAILED if gate_failed else RunState.SUCCEEDED
    return RunState.FAILED if done else RunState.INTERRUPTED
