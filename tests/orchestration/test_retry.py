"""Retries: exponential backoff with jitter, retry-after honoured, fatal errors final."""

from __future__ import annotations

import random

import pytest

from parallelai.events import RateLimited, TaskRetrying, TaskStateChanged
from parallelai.models import ErrorKind, RunState, TaskState
from parallelai.orchestration.retry import Backoff
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import echo_task, run_spec, run_to_end, wait_for_event

pytestmark = pytest.mark.anyio


async def test_rate_limited_attempts_are_retried_no_sooner_than_retry_after_then_succeed(
    service: OrchestrationService,
) -> None:
    task = echo_task("flaky", fail_attempts=2, failure_kind="rate_limited", retry_after=0.2)

    summary, events = await run_to_end(service, run_spec([task], backoff_base_s=0.001))

    assert summary.state is RunState.SUCCEEDED
    retries = [event for event in events if isinstance(event, TaskRetrying)]
    assert [event.attempt for event in retries] == [1, 2]
    assert all(event.delay_s >= 0.2 for event in retries)
    assert all(event.error_kind is ErrorKind.RATE_LIMITED for event in retries)
    record = await service.task(summary.id, "flaky")
    assert [attempt.state for attempt in record.attempts] == [
        TaskState.FAILED,
        TaskState.FAILED,
        TaskState.SUCCEEDED,
    ]
    assert [attempt.number for attempt in record.attempts] == [1, 2, 3]
    assert record.attempts[0].error is not None
    assert record.attempts[0].error.kind is ErrorKind.RATE_LIMITED


async def test_backoff_doubles_with_each_failed_attempt(service: OrchestrationService) -> None:
    task = echo_task("flaky", fail_attempts=3, failure_kind="overloaded", retries=3)

    summary, events = await run_to_end(service, run_spec([task], backoff_base_s=0.01))

    assert summary.state is RunState.SUCCEEDED
    delays = [event.delay_s for event in events if isinstance(event, TaskRetrying)]
    assert len(delays) == 3
    for failed_attempt, delay in enumerate(delays, 1):
        ceiling = 0.01 * 2 ** (failed_attempt - 1)
        assert ceiling / 2 <= delay <= ceiling


@pytest.mark.parametrize("kind", ["auth", "bad_request", "spend_limit", "execution"])
async def test_a_fatal_error_is_not_retried(service: OrchestrationService, kind: str) -> None:
    task = echo_task("doomed", fail_attempts=1, failure_kind=kind, retries=5)

    summary, events = await run_to_end(service, run_spec([task]))

    assert summary.state is RunState.FAILED
    assert not [event for event in events if isinstance(event, TaskRetrying)]
    record = await service.task(summary.id, "doomed")
    assert record.state is TaskState.FAILED
    assert len(record.attempts) == 1
    assert record.reason is not None
    assert record.reason.startswith(kind)
    assert record.result is not None
    assert record.result.error is not None
    assert record.result.error.kind == kind


async def test_a_task_fails_once_its_retries_are_used_up(service: OrchestrationService) -> None:
    task = echo_task("hopeless", fail_attempts=10, failure_kind="transient", retries=2)

    summary, events = await run_to_end(service, run_spec([task]))

    assert summary.state is RunState.FAILED
    assert len([event for event in events if isinstance(event, TaskRetrying)]) == 2
    record = await service.task(summary.id, "hopeless")
    assert record.state is TaskState.FAILED
    assert len(record.attempts) == 3
    assert all(attempt.state is TaskState.FAILED for attempt in record.attempts)


async def test_a_simulated_provider_limit_is_reported_and_waited_out(service: OrchestrationService) -> None:
    # One request a minute: the second task is refused with a retry-after near 60 s, so it is
    # still waiting when the run is cancelled.
    spec = run_spec([echo_task("first"), echo_task("second")], max_parallel=1)
    spec = spec.model_copy(update={"engine_settings": {"echo": {"rate_limit_per_minute": 1}}})

    run_id = await service.submit(spec)
    retrying = await wait_for_event(service, run_id, TaskRetrying)
    summary = await service.cancel(run_id)

    assert retrying.task_id == "second"
    assert retrying.delay_s > 30
    limited = [e for e in await service.store.events_after(0, run_id) if isinstance(e, RateLimited)]
    assert limited
    assert limited[0].engine == "echo"
    assert limited[0].retry_after_s is not None
    assert summary.counts[TaskState.SUCCEEDED] == 1
    assert summary.counts[TaskState.CANCELLED] == 1


def test_backoff_never_waits_less_than_retry_after_and_is_capped() -> None:
    backoff = Backoff(base_s=1.0, cap_s=4.0)
    rng = random.Random(7)

    assert all(2.0 <= backoff.delay(10, None, rng) <= 4.0 for _ in range(50))
    assert backoff.delay(1, 30.0, rng) == 30.0
    assert all(0.5 <= backoff.delay(1, None, rng) <= 1.0 for _ in range(50))


async def test_a_task_waiting_to_retry_is_retrying_with_its_time_not_running(
    service: OrchestrationService,
) -> None:
    task = echo_task("flaky", fail_attempts=1, failure_kind="transient", retry_after=30)
    run_id = await service.submit(run_spec([task]))

    change = await wait_for_event(service, run_id, TaskStateChanged, lambda e: e.state is TaskState.RETRYING)
    record = await service.task(run_id, "flaky")
    summary = await service.summary(run_id)
    await service.cancel(run_id)

    assert record.state is TaskState.RETRYING
    assert change.retry_at is not None
    assert record.retry_at == pytest.approx(change.retry_at)
    assert change.retry_at - change.at == pytest.approx(30, abs=1)
    assert "transient" in (record.reason or "")
    assert summary.counts[TaskState.RETRYING] == 1
    assert summary.counts[TaskState.RUNNING] == 0
