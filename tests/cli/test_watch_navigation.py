"""`parallelai watch` navigated on a real pseudo-terminal against a real daemon: ↑/↓ select a listed
task, Enter opens it (attempts, error, output), `c` and `r` then act on that task alone, Esc goes
back; and a running run shows an ETA."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from parallelai.cli.watch_command import keys_in
from parallelai.client.daemon_client import DaemonClient
from parallelai.models import TaskState
from tests.cli._terminal import terminal
from tests.server._process import daemon_process
from tests.server._support import echo_run

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

DEADLINE_S = 60.0
WATCH = [sys.executable, "-m", "parallelai", "watch"]
DOWN, UP, ENTER, ESCAPE = "\x1b[B", "\x1b[A", "\r", "\x1b"


async def test_a_failed_task_is_opened_with_its_error_and_retried_alone(tmp_path: Path) -> None:
    broken = {"retries": 0, "engine_options": {"fail_attempts": 1, "failure_kind": "execution"}}
    work = {
        "strategy": "parallel",
        "tasks": [
            {"id": "ok", "prompt": "a"},
            {"id": "bad1", "prompt": "c", "options": broken},
            {"id": "bad2", "prompt": "d", "options": broken},
        ],
    }
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as daemon, DaemonClient(daemon.info) as client:
            run_id = (await client.create_run({"work": work})).id
            async with terminal([*WATCH, run_id]) as screen:
                listed = await screen.wait_for(r"succeeded 1\s+failed 2")
                await screen.wait_for(r"↑↓ select\s+enter open", listed.start())

                screen.press(DOWN)
                screen.press(ENTER)
                opened = await screen.wait_for(r"task (bad[12])\s+failed")
                task_id = opened.group(1)
                await screen.wait_for(r"#1\s+\d\d:\d\d:\d\d\s+\S+\s+failed\s+execution: ", opened.start())
                await screen.wait_for(r"esc back\s+c cancel this task\s+r retry this task", opened.start())

                screen.press("r")
                retried = await screen.wait_for(rf"{run_id}: retrying 1 task\b")
                await screen.wait_for(rf"task {task_id}\s+succeeded", retried.start())
                await screen.wait_for(r"#2\s+\d\d:\d\d:\d\d\s+\S+\s+succeeded", retried.start())

                screen.press(ESCAPE)
                back = await screen.wait_for(r"recent failures", retried.start())
                await screen.wait_for(r"succeeded 2\s+failed 1", back.start())
                screen.press("q")
                assert await screen.drain_until_exit() == 0
            tasks = {task.id: task.state for task in await client.tasks(run_id)}
    assert tasks[task_id] is TaskState.SUCCEEDED
    assert sorted(tasks.values()) == sorted([TaskState.SUCCEEDED, TaskState.SUCCEEDED, TaskState.FAILED])


async def test_a_running_task_is_opened_and_cancelled_alone_while_the_run_goes_on(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as daemon, DaemonClient(daemon.info) as client:
            run_id = (await client.create_run(echo_run(2) | {"engines": {"echo": {"hang": True}}})).id
            async with terminal([*WATCH, run_id]) as screen:
                await screen.wait_for(r"active tasks \(2\)")
                screen.press(DOWN + DOWN + UP)  # past the first, and back to it
                screen.press(ENTER)
                opened = await screen.wait_for(r"task (t00[12])\s+running")
                task_id = opened.group(1)
                await screen.wait_for(r"output: none yet", opened.start())

                screen.press("c")
                cancelled = await screen.wait_for(rf"{task_id} cancelled")
                await screen.wait_for(rf"task {task_id}\s+cancelled", cancelled.start())
                screen.press(ESCAPE)
                await screen.wait_for(r"active tasks \(1\)", cancelled.start())
                screen.press("q")
                assert await screen.drain_until_exit() == 0
            run = await client.run(run_id)
            await client.cancel(run_id)
    assert run.counts[TaskState.CANCELLED] == 1
    assert run.counts[TaskState.RUNNING] == 1


async def test_a_running_run_shows_an_eta(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite") as daemon, DaemonClient(daemon.info) as client:
            run_id = (await client.create_run(echo_run(60, latency=0.1) | {"parallel": 2})).id
            async with terminal([*WATCH, run_id]) as screen:
                await screen.wait_for(r"done \d+/60\s+ETA (<1s|\d+s)")
                screen.press("q")
                assert await screen.drain_until_exit() == 0


def test_arrow_keys_enter_and_escape_are_read_from_what_the_terminal_sends() -> None:
    assert keys_in("\x1b[A\x1bOBq\r\n\x1b") == ["up", "down", "q", "enter", "enter", "escape"]
    assert keys_in("\x1b[C\x1b[15~c") == ["c"]  # → and F5 mean nothing here, and are skipped whole
