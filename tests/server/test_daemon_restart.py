"""SIGKILL the daemon mid-run, start it again: the run continues, nothing finished is re-run,
and an SSE follower that reconnects with Last-Event-ID sees every event exactly once."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import discovery_path
from parallelai.events import Event, RunFinished, TaskStateChanged
from parallelai.models import RunState, TaskState
from tests.server._process import daemon_process
from tests.server._support import echo_run

pytestmark = pytest.mark.anyio

TASKS = 60
DEADLINE_S = 60.0


async def test_a_killed_daemon_restarts_and_finishes_the_run_without_rerunning_or_losing_events(
    tmp_path: Path,
) -> None:
    store = tmp_path / "db.sqlite"
    seen: list[Event] = []
    some_succeeded = anyio.Event()
    finished = anyio.Event()

    async def follow(client: DaemonClient, run_id: str) -> None:
        # One follower for the whole test: it rides through the kill by reconnecting.
        async for event in client.events(run_id):
            seen.append(event)
            if sum(isinstance(e, TaskStateChanged) and e.state is TaskState.SUCCEEDED for e in seen) >= 10:
                some_succeeded.set()
            if isinstance(event, RunFinished):
                finished.set()
                return

    with anyio.fail_after(DEADLINE_S):
        async with anyio.create_task_group() as group:
            async with daemon_process(store) as first:
                client = DaemonClient(first.info)
                body = echo_run(TASKS, latency=0.1) | {"parallel": 4}
                run_id = (await client.create_run(body)).id
                group.start_soon(follow, client, run_id)
                await some_succeeded.wait()
                first.process.send_signal(signal.SIGKILL)
                await first.process.wait()
            succeeded_before = {
                e.task_id for e in seen if isinstance(e, TaskStateChanged) and e.state is TaskState.SUCCEEDED
            }
            assert discovery_path().exists()  # stale: SIGKILL left no chance to remove it

            async with daemon_process(store) as second:
                await finished.wait()
                async with DaemonClient(second.info) as fresh:
                    run = await fresh.run(run_id)
                    tasks = await fresh.tasks(run_id)
                    replay = [event async for event in _until_finished(fresh, run_id)]
            await client.aclose()

    assert run.state is RunState.SUCCEEDED
    assert run.counts[TaskState.SUCCEEDED] == TASKS
    assert 10 <= len(succeeded_before) < TASKS
    attempts = {task.id: task.attempts for task in tasks}
    assert all(attempts[task_id] == 1 for task_id in succeeded_before), "a finished task ran again"
    # The follower saw every stored event of the run once, in order, across the kill and restart.
    assert [e.seq for e in seen] == [e.seq for e in replay]
    assert len({e.seq for e in seen}) == len(seen)
    assert any(e.type == "run.started" and getattr(e, "resumed", False) for e in seen)


async def _until_finished(client: DaemonClient, run_id: str) -> AsyncIterator[Event]:
    async for event in client.events(run_id, after=0, reconnect=False):
        yield event
        if isinstance(event, RunFinished):
            return
