"""Events are numbered, persisted and replayable: a subscriber resumes from any sequence number."""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path

import anyio
import pytest

from parallelai.events import Event, RunCreated, RunFinished, TaskOutput, TaskStateChanged, TaskUsage
from parallelai.models import TaskState
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import DEADLINE_S, echo_task, run_spec, run_to_end, wait_for_state

pytestmark = pytest.mark.anyio


async def _until_finished(
    stream_events: list[Event], service: OrchestrationService, after: int, run_id: str
) -> None:
    async with aclosing(service.events(after_seq=after, run_id=run_id)) as stream:
        async for event in stream:
            stream_events.append(event)
            if isinstance(event, RunFinished):
                return


async def test_events_after_a_sequence_number_are_replayed_then_followed_live_in_order(
    service: OrchestrationService,
) -> None:
    run_id = await service.submit(run_spec([echo_task("quick"), echo_task("stuck", hang=True)]))
    await wait_for_state(service, run_id, "quick", TaskState.SUCCEEDED)
    await service.store.flush()
    stored = await service.store.events_after(0, run_id)
    k = stored[2].seq
    seen: list[Event] = []
    caught_up = anyio.Event()

    async def follow() -> None:
        async with aclosing(service.events(after_seq=k, run_id=run_id)) as stream:
            async for event in stream:
                seen.append(event)
                if event.seq >= stored[-1].seq:
                    caught_up.set()
                if isinstance(event, RunFinished):
                    return

    with anyio.fail_after(DEADLINE_S):
        async with anyio.create_task_group() as group:
            group.start_soon(follow)
            await caught_up.wait()
            # Everything from here on can only reach the subscriber live.
            await service.cancel_task(run_id, "stuck")

    await service.store.flush()
    everything = await service.store.events_after(0, run_id)
    assert len(everything) > len(stored)
    assert seen == [event for event in everything if event.seq > k]
    assert [event.seq for event in seen] == sorted(event.seq for event in seen)


async def test_sequence_numbers_are_store_wide_and_continue_after_reopening(store_path: Path) -> None:
    async with OrchestrationService.open(store_path) as service:
        first, first_events = await run_to_end(service, run_spec([echo_task("a")]))
    async with OrchestrationService.open(store_path) as service:
        second, second_events = await run_to_end(service, run_spec([echo_task("b")]))
        all_events = await service.store.events_after(0)

    assert isinstance(second_events[0], RunCreated)
    assert first_events[-1].seq < second_events[0].seq
    assert [event.seq for event in all_events] == list(range(1, len(all_events) + 1))
    assert {event.run_id for event in all_events} == {first.id, second.id}


async def test_a_slow_subscriber_with_a_tiny_buffer_never_stalls_the_run_and_misses_nothing(
    service: OrchestrationService,
) -> None:
    run_id = await service.submit(run_spec([echo_task(f"t{i:02d}") for i in range(20)], max_parallel=5))
    async with aclosing(service.bus.stream(0, run_id, buffer=1)) as stream:
        received = [await stream.__anext__()]  # subscribed now, then it stops reading

        with anyio.fail_after(DEADLINE_S):
            await service.wait(run_id)  # would hang if publishing waited for this subscriber
            async for event in stream:
                received.append(event)
                if isinstance(event, RunFinished):
                    break

    await service.store.flush()
    stored = await service.store.events_after(0, run_id)
    assert len(stored) > 20
    assert received == stored


async def test_a_subscriber_for_one_run_sees_only_that_run(service: OrchestrationService) -> None:
    other, _ = await run_to_end(service, run_spec([echo_task("x")]))
    mine, _ = await run_to_end(service, run_spec([echo_task("y")]))
    seen: list[Event] = []

    with anyio.fail_after(DEADLINE_S):
        await _until_finished(seen, service, 0, mine.id)

    assert seen
    assert {event.run_id for event in seen} == {mine.id}
    assert other.id != mine.id
    assert [e.task_id for e in seen if isinstance(e, TaskStateChanged)] == ["y"] * 2  # running, succeeded


async def test_what_an_engine_emits_reaches_the_stream_between_running_and_succeeded(
    service: OrchestrationService,
) -> None:
    summary, events = await run_to_end(service, run_spec([echo_task("talker")]))

    kinds = [event.type for event in events]
    assert kinds == [
        "run.created",
        "run.started",
        "task.state",  # running (it started at once, so no `ready` of its own)
        "task.output",
        "task.usage",
        "task.state",  # succeeded
        "run.finished",
    ]
    output = next(event for event in events if isinstance(event, TaskOutput))
    usage = next(event for event in events if isinstance(event, TaskUsage))
    assert output.text == "echo: do talker"
    assert usage.usage == summary.usage
