"""A real `parallelai mcp` process over stdio, driven by the SDK's stdio client and the MCP Inspector."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import Client

from parallelai.client.daemon_client import DaemonClient
from parallelai.client.discovery import read_discovery
from parallelai.models import RunState
from parallelai.orchestration.service import OrchestrationService
from parallelai.paths import STATE_DIR_ENV
from tests.mcp._stdio import mcp_command, stdio_server
from tests.mcp._support import call_ok

REPO = Path(__file__).resolve().parents[2]
INSPECTOR_CLI = REPO / ".tools/npm/node_modules/@modelcontextprotocol/inspector/cli/build/cli.js"
PROCESS_DEADLINE_S = 60.0


START_RUN = {"tasks": [{"prompt": "review it", "files": ["a.py"]}, "and this"], "wait": True}


@pytest.mark.anyio
async def test_a_stdio_session_runs_start_run_to_completion_in_the_daemon_it_started(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.py").write_text("print('a')\n")
    assert read_discovery() is None
    with anyio.fail_after(PROCESS_DEADLINE_S):
        async with Client(stdio_server(tmp_path)) as client:
            status = await call_ok(client, "start_run", START_RUN)
            page = await call_ok(client, "get_results", {"run_id": status["run_id"]})
        # The run lives in the daemon, which outlives the assistant's session.
        info = read_discovery()
        assert info is not None
        async with DaemonClient(info) as daemon:
            run = await daemon.run(status["run_id"])
    assert status["state"] == "succeeded"
    assert [task["state"] for task in page["tasks"]] == ["succeeded", "succeeded"]
    assert run.state is RunState.SUCCEEDED


@pytest.mark.anyio
async def test_an_embedded_stdio_session_keeps_its_run_in_the_store(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("print('a')\n")
    server = stdio_server(tmp_path)
    server = server.model_copy(update={"args": [*server.args, "--embedded"]})
    with anyio.fail_after(PROCESS_DEADLINE_S):
        async with Client(server) as client:
            status = await call_ok(client, "start_run", START_RUN)
    assert status["state"] == "succeeded"
    assert read_discovery() is None  # no daemon was started
    # The run is durable: the store the server wrote to has it after the process is gone.
    async with OrchestrationService.open() as service:
        summary = await service.summary(status["run_id"])
    assert summary.state is RunState.SUCCEEDED


def _inspector(config: Path, *method: str) -> dict[str, object]:
    node = shutil.which("node")
    if node is None or not INSPECTOR_CLI.exists():
        pytest.skip("the MCP Inspector is not installed; run scripts/install-clis.sh")
    completed = subprocess.run(
        [node, str(INSPECTOR_CLI), "--cli", "--config", str(config), "--server", "parallelai", *method],
        capture_output=True,
        text=True,
        timeout=PROCESS_DEADLINE_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    body: dict[str, object] = json.loads(completed.stdout)
    return body


@pytest.mark.e2e
def test_the_mcp_inspector_lists_the_tools_and_calls_list_templates(tmp_path: Path) -> None:
    command, *args = mcp_command()
    config = tmp_path / "mcp.json"
    server = {"command": command, "args": args, "env": {STATE_DIR_ENV: os.environ[STATE_DIR_ENV]}}
    config.write_text(json.dumps({"mcpServers": {"parallelai": server}}))

    listed = _inspector(config, "--method", "tools/list")
    tools = listed["tools"]
    assert isinstance(tools, list)
    assert {"start_run", "list_templates", "get_results"} <= {tool["name"] for tool in tools}

    called = _inspector(config, "--method", "tools/call", "--tool-name", "list_templates")
    assert called["isError"] is False
    structured = called["structuredContent"]
    assert isinstance(structured, dict)
    assert "code_review" in {template["name"] for template in structured["templates"]}
