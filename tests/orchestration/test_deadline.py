"""A run's deadline (`limits.deadline_s`): once it has executed that long nothing new starts,
running attempts and waiting retries are cancelled, and the run fails saying why."""

from __future__ import annotations

import sys

import pytest

from parallelai.config import environment_defaults
from parallelai.events import RunFinished, TaskRetrying, TaskStateChanged
from parallelai.models import Gate, RunLimits, RunState, TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.run_request import build_request
from tests.orchestration._support import echo_task, run_spec, run_to_end

pytestmark = pytest.mark.anyio

DEADLINE = "deadline of 0.2 s reached"


async def test_a_running_task_and_those_waiting_for_a_slot_are_cancelled_at_the_deadline(
    service: OrchestrationService,
) -> None:
    spec = run_spec(
        [echo_task("hangs", hang=True), echo_task("queued"), echo_task("after", depends_on=["queued"])],
        use_cache=False,
        max_parallel=1,
        deadline_s=0.2,
    )

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.FAILED
    assert summary.note == DEADLINE
    records = {record.task.id: record for record in await service.tasks(summary.id)}
    assert {task_id: record.state for task_id, record in records.items()} == {
        "hangs": TaskState.CANCELLED,
        "queued": TaskState.CANCELLED,
        "after": TaskState.CANCELLED,
    }
    assert {record.reason for record in records.values()} == {DEADLINE}
    [finished] = [event for event in events if isinstance(event, RunFinished)]
    assert finished.note == DEADLINE


async def test_a_retry_waiting_past_the_deadline_ends_at_it(service: OrchestrationService) -> None:
    # The engine asks for 200 s, under the Retry-After ceiling: without a deadline the task would wait.
    spec = run_spec(
        [echo_task("limited", fail_attempts=1, failure_kind="rate_limited", retry_after=200)],
        use_cache=False,
        deadline_s=0.2,
    )

    summary, events = await run_to_end(service, spec)

    [record] = await service.tasks(summary.id)
    assert any(isinstance(event, TaskRetrying) for event in events)
    assert record.state is TaskState.CANCELLED
    assert record.reason == DEADLINE
    assert len(record.attempts) == 1
    assert summary.state is RunState.FAILED
    assert summary.note == DEADLINE


async def test_a_gate_still_running_at_the_deadline_is_stopped_and_the_run_fails(
    service: OrchestrationService,
) -> None:
    sleeper = f'"{sys.executable}" -c "import time; time.sleep(60)"'
    spec = run_spec([echo_task("quick")], use_cache=False, deadline_s=0.2).model_copy(
        update={"gates": [Gate(command=sleeper, name="slow")]}
    )

    summary, _ = await run_to_end(service, spec)

    assert summary.counts[TaskState.SUCCEEDED] == 1
    assert summary.state is RunState.FAILED
    assert summary.note == DEADLINE
    [gate] = summary.gates
    assert (gate.state, gate.reason) == ("skipped", DEADLINE)


async def test_a_run_that_ends_before_its_deadline_is_not_touched_by_it(
    service: OrchestrationService,
) -> None:
    spec = run_spec([echo_task("a"), echo_task("b", depends_on=["a"])], deadline_s=600)

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    assert summary.note is None
    assert all(
        event.state is not TaskState.CANCELLED for event in events if isinstance(event, TaskStateChanged)
    )


def test_the_deadline_is_a_run_setting_in_every_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARALLELAI_DEADLINE_S", "120")

    request = build_request(prompts=["p"], deadline_s=90)

    assert request.limits_given()["deadline_s"] == 90
    assert environment_defaults().deadline_s == 120
    assert RunLimits().deadline_s is None
    with pytest.raises(ValueError, match="greater than 0"):
        RunLimits(deadline_s=0)
