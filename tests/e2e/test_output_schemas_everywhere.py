"""A tasks file's `output_schema` is enforced the same way whichever surface runs it.

The same two tasks go through `parallelai run`, `parallelai run --daemon`, the HTTP API, the MCP
`start_run` tool and `ParallelOrchestrator`: one answers JSON that fits its schema (it succeeds,
with the parsed value as structured output), the other answers JSON that does not (it is asked
once more, then fails saying why). Before, only the daemon and MCP enforced schemas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from parallelai.api import ParallelOrchestrator
from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import read_discovery
from parallelai.events import RunFinished
from parallelai.models import TaskRecord
from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp.server import build_mcp_server
from tests.mcp._support import call_ok

pytestmark = pytest.mark.e2e
DEADLINE_S = 60.0
SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
TASKS_FILE = {
    "tasks": [
        {
            "id": "fits",
            "prompt": "count",
            "options": {"output_schema": SCHEMA, "engine_options": {"reply": '{"n": 1}'}},
        },
        {
            "id": "misfits",
            "prompt": "count",
            "options": {"output_schema": SCHEMA, "engine_options": {"reply": '{"n": "one"}'}},
        },
    ]
}
# (state, structured output, the start of the error) per task
EXPECTED = {
    "fits": ("succeeded", {"n": 1}, None),
    "misfits": ("failed", None, "the answer does not match the output schema, even when asked again"),
}

Outcome = dict[str, tuple[str, Any, str | None]]


def _outcome_of_records(records: list[TaskRecord]) -> Outcome:
    return {
        record.task.id: (
            record.state.value,
            record.result.structured if record.result and record.state.value == "succeeded" else None,
            _error_start(record.result.error.message if record.result and record.result.error else None),
        )
        for record in records
    }


def _error_start(message: str | None) -> str | None:
    return message.split(":")[0] if message else None


@pytest.fixture
def tasks_file(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.yaml"
    path.write_text(json.dumps(TASKS_FILE, indent=2))  # JSON is YAML; safe_dump would alias the schema
    return path


def _cli(*args: str, cwd: Path) -> Outcome:
    done = subprocess.run(
        [sys.executable, "-m", "parallelai", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=os.environ.copy(),
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # a task failed: exit 1
    body = json.loads(done.stdout)
    return {
        task["id"]: (
            task["state"],
            task["result"]["structured"] if task["state"] == "succeeded" else None,
            _error_start((task["result"] or {}).get("error", {}) and task["result"]["error"]["message"]),
        )
        for task in body["tasks"]
    }


def test_parallelai_run_enforces_the_schema(tasks_file: Path) -> None:
    assert _cli("run", "--tasks-file", str(tasks_file), cwd=tasks_file.parent) == EXPECTED


def test_parallelai_run_in_the_daemon_enforces_the_schema(tasks_file: Path) -> None:
    assert _cli("run", "--daemon", "--tasks-file", str(tasks_file), cwd=tasks_file.parent) == EXPECTED


@pytest.mark.anyio
async def test_the_http_api_enforces_the_schema(tasks_file: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with await DaemonClient.connect(start=True) as client:
            run_id = (
                await client.create_run(
                    {"work": {"strategy": "parallel", **TASKS_FILE}, "workdir": str(tasks_file.parent)}
                )
            ).id
            async with aclosing(client.events(run_id)) as events:
                async for event in events:
                    if isinstance(event, RunFinished):
                        break
            records: list[TaskRecord] = [
                await client.task(run_id, task.id) for task in await client.tasks(run_id)
            ]
    assert read_discovery() is not None
    assert _outcome_of_records(records) == EXPECTED


@pytest.mark.anyio
async def test_the_mcp_start_run_tool_enforces_the_schema(tasks_file: Path, tmp_path: Path) -> None:
    with anyio.fail_after(DEADLINE_S):
        async with (
            OrchestrationService.open(tmp_path / "store.sqlite") as service,
            Client(build_mcp_server(service)) as client,
        ):
            result = await call_ok(client, "start_run", {"tasks_file": str(tasks_file), "wait": True})
            records = await service.tasks(result["run_id"])
    assert _outcome_of_records(records) == EXPECTED


def test_parallel_orchestrator_enforces_the_schema(tmp_path: Path) -> None:
    orchestrator = ParallelOrchestrator(store_path=tmp_path / "store.sqlite", workdir=tmp_path)
    results = orchestrator.execute(TASKS_FILE["tasks"])
    assert _outcome_of_records(results.records) == EXPECTED
