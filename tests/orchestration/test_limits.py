"""The global concurrency limit and per-engine limits hold at every moment of a run."""

from __future__ import annotations

import pytest

from parallelai.events import TaskStateChanged
from parallelai.models import RunState, Task, TaskOptions, TaskState
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import echo_task, peak_running, run_spec, run_to_end

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("max_parallel", [1, 3])
async def test_no_more_than_max_parallel_tasks_run_at_once(
    service: OrchestrationService, max_parallel: int
) -> None:
    spec = run_spec(
        [echo_task(f"t{i:02d}", latency=0.02) for i in range(12)], max_parallel=max_parallel, use_cache=False
    )

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    assert peak_running(events) == max_parallel


async def test_retrying_tasks_do_not_hold_a_slot_or_exceed_the_limit(service: OrchestrationService) -> None:
    tasks = [echo_task(f"t{i}", latency=0.01, fail_attempts=1, failure_kind="transient") for i in range(6)]

    summary, events = await run_to_end(
        service, run_spec(tasks, max_parallel=2, backoff_base_s=0.01, use_cache=False)
    )

    assert summary.state is RunState.SUCCEEDED
    assert peak_running(events) == 2


async def test_a_per_engine_limit_holds_while_other_engines_use_the_global_limit(
    service: OrchestrationService,
) -> None:
    echo_tasks = [echo_task(f"e{i}", latency=0.05) for i in range(6)]
    command_tasks = [
        Task(
            id=f"c{i}",
            prompt="x",
            engine="command",
            options=TaskOptions(engine_options={"shell": "sleep 0.05"}),
        )
        for i in range(6)
    ]
    spec = run_spec([*echo_tasks, *command_tasks], max_parallel=4, per_engine={"echo": 1}, use_cache=False)

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    assert peak_running(events, only=[task.id for task in echo_tasks]) == 1
    assert peak_running(events) == 4


async def test_ready_is_announced_only_for_tasks_that_wait_for_a_slot(service: OrchestrationService) -> None:
    spec = run_spec([echo_task(f"t{i}", latency=0.01) for i in range(4)], max_parallel=2)

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    ready = [e.task_id for e in events if isinstance(e, TaskStateChanged) and e.state is TaskState.READY]
    running = [e.task_id for e in events if isinstance(e, TaskStateChanged) and e.state is TaskState.RUNNING]
    assert sorted(ready) == ["t2", "t3"]  # the first two started at once
    assert sorted(running) == ["t0", "t1", "t2", "t3"]
