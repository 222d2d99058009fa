"""`parallelai watch` on a real pseudo-terminal against a real daemon: it follows a run live,
shows active tasks (and, apart from them, tasks waiting to retry), cancels the run on `c`,
retries a finished run's failed tasks on `r` and quits on `q`."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.models import TaskState
from tests.cli._terminal import terminal
from tests.server._process import daemon_process
from tests.server._support import RETRYING_AND_BUSY, echo_run

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


async def test_watching_an_unknown_run_is_an_error(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite"), terminal([*WATCH, "r-nope"]) as screen:
            await screen.wait_for("r-nope")
            assert await screen.drain_until_exit() == 2  # bad input, as everywhere in the CLI
