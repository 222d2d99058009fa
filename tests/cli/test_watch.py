"""`parallelai watch` on a real pseudo-terminal against a real daemon: it follows a run live,
shows active tasks (and, apart from them, tasks waiting to retry), cancels the run on `c`,
retries a finished run's failed tasks on `r` and quits on `q`."""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path

import anyio
import pytest
from rich.console import Console

from parallelai.cli.watch_command import Watch
from parallelai.cli.watch_view import render
from parallelai.client.daemon_client import DaemonClient, TaskPage
from parallelai.client.discovery import DaemonInfo
from parallelai.models import RunState, TaskState
from parallelai.wire import TaskOut
from tests.cli._terminal import terminal
from tests.server._process import daemon_process
from tests.server._support import RETRYING_AND_BUSY, echo_run
from tests.support.polling import until

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

DEADLINE_S = 60.0
WATCH = [sys.executable, "-m", "parallelai", "watch"]
TASKS = 80


async def test_watch_follows_a_new_run_until_every_task_succeeded_and_quits_on_q(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with (
            daemon_process(tmp_path / "db.sqlite") as daemon,
            DaemonClient(daemon.info) as client,
            terminal(WATCH) as screen,
        ):
            await screen.wait_for("waiting for a run")
            body = echo_run(TASKS, latency=0.1) | {"name": "watched", "parallel": 4}
            run_id = (await client.create_run(body)).id

            seen: set[int] = set()
            position = 0
            while TASKS not in seen:
                match = await screen.wait_for(r"succeeded (\d+)(?![\d/])", position)
                seen.add(int(match.group(1)))
                position = match.end()
            await screen.wait_for(rf"{run_id}\s+watched\s+succeeded", position)
            await screen.wait_for(rf"done {TASKS}/{TASKS}", position)

            screen.press("q")
            assert await screen.drain_until_exit() == 0
    assert len(seen) >= 2, f"the counts never changed on screen: {sorted(seen)}"
    assert min(seen) < TASKS


async def test_watch_run_shows_active_tasks_and_cancels_the_run_on_c(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as daemon, DaemonClient(daemon.info) as client:
            body = echo_run(3) | {"engines": {"echo": {"hang": True}}}
            run_id = (await client.create_run(body)).id
            async with terminal([*WATCH, run_id]) as screen:
                await screen.wait_for(r"active tasks \(3\)")
                await screen.wait_for(r"t003\s+1\s+\d+\.\ds")  # task, attempt, elapsed

                screen.press("c")
                await screen.wait_for(rf"{run_id} cancelled")
                await screen.wait_for(r"cancelled 3")

                screen.press("q")
                assert await screen.drain_until_exit() == 0
            run = await client.run(run_id)
    assert run.state.value == "cancelled"


async def test_watch_lists_a_task_waiting_to_retry_apart_from_the_running_ones(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as daemon, DaemonClient(daemon.info) as client:
            run_id = (await client.create_run(RETRYING_AND_BUSY)).id
            async with terminal([*WATCH, run_id]) as screen:
                await screen.wait_for(r"waiting to retry \(1, no slot held\)")
                await screen.wait_for(r"flaky\s+1\s+in \d+m\d\ds")  # task, failed attempt, due
                await screen.wait_for(r"active tasks \(1\)")
                await screen.wait_for(r"running 1\s+retrying 1")
                await screen.wait_for(r"executed by the daemon \(pid \d+\)")

                screen.press("q")
                assert await screen.drain_until_exit() == 0
            await client.cancel(run_id)


async def test_watch_retries_a_finished_runs_failed_tasks_on_r_and_follows_it_to_success(
    tmp_path: Path,
) -> None:
    broken = {"retries": 0, "engine_options": {"fail_attempts": 1, "failure_kind": "execution"}}
    work = {
        "strategy": "parallel",
        "tasks": [
            {"id": "ok1", "prompt": "a"},
            {"id": "ok2", "prompt": "b"},
            {"id": "bad1", "prompt": "c", "options": broken},
            {"id": "bad2", "prompt": "d", "options": broken},
        ],
    }
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as daemon, DaemonClient(daemon.info) as client:
            run_id = (await client.create_run({"work": work})).id
            async with terminal([*WATCH, run_id]) as screen:
                failed = await screen.wait_for(rf"{run_id}\s+failed")
                await screen.wait_for(r"succeeded 2\s+failed 2", failed.start())

                screen.press("r")
                retried = await screen.wait_for(rf"{run_id}: retrying 2 tasks")
                done = await screen.wait_for(r"succeeded 4\s+failed 0", retried.start())
                await screen.wait_for(rf"{run_id}\s+succeeded", done.start())

                screen.press("q")
                assert await screen.drain_until_exit() == 0
            run = await client.run(run_id)
    assert run.state.value == "succeeded"
    assert run.counts[TaskState.SUCCEEDED] == 4


class _CountingClient(DaemonClient):
    """A client that notes each read of a run's task list."""

    def __init__(self, info: DaemonInfo) -> None:
        super().__init__(info)
        self.reads: list[str] = []

    async def __aenter__(self) -> _CountingClient:
        return self

    async def tasks(self, run_id: str) -> list[TaskOut]:
        self.reads.append("tasks")
        return await super().tasks(run_id)

    async def task_page(
        self, run_id: str, *, changed_after: int | None = None, limit: int | None = None, offset: int = 0
    ) -> TaskPage:
        self.reads.append(f"changed_after={changed_after}")
        return await super().task_page(run_id, changed_after=changed_after, limit=limit, offset=offset)


async def test_watch_reads_the_task_list_once_and_then_follows_events_through_a_retry(tmp_path: Path) -> None:
    """At 10,000 tasks the list is ~1.5 MB: watch reads it when it starts following a run, and
    from then on only the event stream (and the run's totals), even across a retry."""
    broken = {"retries": 0, "engine_options": {"fail_attempts": 1, "failure_kind": "execution"}}
    tasks = [{"id": f"t{index}", "prompt": str(index)} for index in range(20)]
    work = {"strategy": "parallel", "tasks": [*tasks, {"id": "bad", "prompt": "x", "options": broken}]}
    console = Console(file=io.StringIO(), width=120, height=60, record=True)
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as daemon, _CountingClient(daemon.info) as client:
            run_id = (await client.create_run({"work": work})).id
            watch = Watch(client, console)
            async with anyio.create_task_group() as group:
                group.start_soon(watch.run, run_id)
                await until(
                    lambda: watch.model.run is not None and watch.model.run.state is RunState.FAILED,
                    DEADLINE_S,
                )
                await until(lambda: watch.model.counts()[TaskState.FAILED] == 1, DEADLINE_S)
                assert (await client.retry(run_id, [])).retried == 1
                await until(lambda: watch.model.counts()[TaskState.SUCCEEDED] == 21, DEADLINE_S)
                await until(
                    lambda: watch.model.run is not None and watch.model.run.state is RunState.SUCCEEDED,
                    DEADLINE_S,
                )
                group.cancel_scope.cancel()
    assert client.reads == ["tasks"]
    console.print(render(watch.model, time.time(), 60))
    screen = console.export_text()
    assert re.search(r"succeeded 21\s+failed 0", screen), screen
    assert re.search(rf"{run_id}\s+\S*\s*succeeded", screen), screen


async def test_watching_an_unknown_run_is_an_error(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite"), terminal([*WATCH, "r-nope"]) as screen:
            await screen.wait_for("r-nope")
            assert await screen.drain_until_exit() == 2  # bad input, as everywhere in the CLI
