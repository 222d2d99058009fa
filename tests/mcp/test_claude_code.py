"""The real Claude Code CLI gets every sub-agent's answer back from one `start_run` call.

`claude -p` starts `parallelai mcp` from an `--mcp-config` file, as a user configures it, with no
daemon running and no extra connect timeout, while two processes keep both CPUs busy. The scripted
model asks for `start_run` with `wait: true`; the result Claude Code sends back to the model must
hold each task's answer. Ten times in a row: a server that is only sometimes ready in time fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parallelai.client.discovery import read_discovery
from tests.mcp._claude import busy_machine, claude_env, run_claude, tool_result_sent_to_the_model
from tests.support.model_server import Reply, ScriptedModelServer, ToolCall

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.usefixtures("busy_machine")]
__all__ = ["busy_machine"]  # the fixture, imported for pytest to find

REPETITIONS = 10
TASKS = ["review a.py", "review b.py", "review c.py"]


def mcp_config(path: Path) -> Path:
    """What docs/mcp.md tells a Claude Code user to write, naming the simulated engine for the session."""
    path.write_text(
        json.dumps(
            {"mcpServers": {"parallelai": {"command": "parallelai", "args": ["mcp", "--engine", "echo"]}}}
        )
    )
    return path


@pytest.mark.parametrize("repetition", range(REPETITIONS))
async def test_claude_code_gets_every_answer_from_one_start_run_call(
    repetition: int, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    assert read_discovery() is None  # no daemon: `parallelai mcp` must start one
    arguments = {
        "tasks": TASKS,
        "wait": True,
        "name": f"from claude #{repetition}",
        "engine_options": {"reply": "answer to <{prompt}>"},
    }
    model_server.script(
        ToolCall("mcp__parallelai__start_run", arguments, call_id="toolu_1"), Reply("the run is done")
    )
    claude = await run_claude(
        "review the files in parallel",
        claude_env(tmp_path, model_server),
        tmp_path,
        "--mcp-config",
        str(mcp_config(tmp_path / "mcp.json")),
        "--strict-mcp-config",
        "--allowedTools",
        "mcp__parallelai__start_run",
    )
    assert claude.returncode == 0, claude.explain()
    assert claude.mcp_servers_at_init() == [{"name": "parallelai", "status": "connected"}], claude.explain()
    tool_result = tool_result_sent_to_the_model(model_server)
    for prompt in TASKS:
        assert f"answer to <{prompt}>" in tool_result, tool_result
    assert "succeeded" in tool_result
    assert "the run is done" in claude.stdout
