"""Commands that start the daemon at the same time, on a state dir with none: one daemon, every run works."""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import read_discovery
from parallelai.models import RunState
from tests.support.processes import processes_with_env

pytestmark = pytest.mark.anyio
DEADLINE_S = 120.0
PARALLELAI = [sys.executable, "-m", "parallelai"]
DAEMON_MODULE = b"parallelai.server.daemon"


async def _at_once(commands: Sequence[Sequence[str]], cwd: Path) -> list[tuple[int, str]]:
    """Run `commands` concurrently; each one's exit code and output, in order."""
    results: list[tuple[int, str]] = [(-1, "")] * len(commands)

    async def one(index: int) -> None:
        done = await anyio.run_process(list(commands[index]), cwd=cwd, env=dict(os.environ), check=False)
        results[index] = (done.returncode, done.stdout.decode() + done.stderr.decode())

    async with anyio.create_task_group() as group:
        for index in range(len(commands)):
            group.start_soon(one, index)
    return results


def _daemon_pids(state: Path) -> list[int]:
    """The daemon processes (live, not zombies) started for this test's state dir."""
    pids = []
    for process in processes_with_env(str(state)):
        try:
            command = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if DAEMON_MODULE in command and process.state != "Z":
            pids.append(process.pid)
    return sorted(pids)


@contextmanager
def _no_stray_daemons(state: Path) -> Iterator[None]:
    """Kill any daemon the fixture would not stop: one that is not in the discovery file."""
    try:
        yield
    finally:
        info = read_discovery()
        for pid in _daemon_pids(state):
            if info is None or pid != info.pid:
                os.kill(pid, signal.SIGKILL)


async def test_five_runs_with_daemon_started_at_once_all_succeed_on_one_daemon(
    tmp_path: Path, isolated_state: Path
) -> None:
    assert read_discovery() is None
    commands = [[*PARALLELAI, "run", "--daemon", f"c{index}", f"d{index}"] for index in range(5)]
    with _no_stray_daemons(isolated_state), anyio.fail_after(DEADLINE_S):
        results = await _at_once(commands, tmp_path)
        info = read_discovery()
        assert info is not None, results
        daemons = _daemon_pids(isolated_state)
        async with DaemonClient(info) as client:
            runs = await client.list_runs()
    assert [code for code, _ in results] == [0] * 5, results
    assert daemons == [info.pid]
    assert len(runs) == 5
    assert {run.state for run in runs} == {RunState.SUCCEEDED}


async def test_two_serve_detach_started_at_once_report_the_same_daemon(
    tmp_path: Path, isolated_state: Path
) -> None:
    command = [*PARALLELAI, "serve", "--port", "0", "--detach"]
    with _no_stray_daemons(isolated_state), anyio.fail_after(DEADLINE_S):
        results = await _at_once([command, command], tmp_path)
        info = read_discovery()
        daemons = _daemon_pids(isolated_state)
    assert [code for code, _ in results] == [0, 0], results
    pids = [re.findall(r"\(pid (\d+)\)", output) for _, output in results]
    assert info is not None
    assert pids == [[str(info.pid)], [str(info.pid)]]
    assert daemons == [info.pid]


async def test_a_dashboard_a_serve_detach_and_a_run_started_at_once_share_one_daemon(
    tmp_path: Path, isolated_state: Path
) -> None:
    commands = [
        [*PARALLELAI, "dashboard", "--no-open"],
        [*PARALLELAI, "serve", "--port", "0", "--detach"],
        [*PARALLELAI, "run", "--daemon", "a", "b"],
    ]
    with _no_stray_daemons(isolated_state), anyio.fail_after(DEADLINE_S):
        results = await _at_once(commands, tmp_path)
        info = read_discovery()
        daemons = _daemon_pids(isolated_state)
    assert [code for code, _ in results] == [0, 0, 0], results
    assert info is not None
    assert results[0][1].startswith(f"{info.url}/login?code=")
    assert f"(pid {info.pid})" in results[1][1]
    assert daemons == [info.pid]
