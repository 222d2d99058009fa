"""The ceiling on a honoured Retry-After: beyond it (or not finite) a task fails, named and with the hint."""

from __future__ import annotations

import math
import random

import pytest

from parallelai.models import ErrorKind, Task, TaskError, TaskOptions, TaskResult, TaskState
from parallelai.orchestration.outcome import Decision, after_attempt
from parallelai.orchestration.retry import Backoff
from parallelai.ratelimits import DEFAULT_MAX_RETRY_AFTER_S, beyond_ceiling

TASK = Task(id="t", prompt="p", options=TaskOptions(retries=5))


def decide(
    retry_after: float | None, backoff: Backoff | None = None, kind: ErrorKind = ErrorKind.RATE_LIMITED
) -> Decision:
    result = TaskResult(error=TaskError(kind=kind, message="HTTP 429: slow down", retry_after=retry_after))
    return after_attempt(
        TASK,
        1,
        result,
        stopping=False,
        fail_fast=False,
        backoff=backoff or Backoff(),
        rng=random.Random(1),
        now=0.0,
    )


@pytest.mark.parametrize("hint", [86_400.0, math.inf, math.nan])
def test_a_retry_after_beyond_the_ceiling_fails_the_task_as_rate_limited_with_the_hint(hint: float) -> None:
    decision = decide(hint)

    assert decision.state is TaskState.FAILED
    assert decision.error_kind is ErrorKind.RATE_LIMITED
    assert decision.reason is not None
    assert "slow down" in decision.reason
    assert "300 s ceiling" in decision.reason
    if math.isfinite(hint):
        assert "86400 s (24.0 h)" in decision.reason


def test_a_retry_after_within_the_ceiling_is_waited_out() -> None:
    decision = decide(299.0)

    assert decision.state is TaskState.RETRYING
    assert decision.retry is not None
    assert decision.retry.delay_s == 299.0


def test_the_ceiling_is_a_setting_of_the_backoff() -> None:
    assert decide(600.0, Backoff(max_retry_after_s=900)).state is TaskState.RETRYING
    assert decide(60.0, Backoff(max_retry_after_s=30)).state is TaskState.FAILED


def test_any_other_retryable_failure_waits_the_ceiling_at_most() -> None:
    for hint in (3600.0, math.inf, math.nan):
        decision = decide(hint, kind=ErrorKind.OVERLOADED)  # a busy server: it comes back
        assert decision.state is TaskState.RETRYING
        assert decision.retry is not None
        assert decision.retry.delay_s == 300.0


def test_a_missing_hint_is_no_reason_to_fail() -> None:
    assert decide(None).state is TaskState.RETRYING


def test_the_default_ceiling_is_five_minutes() -> None:
    assert DEFAULT_MAX_RETRY_AFTER_S == 300
    assert not beyond_ceiling(300.0)
    assert beyond_ceiling(300.5)
    assert not beyond_ceiling(None)
