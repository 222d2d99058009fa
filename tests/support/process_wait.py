"""Stopping an agent once its process tree is up, and waiting, under a deadline, for the tree to be gone."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from tests.support.processes import ProcessInfo, leftovers, processes_in_sessions, processes_with_env


async def wait_until_gone(sessions: set[int], marker: str, within_s: float = 10.0) -> list[ProcessInfo]:
    """What is left of `sessions` and of processes carrying `marker` once they are all gone or `within_s` passed.

    A member of a killed group can still be exiting when the engine returns (its own children are
    zombies until the kernel reparents them), so the test waits for the condition, not a duration.
    """
    with anyio.move_on_after(within_s):
        while True:
            remaining = leftovers(processes_in_sessions(sessions)) + processes_with_env(marker)
            if not remaining:
                return []
            await anyio.sleep(0.05)
    return leftovers(processes_in_sessions(sessions)) + processes_with_env(marker)


async def stop_once_the_tree_is_up(
    run: Callable[[], Awaitable[object]], started: Path, marker: str, how: str = "cancel"
) -> set[int]:
    """Run `run` (an agent whose shell writes to the fifo `started` once it is up, then waits)
    and stop it then: `how` is "timeout" (its deadline passes) or "cancel". Returns the sessions
    of the processes carrying `marker` that were seen, after checking the run was stopped."""
    sessions: set[int] = set()

    async def watch(scope: anyio.CancelScope) -> None:
        await anyio.to_thread.run_sync(started.read_text, abandon_on_cancel=True)
        sessions.update(process.sid for process in processes_with_env(marker))
        if how == "timeout":
            scope.deadline = anyio.current_time()  # the deadline passes now, with the tree up
        else:
            scope.cancel()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            with anyio.move_on_after(3600) as scope:
                group.start_soon(watch, scope)
                await run()
    assert scope.cancelled_caught
    assert sessions, "no process of the run was seen"
    return sessions


def fifo(path: Path) -> Path:
    """A named pipe at `path`: a tool's shell writes to it, so nobody polls to see it started."""
    os.mkfifo(path)
    return path
