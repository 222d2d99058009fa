"""Outcomes: what an attempt's end means for its task, and a run's end for the run, decided from data alone."""

from __future__ import annotations

import dataclasses
import random

import pytest

from parallelai.events import TaskRetrying, TaskStateChanged
from parallelai.models import ErrorKind, RunState, Task, TaskError, TaskOptions, TaskResult, TaskState
from parallelai.orchestration.outcome import (
    CANCELLED_BY_REQUEST,
    PENDING,
    REUSED,
    RUNNING,
    SUCCEEDED,
    Decision,
    Retry,
    after_attempt,
    after_interruption,
    attempt_state,
    final_run_state,
)
from parallelai.orchestration.retry import Backoff

NOW = 1_000.0
BACKOFF = Backoff(base_s=1.0, cap_s=60.0)
RETRYABLE = [ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED, ErrorKind.TRANSIENT, ErrorKind.TIMEOUT]
FATAL = [
    ErrorKind.AUTH,
    ErrorKind.BAD_REQUEST,
    ErrorKind.SPEND_LIMIT,
    ErrorKind.EXECUTION,
    ErrorKind.INTERNAL,
]


def failed(kind: ErrorKind, message: str = "boom", retry_after: float | None = None) -> TaskResult:
    return TaskResult(error=TaskError(kind=kind, message=message, retry_after=retry_after))


def decide(
    result: TaskResult,
    *,
    attempt: int = 1,
    retries: int = 2,
    stopping: bool = False,
    fail_fast: bool = False,
    rng: random.Random | None = None,
) -> Decision:
    task = Task(id="t1", prompt="do it", options=TaskOptions(retries=retries))
    return after_attempt(
        task,
        attempt,
        result,
        stopping=stopping,
        fail_fast=fail_fast,
        backoff=BACKOFF,
        rng=rng or random.Random(1),
        now=NOW,
    )


# -- after an attempt ------------------------------------------------------------------------


@pytest.mark.parametrize(("stopping", "fail_fast"), [(False, False), (True, True)])
def test_a_successful_attempt_succeeds_with_no_reason_and_nothing_else_to_do(
    stopping: bool, fail_fast: bool
) -> None:
    decision = decide(TaskResult(text="done"), stopping=stopping, fail_fast=fail_fast)

    assert decision == Decision(TaskState.SUCCEEDED)
    assert decision is SUCCEEDED


def test_a_result_marked_reused_succeeds_as_reused_from_the_cache() -> None:
    decision = decide(TaskResult(text="done", reused=True))

    assert decision == Decision(TaskState.SUCCEEDED, "reused from cache", reused=True)
    assert decision is REUSED


@pytest.mark.parametrize("kind", RETRYABLE)
def test_a_retryable_failure_with_retries_left_waits_to_retry(kind: ErrorKind) -> None:
    error = TaskError(kind=kind, message="boom")

    decision = decide(TaskResult(error=error), attempt=1, retries=2)

    assert decision.state is TaskState.RETRYING
    assert decision.error_kind is kind
    assert decision.retry is not None
    delay = decision.retry.delay_s
    assert 0.5 <= delay <= 1.0
    assert decision == Decision(
        TaskState.RETRYING,
        f"attempt 1 failed ({kind}: boom); retrying in {delay:.1f}s",
        kind,
        retry=Retry(delay, NOW + delay, error),
    )


@pytest.mark.parametrize(
    ("attempt", "retries", "state"),
    [
        (1, 0, TaskState.FAILED),  # no retries: the first failure is the last
        (1, 1, TaskState.RETRYING),
        (2, 1, TaskState.FAILED),
        (3, 3, TaskState.RETRYING),  # the last retry is still granted
        (4, 3, TaskState.FAILED),  # the one after is not
        (100, 100, TaskState.RETRYING),
    ],
)
def test_a_task_is_retried_while_it_has_retries_left_after_its_first_attempt(
    attempt: int, retries: int, state: TaskState
) -> None:
    assert decide(failed(ErrorKind.TRANSIENT), attempt=attempt, retries=retries).state is state


def test_a_task_that_used_up_its_retries_fails_with_the_last_error() -> None:
    decision = decide(failed(ErrorKind.RATE_LIMITED, "slow down"), attempt=3, retries=2)

    assert decision == Decision(
        TaskState.FAILED, "rate_limited: slow down", ErrorKind.RATE_LIMITED, skip_dependents=True
    )


@pytest.mark.parametrize("kind", RETRYABLE)
def test_no_retry_is_granted_once_the_run_is_stopping(kind: ErrorKind) -> None:
    decision = decide(failed(kind), attempt=1, retries=5, stopping=True)

    assert decision == Decision(TaskState.FAILED, f"{kind}: boom", kind, skip_dependents=True)


@pytest.mark.parametrize("kind", FATAL)
def test_a_fatal_error_fails_the_task_at_once_and_skips_its_dependents(kind: ErrorKind) -> None:
    decision = decide(failed(kind, "no way"), attempt=1, retries=5)

    assert decision == Decision(TaskState.FAILED, f"{kind}: no way", kind, skip_dependents=True)


@pytest.mark.parametrize("kind", [ErrorKind.EXECUTION, ErrorKind.TIMEOUT])
def test_with_fail_fast_a_failure_stops_the_run_naming_the_task(kind: ErrorKind) -> None:
    decision = decide(failed(kind), attempt=3, retries=2, fail_fast=True)

    assert decision.state is TaskState.FAILED
    assert decision.stop_run == "fail-fast: task t1 failed"


@pytest.mark.parametrize(
    "result",
    [failed(ErrorKind.TRANSIENT), failed(ErrorKind.CANCELLED, "cancelled by request"), TaskResult()],
    ids=["retry", "cancel", "success"],
)
def test_with_fail_fast_a_retry_a_cancel_or_a_success_leaves_the_run_going(result: TaskResult) -> None:
    assert decide(result, fail_fast=True).stop_run is None


@pytest.mark.parametrize("stopping", [False, True])
def test_a_cancelled_attempt_cancels_the_task_with_its_reason_and_skips_its_dependents(
    stopping: bool,
) -> None:
    decision = decide(failed(ErrorKind.CANCELLED, "fail-fast: task t0 failed"), stopping=stopping)

    assert decision == Decision(TaskState.CANCELLED, "fail-fast: task t0 failed", skip_dependents=True)


def test_the_wait_is_never_shorter_than_the_engines_retry_after() -> None:
    decision = decide(failed(ErrorKind.RATE_LIMITED, "429", retry_after=30.0))

    assert decision.retry is not None
    assert decision.retry.delay_s == 30.0
    assert decision.retry.at == NOW + 30.0
    assert decision.reason == "attempt 1 failed (rate_limited: 429); retrying in 30.0s"


@pytest.mark.parametrize("attempt", [1, 2, 5, 10])
def test_the_wait_is_the_backoffs_drawn_from_the_given_random_source(attempt: int) -> None:
    decision = decide(failed(ErrorKind.OVERLOADED), attempt=attempt, retries=10, rng=random.Random(42))

    assert decision.retry is not None
    assert decision.retry.delay_s == BACKOFF.delay(attempt, None, random.Random(42))


def test_the_same_inputs_give_the_same_decision() -> None:
    first = decide(failed(ErrorKind.TRANSIENT), rng=random.Random(7))
    second = decide(failed(ErrorKind.TRANSIENT), rng=random.Random(7))

    assert first == second


@pytest.mark.parametrize(
    ("result", "stopping"),
    [
        (TaskResult(), False),
        (failed(ErrorKind.AUTH), False),
        (failed(ErrorKind.CANCELLED), False),
        (failed(ErrorKind.TRANSIENT), True),
    ],
    ids=["success", "fatal", "cancel", "stopping"],
)
def test_only_a_retry_draws_from_the_random_source(result: TaskResult, stopping: bool) -> None:
    rng = random.Random(3)
    before = rng.getstate()

    decide(result, stopping=stopping, rng=rng)

    assert rng.getstate() == before


def test_a_decision_cannot_be_changed_once_made() -> None:
    decision = decide(failed(ErrorKind.AUTH))

    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.state = TaskState.SUCCEEDED  # type: ignore[misc]


# -- how the attempt itself ended ------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "state"),
    [
        (TaskResult(text="done"), TaskState.SUCCEEDED),
        (failed(ErrorKind.TIMEOUT), TaskState.FAILED),
        (failed(ErrorKind.TRANSIENT), TaskState.FAILED),  # even when the task is retried
        (failed(ErrorKind.EXECUTION), TaskState.FAILED),
        (failed(ErrorKind.CANCELLED), TaskState.CANCELLED),
    ],
)
def test_an_attempt_is_recorded_as_succeeded_failed_or_cancelled(
    result: TaskResult, state: TaskState
) -> None:
    assert attempt_state(result) is state


# -- when the run stops unfinished -----------------------------------------------------------


def test_a_task_cut_off_mid_attempt_is_interrupted_and_says_why() -> None:
    assert after_interruption(TaskState.RUNNING) == Decision(
        TaskState.INTERRUPTED, "its process stopped mid-attempt"
    )


@pytest.mark.parametrize("state", [TaskState.READY, TaskState.RETRYING])
def test_a_task_waiting_for_a_slot_or_a_retry_is_pending_again(state: TaskState) -> None:
    assert after_interruption(state) == Decision(TaskState.PENDING)


@pytest.mark.parametrize(
    "state",
    [
        TaskState.PENDING,
        TaskState.INTERRUPTED,
        TaskState.SUCCEEDED,
        TaskState.FAILED,
        TaskState.CANCELLED,
        TaskState.SKIPPED,
    ],
)
def test_other_tasks_stay_as_they_are_when_the_run_stops(state: TaskState) -> None:
    assert after_interruption(state) is None


# -- the run's end ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "cancelled", "done", "state"),
    [
        ({TaskState.SUCCEEDED: 3}, False, True, RunState.SUCCEEDED),
        ({}, False, True, RunState.SUCCEEDED),  # an empty run has nothing left to do
        ({TaskState.SUCCEEDED: 2, TaskState.FAILED: 1}, False, True, RunState.FAILED),
        ({TaskState.SUCCEEDED: 2, TaskState.SKIPPED: 1}, False, True, RunState.FAILED),
        ({TaskState.SUCCEEDED: 3}, True, True, RunState.CANCELLED),  # a cancel is a cancel
        ({TaskState.SUCCEEDED: 1, TaskState.PENDING: 2}, True, False, RunState.CANCELLED),
        ({TaskState.SUCCEEDED: 1, TaskState.INTERRUPTED: 1}, False, False, RunState.INTERRUPTED),
        ({TaskState.FAILED: 1, TaskState.PENDING: 1}, False, False, RunState.INTERRUPTED),
        ({TaskState.SUCCEEDED: 2, TaskState.PENDING: 0}, False, False, RunState.SUCCEEDED),
    ],
)
def test_a_run_ends_as_its_tasks_did(
    counts: dict[TaskState, int], cancelled: bool, done: bool, state: RunState
) -> None:
    assert final_run_state(counts, cancelled=cancelled, done=done) is state


# -- what clients are told -------------------------------------------------------------------


def test_a_state_change_is_announced_with_every_field_of_the_decision() -> None:
    decision = decide(failed(ErrorKind.AUTH, "bad key"))

    assert decision.events("r1", "t1", 2, at=NOW) == [
        TaskStateChanged(
            at=NOW,
            run_id="r1",
            task_id="t1",
            state=TaskState.FAILED,
            attempt=2,
            reason="auth: bad key",
            error_kind=ErrorKind.AUTH,
        )
    ]


def test_a_retry_is_announced_as_retrying_with_its_time_then_with_its_wait() -> None:
    decision = decide(failed(ErrorKind.RATE_LIMITED, "429", retry_after=5.0), attempt=2, retries=2)

    assert decision.retry_at == NOW + 5.0
    assert decision.events("r1", "t1", 2, at=NOW) == [
        TaskStateChanged(
            at=NOW,
            run_id="r1",
            task_id="t1",
            state=TaskState.RETRYING,
            attempt=2,
            reason="attempt 2 failed (rate_limited: 429); retrying in 5.0s",
            error_kind=ErrorKind.RATE_LIMITED,
            retry_at=NOW + 5.0,
        ),
        TaskRetrying(
            at=NOW,
            run_id="r1",
            task_id="t1",
            attempt=2,
            delay_s=5.0,
            error_kind=ErrorKind.RATE_LIMITED,
            message="429",
        ),
    ]


def test_a_reused_result_is_announced_as_reused() -> None:
    [event] = REUSED.events("r1", "t1", 0, at=NOW)

    assert isinstance(event, TaskStateChanged)
    assert (event.state, event.reason, event.reused, event.retry_at) == (
        TaskState.SUCCEEDED,
        "reused from cache",
        True,
        None,
    )


def test_the_shared_decisions_carry_no_reason_but_a_cancel_by_request() -> None:
    assert [(d.state, d.reason, d.skip_dependents) for d in (PENDING, RUNNING, CANCELLED_BY_REQUEST)] == [
        (TaskState.PENDING, None, False),
        (TaskState.RUNNING, None, False),
        (TaskState.CANCELLED, "cancelled by request", True),
    ]


@pytest.mark.parametrize(
    ("counts", "gates_done", "gate_failed", "state"),
    [
        ({TaskState.SUCCEEDED: 3}, True, False, RunState.SUCCEEDED),
        ({TaskState.SUCCEEDED: 3}, True, True, RunState.FAILED),
        ({TaskState.SUCCEEDED: 3}, False, False, RunState.INTERRUPTED),  # they run on resume
        ({TaskState.SUCCEEDED: 2, TaskState.FAILED: 1}, True, False, RunState.FAILED),
    ],
)
def test_a_failing_gate_fails_a_run_whose_tasks_all_succeeded(
    counts: dict[TaskState, int], gates_done: bool, gate_failed: bool, state: RunState
) -> None:
    result = final_run_state(
        counts, cancelled=False, done=True, gates_done=gates_done, gate_failed=gate_failed
    )
    assert result is state
