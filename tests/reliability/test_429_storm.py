"""A 429 storm: the provider refuses a burst of requests with a retry-after while a run of many
tasks is under way. The account's gate pauses everyone, each refused task is retried, and the run
ends with every task succeeded once."""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from pathlib import Path

import anyio
import pytest

from parallelai.models import RunSpec, RunState, Task, TaskOptions, TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.ratelimits import gate_states
from tests.reliability.tally import Tally
from tests.support.model_server import Failure, ScriptedModelServer
from tests.support.polling import until

pytestmark = pytest.mark.anyio

KEY = "sk-test-storm-0123456789abcdef"
TASKS = 60
STORM = 24  # 429s in a row, three waves of the run's eight requests at once
DEADLINE_S = 60.0


def _spec(url: str) -> RunSpec:
    return RunSpec(
        default_engine="openai:gpt-4.1",
        # Limits known up front and far above what this sends: the pauses are the 429s' alone.
        engine_settings={
            "openai": {
                "base_url": f"{url}/v1",
                "api_key": KEY,
                "rate_limits": {"requests_per_minute": 60_000},
            }
        },
        tasks=[
            Task(id=f"t{i:02d}", prompt=f"storm task {i}", options=TaskOptions(retries=10))
            for i in range(TASKS)
        ],
        use_cache=False,
    )


async def test_a_burst_of_429s_pauses_the_gate_and_every_task_still_succeeds_once(
    model_server: ScriptedModelServer, tmp_path: Path, tally: Tally
) -> None:
    model_server.script(*[Failure(429, "slow down", headers={"retry-after-ms": "300"})] * STORM)
    store = tmp_path / "store.db"
    paused = False
    with anyio.fail_after(DEADLINE_S):
        async with OrchestrationService.open(store) as service:
            run_id = await service.submit(_spec(model_server.url))
            with contextlib.suppress(TimeoutError):
                paused = await until(lambda: any(g.paused_until for g in gate_states()), DEADLINE_S / 2)
            summary = await service.wait(run_id)
            records = [await service.task(run_id, f"t{i:02d}") for i in range(TASKS)]
    [gate] = gate_states()
    with sqlite3.connect(store) as db:
        won = Counter(row[0] for row in db.execute("SELECT task_id FROM attempts WHERE state = 'succeeded'"))
        refused = db.execute("SELECT COUNT(*) FROM attempts WHERE error_kind = 'rate_limited'").fetchone()[0]
    lost = [record.task.id for record in records if record.state is not TaskState.SUCCEEDED]
    tally.tasks_checked += len(records)
    tally.lost += len(lost)

    assert paused, "the gate never paused"
    assert not lost
    assert summary.state is RunState.SUCCEEDED
    assert won == Counter(f"t{i:02d}" for i in range(TASKS))  # each result once
    assert refused == gate.refused == STORM  # every 429 was seen, and retried
    assert len(model_server.requests) == TASKS + STORM
