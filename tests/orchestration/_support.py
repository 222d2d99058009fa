"""Helpers shared by the orchestration tests: building echo runs and reading what happened."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing
from typing import Any, TypeVar

import anyio

from parallelai.events import Event, TaskRetrying, TaskStateChanged
from parallelai.models import RunLimits, RunSpec, RunSummary, Task, TaskOptions, TaskState
from parallelai.orchestration.service import OrchestrationService

DEADLINE_S = 10.0
E = TypeVar("E", bound=Event)


def echo_task(
    task_id: str, *, depends_on: Sequence[str] = (), retries: int = 2, **engine_options: Any
) -> Task:
    """A task for the echo engine, with its own echo options (latency, hang, failures...)."""
    return Task(
        id=task_id,
        prompt=f"do {task_id}",
        depends_on=list(depends_on),
        options=TaskOptions(retries=retries, engine_options=engine_options),
    )


def run_spec(tasks: Iterable[Task], *, use_cache: bool = True, **limits: Any) -> RunSpec:
    """A run of `tasks` with tiny backoff. Without the cache an attempt reaches RUNNING in its first
    step, so tasks dispatched together are all RUNNING before any of them can finish."""
    limits.setdefault("backoff_base_s", 0.001)
    return RunSpec(tasks=list(tasks), limits=RunLimits(**limits), use_cache=use_cache)


async def run_to_end(service: OrchestrationService, spec: RunSpec) -> tuple[RunSummary, list[Event]]:
    """Run `spec` under a deadline; return its summary and every event it stored, in order."""
    with anyio.fail_after(DEADLINE_S):
        run_id = await service.submit(spec)
        summary = await service.wait(run_id)
    return summary, await service.store.events_after(0, run_id)


def states(events: Iterable[Event]) -> list[tuple[str, TaskState]]:
    """The task state changes, in the order they happened."""
    return [(e.task_id, e.state) for e in events if isinstance(e, TaskStateChanged)]


def position(events: Sequence[Event], task_id: str, state: TaskState) -> int:
    """Index of the first event where `task_id` entered `state`."""
    for index, event in enumerate(events):
        if isinstance(event, TaskStateChanged) and event.task_id == task_id and event.state is state:
            return index
    raise AssertionError(f"{task_id} never became {state}")


def peak_running(events: Iterable[Event], only: Iterable[str] | None = None) -> int:
    """The most tasks that were RUNNING at once, according to the event stream."""
    watched = set(only) if only is not None else None
    running: set[str] = set()
    peak = 0
    for event in events:
        if isinstance(event, TaskStateChanged):
            task_id = event.task_id
            if watched is not None and task_id not in watched:
                continue
            if event.state is TaskState.RUNNING:
                running.add(task_id)
                peak = max(peak, len(running))
            else:
                running.discard(task_id)
        elif isinstance(event, TaskRetrying):
            running.discard(event.task_id)
    return peak


async def wait_for_event(
    service: OrchestrationService, run_id: str, kind: type[E], matches: Callable[[E], bool] = lambda _: True
) -> E:
    """Block (under a deadline) until the run's event stream shows a `kind` event that `matches`."""
    with anyio.fail_after(DEADLINE_S):
        async with aclosing(service.events(run_id=run_id)) as stream:
            async for event in stream:
                if isinstance(event, kind) and matches(event):
                    return event
    raise AssertionError("the event stream ended")


async def wait_for_state(service: OrchestrationService, run_id: str, task_id: str, state: TaskState) -> None:
    """Block (under a deadline) until `task_id` enters `state`."""
    await wait_for_event(
        service, run_id, TaskStateChanged, lambda e: e.task_id == task_id and e.state is state
    )
