"""`parallelai watch` on a real pseudo-terminal against a real daemon: it follows a run live,
shows active tasks, cancels the run on `c` and quits on `q`."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from parallelai.server.client import DaemonClient
from tests.cli._terminal import terminal
from tests.server._process import daemon_process
from tests.server._support import echo_run

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
            body = echo_run(TASKS, latency=0.1) | {"name": "watched", "limits": {"max_parallel": 4}}
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
            body = echo_run(3) | {"engine_settings": {"echo": {"hang": True}}}
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


async def test_watching_an_unknown_run_is_an_error(tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(tmp_path / "db.sqlite"), terminal([*WATCH, "r-nope"]) as screen:
            await screen.wait_for("r-nope")
            assert await screen.drain_until_exit() == 2  # bad input, as everywhere in the CLI
