"""The adaptive strategy end to end: a real run against an echo provider that refuses above N."""

from __future__ import annotations

import pytest

from parallelai.events import ConcurrencyChanged, TaskRetrying, event_from_json
from parallelai.models import ErrorKind, RunLimits, RunSpec, RunState, Task, TaskOptions, TaskState
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import echo_task, peak_running, run_spec, run_to_end

pytestmark = pytest.mark.anyio

CEILING = 6
REFUSES_ABOVE = 2


def refusing_run(count: int = 24, strategy: str = "adaptive") -> RunSpec:
    """`count` tasks against an echo that refuses an attempt while REFUSES_ABOVE are answered; the
    adaptive limit starts at 4, so the provider refuses from the first wave."""
    tasks = [
        echo_task(f"t{i:02d}", retries=50, latency=0.01, max_concurrent=REFUSES_ABOVE, retry_after=0.01)
        for i in range(count)
    ]
    spec = run_spec(tasks, use_cache=False, max_parallel=CEILING, backoff_cap_s=0.02)
    return spec.model_copy(update={"strategy": strategy})


async def test_an_adaptive_run_against_a_refusing_provider_succeeds_and_lowers_its_limit_after_refusals(
    service: OrchestrationService,
) -> None:
    summary, events = await run_to_end(service, refusing_run())

    assert summary.state is RunState.SUCCEEDED
    assert summary.counts[TaskState.SUCCEEDED] == 24
    changes = [event for event in events if isinstance(event, ConcurrencyChanged)]
    assert changes[0].old is None
    assert changes[0].limit == 4
    first_refusal = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, TaskRetrying) and e.error_kind is ErrorKind.RATE_LIMITED
    )
    cuts = [
        e for e in events[first_refusal:] if isinstance(e, ConcurrencyChanged) and e.old and e.limit < e.old
    ]
    assert cuts
    assert all("rate_limited" in cut.reason for cut in cuts)
    assert peak_running(events) <= CEILING
    assert all(change.limit <= CEILING for change in changes)


async def test_the_adaptive_limit_is_published_and_read_back_from_the_store_as_its_own_event(
    service: OrchestrationService,
) -> None:
    summary, events = await run_to_end(service, refusing_run(count=4))

    changed = next(event for event in events if isinstance(event, ConcurrencyChanged))
    assert changed.run_id == summary.id
    assert changed.engine == "echo"
    assert event_from_json(changed.model_dump_json()) == changed


async def test_a_fixed_pool_publishes_no_adaptive_limits(service: OrchestrationService) -> None:
    summary, events = await run_to_end(service, refusing_run(count=4, strategy="parallel"))

    assert summary.state is RunState.SUCCEEDED
    assert not any(isinstance(event, ConcurrencyChanged) for event in events)


async def test_intelligent_is_stored_as_the_adaptive_strategy(service: OrchestrationService) -> None:
    spec = RunSpec.model_validate(
        {"strategy": "intelligent", "tasks": [{"id": "a", "prompt": "x"}], "use_cache": False}
    )

    summary, events = await run_to_end(service, spec)

    assert spec.strategy == "adaptive"
    assert summary.strategy == "adaptive"
    assert any(isinstance(event, ConcurrencyChanged) for event in events)


async def test_adaptive_runs_dependencies_in_order_like_dag(service: OrchestrationService) -> None:
    tasks = [
        Task(id="first", prompt="one"),
        Task(id="second", prompt="two: {{ output }}", depends_on=["first"], options=TaskOptions()),
    ]
    spec = RunSpec(strategy="adaptive", tasks=tasks, limits=RunLimits(max_parallel=3), use_cache=False)

    summary, events = await run_to_end(service, spec)

    assert summary.state is RunState.SUCCEEDED
    assert peak_running(events) == 1
