"""Hung agents under a timeout, through the real daemon: whatever way an agent tries to hang on or
slip away, its task times out and not one of its processes is left.

tests/engines/test_agent_tags.py checks the same escapes one process tree at a time, and
tests/e2e/test_no_orphan_agents.py when the daemon itself is SIGKILLed; here they run together,
as one run's tasks, the way a user meets them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.events import RunFinished
from parallelai.models import RunState, TaskState
from tests.reliability.tally import Tally
from tests.server._process import daemon_process
from tests.support.polling import until
from tests.support.processes import leftovers, processes_with_env

pytestmark = pytest.mark.anyio

TIMEOUT_S = 1.0
DEADLINE_S = 60.0
GONE_S = 15.0  # a TERM-ignoring tree gets its grace period, then SIGKILL
_DAEMONIZE = (
    f"{sys.executable} -c 'import os, time; os.fork() and os._exit(0); os.setsid(); "
    "os.fork() and os._exit(0); time.sleep(60)'"
)
# Each agent's way of hanging on past its deadline (each shell then waits 60 s itself).
ESCAPES = {
    "plain": "sleep 60",
    "ignores-term": "trap '' TERM; sleep 60",
    "double-fork": "(sleep 60 &); sleep 60",
    "setsid": "setsid sleep 60 & sleep 60",
    "setsid-double-fork": "(setsid sleep 60 &); sleep 60",
    "nohup": "nohup sleep 60 >/dev/null 2>&1 & sleep 60",
    "daemonize": f"{_DAEMONIZE}; sleep 60",
    "setsid-ignores-term": "setsid sh -c \"trap '' TERM; sleep 60\" & sleep 60",
    "closes-its-output": "exec >&- 2>&-; sleep 60",
    "busy-loop-ignoring-term": "trap '' TERM; while :; do :; done",
}


def _body() -> dict[str, Any]:
    return {
        "tasks": [
            {"id": name, "prompt": "hang", "options": {"engine_options": {"shell": escape}}}
            for name, escape in ESCAPES.items()
        ],
        "engine": "command",
        "parallel": len(ESCAPES),
        "timeout": TIMEOUT_S,
        "retries": 0,
        "use_cache": False,
    }


def _agents_of(pid: int) -> list[int]:
    return [process.pid for process in leftovers(processes_with_env(f"PARALLELAI_AGENT={pid}."))]


async def test_every_escape_variant_times_out_and_leaves_no_process(tmp_path: Path, tally: Tally) -> None:
    store = tmp_path / "db.sqlite"
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(store) as daemon, DaemonClient(daemon.info) as client:
            run_id = (await client.create_run(_body())).id
            async for event in client.events(run_id, after=0, reconnect=False):
                if isinstance(event, RunFinished):
                    break
            run = await client.run(run_id)
            tasks = await client.tasks(run_id)
            with contextlib.suppress(TimeoutError):  # counted and asserted below
                await until(lambda: not _agents_of(daemon.process.pid), GONE_S)
            left = _agents_of(daemon.process.pid)
    with sqlite3.connect(store) as db:
        kinds = dict(db.execute("SELECT task_id, error_kind FROM attempts"))
    tally.tasks_checked += len(tasks)
    tally.leaked += len(left)
    tally.lost += len(set(ESCAPES) - {task.id for task in tasks})

    assert left == []
    assert run.state is RunState.FAILED
    assert {task.id: task.state for task in tasks} == dict.fromkeys(ESCAPES, TaskState.FAILED)
    assert kinds == dict.fromkeys(ESCAPES, "timeout")
