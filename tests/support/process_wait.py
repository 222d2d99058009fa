"""Waiting, under a deadline, for the processes of a killed agent to be gone."""

from __future__ import annotations

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
