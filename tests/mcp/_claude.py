"""Driving the real Claude Code CLI (`claude -p`) against the scripted model server, as users run it.

No `MCP_CONNECT_TIMEOUT_MS` and no daemon started beforehand: `claude -p` gives an MCP server the
time it gives it on a user's machine, and `parallelai mcp` starts the daemon itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.paths import STATE_DIR_ENV
from tests.support.fixtures import find_cli
from tests.support.model_server import ScriptedModelServer

API_KEY = "sk-ant-test-0123456789abcdef"
CLAUDE_DEADLINE_S = 180.0
CPU_BURNERS = 2


def claude_env(home: Path, model_server: ScriptedModelServer | None) -> dict[str, str]:
    """A user's environment: `parallelai` on PATH, Claude's config in `home`, the model at the test server."""
    env = {
        # The console script `parallelai` the plugin's .mcp.json names, as `pip install` puts it on PATH.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    if STATE_DIR_ENV in os.environ:  # set for each test (tests/conftest.py), not yet for module fixtures
        env[STATE_DIR_ENV] = os.environ[STATE_DIR_ENV]
    if model_server is not None:
        env |= {"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": model_server.url}
    return env


@dataclass
class ClaudeRun:
    returncode: int
    stdout: str
    stderr: str

    def mcp_servers_at_init(self) -> object:
        """The MCP servers and their status as the `system/init` line reports them."""
        for event in self.events():
            if event.get("type") == "system" and event.get("subtype") == "init":
                return event.get("mcp_servers")
        return None

    def events(self) -> Iterator[dict[str, Any]]:
        for line in self.stdout.splitlines():
            if line.startswith("{"):
                yield json.loads(line)

    def explain(self) -> str:
        return f"exit {self.returncode}\nstdout:\n{self.stdout[-6000:]}\nstderr:\n{self.stderr[-3000:]}"


async def run_claude(prompt: str, env: dict[str, str], cwd: Path, *options: str) -> ClaudeRun:
    command = [str(find_cli("claude")), "-p", "--output-format", "stream-json", "--verbose", *options]
    with anyio.fail_after(CLAUDE_DEADLINE_S):
        done = await anyio.run_process(command, input=prompt.encode(), env=env, cwd=cwd, check=False)
    return ClaudeRun(done.returncode, done.stdout.decode(), done.stderr.decode())


async def run_claude_cli(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """A `claude` management command (`plugin install` …), which must succeed; its output."""
    with anyio.fail_after(CLAUDE_DEADLINE_S):
        done = await anyio.run_process([str(find_cli("claude")), *args], env=env, cwd=cwd, check=False)
    output = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, f"claude {' '.join(args)}: {output}"
    return output


def tool_result_sent_to_the_model(model_server: ScriptedModelServer) -> str:
    """What Claude Code gave the model as the tool's result: the `tool_result` block's content, as text."""
    for request in model_server.requests:
        for message in request.json.get("messages", []):
            content = message.get("content")
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "tool_result":
                    return (
                        json.dumps(block["content"])
                        if not isinstance(block["content"], str)
                        else block["content"]
                    )
    raise AssertionError(f"no request carried a tool result; {len(model_server.requests)} requests")


@pytest.fixture(scope="module")
def busy_machine() -> Iterator[None]:
    """Two processes burning a CPU each beside the test: a user's machine is rarely quiet."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(CPU_BURNERS)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
