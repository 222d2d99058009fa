"""Many processes, one store, as users run them: two foreground CLI runs, a daemon run and a Python
script at once, plus a `resume` and a `cancel` from a fifth process. Nothing crashes, nothing runs
twice, every event has its own number and the store stays sound."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import read_discovery
from parallelai.client.launcher import stop_daemon
from parallelai.events import Event, RunFinished
from parallelai.models import RunState
from tests.support.polling import until

pytestmark = pytest.mark.anyio

TASKS = 500
DEADLINE_S = 240.0
PARALLELAI = [sys.executable, "-m", "parallelai"]
SCRIPT = f"""
import sys
from parallelai import ParallelOrchestrator

orchestrator = ParallelOrchestrator(engine="echo", max_parallel=25, engine_settings={{"echo": {{"latency": 0.01}}}})
results = orchestrator.execute([f"script task {{i}}" for i in range({TASKS})])
print(results.run_id, flush=True)
sys.exit(0 if results.ok else 1)
"""


def _tasks_file(directory: Path, name: str, latency: float, parallel: int) -> Path:
    path = directory / f"{name}.yaml"
    lines = [f"name: {name}", f"parallel: {parallel}", f"engines: {{echo: {{latency: {latency}}}}}", "tasks:"]
    lines += [f"  - {{id: t{i:03d}, prompt: '{name} task {i}'}}" for i in range(TASKS)]
    path.write_text("\n".join(lines) + "\n")
    return path


class _Store:
    """Reads the store file from outside, as another program would."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path, timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def run_id(self, name: str) -> str | None:
        rows = self.query("SELECT id FROM runs WHERE name = ? AND state = 'running'", name)
        return str(rows[0][0]) if rows else None


async def _until_running(store: _Store, name: str) -> str:
    return await until(lambda: store.run_id(name), DEADLINE_S)


async def test_four_processes_with_500_tasks_each_and_a_resume_and_a_cancel_share_one_store(
    tmp_path: Path, isolated_state: Path
) -> None:
    env = dict(os.environ)
    store = _Store(isolated_state / "parallelai.db")
    files = {
        "local-a": _tasks_file(tmp_path, "local-a", 0.05, 10),  # the one the fifth process resumes
        "local-b": _tasks_file(tmp_path, "local-b", 0.2, 5),  # slow: the one the fifth process cancels
        "daemon-c": _tasks_file(tmp_path, "daemon-c", 0.01, 25),
    }
    (tmp_path / "script.py").write_text(SCRIPT)
    results: dict[str, tuple[int, str]] = {}

    async def run(key: str, argv: list[str]) -> None:
        done = await anyio.run_process(argv, cwd=tmp_path, env=env, check=False)
        results[key] = (done.returncode, done.stdout.decode() + done.stderr.decode())

    try:
        with anyio.fail_after(DEADLINE_S):
            await run("serve", [*PARALLELAI, "serve", "--detach", "--port", "0"])
            daemon = read_discovery()
            assert daemon is not None, results["serve"]
            async with anyio.create_task_group() as group:
                group.start_soon(run, "local-a", [*PARALLELAI, "run", "--tasks-file", str(files["local-a"])])
                group.start_soon(run, "local-b", [*PARALLELAI, "run", "--tasks-file", str(files["local-b"])])
                group.start_soon(
                    run, "daemon-c", [*PARALLELAI, "run", "--daemon", "--tasks-file", str(files["daemon-c"])]
                )
                group.start_soon(run, "script", [sys.executable, str(tmp_path / "script.py")])
                a_id = await _until_running(store, "local-a")
                b_id = await _until_running(store, "local-b")
                group.start_soon(run, "resume", [*PARALLELAI, "resume", a_id])
                group.start_soon(run, "cancel", [*PARALLELAI, "cancel", b_id])
            still_up = read_discovery()
    finally:
        await stop_daemon()

    codes = {key: code for key, (code, _) in results.items()}
    assert codes == {
        "serve": 0,
        "local-a": 0,
        "local-b": 1,  # cancelled
        "daemon-c": 0,
        "script": 0,
        "resume": 0,  # it followed local-a, executed by its own process, to its end
        "cancel": 0,
    }, results
    assert still_up is not None, "the daemon died"
    assert still_up.pid == daemon.pid, "the daemon died"
    assert f"{b_id}: cancelled" in results["cancel"][1]
    assert "is being executed by" in results["resume"][1]

    runs = dict(store.query("SELECT name, state FROM runs"))
    script_run = results["script"][1].split()[0]
    assert runs == {
        "local-a": "succeeded",
        "local-b": "cancelled",
        "daemon-c": "succeeded",
        None: "succeeded",
    }
    assert store.query("SELECT state FROM runs WHERE id = ?", script_run) == [("succeeded",)]
    # Every task was executed at most once, and every task of a finished run exactly once.
    assert store.query("SELECT MAX(number) FROM attempts") == [(1,)]
    per_run = dict(
        store.query(
            "SELECT r.name, COUNT(*) FROM tasks t JOIN runs r ON r.id = t.run_id "
            "WHERE t.state = 'succeeded' GROUP BY r.name"
        )
    )
    assert per_run["local-a"] == per_run["daemon-c"] == per_run[None] == TASKS
    assert 0 < per_run.get("local-b", 0) < TASKS
    assert store.query(
        "SELECT COUNT(*) FROM tasks t LEFT JOIN results r ON r.run_id = t.run_id AND r.task_id = t.id "
        "WHERE t.state = 'succeeded' AND r.ok IS NOT 1"
    ) == [(0,)]
    finished_twice = store.query(
        "SELECT run_id, json_extract(body, '$.task_id') AS task, COUNT(*) FROM events "
        "WHERE type = 'task.state' AND json_extract(body, '$.state') = 'succeeded' "
        "GROUP BY run_id, task HAVING COUNT(*) > 1"
    )
    assert finished_twice == []
    # Sequence numbers: unique (the primary key) and gap-free from 1, across all five processes.
    (count, low, high), *_ = store.query("SELECT COUNT(*), MIN(seq), MAX(seq) FROM events")
    assert (low, high) == (1, count)
    assert store.query("PRAGMA integrity_check") == [("ok",)]
    assert store.query("SELECT COUNT(*) FROM attempts WHERE state = 'running'") == [(0,)]


async def test_three_runs_started_at_once_on_a_new_store_all_succeed(
    tmp_path: Path, isolated_state: Path
) -> None:
    assert not (isolated_state / "parallelai.db").exists()
    codes: list[int] = []

    async def run(index: int) -> None:
        argv = [*PARALLELAI, "run", f"first {index}", f"second {index}", "-E", "latency=0.05"]
        done = await anyio.run_process(argv, cwd=tmp_path, check=False)
        codes.append(done.returncode)

    with anyio.fail_after(DEADLINE_S):
        async with anyio.create_task_group() as group:
            for index in range(3):
                group.start_soon(run, index)

    store = _Store(isolated_state / "parallelai.db")
    assert codes == [0, 0, 0]
    assert store.query("SELECT state, COUNT(*) FROM runs GROUP BY state") == [("succeeded", 3)]
    assert store.query("SELECT COUNT(*) FROM runs WHERE owner IS NOT NULL") == [(0,)]


async def test_the_daemon_streams_a_run_a_foreground_cli_executes_live(tmp_path: Path) -> None:
    seen: list[Event] = []
    cli_done = False
    seen_while_the_cli_ran: list[str] = []
    try:
        with anyio.fail_after(DEADLINE_S):
            serve = await anyio.run_process([*PARALLELAI, "serve", "--detach", "--port", "0"], cwd=tmp_path)
            daemon = read_discovery()
            assert daemon is not None, serve.stderr.decode()
            async with DaemonClient(daemon) as client:
                after = (await client.health()).last_seq

                async def follow() -> None:
                    async for event in client.events(after=after):
                        seen.append(event)
                        if not cli_done:
                            seen_while_the_cli_ran.append(event.type)
                        if isinstance(event, RunFinished):
                            return

                async with anyio.create_task_group() as group:
                    group.start_soon(follow)
                    cli = await anyio.run_process(
                        [*PARALLELAI, "run", "a", "b", "c", "-p", "1", "-E", "latency=0.5"], cwd=tmp_path
                    )
                    cli_done = True
                run = (await client.list_runs(limit=1))[0]
    finally:
        await stop_daemon()

    assert cli.returncode == 0
    # Live: the daemon's stream showed the run while its own process was still executing it.
    assert "task.state" in seen_while_the_cli_ran
    assert next(event.type for event in seen) == "run.created"
    assert {event.run_id for event in seen} == {run.id}
    assert isinstance(seen[-1], RunFinished)
    assert seen[-1].state is RunState.SUCCEEDED
    assert run.state is RunState.SUCCEEDED
    assert run.executed_by is None  # the CLI has finished and let go of it
