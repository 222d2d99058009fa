"""Chaos: the daemon SIGKILLed at random points of a run of side-effecting `command` tasks, and
started again each time, as a user would. Nothing is lost, each result is stored once, and no
agent outlives its daemon.

"Once" is about results: each task has exactly one succeeded attempt, one result row and one
`succeeded` event in the store. Side effects are the agent's own business: an attempt in flight
when its daemon dies is stopped (by the daemon's warden) and run again after the restart, so its
effect may happen again. Each task's effect therefore happened at least once and at most once
more per kill; never zero times, never more.
"""

from __future__ import annotations

import contextlib
import random
import signal
import sqlite3
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.client.daemon_client import DaemonClient
from parallelai.events import RunFinished, TaskStateChanged
from parallelai.models import RunState, TaskState
from tests.reliability.tally import Tally
from tests.server._process import daemon_process
from tests.support.polling import until
from tests.support.processes import leftovers, processes_with_env

pytestmark = pytest.mark.anyio

SEED = 20261205  # fixed: the same kill points on every run, so a failure can be replayed
TASKS = 40
KILLS = 4
PARALLEL = 4
DEADLINE_S = 120.0
ORPHANS_GONE_S = 10.0  # a killed daemon's warden stops its agents within seconds


def _body(effects: Path) -> dict[str, Any]:
    """Each task marks its start and, a moment later, its effect, in one shared file."""
    shell = (
        f'echo "start $PARALLELAI_TASK_ID" >> {effects}; sleep 0.2; '
        f'echo "done $PARALLELAI_TASK_ID" >> {effects}; echo "result of $PARALLELAI_TASK_ID"'
    )
    return {
        "tasks": [{"id": f"t{index:02d}", "prompt": "append"} for index in range(TASKS)],
        "engine": "command",
        "engines": {"command": {"shell": shell}},
        "parallel": PARALLEL,
        "use_cache": False,  # a re-run must run, not be answered from an earlier result
    }


def _lines(effects: Path, kind: str) -> Counter[str]:
    text = effects.read_text() if effects.exists() else ""
    return Counter(line.split()[1] for line in text.splitlines() if line.startswith(kind + " "))


def _started_at_least(effects: Path, count: int) -> bool:
    return sum(_lines(effects, "start").values()) >= count


def _agents_of(pids: list[int]) -> list[int]:
    return [p.pid for pid in pids for p in leftovers(processes_with_env(f"PARALLELAI_AGENT={pid}."))]


async def test_random_sigkills_lose_no_task_store_each_result_once_and_leave_no_agent(
    tmp_path: Path, tally: Tally
) -> None:
    store, effects = tmp_path / "db.sqlite", tmp_path / "effects.log"
    rng = random.Random(SEED)
    # Kill once this many tasks have started in all: agents are always in flight at that moment.
    kill_at = sorted(rng.sample(range(PARALLEL, TASKS - PARALLEL), KILLS))
    daemons: list[int] = []
    with anyio.fail_after(DEADLINE_S):
        async with daemon_process(store) as first, DaemonClient(first.info) as client:
            daemons.append(first.process.pid)
            run_id = (await client.create_run(_body(effects))).id
            await until(partial(_started_at_least, effects, kill_at[0]), DEADLINE_S)
            first.process.send_signal(signal.SIGKILL)
            await first.process.wait()
        for threshold in kill_at[1:]:
            async with daemon_process(store) as daemon:
                daemons.append(daemon.process.pid)
                await until(partial(_started_at_least, effects, threshold), DEADLINE_S)
                daemon.process.send_signal(signal.SIGKILL)
                await daemon.process.wait()
        async with daemon_process(store) as last, DaemonClient(last.info) as client:
            daemons.append(last.process.pid)
            events = []
            async for event in client.events(run_id, after=0, reconnect=False):
                events.append(event)
                if isinstance(event, RunFinished):
                    break
            run = await client.run(run_id)
            tasks = await client.tasks(run_id)
            with contextlib.suppress(TimeoutError):  # counted and asserted below
                await until(lambda: not _agents_of(daemons), ORPHANS_GONE_S)

    with sqlite3.connect(store) as db:
        won = Counter(row[0] for row in db.execute("SELECT task_id FROM attempts WHERE state = 'succeeded'"))
        results = Counter(row[0] for row in db.execute("SELECT task_id FROM results WHERE ok = 1"))
    announced = Counter(
        e.task_id for e in events if isinstance(e, TaskStateChanged) and e.state is TaskState.SUCCEEDED
    )
    expected = {f"t{index:02d}" for index in range(TASKS)}
    done = _lines(effects, "done")
    lost = expected - {task.id for task in tasks if task.state is TaskState.SUCCEEDED}
    tally.kills_survived += KILLS
    tally.tasks_checked += len(tasks)
    tally.lost += len(lost)
    orphans = _agents_of(daemons)
    tally.leaked += len(orphans)

    assert orphans == []
    assert not lost, sorted(lost)
    assert run.state is RunState.SUCCEEDED
    assert sorted(task.id for task in tasks) == sorted(expected)
    for counted in (won, results, announced):
        assert counted == Counter(expected), counted  # each result exactly once
    assert all(1 <= done[task] <= 1 + KILLS for task in expected), done
    assert sum(_lines(effects, "start").values()) > TASKS  # kills cut attempts off: something was proved
    assert len(set(daemons)) == KILLS + 1
