"""Many services on one store: one truth for event numbers, runs seen live by all, one executor per run."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import anyio
import pytest

from parallelai.errors import RunBusyError
from parallelai.events import Event, RunCreated, RunFinished, TaskStateChanged
from parallelai.models import RunState, TaskState
from parallelai.orchestration.service import OrchestrationService
from tests.orchestration._support import DEADLINE_S, echo_task, run_spec, wait_for_state

pytestmark = pytest.mark.anyio


@pytest.fixture
async def other(store_path: Path, service: OrchestrationService) -> AsyncIterator[OrchestrationService]:
    """A second service on the same store file, as another process would open it."""
    async with OrchestrationService.open(store_path) as opened:
        yield opened


def _stored_seqs(store_path: Path) -> list[int]:
    with sqlite3.connect(store_path) as db:
        return [row[0] for row in db.execute("SELECT seq FROM events ORDER BY seq")]


async def test_two_services_running_at_once_number_their_events_without_a_gap_or_a_clash(
    service: OrchestrationService, other: OrchestrationService, store_path: Path
) -> None:
    tasks = [echo_task(f"t{i:03d}", latency=0.001) for i in range(150)]
    with anyio.fail_after(DEADLINE_S):
        async with anyio.create_task_group() as group:
            for each in (service, other, service, other):
                group.start_soon(each.run, run_spec(tasks, max_parallel=20, use_cache=False))

    seqs = _stored_seqs(store_path)
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) > 4 * 150


async def test_a_run_another_service_executes_is_followed_live_from_its_creation_to_its_end(
    service: OrchestrationService, other: OrchestrationService
) -> None:
    seen: list[Event] = []
    following = anyio.Event()

    async def follow_everything() -> None:
        async with aclosing(other.events(after_seq=other.bus.last_seq)) as stream:
            following.set()
            async for event in stream:
                seen.append(event)
                if isinstance(event, RunFinished):
                    return

    with anyio.fail_after(DEADLINE_S):
        async with anyio.create_task_group() as group:
            group.start_soon(follow_everything)
            await following.wait()
            run_id = await service.submit(run_spec([echo_task("a"), echo_task("b")]))

    first, last = seen[0], seen[-1]
    assert isinstance(first, RunCreated)
    assert first.run_id == run_id
    assert isinstance(last, RunFinished)
    assert last.state is RunState.SUCCEEDED
    assert [e.seq for e in seen] == sorted({e.seq for e in seen})
    assert {(e.task_id, e.state) for e in seen if isinstance(e, TaskStateChanged)} >= {
        ("a", TaskState.SUCCEEDED),
        ("b", TaskState.SUCCEEDED),
    }


async def test_a_run_is_executed_by_one_service_only_and_the_other_is_told_who(
    service: OrchestrationService, other: OrchestrationService
) -> None:
    run_id = await service.submit(run_spec([echo_task("stuck", hang=True)]))
    await wait_for_state(service, run_id, "stuck", TaskState.RUNNING)

    with pytest.raises(RunBusyError) as busy:
        await other.resume(run_id)
    with pytest.raises(RunBusyError):
        await other.retry(run_id)
    summary = await other.summary(run_id)

    assert busy.value.executed_by == service.owner.describe()
    assert summary.executed_by == service.owner.describe()
    assert summary.state is RunState.RUNNING
    await service.cancel(run_id)


async def test_cancel_from_another_service_stops_the_run_where_it_executes(
    service: OrchestrationService, other: OrchestrationService
) -> None:
    run_id = await service.submit(
        run_spec([echo_task("stuck", hang=True), echo_task("queued")], max_parallel=1)
    )
    await wait_for_state(service, run_id, "stuck", TaskState.RUNNING)

    with anyio.fail_after(DEADLINE_S):
        cancelled = await other.cancel(run_id)
        mine = await service.wait(run_id)

    assert cancelled.state is RunState.CANCELLED
    assert cancelled.executed_by is None
    assert mine.counts[TaskState.CANCELLED] == 2
    records = {record.task.id: record for record in await other.tasks(run_id)}
    assert [attempt.state for attempt in records["stuck"].attempts] == [TaskState.CANCELLED]


async def test_cancelling_one_task_from_another_service_cancels_just_that_task(
    service: OrchestrationService, other: OrchestrationService
) -> None:
    run_id = await service.submit(run_spec([echo_task("stuck", hang=True), echo_task("fine", latency=0.2)]))
    await wait_for_state(service, run_id, "stuck", TaskState.RUNNING)

    with anyio.fail_after(DEADLINE_S):
        assert await other.cancel_task(run_id, "stuck")
        summary = await other.wait(run_id)

    assert summary.counts[TaskState.CANCELLED] == 1
    assert summary.counts[TaskState.SUCCEEDED] == 1


async def test_waiting_on_a_run_another_service_executes_returns_its_outcome(
    service: OrchestrationService, other: OrchestrationService
) -> None:
    run_id = await service.submit(run_spec([echo_task("a", latency=0.2)]))

    with anyio.fail_after(DEADLINE_S):
        summary = await other.wait(run_id)

    assert summary.state is RunState.SUCCEEDED
