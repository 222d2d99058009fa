"""Budgets stop new work once spent, and say so; fail-fast stops the run at the first failure."""

from __future__ import annotations

import pytest

from parallelai.events import BudgetReached, Event, RunFinished
from parallelai.models import RunState, Task, TaskState
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import echo_task, position, run_spec, run_to_end, states

pytestmark = pytest.mark.anyio

# 4,000 characters of answer is 1,000 output tokens; "do tN" is 1 input token: 1,001 tokens a task.
TOKENS_PER_TASK = 1001


def _costly_tasks(count: int, latency: float = 0.0) -> list[Task]:
    return [
        echo_task(f"t{i}", output_size=4000, cost_per_1k_tokens=1.0, latency=latency) for i in range(count)
    ]


async def test_reaching_max_cost_skips_the_remaining_tasks_and_says_budget(
    service: OrchestrationService,
) -> None:
    spec = run_spec(_costly_tasks(6), max_parallel=1, max_cost_usd=2.5)

    summary, events = await run_to_end(service, spec)

    # Two tasks spent $2.002; a third would pass $2.50, so it never starts.
    budget = [event for event in events if isinstance(event, BudgetReached)]
    assert len(budget) == 1
    assert budget[0].limit == "cost"
    assert budget[0].maximum == 2.5
    assert budget[0].spent == pytest.approx(2 * TOKENS_PER_TASK / 1000)
    assert summary.counts[TaskState.SUCCEEDED] == 2
    assert summary.counts[TaskState.SKIPPED] == 4
    assert (
        summary.note
        == "budget reached: spent $2.0020 of $2.5000; the next task would cost about $1.0010 more"
    )
    assert summary.usage.cost_usd == pytest.approx(2 * TOKENS_PER_TASK / 1000)
    for record in await service.tasks(summary.id):
        if record.state is TaskState.SKIPPED:
            assert "budget" in (record.reason or "")
            assert record.attempts == []
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.note == summary.note
    # Nothing started after the budget was reached.
    reached_at = events.index(budget[0])
    assert not [e for e in states(events[reached_at:]) if e[1] is TaskState.RUNNING]


async def test_a_budget_holds_with_ten_tasks_at_once_and_the_note_says_the_true_spend(
    service: OrchestrationService,
) -> None:
    cost = TOKENS_PER_TASK / 1000
    maximum = 2.5 * cost
    spec = run_spec(_costly_tasks(20), max_parallel=10, max_cost_usd=maximum, use_cache=False)

    summary, events = await run_to_end(service, spec)

    budget = [event for event in events if isinstance(event, BudgetReached)]
    assert len(budget) == 1
    reached_at = events.index(budget[0])
    running_then = sum(1 for _, state in _running_at(events[:reached_at]).items() if state)
    # The bound every budgeted run keeps: only tasks in flight when it was reached spend past it.
    assert summary.usage.cost_usd <= maximum + running_then * cost + 1e-9
    # Concretely: one probe, then one more task that fits; the third would pass $2.5025.
    assert summary.counts[TaskState.SUCCEEDED] == 2
    assert summary.usage.cost_usd == pytest.approx(2 * cost)
    assert summary.usage.cost_usd <= maximum
    assert summary.note is not None
    assert summary.note.startswith(f"budget reached: spent ${summary.usage.cost_usd:.4f} of ${maximum:.4f}")


def _running_at(events: list[Event]) -> dict[str, bool]:
    running: dict[str, bool] = {}
    for task_id, state in states(events):
        running[task_id] = state is TaskState.RUNNING
    return running


async def test_reaching_max_tokens_skips_the_remaining_tasks_and_says_budget(
    service: OrchestrationService,
) -> None:
    spec = run_spec(_costly_tasks(5), max_parallel=1, max_tokens=2 * TOKENS_PER_TASK)

    summary, events = await run_to_end(service, spec)

    budget = [event for event in events if isinstance(event, BudgetReached)]
    assert [(b.limit, b.spent, b.maximum) for b in budget] == [
        ("tokens", 2 * TOKENS_PER_TASK, 2 * TOKENS_PER_TASK)
    ]
    assert summary.counts[TaskState.SUCCEEDED] == 2
    assert summary.counts[TaskState.SKIPPED] == 3
    assert "budget" in (summary.note or "")
    assert "tokens" in (summary.note or "")
    assert summary.usage.total_tokens == 2 * TOKENS_PER_TASK


async def test_tasks_already_running_when_the_budget_is_reached_finish_and_the_note_counts_them(
    service: OrchestrationService,
) -> None:
    # A cheap first answer ($0.101) makes the estimate low, so two dear ones ($1.001) start together.
    tasks = [
        echo_task("t0", output_size=400, cost_per_1k_tokens=1.0),
        *(echo_task(f"t{i}", output_size=4000, cost_per_1k_tokens=1.0, latency=0.1) for i in (1, 2, 3, 4)),
    ]
    spec = run_spec(tasks, max_parallel=3, max_cost_usd=0.35, use_cache=False)

    summary, events = await run_to_end(service, spec)

    # The first dear one to finish reaches the budget; the other still completes and is paid for;
    # the two that never started are skipped.
    assert position(events, "t2", TaskState.RUNNING) < position(events, "t1", TaskState.SUCCEEDED)
    assert summary.counts[TaskState.SUCCEEDED] == 3
    assert summary.counts[TaskState.SKIPPED] == 2
    assert summary.usage.cost_usd == pytest.approx(0.101 + 2 * TOKENS_PER_TASK / 1000)
    assert summary.note == "budget reached: spent $2.1030 of $0.3500"


async def test_a_run_under_budget_is_not_stopped(service: OrchestrationService) -> None:
    summary, events = await run_to_end(service, run_spec(_costly_tasks(3), max_cost_usd=100.0))

    assert summary.state is RunState.SUCCEEDED
    assert summary.note is None
    assert not [event for event in events if isinstance(event, BudgetReached)]


async def test_fail_fast_stops_the_run_at_the_first_failure(service: OrchestrationService) -> None:
    tasks = [
        echo_task("running", hang=True),
        # Fails once "running" is well under way.
        echo_task("broken", fail_attempts=1, failure_kind="bad_request", latency=0.1),
        *(echo_task(f"later{i}") for i in range(3)),
    ]

    summary, events = await run_to_end(
        service, run_spec(tasks, max_parallel=2, fail_fast=True, use_cache=False)
    )

    assert summary.state is RunState.FAILED
    assert "fail-fast" in (summary.note or "")
    assert "broken" in (summary.note or "")
    records = {record.task.id: record for record in await service.tasks(summary.id)}
    assert records["broken"].state is TaskState.FAILED
    assert records["running"].state is TaskState.CANCELLED
    assert "fail-fast" in (records["running"].reason or "")
    for i in range(3):
        assert records[f"later{i}"].state is TaskState.SKIPPED
        assert "fail-fast" in (records[f"later{i}"].reason or "")
        assert records[f"later{i}"].attempts == []
    assert position(events, "running", TaskState.RUNNING) < position(events, "broken", TaskState.FAILED)
    assert position(events, "broken", TaskState.FAILED) < position(events, "running", TaskState.CANCELLED)


async def test_without_fail_fast_the_other_tasks_carry_on(service: OrchestrationService) -> None:
    tasks = [
        echo_task("broken", fail_attempts=1, failure_kind="bad_request"),
        *(echo_task(f"t{i}") for i in range(3)),
    ]

    summary, _ = await run_to_end(service, run_spec(tasks, max_parallel=2))

    assert summary.state is RunState.FAILED
    assert summary.note is None
    assert summary.counts[TaskState.SUCCEEDED] == 3
    assert summary.counts[TaskState.FAILED] == 1
