"""The real Claude Code CLI, driven by the scripted model, calls start_run through the plugin's server.

Claude Code starts the MCP server from an `--mcp-config` file, the scripted model asks for
`mcp__parallelai__start_run`, the server relays it to the daemon (`parallelai mcp`), and
the daemon runs the sub-agents. The test checks the run in the daemon's store and the tool result
Claude Code sent back to the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from parallelai.models import RunState
from parallelai.paths import STATE_DIR_ENV
from parallelai.server.discovery import new_info, remove_discovery, write_discovery
from tests.mcp._daemon import daemon_with_mcp
from tests.mcp._stdio import mcp_command
from tests.support.model_server import Reply, ScriptedModelServer, ToolCall

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

API_KEY = "sk-ant-test-0123456789abcdef"
DEADLINE_S = 120.0


def mcp_config(path: Path) -> Path:
    """The plugin's server entry, with the interpreter under test and the test's state dir."""
    plugin = json.loads((Path(__file__).resolve().parents[2] / "claude-plugin" / ".mcp.json").read_text())
    assert plugin["mcpServers"]["parallelai"]["args"] == ["mcp"]
    command, *args = mcp_command()
    server = {
        "command": command,
        "args": args,
        "env": {STATE_DIR_ENV: os.environ[STATE_DIR_ENV]},
    }
    path.write_text(json.dumps({"mcpServers": {"parallelai": server}}))
    return path


async def test_claude_code_calls_start_run_and_the_daemon_runs_the_sub_agents(
    model_server: ScriptedModelServer, cli_bin: Callable[[str], Path], tmp_path: Path
) -> None:
    arguments = {"tasks": ["review a.py", "review b.py"], "wait": True, "name": "from claude"}
    model_server.script(
        ToolCall("mcp__parallelai__start_run", arguments, call_id="toolu_1"), Reply("the run is done")
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-config"),
        "ANTHROPIC_API_KEY": API_KEY,
        "ANTHROPIC_BASE_URL": model_server.url,
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        # `claude -p` waits this long for MCP servers before it asks the model (5 s by default),
        # then goes on without the ones still starting; a loaded machine can take longer.
        "MCP_CONNECT_TIMEOUT_MS": "60000",
        STATE_DIR_ENV: os.environ[STATE_DIR_ENV],
    }
    command = [
        str(cli_bin("claude")),
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--mcp-config",
        str(mcp_config(tmp_path / "mcp.json")),
        "--strict-mcp-config",
        "--allowedTools",
        "mcp__parallelai__start_run",
    ]
    with anyio.fail_after(DEADLINE_S):
        async with daemon_with_mcp(tmp_path / "daemon.sqlite") as daemon:
            info = new_info(daemon.url, daemon.token, tmp_path / "daemon.sqlite")
            write_discovery(info)
            try:
                completed = await anyio.run_process(
                    command, input=b"review the files in parallel", env=env, cwd=tmp_path, check=False
                )
                runs = await daemon.service.list_runs()
            finally:
                remove_discovery(info.pid)
    output = completed.stdout.decode()
    assert completed.returncode == 0, output + completed.stderr.decode()
    assert _mcp_servers_at_init(output) == [{"name": "parallelai", "status": "connected"}], output
    (run,) = runs
    assert (run.name, run.state, run.total) == ("from claude", RunState.SUCCEEDED, 2)
    # The second model request carries the tool result Claude Code got from the server.
    tool_result = json.dumps(model_server.requests[1].json)
    assert "tool_result" in tool_result
    assert run.id in tool_result
    assert "succeeded" in tool_result
    assert "the run is done" in output


def _mcp_servers_at_init(stream_json: str) -> object:
    """The MCP servers and their status as Claude Code's `system/init` line reports them."""
    for line in stream_json.splitlines():
        event = json.loads(line)
        if event.get("type") == "system" and event.get("subtype") == "init":
            return event.get("mcp_servers")
    return None
