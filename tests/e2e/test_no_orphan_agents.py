"""No agent outlives the process responsible for it, however it tries to escape and however that
process ends: a SIGKILLed daemon's agents are stopped (by its warden, or else by its successor
before anything runs again), and SIGTERM to a foreground run stops its agents and leaves the run
`interrupted`."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from parallelai.client.discovery import read_discovery
from parallelai.client.launcher import stop_daemon
from tests.support.polling import until
from tests.support.processes import ProcessInfo, leftovers, processes_with_env

pytestmark = pytest.mark.anyio

DEADLINE_S = 90.0
PARALLELAI = [sys.executable, "-m", "parallelai"]
_DAEMONIZE = (
    f"{sys.executable} -c 'import os, time; os.fork() and os._exit(0); os.setsid(); "
    "os.fork() and os._exit(0); time.sleep(30)'"
)
# Each agent's way of trying to outlive its attempt, and how many processes it leaves running.
VARIANTS = {
    "plain": ("sleep 30", 1),
    "ignores-term": ("trap '' TERM; sleep 30", 1),
    "double-fork": ("(sleep 30 &); sleep 30", 2),
    "setsid": ("setsid sleep 30 & sleep 30", 2),
    "setsid-double-fork": ("(setsid sleep 30 &); sleep 30", 2),
    "nohup": ("nohup sleep 30 >/dev/null 2>&1 & sleep 30", 2),
    "daemonize": (f"{_DAEMONIZE}; sleep 30", 2),
    "setsid-ignores-term": ("setsid sh -c \"trap '' TERM; sleep 30\" & sleep 30", 2),
}


def _tasks_file(directory: Path) -> Path:
    """The eight agents. Each holds a lock on its own file from its first process to its last (every
    descendant inherits the descriptor), so a second run of a task while any process of the first
    one lives fails with OVERLAP. Once `fast` exists they finish at once."""
    log, fast = directory / "log", directory / "fast"
    lines = ["name: escapes", "parallel: 8", "engine: command", "defaults: {retries: 0}", "tasks:"]
    for name, (escape, _) in VARIANTS.items():
        script = (
            f"exec 9>{directory / name}.lock; flock -n 9 || {{ echo OVERLAP $PARALLELAI_TASK_ID >> {log}; exit 1; }}; "
            f"echo start $PARALLELAI_TASK_ID >> {log}; [ -e {fast} ] && exit 0; {escape}"
        )
        lines.append(f"  - id: {name}")
        lines.append("    prompt: go")
        lines.append(f"    options: {{engine_options: {{shell: {_yaml_string(script)}}}}}")
    path = directory / "escapes.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _yaml_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _agents(owner_pid: int) -> list[ProcessInfo]:
    """The live agent processes of the parallelai process `owner_pid` (their tag starts with it)."""
    return leftovers(processes_with_env(f"PARALLELAI_AGENT={owner_pid}."))


async def _until(condition: Callable[[], bool]) -> None:
    await until(condition, DEADLINE_S)


def _expected_agents() -> int:
    return sum(count for _, count in VARIANTS.values())


def _started(directory: Path) -> int:
    log = directory / "log"
    return log.read_text().count("start ") if log.exists() else 0


def _warden_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-I" in argv and b"-S" in argv and str(pid).encode() in argv:
            found.append(int(entry.name))
    return found


async def _serve(directory: Path) -> int:
    done = await anyio.run_process(
        [*PARALLELAI, "serve", "--detach", "--port", "0"], cwd=directory, check=False
    )
    info = read_discovery()
    assert info is not None, done.stderr.decode()
    return info.pid


async def _kill_the_daemon_mid_run_and_restart(tmp_path: Path, *, kill_the_warden: bool) -> None:
    tasks = _tasks_file(tmp_path)
    first = await _serve(tmp_path)
    client = await anyio.open_process(
        [*PARALLELAI, "run", "--daemon", "--tasks-file", str(tasks)], cwd=tmp_path
    )
    try:
        await _until(lambda: _started(tmp_path) == len(VARIANTS))
        await _until(lambda: len(_agents(first)) >= _expected_agents())
        old = {process.pid for process in _agents(first)}
        if kill_the_warden:
            for warden in _warden_of(first):
                os.kill(warden, signal.SIGKILL)
        os.kill(first, signal.SIGKILL)
        if kill_the_warden:
            # Nobody is left to stop them now: it is the next daemon's job, before it runs anything.
            assert _agents(first), "the agents died without a warden: this test proves nothing"
        else:
            await _until(lambda: not _agents(first))  # the warden stopped them
        (tmp_path / "fast").touch()
        second = await _serve(tmp_path)
        with anyio.fail_after(DEADLINE_S):
            code = await client.wait()
    finally:
        if client.returncode is None:
            client.kill()
        await stop_daemon()

    assert code == 0, (tmp_path / "log").read_text()
    log = (tmp_path / "log").read_text()
    assert "OVERLAP" not in log, log
    assert log.count("start ") == 2 * len(VARIANTS)  # each task ran twice: once cut off, once to the end
    assert not _agents(first)
    assert not (old & {process.pid for process in leftovers(processes_with_env("PARALLELAI_AGENT="))})
    assert second != first


async def test_a_sigkilled_daemons_agents_are_stopped_by_its_warden_and_each_task_runs_once_at_a_time(
    tmp_path: Path,
) -> None:
    await _kill_the_daemon_mid_run_and_restart(tmp_path, kill_the_warden=False)


async def test_agents_whose_warden_died_too_are_stopped_by_the_next_daemon_before_it_reruns_them(
    tmp_path: Path,
) -> None:
    await _kill_the_daemon_mid_run_and_restart(tmp_path, kill_the_warden=True)


async def test_sigterm_to_a_foreground_run_stops_every_agent_and_leaves_the_run_interrupted(
    tmp_path: Path, isolated_state: Path
) -> None:
    tasks = _tasks_file(tmp_path)
    run: Process = await anyio.open_process([*PARALLELAI, "run", "--tasks-file", str(tasks)], cwd=tmp_path)
    try:
        await _until(lambda: _started(tmp_path) == len(VARIANTS))
        await _until(lambda: len(_agents(run.pid)) >= _expected_agents())
        run.send_signal(signal.SIGTERM)
        with anyio.fail_after(DEADLINE_S):
            code = await run.wait()
            assert run.stderr is not None
            stderr = b"".join([chunk async for chunk in run.stderr]).decode()
    finally:
        if run.returncode is None:
            run.kill()

    assert code == 143
    assert "stopped by SIGTERM" in stderr
    assert "parallelai resume r" in stderr
    assert _agents(run.pid) == []  # gone by the time it exited: not left to its warden
    with sqlite3.connect(isolated_state / "parallelai.db") as db:
        assert db.execute("SELECT state, owner FROM runs").fetchall() == [("interrupted", None)]
        attempts = db.execute("SELECT state, COUNT(*) FROM attempts GROUP BY state").fetchall()
        tasks_left = db.execute("SELECT state, COUNT(*) FROM tasks GROUP BY state").fetchall()
    assert attempts == [("interrupted", len(VARIANTS))]
    assert tasks_left == [("interrupted", len(VARIANTS))]
