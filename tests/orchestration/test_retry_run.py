"""`retry` runs what did not succeed again, with what depends on it; `resume` leaves finished runs alone."""

from __future__ import annotations

import anyio
import pytest

from parallelai.errors import InputError, TaskNotFoundError
from parallelai.events import RunStarted, TaskStateChanged
from parallelai.models import RunState, TaskState
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import DEADLINE_S, echo_task, run_spec, run_to_end

pytestmark = pytest.mark.anyio


async def _failed_run(service: OrchestrationService) -> str:
    """ok succeeds; flaky fails (once per attempt, no retries) and its dependent is skipped."""
    summary, _ = await run_to_end(
        service,
        run_spec(
            [
                echo_task("ok"),
                echo_task("flaky", retries=0, fail_attempts=1, failure_kind="execution"),
                echo_task("after", depends_on=["flaky"]),
            ],
            use_cache=False,
        ),
    )
    assert summary.state is RunState.FAILED
    return summary.id


async def test_retry_reruns_failed_tasks_and_their_skipped_dependents_and_keeps_successes(
    service: OrchestrationService,
) -> None:
    run_id = await _failed_run(service)
    before = {record.task.id: record for record in await service.tasks(run_id)}

    with anyio.fail_after(DEADLINE_S):
        again = await service.retry(run_id)
        summary = await service.wait(run_id)

    after = {record.task.id: record for record in await service.tasks(run_id)}
    assert again == 2
    assert summary.state is RunState.SUCCEEDED
    assert after["ok"].attempts == before["ok"].attempts  # not run again
    assert after["ok"].result == before["ok"].result
    assert [attempt.number for attempt in after["flaky"].attempts] == [1, 2]
    assert [attempt.state for attempt in after["flaky"].attempts] == [TaskState.FAILED, TaskState.SUCCEEDED]
    assert after["after"].state is TaskState.SUCCEEDED


async def test_retry_of_named_tasks_leaves_the_others_as_they_were(service: OrchestrationService) -> None:
    summary, _ = await run_to_end(
        service,
        run_spec(
            [echo_task(name, retries=0, fail_attempts=1, failure_kind="execution") for name in ("x", "y")],
            use_cache=False,
        ),
    )

    with anyio.fail_after(DEADLINE_S):
        assert await service.retry(summary.id, ["x"]) == 1
        retried = await service.wait(summary.id)

    assert retried.state is RunState.FAILED
    assert retried.counts[TaskState.SUCCEEDED] == 1
    states = {record.task.id: record.state for record in await service.tasks(summary.id)}
    assert states == {"x": TaskState.SUCCEEDED, "y": TaskState.FAILED}


async def test_retry_refuses_a_task_that_succeeded_or_does_not_exist(service: OrchestrationService) -> None:
    run_id = await _failed_run(service)

    with pytest.raises(InputError, match=r"'ok' .* is succeeded"):
        await service.retry(run_id, ["ok"])
    with pytest.raises(TaskNotFoundError):
        await service.retry(run_id, ["nope"])


async def test_retry_of_a_run_that_succeeded_changes_nothing(service: OrchestrationService) -> None:
    summary, events = await run_to_end(service, run_spec([echo_task("a")]))

    assert await service.retry(summary.id) == 0
    await service.store.flush()

    assert await service.summary(summary.id) == summary
    assert await service.store.events_after(0, summary.id) == events


async def test_resume_of_a_finished_run_changes_nothing_and_publishes_nothing(
    service: OrchestrationService,
) -> None:
    run_id = await _failed_run(service)
    summary = await service.summary(run_id)
    events = await service.store.events_after(0, run_id)

    assert await service.resume(run_id) == run_id
    await service.store.flush()

    assert await service.summary(run_id) == summary
    assert await service.store.events_after(0, run_id) == events


async def test_a_retried_run_announces_its_tasks_pending_again_after_it_starts(
    service: OrchestrationService,
) -> None:
    run_id = await _failed_run(service)
    seen = len(await service.store.events_after(0, run_id))

    with anyio.fail_after(DEADLINE_S):
        await service.retry(run_id)
        await service.wait(run_id)
    new = (await service.store.events_after(0, run_id))[seen:]

    started = next(i for i, event in enumerate(new) if isinstance(event, RunStarted))
    restart = new[started]
    pending = [
        (i, event.task_id)
        for i, event in enumerate(new)
        if isinstance(event, TaskStateChanged) and event.state is TaskState.PENDING
    ]
    assert isinstance(restart, RunStarted)
    assert restart.resumed
    assert sorted(task for _, task in pending) == ["after", "flaky"]
    assert all(i > started for i, _ in pending)
