"""The plugin as users install it: `claude plugin marketplace add` + `claude plugin install` from this
repository, then each slash command through the real `claude -p` against the scripted model.

The scripted model answers a command with the tool call the command asks for. What is checked is
what the user relies on: the command's text reached the model with the arguments in it, its
`allowed-tools` let the call through (no `--allowedTools` is given), the plugin's server was
connected from the start (no daemon was running), the plugin's options (engine, parallel) reached the
run, and the tool result the model got holds the outcome (answers, findings, errors).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.client.discovery import read_discovery
from parallelai.orchestration.service import OrchestrationService
from parallelai.paths import default_store_path
from tests.mcp._claude import (
    busy_machine,
    claude_env,
    run_claude,
    run_claude_cli,
    tool_result_sent_to_the_model,
)
from tests.support.model_server import Reply, ScriptedModelServer, ToolCall

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.usefixtures("busy_machine")]
__all__ = ["busy_machine"]  # the fixture, imported for pytest to find

REPO = Path(__file__).resolve().parents[2]
TOOL = "mcp__plugin_parallelai_parallelai__"
PARALLEL_OPTION = 3


@dataclass(frozen=True)
class Case:
    command: str
    arguments: str
    tool: str
    call: dict[str, Any]
    expected: tuple[str, ...]  # what the tool result sent back to the model must contain
    # Words of the command's own text that must reach the model (the command was expanded).
    command_words: tuple[str, ...] = field(default_factory=tuple)


REVIEW_TITLE = "Module lacks a docstring saying what it owns"  # the template's example output (echo engine)
CASES = [
    Case(
        "execute",
        "tasks.yaml",
        "start_run",
        {"tasks_file": "tasks.yaml", "wait": True},
        ("answer one", "answer two", "succeeded"),
        ("tasks_file",),
    ),
    Case(
        "run",
        "greet alice and bob",
        "start_run",
        {"tasks": ["hello alice", "hello bob"], "wait": True},
        ("hello alice", "hello bob", "succeeded"),
        ("self-contained prompt",),
    ),
    Case(
        "review",
        "src",
        "start_run",
        {"template": "code_review", "params": {"path": "src"}, "wait": True},
        ("findings", REVIEW_TITLE, "src/app.py", "src/db.py"),
        ("code_review",),
    ),
    Case(
        "security-scan",
        "src",
        "start_run",
        {"template": "security_audit", "params": {"path": "src"}, "wait": True},
        ("findings", "src/app.py", "succeeded"),
        ("security_audit",),
    ),
    Case(
        "test-gen",
        "src pytest",
        "start_run",
        {"template": "test_generation", "params": {"path": "src", "framework": "pytest"}, "wait": True},
        ("src/app.py", "succeeded"),
        ("test_generation",),
    ),
    Case(
        "refactor",
        "callbacks async/await src",
        "start_run",
        {
            "template": "refactoring",
            "params": {"pattern": "callbacks", "to": "async/await", "path": "src"},
            "wait": True,
        },
        ("src/app.py", "succeeded"),
        ("refactoring",),
    ),
    Case(
        "docs",
        "src google",
        "start_run",
        {"template": "documentation", "params": {"path": "src", "style": "google"}, "wait": True},
        ("src/app.py", "succeeded"),
        ("documentation",),
    ),
    Case("status", "", "list_runs", {}, ('"runs"',), ("list_runs",)),
    Case("cancel", "r-missing", "cancel_run", {"run_id": "r-missing"}, ("unknown run",), ("cancel_run",)),
    Case(
        "retry",
        "r-missing",
        "retry_run",
        {"run_id": "r-missing", "wait": True},
        ("unknown run",),
        ("retry_run",),
    ),
]


@dataclass(frozen=True)
class InstalledPlugin:
    home: Path


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> InstalledPlugin:
    """Claude Code with this repository's marketplace added and the plugin installed, its options set."""
    home = tmp_path_factory.mktemp("claude-home")
    env = {key: value for key, value in claude_env(home, None).items() if "ANTHROPIC" not in key}

    async def install() -> None:
        await run_claude_cli(["plugin", "marketplace", "add", str(REPO)], env, home)
        installed = await run_claude_cli(
            [
                "plugin",
                "install",
                "parallelai@parallelai",
                "--config",
                "engine=echo",
                "--config",
                f"parallel={PARALLEL_OPTION}",
            ],
            env,
            home,
        )
        assert "installed" in installed.lower(), installed

    anyio.run(install)
    return InstalledPlugin(home)


def project(workdir: Path) -> None:
    """A small project: two source files and a tasks file."""
    (workdir / "src").mkdir()
    (workdir / "src" / "app.py").write_text("def main():\n    return 1\n")
    (workdir / "src" / "db.py").write_text("def query(sql):\n    return sql\n")
    (workdir / "tasks.yaml").write_text("tasks:\n  - prompt: answer one\n  - prompt: answer two\n")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.command)
async def test_each_slash_command_of_the_installed_plugin_drives_its_tool(
    case: Case, installed_plugin: InstalledPlugin, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    assert read_discovery() is None  # the plugin's server starts the daemon itself
    workdir = tmp_path / "project"
    workdir.mkdir()
    project(workdir)
    call = {**case.call, "workdir": str(workdir)} if case.tool == "start_run" else case.call
    model_server.script(ToolCall(TOOL + case.tool, call, call_id="toolu_1"), Reply("done"))
    env = claude_env(installed_plugin.home, model_server)
    claude = await run_claude(f"/parallelai:{case.command} {case.arguments}".strip(), env, workdir)

    assert claude.returncode == 0, claude.explain()
    servers = claude.mcp_servers_at_init()
    assert isinstance(servers, list), claude.explain()
    assert {"name": "plugin:parallelai:parallelai", "status": "connected"} in servers, claude.explain()
    first_request = json.dumps(model_server.requests[0].json)
    for word in case.command_words:
        assert word in first_request, f"the /{case.command} command's text did not reach the model"
    if case.arguments:
        assert case.arguments in first_request
    tool_result = tool_result_sent_to_the_model(model_server)
    assert "permission" not in tool_result.lower(), tool_result  # allowed by the command itself
    for expected in case.expected:
        assert expected in tool_result, f"{expected!r} not in {tool_result}"
    if case.tool == "start_run":
        await _assert_the_plugin_options_reached_the_run()


async def _assert_the_plugin_options_reached_the_run() -> None:
    """The run the daemon made was planned with the options given at install (`--config`)."""
    async with OrchestrationService.open(default_store_path()) as store:
        (run,) = await store.list_runs()
        spec = await store.spec(run.id)
    assert spec.default_engine == "echo"
    assert spec.limits.max_parallel == PARALLEL_OPTION
